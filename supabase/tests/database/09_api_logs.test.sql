-- The request log: a batch of rows for known users and counters for the rest, written
-- without waiting for a disk flush; users read their own rows, nobody but the service role
-- reads the counters or writes either.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
set local timezone = 'UTC';

select plan(16);

insert into auth.users (id, email) values
  ('90000000-0000-4000-8000-00000000a11c', 'alice.logs@example.test'),
  ('90000000-0000-4000-8000-000000000b0b', 'bob.logs@example.test');

/** The service role writes a batch */

set local role service_role;
select is(current_setting('synchronous_commit'), 'on', 'commits wait for the disk by default');

select lives_ok($$
  select api.log_requests(
    '[{"function": "profile", "method": "get", "path": "/v1/me", "status": 200, "duration_ms": 3,
       "user_id": "90000000-0000-4000-8000-00000000a11c", "request_id": "req-a", "at_ms": 1767225600123},
      {"function": "profile", "method": "PATCH", "path": "/v1/me", "status": 422, "duration_ms": 2,
       "user_id": "90000000-0000-4000-8000-00000000dead", "request_id": "req-gone", "at_ms": 1767225601000}]',
    '[{"function": "profile", "status": 401, "minute": 1767225600, "requests": 3},
      {"function": "profile", "status": 401, "minute": 1767225630, "requests": 2},
      {"function": "profile", "status": 404, "minute": 1767225600, "requests": 1}]')
$$, 'the service role logs a batch');

select is(current_setting('synchronous_commit'), 'off',
  'the batch''s transaction commits without waiting for the disk (the setting outlives the call)');

select is(
  (select jsonb_agg(jsonb_build_object('method', method, 'status', status_code, 'user', user_id, 'at', created_at)
     order by request_id)
   from public.api_logs where request_id in ('req-a', 'req-gone')),
  '[{"method": "GET", "status": 200, "user": "90000000-0000-4000-8000-00000000a11c", "at": "2026-01-01T00:00:00.123+00:00"},
    {"method": "PATCH", "status": 422, "user": null, "at": "2026-01-01T00:00:01+00:00"}]'::jsonb,
  'one row per entry, at its own time; an unknown user is logged without one'
);

select is(
  (select jsonb_agg(jsonb_build_object('status', status_code, 'minute', minute, 'requests', requests)
     order by status_code, minute)
   from public.api_log_counts where function = 'profile' and minute < '2026-01-02'),
  '[{"status": 401, "minute": "2026-01-01T00:00:00+00:00", "requests": 5},
    {"status": 404, "minute": "2026-01-01T00:00:00+00:00", "requests": 1}]'::jsonb,
  'counts of one function, status and minute are summed, even within a batch'
);

select api.log_requests('[]', '[{"function": "profile", "status": 401, "minute": 1767225659, "requests": 4}]');
select is(
  (select requests from public.api_log_counts
   where function = 'profile' and status_code = 401 and minute = '2026-01-01T00:00:00+00:00'),
  9::bigint, 'a later batch adds to the minute''s counter'
);
select lives_ok($$ select api.log_requests(null, null) $$, 'an empty batch is nothing to do');

select throws_ok($$ select api.log_requests('{}', '[]') $$, 'PT400', null, 'entries must be an array');
select throws_ok(
  $$ select api.log_requests('[{"function": "profile", "method": "GET", "status": 200}]', '[]') $$,
  'PT400', null, 'an entry without a path is refused');
select throws_ok(
  $$ select api.log_requests('[]', '[{"function": "profile", "status": 401, "minute": 1767225600, "requests": 0}]') $$,
  'PT400', null, 'a count must count something');

/** Users read their own rows and no counter */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "90000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select is((select count(*)::int from public.api_logs where request_id like 'req-%'), 1, 'alice reads her own row');
select throws_ok($$ select * from public.api_log_counts $$, '42501', null, 'users cannot read the counters');
select throws_ok($$ select api.log_requests('[]', '[]') $$, '42501', null, 'users cannot log requests');
select throws_ok($$ insert into public.api_log_counts values ('x', 200, now(), 1) $$, '42501', null,
  'users cannot write the counters');

select set_config('request.jwt.claims', '{"sub": "90000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is((select count(*)::int from public.api_logs where request_id like 'req-%'), 0, 'bob reads none of alice''s rows');

reset role;
set local role anon;
select throws_ok($$ select api.log_requests('[]', '[]') $$, '42501', null, 'anon cannot log requests');

select * from finish();
rollback;
