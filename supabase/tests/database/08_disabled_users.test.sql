-- A disabled user reads their own data and nothing else: every write path for users,
-- RPC or direct table write, refuses them with 403 and changes nothing. A disabled admin
-- is no admin.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(20);

insert into auth.users (id, email) values
  ('80000000-0000-4000-8000-00000000a11c', 'alice.disabled@example.test'),
  ('80000000-0000-4000-8000-00000000ad01', 'admin.disabled@example.test');
update public.profiles set role = 'admin' where id = '80000000-0000-4000-8000-00000000ad01';
select private.change_credits('80000000-0000-4000-8000-00000000a11c', 'grant', 100, 'test:grant', null, 'test');

create temp table ids (name text primary key, id uuid);
grant all on ids to public;

-- While active, alice starts a generation (so there is something to cancel later).
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "80000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids select 'g1', (api.create_generation('image', 'flux-schnell', 'a fox', '{}') -> 'generation' ->> 'id')::uuid;

reset role;
update public.profiles set is_active = false
where id in ('80000000-0000-4000-8000-00000000a11c', '80000000-0000-4000-8000-00000000ad01');
create temp table before as
select (select jsonb_agg(to_jsonb(g) order by id) from public.generations g
        where user_id = '80000000-0000-4000-8000-00000000a11c') as generations,
       (select to_jsonb(p) from public.profiles p where id = '80000000-0000-4000-8000-00000000a11c') as profile,
       (select count(*) from public.credit_ledger) as entries;
grant all on before to public;

/** Alice, disabled: reads work */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "80000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

select is(api.get_my_profile() ->> 'is_active', 'false', 'a disabled user reads her profile');
select is(api.get_generation((select id from ids where name = 'g1')) ->> 'prompt', 'a fox', 'and her generation');
select is(jsonb_array_length(api.list_generations() -> 'items'), 1, 'and her list of generations');
select is((api.get_my_credits() ->> 'balance')::int, 100, 'and her credits');
select is(api.get_monthly_usage(current_date) -> 'items', '[]'::jsonb, 'and her usage');

/** ... and every write is refused */

select throws_ok($$ select api.create_generation('image', 'flux-schnell', 'another fox', '{}') $$,
  'PT403', 'account is disabled', 'she cannot start a generation');
select throws_ok(format('select api.cancel_generation(%L)', (select id from ids where name = 'g1')),
  'PT403', 'account is disabled', 'she cannot cancel one');
select throws_ok($$ select api.update_my_profile('{"display_name": "Mallory"}') $$,
  'PT403', 'account is disabled', 'she cannot edit her profile');
select is_empty(
  format('update public.generations set is_favorite = true where id = %L returning id', (select id from ids where name = 'g1')),
  'she cannot favorite a generation directly');
select is_empty(
  $$ update public.profiles set display_name = 'Mallory' where id = '80000000-0000-4000-8000-00000000a11c' returning id $$,
  'she cannot edit her profile directly');
select throws_ok($$ select api.admin_adjust_credits('80000000-0000-4000-8000-00000000a11c', 'grant', 5, 'self', 'k') $$,
  'PT403', 'account is disabled', 'she cannot use admin paths');

/** A disabled admin is no admin */

select set_config('request.jwt.claims', '{"sub": "80000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);
select throws_ok($$ select api.admin_adjust_credits('80000000-0000-4000-8000-00000000a11c', 'grant', 5, 'gift', 'k') $$,
  'PT403', 'account is disabled', 'a disabled admin cannot grant credits');
select throws_ok($$ select api.admin_register_worker('w', array['wan_video']) $$,
  'PT403', 'account is disabled', 'nor register a worker');
select throws_ok(format('select api.admin_enable_provider_token(%L, %L)', gen_random_uuid(), 'fixed'),
  'PT403', 'account is disabled', 'nor re-enable a provider token');
select throws_ok($$ select api.admin_list_users() $$,
  'PT403', 'account is disabled', 'nor list users');
select throws_ok($$ select api.admin_queue_stats() $$,
  'PT403', 'account is disabled', 'nor read the queue');
select throws_ok($$ select api.admin_list_provider_tokens() $$,
  'PT403', 'account is disabled', 'nor list provider tokens');

/** Nothing changed */

reset role;
select is(
  (select jsonb_agg(to_jsonb(g) order by id) from public.generations g
   where user_id = '80000000-0000-4000-8000-00000000a11c'),
  (select generations from before),
  'her generations are unchanged');
select is(
  (select to_jsonb(p) from public.profiles p where id = '80000000-0000-4000-8000-00000000a11c'),
  (select profile from before),
  'her profile is unchanged');
select is((select count(*) from public.credit_ledger), (select entries from before), 'no ledger entry was written');

select * from finish();
rollback;
