/**
 * Sweeps: the background jobs that end what nobody else will: credit holds past their
 * expiry and GPU task leases that ran out. pg_cron runs them on a hosted project (see
 * private.schedule_sweeps); the local stack's sweeper runs the same functions.
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
 * Schedules the sweeps with pg_cron: expired holds and leases every minute, the purge of
 * soft-deleted generations (media migration) daily, replies whose function died (chat
 * migration) every minute. Idempotent: cron.schedule with a job name replaces that job,
 * so calling it again leaves one job per sweep. A sweep whose function does not exist yet
 * (a later migration's) is left out, so no job ever fires at a missing function; each
 * migration that adds a sweep calls this again at its end. The migrations call it when
 * pg_cron is already installed; on a project where pg_cron is enabled later, the operator
 * runs `select private.schedule_sweeps();` once (as postgres, e.g. in the SQL editor).
 * SECURITY INVOKER: the jobs belong to, and run as, the caller. Returns the job ids by name.
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
    from (values
      ('genbase-sweep-expired-holds', '* * * * *', 'api.sweep_expired_holds()'),
      ('genbase-sweep-expired-leases', '* * * * *', 'api.sweep_expired_leases()'),
      -- Daily at 03:17 UTC.
      ('genbase-purge-deleted-generations', '17 3 * * *', 'api.purge_deleted_generations()'),
      ('genbase-sweep-stuck-replies', '* * * * *', 'api.sweep_stuck_replies()')
    ) j (name, schedule, fn)
    where to_regprocedure(j.fn) is not null
  loop
    v_jobs := v_jobs || jsonb_build_object(v_job.name, cron.schedule(v_job.name, v_job.schedule, 'select ' || v_job.fn));
  end loop;
  return v_jobs;
end
$$;

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
