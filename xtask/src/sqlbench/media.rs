//! The media library's keyset paging: a page of `api.list_media` at depth 10,000 beside the
//! first page, for one user with 13,000 generations (5% of them soft-deleted, among every other
//! bench user's rows), without and with a filter on several kinds. A keyset page should cost
//! the same at any depth: the acceptance is a deep page costing at most 1.2x the first, that is
//! a ratio (deep pages/s over first pages/s) of at least 0.83.

use super::interleave::{self, Op, Side};
use super::{connect, settle, Pair};
use crate::pgrpc::call_as;
use anyhow::{bail, Context, Result};
use postgres::Client;

const CLIENTS: usize = 4;
const GENERATIONS: i32 = 13_000;
const DEPTH: i64 = 10_000;
const PAGE: i32 = 20;

pub fn run(db_url: &str, db: &mut Client, tag: &str) -> Result<Vec<Pair>> {
    let user = library(db, tag)?;
    settle(db, &["public.generations"])?;
    let mut pairs = Vec::new();
    for (label, kinds) in [
        ("every kind", None),
        (
            "kind=image,video",
            Some(vec!["image".to_string(), "video".to_string()]),
        ),
    ] {
        let cursor = deep_cursor(db, user, kinds.as_deref())?;
        let deep = |_: usize| page_client(db_url, user, kinds.clone(), Some(cursor.clone()));
        let first = |_: usize| page_client(db_url, user, kinds.clone(), None);
        let measured = interleave::measure(
            db,
            [
                Side {
                    clients: CLIENTS,
                    connect: &deep,
                },
                Side {
                    clients: CLIENTS,
                    connect: &first,
                },
            ],
        )?;
        pairs.push(
            Pair {
                name: format!(
                    "media: list_media page at depth {DEPTH}, {label}, {CLIENTS} clients (target ratio >= 0.83)"
                ),
                unit: "pages/s",
                baseline_name: format!("first page, {label}"),
                measured,
            }
            .logged(),
        );
    }
    Ok(pairs)
}

/// A new user and their library, written by SQL in one statement: kinds in turn, 90% images and
/// videos (so the filtered list is deep enough too), a favorite in seven, every twentieth
/// soft-deleted (the pages must skip them at no cost).
fn library(db: &mut Client, tag: &str) -> Result<uuid::Uuid> {
    let user: uuid::Uuid = db
        .query_one(
            "insert into auth.users (email, raw_user_meta_data)
             values (format('sqlbench-media-%s@example.com', $1::text), '{}'::jsonb) returning id",
            &[&tag],
        )?
        .get(0);
    db.execute(
        "insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id,
           units, status, is_favorite, created_at, deleted_at, outputs)
         select $1::uuid, (array['image', 'video', 'image', 'video', 'image', 'video', 'image', 'video',
                           'image', 'audio'])[1 + i % 10],
           'generate', 'flux-schnell', format('a lighthouse at dusk, take %s', i), 'provider',
           (select id from public.pricing where model = 'flux-schnell' order by active_from desc limit 1),
           1, 'succeeded', i % 7 = 0, now() - make_interval(secs => i),
           case when i % 20 = 0 then now() end,
           jsonb_build_object('storage', 'stored', 'files', jsonb_build_array(jsonb_build_object(
             'path', format('%s/%s/0.webp', $1::uuid, i), 'content_type', 'image/webp', 'bytes', 40000)))
         from generate_series(1, $2) i",
        &[&user, &GENERATIONS],
    )
    .context("writing the media library")?;
    Ok(user)
}

/// The cursor after the first DEPTH items of the list (deleted ones never count): created_at
/// as text, which Postgres reads back as the timestamptz it was, and the id.
fn deep_cursor(
    db: &mut Client,
    user: uuid::Uuid,
    kinds: Option<&[String]>,
) -> Result<(String, uuid::Uuid)> {
    let row = db
        .query_opt(
            "select created_at::text, id from public.generations
             where user_id = $1 and deleted_at is null and ($2::text[] is null or kind = any ($2))
             order by created_at desc, id desc offset $3 limit 1",
            &[&user, &kinds, &(DEPTH - 1)],
        )?
        .with_context(|| format!("fewer than {DEPTH} items to page through"))?;
    Ok((row.get(0), row.get(1)))
}

/// One page per operation, as the user: the first (no cursor) or the one after `cursor`.
fn page_client<'a>(
    db_url: &str,
    user: uuid::Uuid,
    kinds: Option<Vec<String>>,
    cursor: Option<(String, uuid::Uuid)>,
) -> Result<Op<'a>> {
    let mut c = connect(db_url)?;
    let page = c.prepare(
        "select api.list_media(p_kinds => $1, p_limit => $2,
           p_cursor_created_at => $3::text::timestamptz, p_cursor_id => $4)",
    )?;
    let (at, id) = cursor.unzip();
    Ok(Box::new(move || {
        let r = call_as(
            &mut c,
            "authenticated",
            Some(user),
            &page,
            &[&kinds, &PAGE, &at, &id],
        )?;
        if r["items"].as_array().map(Vec::len) != Some(PAGE as usize) {
            bail!("list_media returned no full page: {r}");
        }
        Ok(1)
    }))
}
