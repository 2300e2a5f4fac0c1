/**
 * API logs: the requests a function answered, written in batches after the responses with the
 * service role. A request made for a known user is a row of `api_logs` (each user reads their
 * own); an anonymous or refused one only adds to a per-minute counter in `api_log_counts`, so
 * a flood of bad requests costs a few counter rows. Log writes do not wait for a disk flush.
 */

/** API logs */

create table public.api_logs (
  id bigint generated always as identity primary key,
  function text not null,
  method text not null,
  path text not null,
  status_code int not null,
  duration_ms int,
  user_id uuid references public.profiles (id) on delete set null,
  request_id text,
  created_at timestamptz not null default now()
);

create index api_logs_user_idx on public.api_logs (user_id, created_at desc);
create index api_logs_created_idx on public.api_logs (created_at);

alter table public.api_logs enable row level security;

create policy "Users can view their own api logs"
  on public.api_logs for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.api_logs from anon, authenticated, service_role;
grant select on public.api_logs to authenticated, service_role;

/** Requests answered without a known user, counted per function, status and minute */

create table public.api_log_counts (
  function text not null,
  status_code int not null,
  minute timestamptz not null,
  requests bigint not null check (requests > 0),
  primary key (function, status_code, minute)
);

-- No policy: operators read it with the service role.
alter table public.api_log_counts enable row level security;

revoke all on public.api_log_counts from anon, authenticated, service_role;
grant select on public.api_log_counts to service_role;

/**
 * Appends a batch of API requests (the functions call this after responding). `p_entries`:
 * `[{function, method, path, status, duration_ms, user_id, request_id, at_ms}]`, one
 * `api_logs` row each; `p_counts`: `[{function, status, minute, requests}]` (minute in Unix
 * seconds), added to `api_log_counts`; `p_errors`: the 5xx answers, whoever asked, in the
 * entries' shape (user_id may be null), one `error_logs` row each. An entry that is a
 * successful write (2xx to POST, PUT, PATCH or DELETE) is also a `user_activity` row: the
 * action a user took. error_logs and user_activity are the activity migration's
 * (20261122001033), which explains why they are written here.
 */
create function api.log_requests(p_entries jsonb, p_counts jsonb, p_errors jsonb default '[]')
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- A lost log line is acceptable, a disk flush per request on the critical database is not:
  -- this transaction commits without waiting for its WAL to reach the disk. Set locally, and
  -- not in the function's SET clause (which would end with the call), so it holds at commit.
  perform set_config('synchronous_commit', 'off', true);

  if jsonb_typeof(coalesce(p_entries, '[]')) <> 'array'
     or jsonb_typeof(coalesce(p_counts, '[]')) <> 'array'
     or jsonb_typeof(coalesce(p_errors, '[]')) <> 'array' then
    raise exception using errcode = 'PT400', message = 'entries, counts and errors must be arrays';
  end if;
  if exists (
    select 1 from jsonb_array_elements(coalesce(p_entries, '[]')) e
    where jsonb_typeof(e) <> 'object'
       or (e ->> 'function') is null or (e ->> 'method') is null
       or (e ->> 'path') is null or (e ->> 'status') is null
  ) or exists (
    select 1 from jsonb_array_elements(coalesce(p_counts, '[]')) c
    where jsonb_typeof(c) <> 'object'
       or (c ->> 'function') is null or (c ->> 'status') is null
       or (c ->> 'minute') is null or coalesce((c ->> 'requests')::bigint, 0) < 1
  ) or exists (
    select 1 from jsonb_array_elements(coalesce(p_errors, '[]')) e
    where jsonb_typeof(e) <> 'object'
       or (e ->> 'function') is null or (e ->> 'method') is null or (e ->> 'path') is null
       or (e ->> 'request_id') is null or coalesce((e ->> 'status')::int, 0) not between 500 and 599
  ) then
    raise exception using errcode = 'PT400',
      message = 'each entry needs function, method, path and status; each count function, status, minute and requests; each error function, method, path, request_id and a 5xx status';
  end if;

  insert into public.api_logs (function, method, path, status_code, duration_ms, user_id, request_id, created_at)
  select left(e.function, 64), left(upper(e.method), 16), left(e.path, 2048), e.status, e.duration_ms,
    -- A token for a deleted user must not make the log write fail.
    p.id, left(e.request_id, 128), coalesce(to_timestamp(e.at_ms / 1000.0), now())
  from jsonb_to_recordset(coalesce(p_entries, '[]')) as e (
    function text, method text, path text, status int, duration_ms int, user_id uuid,
    request_id text, at_ms bigint)
  left join public.profiles p on p.id = e.user_id;

  insert into public.user_activity (user_id, action, function, path, request_id, created_at)
  select p.id, upper(e.method) || ' ' || private.route_of(e.path), left(e.function, 64),
    left(e.path, 2048), left(e.request_id, 128), coalesce(to_timestamp(e.at_ms / 1000.0), now())
  from jsonb_to_recordset(coalesce(p_entries, '[]')) as e (
    function text, method text, path text, status int, user_id uuid, request_id text, at_ms bigint)
  join public.profiles p on p.id = e.user_id
  where e.status between 200 and 299 and upper(e.method) in ('POST', 'PUT', 'PATCH', 'DELETE');

  -- The path's ids are left out: staff read this table (the full path is in api_logs).
  insert into public.error_logs (function, method, route, status_code, request_id, user_id, duration_ms, created_at)
  select left(e.function, 64), left(upper(e.method), 16), private.route_of(e.path), e.status,
    left(e.request_id, 128), p.id, e.duration_ms, coalesce(to_timestamp(e.at_ms / 1000.0), now())
  from jsonb_to_recordset(coalesce(p_errors, '[]')) as e (
    function text, method text, path text, status int, duration_ms int, user_id uuid,
    request_id text, at_ms bigint)
  left join public.profiles p on p.id = e.user_id;

  -- Summed first: ON CONFLICT cannot update one row twice in a statement.
  insert into public.api_log_counts (function, status_code, minute, requests)
  select left(c.function, 64), c.status, date_trunc('minute', to_timestamp(c.minute)), sum(c.requests)
  from jsonb_to_recordset(coalesce(p_counts, '[]')) as c (function text, status int, minute bigint, requests bigint)
  group by 1, 2, 3
  on conflict (function, status_code, minute)
    do update set requests = public.api_log_counts.requests + excluded.requests;
end
$$;

grant execute on function api.log_requests(jsonb, jsonb, jsonb) to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
