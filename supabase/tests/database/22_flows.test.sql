-- Flows: who does what by role (a stranger, a viewer, a member, an admin and the owner of
-- a flow shared directly, and the same roles through a workspace); the graph saved whole
-- with its version check (a stale version refused, bad graphs refused with nothing
-- written, unchanged rows left alone, a removed node's edges gone and its comments kept on
-- the flow); comments, replies and resolution by their rules; direct table writes refused;
-- a soft-deleted flow gone from every read at once; a removed member loses access at once.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(130);

insert into auth.users (id, email) values
  ('22000000-0000-4000-8000-0000000000a1', 'owner.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000a2', 'admin.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000a3', 'member.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000a4', 'viewer.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000a5', 'stranger.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000b1', 'wsowner.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000b2', 'wsadmin.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000b3', 'wsmember.flows@example.test'),
  ('22000000-0000-4000-8000-0000000000b4', 'wsviewer.flows@example.test');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
insert into ids values
  ('owner', '22000000-0000-4000-8000-0000000000a1'), ('admin', '22000000-0000-4000-8000-0000000000a2'),
  ('member', '22000000-0000-4000-8000-0000000000a3'), ('viewer', '22000000-0000-4000-8000-0000000000a4'),
  ('stranger', '22000000-0000-4000-8000-0000000000a5'), ('wsowner', '22000000-0000-4000-8000-0000000000b1'),
  ('wsadmin', '22000000-0000-4000-8000-0000000000b2'), ('wsmember', '22000000-0000-4000-8000-0000000000b3'),
  ('wsviewer', '22000000-0000-4000-8000-0000000000b4');
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.act(p_name text) returns void language plpgsql as $$
begin
  perform set_config('request.jwt.claims',
    json_build_object('sub', pg_temp.id(p_name), 'role', 'authenticated')::text, true);
end
$$;
-- Keeps an answer under a name, and its id under the same name.
create function pg_temp.keep(p_name text, p_answer jsonb) returns jsonb language plpgsql as $$
begin
  insert into got values (p_name, p_answer);
  insert into ids values (p_name, (p_answer ->> 'id')::uuid);
  return p_answer;
end
$$;
-- The count of a table's rows the caller sees for the flow.
create function pg_temp.seen(p_table text, p_flow text) returns bigint language plpgsql as $$
declare
  v bigint;
begin
  execute format('select count(*) from public.%I where %I = %L', p_table,
    case when p_table = 'flows' then 'id' else 'flow_id' end, pg_temp.id(p_flow)) into v;
  return v;
end
$$;

-- A workspace: its owner, and an admin, a member and a viewer of it.
insert into public.workspaces (id, name, slug, created_by)
values ('22000000-0000-4000-8000-0000000000c1', 'Flow team', 'flow-team-22', pg_temp.id('wsowner'));
insert into ids values ('ws', '22000000-0000-4000-8000-0000000000c1');
insert into public.memberships (resource_id, resource_type, user_id, role) values
  (pg_temp.id('ws'), 'workspace', pg_temp.id('wsadmin'), 'admin'),
  (pg_temp.id('ws'), 'workspace', pg_temp.id('wsmember'), 'member'),
  (pg_temp.id('ws'), 'workspace', pg_temp.id('wsviewer'), 'viewer');

/** Creating */

set local role authenticated;
select pg_temp.act('owner');
select pg_temp.keep('f1', api.create_flow('  Direct flow ', 'shared by hand'));
select is(pg_temp.got('f1') - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('user_id', pg_temp.id('owner'), 'workspace_id', null, 'name', 'Direct flow',
    'description', 'shared by hand', 'viewport', '{"x": 0, "y": 0, "zoom": 1}'::jsonb, 'version', 1, 'role', 'owner'),
  'a new flow is its creator''s, at version 1, trimmed');
select throws_ok($$ select api.create_flow('  ') $$, 'PT400', 'name must be 1 to 200 characters', 'a blank name is refused');
select throws_ok(format('select api.create_flow(%L)', repeat('x', 201)), 'PT400', null, 'a long name is refused');

select pg_temp.act('wsviewer');
select throws_ok(format('select api.create_flow(%L, null, %L)', 'x', pg_temp.id('ws')), 'PT403', null,
  'a workspace viewer cannot create a flow in it');
select pg_temp.act('stranger');
select throws_ok(format('select api.create_flow(%L, null, %L)', 'x', pg_temp.id('ws')), 'PT404', 'workspace not found',
  'a stranger cannot create a flow in a workspace, nor learn it exists');
select throws_ok(format('insert into public.flows (user_id, workspace_id, name) values (%L, %L, %L)',
    pg_temp.id('stranger'), pg_temp.id('ws'), 'sneak'), '42501', null,
  'nor insert one straight into the table');
select pg_temp.act('owner');
select throws_ok(format('select api.create_flow(%L, null, %L)', 'x', pg_temp.id('f1')), 'PT404', 'workspace not found',
  'a flow''s id is not a workspace, even to its owner');
select pg_temp.act('wsmember');
select pg_temp.keep('f2', api.create_flow('Team flow', null, pg_temp.id('ws')));
select is(pg_temp.got('f2') ->> 'workspace_id', pg_temp.id('ws')::text, 'a workspace member creates a flow in it');

reset role;
select is((select role from public.memberships where resource_id = pg_temp.id('f1') and user_id = pg_temp.id('owner')),
  'owner', 'the creator got the owner membership');
insert into public.memberships (resource_id, resource_type, user_id, role) values
  (pg_temp.id('f1'), 'flow', pg_temp.id('admin'), 'admin'),
  (pg_temp.id('f1'), 'flow', pg_temp.id('member'), 'member'),
  (pg_temp.id('f1'), 'flow', pg_temp.id('viewer'), 'viewer');
set local role authenticated;

/** Reading by role */

select pg_temp.act('stranger');
select throws_ok(format('select api.get_flow(%L)', pg_temp.id('f1')), 'PT404', 'flow not found', 'a stranger cannot read a shared flow');
select throws_ok(format('select api.get_flow(%L)', pg_temp.id('f2')), 'PT404', 'flow not found', 'nor a workspace''s flow');
select is(api.list_flows() -> 'items', '[]'::jsonb, 'a stranger lists no flow');
select is(pg_temp.seen('flows', 'f1') + pg_temp.seen('flows', 'f2'), 0::bigint, 'and sees no flow row');

create function pg_temp.role_of(p_user text, p_flow text) returns text language plpgsql as $$
begin
  perform pg_temp.act(p_user);
  return api.get_flow(pg_temp.id(p_flow)) ->> 'role';
end
$$;
select is(array[pg_temp.role_of('owner', 'f1'), pg_temp.role_of('admin', 'f1'), pg_temp.role_of('member', 'f1'),
    pg_temp.role_of('viewer', 'f1')],
  array['owner', 'admin', 'member', 'viewer'], 'each direct member reads the flow with their role');
select is(array[pg_temp.role_of('wsmember', 'f2'), pg_temp.role_of('wsowner', 'f2'), pg_temp.role_of('wsadmin', 'f2'),
    pg_temp.role_of('wsviewer', 'f2')],
  array['owner', 'admin', 'admin', 'viewer'],
  'through the workspace: its owner and admin are admins of its flow, its viewer a viewer');
select pg_temp.act('wsviewer');
select is((select jsonb_agg(i ->> 'id') from jsonb_array_elements(api.list_flows(pg_temp.id('ws')) -> 'items') i),
  jsonb_build_array(pg_temp.id('f2')), 'a workspace viewer lists the workspace''s flow');
select is(api.list_flows(pg_temp.id('ws'), 1) -> 'items' -> 0 ->> 'role', 'viewer', 'with their role');
select pg_temp.act('member');
select is((select jsonb_agg(i ->> 'id') from jsonb_array_elements(api.list_flows() -> 'items') i),
  jsonb_build_array(pg_temp.id('f1')), 'a direct member lists the flow shared with them, and no other');
select is(api.list_flows(pg_temp.id('ws')) -> 'items', '[]'::jsonb, 'and nothing of a workspace they are not in');
select throws_ok($$ select api.list_flows(p_limit => 0) $$, 'PT400', null, 'a bad page size is refused');

/** Saving the graph */

insert into got values ('g1', '{
  "nodes": [
    {"id": "a", "type": "input", "position": {"x": 0, "y": 0}, "data": {"label": "A"}},
    {"id": "b", "position": {"x": 100.5, "y": -20}, "data": {"label": "B"}, "width": 150, "height": 40},
    {"id": "c", "type": "output", "position": {"x": 200, "y": 0}}
  ],
  "edges": [
    {"id": "a-b", "source": "a", "target": "b"},
    {"id": "b-c", "source": "b", "target": "c", "source_handle": "out", "target_handle": "in", "type": "smoothstep", "data": {"w": 1}}
  ],
  "viewport": {"x": 10, "y": 20, "zoom": 1.5}
}');

select pg_temp.act('viewer');
select throws_ok(format('select api.save_flow(%L, 1, %L)', pg_temp.id('f1'), pg_temp.got('g1')), 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot save the graph');
select pg_temp.act('stranger');
select throws_ok(format('select api.save_flow(%L, 1, %L)', pg_temp.id('f1'), pg_temp.got('g1')), 'PT404',
  'flow not found', 'a stranger cannot save it, nor learn it exists');
select pg_temp.act('member');
select is(api.save_flow(pg_temp.id('f1'), 1, pg_temp.got('g1')) -> 'version', '2'::jsonb, 'a member saves it: version 2');
select is(api.get_flow(pg_temp.id('f1')) -> 'nodes', '[
    {"id": "a", "type": "input", "position": {"x": 0, "y": 0}, "data": {"label": "A"}, "width": null, "height": null},
    {"id": "b", "type": "default", "position": {"x": 100.5, "y": -20}, "data": {"label": "B"}, "width": 150, "height": 40},
    {"id": "c", "type": "output", "position": {"x": 200, "y": 0}, "data": {}, "width": null, "height": null}
  ]'::jsonb, 'the nodes read back as saved, in their order');
select is(api.get_flow(pg_temp.id('f1')) -> 'edges', '[
    {"id": "a-b", "source": "a", "target": "b", "source_handle": null, "target_handle": null, "type": "default", "data": {}},
    {"id": "b-c", "source": "b", "target": "c", "source_handle": "out", "target_handle": "in", "type": "smoothstep", "data": {"w": 1}}
  ]'::jsonb, 'the edges too');
select is(api.get_flow(pg_temp.id('f1')) -> 'viewport', '{"x": 10, "y": 20, "zoom": 1.5}'::jsonb, 'and the viewport');
select pg_temp.act('viewer');
select is(jsonb_array_length(api.get_flow(pg_temp.id('f1')) -> 'nodes'), 3, 'a viewer reads the graph');
select is(pg_temp.seen('flow_nodes', 'f1') + pg_temp.seen('flow_edges', 'f1'), 5::bigint, 'and its rows');
select pg_temp.act('stranger');
select is(pg_temp.seen('flow_nodes', 'f1') + pg_temp.seen('flow_edges', 'f1'), 0::bigint, 'a stranger sees none of its rows');

select pg_temp.act('admin');
select throws_ok(format('select api.save_flow(%L, 1, %L)', pg_temp.id('f1'), pg_temp.got('g1')), 'PT409',
  'the flow has changed since version 1: it is at version 2; load it and save again',
  'a save from a stale version is refused, naming the current one');
select throws_ok(format('select api.save_flow(%L, null, %L)', pg_temp.id('f1'), pg_temp.got('g1')), 'PT400', null,
  'a save without a version is refused');

-- Every bad graph: PT400 (PT413 for its size) and nothing written.
create function pg_temp.bad_graph(p_graph jsonb) returns text language plpgsql as $$
begin
  perform api.save_flow(pg_temp.id('f1'), 2, p_graph);
  return 'saved';
exception when others then
  return sqlstate || ' ' || sqlerrm;
end
$$;
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{edges,1,target}', '"zz"')),
  'PT400 edges[1]: target zz is not a node of the graph', 'an edge to a missing node is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,2,id}', '"a"')),
  'PT400 duplicate node id: a', 'duplicate node ids are refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{edges,1,id}', '"a-b"')),
  'PT400 duplicate edge id: a-b', 'duplicate edge ids are refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,1,position,x}', '"100"')),
  'PT400 nodes[1]: position must be {x, y}, numbers from -1000000000 to 1000000000', 'a position that is not numbers is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,0,position,y}', '1e400')),
  'PT400 nodes[0]: position must be {x, y}, numbers from -1000000000 to 1000000000', 'a number off the canvas is refused, not overflowed');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,0,selected}', 'true')),
  'PT400 nodes[0]: unknown field selected (a node has id, type, position, data, width and height)', 'an unknown node field is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,0,data}', '[1]')),
  'PT400 nodes[0]: data must be an object', 'node data that is not an object is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,1,width}', '0')),
  'PT400 nodes[1]: width must be null or a number above 0 and at most 1000000000', 'a zero width is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{edges,0,source}', '7')),
  'PT400 edges[0]: source must be a string of 1 to 100 characters', 'an edge source that is not a string is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,0,id}', to_jsonb(repeat('i', 101)))),
  'PT400 nodes[0]: id must be a string of 1 to 100 characters', 'a long node id is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{viewport,zoom}', '0')),
  'PT400 viewport must be {x, y, zoom}: x and y numbers from -1000000000 to 1000000000, zoom above 0 and at most 100',
  'a zero zoom is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{viewport}', '7')),
  'PT400 viewport must be {x, y, zoom}: x and y numbers from -1000000000 to 1000000000, zoom above 0 and at most 100',
  'a viewport that is not an object is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,1,position}', '[1, 2]')),
  'PT400 nodes[1]: position must be {x, y}, numbers from -1000000000 to 1000000000', 'a position that is an array is refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,1,height}', '"tall"')),
  'PT400 nodes[1]: height must be null or a number above 0 and at most 1000000000', 'a height that is not a number is refused');
select is(pg_temp.bad_graph(pg_temp.got('g1') - 'edges'), 'PT400 nodes and edges must be arrays (empty for none)',
  'a graph without edges is refused');
select is(pg_temp.bad_graph(pg_temp.got('g1') || '{"comments": []}'),
  'PT400 unknown field: comments (a graph has nodes, edges and viewport)', 'an unknown graph field is refused');
select is(pg_temp.bad_graph('[]'), 'PT400 the graph must be a JSON object with nodes, edges and viewport',
  'a graph that is not an object is refused');
select is(pg_temp.bad_graph(jsonb_build_object('edges', '[]'::jsonb, 'nodes', (
    select jsonb_agg(jsonb_build_object('id', 'n' || i, 'position', '{"x": 0, "y": 0}'::jsonb)) from generate_series(1, 1001) i))),
  'PT400 a flow has at most 1000 nodes; this graph has 1001', 'too many nodes are refused');
select is(pg_temp.bad_graph(jsonb_set(pg_temp.got('g1'), '{nodes,0,data}', jsonb_build_object('t', repeat('x', 16384)))),
  'PT400 nodes[0]: data must be at most 16384 bytes of JSON', 'too much data on one node is refused');
select is(pg_temp.bad_graph(jsonb_build_object('edges', '[]'::jsonb, 'nodes', (
    select jsonb_agg(jsonb_build_object('id', 'n' || i, 'position', '{"x": 0, "y": 0}'::jsonb,
      'data', jsonb_build_object('t', repeat('x', 15000)))) from generate_series(1, 80) i))),
  'PT413 a graph may be at most 1048576 bytes of JSON', 'a graph over its size is refused');
select is(api.get_flow(pg_temp.id('f1')) - 'updated_at' - 'role', pg_temp.got('f1') - 'updated_at' - 'role'
    || jsonb_build_object('version', 2, 'viewport', '{"x": 10, "y": 20, "zoom": 1.5}'::jsonb,
      'nodes', api.get_flow(pg_temp.id('f1')) -> 'nodes', 'edges', api.get_flow(pg_temp.id('f1')) -> 'edges'),
  'after every refusal the flow is still at version 2');
select is((select count(*) from public.flow_nodes where flow_id = pg_temp.id('f1'))
    + (select count(*) from public.flow_edges where flow_id = pg_temp.id('f1')), 5::bigint, 'with its 5 rows');

-- A thread on node c, which the next save removes.
select pg_temp.act('viewer');
select pg_temp.keep('on_c', api.create_flow_comment(pg_temp.id('f1'), 'why c?', p_node_id => 'c'));
select is(pg_temp.got('on_c') ->> 'node_id', 'c', 'a viewer comments on a node');

reset role;
create temp table before_save as select id, ctid as was from public.flow_nodes where flow_id = pg_temp.id('f1');
grant all on before_save to public;
set local role authenticated;
select pg_temp.act('admin');
-- b moves, c goes (and with it the edge b-c), d comes, the edge a-d comes, a stays.
select is(api.save_flow(pg_temp.id('f1'), 2, '{
  "nodes": [
    {"id": "a", "type": "input", "position": {"x": 0, "y": 0}, "data": {"label": "A"}},
    {"id": "d", "position": {"x": 5, "y": 5}},
    {"id": "b", "position": {"x": 300, "y": -20}, "data": {"label": "B"}, "width": 150, "height": 40}
  ],
  "edges": [{"id": "a-b", "source": "a", "target": "b"}, {"id": "a-d", "source": "a", "target": "d"}]
}') ->> 'version', '3', 'an admin saves the next version');
select is((select jsonb_agg(n ->> 'id') from jsonb_array_elements(api.get_flow(pg_temp.id('f1')) -> 'nodes') n),
  '["a", "d", "b"]'::jsonb, 'the nodes are the new graph''s, in its order');
select is((select jsonb_agg(e ->> 'id') from jsonb_array_elements(api.get_flow(pg_temp.id('f1')) -> 'edges') e),
  '["a-b", "a-d"]'::jsonb, 'the removed node''s edge is gone');
select is(api.get_flow(pg_temp.id('f1')) -> 'viewport', '{"x": 10, "y": 20, "zoom": 1.5}'::jsonb,
  'a save without a viewport keeps the one there was');
reset role;
select is((select n.ctid = b.was from public.flow_nodes n join before_save b using (id) where n.flow_id = pg_temp.id('f1') and id = 'a'),
  true, 'an unchanged node is not rewritten');
select is((select n.ctid = b.was from public.flow_nodes n join before_save b using (id) where n.flow_id = pg_temp.id('f1') and id = 'b'),
  false, 'a moved one is');
select is((select node_id from public.flow_comments where id = pg_temp.id('on_c')), null,
  'a comment on the removed node stays, on the whole flow');
set local role authenticated;

select pg_temp.act('wsviewer');
select throws_ok(format('select api.save_flow(%L, 1, %L)', pg_temp.id('f2'), pg_temp.got('g1')), 'PT403', null,
  'a workspace viewer cannot save the workspace''s flow');
select pg_temp.act('wsadmin');
select is(api.save_flow(pg_temp.id('f2'), 1, pg_temp.got('g1')) ->> 'version', '2', 'a workspace admin can');
select pg_temp.act('wsmember');
select is(api.save_flow(pg_temp.id('f2'), 2, pg_temp.got('g1')) ->> 'version', '3', 'and its creator, who owns it');
select pg_temp.act('wsowner');
select is(api.save_flow(pg_temp.id('f2'), 3, '{"nodes": [], "edges": []}') ->> 'version', '4',
  'and the workspace''s owner, to an empty graph');
select is(api.get_flow(pg_temp.id('f2')) -> 'nodes', '[]'::jsonb, 'which empties it');

select pg_temp.act('member');
select throws_ok(format($$ insert into public.flow_nodes (flow_id, id, ordinal, position_x, position_y) values (%L, 'x', 0, 0, 0) $$,
  pg_temp.id('f1')), '42501', null, 'a member cannot write nodes past save_flow');
select throws_ok(format($$ delete from public.flow_edges where flow_id = %L $$, pg_temp.id('f1')), '42501', null,
  'nor delete edges');
select throws_ok(format('update public.flows set version = 99 where id = %L', pg_temp.id('f1')), '42501', null,
  'nor move the version');

/** Renaming */

select is(api.update_flow(pg_temp.id('f1'), '{"name": " Renamed ", "description": null}') - 'created_at' - 'updated_at' - 'id' - 'user_id',
  '{"workspace_id": null, "name": "Renamed", "description": null, "viewport": {"x": 10, "y": 20, "zoom": 1.5}, "version": 3}'::jsonb,
  'a member renames the flow and clears its description; the version stays');
select throws_ok(format($$ select api.update_flow(%L, '{"version": 1}') $$, pg_temp.id('f1')), 'PT400',
  'unknown field: version (name and description can be changed)', 'only name and description change');
select throws_ok(format($$ select api.update_flow(%L, '{"name": 5}') $$, pg_temp.id('f1')), 'PT400', null,
  'a name that is not a string is refused');
select pg_temp.act('viewer');
select throws_ok(format($$ select api.update_flow(%L, '{"name": "mine"}') $$, pg_temp.id('f1')), 'PT403', null,
  'a viewer cannot rename it');
update public.flows set name = 'sneaky' where id = pg_temp.id('f1');
select pg_temp.act('stranger');
select throws_ok(format($$ select api.update_flow(%L, '{"name": "mine"}') $$, pg_temp.id('f1')), 'PT404', null,
  'nor a stranger');
update public.flows set name = 'sneaky' where id = pg_temp.id('f1');
select pg_temp.act('member');
select is(api.get_flow(pg_temp.id('f1')) ->> 'name', 'Renamed', 'direct updates by a viewer or a stranger change nothing');

/** Comments */

select pg_temp.act('viewer');
select pg_temp.keep('t_viewer', api.create_flow_comment(pg_temp.id('f1'), ' Looks good ', '{"x": 12.5, "y": -3}'));
select is(pg_temp.got('t_viewer') - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('flow_id', pg_temp.id('f1'), 'user_id', pg_temp.id('viewer'), 'parent_id', null, 'content', 'Looks good',
    'position', '{"x": 12.5, "y": -3}'::jsonb, 'node_id', null, 'resolved_at', null, 'resolved_by', null),
  'a viewer starts a thread at a point of the canvas');
select pg_temp.act('stranger');
select throws_ok(format('select api.create_flow_comment(%L, %L)', pg_temp.id('f1'), 'hi'), 'PT404', 'flow not found',
  'a stranger cannot comment');
select throws_ok(format('select api.list_flow_comments(%L)', pg_temp.id('f1')), 'PT404', 'flow not found',
  'nor read the comments');
select is(pg_temp.seen('flow_comments', 'f1'), 0::bigint, 'nor see any comment row');

select pg_temp.act('member');
select pg_temp.keep('r_member', api.create_flow_comment(pg_temp.id('f1'), 'thanks', p_parent_id => pg_temp.id('t_viewer')));
select is(pg_temp.got('r_member') ->> 'parent_id', pg_temp.id('t_viewer')::text, 'a member replies to the thread');
select throws_ok(format('select api.create_flow_comment(%L, %L, p_parent_id => %L)', pg_temp.id('f1'), 'deeper', pg_temp.id('r_member')),
  'PT400', 'replies are one level deep: reply to the first comment of the thread', 'a reply to a reply is refused');
select throws_ok(format($$ select api.create_flow_comment(%L, 'x', '{"x": 1, "y": 1}', p_parent_id => %L) $$, pg_temp.id('f1'),
  pg_temp.id('t_viewer')), 'PT400', null, 'a reply with a position of its own is refused');
select throws_ok(format('select api.create_flow_comment(%L, %L, p_parent_id => %L)', pg_temp.id('f2'), 'x', pg_temp.id('t_viewer')),
  'PT404', null, 'a reply on another flow is refused (the member is not in that one)');
select throws_ok(format('select api.create_flow_comment(%L, %L, p_node_id => %L)', pg_temp.id('f1'), 'x', 'c'),
  'PT400', 'node_id is not a node of this flow', 'a comment on a node that is not there is refused');
select throws_ok(format($$ select api.create_flow_comment(%L, 'x', '{"x": 1, "y": 1}', 'a') $$, pg_temp.id('f1')),
  'PT400', 'a comment sits at a position or on a node, not both', 'a position and a node at once are refused');
select throws_ok(format($$ select api.create_flow_comment(%L, 'x', '{"x": 1}') $$, pg_temp.id('f1')),
  'PT400', null, 'half a position is refused');
select throws_ok(format('select api.create_flow_comment(%L, %L)', pg_temp.id('f1'), repeat('x', 5001)),
  'PT400', 'content must be 1 to 5000 characters', 'a comment over its length is refused');
select pg_temp.keep('t_member', api.create_flow_comment(pg_temp.id('f1'), 'on a', p_node_id => 'a'));

-- The rules hold for a write straight into the table too.
select pg_temp.act('viewer');
select throws_ok(format($$ insert into public.flow_comments (flow_id, user_id, parent_id, content) values (%L, %L, %L, 'deep') $$,
    pg_temp.id('f1'), pg_temp.id('viewer'), pg_temp.id('r_member')), 'PT400', null,
  'a reply to a reply inserted straight into the table is refused');
select throws_ok(format($$ insert into public.flow_comments (flow_id, user_id, content) values (%L, %L, 'as you') $$,
    pg_temp.id('f1'), pg_temp.id('member')), '42501', null, 'nobody comments as someone else');

-- Editing: the author only.
select is(api.update_flow_comment(pg_temp.id('f1'), pg_temp.id('t_viewer'), 'Looks great') ->> 'content', 'Looks great',
  'the author edits their comment');
select pg_temp.act('admin');
select throws_ok(format('select api.update_flow_comment(%L, %L, %L)', pg_temp.id('f1'), pg_temp.id('t_viewer'), 'mine now'),
  'PT403', 'only its author can edit a comment', 'an admin cannot edit someone else''s words');
update public.flow_comments set content = 'mine now' where id = pg_temp.id('t_viewer');
select is((select content from public.flow_comments where id = pg_temp.id('t_viewer')), 'Looks great',
  'not even straight in the table');
select throws_ok(format('update public.flow_comments set resolved_at = now() where id = %L', pg_temp.id('t_viewer')),
  '42501', null, 'resolution is not written straight into the table');

-- Resolving: the thread's author, or a member and up.
select pg_temp.act('viewer');
select is(api.resolve_flow_comment(pg_temp.id('f1'), pg_temp.id('t_viewer'), true) ->> 'resolved_by', pg_temp.id('viewer')::text,
  'a viewer resolves their own thread');
select throws_ok(format('select api.resolve_flow_comment(%L, %L, true)', pg_temp.id('f1'), pg_temp.id('t_member')),
  'PT403', 'requires the member role to resolve another user''s thread', 'but not someone else''s');
select throws_ok(format('select api.resolve_flow_comment(%L, %L, true)', pg_temp.id('f1'), pg_temp.id('r_member')),
  'PT400', null, 'a reply is not resolved on its own');
select pg_temp.act('member');
select is(api.resolve_flow_comment(pg_temp.id('f1'), pg_temp.id('t_viewer'), true) ->> 'resolved_by', pg_temp.id('viewer')::text,
  'resolving a resolved thread keeps who resolved it');
select is(api.resolve_flow_comment(pg_temp.id('f1'), pg_temp.id('t_viewer'), false) -> 'resolved_at', 'null'::jsonb,
  'a member reopens someone else''s thread');
select is(api.resolve_flow_comment(pg_temp.id('f1'), pg_temp.id('t_viewer'), true) ->> 'resolved_by', pg_temp.id('member')::text,
  'and resolves it');
select pg_temp.act('stranger');
select throws_ok(format('select api.resolve_flow_comment(%L, %L, false)', pg_temp.id('f1'), pg_temp.id('t_viewer')),
  'PT404', null, 'a stranger cannot reopen it');

-- Listing: threads newest first with their replies, by resolution. (One transaction has
-- one now(): the comments are spread out in time here.)
reset role;
update public.flow_comments set created_at = now() - case id
  when pg_temp.id('on_c') then interval '3 minutes' when pg_temp.id('t_viewer') then interval '2 minutes'
  when pg_temp.id('r_member') then interval '90 seconds' else interval '1 minute' end
where flow_id = pg_temp.id('f1');
set local role authenticated;
select pg_temp.act('viewer');
select is((select jsonb_agg(jsonb_build_array(t ->> 'content', jsonb_array_length(t -> 'replies')))
           from jsonb_array_elements(api.list_flow_comments(pg_temp.id('f1')) -> 'items') t),
  '[["on a", 0], ["Looks great", 1], ["why c?", 0]]'::jsonb, 'threads come newest first with their replies');
select is((select jsonb_agg(t ->> 'content') from jsonb_array_elements(api.list_flow_comments(pg_temp.id('f1'), true) -> 'items') t),
  '["Looks great"]'::jsonb, 'resolved=true lists the resolved threads');
select is(jsonb_array_length(api.list_flow_comments(pg_temp.id('f1'), false) -> 'items'), 2, 'resolved=false the open ones');
select is(api.list_flow_comments(pg_temp.id('f1'), null, 2) -> 'next_cursor' ->> 'id', pg_temp.id('t_viewer')::text,
  'a page ends with a cursor at its last thread');

-- Deleting: the author, or an admin; a thread takes its replies.
select throws_ok(format('select api.delete_flow_comment(%L, %L)', pg_temp.id('f1'), pg_temp.id('t_member')),
  'PT403', 'only its author or an admin of the flow can delete a comment', 'a viewer cannot delete someone else''s comment');
select pg_temp.act('member');
select is(api.delete_flow_comment(pg_temp.id('f1'), pg_temp.id('t_member')) ->> 'id', pg_temp.id('t_member')::text,
  'the author deletes their comment');
select pg_temp.act('admin');
select is(api.delete_flow_comment(pg_temp.id('f1'), pg_temp.id('t_viewer')) ->> 'id', pg_temp.id('t_viewer')::text,
  'an admin deletes someone else''s thread');
select is((select count(*) from public.flow_comments where id in (pg_temp.id('t_viewer'), pg_temp.id('r_member'))), 0::bigint,
  'and its replies go with it');

/** The owner, and a plain member and viewer through a workspace */

select pg_temp.act('owner');
select is(api.save_flow(pg_temp.id('f1'), 3, pg_temp.got('g1')) ->> 'version', '4', 'the owner saves the graph');
select is(api.update_flow(pg_temp.id('f1'), '{"description": "again"}') ->> 'description', 'again', 'and describes the flow');
select pg_temp.act('wsadmin');
select pg_temp.keep('f3', api.create_flow('Admin''s team flow', null, pg_temp.id('ws')));
select pg_temp.act('wsmember');
select is(pg_temp.role_of('wsmember', 'f3'), 'member', 'a workspace member is a member of a flow someone else made there');
select is(api.save_flow(pg_temp.id('f3'), 1, pg_temp.got('g1')) ->> 'version', '2', 'and saves its graph');
select throws_ok(format('select api.delete_flow(%L)', pg_temp.id('f3')), 'PT403', null, 'but cannot delete it');
select pg_temp.act('wsviewer');
select is(api.create_flow_comment(pg_temp.id('f3'), 'nice', p_node_id => 'b') ->> 'node_id', 'b',
  'a workspace viewer comments on its node');
select pg_temp.act('stranger');
select is(pg_temp.seen('flow_nodes', 'f3') + pg_temp.seen('flow_comments', 'f3'), 0::bigint,
  'a stranger sees nothing of the workspace''s flow');

/** A removed member, a deleted flow */

reset role;
delete from public.memberships where resource_id = pg_temp.id('f1') and user_id = pg_temp.id('viewer');
set local role authenticated;
select pg_temp.act('viewer');
select throws_ok(format('select api.get_flow(%L)', pg_temp.id('f1')), 'PT404', null, 'a removed viewer loses the flow at once');
select is(pg_temp.seen('flow_nodes', 'f1') + pg_temp.seen('flow_comments', 'f1'), 0::bigint, 'and its rows');
select throws_ok(format('select api.delete_flow_comment(%L, %L)', pg_temp.id('f1'), pg_temp.id('on_c')), 'PT404', null,
  'and cannot delete their old comment');

select pg_temp.act('member');
select throws_ok(format('select api.delete_flow(%L)', pg_temp.id('f1')), 'PT403', null, 'a member cannot delete the flow');
select pg_temp.act('admin');
select is(api.delete_flow(pg_temp.id('f1')) ->> 'id', pg_temp.id('f1')::text, 'an admin deletes it');
select pg_temp.act('owner');
select throws_ok(format('select api.get_flow(%L)', pg_temp.id('f1')), 'PT404', null, 'it is gone, even for its owner');
select is(api.list_flows() -> 'items', '[]'::jsonb, 'from their list');
select is(pg_temp.seen('flows', 'f1') + pg_temp.seen('flow_nodes', 'f1') + pg_temp.seen('flow_edges', 'f1')
    + pg_temp.seen('flow_comments', 'f1'), 0::bigint, 'with every row of it');
select throws_ok(format('select api.save_flow(%L, 4, %L)', pg_temp.id('f1'), pg_temp.got('g1')), 'PT404', null,
  'and nothing saves to it');
select throws_ok(format('select api.create_invitation(%L)', pg_temp.id('f1')), 'PT404', 'resource not found',
  'nor is it shared any more');
select throws_ok(format('select api.list_members(%L)', pg_temp.id('f1')), 'PT404', 'resource not found',
  'nor are its members listed');
select pg_temp.act('wsowner');
select is(api.delete_flow(pg_temp.id('f2')) ->> 'id', pg_temp.id('f2')::text, 'the workspace''s owner deletes a workspace flow');

/** The policies' helper runs once per statement, and the index answers it */

reset role;
insert into public.flows (user_id, name) select pg_temp.id('stranger'), 'bulk ' || i from generate_series(1, 100) i;
insert into public.flow_nodes (flow_id, id, ordinal, position_x, position_y)
select f.id, 'n' || i, i, 0, 0 from public.flows f cross join generate_series(1, 100) i where f.name like 'bulk %';
analyze public.flows;
analyze public.flow_nodes;
create function pg_temp.plan(p_sql text) returns text language plpgsql as $$
declare
  v json;
begin
  execute 'explain (format json) ' || p_sql into v;
  return v::text;
end
$$;
set local role authenticated;
select pg_temp.act('wsmember');
select ok(pg_temp.plan('select * from public.flow_nodes where position_x >= 0') ~ '"Subplan Name": "InitPlan',
  'over 10,000 nodes, my_flow_ids runs as an InitPlan, once per statement');
select ok(pg_temp.plan('select * from public.flow_nodes where position_x >= 0') ~ '"Index Name": "flow_nodes_pkey"',
  'and the primary key''s index finds the caller''s flows'' nodes');
select is((select count(*) from public.flow_nodes), 3::bigint, 'of which a workspace member sees their 3');

select * from finish();
rollback;
