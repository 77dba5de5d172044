//! The audit log as an operator checks it: `tgw audit verify` over the
//! store and over an export, catching a changed entry, a removed entry, a
//! chain cut short and an entry signed by an unknown key.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap says what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use tgw::audit::{AuditEntry, entry_hash, signed_bytes};
use tgw::gateway::GatewayConfig;
use tgw::grant::{GrantSigner, TrustedKey};
use tgw::keys::KeyStore;

fn tgw(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(args)
        .env("TGW_DATA_DIR", data)
        .env_remove("TGW_NATS")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A gateway whose data dir trusts the test keys, after two calls (each:
/// three gateway entries and one executor entry), checkpoints written.
async fn two_calls() -> (chain::Chain, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = KeyStore::new(&data);
    keys.trust(GrantSigner::from_seed(&chain::SEED).trusted_key())
        .unwrap();
    let identity = chain::identity();
    keys.trust_executor(&TrustedKey::new(identity.executor_signer().verifying_key()))
        .unwrap();
    let bus = tgw::backend::embedded::backend(&data).unwrap();
    let chain = chain::chain_with(dir, bus, GatewayConfig::default()).await;
    for _ in 0..2 {
        let result = chain
            .gateway
            .propose(chain::request("read_file", json!({"path": "report.txt"})))
            .await;
        chain::done(result);
    }
    // Both writers write their checkpoints shortly after appending.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    (chain, data)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write(path: &Path, lines: &[Value]) {
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

fn refused(data: &Path, file: &Path, problem: &str) {
    let out = tgw(data, &["audit", "verify", "--file", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(problem),
        "expected {problem:?} in {}",
        text(&out)
    );
}

fn gateway_entries(lines: &[Value]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l["entry"]["writer"]
                .as_str()
                .is_some_and(|w| w.starts_with("gateway."))
        })
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_changed_removed_cut_and_foreign_entries_and_accepts_an_export() {
    let (_chain, data) = two_calls().await;
    let ok = tgw(&data, &["audit", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("The audit log is intact: 8 entries in 2 chains."),
        "{}",
        text(&ok)
    );

    let export = data.join("audit.jsonl");
    let out = tgw(
        &data,
        &["audit", "export", "--out", export.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    let offline = tgw(
        &data,
        &["audit", "verify", "--file", export.to_str().unwrap()],
    );
    assert!(offline.status.success(), "{}", text(&offline));
    let original = lines(&export);
    assert_eq!(
        original
            .iter()
            .filter(|l| l.get("checkpoint").is_some())
            .count(),
        2,
        "one checkpoint per chain"
    );
    let gateway = gateway_entries(&original);
    assert_eq!(gateway.len(), 6);
    let edited = data.join("edited.jsonl");

    // A changed entry: the decision now says deny.
    let mut changed = original.clone();
    changed[gateway[1]]["entry"]["detail"]["verdict"] = json!("deny");
    write(&edited, &changed);
    refused(
        &data,
        &edited,
        "entry 2: its contents do not match its hash (it was changed)",
    );

    // A removed entry.
    let mut removed = original.clone();
    removed.remove(gateway[2]);
    write(&edited, &removed);
    refused(&data, &edited, "entry 3 is missing or out of place");

    // The chain cut short: its last two entries gone, links all intact.
    let mut cut = original.clone();
    cut.remove(gateway[5]);
    cut.remove(gateway[4]);
    write(&edited, &cut);
    refused(
        &data,
        &edited,
        "it ends at entry 4, but its writer signed a checkpoint at entry 6",
    );

    // An entry that continues the chain, signed by a key nobody trusts.
    let mut forged = original.clone();
    let last: AuditEntry = serde_json::from_value(original[gateway[5]]["entry"].clone()).unwrap();
    let stranger = tgw::jws::JwsSigner::from_seed(&[77; 32]);
    let mut entry = AuditEntry {
        seq: last.seq + 1,
        prev: last.hash.clone(),
        detail: json!({"forged": true}),
        kid: stranger.kid().to_owned(),
        ..last
    };
    entry.hash = entry_hash(&entry);
    entry.sig = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(stranger.sign_raw(&signed_bytes(&entry.hash)))
    };
    forged.insert(gateway[5] + 1, json!({ "entry": entry }));
    write(&edited, &forged);
    refused(&data, &edited, "which is not trusted for this chain");

    // In the store itself: someone edits the decision in the database.
    let db = rusqlite::Connection::open(data.join("state.db")).unwrap();
    let rows = db
        .execute(
            "UPDATE chains SET entry = CAST(replace(CAST(entry AS TEXT), '\"verdict\":\"allow\"', '\"verdict\":\"deny\"') AS BLOB) \
             WHERE position = (SELECT min(position) FROM chains WHERE CAST(entry AS TEXT) LIKE '%\"kind\":\"decision\"%')",
            [],
        )
        .unwrap();
    assert_eq!(rows, 1);
    let broken = tgw(&data, &["audit", "verify"]);
    assert!(!broken.status.success());
    assert!(
        text(&broken).contains("entry 2: its contents do not match its hash (it was changed)"),
        "{}",
        text(&broken)
    );
}
