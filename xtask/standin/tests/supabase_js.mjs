// supabase-js against the stand-in: `node supabase_js.mjs <url> <anon key> <user token>`.
// Run by tests/conformance.rs (supabase_js_client). Prints one line per check; exits 1 on failure.
import { createClient } from '@supabase/supabase-js';

const [url, anonKey, userToken] = process.argv.slice(2);
if (!url || !anonKey || !userToken) {
  console.error('usage: node supabase_js.mjs <url> <anon key> <user token>');
  process.exit(2);
}

// Realtime is never used here; Node < 22 has no WebSocket, which realtime-js checks at
// construction, so give it a transport that would fail loudly if it ever connected.
class NoWebSocket {
  constructor() {
    throw new Error('realtime is not part of this test');
  }
}

const options = (headers = {}) => ({
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: NoWebSocket },
  db: { schema: 'conformance' },
  global: { headers },
});
const anon = createClient(url, anonKey, options());
const user = createClient(url, anonKey, options({ Authorization: `Bearer ${userToken}` }));

let failed = 0;
async function check(name, run, expect) {
  let result;
  try {
    result = await run();
  } catch (e) {
    result = { thrown: String(e) };
  }
  const got = { data: result.data ?? null, error: result.error ?? null, status: result.status, thrown: result.thrown };
  const problem = expect(got);
  if (problem) {
    failed += 1;
    console.log(`FAIL ${name}: ${problem}\n     got ${JSON.stringify(got)}`);
  } else {
    console.log(`ok   ${name}`);
  }
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const ok = (data, status = 200) => (g) =>
  g.error || g.thrown ? 'unexpected error' : !same(g.data, data) ? `data != ${JSON.stringify(data)}` : g.status !== status ? `status != ${status}` : null;
const err = (code, status, more = () => null) => (g) =>
  !g.error ? 'expected an error' : g.error.code !== code ? `code != ${code}` : g.status !== status ? `status != ${status}` : more(g.error);

await check('rpc with named args', () => anon.rpc('add', { a: 2, b: 3 }), ok(5));
await check('rpc with a default', () => anon.rpc('add', { a: 1 }), ok(11));
await check('rpc via GET', () => anon.rpc('add', { a: 4 }, { get: true }), ok(14));
await check('setof -> array', () => anon.rpc('series', { n: 3 }), ok([1, 2, 3]));
await check('composite -> object', () => anon.rpc('point', { x: 1, y: 2 }), ok({ x: 1, y: 2 }));
await check('void -> 204, no data', () => anon.rpc('do_nothing'), ok(null, 204));
await check('anon role without a user token', () => anon.rpc('whoami'), (g) =>
  g.error ? 'unexpected error' : g.data.user !== 'anon' ? `user ${g.data.user}` : null);
await check('user token sets role and claims', () => user.rpc('whoami'), (g) =>
  g.error ? 'unexpected error'
    : g.data.user !== 'authenticated' ? `user ${g.data.user}`
    : g.data.claims.sub !== '11111111-2222-4333-8444-555555555555' ? 'sub claim not visible'
    : g.data.headers.apikey !== anonKey ? 'apikey header not in request.headers' : null);
await check('other schema via .schema()', () => anon.schema('conformance_other').rpc('where_am_i'), ok('other'));
await check('PT402 from SQL -> error with 402', () => anon.rpc('fail', { p_code: 'PT402', p_message: 'Payment Required' }),
  err('PT402', 402, (e) => e.message !== 'Payment Required' ? 'message' : e.details !== 'the detail' ? 'details' : e.hint !== 'the hint' ? 'hint' : null));
await check('raise -> 400 P0001', () => anon.rpc('fail', { p_code: 'P0001', p_message: 'nope' }), err('P0001', 400));
await check('bad uuid -> 22P02', () => anon.rpc('echo', { p_id: 'x', p_text: '', p_obj: {}, p_n: 1, p_flag: true, p_arr: [] }), err('22P02', 400));
await check('unknown function -> PGRST202', () => anon.rpc('no_such_function'), err('PGRST202', 404));
await check('unknown argument -> PGRST202', () => anon.rpc('add', { zz: 1 }), err('PGRST202', 404));
await check('not granted, anon -> 401 42501', () => anon.rpc('secret'), err('42501', 401));
await check('not granted, user -> 403 42501', () => user.rpc('secret'), err('42501', 403));
await check('unknown schema -> PGRST106', () => anon.schema('nope').rpc('add', { a: 1 }), err('PGRST106', 406));
await check('tampered token -> 401 PGRST301', () =>
  createClient(url, anonKey, options({ Authorization: `Bearer ${tampered(userToken)}` })).rpc('whoami'), err('PGRST301', 401));
await check('count option is refused plainly -> 501', () => anon.rpc('series', { n: 2 }, { count: 'exact' }), err('STANDIN501', 501));

// A token whose signature no longer matches (payload altered): the stand-in must refuse it.
function tampered(token) {
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  claims.exp = 1;
  return [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
}

if (failed) {
  console.log(`${failed} supabase-js check(s) failed`);
  process.exit(1);
}
console.log('all supabase-js checks passed');
