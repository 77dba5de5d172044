//! Building grants by hand, including the broken and hostile ones a
//! verifier must refuse.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tgw::grant::key_id;

/// Signs any header and payload text with `key` (what an attacker with a
/// key, or a buggy signer, could produce).
pub fn forge(header: &str, payload: &str, key: &SigningKey) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature.to_bytes()))
}

pub fn header_for(key: &SigningKey) -> Value {
    json!({"alg": "EdDSA", "typ": "tgw-grant+jwt", "kid": key_id(&key.verifying_key())})
}

pub fn with(mut value: Value, key: &str, new: Value) -> Value {
    value[key] = new;
    value
}

/// `alg: none` with an empty signature.
pub fn alg_none(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(with(header.clone(), "alg", json!("none")).to_string()),
        B64.encode(claims.to_string())
    )
}

/// `alg: HS256` keyed with the public key (the classic confusion attack).
pub fn hs256_with_public_key(key: &SigningKey, claims: &Value) -> String {
    use hmac::{Hmac, Mac};
    let header = with(header_for(key), "alg", json!("HS256")).to_string();
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.verifying_key().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// Adds the group order L to the signature's S: the same signature value
/// mod L, but not canonical.
pub fn malleate(token: &str) -> String {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = B64.decode(sig).unwrap();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = sig[32 + i] as u16 + L[i] as u16 + carry;
        sig[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    format!("{input}.{}", B64.encode(sig))
}
