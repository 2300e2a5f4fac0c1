/**
 * Automatic conversation titles: after a conversation's first reply the chat function asks
 * a model for a short title, billed like any reply (a hold at list price, settled at the
 * tokens used, exactly once) or free by configuration.
 *
 * Life of a title (the function drives it, SQL decides everything that costs):
 *   api.begin_title    service role, right after a reply finished complete: null when there
 *                      is nothing to do; else records a title job, holds its credits and
 *                      returns the provider request (begin_reply's `request` shape);
 *   api.finish_title   service role, exactly once: cleans the model's text, titles the
 *                      conversation unless it has a title by then, settles the hold, writes
 *                      the usage event and the conversation's counters; one transaction;
 *   api.sweep_stuck_replies (chat migration) also fails the title jobs whose function died.
 *
 * Configuration (private.chat_config, changed by the operator with SQL):
 *   titles_enabled  true: automatic titles on;
 *   titles_free     false: titles are charged like replies; true: no hold, the usage
 *                   event still records the tokens, at 0 credits;
 *   title_model     null: the conversation's model; else a chat model to title with (when
 *                   it is not an available chat model, the conversation's is used).
 *   history_embeddings_free  true: embedding messages for history search is recorded (tokens,
 *                   cost) but not charged (see the files migration).
 *
 * Lock order, as in the chat migration: credit account, then title job, then conversation.
 */

/** Configuration */

/**
 * The operator's chat switches, one row per key, each of a fixed type. Seeded with every
 * key, so a reader never guesses a default. Private: no API role reads or writes it; the
 * operator changes it with SQL, e.g.
 *   update private.chat_config set value = 'true' where key = 'titles_free';
 */
create table private.chat_config (
  key text primary key,
  value jsonb not null,
  updated_at timestamptz not null default now(),
  constraint chat_config_value check (case key
    when 'titles_enabled' then jsonb_typeof(value) = 'boolean'
    when 'titles_free' then jsonb_typeof(value) = 'boolean'
    when 'title_model' then jsonb_typeof(value) in ('string', 'null')
    -- Read by the files migration: whether embedding chat history for search is charged.
    when 'history_embeddings_free' then jsonb_typeof(value) = 'boolean'
    else false
  end)
);

insert into private.chat_config (key, value) values
  ('titles_enabled', 'true'),
  ('titles_free', 'false'),
  ('title_model', 'null'),
  ('history_embeddings_free', 'true');

create trigger chat_config_touch_updated_at
  before update on private.chat_config
  for each row execute function private.touch_updated_at();

alter table private.chat_config enable row level security;
revoke all on private.chat_config from anon, authenticated, service_role;

/**
 * One configuration value by key; a missing key is a bug (every key is seeded), so it
 * fails loudly rather than returning null.
 */
create function private.chat_config(p_key text) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_value jsonb;
begin
  select value into v_value from private.chat_config where key = p_key;
  if v_value is null then
    raise exception 'unknown chat configuration key %', p_key;
  end if;
  return v_value;
end
$$;

/** Title jobs */

create table public.conversation_title_jobs (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  -- The conversation's owner (whose credits pay), so that RLS reads no other table.
  user_id uuid not null references public.profiles (id) on delete cascade,
  status text not null default 'running' check (status in ('running', 'complete', 'failed')),
  -- The model asked (token pool name and our model name) and the price it was reserved at.
  provider text not null,
  model text not null references public.ai_models (model),
  pricing_id bigint not null references public.pricing (id),
  -- Charged as the prompt's tokens when the provider reports none.
  prompt_tokens_estimate int not null check (prompt_tokens_estimate >= 0),
  -- 0 and no hold when titles are free (or the price is 0).
  credits_reserved bigint not null check (credits_reserved >= 0),
  hold_id uuid references public.credit_holds (id),
  -- The cleaned title the model wrote; null while running, when it failed, or when its
  -- text cleaned to nothing.
  title text,
  tokens_in int check (tokens_in >= 0),
  tokens_out int check (tokens_out >= 0),
  cost_usd numeric(14, 6),
  credits bigint check (credits >= 0),
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  constraint conversation_title_jobs_charge check (credits is null or credits <= credits_reserved),
  constraint conversation_title_jobs_ended check ((status = 'running') = (completed_at is null))
);

-- One running or done job per conversation: begin_title checks it under the account lock,
-- this makes it a rule. A failed job leaves room for another try after a later reply.
create unique index conversation_title_jobs_one_idx
  on public.conversation_title_jobs (conversation_id) where status <> 'failed';
-- The stuck sweep: only running jobs enter it.
create index conversation_title_jobs_running_idx
  on public.conversation_title_jobs (created_at) where status = 'running';

alter table public.conversation_title_jobs enable row level security;

create policy "Users can view their own title jobs"
  on public.conversation_title_jobs for select to authenticated
  using (user_id = (select auth.uid()));

-- Only begin_title and finish_title (SECURITY DEFINER) write it.
revoke all on public.conversation_title_jobs from anon, authenticated, service_role;
grant select on public.conversation_title_jobs to authenticated, service_role;

-- A title is billed once, like a reply.
alter table public.usage_events add column title_id uuid
  constraint usage_events_title_fk references public.conversation_title_jobs (id) on delete set null;
create unique index usage_events_title_idx on public.usage_events (title_id);

/** Helpers (private) */

/**
 * A model's answer made a title, or null when nothing is left: its first line with text;
 * without surrounding quotes, emphasis (* _ `), a leading heading mark (#, kept at the end:
 * "C#"), a "Title:" prefix and one trailing period (an ellipsis stays), repeated until
 * none is left ("**Title: "Tea".**" is Tea); whitespace collapsed; cut to title_chars, the
 * limit of every title (set_title, update_conversation).
 */
create function private.clean_title(p_text text) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_title text;
  v_before text;
begin
  -- Models sometimes open with a blank line. A title is short: the first 1000 characters
  -- hold it.
  select t.line into v_title
  from regexp_split_to_table(left(p_text, 1000), E'\r?\n') with ordinality t (line, n)
  where t.line ~ '\S'
  order by t.n
  limit 1;
  if v_title is null then
    return null;
  end if;
  loop
    v_before := v_title;
    v_title := regexp_replace(v_title, '^[\s"''“”‘’«»„*_`#]+', '');
    v_title := regexp_replace(v_title, '[\s"''“”‘’«»*_`]+$', '');
    v_title := regexp_replace(v_title, '^title\s*:\s*', '', 'i');
    v_title := regexp_replace(v_title, '(?<!\.)[.。]$', '');
    exit when v_title = v_before;
  end loop;
  v_title := rtrim(left(btrim(regexp_replace(v_title, '\s+', ' ', 'g')), private.input_limit('title_chars')::int));
  return nullif(v_title, '');
end
$$;

/**
 * Finishes a running title job exactly once: keeps the cleaned title, gives it to the
 * conversation when it still has none (a title the user set meanwhile wins), settles the
 * hold, writes the usage event and the conversation's counters. Returns null when the job
 * had already ended. The charge follows private.finish_reply's rules: the provider's
 * counts, else the prompt's estimate and the estimate of p_title; at the reserved price,
 * rounded up, capped by the hold (so a free title, which reserved 0, charges 0 and still
 * records its tokens); a failed job with no text and no counts is free and writes no
 * usage. A failed job never titles the conversation. Locks the account, then the job.
 */
create function private.finish_title(
  p_title_id uuid,
  p_title text,
  p_tokens_in int,
  p_tokens_out int,
  p_failed boolean
) returns public.conversation_title_jobs
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_workspace_id uuid;
  v_account public.credit_accounts;
  j public.conversation_title_jobs;
  v_price public.pricing;
  v_in int;
  v_out int;
  v_charge bigint := 0;
  v_cost numeric := 0;
begin
  select t.user_id, w.workspace_id into v_user_id, v_workspace_id
  from public.conversation_title_jobs t join public.conversations w on w.id = t.conversation_id
  where t.id = p_title_id;
  if v_user_id is null then
    raise exception using errcode = 'PT404', message = 'title job not found';
  end if;
  v_account := private.lock_billing_account(v_user_id, v_workspace_id);
  select * into j from public.conversation_title_jobs where id = p_title_id for update;
  if j.status <> 'running' then
    return null;
  end if;

  if not (p_failed and p_tokens_in is null and p_tokens_out is null and btrim(coalesce(p_title, '')) = '') then
    select * into v_price from public.pricing where id = j.pricing_id;
    v_in := coalesce(p_tokens_in, j.prompt_tokens_estimate);
    v_out := coalesce(p_tokens_out, private.estimate_tokens(p_title));
    v_charge := least(ceil((v_in * v_price.credits_per_unit
      + v_out * coalesce(v_price.credits_per_output_unit, v_price.credits_per_unit)) / 1000)::bigint, j.credits_reserved);
    v_cost := round((v_in * v_price.usd_per_unit
      + v_out * coalesce(v_price.usd_per_output_unit, v_price.usd_per_unit)) / 1000, 6);
  end if;
  -- A hold the hold sweep already released charges nothing.
  if j.hold_id is not null
     and private.resolve_hold(j.hold_id, nullif(v_charge, 0), null,
           'title ' || case when p_failed then 'failed' else 'complete' end) is null then
    v_charge := 0;
  end if;

  if v_in is not null then
    insert into public.usage_events (user_id, account_id, title_id, action, provider, model,
      units, tokens_in, tokens_out, credits, cost_usd)
    values (j.user_id, v_account.id, j.id, v_price.action, j.provider, j.model,
      round((v_in + v_out) / 1000.0, 6), v_in, v_out, v_charge, v_cost);
  end if;

  update public.conversation_title_jobs set
    status = case when p_failed then 'failed' else 'complete' end,
    title = case when not p_failed then private.clean_title(p_title) end,
    tokens_in = v_in,
    tokens_out = v_out,
    cost_usd = v_cost,
    credits = v_charge,
    completed_at = now()
  where id = j.id
  returning * into j;

  update public.conversations set
    title = coalesce(title, j.title),
    tokens_in = tokens_in + coalesce(v_in, 0),
    tokens_out = tokens_out + coalesce(v_out, 0),
    credits = credits + v_charge
  where id = j.conversation_id and (v_in is not null or j.title is not null);
  return j;
end
$$;

/** Titles API */

/**
 * Starts the automatic title of a conversation, right after a reply finished complete.
 * Returns null, writing nothing, when there is nothing to do: the conversation has a
 * title, is deleted, has a title job running or done (a failed one may be tried again),
 * has no complete reply with text yet; titles are off (chat_config titles_enabled); the
 * owner is disabled; no available chat model is left to ask, or the prompt does not fit
 * its window; or the owner's available credits do not cover the hold (a title is a
 * nicety, never an error). PT404 for a conversation that does not exist.
 *
 * The prompt: a system prompt asking for a short title, and one user message holding the
 * first reply with text and the user message it answered, each cut to 1000 characters.
 * The model: chat_config title_model when it is an available chat model, else the
 * conversation's. Reserved, unless titles are free (chat_config titles_free): ceil((the
 * prompt's estimated tokens x input rate + max_tokens x output rate) / 1000) at the
 * model's list price, as begin_reply reserves.
 *
 * Returns {title_id, request: {protocol, provider, model (the provider's name), system,
 * messages [{role, content}], max_tokens, temperature}, credits_reserved}: begin_reply's
 * request shape. Service role only; SECURITY DEFINER: it writes holds, the ledger and jobs.
 */
create function api.begin_title(p_conversation_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- A title is a few words: 24 tokens hold them in every language.
  v_max_tokens_cap constant int := 24;
  -- Low: a title should be the obvious one, not a creative one.
  v_temperature constant jsonb := '0.2';
  v_excerpt_chars constant int := 1000;
  v_system constant text := 'You name conversations. Reply with a title for the conversation below: '
    || 'at most 6 words, in the language the user writes in, without quotes or a trailing period. '
    || 'Reply with the title only.';
  -- As private.reply_context counts: 4 tokens of framing per message, 3 to prime the reply.
  v_per_message constant int := 4;
  v_priming constant int := 3;
  v_user_id uuid;
  v_workspace_id uuid;
  v_account public.credit_accounts;
  c public.conversations;
  v_reply public.messages;
  v_question text;
  v_candidate text;
  v_price public.pricing;
  v_model public.ai_models;
  v_content text;
  v_max_tokens int;
  v_prompt_tokens int;
  v_credits bigint := 0;
  v_hold_id uuid;
  j public.conversation_title_jobs;
begin
  select user_id, workspace_id into v_user_id, v_workspace_id from public.conversations where id = p_conversation_id;
  if v_user_id is null then
    raise exception using errcode = 'PT404', message = 'conversation not found';
  end if;
  -- Every begin_title on one account serializes here, so "a job running or done" is checked
  -- once at a time.
  v_account := private.lock_billing_account(v_user_id, v_workspace_id);
  select * into c from public.conversations where id = p_conversation_id;
  if c.title is not null or c.deleted_at is not null
     or not (private.chat_config('titles_enabled'))::boolean
     or not (select is_active from public.profiles where id = c.user_id)
     or exists (select 1 from public.conversation_title_jobs where conversation_id = c.id and status <> 'failed') then
    return null;
  end if;

  select * into v_reply from public.messages
  where conversation_id = c.id and role = 'assistant' and status = 'complete' and btrim(content) <> ''
  order by seq
  limit 1;
  if not found then
    return null;
  end if;
  select content into v_question from public.messages where id = v_reply.parent_id;

  foreach v_candidate in array array[private.chat_config('title_model') #>> '{}', c.model] loop
    continue when v_candidate is null;
    begin
      v_price := private.chat_price(v_candidate);
      exit;
    exception when sqlstate 'PT400' then
      -- Not an available chat model: the next candidate.
      null;
    end;
  end loop;
  if v_price.id is null then
    return null;
  end if;
  select * into strict v_model from public.ai_models where model = v_price.model;

  v_content := format(E'User: %s\n\nAssistant: %s',
    case when char_length(v_question) > v_excerpt_chars then left(v_question, v_excerpt_chars) || '…'
      else coalesce(v_question, '') end,
    case when char_length(v_reply.content) > v_excerpt_chars then left(v_reply.content, v_excerpt_chars) || '…'
      else v_reply.content end);
  v_max_tokens := least(v_max_tokens_cap, v_model.max_output_tokens);
  v_prompt_tokens := v_priming + private.estimate_tokens(v_system) + v_per_message
    + private.estimate_tokens(v_content) + v_per_message;
  if v_prompt_tokens + v_max_tokens > v_model.context_window then
    return null;
  end if;

  if not (private.chat_config('titles_free'))::boolean then
    v_credits := ceil((v_prompt_tokens * v_price.credits_per_unit
      + v_max_tokens * coalesce(v_price.credits_per_output_unit, v_price.credits_per_unit)) / 1000)::bigint;
    if v_credits > v_account.balance - v_account.held then
      return null;
    end if;
  end if;
  if v_credits > 0 then
    -- As a reply's: the stuck sweep ends a title job 15 minutes in, long before this expires.
    v_hold_id := (private.place_hold(v_account.id, v_credits, null, now() + interval '1 hour', c.user_id)).id;
  end if;

  insert into public.conversation_title_jobs (conversation_id, user_id, provider, model, pricing_id,
    prompt_tokens_estimate, credits_reserved, hold_id)
  values (c.id, c.user_id, v_model.provider, v_model.model, v_price.id, v_prompt_tokens, v_credits, v_hold_id)
  returning * into j;

  return jsonb_build_object(
    'title_id', j.id,
    'request', jsonb_build_object(
      'protocol', v_model.protocol,
      'provider', v_model.provider,
      'model', v_model.provider_ref,
      'system', v_system,
      'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', v_content)),
      'max_tokens', v_max_tokens,
      'temperature', v_temperature),
    'credits_reserved', v_credits);
end
$$;

grant execute on function api.begin_title(uuid) to service_role;

/**
 * Ends a title job (see private.finish_title for what is charged): p_title the model's
 * whole answer (cleaned here: private.clean_title), p_tokens_in / p_tokens_out what the
 * provider reported, if it did; p_failed when the provider failed (p_title then is what
 * came, if anything). Exactly once: a call for a job that already ended changes nothing
 * and returns as the first did. Returns {title (the conversation's title now),
 * credits_charged}. PT404 for an unknown job. Service role only.
 */
create function api.finish_title(
  p_title_id uuid,
  p_title text,
  p_tokens_in int default null,
  p_tokens_out int default null,
  p_failed boolean default false
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  j public.conversation_title_jobs;
begin
  if p_tokens_in < 0 or p_tokens_out < 0 then
    raise exception using errcode = 'PT400', message = 'token counts must not be negative';
  end if;
  j := private.finish_title(p_title_id, p_title, p_tokens_in, p_tokens_out, coalesce(p_failed, false));
  if j.id is null then
    select * into j from public.conversation_title_jobs where id = p_title_id;
  end if;
  return jsonb_build_object(
    'title', (select title from public.conversations where id = j.conversation_id),
    'credits_charged', j.credits);
end
$$;

grant execute on function api.finish_title(uuid, text, int, int, boolean) to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
