//! ES256 and RS256 signatures checked by the runtime's WebCrypto (`crypto.subtle.verify`):
//! native code in workerd instead of P-256 or RSA arithmetic compiled to WASM, which also
//! keeps that arithmetic out of every function's bundle. Imported keys are kept per isolate.

use genbase_shared::auth::{PublicKey, SignatureCheck, SignatureFuture};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use worker::console_error;
use worker::js_sys::{Array, Object, Promise, Reflect, Uint8Array, JSON};
use worker::wasm_bindgen_futures::JsFuture;

/// Imported keys kept per isolate. A JWKS holds a handful of keys; past this many (rotations
/// over a long-lived isolate) the cache starts over.
const MAX_IMPORTED_KEYS: usize = 16;

#[wasm_bindgen]
extern "C" {
    type SubtleCrypto;

    #[wasm_bindgen(thread_local_v2, js_namespace = crypto, js_name = subtle)]
    static SUBTLE: SubtleCrypto;

    #[wasm_bindgen(method, catch, js_name = importKey)]
    fn import_key(
        this: &SubtleCrypto,
        format: &str,
        key_data: &JsValue,
        algorithm: &Object,
        extractable: bool,
        key_usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn verify(
        this: &SubtleCrypto,
        algorithm: &Object,
        key: &JsValue,
        signature: &Uint8Array,
        data: &Uint8Array,
    ) -> Result<Promise, JsValue>;
}

thread_local! {
    static IMPORTED: RefCell<Vec<(PublicKey, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// [`SignatureCheck`] through `crypto.subtle`.
pub struct WebCryptoSignatures;

impl SignatureCheck for WebCryptoSignatures {
    fn verifies<'a>(
        &'a self,
        key: &'a PublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> SignatureFuture<'a> {
        Box::pin(async move {
            match verifies(key, message, signature).await {
                Ok(valid) => valid,
                Err(e) => {
                    // A key WebCrypto refuses (a point off the curve) is a JWKS problem, not the
                    // caller's: say so in the log, and refuse the token.
                    console_error!("WebCrypto {} verification failed: {e:?}", key.alg());
                    false
                }
            }
        })
    }
}

async fn verifies(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<bool, JsValue> {
    let crypto_key = imported(key).await?;
    let algorithm = match key {
        PublicKey::Es256 { .. } => object(&[("name", "ECDSA"), ("hash", "SHA-256")])?,
        PublicKey::Rs256 { .. } => object(&[("name", "RSASSA-PKCS1-v1_5")])?,
    };
    // Copies in the JS heap, not views of WASM memory, which a `memory.grow` would detach
    // while the check is under way (about 1 KB, once per token).
    let (signature, message) = (Uint8Array::from(signature), Uint8Array::from(message));
    let promise = SUBTLE.with(|s| s.verify(&algorithm, &crypto_key, &signature, &message))?;
    Ok(JsFuture::from(promise).await?.is_truthy())
}

/// `key` as a `CryptoKey`, imported from its JWK on first use in this isolate.
async fn imported(key: &PublicKey) -> Result<JsValue, JsValue> {
    let cached = IMPORTED.with_borrow(|keys| {
        keys.iter()
            .find(|(k, _)| k == key)
            .map(|(_, crypto_key)| crypto_key.clone())
    });
    if let Some(crypto_key) = cached {
        return Ok(crypto_key);
    }
    let jwk = key.jwk();
    let algorithm = match key {
        PublicKey::Es256 { .. } => object(&[("name", "ECDSA"), ("namedCurve", "P-256")])?,
        PublicKey::Rs256 { .. } => object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")])?,
    };
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise =
        SUBTLE.with(|s| s.import_key("jwk", &JSON::parse(&jwk)?, &algorithm, false, &usages))?;
    let crypto_key = JsFuture::from(promise).await?;
    IMPORTED.with_borrow_mut(|keys| {
        if keys.len() >= MAX_IMPORTED_KEYS {
            keys.clear();
        }
        keys.push((key.clone(), crypto_key.clone()));
    });
    Ok(crypto_key)
}

/// A WebCrypto algorithm dictionary.
fn object(fields: &[(&str, &str)]) -> Result<Object, JsValue> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &(*name).into(), &(*value).into())?;
    }
    Ok(object)
}
