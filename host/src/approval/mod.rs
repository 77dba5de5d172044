//! Approvals: a call that policy says needs a human waits here until an
//! approver approves or denies it, it expires (240 s by default,
//! [`DEFAULT_EXPIRY`]; `tgw up --approval-expiry-secs`), or its proposer
//! withdraws it. Decisions are compare-and-set, so a call is decided
//! exactly once. The dashboard reaches [`Approvals::approve`] through
//! `Gateway::approve_with_passkey` and [`Approvals::deny`] through
//! `Gateway::deny`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::bus::{ApprovalStore, StoreError};

/// How long a call waits for a human: under Claude's 300-second cap on a
/// tool call, so the agent hears "nobody approved" rather than a timeout.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(240);

/// What an approver sees and decides on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRecord {
    pub id: String,
    pub call: String,
    pub skill: String,
    pub tool: String,
    pub risk: crate::runtime::Risk,
    pub component: String,
    pub principal: String,
    /// The canonical arguments, in full.
    pub args: String,
    pub input_hash: String,
    pub policy: String,
    pub rule: Option<String>,
    pub reason: String,
    /// Unix milliseconds.
    pub created: i64,
    pub expires: i64,
    pub state: ApprovalState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ApprovalState {
    Pending,
    Approved {
        by: String,
        at: i64,
        evidence: PasskeyEvidence,
    },
    Denied {
        by: String,
        at: i64,
        reason: String,
    },
    Expired {
        at: i64,
    },
    Withdrawn {
        at: i64,
    },
}

/// The passkey assertion an approval was made with (base64url values),
/// carried into the grant so an executor can check it itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyEvidence {
    pub credential_id: String,
    pub nonce: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("{0}")]
    NotAllowed(String),
    #[error("the passkey check failed: {0}")]
    Passkey(#[from] tgw_proto::webauthn::WebAuthnError),
    #[error(transparent)]
    People(#[from] crate::people::PeopleError),
    #[error("no approval {0}")]
    NotFound(String),
    #[error("approval {id} is already {state}")]
    AlreadyDecided { id: String, state: &'static str },
    #[error("approval {0} has expired")]
    Expired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalState {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Denied { .. } => "denied",
            ApprovalState::Expired { .. } => "expired",
            ApprovalState::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// The approvals of one gateway: the store, and who is waiting.
#[derive(Clone)]
pub struct Approvals {
    store: Arc<dyn ApprovalStore>,
    waiters: Arc<Mutex<HashMap<String, watch::Sender<ApprovalState>>>>,
}

impl Approvals {
    pub fn new(store: Arc<dyn ApprovalStore>) -> Self {
        Approvals {
            store,
            waiters: Arc::default(),
        }
    }

    /// Records a pending approval and returns a receiver that sees its
    /// decision.
    pub async fn open(
        &self,
        record: &ApprovalRecord,
    ) -> Result<watch::Receiver<ApprovalState>, StoreError> {
        let (sender, receiver) = watch::channel(ApprovalState::Pending);
        self.waiters
            .lock()
            .unwrap()
            .insert(record.id.clone(), sender);
        if let Err(e) = self.store.create(record).await {
            self.waiters.lock().unwrap().remove(&record.id);
            return Err(e);
        }
        Ok(receiver)
    }

    pub async fn get(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(self.store.get(id).await?.map(|(record, _)| record))
    }

    pub async fn pending(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let now = crate::audit::now_millis();
        Ok(self
            .store
            .list()
            .await?
            .into_iter()
            .filter(|r| r.state == ApprovalState::Pending && r.expires > now)
            .collect())
    }

    /// Approves with the evidence of a passkey assertion the caller has
    /// verified (see `Gateway::approve_with_passkey`).
    pub async fn approve(
        &self,
        id: &str,
        approver: &str,
        evidence: PasskeyEvidence,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let at = crate::audit::now_millis();
        self.decide(
            id,
            ApprovalState::Approved {
                by: approver.into(),
                at,
                evidence,
            },
        )
        .await
    }

    pub async fn deny(
        &self,
        id: &str,
        approver: &str,
        reason: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let at = crate::audit::now_millis();
        self.decide(
            id,
            ApprovalState::Denied {
                by: approver.into(),
                at,
                reason: reason.into(),
            },
        )
        .await
    }

    /// The proposer no longer wants the call (a client cancelled).
    pub async fn withdraw(&self, id: &str) -> Result<ApprovalRecord, ApprovalError> {
        self.decide(
            id,
            ApprovalState::Withdrawn {
                at: crate::audit::now_millis(),
            },
        )
        .await
    }

    /// Marks a pending approval whose time is up as expired.
    pub async fn expire(&self, id: &str) -> Result<ApprovalRecord, ApprovalError> {
        self.decide(
            id,
            ApprovalState::Expired {
                at: crate::audit::now_millis(),
            },
        )
        .await
    }

    /// The approval `id` and its revision, if it is still pending.
    pub async fn pending_record(&self, id: &str) -> Result<(ApprovalRecord, u64), ApprovalError> {
        let (record, revision) = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
        if record.state != ApprovalState::Pending {
            return Err(ApprovalError::AlreadyDecided {
                id: id.to_owned(),
                state: record.state.name(),
            });
        }
        Ok((record, revision))
    }

    /// Moves a pending approval to `state`, once.
    async fn decide(
        &self,
        id: &str,
        state: ApprovalState,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let (mut record, revision) = self.pending_record(id).await?;
        let now = crate::audit::now_millis();
        if record.expires <= now && !matches!(state, ApprovalState::Expired { .. }) {
            return Err(ApprovalError::Expired(id.to_owned()));
        }
        record.state = state;
        match self.store.update(&record, revision).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                let current = self
                    .store
                    .get(id)
                    .await?
                    .map(|(r, _)| r.state.name())
                    .unwrap_or("gone");
                return Err(ApprovalError::AlreadyDecided {
                    id: id.to_owned(),
                    state: current,
                });
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(waiter) = self.waiters.lock().unwrap().remove(id) {
            let _ = waiter.send(record.state.clone());
        }
        Ok(record)
    }

    /// Forgets the waiter of an approval (the waiting call is gone).
    pub fn forget(&self, id: &str) {
        self.waiters.lock().unwrap().remove(id);
    }
}
