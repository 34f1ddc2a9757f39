// Measures the Camera page in Debian's Chromium with the fake webcam (the set-up's cat video):
// a first visit with an empty cache and a second one (bytes over the network, all and of the
// WebAssembly and model files, and the time from navigation to the first classification), then
// every frame's inference time as the page reports it. Then every browser engine and option
// (ENGINES), each in a page of its own, in rounds: each round runs every engine in turn, and
// between rounds this script prints `{"round":N}` and waits for a line on its input (the caller
// runs native ONNX Runtime meanwhile), so that all are measured interleaved.
// Usage: node browser-inference.mjs BASE_URL [FRAMES [ROUNDS]]. Prints JSON, the report last.
// Run by `cargo bench -p server --bench inference`.
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const [base, frames = '100', rounds = '5'] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const video = path.resolve(here, '../../models/samples/chelsea.y4m');
const WARM_UP = 10;
const ROUNDS = Number(rounds);

// Every engine and option, on the site's files: LiteRT.js's builds (threaded with relaxed SIMD,
// relaxed SIMD alone, the compatible one) on the float16-weight and the int8 TFLite models, and
// onnxruntime-web on the float16-weight ONNX model.
const ENGINES = [
  { name: 'LiteRT float32 (f16 weights), 2 threads', engine: 'litert', build: 'threaded', model: 'efficientnet_lite0.f16.tflite', threads: 2 },
  { name: 'LiteRT float32 (f16 weights), 1 thread', engine: 'litert', build: '', model: 'efficientnet_lite0.f16.tflite', threads: 1 },
  { name: 'LiteRT float32, compatible build, 1 thread', engine: 'litert', build: 'compat', model: 'efficientnet_lite0.f16.tflite', threads: 1 },
  { name: 'LiteRT int8, 2 threads', engine: 'litert', build: 'threaded', model: 'efficientnet_lite0.int8.tflite', threads: 2 },
  { name: 'LiteRT int8, 1 thread', engine: 'litert', build: '', model: 'efficientnet_lite0.int8.tflite', threads: 1 },
  { name: 'onnxruntime-web float32 (f16 weights), 2 threads', engine: 'onnxruntime', model: 'efficientnet_lite0.f16.onnx', threads: 2 },
  { name: 'onnxruntime-web float32 (f16 weights), 1 thread', engine: 'onnxruntime', model: 'efficientnet_lite0.f16.onnx', threads: 1 },
];

// In the page: loads `config`'s engine and model and runs it `config.warmUp` times;
// `window.benchRun(n)` then runs n inferences on the same input and returns their times in ms.
async function loadEngine(config) {
  const input = new Float32Array(224 * 224 * 3).map((_, i) => Math.sin(i) * 0.9);
  const model = new Uint8Array(await (await fetch(`/models/${config.model}`)).arrayBuffer());
  const timed = async (n, once) => {
    const times = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await once();
      times.push(performance.now() - start);
    }
    return times;
  };
  if (config.engine === 'litert') {
    const litert = await import('/litert/litert.js');
    const build = config.build ? `litert_wasm_${config.build}_internal.js` : 'litert_wasm_internal.js';
    await litert.loadLiteRt(`/litert/${build}`);
    const compiled = await litert.loadAndCompile(model, { accelerator: 'wasm', cpuOptions: { numThreads: config.threads } });
    window.benchRun = (n) => timed(n, async () => {
      const tensor = new litert.Tensor(input, [1, 224, 224, 3]);
      const outputs = await compiled.run(tensor);
      outputs[0].toTypedArray();
      tensor.delete();
      for (const output of outputs) output.delete();
    });
  } else {
    const ort = await import('/ort/ort.wasm.min.mjs');
    ort.env.wasm.numThreads = config.threads;
    ort.env.wasm.wasmPaths = '/ort/';
    const session = await ort.InferenceSession.create(model);
    window.benchRun = (n) => timed(n, async () => {
      const outputs = await session.run({ input: new ort.Tensor('float32', input, [1, 3, 224, 224]) });
      outputs.probabilities.getData();
    });
  }
  await window.benchRun(config.warmUp);
}

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
    const heavy = all.filter((d) => /\.(wasm|onnx|tflite)$/.test(new URL(d.url).pathname));
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
  const engine = await page.locator('.video-classifier .timing').getAttribute('data-engine');
  await page.close();

  // Every engine in a page of its own (a page loads one LiteRT and one onnxruntime-web), on a
  // document of the site (cross-origin isolated, as every response is) that runs no model.
  const pages = [];
  for (const config of ENGINES) {
    const enginePage = await context.newPage();
    await enginePage.goto('/healthz');
    await enginePage.evaluate(loadEngine, { ...config, warmUp: WARM_UP });
    pages.push({ config, page: enginePage, samples: [] });
  }
  const input = readline.createInterface({ input: process.stdin });
  const lines = input[Symbol.asyncIterator]();
  const perRound = Math.ceil(Number(frames) / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const entry of pages) {
      entry.samples.push(...(await entry.page.evaluate((n) => window.benchRun(n), perRound)));
    }
    console.log(JSON.stringify({ round }));
    await lines.next();
  }
  input.close();
  const engines = pages.map(({ config, samples: times }) => ({ name: config.name, samples: times }));
  console.log(JSON.stringify({ samples, engine, isolated, threads, firstVisit, secondVisit, engines }));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
