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
