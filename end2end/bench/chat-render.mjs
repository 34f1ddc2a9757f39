// Measures what streaming a long reply costs the Chat page: Debian's Chromium opens a chat, asks
// the scripted model server for its `[long]` reply (20 KB of Markdown in 40-character chunks, 50 a
// second) and records, with Chromium's own tracing, every task the page's main thread ran while
// the reply streamed in. Usage: node chat-render.mjs BASE_URL. Prints a JSON report: the task
// durations (ms) and the reply as stored. Run by `cargo bench -p server --bench render`.
import { chromium } from '@playwright/test';

const [base] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
try {
  const page = await browser.newPage({ baseURL: base });
  const password = 'benchmark password';
  const signedUp = await page.request.post('/api/sign_up', {
    form: { username: `render-${Date.now()}`, password, confirm: password },
    headers: { origin: base },
  });
  if (!signedUp.ok()) throw new Error(`sign-up failed: ${signedUp.status()}`);
  await page.goto('/chat');
  await page.locator('body[data-hydrated]').waitFor();
  await page.locator('.chat-sidebar').getByRole('button', { name: 'New chat' }).click();
  await page.waitForURL(/\/chat\/\d+$/);
  const composer = page.getByLabel('Message');
  await composer.waitFor();
  await page.waitForFunction(() => document.querySelector('#chat-input')?.disabled === false);

  const cdp = await browser.newBrowserCDPSession();
  const events = [];
  cdp.on('Tracing.dataCollected', (collected) => events.push(...collected.value));
  const traced = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', {
    traceConfig: { includedCategories: ['toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline'] },
    transferMode: 'ReportEvents',
  });
  await composer.fill('[long] render benchmark');
  await composer.press('Enter');
  const reply = page.locator('article.message.assistant').last();
  await reply.locator('.md-block').first().waitFor();
  await page.waitForFunction(
    () => document.querySelector('article.message.assistant:last-of-type')?.dataset.status === 'complete',
    null,
    { timeout: 60_000 },
  );
  await cdp.send('Tracing.end');
  await traced;
  // The page's main thread: of the renderers' main threads, the one that worked the most.
  const mains = events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const tasksOf = (main) => events
    .filter((e) => e.ph === 'X' && e.name === 'RunTask' && e.pid === main.pid && e.tid === main.tid)
    .map((e) => ({ start: e.ts, ms: e.dur / 1000 }));
  const busy = (tasks) => tasks.reduce((sum, t) => sum + t.ms, 0);
  const tasks = mains.map(tasksOf).sort((a, b) => busy(b) - busy(a))[0] ?? [];
  const started = Math.min(...tasks.map((t) => t.start));
  const ended = Math.max(...tasks.map((t) => t.start + t.ms * 1000));
  const id = page.url().split('/').pop();
  const messages = await (await page.request.get(`/ai-chat/api/sessions/${id}/messages/`)).json();
  const stored = messages.messages.at(-1);
  console.log(JSON.stringify({
    tasks: tasks.map((t) => t.ms),
    seconds: (ended - started) / 1e6,
    blocks: await reply.locator('.md-block').count(),
    status: stored.status,
    reply: stored.content,
  }));
} finally {
  await browser.close();
}
