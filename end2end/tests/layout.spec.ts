import { Page } from '@playwright/test';
import { expect, hydrated, lastReply, sendMessage, signUp, test, uniqueName } from './fixtures';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

/** Nothing sticks out sideways: the page never scrolls horizontally. */
async function fitsTheWidth(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

/** Opens a page of the app and keeps a screenshot of it with the test's results. */
async function visit(page: Page, path: string, name: string, heading: string | RegExp) {
  await page.goto(path);
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(heading);
  await fitsTheWidth(page);
  await page.screenshot({ path: test.info().outputPath(`${name}.png`), fullPage: true });
}

for (const [device, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
  test(`the Camera, Events and Chat pages fit a ${device}`, async ({ page }) => {
    await page.setViewportSize(viewport);
    await signUp(page, uniqueName(device));
    await visit(page, '/camera', `camera-${device}`, 'Camera');
    await visit(page, '/events', `events-${device}`, 'Events');
    await visit(page, '/chat', `chat-${device}`, 'Chat');
  });
}

test('on a phone the chats are in a drawer and the conversation gets the screen', async ({ page }) => {
  await page.setViewportSize(PHONE);
  await signUp(page, uniqueName('drawer'));
  await page.goto('/chat');
  await hydrated(page);
  const sidebar = page.getByRole('complementary', { name: 'Chats' });
  const toggle = page.getByRole('button', { name: 'Chats' });
  await expect(sidebar).toBeHidden();
  await toggle.click();
  await expect(sidebar).toBeVisible();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await sidebar.getByRole('button', { name: 'New chat' }).click();
  await expect(page).toHaveURL(/\/chat\/\d+$/);
  await expect(sidebar).toBeHidden();

  // The composer and the transcript start near the top, not below the list of chats.
  const composer = page.getByLabel('Message');
  await expect(composer).toBeEnabled();
  const box = await page.locator('.transcript').boundingBox();
  expect(box!.y).toBeLessThan(PHONE.height / 2);
  await fitsTheWidth(page);
  await page.screenshot({ path: test.info().outputPath('chat-session-phone.png'), fullPage: true });

  // Tapping outside the open drawer closes it.
  await toggle.click();
  await expect(sidebar).toBeVisible();
  await page.mouse.click(PHONE.width - 10, PHONE.height / 2);
  await expect(sidebar).toBeHidden();
});

test('the "Show archived" box sits beside its label', async ({ page }) => {
  await signUp(page, uniqueName('archived'));
  await page.goto('/chat');
  await hydrated(page);
  const box = await page.getByRole('checkbox', { name: 'Show archived' }).boundingBox();
  const label = await page.locator('label.checkbox').boundingBox();
  expect(box!.height).toBeLessThan(label!.height + 1);
  expect(Math.abs(box!.y + box!.height / 2 - (label!.y + label!.height / 2))).toBeLessThan(4);
});

test('on the Events page the event list has its own titled panel, clear of the rules', async ({ page }) => {
  await signUp(page, uniqueName('history'));
  await page.goto('/events');
  await hydrated(page);
  const history = page.getByRole('region', { name: 'All events' });
  await expect(history.getByRole('button', { name: 'Filter' })).toBeVisible();
  await expect(history).toContainText('No events to show');
  const rules = await page.getByRole('region', { name: 'Rules' }).boundingBox();
  const box = await history.boundingBox();
  expect(box!.y + box!.height).toBeLessThanOrEqual(rules!.y);
});

test('on a phone a tool card\'s long arguments wrap inside the card', async ({ page }) => {
  await page.setViewportSize(PHONE);
  await signUp(page, uniqueName('card'));
  await page.goto('/chat');
  await hydrated(page);
  await page.getByLabel('Answered by').selectOption({ label: 'Camera assistant' });
  await page.locator('.chat-welcome').getByRole('button', { name: 'New chat' }).click();
  await expect(page.getByLabel('Message')).toBeEnabled();
  const camera = 'the-camera-over-the-garden-gate-next-to-the-old-apple-tree';
  await sendMessage(page, `When did ${camera} last see a cat? [call last_seen {"label": "cat", "camera": "${camera}"}]`);
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  const card = lastReply(page).locator('.tool-card[data-tool="last_seen"]');
  await card.locator('summary').click();
  await expect(card.locator('.tool-arguments')).toContainText(camera);
  // Nothing in the card runs past its edge, and the arguments read without scrolling sideways.
  const overflow = await card.evaluate((element) => {
    const edge = element.getBoundingClientRect().right;
    const past = [...element.querySelectorAll('*')].map((e) => e.getBoundingClientRect().right - edge);
    const pre = element.querySelector('.tool-arguments')!;
    return { past: Math.max(...past), sideways: pre.scrollWidth - pre.clientWidth };
  });
  expect(overflow).toEqual({ past: expect.any(Number), sideways: 0 });
  expect(overflow.past).toBeLessThanOrEqual(0);
  const box = await card.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(PHONE.width);
  await fitsTheWidth(page);
});
