/**
 * Files, embeddings and search: documents a user uploads become chunks with embeddings,
 * finished messages get embeddings too, and one search reads both, semantically (pgvector),
 * by full text, or fused.
 *
 * Life of a file (the ingest worker drives it through the worker function; SQL decides
 * everything that costs and every status):
 *   api.create_file        as the user, for an upload whose file has arrived: checked
 *                          against file_type_configs, recorded `pending`, and an
 *                          `ingest.file` task is queued in the same transaction;
 *   claim (queue)          the worker claims the task: the file becomes `processing`;
 *   api.begin_embeddings   worker key, per batch of chunks: stores (or replaces) them,
 *                          holds the credits of their estimated tokens and returns the
 *                          provider request; PT402 writes nothing;
 *   api.finish_embeddings  service role, exactly once per batch: stores the vectors,
 *                          settles at the tokens the provider reported, one usage event;
 *   complete (queue)       api.worker_complete with {chunk_count, extracted_chars}: every
 *                          chunk 0..n-1 must be embedded, later ones (an earlier attempt's)
 *                          go, the file is `completed`;
 *   fail (queue)           retried with the queue's backoff; a final failure leaves the file
 *                          `failed` with the worker's reason and no chunks.
 * Messages: an assistant reply finishing `complete` queues an `embed.messages` task for it
 * and the user message it answers, embedded through the same two functions.
 * Search: api.search and the seed's search_similar_* are SECURITY INVOKER, so RLS decides
 * what anyone can find.
 *
 * Ingest and embedding tasks name their user (params.user_id), so the queue locks that
 * credit account before the task, as it does a generation's (private.lock_task). Lock
 * order: credit account, task, embedding batch, file, chunks / messages.
 */

-- Supabase enables pgvector from a migration; the local bootstrap already has it.
create extension if not exists vector with schema extensions;

/** The embedding model */

alter table public.ai_models
  drop constraint ai_models_kind_check,
  add constraint ai_models_kind_check
    check (kind in ('image', 'video', 'audio', 'music', 'text', 'tts', 'chat', 'embedding')),
  drop constraint ai_models_protocol_check,
  add constraint ai_models_protocol_check
    check (protocol in ('replicate', 'gpu', 'openai_chat', 'anthropic_messages', 'openai_embeddings')),
  -- OpenAI's embeddings protocol makes embeddings and nothing else; the rest as before.
  drop constraint ai_models_protocol,
  add constraint ai_models_protocol check (case protocol
    when 'gpu' then provider = 'gpu' and kind not in ('chat', 'embedding')
    when 'replicate' then provider = 'replicate' and kind not in ('chat', 'embedding')
    when 'openai_embeddings' then kind = 'embedding' and provider_ref is not null
    else kind = 'chat'
  end);

insert into public.ai_models (model, kind, provider, protocol, provider_ref) values
  ('text-embedding-3-small', 'embedding', 'openai', 'openai_embeddings', 'text-embedding-3-small');

-- OpenAI's list price, USD 0.02 per million input tokens, sold at 1.5 times that in credits
-- as chat is (1 credit = USD 0.001).
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, active_from) values
  ('embedding', 'text-embedding-3-small', '1k_tokens', 0.03, 0.00002, '2026-01-01');

/** File types */

create table public.file_type_configs (
  mime_type text primary key check (mime_type = lower(mime_type) and mime_type ~ '^[a-z0-9.+-]+/[a-z0-9.+-]+$'),
  label text not null check (char_length(label) between 1 and 100),
  -- The usual file name extensions, for clients' pickers.
  extensions text[] not null check (cardinality(extensions) between 1 and 10),
  max_bytes bigint not null check (max_bytes > 0),
  -- How the worker splits the text: chunk length and the overlap between neighbours.
  chunk_tokens int not null default 400 check (chunk_tokens between 50 and 2000),
  overlap_tokens int not null default 50 check (overlap_tokens >= 0),
  is_active boolean not null default true,
  constraint file_type_configs_overlap check (overlap_tokens < chunk_tokens)
);

alter table public.file_type_configs enable row level security;

create policy "Authenticated users can view file types"
  on public.file_type_configs for select to authenticated
  using (true);

revoke all on public.file_type_configs from anon, authenticated, service_role;
grant select on public.file_type_configs to authenticated, service_role;

-- 20 MiB of text is far more than anyone reads; PDFs carry images and fonts, so they get
-- the documents bucket's whole 50 MiB.
insert into public.file_type_configs (mime_type, label, extensions, max_bytes) values
  ('text/plain', 'Plain text', array['txt', 'text', 'log'], 20971520),
  ('text/markdown', 'Markdown', array['md', 'markdown'], 20971520),
  ('text/html', 'HTML', array['html', 'htm'], 20971520),
  ('text/csv', 'CSV', array['csv'], 20971520),
  ('application/json', 'JSON', array['json'], 20971520),
  ('application/pdf', 'PDF', array['pdf'], 52428800),
  ('application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'Word document', array['docx'], 20971520);

/** Files */

create table public.files (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- One file per upload: the upload says where the bytes are (bucket, path).
  upload_id uuid not null unique references public.uploads (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 255),
  -- As Storage recorded the object, when the file was registered.
  mime_type text not null references public.file_type_configs (mime_type),
  size_bytes bigint not null check (size_bytes > 0),
  status text not null default 'pending' check (status in ('pending', 'processing', 'completed', 'failed')),
  -- What the user reads about a failure (the worker's reason).
  error text check (char_length(error) <= 500),
  chunk_count int not null default 0 check (chunk_count >= 0),
  extracted_chars bigint check (extracted_chars >= 0),
  -- Every embedding batch of the file, failed attempts included: what it cost.
  tokens bigint not null default 0 check (tokens >= 0),
  credits bigint not null default 0 check (credits >= 0),
  task_id uuid references public.tasks (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  deleted_at timestamptz,
  constraint files_failed_error check ((status = 'failed') = (error is not null)),
  constraint files_completed check ((status = 'completed') = (completed_at is not null))
);

-- list_files' keyset pages; deleted files never enter them.
create index files_user_created_idx on public.files (user_id, created_at desc, id desc) where deleted_at is null;

create trigger files_touch_updated_at
  before update on public.files
  for each row execute function private.touch_updated_at();

alter table public.files enable row level security;

create policy "Users can view their own files"
  on public.files for select to authenticated
  using (user_id = (select auth.uid()));

-- Written only by the SECURITY DEFINER functions below: status and counters are SQL's.
revoke all on public.files from anon, authenticated, service_role;
grant select on public.files to authenticated, service_role;

/** Embedding batches */

/**
 * One provider call for embeddings: its inputs (chunks, messages, or a search query), the
 * hold placed for their estimated tokens and, once finished, what was charged. finish
 * resolves it exactly once.
 */
create table public.embedding_batches (
  id uuid primary key default gen_random_uuid(),
  -- Whose credits pay.
  user_id uuid not null references public.profiles (id) on delete cascade,
  purpose text not null check (purpose in ('ingest.file', 'embed.messages', 'query')),
  -- The task it embeds for (null for a query) and, for a file, the file.
  task_id uuid references public.tasks (id) on delete cascade,
  file_id uuid references public.files (id) on delete cascade,
  -- The chunks or messages receiving the vectors, in the inputs' order; empty for a query.
  targets uuid[] not null,
  input_count int not null check (input_count between 1 and 64),
  model text not null references public.ai_models (model),
  pricing_id bigint not null references public.pricing (id),
  -- Charged when the provider reports no count.
  tokens_estimate int not null check (tokens_estimate >= 0),
  credits_reserved bigint not null check (credits_reserved >= 0),
  hold_id uuid references public.credit_holds (id),
  status text not null default 'running' check (status in ('running', 'complete', 'failed')),
  embedded int check (embedded >= 0),
  tokens int check (tokens >= 0),
  credits bigint check (credits >= 0),
  cost_usd numeric(14, 6),
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  constraint embedding_batches_ended check ((status = 'running') = (completed_at is null)),
  constraint embedding_batches_charge check (credits is null or credits <= credits_reserved),
  constraint embedding_batches_task check ((purpose = 'query') = (task_id is null)),
  constraint embedding_batches_targets check (purpose = 'query' or cardinality(targets) = input_count)
);

-- A task's open batches, released when the task stops running.
create index embedding_batches_task_idx on public.embedding_batches (task_id) where status = 'running';

alter table public.embedding_batches enable row level security;

create policy "Users can view their own embedding batches"
  on public.embedding_batches for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.embedding_batches from anon, authenticated, service_role;
grant select on public.embedding_batches to authenticated, service_role;

-- A batch is billed once, like a reply.
alter table public.usage_events add column embedding_batch_id uuid
  constraint usage_events_embedding_batch_fk references public.embedding_batches (id) on delete set null;
create unique index usage_events_embedding_batch_idx on public.usage_events (embedding_batch_id);

/** Document chunks */

create table public.document_chunks (
  id uuid primary key default gen_random_uuid(),
  file_id uuid not null references public.files (id) on delete cascade,
  -- The file's owner, so that RLS reads no other table.
  user_id uuid not null references public.profiles (id) on delete cascade,
  chunk_index int not null check (chunk_index >= 0),
  content text not null check (char_length(content) between 1 and 8000),
  page_number int check (page_number > 0),
  heading text check (char_length(heading) between 1 and 500),
  token_count int not null check (token_count >= 0),
  -- Null until its batch finishes.
  embedding extensions.vector(1536),
  -- The batch embedding its current content: a chunk sent again gets the new batch, so an
  -- older batch finishing late never stores the vector of text the chunk no longer holds.
  batch_id uuid references public.embedding_batches (id) on delete set null,
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  -- 'simple': documents come in every language. A heading's words rank above the body's.
  search tsvector generated always as (
    setweight(to_tsvector('simple', coalesce(heading, '')), 'A') || to_tsvector('simple', content)) stored,
  constraint document_chunks_index unique (file_id, chunk_index)
);

-- Cosine, as OpenAI's embeddings are meant to be compared. HNSW keeps its recall as rows
-- arrive (IVFFlat would need rebuilding), and with iterative scans (api.search) a
-- per-user filter does not starve the result.
create index document_chunks_embedding_idx on public.document_chunks
  using hnsw (embedding extensions.vector_cosine_ops);
create index document_chunks_search_idx on public.document_chunks using gin (search);

alter table public.document_chunks enable row level security;

create policy "Users can view their own document chunks"
  on public.document_chunks for select to authenticated
  using (user_id = (select auth.uid()));

revoke all on public.document_chunks from anon, authenticated, service_role;
grant select on public.document_chunks to authenticated, service_role;

/** Message embeddings */

alter table public.messages add column embedding extensions.vector(1536);
create index messages_embedding_idx on public.messages using hnsw (embedding extensions.vector_cosine_ops);

/** Helpers (private) */

/**
 * The embedding model and its active price: text-embedding-3-small, whose 1536 dimensions
 * every vector column has. PT503 when it is inactive or has no price.
 */
create function private.embedding_price() returns public.pricing
language plpgsql
stable
set search_path = ''
as $$
declare
  v_price public.pricing;
begin
  select p.* into v_price
  from public.ai_models m
  join public.pricing p on p.model = m.model and p.active_from <= now() and (p.active_to is null or p.active_to > now())
  where m.model = 'text-embedding-3-small' and m.kind = 'embedding' and m.is_active and p.unit = '1k_tokens';
  if v_price.id is null then
    raise exception using errcode = 'PT503', message = 'no embedding model is available';
  end if;
  return v_price;
end
$$;

/**
 * The file object of the API contract: a fixed key set.
 */
create function private.file_json(f public.files) returns jsonb
language sql
stable  -- timestamps render in the session time zone
set search_path = ''
as $$
  select case when f.id is not null then jsonb_build_object(
    'id', f.id, 'name', f.name, 'mime_type', f.mime_type, 'size_bytes', f.size_bytes,
    'status', f.status, 'error', f.error, 'chunk_count', f.chunk_count,
    'extracted_chars', f.extracted_chars, 'tokens', f.tokens, 'credits', f.credits,
    'created_at', f.created_at, 'updated_at', f.updated_at, 'completed_at', f.completed_at
  ) end
$$;

grant execute on function private.file_json(public.files) to authenticated, service_role;

/**
 * Starts an embedding batch for p_user_id, whose account the caller has locked: holds
 * ceil(estimated tokens x the list price / 1000) credits and records the batch. PT402 when
 * the available credits are short; nothing is written then. Returns the API's answer:
 * {batch_id, request: {protocol, provider, model, dimensions, inputs}, credits_reserved}.
 */
create function private.begin_batch(
  p_account public.credit_accounts,
  p_user_id uuid,
  p_purpose text,
  p_task_id uuid,
  p_file_id uuid,
  p_targets uuid[],
  p_inputs text[]
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_price public.pricing := private.embedding_price();
  v_model public.ai_models;
  v_tokens int := (select coalesce(sum(private.estimate_tokens(i)), 0) from unnest(p_inputs) i);
  v_credits bigint;
  v_hold_id uuid;
  v_id uuid;
begin
  select * into strict v_model from public.ai_models where model = v_price.model;
  v_credits := ceil(v_tokens * v_price.credits_per_unit / 1000)::bigint;
  -- A reply's messages are a few hundred tokens, so rounding each batch up to a whole credit
  -- would charge history search many times its cost: by default it is recorded, not charged
  -- (the hold of 0 caps the settlement at 0).
  if p_purpose = 'embed.messages' and private.chat_config('history_embeddings_free') = 'true'::jsonb then
    v_credits := 0;
  end if;
  if v_credits > p_account.balance - p_account.held then
    raise exception using errcode = 'PT402', message = format('not enough credits: %s needed, %s available',
      v_credits, p_account.balance - p_account.held);
  end if;
  if v_credits > 0 then
    -- A provider answers in seconds; the hold sweep frees a batch whose caller died.
    v_hold_id := (private.place_hold(p_account.id, v_credits, null, now() + interval '15 minutes', p_user_id)).id;
  end if;
  insert into public.embedding_batches (user_id, purpose, task_id, file_id, targets, input_count, model,
    pricing_id, tokens_estimate, credits_reserved, hold_id)
  values (p_user_id, p_purpose, p_task_id, p_file_id, p_targets, cardinality(p_inputs), v_model.model,
    v_price.id, v_tokens, v_credits, v_hold_id)
  returning id into v_id;
  return jsonb_build_object(
    'batch_id', v_id,
    'request', jsonb_build_object('protocol', v_model.protocol, 'provider', v_model.provider,
      'model', v_model.provider_ref, 'dimensions', 1536, 'inputs', to_jsonb(p_inputs)),
    'credits_reserved', v_credits);
end
$$;

/**
 * Ends a running batch whose vectors will never come (the provider failed, its task stopped
 * running): the hold is released, nothing is charged or stored. The caller holds the
 * account lock.
 */
create function private.release_batch(p_batch_id uuid) returns void
language plpgsql
set search_path = ''
as $$
declare
  b public.embedding_batches;
begin
  update public.embedding_batches
  set status = 'failed', embedded = 0, tokens = 0, credits = 0, cost_usd = 0, completed_at = now()
  where id = p_batch_id and status = 'running'
  returning * into b;
  if b.hold_id is not null then
    -- Null when the hold sweep released it first: nothing left to do.
    perform private.resolve_hold(b.hold_id, null, null, 'embedding batch released');
  end if;
end
$$;

/**
 * A batch's answer: {embedded, tokens, credits_charged}.
 */
create function private.batch_json(b public.embedding_batches) returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object('embedded', b.embedded, 'tokens', b.tokens, 'credits_charged', b.credits)
$$;

/**
 * Whether a JSON value is an integer number from p_min to p_max.
 */
create function private.is_integer_between(p_value jsonb, p_min numeric, p_max numeric) returns boolean
language sql
immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p_value) = 'number'
    then (p_value #>> '{}')::numeric between p_min and p_max
         and (p_value #>> '{}')::numeric = trunc((p_value #>> '{}')::numeric)
    else false end
$$;

/**
 * PT400 unless p_chunks is what an ingest batch sends: an array of 1 to 64
 * {index, content, page, heading}, each index an integer from 0 to 99999 once, content 1 to
 * 8000 characters with text, page null or a positive integer, heading null or at most 500
 * characters. (8000 characters stay well inside the model's 8191-token input.)
 */
create function private.check_chunks(p_chunks jsonb) returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_item record;
  v_error text;
begin
  if jsonb_typeof(p_chunks) is distinct from 'array' or jsonb_array_length(p_chunks) not between 1 and 64 then
    raise exception using errcode = 'PT400', message = 'chunks must be an array of 1 to 64 chunks';
  end if;
  for v_item in select e, n - 1 as i from jsonb_array_elements(p_chunks) with ordinality c (e, n) loop
    -- CASE tests in order, so a number is cast only once it is known to be one.
    v_error := case
      when jsonb_typeof(v_item.e) <> 'object' then 'must be an object'
      when v_item.e - 'index' - 'content' - 'page' - 'heading' <> '{}'::jsonb
        then 'only index, content, page and heading are allowed'
      when not private.is_integer_between(v_item.e -> 'index', 0, 99999)
        then 'index must be an integer from 0 to 99999'
      when jsonb_typeof(v_item.e -> 'content') is distinct from 'string'
        then 'content must be 1 to 8000 characters of text'
      when char_length(v_item.e ->> 'content') not between 1 and 8000 or btrim(v_item.e ->> 'content') = ''
        then 'content must be 1 to 8000 characters of text'
      when coalesce(jsonb_typeof(v_item.e -> 'page'), 'null') <> 'null'
           and not private.is_integer_between(v_item.e -> 'page', 1, 1000000)
        then 'page must be a positive integer or null'
      when coalesce(jsonb_typeof(v_item.e -> 'heading'), 'null') not in ('null', 'string')
        then 'heading must be a string of at most 500 characters or null'
      when char_length(v_item.e ->> 'heading') > 500
        then 'heading must be a string of at most 500 characters or null'
    end;
    if v_error is not null then
      raise exception using errcode = 'PT400', message = format('chunks[%s]: %s', v_item.i, v_error);
    end if;
  end loop;
  if (select count(distinct (e ->> 'index')::int) from jsonb_array_elements(p_chunks) e) <> jsonb_array_length(p_chunks) then
    raise exception using errcode = 'PT400', message = 'each chunk index may be sent once per batch';
  end if;
end
$$;

/** Queue hooks */

/**
 * A claimed ingest task: its file is being processed.
 */
create function private.file_claimed() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.files set status = 'processing'
  where id = (new.params ->> 'file_id')::uuid and status = 'pending' and deleted_at is null;
  return new;
end
$$;

create trigger tasks_file_claimed
  after update of status on public.tasks
  for each row when (new.task_type = 'ingest.file' and new.status = 'running' and old.status = 'queued')
  execute function private.file_claimed();

/**
 * Before an ingest or embedding task succeeds (api.worker_complete): its work must be
 * whole, PT400 otherwise, which refuses the completion and changes nothing.
 *   ingest.file     output {chunk_count: n, extracted_chars: m}: chunks 0..n-1 all stored
 *                   and embedded; any chunk from n on (an earlier attempt split the text
 *                   differently) is deleted; the file is completed with n and m.
 *   embed.messages  every message of the task with text has its embedding.
 * The account and the task are locked (private.lock_task).
 */
create function private.embedding_task_succeeding() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_count numeric;
  v_chars numeric;
  v_missing int;
  f public.files;
begin
  if new.task_type = 'embed.messages' then
    select count(*) into v_missing from public.messages m
    where m.id in (select (jsonb_array_elements_text(new.params -> 'message_ids'))::uuid)
      and btrim(m.content) <> '' and m.embedding is null;
    if v_missing > 0 then
      raise exception using errcode = 'PT400',
        message = format('%s of the task''s messages are not embedded yet', v_missing);
    end if;
    return new;
  end if;

  if not (private.is_integer_between(new.output -> 'chunk_count', 0, 100000)
          and private.is_integer_between(new.output -> 'extracted_chars', 0, 9223372036854775807)) then
    raise exception using errcode = 'PT400',
      message = 'output must be {"chunk_count": n, "extracted_chars": m} with non-negative integers';
  end if;
  v_count := (new.output ->> 'chunk_count')::numeric;
  v_chars := (new.output ->> 'extracted_chars')::numeric;
  select * into f from public.files where id = (new.params ->> 'file_id')::uuid for update;
  select v_count - count(*) into v_missing from public.document_chunks
  where file_id = f.id and chunk_index < v_count and embedding is not null;
  if v_missing > 0 then
    raise exception using errcode = 'PT400', message = format(
      'chunks 0 to %s must all be stored and embedded first: %s are not', v_count - 1, v_missing);
  end if;
  delete from public.document_chunks where file_id = f.id and chunk_index >= v_count;
  update public.files set status = 'completed', error = null, chunk_count = v_count,
    extracted_chars = v_chars, completed_at = now()
  where id = f.id;
  return new;
end
$$;

create trigger tasks_embedding_succeeding
  before update of status on public.tasks
  for each row when (new.task_type in ('ingest.file', 'embed.messages') and new.status = 'succeeded'
                     and old.status is distinct from 'succeeded')
  execute function private.embedding_task_succeeding();

/**
 * When an ingest or embedding task stops running (completed, requeued for a retry,
 * failed, dead, canceled): the batches its run left open are released. When it ends
 * failed or dead (no attempt left, or the worker said not to retry), its file fails with
 * the worker's reason and loses its chunks: a file is whole or has none.
 */
create function private.embedding_task_stopped() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_batch uuid;
begin
  -- Already locked when the queue moved the task (private.lock_task): a no-op then. Gone
  -- with a deleted user, and so are the batches.
  perform 1 from public.credit_accounts where owner_user_id = (new.params ->> 'user_id')::uuid for update;
  for v_batch in
    select id from public.embedding_batches where task_id = new.id and status = 'running' order by id
  loop
    perform private.release_batch(v_batch);
  end loop;

  if new.task_type = 'ingest.file' and new.status in ('failed', 'dead') then
    delete from public.document_chunks where file_id = (new.params ->> 'file_id')::uuid;
    update public.files set
      status = 'failed',
      chunk_count = 0,
      -- The lease sweep's words are for operators.
      error = case when new.last_error = 'lease expired'
        then 'processing was interrupted too many times; upload the file again to retry'
        else left(coalesce(nullif(btrim(new.last_error), ''), 'the file could not be processed'), 500) end
    where id = (new.params ->> 'file_id')::uuid and status <> 'completed';
  end if;
  return new;
end
$$;

create trigger tasks_embedding_stopped
  after update of status on public.tasks
  for each row when (new.task_type in ('ingest.file', 'embed.messages') and old.status = 'running'
                     and new.status <> 'running')
  execute function private.embedding_task_stopped();

/**
 * A reply that finished complete gets embedded with the user message it answers (when
 * that has text and no embedding yet), so history search finds both. Only messages with
 * text. Runs inside api.finish_reply (SECURITY DEFINER), which may write the queue.
 */
create function private.enqueue_message_embedding() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_ids uuid[];
begin
  select array_agg(m.id order by m.seq) into v_ids
  from public.messages m
  where btrim(m.content) <> ''
    and (m.id = new.id or (m.id = new.parent_id and m.role = 'user' and m.embedding is null));
  if v_ids is not null then
    insert into public.tasks (task_type, params, max_attempts)
    values ('embed.messages', jsonb_build_object('user_id', new.user_id, 'message_ids', to_jsonb(v_ids)), 3);
  end if;
  return new;
end
$$;

create trigger messages_enqueue_embedding
  after update of status on public.messages
  for each row when (new.role = 'assistant' and new.status = 'complete' and old.status = 'streaming')
  execute function private.enqueue_message_embedding();

/** Files API */

/**
 * Registers one of the caller's uploads as a file and queues its processing. The upload's
 * object must have arrived in Storage (PT409 otherwise), be of a type file_type_configs
 * lists as active (PT415; the type Storage recorded, not the one declared) and within its
 * max_bytes (PT413); an empty object is PT400. One file per upload (PT409). p_name: a
 * display name (the upload's filename otherwise). PT404 for an upload not the caller's.
 * Returns the file. SECURITY DEFINER: it writes files and the queue, which users cannot.
 */
create function api.create_file(p_upload_id uuid, p_name text default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  u public.uploads;
  v_object record;
  v_type text;
  v_config public.file_type_configs;
  v_name text := private.upload_display_name(p_name);
  v_task_id uuid;
  f public.files;
begin
  if p_name is not null and v_name is null then
    raise exception using errcode = 'PT400', message = 'name must be 1 to 255 characters';
  end if;
  select * into u from public.uploads where id = p_upload_id and user_id = v_uid;
  if not found then
    raise exception using errcode = 'PT404', message = 'upload not found';
  end if;
  select o.metadata ->> 'mimetype' as mimetype, (o.metadata ->> 'size')::bigint as size into v_object
  from storage.objects o where o.bucket_id = u.bucket and o.name = u.path;
  if not found then
    raise exception using errcode = 'PT409',
      message = 'the upload has no file yet (PUT the file to its upload url first)';
  end if;
  v_type := private.mime_type(v_object.mimetype);
  select * into v_config from public.file_type_configs where mime_type = v_type and is_active;
  if not found then
    raise exception using errcode = 'PT415', message = format('files of type %s cannot be searched (accepted: %s)',
      coalesce(left(v_type, 100), 'unknown'),
      (select string_agg(mime_type, ', ' order by mime_type) from public.file_type_configs where is_active));
  end if;
  if coalesce(v_object.size, 0) < 1 then
    raise exception using errcode = 'PT400', message = 'the file is empty';
  end if;
  if v_object.size > v_config.max_bytes then
    raise exception using errcode = 'PT413', message = format('a %s file may be at most %s bytes; this one is %s',
      v_config.label, v_config.max_bytes, v_object.size);
  end if;

  insert into public.files (user_id, upload_id, name, mime_type, size_bytes)
  values (v_uid, u.id, coalesce(v_name, u.filename, storage.filename(u.path)), v_type, v_object.size)
  on conflict (upload_id) do nothing
  returning * into f;
  if f.id is null then
    raise exception using errcode = 'PT409', message = 'this upload is already a file';
  end if;
  insert into public.tasks (task_type, params, max_attempts)
  values ('ingest.file', jsonb_build_object('file_id', f.id, 'user_id', v_uid, 'mime_type', v_type,
      'chunk_tokens', v_config.chunk_tokens, 'overlap_tokens', v_config.overlap_tokens,
      'input', jsonb_build_object('file', jsonb_build_object('$storage',
        jsonb_build_object('bucket', u.bucket, 'path', u.path)))),
    3)
  returning id into v_task_id;
  update public.files set task_id = v_task_id where id = f.id returning * into f;
  return private.file_json(f);
end
$$;

grant execute on function api.create_file(uuid, text) to authenticated;

/**
 * The caller's files, newest first, keyset-paged on (created_at, id), optionally of one
 * status; deleted files never appear. next_cursor is null on the last page. SECURITY
 * INVOKER: RLS decides; the user_id condition lets the planner use the index.
 */
create function api.list_files(
  p_status text default null,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  if p_status is not null and p_status not in ('pending', 'processing', 'completed', 'failed') then
    raise exception using errcode = 'PT400', message = 'status must be pending, processing, completed or failed';
  end if;
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);

  -- One row more than asked tells whether a next page exists.
  with page as (
    select * from public.files f
    where f.user_id = v_uid and f.deleted_at is null
      and (p_status is null or f.status = p_status)
      and (p_cursor_id is null or (f.created_at, f.id) < (p_cursor_created_at, p_cursor_id))
    order by f.created_at desc, f.id desc
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.file_json(page) order by page.created_at desc, page.id desc), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_files(text, int, timestamptz, uuid) to authenticated;

/**
 * One of the caller's files; PT404 when it is not theirs or is deleted. SECURITY INVOKER.
 */
create function api.get_file(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  f public.files;
begin
  perform private.caller_id();
  select * into f from public.files where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'file not found';
  end if;
  return private.file_json(f);
end
$$;

grant execute on function api.get_file(uuid) to authenticated;

/**
 * Deletes one of the caller's files: it leaves every list and search at once, its chunks
 * go, its task is canceled if it is queued or running (the worker's next call gets "lease
 * lost"; its open batches are released), and its stored object is removed by a
 * `storage.remove` job (stored outputs migration). The row stays, soft-deleted, with what
 * it cost. Returns the file; PT404 when it is not the caller's or is already deleted.
 * SECURITY DEFINER: it writes the queue and the file's chunks.
 */
create function api.delete_file(p_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_task_id uuid;
  u public.uploads;
  f public.files;
begin
  select task_id into v_task_id from public.files where id = p_id and user_id = v_uid and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'file not found';
  end if;
  -- The global order: account, task, file.
  perform private.lock_account(v_uid);
  update public.tasks
  set status = 'canceled', lease_expires_at = null, completed_at = now(), updated_at = now(),
      last_error = coalesce(last_error, 'file deleted')
  where id = v_task_id and status in ('queued', 'running');
  update public.files set deleted_at = now()
  where id = p_id and deleted_at is null
  returning * into f;
  if not found then
    -- Deleted by a concurrent call.
    raise exception using errcode = 'PT404', message = 'file not found';
  end if;
  delete from public.document_chunks where file_id = f.id;

  select * into u from public.uploads where id = f.upload_id;
  insert into public.tasks (task_type, params, max_attempts)
  values ('storage.remove', jsonb_build_object('bucket', u.bucket, 'user_id', v_uid, 'file_id', f.id,
    'paths', jsonb_build_array(u.path)), 10);
  return private.file_json(f);
end
$$;

grant execute on function api.delete_file(uuid) to authenticated;

/** Embeddings API */

/**
 * Starts a batch of embeddings for a task the worker holds the lease on (PT409 "lease
 * lost" otherwise), with the worker's key (PT403 when it is not one).
 *   ingest.file     p_chunks: [{index, content, page, heading}] (private.check_chunks);
 *                   each is stored, or replaces the chunk of that index, its embedding
 *                   cleared: a retried attempt never duplicates a chunk. A chunk sent again
 *                   unchanged and already embedded is not embedded (nor charged) again.
 *   embed.messages  no p_chunks: the inputs are the task's messages with text and no
 *                   embedding yet.
 * Holds the inputs' estimated tokens at list price (PT402 when credits are short, and
 * nothing is written). Returns {batch_id, request: {protocol "openai_embeddings", provider,
 * model, dimensions 1536, inputs [text, ...]}, credits_reserved}; the worker function sends
 * the request and calls api.finish_embeddings. With nothing left to embed: {batch_id null,
 * request null, credits_reserved 0}. Service role only.
 */
create function api.begin_embeddings(p_worker_key text, p_task_id uuid, p_chunks jsonb default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_worker public.workers := private.authenticate_worker(p_worker_key);
  t public.tasks;
  v_user_id uuid;
  f public.files;
  v_targets uuid[];
  v_inputs text[];
  v_batch jsonb;
begin
  if p_chunks is not null and jsonb_typeof(p_chunks) <> 'null' then
    perform private.check_chunks(p_chunks);
  end if;
  -- Locks the owner's account, then the task (private.lock_task).
  t := private.lock_leased_task(p_task_id, v_worker.id);
  if t.task_type not in ('ingest.file', 'embed.messages') then
    raise exception using errcode = 'PT400', message = format('a %s task has nothing to embed', t.task_type);
  end if;

  if t.task_type = 'ingest.file' then
    if p_chunks is null or jsonb_typeof(p_chunks) = 'null' then
      raise exception using errcode = 'PT400', message = 'chunks are required for a file';
    end if;
    select * into f from public.files where id = (t.params ->> 'file_id')::uuid and deleted_at is null;
    if not found then
      raise exception using errcode = 'PT409', message = 'the file was deleted';
    end if;
    with sent as (
      insert into public.document_chunks (file_id, user_id, chunk_index, content, page_number, heading, token_count)
      select f.id, f.user_id, (e ->> 'index')::int, e ->> 'content', (e ->> 'page')::int,
             nullif(btrim(e ->> 'heading'), ''), private.estimate_tokens(e ->> 'content')
      from jsonb_array_elements(p_chunks) e
      -- A chunk sent again as it is and already embedded (the worker retried a batch whose
      -- answer it lost) is left alone: not returned, so neither embedded nor charged again.
      on conflict (file_id, chunk_index) do update set
        content = excluded.content, page_number = excluded.page_number, heading = excluded.heading,
        token_count = excluded.token_count, embedding = null
      where document_chunks.embedding is null
         or (document_chunks.content, document_chunks.page_number, document_chunks.heading)
            is distinct from (excluded.content, excluded.page_number, excluded.heading)
      returning id, chunk_index, content
    )
    select array_agg(s.id order by n), array_agg(s.content order by n) into v_targets, v_inputs
    from sent s
    join jsonb_array_elements(p_chunks) with ordinality c (e, n) on (c.e ->> 'index')::int = s.chunk_index;
  else
    if p_chunks is not null and jsonb_typeof(p_chunks) <> 'null' then
      raise exception using errcode = 'PT400', message = 'a message task takes no chunks';
    end if;
    if not exists (select 1 from public.messages m
                   where m.id in (select (jsonb_array_elements_text(t.params -> 'message_ids'))::uuid)
                     and btrim(m.content) <> '') then
      raise exception using errcode = 'PT409', message = 'the task''s messages have no text to embed';
    end if;
    select array_agg(m.id order by m.seq), array_agg(m.content order by m.seq) into v_targets, v_inputs
    from public.messages m
    where m.id in (select (jsonb_array_elements_text(t.params -> 'message_ids'))::uuid)
      and btrim(m.content) <> '' and m.embedding is null;
  end if;
  if v_targets is null then
    -- Everything sent is embedded already: nothing to hold, send or charge.
    return jsonb_build_object('batch_id', null, 'request', null, 'credits_reserved', 0);
  end if;

  v_user_id := (t.params ->> 'user_id')::uuid;
  v_batch := private.begin_batch(private.lock_account(v_user_id), v_user_id, t.task_type, t.id, f.id,
    v_targets, v_inputs);
  if f.id is not null then
    update public.document_chunks set batch_id = (v_batch ->> 'batch_id')::uuid where id = any (v_targets);
  end if;
  return v_batch;
end
$$;

grant execute on function api.begin_embeddings(text, uuid, jsonb) to service_role;

/**
 * Starts the embedding of a search query for the caller, charged like any batch: the
 * hold of its estimated tokens (PT402 when credits are short). p_text: 1 to 8000
 * characters with text. Returns begin_embeddings' answer with one input; finished with
 * api.finish_embeddings, which stores the vector nowhere and only charges. SECURITY
 * DEFINER: it writes holds and the ledger.
 */
create function api.begin_query_embedding(p_text text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
begin
  if p_text is null or char_length(p_text) not between 1 and 8000 or btrim(p_text) = '' then
    raise exception using errcode = 'PT400', message = 'text must be 1 to 8000 characters';
  end if;
  return private.begin_batch(private.lock_account(v_uid), v_uid, 'query', null, null, '{}', array[p_text]);
end
$$;

grant execute on function api.begin_query_embedding(text) to authenticated;

/**
 * Finishes a batch exactly once. p_embeddings: one vector of 1536 numbers per input, in
 * the inputs' order (PT400 otherwise, changing nothing); they are stored on the batch's
 * chunks or messages (a query's on nothing), the hold settles at p_tokens (the provider's
 * count; the estimate when null) at the price reserved, rounded up and capped by the hold,
 * one usage event is written and the file's tokens and credits grow. p_embeddings null:
 * the provider failed; the hold is released and nothing else is written. A call for a
 * batch that already ended changes nothing and answers as the first did:
 * {embedded, tokens, credits_charged}. PT404 for an unknown batch. Service role only.
 */
create function api.finish_embeddings(p_batch_id uuid, p_embeddings jsonb, p_tokens int default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_account public.credit_accounts;
  b public.embedding_batches;
  v_vectors extensions.vector(1536)[];
  v_price public.pricing;
  v_tokens int;
  v_charge bigint;
  v_cost numeric;
  v_embedded int;
begin
  if p_tokens < 0 then
    raise exception using errcode = 'PT400', message = 'tokens must not be negative';
  end if;
  select user_id into v_user_id from public.embedding_batches where id = p_batch_id;
  if v_user_id is null then
    raise exception using errcode = 'PT404', message = 'embedding batch not found';
  end if;
  v_account := private.lock_account(v_user_id);
  select * into b from public.embedding_batches where id = p_batch_id for update;
  if b.status <> 'running' then
    return private.batch_json(b);
  end if;
  if p_embeddings is null or jsonb_typeof(p_embeddings) = 'null' then
    perform private.release_batch(b.id);
    select * into b from public.embedding_batches where id = p_batch_id;
    return private.batch_json(b);
  end if;

  if jsonb_typeof(p_embeddings) <> 'array' or jsonb_array_length(p_embeddings) <> b.input_count then
    raise exception using errcode = 'PT400',
      message = format('embeddings must be an array of %s vectors, one per input', b.input_count);
  end if;
  begin
    -- pgvector's parser checks each one: an array of exactly 1536 finite numbers.
    v_vectors := array(select (e::text)::extensions.vector(1536)
                       from jsonb_array_elements(p_embeddings) with ordinality x (e, n) order by n);
  exception when data_exception then
    raise exception using errcode = 'PT400', message = 'each embedding must be an array of 1536 numbers';
  end;

  select * into v_price from public.pricing where id = b.pricing_id;
  v_tokens := coalesce(p_tokens, b.tokens_estimate);
  v_charge := least(ceil(v_tokens * v_price.credits_per_unit / 1000)::bigint, b.credits_reserved);
  v_cost := round(v_tokens * v_price.usd_per_unit / 1000, 6);
  -- A hold the hold sweep already released (the batch outlived it) charges nothing.
  if b.hold_id is not null
     and private.resolve_hold(b.hold_id, nullif(v_charge, 0), null, 'embeddings') is null then
    v_charge := 0;
  end if;

  if b.purpose = 'ingest.file' then
    update public.document_chunks c set embedding = v_vectors[i]
    from generate_subscripts(v_vectors, 1) i
    where c.id = b.targets[i] and c.batch_id = b.id;
    get diagnostics v_embedded = row_count;
    update public.files set tokens = tokens + v_tokens, credits = credits + v_charge where id = b.file_id;
  elsif b.purpose = 'embed.messages' then
    update public.messages m set embedding = v_vectors[i]
    from generate_subscripts(v_vectors, 1) i
    where m.id = b.targets[i];
    get diagnostics v_embedded = row_count;
  else
    -- A query's vector is the caller's to search with.
    v_embedded := 1;
  end if;

  insert into public.usage_events (user_id, account_id, embedding_batch_id, action, provider, model,
    units, tokens_in, credits, cost_usd)
  select b.user_id, v_account.id, b.id, v_price.action, m.provider, m.model,
    round(v_tokens / 1000.0, 6), v_tokens, v_charge, v_cost
  from public.ai_models m where m.model = b.model;

  update public.embedding_batches set status = 'complete', embedded = v_embedded, tokens = v_tokens,
    credits = v_charge, cost_usd = v_cost, completed_at = now()
  where id = b.id
  returning * into b;
  return private.batch_json(b);
end
$$;

grant execute on function api.finish_embeddings(uuid, jsonb, int) to service_role;

/** Search */

/**
 * PT400 unless a query embedding has the model's 1536 dimensions.
 */
create function private.check_query_embedding(p_embedding extensions.vector) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if extensions.vector_dims(p_embedding) <> 1536 then
    raise exception using errcode = 'PT400', message = 'embedding must have 1536 dimensions';
  end if;
end
$$;

grant execute on function private.check_query_embedding(extensions.vector) to authenticated, service_role;

/**
 * The seed's message search: p_user_id's embedded messages (of one conversation, if
 * given; never of a deleted one) whose cosine similarity to p_embedding is at least
 * p_threshold, most similar first, at most p_limit (1 to page_limit_max). SECURITY INVOKER:
 * a user finds only their own messages whatever p_user_id says. The HNSW scan is iterative
 * (relaxed order, re-sorted here), so the user filter does not starve the result.
 */
create function api.search_similar_messages(
  p_embedding extensions.vector,
  p_user_id uuid,
  p_conversation_id uuid default null,
  p_threshold float default 0.5,
  p_limit int default 10
) returns table (
  id uuid, conversation_id uuid, role text, content text, created_at timestamptz, similarity float
)
language plpgsql
stable
set search_path = ''
set hnsw.iterative_scan = relaxed_order
set hnsw.ef_search = 100
as $$
begin
  perform private.check_page_limit(p_limit);
  perform private.check_query_embedding(p_embedding);
  if p_threshold is null then
    raise exception using errcode = 'PT400', message = 'threshold must be a number';
  end if;
  return query
  with nearest as materialized (
    select m.id, m.conversation_id, m.role, m.content, m.created_at,
           m.embedding operator(extensions.<=>) p_embedding as distance
    from public.messages m
    where m.user_id = p_user_id and m.embedding is not null
      and (p_conversation_id is null or m.conversation_id = p_conversation_id)
      and m.embedding operator(extensions.<=>) p_embedding <= 1 - p_threshold
      and exists (select 1 from public.conversations c where c.id = m.conversation_id and c.deleted_at is null)
    order by m.embedding operator(extensions.<=>) p_embedding
    limit p_limit
  )
  select n.id, n.conversation_id, n.role, n.content, n.created_at, 1 - n.distance
  from nearest n
  order by n.distance, n.id;
end
$$;

grant execute on function api.search_similar_messages(extensions.vector, uuid, uuid, float, int)
  to authenticated, service_role;

/**
 * The seed's chunk search: p_user_id's chunks of completed, non-deleted files whose cosine
 * similarity to p_embedding is at least p_threshold, most similar first, at most p_limit.
 * SECURITY INVOKER and iterative, as search_similar_messages.
 */
create function api.search_similar_chunks(
  p_embedding extensions.vector,
  p_user_id uuid,
  p_threshold float default 0.5,
  p_limit int default 10
) returns table (
  id uuid, file_id uuid, file_name text, chunk_index int, content text, page_number int, heading text,
  similarity float
)
language plpgsql
stable
set search_path = ''
set hnsw.iterative_scan = relaxed_order
set hnsw.ef_search = 100
as $$
begin
  perform private.check_page_limit(p_limit);
  perform private.check_query_embedding(p_embedding);
  if p_threshold is null then
    raise exception using errcode = 'PT400', message = 'threshold must be a number';
  end if;
  return query
  with nearest as materialized (
    select k.id, k.file_id, k.chunk_index, k.content, k.page_number, k.heading,
           k.embedding operator(extensions.<=>) p_embedding as distance
    from public.document_chunks k
    where k.user_id = p_user_id and k.embedding is not null
      and k.embedding operator(extensions.<=>) p_embedding <= 1 - p_threshold
      and exists (select 1 from public.files f
                  where f.id = k.file_id and f.status = 'completed' and f.deleted_at is null)
    order by k.embedding operator(extensions.<=>) p_embedding
    limit p_limit
  )
  select n.id, n.file_id, f.name, n.chunk_index, n.content, n.page_number, n.heading, 1 - n.distance
  from nearest n join public.files f on f.id = n.file_id
  order by n.distance, n.id;
end
$$;

grant execute on function api.search_similar_chunks(extensions.vector, uuid, float, int)
  to authenticated, service_role;

/**
 * The caller's p_k chunks nearest p_embedding (of completed, non-deleted files; only
 * p_file_ids', if given), through the HNSW index. For callers with many chunks: under RLS the
 * planner guesses one user's share of the table far too small and reads and sorts all of
 * their chunks, which costs time in proportion to their size (the bench saw 100-190 ms at
 * 10,000 chunks). Here the index is the only path (sequential and bitmap scans off), and
 * pgvector's iterative scan keeps going until p_k rows pass the per-user filter, so the
 * filter does not starve the result. Distances come back in order after a re-sort
 * (relaxed_order may hand them over slightly out of it). SECURITY INVOKER: RLS still decides.
 */
create function private.nearest_chunks_indexed(
  p_uid uuid,
  p_embedding extensions.vector,
  p_file_ids uuid[],
  p_k int
) returns table (id uuid, distance float8)
language plpgsql
stable
set search_path = ''
set enable_seqscan = off
set enable_bitmapscan = off
set hnsw.iterative_scan = relaxed_order
set hnsw.ef_search = 200
as $$
begin
  -- Planned with the values written in (not as parameters): a generic plan would estimate
  -- the caller's rows from the average user's and prefer reading and sorting them. The file
  -- check comes after the index, on 4 x p_k candidates: inside the scan it would let the
  -- planner start from the files and sort their chunks. Deleted and failed files have no
  -- chunks, so only a file still being processed can take candidates' places.
  return query execute format($q$
    with near as materialized (
      select k.id, k.file_id, k.embedding operator(extensions.<=>) %1$L::extensions.vector as distance
      from public.document_chunks k
      where k.user_id = %2$L::uuid and k.embedding is not null
        and (%3$L::uuid[] is null or k.file_id = any (%3$L::uuid[]))
      order by k.embedding operator(extensions.<=>) %1$L::extensions.vector
      limit %4$s * 4
    )
    select near.id, near.distance from near
    where exists (select 1 from public.files f
                  where f.id = near.file_id and f.status = 'completed' and f.deleted_at is null)
    order by near.distance, near.id
    limit %4$s
  $q$, p_embedding::text, p_uid, p_file_ids, p_k);
end
$$;

grant execute on function private.nearest_chunks_indexed(uuid, extensions.vector, uuid[], int) to authenticated;

/**
 * Searches the caller's messages (of non-deleted conversations; only p_conversation_id's,
 * if given) and chunks (of completed, non-deleted files; only p_file_ids', if given):
 *   semantic  cosine similarity to p_embedding (the query's embedding: 1536 numbers);
 *             score = the similarity;
 *   fulltext  any of p_query's words over the 'simple' tsvectors; score = ts_rank_cd;
 *   hybrid    both lists, each the best 4 x p_limit of both kinds together, fused by
 *             reciprocal rank (k = 60): score = the sum of 1 / (60 + rank) over the lists.
 * p_scope: messages, files or both. Returns {items: [{kind: "message" | "chunk", id, score,
 * content, conversation_id, message_id, role, file_id, file_name, page, heading,
 * chunk_index, created_at}]}, best first, at most p_limit (1 to page_limit_max); the
 * fields another kind has are null. PT400 for a bad scope, mode or limit, or a mode
 * missing its input. SECURITY INVOKER: RLS keeps every other user's rows out; the user_id
 * conditions let the planner use the indexes. HNSW scans are iterative (relaxed order,
 * re-sorted by distance here), so the per-user filter does not starve a result.
 */
create function api.search(
  p_embedding extensions.vector default null,
  p_query text default null,
  p_scope text default 'both',
  p_mode text default 'hybrid',
  p_conversation_id uuid default null,
  p_file_ids uuid[] default null,
  p_limit int default 10
) returns jsonb
language plpgsql
stable
set search_path = ''
set hnsw.iterative_scan = relaxed_order
set hnsw.ef_search = 100
as $$
declare
  -- Reciprocal rank fusion's constant, from Cormack et al. (2009).
  v_rrf_k constant int := 60;
  v_uid uuid := private.caller_id();
  v_semantic boolean := p_mode in ('semantic', 'hybrid');
  v_fulltext boolean := p_mode in ('fulltext', 'hybrid');
  v_messages boolean := p_scope in ('messages', 'both');
  v_chunks boolean := p_scope in ('files', 'both');
  v_tsquery tsquery;
  v_depth int;
  v_many_chunks boolean;
  v_items jsonb;
begin
  if p_scope is null or p_scope not in ('messages', 'files', 'both') then
    raise exception using errcode = 'PT400', message = 'scope must be messages, files or both';
  end if;
  if p_mode is null or p_mode not in ('semantic', 'fulltext', 'hybrid') then
    raise exception using errcode = 'PT400', message = 'mode must be semantic, fulltext or hybrid';
  end if;
  perform private.check_page_limit(p_limit);
  if v_semantic then
    if p_embedding is null then
      raise exception using errcode = 'PT400', message = format('%s search needs the query''s embedding', p_mode);
    end if;
    perform private.check_query_embedding(p_embedding);
  end if;
  if v_fulltext then
    if p_query is null or char_length(btrim(p_query)) not between 1 and private.input_limit('q_chars') then
      raise exception using errcode = 'PT400',
        message = format('%s search needs a query of 1 to %s characters', p_mode, private.input_limit('q_chars'));
    end if;
    -- Any of the query's words, the rows with more of them (and closer together) ranked
    -- first: a question finds the passage that answers it, where requiring every word would
    -- find nothing.
    v_tsquery := nullif(replace(plainto_tsquery('simple', p_query)::text, ' & ', ' | '), '')::tsquery;
    if v_tsquery is null or numnode(v_tsquery) = 0 then
      raise exception using errcode = 'PT400', message = 'the query has no words to search for';
    end if;
  end if;
  v_depth := case when p_mode = 'hybrid' then 4 * p_limit else p_limit end;
  -- Below this many chunks an exact scan of the caller's own is fast and exact; above it the
  -- HNSW index is the faster path (private.nearest_chunks_indexed says why it is forced).
  v_many_chunks := v_semantic and v_chunks and (
    select coalesce(sum(f.chunk_count), 0) from public.files f
    where f.user_id = v_uid and f.status = 'completed' and f.deleted_at is null) > 2000;

  with semantic as materialized (
    select s.kind, s.id, s.distance, row_number() over (order by s.distance, s.id) as rank
    from (
      (select 'message' as kind, m.id, m.embedding operator(extensions.<=>) p_embedding as distance
       from public.messages m
       where v_semantic and v_messages and m.user_id = v_uid and m.embedding is not null
         and (p_conversation_id is null or m.conversation_id = p_conversation_id)
         and exists (select 1 from public.conversations c where c.id = m.conversation_id and c.deleted_at is null)
       order by m.embedding operator(extensions.<=>) p_embedding
       limit v_depth)
      union all
      (select 'chunk', k.id, k.embedding operator(extensions.<=>) p_embedding
       from public.document_chunks k
       where v_semantic and v_chunks and not v_many_chunks and k.user_id = v_uid and k.embedding is not null
         and (p_file_ids is null or k.file_id = any (p_file_ids))
         and exists (select 1 from public.files f
                     where f.id = k.file_id and f.status = 'completed' and f.deleted_at is null)
       order by k.embedding operator(extensions.<=>) p_embedding
       limit v_depth)
      union all
      (select 'chunk', n.id, n.distance
       from private.nearest_chunks_indexed(v_uid, p_embedding, p_file_ids, v_depth) n
       where v_semantic and v_chunks and v_many_chunks)
    ) s
    order by s.distance, s.id
    limit v_depth
  ), fulltext as materialized (
    select s.kind, s.id, s.rank_cd, row_number() over (order by s.rank_cd desc, s.id) as rank
    from (
      (select 'message' as kind, m.id, ts_rank_cd(m.search, v_tsquery) as rank_cd
       from public.messages m
       where v_fulltext and v_messages and m.user_id = v_uid and m.search @@ v_tsquery and m.status <> 'streaming'
         and (p_conversation_id is null or m.conversation_id = p_conversation_id)
         and exists (select 1 from public.conversations c where c.id = m.conversation_id and c.deleted_at is null)
       order by 3 desc, m.id
       limit v_depth)
      union all
      (select 'chunk', k.id, ts_rank_cd(k.search, v_tsquery)
       from public.document_chunks k
       where v_fulltext and v_chunks and k.user_id = v_uid and k.search @@ v_tsquery
         and (p_file_ids is null or k.file_id = any (p_file_ids))
         and exists (select 1 from public.files f
                     where f.id = k.file_id and f.status = 'completed' and f.deleted_at is null)
       order by 3 desc, k.id
       limit v_depth)
    ) s
    order by s.rank_cd desc, s.id
    limit v_depth
  ), scored as (
    select coalesce(se.kind, ft.kind) as kind, coalesce(se.id, ft.id) as id,
           case p_mode
             when 'semantic' then 1 - se.distance
             when 'fulltext' then ft.rank_cd
             else coalesce(1.0 / (v_rrf_k + se.rank), 0) + coalesce(1.0 / (v_rrf_k + ft.rank), 0)
           end as score
    from semantic se
    full join fulltext ft on ft.kind = se.kind and ft.id = se.id
    order by 3 desc, 1, 2
    limit p_limit
  )
  select coalesce(jsonb_agg(jsonb_build_object(
      'kind', s.kind, 'id', s.id, 'score', s.score,
      'content', coalesce(m.content, k.content),
      'conversation_id', m.conversation_id, 'message_id', m.id, 'role', m.role,
      'file_id', k.file_id, 'file_name', f.name, 'page', k.page_number, 'heading', k.heading,
      'chunk_index', k.chunk_index, 'created_at', coalesce(m.created_at, k.created_at))
    order by s.score desc, s.kind, s.id), '[]'::jsonb)
  into v_items
  from scored s
  left join public.messages m on s.kind = 'message' and m.id = s.id
  left join public.document_chunks k on s.kind = 'chunk' and k.id = s.id
  left join public.files f on f.id = k.file_id;

  return jsonb_build_object('items', v_items);
end
$$;

grant execute on function api.search(extensions.vector, text, text, text, uuid, uuid[], int) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
