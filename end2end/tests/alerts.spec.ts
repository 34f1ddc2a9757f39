import { test, expect, hydrated, signUp, uniqueName } from './fixtures';

test('a rule made in the Events page fires: a toast, the alert list; it is paused, edited and deleted', async ({ page }) => {
  await signUp(page, uniqueName('rules'));
  await page.goto('/events');
  await hydrated(page);
  await expect(page.getByText('No rules yet.')).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('Cat on the sofa');
  await page.getByLabel('Labels (comma-separated)').fill('cat');
  await page.getByLabel('Cooldown (seconds)').fill('0');
  await page.getByRole('button', { name: 'Add rule' }).click();
  const row = page.locator('.rule-row');
  await expect(row).toContainText('Cat on the sofa');
  await expect(row).toContainText('appears');
  await expect(page.locator('.live-indicator')).toHaveAttribute('data-state', 'online');

  // A camera (here a script in the page) reports a tiger cat three times: the median passes.
  await page.evaluate(() => {
    const socket = new WebSocket(`ws://${location.host}/ws/events/sofa`);
    socket.onmessage = (message) => {
      if (JSON.parse(message.data).type !== 'connection_established') return;
      for (const seq of [1, 2, 3]) {
        socket.send(JSON.stringify({
          type: 'classification', producer: 'e2e-rules', seq, model: 'efficientnet_lite0',
          client_time: new Date().toISOString(),
          classifications: [{ categories: [{ index: 282, score: 0.9, categoryName: 'tiger cat', displayName: '' }], headIndex: 0, headName: 'probability' }],
        }));
      }
    };
  });
  const toast = page.locator('.toast');
  await expect(toast).toContainText('Cat on the sofa: tiger cat (90%) on sofa');
  const alert = page.locator('.alert-row').first();
  await expect(alert).toContainText('Cat on the sofa');
  // The camera went quiet: once the tiger cat has been absent for the sighting time, the alert
  // says when it left.
  await expect(alert.locator('.presence')).toContainText(/^left \d{4}-/);
  await expect(page.locator('.sighting-row').first()).toHaveAttribute('data-state', 'ended');
  await toast.getByRole('button', { name: 'Dismiss' }).click();
  await expect(toast).toHaveCount(0);

  await row.getByRole('button', { name: 'Pause' }).click();
  await expect(row).toContainText('(paused)');
  await row.getByRole('button', { name: 'Edit' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Any cat');
  await page.getByRole('button', { name: 'Save rule' }).click();
  await expect(row).toContainText('Any cat');
  await row.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('No rules yet.')).toBeVisible();
});
