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
