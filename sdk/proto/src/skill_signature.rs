//! A publisher's signature over a skill: which component bytes and which
//! `skill.toml` bytes it vouches for, under which name and version.
//!
//! A compact JWS (`typ` `tgw-skill+jws`, [`jws`]) over [`Statement`]. It is
//! our own Ed25519 format rather than a cosign signature: the host already
//! verifies every signed thing with one JWS implementation and one header
//! policy, publisher keys are plain Ed25519 keys an operator trusts by id
//! (no Fulcio, Rekor or OIDC to reach from an air-gapped machine), and the
//! `sigstore` crate would pin an `oci-client` other than the one the
//! registry client uses. The statement binds the manifest too, so the
//! risks and capabilities an operator accepted cannot be swapped under a
//! signed component.

use serde::{Deserialize, Serialize};

use crate::grant::TrustedKey;
use crate::jws::{self, JwsError, JwsSigner, TokenType};

pub const TOKEN_TYPE: TokenType = TokenType {
    typ: "tgw-skill+jws",
    max_bytes: 4096,
};

/// What a publisher signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The skill's name, as in its `skill.toml`.
    pub name: String,
    pub version: String,
    /// `sha256:` of the component's bytes.
    pub component: String,
    /// `sha256:` of the `skill.toml` bytes.
    pub manifest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature does not verify: {0}")]
    Signature(#[from] JwsError),
    #[error("the signature is unreadable: {0}")]
    Unreadable(String),
}

/// Signs `statement` with a publisher's key.
pub fn sign(signer: &JwsSigner, statement: &Statement) -> String {
    signer.sign(&TOKEN_TYPE, statement)
}

/// The key id that signed `token`, whether or not it is trusted: for
/// saying who signed when the key is not among `trusted`.
pub fn signer_of(token: &str) -> Option<String> {
    // No key is offered, so a well-formed token stops at its key id.
    match jws::verify(token.trim(), &TOKEN_TYPE, |_| None) {
        Err(JwsError::UnknownKey(kid)) => Some(kid),
        _ => None,
    }
}

/// Checks `token` against the `trusted` publisher keys; returns the
/// statement and the id of the key that signed it.
pub fn verify(token: &str, trusted: &[TrustedKey]) -> Result<(Statement, String), SignatureError> {
    let signer = std::cell::RefCell::new(String::new());
    let payload = jws::verify(token.trim(), &TOKEN_TYPE, |kid| {
        let key = trusted.iter().find(|k| k.kid == kid).map(|k| &k.key);
        if key.is_some() {
            kid.clone_into(&mut signer.borrow_mut());
        }
        key
    })?;
    let statement: Statement =
        serde_json::from_slice(&payload).map_err(|e| SignatureError::Unreadable(e.to_string()))?;
    Ok((statement, signer.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        Statement {
            name: "files".into(),
            version: "1.0.0".into(),
            component: format!("sha256:{}", "a".repeat(64)),
            manifest: format!("sha256:{}", "b".repeat(64)),
        }
    }

    #[test]
    fn a_statement_verifies_only_with_its_publishers_key() {
        let publisher = JwsSigner::from_seed(&[7; 32]);
        let other = JwsSigner::from_seed(&[8; 32]);
        let token = sign(&publisher, &statement());
        let trusted = [TrustedKey::new(publisher.verifying_key())];
        assert_eq!(
            verify(&token, &trusted),
            Ok((statement(), publisher.kid().to_owned()))
        );
        let strangers = [TrustedKey::new(other.verifying_key())];
        assert!(matches!(
            verify(&token, &strangers),
            Err(SignatureError::Signature(JwsError::UnknownKey(_)))
        ));
        assert_eq!(signer_of(&token).as_deref(), Some(publisher.kid()));
        // Another token type signed by the same key is not a statement.
        let receipt = publisher.sign(&crate::receipt::TOKEN_TYPE, &statement());
        assert!(verify(&receipt, &trusted).is_err());
        // One changed byte of the payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1].insert(0, 'A');
        assert!(verify(&parts.join("."), &trusted).is_err());
    }
}
