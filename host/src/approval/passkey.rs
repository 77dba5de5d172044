//! Who may decide an approval, and approving with a passkey. The
//! challenge binds what the approver was shown: `sha256(approval id ‖ 0 ‖
//! input hash ‖ 0 ‖ component digest ‖ 0 ‖ nonce)` (see
//! `tgw_proto::webauthn::approval_challenge`). Each challenge is single use
//! and lives 5 minutes.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tgw_proto::webauthn::{Assertion, approval_challenge, verify_assertion};

use super::{ApprovalError, ApprovalRecord, ApprovalWorkflow, PasskeyEvidence};
use crate::expiring::{ExpiringMap, WhenFull};
use crate::people::User;

const CEREMONY_LIFETIME: Duration = Duration::from_secs(300);

/// What the dashboard passes to `navigator.credentials.get`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovalChallenge {
    /// base64url
    pub challenge: String,
    /// base64url; sent back with the assertion.
    pub nonce: String,
    pub rp_id: String,
    /// The approver's credential ids (base64url).
    pub allow_credentials: Vec<String>,
}

#[derive(Clone)]
struct Ceremony {
    approval: String,
    approver: String,
    challenge: [u8; 32],
}

/// The most approval challenges waiting at once; past it the oldest goes.
const MAX_CEREMONIES: usize = 10_000;

/// Issued challenges, by nonce; taking one removes it.
pub(super) struct Ceremonies(ExpiringMap<Ceremony>);

impl Default for Ceremonies {
    fn default() -> Self {
        Ceremonies(ExpiringMap::new(
            CEREMONY_LIFETIME,
            MAX_CEREMONIES,
            WhenFull::EvictOldest,
        ))
    }
}

impl Ceremonies {
    fn put(&self, nonce: String, ceremony: Ceremony) {
        // An evicting map always has room.
        let _ = self.0.insert(nonce, ceremony);
    }

    fn take(&self, nonce: &str) -> Option<Ceremony> {
        self.0.take(nonce)
    }
}

fn not_allowed(message: String) -> ApprovalError {
    ApprovalError::NotAllowed(message)
}

impl ApprovalWorkflow {
    /// `approver` must be an active admin or approver, and with four eyes
    /// on, not the proposer.
    async fn check_approver(
        &self,
        approver: &str,
        record: Option<&ApprovalRecord>,
    ) -> Result<User, ApprovalError> {
        let user = self
            .people
            .user(approver)
            .await?
            .ok_or_else(|| not_allowed(format!("no user {approver}")))?;
        if user.disabled {
            return Err(not_allowed(format!("{approver} is disabled")));
        }
        if !user.role.may_approve() {
            return Err(not_allowed(format!(
                "{approver} may not approve (role {:?})",
                user.role
            )));
        }
        if let Some(record) = record
            && self.config.four_eyes
            && record.principal == approver
        {
            return Err(not_allowed(format!(
                "{approver} proposed this call and may not approve it (four eyes)"
            )));
        }
        Ok(user)
    }

    /// An approval is for the build of the skill it was proposed with: once
    /// the skill changed, the call must be proposed again.
    fn check_still_current(&self, record: &ApprovalRecord) -> Result<(), ApprovalError> {
        let current = self
            .skills
            .current()
            .get(&record.skill)
            .map(|s| s.component.digest.clone());
        if current.as_deref() == Some(record.component.as_str()) {
            return Ok(());
        }
        Err(not_allowed(format!(
            "skill {} changed since this call was proposed (it was {}, it is now {}): it can no \
             longer be approved; the agent must propose it again",
            record.skill,
            record.component,
            current.as_deref().unwrap_or("gone")
        )))
    }

    /// Starts a passkey approval of `id` by `approver`.
    pub async fn challenge(
        &self,
        id: &str,
        approver: &str,
    ) -> Result<ApprovalChallenge, ApprovalError> {
        let (record, _) = self.approvals.pending_record(id).await?;
        self.check_approver(approver, Some(&record)).await?;
        self.check_still_current(&record)?;
        let credentials = self.people.credentials_of(approver).await?;
        if credentials.is_empty() {
            return Err(not_allowed(format!("{approver} has no passkey")));
        }
        let mut nonce = [0u8; 16];
        crate::ids::fill_random(&mut nonce);
        let challenge = approval_challenge(id, &record.input_hash, &record.component, &nonce);
        let nonce = B64.encode(nonce);
        self.ceremonies.put(
            nonce.clone(),
            Ceremony {
                approval: id.into(),
                approver: approver.into(),
                challenge,
            },
        );
        Ok(ApprovalChallenge {
            challenge: B64.encode(challenge),
            nonce,
            rp_id: self.config.relying_party.id.clone(),
            allow_credentials: credentials.into_iter().map(|c| c.id).collect(),
        })
    }

    /// Finishes a passkey approval: the challenge issued with `nonce` (once),
    /// the approver's own enrolled credential, user verification, a rising
    /// counter. Then the call goes on, carrying the assertion in its grant.
    pub async fn approve_with_passkey(
        &self,
        id: &str,
        approver: &str,
        nonce: &str,
        assertion: &Assertion,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let ceremony = self
            .ceremonies
            .take(nonce)
            .ok_or_else(|| not_allowed("the challenge is unknown, used or expired".into()))?;
        if ceremony.approval != id || ceremony.approver != approver {
            return Err(not_allowed(
                "the challenge was issued for another approval".into(),
            ));
        }
        let record = self
            .approvals
            .get(id)
            .await?
            .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
        self.check_approver(approver, Some(&record)).await?;
        self.check_still_current(&record)?;
        let credential_id = B64.encode(&assertion.credential_id);
        let (credential, revision) = self
            .people
            .credential(&credential_id)
            .await?
            .ok_or_else(|| not_allowed("the passkey is not enrolled".into()))?;
        if credential.user != approver {
            return Err(not_allowed(format!(
                "the passkey belongs to {}, not {approver}",
                credential.user
            )));
        }
        if let Some(why) = &credential.suspended {
            return Err(ApprovalError::Suspended(why.clone()));
        }
        let verified = match verify_assertion(
            &self.config.relying_party,
            &ceremony.challenge,
            assertion,
            &credential.stored()?,
            true,
        ) {
            Ok(verified) => verified,
            Err(e) => {
                self.people
                    .suspend_if_cloned(&credential, &e, &self.audit)
                    .await;
                return Err(e.into());
            }
        };
        self.people
            .record_use(credential, revision, verified.sign_count)
            .await?;
        let evidence = PasskeyEvidence {
            credential_id,
            nonce: nonce.to_owned(),
            authenticator_data: B64.encode(&assertion.authenticator_data),
            client_data_json: B64.encode(&assertion.client_data_json),
            signature: B64.encode(&assertion.signature),
        };
        let record = self.approvals.approve(id, approver, evidence).await?;
        self.events.decided(&record);
        Ok(record)
    }

    /// Checks, before a grant is signed, the passkey evidence of an
    /// approval: whatever store the decision was read from, it must be an
    /// assertion by `approver`'s own enrolled credential, `approver` an
    /// active admin or approver (not the proposer, with four eyes on), over
    /// the challenge that binds `record` (as this gateway opened it: its
    /// id, input hash and component).
    pub(super) async fn check_evidence(
        &self,
        record: &ApprovalRecord,
        approver: &str,
        evidence: &PasskeyEvidence,
    ) -> Result<tgw_proto::grant::Approval, ApprovalError> {
        self.check_approver(approver, Some(record)).await?;
        let (credential, _) = self
            .people
            .credential(&evidence.credential_id)
            .await?
            .ok_or_else(|| not_allowed("the approval's passkey is not enrolled".into()))?;
        if credential.user != approver {
            return Err(not_allowed(format!(
                "the approval's passkey belongs to {}, not {approver}",
                credential.user
            )));
        }
        if let Some(why) = &credential.suspended {
            return Err(ApprovalError::Suspended(why.clone()));
        }
        let approval = tgw_proto::grant::Approval {
            id: record.id.to_string(),
            approver: approver.to_owned(),
            credential_id: evidence.credential_id.clone(),
            nonce: evidence.nonce.clone(),
            authenticator_data: evidence.authenticator_data.clone(),
            client_data_json: evidence.client_data_json.clone(),
            signature: evidence.signature.clone(),
        };
        tgw_proto::webauthn::verify_approval_claim(
            &approval,
            &record.input_hash,
            &record.component,
            &credential.stored()?,
            &self.config.relying_party,
        )?;
        Ok(approval)
    }

    /// Denies a pending call; `approver` must be an active admin or
    /// approver.
    pub async fn deny(
        &self,
        id: &str,
        approver: &str,
        reason: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.check_approver(approver, None).await?;
        let record = self.approvals.deny(id, approver, reason).await?;
        self.events.decided(&record);
        Ok(record)
    }
}
