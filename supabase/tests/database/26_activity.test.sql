-- Activity, errors, performance, costs and retention (activity migration), and the job
-- registry (sweeps migration): who reads what (a stranger, a user, a moderator, an admin),
-- what the request log writes, the roll-up's figures, and that each job does its work once,
-- within its bound, with the credit audit still empty.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(66);

insert into auth.users (id, email) values
  ('26000000-0000-4000-8000-00000000a11c', 'alice.activity@example.test'),
  ('26000000-0000-4000-8000-000000000b0b', 'bob.activity@example.test'),
  ('26000000-0000-4000-8000-00000000d0d0', 'mod.activity@example.test'),
  ('26000000-0000-4000-8000-00000000adad', 'admin.activity@example.test');
update public.profiles set role = 'moderator' where id = '26000000-0000-4000-8000-00000000d0d0';
update public.profiles set role = 'admin' where id = '26000000-0000-4000-8000-00000000adad';

create function pg_temp.as_user(p_id text) returns void
language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', p_id, 'role', 'authenticated')::text, true);
$$;

/** The job registry */

select is_empty(
  $$ select name from private.scheduled_jobs where to_regprocedure(fn) is null $$,
  'every registered job names a function that exists once all migrations ran'
);
select ok(
  (select count(*) >= 9 from private.scheduled_jobs
   where name in ('genbase-sweep-expired-holds', 'genbase-sweep-expired-leases',
     'genbase-purge-deleted-generations', 'genbase-sweep-stuck-replies', 'genbase-rollup-performance',
     'genbase-cleanup-old-generations', 'genbase-archive-conversations', 'genbase-log-retention',
     'genbase-purge-deleted-rows')),
  'the sweeps and the activity jobs are registered'
);
select throws_ok(
  $$ insert into private.scheduled_jobs (name, schedule, every, fn) values ('genbase-x', '* * *', '1 minute', 'api.x()') $$,
  '23514', null, 'a schedule without five cron fields is refused'
);
select throws_ok(
  $$ insert into private.scheduled_jobs (name, schedule, every, fn) values ('genbase-x', '* * * * *', '1 minute', 'api.x(); drop table y') $$,
  '23514', null, 'a job is one call without arguments'
);
select throws_ok($$ select private.schedule_sweeps() $$, 'P0001',
  'pg_cron is not installed: enable it (create extension pg_cron, or the Integrations page on Supabase), then run select private.schedule_sweeps()',
  'without pg_cron, scheduling says what to do');

-- A job that raises, for run_due_jobs to survive.
create function pg_temp.boom() returns int language plpgsql as $$
begin
  raise exception 'boom';
end
$$;
insert into private.scheduled_jobs (name, schedule, every, fn)
values ('genbase-test-boom', '* * * * *', '1 hour', 'pg_temp.boom()');

-- What the local sweeper does each tick: call until no job is due, each call one job.
create function pg_temp.run_all_due() returns jsonb
language plpgsql as $$
declare
  v_all jsonb := '{}';
  v_one jsonb;
begin
  for i in 1..50 loop
    v_one := api.run_due_jobs();
    exit when v_one = '{}';
    if v_all ?| array(select jsonb_object_keys(v_one)) then
      raise exception 'job % ran twice', v_one;
    end if;
    v_all := v_all || v_one;
  end loop;
  return v_all;
end
$$;
grant execute on function pg_temp.run_all_due() to service_role;

-- As if no job had run yet (a stack's sweeper may have run them): the rows stay locked by
-- this transaction, so a sweeper skips them meanwhile.
update private.scheduled_jobs set last_run_at = null;

set local role service_role;
select is(jsonb_array_length(jsonb_path_query_array(api.run_due_jobs(), '$.keyvalue()')), 1,
  'run_due_jobs runs one job per call');
select ok(
  (select pg_temp.run_all_due() ?& array['genbase-sweep-expired-holds', 'genbase-rollup-performance', 'genbase-purge-deleted-rows']),
  'called until it answers {}, it runs every job never run, each once'
);
reset role;
select is(
  (select last_error from private.scheduled_jobs where name = 'genbase-test-boom'),
  'boom (SQLSTATE P0001)',
  'a job that raises is recorded with its error'
);
select is(
  (select count(*)::int from private.scheduled_jobs where last_run_at is null),
  0,
  'and the others still ran: each has run once'
);
set local role service_role;
select is(api.run_due_jobs(), '{}'::jsonb, 'right after, no job is due');
reset role;
delete from private.scheduled_jobs where name = 'genbase-test-boom';

set local role authenticated;
select pg_temp.as_user('26000000-0000-4000-8000-00000000adad');
select throws_ok($$ select api.run_due_jobs() $$, '42501', null, 'even an admin cannot run the jobs through the API');
select throws_ok($$ select * from private.scheduled_jobs $$, '42501', null, 'nor read the registry');
reset role;

/** What the request log writes */

set local role service_role;
select api.log_requests(
  jsonb_build_array(
    jsonb_build_object('function', 'projects', 'method', 'POST', 'path', '/v1/projects', 'status', 201,
      'duration_ms', 40, 'user_id', '26000000-0000-4000-8000-00000000a11c', 'request_id', 'req-26-create',
      'at_ms', (extract(epoch from now()) * 1000)::bigint - 3000),
    jsonb_build_object('function', 'projects', 'method', 'patch',
      'path', '/v1/projects/0b1c2d3e-0000-4000-8000-000000000001/shots/17', 'status', 200,
      'duration_ms', 20, 'user_id', '26000000-0000-4000-8000-00000000a11c', 'request_id', 'req-26-patch',
      'at_ms', (extract(epoch from now()) * 1000)::bigint - 2000),
    jsonb_build_object('function', 'projects', 'method', 'GET', 'path', '/v1/projects', 'status', 200,
      'duration_ms', 10, 'user_id', '26000000-0000-4000-8000-00000000a11c', 'request_id', 'req-26-list'),
    jsonb_build_object('function', 'projects', 'method', 'POST', 'path', '/v1/projects', 'status', 400,
      'duration_ms', 5, 'user_id', '26000000-0000-4000-8000-00000000a11c', 'request_id', 'req-26-bad'),
    jsonb_build_object('function', 'projects', 'method', 'DELETE',
      'path', '/v1/projects/0b1c2d3e-0000-4000-8000-000000000001', 'status', 502,
      'duration_ms', 100, 'user_id', '26000000-0000-4000-8000-000000000b0b', 'request_id', 'req-26-bob-502')
  ),
  '[{"function": "projects", "status": 401, "minute": 1767225600, "requests": 3}]',
  jsonb_build_array(
    jsonb_build_object('function', 'projects', 'method', 'DELETE',
      'path', '/v1/projects/0b1c2d3e-0000-4000-8000-000000000001', 'status', 502,
      'duration_ms', 100, 'user_id', '26000000-0000-4000-8000-000000000b0b', 'request_id', 'req-26-bob-502'),
    jsonb_build_object('function', 'projects', 'method', 'GET', 'path', '/v1/projects', 'status', 500,
      'duration_ms', 7, 'user_id', null, 'request_id', 'req-26-anon-500')
  )
);
reset role;

select results_eq(
  $$ select action, request_id from public.user_activity
     where user_id = '26000000-0000-4000-8000-00000000a11c' order by created_at $$,
  $$ values ('POST /v1/projects', 'req-26-create'), ('PATCH /v1/projects/:id/shots/:id', 'req-26-patch') $$,
  'a user''s successful writes are their activity, ids out of the action; reads and refusals are not'
);
select is(
  (select count(*)::int from public.user_activity where user_id = '26000000-0000-4000-8000-000000000b0b'),
  0, 'a failed write is no activity'
);
select results_eq(
  $$ select request_id, route, status_code, user_id from public.error_logs
     where request_id like 'req-26-%' order by request_id $$,
  $$ values ('req-26-anon-500', '/v1/projects', 500, null::uuid),
            ('req-26-bob-502', '/v1/projects/:id', 502, '26000000-0000-4000-8000-000000000b0b'::uuid) $$,
  'every 5xx is an error row with its request id, an anonymous one too'
);
select ok(
  (select bool_and(route !~ '[0-9a-f]{8}-' and method in ('GET', 'DELETE')) from public.error_logs where request_id like 'req-26-%'),
  'an error row keeps the method apart and no id of the path'
);
set local role service_role;
select throws_ok(
  $$ select api.log_requests('[]', '[]', '[{"function": "p", "method": "GET", "path": "/", "status": 404, "request_id": "r"}]') $$,
  'PT400', null, 'an error entry is a 5xx'
);
select throws_ok(
  $$ select api.log_requests('[]', '[]', '[{"function": "p", "method": "GET", "path": "/", "status": 500}]') $$,
  'PT400', null, 'an error entry has its request id'
);
select lives_ok($$ select api.log_requests('[]', '[]') $$, 'the functions may still leave the errors out');
reset role;

/** Reading activity */

set local role authenticated;
select pg_temp.as_user('26000000-0000-4000-8000-00000000a11c');
select is(jsonb_array_length(api.list_my_activity() -> 'items'), 2, 'a user lists their activity');
select is(api.list_my_activity(p_limit => 1) -> 'items' -> 0 ->> 'request_id', 'req-26-patch', 'newest first');
select is(
  api.list_my_activity(p_limit => 1,
    p_cursor_created_at => (api.list_my_activity(p_limit => 1) -> 'next_cursor' ->> 'created_at')::timestamptz,
    p_cursor_id => (api.list_my_activity(p_limit => 1) -> 'next_cursor' ->> 'id')::uuid) -> 'items' -> 0 ->> 'request_id',
  'req-26-create', 'the next page follows the cursor'
);
select throws_ok($$ select api.list_my_activity(p_limit => 0) $$, 'PT400', null, 'a bad limit is a 400');
select throws_ok($$ select api.list_my_activity(p_cursor_id => gen_random_uuid()) $$, 'PT400', null, 'half a cursor is a 400');
select pg_temp.as_user('26000000-0000-4000-8000-000000000b0b');
select is(jsonb_array_length(api.list_my_activity() -> 'items'), 0, 'a stranger sees none of it');
select is_empty($$ select 1 from public.user_activity $$, 'not even reading the table');
select throws_ok($$ insert into public.user_activity (user_id, action, function, path) values (auth.uid(), 'x', 'x', 'x') $$,
  '42501', null, 'users cannot write activity');

/** Reading errors and performance: the roles */

select throws_ok($$ select api.list_error_logs() $$, 'PT403', 'moderator role required', 'a user cannot read the error log');
select is_empty($$ select 1 from public.error_logs $$, 'nor the table');
select throws_ok($$ select api.get_performance_metrics() $$, 'PT403', 'admin role required', 'nor the metrics');
select pg_temp.as_user('26000000-0000-4000-8000-00000000d0d0');
select ok((select count(*) >= 2 from jsonb_array_elements(api.list_error_logs() -> 'items')), 'a moderator reads the error log');
select is(
  (select array_agg(i ->> 'request_id') from jsonb_array_elements(
     api.list_error_logs(p_user_id => '26000000-0000-4000-8000-000000000b0b') -> 'items') i),
  array['req-26-bob-502'], 'filtered by user'
);
select ok(
  (select bool_and(i ->> 'function' = 'projects') from jsonb_array_elements(api.list_error_logs(p_function => 'projects') -> 'items') i),
  'filtered by function'
);
select throws_ok($$ select api.get_performance_metrics() $$, 'PT403', 'admin role required', 'a moderator cannot read the metrics');
select is_empty($$ select 1 from public.performance_metrics $$, 'nor the table');
select pg_temp.as_user('26000000-0000-4000-8000-00000000adad');
select lives_ok($$ select api.get_performance_metrics() $$, 'an admin reads the metrics');
select throws_ok($$ select api.get_performance_metrics(p_hours => 0) $$, 'PT400', 'hours must be between 1 and 744', 'hours are bounded');
select throws_ok($$ select api.get_performance_metrics(p_hours => 745) $$, 'PT400', null, 'on both sides');
reset role;
set local role anon;
select throws_ok($$ select api.list_my_activity() $$, '42501', null, 'anon cannot list activity');
select throws_ok($$ select api.list_error_logs() $$, '42501', null, 'nor errors');
reset role;

/** The performance roll-up */

-- As if a roll-up had run this hour already: the previous hour is still recomputed.
insert into public.performance_metrics (function, hour, requests, errors)
values ('perf-other', date_trunc('hour', now()), 1, 0);
-- The previous hour of a test-only function: 100 requests of a known user taking 1..100 ms (two of
-- them 5xx, one more anonymous 5xx), and 7 anonymous refusals counted.
insert into public.api_logs (function, method, path, status_code, duration_ms, user_id, request_id, created_at)
select 'perf-test', 'GET', '/v1/x', case when i in (99, 100) then 500 else 200 end, i,
  '26000000-0000-4000-8000-00000000a11c', 'perf-' || i, date_trunc('hour', now()) - interval '1 hour' + make_interval(secs => i)
from generate_series(1, 100) i;
insert into public.error_logs (function, method, route, status_code, request_id, duration_ms, created_at)
select 'perf-test', 'GET', '/v1/x', 500, 'perf-err-' || i, 1, date_trunc('hour', now()) - interval '1 hour' + make_interval(secs => i)
from generate_series(1, 3) i;
insert into public.api_log_counts (function, status_code, minute, requests)
values ('perf-test', 401, date_trunc('hour', now()) - interval '1 hour' + interval '5 minutes', 7);

set local role service_role;
select ok(api.rollup_performance_metrics() >= 1, 'the roll-up writes the hours');
reset role;
select results_eq(
  $$ select requests, errors, p50_ms, p95_ms, p99_ms, max_ms from public.performance_metrics
     where function = 'perf-test' $$,
  $$ values (107::bigint, 3::bigint, 50, 95, 99, 100) $$,
  'per function and hour: every answer counted, the 5xx, and the latency percentiles'
);
create temp table before_second as select * from public.performance_metrics where function = 'perf-test';
set local role service_role;
select lives_ok($$ select api.rollup_performance_metrics() $$, 'a second roll-up');
reset role;
select results_eq(
  $$ select requests, errors, p50_ms, p95_ms, p99_ms, max_ms from public.performance_metrics where function = 'perf-test' $$,
  $$ select requests, errors, p50_ms, p95_ms, p99_ms, max_ms from before_second $$,
  'changes nothing: the hours are recomputed, not added to'
);
set local role authenticated;
select pg_temp.as_user('26000000-0000-4000-8000-00000000adad');
select is(
  (select (i ->> 'requests')::int from jsonb_array_elements(api.get_performance_metrics(p_function => 'perf-test') -> 'items') i),
  107, 'an admin reads the hour through the API'
);
reset role;

/** Monthly API costs */

insert into public.usage_events (user_id, action, provider, model, units, credits, cost_usd, created_at) values
  ('26000000-0000-4000-8000-00000000a11c', 'text-to-image', 'replicate', 'flux-schnell', 1, 10, 0.003, '2026-10-03 10:00+00'),
  ('26000000-0000-4000-8000-00000000a11c', 'text-to-image', 'replicate', 'flux-schnell', 1, 10, 0.003, '2026-10-03 23:59+00'),
  ('26000000-0000-4000-8000-00000000a11c', 'text-to-image', 'replicate', 'flux-dev', 1, 30, 0.025, '2026-10-31 12:00+00'),
  ('26000000-0000-4000-8000-00000000a11c', 'text-to-image', 'replicate', 'flux-dev', 1, 30, 0.025, '2026-11-01 00:00+00'),
  ('26000000-0000-4000-8000-000000000b0b', 'text-to-image', 'replicate', 'flux-dev', 1, 30, 0.025, '2026-10-05 00:00+00');

set local role authenticated;
select pg_temp.as_user('26000000-0000-4000-8000-00000000a11c');
select is(
  api.get_monthly_api_costs(null, '2026-10-01') - 'by_day' - 'by_model',
  '{"user_id": "26000000-0000-4000-8000-00000000a11c", "month": "2026-10-01", "generations": 3, "credits": 50, "cost_usd": 0.031}'::jsonb,
  'a user''s month: the October events only'
);
select is(
  api.get_monthly_api_costs(null, '2026-10-17') -> 'by_day',
  '[{"day": "2026-10-03", "generations": 2, "credits": 20, "cost_usd": 0.006},
    {"day": "2026-10-31", "generations": 1, "credits": 30, "cost_usd": 0.025}]'::jsonb,
  'per UTC day, any day of the month naming it'
);
select is(
  api.get_monthly_api_costs(null, '2026-10-01') -> 'by_model' -> 0 ->> 'model', 'flux-dev',
  'per model, costliest first'
);
select throws_ok($$ select api.get_monthly_api_costs('26000000-0000-4000-8000-000000000b0b', '2026-10-01') $$,
  'PT403', 'admin role required', 'a user cannot read another''s costs');
select throws_ok($$ select api.get_monthly_api_costs(null, null) $$, 'PT400', 'month is required', 'the month is required');
select pg_temp.as_user('26000000-0000-4000-8000-00000000d0d0');
select throws_ok($$ select api.get_monthly_api_costs('26000000-0000-4000-8000-000000000b0b', '2026-10-01') $$,
  'PT403', 'admin role required', 'nor a moderator');
select pg_temp.as_user('26000000-0000-4000-8000-00000000adad');
select is(
  (api.get_monthly_api_costs('26000000-0000-4000-8000-000000000b0b', '2026-10-01') ->> 'credits')::int, 30,
  'an admin reads any user''s month'
);
reset role;

/** Retention */

select private.change_credits('26000000-0000-4000-8000-00000000a11c', 'grant', 1000, 'test:grant', null, 'test');
create temp table ids (name text primary key, id uuid);

-- A generation that failed `p_age` ago through the real path (its hold released).
create function pg_temp.failed_generation(p_name text, p_age interval, p_status text default 'failed') returns uuid
language plpgsql as $$
declare
  v_id uuid;
begin
  insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id, units,
    credits_reserved, status, provider, provider_prediction_id, created_at, started_at)
  select '26000000-0000-4000-8000-00000000a11c', 'image', p.action, p.model, 'retention', 'provider', p.id, 1, 10,
    'processing', 'replicate', 'pred-26-' || p_name, now() - p_age, now() - p_age
  from public.pricing p where p.model = 'flux-schnell'
  order by p.active_from desc limit 1
  returning id into v_id;
  perform private.place_hold((select id from public.credit_accounts where owner_user_id = '26000000-0000-4000-8000-00000000a11c'),
    10, v_id, now() + interval '1 hour', null);
  perform private.finish_generation(v_id, p_status, case when p_status = 'succeeded' then '["https://cdn.example.test/26.png"]'::jsonb end,
    case when p_status = 'failed' then 'test failure' end);
  update public.generations set completed_at = now() - p_age where id = v_id;
  insert into ids values (p_name, v_id);
  return v_id;
end
$$;

select pg_temp.failed_generation('old_failed_' || i, interval '100 days') from generate_series(1, 3) i;
select pg_temp.failed_generation('recent_failed', interval '10 days');
select pg_temp.failed_generation('old_succeeded', interval '100 days', 'succeeded');

insert into public.conversations (id, user_id, model, settings, last_message_at, pinned, deleted_at) values
  ('26000000-0000-4000-8000-0000000c0001', '26000000-0000-4000-8000-00000000a11c', 'gpt-4o-mini', '{}', now() - interval '200 days', false, null),
  ('26000000-0000-4000-8000-0000000c0002', '26000000-0000-4000-8000-00000000a11c', 'gpt-4o-mini', '{}', now() - interval '200 days', true, null),
  ('26000000-0000-4000-8000-0000000c0003', '26000000-0000-4000-8000-00000000a11c', 'gpt-4o-mini', '{}', now() - interval '10 days', false, null),
  ('26000000-0000-4000-8000-0000000c0004', '26000000-0000-4000-8000-00000000a11c', 'gpt-4o-mini', '{}', now() - interval '90 days', false, now() - interval '40 days'),
  ('26000000-0000-4000-8000-0000000c0005', '26000000-0000-4000-8000-00000000a11c', 'gpt-4o-mini', '{}', now() - interval '20 days', false, now() - interval '5 days');
insert into public.messages (conversation_id, user_id, role, content)
values ('26000000-0000-4000-8000-0000000c0004', '26000000-0000-4000-8000-00000000a11c', 'user', 'gone with it');
insert into public.projects (id, user_id, name, deleted_at) values
  ('26000000-0000-4000-8000-0000000e0001', '26000000-0000-4000-8000-00000000a11c', 'old deleted', now() - interval '31 days'),
  ('26000000-0000-4000-8000-0000000e0002', '26000000-0000-4000-8000-00000000a11c', 'kept', null);
insert into public.flows (id, user_id, name, deleted_at) values
  ('26000000-0000-4000-8000-0000000f0001', '26000000-0000-4000-8000-00000000a11c', 'old deleted', now() - interval '31 days');

insert into public.api_logs (function, method, path, status_code, user_id, created_at)
values ('retention-test', 'GET', '/v1/x', 200, '26000000-0000-4000-8000-00000000a11c', now() - interval '31 days'),
       ('retention-test', 'GET', '/v1/x', 200, '26000000-0000-4000-8000-00000000a11c', now() - interval '29 days');
insert into public.error_logs (function, method, route, status_code, request_id, created_at)
values ('retention-test', 'GET', '/v1/x', 500, 'r-old', now() - interval '91 days'),
       ('retention-test', 'GET', '/v1/x', 500, 'r-new', now() - interval '89 days');
insert into public.user_activity (user_id, action, function, path, created_at)
values ('26000000-0000-4000-8000-00000000a11c', 'POST /v1/x', 'retention-test', '/v1/x', now() - interval '366 days');

set local role service_role;
select is(api.cleanup_old_generations(), 3, 'the cleanup deletes the failed generations older than 90 days');
select is(api.cleanup_old_generations(), 0, 'a second run finds nothing');
reset role;
select is(
  (select array_agg(name order by name) from ids where exists (select 1 from public.generations g where g.id = ids.id)),
  array['old_succeeded', 'recent_failed'], 'recent failures and old successes stay'
);
set local role service_role;
select is(api.audit_credits(), '[]'::jsonb, 'the credit audit is still empty');
select is(api.archive_old_conversations(), 1, 'the archival archives the idle conversation');
select is(api.archive_old_conversations(), 0, 'once');
reset role;
select results_eq(
  $$ select id::text, archived from public.conversations where user_id = '26000000-0000-4000-8000-00000000a11c'
     and deleted_at is null order by id $$,
  $$ values ('26000000-0000-4000-8000-0000000c0001', true), ('26000000-0000-4000-8000-0000000c0002', false),
            ('26000000-0000-4000-8000-0000000c0003', false) $$,
  'pinned and recent conversations are not archived'
);
set local role service_role;
select is(api.purge_deleted_rows(), '{"conversations": 1, "projects": 1, "flows": 1}'::jsonb,
  'the purge deletes what was soft-deleted over 30 days ago');
select is(api.purge_deleted_rows(), '{"conversations": 0, "projects": 0, "flows": 0}'::jsonb, 'once');
reset role;
select ok(
  exists (select 1 from public.conversations where id = '26000000-0000-4000-8000-0000000c0005')
  and exists (select 1 from public.projects where id = '26000000-0000-4000-8000-0000000e0002')
  and not exists (select 1 from public.messages where conversation_id = '26000000-0000-4000-8000-0000000c0004'),
  'recently deleted and live rows stay; a purged conversation''s messages go with it'
);
set local role service_role;
select is(api.apply_log_retention() - 'api_log_counts' - 'performance_metrics',
  '{"api_logs": 1, "error_logs": 1, "user_activity": 1}'::jsonb,
  'the log retention deletes the rows past each table''s retention');
select is(api.apply_log_retention() ->> 'api_logs', '0', 'once');
reset role;
select is(
  (select count(*)::int from public.api_logs where function = 'retention-test')
  + (select count(*)::int from public.error_logs where function = 'retention-test'),
  2, 'younger rows stay'
);

set local role authenticated;
select pg_temp.as_user('26000000-0000-4000-8000-00000000adad');
select throws_ok($$ select api.purge_deleted_rows() $$, '42501', null, 'an admin cannot run a retention job through the API');
reset role;

select * from finish();
rollback;
