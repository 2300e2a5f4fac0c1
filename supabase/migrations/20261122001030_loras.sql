/**
 * LoRAs and training data (seeds 002: user_loras, lora_training_images, buckets
 * lora-training-images and lora-models; 003: resources that can be public,
 * training_data_batches, training_data, training_data_segments, bucket training-data).
 *
 * A LoRA belongs to its creator (user_id) and, optionally, to a workspace, whose members
 * reach it by role: viewers read it, members edit it, add training images and train it
 * (spending the workspace's credits), admins publish and delete it. A public LoRA that is
 * ready is readable by every signed-in user; its training images never are.
 *
 * Training is a billed generation of kind `training` (api.start_lora_training): the
 * reservation, the provider's webhook, the settlement and the copy of the weights are the
 * generations' own paths (create_generation, handle_provider_webhook, the storage jobs),
 * so a training run is charged exactly once like any generation. A trigger on generations
 * follows the run onto the LoRA: ready with the weights' path in `lora-models` once the
 * copy is stored, failed with the generation's error otherwise.
 *
 * Training data (003) is a user's own: batches of videos (uploads of purpose
 * training_video, bucket training-data) cut into segments whose bounds a trigger checks
 * against the video's duration.
 *
 * Reads are SECURITY INVOKER (RLS decides); writes are too, through column grants and
 * policies, except start_lora_training (it moves a LoRA's status, which users cannot
 * write) and the trigger that queues the removal of a deleted LoRA's weights.
 */

/** Training models */

-- A `training` model trains LoRAs: its generations' output is weights (stored-outputs
-- migration), priced per optimizer step (models migration's `step` unit). It runs at
-- Replicate (its trainings API); start_lora_training refuses a GPU-queue trainer, whose
-- workers upload to the generations bucket, not lora-models.
alter table public.ai_models
  drop constraint ai_models_kind_check,
  add constraint ai_models_kind_check
    check (kind in ('image', 'video', 'audio', 'music', 'text', 'tts', 'chat', 'embedding', 'training'));

/** LoRAs */

create table public.loras (
  id uuid primary key default gen_random_uuid(),
  -- The creator: owner of the LoRA wherever it lives.
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  -- Set: the workspace's members reach it by role. A deleted workspace keeps its row, so
  -- the LoRA stays with its creator.
  workspace_id uuid references public.workspaces (id),
  name text not null check (char_length(btrim(name)) between 1 and private.input_limit('title_chars')),
  description text check (char_length(description) <= private.input_limit('lora_description_chars')),
  -- The word prompts use to call the LoRA; sent to the trainer, so fixed once trained.
  trigger_word text check (char_length(btrim(trigger_word)) between 1 and private.input_limit('lora_trigger_word_chars')),
  -- The model the LoRA adapts (an image or video model).
  base_model text not null references public.ai_models (model),
  visibility text not null default 'private' check (visibility in ('private', 'public')),
  status text not null default 'draft' check (status in ('draft', 'training', 'ready', 'failed')),
  -- The latest training run (a generation of kind training).
  generation_id uuid references public.generations (id) on delete set null,
  -- The trained weights in the lora-models bucket, once stored.
  weights_path text,
  error text,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint loras_ready_has_weights check (status <> 'ready' or weights_path is not null)
);

comment on table public.loras is
  'LoRA adapters: private to their creator and workspace, or public once ready; trained as billed generations.';

-- The keyset pages of list_loras: mine, a workspace's, the public ones.
create index loras_user_created_idx on public.loras (user_id, created_at desc, id desc)
  where deleted_at is null;
create index loras_workspace_created_idx on public.loras (workspace_id, created_at desc, id desc)
  where workspace_id is not null and deleted_at is null;
create index loras_public_created_idx on public.loras (created_at desc, id desc)
  where visibility = 'public' and status = 'ready' and deleted_at is null;
-- The training trigger finds a run's LoRA; the weights' storage policy finds a path's.
create unique index loras_generation_idx on public.loras (generation_id) where generation_id is not null;
create index loras_weights_idx on public.loras (weights_path) where weights_path is not null;

create trigger loras_touch_updated_at
  before update on public.loras
  for each row execute function private.touch_updated_at();

alter table public.loras enable row level security;

create policy "Users can view their own LoRAs"
  on public.loras for select to authenticated
  using (user_id = (select auth.uid()));

create policy "Workspace members can view the workspace's LoRAs"
  on public.loras for select to authenticated
  using (workspace_id = any ((select private.my_ids('viewer'))::uuid[]));

create policy "Signed-in users can view public LoRAs that are ready"
  on public.loras for select to authenticated
  using (visibility = 'public' and status = 'ready' and deleted_at is null);

-- Creating in a workspace spends nothing yet, but makes content there: member and up.
create policy "Active users can create LoRAs of their own"
  on public.loras for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (workspace_id is null or workspace_id = any ((select private.my_ids('member'))::uuid[])));

-- Who may change which column beyond this (publishing, deleting, the trigger word once
-- trained) is private.guard_lora_update's.
create policy "Owners and workspace members can update LoRAs"
  on public.loras for update to authenticated
  using (deleted_at is null
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (user_id = (select auth.uid()) or workspace_id = any ((select private.my_ids('member'))::uuid[])))
  with check (user_id = (select auth.uid()) or workspace_id = any ((select private.my_ids('member'))::uuid[]));

-- Status, the training run, the weights and the error are the server's: a row a user
-- wrote could claim weights it never trained.
revoke all on public.loras from anon, authenticated, service_role;
grant select on public.loras to authenticated, service_role;
grant insert (user_id, workspace_id, name, description, trigger_word, base_model, visibility)
  on public.loras to authenticated;
grant update (name, description, trigger_word, visibility, deleted_at) on public.loras to authenticated;

/** Training images */

create table public.lora_training_images (
  id uuid primary key default gen_random_uuid(),
  lora_id uuid not null references public.loras (id) on delete cascade,
  -- One of the adder's uploads of purpose training_image (bucket lora-training-images).
  upload_id uuid not null references public.uploads (id) on delete cascade,
  -- Who added it: their upload, in their folder.
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  -- Copied from the upload: the uploads policy shows an upload to its uploader only, and
  -- the LoRA's other members list its images too.
  storage_path text not null,
  created_at timestamptz not null default now(),
  constraint lora_training_images_once unique (lora_id, upload_id)
);

create index lora_training_images_lora_idx on public.lora_training_images (lora_id, created_at);
create index lora_training_images_upload_idx on public.lora_training_images (upload_id);

alter table public.lora_training_images enable row level security;

-- Never through a public LoRA: training images are their owners' data.
create policy "Owners and workspace members can view a LoRA's training images"
  on public.lora_training_images for select to authenticated
  using (lora_id in (
    select l.id from public.loras l
    where l.deleted_at is null
      and (l.user_id = (select auth.uid()) or l.workspace_id = any ((select private.my_ids('viewer'))::uuid[]))));

create policy "Owners and workspace members can add their uploads to a LoRA"
  on public.lora_training_images for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.uploads u
                where u.id = upload_id and u.user_id = (select auth.uid())
                  and u.purpose = 'training_image' and u.path = storage_path)
    and lora_id in (
      select l.id from public.loras l
      where l.deleted_at is null
        and (l.user_id = (select auth.uid()) or l.workspace_id = any ((select private.my_ids('member'))::uuid[]))));

create policy "Owners and workspace members can remove a LoRA's training images"
  on public.lora_training_images for delete to authenticated
  using ((select is_active from public.profiles where id = (select auth.uid()))
    and lora_id in (
      select l.id from public.loras l
      where l.deleted_at is null
        and (l.user_id = (select auth.uid()) or l.workspace_id = any ((select private.my_ids('member'))::uuid[]))));

revoke all on public.lora_training_images from anon, authenticated, service_role;
grant select on public.lora_training_images to authenticated, service_role;
grant insert (lora_id, upload_id, user_id, storage_path) on public.lora_training_images to authenticated;
grant delete on public.lora_training_images to authenticated;

/** Training data (003) */

create table public.training_data_batches (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  name text not null check (char_length(btrim(name)) between 1 and private.input_limit('title_chars')),
  description text check (char_length(description) <= private.input_limit('lora_description_chars')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index training_data_batches_user_created_idx
  on public.training_data_batches (user_id, created_at desc, id desc);

create trigger training_data_batches_touch_updated_at
  before update on public.training_data_batches
  for each row execute function private.touch_updated_at();

create table public.training_data (
  id uuid primary key default gen_random_uuid(),
  batch_id uuid not null references public.training_data_batches (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  -- One of the user's uploads of purpose training_video (bucket training-data).
  upload_id uuid not null references public.uploads (id) on delete cascade,
  storage_path text not null,
  filename text check (char_length(filename) between 1 and 255),
  -- As the client measured it (SQL cannot read a video); segments are checked against it,
  -- so it never changes.
  duration_seconds numeric not null
    check (duration_seconds > 0 and duration_seconds <= private.input_limit('training_video_seconds_max')),
  created_at timestamptz not null default now(),
  constraint training_data_once unique (batch_id, upload_id)
);

create index training_data_batch_created_idx on public.training_data (batch_id, created_at desc, id desc);
create index training_data_user_idx on public.training_data (user_id);
create index training_data_upload_idx on public.training_data (upload_id);

create table public.training_data_segments (
  id uuid primary key default gen_random_uuid(),
  video_id uuid not null references public.training_data (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  -- Seconds from the video's start: 0 <= start_time < end_time <= its duration
  -- (private.check_segment).
  start_time numeric not null,
  end_time numeric not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index training_data_segments_video_idx on public.training_data_segments (video_id, start_time, id);
create index training_data_segments_user_idx on public.training_data_segments (user_id);

create trigger training_data_segments_touch_updated_at
  before update on public.training_data_segments
  for each row execute function private.touch_updated_at();

alter table public.training_data_batches enable row level security;
alter table public.training_data enable row level security;
alter table public.training_data_segments enable row level security;

create policy "Users can view their own training batches"
  on public.training_data_batches for select to authenticated
  using (user_id = (select auth.uid()));

create policy "Active users can create their own training batches"
  on public.training_data_batches for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

create policy "Active users can change their own training batches"
  on public.training_data_batches for update to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())))
  with check (user_id = (select auth.uid()));

create policy "Active users can delete their own training batches"
  on public.training_data_batches for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

create policy "Users can view their own training videos"
  on public.training_data for select to authenticated
  using (user_id = (select auth.uid()));

-- A video joins one of its owner's batches, from one of its owner's uploads.
create policy "Active users can add their uploads to their own batches"
  on public.training_data for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.training_data_batches b
                where b.id = batch_id and b.user_id = (select auth.uid()))
    and exists (select 1 from public.uploads u
                where u.id = upload_id and u.user_id = (select auth.uid())
                  and u.purpose = 'training_video' and u.path = storage_path));

create policy "Active users can delete their own training videos"
  on public.training_data for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

create policy "Users can view their own segments"
  on public.training_data_segments for select to authenticated
  using (user_id = (select auth.uid()));

create policy "Active users can cut their own videos"
  on public.training_data_segments for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.training_data v
                where v.id = video_id and v.user_id = (select auth.uid())));

create policy "Active users can change their own segments"
  on public.training_data_segments for update to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())))
  with check (user_id = (select auth.uid()));

create policy "Active users can delete their own segments"
  on public.training_data_segments for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

revoke all on public.training_data_batches, public.training_data, public.training_data_segments
  from anon, authenticated, service_role;
grant select on public.training_data_batches, public.training_data, public.training_data_segments
  to authenticated, service_role;
grant insert (user_id, name, description) on public.training_data_batches to authenticated;
grant update (name, description) on public.training_data_batches to authenticated;
grant delete on public.training_data_batches to authenticated;
grant insert (batch_id, user_id, upload_id, storage_path, filename, duration_seconds)
  on public.training_data to authenticated;
grant delete on public.training_data to authenticated;
grant insert (video_id, user_id, start_time, end_time) on public.training_data_segments to authenticated;
grant update (start_time, end_time) on public.training_data_segments to authenticated;
grant delete on public.training_data_segments to authenticated;

/** Trained weights in storage */

-- The lora-models bucket's folder policy (identity migration) lets a folder's owner read
-- it; the weights of a LoRA are also read by whoever can see the LoRA (its workspace, and
-- everyone once it is public), decided by the loras policies above. Guarded like the
-- identity migration's, for a Postgres without Supabase Storage.
do $$
begin
  if to_regclass('storage.objects') is null then
    raise notice 'storage schema not found: skipping the LoRA weights policy';
    return;
  end if;
  drop policy if exists "Users can read the weights of LoRAs they can see" on storage.objects;
  create policy "Users can read the weights of LoRAs they can see"
    on storage.objects for select to authenticated
    using (
      bucket_id = 'lora-models'
      and exists (select 1 from public.loras l
                  where l.weights_path = storage.objects.name and l.deleted_at is null)
    );
end
$$;

/** Helpers (private) */

/**
 * The caller's role on a LoRA: owner for its creator, else their role in its workspace
 * (a workspace owner counts as admin, as on all workspace content); null when none.
 */
create function private.lora_role(l public.loras) returns text
language sql
stable
set search_path = ''
as $$
  select case when l.user_id = auth.uid() then 'owner' else private.role_on(l.id, l.workspace_id) end
$$;

/**
 * The LoRA p_id (not deleted) when the caller's role on it is at least p_min_role: PT404
 * when they have none (a public LoRA too: nobody but its people writes it or reads its
 * images), PT403 naming the role when theirs is lower. Every LoRA write and the images
 * read start here, so the answer for a stranger is the same whatever exists.
 */
create function private.require_lora(p_id uuid, p_min_role text) returns public.loras
language plpgsql
stable
set search_path = ''
as $$
declare
  l public.loras;
  v_role text;
begin
  select * into l from public.loras where id = p_id and deleted_at is null;
  v_role := private.lora_role(l);
  if l.id is null or v_role is null then
    raise exception using errcode = 'PT404', message = 'LoRA not found';
  end if;
  if private.role_rank(v_role) < private.role_rank(p_min_role) then
    raise exception using errcode = 'PT403', message = format('requires the %s role (yours: %s)', p_min_role, v_role);
  end if;
  return l;
end
$$;

/**
 * The LoRA object of the API: a fixed key set; the weights as {bucket, path} once stored
 * (the function signs a URL for them as the caller).
 */
create function private.lora_json(l public.loras) returns jsonb
language sql
stable  -- timestamps render in the session time zone
set search_path = ''
as $$
  select case when l.id is not null then jsonb_build_object(
    'id', l.id, 'user_id', l.user_id, 'workspace_id', l.workspace_id, 'name', l.name,
    'description', l.description, 'trigger_word', l.trigger_word, 'base_model', l.base_model,
    'visibility', l.visibility, 'status', l.status, 'generation_id', l.generation_id,
    'weights', case when l.weights_path is not null
      then jsonb_build_object('bucket', 'lora-models', 'path', l.weights_path) end,
    'error', l.error, 'created_at', l.created_at, 'updated_at', l.updated_at
  ) end
$$;

create function private.lora_image_json(i public.lora_training_images) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', i.id, 'lora_id', i.lora_id, 'upload_id', i.upload_id,
    'user_id', i.user_id, 'bucket', 'lora-training-images', 'path', i.storage_path,
    'created_at', i.created_at)
$$;

create function private.training_batch_json(b public.training_data_batches) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', b.id, 'user_id', b.user_id, 'name', b.name,
    'description', b.description, 'created_at', b.created_at, 'updated_at', b.updated_at)
$$;

create function private.training_video_json(v public.training_data) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', v.id, 'batch_id', v.batch_id, 'upload_id', v.upload_id,
    'bucket', 'training-data', 'path', v.storage_path, 'filename', v.filename,
    'duration_seconds', v.duration_seconds, 'created_at', v.created_at)
$$;

create function private.training_segment_json(s public.training_data_segments) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', s.id, 'video_id', s.video_id, 'start_time', s.start_time,
    'end_time', s.end_time, 'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

grant execute on function private.lora_role(public.loras), private.require_lora(uuid, text),
  private.lora_json(public.loras), private.lora_image_json(public.lora_training_images),
  private.training_batch_json(public.training_data_batches),
  private.training_video_json(public.training_data),
  private.training_segment_json(public.training_data_segments) to authenticated;

/** Triggers */

/**
 * What a role may change beyond the update policy, for writes by users (the server's own
 * paths run as the table owner and pass): publishing and deleting take the owner or a
 * workspace admin; the trigger word is fixed once a run started (the weights answer to
 * it); a LoRA being trained is not deleted (its run would store weights for nobody).
 */
create function private.guard_lora_update() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_role text;
begin
  if current_user not in ('authenticated', 'anon') then
    return new;
  end if;
  if new.trigger_word is distinct from old.trigger_word and old.status not in ('draft', 'failed') then
    raise exception using errcode = 'PT409',
      message = format('trigger_word cannot change once the LoRA is %s', old.status);
  end if;
  if (new.visibility, new.deleted_at) is distinct from (old.visibility, old.deleted_at) then
    v_role := private.lora_role(old);
    if coalesce(private.role_rank(v_role), 0) < private.role_rank('admin') then
      raise exception using errcode = 'PT403',
        message = format('requires the admin role (yours: %s)', coalesce(v_role, 'none'));
    end if;
  end if;
  if new.deleted_at is not null and old.deleted_at is null and old.status = 'training' then
    raise exception using errcode = 'PT409', message = 'the LoRA is training: delete it once the run has ended';
  end if;
  return new;
end
$$;

create trigger loras_guard_update
  before update on public.loras
  for each row execute function private.guard_lora_update();

/**
 * A deleted LoRA's stored weights are removed (a storage job, exactly once: on the
 * transition to deleted). SECURITY DEFINER because users soft-delete their LoRAs and
 * cannot write the queue.
 */
create function private.enqueue_lora_weights_removal() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.tasks (task_type, params, max_attempts)
  values ('storage.remove', jsonb_build_object('bucket', 'lora-models', 'user_id', new.user_id,
    'generation_id', new.generation_id, 'paths', jsonb_build_array(new.weights_path)), 10);
  return null;
end
$$;

create trigger loras_enqueue_weights_removal
  after update of deleted_at on public.loras
  for each row when (old.deleted_at is null and new.deleted_at is not null and new.weights_path is not null)
  execute function private.enqueue_lora_weights_removal();

/**
 * Follows a training run onto its LoRA: ready with the weights' path once the copy into
 * lora-models is stored (stored-outputs migration); failed with the generation's error
 * (what users may read) when the run fails or is canceled, when the copy gives up, or
 * when the trainer answered without weights. Only a LoRA still training on this run
 * moves, so a late or repeated update is a no-op. Runs inside the paths that finish a
 * generation, which hold its account and then the generation: the LoRA comes last, as in
 * start_lora_training.
 */
create function private.follow_training() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status in ('failed', 'canceled') then
    update public.loras set status = 'failed', error = coalesce(new.error, 'training ' || new.status)
    where generation_id = new.id and status = 'training';
  elsif new.status = 'succeeded' and new.outputs ->> 'storage' = 'stored' then
    update public.loras set status = 'ready', weights_path = new.outputs #>> '{files,0,path}', error = null
    where generation_id = new.id and status = 'training';
  elsif new.status = 'succeeded' and new.outputs ->> 'storage' is distinct from 'pending' then
    update public.loras set status = 'failed', error = case new.outputs ->> 'storage'
        when 'failed' then 'the trained weights could not be stored'
        else 'the trainer returned no weights' end
    where generation_id = new.id and status = 'training';
  end if;
  return null;
end
$$;

create trigger generations_follow_training
  after update of status, outputs on public.generations
  for each row when (new.kind = 'training'
    and (old.status is distinct from new.status or old.outputs is distinct from new.outputs))
  execute function private.follow_training();

/**
 * Training images change only while the LoRA is a draft or failed (a run trains on what
 * was there when it started; a failed one may be fixed and run again), and a LoRA holds
 * at most lora_images_max. The LoRA is locked FOR SHARE, so an image cannot slip in while
 * start_lora_training (FOR UPDATE) reads them. A LoRA the caller may not write is not
 * found here: the policies then refuse the row; a LoRA gone (a cascade) is no obstacle.
 */
create function private.check_lora_images() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_lora_id uuid := case when tg_op = 'DELETE' then old.lora_id else new.lora_id end;
  v_status text;
begin
  select status into v_status from public.loras where id = v_lora_id for share;
  if v_status is null then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  if v_status not in ('draft', 'failed') then
    raise exception using errcode = 'PT409',
      message = format('training images cannot change while the LoRA is %s', v_status);
  end if;
  if tg_op = 'INSERT' and (select count(*) from public.lora_training_images where lora_id = v_lora_id)
       >= private.input_limit('lora_images_max') then
    raise exception using errcode = 'PT400', message = format(
      'a LoRA has at most %s training images: remove one first', private.input_limit('lora_images_max'));
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger lora_training_images_check
  before insert or delete on public.lora_training_images
  for each row execute function private.check_lora_images();

/**
 * A segment lies inside its video: 0 <= start_time < end_time <= duration_seconds (PT400
 * naming the field), and a video has at most training_segments_max. The one owner of the
 * rule, whatever writes the row. PT404 when the video is not the caller's to see.
 */
create function private.check_segment() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_duration numeric;
begin
  select duration_seconds into v_duration from public.training_data where id = new.video_id;
  if v_duration is null then
    raise exception using errcode = 'PT404', message = 'video not found';
  end if;
  if new.start_time is null or new.start_time < 0 then
    raise exception using errcode = 'PT400', message = 'start_time must be at least 0';
  end if;
  if new.end_time is null or new.end_time <= new.start_time then
    raise exception using errcode = 'PT400', message = 'end_time must be greater than start_time';
  end if;
  if new.end_time > v_duration then
    raise exception using errcode = 'PT400',
      message = format('end_time must be at most the video''s duration (%s seconds)', v_duration);
  end if;
  if tg_op = 'INSERT' and (select count(*) from public.training_data_segments where video_id = new.video_id)
       >= private.input_limit('training_segments_max') then
    raise exception using errcode = 'PT400', message = format(
      'a video has at most %s segments', private.input_limit('training_segments_max'));
  end if;
  return new;
end
$$;

create trigger training_data_segments_check
  before insert or update of start_time, end_time, video_id on public.training_data_segments
  for each row execute function private.check_segment();

/** LoRAs API */

/**
 * Creates a LoRA for the caller, a draft: {name, description?, trigger_word?, base_model
 * (an image or video model), visibility? (private), workspace_id?}. In a workspace the
 * caller must be a member (PT404 / PT403 as require_role says). SECURITY INVOKER: the
 * insert policy and column grants decide too.
 */
create function api.create_lora(
  p_name text,
  p_base_model text,
  p_description text default null,
  p_trigger_word text default null,
  p_visibility text default 'private',
  p_workspace_id uuid default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  l public.loras;
begin
  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'member', null, 'workspace');
  end if;
  if p_name is null or char_length(btrim(p_name)) not between 1 and private.input_limit('title_chars') then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('title_chars'));
  end if;
  if char_length(p_description) > private.input_limit('lora_description_chars') then
    raise exception using errcode = 'PT400',
      message = format('description must be at most %s characters', private.input_limit('lora_description_chars'));
  end if;
  if p_trigger_word is not null
     and char_length(btrim(p_trigger_word)) not between 1 and private.input_limit('lora_trigger_word_chars') then
    raise exception using errcode = 'PT400',
      message = format('trigger_word must be 1 to %s characters', private.input_limit('lora_trigger_word_chars'));
  end if;
  if p_visibility is null or p_visibility not in ('private', 'public') then
    raise exception using errcode = 'PT400', message = 'visibility must be private or public';
  end if;
  if not exists (select 1 from public.ai_models m
                 where m.model = p_base_model and m.is_active and m.kind in ('image', 'video')) then
    raise exception using errcode = 'PT400',
      message = format('base_model must be an available image or video model, not %s', coalesce(left(p_base_model, 128), 'null'));
  end if;

  insert into public.loras (user_id, workspace_id, name, description, trigger_word, base_model, visibility)
  values (v_uid, p_workspace_id, btrim(p_name), p_description, btrim(p_trigger_word), p_base_model, p_visibility)
  returning * into l;
  return private.lora_json(l);
end
$$;

grant execute on function api.create_lora(text, text, text, text, text, uuid) to authenticated;

/**
 * One LoRA the caller can see (their own, their workspace's, or a public ready one);
 * PT404 otherwise or when deleted. SECURITY INVOKER: the policies decide.
 */
create function api.get_lora(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  l public.loras;
begin
  perform private.caller_id();
  select * into l from public.loras where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'LoRA not found';
  end if;
  return private.lora_json(l);
end
$$;

grant execute on function api.get_lora(uuid) to authenticated;

/**
 * LoRAs newest first, keyset-paged on (created_at, id): p_visibility `mine` (the caller's
 * and their workspaces', or with p_workspace_id that workspace's only) or `public` (every
 * public LoRA that is ready). Deleted ones never appear. SECURITY INVOKER: RLS decides;
 * the conditions pick the index and keep others' public LoRAs out of `mine`.
 */
create function api.list_loras(
  p_visibility text default 'mine',
  p_workspace_id uuid default null,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  -- Once, not per row.
  v_workspaces uuid[] := private.my_ids('viewer');
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if p_visibility is null or p_visibility not in ('mine', 'public') then
    raise exception using errcode = 'PT400', message = 'visibility must be mine or public';
  end if;
  if p_workspace_id is not null then
    if p_visibility <> 'mine' then
      raise exception using errcode = 'PT400', message = 'workspace_id lists the workspace''s LoRAs: leave visibility out';
    end if;
    perform private.require_role(p_workspace_id, 'viewer', null, 'workspace');
  end if;

  -- One row more than asked tells whether a next page exists. Planned per call with the
  -- values written in (PL/pgSQL's custom plans), so each shape takes its own index.
  with page as (
    select * from public.loras l
    where l.deleted_at is null
      and case
        when p_visibility = 'public' then l.visibility = 'public' and l.status = 'ready'
        when p_workspace_id is not null then l.workspace_id = p_workspace_id
        else l.user_id = v_uid or l.workspace_id = any (v_workspaces)
      end
      and (p_cursor_id is null or (l.created_at, l.id) < (p_cursor_created_at, p_cursor_id))
    order by l.created_at desc, l.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.lora_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_loras(text, uuid, int, timestamptz, uuid) to authenticated;

/**
 * Changes a LoRA: {name?, description? (null clears), trigger_word? (null clears; fixed once
 * trained), visibility?} (publishing takes the owner or a workspace admin); any other key
 * is PT400. Member role and up. SECURITY INVOKER: the update policy, the column grants and
 * private.guard_lora_update decide.
 */
create function api.update_lora(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  l public.loras;
begin
  perform private.require_user();
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400',
      message = 'the patch must be a JSON object with name, description, trigger_word or visibility';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('name', 'description', 'trigger_word', 'visibility') then
      raise exception using errcode = 'PT400', message = format(
        'unknown field: %s (name, description, trigger_word and visibility can be changed)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'name' and (jsonb_typeof(p_patch -> 'name') <> 'string'
     or char_length(btrim(p_patch ->> 'name')) not between 1 and private.input_limit('title_chars')) then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('title_chars'));
  end if;
  if p_patch ? 'description' and jsonb_typeof(p_patch -> 'description') <> 'null'
     and (jsonb_typeof(p_patch -> 'description') <> 'string'
          or char_length(p_patch ->> 'description') > private.input_limit('lora_description_chars')) then
    raise exception using errcode = 'PT400',
      message = format('description must be at most %s characters, or null', private.input_limit('lora_description_chars'));
  end if;
  if p_patch ? 'trigger_word' and jsonb_typeof(p_patch -> 'trigger_word') <> 'null'
     and (jsonb_typeof(p_patch -> 'trigger_word') <> 'string'
          or char_length(btrim(p_patch ->> 'trigger_word')) not between 1 and private.input_limit('lora_trigger_word_chars')) then
    raise exception using errcode = 'PT400', message = format(
      'trigger_word must be 1 to %s characters, or null', private.input_limit('lora_trigger_word_chars'));
  end if;
  if p_patch ? 'visibility' and coalesce(p_patch ->> 'visibility', '') not in ('private', 'public') then
    raise exception using errcode = 'PT400', message = 'visibility must be private or public';
  end if;
  l := private.require_lora(p_id, 'member');

  update public.loras set
    name = case when p_patch ? 'name' then btrim(p_patch ->> 'name') else name end,
    description = case when p_patch ? 'description' then p_patch ->> 'description' else description end,
    trigger_word = case when p_patch ? 'trigger_word' then btrim(p_patch ->> 'trigger_word') else trigger_word end,
    visibility = coalesce(p_patch ->> 'visibility', visibility)
  where id = l.id
  returning * into l;
  return private.lora_json(l);
end
$$;

grant execute on function api.update_lora(uuid, jsonb) to authenticated;

/**
 * Soft-deletes a LoRA (owner or workspace admin; not while it trains: PT409); its stored
 * weights are removed by a storage job. Returns {id}. SECURITY INVOKER.
 */
create function api.delete_lora(p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  l public.loras;
begin
  perform private.require_user();
  l := private.require_lora(p_id, 'admin');
  update public.loras set deleted_at = now() where id = l.id;
  return jsonb_build_object('id', l.id);
end
$$;

grant execute on function api.delete_lora(uuid) to authenticated;

/**
 * Adds one of the caller's uploads of purpose training_image, whose file has arrived, to a
 * LoRA they may edit (member role and up), while it is a draft or failed. PT400 for
 * another upload, PT409 when it is already there. SECURITY INVOKER: the insert policy and
 * private.check_lora_images decide too.
 */
create function api.add_lora_image(p_lora_id uuid, p_upload_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  l public.loras := private.require_lora(p_lora_id, 'member');
  u public.uploads;
  i public.lora_training_images;
begin
  -- The uploads policy shows the caller their own uploads only.
  select * into u from public.uploads where id = p_upload_id and purpose = 'training_image';
  if not found then
    raise exception using errcode = 'PT400', message = 'upload_id must be one of your training_image uploads';
  end if;
  if not exists (select 1 from storage.objects o where o.bucket_id = u.bucket and o.name = u.path) then
    raise exception using errcode = 'PT400',
      message = format('upload %s has no file yet (PUT the file to its upload url first)', u.id);
  end if;
  if exists (select 1 from public.lora_training_images where lora_id = l.id and upload_id = u.id) then
    raise exception using errcode = 'PT409', message = 'this upload is already a training image of the LoRA';
  end if;
  insert into public.lora_training_images (lora_id, upload_id, user_id, storage_path)
  values (l.id, u.id, v_uid, u.path)
  returning * into i;
  return private.lora_image_json(i);
end
$$;

grant execute on function api.add_lora_image(uuid, uuid) to authenticated;

/**
 * A LoRA's training images, in the order they were added (at most lora_images_max, so no
 * paging): for its owner and workspace members (viewer and up), never through a public
 * LoRA. SECURITY INVOKER.
 */
create function api.list_lora_images(p_lora_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  l public.loras := private.require_lora(p_lora_id, 'viewer');
begin
  return jsonb_build_object('items', coalesce((
    select jsonb_agg(private.lora_image_json(i) order by i.created_at, i.id)
    from public.lora_training_images i where i.lora_id = l.id), '[]'::jsonb));
end
$$;

grant execute on function api.list_lora_images(uuid) to authenticated;

/**
 * Removes a training image from a LoRA (member role and up, while a draft or failed); the
 * upload itself stays. Returns {id}; PT404 when the image is not the LoRA's. SECURITY
 * INVOKER.
 */
create function api.remove_lora_image(p_lora_id uuid, p_image_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  l public.loras;
  v_id uuid;
begin
  perform private.require_user();
  l := private.require_lora(p_lora_id, 'member');
  delete from public.lora_training_images where id = p_image_id and lora_id = l.id returning id into v_id;
  if v_id is null then
    raise exception using errcode = 'PT404', message = 'training image not found';
  end if;
  return jsonb_build_object('id', v_id);
end
$$;

grant execute on function api.remove_lora_image(uuid, uuid) to authenticated;

/**
 * Starts a training run of a LoRA (member role and up; a draft or failed LoRA with a
 * trigger word and at least one image) as a billed generation of kind training:
 * api.create_generation validates p_params against the training model's declared
 * parameters, derives the units (steps) from them, reserves the credits (the workspace's
 * when the LoRA is in one) and records the generation, in this transaction; the LoRA
 * moves to training with it. The trigger word is the run's prompt.
 *
 * Returns what create_generation does plus the LoRA, and provider_input carries the
 * training images as storage markers (`input_images`, a list) that the function signs right
 * before it submits. (Trainers that take one archive of images, as Replicate's public flux
 * trainers do, need the images packed first; nothing here packs them.) p_idempotency_key is required (a run costs credits): the same key again
 * returns the first run with created = false and submits nothing; a key used for another
 * request is PT409.
 *
 * SECURITY DEFINER: it writes the LoRA's status and run, which users cannot. The caller
 * is checked by require_user and require_lora; the money by create_generation.
 */
create function api.start_lora_training(
  p_lora_id uuid,
  p_model text,
  p_params jsonb default '{}'::jsonb,
  p_idempotency_key text default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  l public.loras := private.require_lora(p_lora_id, 'member');
  g public.generations;
  v_created jsonb;
  v_images jsonb;
begin
  if p_idempotency_key is null then
    raise exception using errcode = 'PT400', message = 'an Idempotency-Key header is required: training costs credits';
  end if;
  -- Lock order as every path that finishes a run: the account, then (here) the LoRA.
  perform private.lock_billing_account(v_uid, l.workspace_id);
  select * into l from public.loras where id = l.id for update;

  select * into g from public.generations where user_id = v_uid and idempotency_key = p_idempotency_key;
  if found then
    if g.id is distinct from l.generation_id then
      raise exception using errcode = 'PT409', message = 'this Idempotency-Key was used for another request';
    end if;
    return jsonb_build_object('lora', private.lora_json(l), 'generation', private.generation_json(g),
      'created', false, 'route', g.route);
  end if;

  if l.status not in ('draft', 'failed') then
    raise exception using errcode = 'PT409', message = format('the LoRA is %s', l.status);
  end if;
  if l.trigger_word is null then
    raise exception using errcode = 'PT400', message = 'set the LoRA''s trigger_word before training';
  end if;
  if exists (select 1 from public.ai_models m where m.model = p_model and m.protocol = 'gpu') then
    raise exception using errcode = 'PT400',
      message = format('model %s runs on the GPU queue; LoRAs train through a provider', left(p_model, 128));
  end if;
  select jsonb_agg(jsonb_build_object('$storage', jsonb_build_object('bucket', 'lora-training-images',
           'path', i.storage_path)) order by i.created_at, i.id)
  into v_images
  from public.lora_training_images i where i.lora_id = l.id;
  if v_images is null then
    raise exception using errcode = 'PT400', message = 'add training images to the LoRA before training';
  end if;

  v_created := api.create_generation(p_kind => 'training', p_model => p_model, p_prompt => l.trigger_word,
    p_params => p_params, p_idempotency_key => p_idempotency_key, p_workspace_id => l.workspace_id);

  update public.loras set status = 'training', generation_id = (v_created #>> '{generation,id}')::uuid,
    weights_path = null, error = null
  where id = l.id
  returning * into l;

  return v_created || jsonb_build_object('lora', private.lora_json(l),
    'provider_input', (v_created -> 'provider_input') || jsonb_build_object('input_images', v_images));
end
$$;

grant execute on function api.start_lora_training(uuid, text, jsonb, text) to authenticated;

/** Training data API */

/**
 * A training batch for the caller: {name, description?}. SECURITY INVOKER.
 */
create function api.create_training_batch(p_name text, p_description text default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  b public.training_data_batches;
begin
  if p_name is null or char_length(btrim(p_name)) not between 1 and private.input_limit('title_chars') then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('title_chars'));
  end if;
  if char_length(p_description) > private.input_limit('lora_description_chars') then
    raise exception using errcode = 'PT400',
      message = format('description must be at most %s characters', private.input_limit('lora_description_chars'));
  end if;
  insert into public.training_data_batches (user_id, name, description)
  values (v_uid, btrim(p_name), p_description)
  returning * into b;
  return private.training_batch_json(b);
end
$$;

grant execute on function api.create_training_batch(text, text) to authenticated;

/**
 * One of the caller's batches with its number of videos; PT404 otherwise. SECURITY INVOKER.
 */
create function api.get_training_batch(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  b public.training_data_batches;
begin
  perform private.caller_id();
  select * into b from public.training_data_batches where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'batch not found';
  end if;
  return private.training_batch_json(b)
    || jsonb_build_object('video_count', (select count(*) from public.training_data v where v.batch_id = b.id));
end
$$;

grant execute on function api.get_training_batch(uuid) to authenticated;

/**
 * The caller's batches, newest first, keyset-paged on (created_at, id). SECURITY INVOKER.
 */
create function api.list_training_batches(
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
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
  with page as (
    select * from public.training_data_batches b
    where b.user_id = v_uid
      and (p_cursor_id is null or (b.created_at, b.id) < (p_cursor_created_at, p_cursor_id))
    order by b.created_at desc, b.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.training_batch_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;
  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_training_batches(int, timestamptz, uuid) to authenticated;

/**
 * Deletes one of the caller's batches with its videos and their segments (the uploads and
 * their files stay: they are the user's uploads). Returns {id}; PT404 otherwise.
 * SECURITY INVOKER.
 */
create function api.delete_training_batch(p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  perform private.require_user();
  delete from public.training_data_batches where id = p_id returning id into v_id;
  if v_id is null then
    raise exception using errcode = 'PT404', message = 'batch not found';
  end if;
  return jsonb_build_object('id', v_id);
end
$$;

grant execute on function api.delete_training_batch(uuid) to authenticated;

/**
 * Adds one of the caller's uploads of purpose training_video, whose file has arrived, to one
 * of their batches, with its duration in seconds (as the client measured it: segments are
 * checked against it). PT404 for a batch not theirs, PT400 for another upload or a
 * duration out of range, PT409 when the upload is already in the batch. SECURITY INVOKER.
 */
create function api.add_training_video(
  p_batch_id uuid,
  p_upload_id uuid,
  p_duration_seconds numeric
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  u public.uploads;
  v public.training_data;
begin
  if not exists (select 1 from public.training_data_batches where id = p_batch_id) then
    raise exception using errcode = 'PT404', message = 'batch not found';
  end if;
  if p_duration_seconds is null or p_duration_seconds <= 0
     or p_duration_seconds > private.input_limit('training_video_seconds_max') then
    raise exception using errcode = 'PT400', message = format(
      'duration_seconds must be greater than 0 and at most %s', private.input_limit('training_video_seconds_max'));
  end if;
  select * into u from public.uploads where id = p_upload_id and purpose = 'training_video';
  if not found then
    raise exception using errcode = 'PT400', message = 'upload_id must be one of your training_video uploads';
  end if;
  if not exists (select 1 from storage.objects o where o.bucket_id = u.bucket and o.name = u.path) then
    raise exception using errcode = 'PT400',
      message = format('upload %s has no file yet (PUT the file to its upload url first)', u.id);
  end if;
  if exists (select 1 from public.training_data where batch_id = p_batch_id and upload_id = u.id) then
    raise exception using errcode = 'PT409', message = 'this upload is already in the batch';
  end if;
  insert into public.training_data (batch_id, user_id, upload_id, storage_path, filename, duration_seconds)
  values (p_batch_id, v_uid, u.id, u.path, u.filename, p_duration_seconds)
  returning * into v;
  return private.training_video_json(v);
end
$$;

grant execute on function api.add_training_video(uuid, uuid, numeric) to authenticated;

/**
 * The videos of one of the caller's batches, newest first, keyset-paged on (created_at, id).
 * PT404 for a batch not theirs. SECURITY INVOKER.
 */
create function api.list_training_videos(
  p_batch_id uuid,
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
  perform private.caller_id();
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if not exists (select 1 from public.training_data_batches where id = p_batch_id) then
    raise exception using errcode = 'PT404', message = 'batch not found';
  end if;
  with page as (
    select * from public.training_data v
    where v.batch_id = p_batch_id
      and (p_cursor_id is null or (v.created_at, v.id) < (p_cursor_created_at, p_cursor_id))
    order by v.created_at desc, v.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.training_video_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;
  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_training_videos(uuid, int, timestamptz, uuid) to authenticated;

/**
 * Cuts a segment of one of the caller's videos; private.check_segment owns the bounds
 * (PT400) and finds the video (PT404). SECURITY INVOKER.
 */
create function api.create_training_segment(p_video_id uuid, p_start_time numeric, p_end_time numeric)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  s public.training_data_segments;
begin
  insert into public.training_data_segments (video_id, user_id, start_time, end_time)
  values (p_video_id, v_uid, p_start_time, p_end_time)
  returning * into s;
  return private.training_segment_json(s);
end
$$;

grant execute on function api.create_training_segment(uuid, numeric, numeric) to authenticated;

/**
 * A video's segments by start time (at most training_segments_max, so no paging); PT404
 * for a video not the caller's. SECURITY INVOKER.
 */
create function api.list_training_segments(p_video_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  perform private.caller_id();
  if not exists (select 1 from public.training_data where id = p_video_id) then
    raise exception using errcode = 'PT404', message = 'video not found';
  end if;
  return jsonb_build_object('items', coalesce((
    select jsonb_agg(private.training_segment_json(s) order by s.start_time, s.id)
    from public.training_data_segments s where s.video_id = p_video_id), '[]'::jsonb));
end
$$;

grant execute on function api.list_training_segments(uuid) to authenticated;

/**
 * Moves a segment's bounds: {start_time?, end_time?} (numbers); any other key is PT400,
 * the bounds are private.check_segment's. PT404 when it is not the caller's. SECURITY
 * INVOKER.
 */
create function api.update_training_segment(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  s public.training_data_segments;
begin
  perform private.require_user();
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400', message = 'the patch must be a JSON object with start_time or end_time';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('start_time', 'end_time') or jsonb_typeof(p_patch -> v_key) <> 'number' then
      raise exception using errcode = 'PT400',
        message = format('%s: start_time and end_time can be changed, to numbers', left(v_key, 64));
    end if;
  end loop;
  update public.training_data_segments set
    start_time = coalesce((p_patch ->> 'start_time')::numeric, start_time),
    end_time = coalesce((p_patch ->> 'end_time')::numeric, end_time)
  where id = p_id
  returning * into s;
  if not found then
    raise exception using errcode = 'PT404', message = 'segment not found';
  end if;
  return private.training_segment_json(s);
end
$$;

grant execute on function api.update_training_segment(uuid, jsonb) to authenticated;

/**
 * Deletes one of the caller's segments; returns {id}, PT404 otherwise. SECURITY INVOKER.
 */
create function api.delete_training_segment(p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  perform private.require_user();
  delete from public.training_data_segments where id = p_id returning id into v_id;
  if v_id is null then
    raise exception using errcode = 'PT404', message = 'segment not found';
  end if;
  return jsonb_build_object('id', v_id);
end
$$;

grant execute on function api.delete_training_segment(uuid) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
