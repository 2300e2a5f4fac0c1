-- Chat: the context builder (the window, newest first, memories, branches, never a cut
-- message), replies billed through holds (reserve, settle at the tokens used, release,
-- exactly once, stop, sweep, PT402 writing nothing), the conversations, memories and
-- templates APIs, and strangers, anon and disabled users refused by every path.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(159);

insert into auth.users (id, email) values
  ('16000000-0000-4000-8000-00000000a11c', 'alice.chat@example.test'),
  ('16000000-0000-4000-8000-000000000b0b', 'bob.chat@example.test'),
  ('16000000-0000-4000-8000-000000000c0c', 'carol.chat@example.test'),
  ('16000000-0000-4000-8000-00000000ad01', 'admin.chat@example.test'),
  ('16000000-0000-4000-8000-000000000d0d', 'dave.chat@example.test');
update public.profiles set role = 'admin' where id = '16000000-0000-4000-8000-00000000ad01';
update public.profiles set is_active = false where id = '16000000-0000-4000-8000-000000000d0d';
select private.change_credits('16000000-0000-4000-8000-00000000a11c', 'grant', 5000, 'test:grant', null, 'test');
select private.change_credits('16000000-0000-4000-8000-000000000c0c', 'grant', 5, 'test:grant', null, 'test');

-- A model with a 200-token window, priced 1 credit per input token and 2 per output token,
-- so that windows and charges are small round numbers.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens)
values ('chat-tiny-test', 'chat', 'openai', 'openai_chat', 'tiny-1', 200, 50);
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit,
  credits_per_output_unit, usd_per_output_unit, active_from)
values ('chat', 'chat-tiny-test', '1k_tokens', 1000, 0.001, 2000, 0.002, now() - interval '1 minute');

create temp table ids (name text primary key, id uuid);
grant all on ids to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
-- A 40-character message: 10 tokens by the estimate, 14 with a message's framing.
create function pg_temp.msg(p_label text) returns text language sql as $$ select rpad(p_label, 40, '.') $$;
-- The labels of a request's messages, oldest first.
create function pg_temp.labels(p_reply jsonb) returns text[] language sql as $$
  select coalesce(array_agg(rtrim(m ->> 'content', '.') order by n), '{}')
  from jsonb_array_elements(p_reply -> 'request' -> 'messages') with ordinality e (m, n)
$$;
create function pg_temp.account(p_user uuid) returns jsonb language sql as $$
  select jsonb_build_object('balance', balance, 'held', held) from public.credit_accounts where owner_user_id = p_user
$$;
-- Begins a reply as the caller and names its messages u_<name> and r_<name>.
create function pg_temp.begin(p_name text, p_conversation uuid, p_content text, p_parent uuid default null)
returns jsonb language plpgsql as $$
declare
  r jsonb := api.begin_reply(p_conversation, p_content, p_parent);
begin
  insert into ids values ('u_' || p_name, (r -> 'user_message' ->> 'id')::uuid),
    ('r_' || p_name, (r -> 'assistant_message' ->> 'id')::uuid);
  return r;
end
$$;
-- One whole exchange as the function runs it, with SQL's counts: u<label>, then a<label>.
create function pg_temp.turn(p_conversation uuid, p_label text) returns void language plpgsql as $$
declare
  r jsonb := api.begin_reply(p_conversation, pg_temp.msg('u' || p_label));
begin
  insert into ids values ('u' || p_label, (r -> 'user_message' ->> 'id')::uuid),
    ('a' || p_label, (r -> 'assistant_message' ->> 'id')::uuid);
  perform api.finish_reply((r -> 'assistant_message' ->> 'id')::uuid, pg_temp.msg('a' || p_label), 'complete');
end
$$;
grant execute on all functions in schema pg_temp to public;

/** Reference data */

select is(
  (select jsonb_object_agg(model, jsonb_build_array(kind, provider, protocol, provider_ref, context_window, max_output_tokens))
   from public.ai_models where model in ('gpt-4o-mini', 'claude-3-5-haiku')),
  '{"gpt-4o-mini": ["chat", "openai", "openai_chat", "gpt-4o-mini", 128000, 16384],
    "claude-3-5-haiku": ["chat", "anthropic", "anthropic_messages", "claude-3-5-haiku-20241022", 200000, 8192]}'::jsonb,
  'the chat models are seeded with their protocol, provider, window and reply limit');
select is(
  (select array_agg(distinct protocol order by protocol) from public.ai_models where kind not in ('chat', 'embedding')),
  array['gpu', 'replicate'], 'every other model keeps its own protocol');
select is(
  (select jsonb_build_array(credits_per_unit, credits_per_output_unit, usd_per_unit, usd_per_output_unit)
   from public.pricing where model = 'gpt-4o-mini'),
  '[0.225, 0.9, 0.00015, 0.0006]'::jsonb, 'chat prices have an input and an output rate');
select throws_ok(
  $$ insert into public.ai_models (model, kind, provider, protocol, provider_ref) values ('x-chat', 'chat', 'openai', 'openai_chat', 'x') $$,
  '23514', null, 'a chat model needs its window and reply limit');
select throws_ok(
  $$ insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens)
     values ('x-img', 'image', 'openai', 'openai_chat', 'x', 100, 10) $$,
  '23514', null, 'a chat protocol makes chat replies only');
select throws_ok(
  $$ insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, credits_per_output_unit, usd_per_output_unit)
     values ('chat', 'gpt-4o-mini', '1k_tokens', 1, 0.001, 2, 0.002) $$,
  '23P01', null, 'a chat model keeps one active price');
select throws_ok($$ select api.quote('gpt-4o-mini', 'hi') $$, 'PT400',
  'gpt-4o-mini is a chat model: send it messages in a conversation', 'a chat model is not priced as a generation');
select is(
  array[private.estimate_tokens(''), private.estimate_tokens('abcd'), private.estimate_tokens('abcde'),
        private.estimate_tokens('日本'), private.estimate_tokens(pg_temp.msg('x'))],
  array[0, 1, 2, 3, 10], 'the estimate: a quarter token per ASCII byte, more for multi-byte characters');

/** Conversations */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into ids select 'c_default', (api.create_conversation() ->> 'id')::uuid;
select is(api.get_conversation(pg_temp.id('c_default')) - 'id' - 'created_at' - 'updated_at' - 'last_message_at',
  '{"title": null, "kind": "chat", "model": "gpt-4o-mini", "pinned": false, "archived": false, "preview": null,
    "message_count": 0, "tokens_in": 0, "tokens_out": 0, "credits": 0, "workspace_id": null, "project_id": null,
    "settings": {"temperature": null, "max_tokens": null, "system_prompt": null,
      "features": {"document_chat": false, "image_generation": false, "web_search": false}}}'::jsonb,
  'a conversation without a model gets the cheapest chat model and the full default settings');

insert into ids select 'c_tiny', (api.create_conversation('Tiny', 'chat-tiny-test', '{"max_tokens": 27}') ->> 'id')::uuid;
select is(api.get_conversation(pg_temp.id('c_tiny')) -> 'settings' -> 'max_tokens', '27'::jsonb, 'settings are stored');

select throws_ok($$ select api.create_conversation(p_model => 'flux-schnell') $$, 'PT400',
  'model flux-schnell is not an available chat model', 'only a chat model can hold a conversation');
select throws_ok($$ select api.create_conversation(p_settings => '{"top_k": 3}') $$, 'PT400',
  'settings.top_k is not a setting (allowed: features, max_tokens, system_prompt, temperature)', 'an unknown setting is refused');
select throws_ok($$ select api.create_conversation(p_model => 'claude-3-5-haiku', p_settings => '{"temperature": 1.5}') $$,
  'PT400', 'settings.temperature must be a number between 0 and 1 for claude-3-5-haiku', 'Anthropic''s temperature range');
select throws_ok($$ select api.create_conversation(p_settings => '{"max_tokens": 16385}') $$, 'PT400',
  'settings.max_tokens must be an integer between 1 and 16384 for gpt-4o-mini', 'max_tokens within the model''s limit');
select throws_ok($$ select api.create_conversation(p_settings => '{"max_tokens": 2.5}') $$, 'PT400', null,
  'max_tokens is an integer');
select throws_ok($$ select api.create_conversation(p_settings => '{"features": {"telepathy": true}}') $$, 'PT400',
  'settings.features.telepathy is not a feature (allowed: document_chat, image_generation, web_search)', 'an unknown feature is refused');
select throws_ok($$ select api.create_conversation(p_kind => 'group') $$, 'PT400', 'kind must be chat or assistant',
  'an unknown kind is refused');

select is(
  api.update_conversation(pg_temp.id('c_default'),
    '{"title": "  Tea  ", "pinned": true, "settings": {"temperature": 1.5, "features": {"web_search": true}}}')
    - 'id' - 'created_at' - 'updated_at' - 'last_message_at' - 'workspace_id' - 'project_id'
    - 'message_count' - 'tokens_in' - 'tokens_out' - 'credits' - 'preview',
  '{"title": "Tea", "kind": "chat", "model": "gpt-4o-mini", "pinned": true, "archived": false,
    "settings": {"temperature": 1.5, "max_tokens": null, "system_prompt": null,
      "features": {"document_chat": false, "image_generation": false, "web_search": true}}}'::jsonb,
  'a patch sets the trimmed title, the pin and merges the settings');
select throws_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_default'), '{"model": "claude-3-5-haiku"}'),
  'PT400', 'settings.temperature must be a number between 0 and 1 for claude-3-5-haiku',
  'a new model re-checks the settings it inherits');
select is(
  api.update_conversation(pg_temp.id('c_default'), '{"model": "claude-3-5-haiku", "settings": {"temperature": null}}')
    -> 'settings' -> 'temperature',
  'null'::jsonb, 'a null setting resets it, and the model can change with it');
select throws_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_default'), '{"credits": 0}'),
  'PT400', 'unknown field: credits (title, settings, model, pinned and archived can be changed)',
  'counters cannot be patched');
select throws_ok(format('update public.conversations set credits = 0 where id = %L', pg_temp.id('c_default')),
  '42501', null, 'nor written directly');


/** The context builder */

-- Window 200, max_tokens 27: 170 tokens for the context after the reply's 3 priming
-- tokens; every message below takes 14.
reset role;
select pg_temp.turn(pg_temp.id('c_tiny'), n::text) from generate_series(1, 6) n;
select is(
  (select jsonb_agg(jsonb_build_array(rtrim(content, '.'), prompt_tokens_estimate, credits_reserved, tokens_in, tokens_out, credits)
     order by seq)
   from public.messages where conversation_id = pg_temp.id('c_tiny') and role = 'assistant'),
  '[["a1", 17, 71, 17, 10, 37], ["a2", 45, 99, 45, 10, 65], ["a3", 73, 127, 73, 10, 93],
    ["a4", 101, 155, 101, 10, 121], ["a5", 129, 183, 129, 10, 149], ["a6", 157, 211, 157, 10, 177]]'::jsonb,
  'each reply reserved its prompt and max_tokens, and was charged its estimated prompt and output');

set local role authenticated;
select pg_temp.begin('7', pg_temp.id('c_tiny'), pg_temp.msg('u7'));
select is(
  pg_temp.labels(pg_temp.begin('8', pg_temp.id('c_tiny'), pg_temp.msg('u8'), pg_temp.id('a6'))),
  array['u2', 'a2', 'u3', 'a3', 'u4', 'a4', 'u5', 'a5', 'u6', 'a6', 'u8'],
  'a long branch sends its newest messages that fit, whole, oldest first, starting with a user message');
select is((select prompt_tokens_estimate from public.messages where id = pg_temp.id('r_8')), 157,
  'eleven messages and the priming: a1 would fit, but a context never starts with a reply');
select is(
  (select array_agg(m ->> 'role' order by n) from jsonb_array_elements(
     pg_temp.begin('9', pg_temp.id('c_tiny'), pg_temp.msg('u9'), pg_temp.id('a2')) -> 'request' -> 'messages')
     with ordinality e (m, n)),
  array['user', 'assistant', 'user', 'assistant', 'user'], 'roles are user and assistant');
select is(pg_temp.labels(pg_temp.begin('10', pg_temp.id('c_tiny'), pg_temp.msg('u10'), pg_temp.id('a2'))),
  array['u1', 'a1', 'u2', 'a2', 'u10'], 'a branch from an earlier message sends only its own ancestors');
select is(
  (select (r -> 'request') - 'messages' from (select pg_temp.begin('11', pg_temp.id('c_tiny'), 'hi', pg_temp.id('a1')) r) x),
  '{"protocol": "openai_chat", "provider": "openai", "model": "tiny-1", "system": null, "max_tokens": 27,
    "temperature": null}'::jsonb,
  'the request names the protocol, the token pool''s provider and the provider''s model');

insert into ids select 'mem_tea', (api.create_memory('Likes green tea') ->> 'id')::uuid;
select is(api.update_memory((api.create_memory('Hates coffee') ->> 'id')::uuid, '{"active": false}') -> 'active',
  'false'::jsonb, 'a memory is switched off');
select is(
  pg_temp.begin('12', pg_temp.id('c_tiny'), pg_temp.msg('u12'), pg_temp.id('a6')) -> 'request' -> 'system',
  to_jsonb(E'What you remember about the user (from their saved memories):\n- Likes green tea'::text),
  'the active memories, and only they, go into the system prompt');
select is(pg_temp.labels(pg_temp.begin('13', pg_temp.id('c_tiny'), pg_temp.msg('u13'), pg_temp.id('a6'))),
  array['u3', 'a3', 'u4', 'a4', 'u5', 'a5', 'u6', 'a6', 'u13'],
  'the memories take their room from the oldest messages');

select lives_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_tiny'),
  jsonb_build_object('settings', jsonb_build_object('system_prompt', repeat('s', 400)))), 'a long system prompt');
select is(
  (select jsonb_build_array(r -> 'request' ->> 'system' like repeat('s', 400) || E'\n\nWhat you remember%', pg_temp.labels(r))
   from (select pg_temp.begin('14', pg_temp.id('c_tiny'), pg_temp.msg('u14'), pg_temp.id('a6')) r) x),
  '[true, ["u6", "a6", "u14"]]'::jsonb,
  'the system prompt comes first, then the memories; the messages get what is left');
select throws_ok(format('select api.begin_reply(%L, %L, %L)', pg_temp.id('c_tiny'), repeat('x', 300), pg_temp.id('a6')),
  'PT400',
  'the message (with the system prompt) needs about 186 tokens; chat-tiny-test takes 173 (its context window of 200 less max_tokens 27)',
  'a message that cannot fit whole beside the system prompt is refused, never cut');
select lives_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_tiny'),
  '{"settings": {"system_prompt": null}}'), 'the system prompt is removed');
select throws_ok(format('select api.begin_reply(%L, %L, %L)', pg_temp.id('c_tiny'), repeat('x', 700), pg_temp.id('a6')),
  'PT400', 'the message needs about 182 tokens; chat-tiny-test takes 173 (its context window of 200 less max_tokens 27)',
  'a message longer than the window is refused');
select lives_ok(format('select api.update_memory(id, %L) from public.memories', '{"active": false}'), 'memories off');

/** Edit and regenerate make branches */

select is(
  (select jsonb_build_array(pg_temp.labels(r), r -> 'user_message' ->> 'parent_id' = pg_temp.id('a6')::text,
     r -> 'assistant_message' ->> 'parent_id' = r -> 'user_message' ->> 'id')
   from (select api.begin_reply(pg_temp.id('c_tiny'), pg_temp.msg('e7'), p_edit_of => pg_temp.id('u_7')) r) x),
  '[["u2", "a2", "u3", "a3", "u4", "a4", "u5", "a5", "u6", "a6", "e7"], true, true]'::jsonb,
  'an edit is a new user message beside the edited one, and its reply follows it');
select is((select content from public.messages where id = pg_temp.id('u_7')), pg_temp.msg('u7'),
  'the edited message is untouched');
select is(
  (select jsonb_build_array(r -> 'user_message', pg_temp.labels(r), r -> 'assistant_message' ->> 'parent_id' = pg_temp.id('u6')::text)
   from (select api.begin_reply(pg_temp.id('c_tiny'), p_regenerate_of => pg_temp.id('a6')) r) x),
  '[null, ["u1", "a1", "u2", "a2", "u3", "a3", "u4", "a4", "u5", "a5", "u6"], true]'::jsonb,
  'a regeneration answers the same user message again, without the old reply, and stores no user message');
select throws_ok(format('select api.begin_reply(%L, p_regenerate_of => %L)', pg_temp.id('c_tiny'), pg_temp.id('u6')),
  'PT400', 'regenerate_of must be a reply (an assistant message)', 'only a reply is regenerated');
select throws_ok(format('select api.begin_reply(%L, %L, p_edit_of => %L)', pg_temp.id('c_tiny'), 'x', pg_temp.id('a6')),
  'PT400', 'edit_of must be a user message', 'only a user message is edited');
select throws_ok(format('select api.begin_reply(%L, p_regenerate_of => %L)', pg_temp.id('c_tiny'), pg_temp.id('r_7')),
  'PT409', 'that reply is still being written: stop it first', 'a streaming reply is not regenerated');
select throws_ok(format('select api.begin_reply(%L, %L, %L)', pg_temp.id('c_tiny'), 'x', pg_temp.id('r_7')),
  'PT409', 'a reply is still being written there: wait for it or stop it', 'nothing goes under a streaming reply');
select throws_ok(format('select api.begin_reply(%L, %L)', pg_temp.id('c_tiny'), 'x'),
  'PT409', 'a reply is still being written there: wait for it or stop it',
  'by default a message goes under the newest one, here still streaming');
select throws_ok(format('select api.begin_reply(%L, null, %L, %L)', pg_temp.id('c_tiny'), pg_temp.id('a6'), pg_temp.id('a6')),
  'PT400', 'give at most one of parent_id, edit_of and regenerate_of', 'one way to place a message');
select throws_ok(format('select api.begin_reply(%L, %L)', pg_temp.id('c_tiny'), '   '), 'PT400',
  'content must be 1 to 100000 characters', 'a blank message is refused');
select throws_ok(format('select api.begin_reply(%L, %L, p_attachments => %L)', pg_temp.id('c_tiny'), 'x',
  jsonb_build_array(gen_random_uuid())), 'PT400', 'attachments[0] must be the upload_id of one of your uploads',
  'an attachment must be one of the caller''s uploads');
select throws_ok(format('select api.begin_reply(%L, %L, %L)', pg_temp.id('c_tiny'), 'x', gen_random_uuid()),
  'PT404', 'parent message not found', 'a parent from nowhere is refused');

-- Attachments: her uploads, once their file is in Storage.
insert into ids select 'up_photo', (api.create_upload('reference_image', 'image/png', 1000, 'cat.png') ->> 'upload_id')::uuid;
insert into ids select 'up_doc', (api.create_upload('document', 'application/pdf', 1000) ->> 'upload_id')::uuid;
reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
select u.bucket, u.path, u.user_id, jsonb_build_object('size', 1000, 'mimetype', u.content_type)
from public.uploads u where u.id = pg_temp.id('up_photo');
set local role authenticated;
select throws_ok(format('select api.begin_reply(%L, %L, %L, p_attachments => %L)', pg_temp.id('c_tiny'), 'x', pg_temp.id('a1'),
  jsonb_build_array(pg_temp.id('up_photo'), pg_temp.id('up_doc'))), 'PT400',
  format('attachments[1]: upload %s has no file yet (PUT the file to its upload url first)', pg_temp.id('up_doc')),
  'an attachment whose file has not arrived is refused');
select is(
  (select r -> 'user_message' -> 'attachments' from (select api.begin_reply(pg_temp.id('c_tiny'), 'What is this?',
     pg_temp.id('a1'), p_attachments => jsonb_build_array(pg_temp.id('up_photo'))) r) x),
  (select jsonb_build_array(jsonb_build_object('upload_id', id, 'bucket', 'media', 'path', path, 'content_type', 'image/png',
     'filename', 'cat.png')) from public.uploads where id = pg_temp.id('up_photo')),
  'a message stores its attachments as storage references');

/** Money */

reset role;
-- Every reply begun above but r_7 fails before any text: free.
select count(api.finish_reply(id, null, 'failed')) from public.messages
where conversation_id = pg_temp.id('c_tiny') and status = 'streaming' and id <> pg_temp.id('r_7');
select is(pg_temp.account('16000000-0000-4000-8000-00000000a11c'), '{"balance": 4358, "held": 211}'::jsonb,
  'six replies cost 642; r_7 holds its reservation; the replies that failed empty cost nothing');
select is(
  (select jsonb_build_array(h.status, h.amount, m.credits_reserved, m.status)
   from public.messages m join public.credit_holds h on h.id = m.hold_id where m.id = pg_temp.id('r_7')),
  '["open", 211, 211, "streaming"]'::jsonb, 'a streaming reply has an open hold of its reservation');
select is(
  (select count(*)::int from public.usage_events where message_id in (select id from public.messages
    where conversation_id = pg_temp.id('c_tiny') and status = 'failed')),
  0, 'a reply that failed before any text writes no usage');

set local role authenticated;
select is(api.stop_reply(pg_temp.id('r_7')) ->> 'status', 'streaming', 'the owner asks a running reply to stop');
select isnt(api.stop_reply(pg_temp.id('r_7')) ->> 'stop_requested_at', null, 'asking twice is harmless');
select throws_ok(format('select api.stop_reply(%L)', pg_temp.id('a6')), 'PT409', 'the reply has already ended (complete)',
  'an ended reply cannot be stopped');
select throws_ok(format('select api.finish_reply(%L, %L, %L)', pg_temp.id('r_7'), 'x', 'complete'), '42501', null,
  'users cannot finish replies');
select throws_ok(format('select api.reply_state(%L)', pg_temp.id('r_7')), '42501', null, 'users cannot poll reply state');
select throws_ok(format('update public.messages set content = %L where id = %L', 'forged', pg_temp.id('r_7')), '42501', null,
  'users cannot write a reply');

reset role;
set local role service_role;
select is(api.reply_state(pg_temp.id('r_7')), '{"status": "streaming", "stop_requested": true}'::jsonb,
  'the function sees the stop');
select is(api.reply_state(pg_temp.id('r_7'), 'Partial'), '{"status": "streaming", "stop_requested": true}'::jsonb,
  'and can keep the text so far');
select is((select content from public.messages where id = pg_temp.id('r_7')), 'Partial',
  'the text so far is stored on the streaming reply');
select is(api.finish_reply(pg_temp.id('r_7'), 'Partial answ', 'stopped', 150, 3) - 'message' - 'conversation',
  '{"credits_charged": 156}'::jsonb, 'a stopped reply is charged the reported prompt and what was produced: 150 + 3 x 2');
select is(
  (select jsonb_build_array(m.status, m.content, m.tokens_in, m.tokens_out, m.credits, m.cost_usd, h.status, h.charged)
   from public.messages m join public.credit_holds h on h.id = m.hold_id where m.id = pg_temp.id('r_7')),
  '["stopped", "Partial answ", 150, 3, 156, 0.000156, "settled", 156]'::jsonb,
  'the reply is stored as streamed, the hold settled at the charge and the rest released');
select is(api.finish_reply(pg_temp.id('r_7'), 'something else', 'complete', 1, 1),
  api.finish_reply(pg_temp.id('r_7'), 'Partial answ', 'stopped', 150, 3),
  'a second finish changes nothing and returns the first result');
select is(api.finish_reply(pg_temp.id('r_7'), 'x', 'complete') -> 'message' ->> 'content', 'Partial answ', 'as stored');
select is(
  (select array_agg(kind order by id) from public.credit_ledger
   where hold_id = (select hold_id from public.messages where id = pg_temp.id('r_7'))),
  array['reserve', 'settle'], 'reserved once and settled once');
select is(
  (select jsonb_build_array(action, model, provider, units, tokens_in, tokens_out, credits, cost_usd)
   from public.usage_events where message_id = pg_temp.id('r_7')),
  '["chat", "chat-tiny-test", "openai", 0.153, 150, 3, 156, 0.000156]'::jsonb, 'one usage event per reply');
select is(api.reply_state(pg_temp.id('r_7'), 'late text'), '{"status": "stopped", "stop_requested": true}'::jsonb,
  'the function sees it ended');
select is((select content from public.messages where id = pg_temp.id('r_7')), 'Partial answ',
  'text kept after the end changes nothing');
select is(pg_temp.account('16000000-0000-4000-8000-00000000a11c'), '{"balance": 4202, "held": 0}'::jsonb,
  'the balance paid the charge and nothing stays held');
select throws_ok($$ select api.finish_reply(gen_random_uuid(), 'x', 'complete') $$, 'PT404', 'reply not found',
  'an unknown reply');
select throws_ok(format('select api.finish_reply(%L, %L, %L)', pg_temp.id('r_7'), 'x', 'done'), 'PT400',
  'status must be complete, stopped or failed', 'an unknown status');
select throws_ok(format('select api.finish_reply(%L, %L, %L, -1)', pg_temp.id('r_7'), 'x', 'complete'), 'PT400',
  'token counts must not be negative', 'negative counts');

-- Over the hold, a failure mid-stream, and counts the provider never sent. Each context is
-- u1, a1 and the new message: 45 tokens, 99 reserved.
reset role;
set local role authenticated;
select pg_temp.begin(n, pg_temp.id('c_tiny'), pg_temp.msg('u' || n), pg_temp.id('a1'))
from unnest(array['cap', 'mid', 'est']) n;
reset role;
set local role service_role;
select is(
  (select jsonb_build_array(r -> 'message' -> 'credits_reserved', r -> 'credits_charged', r -> 'message' -> 'tokens_out')
   from (select api.finish_reply(pg_temp.id('r_cap'), 'long', 'complete', 45, 1000) r) x),
  '[99, 99, 1000]'::jsonb, 'a charge is capped by the hold; the reported counts are kept');
select is(
  (select jsonb_build_array(r -> 'credits_charged', r -> 'message' ->> 'status', r -> 'message' ->> 'error',
     r -> 'message' -> 'tokens_in', r -> 'message' -> 'tokens_out')
   from (select api.finish_reply(pg_temp.id('r_mid'), 'Half a sen', 'failed', p_error => 'the provider failed') r) x),
  '[51, "failed", "the provider failed", 45, 3]'::jsonb,
  'a reply failing mid-stream keeps its text and is charged its prompt and that text, estimated');
select is(
  (select jsonb_build_array(r -> 'credits_charged', r -> 'message' -> 'tokens_in', r -> 'message' -> 'tokens_out',
     r -> 'conversation' ->> 'preview' = pg_temp.msg('aest'))
   from (select api.finish_reply(pg_temp.id('r_est'), pg_temp.msg('aest'), 'complete') r) x),
  '[65, 45, 10, true]'::jsonb,
  'without the provider''s counts SQL''s estimate is charged; the preview follows the newest reply');

/** The sweep */

reset role;
set local role authenticated;
select pg_temp.begin('stuck', pg_temp.id('c_tiny'), pg_temp.msg('us'), pg_temp.id('a1'));
select pg_temp.begin('live', pg_temp.id('c_tiny'), pg_temp.msg('ul'), pg_temp.id('a2'));
select pg_temp.begin('kept', pg_temp.id('c_tiny'), pg_temp.msg('uk'), pg_temp.id('a3'));
reset role;
update public.messages set created_at = now() - interval '16 minutes'
where id in (pg_temp.id('r_stuck'), pg_temp.id('r_kept'));
set local role service_role;
select api.reply_state(pg_temp.id('r_kept'), 'Half an answer');
select is(api.sweep_stuck_replies(), 2, 'the sweep finishes the replies streaming for 16 minutes');
select is(
  (select jsonb_build_array(m.status, m.error, m.credits, h.status)
   from public.messages m join public.credit_holds h on h.id = m.hold_id where m.id = pg_temp.id('r_stuck')),
  '["failed", "the reply was interrupted", 0, "released"]'::jsonb, 'as failed and free, its hold released');
select is(
  (select jsonb_build_array(m.status, m.content, m.credits > 0, h.status)
   from public.messages m join public.credit_holds h on h.id = m.hold_id where m.id = pg_temp.id('r_kept')),
  '["failed", "Half an answer", true, "settled"]'::jsonb,
  'one whose function kept its text is stored with it and charged for its prompt and that text');
select is((select status from public.messages where id = pg_temp.id('r_live')), 'streaming', 'a recent reply is left alone');
select is(api.sweep_stuck_replies(), 0, 'a second run finds nothing');
select is(api.finish_reply(pg_temp.id('r_live'), pg_temp.msg('al'), 'complete', 73, 10) -> 'credits_charged', '93'::jsonb,
  'the recent reply finishes normally');

reset role;
select is_empty(
  $$ select m.id from public.messages m left join public.credit_holds h on h.id = m.hold_id
     where m.role = 'assistant' and not (
       (m.status = 'streaming' and h.status = 'open')
       or (m.status <> 'streaming' and h.status = 'settled' and h.charged = m.credits)
       or (m.status <> 'streaming' and h.status = 'released' and m.credits = 0)) $$,
  'every reply agrees with its hold: open while streaming, then settled at its charge or released');
select is(
  (select jsonb_build_array(c.message_count, c.tokens_in, c.tokens_out, c.credits)
   from public.conversations c where c.id = pg_temp.id('c_tiny')),
  (select jsonb_build_array(count(*), sum(tokens_in), sum(tokens_out), sum(credits))
   from public.messages where conversation_id = pg_temp.id('c_tiny')),
  'the conversation''s counters are the sums of its messages');

/** Insufficient credits */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-000000000c0c", "role": "authenticated"}', true);
insert into ids select 'c_carol', (api.create_conversation(p_model => 'chat-tiny-test') ->> 'id')::uuid;
select throws_ok(format('select api.begin_reply(%L, %L)', pg_temp.id('c_carol'), 'hello'), 'PT402',
  'insufficient credits: 109 needed, 5 available', 'a reply above the available credits is refused');
reset role;
select is(
  jsonb_build_array(
    (select count(*) from public.messages where user_id = '16000000-0000-4000-8000-000000000c0c'),
    (select count(*) from public.credit_holds h join public.credit_accounts a on a.id = h.account_id
     where a.owner_user_id = '16000000-0000-4000-8000-000000000c0c'),
    (select message_count from public.conversations where id = pg_temp.id('c_carol')),
    pg_temp.account('16000000-0000-4000-8000-000000000c0c')),
  '[0, 0, 0, {"balance": 5, "held": 0}]'::jsonb, 'a refused reply writes nothing: no message, hold or counter');

/** Branches, lists and titles */

select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
set local role authenticated;
insert into ids select 'c_b', (api.create_conversation('Branches') ->> 'id')::uuid;
reset role;
select pg_temp.turn(pg_temp.id('c_b'), l) from unnest(array['x1', 'x2']) l;
select api.finish_reply((r -> 'assistant_message' ->> 'id')::uuid, 'the edited answer', 'complete')
from api.begin_reply(pg_temp.id('c_b'), 'the edit', p_edit_of => pg_temp.id('ux2')) r;
set local role authenticated;

create function pg_temp.page(p_page jsonb) returns text[] language sql as $$
  select coalesce(array_agg(left(m ->> 'content', 8) order by n), '{}')
  from jsonb_array_elements(p_page -> 'items') with ordinality e (m, n)
$$;
grant execute on function pg_temp.page(jsonb) to public;
select is(pg_temp.page(api.list_messages(pg_temp.id('c_b'))),
  array['ux1.....', 'ax1.....', 'the edit', 'the edit'], 'the current branch ends at the newest message, oldest first');
select is(
  (select m -> 'siblings' from jsonb_array_elements(api.list_messages(pg_temp.id('c_b')) -> 'items') m
   where m ->> 'content' = 'the edit'),
  (select jsonb_agg(id order by seq) from public.messages where parent_id = pg_temp.id('ax1')),
  'each message lists its siblings, itself included, in order');
select is(jsonb_array_length((select m -> 'siblings' from jsonb_array_elements(api.list_messages(pg_temp.id('c_b')) -> 'items') m
   where m ->> 'content' = 'the edit')), 2, 'the edit and the edited message');
select is(pg_temp.page(api.list_messages(pg_temp.id('c_b'), pg_temp.id('ux2'))),
  array['ux1.....', 'ax1.....', 'ux2.....', 'ax2.....'], 'a sibling''s branch runs down to its newest leaf');
select is(pg_temp.page(api.list_messages(pg_temp.id('c_b'), p_limit => 3)), array['ax1.....', 'the edit', 'the edit'],
  'a page holds the newest messages of the branch');
select is(pg_temp.page(api.list_messages(pg_temp.id('c_b'), p_limit => 3,
    p_before => (api.list_messages(pg_temp.id('c_b'), p_limit => 3) ->> 'next_before')::uuid)),
  array['ux1.....'], 'next_before leads to the page above');
select is(api.list_messages(pg_temp.id('c_b'), p_limit => 4) -> 'next_before', 'null'::jsonb, 'the root ends the branch');
select throws_ok(format('select api.list_messages(%L, %L, 10, %L)', pg_temp.id('c_b'), pg_temp.id('ux2'), pg_temp.id('ux2')),
  'PT400', 'give leaf_id or before, not both', 'a leaf or a cursor');
select throws_ok(format('select api.list_messages(%L, %L)', pg_temp.id('c_b'), pg_temp.id('a1')),
  'PT404', 'message not found', 'a leaf of another conversation');

insert into ids select 'c_arch', (api.create_conversation('Old archive notes') ->> 'id')::uuid;
select is(api.update_conversation(pg_temp.id('c_arch'), '{"archived": true}') -> 'archived', 'true'::jsonb, 'archived');
-- Activity order (one transaction shares one now()).
reset role;
update public.conversations c set last_message_at = now() - v.age
from (values ('c_default', interval '3 hours'), ('c_tiny', interval '2 hours'), ('c_b', interval '1 hour'),
  ('c_arch', interval '0 hours')) v (name, age)
where c.id = pg_temp.id(v.name);
set local role authenticated;
create function pg_temp.titles(p_page jsonb) returns text[] language sql as $$
  select coalesce(array_agg(c ->> 'title' order by n), '{}')
  from jsonb_array_elements(p_page -> 'items') with ordinality e (c, n)
$$;
grant execute on function pg_temp.titles(jsonb) to public;
select is(pg_temp.titles(api.list_conversations()), array['Tea', 'Branches', 'Tiny'],
  'pinned first, then the newest activity; archived ones apart');
select is(pg_temp.titles(api.list_conversations(p_archived => true)), array['Old archive notes'], 'the archive');
select is(pg_temp.titles(api.list_conversations(p_archived => null)), array['Tea', 'Old archive notes', 'Branches', 'Tiny'],
  'or everything');
select is(pg_temp.titles(api.list_conversations(p_limit => 1)), array['Tea'], 'page 1');
select is(
  pg_temp.titles(api.list_conversations(p_limit => 2,
    p_cursor_pinned => (api.list_conversations(p_limit => 1) -> 'next_cursor' ->> 'pinned')::boolean,
    p_cursor_last_message_at => (api.list_conversations(p_limit => 1) -> 'next_cursor' ->> 'last_message_at')::timestamptz,
    p_cursor_id => (api.list_conversations(p_limit => 1) -> 'next_cursor' ->> 'id')::uuid)),
  array['Branches', 'Tiny'], 'the cursor leads on past the pinned one');
select is(pg_temp.titles(api.list_conversations(p_q => 'edited answer')), array['Branches'], 'q finds words of a reply');
select is(pg_temp.titles(api.list_conversations(p_q => 'TINY')), array['Tiny'], 'q finds a title, case-folded');
select is(pg_temp.titles(api.list_conversations(p_q => 'notes', p_archived => null)), array['Old archive notes'],
  'q with the archive');
select is(pg_temp.titles(api.list_conversations(p_kind => 'assistant')), '{}'::text[], 'a kind');
select throws_ok($$ select api.list_conversations(p_cursor_id => gen_random_uuid()) $$, 'PT400', 'cursor is not valid',
  'a partial cursor is refused');
select throws_ok($$ select api.list_conversations(p_q => '!!') $$, 'PT400', 'q has no words to search for', 'an empty q');

select throws_ok(format('select api.set_title(%L, %L)', pg_temp.id('c_b'), 'x'), '42501', null,
  'users title by patching, not through set_title');
insert into ids select 'c_auto', (api.create_conversation() ->> 'id')::uuid;
reset role;
set local role service_role;
select is(api.set_title(pg_temp.id('c_auto'), '  Green tea facts ') ->> 'title', 'Green tea facts',
  'the function titles an untitled conversation');
select is(api.set_title(pg_temp.id('c_b'), 'Something') ->> 'title', 'Branches', 'a chosen title is never replaced');

/** Delete */

reset role;
set local role authenticated;
select is(api.delete_conversations(array[pg_temp.id('c_b'), pg_temp.id('c_b'), pg_temp.id('c_carol')]),
  jsonb_build_object('deleted', jsonb_build_array(pg_temp.id('c_b')), 'not_found', jsonb_build_array(pg_temp.id('c_carol'))),
  'a bulk delete deletes the caller''s and names the rest not found');
select throws_ok(format('select api.get_conversation(%L)', pg_temp.id('c_b')), 'PT404', 'conversation not found',
  'a deleted conversation is gone from reads');
select throws_ok(format('select api.list_messages(%L)', pg_temp.id('c_b')), 'PT404', 'conversation not found',
  'and its messages');
select throws_ok(format('select api.begin_reply(%L, %L)', pg_temp.id('c_b'), 'hi'), 'PT404', 'conversation not found',
  'no reply goes to a deleted conversation');
select is(pg_temp.titles(api.list_conversations(p_q => 'edited answer')), '{}'::text[], 'nor is it searched');
select is((select count(*)::int from public.usage_events where message_id in
  (select id from public.messages where conversation_id = pg_temp.id('c_b'))), 3,
  'the money history of a deleted conversation stays');

/** Memories */

select is(jsonb_array_length(api.list_memories() -> 'items'), 2, 'her memories');
select is(api.list_memories(true) -> 'items', '[]'::jsonb, 'none active now');
select is(api.create_memory('  Summary of Tiny  ', pg_temp.id('c_tiny')) - 'id' - 'created_at' - 'updated_at',
  jsonb_build_object('content', 'Summary of Tiny', 'active', true, 'source', 'conversation',
    'conversation_id', pg_temp.id('c_tiny')), 'a memory can sum up one of her conversations');
select throws_ok(format('select api.update_memory(%L, %L)', pg_temp.id('mem_tea'), '{"pinned": true}'), 'PT400',
  'unknown field: pinned (content and active can be changed)', 'memories have two fields to change');
select throws_ok($$ select api.create_memory(repeat('m', 2001)) $$, 'PT400', 'content must be 1 to 2000 characters',
  'a memory has a size limit');
select is(api.delete_memory((select id from public.memories where content = 'Hates coffee')) ? 'id', true, 'deleted');
select is(jsonb_array_length(api.list_memories() -> 'items'), 2, 'for good');

/** Templates */

select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-00000000ad01", "role": "authenticated"}', true);
insert into ids select 't_public',
  (api.create_prompt_template('Tutor', 'You are a patient tutor.', 'Teaches', 'education', true) ->> 'id')::uuid;
select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids select 't_alice', (api.create_prompt_template('Pirate', 'Talk like a pirate.') ->> 'id')::uuid;
select throws_ok($$ select api.create_prompt_template('Spam', 'Buy now.', p_public => true) $$, 'PT403', 'admin role required',
  'only admins publish public templates');
select throws_ok($$ insert into public.prompt_templates (name, content) values ('Spam', 'Buy now.') $$, '42501', null,
  'not even by writing the table');
select is(
  (select jsonb_agg(jsonb_build_array(t ->> 'name', t -> 'public') order by n)
   from jsonb_array_elements(api.list_prompt_templates() -> 'items') with ordinality e (t, n)),
  '[["Pirate", false], ["Tutor", true]]'::jsonb, 'she reads the public templates and her own, by name');
select is(
  (select r -> 'items' -> 0 ->> 'name' || ' then ' || (api.list_prompt_templates(p_limit => 1,
     p_cursor_name => r -> 'next_cursor' ->> 'name', p_cursor_id => (r -> 'next_cursor' ->> 'id')::uuid) -> 'items' -> 0 ->> 'name')
   from (select api.list_prompt_templates(p_limit => 1) r) x),
  'Pirate then Tutor', 'templates page by name');
select is(api.list_prompt_templates('education') -> 'items' -> 0 ->> 'name', 'Tutor', 'and filter by category');
select is(api.create_conversation(p_template_id => pg_temp.id('t_alice')) -> 'settings' ->> 'system_prompt',
  'Talk like a pirate.', 'a conversation from a template gets its content as the system prompt');
select throws_ok(format('select api.create_conversation(p_template_id => %L, p_settings => %L)', pg_temp.id('t_public'),
  '{"system_prompt": "x"}'), 'PT400', 'give template_id or settings.system_prompt, not both', 'one system prompt');
select throws_ok(format('select api.update_prompt_template(%L, %L)', pg_temp.id('t_public'), '{"name": "Mine"}'),
  'PT403', 'only admins can change public templates', 'users cannot change public templates');
select throws_ok(format('select api.delete_prompt_template(%L)', pg_temp.id('t_public')),
  'PT403', 'only admins can delete public templates', 'nor delete them');
select is(api.update_prompt_template(pg_temp.id('t_alice'), '{"description": "Arr", "category": null}') ->> 'description',
  'Arr', 'she changes her own');

/** Strangers */

-- One reply of hers still running, for the stranger to try.
reset role;
select pg_temp.begin('open', pg_temp.id('c_tiny'), 'still going', pg_temp.id('a1'));
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is_empty($$ select 1 from public.conversations union all select 1 from public.messages
  union all select 1 from public.memories $$, 'a stranger reads no conversation, message or memory of hers');
select is(
  (select jsonb_agg(t ->> 'name') from jsonb_array_elements(api.list_prompt_templates() -> 'items') t),
  '["Tutor"]'::jsonb, 'a stranger reads the public template, not her private one');
select throws_ok(format('select api.get_conversation(%L)', pg_temp.id('c_tiny')), 'PT404', 'conversation not found',
  'get_conversation');
select throws_ok(format('select api.update_conversation(%L, %L)', pg_temp.id('c_tiny'), '{"pinned": true}'), 'PT404',
  'conversation not found', 'update_conversation');
select is(api.delete_conversations(array[pg_temp.id('c_tiny')]) -> 'deleted', '[]'::jsonb, 'delete_conversations');
select throws_ok(format('select api.list_messages(%L)', pg_temp.id('c_tiny')), 'PT404', 'conversation not found',
  'list_messages');
select throws_ok(format('select api.begin_reply(%L, %L)', pg_temp.id('c_tiny'), 'hi'), 'PT404', 'conversation not found',
  'begin_reply');
select throws_ok(format('select api.stop_reply(%L)', pg_temp.id('r_open')), 'PT404', 'reply not found', 'stop_reply');
select is_empty(format('update public.messages set stop_requested_at = now() where id = %L returning id', pg_temp.id('r_open')),
  'nor by writing the table');
select throws_ok(format('select api.create_memory(%L, %L)', 'x', pg_temp.id('c_tiny')), 'PT404', 'conversation not found',
  'create_memory on her conversation');
select throws_ok(format('insert into public.memories (user_id, content, source, conversation_id) values (%L, %L, %L, %L)',
  '16000000-0000-4000-8000-000000000b0b', 'x', 'conversation', pg_temp.id('c_tiny')), '42501', null,
  'nor by writing the table');
select throws_ok(format('select api.update_memory(%L, %L)', pg_temp.id('mem_tea'), '{"active": true}'),
  'PT404', 'memory not found', 'update_memory');
select throws_ok(format('select api.delete_memory(%L)', pg_temp.id('mem_tea')), 'PT404', 'memory not found', 'delete_memory');
select throws_ok(format('select api.create_conversation(p_template_id => %L)', pg_temp.id('t_alice')), 'PT404',
  'template not found', 'her private template');
select throws_ok(format('select api.update_prompt_template(%L, %L)', pg_temp.id('t_alice'), '{"name": "x"}'), 'PT404',
  'template not found', 'update_prompt_template');
select throws_ok(format('select api.delete_prompt_template(%L)', pg_temp.id('t_alice')), 'PT404', 'template not found',
  'delete_prompt_template');
reset role;
select is(
  (select jsonb_build_array(c.pinned, c.deleted_at, m.stop_requested_at, (select active from public.memories where id = pg_temp.id('mem_tea')),
     (select name from public.prompt_templates where id = pg_temp.id('t_alice')))
   from public.conversations c, public.messages m where c.id = pg_temp.id('c_tiny') and m.id = pg_temp.id('r_open')),
  '[false, null, null, false, "Pirate"]'::jsonb, 'nothing of hers changed');
select api.finish_reply(pg_temp.id('r_open'), 'done', 'complete');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "16000000-0000-4000-8000-000000000d0d", "role": "authenticated"}', true);
select throws_ok($$ select api.create_conversation() $$, 'PT403', 'account is disabled', 'a disabled user starts nothing');
select throws_ok($$ select api.create_memory('x') $$, 'PT403', 'account is disabled', 'nor saves memories');

reset role;
select ok(
  not has_function_privilege('authenticated', 'api.finish_reply(uuid,text,text,integer,integer,jsonb,text)', 'execute')
  and not has_function_privilege('authenticated', 'api.reply_state(uuid,text)', 'execute')
  and not has_function_privilege('authenticated', 'api.set_title(uuid,text)', 'execute')
  and not has_function_privilege('authenticated', 'api.sweep_stuck_replies()', 'execute')
  and has_function_privilege('service_role', 'api.sweep_stuck_replies()', 'execute'),
  'the service-side functions are the service role''s only');
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$ select api.list_conversations() $$, '42501', null, 'anon cannot list conversations');
select throws_ok($$ select * from public.messages $$, '42501', null, 'anon cannot read messages');
select throws_ok($$ select * from public.prompt_templates $$, '42501', null, 'anon cannot read templates');

reset role;
set local role service_role;
select is(api.audit_credits(), '[]'::jsonb, 'the books balance after every reply');

select * from finish();
rollback;
