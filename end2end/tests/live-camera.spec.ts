import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BrowserContext, Page } from '@playwright/test';
import { test, expect, hydrated, query, signUp, uniqueName } from './fixtures';

const CAT_PHOTO = path.resolve(__dirname, '../../models/samples/chelsea.png');
const CAT = /tabby|tiger cat|Persian cat|Siamese cat|Egyptian cat/;

test.setTimeout(120_000);

/** Signs up a new user and opens the Camera page; returns the username. */
async function openCamera(page: Page, prefix: string) {
  const username = uniqueName(prefix);
  await signUp(page, username);
  await page.goto('/camera');
  await hydrated(page);
  return username;
}

/** Applies Camera page settings through its form. */
async function applySettings(page: Page, settings: Record<string, string>) {
  await page.getByText('Settings', { exact: true }).click();
  for (const [label, value] of Object.entries(settings)) {
    await page.getByLabel(label).fill(value);
  }
  await page.getByRole('button', { name: 'Apply' }).click();
}

function storedEvents(username: string) {
  return query(
    `SELECT e.stream, e.seq, e.top_label, e.thumbnail IS NOT NULL AS has_thumbnail
       FROM classification_events e JOIN users u ON u.id = e.owner_id
      WHERE u.username = '${username}' ORDER BY e.seq`,
  );
}

test('the webcam is classified live and its events reach the Events page and the database', async ({ page }) => {
  const username = await openCamera(page, 'webcam');
  const classifier = page.locator('.video-classifier');
  await page.getByRole('button', { name: 'Start camera' }).click();
  await expect(page.locator('.source-state')).toHaveAttribute('data-state', 'running');

  await expect(classifier.getByRole('listitem').first()).toContainText(CAT, { timeout: 60_000 });
  await expect(classifier).toHaveAttribute('data-status', 'running');
  await expect(classifier.locator('.timing')).toContainText('ms per frame');
  const delivery = classifier.locator('.delivery');
  await expect(delivery).not.toHaveAttribute('data-sent', '0');
  await expect(delivery).toHaveAttribute('data-waiting', '0');

  const [first] = storedEvents(username);
  expect(first).toMatchObject({ stream: 'cam0', seq: 1, has_thumbnail: 1 });
  expect(first.top_label).toMatch(CAT);

  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.locator('.source-state')).toHaveAttribute('data-state', 'idle');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
  const row = page.locator('.event-row').first();
  await expect(row).toContainText(CAT);
  await expect(row).toContainText('cam0');
  await expect(page.locator('.event-row img.thumbnail').last()).toHaveJSProperty('complete', true);
  expect(await page.locator('.event-row img.thumbnail').last().evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(160);
});

test('an image file stands in for a camera, on a stream of its own', async ({ page }) => {
  const username = await openCamera(page, 'upload');
  await applySettings(page, { 'Stream name': 'desk-photo' });
  await page.getByLabel('Use a video or image file').setInputFiles(CAT_PHOTO);
  await expect(page.locator('.source-state')).toContainText('chelsea.png');

  const classifier = page.locator('.video-classifier');
  await expect(classifier.getByRole('listitem').first()).toContainText(CAT, { timeout: 60_000 });
  await expect(classifier.locator('.delivery')).toHaveAttribute('data-waiting', '0');
  await expect.poll(() => storedEvents(username).map((e) => e.stream)).toContain('desk-photo');
});

test('events produced while the websocket is down are delivered after it reconnects', async ({ page }) => {
  // The first connection forwards two events, loses the next two in flight, then drops.
  let connections = 0;
  let lost: number[] = [];
  await page.routeWebSocket(/\/ws\/events\/blip$/, (socket) => {
    connections += 1;
    const server = socket.connectToServer();
    if (connections > 1) return;
    socket.onMessage((message) => {
      const event = JSON.parse(String(message));
      if (event.seq <= 2) {
        server.send(message);
        return;
      }
      lost.push(event.seq);
      if (lost.length === 2) {
        socket.close();
        server.close();
      }
    });
    server.onMessage((message) => socket.send(message));
  });
  const username = await openCamera(page, 'blip');
  await applySettings(page, { 'Stream name': 'blip', 'Repeat an event every (seconds)': '1' });
  await page.getByRole('button', { name: 'Start camera' }).click();

  const delivery = page.locator('.video-classifier .delivery');
  await expect.poll(() => lost.length, { timeout: 60_000 }).toBe(2);
  await expect.poll(() => connections).toBeGreaterThan(1);
  await expect(delivery).toHaveAttribute('data-online', 'true');
  await expect(delivery).toHaveAttribute('data-waiting', '0');
  const sent = Number(await delivery.getAttribute('data-sent'));
  expect(sent).toBeGreaterThanOrEqual(4);

  const seqs = storedEvents(username).map((e) => Number(e.seq)).filter((seq) => seq <= sent);
  expect(seqs).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
});

test('a sighting begins while the webcam shows a cat and ends once the source shows something else', async ({ page, context }) => {
  const username = await openCamera(page, 'sighting');
  await applySettings(page, { 'Stream name': 'porch', 'Repeat an event every (seconds)': '1' });
  await page.getByRole('button', { name: 'Start camera' }).click();
  const eventsPage = await context.newPage();
  await eventsPage.goto('/events');
  await hydrated(eventsPage);
  const cats = eventsPage.locator('.sighting-row', { hasText: CAT });
  await expect(cats.first()).toHaveAttribute('data-state', 'present', { timeout: 60_000 });
  await expect(cats.first()).toContainText('porch');
  await expect(cats.first()).toContainText('still there');

  // A blank image replaces the webcam: no cat in it, so every cat sighting ends.
  const blank = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 64;
    const context = canvas.getContext('2d')!;
    context.fillStyle = '#fff';
    context.fillRect(0, 0, 64, 64);
    return canvas.toDataURL('image/png').split(',')[1];
  });
  await page.getByLabel('Use a video or image file').setInputFiles({
    name: 'blank.png', mimeType: 'image/png', buffer: Buffer.from(blank, 'base64'),
  });
  await expect(page.locator('.source-state')).toContainText('blank.png');
  await expect(cats.first()).toHaveAttribute('data-state', 'ended', { timeout: 30_000 });
  await expect(eventsPage.locator('.sighting-row[data-state="present"]', { hasText: CAT })).toHaveCount(0);
  await expect(cats.first().locator('.stay')).toContainText(/left \d\d:\d\d:\d\d/);

  const cat = cats.first();
  await cat.getByRole('button', { name: 'Events' }).click();
  await expect(eventsPage.locator('.sighting-events .event-row').first()).toContainText(CAT);
  const stored = query(
    `SELECT s.stream, s.ended_at IS NOT NULL AS ended, s.peak_score FROM sightings s
       JOIN users u ON u.id = s.owner_id WHERE u.username = '${username}' AND s.label LIKE '%cat%'`,
  );
  expect(stored.length).toBeGreaterThan(0);
  for (const sighting of stored) expect(sighting).toMatchObject({ stream: 'porch', ended: 1 });
});

/** What a browser context downloads (its pages' and their workers' requests): each request's path,
 * status, content encoding and bytes over the network (headers and body). */
function recordDownloads(context: BrowserContext) {
  const downloads: { path: string; status: number; encoding?: string; bytes: number }[] = [];
  context.on('requestfinished', async (request) => {
    const response = await request.response();
    if (!response) return;
    const sizes = await request.sizes();
    const headers = await response.allHeaders();
    downloads.push({
      path: new URL(request.url()).pathname,
      status: response.status(),
      encoding: headers['content-encoding'],
      bytes: sizes.responseHeadersSize + sizes.responseBodySize,
    });
  });
  return downloads;
}

test('the runtime and the model are downloaded compressed, and not again on the next visit', async ({ playwright, baseURL }) => {
  // A browser profile on disk, as people have: an ephemeral context's in-memory cache keeps no
  // file as large as the model.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ai-channels-profile-'));
  const context = await playwright.chromium.launchPersistentContext(profile, {
    ...test.info().project.use.launchOptions,
    baseURL,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await signUp(page, uniqueName('cache'));
    const downloads = recordDownloads(context);
    const classify = async () => {
      await page.getByLabel('Use a video or image file').setInputFiles(CAT_PHOTO);
      await expect(page.locator('.video-classifier').getByRole('listitem').first()).toContainText(CAT, { timeout: 60_000 });
    };
    const heavy = () => downloads.filter((d) => /\.(wasm|onnx|tflite)$/.test(d.path));

    await page.goto('/camera');
    await hydrated(page);
    await classify();
    const first = heavy();
    expect(first.map((d) => d.path)).toEqual(expect.arrayContaining([
      '/litert/litert_wasm_threaded_internal.wasm', '/models/efficientnet_lite0.f16.tflite',
    ]));
    expect(first.map((d) => d.path), 'one engine only').not.toContain('/ort/ort-wasm-simd-threaded.wasm');
    // (The app's own WebAssembly is in the cache already, from the sign-up.)
    for (const download of first.filter((d) => d.bytes > 2_000)) {
      expect(download.encoding, download.path).toBe('br');
    }
    const model = first.find((d) => d.path.endsWith('.tflite'))!;
    expect(model.status).toBe(200);
    expect(model.bytes, 'float16 weights, brotli-compressed').toBeLessThan(9_000_000);

    downloads.length = 0;
    await page.reload();
    await hydrated(page);
    await classify();
    for (const download of heavy()) {
      expect(download.bytes, `${download.path} downloaded again (${download.status})`).toBeLessThan(2_000);
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test('the fastest engine runs the model, and the address can ask for the other; both see the cat', async ({ page }) => {
  await signUp(page, uniqueName('engine'));
  const runs = async (address: string, engine: string, name: RegExp) => {
    await page.goto(address);
    await hydrated(page);
    await page.getByLabel('Use a video or image file').setInputFiles(CAT_PHOTO);
    const classifier = page.locator('.video-classifier');
    await expect(classifier.getByRole('listitem').first()).toContainText(CAT, { timeout: 60_000 });
    await expect(classifier.locator('.timing')).toHaveAttribute('data-engine', engine);
    await expect(classifier.locator('.timing')).toContainText(name);
    await expect(classifier.locator('.timing')).toContainText('2 threads');
    return classifier.getByRole('listitem').first().getAttribute('data-score');
  };
  const litert = Number(await runs('/camera', 'litert', /LiteRT/));
  const onnx = Number(await runs('/camera?engine=onnxruntime', 'onnxruntime', /ONNX Runtime/));
  expect(Math.abs(litert - onnx), 'the same weights give the same score').toBeLessThan(0.01);
});

test('inference runs off the page: no long task while the webcam is classified, and typing answers at once', async ({ page }) => {
  await page.addInitScript(() => {
    const probe = ((window as any).probe = { longTasks: [] as number[], frames: 0, slowestInput: 0 });
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) probe.longTasks.push(Math.round(entry.duration));
    }).observe({ type: 'longtask' });
    // Event Timing: from a key press to the next paint after its handlers ran.
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) probe.slowestInput = Math.max(probe.slowestInput, entry.duration);
    }).observe({ type: 'event', durationThreshold: 16 } as PerformanceObserverInit);
  });
  await openCamera(page, 'worker');
  await applySettings(page, { 'Frames per second, at most': '30' });
  await page.getByRole('button', { name: 'Start camera' }).click();
  const classifier = page.locator('.video-classifier');
  await expect(classifier.getByRole('listitem').first()).toContainText(CAT, { timeout: 60_000 });

  // From here on, 20 frames classified, each reported in the page, while someone types.
  await page.evaluate(() => {
    const probe = (window as any).probe;
    Object.assign(probe, { longTasks: [], frames: 0, slowestInput: 0 });
    new MutationObserver(() => (probe.frames += 1)).observe(document.querySelector('.video-classifier .timing')!, {
      attributes: true, attributeFilter: ['data-inference-ms'],
    });
  });
  await page.getByText('Settings', { exact: true }).click();
  await page.getByLabel('Stream name').pressSequentially('front-door-camera', { delay: 50 });
  await expect.poll(() => page.evaluate(() => (window as any).probe.frames), { timeout: 60_000 }).toBeGreaterThanOrEqual(20);
  const probe = await page.evaluate(() => (window as any).probe);
  expect(probe.longTasks, 'tasks over 50 ms on the page while it classifies').toEqual([]);
  // 200 ms is the bound of a "good" interaction to next paint.
  expect(probe.slowestInput, 'the slowest key press to paint (ms)').toBeLessThan(200);
});

test('a refused or missing camera is explained', async ({ page }) => {
  await page.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () =>
      Promise.reject(new DOMException('refused', (window as any).cameraError ?? 'NotAllowedError'));
  });
  await openCamera(page, 'nocam');
  const state = page.locator('.source-state');
  await page.getByRole('button', { name: 'Start camera' }).click();
  await expect(state).toHaveAttribute('data-state', 'permission-denied');
  await expect(state).toContainText('denied');

  await page.evaluate(() => ((window as any).cameraError = 'NotFoundError'));
  await page.getByRole('button', { name: 'Start camera' }).click();
  await expect(state).toHaveAttribute('data-state', 'no-camera');
  await expect(state).toContainText('No camera was found');
});
