-- LoRAs and training data: what a stranger, a workspace viewer, a member, an admin and the
-- owner may each do on LoRAs, their training images and their runs; public LoRAs read by
-- everyone once ready (never their images); a run reserves credits (the workspace's for a
-- workspace LoRA), a failed run releases them and marks the LoRA failed, a successful one
-- charges once and makes the LoRA ready once its weights are stored in lora-models; a
-- replayed webhook changes nothing; training data is its owner's alone and segments stay
-- inside their video; the books balance.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(120);

insert into auth.users (id, email) values
  ('23000000-0000-4000-8000-0000000000a0', 'owner.lora@example.test'),
  ('23000000-0000-4000-8000-0000000000a1', 'admin.lora@example.test'),
  ('23000000-0000-4000-8000-0000000000a2', 'member.lora@example.test'),
  ('23000000-0000-4000-8000-0000000000a3', 'viewer.lora@example.test'),
  ('23000000-0000-4000-8000-0000000000a4', 'stranger.lora@example.test');
select private.change_credits('23000000-0000-4000-8000-0000000000a0', 'grant', 1000, 'test:grant', null, 'test');
select private.change_credits('23000000-0000-4000-8000-0000000000a2', 'grant', 1000, 'test:grant', null, 'test');
select private.change_credits('23000000-0000-4000-8000-0000000000a3', 'grant', 1000, 'test:grant', null, 'test');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.as_user(p_who text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', '23000000-0000-4000-8000-0000000000'
    || case p_who when 'owner' then 'a0' when 'admin' then 'a1' when 'member' then 'a2'
                  when 'viewer' then 'a3' else 'a4' end, 'role', 'authenticated')::text, true)
$$;
create function pg_temp.as_service() returns void language sql as $$
  select set_config('request.jwt.claims', '{"role": "service_role"}', true)
$$;
-- An upload of the caller's whose file has arrived, as Storage records one.
create function pg_temp.arrived(p_purpose text, p_type text) returns uuid language plpgsql as $$
declare
  v jsonb := api.create_upload(p_purpose, p_type, 1000, 'file');
begin
  insert into storage.objects (bucket_id, name, owner, metadata)
  values (v ->> 'bucket', v ->> 'path', auth.uid(), jsonb_build_object('size', 1000, 'mimetype', p_type));
  return (v ->> 'upload_id')::uuid;
end
$$;
create function pg_temp.account(p_user text) returns jsonb language sql as $$
  select jsonb_build_object('balance', balance, 'held', held) from public.credit_accounts
  where owner_user_id = (select id from ids where name = p_user)
$$;
create function pg_temp.ws_account() returns jsonb language sql as $$
  select jsonb_build_object('balance', balance, 'held', held) from public.credit_accounts
  where workspace_id = (select id from ids where name = 'ws')
$$;
create function pg_temp.lora(p_name text) returns public.loras language sql as $$
  select * from public.loras where id = (select id from ids where name = p_name)
$$;
insert into ids values
  ('owner', '23000000-0000-4000-8000-0000000000a0'), ('admin', '23000000-0000-4000-8000-0000000000a1'),
  ('member', '23000000-0000-4000-8000-0000000000a2'), ('viewer', '23000000-0000-4000-8000-0000000000a3'),
  ('stranger', '23000000-0000-4000-8000-0000000000a4');

-- Storage writes objects as itself; these tests write them as the caller.
grant insert on storage.objects to authenticated;

/** A workspace with an admin, a member and a viewer, funded by its owner */

set local role authenticated;
select pg_temp.as_user('owner');
insert into ids select 'ws', (api.create_workspace('Lora Studio') ->> 'id')::uuid;
insert into got select 'inv_' || r, api.create_invitation(pg_temp.id('ws'), r) from unnest(array['admin', 'member', 'viewer']) r;
select api.fund_workspace(pg_temp.id('ws'), 500, 'fund-1');
select pg_temp.as_user('admin');
select api.accept_invitation(pg_temp.got('inv_admin') ->> 'token');
select pg_temp.as_user('member');
select api.accept_invitation(pg_temp.got('inv_member') ->> 'token');
select pg_temp.as_user('viewer');
select api.accept_invitation(pg_temp.got('inv_viewer') ->> 'token');

/** Creating */

select pg_temp.as_user('owner');
insert into got select 'p', api.create_lora('  My face  ', 'flux-dev', 'portraits', 'ohwx person');
insert into ids select 'p', (pg_temp.got('p') ->> 'id')::uuid;
select is(pg_temp.got('p') - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('user_id', pg_temp.id('owner'), 'workspace_id', null, 'name', 'My face',
    'description', 'portraits', 'trigger_word', 'ohwx person', 'base_model', 'flux-dev',
    'visibility', 'private', 'status', 'draft', 'generation_id', null, 'weights', null, 'error', null),
  'create_lora: a private draft of the caller''s, name trimmed');
select throws_ok($$ select api.create_lora('x', 'gpt-4o-mini') $$, 'PT400',
  'base_model must be an available image or video model, not gpt-4o-mini', 'a chat model is no base model');
select throws_ok($$ select api.create_lora('x', 'flux-dev', null, null, 'friends') $$, 'PT400',
  'visibility must be private or public', 'an unknown visibility is refused');
select throws_ok($$ select api.create_lora('  ', 'flux-dev') $$, 'PT400',
  'name must be 1 to 200 characters', 'a blank name is refused');
insert into ids select 'w', (api.create_lora('Team style', 'flux-dev', null, 'tstyle', 'private', pg_temp.id('ws')) ->> 'id')::uuid;
insert into ids select 'draft_public', (api.create_lora('Not ready', 'flux-dev', null, null, 'public') ->> 'id')::uuid;

select pg_temp.as_user('member');
insert into ids select 'wm', (api.create_lora('Member''s', 'flux-dev', null, 'mstyle', 'private', pg_temp.id('ws')) ->> 'id')::uuid;
select is((select workspace_id from pg_temp.lora('wm')), pg_temp.id('ws'), 'a member creates a LoRA in the workspace');
select pg_temp.as_user('viewer');
select throws_ok(format('select api.create_lora(%L, %L, null, null, %L, %L)', 'v', 'flux-dev', 'private', pg_temp.id('ws')),
  'PT403', 'requires the member role (yours: viewer)', 'a viewer cannot create in the workspace');
select pg_temp.as_user('stranger');
select throws_ok(format('select api.create_lora(%L, %L, null, null, %L, %L)', 's', 'flux-dev', 'private', pg_temp.id('ws')),
  'PT404', 'workspace not found', 'a stranger cannot create in the workspace');
select throws_ok(format($$ insert into public.loras (name, base_model, workspace_id) values ('s', 'flux-dev', %L) $$, pg_temp.id('ws')),
  '42501', null, 'nor by writing the table');
select throws_ok($$ insert into public.loras (name, base_model, status) values ('s', 'flux-dev', 'ready') $$,
  '42501', null, 'nobody writes a LoRA''s status');

/** Who sees what */

select is(api.list_loras() -> 'items', '[]'::jsonb, 'a stranger lists none of mine');
select throws_ok(format('select api.get_lora(%L)', pg_temp.id('p')), 'PT404', 'LoRA not found', 'a stranger cannot read a private LoRA');
select throws_ok(format('select api.get_lora(%L)', pg_temp.id('w')), 'PT404', 'LoRA not found', 'nor a workspace''s');
select throws_ok(format('select api.get_lora(%L)', pg_temp.id('draft_public')), 'PT404', 'LoRA not found',
  'nor a public one that is not ready');
select is((select count(*)::int from public.loras), 0, 'a stranger selects no LoRA row');
select throws_ok(format('select api.update_lora(%L, %L)', pg_temp.id('p'), '{"name": "mine"}'), 'PT404', 'LoRA not found',
  'a stranger cannot change a LoRA');
select throws_ok(format('select api.delete_lora(%L)', pg_temp.id('p')), 'PT404', 'LoRA not found', 'nor delete it');
select throws_ok(format('select api.list_lora_images(%L)', pg_temp.id('p')), 'PT404', 'LoRA not found', 'nor list its images');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('p'), 'flux-lora-trainer', '{}', 'k'),
  'PT404', 'LoRA not found', 'nor train it');
update public.loras set name = 'hijack' where id = pg_temp.id('p');
reset role;
select is((select name from public.loras where id = pg_temp.id('p')), 'My face', 'a direct update by a stranger touches nothing');
set local role authenticated;

select pg_temp.as_user('viewer');
select is((select jsonb_agg(i ->> 'name' order by i ->> 'name') from jsonb_array_elements(api.list_loras() -> 'items') i),
  '["Member''s", "Team style"]'::jsonb, 'a viewer lists the workspace''s LoRAs, not the owner''s personal ones');
select is(jsonb_array_length(api.list_loras('mine', pg_temp.id('ws')) -> 'items'), 2,
  'the workspace''s own list has both');
select is(api.get_lora(pg_temp.id('w')) ->> 'name', 'Team style', 'a viewer reads a workspace LoRA');
select throws_ok(format('select api.update_lora(%L, %L)', pg_temp.id('w'), '{"name": "v"}'), 'PT403',
  'requires the member role (yours: viewer)', 'a viewer cannot change it');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('w'), 'flux-lora-trainer', '{}', 'kv'),
  'PT403', 'requires the member role (yours: viewer)', 'a viewer cannot train it (no spending)');
select pg_temp.as_user('stranger');
select throws_ok(format('select api.list_loras(%L, %L)', 'mine', pg_temp.id('ws')), 'PT404', 'workspace not found',
  'a stranger cannot list the workspace''s');

/** Changing and publishing */

select pg_temp.as_user('member');
select is(api.update_lora(pg_temp.id('w'), '{"name": "Team style v2", "description": "soft light"}') - 'updated_at'
  - 'created_at' - 'id' - 'user_id' - 'workspace_id' - 'generation_id' - 'weights' - 'error',
  '{"name": "Team style v2", "description": "soft light", "trigger_word": "tstyle", "base_model": "flux-dev", "visibility": "private", "status": "draft"}'::jsonb,
  'a member renames the owner''s workspace LoRA');
select throws_ok(format('select api.update_lora(%L, %L)', pg_temp.id('w'), '{"visibility": "public"}'), 'PT403',
  'requires the admin role (yours: member)', 'a member cannot publish it');
select throws_ok(format('update public.loras set visibility = %L where id = %L', 'public', pg_temp.id('w')), 'PT403',
  'requires the admin role (yours: member)', 'not by writing the table either');
select throws_ok(format('select api.delete_lora(%L)', pg_temp.id('w')), 'PT403', 'requires the admin role (yours: member)',
  'a member cannot delete it');
select throws_ok(format('select api.update_lora(%L, %L)', pg_temp.id('w'), '{"status": "ready"}'), 'PT400',
  'unknown field: status (name, description, trigger_word and visibility can be changed)', 'status is not the client''s');
select pg_temp.as_user('admin');
select is(api.update_lora(pg_temp.id('wm'), '{"visibility": "public"}') ->> 'visibility', 'public',
  'a workspace admin publishes a member''s LoRA');

/** Training images */

select pg_temp.as_user('owner');
insert into ids select 'img1', pg_temp.arrived('training_image', 'image/png');
insert into ids select 'img2', pg_temp.arrived('training_image', 'image/jpeg');
insert into ids select 'doc', pg_temp.arrived('document', 'text/plain');
insert into ids select 'img3', pg_temp.arrived('training_image', 'image/webp');
insert into ids select 'pending', (api.create_upload('training_image', 'image/png', 10) ->> 'upload_id')::uuid;
insert into got select 'i1', api.add_lora_image(pg_temp.id('p'), pg_temp.id('img1'));
select is(pg_temp.got('i1') ->> 'path', (select path from public.uploads where id = pg_temp.id('img1')),
  'add_lora_image: the upload''s path in lora-training-images');
select api.add_lora_image(pg_temp.id('p'), pg_temp.id('img2'));
select throws_ok(format('select api.add_lora_image(%L, %L)', pg_temp.id('p'), pg_temp.id('img1')), 'PT409',
  'this upload is already a training image of the LoRA', 'an image is added once');
select throws_ok(format('select api.add_lora_image(%L, %L)', pg_temp.id('p'), pg_temp.id('doc')), 'PT400',
  'upload_id must be one of your training_image uploads', 'a document is no training image');
select throws_ok(format('select api.add_lora_image(%L, %L)', pg_temp.id('p'), pg_temp.id('pending')), 'PT400',
  format('upload %s has no file yet (PUT the file to its upload url first)', pg_temp.id('pending')),
  'an upload whose file has not arrived is refused');
select pg_temp.as_user('member');
select throws_ok(format('select api.add_lora_image(%L, %L)', pg_temp.id('w'), pg_temp.id('img1')), 'PT400',
  'upload_id must be one of your training_image uploads', 'a member cannot add someone else''s upload');
insert into ids select 'mimg', pg_temp.arrived('training_image', 'image/png');
insert into got select 'wi', api.add_lora_image(pg_temp.id('w'), pg_temp.id('mimg'));
select api.add_lora_image(pg_temp.id('wm'), pg_temp.id('mimg'));
select is((pg_temp.got('wi') ->> 'user_id')::uuid, pg_temp.id('member'), 'a member adds their upload to the workspace LoRA');
select pg_temp.as_user('viewer');
select is(jsonb_array_length(api.list_lora_images(pg_temp.id('w')) -> 'items'), 1, 'a viewer lists its images');
select throws_ok(format('select api.remove_lora_image(%L, %L)', pg_temp.id('w'), (pg_temp.got('wi') ->> 'id')::uuid),
  'PT403', 'requires the member role (yours: viewer)', 'a viewer cannot remove one');
select pg_temp.as_user('stranger');
insert into ids select 'simg', pg_temp.arrived('training_image', 'image/png');
select throws_ok(format('select api.add_lora_image(%L, %L)', pg_temp.id('p'), pg_temp.id('simg')), 'PT404', 'LoRA not found',
  'a stranger cannot add an image');
select throws_ok(format($$ insert into public.lora_training_images (lora_id, upload_id, storage_path)
    select %L, id, path from public.uploads where id = %L $$, pg_temp.id('p'), pg_temp.id('simg')),
  '42501', null, 'nor by writing the table');
select is((select count(*)::int from public.lora_training_images), 0, 'a stranger sees no training image');
select throws_ok(format('select api.remove_lora_image(%L, %L)', pg_temp.id('p'), (pg_temp.got('i1') ->> 'id')::uuid),
  'PT404', 'LoRA not found', 'nor removes one');

/** A run reserves; a failed run releases and marks the LoRA failed */

select pg_temp.as_user('owner');
select throws_ok(format('select api.start_lora_training(%L, %L, %L)', pg_temp.id('p'), 'flux-lora-trainer', '{"steps": 100}'),
  'PT400', 'an Idempotency-Key header is required: training costs credits', 'a run needs an Idempotency-Key');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('p'), 'flux-lora-trainer', '{"steps": 100, "units": 1}', 'k0'),
  'PT400', null, 'params are the trainer''s declared ones only');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('p'), 'flux-lora-trainer', '{"steps": 100000}', 'k0'),
  'PT400', 'params.steps must be an integer between 3 and 4000', 'steps are bounded');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('p'), 'flux-dev', '{}', 'k0'),
  'PT400', null, 'an image model does not train');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('draft_public'), 'flux-lora-trainer', '{}', 'k0'),
  'PT400', 'set the LoRA''s trigger_word before training', 'a run needs a trigger word');
select is(pg_temp.account('owner'), '{"balance": 500, "held": 0}'::jsonb, 'nothing was reserved by the refusals');

insert into got select 'run1', api.start_lora_training(pg_temp.id('p'), 'flux-lora-trainer', '{"steps": 100}', 'run-1');
insert into ids select 'g1', (pg_temp.got('run1') #>> '{generation,id}')::uuid;
select is(pg_temp.got('run1') #>> '{generation,kind}', 'training', 'the run is a generation of kind training');
select is(pg_temp.got('run1') #>> '{generation,credits_reserved}', '200', 'units come from steps: 100 x 2 credits');
select is(pg_temp.account('owner'), '{"balance": 500, "held": 200}'::jsonb, 'the run''s credits are held');
select is((pg_temp.got('run1') -> 'lora') ->> 'status', 'training', 'the LoRA is training');
select is((select generation_id from pg_temp.lora('p')), pg_temp.id('g1'), 'linked to its run');
select is(pg_temp.got('run1') -> 'provider_input',
  jsonb_build_object('steps', 100, 'lora_rank', 16, 'learning_rate', 0.0004, 'batch_size', 1,
    'resolution', '512,768,1024', 'autocaption', true, 'trigger_word', 'ohwx person',
    'input_images', (select jsonb_agg(jsonb_build_object('$storage', jsonb_build_object(
        'bucket', 'lora-training-images', 'path', u.path)) order by i.created_at, i.id)
      from public.lora_training_images i join public.uploads u on u.id = i.upload_id
      where i.lora_id = pg_temp.id('p'))),
  'the trainer gets the validated params, the trigger word and the images as storage markers');
select is(api.start_lora_training(pg_temp.id('p'), 'flux-lora-trainer', '{"steps": 100}', 'run-1') - 'lora' - 'generation',
  '{"created": false, "route": "provider"}'::jsonb, 'the same key again is the same run, not a second');
select is(pg_temp.account('owner'), '{"balance": 500, "held": 200}'::jsonb, 'and reserves nothing more');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('p'), 'flux-lora-trainer', '{}', 'run-2'),
  'PT409', 'the LoRA is training', 'a LoRA trains one run at a time');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('draft_public'), 'flux-lora-trainer', '{}', 'run-1'),
  'PT409', 'this Idempotency-Key was used for another request', 'a key names one run');
select throws_ok(format('select api.add_lora_image(%L, %L)', pg_temp.id('p'), pg_temp.id('img3')), 'PT409',
  'training images cannot change while the LoRA is training', 'images are fixed while it trains');
select throws_ok(format('select api.remove_lora_image(%L, %L)', pg_temp.id('p'), (pg_temp.got('i1') ->> 'id')::uuid), 'PT409',
  'training images cannot change while the LoRA is training', 'none is removed either');
select throws_ok(format('select api.update_lora(%L, %L)', pg_temp.id('p'), '{"trigger_word": "other"}'), 'PT409',
  'trigger_word cannot change once the LoRA is training', 'the trigger word is fixed once a run started');
select throws_ok(format('select api.delete_lora(%L)', pg_temp.id('p')), 'PT409',
  'the LoRA is training: delete it once the run has ended', 'a training LoRA is not deleted');

reset role;
set local role service_role;
select pg_temp.as_service();
select api.mark_generation_submitted(pg_temp.id('g1'), 'replicate', 'lora-tr-1');
select api.handle_provider_webhook('replicate', 'lora-w1', 'lora-tr-1', 'failed', null, 'CUDA out of memory', null);
reset role;
select is((select status || ': ' || error from pg_temp.lora('p')),
  'failed: the provider could not complete this generation; no credits were charged',
  'a failed run fails the LoRA with the message users may read');
select is(pg_temp.account('owner'), '{"balance": 500, "held": 0}'::jsonb, 'and releases its credits');

/** A successful run: charged once, ready once its weights are stored */

set local role authenticated;
select pg_temp.as_user('owner');
insert into got select 'run2', api.start_lora_training(pg_temp.id('p'), 'flux-lora-trainer', '{"steps": 100}', 'run-2');
insert into ids select 'g2', (pg_temp.got('run2') #>> '{generation,id}')::uuid;
select is((select status from pg_temp.lora('p')), 'training', 'a failed LoRA can be trained again');
reset role;
set local role service_role;
select pg_temp.as_service();
select api.mark_generation_submitted(pg_temp.id('g2'), 'replicate', 'lora-tr-2');
select is(api.handle_provider_webhook('replicate', 'lora-w2', 'lora-tr-2', 'succeeded',
    '{"version": "genbase/loras:abc123", "weights": "http://provider.test/lora-tr-2.tar"}', null,
    '{"predict_time": 300}') #>> '{generation,outputs}',
  '{"storage": "pending", "version": "genbase/loras:abc123", "provider_urls": ["http://provider.test/lora-tr-2.tar"]}',
  'the weights become a pending copy; the trained version is kept');
select is(pg_temp.account('owner'), '{"balance": 300, "held": 0}'::jsonb, 'the run is charged its 200 credits');
select is((select status from pg_temp.lora('p')), 'training', 'the LoRA waits for its weights');
insert into got select 'job', j from jsonb_array_elements(api.claim_storage_jobs(10, 60, pg_temp.id('g2'))) j;
select is(pg_temp.got('job') ->> 'bucket', 'lora-models', 'the weights are copied into lora-models');
select is(api.storage_job_paths((pg_temp.got('job') ->> 'id')::uuid, array['application/x-tar']) -> 0 ->> 'path',
  format('%s/%s/0.bin', pg_temp.id('owner'), pg_temp.id('g2')), 'at the run''s path');
select throws_ok(format('select api.storage_job_paths(%L, array[%L])', pg_temp.got('job') ->> 'id', 'image/png'),
  'PT400', null, 'a training run stores weights, not images');
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
values ('lora-models', format('%s/%s/0.bin', pg_temp.id('owner'), pg_temp.id('g2')), null,
  '{"size": 4096, "mimetype": "application/x-tar"}');
set local role service_role;
select api.complete_storage_job((pg_temp.got('job') ->> 'id')::uuid,
  jsonb_build_array(jsonb_build_object('path', format('%s/%s/0.bin', pg_temp.id('owner'), pg_temp.id('g2')))));
reset role;
select is((select status || ' ' || weights_path from pg_temp.lora('p')),
  format('ready %s/%s/0.bin', pg_temp.id('owner'), pg_temp.id('g2')), 'stored: the LoRA is ready with its weights');
set local role service_role;
select is(api.handle_provider_webhook('replicate', 'lora-w2', 'lora-tr-2', 'succeeded',
    '{"version": "genbase/loras:abc123", "weights": "http://provider.test/lora-tr-2.tar"}', null, null) ->> 'duplicate',
  'true', 'a replayed webhook is a duplicate');
select is(api.handle_provider_webhook('replicate', 'lora-w3', 'lora-tr-2', 'failed', null, 'late', null) #>> '{generation,status}',
  'succeeded', 'a late failure report changes nothing');
reset role;
select is(pg_temp.account('owner'), '{"balance": 300, "held": 0}'::jsonb, 'charged once');
select is((select status from pg_temp.lora('p')), 'ready', 'and the LoRA stays ready');
select is((select count(*)::int from public.credit_ledger l join public.credit_accounts a on a.id = l.account_id
           where a.owner_user_id = pg_temp.id('owner') and l.kind = 'settle'
             and l.hold_id in (select id from public.credit_holds where generation_id = pg_temp.id('g2'))), 1,
  'one settlement on the ledger');

/** A workspace LoRA bills the workspace */

set local role authenticated;
select pg_temp.as_user('member');
insert into got select 'run3', api.start_lora_training(pg_temp.id('w'), 'flux-lora-trainer', '{"steps": 50}', 'run-3');
select is(pg_temp.ws_account(), '{"balance": 500, "held": 100}'::jsonb, 'a member''s run holds the workspace''s credits');
select is(pg_temp.account('member'), '{"balance": 1000, "held": 0}'::jsonb, 'not the member''s own');
select is((select workspace_id from public.generations where id = (pg_temp.got('run3') #>> '{generation,id}')::uuid),
  pg_temp.id('ws'), 'the run is the workspace''s');
select throws_ok(format('select api.start_lora_training(%L, %L, %L, %L)', pg_temp.id('wm'), 'flux-lora-trainer', '{"steps": 4000}', 'run-4'),
  'PT402', 'insufficient credits: 8000 needed, 400 available', 'a run the workspace cannot pay is refused');
select is((select status from pg_temp.lora('wm')), 'draft', 'and leaves the LoRA as it was');
reset role;
set local role service_role;
select pg_temp.as_service();
select api.mark_generation_submitted((pg_temp.got('run3') #>> '{generation,id}')::uuid, 'replicate', 'lora-tr-3');
select api.handle_provider_webhook('replicate', 'lora-w4', 'lora-tr-3', 'canceled', null, null, null);
reset role;
select is(pg_temp.ws_account(), '{"balance": 500, "held": 0}'::jsonb, 'a canceled run releases the workspace''s credits');
select is((select status from pg_temp.lora('w')), 'failed', 'and fails the LoRA');

/** Public LoRAs */

set local role authenticated;
select pg_temp.as_user('owner');
select api.update_lora(pg_temp.id('p'), '{"visibility": "public"}');
select pg_temp.as_user('stranger');
select is(api.get_lora(pg_temp.id('p')) ->> 'status', 'ready', 'a stranger reads a public ready LoRA');
select is(api.list_loras('public') -> 'items' -> 0 ->> 'id', pg_temp.id('p')::text, 'it is in the public list');
select is(api.list_loras('mine') -> 'items', '[]'::jsonb, 'but not in the stranger''s own');
select is((select count(*)::int from storage.objects where bucket_id = 'lora-models'), 1,
  'a stranger may read (sign) a public LoRA''s weights');
select throws_ok(format('select api.list_lora_images(%L)', pg_temp.id('p')), 'PT404', 'LoRA not found',
  'never its training images');
select is((select count(*)::int from public.lora_training_images), 0, 'not even by selecting them');
select throws_ok(format('select api.update_lora(%L, %L)', pg_temp.id('p'), '{"name": "mine"}'), 'PT404', 'LoRA not found',
  'nor change it');
select pg_temp.as_user('owner');
select api.update_lora(pg_temp.id('p'), '{"visibility": "private"}');
select pg_temp.as_user('stranger');
select is((select count(*)::int from storage.objects where bucket_id = 'lora-models'), 0,
  'a private LoRA''s weights are its people''s only');

/** Deleting */

select pg_temp.as_user('admin');
select is(api.delete_lora(pg_temp.id('w')) ->> 'id', pg_temp.id('w')::text, 'a workspace admin deletes a workspace LoRA');
select throws_ok(format('select api.get_lora(%L)', pg_temp.id('w')), 'PT404', 'LoRA not found', 'then it is gone');
select pg_temp.as_user('owner');
select api.delete_lora(pg_temp.id('p'));
reset role;
select is((select params from public.tasks where task_type = 'storage.remove' and params ->> 'bucket' = 'lora-models'),
  jsonb_build_object('bucket', 'lora-models', 'user_id', pg_temp.id('owner'), 'generation_id', pg_temp.id('g2'),
    'paths', jsonb_build_array(format('%s/%s/0.bin', pg_temp.id('owner'), pg_temp.id('g2')))),
  'a deleted LoRA''s weights are removed by a storage job, once');

/** Training data */

set local role authenticated;
select pg_temp.as_user('owner');
insert into got select 'b', api.create_training_batch('Walk cycles', 'side views');
insert into ids select 'b', (pg_temp.got('b') ->> 'id')::uuid;
-- A training_video upload as api.create_upload records one (bucket training-data, a path in
-- the owner's folder), and its file.
reset role;
with u as (
  insert into public.uploads (user_id, purpose, bucket, path, content_type, bytes, filename)
  values (pg_temp.id('owner'), 'training_video', 'training-data',
    pg_temp.id('owner') || '/' || gen_random_uuid() || '.mp4', 'video/mp4', 1000, 'walk.mp4')
  returning id, bucket, path
), o as (
  insert into storage.objects (bucket_id, name, owner, metadata)
  select bucket, path, pg_temp.id('owner'), '{"size": 1000, "mimetype": "video/mp4"}' from u
)
insert into ids select 'vid', id from u;
set local role authenticated;
insert into got select 'v', api.add_training_video(pg_temp.id('b'), pg_temp.id('vid'), 10);
insert into ids select 'v', (pg_temp.got('v') ->> 'id')::uuid;
select is((pg_temp.got('v') ->> 'duration_seconds')::numeric, 10::numeric, 'add_training_video records its duration');
select throws_ok(format('select api.add_training_video(%L, %L, 0)', pg_temp.id('b'), pg_temp.id('vid')), 'PT400',
  'duration_seconds must be greater than 0 and at most 86400', 'a duration must be positive');
select throws_ok(format('select api.add_training_video(%L, %L, 5)', pg_temp.id('b'), pg_temp.id('img2')), 'PT400',
  'upload_id must be one of your training_video uploads', 'an image is no training video');
select is(api.get_training_batch(pg_temp.id('b')) ->> 'video_count', '1', 'the batch counts its videos');

insert into got select 's1', api.create_training_segment(pg_temp.id('v'), 0, 5);
select is(pg_temp.got('s1') ->> 'end_time', '5', 'a segment inside the video is cut');
select throws_ok(format('select api.create_training_segment(%L, 5, 11)', pg_temp.id('v')), 'PT400',
  'end_time must be at most the video''s duration (10 seconds)', 'a segment past the end is refused');
select throws_ok(format('select api.create_training_segment(%L, -1, 2)', pg_temp.id('v')), 'PT400',
  'start_time must be at least 0', 'a segment before the start is refused');
select throws_ok(format('select api.create_training_segment(%L, 3, 3)', pg_temp.id('v')), 'PT400',
  'end_time must be greater than start_time', 'an empty segment is refused');
select throws_ok(format('select api.update_training_segment(%L, %L)', pg_temp.got('s1') ->> 'id', '{"end_time": 12}'), 'PT400',
  'end_time must be at most the video''s duration (10 seconds)', 'a segment cannot be moved past the end');
select throws_ok(format($$ update public.training_data_segments set start_time = 6 where id = %L $$, pg_temp.got('s1') ->> 'id'),
  'PT400', 'end_time must be greater than start_time', 'the bounds hold for direct writes too');
select is(api.update_training_segment((pg_temp.got('s1') ->> 'id')::uuid, '{"start_time": 2, "end_time": 10}') ->> 'start_time',
  '2', 'a segment moves inside the video');

select pg_temp.as_user('stranger');
select is(api.list_training_batches() -> 'items', '[]'::jsonb, 'a stranger lists no batch of the owner');
select throws_ok(format('select api.get_training_batch(%L)', pg_temp.id('b')), 'PT404', 'batch not found', 'nor reads one');
select throws_ok(format('select api.list_training_videos(%L)', pg_temp.id('b')), 'PT404', 'batch not found', 'nor its videos');
select throws_ok(format('select api.add_training_video(%L, %L, 5)', pg_temp.id('b'), pg_temp.id('vid')), 'PT404',
  'batch not found', 'nor adds to it');
select throws_ok(format('select api.create_training_segment(%L, 0, 1)', pg_temp.id('v')), 'PT404', 'video not found',
  'nor cuts the owner''s video');
select throws_ok(format('select api.update_training_segment(%L, %L)', pg_temp.got('s1') ->> 'id', '{"start_time": 0}'),
  'PT404', 'segment not found', 'nor moves a segment');
select throws_ok(format('select api.delete_training_segment(%L)', pg_temp.got('s1') ->> 'id'), 'PT404', 'segment not found',
  'nor deletes one');
select throws_ok(format('select api.delete_training_batch(%L)', pg_temp.id('b')), 'PT404', 'batch not found',
  'nor deletes the batch');
select is((select count(*)::int from public.training_data) + (select count(*)::int from public.training_data_segments), 0,
  'a stranger selects no video and no segment');

select pg_temp.as_user('owner');
select is(jsonb_array_length(api.list_training_segments(pg_temp.id('v')) -> 'items'), 1, 'the owner lists the segments');
select is(api.delete_training_batch(pg_temp.id('b')) ->> 'id', pg_temp.id('b')::text, 'the owner deletes the batch');
reset role;
select is((select count(*)::int from public.training_data where batch_id = pg_temp.id('b')), 0,
  'its videos and segments go with it');

/** The books */

select is(api.audit_credits(), '[]'::jsonb, 'audit_credits finds no violation');

select * from finish();
rollback;
