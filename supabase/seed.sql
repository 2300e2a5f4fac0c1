-- Development users (password for all: password123). Runs after the migrations, as
-- `postgres`, locally and on `supabase db reset`. The auth.users trigger creates the
-- profiles (and their credit accounts).
--   alice  a11ce000-0000-4000-8000-000000000001
--   bob    b0b00000-0000-4000-8000-000000000002
--   admin  ad000000-0000-4000-8000-000000000003

insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  confirmation_token, recovery_token, email_change_token_new, email_change,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at
)
select
  '00000000-0000-0000-0000-000000000000', u.id, 'authenticated', 'authenticated', u.email,
  -- bcrypt('password123'), precomputed: pgcrypto is not available everywhere.
  '$2a$12$wNVCDkY1NxZVnwoybEhAKeFDt63qx7v0DU0QOXUKqvIN71xyon4Di', now(),
  '', '', '', '',
  '{"provider": "email", "providers": ["email"]}', jsonb_build_object('display_name', u.name),
  now(), now()
from (values
  ('a11ce000-0000-4000-8000-000000000001'::uuid, 'alice@example.com', 'Alice'),
  ('b0b00000-0000-4000-8000-000000000002'::uuid, 'bob@example.com', 'Bob'),
  ('ad000000-0000-4000-8000-000000000003'::uuid, 'admin@example.com', 'Admin')
) as u (id, email, name)
on conflict (id) do nothing;

-- GoTrue signs users in through their email identity.
insert into auth.identities (id, provider_id, user_id, identity_data, provider, created_at, updated_at)
select u.id, u.id::text, u.id,
  jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true),
  'email', now(), now()
from auth.users u
where u.id in ('a11ce000-0000-4000-8000-000000000001', 'b0b00000-0000-4000-8000-000000000002',
               'ad000000-0000-4000-8000-000000000003')
on conflict do nothing;

update public.profiles set role = 'admin'
where id = 'ad000000-0000-4000-8000-000000000003';

-- Starting credits (1 credit = USD 0.001); idempotent, so re-running the seed is harmless.
do $$
begin
  perform private.change_credits(u.id, 'grant', 1000, 'seed:welcome', null, 'development seed')
  from (values ('a11ce000-0000-4000-8000-000000000001'::uuid),
               ('b0b00000-0000-4000-8000-000000000002'::uuid)) u (id);
end
$$;

-- A LoRA trainer for development (loras migration), priced per optimizer step: a run of
-- `steps` reserves and charges steps x 2 credits. Replicate's trainings API needs a pinned
-- version (`owner/name:version`): a deployment inserts its own row with the trainer version
-- it has checked, and sets REPLICATE_TRAINING_DESTINATION (functions/loras) to the model
-- that receives the trained versions.
insert into public.ai_models (model, kind, provider, protocol, provider_ref, max_units, prompt_param)
values ('flux-lora-trainer', 'training', 'replicate', 'replicate',
        'ostris/flux-dev-lora-trainer:dev0000000000000000000000000000000000000000000000000000000000000',
        4000, 'trigger_word')
on conflict (model) do nothing;

insert into public.model_parameters
  (model, name, type, minimum, maximum, max_length, allowed, default_value, provider_name, drives_units) values
  ('flux-lora-trainer', 'steps', 'integer', 3, 4000, null, null, '1000', null, true),
  ('flux-lora-trainer', 'lora_rank', 'integer', 4, 128, null, null, '16', null, false),
  ('flux-lora-trainer', 'learning_rate', 'number', 0.00001, 0.01, null, null, '0.0004', null, false),
  ('flux-lora-trainer', 'batch_size', 'integer', 1, 4, null, null, '1', null, false),
  ('flux-lora-trainer', 'resolution', 'enum', null, null, null, '["512", "768", "1024", "512,768,1024"]', '"512,768,1024"', null, false),
  ('flux-lora-trainer', 'autocaption', 'boolean', null, null, null, null, 'true', null, false)
on conflict (model, name) do nothing;

insert into public.pricing (action, model, unit, credits_per_unit, usd_per_unit, active_from)
select 'train_lora', 'flux-lora-trainer', 'step', 2, 0.0012, '2026-01-01'
where not exists (select 1 from public.pricing where model = 'flux-lora-trainer');
