//! Stop orders: the gateway telling the executor that runs a call to stop
//! it, because nobody waits for its answer any more (a cancelled MCP task,
//! a client that cancelled its request). An executor stops a running tool
//! only on an order signed by a trusted gateway key for its pool and this
//! very grant, so nobody else on the bus can stop someone's call.
//!
//! An order is a compact JWS (`typ` `tgw-stop+jws`, [`jws`]) over
//! [`StopClaims`].

use serde::{Deserialize, Serialize};

use crate::grant::TrustedKey;
use crate::jws::{self, JwsError, JwsSigner, TokenType};

pub const TOKEN_TYPE: TokenType = TokenType {
    typ: "tgw-stop+jws",
    max_bytes: 2048,
};

/// What the gateway signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopClaims {
    /// The executor pool the grant was for.
    pub aud: String,
    /// The call id the gateway sent.
    pub call: String,
    /// The grant's `jti`.
    pub jti: String,
}

/// Signs `claims` with a gateway's key.
pub fn sign(signer: &JwsSigner, claims: &StopClaims) -> String {
    signer.sign(&TOKEN_TYPE, claims)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error("the stop order is not signed by a trusted gateway: {0}")]
    Signature(#[from] JwsError),
    #[error("the stop order is unreadable: {0}")]
    Unreadable(String),
    #[error("the stop order is for another pool")]
    OtherPool,
}

/// The order in `token`, if a trusted gateway key signed it for `pool`.
pub fn verify(token: &str, trusted: &[TrustedKey], pool: &str) -> Result<StopClaims, StopError> {
    let payload = jws::verify(token, &TOKEN_TYPE, |kid| {
        trusted.iter().find(|k| k.kid == kid).map(|k| &k.key)
    })?;
    let claims: StopClaims =
        serde_json::from_slice(&payload).map_err(|e| StopError::Unreadable(e.to_string()))?;
    if claims.aud != pool {
        return Err(StopError::OtherPool);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> StopClaims {
        StopClaims {
            aud: "default".into(),
            call: "c1".into(),
            jti: "j1".into(),
        }
    }

    #[test]
    fn an_order_holds_only_for_its_pool_and_from_a_trusted_gateway() {
        let gateway = JwsSigner::from_seed(&[5; 32]);
        let trusted = [TrustedKey::new(gateway.verifying_key())];
        let token = sign(&gateway, &claims());
        assert_eq!(verify(&token, &trusted, "default"), Ok(claims()));
        assert_eq!(verify(&token, &trusted, "other"), Err(StopError::OtherPool));
        let stranger = sign(&JwsSigner::from_seed(&[6; 32]), &claims());
        assert!(matches!(
            verify(&stranger, &trusted, "default"),
            Err(StopError::Signature(JwsError::UnknownKey(_)))
        ));
        // An executor's update is not an order, even from a trusted key.
        let update = gateway.sign(&crate::update::TOKEN_TYPE, &claims());
        assert!(verify(&update, &trusted, "default").is_err());
        assert!(verify("not a token", &trusted, "default").is_err());
        assert!(verify(&"x".repeat(100_000), &trusted, "default").is_err());
    }
}
