/**
 * Workspaces and the one sharing model every shared thing uses: workspaces, projects and
 * flows (and whatever registers next) have members with a role and invitations with a
 * hashed token, in two tables, checked by the same three helpers.
 *
 * Roles, lowest first: viewer (reads; comments on flows), member (edits content, creates
 * in a workspace, spends its credits), admin (invites, removes members and viewers,
 * renames, deletes content), owner (exactly one per resource: transfers ownership,
 * deletes the resource, manages admins). A project or flow that belongs to a workspace
 * is reached with the higher of the caller's role on it and on its workspace.
 *
 * Policies call private.my_ids(role) as `(select private.my_ids(...))`: Postgres runs it
 * once per statement as an InitPlan, and the table's own index answers `= any (...)`
 * (Supabase's RLS guidance for membership joins, basejump's has_role_on_account()).
 * Memberships and invitations are written only by the functions here, which keep the
 * rules no row-level policy can: one owner, role ceilings, single-use tokens.
 *
 * A workspace has its own credit account (credit_accounts.workspace_id): members spend
 * from it through the same ledger primitives as personal accounts, and each entry's actor
 * is the member who spent.
 */

/** Roles */

/**
 * A role's rank: a caller with rank >= the required rank may act. Null for a non-role, so
 * a comparison with it is never true.
 */
create function private.role_rank(p_role text) returns int
language sql
immutable
set search_path = ''
as $$
  select case p_role when 'viewer' then 1 when 'member' then 2 when 'admin' then 3 when 'owner' then 4 end
$$;

/** Workspaces */

create table public.workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(btrim(name)) between 1 and private.input_limit('workspace_name_chars')),
  -- Lowercase words joined by hyphens, as in a URL.
  slug text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) between 3 and 48),
  created_by uuid references public.profiles (id) on delete set null,
  -- A deleted workspace keeps its row for its ledger and its generations' history; its
  -- memberships and invitations are gone, so nobody reaches it.
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create trigger workspaces_touch_updated_at
  before update on public.workspaces
  for each row execute function private.touch_updated_at();

alter table public.credit_accounts
  add constraint credit_accounts_workspace_fk foreign key (workspace_id) references public.workspaces (id),
  add constraint credit_accounts_one_holder check (owner_user_id is null or workspace_id is null);
create unique index credit_accounts_workspace_idx on public.credit_accounts (workspace_id)
  where workspace_id is not null;

alter table public.generations
  add constraint generations_workspace_fk foreign key (workspace_id) references public.workspaces (id);
-- The workspace's library page (list_generations with a workspace).
create index generations_workspace_created_idx on public.generations (workspace_id, created_at desc, id desc)
  where workspace_id is not null and deleted_at is null;

alter table public.conversations
  add constraint conversations_workspace_fk foreign key (workspace_id) references public.workspaces (id);
create index conversations_workspace_idx on public.conversations (workspace_id) where workspace_id is not null;

/** Memberships and invitations */

/**
 * Which tables hold shareable resources, by type: the sharing functions find a resource's
 * row (and its workspace) through it. Each capability's migration registers its table.
 */
create table private.shareable_tables (
  resource_type text primary key,
  table_name text not null unique
);

insert into private.shareable_tables values ('workspace', 'workspaces');
-- Pure data, read by the SECURITY INVOKER private.shared_resource.
grant select on private.shareable_tables to authenticated;

create table public.memberships (
  resource_id uuid not null,
  resource_type text not null references private.shareable_tables (resource_type),
  user_id uuid not null references public.profiles (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
  -- The workspace holding the resource (null for a workspace itself and for personal
  -- things), kept in step by private.add_owner: policies reach a project's members
  -- through its workspace without a per-row lookup.
  workspace_id uuid references public.workspaces (id),
  invited_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  primary key (resource_id, user_id)
);

-- private.my_ids reads a caller's rows: an index-only scan of this one.
create index memberships_user_idx on public.memberships (user_id, resource_id) include (role);
-- At most one owner; the functions below keep it exactly one.
create unique index memberships_one_owner on public.memberships (resource_id) where role = 'owner';

alter table public.memberships enable row level security;

create index memberships_workspace_idx on public.memberships (workspace_id) where workspace_id is not null;

revoke all on public.memberships from anon, authenticated, service_role;
grant select on public.memberships to authenticated, service_role;

create table public.invitations (
  id uuid primary key default gen_random_uuid(),
  resource_id uuid not null,
  resource_type text not null references private.shareable_tables (resource_type),
  role text not null check (role in ('admin', 'member', 'viewer')),
  -- As memberships.workspace_id.
  workspace_id uuid references public.workspaces (id),
  -- When set, only the user with this email may accept.
  email text check (email is null or email ~ '^[^@\s]+@[^@\s]+$'),
  -- sha256 of the token; the token itself is shown once, to its creator.
  token_hash text not null unique,
  max_uses int not null check (max_uses between 1 and private.input_limit('invitation_uses_max')),
  uses int not null default 0 check (uses between 0 and max_uses),
  expires_at timestamptz not null,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);

create index invitations_resource_idx on public.invitations (resource_id, created_at desc);

alter table public.invitations enable row level security;

revoke all on public.invitations from anon, authenticated, service_role;
grant select on public.invitations to authenticated, service_role;

/** Access helpers */

/**
 * Ids of every resource the caller is a direct member of with at least p_min_role. A
 * disabled account keeps its viewer rights and nothing more (it reads its data and writes
 * nothing): the one place that rule is kept for every shared kind. SECURITY DEFINER: the
 * memberships policy calls it, and reading memberships under RLS from it would recurse.
 */
create function private.my_ids(p_min_role text) returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(array_agg(m.resource_id), '{}')
  from public.memberships m
  where m.user_id = auth.uid() and private.role_rank(m.role) >= private.role_rank(p_min_role)
    and (private.role_rank(p_min_role) <= private.role_rank('viewer')
         or exists (select 1 from public.profiles where id = auth.uid() and is_active))
$$;

/**
 * The caller's effective role on a resource: the higher of their role on it and on
 * p_workspace_id (a workspace's owner counts as admin on its contents, whose own owner
 * stays the one who may transfer or delete them). Null when they have none. SECURITY
 * INVOKER: the caller's own memberships are always visible to them.
 */
create function private.role_on(p_resource_id uuid, p_workspace_id uuid default null) returns text
language sql
stable
set search_path = ''
as $$
  select m.role from (
    select role, private.role_rank(role) as rank from public.memberships
    where resource_id = p_resource_id and user_id = auth.uid()
    union all
    select case role when 'owner' then 'admin' else role end,
           least(private.role_rank(role), private.role_rank('admin'))
    from public.memberships
    where p_workspace_id is not null and resource_id = p_workspace_id and user_id = auth.uid()
  ) m
  order by m.rank desc
  limit 1
$$;

/**
 * The caller's effective role when it is at least p_min_role. PT404 (named p_thing) when
 * they have none, so a stranger learns nothing about what exists; PT403 naming the role
 * when theirs is lower.
 */
create function private.require_role(
  p_resource_id uuid,
  p_min_role text,
  p_workspace_id uuid default null,
  p_thing text default 'resource'
) returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_role text := private.role_on(p_resource_id, p_workspace_id);
begin
  if v_role is null then
    raise exception using errcode = 'PT404', message = format('%s not found', p_thing);
  end if;
  if private.role_rank(v_role) < private.role_rank(p_min_role) then
    raise exception using errcode = 'PT403', message = format('requires the %s role (yours: %s)', p_min_role, v_role);
  end if;
  return v_role;
end
$$;

/**
 * A live (not soft-deleted) shareable resource the caller reaches: its type, its
 * workspace (null for a workspace) and the caller's effective role on it, read from its
 * owner membership (every resource has one) and its row. SECURITY INVOKER: RLS shows that row to direct and workspace
 * members only, so everyone else gets PT404 and learns nothing.
 */
create function private.shared_resource(
  p_resource_id uuid,
  out resource_type text,
  out workspace_id uuid,
  out role text
)
language plpgsql
stable
set search_path = ''
as $$
declare
  v_live boolean;
begin
  select m.resource_type, m.workspace_id into resource_type, workspace_id
  from public.memberships m
  where m.resource_id = p_resource_id and m.role = 'owner';
  role := private.role_on(p_resource_id, workspace_id);
  if resource_type is not null and role is not null then
    -- Soft-deleted things keep their memberships (an undelete keeps its people) but are
    -- gone for sharing as for everything else.
    execute format('select true from public.%I where id = $1 and deleted_at is null',
      (select t.table_name from private.shareable_tables t where t.resource_type = shared_resource.resource_type))
    into v_live using p_resource_id;
  end if;
  if v_live is null then
    raise exception using errcode = 'PT404', message = 'resource not found';
  end if;
end
$$;

/**
 * Trigger (after insert or update of workspace_id) on every shareable table: a new row's
 * creator (the column named by TG_ARGV[1]) becomes its owner; a row moved to another
 * workspace takes its memberships and invitations along. TG_ARGV[0] is the resource type.
 * SECURITY DEFINER: users cannot write memberships.
 */
create function private.add_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid := case when tg_argv[0] <> 'workspace' then (to_jsonb(new) ->> 'workspace_id')::uuid end;
begin
  if tg_op = 'INSERT' then
    insert into public.memberships (resource_id, resource_type, user_id, role, workspace_id)
    values (new.id, tg_argv[0], (to_jsonb(new) ->> tg_argv[1])::uuid, 'owner', v_workspace_id);
  else
    update public.memberships set workspace_id = v_workspace_id where resource_id = new.id;
    update public.invitations set workspace_id = v_workspace_id where resource_id = new.id;
  end if;
  return null;
end
$$;

/**
 * Trigger: a deleted resource's memberships and invitations go with it (they have no
 * foreign key: one table serves every type). SECURITY DEFINER: users cannot write them.
 */
create function private.drop_sharing() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.memberships where resource_id = old.id;
  delete from public.invitations where resource_id = old.id;
  return null;
end
$$;

create trigger workspaces_add_owner
  after insert on public.workspaces
  for each row execute function private.add_owner('workspace', 'created_by');

create trigger workspaces_drop_sharing
  after delete on public.workspaces
  for each row execute function private.drop_sharing();

/** Policies on what workspaces hold */

create policy "Members can view the members of what they share"
  on public.memberships for select to authenticated
  using (resource_id = any ((select private.my_ids('viewer'))::uuid[])
         or workspace_id = any ((select private.my_ids('viewer'))::uuid[]));

create policy "Admins can view the invitations of what they manage"
  on public.invitations for select to authenticated
  using (resource_id = any ((select private.my_ids('admin'))::uuid[])
         or workspace_id = any ((select private.my_ids('admin'))::uuid[]));

create policy "Members can view their workspaces"
  on public.workspaces for select to authenticated
  using (id = any ((select private.my_ids('viewer'))::uuid[]));

create policy "Admins can rename their workspaces"
  on public.workspaces for update to authenticated
  using (id = any ((select private.my_ids('admin'))::uuid[]))
  with check (id = any ((select private.my_ids('admin'))::uuid[]));

alter table public.workspaces enable row level security;
revoke all on public.workspaces from anon, authenticated, service_role;
grant select on public.workspaces to authenticated, service_role;
grant update (name, slug) on public.workspaces to authenticated;

-- The sharing API shows who else is in a resource (email, display name); nothing else of
-- a profile leaves the functions that render it.
create policy "Members can view the profiles of those they share with"
  on public.profiles for select to authenticated
  using (id in (select m.user_id from public.memberships m
                where m.resource_id = any ((select private.my_ids('viewer'))::uuid[])));

create policy "Workspace members can view the workspace's generations"
  on public.generations for select to authenticated
  using (workspace_id = any ((select private.my_ids('viewer'))::uuid[]));

create policy "Workspace members can view the workspace's conversations"
  on public.conversations for select to authenticated
  using (workspace_id = any ((select private.my_ids('viewer'))::uuid[]));

create policy "Workspace members can view the workspace's messages"
  on public.messages for select to authenticated
  using (conversation_id in (select c.id from public.conversations c
                             where c.workspace_id = any ((select private.my_ids('viewer'))::uuid[])));

-- A conversation is created in a workspace only by its members (viewers read).
alter policy "Active users can create their own conversations" on public.conversations
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (workspace_id is null or workspace_id = any ((select private.my_ids('member'))::uuid[])));

create policy "Workspace members can view the workspace's credit account"
  on public.credit_accounts for select to authenticated
  using (workspace_id = any ((select private.my_ids('viewer'))::uuid[]));

-- Admins read the whole workspace ledger; a member reads the entries they caused.
create policy "Workspace admins and spenders can view the workspace's ledger"
  on public.credit_ledger for select to authenticated
  using (account_id in (
    select a.id from public.credit_accounts a
    where a.workspace_id = any ((select private.my_ids('viewer'))::uuid[])
  ) and (actor = (select auth.uid()) or account_id in (
    select a.id from public.credit_accounts a
    where a.workspace_id = any ((select private.my_ids('admin'))::uuid[]))));

create policy "Workspace admins can view the workspace's holds"
  on public.credit_holds for select to authenticated
  using (account_id in (
    select a.id from public.credit_accounts a
    where a.workspace_id = any ((select private.my_ids('admin'))::uuid[])
  ));

-- Generated media is stored as `<user id>/<generation id>/<n>.<ext>`: a workspace's
-- generation is read (and signed) by the workspace's members, as its row is.
do $$
begin
  if to_regclass('storage.objects') is null then
    return;
  end if;
  drop policy if exists "Workspace members can read the workspace's generated media" on storage.objects;
  create policy "Workspace members can read the workspace's generated media"
    on storage.objects for select to authenticated
    using (bucket_id = 'generations'
           and (storage.foldername(name))[2] in (
             select g.id::text from public.generations g
             where g.workspace_id = any ((select private.my_ids('viewer'))::uuid[])));
end
$$;

/**
 * Opens the credit account of a new workspace. SECURITY DEFINER: users cannot write
 * credit_accounts.
 */
create function private.create_workspace_account() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.credit_accounts (workspace_id) values (new.id);
  return null;
end
$$;

create trigger workspaces_create_credit_account
  after insert on public.workspaces
  for each row execute function private.create_workspace_account();

/** Rendering */

create function private.workspace_json(w public.workspaces, p_role text) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', w.id, 'name', w.name, 'slug', w.slug, 'role', p_role,
    'created_by', w.created_by, 'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

/** Workspaces API */

/**
 * A new workspace with the caller as its owner and an empty credit account. The slug is
 * made from the name when not given (with a number appended while taken); a given slug
 * that is taken is PT409. SECURITY DEFINER: the owner membership and the account are
 * written by triggers users could not fire through a policy of theirs.
 */
create function api.create_workspace(p_name text, p_slug text default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_base text;
  v_slug text := p_slug;
  v_n int := 1;
  w public.workspaces;
begin
  if char_length(btrim(coalesce(p_name, ''))) not between 1 and private.input_limit('workspace_name_chars') then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('workspace_name_chars'));
  end if;
  if (select count(*) from public.memberships
      where user_id = v_uid and resource_type = 'workspace' and role = 'owner') >= private.input_limit('workspaces_owned_max') then
    raise exception using errcode = 'PT403',
      message = format('workspaces_owned_max: you own %s workspaces already', private.input_limit('workspaces_owned_max'));
  end if;
  if p_slug is not null then
    if not (p_slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(p_slug) between 3 and 48) then
      raise exception using errcode = 'PT400',
        message = 'slug must be 3 to 48 lowercase letters, digits and single hyphens';
    end if;
    if exists (select 1 from public.workspaces where slug = p_slug) then
      raise exception using errcode = 'PT409', message = format('slug %s is taken', p_slug);
    end if;
  else
    v_base := left(trim(both '-' from regexp_replace(lower(p_name), '[^a-z0-9]+', '-', 'g')), 40);
    v_base := case when char_length(v_base) < 3 then 'workspace' else v_base end;
    v_slug := v_base;
    while exists (select 1 from public.workspaces where slug = v_slug) loop
      v_n := v_n + 1;
      v_slug := v_base || '-' || v_n;
    end loop;
  end if;

  loop
    begin
      insert into public.workspaces (name, slug, created_by) values (btrim(p_name), v_slug, v_uid)
      returning * into w;
      return private.workspace_json(w, 'owner');
    exception when unique_violation then
      -- Another creation took the slug meanwhile: a given one is a conflict, a derived
      -- one takes the next number.
      if p_slug is not null then
        raise exception using errcode = 'PT409', message = format('slug %s is taken', v_slug);
      end if;
      v_n := v_n + 1;
      v_slug := v_base || '-' || v_n;
    end;
  end loop;
end
$$;

grant execute on function api.create_workspace(text, text) to authenticated;

/**
 * The caller's workspaces with their role, member count and credits, by name.
 * SECURITY INVOKER: RLS decides.
 */
create function api.list_workspaces() returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(jsonb_agg(private.workspace_json(w, m.role)
      || jsonb_build_object('members', (select count(*) from public.memberships x where x.resource_id = w.id),
                            'available', a.balance - a.held)
      order by w.name, w.id), '[]'::jsonb)
  from public.workspaces w
  join public.memberships m on m.resource_id = w.id and m.user_id = private.caller_id()
  left join public.credit_accounts a on a.workspace_id = w.id
  where w.deleted_at is null
$$;

grant execute on function api.list_workspaces() to authenticated;

/**
 * One workspace with the caller's role, its members and its credits (balance for every
 * member; the ledger is get_workspace_credits). PT404 when the caller is not a member.
 */
create function api.get_workspace(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  w public.workspaces;
  a public.credit_accounts;
begin
  perform private.caller_id();
  select * into w from public.workspaces where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'workspace not found';
  end if;
  select * into a from public.credit_accounts where workspace_id = w.id;
  return private.workspace_json(w, private.role_on(w.id))
    || jsonb_build_object('members', api.list_members(w.id),
         'credits', jsonb_build_object('balance', a.balance, 'held', a.held, 'available', a.balance - a.held));
end
$$;

grant execute on function api.get_workspace(uuid) to authenticated;

/**
 * Renames a workspace or changes its slug; admins only (RLS: a member's update matches
 * no row, which is PT403 here once we know they can see it).
 */
create function api.update_workspace(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  w public.workspaces;
  v_name text;
  v_slug text;
begin
  perform private.require_role(p_id, 'admin', null, 'workspace');
  if jsonb_typeof(p_patch) is distinct from 'object' or p_patch = '{}'::jsonb
     or exists (select 1 from jsonb_object_keys(p_patch) k where k not in ('name', 'slug')) then
    raise exception using errcode = 'PT400', message = 'patch must be an object with name and/or slug';
  end if;
  if p_patch ? 'name' then
    v_name := p_patch ->> 'name';
    if jsonb_typeof(p_patch -> 'name') <> 'string'
       or char_length(btrim(v_name)) not between 1 and private.input_limit('workspace_name_chars') then
      raise exception using errcode = 'PT400',
        message = format('name must be 1 to %s characters', private.input_limit('workspace_name_chars'));
    end if;
  end if;
  if p_patch ? 'slug' then
    v_slug := p_patch ->> 'slug';
    if jsonb_typeof(p_patch -> 'slug') <> 'string'
       or not (v_slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(v_slug) between 3 and 48) then
      raise exception using errcode = 'PT400',
        message = 'slug must be 3 to 48 lowercase letters, digits and single hyphens';
    end if;
  end if;
  update public.workspaces
  set name = coalesce(btrim(v_name), name), slug = coalesce(v_slug, slug)
  where id = p_id and deleted_at is null
  returning * into w;
  return private.workspace_json(w, private.role_on(w.id));
exception when unique_violation then
  raise exception using errcode = 'PT409', message = format('slug %s is taken', v_slug);
end
$$;

grant execute on function api.update_workspace(uuid, jsonb) to authenticated;

/**
 * Deletes a workspace; its owner only. Refused (PT409) while its credits are held by work
 * in progress. What is left of its balance goes back to the owner's own account (two
 * transfer entries), its memberships and invitations are removed, so nobody reaches it
 * or its contents through it any more; its row, account and ledger stay for the books.
 */
create function api.delete_workspace(p_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_account public.credit_accounts;
begin
  perform private.require_role(p_id, 'owner', null, 'workspace');
  v_account := private.lock_billing_account(v_uid, p_id);
  if v_account.held > 0 then
    raise exception using errcode = 'PT409', message = 'the workspace has generations in progress';
  end if;
  if v_account.balance > 0 then
    perform private.transfer_credits(p_id, v_uid, v_account.balance, 'workspace-deleted:' || p_id,
      v_uid, 'workspace deleted: its balance returns to its owner', false);
  end if;
  update public.workspaces set deleted_at = now() where id = p_id;
  delete from public.memberships where resource_id = p_id;
  delete from public.invitations where resource_id = p_id;
end
$$;

grant execute on function api.delete_workspace(uuid) to authenticated;

/** Workspace credits */

/**
 * Moves credits between a user's own account and a workspace's, in one transaction with
 * two 'transfer' entries (idempotent per key on each account). p_to_workspace says the
 * direction. Locks both accounts in id order, the one order every path that locks two
 * uses, so transfers cannot deadlock with each other.
 */
create function private.transfer_credits(
  p_workspace_id uuid,
  p_user_id uuid,
  p_amount bigint,
  p_idempotency_key text,
  p_actor uuid,
  p_reason text,
  p_to_workspace boolean
) returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_user_account uuid;
  v_ws_account uuid;
  v_from uuid;
  v_to uuid;
  v_entry public.credit_ledger;
begin
  select id into v_user_account from public.credit_accounts where owner_user_id = p_user_id;
  select id into v_ws_account from public.credit_accounts where workspace_id = p_workspace_id;
  if v_user_account is null or v_ws_account is null then
    raise exception using errcode = 'PT404', message = 'credit account not found';
  end if;
  perform 1 from public.credit_accounts where id in (v_user_account, v_ws_account) order by id for update;
  v_from := case when p_to_workspace then v_user_account else v_ws_account end;
  v_to := case when p_to_workspace then v_ws_account else v_user_account end;

  select * into v_entry from public.credit_ledger where account_id = v_from and idempotency_key = p_idempotency_key;
  if found then
    if (v_entry.kind, v_entry.amount) is distinct from ('transfer', -p_amount) then
      raise exception using errcode = 'PT409', message = 'idempotency key reused with a different payload';
    end if;
    return false;
  end if;
  perform private.post_entry(v_from, 'transfer', -p_amount, 0, p_idempotency_key, null, null, p_actor, p_reason,
    jsonb_build_object('to_account', v_to));
  perform private.post_entry(v_to, 'transfer', p_amount, 0, p_idempotency_key, null, null, p_actor, p_reason,
    jsonb_build_object('from_account', v_from));
  return true;
end
$$;

/**
 * Moves credits from the caller's own account into a workspace they are a member of
 * (any member may fund it; viewers may not). Idempotent per (caller, key): a replay
 * answers created = false. PT402 when the caller's available credits are short.
 */
create function api.fund_workspace(p_workspace_id uuid, p_amount bigint, p_idempotency_key text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_created boolean;
begin
  perform private.require_role(p_workspace_id, 'member', null, 'workspace');
  if p_amount is null or p_amount < 1 or p_amount > private.input_limit('credit_amount_max') then
    raise exception using errcode = 'PT400',
      message = format('amount must be 1 to %s', private.input_limit('credit_amount_max'));
  end if;
  if char_length(coalesce(p_idempotency_key, '')) not between 1 and private.input_limit('idempotency_key_chars') then
    raise exception using errcode = 'PT400', message = format(
      'Idempotency-Key is required (at most %s characters)', private.input_limit('idempotency_key_chars'));
  end if;
  v_created := private.transfer_credits(p_workspace_id, v_uid, p_amount, 'fund:' || v_uid || ':' || p_idempotency_key,
    v_uid, 'funded by a member', true);
  return api.get_workspace_credits(p_workspace_id) || jsonb_build_object('created', v_created);
end
$$;

grant execute on function api.fund_workspace(uuid, bigint, text) to authenticated;

/**
 * A workspace's balance and a keyset page of its ledger, newest first: every entry for
 * its admins, the caller's own for members and viewers (RLS decides). PT404 when the
 * caller is not a member.
 */
create function api.get_workspace_credits(
  p_workspace_id uuid,
  p_limit int default 20,
  p_before_id bigint default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  a public.credit_accounts;
  v_entries jsonb;
  v_count int;
begin
  perform private.check_page_limit(p_limit);
  perform private.require_role(p_workspace_id, 'viewer', null, 'workspace');
  select * into a from public.credit_accounts where workspace_id = p_workspace_id;

  select coalesce(jsonb_agg(jsonb_build_object(
      'id', e.id, 'kind', e.kind, 'amount', e.amount, 'held_delta', e.held_delta,
      'balance_after', e.balance_after, 'held_after', e.held_after, 'reason', e.reason,
      'actor', e.actor, 'generation_id', e.generation_id, 'created_at', e.created_at) order by e.id desc), '[]'::jsonb),
    count(*)
  into v_entries, v_count
  from (
    select * from public.credit_ledger
    where account_id = a.id and (p_before_id is null or id < p_before_id)
    order by id desc
    limit p_limit + 1
  ) e;
  if v_count > p_limit then
    v_entries := v_entries - p_limit;
  end if;
  return jsonb_build_object('balance', a.balance, 'held', a.held, 'available', a.balance - a.held,
    'entries', v_entries, 'next_before_id', case when v_count > p_limit then v_entries -> -1 -> 'id' end);
end
$$;

grant execute on function api.get_workspace_credits(uuid, int, bigint) to authenticated;

/**
 * 002's workspace-scoped counts: all, processing (queued or processing), favorites and
 * failed, over the workspace's generations the caller can see.
 */
create function api.get_workspace_generation_counts(p_workspace_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v jsonb;
begin
  perform private.require_role(p_workspace_id, 'viewer', null, 'workspace');
  select jsonb_build_object(
    'all', count(*),
    'processing', count(*) filter (where status in ('queued', 'processing')),
    'favorites', count(*) filter (where is_favorite),
    'failed', count(*) filter (where status = 'failed'))
  into v
  from public.generations where workspace_id = p_workspace_id and deleted_at is null;
  return v;
end
$$;

grant execute on function api.get_workspace_generation_counts(uuid) to authenticated;

/** Sharing API: members and invitations of any shareable resource */

/**
 * A member as the sharing API shows them. Email and display name come from their profile
 * when the caller may read it (people they share something with directly), else null: a
 * workspace member listing a project's direct collaborators still sees every member.
 */
create function private.member_json(m public.memberships) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('user_id', m.user_id, 'role', m.role, 'email', p.email,
    'display_name', p.display_name, 'joined_at', m.created_at)
  from (select 1) one
  left join public.profiles p on p.id = m.user_id
$$;

/**
 * The members of a resource the caller shares (directly or through its workspace),
 * owner first. SECURITY INVOKER for direct members (RLS); a workspace member reaching a
 * project through the workspace reads its list through private.shared_resource's check.
 */
create function api.list_members(p_resource_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_items jsonb;
begin
  perform private.shared_resource(p_resource_id);
  select coalesce(jsonb_agg(private.member_json(m)
      order by private.role_rank(m.role) desc, m.created_at, m.user_id), '[]'::jsonb)
  into v_items
  from public.memberships m where m.resource_id = p_resource_id;
  return v_items;
end
$$;

grant execute on function api.list_members(uuid) to authenticated;

create function private.invitation_json(i public.invitations) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', i.id, 'resource_id', i.resource_id, 'resource_type', i.resource_type,
    'role', i.role, 'email', i.email, 'max_uses', i.max_uses, 'uses', i.uses, 'expires_at', i.expires_at,
    'created_by', i.created_by, 'created_at', i.created_at, 'revoked_at', i.revoked_at,
    'status', case when i.revoked_at is not null then 'revoked' when i.uses >= i.max_uses then 'used'
                   when i.expires_at <= now() then 'expired' else 'open' end)
$$;

/**
 * An invitation to a resource, by link (anyone holding the token) or for one email,
 * single- or multi-use, expiring. Admins invite members and viewers; only the owner
 * invites admins. The token is returned here only: the table keeps its sha256.
 */
create function api.create_invitation(
  p_resource_id uuid,
  p_role text default 'member',
  p_email text default null,
  p_max_uses int default 1,
  p_expires_in_hours int default 168
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_res record;
  -- Two v4 uuids: 244 random bits from the built-in CSPRNG, as worker keys are made.
  v_token text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  i public.invitations;
begin
  select * into v_res from private.shared_resource(p_resource_id);
  if private.role_rank(v_res.role) < private.role_rank('admin') then
    raise exception using errcode = 'PT403', message = format('requires the admin role (yours: %s)', v_res.role);
  end if;
  if p_role is null or p_role not in ('admin', 'member', 'viewer') then
    raise exception using errcode = 'PT400', message = 'role must be admin, member or viewer';
  end if;
  if p_role = 'admin' and v_res.role <> 'owner' then
    raise exception using errcode = 'PT403', message = 'only the owner invites admins';
  end if;
  if p_email is not null and (char_length(p_email) > 320 or p_email !~ '^[^@\s]+@[^@\s]+$') then
    raise exception using errcode = 'PT400', message = 'email is not an email address';
  end if;
  if p_max_uses is null or p_max_uses not between 1 and private.input_limit('invitation_uses_max') then
    raise exception using errcode = 'PT400',
      message = format('max_uses must be 1 to %s', private.input_limit('invitation_uses_max'));
  end if;
  if p_expires_in_hours is null or p_expires_in_hours not between 1 and private.input_limit('invitation_hours_max') then
    raise exception using errcode = 'PT400',
      message = format('expires_in_hours must be 1 to %s', private.input_limit('invitation_hours_max'));
  end if;
  if (select count(*) from public.invitations
      where resource_id = p_resource_id and revoked_at is null and uses < max_uses and expires_at > now())
     >= private.input_limit('invitations_open_max') then
    raise exception using errcode = 'PT403', message = format(
      'invitations_open_max: %s open invitations already; revoke some first', private.input_limit('invitations_open_max'));
  end if;

  insert into public.invitations (resource_id, resource_type, workspace_id, role, email, token_hash, max_uses,
    expires_at, created_by)
  values (p_resource_id, v_res.resource_type, v_res.workspace_id, p_role, lower(p_email), encode(sha256(convert_to(v_token, 'UTF8')), 'hex'),
    p_max_uses, now() + make_interval(hours => p_expires_in_hours), v_uid)
  returning * into i;
  return private.invitation_json(i) || jsonb_build_object('token', v_token);
end
$$;

grant execute on function api.create_invitation(uuid, text, text, int, int) to authenticated;

/**
 * A resource's invitations, newest first, for its admins (RLS: the direct admins; an
 * admin through the workspace passes the role check and reads them here). Tokens are
 * never shown again.
 */
create function api.list_invitations(p_resource_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_res record;
begin
  select * into v_res from private.shared_resource(p_resource_id);
  if private.role_rank(v_res.role) < private.role_rank('admin') then
    raise exception using errcode = 'PT403', message = format('requires the admin role (yours: %s)', v_res.role);
  end if;
  return (select coalesce(jsonb_agg(private.invitation_json(i) order by i.created_at desc, i.id), '[]'::jsonb)
          from public.invitations i where i.resource_id = p_resource_id);
end
$$;

grant execute on function api.list_invitations(uuid) to authenticated;

/**
 * Revokes an invitation to p_resource_id: it is refused from then on. Admins of the
 * resource only; a revoked or used one answers as it is.
 */
create function api.revoke_invitation(p_resource_id uuid, p_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  i public.invitations;
  v_res record;
begin
  perform private.require_user();
  select * into i from public.invitations where id = p_id and resource_id = p_resource_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'invitation not found';
  end if;
  select * into v_res from private.shared_resource(i.resource_id);
  if private.role_rank(v_res.role) < private.role_rank('admin') then
    raise exception using errcode = 'PT404', message = 'invitation not found';
  end if;
  update public.invitations set revoked_at = coalesce(revoked_at, now()) where id = p_id returning * into i;
  return private.invitation_json(i);
end
$$;

grant execute on function api.revoke_invitation(uuid, uuid) to authenticated;

/**
 * Accepts an invitation by its token: the caller becomes a member with its role (never
 * lowering a role they already have, and then using nothing up). Refused with PT404 for
 * an unknown token, PT410 for a revoked, expired or used-up one, PT403 when it names
 * another email. The invitation row is locked, so a single-use token admits one user
 * however many accept it at once.
 */
create function api.accept_invitation(p_token text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  i public.invitations;
  v_current text;
  v_email text;
begin
  if char_length(coalesce(p_token, '')) not between 16 and 128 then
    raise exception using errcode = 'PT400', message = 'token is not an invitation token';
  end if;
  select * into i from public.invitations
  where token_hash = encode(sha256(convert_to(p_token, 'UTF8')), 'hex')
  for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'invitation not found';
  end if;
  if i.revoked_at is not null then
    raise exception using errcode = 'PT410', message = 'invitation was revoked';
  end if;
  if i.expires_at <= now() then
    raise exception using errcode = 'PT410', message = 'invitation has expired';
  end if;
  select email into v_email from public.profiles where id = v_uid;
  if i.email is not null and lower(coalesce(v_email, '')) <> i.email then
    raise exception using errcode = 'PT403', message = 'invitation is for another email address';
  end if;

  select role into v_current from public.memberships where resource_id = i.resource_id and user_id = v_uid;
  if v_current is not null and private.role_rank(v_current) >= private.role_rank(i.role) then
    return jsonb_build_object('resource_id', i.resource_id, 'resource_type', i.resource_type,
      'role', v_current, 'joined', false);
  end if;
  if i.uses >= i.max_uses then
    raise exception using errcode = 'PT410', message = 'invitation has been used';
  end if;

  update public.invitations set uses = uses + 1 where id = i.id;
  insert into public.memberships (resource_id, resource_type, workspace_id, user_id, role, invited_by)
  values (i.resource_id, i.resource_type, i.workspace_id, v_uid, i.role, i.created_by)
  on conflict (resource_id, user_id) do update set role = excluded.role;
  return jsonb_build_object('resource_id', i.resource_id, 'resource_type', i.resource_type,
    'role', i.role, 'joined', true);
end
$$;

grant execute on function api.accept_invitation(text) to authenticated;

/**
 * Locks a resource's memberships for a change of roles: changes to one resource's members
 * serialize on its owner row, so two admins cannot both act on a stale picture.
 */
create function private.lock_members(
  p_resource_id uuid,
  out resource_type text,
  out workspace_id uuid,
  out role text
)
language plpgsql
set search_path = ''
as $$
begin
  perform 1 from public.memberships m where m.resource_id = p_resource_id and m.role = 'owner' for update;
  select * into resource_type, workspace_id, role from private.shared_resource(p_resource_id);
end
$$;

/**
 * Changes a member's role (not to or from owner: that is transfer_ownership). Admins
 * change members and viewers; the owner changes admins too.
 */
create function api.update_member(p_resource_id uuid, p_user_id uuid, p_role text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_res record;
  m public.memberships;
begin
  select * into v_res from private.lock_members(p_resource_id);
  if p_role is null or p_role not in ('admin', 'member', 'viewer') then
    raise exception using errcode = 'PT400', message = 'role must be admin, member or viewer';
  end if;
  select * into m from public.memberships where resource_id = p_resource_id and user_id = p_user_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'member not found';
  end if;
  if m.role = 'owner' then
    raise exception using errcode = 'PT409', message = 'the owner''s role changes only by transferring ownership';
  end if;
  if private.role_rank(v_res.role) < private.role_rank('admin')
     or ((m.role = 'admin' or p_role = 'admin') and v_res.role <> 'owner') then
    raise exception using errcode = 'PT403', message = case
      when private.role_rank(v_res.role) < private.role_rank('admin') then format('requires the admin role (yours: %s)', v_res.role)
      else 'only the owner changes admins' end;
  end if;
  update public.memberships set role = p_role
  where resource_id = p_resource_id and user_id = p_user_id
  returning * into m;
  return private.member_json(m);
end
$$;

grant execute on function api.update_member(uuid, uuid, text) to authenticated;

/**
 * Removes a member, who loses access at once. Admins remove members and viewers; the
 * owner removes admins too; nobody removes the owner (PT409). Removing oneself is leave.
 */
create function api.remove_member(p_resource_id uuid, p_user_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_res record;
  v_role text;
begin
  select * into v_res from private.lock_members(p_resource_id);
  if p_user_id = v_uid then
    perform api.leave(p_resource_id);
    return;
  end if;
  select role into v_role from public.memberships where resource_id = p_resource_id and user_id = p_user_id;
  if v_role is null then
    raise exception using errcode = 'PT404', message = 'member not found';
  end if;
  if v_role = 'owner' then
    raise exception using errcode = 'PT409', message = 'the owner cannot be removed; transfer ownership first';
  end if;
  if private.role_rank(v_res.role) < private.role_rank('admin') or (v_role = 'admin' and v_res.role <> 'owner') then
    raise exception using errcode = 'PT403', message = case
      when private.role_rank(v_res.role) < private.role_rank('admin') then format('requires the admin role (yours: %s)', v_res.role)
      else 'only the owner removes admins' end;
  end if;
  delete from public.memberships where resource_id = p_resource_id and user_id = p_user_id;
end
$$;

grant execute on function api.remove_member(uuid, uuid) to authenticated;

/**
 * The caller leaves a resource. The owner cannot (PT409): a resource always has exactly
 * one owner, so they transfer ownership first.
 */
create function api.leave(p_resource_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_role text;
begin
  perform 1 from public.memberships where resource_id = p_resource_id and role = 'owner' for update;
  select role into v_role from public.memberships where resource_id = p_resource_id and user_id = v_uid;
  if v_role is null then
    raise exception using errcode = 'PT404', message = 'membership not found';
  end if;
  if v_role = 'owner' then
    raise exception using errcode = 'PT409', message = 'the owner cannot leave; transfer ownership first';
  end if;
  delete from public.memberships where resource_id = p_resource_id and user_id = v_uid;
end
$$;

grant execute on function api.leave(uuid) to authenticated;

/**
 * The owner hands ownership to another member, and becomes an admin: one statement
 * sequence under the owner row's lock, so there is exactly one owner before and after.
 */
create function api.transfer_ownership(p_resource_id uuid, p_user_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_res record;
begin
  select * into v_res from private.lock_members(p_resource_id);
  if v_res.role <> 'owner' or not exists (
       select 1 from public.memberships where resource_id = p_resource_id and user_id = v_uid and role = 'owner') then
    raise exception using errcode = 'PT403', message = 'only the owner transfers ownership';
  end if;
  if p_user_id = v_uid then
    raise exception using errcode = 'PT400', message = 'user_id is already the owner';
  end if;
  if not exists (select 1 from public.memberships where resource_id = p_resource_id and user_id = p_user_id) then
    raise exception using errcode = 'PT404', message = 'member not found';
  end if;
  update public.memberships set role = 'admin' where resource_id = p_resource_id and user_id = v_uid;
  update public.memberships set role = 'owner' where resource_id = p_resource_id and user_id = p_user_id;
  return api.list_members(p_resource_id);
end
$$;

grant execute on function api.transfer_ownership(uuid, uuid) to authenticated;

/** Lock down */

grant execute on function private.role_rank(text) to authenticated;
grant execute on function private.my_ids(text) to authenticated;
grant execute on function private.role_on(uuid, uuid) to authenticated;
grant execute on function private.require_role(uuid, text, uuid, text) to authenticated;
grant execute on function private.shared_resource(uuid) to authenticated;
grant execute on function private.workspace_json(public.workspaces, text) to authenticated;
grant execute on function private.member_json(public.memberships) to authenticated;
grant execute on function private.invitation_json(public.invitations) to authenticated;

revoke execute on all functions in schema api, private from public;
