/**
 * Sweeps: the background jobs that end what nobody else will: credit holds past their
 * expiry and GPU task leases that ran out; and the registry of every scheduled job
 * (private.scheduled_jobs). pg_cron runs them on a hosted project (see
 * private.schedule_sweeps); the local stack's sweeper runs the same functions through
 * api.run_due_jobs.
 *
 * Every row is handled in its own subtransaction: one row whose processing raises (bad
 * data, a bug, a constraint) is counted, reported with `raise warning` and skipped, and
 * the others are still swept. Without that, one such row would fail every run for
 * everyone, forever.
 */

/**
 * Releases every open hold past its expiry and fails its generation. Returns how many
 * holds it released. A background job must never wait on a user's request: accounts
 * locked by a request right now are skipped (SKIP LOCKED) and left to the next run,
 * which also rules out deadlocks between concurrent sweeps.
 */
create function api.sweep_expired_holds() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_hold record;
  v_count int := 0;
  v_failed int := 0;
begin
  for v_hold in
    select id, generation_id, account_id from public.credit_holds
    where status = 'open' and expires_at < now()
    order by expires_at
    limit 1000
  loop
    begin
      perform 1 from public.credit_accounts where id = v_hold.account_id for update skip locked;
      continue when not found;
      if v_hold.generation_id is not null
         and (private.finish_generation(v_hold.generation_id, 'failed', null, 'credit hold expired')).id is not null then
        v_count := v_count + 1;
      elsif (private.resolve_hold(v_hold.id, null, null, 'hold expired')).id is not null then
        v_count := v_count + 1;
      end if;
    exception when others then
      -- Only this row's work is rolled back; the row stays open for the next run.
      v_failed := v_failed + 1;
      raise warning 'sweep_expired_holds: hold % (generation %) failed: % (SQLSTATE %)',
        v_hold.id, v_hold.generation_id, sqlerrm, sqlstate;
    end;
  end loop;
  if v_failed > 0 then
    raise warning 'sweep_expired_holds: % released, % failed', v_count, v_failed;
  end if;
  return v_count;
end
$$;

grant execute on function api.sweep_expired_holds() to service_role;

/**
 * Returns tasks whose lease expired to the queue (the expired run counts as an
 * attempt; the last one makes the task dead). Returns how many it handled. Like the
 * hold sweep, it skips accounts a request holds right now rather than wait on them.
 */
create function api.sweep_expired_leases() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_task record;
  t public.tasks;
  v_count int := 0;
  v_failed int := 0;
begin
  for v_task in
    select k.id, coalesce(wa.id, ua.id) as account_id
    from public.tasks k
    left join public.generations g on g.id = k.generation_id
    left join public.credit_accounts ua on ua.owner_user_id = g.user_id and g.workspace_id is null
    left join public.credit_accounts wa on wa.workspace_id = g.workspace_id
    where k.status = 'running' and k.lease_expires_at < now()
    order by k.lease_expires_at
    limit 1000
  loop
    begin
      if v_task.account_id is not null then
        perform 1 from public.credit_accounts where id = v_task.account_id for update skip locked;
        continue when not found;
      end if;
      t := private.lock_task(v_task.id);
      -- Re-checked under the lock: a heartbeat may have won the race.
      if t.status = 'running' and t.lease_expires_at < now() then
        perform private.fail_task(t, 'lease expired', true);
        v_count := v_count + 1;
      end if;
    exception when others then
      v_failed := v_failed + 1;
      raise warning 'sweep_expired_leases: task % failed: % (SQLSTATE %)',
        v_task.id, sqlerrm, sqlstate;
    end;
  end loop;
  if v_failed > 0 then
    raise warning 'sweep_expired_leases: % handled, % failed', v_count, v_failed;
  end if;
  return v_count;
end
$$;

grant execute on function api.sweep_expired_leases() to service_role;

/** Schedules */

/**
 * The registry of scheduled jobs: one row per job, read by both runners, so a job is
 * declared once. `schedule` is pg_cron's (hosted projects, private.schedule_sweeps);
 * `every` is the local stack's cadence (xtask's sweeper calls api.run_due_jobs every few
 * seconds, until no row is due). `fn` is the call, e.g.
 * 'api.sweep_expired_holds()': a function taking no argument, owned by a migration.
 * A row whose function does not exist yet (a later migration's) is skipped by both
 * runners, so no job ever fires at a missing function.
 *
 * A later migration adds its job with
 *   insert into private.scheduled_jobs (name, schedule, every, fn) values (...)
 *   on conflict (name) do update set schedule = excluded.schedule, every = excluded.every,
 *     fn = excluded.fn;
 * followed, when pg_cron exists, by `perform private.schedule_sweeps()`.
 */
create table private.scheduled_jobs (
  name text primary key check (name ~ '^genbase-[a-z0-9-]+$'),
  schedule text not null check (schedule ~ '^\S+( \S+){4}$'),
  every interval not null check (every >= interval '1 second'),
  fn text not null check (fn ~ '^[a-z_]+\.[a-z0-9_]+\(\)$'),
  last_run_at timestamptz,
  -- The last local run's outcome: what the function returned, or its error.
  last_result text,
  last_error text
);

comment on table private.scheduled_jobs is
  'Scheduled jobs: pg_cron runs them on a hosted project (private.schedule_sweeps), the local sweeper through api.run_due_jobs.';

-- The local cadence of the sweeps is the sweeper's old tick: the tests and `cargo xtask dev`
-- see an expired hold or a purge within seconds, as pg_cron's minute would on a project.
insert into private.scheduled_jobs (name, schedule, every, fn) values
  ('genbase-sweep-expired-holds', '* * * * *', interval '5 seconds', 'api.sweep_expired_holds()'),
  ('genbase-sweep-expired-leases', '* * * * *', interval '5 seconds', 'api.sweep_expired_leases()'),
  -- Daily at 03:17 UTC (media migration's function).
  ('genbase-purge-deleted-generations', '17 3 * * *', interval '5 seconds', 'api.purge_deleted_generations()'),
  -- Chat migration's function.
  ('genbase-sweep-stuck-replies', '* * * * *', interval '5 seconds', 'api.sweep_stuck_replies()');

/**
 * Schedules the registry's jobs with pg_cron. Idempotent: cron.schedule with a job name
 * replaces that job, so calling it again leaves one job per row; a genbase job no longer
 * in the registry is unscheduled. A row whose function does not exist yet is left out;
 * each migration that registers a job calls this again at its end. The migrations call it
 * when pg_cron is already installed; on a project where pg_cron is enabled later, the
 * operator runs `select private.schedule_sweeps();` once (as postgres, e.g. in the SQL
 * editor). SECURITY INVOKER: the jobs belong to, and run as, the caller. Returns the job
 * ids by name.
 */
create function private.schedule_sweeps() returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_job record;
  v_jobs jsonb := '{}'::jsonb;
begin
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    raise exception 'pg_cron is not installed: enable it (create extension pg_cron, or the Integrations page on Supabase), then run select private.schedule_sweeps()';
  end if;
  for v_job in
    select j.name, j.schedule, j.fn
    from private.scheduled_jobs j
    where to_regprocedure(j.fn) is not null
    order by j.name
  loop
    v_jobs := v_jobs || jsonb_build_object(v_job.name, cron.schedule(v_job.name, v_job.schedule, 'select ' || v_job.fn));
  end loop;
  -- Dynamic SQL: cron.job exists only with pg_cron, and this function is created without it.
  execute $q$
    select cron.unschedule(jobname) from cron.job
    where jobname like 'genbase-%' and not ($1 ? jobname)
  $q$ using v_jobs;
  return v_jobs;
end
$$;

/**
 * Runs one job of the registry that is due (never run, or last run at least `every` ago),
 * the longest waiting first: the local stack's stand-in for pg_cron. One job per call, so
 * each job is its own transaction and the row locks one takes (a sweep's credit accounts)
 * are not held while the next runs; the caller calls again until it answers {}. The job
 * runs in a subtransaction: one that raises is recorded (last_error) and counts as run, so
 * the next call moves on. A job another caller is running right now is skipped (SKIP LOCKED
 * on its row) rather than run twice at once. Returns {name: result}, {name: {"error":
 * message}}, or {} when no job is due.
 */
create function api.run_due_jobs() returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job record;
  v_result text;
begin
  select j.name, j.fn into v_job
  from private.scheduled_jobs j
  where (j.last_run_at is null or j.last_run_at <= now() - j.every)
    and to_regprocedure(j.fn) is not null
  order by j.last_run_at nulls first, j.name
  limit 1
  for update skip locked;
  if not found then
    return '{}'::jsonb;
  end if;
  begin
    execute 'select (' || v_job.fn || ')::text' into v_result;
    update private.scheduled_jobs
    set last_run_at = now(), last_result = v_result, last_error = null
    where name = v_job.name;
    return jsonb_build_object(v_job.name, v_result);
  exception when others then
    update private.scheduled_jobs
    set last_run_at = now(), last_error = sqlerrm || ' (SQLSTATE ' || sqlstate || ')'
    where name = v_job.name;
    raise warning 'run_due_jobs: % failed: % (SQLSTATE %)', v_job.name, sqlerrm, sqlstate;
    return jsonb_build_object(v_job.name, jsonb_build_object('error', sqlerrm));
  end;
end
$$;

grant execute on function api.run_due_jobs() to service_role;

do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform private.schedule_sweeps();
  else
    raise notice 'pg_cron is not installed, so the sweeps are not scheduled: after enabling it, run select private.schedule_sweeps();';
  end if;
end
$$;

/** Lock down */

revoke execute on all functions in schema api, private from public;
