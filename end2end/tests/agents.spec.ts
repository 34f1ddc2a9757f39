import { Page } from '@playwright/test';
import { expect, hydrated, lastReply, query, sendMessage, signUp, test, uniqueName } from './fixtures';

/** Starts a chat answered by the agent named `agent` and waits until it is connected. */
async function chatWith(page: Page, agent: string) {
  await page.goto('/chat');
  await hydrated(page);
  await page.getByLabel('Answered by').selectOption({ label: agent });
  await page.locator('.chat-welcome').getByRole('button', { name: 'New chat' }).click();
  await expect(page).toHaveURL(/\/chat\/\d+$/);
  await expect(page.getByLabel('Message')).toBeEnabled();
}


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
  await expect(page.locator('.chat-agent')).toHaveText('cameras');
  await sendMessage(page, 'When did sofa last see a cat? [call last_seen {"label": "cat", "camera": "sofa"}]');
  const card = lastReply(page).locator('.tool-card[data-tool="last_seen"]');
  await expect(card).toHaveAttribute('data-state', 'ok');
  await expect(lastReply(page).locator('.widget[data-kind="image"] img')).toHaveAttribute('src', /\/api\/events\/\d+\/thumbnail/);
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  // The answer is the tool's sentence; the card says what was looked up, its details one click away.
  await expect(lastReply(page).locator('.message-body').last()).toContainText(/sofa last saw a cat today at \d\d:\d\d \((just now|1 min ago)\): a tabby\./);
  await expect(card.locator('.tool-line')).toContainText('Last “cat” on sofa: today at');
  await card.locator('summary').click();
  await expect(card.locator('.tool-arguments')).toContainText('"camera": "sofa"');
  await expect(card.locator('.tool-result')).toContainText('tabby');

  await sendMessage(page, 'Tell me when a dog shows up on sofa [call alert_me_when {"label": "dog", "camera": "sofa"}]');
  const rule = lastReply(page).locator('.tool-card[data-tool="alert_me_when"]');
  await expect(rule).toHaveAttribute('data-state', 'waiting');
  await expect(rule.locator('.approval')).toContainText('Create a rule: alert when sofa sees a dog');
  await rule.getByRole('button', { name: 'Approve' }).click();
  await expect(rule).toHaveAttribute('data-state', 'ok');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete');
  await page.goto('/events');
  await hydrated(page);
  await expect(page.locator('.rule-row')).toContainText('dog on sofa');
});

/** Sends camera events from the page, as a camera page does: `labels` in order on `stream`. */
async function sendEvents(page: Page, stream: string, labels: { index: number; name: string }[]) {
  await page.evaluate(({ stream, labels }) => new Promise<void>((resolve) => {
    const socket = new WebSocket(`ws://${location.host}/ws/events/${stream}`);
    let acknowledged = 0;
    socket.onmessage = (message) => {
      const reply = JSON.parse(message.data);
      if (reply.type === 'ack' && ++acknowledged === labels.length) return resolve();
      if (reply.type !== 'connection_established') return;
      labels.forEach((label, n) => socket.send(JSON.stringify({
        type: 'classification', producer: 'e2e-words', seq: n + 1, model: 'efficientnet_lite0',
        client_time: new Date().toISOString(),
        classifications: [{ categories: [{ index: label.index, score: 0.9, categoryName: label.name, displayName: '' }], headIndex: 0, headName: 'probability' }],
      })));
    };
  }), { stream, labels });
}

test('the camera assistant, on the embedded model, answers a question in everyday words with the number the database holds', async ({ page }) => {
  test.setTimeout(180_000);
  const user = uniqueName('words');
  await signUp(page, user);
  await page.goto('/events');
  await hydrated(page);
  const dog = { index: 207, name: 'golden retriever' };
  const beagle = { index: 162, name: 'beagle' };
  const cat = { index: 281, name: 'tabby' };
  await sendEvents(page, 'patio', [dog, cat, beagle, dog, cat, dog]);
  await sendEvents(page, 'hallway', [dog, dog]);

  await chatWith(page, 'Camera assistant');
  await page.getByText('Settings', { exact: true }).click();
  await page.getByLabel('Model').selectOption('local/qwen2.5-coder-0.5b');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByText('Settings saved.')).toBeVisible();
  await sendMessage(page, 'Did any dogs come by the patio today? How many?');
  await expect(lastReply(page)).toHaveAttribute('data-status', 'complete', { timeout: 150_000 });
  const card = lastReply(page).locator('.tool-card[data-tool="how_many"]');
  await expect(card).toHaveAttribute('data-state', 'ok');
  const [{ n }] = query(`SELECT COUNT(*) AS n FROM classification_events e JOIN users u ON u.id = e.owner_id
    WHERE u.username = '${user}' AND e.stream = 'patio' AND e.top_index BETWEEN 151 AND 268`);
  expect(n).toBe(4);
  await expect(lastReply(page).locator('.message-body').last()).toHaveText(`patio saw a dog ${n} times today (golden retriever 3, beagle 1).`);
  await expect(card.locator('.tool-line')).toHaveText(`Counted “dog” on patio today: ${n}`);
});

test('an agent’s choices and form answer it', async ({ page }) => {
  await signUp(page, uniqueName('support'));
  await chatWith(page, 'Support');
  await sendMessage(page, 'My invoice is wrong');
  await expect(lastReply(page)).toContainText('Message #1 for user');
  await lastReply(page).locator('.widget[data-kind="choices"]').getByRole('button', { name: 'Book an appointment' }).click();
  const form = lastReply(page).locator('.widget[data-kind="form"] form');
  await expect(form).toContainText('Book an appointment');
  await form.getByLabel('Your name').fill('Ada');
  await form.getByLabel('Time').selectOption('2026-12-01 14:00');
  await form.getByRole('button', { name: 'Book' }).click();
  await expect(page.locator('article.message.user').last()).toContainText('Your name: Ada');
  await expect(lastReply(page)).toContainText('Booked 2026-12-01 14:00 for Ada.');
});

/** A one-page PDF whose text is `text`, with a correct cross-reference table. */
function pdfWith(text: string): Buffer {
  const content = `BT /F1 18 Tf 72 700 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, 'latin1');
}

test.describe('files', () => {
  // The refused upload is logged by the browser as a failed request.
  test.use({ allowedErrors: [/status of 400 \(Bad Request\)/] });

  test('a PDF attached to a message is read by the chat’s model and listed with the chat', async ({ page }) => {
    await signUp(page, uniqueName('files'));
    await chatWith(page, 'Chat');
    await page.getByLabel('Attach files').setInputFiles({ name: 'invoice.pdf', mimeType: 'application/pdf', buffer: pdfWith('The invoice total is 4217 euros.') });
    await expect(page.locator('.attachments .file-chip')).toHaveAttribute('data-state', 'ready');
    await page.getByLabel('Attach files').setInputFiles({ name: 'tool.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') });
    await expect(page.locator('.attachments .file-chip[data-state="failed"]')).toContainText('not taken');
    await page.getByRole('button', { name: 'Remove tool.exe' }).click();
    await sendMessage(page, 'What is the total?');
    await expect(page.locator('article.message.user').last().locator('.message-files')).toContainText('invoice.pdf');
    await expect(page.locator('.attachments .file-chip')).toHaveCount(0);
    await expect(lastReply(page)).toContainText('invoice.pdf says: The invoice total is 4217 euros.');
    await expect(page.locator('.session-files summary')).toHaveText('Files (1)');

    // A file dropped on the composer is attached too.
    const dataTransfer = await page.evaluateHandle(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['# Notes\nBuy milk'], 'notes.md', { type: 'text/markdown' }));
      return transfer;
    });
    await page.locator('form.composer').dispatchEvent('drop', { dataTransfer });
    await expect(page.locator('.attachments .file-chip[data-state="ready"]')).toContainText('notes.md');
    await sendMessage(page, 'And this?');
    await expect(lastReply(page)).toContainText('notes.md says: # Notes');
    await expect(page.locator('.session-files summary')).toHaveText('Files (2)');
  });
});
