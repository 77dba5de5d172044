//! The audit log: every proposal, decision, approval, grant, refusal and
//! execution, as one hash chain per writer.
//!
//! Each process that writes (a gateway, an executor) appends to its own
//! chain, `gateway.<instance>` or `executor.<pool>.<key id>`, and signs
//! every entry with its key: the gateway with its grant key, an executor
//! with its executor key. An entry carries the hash of the one before it
//! in its chain, so changing or removing an entry breaks every link after
//! it, and a forged entry carries no trusted signature. Writers of
//! different chains never wait for each other.
//!
//! A chain cut short at its end breaks no link; so each writer also keeps
//! a signed checkpoint of its chain's head (`TGW_AUDIT_HEADS`, written
//! shortly after each append), and `tgw audit verify` reports a chain
//! shorter than its checkpoint. `verify.rs` checks; `tgw audit export`
//! writes the log and checkpoints as JSONL for checking offline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tgw_proto::grant::TrustedKey;
use tgw_proto::jws::{JwsSigner, TokenType};

pub mod doors;
mod kind;
mod verify;
pub use kind::AuditKind;
pub use verify::{AuditReport, ChainSummary, Problem, check, read_export};

use crate::backend::{Bucket, Log, LogEntry, StoreError};
use crate::canonical::{Limits, canonicalize_with};

/// The `prev` of a chain's first entry.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// What a checkpoint of a chain's head is signed as.
pub const CHECKPOINT: TokenType = TokenType {
    typ: "tgw-audit-head+jws",
    max_bytes: 2048,
};

/// How long after an append its chain's checkpoint is written (appends in
/// between share one write).
const CHECKPOINT_AFTER: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// The chain (writer) this entry belongs to.
    pub writer: String,
    /// 1, 2, 3, ... within its chain, with no gaps.
    pub seq: u64,
    /// Unix milliseconds.
    pub ts: i64,
    pub kind: AuditKind,
    /// The call this entry is about (empty for `oauth.consent`).
    pub call: String,
    pub detail: Value,
    /// `hash` of the entry before it in its chain.
    pub prev: String,
    /// `sha256:` of the canonical JSON of every field above.
    pub hash: String,
    /// The key id of the writer's key.
    pub kid: String,
    /// Ed25519 over [`signed_bytes`] of `hash`, base64url.
    pub sig: String,
}

/// A chain's head, as its writer signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub writer: String,
    pub seq: u64,
    pub hash: String,
}

/// Canonicalising our own entries: the size cap is the only limit that
/// matters (details quote tool arguments, up to 1 MiB).
const ENTRY_LIMITS: Limits = Limits {
    max_bytes: 4 << 20,
    max_depth: 128,
    max_abs_number: f64::MAX,
};

pub fn entry_hash(entry: &AuditEntry) -> String {
    let body = json!({
        "writer": entry.writer, "seq": entry.seq, "ts": entry.ts, "kind": entry.kind,
        "call": entry.call, "detail": entry.detail, "prev": entry.prev,
    });
    canonicalize_with(body.to_string().as_bytes(), &ENTRY_LIMITS)
        .map_or_else(|e| format!("unhashable: {e}"), |c| c.input_hash)
}

/// What an entry's signature covers: its hash, under a label of its own,
/// so no other signed message of the gateway can pass for an entry.
pub fn signed_bytes(hash: &str) -> Vec<u8> {
    [b"tgw-audit-entry\0".as_slice(), hash.as_bytes()].concat()
}

/// The keys entries may be signed with: a gateway chain's by a trusted
/// gateway key, an executor chain's by a trusted executor key.
#[derive(Debug, Clone, Default)]
pub struct AuditTrust {
    pub gateways: Vec<TrustedKey>,
    pub executors: Vec<TrustedKey>,
}

impl AuditTrust {
    /// The keys that may sign the chain `writer`.
    fn keys_for(&self, writer: &str) -> &[TrustedKey] {
        if writer.starts_with("gateway.") {
            &self.gateways
        } else if writer.starts_with("executor.") {
            &self.executors
        } else {
            &[]
        }
    }
}

/// The chain name of a gateway (by its data dir's instance id).
pub fn gateway_chain(instance: &str) -> String {
    format!("gateway.{instance}")
}

/// The chain name of an executor of `pool` with the key `kid`.
pub fn executor_chain(pool: &str, kid: &str) -> String {
    format!("executor.{pool}.{kid}")
}

/// Who writes, and where its chain stands.
struct Writer {
    chain: String,
    signer: Arc<JwsSigner>,
    head: tokio::sync::Mutex<Option<Head>>,
    checkpoint_due: AtomicBool,
}

#[derive(Clone)]
struct Head {
    seq: u64,
    hash: String,
    /// Where the chain's last entry is in the log.
    position: Option<u64>,
}

/// The audit log of a deployment, and this process's chain in it.
#[derive(Clone)]
pub struct Audit {
    log: Arc<dyn Log>,
    heads: Arc<dyn Bucket>,
    writer: Option<Arc<Writer>>,
    trust: Arc<AuditTrust>,
    /// What [`Audit::checked`] has read and checked so far.
    seen: Arc<tokio::sync::Mutex<Seen>>,
}

/// How long [`Audit::checked`] trusts its walk before walking again.
const WALK_AGAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The log as far as it has been read and checked: each entry is read and
/// its signature verified once, however often the dashboard asks.
#[derive(Default)]
struct Seen {
    /// When the walk started from the first entry.
    since: Option<std::time::Instant>,
    /// The log position to read from next.
    next: u64,
    entries: Vec<AuditEntry>,
    /// Entries that are unreadable or sit in another chain than they name.
    misplaced: Vec<Problem>,
    walk: verify::Walk,
}

/// A stored entry, read; one that does not parse makes the log
/// unavailable rather than a guess.
fn parse(stored: &LogEntry) -> Result<AuditEntry, StoreError> {
    serde_json::from_slice(&stored.bytes).map_err(|e| {
        StoreError::Unavailable(format!(
            "audit entry at {} is unreadable: {e}",
            stored.position
        ))
    })
}

impl Audit {
    /// The log as a reader sees it (`tgw audit verify`): it writes nothing.
    pub fn reader(log: Arc<dyn Log>, heads: Arc<dyn Bucket>, trust: AuditTrust) -> Self {
        Audit {
            log,
            heads,
            writer: None,
            trust: Arc::new(trust),
            seen: Arc::default(),
        }
    }

    /// The log, with this process appending to `chain`, signed by `signer`.
    pub fn writer(
        log: Arc<dyn Log>,
        heads: Arc<dyn Bucket>,
        trust: AuditTrust,
        chain: String,
        signer: Arc<JwsSigner>,
    ) -> Self {
        Audit {
            log,
            heads,
            writer: Some(Arc::new(Writer {
                chain,
                signer,
                head: tokio::sync::Mutex::new(None),
                checkpoint_due: AtomicBool::new(false),
            })),
            trust: Arc::new(trust),
            seen: Arc::default(),
        }
    }

    /// The same log, written to `chain` with `signer` (an executor in the
    /// gateway's process has a chain of its own).
    pub fn for_writer(&self, chain: String, signer: Arc<JwsSigner>) -> Self {
        Audit::writer(
            self.log.clone(),
            self.heads.clone(),
            (*self.trust).clone(),
            chain,
            signer,
        )
    }

    /// The chain this process writes, if it writes.
    pub fn chain(&self) -> Option<&str> {
        self.writer.as_deref().map(|w| w.chain.as_str())
    }

    /// Entries at log position `from` and on, across chains, in order.
    pub async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.log
            .read(from, limit)
            .await?
            .iter()
            .map(parse)
            .collect()
    }

    /// Every entry, across chains, in log order.
    pub async fn entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.stored().await?.iter().map(parse).collect()
    }

    /// Every entry as stored, across chains, in log order.
    async fn stored(&self) -> Result<Vec<LogEntry>, StoreError> {
        let mut entries = Vec::new();
        loop {
            let from = entries.last().map_or(1, |e: &LogEntry| e.position + 1);
            let batch = self.log.read(from, 1000).await?;
            if batch.is_empty() {
                return Ok(entries);
            }
            entries.extend(batch);
        }
    }

    /// Appends an entry to this process's chain.
    pub async fn append(
        &self,
        kind: AuditKind,
        call: &str,
        detail: Value,
    ) -> Result<AuditEntry, StoreError> {
        let writer = self.writer.as_deref().ok_or_else(|| {
            StoreError::Unavailable("this process reads the audit log and writes none".into())
        })?;
        let mut head = writer.head.lock().await;
        loop {
            let current = match head.clone() {
                Some(current) => current,
                None => self.load_head(&writer.chain).await?,
            };
            let mut entry = AuditEntry {
                writer: writer.chain.clone(),
                seq: current.seq + 1,
                ts: now_millis(),
                kind,
                call: call.into(),
                detail: detail.clone(),
                prev: current.hash.clone(),
                hash: String::new(),
                kid: writer.signer.kid().to_owned(),
                sig: String::new(),
            };
            entry.hash = entry_hash(&entry);
            entry.sig = B64.encode(writer.signer.sign_raw(&signed_bytes(&entry.hash)));
            // Our own entry is plain data: serde_json cannot fail on it.
            let bytes = serde_json::to_vec(&entry).unwrap_or_default();
            match self
                .log
                .append(&writer.chain, current.position, &bytes)
                .await
            {
                Ok(position) => {
                    *head = Some(Head {
                        seq: entry.seq,
                        hash: entry.hash.clone(),
                        position: Some(position),
                    });
                    drop(head);
                    self.checkpoint_soon();
                    return Ok(entry);
                }
                // Another process writes this chain too (two processes
                // with one identity): follow its entry and go on.
                Err(StoreError::Conflict) => *head = None,
                Err(e) => {
                    *head = None;
                    return Err(e);
                }
            }
        }
    }

    async fn load_head(&self, chain: &str) -> Result<Head, StoreError> {
        Ok(match self.log.last(chain).await? {
            Some(stored) => {
                let entry = parse(&stored)?;
                Head {
                    seq: entry.seq,
                    hash: entry.hash,
                    position: Some(stored.position),
                }
            }
            None => Head {
                seq: 0,
                hash: GENESIS.to_owned(),
                position: None,
            },
        })
    }

    /// Appends, and logs loudly if the log cannot be written (the caller
    /// has already decided to refuse or has finished; losing the entry is
    /// reported, not hidden). On the way to execution, use [`append`]
    /// and stop when it fails.
    pub async fn record(&self, kind: AuditKind, call: &str, detail: Value) {
        if let Err(e) = self.append(kind, call, detail).await {
            tracing::error!(target: "tgw::audit", "AUDIT ENTRY NOT WRITTEN ({kind} for call {call}): {e}");
        }
    }

    /// Writes the chain's checkpoint shortly, once for every append made
    /// until then.
    fn checkpoint_soon(&self) {
        let Some(writer) = &self.writer else { return };
        if writer.checkpoint_due.swap(true, Ordering::SeqCst) {
            return;
        }
        let audit = self.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(CHECKPOINT_AFTER).await;
                if let Err(e) = audit.checkpoint().await {
                    tracing::warn!(target: "tgw::audit", "the audit checkpoint was not written: {e}");
                }
            });
        }
    }

    /// Writes the signed checkpoint of this process's chain now.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        writer.checkpoint_due.store(false, Ordering::SeqCst);
        let Some(head) = writer.head.lock().await.clone() else {
            return Ok(());
        };
        let token = writer.signer.sign(
            &CHECKPOINT,
            &Checkpoint {
                writer: writer.chain.clone(),
                seq: head.seq,
                hash: head.hash,
            },
        );
        crate::backend::put(&*self.heads, &writer.chain, token.as_bytes()).await
    }

    /// Every chain's checkpoint, as stored (checked by `verify`).
    pub async fn checkpoints(&self) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for key in self.heads.keys("").await? {
            if let Some(stored) = self.heads.get(&key).await? {
                found.push(String::from_utf8_lossy(&stored.value).into_owned());
            }
        }
        Ok(found)
    }

    /// Checks every chain and checkpoint of the log. An entry that is not
    /// readable, or sits in another chain than it names, is a problem too.
    pub async fn verify(&self) -> Result<AuditReport, StoreError> {
        let mut entries = Vec::new();
        let mut misplaced = Vec::new();
        for stored in self.stored().await? {
            match serde_json::from_slice::<AuditEntry>(&stored.bytes) {
                Ok(entry) if entry.writer == stored.chain => entries.push(entry),
                Ok(entry) => misplaced.push(Problem::WrongChain {
                    chain: stored.chain,
                    seq: entry.seq,
                    claimed: entry.writer,
                }),
                Err(e) => misplaced.push(Problem::Unreadable {
                    line: usize::try_from(stored.position).unwrap_or(usize::MAX),
                    reason: format!("chain {}: {e}", stored.chain),
                }),
            }
        }
        let checkpoints = self.checkpoints().await?;
        let mut report = verify::check(&entries, &checkpoints, &self.trust);
        misplaced.append(&mut report.problems);
        report.problems = misplaced;
        Ok(report)
    }

    /// The log's report and `view` of every entry, checking only the
    /// entries appended since the last call (the walk along each chain is
    /// kept); the checkpoints are read each time. Once a minute the walk
    /// starts again from the first entry, so an entry changed in place in
    /// the store (SQLite can be edited; JetStream messages cannot) is found
    /// within a minute.
    pub async fn checked<T>(
        &self,
        view: impl FnOnce(&[AuditEntry]) -> T,
    ) -> Result<(AuditReport, T), StoreError> {
        let mut seen = self.seen.lock().await;
        if seen.since.is_none_or(|t| t.elapsed() > WALK_AGAIN_EVERY) {
            *seen = Seen {
                since: Some(std::time::Instant::now()),
                ..Seen::default()
            };
        }
        let seen = &mut *seen;
        loop {
            let batch = self.log.read(seen.next.max(1), 1000).await?;
            let Some(last) = batch.last() else { break };
            seen.next = last.position + 1;
            for stored in batch {
                match serde_json::from_slice::<AuditEntry>(&stored.bytes) {
                    Ok(entry) if entry.writer == stored.chain => {
                        seen.walk.push(&entry, &self.trust);
                        seen.entries.push(entry);
                    }
                    Ok(entry) => seen.misplaced.push(Problem::WrongChain {
                        chain: stored.chain,
                        seq: entry.seq,
                        claimed: entry.writer,
                    }),
                    Err(e) => seen.misplaced.push(Problem::Unreadable {
                        line: usize::try_from(stored.position).unwrap_or(usize::MAX),
                        reason: format!("chain {}: {e}", stored.chain),
                    }),
                }
            }
        }
        let checkpoints = self.checkpoints().await?;
        let mut report = seen.walk.report(&checkpoints, &self.trust);
        let mut problems = seen.misplaced.clone();
        problems.append(&mut report.problems);
        report.problems = problems;
        Ok((report, view(&seen.entries)))
    }

    /// The whole log and its checkpoints, as JSONL (one `{"entry": …}` or
    /// `{"checkpoint": "…"}` per line), for `tgw audit verify --file`.
    pub async fn export(&self, out: &mut impl std::io::Write) -> anyhow::Result<usize> {
        let entries = self.entries().await?;
        for entry in &entries {
            serde_json::to_writer(&mut *out, &json!({ "entry": entry }))?;
            out.write_all(b"\n")?;
        }
        for checkpoint in self.checkpoints().await? {
            serde_json::to_writer(&mut *out, &json!({ "checkpoint": checkpoint }))?;
            out.write_all(b"\n")?;
        }
        Ok(entries.len())
    }

    pub fn trust(&self) -> &AuditTrust {
        &self.trust
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
