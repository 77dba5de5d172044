//! Task records on the bus store, changed by compare-and-set: any gateway
//! of the deployment reads, answers and cancels any task, and a task that
//! ended stays as it ended. A runner in this process is woken at once
//! when a request here changes its task; one in another process sees the
//! change at its next look.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::record::TaskRecord;
use crate::audit::now_millis;
use crate::backend::{Bucket, StoreError};
use crate::ids::TaskId;

#[derive(Clone)]
pub struct TaskStore {
    bucket: Arc<dyn Bucket>,
    /// The runners of this process, by task.
    wakers: Arc<Mutex<HashMap<TaskId, Arc<Notify>>>>,
}

/// Our own record is plain data: serde_json cannot fail on it.
fn encode(record: &TaskRecord) -> Vec<u8> {
    serde_json::to_vec(record).unwrap_or_default()
}

impl TaskStore {
    pub fn new(bucket: Arc<dyn Bucket>) -> Self {
        TaskStore {
            bucket,
            wakers: Arc::default(),
        }
    }

    pub async fn create(&self, record: &TaskRecord) -> Result<(), StoreError> {
        self.bucket.create(&record.id, &encode(record)).await
    }

    /// The task `id`, while it may be read (its ttl from its creation).
    /// A record that fails its seal reads as absent (the sealed bucket
    /// audits it).
    pub async fn get(&self, id: &TaskId) -> Result<Option<(TaskRecord, u64)>, StoreError> {
        let Some(entry) = self.bucket.get(id).await? else {
            return Ok(None);
        };
        let record: TaskRecord = serde_json::from_slice(&entry.value)
            .map_err(|e| StoreError::Unavailable(format!("task {id} is unreadable: {e}")))?;
        let ttl = i64::try_from(record.ttl_ms).unwrap_or(i64::MAX);
        if record.id != *id || now_millis() > record.created.saturating_add(ttl) {
            return Ok(None);
        }
        Ok(Some((record, entry.revision)))
    }

    /// Applies `change` to the task until it is written without a
    /// conflict; `change` says whether it changed anything. Returns the
    /// record as it is now (none: no such task).
    pub async fn change(
        &self,
        id: &TaskId,
        mut change: impl FnMut(&mut TaskRecord) -> bool,
    ) -> Result<Option<TaskRecord>, StoreError> {
        loop {
            let Some((mut record, revision)) = self.get(id).await? else {
                return Ok(None);
            };
            if !change(&mut record) {
                return Ok(Some(record));
            }
            record.updated = now_millis();
            match self.bucket.update(id, &encode(&record), revision).await {
                Ok(()) => {
                    self.wake(id);
                    return Ok(Some(record));
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// What wakes the runner of `id` in this process; the runner forgets
    /// it (`forget`) when it ends.
    pub fn waker(&self, id: &TaskId) -> Arc<Notify> {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .clone()
    }

    /// Whether a runner of this process has the task.
    pub fn runs_here(&self, id: &TaskId) -> bool {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
    }

    pub fn forget(&self, id: &TaskId) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn wake(&self, id: &TaskId) {
        let waker = self
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        if let Some(waker) = waker {
            waker.notify_one();
        }
    }
}
