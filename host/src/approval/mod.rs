//! Approvals: a call that policy says needs a human waits here until an
//! approver approves or denies it with a passkey, it expires (240 s by
//! default, [`DEFAULT_EXPIRY`]; `tgw up --approval-expiry-secs`), or its
//! proposer withdraws it.
//!
//! The whole workflow lives in this module, one file per concern:
//!
//! - `record.rs`: the record and its states;
//! - `store.rs`: records on the `TGW_APPROVALS` bucket, decided exactly
//!   once (compare-and-set), and the calls waiting in this process;
//! - `wait.rs`: a call's wait: open, expiry, the look at the store for a
//!   decision made by another gateway process (a record that fails its
//!   seal ends the call), withdrawal when the caller goes away, and the
//!   check of the decision's passkey evidence before any grant;
//! - `passkey.rs`: who may decide, the passkey ceremony that approves, and
//!   the check of an approval's evidence against the record as opened;
//! - `events.rs`: what every dashboard of this gateway hears.

mod events;
mod passkey;
mod record;
mod store;
mod wait;

use std::sync::Arc;
use std::time::Duration;

pub use events::{ApprovalEvent, ApprovalEvents};
pub use passkey::ApprovalChallenge;
pub use record::{ApprovalError, ApprovalRecord, ApprovalState, PasskeyEvidence};
pub use store::Approvals;
use tgw_proto::webauthn::RelyingParty;

use crate::audit::Audit;
use crate::people::People;
use crate::registry::LiveSkills;

/// How long a call waits for a human: under Claude's 300-second cap on a
/// tool call, so the agent hears "nobody approved" rather than a timeout.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(240);

/// How approvals are decided.
#[derive(Debug, Clone)]
pub struct ApprovalConfig {
    /// How long a call waits for a human.
    pub expiry: Duration,
    /// Who passkeys are for: the RP ID and the dashboard's origin.
    pub relying_party: RelyingParty,
    /// Forbid approving one's own proposals.
    pub four_eyes: bool,
}

/// The approval workflow of one gateway.
pub struct ApprovalWorkflow {
    config: ApprovalConfig,
    approvals: Approvals,
    audit: Audit,
    people: People,
    /// The skills in force: an approval is for the build it was proposed
    /// with.
    skills: Arc<LiveSkills>,
    events: ApprovalEvents,
    ceremonies: passkey::Ceremonies,
}

impl ApprovalWorkflow {
    pub fn new(
        config: ApprovalConfig,
        approvals: Approvals,
        audit: Audit,
        people: People,
        skills: Arc<LiveSkills>,
    ) -> Self {
        ApprovalWorkflow {
            config,
            approvals,
            audit,
            people,
            skills,
            events: ApprovalEvents::default(),
            ceremonies: passkey::Ceremonies::default(),
        }
    }

    /// Every approval still waiting for a decision, oldest first.
    pub async fn pending(&self) -> Result<Vec<ApprovalRecord>, crate::backend::StoreError> {
        self.approvals.pending().await
    }

    pub async fn get(
        &self,
        id: &str,
    ) -> Result<Option<ApprovalRecord>, crate::backend::StoreError> {
        self.approvals.get(id).await
    }

    /// Approval events, as they happen.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ApprovalEvent> {
        self.events.subscribe()
    }

    pub fn relying_party(&self) -> &RelyingParty {
        &self.config.relying_party
    }

    /// Withdraws a pending approval whose call nobody here waits for any
    /// more (a task cancelled while its runner is elsewhere): the card
    /// leaves the dashboards, and the audit log says so.
    pub async fn withdraw(&self, id: &str) -> Result<ApprovalRecord, ApprovalError> {
        let record = self.approvals.withdraw(id).await?;
        self.audit
            .record(
                crate::audit::AuditKind::ApprovalDecided,
                &record.call,
                serde_json::json!({"approval": id, "state": record.state}),
            )
            .await;
        self.events.decided(&record);
        Ok(record)
    }
}
