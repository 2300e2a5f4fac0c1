/**
 * Queue: GPU tasks leased to workers.
 *
 * A generation routed to 'gpu' gets a task in the transaction that creates it. Workers
 * (authenticated by a key whose sha256 is stored) claim tasks with FOR UPDATE SKIP
 * LOCKED, keep them alive with heartbeats, and complete (one by one or in batches) or
 * fail them. Only the worker holding an unexpired lease may act on a task (PT409 "lease
 * lost" otherwise).
 * Completing settles the generation's credits at duration x per-second price; a task
 * that dies fails its generation and releases the hold. Lock order, as for credits:
 * credit account, generation, task.
 */

/** Workers */

create table public.workers (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and private.input_limit('worker_name_chars')),
  -- Task types this worker may claim.
  capabilities text[] not null check (cardinality(capabilities) between 1 and 50),
  status text not null default 'active' check (status in ('active', 'disabled')),
  key_hash text not null unique,
  last_heartbeat_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_by uuid,
  created_at timestamptz not null default now()
);

alter table public.workers enable row level security;
revoke all on public.workers from anon, authenticated, service_role;
grant select on public.workers to service_role;

/** Tasks */

create table public.tasks (
  id uuid primary key default gen_random_uuid(),
  task_type text not null check (task_type ~ '^[a-z0-9_.-]{1,64}$'),
  params jsonb not null default '{}'::jsonb,
  priority int not null default 0,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'dead', 'canceled')),
  attempts int not null default 0 check (attempts >= 0),
  max_attempts int not null default 3 check (max_attempts between 1 and 20),
  run_at timestamptz not null default now(),
  lease_expires_at timestamptz,
  -- The worker holding the lease, then the one that last ran it.
  worker_id uuid references public.workers (id),
  output jsonb,
  output_location text,
  last_error text,
  duration_seconds numeric,
  -- The most GPU seconds the task may bill: what its generation reserved. The worker is
  -- told, the reference worker stops there, and a completion that reports more is charged
  -- this and flagged.
  max_seconds numeric check (max_seconds > 0),
  overrun boolean not null default false,
  generation_id uuid unique references public.generations (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  constraint tasks_lease check (
    (status = 'running') = (lease_expires_at is not null)
    and (status <> 'running' or worker_id is not null)
  )
);

-- A task is updated at least twice (claimed, finished), and no status change is a HOT
-- update, so each index costs both. These have readers: claims, the lease sweep, and the
-- admin stats' latest dead tasks (their counts per status read the whole table anyway).
-- worker_id has none: workers are disabled, never deleted.
create index tasks_claim_idx on public.tasks (priority desc, run_at, id) where status = 'queued';
create index tasks_lease_idx on public.tasks (lease_expires_at) where status = 'running';
create index tasks_dead_idx on public.tasks (completed_at desc) where status = 'dead';

alter table public.tasks enable row level security;

create policy "Admins can view tasks"
  on public.tasks for select to authenticated
  using ((select private.is_admin()));

revoke all on public.tasks from anon, authenticated, service_role;
grant select on public.tasks to authenticated, service_role;

/** Queue helpers (private) */

/**
 * sha256 of a worker key, hex: the only form in which keys are stored.
 */
create function private.worker_key_hash(p_key text) returns text
language sql
immutable
set search_path = ''
as $$
  select encode(sha256(convert_to(p_key, 'UTF8')), 'hex')
$$;

/**
 * The active worker owning this key (PT403 otherwise). Records that it was seen, at
 * most every 15 s: idle workers poll often and each write costs WAL.
 */
create function private.authenticate_worker(p_key text) returns public.workers
language plpgsql
set search_path = ''
as $$
declare
  v_worker public.workers;
begin
  select * into v_worker from public.workers
  where key_hash = private.worker_key_hash(p_key) and status = 'active';
  if not found then
    raise exception using errcode = 'PT403', message = 'invalid worker key';
  end if;
  if v_worker.last_heartbeat_at is null or v_worker.last_heartbeat_at < now() - interval '15 seconds' then
    update public.workers set last_heartbeat_at = now() where id = v_worker.id;
  end if;
  return v_worker;
end
$$;

/**
 * Creates a worker and returns its key, which is shown only this once.
 */
create function private.create_worker(p_name text, p_capabilities text[], p_created_by uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  -- Two v4 uuids: 244 random bits from the built-in CSPRNG, no pgcrypto needed.
  v_key text := 'gw_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  v_id uuid;
begin
  if char_length(btrim(coalesce(p_name, ''))) not between 1 and private.input_limit('worker_name_chars') then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('worker_name_chars'));
  end if;
  if coalesce(cardinality(p_capabilities), 0) not between 1 and private.input_limit('worker_capabilities_max')
     or exists (select 1 from unnest(p_capabilities) c
                where c is null or c !~ '^[a-z0-9_.-]+$' or char_length(c) > private.input_limit('task_type_chars')) then
    raise exception using errcode = 'PT400', message = format(
      'capabilities must list 1 to %s task types of 1 to %s characters [a-z0-9_.-]',
      private.input_limit('worker_capabilities_max'), private.input_limit('task_type_chars'));
  end if;
  insert into public.workers (name, capabilities, key_hash, created_by)
  values (btrim(p_name), p_capabilities, private.worker_key_hash(v_key), p_created_by)
  returning id into v_id;
  return jsonb_build_object('worker_id', v_id, 'worker_key', v_key);
end
$$;

/**
 * Locks a task in the global order: its generation's credit account, the generation,
 * then the task. Ingest and embedding tasks (files migration) spend their user's credits
 * without a generation: that user's account (params.user_id), then the task; an account
 * gone with its user locks nothing. Returns the locked task (null id when it does not
 * exist).
 */
create function private.lock_task(p_task_id uuid) returns public.tasks
language plpgsql
set search_path = ''
as $$
declare
  v_generation_id uuid;
  v_user_id uuid;
  v_workspace_id uuid;
  t public.tasks;
begin
  select generation_id,
         case when task_type in ('ingest.file', 'embed.messages') then (params ->> 'user_id')::uuid end
  into v_generation_id, v_user_id
  from public.tasks where id = p_task_id;
  if v_generation_id is not null then
    select user_id, workspace_id into v_user_id, v_workspace_id from public.generations where id = v_generation_id;
    perform private.lock_billing_account(v_user_id, v_workspace_id);
    perform 1 from public.generations where id = v_generation_id for update;
  elsif v_user_id is not null then
    perform 1 from public.credit_accounts where owner_user_id = v_user_id for update;
  end if;
  select * into t from public.tasks where id = p_task_id for update;
  return t;
end
$$;

/**
 * Whether the worker holds an unexpired lease on the task: false when it is another
 * worker's, was requeued, finished, canceled or does not exist (null id).
 */
create function private.holds_lease(t public.tasks, p_worker_id uuid) returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(t.status = 'running' and t.worker_id = p_worker_id and t.lease_expires_at >= now(), false)
$$;

/**
 * Locks a task the worker must hold an unexpired lease on; PT409 otherwise.
 */
create function private.lock_leased_task(p_task_id uuid, p_worker_id uuid) returns public.tasks
language plpgsql
set search_path = ''
as $$
declare
  t public.tasks := private.lock_task(p_task_id);
begin
  if not private.holds_lease(t, p_worker_id) then
    raise exception using errcode = 'PT409', message = 'lease lost';
  end if;
  return t;
end
$$;

/**
 * What is wrong with a worker's result, or null when it may complete a task: the output
 * must be a JSON object within the size limit, the duration within its limit.
 */
create function private.task_result_error(p_output jsonb, p_duration_seconds numeric) returns text
language sql
stable
set search_path = ''
as $$
  select case
    when p_output is null or jsonb_typeof(p_output) <> 'object'
         or octet_length(p_output::text) > private.input_limit('task_output_bytes')
      then format('output must be a JSON object of at most %s bytes', private.input_limit('task_output_bytes'))
    when p_duration_seconds is null
         or not p_duration_seconds between 0 and private.input_limit('task_duration_seconds_max')
      then format('duration_seconds must be between 0 and %s', private.input_limit('task_duration_seconds_max'))
  end
$$;

/**
 * Completes a task the worker holds the lease on, locked by the caller. Its generation
 * succeeds and is charged, exactly once, for the GPU time reported, capped by the task's
 * budget: ceil(min(duration, max_seconds) x per-second price). A report over the budget
 * is charged the budget and flagged (tasks.overrun) for operators.
 */
create function private.complete_task(t public.tasks, p_output jsonb, p_duration_seconds numeric)
returns public.tasks
language plpgsql
set search_path = ''
as $$
declare
  v_unit text;
begin
  update public.tasks set
    status = 'succeeded',
    output = p_output,
    output_location = p_output ->> 'output_location',
    duration_seconds = p_duration_seconds,
    overrun = coalesce(p_duration_seconds > max_seconds, false),
    lease_expires_at = null,
    completed_at = now(),
    updated_at = now()
  where id = t.id
  returning * into t;

  if t.generation_id is not null then
    select p.unit into v_unit
    from public.generations g join public.pricing p on p.id = g.pricing_id
    where g.id = t.generation_id;
    perform private.finish_generation(t.generation_id, 'succeeded', p_output, null,
      case v_unit when 'second' then p_duration_seconds when 'minute' then p_duration_seconds / 60 end,
      jsonb_build_object('duration_seconds', p_duration_seconds, 'worker_id', t.worker_id));
  end if;
  return t;
end
$$;

/**
 * Fails a locked running task. Retryable failures with attempts left go back to the
 * queue after an exponential backoff with equal jitter: base 5 s x 2^attempts, capped
 * at 1 hour, then scaled by a random factor in [0.5, 1) so retries of a failed batch
 * spread out. Otherwise the task ends (dead when attempts ran out, failed when not
 * retryable), its generation fails and the credit hold is released.
 */
create function private.fail_task(t public.tasks, p_error text, p_retryable boolean) returns public.tasks
language plpgsql
set search_path = ''
as $$
begin
  if p_retryable and t.attempts < t.max_attempts then
    update public.tasks set
      status = 'queued',
      run_at = now() + make_interval(secs => least(5 * power(2, t.attempts), 3600) * (0.5 + random() / 2)),
      lease_expires_at = null,
      worker_id = null,
      last_error = left(p_error, 4000),
      updated_at = now()
    where id = t.id
    returning * into t;
  else
    update public.tasks set
      status = case when p_retryable then 'dead' else 'failed' end,
      lease_expires_at = null,
      last_error = left(p_error, 4000),
      completed_at = now(),
      updated_at = now()
    where id = t.id
    returning * into t;
    if t.generation_id is not null then
      -- The worker's words stay in tasks.last_error; the user reads a sanitized message.
      perform private.finish_generation(t.generation_id, 'failed', null,
        'the GPU worker could not complete this generation; no credits were charged');
    end if;
  end if;
  return t;
end
$$;

/** Generation hooks */

/**
 * Enqueues the GPU task of a generation routed to 'gpu', in the creating transaction. The
 * task carries the validated input (the worker's names for the params) and its GPU-second
 * budget, and nothing the client sent beyond that.
 */
create function private.enqueue_generation_task() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.tasks (task_type, params, max_seconds, generation_id)
  select m.task_type,
         jsonb_build_object('generation_id', new.id, 'model', new.model, 'provider_ref', m.provider_ref,
           'action', new.action, 'input', private.provider_input(m, new.prompt, new.params),
           'max_seconds', b.max_seconds),
         b.max_seconds,
         new.id
  from public.ai_models m
  join public.pricing p on p.id = new.pricing_id
  cross join lateral (select case p.unit when 'second' then new.units when 'minute' then new.units * 60 end
                      as max_seconds) b
  where m.model = new.model;
  return new;
end
$$;

create trigger generations_enqueue_gpu_task
  after insert on public.generations
  for each row when (new.route = 'gpu')
  execute function private.enqueue_generation_task();

/**
 * Cancels the queued or running task of a generation that was canceled or failed
 * elsewhere (user cancel, expired hold); its worker's next call gets "lease lost".
 */
create function private.cancel_generation_task() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.tasks
  set status = 'canceled', lease_expires_at = null, completed_at = now(), updated_at = now(),
      last_error = coalesce(last_error, 'generation ' || new.status)
  where generation_id = new.id and status in ('queued', 'running');
  return new;
end
$$;

create trigger generations_cancel_task
  after update of status on public.generations
  for each row when (new.status in ('canceled', 'failed') and old.status is distinct from new.status)
  execute function private.cancel_generation_task();

/**
 * PT400 unless a lease length is within the limits.
 */
create function private.check_lease_seconds(p_lease_seconds int) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_lease_seconds is null
     or p_lease_seconds not between private.input_limit('lease_seconds_min') and private.input_limit('lease_seconds_max') then
    raise exception using errcode = 'PT400', message = format('lease_seconds must be between %s and %s',
      private.input_limit('lease_seconds_min'), private.input_limit('lease_seconds_max'));
  end if;
end
$$;

/** Worker API (service_role: the worker gateway calls these with the worker's key) */

/**
 * Registers a worker; returns its id and key (the key is not stored, only its sha256).
 */
create function api.register_worker(p_name text, p_capabilities text[]) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.create_worker(p_name, p_capabilities, null)
$$;

grant execute on function api.register_worker(text, text[]) to service_role;

/**
 * Registers a worker on behalf of an admin user.
 */
create function api.admin_register_worker(p_name text, p_capabilities text[]) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return private.create_worker(p_name, p_capabilities, private.require_admin());
end
$$;

grant execute on function api.admin_register_worker(text, text[]) to authenticated;

/**
 * Leases up to p_limit due tasks the worker can run, highest priority first, skipping
 * rows other workers are claiming. Their generations become processing.
 *
 * A cursor takes the tasks one at a time: its plan is made for the first rows (the claim
 * index, in order) whatever p_limit is, where a LIMIT p_limit query is planned again on
 * every call; and only the rows taken get locked.
 */
create function api.worker_claim(
  p_worker_key text,
  p_task_types text[] default null,
  p_limit int default 1,
  p_lease_seconds int default 60
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
  v_due cursor for
    select id from public.tasks
    where status = 'queued' and run_at <= now()
      and task_type = any (v_worker.capabilities)
      and (p_task_types is null or task_type = any (p_task_types))
    order by priority desc, run_at, id
    for update skip locked;
  v_id uuid;
  t public.tasks;
  v_items jsonb := '[]'::jsonb;
  v_generations uuid[] := '{}';
begin
  if p_limit is null or p_limit not between 1 and private.input_limit('claim_limit_max') then
    raise exception using errcode = 'PT400',
      message = format('limit must be between 1 and %s', private.input_limit('claim_limit_max'));
  end if;
  perform private.check_lease_seconds(p_lease_seconds);

  open v_due;
  while jsonb_array_length(v_items) < p_limit loop
    fetch v_due into v_id;
    exit when not found;
    update public.tasks set
      status = 'running',
      worker_id = v_worker.id,
      attempts = attempts + 1,
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      started_at = coalesce(started_at, now()),
      updated_at = now()
    where id = v_id
    returning * into t;
    v_items := v_items || jsonb_build_object(
      'id', t.id, 'task_type', t.task_type, 'params', t.params, 'attempt', t.attempts,
      'max_attempts', t.max_attempts, 'lease_expires_at', t.lease_expires_at,
      'generation_id', t.generation_id, 'max_seconds', t.max_seconds);
    if t.generation_id is not null then
      v_generations := v_generations || t.generation_id;
    end if;
  end loop;
  close v_due;

  -- SKIP LOCKED here too: a generation being canceled right now keeps its lock, and the
  -- cancel then cancels this task; waiting instead could deadlock with it.
  if cardinality(v_generations) > 0 then
    update public.generations g set status = 'processing'
    where g.id in (
      select gg.id from public.generations gg
      where gg.id = any (v_generations) and gg.status = 'queued'
      for no key update skip locked
    );
  end if;
  return v_items;
end
$$;

grant execute on function api.worker_claim(text, text[], int, int) to service_role;

/**
 * Extends the lease of a task the worker holds.
 */
create function api.worker_heartbeat(p_worker_key text, p_task_id uuid, p_lease_seconds int default 60)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
  v_lease timestamptz;
begin
  perform private.check_lease_seconds(p_lease_seconds);
  update public.tasks
  set lease_expires_at = now() + make_interval(secs => p_lease_seconds), updated_at = now()
  where id = p_task_id and status = 'running' and worker_id = v_worker.id and lease_expires_at >= now()
  returning lease_expires_at into v_lease;
  if not found then
    raise exception using errcode = 'PT409', message = 'lease lost';
  end if;
  return jsonb_build_object('lease_expires_at', v_lease);
end
$$;

grant execute on function api.worker_heartbeat(text, uuid, int) to service_role;

/**
 * Completes a leased task (see private.complete_task).
 */
create function api.worker_complete(
  p_worker_key text,
  p_task_id uuid,
  p_output jsonb,
  p_duration_seconds numeric
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
  v_error text := private.task_result_error(p_output, p_duration_seconds);
begin
  if v_error is not null then
    raise exception using errcode = 'PT400', message = v_error;
  end if;
  return to_jsonb(private.complete_task(private.lock_leased_task(p_task_id, v_worker.id),
    p_output, p_duration_seconds));
end
$$;

grant execute on function api.worker_complete(text, uuid, jsonb, numeric) to service_role;

/**
 * Completes several leased tasks in one transaction, each as worker_complete does: a
 * worker that finishes tasks in batches pays one round trip and one commit per batch.
 * p_results is [{task_id, output, duration_seconds}], at most claim_limit_max items.
 *
 * The batch is checked as a whole first: a malformed item or a task listed twice refuses
 * it (PT400) and nothing is done. Then each task completes, or, when the worker does not
 * hold its lease (another worker's, requeued, finished, canceled, unknown), is left alone
 * and reported; the others still complete. Returns one outcome per item, in order:
 * {task_id, status: 'succeeded', overrun} or {task_id, error: {code: 'PT409', message:
 * 'lease lost'}}. Tasks are locked in the global order, their accounts by id (each followed
 * by its generation and task), then tasks without a generation by id, so batches sharing
 * accounts never deadlock.
 */
create function api.worker_complete_batch(p_worker_key text, p_results jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
  v_count int := case when jsonb_typeof(p_results) = 'array' then jsonb_array_length(p_results) end;
  v_item record;
  v_error text;
  v_outcomes jsonb[];
  t public.tasks;
begin
  if v_count is null or v_count not between 1 and private.input_limit('claim_limit_max') then
    raise exception using errcode = 'PT400',
      message = format('results must be an array of 1 to %s items', private.input_limit('claim_limit_max'));
  end if;
  for v_item in select e, n - 1 as i from jsonb_array_elements(p_results) with ordinality r (e, n) loop
    v_error := case
      when jsonb_typeof(v_item.e) <> 'object' then 'must be an object'
      when v_item.e - 'task_id' - 'output' - 'duration_seconds' <> '{}'::jsonb
        then 'only task_id, output and duration_seconds are allowed'
      when coalesce(v_item.e ->> 'task_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
        then 'task_id must be a uuid'
      when jsonb_typeof(v_item.e -> 'duration_seconds') is distinct from 'number'
        then 'duration_seconds must be a number'
      else private.task_result_error(v_item.e -> 'output', (v_item.e ->> 'duration_seconds')::numeric)
    end;
    if v_error is not null then
      raise exception using errcode = 'PT400', message = format('results[%s]: %s', v_item.i, v_error);
    end if;
  end loop;
  if (select count(distinct (e ->> 'task_id')::uuid) from jsonb_array_elements(p_results) e) <> v_count then
    raise exception using errcode = 'PT400', message = 'each task may be listed once';
  end if;

  v_outcomes := array_fill(null::jsonb, array[v_count]);
  for v_item in
    select (r.e ->> 'task_id')::uuid as task_id, r.e -> 'output' as output,
           (r.e ->> 'duration_seconds')::numeric as duration_seconds, r.n
    from jsonb_array_elements(p_results) with ordinality r (e, n)
    left join public.tasks k on k.id = (r.e ->> 'task_id')::uuid
    left join public.generations g on g.id = k.generation_id
    left join public.credit_accounts ua on ua.owner_user_id = g.user_id and g.workspace_id is null
    left join public.credit_accounts wa on wa.workspace_id = g.workspace_id
    order by coalesce(wa.id, ua.id) nulls last, 1
  loop
    t := private.lock_task(v_item.task_id);
    if private.holds_lease(t, v_worker.id) then
      t := private.complete_task(t, v_item.output, v_item.duration_seconds);
      v_outcomes[v_item.n] := jsonb_build_object('task_id', t.id, 'status', t.status, 'overrun', t.overrun);
    else
      v_outcomes[v_item.n] := jsonb_build_object('task_id', v_item.task_id,
        'error', jsonb_build_object('code', 'PT409', 'message', 'lease lost'));
    end if;
  end loop;
  return to_jsonb(v_outcomes);
end
$$;

grant execute on function api.worker_complete_batch(text, jsonb) to service_role;

/**
 * Fails a leased task: back to the queue with backoff while retryable attempts remain,
 * otherwise final (see private.fail_task).
 */
create function api.worker_fail(
  p_worker_key text,
  p_task_id uuid,
  p_error text,
  p_retryable boolean default true
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
begin
  if char_length(p_error) > private.input_limit('task_error_chars') then
    raise exception using errcode = 'PT400',
      message = format('error must be at most %s characters', private.input_limit('task_error_chars'));
  end if;
  return to_jsonb(private.fail_task(private.lock_leased_task(p_task_id, v_worker.id),
    coalesce(p_error, 'worker reported a failure'), coalesce(p_retryable, true)));
end
$$;

grant execute on function api.worker_fail(text, uuid, text, boolean) to service_role;

/**
 * Queue health for admins: counts per status and type, the age of the oldest due
 * task, and the latest dead tasks. SECURITY INVOKER: the admin policy on tasks is what
 * lets an admin see them.
 */
create function api.admin_queue_stats() returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  perform private.require_admin();
  return jsonb_build_object(
    'by_status_type', (
      select coalesce(jsonb_agg(jsonb_build_object('status', status, 'task_type', task_type, 'count', n)
        order by status, task_type), '[]'::jsonb)
      from (select status, task_type, count(*) as n from public.tasks group by status, task_type) s
    ),
    'oldest_queued_age_seconds', (
      select floor(extract(epoch from now() - min(run_at)))::bigint
      from public.tasks where status = 'queued' and run_at <= now()
    ),
    'dead', (
      select coalesce(jsonb_agg(jsonb_build_object('id', id, 'task_type', task_type, 'attempts', attempts,
        'last_error', last_error, 'generation_id', generation_id, 'completed_at', completed_at)
        order by completed_at desc), '[]'::jsonb)
      from (select * from public.tasks where status = 'dead' order by completed_at desc limit 50) d
    )
  );
end
$$;

grant execute on function api.admin_queue_stats() to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
