//! The executor's own floor for destructive tools: whatever else a grant
//! says, a destructive tool runs only when the grant carries a passkey
//! assertion that verifies against an enrolled, active approver's
//! credential, over a challenge that binds this grant's input hash and
//! component digest.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tgw_proto::grant::Claims;
use tgw_proto::webauthn::{Assertion, RelyingParty, approval_challenge, verify_assertion};

use crate::people::People;

pub struct ApprovalFloor {
    pub relying_party: RelyingParty,
    pub people: People,
}

impl ApprovalFloor {
    pub async fn check(&self, claims: &Claims) -> Result<(), String> {
        let refuse = |why: &str| {
            Err(format!(
                "a destructive tool needs a human's passkey approval: {why}"
            ))
        };
        let Some(approval) = &claims.approval else {
            return refuse("the grant carries none");
        };
        let credential = match self.people.credential(&approval.credential_id).await {
            Ok(Some((credential, _))) => credential,
            Ok(None) => return refuse("its passkey is not enrolled"),
            Err(e) => {
                return Err(format!(
                    "the people store is unreachable, so nothing runs: {e}"
                ));
            }
        };
        if credential.user != approval.approver {
            return refuse("its passkey is not the approver's");
        }
        match self.people.user(&approval.approver).await {
            Ok(Some(user)) if !user.disabled && user.role.may_approve() => {}
            Ok(_) => return refuse("the approver is not an active admin or approver"),
            Err(e) => {
                return Err(format!(
                    "the people store is unreachable, so nothing runs: {e}"
                ));
            }
        }
        let decode = |v: &str| {
            B64.decode(v)
                .map_err(|_| "a malformed assertion".to_owned())
        };
        let assertion = Assertion {
            credential_id: decode(&approval.credential_id)?,
            authenticator_data: decode(&approval.authenticator_data)?,
            client_data_json: decode(&approval.client_data_json)?,
            signature: decode(&approval.signature)?,
        };
        let challenge = approval_challenge(
            &approval.id,
            &claims.input_hash,
            &claims.component,
            &decode(&approval.nonce)?,
        );
        let mut stored = credential.stored().map_err(|e| e.to_string())?;
        // The gateway keeps the signature counter; here the assertion is
        // checked for what it proves, not for freshness (the grant's nonce
        // already makes it single use).
        stored.sign_count = 0;
        verify_assertion(&self.relying_party, &challenge, &assertion, &stored, true)
            .map(|_| ())
            .map_err(|e| format!("a destructive tool needs a human's passkey approval: {e}"))
    }
}
