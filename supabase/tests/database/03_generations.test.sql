-- Generations: reserve on create, settle or release exactly once, idempotent creates
-- and webhooks, a status machine that refuses illegal moves, strangers refused.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(71);

insert into auth.users (id, email) values
  ('30000000-0000-4000-8000-00000000a11c', 'alice.generations@example.test'),
  ('30000000-0000-4000-8000-000000000b0b', 'bob.generations@example.test');
select private.change_credits('30000000-0000-4000-8000-00000000a11c', 'grant', 100, 'test:grant', null, 'test');

-- Ids the test refers to across role switches.
create temp table ids (name text primary key, id uuid);
grant all on ids to public;

/** Alice creates */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "30000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into ids
select 'g1', (r -> 'generation' ->> 'id')::uuid
from api.create_generation('image', 'flux-schnell', 'a red fox', '{"seed": 7, "num_outputs": 2}', 'key-1') r;

select is(
  (select jsonb_build_object('status', g.status, 'credits_reserved', g.credits_reserved, 'kind', g.kind)
   from public.generations g where g.id = (select id from ids where name = 'g1')),
  '{"status": "queued", "credits_reserved": 10, "kind": "image"}'::jsonb,
  'create_generation records a queued generation with the quoted credits reserved'
);
select is(api.get_my_credits() - 'entries' - 'next_before_id', '{"balance": 100, "held": 10, "available": 90}'::jsonb,
  'the credits are held, not spent');
select is(
  api.create_generation('image', 'flux-schnell', 'a red fox', '{"seed": 7, "num_outputs": 2}', 'key-1')
    - 'generation',
  '{"created": false, "route": "provider", "provider_ref": "black-forest-labs/flux-schnell",
    "provider_input": {"prompt": "a red fox", "seed": 7, "num_outputs": 2, "aspect_ratio": "1:1",
      "output_format": "webp", "num_inference_steps": 4}}'::jsonb,
  'the same key and payload return the first generation'
);
select is(
  api.create_generation('image', 'flux-schnell', 'a red fox', '{"seed": 7, "num_outputs": 2}', 'key-1') -> 'generation' ->> 'id',
  (select id::text from ids where name = 'g1'),
  'the replay carries the same generation id'
);
select is((api.get_my_credits() ->> 'held')::int, 10, 'a replay holds nothing more');
select throws_ok(
  $$ select api.create_generation('image', 'flux-schnell', 'a blue fox', '{"seed": 7, "num_outputs": 2}', 'key-1') $$,
  'PT409', 'idempotency key reused with a different payload',
  'the same key with another payload is a conflict'
);
select throws_ok(
  $$ select api.create_generation('video', 'wan-2.1-gpu', 'a red fox', '{"duration": 10}', 'key-2') $$,
  'PT402', 'insufficient credits: 300 needed, 90 available',
  'a generation above the available credits is refused'
);
select is(
  (select jsonb_build_object('generations', (select count(*) from public.generations),
     'holds', (select count(*) from public.credit_holds), 'entries', (select count(*) from public.credit_ledger))),
  '{"generations": 1, "holds": 1, "entries": 2}'::jsonb,
  'a refused generation writes nothing'
);
select throws_ok(
  $$ select api.create_generation('video', 'flux-schnell', 'x', '{}') $$,
  'PT400', 'model flux-schnell does not produce video',
  'kind and model must agree'
);
select throws_ok(
  $$ select api.create_generation('image', 'flux-schnell', 'x', '[1]') $$,
  'PT400', 'params must be a JSON object',
  'params must be an object'
);
select throws_ok(
  $$ select api.create_generation('image', 'flux-schnell', 'x', '{"num_outputs": 0.01}') $$,
  'PT400', 'params.num_outputs must be an integer between 1 and 4',
  'images are whole: a fraction of one is refused'
);
select throws_ok(
  $$ select api.create_generation('image', 'flux-schnell', 'x', '{"disable_safety_checker": true}') $$,
  'PT400', 'params.disable_safety_checker is not a parameter of flux-schnell (allowed: aspect_ratio, num_inference_steps, num_outputs, output_format, seed)',
  'a safety override the model does not list is refused'
);
select throws_ok(
  $$ select api.create_generation('image', 'flux-1.1-pro', 'x', '{"num_outputs": 4}') $$,
  'PT400', 'params.num_outputs is not a parameter of flux-1.1-pro (allowed: aspect_ratio, output_format, prompt_upsampling, seed)',
  'a model that makes one image takes no image count'
);

insert into ids
select 'g2', (api.create_generation('tts', 'kokoro-82m', 'hello there', '{}') -> 'generation' ->> 'id')::uuid;
select is(
  (select jsonb_build_object('action', action, 'units', units, 'credits_reserved', credits_reserved)
   from public.generations where id = (select id from ids where name = 'g2')),
  '{"action": "tts", "units": 11, "credits_reserved": 1}'::jsonb,
  'speech is priced per character of the text, and the action follows from the model'
);

select is(api.get_generation((select id from ids where name = 'g1')) ->> 'prompt', 'a red fox', 'get_generation returns her generation');
select is(
  (select array_agg(e ->> 'id' order by ord) from jsonb_array_elements(api.list_generations() -> 'items') with ordinality x (e, ord)),
  (select array_agg(id::text order by created_at desc, id desc) from public.generations),
  'list_generations returns hers, newest first'
);
select is(
  (select jsonb_array_length(api.list_generations(null, null, 1,
     (api.list_generations(null, null, 1) -> 'next_cursor' ->> 'created_at')::timestamptz,
     (api.list_generations(null, null, 1) -> 'next_cursor' ->> 'id')::uuid) -> 'items')),
  1,
  'the next_cursor leads to the second page'
);
select is(
  api.list_generations(null, null, 2) -> 'next_cursor',
  'null'::jsonb,
  'a short last page has no next_cursor'
);
select is(jsonb_array_length(api.list_generations('tts') -> 'items'), 1, 'list_generations filters by kind');
select throws_ok(
  $$ select api.list_generations(null, null, 10, now(), null) $$,
  'PT400', 'cursor is not valid',
  'a half cursor is refused'
);

select is(api.cancel_generation((select id from ids where name = 'g2')) ->> 'status', 'canceled', 'alice cancels her generation');
select is((api.get_my_credits() ->> 'held')::int, 10, 'canceling released its hold');
select throws_ok(
  format('select api.cancel_generation(%L)', (select id from ids where name = 'g2')),
  'PT409', 'generation is already canceled',
  'a final generation cannot be canceled'
);
select throws_ok(
  format('update public.generations set status = %L where id = %L', 'succeeded', (select id from ids where name = 'g1')),
  '42501', null,
  'users cannot set a status directly'
);
select isnt_empty(
  format('update public.generations set is_favorite = true where id = %L returning id', (select id from ids where name = 'g1')),
  'users can favorite their generation'
);

/** Bob: a stranger */

select set_config('request.jwt.claims', '{"sub": "30000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);

select throws_ok(
  format('select api.get_generation(%L)', (select id from ids where name = 'g1')),
  'PT404', 'generation not found', 'bob cannot get alice''s generation'
);
select throws_ok(
  format('select api.cancel_generation(%L)', (select id from ids where name = 'g1')),
  'PT404', 'generation not found', 'bob cannot cancel alice''s generation'
);
select is(api.list_generations() -> 'items', '[]'::jsonb, 'bob''s list is empty');
select is((select count(*)::int from public.generations), 0, 'bob reads no generations');
select is((select count(*)::int from public.credit_holds), 0, 'bob reads no holds');
select is_empty(
  $$ update public.generations set is_favorite = false returning id $$,
  'bob cannot update alice''s generation'
);
select throws_ok(
  $$ select api.create_generation('image', 'flux-schnell', 'x', '{}') $$,
  'PT402', 'insufficient credits: 5 needed, 0 available',
  'bob has no credits'
);
select throws_ok(
  format('select api.mark_generation_submitted(%L, %L, %L)', (select id from ids where name = 'g1'), 'replicate', 'p'),
  '42501', null, 'users cannot execute mark_generation_submitted'
);
select throws_ok(
  format('select api.fail_generation_submission(%L, %L)', (select id from ids where name = 'g1'), 'x'),
  '42501', null, 'users cannot execute fail_generation_submission'
);
select throws_ok(
  $$ select api.handle_provider_webhook('replicate', 'w', 'p', 'succeeded', null, null, null) $$,
  '42501', null, 'users cannot execute handle_provider_webhook'
);
select throws_ok(
  $$ select api.log_requests('[]', '[]') $$,
  '42501', null, 'users cannot execute log_requests'
);
select throws_ok($$ select * from public.webhook_events $$, '42501', null, 'users cannot read webhook events');

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.list_generations() $$, '42501', null, 'anon cannot execute list_generations');
select throws_ok($$ select * from public.generations $$, '42501', null, 'anon cannot read generations');

/** The provider side (service_role) */

reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);

select is(
  api.mark_generation_submitted((select id from ids where name = 'g1'), 'replicate', 'pred-1') ->> 'status',
  'processing',
  'a submitted generation is processing'
);
select is(
  api.mark_generation_submitted((select id from ids where name = 'g1'), 'replicate', 'pred-1') ->> 'status',
  'processing',
  'marking it again is a no-op'
);
select throws_ok(
  format('select api.mark_generation_submitted(%L, %L, %L)', (select id from ids where name = 'g2'), 'replicate', 'pred-2'),
  'PT409', 'generation is canceled',
  'a canceled generation cannot be submitted'
);
select is(
  api.handle_provider_webhook('replicate', 'wh-1', 'pred-1', 'processing', null, null, null) -> 'generation' ->> 'status',
  'processing',
  'a processing webhook keeps it processing'
);
select is(
  (api.handle_provider_webhook('replicate', 'wh-2', 'pred-1', 'succeeded', '["https://cdn.example.test/fox.png"]',
    null, '{"predict_time": 1.5}') -> 'generation') - 'id' - 'user_id' - 'created_at' - 'started_at' - 'completed_at' - 'processing_time_ms',
  jsonb_build_object('kind', 'image', 'action', 'generate_image', 'model', 'flux-schnell', 'prompt', 'a red fox',
    'params', '{"seed": 7, "num_outputs": 2, "aspect_ratio": "1:1", "output_format": "webp", "num_inference_steps": 4}'::jsonb,
    'status', 'succeeded', 'outputs', '{"storage": "pending", "provider_urls": ["https://cdn.example.test/fox.png"]}'::jsonb, 'units', 2,
    'error', null, 'credits_reserved', 10, 'credits_charged', 5, 'cost_usd', 0.003, 'provider', 'replicate',
    'provider_prediction_id', 'pred-1', 'is_favorite', true, 'title', null, 'workspace_id', null),
  'a success webhook settles at the measured usage (1 of 2 images)'
);
select is(
  api.handle_provider_webhook('replicate', 'wh-2', 'pred-1', 'succeeded', '[]', null, null) ->> 'duplicate',
  'true',
  'a redelivered webhook is a duplicate'
);
select is(
  api.handle_provider_webhook('replicate', 'wh-3', 'pred-1', 'succeeded', '[]', null, null) -> 'generation' ->> 'credits_charged',
  '5',
  'a second success webhook for a final generation changes nothing'
);
select is(
  (select count(*)::int from public.credit_ledger where generation_id = (select id from ids where name = 'g1') and kind = 'settle'),
  1,
  'the generation was charged exactly once'
);
select throws_ok(
  $$ select api.handle_provider_webhook('replicate', 'wh-x', 'pred-unknown', 'succeeded', null, null, null) $$,
  'PT404', 'no generation for prediction pred-unknown',
  'a webhook for an unknown prediction is refused'
);
select is_empty($$ select 1 from public.webhook_events where webhook_id = 'wh-x' $$,
  'a refused webhook is not recorded, so the provider retry is processed');

reset role;
select throws_ok(
  format('update public.generations set status = %L where id = %L', 'processing', (select id from ids where name = 'g1')),
  'PT409', 'illegal status transition succeeded -> processing',
  'a final status is final'
);

/** Failures and expiry release the hold */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "30000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids
select 'g' || n, (api.create_generation('image', 'flux-schnell', 'p' || n, '{}') -> 'generation' ->> 'id')::uuid
from generate_series(3, 5) n;
insert into ids
select 'g6', (api.create_generation('image', 'flux-schnell', 'too many', '{"num_outputs": 2}') -> 'generation' ->> 'id')::uuid;
insert into ids
select 'g7', (api.create_generation('text', 'llama-3-8b-instruct', 'hello', '{"max_tokens": 1000}') -> 'generation' ->> 'id')::uuid;

reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);

select api.mark_generation_submitted((select id from ids where name = 'g3'), 'replicate', 'pred-3');
select is(
  api.handle_provider_webhook('replicate', 'wh-4', 'pred-3', 'failed', null, 'upstream http://10.0.0.7:8080 said: CUDA OOM', null)
    -> 'generation' ->> 'credits_charged',
  '0',
  'a failure webhook charges nothing'
);
select is(
  (select error from public.generations where id = (select id from ids where name = 'g3')),
  'the provider could not complete this generation; no credits were charged',
  'the user reads a sanitized error'
);
select is(
  (select detail from public.generation_errors where generation_id = (select id from ids where name = 'g3')),
  'upstream http://10.0.0.7:8080 said: CUDA OOM',
  'the provider''s own words are kept for admins'
);

select api.mark_generation_submitted((select id from ids where name = 'g6'), 'replicate', 'pred-6');
select is(
  (api.handle_provider_webhook('replicate', 'wh-6', 'pred-6', 'succeeded', '["u1", "u2", "u3", "u4"]', null, null)
    -> 'generation') -> 'outputs',
  '{"storage": "pending", "provider_urls": ["u1", "u2"]}'::jsonb,
  'a provider that returns more images than reserved delivers only the reserved ones'
);
select is(
  (select jsonb_build_object('charged', credits_charged, 'overrun', metrics -> 'overrun')
   from public.generations where id = (select id from ids where name = 'g6')),
  '{"charged": 10, "overrun": true}'::jsonb,
  'and is charged the reservation, flagged as an overrun'
);
select api.mark_generation_submitted((select id from ids where name = 'g7'), 'replicate', 'pred-7');
select is(
  (api.handle_provider_webhook('replicate', 'wh-7', 'pred-7', 'succeeded', '["Hi", " there", "!"]', null,
     '{"input_token_count": 300, "output_token_count": 3}') -> 'generation') - 'id' - 'user_id' - 'created_at'
     - 'started_at' - 'completed_at' - 'processing_time_ms' - 'params' - 'prompt' - 'provider_prediction_id'
     - 'is_favorite' - 'error' - 'provider' - 'action' - 'model' - 'kind' - 'status' - 'cost_usd' - 'title'
     - 'workspace_id',
  '{"outputs": {"text": "Hi there!"}, "units": 1.005, "credits_reserved": 2, "credits_charged": 1}'::jsonb,
  'text is charged the tokens the provider measured, and its chunks become one text'
);
select is(
  api.fail_generation_submission((select id from ids where name = 'g4'), 'replicate returned 500') ->> 'status',
  'failed',
  'a failed submission fails the generation'
);
select is(
  api.fail_generation_submission((select id from ids where name = 'g4'), 'again') ->> 'error',
  'the provider could not start this generation; no credits were charged',
  'failing it again returns the first failure'
);
select throws_ok(
  format('select api.fail_generation_submission(%L, %L)', (select id from ids where name = 'g1'), 'late'),
  'PT409', 'generation is succeeded',
  'a succeeded generation cannot be failed'
);

reset role;
update public.credit_holds set expires_at = now() - interval '1 hour'
where generation_id = (select id from ids where name = 'g5');
set local role service_role;
select is(api.sweep_expired_holds(), 1, 'the sweep releases the expired hold');
select is(
  (select status || ': ' || error from public.generations where id = (select id from ids where name = 'g5')),
  'failed: credit hold expired',
  'and fails its generation'
);
select is(api.sweep_expired_holds(), 0, 'a second sweep finds nothing');

select api.log_requests('[{"function": "generations", "method": "post", "path": "/generations", "status": 201,
  "duration_ms": 42, "user_id": "30000000-0000-4000-8000-00000000a11c", "request_id": "req-1"}]', '[]');

/** Alice's books */

reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "30000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

select is(api.get_my_credits() - 'entries' - 'next_before_id', '{"balance": 84, "held": 0, "available": 84}'::jsonb,
  'alice paid 5 + 10 credits for three images and 1 for 303 tokens; every other hold was released');
select is(
  api.get_monthly_usage(current_date) - 'month',
  '{"items": [
     {"action": "chat", "model": "llama-3-8b-instruct", "count": 1, "units": 0.303, "tokens_in": 300,
      "tokens_out": 3, "credits": 1, "cost_usd": 0.000152},
     {"action": "generate_image", "model": "flux-schnell", "count": 2, "units": 3, "tokens_in": null,
      "tokens_out": null, "credits": 15, "cost_usd": 0.009}],
   "total_credits": 16, "total_cost_usd": 0.009152}'::jsonb,
  'monthly usage sums the billed generations'
);
select is((select count(*)::int from public.api_logs), 1, 'alice reads her own api log');

select set_config('request.jwt.claims', '{"sub": "30000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is((select count(*)::int from public.usage_events), 0, 'bob reads none of alice''s usage');
select is((select count(*)::int from public.api_logs), 0, 'bob reads none of alice''s api logs');
select is(api.get_monthly_usage(current_date) -> 'items', '[]'::jsonb, 'bob''s monthly usage is his own (empty)');

select throws_ok(format('select api.admin_get_generation(%L)', (select id from ids where name = 'g3')),
  'PT403', 'admin role required', 'the admin view is for admins');

reset role;
insert into auth.users (id, email) values ('30000000-0000-4000-8000-00000000ad01', 'admin.generations@example.test');
update public.profiles set role = 'admin' where id = '30000000-0000-4000-8000-00000000ad01';
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "30000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);
select is(
  api.admin_get_generation((select id from ids where name = 'g3')) -> 'errors' -> 0 ->> 'detail',
  'upstream http://10.0.0.7:8080 said: CUDA OOM',
  'an admin reads the provider''s own words'
);

reset role;
set local role service_role;
select is(api.audit_credits(), '[]'::jsonb, 'audit_credits finds no violation');

select * from finish();
rollback;
