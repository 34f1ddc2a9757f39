import { test, expect, hydrated, signUp, uniqueName } from './fixtures';

test('the home page hydrates and shows a ready instance', async ({ page }) => {
  await page.goto('/');
  await hydrated(page);
  await expect(page).toHaveTitle('AI Channels');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('AI in the browser');
  const checks = page.locator('.checks li');
  await expect(checks.filter({ hasText: 'database' })).toHaveClass(/ok/);
  await expect(checks.filter({ hasText: 'efficientnet_lite0.onnx' })).toHaveClass(/ok/);
  await expect(page.locator('.checks li.failed')).toHaveCount(0);
});

test('the navigation bar switches pages without reloading', async ({ page }) => {
  await signUp(page, uniqueName('nav'));
  await page.evaluate(() => ((window as any).sameDocument = true));
  const nav = page.getByRole('navigation', { name: 'Main' });

  for (const name of ['Chat', 'Camera', 'Events']) {
    await nav.getByRole('link', { name }).click();
    await expect(page).toHaveURL(`/${name.toLowerCase()}`);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(name);
    await expect(page).toHaveTitle(`${name} · AI Channels`);
    await expect(nav.getByRole('link', { name })).toHaveAttribute('aria-current', 'page');
  }
  expect(await page.evaluate(() => (window as any).sameDocument)).toBe(true);

  await page.getByRole('link', { name: 'AI Channels' }).click();
  await expect(page).toHaveURL('/');
});

test('on a phone the menu button opens the navigation', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signUp(page, uniqueName('phone'));
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav).toBeHidden();
  await page.getByRole('button', { name: 'Menu' }).click();
  await expect(nav).toBeVisible();
  await nav.getByRole('link', { name: 'Camera' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Camera');
  await expect(nav).toBeHidden();
});

test.describe('an unknown address', () => {
  // The browser logs the document's own 404 status as a failed resource.
  test.use({ allowedErrors: [/Failed to load resource: .* 404/] });

  test('shows a 404 page', async ({ page }) => {
    const response = await page.goto('/no-such-page');
    expect(response?.status()).toBe(404);
    await hydrated(page);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Page not found');
  });
});
