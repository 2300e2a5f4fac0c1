-- Projects: a stranger, a viewer, a member, an admin and the owner, directly and through a
-- workspace, each doing exactly what the role allows on projects, shots (gap-free order,
-- one row per move), shot generations (003's nullable position, never a generation the
-- caller cannot attach), components (version check), recordings (the upload's project
-- layout), prompt history and 004's four functions (soft delete hides every child, duplicate
-- copies nothing of someone else's, the quota); and the policies' membership helper run
-- once per statement over an index on 10,000 shots.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(141);

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
-- Acts as one of the named users for the rest of the transaction (until reset role).
create function pg_temp.login(p_name text) returns void language plpgsql as $$
begin
  perform set_config('request.jwt.claims',
    json_build_object('sub', pg_temp.id(p_name), 'role', 'authenticated')::text, true);
  perform set_config('role', 'authenticated', true);
end
$$;
create function pg_temp.keep(p_name text, p_value jsonb) returns jsonb language sql as $$
  insert into got values (p_name, p_value) on conflict (name) do update set v = excluded.v returning v
$$;
-- A project's shots as 'name@position' in order.
create function pg_temp.order_of(p_project uuid) returns text language sql as $$
  select string_agg((s ->> 'name') || '@' || (s ->> 'position'), ' ' order by (s ->> 'position')::int)
  from jsonb_array_elements(api.list_shots(p_project) -> 'items') s
$$;
-- A shot's generations as their names (ids table) in the list's order, with positions.
create function pg_temp.links_of(p_project uuid, p_shot uuid, p_unpositioned boolean default null) returns text
language sql as $$
  select coalesce(string_agg(i.name || '@' || coalesce(l ->> 'position', '-'), ' ' order by n), '')
  from jsonb_array_elements(api.list_shot_generations(p_project, p_shot, p_unpositioned) -> 'items')
    with ordinality a (l, n)
  join ids i on i.id = (l ->> 'generation_id')::uuid
$$;

insert into ids values
  ('o', '21000000-0000-4000-8000-000000000001'), ('a', '21000000-0000-4000-8000-000000000002'),
  ('m', '21000000-0000-4000-8000-000000000003'), ('v', '21000000-0000-4000-8000-000000000004'),
  ('s', '21000000-0000-4000-8000-000000000005'), ('wo', '21000000-0000-4000-8000-000000000006'),
  ('wa', '21000000-0000-4000-8000-000000000007'), ('wm', '21000000-0000-4000-8000-000000000008'),
  ('wv', '21000000-0000-4000-8000-000000000009'), ('d', '21000000-0000-4000-8000-00000000000a'),
  ('q', '21000000-0000-4000-8000-00000000000b'), ('ad', '21000000-0000-4000-8000-00000000000c'),
  ('W', '21000000-0000-4000-8000-0000000000f0');
insert into auth.users (id, email) select id, name || '.projects@example.test' from ids where name <> 'W';
update public.profiles set role = 'admin' where id = pg_temp.id('ad');

-- Workspace W: wo owns it, wa admin, wm member, wv viewer.
insert into public.workspaces (id, name, slug, created_by) values (pg_temp.id('W'), 'Studio', 'studio-21', pg_temp.id('wo'));
insert into public.memberships (resource_id, resource_type, user_id, role)
select pg_temp.id('W'), 'workspace', pg_temp.id(u), r from (values ('wa', 'admin'), ('wm', 'member'), ('wv', 'viewer')) x (u, r);

-- Generations: each user's own, and one of W's.
insert into public.generations (id, user_id, workspace_id, kind, action, model, prompt, route, pricing_id, units, status, outputs)
select g.id::uuid, pg_temp.id(g.owner), case when g.ws then pg_temp.id('W') end, 'image', 'generate', 'flux-schnell',
  g.prompt, 'provider', (select id from public.pricing where model = 'flux-schnell' order by active_from desc limit 1), 1,
  'succeeded', jsonb_build_object('urls', jsonb_build_array('https://example.test/' || g.name || '.png'))
from (values
  ('gm1', 'm', false, 'a fox', '21000000-0000-4000-8000-0000000000a1'),
  ('gm2', 'm', false, 'a hare', '21000000-0000-4000-8000-0000000000a2'),
  ('gm3', 'm', false, 'an owl', '21000000-0000-4000-8000-0000000000a3'),
  ('go1', 'o', false, 'a lighthouse', '21000000-0000-4000-8000-0000000000a4'),
  ('gs1', 's', false, 'a secret', '21000000-0000-4000-8000-0000000000a5'),
  ('gw1', 'wo', true, 'a team logo', '21000000-0000-4000-8000-0000000000a6')
) g (name, owner, ws, prompt, id);
insert into ids select g.name, g.id::uuid from (values
  ('gm1', '21000000-0000-4000-8000-0000000000a1'), ('gm2', '21000000-0000-4000-8000-0000000000a2'),
  ('gm3', '21000000-0000-4000-8000-0000000000a3'), ('go1', '21000000-0000-4000-8000-0000000000a4'),
  ('gs1', '21000000-0000-4000-8000-0000000000a5'), ('gw1', '21000000-0000-4000-8000-0000000000a6')) g (name, id);

/** Projects: create, read, edit by role */

select pg_temp.login('o');
select pg_temp.keep('P1', api.create_project('Lighthouse film', 'a short', null, '{"fps": 24}', '{"zoom": 1}'));
insert into ids values ('P1', (pg_temp.got('P1') ->> 'id')::uuid);
select is(
  pg_temp.got('P1') - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('user_id', pg_temp.id('o'), 'workspace_id', null, 'name', 'Lighthouse film', 'description', 'a short',
    'settings', '{"fps": 24}'::jsonb, 'layout', '{"zoom": 1}'::jsonb, 'version', 1, 'order_version', 0, 'role', 'owner'),
  'a new project is its creator''s, who owns it'
);
reset role;
insert into public.memberships (resource_id, resource_type, user_id, role)
select pg_temp.id('P1'), 'project', pg_temp.id(u), r
from (values ('a', 'admin'), ('m', 'member'), ('v', 'viewer'), ('d', 'member')) x (u, r);
update public.profiles set is_active = false where id = pg_temp.id('d');

select pg_temp.login('s');
select throws_ok($$ select api.get_project(pg_temp.id('P1')) $$, 'PT404', 'project not found', 'a stranger cannot read a project');
select is((select count(*) from public.projects where id = pg_temp.id('P1')), 0::bigint, 'nor see it in the table');
select is(api.list_projects() -> 'items', '[]'::jsonb, 'nor in their list');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"settings": {}}') $$, 'PT404', 'project not found',
  'nor change it');

select pg_temp.login('v');
select is(api.get_project(pg_temp.id('P1')) ->> 'role', 'viewer', 'a viewer reads the project, with their role');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"settings": {"fps": 30}}') $$, 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot edit it');
update public.projects set settings = '{"hacked": true}' where id = pg_temp.id('P1');
select is(api.get_project(pg_temp.id('P1')) -> 'settings', '{"fps": 24}'::jsonb, 'not even through the table');

select pg_temp.login('m');
select is(api.update_project(pg_temp.id('P1'), '{"settings": {"fps": 30}, "layout": {"zoom": 2}, "version": 1}') - 'created_at' - 'updated_at' - 'id' - 'user_id',
  '{"workspace_id": null, "name": "Lighthouse film", "description": "a short", "settings": {"fps": 30}, "layout": {"zoom": 2},
    "version": 2, "order_version": 0, "role": "member"}'::jsonb,
  'a member edits settings and layout over the version they read, which moves on');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"layout": {"zoom": 3}, "version": 1}') $$, 'PT409',
  'the project was changed by someone else: its current version is 2', 'a stale version is refused with the current one');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"name": "Mine now"}') $$, 'PT403',
  'requires the admin role (yours: member)', 'a member cannot rename it');
select throws_ok($$ update public.projects set name = 'Mine now' where id = pg_temp.id('P1') $$, 'PT403',
  'requires the admin role (yours: member)', 'not even through the table');
select throws_ok($$ select api.soft_delete_project(pg_temp.id('P1'), pg_temp.id('m')) $$, 'PT403',
  'requires the admin role (yours: member)', 'a member cannot delete it');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"owner": "me"}') $$, 'PT400',
  'unknown field: owner (name, description, settings, layout and version can be sent)', 'an unknown field is refused');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"settings": [1]}') $$, 'PT400',
  'settings must be a JSON object of at most 65536 bytes', 'settings are a JSON object');

select pg_temp.login('a');
select is(api.update_project(pg_temp.id('P1'), '{"name": "Lighthouse", "description": null}') ->> 'name', 'Lighthouse',
  'an admin renames it');
select throws_ok($$ select api.soft_delete_project(pg_temp.id('P1'), pg_temp.id('o')) $$, 'PT403',
  'user_id must be the caller''s own id', 'soft_delete_project acts only for the caller');

select pg_temp.login('d');
select is(api.get_project(pg_temp.id('P1')) ->> 'role', 'member', 'a disabled member still reads');
select throws_ok($$ select api.update_project(pg_temp.id('P1'), '{"settings": {}}') $$, 'PT403', 'account is disabled',
  'and writes nothing');

/** A workspace's project */

select pg_temp.login('wv');
select throws_ok($$ select api.create_project('Ad', null, pg_temp.id('W')) $$, 'PT403',
  'requires the member role (yours: viewer)', 'a workspace viewer cannot create a project in it');
select pg_temp.login('s');
select throws_ok($$ select api.create_project('Ad', null, pg_temp.id('W')) $$, 'PT404', 'workspace not found',
  'a stranger cannot either, and learns nothing');
select throws_ok($$ insert into public.projects (user_id, workspace_id, name) values (pg_temp.id('s'), pg_temp.id('W'), 'Ad') $$,
  '42501', null, 'not even through the table');
select pg_temp.login('wm');
select pg_temp.keep('P2', api.create_project('Ad', null, pg_temp.id('W')));
insert into ids values ('P2', (pg_temp.got('P2') ->> 'id')::uuid);
select is(pg_temp.got('P2') ->> 'role', 'owner', 'a workspace member creates a project in it and owns it');
select pg_temp.login('wv');
select is(jsonb_path_query_array(api.list_projects(pg_temp.id('W')), '$.items[*].role'), '["viewer"]'::jsonb,
  'a workspace viewer lists it as a viewer');
select throws_ok($$ select api.create_shot(pg_temp.id('P2'), 'Intro') $$, 'PT403', 'requires the member role (yours: viewer)',
  'and cannot add to it');
select pg_temp.login('wa');
select is(api.update_project(pg_temp.id('P2'), '{"name": "Advert"}') ->> 'role', 'admin', 'a workspace admin renames it');
select pg_temp.login('wo');
select is(api.get_project(pg_temp.id('P2')) ->> 'role', 'admin', 'the workspace''s owner is an admin of its projects');
select pg_temp.login('o');
select is(jsonb_array_length(api.list_projects(pg_temp.id('W')) -> 'items'), 0, 'an outsider lists none of the workspace''s');

/** Shots: gap-free order, one row per move, under the project's lock */

select pg_temp.login('m');
select pg_temp.keep('A', api.create_shot(pg_temp.id('P1'), 'A'));
select pg_temp.keep('B', api.create_shot(pg_temp.id('P1'), 'B', '{"duration": 3}'));
select pg_temp.keep('C', api.create_shot(pg_temp.id('P1'), 'C'));
select pg_temp.keep('D', api.create_shot(pg_temp.id('P1'), 'D', null, 0));
insert into ids select n, (pg_temp.got(n) ->> 'id')::uuid from unnest(array['A', 'B', 'C', 'D']) n;
select is(pg_temp.order_of(pg_temp.id('P1')), 'D@0 A@1 B@2 C@3', 'shots are appended, or put where asked, positions 0..n-1');
select is((pg_temp.got('D') ->> 'order_version')::int, 4, 'each change of the order has its serial number');

create temp table ranks_before as select id, rank from public.shots where project_id = pg_temp.id('P1');
grant all on ranks_before to public;
select is(api.move_shot(pg_temp.id('P1'), pg_temp.id('C'), 1) ->> 'position', '1', 'a member moves a shot');
select is(pg_temp.order_of(pg_temp.id('P1')), 'D@0 C@1 A@2 B@3', 'the others close up around it');
select is((select count(*) from public.shots s join ranks_before b on b.id = s.id where s.rank <> b.rank), 1::bigint,
  'a move rewrites one row');
select is(api.move_shot(pg_temp.id('P1'), pg_temp.id('D'), 3) ->> 'order_version', '6', 'to the end');
select is(pg_temp.order_of(pg_temp.id('P1')), 'C@0 A@1 B@2 D@3', 'the order after moving to the end');
select throws_ok($$ select api.move_shot(pg_temp.id('P1'), pg_temp.id('D'), 4) $$, 'PT400', 'position must be between 0 and 3',
  'a position past the end is refused');
select throws_ok($$ select api.move_shot(pg_temp.id('P1'), pg_temp.id('D'), -1) $$, 'PT400', 'position must be between 0 and 3',
  'a negative one too');

-- No gap left: the project's ranks are spread out again, once, and the move lands.
reset role;
update public.shots set rank = case name when 'C' then 1 when 'A' then 2 when 'B' then 3 else 4 end
where project_id = pg_temp.id('P1');
select pg_temp.login('m');
select is(api.move_shot(pg_temp.id('P1'), pg_temp.id('D'), 1) ->> 'position', '1', 'a move between adjacent ranks');
select is(pg_temp.order_of(pg_temp.id('P1')), 'C@0 D@1 A@2 B@3', 'lands after the ranks are spread');
select is((select count(distinct rank) from public.shots where project_id = pg_temp.id('P1')), 4::bigint, 'with no shared rank');

select is(api.update_shot(pg_temp.id('P1'), pg_temp.id('A'), '{"name": "Arrival"}') - 'created_at' - 'updated_at' - 'id'
    - 'created_by' - 'project_id',
  '{"name": "Arrival", "settings": {}, "position": 2}'::jsonb, 'a member renames a shot, which keeps its position');
select pg_temp.login('v');
select is(pg_temp.order_of(pg_temp.id('P1')), 'C@0 D@1 Arrival@2 B@3', 'a viewer reads the order');
select throws_ok($$ select api.move_shot(pg_temp.id('P1'), pg_temp.id('D'), 0) $$, 'PT403', 'requires the member role (yours: viewer)',
  'a viewer cannot move a shot');
select throws_ok($$ select api.delete_shot(pg_temp.id('P1'), pg_temp.id('D')) $$, 'PT403', 'requires the member role (yours: viewer)',
  'nor delete one');
select throws_ok($$ insert into public.shots (project_id, name, rank, created_by) values (pg_temp.id('P1'), 'X', 99, pg_temp.id('v')) $$,
  '42501', null, 'nor add one through the table');
update public.shots set rank = 0 where id = pg_temp.id('B');
select is(pg_temp.order_of(pg_temp.id('P1')), 'C@0 D@1 Arrival@2 B@3', 'nor reorder through the table');
select pg_temp.login('s');
select throws_ok($$ select api.list_shots(pg_temp.id('P1')) $$, 'PT404', 'project not found', 'a stranger cannot list the shots');
select throws_ok($$ select api.move_shot(pg_temp.id('P1'), pg_temp.id('D'), 0) $$, 'PT404', 'project not found',
  'nor move one');
select is((select count(*) from public.shots where project_id = pg_temp.id('P1')), 0::bigint, 'nor see them in the table');
select pg_temp.login('d');
select throws_ok($$ insert into public.shots (project_id, name, rank, created_by) values (pg_temp.id('P1'), 'X', 99, pg_temp.id('d')) $$,
  '42501', null, 'a disabled member cannot add a shot through the table');

/** Shot generations: 003's nullable position */

select pg_temp.login('m');
select is(api.attach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm1')) ->> 'position', null,
  'a member attaches their generation, unpositioned by default');
select is(api.attach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm2'), 0) ->> 'position', '0',
  'or at a position');
select is(api.attach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm3'), 0) ->> 'position', '0',
  'a later one can go before it');
select is(pg_temp.links_of(pg_temp.id('P1'), pg_temp.id('C')), 'gm3@0 gm2@1 gm1@-', 'positioned first, in order, then the rest');
select is(pg_temp.links_of(pg_temp.id('P1'), pg_temp.id('C'), true), 'gm1@-', 'the unpositioned filter (003''s Generations Pane)');
select is(pg_temp.links_of(pg_temp.id('P1'), pg_temp.id('C'), false), 'gm3@0 gm2@1', 'the editor''s view');
select throws_ok($$ select api.attach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm1')) $$, 'PT409',
  'the generation is attached to this shot already', 'a generation is attached to a shot once');
select throws_ok($$ select api.attach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gs1')) $$, 'PT404',
  'generation not found', 'a stranger''s generation cannot be attached');
select throws_ok($$ insert into public.shot_generations (shot_id, project_id, generation_id, added_by)
  values (pg_temp.id('C'), pg_temp.id('P1'), pg_temp.id('gs1'), pg_temp.id('m')) $$, '42501', null,
  'not even through the table');
select throws_ok($$ insert into public.shot_generations (shot_id, project_id, generation_id, added_by)
  values (pg_temp.id('C'), pg_temp.id('P2'), pg_temp.id('gm1'), pg_temp.id('m')) $$, '42501', null,
  'nor into a project of which they are no member');
select is(api.position_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm1'), 1) ->> 'position', '1',
  'an unpositioned generation is put into the editor');
select is(pg_temp.links_of(pg_temp.id('P1'), pg_temp.id('C')), 'gm3@0 gm1@1 gm2@2', 'between the others');
select is(api.position_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm3'), null) ->> 'position', null,
  'a positioned one is unpositioned');
select is(pg_temp.links_of(pg_temp.id('P1'), pg_temp.id('C')), 'gm1@0 gm2@1 gm3@-', 'and the positions close up');
select throws_ok($$ select api.position_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm3'), 5) $$, 'PT400',
  'position must be between 0 and 2, or null', 'a position past the end is refused');

select pg_temp.login('o');
select is(api.attach_generation(pg_temp.id('P1'), pg_temp.id('D'), pg_temp.id('go1'), 0) ->> 'position', '0',
  'the owner attaches theirs to another shot');
select pg_temp.login('v');
select is(jsonb_path_query_array(api.list_shot_generations(pg_temp.id('P1'), pg_temp.id('C')), '$.items[*].generation.prompt'),
  '["a fox", "a hare", "an owl"]'::jsonb, 'a viewer sees what the shots show, whoever made it');
select throws_ok($$ select api.attach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm1')) $$, 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot attach');
select throws_ok($$ select api.detach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm1')) $$, 'PT403',
  'requires the member role (yours: viewer)', 'nor detach');
select pg_temp.login('s');
select throws_ok($$ select api.list_shot_generations(pg_temp.id('P1'), pg_temp.id('C')) $$, 'PT404', 'shot not found',
  'a stranger cannot list a shot''s generations');
select is((select count(*) from public.generations where id in (pg_temp.id('gm1'), pg_temp.id('go1'))), 0::bigint,
  'nor see the generations in them');
select pg_temp.login('m');
select is(api.detach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm2')) ->> 'generation_id', pg_temp.id('gm2')::text,
  'a member detaches one');
select is(pg_temp.links_of(pg_temp.id('P1'), pg_temp.id('C')), 'gm1@0 gm3@-', 'the others keep their order');
select throws_ok($$ select api.detach_generation(pg_temp.id('P1'), pg_temp.id('C'), pg_temp.id('gm2')) $$, 'PT404',
  'the generation is not attached to this shot', 'twice is not found');

-- The workspace's generation goes into the workspace's project.
select pg_temp.login('wm');
select pg_temp.keep('S2', api.create_shot(pg_temp.id('P2'), 'Logo'));
select is(api.attach_generation(pg_temp.id('P2'), (pg_temp.got('S2') ->> 'id')::uuid, pg_temp.id('gw1'), 0) ->> 'position', '0',
  'a workspace member attaches a workspace generation');

/** Components: optimistic versions */

select pg_temp.login('m');
select pg_temp.keep('K', api.create_component(pg_temp.id('P1'), '{"type": "text", "x": 10, "y": 20, "width": 100, "height": 40, "properties": {"text": "hi"}}'));
insert into ids values ('K', (pg_temp.got('K') ->> 'id')::uuid);
select is(pg_temp.got('K') ->> 'version', '1', 'a member adds a component at version 1');
select is(api.update_component(pg_temp.id('P1'), pg_temp.id('K'), 1, '{"x": 15.5, "z_index": 2}') - 'created_at' - 'updated_at'
    - 'id' - 'project_id' - 'created_by',
  '{"type": "text", "x": 15.5, "y": 20, "width": 100, "height": 40, "z_index": 2, "properties": {"text": "hi"}, "version": 2}'::jsonb,
  'a save over the version read lands and moves it on');
select throws_ok($$ select api.update_component(pg_temp.id('P1'), pg_temp.id('K'), 1, '{"x": 0}') $$, 'PT409',
  'the component was changed by someone else: its current version is 2', 'a save over a stale version is refused');
select is(api.list_components(pg_temp.id('P1')) #>> '{items,0,x}', '15.5', 'and changed nothing');
select throws_ok($$ select api.update_component(pg_temp.id('P1'), pg_temp.id('K'), 2, '{"x": "left"}') $$, 'PT400',
  'x must be a number between -1e9 and 1e9', 'a coordinate is a number');
select throws_ok($$ select api.update_component(pg_temp.id('P1'), pg_temp.id('K'), 2, '{"colour": "red"}') $$, 'PT400',
  'unknown field: colour (type, x, y, width, height, z_index and properties can be set)', 'an unknown field is refused');
select throws_ok($$ select api.create_component(pg_temp.id('P1'), '{"type": "box", "width": -1}') $$, 'PT400',
  'width must be a number between 0 and 1e9', 'a size is not negative');
select pg_temp.login('v');
select is(jsonb_array_length(api.list_components(pg_temp.id('P1')) -> 'items'), 1, 'a viewer reads the components');
select throws_ok($$ select api.update_component(pg_temp.id('P1'), pg_temp.id('K'), 2, '{"x": 0}') $$, 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot save one');
update public.project_components set x = 0 where id = pg_temp.id('K');
select is(api.list_components(pg_temp.id('P1')) #>> '{items,0,version}', '2', 'not even through the table');
select pg_temp.login('s');
select throws_ok($$ select api.list_components(pg_temp.id('P1')) $$, 'PT404', 'project not found', 'a stranger cannot read them');
select throws_ok($$ select api.delete_component(pg_temp.id('P1'), pg_temp.id('K')) $$, 'PT404', 'project not found',
  'nor delete one');

/** Recordings: 004's layout */

select pg_temp.login('m');
select pg_temp.keep('U', api.create_upload('audio_recording', 'audio/webm', 2048, '../My Take!.webm', pg_temp.id('P1')));
select matches(pg_temp.got('U') ->> 'path', '^' || pg_temp.id('m') || '/' || pg_temp.id('P1') || '/[0-9]{13}_My_Take\.weba$',
  'a member''s recording upload goes to {user_id}/{project_id}/{timestamp}_{filename}');
select throws_ok($$ select api.create_upload('document', 'text/plain', 10, null, pg_temp.id('P1')) $$, 'PT400',
  'project_id is only for audio_recording uploads', 'only recordings take a project');
select throws_ok($$ select api.create_recording(pg_temp.id('P1'), (pg_temp.got('U') ->> 'upload_id')::uuid) $$, 'PT409',
  'the upload''s file has not arrived yet', 'a recording is registered once its file arrived');
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
values ('audio-recordings', pg_temp.got('U') ->> 'path', pg_temp.id('m'), '{"size": 2000, "mimetype": "audio/webm"}');
select pg_temp.login('m');
select is(api.create_recording(pg_temp.id('P1'), (pg_temp.got('U') ->> 'upload_id')::uuid, null, 12.5)
    - 'id' - 'created_at' - 'path' - 'upload_id',
  jsonb_build_object('project_id', pg_temp.id('P1'), 'user_id', pg_temp.id('m'), 'name', 'My Take!.webm',
    'duration_seconds', 12.5, 'bucket', 'audio-recordings', 'content_type', 'audio/webm', 'bytes', 2000),
  'then it is the project''s, named after the upload, sized as stored');
select throws_ok($$ select api.create_recording(pg_temp.id('P1'), (pg_temp.got('U') ->> 'upload_id')::uuid) $$, 'PT409',
  'this upload is a recording already', 'an upload is registered once');
select pg_temp.keep('U0', api.create_upload('audio_recording', 'audio/webm', 10, 'loose.webm'));
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
values ('audio-recordings', pg_temp.got('U0') ->> 'path', pg_temp.id('m'), '{"size": 10}');
select pg_temp.login('m');
select throws_ok($$ select api.create_recording(pg_temp.id('P1'), (pg_temp.got('U0') ->> 'upload_id')::uuid) $$, 'PT400',
  'upload_id must be an audio_recording upload made for this project', 'an upload made for no project is not a recording of it');
select pg_temp.login('o');
select throws_ok($$ select api.create_recording(pg_temp.id('P1'), (pg_temp.got('U') ->> 'upload_id')::uuid) $$, 'PT404',
  'upload not found', 'nor is another member''s upload the owner''s');
select pg_temp.login('v');
select throws_ok($$ select api.create_upload('audio_recording', 'audio/webm', 10, null, pg_temp.id('P1')) $$, 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot record into the project');
select is(jsonb_array_length(api.list_recordings(pg_temp.id('P1')) -> 'items'), 1, 'a viewer lists the recordings');
select is((select count(*)::int from storage.objects where bucket_id = 'audio-recordings'
           and name = pg_temp.got('U') ->> 'path'), 1, 'and can read (sign) a member''s recording file');
select throws_ok($$ select api.delete_recording(pg_temp.id('P1'), (select id from public.audio_recordings limit 1)) $$, 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot remove one');
select pg_temp.login('s');
select throws_ok($$ select api.create_upload('audio_recording', 'audio/webm', 10, null, pg_temp.id('P1')) $$, 'PT404',
  'project not found', 'a stranger cannot record into it');
select throws_ok($$ select api.list_recordings(pg_temp.id('P1')) $$, 'PT404', 'project not found', 'nor list its recordings');
select is((select count(*)::int from storage.objects where bucket_id = 'audio-recordings'
           and name = pg_temp.got('U') ->> 'path'), 0, 'nor read their files');

/** Prompt history */

select pg_temp.login('m');
select is(api.create_prompt_generation(pg_temp.id('P1'), 'a fox at dawn', 'flux-schnell', '{"steps": 4}', pg_temp.id('gm1'))
    ->> 'generation_id', pg_temp.id('gm1')::text, 'a member records a prompt with the generation it made');
select throws_ok($$ select api.create_prompt_generation(pg_temp.id('P1'), 'theirs', null, null, pg_temp.id('gs1')) $$, 'PT404',
  'generation not found', 'never with a generation they cannot attach');
select pg_temp.login('o');
select is(api.create_prompt_generation(pg_temp.id('P1'), 'a lighthouse at night', 'flux-schnell', null, pg_temp.id('go1'))
    ->> 'prompt', 'a lighthouse at night', 'the owner records theirs');
select pg_temp.login('v');
select is(jsonb_path_query_array(api.list_prompt_generations(pg_temp.id('P1')), '$.items[*].prompt'),
  '["a lighthouse at night", "a fox at dawn"]'::jsonb, 'a viewer reads the history, newest first');
select throws_ok($$ select api.create_prompt_generation(pg_temp.id('P1'), 'mine', null, null, null) $$, 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot add to it');
select pg_temp.login('s');
select throws_ok($$ select api.list_prompt_generations(pg_temp.id('P1')) $$, 'PT404', 'project not found',
  'a stranger cannot read it');

/** duplicate_project: what 004 copies, nothing of someone else's */

select pg_temp.login('m');
select throws_ok($$ select api.duplicate_project(pg_temp.id('P1'), pg_temp.id('o')) $$, 'PT403',
  'user_id must be the caller''s own id', 'duplicate_project acts only for the caller');
select pg_temp.keep('P3', api.duplicate_project(pg_temp.id('P1'), pg_temp.id('m')));
insert into ids values ('P3', (pg_temp.got('P3') ->> 'id')::uuid);
select is(pg_temp.got('P3') - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('user_id', pg_temp.id('m'), 'workspace_id', null, 'name', 'Lighthouse (copy)', 'description', null,
    'settings', '{"fps": 30}'::jsonb, 'layout', '{"zoom": 2}'::jsonb, 'version', 1, 'order_version', 0, 'role', 'owner'),
  'the copy is the caller''s, with the source''s settings and layout');
select is(pg_temp.order_of(pg_temp.id('P3')), 'C@0 D@1 Arrival@2 B@3', 'its shots in the same order');
select is((select string_agg(i.name || '@' || case when sg.rank is null then '-' else 'positioned' end, ' ' order by i.name)
   from public.shot_generations sg join ids i on i.id = sg.generation_id where sg.project_id = pg_temp.id('P3')),
  'gm1@positioned gm3@-', 'the links to the caller''s own generations, positioned or not');
select is((select count(*) from public.shot_generations where project_id = pg_temp.id('P3') and generation_id = pg_temp.id('go1')),
  0::bigint, 'never a link to someone else''s generation seen only through the source');
select is((select count(*) from public.project_components where project_id = pg_temp.id('P3') and x = 15.5 and version = 1),
  1::bigint, 'its components, at a fresh version');
select is(jsonb_path_query_array(api.list_prompt_generations(pg_temp.id('P3')), '$.items[*].generation_id'),
  jsonb_build_array(null, pg_temp.id('gm1')), 'its prompt history, keeping only the caller''s generations');
select is((select count(*) from public.audio_recordings where project_id = pg_temp.id('P3')), 0::bigint, 'no recordings');
reset role;
select is((select array_agg(user_id::text || ':' || role) from public.memberships where resource_id = pg_temp.id('P3')),
  array[pg_temp.id('m')::text || ':owner'], 'and no one else''s membership');
select pg_temp.login('s');
select throws_ok($$ select api.duplicate_project(pg_temp.id('P1'), pg_temp.id('s')) $$, 'PT404', 'project not found',
  'a stranger cannot duplicate it');
select pg_temp.login('wm');
select is(api.duplicate_project(pg_temp.id('P2'), pg_temp.id('wm'), 'Advert v2') ->> 'workspace_id', pg_temp.id('W')::text,
  'a workspace member''s copy stays in the workspace');

/** soft_delete_project hides the project and every child at once */

select pg_temp.login('a');
select is(api.soft_delete_project(pg_temp.id('P1'), pg_temp.id('a')) ->> 'id', pg_temp.id('P1')::text, 'an admin deletes it');
select pg_temp.login('o');
select throws_ok($$ select api.get_project(pg_temp.id('P1')) $$, 'PT404', 'project not found', 'gone for its owner too');
select is(jsonb_path_query_array(api.list_projects(), '$.items[*].name'), '[]'::jsonb, 'from their list');
select is((select count(*) from public.shots where project_id = pg_temp.id('P1'))
  + (select count(*) from public.shot_generations where project_id = pg_temp.id('P1'))
  + (select count(*) from public.project_components where project_id = pg_temp.id('P1'))
  + (select count(*) from public.audio_recordings where project_id = pg_temp.id('P1'))
  + (select count(*) from public.prompt_generations where project_id = pg_temp.id('P1')), 0::bigint,
  'and every child with it');
select is((select count(*) from public.generations where id = pg_temp.id('gm1')), 0::bigint,
  'the generations its shots showed are no longer shared through it');
select throws_ok($$ select api.list_shots(pg_temp.id('P1')) $$, 'PT404', 'project not found', 'its shots are not found');
select pg_temp.login('m');
select is(pg_temp.order_of(pg_temp.id('P3')), 'C@0 D@1 Arrival@2 B@3', 'the copy lives on');

/** Removing a member ends their access at once */

reset role;
delete from public.memberships where resource_id = pg_temp.id('P3') and user_id = pg_temp.id('m');
insert into public.memberships (resource_id, resource_type, user_id, role) values (pg_temp.id('P3'), 'project', pg_temp.id('v'), 'owner');
select pg_temp.login('m');
select throws_ok($$ select api.list_shots(pg_temp.id('P3')) $$, 'PT404', 'project not found', 'a removed member sees nothing more');

/** Quota and stats */

select pg_temp.login('q');
select is(api.check_project_quota() - 'user_id', '{"projects": 0, "max": 100, "allowed": true}'::jsonb,
  'the plan''s quota, projects_per_user');
select is(api.check_project_quota(pg_temp.id('q'), 0) ->> 'allowed', 'false', 'a p_max only narrows it');
select is(api.check_project_quota(null, 1000) ->> 'max', '100', 'never raises it');
select throws_ok($$ select api.check_project_quota(pg_temp.id('m')) $$, 'PT403', 'user_id must be the caller''s own id',
  'check_project_quota answers only for the caller');
select lives_ok($$ select api.create_project('Q' || n) from generate_series(1, 100) n $$, 'a user creates up to their quota');
select throws_ok($$ select api.create_project('one more') $$, 'PT403',
  'project quota reached: you own 100 projects and projects_per_user allows 100', 'and no more, naming the limit');
select throws_ok($$ select api.duplicate_project((select id from public.projects where name = 'Q1'), pg_temp.id('q')) $$, 'PT403',
  'project quota reached: you own 100 projects and projects_per_user allows 100', 'a duplicate counts too');
select lives_ok($$ select api.soft_delete_project((select id from public.projects where name = 'Q1'), pg_temp.id('q'));
  select api.create_project('one more') $$, 'a deleted project frees its place');
select pg_temp.login('ad');
select is(api.check_project_quota() ->> 'max', null, 'admins have no quota');

select pg_temp.login('m');
select is(api.get_user_project_stats() - 'user_id' - 'last_updated_at',
  '{"projects": 0, "shared_projects": 0, "shots": 0, "shot_generations": 0, "components": 0, "recordings": 0,
    "recording_seconds": 0, "prompts": 0, "quota": {"max": 100, "remaining": 100}}'::jsonb,
  'the stats of a member who owns nothing');
select pg_temp.login('v');
select is(api.get_user_project_stats(pg_temp.id('v')) - 'user_id' - 'last_updated_at',
  '{"projects": 1, "shared_projects": 0, "shots": 4, "shot_generations": 2, "components": 1, "recordings": 0,
    "recording_seconds": 0, "prompts": 2, "quota": {"max": 100, "remaining": 99}}'::jsonb,
  'what the caller owns and holds');
select throws_ok($$ select api.get_user_project_stats(pg_temp.id('m')) $$, 'PT403', 'user_id must be the caller''s own id',
  'get_user_project_stats answers only for the caller');

/** The policies' helper runs once per statement, over an index (10,000 shots) */

-- 100 projects of 100 shots each, one of which is shared with the stranger.
reset role;
select set_config('request.jwt.claims', '', true);
insert into public.projects (id, user_id, name)
select ('21000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, pg_temp.id('ad'), 'bulk ' || n
from generate_series(4096, 4096 + 99) n;
insert into public.memberships (resource_id, resource_type, user_id, role)
values ('21000000-0000-4000-8000-000000001000', 'project', pg_temp.id('s'), 'viewer');
insert into public.shots (project_id, name, rank)
select ('21000000-0000-4000-8000-' || lpad(to_hex(4096 + n % 100), 12, '0'))::uuid, 'bulk', n
from generate_series(1, 10000) n;
analyze public.shots;
analyze public.projects;
select pg_temp.login('s');
create function pg_temp.plan_of(p_sql text) returns jsonb language plpgsql as $$
declare
  v json;
begin
  execute 'explain (format json) ' || p_sql into v;
  return v::jsonb;
end
$$;
select pg_temp.keep('plan', pg_temp.plan_of($$ select * from public.shots $$));
select ok(jsonb_path_exists(pg_temp.got('plan'), '$.** ? (@."Parent Relationship" == "InitPlan" || @."Subplan Name" starts with "InitPlan")'),
  'the shots policy computes the caller''s projects once, as an InitPlan');
select ok(jsonb_path_exists(pg_temp.got('plan'), '$.** ? (@."Index Name" == "shots_rank" && @."Index Cond" like_regex "InitPlan")')
    and not jsonb_path_exists(pg_temp.got('plan'), '$.** ? (@."Node Type" == "Seq Scan" && @."Relation Name" == "shots")')
    and not jsonb_path_exists(pg_temp.got('plan'), '$.** ? (@."Filter" like_regex "my_project_ids")'),
  'and finds their shots through the index with its result, not by calling it for each of 10,000 rows');
select is((select count(*) from public.shots), 100::bigint, 'the viewer of one project sees its 100 shots');

select * from finish();
rollback;
