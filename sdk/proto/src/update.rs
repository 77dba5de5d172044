//! Call updates: what a running tool reports before its answer (progress,
//! log lines), signed by the executor that runs it. The gateway believes
//! an update only with a signature by a trusted executor key over this
//! call and this grant, so nobody else on the bus can put words in a
//! tool's mouth.
//!
//! An update is a compact JWS (`typ` `tgw-update+jws`, [`jws`]) over
//! [`UpdateClaims`].

use serde::{Deserialize, Serialize};

use crate::grant::TrustedKey;
use crate::jws::{self, JwsError, JwsSigner, TokenType};

pub const TOKEN_TYPE: TokenType = TokenType {
    typ: "tgw-update+jws",
    max_bytes: 8192,
};

/// The level of a log line, as MCP's logging has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// One thing a running call reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CallUpdate {
    Progress {
        done: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    Log {
        level: LogLevel,
        message: String,
    },
}

/// What an executor signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateClaims {
    /// The call id the gateway sent.
    pub call: String,
    /// The grant's `jti`.
    pub jti: String,
    /// Counts from 0 within the call.
    pub seq: u32,
    pub update: CallUpdate,
}

/// Signs `claims` with an executor's key.
pub fn sign(signer: &JwsSigner, claims: &UpdateClaims) -> String {
    signer.sign(&TOKEN_TYPE, claims)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("the update is not signed by a trusted executor: {0}")]
    Signature(#[from] JwsError),
    #[error("the update is unreadable: {0}")]
    Unreadable(String),
    #[error("the update is for another call or grant")]
    Mismatch,
}

/// Checks `token` against the trusted executor keys, and that it is an
/// update of `call` under grant `jti`.
pub fn verify(
    token: &str,
    trusted: &[TrustedKey],
    call: &str,
    jti: &str,
) -> Result<UpdateClaims, UpdateError> {
    let payload = jws::verify(token, &TOKEN_TYPE, |kid| {
        trusted.iter().find(|k| k.kid == kid).map(|k| &k.key)
    })?;
    let claims: UpdateClaims =
        serde_json::from_slice(&payload).map_err(|e| UpdateError::Unreadable(e.to_string()))?;
    if claims.call != call || claims.jti != jti {
        return Err(UpdateError::Mismatch);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> UpdateClaims {
        UpdateClaims {
            call: "c1".into(),
            jti: "j1".into(),
            seq: 0,
            update: CallUpdate::Progress {
                done: 1.0,
                total: Some(3.0),
                message: None,
            },
        }
    }

    #[test]
    fn an_update_verifies_only_for_its_call_and_grant_and_signer() {
        let executor = JwsSigner::from_seed(&[3; 32]);
        let trusted = [TrustedKey::new(executor.verifying_key())];
        let token = sign(&executor, &claims());
        assert_eq!(verify(&token, &trusted, "c1", "j1"), Ok(claims()));
        assert_eq!(
            verify(&token, &trusted, "c2", "j1"),
            Err(UpdateError::Mismatch)
        );
        assert_eq!(
            verify(&token, &trusted, "c1", "j2"),
            Err(UpdateError::Mismatch)
        );
        let stranger = sign(&JwsSigner::from_seed(&[4; 32]), &claims());
        assert!(matches!(
            verify(&stranger, &trusted, "c1", "j1"),
            Err(UpdateError::Signature(JwsError::UnknownKey(_)))
        ));
        assert!(verify("not a token", &trusted, "c1", "j1").is_err());
    }
}
