//! One contract, two backends: every case runs against the embedded
//! backend (SQLite, in-process channels) and against NATS (a nats-server of
//! the test's own), and must come out the same.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/nats.rs"]
mod nats;

use std::time::Duration;

use tgw::backend::{
    Backend, BucketName, BusError, Entry, LedgerError, LogName, StoreError, exec_subject,
};

/// Runs `$case(&backend)` on each backend, as one test per backend.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let backend = tgw::backend::embedded::backend(dir.path()).unwrap();
                    super::$case(&backend).await;
                }
            )*
        }
        mod on_nats {
            $(
                #[tokio::test]
                async fn $case() {
                    let server = super::nats::NatsServer::start();
                    let backend = super::nats::backend(&server.url).await;
                    super::$case(&backend).await;
                }
            )*
        }
    };
}

contract!(
    a_bucket_is_compare_and_set,
    buckets_are_apart_and_list_keys_by_prefix,
    a_log_appends_only_after_its_last_entry,
    a_nonce_is_spent_once,
    a_request_reaches_one_server_and_comes_back,
    a_request_without_servers_or_answer_fails,
    events_reach_every_subscriber_of_their_subjects,
);

async fn a_bucket_is_compare_and_set(backend: &Backend) {
    let bucket = backend.bucket(BucketName::People);
    assert_eq!(bucket.get("user.ada").await, Ok(None));
    bucket.create("user.ada", b"one").await.unwrap();
    assert_eq!(
        bucket.create("user.ada", b"again").await,
        Err(StoreError::Conflict),
        "create refuses a key that exists"
    );
    let Entry { value, revision } = bucket.get("user.ada").await.unwrap().unwrap();
    assert_eq!(value, b"one");
    bucket.update("user.ada", b"two", revision).await.unwrap();
    assert_eq!(
        bucket.update("user.ada", b"stale", revision).await,
        Err(StoreError::Conflict),
        "an update at an old revision loses"
    );
    let now = bucket.get("user.ada").await.unwrap().unwrap();
    assert_eq!(now.value, b"two");
    assert!(now.revision > revision);
    assert_eq!(
        bucket.update("user.nobody", b"x", 1).await,
        Err(StoreError::Conflict),
        "nothing to update"
    );
}

async fn buckets_are_apart_and_list_keys_by_prefix(backend: &Backend) {
    let people = backend.bucket(BucketName::People);
    let approvals = backend.bucket(BucketName::Approvals);
    for key in ["user.b", "user.a", "cred.x"] {
        people.create(key, b"{}").await.unwrap();
    }
    approvals.create("user.c", b"{}").await.unwrap();
    assert_eq!(people.keys("user.").await.unwrap(), ["user.a", "user.b"]);
    assert_eq!(
        people.keys("").await.unwrap(),
        ["cred.x", "user.a", "user.b"]
    );
    assert_eq!(approvals.keys("").await.unwrap(), ["user.c"]);
    assert_eq!(approvals.get("user.a").await, Ok(None));
}

async fn a_log_appends_only_after_its_last_entry(backend: &Backend) {
    let log = backend.log(LogName::Audit);
    assert_eq!(log.last("w1").await, Ok(None));
    let first = log.append("w1", None, b"first").await.unwrap();
    let second = log.append("w1", Some(first), b"second").await.unwrap();
    assert_eq!(
        log.append("w1", Some(first), b"a rival second").await,
        Err(StoreError::Conflict),
        "another writer followed the first entry already"
    );
    assert_eq!(
        log.append("w1", None, b"a second start").await,
        Err(StoreError::Conflict)
    );
    // Another chain does not wait for the first.
    let other = log.append("w2", None, b"other").await.unwrap();
    assert!(first < second && second < other);
    let last = log.last("w1").await.unwrap().unwrap();
    assert_eq!(
        (last.position, last.bytes.as_slice()),
        (second, b"second".as_slice())
    );
    let all = log.read(1, 10).await.unwrap();
    let seen: Vec<(&str, &[u8])> = all
        .iter()
        .map(|e| (e.chain.as_str(), e.bytes.as_slice()))
        .collect();
    assert_eq!(
        seen,
        [
            ("w1", b"first".as_slice()),
            ("w1", b"second"),
            ("w2", b"other")
        ]
    );
    assert_eq!(log.read(second, 1).await.unwrap()[0].bytes, b"second");
    assert_eq!(log.read(other + 1, 10).await, Ok(vec![]));
}

async fn a_nonce_is_spent_once(backend: &Backend) {
    backend.nonces.spend("default_AAAA").await.unwrap();
    assert_eq!(
        backend.nonces.spend("default_AAAA").await,
        Err(LedgerError::AlreadyUsed)
    );
    backend.nonces.spend("other_AAAA").await.unwrap();
}

async fn a_request_reaches_one_server_and_comes_back(backend: &Backend) {
    let subject = exec_subject("contract");
    let answer = |mut deliveries: tokio::sync::mpsc::Receiver<tgw::backend::Delivery>,
                  name: &'static str| {
        tokio::spawn(async move {
            while let Some(delivery) = deliveries.recv().await {
                let mut reply = name.as_bytes().to_vec();
                reply.extend_from_slice(&delivery.payload);
                (delivery.ack)();
                (delivery.reply)(reply);
            }
        })
    };
    let a = answer(backend.requests.serve(&subject).await.unwrap(), "a:");
    let b = answer(backend.requests.serve(&subject).await.unwrap(), "b:");
    for i in 0..20 {
        let payload = format!("{i}").into_bytes();
        let reply = backend
            .requests
            .request(&subject, payload, deadlines(5000, 5000))
            .await
            .unwrap();
        let text = String::from_utf8(reply).unwrap();
        assert!(
            text == format!("a:{i}") || text == format!("b:{i}"),
            "{text}"
        );
    }
    a.abort();
    b.abort();
}

async fn a_request_without_servers_or_answer_fails(backend: &Backend) {
    let nobody = exec_subject("nobody");
    assert!(matches!(
        backend
            .requests
            .request(&nobody, b"x".to_vec(), deadlines(2000, 2000))
            .await,
        Err(BusError::NoResponders(_))
    ));
    // A server that takes requests and never acknowledges them.
    let deaf = exec_subject("deaf");
    let mut deliveries = backend.requests.serve(&deaf).await.unwrap();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some(delivery) = deliveries.recv().await {
            kept.push(delivery);
        }
    });
    assert!(matches!(
        backend
            .requests
            .request(&deaf, b"x".to_vec(), deadlines(200, 5000))
            .await,
        Err(BusError::NotAcknowledged(_))
    ));
    held.abort();
    // A server that acknowledges and then never answers (it died).
    let silent = exec_subject("silent");
    let mut deliveries = backend.requests.serve(&silent).await.unwrap();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some(delivery) = deliveries.recv().await {
            (delivery.ack)();
            kept.push(delivery.reply);
        }
    });
    assert!(matches!(
        backend
            .requests
            .request(&silent, b"x".to_vec(), deadlines(2000, 300))
            .await,
        Err(BusError::Timeout(_))
    ));
    held.abort();
}

fn deadlines(ack_ms: u64, answer_ms: u64) -> tgw::backend::Deadlines {
    tgw::backend::Deadlines {
        ack: Duration::from_millis(ack_ms),
        answer: Duration::from_millis(answer_ms),
    }
}

async fn events_reach_every_subscriber_of_their_subjects(backend: &Backend) {
    let mut all = backend.events.subscribe("tgw.events.>").await.unwrap();
    let mut one = backend
        .events
        .subscribe("tgw.events.approval")
        .await
        .unwrap();
    backend
        .events
        .publish("tgw.events.skills", b"reloaded".to_vec())
        .await
        .unwrap();
    backend
        .events
        .publish("tgw.events.approval", b"pending".to_vec())
        .await
        .unwrap();
    async fn next(
        receiver: &mut tokio::sync::mpsc::Receiver<tgw::backend::Event>,
    ) -> tgw::backend::Event {
        tokio::time::timeout(Duration::from_secs(5), receiver.recv())
            .await
            .unwrap()
            .unwrap()
    }
    assert_eq!(next(&mut all).await.payload, b"reloaded");
    assert_eq!(next(&mut all).await.payload, b"pending");
    let heard = next(&mut one).await;
    assert_eq!(
        (heard.subject.as_str(), heard.payload.as_slice()),
        ("tgw.events.approval", b"pending".as_slice())
    );
}
