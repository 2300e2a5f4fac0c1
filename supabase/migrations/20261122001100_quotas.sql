/**
 * Plans and their quotas (issue 15): what a user may hold or run at once, by plan.
 *
 * `public.plans` is the one owner of every per-user quota number: concurrent generations,
 * projects owned, storage bytes. `profiles.plan` says which plan a user is on; an admin
 * changes it (admin migration), users cannot (column grants and a trigger). A null limit
 * is no limit.
 *
 * Requests per minute are not here: the edge refuses them before any RPC, with the
 * Workers Rate Limiting binding (shared/edge), so a refused request costs no database work.
 */

/** Plans */

create table public.plans (
  id text primary key check (id ~ '^[a-z][a-z0-9_]{0,31}$'),
  name text not null check (char_length(name) between 1 and 80),
  -- Generations of the user's that may be queued or processing at once; more are refused
  -- (PT429) before any credit is held.
  concurrent_generations int check (concurrent_generations >= 0),
  -- Live projects the user may own (the projects migration's trigger counts them).
  projects_per_user int check (projects_per_user >= 0),
  -- Bytes the user's uploads may hold in storage, all buckets together.
  storage_bytes bigint check (storage_bytes >= 0),
  -- Display order, cheapest first.
  sort_order int not null default 0,
  created_at timestamptz not null default now()
);

comment on table public.plans is 'Quota plans; a null limit is no limit. Written by migrations only.';

alter table public.plans enable row level security;

-- The plan catalog is public to signed-in users: a client shows what each plan allows.
create policy "Signed-in users can view the plans"
  on public.plans for select to authenticated
  using (true);

revoke all on public.plans from anon, authenticated, service_role;
grant select on public.plans to authenticated, service_role;

insert into public.plans (id, name, concurrent_generations, projects_per_user, storage_bytes, sort_order) values
  ('free', 'Free', 10, 100, 1073741824, 0),
  ('pro', 'Pro', 50, 1000, 107374182400, 1),
  ('unlimited', 'Unlimited', null, null, null, 2);

/** Profiles' plan */

alter table public.profiles
  add column plan text not null default 'free' references public.plans (id);

-- Admin listings filter by plan; the foreign key's delete check looks it up too.
create index profiles_plan_idx on public.profiles (plan);

/**
 * Refuses plan changes from API user roles. The column grants already keep `plan` out of
 * users' reach; this also covers any future SECURITY INVOKER path. Checked SECURITY
 * DEFINER functions (the admin's) run as their owner and pass.
 */
create function private.guard_profile_plan() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user in ('anon', 'authenticated') then
    raise exception using errcode = 'PT403', message = 'plan can only be changed by an admin';
  end if;
  return new;
end
$$;

create trigger profiles_guard_plan
  before update of plan on public.profiles
  for each row when (new.plan is distinct from old.plan)
  execute function private.guard_profile_plan();

/** Effective limits */

/**
 * The limits that apply to a user: their plan's row, or the unlimited plan's for an admin
 * (staff who run the service are not held by a customer plan). No row for an unknown user.
 * SECURITY INVOKER: callers read their own profile, and the quota triggers run inside
 * SECURITY DEFINER writes or as the user themselves.
 */
create function private.plan_limits(p_user_id uuid) returns public.plans
language sql
stable
set search_path = ''
as $$
  select pl.* from public.profiles p
  join public.plans pl on pl.id = case when private.is_admin(p.id) then 'unlimited' else p.plan end
  where p.id = p_user_id
$$;

grant execute on function private.plan_limits(uuid) to authenticated, service_role;

/**
 * The caller's plan and what it allows, with their current use of each limit: the one
 * read a client needs to show "3 of 4 running, 2 of 100 projects, 10 MB of 1 GB".
 * SECURITY INVOKER.
 */
create function api.get_my_quotas() returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_plan public.plans := private.plan_limits(v_uid);
begin
  return jsonb_build_object(
    'plan', (select plan from public.profiles where id = v_uid),
    'limits', jsonb_build_object(
      'concurrent_generations', v_plan.concurrent_generations,
      'projects_per_user', v_plan.projects_per_user,
      'storage_bytes', v_plan.storage_bytes),
    'usage', jsonb_build_object(
      'concurrent_generations', private.generations_in_flight(v_uid),
      'projects_per_user', (select count(*) from public.projects p
        where p.id = any (private.my_ids('owner')) and p.deleted_at is null),
      'storage_bytes', private.storage_used(v_uid)));
end
$$;

/** Concurrent generations */

-- The in-flight generations of a user, counted before each new one. Partial, so it holds
-- only the few unfinished rows; the price is that a status change now touches it.
create index generations_in_flight_idx on public.generations (user_id)
  where status in ('queued', 'processing');

/**
 * How many of the user's generations are queued or processing.
 */
create function private.generations_in_flight(p_user_id uuid) returns bigint
language sql
stable
set search_path = ''
as $$
  select count(*) from public.generations
  where user_id = p_user_id and status in ('queued', 'processing')
$$;

/**
 * Refuses a user's generation beyond their plan's concurrent_generations: PT429 naming the
 * limit, with a retry hint the API turns into Retry-After. A trigger before the insert, so
 * it runs before create_generation places its hold, and a refusal rolls the whole request
 * back: nothing is held or charged. A user's creations queue on an advisory lock so two at
 * once cannot both take the last place. An idempotent replay returns before inserting and
 * is never refused.
 */
create function private.enforce_concurrent_generations() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_max int;
  v_count bigint;
begin
  -- Work the service creates for a user (a chat title, a migration) is not the user's request.
  if auth.uid() is distinct from new.user_id then
    return new;
  end if;
  v_max := (private.plan_limits(new.user_id)).concurrent_generations;
  if v_max is null then
    return new;
  end if;
  perform pg_advisory_xact_lock(hashtextextended('genbase.generations:' || new.user_id::text, 0));
  v_count := private.generations_in_flight(new.user_id);
  if v_count >= v_max then
    raise exception using errcode = 'PT429', hint = 'retry_after=10', message = format(
      'concurrent generation limit reached: %s in progress and concurrent_generations allows %s',
      v_count, v_max);
  end if;
  return new;
end
$$;

create trigger generations_check_concurrency
  before insert on public.generations
  for each row when (new.status in ('queued', 'processing'))
  execute function private.enforce_concurrent_generations();

/** Storage bytes per user */

/**
 * The bytes a user's uploads hold: each arrived file at the size Storage recorded, and each
 * upload still within its signed URL's two hours at the size it declared (it may yet
 * arrive). A file deleted since no longer counts.
 */
create function private.storage_used(p_user_id uuid) returns bigint
language sql
stable
set search_path = ''
as $$
  select coalesce(sum(case
    when o.id is not null then coalesce((o.metadata ->> 'size')::bigint, u.bytes)
    when u.created_at > now() - interval '2 hours' then u.bytes
    else 0 end), 0)::bigint
  from public.uploads u
  left join storage.objects o on o.bucket_id = u.bucket and o.name = u.path
  where u.user_id = p_user_id
$$;

/**
 * Refuses an upload that would take a user past their plan's storage_bytes: PT403 naming
 * the limit (retrying does not help; deleting files does). Per user, uploads queue on an
 * advisory lock so two at once cannot both take the last bytes.
 */
create function private.enforce_storage_quota() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_max bigint := (private.plan_limits(new.user_id)).storage_bytes;
  v_used bigint;
begin
  if v_max is null then
    return new;
  end if;
  perform pg_advisory_xact_lock(hashtextextended('genbase.storage:' || new.user_id::text, 0));
  v_used := private.storage_used(new.user_id);
  if v_used + new.bytes > v_max then
    raise exception using errcode = 'PT403', message = format(
      'storage quota reached: your files hold %s bytes, this upload needs %s and storage_bytes allows %s',
      v_used, new.bytes, v_max);
  end if;
  return new;
end
$$;

create trigger uploads_check_storage_quota
  before insert on public.uploads
  for each row execute function private.enforce_storage_quota();

grant execute on function private.generations_in_flight(uuid), private.storage_used(uuid)
  to authenticated, service_role;
grant execute on function api.get_my_quotas() to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
