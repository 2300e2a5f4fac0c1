use super::AuthError;
use jwt_compact::alg::{Es256, RsaPublicKey, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::Algorithm;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

pub(super) type EcKey = <Es256 as Algorithm>::VerifyingKey;

/// A public key and the one algorithm it may verify (the key pins the algorithm, RFC 8725 2.1).
#[derive(Clone)]
pub(super) enum PublicKey {
    Es256(EcKey),
    Rs256(RsaPublicKey),
}

impl PublicKey {
    pub(super) fn alg(&self) -> &'static str {
        match self {
            PublicKey::Es256(_) => "ES256",
            PublicKey::Rs256(_) => "RS256",
        }
    }
}

/// Keys a token may be verified with: asymmetric keys from a JWKS, indexed by `kid`, and an
/// optional HS256 secret (Supabase's legacy JWT secret).
#[derive(Clone, Default)]
pub struct KeySet {
    by_kid: BTreeMap<String, PublicKey>,
    /// JWKS entries without a `kid`: usable only by kid-less tokens when they are the only key.
    unnamed: Vec<PublicKey>,
    hs256_secret: Option<Vec<u8>>,
}

impl KeySet {
    pub fn empty() -> KeySet {
        KeySet::default()
    }

    /// Parses a JWK Set. EC P-256 keys verify ES256 and RSA keys (>= 2048 bits) RS256. As
    /// RFC 7517 section 5 asks, keys we do not understand (other `kty`, curves, `alg`, `use`)
    /// are skipped rather than failing the whole set. Fails only if the document is not a JWKS.
    pub fn from_jwks_json(json: &str) -> Result<KeySet, AuthError> {
        let doc: Value = serde_json::from_str(json).map_err(|_| AuthError::Malformed)?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(AuthError::Malformed)?;
        let mut set = KeySet::empty();
        for entry in entries {
            let Some(key) = parse_jwk(entry) else {
                continue;
            };
            match entry.get("kid").and_then(Value::as_str) {
                Some(kid) => {
                    set.by_kid.insert(kid.to_owned(), key);
                }
                None => set.unnamed.push(key),
            }
        }
        Ok(set)
    }

    /// Adds the HS256 secret. Tokens signed with it must say `alg: HS256`.
    pub fn with_hs256_secret(mut self, secret: &[u8]) -> KeySet {
        self.hs256_secret = Some(secret.to_vec());
        self
    }

    /// Number of asymmetric keys.
    pub fn public_key_count(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }

    /// Adds `other`'s keys; on a `kid` present in both, and for the secret, `self` wins, so
    /// keys pinned in configuration cannot be replaced by a fetched document.
    pub fn merged_with(mut self, other: &KeySet) -> KeySet {
        for (kid, key) in &other.by_kid {
            self.by_kid
                .entry(kid.clone())
                .or_insert_with(|| key.clone());
        }
        self.unnamed.extend(other.unnamed.iter().cloned());
        if self.hs256_secret.is_none() {
            self.hs256_secret = other.hs256_secret.clone();
        }
        self
    }

    pub(super) fn by_kid(&self, kid: &str) -> Option<&PublicKey> {
        self.by_kid.get(kid)
    }

    pub(super) fn only_public_key(&self) -> Option<&PublicKey> {
        if self.public_key_count() != 1 {
            return None;
        }
        self.by_kid.values().chain(self.unnamed.iter()).next()
    }

    pub(super) fn hs256_secret(&self) -> Option<&[u8]> {
        self.hs256_secret.as_deref()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = self
            .by_kid
            .iter()
            .map(|(kid, key)| format!("{kid}:{}", key.alg()))
            .collect();
        f.debug_struct("KeySet")
            .field("kids", &kids)
            .field("unnamed", &self.unnamed.len())
            .field("hs256_secret", &self.hs256_secret.is_some())
            .finish()
    }
}

fn parse_jwk(entry: &Value) -> Option<PublicKey> {
    if entry
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    let declared_alg = entry.get("alg").and_then(Value::as_str);
    // Deserialising drops private parts we do not want to keep anyway.
    let jwk: JsonWebKey<'_> = serde_json::from_value(entry.clone()).ok()?;
    match jwk {
        JsonWebKey::EllipticCurve { .. } if matches!(declared_alg, None | Some("ES256")) => {
            EcKey::try_from(&jwk).ok().map(PublicKey::Es256)
        }
        JsonWebKey::Rsa { .. } if matches!(declared_alg, None | Some("RS256")) => {
            let key = RsaPublicKey::try_from(&jwk).ok()?;
            let strong = StrongKey::try_from(key).ok()?;
            Some(PublicKey::Rs256(strong.into_inner()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_keys;
    use super::*;

    #[test]
    fn ec_and_rsa_keys_are_indexed_by_kid_and_unknown_types_skipped() {
        let jwks = serde_json::json!({"keys": [
            test_keys::ec_public_jwk("ec-1"),
            test_keys::rsa_public_jwk("rsa-1"),
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
            {"kty": "weird", "kid": "w"}
        ]});
        let set = KeySet::from_jwks_json(&jwks.to_string()).unwrap();
        for skipped in ["ed", "sym", "w"] {
            assert!(set.by_kid(skipped).is_none(), "{skipped}");
        }
        assert_eq!(set.public_key_count(), 2);
        assert_eq!(set.by_kid("ec-1").unwrap().alg(), "ES256");
        assert_eq!(set.by_kid("rsa-1").unwrap().alg(), "RS256");
    }

    #[test]
    fn keys_declared_for_another_algorithm_or_encryption_are_skipped() {
        let mut other_alg = test_keys::rsa_public_jwk("ps");
        other_alg["alg"] = "PS256".into();
        let mut enc = test_keys::ec_public_jwk("enc");
        enc["use"] = "enc".into();
        let jwks = serde_json::json!({ "keys": [other_alg, enc] });
        let set = KeySet::from_jwks_json(&jwks.to_string()).unwrap();
        assert_eq!(set.public_key_count(), 0);
    }

    #[test]
    fn a_document_without_keys_is_malformed() {
        assert_eq!(
            KeySet::from_jwks_json("{}").unwrap_err(),
            AuthError::Malformed
        );
        assert_eq!(
            KeySet::from_jwks_json("nope").unwrap_err(),
            AuthError::Malformed
        );
        assert!(KeySet::from_jwks_json(r#"{"keys":[]}"#).is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let set = KeySet::empty().with_hs256_secret(b"super-secret-value");
        assert!(!format!("{set:?}").contains("super-secret"));
    }

    #[test]
    fn merging_keeps_pinned_keys() {
        let pinned = KeySet::from_jwks_json(
            &serde_json::json!({"keys": [test_keys::ec_public_jwk("a")]}).to_string(),
        )
        .unwrap();
        let fetched = KeySet::from_jwks_json(
            &serde_json::json!({"keys": [test_keys::rsa_public_jwk("a"), test_keys::rsa_public_jwk("b")]})
                .to_string(),
        )
        .unwrap();
        let merged = pinned.merged_with(&fetched);
        assert_eq!(merged.by_kid("a").unwrap().alg(), "ES256");
        assert_eq!(merged.by_kid("b").unwrap().alg(), "RS256");
    }
}
