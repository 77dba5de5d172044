//! The bus: how the stages of a call reach each other, and where their
//! state lives. One set of traits, two backends with the same subjects:
//!
//! | | embedded (default, one machine) | NATS (many machines) |
//! | --- | --- | --- |
//! | execution requests | in-process channels | request/reply on `tgw.exec.<pool>`, queue group `executors` |
//! | nonce ledger | SQLite, UNIQUE key | JetStream stream `TGW_NONCES`, one message per subject, new ones discarded |
//! | approvals | SQLite | JetStream KV `TGW_APPROVALS` |
//! | audit chain | SQLite | JetStream stream `TGW_AUDIT` |
//! | people and passkeys | SQLite | JetStream KV `TGW_PEOPLE` |

pub mod embedded;
pub mod nats;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::approval::ApprovalRecord;
use crate::audit::AuditEntry;

/// The subject executors of `pool` listen on.
pub fn exec_subject(pool: &str) -> String {
    format!("tgw.exec.{pool}")
}

/// Pool names travel in subjects and nonce keys.
pub fn is_pool_name(pool: &str) -> bool {
    !pool.is_empty()
        && pool.len() <= 64
        && pool
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What the gateway sends an executor: a grant and the canonical
/// arguments it binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// The call this belongs to, for the audit log.
    pub call: String,
    pub grant: String,
    /// Canonical JSON text of the arguments.
    pub args: String,
}

impl ExecReply {
    pub fn refused(refusal: tgw_proto::refusal::Refusal) -> Self {
        ExecReply::Refused {
            code: refusal.code(),
            reason: refusal.as_reason().to_owned(),
        }
    }
}

/// An executor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ExecReply {
    /// The tool ran and returned this.
    Done { output: String },
    /// The executor refused to run the tool: a stable code and the reason.
    Refused {
        code: tgw_proto::refusal::RefusalCode,
        reason: String,
    },
    /// The tool ran and failed (its own error or a sandbox limit).
    Failed { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("no executor of pool {0:?} is listening")]
    NoExecutor(String),
    #[error("the executor did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
}

/// One execution request taken by an executor, with the way to answer.
pub struct Delivery {
    pub request: ExecRequest,
    pub reply: Box<dyn FnOnce(ExecReply) + Send>,
}

/// Execution requests between the gateway and executors.
#[async_trait]
pub trait ExecTransport: Send + Sync {
    /// Sends to one executor of `pool` and waits for its answer.
    async fn execute(
        &self,
        pool: &str,
        request: &ExecRequest,
        timeout: Duration,
    ) -> Result<ExecReply, BusError>;
    /// Takes requests for `pool`, shared with the pool's other executors.
    async fn serve(&self, pool: &str) -> Result<tokio::sync::mpsc::Receiver<Delivery>, BusError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("this grant was already used")]
    AlreadyUsed,
    #[error("the nonce ledger is unreachable, so nothing runs: {0}")]
    Unavailable(String),
}

/// Single-use grant nonces: insert-if-absent, never removable by a client.
#[async_trait]
pub trait NonceLedger: Send + Sync {
    async fn spend(&self, audience: &str, jti: &str) -> Result<(), LedgerError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("changed by someone else first")]
    Conflict,
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
}

/// Pending and decided approvals; updates are compare-and-set.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    async fn create(&self, record: &ApprovalRecord) -> Result<(), StoreError>;
    /// The record and its revision.
    async fn get(&self, id: &str) -> Result<Option<(ApprovalRecord, u64)>, StoreError>;
    /// Replaces the record if it is still at `revision`.
    async fn update(&self, record: &ApprovalRecord, revision: u64) -> Result<(), StoreError>;
    async fn list(&self) -> Result<Vec<ApprovalRecord>, StoreError>;
}

/// The audit chain's storage: entries by sequence number, appended only
/// right after the entry the writer saw last.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn last(&self) -> Result<Option<AuditEntry>, StoreError>;
    /// Appends `entry` (sequence `last + 1`); `Conflict` if another writer
    /// took that sequence.
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Entries with sequence ≥ `from`, at most `limit`.
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
}

/// A small key-value store with compare-and-set (people, credentials,
/// invitations).
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value and its revision.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError>;
    /// `Conflict` if the key exists.
    async fn create(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// `Conflict` unless the key is still at `revision`.
    async fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<(), StoreError>;
    /// Keys starting with `prefix`, sorted.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// A backend: messages and state.
#[derive(Clone)]
pub struct Bus {
    pub exec: Arc<dyn ExecTransport>,
    pub nonces: Arc<dyn NonceLedger>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub audit: Arc<dyn AuditStore>,
    /// People, their passkeys and invitations.
    pub people: Arc<dyn KvStore>,
}
