-- Local stack only: gives a bare PostgreSQL what every Supabase project already has,
-- so that supabase/migrations apply here unchanged. Run as superuser `postgres`
-- before the migrations. Idempotent: safe to run on every start.
-- Never run this against a real Supabase project (it owns these objects there).

set client_min_messages = warning;

/**
 * Roles
 * Same names and attributes as Supabase: PostgREST logs in as `authenticator`
 * and switches to the role named in the JWT.
 */
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'authenticator';
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

/**
 * Extensions
 * Supabase installs extensions into their own schema and puts it on the search path.
 */
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;

create extension if not exists vector with schema extensions;
create extension if not exists pg_trgm with schema extensions;

do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end
$$;

/**
 * Public schema privileges
 * Supabase grants the API roles everything in `public` by default and relies on RLS;
 * the migrations revoke and grant explicitly, so mirroring this keeps local honest.
 */
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

/**
 * Auth
 * The subset of GoTrue's schema the migrations and the seed touch.
 */
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud text default 'authenticated',
  role text default 'authenticated',
  email text unique,
  encrypted_password text,
  email_confirmed_at timestamptz,
  confirmation_token text default '',
  recovery_token text default '',
  email_change_token_new text default '',
  email_change text default '',
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_sign_in_at timestamptz
);

create table if not exists auth.identities (
  id uuid primary key default gen_random_uuid(),
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (provider_id, provider)
);

-- Same bodies as Supabase's: PostgREST puts the verified JWT claims in request.jwt.claims.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to anon, authenticated, service_role;

/**
 * Storage
 * The part of Supabase Storage's schema (github.com/supabase/storage, migrations/tenant) that
 * the stand-in's Storage (`/storage/v1`) and the migrations' policies use: buckets with their
 * limits, objects with the columns Storage writes, the helpers policies call, `storage.search`
 * (the list route), Storage's triggers and its grants (the API roles get table privileges;
 * RLS decides). Columns are added one by one so an existing local database catches up.
 */
create schema if not exists storage;
grant usage on schema storage to anon, authenticated, service_role;

create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  owner uuid,
  public boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
alter table storage.buckets add column if not exists owner_id text;

create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  metadata jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  unique (bucket_id, name)
);
alter table storage.objects add column if not exists last_accessed_at timestamptz default now();
alter table storage.objects add column if not exists path_tokens text[]
  generated always as (string_to_array(name, '/')) stored;
-- The backend key of the bytes: every upload writes a new version.
alter table storage.objects add column if not exists version text;
-- Who uploaded (the JWT's `sub`); `owner` is the same when it is a UUID (deprecated there).
alter table storage.objects add column if not exists owner_id text;
alter table storage.objects add column if not exists user_metadata jsonb;
create index if not exists name_prefix_search on storage.objects (name text_pattern_ops);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;

-- Path helpers for policies: `{user id}/...` is `(storage.foldername(name))[1]`.
create or replace function storage.foldername(name text) returns text[]
language plpgsql immutable
as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create or replace function storage.filename(name text) returns text
language plpgsql immutable
as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;

create or replace function storage.extension(name text) returns text
language plpgsql immutable
as $$
declare
  _parts text[];
  _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

-- What the list route returns: the folders and files directly under `prefix` whose name
-- starts (case-insensitively) with prefix || search, names relative to `prefix`, folders with
-- null columns. Sorted by name (folders among files), or folders first and then files by the
-- timestamp asked for; then offset and limit. `levels` is unused, as in Storage. SECURITY
-- INVOKER: the caller's policies decide which rows exist.
create or replace function storage.search(
  prefix text, bucketname text, limits integer default 100, levels integer default 1,
  offsets integer default 0, search text default '', sortcolumn text default 'name',
  sortorder text default 'asc'
) returns table (name text, id uuid, updated_at timestamptz, created_at timestamptz,
                 last_accessed_at timestamptz, metadata jsonb)
language sql stable security invoker
set search_path = ''
as $$
  with args as (
    select coalesce(search.prefix, '') as prefix,
           lower(coalesce(search.prefix, '') || coalesce(search.search, '')) as match,
           lower(coalesce(search.sortorder, 'asc')) = 'desc' as descending,
           case lower(coalesce(search.sortcolumn, 'name'))
             when 'updated_at' then 'updated_at'
             when 'created_at' then 'created_at'
             when 'last_accessed_at' then 'last_accessed_at'
             else 'name'
           end as sort_column
  ),
  matched as (
    select o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
           strpos(substr(o.name, length(a.match) + 1), '/') as slash
    from storage.objects o, args a
    where o.bucket_id = search.bucketname and starts_with(lower(o.name), a.match)
  ),
  -- A folder is the name up to the first '/' after the match, once per folder.
  folders as (
    select distinct on (lower(left(m.name, length(a.match) + m.slash)))
           left(m.name, length(a.match) + m.slash) as path
    from matched m, args a
    where m.slash > 0
    order by lower(left(m.name, length(a.match) + m.slash)), m.name
  ),
  items as (
    select substr(rtrim(f.path, '/'), length(a.prefix) + 1) as name, null::uuid as id,
           null::timestamptz as updated_at, null::timestamptz as created_at,
           null::timestamptz as last_accessed_at, null::jsonb as metadata,
           lower(f.path) as sort_key, true as folder
    from folders f, args a
    union all
    select substr(m.name, length(a.prefix) + 1), m.id, m.updated_at, m.created_at,
           m.last_accessed_at, m.metadata, lower(m.name), false
    from matched m, args a
    where m.slash = 0
  )
  select i.name, i.id, i.updated_at, i.created_at, i.last_accessed_at, i.metadata
  from items i, args a
  order by
    case when a.sort_column <> 'name' then not i.folder end,
    case when (a.sort_column = 'name' or i.folder) and not a.descending
         then i.sort_key end collate "C" asc,
    case when (a.sort_column = 'name' or i.folder) and a.descending
         then i.sort_key end collate "C" desc,
    case when not a.descending then case a.sort_column
         when 'updated_at' then i.updated_at when 'created_at' then i.created_at
         when 'last_accessed_at' then i.last_accessed_at end end asc,
    case when a.descending then case a.sort_column
         when 'updated_at' then i.updated_at when 'created_at' then i.created_at
         when 'last_accessed_at' then i.last_accessed_at end end desc
  limit least(coalesce(search.limits, 100), 1500)
  offset coalesce(search.offsets, 0)
$$;

create or replace function storage.update_updated_at_column() returns trigger
language plpgsql
as $$
begin
  new.updated_at = now();
  return new;
end
$$;

drop trigger if exists update_objects_updated_at on storage.objects;
create trigger update_objects_updated_at before update on storage.objects
  for each row execute function storage.update_updated_at_column();

-- Rows leave through Storage's API (which removes the bytes too), never by a plain DELETE:
-- Storage sets storage.allow_delete_query for its own statements.
create or replace function storage.protect_delete() returns trigger
language plpgsql
as $$
begin
  if coalesce(current_setting('storage.allow_delete_query', true), 'false') <> 'true' then
    raise exception 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
      using hint = 'This prevents accidental data loss from orphaned objects.',
            errcode = '42501';
  end if;
  return null;
end
$$;

drop trigger if exists protect_buckets_delete on storage.buckets;
create trigger protect_buckets_delete before delete on storage.buckets
  for each statement execute function storage.protect_delete();
drop trigger if exists protect_objects_delete on storage.objects;
create trigger protect_objects_delete before delete on storage.objects
  for each statement execute function storage.protect_delete();

grant execute on all functions in schema storage to anon, authenticated, service_role;
