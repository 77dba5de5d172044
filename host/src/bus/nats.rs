//! The NATS backend: core NATS request/reply for execution requests
//! (executors of a pool share the queue group `executors` on
//! `tgw.exec.<pool>`), JetStream for state.
//!
//! - `TGW_NONCES`: a stream over `tgw.nonces.>`, one message per subject
//!   (`tgw.nonces.<aud>_<jti>`), `discard: new` per subject. Spending a
//!   nonce is publishing to its subject; a second publish, or a delete
//!   marker published there, is rejected by the server, so a used nonce can
//!   never be made usable again.
//! - `TGW_APPROVALS`: a KV bucket; updates are compare-and-set on the
//!   entry's revision.
//! - `TGW_AUDIT`: a stream over `tgw.audit`; an entry is appended with
//!   `Nats-Expected-Last-Sequence` = its `seq - 1`, so concurrent writers
//!   (the gateway and remote executors) keep one unbroken chain.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tgw_proto::refusal::{Refusal, RefusalCode};
use tokio::sync::mpsc;

use super::{
    ApprovalStore, AuditStore, Bus, BusError, Delivery, ExecReply, ExecRequest, ExecTransport,
    LedgerError, NonceLedger, StoreError, exec_subject,
};
use crate::approval::ApprovalRecord;
use crate::audit::AuditEntry;

pub const NONCES: &str = "TGW_NONCES";
pub const APPROVALS: &str = "TGW_APPROVALS";
pub const AUDIT: &str = "TGW_AUDIT";
pub const PEOPLE: &str = "TGW_PEOPLE";
const AUDIT_SUBJECT: &str = "tgw.audit";
const QUEUE_GROUP: &str = "executors";
/// A state operation that takes longer than this fails (closed).
const STATE_TIMEOUT: Duration = Duration::from_secs(3);

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Connects and makes sure the streams and bucket exist.
pub async fn bus(url: &str) -> anyhow::Result<Bus> {
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
    let audit = js
        .get_or_create_stream(stream::Config {
            name: AUDIT.into(),
            subjects: vec![AUDIT_SUBJECT.into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("creating the {AUDIT} stream: {e}"))?;
    let approvals = open_bucket(&js, APPROVALS).await?;
    let people = open_bucket(&js, PEOPLE).await?;
    Ok(Bus {
        exec: Arc::new(NatsExec { client }),
        nonces: Arc::new(NatsNonces { js: js.clone() }),
        approvals: Arc::new(NatsApprovals { kv: approvals }),
        audit: Arc::new(NatsAudit { js, stream: audit }),
        people: Arc::new(NatsKv { kv: people }),
    })
}

/// Opens (creating if needed) a KV bucket. Its stream is created by hand
/// with the settings a KV bucket has: async-nats' `create_key_value` sends
/// fields that the nats-server of Debian stable (2.9) does not know.
async fn open_bucket(js: &jetstream::Context, bucket: &str) -> anyhow::Result<kv::Store> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating the {bucket} bucket: {e}"))?;
    js.get_key_value(bucket)
        .await
        .map_err(|e| anyhow::anyhow!("opening the {bucket} bucket: {e}"))
}

struct NatsKv {
    kv: kv::Store,
}

#[async_trait]
impl super::KvStore for NatsKv {
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        match self.kv.entry(key).await.map_err(unavailable)? {
            Some(entry) if entry.operation == kv::Operation::Put => {
                Ok(Some((entry.value.to_vec(), entry.revision)))
            }
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

struct NatsExec {
    client: async_nats::Client,
}

impl NatsExec {
    async fn round_trip(&self) -> Result<(), BusError> {
        let unavailable = |e: &dyn std::fmt::Display| BusError::Unavailable(e.to_string());
        let probe = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(probe.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        self.client
            .publish(probe, Bytes::new())
            .await
            .map_err(|e| unavailable(&e))?;
        match tokio::time::timeout(STATE_TIMEOUT, echo.next()).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(BusError::Unavailable("NATS did not answer in time".into())),
        }
    }
}

#[async_trait]
impl ExecTransport for NatsExec {
    async fn execute(
        &self,
        pool: &str,
        request: &ExecRequest,
        timeout: Duration,
    ) -> Result<ExecReply, BusError> {
        let payload = Bytes::from(serde_json::to_vec(request).expect("requests serialise"));
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(timeout));
        let reply = self
            .client
            .send_request(exec_subject(pool), request)
            .await
            .map_err(|e| match e.kind() {
                async_nats::RequestErrorKind::NoResponders => BusError::NoExecutor(pool.to_owned()),
                async_nats::RequestErrorKind::TimedOut => BusError::Timeout(timeout),
                _ => BusError::Unavailable(e.to_string()),
            })?;
        serde_json::from_slice(&reply.payload)
            .map_err(|e| BusError::Unavailable(format!("the executor's answer is unreadable: {e}")))
    }

    async fn serve(&self, pool: &str) -> Result<mpsc::Receiver<Delivery>, BusError> {
        let mut subscriber = self
            .client
            .queue_subscribe(exec_subject(pool), QUEUE_GROUP.into())
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        // The server handles one connection's commands in order: once a
        // message we publish to ourselves comes back, it has processed the
        // queue subscription too. Only then is this executor serving.
        self.round_trip().await?;
        let (deliveries, receiver) = mpsc::channel(16);
        let client = self.client.clone();
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let Some(reply_to) = message.reply.clone() else {
                    continue;
                };
                let client = client.clone();
                let answer = move |reply: ExecReply| {
                    let payload =
                        Bytes::from(serde_json::to_vec(&reply).expect("replies serialise"));
                    tokio::spawn(async move {
                        if let Err(e) = client.publish(reply_to, payload).await {
                            tracing::error!(target: "tgw::bus", "cannot send an executor's answer: {e}");
                        }
                    });
                };
                let request = match serde_json::from_slice::<ExecRequest>(&message.payload) {
                    Ok(request) => request,
                    Err(e) => {
                        answer(ExecReply::refused(Refusal::new(
                            RefusalCode::RequestUnreadable,
                            format!("the request is unreadable: {e}"),
                        )));
                        continue;
                    }
                };
                if deliveries
                    .send(Delivery {
                        request,
                        reply: Box::new(answer),
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

struct NatsNonces {
    js: jetstream::Context,
}

/// True when the server refused a publish because the subject already
/// holds its one message (JetStream error 10077).
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
    async fn spend(&self, audience: &str, jti: &str) -> Result<(), LedgerError> {
        let subject = format!("tgw.nonces.{audience}_{jti}");
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

struct NatsApprovals {
    kv: kv::Store,
}

#[async_trait]
impl ApprovalStore for NatsApprovals {
    async fn create(&self, record: &ApprovalRecord) -> Result<(), StoreError> {
        let value = Bytes::from(serde_json::to_vec(record).expect("records serialise"));
        self.kv
            .create(&record.id, value)
            .await
            .map(|_| ())
            .map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => StoreError::Conflict,
                _ => unavailable(e),
            })
    }

    async fn get(&self, id: &str) -> Result<Option<(ApprovalRecord, u64)>, StoreError> {
        let Some(entry) = self.kv.entry(id).await.map_err(unavailable)? else {
            return Ok(None);
        };
        if entry.operation != kv::Operation::Put {
            return Ok(None);
        }
        let record = serde_json::from_slice(&entry.value).map_err(unavailable)?;
        Ok(Some((record, entry.revision)))
    }

    async fn update(&self, record: &ApprovalRecord, revision: u64) -> Result<(), StoreError> {
        let value = Bytes::from(serde_json::to_vec(record).expect("records serialise"));
        self.kv
            .update(&record.id, value, revision)
            .await
            .map(|_| ())
            .map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => StoreError::Conflict,
                _ => unavailable(e),
            })
    }

    async fn list(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut keys = match self.kv.keys().await {
            Ok(keys) => keys,
            Err(e) => return Err(unavailable(e)),
        };
        let mut records = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            if let Some((record, _)) = self.get(&key).await? {
                records.push(record);
            }
        }
        records.sort_by_key(|r: &ApprovalRecord| r.created);
        Ok(records)
    }
}

struct NatsAudit {
    js: jetstream::Context,
    stream: stream::Stream,
}

#[async_trait]
impl AuditStore for NatsAudit {
    async fn last(&self) -> Result<Option<AuditEntry>, StoreError> {
        match self
            .stream
            .get_last_raw_message_by_subject(AUDIT_SUBJECT)
            .await
        {
            Ok(message) => serde_json::from_slice(&message.payload)
                .map(Some)
                .map_err(unavailable),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
            (entry.seq - 1).to_string().as_str(),
        );
        let payload = Bytes::from(serde_json::to_vec(entry).expect("entries serialise"));
        let publish = async {
            let ack = self
                .js
                .publish_with_headers(AUDIT_SUBJECT, headers, payload)
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

    async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut seq = from.max(1);
        while entries.len() < limit {
            match self.stream.get_raw_message(seq).await {
                Ok(message) => {
                    entries.push(serde_json::from_slice(&message.payload).map_err(unavailable)?)
                }
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(unavailable(e)),
            }
            seq += 1;
        }
        Ok(entries)
    }
}
