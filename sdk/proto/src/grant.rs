//! Execution grants: compact-JWS Ed25519 tokens that bind one tool call's
//! exact arguments, for at most 30 seconds, to one executor pool.
//!
//! The API makes the unsafe path unwritable: an [`UnverifiedGrant`] is only
//! a string; its claims come out of [`UnverifiedGrant::verify`], as a
//! [`VerifiedGrant`], and nowhere else.
//!
//! The token itself is a compact JWS of [`crate::jws`], the one
//! implementation of the gateway's signed tokens, with the grant's own
//! header policy ([`TOKEN_TYPE`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

pub use crate::jws::{ALGORITHM, key_id};
use crate::jws::{JwsError, JwsSigner, TokenType};

/// The header `typ` of a grant.
pub const TYPE: &str = "tgw-grant+jwt";
/// The longest a grant may live: `exp - iat`.
pub const MAX_LIFETIME_SECS: i64 = 30;
/// Allowed clock skew between gateway and executor.
pub const LEEWAY_SECS: i64 = 2;
/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// The grant's header policy and size cap.
pub const TOKEN_TYPE: TokenType = TokenType {
    typ: TYPE,
    max_bytes: MAX_TOKEN_BYTES,
};

/// What a grant says. All claims are required; times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: String,
    /// The executor pool.
    pub aud: String,
    /// The principal that proposed the call.
    pub sub: String,
    /// 128 random bits, base64url: the single-use nonce.
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub skill: String,
    pub tool: String,
    /// `sha256:` digest of the skill component.
    pub component: String,
    /// `sha256:` of the canonical arguments.
    pub input_hash: String,
    /// `sha256:` digest of the policy set that decided.
    pub policy: String,
    /// Present when a human approved the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// The human approval behind a grant; binary values are base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub id: String,
    pub approver: String,
    pub credential_id: String,
    /// The random nonce mixed into the WebAuthn challenge.
    pub nonce: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    pub signature: String,
}

/// Why a grant is refused: one case per reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed grant: {0}")]
    Malformed(String),
    #[error("wrong token type {0:?} (expected {TYPE})")]
    WrongType(String),
    #[error("algorithm {0:?} is not accepted (only {ALGORITHM})")]
    WrongAlgorithm(String),
    #[error("header {0:?} is not allowed in a grant")]
    ForbiddenHeader(String),
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("bad claim: {0}")]
    BadClaim(String),
    #[error("the grant has expired")]
    Expired,
    #[error("the grant is not valid yet")]
    NotYetValid,
    #[error("the grant lives longer than {MAX_LIFETIME_SECS} seconds")]
    LifetimeTooLong,
    #[error("the grant is for audience {0:?}, not this executor pool")]
    WrongAudience(String),
    #[error("the arguments are not the ones the grant was issued for")]
    HashMismatch,
}

impl From<JwsError> for VerifyError {
    fn from(error: JwsError) -> Self {
        match error {
            JwsError::Malformed(why) => VerifyError::Malformed(why),
            JwsError::WrongType { found, .. } => VerifyError::WrongType(found),
            JwsError::WrongAlgorithm(alg) => VerifyError::WrongAlgorithm(alg),
            JwsError::ForbiddenHeader(name) => VerifyError::ForbiddenHeader(name),
            JwsError::UnknownKey(kid) => VerifyError::UnknownKey(kid),
            JwsError::BadSignature => VerifyError::BadSignature,
        }
    }
}

/// A public key executors accept grants from.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: String,
    pub key: VerifyingKey,
}

impl TrustedKey {
    pub fn new(key: VerifyingKey) -> Self {
        TrustedKey {
            kid: key_id(&key),
            key,
        }
    }

    /// From the raw 32 bytes of an Ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| "an Ed25519 public key is 32 bytes".to_owned())?;
        VerifyingKey::from_bytes(bytes)
            .map(TrustedKey::new)
            .map_err(|_| "not an Ed25519 public key".to_owned())
    }
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({})", self.kid)
    }
}

/// The gateway's signing key.
pub struct GrantSigner(JwsSigner);

impl GrantSigner {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        GrantSigner(JwsSigner::from_seed(seed))
    }

    pub fn kid(&self) -> &str {
        self.0.kid()
    }

    /// The key itself, for the other things the gateway signs (sealed
    /// records, its audit chain).
    pub fn jws(&self) -> &JwsSigner {
        &self.0
    }

    pub fn trusted_key(&self) -> TrustedKey {
        TrustedKey::new(self.0.verifying_key())
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Claims) -> UnverifiedGrant {
        UnverifiedGrant(self.0.sign(&TOKEN_TYPE, claims))
    }
}

/// What an executor checks a grant against.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub trusted: &'a [TrustedKey],
    /// This executor's pool.
    pub audience: &'a str,
    /// Unix seconds, from the executor's clock.
    pub now: i64,
    /// `sha256:` of the canonical arguments the executor received.
    pub input_hash: &'a str,
}

/// A grant as it travels: a token, with no way to read its claims.
#[derive(Clone, PartialEq, Eq)]
pub struct UnverifiedGrant(String);

impl fmt::Debug for UnverifiedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnverifiedGrant({} bytes)", self.0.len())
    }
}

/// A grant whose signature, header, claims, times, audience and argument
/// hash all checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    claims: Claims,
}

impl VerifiedGrant {
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

impl UnverifiedGrant {
    pub fn from_token(token: impl Into<String>) -> Self {
        UnverifiedGrant(token.into())
    }

    pub fn token(&self) -> &str {
        &self.0
    }

    pub fn verify(&self, expect: &Expectations<'_>) -> Result<VerifiedGrant, VerifyError> {
        let payload = crate::jws::verify(&self.0, &TOKEN_TYPE, |kid| {
            expect.trusted.iter().find(|t| t.kid == kid).map(|t| &t.key)
        })?;
        // Only now, with the signature checked, read the claims.
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|e| VerifyError::BadClaim(e.to_string()))?;
        check_claims(&claims, expect)?;
        Ok(VerifiedGrant { claims })
    }
}

fn is_digest(value: &str) -> bool {
    value.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn check_claims(claims: &Claims, expect: &Expectations<'_>) -> Result<(), VerifyError> {
    let bad = |what: String| Err(VerifyError::BadClaim(what));
    for (name, value) in [
        ("component", &claims.component),
        ("input_hash", &claims.input_hash),
        ("policy", &claims.policy),
    ] {
        if !is_digest(value) {
            return bad(format!("{name} is not a sha256: digest"));
        }
    }
    if B64.decode(&claims.jti).map(|b| b.len()) != Ok(16) {
        return bad("jti is not 128 bits of base64url".into());
    }
    if claims.exp <= claims.iat || claims.nbf < claims.iat || claims.nbf >= claims.exp {
        return bad("iat, nbf and exp are out of order".into());
    }
    if claims.exp - claims.iat > MAX_LIFETIME_SECS {
        return Err(VerifyError::LifetimeTooLong);
    }
    if claims.iat > expect.now + LEEWAY_SECS || claims.nbf > expect.now + LEEWAY_SECS {
        return Err(VerifyError::NotYetValid);
    }
    if claims.exp <= expect.now - LEEWAY_SECS {
        return Err(VerifyError::Expired);
    }
    if claims.aud != expect.audience {
        return Err(VerifyError::WrongAudience(claims.aud.clone()));
    }
    if claims.input_hash != expect.input_hash {
        return Err(VerifyError::HashMismatch);
    }
    Ok(())
}
