/**
 * API logs: one row per request a function answered, written after the response with the
 * service role; each user reads their own rows.
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

/**
 * Appends one API request log row (the functions call this after responding).
 */
create function api.log_request(
  p_function text,
  p_method text,
  p_path text,
  p_status int,
  p_duration_ms int,
  p_user_id uuid,
  p_request_id text
) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_function is null or p_method is null or p_path is null or p_status is null then
    raise exception using errcode = 'PT400', message = 'function, method, path and status are required';
  end if;
  insert into public.api_logs (function, method, path, status_code, duration_ms, user_id, request_id)
  values (left(p_function, 64), left(upper(p_method), 16), left(p_path, 2048), p_status, p_duration_ms,
    -- A token for a deleted user must not make the log write fail.
    (select id from public.profiles where id = p_user_id), left(p_request_id, 128));
end
$$;

grant execute on function api.log_request(text, text, text, int, int, uuid, text) to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
