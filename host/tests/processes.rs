//! `tgw up` and `tgw executor` as processes: the quick start's gateway
//! answers, and an executor in its own process (as on another machine)
//! serves a gateway over NATS.

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
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::json;
use tgw::gateway::{CallResult, GatewayConfig};
use tgw::grant::GrantSigner;
use tgw::keys::KeyStore;
use tgw::secrets::SecretStore;

use process::{Killed, start};

/// Waits until NATS has noticed that a killed executor is gone (its
/// subscription is dropped when the server sees the connection close).
async fn until_no_executor(bus: &tgw::backend::Backend) {
    let probe = tgw::executor::ExecRequest {
        call: "probe".into(),
        jti: String::new(),
        grant: String::new(),
        args: "{}".into(),
    };
    for _ in 0..100 {
        let answer = chain::exec(bus, &probe, std::time::Duration::from_millis(200)).await;
        if matches!(answer, Err(tgw::backend::BusError::NoResponders(_))) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("NATS still routes to the killed executor");
}

/// `tgw up` on a free port of 127.0.0.1, with the test workspace in
/// `dir`: the process, its address and what it printed.
fn up(dir: &Path) -> (Killed, String, Vec<String>) {
    let (skills, policy) = chain::workspace(dir, "default.toml");
    let listen = format!("127.0.0.1:{}", nats::free_port());
    let policy = policy.display().to_string();
    let (up, lines) = start(
        &["up", "--listen", &listen, "--policy", &policy],
        &dir.join("data"),
        &skills,
        "Stop with Ctrl-C.",
    );
    (up, listen, lines)
}

#[test]
fn tgw_up_starts_on_the_embedded_bus_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, listen, lines) = up(dir.path());
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

    // A gateway with no executor of its own: `tgw up --no-executor`. It
    // creates the streams and records the deployment's nonce ledger.
    let app = gateway_without_executor(&server, dir.path(), &skills_dir, &policy_path).await;

    // The executor's machine trusts the gateway's public key only, and the
    // gateway trusts the executor's key.
    let executor_data = executor_data(dir.path());
    let (executor, _) = start(
        &["executor", "--nats", &server.url, "--pool", "default"],
        &executor_data,
        &skills_dir,
        "Executor of pool default",
    );
    let gateway = app.gateway.clone();

    let result = gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    assert_eq!(chain::done(result)["content"], "quarterly numbers\n");
    // The executor wrote its entries into its own chain of the same log:
    // the gateway keys it trusts as it started, and the call.
    let entries = app.audit.read(1, 100).await.unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| *k != "trust.changed")
        .collect();
    assert_eq!(kinds, ["proposal", "decision", "grant", "execution.done"]);
    assert!(
        entries
            .iter()
            .any(|e| e.kind == tgw::audit::AuditKind::TrustChanged
                && e.writer.starts_with("executor.default.")
                && e.detail["start"] == true),
        "the executor did not audit the keys it trusts"
    );
    chain::verified(&app.audit).await;

    drop(executor);
    until_no_executor(&nats::backend(&server.url).await).await;
    let result = gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    assert_eq!(
        result,
        CallResult::Failed {
            reason: "no executor of pool default took the call (none is running, or none answers)"
                .into()
        }
    );
}

#[tokio::test]
async fn an_executor_with_an_empty_skills_folder_runs_what_the_gateway_serves() {
    let server = nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy_path) = chain::workspace(dir.path(), "default.toml");
    let app = gateway_without_executor(&server, dir.path(), &skills_dir, &policy_path).await;
    let gateway = app.gateway.clone();

    // The executor's machine has no skills: only the files skill's data.
    let remote = dir.path().join("remote-skills");
    std::fs::create_dir_all(remote.join("files/data")).unwrap();
    std::fs::write(remote.join("files/data/report.txt"), "the remote copy\n").unwrap();
    let executor_data = executor_data(dir.path());
    let (first, lines) = start(
        &["executor", "--nats", &server.url],
        &executor_data,
        &remote,
        "Executor of pool default",
    );
    assert!(
        lines.last().unwrap().contains("serving files over NATS"),
        "{lines:?}"
    );
    let result = gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    assert_eq!(chain::done(result)["content"], "the remote copy\n");
    let held: Vec<_> = std::fs::read_dir(remote.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(held, ["data"], "nothing but the data was written there");

    // The component's bytes replaced in TGW_SKILLS: an executor that
    // starts now finds other bytes under the digest, and runs nothing.
    drop(first);
    until_no_executor(&nats::backend(&server.url).await).await;
    let digest = app
        .skills
        .current()
        .get("files")
        .unwrap()
        .component
        .digest
        .clone();
    let js = async_nats::jetstream::new(async_nats::connect(&server.url).await.unwrap());
    let store = js.get_object_store("TGW_SKILLS").await.unwrap();
    store
        .put(
            format!("sha256-{}", digest.hex()).as_str(),
            &mut &b"(component)"[..],
        )
        .await
        .unwrap();
    let second_data = dir.path().join("second");
    std::fs::create_dir_all(&second_data).unwrap();
    for file in ["keys/trusted.json", "keys/executor.key"] {
        std::fs::create_dir_all(second_data.join("keys")).unwrap();
        std::fs::copy(executor_data.join(file), second_data.join(file)).unwrap();
    }
    let (_second, lines) = start(
        &["executor", "--nats", &server.url],
        &second_data,
        &dir.path().join("second-skills"),
        "Executor of pool default",
    );
    assert!(
        lines.last().unwrap().contains("serving no skills yet"),
        "{lines:?}"
    );
    let stderr = std::fs::read_to_string(second_data.join("stderr.log")).unwrap();
    assert!(
        stderr.contains("skill files left out") && stderr.contains("holds other bytes"),
        "{stderr}"
    );
    let result = gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;
    let refusal = result.refusal().expect("the call was refused");
    assert_eq!(refusal.code(), tgw::refusal::RefusalCode::SkillMissing);
    let entries = app.audit.read(1, 1000).await.unwrap();
    assert!(
        entries.iter().any(|e| {
            e.kind == tgw::audit::AuditKind::ExecutionRefused && e.detail["code"] == "skill-missing"
        }),
        "the executor's refusal is in the audit log"
    );
    let done = entries
        .iter()
        .filter(|e| e.kind == tgw::audit::AuditKind::ExecutionDone)
        .count();
    assert_eq!(done, 1, "only the first call ran");
}

#[tokio::test]
async fn a_grant_redelivered_after_its_executor_was_killed_mid_call_does_not_run_again() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy_path) = chain::workspace(dir.path(), "default.toml");

    // A tool that hangs: http-fetch against a server that never answers,
    // counting the requests that reach it.
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                "too late"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills/http-fetch");
    let fetch = skills_dir.join("http-fetch");
    std::fs::create_dir(&fetch).unwrap();
    let manifest = std::fs::read_to_string(repo.join("skill.toml"))
        .unwrap()
        .replace(
            r#"http = ["example.com", "www.rust-lang.org"]"#,
            &format!(r#"http = ["http://{addr}"]"#),
        )
        .replace("timeout_ms = 10000", "timeout_ms = 3000");
    std::fs::write(fetch.join("skill.toml"), manifest).unwrap();
    std::fs::copy(repo.join("http_fetch.wasm"), fetch.join("http_fetch.wasm")).unwrap();

    let signer = GrantSigner::from_seed(&chain::SEED);
    let executor_data = executor_data(dir.path());
    let app = gateway_without_executor(&server, dir.path(), &skills_dir, &policy_path).await;
    let runtime = chain::shared_runtime();

    // Through the gateway: the executor takes the call and is killed
    // mid-call. The caller hears that it went away (after the skill's
    // limit and a few seconds, not the old 330), and the call is not sent
    // again.
    let (mut first, _) = start(
        &["executor", "--nats", &server.url],
        &executor_data,
        &skills_dir,
        "Executor of pool default",
    );
    let gateway = app.gateway.clone();
    let url = format!("http://{addr}/slow");
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request_to("http-fetch", "get", json!({"url": url})))
            .await
    });
    while hits.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first.0.kill().unwrap(); // SIGKILL, mid-call
    let _ = first.0.wait();
    match call.await.unwrap() {
        CallResult::Failed { reason } => {
            assert!(reason.contains("went away"), "{reason}");
            assert!(reason.contains("no answer within 8 s"), "{reason}");
        }
        other => panic!("expected the executor to be reported gone, got {other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the call was not run again");

    let args = tgw::canonical::canonicalize(
        json!({"url": format!("http://{addr}/slow")})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let component = runtime.load_file(&fetch.join("http_fetch.wasm")).unwrap();
    let now = tgw::executor::unix_now();
    let claims = tgw::grant::Claims {
        iss: "tgw".into(),
        aud: "default".into(),
        sub: "alice".into(),
        jti: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        iat: now,
        nbf: now,
        exp: now + 30,
        skill: "http-fetch".into(),
        tool: "get".into(),
        component: component.digest.to_string(),
        input_hash: args.input_hash.clone(),
        policy: app.policy.current().digest.clone(),
        approval: None,
    };
    let request = tgw::executor::ExecRequest {
        call: "crash".into(),
        jti: claims.jti.clone(),
        grant: signer.sign(&claims).token().to_owned(),
        args: args.as_str().to_owned(),
    };
    let bus = nats::backend(&server.url).await;
    until_no_executor(&bus).await;

    // A grant whose executor spent its nonce and died mid-call cannot run
    // again on another executor.
    let (mut second, _) = start(
        &["executor", "--nats", &server.url],
        &executor_data,
        &skills_dir,
        "Executor of pool default",
    );
    let timeout = std::time::Duration::from_secs(1);
    let sent = chain::exec(&bus, &request, timeout).await;
    assert!(
        matches!(sent, Err(tgw::backend::BusError::Timeout(_))),
        "{sent:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2, "the tool started once more");
    second.0.kill().unwrap(); // SIGKILL, mid-call
    let _ = second.0.wait();
    until_no_executor(&bus).await;

    let (_third, _) = start(
        &["executor", "--nats", &server.url],
        &executor_data,
        &skills_dir,
        "Executor of pool default",
    );
    let redelivered = chain::exec(&bus, &request, timeout).await.unwrap();
    assert!(
        matches!(
            redelivered,
            tgw::executor::ExecReply::Refused {
                code: tgw::refusal::RefusalCode::NonceSpent,
                ..
            }
        ),
        "{redelivered:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "the tool did not run a second time"
    );
}

/// A self-signed certificate for localhost, made by the openssl CLI.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        // An end-entity certificate (webpki refuses a CA as the server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("the openssl CLI is installed");
    assert!(status.success());
    (cert, key)
}

/// One request over TLS, trusting only `cert`; the raw answer.
async fn over_tls(port: u16, cert: &Path, request: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn tgw_up_serves_https_with_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (skills, policy) = chain::workspace(dir.path(), "default.toml");
    let (cert, key) = self_signed(dir.path());
    let port = nats::free_port();
    let listen = format!("127.0.0.1:{port}");
    let (_up, lines) = start(
        &[
            "up",
            "--listen",
            &listen,
            "--policy",
            policy.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &dir.path().join("data"),
        &skills,
        "Stop with Ctrl-C.",
    );
    let text = lines.join("\n");
    assert!(
        text.contains(&format!("listening on  https://{listen}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://localhost:{port}/v1/mcp")),
        "{text}"
    );

    let health = over_tls(
        port,
        &cert,
        &format!("GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    let mcp = over_tls(
        port,
        &cert,
        &format!(
            "POST /v1/mcp HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    )
    .await;
    assert!(mcp.starts_with("HTTP/1.1 401"), "{mcp}");
    assert!(
        mcp.to_lowercase().contains("www-authenticate: bearer"),
        "{mcp}"
    );

    // Plain HTTP to the TLS port gets no HTTP answer.
    use std::io::{Read, Write};
    let mut plain = std::net::TcpStream::connect(&listen).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = write!(plain, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
}

#[test]
fn tls_flags_come_in_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(["up", "--tls-cert", "cert.pem"])
        .env("TGW_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls-key"));
}

/// `tgw connect claude-ai --url URL`: (success, stdout).
fn connect_claude_ai(url: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(["connect", "claude-ai", "--url", url])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn tgw_connect_claude_ai_checks_discovery_from_the_outside() {
    let dir = tempfile::tempdir().unwrap();
    let (_up, listen, _) = up(dir.path());
    let port = listen.rsplit(':').next().unwrap();

    // The public URL the gateway was started with (the default).
    let public = format!("http://localhost:{port}");
    let (passed, text) = connect_claude_ai(&public);
    assert!(passed, "{text}");
    assert!(text.contains(&format!("    {public}/v1/mcp\n")), "{text}");
    for check in [
        "asks for a token and points to",
        "the resource is",
        "PKCE S256 is supported",
        "dynamic client registration is offered",
        "/authorize answers",
        "/token answers",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with("  ok") && line.contains(check)),
            "{check}: {text}"
        );
    }
    assert!(
        text.contains("warn  the URL is on this machine only"),
        "{text}"
    );
    assert!(text.contains("All checks passed"), "{text}");

    // Another URL for the same gateway: the metadata names the public URL,
    // not this one, and the command says how to fix it.
    let (passed, text) = connect_claude_ai(&format!("http://{listen}"));
    assert!(!passed, "{text}");
    assert!(
        text.contains(&format!("FAIL  the 401 points to {public}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("--public-url http://{listen}")),
        "{text}"
    );

    // Nothing there at all.
    let (passed, text) = connect_claude_ai(&format!("http://127.0.0.1:{}", nats::free_port()));
    assert!(!passed, "{text}");
    assert!(text.contains("does not answer"), "{text}");
}

/// An executor's data dir: it trusts the test gateway's key, and holds
/// the executor key the test gateways trust.
fn executor_data(dir: &Path) -> PathBuf {
    let data = dir.join("executor");
    KeyStore::new(&data)
        .trust(GrantSigner::from_seed(&chain::SEED).trusted_key())
        .unwrap();
    executor_key_of_the_tests(&data);
    data
}

/// Gives an executor's data dir the executor key the test gateways trust.
fn executor_key_of_the_tests(data: &std::path::Path) {
    use base64::Engine as _;
    let seed = tgw::app::Identity::executor_seed_of(chain::SEED);
    let keys = data.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(
        keys.join("executor.key"),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seed),
    )
    .unwrap();
}

/// A gateway over `server` with no executor of its own (`tgw up
/// --no-executor`), serving the skills of `skills_dir`.
async fn gateway_without_executor(
    server: &nats::NatsServer,
    dir: &Path,
    skills_dir: &Path,
    policy: &Path,
) -> tgw::app::App {
    let runtime = chain::shared_runtime();
    let secrets = SecretStore::new(dir);
    let skills = Arc::new(chain::local_skills(&runtime, skills_dir, &secrets).await);
    chain::app(
        nats::backend(&server.url).await,
        runtime,
        tgw::registry::LiveSkills::fixed(skills),
        policy,
        GatewayConfig::default(),
        false,
        dir,
    )
    .await
}

#[tokio::test]
async fn tgw_up_refuses_a_nonce_ledger_that_can_forget() {
    let server = nats::NatsServer::start();
    let client = async_nats::connect(&server.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        deny_purge: false,
        max_age: std::time::Duration::from_secs(10),
        ..tgw::backend::nats::streams::nonces_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(["up", "--nats", &server.url, "--listen", "127.0.0.1:0"])
        .env("TGW_DATA_DIR", dir.path().join("data"))
        .env("TGW_SKILLS_DIR", dir.path().join("skills"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "tgw up started");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("refusing to start"), "{said}");
    assert!(said.contains("must deny purging (deny_purge)"), "{said}");
    assert!(said.contains("keeps nonces for 10 s"), "{said}");
    assert!(said.contains("nats stream edit"), "{said}");
}
