/**
 * Stored outputs: what a provider or GPU worker produced is kept in storage we own.
 *
 * Providers delete their files (Replicate: an hour after an API prediction), so a
 * generation that succeeds with provider URLs gets them copied into the private
 * `generations` bucket under `{user_id}/{generation_id}/{n}.{ext}`. The copy is a task on
 * the queue (`storage.persist`), so it is retried with the queue's backoff and never
 * touches the settlement, which is already done. GPU workers upload to signed upload URLs
 * instead and complete with the paths; SQL checks each file is there.
 *
 * outputs, for a generated file kind:
 *   copying:  {"storage": "pending", "provider_urls": [...]}
 *   stored:   {"storage": "stored", "files": [{path, content_type, bytes}], "provider_urls": [...]}
 *   given up: {"storage": "failed", "provider_urls": [...]}
 * Text stays {"text": ...}. The API turns `files` into signed URLs (shared/src/storage.rs).
 *
 * Soft-deleting a generation enqueues `storage.remove` for its files, exactly once.
 * The storage jobs run in the media function (Cron Trigger, and the local sweeper through
 * POST /v1/admin/storage-jobs) as the one built-in worker below.
 */

/** The storage worker */

-- A queue lease needs a holder: the storage jobs hold theirs as this worker. Its key hash
-- is of a random value nobody keeps, so no one can authenticate as it; the jobs reach the
-- queue through the service-role functions below instead.
insert into public.workers (id, name, capabilities, key_hash)
values ('00000000-0000-4000-8000-00000000f11e', 'genbase storage jobs',
        array['storage.persist', 'storage.remove'],
        encode(sha256(convert_to(gen_random_uuid()::text || clock_timestamp()::text, 'UTF8')), 'hex'));

-- No other worker may claim storage jobs: they write the media of every user.
alter table public.workers add constraint workers_storage_jobs_reserved check (
  id = '00000000-0000-4000-8000-00000000f11e'
  or not (capabilities && array['storage.persist', 'storage.remove'])
);

create function private.storage_worker_id() returns uuid
language sql
immutable
set search_path = ''
as $$
  select '00000000-0000-4000-8000-00000000f11e'::uuid
$$;

/** Helpers (private) */

/**
 * The content types a generation kind stores, as a bucket's allowed_mime_types would say
 * (see private.mime_allowed).
 */
create function private.output_types(p_kind text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select case p_kind
    when 'image' then array['image/*']
    when 'video' then array['video/*']
    when 'audio' then array['audio/*']
    when 'music' then array['audio/*']
    when 'tts' then array['audio/*']
    -- A LoRA trainer's weights: an archive or a bare safetensors file (loras migration).
    when 'training' then array['application/x-tar', 'application/octet-stream', 'application/zip',
      'application/gzip']
  end
$$;

/**
 * The bucket a generation kind's files are stored in: a training run's weights belong to
 * its LoRA (`lora-models`), everything else to the private `generations` bucket.
 */
create function private.output_bucket(p_kind text) returns text
language sql
immutable
set search_path = ''
as $$
  select case when p_kind = 'training' then 'lora-models' else 'generations' end
$$;

/**
 * The stored files a result names, checked against storage: each path must be
 * `{user_id}/{generation_id}/{n}.{ext}` and exist in the kind's bucket (private.output_bucket)
 * with a content type the kind allows. Returns [{path, content_type, bytes}] from storage's own
 * record, in the order given; PT400 naming the first file that fails.
 */
create function private.checked_files(g public.generations, p_files jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_prefix text := g.user_id || '/' || g.id || '/';
  v_item record;
  v_object record;
  v_files jsonb := '[]'::jsonb;
begin
  if jsonb_typeof(p_files) is distinct from 'array' or jsonb_array_length(p_files) = 0 then
    raise exception using errcode = 'PT400', message = 'files must be a non-empty array';
  end if;
  for v_item in select e, n from jsonb_array_elements(p_files) with ordinality f (e, n) loop
    if jsonb_typeof(v_item.e -> 'path') is distinct from 'string'
       or left(v_item.e ->> 'path', length(v_prefix)) <> v_prefix
       or substr(v_item.e ->> 'path', length(v_prefix) + 1) !~ '^[0-9]{1,3}\.[a-z0-9]{1,5}$' then
      raise exception using errcode = 'PT400',
        message = format('files[%s].path must be %s<n>.<ext>', v_item.n - 1, v_prefix);
    end if;
    select o.metadata ->> 'mimetype' as mimetype, (o.metadata ->> 'size')::bigint as size
    into v_object
    from storage.objects o
    where o.bucket_id = private.output_bucket(g.kind) and o.name = v_item.e ->> 'path';
    if not found then
      raise exception using errcode = 'PT400',
        message = format('files[%s] was not uploaded: %s', v_item.n - 1, v_item.e ->> 'path');
    end if;
    if not private.mime_allowed(coalesce(v_object.mimetype, ''), private.output_types(g.kind)) then
      raise exception using errcode = 'PT400',
        message = format('files[%s] is %s; a %s generation stores %s', v_item.n - 1,
          coalesce(v_object.mimetype, 'untyped'), g.kind, array_to_string(private.output_types(g.kind), ', '));
    end if;
    v_files := v_files || jsonb_build_object('path', v_item.e ->> 'path',
      'content_type', v_object.mimetype, 'bytes', v_object.size);
  end loop;
  return v_files;
end
$$;

/**
 * Where a generation's outputs go: `{user_id}/{generation_id}/{n}.{ext}` for each content
 * type, in order, the extension named after the type. PT400 when a type is not one the
 * kind stores, or when there are more files than the generation may produce (its
 * reserved images, else one).
 */
create function private.output_paths(g public.generations, p_content_types text[]) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_max int := case when g.kind = 'image' then ceil(g.units)::int else 1 end;
  v_paths jsonb := '[]'::jsonb;
  v_type text;
  v_n int := 0;
begin
  if coalesce(cardinality(p_content_types), 0) not between 1 and v_max then
    raise exception using errcode = 'PT400',
      message = format('content_types must list 1 to %s types for this generation', v_max);
  end if;
  foreach v_type in array p_content_types loop
    v_type := private.mime_type(v_type);
    if v_type is null or not private.mime_allowed(v_type, private.output_types(g.kind)) then
      raise exception using errcode = 'PT400',
        message = format('content_types[%s]: a %s generation stores %s files', v_n, g.kind,
          array_to_string(private.output_types(g.kind), ', '));
    end if;
    v_paths := v_paths || jsonb_build_object('content_type', v_type,
      'path', format('%s/%s/%s.%s', g.user_id, g.id, v_n, private.mime_extension(v_type)));
    v_n := v_n + 1;
  end loop;
  return v_paths;
end
$$;

/**
 * Enqueues the removal of stored files. The paths travel in the task, so the removal
 * outlives the generation row (a purge may delete it first).
 */
create function private.enqueue_removal(p_user_id uuid, p_generation_id uuid, p_files jsonb) returns void
language sql
set search_path = ''
as $$
  insert into public.tasks (task_type, params, max_attempts)
  select 'storage.remove',
         jsonb_build_object('bucket', 'generations', 'user_id', p_user_id,
           'generation_id', p_generation_id,
           'paths', (select jsonb_agg(f -> 'path') from jsonb_array_elements(p_files) f)),
         10
  where jsonb_typeof(p_files) = 'array' and jsonb_array_length(p_files) > 0
$$;

/** Generation hooks */

/**
 * On success, before the row is written: provider URLs become a pending copy, and files a
 * GPU worker uploaded are checked and recorded as stored. A GPU worker's own URLs are
 * refused (PT400): it uploads instead.
 */
create function private.stage_outputs() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.output_types(new.kind) is null then
    return new;
  end if;
  if new.route = 'gpu' and new.outputs ? 'urls' then
    -- A worker's own URL is no place to keep a user's media, and no host to send a copy to.
    raise exception using errcode = 'PT400',
      message = 'a GPU worker uploads its outputs (POST /v1/worker/tasks/:id/uploads) and completes with {"files": [{"path": ...}]}, not urls';
  end if;
  if new.outputs ? 'files' then
    new.outputs := new.outputs || jsonb_build_object('storage', 'stored',
      'files', private.checked_files(new, new.outputs -> 'files'));
  elsif jsonb_typeof(new.outputs -> 'urls') = 'array' and jsonb_array_length(new.outputs -> 'urls') > 0 then
    new.outputs := (new.outputs - 'urls')
      || jsonb_build_object('storage', 'pending', 'provider_urls', new.outputs -> 'urls');
  elsif new.kind = 'training' and jsonb_typeof(new.outputs -> 'weights') = 'string' then
    -- A trainer answers {version, weights}: the weights file is the output to keep.
    new.outputs := (new.outputs - 'weights')
      || jsonb_build_object('storage', 'pending', 'provider_urls', jsonb_build_array(new.outputs -> 'weights'));
  end if;
  return new;
end
$$;

create trigger generations_stage_outputs
  before update of status on public.generations
  for each row when (new.status = 'succeeded' and old.status is distinct from 'succeeded')
  execute function private.stage_outputs();

/**
 * After a success with a pending copy: the copy task, in the same transaction, so a
 * settled generation always has one.
 */
create function private.enqueue_persist() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into public.tasks (task_type, params, max_attempts)
  values ('storage.persist',
    jsonb_build_object('generation_id', new.id, 'user_id', new.user_id, 'kind', new.kind,
      'sources', new.outputs -> 'provider_urls'),
    6);
  return new;
end
$$;

create trigger generations_enqueue_persist
  after update of status on public.generations
  for each row when (new.status = 'succeeded' and old.status is distinct from 'succeeded'
                     and new.outputs ->> 'storage' = 'pending')
  execute function private.enqueue_persist();

/**
 * Soft delete: its stored files go, exactly once (on the transition to deleted). SECURITY
 * DEFINER because users soft-delete their own rows and cannot write the queue.
 */
create function private.enqueue_output_removal() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.enqueue_removal(new.user_id, new.id, new.outputs -> 'files');
  return new;
end
$$;

-- A training run's weights are its LoRA's, removed when the LoRA is deleted (loras migration).
create trigger generations_enqueue_output_removal
  after update of deleted_at on public.generations
  for each row when (old.deleted_at is null and new.deleted_at is not null and new.kind <> 'training')
  execute function private.enqueue_output_removal();

/** Storage jobs API */

/**
 * Leases up to p_limit due storage jobs (only p_generation_id's, if given) for the job
 * runner (shared/src/storage_jobs.rs). The service role (the webhooks function right after a
 * success, the Cron Trigger) or an admin (the local sweeper's route) may ask. Each job says
 * what to do: persist {generation_id, user_id, kind, sources, bucket}, or remove {bucket,
 * paths}. Types and sizes are not the runner's to judge: storage_job_paths refuses a type
 * the kind does not store, and Storage a file over the bucket's limit.
 */
create function api.claim_storage_jobs(
  p_limit int default 10,
  p_lease_seconds int default 300,
  p_generation_id uuid default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_due cursor for
    select id from public.tasks
    where status = 'queued' and run_at <= now() and task_type in ('storage.persist', 'storage.remove')
      and (p_generation_id is null or params ->> 'generation_id' = p_generation_id::text)
    order by priority desc, run_at, id
    for update skip locked;
  v_id uuid;
  t public.tasks;
  v_items jsonb := '[]'::jsonb;
begin
  if coalesce(auth.role(), '') <> 'service_role' then
    perform private.require_admin();
  end if;
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
      worker_id = private.storage_worker_id(),
      attempts = attempts + 1,
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      started_at = coalesce(started_at, now()),
      updated_at = now()
    where id = v_id
    returning * into t;
    v_items := v_items || (jsonb_build_object('id', t.id, 'task_type', t.task_type,
      'attempt', t.attempts, 'max_attempts', t.max_attempts) || t.params
      || case when t.task_type = 'storage.persist'
           then jsonb_build_object('bucket', private.output_bucket(t.params ->> 'kind'))
         else '{}'::jsonb end);
  end loop;
  close v_due;
  return v_items;
end
$$;

grant execute on function api.claim_storage_jobs(int, int, uuid) to authenticated, service_role;

/**
 * The paths a persist job uploads to, for the content types it fetched (see
 * private.output_paths). Service role only.
 */
create function api.storage_job_paths(p_task_id uuid, p_content_types text[]) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.tasks := private.lock_leased_task(p_task_id, private.storage_worker_id());
  g public.generations;
begin
  select * into g from public.generations where id = (t.params ->> 'generation_id')::uuid;
  if g.id is null or t.task_type <> 'storage.persist' then
    raise exception using errcode = 'PT404', message = 'no generation to store for this job';
  end if;
  return private.output_paths(g, p_content_types);
end
$$;

grant execute on function api.storage_job_paths(uuid, text[]) to service_role;

/**
 * The paths a GPU worker uploads its outputs to, for a task it holds the lease on; the
 * worker function signs an upload URL for each. The worker then completes the task with
 * output {"files": [{"path": ...}]}, which SQL checks against storage.
 */
create function api.worker_output_paths(p_worker_key text, p_task_id uuid, p_content_types text[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
  t public.tasks := private.lock_leased_task(p_task_id, v_worker.id);
  g public.generations;
begin
  select * into g from public.generations where id = t.generation_id;
  if g.id is null then
    raise exception using errcode = 'PT404', message = 'this task has no generation to store outputs for';
  end if;
  return private.output_paths(g, p_content_types);
end
$$;

grant execute on function api.worker_output_paths(text, uuid, text[]) to service_role;

/**
 * Completes a storage job the runner holds. persist: p_files lists what it uploaded
 * ([{path}], in output order); they are checked against storage and recorded as the
 * generation's files. If the generation was deleted meanwhile (soft or purged), the files
 * just stored are removed again. remove: nothing to record.
 */
create function api.complete_storage_job(p_task_id uuid, p_files jsonb default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.tasks := private.lock_leased_task(p_task_id, private.storage_worker_id());
  g public.generations;
  v_files jsonb;
begin
  if t.task_type = 'storage.persist' then
    select * into g from public.generations where id = (t.params ->> 'generation_id')::uuid for update;
    if g.id is null then
      -- Purged while we copied: what we stored belongs to nobody.
      perform private.enqueue_removal((t.params ->> 'user_id')::uuid, (t.params ->> 'generation_id')::uuid,
        (select jsonb_agg(jsonb_build_object('path', f ->> 'path')) from jsonb_array_elements(p_files) f));
    else
      v_files := private.checked_files(g, p_files);
      update public.generations
      set outputs = outputs || jsonb_build_object('storage', 'stored', 'files', v_files)
      where id = g.id;
      -- A training run's weights stay for its LoRA, deleted run or not.
      if g.deleted_at is not null and g.kind <> 'training' then
        perform private.enqueue_removal(g.user_id, g.id, v_files);
      end if;
    end if;
  end if;
  t := private.complete_task(t, jsonb_build_object('files', coalesce(v_files, p_files)), 0);
  return jsonb_build_object('id', t.id, 'status', t.status);
end
$$;

grant execute on function api.complete_storage_job(uuid, jsonb) to service_role;

/**
 * Fails a storage job the runner holds: retried with the queue's backoff while attempts
 * remain and p_retryable, otherwise final (see the trigger below for what that means).
 */
create function api.fail_storage_job(p_task_id uuid, p_error text, p_retryable boolean default true)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.tasks := private.lock_leased_task(p_task_id, private.storage_worker_id());
begin
  t := private.fail_task(t, coalesce(left(p_error, 4000), 'storage job failed'), coalesce(p_retryable, true));
  return jsonb_build_object('id', t.id, 'status', t.status, 'run_at', t.run_at);
end
$$;

grant execute on function api.fail_storage_job(uuid, text, boolean) to service_role;

/**
 * A copy that ends without success (failed, or dead: out of attempts, including leases
 * that ran out) leaves the generation's copy failed; outputs keep the provider's URLs as
 * provenance, and the charge stands, as the provider did produce them.
 */
create function private.persist_gave_up() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.generations
  set outputs = outputs || jsonb_build_object('storage', 'failed')
  where id = (new.params ->> 'generation_id')::uuid and outputs ->> 'storage' = 'pending';
  return new;
end
$$;

create trigger tasks_persist_gave_up
  after update of status on public.tasks
  for each row when (new.task_type = 'storage.persist' and new.status in ('failed', 'dead')
                     and old.status is distinct from new.status)
  execute function private.persist_gave_up();

/** Lock down */

revoke execute on all functions in schema api, private from public;
