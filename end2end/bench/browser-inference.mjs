// Measures in-browser inference on the Camera page: Debian's Chromium with the fake webcam (the
// set-up's cat video) runs the page's VideoClassifier; every frame's inference time is read from
// the page. Usage: node browser-inference.mjs BASE_URL [FRAMES]. Prints a JSON array of ms.
// Run by `cargo bench -p server --bench inference`, next to native ONNX Runtime.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const [base, frames = '100'] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const video = path.resolve(here, '../../models/samples/chelsea.y4m');
const WARM_UP = 10;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${video}`,
  ],
});
try {
  const page = await browser.newPage({ baseURL: base });
  const password = 'benchmark password';
  const signedUp = await page.request.post('/api/sign_up', {
    form: { username: `bench-${Date.now()}`, password, confirm: password },
    headers: { origin: base },
  });
  if (!signedUp.ok()) throw new Error(`sign-up failed: ${signedUp.status()}`);
  await page.goto('/camera');
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByText('Settings', { exact: true }).click();
  await page.getByLabel('Frames per second, at most').fill('30');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('button', { name: 'Start camera' }).click();
  const samples = await page.evaluate(
    ({ wanted, warmUp }) => new Promise((resolve) => {
      const seen = [];
      const observer = new MutationObserver(() => {
        const value = Number(document.querySelector('.video-classifier .timing')?.dataset.inferenceMs);
        if (Number.isFinite(value) && value > 0) seen.push(value);
        if (seen.length >= wanted + warmUp) {
          observer.disconnect();
          resolve(seen.slice(warmUp));
        }
      });
      observer.observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-inference-ms'] });
    }),
    { wanted: Number(frames), warmUp: WARM_UP },
  );
  const isolated = await page.evaluate(() => crossOriginIsolated);
  console.log(JSON.stringify({ samples, isolated, threads: await page.evaluate(() => navigator.hardwareConcurrency) }));
} finally {
  await browser.close();
}
