/**
 * Usage: one event per billed generation (what was used, what it cost in credits and in
 * USD), written by private.finish_generation in the same transaction as the charge, and
 * the caller's monthly report.
 */

/** Usage */

create table public.usage_events (
  id bigint generated always as identity primary key,
  user_id uuid references public.profiles (id) on delete set null,
  account_id uuid references public.credit_accounts (id),
  generation_id uuid constraint usage_events_generation_fk
    references public.generations (id) on delete set null,
  action text not null,
  provider text,
  model text not null,
  units numeric not null default 0,
  tokens_in bigint,
  tokens_out bigint,
  credits bigint not null default 0 check (credits >= 0),
  cost_usd numeric(14, 6) not null default 0,
  created_at timestamptz not null default now()
);

create index usage_events_user_idx on public.usage_events (user_id, created_at);
-- A generation is billed once.
create unique index usage_events_generation_idx on public.usage_events (generation_id);

alter table public.usage_events enable row level security;

create policy "Users can view their own usage"
  on public.usage_events for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.usage_events from anon, authenticated, service_role;
grant select on public.usage_events to authenticated, service_role;

/** Usage API */

/**
 * The caller's usage in one calendar month (UTC), per action and model.
 * SECURITY INVOKER: RLS decides what is visible.
 */
create function api.get_monthly_usage(p_month date) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_from timestamptz;
  v_items jsonb;
begin
  if p_month is null then
    raise exception using errcode = 'PT400', message = 'month is required';
  end if;
  v_from := date_trunc('month', p_month)::timestamp at time zone 'UTC';

  select coalesce(jsonb_agg(to_jsonb(u) order by u.action, u.model), '[]'::jsonb) into v_items
  from (
    select action, model, count(*) as count, sum(units) as units,
           sum(tokens_in) as tokens_in, sum(tokens_out) as tokens_out,
           sum(credits) as credits, sum(cost_usd) as cost_usd
    from public.usage_events
    where user_id = v_uid and created_at >= v_from and created_at < v_from + interval '1 month'
    group by action, model
  ) u;

  return jsonb_build_object(
    'month', to_char(v_from at time zone 'UTC', 'YYYY-MM-DD'),
    'items', v_items,
    'total_credits', coalesce((select sum((i ->> 'credits')::bigint) from jsonb_array_elements(v_items) i), 0),
    'total_cost_usd', coalesce((select sum((i ->> 'cost_usd')::numeric) from jsonb_array_elements(v_items) i), 0)
  );
end
$$;

grant execute on function api.get_monthly_usage(date) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
