//! The embedded backend: in-process channels for messages, one SQLite
//! database (`<data>/state.db`) for state. The default on one machine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::{
    ApprovalStore, AuditStore, Bus, BusError, Delivery, ExecReply, ExecRequest, ExecTransport,
    KvStore, LedgerError, NonceLedger, StoreError,
};
use crate::approval::ApprovalRecord;
use crate::audit::AuditEntry;

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS nonces (key TEXT PRIMARY KEY NOT NULL, spent_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY NOT NULL, revision INTEGER NOT NULL, record TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY NOT NULL, entry TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, revision INTEGER NOT NULL, value BLOB NOT NULL);
";

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
        let db = Connection::open(path).map_err(unavailable)?;
        db.busy_timeout(Duration::from_secs(5))
            .map_err(unavailable)?;
        db.execute_batch(SCHEMA).map_err(unavailable)?;
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
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&db)
    }
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
    async fn spend(&self, audience: &str, jti: &str) -> Result<(), LedgerError> {
        let key = format!("{audience}_{jti}");
        let result = self.with(|db| {
            db.prepare_cached("INSERT INTO nonces (key, spent_at) VALUES (?1, ?2)")?
                .execute(params![key, crate::audit::now_millis()])
        });
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(LedgerError::AlreadyUsed),
            Err(e) => Err(LedgerError::Unavailable(e.to_string())),
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Unavailable(format!("a stored record is unreadable: {e}")))
}

#[async_trait]
impl ApprovalStore for SqliteState {
    async fn create(&self, record: &ApprovalRecord) -> Result<(), StoreError> {
        self.with(|db| {
            db.prepare_cached("INSERT INTO approvals (id, revision, record) VALUES (?1, 1, ?2)")?
                .execute(params![record.id, to_json(record)])
        })
        .map(|_| ())
        .map_err(insert_error)
    }

    async fn get(&self, id: &str) -> Result<Option<(ApprovalRecord, u64)>, StoreError> {
        let row = self
            .with(|db| {
                db.prepare_cached("SELECT record, revision FROM approvals WHERE id = ?1")?
                    .query_row(params![id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                    })
                    .optional()
            })
            .map_err(unavailable)?;
        row.map(|(text, revision)| Ok((from_json(&text)?, revision as u64)))
            .transpose()
    }

    async fn update(&self, record: &ApprovalRecord, revision: u64) -> Result<(), StoreError> {
        let changed = self
            .with(|db| {
                db.prepare_cached("UPDATE approvals SET record = ?1, revision = revision + 1 WHERE id = ?2 AND revision = ?3")?.execute(params![to_json(record), record.id, revision as i64],
                )
            })
            .map_err(unavailable)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn list(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let texts = self
            .with(|db| {
                let mut statement =
                    db.prepare_cached("SELECT record FROM approvals ORDER BY rowid")?;
                let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(unavailable)?;
        texts.iter().map(|t| from_json(t)).collect()
    }
}

#[async_trait]
impl AuditStore for SqliteState {
    async fn last(&self) -> Result<Option<AuditEntry>, StoreError> {
        let text = self
            .with(|db| {
                db.prepare_cached("SELECT entry FROM audit ORDER BY seq DESC LIMIT 1")?
                    .query_row([], |row| row.get::<_, String>(0))
                    .optional()
            })
            .map_err(unavailable)?;
        text.map(|t| from_json(&t)).transpose()
    }

    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.with(|db| {
            db.prepare_cached("INSERT INTO audit (seq, entry) VALUES (?1, ?2)")?
                .execute(params![entry.seq as i64, to_json(entry)])
        })
        .map(|_| ())
        .map_err(insert_error)
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let texts = self
            .with(|db| {
                let mut statement = db.prepare_cached(
                    "SELECT entry FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = statement.query_map(params![from as i64, limit as i64], |row| {
                    row.get::<_, String>(0)
                })?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(unavailable)?;
        texts.iter().map(|t| from_json(t)).collect()
    }
}

/// A request and where its answer goes.
type Pending = (ExecRequest, oneshot::Sender<ExecReply>);
#[async_trait]
impl KvStore for SqliteState {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        self.with(|db| {
            db.prepare_cached("SELECT value, revision FROM kv WHERE key = ?1")?
                .query_row(params![key], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)? as u64))
                })
                .optional()
        })
        .map_err(unavailable)
    }

    async fn create(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|db| {
            db.prepare_cached("INSERT INTO kv (key, revision, value) VALUES (?1, 1, ?2)")?
                .execute(params![key, value])
        })
        .map(|_| ())
        .map_err(insert_error)
    }

    async fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<(), StoreError> {
        let changed = self
            .with(|db| {
                db.prepare_cached("UPDATE kv SET value = ?1, revision = revision + 1 WHERE key = ?2 AND revision = ?3")?.execute(params![value, key, revision as i64],
                )
            })
            .map_err(unavailable)?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.with(|db| {
            let mut statement = db.prepare_cached(
                "SELECT key FROM kv WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )?;
            let rows = statement.query_map(params![prefix], |row| row.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(unavailable)
    }
}

type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Pending>>>;

/// In-process execution requests: one queue per pool, shared by the pool's
/// executors (each request goes to exactly one).
#[derive(Default)]
pub struct Channels {
    pools: Mutex<HashMap<String, (mpsc::Sender<Pending>, Queue)>>,
}

impl Channels {
    fn pool(&self, pool: &str) -> (mpsc::Sender<Pending>, Queue) {
        let mut pools = self.pools.lock().unwrap();
        let (sender, queue) = pools.entry(pool.to_owned()).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(1024);
            (sender, Arc::new(tokio::sync::Mutex::new(receiver)))
        });
        (sender.clone(), queue.clone())
    }
}

#[async_trait]
impl ExecTransport for Channels {
    async fn execute(
        &self,
        pool: &str,
        request: &ExecRequest,
        timeout: Duration,
    ) -> Result<ExecReply, BusError> {
        let (sender, queue) = self.pool(pool);
        // The queue's receiver is held by this struct too, so "nobody is
        // serving" shows as a reply that never comes: check for servers.
        if Arc::strong_count(&queue) <= 2 {
            return Err(BusError::NoExecutor(pool.to_owned()));
        }
        let (reply, answer) = oneshot::channel();
        sender
            .send((request.clone(), reply))
            .await
            .map_err(|_| BusError::NoExecutor(pool.to_owned()))?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BusError::Unavailable(
                "the executor stopped before answering".into(),
            )),
            Err(_) => Err(BusError::Timeout(timeout)),
        }
    }

    async fn serve(&self, pool: &str) -> Result<mpsc::Receiver<Delivery>, BusError> {
        let (_, queue) = self.pool(pool);
        let (deliveries, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let next = queue.lock().await.recv().await;
                let Some((request, reply)) = next else { return };
                let delivery = Delivery {
                    request,
                    reply: Box::new(move |answer| drop(reply.send(answer))),
                };
                if deliveries.send(delivery).await.is_err() {
                    return; // the executor is gone; `queue` drops with this task
                }
            }
        });
        Ok(receiver)
    }
}

/// The embedded bus over `<data_dir>/state.db`.
pub fn bus(data_dir: &Path) -> Result<Bus, StoreError> {
    let state = SqliteState::open(&data_dir.join("state.db"))?;
    Ok(Bus {
        exec: Arc::new(Channels::default()),
        nonces: Arc::new(state.clone()),
        approvals: Arc::new(state.clone()),
        audit: Arc::new(state.clone()),
        people: Arc::new(state),
    })
}
