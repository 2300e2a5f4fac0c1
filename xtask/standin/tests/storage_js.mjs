// storage-js against the stand-in's Storage:
// `node storage_js.mjs <url> <anon key> <alice token> <alice id> <bob token>`.
// Run by tests/storage.rs (storage_js_client). Alice owns `<alice id>/...` in `media` (the
// identity migration's policy) and in the fixtures' `standin-small` (64 bytes, text/* and
// image/png) and `standin-public` buckets; Bob is a stranger to all of it.
// Prints one line per check; exits 1 on failure.
import { StorageClient } from '@supabase/storage-js';

const [url, anonKey, aliceToken, aliceId, bobToken] = process.argv.slice(2);
if (!url || !anonKey || !aliceToken || !aliceId || !bobToken) {
  console.error('usage: node storage_js.mjs <url> <anon key> <alice token> <alice id> <bob token>');
  process.exit(2);
}

const base = `${url}/storage/v1`;
const client = (token) => new StorageClient(base, { apikey: anonKey, Authorization: `Bearer ${token}` });
const alice = client(aliceToken);
const bob = client(bobToken);
const anon = client(anonKey);
const A = aliceId;

let failed = 0;
async function check(name, run, expect) {
  let got;
  try {
    got = await run();
  } catch (e) {
    got = { thrown: String(e) };
  }
  let problem;
  try {
    problem = await expect(got);
  } catch (e) {
    problem = `expectation threw: ${e}`;
  }
  if (problem) {
    failed += 1;
    console.log(`FAIL ${name}: ${problem}\n     got ${JSON.stringify(got)}`);
  } else {
    console.log(`ok   ${name}`);
  }
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const ok = (more = () => null) => (g) => (g.thrown ? `threw ${g.thrown}` : g.error ? `error ${JSON.stringify(g.error)}` : more(g.data));
// Supabase answers HTTP 400 and puts the real status in the body's statusCode.
const err = (statusCode, message, status = 400) => (g) =>
  g.thrown ? `threw ${g.thrown}`
    : !g.error ? 'expected an error'
    : g.error.statusCode !== statusCode ? `statusCode ${g.error.statusCode} != ${statusCode}`
    : g.error.status !== status ? `status ${g.error.status} != ${status}`
    : message && g.error.message !== message ? `message ${JSON.stringify(g.error.message)} != ${JSON.stringify(message)}`
    : null;
const text = async (blob) => (blob ? await blob.text() : null);
const downloads = (expected) => ok(async (blob) => ((await text(blob)) === expected ? null : `content ${await text(blob)} != ${expected}`));
const tokenOf = (signedUrl) => new URL(signedUrl).searchParams.get('token');
const fetchJson = async (u, init) => {
  const r = await fetch(u, init);
  return { status: r.status, body: await r.text() };
};

const media = (c) => c.from('media');
const small = (c) => c.from('standin-small');
const cat = `${A}/cat.png`;

/* Uploads */

await check('upload a Buffer', () => media(alice).upload(cat, Buffer.from('meow'), { contentType: 'image/png' }),
  ok((d) => (d.path !== cat ? 'path' : d.fullPath !== `media/${cat}` ? 'fullPath' : !d.id ? 'id' : null)));
await check('upload a Blob (multipart form)', () => media(alice).upload(`${A}/note.txt`, new Blob(['from a blob'], { type: 'text/plain' })),
  ok((d) => (d.fullPath !== `media/${A}/note.txt` ? 'fullPath' : null)));
await check('download the Blob upload', () => media(alice).download(`${A}/note.txt`), downloads('from a blob'));
await check('duplicate without upsert -> 409 Duplicate', () => media(alice).upload(cat, Buffer.from('again'), { contentType: 'image/png' }),
  err('409', 'The resource already exists'));
await check('download is unchanged after the refused duplicate', () => media(alice).download(cat), downloads('meow'));
await check('upsert replaces', () => media(alice).upload(cat, Buffer.from('meow meow'), { contentType: 'image/png', upsert: true }), ok());
await check('download after upsert', () => media(alice).download(cat), downloads('meow meow'));
await check('update replaces', () => media(alice).update(cat, Buffer.from('purr'), { contentType: 'image/png' }), ok());
await check('download after update', () => media(alice).download(cat), downloads('purr'));

/* Reading */

await check('info', () => media(alice).info(cat),
  ok((d) => (d.name !== cat ? 'name' : d.bucketId !== 'media' ? 'bucketId' : d.size !== 4 ? 'size'
    : d.contentType !== 'image/png' ? 'contentType' : !/^"[0-9a-f]{32}"$/.test(d.etag) ? `etag ${d.etag}` : !d.lastModified ? 'lastModified' : null)));
await check('exists', () => media(alice).exists(cat), ok((d) => (d === true ? null : 'not true')));
await check('exists: missing', () => media(alice).exists(`${A}/missing.png`), (g) => (g.data === false ? null : 'not false'));
await check('list a folder', () => media(alice).list(A),
  ok((d) => (!same(d.map((o) => o.name), ['cat.png', 'note.txt']) ? 'names'
    : d[0].metadata.size !== 4 || d[0].metadata.mimetype !== 'image/png' ? 'metadata' : !d[0].id ? 'id' : null)));
await check('list: search, limit and sort', () => media(alice).list(A, { search: 'no', limit: 5, sortBy: { column: 'created_at', order: 'desc' } }),
  ok((d) => (same(d.map((o) => o.name), ['note.txt']) ? null : 'names')));
await check('list the root: the folder', () => media(alice).list('', { search: A }),
  ok((d) => (same(d, [{ name: A, id: null, updated_at: null, created_at: null, last_accessed_at: null, metadata: null }]) ? null : 'folder row')));

/* Signed download URLs */

await check('createSignedUrl downloads', async () => {
  const { data, error } = await media(alice).createSignedUrl(cat, 60);
  if (error) return { error };
  const r = await fetch(data.signedUrl);
  return { data: { status: r.status, body: await r.text(), expires: r.headers.get('expires') } };
}, ok((d) => (d.status !== 200 ? `status ${d.status}` : d.body !== 'purr' ? 'body' : !d.expires ? 'no Expires' : null)));
await check('createSignedUrls: one per path, in order', () => media(alice).createSignedUrls([cat, `${A}/missing.png`], 60),
  ok((d) => (d.length !== 2 ? 'length' : !d[0].signedUrl || d[0].error ? 'first'
    : d[1].signedUrl !== null || d[1].error !== 'Either the object does not exist or you do not have access to it' ? 'second' : null)));
await check('a guessed signed URL is refused', () => fetchJson(`${base}/object/sign/media/${cat}?token=guess`),
  (g) => (g.status === 400 && JSON.parse(g.body).code === 'InvalidJWT' ? null : `${g.status} ${g.body}`));
await check('a tampered signed URL is refused', async () => {
  const { data } = await media(alice).createSignedUrl(cat, 60);
  const [h, p, s] = tokenOf(data.signedUrl).split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  claims.exp += 3600;
  return fetchJson(`${base}/object/sign/media/${cat}?token=${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`);
}, (g) => (g.status === 400 && JSON.parse(g.body).message === 'signature verification failed' ? null : `${g.status} ${g.body}`));
await check('a signed URL for another path is refused', async () => {
  const { data } = await media(alice).createSignedUrl(cat, 60);
  return fetchJson(`${base}/object/sign/media/${A}/note.txt?token=${tokenOf(data.signedUrl)}`);
}, (g) => (g.status === 400 && JSON.parse(g.body).code === 'InvalidSignature' ? null : `${g.status} ${g.body}`));
await check('an expired signed URL is refused', async () => {
  const { data } = await media(alice).createSignedUrl(cat, 1);
  await new Promise((r) => setTimeout(r, 2100));
  return fetchJson(data.signedUrl);
}, (g) => (g.status === 400 && JSON.parse(g.body).message === '"exp" claim timestamp check failed' ? null : `${g.status} ${g.body}`));

/* Signed upload URLs */

const signedPath = `${A}/signed.png`;
const signed = await media(alice).createSignedUploadUrl(signedPath);
await check('createSignedUploadUrl', async () => signed,
  ok((d) => (d.path !== signedPath ? 'path' : !d.token ? 'token' : !d.signedUrl.startsWith(`${base}/object/upload/sign/media/${signedPath}?token=`) ? 'signedUrl' : null)));
await check('uploadToSignedUrl', () => media(anon).uploadToSignedUrl(signedPath, signed.data.token, Buffer.from('signed bytes'), { contentType: 'image/png' }),
  ok((d) => (d.path !== signedPath ? 'path' : d.fullPath !== `media/${signedPath}` ? 'fullPath' : null)));
await check('the signed upload belongs to alice', () => media(alice).download(signedPath), downloads('signed bytes'));
await check('the token again (no upsert) -> 409', () => media(anon).uploadToSignedUrl(signedPath, signed.data.token, Buffer.from('x'), { contentType: 'image/png' }),
  err('409', 'The resource already exists'));
await check('an upload token for another path is refused', () => media(anon).uploadToSignedUrl(`${A}/elsewhere.png`, signed.data.token, Buffer.from('x'), { contentType: 'image/png' }),
  err('400', 'Invalid signature'));
await check('a download token cannot upload', async () => {
  const { data } = await media(alice).createSignedUrl(cat, 60);
  return media(anon).uploadToSignedUrl(cat, tokenOf(data.signedUrl), Buffer.from('x'), { contentType: 'image/png', upsert: true });
}, err('400', 'Token is not scoped for upload'));
await check('upsert upload URL replaces', async () => {
  const { data } = await media(alice).createSignedUploadUrl(signedPath, { upsert: true });
  return media(anon).uploadToSignedUrl(signedPath, data.token, Buffer.from('replaced'), { contentType: 'image/png' });
}, ok());
await check('download after the signed upsert', () => media(alice).download(signedPath), downloads('replaced'));

/* Bucket limits */

await check('too large -> 413', () => small(alice).upload(`${A}/big.txt`, Buffer.alloc(65, 'x'), { contentType: 'text/plain' }),
  err('413', 'The object exceeded the maximum allowed size'));
await check('too large as a form -> 413', () => small(alice).upload(`${A}/big.txt`, new Blob([Buffer.alloc(65, 'x')], { type: 'text/plain' })),
  err('413', 'The object exceeded the maximum allowed size'));
await check('at the limit is fine', () => small(alice).upload(`${A}/limit.txt`, Buffer.alloc(64, 'x'), { contentType: 'text/plain' }), ok());
await check('wrong MIME -> 415', () => small(alice).upload(`${A}/v.mp4`, Buffer.from('x'), { contentType: 'video/mp4' }),
  err('415', 'mime type video/mp4 is not supported'));
await check('a signed upload obeys the limits too', async () => {
  const { data } = await small(alice).createSignedUploadUrl(`${A}/signed-big.txt`);
  return small(anon).uploadToSignedUrl(`${A}/signed-big.txt`, data.token, Buffer.alloc(65, 'x'), { contentType: 'text/plain' });
}, err('413'));
await check('nothing of the refused uploads is listed', () => small(alice).list(A),
  ok((d) => (same(d.map((o) => o.name), ['limit.txt']) ? null : `names ${d.map((o) => o.name)}`)));

/* Another user's path */

await check('stranger upload -> 403', () => media(bob).upload(`${A}/evil.png`, Buffer.from('x'), { contentType: 'image/png' }),
  err('403', 'new row violates row-level security policy'));
await check('stranger upsert over the owner -> 403', () => media(bob).upload(cat, Buffer.from('x'), { contentType: 'image/png', upsert: true }),
  err('403', 'new row violates row-level security policy'));
await check('stranger download -> 404', () => media(bob).download(cat), err('404', 'Object not found'));
await check('stranger info -> 404', () => media(bob).info(cat), err('404', 'Object not found'));
await check('stranger list -> nothing', () => media(bob).list(A), ok((d) => (same(d, []) ? null : 'not empty')));
await check('stranger createSignedUrl -> 404', () => media(bob).createSignedUrl(cat, 60), err('404', 'Object not found'));
await check('stranger createSignedUploadUrl -> 403', () => media(bob).createSignedUploadUrl(`${A}/evil.png`), err('403'));
await check('stranger remove -> nothing removed', () => media(bob).remove([cat]), ok((d) => (same(d, []) ? null : 'removed something')));
await check('anonymous upload -> 403', () => media(anon).upload(`${A}/anon.png`, Buffer.from('x'), { contentType: 'image/png' }), err('403'));
await check('the owner still has it', () => media(alice).download(cat), downloads('purr'));

/* Public bucket */

await check('public URL of a public bucket', async () => {
  await alice.from('standin-public').upload(`${A}/pub.txt`, Buffer.from('hello public'), { contentType: 'text/plain', upsert: true });
  return fetchJson(anon.from('standin-public').getPublicUrl(`${A}/pub.txt`).data.publicUrl);
}, (g) => (g.status === 200 && g.body === 'hello public' ? null : `${g.status} ${g.body}`));
await check('public URL of a private bucket -> Bucket not found', () => fetchJson(anon.from('media').getPublicUrl(cat).data.publicUrl),
  (g) => (g.status === 400 && JSON.parse(g.body).code === 'NoSuchBucket' ? null : `${g.status} ${g.body}`));

/* Remove */

await check('remove', () => media(alice).remove([cat, `${A}/note.txt`, signedPath]),
  ok((d) => (same(d.map((o) => o.name).sort(), [cat, `${A}/note.txt`, signedPath].sort()) ? null : 'names')));
await check('removed is gone', () => media(alice).download(cat), err('404', 'Object not found'));
await check('remove the rest', async () => {
  const a = await small(alice).remove([`${A}/limit.txt`]);
  const b = await alice.from('standin-public').remove([`${A}/pub.txt`]);
  return { data: [...(a.data ?? []), ...(b.data ?? [])], error: a.error ?? b.error };
}, ok((d) => (d.length === 2 ? null : 'not both')));

if (failed) {
  console.log(`${failed} storage-js check(s) failed`);
  process.exit(1);
}
console.log('all storage-js checks passed');
