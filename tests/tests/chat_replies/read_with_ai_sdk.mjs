// A streamed reply read the way a frontend's `useChat` reads it: the `ai` package's own
// DefaultChatTransport (which sends useChat's body and validates every part against the
// UI message stream schema) and readUIMessageStream (which builds the message from them).
// `node read_with_ai_sdk.mjs <api url> <token> <conversation id> <text>` sends `text`, then
// regenerates the reply by the id the stream gave it, and prints one JSON line per reply:
// {id, text, metadata, parts}. Run by streamed.rs, which checks them against the
// database. Exits 1 on any error.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [api, token, conversation, text] = process.argv.slice(2);
if (!text) {
  console.error('usage: node read_with_ai_sdk.mjs <api url> <token> <conversation id> <text>');
  process.exit(2);
}

const transport = new DefaultChatTransport({
  api: `${api}/v1/conversations/${conversation}/messages`,
  headers: { authorization: `Bearer ${token}` },
});

async function reply(options) {
  const stream = await transport.sendMessages({ chatId: conversation, abortSignal: undefined, ...options });
  let message;
  const errors = [];
  for await (const m of readUIMessageStream({ stream, onError: (e) => errors.push(String(e)) })) {
    message = m;
  }
  if (errors.length) throw new Error(`stream errors: ${errors.join('; ')}`);
  const parts = message.parts.filter((p) => p.type === 'text');
  return { id: message.id, text: parts.map((p) => p.text).join(''), state: parts.map((p) => p.state), metadata: message.metadata };
}

try {
  const user = { id: 'client-1', role: 'user', parts: [{ type: 'text', text }] };
  const first = await reply({ trigger: 'submit-message', messageId: undefined, messages: [user] });
  console.log(JSON.stringify(first));
  const again = await reply({
    trigger: 'regenerate-message',
    messageId: first.id,
    messages: [user],
  });
  console.log(JSON.stringify(again));
} catch (e) {
  console.error(e);
  process.exit(1);
}
