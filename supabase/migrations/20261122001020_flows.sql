/**
 * Flows (002): visual pipelines drawn as nodes and edges, shared through the one sharing
 * model (memberships and invitations of the workspaces migration), with comments placed on
 * the canvas or on a node, resolvable, with replies.
 *
 * The graph: nodes and edges are rows, the source of truth. A client saves the whole graph
 * in one call, api.save_flow: every node and edge is checked first (PT400, nothing
 * written); then, under the flow's row lock, a stale version is refused (PT409 naming the
 * current one), only the rows that changed are written, the ones that are gone deleted, and
 * the version bumped. Two editors who loaded the same version cannot both save: the second
 * gets 409, reloads and saves again.
 *
 * Roles (effective: the higher of the flow's own membership and its workspace's):
 *   viewer  reads the flow, its graph and comments; comments and replies, edits and deletes
 *           their own comments, resolves and reopens their own threads;
 *   member  + saves the graph, renames, resolves and reopens any thread;
 *   admin   + deletes any comment, deletes the flow (soft);
 *   owner   + what the sharing RPCs give an owner (transfer).
 * Members and invitations are the generic sharing RPCs (api.create_invitation, ...).
 *
 * Reads are SECURITY INVOKER: RLS decides. SECURITY DEFINER writes, each with its caller
 * check: the graph (nodes and edges have no write grant, so every change passes the graph's
 * checks and bumps the version), the soft delete (admins only, where members may update
 * the row) and a thread's resolution (members resolve others' comments, whose content only
 * their authors may change). Lock order: flow, then its nodes and edges.
 */

/** Flows */

create table public.flows (
  id uuid primary key default gen_random_uuid(),
  -- Who created it and got the owner membership (private.add_owner). Ownership moves in
  -- memberships, so this stays the creator, and the flow outlives their account.
  user_id uuid references public.profiles (id) on delete set null,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  name text not null check (char_length(name) between 1 and private.input_limit('flow_name_chars')),
  description text check (char_length(description) between 1 and private.input_limit('flow_description_chars')),
  -- Where the canvas was when the graph was last saved (React Flow's viewport).
  viewport_x double precision not null default 0,
  viewport_y double precision not null default 0,
  viewport_zoom double precision not null default 1 check (viewport_zoom > 0),
  -- Bumped by every graph save: api.save_flow's optimistic check.
  version bigint not null default 1 check (version >= 1),
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- list_flows' keyset pages, over every flow the caller reaches and over one workspace's;
-- the second also serves the policies' workspace_id test. Deleted flows never enter them.
create index flows_created_idx on public.flows (created_at desc, id desc) where deleted_at is null;
create index flows_workspace_idx on public.flows (workspace_id, created_at desc, id desc) where deleted_at is null;

create trigger flows_touch_updated_at
  before update on public.flows
  for each row execute function private.touch_updated_at();

create trigger flows_add_owner
  after insert on public.flows
  for each row execute function private.add_owner('flow', 'user_id');

create trigger flows_drop_sharing
  after delete on public.flows
  for each row execute function private.drop_sharing();

insert into private.shareable_tables (resource_type, table_name) values ('flow', 'flows');

alter table public.flows enable row level security;

create policy "Members of a flow or of its workspace can view it"
  on public.flows for select to authenticated
  using (deleted_at is null
    and (id = any ((select private.my_ids('viewer'))::uuid[]) or workspace_id = any ((select private.my_ids('viewer'))::uuid[])));

-- A flow in a workspace is made by its members (viewers only read the workspace).
create policy "Active users can create flows of their own or in workspaces they edit"
  on public.flows for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (workspace_id is null or workspace_id = any ((select private.my_ids('member'))::uuid[])));

create policy "Members of a flow or of its workspace can rename it"
  on public.flows for update to authenticated
  using (deleted_at is null
    and (id = any ((select private.my_ids('member'))::uuid[]) or workspace_id = any ((select private.my_ids('member'))::uuid[]))
    and (select is_active from public.profiles where id = (select auth.uid())));

-- The graph, its viewport and version move only with api.save_flow; deletion with
-- api.delete_flow (admins). create_flow picks the id, to read the row once its owner
-- membership exists (an INSERT's RETURNING is checked before the trigger adds it).
revoke all on public.flows from anon, authenticated, service_role;
grant select on public.flows to authenticated, service_role;
grant insert (id, user_id, workspace_id, name, description) on public.flows to authenticated;
grant update (name, description) on public.flows to authenticated;

/**
 * The flows the caller reaches with at least p_min_role, directly or through their
 * workspace, deleted ones left out: the child tables' policies call it as
 * `flow_id = any ((select private.my_flow_ids('viewer'))::uuid[])`, once per statement. SECURITY
 * DEFINER so that it reads flows without their own policies on top; it answers only for
 * the caller (private.my_ids).
 */
create function private.my_flow_ids(p_min_role text) returns uuid[]
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
    select array_agg(f.id) from public.flows f
    where f.deleted_at is null and (f.id = any (v_ids) or f.workspace_id = any (v_ids))), '{}');
end
$$;

grant execute on function private.my_flow_ids(text) to authenticated;

/** Nodes and edges */

create table public.flow_nodes (
  flow_id uuid not null references public.flows (id) on delete cascade,
  -- The client's id (React Flow's node id), unique in its flow.
  id text not null check (char_length(id) between 1 and private.input_limit('flow_item_id_chars')),
  -- Its index in the saved graph's node array: React Flow draws later nodes on top.
  ordinal int not null check (ordinal >= 0),
  type text not null default 'default' check (char_length(type) between 1 and private.input_limit('flow_type_chars')),
  data jsonb not null default '{}'::jsonb check (jsonb_typeof(data) = 'object'),
  position_x double precision not null,
  position_y double precision not null,
  -- Null until the client has measured it.
  width double precision check (width > 0),
  height double precision check (height > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (flow_id, id)
);

create trigger flow_nodes_touch_updated_at
  before update on public.flow_nodes
  for each row execute function private.touch_updated_at();

create table public.flow_edges (
  flow_id uuid not null references public.flows (id) on delete cascade,
  id text not null check (char_length(id) between 1 and private.input_limit('flow_item_id_chars')),
  ordinal int not null check (ordinal >= 0),
  -- Nodes of the same flow: an edge cannot outlive either end.
  source text not null,
  target text not null,
  source_handle text check (char_length(source_handle) between 1 and private.input_limit('flow_item_id_chars')),
  target_handle text check (char_length(target_handle) between 1 and private.input_limit('flow_item_id_chars')),
  type text not null default 'default' check (char_length(type) between 1 and private.input_limit('flow_type_chars')),
  data jsonb not null default '{}'::jsonb check (jsonb_typeof(data) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (flow_id, id),
  foreign key (flow_id, source) references public.flow_nodes (flow_id, id) on delete cascade,
  foreign key (flow_id, target) references public.flow_nodes (flow_id, id) on delete cascade
);

-- A deleted node's edges, found without scanning the flow's.
create index flow_edges_source_idx on public.flow_edges (flow_id, source);
create index flow_edges_target_idx on public.flow_edges (flow_id, target);

create trigger flow_edges_touch_updated_at
  before update on public.flow_edges
  for each row execute function private.touch_updated_at();

alter table public.flow_nodes enable row level security;
alter table public.flow_edges enable row level security;

create policy "Members of a flow or of its workspace can view its nodes"
  on public.flow_nodes for select to authenticated
  using (flow_id = any ((select private.my_flow_ids('viewer'))::uuid[]));

create policy "Members of a flow or of its workspace can view its edges"
  on public.flow_edges for select to authenticated
  using (flow_id = any ((select private.my_flow_ids('viewer'))::uuid[]));

-- Written only by api.save_flow.
revoke all on public.flow_nodes, public.flow_edges from anon, authenticated, service_role;
grant select on public.flow_nodes, public.flow_edges to authenticated, service_role;

/** Comments */

create table public.flow_comments (
  id uuid primary key default gen_random_uuid(),
  flow_id uuid not null references public.flows (id) on delete cascade,
  -- The author.
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- A reply names the first comment of its thread (one level: check_flow_comment).
  parent_id uuid,
  content text not null check (char_length(content) between 1 and private.input_limit('flow_comment_chars')),
  -- A thread sits at a point of the canvas, on a node, or on the flow as a whole.
  position_x double precision check (abs(position_x) <= private.input_limit('flow_coordinate_max')),
  position_y double precision check (abs(position_y) <= private.input_limit('flow_coordinate_max')),
  -- Set to null when a graph save removes the node: the thread stays, on the whole flow.
  node_id text,
  resolved_at timestamptz,
  resolved_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (flow_id, id),
  foreign key (flow_id, parent_id) references public.flow_comments (flow_id, id) on delete cascade,
  foreign key (flow_id, node_id) references public.flow_nodes (flow_id, id) on delete set null (node_id),
  constraint flow_comments_position check ((position_x is null) = (position_y is null)),
  constraint flow_comments_anchor check (node_id is null or position_x is null),
  constraint flow_comments_reply check (parent_id is null or (node_id is null and position_x is null and resolved_at is null)),
  constraint flow_comments_resolved check (resolved_at is not null or resolved_by is null)
);

-- list_flow_comments: a flow's threads newest first, then each thread's replies.
create index flow_comments_threads_idx on public.flow_comments (flow_id, created_at desc, id desc) where parent_id is null;
create index flow_comments_replies_idx on public.flow_comments (flow_id, parent_id, created_at) where parent_id is not null;
-- A removed node's comments.
create index flow_comments_node_idx on public.flow_comments (flow_id, node_id) where node_id is not null;

create trigger flow_comments_touch_updated_at
  before update on public.flow_comments
  for each row execute function private.touch_updated_at();

/**
 * Before a comment is inserted (through api.create_flow_comment or straight into the
 * table): a reply answers a comment of the same flow that is not itself a reply, and a
 * node_id names a node of the flow. SECURITY INVOKER: the inserter sees both, or the
 * insert policy refuses them anyway.
 */
create function private.check_flow_comment() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_grandparent uuid;
begin
  if new.parent_id is not null then
    select parent_id into v_grandparent from public.flow_comments
    where id = new.parent_id and flow_id = new.flow_id;
    if not found then
      raise exception using errcode = 'PT400', message = 'parent_id is not a comment of this flow';
    elsif v_grandparent is not null then
      raise exception using errcode = 'PT400',
        message = 'replies are one level deep: reply to the first comment of the thread';
    end if;
  end if;
  if new.node_id is not null
     and not exists (select 1 from public.flow_nodes where flow_id = new.flow_id and id = new.node_id) then
    raise exception using errcode = 'PT400', message = 'node_id is not a node of this flow';
  end if;
  return new;
end
$$;

create trigger flow_comments_check
  before insert on public.flow_comments
  for each row execute function private.check_flow_comment();

alter table public.flow_comments enable row level security;

create policy "Members of a flow or of its workspace can view its comments"
  on public.flow_comments for select to authenticated
  using (flow_id = any ((select private.my_flow_ids('viewer'))::uuid[]));

-- Viewers comment too: reviewing a flow is what a viewer is invited for.
create policy "Active members of a flow, viewers included, can comment as themselves"
  on public.flow_comments for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and flow_id = any ((select private.my_flow_ids('viewer'))::uuid[]));

create policy "Authors can edit their comments while they can see the flow"
  on public.flow_comments for update to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and flow_id = any ((select private.my_flow_ids('viewer'))::uuid[]));

create policy "Authors can delete their comments while they can see the flow"
  on public.flow_comments for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and flow_id = any ((select private.my_flow_ids('viewer'))::uuid[]));

create policy "Admins of a flow can delete any of its comments"
  on public.flow_comments for delete to authenticated
  using (flow_id = any ((select private.my_flow_ids('admin'))::uuid[])
    and (select is_active from public.profiles where id = (select auth.uid())));

-- Anchors and authors are fixed once written; resolution moves through
-- api.resolve_flow_comment.
revoke all on public.flow_comments from anon, authenticated, service_role;
grant select on public.flow_comments to authenticated, service_role;
grant insert (id, flow_id, user_id, parent_id, content, position_x, position_y, node_id)
  on public.flow_comments to authenticated;
grant update (content) on public.flow_comments to authenticated;
grant delete on public.flow_comments to authenticated;

/** Rendering and checks */

/**
 * The flow object of the API contract, without its graph.
 */
create function private.flow_json(f public.flows) returns jsonb
language sql
stable  -- timestamps render in the session time zone
set search_path = ''
as $$
  select case when f.id is not null then jsonb_build_object(
    'id', f.id, 'user_id', f.user_id, 'workspace_id', f.workspace_id, 'name', f.name,
    'description', f.description,
    'viewport', jsonb_build_object('x', f.viewport_x, 'y', f.viewport_y, 'zoom', f.viewport_zoom),
    'version', f.version, 'created_at', f.created_at, 'updated_at', f.updated_at
  ) end
$$;

/**
 * The comment object of the API contract; position is {x, y} or null.
 */
create function private.flow_comment_json(c public.flow_comments) returns jsonb
language sql
stable
set search_path = ''
as $$
  select case when c.id is not null then jsonb_build_object(
    'id', c.id, 'flow_id', c.flow_id, 'user_id', c.user_id, 'parent_id', c.parent_id,
    'content', c.content,
    'position', case when c.position_x is not null then jsonb_build_object('x', c.position_x, 'y', c.position_y) end,
    'node_id', c.node_id, 'resolved_at', c.resolved_at, 'resolved_by', c.resolved_by,
    'created_at', c.created_at, 'updated_at', c.updated_at
  ) end
$$;

/**
 * True when p_value is a point of the canvas: {x, y}, two numbers within
 * flow_coordinate_max (checked before any cast, so a huge number is a 400, not an overflow).
 */
create function private.flow_point_ok(p_value jsonb) returns boolean
language sql
immutable
set search_path = ''
as $$
  -- CASE, not AND: each test may only run once the one before it has passed.
  select case
    when jsonb_typeof(p_value) is distinct from 'object' or p_value - 'x' - 'y' <> '{}'::jsonb then false
    when jsonb_typeof(p_value -> 'x') is distinct from 'number' or jsonb_typeof(p_value -> 'y') is distinct from 'number' then false
    else abs((p_value -> 'x')::numeric) <= private.input_limit('flow_coordinate_max')
      and abs((p_value -> 'y')::numeric) <= private.input_limit('flow_coordinate_max')
  end
$$;

/**
 * True when p_value is a string of 1 to p_max characters.
 */
create function private.flow_text_ok(p_value jsonb, p_max bigint) returns boolean
language sql
immutable
set search_path = ''
as $$
  select coalesce(jsonb_typeof(p_value) = 'string' and char_length(p_value #>> '{}') between 1 and p_max, false)
$$;

/**
 * What is wrong with one node of a graph, or null: {id, type?, position, data?, width?,
 * height?}, nothing else.
 */
create function private.flow_node_error(p_node jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_key text;
  v_dim text;
begin
  if jsonb_typeof(p_node) <> 'object' then
    return 'must be an object with id and position';
  end if;
  for v_key in select jsonb_object_keys(p_node) loop
    if v_key not in ('id', 'type', 'position', 'data', 'width', 'height') then
      return format('unknown field %s (a node has id, type, position, data, width and height)', left(v_key, 64));
    end if;
  end loop;
  if not private.flow_text_ok(p_node -> 'id', private.input_limit('flow_item_id_chars')) then
    return format('id must be a string of 1 to %s characters', private.input_limit('flow_item_id_chars'));
  elsif p_node ? 'type' and not private.flow_text_ok(p_node -> 'type', private.input_limit('flow_type_chars')) then
    return format('type must be a string of 1 to %s characters', private.input_limit('flow_type_chars'));
  elsif not private.flow_point_ok(p_node -> 'position') then
    return format('position must be {x, y}, numbers from -%1$s to %1$s', private.input_limit('flow_coordinate_max'));
  elsif p_node ? 'data' and jsonb_typeof(p_node -> 'data') <> 'object' then
    return 'data must be an object';
  elsif octet_length((p_node -> 'data')::text) > private.input_limit('flow_data_bytes') then
    return format('data must be at most %s bytes of JSON', private.input_limit('flow_data_bytes'));
  end if;
  foreach v_dim in array array['width', 'height'] loop
    if (case jsonb_typeof(p_node -> v_dim)
          when 'null' then false
          when 'number' then (p_node -> v_dim)::numeric <= 0
            or (p_node -> v_dim)::numeric > private.input_limit('flow_coordinate_max')
          else p_node ? v_dim
        end) then
      return format('%s must be null or a number above 0 and at most %s', v_dim, private.input_limit('flow_coordinate_max'));
    end if;
  end loop;
  return null;
end
$$;

/**
 * What is wrong with one edge of a graph on its own, or null: {id, source, target,
 * source_handle?, target_handle?, type?, data?}, nothing else. That source and target are
 * nodes of the graph is save_flow's check.
 */
create function private.flow_edge_error(p_edge jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_key text;
begin
  if jsonb_typeof(p_edge) <> 'object' then
    return 'must be an object with id, source and target';
  end if;
  for v_key in select jsonb_object_keys(p_edge) loop
    if v_key not in ('id', 'source', 'target', 'source_handle', 'target_handle', 'type', 'data') then
      return format('unknown field %s (an edge has id, source, target, source_handle, target_handle, type and data)',
        left(v_key, 64));
    end if;
  end loop;
  foreach v_key in array array['id', 'source', 'target'] loop
    if not private.flow_text_ok(p_edge -> v_key, private.input_limit('flow_item_id_chars')) then
      return format('%s must be a string of 1 to %s characters', v_key, private.input_limit('flow_item_id_chars'));
    end if;
  end loop;
  foreach v_key in array array['source_handle', 'target_handle'] loop
    if jsonb_typeof(p_edge -> v_key) <> 'null'
       and not private.flow_text_ok(p_edge -> v_key, private.input_limit('flow_item_id_chars')) then
      return format('%s must be null or a string of 1 to %s characters', v_key, private.input_limit('flow_item_id_chars'));
    end if;
  end loop;
  if p_edge ? 'type' and not private.flow_text_ok(p_edge -> 'type', private.input_limit('flow_type_chars')) then
    return format('type must be a string of 1 to %s characters', private.input_limit('flow_type_chars'));
  elsif p_edge ? 'data' and jsonb_typeof(p_edge -> 'data') <> 'object' then
    return 'data must be an object';
  elsif octet_length((p_edge -> 'data')::text) > private.input_limit('flow_data_bytes') then
    return format('data must be at most %s bytes of JSON', private.input_limit('flow_data_bytes'));
  end if;
  return null;
end
$$;

/**
 * PT400 (PT413 for its size) unless p_graph is a graph save_flow can store: {nodes, edges,
 * viewport?}, nodes and edges within their counts, each well formed, ids unique, every
 * edge between two nodes of the graph. Whole-graph checks, so the message names the first
 * offending item by its index.
 */
create function private.check_flow_graph(p_graph jsonb) returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_nodes jsonb := p_graph -> 'nodes';
  v_edges jsonb := p_graph -> 'edges';
  v_viewport jsonb := p_graph -> 'viewport';
  v_key text;
  v_error text;
begin
  if jsonb_typeof(p_graph) is distinct from 'object' then
    raise exception using errcode = 'PT400', message = 'the graph must be a JSON object with nodes, edges and viewport';
  end if;
  for v_key in select jsonb_object_keys(p_graph) loop
    if v_key not in ('nodes', 'edges', 'viewport') then
      raise exception using errcode = 'PT400',
        message = format('unknown field: %s (a graph has nodes, edges and viewport)', left(v_key, 64));
    end if;
  end loop;
  if octet_length(p_graph::text) > private.input_limit('flow_graph_bytes') then
    raise exception using errcode = 'PT413',
      message = format('a graph may be at most %s bytes of JSON', private.input_limit('flow_graph_bytes'));
  end if;
  if jsonb_typeof(v_nodes) is distinct from 'array' or jsonb_typeof(v_edges) is distinct from 'array' then
    raise exception using errcode = 'PT400', message = 'nodes and edges must be arrays (empty for none)';
  end if;
  if jsonb_array_length(v_nodes) > private.input_limit('flow_nodes_max') then
    raise exception using errcode = 'PT400', message = format('a flow has at most %s nodes; this graph has %s',
      private.input_limit('flow_nodes_max'), jsonb_array_length(v_nodes));
  end if;
  if jsonb_array_length(v_edges) > private.input_limit('flow_edges_max') then
    raise exception using errcode = 'PT400', message = format('a flow has at most %s edges; this graph has %s',
      private.input_limit('flow_edges_max'), jsonb_array_length(v_edges));
  end if;
  if v_viewport is not null and not (case
       when jsonb_typeof(v_viewport) <> 'object' or jsonb_typeof(v_viewport -> 'zoom') is distinct from 'number' then false
       else private.flow_point_ok(v_viewport - 'zoom') and (v_viewport -> 'zoom')::numeric > 0
         and (v_viewport -> 'zoom')::numeric <= private.input_limit('flow_zoom_max')
     end) then
    raise exception using errcode = 'PT400', message = format(
      'viewport must be {x, y, zoom}: x and y numbers from -%1$s to %1$s, zoom above 0 and at most %2$s',
      private.input_limit('flow_coordinate_max'), private.input_limit('flow_zoom_max'));
  end if;

  select format('nodes[%s]: %s', i - 1, e) into v_error
  from (select i, private.flow_node_error(n) as e from jsonb_array_elements(v_nodes) with ordinality t (n, i)) x
  where e is not null order by i limit 1;
  if v_error is null then
    select format('edges[%s]: %s', i - 1, e) into v_error
    from (select i, private.flow_edge_error(n) as e from jsonb_array_elements(v_edges) with ordinality t (n, i)) x
    where e is not null order by i limit 1;
  end if;
  if v_error is null then
    select format('duplicate node id: %s', left(n ->> 'id', 100)) into v_error
    from jsonb_array_elements(v_nodes) n group by n ->> 'id' having count(*) > 1 limit 1;
  end if;
  if v_error is null then
    select format('duplicate edge id: %s', left(n ->> 'id', 100)) into v_error
    from jsonb_array_elements(v_edges) n group by n ->> 'id' having count(*) > 1 limit 1;
  end if;
  if v_error is null then
    with node_ids as (select n ->> 'id' as id from jsonb_array_elements(v_nodes) n)
    select format('edges[%s]: %s %s is not a node of the graph', i - 1, side, left(e ->> side, 100)) into v_error
    from jsonb_array_elements(v_edges) with ordinality t (e, i)
    cross join (values (1, 'source'), (2, 'target')) s (o, side)
    where not exists (select 1 from node_ids where node_ids.id = e ->> side)
    order by i, o limit 1;
  end if;
  if v_error is not null then
    raise exception using errcode = 'PT400', message = v_error;
  end if;
end
$$;

/** Flows API */

/**
 * Creates a flow for the caller, who becomes its owner (the add_owner trigger), with an
 * empty graph at version 1; in a workspace when p_workspace_id is given, which needs the
 * member role there (PT404 / PT403 from private.require_role). SECURITY INVOKER: the
 * insert policy checks the same.
 */
create function api.create_flow(p_name text, p_description text default null, p_workspace_id uuid default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_id uuid := gen_random_uuid();
  f public.flows;
begin
  if p_name is null or char_length(btrim(p_name)) not between 1 and private.input_limit('flow_name_chars') then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('flow_name_chars'));
  end if;
  if char_length(btrim(p_description)) not between 1 and private.input_limit('flow_description_chars') then
    raise exception using errcode = 'PT400',
      message = format('description must be 1 to %s characters', private.input_limit('flow_description_chars'));
  end if;
  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'member', null, 'workspace');
    -- The caller's role may be on another kind of resource with that id.
    if not exists (select 1 from public.workspaces where id = p_workspace_id) then
      raise exception using errcode = 'PT404', message = 'workspace not found';
    end if;
  end if;
  insert into public.flows (id, user_id, workspace_id, name, description)
  values (v_id, v_uid, p_workspace_id, btrim(p_name), btrim(p_description));
  select * into f from public.flows where id = v_id;
  return private.flow_json(f) || jsonb_build_object('role', private.role_on(f.id, f.workspace_id));
end
$$;

grant execute on function api.create_flow(text, text, uuid) to authenticated;

/**
 * The flows the caller can see (their own shares and their workspaces'), newest first,
 * keyset-paged on (created_at, id); p_workspace_id narrows them to one workspace (none
 * when the caller is not in it). Each carries the caller's role. SECURITY INVOKER.
 */
create function api.list_flows(
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

  -- One row more than asked tells whether a next page exists.
  with page as (
    select * from public.flows f
    where f.deleted_at is null
      and (p_workspace_id is null or f.workspace_id = p_workspace_id)
      and (p_cursor_id is null or (f.created_at, f.id) < (p_cursor_created_at, p_cursor_id))
    order by f.created_at desc, f.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.flow_json(page)
           || jsonb_build_object('role', private.role_on(page.id, page.workspace_id))
           order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_flows(uuid, int, timestamptz, uuid) to authenticated;

/**
 * One flow with its whole graph (nodes and edges in their saved order) and the caller's
 * role, read in one snapshot, so the version matches the graph. PT404 when the caller
 * cannot see it or it is deleted. SECURITY INVOKER.
 */
create function api.get_flow(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  f public.flows;
begin
  perform private.caller_id();
  select * into f from public.flows where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  return private.flow_json(f) || jsonb_build_object(
    'role', private.role_on(f.id, f.workspace_id),
    'nodes', (
      select coalesce(jsonb_agg(jsonb_build_object(
          'id', n.id, 'type', n.type, 'position', jsonb_build_object('x', n.position_x, 'y', n.position_y),
          'data', n.data, 'width', n.width, 'height', n.height) order by n.ordinal, n.id), '[]'::jsonb)
      from public.flow_nodes n where n.flow_id = f.id),
    'edges', (
      select coalesce(jsonb_agg(jsonb_build_object(
          'id', e.id, 'source', e.source, 'target', e.target, 'source_handle', e.source_handle,
          'target_handle', e.target_handle, 'type', e.type, 'data', e.data) order by e.ordinal, e.id), '[]'::jsonb)
      from public.flow_edges e where e.flow_id = f.id));
end
$$;

grant execute on function api.get_flow(uuid) to authenticated;

/**
 * Renames a flow or changes its description: {name?, description?} (null clears the
 * description); any other key is PT400. Members and up: PT403 for a viewer, PT404 when the
 * caller cannot see it. The graph's version does not move. SECURITY INVOKER: the update
 * policy checks the role too.
 */
create function api.update_flow(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_key text;
  f public.flows;
begin
  perform private.require_user();
  select * into f from public.flows where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  perform private.require_role(f.id, 'member', f.workspace_id, 'flow');
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400', message = 'the patch must be a JSON object with name or description';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('name', 'description') then
      raise exception using errcode = 'PT400',
        message = format('unknown field: %s (name and description can be changed)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'name' and (jsonb_typeof(p_patch -> 'name') <> 'string'
       or char_length(btrim(p_patch ->> 'name')) not between 1 and private.input_limit('flow_name_chars')) then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('flow_name_chars'));
  end if;
  if p_patch ? 'description' and jsonb_typeof(p_patch -> 'description') <> 'null'
     and (jsonb_typeof(p_patch -> 'description') <> 'string'
       or char_length(btrim(p_patch ->> 'description')) not between 1 and private.input_limit('flow_description_chars')) then
    raise exception using errcode = 'PT400',
      message = format('description must be null or 1 to %s characters', private.input_limit('flow_description_chars'));
  end if;
  update public.flows set
    name = coalesce(btrim(p_patch ->> 'name'), name),
    description = case when p_patch ? 'description' then btrim(p_patch ->> 'description') else description end
  where id = f.id
  returning * into f;
  return private.flow_json(f);
end
$$;

grant execute on function api.update_flow(uuid, jsonb) to authenticated;

/**
 * Deletes a flow, softly: it leaves every list, its graph and comments every read, at
 * once (the child tables' policies see only flows not deleted). Admins and the owner:
 * PT403 for members and viewers, PT404 when the caller cannot see it. Returns {id}.
 * SECURITY DEFINER: members may update the row, and a row policy cannot tell a delete
 * from a rename.
 */
create function api.delete_flow(p_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_workspace_id uuid;
begin
  perform private.require_user();
  select workspace_id into v_workspace_id from public.flows where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  perform private.require_role(p_id, 'admin', v_workspace_id, 'flow');
  update public.flows set deleted_at = now() where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  return jsonb_build_object('id', p_id);
end
$$;

grant execute on function api.delete_flow(uuid) to authenticated;

/**
 * Replaces a flow's graph with p_graph {nodes, edges, viewport?} (see check_flow_graph)
 * when p_version is still its version; returns the flow at its new version. Members and
 * up (PT403 for a viewer, PT404 when the caller cannot see it). A bad graph is PT400 and
 * a stale version PT409 naming the current one, with nothing written. Under the flow's
 * row lock, so concurrent saves of one version serialize and all but the first get 409:
 * edges and nodes that are gone are deleted (a removed node's comments stay, on the whole
 * flow), the others upserted, unchanged rows left alone. SECURITY DEFINER: nodes and
 * edges have no write grant, so every change passes this check and bumps the version.
 */
create function api.save_flow(p_id uuid, p_version bigint, p_graph jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_nodes jsonb := p_graph -> 'nodes';
  v_edges jsonb := p_graph -> 'edges';
  v_workspace_id uuid;
  v_version bigint;
  f public.flows;
begin
  perform private.require_user();
  select workspace_id into v_workspace_id from public.flows where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  perform private.require_role(p_id, 'member', v_workspace_id, 'flow');
  if p_version is null or p_version < 1 then
    raise exception using errcode = 'PT400', message = 'version is required: the version of the flow you loaded';
  end if;
  perform private.check_flow_graph(p_graph);

  -- No key update: saves of one flow wait for each other; comments (a key share on the
  -- flow through their foreign key) do not wait for a save.
  select version into v_version from public.flows where id = p_id and deleted_at is null for no key update;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  if v_version <> p_version then
    raise exception using errcode = 'PT409', message = format(
      'the flow has changed since version %s: it is at version %s; load it and save again', p_version, v_version);
  end if;

  delete from public.flow_edges e where e.flow_id = p_id
    and not exists (select 1 from jsonb_array_elements(v_edges) x where x ->> 'id' = e.id);
  delete from public.flow_nodes n where n.flow_id = p_id
    and not exists (select 1 from jsonb_array_elements(v_nodes) x where x ->> 'id' = n.id);

  insert into public.flow_nodes as n (flow_id, id, ordinal, type, data, position_x, position_y, width, height)
  select p_id, x ->> 'id', (i - 1)::int, coalesce(x ->> 'type', 'default'), coalesce(x -> 'data', '{}'::jsonb),
    (x -> 'position' -> 'x')::numeric, (x -> 'position' -> 'y')::numeric,
    nullif(x -> 'width', 'null'::jsonb)::numeric, nullif(x -> 'height', 'null'::jsonb)::numeric
  from jsonb_array_elements(v_nodes) with ordinality t (x, i)
  on conflict (flow_id, id) do update set
    ordinal = excluded.ordinal, type = excluded.type, data = excluded.data, position_x = excluded.position_x,
    position_y = excluded.position_y, width = excluded.width, height = excluded.height
  where (n.ordinal, n.type, n.data, n.position_x, n.position_y, n.width, n.height)
    is distinct from (excluded.ordinal, excluded.type, excluded.data, excluded.position_x,
      excluded.position_y, excluded.width, excluded.height);

  insert into public.flow_edges as e (flow_id, id, ordinal, source, target, source_handle, target_handle, type, data)
  select p_id, x ->> 'id', (i - 1)::int, x ->> 'source', x ->> 'target', x ->> 'source_handle',
    x ->> 'target_handle', coalesce(x ->> 'type', 'default'), coalesce(x -> 'data', '{}'::jsonb)
  from jsonb_array_elements(v_edges) with ordinality t (x, i)
  on conflict (flow_id, id) do update set
    ordinal = excluded.ordinal, source = excluded.source, target = excluded.target,
    source_handle = excluded.source_handle, target_handle = excluded.target_handle, type = excluded.type,
    data = excluded.data
  where (e.ordinal, e.source, e.target, e.source_handle, e.target_handle, e.type, e.data)
    is distinct from (excluded.ordinal, excluded.source, excluded.target, excluded.source_handle,
      excluded.target_handle, excluded.type, excluded.data);

  update public.flows set
    version = version + 1,
    viewport_x = coalesce((p_graph -> 'viewport' -> 'x')::numeric, viewport_x),
    viewport_y = coalesce((p_graph -> 'viewport' -> 'y')::numeric, viewport_y),
    viewport_zoom = coalesce((p_graph -> 'viewport' -> 'zoom')::numeric, viewport_zoom)
  where id = p_id
  returning * into f;
  return private.flow_json(f);
end
$$;

grant execute on function api.save_flow(uuid, bigint, jsonb) to authenticated;

/** Comments API */

/**
 * A comment on a flow by the caller (any role, viewers included): a new thread at
 * p_position {x, y}, on the node p_node_id, or on the whole flow; or, with p_parent_id, a
 * reply to a thread's first comment (no position or node of its own). PT404 when the
 * caller cannot see the flow; PT400 for a bad position, both anchors, or (the insert
 * trigger) a parent or node that is not the flow's. SECURITY INVOKER: the insert policy
 * decides who comments.
 */
create function api.create_flow_comment(
  p_flow_id uuid,
  p_content text,
  p_position jsonb default null,
  p_node_id text default null,
  p_parent_id uuid default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_position jsonb := nullif(p_position, 'null'::jsonb);
  c public.flow_comments;
begin
  if not exists (select 1 from public.flows where id = p_flow_id and deleted_at is null) then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  if p_content is null or char_length(btrim(p_content)) not between 1 and private.input_limit('flow_comment_chars') then
    raise exception using errcode = 'PT400',
      message = format('content must be 1 to %s characters', private.input_limit('flow_comment_chars'));
  end if;
  if v_position is not null and not private.flow_point_ok(v_position) then
    raise exception using errcode = 'PT400', message = format(
      'position must be {x, y}, numbers from -%1$s to %1$s', private.input_limit('flow_coordinate_max'));
  end if;
  if v_position is not null and p_node_id is not null then
    raise exception using errcode = 'PT400', message = 'a comment sits at a position or on a node, not both';
  end if;
  if p_parent_id is not null and (v_position is not null or p_node_id is not null) then
    raise exception using errcode = 'PT400',
      message = 'a reply sits where its thread does: send no position or node_id with parent_id';
  end if;
  insert into public.flow_comments (flow_id, user_id, parent_id, content, position_x, position_y, node_id)
  values (p_flow_id, v_uid, p_parent_id, btrim(p_content), (v_position -> 'x')::numeric,
    (v_position -> 'y')::numeric, p_node_id)
  returning * into c;
  return private.flow_comment_json(c);
end
$$;

grant execute on function api.create_flow_comment(uuid, text, jsonb, text, uuid) to authenticated;

/**
 * A flow's threads, newest first, keyset-paged on (created_at, id), each with all its
 * replies (oldest first); p_resolved narrows them to resolved (true) or open (false)
 * threads. PT404 when the caller cannot see the flow. SECURITY INVOKER.
 */
create function api.list_flow_comments(
  p_flow_id uuid,
  p_resolved boolean default null,
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
  if not exists (select 1 from public.flows where id = p_flow_id and deleted_at is null) then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;

  with page as (
    select * from public.flow_comments c
    where c.flow_id = p_flow_id and c.parent_id is null
      and (p_resolved is null or (c.resolved_at is not null) = p_resolved)
      and (p_cursor_id is null or (c.created_at, c.id) < (p_cursor_created_at, p_cursor_id))
    order by c.created_at desc, c.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.flow_comment_json(page) || jsonb_build_object('replies', (
             select coalesce(jsonb_agg(private.flow_comment_json(r) order by r.created_at, r.id), '[]'::jsonb)
             from public.flow_comments r where r.flow_id = page.flow_id and r.parent_id = page.id))
           order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_flow_comments(uuid, boolean, int, timestamptz, uuid) to authenticated;

/**
 * Changes the content of one of the caller's comments on the flow. PT403 when the comment
 * is someone else's, PT404 when the caller cannot see it. SECURITY INVOKER: the update
 * policy lets authors alone change it.
 */
create function api.update_flow_comment(p_flow_id uuid, p_id uuid, p_content text) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  c public.flow_comments;
begin
  select * into c from public.flow_comments where id = p_id and flow_id = p_flow_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'comment not found';
  elsif c.user_id <> v_uid then
    raise exception using errcode = 'PT403', message = 'only its author can edit a comment';
  end if;
  if p_content is null or char_length(btrim(p_content)) not between 1 and private.input_limit('flow_comment_chars') then
    raise exception using errcode = 'PT400',
      message = format('content must be 1 to %s characters', private.input_limit('flow_comment_chars'));
  end if;
  update public.flow_comments set content = btrim(p_content) where id = c.id returning * into c;
  return private.flow_comment_json(c);
end
$$;

grant execute on function api.update_flow_comment(uuid, uuid, text) to authenticated;

/**
 * Deletes a comment of the flow, and its replies with it: the author's own, or any for an
 * admin of the flow. PT403 otherwise, PT404 when the caller cannot see it. Returns {id}.
 * SECURITY INVOKER: the delete policies decide the same.
 */
create function api.delete_flow_comment(p_flow_id uuid, p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  perform private.require_user();
  if not exists (select 1 from public.flow_comments where id = p_id and flow_id = p_flow_id) then
    raise exception using errcode = 'PT404', message = 'comment not found';
  end if;
  delete from public.flow_comments where id = p_id and flow_id = p_flow_id returning id into v_id;
  if v_id is null then
    raise exception using errcode = 'PT403', message = 'only its author or an admin of the flow can delete a comment';
  end if;
  return jsonb_build_object('id', v_id);
end
$$;

grant execute on function api.delete_flow_comment(uuid, uuid) to authenticated;

/**
 * Resolves (p_resolved true) or reopens (false) a thread: its first comment records when
 * and by whom; resolving a resolved thread keeps who did it first. The author of the
 * thread, or anyone with the member role on the flow: PT403 otherwise; PT400 for a reply
 * (threads are resolved whole); PT404 when the caller cannot see it. Returns the comment.
 * SECURITY DEFINER: members resolve other users' comments, which the update policy keeps
 * to their authors.
 */
create function api.resolve_flow_comment(p_flow_id uuid, p_id uuid, p_resolved boolean) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_workspace_id uuid;
  v_role text;
  c public.flow_comments;
begin
  select f.workspace_id into v_workspace_id from public.flows f where f.id = p_flow_id and f.deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'flow not found';
  end if;
  v_role := private.require_role(p_flow_id, 'viewer', v_workspace_id, 'flow');
  if p_resolved is null then
    raise exception using errcode = 'PT400', message = 'resolved must be true or false';
  end if;
  select * into c from public.flow_comments where id = p_id and flow_id = p_flow_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'comment not found';
  elsif c.parent_id is not null then
    raise exception using errcode = 'PT400', message = 'a reply is not resolved on its own: resolve its thread';
  elsif c.user_id is distinct from v_uid and private.role_rank(v_role) < private.role_rank('member') then
    raise exception using errcode = 'PT403', message = 'requires the member role to resolve another user''s thread';
  end if;
  update public.flow_comments set
    resolved_at = case when p_resolved then coalesce(resolved_at, now()) end,
    resolved_by = case when p_resolved then coalesce(resolved_by, v_uid) end
  where id = c.id
  returning * into c;
  return private.flow_comment_json(c);
end
$$;

grant execute on function api.resolve_flow_comment(uuid, uuid, boolean) to authenticated;

/** Grants of the helpers the SECURITY INVOKER functions call */

grant execute on function private.flow_json(public.flows), private.flow_comment_json(public.flow_comments),
  private.flow_point_ok(jsonb)
  to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
