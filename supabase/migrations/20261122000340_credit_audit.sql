/**
 * Credit audit: re-derives the credits ledger's invariants (see the credits migration)
 * from the ledger, the holds and the generations, and lists every violation.
 */

/**
 * Re-derives the money invariants from the ledger and returns every violation as
 * {check, ...}; an empty array means the books balance. SECURITY INVOKER: only the
 * service role, which reads every row, may run it.
 */
create function api.audit_credits() returns jsonb
language sql
stable
set search_path = ''
as $$
  with sums as (
    select a.id, a.balance, a.held,
           coalesce(sum(l.amount), 0) as ledger_balance, coalesce(sum(l.held_delta), 0) as ledger_held
    from public.credit_accounts a
    left join public.credit_ledger l on l.account_id = a.id
    group by a.id
  ), running as (
    select id, account_id, balance_after, held_after,
           sum(amount) over w as expected_balance, sum(held_delta) over w as expected_held
    from public.credit_ledger
    window w as (partition by account_id order by id)
  ), resolutions as (
    select h.id, h.status, h.amount, h.charged,
           count(l.id) filter (where l.kind = 'reserve') as reserves,
           count(l.id) filter (where l.kind in ('settle', 'release')) as resolves,
           coalesce(-sum(l.amount) filter (where l.kind = 'settle'), 0) as settled
    from public.credit_holds h
    left join public.credit_ledger l on l.hold_id = h.id
    group by h.id
  ), violations as (
    select jsonb_build_object('check', 'ledger_sum_mismatch', 'account_id', id, 'balance', balance,
      'held', held, 'ledger_balance', ledger_balance, 'ledger_held', ledger_held) as v
    from sums where balance <> ledger_balance or held <> ledger_held
    union all
    select jsonb_build_object('check', 'negative_available', 'account_id', id, 'balance', balance, 'held', held)
    from public.credit_accounts where balance < held or held < 0
    union all
    select jsonb_build_object('check', 'ledger_chain_broken', 'entry_id', id, 'account_id', account_id)
    from running where balance_after <> expected_balance or held_after <> expected_held
    union all
    select jsonb_build_object('check', 'held_vs_open_holds', 'account_id', a.id, 'held', a.held,
      'open_holds', coalesce(sum(h.amount), 0))
    from public.credit_accounts a
    left join public.credit_holds h on h.account_id = a.id and h.status = 'open'
    group by a.id having a.held <> coalesce(sum(h.amount), 0)
    union all
    select jsonb_build_object('check', 'expired_open_hold', 'hold_id', id, 'expires_at', expires_at)
    from public.credit_holds where status = 'open' and expires_at < now() - interval '10 minutes'
    union all
    select jsonb_build_object('check', 'hold_resolution_mismatch', 'hold_id', id, 'status', status,
      'reserves', reserves, 'resolves', resolves)
    from resolutions
    where reserves <> 1 or resolves > 1 or (status = 'open') <> (resolves = 0)
       or (status = 'settled' and settled <> charged)
    union all
    select jsonb_build_object('check', 'transfer_unbalanced', 'idempotency_key', idempotency_key,
      'entries', count(*), 'sum', sum(amount))
    from public.credit_ledger where kind = 'transfer'
    group by idempotency_key having count(*) <> 2 or sum(amount) <> 0
    union all
    select jsonb_build_object('check', 'generation_charged_twice', 'generation_id', generation_id,
      'settlements', count(*))
    from public.credit_ledger where kind = 'settle' and generation_id is not null
    group by generation_id having count(*) > 1
    union all
    select jsonb_build_object('check', 'generation_charge_mismatch', 'generation_id', g.id,
      'status', g.status, 'credits_charged', g.credits_charged, 'hold_status', h.status, 'hold_charged', h.charged)
    from public.generations g
    left join public.credit_holds h on h.generation_id = g.id
    where (g.status in ('succeeded', 'failed', 'canceled') and h.status = 'open')
       or (g.status in ('queued', 'processing') and h.status is distinct from 'open' and g.credits_reserved > 0)
       or (h.status = 'settled' and g.credits_charged is distinct from h.charged)
  )
  select coalesce(jsonb_agg(v), '[]'::jsonb) from violations
$$;

grant execute on function api.audit_credits() to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
