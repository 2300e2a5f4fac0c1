//! Supabase Storage at `/storage/v1`, end to end: a real Postgres (DATABASE_URL, a superuser URL
//! of a database with supabase/local/bootstrap.sql and the migrations applied: the `media`
//! bucket and its policy come from the identity migration), the real binary with its own
//! `--storage-dir`, storage-js driving it (`tests/storage_js.mjs`), and plain HTTP for what
//! storage-js does not reach: a streamed body over the size limit, refusals before the body is
//! read, a client that hangs up mid-upload, concurrent upserts, public routes on a private bucket.

mod common;

use common::{db, load_fixtures, now, random_hex, run_node, ScratchDir};
use genbase_devkit::reply::{self, RawReply};
use genbase_shared::auth::mint_hs256;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A check that the migrations were applied (the `media` bucket's policy), then a private bucket
/// with small limits and a public one, both with the identity migration's "own folder" rule;
/// created once, left in place (rerunning changes nothing).
const FIXTURES: &str = r#"
do $$
begin
  if not exists (select from pg_policies where schemaname = 'storage'
                 and policyname = 'Users can manage objects in their own folder') then
    raise exception 'DATABASE_URL has no `media` bucket policy: apply supabase/migrations too';
  end if;
end
$$;
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types) values
  ('standin-small', 'standin-small', false, 64, array['text/*', 'image/png']),
  ('standin-public', 'standin-public', true, null, null)
on conflict (id) do update set public = excluded.public,
  file_size_limit = excluded.file_size_limit, allowed_mime_types = excluded.allowed_mime_types;
do $$
begin
  if not exists (select from pg_policies where schemaname = 'storage' and tablename = 'objects'
                 and policyname = 'standin conformance: own folder') then
    create policy "standin conformance: own folder" on storage.objects for all to authenticated
      using (bucket_id in ('standin-small', 'standin-public')
             and (storage.foldername(name))[1] = (select auth.uid())::text)
      with check (bucket_id in ('standin-small', 'standin-public')
                  and (storage.foldername(name))[1] = (select auth.uid())::text);
  end if;
end
$$;
"#;

/// A fresh user id: every test works in folders no other run has touched.
fn user_id() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A running stand-in with its own storage folder and JWT secret; stopped and removed when
/// dropped.
struct Server {
    standin: common::Server,
    /// `127.0.0.1:<port>`, for raw connections.
    addr: String,
    /// After `standin`: the process stops before its folder goes.
    dir: ScratchDir,
    secret: String,
}

impl Server {
    fn start(with_storage: bool) -> Server {
        load_fixtures(FIXTURES);
        let dir = ScratchDir::new("standin-storage");
        let secret = random_hex(32);
        std::fs::write(dir.path().join("jwt_secret"), &secret).unwrap();
        let standin = common::Server::start(|cmd| {
            cmd.args(["--schemas", "public", "--db-pool-size", "8"])
                .arg("--jwt-secret-file")
                .arg(dir.path().join("jwt_secret"));
            if with_storage {
                cmd.arg("--storage-dir").arg(dir.path().join("storage"));
            }
        });
        let addr = standin.base.trim_start_matches("http://").to_string();
        Server {
            standin,
            addr,
            dir,
            secret,
        }
    }

    fn token(&self, claims: Value) -> String {
        let mut claims = claims;
        claims["exp"] = json!(now() + 3600);
        mint_hs256(&claims, self.secret.as_bytes(), None)
    }

    fn user_token(&self, id: &str) -> String {
        self.token(json!({"sub": id, "role": "authenticated", "aud": "authenticated"}))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> RawReply {
        self.standin
            .call(method, &format!("/storage/v1{path}"), token, headers, body)
    }

    /// Every file under the storage folder (bytes and temporary files).
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("storage"), &mut out);
        out
    }

    /// Sends `head` (and `body`) on a raw connection and reads what comes back within
    /// `wait`: for requests that must be answered before their body is complete.
    fn raw(&self, head: &str, body: &[u8], wait: Duration) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        // Until the answer's JSON body is in (or the server closes, or the wait runs out).
        while !answer.ends_with(b"}") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    }
}

fn json(r: &RawReply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.text()))
}

/// Storage's error: HTTP 400 with the real status in the body.
fn assert_storage_error(r: &RawReply, status_code: &str, code: &str) {
    let body = json(r);
    assert_eq!(
        (r.status, body["statusCode"].as_str(), body["code"].as_str()),
        (400, Some(status_code), Some(code)),
        "{}",
        r.text()
    );
}

fn rows(bucket: &str, name: &str) -> i64 {
    db().query_one(
        "select count(*) from storage.objects where bucket_id = $1 and name = $2",
        &[&bucket, &name],
    )
    .unwrap()
    .get(0)
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn storage_js_client() {
    let server = Server::start(true);
    let alice = user_id();
    let anon = server.token(json!({"role": "anon", "iss": "supabase"}));
    run_node(
        "storage_js.mjs",
        &[
            &server.standin.base,
            &anon,
            &server.user_token(&alice),
            &alice,
            &server.user_token(&user_id()),
        ],
    );
    assert!(
        server.files().is_empty(),
        "the script removes what it uploads, bytes included: {:?}",
        server.files()
    );
}

#[test]
fn a_streamed_body_over_the_limit_is_cut_off_and_leaves_nothing() {
    let server = Server::start(true);
    let alice = user_id();
    let token = server.user_token(&alice);
    let name = format!("{alice}/streamed.txt");
    let url = format!(
        "{}/storage/v1/object/standin-small/{name}",
        server.standin.base
    );
    let agent = ureq::AgentBuilder::new().build();
    // No Content-Length: ureq sends a reader chunked, so only counting the bytes can stop it.
    for (content_type, body) in [
        ("text/plain".to_string(), vec![b'x'; 10_000]),
        (
            "multipart/form-data; boundary=B".to_string(),
            [
                &b"--B\r\nContent-Disposition: form-data; name=\"\"; filename=\"f\"\r\nContent-Type: text/plain\r\n\r\n"[..],
                &[b'x'; 10_000][..],
                &b"\r\n--B--\r\n"[..],
            ]
            .concat(),
        ),
    ] {
        let r = reply::read(
            agent
                .post(&url)
                .set("authorization", &format!("Bearer {token}"))
                .set("content-type", &content_type)
                .send(&body[..]),
            "chunked upload",
        );
        assert_storage_error(&r, "413", "EntityTooLarge");
        assert_eq!(rows("standin-small", &name), 0, "{content_type}");
        assert!(server.files().is_empty(), "{:?}", server.files());
    }
}

#[test]
fn refusals_come_before_the_body_is_read() {
    let server = Server::start(true);
    let alice = user_id();
    let wait = Duration::from_secs(10);
    // A declared size over the limit: answered at once, though the body never comes.
    let head = format!(
        "POST /storage/v1/object/standin-small/{alice}/big.txt HTTP/1.1\r\nhost: x\r\n\
         authorization: Bearer {}\r\ncontent-type: text/plain\r\ncontent-length: 1000000\r\n\r\n",
        server.user_token(&alice)
    );
    let started = Instant::now();
    let answer = server.raw(&head, b"only a little", wait);
    assert!(answer.contains("\"statusCode\":\"413\""), "{answer}");
    assert!(started.elapsed() < wait, "it waited for the body");
    // Another user's folder: refused by the policy before any byte.
    let head = format!(
        "POST /storage/v1/object/media/{alice}/evil.png HTTP/1.1\r\nhost: x\r\n\
         authorization: Bearer {}\r\ncontent-type: image/png\r\ncontent-length: 1000\r\n\r\n",
        server.user_token(&user_id())
    );
    let answer = server.raw(&head, b"", wait);
    assert!(
        answer.contains("new row violates row-level security policy"),
        "{answer}"
    );
    assert_eq!(rows("media", &format!("{alice}/evil.png")), 0);
    assert!(server.files().is_empty(), "{:?}", server.files());
}

#[test]
fn a_client_that_hangs_up_mid_upload_leaves_nothing() {
    let server = Server::start(true);
    let alice = user_id();
    let name = format!("{alice}/cut.png");
    let head = format!(
        "POST /storage/v1/object/media/{name} HTTP/1.1\r\nhost: x\r\n\
         authorization: Bearer {}\r\ncontent-type: image/png\r\ncontent-length: 100000\r\n\r\n",
        server.user_token(&alice)
    );
    {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&[7u8; 5000]).unwrap();
        // Time for the bytes to reach the temporary file, then hang up.
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.files().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.files().is_empty(), "{:?}", server.files());
    assert_eq!(rows("media", &name), 0);
}

#[test]
fn concurrent_upserts_of_one_name_leave_one_object() {
    let server = Server::start(true);
    let alice = user_id();
    let token = server.user_token(&alice);
    let bodies: Vec<String> = (0..8)
        .map(|i| format!("writer {i} {}", "z".repeat(i * 100)))
        .collect();
    // Fresh names: the writers race to create the row, the case a row lock cannot serialize.
    for round in 0..4 {
        let name = format!("{alice}/race-{round}.png");
        let start = std::sync::Barrier::new(bodies.len());
        std::thread::scope(|s| {
            for body in &bodies {
                let (server, token, name, start) = (&server, &token, &name, &start);
                s.spawn(move || {
                    start.wait();
                    let r = server.call(
                        "POST",
                        &format!("/object/media/{name}"),
                        Some(token),
                        &[("content-type", "image/png"), ("x-upsert", "true")],
                        Some(body),
                    );
                    assert_eq!(r.status, 200, "{}", r.text());
                });
            }
        });
        assert_eq!(rows("media", &name), 1);
        let files = server.files();
        assert_eq!(
            files.len(),
            1,
            "round {round}: one version's bytes stay: {files:?}"
        );
        let r = server.call(
            "GET",
            &format!("/object/media/{name}"),
            Some(&token),
            &[],
            None,
        );
        assert_eq!(r.status, 200);
        let stored = std::fs::read(&files[0]).unwrap();
        assert_eq!(r.body, stored);
        assert!(
            bodies.iter().any(|b| b.as_bytes() == stored),
            "one writer's bytes, whole"
        );
        assert_eq!(
            r.header("etag"),
            Some(format!("\"{}\"", md5_hex(&stored)).as_str())
        );
        let r = server.call(
            "DELETE",
            "/object/media",
            Some(&token),
            &[("content-type", "application/json")],
            Some(&json!({ "prefixes": [name] }).to_string()),
        );
        assert_eq!(json(&r).as_array().map(Vec::len), Some(1), "{}", r.text());
        assert!(server.files().is_empty());
    }
}

#[test]
fn public_routes_serve_only_public_buckets() {
    let server = Server::start(true);
    let alice = user_id();
    let token = server.user_token(&alice);
    let upload = |bucket: &str| {
        let r = server.call(
            "POST",
            &format!("/object/{bucket}/{alice}/a.txt"),
            Some(&token),
            &[("content-type", "text/plain")],
            Some("hi"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    upload("media");
    upload("standin-public");

    for path in [
        format!("/object/public/media/{alice}/a.txt"),
        format!("/object/info/public/media/{alice}/a.txt"),
        format!("/object/media/{alice}/a.txt"),
    ] {
        let r = server.call("GET", &path, None, &[], None);
        assert_storage_error(&r, "404", "NoSuchBucket");
    }
    let r = server.call(
        "GET",
        &format!("/object/public/standin-public/{alice}/a.txt"),
        None,
        &[],
        None,
    );
    assert_eq!((r.status, r.text().as_str()), (200, "hi"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = server.call(
        "HEAD",
        &format!("/object/public/standin-public/{alice}/a.txt"),
        None,
        &[],
        None,
    );
    assert_eq!((r.status, r.header("content-length")), (200, Some("2")));
    let r = server.call(
        "GET",
        &format!("/object/media/{alice}/a.txt"),
        Some(&token),
        &[],
        None,
    );
    assert_eq!((r.status, r.text().as_str()), (200, "hi"));

    for bucket in ["media", "standin-public"] {
        let r = server.call(
            "DELETE",
            &format!("/object/{bucket}/{alice}/a.txt"),
            Some(&token),
            &[],
            None,
        );
        assert_eq!(json(&r)["message"], "Successfully deleted", "{}", r.text());
    }
    assert!(server.files().is_empty());
}

#[test]
fn uploads_record_their_owner_and_metadata() {
    let server = Server::start(true);
    let alice = user_id();
    let token = server.user_token(&alice);
    let direct = format!("{alice}/direct.png");
    let r = server.call(
        "POST",
        &format!("/object/media/{direct}"),
        Some(&token),
        &[
            ("content-type", "image/png"),
            ("cache-control", "max-age=60"),
        ],
        Some("png!"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // A signed upload is made by whoever holds the URL, on behalf of the one who signed it.
    let signed = format!("{alice}/signed.png");
    let r = server.call(
        "POST",
        &format!("/object/upload/sign/media/{signed}"),
        Some(&token),
        &[],
        None,
    );
    let url = json(&r)["url"].as_str().unwrap_or_default().to_string();
    let r = server.call(
        "PUT",
        &url,
        None,
        &[("content-type", "image/png")],
        Some("png!"),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    for name in [&direct, &signed] {
        let row = db()
            .query_one(
                "select owner_id, owner::text, metadata::text from storage.objects \
                 where bucket_id = 'media' and name = $1",
                &[name],
            )
            .unwrap();
        assert_eq!(
            row.get::<_, Option<String>>(0).as_deref(),
            Some(alice.as_str())
        );
        assert_eq!(
            row.get::<_, Option<String>>(1).as_deref(),
            Some(alice.as_str())
        );
        let m: Value = serde_json::from_str(row.get(2)).unwrap();
        assert_eq!(
            (
                &m["size"],
                &m["mimetype"],
                &m["eTag"],
                &m["contentLength"],
                &m["httpStatusCode"]
            ),
            (
                &json!(4),
                &json!("image/png"),
                &json!(format!("\"{}\"", md5_hex(b"png!"))),
                &json!(4),
                &json!(200)
            ),
            "{name}"
        );
        assert!(
            m["lastModified"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{m}"
        );
    }
    let r = server.call(
        "DELETE",
        "/object/media",
        Some(&token),
        &[("content-type", "application/json")],
        Some(&json!({ "prefixes": [direct, signed] }).to_string()),
    );
    assert_eq!(json(&r).as_array().map(Vec::len), Some(2), "{}", r.text());
}

#[test]
fn without_a_storage_dir_storage_is_not_served() {
    let server = Server::start(false);
    let r = server.call("GET", "/object/media/a.txt", None, &[], None);
    assert_eq!(
        (r.status, json(&r)["code"].as_str()),
        (501, Some("STANDIN501"))
    );
}
