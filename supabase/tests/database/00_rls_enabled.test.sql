-- Schema-wide guarantees, read from the catalog so that a new table or function that
-- forgets one fails here without anyone writing a test for it.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(13);

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

-- The private functions the API roles may run, each with its reason. Everything else in
-- `private` is reachable only through SECURITY DEFINER functions.
create temp table private_callable (signature text primary key, reason text not null);
insert into private_callable values
  ('private.is_staff(app_role,uuid)', 'RLS policies call it; SECURITY DEFINER so reading profiles.role does not recurse'),
  ('private.is_admin(uuid)', 'RLS policies call it: is_staff(''admin'')'),
  ('private.caller_id()', 'the caller''s id or PT401: SECURITY INVOKER reads start here'),
  ('private.require_user()', 'the caller''s id, PT401/PT403: SECURITY INVOKER admin reads check the caller'),
  ('private.require_staff(app_role)', 'PT403 unless active staff of that rank: SECURITY INVOKER staff reads check the caller'),
  ('private.require_admin()', 'PT403 unless an active admin: SECURITY INVOKER admin reads check the caller'),
  ('private.input_limits()', 'pure data: SECURITY INVOKER reads check limits'),
  ('private.input_limit(text)', 'pure data: SECURITY INVOKER reads check limits'),
  ('private.check_page_limit(integer)', 'pure check: SECURITY INVOKER lists check their page size'),
  ('private.check_cursor(timestamp with time zone,uuid)', 'pure check: SECURITY INVOKER lists check their cursor'),
  ('private.keyset_page(jsonb,integer,text[])', 'pure rendering: SECURITY INVOKER lists answer their page'),
  ('private.generation_json(generations)', 'pure rendering used by the SECURITY INVOKER generation reads'),
  ('private.price(text,text,jsonb)', 'pricing over reference data, for the SECURITY INVOKER api.quote'),
  ('private.validate_params(text,jsonb)', 'pricing over reference data, for the SECURITY INVOKER api.quote'),
  ('private.billable_units(ai_models,text,text,jsonb)', 'pricing over reference data, for the SECURITY INVOKER api.quote'),
  ('private.provider_input(ai_models,text,jsonb)', 'pricing over reference data, for the SECURITY INVOKER api.quote'),
  ('private.mime_allowed(text,text[])', 'pure check: validate_params runs it for the SECURITY INVOKER api.quote'),
  ('private.chat_price(text)', 'reference data: the SECURITY INVOKER conversation writes check the model'),
  ('private.chat_settings(text,jsonb,jsonb)', 'pure check over reference data: the SECURITY INVOKER conversation writes'),
  ('private.conversation_json(conversations)', 'pure rendering used by the SECURITY INVOKER chat reads'),
  ('private.message_json(messages)', 'pure rendering used by the SECURITY INVOKER chat reads'),
  ('private.memory_json(memories)', 'pure rendering used by the SECURITY INVOKER memory reads'),
  ('private.template_json(prompt_templates)', 'pure rendering used by the SECURITY INVOKER template reads'),
  ('private.check_template(text,text,text,text)', 'pure check: the SECURITY INVOKER template writes'),
  ('private.file_json(files)', 'pure rendering used by the SECURITY INVOKER file reads'),
  ('private.nearest_chunks_indexed(uuid,vector,uuid[],integer)', 'the HNSW path of the SECURITY INVOKER search for callers with many chunks (RLS applies)'),
  ('private.check_query_embedding(vector)', 'pure check: the SECURITY INVOKER searches check the query vector'),
  -- workspaces migration: the sharing model's checks, which every shared capability calls
  ('private.role_rank(text)', 'pure data: role comparisons in checks and policies'),
  ('private.my_ids(text)', 'the caller''s memberships for RLS policies, once per statement'),
  ('private.role_on(uuid,uuid)', 'the caller''s effective role, read under RLS, for the SECURITY INVOKER checks'),
  ('private.require_role(uuid,text,uuid,text)', 'PT404/PT403 unless the caller''s role suffices: every shared capability''s checks'),
  ('private.shared_resource(uuid)', 'a shared resource''s type, workspace and the caller''s role, read under RLS'),
  ('private.workspace_json(workspaces,text)', 'pure rendering used by the SECURITY INVOKER workspace reads'),
  ('private.member_json(memberships)', 'pure rendering used by the SECURITY INVOKER member reads'),
  ('private.invitation_json(invitations)', 'pure rendering used by the SECURITY INVOKER invitation reads'),
  -- projects migration
  ('private.my_project_ids(text)', 'the projects the caller reaches, for the child tables'' RLS policies, once per statement'),
  ('private.project_role(uuid,text)', 'the caller''s role on a project or PT404/PT403: the SECURITY INVOKER project writes'),
  ('private.rank_between(bigint[],integer)', 'pure: the rank of a position, for the SECURITY INVOKER shot and link moves'),
  ('private.check_project_json(text,jsonb)', 'pure check: the SECURITY INVOKER project writes'),
  ('private.check_project_name(text,text)', 'pure check: the SECURITY INVOKER project writes'),
  ('private.generation_attachable(uuid)', 'whether the caller may put a generation in a project (RLS applies): a policy and the SECURITY INVOKER writes'),
  ('private.project_quota(uuid)', 'the plan''s project quota, for the SECURITY INVOKER quota reads'),
  ('private.project_json(projects)', 'pure rendering used by the SECURITY INVOKER project reads'),
  ('private.shot_json(shots,bigint)', 'pure rendering used by the SECURITY INVOKER shot reads'),
  ('private.lock_shot_order(uuid)', 'takes a project''s order lock as a member (RLS applies): the SECURITY INVOKER shot writes'),
  ('private.renumber_shots(uuid)', 'respaces a project''s ranks (RLS applies): the SECURITY INVOKER shot moves'),
  ('private.shot_rank(uuid,integer,uuid)', 'the rank of a position (RLS applies): the SECURITY INVOKER shot writes'),
  ('private.shot_generation_json(shot_generations,bigint,generations)', 'pure rendering used by the SECURITY INVOKER shot generation reads'),
  ('private.lock_shot(uuid,uuid)', 'takes a shot''s order lock as a member (RLS applies): the SECURITY INVOKER link writes'),
  ('private.shot_generation_rank(uuid,integer,uuid)', 'the rank of a position (RLS applies): the SECURITY INVOKER link writes'),
  ('private.shot_generation_at(uuid,uuid)', 'a link at its position (RLS applies): the SECURITY INVOKER link writes'),
  ('private.component_json(project_components)', 'pure rendering used by the SECURITY INVOKER component reads'),
  ('private.check_component(jsonb)', 'pure check: the SECURITY INVOKER component writes'),
  ('private.recording_json(audio_recordings)', 'pure rendering used by the SECURITY INVOKER recording reads'),
  ('private.prompt_json(prompt_generations)', 'pure rendering used by the SECURITY INVOKER prompt history reads'),
  -- flows migration
  ('private.my_flow_ids(text)', 'the flows the caller reaches, for the child tables'' RLS policies, once per statement'),
  ('private.flow_json(flows)', 'pure rendering used by the SECURITY INVOKER flow reads'),
  ('private.flow_comment_json(flow_comments)', 'pure rendering used by the SECURITY INVOKER comment reads'),
  ('private.flow_point_ok(jsonb)', 'pure check: the SECURITY INVOKER comment writes check a position'),
  -- loras migration
  ('private.lora_role(loras)', 'the caller''s role on a LoRA (creator, or through its workspace) for the SECURITY INVOKER checks'),
  ('private.require_lora(uuid,text)', 'PT404/PT403 unless the caller''s role on a LoRA suffices: the SECURITY INVOKER LoRA writes'),
  ('private.lora_json(loras)', 'pure rendering used by the SECURITY INVOKER LoRA reads'),
  ('private.lora_image_json(lora_training_images)', 'pure rendering used by the SECURITY INVOKER image reads'),
  ('private.training_batch_json(training_data_batches)', 'pure rendering used by the SECURITY INVOKER training data reads'),
  ('private.training_video_json(training_data)', 'pure rendering used by the SECURITY INVOKER training data reads'),
  ('private.training_segment_json(training_data_segments)', 'pure rendering used by the SECURITY INVOKER training data reads'),
  -- quotas migration
  ('private.plan_limits(uuid)', 'the limits of a user''s plan (RLS applies): the quota checks and the SECURITY INVOKER quota reads'),
  ('private.generations_in_flight(uuid)', 'a user''s unfinished generations (RLS applies): the SECURITY INVOKER quota read'),
  ('private.storage_used(uuid)', 'the bytes a user''s uploads hold (RLS applies): the SECURITY INVOKER quota read'),
  -- admin migration
  ('private.admin_user_json(profiles)', 'pure rendering used by the SECURITY INVOKER staff user list'),
  ('private.parse_role(text)', 'pure check: the SECURITY INVOKER staff user list checks its role filter'),
  ('private.check_plan(text)', 'check over reference data: the SECURITY INVOKER staff user list checks its plan filter'),
  -- notifications migration
  ('private.notification_json(notifications)', 'pure rendering used by the SECURITY INVOKER notification reads'),
  ('private.low_credits_threshold()', 'pure data: the low-credits trigger''s when clause runs as whoever moves a balance'),
  -- feedback migration
  ('private.check_feedback_text(text,text,text)', 'pure check: the SECURITY INVOKER idea and ticket writes'),
  ('private.idea_json(ideas)', 'pure rendering used by the SECURITY INVOKER idea reads'),
  ('private.support_message_json(support_messages)', 'pure rendering used by the SECURITY INVOKER ticket reads'),
  ('private.ticket_json(support_tickets,boolean)', 'pure rendering used by the SECURITY INVOKER ticket reads');

select is_empty(
  $$ select signature from our_functions
     where nspname = 'private'
       and (has_function_privilege('anon', oid, 'execute')
            or has_function_privilege('authenticated', oid, 'execute')
            or has_function_privilege('service_role', oid, 'execute'))
       and signature not in (select signature from private_callable) $$,
  'no private function is executable by an API role unless it is on the allow-list'
);

select ok(
  not has_schema_privilege('anon', 'private', 'usage'),
  'anon has no usage on schema private'
);

select is_empty(
  $$ select signature from our_functions
     where nspname in ('api', 'public') and has_function_privilege('anon', oid, 'execute') $$,
  'anon can execute no function'
);

-- Reads go through RLS: SECURITY DEFINER only where a write needs privileges the caller
-- must not have. A new definer function fails here until it is listed with its reason.
create temp table definer_allowed (name text primary key, reason text not null);
insert into definer_allowed values
  ('api.create_generation', 'reserves credits: writes the ledger, holds and accounts users cannot write'),
  ('api.cancel_generation', 'releases the hold and moves the status'),
  ('api.create_upload', 'records an upload at a path it chooses; reads storage.buckets, which users cannot'),
  ('api.admin_adjust_credits', 'writes the ledger on another user''s account, admins only'),
  ('api.admin_register_worker', 'creates a worker and its key, admins only'),
  ('api.admin_list_provider_tokens', 'lists the pool without the token column, which RLS cannot hide; admins only'),
  ('api.admin_enable_provider_token', 'writes provider_tokens, admins only'),
  ('api.mark_generation_submitted', 'status transition for the function (service role)'),
  ('api.fail_generation_submission', 'status transition and hold release (service role)'),
  ('api.handle_provider_webhook', 'settles or releases exactly once (service role)'),
  ('api.log_requests', 'appends api_logs, api_log_counts, error_logs and user_activity (service role)'),
  ('api.next_provider_token', 'rotates the token pool (service role)'),
  ('api.report_provider_token', 'records token health (service role)'),
  ('api.register_worker', 'creates a worker and its key (service role)'),
  ('api.worker_claim', 'leases tasks and moves generations to processing (worker key)'),
  ('api.worker_heartbeat', 'extends a lease (worker key)'),
  ('api.worker_complete', 'settles the generation at measured GPU time (worker key)'),
  ('api.worker_complete_batch', 'settles several generations at measured GPU time (worker key)'),
  ('api.worker_fail', 'requeues or fails, releasing the hold (worker key)'),
  ('api.begin_reply', 'reserves credits for a chat reply and writes its messages and counters'),
  ('api.finish_reply', 'settles or releases a reply''s hold exactly once, writes usage and counters (service role)'),
  ('api.reply_state', 'keeps a streaming reply''s text so far, so the stuck sweep charges what came (service role)'),
  ('api.sweep_stuck_replies', 'fails replies and title jobs whose function died, releasing their holds (cron)'),
  ('api.begin_title', 'reserves credits for a conversation''s automatic title and records its job (service role)'),
  ('api.finish_title', 'settles or releases a title''s hold exactly once, writes usage and counters (service role)'),
  ('api.create_file', 'records a file and queues its ingest task, which users cannot write'),
  ('api.delete_file', 'cancels the file''s task, deletes its chunks and queues its storage removal'),
  ('api.begin_embeddings', 'stores a task''s chunks and reserves the batch''s credits (worker key)'),
  ('api.begin_query_embedding', 'reserves the credits of a search query''s embedding'),
  ('api.finish_embeddings', 'stores vectors, settles or releases a batch''s hold exactly once, writes usage (service role)'),
  ('api.add_reply_sources', 'stores a reply''s sources and grows its prompt estimate, from the chunks of its owner only (service role)'),
  ('api.sweep_expired_holds', 'releases expired holds (cron)'),
  ('api.sweep_expired_leases', 'requeues expired leases (cron)'),
  ('api.run_due_jobs', 'the local sweeper: runs the due jobs of private.scheduled_jobs, which no API role reads (service role)'),
  -- activity migration: retention and roll-up jobs over every user's rows (cron, service role)
  ('api.rollup_performance_metrics', 'rolls the request log of every user up per function and hour (cron, service role)'),
  ('api.cleanup_old_generations', 'deletes old failed generations of every user (cron, service role)'),
  ('api.archive_old_conversations', 'archives idle conversations of every user (cron, service role)'),
  ('api.apply_log_retention', 'deletes old request, error, activity and metric rows (cron, service role)'),
  ('api.purge_deleted_rows', 'deletes long soft-deleted conversations, projects and flows of every user (cron, service role)'),
  ('api.purge_deleted_generations', 'deletes long soft-deleted generations of every user (cron, service role)'),
  ('api.claim_storage_jobs', 'leases storage jobs of every user to the job runner (service role or admin)'),
  ('api.storage_job_paths', 'names the paths of a leased persist job (service role)'),
  ('api.complete_storage_job', 'records stored files on the generation, checked against storage (service role)'),
  ('api.fail_storage_job', 'requeues or ends a leased storage job (service role)'),
  ('api.worker_output_paths', 'names the upload paths of a leased GPU task (worker key)'),
  ('private.enqueue_output_removal', 'trigger: users soft-delete their generations and cannot write the queue'),
  ('api.reconcile_candidates', 'claims stuck generations of every user for the reconciler, stamping them (service role or admin)'),
  ('private.create_credit_account', 'trigger: profiles are inserted by roles that cannot write credit_accounts'),
  ('private.handle_new_user', 'trigger on auth.users: creates the profile'),
  ('private.handle_user_email_change', 'trigger on auth.users: mirrors the email'),
  ('private.is_staff', 'RLS policies on profiles call it; reading profiles under RLS would recurse'),
  ('private.schedule_sweeps', 'schedules pg_cron jobs, which needs the cron schema''s privileges'),
  -- workspaces migration: memberships, invitations and workspace accounts are written only here
  ('private.my_ids', 'RLS policies call it; reading memberships under RLS would recurse'),
  ('private.add_owner', 'trigger: a shared row''s creator becomes its owner; users cannot write memberships'),
  ('private.drop_sharing', 'trigger: a deleted resource''s memberships and invitations go with it'),
  ('private.create_workspace_account', 'trigger: opens a workspace''s credit account, which users cannot write'),
  ('api.create_workspace', 'creates a workspace with its owner membership and credit account'),
  ('api.delete_workspace', 'returns the balance to the owner (ledger) and removes every membership'),
  ('api.fund_workspace', 'moves credits from the caller''s account to a workspace''s (ledger)'),
  ('api.create_invitation', 'writes an invitation with a role ceiling a row policy cannot express'),
  ('api.revoke_invitation', 'ends an invitation, admins of its resource only'),
  ('api.accept_invitation', 'makes the holder of a valid token a member, which they are not yet'),
  ('api.update_member', 'changes a role under the one-owner and role-ceiling rules'),
  ('api.remove_member', 'removes a member under the one-owner and role-ceiling rules'),
  ('api.leave', 'removes the caller''s membership unless they are the owner'),
  ('api.transfer_ownership', 'moves ownership in one step, so there is always exactly one owner'),
  -- projects migration
  ('private.my_project_ids', 'RLS policies on shots, links, components, recordings and prompts call it; it reads projects without their policies'),
  ('api.soft_delete_project', 'soft-deletes a project for its admins: an updated row must pass the select policy, which a deleted one fails'),
  -- flows migration
  ('private.my_flow_ids', 'RLS policies on nodes, edges and comments call it; it reads flows without their policies'),
  ('api.save_flow', 'writes a flow''s nodes and edges, which users cannot write: every change is checked and bumps the version'),
  ('api.delete_flow', 'soft-deletes a flow for its admins; members may update the row, and a policy cannot tell the two apart'),
  ('api.resolve_flow_comment', 'members resolve other users'' threads, whose rows only their authors may update'),
  -- loras migration
  ('api.start_lora_training', 'moves a LoRA to training with its billed run; users cannot write a LoRA''s status or run'),
  ('private.enqueue_lora_weights_removal', 'trigger: users soft-delete their LoRAs and cannot write the queue'),
  -- admin migration
  ('api.admin_update_user', 'writes role, is_active and plan, which users cannot, under the staff role matrix; audits it'),
  ('api.refresh_admin_stats', 'refreshes the stats view, which only its owner may (cron, service role)'),
  ('api.admin_stats', 'reads the stats view, which cannot have RLS; admins only'),
  -- notifications migration: triggers on the paths that finish things, none of which may write notifications
  ('private.notify_generation_finished', 'trigger: writes the creator''s notification when a generation ends'),
  ('private.notify_training_finished', 'trigger: writes the creator''s notification when a LoRA''s training ends'),
  ('private.notify_file_processed', 'trigger: writes the owner''s notification when a file''s ingest ends'),
  ('private.notify_invitation', 'trigger: writes the invitee''s notification, found by email in profiles'),
  ('private.notify_credits_low', 'trigger: writes the owner''s notification when their balance crosses the threshold'),
  -- feedback migration
  ('private.count_idea_vote', 'trigger: keeps ideas.vote_count, which voters cannot write'),
  ('private.notify_idea_status', 'trigger: writes the author''s notification when staff move their idea'),
  ('private.follow_support_message', 'trigger: moves a ticket''s status and count, which users cannot write, and notifies a staff reply'),
  ('api.close_ticket', 'closes a ticket for its owner or staff; the owner may not write its status otherwise');

select is_empty(
  $$ select nspname || '.' || proname from our_functions
     where prosecdef and nspname || '.' || proname not in (select name from definer_allowed) $$,
  'every SECURITY DEFINER function is on the allow-list with its reason'
);

-- Clients read the HTTP API's field names in errors, never a SQL parameter name.
select is_empty(
  $$ select signature from our_functions f join pg_proc p on p.oid = f.oid
     where p.prosrc ~ 'message\s*=\s*(format\()?''[^'']*\mp_[a-z]' $$,
  'no error message names a p_* parameter'
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
