-- Uploads: the server chooses the path, the bucket's own limits refuse early, a stranger can
-- neither see another's upload nor pass it to a generation, and a `file` parameter accepts
-- only the caller's arrived file of an allowed type, sent on as a storage marker.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

select plan(32);

insert into auth.users (id, email) values
  ('13000000-0000-4000-8000-00000000a11c', 'alice.uploads@example.test'),
  ('13000000-0000-4000-8000-000000000b0b', 'bob.uploads@example.test');
select private.change_credits('13000000-0000-4000-8000-00000000a11c', 'grant', 500, 'test:grant', null, 'test');
select private.change_credits('13000000-0000-4000-8000-000000000b0b', 'grant', 500, 'test:grant', null, 'test');

-- Uploads the test refers to across role switches.
create temp table ids (name text primary key, id uuid, path text);
grant all on ids to public;

/** Alice asks for upload URLs */

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "13000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

insert into ids
select 'image', (r ->> 'upload_id')::uuid, r ->> 'path'
from api.create_upload('reference_image', 'Image/PNG', 2048, E'../../tmp/ca\u0007t.png') r;
insert into ids
select 'pending', (r ->> 'upload_id')::uuid, r ->> 'path'
from api.create_upload('reference_image', 'image/webp', 10, null) r;
insert into ids
select 'text', (r ->> 'upload_id')::uuid, r ->> 'path'
from api.create_upload('document', 'text/plain', 10, 'notes.txt') r;

select is(
  (select path from ids where name = 'image'),
  '13000000-0000-4000-8000-00000000a11c/' || (select id from ids where name = 'image') || '.png',
  'the path is the caller''s folder, the upload id and the extension of the content type'
);
select is(
  api.create_upload('reference_image', 'image/jpeg', 1, 'x.exe') - 'upload_id' - 'path',
  '{"purpose": "reference_image", "bucket": "media", "content_type": "image/jpeg", "max_bytes": 104857600}'::jsonb,
  'a reference image goes to media, with the bucket''s size limit'
);
select ok(
  (api.create_upload('reference_image', 'image/jpeg', 1, 'x.exe') ->> 'path') like '%.jpg',
  'the extension never comes from the filename'
);
select is(
  (select jsonb_build_object('filename', filename, 'content_type', content_type, 'bytes', bytes)
   from public.uploads where id = (select id from ids where name = 'image')),
  '{"filename": "cat.png", "content_type": "image/png", "bytes": 2048}'::jsonb,
  'the filename is kept only as a sanitized display name, the type lower-cased'
);
select is(
  (select bucket from public.uploads where id = (select id from ids where name = 'text')),
  'documents', 'a document goes to documents'
);
select is(
  api.create_upload('audio_recording', 'audio/webm', 52428800, null) ->> 'bucket',
  'audio-recordings', 'an audio recording at the bucket''s exact limit is accepted'
);
select is(
  api.create_upload('document', 'application/x-unknown', 5, null) ->> 'path' ~ '\.bin$', true,
  'a type without a known extension gets .bin'
);

/** Limits come from the bucket */

select throws_ok(
  $$ select api.create_upload('audio_recording', 'audio/webm', 52428801, null) $$,
  'PT413', 'bytes must be at most 52428800 for audio_recording',
  'a file over the bucket''s file_size_limit is refused'
);
select throws_ok(
  $$ select api.create_upload('audio_recording', 'audio/flac', 10, null) $$,
  'PT415', 'content_type audio/flac is not accepted for audio_recording (accepted: audio/mpeg, audio/wav, audio/webm, audio/ogg, audio/mp4, audio/aac)',
  'a type outside the bucket''s allowed_mime_types is refused'
);
select throws_ok(
  $$ select api.create_upload('reference_image', 'application/pdf', 10, null) $$,
  'PT415', 'content_type application/pdf is not accepted for reference_image (accepted: image/*)',
  'a purpose narrows a bucket that takes anything'
);
select throws_ok(
  $$ select api.create_upload('training_image', 'video/mp4', 10, null) $$,
  'PT415', null, 'training images are images'
);
select throws_ok(
  $$ select api.create_upload('avatar', 'image/png', 10, null) $$,
  'PT400', 'purpose must be one of audio_recording, document, reference_image, training_image, training_video',
  'an unknown purpose is refused, naming the known ones'
);
select throws_ok(
  $$ select api.create_upload('document', 'text plain', 10, null) $$,
  'PT400', 'content_type must be a MIME type such as image/png',
  'a content type must be a type/subtype'
);
select throws_ok(
  $$ select api.create_upload('document', 'text/plain', 0, null) $$,
  'PT400', 'bytes must be a positive integer',
  'an empty file is refused'
);
select is(
  (select count(*)::int from public.uploads where user_id = '13000000-0000-4000-8000-00000000a11c'),
  7, 'refused requests record nothing'
);

/** Before the file arrives */

select is(
  api.get_upload((select id from ids where name = 'image')) - 'created_at' - 'upload_id' - 'path',
  '{"purpose": "reference_image", "bucket": "media", "content_type": "image/png", "bytes": 2048,
    "filename": "cat.png", "uploaded": false, "object": null}'::jsonb,
  'an upload whose file has not arrived says so'
);
select throws_ok(
  format($$ select api.quote('flux-dev', 'a cat', '{"image": "%s"}') $$, (select id from ids where name = 'pending')),
  'PT400', format('params.image: upload %s has no file yet (PUT the file to its upload url first)',
    (select id from ids where name = 'pending')),
  'an upload without its file cannot be an input'
);

/** Storage records the files (as Storage itself does, with its metadata) */

reset role;
insert into storage.objects (bucket_id, name, owner, metadata)
select u.bucket, u.path, u.user_id, jsonb_build_object('size', 1999, 'mimetype', u.content_type)
from public.uploads u where u.id in (select id from ids where name in ('image', 'text'));

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "13000000-0000-4000-8000-00000000a11c", "role": "authenticated"}', true);

select is(
  (api.get_upload((select id from ids where name = 'image')) -> 'object') - 'uploaded_at',
  '{"size": 1999, "mimetype": "image/png"}'::jsonb,
  'an arrived file shows its size and type as Storage recorded them'
);
select is(
  private.price('flux-dev', 'a cat', jsonb_build_object('image', upper((select id::text from ids where name = 'image'))))
    -> 'provider_input' -> 'image',
  jsonb_build_object('$storage', jsonb_build_object('bucket', 'media', 'path', (select path from ids where name = 'image'))),
  'the provider input carries a storage marker for the upload'
);
select throws_ok(
  format($$ select api.quote('flux-dev', 'a cat', '{"image": "%s"}') $$, (select id from ids where name = 'text')),
  'PT400', 'params.image must be a file of type image/jpeg, image/png, image/gif, image/webp, not text/plain',
  'a file of a type the parameter does not accept is refused'
);
select throws_ok(
  $$ select api.quote('flux-dev', 'a cat', '{"image": "not-an-id"}') $$,
  'PT400', 'params.image must be the upload_id of one of your uploads',
  'an input that is no upload id is refused'
);

insert into ids
select 'g', (r -> 'generation' ->> 'id')::uuid, null
from api.create_generation('image', 'flux-dev', 'a cat, as a painting',
  jsonb_build_object('image', (select id from ids where name = 'image'))) r;
select is(
  (select params ->> 'image' from public.generations where id = (select id from ids where name = 'g')),
  (select id::text from ids where name = 'image'),
  'the generation keeps the upload id among its params'
);
select is(
  (api.create_generation('image', 'flux-dev', 'a cat, as a painting',
     jsonb_build_object('image', (select id from ids where name = 'image')), 'k-1') -> 'provider_input' -> 'image' -> '$storage' ->> 'path'),
  (select path from ids where name = 'image'),
  'create_generation hands the function the marker to sign'
);

/** Bob, a stranger */

select set_config('request.jwt.claims', '{"sub": "13000000-0000-4000-8000-000000000b0b", "role": "authenticated"}', true);

select is((select count(*)::int from public.uploads), 0, 'a stranger sees none of alice''s uploads');
select throws_ok(
  format($$ select api.get_upload('%s') $$, (select id from ids where name = 'image')),
  'PT404', 'upload not found', 'a stranger cannot read alice''s upload by id'
);
select throws_ok(
  format($$ select api.create_generation('image', 'flux-dev', 'a cat', '{"image": "%s"}') $$,
    (select id from ids where name = 'image')),
  'PT400', 'params.image must be the upload_id of one of your uploads',
  'a stranger cannot pass alice''s upload to a generation'
);
select is(
  (select count(*)::int from public.generations) + (select count(*)::int from public.credit_holds),
  0, 'and the refused generation holds nothing'
);
select throws_ok(
  $$ insert into public.uploads (user_id, purpose, bucket, path, content_type, bytes)
     values ('13000000-0000-4000-8000-000000000b0b', 'reference_image', 'media',
             '13000000-0000-4000-8000-00000000a11c/x.png', 'image/png', 1) $$,
  '42501', null, 'users cannot write upload rows themselves'
);
select throws_ok(
  $$ update public.uploads set path = 'x' $$,
  '42501', null, 'nor change them'
);

/** Anon, and the parameter's own rules */

set local role anon;
select throws_ok(
  $$ select api.create_upload('document', 'text/plain', 10, null) $$,
  '42501', null, 'anon cannot ask for an upload url'
);

reset role;
select throws_ok(
  $$ insert into public.model_parameters (model, name, type, allowed, default_value)
     values ('flux-schnell', 'image', 'file', '["image/png"]', '"x"') $$,
  '23514', null, 'a file parameter has no default'
);
select throws_ok(
  $$ insert into public.model_parameters (model, name, type, allowed)
     values ('flux-schnell', 'image', 'file', '[]') $$,
  '23514', null, 'a file parameter lists the types it accepts'
);

select * from finish();
rollback;
