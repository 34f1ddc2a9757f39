// Measures the Camera page in Debian's Chromium with the fake webcam (the set-up's cat video):
// a first visit with an empty cache and a second one (bytes over the network, all and of the
// WebAssembly and model files, and the time from navigation to the first classification), then
// every frame's inference time as the page reports it. Usage: node browser-inference.mjs BASE_URL
// [FRAMES]. Prints JSON. Run by `cargo bench -p server --bench inference`, next to native ONNX
// Runtime.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const [base, frames = '100'] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const video = path.resolve(here, '../../models/samples/chelsea.y4m');
const WARM_UP = 10;

// A profile on disk, as people have (an in-memory cache keeps no file as large as the model).
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ai-channels-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  baseURL: base,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${video}`,
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const password = 'benchmark password';
  const signedUp = await page.request.post('/api/sign_up', {
    form: { username: `bench-${Date.now()}`, password, confirm: password },
    headers: { origin: base },
  });
  if (!signedUp.ok()) throw new Error(`sign-up failed: ${signedUp.status()}`);
  // Every response of the page and its workers, with its bytes over the network.
  const downloads = [];
  context.on('requestfinished', async (request) => {
    const sizes = await request.sizes();
    downloads.push({ url: request.url(), bytes: sizes.responseHeadersSize + sizes.responseBodySize });
  });
  // Navigates to the Camera page, starts the webcam and waits for the first classification.
  const visit = async (navigate) => {
    downloads.length = 0;
    const start = performance.now();
    await navigate();
    await page.locator('body[data-hydrated]').waitFor();
    await page.getByRole('button', { name: 'Start camera' }).click();
    await page.locator('.video-classifier li').first().waitFor({ timeout: 120_000 });
    const ms = performance.now() - start;
    const all = [...downloads];
    const sum = (list) => list.reduce((total, d) => total + d.bytes, 0);
    const heavy = all.filter((d) => /\.(wasm|onnx)$/.test(new URL(d.url).pathname));
    return { ms: Math.round(ms), bytes: sum(all), wasmAndModelBytes: sum(heavy) };
  };
  const firstVisit = await visit(() => page.goto('/camera'));
  const secondVisit = await visit(() => page.reload());
  await page.getByText('Settings', { exact: true }).click();
  await page.getByLabel('Frames per second, at most').fill('30');
  await page.getByRole('button', { name: 'Apply' }).click();
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
  const threads = await page.evaluate(() => navigator.hardwareConcurrency);
  console.log(JSON.stringify({ samples, isolated, threads, firstVisit, secondVisit }));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
