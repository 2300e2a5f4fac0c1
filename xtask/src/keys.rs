//! Dev keys, generated on first use into `.genbase/keys` (git-ignored) and tokens shaped like
//! Supabase Auth's. Nothing here is ever committed: a fresh clone makes its own.

use crate::paths;
use anyhow::{Context, Result};
use base64::Engine;
use genbase_shared::auth::mint_hs256;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, Claims, Header};
use p256::ecdsa::SigningKey;
use rand::RngCore;
use serde_json::{json, Value};
use std::path::Path;

pub struct Keys {
    pub jwt_secret: String,
    pub es256: SigningKey,
    pub kid: String,
    /// Public JWKS, as Supabase serves at /auth/v1/.well-known/jwks.json.
    pub jwks: Value,
    pub webhook_secret: String,
}

impl Keys {
    /// Loads the dev keys, creating them on first use.
    pub fn load_or_create() -> Result<Keys> {
        let dir = paths::keys();
        std::fs::create_dir_all(&dir)?;
        let secret_file = dir.join("jwt_secret");
        if !secret_file.exists() {
            let mut rng = rand::thread_rng();
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            write_private(&secret_file, &hex(&bytes))?;
            let sk = SigningKey::random(&mut rng);
            write_private(&dir.join("es256.key"), &hex(&sk.to_bytes()))?;
            let mut kid = [0u8; 8];
            rng.fill_bytes(&mut kid);
            write_private(&dir.join("es256.kid"), &hex(&kid))?;
            rng.fill_bytes(&mut bytes);
            let whsec = format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            );
            write_private(&dir.join("webhook_secret"), &whsec)?;
        }
        let read = |name: &str| -> Result<String> {
            Ok(std::fs::read_to_string(dir.join(name))
                .with_context(|| format!("reading .genbase/keys/{name}"))?
                .trim()
                .to_string())
        };
        let es256 = SigningKey::from_slice(&unhex(&read("es256.key")?)?)?;
        let kid = read("es256.kid")?;
        let mut jwk = serde_json::to_value(JsonWebKey::from(es256.verifying_key()))?;
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), json!(kid));
            map.insert("alg".into(), json!("ES256"));
            map.insert("use".into(), json!("sig"));
            map.insert("key_ops".into(), json!(["verify"]));
        }
        let keys = Keys {
            jwt_secret: read("jwt_secret")?,
            es256,
            kid,
            jwks: json!({ "keys": [jwk] }),
            webhook_secret: read("webhook_secret")?,
        };
        std::fs::write(dir.join("jwks.json"), keys.jwks.to_string())?;
        Ok(keys)
    }

    pub fn jwks_file(&self) -> std::path::PathBuf {
        paths::keys().join("jwks.json")
    }

    pub fn secret_file(&self) -> std::path::PathBuf {
        paths::keys().join("jwt_secret")
    }

    /// The legacy API keys: long-lived HS256 JWTs carrying only a role, as Supabase issues them.
    pub fn api_key(&self, role: &str) -> Result<String> {
        let now = now();
        self.sign_hs256(&json!({
            "iss": "supabase", "role": role, "iat": now, "exp": now + 10 * 365 * 86400
        }))
    }

    pub fn sign_es256(&self, claims: &Value) -> Result<String> {
        let header = Header::empty().with_key_id(self.kid.clone());
        Ok(Es256.token(&header, &Claims::new(claims), &self.es256)?)
    }

    pub fn sign_hs256(&self, claims: &Value) -> Result<String> {
        Ok(mint_hs256(claims, self.jwt_secret.as_bytes(), None))
    }
}

/// Claims as Supabase Auth puts them in an access token.
pub fn access_token_claims(
    issuer: &str,
    user_id: &str,
    email: &str,
    role: &str,
    exp: i64,
) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": user_id,
        "aud": "authenticated",
        "exp": exp,
        "iat": now,
        "email": email,
        "phone": "",
        "app_metadata": { "provider": "email", "providers": ["email"] },
        "user_metadata": { "email": email, "email_verified": true },
        "role": role,
        "aal": "aal1",
        "amr": [{ "method": "password", "timestamp": now }],
        "session_id": uuid::Uuid::new_v4().to_string(),
        "is_anonymous": false
    })
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut f, contents.as_bytes())?;
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).context("bad hex key"))
        .collect()
}
