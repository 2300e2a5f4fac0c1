/**
 * Provider tokens: the pool of AI provider API tokens the functions rotate through, and
 * the health of each token.
 *
 * What a failed call says about the token decides what happens to it, so that no user can
 * empty the pool with requests of their own:
 *   - auth_error (401/403): the token itself is bad; 5 in a row disable it until an admin
 *     re-enables it.
 *   - rate_limited (429), server_error (5xx, unreachable): the token is fine but should rest;
 *     it cools down with exponential backoff and comes back by itself.
 *   - request_error (other 4xx): the request was at fault (a user's input the provider
 *     refuses); only counted.
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
  -- Consecutive authentication failures (only those can disable a token).
  consecutive_errors int not null default 0,
  -- Consecutive rate-limit / server failures: the exponent of the cooldown backoff.
  cooldown_level int not null default 0 check (cooldown_level between 0 and 30),
  cooldown_until timestamptz,
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
 * The least recently used active token of a provider that is not cooling down (round robin;
 * concurrent callers get different tokens while there are enough). PT503 when the provider
 * has none available.
 */
create function api.next_provider_token(p_provider text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_token public.provider_tokens;
begin
  select id into v_id from public.provider_tokens
  where provider = p_provider and is_active
    and (cooldown_until is null or cooldown_until <= clock_timestamp())
  order by last_used_at nulls first, id
  limit 1
  for update skip locked;
  if v_id is null then
    -- Every available token is being handed to another caller this instant (skip locked
    -- saw none): wait for one rather than answer "none available" to a burst.
    select id into v_id from public.provider_tokens
    where provider = p_provider and is_active
      and (cooldown_until is null or cooldown_until <= clock_timestamp())
    order by last_used_at nulls first, id
    limit 1
    for update;
  end if;
  update public.provider_tokens
  set last_used_at = clock_timestamp(), request_count = request_count + 1
  where id = v_id
  returning * into v_token;
  if not found then
    raise exception using errcode = 'PT503', message = format('no active token for %s', p_provider);
  end if;
  return jsonb_build_object('id', v_token.id, 'token', v_token.token);
end
$$;

grant execute on function api.next_provider_token(text) to service_role;

/**
 * Records the outcome of a call made with a token: 'ok', 'auth_error', 'rate_limited',
 * 'server_error' or 'request_error' (see the top of this file).
 *
 * The cooldown is 5 s x 2^n (n = earlier consecutive rate-limit/server failures), capped at
 * 5 minutes, minus up to a quarter of random jitter so that tokens that failed together do
 * not all come back in the same instant; it never shortens a cooldown already running.
 */
create function api.report_provider_token(p_token_id uuid, p_outcome text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_token public.provider_tokens;
  v_now timestamptz := clock_timestamp();
  v_delay float8;
begin
  if p_token_id is null then
    raise exception using errcode = 'PT400', message = 'token_id is required';
  end if;
  if p_outcome is null
     or p_outcome not in ('ok', 'auth_error', 'rate_limited', 'server_error', 'request_error') then
    raise exception using errcode = 'PT400',
      message = 'outcome must be one of ok, auth_error, rate_limited, server_error, request_error';
  end if;
  select * into v_token from public.provider_tokens where id = p_token_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'token_id: provider token not found';
  end if;

  if p_outcome <> 'ok' then
    v_token.error_count := v_token.error_count + 1;
  end if;
  -- A disabled token keeps the state that disabled it (for the admin to read) whatever a
  -- call still in flight when it was disabled reports; only an admin re-enables it.
  if v_token.is_active then
    case p_outcome
      when 'ok' then
        v_token.consecutive_errors := 0;
        v_token.cooldown_level := 0;
        v_token.cooldown_until := null;
      when 'auth_error' then
        v_token.consecutive_errors := v_token.consecutive_errors + 1;
        if v_token.consecutive_errors >= 5 then
          v_token.is_active := false;
          v_token.disabled_at := v_now;
        end if;
      when 'rate_limited', 'server_error' then
        v_delay := least(300, 5 * power(2, least(v_token.cooldown_level, 10))) * (0.75 + 0.25 * random());
        v_token.cooldown_level := least(v_token.cooldown_level + 1, 30);
        -- greatest(): a report from a call that started earlier never shortens a cooldown.
        v_token.cooldown_until := greatest(v_token.cooldown_until, v_now + make_interval(secs => v_delay));
      else
        null;  -- request_error: the request was at fault, not the token
    end case;
  end if;

  update public.provider_tokens set
    error_count = v_token.error_count,
    consecutive_errors = v_token.consecutive_errors,
    cooldown_level = v_token.cooldown_level,
    cooldown_until = v_token.cooldown_until,
    is_active = v_token.is_active,
    disabled_at = v_token.disabled_at
  where id = p_token_id;
end
$$;

grant execute on function api.report_provider_token(uuid, text) to service_role;

/** Admin API */

/**
 * What admins see of a token: its health and a hint (the last four characters, none at all
 * for a secret too short to spare them), never the secret.
 */
create function private.provider_token_public(t public.provider_tokens) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', t.id,
    'provider', t.provider,
    'label', t.label,
    'token_hint', case when char_length(t.token) >= 16 then '...' || right(t.token, 4) end,
    'is_active', t.is_active,
    'cooling_down', t.cooldown_until is not null and t.cooldown_until > clock_timestamp(),
    'cooldown_until', t.cooldown_until,
    'cooldown_level', t.cooldown_level,
    'request_count', t.request_count,
    'error_count', t.error_count,
    'consecutive_errors', t.consecutive_errors,
    'last_used_at', t.last_used_at,
    'disabled_at', t.disabled_at,
    'created_at', t.created_at
  )
$$;

/**
 * Every token with its health, for admins: `{items: [...]}`. SECURITY DEFINER: the table holds secrets, so not
 * even admins may read it directly.
 */
create function api.admin_list_provider_tokens() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.require_admin();
  return jsonb_build_object('items', (
    select coalesce(jsonb_agg(private.provider_token_public(t) order by t.provider, t.created_at, t.id), '[]'::jsonb)
    from public.provider_tokens t
  ));
end
$$;

grant execute on function api.admin_list_provider_tokens() to authenticated;

/**
 * Re-enables a token (after its secret was fixed at the provider, say): active again, its
 * failure counters and cooldown cleared. Returns the token as the list shows it.
 */
create function api.admin_enable_provider_token(p_token_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_token public.provider_tokens;
begin
  perform private.require_admin();
  if p_token_id is null then
    raise exception using errcode = 'PT400', message = 'token_id is required';
  end if;
  update public.provider_tokens set
    is_active = true,
    consecutive_errors = 0,
    cooldown_level = 0,
    cooldown_until = null,
    disabled_at = null
  where id = p_token_id
  returning * into v_token;
  if not found then
    raise exception using errcode = 'PT404', message = 'token_id: provider token not found';
  end if;
  return private.provider_token_public(v_token);
end
$$;

grant execute on function api.admin_enable_provider_token(uuid) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
