//! Key material: the HS256 secret and the JWKS files, turned into a verification key set and the
//! public JWKS document the stand-in serves like Supabase Auth does.

use genbase_shared::auth::KeySet;
use serde_json::{json, Map, Value};
use std::path::Path;

/// JWK members that hold private key material (RFC 7518 section 6); never served.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

pub struct Keys {
    pub key_set: KeySet,
    /// False when neither a secret nor a JWKS was configured: tokens then get PGRST300.
    pub any: bool,
    /// `{"keys": [...]}` with public keys only.
    pub public_jwks: Value,
}

impl Keys {
    pub fn load(secret_file: Option<&Path>, jwks_file: Option<&Path>) -> Result<Keys, String> {
        let mut any = false;
        let mut public_jwks = json!({ "keys": [] });
        let mut key_set = KeySet::empty();
        if let Some(path) = jwks_file {
            let text = read(path)?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
            // PostgREST accepts one JWK or a set; so does the stand-in.
            let set = if doc.get("keys").is_some() {
                doc
            } else {
                json!({ "keys": [doc] })
            };
            // Verification needs only the public half; handing the verifier exactly what is
            // served also keeps private members it might not expect out of its way.
            public_jwks = public_view(&set);
            key_set = KeySet::from_jwks_json(&public_jwks.to_string())
                .map_err(|e| format!("{}: not a usable JWKS: {e}", path.display()))?;
            any = true;
        }
        if let Some(path) = secret_file {
            let secret = read(path)?;
            // Files usually end with a newline that is not part of the secret.
            let secret = secret.trim();
            // PostgREST 13 refuses to start with a shorter secret; so does the stand-in.
            if secret.len() < 32 {
                return Err(format!(
                    "{}: the JWT secret must be at least 32 characters (PostgREST refuses shorter ones)",
                    path.display()
                ));
            }
            key_set = key_set.with_hs256_secret(secret.as_bytes());
            any = true;
        }
        Ok(Keys {
            key_set,
            any,
            public_jwks,
        })
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The JWKS without symmetric keys and without private members, as a public endpoint must be.
pub fn public_view(set: &Value) -> Value {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_object)
                .filter(|k| k.get("kty").and_then(Value::as_str) != Some("oct"))
                .map(|k| {
                    let public: Map<String, Value> = k
                        .iter()
                        .filter(|(name, _)| !PRIVATE_MEMBERS.contains(&name.as_str()))
                        .map(|(n, v)| (n.clone(), v.clone()))
                        .collect();
                    Value::Object(public)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_view_drops_private_members_and_symmetric_keys() {
        let set = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": "X", "y": "Y", "d": "SECRET", "kid": "a"},
            {"kty": "oct", "k": "SECRET", "kid": "b"},
            {"kty": "RSA", "n": "N", "e": "AQAB", "d": "S", "p": "S", "q": "S", "dp": "S", "dq": "S", "qi": "S"}
        ]});
        assert_eq!(
            public_view(&set),
            json!({"keys": [
                {"kty": "EC", "crv": "P-256", "x": "X", "y": "Y", "kid": "a"},
                {"kty": "RSA", "n": "N", "e": "AQAB"}
            ]})
        );
    }

    #[test]
    fn short_secret_is_refused() {
        let dir = std::env::temp_dir().join(format!("standin-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("secret");
        std::fs::write(&f, "short\n").unwrap();
        let err = Keys::load(Some(&f), None).err().unwrap();
        assert!(err.contains("at least 32"), "{err}");
        std::fs::write(&f, format!("{}\n", "s".repeat(40))).unwrap();
        assert!(Keys::load(Some(&f), None).unwrap().any);
        assert!(!Keys::load(None, None).unwrap().any);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
