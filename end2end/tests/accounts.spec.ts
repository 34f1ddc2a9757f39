import { test, expect, hydrated, signUp, uniqueName, PASSWORD } from './fixtures';

test('sign up, create a token, sign out and back in', async ({ page }) => {
  const name = uniqueName('ana');
  await signUp(page, name);

  await page.getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Account');
  await page.getByLabel('Name').fill('camera script');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.getByLabel('New token').inputValue();
  expect(secret).toMatch(/^aic_/);
  const row = page.locator('.token-row', { hasText: 'camera script' });
  await expect(row).toBeVisible();
  await expect(row).not.toContainText(secret);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();

  await page.goto('/account');
  await expect(page).toHaveURL(/\/login\?next=\/account$/);
  await hydrated(page);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL('/account');
  await expect(page.locator('.token-row', { hasText: 'camera script' })).toBeVisible();
});

test.describe('a wrong password', () => {
  // The refused sign-in shows in the console as a failed (401) request.
  test.use({ allowedErrors: [/Failed to load resource: .* 401/] });

  test('is explained in place', async ({ page }) => {
    const name = uniqueName('ben');
    await signUp(page, name);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/login$/);
    await hydrated(page);
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill('not my password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('wrong username or password');
  });
});

test.describe('two users', () => {
  test('each sees only their own tokens', async ({ page, browser }) => {
    const first = uniqueName('cy');
    await signUp(page, first);
    await page.goto('/account');
    await hydrated(page);
    await page.getByLabel('Name').fill(`${first}'s token`);
    await page.getByRole('button', { name: 'Create token' }).click();
    await expect(page.locator('.token-row')).toHaveCount(1);

    const other = await browser.newContext();
    const second = await other.newPage();
    await signUp(second, uniqueName('dee'));
    await second.goto('/account');
    await hydrated(second);
    await expect(second.getByText('No tokens yet.')).toBeVisible();
    await expect(second.getByText(`${first}'s token`)).toHaveCount(0);
    await other.close();
  });
});

test('signing a browser out from another one ends its live connection and its page', async ({ page, browser }) => {
  const name = uniqueName('eve');
  await signUp(page, name);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Chat');
  await expect(page.locator('.live-indicator')).toHaveAttribute('data-state', 'online');

  const other = await browser.newContext();
  const laptop = await other.newPage();
  await laptop.goto('/login');
  await hydrated(laptop);
  await laptop.getByLabel('Username').fill(name);
  await laptop.getByLabel('Password').fill(PASSWORD);
  await laptop.getByRole('button', { name: 'Sign in' }).click();
  await expect(laptop).toHaveURL('/');
  await laptop.goto('/account');
  await hydrated(laptop);
  await laptop.locator('.sessions li', { hasText: 'last seen' }).getByRole('button', { name: 'Sign out' }).click();
  await expect(laptop.locator('.sessions li')).toHaveCount(1);
  await other.close();

  await expect(page).toHaveURL(/\/login\?next=\/chat$/);
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
});
