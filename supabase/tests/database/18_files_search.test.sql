-- Files, embeddings and search: registering an upload as a file (and every refusal), the
-- ingest task's life (claim, batches of chunks held and settled at list price exactly once,
-- released on failure, re-sent chunks replacing, PT402 writing nothing, completion checking
-- every chunk, a final failure leaving no chunk), message embeddings queued by a finished
-- reply, search in every mode and scope, the HNSW index under a per-user filter, deletion,
-- and strangers refused by every path; the books balance at the end.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(141);

insert into auth.users (id, email) values
  ('18000000-0000-4000-8000-00000000a11c', 'alice.files@example.test'),
  ('18000000-0000-4000-8000-000000000b0b', 'bob.files@example.test'),
  ('18000000-0000-4000-8000-000000000c0c', 'carol.files@example.test');
select private.change_credits('18000000-0000-4000-8000-00000000a11c', 'grant', 100000, 'test:grant', null, 'test');
select private.change_credits('18000000-0000-4000-8000-000000000b0b', 'grant', 100000, 'test:grant', null, 'test');

/** Reference data */

select is(
  (select jsonb_build_array(m.kind, m.provider, m.protocol, m.provider_ref, p.action, p.unit, p.credits_per_unit, p.usd_per_unit)
   from public.ai_models m join public.pricing p on p.model = m.model where m.model = 'text-embedding-3-small'),
  '["embedding", "openai", "openai_embeddings", "text-embedding-3-small", "embedding", "1k_tokens", 0.03, 0.00002]'::jsonb,
  'the embedding model is seeded with its protocol and its price per 1k input tokens');
select throws_ok(
  $$ insert into public.ai_models (model, kind, provider, protocol, provider_ref) values ('x-emb', 'image', 'openai', 'openai_embeddings', 'x') $$,
  '23514', null, 'the embeddings protocol makes embeddings only');
select is(
  (select jsonb_object_agg(mime_type, jsonb_build_array(max_bytes, chunk_tokens, overlap_tokens)) from public.file_type_configs where is_active),
  '{"text/plain": [20971520, 400, 50], "text/markdown": [20971520, 400, 50], "text/html": [20971520, 400, 50],
    "text/csv": [20971520, 400, 50], "application/json": [20971520, 400, 50], "application/pdf": [52428800, 400, 50],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [20971520, 400, 50]}'::jsonb,
  'seven file types: 20 MiB each, PDFs 50 MiB; 400-token chunks overlapping by 50');

-- 1 credit per token from here on, so that every charge reads as a token count.
update public.pricing set credits_per_unit = 1000 where model = 'text-embedding-3-small';

-- A chat model for the replies whose messages get embedded.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens)
values ('chat-files-test', 'chat', 'openai', 'openai_chat', 'files-1', 4000, 20);
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit,
  credits_per_output_unit, usd_per_output_unit, active_from)
values ('chat', 'chat-files-test', '1k_tokens', 1000, 0.001, 1000, 0.001, now() - interval '1 minute');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.key() returns text language sql as $$ select v ->> 'worker_key' from got where name = 'worker' $$;
create function pg_temp.account(p_user uuid) returns jsonb language sql as $$
  select jsonb_build_object('balance', balance, 'held', held) from public.credit_accounts where owner_user_id = p_user
$$;
-- A unit vector along one axis, or leaning p_weight towards p_axis and the rest towards p_other.
create function pg_temp.vec(p_axis int, p_weight real default 1, p_other int default null) returns real[]
language plpgsql as $$
declare
  v real[] := array_fill(0::real, array[1536]);
begin
  v[p_axis] := p_weight;
  if p_other is not null then
    v[p_other] := sqrt(1 - p_weight * p_weight);
  end if;
  return v;
end
$$;
create function pg_temp.q(p_axis int, p_weight real default 1, p_other int default null) returns extensions.vector
language sql as $$ select pg_temp.vec(p_axis, p_weight, p_other)::extensions.vector $$;
-- Vectors for finish_embeddings, one per axis.
create function pg_temp.vecs(variadic p_axes int[]) returns jsonb language sql as $$
  select jsonb_agg(to_jsonb(pg_temp.vec(a)) order by n) from unnest(p_axes) with ordinality x (a, n)
$$;
-- A 40-character chunk text: 10 tokens by the estimate.
create function pg_temp.text(p_words text) returns text language sql as $$ select rpad(p_words, 40, '.') $$;
create function pg_temp.chunk(p_index int, p_words text) returns jsonb language sql as $$
  select jsonb_build_object('index', p_index, 'content', pg_temp.text(p_words), 'page', p_index + 1, 'heading', 'Animals')
$$;
-- The calling worker claims its next task of a type; id(p_name) is the task.
create function pg_temp.claim(p_name text, p_type text) returns jsonb language plpgsql as $$
declare
  r jsonb := api.worker_claim(pg_temp.key(), array[p_type], 1, 60) -> 0;
begin
  insert into ids values (p_name, (r ->> 'id')::uuid);
  return r;
end
$$;
-- begin_embeddings, its answer kept as got(p_name) and its batch as id(p_name).
create function pg_temp.begin(p_name text, p_task text, p_chunks jsonb default null) returns jsonb language plpgsql as $$
declare
  r jsonb := api.begin_embeddings(pg_temp.key(), pg_temp.id(p_task), p_chunks);
begin
  insert into got values (p_name, r);
  insert into ids values (p_name, (r ->> 'batch_id')::uuid);
  return r;
end
$$;
create function pg_temp.chunks(p_file text) returns jsonb language sql as $$
  select coalesce(jsonb_agg(jsonb_build_array(chunk_index, rtrim(content, '.'), embedding is not null) order by chunk_index), '[]')
  from public.document_chunks where file_id = pg_temp.id(p_file)
$$;
create function pg_temp.file(p_file text) returns jsonb language sql as $$
  select jsonb_build_array(status, error, chunk_count, extracted_chars, tokens, credits) from public.files where id = pg_temp.id(p_file)
$$;
create function pg_temp.batch(p_batch text) returns jsonb language sql as $$
  select jsonb_build_array(b.status, b.embedded, b.tokens, b.credits, h.status, h.charged)
  from public.embedding_batches b left join public.credit_holds h on h.id = b.hold_id where b.id = pg_temp.id(p_batch)
$$;
-- The ids of a search's items, in order.
create function pg_temp.hits(p_search jsonb) returns uuid[] language sql as $$
  select coalesce(array_agg((i ->> 'id')::uuid order by n), '{}') from jsonb_array_elements(p_search -> 'items') with ordinality x (i, n)
$$;
grant execute on all functions in schema pg_temp to public;

set local role service_role;
insert into got select 'worker', api.register_worker('ingest', array['ingest.file', 'embed.messages']);
insert into got select 'other_worker', api.register_worker('other ingest', array['ingest.file']);
reset role;

/** Registering files */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids select name, (api.create_upload(purpose, content_type, bytes, filename) ->> 'upload_id')::uuid
from (values
  ('up_notes', 'document', 'text/markdown', 400, 'notes.md'),
  ('up_broken', 'document', 'application/pdf', 900, 'broken.pdf'),
  ('up_retry', 'document', 'text/plain', 300, 'retry.txt'),
  ('up_pending', 'document', 'text/plain', 300, 'pending.txt'),
  ('up_image', 'reference_image', 'image/png', 300, 'cat.png'),
  ('up_exe', 'document', 'text/plain', 300, 'setup.txt'),
  ('up_huge', 'document', 'text/plain', 31457280, 'huge.txt'),
  ('up_empty', 'document', 'text/plain', 1, 'empty.txt')
) u (name, purpose, content_type, bytes, filename);
reset role;
-- Storage records what arrived: the types and sizes it saw, not what was declared.
insert into storage.objects (bucket_id, name, owner, metadata)
select u.bucket, u.path, u.user_id, jsonb_build_object('size', o.size, 'mimetype', o.mimetype)
from (values ('up_notes', 400, 'text/markdown; charset=utf-8'), ('up_broken', 900, 'application/pdf'),
             ('up_retry', 300, 'text/plain'), ('up_image', 300, 'image/png'),
             ('up_exe', 300, 'application/x-msdownload'), ('up_huge', 31457280, 'text/plain'),
             ('up_empty', 0, 'text/plain')) o (name, size, mimetype)
join public.uploads u on u.id = pg_temp.id(o.name);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into got select 'f_notes', api.create_file(pg_temp.id('up_notes'), 'My notes.md');
insert into ids select 'f_notes', (pg_temp.got('f_notes') ->> 'id')::uuid;
select is(pg_temp.got('f_notes') - 'id' - 'created_at' - 'updated_at',
  '{"name": "My notes.md", "mime_type": "text/markdown", "size_bytes": 400, "status": "pending", "error": null,
    "chunk_count": 0, "extracted_chars": null, "tokens": 0, "credits": 0, "completed_at": null}'::jsonb,
  'a file is registered pending, with the type and size Storage recorded');
reset role;
select is(
  (select jsonb_build_array(t.task_type, t.status, t.max_attempts, t.params) from public.tasks t
   join public.files f on f.task_id = t.id where f.id = pg_temp.id('f_notes')),
  jsonb_build_array('ingest.file', 'queued', 3, jsonb_build_object(
    'file_id', pg_temp.id('f_notes'), 'user_id', '18000000-0000-4000-8000-00000000a11c', 'mime_type', 'text/markdown',
    'chunk_tokens', 400, 'overlap_tokens', 50,
    'input', jsonb_build_object('file', jsonb_build_object('$storage', jsonb_build_object(
      'bucket', 'documents', 'path', (select path from public.uploads where id = pg_temp.id('up_notes'))))))),
  'its ingest task is queued with the file, its type, the chunking rules and a storage marker of the object');
set local role authenticated;

select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_notes')), 'PT409', 'this upload is already a file',
  'one file per upload');
select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_pending')), 'PT409',
  'the upload has no file yet (PUT the file to its upload url first)', 'an upload whose object has not arrived');
select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_image')), 'PT415',
  'files of type image/png cannot be searched (accepted: application/json, application/pdf, application/vnd.openxmlformats-officedocument.wordprocessingml.document, text/csv, text/html, text/markdown, text/plain)',
  'a type file_type_configs does not list');
select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_exe')), 'PT415', null,
  'the type Storage recorded decides, not the one declared');
select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_huge')), 'PT413',
  'a Plain text file may be at most 20971520 bytes; this one is 31457280', 'a file over its type''s max_bytes');
select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_empty')), 'PT400', 'the file is empty', 'an empty file');
select throws_ok(format('select api.create_file(%L, %L)', pg_temp.id('up_retry'), E'\n'), 'PT400',
  'name must be 1 to 255 characters', 'a name with nothing left to show');
select throws_ok(format('select api.create_file(%L)', gen_random_uuid()), 'PT404', 'upload not found', 'an unknown upload');

insert into ids select 'f_broken', (api.create_file(pg_temp.id('up_broken')) ->> 'id')::uuid;
insert into ids select 'f_retry', (api.create_file(pg_temp.id('up_retry')) ->> 'id')::uuid;
select is((select count(*)::int from public.files), 3, 'refused registrations write nothing');
select is(api.get_file(pg_temp.id('f_broken')) ->> 'name', 'broken.pdf', 'without a name, the upload''s filename');

reset role;
-- One transaction has one now(): the queue takes these in the order they were registered.
update public.tasks t set run_at = t.run_at - make_interval(secs => x.n)
from (values ('f_notes', 3), ('f_broken', 2), ('f_retry', 1)) x (name, n)
join public.files f on f.id = pg_temp.id(x.name)
where t.id = f.task_id;
set local role authenticated;

select is(jsonb_array_length(api.list_files() -> 'items'), 3, 'the caller lists their files');
insert into got select 'page1', api.list_files(p_limit => 2);
select is(pg_temp.got('page1') -> 'next_cursor' -> 'id', pg_temp.got('page1') -> 'items' -> 1 -> 'id',
  'a full page has a cursor at its last item');
select is(
  api.list_files(p_limit => 2, p_cursor_created_at => (pg_temp.got('page1') -> 'next_cursor' ->> 'created_at')::timestamptz,
    p_cursor_id => (pg_temp.got('page1') -> 'next_cursor' ->> 'id')::uuid) -> 'next_cursor',
  'null'::jsonb, 'the last page has none');
select is(jsonb_array_length(api.list_files('pending') -> 'items'), 3, 'by status');
select throws_ok($$ select api.list_files('done') $$, 'PT400', 'status must be pending, processing, completed or failed',
  'an unknown status');

/** Strangers */

select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is((select count(*)::int from public.files), 0, 'a stranger sees no file of another user');
select is(api.list_files() -> 'items', '[]'::jsonb, 'nor lists one');
select throws_ok(format('select api.get_file(%L)', pg_temp.id('f_notes')), 'PT404', 'file not found', 'nor reads one');
select throws_ok(format('select api.delete_file(%L)', pg_temp.id('f_notes')), 'PT404', 'file not found', 'nor deletes one');
select throws_ok(format('select api.create_file(%L)', pg_temp.id('up_retry')), 'PT404', 'upload not found',
  'nor registers another user''s upload');
select throws_ok(format('select api.begin_embeddings(%L, %L)', pg_temp.key(), gen_random_uuid()), '42501', null,
  'users cannot begin a worker''s batch');
select throws_ok(format('select api.finish_embeddings(%L, null)', gen_random_uuid()), '42501', null,
  'nor finish any batch');
reset role;

/** Ingesting: claim, batches, completion */

set local role service_role;
select pg_temp.claim('t_notes', 'ingest.file');
select is(pg_temp.id('t_notes'), (select task_id from public.files where id = pg_temp.id('f_notes')), 'the worker claims the oldest file''s task');
select is(pg_temp.file('f_notes') -> 0, '"processing"'::jsonb, 'claiming it makes the file processing');

select is(
  pg_temp.begin('b1', 't_notes', jsonb_build_array(pg_temp.chunk(0, 'Zebras have black and white stripes'),
    pg_temp.chunk(1, 'Penguins live in the cold south'), pg_temp.chunk(2, 'Draft text about owls'),
    pg_temp.chunk(4, 'Stale chunk of an earlier split'))) - 'batch_id',
  jsonb_build_object(
    'request', jsonb_build_object('protocol', 'openai_embeddings', 'provider', 'openai', 'model', 'text-embedding-3-small',
      'dimensions', 1536, 'inputs', jsonb_build_array(pg_temp.text('Zebras have black and white stripes'),
        pg_temp.text('Penguins live in the cold south'), pg_temp.text('Draft text about owls'),
        pg_temp.text('Stale chunk of an earlier split'))),
    'credits_reserved', 40),
  'a batch returns the provider request for its chunks, in order, and holds their 40 estimated tokens');
select is(pg_temp.chunks('f_notes'),
  '[[0, "Zebras have black and white stripes", false], [1, "Penguins live in the cold south", false],
    [2, "Draft text about owls", false], [4, "Stale chunk of an earlier split", false]]'::jsonb,
  'the chunks are stored, not embedded yet');
select is(
  (select jsonb_build_array(page_number, heading, token_count) from public.document_chunks
   where file_id = pg_temp.id('f_notes') and chunk_index = 1),
  '[2, "Animals", 10]'::jsonb, 'with their page, heading and estimated tokens');
select is(pg_temp.account('18000000-0000-4000-8000-00000000a11c'), '{"balance": 100000, "held": 40}'::jsonb, 'held');

select is(api.finish_embeddings(pg_temp.id('b1'), pg_temp.vecs(1, 2, 3, 5), 36),
  '{"embedded": 4, "tokens": 36, "credits_charged": 36}'::jsonb, 'finishing stores the vectors and charges the tokens reported');
select is(pg_temp.batch('b1'), '["complete", 4, 36, 36, "settled", 36]'::jsonb, 'the hold settles at the charge');
select is(
  (select jsonb_build_array(action, provider, model, units, tokens_in, tokens_out, credits, cost_usd)
   from public.usage_events where embedding_batch_id = pg_temp.id('b1')),
  '["embedding", "openai", "text-embedding-3-small", 0.036, 36, null, 36, 0.000001]'::jsonb, 'one usage event');
select is(pg_temp.account('18000000-0000-4000-8000-00000000a11c'), '{"balance": 99964, "held": 0}'::jsonb, 'paid, nothing held');
select is(pg_temp.file('f_notes'), '["processing", null, 0, null, 36, 36]'::jsonb, 'the file counts its tokens and credits');

select is(api.finish_embeddings(pg_temp.id('b1'), pg_temp.vecs(7, 7, 7, 7), 1),
  '{"embedded": 4, "tokens": 36, "credits_charged": 36}'::jsonb, 'a second finish answers as the first');
select is(
  jsonb_build_array(pg_temp.account('18000000-0000-4000-8000-00000000a11c'),
    (select count(*) from public.usage_events where embedding_batch_id = pg_temp.id('b1')),
    (select count(*) from public.document_chunks where file_id = pg_temp.id('f_notes')
       and embedding operator(extensions.<=>) pg_temp.q(7) < 0.5)),
  '[{"balance": 99964, "held": 0}, 1, 0]'::jsonb, 'and changes nothing: no charge, no event, no vector');

-- The chunk at index 2 is sent again (the worker split the text anew) with a new one.
select pg_temp.begin('b2', 't_notes', jsonb_build_array(pg_temp.chunk(2, 'Owls hunt at night in the forest'),
  pg_temp.chunk(3, 'Kangaroos carry young in a pouch')));
select is(pg_temp.chunks('f_notes'),
  '[[0, "Zebras have black and white stripes", true], [1, "Penguins live in the cold south", true],
    [2, "Owls hunt at night in the forest", false], [3, "Kangaroos carry young in a pouch", false],
    [4, "Stale chunk of an earlier split", true]]'::jsonb,
  'a re-sent index replaces its chunk and clears its embedding; nothing is duplicated');
select is(api.finish_embeddings(pg_temp.id('b2'), null), '{"embedded": 0, "tokens": 0, "credits_charged": 0}'::jsonb,
  'a batch whose provider failed is released');
select is(
  jsonb_build_array(pg_temp.batch('b2'), (select count(*) from public.usage_events where embedding_batch_id = pg_temp.id('b2')),
    pg_temp.account('18000000-0000-4000-8000-00000000a11c')),
  '[["failed", 0, 0, 0, "released", 0], 0, {"balance": 99964, "held": 0}]'::jsonb,
  'writing no usage and charging nothing');
select is(api.finish_embeddings(pg_temp.id('b2'), pg_temp.vecs(3, 4)), '{"embedded": 0, "tokens": 0, "credits_charged": 0}'::jsonb,
  'vectors arriving after the release change nothing');

select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 2)', pg_temp.key(), pg_temp.id('t_notes'), '{"chunk_count": 4, "extracted_chars": 160}'),
  'PT400', 'chunks 0 to 3 must all be stored and embedded first: 2 are not', 'a task completes only once every chunk is embedded');
select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 2)', pg_temp.key(), pg_temp.id('t_notes'), '{"chunk_count": 4}'),
  'PT400', 'output must be {"chunk_count": n, "extracted_chars": m} with non-negative integers', 'and says how much it read');

select pg_temp.begin('b3', 't_notes', jsonb_build_array(pg_temp.chunk(2, 'Owls hunt at night in the forest'),
  pg_temp.chunk(3, 'Kangaroos carry young in a pouch')));
-- An older batch of index 3 still open when it is sent again: its late vector must not land.
select pg_temp.begin('b4', 't_notes', jsonb_build_array(pg_temp.chunk(3, 'Kangaroos carry young in a pouch')));
select is(api.finish_embeddings(pg_temp.id('b3'), pg_temp.vecs(3, 9)) -> 'embedded', '1'::jsonb,
  'a vector for a chunk sent again since is not stored');
select is(api.finish_embeddings(pg_temp.id('b4'), pg_temp.vecs(4)), '{"embedded": 1, "tokens": 10, "credits_charged": 10}'::jsonb,
  'without the provider''s count the estimate is charged');

select is(api.begin_embeddings(pg_temp.key(), pg_temp.id('t_notes'),
    jsonb_build_array(pg_temp.chunk(0, 'Zebras have black and white stripes'))),
  '{"batch_id": null, "request": null, "credits_reserved": 0}'::jsonb,
  'a chunk sent again unchanged and already embedded is neither embedded nor charged again');
select pg_temp.begin('b_bad', 't_notes', jsonb_build_array(pg_temp.chunk(5, 'Giraffes have long necks')));
select throws_ok(format('select api.finish_embeddings(%L, %L)', pg_temp.id('b_bad'), '[[1, 2]]'), 'PT400',
  'each embedding must be an array of 1536 numbers', 'a vector of the wrong size is refused');
select throws_ok(format('select api.finish_embeddings(%L, %L)', pg_temp.id('b_bad'), pg_temp.vecs(1, 2)), 'PT400',
  'embeddings must be an array of 1 vectors, one per input', 'as is a count that is not one per input');
select throws_ok(format('select api.finish_embeddings(%L, %L)', pg_temp.id('b_bad'),
    jsonb_build_array(jsonb_set(to_jsonb(pg_temp.vec(1)), '{5}', '"x"'))), 'PT400',
  'each embedding must be an array of 1536 numbers', 'and one that is not all numbers');
select throws_ok(format('select api.finish_embeddings(%L, %L, -1)', pg_temp.id('b_bad'), pg_temp.vecs(1)), 'PT400',
  'tokens must not be negative', 'a negative count');
select is(pg_temp.batch('b_bad') -> 0, '"running"'::jsonb, 'refused vectors leave the batch running');
select is(api.finish_embeddings(pg_temp.id('b_bad'), pg_temp.vecs(1), 10) -> 'embedded', '1'::jsonb, 'until good ones come');
select throws_ok(format('select api.finish_embeddings(%L, null)', gen_random_uuid()), 'PT404', 'embedding batch not found',
  'an unknown batch');

select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'), '[]'), 'PT400',
  'chunks must be an array of 1 to 64 chunks', 'an empty batch');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    (select jsonb_agg(pg_temp.chunk(i, 'x')) from generate_series(0, 64) i)), 'PT400',
  'chunks must be an array of 1 to 64 chunks', 'more than 64 chunks');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    jsonb_build_array(pg_temp.chunk(0, 'a'), pg_temp.chunk(0, 'b'))), 'PT400',
  'each chunk index may be sent once per batch', 'an index twice in one batch');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    '[{"index": 1.5, "content": "x"}]'), 'PT400', 'chunks[0]: index must be an integer from 0 to 99999', 'a fractional index');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    '[{"index": "1", "content": "x"}]'), 'PT400', 'chunks[0]: index must be an integer from 0 to 99999', 'an index as text');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    jsonb_build_array(jsonb_build_object('index', 0, 'content', repeat('x', 8001)))), 'PT400',
  'chunks[0]: content must be 1 to 8000 characters of text', 'content over 8000 characters');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    '[{"index": 0, "content": "x", "page": 0}]'), 'PT400', 'chunks[0]: page must be a positive integer or null', 'page 0');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_notes'),
    '[{"index": 0, "content": "x", "vector": []}]'), 'PT400', 'chunks[0]: only index, content, page and heading are allowed',
  'an unknown key');
select throws_ok(format('select api.begin_embeddings(%L, %L)', pg_temp.key(), pg_temp.id('t_notes')), 'PT400',
  'chunks are required for a file', 'a file''s batch without chunks');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', (select v ->> 'worker_key' from got where name = 'other_worker'),
    pg_temp.id('t_notes'), jsonb_build_array(pg_temp.chunk(0, 'x'))), 'PT409', 'lease lost',
  'only the worker holding the lease begins a batch');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', 'gw_nope', pg_temp.id('t_notes'),
    jsonb_build_array(pg_temp.chunk(0, 'x'))), 'PT403', 'invalid worker key', 'an unknown key');

select is(
  api.worker_complete(pg_temp.key(), pg_temp.id('t_notes'), '{"chunk_count": 4, "extracted_chars": 160}', 2) ->> 'status',
  'succeeded', 'with every chunk embedded the task completes');
select is(pg_temp.file('f_notes'), '["completed", null, 4, 160, 76, 76]'::jsonb,
  'the file is completed with its chunks, characters, tokens and credits');
select is(pg_temp.chunks('f_notes'),
  '[[0, "Zebras have black and white stripes", true], [1, "Penguins live in the cold south", true],
    [2, "Owls hunt at night in the forest", true], [3, "Kangaroos carry young in a pouch", true]]'::jsonb,
  'the chunk an earlier split left beyond the count is deleted');
select is((select count(*)::int from public.embedding_batches where task_id = pg_temp.id('t_notes') and status = 'running'), 0,
  'no batch stays open');

/** Failures */

select pg_temp.claim('t_broken', 'ingest.file');
select pg_temp.begin('b_broken1', 't_broken', jsonb_build_array(pg_temp.chunk(0, 'Page one')));
select api.finish_embeddings(pg_temp.id('b_broken1'), pg_temp.vecs(1));
select pg_temp.begin('b_broken2', 't_broken', jsonb_build_array(pg_temp.chunk(1, 'Page two')));
select is(api.worker_fail(pg_temp.key(), pg_temp.id('t_broken'), 'page 3 of the PDF cannot be read', false) ->> 'status',
  'failed', 'a failure the worker says is final ends the task');
select is(pg_temp.file('f_broken'), '["failed", "page 3 of the PDF cannot be read", 0, null, 10, 10]'::jsonb,
  'the file fails with the worker''s reason and keeps what it cost');
select is(pg_temp.chunks('f_broken'), '[]'::jsonb, 'no partial chunk is left');
select is(pg_temp.batch('b_broken2'), '["failed", 0, 0, 0, "released", 0]'::jsonb, 'the open batch is released');

select pg_temp.claim('t_retry', 'ingest.file');
select pg_temp.begin('b_retry', 't_retry', jsonb_build_array(pg_temp.chunk(0, 'Retry me')));
select is(api.worker_fail(pg_temp.key(), pg_temp.id('t_retry'), 'the embeddings provider timed out') ->> 'status',
  'queued', 'a retryable failure requeues the task');
select is(jsonb_build_array(pg_temp.file('f_retry') -> 0, pg_temp.batch('b_retry')),
  '["processing", ["failed", 0, 0, 0, "released", 0]]'::jsonb, 'the file waits for its retry; the open batch is released');
reset role;
update public.tasks set attempts = max_attempts - 1, run_at = now() where id = pg_temp.id('t_retry');
set local role service_role;
select pg_temp.claim('t_retry2', 'ingest.file');
select is(api.worker_fail(pg_temp.key(), pg_temp.id('t_retry'), repeat('timed out ', 100)) ->> 'status', 'dead',
  'the last attempt''s failure is final');
select is(pg_temp.file('f_retry') -> 1, to_jsonb(left(repeat('timed out ', 100), 500)),
  'the file is failed with the reason, cut to 500 characters');
reset role;

/** Short credits */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-000000000c0c", "role": "authenticated"}', true);
insert into ids select 'up_carol', (api.create_upload('document', 'text/plain', 10, 'c.txt') ->> 'upload_id')::uuid;
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
select bucket, path, user_id, '{"size": 10, "mimetype": "text/plain"}' from public.uploads where id = pg_temp.id('up_carol');
set local role authenticated;
insert into ids select 'f_carol', (api.create_file(pg_temp.id('up_carol')) ->> 'id')::uuid;
set local role service_role;
select pg_temp.claim('t_carol', 'ingest.file');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_carol'),
    jsonb_build_array(pg_temp.chunk(0, 'Hello'))), 'PT402', 'not enough credits: 10 needed, 0 available',
  'a batch the owner cannot pay for is refused');
select is(
  jsonb_build_array(pg_temp.chunks('f_carol'),
    (select count(*) from public.embedding_batches where task_id = pg_temp.id('t_carol')),
    (select count(*) from public.credit_holds h join public.credit_accounts a on a.id = h.account_id
     where a.owner_user_id = '18000000-0000-4000-8000-000000000c0c')),
  '[[], 0, 0]'::jsonb, 'and writes nothing: no chunk, no batch, no hold');
reset role;
update public.tasks set attempts = max_attempts, lease_expires_at = now() - interval '1 second'
where id = pg_temp.id('t_carol');
set local role service_role;
select is(api.sweep_expired_leases(), 1, 'the lease sweep ends the task of a worker gone silent on its last attempt');
select is(jsonb_build_array((select status from public.tasks where id = pg_temp.id('t_carol')), pg_temp.file('f_carol') -> 1),
  '["dead", "processing was interrupted too many times; upload the file again to retry"]'::jsonb,
  'its file fails with a reason the user can read');
reset role;

/** Messages */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids select 'c_zebra', (api.create_conversation(p_model => 'chat-files-test') ->> 'id')::uuid;
insert into got select 'reply', api.begin_reply(pg_temp.id('c_zebra'), 'How do zebras sleep at night?');
insert into ids values ('m_question', (pg_temp.got('reply') -> 'user_message' ->> 'id')::uuid),
  ('m_answer', (pg_temp.got('reply') -> 'assistant_message' ->> 'id')::uuid);
set local role service_role;
select is((select count(*)::int from public.tasks where task_type = 'embed.messages'), 0, 'a streaming reply is not embedded');
select api.finish_reply(pg_temp.id('m_answer'), 'Zebras sleep standing up in their herds.', 'complete');
select is(
  (select jsonb_build_array(status, max_attempts, params) from public.tasks where task_type = 'embed.messages'),
  jsonb_build_array('queued', 3, jsonb_build_object('user_id', '18000000-0000-4000-8000-00000000a11c',
    'message_ids', jsonb_build_array(pg_temp.id('m_question'), pg_temp.id('m_answer')))),
  'a reply finishing complete queues the embedding of the question and the answer');
reset role;
set local role authenticated;
insert into got select 'failed_reply', api.begin_reply(pg_temp.id('c_zebra'), 'And giraffes?');
set local role service_role;
select api.finish_reply((pg_temp.got('failed_reply') -> 'assistant_message' ->> 'id')::uuid, null, 'failed');
select is((select count(*)::int from public.tasks where task_type = 'embed.messages'), 1, 'a failed reply is not embedded');

select pg_temp.claim('t_messages', 'embed.messages');
select throws_ok(format('select api.worker_complete(%L, %L, %L, 1)', pg_temp.key(), pg_temp.id('t_messages'), '{}'), 'PT400',
  '2 of the task''s messages are not embedded yet', 'a message task completes only once they are embedded');
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_messages'),
    jsonb_build_array(pg_temp.chunk(0, 'x'))), 'PT400', 'a message task takes no chunks', 'a message task takes no chunks');
select is(pg_temp.begin('b_messages', 't_messages') -> 'request' -> 'inputs',
  '["How do zebras sleep at night?", "Zebras sleep standing up in their herds."]'::jsonb,
  'its batch embeds the messages'' text');
select is(api.finish_embeddings(pg_temp.id('b_messages'), pg_temp.vecs(10, 11), 20),
  '{"embedded": 2, "tokens": 20, "credits_charged": 0}'::jsonb,
  'history embeddings are recorded, not charged, by default (chat_config history_embeddings_free)');
select is(api.worker_complete(pg_temp.key(), pg_temp.id('t_messages'), '{}', 1) ->> 'status', 'succeeded',
  'then the task completes');
select is(
  (select array_agg(embedding operator(extensions.<=>) pg_temp.q(10) order by seq) from public.messages
   where id in (pg_temp.id('m_question'), pg_temp.id('m_answer'))),
  array[0, 1]::float8[], 'each message has its vector');
reset role;

/** A stranger's rows, for the searches below */

-- Bob holds the same texts and vectors: a leak would tie with Alice's own rows.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
insert into ids select 'up_bob', (api.create_upload('document', 'text/plain', 40, 'bob.txt') ->> 'upload_id')::uuid;
insert into ids select 'c_bob', (api.create_conversation(p_model => 'chat-files-test') ->> 'id')::uuid;
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
select bucket, path, user_id, '{"size": 40, "mimetype": "text/plain"}' from public.uploads where id = pg_temp.id('up_bob');
insert into public.files (id, user_id, upload_id, name, mime_type, size_bytes, status, chunk_count, completed_at)
values ('18000000-0000-4000-8000-0000000bf11e', '18000000-0000-4000-8000-000000000b0b', pg_temp.id('up_bob'), 'bob.txt',
  'text/plain', 40, 'completed', 1, now());
insert into public.document_chunks (file_id, user_id, chunk_index, content, token_count, embedding)
values ('18000000-0000-4000-8000-0000000bf11e', '18000000-0000-4000-8000-000000000b0b', 0,
  pg_temp.text('Zebras have black and white stripes'), 10, pg_temp.q(1));
insert into public.messages (conversation_id, user_id, role, content, embedding)
values (pg_temp.id('c_bob'), '18000000-0000-4000-8000-000000000b0b', 'user', 'Zebras and owls at night', pg_temp.q(10));
insert into ids select 'bob_chunk', id from public.document_chunks where user_id = '18000000-0000-4000-8000-000000000b0b';
insert into ids select 'bob_message', id from public.messages where user_id = '18000000-0000-4000-8000-000000000b0b';

/** Search */

create temp view alice_chunks as
  select chunk_index, id from public.document_chunks where file_id = pg_temp.id('f_notes');
grant select on alice_chunks to public;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into got select 's_sem_files', api.search(pg_temp.q(1, 0.9, 2), null, 'files', 'semantic');
select is((pg_temp.hits(pg_temp.got('s_sem_files')))[1:2],
  array[(select id from alice_chunks where chunk_index = 0), (select id from alice_chunks where chunk_index = 1)],
  'semantic: the nearest chunk first, then the next');
select is(
  (pg_temp.got('s_sem_files') -> 'items' -> 0) - 'id' - 'created_at' - 'score' - 'file_id',
  jsonb_build_object('kind', 'chunk', 'content', pg_temp.text('Zebras have black and white stripes'),
    'conversation_id', null, 'message_id', null, 'role', null, 'file_name', 'My notes.md', 'page', 1,
    'heading', 'Animals', 'chunk_index', 0),
  'a chunk hit names its file, page, heading and index');
select ok(abs((pg_temp.got('s_sem_files') -> 'items' -> 0 ->> 'score')::float - 0.9) < 1e-4, 'its score is the cosine similarity');
select is(jsonb_array_length(pg_temp.got('s_sem_files') -> 'items'), 4,
  'only the completed file''s chunks: not the failed ones, not the stranger''s');
select is(
  (select array_agg(id order by distance, id) from private.nearest_chunks_indexed(
     '18000000-0000-4000-8000-00000000a11c', pg_temp.q(1, 0.9, 2), null, 10)),
  pg_temp.hits(pg_temp.got('s_sem_files')),
  'the index path for callers with many chunks finds the same chunks in the same order');
select is(
  (select count(*)::int from private.nearest_chunks_indexed('18000000-0000-4000-8000-000000000b0b', pg_temp.q(1), null, 10)),
  0, 'and, under RLS, none of another user''s');

select is((pg_temp.hits(api.search(pg_temp.q(10, 0.95, 11), null, 'messages', 'semantic')))[1:2],
  array[pg_temp.id('m_question'), pg_temp.id('m_answer')], 'semantic over messages');
select is(
  (api.search(pg_temp.q(11), null, 'both', 'semantic', p_limit => 1) -> 'items' -> 0) - 'created_at',
  jsonb_build_object('kind', 'message', 'id', pg_temp.id('m_answer'), 'score', 1, 'content', 'Zebras sleep standing up in their herds.',
    'conversation_id', pg_temp.id('c_zebra'), 'message_id', pg_temp.id('m_answer'), 'role', 'assistant',
    'file_id', null, 'file_name', null, 'page', null, 'heading', null, 'chunk_index', null),
  'a message hit names its conversation and role');

select is(pg_temp.hits(api.search(null, 'penguins cold', 'both', 'fulltext')),
  array[(select id from alice_chunks where chunk_index = 1)], 'fulltext: only what has the words');
select is(pg_temp.hits(api.search(null, 'zebras', 'both', 'fulltext'))::text[] @> array[pg_temp.id('m_question')::text,
    pg_temp.id('m_answer')::text, (select id::text from alice_chunks where chunk_index = 0)], true,
  'fulltext finds the word in messages and chunks');
select is((pg_temp.hits(api.search(null, '"standing up"', 'messages', 'fulltext')))[1], pg_temp.id('m_answer'),
  'a quoted phrase');

-- The owls chunk is second by meaning and first by words; the zebra chunk first by meaning only.
insert into got select 's_hybrid', api.search(pg_temp.q(1, 0.8, 3), 'owls night forest', 'files', 'hybrid', p_limit => 3);
select is((pg_temp.hits(pg_temp.got('s_hybrid')))[1], (select id from alice_chunks where chunk_index = 2),
  'hybrid: the chunk both lists rank high comes first');
select ok(abs((pg_temp.got('s_hybrid') -> 'items' -> 0 ->> 'score')::numeric - (1.0 / 62 + 1.0 / 61)) < 1e-9,
  'its score is the reciprocal rank fusion of its two ranks (2nd and 1st, k = 60)');
select is(jsonb_array_length(pg_temp.got('s_hybrid') -> 'items'), 3, 'at most the limit');

select is(api.search(pg_temp.q(1), null, 'files', 'semantic', p_file_ids => array[pg_temp.id('f_broken')]) -> 'items',
  '[]'::jsonb, 'a file filter');
select is(pg_temp.hits(api.search(null, 'zebras', 'messages', 'fulltext', p_conversation_id => pg_temp.id('c_bob'))),
  '{}'::uuid[], 'a conversation filter');

-- Every mode and scope, leaning to the stranger's vectors and words.
select is(
  (select array_agg(distinct h) from unnest(
     pg_temp.hits(api.search(pg_temp.q(1), 'zebras owls', 'both', 'semantic', p_limit => 100))
     || pg_temp.hits(api.search(pg_temp.q(10), 'zebras owls', 'both', 'fulltext', p_limit => 100))
     || pg_temp.hits(api.search(pg_temp.q(10), 'zebras owls night', 'both', 'hybrid', p_limit => 100))) h
   where h in (pg_temp.id('bob_chunk'), pg_temp.id('bob_message'))),
  null, 'no search ever returns another user''s chunk or message');
select is(
  (select count(*)::int from api.search_similar_chunks(pg_temp.q(1), '18000000-0000-4000-8000-000000000b0b', 0)),
  0, 'nor does search_similar_chunks, whatever user it is given');
select is(
  (select count(*)::int from api.search_similar_messages(pg_temp.q(10), '18000000-0000-4000-8000-000000000b0b', null, -1)),
  0, 'nor search_similar_messages');
select is(
  (select array_agg(chunk_index order by similarity desc) from api.search_similar_chunks(pg_temp.q(2, 0.9, 1),
     '18000000-0000-4000-8000-00000000a11c', 0.3)),
  array[1, 0], 'search_similar_chunks: the caller''s chunks above the threshold, most similar first');
select is(
  (select array_agg(role) from api.search_similar_messages(pg_temp.q(11), '18000000-0000-4000-8000-00000000a11c',
     pg_temp.id('c_zebra'), 0.5, 5)),
  array['assistant'], 'search_similar_messages: of one conversation, above the threshold');

select throws_ok($$ select api.search(null, 'x', 'everything') $$, 'PT400', 'scope must be messages, files or both', 'a bad scope');
select throws_ok($$ select api.search(null, 'x', 'both', 'vibes') $$, 'PT400', 'mode must be semantic, fulltext or hybrid', 'a bad mode');
select throws_ok($$ select api.search(null, 'x', 'both', 'fulltext', p_limit => 0) $$, 'PT400', 'limit must be between 1 and 100',
  'a bad limit');
select throws_ok($$ select api.search(null, 'zebras', 'both', 'semantic') $$, 'PT400', 'semantic search needs the query''s embedding',
  'semantic without an embedding');
select throws_ok($$ select api.search(null, 'zebras') $$, 'PT400', 'hybrid search needs the query''s embedding',
  'hybrid without an embedding');
select throws_ok(format('select api.search(%L::extensions.vector, null, %L, %L)', pg_temp.q(1), 'both', 'fulltext'), 'PT400',
  'fulltext search needs a query of 1 to 200 characters', 'fulltext without a query');
select throws_ok($$ select api.search(null, '& | !', 'both', 'fulltext') $$, 'PT400', 'the query has no words to search for',
  'a query without words');
select throws_ok($$ select api.search('[1,0,0]', null, 'both', 'semantic') $$, 'PT400', 'embedding must have 1536 dimensions',
  'a vector of another model');

reset role;
select set_config('request.jwt.claims', '', true);
select throws_ok(format('select api.search(%L::extensions.vector, null, %L, %L)', pg_temp.q(1), 'both', 'semantic'), 'PT401',
  'authentication required', 'search needs a user');

/** The index under a per-user filter */

set local enable_seqscan = off;
set local enable_sort = off;
set local hnsw.iterative_scan = relaxed_order;
create function pg_temp.plan(p_sql text) returns text language plpgsql as $$
declare
  v_line text;
  v_plan text := '';
begin
  for v_line in execute 'explain ' || p_sql loop
    v_plan := v_plan || v_line || E'\n';
  end loop;
  return v_plan;
end
$$;
select matches(
  pg_temp.plan(format($$
    select k.id from public.document_chunks k
    where k.user_id = '18000000-0000-4000-8000-00000000a11c' and k.embedding is not null
      and exists (select 1 from public.files f where f.id = k.file_id and f.status = 'completed' and f.deleted_at is null)
    order by k.embedding operator(extensions.<=>) %L::extensions.vector limit 10 $$, pg_temp.q(1))),
  'Index Scan using document_chunks_embedding_idx',
  'a filtered semantic search over chunks walks the HNSW index');
select matches(
  pg_temp.plan(format($$
    select m.id from public.messages m
    where m.user_id = '18000000-0000-4000-8000-00000000a11c' and m.embedding is not null
    order by m.embedding operator(extensions.<=>) %L::extensions.vector limit 10 $$, pg_temp.q(1))),
  'Index Scan using messages_embedding_idx',
  'and over messages');
reset enable_seqscan;
reset enable_sort;
reset hnsw.iterative_scan;

/** Query embeddings */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into got select 'query', api.begin_query_embedding('zebra stripes');
insert into ids select 'b_query', (pg_temp.got('query') ->> 'batch_id')::uuid;
select is(pg_temp.got('query') - 'batch_id',
  '{"request": {"protocol": "openai_embeddings", "provider": "openai", "model": "text-embedding-3-small",
    "dimensions": 1536, "inputs": ["zebra stripes"]}, "credits_reserved": 4}'::jsonb,
  'a query''s embedding is held like any batch');
select throws_ok($$ select api.begin_query_embedding('   ') $$, 'PT400', 'text must be 1 to 8000 characters', 'a blank query');
set local role service_role;
select is(api.finish_embeddings(pg_temp.id('b_query'), pg_temp.vecs(1), 3), '{"embedded": 1, "tokens": 3, "credits_charged": 3}'::jsonb,
  'and charged at the tokens reported, storing nothing');
reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-000000000c0c", "role": "authenticated"}', true);
select throws_ok($$ select api.begin_query_embedding('zebra stripes') $$, 'PT402', 'not enough credits: 4 needed, 0 available',
  'a query the caller cannot pay for');

/** Strangers read no batch, chunk or message vector */

select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is(
  jsonb_build_array((select count(*) from public.embedding_batches), (select count(*) from public.document_chunks),
    (select count(*) from public.messages where embedding is not null)),
  '[0, 1, 1]'::jsonb, 'a stranger sees only their own batches, chunks and messages');
select is((select count(*)::int from public.file_type_configs), 7, 'every user reads the file types');

/** Deleting */

select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
update public.conversations set deleted_at = now() where id = pg_temp.id('c_zebra');
select is(api.search(pg_temp.q(10), 'zebras', 'messages', 'hybrid') -> 'items', '[]'::jsonb,
  'a deleted conversation''s messages are not searched');

select is(api.delete_file(pg_temp.id('f_notes')) ->> 'id', pg_temp.id('f_notes')::text, 'the owner deletes a file');
select is(pg_temp.chunks('f_notes'), '[]'::jsonb, 'its chunks go');
select throws_ok(format('select api.get_file(%L)', pg_temp.id('f_notes')), 'PT404', 'file not found', 'it is gone');
select throws_ok(format('select api.delete_file(%L)', pg_temp.id('f_notes')), 'PT404', 'file not found', 'deleting it again');
select is(api.search(pg_temp.q(1), 'zebras', 'files', 'hybrid') -> 'items', '[]'::jsonb, 'search no longer finds it');
reset role;
select is(
  (select jsonb_build_array(status, max_attempts, params) from public.tasks
   where task_type = 'storage.remove' and params ->> 'file_id' = pg_temp.id('f_notes')::text),
  jsonb_build_array('queued', 10, jsonb_build_object('bucket', 'documents', 'user_id', '18000000-0000-4000-8000-00000000a11c',
    'file_id', pg_temp.id('f_notes'), 'paths', jsonb_build_array((select path from public.uploads where id = pg_temp.id('up_notes'))))),
  'its stored object is removed by a storage job');

-- A file deleted while its task runs: the task is canceled, its open batch released.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "18000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids select 'up_late', (api.create_upload('document', 'text/plain', 10, 'late.txt') ->> 'upload_id')::uuid;
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
select bucket, path, user_id, '{"size": 10, "mimetype": "text/plain"}' from public.uploads where id = pg_temp.id('up_late');
set local role authenticated;
insert into ids select 'f_late', (api.create_file(pg_temp.id('up_late')) ->> 'id')::uuid;
set local role service_role;
select pg_temp.claim('t_late', 'ingest.file');
select pg_temp.begin('b_late', 't_late', jsonb_build_array(pg_temp.chunk(0, 'Late')));
set local role authenticated;
select api.delete_file(pg_temp.id('f_late'));
reset role;
select is(
  jsonb_build_array((select status from public.tasks where id = pg_temp.id('t_late')), pg_temp.batch('b_late'), pg_temp.chunks('f_late')),
  '["canceled", ["failed", 0, 0, 0, "released", 0], []]'::jsonb,
  'deleting a file being processed cancels its task and releases its batch');
set local role service_role;
select throws_ok(format('select api.begin_embeddings(%L, %L, %L)', pg_temp.key(), pg_temp.id('t_late'),
    jsonb_build_array(pg_temp.chunk(1, 'x'))), 'PT409', 'lease lost', 'its worker learns it at its next call');

/** The books */

select is(api.audit_credits(), '[]'::jsonb, 'every hold reserved once and resolved once: the books balance');
select is(
  (select sum(credits) from public.usage_events where action = 'embedding'
     and user_id = '18000000-0000-4000-8000-00000000a11c'),
  (select -sum(l.amount) from public.credit_ledger l join public.credit_holds h on h.id = l.hold_id
   join public.embedding_batches b on b.hold_id = h.id where l.kind = 'settle'),
  'what the usage events say was charged for embeddings is what the ledger settled');

select * from finish();
rollback;
