//! The grant verifier component: `tgw_proto::grant` behind the `tgw:grant`
//! WIT, so an executor verifies grants inside the sandbox with exactly the
//! code the host uses.

wit_bindgen::generate!({
    path: "../../wit",
    world: "tgw:grant/grant-verifier@0.1.0",
    generate_all,
});

use exports::tgw::grant::verifier::Guest;
use tgw::grant::types::{Approval, Claims, Passkey, RelyingParty, TrustedKey, VerifyError};
use tgw_proto::grant::{self as proto, Expectations, UnverifiedGrant};

struct Verifier;

impl Guest for Verifier {
    fn verify(
        token: String,
        expected_input_hash: String,
        audience: String,
        now: i64,
        trusted_keys: Vec<TrustedKey>,
    ) -> Result<Claims, VerifyError> {
        let mut trusted = Vec::with_capacity(trusted_keys.len());
        for key in trusted_keys {
            let parsed = proto::TrustedKey::from_bytes(&key.public_key)
                .map_err(|e| VerifyError::Malformed(format!("trusted key {}: {e}", key.kid)))?;
            // A key is known by the id derived from it, never by a label.
            if parsed.kid != key.kid {
                return Err(VerifyError::Malformed(format!(
                    "trusted key {}: its id is {}",
                    key.kid, parsed.kid
                )));
            }
            trusted.push(parsed);
        }
        let expect = Expectations {
            trusted: &trusted,
            audience: &audience,
            now,
            input_hash: &expected_input_hash,
        };
        let verified = UnverifiedGrant::from_token(token)
            .verify(&expect)
            .map_err(to_wit)?;
        Ok(from_claims(verified.claims().clone()))
    }

    fn verify_approval(
        approval: Approval,
        input_hash: String,
        component: String,
        passkey: Passkey,
        rp: RelyingParty,
    ) -> Result<(), String> {
        tgw_proto::webauthn::verify_approval_claim(
            &to_proto(approval),
            &input_hash,
            &component,
            &tgw_proto::webauthn::StoredCredential {
                id: passkey.credential_id,
                public_key: passkey.public_key,
                sign_count: 0,
                backup_eligible: passkey.backup_eligible,
            },
            &tgw_proto::webauthn::RelyingParty {
                id: rp.id,
                origin: rp.origin,
            },
        )
        .map_err(|e| e.to_string())
    }
}

fn to_proto(a: Approval) -> proto::Approval {
    proto::Approval {
        id: a.id,
        approver: a.approver,
        credential_id: a.credential_id,
        nonce: a.nonce,
        authenticator_data: a.authenticator_data,
        client_data_json: a.client_data_json,
        signature: a.signature,
    }
}

fn to_wit(error: proto::VerifyError) -> VerifyError {
    use proto::VerifyError as E;
    match error {
        E::Malformed(m) => VerifyError::Malformed(m),
        E::WrongType(t) => VerifyError::WrongType(t),
        E::WrongAlgorithm(a) => VerifyError::WrongAlgorithm(a),
        E::ForbiddenHeader(h) => VerifyError::ForbiddenHeader(h),
        E::UnknownKey(k) => VerifyError::UnknownKey(k),
        E::BadSignature => VerifyError::BadSignature,
        E::BadClaim(c) => VerifyError::BadClaim(c),
        E::Expired => VerifyError::Expired,
        E::NotYetValid => VerifyError::NotYetValid,
        E::LifetimeTooLong => VerifyError::LifetimeTooLong,
        E::WrongAudience(a) => VerifyError::WrongAudience(a),
        E::HashMismatch => VerifyError::HashMismatch,
    }
}

fn from_claims(c: proto::Claims) -> Claims {
    Claims {
        iss: c.iss,
        aud: c.aud,
        sub: c.sub,
        jti: c.jti,
        iat: c.iat,
        nbf: c.nbf,
        exp: c.exp,
        skill: c.skill,
        tool: c.tool,
        component: c.component,
        input_hash: c.input_hash,
        policy: c.policy,
        approval: c.approval.map(|a| Approval {
            id: a.id,
            approver: a.approver,
            credential_id: a.credential_id,
            nonce: a.nonce,
            authenticator_data: a.authenticator_data,
            client_data_json: a.client_data_json,
            signature: a.signature,
        }),
    }
}

export!(Verifier);
