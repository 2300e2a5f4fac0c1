-- Notifications: each source writes one notification to the right user on its transition
-- only (a generation or a file ending, a LoRA's training ending, an invitation for the
-- user's email, the balance crossing the low-credits threshold), never to anyone else;
-- users list (keyset, unread filter), count, mark read and mark all read their own only;
-- a stranger sees and marks nothing; clients cannot write notifications; retention deletes
-- only old ones.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(45);

insert into auth.users (id, email) values
  ('24000000-0000-4000-8000-0000000000a0', 'owner.notes@example.test'),
  ('24000000-0000-4000-8000-0000000000a1', 'Invitee.Notes@example.test'),
  ('24000000-0000-4000-8000-0000000000a4', 'stranger.notes@example.test');
select private.change_credits('24000000-0000-4000-8000-0000000000a0', 'grant', 1000, 'test:grant', null, 'test');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
insert into ids values
  ('owner', '24000000-0000-4000-8000-0000000000a0'), ('invitee', '24000000-0000-4000-8000-0000000000a1'),
  ('stranger', '24000000-0000-4000-8000-0000000000a4');
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.as_user(p_who text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', (select id from ids where name = p_who),
    'role', 'authenticated')::text, true)
$$;
-- The notifications of a user of a type, as the table holds them (read as postgres).
create function pg_temp.notes(p_who text, p_type text) returns setof public.notifications language sql as $$
  select * from public.notifications where user_id = (select id from ids where name = p_who) and type = p_type
$$;
create function pg_temp.generation(p_name text, p_kind text) returns uuid language plpgsql as $$
declare
  v_id uuid;
begin
  insert into public.generations (user_id, kind, action, model, prompt, title, route, pricing_id, units, status)
  select pg_temp.id('owner'), p_kind, p.action, p.model, 'a lighthouse', 'Lighthouse', 'provider', p.id, 1, 'processing'
  from public.pricing p where p.model = case p_kind when 'training' then 'flux-lora-trainer' else 'flux-schnell' end
  order by p.active_from desc limit 1
  returning id into v_id;
  insert into ids values (p_name, v_id);
  return v_id;
end
$$;
-- Moves the owner's balance by p_amount (an adjustment), as any money path would.
create function pg_temp.move_credits(p_key text, p_amount bigint) returns void language sql as $$
  select private.change_credits(pg_temp.id('owner'), case when p_amount > 0 then 'grant' else 'adjustment' end,
    p_amount, p_key, null, 'test')
$$;

/** Generations */

select pg_temp.generation('g_ok', 'image');
select pg_temp.generation('g_bad', 'video');
select pg_temp.generation('g_cancel', 'image');
select pg_temp.generation('g_train', 'training');
update public.generations set status = 'succeeded', outputs = '{"urls": ["https://x.test/a.png"]}'
where id = pg_temp.id('g_ok');
update public.generations set status = 'failed', error = 'the provider refused the prompt' where id = pg_temp.id('g_bad');
update public.generations set status = 'canceled' where id = pg_temp.id('g_cancel');
update public.generations set status = 'failed', error = 'trainer crashed' where id = pg_temp.id('g_train');

select results_eq(
  $$ select title, body, data ->> 'generation_id' from pg_temp.notes('owner', 'generation_succeeded') $$,
  $$ values ('Your image is ready', 'Lighthouse', pg_temp.id('g_ok')::text) $$,
  'a generation that succeeds notifies its creator once, naming it'
);
select results_eq(
  $$ select title, body, data ->> 'generation_id' from pg_temp.notes('owner', 'generation_failed') $$,
  $$ values ('Your video failed', 'the provider refused the prompt', pg_temp.id('g_bad')::text) $$,
  'a generation that fails notifies its creator with the reason users may read; a cancel and a training run do not'
);
update public.generations set status = 'succeeded', metrics = '{"again": true}' where id = pg_temp.id('g_ok');
select is((select count(*) from pg_temp.notes('owner', 'generation_succeeded')), 1::bigint,
  'an update that does not change the status notifies nobody again');

/** LoRA training */

insert into public.loras (id, user_id, name, base_model, status, generation_id) values
  ('24000000-0000-4000-8000-00000000100a', pg_temp.id('owner'), 'Lighthouse style', 'flux-schnell', 'training', pg_temp.id('g_train')),
  ('24000000-0000-4000-8000-00000000100b', pg_temp.id('owner'), 'Harbor style', 'flux-schnell', 'training', null),
  ('24000000-0000-4000-8000-00000000100c', pg_temp.id('owner'), 'Draft style', 'flux-schnell', 'draft', null);
update public.loras set status = 'ready', weights_path = 'x/weights.tar' where id = '24000000-0000-4000-8000-00000000100a';
update public.loras set status = 'failed', error = 'too few images' where id = '24000000-0000-4000-8000-00000000100b';
update public.loras set status = 'failed', error = 'not trained' where id = '24000000-0000-4000-8000-00000000100c';
select results_eq(
  $$ select title, data ->> 'lora_id' from pg_temp.notes('owner', 'training_succeeded') $$,
  $$ values ('LoRA Lighthouse style is trained', '24000000-0000-4000-8000-00000000100a') $$,
  'a LoRA whose training ends ready notifies its creator'
);
select results_eq(
  $$ select title, body from pg_temp.notes('owner', 'training_failed') $$,
  $$ values ('Training of LoRA Harbor style failed', 'too few images') $$,
  'a failed training notifies with the reason; a draft that fails without training does not'
);

/** Files */

create function pg_temp.file(p_name text) returns uuid language plpgsql as $$
declare
  v_upload uuid;
  v_file uuid;
begin
  insert into public.uploads (user_id, purpose, bucket, path, content_type, bytes, filename)
  values (pg_temp.id('owner'), 'chat', 'uploads', pg_temp.id('owner') || '/' || p_name, 'text/plain', 100, p_name)
  returning id into v_upload;
  insert into public.files (user_id, upload_id, name, mime_type, size_bytes, status)
  values (pg_temp.id('owner'), v_upload, p_name, 'text/plain', 100, 'processing')
  returning id into v_file;
  insert into ids values (p_name, v_file);
  return v_file;
end
$$;
select pg_temp.file('notes.txt');
select pg_temp.file('broken.txt');
select pg_temp.file('gone.txt');
update public.files set status = 'completed', completed_at = now() where id = pg_temp.id('notes.txt');
update public.files set status = 'failed', error = 'not UTF-8 text' where id = pg_temp.id('broken.txt');
update public.files set deleted_at = now() where id = pg_temp.id('gone.txt');
update public.files set status = 'failed', error = 'deleted' where id = pg_temp.id('gone.txt');
select results_eq(
  $$ select title, data ->> 'file_id' from pg_temp.notes('owner', 'file_processed') $$,
  $$ values ('notes.txt is ready', pg_temp.id('notes.txt')::text) $$,
  'a processed file notifies its owner'
);
select results_eq(
  $$ select title, body from pg_temp.notes('owner', 'file_failed') $$,
  $$ values ('broken.txt could not be processed', 'not UTF-8 text') $$,
  'a failed file notifies with the reason; a deleted file''s late failure does not'
);

/** Invitations */

set local role authenticated;
select pg_temp.as_user('owner');
insert into ids select 'ws', (api.create_workspace('Notes Studio') ->> 'id')::uuid;
insert into got values ('inv', api.create_invitation(pg_temp.id('ws'), 'member', 'invitee.notes@EXAMPLE.test'));
select api.create_invitation(pg_temp.id('ws'), 'viewer');
select api.create_invitation(pg_temp.id('ws'), 'viewer', 'nobody.here@example.test');
reset role;
select results_eq(
  $$ select title, data ->> 'invitation_id', data ->> 'resource_id', data ->> 'role' from pg_temp.notes('invitee', 'invitation') $$,
  $$ values ('You are invited to a workspace as member', pg_temp.got('inv') ->> 'id', pg_temp.id('ws')::text, 'member') $$,
  'an invitation for an email notifies the user with that email, whatever its case'
);
select ok(
  (select bool_and(not (n.data::text like '%' || (pg_temp.got('inv') ->> 'token') || '%')) from pg_temp.notes('invitee', 'invitation') n),
  'the notification does not carry the invitation''s token'
);
select is((select count(*) from public.notifications where type = 'invitation'), 1::bigint,
  'a link invitation and one for an email without an account notify nobody');

/** Low credits */

select pg_temp.move_credits('t:1', -850);
select is((select count(*) from pg_temp.notes('owner', 'credits_low')), 0::bigint,
  'a debit that leaves the balance at or above the threshold notifies nobody');
select pg_temp.move_credits('t:2', -60);
select results_eq(
  $$ select title, (data ->> 'balance')::bigint, (data ->> 'threshold')::bigint from pg_temp.notes('owner', 'credits_low') $$,
  $$ values ('Your credits are running low', 90::bigint, private.low_credits_threshold()) $$,
  'the debit that crosses below the threshold notifies once'
);
select pg_temp.move_credits('t:3', -40);
select is((select count(*) from pg_temp.notes('owner', 'credits_low')), 1::bigint,
  'further debits below the threshold do not notify again');
select pg_temp.move_credits('t:4', 500);
select pg_temp.move_credits('t:5', -500);
select is((select count(*) from pg_temp.notes('owner', 'credits_low')), 2::bigint,
  'a grant that lifts the balance above arms the next crossing');

/** Reading and marking */

set local role authenticated;
select pg_temp.as_user('owner');
select is((api.unread_notification_count() ->> 'unread')::int, 8, 'the owner counts their unread notifications');
select is(jsonb_array_length(api.list_notifications() -> 'items'), 8, 'the owner lists all of theirs');
insert into got values ('p1', api.list_notifications(false, 4));
select is(jsonb_array_length(pg_temp.got('p1') -> 'items'), 4, 'a page holds at most its limit');
insert into got values ('p2', api.list_notifications(false, 100,
  (pg_temp.got('p1') #>> '{next_cursor,created_at}')::timestamptz, (pg_temp.got('p1') #>> '{next_cursor,id}')::uuid));
select is(jsonb_array_length(pg_temp.got('p2') -> 'items'), 4, 'the next page holds the rest');
select is((select count(distinct x ->> 'id') from (
    select jsonb_array_elements(pg_temp.got('p1') -> 'items') x
    union all select jsonb_array_elements(pg_temp.got('p2') -> 'items')) s), 8::bigint,
  'the pages neither skip nor repeat a notification');
select ok(pg_temp.got('p2') -> 'next_cursor' = 'null'::jsonb, 'the last page has no next cursor');
select throws_ok($$ select api.list_notifications(false, 0) $$, 'PT400', null, 'a page size of 0 is refused');

insert into got select 'first', api.list_notifications() -> 'items' -> 0;
insert into got values ('read', api.mark_notification_read((pg_temp.got('first') ->> 'id')::uuid));
select is(pg_temp.got('read') ->> 'read', 'true', 'marking a notification read answers it read');
select is((api.unread_notification_count() ->> 'unread')::int, 7, 'and the unread count drops by one');
select is(api.mark_notification_read((pg_temp.got('first') ->> 'id')::uuid) ->> 'read_at', pg_temp.got('read') ->> 'read_at',
  'marking it again keeps its first read time');
select is(jsonb_array_length(api.list_notifications(true) -> 'items'), 7, 'the unread filter leaves it out');
select ok(not exists (select 1 from jsonb_array_elements(api.list_notifications(true) -> 'items') x
  where x ->> 'id' = pg_temp.got('first') ->> 'id'), 'the unread list does not hold the read one');

/** A stranger */

select pg_temp.as_user('stranger');
select is(api.list_notifications() -> 'items', '[]'::jsonb, 'a stranger lists none of the owner''s notifications');
select is((api.unread_notification_count() ->> 'unread')::int, 0, 'a stranger counts none');
select throws_ok(format($$ select api.mark_notification_read(%L) $$, (pg_temp.got('first') ->> 'id')),
  'PT404', 'notification not found', 'a stranger cannot mark the owner''s notification read');
select is(api.mark_all_notifications_read() ->> 'updated', '0', 'marking all read touches none of the owner''s');
select is_empty($$ select 1 from public.notifications where user_id <> auth.uid() $$,
  'a stranger reads no other user''s notification from the table');
update public.notifications set read_at = now() where user_id = '24000000-0000-4000-8000-0000000000a0';
select throws_ok(
  $$ insert into public.notifications (user_id, type, title) values (auth.uid(), 'credits_low', 'free credits!') $$,
  '42501', null, 'users cannot write notifications themselves'
);
select throws_ok(
  $$ update public.notifications set title = 'changed' $$,
  '42501', null, 'users cannot change a notification''s content'
);

/** Mark all read */

select pg_temp.as_user('owner');
select is((api.unread_notification_count() ->> 'unread')::int, 7, 'the stranger''s direct update changed nothing of the owner''s');
select is(api.mark_all_notifications_read() ->> 'updated', '7', 'marking all read marks every unread one');
select is((api.unread_notification_count() ->> 'unread')::int, 0, 'after which none is unread');
select is(api.mark_all_notifications_read() ->> 'updated', '0', 'and doing it again marks none');

/** Disabled users and anon */

reset role;
update public.profiles set is_active = false where id = pg_temp.id('invitee');
set local role authenticated;
select pg_temp.as_user('invitee');
select is(jsonb_array_length(api.list_notifications() -> 'items'), 1, 'a disabled user still reads their notifications');
select throws_ok($$ select api.mark_all_notifications_read() $$, 'PT403', 'account is disabled',
  'and changes nothing');
set local role anon;
select throws_ok($$ select api.list_notifications() $$, '42501', null, 'anon cannot list notifications');
select throws_ok($$ select api.unread_notification_count() $$, '42501', null, 'anon cannot count them');

/** Retention */

reset role;
insert into public.notifications (user_id, type, title, read_at, created_at) values
  (pg_temp.id('stranger'), 'credits_low', 'read long ago', now() - interval '100 days', now() - interval '120 days'),
  (pg_temp.id('stranger'), 'credits_low', 'unread and old', null, now() - interval '400 days'),
  (pg_temp.id('stranger'), 'credits_low', 'unread, 100 days', null, now() - interval '100 days'),
  (pg_temp.id('stranger'), 'credits_low', 'read recently', now() - interval '10 days', now() - interval '120 days');
set local role service_role;
select is(api.purge_old_notifications(), 2, 'retention deletes notifications read over 90 days ago or older than a year');
select is(api.purge_old_notifications(), 0, 'and a second run finds nothing more');
reset role;
select results_eq(
  $$ select title from public.notifications where user_id = pg_temp.id('stranger') order by title $$,
  $$ values ('read recently'), ('unread, 100 days') $$,
  'recent and unread notifications stay'
);
select is((select fn from private.scheduled_jobs where name = 'genbase-purge-old-notifications'),
  'api.purge_old_notifications()', 'retention is a scheduled job');

select * from finish();
rollback;
