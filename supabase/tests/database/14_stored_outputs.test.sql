-- Stored outputs: a success with provider URLs becomes a pending copy with its job; the
-- job runner's paths, completion and failure; GPU workers' uploaded files are checked
-- against storage; a soft delete enqueues the removal once; strangers reach none of it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(23);

insert into auth.users (id, email) values
  ('50000000-0000-4000-8000-00000000a11c', 'alice.store@example.test'),
  ('50000000-0000-4000-8000-0000000000b0', 'bob.store@example.test'),
  ('50000000-0000-4000-8000-00000000ad01', 'admin.store@example.test');
update public.profiles set role = 'admin' where id = '50000000-0000-4000-8000-00000000ad01';
select private.change_credits('50000000-0000-4000-8000-00000000a11c', 'grant', 1000, 'test:grant', null, 'test');

create temp table ids (name text primary key, id uuid, key text);
grant all on ids to public;

/** A provider success becomes a pending copy */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g1', (r -> 'generation' ->> 'id')::uuid
from api.create_generation('image', 'flux-schnell', 'a red fox', '{"num_outputs": 2}') r;

reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select api.mark_generation_submitted((select id from ids where name = 'g1'), 'replicate', 'store-pred-1');
select api.handle_provider_webhook('replicate', 'store-w1', 'store-pred-1', 'succeeded',
  '["http://provider.test/a.png", "http://provider.test/b.png"]', null, null);

reset role;
select is(
  (select outputs from public.generations where id = (select id from ids where name = 'g1')),
  '{"storage": "pending", "provider_urls": ["http://provider.test/a.png", "http://provider.test/b.png"]}'::jsonb,
  'provider URLs become a pending copy; the provider URLs are kept as provenance'
);
select is(
  (select credits_charged from public.generations where id = (select id from ids where name = 'g1')),
  (select credits_reserved from public.generations where id = (select id from ids where name = 'g1')),
  'the settlement counts the images the provider returned'
);
select is(
  (select count(*)::int from public.tasks where task_type = 'storage.persist'
     and params ->> 'generation_id' = (select id from ids where name = 'g1')::text),
  1,
  'the success enqueues exactly one copy'
);

/** The job runner */

select throws_ok(
  $$ insert into public.workers (name, capabilities, key_hash) values ('sneaky', array['storage.persist'], 'x') $$,
  '23514', null,
  'no other worker may take storage jobs'
);

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
select throws_ok($$ select api.claim_storage_jobs() $$, 'PT403', null, 'a user cannot claim storage jobs');
select throws_ok(
  format('select api.complete_storage_job(%L, %L)', gen_random_uuid(), '[]'),
  '42501', null, 'a user cannot complete storage jobs'
);

reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is(
  api.claim_storage_jobs(10, 60, gen_random_uuid()),
  '[]'::jsonb,
  'a claim for one generation takes only its jobs'
);
insert into ids (name, id)
select 'job1', (j ->> 'id')::uuid
from jsonb_array_elements(api.claim_storage_jobs(10, 60, (select id from ids where name = 'g1'))) j
where j ->> 'generation_id' = (select id from ids where name = 'g1')::text;
select is(
  (select j - 'id' - 'attempt' - 'max_attempts' - 'max_bytes'
   from jsonb_array_elements(api.claim_storage_jobs(10, 60)) j limit 1),
  null,
  'a leased job is not claimed twice'
);

select is(
  api.storage_job_paths((select id from ids where name = 'job1'), array['image/png', 'image/jpeg; q=1']),
  jsonb_build_array(
    jsonb_build_object('content_type', 'image/png', 'path',
      format('50000000-0000-4000-8000-00000000a11c/%s/0.png', (select id from ids where name = 'g1'))),
    jsonb_build_object('content_type', 'image/jpeg', 'path',
      format('50000000-0000-4000-8000-00000000a11c/%s/1.jpg', (select id from ids where name = 'g1')))),
  'SQL names each path after its content type'
);
select throws_ok(
  format('select api.storage_job_paths(%L, array[''text/html''])', (select id from ids where name = 'job1')),
  'PT400', null, 'an image generation stores only images'
);
select throws_ok(
  format('select api.storage_job_paths(%L, array[''image/png'', ''image/png'', ''image/png''])', (select id from ids where name = 'job1')),
  'PT400', null, 'no more files than the images reserved'
);

select throws_ok(
  format('select api.complete_storage_job(%L, %L)', (select id from ids where name = 'job1'),
    jsonb_build_array(jsonb_build_object('path',
      format('50000000-0000-4000-8000-00000000a11c/%s/0.png', (select id from ids where name = 'g1'))))),
  'PT400', null, 'a file that is not in storage is not recorded'
);

-- What Storage writes when the upload lands.
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
select 'generations', format('50000000-0000-4000-8000-00000000a11c/%s/%s.png', (select id from ids where name = 'g1'), n),
       null, jsonb_build_object('size', 100 + n, 'mimetype', 'image/png')
from generate_series(0, 1) n;

set local role service_role;
select is(
  api.complete_storage_job((select id from ids where name = 'job1'),
    (select jsonb_agg(jsonb_build_object('path',
       format('50000000-0000-4000-8000-00000000a11c/%s/%s.png', (select id from ids where name = 'g1'), n)))
     from generate_series(0, 1) n)) ->> 'status',
  'succeeded',
  'the runner completes the copy'
);
reset role;
select is(
  (select outputs - 'provider_urls' from public.generations where id = (select id from ids where name = 'g1')),
  jsonb_build_object('storage', 'stored', 'files', (
    select jsonb_agg(jsonb_build_object('path',
      format('50000000-0000-4000-8000-00000000a11c/%s/%s.png', (select id from ids where name = 'g1'), n),
      'content_type', 'image/png', 'bytes', 100 + n) order by n)
    from generate_series(0, 1) n)),
  'the generation keeps the stored files, typed and sized by storage'
);

/** A copy that runs out of attempts */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids (name, id)
select 'g2', (r -> 'generation' ->> 'id')::uuid
from api.create_generation('image', 'flux-schnell', 'a blue fox', '{"num_outputs": 1}') r;
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select api.mark_generation_submitted((select id from ids where name = 'g2'), 'replicate', 'store-pred-2');
select api.handle_provider_webhook('replicate', 'store-w2', 'store-pred-2', 'succeeded', '"http://provider.test/c.png"', null, null);
insert into ids (name, id)
select 'job2', (j ->> 'id')::uuid from jsonb_array_elements(api.claim_storage_jobs(10, 60)) j;
select is(
  api.fail_storage_job((select id from ids where name = 'job2'), 'provider said 500', true) ->> 'status',
  'queued',
  'a retryable failure goes back to the queue with backoff'
);
reset role;
update public.tasks set run_at = now() where id = (select id from ids where name = 'job2');
set local role service_role;
select api.claim_storage_jobs(10, 60);
select is(
  api.fail_storage_job((select id from ids where name = 'job2'), 'wrong type', false) ->> 'status',
  'failed',
  'a failure that cannot pass ends the job'
);
reset role;
select is(
  (select outputs ->> 'storage' from public.generations where id = (select id from ids where name = 'g2')),
  'failed',
  'the generation says its copy failed'
);
select is(
  (select count(*)::int from public.credit_ledger l join public.credit_accounts a on a.id = l.account_id
   where a.owner_user_id = '50000000-0000-4000-8000-00000000a11c' and l.kind = 'settle'),
  2,
  'copies never charge: one settlement per generation'
);

/** Soft delete removes the files once */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-0000000000b0", "role": "authenticated"}', true);
update public.generations set deleted_at = now() where id = (select id from ids where name = 'g1');
reset role;
select is(
  (select count(*)::int from public.tasks where task_type = 'storage.remove'),
  0,
  'a stranger cannot delete another user''s generation'
);
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
update public.generations set deleted_at = now() where id = (select id from ids where name = 'g1');
update public.generations set deleted_at = now() where id = (select id from ids where name = 'g1');
reset role;
select is(
  (select params -> 'paths' from public.tasks where task_type = 'storage.remove'),
  (select jsonb_agg(format('50000000-0000-4000-8000-00000000a11c/%s/%s.png', (select id from ids where name = 'g1'), n))
   from generate_series(0, 1) n),
  'soft delete enqueues the removal of its files, once'
);

/** Strangers */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "50000000-0000-4000-8000-0000000000b0", "role": "authenticated"}', true);
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'generations' $$,
  'a stranger sees none of another user''s stored files'
);
select is_empty($$ select 1 from public.tasks $$, 'users see no storage jobs');
select throws_ok(
  format('select api.worker_output_paths(%L, %L, array[''image/png''])', 'gw_x', gen_random_uuid()),
  '42501', null, 'users cannot ask for upload paths'
);

select * from finish();
rollback;
