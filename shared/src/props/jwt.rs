//! The JWT parser and verifier: arbitrary strings, forged tokens whose header and payload are
//! any JSON, `none` and the other algorithms we do not take, HS256 signed with a public key
//! (alg confusion), valid tokens with one byte changed, and oversized ones are refused with
//! their [`AuthError`] (a 401 through the [`Authenticator`]); a valid token still verifies.

use super::{json_value, text};
use crate::auth::{
    mint_hs256, verify, AuthError, Authenticator, HttpGet, JwksCache, KeySet, Policy,
    MAX_TOKEN_BYTES,
};
use crate::test_support::block_on;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use sha2::Sha256;

const SECRET: &[u8] = b"props-hs256-secret-of-at-least-32-bytes";
const NOW: i64 = 1_800_000_000;
const LEEWAY: i64 = 30;
const ISSUER: &str = "https://ref.supabase.co/auth/v1";
const EC_KID: &str = "ec-1";
const RSA_KID: &str = "rsa-1";
const SUB: &str = "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10";
/// The claims [`verify`] reads itself; the rest of a payload passes through untouched.
const CHECKED: [&str; 6] = ["exp", "nbf", "iat", "aud", "iss", "role"];

fn ec_signing_key() -> <Es256 as Algorithm>::SigningKey {
    <Es256 as Algorithm>::SigningKey::from_slice(&[7; 32]).expect("a valid P-256 scalar")
}

/// The HS256 secret, the EC key whose private half signs here, and a 2048-bit RSA modulus
/// nobody holds the factors of: every RS256 token is a forgery, checked all the way through
/// the native RSA verifier.
fn keys() -> KeySet {
    let mut ec = serde_json::to_value(JsonWebKey::from(ec_signing_key().verifying_key()))
        .expect("a JWK serializes");
    ec["kid"] = EC_KID.into();
    // The top bit set in the first of 256 bytes: 2048 bits.
    let n: Vec<u8> = (0..256u32).map(|i| (i * 37 % 251) as u8 | 0x81).collect();
    let rsa = json!({"kty": "RSA", "kid": RSA_KID, "n": b64(&n), "e": "AQAB"});
    let jwks = json!({ "keys": [ec, rsa] }).to_string();
    KeySet::from_jwks_json(&jwks)
        .expect("a valid JWKS")
        .with_hs256_secret(SECRET)
}

fn policy() -> Policy {
    Policy {
        audience: Some("authenticated".into()),
        issuer: Some(ISSUER.into()),
        leeway_secs: LEEWAY,
        require_role: true,
    }
}

fn check(token: &str) -> Result<Value, AuthError> {
    verify(token, &keys(), &policy(), NOW).map(|claims| claims.raw)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac(key: &[u8], input: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

/// Who signs a forged token, and with what.
#[derive(Debug, Clone, PartialEq)]
enum Signer {
    /// Our HS256 secret: a valid HS256 signature.
    Secret,
    /// The EC private key: a valid ES256 signature.
    EcKey,
    /// HMAC keyed with the EC public key (SEC1 bytes), the classic alg-confusion forgery.
    EcPointAsSecret,
    /// HMAC keyed with the EC public key's JWK text.
    EcJwkAsSecret,
    Bytes(Vec<u8>),
}

impl Signer {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let key = ec_signing_key();
        match self {
            Signer::Secret => hmac(SECRET, input),
            Signer::EcKey => Es256.sign(&key, input).as_bytes().to_vec(),
            Signer::EcPointAsSecret => {
                let point = key.verifying_key().to_encoded_point(false);
                hmac(point.as_bytes(), input)
            }
            Signer::EcJwkAsSecret => {
                let jwk = serde_json::to_string(&JsonWebKey::from(key.verifying_key()))
                    .expect("a JWK serializes");
                hmac(jwk.as_bytes(), input)
            }
            Signer::Bytes(bytes) => bytes.clone(),
        }
    }
}

fn signer() -> impl Strategy<Value = Signer> {
    prop_oneof![
        3 => Just(Signer::Secret),
        3 => Just(Signer::EcKey),
        1 => Just(Signer::EcPointAsSecret),
        1 => Just(Signer::EcJwkAsSecret),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Signer::Bytes),
    ]
}

fn assemble(header: &[u8], payload: &[u8], signer: &Signer) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Valid claims of a signed-in user, expiring in the future, plus any other claims.
fn valid_claims() -> impl Strategy<Value = Value> {
    let extra = prop::collection::vec(
        (
            text().prop_filter("not a checked claim", |k| !CHECKED.contains(&k.as_str())),
            json_value(),
        ),
        0..4,
    );
    (
        1..100_000_000i64,
        0..1_000_000i64,
        prop::option::of(0..1_000_000i64),
        extra,
    )
        .prop_map(|(expires_in, issued_ago, not_before_ago, extra)| {
            let mut claims: Map<String, Value> = extra.into_iter().collect();
            let fixed = json!({
                "sub": SUB, "role": "authenticated", "aud": "authenticated", "iss": ISSUER,
                "iat": NOW - issued_ago, "exp": NOW + expires_in,
            });
            claims.extend(fixed.as_object().cloned().unwrap_or_default());
            if let Some(ago) = not_before_ago {
                claims.insert("nbf".into(), (NOW - ago).into());
            }
            Value::Object(claims)
        })
}

/// Claims an attacker writes: valid ones with a checked claim or two removed or of any
/// value, or any JSON at all.
fn any_claims() -> impl Strategy<Value = Value> {
    let patch = (
        prop::sample::select(&CHECKED[..]),
        prop::option::of(json_value()),
    );
    let patched =
        (valid_claims(), prop::collection::vec(patch, 0..3)).prop_map(|(mut claims, patches)| {
            for (name, value) in patches {
                match value {
                    Some(value) => claims[name] = value,
                    None => {
                        claims.as_object_mut().map(|c| c.remove(name));
                    }
                }
            }
            claims
        });
    prop_oneof![3 => patched, 1 => json_value()]
}

/// A header as an attacker writes it: the algorithms we take and those we never do (`none`
/// in any case), any `kid` (ours, unknown, not a string), and sometimes `crit`.
fn header() -> impl Strategy<Value = Value> {
    let algs = &[
        "none", "None", "NONE", "HS256", "ES256", "RS256", "HS384", "HS512", "ES384", "PS256",
        "EdDSA", "hs256", "",
    ];
    let alg = prop_oneof![
        9 => prop::sample::select(&algs[..]).prop_map(Value::from),
        1 => json_value(),
    ];
    let kid = prop::option::of(prop_oneof![
        9 => prop::sample::select(&[EC_KID, RSA_KID, "unknown", ""][..]).prop_map(Value::from),
        1 => json_value(),
    ]);
    let header = (
        alg,
        kid,
        any::<bool>(),
        prop::option::weighted(0.05, json_value()),
    )
        .prop_map(|(alg, kid, typ, crit)| {
            let mut header = json!({ "alg": alg });
            if let Some(kid) = kid {
                header["kid"] = kid;
            }
            if typ {
                header["typ"] = "JWT".into();
            }
            if let Some(crit) = crit {
                header["crit"] = crit;
            }
            header
        });
    prop_oneof![9 => header, 1 => json_value()]
}

/// Whether a forged token carries a signature that is really ours for the one key its header
/// selects; nothing else may verify.
fn genuinely_signed(header: &Value, signer: &Signer) -> bool {
    if header.get("crit").is_some() {
        return false;
    }
    let kid = header.get("kid");
    let names_public_key = kid.is_some_and(|k| k == EC_KID || k == RSA_KID);
    match (header["alg"].as_str(), signer) {
        (Some("HS256"), Signer::Secret) => !names_public_key,
        (Some("ES256"), Signer::EcKey) => kid.is_some_and(|k| k == EC_KID),
        _ => false,
    }
}

struct NoHttp;

impl HttpGet for NoHttp {
    async fn get_text(&self, url: &str) -> Result<String, String> {
        Err(format!("no network in property tests ({url})"))
    }
}

/// Every [`AuthError`] code, and the header problems the [`Authenticator`] finds first.
const CODES: [&str; 12] = [
    "missing_token",
    "token_too_large",
    "invalid_token",
    "token_algorithm_not_allowed",
    "unknown_signing_key",
    "invalid_token_signature",
    "token_expired",
    "token_not_yet_valid",
    "invalid_token_audience",
    "invalid_token_issuer",
    "token_missing_role",
    "token_missing_exp",
];

/// Strings shaped like tokens more or less: any text, the JWT alphabet with dots, and three
/// base64url segments of arbitrary bytes (some far longer than a real token).
fn token_like() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..7000),
    ]
    .prop_map(|bytes| b64(&bytes));
    prop_oneof![
        any::<String>(),
        text(),
        "[A-Za-z0-9_=.+/-]{0,400}",
        (segment.clone(), segment.clone(), segment).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
    ]
}

proptest! {
    #[test]
    fn any_string_is_refused_with_a_typed_error(token in token_like()) {
        let err = check(&token).expect_err("no random string is a valid token");
        if token.len() > MAX_TOKEN_BYTES {
            prop_assert_eq!(err, AuthError::TooLarge);
        }
    }

    #[test]
    fn any_authorization_header_is_a_401_naming_the_check_that_failed(
        header in prop_oneof![
            text(),
            token_like().prop_map(|t| format!("Bearer {t}")),
            token_like().prop_map(|t| format!("bEaReR  {t} ")),
            prop::sample::select(&["Bearer", "Bearer ", "Basic dXNlcg==", "Bearer a b"][..])
                .prop_map(str::to_owned),
        ]
    ) {
        let auth = Authenticator::new(JwksCache::new(keys(), None), policy());
        let err = block_on(auth.authenticate(Some(&header), NOW, &NoHttp))
            .expect_err("no such header carries a valid token");
        prop_assert_eq!(err.status, 401, "{}", err);
        prop_assert!(CODES.contains(&err.code.as_str()), "{}", err.code);
    }

    #[test]
    fn forged_and_confused_tokens_never_verify(
        header in header(),
        payload in any_claims(),
        signer in signer(),
    ) {
        let token = assemble(header.to_string().as_bytes(), payload.to_string().as_bytes(), &signer);
        let outcome = check(&token);
        if outcome.is_ok() {
            prop_assert!(genuinely_signed(&header, &signer), "forgery accepted: {header} {signer:?}");
        }
        let alg = header.get("alg").and_then(Value::as_str);
        if alg.is_some_and(|alg| !matches!(alg, "HS256" | "ES256" | "RS256")) {
            // `none` included: refused whatever the signature, before any key is tried.
            prop_assert!(
                matches!(outcome, Err(AuthError::AlgorithmNotAllowed | AuthError::Malformed)),
                "{alg:?}: {outcome:?}"
            );
        }
        let names_public_key = header
            .get("kid")
            .is_some_and(|k| k == EC_KID || k == RSA_KID);
        if alg == Some("HS256") && names_public_key {
            prop_assert!(
                matches!(outcome, Err(AuthError::AlgorithmNotAllowed | AuthError::Malformed)),
                "alg confusion: {outcome:?}"
            );
        }
    }

    #[test]
    fn a_valid_token_verifies_with_its_whole_payload(
        claims in valid_claims(),
        es256 in any::<bool>(),
        kid in prop::option::of(text().prop_filter("not a public key's", |k| k != EC_KID && k != RSA_KID)),
    ) {
        let token = if es256 {
            let header = json!({"alg": "ES256", "typ": "JWT", "kid": EC_KID});
            assemble(header.to_string().as_bytes(), claims.to_string().as_bytes(), &Signer::EcKey)
        } else {
            mint_hs256(&claims, SECRET, kid.as_deref())
        };
        // What the verifier's own JSON parser reads back (floats may round differently).
        let expected: Value = serde_json::from_str(&claims.to_string()).expect("valid JSON");
        prop_assert_eq!(check(&token), Ok(expected));
    }

    #[test]
    fn a_valid_token_with_one_byte_changed_never_verifies(
        claims in valid_claims(),
        es256 in any::<bool>(),
        change in (0usize..3, any::<prop::sample::Index>(), 0x20u8..0x7f),
    ) {
        let token = if es256 {
            let header = json!({"alg": "ES256", "kid": EC_KID});
            assemble(header.to_string().as_bytes(), claims.to_string().as_bytes(), &Signer::EcKey)
        } else {
            mint_hs256(&claims, SECRET, None)
        };
        let (how, at, byte) = change;
        let mut bytes = token.clone().into_bytes();
        let at = at.index(bytes.len());
        match how {
            0 => bytes[at] = byte,
            1 => { bytes.remove(at); }
            _ => bytes.insert(at, byte),
        }
        let changed = String::from_utf8(bytes).expect("ASCII stays UTF-8");
        prop_assume!(changed != token);
        prop_assert!(check(&changed).is_err(), "{token} -> {changed}");
    }

    #[test]
    fn one_broken_claim_gets_its_own_refusal(claims in valid_claims(), broken in 0usize..9, by in 0..1_000_000i64) {
        let mut claims = claims;
        let expected = match broken {
            0 => { claims["exp"] = json!(NOW - LEEWAY - 1 - by); AuthError::Expired }
            1 => { claims.as_object_mut().map(|c| c.remove("exp")); AuthError::MissingExp }
            2 => { claims["nbf"] = json!(NOW + LEEWAY + 1 + by); AuthError::NotYetValid }
            3 => { claims["iat"] = json!(NOW + LEEWAY + 1 + by); AuthError::NotYetValid }
            4 => { claims["aud"] = json!(["anon", format!("authenticated{by}")]); AuthError::WrongAudience }
            5 => { claims["iss"] = json!(format!("{ISSUER}/{by}")); AuthError::WrongIssuer }
            6 => { claims["role"] = json!(" ".repeat((by % 3) as usize)); AuthError::MissingRole }
            7 => { claims["role"] = json!(by); AuthError::MissingRole }
            _ => { claims["exp"] = json!(format!("{}", NOW + by)); AuthError::Malformed }
        };
        prop_assert_eq!(check(&mint_hs256(&claims, SECRET, None)), Err(expected));
    }

    #[test]
    fn oversized_tokens_are_refused_before_parsing(extra in 1usize..20_000, claims in valid_claims()) {
        // A genuinely signed token, so only its size can refuse it.
        let mut padded = claims;
        padded["pad"] = "x".repeat(MAX_TOKEN_BYTES).into();
        let token = mint_hs256(&padded, SECRET, None);
        prop_assert_eq!(check(&token), Err(AuthError::TooLarge));
        let junk = "a".repeat(MAX_TOKEN_BYTES + extra);
        prop_assert_eq!(check(&junk), Err(AuthError::TooLarge));
    }

    #[test]
    fn any_jwks_document_is_a_key_set_or_malformed(
        doc in prop_oneof![
            text(),
            json_value().prop_map(|v| v.to_string()),
            prop::collection::vec(
                super::shaped(&["kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"],
                              &["EC", "RSA", "P-256", "ES256", "RS256", "sig", "enc", "AQAB"]),
                0..4,
            ).prop_map(|keys| json!({ "keys": keys }).to_string()),
        ]
    ) {
        match KeySet::from_jwks_json(&doc) {
            Ok(set) => prop_assert!(set.public_key_count() <= 4),
            Err(err) => prop_assert_eq!(err, AuthError::Malformed),
        }
    }
}

/// The signature's last base64url character carries padding bits as well as signature bits:
/// a decoder that ignored them would take other spellings of the same signature. Tried
/// exhaustively, since a random change rarely lands there.
#[test]
fn no_other_spelling_of_the_last_signature_character_verifies() {
    let claims = json!({"sub": SUB, "role": "authenticated", "aud": "authenticated",
                        "iss": ISSUER, "exp": NOW + 60});
    let header = json!({"alg": "ES256", "kid": EC_KID});
    for token in [
        mint_hs256(&claims, SECRET, None),
        assemble(
            header.to_string().as_bytes(),
            claims.to_string().as_bytes(),
            &Signer::EcKey,
        ),
    ] {
        assert!(check(&token).is_ok());
        let (body, last) = token.split_at(token.len() - 1);
        for other in (0x20u8..0x7f).map(char::from) {
            if last != other.to_string() {
                assert!(check(&format!("{body}{other}")).is_err(), "{other}");
            }
        }
    }
}
