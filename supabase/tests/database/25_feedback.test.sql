-- Feedback: ideas (everyone reads and proposes; one vote per user, vote and unvote
-- idempotent, the count equal to the votes; authors edit while open; only staff move the
-- status, the author hears of it; votes close with the idea) and support tickets (a user
-- opens and follows their own; a stranger sees and writes nothing of theirs; staff see
-- every ticket, answer (the owner is notified) and close; a closed ticket takes no message).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(81);

insert into auth.users (id, email) values
  ('25000000-0000-4000-8000-0000000000a0', 'author.feedback@example.test'),
  ('25000000-0000-4000-8000-0000000000a1', 'voter.feedback@example.test'),
  ('25000000-0000-4000-8000-0000000000a2', 'moderator.feedback@example.test'),
  ('25000000-0000-4000-8000-0000000000a3', 'admin.feedback@example.test'),
  ('25000000-0000-4000-8000-0000000000a4', 'stranger.feedback@example.test'),
  ('25000000-0000-4000-8000-0000000000a5', 'disabled.feedback@example.test');
update public.profiles set role = 'moderator' where id = '25000000-0000-4000-8000-0000000000a2';
update public.profiles set role = 'admin' where id = '25000000-0000-4000-8000-0000000000a3';
update public.profiles set is_active = false where id = '25000000-0000-4000-8000-0000000000a5';

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
insert into ids values
  ('author', '25000000-0000-4000-8000-0000000000a0'), ('voter', '25000000-0000-4000-8000-0000000000a1'),
  ('moderator', '25000000-0000-4000-8000-0000000000a2'), ('admin', '25000000-0000-4000-8000-0000000000a3'),
  ('stranger', '25000000-0000-4000-8000-0000000000a4'), ('disabled', '25000000-0000-4000-8000-0000000000a5');
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.as_user(p_who text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', (select id from ids where name = p_who),
    'role', 'authenticated')::text, true)
$$;
create function pg_temp.idea() returns public.ideas language sql security definer as $$
  select * from public.ideas where id = (select id from ids where name = 'idea')
$$;
create function pg_temp.votes() returns bigint language sql security definer as $$
  select count(*) from public.idea_votes where idea_id = (select id from ids where name = 'idea')
$$;
create function pg_temp.notes(p_who text, p_type text) returns bigint language sql security definer as $$
  select count(*) from public.notifications where user_id = (select id from ids where name = p_who) and type = p_type
$$;
grant execute on all functions in schema pg_temp to public;

set local role authenticated;

/** Proposing ideas */

select pg_temp.as_user('author');
insert into got values ('idea', api.create_idea('  Dark mode  ', 'Easier on the eyes'));
insert into ids values ('idea', (pg_temp.got('idea') ->> 'id')::uuid);
select is(pg_temp.got('idea') - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('user_id', pg_temp.id('author'), 'mine', true, 'title', 'Dark mode', 'description', 'Easier on the eyes',
    'status', 'open', 'status_note', null, 'status_changed_at', null, 'vote_count', 0, 'voted', false),
  'a user proposes an idea: open, trimmed, without votes');
select throws_ok($$ select api.create_idea(null) $$, 'PT400', 'title is required', 'an idea needs a title');
select throws_ok($$ select api.create_idea('   ') $$, 'PT400', 'title must be 1 to 200 characters', 'a blank title is refused');
select throws_ok(format($$ select api.create_idea('x', %L) $$, repeat('d', 5001)), 'PT400',
  'description must be 1 to 5000 characters', 'an overlong description is refused');
select throws_ok(
  $$ insert into public.ideas (title, user_id) values ('forged', '25000000-0000-4000-8000-0000000000a1') $$,
  '42501', null, 'a user cannot propose an idea in someone else''s name');
select pg_temp.as_user('voter');
insert into got values ('idea2', api.create_idea('Export to PDF'));
-- Newer than the first (one transaction has one now()).
reset role;
update public.ideas set created_at = created_at + interval '1 second' where id = (pg_temp.got('idea2') ->> 'id')::uuid;
set local role authenticated;

/** Voting */

select is(api.vote_idea(pg_temp.id('idea')), jsonb_build_object('idea_id', pg_temp.id('idea'), 'vote_count', 1, 'voted', true),
  'a user votes for an idea');
select is(api.vote_idea(pg_temp.id('idea')) ->> 'vote_count', '1', 'voting again is a no-op');
select is(api.get_idea(pg_temp.id('idea')) ->> 'voted', 'true', 'the idea shows the voter their vote');
select pg_temp.as_user('author');
select is(api.vote_idea(pg_temp.id('idea')) ->> 'vote_count', '2', 'its author may vote for it too');
select pg_temp.as_user('stranger');
select is(api.get_idea(pg_temp.id('idea')) ->> 'voted', 'false', 'another user sees the count, not their vote');
select is(api.get_idea(pg_temp.id('idea')) -> 'user_id', 'null'::jsonb, 'nor who wrote it');
select is(api.get_idea(pg_temp.id('idea')) ->> 'mine', 'false', 'and it is not theirs');
select pg_temp.as_user('moderator');
select is((api.get_idea(pg_temp.id('idea')) ->> 'user_id')::uuid, pg_temp.id('author'), 'staff see the author');
select pg_temp.as_user('stranger');
select is_empty($$ select 1 from public.idea_votes $$, 'and reads nobody''s vote rows');
select throws_ok(
  format($$ insert into public.idea_votes (idea_id, user_id) values (%L, %L) $$, pg_temp.got('idea2') ->> 'id', pg_temp.id('voter')),
  '42501', null, 'a user cannot vote in someone else''s name');
select throws_ok($$ update public.ideas set vote_count = 1000 $$, '42501', null, 'users cannot write a vote count');
delete from public.idea_votes where user_id = '25000000-0000-4000-8000-0000000000a1';
select is((pg_temp.idea()).vote_count, 2, 'nor delete someone else''s vote');
select pg_temp.as_user('voter');
select is(api.vote_idea(pg_temp.id('idea'), false) ->> 'vote_count', '1', 'a voter takes their vote back');
select is(api.vote_idea(pg_temp.id('idea'), false), jsonb_build_object('idea_id', pg_temp.id('idea'), 'vote_count', 1, 'voted', false),
  'taking it back again is a no-op');
select is(api.vote_idea(pg_temp.id('idea')) ->> 'vote_count', '2', 'and may vote again');
select is((pg_temp.idea()).vote_count::bigint, pg_temp.votes(), 'the count equals the vote rows');
select throws_ok($$ select api.vote_idea('25000000-0000-4000-8000-00000000dead') $$, 'PT404', 'idea not found',
  'voting for no idea is a 404');
select pg_temp.as_user('disabled');
select throws_ok(format($$ select api.vote_idea(%L) $$, pg_temp.id('idea')), 'PT403', 'account is disabled',
  'a disabled user cannot vote');

/** Listing */

select pg_temp.as_user('stranger');
select is((select array_agg(x ->> 'title') from jsonb_array_elements(api.list_ideas(null, 'top') -> 'items') x),
  array['Dark mode', 'Export to PDF'], 'every user lists the ideas, most voted first');
select is((select array_agg(x ->> 'title') from jsonb_array_elements(api.list_ideas(null, 'new') -> 'items') x),
  array['Export to PDF', 'Dark mode'], 'or newest first');
insert into got values ('top1', api.list_ideas(null, 'top', 1));
select is(pg_temp.got('top1') -> 'next_cursor' ->> 'vote_count', '2', 'the top cursor carries the vote count');
select is((select array_agg(x ->> 'title') from jsonb_array_elements(api.list_ideas(null, 'top', 10,
    (pg_temp.got('top1') #>> '{next_cursor,created_at}')::timestamptz, (pg_temp.got('top1') #>> '{next_cursor,id}')::uuid,
    (pg_temp.got('top1') #>> '{next_cursor,vote_count}')::int) -> 'items') x),
  array['Export to PDF'], 'and the next page starts after it');
select throws_ok($$ select api.list_ideas(null, 'hot') $$, 'PT400', 'sort must be new or top', 'an unknown sort is refused');
select throws_ok($$ select api.list_ideas('maybe') $$, 'PT400', null, 'an unknown status is refused');
select throws_ok(format($$ select api.list_ideas(null, 'top', 10, now(), %L) $$, pg_temp.id('idea')), 'PT400',
  'cursor is not valid for this sort', 'a newest-first cursor does not page the top list');

/** Editing and status */

select throws_ok(format($$ select api.update_idea(%L, '{"title": "Mine now"}') $$, pg_temp.id('idea')), 'PT403',
  'only its author can edit an idea', 'a stranger cannot edit an idea');
update public.ideas set title = 'Mine now';
select is((pg_temp.idea()).title, 'Dark mode', 'nor through the table');
select throws_ok(format($$ select api.set_idea_status(%L, 'planned') $$, pg_temp.id('idea')), 'PT403',
  'moderator role required', 'a user cannot move an idea''s status');
select pg_temp.as_user('author');
select is(api.update_idea(pg_temp.id('idea'), '{"title": "Dark mode everywhere", "description": null}') - 'updated_at',
  (pg_temp.got('idea') - 'updated_at') || '{"title": "Dark mode everywhere", "description": null, "vote_count": 2, "voted": true}',
  'its author edits an open idea');
select throws_ok(format($$ select api.update_idea(%L, '{"status": "done"}') $$, pg_temp.id('idea')), 'PT400',
  'unknown field: status (title and description can be sent)', 'the status is not an edit');
select throws_ok(format($$ update public.ideas set status = 'done' where id = %L $$, pg_temp.id('idea')), 'PT403',
  'moderator role required', 'nor can the author move it through the table');
select pg_temp.as_user('moderator');
select is(api.set_idea_status(pg_temp.id('idea'), 'planned', 'Next quarter') ->> 'status', 'planned',
  'a moderator moves the idea''s status');
select is((pg_temp.idea()).status_note || ' by ' || (pg_temp.idea()).status_changed_by, 'Next quarter by ' || pg_temp.id('moderator'),
  'with their note, recorded as theirs');
select is(pg_temp.notes('author', 'idea_status'), 1::bigint, 'the author hears of it');
select throws_ok(format($$ select api.set_idea_status(%L, 'someday') $$, pg_temp.id('idea')), 'PT400', null,
  'an unknown status is refused');
select is(api.update_idea(pg_temp.id('idea'), '{"title": "Dark mode (all pages)"}') ->> 'title', 'Dark mode (all pages)',
  'staff may edit any idea');
select pg_temp.as_user('author');
select throws_ok(format($$ select api.update_idea(%L, '{"title": "Later"}') $$, pg_temp.id('idea')), 'PT409',
  'an idea can be edited only while it is open', 'the author cannot edit it once planned');
select is(api.vote_idea(pg_temp.id('idea'), false) ->> 'vote_count', '1', 'a planned idea still takes votes');
select pg_temp.as_user('admin');
select is(api.set_idea_status(pg_temp.id('idea'), 'done') ->> 'status', 'done', 'an admin is staff too');
select is(pg_temp.notes('author', 'idea_status'), 2::bigint, 'the author hears of each move');
select pg_temp.as_user('voter');
select throws_ok(format($$ select api.vote_idea(%L, false) $$, pg_temp.id('idea')), 'PT409',
  'voting is closed: the idea is done', 'votes close with the idea');
delete from public.idea_votes;
select is(pg_temp.votes(), 1::bigint, 'nor can a vote on a done idea be deleted through the table');
select pg_temp.as_user('moderator');
select api.set_idea_status((pg_temp.got('idea2') ->> 'id')::uuid, 'declined');
select is(pg_temp.notes('moderator', 'idea_status') + pg_temp.notes('voter', 'idea_status'), 1::bigint,
  'the author of the declined idea hears of it, the moderator does not');
select is(api.set_idea_status((pg_temp.got('idea2') ->> 'id')::uuid, 'declined', 'Out of scope') ->> 'status_note', 'Out of scope',
  'a note alone may change');

/** Support tickets: the owner */

select pg_temp.as_user('author');
insert into got values ('ticket', api.create_ticket(' Billing question ', 'Why was I charged twice?'));
insert into ids values ('ticket', (pg_temp.got('ticket') ->> 'id')::uuid);
select is(format('%s/%s/%s', pg_temp.got('ticket') ->> 'subject', pg_temp.got('ticket') ->> 'status', pg_temp.got('ticket') ->> 'message_count'),
  'Billing question/open/1', 'a user opens a ticket with a first message');
select is(pg_temp.got('ticket') -> 'messages' -> 0 ->> 'body', 'Why was I charged twice?', 'which is its thread');
select ok(not (pg_temp.got('ticket') -> 'messages' -> 0 ->> 'from_staff')::boolean, 'from the user');
select throws_ok($$ select api.create_ticket('Help', null) $$, 'PT400', 'subject and message are required',
  'a ticket needs a message');
select throws_ok(format($$ select api.create_ticket('Help', %L) $$, repeat('m', 10001)), 'PT400',
  'message must be 1 to 10000 characters', 'an overlong message is refused');
select throws_ok(format($$ update public.support_tickets set status = 'closed' where id = %L $$, pg_temp.id('ticket')),
  '42501', null, 'the owner cannot write a ticket''s status');
select throws_ok(format($$ insert into public.support_messages (ticket_id, body, from_staff) values (%L, 'staff!', true) $$,
  pg_temp.id('ticket')), '42501', null, 'nor pose as staff');

/** A stranger */

select pg_temp.as_user('stranger');
select is(api.list_tickets() -> 'items', '[]'::jsonb, 'a stranger lists none of the owner''s tickets');
select throws_ok(format($$ select api.get_ticket(%L) $$, pg_temp.id('ticket')), 'PT404', 'ticket not found',
  'a stranger cannot read the owner''s ticket');
select throws_ok(format($$ select api.add_ticket_message(%L, 'me too') $$, pg_temp.id('ticket')), 'PT404', 'ticket not found',
  'nor write to it');
select throws_ok(format($$ select api.close_ticket(%L) $$, pg_temp.id('ticket')), 'PT404', 'ticket not found',
  'nor close it');
select is_empty($$ select 1 from public.support_messages $$, 'nor read its thread from the table');

/** Staff */

select pg_temp.as_user('moderator');
select is((select array_agg(x ->> 'id') from jsonb_array_elements(api.list_tickets() -> 'items') x),
  array[pg_temp.id('ticket')::text], 'a moderator lists every user''s tickets');
select is(api.list_tickets(null, true) -> 'items', '[]'::jsonb, 'or only their own');
insert into got values ('reply', api.add_ticket_message(pg_temp.id('ticket'), 'We refunded the second charge.'));
select ok((pg_temp.got('reply') ->> 'from_staff')::boolean, 'a moderator''s reply is from staff');
select is(api.get_ticket(pg_temp.id('ticket')) ->> 'status', 'answered', 'and answers the ticket');
select is(pg_temp.notes('author', 'support_reply'), 1::bigint, 'the owner hears of the reply');
select is(api.list_tickets('answered') -> 'items' -> 0 ->> 'id', pg_temp.id('ticket')::text, 'staff filter by status');
select throws_ok($$ select api.list_tickets('pending') $$, 'PT400', 'status must be open, answered or closed',
  'an unknown status is refused');
insert into got values ('own', api.create_ticket('My own question', 'As a moderator'));
select ok(not (pg_temp.got('own') -> 'messages' -> 0 ->> 'from_staff')::boolean,
  'a moderator''s message on their own ticket is not a staff reply');

select pg_temp.as_user('author');
select is((select array_agg(x ->> 'body' order by n) from jsonb_array_elements(api.get_ticket(pg_temp.id('ticket')) -> 'messages') with ordinality m(x, n)),
  array['Why was I charged twice?', 'We refunded the second charge.'], 'the owner follows the thread');
select api.add_ticket_message(pg_temp.id('ticket'), 'Thanks!');
select is(api.get_ticket(pg_temp.id('ticket')) ->> 'status', 'open', 'the owner''s reply puts it back to staff');
select is(pg_temp.notes('moderator', 'support_reply'), 0::bigint, 'and notifies nobody');
select is(jsonb_array_length(api.list_tickets() -> 'items'), 1, 'the owner lists only their own tickets');

/** Closing */

insert into got values ('closed', api.close_ticket(pg_temp.id('ticket')));
select is(pg_temp.got('closed') ->> 'status', 'closed', 'the owner closes their ticket');
select throws_ok(format($$ select api.add_ticket_message(%L, 'one more thing') $$, pg_temp.id('ticket')), 'PT409',
  'the ticket is closed: open a new one', 'a closed ticket takes no message');
select is(api.close_ticket(pg_temp.id('ticket')) ->> 'closed_at', pg_temp.got('closed') ->> 'closed_at',
  'closing it again is a no-op');
select pg_temp.as_user('voter');
insert into got values ('t2', api.create_ticket('Login', 'I cannot log in'));
select pg_temp.as_user('moderator');
select is(api.close_ticket((pg_temp.got('t2') ->> 'id')::uuid) ->> 'status', 'closed', 'staff close any ticket');
select throws_ok(format($$ select api.add_ticket_message(%L, 'reopen') $$, pg_temp.got('t2') ->> 'id'), 'PT409', null,
  'staff cannot write to a closed ticket either');

/** Disabled users and anon */

select pg_temp.as_user('disabled');
select throws_ok($$ select api.create_ticket('Help', 'Why am I disabled?') $$, 'PT403', 'account is disabled',
  'a disabled user cannot open a ticket');
set local role anon;
select throws_ok($$ select api.list_ideas() $$, '42501', null, 'anon cannot list ideas');
select throws_ok($$ select api.list_tickets() $$, '42501', null, 'anon cannot list tickets');

select * from finish();
rollback;
