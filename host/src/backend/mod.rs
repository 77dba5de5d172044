//! The backend: bytes, and nothing that knows what they mean. KV buckets,
//! append-only logs, the nonce ledger, request/reply and events, with one
//! implementation per deployment:
//!
//! | | embedded (default, one machine) | NATS (many machines) |
//! | --- | --- | --- |
//! | KV buckets | SQLite table `buckets` | JetStream KV (`TGW_APPROVALS`, `TGW_PEOPLE`, `TGW_AUDIT_HEADS`, `TGW_TASKS`) |
//! | logs | SQLite table `chains` | JetStream stream `TGW_AUDIT`, a subject per chain |
//! | nonce ledger | SQLite, UNIQUE key | stream `TGW_NONCES`, one message per subject |
//! | request/reply | in-process channels | core NATS, queue group `executors`; acknowledged, then answered |
//! | events | an in-process broadcast | core NATS publish/subscribe |
//! | blobs by digest | none (one skills folder) | JetStream object store `TGW_SKILLS` |
//!
//! The domain modules (approvals, audit, people, OAuth, the executor's
//! protocol) encode their own records on top; this module imports none of
//! them. `sealed.rs` wraps a bucket so that every value is signed by a
//! gateway key and checked when read. `host/tests/backend.rs` runs one
//! contract suite against both implementations.

pub mod embedded;
pub mod nats;
pub mod sealed;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use tgw_parse::names::Digest;
use tokio::sync::mpsc;

/// The KV buckets of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketName {
    /// Pending and decided approvals.
    Approvals,
    /// People, passkeys, invitations, personal access tokens and OAuth
    /// state (clients, codes, refresh-token families).
    People,
    /// The latest signed head of every audit chain (a checkpoint, so a
    /// chain cut short is noticed).
    AuditHeads,
    /// Tool calls that outlive their request (MCP tasks): their state and
    /// their result, the executor's signed receipt.
    Tasks,
}

impl BucketName {
    pub const ALL: [BucketName; 4] = [
        BucketName::Approvals,
        BucketName::People,
        BucketName::AuditHeads,
        BucketName::Tasks,
    ];

    /// The bucket's name, as NATS knows it.
    pub const fn name(self) -> &'static str {
        match self {
            BucketName::Approvals => "TGW_APPROVALS",
            BucketName::People => "TGW_PEOPLE",
            BucketName::AuditHeads => "TGW_AUDIT_HEADS",
            BucketName::Tasks => "TGW_TASKS",
        }
    }

    /// How long an entry lives after its last write (`None`: for ever).
    /// A decided approval is history after a week, a task two days after
    /// its last change (a task lives at most a day); people stay.
    pub const fn ttl(self) -> Option<Duration> {
        match self {
            BucketName::Approvals => Some(Duration::from_secs(7 * 24 * 3600)),
            BucketName::Tasks => Some(Duration::from_secs(2 * 24 * 3600)),
            BucketName::People | BucketName::AuditHeads => None,
        }
    }
}

/// The append-only logs of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogName {
    /// The audit log: one chain per writer.
    Audit,
}

impl LogName {
    pub const fn name(self) -> &'static str {
        match self {
            LogName::Audit => "TGW_AUDIT",
        }
    }

    /// The NATS subjects its chains are published on: `tgw.audit.<chain>`.
    pub const fn subjects(self) -> &'static str {
        match self {
            LogName::Audit => "tgw.audit.>",
        }
    }

    /// The subject of one chain.
    pub fn subject(self, chain: &str) -> String {
        match self {
            LogName::Audit => format!("tgw.audit.{chain}"),
        }
    }
}

/// Whether `chain` may name a chain: NATS subject tokens of letters,
/// digits, `-` and `_`, separated by dots.
pub fn is_chain_name(chain: &str) -> bool {
    !chain.is_empty()
        && chain.len() <= 128
        && chain.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The subject the executors of `pool` listen on.
pub fn exec_subject(pool: &str) -> String {
    format!("tgw.exec.{pool}")
}

/// The subject on which the executors of `pool` publish the signed
/// updates of `call` (`tgw_proto::update`), or none when `call` is not one
/// subject token (such a call's updates are not sent).
pub fn updates_subject(pool: &str, call: &str) -> Option<String> {
    (is_chain_name(call) && !call.contains('.')).then(|| format!("tgw.updates.{pool}.{call}"))
}

/// The subject on which the gateway tells the executors of `pool` to stop
/// a running call (`tgw_proto::stop`).
pub fn stop_subject(pool: &str) -> String {
    format!("tgw.stop.{pool}")
}

/// The queue group executors of one pool share (each request goes to one).
pub const EXECUTORS: &str = "executors";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("changed by someone else first")]
    Conflict,
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
}

/// A stored value and its revision (for compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub revision: u64,
}

/// A KV bucket: bytes by key, compare-and-set on the revision.
#[async_trait]
pub trait Bucket: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError>;
    /// `Conflict` if the key exists.
    async fn create(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// `Conflict` unless the key is still at `revision`.
    async fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<(), StoreError>;
    /// Keys starting with `prefix`, sorted.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// The revision stored under `key`, whatever its value: what a write
    /// that replaces it must name (a sealed bucket reads a forged value as
    /// absent, but a write must still replace it).
    async fn stored_revision(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.get(key).await?.map(|entry| entry.revision))
    }
}

/// Writes `value` under `key` whatever is there: compare-and-set on the
/// revision stored, again when someone else wrote first.
pub async fn put(bucket: &dyn Bucket, key: &str, value: &[u8]) -> Result<(), StoreError> {
    loop {
        let result = match bucket.stored_revision(key).await? {
            Some(revision) => bucket.update(key, value, revision).await,
            None => bucket.create(key, value).await,
        };
        match result {
            Err(StoreError::Conflict) => {}
            other => return other,
        }
    }
}

/// Immutable objects by name: the JetStream object store `TGW_SKILLS`
/// on NATS. The embedded backend has none: on one machine the gateway and
/// its executor share the skills folder.
#[async_trait]
pub trait Objects: Send + Sync {
    async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("{0} is not in the object store")]
    Missing(Digest),
    #[error("the object store holds other bytes under {wanted} (they hash to {found})")]
    Mismatch { wanted: Digest, found: Digest },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Content-addressed blobs: each is stored under its own digest
/// (`sha256-<hex>`), and what is read is checked against the digest asked
/// for, so whoever can write to the store can hide a blob but cannot
/// change one.
#[derive(Clone)]
pub struct Blobs {
    objects: Arc<dyn Objects>,
}

impl Blobs {
    pub fn new(objects: Arc<dyn Objects>) -> Self {
        Blobs { objects }
    }

    fn name_of(digest: &Digest) -> String {
        format!("sha256-{}", digest.hex())
    }

    /// Stores `bytes` (unless the store already holds them, checked) and
    /// returns their digest.
    pub async fn put(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        match self.get(&digest).await {
            Ok(_) => {}
            Err(BlobError::Store(e)) => return Err(e),
            Err(BlobError::Missing(_) | BlobError::Mismatch { .. }) => {
                self.objects.put(&Self::name_of(&digest), bytes).await?;
            }
        }
        Ok(digest)
    }

    /// The bytes whose digest is `digest`.
    pub async fn get(&self, digest: &Digest) -> Result<Vec<u8>, BlobError> {
        let bytes = self
            .objects
            .get(&Self::name_of(digest))
            .await?
            .ok_or_else(|| BlobError::Missing(digest.clone()))?;
        let found = Digest::of(&bytes);
        if &found != digest {
            return Err(BlobError::Mismatch {
                wanted: digest.clone(),
                found,
            });
        }
        Ok(bytes)
    }
}

/// One entry of a log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Where it is in the whole log (rising, across chains).
    pub position: u64,
    /// The chain it belongs to.
    pub chain: String,
    pub bytes: Vec<u8>,
}

/// An append-only log of many chains, one per writer. Writers of
/// different chains never wait for each other; within a chain, an append
/// names the entry it follows, so a chain cannot fork.
#[async_trait]
pub trait Log: Send + Sync {
    /// The last entry of `chain`.
    async fn last(&self, chain: &str) -> Result<Option<LogEntry>, StoreError>;
    /// Appends `bytes` to `chain` after the entry at position `after`
    /// (`None`: the chain is empty); `Conflict` if the chain has moved on.
    /// Returns the new entry's position.
    async fn append(
        &self,
        chain: &str,
        after: Option<u64>,
        bytes: &[u8],
    ) -> Result<u64, StoreError>;
    /// Entries of every chain at position `from` and on, in order, at most
    /// `limit`.
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("this grant was already used")]
    AlreadyUsed,
    #[error("the nonce ledger is unreachable, so nothing runs: {0}")]
    Unavailable(String),
}

/// Single-use keys: insert-if-absent, never removable by a client.
#[async_trait]
pub trait NonceLedger: Send + Sync {
    /// Spends `key` (`<aud>_<jti>`); `AlreadyUsed` the second time.
    async fn spend(&self, key: &str) -> Result<(), LedgerError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("nobody is listening on {0}")]
    NoResponders(String),
    #[error("no server took the request within {} ms", .0.as_millis())]
    NotAcknowledged(Duration),
    #[error("a server took the request but sent no answer within {} s (it may have stopped)", .0.as_secs())]
    Timeout(Duration),
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
}

/// How long a requester waits: for a server to take the request (a
/// request nobody took may go to another server), then for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub ack: Duration,
    pub answer: Duration,
}

/// One request taken by a server, with the ways to acknowledge and
/// answer it.
pub struct Delivery {
    pub payload: Vec<u8>,
    /// Tells the requester at once that this server has the request.
    pub ack: Box<dyn FnOnce() + Send>,
    pub reply: Box<dyn FnOnce(Vec<u8>) + Send>,
}

/// Request/reply: a request goes to one of the servers of its subject.
#[async_trait]
pub trait Requests: Send + Sync {
    /// Sends `payload` to one server of `subject` and waits for its
    /// acknowledgement, then its answer. A request nobody acknowledged in
    /// time is sent again, a few times; one that was acknowledged never is.
    async fn request(
        &self,
        subject: &str,
        payload: Vec<u8>,
        deadlines: Deadlines,
    ) -> Result<Vec<u8>, BusError>;
    /// Takes the requests of `subject`, shared with its other servers
    /// (queue group [`EXECUTORS`]). Returns once serving.
    async fn serve(&self, subject: &str) -> Result<mpsc::Receiver<Delivery>, BusError>;
}

/// How many times a request nobody acknowledged is sent.
pub const SEND_ATTEMPTS: u32 = 3;

/// One published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub subject: String,
    pub payload: Vec<u8>,
}

/// Events: every subscriber hears every event on its subjects.
#[async_trait]
pub trait Events: Send + Sync {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError>;
    /// Subscribes to `subjects`: a subject, or a prefix ending in `.>`
    /// (`tgw.events.>`). Returns once subscribed.
    async fn subscribe(&self, subjects: &str) -> Result<mpsc::Receiver<Event>, BusError>;
}

/// Whether `subject` is one of `subjects` (exact, or under a `.>` prefix).
pub fn subject_matches(subjects: &str, subject: &str) -> bool {
    match subjects.strip_suffix('>') {
        Some(prefix) => {
            prefix.ends_with('.') && subject.starts_with(prefix) && subject.len() > prefix.len()
        }
        None => subjects == subject,
    }
}

/// A deployment's backend: every bucket and log, the ledger, request/reply
/// and events.
#[derive(Clone)]
pub struct Backend {
    approvals: Arc<dyn Bucket>,
    people: Arc<dyn Bucket>,
    audit_heads: Arc<dyn Bucket>,
    tasks: Arc<dyn Bucket>,
    audit: Arc<dyn Log>,
    pub nonces: Arc<dyn NonceLedger>,
    pub requests: Arc<dyn Requests>,
    pub events: Arc<dyn Events>,
    /// Skill components and manifests by digest (NATS only).
    pub blobs: Option<Blobs>,
    /// What identifies the nonce ledger (NATS: when `TGW_NONCES` was
    /// created), checked against the deployment's signed record of it, so
    /// a ledger deleted and made again, empty, is noticed.
    pub nonce_ledger_identity: Option<String>,
    /// The store is a file in the data dir that nobody else writes (the
    /// embedded backend): values an older version wrote unsealed may be
    /// sealed on start.
    pub local_store: bool,
    /// What it is, for people: "embedded (state in …)", "NATS at …".
    pub description: String,
}

impl Backend {
    pub fn bucket(&self, name: BucketName) -> Arc<dyn Bucket> {
        match name {
            BucketName::Approvals => self.approvals.clone(),
            BucketName::People => self.people.clone(),
            BucketName::AuditHeads => self.audit_heads.clone(),
            BucketName::Tasks => self.tasks.clone(),
        }
    }

    /// The same backend with the buckets that carry authority (approvals,
    /// people, tasks) sealed by `sealer`; the sealed buckets that are kept
    /// up (`SealedBucket::upkeep`) are returned too. Tasks are not: they are
    /// read by id and never listed (no role may list them), and each lives
    /// a day.
    pub fn seal(mut self, sealer: &sealed::Sealer) -> (Backend, Vec<Arc<sealed::SealedBucket>>) {
        let approvals = Arc::new(sealed::SealedBucket::new(
            self.approvals,
            BucketName::Approvals,
            sealer.clone(),
        ));
        let people = Arc::new(sealed::SealedBucket::new(
            self.people,
            BucketName::People,
            sealer.clone(),
        ));
        let tasks = Arc::new(sealed::SealedBucket::new(
            self.tasks,
            BucketName::Tasks,
            sealer.clone(),
        ));
        self.approvals = approvals.clone();
        self.people = people.clone();
        self.tasks = tasks.clone();
        (self, vec![approvals, people])
    }

    pub fn log(&self, name: LogName) -> Arc<dyn Log> {
        match name {
            LogName::Audit => self.audit.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_exactly_or_under_a_prefix() {
        assert!(subject_matches("tgw.events.>", "tgw.events.approval"));
        assert!(subject_matches("tgw.events.>", "tgw.events.a.b"));
        assert!(!subject_matches("tgw.events.>", "tgw.events."));
        assert!(!subject_matches("tgw.events.>", "tgw.eventsx"));
        assert!(subject_matches("tgw.x", "tgw.x"));
        assert!(!subject_matches("tgw.x", "tgw.x.y"));
    }
}
