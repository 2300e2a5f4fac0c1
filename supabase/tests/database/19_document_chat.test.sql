-- Document chat: the files attached to a conversation (owner only, deleted files refused),
-- the document_scope setting, begin_reply's extra reserve and document_query, the sources
-- add_reply_sources picks (nearest first, attached or all files, completed only, never a
-- stranger's, at most 8, within the budget, whole chunks), stored once, and finish_reply
-- charging within the larger hold with the books balanced.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(62);

insert into auth.users (id, email) values
  ('19000000-0000-4000-8000-00000000a11c', 'alice.docs@example.test'),
  ('19000000-0000-4000-8000-000000000b0b', 'bob.docs@example.test'),
  ('19000000-0000-4000-8000-000000000d0d', 'dave.docs@example.test');
update public.profiles set is_active = false where id = '19000000-0000-4000-8000-000000000d0d';
select private.change_credits('19000000-0000-4000-8000-00000000a11c', 'grant', 100000, 'test:grant', null, 'test');
select private.change_credits('19000000-0000-4000-8000-000000000b0b', 'grant', 100000, 'test:grant', null, 'test');

-- 1 credit per input token and 2 per output token, a 3,000-token window and 100-token
-- replies: a reply without documents reserves its prompt + 200, one with them 2,000 more.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens)
values ('chat-docs-test', 'chat', 'openai', 'openai_chat', 'docs-1', 3000, 100);
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit,
  credits_per_output_unit, usd_per_output_unit, active_from)
values ('chat', 'chat-docs-test', '1k_tokens', 1000, 0.001, 2000, 0.002, now() - interval '1 minute');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
-- A 1536-dimension vector: 1 on each of p_dims (1-based), w on p_dim_w; cosine similarity
-- between two of them is easy to work out by hand.
create function pg_temp.vec(p_dims int[], p_dim_w int default null, p_w real default 0) returns extensions.vector
language sql as $$
  select array_agg(case when i = any (p_dims) then 1 when i = p_dim_w then p_w else 0 end order by i)::real[]::extensions.vector
  from generate_series(1, 1536) i
$$;
-- A file of p_user's (its upload too), named n_<name>.
create function pg_temp.file(p_name text, p_user uuid, p_file_name text, p_status text, p_deleted boolean default false)
returns uuid language plpgsql as $$
declare
  v_upload uuid;
  v_file uuid;
begin
  insert into public.uploads (user_id, purpose, bucket, path, content_type, bytes, filename)
  values (p_user, 'chat', 'uploads', p_user || '/' || p_name, 'text/plain', 100, p_file_name)
  returning id into v_upload;
  insert into public.files (user_id, upload_id, name, mime_type, size_bytes, status, completed_at, deleted_at)
  values (p_user, v_upload, p_file_name, 'text/plain', 100, p_status,
    case when p_status = 'completed' then now() end, case when p_deleted then now() end)
  returning id into v_file;
  insert into ids values ('f_' || p_name, v_file);
  return v_file;
end
$$;
-- A chunk of a file, named k_<file>_<index>.
create function pg_temp.chunk(p_file text, p_index int, p_content text, p_embedding extensions.vector,
  p_page int default null, p_heading text default null) returns void language plpgsql as $$
declare
  v_id uuid;
begin
  insert into public.document_chunks (file_id, user_id, chunk_index, content, page_number, heading, token_count, embedding)
  select f.id, f.user_id, p_index, p_content, p_page, p_heading, private.estimate_tokens(p_content), p_embedding
  from public.files f where f.id = pg_temp.id('f_' || p_file)
  returning id into v_id;
  insert into ids values ('k_' || p_file || '_' || p_index, v_id);
end
$$;
-- Begins a reply as the caller and names its messages u_<name> and r_<name>; keeps the answer.
create function pg_temp.begin(p_name text, p_conversation uuid, p_content text) returns jsonb language plpgsql as $$
declare
  r jsonb := api.begin_reply(p_conversation, p_content);
begin
  insert into ids values ('u_' || p_name, (r -> 'user_message' ->> 'id')::uuid),
    ('r_' || p_name, (r -> 'assistant_message' ->> 'id')::uuid);
  insert into got values (p_name, r);
  return r;
end
$$;
-- The chunk names of a list of sources, in order.
create function pg_temp.names(p_sources jsonb) returns text[] language sql as $$
  select coalesce(array_agg(i.name order by e.n), '{}')
  from jsonb_array_elements(p_sources) with ordinality e (s, n) join ids i on i.id = (e.s ->> 'chunk_id')::uuid
$$;
create function pg_temp.reserve_parts(p_reply uuid) returns jsonb language sql as $$
  select jsonb_build_array(credits_reserved, prompt_tokens_estimate) from public.messages where id = p_reply
$$;
grant execute on all functions in schema pg_temp to public;

/** Files and chunks: alice's, and one of bob's */

select pg_temp.file('tea', '19000000-0000-4000-8000-00000000a11c', 'tea.md', 'completed');
select pg_temp.file('coffee', '19000000-0000-4000-8000-00000000a11c', 'coffee.pdf', 'completed');
select pg_temp.file('notes', '19000000-0000-4000-8000-00000000a11c', 'notes.md', 'completed');
select pg_temp.file('draft', '19000000-0000-4000-8000-00000000a11c', 'draft.txt', 'processing');
select pg_temp.file('old', '19000000-0000-4000-8000-00000000a11c', 'old.md', 'completed', true);
select pg_temp.file('many', '19000000-0000-4000-8000-00000000a11c', 'many.txt', 'completed');
select pg_temp.file('long', '19000000-0000-4000-8000-00000000a11c', 'long.txt', 'completed');
select pg_temp.file('bob', '19000000-0000-4000-8000-000000000b0b', 'bob.md', 'completed');

-- A question about green tea is the vector on dimension 1.
select pg_temp.chunk('tea', 0, 'Green tea is steeped at 80 degrees.', pg_temp.vec('{1}'));
select pg_temp.chunk('tea', 1, 'Black tea takes boiling water.', pg_temp.vec('{1,2,3,4}'));
select pg_temp.chunk('tea', 2, 'Tea was first drunk in China.', pg_temp.vec('{5,6}'));
select pg_temp.chunk('coffee', 0, 'Coffee wants 93 degrees.', pg_temp.vec('{1,3}'), 3, 'Brewing');
-- As near as can be, and 2,750 tokens: too long for any reply's 2,000-token budget.
select pg_temp.chunk('coffee', 1, repeat('紅茶 ', 1000), pg_temp.vec('{1}'), 4, 'Appendix');
-- Dimension 5 is what the chunks no reply may ever get are about.
select pg_temp.chunk('notes', 0, 'Tea history notes.', pg_temp.vec('{5}'));
select pg_temp.chunk('draft', 0, 'Draft about tea history.', pg_temp.vec('{5}'));
select pg_temp.chunk('old', 0, 'Deleted tea history.', pg_temp.vec('{5}'));
select pg_temp.chunk('bob', 0, 'Bob''s secret tea history.', pg_temp.vec('{5}'));
-- Twelve short chunks, each a little farther from dimension 7 than the one before.
select pg_temp.chunk('many', i, 'Many ' || i, pg_temp.vec('{7}', 20 + i, 0.1 * (i + 1))) from generate_series(0, 11) i;
-- Ten chunks of 600 tokens, farther and farther from dimension 8: three fit a budget.
select pg_temp.chunk('long', i, repeat(chr(97 + i) || 'xyz ', 480), pg_temp.vec('{8}', 40 + i, 0.1 * (i + 1)))
from generate_series(0, 9) i;

/** Attaching files */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "19000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into ids select 'c_docs', (api.create_conversation('Docs', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;

select is(
  api.set_conversation_files(pg_temp.id('c_docs'), array[pg_temp.id('f_tea'), pg_temp.id('f_draft'), pg_temp.id('f_tea')]),
  jsonb_build_object('conversation_id', pg_temp.id('c_docs'), 'file_ids', jsonb_build_array(pg_temp.id('f_tea'), pg_temp.id('f_draft'))),
  'the owner attaches their files, a file still processing included, a repeated id once');
select is(
  api.set_conversation_files(pg_temp.id('c_docs'), array[pg_temp.id('f_coffee'), pg_temp.id('f_tea')]) -> 'file_ids',
  jsonb_build_array(pg_temp.id('f_coffee'), pg_temp.id('f_tea')), 'a new list replaces the set');
select is(
  (select array_agg(file_id order by file_id) from public.conversation_files where conversation_id = pg_temp.id('c_docs')),
  (select array_agg(id order by id) from unnest(array[pg_temp.id('f_coffee'), pg_temp.id('f_tea')]) id),
  'the table holds exactly the new set');
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'),
    array[pg_temp.id('f_tea'), pg_temp.id('f_bob')]), 'PT400', 'file_ids[1] must be the id of one of your files',
  'another user''s file is refused');
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'), array[pg_temp.id('f_old')]),
  'PT400', 'file_ids[0] must be the id of one of your files', 'a deleted file is refused');
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'), array[gen_random_uuid()]),
  'PT400', 'file_ids[0] must be the id of one of your files', 'an unknown file is refused');
select is(
  (select count(*)::int from public.conversation_files where conversation_id = pg_temp.id('c_docs')), 2,
  'a refused list changes nothing');
select throws_ok(format('select api.set_conversation_files(%L, null)', pg_temp.id('c_docs')), 'PT400',
  'file_ids must list at most 100 file ids', 'a missing list is refused');
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'),
    (select array_agg(gen_random_uuid()) from generate_series(1, 101))), 'PT400',
  'file_ids must list at most 100 file ids', 'at most 100 files');
select throws_ok(format('select api.set_conversation_files(%L, %L)', gen_random_uuid(), '{}'), 'PT404',
  'conversation not found', 'an unknown conversation');

/** Settings */

select is(api.get_conversation(pg_temp.id('c_docs')) -> 'settings',
  '{"temperature": null, "max_tokens": null, "system_prompt": null, "document_scope": "attached",
    "features": {"document_chat": true, "image_generation": false, "web_search": false}}'::jsonb,
  'document chat on brings document_scope, attached by default');
insert into ids select 'c_all', (api.create_conversation('All', 'chat-docs-test',
  '{"features": {"document_chat": true}, "document_scope": "all"}') ->> 'id')::uuid;
select is(api.get_conversation(pg_temp.id('c_all')) -> 'settings' ->> 'document_scope', 'all', 'the scope is stored');
select throws_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_all'), '{"settings": {"document_scope": "some"}}'),
  'PT400', 'settings.document_scope must be attached or all', 'an unknown scope is refused');
select throws_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_all'), '{"settings": {"document_scope": 1}}'),
  'PT400', 'settings.document_scope must be attached or all', 'a scope is a string');
select throws_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_all'), '{"settings": {"top_k": 1}}'),
  'PT400', 'settings.top_k is not a setting (allowed: document_scope, features, max_tokens, system_prompt, temperature)',
  'with document chat on, the unknown-setting error names document_scope');
select throws_ok($$ select api.create_conversation(p_settings => '{"document_scope": "all"}') $$, 'PT400',
  'settings.document_scope can only be set while settings.features.document_chat is on', 'no scope without document chat');
select is(
  api.update_conversation(pg_temp.id('c_all'), '{"settings": {"features": {"document_chat": false}}}') -> 'settings',
  '{"temperature": null, "max_tokens": null, "system_prompt": null,
    "features": {"document_chat": false, "image_generation": false, "web_search": false}}'::jsonb,
  'turning document chat off drops the scope');
select is(
  api.update_conversation(pg_temp.id('c_all'), '{"settings": {"features": {"document_chat": true}, "document_scope": "all"}}')
    -> 'settings' ->> 'document_scope', 'all', 'turning it on sets a scope in the same patch');
select is(
  api.update_conversation(pg_temp.id('c_all'), '{"settings": {"document_scope": null}}') -> 'settings' ->> 'document_scope',
  'attached', 'a null scope is the default');
select is(
  api.update_conversation(pg_temp.id('c_all'), '{"settings": {"document_scope": "all"}}') -> 'settings' ->> 'document_scope',
  'all', 'a patch changes the scope');

/** Strangers */

select set_config('request.jwt.claims', '{"sub": "19000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is((select count(*)::int from public.conversation_files), 0, 'a stranger sees no one else''s attached files');
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'), array[pg_temp.id('f_bob')]),
  'PT404', 'conversation not found', 'a stranger cannot attach to another user''s conversation');
select throws_ok(format('insert into public.conversation_files (conversation_id, file_id, user_id) values (%L, %L, %L)',
    pg_temp.id('c_docs'), pg_temp.id('f_bob'), '19000000-0000-4000-8000-000000000b0b'),
  '42501', null, 'nor by writing the table');
insert into ids select 'c_bob', (api.create_conversation('Bob', 'chat-docs-test') ->> 'id')::uuid;
select throws_ok(format('insert into public.conversation_files (conversation_id, file_id, user_id) values (%L, %L, %L)',
    pg_temp.id('c_bob'), pg_temp.id('f_tea'), '19000000-0000-4000-8000-000000000b0b'),
  '42501', null, 'nor attach another user''s file to their own conversation');
select set_config('request.jwt.claims', '{"sub": "19000000-0000-4000-8000-000000000d0d", "role": "authenticated"}', true);
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'), '{}'), 'PT403', null,
  'a disabled user changes nothing');
reset role;
set local role anon;
select throws_ok(format('select api.set_conversation_files(%L, %L)', pg_temp.id('c_docs'), '{}'), '42501', null,
  'anon cannot attach');

/** begin_reply */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "19000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into ids select 'c_plain', (api.create_conversation('Plain', 'chat-docs-test') ->> 'id')::uuid;
select is(pg_temp.begin('plain', pg_temp.id('c_plain'), 'How hot for green tea?') -> 'document_query', 'null'::jsonb,
  'without document chat there is no document query');
select is(pg_temp.reserve_parts(pg_temp.id('r_plain')), '[213, 13]'::jsonb,
  'and the reserve is the prompt (13 tokens) and max_tokens x 2, as before');

insert into ids select 'c_none', (api.create_conversation('None', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;
select api.set_conversation_files(pg_temp.id('c_none'), array[pg_temp.id('f_draft')]);
select is(pg_temp.begin('none', pg_temp.id('c_none'), 'How hot for green tea?') -> 'document_query', 'null'::jsonb,
  'document chat with no completed file in its scope does not apply');
select is(pg_temp.reserve_parts(pg_temp.id('r_none')), '[213, 13]'::jsonb, 'and reserves nothing more');

select is(
  (select jsonb_build_array(r -> 'document_query', r -> 'credits_reserved', r -> 'request' -> 'system')
   from (select pg_temp.begin('docs', pg_temp.id('c_docs'), 'How hot for green tea?') r) x),
  '["How hot for green tea?", 2213, null]'::jsonb,
  'with document chat the question is the document query, and 2,000 more prompt tokens are reserved');
select is(pg_temp.reserve_parts(pg_temp.id('r_docs')), '[2213, 13]'::jsonb,
  'the prompt estimate stays the prompt sent so far');
select is((select h.amount from public.credit_holds h join public.messages m on m.hold_id = h.id
           where m.id = pg_temp.id('r_docs')), 2213::bigint, 'the hold covers it');

/** add_reply_sources */

select throws_ok(format('select api.add_reply_sources(%L, %L)', pg_temp.id('r_docs'), pg_temp.vec('{1}')), '42501', null,
  'users cannot add sources');

reset role;
set local role service_role;
select throws_ok(format('select api.add_reply_sources(%L, %L)', pg_temp.id('r_docs'), '[1,0,0]'), 'PT400',
  'embedding must be a vector of 1536 numbers', 'an embedding of the wrong size is refused');
select throws_ok(format('select api.add_reply_sources(%L, %L)', gen_random_uuid(), pg_temp.vec('{1}')), 'PT404',
  'reply not found', 'an unknown reply');
select throws_ok(format('select api.add_reply_sources(%L, %L)', pg_temp.id('r_plain'), pg_temp.vec('{1}')), 'PT400',
  'document chat is off for this reply', 'a reply without document chat');

insert into got select 'src_docs', api.add_reply_sources(pg_temp.id('r_docs'), pg_temp.vec('{1}'));
-- The estimator is not the service role's to run.
reset role;
insert into got select 'docs_prompt', to_jsonb(13 + private.estimate_tokens(v -> 'request' ->> 'system') + 4)
from got where name = 'src_docs';
set local role service_role;
select is(pg_temp.names(pg_temp.got('src_docs') -> 'sources'), array['k_tea_0', 'k_coffee_0', 'k_tea_1'],
  'the nearest chunks of the attached files come first; the one too long for the budget and the unrelated are left out');
select is(pg_temp.got('src_docs') -> 'sources' -> 1,
  jsonb_build_object('file_id', pg_temp.id('f_coffee'), 'file_name', 'coffee.pdf', 'chunk_id', pg_temp.id('k_coffee_0'),
    'chunk_index', 0, 'page', 3, 'heading', 'Brewing', 'score', 0.7071),
  'a source names its file, chunk, page and heading, with its cosine similarity');
select is(pg_temp.got('src_docs') -> 'request' ->> 'system',
  E'Excerpts from the user''s files, most relevant first. When you use one, cite it by its number, file name and page, e.g. [1].\n\n'
  || E'[1] tea.md\nGreen tea is steeped at 80 degrees.\n\n'
  || E'[2] coffee.pdf, page 3 - Brewing\nCoffee wants 93 degrees.\n\n'
  || E'[3] tea.md\nBlack tea takes boiling water.',
  'the excerpts, labelled with file name and page, are the system prompt');
select is((pg_temp.got('src_docs') -> 'request') - 'system', (pg_temp.got('docs') -> 'request') - 'system',
  'the rest of the request is begin_reply''s');
select is((select sources from public.messages where id = pg_temp.id('r_docs')), pg_temp.got('src_docs') -> 'sources',
  'the sources are stored on the reply');
select is(pg_temp.reserve_parts(pg_temp.id('r_docs')), jsonb_build_array(2213, pg_temp.got('docs_prompt')),
  'the prompt estimate grows by what the excerpts add to the system prompt');
select throws_ok(format('select api.add_reply_sources(%L, %L)', pg_temp.id('r_docs'), pg_temp.vec('{1}')), 'PT409',
  'the reply already has its sources', 'sources are added once');

-- Everything of alice's that is completed and not deleted, nothing of bob's.
reset role;
set local role authenticated;
select pg_temp.begin('all', pg_temp.id('c_all'), 'Where does tea come from?');
reset role;
set local role service_role;
select is(pg_temp.names(api.add_reply_sources(pg_temp.id('r_all'), pg_temp.vec('{5}')) -> 'sources'),
  array['k_notes_0', 'k_tea_2'],
  'scope all reaches every completed file, attached or not; never a processing, deleted or stranger''s file');

reset role;
set local role authenticated;
insert into ids select 'c_scope', (api.create_conversation('Scope', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;
select api.set_conversation_files(pg_temp.id('c_scope'), array[pg_temp.id('f_tea'), pg_temp.id('f_draft')]);
select pg_temp.begin('scope', pg_temp.id('c_scope'), 'Where does tea come from?');
reset role;
set local role service_role;
select is(pg_temp.names(api.add_reply_sources(pg_temp.id('r_scope'), pg_temp.vec('{5}')) -> 'sources'), array['k_tea_2'],
  'scope attached reaches only the attached completed files');

reset role;
set local role authenticated;
insert into ids select 'c_many', (api.create_conversation('Many', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;
select api.set_conversation_files(pg_temp.id('c_many'), array[pg_temp.id('f_many')]);
select pg_temp.begin('many', pg_temp.id('c_many'), 'Many?');
reset role;
set local role service_role;
select is(pg_temp.names(api.add_reply_sources(pg_temp.id('r_many'), pg_temp.vec('{7}')) -> 'sources'),
  array['k_many_0', 'k_many_1', 'k_many_2', 'k_many_3', 'k_many_4', 'k_many_5', 'k_many_6', 'k_many_7'],
  'at most 8 sources, nearest first');

reset role;
set local role authenticated;
insert into ids select 'c_long', (api.create_conversation('Long', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;
select api.set_conversation_files(pg_temp.id('c_long'), array[pg_temp.id('f_long')]);
select pg_temp.begin('long', pg_temp.id('c_long'), 'Long?');
reset role;
set local role service_role;
insert into got select 'src_long', api.add_reply_sources(pg_temp.id('r_long'), pg_temp.vec('{8}'));
select is(pg_temp.names(pg_temp.got('src_long') -> 'sources'), array['k_long_0', 'k_long_1', 'k_long_2'],
  'as many 600-token chunks as fit the 2,000-token budget');
select ok(
  (select bool_and(strpos(pg_temp.got('src_long') -> 'request' ->> 'system', c.content) > 0)
   from public.document_chunks c where c.id in (pg_temp.id('k_long_0'), pg_temp.id('k_long_1'), pg_temp.id('k_long_2'))),
  'each excerpt is its whole chunk');
select ok(
  (select prompt_tokens_estimate - 9 from public.messages where id = pg_temp.id('r_long')) between 1800 and 2000,
  'the excerpts stay within the budget');

/** The window: history gives way to the documents, or the documents get what is left */

reset role;
set local role authenticated;
insert into ids select 'c_window', (api.create_conversation('Window', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;
-- Two exchanges of 404 tokens a message, while no file is attached (no documents yet).
select pg_temp.begin('w1', pg_temp.id('c_window'), repeat('qqq ', 400));
reset role;
set local role service_role;
select api.finish_reply(pg_temp.id('r_w1'), repeat('aaa ', 400), 'complete', 1, 1);
reset role;
set local role authenticated;
select pg_temp.begin('w2', pg_temp.id('c_window'), repeat('qqq ', 400));
reset role;
set local role service_role;
select api.finish_reply(pg_temp.id('r_w2'), repeat('aaa ', 400), 'complete', 1, 1);
reset role;
set local role authenticated;
select api.set_conversation_files(pg_temp.id('c_window'), array[pg_temp.id('f_tea')]);
select is(
  (select jsonb_build_array(jsonb_array_length(r -> 'request' -> 'messages'), r -> 'credits_reserved')
   from (select pg_temp.begin('window', pg_temp.id('c_window'), 'Tea?') r) x),
  '[3, 3016]'::jsonb,
  'the oldest history gives way so that 2,000 tokens of excerpts fit: 816 + 2,000 + 200 reserved');

insert into ids select 'c_big', (api.create_conversation('Big', 'chat-docs-test',
  '{"features": {"document_chat": true}}') ->> 'id')::uuid;
select api.set_conversation_files(pg_temp.id('c_big'), array[pg_temp.id('f_tea')]);
select is(pg_temp.begin('big', pg_temp.id('c_big'), repeat('qqq ', 900)) -> 'credits_reserved', '3100'::jsonb,
  'a message leaving less than 2,000 tokens gives the excerpts what is left: 907 + 1,993 + 200');

/** Regeneration */

reset role;
set local role service_role;
select api.finish_reply(pg_temp.id('r_scope'), 'From China.', 'complete', 30, 3);
reset role;
set local role authenticated;
select is(
  (select jsonb_build_array(r -> 'document_query', r -> 'user_message')
   from api.begin_reply(pg_temp.id('c_scope'), p_regenerate_of => pg_temp.id('r_scope')) r),
  '["Where does tea come from?", null]'::jsonb, 'a regeneration''s document query is the message it answers');

/** Finishing */

reset role;
set local role service_role;
select is(
  (select jsonb_build_array(r -> 'credits_charged', r -> 'message' -> 'sources' = pg_temp.got('src_docs') -> 'sources')
   from api.finish_reply(pg_temp.id('r_docs'), 'About 80 degrees [1].', 'complete') r),
  jsonb_build_array((pg_temp.got('docs_prompt')::int + 2 * 6), true),
  'without the provider''s counts the reply is charged the prompt with its excerpts, and keeps its sources');
select is(
  (select jsonb_build_array(h.status, h.charged <= m.credits_reserved, m.credits = h.charged)
   from public.messages m join public.credit_holds h on h.id = m.hold_id where m.id = pg_temp.id('r_docs')),
  '["settled", true, true]'::jsonb, 'within the larger hold, settled once');
select is(api.finish_reply(pg_temp.id('r_long'), 'Long.', 'complete', 1900, 100) -> 'credits_charged', '2100'::jsonb,
  'the provider''s counts are charged as reported, within the hold');
select throws_ok(format('select api.add_reply_sources(%L, %L)', pg_temp.id('r_docs'), pg_temp.vec('{1}')), 'PT409',
  'the reply has already ended (complete)', 'an ended reply gets no sources');

select api.finish_reply(pg_temp.id('r_' || n), null, 'failed', p_error => 'the provider failed')
from unnest(array['plain', 'none', 'all', 'many', 'window', 'big']) n;
select api.finish_reply(id, 'Again.', 'complete')
from public.messages where conversation_id = pg_temp.id('c_scope') and status = 'streaming';
reset role;
select is((select count(*)::int from private.reply_documents), 0,
  'no pending document context outlives its reply, with or without sources');
select is(
  (select sources from public.messages where id = pg_temp.id('r_window')), null,
  'a reply that ended before its sources has none');
select is(
  (select private.message_json(m) -> 'sources' from public.messages m where id = pg_temp.id('r_plain')), 'null'::jsonb,
  'a message without document search says so');

reset role;
set local role authenticated;
select is(
  (select m -> 'sources' -> 0 ->> 'file_name' from jsonb_array_elements(
     api.list_messages(pg_temp.id('c_docs')) -> 'items') m where m ->> 'role' = 'assistant'),
  'tea.md', 'the owner reads a reply''s sources with its messages');

reset role;
set local role service_role;
select is(api.audit_credits(), '[]'::jsonb, 'the books balance after every document-chat reply');

select * from finish();
rollback;
