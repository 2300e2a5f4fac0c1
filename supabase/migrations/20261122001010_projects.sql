/**
 * Projects (003's and 004's in one table): a name, settings and a visual layout, optionally
 * in a workspace, shared through the one sharing model (workspaces migration): the caller's
 * EFFECTIVE role, the higher of their direct membership and their workspace membership,
 * decides everything:
 *   viewer  reads the project and all its children;
 *   member  + edits content: settings, layout, shots and their order, shot generations,
 *           components, recordings, prompt history;
 *   admin   + renames and (soft) deletes the project;
 *   owner   + transfers it (the generic sharing RPCs).
 *
 * Children: shots (a gap-free `position` computed on read from a gapped rank, so a move
 * writes one row), shot_generations (003: a null position is attached but not in the
 * editor), project_components (004: saved with an optimistic version), audio_recordings
 * (004: registered from an upload of purpose audio_recording) and prompt_generations
 * (004's prompt history).
 *
 * Policies: the parents' membership helpers run once per statement, wrapped in a
 * sub-select (Supabase's RLS guidance): projects ask private.my_ids, children
 * private.my_project_ids, which leaves out soft-deleted projects, so a deleted project and
 * every child of it leave every list at once.
 *
 * Reads and writes are SECURITY INVOKER: policies, column grants and triggers (the
 * admin-only columns of a project, the quota, a recording's upload, a component's version)
 * are the fence whatever path writes; the api functions add clear errors (PT404 for
 * strangers, PT403 for a role too low) and the order of the shots. SECURITY DEFINER: the
 * policies' helper (private.my_project_ids) and the soft delete (a deleted row fails the
 * select policy an invoker's update must pass).
 *
 * Lock order: a project's row (its shots' order), then a shot's row (its generations'
 * order), then the rows they order.
 */

/** Helpers */

/**
 * The live (not soft-deleted) projects the caller reaches with at least p_min_role,
 * directly or through their workspace: what every child table's policy checks, wrapped in
 * a sub-select so it runs once per statement (a disabled user's reach is private.my_ids's
 * rule: viewer only). SECURITY DEFINER: it reads projects and
 * memberships without their own policies (which would recurse); it reveals only the
 * caller's own reach.
 */
create function private.my_project_ids(p_min_role text) returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  -- Once: in a query, the planner may copy the call into each side of the `or`.
  v_ids uuid[] := private.my_ids(p_min_role);
begin
  return coalesce((
    select array_agg(p.id) from public.projects p
    where p.deleted_at is null and (p.id = any (v_ids) or p.workspace_id = any (v_ids))), '{}');
end
$$;

grant execute on function private.my_project_ids(text) to authenticated;

/**
 * The caller's effective role on a live project, checked against p_min_role: PT404
 * 'project not found' when they have none (a stranger learns nothing), PT403 when it is
 * lower. Functions call it before writing, for those errors; the policies are the fence.
 * SECURITY INVOKER (also called by api.create_upload, which sees every project and so
 * checks deleted_at itself here).
 */
create function private.project_role(p_project_id uuid, p_min_role text) returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_workspace_id uuid;
begin
  select workspace_id into v_workspace_id from public.projects where id = p_project_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  return private.require_role(p_project_id, p_min_role, v_workspace_id, 'project');
end
$$;

grant execute on function private.project_role(uuid, text) to authenticated;

/**
 * The rank that puts an item at p_position (0-based) among the others, given their ranks
 * in order: halfway between its two neighbours, a step past the end, a step before the
 * start; null when the neighbours are adjacent (the caller renumbers, then asks again).
 * Ranks are gapped so a move rewrites one row.
 */
create function private.rank_between(p_ranks bigint[], p_position int) returns bigint
language sql
immutable
set search_path = ''
as $$
  select case
    when cardinality(p_ranks) = 0 then 0
    when p_position <= 0 then p_ranks[1] - 65536
    when p_position >= cardinality(p_ranks) then p_ranks[cardinality(p_ranks)] + 65536
    when p_ranks[p_position + 1] - p_ranks[p_position] > 1
      then p_ranks[p_position] + (p_ranks[p_position + 1] - p_ranks[p_position]) / 2
  end
$$;

grant execute on function private.rank_between(bigint[], int) to authenticated;

/**
 * PT400 unless p_value is a JSON object within project_json_bytes; p_field names it.
 */
create function private.check_project_json(p_field text, p_value jsonb) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_value is not null and (jsonb_typeof(p_value) <> 'object'
     or octet_length(p_value::text) > private.input_limit('project_json_bytes')) then
    raise exception using errcode = 'PT400', message = format('%s must be a JSON object of at most %s bytes',
      p_field, private.input_limit('project_json_bytes'));
  end if;
end
$$;

grant execute on function private.check_project_json(text, jsonb) to authenticated;

/**
 * PT400 unless a name (of a project, shot or recording) is 1 to project_name_chars
 * characters after trimming; null is not given.
 */
create function private.check_project_name(p_field text, p_value text) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_value is not null and char_length(btrim(p_value)) not between 1 and private.input_limit('project_name_chars') then
    raise exception using errcode = 'PT400',
      message = format('%s must be 1 to %s characters', p_field, private.input_limit('project_name_chars'));
  end if;
end
$$;

grant execute on function private.check_project_name(text, text) to authenticated;

/**
 * True when the caller may put a generation into a project (a shot, the prompt history, a
 * duplicate): it is live and their own or their workspace's. Seeing it only because it is
 * attached to some project does not count, or a viewer could copy it out of that project.
 */
create function private.generation_attachable(p_generation_id uuid) returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (
    select 1 from public.generations g
    where g.id = p_generation_id and g.deleted_at is null
      and (g.user_id = auth.uid() or g.workspace_id = any (private.my_ids('viewer'))))
$$;

grant execute on function private.generation_attachable(uuid) to authenticated;

/**
 * How many live projects a user may own: their plan's projects_per_user (public.plans, the
 * quotas migration, is its one owner); null is no limit (admins count as the unlimited
 * plan). plpgsql because private.plan_limits comes with that later migration.
 */
create function private.project_quota(p_user_id uuid) returns bigint
language plpgsql
stable
set search_path = ''
as $$
begin
  return (private.plan_limits(p_user_id)).projects_per_user;
end
$$;

grant execute on function private.project_quota(uuid) to authenticated;

/** Projects */

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  -- The creator. The owner is the owner membership (transferable); the column stays as
  -- history, and is cleared if the creator's account goes while the project stays.
  user_id uuid references public.profiles (id) on delete set null,
  -- Its members reach the project too (private.role_on).
  workspace_id uuid references public.workspaces (id),
  name text not null check (char_length(name) between 1 and private.input_limit('project_name_chars')),
  description text check (char_length(description) between 1 and private.input_limit('project_description_chars')),
  settings jsonb not null default '{}'::jsonb
    check (jsonb_typeof(settings) = 'object' and octet_length(settings::text) <= private.input_limit('project_json_bytes')),
  -- 004's visual layout (canvas, grid, zoom ...); its components are rows of their own.
  layout jsonb not null default '{}'::jsonb
    check (jsonb_typeof(layout) = 'object' and octet_length(layout::text) <= private.input_limit('project_json_bytes')),
  -- Bumped by every change of name, description, settings or layout: update_project's
  -- optional version check.
  version bigint not null default 1,
  -- Bumped by every change of the shots' order (create, move, delete) under this row's
  -- lock: the serial number of the order a client (or a test) read.
  order_version bigint not null default 0,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- The workspace half of every policy (the id half is the primary key) and list_projects'
-- ?workspace_id, newest first.
create index projects_workspace_idx on public.projects (workspace_id, created_at desc, id desc)
  where deleted_at is null;
-- list_projects without a workspace: newest first among what the policy lets through.
create index projects_created_idx on public.projects (created_at desc, id desc) where deleted_at is null;

create trigger projects_touch_updated_at
  before update on public.projects
  for each row execute function private.touch_updated_at();

-- The creator is the owner (the one sharing model); a project's sharing goes with it.
create trigger projects_add_owner
  after insert or update of workspace_id on public.projects
  for each row execute function private.add_owner('project', 'user_id');
create trigger projects_drop_sharing
  after delete on public.projects
  for each row execute function private.drop_sharing();

insert into private.shareable_tables (resource_type, table_name) values ('project', 'projects');

/**
 * A user's new project counts against their quota (private.project_quota): PT403 naming
 * projects_per_user when they own that many live projects. Per user, creations queue on
 * an advisory lock so two at once cannot both take the last place. A trigger, so every
 * path that creates a project (create, duplicate, a direct insert) counts; requests
 * without a user (service role, migrations) are not users' creations.
 */
create function private.enforce_project_quota() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_max bigint;
  v_count bigint;
begin
  if v_uid is null then
    return new;
  end if;
  v_max := private.project_quota(v_uid);
  if v_max is null then
    return new;
  end if;
  perform pg_advisory_xact_lock(hashtextextended('genbase.projects:' || v_uid::text, 0));
  select count(*) into v_count from public.projects p
  where p.id = any (private.my_ids('owner')) and p.deleted_at is null;
  if v_count >= v_max then
    raise exception using errcode = 'PT403', message = format(
      'project quota reached: you own %s projects and projects_per_user allows %s', v_count, v_max);
  end if;
  return new;
end
$$;

create trigger projects_check_quota
  before insert on public.projects
  for each row execute function private.enforce_project_quota();

/**
 * Members edit a project's settings and layout; renaming, describing and deleting need
 * the admin role (RLS cannot tell columns apart, so this trigger does, for every path a
 * user's request takes).
 * Content changes bump version. Writes without a user (service role) are not checked.
 */
create function private.guard_project_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if auth.uid() is not null
     and (new.name, new.description, new.deleted_at) is distinct from (old.name, old.description, old.deleted_at) then
    perform private.require_role(old.id, 'admin', old.workspace_id, 'project');
  end if;
  if (new.name, new.description, new.settings, new.layout) is distinct from
     (old.name, old.description, old.settings, old.layout) then
    new.version := old.version + 1;
  end if;
  return new;
end
$$;

create trigger projects_guard_update
  before update on public.projects
  for each row execute function private.guard_project_update();

alter table public.projects enable row level security;

create policy "Members can view their live projects"
  on public.projects for select to authenticated
  using (deleted_at is null
    and (id = any ((select private.my_ids('viewer'))::uuid[]) or workspace_id = any ((select private.my_ids('viewer'))::uuid[])));

-- Creating a project in a workspace takes the member role on it.
create policy "Active users can create their own projects"
  on public.projects for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (workspace_id is null or workspace_id = any ((select private.my_ids('member'))::uuid[])));

-- Admin-only columns: private.guard_project_update.
create policy "Members can edit their live projects"
  on public.projects for update to authenticated
  using (deleted_at is null
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (id = any ((select private.my_ids('member'))::uuid[]) or workspace_id = any ((select private.my_ids('member'))::uuid[])))
  with check (id = any ((select private.my_ids('member'))::uuid[]) or workspace_id = any ((select private.my_ids('member'))::uuid[]));

-- Deletion is soft (deleted_at, api.soft_delete_project); nothing deletes a project row
-- for users.
revoke all on public.projects from anon, authenticated, service_role;
grant select on public.projects to authenticated, service_role;
grant insert (id, user_id, workspace_id, name, description, settings, layout) on public.projects to authenticated;
grant update (name, description, settings, layout, order_version) on public.projects to authenticated;

/**
 * A project as the API shows it, with the caller's effective role on it.
 */
create function private.project_json(p public.projects) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', p.id, 'user_id', p.user_id, 'workspace_id', p.workspace_id,
    'name', p.name, 'description', p.description, 'settings', p.settings, 'layout', p.layout,
    'version', p.version, 'order_version', p.order_version, 'role', private.role_on(p.id, p.workspace_id),
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

grant execute on function private.project_json(public.projects) to authenticated;

/** Shots */

create table public.shots (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  name text not null check (char_length(name) between 1 and private.input_limit('project_name_chars')),
  settings jsonb not null default '{}'::jsonb
    check (jsonb_typeof(settings) = 'object' and octet_length(settings::text) <= private.input_limit('project_json_bytes')),
  -- Gapped: the API's position is this rank's place among the project's shots.
  rank bigint not null,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Checked at the end of each statement, so a renumbering can pass ranks through each
  -- other; also the index of the policy and of the order.
  constraint shots_rank unique (project_id, rank) deferrable initially immediate,
  -- What shot_generations' composite key points at: a link is in its shot's project.
  constraint shots_in_project unique (id, project_id)
);

create trigger shots_touch_updated_at
  before update on public.shots
  for each row execute function private.touch_updated_at();

alter table public.shots enable row level security;

create policy "Viewers can view the shots of their projects"
  on public.shots for select to authenticated
  using (project_id = any ((select private.my_project_ids('viewer'))::uuid[]));

create policy "Members can add shots to their projects"
  on public.shots for insert to authenticated
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]) and created_by = (select auth.uid()));

create policy "Members can edit the shots of their projects"
  on public.shots for update to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]))
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]));

create policy "Members can delete the shots of their projects"
  on public.shots for delete to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]));

revoke all on public.shots from anon, authenticated, service_role;
grant select on public.shots to authenticated, service_role;
grant insert (id, project_id, name, settings, rank, created_by) on public.shots to authenticated;
grant update (name, settings, rank) on public.shots to authenticated;
grant delete on public.shots to authenticated;

/**
 * A shot as the API shows it, at its position.
 */
create function private.shot_json(s public.shots, p_position bigint) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', s.id, 'project_id', s.project_id, 'name', s.name, 'settings', s.settings,
    'position', p_position, 'created_by', s.created_by, 'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

grant execute on function private.shot_json(public.shots, bigint) to authenticated;

/**
 * Takes the project's order lock (its row) as a member and bumps order_version, which it
 * returns: shot creations, moves and deletions of one project run one at a time, each
 * reading the order the previous one left. PT404 / PT403 as private.project_role.
 */
create function private.lock_shot_order(p_project_id uuid) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_version bigint;
begin
  perform private.project_role(p_project_id, 'member');
  update public.projects set order_version = order_version + 1
  where id = p_project_id and deleted_at is null
  returning order_version into v_version;
  if v_version is null then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  return v_version;
end
$$;

grant execute on function private.lock_shot_order(uuid) to authenticated;

/**
 * Spreads a project's shot ranks out again (65536 apart, same order) when a move found no
 * gap left. Runs under the project's order lock.
 */
create function private.renumber_shots(p_project_id uuid) returns void
language sql
set search_path = ''
as $$
  update public.shots s set rank = r.n * 65536
  from (select id, row_number() over (order by rank) as n from public.shots where project_id = p_project_id) r
  where s.id = r.id and s.project_id = p_project_id
$$;

grant execute on function private.renumber_shots(uuid) to authenticated;

/**
 * The rank that puts a shot at p_position among the project's other shots (all but
 * p_except), renumbering once when no gap is left; PT400 for a position outside 0..n.
 * Runs under the project's order lock.
 */
create function private.shot_rank(p_project_id uuid, p_position int, p_except uuid) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_ranks bigint[];
  v_rank bigint;
begin
  select coalesce(array_agg(rank order by rank), '{}') into v_ranks
  from public.shots where project_id = p_project_id and id is distinct from p_except;
  if p_position is null or p_position not between 0 and cardinality(v_ranks) then
    raise exception using errcode = 'PT400',
      message = format('position must be between 0 and %s', cardinality(v_ranks));
  end if;
  v_rank := private.rank_between(v_ranks, p_position);
  if v_rank is null then
    perform private.renumber_shots(p_project_id);
    select array_agg(rank order by rank) into v_ranks
    from public.shots where project_id = p_project_id and id is distinct from p_except;
    v_rank := private.rank_between(v_ranks, p_position);
  end if;
  return v_rank;
end
$$;

grant execute on function private.shot_rank(uuid, int, uuid) to authenticated;

/** Shot generations */

create table public.shot_generations (
  id uuid primary key default gen_random_uuid(),
  shot_id uuid not null,
  -- The shot's project, so that the policy reads no other table.
  project_id uuid not null,
  generation_id uuid not null references public.generations (id) on delete cascade,
  -- 003: null is attached but not in the shot editor; otherwise ordered like shots.
  rank bigint,
  added_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  constraint shot_generations_shot foreign key (shot_id, project_id)
    references public.shots (id, project_id) on delete cascade,
  constraint shot_generations_once unique (shot_id, generation_id),
  -- Nulls are distinct: any number of unpositioned links.
  constraint shot_generations_rank unique (shot_id, rank) deferrable initially immediate
);

create index shot_generations_project_idx on public.shot_generations (project_id);
-- The generations policy below, and the cascade from a purged generation.
create index shot_generations_generation_idx on public.shot_generations (generation_id);
-- ?unpositioned=true, newest first.
create index shot_generations_unpositioned_idx on public.shot_generations (shot_id, created_at desc, id desc)
  where rank is null;

alter table public.shot_generations enable row level security;

create policy "Viewers can view the shot generations of their projects"
  on public.shot_generations for select to authenticated
  using (project_id = any ((select private.my_project_ids('viewer'))::uuid[]));

-- Only a generation the member sees as their own or their workspace's (not one they see
-- only because some project holds it).
create policy "Members can attach generations they can see to their projects"
  on public.shot_generations for insert to authenticated
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[])
    and added_by = (select auth.uid())
    and private.generation_attachable(generation_id));

create policy "Members can order the shot generations of their projects"
  on public.shot_generations for update to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]))
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]));

create policy "Members can detach the shot generations of their projects"
  on public.shot_generations for delete to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]));

revoke all on public.shot_generations from anon, authenticated, service_role;
grant select on public.shot_generations to authenticated, service_role;
grant insert (shot_id, project_id, generation_id, rank, added_by) on public.shot_generations to authenticated;
grant update (rank) on public.shot_generations to authenticated;
grant delete on public.shot_generations to authenticated;

-- Everyone a project is shared with sees what its shots show. Uncorrelated, so it runs
-- once per statement (a hashed sub-plan), like the helpers it reads through.
create policy "Viewers can view the generations attached to their projects"
  on public.generations for select to authenticated
  using (id in (select sg.generation_id from public.shot_generations sg
    where sg.project_id = any ((select private.my_project_ids('viewer'))::uuid[])));

/**
 * A shot's link to a generation as the API shows it: its position (null: unpositioned)
 * and what the generation shows (null once it is deleted).
 */
create function private.shot_generation_json(sg public.shot_generations, p_position bigint, g public.generations)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', sg.id, 'shot_id', sg.shot_id, 'generation_id', sg.generation_id,
    'position', p_position, 'added_by', sg.added_by, 'created_at', sg.created_at,
    'generation', case when g.id is not null and g.deleted_at is null then jsonb_build_object(
      'id', g.id, 'kind', g.kind, 'status', g.status, 'prompt', g.prompt, 'title', g.title,
      'outputs', g.outputs, 'created_at', g.created_at) end)
$$;

grant execute on function private.shot_generation_json(public.shot_generations, bigint, public.generations) to authenticated;

/**
 * Takes a shot's order lock (its row) as a member of its project: attaching, positioning
 * and detaching its generations run one at a time. PT404 'shot not found' when the shot
 * is not in that project.
 */
create function private.lock_shot(p_project_id uuid, p_shot_id uuid) returns void
language plpgsql
set search_path = ''
as $$
begin
  perform private.project_role(p_project_id, 'member');
  perform 1 from public.shots where id = p_shot_id and project_id = p_project_id for no key update;
  if not found then
    raise exception using errcode = 'PT404', message = 'shot not found';
  end if;
end
$$;

grant execute on function private.lock_shot(uuid, uuid) to authenticated;

/**
 * The rank that puts a generation at p_position among a shot's other positioned ones (all
 * but p_except), renumbering once when no gap is left; PT400 outside 0..n. Runs under the
 * shot's lock.
 */
create function private.shot_generation_rank(p_shot_id uuid, p_position int, p_except uuid) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_ranks bigint[];
  v_rank bigint;
begin
  select coalesce(array_agg(rank order by rank), '{}') into v_ranks from public.shot_generations
  where shot_id = p_shot_id and rank is not null and generation_id is distinct from p_except;
  if p_position not between 0 and cardinality(v_ranks) then
    raise exception using errcode = 'PT400',
      message = format('position must be between 0 and %s, or null', cardinality(v_ranks));
  end if;
  v_rank := private.rank_between(v_ranks, p_position);
  if v_rank is null then
    update public.shot_generations sg set rank = r.n * 65536
    from (select id, row_number() over (order by rank) as n from public.shot_generations
          where shot_id = p_shot_id and rank is not null) r
    where sg.id = r.id;
    select array_agg(rank order by rank) into v_ranks from public.shot_generations
    where shot_id = p_shot_id and rank is not null and generation_id is distinct from p_except;
    v_rank := private.rank_between(v_ranks, p_position);
  end if;
  return v_rank;
end
$$;

grant execute on function private.shot_generation_rank(uuid, int, uuid) to authenticated;

/**
 * A shot's link to one generation, at its current position. SECURITY INVOKER.
 */
create function private.shot_generation_at(p_shot_id uuid, p_generation_id uuid) returns jsonb
language sql
stable
set search_path = ''
as $$
  select private.shot_generation_json(sg,
    case when sg.rank is not null then (select count(*) from public.shot_generations o
      where o.shot_id = sg.shot_id and o.rank < sg.rank) end, g)
  from public.shot_generations sg
  left join public.generations g on g.id = sg.generation_id
  where sg.shot_id = p_shot_id and sg.generation_id = p_generation_id
$$;

grant execute on function private.shot_generation_at(uuid, uuid) to authenticated;

/** Components */

create table public.project_components (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  -- 004's draggable component kinds are the client's: any short name.
  type text not null check (char_length(type) between 1 and private.input_limit('component_type_chars')),
  -- Canvas units; NaN and infinities fail the bounds.
  x double precision not null default 0 check (abs(x) <= 1e9),
  y double precision not null default 0 check (abs(y) <= 1e9),
  width double precision not null default 0 check (width between 0 and 1e9),
  height double precision not null default 0 check (height between 0 and 1e9),
  z_index int not null default 0,
  properties jsonb not null default '{}'::jsonb
    check (jsonb_typeof(properties) = 'object' and octet_length(properties::text) <= private.input_limit('project_json_bytes')),
  -- Bumped by every update (a trigger, whatever path writes): update_component saves only
  -- over the version the editor read.
  version bigint not null default 1,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index project_components_project_idx on public.project_components (project_id, z_index, created_at, id);

/**
 * Every change to a component is a new version, so an editor holding an older one cannot
 * save over it (api.update_component).
 */
create function private.bump_component_version() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.version := old.version + 1;
  new.updated_at := now();
  return new;
end
$$;

create trigger project_components_bump_version
  before update on public.project_components
  for each row execute function private.bump_component_version();

alter table public.project_components enable row level security;

create policy "Viewers can view the components of their projects"
  on public.project_components for select to authenticated
  using (project_id = any ((select private.my_project_ids('viewer'))::uuid[]));

create policy "Members can add components to their projects"
  on public.project_components for insert to authenticated
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]) and created_by = (select auth.uid()));

create policy "Members can edit the components of their projects"
  on public.project_components for update to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]))
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]));

create policy "Members can delete the components of their projects"
  on public.project_components for delete to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]));

revoke all on public.project_components from anon, authenticated, service_role;
grant select on public.project_components to authenticated, service_role;
grant insert (project_id, type, x, y, width, height, z_index, properties, created_by)
  on public.project_components to authenticated;
grant update (type, x, y, width, height, z_index, properties) on public.project_components to authenticated;
grant delete on public.project_components to authenticated;

create function private.component_json(c public.project_components) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', c.id, 'project_id', c.project_id, 'type', c.type, 'x', c.x, 'y', c.y,
    'width', c.width, 'height', c.height, 'z_index', c.z_index, 'properties', c.properties,
    'version', c.version, 'created_by', c.created_by, 'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

grant execute on function private.component_json(public.project_components) to authenticated;

/**
 * A component's fields as a patch or a new component gives them ({type, x, y, width,
 * height, z_index, properties}, each optional): PT400 naming the first that is of the
 * wrong type or out of bounds, or an unknown key.
 */
create function private.check_component(p_fields jsonb) returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_key text;
  v_value jsonb;
begin
  for v_key, v_value in select * from jsonb_each(p_fields) loop
    if v_key = 'type' then
      if jsonb_typeof(v_value) <> 'string'
         or char_length(btrim(v_value #>> '{}')) not between 1 and private.input_limit('component_type_chars') then
        raise exception using errcode = 'PT400',
          message = format('type must be 1 to %s characters', private.input_limit('component_type_chars'));
      end if;
    elsif v_key in ('x', 'y') then
      if jsonb_typeof(v_value) <> 'number' or abs((v_value #>> '{}')::numeric) > 1e9 then
        raise exception using errcode = 'PT400', message = format('%s must be a number between -1e9 and 1e9', v_key);
      end if;
    elsif v_key in ('width', 'height') then
      if jsonb_typeof(v_value) <> 'number' or (v_value #>> '{}')::numeric not between 0 and 1e9 then
        raise exception using errcode = 'PT400', message = format('%s must be a number between 0 and 1e9', v_key);
      end if;
    elsif v_key = 'z_index' then
      if jsonb_typeof(v_value) <> 'number' or (v_value #>> '{}')::numeric not between -2147483648 and 2147483647
         or (v_value #>> '{}')::numeric % 1 <> 0 then
        raise exception using errcode = 'PT400', message = 'z_index must be an integer';
      end if;
    elsif v_key = 'properties' then
      perform private.check_project_json('properties', v_value);
    else
      raise exception using errcode = 'PT400', message = format(
        'unknown field: %s (type, x, y, width, height, z_index and properties can be set)', left(v_key, 64));
    end if;
  end loop;
end
$$;

grant execute on function private.check_component(jsonb) to authenticated;

/** Audio recordings */

create table public.audio_recordings (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  -- Who recorded it: the upload's owner.
  user_id uuid references public.profiles (id) on delete set null,
  upload_id uuid not null unique references public.uploads (id) on delete cascade,
  name text not null check (char_length(name) between 1 and private.input_limit('project_name_chars')),
  duration_seconds numeric(10, 3) check (duration_seconds between 0 and private.input_limit('recording_seconds_max')),
  -- Copied from the upload (private.fill_recording): other members cannot read uploads.
  bucket text not null,
  path text not null,
  content_type text not null,
  bytes bigint not null,
  created_at timestamptz not null default now()
);

create index audio_recordings_project_idx on public.audio_recordings (project_id, created_at desc, id desc);

/**
 * A recording is one of its recorder's uploads of purpose audio_recording, made for this
 * project (the path api.create_upload chose: {user_id}/{project_id}/...), whose file has
 * arrived; the row takes the object's bucket, path, type and size from it. PT404 for an
 * upload that is not the recorder's, PT400 for one of another purpose or project, PT409
 * for one registered already or before its file arrived. A trigger, so every path that
 * registers one checks it.
 */
create function private.fill_recording() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  u public.uploads;
  v_size bigint;
begin
  select * into u from public.uploads where id = new.upload_id and user_id = new.user_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'upload not found';
  end if;
  if u.purpose <> 'audio_recording' or u.path not like u.user_id || '/' || new.project_id || '/%' then
    raise exception using errcode = 'PT400', message = 'upload_id must be an audio_recording upload made for this project';
  end if;
  -- The unique key is the fence; this is its clear message.
  if exists (select 1 from public.audio_recordings where upload_id = u.id) then
    raise exception using errcode = 'PT409', message = 'this upload is a recording already';
  end if;
  select (o.metadata ->> 'size')::bigint into v_size
  from storage.objects o where o.bucket_id = u.bucket and o.name = u.path;
  if not found then
    raise exception using errcode = 'PT409', message = 'the upload''s file has not arrived yet';
  end if;
  new.bucket := u.bucket;
  new.path := u.path;
  new.content_type := u.content_type;
  new.bytes := coalesce(v_size, u.bytes);
  new.name := left(coalesce(new.name, u.filename, storage.filename(u.path)), private.input_limit('project_name_chars')::int);
  return new;
end
$$;

create trigger audio_recordings_fill
  before insert on public.audio_recordings
  for each row execute function private.fill_recording();

alter table public.audio_recordings enable row level security;

create policy "Viewers can view the recordings of their projects"
  on public.audio_recordings for select to authenticated
  using (project_id = any ((select private.my_project_ids('viewer'))::uuid[]));

create policy "Members can add their recordings to their projects"
  on public.audio_recordings for insert to authenticated
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]) and user_id = (select auth.uid()));

create policy "Members can delete the recordings of their projects"
  on public.audio_recordings for delete to authenticated
  using (project_id = any ((select private.my_project_ids('member'))::uuid[]));

revoke all on public.audio_recordings from anon, authenticated, service_role;
grant select on public.audio_recordings to authenticated, service_role;
grant insert (project_id, user_id, upload_id, name, duration_seconds) on public.audio_recordings to authenticated;
grant delete on public.audio_recordings to authenticated;

create function private.recording_json(r public.audio_recordings) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', r.id, 'project_id', r.project_id, 'user_id', r.user_id,
    'upload_id', r.upload_id, 'name', r.name, 'duration_seconds', r.duration_seconds, 'bucket', r.bucket,
    'path', r.path, 'content_type', r.content_type, 'bytes', r.bytes, 'created_at', r.created_at)
$$;

grant execute on function private.recording_json(public.audio_recordings) to authenticated;

/** Prompt history */

create table public.prompt_generations (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  user_id uuid references public.profiles (id) on delete set null,
  prompt text not null check (char_length(prompt) between 1 and private.input_limit('prompt_chars')),
  -- The client's model name (004 records any provider's).
  model text check (char_length(model) between 1 and private.input_limit('model_chars')),
  settings jsonb not null default '{}'::jsonb
    check (jsonb_typeof(settings) = 'object' and octet_length(settings::text) <= private.input_limit('params_bytes')),
  -- The generation the prompt made, if the caller could attach it.
  generation_id uuid references public.generations (id) on delete set null,
  -- The moment it was recorded, not its transaction's start: the history's order.
  created_at timestamptz not null default clock_timestamp()
);

create index prompt_generations_project_idx on public.prompt_generations (project_id, created_at desc, id desc);
create index prompt_generations_generation_idx on public.prompt_generations (generation_id);

alter table public.prompt_generations enable row level security;

create policy "Viewers can view the prompt history of their projects"
  on public.prompt_generations for select to authenticated
  using (project_id = any ((select private.my_project_ids('viewer'))::uuid[]));

create policy "Members can add to the prompt history of their projects"
  on public.prompt_generations for insert to authenticated
  with check (project_id = any ((select private.my_project_ids('member'))::uuid[]) and user_id = (select auth.uid())
    and (generation_id is null or private.generation_attachable(generation_id)));

-- History is kept as written: no update or delete for users; it goes with its project.
revoke all on public.prompt_generations from anon, authenticated, service_role;
grant select on public.prompt_generations to authenticated, service_role;
grant insert (project_id, user_id, prompt, model, settings, generation_id, created_at)
  on public.prompt_generations to authenticated;

create function private.prompt_json(pg public.prompt_generations) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', pg.id, 'project_id', pg.project_id, 'user_id', pg.user_id,
    'prompt', pg.prompt, 'model', pg.model, 'settings', pg.settings, 'generation_id', pg.generation_id,
    'created_at', pg.created_at)
$$;

grant execute on function private.prompt_json(public.prompt_generations) to authenticated;

/** Projects API */

/**
 * Creates a project owned by the caller, in p_workspace_id when given (member role on it:
 * PT404 for a workspace they are not in, PT403 for a viewer). Counts against the quota
 * (PT403 naming projects_per_user). SECURITY INVOKER.
 */
create function api.create_project(
  p_name text,
  p_description text default null,
  p_workspace_id uuid default null,
  p_settings jsonb default null,
  p_layout jsonb default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_id uuid := gen_random_uuid();
  p public.projects;
begin
  if p_name is null then
    raise exception using errcode = 'PT400', message = 'name is required';
  end if;
  perform private.check_project_name('name', p_name);
  if p_description is not null and char_length(btrim(p_description)) not between 1 and private.input_limit('project_description_chars') then
    raise exception using errcode = 'PT400',
      message = format('description must be 1 to %s characters', private.input_limit('project_description_chars'));
  end if;
  perform private.check_project_json('settings', p_settings);
  perform private.check_project_json('layout', p_layout);
  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'member', null, 'workspace');
  end if;

  -- No RETURNING: the new row is visible only once the owner membership (an after
  -- trigger) exists, which the next statement sees.
  insert into public.projects (id, user_id, workspace_id, name, description, settings, layout)
  values (v_id, v_uid, p_workspace_id, btrim(p_name), btrim(p_description),
    coalesce(p_settings, '{}'::jsonb), coalesce(p_layout, '{}'::jsonb));
  select * into p from public.projects where id = v_id;
  return private.project_json(p);
end
$$;

grant execute on function api.create_project(text, text, uuid, jsonb, jsonb) to authenticated;

/**
 * The projects the caller can see (their own, shared with them, their workspaces'),
 * newest first, keyset-paged on (created_at, id); p_workspace_id narrows to one
 * workspace's. Deleted projects never appear. SECURITY INVOKER: RLS decides.
 */
create function api.list_projects(
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
  v_items jsonb;
begin
  perform private.caller_id();
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);

  with page as (
    select * from public.projects p
    where p.deleted_at is null
      and (p_workspace_id is null or p.workspace_id = p_workspace_id)
      and (p_cursor_id is null or (p.created_at, p.id) < (p_cursor_created_at, p_cursor_id))
    order by p.created_at desc, p.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.project_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_projects(uuid, int, timestamptz, uuid) to authenticated;

/**
 * One project the caller can see; PT404 otherwise (or once deleted). SECURITY INVOKER.
 */
create function api.get_project(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  p public.projects;
begin
  perform private.caller_id();
  select * into p from public.projects where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  return private.project_json(p);
end
$$;

grant execute on function api.get_project(uuid) to authenticated;

/**
 * Changes a project: {settings?, layout?} for members, {name?, description?} for admins
 * (null clears the description), and an optional {version}: when given and not the
 * current one, PT409 with the current version and nothing changed. Any other key is
 * PT400. SECURITY INVOKER: the update policy and private.guard_project_update decide.
 */
create function api.update_project(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  v_current bigint;
  p public.projects;
begin
  perform private.require_user();
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch - 'version' = '{}'::jsonb then
    raise exception using errcode = 'PT400',
      message = 'the patch must be a JSON object with name, description, settings or layout';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('name', 'description', 'settings', 'layout', 'version') then
      raise exception using errcode = 'PT400', message = format(
        'unknown field: %s (name, description, settings, layout and version can be sent)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'name' and jsonb_typeof(p_patch -> 'name') <> 'string' then
    raise exception using errcode = 'PT400', message = 'name must be a string';
  end if;
  perform private.check_project_name('name', p_patch ->> 'name');
  if p_patch ? 'description' and (jsonb_typeof(p_patch -> 'description') not in ('string', 'null')
     or char_length(btrim(p_patch ->> 'description')) not between 1 and private.input_limit('project_description_chars')) then
    raise exception using errcode = 'PT400',
      message = format('description must be 1 to %s characters, or null', private.input_limit('project_description_chars'));
  end if;
  perform private.check_project_json('settings', p_patch -> 'settings');
  perform private.check_project_json('layout', p_patch -> 'layout');
  if p_patch ? 'version' and (jsonb_typeof(p_patch -> 'version') <> 'number' or (p_patch ->> 'version') !~ '^\d{1,18}$') then
    raise exception using errcode = 'PT400', message = 'version must be a positive integer';
  end if;

  perform private.project_role(p_id, case when p_patch ?| array['name', 'description'] then 'admin' else 'member' end);
  update public.projects set
    name = coalesce(btrim(p_patch ->> 'name'), name),
    description = case when p_patch ? 'description' then btrim(p_patch ->> 'description') else description end,
    settings = coalesce(p_patch -> 'settings', settings),
    layout = coalesce(p_patch -> 'layout', layout)
  where id = p_id and deleted_at is null
    and (not p_patch ? 'version' or version = (p_patch ->> 'version')::bigint);
  if not found then
    select version into v_current from public.projects where id = p_id and deleted_at is null;
    if v_current is null then
      raise exception using errcode = 'PT404', message = 'project not found';
    end if;
    raise exception using errcode = 'PT409', message = format(
      'the project was changed by someone else: its current version is %s', v_current);
  end if;
  select * into p from public.projects where id = p_id;
  return private.project_json(p);
end
$$;

grant execute on function api.update_project(uuid, jsonb) to authenticated;

/**
 * 004's soft_delete_project: hides the project and, through the children's policies
 * (private.my_project_ids), its shots, links, components, recordings and prompt history
 * from every list at once. Admin role; p_user_id, kept from 004, must be the caller
 * (PT403 otherwise). Returns {id, deleted_at}. SECURITY DEFINER: Postgres checks an
 * updated row against the select policy too, which a deleted project no longer passes;
 * the caller is checked here (private.project_role, as the caller's JWT).
 */
create function api.soft_delete_project(p_project_id uuid, p_user_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_at timestamptz := now();
begin
  if p_user_id is distinct from v_uid then
    raise exception using errcode = 'PT403', message = 'user_id must be the caller''s own id';
  end if;
  perform private.project_role(p_project_id, 'admin');
  update public.projects set deleted_at = v_at where id = p_project_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  return jsonb_build_object('id', p_project_id, 'deleted_at', v_at);
end
$$;

grant execute on function api.soft_delete_project(uuid, uuid) to authenticated;

/**
 * 004's duplicate_project: a new project of the caller's (counted against their quota),
 * named p_name (default: the source's name with " (copy)"), in the source's workspace
 * when the caller is a member there (personal otherwise), with the source's settings,
 * layout, shots in their order, the shots' links to generations the caller could attach
 * themselves (their own or their workspace's: never another user's generation they see
 * only through the source), components and prompt history (its generation kept under the
 * same rule). Not copied: memberships and invitations (the copy is the caller's alone),
 * recordings (their objects are in their recorder's folder). Viewer role on the source
 * (PT404 otherwise); p_user_id must be the caller (PT403). SECURITY INVOKER: every row
 * passes the new project's policies.
 */
create function api.duplicate_project(p_source_id uuid, p_user_id uuid, p_name text default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_id uuid := gen_random_uuid();
  v_workspaces uuid[];
  src public.projects;
  p public.projects;
begin
  if p_user_id is distinct from v_uid then
    raise exception using errcode = 'PT403', message = 'user_id must be the caller''s own id';
  end if;
  perform private.check_project_name('name', p_name);
  select * into src from public.projects where id = p_source_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  v_workspaces := private.my_ids('viewer');

  insert into public.projects (id, user_id, workspace_id, name, description, settings, layout)
  values (v_id, v_uid, case when src.workspace_id = any (private.my_ids('member')) then src.workspace_id end,
    coalesce(btrim(p_name), left(src.name, private.input_limit('project_name_chars')::int - 7) || ' (copy)'),
    src.description, src.settings, src.layout);

  -- New ids for the shots, so their links follow them; ranks keep the order. The links'
  -- keys are checked at the end of the statement, after the shots' insert.
  with copied as (
    select s.id as old_id, gen_random_uuid() as new_id, s.name, s.settings, s.rank
    from public.shots s where s.project_id = src.id
  ), shots as (
    insert into public.shots (id, project_id, name, settings, rank, created_by)
    select new_id, v_id, name, settings, rank, v_uid from copied
  )
  insert into public.shot_generations (shot_id, project_id, generation_id, rank, added_by)
  select c.new_id, v_id, sg.generation_id, sg.rank, v_uid
  from copied c
  join public.shot_generations sg on sg.shot_id = c.old_id
  join public.generations g on g.id = sg.generation_id
  where g.deleted_at is null and (g.user_id = v_uid or g.workspace_id = any (v_workspaces));

  insert into public.project_components (project_id, type, x, y, width, height, z_index, properties, created_by)
  select v_id, c.type, c.x, c.y, c.width, c.height, c.z_index, c.properties, v_uid
  from public.project_components c where c.project_id = src.id;

  insert into public.prompt_generations (project_id, user_id, prompt, model, settings, generation_id, created_at)
  select v_id, v_uid, h.prompt, h.model, h.settings,
    (select g.id from public.generations g where g.id = h.generation_id and g.deleted_at is null
       and (g.user_id = v_uid or g.workspace_id = any (v_workspaces))),
    h.created_at
  from public.prompt_generations h where h.project_id = src.id;

  select * into p from public.projects where id = v_id;
  return private.project_json(p);
end
$$;

grant execute on function api.duplicate_project(uuid, uuid, text) to authenticated;

/**
 * 004's get_user_project_stats for the caller (p_user_id, when given, must be them:
 * PT403): their live projects as owner and what those hold, the projects shared with them,
 * and their quota. SECURITY INVOKER.
 */
create function api.get_user_project_stats(p_user_id uuid default null) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_owned uuid[];
  v_max bigint;
  v_count bigint;
begin
  if p_user_id <> v_uid then
    raise exception using errcode = 'PT403', message = 'user_id must be the caller''s own id';
  end if;
  select coalesce(array_agg(id), '{}') into v_owned from public.projects
  where id = any (private.my_ids('owner')) and deleted_at is null;
  v_count := cardinality(v_owned);
  v_max := private.project_quota(v_uid);
  return jsonb_build_object(
    'user_id', v_uid,
    'projects', v_count,
    'shared_projects', (select count(*) from public.projects where deleted_at is null and not id = any (v_owned)),
    'shots', (select count(*) from public.shots where project_id = any (v_owned)),
    'shot_generations', (select count(*) from public.shot_generations where project_id = any (v_owned)),
    'components', (select count(*) from public.project_components where project_id = any (v_owned)),
    'recordings', (select count(*) from public.audio_recordings where project_id = any (v_owned)),
    'recording_seconds', (select coalesce(sum(duration_seconds), 0) from public.audio_recordings where project_id = any (v_owned)),
    'prompts', (select count(*) from public.prompt_generations where project_id = any (v_owned)),
    'last_updated_at', (select max(updated_at) from public.projects where id = any (v_owned)),
    'quota', jsonb_build_object('max', v_max, 'remaining', greatest(v_max - v_count, 0)));
end
$$;

grant execute on function api.get_user_project_stats(uuid) to authenticated;

/**
 * 004's check_project_quota: whether the caller (p_user_id, when given, must be them:
 * PT403) may create another project, {user_id, projects, max, allowed}. max is the plan's
 * quota (null: unlimited, for admins); p_max can only narrow it (the question "am I under
 * p_max?"), never raise what creating a project checks. SECURITY INVOKER.
 */
create function api.check_project_quota(p_user_id uuid default null, p_max int default null) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_max bigint;
  v_count bigint;
begin
  if p_user_id <> v_uid then
    raise exception using errcode = 'PT403', message = 'user_id must be the caller''s own id';
  end if;
  if p_max < 0 then
    raise exception using errcode = 'PT400', message = 'max must be zero or more';
  end if;
  v_max := private.project_quota(v_uid);
  v_max := case when p_max is null then v_max else least(p_max, coalesce(v_max, p_max)) end;
  select count(*) into v_count from public.projects where id = any (private.my_ids('owner')) and deleted_at is null;
  return jsonb_build_object('user_id', v_uid, 'projects', v_count, 'max', v_max,
    'allowed', v_max is null or v_count < v_max);
end
$$;

grant execute on function api.check_project_quota(uuid, int) to authenticated;

/** Shots API */

/**
 * Adds a shot to a project (member role) at p_position (0..n; the end when null), moving
 * the later ones down. PT400 past shots_per_project. Returns the shot with its position
 * and the order's new order_version. SECURITY INVOKER.
 */
create function api.create_shot(
  p_project_id uuid,
  p_name text,
  p_settings jsonb default null,
  p_position int default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_version bigint;
  v_count int;
  v_rank bigint;
  s public.shots;
begin
  if p_name is null then
    raise exception using errcode = 'PT400', message = 'name is required';
  end if;
  perform private.check_project_name('name', p_name);
  perform private.check_project_json('settings', p_settings);
  v_version := private.lock_shot_order(p_project_id);
  select count(*) into v_count from public.shots where project_id = p_project_id;
  if v_count >= private.input_limit('shots_per_project') then
    raise exception using errcode = 'PT400', message = format(
      'the project has %s shots, the most it can have (shots_per_project)', v_count);
  end if;
  v_rank := private.shot_rank(p_project_id, coalesce(p_position, v_count), null);
  insert into public.shots (project_id, name, settings, rank, created_by)
  values (p_project_id, btrim(p_name), coalesce(p_settings, '{}'::jsonb), v_rank, v_uid)
  returning * into s;
  return private.shot_json(s, coalesce(p_position, v_count)) || jsonb_build_object('order_version', v_version);
end
$$;

grant execute on function api.create_shot(uuid, text, jsonb, int) to authenticated;

/**
 * A project's shots in order, positions 0..n-1, and the order_version they were read at
 * (at most shots_per_project exist: one page). SECURITY INVOKER: PT404 when the caller
 * cannot see the project.
 */
create function api.list_shots(p_project_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_version bigint;
begin
  perform private.caller_id();
  select order_version into v_version from public.projects where id = p_project_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  return jsonb_build_object('order_version', v_version, 'items', (
    select coalesce(jsonb_agg(private.shot_json(s, o.position) order by o.position), '[]'::jsonb)
    from (select id, row_number() over (order by rank) - 1 as position
          from public.shots where project_id = p_project_id) o
    join public.shots s on s.id = o.id));
end
$$;

grant execute on function api.list_shots(uuid) to authenticated;

/**
 * Renames a shot or changes its settings ({name?, settings?}; member role). SECURITY
 * INVOKER.
 */
create function api.update_shot(p_project_id uuid, p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  s public.shots;
begin
  perform private.require_user();
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400', message = 'the patch must be a JSON object with name or settings';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('name', 'settings') then
      raise exception using errcode = 'PT400', message = format(
        'unknown field: %s (name and settings can be changed; move a shot with its move endpoint)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'name' and jsonb_typeof(p_patch -> 'name') <> 'string' then
    raise exception using errcode = 'PT400', message = 'name must be a string';
  end if;
  perform private.check_project_name('name', p_patch ->> 'name');
  perform private.check_project_json('settings', p_patch -> 'settings');
  perform private.project_role(p_project_id, 'member');

  update public.shots set
    name = coalesce(btrim(p_patch ->> 'name'), name),
    settings = coalesce(p_patch -> 'settings', settings)
  where id = p_id and project_id = p_project_id
  returning * into s;
  if not found then
    raise exception using errcode = 'PT404', message = 'shot not found';
  end if;
  return private.shot_json(s, (select count(*) from public.shots o where o.project_id = s.project_id and o.rank < s.rank));
end
$$;

grant execute on function api.update_shot(uuid, uuid, jsonb) to authenticated;

/**
 * Moves a shot to p_position (0..n-1; member role): the shots between close up, the
 * others keep theirs. Runs under the project's order lock, so concurrent moves apply one
 * after the other, each to the order the previous one left: none is lost and no two shots
 * share a position. Returns the shot at its position and the order_version of this move.
 * SECURITY INVOKER.
 */
create function api.move_shot(p_project_id uuid, p_id uuid, p_position int) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_version bigint;
  v_current bigint;
  v_rank bigint;
  s public.shots;
begin
  perform private.require_user();
  if p_position is null then
    raise exception using errcode = 'PT400', message = 'position is required';
  end if;
  v_version := private.lock_shot_order(p_project_id);
  select * into s from public.shots where id = p_id and project_id = p_project_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'shot not found';
  end if;
  select count(*) into v_current from public.shots where project_id = p_project_id and rank < s.rank;
  if v_current <> p_position then
    -- Its own statement: it may renumber the project's ranks first.
    v_rank := private.shot_rank(p_project_id, p_position, p_id);
    update public.shots set rank = v_rank where id = p_id returning * into s;
  end if;
  return private.shot_json(s, p_position) || jsonb_build_object('order_version', v_version);
end
$$;

grant execute on function api.move_shot(uuid, uuid, int) to authenticated;

/**
 * Deletes a shot and its links (member role); the later shots move up. Returns {id,
 * order_version}. SECURITY INVOKER.
 */
create function api.delete_shot(p_project_id uuid, p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_version bigint;
begin
  perform private.require_user();
  v_version := private.lock_shot_order(p_project_id);
  delete from public.shots where id = p_id and project_id = p_project_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'shot not found';
  end if;
  return jsonb_build_object('id', p_id, 'order_version', v_version);
end
$$;

grant execute on function api.delete_shot(uuid, uuid) to authenticated;

/** Shot generations API */

/**
 * Attaches a generation to a shot (member role): at p_position (0..n among the shot's
 * positioned ones) or, when null, unpositioned (003: attached, not in the editor). The
 * generation must be the caller's own or their workspace's (PT404 'generation not found'
 * otherwise); PT409 when it is attached to the shot already; PT400 past
 * generations_per_shot. SECURITY INVOKER.
 */
create function api.attach_generation(
  p_project_id uuid,
  p_shot_id uuid,
  p_generation_id uuid,
  p_position int default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_count int;
  v_rank bigint;
begin
  perform private.lock_shot(p_project_id, p_shot_id);
  if p_generation_id is null or not private.generation_attachable(p_generation_id) then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  if exists (select 1 from public.shot_generations where shot_id = p_shot_id and generation_id = p_generation_id) then
    raise exception using errcode = 'PT409', message = 'the generation is attached to this shot already';
  end if;
  select count(*) into v_count from public.shot_generations where shot_id = p_shot_id;
  if v_count >= private.input_limit('generations_per_shot') then
    raise exception using errcode = 'PT400', message = format(
      'the shot has %s generations, the most it can have (generations_per_shot)', v_count);
  end if;
  if p_position is not null then
    v_rank := private.shot_generation_rank(p_shot_id, p_position, null);
  end if;
  insert into public.shot_generations (shot_id, project_id, generation_id, rank, added_by)
  values (p_shot_id, p_project_id, p_generation_id, v_rank, v_uid);
  return private.shot_generation_at(p_shot_id, p_generation_id);
end
$$;

grant execute on function api.attach_generation(uuid, uuid, uuid, int) to authenticated;

/**
 * A shot's generations (003): p_unpositioned true lists only the unpositioned ones
 * (newest first: the Generations Pane's filter), false only the positioned ones in order
 * (positions 0..n-1: the editor), null both, positioned first. At most
 * generations_per_shot exist: one page. SECURITY INVOKER: PT404 when the caller cannot
 * see the shot.
 */
create function api.list_shot_generations(p_project_id uuid, p_shot_id uuid, p_unpositioned boolean default null)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  perform private.caller_id();
  if not exists (select 1 from public.shots where id = p_shot_id and project_id = p_project_id) then
    raise exception using errcode = 'PT404', message = 'shot not found';
  end if;
  return jsonb_build_object('items', (
    select coalesce(jsonb_agg(private.shot_generation_json(sg, o.position, g)
      order by o.position nulls last, sg.created_at desc, sg.id desc), '[]'::jsonb)
    from (select id, case when rank is not null then row_number() over (partition by rank is null order by rank) - 1 end
            as position
          from public.shot_generations where shot_id = p_shot_id) o
    join public.shot_generations sg on sg.id = o.id
    left join public.generations g on g.id = sg.generation_id
    where p_unpositioned is null or (sg.rank is null) = p_unpositioned));
end
$$;

grant execute on function api.list_shot_generations(uuid, uuid, boolean) to authenticated;

/**
 * Moves a shot's generation to p_position among the positioned ones (0..n-1), or
 * unpositions it (null): it stays attached, out of the editor. Member role; under the
 * shot's lock. SECURITY INVOKER.
 */
create function api.position_generation(p_project_id uuid, p_shot_id uuid, p_generation_id uuid, p_position int)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_current bigint;
  v_rank bigint;
  sg public.shot_generations;
begin
  perform private.require_user();
  perform private.lock_shot(p_project_id, p_shot_id);
  select * into sg from public.shot_generations where shot_id = p_shot_id and generation_id = p_generation_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'the generation is not attached to this shot';
  end if;
  if p_position is null then
    update public.shot_generations set rank = null where id = sg.id;
  else
    if sg.rank is not null then
      select count(*) into v_current from public.shot_generations where shot_id = p_shot_id and rank < sg.rank;
    end if;
    if v_current is distinct from p_position::bigint then
      -- Its own statement: it may renumber the shot's ranks first.
      v_rank := private.shot_generation_rank(p_shot_id, p_position, p_generation_id);
      update public.shot_generations set rank = v_rank where id = sg.id;
    end if;
  end if;
  return private.shot_generation_at(p_shot_id, p_generation_id);
end
$$;

grant execute on function api.position_generation(uuid, uuid, uuid, int) to authenticated;

/**
 * Detaches a generation from a shot (member role); the generation itself stays. Returns
 * {shot_id, generation_id}. SECURITY INVOKER.
 */
create function api.detach_generation(p_project_id uuid, p_shot_id uuid, p_generation_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  perform private.require_user();
  perform private.lock_shot(p_project_id, p_shot_id);
  delete from public.shot_generations where shot_id = p_shot_id and generation_id = p_generation_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'the generation is not attached to this shot';
  end if;
  return jsonb_build_object('shot_id', p_shot_id, 'generation_id', p_generation_id);
end
$$;

grant execute on function api.detach_generation(uuid, uuid, uuid) to authenticated;

/** Components API */

/**
 * Adds a component to a project's layout (member role): p_component is {type, x?, y?,
 * width?, height?, z_index?, properties?}. PT400 for a bad field or past
 * components_per_project (counted without a lock: it bounds storage). Version 1.
 * SECURITY INVOKER.
 */
create function api.create_component(p_project_id uuid, p_component jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_count int;
  c public.project_components;
begin
  if p_component is null or jsonb_typeof(p_component) <> 'object' or not p_component ? 'type' then
    raise exception using errcode = 'PT400', message = 'a component is a JSON object with at least a type';
  end if;
  perform private.check_component(p_component);
  perform private.project_role(p_project_id, 'member');
  select count(*) into v_count from public.project_components where project_id = p_project_id;
  if v_count >= private.input_limit('components_per_project') then
    raise exception using errcode = 'PT400', message = format(
      'the project has %s components, the most it can have (components_per_project)', v_count);
  end if;
  insert into public.project_components (project_id, type, x, y, width, height, z_index, properties, created_by)
  values (p_project_id, btrim(p_component ->> 'type'),
    coalesce((p_component ->> 'x')::float8, 0), coalesce((p_component ->> 'y')::float8, 0),
    coalesce((p_component ->> 'width')::float8, 0), coalesce((p_component ->> 'height')::float8, 0),
    coalesce((p_component ->> 'z_index')::int, 0), coalesce(p_component -> 'properties', '{}'::jsonb), v_uid)
  returning * into c;
  return private.component_json(c);
end
$$;

grant execute on function api.create_component(uuid, jsonb) to authenticated;

/**
 * A project's components, bottom first (z_index, then creation): at most
 * components_per_project, one page. SECURITY INVOKER: PT404 when the caller cannot see
 * the project.
 */
create function api.list_components(p_project_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  perform private.caller_id();
  if not exists (select 1 from public.projects where id = p_project_id and deleted_at is null) then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;
  return jsonb_build_object('items', (
    select coalesce(jsonb_agg(private.component_json(c) order by c.z_index, c.created_at, c.id), '[]'::jsonb)
    from public.project_components c where c.project_id = p_project_id));
end
$$;

grant execute on function api.list_components(uuid) to authenticated;

/**
 * Saves a component over the version the editor read (member role): p_patch is {type?,
 * x?, y?, width?, height?, z_index?, properties?}. When p_version is not the current one,
 * PT409 with the current version and nothing changed: of two editors saving over one
 * version, exactly one wins and the other is told. Returns the component at its new
 * version. SECURITY INVOKER.
 */
create function api.update_component(p_project_id uuid, p_id uuid, p_version bigint, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_current bigint;
  c public.project_components;
begin
  perform private.require_user();
  if p_version is null then
    raise exception using errcode = 'PT400', message = 'version is required: the version you read';
  end if;
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400',
      message = 'the patch must be a JSON object with type, x, y, width, height, z_index or properties';
  end if;
  perform private.check_component(p_patch);
  perform private.project_role(p_project_id, 'member');

  update public.project_components set
    type = coalesce(btrim(p_patch ->> 'type'), type),
    x = coalesce((p_patch ->> 'x')::float8, x),
    y = coalesce((p_patch ->> 'y')::float8, y),
    width = coalesce((p_patch ->> 'width')::float8, width),
    height = coalesce((p_patch ->> 'height')::float8, height),
    z_index = coalesce((p_patch ->> 'z_index')::int, z_index),
    properties = coalesce(p_patch -> 'properties', properties)
  where id = p_id and project_id = p_project_id and version = p_version
  returning * into c;
  if not found then
    select version into v_current from public.project_components where id = p_id and project_id = p_project_id;
    if v_current is null then
      raise exception using errcode = 'PT404', message = 'component not found';
    end if;
    raise exception using errcode = 'PT409', message = format(
      'the component was changed by someone else: its current version is %s', v_current);
  end if;
  return private.component_json(c);
end
$$;

grant execute on function api.update_component(uuid, uuid, bigint, jsonb) to authenticated;

/**
 * Deletes a component (member role). Returns {id}. SECURITY INVOKER.
 */
create function api.delete_component(p_project_id uuid, p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  perform private.require_user();
  perform private.project_role(p_project_id, 'member');
  delete from public.project_components where id = p_id and project_id = p_project_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'component not found';
  end if;
  return jsonb_build_object('id', p_id);
end
$$;

grant execute on function api.delete_component(uuid, uuid) to authenticated;

/** Recordings API */

/**
 * Registers one of the caller's audio_recording uploads made for this project (see
 * api.create_upload) as a recording of it (member role), once its file has arrived;
 * p_name defaults to the upload's filename. SECURITY INVOKER: private.fill_recording
 * checks the upload (PT404, PT400, PT409).
 */
create function api.create_recording(
  p_project_id uuid,
  p_upload_id uuid,
  p_name text default null,
  p_duration_seconds numeric default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  r public.audio_recordings;
begin
  if p_upload_id is null then
    raise exception using errcode = 'PT400', message = 'upload_id is required';
  end if;
  perform private.check_project_name('name', p_name);
  if p_duration_seconds not between 0 and private.input_limit('recording_seconds_max') then
    raise exception using errcode = 'PT400', message = format(
      'duration_seconds must be between 0 and %s', private.input_limit('recording_seconds_max'));
  end if;
  perform private.project_role(p_project_id, 'member');
  insert into public.audio_recordings (project_id, user_id, upload_id, name, duration_seconds)
  values (p_project_id, v_uid, p_upload_id, left(btrim(p_name), private.input_limit('project_name_chars')::int),
    p_duration_seconds)
  returning * into r;
  return private.recording_json(r);
end
$$;

grant execute on function api.create_recording(uuid, uuid, text, numeric) to authenticated;

/**
 * A project's recordings, newest first, keyset-paged on (created_at, id). SECURITY
 * INVOKER: PT404 when the caller cannot see the project.
 */
create function api.list_recordings(
  p_project_id uuid,
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
  if not exists (select 1 from public.projects where id = p_project_id and deleted_at is null) then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;

  with page as (
    select * from public.audio_recordings r
    where r.project_id = p_project_id
      and (p_cursor_id is null or (r.created_at, r.id) < (p_cursor_created_at, p_cursor_id))
    order by r.created_at desc, r.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.recording_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_recordings(uuid, int, timestamptz, uuid) to authenticated;

/**
 * Removes a recording from its project (member role); its object stays in its recorder's
 * folder, theirs to delete. Returns {id}. SECURITY INVOKER.
 */
create function api.delete_recording(p_project_id uuid, p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  perform private.require_user();
  perform private.project_role(p_project_id, 'member');
  delete from public.audio_recordings where id = p_id and project_id = p_project_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'recording not found';
  end if;
  return jsonb_build_object('id', p_id);
end
$$;

grant execute on function api.delete_recording(uuid, uuid) to authenticated;

/** Prompt history API */

/**
 * Records a prompt in a project's history (member role): the prompt, the model it went
 * to, its settings, and the generation it made (the caller's own or their workspace's:
 * PT404 'generation not found' otherwise). SECURITY INVOKER.
 */
create function api.create_prompt_generation(
  p_project_id uuid,
  p_prompt text,
  p_model text default null,
  p_settings jsonb default null,
  p_generation_id uuid default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  h public.prompt_generations;
begin
  if p_prompt is null or char_length(btrim(p_prompt)) not between 1 and private.input_limit('prompt_chars') then
    raise exception using errcode = 'PT400',
      message = format('prompt must be 1 to %s characters', private.input_limit('prompt_chars'));
  end if;
  if char_length(btrim(p_model)) not between 1 and private.input_limit('model_chars') then
    raise exception using errcode = 'PT400',
      message = format('model must be 1 to %s characters', private.input_limit('model_chars'));
  end if;
  if p_settings is not null and (jsonb_typeof(p_settings) <> 'object'
     or octet_length(p_settings::text) > private.input_limit('params_bytes')) then
    raise exception using errcode = 'PT400',
      message = format('settings must be a JSON object of at most %s bytes', private.input_limit('params_bytes'));
  end if;
  perform private.project_role(p_project_id, 'member');
  if p_generation_id is not null and not private.generation_attachable(p_generation_id) then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  insert into public.prompt_generations (project_id, user_id, prompt, model, settings, generation_id)
  values (p_project_id, v_uid, btrim(p_prompt), btrim(p_model), coalesce(p_settings, '{}'::jsonb), p_generation_id)
  returning * into h;
  return private.prompt_json(h);
end
$$;

grant execute on function api.create_prompt_generation(uuid, text, text, jsonb, uuid) to authenticated;

/**
 * A project's prompt history, newest first, keyset-paged on (created_at, id). SECURITY
 * INVOKER: PT404 when the caller cannot see the project.
 */
create function api.list_prompt_generations(
  p_project_id uuid,
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
  if not exists (select 1 from public.projects where id = p_project_id and deleted_at is null) then
    raise exception using errcode = 'PT404', message = 'project not found';
  end if;

  with page as (
    select * from public.prompt_generations h
    where h.project_id = p_project_id
      and (p_cursor_id is null or (h.created_at, h.id) < (p_cursor_created_at, p_cursor_id))
    order by h.created_at desc, h.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.prompt_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_prompt_generations(uuid, int, timestamptz, uuid) to authenticated;

/** Storage */

-- A project's recordings are stored as `<recorder>/<project id>/<timestamp>_<name>.<ext>`:
-- everyone who can view the project reads (and gets signed URLs for) them, as its rows.
do $$
begin
  if to_regclass('storage.objects') is null then
    return;
  end if;
  drop policy if exists "Project viewers can read the project's recordings" on storage.objects;
  create policy "Project viewers can read the project's recordings"
    on storage.objects for select to authenticated
    using (bucket_id = 'audio-recordings'
           and (storage.foldername(name))[2] = any (
             select p::text from unnest((select private.my_project_ids('viewer'))) p));
end
$$;

/** Lock down */

revoke execute on all functions in schema api, private from public;
