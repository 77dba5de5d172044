//! The executor's own floor for destructive tools: whatever else a grant
//! says, a destructive tool runs only when the grant carries a passkey
//! assertion that verifies against an enrolled, active approver's
//! credential, over a challenge that binds this grant's input hash and
//! component digest.

use tgw_proto::grant::Claims;
use tgw_proto::refusal::{Refusal, RefusalCode};
use tgw_proto::webauthn::{RelyingParty, verify_approval_claim};

use crate::people::People;
use crate::runtime::{LoadedVerifier, Runtime};

pub struct ApprovalFloor {
    pub relying_party: RelyingParty,
    pub people: People,
}

impl ApprovalFloor {
    pub async fn check(
        &self,
        claims: &Claims,
        runtime: &Runtime,
        verifier: &LoadedVerifier,
    ) -> Result<(), Refusal> {
        let refuse = |why: &str| Err(no_human(why));
        let unreachable = |e: crate::people::PeopleError| {
            Refusal::new(
                RefusalCode::StateUnavailable,
                format!("the people store is unreachable, so nothing runs: {e}"),
            )
        };
        let Some(approval) = &claims.approval else {
            return refuse("the grant carries none");
        };
        let credential = match self.people.credential(&approval.credential_id).await {
            Ok(Some((credential, _))) => credential,
            Ok(None) => return refuse("its passkey is not enrolled"),
            Err(e) => return Err(unreachable(e)),
        };
        if credential.user != approval.approver {
            return refuse("its passkey is not the approver's");
        }
        if credential.suspended.is_some() {
            return refuse("its passkey is suspended (its signature counter went back)");
        }
        match self.people.user(&approval.approver).await {
            Ok(Some(user)) if !user.disabled && user.role.may_approve() => {}
            Ok(_) => return refuse("the approver is not an active admin or approver"),
            Err(e) => return Err(unreachable(e)),
        }
        let stored = credential.stored().map_err(|e| no_human(&e.to_string()))?;
        // The cryptographic check runs twice, in the verifier component's
        // sandbox and on the host, and both must pass.
        runtime
            .verify_approval(
                verifier,
                approval,
                &claims.input_hash,
                &claims.component,
                &stored,
                &self.relying_party,
            )
            .await
            .map_err(|e| no_human(&e.clone()))?;
        verify_approval_claim(
            approval,
            &claims.input_hash,
            &claims.component,
            &stored,
            &self.relying_party,
        )
        .map_err(|e| no_human(&e.to_string()))
    }
}

fn no_human(why: &str) -> Refusal {
    Refusal::new(
        RefusalCode::NoHumanApproval,
        format!("a destructive tool needs a human's passkey approval: {why}"),
    )
}
