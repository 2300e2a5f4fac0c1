use super::AuthError;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::Value;
use std::fmt;

/// RSA moduli outside this range are skipped: below it is breakable (RFC 7518 3.3 asks for
/// 2048 bits), above it is what the `rsa` crate refuses as a denial-of-service risk.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// A public key and the one algorithm it may verify (the key pins the algorithm, RFC 8725 2.1).
/// Kept as its JWK material, so this crate does no elliptic-curve or RSA arithmetic (and a
/// Worker links none): the runtime's [`SignatureCheck`](super::SignatureCheck) imports it into
/// whatever verifies (WebCrypto on the edge, jwt-compact natively).
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// A P-256 point: big-endian affine coordinates.
    Es256 { x: [u8; 32], y: [u8; 32] },
    /// Big-endian modulus (2048 to 4096 bits) and public exponent.
    Rs256 { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    pub fn alg(&self) -> &'static str {
        match self {
            PublicKey::Es256 { .. } => "ES256",
            PublicKey::Rs256 { .. } => "RS256",
        }
    }

    /// The key as a public JWK document (`kty`, `crv`, `x`, `y` or `kty`, `n`, `e`), the form
    /// WebCrypto and jwt-compact import. Base64url needs no JSON escaping.
    pub fn jwk(&self) -> String {
        let b64 = |bytes: &[u8]| Base64UrlUnpadded::encode_string(bytes);
        match self {
            PublicKey::Es256 { x, y } => format!(
                r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
                b64(x),
                b64(y)
            ),
            PublicKey::Rs256 { n, e } => {
                format!(r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#, b64(n), b64(e))
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alg())
    }
}

/// Keys a token may be verified with: asymmetric keys from a JWKS, indexed by `kid`, and an
/// optional HS256 secret (Supabase's legacy JWT secret).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    /// A JWKS holds a handful of keys: a scan costs less than a map's code in every Worker.
    by_kid: Vec<(String, PublicKey)>,
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
        // From bytes, like every JSON a Worker reads: one copy of serde_json's parser.
        let doc: Value =
            serde_json::from_slice(json.as_bytes()).map_err(|_| AuthError::Malformed)?;
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
                // As in a map, a repeated kid keeps the last key.
                Some(kid) => match set.by_kid.iter_mut().find(|(k, _)| k == kid) {
                    Some(slot) => slot.1 = key,
                    None => set.by_kid.push((kid.to_owned(), key)),
                },
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
            if self.by_kid(kid).is_none() {
                self.by_kid.push((kid.clone(), key.clone()));
            }
        }
        self.unnamed.extend(other.unnamed.iter().cloned());
        if self.hs256_secret.is_none() {
            self.hs256_secret = other.hs256_secret.clone();
        }
        self
    }

    pub(super) fn by_kid(&self, kid: &str) -> Option<&PublicKey> {
        self.by_kid
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
    }

    pub(super) fn only_public_key(&self) -> Option<&PublicKey> {
        if self.public_key_count() != 1 {
            return None;
        }
        self.by_kid
            .iter()
            .map(|(_, key)| key)
            .chain(self.unnamed.iter())
            .next()
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

/// A JWK we can verify with, read by hand: serde's derive for JWKs (tagged enums, flattened
/// private parts) costs a Worker more code than the whole check.
fn parse_jwk(entry: &Value) -> Option<PublicKey> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let bytes = |name: &str| -> Option<Vec<u8>> { Base64UrlUnpadded::decode_vec(text(name)?).ok() };
    match (text("kty")?, text("alg")) {
        ("EC", None | Some("ES256")) if text("crv") == Some("P-256") => {
            // RFC 7518 6.2.1.2: coordinates are always full length. Whether the point is on
            // the curve is the verifier's import to decide.
            Some(PublicKey::Es256 {
                x: bytes("x")?.try_into().ok()?,
                y: bytes("y")?.try_into().ok()?,
            })
        }
        ("RSA", None | Some("RS256")) => {
            let (n, e) = (bytes("n")?, bytes("e")?);
            let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
            let bits = n.first().map_or(0, |top| {
                (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
            });
            (RSA_BITS.contains(&bits) && !e.is_empty() && e.len() <= 8).then(|| PublicKey::Rs256 {
                n: n.to_vec(),
                e: e.to_vec(),
            })
        }
        _ => None,
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
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
    fn weak_rsa_keys_and_other_curves_or_short_coordinates_are_skipped() {
        let mut weak = test_keys::rsa_public_jwk("weak");
        // 1032 bits: the first 129 bytes of the 2048-bit test modulus.
        weak["n"] = weak["n"].as_str().unwrap()[..172].into();
        let mut p384 = test_keys::ec_public_jwk("p384");
        p384["crv"] = "P-384".into();
        let mut short = test_keys::ec_public_jwk("short");
        short["x"] = "AQID".into();
        let jwks = serde_json::json!({ "keys": [weak, p384, short] });
        let set = KeySet::from_jwks_json(&jwks.to_string()).unwrap();
        assert_eq!(set.public_key_count(), 0);
    }

    #[test]
    fn a_key_round_trips_through_its_jwk() {
        for jwk in [
            test_keys::ec_public_jwk("k"),
            test_keys::rsa_public_jwk("k"),
        ] {
            let set = KeySet::from_jwks_json(&test_keys::jwks(std::slice::from_ref(&jwk))).unwrap();
            let out: Value = serde_json::from_str(&set.by_kid("k").unwrap().jwk()).unwrap();
            for field in ["kty", "crv", "x", "y", "n", "e"] {
                assert_eq!(out.get(field), jwk.get(field), "{field}");
            }
        }
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
