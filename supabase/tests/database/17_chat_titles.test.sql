-- Automatic conversation titles: when a title starts (and when there is nothing to do),
-- the prompt and its hold, the finish exactly once (cleaned title, charge at list price, a
-- user's title winning), failures, the sweep, the configuration (free, title model, off),
-- short credits writing nothing, and strangers refused by every path.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(65);

insert into auth.users (id, email) values
  ('17000000-0000-4000-8000-00000000a11c', 'alice.titles@example.test'),
  ('17000000-0000-4000-8000-000000000b0b', 'bob.titles@example.test'),
  ('17000000-0000-4000-8000-000000000c0c', 'carol.titles@example.test');
select private.change_credits('17000000-0000-4000-8000-00000000a11c', 'grant', 10000, 'test:grant', null, 'test');
select private.change_credits('17000000-0000-4000-8000-000000000c0c', 'grant', 5, 'test:grant', null, 'test');

-- 1 credit per input token and 2 per output token; the other model half that, and a
-- reply limit under the title's 24 tokens.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, context_window, max_output_tokens) values
  ('chat-title-test', 'chat', 'openai', 'openai_chat', 'title-1', 4000, 100),
  ('chat-title-alt', 'chat', 'anthropic', 'anthropic_messages', 'alt-1', 4000, 16);
insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit,
  credits_per_output_unit, usd_per_output_unit, active_from) values
  ('chat', 'chat-title-test', '1k_tokens', 1000, 0.001, 2000, 0.002, now() - interval '1 minute'),
  ('chat', 'chat-title-alt', '1k_tokens', 500, 0.0005, 1000, 0.001, now() - interval '1 minute');

create temp table ids (name text primary key, id uuid);
create temp table got (name text primary key, v jsonb);
grant all on ids, got to public;
create function pg_temp.id(p_name text) returns uuid language sql as $$ select id from ids where name = p_name $$;
create function pg_temp.got(p_name text) returns jsonb language sql as $$ select v from got where name = p_name $$;
create function pg_temp.account(p_user uuid) returns jsonb language sql as $$
  select jsonb_build_object('balance', balance, 'held', held) from public.credit_accounts where owner_user_id = p_user
$$;
-- A conversation of the caller's on the title test model, with one finished exchange.
create function pg_temp.chat(p_name text, p_question text, p_answer text) returns uuid language plpgsql as $$
declare
  v_id uuid := (api.create_conversation(p_model => 'chat-title-test') ->> 'id')::uuid;
  r jsonb := api.begin_reply(v_id, p_question);
begin
  perform api.finish_reply((r -> 'assistant_message' ->> 'id')::uuid, p_answer, 'complete');
  insert into ids values (p_name, v_id);
  return v_id;
end
$$;
-- begin_title, its answer kept as got(p_name) and its job as id(p_name).
create function pg_temp.begin(p_name text, p_conversation uuid) returns jsonb language plpgsql as $$
declare
  r jsonb := api.begin_title(p_conversation);
begin
  insert into got values (p_name, r);
  insert into ids values (p_name, (r ->> 'title_id')::uuid);
  return r;
end
$$;
create function pg_temp.job(p_name text) returns jsonb language sql as $$
  select jsonb_build_array(j.status, j.title, j.tokens_in, j.tokens_out, j.credits, j.cost_usd, h.status, h.charged)
  from public.conversation_title_jobs j left join public.credit_holds h on h.id = j.hold_id
  where j.id = pg_temp.id(p_name)
$$;
grant execute on all functions in schema pg_temp to public;

/** Cleaning */

select is(private.clean_title('"Green tea."'), 'Green tea', 'quotes and the trailing period go');
select is(private.clean_title(E'\n\n  **Title: "Green tea."**  \nA second line'), 'Green tea',
  'the first line with text; emphasis, a Title: prefix and quotes inside each other go');
select is(private.clean_title(E'title:   Brewing \t  green tea'), 'Brewing green tea', 'whitespace is collapsed');
select is(private.clean_title('«Thé vert»'), 'Thé vert', 'other quote marks go');
select is(private.clean_title('# Learning C#'), 'Learning C#', 'a heading mark goes, a # ending a word stays');
select is(private.clean_title('Wait for it...'), 'Wait for it...', 'an ellipsis stays');
select is(private.clean_title('日本茶の淹れ方。'), '日本茶の淹れ方', 'an ideographic full stop goes');
select is(private.clean_title(repeat('word ', 100)), rtrim(repeat('word ', 40)), 'cut to 200 characters, the title limit');
select is(array[private.clean_title('`""`'), private.clean_title(E'  \n '), private.clean_title(null)], array[null, null, null]::text[],
  'nothing left is no title');

/** A title, start to finish */

select set_config('request.jwt.claims', '{"sub": "17000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);
insert into ids select 'c_empty', (api.create_conversation(p_model => 'chat-title-test') ->> 'id')::uuid;
select pg_temp.chat('c_tea', 'How do I brew green tea?', 'Steep it at 80 degrees for two minutes.');
-- The reply cost 13 + 10 x 2.
select is(pg_temp.account('17000000-0000-4000-8000-00000000a11c'), '{"balance": 9967, "held": 0}'::jsonb, 'one reply paid');

set local role service_role;
select is(api.begin_title(pg_temp.id('c_empty')), null, 'no title before a reply');
select is(pg_temp.begin('t_tea', pg_temp.id('c_tea')) - 'title_id',
  jsonb_build_object(
    'request', jsonb_build_object('protocol', 'openai_chat', 'provider', 'openai', 'model', 'title-1',
      'system', 'You name conversations. Reply with a title for the conversation below: at most 6 words, '
        || 'in the language the user writes in, without quotes or a trailing period. Reply with the title only.',
      'messages', jsonb_build_array(jsonb_build_object('role', 'user',
        'content', E'User: How do I brew green tea?\n\nAssistant: Steep it at 80 degrees for two minutes.')),
      'max_tokens', 24, 'temperature', 0.2),
    'credits_reserved', 127),
  'the request asks the conversation''s model for a short title of the first exchange; 79 prompt tokens + 24 x 2 reserved');
select is(pg_temp.job('t_tea'), '["running", null, null, null, null, null, "open", null]'::jsonb,
  'a running job with an open hold');
select is(pg_temp.account('17000000-0000-4000-8000-00000000a11c'), '{"balance": 9967, "held": 127}'::jsonb, 'held');
select is(api.begin_title(pg_temp.id('c_tea')), null, 'a second begin while one runs does nothing');
select is((select count(*)::int from public.conversation_title_jobs where conversation_id = pg_temp.id('c_tea')), 1,
  'and writes nothing');

select is(api.finish_title(pg_temp.id('t_tea'), E'"Green tea brewing."\n', 80, 5),
  '{"title": "Green tea brewing", "credits_charged": 90}'::jsonb, 'the title is set, charged 80 + 5 x 2');
select is(pg_temp.job('t_tea'), '["complete", "Green tea brewing", 80, 5, 90, 0.000090, "settled", 90]'::jsonb,
  'the job keeps the title, its tokens and charge; the hold settled at the charge');
select is(
  (select jsonb_build_array(action, model, provider, units, tokens_in, tokens_out, credits, cost_usd)
   from public.usage_events where title_id = pg_temp.id('t_tea')),
  '["chat", "chat-title-test", "openai", 0.085, 80, 5, 90, 0.000090]'::jsonb, 'one usage event');
select is(
  (select jsonb_build_array(title, message_count, tokens_in, tokens_out, credits) from public.conversations
   where id = pg_temp.id('c_tea')),
  '["Green tea brewing", 2, 93, 15, 123]'::jsonb, 'the conversation has the title and counts its tokens and credits');
select is(pg_temp.account('17000000-0000-4000-8000-00000000a11c'), '{"balance": 9877, "held": 0}'::jsonb,
  'the balance paid the charge and nothing stays held');

select is(api.finish_title(pg_temp.id('t_tea'), 'Something else', 1, 1, true),
  '{"title": "Green tea brewing", "credits_charged": 90}'::jsonb, 'a second finish answers as the first');
select is(
  jsonb_build_array(pg_temp.job('t_tea'),
    (select array_agg(kind order by id) from public.credit_ledger
     where hold_id = (select hold_id from public.conversation_title_jobs where id = pg_temp.id('t_tea'))),
    (select count(*) from public.usage_events where title_id = pg_temp.id('t_tea'))),
  '[["complete", "Green tea brewing", 80, 5, 90, 0.000090, "settled", 90], ["reserve", "settle"], 1]'::jsonb,
  'and changes nothing: reserved once, settled once, one usage event');
select is(pg_temp.account('17000000-0000-4000-8000-00000000a11c'), '{"balance": 9877, "held": 0}'::jsonb, 'nor the balance');
select is(api.begin_title(pg_temp.id('c_tea')), null, 'a titled conversation gets no other title');
reset role;
select api.update_conversation(pg_temp.id('c_tea'), '{"title": null}');
set local role service_role;
select is(api.begin_title(pg_temp.id('c_tea')), null, 'nor once its title is cleared: the job is done');
select throws_ok($$ select api.begin_title(gen_random_uuid()) $$, 'PT404', 'conversation not found', 'an unknown conversation');
select throws_ok($$ select api.finish_title(gen_random_uuid(), 'x') $$, 'PT404', 'title job not found', 'an unknown job');
select throws_ok(format('select api.finish_title(%L, %L, -1)', pg_temp.id('t_tea'), 'x'), 'PT400',
  'token counts must not be negative', 'negative counts');

/** The user's title wins; counts the provider never sent */

reset role;
select pg_temp.chat('c_mine', 'Plan a trip to Kyoto', 'Start with Fushimi Inari early in the morning.');
set local role service_role;
select pg_temp.begin('t_mine', pg_temp.id('c_mine'));
reset role;
select api.update_conversation(pg_temp.id('c_mine'), '{"title": "My Kyoto plan"}');
set local role service_role;
select is(api.finish_title(pg_temp.id('t_mine'), 'Kyoto trip', 80, 5),
  '{"title": "My Kyoto plan", "credits_charged": 90}'::jsonb,
  'a title the user set meanwhile wins; the work done is still charged');
select is((select title from public.conversation_title_jobs where id = pg_temp.id('t_mine')), 'Kyoto trip',
  'the job keeps what the model wrote');

reset role;
select pg_temp.chat('c_est', 'What is a haiku?', 'A short poem of three lines.');
set local role service_role;
select pg_temp.begin('t_est', pg_temp.id('c_est'));
select is(api.finish_title(pg_temp.id('t_est'), 'Haiku basics') -> 'credits_charged',
  (select to_jsonb(prompt_tokens_estimate + 3 * 2) from public.conversation_title_jobs where id = pg_temp.id('t_est')),
  'without the provider''s counts, the prompt''s estimate and the title''s (3 tokens) are charged');

/** Failures and the sweep */

reset role;
select pg_temp.chat('c_fail', 'Translate hello into French', 'Bonjour.');
set local role service_role;
select pg_temp.begin('t_fail', pg_temp.id('c_fail'));
select is(api.finish_title(pg_temp.id('t_fail'), null, p_failed => true), '{"title": null, "credits_charged": 0}'::jsonb,
  'a title that failed with nothing produced is free');
select is(
  jsonb_build_array(pg_temp.job('t_fail'), (select count(*) from public.usage_events where title_id = pg_temp.id('t_fail')),
    (select jsonb_build_array(title, tokens_in, tokens_out, credits) from public.conversations where id = pg_temp.id('c_fail'))),
  '[["failed", null, null, null, 0, 0, "released", 0], 0, [null, 14, 2, 18]]'::jsonb,
  'its hold is released; no usage, no title, and the counters hold only the reply''s');
select isnt(pg_temp.begin('t_retry', pg_temp.id('c_fail')), null, 'a failed title is tried again after a later reply');
select is(pg_temp.account('17000000-0000-4000-8000-00000000a11c') -> 'held',
  (select to_jsonb(credits_reserved) from public.conversation_title_jobs where id = pg_temp.id('t_retry')), 'its hold is open');

reset role;
update public.conversation_title_jobs set created_at = now() - interval '16 minutes' where id = pg_temp.id('t_retry');
set local role service_role;
select is(api.sweep_stuck_replies(), 1, 'the sweep ends the title job running for 16 minutes');
select is(pg_temp.job('t_retry'), '["failed", null, null, null, 0, 0, "released", 0]'::jsonb,
  'as failed and free, its hold released');
select is(pg_temp.account('17000000-0000-4000-8000-00000000a11c') -> 'held', '0'::jsonb, 'nothing stays held');
select is(api.sweep_stuck_replies(), 0, 'a second run finds nothing');
select is(api.finish_title(pg_temp.id('t_retry'), 'Late title', 10, 1), '{"title": null, "credits_charged": 0}'::jsonb,
  'a late finish of a swept job changes nothing');

/** Configuration */

reset role;
update private.chat_config set value = 'true' where key = 'titles_free';
select pg_temp.chat('c_free', 'Name three primes', '2, 3 and 5.');
set local role service_role;
select is(pg_temp.begin('t_free', pg_temp.id('c_free')) -> 'credits_reserved', '0'::jsonb,
  'free by configuration: nothing is reserved');
select is((select hold_id from public.conversation_title_jobs where id = pg_temp.id('t_free')), null, 'no hold');
select is(api.finish_title(pg_temp.id('t_free'), 'Three primes', 80, 5), '{"title": "Three primes", "credits_charged": 0}'::jsonb,
  'a free title charges nothing');
select is(
  (select jsonb_build_array(tokens_in, tokens_out, credits, cost_usd) from public.usage_events where title_id = pg_temp.id('t_free')),
  '[80, 5, 0, 0.000090]'::jsonb, 'and still writes its usage, with its tokens and provider cost');

reset role;
update private.chat_config set value = 'false' where key = 'titles_free';
update private.chat_config set value = '"chat-title-alt"' where key = 'title_model';
select pg_temp.chat('c_alt', 'Best tea for mornings?', 'Assam: strong and malty.');
set local role service_role;
select pg_temp.begin('t_alt', pg_temp.id('c_alt'));
select is(
  (select jsonb_build_array(r -> 'request' -> 'protocol', r -> 'request' -> 'provider', r -> 'request' -> 'model',
     r -> 'request' -> 'max_tokens', r -> 'credits_reserved')
   from (select pg_temp.got('t_alt') r) x),
  jsonb_build_array('anthropic_messages', 'anthropic', 'alt-1', 16,
    (select ceil((prompt_tokens_estimate * 500 + 16 * 1000) / 1000.0)::int
     from public.conversation_title_jobs where id = pg_temp.id('t_alt'))),
  'a configured title model is asked, within its reply limit and at its price');
select api.finish_title(pg_temp.id('t_alt'), 'Morning teas', 70, 4);

reset role;
update private.chat_config set value = '"flux-schnell"' where key = 'title_model';
select pg_temp.chat('c_fallback', 'Why is the sky blue?', 'Rayleigh scattering.');
set local role service_role;
select is(pg_temp.begin('t_fallback', pg_temp.id('c_fallback')) -> 'request' ->> 'model', 'title-1',
  'a configured model that is no chat model falls back to the conversation''s');
select api.finish_title(pg_temp.id('t_fallback'), 'Blue sky', 70, 4);

reset role;
update private.chat_config set value = 'null' where key = 'title_model';
update private.chat_config set value = 'false' where key = 'titles_enabled';
select pg_temp.chat('c_off', 'Hello there', 'Hi!');
set local role service_role;
select is(api.begin_title(pg_temp.id('c_off')), null, 'titles switched off: nothing to do');
reset role;
update private.chat_config set value = 'true' where key = 'titles_enabled';
select throws_ok($$ update private.chat_config set value = '"yes"' where key = 'titles_free' $$, '23514', null,
  'each key keeps its type');
select throws_ok($$ insert into private.chat_config values ('titles_colour', '"blue"') $$, '23514', null,
  'and no unknown key is stored');

/** Short credits, deleted conversations */

-- Carol's 5 credits cannot cover a title's hold; her exchange is written directly (a reply
-- would cost more than she has).
insert into public.conversations (id, user_id, model, settings)
values ('17000000-0000-4000-8000-0000000c0c01', '17000000-0000-4000-8000-000000000c0c', 'chat-title-test', '{}');
insert into public.messages (id, conversation_id, user_id, role, content)
values ('17000000-0000-4000-8000-0000000c0c02', '17000000-0000-4000-8000-0000000c0c01',
  '17000000-0000-4000-8000-000000000c0c', 'user', 'Hello');
insert into public.messages (conversation_id, user_id, parent_id, role, content)
values ('17000000-0000-4000-8000-0000000c0c01', '17000000-0000-4000-8000-000000000c0c',
  '17000000-0000-4000-8000-0000000c0c02', 'assistant', 'Hi, Carol.');
set local role service_role;
select is(api.begin_title('17000000-0000-4000-8000-0000000c0c01'), null, 'credits short: no title, and no error');
reset role;
select is(
  jsonb_build_array(
    (select count(*) from public.conversation_title_jobs where user_id = '17000000-0000-4000-8000-000000000c0c'),
    (select count(*) from public.credit_holds h join public.credit_accounts a on a.id = h.account_id
     where a.owner_user_id = '17000000-0000-4000-8000-000000000c0c'),
    pg_temp.account('17000000-0000-4000-8000-000000000c0c')),
  '[0, 0, {"balance": 5, "held": 0}]'::jsonb, 'and nothing is written: no job, no hold');

select pg_temp.chat('c_gone', 'Forget this', 'Done.');
select api.delete_conversations(array[pg_temp.id('c_gone')]);
set local role service_role;
select is(api.begin_title(pg_temp.id('c_gone')), null, 'a deleted conversation gets no title');

/** Strangers */

reset role;
set local role authenticated;
select is((select count(*)::int from public.conversation_title_jobs), 8, 'she reads her own title jobs');
select set_config('request.jwt.claims', '{"sub": "17000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);
select is_empty($$ select 1 from public.conversation_title_jobs $$, 'a stranger reads none of her title jobs');
select throws_ok(format('select api.begin_title(%L)', pg_temp.id('c_mine')), '42501', null, 'users cannot begin a title');
select throws_ok(format('select api.finish_title(%L, %L)', pg_temp.id('t_tea'), 'Forged'), '42501', null,
  'nor finish one');
select throws_ok($$ select * from private.chat_config $$, '42501', null, 'nor read the configuration');
select throws_ok($$ update private.chat_config set value = 'true' where key = 'titles_free' $$, '42501', null,
  'nor change it');
select throws_ok(format('update public.conversation_title_jobs set title = %L where id = %L', 'Forged', pg_temp.id('t_tea')),
  '42501', null, 'nor write a job');
reset role;
select ok(
  not has_function_privilege('authenticated', 'api.begin_title(uuid)', 'execute')
  and not has_function_privilege('authenticated', 'api.finish_title(uuid,text,integer,integer,boolean)', 'execute')
  and not has_function_privilege('anon', 'api.begin_title(uuid)', 'execute')
  and has_function_privilege('service_role', 'api.begin_title(uuid)', 'execute')
  and has_function_privilege('service_role', 'api.finish_title(uuid,text,integer,integer,boolean)', 'execute'),
  'the title functions are the service role''s only');
set local role anon;
select throws_ok($$ select * from public.conversation_title_jobs $$, '42501', null, 'anon cannot read title jobs');

/** The books */

reset role;
select is_empty(
  $$ select j.id from public.conversation_title_jobs j left join public.credit_holds h on h.id = j.hold_id
     where not ((j.hold_id is null and j.credits_reserved = 0 and j.status <> 'running' and j.credits = 0)
       or (j.status = 'running' and h.status = 'open')
       or (j.status <> 'running' and h.status = 'settled' and h.charged = j.credits)
       or (j.status <> 'running' and h.status = 'released' and j.credits = 0)) $$,
  'every title job agrees with its hold: open while running, then settled at its charge or released');
select is(
  (select jsonb_build_array(c.tokens_in, c.tokens_out, c.credits) from public.conversations c where c.id = pg_temp.id('c_mine')),
  (select jsonb_build_array(sum(t), sum(o), sum(cr)) from (
     select tokens_in t, tokens_out o, credits cr from public.messages where conversation_id = pg_temp.id('c_mine')
     union all
     select tokens_in, tokens_out, credits from public.conversation_title_jobs where conversation_id = pg_temp.id('c_mine')) x),
  'a conversation''s counters are the sums of its replies and its title');
set local role service_role;
select is(api.audit_credits(), '[]'::jsonb, 'the books balance after every title');

select * from finish();
rollback;
