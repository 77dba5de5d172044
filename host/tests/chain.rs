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

/// A chain on the embedded bus under `policy`, with the skills `more` adds.
async fn embedded_in(policy: &str, more: impl FnOnce(&std::path::Path)) -> chain::Chain {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    chain::chain_in(dir, bus, GatewayConfig::default(), policy, more).await
}

#[tokio::test]
async fn an_unreachable_ledger_fails_closed() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    // Break the real ledger: its table is gone.
    let db = rusqlite::Connection::open(chain.dir.path().join("state.db")).unwrap();
    db.execute_batch("DROP TABLE nonces").unwrap();
    refused_by_executor(&chain, token, &args, RefusalCode::LedgerUnavailable).await;
}

#[tokio::test]
async fn a_verifier_component_that_traps_or_disagrees_stops_the_call() {
    let chain = backend_default().await;
    let odd = std::fs::read(tgw::guests::GUEST_ODD_VERIFIER).unwrap();
    // In pool `trap` the component panics inside the sandbox.
    let trapping = chain.executor_with("trap".parse().unwrap(), &odd).await;
    let (token, args) = grant(&chain, "write_file", WRITE, |c| c["aud"] = json!("trap"));
    refused_by(&chain, &trapping, token, &args, RefusalCode::VerifierFailed).await;
    // Elsewhere it vouches for claims of its own: the host's check of the
    // same grant gives others, and the executor believes neither.
    let disagreeing = chain.executor_with(tgw::ids::Pool::default(), &odd).await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    refused_by(
        &chain,
        &disagreeing,
        token.clone(),
        &args,
        RefusalCode::VerifierDisagrees,
    )
    .await;
    // The same grant is good: the built-in verifier runs it, since the
    // refusals spent nothing.
    let reply = chain
        .executor
        .execute(&ExecRequest {
            call: "good".into(),
            jti: chain::jti_of(&token),
            grant: token,
            args,
        })
        .await
        .reply;
    assert!(
        matches!(reply, tgw::executor::ExecReply::Done { .. }),
        "{reply:?}"
    );
    assert!(chain.files.join("marker.txt").exists());
}

/// Adds the hostile test guest as the skill `hostile`: a read-only folder
/// `/ro` and one HTTP host, `allow`.
fn hostile_skill(skills: &std::path::Path, allow: &str) {
    let dir = skills.join("hostile");
    std::fs::create_dir_all(dir.join("ro")).unwrap();
    std::fs::write(dir.join("ro/kept.txt"), "kept").unwrap();
    std::fs::copy(tgw::guests::GUEST_HOSTILE, dir.join("hostile.wasm")).unwrap();
    let manifest = format!(
        "name = \"hostile\"\nversion = \"0.1.0\"\ncomponent = \"hostile.wasm\"\n\n[capabilities]\n\
         dirs = [{{ host = \"ro\", guest = \"/ro\", access = \"read\" }}]\nhttp = [{allow:?}]\n"
    );
    std::fs::write(dir.join("skill.toml"), manifest).unwrap();
}

/// Proposes `call`, approves it as `name` with `key` when it waits, and
/// returns how it ended.
async fn approved(
    chain: &chain::Chain,
    call: tgw::gateway::CallRequest,
    name: &str,
    key: &mut tgw::webauthn::software::SoftAuthenticator,
) -> CallResult {
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move { gateway.propose(call).await });
    let id = next_pending(&mut events).await;
    chain.approve(&id, name, key).await.unwrap();
    call.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_past_a_sandbox_cap_fails_and_the_log_names_the_cap() {
    // Connections are taken and never answered: the request must not get
    // that far.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let chain = embedded_in("default.toml", |skills| {
        hostile_skill(skills, &format!("http://{addr}"));
    })
    .await;
    let mut key = chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    let cases = [
        (
            "hoard_handles",
            json!({"path": "/ro/kept.txt"}),
            "resource limit exceeded: the tool held more than 4096 open handles",
        ),
        (
            "many_headers",
            json!({"url": format!("http://{addr}/"), "count": 65}),
            "headers; a skill may send at most 64",
        ),
    ];
    for (tool, args, cap) in cases {
        let result = approved(
            &chain,
            chain::request_to("hostile", tool, args),
            "bob",
            &mut key,
        )
        .await;
        match result {
            CallResult::Failed { reason } => assert!(reason.contains(cap), "{tool}: {reason}"),
            other => panic!("{tool}: expected the tool to fail at its cap, got {other:?}"),
        }
        let entries = chain.audit.entries().await.unwrap();
        let failed: Vec<&Value> = entries
            .iter()
            .filter(|e| e.kind == AuditKind::ExecutionFailed)
            .map(|e| &e.detail)
            .collect();
        assert!(
            failed
                .iter()
                .any(|d| d["reason"].as_str().is_some_and(|r| r.contains(cap))),
            "{tool}: no audit entry names the cap: {failed:?}"
        );
    }
    chain::verified(&chain.audit).await;
}

#[tokio::test]
async fn a_negative_or_non_numeric_amount_is_denied_and_the_log_says_why() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let chain = embedded_in("examples/payments.toml", |skills| {
        let invoices = skills.join("invoices");
        std::fs::create_dir_all(&invoices).unwrap();
        for file in ["skill.toml", "invoices.wasm"] {
            std::fs::copy(repo.join("skills/invoices").join(file), invoices.join(file)).unwrap();
        }
    })
    .await;
    let create = |amount: Value| {
        chain::request_to(
            "invoices",
            "create_invoice",
            json!({"customer": "c", "amount_cents": amount, "currency": "EUR"}),
        )
    };
    for (amount, why) in [
        (json!(-5), "a negative amount is refused"),
        (json!("lots"), "not a number"),
    ] {
        let (code, reason) = match chain.gateway.propose(create(amount.clone())).await {
            CallResult::Refused(refusal) => (refusal.code(), refusal.as_reason().to_owned()),
            other => panic!("{amount}: expected a refusal, got {other:?}"),
        };
        assert_eq!(code, RefusalCode::PolicyDenied, "{reason}");
        assert!(
            reason.contains("big invoices need a human") && reason.contains(why),
            "{reason}"
        );
        let refused: Vec<Value> = audit_kinds(&chain)
            .await
            .into_iter()
            .filter(|(k, _)| k == "call.refused")
            .map(|(_, d)| d)
            .collect();
        assert!(
            refused.iter().any(|d| d["code"] == "policy-denied"
                && d["reason"].as_str().is_some_and(|r| r.contains(why))),
            "{amount}: no audit entry says why: {refused:?}"
        );
    }
    // Nothing was sent to an executor.
    let kinds = kinds_of(&chain).await;
    assert!(
        !kinds
            .iter()
            .any(|k| k == "grant" || k.starts_with("execution")),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_says_how_risky_a_tool_is_and_may_only_raise_it() {
    // The component says `read_file` is a read; the operator's manifest
    // says destructive.
    let chain = embedded_in("default.toml", |skills| {
        let manifest = skills.join("files/skill.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let raised = text.replace(
            "[tools.read_file]\nrisk = \"read\"",
            "[tools.read_file]\nrisk = \"destructive\"",
        );
        assert_ne!(text, raised);
        std::fs::write(&manifest, raised).unwrap();
    })
    .await;
    let files = chain.skills.get("files").unwrap();
    assert_eq!(
        files.tool("read_file").unwrap().risk,
        tgw::runtime::Risk::Destructive
    );
    // Policy sees it destructive: the call waits for a human, and runs once
    // one approves with a passkey (the executor's floor for destructive
    // tools lets it through only with the approval in its grant).
    let mut bob = chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    let result = approved(
        &chain,
        request("read_file", json!({"path": "report.txt"})),
        "bob",
        &mut bob,
    )
    .await;
    assert_eq!(done(result)["content"], "quarterly numbers\n");
    let kinds = kinds_of(&chain).await;
    assert_eq!(
        kinds,
        [
            "proposal",
            "decision",
            "approval.pending",
            "approval.decided",
            "grant",
            "execution.done"
        ]
    );
    // A grant without an approval, as a policy that allowed it would sign,
    // stops at the executor's floor.
    let (token, args) = grant(&chain, "read_file", r#"{"path":"report.txt"}"#, |_| {});
    refused_by_executor(&chain, token, &args, RefusalCode::NoHumanApproval).await;

    // The other way round: the manifest calls the component's destructive
    // tool a read, and the skill does not load.
    let dir = tempfile::tempdir().unwrap();
    let (skills, _) = chain::workspace(dir.path(), "default.toml");
    let manifest = skills.join("files/skill.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            "[tools.delete_file]\nrisk = \"destructive\"",
            "[tools.delete_file]\nrisk = \"read\"",
        ),
    )
    .unwrap();
    let secrets = tgw::secrets::SecretStore::new(dir.path());
    let set = chain::local_skills(&chain.runtime, &skills, &secrets).await;
    assert!(
        set.get("files").is_none(),
        "a skill that lowers a tool's risk was served"
    );
    assert_eq!(
        set.refused(),
        [
            "skill files left out: tool delete_file: the manifest says read, but the component's publisher says it is destructive; a manifest may make a tool riskier, never less risky"
        ]
    );
    // And a tool the manifest does not list is destructive.
    std::fs::write(
        &manifest,
        text.replace("[tools.list_dir]\nrisk = \"read\"\n", ""),
    )
    .unwrap();
    let set = chain::local_skills(&chain.runtime, &skills, &secrets).await;
    assert_eq!(
        set.get("files").unwrap().tool("list_dir").unwrap().risk,
        tgw::runtime::Risk::Destructive
    );
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
    let live = tgw::registry::LiveSkills::load(
        runtime.clone(),
        &skills_dir,
        secrets,
        tgw::registry::SkillTrust::local_builds(),
    )
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
    let gateway_key_kid = gateway_key.kid.clone();
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

    // The log has what the gateway trusted as it started, and each change
    // it took up.
    let changes: Vec<Value> = chain
        .audit
        .entries()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.kind == AuditKind::TrustChanged
                && e.detail["keys"].as_str().unwrap().contains("trusted.json")
        })
        .map(|e| e.detail)
        .collect();
    let kid = json!([gateway_key_kid]);
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(
        (&changes[0]["start"], &changes[0]["trusted"]),
        (&json!(true), &kid),
        "{changes:?}"
    );
    assert_eq!(
        (&changes[1]["removed"], &changes[1]["added"]),
        (&kid, &json!([])),
        "{changes:?}"
    );
    assert_eq!(
        (&changes[2]["removed"], &changes[2]["added"]),
        (&json!([]), &kid),
        "{changes:?}"
    );
    chain::verified(&chain.audit).await;
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
