//! Access tokens as JWTs (RFC 9068): `typ: at+jwt`, EdDSA (Ed25519), the
//! MCP resource as audience.
//!
//! Written by hand on ed25519-dalek, like the execution grant: the one
//! algorithm is fixed, so the header is compared whole-field by field and
//! nothing in it (no `alg` other than EdDSA, no `jku`, no `jwk`) can steer
//! verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

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

#[derive(Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

pub struct AccessSigner {
    key: SigningKey,
    kid: String,
}

impl AccessSigner {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let kid = tgw_proto::grant::key_id(&key.verifying_key());
        AccessSigner { key, kid }
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            typ: "at+jwt".into(),
            kid: self.kid.clone(),
        };
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).expect("headers serialise")),
            B64.encode(serde_json::to_vec(claims).expect("claims serialise"))
        );
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(signature.to_bytes()))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
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
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the access token is not a JWS".into());
        };
        let decoded = |part: &str| {
            B64.decode(part)
                .map_err(|_| "the access token is not base64url".to_owned())
        };
        let header: Header = serde_json::from_slice(&decoded(header)?)
            .map_err(|_| "the access token's header is not ours".to_owned())?;
        if header.alg != "EdDSA" || header.typ != "at+jwt" || header.kid != self.kid {
            return Err("the access token's header is not ours".into());
        }
        let signature = Signature::from_slice(&decoded(signature)?)
            .map_err(|_| "the access token's signature is malformed".to_owned())?;
        let input = &token[..token.rfind('.').unwrap_or_default()];
        self.key
            .verifying_key()
            .verify_strict(input.as_bytes(), &signature)
            .map_err(|_| "the access token's signature does not verify".to_owned())?;
        let claims: AccessClaims = serde_json::from_slice(&decoded(payload)?)
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
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64.encode(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
        parts[0] = &forged;
        assert!(signer.verify(&parts.join("."), iss, aud, 800).is_err());
        assert!(signer.verify(&format!("{token}.x"), iss, aud, 800).is_err());
        assert!(signer.verify("", iss, aud, 800).is_err());
    }
}
