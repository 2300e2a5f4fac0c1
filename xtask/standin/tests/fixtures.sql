-- Fixtures for the stand-in conformance tests. Loaded by tests/conformance.rs as a superuser on
-- a database where supabase/local/bootstrap.sql created anon/authenticated/service_role/
-- authenticator. Everything lives in two throwaway schemas, dropped and recreated each run.

drop schema if exists conformance cascade;
drop schema if exists conformance_other cascade;
create schema conformance;
create schema conformance_other;
grant usage on schema conformance, conformance_other to anon, authenticated, service_role;

create table conformance.notes (id bigserial primary key, note text not null unique);
grant select, insert on conformance.notes to anon, authenticated, service_role;
grant usage on sequence conformance.notes_id_seq to anon, authenticated, service_role;

-- Named arguments, a default, and GET-able (immutable).
create function conformance.add(a integer, b integer default 10) returns integer
language sql immutable as $$ select a + b $$;

-- Arguments of many types go through json_to_record with their declared types.
create function conformance.echo(p_id uuid, p_text text, p_obj jsonb, p_n numeric, p_flag boolean,
                                 p_arr integer[], p_at timestamptz default null)
returns jsonb language sql immutable as $$
  select jsonb_build_object('id', p_id, 'text', p_text, 'obj', p_obj, 'n', p_n, 'flag', p_flag,
                            'arr', p_arr, 'at', p_at)
$$;

-- character(n) and bit(n) parameters take values of any length n (their typmod is dropped).
create function conformance.fixed(p_c character(3), p_b bit(4)) returns text
language sql immutable as $$ select p_c || ':' || p_b::text $$;

-- What the request looks like from SQL.
create function conformance.whoami() returns jsonb language sql stable as $$
  select jsonb_build_object(
    'user', current_user,
    'claims', nullif(current_setting('request.jwt.claims', true), '')::jsonb,
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'headers', nullif(current_setting('request.headers', true), '')::jsonb,
    'cookies', nullif(current_setting('request.cookies', true), '')::jsonb,
    'read_only', current_setting('transaction_read_only'),
    'statement_timeout', current_setting('statement_timeout'),
    'search_path', current_setting('search_path'))
$$;

-- A function's own statement_timeout limits the whole call (PostgREST applies it to the
-- transaction; inside the function alone it would come too late).
create function conformance.slow() returns text language sql set statement_timeout = '100ms' as $$
  select pg_sleep(1)::text
$$;

-- Same as whoami, but VOLATILE: POST runs it READ WRITE.
create function conformance.tx_mode() returns text language sql volatile as $$
  select current_setting('transaction_read_only')
$$;

-- Writes (volatile), and reads back.
create function conformance.add_note(p_note text) returns bigint language sql as $$
  insert into conformance.notes (note) values (p_note) returning id
$$;
create function conformance.count_notes(p_note text) returns bigint language sql stable as $$
  select count(*) from conformance.notes where note = p_note
$$;

-- Result shapes.
create function conformance.do_nothing() returns void language sql as $$ select $$;
create function conformance.series(n integer) returns setof integer language sql immutable as $$
  select generate_series(1, n)
$$;
create function conformance.pairs(n integer) returns table (i integer, sq integer)
language sql immutable as $$ select g, g * g from generate_series(1, n) g $$;
create type conformance.pt as (x integer, y integer);
create function conformance.point(x integer, y integer) returns conformance.pt
language sql immutable as $$ select row(x, y)::conformance.pt $$;
create function conformance.nothing() returns jsonb language sql immutable as $$ select null::jsonb $$;

-- Raises any SQLSTATE with message, detail and hint.
create function conformance.fail(p_code text, p_message text) returns void language plpgsql as $$
begin
  raise exception using errcode = p_code, message = p_message,
    detail = 'the detail', hint = 'the hint';
end
$$;

-- Not executable by anon/authenticated: 42501.
create function conformance.secret() returns text language sql as $$ select 'secret' $$;
revoke execute on function conformance.secret() from public;
grant execute on function conformance.secret() to service_role;

-- Overloads with the same argument names: PGRST203.
create function conformance.over(a integer) returns text language sql as $$ select 'int' $$;
create function conformance.over(a text) returns text language sql as $$ select 'text' $$;

-- Asks for a custom status through the response.status GUC (not implemented: 501).
create function conformance.teapot() returns json language plpgsql as $$
begin
  perform set_config('response.status', '418', true);
  return '{}';
end
$$;

-- A second exposed schema, reached with Content-Profile / Accept-Profile.
create function conformance_other.where_am_i() returns text language sql stable as $$
  select 'other'
$$;

-- A role with its own settings, which the stand-in applies when it impersonates the role.
-- Roles are cluster-wide: created once, kept.
do $$
begin
  if not exists (select from pg_roles where rolname = 'standin_conformance') then
    create role standin_conformance nologin;
  end if;
end
$$;
grant standin_conformance to authenticator;
alter role standin_conformance set statement_timeout = '4321ms';
grant usage on schema conformance to standin_conformance;

-- The project's default: functions are executable only by the roles granted explicitly.
revoke execute on all functions in schema conformance, conformance_other from public;
grant execute on all functions in schema conformance, conformance_other to anon, authenticated, service_role;
revoke execute on function conformance.secret() from anon, authenticated;
grant execute on function conformance.whoami() to standin_conformance;
