/**
 * Admin generation view: one generation as operators see it, with what users never see
 * (the provider's and worker's own error words, the GPU task). It follows the queue
 * migration because it reads public.tasks.
 */

/**
 * One generation as operators see it: what the user sees, plus the provider's and the
 * worker's own words about a failure, and its GPU task. SECURITY INVOKER: the admin
 * policies on generations, generation_errors and tasks are what let an admin read them.
 */
create function api.admin_get_generation(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  g public.generations;
begin
  perform private.require_admin();
  select * into g from public.generations where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  return jsonb_build_object(
    'generation', private.generation_json(g),
    'metrics', g.metrics,
    'errors', (select coalesce(jsonb_agg(jsonb_build_object('source', e.source, 'detail', e.detail,
        'created_at', e.created_at) order by e.id), '[]'::jsonb)
      from public.generation_errors e where e.generation_id = g.id),
    'task', (select jsonb_build_object('id', t.id, 'status', t.status, 'attempts', t.attempts,
        'last_error', t.last_error, 'duration_seconds', t.duration_seconds, 'max_seconds', t.max_seconds,
        'overrun', t.overrun, 'worker_id', t.worker_id)
      from public.tasks t where t.generation_id = g.id)
  );
end
$$;

grant execute on function api.admin_get_generation(uuid) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
