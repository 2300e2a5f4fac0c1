/**
 * Feedback (002's ideas with votes and support tickets).
 *
 * Ideas: every signed-in user reads them, proposes them, and votes once per idea (vote and
 * unvote are idempotent). An idea's vote_count is kept by a trigger on idea_votes, under
 * the idea's row lock, so however many votes arrive at once it equals the number of vote
 * rows. Authors edit their idea while it is open; staff (moderator and up,
 * private.is_staff) move its status (open, planned, in_progress, done, declined) with an
 * optional note, and its author is notified. Votes close with the idea (done, declined).
 *
 * Support tickets: a user opens a ticket (a subject and a first message) and follows its
 * thread; staff see every ticket, answer and close them. A ticket is `open` while it waits
 * for staff, `answered` once staff replied last, `closed` when its owner or staff closed
 * it (no more messages: a new question is a new ticket). A staff reply notifies the owner.
 *
 * Reads and most writes are SECURITY INVOKER through policies and column grants. SECURITY
 * DEFINER: the triggers that keep a count or a status users cannot write (vote_count, a
 * ticket's status), the notifications they write, and api.close_ticket (an owner may
 * close their ticket but not set its status otherwise).
 */

/** Helpers */

/**
 * PT400 unless a text field is 1 to its limit characters after trimming; null passes (the
 * caller says when a field is required).
 */
create function private.check_feedback_text(p_field text, p_value text, p_limit text) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if p_value is not null and char_length(btrim(p_value)) not between 1 and private.input_limit(p_limit) then
    raise exception using errcode = 'PT400',
      message = format('%s must be 1 to %s characters', p_field, private.input_limit(p_limit));
  end if;
end
$$;

grant execute on function private.check_feedback_text(text, text, text) to authenticated;

/** Ideas */

create table public.ideas (
  id uuid primary key default gen_random_uuid(),
  -- The author; the idea stays on the board when their account goes.
  user_id uuid default auth.uid() references public.profiles (id) on delete set null,
  title text not null check (char_length(btrim(title)) between 1 and private.input_limit('idea_title_chars')),
  description text check (char_length(description) <= private.input_limit('idea_description_chars')),
  status text not null default 'open' check (status in ('open', 'planned', 'in_progress', 'done', 'declined')),
  -- Staff's word on the status (why declined, when planned ...).
  status_note text check (char_length(status_note) <= private.input_limit('idea_note_chars')),
  status_changed_by uuid references public.profiles (id) on delete set null,
  status_changed_at timestamptz,
  -- The number of idea_votes rows, kept by private.count_idea_vote.
  vote_count int not null default 0 check (vote_count >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.ideas is
  'Feature ideas: proposed and voted on by users, moved through their status by staff.';

-- list_ideas' two orders (newest, most voted), with or without a status.
create index ideas_created_idx on public.ideas (created_at desc, id desc);
create index ideas_votes_idx on public.ideas (vote_count desc, created_at desc, id desc);
create index ideas_user_idx on public.ideas (user_id);

/**
 * Only staff change an idea's status or note (RLS cannot tell columns apart; this trigger
 * does, for every path a user's request takes); a status change records who and when.
 * Content changes touch updated_at; a vote does not.
 */
create function private.guard_idea_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (new.status, new.status_note) is distinct from (old.status, old.status_note) then
    if auth.uid() is not null and not private.is_staff('moderator') then
      raise exception using errcode = 'PT403', message = 'moderator role required';
    end if;
    new.status_changed_by := auth.uid();
    new.status_changed_at := now();
  end if;
  if (new.title, new.description, new.status, new.status_note) is distinct from
     (old.title, old.description, old.status, old.status_note) then
    new.updated_at := now();
  end if;
  return new;
end
$$;

create trigger ideas_guard_update
  before update on public.ideas
  for each row execute function private.guard_idea_update();

alter table public.ideas enable row level security;

create policy "Users can view every idea"
  on public.ideas for select to authenticated
  using (true);

create policy "Active users can propose ideas"
  on public.ideas for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

-- Staff's status columns: private.guard_idea_update.
create policy "Authors can edit their open ideas and staff any idea"
  on public.ideas for update to authenticated
  using ((user_id = (select auth.uid()) and status = 'open'
      and (select is_active from public.profiles where id = (select auth.uid())))
    or (select private.is_staff('moderator')))
  with check ((user_id = (select auth.uid()) and status = 'open') or (select private.is_staff('moderator')));

revoke all on public.ideas from anon, authenticated, service_role;
grant select on public.ideas to authenticated, service_role;
grant insert (title, description, user_id) on public.ideas to authenticated;
grant update (title, description, status, status_note) on public.ideas to authenticated;

/** Votes */

create table public.idea_votes (
  idea_id uuid not null references public.ideas (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  -- One vote per user and idea: a second insert conflicts.
  primary key (idea_id, user_id)
);

create index idea_votes_user_idx on public.idea_votes (user_id);

alter table public.idea_votes enable row level security;

-- Who voted is their own business; the count is on the idea.
create policy "Users can view their own votes"
  on public.idea_votes for select to authenticated
  using (user_id = (select auth.uid()));

create policy "Active users can vote on ideas open to votes"
  on public.idea_votes for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.ideas i where i.id = idea_id and i.status not in ('done', 'declined')));

create policy "Active users can take back their votes on ideas open to votes"
  on public.idea_votes for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.ideas i where i.id = idea_id and i.status not in ('done', 'declined')));

revoke all on public.idea_votes from anon, authenticated, service_role;
grant select, delete on public.idea_votes to authenticated, service_role;
grant insert (idea_id, user_id) on public.idea_votes to authenticated;

/**
 * An idea as the API shows it, with whether the caller voted for it.
 */
create function private.idea_json(i public.ideas) returns jsonb
language sql
stable
set search_path = ''
as $$
  -- The author is named to themselves and to staff only: a board shows ideas, not who to
  -- follow around the product.
  select jsonb_build_object('id', i.id,
    'user_id', case when i.user_id = auth.uid() or private.is_staff('moderator') then i.user_id end,
    'mine', i.user_id is not distinct from auth.uid(),
    'title', i.title, 'description', i.description,
    'status', i.status, 'status_note', i.status_note, 'status_changed_at', i.status_changed_at,
    'vote_count', i.vote_count,
    'voted', exists (select 1 from public.idea_votes v where v.idea_id = i.id and v.user_id = auth.uid()),
    'created_at', i.created_at, 'updated_at', i.updated_at)
$$;

grant execute on function private.idea_json(public.ideas) to authenticated;

/**
 * Keeps ideas.vote_count equal to the idea's vote rows: one increment or decrement per
 * inserted or deleted row, under the idea's row lock, so concurrent votes queue and none
 * is lost. SECURITY DEFINER: voters cannot write vote_count. An idea being deleted (the
 * cascade) needs no count.
 */
create function private.count_idea_vote() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.ideas set vote_count = vote_count + 1 where id = new.idea_id;
  else
    update public.ideas set vote_count = vote_count - 1 where id = old.idea_id;
  end if;
  return null;
end
$$;

create trigger idea_votes_count
  after insert or delete on public.idea_votes
  for each row execute function private.count_idea_vote();

/**
 * Tells an idea's author that staff moved it (not when they moved their own).
 */
create function private.notify_idea_status() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (user_id, type, title, body, data)
  values (new.user_id, 'idea_status', left(format('Your idea "%s" is now %s', new.title, replace(new.status, '_', ' ')), 200),
    left(new.status_note, 1000), jsonb_build_object('idea_id', new.id, 'status', new.status));
  return null;
end
$$;

create trigger ideas_notify_status
  after update of status on public.ideas
  for each row when (old.status is distinct from new.status and new.user_id is not null
    and new.user_id is distinct from new.status_changed_by)
  execute function private.notify_idea_status();

/** Ideas API */

/**
 * Proposes an idea: {title, description?}; 201 with it. SECURITY INVOKER.
 */
create function api.create_idea(p_title text, p_description text default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  i public.ideas;
begin
  perform private.require_user();
  if p_title is null then
    raise exception using errcode = 'PT400', message = 'title is required';
  end if;
  perform private.check_feedback_text('title', p_title, 'idea_title_chars');
  perform private.check_feedback_text('description', p_description, 'idea_description_chars');
  insert into public.ideas (title, description)
  values (btrim(p_title), nullif(btrim(p_description), ''))
  returning * into i;
  return private.idea_json(i);
end
$$;

grant execute on function api.create_idea(text, text) to authenticated;

/**
 * The ideas, optionally of one status: p_sort 'new' (newest first) or 'top' (most votes
 * first, then newest). The cursor carries the order's columns: vote_count too for 'top'.
 * SECURITY INVOKER.
 */
create function api.list_ideas(
  p_status text default null,
  p_sort text default 'new',
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null,
  p_cursor_vote_count int default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_items jsonb;
  v_top boolean;
begin
  perform private.caller_id();
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if p_sort is null or p_sort not in ('new', 'top') then
    raise exception using errcode = 'PT400', message = 'sort must be new or top';
  end if;
  if p_status is not null and p_status not in ('open', 'planned', 'in_progress', 'done', 'declined') then
    raise exception using errcode = 'PT400', message = 'status must be open, planned, in_progress, done or declined';
  end if;
  v_top := p_sort = 'top';
  if p_cursor_id is not null and (p_cursor_vote_count is null) = v_top then
    raise exception using errcode = 'PT400', message = 'cursor is not valid for this sort';
  end if;

  with page as (
    select * from public.ideas i
    where (p_status is null or i.status = p_status)
      and (p_cursor_id is null
        or (v_top and (i.vote_count, i.created_at, i.id) < (p_cursor_vote_count, p_cursor_created_at, p_cursor_id))
        or (not v_top and (i.created_at, i.id) < (p_cursor_created_at, p_cursor_id)))
    order by case when v_top then i.vote_count end desc nulls last, i.created_at desc, i.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.idea_json(page)
    order by case when v_top then page.vote_count end desc nulls last, page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit,
    case when v_top then array['vote_count', 'created_at', 'id'] else array['created_at', 'id'] end);
end
$$;

grant execute on function api.list_ideas(text, text, int, timestamptz, uuid, int) to authenticated;

/**
 * One idea; PT404 when there is none. SECURITY INVOKER.
 */
create function api.get_idea(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  i public.ideas;
begin
  perform private.caller_id();
  select * into i from public.ideas where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'idea not found';
  end if;
  return private.idea_json(i);
end
$$;

grant execute on function api.get_idea(uuid) to authenticated;

/**
 * Edits an idea: {title?, description?} (null clears the description). Its author may
 * while it is open (PT409 after), staff always; anyone else gets PT403. SECURITY INVOKER:
 * the update policy is the fence.
 */
create function api.update_idea(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_key text;
  i public.ideas;
begin
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400', message = 'the patch must be a JSON object with title or description';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('title', 'description') then
      raise exception using errcode = 'PT400',
        message = format('unknown field: %s (title and description can be sent)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'title' and jsonb_typeof(p_patch -> 'title') <> 'string' then
    raise exception using errcode = 'PT400', message = 'title must be a string';
  end if;
  if p_patch ? 'description' and jsonb_typeof(p_patch -> 'description') not in ('string', 'null') then
    raise exception using errcode = 'PT400', message = 'description must be a string or null';
  end if;
  perform private.check_feedback_text('title', p_patch ->> 'title', 'idea_title_chars');
  perform private.check_feedback_text('description', p_patch ->> 'description', 'idea_description_chars');

  select * into i from public.ideas where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'idea not found';
  end if;
  if not private.is_staff('moderator') then
    if i.user_id is distinct from v_uid then
      raise exception using errcode = 'PT403', message = 'only its author can edit an idea';
    elsif i.status <> 'open' then
      raise exception using errcode = 'PT409', message = 'an idea can be edited only while it is open';
    end if;
  end if;
  update public.ideas set
    title = coalesce(btrim(p_patch ->> 'title'), title),
    description = case when p_patch ? 'description' then btrim(p_patch ->> 'description') else description end
  where id = p_id
  returning * into i;
  if not found then
    -- Moved out of open (or the author disabled) between the check and the update.
    raise exception using errcode = 'PT409', message = 'an idea can be edited only while it is open';
  end if;
  return private.idea_json(i);
end
$$;

grant execute on function api.update_idea(uuid, jsonb) to authenticated;

/**
 * Staff move an idea to a status, with an optional note (null clears it); its author hears
 * of it. PT403 for anyone below moderator. SECURITY INVOKER.
 */
create function api.set_idea_status(p_id uuid, p_status text, p_note text default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  i public.ideas;
begin
  perform private.require_staff('moderator');
  if p_status is null or p_status not in ('open', 'planned', 'in_progress', 'done', 'declined') then
    raise exception using errcode = 'PT400', message = 'status must be open, planned, in_progress, done or declined';
  end if;
  perform private.check_feedback_text('note', p_note, 'idea_note_chars');
  update public.ideas set status = p_status, status_note = nullif(btrim(p_note), '')
  where id = p_id
  returning * into i;
  if not found then
    raise exception using errcode = 'PT404', message = 'idea not found';
  end if;
  return private.idea_json(i);
end
$$;

grant execute on function api.set_idea_status(uuid, text, text) to authenticated;

/**
 * The caller's vote on an idea: p_vote true adds it, false takes it back; either is a
 * no-op when already so. {idea_id, vote_count, voted}. PT404 for no idea, PT409 once the
 * idea is done or declined. SECURITY INVOKER: the vote policies are the fence, the count
 * is the trigger's.
 */
create function api.vote_idea(p_id uuid, p_vote boolean default true) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_status text;
  v_count int;
begin
  select status into v_status from public.ideas where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'idea not found';
  elsif v_status in ('done', 'declined') then
    raise exception using errcode = 'PT409', message = format('voting is closed: the idea is %s', v_status);
  end if;
  if coalesce(p_vote, true) then
    insert into public.idea_votes (idea_id, user_id) values (p_id, v_uid)
    on conflict (idea_id, user_id) do nothing;
  else
    delete from public.idea_votes where idea_id = p_id and user_id = v_uid;
  end if;
  select vote_count into v_count from public.ideas where id = p_id;
  return jsonb_build_object('idea_id', p_id, 'vote_count', v_count, 'voted', coalesce(p_vote, true));
end
$$;

grant execute on function api.vote_idea(uuid, boolean) to authenticated;

/** Support tickets */

create table public.support_tickets (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  subject text not null check (char_length(btrim(subject)) between 1 and private.input_limit('ticket_subject_chars')),
  -- open: waits for staff; answered: staff replied last; closed: no more messages.
  status text not null default 'open' check (status in ('open', 'answered', 'closed')),
  message_count int not null default 0 check (message_count >= 0),
  last_message_at timestamptz not null default now(),
  closed_at timestamptz,
  closed_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint support_tickets_closed check ((status = 'closed') = (closed_at is not null))
);

comment on table public.support_tickets is
  'Support requests: a user''s question and its thread with staff (support_messages).';

-- A user's own tickets (and the policy), newest first; staff's list of every ticket.
create index support_tickets_user_idx on public.support_tickets (user_id, created_at desc, id desc);
create index support_tickets_created_idx on public.support_tickets (created_at desc, id desc);

alter table public.support_tickets enable row level security;

create policy "Users can view their own tickets and staff every ticket"
  on public.support_tickets for select to authenticated
  using (user_id = (select auth.uid()) or (select private.is_staff('moderator')));

create policy "Active users can open tickets"
  on public.support_tickets for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

-- Status, counts and closing are written by SECURITY DEFINER code only.
revoke all on public.support_tickets from anon, authenticated, service_role;
grant select on public.support_tickets to authenticated, service_role;
grant insert (subject, user_id) on public.support_tickets to authenticated;

create table public.support_messages (
  id uuid primary key default gen_random_uuid(),
  ticket_id uuid not null references public.support_tickets (id) on delete cascade,
  author_id uuid default auth.uid() references public.profiles (id) on delete set null,
  -- Written by staff other than the ticket's owner (private.prepare_support_message).
  from_staff boolean not null default false,
  body text not null check (char_length(btrim(body)) between 1 and private.input_limit('ticket_message_chars')),
  -- The thread's order: the clock, not the transaction's start, so two messages written in
  -- one transaction keep the order they were written in.
  created_at timestamptz not null default clock_timestamp()
);

-- A ticket's thread in order (and the policy's ticket_id).
create index support_messages_ticket_idx on public.support_messages (ticket_id, created_at, id);

alter table public.support_messages enable row level security;

create policy "Users can view the threads of the tickets they see"
  on public.support_messages for select to authenticated
  using (exists (select 1 from public.support_tickets t where t.id = ticket_id));

create policy "Owners and staff can write to open tickets"
  on public.support_messages for insert to authenticated
  with check (author_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.support_tickets t where t.id = ticket_id and t.status <> 'closed'));

revoke all on public.support_messages from anon, authenticated, service_role;
grant select on public.support_messages to authenticated, service_role;
grant insert (ticket_id, body, author_id) on public.support_messages to authenticated;

/**
 * A message is from staff when its author is active staff and not the ticket's owner (a
 * moderator's own ticket is a user's ticket). Set here, whatever the client sent.
 * SECURITY INVOKER: the author sees the ticket, or the insert policy refuses the row.
 */
create function private.prepare_support_message() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.from_staff := private.is_staff('moderator', new.author_id)
    and new.author_id is distinct from (select t.user_id from public.support_tickets t where t.id = new.ticket_id);
  return new;
end
$$;

create trigger support_messages_prepare
  before insert on public.support_messages
  for each row execute function private.prepare_support_message();

/**
 * Follows a new message onto its ticket under the ticket's row lock: the status (answered
 * after staff, open after the owner), the count (PT409 past ticket_messages_max) and the
 * time; a staff reply notifies the owner. SECURITY DEFINER: users cannot write a ticket's
 * status or the notifications.
 */
create function private.follow_support_message() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.support_tickets;
begin
  update public.support_tickets set
    status = case when new.from_staff then 'answered' else 'open' end,
    message_count = message_count + 1,
    last_message_at = new.created_at,
    updated_at = now()
  where id = new.ticket_id and status <> 'closed'
  returning * into t;
  if not found then
    -- Closed after the insert policy saw it open.
    raise exception using errcode = 'PT409', message = 'the ticket is closed: open a new one';
  end if;
  if t.message_count > private.input_limit('ticket_messages_max') then
    raise exception using errcode = 'PT409', message = format(
      'a ticket holds at most %s messages: open a new one', private.input_limit('ticket_messages_max'));
  end if;
  if new.from_staff then
    insert into public.notifications (user_id, type, title, body, data)
    values (t.user_id, 'support_reply', left(format('Support replied: %s', t.subject), 200), left(new.body, 1000),
      jsonb_build_object('ticket_id', t.id, 'message_id', new.id));
  end if;
  return null;
end
$$;

create trigger support_messages_follow
  after insert on public.support_messages
  for each row execute function private.follow_support_message();

/**
 * A message as the API shows it.
 */
create function private.support_message_json(m public.support_messages) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', m.id, 'ticket_id', m.ticket_id, 'author_id', m.author_id,
    'from_staff', m.from_staff, 'body', m.body, 'created_at', m.created_at)
$$;

/**
 * A ticket as the API shows it; with its thread (oldest first) when p_messages.
 */
create function private.ticket_json(t public.support_tickets, p_messages boolean default false) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', t.id, 'user_id', t.user_id, 'subject', t.subject, 'status', t.status,
    'message_count', t.message_count, 'last_message_at', t.last_message_at, 'closed_at', t.closed_at,
    'created_at', t.created_at, 'updated_at', t.updated_at)
  || case when p_messages then jsonb_build_object('messages', coalesce((
      select jsonb_agg(private.support_message_json(m) order by m.created_at, m.id)
      from public.support_messages m where m.ticket_id = t.id), '[]'::jsonb))
    else '{}'::jsonb end
$$;

grant execute on function private.support_message_json(public.support_messages),
  private.ticket_json(public.support_tickets, boolean) to authenticated;

/** Support API */

/**
 * Opens a ticket: {subject, message}; 201 with it and its first message. SECURITY INVOKER.
 */
create function api.create_ticket(p_subject text, p_message text) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  t public.support_tickets;
begin
  perform private.require_user();
  if p_subject is null or p_message is null then
    raise exception using errcode = 'PT400', message = 'subject and message are required';
  end if;
  perform private.check_feedback_text('subject', p_subject, 'ticket_subject_chars');
  perform private.check_feedback_text('message', p_message, 'ticket_message_chars');
  insert into public.support_tickets (subject) values (btrim(p_subject)) returning * into t;
  insert into public.support_messages (ticket_id, body) values (t.id, btrim(p_message));
  select * into t from public.support_tickets where id = t.id;
  return private.ticket_json(t, true);
end
$$;

grant execute on function api.create_ticket(text, text) to authenticated;

/**
 * The tickets the caller sees, newest first: a user's own; staff's every ticket, or
 * their own with p_mine. Optionally of one status. SECURITY INVOKER: RLS decides.
 */
create function api.list_tickets(
  p_status text default null,
  p_mine boolean default false,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  -- A user's list is their own: said here too (RLS would anyway), so it reads by user_id.
  v_mine boolean := coalesce(p_mine, false) or not private.is_staff('moderator');
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if p_status is not null and p_status not in ('open', 'answered', 'closed') then
    raise exception using errcode = 'PT400', message = 'status must be open, answered or closed';
  end if;

  with page as (
    select * from public.support_tickets t
    where (p_status is null or t.status = p_status)
      and (not v_mine or t.user_id = v_uid)
      and (p_cursor_id is null or (t.created_at, t.id) < (p_cursor_created_at, p_cursor_id))
    order by t.created_at desc, t.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.ticket_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_tickets(text, boolean, int, timestamptz, uuid) to authenticated;

/**
 * One ticket with its thread; PT404 when the caller does not see it. SECURITY INVOKER.
 */
create function api.get_ticket(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  t public.support_tickets;
begin
  perform private.caller_id();
  select * into t from public.support_tickets where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'ticket not found';
  end if;
  return private.ticket_json(t, true);
end
$$;

grant execute on function api.get_ticket(uuid) to authenticated;

/**
 * Adds a message to a ticket as its owner or as staff: 201 with it. PT404 when the caller
 * does not see the ticket, PT409 once it is closed. SECURITY INVOKER: the insert policy is
 * the fence; the ticket's status follows (private.follow_support_message).
 */
create function api.add_ticket_message(p_ticket_id uuid, p_body text) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_status text;
  m public.support_messages;
begin
  perform private.require_user();
  if p_body is null then
    raise exception using errcode = 'PT400', message = 'body is required';
  end if;
  perform private.check_feedback_text('body', p_body, 'ticket_message_chars');
  select status into v_status from public.support_tickets where id = p_ticket_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'ticket not found';
  elsif v_status = 'closed' then
    raise exception using errcode = 'PT409', message = 'the ticket is closed: open a new one';
  end if;
  insert into public.support_messages (ticket_id, body) values (p_ticket_id, btrim(p_body)) returning * into m;
  return private.support_message_json(m);
end
$$;

grant execute on function api.add_ticket_message(uuid, text) to authenticated;

/**
 * Closes a ticket, for its owner or staff (closing a closed one is a no-op): 200 with it.
 * PT404 for anyone else. SECURITY DEFINER: a ticket's status is not the owner's to write
 * otherwise; it checks the caller itself.
 */
create function api.close_ticket(p_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  t public.support_tickets;
begin
  select * into t from public.support_tickets where id = p_id for update;
  if not found or (t.user_id <> v_uid and not private.is_staff('moderator', v_uid)) then
    raise exception using errcode = 'PT404', message = 'ticket not found';
  end if;
  if t.status <> 'closed' then
    update public.support_tickets set status = 'closed', closed_at = now(), closed_by = v_uid, updated_at = now()
    where id = p_id
    returning * into t;
  end if;
  return private.ticket_json(t, true);
end
$$;

grant execute on function api.close_ticket(uuid) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
