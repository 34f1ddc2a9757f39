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
