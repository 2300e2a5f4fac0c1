-- Provider token pool: only authentication failures disable a token; rate limits and server
-- errors cool it down with backoff and it comes back by itself; errors the request caused
-- never count against it. Admins list tokens without their secrets and re-enable them;
-- nobody else reaches the pool.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(49);

insert into auth.users (id, email) values
  ('50000000-0000-4000-8000-00000000a11c', 'alice.tokens@example.test'),
  ('50000000-0000-4000-8000-00000000ad01', 'admin.tokens@example.test');
update public.profiles set role = 'admin' where id = '50000000-0000-4000-8000-00000000ad01';

-- A provider name of this test only, so that tokens of other tests never interfere.
insert into public.provider_tokens (id, provider, label, token) values
  ('50000000-0000-4000-8000-0000000000a1', 'pool-test', 'a', 'r8_secret_aaaaaaaaaaaaaaaaaaaa_a1a1'),
  ('50000000-0000-4000-8000-0000000000b2', 'pool-test', 'b', 'r8_secret_bbbbbbbbbbbbbbbbbbbb_b2b2'),
  ('50000000-0000-4000-8000-0000000000c3', 'pool-test', 'c', 'r8_short');

-- Seconds from now until a token's cooldown ends (null: none).
create function pg_temp.cooldown_left(p_id uuid) returns float8
language sql as $$
  select extract(epoch from cooldown_until - clock_timestamp())::float8
  from public.provider_tokens where id = p_id
$$;
-- The next `n` tokens the pool hands out, by label.
create function pg_temp.next_labels(n int) returns text[]
language plpgsql as $$
declare
  v_labels text[] := '{}';
  v_id uuid;
begin
  for i in 1..n loop
    v_id := (api.next_provider_token('pool-test') ->> 'id')::uuid;
    v_labels := v_labels || (select label from public.provider_tokens where id = v_id);
  end loop;
  return v_labels;
end
$$;
grant execute on all functions in schema pg_temp to public;

/** The table is locked */

select ok(
  (select relrowsecurity from pg_class where oid = 'public.provider_tokens'::regclass),
  'provider_tokens has row level security enabled'
);
select ok(
  not has_table_privilege('authenticated', 'public.provider_tokens', 'select, insert, update, delete')
  and not has_table_privilege('anon', 'public.provider_tokens', 'select, insert, update, delete'),
  'neither users nor anon have any privilege on provider_tokens'
);

/** Round robin */

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(pg_temp.next_labels(4), array['a', 'b', 'c', 'a'], 'tokens are handed out round robin');

/** request_error: the request was at fault, the token is not */

select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'request_error') from generate_series(1, 20);
select results_eq(
  $$ select is_active, consecutive_errors, cooldown_level, cooldown_until is null, error_count, disabled_at is null
     from public.provider_tokens where label = 'b' and provider = 'pool-test' $$,
  $$ values (true, 0, 0, true, 20::bigint, true) $$,
  '20 request errors are counted but leave the token active, healthy and not cooling down'
);

/** rate_limited / server_error: cooldown with exponential backoff, never disabled */

select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'rate_limited');
select ok(pg_temp.cooldown_left('50000000-0000-4000-8000-0000000000a1') between 3.7 and 5.0,
  'a first 429 cools the token down for 5 s minus jitter (3.75 to 5 s)');
select is((select cooldown_level from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000a1'), 1,
  'the backoff level counts the rate limit');
select is(pg_temp.next_labels(4), array['b', 'c', 'b', 'c'], 'a token cooling down is skipped');

select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'rate_limited');
select ok(pg_temp.cooldown_left('50000000-0000-4000-8000-0000000000a1') between 7.4 and 10.0,
  'a second 429 doubles the cooldown (7.5 to 10 s)');
select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'server_error');
select ok(pg_temp.cooldown_left('50000000-0000-4000-8000-0000000000a1') between 14.9 and 20.0,
  'a 5xx after them doubles it again (15 to 20 s)');
select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'rate_limited') from generate_series(1, 40);
select ok(pg_temp.cooldown_left('50000000-0000-4000-8000-0000000000a1') between 224.0 and 300.0,
  '40 more rate limits cap the cooldown at 5 minutes (225 to 300 s with jitter)');
select results_eq(
  $$ select is_active, consecutive_errors, disabled_at is null, error_count
     from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000a1' $$,
  $$ values (true, 0, true, 43::bigint) $$,
  '43 throttled or failed calls are counted but never disable the token'
);

-- Time passes: the cooldown is over (moved into the past rather than waited for).
reset role;
update public.provider_tokens set cooldown_until = clock_timestamp() - interval '1 second'
where id = '50000000-0000-4000-8000-0000000000a1';
set local role service_role;
select ok('a' = any (pg_temp.next_labels(3)), 'the token comes back by itself once its cooldown has passed');

select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'ok');
select results_eq(
  $$ select cooldown_level, cooldown_until is null, is_active
     from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000a1' $$,
  $$ values (0, true, true) $$,
  'a success resets the backoff'
);

select api.report_provider_token('50000000-0000-4000-8000-0000000000c3', 'server_error');
select ok(pg_temp.cooldown_left('50000000-0000-4000-8000-0000000000c3') between 3.7 and 5.0,
  'an unreachable provider or a 5xx cools the token down too');
select api.report_provider_token('50000000-0000-4000-8000-0000000000c3', 'request_error');
select api.report_provider_token('50000000-0000-4000-8000-0000000000c3', 'auth_error');
select ok(pg_temp.cooldown_left('50000000-0000-4000-8000-0000000000c3') between 3.7 and 5.0,
  'request and auth errors neither lengthen nor end a cooldown');
reset role;
update public.provider_tokens set cooldown_until = null, consecutive_errors = 0
where id = '50000000-0000-4000-8000-0000000000c3';
set local role service_role;

/** auth_error: five in a row disable the token */

select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'auth_error') from generate_series(1, 4);
select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'ok');
select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'auth_error') from generate_series(1, 4);
select results_eq(
  $$ select is_active, consecutive_errors, disabled_at is null
     from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000b2' $$,
  $$ values (true, 4, true) $$,
  'a success in between resets the count: 4 + 4 auth errors leave the token active'
);
select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'rate_limited');
select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'request_error');
select is((select consecutive_errors from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000b2'), 4,
  'rate limits and request errors do not count toward disabling');
select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'auth_error');
select results_eq(
  $$ select is_active, consecutive_errors, disabled_at is not null
     from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000b2' $$,
  $$ values (false, 5, true) $$,
  'the fifth consecutive auth error disables the token and records when'
);
reset role;
update public.provider_tokens set cooldown_until = null where id = '50000000-0000-4000-8000-0000000000b2';
set local role service_role;
select ok(not ('b' = any (pg_temp.next_labels(4))), 'a disabled token is never handed out, even with no cooldown');
select api.report_provider_token('50000000-0000-4000-8000-0000000000b2', 'ok');
select is((select is_active from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000b2'), false,
  'a late success (a call in flight) does not re-enable a disabled token');

/** Bad reports */

select throws_ok(
  $$ select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'teapot') $$,
  'PT400', 'outcome must be one of ok, auth_error, rate_limited, server_error, request_error',
  'an unknown outcome is refused'
);
select throws_ok(
  $$ select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', null) $$,
  'PT400', 'outcome must be one of ok, auth_error, rate_limited, server_error, request_error',
  'a missing outcome is refused'
);
select throws_ok(
  $$ select api.report_provider_token(null, 'ok') $$,
  'PT400', 'token_id is required',
  'a missing token id is refused'
);
select throws_ok(
  $$ select api.report_provider_token('50000000-0000-4000-8000-00000000dead', 'ok') $$,
  'PT404', 'token_id: provider token not found',
  'an unknown token is refused'
);
select throws_ok(
  $$ select api.admin_list_provider_tokens() $$,
  '42501', null,
  'the service role cannot use the admin RPCs (they need an admin user)'
);

/** Users, strangers and anon reach none of it */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select throws_ok($$ select * from public.provider_tokens $$, '42501', null, 'users cannot read provider tokens');
select throws_ok($$ update public.provider_tokens set is_active = true $$, '42501', null, 'users cannot write provider tokens');
select throws_ok($$ select api.next_provider_token('pool-test') $$, '42501', null, 'users cannot take provider tokens');
select throws_ok(
  $$ select api.report_provider_token('50000000-0000-4000-8000-0000000000a1', 'auth_error') $$,
  '42501', null, 'users cannot report on provider tokens'
);
select throws_ok($$ select api.admin_list_provider_tokens() $$, 'PT403', 'admin role required',
  'a non-admin cannot list provider tokens');
select throws_ok(
  $$ select api.admin_enable_provider_token('50000000-0000-4000-8000-0000000000b2', 'secret rotated') $$,
  'PT403', 'admin role required', 'a non-admin cannot re-enable a provider token'
);

-- A valid token for someone with no account here.
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000beef", "role": "authenticated"}', true);
select throws_ok($$ select api.admin_list_provider_tokens() $$, 'PT403', null,
  'a stranger cannot list provider tokens');
select throws_ok(
  $$ select api.admin_enable_provider_token('50000000-0000-4000-8000-0000000000b2', 'secret rotated') $$,
  'PT403', null, 'a stranger cannot re-enable a provider token'
);
select set_config('request.jwt.claims', '{"role": "authenticated"}', true);
select throws_ok($$ select api.admin_list_provider_tokens() $$, 'PT401', 'authentication required',
  'a token without a subject cannot list provider tokens');

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.admin_list_provider_tokens() $$, '42501', null, 'anon cannot list provider tokens');
select throws_ok(
  $$ select api.admin_enable_provider_token('50000000-0000-4000-8000-0000000000b2', 'secret rotated') $$,
  '42501', null, 'anon cannot re-enable a provider token'
);
select throws_ok($$ select api.next_provider_token('pool-test') $$, '42501', null, 'anon cannot take provider tokens');

reset role;
select is(
  (select is_active from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000b2'),
  false,
  'refused calls changed nothing'
);

/** Admins: list without secrets, re-enable */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);

create temp table listed as
select e as item from jsonb_array_elements(api.admin_list_provider_tokens() -> 'items') e
where e ->> 'provider' = 'pool-test';

select is((select count(*)::int from listed), 3, 'an admin lists every token of the pool');
reset role;
select is_empty(
  $$ select l.item from listed l, public.provider_tokens t
     where t.provider = 'pool-test' and position(t.token in l.item::text) > 0 $$,
  'no listed token contains any secret of the pool'
);
select is_empty(
  $$ select item from listed where item ? 'token' $$,
  'the list has no token field'
);
select results_eq(
  $$ select item ->> 'label', item ->> 'token_hint' from listed order by item ->> 'label' $$,
  $$ values ('a', '...a1a1'), ('b', '...b2b2'), ('c', null) $$,
  'the hint is the last four characters at most, and nothing for a short secret'
);
select results_eq(
  $$ select (item ->> 'is_active')::boolean, (item ->> 'consecutive_errors')::int,
            item ->> 'disabled_at' is not null, (item ->> 'error_count')::bigint
     from listed where item ->> 'label' = 'b' $$,
  $$ values (false, 5, true, 31::bigint) $$,
  'the list shows the health of the disabled token'
);
select ok(
  (select bool_and(item ?& array['id', 'provider', 'label', 'is_active', 'request_count', 'error_count',
     'consecutive_errors', 'cooldown_until', 'cooldown_level', 'cooling_down', 'disabled_at', 'last_used_at'])
   from listed),
  'each listed token carries its id, counters, cooldown and dates'
);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);
reset role;
update public.provider_tokens set cooldown_until = clock_timestamp() + interval '1 minute', cooldown_level = 3
where id = '50000000-0000-4000-8000-0000000000b2';
set local role authenticated;
select is(
  api.admin_enable_provider_token('50000000-0000-4000-8000-0000000000b2', 'secret rotated') ->> 'is_active',
  'true',
  'an admin re-enables a disabled token'
);
select throws_ok(
  $$ select api.admin_enable_provider_token('50000000-0000-4000-8000-00000000dead', 'secret rotated') $$,
  'PT404', 'token_id: provider token not found',
  'an unknown token id is a 404 that names token_id'
);
select throws_ok(
  $$ select api.admin_enable_provider_token(null, 'secret rotated') $$,
  'PT400', 'token_id is required',
  'a missing token id is refused'
);
reset role;
select results_eq(
  $$ select is_active, consecutive_errors, cooldown_level, cooldown_until is null, disabled_at is null, error_count
     from public.provider_tokens where id = '50000000-0000-4000-8000-0000000000b2' $$,
  $$ values (true, 0, 0, true, true, 31::bigint) $$,
  're-enabling clears the failure counters and the cooldown, keeps the history'
);
set local role service_role;
select ok('b' = any (pg_temp.next_labels(3)), 'the re-enabled token is handed out again');

select * from finish();
rollback;
