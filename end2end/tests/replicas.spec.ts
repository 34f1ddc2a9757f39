import { expect, hydrated, lastReply, sendMessage, signUp, test, uniqueName } from './fixtures';
import { FRONT, REPLICAS } from '../replicas';

const CAT = /tabby|tiger cat|Persian cat|Siamese cat|Egyptian cat/;

test.use({ baseURL: FRONT });
test.setTimeout(120_000);

test('behind nginx, a camera and a chat reach the pages on both replicas', async ({ page, context }) => {
  await signUp(page, uniqueName('replicas'));
  // The same user's pages straight on each replica (a cookie does not depend on the port), so
  // one of them is always on the other replica than the one nginx gave the camera or the chat.
  const direct = [await context.newPage(), await context.newPage()];
  for (const [n, other] of direct.entries()) {
    await other.goto(`${REPLICAS[n]}/events`);
    await hydrated(other);
  }

  await page.goto('/camera');
  await hydrated(page);
  await page.getByRole('button', { name: 'Start camera' }).click();
  for (const other of direct) {
    const cats = other.locator('.sighting-row', { hasText: CAT });
    await expect(cats.first()).toHaveAttribute('data-state', 'present', { timeout: 60_000 });
  }
  await page.getByRole('button', { name: 'Stop' }).click();

  await page.goto('/chat');
  await hydrated(page);
  await page.locator('.chat-sidebar').getByRole('button', { name: 'New chat' }).click();
  await expect(page).toHaveURL(/\/chat\/\d+$/);
  await sendMessage(page, '[slow] count for me');
  await expect(lastReply(page)).toContainText('w3');
  const chat = new URL(page.url()).pathname;
  for (const [n, other] of direct.entries()) {
    await other.goto(`${REPLICAS[n]}${chat}`);
    await hydrated(other);
    await expect(lastReply(other)).toContainText('w8');
  }
  await direct[1].getByRole('button', { name: 'Stop' }).click();
  for (const each of [page, ...direct]) {
    await expect(lastReply(each)).toHaveAttribute('data-status', 'stopped');
  }
  const text = await lastReply(page).locator('.message-body').innerText();
  expect(text).toMatch(/^w1 w2 w3 /);
  for (const other of direct) await expect(lastReply(other).locator('.message-body')).toHaveText(text);
});
