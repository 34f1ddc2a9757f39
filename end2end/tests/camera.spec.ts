import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, expect, signUp, uniqueName } from './fixtures';

const CAT_PHOTO = path.resolve(__dirname, '../../models/samples/chelsea.png');

test('a chosen photo is classified in the browser, as the server classifies it', async ({ page }) => {
  await signUp(page, uniqueName('cam'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Camera' }).click();
  const status = page.locator('.photo-classifier [data-status]');
  await expect(status).toHaveAttribute('data-status', 'ready', { timeout: 60_000 });

  await page.getByLabel('Choose a photo').setInputFiles(CAT_PHOTO);
  const best = page.getByRole('list', { name: 'Recognised' }).getByRole('listitem').first();
  await expect(best).toContainText(/tabby|tiger cat|Persian cat|Siamese cat|Egyptian cat/, { timeout: 30_000 });
  await expect(page.locator('.photo-preview')).toBeVisible();
  await expect(status).toHaveAttribute('data-status', 'ready');

  // The same photo through the server's native ONNX Runtime: same class, nearly the same score.
  const response = await page.request.post('/api/classify', {
    data: fs.readFileSync(CAT_PHOTO),
    headers: { 'content-type': 'image/png' },
  });
  expect(response.status()).toBe(200);
  const server = await response.json();
  expect(Number(await best.getAttribute('data-index'))).toBe(server.categories[0].index);
  const browserScore = Number(await best.getAttribute('data-score'));
  expect(Math.abs(browserScore - server.categories[0].score)).toBeLessThan(0.01);
});

test('an event sent over the websocket appears in the Events page', async ({ page }) => {
  await signUp(page, uniqueName('ev'));
  const ack = await page.evaluate(async () => {
    const socket = new WebSocket(`ws://${location.host}/ws/events/front-door`);
    const replies: any[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.onmessage = (message) => {
        const reply = JSON.parse(message.data);
        replies.push(reply);
        if (reply.type === 'connection_established') {
          socket.send(JSON.stringify({
            type: 'classification', producer: 'e2e', seq: 1, model: 'efficientnet_lite0',
            client_time: new Date().toISOString(),
            classifications: [{ categories: [{ index: 285, score: 0.82, categoryName: 'Egyptian cat', displayName: '' }], headIndex: 0, headName: 'probability' }],
          }));
        } else {
          resolve();
        }
      };
      socket.onerror = () => reject(new Error('websocket failed'));
    });
    socket.close();
    return replies[replies.length - 1];
  });
  expect(ack).toEqual({ type: 'ack', producer: 'e2e', seq: 1, duplicate: false });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
  const row = page.locator('.event-row').first();
  await expect(row).toContainText('Egyptian cat');
  await expect(row).toContainText('82%');
  await expect(row).toContainText('front-door');
  await expect(page.locator('.legend')).toContainText('Egyptian cat');
  // The chart has a time axis, its scale, and each hour's counts on hover.
  await expect(page.locator('.chart-axis')).toContainText('UTC');
  await expect(page.locator('.chart-peak')).toHaveText('1 per hour');
  const tips = await page.locator('.chart-bucket title').allTextContents();
  expect(tips).toHaveLength(24);
  expect(tips.at(-1)).toMatch(/^\d\d:\d\d–\d\d:\d\d UTC: Egyptian cat 1$/);
  await page.locator('.chart-bucket').last().hover();
  await expect(page.locator('.chart-bucket:hover')).toHaveCount(1);

  await page.getByLabel('Label', { exact: true }).fill('tabby');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByText('No events to show')).toBeVisible();
});

test('the Events page shows new events live', async ({ page }) => {
  await signUp(page, uniqueName('live'));
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
  await expect(page.getByText('No events to show')).toBeVisible();
  await expect(page.locator('.live-indicator')).toHaveAttribute('data-state', 'online');

  await page.evaluate(() => {
    const socket = new WebSocket(`ws://${location.host}/ws/events/garden`);
    socket.onmessage = (message) => {
      if (JSON.parse(message.data).type !== 'connection_established') return;
      socket.send(JSON.stringify({
        type: 'classification', producer: 'e2e-live', seq: 1, model: 'efficientnet_lite0',
        client_time: new Date().toISOString(),
        classifications: [{ categories: [{ index: 281, score: 0.67, categoryName: 'tabby', displayName: '' }], headIndex: 0, headName: 'probability' }],
      }));
    };
  });
  const row = page.locator('.event-row').first();
  await expect(row).toContainText('tabby');
  await expect(row).toContainText('garden');
});
