// The official `openai` and `@anthropic-ai/sdk` clients against the fake's chat and embeddings
// endpoints: `node chat_clients.mjs <fake base url>`. Run by tests/chat_clients.rs. If a client
// can read what the fake sends (streams, usage, tool calls, embeddings, errors), genbase's
// adapters, written to the same protocols, see what the real providers would send.
// Prints one line per check; exits 1 on failure.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const [base] = process.argv.slice(2);
if (!base) {
  console.error('usage: node chat_clients.mjs <fake base url>');
  process.exit(2);
}

const FILLER = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ');
// The fake's reply to `text` (see src/chat.rs): `echo:`, up to 6 of its words, filler; n words.
function expected(text, n) {
  const words = ['echo:', ...text.split(/\s+/).filter((w) => w && !/^\[.*\]$/.test(w)).slice(0, 6)];
  for (let i = 0; words.length < n; i++) words.push(FILLER[i % FILLER.length]);
  return words.slice(0, n).join(' ');
}

let failed = 0;
async function check(name, run) {
  try {
    const problem = await run();
    if (problem) {
      failed += 1;
      console.log(`FAIL ${name}: ${problem}`);
    } else {
      console.log(`ok   ${name}`);
    }
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: threw ${e?.stack ?? e}`);
  }
}

const same = (what, got, want) =>
  JSON.stringify(got) === JSON.stringify(want) ? null : `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
const first = (...problems) => problems.find((p) => p) ?? null;
// What a failing call threw, or null when it did not.
async function thrown(run) {
  try {
    await run();
    return null;
  } catch (e) {
    return e;
  }
}

// Retries off: a 429 or 5xx under test must surface, not be retried.
const openai = new OpenAI({ apiKey: 'sk-test-clients', baseURL: `${base}/v1`, maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: 'sk-ant-test-clients', baseURL: base, maxRetries: 0 });
const system = { role: 'system', content: 'Be brief.' };
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { query: { type: 'string' } } } } }];

await check('openai: streamed with include_usage', async () => {
  const stream = await openai.chat.completions.create({
    model: 'gpt-fake',
    messages: [system, { role: 'user', content: 'stream me something' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return first(
    same('text', text, expected('stream me something', 20)),
    same('finish_reason', finish, 'stop'),
    same('usage', [usage?.prompt_tokens, usage?.completion_tokens, usage?.total_tokens], [5, 20, 25]),
  );
});

await check('openai: not streamed, max_tokens', async () => {
  const c = await openai.chat.completions.create({
    model: 'gpt-fake',
    messages: [{ role: 'user', content: 'one two three' }],
    max_tokens: 6,
  });
  return first(
    same('content', c.choices[0].message.content, expected('one two three', 6)),
    same('finish_reason', c.choices[0].finish_reason, 'length'),
    same('usage', [c.usage.prompt_tokens, c.usage.completion_tokens], [3, 6]),
  );
});

await check('openai: streamed tool call through the stream helper', async () => {
  const stream = openai.chat.completions.stream({
    model: 'gpt-fake',
    messages: [{ role: 'user', content: 'weather in Lima [tool]' }],
    tools,
    stream_options: { include_usage: true },
  });
  const done = await stream.finalChatCompletion();
  const call = done.choices[0].message.tool_calls?.[0];
  return first(
    same('finish_reason', done.choices[0].finish_reason, 'tool_calls'),
    same('name', call?.function?.name, 'get_weather'),
    same('arguments', JSON.parse(call?.function?.arguments ?? 'null'), { query: 'weather in Lima' }),
    call?.id?.startsWith('call_') ? null : `id ${call?.id}`,
    same('usage', done.usage?.completion_tokens, 4),
  );
});

await check('openai: a revoked key is an AuthenticationError', async () => {
  const revoked = new OpenAI({ apiKey: 'sk-invalid-1', baseURL: `${base}/v1`, maxRetries: 0 });
  const e = await thrown(() => revoked.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }));
  return first(
    e instanceof OpenAI.AuthenticationError ? null : `threw ${e}`,
    same('status', e?.status, 401),
    same('code', e?.code, 'invalid_api_key'),
  );
});

await check('openai: [midfail] raises an APIError mid-stream', async () => {
  const stream = await openai.chat.completions.create({
    model: 'gpt-fake',
    messages: [{ role: 'user', content: '[midfail] break now' }],
    stream: true,
  });
  let text = '';
  const e = await thrown(async () => {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  });
  return first(
    e instanceof OpenAI.APIError ? null : `threw ${e}`,
    same('type', e?.type, 'server_error'),
    same('text before', text, 'echo: break now'),
  );
});

await check('openai: [drop] fails the stream rather than ending it', async () => {
  const stream = await openai.chat.completions.create({
    model: 'gpt-fake',
    messages: [{ role: 'user', content: '[drop] cut' }],
    stream: true,
  });
  const e = await thrown(async () => {
    for await (const _ of stream);
  });
  return e ? null : 'the stream ended as if complete';
});

await check('openai: [throttle] is a RateLimitError', async () => {
  const e = await thrown(() => openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: '[throttle]' }] }));
  return first(e instanceof OpenAI.RateLimitError ? null : `threw ${e}`, same('retry-after', e?.headers?.get('retry-after'), '1'));
});

const claude = { model: 'claude-fake', max_tokens: 64, system: 'Be brief.' };

await check('anthropic: messages.stream text and finalMessage usage', async () => {
  const stream = anthropic.messages.stream({ ...claude, messages: [{ role: 'user', content: 'stream me something' }] });
  let text = '';
  stream.on('text', (delta) => (text += delta));
  const message = await stream.finalMessage();
  return first(
    same('text', text, expected('stream me something', 20)),
    same('content', message.content.map((b) => [b.type, b.text]), [['text', expected('stream me something', 20)]]),
    same('stop_reason', message.stop_reason, 'end_turn'),
    same('usage', [message.usage.input_tokens, message.usage.output_tokens], [5, 20]),
  );
});

await check('anthropic: not streamed, max_tokens', async () => {
  const m = await anthropic.messages.create({ ...claude, max_tokens: 3, messages: [{ role: 'user', content: 'a b c d' }] });
  return first(
    same('text', m.content[0].text, 'echo: a b'),
    same('stop_reason', m.stop_reason, 'max_tokens'),
    same('usage', [m.usage.input_tokens, m.usage.output_tokens], [6, 3]),
  );
});

await check('anthropic: streamed tool_use with input_json_delta', async () => {
  const stream = anthropic.messages.stream({
    ...claude,
    tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { query: { type: 'string' } } } }],
    messages: [{ role: 'user', content: 'weather in Lima [tool]' }],
  });
  const message = await stream.finalMessage();
  const block = message.content[0];
  return first(
    same('type', block.type, 'tool_use'),
    same('name', block.name, 'get_weather'),
    same('input', block.input, { query: 'weather in Lima' }),
    same('stop_reason', message.stop_reason, 'tool_use'),
    same('output_tokens', message.usage.output_tokens, 4),
  );
});

await check('anthropic: a revoked key is an AuthenticationError', async () => {
  const revoked = new Anthropic({ apiKey: 'sk-ant-invalid', baseURL: base, maxRetries: 0 });
  const e = await thrown(() => revoked.messages.create({ ...claude, messages: [{ role: 'user', content: 'x' }] }));
  return first(e instanceof Anthropic.AuthenticationError ? null : `threw ${e}`, same('status', e?.status, 401));
});

await check('anthropic: [midfail] error event rejects finalMessage', async () => {
  const stream = anthropic.messages.stream({ ...claude, messages: [{ role: 'user', content: '[midfail] break now' }] });
  let text = '';
  stream.on('text', (delta) => (text += delta));
  const e = await thrown(() => stream.finalMessage());
  return first(
    e instanceof Anthropic.APIError ? null : `threw ${e}`,
    same('error type', e?.error?.error?.type, 'overloaded_error'),
    same('text before', text, 'echo: break now'),
  );
});

await check('anthropic: [throttle] is a RateLimitError', async () => {
  const e = await thrown(() => anthropic.messages.create({ ...claude, messages: [{ role: 'user', content: '[throttle]' }] }));
  return e instanceof Anthropic.RateLimitError ? null : `threw ${e}`;
});

// Embeddings (src/embeddings.rs): hashed word vectors, so a text is nearest the one sharing its words.
const embedModel = 'text-embedding-3-small';
const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
const texts = ['How do I reset my router password?', 'Hold the reset button to reset the router password.', 'Quarterly revenue grew in Europe.'];
// What `encoding_format: "base64"` carries, read by hand: little-endian f32s.
function decodeF32(b64) {
  const bytes = Buffer.from(b64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}
const fakeLog = async (method = 'GET') => (await fetch(`${base}/_fake/embeddings/requests`, { method })).json();

await check('openai: embeddings.create, float', async () => {
  const r = await openai.embeddings.create({ model: embedModel, input: texts, encoding_format: 'float' });
  const [q, near, far] = r.data.map((d) => d.embedding);
  return first(
    same('shape', [r.object, r.model, r.data.map((d) => [d.object, d.index, d.embedding.length])], ['list', embedModel, [0, 1, 2].map((i) => ['embedding', i, 1536])]),
    same('usage', r.usage, { prompt_tokens: 7 + 9 + 5, total_tokens: 21 }),
    Math.abs(dot(q, q) - 1) < 1e-5 ? null : `norm ${dot(q, q)}`,
    dot(q, near) > dot(q, far) + 0.2 ? null : `near ${dot(q, near)}, far ${dot(q, far)}`,
  );
});

await check('openai: embeddings.create, base64 (the default, decoded by the client, and explicit)', async () => {
  const floats = await openai.embeddings.create({ model: embedModel, input: texts[0], encoding_format: 'float', dimensions: 256 });
  const decoded = await openai.embeddings.create({ model: embedModel, input: texts[0], dimensions: 256 });
  const raw = await openai.embeddings.create({ model: embedModel, input: texts[0], encoding_format: 'base64', dimensions: 256 });
  const want = floats.data[0].embedding.map(Math.fround);
  return first(
    same('length', want.length, 256),
    same('client-decoded', decoded.data[0].embedding, want),
    typeof raw.data[0].embedding === 'string' ? null : `explicit base64 came as ${typeof raw.data[0].embedding}`,
    same('little-endian f32', decodeF32(raw.data[0].embedding), want),
  );
});

await check('openai: embeddings errors (401, 400 naming the param, [embedfail] 500)', async () => {
  const revoked = new OpenAI({ apiKey: 'sk-invalid-1', baseURL: `${base}/v1`, maxRetries: 0 });
  const denied = await thrown(() => revoked.embeddings.create({ model: embedModel, input: 'x' }));
  const empty = await thrown(() => openai.embeddings.create({ model: embedModel, input: [] }));
  const failed = await thrown(() => openai.embeddings.create({ model: embedModel, input: ['fine', 'x [embedfail]'] }));
  return first(
    denied instanceof OpenAI.AuthenticationError ? null : `revoked key threw ${denied}`,
    empty instanceof OpenAI.BadRequestError ? null : `empty input threw ${empty}`,
    same('param', empty?.param, 'input'),
    failed instanceof OpenAI.InternalServerError ? null : `[embedfail] threw ${failed}`,
  );
});

await check('openai: [flakyembed] fails twice, then embeds', async () => {
  const call = () => openai.embeddings.create({ model: embedModel, input: ['steady', 'chunk [flakyembed]'], encoding_format: 'float' });
  const errors = [await thrown(call), await thrown(call)];
  const r = await call();
  return first(
    errors.every((e) => e instanceof OpenAI.InternalServerError) ? null : `threw ${errors}`,
    same('then', r.data.length, 2),
  );
});

await check('fake: /_fake/embeddings/requests logs each request; DELETE empties it', async () => {
  const log = await fakeLog();
  const flaky = log.filter((e) => e.inputs?.includes('chunk [flakyembed]'));
  const cleared = await fakeLog('DELETE');
  const after = await fakeLog();
  return first(
    same('flaky outcomes', flaky.map((e) => [e.status, e.outcome, e.input_count, e.key]), [
      [500, 'flakyembed', 2, 'sk-test-clients'],
      [500, 'flakyembed', 2, 'sk-test-clients'],
      [200, 'complete', 2, 'sk-test-clients'],
    ]),
    same('outcomes', log.map((e) => e.outcome), ['complete', 'complete', 'complete', 'complete', 'refused', 'refused', 'embedfail', 'flakyembed', 'flakyembed', 'complete']),
    same('delete', cleared, { cleared: true }),
    same('after', after, []),
  );
});

if (failed) {
  console.log(`${failed} check(s) failed`);
  process.exit(1);
}
