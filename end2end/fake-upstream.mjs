// A scripted OpenAI-compatible model server for the browser tests (a test double of a network
// peer). The last user message picks the reply: `[slow]` streams "w1 … w60" 100 ms apart,
// `[code]` answers with a fenced Rust block, `[evil]` with HTML and links that must stay inert,
// `[long]` with a 20 KB Markdown reply in 40-character chunks, 50 a second (the render benchmark);
// `[call NAME {…}]` calls the tool NAME with those arguments (when tools are offered); a
// conversation that ends with a tool's result is answered "The tool said: " and the result; a
// message with an attached file's text is answered "<name> says: " and the text's start;
// anything else gets a short reply in word chunks.
import http from 'node:http';

const port = Number(process.env.E2E_UPSTREAM_PORT ?? 3101);

const EVIL = [
  'Look: <script>window.__pwned = "script"</script>',
  '<img src="x" onerror="window.__pwned = \'img\'">',
  '[click me](javascript:window.__pwned=\'link\') and <a href="javascript:void(0)">raw link</a>',
  '<iframe src="javascript:alert(1)"></iframe> done.',
].join('\n\n');

const CODE = 'Here is a function:\n\n```rust\nfn add(a: i32, b: i32) -> i32 {\n    // sum\n    a + b\n}\n```\n\nThat is all.';

/** About 20 KB of the Markdown models write: headings, paragraphs, lists, code and tables. */
export const LONG = Array.from({ length: 32 }, (_, i) => [
  `## Part ${i + 1}`,
  `This part explains step ${i + 1} in some detail, with **bold**, *emphasis*, \`inline code\` and a [link](https://example.com/${i}). `.repeat(2),
  '- the first point of the list\n- a second point, longer than the first one\n- a third point',
  '```rust\nfn step(input: &str) -> Result<usize, String> {\n    // count the words\n    Ok(input.split_whitespace().count())\n}\n```',
  '| name | value |\n|------|-------|\n| alpha | 1 |\n| beta | 2 |',
  'A closing paragraph for this part, so that the reply reads like prose between the blocks.',
].join('\n\n')).join('\n\n');

/** `text` in pieces of `size` characters. */
export const pieces = (text, size) => Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

/** The tool call a `[call NAME {…}]` message asks for, if any. */
function scriptedCall(message) {
  const found = message.match(/\[call (\w+) (\{.*\})\]/s);
  return found && { name: found[1], arguments: found[2] };
}

function script(message, lastMessage) {
  const file = message.match(/<file name="([^"]+)">\n([^]*?)\n<\/file>/);
  if (file) return { words: `${file[1]} says: ${file[2].trim().slice(0, 80)}`.split(/(?<= )/), delay: 20 };
  if (lastMessage?.role === 'tool') return { words: `The tool said: ${lastMessage.content}`.split(/(?<= )/), delay: 20 };
  if (message.includes('[long]')) return { words: pieces(LONG, 40), delay: 20 };
  if (message.includes('[slow]')) return { words: Array.from({ length: 60 }, (_, i) => `w${i + 1} `), delay: 100 };
  if (message.includes('[code]')) return { words: CODE.split(/(?<=\n)/), delay: 20 };
  if (message.includes('[evil]')) return { words: EVIL.split(/(?<= )/), delay: 5 };
  return { words: 'Hello from the fake model server, streaming word by word.'.split(/(?<= )/), delay: 40 };
}

const chunk = (data) => `data: ${JSON.stringify(data)}\n\n`;

if (process.argv[1] === new URL(import.meta.url).pathname) serve();

function serve() {
  http
    .createServer((request, response) => {
      if (request.method === 'GET' && request.url === '/v1/models') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model' }] }));
        return;
      }
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        response.writeHead(404).end();
        return;
      }
      let body = '';
      request.on('data', (part) => (body += part));
      request.on('end', async () => {
        const request = JSON.parse(body);
        const messages = request.messages ?? [];
        const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
        const call = request.tools?.length && messages.at(-1)?.role === 'user' && scriptedCall(last);
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        if (call) {
          const toolCall = { index: 0, id: `call_${Date.now()}`, type: 'function', function: { name: call.name, arguments: call.arguments } };
          response.write(chunk({ choices: [{ index: 0, delta: { tool_calls: [toolCall] }, finish_reason: null }] }));
          response.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }));
          response.end('data: [DONE]\n\n');
          return;
        }
        const { words, delay } = script(last, messages.at(-1));
        let closed = false;
        response.on('close', () => (closed = true));
        for (const word of words) {
          await new Promise((resolve) => setTimeout(resolve, delay));
          if (closed) return;
          response.write(chunk({ choices: [{ index: 0, delta: { content: word }, finish_reason: null }] }));
        }
        const usage = { prompt_tokens: 9, completion_tokens: words.length };
        response.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage }));
        response.end('data: [DONE]\n\n');
      });
    })
    .listen(port, '127.0.0.1');
}
