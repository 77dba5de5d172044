//! The whole chain on the embedded bus: propose → decide → approve →
//! grant → verify → execute, and the executor's refusals.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;
#[path = "common/forge.rs"]
mod forge;

use std::time::Duration;

use chain::{chain_with, done, request};
use serde_json::{Value, json};
use tgw::approval::ApprovalEvent;
use tgw::audit::AuditKind;
use tgw::executor::ExecRequest;
use tgw::gateway::{CallResult, GatewayConfig};
use tgw::refusal::{Refusal, RefusalCode};

async fn backend(config: GatewayConfig) -> chain::Chain {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    chain_with(dir, bus, config).await
}

include!("common/chain_cases.rs");

#[tokio::test]
async fn an_unreachable_ledger_fails_closed() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    // Break the real ledger: its table is gone.
    let db = rusqlite::Connection::open(chain.dir.path().join("state.db")).unwrap();
    db.execute_batch("DROP TABLE nonces").unwrap();
    refused_by_executor(&chain, token, &args, RefusalCode::LedgerUnavailable).await;
}

/// Copies the `files` skill of `skills` into the folder `name` (the same
/// skill name, another folder).
fn copy_files_skill(skills: &std::path::Path, name: &str) {
    let copy = skills.join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["skill.toml", "files.wasm"] {
        std::fs::copy(skills.join("files").join(file), copy.join(file)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_folder_with_a_taken_skill_name_is_refused_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy) = chain::workspace(dir.path(), "default.toml");
    copy_files_skill(&skills_dir, "files-copy");
    let runtime = chain::shared_runtime();
    let secrets = std::sync::Arc::new(tgw::secrets::SecretStore::new(dir.path()));
    let live = tgw::registry::LiveSkills::load(runtime.clone(), &skills_dir, secrets)
        .await
        .unwrap();
    let serving =
        |live: &tgw::registry::LiveSkills| live.current().get("files").unwrap().skill.dir.clone();
    assert_eq!(serving(&live), skills_dir.join("files"));
    let refused = live.current().refused().to_vec();
    assert_eq!(refused.len(), 1, "{refused:?}");
    for folder in ["files-copy", "files"] {
        assert!(
            refused[0].contains(&skills_dir.join(folder).display().to_string()),
            "{refused:?}"
        );
    }

    // A gateway over these skills audits the refusal.
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    let app = chain::app(
        bus,
        runtime,
        live.clone(),
        &policy,
        GatewayConfig::default(),
        true,
        dir.path(),
    )
    .await;
    // A folder that sorts first arrives later: the one serving keeps the
    // name, and the newcomer is refused and audited too.
    copy_files_skill(&skills_dir, "a-files");
    live.reload().await.unwrap();
    assert_eq!(serving(&live), skills_dir.join("files"));
    let result = app
        .gateway
        .propose(request("read_file", json!({"path": "report.txt"})))
        .await;
    assert!(done(result).to_string().contains("quarterly numbers"));
    let mut audited = Vec::new();
    for _ in 0..50 {
        audited = app
            .audit
            .entries()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AuditKind::SkillRefused)
            .map(|e| e.detail["reason"].as_str().unwrap().to_owned())
            .collect();
        if audited.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited.iter().any(|r| r.contains("a-files")), "{audited:?}");
    assert!(
        audited.iter().all(|r| r.contains("taken by the folder")),
        "{audited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusting_the_gateway_key_stops_its_grants_within_seconds() {
    let mut chain = backend(GatewayConfig::default()).await;
    let keys = tgw::keys::KeyStore::new(chain.dir.path());
    let gateway_key = tgw::grant::GrantSigner::from_seed(&chain::SEED).trusted_key();
    keys.trust(gateway_key.clone()).unwrap();
    chain.app.watch_keys(chain.dir.path());
    let read = || request("read_file", json!({"path": "report.txt"}));
    done(chain.gateway.propose(read()).await);

    // `tgw keys untrust`: the executor stops running the key's grants.
    assert!(keys.untrust(&gateway_key.kid).unwrap());
    let mut refused = None;
    for _ in 0..50 {
        match chain.gateway.propose(read()).await {
            CallResult::Refused(refusal) => {
                refused = Some(refusal);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let refusal = refused.expect("grants of an untrusted key still run");
    assert_eq!(refusal.code(), RefusalCode::GrantUnknownKey, "{refusal:?}");
    let entries = chain.audit.entries().await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.kind == AuditKind::ExecutionRefused
                && e.detail["code"] == "grant-unknown-key"),
        "the executor's refusal is not audited"
    );

    // Trusted again: it runs again.
    keys.trust(gateway_key).unwrap();
    let mut ran = false;
    for _ in 0..50 {
        if matches!(chain.gateway.propose(read()).await, CallResult::Done { .. }) {
            ran = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ran, "the key trusted again is not believed");
}

#[tokio::test]
async fn an_approval_that_cannot_be_recorded_fails_closed_and_is_audited() {
    let chain = backend_default().await;
    // The approvals cannot be written; everything else can.
    let db = rusqlite::Connection::open(chain.dir.path().join("state.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER approvals_down BEFORE INSERT ON buckets WHEN NEW.bucket = 'TGW_APPROVALS' \
         BEGIN SELECT RAISE(FAIL, 'the approvals are down'); END;",
    )
    .unwrap();
    let result = chain
        .gateway
        .propose(request("delete_file", json!({"path": "report.txt"})))
        .await;
    let refusal = result.refusal().unwrap();
    assert_eq!(refusal.code(), RefusalCode::StateUnavailable, "{refusal:?}");
    assert!(chain.files.join("report.txt").exists());
    let entries = chain.audit.entries().await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.kind == AuditKind::CallRefused && e.detail["code"] == "state-unavailable"),
        "the refusal is not audited"
    );
}
