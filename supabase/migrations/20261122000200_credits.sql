/**
 * Credits: accounts, an append-only ledger, holds, prices and usage.
 *
 * The guarantees (TigerBeetle's, kept in Postgres):
 * - an account's balance and held amount change only together with one ledger row that
 *   records the delta and the resulting totals, in the same statement sequence, under
 *   the account's row lock; the ledger is never updated or deleted;
 * - balance >= held >= 0 is a CHECK, so no path can overdraw, whatever its bugs;
 * - a hold is resolved (settled or released) exactly once: the resolving UPDATE only
 *   matches `status = 'open'`, and its ledger row has a per-account unique key;
 * - lock order everywhere: credit account, then generation, then hold / task.
 * api.audit_credits() (generations migration) re-derives all of this from the ledger.
 */

create extension if not exists btree_gist with schema extensions;

/** Accounts */

create table public.credit_accounts (
  id uuid primary key default gen_random_uuid(),
  -- Null once the user is deleted: the ledger outlives its owner.
  owner_user_id uuid unique references public.profiles (id) on delete set null,
  -- Reserved for workspace-owned balances; no workspace table exists yet.
  workspace_id uuid,
  balance bigint not null default 0,
  held bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint credit_accounts_held_not_negative check (held >= 0),
  constraint credit_accounts_no_overdraft check (balance >= held)
);

comment on table public.credit_accounts is
  'Materialized totals of credit_ledger; available = balance - held.';

alter table public.credit_accounts enable row level security;

create policy "Users can view their own credit account"
  on public.credit_accounts for select to authenticated
  using (owner_user_id = (select auth.uid()));

revoke all on public.credit_accounts from anon, authenticated, service_role;
grant select on public.credit_accounts to authenticated, service_role;

/**
 * Opens a credit account for every new profile. SECURITY DEFINER: profiles may be
 * inserted by roles that cannot write credit_accounts.
 */
create function private.create_credit_account() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.credit_accounts (owner_user_id) values (new.id)
  on conflict (owner_user_id) do nothing;
  return new;
end
$$;

create trigger profiles_create_credit_account
  after insert on public.profiles
  for each row execute function private.create_credit_account();

insert into public.credit_accounts (owner_user_id)
select id from public.profiles
on conflict (owner_user_id) do nothing;

/** Holds */

create table public.credit_holds (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.credit_accounts (id),
  -- Foreign key added by the generations migration.
  generation_id uuid unique,
  amount bigint not null check (amount > 0),
  status text not null default 'open' check (status in ('open', 'settled', 'released')),
  charged bigint check (charged between 0 and amount),
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  constraint credit_holds_resolution check (
    (status = 'open' and resolved_at is null and charged is null)
    or (status = 'settled' and resolved_at is not null and charged is not null)
    or (status = 'released' and resolved_at is not null and charged = 0)
  )
);

create index credit_holds_account_open_idx on public.credit_holds (account_id) where status = 'open';
create index credit_holds_expiry_idx on public.credit_holds (expires_at) where status = 'open';
create index credit_holds_account_idx on public.credit_holds (account_id);

alter table public.credit_holds enable row level security;

create policy "Users can view their own credit holds"
  on public.credit_holds for select to authenticated
  using (account_id in (
    select id from public.credit_accounts where owner_user_id = (select auth.uid())
  ));

revoke all on public.credit_holds from anon, authenticated, service_role;
grant select on public.credit_holds to authenticated, service_role;

/** Ledger */

create table public.credit_ledger (
  id bigint generated always as identity primary key,
  account_id uuid not null references public.credit_accounts (id),
  kind text not null
    check (kind in ('grant', 'purchase', 'reserve', 'settle', 'release', 'refund', 'adjustment')),
  amount bigint not null,
  held_delta bigint not null default 0,
  balance_after bigint not null,
  held_after bigint not null,
  -- Internal keys prefix the client's (admin:, reserve:, resolve:), hence more room.
  idempotency_key text check (char_length(idempotency_key) between 1 and 255),
  hold_id uuid references public.credit_holds (id),
  -- No foreign key: the ledger keeps the id after a generation is deleted.
  generation_id uuid,
  actor uuid,
  reason text check (char_length(reason) <= 500),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint credit_ledger_idempotency unique (account_id, idempotency_key),
  constraint credit_ledger_totals check (held_after >= 0 and balance_after >= held_after),
  -- Each kind moves money in one direction only.
  constraint credit_ledger_kind_shape check (case kind
    when 'grant' then amount > 0 and held_delta = 0
    when 'purchase' then amount > 0 and held_delta = 0
    when 'refund' then amount > 0 and held_delta = 0
    when 'adjustment' then amount <> 0 and held_delta = 0
    when 'reserve' then amount = 0 and held_delta > 0 and hold_id is not null
    when 'settle' then amount <= 0 and held_delta < 0 and hold_id is not null
    when 'release' then amount = 0 and held_delta < 0 and hold_id is not null
  end)
);

comment on table public.credit_ledger is
  'Append-only. amount is the balance delta, held_delta the held delta; *_after are the account totals after the entry.';

create index credit_ledger_account_idx on public.credit_ledger (account_id, id desc);
create index credit_ledger_hold_idx on public.credit_ledger (hold_id) where hold_id is not null;
create index credit_ledger_generation_idx on public.credit_ledger (generation_id) where generation_id is not null;

alter table public.credit_ledger enable row level security;

create policy "Users can view their own ledger entries"
  on public.credit_ledger for select to authenticated
  using (account_id in (
    select id from public.credit_accounts where owner_user_id = (select auth.uid())
  ));

revoke all on public.credit_ledger from anon, authenticated, service_role;
grant select on public.credit_ledger to authenticated, service_role;

/**
 * Refuses UPDATE, DELETE and TRUNCATE on the ledger, for every role including the owner:
 * corrections are new entries (kind adjustment or refund).
 */
create function private.refuse_ledger_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT403', message = 'credit_ledger is append-only';
end
$$;

create trigger credit_ledger_no_update_delete
  before update or delete on public.credit_ledger
  for each row execute function private.refuse_ledger_change();

create trigger credit_ledger_no_truncate
  before truncate on public.credit_ledger
  for each statement execute function private.refuse_ledger_change();

/** Models and prices */

create table public.ai_models (
  model text primary key check (model ~ '^[a-z0-9][a-z0-9._:/-]{0,127}$'),
  kind text not null check (kind in ('image', 'video', 'audio', 'music', 'text', 'tts')),
  provider text not null check (provider in ('replicate', 'gpu')),
  provider_ref text,
  -- The queue task type a GPU worker claims for this model.
  task_type text,
  -- The most units one generation may reserve.
  max_units numeric check (max_units > 0),
  -- The provider's name for the prompt input (Replicate's TTS models call it `text`).
  prompt_param text not null default 'prompt' check (prompt_param ~ '^[a-z][a-z0-9_]{0,63}$'),
  -- Billable units per unit of the unit-driving parameter: for a GPU model priced per
  -- second of GPU time, the budgeted GPU seconds per second of video asked for.
  units_per_value numeric not null default 1 check (units_per_value > 0),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  constraint ai_models_gpu_task check (provider <> 'gpu' or task_type is not null)
);

comment on table public.ai_models is
  'What each model is, where it runs, and how its billable units follow from its parameters.';

/**
 * The parameters a model accepts: an allow-list (an unknown key is refused), with types,
 * ranges and defaults. At most one parameter drives the units (image count, seconds,
 * max tokens); see private.billable_units. A safety override is accepted only where the
 * model lists it.
 */
create table public.model_parameters (
  model text not null references public.ai_models (model) on delete cascade,
  name text not null check (name ~ '^[a-z][a-z0-9_]{0,63}$'),
  type text not null check (type in ('integer', 'number', 'boolean', 'string', 'enum')),
  minimum numeric,
  maximum numeric,
  max_length int check (max_length > 0),
  allowed jsonb check (jsonb_typeof(allowed) = 'array'),
  -- Sent when the client gives none; null means the parameter is optional and omitted.
  default_value jsonb,
  -- The provider's or worker's name for it, when it differs.
  provider_name text check (provider_name ~ '^[a-z][a-z0-9_]{0,63}$'),
  drives_units boolean not null default false,
  primary key (model, name),
  constraint model_parameters_shape check (case type
    when 'integer' then minimum is not null and maximum >= minimum
    when 'number' then minimum is not null and maximum >= minimum
    when 'string' then max_length is not null
    when 'enum' then jsonb_array_length(allowed) > 0
    else true
  end),
  constraint model_parameters_driver check (not drives_units or type = 'integer' or type = 'number')
);

create unique index model_parameters_one_driver_idx on public.model_parameters (model) where drives_units;

create table public.pricing (
  id bigint generated always as identity primary key,
  action text not null check (action ~ '^[a-z0-9_.]{1,64}$'),
  model text not null references public.ai_models (model),
  unit text not null check (unit in ('image', 'second', '1k_tokens', 'request', 'character', 'minute')),
  credits_per_unit numeric(20, 6) not null check (credits_per_unit >= 0),
  usd_per_unit numeric(20, 8) not null check (usd_per_unit >= 0),
  active_from timestamptz not null default now(),
  active_to timestamptz,
  constraint pricing_window check (active_to is null or active_to > active_from),
  -- At most one price per model at any instant: the model decides the action and the
  -- price, so a client cannot pick the cheaper of two.
  constraint pricing_one_active_price exclude using gist (
    model with =, tstzrange(active_from, active_to) with &&
  )
);

create index pricing_model_idx on public.pricing (model);

alter table public.ai_models enable row level security;
alter table public.model_parameters enable row level security;
alter table public.pricing enable row level security;

create policy "Authenticated users can view models"
  on public.ai_models for select to authenticated
  using (true);

create policy "Authenticated users can view model parameters"
  on public.model_parameters for select to authenticated
  using (true);

create policy "Authenticated users can view prices"
  on public.pricing for select to authenticated
  using (true);

revoke all on public.ai_models, public.model_parameters, public.pricing from anon, authenticated, service_role;
grant select on public.ai_models, public.model_parameters, public.pricing to authenticated, service_role;

-- 1 credit = USD 0.001. Reference data, not fixtures: prices change by closing a
-- window (active_to) and inserting a new row, never by UPDATE of credits_per_unit.
insert into public.ai_models (model, kind, provider, provider_ref, task_type, max_units, prompt_param, units_per_value) values
  ('flux-schnell', 'image', 'replicate', 'black-forest-labs/flux-schnell', null, 4, 'prompt', 1),
  ('flux-1.1-pro', 'image', 'replicate', 'black-forest-labs/flux-1.1-pro', null, 1, 'prompt', 1),
  ('kokoro-82m', 'tts', 'replicate', 'jaaari/kokoro-82m', null, 20000, 'text', 1),
  ('musicgen', 'music', 'replicate', 'meta/musicgen', null, 120, 'prompt', 1),
  ('llama-3-8b-instruct', 'text', 'replicate', 'meta/meta-llama-3-8b-instruct', null, 64, 'prompt', 1),
  -- Budget: 60 s of GPU time per second of video.
  ('wan-2.1-gpu', 'video', 'gpu', 'wan-2.1-t2v-14b', 'wan_video', 1800, 'prompt', 60);

-- The parameters of each model as its provider documents them, narrowed to what we sell:
-- no safety overrides (disable_safety_checker, safety_tolerance) on any of them.
insert into public.model_parameters
  (model, name, type, minimum, maximum, max_length, allowed, default_value, provider_name, drives_units) values
  ('flux-schnell', 'num_outputs', 'integer', 1, 4, null, null, '1', null, true),
  ('flux-schnell', 'aspect_ratio', 'enum', null, null, null, '["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]', '"1:1"', null, false),
  ('flux-schnell', 'output_format', 'enum', null, null, null, '["webp", "jpg", "png"]', '"webp"', null, false),
  ('flux-schnell', 'num_inference_steps', 'integer', 1, 4, null, null, '4', null, false),
  ('flux-schnell', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('flux-1.1-pro', 'aspect_ratio', 'enum', null, null, null, '["1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3"]', '"1:1"', null, false),
  ('flux-1.1-pro', 'output_format', 'enum', null, null, null, '["webp", "jpg", "png"]', '"webp"', null, false),
  ('flux-1.1-pro', 'prompt_upsampling', 'boolean', null, null, null, null, 'false', null, false),
  ('flux-1.1-pro', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('kokoro-82m', 'voice', 'enum', null, null, null, '["af_bella", "af_nicole", "af_sarah", "am_adam", "am_michael", "bf_emma", "bm_george"]', '"af_bella"', null, false),
  ('kokoro-82m', 'speed', 'number', 0.5, 2, null, null, '1', null, false),
  ('musicgen', 'duration', 'integer', 1, 120, null, null, '8', null, true),
  ('musicgen', 'model_version', 'enum', null, null, null, '["stereo-large", "stereo-melody-large", "melody-large", "large"]', '"stereo-large"', null, false),
  ('musicgen', 'output_format', 'enum', null, null, null, '["wav", "mp3"]', '"wav"', null, false),
  ('musicgen', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('llama-3-8b-instruct', 'max_tokens', 'integer', 1, 4096, null, null, '512', null, true),
  ('llama-3-8b-instruct', 'system_prompt', 'string', null, null, 4000, null, null, null, false),
  ('llama-3-8b-instruct', 'temperature', 'number', 0, 2, null, null, '0.7', null, false),
  ('llama-3-8b-instruct', 'top_p', 'number', 0, 1, null, null, '0.95', null, false),
  ('wan-2.1-gpu', 'duration', 'integer', 1, 10, null, null, '5', 'duration_seconds', true),
  ('wan-2.1-gpu', 'resolution', 'enum', null, null, null, '["480p", "720p"]', '"480p"', null, false),
  ('wan-2.1-gpu', 'seed', 'integer', 0, 2147483647, null, null, null, null, false);

insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, active_from) values
  ('generate_image', 'flux-schnell', 'image', 5, 0.003, '2026-01-01'),
  ('generate_image', 'flux-1.1-pro', 'image', 60, 0.04, '2026-01-01'),
  ('tts', 'kokoro-82m', 'character', 0.02, 0.00001, '2026-01-01'),
  ('generate_music', 'musicgen', 'second', 2, 0.0014, '2026-01-01'),
  ('chat', 'llama-3-8b-instruct', '1k_tokens', 1, 0.0005, '2026-01-01'),
  ('generate_video', 'wan-2.1-gpu', 'second', 0.5, 0.000278, '2026-01-01');

/** Usage */

create table public.usage_events (
  id bigint generated always as identity primary key,
  user_id uuid references public.profiles (id) on delete set null,
  account_id uuid references public.credit_accounts (id),
  -- Foreign key added by the generations migration.
  generation_id uuid,
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

/** Ledger primitives (private) */

/**
 * Locks and returns the user's credit account. Every money path starts here, so
 * concurrent requests of one user serialize on this row and never deadlock.
 */
create function private.lock_account(p_user_id uuid) returns public.credit_accounts
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts;
begin
  select * into v_account from public.credit_accounts
  where owner_user_id = p_user_id
  for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'credit account not found';
  end if;
  return v_account;
end
$$;

/**
 * Appends one ledger entry and applies it to the account totals. The caller holds the
 * account lock. Refuses with PT402 instead of letting the CHECK fail, so callers see
 * one error for "not enough credits".
 */
create function private.post_entry(
  p_account_id uuid,
  p_kind text,
  p_amount bigint,
  p_held_delta bigint,
  p_idempotency_key text default null,
  p_hold_id uuid default null,
  p_generation_id uuid default null,
  p_actor uuid default null,
  p_reason text default null,
  p_metadata jsonb default '{}'::jsonb
) returns public.credit_ledger
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts;
  v_entry public.credit_ledger;
begin
  select * into strict v_account from public.credit_accounts where id = p_account_id for update;
  if v_account.balance + p_amount < v_account.held + p_held_delta then
    raise exception using errcode = 'PT402',
      message = format('insufficient credits: %s needed, %s available',
        greatest(-p_amount, 0) + greatest(p_held_delta, 0), v_account.balance - v_account.held);
  end if;

  update public.credit_accounts
  set balance = balance + p_amount, held = held + p_held_delta, updated_at = now()
  where id = p_account_id
  returning * into v_account;

  insert into public.credit_ledger (account_id, kind, amount, held_delta, balance_after, held_after,
    idempotency_key, hold_id, generation_id, actor, reason, metadata)
  values (p_account_id, p_kind, p_amount, p_held_delta, v_account.balance, v_account.held,
    p_idempotency_key, p_hold_id, p_generation_id, p_actor, p_reason, coalesce(p_metadata, '{}'::jsonb))
  returning * into v_entry;
  return v_entry;
end
$$;

/**
 * Applies a grant / purchase / refund / adjustment exactly once per idempotency key:
 * a replay with the same kind, amount and reason returns the first entry
 * (created = false); the same key with another payload is PT409.
 */
create function private.change_credits(
  p_user_id uuid,
  p_kind text,
  p_amount bigint,
  p_idempotency_key text,
  p_actor uuid,
  p_reason text,
  p_metadata jsonb default '{}'::jsonb,
  out entry public.credit_ledger,
  out created boolean
)
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts := private.lock_account(p_user_id);
begin
  if p_kind not in ('grant', 'purchase', 'refund', 'adjustment') then
    raise exception using errcode = 'PT400', message = format('%s is not a credit change kind', p_kind);
  end if;

  select * into entry from public.credit_ledger
  where account_id = v_account.id and idempotency_key = p_idempotency_key;
  if found then
    if (entry.kind, entry.amount, entry.reason) is distinct from (p_kind, p_amount, p_reason) then
      raise exception using errcode = 'PT409', message = 'idempotency key reused with a different payload';
    end if;
    created := false;
    return;
  end if;

  entry := private.post_entry(v_account.id, p_kind, p_amount, 0, p_idempotency_key,
    null, null, p_actor, p_reason, p_metadata);
  created := true;
end
$$;

/**
 * Reserves credits on a locked account for one generation. PT402 when available
 * credits are short; nothing is written then.
 */
create function private.place_hold(
  p_account_id uuid,
  p_amount bigint,
  p_generation_id uuid,
  p_expires_at timestamptz,
  p_actor uuid
) returns public.credit_holds
language plpgsql
set search_path = ''
as $$
declare
  v_hold public.credit_holds;
begin
  insert into public.credit_holds (account_id, generation_id, amount, expires_at)
  values (p_account_id, p_generation_id, p_amount, p_expires_at)
  returning * into v_hold;

  perform private.post_entry(p_account_id, 'reserve', 0, p_amount, 'reserve:' || v_hold.id,
    v_hold.id, p_generation_id, p_actor, null);
  return v_hold;
end
$$;

/**
 * Resolves an open hold exactly once: charges p_charge (settle) or nothing when
 * p_charge is null (release), and frees the whole hold. Returns null when the hold was
 * already resolved, which makes retries and races harmless.
 */
create function private.resolve_hold(
  p_hold_id uuid,
  p_charge bigint,
  p_actor uuid default null,
  p_reason text default null
) returns public.credit_ledger
language plpgsql
set search_path = ''
as $$
declare
  v_account_id uuid;
  v_hold public.credit_holds;
begin
  select account_id into v_account_id from public.credit_holds where id = p_hold_id;
  if v_account_id is null then
    raise exception using errcode = 'PT404', message = 'credit hold not found';
  end if;
  -- Account first, then the hold: the order every money path uses.
  perform 1 from public.credit_accounts where id = v_account_id for update;

  update public.credit_holds
  set status = case when p_charge is null then 'released' else 'settled' end,
      charged = coalesce(p_charge, 0),
      resolved_at = now()
  where id = p_hold_id and status = 'open'
  returning * into v_hold;
  if not found then
    return null;
  end if;

  if coalesce(p_charge, 0) not between 0 and v_hold.amount then
    raise exception using errcode = 'PT400',
      message = format('charge %s is outside the hold of %s', p_charge, v_hold.amount);
  end if;

  return private.post_entry(v_account_id,
    case when p_charge is null then 'release' else 'settle' end,
    -coalesce(p_charge, 0), -v_hold.amount, 'resolve:' || v_hold.id,
    v_hold.id, v_hold.generation_id, p_actor, p_reason);
end
$$;

/**
 * The client's params for a model, checked against its declared parameters: unknown keys,
 * wrong types and out-of-range values are PT400 naming the field as the HTTP API does
 * (`params.num_outputs`); missing ones take their default. Returns the validated object,
 * which is what gets stored, priced and sent on.
 */
create function private.validate_params(p_model text, p_params jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_params jsonb := coalesce(p_params, '{}'::jsonb);
  v_out jsonb := '{}'::jsonb;
  v_key text;
  v_value jsonb;
  v_number numeric;
  r public.model_parameters;
begin
  if jsonb_typeof(v_params) <> 'object' then
    raise exception using errcode = 'PT400', message = 'params must be a JSON object';
  end if;
  if octet_length(v_params::text) > private.input_limit('params_bytes') then
    raise exception using errcode = 'PT400',
      message = format('params must be at most %s bytes', private.input_limit('params_bytes'));
  end if;
  for v_key in select jsonb_object_keys(v_params) loop
    if not exists (select 1 from public.model_parameters where model = p_model and name = v_key) then
      raise exception using errcode = 'PT400', message = format('params.%s is not a parameter of %s (allowed: %s)',
        left(v_key, 64), p_model,
        coalesce((select string_agg(name, ', ' order by name) from public.model_parameters where model = p_model), 'none'));
    end if;
  end loop;

  for r in select * from public.model_parameters where model = p_model order by name loop
    v_value := v_params -> r.name;
    if v_value is null or jsonb_typeof(v_value) = 'null' then
      v_value := r.default_value;
      continue when v_value is null;
    end if;
    if r.type in ('integer', 'number') then
      v_number := case when jsonb_typeof(v_value) = 'number' then (v_value #>> '{}')::numeric end;
      if v_number is null or (r.type = 'integer' and v_number <> trunc(v_number))
         or v_number < r.minimum or v_number > r.maximum then
        raise exception using errcode = 'PT400', message = format('params.%s must be %s between %s and %s',
          r.name, case r.type when 'integer' then 'an integer' else 'a number' end, r.minimum, r.maximum);
      end if;
      v_value := to_jsonb(case when r.type = 'integer' then trunc(v_number) else v_number end);
    elsif r.type = 'boolean' and jsonb_typeof(v_value) <> 'boolean' then
      raise exception using errcode = 'PT400', message = format('params.%s must be true or false', r.name);
    elsif r.type = 'string' and (jsonb_typeof(v_value) <> 'string' or char_length(v_value #>> '{}') > r.max_length) then
      raise exception using errcode = 'PT400',
        message = format('params.%s must be a string of at most %s characters', r.name, r.max_length);
    elsif r.type = 'enum' and not r.allowed @> jsonb_build_array(v_value) then
      raise exception using errcode = 'PT400', message = format('params.%s must be one of %s', r.name,
        (select string_agg(a #>> '{}', ', ') from jsonb_array_elements(r.allowed) a));
    end if;
    v_out := v_out || jsonb_build_object(r.name, v_value);
  end loop;
  return v_out;
end
$$;

/**
 * The most units a generation with these validated params can use, in the price's unit:
 * the unit-driving parameter (images, seconds x units_per_value), the characters spoken,
 * or for tokens an upper bound of the input (UTF-8 bytes of the prompt and of every text
 * parameter: a token covers at least one byte) plus max_tokens. This is what is reserved;
 * settlement charges the measured usage, capped by it.
 */
create function private.billable_units(
  p_model public.ai_models,
  p_unit text,
  p_prompt text,
  p_params jsonb
) returns numeric
language sql
stable
set search_path = ''
as $$
  select case p_unit
    when 'character' then char_length(coalesce(p_prompt, ''))::numeric
    when '1k_tokens' then round((octet_length(coalesce(p_prompt, ''))
        + coalesce((select sum(octet_length(v #>> '{}')) from jsonb_each(p_params) e (k, v)
                    where jsonb_typeof(v) = 'string'), 0)
        + coalesce(d.value, 0)) / 1000.0, 6)
    when 'second' then coalesce(d.value, 1) * p_model.units_per_value
    when 'minute' then coalesce(d.value, 1) * p_model.units_per_value
    else coalesce(d.value, 1) * p_model.units_per_value
  end
  from (select (select (p_params ->> mp.name)::numeric from public.model_parameters mp
                where mp.model = p_model.model and mp.drives_units) as value) d
$$;

/**
 * What the provider or the GPU worker receives: the validated params under their own
 * names, and the prompt. Nothing else reaches them, so they cannot be asked for more than
 * was priced.
 */
create function private.provider_input(p_model public.ai_models, p_prompt text, p_params jsonb) returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce((
      select jsonb_object_agg(coalesce(mp.provider_name, e.key), e.value)
      from jsonb_each(p_params) e
      join public.model_parameters mp on mp.model = p_model.model and mp.name = e.key
    ), '{}'::jsonb) || jsonb_build_object(p_model.prompt_param, p_prompt)
$$;

/**
 * Prices a generation: validates the params, derives the units from them, and quotes
 * them at the model's one active price. PT400 for an unknown or inactive model, bad
 * params, or units over the model's maximum. Credits round up. The result also carries
 * what create_generation needs: pricing_id, kind, provider, provider_ref and the
 * provider's input (the validated params under the provider's names, and the prompt).
 */
create function private.price(p_model text, p_prompt text, p_params jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_price public.pricing;
  v_model public.ai_models;
  v_params jsonb;
  v_units numeric;
begin
  select m.* into v_model from public.ai_models m where m.model = p_model and m.is_active;
  select p.* into v_price from public.pricing p
  where p.model = p_model and p.active_from <= now() and (p.active_to is null or p.active_to > now());
  if v_price.id is null or v_model.model is null then
    raise exception using errcode = 'PT400', message = format('model %s is not available', left(p_model, 128));
  end if;
  v_params := private.validate_params(p_model, p_params);
  v_units := private.billable_units(v_model, v_price.unit, p_prompt, v_params);
  if not v_units > 0 or v_units > coalesce(v_model.max_units, 1000000) then
    raise exception using errcode = 'PT400', message = format(
      'this request needs %s %s units; %s allows 0 to %s', v_units, v_price.unit, p_model, v_model.max_units);
  end if;

  return jsonb_build_object(
    'model', p_model,
    'action', v_price.action,
    'unit', v_price.unit,
    'units', v_units,
    'credits', ceil(v_units * v_price.credits_per_unit)::bigint,
    'cost_usd', round(v_units * v_price.usd_per_unit, 6),
    'params', v_params,
    -- Internal: used by create_generation, stripped by api.quote.
    'pricing_id', v_price.id,
    'kind', v_model.kind,
    'provider', v_model.provider,
    'provider_ref', v_model.provider_ref,
    'provider_input', private.provider_input(v_model, p_prompt, v_params)
  );
end
$$;

/** Credits API */

/**
 * The caller's balance and a keyset page of their ledger, newest first.
 * SECURITY INVOKER: RLS decides what is visible.
 */
create function api.get_my_credits(p_limit int default 20, p_before_id bigint default null) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_account public.credit_accounts;
  v_entries jsonb;
  v_count int;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'authentication required';
  end if;
  if p_limit is null or p_limit not between 1 and private.input_limit('page_limit_max') then
    raise exception using errcode = 'PT400',
      message = format('limit must be between 1 and %s', private.input_limit('page_limit_max'));
  end if;

  select * into v_account from public.credit_accounts where owner_user_id = v_uid;

  select coalesce(jsonb_agg(jsonb_build_object(
      'id', e.id, 'kind', e.kind, 'amount', e.amount, 'held_delta', e.held_delta,
      'balance_after', e.balance_after, 'held_after', e.held_after, 'reason', e.reason,
      'generation_id', e.generation_id, 'created_at', e.created_at) order by e.id desc), '[]'::jsonb),
    count(*)
  into v_entries, v_count
  from (
    select * from public.credit_ledger
    where account_id = v_account.id and (p_before_id is null or id < p_before_id)
    order by id desc
    limit p_limit + 1  -- one more than asked tells whether a next page exists
  ) e;
  if v_count > p_limit then
    v_entries := v_entries - p_limit;
  end if;

  return jsonb_build_object(
    'balance', coalesce(v_account.balance, 0),
    'held', coalesce(v_account.held, 0),
    'available', coalesce(v_account.balance - v_account.held, 0),
    'entries', v_entries,
    'next_before_id', case when v_count > p_limit then v_entries -> -1 -> 'id' end
  );
end
$$;

grant execute on function api.get_my_credits(int, bigint) to authenticated;

/**
 * What a generation with this prompt and these params would cost: the units the server
 * derives from them and the credits, before anything is reserved. SECURITY INVOKER: it
 * reads only reference data every signed-in user may read.
 */
create function api.quote(p_model text, p_prompt text, p_params jsonb default '{}'::jsonb) returns jsonb
language sql
stable
set search_path = ''
as $$
  select private.price(p_model, p_prompt, p_params)
    - 'pricing_id' - 'provider' - 'provider_ref' - 'provider_input'
$$;

-- The pricing helpers are pure functions of reference data; quote runs them as the caller.
grant execute on function private.price(text, text, jsonb), private.validate_params(text, jsonb),
  private.billable_units(public.ai_models, text, text, jsonb),
  private.provider_input(public.ai_models, text, jsonb) to authenticated, service_role;
grant execute on function api.quote(text, text, jsonb) to authenticated, service_role;

/**
 * Grants (or, kind adjustment, adds / removes) credits on a user's account. Admins
 * only; the admin's id and the reason are recorded on the ledger entry. Idempotent per
 * (user, p_idempotency_key).
 */
create function api.admin_adjust_credits(
  p_user_id uuid,
  p_kind text,
  p_amount bigint,
  p_reason text,
  p_idempotency_key text
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_admin uuid := private.require_admin();
  v_change record;
  v_account public.credit_accounts;
begin
  if p_kind is null or p_kind not in ('grant', 'adjustment') then
    raise exception using errcode = 'PT400', message = 'kind must be grant or adjustment';
  end if;
  if p_amount is null or p_amount = 0 or (p_kind = 'grant' and p_amount < 0)
     or abs(p_amount) > private.input_limit('credit_amount_max') then
    raise exception using errcode = 'PT400', message = format(
      'amount must be non-zero, positive for a grant, and at most %s', private.input_limit('credit_amount_max'));
  end if;
  if char_length(btrim(coalesce(p_reason, ''))) not between 1 and private.input_limit('reason_chars') then
    raise exception using errcode = 'PT400',
      message = format('reason is required (at most %s characters)', private.input_limit('reason_chars'));
  end if;
  if char_length(coalesce(p_idempotency_key, '')) not between 1 and private.input_limit('idempotency_key_chars') then
    raise exception using errcode = 'PT400', message = format(
      'Idempotency-Key is required (at most %s characters)', private.input_limit('idempotency_key_chars'));
  end if;

  select * into v_change from private.change_credits(p_user_id, p_kind, p_amount,
    'admin:' || p_idempotency_key, v_admin, btrim(p_reason), '{"via": "admin_adjust_credits"}');
  select * into v_account from public.credit_accounts where owner_user_id = p_user_id;

  return jsonb_build_object(
    'account', jsonb_build_object('balance', v_account.balance, 'held', v_account.held,
      'available', v_account.balance - v_account.held),
    'entry', jsonb_build_object('id', (v_change.entry).id, 'kind', (v_change.entry).kind,
      'amount', (v_change.entry).amount, 'held_delta', (v_change.entry).held_delta,
      'balance_after', (v_change.entry).balance_after, 'held_after', (v_change.entry).held_after,
      'reason', (v_change.entry).reason, 'actor', (v_change.entry).actor,
      'generation_id', (v_change.entry).generation_id, 'created_at', (v_change.entry).created_at),
    'created', v_change.created
  );
end
$$;

grant execute on function api.admin_adjust_credits(uuid, text, bigint, text, text) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
