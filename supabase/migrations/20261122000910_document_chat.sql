/**
 * Document chat: a reply whose conversation has document chat on gets the best chunks of
 * the user's files (files and search migration) in its system prompt, and keeps them as
 * its sources, which the stream carries as citations.
 *
 * Life of a document-chat reply (the chat function drives it, SQL decides what is sent
 * and what it costs):
 *   api.begin_reply        as before, and also reserves credits for a document context of
 *                          up to 2,000 prompt tokens and returns `document_query`, the text
 *                          the function embeds (charged: api.begin_query_embedding);
 *   api.add_reply_sources  service role, at most once, before the provider is asked: picks
 *                          the chunks nearest that embedding, within the budget, stores
 *                          them as the reply's sources and returns the request with them;
 *   api.finish_reply       unchanged: it charges the prompt add_reply_sources grew, within
 *                          the larger hold.
 * A reply whose embedding failed is finished as usual, without sources.
 *
 * Which files: those attached to the conversation (api.set_conversation_files), or, with
 * settings.document_scope "all", every file of the user; only completed, non-deleted ones.
 *
 * begin_reply, the settings' check (document_scope) and message_json (sources) are the chat
 * migration's own, written with document chat in them: this one adds the tables and
 * functions they reach at run time.
 */

/** Conversation files */

create table public.conversation_files (
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  file_id uuid not null references public.files (id) on delete cascade,
  -- The owner of both, so that RLS reads no other table.
  user_id uuid not null references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (conversation_id, file_id)
);

-- The foreign key's side: a file's conversations.
create index conversation_files_file_idx on public.conversation_files (file_id);

alter table public.conversation_files enable row level security;

create policy "Users can view their own conversation files"
  on public.conversation_files for select to authenticated
  using (user_id = (select auth.uid()));

-- Both ends must be the caller's, and neither deleted: a client writing the table with the
-- user's token gets what api.set_conversation_files checks.
create policy "Active users can attach their own files to their own conversations"
  on public.conversation_files for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and exists (select 1 from public.conversations c
                where c.id = conversation_id and c.user_id = (select auth.uid()) and c.deleted_at is null)
    and exists (select 1 from public.files f
                where f.id = file_id and f.user_id = (select auth.uid()) and f.deleted_at is null));

create policy "Active users can detach their own conversation files"
  on public.conversation_files for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

revoke all on public.conversation_files from anon, authenticated, service_role;
grant select on public.conversation_files to authenticated, service_role;
grant insert (conversation_id, file_id, user_id) on public.conversation_files to authenticated;
grant delete on public.conversation_files to authenticated;

/** Sources of replies */


/**
 * What api.add_reply_sources needs of a document-chat reply begin_reply started: the
 * request it returned (rebuilding it later could differ: memories and settings change),
 * the scope and the prompt tokens reserved for excerpts. Gone once the sources are added
 * or the reply ends (private.forget_reply_documents). Private: only the two functions use it.
 */
create table private.reply_documents (
  message_id uuid primary key references public.messages (id) on delete cascade,
  scope text not null check (scope in ('attached', 'all')),
  budget int not null check (budget > 0),
  request jsonb not null check (jsonb_typeof(request) = 'object'),
  created_at timestamptz not null default now()
);

alter table private.reply_documents enable row level security;
revoke all on private.reply_documents from anon, authenticated, service_role;

/**
 * Drops a reply's pending document context when the reply ends without its sources (the
 * embedding failed, the user stopped it first), so no prompt copy outlives its reply.
 */
create function private.forget_reply_documents() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from private.reply_documents where message_id = new.id;
  return null;
end
$$;

create trigger messages_forget_reply_documents
  after update of status on public.messages
  for each row when (old.status = 'streaming' and new.status <> 'streaming')
  execute function private.forget_reply_documents();

/** Document helpers (private) */

/**
 * The files a document-chat reply of p_conversation_id may draw on: p_user_id's completed,
 * non-deleted files attached to the conversation (p_scope "attached") or all of them
 * ("all"). The owner is checked here, not left to RLS: definer functions call it.
 */
create function private.document_files(p_user_id uuid, p_conversation_id uuid, p_scope text)
returns table (file_id uuid, file_name text)
language sql
stable
set search_path = ''
as $$
  select f.id, f.name
  from public.files f
  where f.user_id = p_user_id and f.status = 'completed' and f.deleted_at is null
    and (p_scope = 'all' or f.id in (
      select cf.file_id from public.conversation_files cf where cf.conversation_id = p_conversation_id))
$$;

/** Replies API */


/**
 * Gives a streaming document-chat reply its sources, before the function asks the
 * provider: p_embedding is the embedding of begin_reply's document_query (1536 numbers).
 * Picks the chunks nearest to it by cosine similarity among the files in the reply's scope
 * (private.document_files: the owner's completed files, attached or all), best first, at
 * most 8, each whole (never cut), as many as fit the document budget begin_reply reserved:
 * a chunk too long for what is left is skipped for the next. A chunk sharing nothing with
 * the question (similarity 0 or less) is no source.
 *
 * The excerpts go into the system prompt under a header, each labelled "[n] file name,
 * page p - heading" (n its place in sources); the reply's prompt estimate grows by what
 * they add (charged when the provider reports no counts, always within the hold). Stores
 * the sources on the reply and returns {request: begin_reply's request with the excerpts
 * in its system prompt, sources: [{file_id, file_name, chunk_id, chunk_index, page,
 * heading, score}]} ([] and the request unchanged when nothing matched).
 *
 * PT400 for an embedding that is not 1536 numbers or a reply without document chat,
 * PT404 for an unknown reply, PT409 when the reply has ended or already has its sources.
 * Service role only; SECURITY DEFINER: it writes the reply and reads every user's chunks,
 * filtered by the reply's owner here. Per-owner filtering keeps its recall with pgvector's
 * iterative index scans.
 */
create function api.add_reply_sources(p_message_id uuid, p_embedding extensions.vector) returns jsonb
language plpgsql
security definer
set search_path = ''
set hnsw.iterative_scan = relaxed_order
set hnsw.ef_search = 100
as $$
declare
  v_sources_max constant int := 8;
  -- Nearest chunks looked at: room to skip the ones too long for the budget.
  v_candidates constant int := 32;
  -- As private.reply_context counts: 4 tokens of framing for a new system message, 2 for
  -- the blank line joining a block to an existing one, 1 for the one between excerpts.
  v_per_message constant int := 4;
  v_header constant text := 'Excerpts from the user''s files, most relevant first. When you use one, '
    || 'cite it by its number, file name and page, e.g. [1].';
  m public.messages;
  d private.reply_documents;
  v_files uuid[];
  v_system text;
  v_used int;
  v_cost int;
  v_chunk record;
  v_excerpt text;
  v_excerpts text[] := '{}';
  v_sources jsonb := '[]'::jsonb;
  v_request jsonb;
  v_added int := 0;
begin
  if p_embedding is null or extensions.vector_dims(p_embedding) <> 1536 then
    raise exception using errcode = 'PT400', message = 'embedding must be a vector of 1536 numbers';
  end if;
  select * into m from public.messages where id = p_message_id and role = 'assistant' for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'reply not found';
  elsif m.status <> 'streaming' then
    raise exception using errcode = 'PT409', message = format('the reply has already ended (%s)', m.status);
  elsif m.sources is not null then
    raise exception using errcode = 'PT409', message = 'the reply already has its sources';
  end if;
  select * into d from private.reply_documents where message_id = m.id;
  if not found then
    raise exception using errcode = 'PT400', message = 'document chat is off for this reply';
  end if;

  -- A plain filter on the chunks, so that the index scan, not a join, orders them.
  v_files := array(select f.file_id from private.document_files(m.user_id, m.conversation_id, d.scope) f);
  v_system := d.request ->> 'system';
  v_used := private.estimate_tokens(v_header) + case when v_system is null then v_per_message else 2 end;
  -- relaxed_order lets the index return a few rows out of order: the outer query sorts.
  for v_chunk in
    with nearest as materialized (
      select ch.id, ch.file_id, ch.chunk_index, ch.page_number, ch.heading, ch.content,
             ch.embedding operator(extensions.<=>) p_embedding as distance
      from public.document_chunks ch
      where ch.user_id = m.user_id and ch.file_id = any (v_files)
      order by ch.embedding operator(extensions.<=>) p_embedding
      limit v_candidates
    )
    select n.*, f.name as file_name, 1 - n.distance as score
    from nearest n join public.files f on f.id = n.file_id
    where n.distance < 1
    order by n.distance, n.id
  loop
    exit when jsonb_array_length(v_sources) = v_sources_max;
    v_excerpt := format(E'[%s] %s%s%s\n%s', jsonb_array_length(v_sources) + 1, v_chunk.file_name,
      ', page ' || v_chunk.page_number, ' - ' || v_chunk.heading, v_chunk.content);
    v_cost := private.estimate_tokens(v_excerpt) + 1;
    continue when v_used + v_cost > d.budget;
    v_used := v_used + v_cost;
    v_excerpts := v_excerpts || v_excerpt;
    v_sources := v_sources || jsonb_build_array(jsonb_build_object(
      'file_id', v_chunk.file_id, 'file_name', v_chunk.file_name, 'chunk_id', v_chunk.id,
      'chunk_index', v_chunk.chunk_index, 'page', v_chunk.page_number, 'heading', v_chunk.heading,
      'score', round(v_chunk.score::numeric, 4)));
  end loop;

  v_request := d.request;
  if cardinality(v_excerpts) > 0 then
    v_request := v_request || jsonb_build_object('system',
      concat_ws(E'\n\n', v_system, v_header, array_to_string(v_excerpts, E'\n\n')));
    -- Counted as private.reply_context counts a system prompt; within v_used by construction.
    v_added := private.estimate_tokens(v_request ->> 'system') + v_per_message
      - case when v_system is null then 0 else private.estimate_tokens(v_system) + v_per_message end;
  end if;

  update public.messages set
    sources = v_sources,
    prompt_tokens_estimate = prompt_tokens_estimate + v_added
  where id = m.id;
  delete from private.reply_documents where message_id = m.id;
  return jsonb_build_object('request', v_request, 'sources', v_sources);
end
$$;

grant execute on function api.add_reply_sources(uuid, extensions.vector) to service_role;

/** Conversation files API */

/**
 * Replaces the files attached to one of the caller's conversations with p_file_ids (at
 * most 100; [] detaches all; a repeated id counts once), each one of the caller's files
 * that is not deleted (it may still be processing: document chat uses it once it has
 * completed). Returns {conversation_id, file_ids} in the order given. PT400 naming the
 * first id that is not the caller's file, PT404 when the conversation is not the caller's
 * or is deleted. SECURITY INVOKER: the policies check both ends again.
 */
create function api.set_conversation_files(p_conversation_id uuid, p_file_ids uuid[]) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  -- Far more than a reply's 8 excerpts come from; bounds the list, not money.
  v_files_max constant int := 100;
  v_uid uuid := private.require_user();
  v_ids uuid[] := '{}';
  v_id uuid;
  v_n bigint;
begin
  if p_file_ids is null or cardinality(p_file_ids) > v_files_max or array_position(p_file_ids, null) is not null then
    raise exception using errcode = 'PT400', message = format('file_ids must list at most %s file ids', v_files_max);
  end if;
  -- Two replacements of one conversation's set run one at a time.
  perform 1 from public.conversations
  where id = p_conversation_id and user_id = v_uid and deleted_at is null
  for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;

  for v_id, v_n in select i, n - 1 from unnest(p_file_ids) with ordinality u (i, n) order by n loop
    continue when v_id = any (v_ids);
    perform 1 from public.files where id = v_id and user_id = v_uid and deleted_at is null;
    if not found then
      raise exception using errcode = 'PT400', message = format('file_ids[%s] must be the id of one of your files', v_n);
    end if;
    v_ids := v_ids || v_id;
  end loop;

  delete from public.conversation_files where conversation_id = p_conversation_id and not file_id = any (v_ids);
  insert into public.conversation_files (conversation_id, file_id, user_id)
  select p_conversation_id, i, v_uid from unnest(v_ids) i
  on conflict do nothing;
  return jsonb_build_object('conversation_id', p_conversation_id, 'file_ids', to_jsonb(v_ids));
end
$$;

grant execute on function api.set_conversation_files(uuid, uuid[]) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
