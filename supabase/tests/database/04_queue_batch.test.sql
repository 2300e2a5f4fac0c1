-- Batched completion: a worker completes several of its leased tasks in one call. A malformed
-- batch is refused whole; a task the worker does not hold is reported and left alone while
-- the others complete; every generation is charged exactly once, however often a batch is
-- replayed or raced by the single completion.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(25);

insert into auth.users (id, email) values
  ('40000000-0000-4000-8000-0000000ba11c', 'alice.batch@example.test'),
  ('40000000-0000-4000-8000-0000000bb0b0', 'bob.batch@example.test');
select private.change_credits(u, 'grant', 1000, 'test:grant', null, 'test')
from unnest(array['40000000-0000-4000-8000-0000000ba11c', '40000000-0000-4000-8000-0000000bb0b0']::uuid[]) u;

create temp table ids (name text primary key, id uuid, key text);
grant all on ids to public;

-- Four GPU generations of a minute's budget (30 credits reserved each): g1, g2, g5 are
-- alice's, g3 is bob's. Nothing else is due while this test runs.
update public.tasks set run_at = now() + interval '1 day' where status = 'queued';
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-0000000ba11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g' || n, (api.create_generation('video', 'wan-2.1-gpu', 'batch ' || n, '{"duration": 1}') -> 'generation' ->> 'id')::uuid
from unnest(array[1, 2, 5]) n;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-0000000bb0b0", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g3', (api.create_generation('video', 'wan-2.1-gpu', 'batch 3', '{"duration": 1}') -> 'generation' ->> 'id')::uuid;
reset role;
insert into ids (name, id)
select 't' || substr(i.name, 2), t.id from ids i join public.tasks t on t.generation_id = i.id;

-- Worker a leases t1, t2, t3 and t5; worker b leases nothing yet.
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
insert into ids (name, id, key)
select w, (r ->> 'worker_id')::uuid, r ->> 'worker_key'
from unnest(array['a', 'b']) w, api.register_worker('batch-' || w, array['wan_video']) r;
select is(jsonb_array_length(api.worker_claim((select key from ids where name = 'a'), null, 10)), 4,
  'worker a leases the four tasks');

create function pg_temp.result(p_task text, p_seconds numeric) returns jsonb language sql as $$
  select jsonb_build_object('task_id', (select id from ids where name = p_task),
    'output', jsonb_build_object('output_location', 'gs://bucket/' || p_task || '.mp4'),
    'duration_seconds', p_seconds)
$$;
create function pg_temp.batch(p_worker text, p_results jsonb) returns jsonb language sql as $$
  select api.worker_complete_batch((select key from ids where name = p_worker), p_results)
$$;

/** A malformed batch is refused whole */

select throws_ok($$ select pg_temp.batch('a', '{}') $$, 'PT400', 'results must be an array of 1 to 100 items',
  'results must be an array');
select throws_ok($$ select pg_temp.batch('a', '[]') $$, 'PT400', 'results must be an array of 1 to 100 items',
  'an empty batch is refused');
select throws_ok(
  $$ select pg_temp.batch('a', (select jsonb_agg(pg_temp.result('t1', 1)) from generate_series(1, 101))) $$,
  'PT400', 'results must be an array of 1 to 100 items', 'more than claim_limit_max items are refused');
select throws_ok(
  $$ select pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', 1), '{"task_id": "nope", "output": {}, "duration_seconds": 1}'::jsonb)) $$,
  'PT400', 'results[1]: task_id must be a uuid', 'an item without a valid task id is refused, named by its index');
select throws_ok(
  $$ select pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', 1) || '{"output": []}')) $$,
  'PT400', 'results[0]: output must be a JSON object of at most 16384 bytes', 'an output must be an object');
select throws_ok(
  $$ select pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', -1))) $$,
  'PT400', 'results[0]: duration_seconds must be between 0 and 86400', 'a duration must be within its limits');
select throws_ok(
  $$ select pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', 1) || '{"duration_seconds": "5"}')) $$,
  'PT400', 'results[0]: duration_seconds must be a number', 'a duration must be a number');
select throws_ok(
  $$ select pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', 1) || '{"status": "succeeded"}')) $$,
  'PT400', 'results[0]: only task_id, output and duration_seconds are allowed', 'unknown fields are refused');
select throws_ok(
  $$ select pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', 1), pg_temp.result('t2', 1), pg_temp.result('t1', 2))) $$,
  'PT400', 'each task may be listed once', 'a task listed twice is refused');
select throws_ok(
  $$ select api.worker_complete_batch('gw_not-a-key', jsonb_build_array(pg_temp.result('t1', 1))) $$,
  'PT403', 'invalid worker key', 'an unknown key is refused');
select is(
  (select count(*)::int from public.tasks where id in (select id from ids where name like 't%') and status = 'running'),
  4,
  'the refused batches completed nothing'
);

/** A stranger completes nothing */

select is(
  pg_temp.batch('b', jsonb_build_array(pg_temp.result('t1', 10), pg_temp.result('t3', 10))),
  jsonb_build_array(
    jsonb_build_object('task_id', (select id from ids where name = 't1'), 'error', '{"code": "PT409", "message": "lease lost"}'::jsonb),
    jsonb_build_object('task_id', (select id from ids where name = 't3'), 'error', '{"code": "PT409", "message": "lease lost"}'::jsonb)),
  'worker b is told it holds neither lease'
);
select results_eq(
  $$ select t.status, g.status, g.credits_charged from public.tasks t join public.generations g on g.id = t.generation_id
     where t.id = (select id from ids where name = 't1') $$,
  $$ values ('running', 'processing', null::bigint) $$,
  'and a''s task is untouched and uncharged'
);

/** One batch, several users, per-item outcomes */

-- g5 is canceled while its task runs: the batch reports its lease lost and charges nothing.
reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-0000000ba11c", "role": "authenticated"}', true);
select is(api.cancel_generation((select id from ids where name = 'g5')) ->> 'status', 'canceled', 'alice cancels g5');
reset role;
set local role service_role;

select is(
  pg_temp.batch('a', jsonb_build_array(pg_temp.result('t3', 20), pg_temp.result('t5', 20), pg_temp.result('t1', 10),
    jsonb_build_object('task_id', '40000000-0000-4000-8000-00000000dead', 'output', '{}'::jsonb, 'duration_seconds', 1),
    pg_temp.result('t2', 5000))),
  jsonb_build_array(
    jsonb_build_object('task_id', (select id from ids where name = 't3'), 'status', 'succeeded', 'overrun', false),
    jsonb_build_object('task_id', (select id from ids where name = 't5'), 'error', '{"code": "PT409", "message": "lease lost"}'::jsonb),
    jsonb_build_object('task_id', (select id from ids where name = 't1'), 'status', 'succeeded', 'overrun', false),
    '{"task_id": "40000000-0000-4000-8000-00000000dead", "error": {"code": "PT409", "message": "lease lost"}}'::jsonb,
    jsonb_build_object('task_id', (select id from ids where name = 't2'), 'status', 'succeeded', 'overrun', true)),
  'worker a completes its three live tasks; the canceled and the unknown one are reported, in input order'
);
select results_eq(
  $$ select i.name, g.status, g.credits_charged, t.duration_seconds, t.output ->> 'output_location'
     from ids i join public.generations g on g.id = i.id join public.tasks t on t.generation_id = g.id
     where i.name in ('g1', 'g2', 'g3', 'g5') order by i.name $$,
  $$ values ('g1', 'succeeded', 5::bigint, 10::numeric, 'gs://bucket/t1.mp4'),
            ('g2', 'succeeded', 30::bigint, 5000::numeric, 'gs://bucket/t2.mp4'),
            ('g3', 'succeeded', 10::bigint, 20::numeric, 'gs://bucket/t3.mp4'),
            ('g5', 'canceled', 0::bigint, null::numeric, null) $$,
  'each generation is charged its own duration, capped by its budget; the canceled one nothing'
);
select results_eq(
  $$ select (select balance from public.credit_accounts where owner_user_id = u), (select held from public.credit_accounts where owner_user_id = u)
     from unnest(array['40000000-0000-4000-8000-0000000ba11c', '40000000-0000-4000-8000-0000000bb0b0']::uuid[]) with ordinality x (u, n)
     order by n $$,
  $$ values (965::bigint, 0::bigint), (990::bigint, 0::bigint) $$,
  'alice paid 5 + 30, bob 10, and no credits stay held'
);

/** Settled exactly once, whatever comes after */

select is(
  pg_temp.batch('a', jsonb_build_array(pg_temp.result('t1', 99), pg_temp.result('t3', 99))),
  jsonb_build_array(
    jsonb_build_object('task_id', (select id from ids where name = 't1'), 'error', '{"code": "PT409", "message": "lease lost"}'::jsonb),
    jsonb_build_object('task_id', (select id from ids where name = 't3'), 'error', '{"code": "PT409", "message": "lease lost"}'::jsonb)),
  'a replayed batch finds the tasks finished'
);
select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 99)', (select key from ids where name = 'a'), (select id from ids where name = 't2'), '{}'),
  'PT409', 'lease lost', 'and so does the single completion'
);
select is(
  (select array_agg(n order by i.name) from ids i
   cross join lateral (select count(*)::int n from public.credit_ledger l where l.generation_id = i.id and l.kind in ('settle', 'release')) c
   where i.name in ('g1', 'g2', 'g3', 'g5')),
  array[1, 1, 1, 1],
  'each hold was resolved once'
);
select is(
  (select array_agg(t.status order by t.id) from public.tasks t where t.id in (select id from ids where name like 't%')),
  (select array_agg(s order by id) from (select id, case when name = 't5' then 'canceled' else 'succeeded' end s
                                        from ids where name like 't%') x),
  'every task ended once: succeeded, or canceled with its generation'
);
select is(api.audit_credits(), '[]'::jsonb, 'audit_credits finds no violation');

/** Only the service role calls it */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-0000000ba11c", "role": "authenticated"}', true);
select throws_ok(
  format('select api.worker_complete_batch(%L, %L)', (select key from ids where name = 'a'), '[]'),
  '42501', null, 'users cannot complete tasks, even with a worker key'
);
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok(
  format('select api.worker_complete_batch(%L, %L)', (select key from ids where name = 'a'), '[]'),
  '42501', null, 'anon cannot either'
);

select * from finish();
rollback;
