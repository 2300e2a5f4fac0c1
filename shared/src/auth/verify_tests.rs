use super::super::test_keys::*;
use super::*;
use crate::auth::mint_hs256;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

fn keys() -> KeySet {
    KeySet::from_jwks_json(&jwks(&[ec_public_jwk("ec-1"), rsa_public_jwk("rsa-1")]))
        .unwrap()
        .with_hs256_secret(SECRET)
}

fn policy() -> Policy {
    Policy {
        audience: Some("authenticated".into()),
        issuer: Some("https://ref.supabase.co/auth/v1".into()),
        leeway_secs: 30,
        require_role: true,
    }
}

fn check(token: &str) -> Result<Claims, AuthError> {
    verify(token, &keys(), &policy(), NOW)
}

fn claims_with(patch: serde_json::Value) -> serde_json::Value {
    let mut claims = user_claims();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

#[test]
fn a_valid_hs256_token_yields_its_claims() {
    let claims = check(&hs256_token(None, &user_claims())).unwrap();
    assert_eq!(claims.role.as_deref(), Some("authenticated"));
    assert_eq!(claims.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        claims.session_id.as_deref(),
        Some("5f0b9a1e-1111-4222-8333-944445555666")
    );
    assert_eq!(
        claims.user_id().unwrap().to_string(),
        "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10"
    );
    assert_eq!(claims.raw["iss"], "https://ref.supabase.co/auth/v1");
}

#[test]
fn the_raw_claims_are_the_whole_payload_registered_times_included() {
    let token = hs256_token(None, &claims_with(json!({"nbf": NOW - 5})));
    let claims = check(&token).unwrap();
    assert_eq!(claims.raw, claims_with(json!({"nbf": NOW - 5})));
}

#[test]
fn an_hs256_token_with_a_kid_outside_the_jwks_uses_the_secret() {
    assert!(check(&hs256_token(Some("legacy-secret-kid"), &user_claims())).is_ok());
}

#[test]
fn a_valid_es256_token_is_accepted_with_or_without_kid_when_one_key_is_known() {
    assert!(check(&es256_token(Some("ec-1"), &user_claims())).is_ok());
    let only_ec = KeySet::from_jwks_json(&jwks(&[ec_public_jwk("ec-1")])).unwrap();
    let token = es256_token(None, &user_claims());
    assert!(verify(&token, &only_ec, &policy(), NOW).is_ok());
}

#[test]
fn a_kidless_asymmetric_token_is_refused_when_several_keys_could_match() {
    let token = es256_token(None, &user_claims());
    assert_eq!(
        check(&token).unwrap_err(),
        AuthError::UnknownKey { kid: String::new() }
    );
}

#[test]
fn a_valid_rs256_token_is_accepted() {
    assert!(check(&rs256_token(Some("rsa-1"), &user_claims())).is_ok());
}

#[test]
fn a_tampered_payload_fails_the_signature_check() {
    for token in [
        hs256_token(None, &user_claims()),
        es256_token(Some("ec-1"), &user_claims()),
        rs256_token(Some("rsa-1"), &user_claims()),
    ] {
        let parts: Vec<&str> = token.split('.').collect();
        let evil = claims_with(json!({"role": "service_role"}));
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(evil.to_string()),
            parts[2]
        );
        assert_eq!(check(&forged).unwrap_err(), AuthError::BadSignature);
    }
}

#[test]
fn a_token_signed_by_another_ec_key_with_a_known_kid_fails() {
    let token = es256_token_with_seed(Some("ec-1"), &user_claims(), 9);
    assert_eq!(check(&token).unwrap_err(), AuthError::BadSignature);
}

#[test]
fn a_token_signed_with_another_secret_fails() {
    let token = mint_hs256(
        &user_claims(),
        b"some-other-secret-of-decent-length!!",
        None,
    );
    assert_eq!(check(&token).unwrap_err(), AuthError::BadSignature);
}

#[test]
fn alg_none_is_never_allowed() {
    for alg in ["none", "None", "NONE"] {
        let token = assemble(&json!({"alg": alg}), &user_claims(), |_| Vec::new());
        assert_eq!(check(&token).unwrap_err(), AuthError::AlgorithmNotAllowed);
        let token = format!("{}.", token.trim_end_matches('.'));
        assert_eq!(check(&token).unwrap_err(), AuthError::AlgorithmNotAllowed);
    }
}

#[test]
fn unsupported_algorithms_are_not_allowed() {
    for alg in ["HS512", "PS256", "ES384", "EdDSA", ""] {
        let token = assemble(&json!({"alg": alg, "kid": "ec-1"}), &user_claims(), |_| {
            vec![1; 64]
        });
        assert_eq!(
            check(&token).unwrap_err(),
            AuthError::AlgorithmNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn an_hs256_token_signed_with_the_ec_public_key_is_refused() {
    let public_bytes = ec_public_key_bytes();
    let forge = |kid: Option<&str>| {
        let mut header = json!({"alg": "HS256"});
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        assemble(&header, &user_claims(), |m| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&public_bytes).unwrap();
            mac.update(m);
            mac.finalize().into_bytes().to_vec()
        })
    };
    // Naming the EC key: the key pins ES256.
    assert_eq!(
        check(&forge(Some("ec-1"))).unwrap_err(),
        AuthError::AlgorithmNotAllowed
    );
    // Not naming it: only the configured secret may verify HS256.
    assert_eq!(check(&forge(None)).unwrap_err(), AuthError::BadSignature);
    let without_secret = KeySet::from_jwks_json(&jwks(&[ec_public_jwk("ec-1")])).unwrap();
    assert_eq!(
        verify(&forge(None), &without_secret, &policy(), NOW).unwrap_err(),
        AuthError::AlgorithmNotAllowed
    );
}

#[test]
fn an_rs256_token_cannot_use_an_ec_kid() {
    let token = rs256_token(Some("ec-1"), &user_claims());
    assert_eq!(check(&token).unwrap_err(), AuthError::AlgorithmNotAllowed);
}

#[test]
fn hs256_is_not_allowed_without_a_configured_secret() {
    let keys = KeySet::from_jwks_json(&jwks(&[ec_public_jwk("ec-1")])).unwrap();
    let token = hs256_token(None, &user_claims());
    assert_eq!(
        verify(&token, &keys, &policy(), NOW).unwrap_err(),
        AuthError::AlgorithmNotAllowed
    );
}

#[test]
fn an_unknown_kid_is_reported_by_name() {
    let token = es256_token(Some("rotated"), &user_claims());
    assert_eq!(
        check(&token).unwrap_err(),
        AuthError::UnknownKey {
            kid: "rotated".into()
        }
    );
}

#[test]
fn an_expired_token_is_refused_after_the_leeway() {
    let token = hs256_token(None, &claims_with(json!({"exp": NOW - 31})));
    assert_eq!(check(&token).unwrap_err(), AuthError::Expired);
    let token = hs256_token(None, &claims_with(json!({"exp": NOW - 29})));
    assert!(check(&token).is_ok());
    let strict = Policy {
        leeway_secs: 0,
        ..policy()
    };
    // RFC 7519 4.1.4: valid only strictly before `exp` (jwt-compact alone would accept `exp`).
    let token = hs256_token(None, &claims_with(json!({"exp": NOW})));
    assert_eq!(
        verify(&token, &keys(), &strict, NOW).unwrap_err(),
        AuthError::Expired
    );
    let token = hs256_token(None, &claims_with(json!({"exp": NOW + 1})));
    assert!(verify(&token, &keys(), &strict, NOW).is_ok());
}

#[test]
fn a_token_without_exp_is_refused() {
    let token = hs256_token(None, &claims_with(json!({"exp": null})));
    assert_eq!(check(&token).unwrap_err(), AuthError::MissingExp);
}

#[test]
fn a_registered_time_that_is_not_a_number_is_malformed() {
    // `null` included: jwt-compact reads a present time as a NumericDate or refuses it.
    for (name, value) in [
        ("exp", json!("tomorrow")),
        ("nbf", json!(null)),
        ("iat", json!(true)),
    ] {
        // Set directly: `claims_with` reads null as "remove".
        let mut claims = user_claims();
        claims[name] = value;
        let token = hs256_token(None, &claims);
        assert_eq!(check(&token).unwrap_err(), AuthError::Malformed, "{name}");
    }
}

#[test]
fn fractional_exp_is_accepted_and_read_to_the_whole_second() {
    let token = hs256_token(None, &claims_with(json!({"exp": (NOW + 60) as f64 + 0.5})));
    assert_eq!(check(&token).unwrap().raw["exp"], json!(NOW + 60));
}

#[test]
fn a_token_whose_nbf_is_in_the_future_is_not_yet_valid() {
    let token = hs256_token(None, &claims_with(json!({"nbf": NOW + 120})));
    assert_eq!(check(&token).unwrap_err(), AuthError::NotYetValid);
    let token = hs256_token(None, &claims_with(json!({"nbf": NOW + 20})));
    assert!(check(&token).is_ok());
}

#[test]
fn a_token_issued_in_the_future_is_not_yet_valid() {
    let token = hs256_token(None, &claims_with(json!({"iat": NOW + 120})));
    assert_eq!(check(&token).unwrap_err(), AuthError::NotYetValid);
}

#[test]
fn a_wrong_audience_is_refused_and_arrays_are_searched() {
    let token = hs256_token(None, &claims_with(json!({"aud": "other"})));
    assert_eq!(check(&token).unwrap_err(), AuthError::WrongAudience);
    let token = hs256_token(None, &claims_with(json!({"aud": null})));
    assert_eq!(check(&token).unwrap_err(), AuthError::WrongAudience);
    let token = hs256_token(None, &claims_with(json!({"aud": ["x", "authenticated"]})));
    assert!(check(&token).is_ok());
    let token = hs256_token(None, &claims_with(json!({"aud": ["x", "y"]})));
    assert_eq!(check(&token).unwrap_err(), AuthError::WrongAudience);
}

#[test]
fn audience_is_not_checked_when_the_policy_has_none() {
    let open = Policy {
        audience: None,
        ..policy()
    };
    let token = hs256_token(None, &claims_with(json!({"aud": "anything"})));
    assert!(verify(&token, &keys(), &open, NOW).is_ok());
}

#[test]
fn a_wrong_issuer_is_refused() {
    let token = hs256_token(
        None,
        &claims_with(json!({"iss": "https://evil.example/auth/v1"})),
    );
    assert_eq!(check(&token).unwrap_err(), AuthError::WrongIssuer);
    let token = hs256_token(None, &claims_with(json!({"iss": null})));
    assert_eq!(check(&token).unwrap_err(), AuthError::WrongIssuer);
}

#[test]
fn a_missing_or_empty_role_is_refused_when_required() {
    for role in [json!(null), json!(""), json!(42)] {
        let token = hs256_token(None, &claims_with(json!({ "role": role })));
        assert_eq!(check(&token).unwrap_err(), AuthError::MissingRole);
    }
    let lax = Policy {
        require_role: false,
        ..policy()
    };
    let token = hs256_token(None, &claims_with(json!({"role": null})));
    assert!(verify(&token, &keys(), &lax, NOW).is_ok());
}

#[test]
fn an_oversized_token_is_refused_before_parsing() {
    let token = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(check(&token).unwrap_err(), AuthError::TooLarge);
    let padded = claims_with(json!({"pad": "x".repeat(MAX_TOKEN_BYTES)}));
    assert_eq!(
        check(&hs256_token(None, &padded)).unwrap_err(),
        AuthError::TooLarge
    );
}

#[test]
fn garbage_is_malformed() {
    let valid = hs256_token(None, &user_claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.x", parts[0], parts[1], parts[2]),
        format!("!!.{}.{}", parts[1], parts[2]),
        format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode("[1]"),
            parts[1],
            parts[2]
        ),
    ];
    for token in cases {
        assert_eq!(check(&token).unwrap_err(), AuthError::Malformed, "{token}");
    }
}

#[test]
fn a_non_object_payload_is_malformed_even_if_signed() {
    let token = assemble(&json!({"alg": "HS256"}), &json!([1, 2]), |m| {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(m);
        mac.finalize().into_bytes().to_vec()
    });
    assert_eq!(check(&token).unwrap_err(), AuthError::Malformed);
}

#[test]
fn a_crit_header_is_refused() {
    let token = assemble(
        &json!({"alg": "HS256", "crit": ["exp"]}),
        &user_claims(),
        |m| {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
            mac.update(m);
            mac.finalize().into_bytes().to_vec()
        },
    );
    assert_eq!(check(&token).unwrap_err(), AuthError::Malformed);
}

#[test]
fn a_truncated_signature_is_a_bad_signature_not_a_panic() {
    for token in [
        hs256_token(None, &user_claims()),
        es256_token(Some("ec-1"), &user_claims()),
        rs256_token(Some("rsa-1"), &user_claims()),
    ] {
        let (input, _) = token.rsplit_once('.').unwrap();
        for sig in ["", "AAAA", &URL_SAFE_NO_PAD.encode([0u8; 64])] {
            let forged = format!("{input}.{sig}");
            assert_eq!(check(&forged).unwrap_err(), AuthError::BadSignature);
        }
    }
}

#[test]
fn every_error_has_a_distinct_code_and_a_message() {
    let all = [
        AuthError::TooLarge,
        AuthError::Malformed,
        AuthError::AlgorithmNotAllowed,
        AuthError::UnknownKey { kid: "k".into() },
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongAudience,
        AuthError::WrongIssuer,
        AuthError::MissingRole,
        AuthError::MissingExp,
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(AuthError::code).collect();
    assert_eq!(codes.len(), all.len());
    assert!(all.iter().all(|e| !e.to_string().is_empty()));
    assert_eq!(AuthError::Expired.code(), "token_expired");
}
