/**
 * Admin (issue 15): staff list users and change their role, `is_active` and quota plan; every
 * admin change leaves a row in `admin_audit` with its actor and reason, in the transaction
 * that made it; the dashboard's numbers come from a materialized view refreshed by a
 * scheduled job.
 *
 * What each staff role may do (supabase/README.md, "Staff roles"):
 *   moderator    lists users (no change to them);
 *   admin        changes is_active, plan and role (user <-> moderator) of users and
 *                moderators, credits, stats, queue, provider tokens; reads the audit;
 *   super_admin  also grants and removes admin and super_admin, and changes admins' accounts.
 * Nobody changes their own role or is_active, so a super_admin is only ever demoted by
 * another, and one always remains.
 *
 * The earlier admin writes are audited too: a credit grant or adjustment by a trigger on its
 * ledger entry (which carries the admin and the reason), a provider token's re-enabling by
 * its function, redefined here to take a reason. Registering a GPU worker is not an admin
 * change to anything that exists; the worker row records who created it.
 */

create extension if not exists pg_trgm with schema extensions;

/** Audit */

create table public.admin_audit (
  id uuid primary key default gen_random_uuid(),
  -- No foreign keys: the record outlives the accounts it names.
  actor_id uuid not null,
  -- The user the change was made to; null for a change to no user (a provider token).
  target_user_id uuid,
  action text not null check (action in ('user.update', 'credits.grant', 'credits.adjustment',
    'provider_token.enable')),
  reason text not null check (char_length(reason) between 1 and private.input_limit('reason_chars')),
  -- The changed fields only, before and after (ids of what changed go in `after`).
  before jsonb not null check (jsonb_typeof(before) = 'object'),
  after jsonb not null check (jsonb_typeof(after) = 'object'),
  -- The clock, not the transaction's start: two changes in one transaction keep their order.
  created_at timestamptz not null default clock_timestamp()
);

comment on table public.admin_audit is
  'Append-only: one row per admin change, written by the function (or trigger) that made it.';

-- The audit's pages: all of it, one target's, one actor's, newest first.
create index admin_audit_created_idx on public.admin_audit (created_at desc, id desc);
create index admin_audit_target_idx on public.admin_audit (target_user_id, created_at desc, id desc);
create index admin_audit_actor_idx on public.admin_audit (actor_id, created_at desc, id desc);

alter table public.admin_audit enable row level security;

create policy "Admins can view the admin audit"
  on public.admin_audit for select to authenticated
  using ((select private.is_admin()));

revoke all on public.admin_audit from anon, authenticated, service_role;
grant select on public.admin_audit to authenticated, service_role;

/**
 * Refuses UPDATE, DELETE and TRUNCATE on the audit, for every role including the owner: a
 * record that can be edited records nothing.
 */
create function private.refuse_audit_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT403', message = 'admin_audit is append-only';
end
$$;

create trigger admin_audit_no_update_delete
  before update or delete on public.admin_audit
  for each row execute function private.refuse_audit_change();

create trigger admin_audit_no_truncate
  before truncate on public.admin_audit
  for each statement execute function private.refuse_audit_change();

/**
 * The reason of an admin change, trimmed; PT400 unless 1 to `reason_chars` characters. The
 * audited functions check it before they change anything.
 */
create function private.check_reason(p_reason text) returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if char_length(btrim(coalesce(p_reason, ''))) not between 1 and private.input_limit('reason_chars') then
    raise exception using errcode = 'PT400',
      message = format('reason is required (at most %s characters)', private.input_limit('reason_chars'));
  end if;
  return btrim(p_reason);
end
$$;

/**
 * Writes one audit row. Called by the admin functions (SECURITY DEFINER, whose owner writes
 * the table) in the transaction of their change, so a change and its record commit or fail
 * together.
 */
create function private.audit(
  p_actor_id uuid,
  p_action text,
  p_target_user_id uuid,
  p_reason text,
  p_before jsonb,
  p_after jsonb
) returns void
language sql
set search_path = ''
as $$
  insert into public.admin_audit (actor_id, action, target_user_id, reason, before, after)
  values (p_actor_id, p_action, p_target_user_id, p_reason, p_before, p_after)
$$;

/**
 * Audits an admin's credit grant or adjustment from its ledger entry, which carries the
 * admin (actor) and the reason: one row per entry, so an idempotent replay (no new entry)
 * records nothing. The `when` clause keeps every other ledger insert free of it.
 */
create function private.audit_credit_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform private.audit(new.actor, 'credits.' || new.kind, a.owner_user_id, new.reason,
    jsonb_build_object('balance', new.balance_after - new.amount),
    jsonb_build_object('balance', new.balance_after, 'amount', new.amount, 'ledger_entry_id', new.id))
  from public.credit_accounts a
  where a.id = new.account_id;
  return null;
end
$$;

create trigger credit_ledger_audit_admin
  after insert on public.credit_ledger
  for each row when (new.metadata ->> 'via' = 'admin_adjust_credits')
  execute function private.audit_credit_change();

/**
 * Admins' audit, newest first, optionally of one target user and / or one actor. SECURITY
 * INVOKER: the admin policy on admin_audit is what lets an admin read it.
 */
create function api.admin_list_audit(
  p_target_user_id uuid default null,
  p_actor_id uuid default null,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_items jsonb;
begin
  perform private.require_staff('admin');
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);

  with page as (
    select * from public.admin_audit a
    where (p_target_user_id is null or a.target_user_id = p_target_user_id)
      and (p_actor_id is null or a.actor_id = p_actor_id)
      and (p_cursor_id is null or (a.created_at, a.id) < (p_cursor_created_at, p_cursor_id))
    order by a.created_at desc, a.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', page.id, 'actor_id', page.actor_id,
    'target_user_id', page.target_user_id, 'action', page.action, 'reason', page.reason,
    'before', page.before, 'after', page.after, 'created_at', page.created_at)
    order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.admin_list_audit(uuid, uuid, int, timestamptz, uuid) to authenticated;

/** Users */

-- Staff search users by a substring of their email or display name (ILIKE '%q%'), which
-- only a trigram index serves.
create index profiles_search_idx on public.profiles
  using gin ((coalesce(email, '') || ' ' || coalesce(display_name, '')) extensions.gin_trgm_ops);
-- The users list's order.
create index profiles_created_idx on public.profiles (created_at desc, id desc);

-- Moderators list users; the identity migration already lets admins read every profile.
create policy "Moderators can view every profile"
  on public.profiles for select to authenticated
  using ((select private.is_staff('moderator')));

/**
 * Refuses to demote or disable the last active super_admin, whatever path updates profiles
 * (an operator's SQL too): someone must be able to grant admin. It takes the lock that
 * api.admin_update_user takes, so two demotions at once are checked one after the other,
 * each reading what the other committed. Fires only on that transition.
 */
create function private.keep_a_super_admin() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtext('genbase.admin_update_user'));
  if not exists (select 1 from public.profiles where role = 'super_admin' and is_active and id <> new.id) then
    raise exception using errcode = 'PT409', message = 'the last active super_admin cannot be demoted or disabled';
  end if;
  return new;
end
$$;

create trigger profiles_keep_a_super_admin
  before update of role, is_active on public.profiles
  for each row when (old.role = 'super_admin' and old.is_active and (new.role <> 'super_admin' or not new.is_active))
  execute function private.keep_a_super_admin();

/**
 * A user as staff see them.
 */
create function private.admin_user_json(p public.profiles) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', p.id, 'email', p.email, 'display_name', p.display_name,
    'avatar_url', p.avatar_url, 'role', p.role, 'is_active', p.is_active, 'plan', p.plan,
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

grant execute on function private.admin_user_json(public.profiles) to authenticated;

/**
 * PT400 unless `p_role` names a role; the role.
 */
create function private.parse_role(p_role text) returns public.app_role
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_role is null or not p_role = any (enum_range(null::public.app_role)::text[]) then
    raise exception using errcode = 'PT400',
      message = 'role must be one of ' || array_to_string(enum_range(null::public.app_role)::text[], ', ');
  end if;
  return p_role::public.app_role;
end
$$;

/**
 * PT400 unless `p_plan` is a plan's id.
 */
create function private.check_plan(p_plan text) returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (select 1 from public.plans where id = p_plan) then
    raise exception using errcode = 'PT400', message = 'plan must be one of ' ||
      (select string_agg(id, ', ' order by sort_order, id) from public.plans);
  end if;
end
$$;

grant execute on function private.parse_role(text), private.check_plan(text) to authenticated;

/**
 * Users for staff (moderators and up), newest first: `p_q` a substring of the email or
 * display name (1 to q_chars characters, case-insensitive), and optional role, is_active and
 * plan filters. SECURITY INVOKER: the staff policies on profiles let staff see every row.
 */
create function api.admin_list_users(
  p_q text default null,
  p_role text default null,
  p_is_active boolean default null,
  p_plan text default null,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_role public.app_role;
  v_pattern text;
  v_items jsonb;
begin
  perform private.require_staff('moderator');
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if p_q is not null then
    if char_length(btrim(p_q)) not between 1 and private.input_limit('q_chars') then
      raise exception using errcode = 'PT400',
        message = format('q must be 1 to %s characters', private.input_limit('q_chars'));
    end if;
    -- The search is a substring, never a pattern: escape LIKE's own characters.
    v_pattern := '%' || replace(replace(replace(btrim(p_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
  end if;
  if p_role is not null then
    v_role := private.parse_role(p_role);
  end if;
  if p_plan is not null then
    perform private.check_plan(p_plan);
  end if;

  with page as (
    select * from public.profiles p
    where (v_pattern is null
           or (coalesce(p.email, '') || ' ' || coalesce(p.display_name, '')) ilike v_pattern)
      and (v_role is null or p.role = v_role)
      and (p_is_active is null or p.is_active = p_is_active)
      and (p_plan is null or p.plan = p_plan)
      and (p_cursor_id is null or (p.created_at, p.id) < (p_cursor_created_at, p_cursor_id))
    order by p.created_at desc, p.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.admin_user_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.admin_list_users(text, text, boolean, text, int, timestamptz, uuid) to authenticated;

/**
 * Changes a user's role, is_active and / or plan (null: unchanged), with a reason, and
 * audits it; returns the user. The role matrix:
 *   - admins and up only (a moderator is PT403);
 *   - nobody changes their own role or is_active (PT403);
 *   - an account ranked admin or above, or a grant of admin or above, is a super_admin's
 *     (PT403 'super_admin role required');
 *   - the last active super_admin stays one (PT409, the trigger below; with the rules above
 *     the actor is one who remains).
 * A change that changes nothing writes no audit row. SECURITY DEFINER: role, is_active and
 * plan are not writable by users (column grants and triggers); the checks above are the fence.
 */
create function api.admin_update_user(
  p_user_id uuid,
  p_reason text,
  p_role text default null,
  p_is_active boolean default null,
  p_plan text default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_actor uuid := private.require_staff('admin');
  v_reason text := private.check_reason(p_reason);
  v_role public.app_role;
  v_old public.profiles;
  v_new public.profiles;
  v_before jsonb := '{}'::jsonb;
  v_after jsonb := '{}'::jsonb;
  v_key text;
begin
  if p_user_id is null then
    raise exception using errcode = 'PT400', message = 'user_id is required';
  end if;
  if p_role is null and p_is_active is null and p_plan is null then
    raise exception using errcode = 'PT400', message = 'nothing to change: give role, is_active or plan';
  end if;
  if p_role is not null then
    v_role := private.parse_role(p_role);
  end if;
  if p_plan is not null then
    perform private.check_plan(p_plan);
  end if;

  -- Staff changes are rare: one lock serializes them, so two super_admins demoting each
  -- other at once cannot leave none, and the checks below read what the other committed.
  perform pg_advisory_xact_lock(hashtext('genbase.admin_update_user'));
  v_actor := private.require_staff('admin');

  select * into v_old from public.profiles where id = p_user_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'user not found';
  end if;
  v_new := v_old;
  v_new.role := coalesce(v_role, v_old.role);
  v_new.is_active := coalesce(p_is_active, v_old.is_active);
  v_new.plan := coalesce(p_plan, v_old.plan);

  if p_user_id = v_actor and (v_new.role, v_new.is_active) is distinct from (v_old.role, v_old.is_active) then
    raise exception using errcode = 'PT403', message = 'nobody changes their own role or is_active';
  end if;
  if (v_old.role >= 'admin' or v_new.role >= 'admin') and not private.is_staff('super_admin', v_actor) then
    raise exception using errcode = 'PT403', message = 'super_admin role required to change an admin or grant admin';
  end if;

  foreach v_key in array array['role', 'is_active', 'plan'] loop
    if to_jsonb(v_old) -> v_key is distinct from to_jsonb(v_new) -> v_key then
      v_before := v_before || jsonb_build_object(v_key, to_jsonb(v_old) -> v_key);
      v_after := v_after || jsonb_build_object(v_key, to_jsonb(v_new) -> v_key);
    end if;
  end loop;
  if v_after = '{}'::jsonb then
    return private.admin_user_json(v_old);
  end if;

  update public.profiles set role = v_new.role, is_active = v_new.is_active, plan = v_new.plan
  where id = p_user_id
  returning * into v_new;
  perform private.audit(v_actor, 'user.update', p_user_id, v_reason, v_before, v_after);
  return private.admin_user_json(v_new);
end
$$;

grant execute on function api.admin_update_user(uuid, text, text, boolean, text) to authenticated;

/** Provider tokens: re-enabling, audited */

-- Redefined from the provider tokens migration with a reason, which the audit requires.
drop function api.admin_enable_provider_token(uuid);

/**
 * Re-enables a token (after its secret was fixed at the provider, say): active again, its
 * failure counters and cooldown cleared, the change audited with the admin's reason. Returns
 * the token as the list shows it.
 */
create function api.admin_enable_provider_token(p_token_id uuid, p_reason text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_admin uuid := private.require_admin();
  v_reason text;
  v_old public.provider_tokens;
  v_token public.provider_tokens;
begin
  if p_token_id is null then
    raise exception using errcode = 'PT400', message = 'token_id is required';
  end if;
  v_reason := private.check_reason(p_reason);
  select * into v_old from public.provider_tokens where id = p_token_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'token_id: provider token not found';
  end if;
  update public.provider_tokens set
    is_active = true,
    consecutive_errors = 0,
    cooldown_level = 0,
    cooldown_until = null,
    disabled_at = null
  where id = p_token_id
  returning * into v_token;
  perform private.audit(v_admin, 'provider_token.enable', null, v_reason,
    jsonb_build_object('token_id', v_old.id, 'is_active', v_old.is_active,
      'consecutive_errors', v_old.consecutive_errors, 'cooldown_level', v_old.cooldown_level,
      'cooldown_until', v_old.cooldown_until, 'disabled_at', v_old.disabled_at),
    jsonb_build_object('token_id', v_token.id, 'is_active', v_token.is_active,
      'consecutive_errors', v_token.consecutive_errors, 'cooldown_level', v_token.cooldown_level,
      'cooldown_until', v_token.cooldown_until, 'disabled_at', v_token.disabled_at));
  return private.provider_token_public(v_token);
end
$$;

grant execute on function api.admin_enable_provider_token(uuid, text) to authenticated;

/** Stats */

/**
 * The admin dashboard's numbers, one row per (section, key), computed by a refresh (every 5
 * minutes, below) rather than per request: the counts read whole tables. Sections:
 *   refreshed                  when this was computed;
 *   users                      totals, by role and plan, new and active in 7 / 30 days
 *                              (active: made an API request or started a generation);
 *   generations (kind/status)  every generation, deleted or not, by kind and status;
 *   credits                    money moved by kind over all time, and what accounts hold now;
 *   provider_costs (day/model) the last 30 days (UTC) of billed usage per model: what the
 *                              provider cost (USD, usage_events.cost_usd) against what users
 *                              were charged (credits);
 *   queue                      GPU tasks by status, the oldest due task's age, generations in
 *                              flight.
 * In `private`: a materialized view has no RLS, so only api.admin_stats (admins) reads it.
 */
create materialized view private.admin_stats as
select 'refreshed'::text as section, ''::text as key, jsonb_build_object('at', now()) as value
union all
select 'users', '', jsonb_build_object(
  'total', (select count(*) from public.profiles),
  'active', (select count(*) from public.profiles where is_active),
  'disabled', (select count(*) from public.profiles where not is_active),
  'by_role', (select coalesce(jsonb_object_agg(role, n), '{}'::jsonb)
              from (select role, count(*) as n from public.profiles group by role) r),
  'by_plan', (select coalesce(jsonb_object_agg(plan, n), '{}'::jsonb)
              from (select plan, count(*) as n from public.profiles group by plan) r),
  'new_7d', (select count(*) from public.profiles where created_at > now() - interval '7 days'),
  'new_30d', (select count(*) from public.profiles where created_at > now() - interval '30 days'),
  'active_7d', (select count(distinct user_id) from (
      select user_id from public.api_logs where created_at > now() - interval '7 days' and user_id is not null
      union all
      select user_id from public.generations where created_at > now() - interval '7 days') a),
  'active_30d', (select count(distinct user_id) from (
      select user_id from public.api_logs where created_at > now() - interval '30 days' and user_id is not null
      union all
      select user_id from public.generations where created_at > now() - interval '30 days') a))
union all
select 'generations', kind || '/' || status, jsonb_build_object('kind', kind, 'status', status,
  'count', count(*), 'credits_charged', coalesce(sum(credits_charged), 0))
from public.generations
group by kind, status
union all
select 'credits', '', jsonb_build_object(
  'granted', coalesce(sum(amount) filter (where kind = 'grant'), 0),
  'purchased', coalesce(sum(amount) filter (where kind = 'purchase'), 0),
  'refunded', coalesce(sum(amount) filter (where kind = 'refund'), 0),
  'adjusted', coalesce(sum(amount) filter (where kind = 'adjustment'), 0),
  'spent', coalesce(-sum(amount) filter (where kind = 'settle'), 0),
  'balance', (select coalesce(sum(balance), 0) from public.credit_accounts),
  'held', (select coalesce(sum(held), 0) from public.credit_accounts))
from public.credit_ledger
union all
select 'provider_costs', day || '/' || model, jsonb_build_object('day', day, 'model', model,
  'events', events, 'credits', credits, 'cost_usd', cost_usd)
from (
  select (created_at at time zone 'UTC')::date as day, model, count(*) as events,
    sum(credits) as credits, sum(cost_usd) as cost_usd
  from public.usage_events
  where created_at >= (date_trunc('day', now() at time zone 'UTC') - interval '29 days') at time zone 'UTC'
  group by 1, 2
) u
union all
select 'queue', '', jsonb_build_object(
  'tasks', (select coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
            from (select status, count(*) as n from public.tasks group by status) t),
  'oldest_queued_age_seconds', (select floor(extract(epoch from now() - min(run_at)))::bigint
                                from public.tasks where status = 'queued' and run_at <= now()),
  'generations_queued', (select count(*) from public.generations where status = 'queued'),
  'generations_processing', (select count(*) from public.generations where status = 'processing'))
with data;

-- REFRESH ... CONCURRENTLY needs a unique index over every row.
create unique index admin_stats_key_idx on private.admin_stats (section, key);

revoke all on private.admin_stats from public, anon, authenticated, service_role;

/**
 * Recomputes the stats (the scheduled job, every 5 minutes). CONCURRENTLY: admins reading
 * the stats never wait for it. Two at once: the second finds the first's lock and returns
 * 'skipped' rather than computing the same numbers again. SECURITY DEFINER: only the view's
 * owner may refresh it; the service role (the local sweeper) and pg_cron call this.
 */
create function api.refresh_admin_stats() returns text
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not pg_try_advisory_xact_lock(hashtext('genbase.refresh_admin_stats')) then
    return 'skipped: another refresh is running';
  end if;
  refresh materialized view concurrently private.admin_stats;
  return 'refreshed';
end
$$;

grant execute on function api.refresh_admin_stats() to service_role;

/**
 * The stats for admins, as of their last refresh (`refreshed_at`): {refreshed_at, users,
 * generations: [...], credits, provider_costs: [...] newest day first, queue}. SECURITY
 * DEFINER: it reads the view, which has no RLS; admins only.
 */
create function api.admin_stats() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.require_staff('admin');
  return jsonb_build_object(
    'refreshed_at', (select value -> 'at' from private.admin_stats where section = 'refreshed'),
    'users', (select value from private.admin_stats where section = 'users'),
    'generations', (select coalesce(jsonb_agg(value order by key), '[]'::jsonb)
                    from private.admin_stats where section = 'generations'),
    'credits', (select value from private.admin_stats where section = 'credits'),
    'provider_costs', (select coalesce(jsonb_agg(value order by value ->> 'day' desc, value ->> 'model'), '[]'::jsonb)
                       from private.admin_stats where section = 'provider_costs'),
    'queue', (select value from private.admin_stats where section = 'queue')
  );
end
$$;

grant execute on function api.admin_stats() to authenticated;

insert into private.scheduled_jobs (name, schedule, every, fn) values
  ('genbase-refresh-admin-stats', '*/5 * * * *', interval '5 minutes', 'api.refresh_admin_stats()')
on conflict (name) do update set schedule = excluded.schedule, every = excluded.every, fn = excluded.fn;

do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform private.schedule_sweeps();
  end if;
end
$$;

/** Lock down */

revoke execute on all functions in schema api, private from public;
