/**
 * Models and pricing: which models exist and where they run, the parameters each accepts,
 * and the one active price of each; the private helpers that validate a client's params,
 * derive the billable units from them and price them, and api.quote.
 *
 * Chat models (kind `chat`) are rows here too: the protocol the function speaks to them,
 * the token pool's provider name, the provider's model name, the context window and the
 * longest reply, and one price with separate rates for input and output tokens. They are
 * priced per reply by the chat migration (begin_reply / finish_reply), never through
 * private.price.
 *
 * The server decides what anything costs: units come from the validated parameters, never
 * from the client, and what reaches a provider or a worker (private.provider_input) is
 * exactly what was priced.
 */

-- The pricing table's one-active-price exclusion constraint needs GiST on text equality.
create extension if not exists btree_gist with schema extensions;

/** Models and prices */

create table public.ai_models (
  model text primary key check (model ~ '^[a-z0-9][a-z0-9._:/-]{0,127}$'),
  kind text not null check (kind in ('image', 'video', 'audio', 'music', 'text', 'tts', 'chat')),
  -- Who serves it, by the token pool's name (provider_tokens.provider): replicate, openai,
  -- anthropic, openrouter, groq, ...; `gpu` is our own workers.
  provider text not null check (provider ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  -- How the function talks to it: Replicate predictions, the GPU queue, or a chat API
  -- (OpenAI's chat completions, which OpenAI, OpenRouter, Groq, DeepSeek, Mistral, Together
  -- and Gemini's compatible endpoint all speak; Anthropic's Messages API).
  protocol text not null check (protocol in ('replicate', 'gpu', 'openai_chat', 'anthropic_messages')),
  -- The provider's name for the model (a chat request's `model`).
  provider_ref text,
  -- The queue task type a GPU worker claims for this model.
  task_type text,
  -- The most units one generation may reserve.
  max_units numeric check (max_units > 0),
  -- The provider's name for the prompt input (Replicate's TTS models call it `text`).
  prompt_param text not null default 'prompt' check (prompt_param ~ '^[a-z][a-z0-9_]{0,63}$'),
  -- Billable units per unit of the unit-driving parameter: for a GPU model priced per
  -- second of GPU time, the budgeted GPU seconds per second of video asked for.
  units_per_value numeric not null default 1 check (units_per_value > 0),
  -- Chat models: the most tokens one request may hold (prompt and reply together), and the
  -- longest reply the model can write (the upper bound of a conversation's max_tokens).
  context_window int check (context_window > 0),
  max_output_tokens int check (max_output_tokens > 0 and max_output_tokens < context_window),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  constraint ai_models_gpu_task check (protocol <> 'gpu' or task_type is not null),
  -- Replicate and the GPU queue are their own providers and make generations; the chat
  -- protocols make chat replies and nothing else.
  constraint ai_models_protocol check (case protocol
    when 'gpu' then provider = 'gpu' and kind <> 'chat'
    when 'replicate' then provider = 'replicate' and kind <> 'chat'
    else kind = 'chat'
  end),
  constraint ai_models_chat_limits check ((kind = 'chat') = (context_window is not null
    and max_output_tokens is not null and provider_ref is not null))
);

comment on table public.ai_models is
  'What each model is, where it runs, and how its billable units follow from its parameters.';

/**
 * The parameters a model accepts: an allow-list (an unknown key is refused), with types,
 * ranges and defaults. At most one parameter drives the units (image count, seconds,
 * max tokens); see private.billable_units. A safety override is accepted only where the
 * model lists it. A `file` parameter takes the id of one of the caller's uploads
 * (public.uploads) of a type that `allowed` lists, matched as Storage matches a bucket's
 * allowed_mime_types (private.mime_allowed); the provider gets a signed URL of it.
 */
create table public.model_parameters (
  model text not null references public.ai_models (model) on delete cascade,
  name text not null check (name ~ '^[a-z][a-z0-9_]{0,63}$'),
  type text not null check (type in ('integer', 'number', 'boolean', 'string', 'enum', 'file')),
  minimum numeric,
  maximum numeric,
  max_length int check (max_length > 0),
  allowed jsonb check (jsonb_typeof(allowed) = 'array'),
  -- Sent when the client gives none; null means the parameter is optional and omitted.
  default_value jsonb,
  -- The provider's or worker's name for it, when it differs.
  provider_name text check (provider_name ~ '^[a-z][a-z0-9_]{0,63}$'),
  drives_units boolean not null default false,
  primary key (model, name),
  constraint model_parameters_shape check (case type
    when 'integer' then minimum is not null and maximum >= minimum
    when 'number' then minimum is not null and maximum >= minimum
    when 'string' then max_length is not null
    when 'enum' then jsonb_array_length(allowed) > 0
    -- No default: an upload is the caller's own, never the model's.
    when 'file' then jsonb_array_length(allowed) > 0 and default_value is null
    else true
  end),
  constraint model_parameters_driver check (not drives_units or type = 'integer' or type = 'number')
);

create unique index model_parameters_one_driver_idx on public.model_parameters (model) where drives_units;

create table public.pricing (
  id bigint generated always as identity primary key,
  action text not null check (action ~ '^[a-z0-9_.]{1,64}$'),
  model text not null references public.ai_models (model),
  -- `step`: a training run's optimizer steps, which its `steps` parameter fixes.
  unit text not null check (unit in ('image', 'second', '1k_tokens', 'request', 'character', 'minute', 'step')),
  credits_per_unit numeric(20, 6) not null check (credits_per_unit >= 0),
  usd_per_unit numeric(20, 8) not null check (usd_per_unit >= 0),
  -- Output tokens, where they cost more than input tokens (every chat provider's list
  -- price): credits_per_unit and usd_per_unit are then the input rates. Null: one rate.
  credits_per_output_unit numeric(20, 6) check (credits_per_output_unit >= 0),
  usd_per_output_unit numeric(20, 8) check (usd_per_output_unit >= 0),
  active_from timestamptz not null default now(),
  active_to timestamptz,
  constraint pricing_window check (active_to is null or active_to > active_from),
  constraint pricing_output_rates check ((credits_per_output_unit is null) = (usd_per_output_unit is null)
    and (credits_per_output_unit is null or unit = '1k_tokens')),
  -- At most one price per model at any instant: the model decides the action and the
  -- price, so a client cannot pick the cheaper of two.
  constraint pricing_one_active_price exclude using gist (
    model with =, tstzrange(active_from, active_to) with &&
  )
);

create index pricing_model_idx on public.pricing (model);

alter table public.ai_models enable row level security;
alter table public.model_parameters enable row level security;
alter table public.pricing enable row level security;

create policy "Authenticated users can view models"
  on public.ai_models for select to authenticated
  using (true);

create policy "Authenticated users can view model parameters"
  on public.model_parameters for select to authenticated
  using (true);

create policy "Authenticated users can view prices"
  on public.pricing for select to authenticated
  using (true);

revoke all on public.ai_models, public.model_parameters, public.pricing from anon, authenticated, service_role;
grant select on public.ai_models, public.model_parameters, public.pricing to authenticated, service_role;

-- 1 credit = USD 0.001. Reference data, not fixtures: prices change by closing a
-- window (active_to) and inserting a new row, never by UPDATE of credits_per_unit.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, task_type, max_units, prompt_param, units_per_value) values
  ('flux-schnell', 'image', 'replicate', 'replicate', 'black-forest-labs/flux-schnell', null, 4, 'prompt', 1),
  ('flux-1.1-pro', 'image', 'replicate', 'replicate', 'black-forest-labs/flux-1.1-pro', null, 1, 'prompt', 1),
  -- Text-to-image, or image-to-image when given an uploaded `image`.
  ('flux-dev', 'image', 'replicate', 'replicate', 'black-forest-labs/flux-dev', null, 4, 'prompt', 1),
  ('kokoro-82m', 'tts', 'replicate', 'replicate', 'jaaari/kokoro-82m', null, 20000, 'text', 1),
  ('musicgen', 'music', 'replicate', 'replicate', 'meta/musicgen', null, 120, 'prompt', 1),
  ('llama-3-8b-instruct', 'text', 'replicate', 'replicate', 'meta/meta-llama-3-8b-instruct', null, 64, 'prompt', 1),
  -- Budget: 60 s of GPU time per second of video.
  ('wan-2.1-gpu', 'video', 'gpu', 'gpu', 'wan-2.1-t2v-14b', 'wan_video', 1800, 'prompt', 60);

-- Chat models, with the windows and reply limits their providers document.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens) values
  ('gpt-4o-mini', 'chat', 'openai', 'openai_chat', 'gpt-4o-mini', 128000, 16384),
  ('claude-3-5-haiku', 'chat', 'anthropic', 'anthropic_messages', 'claude-3-5-haiku-20241022', 200000, 8192);

-- The parameters of each model as its provider documents them, narrowed to what we sell:
-- no safety overrides (disable_safety_checker, safety_tolerance) on any of them.
insert into public.model_parameters
  (model, name, type, minimum, maximum, max_length, allowed, default_value, provider_name, drives_units) values
  ('flux-schnell', 'num_outputs', 'integer', 1, 4, null, null, '1', null, true),
  ('flux-schnell', 'aspect_ratio', 'enum', null, null, null, '["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]', '"1:1"', null, false),
  ('flux-schnell', 'output_format', 'enum', null, null, null, '["webp", "jpg", "png"]', '"webp"', null, false),
  ('flux-schnell', 'num_inference_steps', 'integer', 1, 4, null, null, '4', null, false),
  ('flux-schnell', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('flux-1.1-pro', 'aspect_ratio', 'enum', null, null, null, '["1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3"]', '"1:1"', null, false),
  ('flux-1.1-pro', 'output_format', 'enum', null, null, null, '["webp", "jpg", "png"]', '"webp"', null, false),
  ('flux-1.1-pro', 'prompt_upsampling', 'boolean', null, null, null, null, 'false', null, false),
  ('flux-1.1-pro', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('flux-dev', 'image', 'file', null, null, null, '["image/jpeg", "image/png", "image/gif", "image/webp"]', null, null, false),
  ('flux-dev', 'prompt_strength', 'number', 0, 1, null, null, '0.8', null, false),
  ('flux-dev', 'num_outputs', 'integer', 1, 4, null, null, '1', null, true),
  ('flux-dev', 'aspect_ratio', 'enum', null, null, null, '["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]', '"1:1"', null, false),
  ('flux-dev', 'output_format', 'enum', null, null, null, '["webp", "jpg", "png"]', '"webp"', null, false),
  ('flux-dev', 'num_inference_steps', 'integer', 1, 50, null, null, '28', null, false),
  ('flux-dev', 'guidance', 'number', 0, 10, null, null, '3', null, false),
  ('flux-dev', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('kokoro-82m', 'voice', 'enum', null, null, null, '["af_bella", "af_nicole", "af_sarah", "am_adam", "am_michael", "bf_emma", "bm_george"]', '"af_bella"', null, false),
  ('kokoro-82m', 'speed', 'number', 0.5, 2, null, null, '1', null, false),
  ('musicgen', 'duration', 'integer', 1, 120, null, null, '8', null, true),
  ('musicgen', 'model_version', 'enum', null, null, null, '["stereo-large", "stereo-melody-large", "melody-large", "large"]', '"stereo-large"', null, false),
  ('musicgen', 'output_format', 'enum', null, null, null, '["wav", "mp3"]', '"wav"', null, false),
  ('musicgen', 'seed', 'integer', 0, 2147483647, null, null, null, null, false),
  ('llama-3-8b-instruct', 'max_tokens', 'integer', 1, 4096, null, null, '512', null, true),
  ('llama-3-8b-instruct', 'system_prompt', 'string', null, null, 4000, null, null, null, false),
  ('llama-3-8b-instruct', 'temperature', 'number', 0, 2, null, null, '0.7', null, false),
  ('llama-3-8b-instruct', 'top_p', 'number', 0, 1, null, null, '0.95', null, false),
  ('wan-2.1-gpu', 'duration', 'integer', 1, 10, null, null, '5', 'duration_seconds', true),
  ('wan-2.1-gpu', 'resolution', 'enum', null, null, null, '["480p", "720p"]', '"480p"', null, false),
  ('wan-2.1-gpu', 'seed', 'integer', 0, 2147483647, null, null, null, null, false);

insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, active_from) values
  ('generate_image', 'flux-schnell', 'image', 5, 0.003, '2026-01-01'),
  ('generate_image', 'flux-1.1-pro', 'image', 60, 0.04, '2026-01-01'),
  ('generate_image', 'flux-dev', 'image', 40, 0.025, '2026-01-01'),
  ('tts', 'kokoro-82m', 'character', 0.02, 0.00001, '2026-01-01'),
  ('generate_music', 'musicgen', 'second', 2, 0.0014, '2026-01-01'),
  ('chat', 'llama-3-8b-instruct', '1k_tokens', 1, 0.0005, '2026-01-01'),
  ('generate_video', 'wan-2.1-gpu', 'second', 0.5, 0.000278, '2026-01-01');

-- Chat: the providers' list prices per 1k input / output tokens (gpt-4o-mini USD 0.15 /
-- 0.60 per million, claude-3-5-haiku USD 0.80 / 4.00), sold at 1.5 times that in credits.
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit,
  credits_per_output_unit, usd_per_output_unit, active_from) values
  ('chat', 'gpt-4o-mini', '1k_tokens', 0.225, 0.00015, 0.9, 0.0006, '2026-01-01'),
  ('chat', 'claude-3-5-haiku', '1k_tokens', 1.2, 0.0008, 6, 0.004, '2026-01-01');

/** Pricing helpers (private) */

/**
 * Whether a MIME type is one that p_allowed lists, matched as Supabase Storage matches a
 * bucket's allowed_mime_types: exactly, or by a `*` subtype; parameters after `;`
 * are ignored; a null list allows every type. The one owner of the rule: upload requests
 * (uploads migration) and `file` parameters ask it.
 */
create function private.mime_allowed(p_mime text, p_allowed text[]) returns boolean
language sql
immutable
set search_path = ''
as $$
  select p_allowed is null or exists (
    select 1
    from unnest(p_allowed) a,
         lateral (select lower(btrim(split_part(p_mime, ';', 1))) as mime) m
    where m.mime = lower(a)
       or (a like '%/*' and split_part(m.mime, '/', 1) = lower(split_part(a, '/', 1))
           and split_part(m.mime, '/', 2) <> '')
  )
$$;

/**
 * A content type as the rules compare it: lower case, without parameters (`; charset=...`);
 * null when it is not a MIME type. The one owner of that shape: uploads, GPU outputs and
 * copies of provider outputs all go through it.
 */
create function private.mime_type(p_content_type text) returns text
language sql
immutable
set search_path = ''
as $$
  select m from (select lower(btrim(split_part(p_content_type, ';', 1))) as m) t
  where m ~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$'
$$;

/**
 * The file extension a stored object gets for its content type (server-chosen paths end
 * with it); `bin` for a type without a common one. Never taken from a client's filename.
 */
create function private.mime_extension(p_content_type text) returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce((
    select m.ext from (values
      ('image/jpeg', 'jpg'), ('image/png', 'png'), ('image/webp', 'webp'), ('image/gif', 'gif'),
      ('image/avif', 'avif'), ('image/heic', 'heic'), ('image/svg+xml', 'svg'),
      ('audio/mpeg', 'mp3'), ('audio/wav', 'wav'), ('audio/x-wav', 'wav'), ('audio/wave', 'wav'),
      ('audio/webm', 'weba'), ('audio/ogg', 'ogg'), ('audio/flac', 'flac'), ('audio/mp4', 'm4a'),
      ('audio/aac', 'aac'),
      ('video/mp4', 'mp4'), ('video/webm', 'webm'), ('video/quicktime', 'mov'),
      ('application/pdf', 'pdf'), ('application/json', 'json'), ('text/plain', 'txt'),
      ('text/markdown', 'md'), ('text/csv', 'csv'), ('text/html', 'html'),
      ('application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx')
    ) m (mime, ext)
    where m.mime = private.mime_type(p_content_type)
  ), 'bin')
$$;

/**
 * The client's params for a model, checked against its declared parameters: unknown keys,
 * wrong types and out-of-range values are PT400 naming the field as the HTTP API does
 * (`params.num_outputs`); missing ones take their default. Returns the validated object,
 * which is what gets stored, priced and sent on.
 */
create function private.validate_params(p_model text, p_params jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_params jsonb := coalesce(p_params, '{}'::jsonb);
  v_out jsonb := '{}'::jsonb;
  v_key text;
  v_value jsonb;
  v_number numeric;
  v_upload_id uuid;
  v_bucket text;
  v_path text;
  v_mime text;
  r public.model_parameters;
begin
  if jsonb_typeof(v_params) <> 'object' then
    raise exception using errcode = 'PT400', message = 'params must be a JSON object';
  end if;
  if octet_length(v_params::text) > private.input_limit('params_bytes') then
    raise exception using errcode = 'PT400',
      message = format('params must be at most %s bytes', private.input_limit('params_bytes'));
  end if;
  for v_key in select jsonb_object_keys(v_params) loop
    if not exists (select 1 from public.model_parameters where model = p_model and name = v_key) then
      raise exception using errcode = 'PT400', message = format('params.%s is not a parameter of %s (allowed: %s)',
        left(v_key, 64), p_model,
        coalesce((select string_agg(name, ', ' order by name) from public.model_parameters where model = p_model), 'none'));
    end if;
  end loop;

  for r in select * from public.model_parameters where model = p_model order by name loop
    v_value := v_params -> r.name;
    if v_value is null or jsonb_typeof(v_value) = 'null' then
      v_value := r.default_value;
      continue when v_value is null;
    end if;
    if r.type in ('integer', 'number') then
      v_number := case when jsonb_typeof(v_value) = 'number' then (v_value #>> '{}')::numeric end;
      if v_number is null or (r.type = 'integer' and v_number <> trunc(v_number))
         or v_number < r.minimum or v_number > r.maximum then
        raise exception using errcode = 'PT400', message = format('params.%s must be %s between %s and %s',
          r.name, case r.type when 'integer' then 'an integer' else 'a number' end, r.minimum, r.maximum);
      end if;
      v_value := to_jsonb(case when r.type = 'integer' then trunc(v_number) else v_number end);
    elsif r.type = 'boolean' and jsonb_typeof(v_value) <> 'boolean' then
      raise exception using errcode = 'PT400', message = format('params.%s must be true or false', r.name);
    elsif r.type = 'string' and (jsonb_typeof(v_value) <> 'string' or char_length(v_value #>> '{}') > r.max_length) then
      raise exception using errcode = 'PT400',
        message = format('params.%s must be a string of at most %s characters', r.name, r.max_length);
    elsif r.type = 'enum' and not r.allowed @> jsonb_build_array(v_value) then
      raise exception using errcode = 'PT400', message = format('params.%s must be one of %s', r.name,
        (select string_agg(a #>> '{}', ', ') from jsonb_array_elements(r.allowed) a));
    elsif r.type = 'file' then
      -- One of the caller's uploads (public.uploads, uploads migration) whose file has
      -- arrived in Storage, of a type the parameter accepts. The owner is checked here, not
      -- left to RLS: create_generation runs this as its definer. Someone else's upload and
      -- no upload read alike.
      v_upload_id := case when jsonb_typeof(v_value) = 'string'
        and v_value #>> '{}' ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' then (v_value #>> '{}')::uuid end;
      select u.bucket, u.path into v_bucket, v_path
      from public.uploads u
      where u.id = v_upload_id and u.user_id = (select auth.uid());
      if not found then
        raise exception using errcode = 'PT400',
          message = format('params.%s must be the upload_id of one of your uploads', r.name);
      end if;
      select o.metadata ->> 'mimetype' into v_mime
      from storage.objects o
      where o.bucket_id = v_bucket and o.name = v_path;
      if not found then
        raise exception using errcode = 'PT400',
          message = format('params.%s: upload %s has no file yet (PUT the file to its upload url first)',
            r.name, v_upload_id);
      end if;
      if not private.mime_allowed(v_mime, array(select jsonb_array_elements_text(r.allowed))) then
        raise exception using errcode = 'PT400', message = format('params.%s must be a file of type %s, not %s',
          r.name, (select string_agg(a #>> '{}', ', ') from jsonb_array_elements(r.allowed) a),
          coalesce(left(v_mime, 100), 'unknown'));
      end if;
      v_value := to_jsonb(v_upload_id::text);
    end if;
    v_out := v_out || jsonb_build_object(r.name, v_value);
  end loop;
  return v_out;
end
$$;

/**
 * The most units a generation with these validated params can use, in the price's unit:
 * the unit-driving parameter (images, seconds x units_per_value), the characters spoken,
 * or for tokens an upper bound of the input (UTF-8 bytes of the prompt and of every text
 * parameter: a token covers at least one byte) plus max_tokens. This is what is reserved;
 * settlement charges the measured usage, capped by it.
 */
create function private.billable_units(
  p_model public.ai_models,
  p_unit text,
  p_prompt text,
  p_params jsonb
) returns numeric
language sql
stable
set search_path = ''
as $$
  select case p_unit
    when 'character' then char_length(coalesce(p_prompt, ''))::numeric
    when '1k_tokens' then round((octet_length(coalesce(p_prompt, ''))
        + coalesce((select sum(octet_length(v #>> '{}')) from jsonb_each(p_params) e (k, v)
                    where jsonb_typeof(v) = 'string'), 0)
        + coalesce(d.value, 0)) / 1000.0, 6)
    when 'second' then coalesce(d.value, 1) * p_model.units_per_value
    when 'minute' then coalesce(d.value, 1) * p_model.units_per_value
    else coalesce(d.value, 1) * p_model.units_per_value
  end
  from (select (select (p_params ->> mp.name)::numeric from public.model_parameters mp
                where mp.model = p_model.model and mp.drives_units) as value) d
$$;

/**
 * What the provider or the GPU worker receives: the validated params under their own
 * names, and the prompt. Nothing else reaches them, so they cannot be asked for more than
 * was priced. A `file` parameter (an upload id) goes as the marker
 * `{"$storage": {"bucket", "path"}}`, which the sender turns into a signed URL right before
 * sending (genbase_shared::storage_inputs), so no URL expires while it waits.
 * PL/pgSQL so that its reference to public.uploads (a later migration) binds at run time.
 */
create function private.provider_input(p_model public.ai_models, p_prompt text, p_params jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce((
      select jsonb_object_agg(coalesce(mp.provider_name, e.key), case when mp.type = 'file'
          then (select jsonb_build_object('$storage', jsonb_build_object('bucket', u.bucket, 'path', u.path))
                from public.uploads u where u.id = (e.value #>> '{}')::uuid)
          else e.value end)
      from jsonb_each(p_params) e
      join public.model_parameters mp on mp.model = p_model.model and mp.name = e.key
    ), '{}'::jsonb) || jsonb_build_object(p_model.prompt_param, p_prompt);
end
$$;

/**
 * Prices a generation: validates the params, derives the units from them, and quotes
 * them at the model's one active price. PT400 for an unknown or inactive model, a chat
 * model, bad params, or units over the model's maximum. Credits round up. The result also carries
 * what create_generation needs: pricing_id, kind, provider, provider_ref and the
 * provider's input (the validated params under the provider's names, and the prompt).
 */
create function private.price(p_model text, p_prompt text, p_params jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_price public.pricing;
  v_model public.ai_models;
  v_params jsonb;
  v_units numeric;
begin
  select m.* into v_model from public.ai_models m where m.model = p_model and m.is_active;
  select p.* into v_price from public.pricing p
  where p.model = p_model and p.active_from <= now() and (p.active_to is null or p.active_to > now());
  if v_price.id is null or v_model.model is null then
    raise exception using errcode = 'PT400', message = format('model %s is not available', left(p_model, 128));
  end if;
  -- A chat reply's price depends on its conversation (the context sent, the reply's
  -- length): the chat migration's begin_reply reserves it, not a generation.
  if v_model.kind = 'chat' then
    raise exception using errcode = 'PT400',
      message = format('%s is a chat model: send it messages in a conversation', p_model);
  end if;
  v_params := private.validate_params(p_model, p_params);
  v_units := private.billable_units(v_model, v_price.unit, p_prompt, v_params);
  if not v_units > 0 or v_units > coalesce(v_model.max_units, 1000000) then
    raise exception using errcode = 'PT400', message = format(
      'this request needs %s %s units; %s allows 0 to %s', v_units, v_price.unit, p_model, v_model.max_units);
  end if;

  return jsonb_build_object(
    'model', p_model,
    'action', v_price.action,
    'unit', v_price.unit,
    'units', v_units,
    'credits', ceil(v_units * v_price.credits_per_unit)::bigint,
    'cost_usd', round(v_units * v_price.usd_per_unit, 6),
    'params', v_params,
    -- Internal: used by create_generation, stripped by api.quote.
    'pricing_id', v_price.id,
    'kind', v_model.kind,
    'provider', v_model.provider,
    'provider_ref', v_model.provider_ref,
    'provider_input', private.provider_input(v_model, p_prompt, v_params)
  );
end
$$;

/** Pricing API */

/**
 * What a generation with this prompt and these params would cost: the units the server
 * derives from them and the credits, before anything is reserved. SECURITY INVOKER: it
 * reads reference data every signed-in user may read, and the caller's own uploads.
 */
create function api.quote(p_model text, p_prompt text, p_params jsonb default '{}'::jsonb) returns jsonb
language sql
stable
set search_path = ''
as $$
  select private.price(p_model, p_prompt, p_params)
    - 'pricing_id' - 'provider' - 'provider_ref' - 'provider_input'
$$;

-- The pricing helpers read reference data and the caller's own uploads; quote runs them as
-- the caller, so RLS applies there too.
grant execute on function private.price(text, text, jsonb), private.validate_params(text, jsonb),
  private.mime_allowed(text, text[]),
  private.billable_units(public.ai_models, text, text, jsonb),
  private.provider_input(public.ai_models, text, jsonb) to authenticated, service_role;
grant execute on function api.quote(text, text, jsonb) to authenticated, service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
