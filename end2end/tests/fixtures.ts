import { execFileSync } from 'node:child_process';
import { test as base, expect, Page } from '@playwright/test';

/**
 * A page that records every console error and uncaught exception; the test fails if any
 * occurred, except those a test declares with `test.use({ allowedErrors: [/…/] })`.
 * `hydrated(page)` waits until the WebAssembly has taken over the page.
 */
export const test = base.extend<{ page: Page; allowedErrors: RegExp[] }>({
  allowedErrors: [[], { option: true }],
  page: async ({ page, allowedErrors }, use) => {
    const problems: string[] = [];
    const report = (problem: string) => {
      if (!allowedErrors.some((allowed) => allowed.test(problem))) problems.push(problem);
    };
    page.on('console', (message) => {
      if (message.type() === 'error') report(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => report(`exception: ${error.message}`));
    await use(page);
    expect(problems, 'the browser reported errors').toEqual([]);
  },
});

export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated]')).toHaveCount(1);
}

export { expect };

/** A username no other test uses. */
export function uniqueName(prefix: string) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export const PASSWORD = 'correct horse battery';

/** Signs up through the form and waits until the app shows the new user. */
export async function signUp(page: Page, username: string) {
  await page.goto('/signup');
  await hydrated(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Password again').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL('/');
  await expect(page.locator('.user-menu').getByRole('link', { name: username, includeHidden: true })).toBeAttached();
  // Signing in may load the page anew: wait until it is interactive again.
  await hydrated(page);
}

/** Rows the server stored, read straight from its SQLite database (`?` parameters are not supported: inline only trusted values). */
export function query(sql: string): Record<string, unknown>[] {
  const output = execFileSync('sqlite3', ['-json', process.env.E2E_DATABASE!, sql], { encoding: 'utf8' });
  return output.trim() ? JSON.parse(output) : [];
}

/** Sends `text` from the chat composer. */
export async function sendMessage(page: Page, text: string) {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

/** The chat's latest reply. */
export const lastReply = (page: Page) => page.locator('article.message.assistant').last();
