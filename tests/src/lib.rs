//! Helpers for the end-to-end tests: the running stack's settings, users with tokens, and a
//! small HTTP client that returns status, JSON body and headers, after holding every answer of
//! the API to its OpenAPI document ([`openapi`]): the tests judge the rest.

pub mod chat;
pub mod openapi;

use genbase_devkit::reply::{self, Call, RawReply};
use serde_json::{json, Value};
use std::time::Duration;
use xtask::keys::{access_token_claims, now, Keys};

pub struct Stack {
    pub api_url: String,
    pub supabase_url: String,
    pub service_role_key: String,
    pub database_url: String,
    pub issuer: String,
    pub provider_url: String,
    pub webhook_secret: String,
    keys: Keys,
}

pub struct User {
    pub id: uuid::Uuid,
    pub email: String,
    pub token: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        reply::header(&self.headers, name)
    }

    /// The `error.code` of our JSON error body, asserting the body has that shape.
    pub fn error_code(&self) -> &str {
        let err = &self.body["error"];
        assert!(
            err["message"].is_string() && err["request_id"].is_string(),
            "not an error body: {self:?}"
        );
        err["code"].as_str().unwrap_or_default()
    }
}

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run these tests through `cargo xtask test`"))
}

impl Stack {
    pub fn from_env() -> Stack {
        Stack {
            api_url: var("API_URL"),
            supabase_url: var("SUPABASE_URL"),
            service_role_key: var("SUPABASE_SERVICE_ROLE_KEY"),
            database_url: var("DATABASE_URL"),
            issuer: var("JWT_ISSUER"),
            provider_url: var("PROVIDER_URL"),
            webhook_secret: var("REPLICATE_WEBHOOK_SECRET"),
            keys: Keys::load_or_create().expect("dev keys"),
        }
    }

    pub fn db(&self) -> postgres::Client {
        postgres::Client::connect(&self.database_url, postgres::NoTls).expect("database")
    }

    /// A new user with a unique email (tests never share users) and a valid ES256 token.
    pub fn new_user(&self, label: &str) -> User {
        let email = format!("{label}-{}@example.com", uuid::Uuid::new_v4().simple());
        let id = xtask::users::ensure_user(&mut self.db(), &email).expect("create user");
        let token = self.token_for(&id.to_string(), &email, now() + 3600);
        User { id, email, token }
    }

    pub fn token_for(&self, sub: &str, email: &str, exp: i64) -> String {
        let claims = access_token_claims(&self.issuer, sub, email, "authenticated", exp);
        self.keys.sign_es256(&claims).expect("sign")
    }

    pub fn sign_es256(&self, claims: &Value) -> String {
        self.keys.sign_es256(claims).expect("sign")
    }

    pub fn sign_hs256(&self, claims: &Value) -> String {
        self.keys.sign_hs256(claims).expect("sign")
    }

    pub fn claims(&self, user: &User, exp: i64) -> Value {
        access_token_claims(
            &self.issuer,
            &user.id.to_string(),
            &user.email,
            "authenticated",
            exp,
        )
    }

    /// Makes `user` an admin the way an operator would: directly in SQL.
    pub fn make_admin(&self, user: &User) {
        self.db()
            .execute(
                "update public.profiles set role = 'admin' where id = $1",
                &[&user.id],
            )
            .expect("promote");
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send("GET", path, token, None, &[])
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        send(
            &format!("{}{path}", self.api_url),
            method,
            token,
            body,
            headers,
        )
    }

    pub fn json(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(
            method,
            path,
            token,
            Some(&body.to_string()),
            &[("content-type", "application/json")],
        )
    }
}

pub fn send(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let call = Call {
        method,
        url,
        token,
        headers,
        body,
    };
    let reply = into_reply(call.send(&agent));
    if let Some(path) = api_path(url) {
        let answer = openapi::Answer {
            status: reply.status,
            headers: &reply.headers,
            body: Some(&reply.body),
        };
        openapi::assert_documented(method, path, &answer);
    }
    reply
}

/// The path of `url` when it is the API's (the router's), whose answers the document covers.
pub fn api_path(url: &str) -> Option<&str> {
    let api = std::env::var("API_URL").ok()?;
    url.strip_prefix(api.trim_end_matches('/'))
        .filter(|p| p.starts_with('/'))
}

/// Our reading of an answer: the body as JSON (`null` when empty, `{"raw": text}` when it is
/// not JSON, so a test's assertion shows what came instead).
fn into_reply(raw: RawReply) -> Reply {
    let text = raw.text();
    let body = if text.is_empty() {
        json!(null)
    } else {
        serde_json::from_str(&text).unwrap_or(json!({ "raw": text }))
    };
    Reply {
        status: raw.status,
        request_id: raw.header("x-request-id").map(str::to_owned),
        body,
        headers: raw.headers,
    }
}

/// Calls an RPC on the stand-in the way a function does (PostgREST contract), keeping the
/// connection alive across calls of one thread.
pub struct RpcClient {
    agent: ureq::Agent,
    base: String,
    apikey: String,
}

impl Stack {
    pub fn rpc_client(&self) -> RpcClient {
        RpcClient {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .build(),
            base: format!("{}/rest/v1/rpc", self.supabase_url),
            apikey: self.service_role_key.clone(),
        }
    }

    /// Gives `user` credits through the admin RPC, as an operator would.
    pub fn grant(&self, admin: &User, user: &User, amount: i64) {
        let r = self.rpc_client().call(
            "admin_adjust_credits",
            &json!({"p_user_id": user.id, "p_kind": "grant", "p_amount": amount,
                    "p_reason": "test grant", "p_idempotency_key": uuid::Uuid::new_v4().to_string()}),
            Some(&admin.token),
        );
        assert_eq!(r.status, 200, "grant failed: {r:?}");
    }

    /// A new user with `amount` credits, granted by a new admin of their own (tests never share
    /// users): `(admin, user)`.
    pub fn funded_user(&self, label: &str, amount: i64) -> (User, User) {
        let admin = self.new_user(&format!("{label}-admin"));
        self.make_admin(&admin);
        let user = self.new_user(label);
        self.grant(&admin, &user, amount);
        (admin, user)
    }

    /// `GET /v1/credits` as `user`: balance, held, available and a ledger page.
    pub fn credits(&self, user: &User) -> Value {
        let r = self.get("/v1/credits", Some(&user.token));
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    /// Starts a generation as `user` (it must be accepted: 202) and returns its id.
    pub fn start_generation(&self, user: &User, body: &Value) -> String {
        let r = self.json("POST", "/v1/generations", Some(&user.token), body);
        assert_eq!(r.status, 202, "{r:?}");
        r.body["generation"]["id"].as_str().unwrap().to_string()
    }

    /// Registers a GPU worker as `admin` and returns its key.
    pub fn register_worker(&self, admin: &User, name: &str, capabilities: &[&str]) -> String {
        let r = self.json(
            "POST",
            "/v1/admin/workers",
            Some(&admin.token),
            &json!({"name": name, "capabilities": capabilities}),
        );
        assert_eq!(r.status, 200, "{r:?}");
        r.body["worker_key"].as_str().unwrap().to_string()
    }

    /// Polls `GET /v1/generations/:id` until the generation is final (the fake provider calls
    /// back in ~150 ms); panics after 20 s.
    pub fn wait_final(&self, user: &User, id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.get(&format!("/v1/generations/{id}"), Some(&user.token));
            assert_eq!(r.status, 200, "{r:?}");
            if ["succeeded", "failed", "canceled"]
                .contains(&r.body["status"].as_str().unwrap_or(""))
            {
                return r.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "generation {id} never finished: {:?}",
                r.body
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every prediction the fake provider was asked to make, as it recorded them.
    pub fn provider_predictions(&self) -> Vec<Value> {
        let r = send(
            &format!("{}/_fake/predictions", self.provider_url),
            "GET",
            None,
            None,
            &[],
        );
        match r.body {
            Value::Array(all) => all,
            _ => panic!("the fake provider's record is not a list: {r:?}"),
        }
    }

    /// The input the fake provider received for a prediction.
    pub fn provider_input(&self, prediction_id: &str) -> Value {
        self.provider_predictions()
            .iter()
            .find(|p| p["prediction"]["id"] == prediction_id)
            .map(|p| p["prediction"]["input"].clone())
            .unwrap_or_else(|| panic!("the provider never saw {prediction_id}"))
    }

    /// Every invariant violation the ledger audit finds (must be empty).
    pub fn audit(&self) -> Value {
        let r = self.rpc_client().call("audit_credits", &json!({}), None);
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }
}

impl RpcClient {
    /// `token: None` uses the service role key.
    pub fn call(&self, function: &str, args: &Value, token: Option<&str>) -> Reply {
        let call = Call {
            method: "POST",
            url: &format!("{}/{function}", self.base),
            token: Some(token.unwrap_or(&self.apikey)),
            headers: &[
                ("apikey", &self.apikey),
                ("content-type", "application/json"),
                ("content-profile", "api"),
            ],
            body: Some(&args.to_string()),
        };
        into_reply(call.send(&self.agent))
    }
}
