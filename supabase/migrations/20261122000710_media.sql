/**
 * Media library: one view over the caller's generations, as the seeds' media tables (000's
 * `/api/v2/user/media` and its per-kind lists, 002's favorites): newest first, keyset paged,
 * filtered by kinds, favorite and full text over title and prompt; stats by kind, status
 * and month; favorite and title edits; soft delete, with the files removed by the
 * stored-outputs migration's trigger; and a purge of rows soft-deleted longer than the
 * retention, which keeps the money history (the ledger and usage events outlive the row).
 *
 * 002's get_generation_counts() (all / processing / favorites / failed) is covered by
 * api.media_stats(): total, by_status and favorites.
 *
 * Reads and edits are SECURITY INVOKER: RLS and the column grants of public.generations
 * (is_favorite, title, deleted_at) decide. Soft-deleted rows vanish from every read at once.
 */

/** Search and paging */

-- 'simple': prompts come in every language, so words match as typed (case-folded), with no
-- stemming or stop words of one language.
alter table public.generations add column search tsvector
  generated always as (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(prompt, ''))) stored;

create index generations_search_idx on public.generations using gin (search)
  where deleted_at is null;

-- Favorites by kind: a favorites page probes each kind's range (see list_media). Only
-- favorited rows enter it, so the write path of new generations does not pay for it.
create index generations_user_favorite_idx
  on public.generations (user_id, kind, created_at desc, id desc)
  where deleted_at is null and is_favorite;

-- The purge's: only soft-deleted rows enter it.
create index generations_deleted_idx on public.generations (deleted_at)
  where deleted_at is not null;

/** Media API */

/**
 * The caller's generations, newest first, keyset-paged on (created_at, id) like
 * list_generations (same cursor, same {items, next_cursor}); soft-deleted ones excluded.
 * p_kinds: any of the generation kinds (null: every kind); p_favorite: only favorites
 * (true) or only the others (false); p_q: full text over title and prompt, in web search
 * syntax (`red fox`, `"red fox"`, `fox -red`, `fox or cat`).
 *
 * A page costs the same at any depth: the cursor bounds an index range, and with kinds or
 * favorites each kind's range is read newest first (p_limit + 1 rows at most) and the
 * ranges merged. The statement is built per call from fixed fragments (every value is a
 * parameter): one static statement with `x is null or ...` filters would be planned once
 * for every shape, could not use the cursor as an index bound nor the favorites index, and
 * would read every row above a deep page.
 */
create function api.list_media(
  p_kinds text[] default null,
  p_favorite boolean default null,
  p_q text default null,
  p_limit int default 20,
  p_cursor_created_at timestamptz default null,
  p_cursor_id uuid default null
) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_all_kinds constant text[] := array['image', 'video', 'audio', 'music', 'text', 'tts'];
  v_kinds text[];
  v_query tsquery;
  v_where text;
  v_from text;
  v_items jsonb;
begin
  perform private.check_page_limit(p_limit);
  perform private.check_cursor(p_cursor_created_at, p_cursor_id);
  if p_kinds is not null then
    if cardinality(p_kinds) = 0 or not p_kinds <@ v_all_kinds or array_position(p_kinds, null) is not null then
      raise exception using errcode = 'PT400',
        message = 'kind must be a comma-separated list of image, video, audio, music, text, tts';
    end if;
    v_kinds := array(select distinct k from unnest(p_kinds) k);
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

  v_where := 'g.user_id = $1 and g.deleted_at is null'
    || case when p_cursor_id is not null then ' and (g.created_at, g.id) < ($2, $3)' else '' end
    || case p_favorite when true then ' and g.is_favorite' when false then ' and not g.is_favorite' else '' end
    || case when v_query is not null then ' and g.search @@ $5' else '' end;
  if v_query is null and (v_kinds is not null or p_favorite) then
    v_from := format(
      'unnest(coalesce($4, %L::text[])) k (kind) cross join lateral (
         select g.* from public.generations g where %s and g.kind = k.kind
         order by g.created_at desc, g.id desc limit $6 + 1) g',
      v_all_kinds, v_where);
  else
    -- A text search reads its matches through the GIN index (or the newest rows, when
    -- most match: the planner weighs both with the actual values).
    v_from := 'public.generations g where ' || v_where
      || case when v_kinds is not null then ' and g.kind = any ($4)' else '' end;
  end if;

  -- One row more than asked tells whether a next page exists.
  execute format(
    'select coalesce(jsonb_agg(private.generation_json(page) order by page.created_at desc, page.id desc), ''[]''::jsonb)
     from (select g.* from %s order by g.created_at desc, g.id desc limit $6 + 1) page', v_from)
  into v_items
  using v_uid, p_cursor_created_at, p_cursor_id, v_kinds, v_query, p_limit;

  return private.keyset_page(v_items, p_limit);
end
$$;

grant execute on function api.list_media(text[], boolean, text, int, timestamptz, uuid) to authenticated;

/**
 * The caller's library in numbers, soft-deleted generations excluded: total, favorites,
 * counts by kind and by status (every kind and status listed, zeros included), credits
 * spent (what the generations were charged) and bytes stored (the sizes storage recorded
 * for outputs.files), overall and per calendar month (UTC, newest first).
 */
create function api.media_stats() returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_uid uuid := private.caller_id();
  v_no_kinds constant jsonb := '{"image": 0, "video": 0, "audio": 0, "music": 0, "text": 0, "tts": 0}';
  v_no_statuses constant jsonb := '{"queued": 0, "processing": 0, "succeeded": 0, "failed": 0, "canceled": 0}';
  v_stats jsonb;
begin
  with mine as (
    select g.kind, g.status, g.is_favorite, coalesce(g.credits_charged, 0) as credits,
           to_char(g.created_at at time zone 'UTC', 'YYYY-MM') as month,
           (select coalesce(sum((f ->> 'bytes')::bigint), 0)
            from jsonb_array_elements(case when jsonb_typeof(g.outputs -> 'files') = 'array'
                                           then g.outputs -> 'files' else '[]'::jsonb end) f
            where jsonb_typeof(f -> 'bytes') = 'number') as bytes
    from public.generations g
    where g.user_id = v_uid and g.deleted_at is null
  ), cells as (
    select month, kind, status, count(*) as n, count(*) filter (where is_favorite) as favorites,
           sum(credits) as credits, sum(bytes) as bytes
    from mine
    group by month, kind, status
  ),
  -- A null month is the whole library (the grouping set without month).
  totals as (
    select month, sum(n) as n, sum(favorites) as favorites, sum(credits) as credits, sum(bytes) as bytes
    from cells group by grouping sets ((month), ())
  ), by_kind as (
    select month, jsonb_object_agg(kind, n) as counts
    from (select month, kind, sum(n) as n from cells group by grouping sets ((month, kind), (kind))) k
    group by month
  ), by_status as (
    select month, jsonb_object_agg(status, n) as counts
    from (select month, status, sum(n) as n from cells group by grouping sets ((month, status), (status))) s
    group by month
  ), summaries as (
    select t.month, jsonb_build_object(
      'total', coalesce(t.n, 0),
      'favorites', coalesce(t.favorites, 0),
      'by_kind', v_no_kinds || coalesce(k.counts, '{}'::jsonb),
      'by_status', v_no_statuses || coalesce(s.counts, '{}'::jsonb),
      'credits_spent', coalesce(t.credits, 0),
      'bytes_stored', coalesce(t.bytes, 0)) as summary
    from totals t
    left join by_kind k on k.month is not distinct from t.month
    left join by_status s on s.month is not distinct from t.month
  )
  select (select summary from summaries where month is null)
    || jsonb_build_object('months', coalesce(
         (select jsonb_agg(jsonb_build_object('month', month) || summary order by month desc)
          from summaries where month is not null), '[]'::jsonb))
  into v_stats;
  return v_stats;
end
$$;

grant execute on function api.media_stats() to authenticated;

/**
 * Changes what its owner may change of one generation: {is_favorite?, title?} (a null
 * title clears it); any other key is PT400. PT404 when it is not the caller's or is
 * soft-deleted. SECURITY INVOKER: the update policy and the column grants decide.
 */
create function api.update_generation(p_id uuid, p_patch jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_key text;
  g public.generations;
begin
  if p_patch is null or jsonb_typeof(p_patch) <> 'object' or p_patch = '{}'::jsonb then
    raise exception using errcode = 'PT400', message = 'the patch must be a JSON object with is_favorite or title';
  end if;
  for v_key in select jsonb_object_keys(p_patch) loop
    if v_key not in ('is_favorite', 'title') then
      raise exception using errcode = 'PT400',
        message = format('unknown field: %s (is_favorite and title can be changed)', v_key);
    end if;
  end loop;
  if p_patch ? 'is_favorite' and jsonb_typeof(p_patch -> 'is_favorite') <> 'boolean' then
    raise exception using errcode = 'PT400', message = 'is_favorite must be true or false';
  end if;
  if p_patch ? 'title' and jsonb_typeof(p_patch -> 'title') <> 'null'
     and (jsonb_typeof(p_patch -> 'title') <> 'string'
          or char_length(btrim(p_patch ->> 'title')) not between 1 and private.input_limit('title_chars')) then
    raise exception using errcode = 'PT400',
      message = format('title must be 1 to %s characters, or null to clear it', private.input_limit('title_chars'));
  end if;

  update public.generations set
    is_favorite = case when p_patch ? 'is_favorite' then (p_patch ->> 'is_favorite')::boolean else is_favorite end,
    title = case when p_patch ? 'title' then btrim(p_patch ->> 'title') else title end
  where id = p_id and user_id = v_uid and deleted_at is null
  returning * into g;
  if not found then
    raise exception using errcode = 'PT404', message = 'generation not found';
  end if;
  return private.generation_json(g);
end
$$;

grant execute on function api.update_generation(uuid, jsonb) to authenticated;

/**
 * Soft-deletes the caller's generations among p_ids (1 to delete_ids_max of them) and
 * returns {deleted: [ids], not_found: [ids]}, each in the order given: ids that are not the
 * caller's, or already deleted, are simply not found. Their stored files are removed by the
 * stored-outputs trigger, exactly once; the money history stays as it is. SECURITY
 * INVOKER: the update policy and the column grant on deleted_at decide.
 */
create function api.delete_generations(p_ids uuid[]) returns jsonb
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
      message = format('ids must list 1 to %s generation ids', private.input_limit('delete_ids_max'));
  end if;

  with gone as (
    update public.generations set deleted_at = now()
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

grant execute on function api.delete_generations(uuid[]) to authenticated;

/** Purge */

/**
 * Deletes generations soft-deleted more than 30 days ago (at most 10,000 per run; a larger
 * backlog drains over the next runs) and returns how many. Only final ones: a generation
 * still running keeps its row until it settles. What references a generation either goes
 * with it (generation_errors; a GPU task) or keeps the money history with the id set null
 * (credit_holds, usage_events); the ledger keeps the id, having no foreign key. Its files
 * were removed when it was soft-deleted. Rows a request holds right now are skipped and
 * left to the next run. pg_cron runs it daily (private.schedule_sweeps); the local stack's
 * sweeper calls it.
 */
create function api.purge_deleted_generations() returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  with doomed as (
    select id from public.generations
    where deleted_at < now() - interval '30 days'
      and status in ('succeeded', 'failed', 'canceled')
    order by deleted_at
    limit 10000
    for update skip locked
  )
  delete from public.generations g using doomed where g.id = doomed.id;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;

grant execute on function api.purge_deleted_generations() to service_role;

/** Lock down */

revoke execute on all functions in schema api, private from public;
