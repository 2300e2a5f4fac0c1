//! The media library end to end through workerd: keyset pages with neither gaps nor repeats
//! (ties in created_at included) under every filter, full-text q, stats equal to a direct
//! count, favorite and title edits, soft delete (one and bulk) that empties lists and stats
//! at once, strangers refused, bad parameters a 400 before anything runs, and a stored
//! output served through the URL the library returns.
//!
//! Most generations here are written straight into the table: the library reads rows, and
//! how a provider produces them is the generations tests' business.

use genbase_tests::{Reply, Stack, User};
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, Instant};

/// `n` generations for `user`: kinds in turn, every third a favorite, every fifth about a
/// lighthouse, every fourth failed (charged nothing; the others 1 to 3 credits), two per
/// created_at (so pages split ties), in the last two days (older failed ones are the
/// retention job's to delete).
fn seed(stack: &Stack, user: &User, n: i32) {
    stack
        .db()
        .execute(
            "insert into public.generations (user_id, kind, action, model, prompt, route, pricing_id,
               units, status, is_favorite, created_at, credits_reserved, credits_charged)
             select $1, (array['image', 'video', 'audio', 'music', 'text', 'tts'])[1 + i % 6], 'generate',
               'flux-schnell', format('item %s %s', i, case when i % 5 = 0 then 'lighthouse' else 'meadow' end),
               'provider', (select id from public.pricing where model = 'flux-schnell' order by active_from desc limit 1),
               1, case when i % 4 = 0 then 'failed' else 'succeeded' end, i % 3 = 0,
               now() - interval '2 days' + make_interval(mins => i / 2), 3,
               case when i % 4 = 0 then 0 else 1 + i % 3 end
             from generate_series(1, $2) i",
            &[&user.id, &n],
        )
        .expect("seed generations");
}

/// The ids SQL lists for `user` under `filter` (a condition on `g`), newest first.
fn expected(stack: &Stack, user: &User, filter: &str) -> Vec<String> {
    stack
        .db()
        .query(
            &format!(
                "select g.id::text from public.generations g
                 where g.user_id = $1 and g.deleted_at is null and ({filter})
                 order by g.created_at desc, g.id desc"
            ),
            &[&user.id],
        )
        .expect("expected ids")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every id `GET /v1/media?{query}` lists, following next_cursor page by page.
fn walk(stack: &Stack, user: &User, query: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let mut path = format!("/v1/media?limit={limit}&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = stack.get(&path, Some(&user.token));
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let items = r.body["items"].as_array().expect("items");
        assert!(
            items.len() <= limit as usize,
            "{path}: a page over its limit"
        );
        ids.extend(items.iter().map(|g| g["id"].as_str().unwrap().to_string()));
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
    panic!("{query}: no last page after 200 pages");
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pages_have_neither_gaps_nor_repeats_under_every_filter() {
    let stack = Stack::from_env();
    let user = stack.new_user("media-pages");
    let other = stack.new_user("media-pages-other");
    seed(&stack, &user, 57);
    seed(&stack, &other, 5);

    let all = expected(&stack, &user, "true");
    assert_eq!(all.len(), 57);
    assert_eq!(
        walk(&stack, &user, "", 7),
        all,
        "every item once, newest first"
    );
    assert_eq!(walk(&stack, &user, "", 100), all, "one page");
    assert_eq!(
        walk(&stack, &user, "kind=image,video", 4),
        expected(&stack, &user, "g.kind in ('image', 'video')")
    );
    assert_eq!(
        walk(&stack, &user, "kind=music", 3),
        expected(&stack, &user, "g.kind = 'music'")
    );
    assert_eq!(
        walk(&stack, &user, "favorite=true", 5),
        expected(&stack, &user, "g.is_favorite")
    );
    assert_eq!(
        walk(&stack, &user, "favorite=false&kind=audio", 2),
        expected(&stack, &user, "not g.is_favorite and g.kind = 'audio'")
    );
    assert_eq!(
        walk(&stack, &user, "q=lighthouse", 4),
        expected(&stack, &user, "g.prompt like '%lighthouse%'")
    );
    assert_eq!(
        walk(&stack, &user, "q=lighthouse&kind=tts,text&favorite=true", 1),
        expected(
            &stack,
            &user,
            "g.prompt like '%lighthouse%' and g.kind in ('tts', 'text') and g.is_favorite"
        )
    );
    let phrase = stack.get("/v1/media?q=%22item+15+lighthouse%22", Some(&user.token));
    assert_eq!(phrase.status, 200, "{phrase:?}");
    assert_eq!(
        ids(&phrase),
        expected(&stack, &user, "g.prompt = 'item 15 lighthouse'")
    );

    let theirs = walk(&stack, &other, "", 100);
    assert_eq!(theirs.len(), 5, "a user lists only their own");
    assert!(theirs.iter().all(|id| !all.contains(id)));
}

#[test]
fn edits_deletes_and_stats_agree_with_the_table() {
    let stack = Stack::from_env();
    let user = stack.new_user("media-edit");
    let stranger = stack.new_user("media-edit-stranger");
    seed(&stack, &user, 24);
    let all = expected(&stack, &user, "true");
    let (first, second, third) = (&all[0], &all[1], &all[2]);

    let r = stack.json(
        "PATCH",
        &format!("/v1/generations/{first}"),
        Some(&user.token),
        &json!({"is_favorite": true, "title": "  Harbour at dawn "}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (&r.body["is_favorite"], &r.body["title"]),
        (&json!(true), &json!("Harbour at dawn"))
    );
    let found = stack.get("/v1/media?q=harbour", Some(&user.token));
    assert_eq!(
        ids(&found),
        vec![first.clone()],
        "the title is searchable at once"
    );
    assert!(walk(&stack, &user, "favorite=true", 50).contains(first));

    // A stranger can neither edit nor delete it, one or in bulk: not found, nothing changed.
    for (method, path, body) in [
        (
            "PATCH",
            format!("/v1/generations/{first}"),
            json!({"title": "mine"}),
        ),
        ("DELETE", format!("/v1/generations/{first}"), json!({})),
    ] {
        let r = stack.json(method, &path, Some(&stranger.token), &body);
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
    }
    let r = stack.json(
        "POST",
        "/v1/generations/delete",
        Some(&stranger.token),
        &json!({"ids": [first]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"deleted": [], "not_found": [first]}));
    assert_eq!(
        stack
            .get(&format!("/v1/generations/{first}"), Some(&user.token))
            .body["title"],
        "Harbour at dawn"
    );
    assert_eq!(walk(&stack, &stranger, "", 100), Vec::<String>::new());

    // One delete, then a bulk one that also names a deleted id and a stranger's.
    let r = stack.send(
        "DELETE",
        &format!("/v1/generations/{first}"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 204, "{r:?}");
    let r = stack.send(
        "DELETE",
        &format!("/v1/generations/{first}"),
        Some(&user.token),
        None,
        &[],
    );
    assert_eq!(r.status, 404, "deleting twice: {r:?}");
    let stranger_gen = stack.new_user("media-edit-owner");
    seed(&stack, &stranger_gen, 1);
    let theirs = expected(&stack, &stranger_gen, "true").remove(0);
    let r = stack.json(
        "POST",
        "/v1/generations/delete",
        Some(&user.token),
        &json!({"ids": [second, first, third, theirs]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"deleted": [second, third], "not_found": [first, theirs]})
    );
    assert_eq!(walk(&stack, &stranger_gen, "", 10), vec![theirs.clone()]);

    let listed = walk(&stack, &user, "", 5);
    assert_eq!(listed, all[3..].to_vec(), "deleted items vanish at once");
    assert_eq!(listed, expected(&stack, &user, "true"));
    let r = stack.get(&format!("/v1/generations/{second}"), Some(&user.token));
    assert_eq!(r.status, 404, "{r:?}");

    let stats = stack.get("/v1/media/stats", Some(&user.token));
    assert_eq!(stats.status, 200, "{stats:?}");
    let direct = stack
        .db()
        .query_one(
            "select jsonb_build_object(
               'total', count(*), 'favorites', count(*) filter (where is_favorite),
               'credits_spent', coalesce(sum(credits_charged), 0),
               'by_kind', (select jsonb_object_agg(kind, n) from (select kind, count(*) as n
                 from public.generations where user_id = $1 and deleted_at is null group by kind) k),
               'by_status', (select jsonb_object_agg(status, n) from (select status, count(*) as n
                 from public.generations where user_id = $1 and deleted_at is null group by status) s),
               'months', (select count(distinct date_trunc('month', created_at at time zone 'UTC'))
                 from public.generations where user_id = $1 and deleted_at is null))
             from public.generations where user_id = $1 and deleted_at is null",
            &[&user.id],
        )
        .expect("direct count")
        .get::<_, Value>(0);
    assert_eq!(stats.body["total"], 21);
    for key in ["total", "favorites", "credits_spent"] {
        assert_eq!(stats.body[key], direct[key], "{key}: {stats:?}");
    }
    for key in ["by_kind", "by_status"] {
        for (name, n) in direct[key].as_object().unwrap() {
            assert_eq!(&stats.body[key][name], n, "{key}.{name}");
        }
        let sum: i64 = stats.body[key]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_i64().unwrap())
            .sum();
        assert_eq!(sum, 21, "{key} adds up to the total");
    }
    assert_eq!(
        stats.body["months"].as_array().map(Vec::len),
        direct["months"].as_u64().map(|n| n as usize)
    );
    assert_eq!(stats.body["bytes_stored"], 0);
    assert_eq!(
        stack.get("/v1/media/stats", Some(&stranger.token)).body["total"],
        0,
        "a stranger's stats count nothing of another's"
    );
}

#[test]
fn bad_requests_are_refused_with_a_clear_400() {
    let stack = Stack::from_env();
    let user = stack.new_user("media-bad");
    seed(&stack, &user, 1);
    let id = expected(&stack, &user, "true").remove(0);
    for query in [
        "kind=picture",
        "kind=image,",
        "favorite=yes",
        "limit=0",
        "limit=101",
        "cursor=not-a-cursor",
        "q=",
        "q=%21%21%21",
        "sort=oldest",
        "kind=image&kind=video",
    ] {
        let r = stack.get(&format!("/v1/media?{query}"), Some(&user.token));
        assert_eq!(r.status, 400, "{query}: {r:?}");
        assert_eq!(r.error_code(), "validation_failed", "{query}");
    }
    let long_q = format!("/v1/media?q={}", "a".repeat(201));
    assert_eq!(stack.get(&long_q, Some(&user.token)).status, 400);
    for body in [
        json!({"title": "t".repeat(201)}),
        json!({"prompt": "x"}),
        json!({}),
        json!({"is_favorite": "yes"}),
    ] {
        let r = stack.json(
            "PATCH",
            &format!("/v1/generations/{id}"),
            Some(&user.token),
            &body,
        );
        assert_eq!(r.status, 400, "{body}: {r:?}");
        r.error_code();
    }
    let too_many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for body in [
        json!({"ids": []}),
        json!({"ids": too_many}),
        json!({"ids": ["x"]}),
    ] {
        let r = stack.json("POST", "/v1/generations/delete", Some(&user.token), &body);
        assert_eq!(r.status, 400, "{r:?}");
    }
    assert_eq!(
        expected(&stack, &user, "g.title is null and not g.is_favorite"),
        vec![id],
        "nothing changed"
    );
    for path in ["/v1/media", "/v1/media/stats"] {
        let r = stack.get(path, None);
        assert_eq!(r.status, 401, "{path}: {r:?}");
        r.error_code();
    }
}

/// A generation made through the provider shows in the library with a URL that serves its
/// stored bytes, and its bytes count in the stats.
#[test]
fn a_stored_output_is_served_through_the_library() {
    let stack = Stack::from_env();
    let (_, user) = stack.funded_user("media-stored", 50);
    let id = stack.start_generation(
        &user,
        &json!({"kind": "image", "model": "flux-schnell", "prompt": "a stored lighthouse"}),
    );
    assert_eq!(stack.wait_final(&user, &id)["status"], "succeeded");

    // The copy into Storage is a job of its own; the library says so until it is done.
    let deadline = Instant::now() + Duration::from_secs(30);
    let item = loop {
        let r = stack.get("/v1/media?q=lighthouse", Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        let item = r.body["items"][0].clone();
        assert_eq!(item["id"], id.as_str());
        if item["outputs"]["storage"] == "stored" {
            break item;
        }
        assert!(Instant::now() < deadline, "never stored: {item}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let url = item["outputs"]["urls"][0].as_str().expect("a signed URL");
    assert!(
        item["outputs"]["urls_expire_at"].as_i64().is_some(),
        "{item}"
    );
    let answer = ureq::get(url)
        .call()
        .expect("the signed URL serves the file");
    assert!(
        answer.content_type().starts_with("image/"),
        "{}",
        answer.content_type()
    );
    let mut bytes = Vec::new();
    answer.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(
        json!(bytes.len()),
        item["outputs"]["files"][0]["bytes"],
        "the bytes storage recorded"
    );
    let stats = stack.get("/v1/media/stats", Some(&user.token));
    assert_eq!(stats.body["bytes_stored"], json!(bytes.len()), "{stats:?}");
}
