import { Page } from '@playwright/test';
import { expect, hydrated, lastReply, query, sendMessage, signUp, test, uniqueName } from './fixtures';

/** Starts a new chat from the Chat page and waits until its connection is open. */
async function newChat(page: Page) {
  await page.goto('/chat');
  await hydrated(page);
  await page.locator('.chat-sidebar').getByRole('button', { name: 'New chat' }).click();
  await expect(page).toHaveURL(/\/chat\/\d+$/);
  await expect(page.getByLabel('Message')).toBeEnabled();
}

const slowReply = Array.from({ length: 60 }, (_, i) => `w${i + 1}`).join(' ');

test('a reply streams in progressively, and Stop keeps what was written', async ({ page }) => {
  await signUp(page, uniqueName('chat'));
  await newChat(page);
  await sendMessage(page, '[slow] count for me');
  await expect(page.locator('article.message.user')).toContainText('[slow] count for me');
  await expect(lastReply(page)).toContainText('w3');
  const partial = await lastReply(page).locator('.message-body').innerText();
  expect(partial).not.toContain('w60');
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(lastReply(page)).toHaveAttribute('data-status', 'stopped');
  await expect(lastReply(page).locator('.message-status')).toHaveText('Stopped');
  const id = await lastReply(page).getAttribute('data-message-id');
  const [row] = query(`SELECT status, content FROM chat_messages WHERE id = ${Number(id)}`);
  expect(row.status).toBe('stopped');
  expect(String(row.content)).toMatch(/^w1 w2 w3 /);
  expect(String(row.content)).not.toContain('w60');
  await expect(page.getByRole('button', { name: 'Regenerate' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Send' })).toBeVisible();
});

test('the heading takes the title the first message gives the chat, without a reload', async ({ page }) => {
  await signUp(page, uniqueName('title'));
  await newChat(page);
  await expect(page.locator('.chat-title')).toHaveText('New chat');
  await sendMessage(page, 'Plan a picnic');
  await expect(page.locator('.chat-title')).toHaveText('Plan a picnic');
  await expect(page.locator('.chat-sidebar .session-link').first()).toHaveText('Plan a picnic');
});

test('reloading mid-reply shows the text so far and the reply continues, exactly once', async ({ page }) => {
  await signUp(page, uniqueName('resume'));
  await newChat(page);
  await sendMessage(page, '[slow] keep going');
  await expect(lastReply(page)).toContainText('w5');
  await page.reload();
  await hydrated(page);
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete', { timeout: 20_000 });
  await expect(lastReply(page).locator('.message-body')).toHaveText(slowReply);
  await expect(page.locator('.chat-title')).toHaveText('[slow] keep going');
});

test('code blocks are highlighted with a copy button, and a malicious reply stays inert', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  // The grammars are fetched once, when the first code block shows up.
  const grammarFetches: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/highlight/grammars-')) grammarFetches.push(request.url());
  });
  await signUp(page, uniqueName('code'));
  await newChat(page);
  await sendMessage(page, 'hello');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  expect(grammarFetches).toHaveLength(0);
  await sendMessage(page, '[code] show me');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  const block = lastReply(page).locator('.code-block');
  const keyword = block.locator('.tok-storage.tok-function').first();
  await expect(keyword).toHaveText('fn');
  await expect(keyword).toHaveCSS('color', 'rgb(124, 58, 237)');
  await expect(block.locator('.tok-entity.tok-name.tok-function')).toHaveText('add');
  await expect(block.locator('.tok-comment.tok-line')).toHaveText('// sum');
  expect(grammarFetches).toHaveLength(1);
  // A stored reply comes highlighted from the server and stays so once the page is live.
  await page.reload();
  await hydrated(page);
  await expect(lastReply(page).locator('.code-block .tok-comment.tok-line')).toHaveText('// sum');
  await block.getByRole('button', { name: 'Copy' }).click();
  await expect(block.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('fn add(a: i32, b: i32)');

  await sendMessage(page, '[evil] try it');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  const body = lastReply(page).locator('.message-body');
  await expect(body).toContainText('<script>window.__pwned');
  await expect(body.locator('script, img, iframe')).toHaveCount(0);
  await expect(body.locator('a[href^="javascript"]')).toHaveCount(0);
  await body.getByRole('link', { name: 'click me' }).click();
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
});

test('sessions can be searched, renamed, archived, restored and deleted', async ({ page }) => {
  await signUp(page, uniqueName('sessions'));
  await newChat(page);
  await sendMessage(page, 'First topic');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  await newChat(page);
  await sendMessage(page, 'Second topic');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');

  const sidebar = page.locator('.chat-sidebar');
  await expect(sidebar.locator('.session-link')).toHaveText(['Second topic', 'First topic']);
  await sidebar.getByLabel('Search chats').fill('first');
  await expect(sidebar.locator('.session-link')).toHaveText(['First topic']);
  await sidebar.getByLabel('Search chats').fill('');

  const first = sidebar.locator('.session-item', { hasText: 'First topic' });
  await first.getByRole('button', { name: 'Rename' }).click();
  await sidebar.getByLabel('New title').fill('Renamed topic');
  await sidebar.getByRole('button', { name: 'Save' }).click();
  await expect(sidebar.locator('.session-link', { hasText: 'Renamed topic' })).toBeVisible();

  await sidebar.locator('.session-item', { hasText: 'Renamed topic' }).getByRole('button', { name: 'Archive' }).click();
  await expect(sidebar.locator('.session-link')).toHaveText(['Second topic']);
  await sidebar.getByLabel('Show archived').check();
  const archived = sidebar.locator('.session-item', { hasText: 'Renamed topic' });
  await archived.getByRole('button', { name: 'Restore' }).click();
  await expect(sidebar.getByText('No chats here.')).toBeVisible();
  await sidebar.getByLabel('Show archived').uncheck();
  await expect(sidebar.locator('.session-link')).toHaveCount(2);

  await sidebar.locator('.session-item', { hasText: 'Second topic' }).getByRole('button', { name: 'Archive' }).click();
  await sidebar.getByLabel('Show archived').check();
  await sidebar.getByRole('button', { name: 'Delete forever' }).click();
  await sidebar.getByRole('button', { name: 'Confirm delete' }).click();
  await expect(sidebar.getByText('No chats here.')).toBeVisible();
  expect(query(`SELECT COUNT(*) AS n FROM chat_sessions WHERE title = 'Second topic'`)[0].n).toBe(0);
});

test('a chat with the embedded offline model, chosen in the settings', async ({ page }) => {
  test.setTimeout(120_000);
  await signUp(page, uniqueName('local'));
  await newChat(page);
  await page.getByText('Settings', { exact: true }).click();
  await page.getByLabel('Model').selectOption('local/qwen2.5-coder-0.5b');
  await page.getByLabel('Temperature').fill('0');
  await page.getByLabel('Max tokens per reply').fill('64');
  await page.getByLabel('Max tokens per reply').blur();
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByText('Settings saved.')).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.locator('.chat-model')).toHaveText('local/qwen2.5-coder-0.5b');
  await expect(page.locator('.model-note')).toContainText('instruction-tuned');
  await expect(page.getByLabel('Message')).toBeEnabled();
  // An instruction the pre-trained model could not follow.
  await sendMessage(page, 'Write a Python function named reverse that reverses a string. Reply with the code only.');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete', { timeout: 90_000 });
  await expect(lastReply(page).locator('.code-block')).toContainText('def reverse(');
  await expect(lastReply(page).locator('.code-block')).toContainText('[::-1]');
  await expect(lastReply(page).locator('.usage')).toContainText('reply tokens');
});

test('the chat page shows whether each model server answers, and presets start chats', async ({ page }) => {
  await signUp(page, uniqueName('models'));
  await page.goto('/chat');
  await hydrated(page);
  await expect(page.locator('tr[data-provider="fake"] td.success')).toHaveText('ok');
  await expect(page.locator('tr[data-provider="local"] td.success')).toHaveText('ok');
  await page.getByRole('button', { name: 'Sync models' }).click();
  await expect(page.locator('.providers .error')).toHaveCount(0);

  await page.getByRole('button', { name: 'New preset' }).click();
  await page.getByLabel('Name').fill('Pirate');
  await page.getByLabel('System prompt').fill('Talk like a pirate.');
  await page.getByRole('button', { name: 'Save preset' }).click();
  const preset = page.locator('.preset', { hasText: 'Pirate' });
  await expect(preset).toContainText('fake/fake-model · private');
  await preset.getByRole('button', { name: 'Start chat' }).click();
  await expect(page).toHaveURL(/\/chat\/\d+$/);
  await expect(page.locator('.chat-title')).toHaveText('Pirate');
  await page.getByText('Settings', { exact: true }).click();
  await expect(page.getByLabel('System prompt')).toHaveValue('Talk like a pirate.');
});

test('a second page of the same chat sees the typing and the reply live', async ({ page, context }) => {
  await signUp(page, uniqueName('twopages'));
  await newChat(page);
  const other = await context.newPage();
  await other.goto(page.url());
  await hydrated(other);
  await expect(other.getByLabel('Message')).toBeEnabled();
  await page.getByLabel('Message').fill('Hello from the first page');
  await expect(other.getByText('You are typing in this chat on another page…')).toBeVisible();
  await page.getByLabel('Message').press('Enter');
  await expect(other.getByText('You are typing in this chat on another page…')).toHaveCount(0);
  await expect(other.locator('article.message.user')).toContainText('Hello from the first page');
  await expect(lastReply(other)).toHaveAttribute('data-status', 'complete');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  await expect(lastReply(other).locator('.message-body')).toHaveText(await lastReply(page).locator('.message-body').innerText());
});
