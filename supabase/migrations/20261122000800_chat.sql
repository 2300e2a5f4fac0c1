/**
 * Chat: conversations, their messages (branches, never overwritten), memories (000's
 * `context_prompts`) and prompt templates (001's `system_prompt_templates`); each reply
 * billed by its tokens through a credit hold, exactly once.
 *
 * Life of a reply (the chat function drives it, SQL decides everything that costs):
 *   api.begin_reply    as the user: stores the user's message, builds the context the
 *                      provider gets, reserves credits for the prompt's estimated tokens plus
 *                      max_tokens at list price (a hold), and inserts the assistant message
 *                      `streaming`; one transaction, nothing written when credits are short;
 *   api.reply_state    the function polls it while streaming: has the user asked to stop?
 *   api.stop_reply     the user asks to stop (sets stop_requested_at);
 *   api.finish_reply   service role, exactly once: stores the reply, settles the hold at the
 *                      tokens used (the provider's count, else SQL's estimate), writes the
 *                      usage event and the conversation's counters; one transaction;
 *   api.sweep_stuck_replies  finishes as failed the replies whose function died.
 *
 * Branches: every message has a parent_id (null for the first of a conversation). A
 * regeneration is a new assistant reply beside the old one (same parent); an edit is a new
 * user message beside the edited one. The "current branch" of a conversation runs from its
 * newest message (highest seq, always a leaf) up through the parents.
 *
 * Tokens: SQL owns the estimate (private.estimate_tokens); the context builder, the
 * reservation and a finish without the provider's counts all use it.
 *
 * Reads are SECURITY INVOKER (RLS and column grants decide); only begin_reply, finish_reply
 * and the sweep are SECURITY DEFINER, because they move money and counters.
 * Lock order, as everywhere: credit account, then message, then conversation.
 */

/** Conversations */

create table public.conversations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- Reserved for shared conversations; no workspace or project table exists yet, so
  -- nothing writes them.
  workspace_id uuid,
  project_id uuid,
  -- Null until the user names it or the function sets an automatic one (set_title).
  title text check (char_length(title) between 1 and private.input_limit('title_chars')),
  -- 002's in-app assistant keeps its conversations apart from the chat's.
  kind text not null default 'chat' check (kind in ('chat', 'assistant')),
  model text not null references public.ai_models (model),
  -- Always the full shape private.chat_settings returns: temperature, max_tokens,
  -- system_prompt (null: the default) and features {document_chat, image_generation, web_search}.
  settings jsonb not null check (jsonb_typeof(settings) = 'object'),
  pinned boolean not null default false,
  archived boolean not null default false,
  -- The start of the newest message, for lists (002's preview_text).
  preview text,
  -- Finished messages of every branch; tokens and credits of every reply so far.
  message_count int not null default 0 check (message_count >= 0),
  tokens_in bigint not null default 0 check (tokens_in >= 0),
  tokens_out bigint not null default 0 check (tokens_out >= 0),
  credits bigint not null default 0 check (credits >= 0),
  last_message_at timestamptz not null default now(),
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- 'simple': titles come in every language (see the media migration).
  search tsvector generated always as (to_tsvector('simple', coalesce(title, ''))) stored
);

-- list_conversations: pinned first, then the newest activity, per archived state; deleted
-- conversations never enter it.
create index conversations_user_list_idx
  on public.conversations (user_id, archived, pinned desc, last_message_at desc, id desc)
  where deleted_at is null;
-- list_conversations' q over titles.
create index conversations_search_idx on public.conversations using gin (search) where deleted_at is null;

create trigger conversations_touch_updated_at
  before update on public.conversations
  for each row execute function private.touch_updated_at();

alter table public.conversations enable row level security;

create policy "Users can view their own conversations"
  on public.conversations for select to authenticated
  using (user_id = (select auth.uid()));

-- A disabled user reads their conversations and changes nothing.
create policy "Active users can create their own conversations"
  on public.conversations for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

create policy "Active users can update their own conversations"
  on public.conversations for update to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())))
  with check (user_id = (select auth.uid()));

-- The counters, preview and activity time move only with a reply (SECURITY DEFINER);
-- users write what they choose. Deletion is soft: the money history stays.
revoke all on public.conversations from anon, authenticated, service_role;
grant select on public.conversations to authenticated, service_role;
grant insert (user_id, workspace_id, title, kind, model, settings) on public.conversations to authenticated;
grant update (title, model, settings, pinned, archived, deleted_at) on public.conversations to authenticated;
-- The automatic title (api.set_title).
grant update (title) on public.conversations to service_role;

/** Messages */

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  -- Insertion order: the newest message of a conversation is its current leaf, and two
  -- messages of one begin_reply share created_at.
  seq bigint generated always as identity unique,
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  -- The conversation's owner, so that RLS reads no other table.
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- Always a message of the same conversation (begin_reply checks it); null for a first
  -- message (and an edit of one).
  parent_id uuid references public.messages (id) on delete cascade,
  -- 000's `model` role is `assistant` here (the HTTP API accepts both).
  role text not null check (role in ('user', 'assistant', 'system', 'tool')),
  content text not null default '',
  -- The caller's uploads: [{upload_id, bucket, path, content_type, filename}].
  attachments jsonb not null default '[]'::jsonb check (jsonb_typeof(attachments) = 'array'),
  tool_calls jsonb check (jsonb_typeof(tool_calls) = 'array'),
  -- A reply's provider (token pool name) and our model name.
  provider text,
  model text references public.ai_models (model),
  tokens_in int check (tokens_in >= 0),
  tokens_out int check (tokens_out >= 0),
  cost_usd numeric(14, 6),
  credits bigint check (credits >= 0),
  -- What begin_reply reserved, at which price, and its estimate of the prompt's tokens
  -- (charged when the provider reports none).
  credits_reserved bigint check (credits_reserved >= 0),
  pricing_id bigint references public.pricing (id),
  prompt_tokens_estimate int check (prompt_tokens_estimate >= 0),
  hold_id uuid references public.credit_holds (id),
  status text not null default 'complete' check (status in ('streaming', 'complete', 'failed', 'stopped')),
  -- What the user reads about a failed reply.
  error text,
  stop_requested_at timestamptz,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  search tsvector generated always as (to_tsvector('simple', content)) stored,
  constraint messages_streaming_reply check (status <> 'streaming' or role = 'assistant'),
  constraint messages_charge check (credits is null or credits <= coalesce(credits_reserved, 0))
);

-- The newest message of a conversation (the current leaf) and its branch's pages.
create index messages_conversation_idx on public.messages (conversation_id, seq);
-- Children: siblings (same parent) for branch navigation, descendants for a branch's leaf.
create index messages_parent_idx on public.messages (conversation_id, parent_id, seq);
-- list_conversations' q over what was said.
create index messages_search_idx on public.messages using gin (search);

-- The chunks a document-chat reply (20261122000910_document_chat.sql) was given, best first: [{file_id, file_name, chunk_id,
-- chunk_index, page, heading, score}]. Null when no document search ran for the reply; []
-- when one ran and found nothing.
alter table public.messages add column sources jsonb
  constraint messages_sources check (jsonb_typeof(sources) = 'array');
-- The stuck-reply sweep: only streaming replies enter it.
create index messages_streaming_idx on public.messages (created_at) where status = 'streaming';

alter table public.messages enable row level security;

create policy "Users can view their own messages"
  on public.messages for select to authenticated
  using (user_id = (select auth.uid()));

-- The one thing a user writes on a message: asking a running reply to stop.
create policy "Active users can stop their own replies"
  on public.messages for update to authenticated
  using (user_id = (select auth.uid()) and status = 'streaming'
    and (select is_active from public.profiles where id = (select auth.uid())))
  with check (user_id = (select auth.uid()) and stop_requested_at is not null);

revoke all on public.messages from anon, authenticated, service_role;
grant select on public.messages to authenticated, service_role;
grant update (stop_requested_at) on public.messages to authenticated;

/** Memories */

create table public.memories (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  content text not null check (char_length(content) between 1 and private.input_limit('memory_chars')),
  -- Active memories go into every reply's system prompt (000's toggle).
  active boolean not null default true,
  -- Typed by the user, or a summary of one of their conversations (000's AI-written
  -- context prompts), which it then names.
  source text not null default 'user' check (source in ('user', 'conversation')),
  conversation_id uuid references public.conversations (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint memories_source check (source = 'conversation' or conversation_id is null)
);

-- A user's memories (lists, and the active ones of every reply).
create index memories_user_idx on public.memories (user_id, created_at desc);

create trigger memories_touch_updated_at
  before update on public.memories
  for each row execute function private.touch_updated_at();

alter table public.memories enable row level security;

create policy "Users can view their own memories"
  on public.memories for select to authenticated
  using (user_id = (select auth.uid()));

-- A memory can only name a conversation of its owner.
create policy "Active users can create their own memories"
  on public.memories for insert to authenticated
  with check (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid()))
    and (conversation_id is null or exists (
      select 1 from public.conversations c where c.id = conversation_id and c.user_id = (select auth.uid()))));

create policy "Active users can update their own memories"
  on public.memories for update to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())))
  with check (user_id = (select auth.uid()));

create policy "Active users can delete their own memories"
  on public.memories for delete to authenticated
  using (user_id = (select auth.uid())
    and (select is_active from public.profiles where id = (select auth.uid())));

revoke all on public.memories from anon, authenticated, service_role;
grant select on public.memories to authenticated, service_role;
grant insert (user_id, content, active, source, conversation_id) on public.memories to authenticated;
grant update (content, active) on public.memories to authenticated;
grant delete on public.memories to authenticated;

/** Prompt templates */

create table public.prompt_templates (
  id uuid primary key default gen_random_uuid(),
  -- Null: a public template, written by admins and read by everyone.
  user_id uuid references public.profiles (id) on delete cascade,
  name text not null check (char_length(name) between 1 and private.input_limit('template_name_chars')),
  description text check (char_length(description) between 1 and private.input_limit('template_description_chars')),
  -- A conversation created from the template gets it as its system prompt.
  content text not null check (char_length(content) between 1 and private.input_limit('system_prompt_chars')),
  category text check (char_length(category) between 1 and private.input_limit('template_category_chars')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- list_prompt_templates: the public ones and the caller's, by name.
create index prompt_templates_owner_name_idx on public.prompt_templates (user_id, name, id);

create trigger prompt_templates_touch_updated_at
  before update on public.prompt_templates
  for each row execute function private.touch_updated_at();

alter table public.prompt_templates enable row level security;

create policy "Users can view public templates and their own"
  on public.prompt_templates for select to authenticated
  using (user_id is null or user_id = (select auth.uid()));

create policy "Users write their own templates, admins the public ones"
  on public.prompt_templates for insert to authenticated
  with check ((user_id = (select auth.uid())
      and (select is_active from public.profiles where id = (select auth.uid())))
    or (user_id is null and (select private.is_admin())));

create policy "Users change their own templates, admins the public ones"
  on public.prompt_templates for update to authenticated
  using ((user_id = (select auth.uid())
      and (select is_active from public.profiles where id = (select auth.uid())))
    or (user_id is null and (select private.is_admin())))
  with check ((user_id = (select auth.uid())) or (user_id is null and (select private.is_admin())));

create policy "Users delete their own templates, admins the public ones"
  on public.prompt_templates for delete to authenticated
  using ((user_id = (select auth.uid())
      and (select is_active from public.profiles where id = (select auth.uid())))
    or (user_id is null and (select private.is_admin())));

revoke all on public.prompt_templates from anon, authenticated, service_role;
grant select on public.prompt_templates to authenticated, service_role;
grant insert (user_id, name, description, content, category) on public.prompt_templates to authenticated;
grant update (name, description, content, category) on public.prompt_templates to authenticated;
grant delete on public.prompt_templates to authenticated;

/** Usage of replies */

-- A reply is billed once, like a generation (usage migration).
alter table public.usage_events add column message_id uuid
  constraint usage_events_message_fk references public.messages (id) on delete set null;
create unique index usage_events_message_idx on public.usage_events (message_id);

/** Chat helpers (private) */

/**
 * The tokens a text is estimated to take: a quarter of its UTF-8 bytes, plus a quarter per
 * byte of a multi-byte character beyond its first. English runs about 4 characters a token
 * in every current tokenizer; CJK characters (3 bytes) count 1.25 tokens, Cyrillic and
 * accented letters (2 bytes) 0.75, which errs on the high side, where an estimate must: it
 * decides what fits a context window and what is reserved. Charged only when a provider
 * reports no usage. The one estimator: nothing else counts tokens.
 */
create function private.estimate_tokens(p_text text) returns int
language sql
immutable
set search_path = ''
as $$
  select ceil((2 * octet_length(coalesce(p_text, '')) - char_length(coalesce(p_text, ''))) / 4.0)::int
$$;

/**
 * The active price of an active chat model; PT400 when there is none, so a conversation
 * never starts with (or moves to) a model no reply could be billed for.
 */
create function private.chat_price(p_model text) returns public.pricing
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
  where m.model = p_model and m.kind = 'chat' and m.is_active and p.unit = '1k_tokens';
  if v_price.id is null then
    raise exception using errcode = 'PT400', message = format('model %s is not an available chat model', left(p_model, 128));
  end if;
  return v_price;
end
$$;

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
create function private.chat_settings(p_model text, p_current jsonb, p_patch jsonb) returns jsonb
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
 * The conversation object of the API contract: a fixed key set.
 */
create function private.conversation_json(c public.conversations) returns jsonb
language sql
stable  -- timestamps render in the session time zone
set search_path = ''
as $$
  select case when c.id is not null then jsonb_build_object(
    'id', c.id, 'title', c.title, 'kind', c.kind, 'model', c.model, 'settings', c.settings,
    'pinned', c.pinned, 'archived', c.archived, 'preview', c.preview, 'message_count', c.message_count,
    'tokens_in', c.tokens_in, 'tokens_out', c.tokens_out, 'credits', c.credits,
    'workspace_id', c.workspace_id, 'project_id', c.project_id, 'last_message_at', c.last_message_at,
    'created_at', c.created_at, 'updated_at', c.updated_at
  ) end
$$;

/**
 * The message object of the API contract: a fixed key set, without the hold and the
 * estimates (internal).
 */
create function private.message_json(m public.messages) returns jsonb
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

create function private.memory_json(m public.memories) returns jsonb
language sql
stable
set search_path = ''
as $$
  select case when m.id is not null then jsonb_build_object(
    'id', m.id, 'content', m.content, 'active', m.active, 'source', m.source,
    'conversation_id', m.conversation_id, 'created_at', m.created_at, 'updated_at', m.updated_at
  ) end
$$;

create function private.template_json(t public.prompt_templates) returns jsonb
language sql
stable
set search_path = ''
as $$
  select case when t.id is not null then jsonb_build_object(
    'id', t.id, 'name', t.name, 'description', t.description, 'content', t.content,
    'category', t.category, 'public', t.user_id is null,
    'created_at', t.created_at, 'updated_at', t.updated_at
  ) end
$$;

/**
 * Keeps every conversation's model an available chat model and its settings checked and
 * whole (private.chat_settings), whatever path writes them: the API, or a client writing
 * the table with the user's token.
 */
create function private.check_conversation() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' or new.model is distinct from old.model then
    perform private.chat_price(new.model);
  end if;
  new.settings := private.chat_settings(new.model, null, new.settings);
  return new;
end
$$;

create trigger conversations_check
  before insert or update of model, settings on public.conversations
  for each row execute function private.check_conversation();

-- The SECURITY INVOKER reads and edits call them.
grant execute on function private.chat_price(text), private.chat_settings(text, jsonb, jsonb),
  private.conversation_json(public.conversations), private.message_json(public.messages),
  private.memory_json(public.memories), private.template_json(public.prompt_templates)
  to authenticated, service_role;

/**
 * A message's attachments: a JSON array of at most attachments_max upload ids, each one of
 * p_user_id's uploads whose file has arrived in Storage; null is none. Returns what is
 * stored: [{upload_id, bucket, path, content_type, filename}], the type as Storage recorded
 * it. The owner is checked here, not left to RLS: begin_reply runs this as its definer.
 */
create function private.message_attachments(p_user_id uuid, p_attachments jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_out jsonb := '[]'::jsonb;
  v_item jsonb;
  v_n bigint;
  v_id uuid;
  v_upload public.uploads;
  v_mime text;
begin
  if p_attachments is null or jsonb_typeof(p_attachments) = 'null' then
    return v_out;
  end if;
  if jsonb_typeof(p_attachments) <> 'array' or jsonb_array_length(p_attachments) > private.input_limit('attachments_max') then
    raise exception using errcode = 'PT400',
      message = format('attachments must be a list of at most %s upload ids', private.input_limit('attachments_max'));
  end if;
  for v_item, v_n in select e, n - 1 from jsonb_array_elements(p_attachments) with ordinality a (e, n) loop
    v_id := case when jsonb_typeof(v_item) = 'string'
      and v_item #>> '{}' ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' then (v_item #>> '{}')::uuid end;
    select * into v_upload from public.uploads u where u.id = v_id and u.user_id = p_user_id;
    if not found then
      raise exception using errcode = 'PT400',
        message = format('attachments[%s] must be the upload_id of one of your uploads', v_n);
    end if;
    select o.metadata ->> 'mimetype' into v_mime
    from storage.objects o where o.bucket_id = v_upload.bucket and o.name = v_upload.path;
    if not found then
      raise exception using errcode = 'PT400', message = format(
        'attachments[%s]: upload %s has no file yet (PUT the file to its upload url first)', v_n, v_id);
    end if;
    v_out := v_out || jsonb_build_array(jsonb_build_object('upload_id', v_upload.id, 'bucket', v_upload.bucket,
      'path', v_upload.path, 'content_type', coalesce(private.mime_type(v_mime), v_upload.content_type),
      'filename', v_upload.filename));
  end loop;
  return v_out;
end
$$;

/**
 * What a reply's provider gets, and its estimated size: {system, messages, prompt_tokens}.
 * p_leaf_id is the newest message sent (the user's new message, or the one a regeneration
 * answers); p_max_tokens the reply's limit. Everything must fit the model's context window
 * less p_max_tokens, by private.estimate_tokens plus 4 tokens per message (role and
 * framing) and 3 to prime the reply, taken in this order:
 *   1. the system prompt and the leaf, whole: PT400 when they alone do not fit;
 *   2. the active memories, newest first, as many as fit, appended to the system prompt;
 *   3. the leaf's ancestors, newest first, as many as fit: the first that does not fit
 *      ends the context, so it is always the unbroken end of the branch; no message is
 *      ever cut, and no other branch's message is ever reached (only parents are followed).
 * Only user and assistant messages with text are sent (a reply that failed before any
 * text, or one still streaming on this branch, is skipped), and the context starts with
 * a user message (Anthropic's rule; harmless elsewhere). Messages come oldest first.
 * The ancestor walk stops climbing once the window is full, so a long conversation costs
 * what fits, not its length.
 */
create function private.reply_context(
  p_user_id uuid,
  p_model public.ai_models,
  p_settings jsonb,
  p_leaf_id uuid,
  p_max_tokens int
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_per_message constant int := 4;
  v_priming constant int := 3;
  v_budget int := p_model.context_window - p_max_tokens - v_priming;
  v_prompt text := p_settings ->> 'system_prompt';
  v_prompt_tokens int;
  v_leaf_tokens int;
  v_memory_header constant text := 'What you remember about the user (from their saved memories):';
  v_memories text;
  v_system text;
  v_system_tokens int;
  v_messages jsonb;
  v_history_tokens int;
begin
  v_prompt_tokens := case when v_prompt is not null then private.estimate_tokens(v_prompt) + v_per_message else 0 end;
  select private.estimate_tokens(content) + v_per_message into v_leaf_tokens from public.messages where id = p_leaf_id;
  if v_prompt_tokens + v_leaf_tokens > v_budget then
    raise exception using errcode = 'PT400', message = format(
      'the message%s needs about %s tokens; %s takes %s (its context window of %s less max_tokens %s)',
      case when v_prompt is not null then ' (with the system prompt)' else '' end,
      v_prompt_tokens + v_leaf_tokens + v_priming, p_model.model, v_budget + v_priming,
      p_model.context_window, p_max_tokens);
  end if;

  -- Each memory is a line "- ..." under the header; the header and the system message's
  -- framing are counted once the first memory is in.
  select string_agg('- ' || content, E'\n' order by created_at, id) into v_memories
  from (
    select content, created_at, id,
           sum(private.estimate_tokens('- ' || content) + 1) over (order by created_at desc, id desc) as used
    from public.memories
    where user_id = p_user_id and active
  ) m
  where used + private.estimate_tokens(v_memory_header)
        + case when v_prompt is null then v_per_message else 2 end
        <= v_budget - v_prompt_tokens - v_leaf_tokens;
  v_system := nullif(concat_ws(E'\n\n', v_prompt, v_memory_header || E'\n' || v_memories), '');
  v_system_tokens := case when v_system is not null then private.estimate_tokens(v_system) + v_per_message else 0 end;

  with recursive branch as (
    select m.id, m.parent_id, m.role, m.content, 0 as depth, t.tokens, t.tokens as used
    from public.messages m
    cross join lateral (select case when m.role in ('user', 'assistant') and m.status <> 'streaming'
      and btrim(m.content) <> '' then private.estimate_tokens(m.content) + v_per_message else 0 end as tokens) t
    where m.id = p_leaf_id
    union all
    select p.id, p.parent_id, p.role, p.content, b.depth + 1, t.tokens, b.used + t.tokens
    from branch b
    join public.messages p on p.id = b.parent_id
    cross join lateral (select case when p.role in ('user', 'assistant') and p.status <> 'streaming'
      and btrim(p.content) <> '' then private.estimate_tokens(p.content) + v_per_message else 0 end as tokens) t
    where b.used <= v_budget - v_system_tokens
  ), sent as (
    select * from branch where tokens > 0 and used <= v_budget - v_system_tokens
  ), from_user as (
    select * from sent where depth <= (select max(depth) from sent where role = 'user')
  )
  select coalesce(jsonb_agg(jsonb_build_object('role', role, 'content', content) order by depth desc), '[]'::jsonb),
         coalesce(sum(tokens), 0)
  into v_messages, v_history_tokens
  from from_user;

  return jsonb_build_object('system', v_system, 'messages', v_messages,
    'prompt_tokens', v_priming + v_system_tokens + v_history_tokens);
end
$$;

/**
 * Finishes a streaming reply exactly once: stores it, settles its hold, writes its usage
 * event and the conversation's counters. Returns null when the reply had already ended
 * (a repeated or late call is a no-op). Locks the account, then the message.
 *
 * Tokens: the provider's counts when given; else the prompt's estimate made at
 * begin_reply and the estimate of p_content. The charge is tokens_in x the input rate +
 * tokens_out x the output rate of the price the reply was reserved at, rounded up, capped
 * by the hold (more is never charged; the counts are still stored as reported).
 *
 * A failed reply with no text and no counts from the provider is free: the provider
 * refused the request or never answered (an error status, a dropped connection before the
 * first token, a dead function swept later), and in those cases providers bill nothing.
 * Any other ending is charged for its prompt (providers bill a prompt once they accept the
 * request, however the reply ends) and the output produced: a stop, a client that left,
 * a provider failing mid-stream.
 */
create function private.finish_reply(
  p_message_id uuid,
  p_content text,
  p_status text,
  p_tokens_in int,
  p_tokens_out int,
  p_tool_calls jsonb,
  p_error text
) returns public.messages
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_workspace_id uuid;
  v_account public.credit_accounts;
  m public.messages;
  v_price public.pricing;
  v_content text;
  v_in int;
  v_out int;
  v_charge bigint := 0;
  v_cost numeric := 0;
begin
  select r.user_id, w.workspace_id into v_user_id, v_workspace_id
  from public.messages r join public.conversations w on w.id = r.conversation_id
  where r.id = p_message_id and r.role = 'assistant';
  if v_user_id is null then
    raise exception using errcode = 'PT404', message = 'reply not found';
  end if;
  v_account := private.lock_billing_account(v_user_id, v_workspace_id);
  select * into m from public.messages where id = p_message_id for update;
  if m.status <> 'streaming' then
    return null;
  end if;

  v_content := coalesce(p_content, m.content);
  if not (p_status = 'failed' and p_tokens_in is null and p_tokens_out is null and btrim(v_content) = '') then
    select * into v_price from public.pricing where id = m.pricing_id;
    v_in := coalesce(p_tokens_in, m.prompt_tokens_estimate);
    v_out := coalesce(p_tokens_out, private.estimate_tokens(v_content));
    v_charge := least(ceil((v_in * v_price.credits_per_unit
      + v_out * coalesce(v_price.credits_per_output_unit, v_price.credits_per_unit)) / 1000)::bigint, m.credits_reserved);
    v_cost := round((v_in * v_price.usd_per_unit
      + v_out * coalesce(v_price.usd_per_output_unit, v_price.usd_per_unit)) / 1000, 6);
  end if;
  -- A hold the hold sweep already released (the reply outlived its expiry) charges nothing.
  if m.hold_id is not null
     and private.resolve_hold(m.hold_id, nullif(v_charge, 0), null, 'reply ' || p_status) is null then
    v_charge := 0;
  end if;

  if v_in is not null then
    insert into public.usage_events (user_id, account_id, message_id, action, provider, model,
      units, tokens_in, tokens_out, credits, cost_usd)
    values (m.user_id, v_account.id, m.id, v_price.action, m.provider, m.model,
      round((v_in + v_out) / 1000.0, 6), v_in, v_out, v_charge, v_cost);
  end if;

  update public.messages set
    content = v_content,
    status = p_status,
    tokens_in = v_in,
    tokens_out = v_out,
    cost_usd = v_cost,
    credits = v_charge,
    tool_calls = p_tool_calls,
    error = case when p_status = 'failed' then left(coalesce(p_error, 'the reply failed'), 500) end,
    completed_at = now()
  where id = m.id
  returning * into m;

  update public.conversations set
    message_count = message_count + 1,
    tokens_in = tokens_in + coalesce(v_in, 0),
    tokens_out = tokens_out + coalesce(v_out, 0),
    credits = credits + v_charge,
    preview = case when btrim(v_content) <> '' then left(v_content, 200) else preview end,
    last_message_at = now()
  where id = m.conversation_id;
  return m;
end
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
create function api.begin_reply(
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
  v_workspace_id uuid;
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

  -- A workspace's conversation is billed to the workspace, while its owner is a member.
  select workspace_id into v_workspace_id from public.conversations
  where id = p_conversation_id and user_id = v_uid and deleted_at is null;
  if v_workspace_id is not null then
    perform private.require_role(v_workspace_id, 'member', null, 'workspace');
  end if;
  v_account := private.lock_billing_account(v_uid, v_workspace_id);
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

grant execute on function api.begin_reply(uuid, text, uuid, uuid, jsonb, uuid) to authenticated;

/**
 * Ends a streaming reply (see private.finish_reply for what is charged): p_status complete,
 * stopped or failed; p_content the whole reply (null keeps what is stored); p_tokens_in /
 * p_tokens_out what the provider reported, if it did; p_error what the user reads about a
 * failure (never the provider's raw words). Exactly once: a call for a reply that already
 * ended changes nothing and returns what the first one did.
 * Returns {message, credits_charged, conversation: {id, title, message_count, tokens_in,
 * tokens_out, credits, preview, last_message_at}}. Service role only.
 */
create function api.finish_reply(
  p_message_id uuid,
  p_content text,
  p_status text,
  p_tokens_in int default null,
  p_tokens_out int default null,
  p_tool_calls jsonb default null,
  p_error text default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  m public.messages;
  c public.conversations;
begin
  if p_status is null or p_status not in ('complete', 'stopped', 'failed') then
    raise exception using errcode = 'PT400', message = 'status must be complete, stopped or failed';
  end if;
  if p_tokens_in < 0 or p_tokens_out < 0 then
    raise exception using errcode = 'PT400', message = 'token counts must not be negative';
  end if;
  if p_tool_calls is not null and jsonb_typeof(p_tool_calls) <> 'array' then
    raise exception using errcode = 'PT400', message = 'tool_calls must be a JSON array';
  end if;

  m := private.finish_reply(p_message_id, p_content, p_status, p_tokens_in, p_tokens_out, p_tool_calls, p_error);
  if m.id is null then
    select * into m from public.messages where id = p_message_id;
  end if;
  select * into c from public.conversations where id = m.conversation_id;
  return jsonb_build_object(
    'message', private.message_json(m),
    'credits_charged', m.credits,
    'conversation', jsonb_build_object('id', c.id, 'title', c.title, 'message_count', c.message_count,
      'tokens_in', c.tokens_in, 'tokens_out', c.tokens_out, 'credits', c.credits, 'preview', c.preview,
      'last_message_at', c.last_message_at));
end
$$;

grant execute on function api.finish_reply(uuid, text, text, int, int, jsonb, text) to service_role;

/**
 * Asks one of the caller's streaming replies to stop; the function sees it through
 * reply_state and finishes the reply as stopped. Asking again is harmless. PT404 when it
 * is not the caller's reply, PT409 when it has already ended. SECURITY INVOKER: the update
 * policy lets an owner set stop_requested_at on a streaming reply and nothing else.
 */
create function api.stop_reply(p_message_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  m public.messages;
begin
  update public.messages set stop_requested_at = coalesce(stop_requested_at, now())
  where id = p_message_id and user_id = v_uid and role = 'assistant' and status = 'streaming'
  returning * into m;
  if not found then
    select * into m from public.messages where id = p_message_id and user_id = v_uid and role = 'assistant';
    if not found then
      raise exception using errcode = 'PT404', message = 'reply not found';
    end if;
    raise exception using errcode = 'PT409', message = format('the reply has already ended (%s)', m.status);
  end if;
  return private.message_json(m);
end
$$;

grant execute on function api.stop_reply(uuid) to authenticated;

/**
 * {status, stop_requested} of a reply, for the function streaming it, which asks about once
 * a second. With p_content (the text so far) it first keeps that text on a reply still
 * streaming, so that a reply whose function dies mid-stream is stored, and charged by the
 * stuck-reply sweep, for what it produced rather than as nothing. Service role only (it
 * reads and writes every user's replies). SECURITY DEFINER: the service role reads messages
 * but writes them only through these functions.
 */
create function api.reply_state(p_message_id uuid, p_content text default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_state jsonb;
begin
  if p_content is not null then
    update public.messages set content = p_content
    where id = p_message_id and role = 'assistant' and status = 'streaming';
  end if;
  select jsonb_build_object('status', status, 'stop_requested', stop_requested_at is not null) into v_state
  from public.messages where id = p_message_id and role = 'assistant';
  if v_state is null then
    raise exception using errcode = 'PT404', message = 'reply not found';
  end if;
  return v_state;
end
$$;

grant execute on function api.reply_state(uuid, text) to service_role;

/**
 * Finishes as failed every reply still streaming 15 minutes after it began: its function
 * died (an isolate evicted, a deploy) and will never call finish_reply. The longest reply
 * a model writes (16k tokens at a slow 30 tokens/s) takes 9 minutes. What was stored is
 * kept; with no text and no counts the reply is free (private.finish_reply) and its hold
 * released. Title jobs (chat titles migration) running as long end the same way, as failed
 * (private.finish_title), so no title's hold stays open either. Returns how many replies
 * and title jobs it finished. Like the other sweeps, it skips accounts a request holds
 * right now and handles each one in its own subtransaction. pg_cron runs it every minute
 * (private.schedule_sweeps); the local stack's sweeper calls it.
 */
create function api.sweep_stuck_replies() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_reply record;
  v_title record;
  v_count int := 0;
  v_failed int := 0;
begin
  for v_reply in
    select m.id, coalesce(wa.id, ua.id) as account_id
    from public.messages m
    join public.conversations c on c.id = m.conversation_id
    left join public.credit_accounts ua on ua.owner_user_id = m.user_id and c.workspace_id is null
    left join public.credit_accounts wa on wa.workspace_id = c.workspace_id
    where m.status = 'streaming' and m.created_at < now() - interval '15 minutes'
    order by m.created_at
    limit 1000
  loop
    begin
      perform 1 from public.credit_accounts where id = v_reply.account_id for update skip locked;
      continue when not found;
      if (private.finish_reply(v_reply.id, null, 'failed', null, null, null, 'the reply was interrupted')).id is not null then
        v_count := v_count + 1;
      end if;
    exception when others then
      v_failed := v_failed + 1;
      raise warning 'sweep_stuck_replies: message % failed: % (SQLSTATE %)', v_reply.id, sqlerrm, sqlstate;
    end;
  end loop;
  for v_title in
    select j.id, coalesce(wa.id, ua.id) as account_id
    from public.conversation_title_jobs j
    join public.conversations c on c.id = j.conversation_id
    left join public.credit_accounts ua on ua.owner_user_id = j.user_id and c.workspace_id is null
    left join public.credit_accounts wa on wa.workspace_id = c.workspace_id
    where j.status = 'running' and j.created_at < now() - interval '15 minutes'
    order by j.created_at
    limit 1000
  loop
    begin
      perform 1 from public.credit_accounts where id = v_title.account_id for update skip locked;
      continue when not found;
      if (private.finish_title(v_title.id, null, null, null, true)).id is not null then
        v_count := v_count + 1;
      end if;
    exception when others then
      v_failed := v_failed + 1;
      raise warning 'sweep_stuck_replies: title job % failed: % (SQLSTATE %)', v_title.id, sqlerrm, sqlstate;
    end;
  end loop;
  if v_failed > 0 then
    raise warning 'sweep_stuck_replies: % finished, % failed', v_count, v_failed;
  end if;
  return v_count;
end
$$;

grant execute on function api.sweep_stuck_replies() to service_role;

/** Conversations API */

/**
 * Creates a conversation for the caller; with p_workspace_id it is the workspace's (its
 * members see it, its replies are billed to it; the caller must be a member: the insert
 * policy). p_model: an active chat model; null takes the
 * caller's preferred model (profiles.preferred_model_name) when it is one, else the
 * cheapest. p_template_id: a template the caller can read, whose content becomes the system
 * prompt (then p_settings may not set one). p_settings as private.chat_settings checks
 * them (the table's trigger). SECURITY INVOKER: the insert policy and column grants decide.
 */
create function api.create_conversation(
  p_title text default null,
  p_model text default null,
  p_settings jsonb default null,
  p_template_id uuid default null,
  p_kind text default 'chat',
  p_workspace_id uuid default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_model text := p_model;
  v_settings jsonb := coalesce(p_settings, '{}'::jsonb);
  v_template text;
  c public.conversations;
begin
  if p_kind is null or p_kind not in ('chat', 'assistant') then
    raise exception using errcode = 'PT400', message = 'kind must be chat or assistant';
  end if;
  if p_title is not null and char_length(btrim(p_title)) not between 1 and private.input_limit('title_chars') then
    raise exception using errcode = 'PT400',
      message = format('title must be 1 to %s characters', private.input_limit('title_chars'));
  end if;
  if v_model is null then
    select m.model into v_model
    from public.ai_models m
    join public.pricing p on p.model = m.model and p.unit = '1k_tokens'
      and p.active_from <= now() and (p.active_to is null or p.active_to > now())
    where m.kind = 'chat' and m.is_active
    order by m.model is not distinct from (select preferred_model_name from public.profiles where id = v_uid) desc,
      p.credits_per_unit + coalesce(p.credits_per_output_unit, p.credits_per_unit), m.model
    limit 1;
    if v_model is null then
      raise exception using errcode = 'PT503', message = 'no chat model is available';
    end if;
  elsif char_length(v_model) > private.input_limit('model_chars') then
    raise exception using errcode = 'PT400',
      message = format('model must be 1 to %s characters', private.input_limit('model_chars'));
  end if;
  if p_template_id is not null then
    if jsonb_typeof(v_settings) = 'object' and v_settings ? 'system_prompt' then
      raise exception using errcode = 'PT400', message = 'give template_id or settings.system_prompt, not both';
    end if;
    select t.content into v_template from public.prompt_templates t where t.id = p_template_id;
    if v_template is null then
      raise exception using errcode = 'PT404', message = 'template not found';
    end if;
    v_settings := v_settings || jsonb_build_object('system_prompt', v_template);
  end if;

  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'member', null, 'workspace');
  end if;

  insert into public.conversations (user_id, workspace_id, title, kind, model, settings)
  values (v_uid, p_workspace_id, btrim(p_title), p_kind, v_model, v_settings)
  returning * into c;
  return private.conversation_json(c);
end
$$;

grant execute on function api.create_conversation(text, text, jsonb, uuid, text, uuid) to authenticated;

/**
 * One of the caller's conversations (without its messages: list_messages); PT404 when it is
 * not visible or deleted. SECURITY INVOKER.
 */
create function api.get_conversation(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  c public.conversations;
begin
  perform private.caller_id();
  select * into c from public.conversations where id = p_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;
  return private.conversation_json(c);
end
$$;

grant execute on function api.get_conversation(uuid) to authenticated;

/**
 * The caller's conversations: pinned first, then the most recent activity (a message sent
 * or a reply finished), keyset-paged on (pinned, last_message_at, id); next_cursor is null
 * on the last page. p_archived: only archived (true), only the others (false, the default),
 * or both (null); p_kind: chat or assistant; p_q: full text over titles and every message
 * (any branch), in web search syntax. Deleted conversations never appear.
 * The statement is built from fixed fragments (every value a parameter), as list_media
 * does, so each shape is planned with its cursor as an index bound.
 */
create function api.list_conversations(
  p_archived boolean default false,
  p_q text default null,
  p_kind text default null,
  p_limit int default 20,
  p_cursor_pinned boolean default null,
  p_cursor_last_message_at timestamptz default null,
  p_cursor_id uuid default null,
  p_workspace_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_query tsquery;
  v_where text;
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  if num_nulls(p_cursor_pinned, p_cursor_last_message_at, p_cursor_id) not in (0, 3) then
    raise exception using errcode = 'PT400', message = 'cursor is not valid';
  end if;
  if p_kind is not null and p_kind not in ('chat', 'assistant') then
    raise exception using errcode = 'PT400', message = 'kind must be chat or assistant';
  end if;
  if p_q is not null then
    if char_length(btrim(p_q)) not between 1 and private.input_limit('q_chars') then
      raise exception using errcode = 'PT400',
        message = format('q must be 1 to %s characters', private.input_limit('q_chars'));
    end if;
    v_query := websearch_to_tsquery('simple', p_q);
    if numnode(v_query) = 0 then
      raise exception using errcode = 'PT400', message = 'q has no words to search for';
    end if;
  end if;

  if p_workspace_id is not null then
    perform private.require_role(p_workspace_id, 'viewer', null, 'workspace');
  end if;

  -- A workspace's list: every member's conversations in it (RLS lets members see them).
  v_where := case when p_workspace_id is null then 'c.user_id = $1' else 'c.workspace_id = $8' end
    || ' and c.deleted_at is null'
    || case p_archived when true then ' and c.archived' when false then ' and not c.archived' else '' end
    || case when p_kind is not null then ' and c.kind = $2' else '' end
    || case when p_cursor_id is not null then ' and (c.pinned, c.last_message_at, c.id) < ($3, $4, $5)' else '' end
    || case when v_query is not null then ' and (c.search @@ $6 or c.id in (
         select m.conversation_id from public.messages m where m.search @@ $6
         and ' || case when p_workspace_id is null then 'm.user_id = $1' else 'm.conversation_id in (
           select w.id from public.conversations w where w.workspace_id = $8)' end || '))' else '' end;

  -- One row more than asked tells whether a next page exists.
  execute format(
    'select coalesce(jsonb_agg(private.conversation_json(page)
              order by page.pinned desc, page.last_message_at desc, page.id desc), ''[]''::jsonb)
     from (select c.* from public.conversations c where %s
           order by c.pinned desc, c.last_message_at desc, c.id desc limit $7 + 1) page', v_where)
  into v_items
  using v_uid, p_kind, p_cursor_pinned, p_cursor_last_message_at, p_cursor_id, v_query, p_limit, p_workspace_id;

  return private.keyset_page(v_items, p_limit, array['pinned', 'last_message_at', 'id']);
end
$$;

grant execute on function api.list_conversations(boolean, text, text, int, boolean, timestamptz, uuid, uuid) to authenticated;

/**
 * Changes what its owner may change of a conversation: {title (null clears it), settings
 * (merged, see private.chat_settings), model (an available chat model; the settings are
 * checked against it), pinned, archived}; any other key is PT400. PT404 when it is not the
 * caller's or is deleted. SECURITY INVOKER: the update policy and column grants decide.
 */
create function api.update_conversation(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_key text;
  v_model text;
  c public.conversations;
begin
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400',
      message = 'the patch must be a JSON object with title, settings, model, pinned or archived';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('title', 'settings', 'model', 'pinned', 'archived') then
      raise exception using errcode = 'PT400', message = format(
        'unknown field: %s (title, settings, model, pinned and archived can be changed)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'title' and jsonb_typeof(p_patch -> 'title') <> 'null'
     and (jsonb_typeof(p_patch -> 'title') <> 'string'
          or char_length(btrim(p_patch ->> 'title')) not between 1 and private.input_limit('title_chars')) then
    raise exception using errcode = 'PT400',
      message = format('title must be 1 to %s characters, or null to clear it', private.input_limit('title_chars'));
  end if;
  for v_key in select k from unnest(array['pinned', 'archived']) k loop
    if p_patch ? v_key and jsonb_typeof(p_patch -> v_key) <> 'boolean' then
      raise exception using errcode = 'PT400', message = format('%s must be true or false', v_key);
    end if;
  end loop;
  if p_patch ? 'model' and (jsonb_typeof(p_patch -> 'model') <> 'string'
     or char_length(p_patch ->> 'model') not between 1 and private.input_limit('model_chars')) then
    raise exception using errcode = 'PT400',
      message = format('model must be 1 to %s characters', private.input_limit('model_chars'));
  end if;

  select * into c from public.conversations where id = p_id and user_id = v_uid and deleted_at is null for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;
  v_model := coalesce(p_patch ->> 'model', c.model);
  if v_model <> c.model then
    -- Before the settings are merged against it (the trigger checks it again).
    perform private.chat_price(v_model);
  end if;

  update public.conversations set
    title = case when p_patch ? 'title' then btrim(p_patch ->> 'title') else title end,
    model = v_model,
    settings = private.chat_settings(v_model, settings, coalesce(nullif(p_patch -> 'settings', 'null'::jsonb), '{}'::jsonb)),
    pinned = coalesce((p_patch ->> 'pinned')::boolean, pinned),
    archived = coalesce((p_patch ->> 'archived')::boolean, archived)
  where id = c.id
  returning * into c;
  return private.conversation_json(c);
end
$$;

grant execute on function api.update_conversation(uuid, jsonb) to authenticated;

/**
 * Soft-deletes the caller's conversations among p_ids (1 to delete_ids_max) and returns
 * {deleted: [ids], not_found: [ids]} in the order given, like delete_generations. Their
 * messages stay with them, and the money history (ledger, holds, usage events) is
 * untouched; a reply still streaming finishes and is billed as usual. SECURITY INVOKER.
 */
create function api.delete_conversations(p_ids uuid[]) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_deleted uuid[];
begin
  if p_ids is null or cardinality(p_ids) not between 1 and private.input_limit('delete_ids_max')
     or array_position(p_ids, null) is not null then
    raise exception using errcode = 'PT400',
      message = format('ids must list 1 to %s conversation ids', private.input_limit('delete_ids_max'));
  end if;

  with gone as (
    update public.conversations set deleted_at = now()
    where id = any (p_ids) and user_id = v_uid and deleted_at is null
    returning id
  )
  select coalesce(array_agg(id), '{}') into v_deleted from gone;

  return jsonb_build_object(
    'deleted', (select coalesce(jsonb_agg(i order by n), '[]'::jsonb)
                from (select i, min(n) as n from unnest(p_ids) with ordinality u (i, n)
                      where i = any (v_deleted) group by i) d),
    'not_found', (select coalesce(jsonb_agg(i order by n), '[]'::jsonb)
                  from (select i, min(n) as n from unnest(p_ids) with ordinality u (i, n)
                        where not i = any (v_deleted) group by i) d));
end
$$;

grant execute on function api.delete_conversations(uuid[]) to authenticated;

/**
 * One branch of a conversation, a page at a time, oldest first within the page:
 * {items, next_before}. The branch ends at p_leaf_id's newest descendant (the message
 * itself when it is a leaf; a branch switcher passes a sibling), or at the conversation's
 * newest message. next_before (the id of the page's oldest message) asks for the page above
 * it; null at the root. Each item is a message with `siblings`: the ids of the messages
 * sharing its parent, in order, itself included (the "2 / 3" of a branch switcher).
 * SECURITY INVOKER: PT404 when the conversation is not the caller's or is deleted.
 */
create function api.list_messages(
  p_conversation_id uuid,
  p_leaf_id uuid default null,
  p_limit int default 50,
  p_before uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_start uuid;
  v_items jsonb;
  v_count int;
begin
  perform private.caller_id();
  perform private.check_page_limit(p_limit);
  if p_leaf_id is not null and p_before is not null then
    raise exception using errcode = 'PT400', message = 'give leaf_id or before, not both';
  end if;
  perform 1 from public.conversations where id = p_conversation_id and deleted_at is null;
  if not found then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;

  if p_before is not null then
    select parent_id into v_start from public.messages where id = p_before and conversation_id = p_conversation_id;
    if not found then
      raise exception using errcode = 'PT400', message = 'cursor is not valid';
    end if;
  elsif p_leaf_id is not null then
    perform 1 from public.messages where id = p_leaf_id and conversation_id = p_conversation_id;
    if not found then
      raise exception using errcode = 'PT404', message = 'message not found';
    end if;
    with recursive subtree as (
      select id, seq from public.messages where id = p_leaf_id
      union all
      select m.id, m.seq from subtree s
      join public.messages m on m.conversation_id = p_conversation_id and m.parent_id = s.id
    )
    select id into v_start from subtree order by seq desc limit 1;
  else
    select id into v_start from public.messages where conversation_id = p_conversation_id order by seq desc limit 1;
  end if;

  -- One message more than asked tells whether a page above exists.
  with recursive branch as (
    select id, parent_id, 1 as n from public.messages where id = v_start
    union all
    select m.id, m.parent_id, b.n + 1 from branch b join public.messages m on m.id = b.parent_id
    where b.n <= p_limit
  )
  select coalesce(jsonb_agg(private.message_json(m) || jsonb_build_object('siblings', (
             select jsonb_agg(s.id order by s.seq) from public.messages s
             where s.conversation_id = m.conversation_id
               and (s.parent_id = m.parent_id or (m.parent_id is null and s.parent_id is null))))
           order by b.n desc) filter (where b.n <= p_limit), '[]'::jsonb),
         count(*)
  into v_items, v_count
  from branch b join public.messages m on m.id = b.id;

  return jsonb_build_object('items', v_items,
    'next_before', case when v_count > p_limit then v_items -> 0 -> 'id' end);
end
$$;

grant execute on function api.list_messages(uuid, uuid, int, uuid) to authenticated;

/**
 * Gives a conversation its automatic title (the function writes it after the first reply)
 * unless it already has one: a title the user chose is never replaced. Returns the
 * conversation. Service role only; SECURITY INVOKER (the service role's column grant).
 */
create function api.set_title(p_conversation_id uuid, p_title text) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  c public.conversations;
begin
  if p_title is null or char_length(btrim(p_title)) not between 1 and private.input_limit('title_chars') then
    raise exception using errcode = 'PT400',
      message = format('title must be 1 to %s characters', private.input_limit('title_chars'));
  end if;
  update public.conversations set title = btrim(p_title)
  where id = p_conversation_id and title is null
  returning * into c;
  if not found then
    select * into c from public.conversations where id = p_conversation_id;
    if not found then
      raise exception using errcode = 'PT404', message = 'conversation not found';
    end if;
  end if;
  return private.conversation_json(c);
end
$$;

grant execute on function api.set_title(uuid, text) to service_role;

/** Memories API */

/**
 * The caller's memories, newest first: all of them, or only the active (p_active true) or
 * inactive ones. At most memories_max exist, so there is one page. SECURITY INVOKER.
 */
create function api.list_memories(p_active boolean default null) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
begin
  return jsonb_build_object('items', (
    select coalesce(jsonb_agg(private.memory_json(m) order by m.created_at desc, m.id desc), '[]'::jsonb)
    from public.memories m
    where m.user_id = v_uid and (p_active is null or m.active = p_active)));
end
$$;

grant execute on function api.list_memories(boolean) to authenticated;

/**
 * Saves a memory for the caller, active. p_conversation_id names the conversation it sums
 * up (one of the caller's), which makes its source `conversation`. PT400 past memories_max
 * (checked without a lock: two saves at once may pass it by one; it bounds storage, not
 * money). SECURITY INVOKER: the insert policy checks the owner of both.
 */
create function api.create_memory(p_content text, p_conversation_id uuid default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  m public.memories;
begin
  if p_content is null or char_length(btrim(p_content)) not between 1 and private.input_limit('memory_chars') then
    raise exception using errcode = 'PT400',
      message = format('content must be 1 to %s characters', private.input_limit('memory_chars'));
  end if;
  if p_conversation_id is not null
     and not exists (select 1 from public.conversations where id = p_conversation_id and deleted_at is null) then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;
  if (select count(*) from public.memories where user_id = v_uid) >= private.input_limit('memories_max') then
    raise exception using errcode = 'PT400', message = format(
      'you have %s memories, the most there can be: delete one first', private.input_limit('memories_max'));
  end if;
  insert into public.memories (user_id, content, source, conversation_id)
  values (v_uid, btrim(p_content), case when p_conversation_id is null then 'user' else 'conversation' end,
    p_conversation_id)
  returning * into m;
  return private.memory_json(m);
end
$$;

grant execute on function api.create_memory(text, uuid) to authenticated;

/**
 * Changes one of the caller's memories: {content?, active?} (000's toggle); any other key
 * is PT400, PT404 when it is not the caller's. SECURITY INVOKER.
 */
create function api.update_memory(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_key text;
  m public.memories;
begin
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400', message = 'the patch must be a JSON object with content or active';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('content', 'active') then
      raise exception using errcode = 'PT400',
        message = format('unknown field: %s (content and active can be changed)', left(v_key, 64));
    end if;
  end loop;
  if p_patch ? 'active' and jsonb_typeof(p_patch -> 'active') <> 'boolean' then
    raise exception using errcode = 'PT400', message = 'active must be true or false';
  end if;
  if p_patch ? 'content' and (jsonb_typeof(p_patch -> 'content') <> 'string'
     or char_length(btrim(p_patch ->> 'content')) not between 1 and private.input_limit('memory_chars')) then
    raise exception using errcode = 'PT400',
      message = format('content must be 1 to %s characters', private.input_limit('memory_chars'));
  end if;

  update public.memories set
    content = coalesce(btrim(p_patch ->> 'content'), content),
    active = coalesce((p_patch ->> 'active')::boolean, active)
  where id = p_id and user_id = v_uid
  returning * into m;
  if not found then
    raise exception using errcode = 'PT404', message = 'memory not found';
  end if;
  return private.memory_json(m);
end
$$;

grant execute on function api.update_memory(uuid, jsonb) to authenticated;

/**
 * Deletes one of the caller's memories for good (it is no money history); returns {id}.
 * PT404 when it is not the caller's. SECURITY INVOKER.
 */
create function api.delete_memory(p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_id uuid;
begin
  delete from public.memories where id = p_id and user_id = v_uid returning id into v_id;
  if v_id is null then
    raise exception using errcode = 'PT404', message = 'memory not found';
  end if;
  return jsonb_build_object('id', v_id);
end
$$;

grant execute on function api.delete_memory(uuid) to authenticated;

/** Prompt templates API */

/**
 * The templates the caller can use, the public ones and their own, by name, keyset-paged on
 * (name, id); p_category narrows them. Each says whether it is public. SECURITY INVOKER:
 * the select policy decides, so nobody sees another user's private template.
 */
create function api.list_prompt_templates(
  p_category text default null,
  p_limit int default 50,
  p_cursor_name text default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_items jsonb;
begin
  perform private.caller_id();
  perform private.check_page_limit(p_limit);
  if (p_cursor_name is null) <> (p_cursor_id is null) then
    raise exception using errcode = 'PT400', message = 'cursor is not valid';
  end if;

  with page as (
    select * from public.prompt_templates t
    where (p_category is null or t.category = p_category)
      and (p_cursor_id is null or (t.name, t.id) > (p_cursor_name, p_cursor_id))
    order by t.name, t.id
    limit p_limit + 1
  )
  select coalesce(jsonb_agg(private.template_json(page) order by page.name, page.id), '[]'::jsonb)
  into v_items
  from page;

  return private.keyset_page(v_items, p_limit, array['name', 'id']);
end
$$;

grant execute on function api.list_prompt_templates(text, int, text, uuid) to authenticated;

/**
 * PT400 unless a template's fields are within their limits (null: not given).
 */
create function private.check_template(p_name text, p_content text, p_description text, p_category text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if char_length(btrim(p_name)) not between 1 and private.input_limit('template_name_chars') then
    raise exception using errcode = 'PT400',
      message = format('name must be 1 to %s characters', private.input_limit('template_name_chars'));
  end if;
  if char_length(btrim(p_content)) not between 1 and private.input_limit('system_prompt_chars') then
    raise exception using errcode = 'PT400',
      message = format('content must be 1 to %s characters', private.input_limit('system_prompt_chars'));
  end if;
  if char_length(btrim(p_description)) not between 1 and private.input_limit('template_description_chars') then
    raise exception using errcode = 'PT400',
      message = format('description must be 1 to %s characters', private.input_limit('template_description_chars'));
  end if;
  if char_length(btrim(p_category)) not between 1 and private.input_limit('template_category_chars') then
    raise exception using errcode = 'PT400',
      message = format('category must be 1 to %s characters', private.input_limit('template_category_chars'));
  end if;
end
$$;

grant execute on function private.check_template(text, text, text, text) to authenticated;

/**
 * Saves a template: the caller's own, or (p_public, admins only: PT403 otherwise) one every
 * user reads. SECURITY INVOKER: the insert policy enforces the same.
 */
create function api.create_prompt_template(
  p_name text,
  p_content text,
  p_description text default null,
  p_category text default null,
  p_public boolean default false
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := case when p_public then private.require_admin() else private.require_user() end;
  t public.prompt_templates;
begin
  if p_name is null or p_content is null then
    raise exception using errcode = 'PT400', message = 'name and content are required';
  end if;
  perform private.check_template(p_name, p_content, p_description, p_category);
  insert into public.prompt_templates (user_id, name, content, description, category)
  values (case when p_public then null else v_uid end, btrim(p_name), btrim(p_content),
    btrim(p_description), btrim(p_category))
  returning * into t;
  return private.template_json(t);
end
$$;

grant execute on function api.create_prompt_template(text, text, text, text, boolean) to authenticated;

/**
 * Changes a template: {name?, content?, description?, category?} (null clears description
 * or category); any other key is PT400. The caller's own, or a public one for admins:
 * PT403 for a public template and a non-admin, PT404 when the caller cannot see it.
 * SECURITY INVOKER.
 */
create function api.update_prompt_template(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_key text;
  t public.prompt_templates;
begin
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400',
      message = 'the patch must be a JSON object with name, content, description or category';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('name', 'content', 'description', 'category') then
      raise exception using errcode = 'PT400', message = format(
        'unknown field: %s (name, content, description and category can be changed)', left(v_key, 64));
    elsif jsonb_typeof(p_patch -> v_key) not in ('string', 'null')
       or (v_key in ('name', 'content') and jsonb_typeof(p_patch -> v_key) = 'null') then
      raise exception using errcode = 'PT400', message = format('%s must be a string', v_key);
    end if;
  end loop;
  perform private.check_template(p_patch ->> 'name', p_patch ->> 'content',
    p_patch ->> 'description', p_patch ->> 'category');

  select * into t from public.prompt_templates where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'template not found';
  elsif t.user_id is null and not private.is_admin(v_uid) then
    raise exception using errcode = 'PT403', message = 'only admins can change public templates';
  end if;
  update public.prompt_templates set
    name = coalesce(btrim(p_patch ->> 'name'), name),
    content = coalesce(btrim(p_patch ->> 'content'), content),
    description = case when p_patch ? 'description' then btrim(p_patch ->> 'description') else description end,
    category = case when p_patch ? 'category' then btrim(p_patch ->> 'category') else category end
  where id = t.id
  returning * into t;
  return private.template_json(t);
end
$$;

grant execute on function api.update_prompt_template(uuid, jsonb) to authenticated;

/**
 * Deletes a template (the caller's own, or a public one for admins; PT403 / PT404 as
 * update_prompt_template); conversations made from it keep their system prompt. Returns
 * {id}. SECURITY INVOKER.
 */
create function api.delete_prompt_template(p_id uuid) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  t public.prompt_templates;
begin
  select * into t from public.prompt_templates where id = p_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'template not found';
  elsif t.user_id is null and not private.is_admin(v_uid) then
    raise exception using errcode = 'PT403', message = 'only admins can delete public templates';
  end if;
  delete from public.prompt_templates where id = t.id;
  return jsonb_build_object('id', t.id);
end
$$;

grant execute on function api.delete_prompt_template(uuid) to authenticated;

/** Schedule */

-- The stuck-reply sweep joins the others (sweeps migration), when pg_cron is there.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform private.schedule_sweeps();
  end if;
end
$$;

/** Lock down */

revoke execute on all functions in schema api, private from public;
