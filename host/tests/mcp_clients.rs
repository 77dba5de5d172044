//! Real MCP clients we did not write, against a real gateway on a port:
//! the TypeScript SDK (Streamable HTTP and SSE, with an approver in real
//! Chromium), the Python `mcp` client (both transports), the MCP Inspector
//! CLI (Streamable HTTP, SSE, and stdio through `tgw mcp stdio`),
//! `mcp-remote` as a stdio bridge with `--header`, the official
//! conformance suite, and the OAuth clients of both SDKs (passkey sign-in
//! and consent in Chromium). The clients live in tests/mcp (npm and a Python
//! venv, installed by .ci/run, or here on first use).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tgw::approval::ApprovalState;
use tgw::people::{Role, Scope};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn clients() -> PathBuf {
    repo().join("tests/mcp")
}

/// The npm clients and the Python venv, installed once (.ci/run does it
/// beforehand on CI).
fn ensure_clients() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let run = |program: &str, args: &[&str]| {
            let status = std::process::Command::new(program)
                .args(args)
                .current_dir(clients())
                .status()
                .unwrap_or_else(|e| panic!("{program} is not installed: {e}"));
            assert!(status.success(), "{program} {args:?} failed in tests/mcp");
        };
        if !clients()
            .join("node_modules/@modelcontextprotocol/sdk")
            .exists()
        {
            run("npm", &["ci", "--no-audit", "--no-fund"]);
        }
        if !clients().join(".venv/bin/python").exists() {
            run("python3", &["-m", "venv", ".venv"]);
            run(
                ".venv/bin/pip",
                &["install", "-q", "-r", "requirements.txt"],
            );
        }
    });
}

struct Served {
    chain: chain::Chain,
    /// The dashboard's origin (`http://localhost:PORT`: passkeys need a
    /// name, not an address).
    origin: String,
    /// The MCP endpoint, by address.
    mcp: String,
    /// A token for carol, an admin (the files skill is for admins).
    token: String,
}

/// A gateway whose dashboard is at its own port (for the browser).
async fn serve() -> Served {
    serve_as(None).await
}

/// `origin`: the dashboard's origin for passkeys (the software passkeys of
/// `chain::Chain::enroll` sign for the default one).
async fn serve_as(origin: Option<String>) -> Served {
    let (chain, origin, port) = chain::on_a_port(origin).await;
    let people = chain.people.clone();
    let invitation = people.invite(Role::Admin).await.unwrap();
    people.redeem(&invitation.token, "carol").await.unwrap();
    let (token, _) = people.create_token("carol", &Scope::ALL).await.unwrap();
    for file in ["old.txt", "keep.txt"] {
        std::fs::write(chain.files.join(file), "bytes\n").unwrap();
    }
    Served {
        chain,
        origin,
        mcp: format!("http://127.0.0.1:{port}/v1/mcp"),
        token,
    }
}

impl Served {
    /// The endpoint of `transport`: `http` (Streamable HTTP) or `sse`.
    fn url(&self, transport: &str) -> String {
        match transport {
            "sse" => format!("{}/sse", self.mcp),
            _ => self.mcp.clone(),
        }
    }
}

/// A client's `tools` event names `tool`.
fn assert_lists(tools: &Value, tool: &str) {
    assert!(
        tools["names"].as_array().unwrap().iter().any(|n| n == tool),
        "{tools}"
    );
}

/// A child process that speaks one line (JSON or a word) at a time.
struct Speaker {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    name: &'static str,
}

impl Speaker {
    fn spawn(name: &'static str, mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Speaker { child, lines, name }
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(90), self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("{} said nothing more: {other:?}", self.name),
        }
    }

    async fn event(&mut self) -> Value {
        let line = self.line().await;
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", self.name))
    }

    async fn expect(&mut self, event: &str) -> Value {
        let got = self.event().await;
        assert_eq!(got["event"], event, "{}: {got}", self.name);
        got
    }

    async fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }
}

fn node(script: &str) -> Command {
    let mut command = Command::new("node");
    command.arg(script).current_dir(clients().join("scripts"));
    command
}

/// The approval id in "waiting for approval <id> — open <url>".
fn approval_id(waiting: &Value) -> String {
    let message = waiting["message"].as_str().unwrap();
    assert!(message.starts_with("waiting for approval "), "{message}");
    message.split_whitespace().nth(3).unwrap().to_owned()
}

async fn state_of(served: &Served, id: &str) -> ApprovalState {
    for _ in 0..50 {
        let record = served.chain.approvals.get(id).await.unwrap().unwrap();
        if record.state != ApprovalState::Pending {
            return record.state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ApprovalState::Pending
}

/// ada, an admin, at the dashboard in Chromium (`tests/e2e/approver.mjs`),
/// enrolled with a virtual passkey.
async fn approver(served: &Served) -> Speaker {
    ensure_clients();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "needs Debian's chromium (.ci/run)"
    );
    let invitation = served.chain.people.invite(Role::Admin).await.unwrap();
    let shots = repo().join("target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut command = Command::new("node");
    command
        .arg("approver.mjs")
        .arg(format!("{}/enroll#{}", served.origin, invitation.token))
        .arg(&shots)
        .current_dir(repo().join("tests/e2e"));
    let mut approver = Speaker::spawn("approver", command);
    assert_eq!(approver.line().await, "ENROLLED");
    approver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_waits_for_a_passkey_approval_in_the_dashboard() {
    let served = serve().await;
    let mut approver = approver(&served).await;

    for transport in ["http", "sse"] {
        let url = served.url(transport);
        std::fs::write(served.chain.files.join("old.txt"), "bytes\n").unwrap();
        let mut client = {
            let mut command = node("ts-scenario.mjs");
            command.args([&url, &served.token, transport]);
            Speaker::spawn("ts-scenario", command)
        };
        assert_lists(&client.expect("tools").await, "files.delete_file");
        assert_read(&client.expect("read").await["result"]);

        // Approved with the passkey in the dashboard: the tool runs.
        let waiting = client.expect("waiting").await;
        assert_eq!(waiting["call"], "approve");
        let message = waiting["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{}/#/approvals", served.origin)),
            "{message}"
        );
        approver.tell("APPROVE").await;
        assert_eq!(approver.line().await, "APPROVED");
        let approved = client.expect("result").await;
        assert_eq!(
            approved["result"]["isError"], false,
            "{transport}: {approved}"
        );
        assert!(approved["progress"].as_u64().unwrap() >= 1);
        assert!(
            !served.chain.files.join("old.txt").exists(),
            "{transport}: not deleted"
        );

        // Denied: a result with isError and the reason, and nothing written.
        let waiting = client.expect("waiting").await;
        assert_eq!(waiting["call"], "deny");
        approver.tell("DENY not on a Friday").await;
        assert_eq!(approver.line().await, "DENIED");
        let denied = client.expect("result").await;
        assert_eq!(denied["result"]["isError"], true, "{denied}");
        let text = denied["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("denied by ada: not on a Friday"), "{text}");
        assert!(!served.chain.files.join("new.txt").exists());

        // Cancelled by the client: the approval is withdrawn, the card
        // leaves the dashboard, nothing runs.
        let waiting = client.expect("waiting").await;
        assert_eq!(waiting["call"], "cancel");
        let id = approval_id(&waiting);
        let cancelled = client.expect("cancelled").await;
        assert!(
            cancelled["error"]
                .as_str()
                .unwrap()
                .contains("pressed stop"),
            "{cancelled}"
        );
        assert!(
            matches!(
                state_of(&served, &id).await,
                ApprovalState::Withdrawn { .. }
            ),
            "{transport}: the approval was not withdrawn"
        );
        approver.tell("GONE").await;
        assert_eq!(approver.line().await, "GONE");
        assert!(served.chain.files.join("keep.txt").exists());
        client.tell("CLOSE").await;
        client.expect("done").await;
    }
    approver.tell("QUIT").await;
}

/// What a task-capable client sees of two destructive calls, each a task:
/// the first is approved in Chromium with a passkey while the client is
/// away, and its result is there when the client comes back on a new
/// connection; the second is cancelled, which withdraws its approval and
/// takes its card off the dashboard. `client` (a name and its command)
/// speaks as `scripts/py_task.py` does.
async fn tasks_outlive_their_connection(served: &Served, client: (&'static str, Command)) {
    let mut approver = approver(served).await;
    let mut client = Speaker::spawn(client.0, client.1);
    let task = client.expect("task").await;
    assert_eq!(task["status"], "working", "{task}");
    let url = task["approval"]["url"].as_str().unwrap();
    assert!(url.starts_with(&served.origin), "{task}");
    assert!(
        served.chain.files.join("old.txt").exists(),
        "it ran before anyone approved"
    );
    approver.tell("APPROVE").await;
    assert_eq!(approver.line().await, "APPROVED");
    client.tell("RESULT").await;
    let ended = client.expect("ended").await;
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_eq!(ended["result"]["isError"], false, "{ended}");
    assert!(!served.chain.files.join("old.txt").exists(), "not deleted");

    let task = client.expect("task").await;
    let id = task["approval"]["id"].as_str().unwrap().to_owned();
    client.tell("CANCEL").await;
    let cancelled = client.expect("cancelled").await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["ack"]["resultType"], "complete", "{cancelled}");
    assert!(
        matches!(state_of(served, &id).await, ApprovalState::Withdrawn { .. }),
        "the approval was not withdrawn"
    );
    approver.tell("GONE").await;
    assert_eq!(approver.line().await, "GONE");
    assert!(served.chain.files.join("keep.txt").exists());
    approver.tell("QUIT").await;
}

/// The arguments of `tasks_outlive_their_connection`'s client.
fn two_deletions(served: &Served) -> [String; 6] {
    [
        served.mcp.clone(),
        served.token.clone(),
        "files.delete_file".into(),
        r#"{"path":"old.txt"}"#.into(),
        "files.delete_file".into(),
        r#"{"path":"keep.txt"}"#.into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_tasks_outlive_their_connection() {
    ensure_clients();
    let served = serve().await;
    let mut command = Command::new(clients().join(".venv/bin/python"));
    command
        .arg("py_task.py")
        .args(two_deletions(&served))
        .current_dir(clients().join("scripts"));
    tasks_outlive_their_connection(&served, ("py_task", command)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_sdk_tasks_outlive_their_connection() {
    ensure_clients();
    let served = serve().await;
    let mut command = node("ts-task.mjs");
    command.args(two_deletions(&served));
    tasks_outlive_their_connection(&served, ("ts-task", command)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_streamable_http_and_sse() {
    ensure_clients();
    let served = serve_as(Some(chain::relying_party().origin)).await;
    let mut passkey = served.chain.enroll("ada", Role::Approver, 3).await;
    for transport in ["http", "sse"] {
        std::fs::write(served.chain.files.join("old.txt"), "bytes\n").unwrap();
        let url = served.url(transport);
        let mut client = {
            let mut command = Command::new(clients().join(".venv/bin/python"));
            command
                .arg("py_client.py")
                .args([&url, &served.token, transport])
                .current_dir(clients().join("scripts"));
            Speaker::spawn("py_client", command)
        };
        assert_lists(&client.expect("tools").await, "files.read_file");
        let read = client.expect("read").await;
        assert_eq!(read["result"]["is_error"], false, "{read}");
        assert!(
            read["result"]["text"][0]
                .as_str()
                .unwrap()
                .contains("quarterly numbers")
        );
        let waiting = client.expect("waiting").await;
        let id = approval_id(&waiting);
        served
            .chain
            .approve(&id, "ada", &mut passkey)
            .await
            .unwrap();
        let result = client.expect("result").await;
        assert_eq!(result["result"]["is_error"], false, "{transport}: {result}");
        assert!(!served.chain.files.join("old.txt").exists());
        client.expect("done").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_named_twice_is_refused_at_the_door_and_audited() {
    ensure_clients();
    let served = serve().await;
    let mut client = {
        let mut command = Command::new(clients().join(".venv/bin/python"));
        command
            .arg("py_duplicate.py")
            .args([&served.mcp, &served.token, "keep.txt", "old.txt"])
            .current_dir(clients().join("scripts"));
        Speaker::spawn("py_duplicate", command)
    };
    let sent = client.expect("sent").await;
    assert!(
        sent["body"]
            .as_str()
            .unwrap()
            .contains(r#""path":"keep.txt","path":"old.txt""#),
        "{sent}"
    );
    let refused = client.expect("refused").await;
    assert_eq!(refused["data"]["tgw/refusal"], "duplicate-key", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains(r#"the key "path" twice"#),
        "{refused}"
    );
    assert_eq!(client.expect("after").await["is_error"], false);
    client.expect("done").await;

    // Neither file was deleted, nothing was proposed or decided, and the
    // log names the key.
    for file in ["keep.txt", "old.txt"] {
        assert!(served.chain.files.join(file).exists(), "{file} was deleted");
    }
    let entries = served.chain.audit.entries().await.unwrap();
    let refusal = entries
        .iter()
        .find(|e| e.kind == tgw::audit::AuditKind::RequestRefused)
        .expect("the refusal is audited");
    assert_eq!(refusal.detail["code"], "duplicate-key");
    assert!(
        refusal.detail["reason"]
            .as_str()
            .unwrap()
            .contains(r#"the key "path" twice"#),
        "{}",
        refusal.detail
    );
    assert_eq!(refusal.detail["door"], "mcp");
    assert_eq!(refusal.detail["principal"], "carol");
    let proposals: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == tgw::audit::AuditKind::Proposal)
        .map(|e| e.detail["tool"].clone())
        .collect();
    assert_eq!(proposals, ["read_file"], "only the call after was proposed");
}

/// Runs the Inspector CLI; returns its stdout (JSON).
async fn inspector(args: &[&str]) -> Value {
    let output = Command::new("node")
        .arg(clients().join("node_modules/@modelcontextprotocol/inspector-cli/build/index.js"))
        .args(args)
        // Its own package.json is looked up from the working directory's
        // parent; tests/mcp/scripts has one there.
        .current_dir(clients().join("scripts"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "inspector {args:?} failed: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn read_call() -> Vec<&'static str> {
    vec![
        "--method",
        "tools/call",
        "--tool-name",
        "files.read_file",
        "--tool-arg",
        "path=report.txt",
    ]
}

fn assert_read(result: &Value) {
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(
        result["structuredContent"]["content"], "quarterly numbers\n",
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_cli_over_http_sse_and_the_stdio_bridge_and_mcp_remote() {
    ensure_clients();
    let served = serve().await;
    let header = format!("Authorization: Bearer {}", served.token);
    let sse = served.url("sse");
    for (url, transport) in [(&served.mcp, "http"), (&sse, "sse")] {
        let mut args = vec![url.as_str(), "--transport", transport, "--header", &header];
        let listed = inspector(&[args.clone(), vec!["--method", "tools/list"]].concat()).await;
        assert!(
            listed["tools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "files.read_file"),
            "{transport}: {listed}"
        );
        args.extend(read_call());
        assert_read(&inspector(&args).await);
    }

    // stdio through `tgw mcp stdio` (as Claude Desktop runs it).
    let token_file = served.chain.dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", served.token)).unwrap();
    let tgw = env!("CARGO_BIN_EXE_tgw");
    let token_path = token_file.to_str().unwrap();
    let bridge = [
        vec![tgw],
        read_call(),
        vec![
            "--",
            "mcp",
            "stdio",
            "--url",
            &served.mcp,
            "--token-file",
            token_path,
        ],
    ]
    .concat();
    assert_read(&inspector(&bridge).await);
    let listed = inspector(
        &[
            vec![tgw, "--method", "tools/list", "--"],
            vec![
                "mcp",
                "stdio",
                "--url",
                &served.mcp,
                "--token-file",
                token_path,
            ],
        ]
        .concat(),
    )
    .await;
    assert!(listed["tools"].as_array().unwrap().len() >= 3, "{listed}");

    // mcp-remote as the stdio bridge, with the token in --header.
    let config_dir = served.chain.dir.path().join("mcp-remote");
    let remote = clients().join("node_modules/mcp-remote/dist/proxy.js");
    let remote = remote.to_str().unwrap();
    for (url, transport) in [(&served.mcp, "http-only"), (&sse, "sse-only")] {
        let output = Command::new("node")
            .arg(clients().join("node_modules/@modelcontextprotocol/inspector-cli/build/index.js"))
            .arg("node")
            .args(read_call())
            .args([
                "--",
                remote,
                url,
                "--header",
                &header,
                "--transport",
                transport,
            ])
            .env("MCP_REMOTE_CONFIG_DIR", &config_dir)
            .current_dir(clients().join("scripts"))
            .stderr(Stdio::inherit())
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "mcp-remote {transport}: {stdout}");
        assert_read(&serde_json::from_str(&stdout).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stdio_bridge_refuses_to_start_without_a_token_and_reports_a_bad_one() {
    let served = serve().await;
    let tgw = env!("CARGO_BIN_EXE_tgw");
    let output = Command::new(tgw)
        .args(["mcp", "stdio", "--url", &served.mcp])
        .env_remove("TGW_TOKEN")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no token"));

    // A wrong token: the request gets a JSON-RPC error naming the 401.
    let mut bridge = Command::new(tgw)
        .args(["mcp", "stdio", "--url", &served.mcp])
        .env("TGW_TOKEN", "tgw_pat_0123456789abcdef_wrong")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = bridge.stdin.take().unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}\nnot json\n")
        .await
        .unwrap();
    drop(stdin);
    let output = bridge.wait_with_output().await.unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let answer = lines
        .iter()
        .find(|l| l["id"] == 7)
        .expect("an answer to id 7");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("401"),
        "{answer}"
    );
    assert!(
        lines.iter().any(|l| l["error"]["code"] == -32700),
        "{lines:?}"
    );
}

/// The server scenarios of the official conformance suite that apply to a
/// gateway whose tools are its skills (the README lists the others and
/// why they do not apply).
const CONFORMANCE: [&str; 4] = [
    "server-initialize",
    "ping",
    "tools-list",
    "server-sse-multiple-streams",
];

/// Runs a conformance server `scenario` against `url` with `token` (added
/// by `scripts/bearer.mjs`); it must pass.
async fn conformance(scenario: &str, url: &str, token: &str, results: &Path) {
    let output = Command::new(clients().join("node_modules/.bin/node"))
        .arg("--import")
        .arg(clients().join("scripts/bearer.mjs"))
        .arg(clients().join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", url, "--scenario", scenario, "-o"])
        .arg(results)
        .env("MCP_BEARER", token)
        .current_dir(clients())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "conformance {scenario} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{scenario}: {stdout}");
    assert!(!stdout.contains("FAILURE"), "{scenario}: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_server_scenarios_that_apply_pass() {
    ensure_clients();
    let served = serve().await;
    let results = served.chain.dir.path().join("conformance");
    for scenario in CONFORMANCE {
        conformance(scenario, &served.mcp, &served.token, &results).await;
    }
}

/// An OAuth client's authorization, done by the person in Chromium: the
/// consent screen names the client and where it sends the person back.
async fn consent_in_the_browser(
    client: &mut Speaker,
    approver: &mut Speaker,
    served: &Served,
) -> Value {
    let authorize = client.expect("authorize").await;
    let url = authorize["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", served.origin)),
        "{url}"
    );
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("resource="), "{url}");
    approver.tell(&format!("AUTHORIZE {url}")).await;
    let consent = approver.event().await;
    assert_eq!(consent["event"], "consent", "{consent}");
    assert_eq!(consent["host"], "127.0.0.1", "{consent}");
    for scope in ["mcp:execute", "tools:list", "tools:call"] {
        assert!(
            consent["text"].as_str().unwrap().contains(scope),
            "{consent}"
        );
    }
    assert_eq!(approver.line().await, "AUTHORIZED");
    consent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_clients_connect_after_a_passkey_sign_in_and_consent() {
    let served = serve().await;
    let mut approver = approver(&served).await;
    // OAuth clients name the gateway by its public URL: the resource
    // (the tokens' audience) is that URL.
    let mcp = format!("{}/v1/mcp", served.origin);

    // The TypeScript SDK's OAuth client provider.
    let mut client = {
        let mut command = node("ts-oauth.mjs");
        command.arg(&mcp);
        Speaker::spawn("ts-oauth", command)
    };
    let consent = consent_in_the_browser(&mut client, &mut approver, &served).await;
    assert_eq!(consent["title"], "Connect TypeScript SDK test client?");
    assert_lists(&client.expect("tools").await, "files.read_file");
    assert_read(&client.expect("read").await["result"]);
    let token = client.expect("token").await;
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert!(!access.starts_with("tgw_pat_"), "an OAuth JWT: {access}");
    client.expect("done").await;

    // The conformance suite's server scenarios, with that OAuth token.
    for scenario in ["server-initialize", "tools-list"] {
        let results = served.chain.dir.path().join("conformance-oauth");
        conformance(scenario, &mcp, &access, &results).await;
    }

    // The Python client's OAuthClientProvider.
    let mut client = {
        let mut command = Command::new(clients().join(".venv/bin/python"));
        command
            .arg(clients().join("scripts/py_oauth.py"))
            .arg(&mcp)
            .current_dir(clients());
        Speaker::spawn("py-oauth", command)
    };
    let consent = consent_in_the_browser(&mut client, &mut approver, &served).await;
    assert_eq!(consent["title"], "Connect Python mcp test client?");
    assert_lists(&client.expect("tools").await, "files.read_file");
    let read = client.expect("read").await;
    assert_eq!(read["result"]["is_error"], false, "{read}");
    client.expect("done").await;

    // An attacker registers a client called "Claude" that sends codes to
    // their own host. The person is signed in, and still the consent screen
    // shows, naming the attacker's host; denied, the attacker gets no code.
    approver.tell("ATTACKER").await;
    let consent = approver.event().await;
    assert_eq!(consent["event"], "consent", "{consent}");
    assert_eq!(consent["title"], "Connect Claude?");
    assert_eq!(consent["host"], "evil.example");
    assert!(
        consent["text"]
            .as_str()
            .unwrap()
            .contains("Anyone can register"),
        "{consent}"
    );
    let landed = approver.expect("landed").await;
    let url = landed["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://evil.example/cb?error=access_denied"),
        "{url}"
    );
    assert!(
        url.contains("state=attack") && !url.contains("code="),
        "{url}"
    );
    approver.tell("QUIT").await;
}
