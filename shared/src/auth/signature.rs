//! The one step of verification that depends on the runtime: checking an ES256 or RS256
//! signature. Workers hand it to WebCrypto (genbase-edge), native code to jwt-compact
//! ([`NativeSignatures`](super::NativeSignatures)); parsing, key selection, HS256 and the
//! claims stay in [`verify_with`](super::verify_with) for both.

use super::PublicKey;
use std::future::Future;
use std::pin::Pin;

/// A signature check in progress. Boxed so an [`Authenticator`](super::Authenticator) can hold
/// any implementation without becoming generic over it.
pub type SignatureFuture<'a> = Pin<Box<dyn Future<Output = bool> + 'a>>;

pub trait SignatureCheck {
    /// Whether `signature` (as it appears in the JWS: raw `r || s` for ES256, PKCS#1 v1.5 for
    /// RS256) signs `message` under `key`, with the one algorithm the key pins. An ES256
    /// signature arrives here only with its 64 bytes (`verify_with` refuses other lengths).
    fn verifies<'a>(
        &'a self,
        key: &'a PublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> SignatureFuture<'a>;
}
