/**
 * Credits ledger: accounts, an append-only ledger, holds, and the private primitives every
 * money path goes through; the caller's balance and an admin's grants.
 *
 * The guarantees (TigerBeetle's, kept in Postgres):
 * - an account's balance and held amount change only together with one ledger row that
 *   records the delta and the resulting totals, in the same statement sequence, under
 *   the account's row lock; the ledger is never updated or deleted;
 * - balance >= held >= 0 is a CHECK, so no path can overdraw, whatever its bugs;
 * - a hold is resolved (settled or released) exactly once: the resolving UPDATE only
 *   matches `status = 'open'`, and its ledger row has a per-account unique key;
 * - lock order everywhere: credit account, then generation, then hold / task; only
 *   mark_generation_submitted, which moves no money, locks a generation alone.
 * api.audit_credits() (credit audit migration) re-derives all of this from the ledger.
 * What things cost is the models and pricing migration's job.
 */

/** Accounts */

create table public.credit_accounts (
  id uuid primary key default gen_random_uuid(),
  -- Null once the user is deleted: the ledger outlives its owner.
  owner_user_id uuid unique references public.profiles (id) on delete set null,
  -- A workspace's account (foreign key and index in the workspaces migration).
  workspace_id uuid,
  balance bigint not null default 0,
  held bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint credit_accounts_held_not_negative check (held >= 0),
  constraint credit_accounts_no_overdraft check (balance >= held)
);

comment on table public.credit_accounts is
  'Materialized totals of credit_ledger; available = balance - held.';

alter table public.credit_accounts enable row level security;

create policy "Users can view their own credit account"
  on public.credit_accounts for select to authenticated
  using (owner_user_id = (select auth.uid()));

revoke all on public.credit_accounts from anon, authenticated, service_role;
grant select on public.credit_accounts to authenticated, service_role;

/**
 * Opens a credit account for every new profile. SECURITY DEFINER: profiles may be
 * inserted by roles that cannot write credit_accounts.
 */
create function private.create_credit_account() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.credit_accounts (owner_user_id) values (new.id)
  on conflict (owner_user_id) do nothing;
  return new;
end
$$;

create trigger profiles_create_credit_account
  after insert on public.profiles
  for each row execute function private.create_credit_account();

insert into public.credit_accounts (owner_user_id)
select id from public.profiles
on conflict (owner_user_id) do nothing;

/** Holds */

create table public.credit_holds (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.credit_accounts (id),
  -- Foreign key added by the generations migration.
  generation_id uuid unique,
  amount bigint not null check (amount > 0),
  status text not null default 'open' check (status in ('open', 'settled', 'released')),
  charged bigint check (charged between 0 and amount),
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  constraint credit_holds_resolution check (
    (status = 'open' and resolved_at is null and charged is null)
    or (status = 'settled' and resolved_at is not null and charged is not null)
    or (status = 'released' and resolved_at is not null and charged = 0)
  )
);

-- Every index costs each hold's insert and resolution. These two have readers: the hold
-- sweep (open holds by expiry) and users' own reads under RLS (by account).
create index credit_holds_expiry_idx on public.credit_holds (expires_at) where status = 'open';
create index credit_holds_account_idx on public.credit_holds (account_id);

alter table public.credit_holds enable row level security;

create policy "Users can view their own credit holds"
  on public.credit_holds for select to authenticated
  using (account_id in (
    select id from public.credit_accounts where owner_user_id = (select auth.uid())
  ));

revoke all on public.credit_holds from anon, authenticated, service_role;
grant select on public.credit_holds to authenticated, service_role;

/** Ledger */

create table public.credit_ledger (
  id bigint generated always as identity primary key,
  account_id uuid not null references public.credit_accounts (id),
  kind text not null
    check (kind in ('grant', 'purchase', 'reserve', 'settle', 'release', 'refund', 'adjustment', 'transfer')),
  amount bigint not null,
  held_delta bigint not null default 0,
  balance_after bigint not null,
  held_after bigint not null,
  -- Internal keys prefix the client's (admin:, reserve:, resolve:), hence more room.
  idempotency_key text check (char_length(idempotency_key) between 1 and 255),
  hold_id uuid references public.credit_holds (id),
  -- No foreign key: the ledger keeps the id after a generation is deleted.
  generation_id uuid,
  actor uuid,
  reason text check (char_length(reason) <= 500),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint credit_ledger_idempotency unique (account_id, idempotency_key),
  constraint credit_ledger_totals check (held_after >= 0 and balance_after >= held_after),
  -- Each kind moves money in one direction only.
  constraint credit_ledger_kind_shape check (case kind
    when 'grant' then amount > 0 and held_delta = 0
    when 'purchase' then amount > 0 and held_delta = 0
    when 'refund' then amount > 0 and held_delta = 0
    when 'adjustment' then amount <> 0 and held_delta = 0
    -- Between a user's and a workspace's account: a pair of entries summing to zero.
    when 'transfer' then amount <> 0 and held_delta = 0
    when 'reserve' then amount = 0 and held_delta > 0 and hold_id is not null
    when 'settle' then amount <= 0 and held_delta < 0 and hold_id is not null
    when 'release' then amount = 0 and held_delta < 0 and hold_id is not null
  end)
);

comment on table public.credit_ledger is
  'Append-only. amount is the balance delta, held_delta the held delta; *_after are the account totals after the entry.';

-- The keyset page of get_my_credits. Nothing looks entries up by hold or generation except
-- the audit, which reads whole tables; holds are never deleted, so the hold_id foreign key
-- needs no index either.
create index credit_ledger_account_idx on public.credit_ledger (account_id, id desc);

alter table public.credit_ledger enable row level security;

create policy "Users can view their own ledger entries"
  on public.credit_ledger for select to authenticated
  using (account_id in (
    select id from public.credit_accounts where owner_user_id = (select auth.uid())
  ));

revoke all on public.credit_ledger from anon, authenticated, service_role;
grant select on public.credit_ledger to authenticated, service_role;

/**
 * Refuses UPDATE, DELETE and TRUNCATE on the ledger, for every role including the owner:
 * corrections are new entries (kind adjustment or refund).
 */
create function private.refuse_ledger_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception using errcode = 'PT403', message = 'credit_ledger is append-only';
end
$$;

create trigger credit_ledger_no_update_delete
  before update or delete on public.credit_ledger
  for each row execute function private.refuse_ledger_change();

create trigger credit_ledger_no_truncate
  before truncate on public.credit_ledger
  for each statement execute function private.refuse_ledger_change();

/** Ledger primitives (private) */

/**
 * Locks and returns the user's credit account. Every money path starts here, so
 * concurrent requests of one user serialize on this row and never deadlock.
 */
create function private.lock_account(p_user_id uuid) returns public.credit_accounts
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts;
begin
  select * into v_account from public.credit_accounts
  where owner_user_id = p_user_id
  for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'credit account not found';
  end if;
  return v_account;
end
$$;

/**
 * Locks and returns the account a piece of work is billed to: the workspace's when it
 * belongs to one, else the user's. Membership is checked where the work starts, not
 * here: work a removed member started still settles on the account it reserved on.
 */
create function private.lock_billing_account(p_user_id uuid, p_workspace_id uuid) returns public.credit_accounts
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts;
begin
  if p_workspace_id is null then
    return private.lock_account(p_user_id);
  end if;
  select * into v_account from public.credit_accounts where workspace_id = p_workspace_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'credit account not found';
  end if;
  return v_account;
end
$$;

/**
 * Appends one ledger entry and applies it to the account totals. The caller holds the
 * account lock. Refuses with PT402 instead of letting the CHECK fail, so callers see
 * one error for "not enough credits". One UPDATE checks, applies and returns the new
 * totals; the account is read again only to word a refusal.
 */
create function private.post_entry(
  p_account_id uuid,
  p_kind text,
  p_amount bigint,
  p_held_delta bigint,
  p_idempotency_key text default null,
  p_hold_id uuid default null,
  p_generation_id uuid default null,
  p_actor uuid default null,
  p_reason text default null,
  p_metadata jsonb default '{}'::jsonb
) returns public.credit_ledger
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts;
  v_entry public.credit_ledger;
begin
  update public.credit_accounts
  set balance = balance + p_amount, held = held + p_held_delta, updated_at = now()
  where id = p_account_id and balance + p_amount >= held + p_held_delta
  returning * into v_account;
  if not found then
    select * into strict v_account from public.credit_accounts where id = p_account_id;
    raise exception using errcode = 'PT402',
      message = format('insufficient credits: %s needed, %s available',
        greatest(-p_amount, 0) + greatest(p_held_delta, 0), v_account.balance - v_account.held);
  end if;

  insert into public.credit_ledger (account_id, kind, amount, held_delta, balance_after, held_after,
    idempotency_key, hold_id, generation_id, actor, reason, metadata)
  values (p_account_id, p_kind, p_amount, p_held_delta, v_account.balance, v_account.held,
    p_idempotency_key, p_hold_id, p_generation_id, p_actor, p_reason, coalesce(p_metadata, '{}'::jsonb))
  returning * into v_entry;
  return v_entry;
end
$$;

/**
 * Applies a grant / purchase / refund / adjustment exactly once per idempotency key:
 * a replay with the same kind, amount and reason returns the first entry
 * (created = false); the same key with another payload is PT409.
 */
create function private.change_credits(
  p_user_id uuid,
  p_kind text,
  p_amount bigint,
  p_idempotency_key text,
  p_actor uuid,
  p_reason text,
  p_metadata jsonb default '{}'::jsonb,
  out entry public.credit_ledger,
  out created boolean
)
language plpgsql
set search_path = ''
as $$
declare
  v_account public.credit_accounts := private.lock_account(p_user_id);
begin
  if p_kind not in ('grant', 'purchase', 'refund', 'adjustment') then
    raise exception using errcode = 'PT400', message = format('%s is not a credit change kind', p_kind);
  end if;

  select * into entry from public.credit_ledger
  where account_id = v_account.id and idempotency_key = p_idempotency_key;
  if found then
    if (entry.kind, entry.amount, entry.reason) is distinct from (p_kind, p_amount, p_reason) then
      raise exception using errcode = 'PT409', message = 'idempotency key reused with a different payload';
    end if;
    created := false;
    return;
  end if;

  entry := private.post_entry(v_account.id, p_kind, p_amount, 0, p_idempotency_key,
    null, null, p_actor, p_reason, p_metadata);
  created := true;
end
$$;

/**
 * Reserves credits on a locked account for one generation. PT402 when available
 * credits are short; nothing is written then.
 */
create function private.place_hold(
  p_account_id uuid,
  p_amount bigint,
  p_generation_id uuid,
  p_expires_at timestamptz,
  p_actor uuid
) returns public.credit_holds
language plpgsql
set search_path = ''
as $$
declare
  v_hold public.credit_holds;
begin
  insert into public.credit_holds (account_id, generation_id, amount, expires_at)
  values (p_account_id, p_generation_id, p_amount, p_expires_at)
  returning * into v_hold;

  perform private.post_entry(p_account_id, 'reserve', 0, p_amount, 'reserve:' || v_hold.id,
    v_hold.id, p_generation_id, p_actor, null);
  return v_hold;
end
$$;

/**
 * Resolves an open hold exactly once: charges p_charge (settle) or nothing when
 * p_charge is null (release), and frees the whole hold. Returns null when the hold was
 * already resolved, which makes retries and races harmless. The caller holds the lock of
 * the hold's account (lock order: account, then hold).
 */
create function private.resolve_hold(
  p_hold_id uuid,
  p_charge bigint,
  p_actor uuid default null,
  p_reason text default null
) returns public.credit_ledger
language plpgsql
set search_path = ''
as $$
declare
  v_hold public.credit_holds;
begin
  update public.credit_holds
  set status = case when p_charge is null then 'released' else 'settled' end,
      charged = coalesce(p_charge, 0),
      resolved_at = now()
  where id = p_hold_id and status = 'open'
  returning * into v_hold;
  if not found then
    if not exists (select 1 from public.credit_holds where id = p_hold_id) then
      raise exception using errcode = 'PT404', message = 'credit hold not found';
    end if;
    return null;
  end if;

  if coalesce(p_charge, 0) not between 0 and v_hold.amount then
    raise exception using errcode = 'PT400',
      message = format('charge %s is outside the hold of %s', p_charge, v_hold.amount);
  end if;

  return private.post_entry(v_hold.account_id,
    case when p_charge is null then 'release' else 'settle' end,
    -coalesce(p_charge, 0), -v_hold.amount, 'resolve:' || v_hold.id,
    v_hold.id, v_hold.generation_id, p_actor, p_reason);
end
$$;

/** Credits API */

/**
 * The caller's balance and a keyset page of their ledger, newest first.
 * SECURITY INVOKER: RLS decides what is visible.
 */
create function api.get_my_credits(p_limit int default 20, p_before_id bigint default null) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_account public.credit_accounts;
  v_entries jsonb;
  v_count int;
begin
  perform private.check_page_limit(p_limit);

  select * into v_account from public.credit_accounts where owner_user_id = v_uid;

  select coalesce(jsonb_agg(jsonb_build_object(
      'id', e.id, 'kind', e.kind, 'amount', e.amount, 'held_delta', e.held_delta,
      'balance_after', e.balance_after, 'held_after', e.held_after, 'reason', e.reason,
      'generation_id', e.generation_id, 'created_at', e.created_at) order by e.id desc), '[]'::jsonb),
    count(*)
  into v_entries, v_count
  from (
    select * from public.credit_ledger
    where account_id = v_account.id and (p_before_id is null or id < p_before_id)
    order by id desc
    limit p_limit + 1  -- one more than asked tells whether a next page exists
  ) e;
  if v_count > p_limit then
    v_entries := v_entries - p_limit;
  end if;

  return jsonb_build_object(
    'balance', coalesce(v_account.balance, 0),
    'held', coalesce(v_account.held, 0),
    'available', coalesce(v_account.balance - v_account.held, 0),
    'entries', v_entries,
    'next_before_id', case when v_count > p_limit then v_entries -> -1 -> 'id' end
  );
end
$$;

grant execute on function api.get_my_credits(int, bigint) to authenticated;

/**
 * Grants (or, kind adjustment, adds / removes) credits on a user's account. Admins
 * only; the admin's id and the reason are recorded on the ledger entry. Idempotent per
 * (user, p_idempotency_key).
 */
create function api.admin_adjust_credits(
  p_user_id uuid,
  p_kind text,
  p_amount bigint,
  p_reason text,
  p_idempotency_key text
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_admin uuid := private.require_admin();
  v_change record;
  v_account public.credit_accounts;
begin
  if p_kind is null or p_kind not in ('grant', 'adjustment') then
    raise exception using errcode = 'PT400', message = 'kind must be grant or adjustment';
  end if;
  if p_amount is null or p_amount = 0 or (p_kind = 'grant' and p_amount < 0)
     or abs(p_amount) > private.input_limit('credit_amount_max') then
    raise exception using errcode = 'PT400', message = format(
      'amount must be non-zero, positive for a grant, and at most %s', private.input_limit('credit_amount_max'));
  end if;
  if char_length(btrim(coalesce(p_reason, ''))) not between 1 and private.input_limit('reason_chars') then
    raise exception using errcode = 'PT400',
      message = format('reason is required (at most %s characters)', private.input_limit('reason_chars'));
  end if;
  if char_length(coalesce(p_idempotency_key, '')) not between 1 and private.input_limit('idempotency_key_chars') then
    raise exception using errcode = 'PT400', message = format(
      'Idempotency-Key is required (at most %s characters)', private.input_limit('idempotency_key_chars'));
  end if;

  select * into v_change from private.change_credits(p_user_id, p_kind, p_amount,
    'admin:' || p_idempotency_key, v_admin, btrim(p_reason), '{"via": "admin_adjust_credits"}');
  select * into v_account from public.credit_accounts where owner_user_id = p_user_id;

  return jsonb_build_object(
    'account', jsonb_build_object('balance', v_account.balance, 'held', v_account.held,
      'available', v_account.balance - v_account.held),
    'entry', jsonb_build_object('id', (v_change.entry).id, 'kind', (v_change.entry).kind,
      'amount', (v_change.entry).amount, 'held_delta', (v_change.entry).held_delta,
      'balance_after', (v_change.entry).balance_after, 'held_after', (v_change.entry).held_after,
      'reason', (v_change.entry).reason, 'actor', (v_change.entry).actor,
      'generation_id', (v_change.entry).generation_id, 'created_at', (v_change.entry).created_at),
    'created', v_change.created
  );
end
$$;

grant execute on function api.admin_adjust_credits(uuid, text, bigint, text, text) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
