-- Reconciliation: which generations reconcile_candidates hands out (and when again), who may
-- call it, and that a result found by polling and the provider's own webhook settle a
-- generation exactly once between them.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(17);

insert into auth.users (id, email) values
  ('70000000-0000-4000-8000-00000000a11c', 'alice.reconcile@example.test'),
  ('70000000-0000-4000-8000-0000000ad010', 'admin.reconcile@example.test');
update public.profiles set role = 'admin' where id = '70000000-0000-4000-8000-0000000ad010';
select private.change_credits('70000000-0000-4000-8000-00000000a11c', 'grant', 1000, 'test:grant', null, 'test');

create temp table ids (name text primary key, id uuid);
grant select on ids to service_role, authenticated;

-- Provider generations as a cut-short submission or a lost webhook leaves them, dated by
-- `age`, each with its 10-credit hold (inserted directly so the test can date them).
create function pg_temp.generation(p_name text, p_status text, p_prediction text, p_age interval)
  returns uuid
language plpgsql as $$
declare
  v_id uuid;
begin
  insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id, units,
    credits_reserved, status, provider, provider_prediction_id, created_at, started_at)
  select '70000000-0000-4000-8000-00000000a11c', 'image', p.action, p.model, 'a lighthouse', 'provider',
    p.id, 2, 10, p_status, case when p_prediction is not null then 'replicate' end, p_prediction,
    now() - p_age, case when p_status <> 'queued' then now() - p_age end
  from public.pricing p where p.model = 'flux-schnell'
  order by p.active_from desc limit 1
  returning id into v_id;
  perform private.place_hold(
    (select id from public.credit_accounts where owner_user_id = '70000000-0000-4000-8000-00000000a11c'),
    10, v_id, now() + interval '1 hour', null);
  insert into ids values (p_name, v_id);
  return v_id;
end
$$;

select pg_temp.generation('stuck', 'processing', 'pred-rec-stuck', interval '3 minutes');
select pg_temp.generation('running', 'processing', 'pred-rec-running', interval '30 seconds');
select pg_temp.generation('orphan', 'queued', null, interval '3 minutes');
select pg_temp.generation('submitting', 'queued', null, interval '20 seconds');

create function pg_temp.picked(p_result jsonb) returns text[]
language sql as $$
  select coalesce(array_agg(i.name order by i.name), '{}')
  from jsonb_array_elements(p_result -> 'items') e
  join ids i on i.id = (e ->> 'generation_id')::uuid
$$;
grant execute on function pg_temp.picked(jsonb) to service_role, authenticated;

/** Who may call it */

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.reconcile_candidates(10) $$, '42501', null,
  'anon cannot run reconciliation');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "70000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select throws_ok($$ select api.reconcile_candidates(10) $$, 'PT403', 'admin role required',
  'a user who is not an admin cannot run reconciliation');
reset role;

/** What is handed out */

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(pg_temp.picked(api.reconcile_candidates(50)), array['orphan', 'stuck'],
  'processing past 2 minutes and queued-without-prediction past 2 minutes are handed out; recent ones are not');
select is(
  (select e from jsonb_array_elements(api.reconcile_candidates(50) -> 'items') e limit 1), null,
  'a generation looked at in the last minute is not handed out again');
reset role;
select is(
  (select count(*)::int from public.generations where reconciled_at is not null),
  2, 'only the handed-out generations are stamped');

update public.generations set reconciled_at = now() - interval '90 seconds'
where id = (select id from ids where name = 'stuck');
update public.generations set created_at = now() - interval '3 minutes'
where id = (select id from ids where name = 'submitting');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "70000000-0000-4000-8000-0000000ad010", "role": "authenticated"}', true);
select is(pg_temp.picked(api.reconcile_candidates(50)), array['stuck', 'submitting'],
  'an admin may run it; a generation last looked at over a minute ago comes back, and one that came of age joins');
reset role;

update public.generations set reconciled_at = null
where id in (select id from ids where name in ('stuck', 'orphan'));
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(jsonb_array_length(api.reconcile_candidates(1) -> 'items'), 1, 'the limit is honoured');
select throws_ok($$ select api.reconcile_candidates(0) $$, 'PT400', 'limit must be between 1 and 500',
  'a limit out of range is refused in the API''s words');
select throws_ok($$ select api.reconcile_candidates(null) $$, 'PT400', 'limit must be between 1 and 500',
  'a null limit is refused');

/** Exactly once between polling and the webhook */

select is(
  api.handle_provider_webhook(p_provider => 'replicate', p_webhook_id => 'poll:pred-rec-stuck',
    p_prediction_id => 'pred-rec-stuck', p_status => 'succeeded',
    p_output => '["https://cdn.example.test/a.png"]', p_metrics => '{"predict_time": 1.5}') -> 'generation' ->> 'status',
  'succeeded', 'a result found by polling finishes the generation through the webhook path');
reset role;
create temp table charged as
select credits_charged, (select balance from public.credit_accounts
  where owner_user_id = '70000000-0000-4000-8000-00000000a11c') as balance
from public.generations where id = (select id from ids where name = 'stuck');
select ok((select credits_charged between 1 and 10 from charged), 'it is charged within its reservation');

set local role service_role;
select is(
  (api.handle_provider_webhook(p_provider => 'replicate', p_webhook_id => 'msg_late_real_webhook',
    p_prediction_id => 'pred-rec-stuck', p_status => 'succeeded',
    p_output => '["https://cdn.example.test/a.png", "https://cdn.example.test/b.png"]')) -> 'generation' ->> 'status',
  'succeeded', 'the provider''s own webhook arriving later is accepted');
select is(
  api.handle_provider_webhook(p_provider => 'replicate', p_webhook_id => 'poll:pred-rec-stuck',
    p_prediction_id => 'pred-rec-stuck', p_status => 'succeeded') -> 'duplicate',
  'true'::jsonb, 'a second poll of the same prediction is a duplicate');
reset role;
select is(
  (select (credits_charged, (select balance from public.credit_accounts
     where owner_user_id = '70000000-0000-4000-8000-00000000a11c'))::text
   from public.generations where id = (select id from ids where name = 'stuck')),
  (select (credits_charged, balance)::text from charged),
  'and changes neither the charge nor the balance: settled exactly once');

/** A submission cut short and never found at the provider */

set local role service_role;
select is(
  api.fail_generation_submission((select id from ids where name = 'orphan'), 'not found at the provider')
    ->> 'status',
  'failed', 'a generation never found at the provider is failed');
reset role;
select is(
  (select status from public.credit_holds where generation_id = (select id from ids where name = 'orphan')),
  'released', 'and its hold is released');

set local role service_role;
select is(api.audit_credits(), '[]'::jsonb, 'audit_credits finds no violation');

select * from finish();
rollback;
