//! Fixed test keys and token builders. Keys are constants so tests are deterministic and fast.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::alg::{Es256, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};

pub const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";

/// A 2048-bit RSA key generated once for these tests.
const RSA_JWK: &str = r#"{"kty": "RSA", "n": "n_wtH-VCiNfMrs_cpQoV1XV4aYlWxnF_5PVPDEI9FmF9FzxaZOgiBn1PrN7E3_E29SeTZjsVKewSrnXQPwImpu_07dZveKiApnd1eE-CiSP-7fhappm4VHyrZVRFFC1ZeGyEPCkilytZRzsyDlErGFGnNpM5z1tU0GoZujMN2yHjBpEfb3U1tnWkUw58A51jETyAUcwqU-Aagzucb0GXaDOOdhYES2EopuCx3yPlKc6tbeDNkR8QhGWgA8x9HdMTvjywtlPW2EGjRBbsje_JTnuFV6oe32Ta_VFSJ_wjRtjPr0gq3zfUA_RfZRs1_a9fMPe-IvegXtzCaLAfeYn07w", "e": "AQAB", "d": "Dv-VO2hC1JFmnvzdsps_cMOShlJZ0EDTvKNCxeNv1qlNEOCXmN4qUnFtBsfbrSLwBAuxxePEGCoJllF1NHL_LKdSTvnLeYRSi0inup-5nSHCxIyD8xp2LXWCm_1KfJnDyYZi30D7_TATLppeFvmFEMKW6obi5I2rZd6Miug-ZEyi5N3ozBbqm7RMihTA3WyS1rEnADNUMp7rnxrWI4KJsbJ5LxmKszoYkIpYCYBBCXKlh1apAPT_T93tHwtfdNfNfO0wifJd1W5dgqiPS0-qoBAJrBKnBKbNFL4EFJV405Ylw6-kk-X8ZzociqRuC27U2yTrUYjke2slqA3EIKNAAQ", "p": "3NcTmdCy2Kd1604lfpdJPcZ4nnHkGrLcKLSe6CEhTBvQv_56K234RaGNmVv54E0TPov__Mg-UiNT-B-rba7GUpxa65dccP0URM0kybEg53ks6UreebKeXEHoDHJBZgU1t9yc4pIBqHARtIH1-swtdkX-mH3pwkFIgLwuVFSedF0", "q": "uXTKSTQawEhgtmuF3f_EzSfupSbPNgw4BI5X0bUZE8nhBRF-xaqLD-k0Elom6cqUJHdezSJLZi0vHVnGdMIUqETFNX2DEt1V6cFcDgjZ99gyNDZILt7dwZWdkkSqLjZYtBRxmtIa0wbygrBwM92jOys7i2A2SJpC4N-ynotHebs"}"#;

fn ec_signing_key(seed: u8) -> <Es256 as Algorithm>::SigningKey {
    <Es256 as Algorithm>::SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn rsa_private_key() -> RsaPrivateKey {
    let jwk: JsonWebKey<'_> = serde_json::from_str(RSA_JWK).unwrap();
    RsaPrivateKey::try_from(&jwk).unwrap()
}

pub fn ec_public_jwk_with_seed(kid: &str, seed: u8) -> Value {
    let sk = ec_signing_key(seed);
    let jwk = JsonWebKey::from(sk.verifying_key());
    let mut value = serde_json::to_value(&jwk).unwrap();
    value["kid"] = kid.into();
    value["alg"] = "ES256".into();
    value["use"] = "sig".into();
    value
}

pub fn ec_public_jwk(kid: &str) -> Value {
    ec_public_jwk_with_seed(kid, 7)
}

pub fn rsa_public_jwk(kid: &str) -> Value {
    let private: Value = serde_json::from_str(RSA_JWK).unwrap();
    json!({"kty": "RSA", "n": private["n"], "e": private["e"], "kid": kid, "alg": "RS256"})
}

/// Raw SEC1 bytes of the EC public key, the material an alg-confusion attacker would use.
pub fn ec_public_key_bytes() -> Vec<u8> {
    ec_signing_key(7)
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

pub fn assemble(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn header(alg: &str, kid: Option<&str>) -> Value {
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    header
}

pub fn es256_token_with_seed(kid: Option<&str>, claims: &Value, seed: u8) -> String {
    let sk = ec_signing_key(seed);
    assemble(&header("ES256", kid), claims, |m| {
        Es256.sign(&sk, m).as_bytes().to_vec()
    })
}

pub fn es256_token(kid: Option<&str>, claims: &Value) -> String {
    es256_token_with_seed(kid, claims, 7)
}

pub fn rs256_token(kid: Option<&str>, claims: &Value) -> String {
    let sk = rsa_private_key();
    assemble(&header("RS256", kid), claims, |m| {
        Rsa::rs256().sign(&sk, m).as_bytes().to_vec()
    })
}

pub fn hs256_token(kid: Option<&str>, claims: &Value) -> String {
    super::mint_hs256(claims, SECRET, kid)
}

pub const NOW: i64 = 1_700_000_000;

pub fn user_claims() -> Value {
    json!({
        "sub": "8d0fd2b3-9ca7-4e54-9d1c-4a9d7e3c2f10",
        "role": "authenticated",
        "aud": "authenticated",
        "iss": "https://ref.supabase.co/auth/v1",
        "email": "ada@example.com",
        "session_id": "5f0b9a1e-1111-4222-8333-944445555666",
        "iat": NOW - 10,
        "exp": NOW + 3600
    })
}
