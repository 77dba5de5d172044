//! The audit log: every proposal, decision, approval, grant, refusal and
//! execution, as a hash chain. Each entry carries the hash of the one
//! before it, so changing or removing an entry breaks every hash after it;
//! `tgw audit verify` walks the chain.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod kind;
pub use kind::AuditKind;

use crate::backend::{Log, StoreError};
use crate::canonical::{Limits, canonicalize_with};

/// The `prev` of the first entry.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// 1, 2, 3, ... with no gaps.
    pub seq: u64,
    /// Unix milliseconds.
    pub ts: i64,
    pub kind: AuditKind,
    /// The call this entry is about (empty for `oauth.consent`).
    pub call: String,
    pub detail: Value,
    /// `hash` of the entry before.
    pub prev: String,
    /// `sha256:` of the canonical JSON of every field above.
    pub hash: String,
}

/// Canonicalising our own entries: the size cap is the only limit that
/// matters (details quote tool arguments, up to 1 MiB).
const ENTRY_LIMITS: Limits = Limits {
    max_bytes: 4 << 20,
    max_depth: 128,
    max_abs_number: f64::MAX,
};

pub fn entry_hash(
    seq: u64,
    ts: i64,
    kind: AuditKind,
    call: &str,
    detail: &Value,
    prev: &str,
) -> String {
    let body =
        json!({"seq": seq, "ts": ts, "kind": kind, "call": call, "detail": detail, "prev": prev});
    canonicalize_with(body.to_string().as_bytes(), &ENTRY_LIMITS)
        .map_or_else(|e| format!("unhashable: {e}"), |c| c.input_hash)
}

/// Appends to the chain, kept in a byte-level log (`TGW_AUDIT`): each
/// entry is its canonical JSON, numbered as the log numbers it.
#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn Log>,
}

fn unreadable(seq: u64, e: &serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("audit entry {seq} is unreadable: {e}"))
}

impl Audit {
    pub fn new(log: Arc<dyn Log>) -> Self {
        Audit { log }
    }

    /// The last entry of the chain.
    pub async fn last(&self) -> Result<Option<AuditEntry>, StoreError> {
        match self.log.last().await? {
            Some((seq, bytes)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| unreadable(seq, &e)),
            None => Ok(None),
        }
    }

    /// Entries with sequence ≥ `from`, at most `limit`.
    pub async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.log
            .read(from, limit)
            .await?
            .into_iter()
            .map(|(seq, bytes)| serde_json::from_slice(&bytes).map_err(|e| unreadable(seq, &e)))
            .collect()
    }

    /// Appends an entry; retries when another writer appended first.
    pub async fn append(
        &self,
        kind: AuditKind,
        call: &str,
        detail: Value,
    ) -> Result<AuditEntry, StoreError> {
        loop {
            let last = self.last().await?;
            let (seq, prev) = last.map_or((1, GENESIS.to_owned()), |l| (l.seq + 1, l.hash));
            let ts = now_millis();
            let hash = entry_hash(seq, ts, kind, call, &detail, &prev);
            let entry = AuditEntry {
                seq,
                ts,
                kind,
                call: call.into(),
                detail: detail.clone(),
                prev,
                hash,
            };
            // Our own entry is plain data: serde_json cannot fail on it.
            let bytes = serde_json::to_vec(&entry).unwrap_or_default();
            match self.log.append(seq, &bytes).await {
                Ok(()) => return Ok(entry),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends, and logs loudly if the log cannot be written (the caller
    /// has already decided to refuse or has finished; losing the entry is
    /// reported, not hidden).
    pub async fn record(&self, kind: AuditKind, call: &str, detail: Value) {
        if let Err(e) = self.append(kind, call, detail).await {
            tracing::error!(target: "tgw::audit", "AUDIT ENTRY NOT WRITTEN ({kind} for call {call}): {e}");
        }
    }

    /// Checks the whole chain; returns how many entries it holds.
    pub async fn verify(&self) -> Result<u64, ChainError> {
        let mut expected_prev = GENESIS.to_owned();
        let mut next = 1;
        loop {
            let batch = self
                .read(next, 1000)
                .await
                .map_err(|e| ChainError::Unreadable(e.to_string()))?;
            if batch.is_empty() {
                return Ok(next - 1);
            }
            for entry in batch {
                check(&entry, next, &expected_prev)?;
                expected_prev = entry.hash.clone();
                next += 1;
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: expected sequence {expected} (an entry is missing or out of place)")]
    Gap { seq: u64, expected: u64 },
    #[error("entry {0}: it does not follow the entry before it (prev hash differs)")]
    BrokenLink(u64),
    #[error("entry {0}: its contents do not match its hash (it was changed)")]
    Tampered(u64),
    #[error("the audit log cannot be read: {0}")]
    Unreadable(String),
}

fn check(entry: &AuditEntry, expected_seq: u64, expected_prev: &str) -> Result<(), ChainError> {
    if entry.seq != expected_seq {
        return Err(ChainError::Gap {
            seq: entry.seq,
            expected: expected_seq,
        });
    }
    if entry.prev != expected_prev {
        return Err(ChainError::BrokenLink(entry.seq));
    }
    if entry.hash
        != entry_hash(
            entry.seq,
            entry.ts,
            entry.kind,
            &entry.call,
            &entry.detail,
            &entry.prev,
        )
    {
        return Err(ChainError::Tampered(entry.seq));
    }
    Ok(())
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
