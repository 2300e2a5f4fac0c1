/**
 * Reconciliation with the provider: the way a provider's result comes back when its webhook
 * does not (answered 5xx while Postgres was down until the provider gave up, lost, or never
 * sent), and the way a generation whose submission was cut short gets resolved.
 *
 * The generations function does the provider side (it holds the provider tokens): it asks
 * reconcile_candidates for work, looks each prediction up at the provider, and finishes it
 * through the same calls a webhook and a submission use (handle_provider_webhook under a
 * synthetic webhook id `poll:<prediction id>`, mark_generation_submitted,
 * fail_generation_submission), so a result is applied exactly once whichever way it
 * arrives first. It runs on the sweeps' schedule (a Cron Trigger on the generations
 * Worker; the local stack's sweeper) and on demand (POST /v1/admin/reconcile).
 */

/**
 * When the reconciler last looked at a generation: a generation still running at the
 * provider is looked at again only after a while, and two reconcilers running at once
 * never pick the same rows.
 */
alter table public.generations add column reconciled_at timestamptz;

-- Only provider-routed generations that are not final are ever candidates: a small,
-- partial index keeps each run cheap however large the table grows.
create index generations_reconcile_idx
  on public.generations (created_at)
  where route = 'provider' and status in ('queued', 'processing');

/**
 * Hands out (and stamps) up to p_limit provider-routed generations that need a look at
 * the provider:
 * - `processing` with a prediction id, started more than 2 minutes ago (a webhook
 *   normally arrives within seconds of the end; longer jobs are simply looked at again);
 * - `queued` without a prediction id, created more than 2 minutes ago: the submission
 *   was cut short between the provider's answer and mark_generation_submitted (or never
 *   reached the provider at all).
 * Either only if not looked at in the last minute. Rows a request holds right now are
 * skipped (SKIP LOCKED): a background job never waits on a user. Returns
 * {items: [{generation_id, status, provider, prediction_id, created_at}]}.
 * SECURITY DEFINER: it stamps reconciled_at, which no API role may write; callers are
 * the service role (the Cron Trigger) or an active admin (the on-demand route).
 */
create function api.reconcile_candidates(p_limit int default 50) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_items jsonb;
begin
  if coalesce(auth.role(), '') <> 'service_role' then
    perform private.require_admin();
  end if;
  if p_limit is null or p_limit not between 1 and 500 then
    raise exception using errcode = 'PT400', message = 'limit must be between 1 and 500';
  end if;

  with picked as (
    select g.id from public.generations g
    where g.route = 'provider'
      and g.status in ('queued', 'processing')
      and ((g.status = 'processing' and g.provider_prediction_id is not null
            and coalesce(g.started_at, g.created_at) < now() - interval '2 minutes')
        or (g.status = 'queued' and g.provider_prediction_id is null
            and g.created_at < now() - interval '2 minutes'))
      and (g.reconciled_at is null or g.reconciled_at < now() - interval '1 minute')
    -- Never-looked-at first, then the longest unseen, so no row starves under load.
    order by g.reconciled_at nulls first, g.created_at
    limit p_limit
    for update skip locked
  ), stamped as (
    update public.generations g set reconciled_at = now()
    from picked where g.id = picked.id
    returning g.id, g.status, g.provider, g.provider_prediction_id, g.created_at
  )
  select coalesce(jsonb_agg(jsonb_build_object(
      'generation_id', s.id, 'status', s.status, 'provider', s.provider,
      'prediction_id', s.provider_prediction_id, 'created_at', s.created_at)
    order by s.created_at), '[]'::jsonb)
  into v_items
  from stamped s;

  return jsonb_build_object('items', v_items);
end
$$;

revoke execute on function api.reconcile_candidates(int) from public, anon;
grant execute on function api.reconcile_candidates(int) to service_role, authenticated;
