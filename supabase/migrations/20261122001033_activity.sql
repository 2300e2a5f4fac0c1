/**
 * Activity, errors, performance and retention: what operators and users read about the
 * running service, and the scheduled jobs that keep the tables from growing forever.
 *
 * - user_activity: the actions a user took (their successful writes), newest first.
 * - error_logs: every 5xx a function answered, with its request id (staff read it).
 * - performance_metrics: per function and hour, requests, errors and latency percentiles,
 *   rolled up from the request log by a scheduled job (admins read it).
 * - api.get_monthly_api_costs: what a user's generations cost the provider in a month.
 * - Retention: old failed generations, archival of idle conversations, log retention,
 *   purge of long soft-deleted rows. Each is a job of private.scheduled_jobs (sweeps
 *   migration): bounded per run, idempotent, and safe when two runs overlap (SKIP LOCKED
 *   or an advisory lock), so pg_cron and a manual run, or two sweepers, never collide.
 *
 * user_activity and error_logs are written by api.log_requests (api_logs migration), from
 * the batches the functions already send after answering: one place sees every request of
 * every function, with its request id, and nothing is added to the money paths (a trigger
 * per domain table would put a write on each generation and ledger row). What it records
 * is the HTTP action (`POST /v1/projects/:id/shots`), not a domain event.
 */

/** User activity */

create table public.user_activity (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- The method and the route, ids replaced by `:id`: `PATCH /v1/projects/:id`.
  action text not null,
  function text not null,
  -- The request's path as it came (ids included): the user's own.
  path text not null,
  request_id text,
  created_at timestamptz not null default now()
);

create index user_activity_user_idx on public.user_activity (user_id, created_at desc, id desc);
create index user_activity_created_idx on public.user_activity (created_at);

alter table public.user_activity enable row level security;

create policy "Users can view their own activity"
  on public.user_activity for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.user_activity from anon, authenticated, service_role;
grant select on public.user_activity to authenticated, service_role;

/** Error logs */

/**
 * One row per 5xx answer, whoever asked (anonymous requests too: a server error is ours,
 * whoever triggered it). No header, body or query string is kept, so no token or key can
 * land here; the path's ids are replaced by `:id` (staff read this table; the full path
 * stays in api_logs, found by the request id).
 */
create table public.error_logs (
  id uuid primary key default gen_random_uuid(),
  function text not null,
  method text not null,
  route text not null,
  status_code int not null check (status_code between 500 and 599),
  request_id text not null,
  user_id uuid references public.profiles (id) on delete set null,
  duration_ms int,
  created_at timestamptz not null default now()
);

create index error_logs_created_idx on public.error_logs (created_at desc, id desc);
create index error_logs_function_idx on public.error_logs (function, created_at desc, id desc);
create index error_logs_request_idx on public.error_logs (request_id);

alter table public.error_logs enable row level security;

create policy "Staff can view error logs"
  on public.error_logs for select to authenticated
  using ((select private.is_staff('moderator')));

revoke all on public.error_logs from anon, authenticated, service_role;
grant select on public.error_logs to authenticated, service_role;

/**
 * `/v1/projects/0b1c...-.../shots` -> `/v1/projects/:id/shots`: UUIDs and numbers in a
 * path become `:id`, so the routes of many requests group together and no id is shown.
 */
create function private.route_of(p_path text) returns text
language sql
immutable
set search_path = ''
as $$
  select regexp_replace(
    regexp_replace(left(p_path, 2048),
      '/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=/|$)', '/:id', 'gi'),
    '/[0-9]+(?=/|$)', '/:id', 'g')
$$;

/** Performance metrics */

/**
 * Per function and hour (UTC). `requests` counts every answer (api_logs rows and the
 * anonymous ones counted in api_log_counts); `errors` the 5xx (error_logs); the latency
 * figures are over the requests of known users, the only ones with a duration kept
 * (anonymous requests are refusals, counted without one). Recomputed, not incremented, by
 * api.rollup_performance_metrics: running it again gives the same rows.
 */
create table public.performance_metrics (
  function text not null,
  hour timestamptz not null,
  requests bigint not null check (requests >= 0),
  errors bigint not null check (errors >= 0),
  p50_ms int,
  p95_ms int,
  p99_ms int,
  max_ms int,
  rolled_up_at timestamptz not null default now(),
  primary key (function, hour)
);

create index performance_metrics_hour_idx on public.performance_metrics (hour desc);

alter table public.performance_metrics enable row level security;

create policy "Admins can view performance metrics"
  on public.performance_metrics for select to authenticated
  using ((select private.is_staff('admin')));

revoke all on public.performance_metrics from anon, authenticated, service_role;
grant select on public.performance_metrics to authenticated, service_role;

/**
 * Recomputes the hours from the last one rolled up, or the previous one if later, to the
 * current one, which is partial and recomputed on the next run; older hours are final (a
 * log batch is written within seconds of its requests). Bounded: never more than the last 48
 * hours (after a longer outage, the older hours stay unrolled). A run that finds another
 * under way returns 0 (advisory lock): overlapping runs do the work once. Returns the rows
 * written.
 */
create function api.rollup_performance_metrics() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := date_trunc('hour', now());
  v_from timestamptz;
  v_count int;
begin
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('genbase-rollup-performance')) then
    return 0;
  end if;
  -- The last hour rolled up is recomputed (it may have been partial), and always the
  -- previous one (batches land seconds after their requests); never more than 48.
  select greatest(least(coalesce(max(hour), v_now - interval '47 hours'), v_now - interval '1 hour'),
    v_now - interval '47 hours')
  into v_from
  from public.performance_metrics
  where hour >= v_now - interval '47 hours';

  with logged as (
    select function, date_trunc('hour', created_at) as hour, count(*) as requests,
      percentile_disc(0.5) within group (order by duration_ms) as p50,
      percentile_disc(0.95) within group (order by duration_ms) as p95,
      percentile_disc(0.99) within group (order by duration_ms) as p99,
      max(duration_ms) as max_ms
    from public.api_logs
    where created_at >= v_from
    group by 1, 2
  ), counted as (
    select function, date_trunc('hour', minute) as hour, sum(requests) as requests
    from public.api_log_counts
    where minute >= v_from
    group by 1, 2
  ), failed as (
    select function, date_trunc('hour', created_at) as hour, count(*) as errors
    from public.error_logs
    where created_at >= v_from
    group by 1, 2
  ), keys as (
    select function, hour from logged
    union select function, hour from counted
    union select function, hour from failed
  )
  insert into public.performance_metrics as m
    (function, hour, requests, errors, p50_ms, p95_ms, p99_ms, max_ms, rolled_up_at)
  select k.function, k.hour, coalesce(l.requests, 0) + coalesce(c.requests, 0), coalesce(f.errors, 0),
    l.p50, l.p95, l.p99, l.max_ms, now()
  from keys k
  left join logged l using (function, hour)
  left join counted c using (function, hour)
  left join failed f using (function, hour)
  on conflict (function, hour) do update set
    requests = excluded.requests, errors = excluded.errors, p50_ms = excluded.p50_ms,
    p95_ms = excluded.p95_ms, p99_ms = excluded.p99_ms, max_ms = excluded.max_ms,
    rolled_up_at = excluded.rolled_up_at;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

grant execute on function api.rollup_performance_metrics() to service_role;

/** Reads */

/**
 * The caller's activity, newest first (keyset: created_at, id). SECURITY INVOKER: RLS
 * shows each user their own.
 */
create function api.list_my_activity(
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  with page as (
    select a.id, a.action, a.function, a.path, a.request_id, a.created_at
    from public.user_activity a
    where a.user_id = v_uid
      and (p_cursor_id is null or (a.created_at, a.id) < (p_cursor_created_at, p_cursor_id))
    order by a.created_at desc, a.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(to_jsonb(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;
  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_my_activity(int, timestamptz, uuid) to authenticated;

/**
 * The error log, newest first, optionally one function's or one user's (moderator and up:
 * PT403 naming the role otherwise, rather than an empty list). SECURITY INVOKER: the
 * table's policy agrees.
 */
create function api.list_error_logs(
  p_function text default null,
  p_user_id uuid default null,
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
  perform private.require_staff('moderator');
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  with page as (
    select e.id, e.function, e.method, e.route, e.status_code, e.request_id, e.user_id,
      e.duration_ms, e.created_at
    from public.error_logs e
    where (p_function is null or e.function = p_function)
      and (p_user_id is null or e.user_id = p_user_id)
      and (p_cursor_id is null or (e.created_at, e.id) < (p_cursor_created_at, p_cursor_id))
    order by e.created_at desc, e.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(to_jsonb(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;
  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_error_logs(text, uuid, int, timestamptz, uuid) to authenticated;

/**
 * The last p_hours of performance metrics (1 to performance_hours_max), newest hour first,
 * optionally one function's (admin and up). SECURITY INVOKER: the table's policy agrees.
 */
create function api.get_performance_metrics(p_function text default null, p_hours int default 24)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_from timestamptz;
  v_items jsonb;
begin
  perform private.require_staff('admin');
  if p_hours is null or p_hours not between 1 and private.input_limit('performance_hours_max') then
    raise exception using errcode = 'PT400',
      message = format('hours must be between 1 and %s', private.input_limit('performance_hours_max'));
  end if;
  v_from := date_trunc('hour', now()) - make_interval(hours => p_hours - 1);
  select coalesce(jsonb_agg(jsonb_build_object(
      'function', m.function, 'hour', m.hour, 'requests', m.requests, 'errors', m.errors,
      'p50_ms', m.p50_ms, 'p95_ms', m.p95_ms, 'p99_ms', m.p99_ms, 'max_ms', m.max_ms,
      'rolled_up_at', m.rolled_up_at)
    order by m.hour desc, m.function), '[]'::jsonb)
  into v_items
  from public.performance_metrics m
  where m.hour >= v_from and (p_function is null or m.function = p_function);
  return jsonb_build_object('from', v_from, 'items', v_items);
end
$$;

grant execute on function api.get_performance_metrics(text, int) to authenticated;

/** Monthly API costs (004's get_monthly_api_costs) */

-- Admins read every user's usage events for the cost report below.
create policy "Admins can view all usage"
  on public.usage_events for select to authenticated
  using ((select private.is_staff('admin')));

/**
 * What a user's billed generations cost in one calendar month (UTC): credits charged and
 * the provider's cost in USD, in total, per day and per provider and model. p_user_id null
 * is the caller; another user's takes an admin (PT403). SECURITY INVOKER: RLS on
 * usage_events agrees (own rows, or every row for admins).
 */
create function api.get_monthly_api_costs(p_user_id uuid, p_month date) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_user uuid := coalesce(p_user_id, v_uid);
  v_from timestamptz;
begin
  if p_month is null then
    raise exception using errcode = 'PT400', message = 'month is required';
  end if;
  if v_user <> v_uid then
    perform private.require_staff('admin');
  end if;
  v_from := date_trunc('month', p_month)::timestamp at time zone 'UTC';

  return (
    with events as (
      select * from public.usage_events
      where user_id = v_user and created_at >= v_from and created_at < v_from + interval '1 month'
    )
    select jsonb_build_object(
      'user_id', v_user,
      'month', to_char(v_from at time zone 'UTC', 'YYYY-MM-DD'),
      'generations', (select count(*) from events),
      'credits', (select coalesce(sum(credits), 0) from events),
      'cost_usd', (select coalesce(sum(cost_usd), 0) from events),
      'by_day', (
        select coalesce(jsonb_agg(jsonb_build_object('day', d.day, 'generations', d.n,
          'credits', d.credits, 'cost_usd', d.cost_usd) order by d.day), '[]'::jsonb)
        from (
          select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*) as n,
            sum(credits) as credits, sum(cost_usd) as cost_usd
          from events group by 1
        ) d
      ),
      'by_model', (
        select coalesce(jsonb_agg(jsonb_build_object('provider', m.provider, 'model', m.model,
          'generations', m.n, 'credits', m.credits, 'cost_usd', m.cost_usd)
          order by m.cost_usd desc, m.model), '[]'::jsonb)
        from (
          select provider, model, count(*) as n, sum(credits) as credits, sum(cost_usd) as cost_usd
          from events group by 1, 2
        ) m
      )
    )
  );
end
$$;

grant execute on function api.get_monthly_api_costs(uuid, date) to authenticated;

/** Retention */

/**
 * Deletes failed generations finished over 90 days ago (002's cleanup_old_generations),
 * at most 1000 per run. Only those without stored files (a failed generation has none; one
 * that somehow has goes through the soft delete, which removes its files first). A failed
 * generation's hold is resolved and its ledger rows stay (holds and usage events keep the
 * amounts, their generation_id set null), so the credit audit is unchanged. Rows another
 * run holds are skipped: overlapping runs delete each row once.
 */
create function api.cleanup_old_generations() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  with doomed as (
    select g.id from public.generations g
    where g.status = 'failed'
      and coalesce(g.completed_at, g.created_at) < now() - interval '90 days'
      and coalesce(jsonb_array_length(case when jsonb_typeof(g.outputs -> 'files') = 'array'
        then g.outputs -> 'files' end), 0) = 0
      and not exists (select 1 from public.credit_holds h where h.generation_id = g.id and h.status = 'open')
    order by g.created_at
    limit 1000
    for update of g skip locked
  )
  delete from public.generations g using doomed where g.id = doomed.id;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

grant execute on function api.cleanup_old_generations() to service_role;

/**
 * Archives conversations idle for 180 days (no message since): the `archived` flag users
 * set themselves, so an archived conversation leaves the default list and stays readable
 * and restorable. Pinned ones are kept. At most 1000 per run; rows another run (or a user's
 * request) holds are skipped. Returns how many it archived.
 */
create function api.archive_old_conversations() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  with idle as (
    select c.id from public.conversations c
    where not c.archived and not c.pinned and c.deleted_at is null
      and c.last_message_at < now() - interval '180 days'
    order by c.last_message_at
    limit 1000
    for update skip locked
  )
  update public.conversations c set archived = true from idle where c.id = idle.id;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

grant execute on function api.archive_old_conversations() to service_role;

/**
 * Log retention: api_logs and api_log_counts after 30 days, error_logs after 90, user
 * activity after 365, performance metrics after 400 (a year of hours to compare with).
 * At most 10000 rows per table per run, oldest first; rows another run holds are skipped.
 * Returns the rows deleted per table.
 */
create function api.apply_log_retention() returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_logs int;
  v_counts int;
  v_errors int;
  v_activity int;
  v_metrics int;
begin
  -- Log deletions need no disk flush either (see api.log_requests).
  perform set_config('synchronous_commit', 'off', true);

  with doomed as (
    select id from public.api_logs where created_at < now() - interval '30 days'
    order by created_at limit 10000 for update skip locked
  )
  delete from public.api_logs l using doomed where l.id = doomed.id;
  get diagnostics v_logs = row_count;

  with doomed as (
    select function, status_code, minute from public.api_log_counts
    where minute < now() - interval '30 days'
    order by minute limit 10000 for update skip locked
  )
  delete from public.api_log_counts c using doomed
  where (c.function, c.status_code, c.minute) = (doomed.function, doomed.status_code, doomed.minute);
  get diagnostics v_counts = row_count;

  with doomed as (
    select id from public.error_logs where created_at < now() - interval '90 days'
    order by created_at limit 10000 for update skip locked
  )
  delete from public.error_logs e using doomed where e.id = doomed.id;
  get diagnostics v_errors = row_count;

  with doomed as (
    select id from public.user_activity where created_at < now() - interval '365 days'
    order by created_at limit 10000 for update skip locked
  )
  delete from public.user_activity a using doomed where a.id = doomed.id;
  get diagnostics v_activity = row_count;

  with doomed as (
    select function, hour from public.performance_metrics where hour < now() - interval '400 days'
    order by hour limit 10000 for update skip locked
  )
  delete from public.performance_metrics m using doomed
  where (m.function, m.hour) = (doomed.function, doomed.hour);
  get diagnostics v_metrics = row_count;

  return jsonb_build_object('api_logs', v_logs, 'api_log_counts', v_counts, 'error_logs', v_errors,
    'user_activity', v_activity, 'performance_metrics', v_metrics);
end
$$;

grant execute on function api.apply_log_retention() to service_role;

/**
 * Purges conversations, projects and flows soft-deleted over 30 days ago, with what
 * belongs to them (messages, shots, nodes...: their foreign keys cascade; memberships go
 * with the drop_sharing triggers). Generations have their own purge (media migration).
 * Files, LoRAs and workspaces are not purged here: their stored objects, or a workspace's
 * credit account, go through their own flows. At most 1000 rows per table per run; rows
 * another run holds are skipped. Returns the rows deleted per table.
 */
create function api.purge_deleted_rows() returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_conversations int;
  v_projects int;
  v_flows int;
begin
  with doomed as (
    select id from public.conversations where deleted_at < now() - interval '30 days'
    order by deleted_at limit 1000 for update skip locked
  )
  delete from public.conversations c using doomed where c.id = doomed.id;
  get diagnostics v_conversations = row_count;

  with doomed as (
    select id from public.projects where deleted_at < now() - interval '30 days'
    order by deleted_at limit 1000 for update skip locked
  )
  delete from public.projects p using doomed where p.id = doomed.id;
  get diagnostics v_projects = row_count;

  with doomed as (
    select id from public.flows where deleted_at < now() - interval '30 days'
    order by deleted_at limit 1000 for update skip locked
  )
  delete from public.flows f using doomed where f.id = doomed.id;
  get diagnostics v_flows = row_count;

  return jsonb_build_object('conversations', v_conversations, 'projects', v_projects, 'flows', v_flows);
end
$$;

grant execute on function api.purge_deleted_rows() to service_role;

/** Autovacuum on the hot tables */

-- 002's tuning: tables updated on every generation or request are vacuumed and analyzed
-- after 5% / 2% of their rows changed, not the default 20% / 10%, so dead rows and stale
-- statistics do not pile up between vacuums of a large table.
alter table public.generations set (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
alter table public.credit_holds set (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
alter table public.credit_accounts set (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
alter table public.tasks set (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
alter table public.messages set (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
-- Append-mostly logs: vacuumed after 5% new rows (visibility map, index-only scans), and
-- after the retention job's deletes.
alter table public.api_logs set (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_scale_factor = 0.05);
alter table public.user_activity set (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_scale_factor = 0.05);

/** Schedule */

-- Local cadences are short so the dev stack and the tests see the jobs work; pg_cron's
-- schedules are the production ones (roll-up every 5 minutes, retention nightly, the
-- failed-generation cleanup weekly as in 002).
insert into private.scheduled_jobs (name, schedule, every, fn) values
  ('genbase-rollup-performance', '*/5 * * * *', interval '10 seconds', 'api.rollup_performance_metrics()'),
  ('genbase-cleanup-old-generations', '0 3 * * 0', interval '1 minute', 'api.cleanup_old_generations()'),
  ('genbase-archive-conversations', '23 3 * * *', interval '1 minute', 'api.archive_old_conversations()'),
  ('genbase-log-retention', '37 3 * * *', interval '1 minute', 'api.apply_log_retention()'),
  ('genbase-purge-deleted-rows', '47 3 * * *', interval '1 minute', 'api.purge_deleted_rows()')
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
