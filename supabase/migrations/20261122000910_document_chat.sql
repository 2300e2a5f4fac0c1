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

-- The chunks a document-chat reply was given, best first: [{file_id, file_name, chunk_id,
-- chunk_index, page, heading, score}]. Null when no document search ran for the reply; []
-- when one ran and found nothing.
alter table public.messages add column sources jsonb
  constraint messages_sources check (jsonb_typeof(sources) = 'array');

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

/** Settings */

/**
 * A conversation's settings after a patch, checked against its model: p_patch's keys
 * replace p_current's (features key by key), a null resets one to its default, any other
 * key is PT400 naming the field. The result always has every key:
 *   temperature     null (the provider's default) or 0 to 2 (0 to 1 on Anthropic);
 *   max_tokens      null (4096, or less when the model writes less) or 1 to the model's
 *                   max_output_tokens: the longest reply, all of it reserved up front;
 *   system_prompt   null or up to system_prompt_chars characters;
 *   features        {document_chat, image_generation, web_search}: false unless set;
 * and, only while features.document_chat is on (it belongs to that feature, and turning it
 * off drops it):
 *   document_scope  "attached" (the default: the files attached to the conversation) or
 *                   "all" (every completed file of the user); setting it while document
 *                   chat is off is PT400.
 * Values are checked after merging, so a change of model re-checks what it inherits.
 */
create or replace function private.chat_settings(p_model text, p_current jsonb, p_patch jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_defaults constant jsonb := '{"temperature": null, "max_tokens": null, "system_prompt": null,
    "features": {"document_chat": false, "image_generation": false, "web_search": false}}';
  v_model public.ai_models;
  v_patch jsonb := coalesce(p_patch, '{}'::jsonb);
  v_current jsonb := coalesce(p_current, '{}'::jsonb);
  v_features jsonb;
  v_documents boolean;
  v_out jsonb;
  v_key text;
  v_value jsonb;
  v_number numeric;
  v_max_temperature numeric;
begin
  select * into strict v_model from public.ai_models where model = p_model;
  if jsonb_typeof(v_patch) <> 'object' then
    raise exception using errcode = 'PT400', message = 'settings must be a JSON object';
  end if;

  v_features := v_defaults -> 'features' || coalesce(v_current -> 'features', '{}'::jsonb);
  if jsonb_typeof(v_patch -> 'features') = 'null' then
    v_features := v_defaults -> 'features';
  elsif v_patch ? 'features' then
    if jsonb_typeof(v_patch -> 'features') <> 'object' then
      raise exception using errcode = 'PT400', message = 'settings.features must be a JSON object';
    end if;
    for v_key, v_value in select * from jsonb_each(v_patch -> 'features') loop
      if not (v_defaults -> 'features') ? v_key then
        raise exception using errcode = 'PT400', message = format(
          'settings.features.%s is not a feature (allowed: document_chat, image_generation, web_search)', left(v_key, 64));
      elsif jsonb_typeof(v_value) not in ('boolean', 'null') then
        raise exception using errcode = 'PT400', message = format('settings.features.%s must be true or false', v_key);
      end if;
      v_features := v_features || jsonb_build_object(v_key, coalesce(v_value = 'true'::jsonb, false));
    end loop;
  end if;
  v_documents := (v_features ->> 'document_chat')::boolean;

  for v_key in select jsonb_object_keys(v_patch) loop
    if not (v_defaults ? v_key or v_key = 'document_scope') then
      raise exception using errcode = 'PT400', message = format(
        'settings.%s is not a setting (allowed: %sfeatures, max_tokens, system_prompt, temperature)', left(v_key, 64),
        case when v_documents then 'document_scope, ' else '' end);
    end if;
  end loop;
  v_out := v_defaults || (v_current - 'features' - 'document_scope') || (v_patch - 'features' - 'document_scope')
    || jsonb_build_object('features', v_features);

  v_value := case when v_patch ? 'document_scope' then v_patch -> 'document_scope' else v_current -> 'document_scope' end;
  if v_documents then
    if coalesce(jsonb_typeof(v_value), 'null') = 'null' then
      v_value := '"attached"';
    elsif jsonb_typeof(v_value) <> 'string' or v_value #>> '{}' not in ('attached', 'all') then
      raise exception using errcode = 'PT400', message = 'settings.document_scope must be attached or all';
    end if;
    v_out := v_out || jsonb_build_object('document_scope', v_value);
  elsif jsonb_typeof(v_patch -> 'document_scope') <> 'null' then
    raise exception using errcode = 'PT400',
      message = 'settings.document_scope can only be set while settings.features.document_chat is on';
  end if;

  v_max_temperature := case v_model.protocol when 'anthropic_messages' then 1 else 2 end;
  v_value := v_out -> 'temperature';
  v_number := case when jsonb_typeof(v_value) = 'number' then (v_value #>> '{}')::numeric end;
  if jsonb_typeof(v_value) <> 'null' and (v_number is null or v_number not between 0 and v_max_temperature) then
    raise exception using errcode = 'PT400', message = format(
      'settings.temperature must be a number between 0 and %s for %s', v_max_temperature, p_model);
  end if;
  v_value := v_out -> 'max_tokens';
  v_number := case when jsonb_typeof(v_value) = 'number' then (v_value #>> '{}')::numeric end;
  if jsonb_typeof(v_value) <> 'null'
     and (v_number is null or v_number <> trunc(v_number) or v_number not between 1 and v_model.max_output_tokens) then
    raise exception using errcode = 'PT400', message = format(
      'settings.max_tokens must be an integer between 1 and %s for %s', v_model.max_output_tokens, p_model);
  end if;
  v_value := v_out -> 'system_prompt';
  if jsonb_typeof(v_value) <> 'null' and (jsonb_typeof(v_value) <> 'string'
     or char_length(v_value #>> '{}') > private.input_limit('system_prompt_chars')) then
    raise exception using errcode = 'PT400', message = format(
      'settings.system_prompt must be a string of at most %s characters', private.input_limit('system_prompt_chars'));
  end if;
  -- A blank system prompt is none.
  if btrim(v_out ->> 'system_prompt') = '' then
    v_out := v_out || '{"system_prompt": null}';
  end if;
  return v_out;
end
$$;

/**
 * The message object of the API contract: a fixed key set, without the hold and the
 * estimates (internal).
 */
create or replace function private.message_json(m public.messages) returns jsonb
language sql
stable
set search_path = ''
as $$
  select case when m.id is not null then jsonb_build_object(
    'id', m.id, 'conversation_id', m.conversation_id, 'parent_id', m.parent_id, 'role', m.role,
    'content', m.content, 'attachments', m.attachments, 'tool_calls', m.tool_calls,
    'provider', m.provider, 'model', m.model, 'tokens_in', m.tokens_in, 'tokens_out', m.tokens_out,
    'cost_usd', m.cost_usd, 'credits', m.credits, 'credits_reserved', m.credits_reserved,
    'status', m.status, 'error', m.error, 'stop_requested_at', m.stop_requested_at,
    'sources', m.sources, 'created_at', m.created_at, 'completed_at', m.completed_at
  ) end
$$;

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
 * Starts a reply in one of the caller's conversations: stores the user's message (p_content,
 * with p_attachments: upload ids), builds the context, reserves the credits and inserts the
 * assistant message `streaming`. Where the new user message goes:
 *   p_parent_id      under that message of the conversation;
 *   p_edit_of        beside that user message (an edit: a new branch, nothing overwritten);
 *   none of them     under the conversation's newest message (its current branch).
 * p_regenerate_of (an assistant message) instead makes a new reply beside that one, to the
 * same user message, with no new user message. At most one of the three.
 *
 * Document chat applies when the conversation has it on and at least one completed file is
 * in its scope (private.document_files): the context then leaves room for up to 2,000
 * tokens of excerpts (the history gives way to them, or, when the message alone leaves
 * less, the excerpts get what is left), which api.add_reply_sources adds.
 *
 * Reserved: ceil(((estimated prompt tokens + the document budget) x input rate + max_tokens
 * x output rate) / 1000) credits at the model's list price, in a hold that finish_reply
 * settles; max_tokens is the conversation's setting, else 4096 (at most the model's
 * max_output_tokens); the document budget is 0 when document chat does not apply.
 *
 * Returns {user_message (null for a regeneration), assistant_message, request: {protocol,
 * provider, model (the provider's name), system (null when none), messages [{role, content}]
 * oldest first, max_tokens, temperature (null: the provider's default)}, credits_reserved,
 * document_query}: document_query is the text to embed for api.add_reply_sources (the new
 * user message, or the one a regeneration answers, cut to 8,000 characters), null when
 * document chat does not apply.
 * PT400 for bad input or a message that cannot fit the model's window, PT402 when credits
 * are short (nothing is written), PT404 for a conversation or message not the caller's,
 * PT409 when the branch's newest reply (or the regenerated one) is still streaming.
 * SECURITY DEFINER: it writes the ledger, holds and counters users cannot write.
 */
create or replace function api.begin_reply(
  p_conversation_id uuid,
  p_content text default null,
  p_parent_id uuid default null,
  p_regenerate_of uuid default null,
  p_attachments jsonb default null,
  p_edit_of uuid default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- Prompt tokens of excerpts a document-chat reply may get (about 8 chunks of 250).
  v_document_budget_max constant int := 2000;
  -- text-embedding-3-small reads 8,191 tokens; a question's start says what it is about.
  v_query_chars constant int := 8000;
  v_uid uuid := private.require_user();
  v_account public.credit_accounts;
  c public.conversations;
  v_model public.ai_models;
  v_price public.pricing;
  v_target public.messages;
  v_parent_id uuid;
  v_parent public.messages;
  v_attachments jsonb;
  v_user_message public.messages;
  v_leaf_id uuid;
  v_max_tokens int;
  v_context jsonb;
  v_documents boolean;
  v_document_budget int := 0;
  v_request jsonb;
  v_credits bigint;
  v_hold_id uuid;
  v_reply public.messages;
begin
  if num_nonnulls(p_parent_id, p_regenerate_of, p_edit_of) > 1 then
    raise exception using errcode = 'PT400', message = 'give at most one of parent_id, edit_of and regenerate_of';
  end if;
  if p_regenerate_of is not null then
    if p_content is not null or p_attachments is not null then
      raise exception using errcode = 'PT400', message = 'a regeneration takes no content or attachments';
    end if;
  elsif p_content is null or btrim(p_content) = '' or char_length(p_content) > private.input_limit('message_chars') then
    raise exception using errcode = 'PT400',
      message = format('content must be 1 to %s characters', private.input_limit('message_chars'));
  else
    v_attachments := private.message_attachments(v_uid, p_attachments);
  end if;

  v_account := private.lock_account(v_uid);
  select * into c from public.conversations
  where id = p_conversation_id and user_id = v_uid and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;
  v_price := private.chat_price(c.model);
  select * into strict v_model from public.ai_models where model = c.model;

  if coalesce(p_regenerate_of, p_edit_of) is not null then
    select * into v_target from public.messages
    where id = coalesce(p_regenerate_of, p_edit_of) and conversation_id = c.id;
    if not found then
      raise exception using errcode = 'PT404', message = 'message not found';
    elsif p_regenerate_of is not null and v_target.role <> 'assistant' then
      raise exception using errcode = 'PT400', message = 'regenerate_of must be a reply (an assistant message)';
    elsif p_edit_of is not null and v_target.role <> 'user' then
      raise exception using errcode = 'PT400', message = 'edit_of must be a user message';
    elsif v_target.status = 'streaming' then
      raise exception using errcode = 'PT409', message = 'that reply is still being written: stop it first';
    end if;
    v_parent_id := v_target.parent_id;
  elsif p_parent_id is not null then
    v_parent_id := p_parent_id;
  else
    select id into v_parent_id from public.messages where conversation_id = c.id order by seq desc limit 1;
  end if;
  if v_parent_id is not null then
    select * into v_parent from public.messages where id = v_parent_id and conversation_id = c.id;
    if not found then
      raise exception using errcode = 'PT404', message = 'parent message not found';
    elsif v_parent.status = 'streaming' then
      raise exception using errcode = 'PT409', message = 'a reply is still being written there: wait for it or stop it';
    end if;
  end if;

  if p_regenerate_of is null then
    insert into public.messages (conversation_id, user_id, parent_id, role, content, attachments)
    values (c.id, v_uid, v_parent_id, 'user', p_content, v_attachments)
    returning * into v_user_message;
    v_leaf_id := v_user_message.id;
  else
    v_leaf_id := v_parent_id;
  end if;

  -- 4096 unless the conversation asks otherwise: a reply's hold covers all of it.
  v_max_tokens := least(coalesce((c.settings ->> 'max_tokens')::int, 4096), v_model.max_output_tokens);
  v_context := private.reply_context(v_uid, v_model, c.settings, v_leaf_id, v_max_tokens);

  v_documents := false;
  if (c.settings -> 'features' ->> 'document_chat')::boolean
     and exists (select 1 from private.document_files(v_uid, c.id, c.settings ->> 'document_scope')) then
    v_document_budget := least(v_document_budget_max,
      v_model.context_window - v_max_tokens - (v_context ->> 'prompt_tokens')::int);
    if v_document_budget < v_document_budget_max then
      -- The history filled the window: it gives way to the excerpts, unless the message
      -- (with the system prompt) alone leaves less room, which the excerpts then get.
      begin
        v_context := private.reply_context(v_uid, v_model, c.settings, v_leaf_id, v_max_tokens + v_document_budget_max);
        v_document_budget := v_document_budget_max;
      exception when sqlstate 'PT400' then
        null;
      end;
    end if;
    v_documents := v_document_budget > 0;
  end if;

  v_credits := ceil((((v_context ->> 'prompt_tokens')::int + v_document_budget) * v_price.credits_per_unit
    + v_max_tokens * coalesce(v_price.credits_per_output_unit, v_price.credits_per_unit)) / 1000)::bigint;

  if v_credits > 0 then
    -- The stuck-reply sweep ends a reply 15 minutes in; the hold outlives that by far, so
    -- the sweep, not the hold's expiry, finishes a reply whose function died.
    v_hold_id := (private.place_hold(v_account.id, v_credits, null, now() + interval '1 hour', v_uid)).id;
  end if;

  insert into public.messages (conversation_id, user_id, parent_id, role, status, provider, model,
    credits_reserved, pricing_id, prompt_tokens_estimate, hold_id)
  values (c.id, v_uid, v_leaf_id, 'assistant', 'streaming', v_model.provider, v_model.model,
    v_credits, v_price.id, (v_context ->> 'prompt_tokens')::int, v_hold_id)
  returning * into v_reply;

  if v_user_message.id is not null then
    update public.conversations set
      message_count = message_count + 1,
      preview = left(v_user_message.content, 200),
      last_message_at = now()
    where id = c.id;
  end if;

  v_request := jsonb_build_object(
    'protocol', v_model.protocol,
    'provider', v_model.provider,
    'model', v_model.provider_ref,
    'system', v_context -> 'system',
    'messages', v_context -> 'messages',
    'max_tokens', v_max_tokens,
    'temperature', c.settings -> 'temperature');
  if v_documents then
    insert into private.reply_documents (message_id, scope, budget, request)
    values (v_reply.id, c.settings ->> 'document_scope', v_document_budget, v_request);
  end if;

  return jsonb_build_object(
    'user_message', private.message_json(v_user_message),
    'assistant_message', private.message_json(v_reply),
    'request', v_request,
    'credits_reserved', v_credits,
    'document_query', case when v_documents then
      left((select content from public.messages where id = v_leaf_id), v_query_chars) end);
end
$$;

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
