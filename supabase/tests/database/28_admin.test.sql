-- Admin: staff list users (moderators and up) and change role, is_active and plan under the
-- role matrix (admins, super_admins for admin ranks, never oneself, one super_admin always
-- left); every admin change, the earlier credit and provider-token ones too, leaves one
-- audit row that only admins read and nobody edits; the stats view agrees with direct counts
-- after a refresh. A user, a stranger and anon are refused everywhere.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(97);

insert into auth.users (id, email, raw_user_meta_data) values
  ('a2800000-0000-4000-8000-000000000051', 'super1@admin28.test', '{"display_name": "Sue Super"}'),
  ('a2800000-0000-4000-8000-000000000052', 'super2@admin28.test', '{}'),
  ('a2800000-0000-4000-8000-000000000ad1', 'ada@admin28.test', '{"display_name": "Ada Admin"}'),
  ('a2800000-0000-4000-8000-000000000ad2', 'adam@admin28.test', '{}'),
  ('a2800000-0000-4000-8000-000000000d01', 'mod@admin28.test', '{"display_name": "Mo Derator"}'),
  ('a2800000-0000-4000-8000-000000000a11', 'alice@admin28.test', '{"display_name": "Alice Liddell"}'),
  ('a2800000-0000-4000-8000-000000000b0b', 'bob_x@admin28.test', '{"display_name": "Bob"}');
update public.profiles set role = 'super_admin'
where id in ('a2800000-0000-4000-8000-000000000051', 'a2800000-0000-4000-8000-000000000052');
update public.profiles set role = 'admin'
where id in ('a2800000-0000-4000-8000-000000000ad1', 'a2800000-0000-4000-8000-000000000ad2');
update public.profiles set role = 'moderator' where id = 'a2800000-0000-4000-8000-000000000d01';
-- Creation order decides the list's order: oldest first here, 1 second apart.
update public.profiles p set created_at = now() - interval '1 hour' + v.n * interval '1 second'
from (values ('a2800000-0000-4000-8000-000000000051'::uuid, 1), ('a2800000-0000-4000-8000-000000000052', 2),
  ('a2800000-0000-4000-8000-000000000ad1', 3), ('a2800000-0000-4000-8000-000000000ad2', 4),
  ('a2800000-0000-4000-8000-000000000d01', 5), ('a2800000-0000-4000-8000-000000000a11', 6),
  ('a2800000-0000-4000-8000-000000000b0b', 7)) v (id, n)
where p.id = v.id;

create function pg_temp.as_user(p_id text) returns void
language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', p_id, 'role', 'authenticated')::text, true)
$$;
create function pg_temp.emails(p_page jsonb) returns text[]
language sql as $$
  select coalesce(array_agg(i ->> 'email' order by o), '{}') from jsonb_array_elements(p_page -> 'items') with ordinality e (i, o)
$$;
create function pg_temp.profile(p_id text) returns jsonb
language sql as $$
  select jsonb_build_object('role', role, 'is_active', is_active, 'plan', plan) from public.profiles where id = p_id::uuid
$$;
grant execute on all functions in schema pg_temp to public;

/** The users list: moderators and up */

set local role authenticated;
select pg_temp.as_user('a2800000-0000-4000-8000-000000000a11');
select throws_ok($$ select api.admin_list_users() $$, 'PT403', 'moderator role required', 'a user cannot list users');
select is_empty($$ select id from public.profiles where id <> 'a2800000-0000-4000-8000-000000000a11' $$,
  'a user reads no other profile');

select pg_temp.as_user('a2800000-0000-4000-8000-000000000d01');
select is(pg_temp.emails(api.admin_list_users(p_q => 'admin28.test', p_limit => 100)),
  array['bob_x@admin28.test', 'alice@admin28.test', 'mod@admin28.test', 'adam@admin28.test', 'ada@admin28.test',
        'super2@admin28.test', 'super1@admin28.test'],
  'a moderator lists users newest first, searched by email');
select is(pg_temp.emails(api.admin_list_users(p_q => 'LIDDELL')), array['alice@admin28.test'],
  'the search takes the display name, whatever the case');
select is(pg_temp.emails(api.admin_list_users(p_q => 'bob_')), array['bob_x@admin28.test'],
  'an underscore is found');
select is(pg_temp.emails(api.admin_list_users(p_q => 'd_r')), '{}'::text[],
  'and is itself, not a wildcard (which ''Derator'' would match)');
select is(pg_temp.emails(api.admin_list_users(p_q => '%')), '{}'::text[], 'nor is a percent sign');
select is(pg_temp.emails(api.admin_list_users(p_q => 'admin28', p_role => 'admin')),
  array['adam@admin28.test', 'ada@admin28.test'], 'the role filter');
select is(api.admin_list_users(p_q => 'alice@admin28') -> 'items' -> 0,
  jsonb_build_object('id', 'a2800000-0000-4000-8000-000000000a11', 'email', 'alice@admin28.test',
    'display_name', 'Alice Liddell', 'avatar_url', null, 'role', 'user', 'is_active', true, 'plan', 'free',
    'created_at', (select created_at from public.profiles where id = 'a2800000-0000-4000-8000-000000000a11'),
    'updated_at', (select updated_at from public.profiles where id = 'a2800000-0000-4000-8000-000000000a11')),
  'a user as staff see them: no settings, no credits');

create temp table pages as
select api.admin_list_users(p_q => 'admin28.test', p_limit => 4) as first;
grant select on pages to public;
select is(pg_temp.emails((select first from pages)),
  array['bob_x@admin28.test', 'alice@admin28.test', 'mod@admin28.test', 'adam@admin28.test'], 'a first page of 4');
select is(pg_temp.emails(api.admin_list_users(p_q => 'admin28.test', p_limit => 4,
    p_cursor_created_at => ((select first from pages) -> 'next_cursor' ->> 'created_at')::timestamptz,
    p_cursor_id => ((select first from pages) -> 'next_cursor' ->> 'id')::uuid)),
  array['ada@admin28.test', 'super2@admin28.test', 'super1@admin28.test'], 'the next page starts after it');

select throws_ok($$ select api.admin_list_users(p_role => 'owner') $$, 'PT400',
  'role must be one of user, moderator, admin, super_admin', 'an unknown role filter is refused');
select throws_ok($$ select api.admin_list_users(p_plan => 'gold') $$, 'PT400', null, 'an unknown plan filter is refused');
select throws_ok($$ select api.admin_list_users(p_q => '  ') $$, 'PT400', 'q must be 1 to 200 characters', 'a blank search is refused');
select throws_ok($$ select api.admin_list_users(p_limit => 0) $$, 'PT400', 'limit must be between 1 and 100', 'a zero limit is refused');
select throws_ok($$ select api.admin_list_users(p_cursor_id => gen_random_uuid()) $$, 'PT400', 'cursor is not valid', 'half a cursor is refused');

/** Changing a user: the role matrix */

-- A moderator changes nobody.
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'spam', p_is_active => false) $$,
  'PT403', 'admin role required', 'a moderator cannot disable a user');

select pg_temp.as_user('a2800000-0000-4000-8000-000000000ad1');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', '  ', p_role => 'moderator') $$,
  'PT400', 'reason is required (at most 500 characters)', 'a change needs a reason');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', repeat('x', 501), p_role => 'moderator') $$,
  'PT400', 'reason is required (at most 500 characters)', 'of at most 500 characters');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'why') $$,
  'PT400', 'nothing to change: give role, is_active or plan', 'a change must change something');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'why', p_role => 'root') $$,
  'PT400', 'role must be one of user, moderator, admin, super_admin', 'an unknown role is refused');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'why', p_plan => 'gold') $$,
  'PT400', 'plan must be one of free, pro, unlimited', 'an unknown plan is refused, naming the plans');
select throws_ok($$ select api.admin_update_user(gen_random_uuid(), 'why', p_plan => 'pro') $$,
  'PT404', 'user not found', 'an unknown user is 404');

select is(api.admin_update_user('a2800000-0000-4000-8000-000000000a11', ' helps in the forum ', p_role => 'moderator') ->> 'role',
  'moderator', 'an admin makes a user a moderator');
select is(api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'paid by invoice 42', p_plan => 'pro', p_is_active => false)
    - 'updated_at' - 'created_at',
  jsonb_build_object('id', 'a2800000-0000-4000-8000-000000000a11', 'email', 'alice@admin28.test',
    'display_name', 'Alice Liddell', 'avatar_url', null, 'role', 'moderator', 'is_active', false, 'plan', 'pro'),
  'and changes a plan and is_active at once, answering the user');
select is(api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'no-op', p_plan => 'pro') ->> 'plan', 'pro',
  'a change to the same value answers the user');
select is(api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'back', p_role => 'user', p_is_active => true) ->> 'role',
  'user', 'and takes a moderator back to user');

select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000b0b', 'promote', p_role => 'admin') $$,
  'PT403', 'super_admin role required to change an admin or grant admin', 'an admin cannot grant admin');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000b0b', 'promote', p_role => 'super_admin') $$,
  'PT403', 'super_admin role required to change an admin or grant admin', 'nor super_admin');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000ad2', 'rogue', p_is_active => false) $$,
  'PT403', 'super_admin role required to change an admin or grant admin', 'nor disable another admin');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000ad2', 'rogue', p_role => 'user') $$,
  'PT403', 'super_admin role required to change an admin or grant admin', 'nor demote one');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000051', 'coup', p_plan => 'free') $$,
  'PT403', 'super_admin role required to change an admin or grant admin', 'nor touch a super_admin''s account');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000ad1', 'me', p_role => 'user') $$,
  'PT403', 'nobody changes their own role or is_active', 'nobody changes their own role');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000ad1', 'me', p_is_active => false) $$,
  'PT403', 'nobody changes their own role or is_active', 'or disables themselves');
select is(pg_temp.profile('a2800000-0000-4000-8000-000000000ad2'), '{"role": "admin", "is_active": true, "plan": "free"}',
  'the refused changes changed nothing');

select pg_temp.as_user('a2800000-0000-4000-8000-000000000051');
select is(api.admin_update_user('a2800000-0000-4000-8000-000000000b0b', 'new ops lead', p_role => 'admin') ->> 'role',
  'admin', 'a super_admin grants admin');
select is(api.admin_update_user('a2800000-0000-4000-8000-000000000ad2', 'left the team', p_role => 'user', p_is_active => false)
    ->> 'is_active', 'false', 'and demotes and disables an admin');
select is(api.admin_update_user('a2800000-0000-4000-8000-000000000052', 'rotation', p_role => 'admin') ->> 'role',
  'admin', 'and demotes another super_admin');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000051', 'me', p_role => 'admin') $$,
  'PT403', 'nobody changes their own role or is_active', 'but not themselves');

-- The last super_admin guard holds on every path, an operator's SQL too.
reset role;
update public.profiles set role = 'admin'
where role = 'super_admin' and id <> 'a2800000-0000-4000-8000-000000000051';
select throws_ok($$ update public.profiles set role = 'admin' where id = 'a2800000-0000-4000-8000-000000000051' $$,
  'PT409', 'the last active super_admin cannot be demoted or disabled', 'the last super_admin cannot be demoted');
select throws_ok($$ update public.profiles set is_active = false where id = 'a2800000-0000-4000-8000-000000000051' $$,
  'PT409', 'the last active super_admin cannot be demoted or disabled', 'nor disabled');
update public.profiles set role = 'super_admin' where id = 'a2800000-0000-4000-8000-000000000052';
select lives_ok($$ update public.profiles set role = 'admin' where id = 'a2800000-0000-4000-8000-000000000051' $$,
  'with another one, a super_admin can be demoted');
update public.profiles set role = 'super_admin' where id = 'a2800000-0000-4000-8000-000000000051';

-- Users cannot reach the columns, whatever they call.
set local role authenticated;
select pg_temp.as_user('a2800000-0000-4000-8000-000000000a11');
select throws_ok($$ select api.admin_update_user('a2800000-0000-4000-8000-000000000a11', 'me', p_plan => 'unlimited') $$,
  'PT403', 'admin role required', 'a user cannot change their own plan');
select throws_ok($$ update public.profiles set plan = 'unlimited' where id = 'a2800000-0000-4000-8000-000000000a11' $$,
  '42501', null, 'nor write it directly');

/** The audit */

select pg_temp.as_user('a2800000-0000-4000-8000-000000000ad1');
select is(
  (select jsonb_agg(jsonb_build_object('action', i ->> 'action', 'actor', i ->> 'actor_id', 'reason', i ->> 'reason',
     'before', i -> 'before', 'after', i -> 'after') order by o)
   from jsonb_array_elements(api.admin_list_audit(p_target_user_id => 'a2800000-0000-4000-8000-000000000a11') -> 'items')
     with ordinality e (i, o)),
  jsonb_build_array(
    jsonb_build_object('action', 'user.update', 'actor', 'a2800000-0000-4000-8000-000000000ad1', 'reason', 'back',
      'before', '{"role": "moderator", "is_active": false}'::jsonb, 'after', '{"role": "user", "is_active": true}'::jsonb),
    jsonb_build_object('action', 'user.update', 'actor', 'a2800000-0000-4000-8000-000000000ad1', 'reason', 'paid by invoice 42',
      'before', '{"is_active": true, "plan": "free"}'::jsonb, 'after', '{"is_active": false, "plan": "pro"}'::jsonb),
    jsonb_build_object('action', 'user.update', 'actor', 'a2800000-0000-4000-8000-000000000ad1', 'reason', 'helps in the forum',
      'before', '{"role": "user"}'::jsonb, 'after', '{"role": "moderator"}'::jsonb)),
  'each change left one row with its actor, trimmed reason and the changed fields; a no-op and a refusal none');
select is(jsonb_array_length(api.admin_list_audit(p_actor_id => 'a2800000-0000-4000-8000-000000000051') -> 'items'), 3,
  'the actor filter finds the super_admin''s three changes');
select is(jsonb_array_length(api.admin_list_audit(p_actor_id => 'a2800000-0000-4000-8000-000000000051',
    p_target_user_id => 'a2800000-0000-4000-8000-000000000b0b') -> 'items'), 1, 'both filters together');
select is(
  (select count(*)::int from jsonb_array_elements(api.admin_list_audit(p_limit => 2,
     p_cursor_created_at => (api.admin_list_audit(p_limit => 2) -> 'next_cursor' ->> 'created_at')::timestamptz,
     p_cursor_id => (api.admin_list_audit(p_limit => 2) -> 'next_cursor' ->> 'id')::uuid) -> 'items') i
   where i -> 'id' in (select jsonb_array_elements(api.admin_list_audit(p_limit => 2) -> 'items') -> 'id')),
  0, 'the audit pages by keyset without repeating a row');

-- The earlier admin writes: a credit grant (once per idempotency key) and a token's enabling.
select api.admin_adjust_credits('a2800000-0000-4000-8000-000000000a11', 'grant', 250, ' welcome ', 'audit-grant-1');
select api.admin_adjust_credits('a2800000-0000-4000-8000-000000000a11', 'grant', 250, ' welcome ', 'audit-grant-1');
select api.admin_adjust_credits('a2800000-0000-4000-8000-000000000a11', 'adjustment', -50, 'refund error', 'audit-adj-1');
select is(
  (select jsonb_agg(jsonb_build_object('action', i ->> 'action', 'reason', i ->> 'reason', 'before', i -> 'before',
     'after', (i -> 'after') - 'ledger_entry_id') order by o)
   from jsonb_array_elements(api.admin_list_audit(p_target_user_id => 'a2800000-0000-4000-8000-000000000a11', p_limit => 2) -> 'items')
     with ordinality e (i, o)),
  '[{"action": "credits.adjustment", "reason": "refund error", "before": {"balance": 250}, "after": {"balance": 200, "amount": -50}},
    {"action": "credits.grant", "reason": "welcome", "before": {"balance": 0}, "after": {"balance": 250, "amount": 250}}]'::jsonb,
  'a credit grant and an adjustment are audited with the balance before and after; the replay is not');
reset role;
select is(
  (select (i -> 'after' ->> 'ledger_entry_id')::bigint from jsonb_array_elements(
     api.admin_list_audit(p_target_user_id => 'a2800000-0000-4000-8000-000000000a11', p_limit => 1) -> 'items') i),
  (select max(l.id) from public.credit_ledger l join public.credit_accounts a on a.id = l.account_id
   where a.owner_user_id = 'a2800000-0000-4000-8000-000000000a11'),
  'the audit row names its ledger entry');

insert into public.provider_tokens (id, provider, label, token, is_active, consecutive_errors, disabled_at)
values ('a2800000-0000-4000-8000-0000000070c1', 'admin28-test', 'a', 'r8_secret_admin28_aaaaaaaaaaaa', false, 5, now());
set local role authenticated;
select pg_temp.as_user('a2800000-0000-4000-8000-000000000ad1');
select throws_ok($$ select api.admin_enable_provider_token('a2800000-0000-4000-8000-0000000070c1', '') $$,
  'PT400', 'reason is required (at most 500 characters)', 'enabling a token needs a reason');
select throws_ok($$ select api.admin_enable_provider_token(gen_random_uuid(), 'fixed') $$,
  'PT404', 'token_id: provider token not found', 'an unknown token is 404');
select is(api.admin_enable_provider_token('a2800000-0000-4000-8000-0000000070c1', 'secret rotated') ->> 'is_active', 'true',
  'with one, the token is enabled');
select is(
  (select jsonb_build_object('actor', actor_id, 'target', target_user_id, 'reason', reason,
     'before', before - 'cooldown_until' - 'disabled_at' - 'cooldown_level', 'after', after - 'cooldown_until' - 'cooldown_level')
   from public.admin_audit where action = 'provider_token.enable'),
  jsonb_build_object('actor', 'a2800000-0000-4000-8000-000000000ad1', 'target', null, 'reason', 'secret rotated',
    'before', jsonb_build_object('token_id', 'a2800000-0000-4000-8000-0000000070c1', 'is_active', false, 'consecutive_errors', 5),
    'after', jsonb_build_object('token_id', 'a2800000-0000-4000-8000-0000000070c1', 'is_active', true, 'consecutive_errors', 0,
      'disabled_at', null)),
  'and the enabling is audited');

-- Nobody edits the audit, its owner included.
reset role;
select throws_ok($$ update public.admin_audit set reason = 'nothing to see' $$, 'PT403', 'admin_audit is append-only',
  'the audit cannot be edited');
select throws_ok($$ delete from public.admin_audit $$, 'PT403', 'admin_audit is append-only', 'nor deleted from');
select throws_ok($$ truncate public.admin_audit $$, 'PT403', 'admin_audit is append-only', 'nor truncated');

-- Only admins read it.
set local role authenticated;
select pg_temp.as_user('a2800000-0000-4000-8000-000000000d01');
select throws_ok($$ select api.admin_list_audit() $$, 'PT403', 'admin role required', 'a moderator cannot read the audit');
select is_empty($$ select id from public.admin_audit $$, 'nor select it');
-- Nor anything else only an admin may do: credits, the queue and workers, provider tokens,
-- a generation's provider detail.
select throws_ok($$ select api.admin_adjust_credits('a2800000-0000-4000-8000-000000000a11', 'grant', 5, 'gift', 'mod-1') $$,
  'PT403', 'admin role required', 'a moderator cannot grant credits');
select throws_ok($$ select api.admin_queue_stats() $$, 'PT403', 'admin role required', 'nor read the queue');
select throws_ok($$ select api.admin_register_worker('w', array['wan_video']) $$,
  'PT403', 'admin role required', 'nor register a worker');
select throws_ok($$ select api.admin_list_provider_tokens() $$, 'PT403', 'admin role required', 'nor list provider tokens');
select throws_ok($$ select api.admin_enable_provider_token('a2800000-0000-4000-8000-0000000070c1', 'x') $$,
  'PT403', 'admin role required', 'nor re-enable one');
select throws_ok(format('select api.admin_get_generation(%L)', gen_random_uuid()),
  'PT403', 'admin role required', 'nor read a generation''s provider detail');
select pg_temp.as_user('a2800000-0000-4000-8000-000000000a11');
select throws_ok($$ select api.admin_list_audit() $$, 'PT403', 'admin role required', 'a user cannot read the audit');
select is_empty($$ select id from public.admin_audit $$, 'nor select it, even the rows about her');
select throws_ok($$ insert into public.admin_audit (actor_id, action, reason, before, after)
  values ('a2800000-0000-4000-8000-000000000a11', 'user.update', 'x', '{}', '{}') $$, '42501', null, 'nor write it');

/** Stats */

select throws_ok($$ select api.admin_stats() $$, 'PT403', 'admin role required', 'a user cannot read the stats');
select pg_temp.as_user('a2800000-0000-4000-8000-000000000d01');
select throws_ok($$ select api.admin_stats() $$, 'PT403', 'admin role required', 'nor can a moderator');
select throws_ok($$ select api.refresh_admin_stats() $$, '42501', null, 'staff cannot run the refresh');

-- Activity of this test: generations, usage, requests, a task, before the refresh.
reset role;
insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id, units, status,
  credits_reserved, credits_charged)
select u.id, 'image', 'generate', p.model, 'stats', 'provider', p.id, 1, s.status, coalesce(s.charged, 0), s.charged
from (values ('a2800000-0000-4000-8000-000000000a11'::uuid), ('a2800000-0000-4000-8000-000000000b0b')) u (id)
cross join (values ('succeeded', 3), ('failed', null), ('queued', null)) s (status, charged)
cross join lateral (select * from public.pricing where model = 'flux-schnell' order by active_from desc limit 1) p;
insert into public.usage_events (user_id, action, model, credits, cost_usd, created_at) values
  ('a2800000-0000-4000-8000-000000000a11', 'generate', 'flux-schnell', 3, 0.003, now()),
  ('a2800000-0000-4000-8000-000000000b0b', 'generate', 'flux-schnell', 3, 0.003, now() - interval '1 day'),
  ('a2800000-0000-4000-8000-000000000b0b', 'generate', 'flux-schnell', 3, 0.003, now() - interval '40 days');
insert into public.api_logs (function, method, path, status_code, user_id, created_at) values
  ('admin', 'GET', '/v1/admin/users', 200, 'a2800000-0000-4000-8000-000000000d01', now() - interval '10 days');
insert into public.tasks (task_type, status) values ('admin28_test', 'queued');

-- Every direct count the stats must agree with.
create temp table direct as select
  (select count(*) from public.profiles) as users,
  (select jsonb_object_agg(role, n) from (select role, count(*) n from public.profiles group by role) r) as by_role,
  (select jsonb_object_agg(plan, n) from (select plan, count(*) n from public.profiles group by plan) r) as by_plan,
  (select count(distinct user_id) from (select user_id from public.api_logs where user_id is not null and created_at > now() - interval '30 days'
     union all select user_id from public.generations where created_at > now() - interval '30 days') a) as active_30d,
  (select count(distinct user_id) from (select user_id from public.api_logs where user_id is not null and created_at > now() - interval '7 days'
     union all select user_id from public.generations where created_at > now() - interval '7 days') a) as active_7d,
  (select jsonb_agg(jsonb_build_object('kind', kind, 'status', status, 'count', n, 'credits_charged', c) order by kind || '/' || status)
   from (select kind, status, count(*) n, coalesce(sum(credits_charged), 0) c from public.generations group by 1, 2) g) as generations,
  (select sum(amount) from public.credit_ledger where kind = 'grant') as granted,
  (select -sum(amount) from public.credit_ledger where kind = 'settle') as spent,
  (select sum(balance) from public.credit_accounts) as balance,
  (select sum(cost_usd) from public.usage_events where created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - interval '29 days') as cost_30d,
  (select sum(credits) from public.usage_events where created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - interval '29 days') as credits_30d,
  (select jsonb_object_agg(status, n) from (select status, count(*) n from public.tasks group by status) t) as tasks,
  (select count(*) from public.generations where status = 'queued') as generations_queued;
grant select on direct to public;

select api.refresh_admin_stats();
set local role authenticated;
select pg_temp.as_user('a2800000-0000-4000-8000-000000000ad1');
create temp table stats as select api.admin_stats() as s;

select is((select (s -> 'users' ->> 'total')::bigint from stats), (select users from direct), 'users agree');
select is((select s -> 'users' -> 'by_role' from stats), (select by_role from direct), 'users by role agree');
select is((select s -> 'users' -> 'by_plan' from stats), (select by_plan from direct), 'users by plan agree');
select is((select (s -> 'users' ->> 'active_30d')::bigint from stats), (select active_30d from direct), 'active users (30 days) agree');
select is((select (s -> 'users' ->> 'active_7d')::bigint from stats), (select active_7d from direct), 'active users (7 days) agree');
select ok((select active_30d > active_7d from direct), 'and the two windows differ here (the moderator''s request 10 days ago)');
select is((select s -> 'generations' from stats), (select generations from direct), 'generations by kind and status agree');
select is((select (s -> 'credits' ->> 'granted')::numeric from stats), (select granted from direct), 'credits granted agree');
select is((select (s -> 'credits' ->> 'spent')::numeric from stats), coalesce((select spent from direct), 0), 'credits spent agree');
select is((select (s -> 'credits' ->> 'balance')::numeric from stats), (select balance from direct), 'balances agree');
select is((select sum((c ->> 'cost_usd')::numeric) from stats, jsonb_array_elements(s -> 'provider_costs') c),
  (select cost_30d from direct), 'provider cost over the 30 days agrees (the 40-day-old event left out)');
select is((select sum((c ->> 'credits')::numeric) from stats, jsonb_array_elements(s -> 'provider_costs') c),
  (select credits_30d from direct), 'and so does what users were charged');
select is(
  (select jsonb_agg(c -> 'day' order by o) from stats, jsonb_array_elements(s -> 'provider_costs') with ordinality e (c, o)
   where c ->> 'model' = 'flux-schnell'),
  jsonb_build_array((now() at time zone 'UTC')::date, (now() at time zone 'UTC' - interval '1 day')::date),
  'per day, newest first');
select is((select s -> 'queue' -> 'tasks' from stats), (select tasks from direct), 'tasks by status agree');
select is((select (s -> 'queue' ->> 'generations_queued')::bigint from stats), (select generations_queued from direct),
  'queued generations agree');
select is((select (s ->> 'refreshed_at')::timestamptz from stats), now(), 'refreshed_at says when');

-- The view, not live counts: a new generation shows after the next refresh only.
reset role;
insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id, units, status)
select 'a2800000-0000-4000-8000-000000000a11', 'video', 'generate', model, 'later', 'provider', id, 1, 'canceled'
from public.pricing where model = 'flux-schnell' order by active_from desc limit 1;
set local role authenticated;
select is(
  (select g from jsonb_array_elements(api.admin_stats() -> 'generations') g where g ->> 'kind' = 'video'),
  null, 'before a refresh the stats do not show it');
reset role;
select is(api.refresh_admin_stats(), 'refreshed', 'the refresh says it ran');
set local role authenticated;
select is(
  (select (g ->> 'count')::int from jsonb_array_elements(api.admin_stats() -> 'generations') g
   where g ->> 'kind' = 'video' and g ->> 'status' = 'canceled'),
  (select count(*)::int from public.generations where kind = 'video' and status = 'canceled'),
  'after it they agree again');

/** The scheduled job */

reset role;
select is((select (schedule, every, fn) from private.scheduled_jobs where name = 'genbase-refresh-admin-stats'),
  ('*/5 * * * *'::text, interval '5 minutes', 'api.refresh_admin_stats()'::text), 'the refresh is a job every 5 minutes');
set local role service_role;
select lives_ok($$ select api.refresh_admin_stats() $$, 'the service role (the local sweeper) may run it');

/** Anon */

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.admin_list_users() $$, '42501', null, 'anon cannot list users');
select throws_ok($$ select api.admin_update_user(gen_random_uuid(), 'x', 'admin') $$, '42501', null, 'anon cannot change one');
select throws_ok($$ select api.admin_list_audit() $$, '42501', null, 'anon cannot read the audit');
select throws_ok($$ select api.admin_stats() $$, '42501', null, 'anon cannot read the stats');
select throws_ok($$ select * from public.admin_audit $$, '42501', null, 'anon cannot select the audit');

select * from finish();
rollback;
