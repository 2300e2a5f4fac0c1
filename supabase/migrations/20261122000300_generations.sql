/**
 * Generations: one table for every kind of AI output, billed through credit holds.
 *
 * Life of a generation: create_generation quotes, reserves the credits (hold) and
 * inserts it `queued`, in one transaction. It then goes to a provider (Replicate: the
 * function submits and calls mark_generation_submitted; the provider's webhook
 * finishes it) or to the GPU queue (queue migration). Finishing settles the hold at the
 * actual usage (never above the quote) or releases it; both happen exactly once.
 */

/** Generations */

create table public.generations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- Set when made in a workspace: billed to its account, seen by its members (foreign key,
  -- index and policy in the workspaces migration).
  workspace_id uuid,
  kind text not null check (kind in ('image', 'video', 'audio', 'music', 'text', 'tts', 'training')),
  action text not null,
  model text not null references public.ai_models (model),
  prompt text check (char_length(prompt) <= private.input_limit('prompt_chars')),
  -- The user's own name for it (the media library), searched with the prompt.
  title text check (char_length(title) between 1 and private.input_limit('title_chars')),
  -- The validated params (defaults filled in): what was priced and sent on.
  params jsonb not null default '{}'::jsonb check (jsonb_typeof(params) = 'object'),
  status text not null default 'queued'
    check (status in ('queued', 'processing', 'succeeded', 'failed', 'canceled')),
  -- Provider output, normalized to an object: urls, text, storage_paths, thumbnails,
  -- width, height, duration ...
  outputs jsonb not null default '{}'::jsonb check (jsonb_typeof(outputs) = 'object'),
  -- What the user may read about a failure; the provider's or worker's own words stay in
  -- generation_errors and tasks.last_error.
  error text,
  route text not null check (route in ('provider', 'gpu')),
  pricing_id bigint not null references public.pricing (id),
  -- Reserved units: the most the validated params allow, in the price's unit.
  units numeric not null check (units > 0),
  credits_reserved bigint not null default 0 check (credits_reserved >= 0),
  credits_charged bigint check (credits_charged between 0 and credits_reserved),
  cost_usd numeric(14, 6),
  provider text,
  provider_prediction_id text,
  metrics jsonb,
  idempotency_key text check (char_length(idempotency_key) between 1 and private.input_limit('idempotency_key_chars')),
  request_hash text,
  is_favorite boolean not null default false,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  processing_time_ms bigint,
  constraint generations_idempotency unique (user_id, idempotency_key)
);

-- The keyset pages of list_generations and list_media, with and without a kind. A status
-- filter reads the first of them: an index on status would cost every status change and
-- serve no query. Soft-deleted rows are left out, so a user's deletions never slow a page.
create index generations_user_created_idx on public.generations (user_id, created_at desc, id desc)
  where deleted_at is null;
create index generations_user_kind_idx on public.generations (user_id, kind, created_at desc, id desc)
  where deleted_at is null;
create unique index generations_prediction_idx on public.generations (provider, provider_prediction_id)
  where provider_prediction_id is not null;

alter table public.credit_holds
  add constraint credit_holds_generation_fk
  foreign key (generation_id) references public.generations (id) on delete set null;

alter table public.generations enable row level security;

create policy "Users can view their own generations"
  on public.generations for select to authenticated
  using (user_id = (select auth.uid()));

create policy "Admins can view every generation"
  on public.generations for select to authenticated
  using ((select private.is_admin()));

-- A disabled user reads their generations and changes nothing.
create policy "Active users can update their own generations"
  on public.generations for update to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())))
  with check (user_id = (select auth.uid()));

-- Users may favorite, title and soft-delete directly; everything else goes through the RPCs.
revoke all on public.generations from anon, authenticated, service_role;
grant select on public.generations to authenticated, service_role;
grant update (is_favorite, title, deleted_at) on public.generations to authenticated;

/**
 * Enforces the status machine and stamps its timestamps:
 * queued -> processing | succeeded | failed | canceled; processing -> succeeded |
 * failed | canceled; succeeded, failed and canceled are final (PT409).
 */
create function private.generation_status_transition() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status is distinct from old.status then
    if not (
      (old.status = 'queued' and new.status in ('processing', 'succeeded', 'failed', 'canceled'))
      or (old.status = 'processing' and new.status in ('succeeded', 'failed', 'canceled'))
    ) then
      raise exception using errcode = 'PT409',
        message = format('illegal status transition %s -> %s', old.status, new.status);
    end if;
    if new.status = 'processing' then
      new.started_at := coalesce(new.started_at, now());
    else
      new.completed_at := now();
      new.processing_time_ms := greatest(0,
        extract(epoch from new.completed_at - coalesce(new.started_at, new.created_at)) * 1000)::bigint;
    end if;
  end if;
  new.updated_at := now();
  return new;
end
$$;

create trigger generations_status_transition
  before update on public.generations
  for each row execute function private.generation_status_transition();

/**
 * What went wrong, in the provider's or worker's own words: internal URLs, response
 * bodies, stack traces. Users see only the sanitized generations.error; admins read this.
 */
create table public.generation_errors (
  id bigint generated always as identity primary key,
  generation_id uuid not null references public.generations (id) on delete cascade,
  source text not null check (source in ('provider', 'submission', 'worker', 'sweep')),
  detail text not null,
  created_at timestamptz not null default now()
);

create index generation_errors_generation_idx on public.generation_errors (generation_id);

alter table public.generation_errors enable row level security;

create policy "Admins can view generation errors"
  on public.generation_errors for select to authenticated
  using ((select private.is_admin()));

revoke all on public.generation_errors from anon, authenticated, service_role;
grant select on public.generation_errors to authenticated, service_role;

/** Generation helpers (private) */

/**
 * The generation object of the API contract: a fixed key set, whatever columns the
 * table grows.
 */
create function private.generation_json(g public.generations) returns jsonb
language sql
stable  -- timestamps render in the session time zone
set search_path = ''
as $$
  select case when g.id is not null then jsonb_build_object(
    'id', g.id, 'user_id', g.user_id, 'workspace_id', g.workspace_id, 'kind', g.kind, 'action', g.action, 'model', g.model,
    'prompt', g.prompt, 'title', g.title, 'params', g.params, 'status', g.status, 'outputs', g.outputs,
    'error', g.error, 'units', g.units, 'credits_reserved', g.credits_reserved,
    'credits_charged', g.credits_charged, 'cost_usd', g.cost_usd, 'provider', g.provider,
    'provider_prediction_id', g.provider_prediction_id, 'is_favorite', g.is_favorite,
    'created_at', g.created_at, 'started_at', g.started_at, 'completed_at', g.completed_at,
    'processing_time_ms', g.processing_time_ms
  ) end
$$;

-- The SECURITY INVOKER reads render with it.
grant execute on function private.generation_json(public.generations) to authenticated;

/**
 * A provider's or worker's output as the generation's outputs object. Replicate returns
 * a URL, a list of URLs, a list of text chunks (language models) or model-specific JSON.
 */
create function private.normalize_outputs(p_kind text, p_output jsonb) returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case
    when p_output is null or jsonb_typeof(p_output) = 'null' then null
    when jsonb_typeof(p_output) = 'object' then p_output
    when p_kind = 'text' and jsonb_typeof(p_output) = 'string' then jsonb_build_object('text', p_output)
    when p_kind = 'text' and jsonb_typeof(p_output) = 'array' then jsonb_build_object('text',
      (select coalesce(string_agg(e #>> '{}', '' order by n), '') from jsonb_array_elements(p_output) with ordinality a (e, n)))
    when jsonb_typeof(p_output) = 'string' then jsonb_build_object('urls', jsonb_build_array(p_output))
    when jsonb_typeof(p_output) = 'array'
      and not exists (select 1 from jsonb_array_elements(p_output) e where jsonb_typeof(e) <> 'string')
      then jsonb_build_object('urls', p_output)
    else jsonb_build_object('raw', p_output)
  end
$$;

/**
 * The units a finished generation used, as measured: tokens the provider reports, images
 * it returned, or p_measured (GPU seconds a worker reports). Null when nothing is
 * measured: characters spoken and seconds of music are exactly what was asked for, since
 * the provider got those values explicitly.
 */
create function private.measured_units(
  p_unit text,
  p_outputs jsonb,
  p_metrics jsonb,
  p_measured numeric
) returns numeric
language sql
immutable
set search_path = ''
as $$
  select coalesce(p_measured, case
    when p_unit = '1k_tokens' and jsonb_typeof(p_metrics -> 'input_token_count') = 'number'
      then round(((p_metrics ->> 'input_token_count')::numeric
        + coalesce((p_metrics ->> 'output_token_count')::numeric, 0)) / 1000, 6)
    -- Provider URLs, or the files a GPU worker uploaded.
    when p_unit = 'image' and jsonb_typeof(coalesce(p_outputs -> 'urls', p_outputs -> 'files')) = 'array'
      then jsonb_array_length(coalesce(p_outputs -> 'urls', p_outputs -> 'files'))::numeric
  end)
$$;

/**
 * Moves a generation to a final status and settles or releases its hold, exactly once.
 * Locks the account, then the generation, then (in resolve_hold) the hold. Returns null
 * when the generation was already final, so late or repeated callers are no-ops.
 *
 * On success the charge is the measured usage at the price of creation, capped by the
 * reservation: ceil(min(measured, reserved units) x price). More than reserved is never
 * charged and never delivered: extra images are dropped, and metrics.overrun records what
 * the provider or worker claimed. p_error is what the user reads; p_detail (the provider's
 * or worker's words) goes to generation_errors.
 */
create function private.finish_generation(
  p_generation_id uuid,
  p_status text,
  p_outputs jsonb default null,
  p_error text default null,
  p_measured numeric default null,
  p_metrics jsonb default null,
  p_detail text default null,
  p_detail_source text default 'provider'
) returns public.generations
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_workspace_id uuid;
  v_account public.credit_accounts;
  g public.generations;
  v_price public.pricing;
  v_hold_id uuid;
  v_outputs jsonb;
  -- Where the images are listed: provider URLs, or a GPU worker's uploaded files.
  v_list text;
  v_metrics jsonb := coalesce(p_metrics, '{}'::jsonb);
  v_measured numeric;
  v_units numeric;
  v_charge bigint := 0;
  v_cost numeric := 0;
begin
  if p_status not in ('succeeded', 'failed', 'canceled') then
    raise exception using errcode = 'PT400', message = format('%s is not a final status', p_status);
  end if;
  select user_id, workspace_id into v_user_id, v_workspace_id from public.generations where id = p_generation_id;
  if v_user_id is null then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;

  v_account := private.lock_billing_account(v_user_id, v_workspace_id);
  select * into g from public.generations where id = p_generation_id for update;
  if g.status in ('succeeded', 'failed', 'canceled') then
    return null;
  end if;
  select id into v_hold_id from public.credit_holds where generation_id = g.id;
  v_outputs := private.normalize_outputs(g.kind, p_outputs);
  v_list := case when v_outputs ? 'files' then 'files' else 'urls' end;

  if p_status = 'succeeded' then
    select * into v_price from public.pricing where id = g.pricing_id;
    v_measured := private.measured_units(v_price.unit, v_outputs, v_metrics, p_measured);
    if v_measured < 0 then
      v_measured := 0;
    end if;
    if v_measured > g.units then
      v_metrics := v_metrics || jsonb_build_object('overrun', true, 'measured_units', v_measured);
      if v_price.unit = 'image' then
        v_outputs := jsonb_set(v_outputs, array[v_list],
          (select jsonb_agg(u order by n) from jsonb_array_elements(v_outputs -> v_list) with ordinality a (u, n)
           where n <= g.units));
      end if;
    end if;
    v_units := least(coalesce(v_measured, g.units), g.units);
    v_charge := least(ceil(v_units * v_price.credits_per_unit)::bigint, g.credits_reserved);
    v_cost := round(v_units * v_price.usd_per_unit, 6);
    if v_hold_id is not null then
      -- The actor is who made it: on a workspace's ledger, the member who spent.
      perform private.resolve_hold(v_hold_id, v_charge, g.user_id, 'generation succeeded');
    end if;
    insert into public.usage_events (user_id, account_id, generation_id, action, provider, model,
      units, tokens_in, tokens_out, credits, cost_usd)
    values (g.user_id, v_account.id, g.id, g.action, coalesce(g.provider, g.route), g.model, v_units,
      case when jsonb_typeof(v_metrics -> 'input_token_count') = 'number' then (v_metrics ->> 'input_token_count')::numeric::bigint end,
      case when jsonb_typeof(v_metrics -> 'output_token_count') = 'number' then (v_metrics ->> 'output_token_count')::numeric::bigint end,
      v_charge, v_cost);
  elsif v_hold_id is not null then
    perform private.resolve_hold(v_hold_id, null, g.user_id, 'generation ' || p_status);
  end if;

  if p_detail is not null then
    insert into public.generation_errors (generation_id, source, detail)
    values (g.id, p_detail_source, left(p_detail, 8000));
  end if;

  update public.generations set
    status = p_status,
    outputs = coalesce(v_outputs, outputs),
    error = case when p_status = 'succeeded' then null else left(coalesce(p_error, p_status), 500) end,
    credits_charged = v_charge,
    cost_usd = v_cost,
    metrics = case when v_metrics = '{}'::jsonb then metrics else v_metrics end
  where id = g.id
  returning * into g;
  return g;
end
$$;

/** Generations API */

/**
 * Prices, reserves the credits and records a queued generation in one transaction. The
 * server derives the units from the validated params (private.price); the client never
 * states them. Idempotent per (user, p_idempotency_key): the same payload returns the
 * first generation with created = false, another payload is PT409. PT402 when credits
 * are short, with nothing written. route tells the function where to send it, and
 * provider_input is exactly what it must send. With p_workspace_id the generation is the
 * workspace's: the caller must be a member (viewers may not spend: PT403) and its
 * account pays.
 */
create function api.create_generation(
  p_kind text,
  p_model text,
  p_prompt text,
  p_params jsonb default '{}'::jsonb,
  p_idempotency_key text default null,
  p_workspace_id uuid default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_quote jsonb;
  v_hash text;
  v_account public.credit_accounts;
  v_credits bigint;
  v_route text;
  g public.generations;
begin
  if p_kind is null or p_kind not in ('image', 'video', 'audio', 'music', 'text', 'tts', 'training') then
    raise exception using errcode = 'PT400', message = 'kind must be one of image, video, audio, music, text, tts, training';
  end if;
  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'member', null, 'workspace');
  end if;
  if p_model is null or char_length(p_model) not between 1 and private.input_limit('model_chars') then
    raise exception using errcode = 'PT400',
      message = format('model must be 1 to %s characters', private.input_limit('model_chars'));
  end if;
  if char_length(btrim(coalesce(p_prompt, ''))) not between 1 and private.input_limit('prompt_chars') then
    raise exception using errcode = 'PT400',
      message = format('prompt must be 1 to %s characters', private.input_limit('prompt_chars'));
  end if;
  if p_idempotency_key is not null and char_length(p_idempotency_key) not between 1 and private.input_limit('idempotency_key_chars') then
    raise exception using errcode = 'PT400',
      message = format('Idempotency-Key must be 1 to %s characters', private.input_limit('idempotency_key_chars'));
  end if;

  v_quote := private.price(p_model, p_prompt, p_params);
  if v_quote ->> 'kind' <> p_kind then
    raise exception using errcode = 'PT400', message = format('model %s does not produce %s', p_model, p_kind);
  end if;
  v_route := case when v_quote ->> 'provider' = 'gpu' then 'gpu' else 'provider' end;
  v_hash := encode(sha256(convert_to(jsonb_build_object('kind', p_kind, 'model', p_model,
    'prompt', p_prompt, 'params', v_quote -> 'params', 'workspace_id', p_workspace_id)::text, 'UTF8')), 'hex');

  -- The account lock serializes the requests billed to one account: the idempotency
  -- lookup below cannot race with a concurrent insert of the same key on that account (a
  -- race across two accounts ends at the unique key, PT409 below).
  v_account := private.lock_billing_account(v_uid, p_workspace_id);

  if p_idempotency_key is not null then
    select * into g from public.generations where user_id = v_uid and idempotency_key = p_idempotency_key;
    if found then
      if g.request_hash is distinct from v_hash then
        raise exception using errcode = 'PT409', message = 'idempotency key reused with a different payload';
      end if;
      return jsonb_build_object('generation', private.generation_json(g), 'created', false,
        'route', g.route, 'provider_ref', v_quote -> 'provider_ref', 'provider_input', v_quote -> 'provider_input');
    end if;
  end if;

  v_credits := (v_quote ->> 'credits')::bigint;
  if v_account.balance - v_account.held < v_credits then
    raise exception using errcode = 'PT402',
      message = format('insufficient credits: %s needed, %s available', v_credits, v_account.balance - v_account.held);
  end if;

  insert into public.generations (user_id, workspace_id, kind, action, model, prompt, params, route, pricing_id,
    units, credits_reserved, idempotency_key, request_hash)
  values (v_uid, p_workspace_id, p_kind, v_quote ->> 'action', p_model, p_prompt, v_quote -> 'params', v_route,
    (v_quote ->> 'pricing_id')::bigint, (v_quote ->> 'units')::numeric, v_credits, p_idempotency_key, v_hash)
  returning * into g;

  if v_credits > 0 then
    -- GPU work may wait in the queue and retry, and a training runs for hours; provider
    -- predictions finish within the hour.
    perform private.place_hold(v_account.id, v_credits, g.id,
      now() + case when v_route = 'gpu' or p_kind = 'training' then interval '24 hours' else interval '1 hour' end, v_uid);
  end if;

  return jsonb_build_object('generation', private.generation_json(g), 'created', true,
    'route', v_route, 'provider_ref', v_quote -> 'provider_ref', 'provider_input', v_quote -> 'provider_input');
exception when unique_violation then
  raise exception using errcode = 'PT409', message = 'idempotency key is in use by a concurrent request';
end
$$;

grant execute on function api.create_generation(text, text, text, jsonb, text, uuid) to authenticated;

/**
 * Records that the function submitted a provider-routed generation; it becomes
 * processing. Repeating the call with the same prediction id is a no-op; PT409 when
 * the generation is final (e.g. canceled meanwhile) or routed to the GPU queue.
 */
create function api.mark_generation_submitted(
  p_generation_id uuid,
  p_provider text,
  p_prediction_id text
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.generations;
begin
  if char_length(p_provider) not between 1 and 64 or char_length(p_prediction_id) not between 1 and 255 then
    raise exception using errcode = 'PT400', message = 'provider and prediction id are required';
  end if;
  -- No money moves here, so no account lock, and a user's other requests do not queue
  -- behind this one. Locking only the generation cannot deadlock with the paths that lock
  -- the account first: after it, this waits at most for another submission (the unique
  -- prediction id), which holds no account either.
  select * into g from public.generations where id = p_generation_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  if g.route <> 'provider' then
    raise exception using errcode = 'PT409', message = 'generation is routed to the GPU queue';
  end if;

  if g.status = 'queued' then
    update public.generations
    set status = 'processing', provider = p_provider, provider_prediction_id = p_prediction_id
    where id = g.id
    returning * into g;
  elsif g.status = 'processing' and (g.provider, g.provider_prediction_id) = (p_provider, p_prediction_id) then
    null;
  else
    raise exception using errcode = 'PT409', message = format('generation is %s', g.status);
  end if;
  return private.generation_json(g);
end
$$;

grant execute on function api.mark_generation_submitted(uuid, text, text) to service_role;
/**
 * Fails a generation the function could not submit and releases its hold. p_error is
 * the function's own account of why (provider status, transport error); it goes to
 * generation_errors, and the user reads a sanitized message. Repeating the call returns
 * the failed generation; PT409 when it finished otherwise.
 */
create function api.fail_generation_submission(p_generation_id uuid, p_error text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  g public.generations;
begin
  g := private.finish_generation(p_generation_id, 'failed', null,
    'the provider could not start this generation; no credits were charged', null, null,
    coalesce(p_error, 'submission failed'), 'submission');
  if g.id is null then
    select * into g from public.generations where id = p_generation_id;
    if g.status <> 'failed' then
      raise exception using errcode = 'PT409', message = format('generation is %s', g.status);
    end if;
  end if;
  return private.generation_json(g);
end
$$;

grant execute on function api.fail_generation_submission(uuid, text) to service_role;

/**
 * One generation; PT404 when it is not visible or soft-deleted. SECURITY INVOKER: the
 * table's policies decide whose generations the caller sees.
 */
create function api.get_generation(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  g public.generations;
begin
  perform private.caller_id();
  select * into g from public.generations where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  return private.generation_json(g);
end
$$;

grant execute on function api.get_generation(uuid) to authenticated;

/**
 * The caller's generations (or, with p_workspace_id, the workspace's), newest first,
 * keyset-paged on (created_at, id); soft-deleted ones excluded. next_cursor is null on the
 * last page. SECURITY INVOKER: RLS decides which rows exist for the caller; the user_id or
 * workspace_id condition only lets the planner use an index.
 */
create function api.list_generations(
  p_kind text default null,
  p_status text default null,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null,
  p_workspace_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'viewer', null, 'workspace');
  end if;

  -- One row more than asked tells whether a next page exists. Planned per call with the
  -- values written in (PL/pgSQL's custom plans), the case folds to one indexed condition.
  with page as (
    select * from public.generations g
    where (case when p_workspace_id is null then g.user_id = v_uid else g.workspace_id = p_workspace_id end)
      and g.deleted_at is null
      and (p_kind is null or g.kind = p_kind)
      and (p_status is null or g.status = p_status)
      and (p_cursor_id is null or (g.created_at, g.id) < (p_cursor_created_at, p_cursor_id))
    order by g.created_at desc, g.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.generation_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_generations(text, text, int, timestamptz, uuid, uuid) to authenticated;

/**
 * Cancels one of the caller's generations and releases its hold; PT409 when final.
 */
create function api.cancel_generation(p_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_status text;
  g public.generations;
begin
  select status into v_status from public.generations
  where id = p_id and user_id = v_uid and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  g := private.finish_generation(p_id, 'canceled', null, 'canceled by user');
  if g.id is null then
    select status into v_status from public.generations where id = p_id;
    raise exception using errcode = 'PT409', message = format('generation is already %s', v_status);
  end if;
  return private.generation_json(g);
end
$$;

grant execute on function api.cancel_generation(uuid) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
