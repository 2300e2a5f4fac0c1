-- Identity: a user sees and edits only their own profile, never its role; strangers,
-- anon and non-admins are refused on every path.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(32);

-- Users of this test only (rolled back at the end). Impersonation follows PostgREST:
-- SET LOCAL ROLE plus the verified claims in request.jwt.claims.
insert into auth.users (id, email, raw_user_meta_data) values
  ('10000000-0000-4000-8000-00000000a11c', 'alice.identity@example.test', '{"display_name": "Alice"}'),
  ('10000000-0000-4000-8000-000000000b0b', 'bob.identity@example.test', '{}'),
  ('10000000-0000-4000-8000-00000000ad01', 'admin.identity@example.test', '{}');
update public.profiles set role = 'admin' where id = '10000000-0000-4000-8000-00000000ad01';

/** Profile creation */

select results_eq(
  $$ select display_name, role::text, is_active from public.profiles
     where id = '10000000-0000-4000-8000-00000000a11c' $$,
  $$ values ('Alice', 'user', true) $$,
  'a new auth user gets a profile with role user'
);
select is(
  (select display_name from public.profiles where id = '10000000-0000-4000-8000-000000000b0b'),
  'bob.identity',
  'without metadata the display name falls back to the email local part'
);

/** Alice: her own row only */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "10000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

select is((select count(*)::int from public.profiles), 1, 'alice sees exactly one profile');
select is((api.get_my_profile() ->> 'id'), '10000000-0000-4000-8000-00000000a11c', 'get_my_profile returns her own profile');

select is(
  api.update_my_profile('{"display_name": "  Alice A.  ", "settings": {"theme": "dark"}, "avatar_url": "https://cdn.example.test/a.png"}') ->> 'display_name',
  'Alice A.',
  'update_my_profile trims and saves the display name'
);
select is(
  (select settings ->> 'theme' from public.profiles where id = '10000000-0000-4000-8000-00000000a11c'),
  'dark',
  'settings were saved'
);
select is(
  api.update_my_profile('{"avatar_url": null, "settings": null}') -> 'avatar_url',
  'null'::jsonb,
  'null clears a field'
);
select throws_ok(
  $$ select api.update_my_profile('{"display_name": null}') $$,
  'PT400', 'display_name must be 1 to 80 characters',
  'display_name cannot be cleared'
);
select throws_ok(
  $$ select api.update_my_profile('{"role": "admin"}') $$,
  'PT403', 'role cannot be changed here',
  'the role key is forbidden'
);
select throws_ok(
  $$ select api.update_my_profile('{"is_active": false}') $$,
  'PT403', 'is_active cannot be changed here',
  'the is_active key is forbidden'
);
select throws_ok(
  $$ select api.update_my_profile('{"nickname": "x"}') $$,
  'PT400', 'unknown profile field: nickname',
  'an unknown key is refused'
);
select throws_ok(
  $$ select api.update_my_profile('{"avatar_url": "javascript:alert(1)"}') $$,
  'PT400', 'avatar_url must be an http(s) URL',
  'a non-http avatar URL is refused'
);
select throws_ok(
  $$ select api.update_my_profile(jsonb_build_object('settings', jsonb_build_object('blob', repeat('x', 17000)))) $$,
  'PT400', 'settings must be a JSON object of at most 16 KB',
  'oversized settings are refused'
);
select throws_ok(
  $$ update public.profiles set role = 'admin' where id = '10000000-0000-4000-8000-00000000a11c' $$,
  '42501', null,
  'a direct UPDATE of role is denied by the column grants'
);
select throws_ok(
  $$ update public.profiles set is_active = false where id = '10000000-0000-4000-8000-00000000a11c' $$,
  '42501', null,
  'a direct UPDATE of is_active is denied by the column grants'
);
select is_empty(
  $$ update public.profiles set display_name = 'hacked' where id = '10000000-0000-4000-8000-000000000b0b' returning id $$,
  'alice cannot update bob''s profile'
);
select throws_ok(
  $$ select api.admin_list_users() $$,
  'PT403', 'moderator role required',
  'admin_list_users is refused for a user without a staff role'
);
select throws_ok(
  $$ delete from public.profiles where id = '10000000-0000-4000-8000-00000000a11c' $$,
  '42501', null,
  'users cannot delete profiles'
);

select lives_ok(
  $$ insert into storage.objects (bucket_id, name) values ('media', '10000000-0000-4000-8000-00000000a11c/cat.png') $$,
  'alice can upload into her own folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('media', '10000000-0000-4000-8000-000000000b0b/cat.png') $$,
  '42501', null,
  'alice cannot upload into bob''s folder'
);

/** Bob: a stranger to alice's row */

select set_config('request.jwt.claims', '{"sub": "10000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);

select is_empty(
  $$ select id from public.profiles where id = '10000000-0000-4000-8000-00000000a11c' $$,
  'bob cannot read alice''s profile'
);
select is(api.get_my_profile() ->> 'id', '10000000-0000-4000-8000-000000000b0b', 'bob''s get_my_profile is his own');
select is(
  (api.update_my_profile('{"display_name": "Bob"}') ->> 'id'),
  '10000000-0000-4000-8000-000000000b0b',
  'bob''s update_my_profile touches only his own row'
);
select throws_ok($$ select api.admin_list_users(p_limit => 10) $$, 'PT403', 'moderator role required', 'bob cannot list users');
select is_empty(
  $$ select name from storage.objects where name like '10000000-0000-4000-8000-00000000a11c/%' $$,
  'bob cannot see alice''s files'
);

/** Anonymous and unauthenticated callers */

select set_config('request.jwt.claims', '{"role": "authenticated"}', true);
select throws_ok($$ select api.get_my_profile() $$, 'PT401', 'authentication required', 'no sub -> PT401');

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.get_my_profile() $$, '42501', null, 'anon cannot execute get_my_profile');
select throws_ok($$ select api.update_my_profile('{}') $$, '42501', null, 'anon cannot execute update_my_profile');
select throws_ok($$ select api.admin_list_users() $$, '42501', null, 'anon cannot execute admin_list_users');
select throws_ok($$ select * from public.profiles $$, '42501', null, 'anon cannot read profiles');

/** Admin */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "10000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);

select ok(
  (select jsonb_array_length(api.admin_list_users(p_limit => 100) -> 'items')) >= 3,
  'an admin lists all profiles'
);
select throws_ok($$ select api.admin_list_users(p_limit => 0) $$, 'PT400', null, 'a zero limit is refused');

select * from finish();
rollback;
