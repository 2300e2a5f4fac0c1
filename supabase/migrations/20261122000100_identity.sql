/**
 * Identity: who a user is, what role they hold, where their files live.
 *
 * Conventions for every genbase migration:
 * - tables live in `public` with RLS on; RPCs live in `api` (exposed by PostgREST);
 *   helpers live in `private` (never exposed, no usage for API roles);
 * - every function is created with `set search_path = ''` and schema-qualified names;
 * - EXECUTE is revoked from PUBLIC at the end of each migration and granted explicitly
 *   right after each function (PostgreSQL grants EXECUTE to PUBLIC on creation, and a
 *   per-schema ALTER DEFAULT PRIVILEGES cannot take that back).
 */

/** Schemas */

create schema if not exists api;
grant usage on schema api to anon, authenticated, service_role;

create schema if not exists private;
revoke all on schema private from public;

-- Supabase grants the API roles EXECUTE on every new function in `public`; genbase
-- grants each one explicitly instead.
alter default privileges in schema public revoke execute on functions from anon, authenticated, service_role;

/** Profiles */

create type public.app_role as enum ('user', 'moderator', 'admin', 'super_admin');

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  display_name text check (char_length(display_name) between 1 and 80),
  avatar_url text check (char_length(avatar_url) <= 2048 and avatar_url ~* '^https?://'),
  role public.app_role not null default 'user',
  is_active boolean not null default true,
  telegram_username text check (char_length(telegram_username) <= 64),
  preferred_model_provider text check (char_length(preferred_model_provider) <= 64),
  preferred_model_name text check (char_length(preferred_model_name) <= 128),
  settings jsonb not null default '{}'::jsonb
    check (jsonb_typeof(settings) = 'object' and octet_length(settings::text) <= 16384),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.profiles is 'One row per auth user; created by a trigger on auth.users.';

-- Partial: admin listings and role checks only ever look for the few privileged rows.
create index profiles_privileged_idx on public.profiles (role) where role <> 'user';

alter table public.profiles enable row level security;

create policy "Users can view their own profile"
  on public.profiles for select to authenticated
  using (id = (select auth.uid()));

-- A disabled user reads their profile and changes nothing.
create policy "Active users can update their own profile"
  on public.profiles for update to authenticated
  using (id = (select auth.uid()) and is_active)
  with check (id = (select auth.uid()) and is_active);

-- Column grants are the real fence: role, is_active and email are not writable by users.
revoke all on public.profiles from anon, authenticated, service_role;
grant select on public.profiles to authenticated, service_role;
grant update (display_name, avatar_url, telegram_username, preferred_model_provider,
  preferred_model_name, settings) on public.profiles to authenticated;
grant update on public.profiles to service_role;

/** Profile triggers */

/**
 * Keeps updated_at honest whatever path writes the row.
 */
create function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create trigger profiles_touch_updated_at
  before update on public.profiles
  for each row execute function private.touch_updated_at();

/**
 * Refuses role / is_active changes from API user roles. Column grants already stop a
 * direct UPDATE; this also covers any future SECURITY INVOKER path. Checked
 * SECURITY DEFINER functions run as their owner and pass.
 */
create function private.guard_profile_privileges() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (new.role, new.is_active, new.id) is distinct from (old.role, old.is_active, old.id)
     and current_user in ('anon', 'authenticated') then
    raise exception using errcode = 'PT403', message = 'role and is_active can only be changed by an admin';
  end if;
  return new;
end
$$;

create trigger profiles_guard_privileges
  before update on public.profiles
  for each row execute function private.guard_profile_privileges();

/**
 * Creates the profile of every new auth user. SECURITY DEFINER because GoTrue inserts
 * as its own role, which cannot write public.profiles.
 */
create function private.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email, display_name)
  values (
    new.id,
    new.email,
    nullif(left(btrim(coalesce(
      nullif(new.raw_user_meta_data ->> 'display_name', ''),
      nullif(new.raw_user_meta_data ->> 'full_name', ''),
      split_part(coalesce(new.email, ''), '@', 1)
    )), 80), '')
  )
  on conflict (id) do nothing;
  return new;
end
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();

/**
 * Keeps profiles.email in step when a user confirms a new address.
 */
create function private.handle_user_email_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.profiles set email = new.email where id = new.id;
  return new;
end
$$;

create trigger on_auth_user_email_changed
  after update of email on auth.users
  for each row when (old.email is distinct from new.email)
  execute function private.handle_user_email_change();

/** Input limits */

/**
 * Every length, size and range limit on client input, in one place. SQL checks read them
 * through private.input_limit; a function that checks a limit itself before calling SQL
 * uses a constant from genbase_shared::limits, and an end-to-end test fails when the two
 * disagree. Keys are named for the HTTP API's fields.
 */
create function private.input_limits() returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'prompt_chars', 20000,
    'params_bytes', 16384,
    'model_chars', 128,
    'idempotency_key_chars', 200,
    'page_limit_max', 100,
    'reason_chars', 500,
    'credit_amount_max', 1000000000,
    'worker_name_chars', 100,
    'worker_capabilities_max', 50,
    'task_type_chars', 64,
    'claim_limit_max', 100,
    'lease_seconds_min', 10,
    'lease_seconds_max', 3600,
    'task_output_bytes', 16384,
    'task_error_chars', 2000,
    'task_duration_seconds_max', 86400,
    'title_chars', 200,
    'q_chars', 200,
    'delete_ids_max', 100,
    -- Chat (chat migration): a user's message, a conversation's system prompt, a memory,
    -- how many memories a user keeps, files attached to one message, prompt templates.
    'message_chars', 100000,
    'system_prompt_chars', 20000,
    'memory_chars', 2000,
    'memories_max', 100,
    'attachments_max', 10,
    'template_name_chars', 100,
    'template_description_chars', 500,
    'template_category_chars', 50,
    -- Workspaces and sharing (workspaces migration).
    'workspace_name_chars', 100,
    'workspaces_owned_max', 20,
    'invitation_uses_max', 1000,
    'invitation_hours_max', 720,
    'invitations_open_max', 100
  )
  -- Flows (flows migration): names, a graph's size and counts, the canvas, comments. A second
  -- object because jsonb_build_object takes at most 100 arguments.
  || jsonb_build_object(
    'flow_name_chars', 200,
    'flow_description_chars', 2000,
    'flow_nodes_max', 1000,
    'flow_edges_max', 3000,
    'flow_item_id_chars', 100,
    'flow_type_chars', 64,
    'flow_data_bytes', 16384,
    'flow_graph_bytes', 1048576,
    'flow_coordinate_max', 1000000000,
    'flow_zoom_max', 100,
    'flow_comment_chars', 5000
  )
  -- LoRAs and training data (loras migration).
  || jsonb_build_object(
    'lora_description_chars', 2000,
    'lora_trigger_word_chars', 100,
    'lora_images_max', 200,
    'training_video_seconds_max', 86400,
    'training_segments_max', 1000
  )
  -- Projects (projects migration): names (of projects, shots, recordings), JSON settings,
  -- layouts and component properties, counts per user, project and shot, a recording.
  || jsonb_build_object(
    'project_name_chars', 200,
    'project_description_chars', 2000,
    'project_json_bytes', 65536,
    'shots_per_project', 1000,
    'generations_per_shot', 1000,
    'components_per_project', 2000,
    'component_type_chars', 64,
    'recording_seconds_max', 86400
  )
  -- Ideas and support tickets (feedback migration).
  || jsonb_build_object(
    'idea_title_chars', 200,
    'idea_description_chars', 5000,
    'idea_note_chars', 2000,
    'ticket_subject_chars', 200,
    'ticket_message_chars', 10000,
    'ticket_messages_max', 200
  )
  -- Performance metrics (activity migration): how many hours one read covers (31 days).
  || jsonb_build_object(
    'performance_hours_max', 744
  )
$$;

/**
 * One limit by name; a typo is a bug, so it fails loudly rather than returning null.
 */
create function private.input_limit(p_name text) returns bigint
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_limit bigint := (private.input_limits() ->> p_name)::bigint;
begin
  if v_limit is null then
    raise exception 'unknown input limit %', p_name;
  end if;
  return v_limit;
end
$$;

/**
 * The limits, for clients and for the agreement test. Plain data, no caller involved.
 */
create function api.input_limits() returns jsonb
language sql
immutable
set search_path = ''
as $$
  select private.input_limits()
$$;

grant execute on function api.input_limits() to authenticated, service_role;
/**
 * PT400 unless a page size is within the limit: every keyset list checks it here.
 */
create function private.check_page_limit(p_limit int) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_limit is null or p_limit not between 1 and private.input_limit('page_limit_max') then
    raise exception using errcode = 'PT400',
      message = format('limit must be between 1 and %s', private.input_limit('page_limit_max'));
  end if;
end
$$;

/**
 * PT400 unless a newest-first cursor is whole: both its timestamp and its id, or neither.
 */
create function private.check_cursor(p_created_at timestamptz, p_id uuid) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if (p_created_at is null) <> (p_id is null) then
    raise exception using errcode = 'PT400', message = 'cursor is not valid';
  end if;
end
$$;

/**
 * A keyset page from the rendered rows a list read: one more than p_limit when a next page
 * exists (the cheapest way to know). {items: the first p_limit, next_cursor: p_keys of the
 * last item, or null on the last page}; every list answers in this one shape.
 */
create function private.keyset_page(p_rows jsonb, p_limit int, p_keys text[] default array['created_at', 'id'])
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case when jsonb_array_length(p_rows) > p_limit then
    jsonb_build_object('items', p_rows - p_limit, 'next_cursor',
      (select jsonb_object_agg(k, (p_rows - p_limit) -> -1 -> k) from unnest(p_keys) k))
  else jsonb_build_object('items', p_rows, 'next_cursor', null) end
$$;

-- SECURITY INVOKER reads check limits and page too.
grant execute on function private.input_limits(), private.input_limit(text), private.check_page_limit(int),
  private.check_cursor(timestamptz, uuid), private.keyset_page(jsonb, int, text[])
  to authenticated, service_role;

/** Private helpers */

/**
 * True when the user is active and holds at least `p_min` among the staff roles (the enum's
 * order is the rank: user < moderator < admin < super_admin). The one owner of that rule.
 * SECURITY DEFINER because RLS policies on profiles call it: reading profiles under the
 * caller's own policies would recurse. It reveals one boolean about a user.
 */
create function private.is_staff(p_min public.app_role, p_user_id uuid default auth.uid()) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.profiles
    where id = p_user_id and is_active and role >= p_min
  )
$$;

/** True when the user is an active admin or super_admin. */
create function private.is_admin(p_user_id uuid default auth.uid()) returns boolean
language sql
stable
set search_path = ''
as $$
  select private.is_staff('admin', p_user_id)
$$;

grant usage on schema private to authenticated, service_role;
grant execute on function private.is_staff(public.app_role, uuid), private.is_admin(uuid) to authenticated;

create policy "Admins can view every profile"
  on public.profiles for select to authenticated
  using ((select private.is_admin()));

/**
 * The caller's user id, or PT401 when the request carries no user. Reads start here: a
 * disabled user still reads their own data (writes start at private.require_user).
 */
create function private.caller_id() returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'authentication required';
  end if;
  return v_uid;
end
$$;

/**
 * The caller's user id for a write: PT401 when the request carries no user, PT403 when
 * their account is disabled (a disabled user keeps reading their data through RLS, and
 * does nothing else). Every write path for users starts here.
 */
create function private.require_user() returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
begin
  if not coalesce((select is_active from public.profiles where id = v_uid), false) then
    raise exception using errcode = 'PT403', message = 'account is disabled';
  end if;
  return v_uid;
end
$$;

/**
 * The caller's user id when they are active staff of at least `p_min`; PT401 / PT403 (naming
 * the role) otherwise.
 */
create function private.require_staff(p_min public.app_role) returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
begin
  if not private.is_staff(p_min, v_uid) then
    raise exception using errcode = 'PT403', message = p_min || ' role required';
  end if;
  return v_uid;
end
$$;

/** The caller's user id when they are an active admin; PT401 / PT403 otherwise. */
create function private.require_admin() returns uuid
language sql
stable
set search_path = ''
as $$
  select private.require_staff('admin')
$$;

-- SECURITY INVOKER staff reads check the caller with them.
grant execute on function private.caller_id(), private.require_user(), private.require_staff(public.app_role),
  private.require_admin() to authenticated;

/** Identity API */

/**
 * The caller's profile. SECURITY INVOKER: RLS alone decides what is visible.
 */
create function api.get_my_profile() returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_profile jsonb;
begin
  select to_jsonb(p) into v_profile from public.profiles p where p.id = v_uid;
  if v_profile is null then
    raise exception using errcode = 'PT404', message = 'profile not found';
  end if;
  return v_profile;
end
$$;

grant execute on function api.get_my_profile() to authenticated;

/**
 * Applies a partial update to the caller's profile and returns it. SECURITY INVOKER:
 * the column grants and the update policy are enforced on top of these checks.
 */
create function api.update_my_profile(patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_key text;
  v_allowed constant text[] := array['display_name', 'avatar_url', 'telegram_username',
    'preferred_model_provider', 'preferred_model_name', 'settings'];
  v_limits constant jsonb := '{"avatar_url": 2048, "telegram_username": 64,
    "preferred_model_provider": 64, "preferred_model_name": 128}';
  v_profile jsonb;
begin
  if patch is null or jsonb_typeof(patch) <> 'object' then
    raise exception using errcode = 'PT400', message = 'patch must be a JSON object';
  end if;

  for v_key in select jsonb_object_keys(patch) loop
    if v_key in ('role', 'is_active', 'plan', 'credits', 'balance', 'id', 'email') then
      raise exception using errcode = 'PT403', message = format('%s cannot be changed here', v_key);
    elsif not v_key = any (v_allowed) then
      raise exception using errcode = 'PT400', message = format('unknown profile field: %s', v_key);
    end if;
  end loop;

  if patch ? 'display_name' and (jsonb_typeof(patch -> 'display_name') is distinct from 'string'
     or char_length(btrim(patch ->> 'display_name')) not between 1 and 80) then
    raise exception using errcode = 'PT400', message = 'display_name must be 1 to 80 characters';
  end if;
  for v_key in select jsonb_object_keys(v_limits) loop
    if patch ? v_key and jsonb_typeof(patch -> v_key) <> 'null'
       and (jsonb_typeof(patch -> v_key) <> 'string'
            or char_length(patch ->> v_key) > (v_limits ->> v_key)::int) then
      raise exception using errcode = 'PT400',
        message = format('%s must be a string of at most %s characters', v_key, v_limits ->> v_key);
    end if;
  end loop;
  if jsonb_typeof(patch -> 'avatar_url') = 'string' and patch ->> 'avatar_url' !~* '^https?://' then
    raise exception using errcode = 'PT400', message = 'avatar_url must be an http(s) URL';
  end if;
  if patch ? 'settings' and jsonb_typeof(patch -> 'settings') <> 'null'
     and (jsonb_typeof(patch -> 'settings') <> 'object' or octet_length((patch -> 'settings')::text) > 16384) then
    raise exception using errcode = 'PT400', message = 'settings must be a JSON object of at most 16 KB';
  end if;

  update public.profiles p set
    display_name = case when patch ? 'display_name' then btrim(patch ->> 'display_name') else p.display_name end,
    avatar_url = case when patch ? 'avatar_url' then patch ->> 'avatar_url' else p.avatar_url end,
    telegram_username = case when patch ? 'telegram_username' then patch ->> 'telegram_username' else p.telegram_username end,
    preferred_model_provider = case when patch ? 'preferred_model_provider'
      then patch ->> 'preferred_model_provider' else p.preferred_model_provider end,
    preferred_model_name = case when patch ? 'preferred_model_name'
      then patch ->> 'preferred_model_name' else p.preferred_model_name end,
    settings = case when patch ? 'settings'
      then coalesce(nullif(patch -> 'settings', 'null'::jsonb), '{}'::jsonb) else p.settings end
  where p.id = v_uid
  returning to_jsonb(p) into v_profile;

  if v_profile is null then
    raise exception using errcode = 'PT404', message = 'profile not found';
  end if;
  return v_profile;
end
$$;

grant execute on function api.update_my_profile(jsonb) to authenticated;

/** Storage */

-- Guarded so the migration also applies to a bare Postgres without Supabase Storage.
do $$
begin
  if to_regclass('storage.buckets') is null then
    raise notice 'storage schema not found: skipping buckets and object policies';
    return;
  end if;

  insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values
    ('generations', 'generations', false, 104857600, array['image/*', 'video/*', 'audio/*']),
    ('media', 'media', false, 104857600, null),
    ('lora-training-images', 'lora-training-images', false, 20971520, array['image/*']),
    ('lora-models', 'lora-models', false, 524288000, null),
    ('training-data', 'training-data', false, 524288000, array['video/*']),
    ('audio-recordings', 'audio-recordings', false, 52428800,
      array['audio/mpeg', 'audio/wav', 'audio/webm', 'audio/ogg', 'audio/mp4', 'audio/aac']),
    ('documents', 'documents', false, 52428800, null)
  on conflict (id) do nothing;

  drop policy if exists "Users can manage objects in their own folder" on storage.objects;
  -- Paths are `<user id>/...`: each user reads and writes their own folder of the buckets
  -- users upload to.
  create policy "Users can manage objects in their own folder"
    on storage.objects for all to authenticated
    using (
      bucket_id in ('media', 'lora-training-images', 'lora-models',
        'training-data', 'audio-recordings', 'documents')
      and (storage.foldername(name))[1] = (select auth.uid())::text
    )
    with check (
      bucket_id in ('media', 'lora-training-images', 'lora-models',
        'training-data', 'audio-recordings', 'documents')
      and (storage.foldername(name))[1] = (select auth.uid())::text
    );

  -- Generated media is the server's record of what a provider or worker produced: its owner
  -- reads it (and gets signed URLs for it), only the service role writes or removes it.
  drop policy if exists "Users can read their generated media" on storage.objects;
  create policy "Users can read their generated media"
    on storage.objects for select to authenticated
    using (
      bucket_id = 'generations'
      and (storage.foldername(name))[1] = (select auth.uid())::text
    );
end
$$;

/** Lock down */

revoke execute on all functions in schema api, private from public;
