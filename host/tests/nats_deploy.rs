//! A NATS deployment with the configuration `tgw nats config` ships: TLS,
//! one nkey per role, least privilege. The doors refuse what each role
//! lacks (the anonymous client, an executor at another pool's work or at
//! people and approvals, anyone purging or deleting a stream), and the
//! whole chain runs over it: a gateway, two executors of one pool on their
//! own keys, and the Python MCP client.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;
#[path = "common/nats.rs"]
mod nats;
#[path = "common/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use tgw::backend::nats::{NatsConfig, Opener};
use tgw::gateway::GatewayConfig;
use tgw::grant::TrustedKey;
use tgw::keys::{KeyStore, PublicKeyEntry, parse_entry};

/// A JetStream context that gives up on an unanswered request in a second
/// (a request the server refuses gets no answer).
fn js(client: &async_nats::Client) -> jetstream::Context {
    let mut js = jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(1));
    js
}

async fn connect(deployment: &nats::Deployment, identity: &str) -> async_nats::Client {
    deployment.config(identity).connect(identity).await.unwrap()
}

/// The deployment with its streams made by a gateway.
async fn deployment() -> (nats::Deployment, tgw::backend::Backend) {
    let deployment = nats::Deployment::start();
    let gateway = tgw::backend::nats::backend(&deployment.config("gateway"), Opener::Gateway)
        .await
        .unwrap();
    (deployment, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anonymous_client_and_a_plain_connection_are_refused() {
    let deployment = nats::Deployment::start();
    let anonymous = async_nats::ConnectOptions::new()
        .add_root_certificates(deployment.path("ca.pem"))
        .require_tls(true)
        .connect(&deployment.server.url)
        .await;
    assert!(anonymous.is_err(), "a client without credentials connected");
    let plain = NatsConfig {
        ca: None,
        ..deployment.config("gateway")
    };
    let plain = NatsConfig {
        url: Some(format!("nats://127.0.0.1:{}", deployment.server.port)),
        ..plain
    };
    assert!(
        plain.connect("gateway").await.is_err(),
        "a connection without TLS was accepted"
    );
    // Someone else's seed is not this user.
    let forged = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(forged.path(), nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let stranger = NatsConfig {
        nkey: Some(forged.path().to_owned()),
        ..deployment.config("gateway")
    };
    assert!(stranger.connect("gateway").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_hears_its_own_pool_only() {
    let (deployment, _gateway) = deployment().await;
    let gateway = connect(&deployment, "gateway").await;
    let executor = connect(&deployment, "executor_default").await;
    let mut own = executor
        .queue_subscribe("tgw.exec.default", "executors".into())
        .await
        .unwrap();
    let mut other = executor
        .queue_subscribe("tgw.exec.billing", "executors".into())
        .await
        .unwrap();
    executor.flush().await.unwrap();
    gateway
        .publish("tgw.exec.default", "for default".into())
        .await
        .unwrap();
    gateway
        .publish("tgw.exec.billing", "for billing".into())
        .await
        .unwrap();
    gateway.flush().await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(2), own.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(heard.payload, "for default");
    let stolen = tokio::time::timeout(Duration::from_millis(700), other.next()).await;
    assert!(
        !matches!(stolen, Ok(Some(_))),
        "an executor of pool default heard pool billing's request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_may_not_write_people_nor_read_approvals() {
    let (deployment, gateway) = deployment().await;
    let executor = js(&connect(&deployment, "executor_default").await);
    let admin =
        json!({"name": "mallory", "role": "admin", "groups": [], "disabled": false, "created": 1});
    let wrote = async {
        executor
            .publish("$KV.TGW_PEOPLE.user.mallory", admin.to_string().into())
            .await?
            .await
    }
    .await;
    assert!(wrote.is_err(), "an executor wrote to TGW_PEOPLE");
    let people = gateway.bucket(tgw::backend::BucketName::People);
    assert_eq!(people.get("user.mallory").await, Ok(None));

    let approvals = gateway.bucket(tgw::backend::BucketName::Approvals);
    approvals.create("a1", b"pending").await.unwrap();
    let kv = executor.get_key_value("TGW_APPROVALS").await;
    let read = match kv {
        Ok(kv) => kv.get("a1").await.is_ok_and(|v| v.is_some()),
        Err(_) => false,
    };
    assert!(!read, "an executor read an approval");
    let wrote = async {
        executor
            .publish("$KV.TGW_APPROVALS.a1", "approved".into())
            .await?
            .await
    }
    .await;
    assert!(wrote.is_err(), "an executor wrote an approval");
    // What it may do: spend a nonce, read people records.
    executor
        .publish("tgw.nonces.default_AAAA", "spent".into())
        .await
        .unwrap()
        .await
        .unwrap();
    people.create("user.ada", b"sealed").await.unwrap();
    let kv = executor.get_key_value("TGW_PEOPLE").await.unwrap();
    assert_eq!(
        kv.get("user.ada").await.unwrap(),
        Some(Bytes::from_static(b"sealed"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_may_purge_delete_or_reconfigure_a_stream() {
    let (deployment, _gateway) = deployment().await;
    for identity in ["gateway", "executor_default", "auditor"] {
        let js = js(&connect(&deployment, identity).await);
        for stream in ["TGW_NONCES", "TGW_AUDIT", "KV_TGW_PEOPLE"] {
            let purged = match js.get_stream(stream).await {
                Ok(s) => s.purge().await.is_ok(),
                Err(_) => false,
            };
            assert!(!purged, "{identity} purged {stream}");
            assert!(
                js.delete_stream(stream).await.is_err(),
                "{identity} deleted {stream}"
            );
        }
        let config = tgw::backend::nats::streams::nonces_config();
        let updated = js
            .update_stream(async_nats::jetstream::stream::Config {
                deny_purge: false,
                ..config
            })
            .await;
        assert!(updated.is_err(), "{identity} reconfigured TGW_NONCES");
    }
    // Everything is still there, as it was.
    let gateway = js(&connect(&deployment, "gateway").await);
    let mut nonces = gateway.get_stream("TGW_NONCES").await.unwrap();
    assert!(nonces.info().await.unwrap().config.deny_purge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_reads_the_log_and_writes_nothing() {
    let (deployment, _gateway) = deployment().await;
    let auditor = js(&connect(&deployment, "auditor").await);
    let appended = async {
        auditor
            .publish("tgw.audit.gateway.forged", "{}".into())
            .await?
            .await
    }
    .await;
    assert!(appended.is_err(), "the auditor appended to the audit log");
    let spent = async {
        auditor
            .publish("tgw.nonces.default_B", "x".into())
            .await?
            .await
    }
    .await;
    assert!(spent.is_err(), "the auditor spent a nonce");
    let backend = tgw::backend::nats::backend(&deployment.config("auditor"), Opener::Other)
        .await
        .unwrap();
    let audit = tgw::audit::Audit::reader(
        backend.log(tgw::backend::LogName::Audit),
        backend.bucket(tgw::backend::BucketName::AuditHeads),
        tgw::audit::AuditTrust::default(),
    );
    assert!(
        audit.verify().await.unwrap().intact(),
        "an empty log reads as intact"
    );
}

/// An executor's data dir: it trusts the test gateway's key; returns the
/// dir and the executor's own key (made by `tgw executors identity`).
fn executor_data(dir: &Path, name: &str) -> (PathBuf, TrustedKey) {
    let data = dir.join(name);
    KeyStore::new(&data)
        .trust(tgw::grant::GrantSigner::from_seed(&chain::SEED).trusted_key())
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(["executors", "identity"])
        .env("TGW_DATA_DIR", &data)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (kid, public_key) = text.trim().split_once(' ').unwrap();
    let key = parse_entry(&PublicKeyEntry {
        kid: kid.into(),
        public_key: public_key.into(),
    })
    .unwrap();
    (data, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_chain_runs_over_tls_with_least_privilege_and_the_python_client() {
    let deployment = nats::Deployment::start();
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy_path) = chain::workspace(dir.path(), "default.toml");
    let (first_data, first_key) = executor_data(dir.path(), "executor-1");
    let (second_data, second_key) = executor_data(dir.path(), "executor-2");

    // The gateway: its own nkey, no executor in its process, both
    // executors' keys trusted.
    let mut identity = chain::identity();
    identity.executors = vec![first_key.clone(), second_key.clone()];
    let runtime = chain::shared_runtime();
    let secrets = tgw::secrets::SecretStore::new(dir.path());
    let skills = Arc::new(chain::local_skills(&runtime, &skills_dir, &secrets).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bus = tgw::backend::nats::backend(&deployment.config("gateway"), Opener::Gateway)
        .await
        .unwrap();
    let app = chain::app_with(
        identity,
        bus,
        runtime,
        tgw::registry::LiveSkills::fixed(skills),
        &policy_path,
        GatewayConfig::default(),
        false,
        dir.path(),
    )
    .await;
    let router = app.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    // Two executors of pool default, each on the pool's nkey and its own
    // executor key.
    let flags = deployment.flags("executor_default");
    let mut args: Vec<&str> = vec!["executor", "--pool", "default"];
    args.extend(flags.iter().map(String::as_str));
    let (_first, _) = process::start(&args, &first_data, &skills_dir, "Executor of pool default");
    let (_second, _) = process::start(&args, &second_data, &skills_dir, "Executor of pool default");

    let logs = || {
        [&first_data, &second_data]
            .map(|d| std::fs::read_to_string(d.join("stderr.log")).unwrap_or_default())
            .join("\n---\n")
    };
    // The pool answers before the client starts.
    let mut answered = false;
    for _ in 0..60 {
        let result = app
            .gateway
            .propose(chain::request("read_file", json!({"path": "report.txt"})))
            .await;
        if matches!(result, tgw::gateway::CallResult::Done { .. }) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(answered, "the executors never answered: {}", logs());

    // The Python MCP client, as carol (an admin), with ada to approve.
    let people = app.people.clone();
    let invitation = people.invite(tgw::people::Role::Admin).await.unwrap();
    people.redeem(&invitation.token, "carol").await.unwrap();
    let (token, _) = people
        .create_token("carol", &tgw::people::Scope::ALL)
        .await
        .unwrap();
    let mut passkey = chain::enroll_in(&people, "ada", tgw::people::Role::Approver, 3).await;
    std::fs::write(skills_dir.join("files/data/old.txt"), "bytes\n").unwrap();
    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp");
    let python = clients.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the Python MCP client is installed by .ci/run"
    );
    let mut client = tokio::process::Command::new(python)
        .arg("py_client.py")
        .args([&format!("http://127.0.0.1:{port}/v1/mcp"), &token, "http"])
        .current_dir(clients.join("scripts"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(client.stdout.take().unwrap());
    let mut next = async || -> serde_json::Value {
        use tokio::io::AsyncBufReadExt as _;
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(60), lines.read_line(&mut line));
        read.await.unwrap().unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    let tools = next().await;
    assert_eq!(tools["event"], "tools", "{tools}");
    let read = next().await;
    assert_eq!(
        read["result"]["is_error"],
        false,
        "{read}\nexecutors said: {}",
        logs()
    );
    assert!(read.to_string().contains("quarterly numbers"), "{read}");
    let waiting = next().await;
    assert_eq!(waiting["event"], "waiting", "{waiting}");
    let approval = loop {
        let pending = app.approvals.pending().await.unwrap();
        if let Some(record) = pending.first() {
            break record.id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    chain::approve_in(&app.approvals, &approval, "ada", &mut passkey)
        .await
        .unwrap();
    let result = next().await;
    assert_eq!(result["result"]["is_error"], false, "{result}");
    assert!(
        !skills_dir.join("files/data/old.txt").exists(),
        "the approved delete ran"
    );

    // More calls: both executors take some, each signing its own receipts
    // and its own audit chain.
    for _ in 0..16 {
        let result = app
            .gateway
            .propose(chain::request("read_file", json!({"path": "report.txt"})))
            .await;
        chain::done(result);
    }
    let report = app.audit.verify().await.unwrap();
    assert!(report.intact(), "{:?}", report.problems);
    let executors: Vec<&str> = report
        .chains
        .iter()
        .map(|c| c.writer.as_str())
        .filter(|w| w.starts_with("executor.default."))
        .collect();
    assert_eq!(
        executors.len(),
        2,
        "both executors ran calls, each in its own chain: {:?}\nexecutors said: {}",
        report.chains,
        logs()
    );
    for key in [&first_key, &second_key] {
        assert!(
            executors.iter().any(|w| w.ends_with(&key.kid)),
            "{executors:?}"
        );
    }
}
