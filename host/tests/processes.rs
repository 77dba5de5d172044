//! `tgw up` and `tgw executor` as processes: the quick start's gateway
//! answers, and an executor in its own process (as on another machine)
//! serves a gateway over NATS.

#[path = "common/chain.rs"]
mod chain;
#[path = "common/nats.rs"]
mod nats;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::json;
use tgw::gateway::{CallResult, Gateway, GatewayConfig};
use tgw::grant::GrantSigner;
use tgw::keys::KeyStore;
use tgw::policy::LivePolicy;
use tgw::registry::SkillSet;
use tgw::secrets::SecretStore;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tgw` with `args` and reads its stdout until a line starting
/// with `ready`; returns the process and the lines read.
fn start(args: &[&str], data: &Path, skills: &Path, ready: &str) -> (Killed, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(args)
        .env("TGW_DATA_DIR", data)
        .env("TGW_SKILLS_DIR", skills)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with(ready);
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
    panic!("tgw {args:?} ended before saying {ready:?}: {lines:?}");
}

#[test]
fn tgw_up_starts_on_the_embedded_bus_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (skills, policy) = chain::workspace(dir.path(), "default.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let policy = policy.display().to_string();
    let (_up, lines) = start(
        &["up", "--listen", &listen, "--policy", &policy],
        &dir.path().join("data"),
        &skills,
        "Stop with Ctrl-C.",
    );
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("listening on  http://{listen}")),
        "{text}"
    );
    assert!(text.contains("skills        files"), "{text}");
    assert!(text.contains("bus           embedded"), "{text}");
    let mut stream = std::net::TcpStream::connect(&listen).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    // The first start created the signing key, owner-only.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("data/keys/signing.key");
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn an_executor_process_serves_a_gateway_over_nats() {
    let server = nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy_path) = chain::workspace(dir.path(), "default.toml");

    // The executor's machine trusts the gateway's public key only.
    let signer = GrantSigner::from_seed(&chain::SEED);
    let executor_data = dir.path().join("executor");
    KeyStore::new(&executor_data)
        .trust(signer.trusted_key())
        .unwrap();
    let (executor, _) = start(
        &["executor", "--nats", &server.url, "--pool", "default"],
        &executor_data,
        &skills_dir,
        "Executor of pool default",
    );

    let runtime = chain::shared_runtime();
    let secrets = SecretStore::new(dir.path());
    let skills = Arc::new(
        SkillSet::load(&runtime, &skills_dir, &secrets)
            .await
            .unwrap(),
    );
    let policy = LivePolicy::load(runtime.clone(), policy_path).unwrap();
    let bus = tgw::bus::nats::bus(&server.url).await.unwrap();
    let gateway = Gateway::new(
        GatewayConfig::default(),
        runtime,
        skills,
        policy,
        signer,
        bus,
    );

    let result = gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    assert_eq!(chain::done(result)["content"], "quarterly numbers\n");
    // The executor wrote its entries into the same chain.
    let kinds: Vec<String> = gateway
        .audit()
        .store()
        .read(1, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["proposal", "decision", "grant", "execution.done"]);
    gateway.audit().verify().await.unwrap();

    drop(executor);
    let result = gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    assert_eq!(
        result,
        CallResult::Failed {
            reason: "no executor of pool \"default\" is listening".into()
        }
    );
}

#[tokio::test]
async fn tgw_audit_verify_finds_a_changed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::bus::embedded::bus(&dir.path().join("data")).unwrap();
    let chain = chain::chain_with(dir, bus, GatewayConfig::default()).await;
    chain
        .gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    let data = chain.dir.path().join("data");
    let audit = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tgw"))
            .args(args)
            .env("TGW_DATA_DIR", &data)
            .output()
            .unwrap()
    };
    let ok = audit(&["audit", "verify"]);
    assert!(ok.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "The audit chain is intact: 4 entries.\n"
    );
    let tail = String::from_utf8_lossy(&audit(&["audit", "tail", "-n", "2"]).stdout).into_owned();
    assert_eq!(tail.lines().count(), 2);
    assert!(
        tail.lines().last().unwrap().contains("execution.done"),
        "{tail}"
    );

    // Someone edits the decision in the database.
    let db = rusqlite::Connection::open(data.join("state.db")).unwrap();
    db.execute("UPDATE audit SET entry = replace(entry, '\"verdict\":\"allow\"', '\"verdict\":\"deny\"') WHERE seq = 2", []).unwrap();
    let broken = audit(&["audit", "verify"]);
    assert!(!broken.status.success());
    assert!(
        String::from_utf8_lossy(&broken.stderr)
            .contains("entry 2: its contents do not match its hash (it was changed)"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
}
