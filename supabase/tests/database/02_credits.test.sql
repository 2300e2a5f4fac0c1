-- Credits: accounts follow the ledger, the ledger is append-only, admin adjustments are
-- audited and idempotent, strangers and anon see nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(38);

insert into auth.users (id, email) values
  ('20000000-0000-4000-8000-00000000a11c', 'alice.credits@example.test'),
  ('20000000-0000-4000-8000-000000000b0b', 'bob.credits@example.test'),
  ('20000000-0000-4000-8000-00000000ad01', 'admin.credits@example.test');
update public.profiles set role = 'admin' where id = '20000000-0000-4000-8000-00000000ad01';

/** Accounts */

select results_eq(
  $$ select balance, held from public.credit_accounts where owner_user_id = '20000000-0000-4000-8000-00000000a11c' $$,
  $$ values (0::bigint, 0::bigint) $$,
  'a new profile gets an empty credit account'
);
select is_empty(
  $$ select p.id from public.profiles p
     left join public.credit_accounts a on a.owner_user_id = p.id where a.id is null $$,
  'every profile has a credit account'
);

/** Admin adjustments */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "20000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);

select is(
  api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'grant', 500, 'welcome bonus', 'grant-1') -> 'account',
  '{"balance": 500, "held": 0, "available": 500}'::jsonb,
  'an admin grant raises the balance'
);
select is(
  (api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'grant', 500, 'welcome bonus', 'grant-1') ->> 'created')::boolean,
  false,
  'replaying the same idempotency key does not grant twice'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'grant', 900, 'welcome bonus', 'grant-1') $$,
  'PT409', 'idempotency key reused with a different payload',
  'the same key with another amount is a conflict'
);
select is(
  api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'adjustment', -100, 'goodwill correction', 'adj-1') -> 'entry' ->> 'balance_after',
  '400',
  'a negative adjustment lowers the balance'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'adjustment', -10000, 'too much', 'adj-2') $$,
  'PT402', null,
  'an adjustment cannot overdraw the account'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'grant', -5, 'negative grant', 'g-neg') $$,
  'PT400', null,
  'a grant must be positive'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'purchase', 5, 'x', 'g-kind') $$,
  'PT400', 'kind must be grant or adjustment',
  'admins cannot forge purchases'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'grant', 5, '  ', 'g-reason') $$,
  'PT400', 'reason is required (at most 500 characters)',
  'a reason is required'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000dead', 'grant', 5, 'ghost', 'g-ghost') $$,
  'PT404', 'credit account not found',
  'an unknown user is not found'
);

reset role;
select results_eq(
  $$ select kind, amount, actor, reason from public.credit_ledger l
     join public.credit_accounts a on a.id = l.account_id
     where a.owner_user_id = '20000000-0000-4000-8000-00000000a11c' order by l.id $$,
  $$ values ('grant', 500::bigint, '20000000-0000-4000-8000-00000000ad01'::uuid, 'welcome bonus'),
            ('adjustment', -100::bigint, '20000000-0000-4000-8000-00000000ad01'::uuid, 'goodwill correction') $$,
  'admin adjustments are on the ledger with the admin and the reason'
);

/** Alice reads her own credits */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "20000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

select is(
  api.get_my_credits() - 'entries' - 'next_before_id',
  '{"balance": 400, "held": 0, "available": 400}'::jsonb,
  'get_my_credits returns the totals'
);
select is(
  jsonb_array_length(api.get_my_credits(1, (api.get_my_credits(1) ->> 'next_before_id')::bigint) -> 'entries'),
  1,
  'get_my_credits pages with next_before_id'
);
select is(
  api.get_my_credits(1, (api.get_my_credits(1) ->> 'next_before_id')::bigint) -> 'entries' -> 0 ->> 'kind',
  'grant',
  'the second page holds the older entry'
);
select is(
  api.quote('flux-schnell', 'a fox', '{"num_outputs": 3}'),
  '{"action": "generate_image", "model": "flux-schnell", "kind": "image", "unit": "image", "units": 3, "credits": 15,
    "cost_usd": 0.009, "params": {"num_outputs": 3, "aspect_ratio": "1:1", "output_format": "webp",
    "num_inference_steps": 4}}'::jsonb,
  'quote derives the units from the params and prices them at the active price'
);
select is(
  (api.quote('kokoro-82m', repeat('a', 101)) ->> 'credits')::int,
  3,
  'credits round up (101 characters x 0.02 = 2.02 -> 3)'
);
select throws_ok(
  $$ select api.quote('no-such-model', 'x') $$,
  'PT400', 'model no-such-model is not available',
  'an unknown model has no price'
);
select throws_ok(
  $$ select api.quote('flux-schnell', 'x', '{"num_outputs": 0}') $$,
  'PT400', 'params.num_outputs must be an integer between 1 and 4',
  'zero images are refused'
);
select throws_ok(
  $$ select api.quote('kokoro-82m', repeat('a', 20001)) $$,
  'PT400', 'this request needs 20001 character units; kokoro-82m allows 0 to 20000',
  'units above the model maximum are refused'
);
select throws_ok(
  $$ select api.admin_adjust_credits('20000000-0000-4000-8000-00000000a11c', 'grant', 1000000, 'self-service', 'me') $$,
  'PT403', 'admin role required',
  'a user cannot grant herself credits'
);
select throws_ok(
  $$ insert into public.credit_ledger (account_id, kind, amount, balance_after, held_after)
     select id, 'grant', 1000, 1400, 0 from public.credit_accounts $$,
  '42501', null,
  'users cannot insert ledger entries'
);
select throws_ok(
  $$ update public.credit_accounts set balance = 1000000 $$,
  '42501', null,
  'users cannot update their balance'
);
select throws_ok(
  $$ delete from public.credit_ledger $$,
  '42501', null,
  'users cannot delete ledger entries'
);
select throws_ok($$ select api.audit_credits() $$, '42501', null, 'users cannot run the audit');
select throws_ok($$ select api.sweep_expired_holds() $$, '42501', null, 'users cannot run the sweep');
select ok((select count(*) from public.pricing) > 0, 'users can read prices');

/** Bob: a stranger */

select set_config('request.jwt.claims', '{"sub": "20000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);

select is_empty(
  $$ select id from public.credit_accounts where owner_user_id = '20000000-0000-4000-8000-00000000a11c' $$,
  'bob cannot read alice''s account'
);
select is_empty(
  $$ select l.id from public.credit_ledger l where l.account_id in (
       select id from public.credit_accounts where owner_user_id = '20000000-0000-4000-8000-00000000a11c') $$,
  'bob cannot read alice''s ledger'
);
select is((select count(*)::int from public.credit_ledger), 0, 'bob sees no ledger entries at all');
select is(
  api.get_my_credits(),
  '{"balance": 0, "held": 0, "available": 0, "entries": [], "next_before_id": null}'::jsonb,
  'bob''s get_my_credits shows only his empty account'
);

/** Anon */

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.get_my_credits() $$, '42501', null, 'anon cannot execute get_my_credits');
select throws_ok($$ select api.quote('flux-schnell', 'x') $$, '42501', null, 'anon cannot execute quote');
select throws_ok($$ select * from public.credit_ledger $$, '42501', null, 'anon cannot read the ledger');

/** The ledger is append-only, even for the owner */

reset role;
select throws_ok($$ update public.credit_ledger set amount = amount + 1 $$, 'PT403', 'credit_ledger is append-only', 'UPDATE is refused');
select throws_ok($$ delete from public.credit_ledger $$, 'PT403', 'credit_ledger is append-only', 'DELETE is refused');
select throws_ok($$ truncate public.credit_ledger cascade $$, 'PT403', 'credit_ledger is append-only', 'TRUNCATE is refused');

/** The books balance */

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(api.audit_credits(), '[]'::jsonb, 'audit_credits finds no violation');

select * from finish();
rollback;
