//! Approval records on a byte-level bucket (`TGW_APPROVALS`), and who in
//! this process waits for each. Decisions are compare-and-set on the
//! record's revision, so a call is decided exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::record::{ApprovalError, ApprovalRecord, ApprovalState, PasskeyEvidence};
use crate::audit::now_millis;
use crate::backend::{Bucket, StoreError};
use crate::ids::ApprovalId;

/// Approval records as JSON in a bucket, by approval id.
#[derive(Clone)]
struct Records {
    bucket: Arc<dyn Bucket>,
}

/// Our own record is plain data: serde_json cannot fail on it.
fn encode(record: &ApprovalRecord) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

impl Records {
    async fn create(&self, record: &ApprovalRecord) -> Result<(), StoreError> {
        self.bucket.create(&record.id, &encode(record)).await
    }

    async fn get(&self, id: &str) -> Result<Option<(ApprovalRecord, u64)>, StoreError> {
        let Some(entry) = self.bucket.get(id).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&entry.value)
            .map_err(|e| StoreError::Unavailable(format!("approval {id} is unreadable: {e}")))?;
        Ok(Some((record, entry.revision)))
    }

    async fn update(&self, record: &ApprovalRecord, revision: u64) -> Result<(), StoreError> {
        self.bucket
            .update(&record.id, &encode(record), revision)
            .await
    }

    async fn list(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut records = Vec::new();
        for key in self.bucket.keys("").await? {
            if let Some((record, _)) = self.get(&key).await? {
                records.push(record);
            }
        }
        records.sort_by_key(|r| r.created);
        Ok(records)
    }
}

/// The approvals of one gateway: the records, and who is waiting.
#[derive(Clone)]
pub struct Approvals {
    records: Records,
    waiters: Arc<Mutex<HashMap<ApprovalId, watch::Sender<ApprovalState>>>>,
}

impl Approvals {
    pub fn new(bucket: Arc<dyn Bucket>) -> Self {
        Approvals {
            records: Records { bucket },
            waiters: Arc::default(),
        }
    }

    fn waiters(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ApprovalId, watch::Sender<ApprovalState>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a pending approval and returns a receiver that sees its
    /// decision.
    pub async fn open(
        &self,
        record: &ApprovalRecord,
    ) -> Result<watch::Receiver<ApprovalState>, StoreError> {
        let (sender, receiver) = watch::channel(ApprovalState::Pending);
        self.waiters().insert(record.id.clone(), sender);
        if let Err(e) = self.records.create(record).await {
            self.waiters().remove(&record.id);
            return Err(e);
        }
        Ok(receiver)
    }

    pub async fn get(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(self.records.get(id).await?.map(|(record, _)| record))
    }

    /// Every approval still waiting for a decision, oldest first.
    pub async fn pending(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let now = now_millis();
        Ok(self
            .records
            .list()
            .await?
            .into_iter()
            .filter(|r| r.state == ApprovalState::Pending && r.expires > now)
            .collect())
    }

    /// Approves with the evidence of a passkey assertion the caller has
    /// verified (see `ApprovalWorkflow::approve_with_passkey`).
    pub async fn approve(
        &self,
        id: &str,
        approver: &str,
        evidence: PasskeyEvidence,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.decide(
            id,
            ApprovalState::Approved {
                by: approver.into(),
                at: now_millis(),
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
        self.decide(
            id,
            ApprovalState::Denied {
                by: approver.into(),
                at: now_millis(),
                reason: reason.into(),
            },
        )
        .await
    }

    /// The proposer no longer wants the call (a client cancelled).
    pub async fn withdraw(&self, id: &str) -> Result<ApprovalRecord, ApprovalError> {
        self.decide(id, ApprovalState::Withdrawn { at: now_millis() })
            .await
    }

    /// Marks a pending approval whose time is up as expired.
    pub async fn expire(&self, id: &str) -> Result<ApprovalRecord, ApprovalError> {
        self.decide(id, ApprovalState::Expired { at: now_millis() })
            .await
    }

    /// The approval `id` and its revision, if it is still pending.
    pub async fn pending_record(&self, id: &str) -> Result<(ApprovalRecord, u64), ApprovalError> {
        let (record, revision) = self
            .records
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
        if record.expires <= now_millis() && !matches!(state, ApprovalState::Expired { .. }) {
            return Err(ApprovalError::Expired(id.to_owned()));
        }
        record.state = state;
        match self.records.update(&record, revision).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                let current = self
                    .records
                    .get(id)
                    .await?
                    .map_or("gone", |(r, _)| r.state.name());
                return Err(ApprovalError::AlreadyDecided {
                    id: id.to_owned(),
                    state: current,
                });
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(waiter) = self.waiters().remove(id) {
            let _ = waiter.send(record.state.clone());
        }
        Ok(record)
    }

    /// Forgets the waiter of an approval (the waiting call is gone).
    pub fn forget(&self, id: &str) {
        self.waiters().remove(id);
    }
}
