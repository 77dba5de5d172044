//! Compact JWS with Ed25519 (`EdDSA`): the one implementation behind every
//! signed token of the gateway (execution grants, OAuth access tokens).
//!
//! Written on `ed25519-dalek` directly rather than a JWT crate: the format
//! is fixed (one algorithm, one `typ` per token type, three header fields),
//! and the JWT crates accept more than that (other algorithms, `jwk`/`jku`
//! headers, duplicate keys) which is exactly what must be refused here.
//!
//! Each token type has its own header policy and size cap ([`TokenType`]).
//! [`verify`] checks, in order: size, shape, header (exactly `alg`, `typ`,
//! `kid`; no duplicates), `alg`, `typ`, `kid`, the signature with
//! `verify_strict`; only then does it return the payload bytes.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only accepted `alg`.
pub const ALGORITHM: &str = "EdDSA";

/// What one kind of token must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenType {
    /// The header's `typ`, exactly.
    pub typ: &'static str,
    /// Tokens longer than this are refused before any parsing.
    pub max_bytes: usize,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("{0}")]
    Malformed(String),
    #[error("wrong token type {found:?} (expected {expected})")]
    WrongType {
        found: String,
        expected: &'static str,
    },
    #[error("algorithm {0:?} is not accepted (only {ALGORITHM})")]
    WrongAlgorithm(String),
    #[error("header {0:?} is not allowed")]
    ForbiddenHeader(String),
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    BadSignature,
}

/// A key id: derived from the public key, so it cannot be chosen to look
/// like another key's (16 base64url characters of its SHA-256).
pub fn key_id(public_key: &VerifyingKey) -> String {
    B64.encode(Sha256::digest(public_key.as_bytes()))[..16].to_owned()
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// An Ed25519 signing key and its key id.
pub struct JwsSigner {
    kid: String,
    key: SigningKey,
}

impl JwsSigner {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        JwsSigner {
            kid: key_id(&key.verifying_key()),
            key,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// An Ed25519 signature over `message` itself, for the few signed
    /// things that are not tokens (audit entries sign their hash under a
    /// label of their own).
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// `payload` as a compact JWS of type `token_type`.
    pub fn sign(&self, token_type: &TokenType, payload: &impl Serialize) -> String {
        let header = Header {
            alg: ALGORITHM,
            typ: token_type.typ,
            kid: &self.kid,
        };
        let signing_input = format!(
            "{}.{}",
            B64.encode(json(&header)),
            B64.encode(json(payload))
        );
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }
}

/// Serialises our own types; they are plain structs of strings, numbers
/// and options, for which serde_json cannot fail.
fn json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Checks `token` as a JWS of `token_type` signed by the key `keys` finds
/// for its `kid`, and returns the payload bytes: the caller parses its
/// claims only after the signature checked out.
pub fn verify<'k>(
    token: &str,
    token_type: &TokenType,
    keys: impl Fn(&str) -> Option<&'k VerifyingKey>,
) -> Result<Vec<u8>, JwsError> {
    let malformed = |what: &str| JwsError::Malformed(what.to_owned());
    if token.len() > token_type.max_bytes {
        return Err(malformed("the token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "a token is three base64url parts separated by dots",
        ));
    };

    let header = decode(header_b64, "header")?;
    let header: StrictObject =
        serde_json::from_slice(&header).map_err(|e| JwsError::Malformed(format!("header: {e}")))?;
    let header = header.0;
    if let Some(extra) = header
        .keys()
        .find(|k| !["alg", "typ", "kid"].contains(&k.as_str()))
    {
        return Err(JwsError::ForbiddenHeader(extra.clone()));
    }
    let field = |name: &str| match header.get(name) {
        Some(serde_json::Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(JwsError::Malformed(format!(
            "header {name} is not a string"
        ))),
        None => Err(JwsError::Malformed(format!("header {name} is missing"))),
    };
    let alg = field("alg")?;
    if alg != ALGORITHM {
        return Err(JwsError::WrongAlgorithm(alg.to_owned()));
    }
    let typ = field("typ")?;
    if typ != token_type.typ {
        return Err(JwsError::WrongType {
            found: typ.to_owned(),
            expected: token_type.typ,
        });
    }
    let kid = field("kid")?;
    if kid.is_empty()
        || kid.len() > 64
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(JwsError::Malformed(format!(
            "key id {kid:?} has characters outside A-Z a-z 0-9 - _"
        )));
    }
    let key = keys(kid).ok_or_else(|| JwsError::UnknownKey(kid.to_owned()))?;

    let signature = decode(signature_b64, "signature")?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| malformed("an Ed25519 signature is 64 bytes"))?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    // verify_strict refuses non-canonical signatures (S >= L) and
    // small-order keys.
    key.verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| JwsError::BadSignature)?;
    decode(payload_b64, "payload")
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, JwsError> {
    B64.decode(part)
        .map_err(|_| JwsError::Malformed(format!("the {what} is not base64url without padding")))
}

/// A JSON object that refuses duplicate keys (serde_json keeps the last).
struct StrictObject(BTreeMap<String, serde_json::Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StrictObject, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if out.insert(key.clone(), value).is_some() {
                        return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
                    }
                }
                Ok(StrictObject(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: TokenType = TokenType {
        typ: "test+jwt",
        max_bytes: 1024,
    };

    fn signer() -> JwsSigner {
        JwsSigner::from_seed(&[5; 32])
    }

    fn verify_with(signer: &JwsSigner, token: &str) -> Result<Vec<u8>, JwsError> {
        let key = signer.verifying_key();
        verify(token, &TEST, |kid| (kid == signer.kid()).then_some(&key))
    }

    fn forged_header(header: &str, token: &str) -> String {
        let rest = token.split_once('.').map(|(_, r)| r).unwrap_or_default();
        format!("{}.{rest}", B64.encode(header))
    }

    #[test]
    fn a_signed_token_verifies_and_returns_its_payload() {
        let signer = signer();
        let token = signer.sign(&TEST, &serde_json::json!({"a": 1}));
        assert_eq!(verify_with(&signer, &token), Ok(br#"{"a":1}"#.to_vec()));
    }

    #[test]
    fn every_deviation_is_refused_with_its_reason() {
        let signer = signer();
        let token = signer.sign(&TEST, &serde_json::json!({"a": 1}));
        let kid = signer.kid().to_owned();
        let cases = [
            (
                forged_header(
                    &format!(r#"{{"alg":"none","typ":"test+jwt","kid":"{kid}"}}"#),
                    &token,
                ),
                JwsError::WrongAlgorithm("none".into()),
            ),
            (
                forged_header(
                    &format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#),
                    &token,
                ),
                JwsError::WrongType {
                    found: "JWT".into(),
                    expected: "test+jwt",
                },
            ),
            (
                forged_header(
                    &format!(r#"{{"alg":"EdDSA","typ":"test+jwt","kid":"{kid}","jku":"x"}}"#),
                    &token,
                ),
                JwsError::ForbiddenHeader("jku".into()),
            ),
            (
                forged_header(
                    r#"{"alg":"EdDSA","typ":"test+jwt","kid":"AAAAAAAAAAAAAAAA"}"#,
                    &token,
                ),
                JwsError::UnknownKey("AAAAAAAAAAAAAAAA".into()),
            ),
            (
                forged_header(
                    &format!(r#"{{"alg": "EdDSA","typ":"test+jwt","kid":"{kid}"}}"#),
                    &token,
                ),
                JwsError::BadSignature,
            ),
        ];
        for (forged, expected) in cases {
            assert_eq!(verify_with(&signer, &forged), Err(expected));
        }
        let duplicate = forged_header(
            &format!(r#"{{"alg":"EdDSA","alg":"EdDSA","typ":"test+jwt","kid":"{kid}"}}"#),
            &token,
        );
        assert!(matches!(
            verify_with(&signer, &duplicate),
            Err(JwsError::Malformed(_))
        ));
        let long = format!("{token}{}", "A".repeat(TEST.max_bytes));
        assert_eq!(
            verify_with(&signer, &long),
            Err(JwsError::Malformed("the token is too long".into()))
        );
        for shape in ["", "a.b", "a.b.c.d", &format!("{token}.x")] {
            assert!(
                matches!(verify_with(&signer, shape), Err(JwsError::Malformed(_))),
                "{shape}"
            );
        }
        let other = JwsSigner::from_seed(&[6; 32]);
        assert!(matches!(
            verify_with(&other, &token),
            Err(JwsError::UnknownKey(_))
        ));
    }
}
