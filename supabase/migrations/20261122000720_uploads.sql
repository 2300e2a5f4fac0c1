/**
 * Uploads: files users put into Storage themselves (audio recordings, documents for chat,
 * reference images for image-to-image, LoRA training images), each through a signed upload
 * URL for a path the server chooses: `{user_id}/{upload_id}.{ext}` in the purpose's bucket,
 * the extension from the content type; a project's audio recording goes to 004's layout,
 * `{user_id}/{project_id}/{timestamp}_{filename}.{ext}`. An upload is recorded before its
 * file arrives, so a generation can name it by id (a `file` parameter, models migration);
 * storage.objects says whether, and what, arrived.
 *
 * Purposes and their buckets (identity migration):
 *   audio_recording  audio-recordings      the bucket's audio types
 *   document         documents             any type (the bucket lists none)
 *   reference_image  media                 images only (the bucket itself takes anything)
 *   training_image   lora-training-images  the bucket's images
 * Size and type limits are the buckets' own (storage.buckets), which Storage enforces again
 * on the upload itself; checking them here refuses a request before a URL is signed.
 */

/** Uploads */

create table public.uploads (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  purpose text not null,
  bucket text not null,
  path text not null,
  -- What the client declared; storage.objects holds what arrived.
  content_type text not null,
  bytes bigint not null check (bytes > 0),
  -- A display name only, never part of the path.
  filename text check (char_length(filename) between 1 and 255),
  created_at timestamptz not null default now(),
  constraint uploads_object unique (bucket, path)
);

create index uploads_user_created_idx on public.uploads (user_id, created_at desc);

alter table public.uploads enable row level security;

create policy "Users can view their own uploads"
  on public.uploads for select to authenticated
  using (user_id = (select auth.uid()));

-- Written only by api.create_upload, which chooses the path: a row a user wrote could name
-- another user's object and pass it to a provider as theirs.
revoke all on public.uploads from anon, authenticated, service_role;
grant select on public.uploads to authenticated, service_role;

/** Upload helpers (private) */

/**
 * Each purpose's bucket, and the types it narrows that bucket to (null: the bucket's own).
 */
create function private.upload_purposes() returns table (purpose text, bucket text, mime_types text[])
language sql
immutable
set search_path = ''
as $$
  values
    ('audio_recording', 'audio-recordings', null::text[]),
    ('document', 'documents', null::text[]),
    ('reference_image', 'media', array['image/*']),
    ('training_image', 'lora-training-images', null::text[]),
    ('training_video', 'training-data', null::text[])
$$;

/**
 * A client's filename as a display name: its last path segment, without control or
 * invisible formatting characters, at most 255 characters; null when nothing is left.
 */
create function private.upload_display_name(p_filename text) returns text
language sql
immutable
set search_path = ''
as $$
  select nullif(btrim(left(btrim(regexp_replace(
    regexp_replace(p_filename, '^.*[/\\]', ''),
    '[[:cntrl:]\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]', '', 'g')), 255)), '')
$$;

/**
 * A client's filename as the last part of a path: its display name without extension,
 * every run of characters other than ASCII letters, digits, '.', '_' and '-' one '_', at
 * most 100 characters; 'recording' when nothing is left.
 */
create function private.upload_path_stem(p_filename text) returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(nullif(btrim(left(regexp_replace(
    regexp_replace(private.upload_display_name(p_filename), '\.[^.]*$', ''),
    '[^A-Za-z0-9._-]+', '_', 'g'), 100), '._'), ''), 'recording')
$$;

/** Uploads API */

/**
 * Records an upload for the caller and says where its file goes; the function then signs
 * an upload URL for that path as the user, so Storage's policies decide as well. PT400 for
 * an unknown purpose, a malformed content type or a size under one byte, PT413 when p_bytes
 * is over the bucket's file_size_limit, PT415 when the type is not one the bucket (and the
 * purpose) accept. p_project_id, for an audio_recording only, puts it in that project's
 * layout (member role on the project: PT404 / PT403 as private.project_role), so the
 * projects migration can register it as the project's recording. SECURITY DEFINER: it
 * reads storage.buckets and writes uploads, neither of which users may.
 */
create function api.create_upload(
  p_purpose text,
  p_content_type text,
  p_bytes bigint,
  p_filename text default null,
  p_project_id uuid default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_type text := private.mime_type(p_content_type);
  v_bucket text;
  v_purpose_types text[];
  v_found boolean;
  v_limit bigint;
  v_bucket_types text[];
  v_id uuid := gen_random_uuid();
  v_path text;
begin
  select p.bucket, p.mime_types into v_bucket, v_purpose_types
  from private.upload_purposes() p where p.purpose = p_purpose;
  if not found then
    raise exception using errcode = 'PT400', message = format('purpose must be one of %s',
      (select string_agg(p.purpose, ', ' order by p.purpose) from private.upload_purposes() p));
  end if;
  if p_project_id is not null then
    if p_purpose <> 'audio_recording' then
      raise exception using errcode = 'PT400', message = 'project_id is only for audio_recording uploads';
    end if;
    perform private.project_role(p_project_id, 'member');
  end if;
  if v_type is null then
    raise exception using errcode = 'PT400', message = 'content_type must be a MIME type such as image/png';
  end if;
  if p_bytes is null or p_bytes < 1 then
    raise exception using errcode = 'PT400', message = 'bytes must be a positive integer';
  end if;

  select true, b.file_size_limit, b.allowed_mime_types into v_found, v_limit, v_bucket_types
  from storage.buckets b where b.id = v_bucket;
  if v_found is null then
    -- A deployment without the identity migration's buckets: ours, not the client's.
    raise exception using errcode = '42704', message = format('bucket %s does not exist', v_bucket);
  end if;
  if p_bytes > v_limit then
    raise exception using errcode = 'PT413',
      message = format('bytes must be at most %s for %s', v_limit, p_purpose);
  end if;
  if not (private.mime_allowed(v_type, v_bucket_types) and private.mime_allowed(v_type, v_purpose_types)) then
    raise exception using errcode = 'PT415', message = format('content_type %s is not accepted for %s (accepted: %s)',
      v_type, p_purpose, array_to_string(coalesce(v_purpose_types, v_bucket_types), ', '));
  end if;

  v_path := case when p_project_id is null then format('%s/%s.%s', v_uid, v_id, private.mime_extension(v_type))
    -- Milliseconds since the epoch: names sort by recording time.
    else format('%s/%s/%s_%s.%s', v_uid, p_project_id, (extract(epoch from clock_timestamp()) * 1000)::bigint,
      private.upload_path_stem(p_filename), private.mime_extension(v_type)) end;
  insert into public.uploads (id, user_id, purpose, bucket, path, content_type, bytes, filename)
  values (v_id, v_uid, p_purpose, v_bucket, v_path, v_type, p_bytes, private.upload_display_name(p_filename));

  return jsonb_build_object('upload_id', v_id, 'purpose', p_purpose, 'bucket', v_bucket, 'path', v_path,
    'content_type', v_type, 'max_bytes', v_limit);
end
$$;

grant execute on function api.create_upload(text, text, bigint, text, uuid) to authenticated;

/**
 * One of the caller's uploads, with whether its file has arrived and, if so, its size and
 * type as Storage recorded them; PT404 when it is not the caller's. SECURITY INVOKER: the
 * policies of uploads and storage.objects decide what the caller sees.
 */
create function api.get_upload(p_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_upload jsonb;
begin
  perform private.caller_id();
  select jsonb_build_object('upload_id', u.id, 'purpose', u.purpose, 'bucket', u.bucket, 'path', u.path,
      'content_type', u.content_type, 'bytes', u.bytes, 'filename', u.filename,
      'created_at', u.created_at, 'uploaded', o.id is not null,
      'object', case when o.id is not null then jsonb_build_object('size', o.metadata -> 'size',
        'mimetype', o.metadata -> 'mimetype', 'uploaded_at', o.created_at) end)
  into v_upload
  from public.uploads u
  left join storage.objects o on o.bucket_id = u.bucket and o.name = u.path
  where u.id = p_id;
  if v_upload is null then
    raise exception using errcode = 'PT404', message = 'upload not found';
  end if;
  return v_upload;
end
$$;

grant execute on function api.get_upload(uuid) to authenticated;

/** Lock down */

revoke execute on all functions in schema api, private from public;
