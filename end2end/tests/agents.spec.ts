import { Page } from '@playwright/test';
import { expect, hydrated, signUp, test, uniqueName } from './fixtures';

/** Starts a chat answered by the agent named `agent` and waits until it is connected. */
async function chatWith(page: Page, agent: string) {
  await page.goto('/chat');
  await hydrated(page);
  await page.getByLabel('Answered by').selectOption({ label: agent });
  await page.locator('.chat-welcome').getByRole('button', { name: 'New chat' }).click();
  await expect(page).toHaveURL(/\/chat\/\d+$/);
  await expect(page.locator('.chat-agent')).toBeVisible();
  await expect(page.getByLabel('Message')).toBeEnabled();
}

async function send(page: Page, text: string) {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

const reply = (page: Page) => page.locator('article.message.assistant').last();

test('the camera assistant looks up what a camera saw, shows it, and sets up a rule once approved', async ({ page }) => {
  await signUp(page, uniqueName('assistant'));
  await page.goto('/events');
  await hydrated(page);
  // A camera (here a script in the page) reports a tabby cat, with a thumbnail.
  await page.evaluate(() => new Promise<void>((resolve) => {
    const socket = new WebSocket(`ws://${location.host}/ws/events/sofa`);
    socket.onmessage = (message) => {
      const reply = JSON.parse(message.data);
      if (reply.type === 'ack') return resolve();
      if (reply.type !== 'connection_established') return;
      socket.send(JSON.stringify({
        type: 'classification', producer: 'e2e-assistant', seq: 1, model: 'efficientnet_lite0',
        client_time: new Date().toISOString(), thumbnail: '/9j/4AAQSkZJRg==',
        classifications: [{ categories: [{ index: 281, score: 0.9, categoryName: 'tabby', displayName: '' }], headIndex: 0, headName: 'probability' }],
      }));
    };
  }));

  await chatWith(page, 'Camera assistant');
  await send(page, 'When did sofa last see a cat? [call latest_sightings {"label": "cat", "stream": "sofa"}]');
  const card = reply(page).locator('.tool-card[data-tool="latest_sightings"]');
  await expect(card).toHaveAttribute('data-state', 'ok');
  await expect(reply(page).locator('.widget[data-kind="image"] img')).toHaveAttribute('src', /\/api\/events\/\d+\/thumbnail/);
  await expect(reply(page)).toHaveAttribute('data-status', 'complete');
  await expect(reply(page).locator('.message-body').last()).toContainText('The tool said');
  await card.locator('summary').click();
  await expect(card.locator('.tool-arguments')).toContainText('"stream": "sofa"');
  await expect(card.locator('.tool-result')).toContainText('tabby');

  await send(page, 'Tell me when a dog shows up on sofa [call create_rule {"label": "dog", "stream": "sofa"}]');
  const rule = reply(page).locator('.tool-card[data-tool="create_rule"]');
  await expect(rule).toHaveAttribute('data-state', 'waiting');
  await expect(rule.locator('.approval')).toContainText('Create a rule: alert when sofa sees a dog');
  await rule.getByRole('button', { name: 'Approve' }).click();
  await expect(rule).toHaveAttribute('data-state', 'ok');
  await expect(reply(page)).toHaveAttribute('data-status', 'complete');
  await page.goto('/events');
  await hydrated(page);
  await expect(page.locator('.rule-row')).toContainText('dog on sofa');
});

test('an agent’s choices and form answer it', async ({ page }) => {
  await signUp(page, uniqueName('support'));
  await chatWith(page, 'Support');
  await send(page, 'My invoice is wrong');
  await expect(reply(page)).toContainText('Message #1 for user');
  await reply(page).locator('.widget[data-kind="choices"]').getByRole('button', { name: 'Book an appointment' }).click();
  const form = reply(page).locator('.widget[data-kind="form"] form');
  await expect(form).toContainText('Book an appointment');
  await form.getByLabel('Your name').fill('Ada');
  await form.getByLabel('Time').selectOption('2026-12-01 14:00');
  await form.getByRole('button', { name: 'Book' }).click();
  await expect(page.locator('article.message.user').last()).toContainText('Your name: Ada');
  await expect(reply(page)).toContainText('Booked 2026-12-01 14:00 for Ada.');
});
