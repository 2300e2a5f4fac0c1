/**
 * Notifications (002's: a type, a title and a read flag per user): written by SQL, never by
 * clients, when something the user waits for happens:
 *   generation_succeeded / generation_failed  a generation (not a LoRA's training run) ends;
 *   training_succeeded / training_failed      a LoRA's training ends (ready or failed);
 *   file_processed / file_failed              an uploaded file is ingested or fails;
 *   invitation                                an invitation for the user's email arrives;
 *   credits_low                               the user's balance falls below
 *                                             private.low_credits_threshold() (the crossing
 *                                             only, not every debit below it);
 *   support_reply                             staff answer the user's ticket (feedback migration);
 *   idea_status                               staff move the user's idea (feedback migration).
 *
 * Every source is a trigger with a `when` clause naming its one transition, so the hot
 * tables (generations, credit_accounts) pay for a trigger call only on that transition.
 * The triggers are SECURITY DEFINER: the paths that fire them run as users, the service
 * role or other definers, and none of them may write notifications.
 *
 * Users read, count and mark their own (SECURITY INVOKER, RLS); retention removes old ones
 * (a scheduled job, bounded per run).
 */

/** Notifications */

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  type text not null check (type in ('generation_succeeded', 'generation_failed', 'training_succeeded',
    'training_failed', 'file_processed', 'file_failed', 'invitation', 'credits_low', 'support_reply',
    'idea_status')),
  title text not null check (char_length(title) between 1 and 200),
  body text check (char_length(body) <= 1000),
  -- What the notification is about, for a client's link: ids and small values, never a
  -- secret (an invitation's token is shown only to its creator).
  data jsonb not null default '{}'::jsonb check (jsonb_typeof(data) = 'object'),
  read_at timestamptz,
  created_at timestamptz not null default now()
);

comment on table public.notifications is
  'Per-user notifications, written by SQL triggers; users read them and mark them read.';

-- The list, newest first (and the policy's user_id); the unread list and count read the
-- partial one, which stays small however many a user keeps.
create index notifications_user_created_idx on public.notifications (user_id, created_at desc, id desc);
create index notifications_unread_idx on public.notifications (user_id, created_at desc, id desc)
  where read_at is null;

alter table public.notifications enable row level security;

create policy "Users can view their own notifications"
  on public.notifications for select to authenticated
  using (user_id = (select auth.uid()));

create policy "Users can mark their own notifications read"
  on public.notifications for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

-- Only read_at is the user's; rows come from the triggers below.
revoke all on public.notifications from anon, authenticated, service_role;
grant select on public.notifications to authenticated, service_role;
grant update (read_at) on public.notifications to authenticated;

/**
 * A notification as the API shows it.
 */
create function private.notification_json(n public.notifications) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', n.id, 'type', n.type, 'title', n.title, 'body', n.body, 'data', n.data,
    'read', n.read_at is not null, 'read_at', n.read_at, 'created_at', n.created_at)
$$;

grant execute on function private.notification_json(public.notifications) to authenticated;

/** Sources */

/**
 * The balance under which a user hears that their credits run low. A function rather than
 * a literal, so the trigger's `when` clause and the tests read the one number.
 */
create function private.low_credits_threshold() returns bigint
language sql
immutable
set search_path = ''
as $$
  select 100::bigint
$$;

grant execute on function private.low_credits_threshold() to authenticated, service_role;

/**
 * A generation ended: its creator hears it succeeded or failed (a cancel is their own
 * doing, and a LoRA's training run is told by the LoRA, below).
 */
create function private.notify_generation_finished() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (user_id, type, title, body, data)
  values (new.user_id,
    case new.status when 'succeeded' then 'generation_succeeded' else 'generation_failed' end,
    case new.status when 'succeeded' then format('Your %s is ready', new.kind)
      else format('Your %s failed', new.kind) end,
    case new.status when 'succeeded' then left(new.title, 1000) else left(new.error, 1000) end,
    jsonb_build_object('generation_id', new.id, 'kind', new.kind, 'model', new.model));
  return null;
end
$$;

create trigger generations_notify_finished
  after update of status on public.generations
  for each row when (old.status is distinct from new.status and new.status in ('succeeded', 'failed')
    and new.kind <> 'training')
  execute function private.notify_generation_finished();

/**
 * A LoRA's training ended: its creator hears it is ready or failed, with the reason.
 */
create function private.notify_training_finished() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (user_id, type, title, body, data)
  values (new.user_id,
    case new.status when 'ready' then 'training_succeeded' else 'training_failed' end,
    left(case new.status when 'ready' then format('LoRA %s is trained', new.name)
      else format('Training of LoRA %s failed', new.name) end, 200),
    case new.status when 'failed' then left(new.error, 1000) end,
    jsonb_build_object('lora_id', new.id, 'generation_id', new.generation_id));
  return null;
end
$$;

create trigger loras_notify_training_finished
  after update of status on public.loras
  for each row when (old.status = 'training' and new.status in ('ready', 'failed'))
  execute function private.notify_training_finished();

/**
 * A file's ingest ended: its owner hears it is searchable, or why it failed. A deleted
 * file's late outcome is news to nobody.
 */
create function private.notify_file_processed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (user_id, type, title, body, data)
  values (new.user_id,
    case new.status when 'completed' then 'file_processed' else 'file_failed' end,
    left(case new.status when 'completed' then format('%s is ready', new.name)
      else format('%s could not be processed', new.name) end, 200),
    case new.status when 'failed' then left(new.error, 1000) end,
    jsonb_build_object('file_id', new.id));
  return null;
end
$$;

create trigger files_notify_processed
  after update of status on public.files
  for each row when (old.status is distinct from new.status and new.status in ('completed', 'failed')
    and new.deleted_at is null)
  execute function private.notify_file_processed();

-- The invitation trigger finds the invitee by email (invitations store it lowercased).
create index profiles_email_lower_idx on public.profiles (lower(email));

/**
 * An invitation for an email arrived: the user with that email (if they have an account)
 * hears what they are invited to and with which role. The token is not in it: accepting
 * takes the link its creator sends.
 */
create function private.notify_invitation() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (user_id, type, title, data)
  select p.id, 'invitation', format('You are invited to a %s as %s', new.resource_type, new.role),
    jsonb_build_object('invitation_id', new.id, 'resource_type', new.resource_type,
      'resource_id', new.resource_id, 'role', new.role, 'expires_at', new.expires_at)
  from public.profiles p
  where lower(p.email) = new.email and p.id is distinct from new.created_by;
  return null;
end
$$;

create trigger invitations_notify_invitee
  after insert on public.invitations
  for each row when (new.email is not null)
  execute function private.notify_invitation();

/**
 * A user's balance fell below the threshold: they hear it once per crossing (a grant that
 * lifts it above arms the next one). Workspace accounts have no single user to tell.
 */
create function private.notify_credits_low() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.notifications (user_id, type, title, body, data)
  values (new.owner_user_id, 'credits_low', 'Your credits are running low',
    format('%s credits left', new.balance),
    jsonb_build_object('balance', new.balance, 'threshold', private.low_credits_threshold()));
  return null;
end
$$;

create trigger credit_accounts_notify_low
  after update of balance on public.credit_accounts
  for each row when (old.balance >= private.low_credits_threshold()
    and new.balance < private.low_credits_threshold() and new.owner_user_id is not null)
  execute function private.notify_credits_low();

/** Notifications API */

/**
 * The caller's notifications, newest first; p_unread = true lists only the unread ones.
 * SECURITY INVOKER: RLS keeps it to the caller's own.
 */
create function api.list_notifications(
  p_unread boolean default false,
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
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);

  with page as (
    select * from public.notifications n
    where n.user_id = v_uid
      and (not coalesce(p_unread, false) or n.read_at is null)
      and (p_cursor_id is null or (n.created_at, n.id) < (p_cursor_created_at, p_cursor_id))
    order by n.created_at desc, n.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.notification_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_notifications(boolean, int, timestamptz, uuid) to authenticated;

/**
 * {unread}: how many of the caller's notifications are unread. SECURITY INVOKER.
 */
create function api.unread_notification_count() returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('unread', count(*))
  from public.notifications
  where user_id = private.caller_id() and read_at is null
$$;

grant execute on function api.unread_notification_count() to authenticated;

/**
 * Marks one of the caller's notifications read (again: a no-op, its first read_at kept);
 * PT404 for anyone else's. Returns it. SECURITY INVOKER: the update policy is the fence.
 */
create function api.mark_notification_read(p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  n public.notifications;
begin
  update public.notifications set read_at = coalesce(read_at, now())
  where id = p_id and user_id = v_uid
  returning * into n;
  if not found then
    raise exception using errcode = 'PT404', message = 'notification not found';
  end if;
  return private.notification_json(n);
end
$$;

grant execute on function api.mark_notification_read(uuid) to authenticated;

/**
 * Marks every unread notification of the caller read: {updated: how many}. SECURITY INVOKER.
 */
create function api.mark_all_notifications_read() returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_count bigint;
begin
  update public.notifications set read_at = now()
  where user_id = v_uid and read_at is null;
  get diagnostics v_count = row_count;
  return jsonb_build_object('updated', v_count);
end
$$;

grant execute on function api.mark_all_notifications_read() to authenticated;

/** Retention */

/**
 * Deletes notifications read more than 90 days ago and any older than a year, at most
 * 10,000 a run (the next run takes the rest). Idempotent and safe to run twice at once:
 * rows another run holds are skipped. Returns how many it deleted. A scheduled job.
 */
create function api.purge_old_notifications() returns int
language plpgsql
set search_path = ''
as $$
declare
  v_count int;
begin
  delete from public.notifications
  where id in (
    select id from public.notifications
    where (read_at < now() - interval '90 days') or created_at < now() - interval '1 year'
    limit 10000
    for update skip locked);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

grant execute on function api.purge_old_notifications() to service_role;
-- Its skip-locked read takes row locks, which needs an update grant.
grant delete, update (read_at) on public.notifications to service_role;

insert into private.scheduled_jobs (name, schedule, every, fn)
values ('genbase-purge-old-notifications', '41 3 * * *', interval '1 hour', 'api.purge_old_notifications()')
on conflict (name) do update set schedule = excluded.schedule, every = excluded.every, fn = excluded.fn;

do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform private.schedule_sweeps();
  end if;
end
$$;

/** Lock down */

revoke execute on all functions in schema api, private from public;
