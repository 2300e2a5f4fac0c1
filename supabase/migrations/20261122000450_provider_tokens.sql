/**
 * Provider tokens: the pool of AI provider API tokens the functions rotate through, and
 * the health of each token.
 */

/** Provider tokens */

create table public.provider_tokens (
  id uuid primary key default gen_random_uuid(),
  provider text not null check (char_length(provider) between 1 and 64),
  label text,
  token text not null,
  is_active boolean not null default true,
  request_count bigint not null default 0,
  error_count bigint not null default 0,
  consecutive_errors int not null default 0,
  last_used_at timestamptz,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  constraint provider_tokens_unique unique (provider, token)
);

comment on table public.provider_tokens is
  'Round-robin pool of provider API tokens (service_role only). Prefer Supabase Vault for the secrets where available.';

create index provider_tokens_rotation_idx on public.provider_tokens (provider, last_used_at nulls first)
  where is_active;

alter table public.provider_tokens enable row level security;
revoke all on public.provider_tokens from anon, authenticated, service_role;
grant select, insert, update, delete on public.provider_tokens to service_role;

/** Provider token API */

/**
 * The least recently used active token of a provider (round robin; concurrent callers
 * get different tokens). PT503 when the provider has none.
 */
create function api.next_provider_token(p_provider text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_token public.provider_tokens;
begin
  update public.provider_tokens
  set last_used_at = clock_timestamp(), request_count = request_count + 1
  where id = (
    select id from public.provider_tokens
    where provider = p_provider and is_active
    order by last_used_at nulls first, id
    limit 1
    for update skip locked
  )
  returning * into v_token;
  if not found then
    raise exception using errcode = 'PT503', message = format('no active token for %s', p_provider);
  end if;
  return jsonb_build_object('id', v_token.id, 'token', v_token.token);
end
$$;

grant execute on function api.next_provider_token(text) to service_role;

/**
 * Records the outcome of a call made with a token; five consecutive errors disable it.
 */
create function api.report_provider_token(p_token_id uuid, p_ok boolean) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_ok is null then
    raise exception using errcode = 'PT400', message = 'p_ok is required';
  end if;
  update public.provider_tokens set
    error_count = error_count + case when p_ok then 0 else 1 end,
    consecutive_errors = case when p_ok then 0 else consecutive_errors + 1 end,
    is_active = is_active and (p_ok or consecutive_errors + 1 < 5),
    disabled_at = case when is_active and not p_ok and consecutive_errors + 1 >= 5 then now() else disabled_at end
  where id = p_token_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'provider token not found';
  end if;
end
$$;

grant execute on function api.report_provider_token(uuid, boolean) to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
