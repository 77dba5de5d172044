//! The NATS backend: core NATS for request/reply (servers of one subject
//! share the queue group `executors`) and events, JetStream for state.
//!
//! - `TGW_NONCES`: a stream over `tgw.nonces.>`, one message per subject
//!   (`tgw.nonces.<aud>_<jti>`), `discard: new` per subject. Spending a
//!   nonce is publishing to its subject; a second publish, or a delete
//!   marker published there, is rejected by the server, so a used nonce can
//!   never be made usable again.
//! - `TGW_APPROVALS`, `TGW_PEOPLE`: KV buckets; updates are compare-and-set
//!   on the entry's revision.
//! - `TGW_AUDIT`: a stream over `tgw.audit`; an entry is appended with
//!   `Nats-Expected-Last-Sequence` = its `seq - 1`, so concurrent writers
//!   (the gateway and remote executors) keep one unbroken log.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{
    Backend, Bucket, BucketName, BusError, Delivery, EXECUTORS, Entry, Event, Events, LedgerError,
    Log, LogName, NonceLedger, Requests, StoreError,
};

pub const NONCES: &str = "TGW_NONCES";
/// A state operation that takes longer than this fails (closed).
const STATE_TIMEOUT: Duration = Duration::from_secs(3);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Connects and makes sure the streams and buckets exist.
pub async fn backend(url: &str) -> anyhow::Result<Backend> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .name("tgw")
        .connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))?;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(STATE_TIMEOUT);
    js.get_or_create_stream(stream::Config {
        name: NONCES.into(),
        subjects: vec!["tgw.nonces.>".into()],
        max_messages_per_subject: 1,
        discard: stream::DiscardPolicy::New,
        discard_new_per_subject: true,
        // Long after any grant (30 s) has expired.
        max_age: Duration::from_secs(24 * 3600),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating the {NONCES} stream: {e}"))?;
    let audit = LogName::Audit;
    let audit_stream = js
        .get_or_create_stream(stream::Config {
            name: audit.name().into(),
            subjects: vec![audit.subject().into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the {} stream: {e}", audit.name()))?;
    let approvals = open_bucket(&js, BucketName::Approvals).await?;
    let people = open_bucket(&js, BucketName::People).await?;
    Ok(Backend {
        approvals: Arc::new(NatsBucket { kv: approvals }),
        people: Arc::new(NatsBucket { kv: people }),
        audit: Arc::new(NatsLog {
            js: js.clone(),
            stream: audit_stream,
            subject: audit.subject(),
        }),
        nonces: Arc::new(NatsNonces { js }),
        requests: Arc::new(NatsRequests {
            client: client.clone(),
        }),
        events: Arc::new(NatsEvents { client }),
        description: format!("NATS at {url}"),
    })
}

/// Opens (creating if needed) a KV bucket. Its stream is created by hand
/// with the settings a KV bucket has: async-nats' `create_key_value` sends
/// fields that the nats-server of Debian stable (2.9) does not know.
async fn open_bucket(js: &jetstream::Context, bucket: BucketName) -> anyhow::Result<kv::Store> {
    let name = bucket.name();
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age: bucket.ttl().unwrap_or_default(),
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating the {name} bucket: {e}"))?;
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
    subject: &'static str,
}

#[async_trait]
impl Log for NatsLog {
    async fn last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self
            .stream
            .get_last_raw_message_by_subject(self.subject)
            .await
        {
            Ok(message) => Ok(Some((message.sequence, message.payload.to_vec()))),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn append(&self, seq: u64, entry: &[u8]) -> Result<(), StoreError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
            seq.saturating_sub(1).to_string().as_str(),
        );
        let payload = Bytes::copy_from_slice(entry);
        let publish = async {
            let ack = self
                .js
                .publish_with_headers(self.subject, headers, payload)
                .await?;
            ack.await
        };
        match publish.await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut entries = Vec::new();
        let mut seq = from.max(1);
        while entries.len() < limit {
            match self.stream.get_raw_message(seq).await {
                Ok(message) => entries.push((message.sequence, message.payload.to_vec())),
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(unavailable(e)),
            }
            seq += 1;
        }
        Ok(entries)
    }
}

struct NatsNonces {
    js: jetstream::Context,
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
        let subject = format!("tgw.nonces.{key}");
        let publish = async {
            let ack = self
                .js
                .publish(subject, Bytes::from_static(b"spent"))
                .await?;
            ack.await
        };
        match tokio::time::timeout(STATE_TIMEOUT, publish).await {
            Ok(Ok(_)) => Ok(()),
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

#[async_trait]
impl Requests for NatsRequests {
    async fn request(
        &self,
        subject: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let request = async_nats::Request::new()
            .payload(Bytes::from(payload))
            .timeout(Some(timeout));
        let reply = self
            .client
            .send_request(subject.to_owned(), request)
            .await
            .map_err(|e| match e.kind() {
                async_nats::RequestErrorKind::NoResponders => {
                    BusError::NoResponders(subject.to_owned())
                }
                async_nats::RequestErrorKind::TimedOut => BusError::Timeout(timeout),
                _ => BusError::Unavailable(e.to_string()),
            })?;
        Ok(reply.payload.to_vec())
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
                let client = client.clone();
                let reply = move |answer: Vec<u8>| {
                    tokio::spawn(async move {
                        if let Err(e) = client.publish(reply_to, Bytes::from(answer)).await {
                            tracing::error!(target: "tgw::backend", "cannot send an answer: {e}");
                        }
                    });
                };
                let delivery = Delivery {
                    payload: message.payload.to_vec(),
                    reply: Box::new(reply),
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
