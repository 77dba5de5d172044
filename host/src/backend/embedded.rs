//! The embedded backend: one SQLite database (`<data>/state.db`) for state,
//! in-process channels for messages. The default on one machine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{
    Backend, Bucket, BucketName, BusError, Deadlines, Delivery, Entry, Event, Events, LedgerError,
    Log, LogEntry, LogName, NonceLedger, Requests, StoreError, subject_matches,
};

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS nonces (key TEXT PRIMARY KEY NOT NULL, spent_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS buckets (
        bucket TEXT NOT NULL, key TEXT NOT NULL, revision INTEGER NOT NULL,
        value BLOB NOT NULL, expires INTEGER, PRIMARY KEY (bucket, key));
    CREATE TABLE IF NOT EXISTS chains (
        position INTEGER PRIMARY KEY AUTOINCREMENT, log TEXT NOT NULL, chain TEXT NOT NULL,
        entry BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS chains_by_chain ON chains (log, chain, position);
    CREATE TABLE IF NOT EXISTS chain_heads (
        log TEXT NOT NULL, chain TEXT NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (log, chain));
    INSERT OR IGNORE INTO chain_heads (log, chain, position)
        SELECT log, chain, max(position) FROM chains GROUP BY log, chain;
";

/// State written by earlier versions, one table per kind of record, moved
/// into `buckets` once (nothing is lost). The unsigned single-chain audit
/// log of earlier versions (tables `audit` and `logs`) is kept, untouched,
/// as `audit_before_signatures`: `tgw audit verify` checks signed chains
/// only.
const MIGRATIONS: [(&str, &str); 4] = [
    (
        "approvals",
        "INSERT OR IGNORE INTO buckets (bucket, key, revision, value, expires)
         SELECT 'TGW_APPROVALS', id, revision, CAST(record AS BLOB), NULL FROM approvals",
    ),
    (
        "kv",
        "INSERT OR IGNORE INTO buckets (bucket, key, revision, value, expires)
         SELECT 'TGW_PEOPLE', key, revision, value, NULL FROM kv",
    ),
    (
        "audit",
        "INSERT INTO audit_before_signatures (seq, entry) SELECT seq, entry FROM audit",
    ),
    (
        "logs",
        "INSERT INTO audit_before_signatures (seq, entry)
         SELECT seq, entry FROM logs WHERE log = 'TGW_AUDIT'",
    ),
];

/// The SQLite state of one gateway. Statements are short; one connection
/// behind a mutex is simpler than a pool and fast enough here.
#[derive(Clone)]
pub struct SqliteState {
    db: Arc<Mutex<Connection>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteState {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir).map_err(unavailable)?;
        }
        let mut db = Connection::open(path).map_err(unavailable)?;
        db.busy_timeout(Duration::from_secs(5))
            .map_err(unavailable)?;
        db.execute_batch(SCHEMA).map_err(unavailable)?;
        migrate(&mut db).map_err(unavailable)?;
        // Every statement is prepared once and kept (`prepare_cached`):
        // parsing SQL was a twentieth of a call's CPU (BENCHMARKS.md).
        db.set_prepared_statement_cache_capacity(32);
        Ok(SqliteState {
            db: Arc::new(Mutex::new(db)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, rusqlite::Error> {
        let db = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&db)
    }

    fn bucket(&self, name: BucketName) -> SqliteBucket {
        SqliteBucket {
            state: self.clone(),
            name: name.name(),
            ttl_millis: name.ttl().map(|ttl| millis(ttl.as_millis())),
        }
    }
}

fn migrate(db: &mut Connection) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    for (table, copy) in MIGRATIONS {
        let exists: bool = tx.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![table],
            |row| row.get(0),
        )?;
        if exists {
            tx.execute(
                "CREATE TABLE IF NOT EXISTS audit_before_signatures (seq INTEGER, entry BLOB)",
                [],
            )?;
            tx.execute(copy, [])?;
            tx.execute(&format!("DROP TABLE {table}"), [])?;
        }
    }
    tx.commit()
}

/// `u128` milliseconds as SQLite's `i64`, saturating (far beyond any
/// lifetime used here).
fn millis(value: u128) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| millis(d.as_millis()))
}

/// SQLite stores integers as `i64`; revisions and sequence numbers are
/// positive and far below `i64::MAX`.
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// An INSERT that hit its UNIQUE key is a conflict; anything else means
/// the store is unavailable.
fn insert_error(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict
    } else {
        unavailable(e)
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

#[async_trait]
impl NonceLedger for SqliteState {
    async fn spend(&self, key: &str) -> Result<(), LedgerError> {
        let result = self.with(|db| {
            db.prepare_cached("INSERT INTO nonces (key, spent_at) VALUES (?1, ?2)")?
                .execute(params![key, now_millis()])
        });
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(LedgerError::AlreadyUsed),
            Err(e) => Err(LedgerError::Unavailable(e.to_string())),
        }
    }
}

/// One bucket of the `buckets` table.
struct SqliteBucket {
    state: SqliteState,
    name: &'static str,
    ttl_millis: Option<i64>,
}

impl SqliteBucket {
    fn expires(&self) -> Option<i64> {
        self.ttl_millis.map(|ttl| now_millis().saturating_add(ttl))
    }
}

#[async_trait]
impl Bucket for SqliteBucket {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.state
            .with(|db| {
                db.prepare_cached(
                    "SELECT value, revision FROM buckets WHERE bucket = ?1 AND key = ?2
                     AND (expires IS NULL OR expires > ?3)",
                )?
                .query_row(params![self.name, key, now_millis()], |row| {
                    Ok(Entry {
                        value: row.get(0)?,
                        revision: from_sql(row.get(1)?),
                    })
                })
                .optional()
            })
            .map_err(unavailable)
    }

    async fn create(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let now = now_millis();
        self.state
            .with(|db| {
                // An expired entry is gone: its key may be created again.
                db.prepare_cached(
                    "DELETE FROM buckets WHERE bucket = ?1 AND expires IS NOT NULL AND expires <= ?2",
                )?
                .execute(params![self.name, now])?;
                db.prepare_cached(
                    "INSERT INTO buckets (bucket, key, revision, value, expires) VALUES (?1, ?2, 1, ?3, ?4)",
                )?
                .execute(params![self.name, key, value, self.expires()])
            })
            .map(|_| ())
            .map_err(insert_error)
    }

    async fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<(), StoreError> {
        let changed = self
            .state
            .with(|db| {
                db.prepare_cached(
                    "UPDATE buckets SET value = ?1, revision = revision + 1, expires = ?2
                     WHERE bucket = ?3 AND key = ?4 AND revision = ?5
                     AND (expires IS NULL OR expires > ?6)",
                )?
                .execute(params![
                    value,
                    self.expires(),
                    self.name,
                    key,
                    to_sql(revision),
                    now_millis()
                ])
            })
            .map_err(unavailable)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.state
            .with(|db| {
                let mut statement = db.prepare_cached(
                    "SELECT key FROM buckets WHERE bucket = ?1 AND substr(key, 1, length(?2)) = ?2
                     AND (expires IS NULL OR expires > ?3) ORDER BY key",
                )?;
                let rows = statement
                    .query_map(params![self.name, prefix, now_millis()], |row| row.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(unavailable)
    }
}

/// One log of the `chains` table: rows in order, each naming its chain.
struct SqliteLog {
    state: SqliteState,
    name: &'static str,
}

fn log_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<LogEntry> {
    Ok(LogEntry {
        position: from_sql(row.get(0)?),
        chain: row.get(1)?,
        bytes: row.get(2)?,
    })
}

#[async_trait]
impl Log for SqliteLog {
    async fn last(&self, chain: &str) -> Result<Option<LogEntry>, StoreError> {
        self.state
            .with(|db| {
                db.prepare_cached(
                    "SELECT position, chain, entry FROM chains WHERE log = ?1 AND chain = ?2
                     ORDER BY position DESC LIMIT 1",
                )?
                .query_row(params![self.name, chain], log_entry)
                .optional()
            })
            .map_err(unavailable)
    }

    async fn append(
        &self,
        chain: &str,
        after: Option<u64>,
        bytes: &[u8],
    ) -> Result<u64, StoreError> {
        // One transaction: the row goes in only if the chain still ends
        // at `after`, so two writers of one chain cannot both follow it.
        // The chain's end is kept in `chain_heads`, looked up by its
        // primary key: a query over `chains` by chain name would be
        // planned again for every other name bound (SQLite's STAT4), which
        // cost a tenth of a call's CPU.
        let after = after.map_or(0, to_sql);
        self.state
            .with(|db| {
                let tx = db.unchecked_transaction()?;
                let end: i64 = tx
                    .prepare_cached(
                        "SELECT position FROM chain_heads WHERE log = ?1 AND chain = ?2",
                    )?
                    .query_row(params![self.name, chain], |row| row.get(0))
                    .optional()?
                    .unwrap_or(0);
                if end != after {
                    return Ok(None);
                }
                tx.prepare_cached("INSERT INTO chains (log, chain, entry) VALUES (?1, ?2, ?3)")?
                    .execute(params![self.name, chain, bytes])?;
                let position = tx.last_insert_rowid();
                tx.prepare_cached(
                    "INSERT INTO chain_heads (log, chain, position) VALUES (?1, ?2, ?3)
                     ON CONFLICT (log, chain) DO UPDATE SET position = excluded.position",
                )?
                .execute(params![self.name, chain, position])?;
                tx.commit()?;
                Ok(Some(from_sql(position)))
            })
            .map_err(insert_error)?
            .ok_or(StoreError::Conflict)
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        self.state
            .with(|db| {
                let mut statement = db.prepare_cached(
                    "SELECT position, chain, entry FROM chains WHERE log = ?1 AND position >= ?2
                     ORDER BY position LIMIT ?3",
                )?;
                let rows = statement.query_map(
                    params![self.name, to_sql(from), to_sql(limit as u64)],
                    log_entry,
                )?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(unavailable)
    }
}

/// A request, and where its acknowledgement and answer go.
struct Pending {
    payload: Vec<u8>,
    ack: oneshot::Sender<()>,
    answer: oneshot::Sender<Vec<u8>>,
}
type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>;

/// In-process request/reply: one queue per subject, shared by its servers
/// (each request goes to exactly one).
#[derive(Default)]
pub struct Channels {
    subjects: Mutex<HashMap<String, (mpsc::Sender<Pending>, Queue)>>,
}

impl Channels {
    fn subject(&self, subject: &str) -> (mpsc::Sender<Pending>, Queue) {
        let mut subjects = self
            .subjects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (sender, queue) = subjects.entry(subject.to_owned()).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(1024);
            (sender, Arc::new(tokio::sync::Mutex::new(receiver)))
        });
        (sender.clone(), queue.clone())
    }
}

#[async_trait]
impl Requests for Channels {
    async fn request(
        &self,
        subject: &str,
        payload: Vec<u8>,
        deadlines: Deadlines,
    ) -> Result<Vec<u8>, BusError> {
        let (sender, queue) = self.subject(subject);
        // The queue's receiver is held by this struct too, so "nobody is
        // serving" shows as a reply that never comes: count the servers.
        if Arc::strong_count(&queue) <= 2 {
            return Err(BusError::NoResponders(subject.to_owned()));
        }
        let (ack, acked) = oneshot::channel();
        let (answer, answered) = oneshot::channel();
        sender
            .send(Pending {
                payload,
                ack,
                answer,
            })
            .await
            .map_err(|_| BusError::NoResponders(subject.to_owned()))?;
        let stopped = || BusError::Unavailable("the server stopped before answering".into());
        // In one process a request is never lost, so it is never resent.
        match tokio::time::timeout(deadlines.ack, acked).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(stopped()),
            Err(_) => return Err(BusError::NotAcknowledged(deadlines.ack)),
        }
        match tokio::time::timeout(deadlines.answer, answered).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(BusError::Timeout(deadlines.answer)),
        }
    }

    async fn serve(&self, subject: &str) -> Result<mpsc::Receiver<Delivery>, BusError> {
        let (_, queue) = self.subject(subject);
        let (deliveries, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let next = queue.lock().await.recv().await;
                let Some(Pending {
                    payload,
                    ack,
                    answer,
                }) = next
                else {
                    return;
                };
                let delivery = Delivery {
                    payload,
                    ack: Box::new(move || {
                        let _ = ack.send(());
                    }),
                    reply: Box::new(move |reply| drop(answer.send(reply))),
                };
                if deliveries.send(delivery).await.is_err() {
                    return; // the server is gone; `queue` drops with this task
                }
            }
        });
        Ok(receiver)
    }
}

/// In-process events: one broadcast; each subscriber keeps its subjects.
pub struct Broadcast {
    sender: broadcast::Sender<Event>,
}

impl Default for Broadcast {
    fn default() -> Self {
        Broadcast {
            sender: broadcast::channel(1024).0,
        }
    }
}

#[async_trait]
impl Events for Broadcast {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        // No subscriber is not an error: nobody was listening.
        let _ = self.sender.send(Event {
            subject: subject.to_owned(),
            payload,
        });
        Ok(())
    }

    async fn subscribe(&self, subjects: &str) -> Result<mpsc::Receiver<Event>, BusError> {
        let mut events = self.sender.subscribe();
        let subjects = subjects.to_owned();
        let (sender, receiver) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) if subject_matches(&subjects, &event.subject) => {
                        if sender.send(event).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(receiver)
    }
}

/// The embedded backend over `<data_dir>/state.db`.
pub fn backend(data_dir: &Path) -> Result<Backend, StoreError> {
    let path = data_dir.join("state.db");
    let state = SqliteState::open(&path)?;
    Ok(Backend {
        approvals: Arc::new(state.bucket(BucketName::Approvals)),
        people: Arc::new(state.bucket(BucketName::People)),
        audit_heads: Arc::new(state.bucket(BucketName::AuditHeads)),
        tasks: Arc::new(state.bucket(BucketName::Tasks)),
        audit: Arc::new(SqliteLog {
            state: state.clone(),
            name: LogName::Audit.name(),
        }),
        nonces: Arc::new(state),
        requests: Arc::new(Channels::default()),
        events: Arc::new(Broadcast::default()),
        blobs: None,
        // The ledger is a table of a file in the data dir, next to the keys.
        local_store: true,
        nonce_ledger_identity: None,
        description: format!("embedded (state in {})", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn state_from_the_one_table_per_record_layout_is_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state.db");
        {
            let db = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
            db.execute_batch(
                "CREATE TABLE approvals (id TEXT PRIMARY KEY NOT NULL, revision INTEGER NOT NULL, record TEXT NOT NULL);
                 CREATE TABLE audit (seq INTEGER PRIMARY KEY NOT NULL, entry TEXT NOT NULL);
                 CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, revision INTEGER NOT NULL, value BLOB NOT NULL);
                 INSERT INTO approvals VALUES ('a1', 2, '{\"id\":\"a1\"}');
                 INSERT INTO audit VALUES (1, '{\"seq\":1}');
                 INSERT INTO kv VALUES ('user.ada', 3, x'7b7d');",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let backend = backend(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let approval = backend.bucket(BucketName::Approvals).get("a1").await;
        assert_eq!(
            approval,
            Ok(Some(Entry {
                value: br#"{"id":"a1"}"#.to_vec(),
                revision: 2
            }))
        );
        let person = backend.bucket(BucketName::People).get("user.ada").await;
        assert_eq!(person.ok().flatten().map(|e| e.revision), Some(3));
        // The unsigned audit log is kept aside, not read as a chain.
        assert_eq!(backend.log(LogName::Audit).read(1, 10).await, Ok(vec![]));
        let kept = |dir: &Path| -> i64 {
            let db = Connection::open(dir.join("state.db")).unwrap_or_else(|e| panic!("{e}"));
            db.query_row("SELECT count(*) FROM audit_before_signatures", [], |r| {
                r.get(0)
            })
            .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(kept(dir.path()), 1);
        // Opening again finds nothing left to move and keeps it all.
        drop(backend);
        let again = super::backend(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        drop(again);
        assert_eq!(kept(dir.path()), 1);
    }
}
