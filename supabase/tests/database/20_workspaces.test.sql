-- Workspaces and the sharing model: what a stranger, a viewer, a member, an admin and the
-- owner may each do on workspaces, memberships, invitations and the workspace's credits;
-- the edge cases (the owner cannot leave, expired / used / revoked / other-email invites
-- refused, a removed member loses access at once, a viewer cannot spend); workspace
-- generations billed to the workspace with the member as actor; the books balanced; and
-- the membership policy evaluated once per statement over 10,000 rows.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(102);

insert into auth.users (id, email) values
  ('20000000-0000-4000-8000-0000000000a0', 'owner.ws@example.test'),
  ('20000000-0000-4000-8000-0000000000a1', 'admin.ws@example.test'),
  ('20000000-0000-4000-8000-0000000000a2', 'member.ws@example.test'),
  ('20000000-0000-4000-8000-0000000000a3', 'viewer.ws@example.test'),
  ('20000000-0000-4000-8000-0000000000a4', 'stranger.ws@example.test'),
  ('20000000-0000-4000-8000-0000000000a5', 'late.ws@example.test');
select private.change_credits('20000000-0000-4000-8000-0000000000a0', 'grant', 1000, 'test:grant', null, 'test');
select private.change_credits('20000000-0000-4000-8000-0000000000a2', 'grant', 1000, 'test:grant', null, 'test');
select private.change_credits('20000000-0000-4000-8000-0000000000a3', 'grant', 1000, 'test:grant', null, 'test');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.as_user(p_who text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', '20000000-0000-4000-8000-0000000000'
    || case p_who when 'owner' then 'a0' when 'admin' then 'a1' when 'member' then 'a2'
                  when 'viewer' then 'a3' when 'stranger' then 'a4' else 'a5' end, 'role', 'authenticated')::text, true)
$$;
insert into ids values
  ('owner', '20000000-0000-4000-8000-0000000000a0'), ('admin', '20000000-0000-4000-8000-0000000000a1'),
  ('member', '20000000-0000-4000-8000-0000000000a2'), ('viewer', '20000000-0000-4000-8000-0000000000a3'),
  ('stranger', '20000000-0000-4000-8000-0000000000a4'), ('late', '20000000-0000-4000-8000-0000000000a5');

/** The owner creates a workspace and invites */

set local role authenticated;
select pg_temp.as_user('owner');

insert into got select 'ws', api.create_workspace('Acme Studio');
insert into ids select 'ws', (pg_temp.got('ws') ->> 'id')::uuid;
select is(pg_temp.got('ws') - 'id' - 'created_at' - 'updated_at' - 'created_by',
  '{"name": "Acme Studio", "slug": "acme-studio", "role": "owner"}'::jsonb,
  'create_workspace: the slug comes from the name and the creator is the owner');
select is(api.create_workspace('Acme Studio') ->> 'slug', 'acme-studio-2', 'a taken derived slug gets a number');
select throws_ok($$ select api.create_workspace('Other', 'acme-studio') $$, 'PT409', 'slug acme-studio is taken',
  'a taken slug asked for is a conflict');
select throws_ok($$ select api.create_workspace('Bad', 'Not A Slug') $$, 'PT400',
  'slug must be 3 to 48 lowercase letters, digits and single hyphens', 'a malformed slug is refused');
select throws_ok($$ select api.create_workspace('  ') $$, 'PT400', 'name must be 1 to 100 characters',
  'a blank name is refused');
select is(api.get_workspace_credits(pg_temp.id('ws')) - 'entries' - 'next_before_id',
  '{"balance": 0, "held": 0, "available": 0}'::jsonb, 'a new workspace has its own empty credit account');

insert into got select 'inv_admin', api.create_invitation(pg_temp.id('ws'), 'admin');
insert into got select 'inv_member', api.create_invitation(pg_temp.id('ws'), 'member', null, 2);
insert into got select 'inv_viewer', api.create_invitation(pg_temp.id('ws'), 'viewer');
select is(pg_temp.got('inv_member') ->> 'status', 'open', 'an invitation starts open');
select ok(char_length(pg_temp.got('inv_member') ->> 'token') >= 32, 'its token is returned to the creator');
select ok(
  (select token_hash <> pg_temp.got('inv_member') ->> 'token'
   from public.invitations where id = (pg_temp.got('inv_member') ->> 'id')::uuid),
  'the table keeps a hash of the token, never the token');
select is((select count(*)::int from jsonb_array_elements(api.list_invitations(pg_temp.id('ws'))) e
           where e ? 'token'), 0, 'listing invitations never shows a token again');

/** Accepting */

select pg_temp.as_user('admin');
select is(api.accept_invitation(pg_temp.got('inv_admin') ->> 'token') - 'resource_id',
  '{"resource_type": "workspace", "role": "admin", "joined": true}'::jsonb, 'the admin joins by link');
select pg_temp.as_user('member');
select is(api.accept_invitation(pg_temp.got('inv_member') ->> 'token') ->> 'role', 'member', 'the member joins');
select pg_temp.as_user('viewer');
select is(api.accept_invitation(pg_temp.got('inv_viewer') ->> 'token') ->> 'role', 'viewer', 'the viewer joins');
select pg_temp.as_user('late');
select throws_ok(format('select api.accept_invitation(%L)', pg_temp.got('inv_viewer') ->> 'token'), 'PT410',
  'invitation has been used', 'a used single-use invitation is refused');
select throws_ok($$ select api.accept_invitation('0123456789abcdef0123456789abcdef') $$, 'PT404',
  'invitation not found', 'an unknown token is refused');
select throws_ok($$ select api.accept_invitation('short') $$, 'PT400',
  'token is not an invitation token', 'a malformed token is refused');

select pg_temp.as_user('member');
select is(api.accept_invitation(pg_temp.got('inv_member') ->> 'token') - 'resource_id',
  '{"resource_type": "workspace", "role": "member", "joined": false}'::jsonb,
  'accepting again as a member changes nothing');
reset role;
select is((select uses from public.invitations where id = (pg_temp.got('inv_member') ->> 'id')::uuid), 1,
  'and uses nothing up');
set local role authenticated;

/** A stranger sees and does nothing */

select pg_temp.as_user('stranger');
select throws_ok(format('select api.get_workspace(%L)', pg_temp.id('ws')), 'PT404', 'workspace not found',
  'a stranger cannot read the workspace');
select is(api.list_workspaces(), '[]'::jsonb, 'nor list it');
select is_empty($$ select 1 from public.workspaces $$, 'nor select it');
select is_empty($$ select 1 from public.memberships $$, 'nor its memberships');
select is_empty($$ select 1 from public.invitations $$, 'nor its invitations');
select is_empty(format('select 1 from public.credit_accounts where workspace_id = %L', pg_temp.id('ws')),
  'nor its credit account');
select throws_ok(format('select api.list_members(%L)', pg_temp.id('ws')), 'PT404', 'resource not found',
  'nor its members through the API');
select throws_ok(format('select api.create_invitation(%L)', pg_temp.id('ws')), 'PT404', 'resource not found',
  'nor invite');
select throws_ok(format('select api.fund_workspace(%L, 10, %L)', pg_temp.id('ws'), 'k'), 'PT404',
  'workspace not found', 'nor fund it');
select throws_ok(format($$ select api.create_generation('image', 'flux-schnell', 'a fox', '{}', null, %L) $$,
  pg_temp.id('ws')), 'PT404', 'workspace not found', 'nor spend its credits');
select throws_ok(format('select api.get_workspace_credits(%L)', pg_temp.id('ws')), 'PT404',
  'workspace not found', 'nor read its ledger');
select throws_ok(format('select api.leave(%L)', pg_temp.id('ws')), 'PT404', 'membership not found',
  'nor leave what they are not in');
select is(private.member_json(row(pg_temp.id('ws'), 'workspace', pg_temp.id('owner'), 'owner', null, null,
    '2026-01-01T00:00:00Z')::public.memberships) - 'joined_at',
  jsonb_build_object('user_id', pg_temp.id('owner'), 'role', 'owner', 'email', null, 'display_name', null),
  'a member whose profile the caller cannot read is still listed, without email or name');

/** The viewer reads and cannot spend or manage */

select pg_temp.as_user('viewer');
select is(api.get_workspace(pg_temp.id('ws')) ->> 'role', 'viewer', 'the viewer reads the workspace');
select is(jsonb_array_length(api.list_members(pg_temp.id('ws'))), 4, 'and its members');
select is(api.list_members(pg_temp.id('ws')) -> 0 ->> 'role', 'owner', 'owner first');
select throws_ok(format($$ select api.create_generation('image', 'flux-schnell', 'a fox', '{}', null, %L) $$,
  pg_temp.id('ws')), 'PT403', 'requires the member role (yours: viewer)', 'a viewer cannot spend workspace credits');
select throws_ok(format('select api.fund_workspace(%L, 10, %L)', pg_temp.id('ws'), 'k'), 'PT403',
  'requires the member role (yours: viewer)', 'nor fund it');
select throws_ok(format('select api.create_invitation(%L)', pg_temp.id('ws')), 'PT403',
  'requires the admin role (yours: viewer)', 'nor invite');
select throws_ok(format($$ select api.update_workspace(%L, '{"name": "Mine"}') $$, pg_temp.id('ws')), 'PT403',
  'requires the admin role (yours: viewer)', 'nor rename');
select throws_ok(format('select api.list_invitations(%L)', pg_temp.id('ws')), 'PT403',
  'requires the admin role (yours: viewer)', 'nor list invitations');

/** The member funds and spends; cannot manage */

select pg_temp.as_user('member');
select is(api.fund_workspace(pg_temp.id('ws'), 300, 'fund-1') - 'entries' - 'next_before_id',
  '{"balance": 300, "held": 0, "available": 300, "created": true}'::jsonb, 'a member funds the workspace');
select is(api.fund_workspace(pg_temp.id('ws'), 300, 'fund-1') ->> 'created', 'false', 'once per key');
select throws_ok(format('select api.fund_workspace(%L, 5, %L)', pg_temp.id('ws'), 'fund-1'), 'PT409',
  'idempotency key reused with a different payload', 'a key reused with another amount is a conflict');
select is(api.get_my_credits() ->> 'balance', '700', 'from their own account');
select throws_ok(format('select api.fund_workspace(%L, 100000, %L)', pg_temp.id('ws'), 'fund-2'), 'PT402',
  'insufficient credits: 100000 needed, 700 available', 'not beyond what they have');

insert into got select 'g_member', api.create_generation('image', 'flux-schnell', 'a red fox', '{"num_outputs": 2}',
  'ws-1', pg_temp.id('ws'));
insert into ids select 'g_member', (pg_temp.got('g_member') -> 'generation' ->> 'id')::uuid;
select is(api.get_workspace_credits(pg_temp.id('ws')) - 'entries' - 'next_before_id',
  '{"balance": 300, "held": 10, "available": 290}'::jsonb, 'a member''s workspace generation holds workspace credits');
select is(api.get_my_credits() - 'entries' - 'next_before_id', '{"balance": 700, "held": 0, "available": 700}'::jsonb,
  'not their own');
select is((select workspace_id from public.generations where id = pg_temp.id('g_member')), pg_temp.id('ws'),
  'the generation belongs to the workspace');
select throws_ok(format('select api.create_invitation(%L)', pg_temp.id('ws')), 'PT403',
  'requires the admin role (yours: member)', 'a member cannot invite');
select throws_ok(format('select api.remove_member(%L, %L)', pg_temp.id('ws'), pg_temp.id('viewer')), 'PT403',
  'requires the admin role (yours: member)', 'nor remove anyone');
select throws_ok(format('select api.delete_workspace(%L)', pg_temp.id('ws')), 'PT403',
  'requires the owner role (yours: member)', 'nor delete the workspace');

select pg_temp.as_user('viewer');
select is((select count(*)::int from public.generations where workspace_id = pg_temp.id('ws')), 1,
  'the viewer sees the member''s workspace generation');
select is(api.list_generations(null, null, 20, null, null, pg_temp.id('ws')) -> 'items' -> 0 ->> 'id',
  pg_temp.id('g_member')::text, 'and lists it as the workspace''s');
select is(api.get_workspace_generation_counts(pg_temp.id('ws')),
  '{"all": 1, "processing": 1, "favorites": 0, "failed": 0}'::jsonb, 'and counts it');
select is(jsonb_array_length(api.get_workspace_credits(pg_temp.id('ws')) -> 'entries'), 0,
  'a viewer reads the balance but no one else''s ledger entries');

/** The admin manages below admin */

select pg_temp.as_user('admin');
select is(api.update_workspace(pg_temp.id('ws'), '{"name": "Acme"}') ->> 'name', 'Acme', 'an admin renames');
select throws_ok(format($$ select api.create_invitation(%L, 'admin') $$, pg_temp.id('ws')), 'PT403',
  'only the owner invites admins', 'an admin cannot invite admins');
select throws_ok(format($$ select api.update_member(%L, %L, 'admin') $$, pg_temp.id('ws'), pg_temp.id('member')),
  'PT403', 'only the owner changes admins', 'nor promote to admin');
select throws_ok(format('select api.remove_member(%L, %L)', pg_temp.id('ws'), pg_temp.id('owner')), 'PT409',
  'the owner cannot be removed; transfer ownership first', 'nobody removes the owner');
select is(
  (select count(*)::int from jsonb_array_elements(api.get_workspace_credits(pg_temp.id('ws')) -> 'entries') e
   where e ->> 'actor' = pg_temp.id('member')::text),
  2, 'an admin reads the whole ledger, each entry naming the member who caused it (fund, reserve)');

-- Invitations that must be refused.
insert into got select 'inv_expired', api.create_invitation(pg_temp.id('ws'), 'member');
insert into got select 'inv_revoked', api.create_invitation(pg_temp.id('ws'), 'member');
insert into got select 'inv_email', api.create_invitation(pg_temp.id('ws'), 'member', 'someone.else@example.test');
select throws_ok(format('select api.revoke_invitation(%L, %L)', gen_random_uuid(),
  pg_temp.got('inv_revoked') ->> 'id'), 'PT404', 'invitation not found', 'an invitation is revoked only under its resource');
select is(api.revoke_invitation(pg_temp.id('ws'), (pg_temp.got('inv_revoked') ->> 'id')::uuid) ->> 'status', 'revoked',
  'an admin revokes an invitation');
reset role;
update public.invitations set expires_at = now() - interval '1 second'
where id = (select (v ->> 'id')::uuid from got where name = 'inv_expired');
set local role authenticated;
select pg_temp.as_user('late');
select throws_ok(format('select api.accept_invitation(%L)', pg_temp.got('inv_expired') ->> 'token'), 'PT410',
  'invitation has expired', 'an expired invitation is refused');
select throws_ok(format('select api.accept_invitation(%L)', pg_temp.got('inv_revoked') ->> 'token'), 'PT410',
  'invitation was revoked', 'a revoked invitation is refused');
select throws_ok(format('select api.accept_invitation(%L)', pg_temp.got('inv_email') ->> 'token'), 'PT403',
  'invitation is for another email address', 'an invitation for another email is refused');
select throws_ok(format('select api.get_workspace(%L)', pg_temp.id('ws')), 'PT404', 'workspace not found',
  'and none of them let the user in');

/** The owner */

select pg_temp.as_user('owner');
select throws_ok(format('select api.leave(%L)', pg_temp.id('ws')), 'PT409',
  'the owner cannot leave; transfer ownership first', 'the last owner cannot leave');
select throws_ok(format('select api.remove_member(%L, %L)', pg_temp.id('ws'), pg_temp.id('owner')), 'PT409',
  'the owner cannot leave; transfer ownership first', 'nor remove themselves');
select is(api.update_member(pg_temp.id('ws'), pg_temp.id('viewer'), 'member') ->> 'role', 'member',
  'the owner changes roles');
select lives_ok(format($$ select api.update_member(%L, %L, 'viewer') $$, pg_temp.id('ws'), pg_temp.id('viewer')),
  'and back');
select throws_ok(format($$ select api.update_member(%L, %L, 'owner') $$, pg_temp.id('ws'), pg_temp.id('admin')),
  'PT400', 'role must be admin, member or viewer', 'ownership is not a role to set');

-- A removed member loses access at once.
select lives_ok(format('select api.remove_member(%L, %L)', pg_temp.id('ws'), pg_temp.id('member')),
  'the owner removes the member');
select pg_temp.as_user('member');
select throws_ok(format('select api.get_workspace(%L)', pg_temp.id('ws')), 'PT404', 'workspace not found',
  'the removed member cannot read the workspace');
select is((select count(*)::int from public.generations where workspace_id = pg_temp.id('ws')
           and user_id <> pg_temp.id('member')), 0, 'nor anyone else''s workspace generations');
select throws_ok(format($$ select api.create_generation('image', 'flux-schnell', 'a fox', '{}', null, %L) $$,
  pg_temp.id('ws')), 'PT404', 'workspace not found', 'nor spend its credits');
select throws_ok(format('select api.list_generations(null, null, 20, null, null, %L)', pg_temp.id('ws')), 'PT404',
  'workspace not found', 'nor list its library');

-- Work the removed member started still settles on the workspace's account.
reset role;
select private.finish_generation(pg_temp.id('g_member'), 'succeeded', '{"urls": ["https://x.test/1.png"]}');
set local role authenticated;
select pg_temp.as_user('owner');
select is(api.get_workspace_credits(pg_temp.id('ws')) - 'entries' - 'next_before_id',
  '{"balance": 295, "held": 0, "available": 295}'::jsonb,
  'the workspace pays for what was made (one image of two: 5 credits)');
select is(api.get_workspace_credits(pg_temp.id('ws'), 1) -> 'entries' -> 0 ->> 'actor', pg_temp.id('member')::text,
  'and the settle entry names the member');

-- Transfer ownership: exactly one owner before and after.
select is(jsonb_array_length(api.transfer_ownership(pg_temp.id('ws'), pg_temp.id('admin'))), 3,
  'the owner transfers ownership to the admin');
select is((select array_agg(role order by role) from public.memberships
           where resource_id = pg_temp.id('ws') and user_id in (pg_temp.id('owner'), pg_temp.id('admin'))),
  array['admin', 'owner'], 'the old owner is an admin, the new one the owner');
select throws_ok(format('select api.transfer_ownership(%L, %L)', pg_temp.id('ws'), pg_temp.id('viewer')), 'PT403',
  'only the owner transfers ownership', 'the old owner can no longer transfer');
select lives_ok(format('select api.leave(%L)', pg_temp.id('ws')), 'and may now leave');

/** Deleting */

select pg_temp.as_user('admin');
insert into ids select 'g_admin', (api.create_generation('image', 'flux-schnell', 'a cat', '{}', null, pg_temp.id('ws'))
  -> 'generation' ->> 'id')::uuid;
select throws_ok(format('select api.delete_workspace(%L)', pg_temp.id('ws')), 'PT409',
  'the workspace has generations in progress', 'a workspace with credits on hold cannot be deleted');
reset role;
select private.finish_generation(pg_temp.id('g_admin'), 'failed', null, 'provider error');
set local role authenticated;
select pg_temp.as_user('admin');
select lives_ok(format('select api.delete_workspace(%L)', pg_temp.id('ws')), 'the owner deletes the workspace');
select is(api.get_my_credits() ->> 'balance', '295', 'its balance returns to the owner');
select pg_temp.as_user('viewer');
select is(api.list_workspaces(), '[]'::jsonb, 'nobody reaches a deleted workspace');

reset role;
select is(api.audit_credits(), '[]'::jsonb, 'the books balance: transfers in pairs, every hold resolved once');

/** Conversations in a workspace */

-- 1 credit per input token and 2 per output token.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens)
values ('chat-ws-test', 'chat', 'openai', 'openai_chat', 'ws-1', 3000, 100);
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit,
  credits_per_output_unit, usd_per_output_unit, active_from)
values ('chat', 'chat-ws-test', '1k_tokens', 1000, 0.001, 2000, 0.002, now() - interval '1 minute');
set local role authenticated;
select pg_temp.as_user('owner');
insert into ids select 'ws3', (api.create_workspace('Chat team') ->> 'id')::uuid;
select api.fund_workspace(pg_temp.id('ws3'), 400, 'fund-chat');
insert into got select 'inv3', api.create_invitation(pg_temp.id('ws3'), 'member');
insert into got select 'inv3v', api.create_invitation(pg_temp.id('ws3'), 'viewer');
select pg_temp.as_user('member');
select api.accept_invitation(pg_temp.got('inv3') ->> 'token');
select pg_temp.as_user('viewer');
select api.accept_invitation(pg_temp.got('inv3v') ->> 'token');

select pg_temp.as_user('member');
insert into ids select 'conv', (api.create_conversation(p_title => 'Team chat', p_model => 'chat-ws-test',
  p_workspace_id => pg_temp.id('ws3')) ->> 'id')::uuid;
select is((select workspace_id from public.conversations where id = pg_temp.id('conv')), pg_temp.id('ws3'),
  'a member creates a conversation in the workspace');
insert into ids select 'reply', (api.begin_reply(pg_temp.id('conv'), 'Hello team') -> 'assistant_message' ->> 'id')::uuid;
select ok((api.get_workspace_credits(pg_temp.id('ws3')) ->> 'held')::int > 0, 'its reply holds workspace credits');
select is(api.get_my_credits() ->> 'held', '0', 'not the member''s own');
reset role;
select api.finish_reply(pg_temp.id('reply'), 'Hi all', 'complete', 10, 5);
set local role authenticated;
select pg_temp.as_user('member');
select is(api.get_workspace_credits(pg_temp.id('ws3')) - 'entries' - 'next_before_id',
  '{"balance": 380, "held": 0, "available": 380}'::jsonb,
  'the reply is charged to the workspace (10 tokens in, 5 out: 10 + 10 credits)');

select pg_temp.as_user('viewer');
select is(api.list_conversations(p_workspace_id => pg_temp.id('ws3')) -> 'items' -> 0 ->> 'id',
  pg_temp.id('conv')::text, 'a viewer lists the workspace''s conversations');
select is((select count(*)::int from public.messages where conversation_id = pg_temp.id('conv')), 2,
  'and reads their messages');
select throws_ok(format($$ select api.create_conversation(p_title => 'x', p_model => 'chat-ws-test',
  p_workspace_id => %L) $$, pg_temp.id('ws3')), 'PT403', 'requires the member role (yours: viewer)',
  'a viewer cannot start a workspace conversation');
select pg_temp.as_user('stranger');
select throws_ok(format('select api.list_conversations(p_workspace_id => %L)', pg_temp.id('ws3')), 'PT404',
  'workspace not found', 'a stranger cannot list them');
select is_empty(format('select 1 from public.messages where conversation_id = %L', pg_temp.id('conv')),
  'nor read their messages');
reset role;
select is(api.audit_credits(), '[]'::jsonb, 'the books still balance');

/** The membership policy runs once per statement */

-- 10,000 generations in a second workspace: a member's read evaluates private.my_ids once
-- (an InitPlan), not once per row, and reads the workspace's index.
set local role authenticated;
select pg_temp.as_user('owner');
insert into ids select 'ws2', (api.create_workspace('Big') ->> 'id')::uuid;
reset role;
insert into public.generations (user_id, workspace_id, kind, action, model, prompt, route, pricing_id, units, status)
select '20000000-0000-4000-8000-0000000000a0', pg_temp.id('ws2'), 'image', 'generate', 'flux-schnell', 'p' || i,
  'provider', (select id from public.pricing where model = 'flux-schnell' order by active_from desc limit 1), 1, 'failed'
from generate_series(1, 10000) i;
analyze public.generations;
set local track_functions = 'all';
set local role authenticated;
select pg_temp.as_user('owner');
select is((select count(*)::int from public.generations where workspace_id = pg_temp.id('ws2')), 10000,
  'the owner sees the 10,000 workspace generations');
select cmp_ok((select calls from pg_stat_xact_user_functions where schemaname = 'private' and funcname = 'my_ids'),
  '<=', 4::bigint, 'private.my_ids ran a handful of times for 10,000 rows, not once per row');
reset role;
create temp table plan_json (p json);
grant all on plan_json to public;
create function pg_temp.plan_of(p_sql text) returns json language plpgsql as $$
declare v json;
begin
  execute 'explain (format json) ' || p_sql into v;
  return v;
end $$;
set local role authenticated;
select pg_temp.as_user('owner');
insert into plan_json select pg_temp.plan_of(format(
  'select * from public.generations where workspace_id = %L and deleted_at is null
   order by created_at desc, id desc limit 20', pg_temp.id('ws2')));
reset role;
select ok((select p::text ~ 'InitPlan' from plan_json), 'the policy''s helper is an InitPlan');
select ok((select p::text ~ 'generations_workspace_created_idx' from plan_json),
  'and the page reads the workspace index');

/** A disabled account keeps viewer rights on what it shares, and nothing more */

update public.profiles set is_active = false where id = pg_temp.id('owner');
set local role authenticated;
select pg_temp.as_user('owner');
select ok(pg_temp.id('ws2') = any (private.my_ids('viewer')), 'a disabled owner still reads the workspace');
select ok(not (pg_temp.id('ws2') = any (private.my_ids('member'))), 'and has no writing role in it');
reset role;
update public.profiles set is_active = true where id = pg_temp.id('owner');

select * from finish();
rollback;
