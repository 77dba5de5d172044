//! An attacker on an open NATS server: a plain async-nats client with no
//! tgw credentials, making the attacks the bus must not fall to. Each
//! asserts that the tool did not run (or no forged result reached the
//! caller), and that the audit log names the reason. The signatures alone
//! stop these; `nats_permissions.rs` shows the shipped configuration
//! refusing the same client at the door.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;
#[path = "common/nats.rs"]
mod nats;

use std::time::Duration;

use async_nats::jetstream;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tgw::audit::{AuditEntry, AuditKind};
use tgw::gateway::{CallResult, GatewayConfig};
use tgw::refusal::RefusalCode;

struct Attack {
    chain: chain::Chain,
    js: jetstream::Context,
    client: async_nats::Client,
    url: String,
}

/// A gateway with its executor on a NATS server of its own, and an
/// anonymous client on the same server.
async fn attack() -> Attack {
    attack_with(|_| {}).await
}

/// [`attack`], with the skills `more` adds to the gateway's folder.
async fn attack_with(more: impl FnOnce(&std::path::Path)) -> Attack {
    let server = nats::NatsServer::start();
    let url = server.url.clone();
    let bus = nats::backend(&url).await;
    let mut chain = chain::chain_in(
        tempfile::tempdir().unwrap(),
        bus,
        GatewayConfig::default(),
        "default.toml",
        more,
    )
    .await;
    chain.guard = Some(Box::new(std::sync::Mutex::new(server)));
    let client = async_nats::connect(&url).await.unwrap();
    Attack {
        chain,
        js: jetstream::new(client.clone()),
        client,
        url,
    }
}

/// The payload of a sealed record, as anyone reading the bucket sees it.
fn unsealed(stored: &[u8]) -> Value {
    let token = std::str::from_utf8(stored).unwrap();
    let payload: Value =
        serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    serde_json::from_slice(&B64.decode(payload["value"].as_str().unwrap()).unwrap()).unwrap()
}

/// Waits (a few seconds at most) for an audit entry of `kind` whose detail
/// matches `wanted`.
async fn audited(chain: &chain::Chain, kind: AuditKind, wanted: impl Fn(&AuditEntry) -> bool) {
    for _ in 0..100 {
        let entries = chain.audit.read(1, 100_000).await.unwrap();
        if entries.iter().any(|e| e.kind == kind && wanted(e)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {kind} entry as expected in the audit log");
}

/// Proposes a write (it waits for a human), lets `forge` replace its
/// pending approval record in the bucket, given the key and the record as
/// read there, and returns the key and how the call ended.
async fn forged_approval(
    a: &Attack,
    forge: impl FnOnce(&str, Value) -> Bytes,
) -> (String, CallResult) {
    let gateway = a.chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request(
                "write_file",
                json!({"path": "marker.txt", "content": "pwned"}),
            ))
            .await
    });
    let kv = a.js.get_key_value("TGW_APPROVALS").await.unwrap();
    let key = loop {
        if let Some(key) = kv.keys().await.unwrap().next().await {
            break key.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let record = unsealed(&kv.get(&key).await.unwrap().unwrap());
    kv.put(&key, forge(&key, record)).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    (key, result)
}

/// `record` made "approved" by `by` with junk passkey evidence for
/// `credential`.
fn approved(mut record: Value, by: &str, credential: &str) -> Value {
    record["state"] = json!({
        "state": "approved", "by": by, "at": 1,
        "evidence": {"credential_id": credential, "nonce": "AAAA", "authenticator_data": "AAAA",
                     "client_data_json": "AAAA", "signature": "AAAA"}
    });
    record
}

/// `record` sealed as `version` of `key` by `signer`, as a gateway seals.
fn sealed_by(signer: &tgw::jws::JwsSigner, key: &str, version: u64, record: &Value) -> Bytes {
    Bytes::from(signer.sign(
        &tgw::backend::sealed::TOKEN_TYPE,
        &json!({"bucket": "TGW_APPROVALS", "key": key, "version": version,
                "value": B64.encode(record.to_string())}),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_approval_rewritten_as_approved_runs_nothing() {
    let a = attack().await;
    // The record as it was, made "approved" with junk evidence, written
    // back as plain JSON: what the gateway's one-second look trusted.
    let (key, result) = forged_approval(&a, |_, record| {
        Bytes::from(approved(record, "alice", "AAAA").to_string())
    })
    .await;
    let refusal = result.refusal().expect("the call is refused");
    assert_eq!(refusal.code(), RefusalCode::RecordTampered, "{refusal:?}");
    assert!(!a.chain.files.join("marker.txt").exists(), "the tool ran");
    audited(&a.chain, AuditKind::RecordTampered, |e| {
        e.detail["bucket"] == "TGW_APPROVALS" && e.detail["key"] == key.as_str()
    })
    .await;
    audited(&a.chain, AuditKind::CallRefused, |e| {
        e.detail["code"] == "record-tampered"
    })
    .await;
    let entries = a.chain.audit.read(1, 1000).await.unwrap();
    assert!(
        !entries.iter().any(|e| e.kind == AuditKind::Grant),
        "no grant was signed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_resealed_with_a_key_of_the_attackers_own_runs_nothing() {
    let a = attack().await;
    let stranger = tgw::jws::JwsSigner::from_seed(&[66; 32]);
    let (_, result) = forged_approval(&a, |key, record| {
        sealed_by(&stranger, key, 99, &approved(record, "alice", "AAAA"))
    })
    .await;
    assert_eq!(
        result.refusal().map(tgw::refusal::Refusal::code),
        Some(RefusalCode::RecordTampered),
        "{result:?}"
    );
    assert!(!a.chain.files.join("marker.txt").exists(), "the tool ran");
    audited(&a.chain, AuditKind::RecordTampered, |e| {
        e.detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains("unknown signing key"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_forged_in_the_executors_queue_group_never_reaches_the_caller() {
    let a = attack().await;
    let mut requests = a
        .client
        .queue_subscribe("tgw.exec.default", "executors".into())
        .await
        .unwrap();
    a.client.flush().await.unwrap();
    let forger = a.client.clone();
    let forging = tokio::spawn(async move {
        let mut forged = 0;
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                forger
                    .publish(
                        reply,
                        r#"{"outcome":"done","output":"{\"hijacked\":true}"}"#.into(),
                    )
                    .await
                    .unwrap();
                forged += 1;
            }
        }
        forged
    });
    let mut refused = 0;
    for _ in 0..30 {
        let result = a
            .chain
            .gateway
            .propose(chain::request("list_dir", json!({"path": "."})))
            .await;
        match result {
            CallResult::Done { output, .. } => {
                assert!(
                    !output.contains("hijacked"),
                    "a forged result reached the caller"
                );
            }
            CallResult::Refused(refusal) => {
                assert_eq!(
                    refusal.code(),
                    RefusalCode::ForgedExecutorReply,
                    "{refusal:?}"
                );
                assert!(refusal.as_reason().starts_with("forged executor reply"));
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    forging.abort();
    assert!(refused > 0, "the forger's queue member was never picked");
    audited(&a.chain, AuditKind::ReplyForged, |e| {
        e.detail["answer"]
            .as_str()
            .is_some_and(|answer| answer.contains("hijacked"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nonce_ledger_cannot_be_purged_and_a_recreated_one_stops_everything() {
    let a = attack().await;
    let mut nonces = a.js.get_stream("TGW_NONCES").await.unwrap();
    assert!(nonces.purge().await.is_err(), "the purge was accepted");
    assert!(
        a.js.get_stream("TGW_AUDIT")
            .await
            .unwrap()
            .purge()
            .await
            .is_err(),
        "the audit purge was accepted"
    );
    let ran = a
        .chain
        .gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    chain::done(ran);

    // Deleted and made again, empty, with the same settings: on an open
    // server nothing stops this, so the deployment must notice.
    let config = nonces.info().await.unwrap().config.clone();
    a.js.delete_stream("TGW_NONCES").await.unwrap();
    a.js.create_stream(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let result = a
        .chain
        .gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    assert_eq!(
        result.refusal().map(tgw::refusal::Refusal::code),
        Some(RefusalCode::LedgerUnavailable),
        "{result:?}"
    );
    audited(&a.chain, AuditKind::ExecutionRefused, |e| {
        e.detail["code"] == "ledger-unavailable"
    })
    .await;
    let entries = a.chain.audit.read(1, 1000).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind == AuditKind::ExecutionDone)
            .count(),
        1,
        "only the call before the stream was replaced ran"
    );

    // A gateway starting now refuses the recreated stream.
    let fresh = tgw::backend::nats::backend(
        &tgw::backend::nats::NatsConfig::url(&a.url),
        tgw::backend::nats::Opener::Gateway,
    )
    .await
    .unwrap();
    let (sealed, _) = fresh.seal(&tgw::backend::sealed::Sealer::reader(
        chain::identity().trusted,
    ));
    let refused = tgw::app::check_nonce_ledger(&sealed, &tgw::backend::nats::Opener::Gateway)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("TGW_NONCES is not the stream this deployment recorded"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_people_bucket_holds_no_key_and_believes_no_forged_or_replayed_person() {
    let a = attack().await;
    // Some OAuth and people state to look at.
    let _ = tgw::oauth::token::signer(&a.chain.app.oauth).await.unwrap();
    a.chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    let kv = a.js.get_key_value("TGW_PEOPLE").await.unwrap();
    let mut keys = Vec::new();
    let mut listing = kv.keys().await.unwrap();
    while let Some(key) = listing.next().await {
        keys.push(key.unwrap());
    }
    assert!(keys.iter().any(|k| k == "user.bob"), "{keys:?}");
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("oauth.key") || k.contains("signing")),
        "key material in the bus store: {keys:?}"
    );

    // An admin of the attacker's own, with a passkey of their own.
    let user =
        json!({"name": "mallory", "role": "admin", "groups": [], "disabled": false, "created": 1});
    kv.put("user.mallory", Bytes::from(user.to_string()))
        .await
        .unwrap();
    assert_eq!(a.chain.people.user("mallory").await.unwrap(), None);
    audited(&a.chain, AuditKind::RecordTampered, |e| {
        e.detail["key"] == "user.mallory"
    })
    .await;

    // Bob, disabled; his record from before, replayed over it.
    let before = kv.get("user.bob").await.unwrap().unwrap();
    a.chain.people.disable("bob").await.unwrap();
    assert!(a.chain.people.user("bob").await.unwrap().unwrap().disabled);
    kv.put("user.bob", before).await.unwrap();
    assert_eq!(
        a.chain.people.user("bob").await.unwrap(),
        None,
        "an older signed record replayed over a newer one is refused"
    );
    audited(&a.chain, AuditKind::RecordTampered, |e| {
        e.detail["key"] == "user.bob"
            && e.detail["reason"]
                .as_str()
                .is_some_and(|r| r.contains("replayed"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_entry_appended_by_the_attacker_is_caught() {
    let a = attack().await;
    let ran = a
        .chain
        .gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    chain::done(ran);
    assert!(a.chain.audit.verify().await.unwrap().intact());
    let entries = a.chain.audit.read(1, 100).await.unwrap();
    let last = entries
        .iter()
        .rev()
        .find(|e| e.writer.starts_with("gateway."))
        .unwrap()
        .clone();
    // The chain continued by hand: right sequence, right link, a correct
    // hash, and a signature of the attacker's own key.
    let stranger = tgw::jws::JwsSigner::from_seed(&[67; 32]);
    let mut entry = AuditEntry {
        seq: last.seq + 1,
        prev: last.hash.clone(),
        detail: json!({"note": "nothing happened here"}),
        kid: stranger.kid().to_owned(),
        ..last.clone()
    };
    entry.hash = tgw::audit::entry_hash(&entry);
    entry.sig = B64.encode(stranger.sign_raw(&tgw::audit::signed_bytes(&entry.hash)));
    a.js.publish(
        format!("tgw.audit.{}", last.writer),
        serde_json::to_vec(&entry).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let report = a.chain.audit.verify().await.unwrap();
    assert!(!report.intact());
    assert!(
        report.problems.iter().any(|p| p
            .to_string()
            .contains("which is not trusted for this chain")),
        "{:?}",
        report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn even_an_approval_sealed_with_the_gateways_key_needs_a_humans_signature() {
    // Someone who holds the gateway's key (or a bug that writes a decision
    // without a ceremony) still cannot approve: the passkey evidence is
    // checked before any grant is signed.
    let a = attack().await;
    a.chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    let credential = a.chain.people.credentials_of("bob").await.unwrap()[0]
        .id
        .clone();
    let gateway_key = tgw::jws::JwsSigner::from_seed(&chain::SEED);
    let (_, result) = forged_approval(&a, |key, record| {
        sealed_by(&gateway_key, key, 2, &approved(record, "bob", &credential))
    })
    .await;
    assert_eq!(
        result.refusal().map(tgw::refusal::Refusal::code),
        Some(RefusalCode::NoHumanApproval),
        "{result:?}"
    );
    assert!(!a.chain.files.join("marker.txt").exists(), "the tool ran");
    audited(&a.chain, AuditKind::RecordTampered, |e| {
        e.detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains("passkey evidence does not hold"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_of_the_served_skills_is_believed_by_nobody_and_written_over() {
    use tgw::registry::served;
    let a = attack().await;
    let people = a.chain.app.backend.bucket(tgw::backend::BucketName::People);
    let published = served::read(&*people).await.unwrap().unwrap();
    let names: Vec<&str> = published.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["files"], "the gateway wrote what it serves");

    // The attacker names a component of their own, unsealed.
    let mut forged = serde_json::to_value(&published).unwrap();
    forged["skills"][0]["component"] = json!(format!("sha256:{}", "0".repeat(64)));
    let kv = a.js.get_key_value("TGW_PEOPLE").await.unwrap();
    kv.put(served::KEY, Bytes::from(forged.to_string()))
        .await
        .unwrap();
    assert_eq!(served::read(&*people).await.unwrap(), None);
    audited(&a.chain, AuditKind::RecordTampered, |e| {
        e.detail["key"] == served::KEY
    })
    .await;

    // The gateway's next write replaces the forgery (a sealed write over
    // a value it cannot believe).
    let blobs = a.chain.app.backend.blobs.clone().unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        served::publish(&a.chain.app.skills.current(), &blobs, &*people),
    )
    .await
    .expect("the write over a forged record ended")
    .unwrap();
    assert_eq!(served::read(&*people).await.unwrap(), Some(published));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_replaced_in_the_object_store_are_refused_by_digest() {
    let a = attack().await;
    let blobs = a.chain.app.backend.blobs.clone().unwrap();
    let skill = a.chain.skills.get("files").unwrap();
    let digest = skill.component.digest.clone();
    assert_eq!(
        &blobs.get(&digest).await.unwrap()[..],
        &skill.component_bytes[..]
    );

    // Anyone on an open bus can write an object of that name.
    let store = a.js.get_object_store("TGW_SKILLS").await.unwrap();
    store
        .put(
            format!("sha256-{}", digest.hex()).as_str(),
            &mut &b"(module)"[..],
        )
        .await
        .unwrap();
    let refused = blobs.get(&digest).await.unwrap_err();
    assert!(
        matches!(refused, tgw::backend::BlobError::Mismatch { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("holds other bytes"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_forged_replayed_or_altered_on_the_bus_never_reaches_the_caller() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let a = attack_with(|skills| {
        let (from, to) = (
            repo.join("tests/conformance/skills/diagnostics"),
            skills.join("diagnostics"),
        );
        std::fs::create_dir_all(&to).unwrap();
        for file in ["skill.toml", "diagnostics.wasm"] {
            std::fs::copy(from.join(file), to.join(file)).unwrap();
        }
    })
    .await;
    // The attacker hears each genuine update and answers it with three
    // of its own: the same again, one signed with its own key, and one
    // whose payload it rewrote under the executor's signature.
    let mut heard = a.client.subscribe("tgw.updates.>").await.unwrap();
    a.client.flush().await.unwrap();
    let attacker = a.client.clone();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = sent.clone();
    let forging = tokio::spawn(async move {
        let stranger = tgw::jws::JwsSigner::from_seed(&[9; 32]);
        while let Some(message) = heard.next().await {
            let token = String::from_utf8_lossy(&message.payload).into_owned();
            let parts: Vec<&str> = token.split('.').collect();
            let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
            claims["seq"] = json!(1000);
            claims["update"]["message"] = json!("hijacked");
            let forged =
                tgw::update::sign(&stranger, &serde_json::from_value(claims.clone()).unwrap());
            let rewritten = format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(claims.to_string()),
                parts[2]
            );
            for payload in [token.clone(), forged, rewritten] {
                attacker
                    .publish(message.subject.clone(), payload.into())
                    .await
                    .unwrap();
            }
            attacker.flush().await.unwrap();
            counted.fetch_add(3, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let watch = tgw::gateway::Watch {
        pending: None,
        updates: Some(tx),
        receipt: None,
        task: false,
    };
    let result = a
        .chain
        .gateway
        .propose_watched(
            chain::request_to("diagnostics", "progress", json!({})),
            watch,
        )
        .await;
    assert!(matches!(result, CallResult::Done { .. }), "{result:?}");
    forging.abort();
    let mut told = Vec::new();
    while let Ok(update) = rx.try_recv() {
        told.push(update);
    }
    let messages: Vec<String> = told
        .iter()
        .map(|u| match u {
            tgw::runtime::CallUpdate::Progress { message, .. } => {
                message.clone().unwrap_or_default()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(messages, ["0% done", "50% done", "100% done"], "{told:?}");
    assert!(
        sent.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the attacker heard no update to answer"
    );
}
