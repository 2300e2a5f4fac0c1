-- Schema-wide guarantees, read from the catalog so that a new table or function that
-- forgets one fails here without anyone writing a test for it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(11);

-- Objects our migrations own: extension members (pgtap, vector, ...) are not ours.
create temp view our_functions as
select p.oid, n.nspname, p.proname, p.prosecdef, p.proconfig, p.proacl,
       p.oid::regprocedure::text as signature
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname in ('api', 'private', 'public')
  and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e');

select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
       and not c.relrowsecurity $$,
  'every table in public has row level security enabled'
);

select ok(
  coalesce((select relrowsecurity from pg_class where oid = to_regclass('storage.objects')), true),
  'storage.objects has row level security enabled'
);

select is_empty(
  $$ select c.oid::regclass::text from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
       and has_table_privilege('anon', c.oid, 'select, insert, update, delete, truncate') $$,
  'anon has no privilege on any table in public'
);

select is_empty(
  $$ select signature from our_functions
     where prosecdef and not coalesce('search_path=""' = any (proconfig), false) $$,
  'every SECURITY DEFINER function sets search_path = '''''
);

select is_empty(
  $$ select signature from our_functions
     where not coalesce('search_path=""' = any (proconfig), false) $$,
  'every function pins search_path = '''' (splinter 0011)'
);

select is_empty(
  $$ select signature from our_functions
     where proacl is null
        or exists (select 1 from aclexplode(proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE') $$,
  'no function is executable by PUBLIC'
);

select is_empty(
  $$ select signature from our_functions
     where nspname = 'private'
       and (has_function_privilege('anon', oid, 'execute')
            or has_function_privilege('authenticated', oid, 'execute')
            or has_function_privilege('service_role', oid, 'execute')) $$,
  'no private function is executable by an API role'
);

select ok(
  not has_schema_privilege('anon', 'private', 'usage')
  and not has_schema_privilege('authenticated', 'private', 'usage')
  and not has_schema_privilege('service_role', 'private', 'usage'),
  'API roles have no usage on schema private'
);

select is_empty(
  $$ select signature from our_functions
     where nspname in ('api', 'public') and has_function_privilege('anon', oid, 'execute') $$,
  'anon can execute no function'
);

select is_empty(
  $$ select schemaname || '.' || tablename || ': ' || policyname from pg_policies
     where schemaname = 'public' and roles <> '{authenticated}' $$,
  'every policy in public applies TO authenticated only'
);

select is_empty(
  $$ select schemaname || '.' || tablename || ': ' || policyname from pg_policies
     where schemaname = 'public'
       and regexp_replace(coalesce(qual, '') || coalesce(with_check, ''),
             'SELECT auth\.uid\(\) AS uid', '', 'g') ~ 'auth\.uid\(\)' $$,
  'every policy wraps auth.uid() in a sub-select (splinter 0003)'
);

select * from finish();
rollback;
