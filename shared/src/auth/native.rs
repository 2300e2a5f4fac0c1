//! [`SignatureCheck`] in Rust with jwt-compact, for the PostgREST stand-in, the tools and
//! native tests. Workers check signatures with WebCrypto instead, so this (and the P-256 and
//! RSA arithmetic under it) is not compiled for wasm32.

use super::{PublicKey, SignatureCheck, SignatureFuture};
use jwt_compact::alg::{Es256, Rsa, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};

#[derive(Debug, Clone, Copy, Default)]
pub struct NativeSignatures;

impl SignatureCheck for NativeSignatures {
    fn verifies<'a>(
        &'a self,
        key: &'a PublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> SignatureFuture<'a> {
        Box::pin(std::future::ready(verifies(key, message, signature)))
    }
}

fn verifies(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let jwk_text = key.jwk();
    let Ok(jwk) = serde_json::from_str::<JsonWebKey<'_>>(&jwk_text) else {
        return false;
    };
    match key {
        PublicKey::Es256 { .. } => {
            // Conversion fails for a point that is not on the curve.
            let (Ok(key), Ok(sig)) = (
                <Es256 as Algorithm>::VerifyingKey::try_from(&jwk),
                <Es256 as Algorithm>::Signature::try_from_slice(signature),
            ) else {
                return false;
            };
            Es256.verify_signature(&sig, &key, message)
        }
        PublicKey::Rs256 { .. } => {
            let (Ok(key), Ok(sig)) = (
                RsaPublicKey::try_from(&jwk),
                <Rsa as Algorithm>::Signature::try_from_slice(signature),
            ) else {
                return false;
            };
            Rsa::rs256().verify_signature(&sig, &key, message)
        }
    }
}
