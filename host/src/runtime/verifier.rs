//! Running the grant-verifier component (`tgw:grant`).

use std::time::Duration;

use tgw_proto::grant::{Approval, Claims, Expectations, UnverifiedGrant, VerifyError};

use super::bindings::grant::GrantVerifier;
use super::bindings::grant::tgw::grant::types as wit;
use super::{CallError, Limits, LoadError, Loaded, Runtime, SandboxSpec};

/// The verifier component, compiled.
pub type LoadedVerifier = Loaded<GrantVerifier>;

/// Why the component did not vouch for a grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantCheckError {
    #[error(transparent)]
    Refused(#[from] VerifyError),
    #[error("the grant verifier did not finish: {0}")]
    Sandbox(String),
}

/// Verification is a few signature checks: these limits are generous for
/// it and tight for anything else.
const VERIFIER_LIMITS: Limits = Limits {
    fuel: 500_000_000,
    memory_bytes: 32 << 20,
    timeout: Duration::from_secs(2),
    log_bytes: 4096,
};

impl Runtime {
    pub fn load_verifier(&self, bytes: &[u8]) -> Result<LoadedVerifier, LoadError> {
        self.load("the grant verifier", bytes)
    }

    /// Verifies `grant` inside the sandbox. The claims it returns are the
    /// component's word; the executor also verifies on the host and
    /// requires both to agree.
    pub async fn verify_grant(
        &self,
        verifier: &LoadedVerifier,
        grant: &UnverifiedGrant,
        expect: &Expectations<'_>,
    ) -> Result<Claims, GrantCheckError> {
        let spec = SandboxSpec {
            limits: VERIFIER_LIMITS,
            ..SandboxSpec::default()
        };
        let keys: Vec<wit::TrustedKey> = expect
            .trusted
            .iter()
            .map(|k| wit::TrustedKey {
                kid: k.kid.clone(),
                public_key: k.key.as_bytes().to_vec(),
            })
            .collect();
        let outcome = self
            .run(verifier, &spec, async |v: &GrantVerifier, store| {
                v.tgw_grant_verifier()
                    .call_verify(
                        store,
                        grant.token(),
                        expect.input_hash,
                        expect.audience,
                        expect.now,
                        &keys,
                    )
                    .await
            })
            .await;
        match outcome.result {
            Err(e) => Err(GrantCheckError::Sandbox(sandbox_reason(e))),
            Ok(Err(e)) => Err(GrantCheckError::Refused(from_wit(e))),
            Ok(Ok(claims)) => Ok(to_claims(claims)),
        }
    }
}

impl Runtime {
    /// Checks an approval claim's passkey assertion inside the sandbox
    /// (see `tgw_proto::webauthn::verify_approval_claim`).
    pub async fn verify_approval(
        &self,
        verifier: &LoadedVerifier,
        approval: &Approval,
        input_hash: &str,
        component: &str,
        passkey: &tgw_proto::webauthn::StoredCredential,
        rp: &tgw_proto::webauthn::RelyingParty,
    ) -> Result<(), String> {
        let spec = SandboxSpec {
            limits: VERIFIER_LIMITS,
            ..SandboxSpec::default()
        };
        let approval = wit::Approval {
            id: approval.id.clone(),
            approver: approval.approver.clone(),
            credential_id: approval.credential_id.clone(),
            nonce: approval.nonce.clone(),
            authenticator_data: approval.authenticator_data.clone(),
            client_data_json: approval.client_data_json.clone(),
            signature: approval.signature.clone(),
        };
        let passkey = wit::Passkey {
            credential_id: passkey.id.clone(),
            public_key: passkey.public_key.clone(),
            backup_eligible: passkey.backup_eligible,
        };
        let rp = wit::RelyingParty {
            id: rp.id.clone(),
            origin: rp.origin.clone(),
        };
        let outcome = self
            .run(verifier, &spec, async |v: &GrantVerifier, store| {
                v.tgw_grant_verifier()
                    .call_verify_approval(store, &approval, input_hash, component, &passkey, &rp)
                    .await
            })
            .await;
        match outcome.result {
            Err(e) => Err(format!("the approval could not be verified: {e}")),
            Ok(result) => result,
        }
    }
}

fn sandbox_reason(error: CallError) -> String {
    error.to_string()
}

fn from_wit(error: wit::VerifyError) -> VerifyError {
    use wit::VerifyError as W;
    match error {
        W::Malformed(m) => VerifyError::Malformed(m),
        W::WrongType(t) => VerifyError::WrongType(t),
        W::WrongAlgorithm(a) => VerifyError::WrongAlgorithm(a),
        W::ForbiddenHeader(h) => VerifyError::ForbiddenHeader(h),
        W::UnknownKey(k) => VerifyError::UnknownKey(k),
        W::BadSignature => VerifyError::BadSignature,
        W::BadClaim(c) => VerifyError::BadClaim(c),
        W::Expired => VerifyError::Expired,
        W::NotYetValid => VerifyError::NotYetValid,
        W::LifetimeTooLong => VerifyError::LifetimeTooLong,
        W::WrongAudience(a) => VerifyError::WrongAudience(a),
        W::HashMismatch => VerifyError::HashMismatch,
    }
}

fn to_claims(c: wit::Claims) -> Claims {
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
