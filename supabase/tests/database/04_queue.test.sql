-- Queue: GPU generations become tasks; only the worker holding the lease may touch a
-- task; retries back off, then die and release the credits; completion charges the GPU
-- time exactly once; users see none of it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(59);

insert into auth.users (id, email) values
  ('40000000-0000-4000-8000-00000000a11c', 'alice.queue@example.test'),
  ('40000000-0000-4000-8000-00000000ad01', 'admin.queue@example.test');
update public.profiles set role = 'admin' where id = '40000000-0000-4000-8000-00000000ad01';
select private.change_credits('40000000-0000-4000-8000-00000000a11c', 'grant', 1000, 'test:grant', null, 'test');

-- Worker keys, generation and task ids, shared across role switches.
create temp table ids (name text primary key, id uuid, key text);
grant all on ids to public;

/** Workers */

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);

insert into ids (name, id, key)
select w.name, (r ->> 'worker_id')::uuid, r ->> 'worker_key'
from (values ('a', array['wan_video']), ('b', array['wan_video']), ('c', array['upscale'])) w (name, caps),
     api.register_worker('worker-' || w.name, w.caps) r;

select ok((select bool_and(key ~ '^gw_[0-9a-f]{64}$') from ids), 'worker keys are gw_ + 64 random hex digits');
select is(
  (select count(*)::int from public.workers w join ids on ids.id = w.id
   where w.key_hash = encode(sha256(convert_to(ids.key, 'UTF8')), 'hex')
     and position(ids.key in w::text) = 0),
  3,
  'workers store the sha256 of the key, never the key'
);
select throws_ok(
  $$ select api.register_worker('x', array[]::text[]) $$,
  'PT400', 'capabilities must list 1 to 50 task types of 1 to 64 characters [a-z0-9_.-]',
  'a worker needs capabilities'
);

/** A GPU generation is enqueued in the same transaction */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into ids (name, id)
select 'g1', (r -> 'generation' ->> 'id')::uuid
from api.create_generation('video', 'wan-2.1-gpu', 'a fox running', '{"duration": 10}') r;
select is(
  api.create_generation('video', 'wan-2.1-gpu', 'another', '{"duration": 1}', 'gpu-key') ->> 'route',
  'gpu',
  'a gpu model routes to the queue'
);

reset role;
select results_eq(
  $$ select t.task_type, t.status, t.params -> 'input', t.max_seconds, g.credits_reserved
     from public.tasks t join public.generations g on g.id = t.generation_id
     where g.id = (select id from ids where name = 'g1') $$,
  $$ values ('wan_video', 'queued', '{"prompt": "a fox running", "duration_seconds": 10, "resolution": "480p"}'::jsonb,
             600::numeric, 300::bigint) $$,
  'create_generation enqueued the validated input with a budget of 10 s x 60 GPU s, and reserved 600 x 0.5 credits'
);
-- Only g1 is due; the other GPU task waits.
update public.tasks set run_at = now() + interval '1 day'
where generation_id <> (select id from ids where name = 'g1');

/** Claiming */

set local role service_role;

select is(
  api.worker_claim((select key from ids where name = 'c')),
  '[]'::jsonb,
  'a worker without the capability claims nothing'
);
select throws_ok(
  $$ select api.worker_claim('gw_not-a-key') $$,
  'PT403', 'invalid worker key',
  'an unknown key is refused'
);
insert into ids (name, id)
select 't1', (api.worker_claim((select key from ids where name = 'a'), null, 5, 60) -> 0 ->> 'id')::uuid;
select is(
  (select generation_id from public.tasks where id = (select id from ids where name = 't1')),
  (select id from ids where name = 'g1'),
  'worker a claims the due task'
);
select is(
  (select status from public.generations where id = (select id from ids where name = 'g1')),
  'processing',
  'its generation is processing'
);
select is(api.worker_claim((select key from ids where name = 'b')), '[]'::jsonb, 'worker b finds nothing left to claim');

/** Only the lease holder may act */

select throws_ok(
  format('select api.worker_heartbeat(%L, %L)', (select key from ids where name = 'b'), (select id from ids where name = 't1')),
  'PT409', 'lease lost', 'worker b cannot heartbeat a''s task'
);
select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 10)', (select key from ids where name = 'b'), (select id from ids where name = 't1'), '{}'),
  'PT409', 'lease lost', 'worker b cannot complete a''s task'
);
select throws_ok(
  format('select api.worker_fail(%L, %L, %L)', (select key from ids where name = 'b'), (select id from ids where name = 't1'), 'x'),
  'PT409', 'lease lost', 'worker b cannot fail a''s task'
);
select throws_ok(
  format('select api.worker_heartbeat(%L, %L)', (select key from ids where name = 'a'), gen_random_uuid()),
  'PT409', 'lease lost', 'an unknown task is not leased either'
);
select ok(
  (api.worker_heartbeat((select key from ids where name = 'a'), (select id from ids where name = 't1'), 120)
    ->> 'lease_expires_at')::timestamptz = now() + interval '120 seconds',
  'worker a extends its lease'
);

/** Completion charges GPU seconds exactly once */

select is(
  api.worker_complete((select key from ids where name = 'a'), (select id from ids where name = 't1'),
    '{"output_location": "gs://bucket/fox.mp4", "duration": 5}', 120) ->> 'status',
  'succeeded',
  'worker a completes its task'
);
select results_eq(
  $$ select status, credits_charged, outputs ->> 'output_location' from public.generations
     where id = (select id from ids where name = 'g1') $$,
  $$ values ('succeeded', 60::bigint, 'gs://bucket/fox.mp4') $$,
  'the generation succeeded and was charged 120 s x 0.5 credits'
);
select is(
  (select overrun from public.tasks where id = (select id from ids where name = 't1')),
  false,
  'a completion within the budget is not flagged'
);
select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 999)', (select key from ids where name = 'a'), (select id from ids where name = 't1'), '{}'),
  'PT409', 'lease lost', 'a late second completion is refused'
);
select is(
  (select count(*)::int from public.credit_ledger where generation_id = (select id from ids where name = 'g1') and kind = 'settle'),
  1,
  'the generation was settled once'
);

/** Retries back off, then the task dies and the hold is released */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g2', (api.create_generation('video', 'wan-2.1-gpu', 'retry me', '{"duration": 1}') -> 'generation' ->> 'id')::uuid;

reset role;
set local role service_role;
insert into ids (name, id)
select 't2', (api.worker_claim((select key from ids where name = 'a')) -> 0 ->> 'id')::uuid;
select is(
  api.worker_fail((select key from ids where name = 'a'), (select id from ids where name = 't2'), 'CUDA out of memory') - 'id' - 'run_at'
    - 'params' - 'created_at' - 'updated_at' - 'started_at' - 'generation_id',
  jsonb_build_object('task_type', 'wan_video', 'priority', 0, 'status', 'queued', 'attempts', 1, 'max_attempts', 3,
    'lease_expires_at', null, 'worker_id', null, 'output', null, 'output_location', null,
    'last_error', 'CUDA out of memory', 'duration_seconds', null, 'completed_at', null,
    'max_seconds', 60, 'overrun', false),
  'a retryable failure requeues the task'
);
select ok(
  (select run_at between now() + interval '5 seconds' and now() + interval '10 seconds'
   from public.tasks where id = (select id from ids where name = 't2')),
  'after a jittered backoff of 5-10 s for the first retry'
);
select is(api.worker_claim((select key from ids where name = 'a')), '[]'::jsonb, 'a backed-off task is not claimable yet');
select is(
  (select status from public.generations where id = (select id from ids where name = 'g2')),
  'processing',
  'the generation stays processing between attempts'
);

reset role;
update public.tasks set run_at = now() where id = (select id from ids where name = 't2');
set local role service_role;
select is(
  api.worker_claim((select key from ids where name = 'b')) -> 0 ->> 'attempt',
  '2',
  'another worker picks up the retry'
);
select is(
  api.worker_fail((select key from ids where name = 'b'), (select id from ids where name = 't2'), 'again') ->> 'status',
  'queued',
  'the second failure requeues it too'
);
reset role;
update public.tasks set run_at = now() where id = (select id from ids where name = 't2');
set local role service_role;
select is(api.worker_claim((select key from ids where name = 'a')) -> 0 ->> 'attempt', '3', 'the last attempt is claimed');
select is(
  api.worker_fail((select key from ids where name = 'a'), (select id from ids where name = 't2'), 'still broken') ->> 'status',
  'dead',
  'the task is dead after max_attempts'
);
select results_eq(
  $$ select g.status, g.credits_charged, h.status from public.generations g
     join public.credit_holds h on h.generation_id = g.id where g.id = (select id from ids where name = 'g2') $$,
  $$ values ('failed', 0::bigint, 'released') $$,
  'its generation failed and the hold was released'
);

/** Non-retryable failures end at once */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g3', (api.create_generation('video', 'wan-2.1-gpu', 'bad input', '{"duration": 1}') -> 'generation' ->> 'id')::uuid;
reset role;
set local role service_role;
insert into ids (name, id)
select 't3', (api.worker_claim((select key from ids where name = 'a')) -> 0 ->> 'id')::uuid;
select is(
  api.worker_fail((select key from ids where name = 'a'), (select id from ids where name = 't3'), 'invalid prompt', false) ->> 'status',
  'failed',
  'a non-retryable failure fails the task'
);
select is(
  (select status || ': ' || error from public.generations where id = (select id from ids where name = 'g3')),
  'failed: the GPU worker could not complete this generation; no credits were charged',
  'and its generation, with a sanitized error for the user'
);
select is(
  (select last_error from public.tasks where id = (select id from ids where name = 't3')),
  'invalid prompt',
  'the worker''s own words stay in the task'
);

/** Expired leases */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g4', (api.create_generation('video', 'wan-2.1-gpu', 'slow worker', '{"duration": 1}') -> 'generation' ->> 'id')::uuid;
reset role;
set local role service_role;
insert into ids (name, id)
select 't4', (api.worker_claim((select key from ids where name = 'a')) -> 0 ->> 'id')::uuid;
reset role;
update public.tasks set lease_expires_at = now() - interval '1 second' where id = (select id from ids where name = 't4');
set local role service_role;

select throws_ok(
  format('select api.worker_heartbeat(%L, %L)', (select key from ids where name = 'a'), (select id from ids where name = 't4')),
  'PT409', 'lease lost', 'a heartbeat after the lease expired is refused'
);
select is(api.sweep_expired_leases(), 1, 'the sweep returns the expired task');
select results_eq(
  $$ select status, attempts, worker_id is null from public.tasks where id = (select id from ids where name = 't4') $$,
  $$ values ('queued', 1, true) $$,
  'the task is queued again with the attempt counted'
);
select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 10)', (select key from ids where name = 'a'), (select id from ids where name = 't4'), '{}'),
  'PT409', 'lease lost', 'the worker that lost the lease cannot complete'
);
select is(
  (select credits_charged from public.generations where id = (select id from ids where name = 'g4')),
  null,
  'and nothing was charged'
);

/** Canceling a generation cancels its task */

reset role;
update public.tasks set run_at = now() where id = (select id from ids where name = 't4');
set local role service_role;
select is(
  api.worker_claim((select key from ids where name = 'b')) -> 0 ->> 'id',
  (select id::text from ids where name = 't4'),
  'worker b claims the requeued task'
);
reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select is(api.cancel_generation((select id from ids where name = 'g4')) ->> 'status', 'canceled', 'alice cancels the running generation');
reset role;
select is((select status from public.tasks where id = (select id from ids where name = 't4')), 'canceled', 'its running task is canceled');
set local role service_role;
select throws_ok(
  format('select api.worker_complete(%L, %L, %L, 10)', (select key from ids where name = 'b'), (select id from ids where name = 't4'), '{}'),
  'PT409', 'lease lost', 'the worker''s late completion is refused'
);

/** Users see and run none of it */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select is_empty($$ select * from public.tasks $$, 'users read no tasks');
select throws_ok($$ select * from public.workers $$, '42501', null, 'users cannot read workers');
select throws_ok($$ select * from public.provider_tokens $$, '42501', null, 'users cannot read provider tokens');
select throws_ok(
  format('select api.worker_claim(%L)', (select key from ids where name = 'a')),
  '42501', null, 'users cannot claim even with a valid worker key'
);
select throws_ok($$ select api.register_worker('mine', array['wan_video']) $$, '42501', null, 'users cannot register workers');
select throws_ok($$ select api.sweep_expired_leases() $$, '42501', null, 'users cannot sweep leases');
select throws_ok($$ select api.next_provider_token('replicate') $$, '42501', null, 'users cannot take provider tokens');
select throws_ok($$ select api.admin_queue_stats() $$, 'PT403', 'admin role required', 'users cannot read queue stats');
select throws_ok($$ select api.admin_register_worker('mine', array['wan_video']) $$, 'PT403', 'admin role required',
  'users cannot register workers through the admin RPC');

select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);
select is(
  api.admin_queue_stats() -> 'dead' -> 0 ->> 'id',
  (select id::text from ids where name = 't2'),
  'an admin sees the dead task in the queue stats'
);
select ok(api.admin_register_worker('admin-made', array['wan_video']) ->> 'worker_key' like 'gw\_%', 'an admin can register a worker');

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok(
  format('select api.worker_claim(%L)', (select key from ids where name = 'a')),
  '42501', null, 'anon cannot claim'
);

/** Provider tokens rotate and trip */

reset role;
insert into public.provider_tokens (id, provider, token) values
  ('40000000-0000-4000-8000-0000000000f1', 'replicate-test', 'r8_first'),
  ('40000000-0000-4000-8000-0000000000f2', 'replicate-test', 'r8_second');
set local role service_role;
select is(
  array[api.next_provider_token('replicate-test') ->> 'token', api.next_provider_token('replicate-test') ->> 'token',
        api.next_provider_token('replicate-test') ->> 'token'],
  array['r8_first', 'r8_second', 'r8_first'],
  'tokens are handed out round robin'
);
select api.report_provider_token('40000000-0000-4000-8000-0000000000f2', 'auth_error') from generate_series(1, 5);
select is(
  array[api.next_provider_token('replicate-test') ->> 'token', api.next_provider_token('replicate-test') ->> 'token'],
  array['r8_first', 'r8_first'],
  'five consecutive auth errors disable a token'
);
select throws_ok($$ select api.next_provider_token('nobody') $$, 'PT503', 'no active token for nobody',
  'a provider without tokens is unavailable');

select is(api.audit_credits(), '[]'::jsonb, 'audit_credits finds no violation');

/** A worker that reports more than the budget is charged the budget, and flagged */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "40000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g9', (api.create_generation('video', 'wan-2.1-gpu', 'overrun', '{"duration": 1}') -> 'generation' ->> 'id')::uuid;
reset role;
update public.tasks set run_at = now() + interval '1 day' where status = 'queued';
update public.tasks set run_at = now() where generation_id = (select id from ids where name = 'g9');
set local role service_role;
insert into ids (name, id)
select 't9', (api.worker_claim((select key from ids where name = 'a')) -> 0 ->> 'id')::uuid;
select is(
  (select (api.worker_complete((select key from ids where name = 'a'), (select id from ids where name = 't9'), '{}', 5000)
     ->> 'overrun')::boolean),
  true,
  'a completion over the 60 s budget is flagged for operators'
);
select results_eq(
  $$ select credits_charged, credits_reserved, (metrics ->> 'overrun')::boolean from public.generations
     where id = (select id from ids where name = 'g9') $$,
  $$ values (30::bigint, 30::bigint, true) $$,
  'and charged the budget (60 s x 0.5), never the 5000 s reported'
);

select * from finish();
rollback;
