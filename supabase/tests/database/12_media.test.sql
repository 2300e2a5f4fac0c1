-- Media library: keyset pages without gaps or repeats (ties included), kind, favorite and
-- full-text filters, stats that match a direct count, favorite/title edits, soft delete
-- (gone at once from lists, stats and reads), the purge keeping the money history, and
-- strangers, anon and disabled users refused.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(67);

insert into auth.users (id, email) values
  ('12000000-0000-4000-8000-00000000a11c', 'alice.media@example.test'),
  ('12000000-0000-4000-8000-000000000b0b', 'bob.media@example.test'),
  ('12000000-0000-4000-8000-000000000c0c', 'carol.media@example.test');

-- Alice's library (g6 already deleted) and one of Bob's. g4 and g5 share created_at: the
-- id breaks the tie.
insert into public.generations (id, user_id, kind, action, model, prompt, title, route, pricing_id, units,
  credits_reserved, credits_charged, status, is_favorite, outputs, created_at, deleted_at)
select v.id::uuid, v.user_id::uuid, v.kind, 'generate', 'flux-schnell', v.prompt, v.title, 'provider',
  (select id from public.pricing where model = 'flux-schnell'), 1, coalesce(v.charged, 0), v.charged, v.status, v.favorite,
  v.outputs::jsonb, v.created_at::timestamptz, v.deleted_at::timestamptz
from (values
  ('12000000-0000-4000-8000-000000000001', '12000000-0000-4000-8000-00000000a11c', 'image', 'a red fox in snow', null,
   5, 'succeeded', true, '{"storage": "stored", "files": [{"path": "x/1/0.png", "bytes": 1000}, {"path": "x/1/1.png", "bytes": 500}]}',
   '2026-01-10T00:00:00Z', null),
  ('12000000-0000-4000-8000-000000000002', '12000000-0000-4000-8000-00000000a11c', 'video', 'a blue whale', null,
   3, 'succeeded', false, '{"storage": "pending", "provider_urls": ["https://p.test/2.mp4"]}', '2026-01-20T00:00:00Z', null),
  ('12000000-0000-4000-8000-000000000003', '12000000-0000-4000-8000-00000000a11c', 'audio', 'fox song', 'Morning tune',
   0, 'failed', false, '{}', '2026-02-01T00:00:00Z', null),
  ('12000000-0000-4000-8000-000000000004', '12000000-0000-4000-8000-00000000a11c', 'image', 'red car', null,
   null, 'processing', false, '{}', '2026-02-15T00:00:00Z', null),
  ('12000000-0000-4000-8000-000000000005', '12000000-0000-4000-8000-00000000a11c', 'image', 'quiet forest', null,
   2, 'succeeded', false, '{"storage": "stored", "files": [{"path": "x/5/0.png", "bytes": 250}]}', '2026-02-15T00:00:00Z', null),
  ('12000000-0000-4000-8000-000000000006', '12000000-0000-4000-8000-00000000a11c', 'music', 'the red sea', null,
   4, 'succeeded', true, '{"storage": "stored", "files": [{"path": "x/6/0.mp3", "bytes": 9999}]}', '2026-03-01T00:00:00Z',
   '2026-03-02T00:00:00Z'),
  ('12000000-0000-4000-8000-0000000000b1', '12000000-0000-4000-8000-000000000b0b', 'image', 'a red fox', null,
   5, 'succeeded', true, '{}', '2026-01-05T00:00:00Z', null)
) v (id, user_id, kind, prompt, title, charged, status, favorite, outputs, created_at, deleted_at);

-- Short names for the ids, in the order list_media must return them.
create function pg_temp.ids(p_page jsonb) returns text[] language sql as $$
  select coalesce(array_agg(right(i ->> 'id', 1) order by n), '{}')
  from jsonb_array_elements(p_page -> 'items') with ordinality e (i, n)
$$;
create function pg_temp.next(p_page jsonb, p_limit int, p_kinds text[] default null) returns jsonb language sql as $$
  select api.list_media(p_kinds => p_kinds, p_limit => p_limit,
    p_cursor_created_at => (p_page -> 'next_cursor' ->> 'created_at')::timestamptz,
    p_cursor_id => (p_page -> 'next_cursor' ->> 'id')::uuid)
$$;
grant execute on all functions in schema pg_temp to public;

/** Alice reads */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "12000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

select is(pg_temp.ids(api.list_media()), array['5', '4', '3', '2', '1'],
  'newest first, the created_at tie broken by id, the deleted one and Bob''s absent');
select is(api.list_media() -> 'next_cursor', 'null'::jsonb, 'one page: no next cursor');
select is(api.list_media() -> 'items' -> 4 ->> 'title', null, 'items are generation objects with a title');
select is(api.list_media() -> 'items' -> 2 ->> 'title', 'Morning tune', 'the title is rendered');

select is(pg_temp.ids(api.list_media(p_limit => 2)), array['5', '4'], 'page 1 of 2-item pages');
select is(pg_temp.ids(pg_temp.next(api.list_media(p_limit => 2), 2)), array['3', '2'],
  'page 2 starts right after page 1');
select is(pg_temp.ids(pg_temp.next(pg_temp.next(api.list_media(p_limit => 2), 2), 2)), array['1'], 'page 3');
select is(pg_temp.next(pg_temp.next(api.list_media(p_limit => 2), 2), 2) -> 'next_cursor', 'null'::jsonb,
  'the last page has no next cursor');
select is(pg_temp.ids(pg_temp.next(api.list_media(p_limit => 1), 1)), array['4'],
  'a cursor between two rows of the same created_at loses neither');

select is(pg_temp.ids(api.list_media(p_kinds => array['image'])), array['5', '4', '1'], 'one kind');
select is(pg_temp.ids(api.list_media(p_kinds => array['video', 'audio', 'video'])), array['3', '2'],
  'several kinds, merged newest first (a repeated kind counts once)');
select is(pg_temp.ids(pg_temp.next(api.list_media(p_kinds => array['image'], p_limit => 1), 1, array['image'])),
  array['4'], 'kind pages continue across the tie too');
select is(pg_temp.ids(pg_temp.next(pg_temp.next(api.list_media(p_kinds => array['image'], p_limit => 1), 1, array['image']), 1, array['image'])),
  array['1'], 'and reach the oldest');
select is(pg_temp.ids(api.list_media(p_kinds => array['music'])), '{}'::text[], 'a deleted item is in no kind');

select is(pg_temp.ids(api.list_media(p_favorite => true)), array['1'], 'favorites only');
select is(pg_temp.ids(api.list_media(p_favorite => false)), array['5', '4', '3', '2'], 'the others');
select is(pg_temp.ids(api.list_media(p_favorite => true, p_kinds => array['video'])), '{}'::text[],
  'favorites of one kind');

select is(pg_temp.ids(api.list_media(p_q => 'fox')), array['3', '1'], 'q matches a word of the prompt');
select is(pg_temp.ids(api.list_media(p_q => 'MORNING')), array['3'], 'q matches the title, case-folded');
select is(pg_temp.ids(api.list_media(p_q => 'red fox')), array['1'], 'every word must match');
select is(pg_temp.ids(api.list_media(p_q => '"fox in snow"')), array['1'], 'a quoted phrase');
select is(pg_temp.ids(api.list_media(p_q => 'red -fox')), array['4'], 'a word excluded (the deleted red sea stays out)');
select is(pg_temp.ids(api.list_media(p_q => 'fox', p_kinds => array['audio'])), array['3'], 'q with a kind');
select is(pg_temp.ids(api.list_media(p_q => 'fox', p_favorite => true)), array['1'], 'q with favorites');

select throws_ok($$ select api.list_media(p_q => '!!!') $$, 'PT400', 'q has no words to search for',
  'a q without words is refused');
select throws_ok($$ select api.list_media(p_q => repeat('a', 201)) $$, 'PT400', 'q must be 1 to 200 characters',
  'q over the limit is refused');
select throws_ok($$ select api.list_media(p_kinds => array['picture']) $$, 'PT400',
  'kind must be a comma-separated list of image, video, audio, music, text, tts', 'an unknown kind is refused');
select throws_ok($$ select api.list_media(p_kinds => '{}') $$, 'PT400', null, 'an empty kind list is refused');
select throws_ok($$ select api.list_media(p_limit => 101) $$, 'PT400', null, 'a page over the limit is refused');
select throws_ok($$ select api.list_media(p_cursor_id => gen_random_uuid()) $$, 'PT400', 'cursor is not valid',
  'half a cursor is refused');

select is(api.media_stats(), '{
  "total": 5, "favorites": 1,
  "by_kind": {"image": 3, "video": 1, "audio": 1, "music": 0, "text": 0, "tts": 0},
  "by_status": {"queued": 0, "processing": 1, "succeeded": 3, "failed": 1, "canceled": 0},
  "credits_spent": 10, "bytes_stored": 1750,
  "months": [
    {"month": "2026-02", "total": 3, "favorites": 0,
     "by_kind": {"image": 2, "video": 0, "audio": 1, "music": 0, "text": 0, "tts": 0},
     "by_status": {"queued": 0, "processing": 1, "succeeded": 1, "failed": 1, "canceled": 0},
     "credits_spent": 2, "bytes_stored": 250},
    {"month": "2026-01", "total": 2, "favorites": 1,
     "by_kind": {"image": 1, "video": 1, "audio": 0, "music": 0, "text": 0, "tts": 0},
     "by_status": {"queued": 0, "processing": 0, "succeeded": 2, "failed": 0, "canceled": 0},
     "credits_spent": 8, "bytes_stored": 1500}]}'::jsonb,
  'stats by kind, status and month, the deleted item excluded');
select is((api.media_stats() ->> 'total')::bigint,
  (select count(*) from public.generations where deleted_at is null),
  'the total is a direct count of what the caller sees');

/** Alice edits */

select is(api.update_generation('12000000-0000-4000-8000-000000000005', '{"is_favorite": true, "title": "  Green  "}')
  - array['created_at', 'outputs', 'params', 'units', 'cost_usd', 'credits_reserved', 'credits_charged', 'model',
          'action', 'user_id', 'started_at', 'completed_at', 'processing_time_ms', 'provider', 'provider_prediction_id',
          'error', 'status', 'workspace_id'],
  '{"id": "12000000-0000-4000-8000-000000000005", "kind": "image", "prompt": "quiet forest", "title": "Green",
    "is_favorite": true}'::jsonb,
  'a patch sets the favorite and the trimmed title, and returns the generation');
select is(pg_temp.ids(api.list_media(p_favorite => true)), array['5', '1'], 'the new favorite is listed');
select is(pg_temp.ids(api.list_media(p_favorite => true, p_kinds => array['image'])), array['5', '1'],
  'in its kind too');
select is(pg_temp.ids(api.list_media(p_q => 'green')), array['5'], 'the new title is searchable at once');
select is(api.update_generation('12000000-0000-4000-8000-000000000005', '{"title": null}') -> 'title', 'null'::jsonb,
  'a null title clears it');
select is(pg_temp.ids(api.list_media(p_q => 'green')), '{}'::text[], 'and it is no longer found by it');
select throws_ok($$ select api.update_generation('12000000-0000-4000-8000-000000000005', '{"prompt": "x"}') $$,
  'PT400', 'unknown field: prompt (is_favorite and title can be changed)', 'an unknown key is refused');
select throws_ok($$ select api.update_generation('12000000-0000-4000-8000-000000000005', '{"is_favorite": "yes"}') $$,
  'PT400', 'is_favorite must be true or false', 'is_favorite must be a boolean');
select throws_ok(format($$ select api.update_generation('12000000-0000-4000-8000-000000000005', '{"title": "%s"}') $$,
  repeat('t', 201)), 'PT400', 'title must be 1 to 200 characters, or null to clear it', 'a title over the limit');
select throws_ok($$ select api.update_generation('12000000-0000-4000-8000-000000000005', '{}') $$,
  'PT400', null, 'an empty patch is refused');
select throws_ok($$ select api.update_generation('12000000-0000-4000-8000-000000000006', '{"is_favorite": false}') $$,
  'PT404', 'generation not found', 'a deleted generation cannot be patched');
select throws_ok($$ update public.generations set prompt = 'x' where id = '12000000-0000-4000-8000-000000000005' $$,
  '42501', null, 'the prompt is not the user''s to change, even directly');

/** Bob, a stranger */

select set_config('request.jwt.claims', '{"sub": "12000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is(pg_temp.ids(api.list_media()), array['1'], 'Bob lists only his own (his b1)');
select is(pg_temp.ids(api.list_media(p_q => 'fox')), array['1'], 'and finds only his own');
select is(api.media_stats() -> 'total', '1'::jsonb, 'his stats count his own');
select throws_ok($$ select api.update_generation('12000000-0000-4000-8000-000000000001', '{"is_favorite": false}') $$,
  'PT404', 'generation not found', 'Bob cannot patch Alice''s generation');
select is(api.delete_generations(array['12000000-0000-4000-8000-000000000001'::uuid]),
  '{"deleted": [], "not_found": ["12000000-0000-4000-8000-000000000001"]}'::jsonb,
  'Bob cannot delete Alice''s generation: it is simply not found');
select throws_ok($$ select api.purge_deleted_generations() $$, '42501', null, 'a user cannot purge');

/** Alice deletes */

select set_config('request.jwt.claims', '{"sub": "12000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select is(api.delete_generations(array['12000000-0000-4000-8000-000000000002', '12000000-0000-4000-8000-0000000000b1',
                                       '12000000-0000-4000-8000-000000000002', '12000000-0000-4000-8000-000000000006']::uuid[]),
  '{"deleted": ["12000000-0000-4000-8000-000000000002"],
    "not_found": ["12000000-0000-4000-8000-0000000000b1", "12000000-0000-4000-8000-000000000006"]}'::jsonb,
  'a bulk delete says which were deleted; Bob''s and an already deleted one are not found');
select is(pg_temp.ids(api.list_media()), array['5', '4', '3', '1'], 'the deleted one vanishes from the list at once');
select is(pg_temp.ids(api.list_media(p_kinds => array['video'])), '{}'::text[], 'and from its kind');
select is(api.media_stats() -> 'by_kind' -> 'video', '0'::jsonb, 'and from the stats');
select throws_ok($$ select api.get_generation('12000000-0000-4000-8000-000000000002') $$, 'PT404', 'generation not found',
  'and from get_generation');
select throws_ok(format($$ select api.delete_generations(array(select gen_random_uuid() from generate_series(1, 101))) $$),
  'PT400', 'ids must list 1 to 100 generation ids', 'more than 100 ids are refused');
select throws_ok($$ select api.delete_generations('{}') $$, 'PT400', null, 'no ids are refused');

/** Anon and a disabled user */

reset role;
update public.profiles set is_active = false where id = '12000000-0000-4000-8000-000000000c0c';
insert into public.generations (id, user_id, kind, action, model, prompt, route, pricing_id, units)
values ('12000000-0000-4000-8000-0000000000c1', '12000000-0000-4000-8000-000000000c0c', 'image', 'generate',
  'flux-schnell', 'mine', 'provider', (select id from public.pricing where model = 'flux-schnell'), 1);
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "12000000-0000-4000-8000-000000000c0c", "role": "authenticated"}', true);
select is(pg_temp.ids(api.list_media()), array['1'], 'a disabled user still reads their library');
select throws_ok($$ select api.delete_generations(array['12000000-0000-4000-8000-0000000000c1'::uuid]) $$,
  'PT403', 'account is disabled', 'and changes nothing');

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.list_media() $$, '42501', null, 'anon cannot list');
select throws_ok($$ select api.media_stats() $$, '42501', null, 'anon cannot read stats');

/** The purge keeps the money history */

reset role;
select private.change_credits('12000000-0000-4000-8000-00000000a11c', 'grant', 100, 'test:grant', null, 'test');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "12000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
create temp table paid as
select (api.create_generation('image', 'flux-schnell', 'a paid fox', '{}') -> 'generation' ->> 'id')::uuid as id;
reset role;
select private.finish_generation((select id from paid), 'succeeded', '["https://p.test/paid.png"]');
update public.generations set deleted_at = now() - interval '31 days'
where id in ((select id from paid), '12000000-0000-4000-8000-000000000006');
update public.generations set deleted_at = now() - interval '29 days' where id = '12000000-0000-4000-8000-000000000002';

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(api.purge_deleted_generations(), 2, 'the purge removes what was deleted over 30 days ago');
reset role;
select is(
  (select array_agg(right(id::text, 1) order by id) from public.generations
   where user_id = '12000000-0000-4000-8000-00000000a11c'),
  array['1', '2', '3', '4', '5'],
  'recently deleted and live generations stay');
select is(
  (select jsonb_build_object('usage', count(*), 'credits', sum(credits), 'unlinked', count(*) filter (where generation_id is null))
   from public.usage_events where user_id = '12000000-0000-4000-8000-00000000a11c'),
  '{"usage": 1, "credits": 5, "unlinked": 1}'::jsonb,
  'the usage event survives, unlinked');
select is(
  (select count(*) from public.credit_ledger where generation_id = (select id from paid)),
  2::bigint, 'the ledger keeps its reserve and settle entries, with the id');
select is(
  (select jsonb_build_object('status', status, 'generation_id', generation_id) from public.credit_holds
   where account_id = (select id from public.credit_accounts where owner_user_id = '12000000-0000-4000-8000-00000000a11c')),
  '{"status": "settled", "generation_id": null}'::jsonb, 'the settled hold survives, unlinked');
select is(api.audit_credits(), '[]'::jsonb, 'the books still balance');

select * from finish();
rollback;
