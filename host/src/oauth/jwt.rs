//! Access tokens as JWTs (RFC 9068): `typ: at+jwt`, EdDSA (Ed25519), the
//! MCP resource as audience. Signed and checked by `tgw_proto::jws`, the
//! same code as execution grants, with this token type's header policy and
//! size cap ([`TOKEN_TYPE`]).

use serde::{Deserialize, Serialize};
use tgw_proto::jws::{JwsSigner, TokenType};

/// An access token's header policy and size cap.
pub const TOKEN_TYPE: TokenType = TokenType {
    typ: "at+jwt",
    max_bytes: 8 * 1024,
};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// The refresh-token family it came from: revoking the family ends
    /// its access tokens too.
    pub fam: String,
}

pub struct AccessSigner(JwsSigner);

impl AccessSigner {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        AccessSigner(JwsSigner::from_seed(seed))
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.0.sign(&TOKEN_TYPE, claims)
    }

    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.0.verifying_key()
    }

    /// Checks signature, header, issuer, audience and time; returns the
    /// claims or why not, in words.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<AccessClaims, String> {
        let key = self.0.verifying_key();
        let payload = tgw_proto::jws::verify(token, &TOKEN_TYPE, |kid| {
            (kid == self.0.kid()).then_some(&key)
        })
        .map_err(|e| format!("the access token is refused: {e}"))?;
        let claims: AccessClaims = serde_json::from_slice(&payload)
            .map_err(|e| format!("the access token's claims are malformed: {e}"))?;
        if claims.iss != issuer {
            return Err("the access token is from another issuer".into());
        }
        if claims.aud != audience {
            return Err(format!(
                "the access token is for {}, not for {audience}",
                claims.aud
            ));
        }
        if claims.exp <= now {
            return Err("the access token has expired".into());
        }
        if claims.iat > now + 60 {
            return Err("the access token was issued in the future".into());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://gw.example".into(),
            sub: "alice".into(),
            aud: "https://gw.example/v1/mcp".into(),
            exp: 1_000,
            iat: 700,
            jti: "j".into(),
            client_id: "c".into(),
            scope: "mcp:execute".into(),
            fam: "f".into(),
        }
    }

    #[test]
    fn a_token_verifies_only_for_its_issuer_audience_and_time() {
        let signer = AccessSigner::from_seed(&[7; 32]);
        let token = signer.sign(&claims());
        let (iss, aud) = ("https://gw.example", "https://gw.example/v1/mcp");
        assert_eq!(signer.verify(&token, iss, aud, 800), Ok(claims()));
        assert!(
            signer
                .verify(&token, iss, "https://other.example/v1/mcp", 800)
                .unwrap_err()
                .contains("not for")
        );
        assert!(signer.verify(&token, "https://evil", aud, 800).is_err());
        assert!(
            signer
                .verify(&token, iss, aud, 1_000)
                .unwrap_err()
                .contains("expired")
        );
        let other = AccessSigner::from_seed(&[8; 32]);
        assert!(other.verify(&token, iss, aud, 800).is_err());
        // A changed payload, a `none` header, extra parts.
        use base64::Engine as _;
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
        parts[0] = &forged;
        assert!(signer.verify(&parts.join("."), iss, aud, 800).is_err());
        assert!(signer.verify(&format!("{token}.x"), iss, aud, 800).is_err());
        assert!(signer.verify("", iss, aud, 800).is_err());
    }
}
