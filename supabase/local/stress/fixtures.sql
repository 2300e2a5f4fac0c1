-- Concurrency stress fixtures for the money and queue paths (local only, never on a
-- real project): 20 users with 3000 credits, 4 GPU workers, and one helper per RPC so
-- that every pgbench command is one transaction, as one HTTP call would be. Expected
-- refusals (PT402, PT404, PT409) are trapped; anything else fails the run.
create schema stress;

insert into auth.users (id, email)
select ('50000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'stress' || n || '@example.test'
from generate_series(1, 20) n;
select count(*) from (select private.change_credits(id, 'grant', 3000, 'stress', null, 'stress')
  from auth.users where email like 'stress%@example.test') x;

-- The helpers switch to the API roles, which then read these.
grant usage on schema stress to authenticated, service_role;
create table stress.worker_keys (n int primary key, key text);
grant select on stress.worker_keys to service_role;
insert into stress.worker_keys select n, api.register_worker('w' || n, array['wan_video']) ->> 'worker_key' from generate_series(1, 4) n;
create function stress.s_as(p_role text, p_sub uuid) returns void language sql as $$
  select set_config('role', p_role, true), set_config('request.jwt.claims', json_build_object('sub', p_sub, 'role', p_role)::text, true) $$;
create function stress.s_user(n int) returns uuid language sql as $$ select ('50000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;
create function stress.s_create(u int, gpu int) returns text language plpgsql as $$ begin
  perform stress.s_as('authenticated', stress.s_user(u));
  if gpu = 0 then perform api.create_generation('video', 'generate_video', 'wan-2.1-gpu', 'v', '{}', 60);
  else perform api.create_generation('image', 'generate_image', 'flux-schnell', 'i', '{}', 2); end if;
  return 'ok';
exception when sqlstate 'PT402' then return 'PT402'; end $$;
create function stress.s_pick_provider() returns text language sql as $$
  select set_config('stress.gen', coalesce((select id::text from public.generations where route = 'provider' and status = 'queued' order by random() limit 1), ''), false) $$;
create function stress.s_gen() returns uuid language sql as $$ select nullif(current_setting('stress.gen', true), '')::uuid $$;
create function stress.s_task() returns uuid language sql as $$ select nullif(current_setting('stress.task', true), '')::uuid $$;
create function stress.s_mark(v uuid) returns text language plpgsql as $$ begin
  if v is null then return 'none'; end if;
  perform stress.s_as('service_role', null);
  perform api.mark_generation_submitted(v, 'replicate', v::text); return 'ok';
exception when sqlstate 'PT409' then return 'PT409'; end $$;
create function stress.s_webhook(v uuid, ok int, redeliver int) returns text language plpgsql as $$ begin
  if v is null then return 'none'; end if;
  perform stress.s_as('service_role', null);
  perform api.handle_provider_webhook('replicate', 'wh-' || v || '-' || redeliver, v::text,
    case when ok > 0 then 'succeeded' else 'failed' end, '[]', null, 1, null);
  return 'ok';
exception when sqlstate 'PT404' then return 'PT404'; end $$;
create function stress.s_cancel() returns text language plpgsql as $$ declare v uuid; u uuid; begin
  select id, user_id into v, u from public.generations where status in ('queued', 'processing') order by random() limit 1;
  if v is null then return 'none'; end if;
  perform stress.s_as('authenticated', u);
  perform api.cancel_generation(v); return 'ok';
exception when sqlstate 'PT409' then return 'PT409'; end $$;
create function stress.s_claim(w int) returns text language plpgsql as $$ begin
  perform stress.s_as('service_role', null);
  perform set_config('stress.task', coalesce(api.worker_claim((select key from stress.worker_keys where n = w), null, 1, 30) -> 0 ->> 'id', ''), false);
  return current_setting('stress.task'); end $$;
create function stress.s_heartbeat(w int, t uuid) returns text language plpgsql as $$ begin
  if t is null then return 'none'; end if;
  perform stress.s_as('service_role', null);
  perform api.worker_heartbeat((select key from stress.worker_keys where n = w), t, 30); return 'ok';
exception when sqlstate 'PT409' then return 'PT409'; end $$;
create function stress.s_finish(w int, t uuid, outcome int) returns text language plpgsql as $$ begin
  if t is null then return 'none'; end if;
  perform stress.s_as('service_role', null);
  if outcome = 0 then perform api.worker_fail((select key from stress.worker_keys where n = w), t, 'boom', true);
  else perform api.worker_complete((select key from stress.worker_keys where n = w), t, '{"urls": []}', 10 + outcome * 10); end if;
  return 'ok';
exception when sqlstate 'PT409' then return 'PT409'; end $$;
-- Chaos for the sweeps: makes some tasks due, some leases and holds expired. SKIP LOCKED
-- so that the chaos itself cannot deadlock with the requests it disturbs.
create function stress.s_sweep() returns text language plpgsql as $$ begin
  update public.tasks set run_at = now() where id in (
    select id from public.tasks where status = 'queued' and run_at > now() for update skip locked);
  update public.tasks set lease_expires_at = now() - interval '1 second' where id in (
    select id from public.tasks where status = 'running' and random() < 0.05 for update skip locked);
  update public.credit_holds set expires_at = now() - interval '1 second' where id in (
    select id from public.credit_holds where status = 'open' and random() < 0.02 for update skip locked);
  return 'ok'; end $$;
create function stress.s_sweep2() returns text language plpgsql as $$ begin
  perform stress.s_as('service_role', null);
  perform api.sweep_expired_holds(); perform api.sweep_expired_leases(); return 'ok'; end $$;
