//! Users made for one run of the browser test or of Schemathesis: a fresh account each (so
//! nothing another test does shows in what it counts), with credits and an access token.

use anyhow::Result;
use xtask::keys::{access_token_claims, now, Keys};
use xtask::stack::StackEnv;
use xtask::users::ensure_user;

pub struct Account {
    pub id: uuid::Uuid,
    pub email: String,
    pub token: String,
}

impl Account {
    /// A new user `<label>-<random>@example.com` of the stack, granted `credits`, with a token
    /// valid for `hours`.
    pub fn create(env: &StackEnv, label: &str, credits: i64, hours: i64) -> Result<Account> {
        let email = format!("{label}-{}@example.com", uuid::Uuid::new_v4().simple());
        let mut db = postgres::Client::connect(env.get("DATABASE_URL"), postgres::NoTls)?;
        let id = ensure_user(&mut db, &email)?;
        if credits > 0 {
            db.execute(
                "select private.change_credits($1, 'grant', $2, $3, null, 'xtask test account')",
                &[&id, &credits, &format!("xtask-account:{id}")],
            )?;
        }
        let claims = access_token_claims(
            env.get("JWT_ISSUER"),
            &id.to_string(),
            &email,
            "authenticated",
            now() + hours * 3600,
        );
        let token = Keys::load_or_create()?.sign_es256(&claims)?;
        Ok(Account { id, email, token })
    }

    /// `method path` with `body` as this user; the answer's JSON, or an error naming the call.
    pub fn call(
        &self,
        env: &StackEnv,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let request = ureq::request(method, &format!("{}{path}", env.get("API_URL")))
            .set("authorization", &format!("Bearer {}", self.token));
        let answer = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        match answer {
            Ok(r) => Ok(r.into_json().unwrap_or(serde_json::Value::Null)),
            Err(ureq::Error::Status(status, r)) => anyhow::bail!(
                "{method} {path} answered {status}: {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => Err(e.into()),
        }
    }
}
