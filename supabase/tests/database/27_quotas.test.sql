-- Quotas by plan: the plan catalog and a user's plan (readable, not writable by users), and
-- each per-user limit (concurrent generations, projects, storage bytes) on each plan, with
-- an admin (unlimited), a stranger whose use never counts against another user, and the
-- proof that a refusal holds and charges nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(37);

create temp table ids (name text primary key, id uuid);
grant all on ids to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
-- Acts as one of the named users for the rest of the transaction (until reset role).
create function pg_temp.login(p_name text) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims',
    json_build_object('sub', pg_temp.id(p_name), 'role', 'authenticated')::text, true);
  perform set_config('role', 'authenticated', true);
end
$$;
create function pg_temp.as_postgres() returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;
-- One image generation of the caller's (5 credits); its id.
create function pg_temp.generate(p_prompt text) returns uuid language sql as $$
  select (api.create_generation('image', 'flux-schnell', p_prompt, '{"num_outputs": 1}') -> 'generation' ->> 'id')::uuid
$$;

insert into ids values
  ('free', '27000000-0000-4000-8000-000000000001'), ('pro', '27000000-0000-4000-8000-000000000002'),
  ('unl', '27000000-0000-4000-8000-000000000003'), ('admin', '27000000-0000-4000-8000-000000000004'),
  ('stranger', '27000000-0000-4000-8000-000000000005');
insert into auth.users (id, email) select id, name || '.quotas@example.test' from ids;
update public.profiles set plan = 'pro' where id = pg_temp.id('pro');
update public.profiles set plan = 'unlimited' where id = pg_temp.id('unl');
update public.profiles set role = 'admin' where id = pg_temp.id('admin');
select private.change_credits(id, 'grant', 1000, 'test:grant:' || name, null, 'test') from ids;

/** The plans and a user's plan */

select is((select plan from public.profiles where id = pg_temp.id('stranger')), 'free', 'a new user is on the free plan');
select is(
  (select jsonb_object_agg(id, jsonb_build_array(concurrent_generations, projects_per_user, storage_bytes)) from public.plans),
  '{"free": [10, 100, 1073741824], "pro": [50, 1000, 107374182400], "unlimited": [null, null, null]}'::jsonb,
  'the seeded plans and their limits (null: none)');

select pg_temp.login('free');
select is((select count(*) from public.plans), 3::bigint, 'a signed-in user reads the plan catalog');
select is((select count(*) from public.profiles where id = pg_temp.id('pro')), 0::bigint,
  'and not another user''s plan');
select is((private.plan_limits(pg_temp.id('pro'))).id, null, 'nor another user''s limits');
select throws_ok($$ update public.profiles set plan = 'unlimited' where id = pg_temp.id('free') $$,
  '42501', null, 'a user cannot change their own plan');
select throws_ok($$ update public.plans set concurrent_generations = null $$,
  '42501', null, 'nor any plan''s limits');
select throws_ok($$ insert into public.plans (id, name) values ('mine', 'Mine') $$,
  '42501', null, 'nor add a plan');
select is(api.get_my_quotas(),
  '{"plan": "free", "limits": {"concurrent_generations": 10, "projects_per_user": 100, "storage_bytes": 1073741824},
    "usage": {"concurrent_generations": 0, "projects_per_user": 0, "storage_bytes": 0}}'::jsonb,
  'get_my_quotas: the caller''s plan, its limits and their use');
select pg_temp.as_postgres();
set local role anon;
select throws_ok($$ select count(*) from public.plans $$, '42501', null, 'anonymous requests read no plan');
select pg_temp.as_postgres();
select throws_ok($$ update public.profiles set plan = 'nonesuch' where id = pg_temp.id('free') $$,
  '23503', null, 'a plan must exist');

/** Concurrent generations */

-- The stranger's unfinished work never counts against anyone else.
select pg_temp.login('stranger');
select pg_temp.generate('stranger ' || n) from generate_series(1, 10) n;

select pg_temp.login('free');
insert into ids select 'free' || n, pg_temp.generate('free ' || n) from generate_series(1, 10) n;
select is((api.get_my_quotas() -> 'usage' ->> 'concurrent_generations')::int, 10, 'ten in progress on free');
select throws_ok($$ select pg_temp.generate('one too many') $$, 'PT429',
  'concurrent generation limit reached: 10 in progress and concurrent_generations allows 10',
  'the eleventh is refused with 429, naming the limit');
select is(api.get_my_credits() - 'entries' - 'next_before_id', '{"balance": 1000, "held": 50, "available": 950}'::jsonb,
  'the refusal held nothing: only the ten generations'' credits are held');
select is((select count(*) from public.generations where user_id = pg_temp.id('free')), 10::bigint,
  'and recorded no generation');
select lives_ok($$ select api.cancel_generation(pg_temp.id('free1')) $$, 'one finishes (canceled)');
select lives_ok($$ select pg_temp.generate('in its place') $$, 'and its place is free again');
select throws_ok($$ select pg_temp.generate('again too many') $$, 'PT429', null, 'until the ten are back');

-- An idempotent replay returns the first generation and is never refused.
select pg_temp.login('pro');
select pg_temp.generate('pro ' || n) from generate_series(1, 49) n;
select is(api.create_generation('image', 'flux-schnell', 'keyed', '{"num_outputs": 1}', 'k-1') ->> 'created', 'true',
  'the fiftieth is allowed on pro');
select is(api.create_generation('image', 'flux-schnell', 'keyed', '{"num_outputs": 1}', 'k-1') ->> 'created', 'false',
  'a replay at the limit returns the first generation');
select throws_ok($$ select pg_temp.generate('fifty-first') $$, 'PT429',
  'concurrent generation limit reached: 50 in progress and concurrent_generations allows 50',
  'the fifty-first is refused on pro');

select pg_temp.login('unl');
select is((select count(*) from (select pg_temp.generate('unl ' || n) from generate_series(1, 60) n) g), 60::bigint,
  'the unlimited plan has no concurrency limit');
select pg_temp.login('admin');
select is((select count(*) from (select pg_temp.generate('admin ' || n) from generate_series(1, 12) n) g), 12::bigint,
  'an admin on the free plan is not held by it');

-- Work the service records for a user is not the user's request.
select pg_temp.as_postgres();
select lives_ok($$
  insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id, units)
  select pg_temp.id('free'), 'image', p.action, p.model, 'by the service', 'provider', p.id, 1
  from public.pricing p where p.model = 'flux-schnell' order by p.active_from desc limit 1 $$,
  'a generation the service records for a user at their limit is not refused');

/** Projects per user */

update public.plans set projects_per_user = 2 where id = 'free';
update public.plans set projects_per_user = 3 where id = 'pro';
select pg_temp.login('free');
select api.create_project('p' || n) from generate_series(1, 2) n;
select throws_ok($$ select api.create_project('p3') $$, 'PT403',
  'project quota reached: you own 2 projects and projects_per_user allows 2', 'the plan sets the project quota');
select is(api.check_project_quota() - 'user_id', '{"projects": 2, "max": 2, "allowed": false}'::jsonb,
  'check_project_quota reads the plan');
select pg_temp.login('pro');
select api.create_project('p' || n) from generate_series(1, 3) n;
select throws_ok($$ select api.create_project('p4') $$, 'PT403',
  'project quota reached: you own 3 projects and projects_per_user allows 3', 'each plan its own quota');
select pg_temp.login('unl');
select is(api.check_project_quota() ->> 'max', null, 'unlimited: no project quota');
select pg_temp.login('stranger');
select is(api.check_project_quota() - 'user_id', '{"projects": 0, "max": 2, "allowed": true}'::jsonb,
  'another user''s projects do not count against the stranger');

/** Storage bytes per user */

select pg_temp.as_postgres();
update public.plans set storage_bytes = 5000 where id = 'free';
update public.plans set storage_bytes = 8000 where id = 'pro';
select pg_temp.login('free');
insert into ids select 'u1', (api.create_upload('reference_image', 'image/png', 3000, 'a.png') ->> 'upload_id')::uuid;
select throws_ok($$ select api.create_upload('reference_image', 'image/png', 2001, 'b.png') $$, 'PT403',
  'storage quota reached: your files hold 3000 bytes, this upload needs 2001 and storage_bytes allows 5000',
  'an upload past the plan''s storage_bytes is refused, naming the limit');
select lives_ok($$ select api.create_upload('reference_image', 'image/png', 2000, 'b.png') $$, 'up to the limit is allowed');
select pg_temp.as_postgres();
-- The first file arrived smaller than declared; the second was never sent and its URL expired.
insert into storage.objects (bucket_id, name, owner, metadata)
select u.bucket, u.path, u.user_id, '{"size": 1000}' from public.uploads u where u.id = pg_temp.id('u1');
update public.uploads set created_at = now() - interval '3 hours'
where user_id = pg_temp.id('free') and id <> pg_temp.id('u1');
select pg_temp.login('free');
select is((api.get_my_quotas() -> 'usage' ->> 'storage_bytes')::bigint, 1000::bigint,
  'an arrived file counts at its stored size, an expired upload that never arrived not at all');
select lives_ok($$ select api.create_upload('reference_image', 'image/png', 4000, 'c.png') $$,
  'so the freed bytes can be used');
select pg_temp.login('pro');
select lives_ok($$ select api.create_upload('reference_image', 'image/png', 8000, 'd.png') $$, 'pro allows 8000');
select throws_ok($$ select api.create_upload('reference_image', 'image/png', 1, 'e.png') $$, 'PT403', null,
  'and not a byte more');
select pg_temp.login('stranger');
select lives_ok($$ select api.create_upload('reference_image', 'image/png', 5000, 's.png') $$,
  'others'' files do not count against the stranger');
select pg_temp.login('admin');
select lives_ok($$ select api.create_upload('reference_image', 'image/png', 6000, 'x.png') $$,
  'an admin is not held by the free plan');

select * from finish();
rollback;
