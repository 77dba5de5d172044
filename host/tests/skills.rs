//! The repository's skills, run for real: files in a preopen, http-fetch
//! and invoices against a local server, secrets injected by the host.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::{Value, json};
use tgw::registry::{self, Skill};
use tgw::runtime::{CallError, Risk, ToolFailure};
use tgw::secrets::SecretStore;

fn repo_skills() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills")
}

#[test]
fn every_skill_manifest_in_the_repository_is_valid() {
    let (skills, errors) = registry::load_all(&repo_skills(), &|_| None).unwrap();
    assert!(errors.is_empty(), "bad manifests: {errors:#?}");
    let names: Vec<&str> = skills.iter().map(Skill::name).collect();
    assert_eq!(names, ["files", "http-fetch", "invoices"]);
    for skill in &skills {
        assert!(
            skill.component_path().is_file(),
            "{} was not built next to its manifest",
            skill.name()
        );
    }
}

#[tokio::test]
async fn every_skill_lists_its_tools_with_schema_and_risk() {
    let runtime = runtime();
    let (skills, _) = registry::load_all(&repo_skills(), &|_| None).unwrap();
    let mut all = Vec::new();
    for skill in &skills {
        let component = runtime.load_file(&skill.component_path()).unwrap();
        let tools = runtime.tools(&component, &spec()).await.result.unwrap();
        for tool in tools {
            assert_eq!(
                tool.input_schema["type"],
                "object",
                "{}.{}",
                skill.name(),
                tool.name
            );
            all.push((format!("{}.{}", skill.name(), tool.name), tool.risk));
        }
    }
    let expected = [
        ("files.list_dir", Risk::Read),
        ("files.read_file", Risk::Read),
        ("files.search", Risk::Read),
        ("files.write_file", Risk::Write),
        ("files.delete_file", Risk::Destructive),
        ("http-fetch.get", Risk::Read),
        ("invoices.list_invoices", Risk::Read),
        ("invoices.create_invoice", Risk::Write),
        ("invoices.refund_invoice", Risk::Destructive),
    ];
    let expected: Vec<(String, Risk)> = expected.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    assert_eq!(all, expected);
}

/// A copy of a repository skill in a temp folder, with its manifest edited.
fn skill_copy(name: &str, edit: impl Fn(String) -> String) -> (tempfile::TempDir, Skill) {
    let source = repo_skills().join(name);
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join(name);
    fs::create_dir(&dir).unwrap();
    let manifest = fs::read_to_string(source.join("skill.toml")).unwrap();
    fs::write(dir.join("skill.toml"), edit(manifest)).unwrap();
    let skill = Skill::load(&dir).unwrap();
    fs::copy(
        source.join(&skill.manifest.component),
        skill.component_path(),
    )
    .unwrap();
    (temp, skill)
}

async fn invoke(
    skill: &Skill,
    secrets: &SecretStore,
    tool: &str,
    args: Value,
) -> tgw::runtime::CallOutcome<String> {
    let runtime = runtime();
    let component = runtime.load_file(&skill.component_path()).unwrap();
    runtime
        .invoke(
            &component,
            &skill.sandbox(secrets),
            tool,
            &args.to_string(),
            None,
        )
        .await
        .and_then(|output| Ok(output.text))
}

#[tokio::test]
async fn files_reads_searches_writes_and_deletes_inside_its_folder() {
    let (temp, skill) = skill_copy("files", |m| m);
    let data = skill.dir.join("data");
    fs::create_dir_all(data.join("notes")).unwrap();
    fs::write(data.join("notes/todo.txt"), "buy milk\ncall the bank\n").unwrap();
    let secrets = SecretStore::new(temp.path());

    let listed: Value = serde_json::from_str(
        &invoke(&skill, &secrets, "list_dir", json!({}))
            .await
            .result
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        listed["entries"],
        json!([{"name": "notes", "kind": "dir", "size": listed["entries"][0]["size"]}])
    );

    let read = invoke(
        &skill,
        &secrets,
        "read_file",
        json!({"path": "notes/todo.txt"}),
    )
    .await
    .result
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&read).unwrap()["content"],
        "buy milk\ncall the bank\n"
    );

    let found = invoke(&skill, &secrets, "search", json!({"query": "bank"}))
        .await
        .result
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&found).unwrap()["matches"],
        json!([{"path": "notes/todo.txt", "line": 2, "text": "call the bank"}])
    );

    invoke(
        &skill,
        &secrets,
        "write_file",
        json!({"path": "notes/new.txt", "content": "hi"}),
    )
    .await
    .result
    .unwrap();
    assert_eq!(
        fs::read_to_string(data.join("notes/new.txt")).unwrap(),
        "hi"
    );

    invoke(
        &skill,
        &secrets,
        "delete_file",
        json!({"path": "notes/new.txt"}),
    )
    .await
    .result
    .unwrap();
    assert!(!data.join("notes/new.txt").exists());

    let escape = invoke(
        &skill,
        &secrets,
        "read_file",
        json!({"path": "../skill.toml"}),
    )
    .await;
    assert!(
        matches!(
            escape.result,
            Err(CallError::Tool(ToolFailure::InvalidArgs(_)))
        ),
        "{:?}",
        escape.result
    );
    let unknown = invoke(&skill, &secrets, "format_disk", json!({})).await;
    assert!(matches!(
        unknown.result,
        Err(CallError::Tool(ToolFailure::UnknownTool(_)))
    ));
    let bad_args = invoke(&skill, &secrets, "read_file", json!({"path": 7})).await;
    assert!(matches!(
        bad_args.result,
        Err(CallError::Tool(ToolFailure::InvalidArgs(_)))
    ));
}

#[tokio::test]
async fn http_fetch_returns_status_headers_and_a_capped_body() {
    let server = start_server("unused").await;
    let (temp, skill) = skill_copy("http-fetch", |m| {
        m.replace(
            r#"http = ["example.com", "www.rust-lang.org"]"#,
            &format!("http = [{:?}]", server.allow_entry()),
        )
        .replace(r#"max_body_bytes = "262144""#, r#"max_body_bytes = "5""#)
    });
    let outcome = invoke(
        &skill,
        &SecretStore::new(temp.path()),
        "get",
        json!({"url": server.url("/hello")}),
    )
    .await;
    let response: Value = serde_json::from_str(&outcome.result.unwrap()).unwrap();
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"], "hello");
    assert_eq!(response["truncated"], true);
    assert!(
        response["headers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == "content-type")
    );
}

const API_KEY: &str = "sk_test_4f6b1c0a9e";

fn invoices_at(server: &TestServer) -> (tempfile::TempDir, Skill) {
    skill_copy("invoices", |m| {
        m.replace(
            r#"http = ["api.example.com"]"#,
            &format!("http = [{:?}]", server.allow_entry()),
        )
        .replace("https://api.example.com/v1", &server.url("/v1"))
        .replace(r#"host = "api.example.com""#, r#"host = "127.0.0.1""#)
    })
}

#[tokio::test]
async fn invoices_gets_its_api_key_injected_by_the_host_only() {
    // Capture every log line of this test to look for the secret in it.
    let logs = LogCapture::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .finish(),
    );
    let server = start_server(API_KEY).await;
    let (temp, skill) = invoices_at(&server);
    let secrets = SecretStore::new(temp.path());
    secrets.set("invoices", "INVOICE_API_KEY", API_KEY).unwrap();

    let list = invoke(&skill, &secrets, "list_invoices", json!({"status": "paid"})).await;
    let created = invoke(
        &skill,
        &secrets,
        "create_invoice",
        json!({"customer": "ACME", "amount_cents": 1200, "currency": "EUR"}),
    )
    .await;
    let refund = invoke(
        &skill,
        &secrets,
        "refund_invoice",
        json!({"invoice_id": "inv_1", "reason": "duplicate"}),
    )
    .await;
    let list = list.result.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&list).unwrap()["invoices"][0]["id"],
        "inv_1"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&created.result.unwrap()).unwrap()["status"],
        "open"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&refund.result.unwrap()).unwrap()["status"],
        "refunded"
    );

    // The server got the key on every request ...
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {API_KEY}")
        );
    }
    assert_eq!(seen[0].path, "/v1/invoices?status=paid");
    assert_eq!(seen[2].path, "/v1/invoices/inv_1/refund");

    // ... but the component's own view, the results and the logs never
    // held it: a hostile component with the same sandbox finds nothing.
    let runtime = runtime();
    let spec = skill.sandbox(&secrets);
    let peek = call(
        &runtime,
        tgw::guests::GUEST_HOSTILE,
        &spec,
        "peek",
        json!({}),
    )
    .await;
    let peek = peek.result.unwrap();
    assert!(
        peek.contains(&server.url("/v1")),
        "the peek sees the config: {peek}"
    );
    for text in [peek.as_str(), list.as_str(), &logs.text()] {
        assert!(!text.contains(API_KEY), "the secret leaked into: {text}");
    }
}

#[tokio::test]
async fn the_secret_goes_only_to_its_own_host() {
    let server = start_server(API_KEY).await;
    let other = start_server("unused").await;
    let (temp, skill) = invoices_at(&server);
    let secrets = SecretStore::new(temp.path());
    secrets.set("invoices", "INVOICE_API_KEY", API_KEY).unwrap();
    // Same sandbox, one more allowed host (also on 127.0.0.1, another
    // port); the secret is bound to the host, so make the other one
    // `localhost`.
    let mut spec = skill.sandbox(&secrets);
    let mut outbound = (*spec.outbound).clone();
    outbound.allow.push(
        format!("http://localhost:{}", other.addr.port())
            .parse()
            .unwrap(),
    );
    spec.outbound = outbound.into();
    let runtime = runtime();
    let url = format!("http://localhost:{}/hello", other.addr.port());
    let outcome = call(
        &runtime,
        tgw::guests::GUEST_HOSTILE,
        &spec,
        "http_get",
        json!({"url": url}),
    )
    .await;
    assert_eq!(outcome.result.unwrap(), "200 hello from the test server");
    let seen = other.seen.lock().unwrap();
    assert!(seen[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn a_missing_secret_refuses_the_request_and_says_how_to_set_it() {
    let server = start_server(API_KEY).await;
    let (temp, skill) = invoices_at(&server);
    let outcome = invoke(
        &skill,
        &SecretStore::new(temp.path()),
        "list_invoices",
        json!({}),
    )
    .await;
    match outcome.result {
        Err(CallError::HttpRefused(message)) => assert_eq!(
            message,
            "http to 127.0.0.1 refused: the secret INVOICE_API_KEY is not set: run `tgw secrets set invoices INVOICE_API_KEY`"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_reported_as_the_apis_answer() {
    let server = start_server(API_KEY).await;
    let (temp, skill) = invoices_at(&server);
    let secrets = SecretStore::new(temp.path());
    secrets
        .set("invoices", "INVOICE_API_KEY", "sk_wrong")
        .unwrap();
    let outcome = invoke(&skill, &secrets, "list_invoices", json!({})).await;
    match outcome.result {
        Err(CallError::Tool(ToolFailure::Failed(message))) => {
            assert!(
                message.starts_with("the invoice API answered 401"),
                "{message}"
            );
        }
        other => panic!("expected the API's refusal, got {other:?}"),
    }
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}
