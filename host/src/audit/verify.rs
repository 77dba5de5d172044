//! Checking the audit log: every chain link by link, every entry's hash
//! and signature, and every chain against its checkpoint. All problems are
//! reported, not just the first, each naming the chain and the entry.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::Signature;
use serde::Deserialize;
use tgw_proto::jws;

use super::{AuditEntry, AuditTrust, CHECKPOINT, Checkpoint, GENESIS, entry_hash, signed_bytes};

/// Something wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("chain {chain}, entry {seq}: its contents do not match its hash (it was changed)")]
    Changed { chain: String, seq: u64 },
    #[error(
        "chain {chain}: entry {expected} is missing or out of place (found {found} where {expected} belongs)"
    )]
    Missing {
        chain: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "chain {chain}, entry {seq}: it does not follow the entry before it (prev hash differs)"
    )]
    BrokenLink { chain: String, seq: u64 },
    #[error("chain {chain}, entry {seq}: signed by key {kid}, which is not trusted for this chain")]
    UnknownKey {
        chain: String,
        seq: u64,
        kid: String,
    },
    #[error("chain {chain}, entry {seq}: its signature does not verify")]
    BadSignature { chain: String, seq: u64 },
    #[error("chain {chain}, entry {seq}: it says it belongs to chain {claimed}")]
    WrongChain {
        chain: String,
        seq: u64,
        claimed: String,
    },
    #[error(
        "chain {chain}: it ends at entry {length}, but its writer signed a checkpoint at entry {checkpoint} (entries were cut off the end)"
    )]
    Truncated {
        chain: String,
        length: u64,
        checkpoint: u64,
    },
    #[error("chain {chain}: entry {seq} is not the one its writer's checkpoint names")]
    CheckpointMismatch { chain: String, seq: u64 },
    #[error("a checkpoint is refused: {0}")]
    BadCheckpoint(String),
    #[error("entry at {line}: {reason}")]
    Unreadable { line: usize, reason: String },
}

/// One chain as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub writer: String,
    pub entries: u64,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub chains: Vec<ChainSummary>,
    pub problems: Vec<Problem>,
}

impl AuditReport {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// Entries in all chains.
    pub fn entries(&self) -> u64 {
        self.chains.iter().map(|c| c.entries).sum()
    }
}

struct ChainState {
    next: u64,
    prev: String,
}

/// The walk along the chains, one entry at a time: a reader that keeps it
/// checks each entry once, however often it reports.
#[derive(Default)]
pub struct Walk {
    chains: BTreeMap<String, ChainState>,
    hashes: BTreeMap<(String, u64), String>,
    problems: Vec<Problem>,
}

/// Checks `entries` (in log order; a chain's entries in its order) and
/// `checkpoints` (signed tokens) against `trust`.
pub fn check(entries: &[AuditEntry], checkpoints: &[String], trust: &AuditTrust) -> AuditReport {
    let mut walk = Walk::default();
    for entry in entries {
        walk.push(entry, trust);
    }
    walk.report(checkpoints, trust)
}

impl Walk {
    /// The next entry in log order: its place in its chain, its hash and
    /// its signature.
    pub fn push(&mut self, entry: &AuditEntry, trust: &AuditTrust) {
        let (chains, hashes) = (&mut self.chains, &mut self.hashes);
        let chain = entry.writer.clone();
        let state = chains.entry(chain.clone()).or_insert_with(|| ChainState {
            next: 1,
            prev: GENESIS.to_owned(),
        });
        let problems = &mut self.problems;
        if entry.seq != state.next {
            problems.push(Problem::Missing {
                chain: chain.clone(),
                expected: state.next,
                found: entry.seq,
            });
        } else if entry.prev != state.prev {
            problems.push(Problem::BrokenLink {
                chain: chain.clone(),
                seq: entry.seq,
            });
        }
        if entry.hash != entry_hash(entry) {
            problems.push(Problem::Changed {
                chain: chain.clone(),
                seq: entry.seq,
            });
        }
        check_signature(entry, trust, problems);
        state.next = entry.seq + 1;
        state.prev = entry.hash.clone();
        hashes.insert((chain, entry.seq), entry.hash.clone());
    }

    /// What the walk found so far, with every chain held to `checkpoints`.
    pub fn report(&self, checkpoints: &[String], trust: &AuditTrust) -> AuditReport {
        let (chains, hashes) = (&self.chains, &self.hashes);
        let mut report = AuditReport {
            chains: Vec::new(),
            problems: self.problems.clone(),
        };
        for token in checkpoints {
            let checkpoint = match open_checkpoint(token, trust) {
                Ok(checkpoint) => checkpoint,
                Err(reason) => {
                    report.problems.push(Problem::BadCheckpoint(reason));
                    continue;
                }
            };
            let length = chains.get(&checkpoint.writer).map_or(0, |c| c.next - 1);
            if length < checkpoint.seq {
                report.problems.push(Problem::Truncated {
                    chain: checkpoint.writer,
                    length,
                    checkpoint: checkpoint.seq,
                });
            } else if hashes.get(&(checkpoint.writer.clone(), checkpoint.seq))
                != Some(&checkpoint.hash)
            {
                report.problems.push(Problem::CheckpointMismatch {
                    chain: checkpoint.writer,
                    seq: checkpoint.seq,
                });
            }
        }
        report.chains = chains
            .iter()
            .map(|(writer, state)| ChainSummary {
                writer: writer.clone(),
                entries: state.next - 1,
            })
            .collect();
        report
    }
}

fn check_signature(entry: &AuditEntry, trust: &AuditTrust, problems: &mut Vec<Problem>) {
    let chain = || entry.writer.clone();
    let key = trust
        .keys_for(&entry.writer)
        .iter()
        .find(|k| k.kid == entry.kid);
    let Some(key) = key else {
        problems.push(Problem::UnknownKey {
            chain: chain(),
            seq: entry.seq,
            kid: entry.kid.clone(),
        });
        return;
    };
    let signature = B64
        .decode(&entry.sig)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok());
    let verified = signature.is_some_and(|bytes| {
        key.key
            .verify_strict(&signed_bytes(&entry.hash), &Signature::from_bytes(&bytes))
            .is_ok()
    });
    if !verified {
        problems.push(Problem::BadSignature {
            chain: chain(),
            seq: entry.seq,
        });
    }
}

/// A checkpoint signed by a key trusted for the chain it names.
fn open_checkpoint(token: &str, trust: &AuditTrust) -> Result<Checkpoint, String> {
    // The chain is inside the signed payload: try the keys of both kinds,
    // then require the one that verified to be trusted for that chain.
    let all: Vec<_> = trust.gateways.iter().chain(&trust.executors).collect();
    let signer = std::cell::RefCell::new(String::new());
    let payload = jws::verify(token, &CHECKPOINT, |kid| {
        let key = all.iter().find(|k| k.kid == kid).map(|k| &k.key);
        if key.is_some() {
            kid.clone_into(&mut signer.borrow_mut());
        }
        key
    })
    .map_err(|e| e.to_string())?;
    let checkpoint: Checkpoint = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    let signer = signer.into_inner();
    if !trust
        .keys_for(&checkpoint.writer)
        .iter()
        .any(|k| k.kid == signer)
    {
        return Err(format!(
            "the checkpoint of chain {} is signed by key {signer}, not trusted for it",
            checkpoint.writer
        ));
    }
    Ok(checkpoint)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Line {
    Entry(Box<AuditEntry>),
    Checkpoint(String),
}

/// Reads a `tgw audit export` file: its entries and checkpoints, and the
/// lines that are not either.
pub fn read_export(text: &str) -> (Vec<AuditEntry>, Vec<String>, Vec<Problem>) {
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Entry(entry)) => entries.push(*entry),
            Ok(Line::Checkpoint(token)) => checkpoints.push(token),
            Err(e) => problems.push(Problem::Unreadable {
                line: index + 1,
                reason: e.to_string(),
            }),
        }
    }
    (entries, checkpoints, problems)
}
