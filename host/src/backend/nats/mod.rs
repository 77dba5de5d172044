//! The NATS backend: core NATS for request/reply (servers of one subject
//! share the queue group `executors`) and events, JetStream for state.
//!
//! - `TGW_NONCES`: a stream over `tgw.nonces.>`, one message per subject
//!   (`tgw.nonces.<aud>_<jti>`), `discard: new` per subject, deleting and
//!   purging denied. Spending a nonce is publishing to its subject; a
//!   second publish is rejected by the server, so a used nonce can never be
//!   made usable again. The stream's creation time is its identity: if it
//!   changes while a process runs (the stream was deleted and made again,
//!   empty), the ledger refuses every spend from then on.
//! - `TGW_APPROVALS`, `TGW_PEOPLE`, `TGW_AUDIT_HEADS`, `TGW_TASKS`: KV
//!   buckets; updates are compare-and-set on the entry's revision.
//! - `TGW_AUDIT`: a stream over `tgw.audit.>`, one subject per chain
//!   (`tgw.audit.<writer>`); an entry is appended with
//!   `Nats-Expected-Last-Subject-Sequence`, so writers of different chains
//!   never wait for each other.
//!
//! - `TGW_SKILLS`: an object store of skill components and manifests by
//!   digest (`objects.rs`).
//!
//! `connect.rs` says how to reach the server (credentials, TLS);
//! `streams.rs` what the streams must look like.

mod connect;
pub mod objects;
pub mod permissions;
pub mod streams;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_trait::async_trait;
use bytes::Bytes;
pub use connect::{NatsConfig, inbox_prefix};
use futures::StreamExt;
pub use streams::{NONCES, Opener};
use tokio::sync::mpsc;

use super::{
    Backend, Bucket, BucketName, BusError, Deadlines, Delivery, EXECUTORS, Entry, Event, Events,
    LedgerError, Log, LogEntry, LogName, NonceLedger, Requests, StoreError,
};

/// A state operation that takes longer than this fails (closed).
const STATE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a process looks at whether `TGW_NONCES` is still the stream
/// it started with.
const WATCH_NONCES_EVERY: Duration = Duration::from_secs(1);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Connects, makes sure the streams and buckets exist (a gateway creates
/// them), and checks the settings their safety rests on.
pub async fn backend(config: &NatsConfig, opener: Opener) -> anyhow::Result<Backend> {
    let url = config.url.clone().unwrap_or_default();
    let client = config.connect(&opener.identity()).await?;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(STATE_TIMEOUT);
    let mut nonces = streams::open(&js, streams::nonces_config(), &opener).await?;
    let nonces_info = nonces
        .info()
        .await
        .map_err(|e| anyhow::anyhow!("reading the {NONCES} stream: {e}"))?
        .clone();
    streams::check(&nonces_info.config)?;
    let mut audit_stream = streams::open(&js, streams::audit_config(), &opener).await?;
    let audit_info = audit_stream
        .info()
        .await
        .map_err(|e| anyhow::anyhow!("reading the {} stream: {e}", LogName::Audit.name()))?
        .clone();
    streams::check(&audit_info.config)?;
    let approvals = open_bucket(&js, BucketName::Approvals, &opener).await?;
    let people = open_bucket(&js, BucketName::People, &opener).await?;
    let audit_heads = open_bucket(&js, BucketName::AuditHeads, &opener).await?;
    let tasks = open_bucket(&js, BucketName::Tasks, &opener).await?;
    let ledger = Arc::new(NatsNonces {
        js: js.clone(),
        identity: nonces_info.created.unix_timestamp_nanos(),
        replaced: AtomicBool::new(false),
    });
    tokio::spawn(watch_nonces(Arc::downgrade(&ledger), nonces));
    // Only the gateway, which writes skills, and executors, which run
    // them, open the object store (an auditor may not).
    let blobs = match &opener {
        Opener::Gateway | Opener::Executor(_) => Some(super::Blobs::new(Arc::new(
            objects::NatsObjects::open(&js, &opener).await?,
        ))),
        Opener::Other => None,
    };
    Ok(Backend {
        approvals: Arc::new(NatsBucket { kv: approvals }),
        people: Arc::new(NatsBucket { kv: people }),
        audit_heads: Arc::new(NatsBucket { kv: audit_heads }),
        tasks: Arc::new(NatsBucket { kv: tasks }),
        audit: Arc::new(NatsLog {
            js: js.clone(),
            stream: audit_stream,
        }),
        local_store: false,
        nonce_ledger_identity: Some(ledger.identity.to_string()),
        nonces: ledger,
        requests: Arc::new(NatsRequests {
            client: client.clone(),
        }),
        events: Arc::new(NatsEvents { client }),
        blobs,
        description: format!("NATS at {url}"),
    })
}

/// Opens a KV bucket (a gateway creates it if needed).
async fn open_bucket(
    js: &jetstream::Context,
    bucket: BucketName,
    opener: &Opener,
) -> anyhow::Result<kv::Store> {
    let name = bucket.name();
    streams::open(js, streams::bucket_config(bucket), opener).await?;
    js.get_key_value(name)
        .await
        .map_err(|e| anyhow::anyhow!("opening the {name} bucket: {e}"))
}

struct NatsBucket {
    kv: kv::Store,
}

#[async_trait]
impl Bucket for NatsBucket {
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        match self.kv.entry(key).await.map_err(unavailable)? {
            Some(entry) if entry.operation == kv::Operation::Put => Ok(Some(Entry {
                value: entry.value.to_vec(),
                revision: entry.revision,
            })),
            _ => Ok(None),
        }
    }

    async fn create(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.kv
            .create(key, Bytes::copy_from_slice(value))
            .await
            .map(|_| ())
            .map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => StoreError::Conflict,
                _ => unavailable(e),
            })
    }

    async fn update(&self, key: &str, value: &[u8], revision: u64) -> Result<(), StoreError> {
        self.kv
            .update(key, Bytes::copy_from_slice(value), revision)
            .await
            .map(|_| ())
            .map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => StoreError::Conflict,
                _ => unavailable(e),
            })
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = self.kv.keys().await.map_err(unavailable)?;
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            if key.starts_with(prefix) {
                found.push(key);
            }
        }
        found.sort();
        Ok(found)
    }
}

struct NatsLog {
    js: jetstream::Context,
    stream: stream::Stream,
}

/// The chain a subject of the audit stream belongs to.
fn chain_of(subject: &str) -> String {
    subject
        .strip_prefix("tgw.audit.")
        .unwrap_or(subject)
        .to_owned()
}

#[async_trait]
impl Log for NatsLog {
    async fn last(&self, chain: &str) -> Result<Option<LogEntry>, StoreError> {
        match self
            .stream
            .get_last_raw_message_by_subject(&LogName::Audit.subject(chain))
            .await
        {
            Ok(message) => Ok(Some(LogEntry {
                position: message.sequence,
                chain: chain.to_owned(),
                bytes: message.payload.to_vec(),
            })),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn append(
        &self,
        chain: &str,
        after: Option<u64>,
        bytes: &[u8],
    ) -> Result<u64, StoreError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            after.unwrap_or(0).to_string().as_str(),
        );
        let payload = Bytes::copy_from_slice(bytes);
        let publish = async {
            let ack = self
                .js
                .publish_with_headers(LogName::Audit.subject(chain), headers, payload)
                .await?;
            ack.await
        };
        match publish.await {
            Ok(ack) => Ok(ack.sequence),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<LogEntry>, StoreError> {
        let last = self
            .stream
            .get_info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence;
        let mut entries = Vec::new();
        let mut seq = from.max(1);
        while entries.len() < limit && seq <= last {
            match self.stream.get_raw_message(seq).await {
                Ok(message) => entries.push(LogEntry {
                    position: message.sequence,
                    chain: chain_of(&message.subject),
                    bytes: message.payload.to_vec(),
                }),
                // Deleting is denied, but a stream whose settings were
                // changed may have holes; `tgw audit verify` notices what
                // is missing from each chain.
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(unavailable(e)),
            }
            seq += 1;
        }
        Ok(entries)
    }
}

struct NatsNonces {
    js: jetstream::Context,
    /// When `TGW_NONCES` was created (ns), as found at start.
    identity: i128,
    /// The stream was deleted or made again since: nothing is spent.
    replaced: AtomicBool,
}

/// Looks at `TGW_NONCES` every second while the ledger lives; once it is
/// gone or another stream of that name appears, the ledger refuses every
/// spend (an empty ledger would let a grant seen earlier run again).
async fn watch_nonces(ledger: std::sync::Weak<NatsNonces>, mut stream: stream::Stream) {
    loop {
        tokio::time::sleep(WATCH_NONCES_EVERY).await;
        let Some(ledger) = ledger.upgrade() else {
            return;
        };
        match stream.info().await {
            Ok(info) if info.created.unix_timestamp_nanos() == ledger.identity => {}
            Ok(_) => {
                tracing::error!(target: "tgw::backend", "{NONCES} was deleted and created again: this process spends no more nonces");
                ledger.replaced.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) if e.to_string().contains("not found") => {
                tracing::error!(target: "tgw::backend", "{NONCES} was deleted: this process spends no more nonces");
                ledger.replaced.store(true, Ordering::SeqCst);
                return;
            }
            // Unreachable for a moment: spends fail on their own.
            Err(_) => {}
        }
    }
}

/// True when the server refused a publish because the subject already
/// holds its one message (JetStream error 10077). async-nats gives this
/// error no kind of its own, so its words are the only sign.
fn is_subject_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("maximum messages per subject exceeded") || text.contains("10077") {
            return true;
        }
        source = e.source();
    }
    false
}

#[async_trait]
impl NonceLedger for NatsNonces {
    async fn spend(&self, key: &str) -> Result<(), LedgerError> {
        if self.replaced.load(Ordering::SeqCst) {
            return Err(LedgerError::Unavailable(format!(
                "{NONCES} was deleted or replaced while this process ran, so spent nonces may be \
                 forgotten; restart after checking the deployment"
            )));
        }
        let subject = format!("tgw.nonces.{key}");
        let publish = async {
            let ack = self
                .js
                .publish(subject, Bytes::from_static(b"spent"))
                .await?;
            ack.await
        };
        match tokio::time::timeout(STATE_TIMEOUT, publish).await {
            Ok(Ok(ack)) if ack.stream == NONCES => Ok(()),
            Ok(Ok(ack)) => Err(LedgerError::Unavailable(format!(
                "the nonce was stored in stream {}, not {NONCES}",
                ack.stream
            ))),
            Ok(Err(e)) if is_subject_full(&e) => Err(LedgerError::AlreadyUsed),
            Ok(Err(e)) => Err(LedgerError::Unavailable(e.to_string())),
            Err(_) => Err(LedgerError::Unavailable(
                "NATS did not answer in time".into(),
            )),
        }
    }
}

struct NatsRequests {
    client: async_nats::Client,
}

/// Waits until the server has processed everything this connection sent
/// before: it handles one connection's commands in order, so once a
/// message published to ourselves comes back, an earlier subscription is
/// in place too.
async fn round_trip(client: &async_nats::Client) -> Result<(), BusError> {
    let unavailable = |e: &dyn std::fmt::Display| BusError::Unavailable(e.to_string());
    let probe = client.new_inbox();
    let mut echo = client
        .subscribe(probe.clone())
        .await
        .map_err(|e| unavailable(&e))?;
    client
        .publish(probe, Bytes::new())
        .await
        .map_err(|e| unavailable(&e))?;
    match tokio::time::timeout(STATE_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        _ => Err(BusError::Unavailable("NATS did not answer in time".into())),
    }
}

/// What came back on a request's inbox.
enum Heard {
    Ack,
    Answer(Vec<u8>),
    NoResponders,
}

fn heard(message: &async_nats::Message) -> Heard {
    if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        Heard::NoResponders
    } else if message.payload.is_empty() {
        // Answers are never empty; an empty message is the acknowledgement.
        Heard::Ack
    } else {
        Heard::Answer(message.payload.to_vec())
    }
}

/// After an acknowledgement: the first answer within `deadline` (a late
/// acknowledgement of an earlier attempt is not one).
async fn answer(
    replies: &mut async_nats::Subscriber,
    deadline: Duration,
) -> Result<Vec<u8>, BusError> {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, replies.next()).await {
            Ok(Some(message)) => match heard(&message) {
                Heard::Answer(answer) => return Ok(answer),
                Heard::Ack | Heard::NoResponders => {}
            },
            Ok(None) => return Err(BusError::Unavailable("the connection closed".into())),
            Err(_) => return Err(BusError::Timeout(deadline)),
        }
    }
}

#[async_trait]
impl Requests for NatsRequests {
    async fn request(
        &self,
        subject: &str,
        payload: Vec<u8>,
        deadlines: Deadlines,
    ) -> Result<Vec<u8>, BusError> {
        let bus = |e: &dyn std::fmt::Display| BusError::Unavailable(e.to_string());
        let inbox = self.client.new_inbox();
        let mut replies = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| bus(&e))?;
        let payload = Bytes::from(payload);
        for _ in 0..super::SEND_ATTEMPTS {
            self.client
                .publish_with_reply(subject.to_owned(), inbox.clone(), payload.clone())
                .await
                .map_err(|e| bus(&e))?;
            match tokio::time::timeout(deadlines.ack, replies.next()).await {
                Ok(Some(message)) => match heard(&message) {
                    Heard::NoResponders => return Err(BusError::NoResponders(subject.to_owned())),
                    Heard::Answer(answer) => return Ok(answer),
                    Heard::Ack => return answer(&mut replies, deadlines.answer).await,
                },
                Ok(None) => return Err(BusError::Unavailable("the connection closed".into())),
                // Nobody took it: another server of the queue group may.
                Err(_) => {}
            }
        }
        Err(BusError::NotAcknowledged(deadlines.ack))
    }

    async fn serve(&self, subject: &str) -> Result<mpsc::Receiver<Delivery>, BusError> {
        let mut subscriber = self
            .client
            .queue_subscribe(subject.to_owned(), EXECUTORS.into())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        round_trip(&self.client).await?;
        let (deliveries, receiver) = mpsc::channel(16);
        let client = self.client.clone();
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let Some(reply_to) = message.reply.clone() else {
                    continue;
                };
                let send = |client: async_nats::Client, to: async_nats::Subject, bytes: Bytes| {
                    tokio::spawn(async move {
                        if let Err(e) = client.publish(to, bytes).await {
                            tracing::error!(target: "tgw::backend", "cannot send an answer: {e}");
                        }
                    });
                };
                let (ack_client, ack_to) = (client.clone(), reply_to.clone());
                let (reply_client, reply_to) = (client.clone(), reply_to);
                let delivery = Delivery {
                    payload: message.payload.to_vec(),
                    ack: Box::new(move || send(ack_client, ack_to, Bytes::new())),
                    reply: Box::new(move |answer: Vec<u8>| {
                        send(reply_client, reply_to, Bytes::from(answer));
                    }),
                };
                if deliveries.send(delivery).await.is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

struct NatsEvents {
    client: async_nats::Client,
}

#[async_trait]
impl Events for NatsEvents {
    async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.client
            .publish(subject.to_owned(), Bytes::from(payload))
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }

    async fn subscribe(&self, subjects: &str) -> Result<mpsc::Receiver<Event>, BusError> {
        let mut subscriber = self
            .client
            .subscribe(subjects.to_owned())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        round_trip(&self.client).await?;
        let (sender, receiver) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let event = Event {
                    subject: message.subject.to_string(),
                    payload: message.payload.to_vec(),
                };
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}
