/**
 * Provider webhooks: a provider's report on a prediction, applied exactly once per
 * (provider, webhook id). The generations function checks the signature (Standard
 * Webhooks) before calling api.handle_provider_webhook with the service role; the
 * reconciler reports what it looked up at the provider through the same call.
 */

/** Webhook events */

create table public.webhook_events (
  id bigint generated always as identity primary key,
  provider text not null,
  webhook_id text not null check (char_length(webhook_id) between 1 and 255),
  prediction_id text,
  status text,
  payload_sha256 text not null,
  received_at timestamptz not null default now(),
  constraint webhook_events_once unique (provider, webhook_id)
);

comment on table public.webhook_events is
  'One row per processed provider webhook: the unique key makes delivery exactly-once.';

alter table public.webhook_events enable row level security;
revoke all on public.webhook_events from anon, authenticated, service_role;
grant select on public.webhook_events to service_role;

/** Webhooks API */

/**
 * Applies a provider's report on a prediction exactly once per (provider, p_webhook_id):
 * a webhook, or the reconciler's look-up at the provider under a synthetic id. starting /
 * processing move a queued generation to processing; succeeded settles at the measured
 * usage, failed and canceled release. The provider's output is stored normalized; its
 * error text goes to generation_errors, and the user reads a sanitized message. PT404 (and
 * nothing recorded, so the provider retries) when no generation has this prediction id yet.
 */
create function api.handle_provider_webhook(
  p_provider text,
  p_webhook_id text,
  p_prediction_id text,
  p_status text,
  p_output jsonb default null,
  p_error text default null,
  p_metrics jsonb default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_event_id bigint;
  v_generation_id uuid;
  g public.generations;
begin
  if p_status is null or p_status not in ('starting', 'processing', 'succeeded', 'failed', 'canceled') then
    raise exception using errcode = 'PT400', message = 'status must be starting, processing, succeeded, failed or canceled';
  end if;
  if char_length(p_webhook_id) not between 1 and 255 or char_length(p_prediction_id) not between 1 and 255
     or char_length(p_provider) not between 1 and 64 then
    raise exception using errcode = 'PT400', message = 'webhook-id and the prediction id are required (at most 255 characters)';
  end if;

  insert into public.webhook_events (provider, webhook_id, prediction_id, status, payload_sha256)
  values (p_provider, p_webhook_id, p_prediction_id, p_status,
    encode(sha256(convert_to(jsonb_build_object('status', p_status, 'output', p_output, 'error', p_error,
      'metrics', p_metrics)::text, 'UTF8')), 'hex'))
  on conflict (provider, webhook_id) do nothing
  returning id into v_event_id;

  select id into v_generation_id from public.generations
  where provider = p_provider and provider_prediction_id = p_prediction_id;

  if v_event_id is null then
    select * into g from public.generations where id = v_generation_id;
    return jsonb_build_object('duplicate', true, 'generation', private.generation_json(g));
  end if;
  if v_generation_id is null then
    raise exception using errcode = 'PT404', message = format('no generation for prediction %s', left(p_prediction_id, 255));
  end if;

  if p_status in ('starting', 'processing') then
    update public.generations set status = 'processing'
    where id = v_generation_id and status = 'queued';
  elsif p_status = 'succeeded' then
    perform private.finish_generation(v_generation_id, 'succeeded', p_output, null, null, p_metrics);
  else
    perform private.finish_generation(v_generation_id, p_status, p_output,
      case p_status when 'failed' then 'the provider could not complete this generation; no credits were charged'
                    else 'canceled by the provider; no credits were charged' end,
      null, p_metrics, p_error, 'provider');
  end if;

  select * into g from public.generations where id = v_generation_id;
  return jsonb_build_object('duplicate', false, 'generation', private.generation_json(g));
end
$$;

grant execute on function api.handle_provider_webhook(text, text, text, text, jsonb, text, jsonb) to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
