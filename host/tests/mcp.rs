//! The MCP front door over plain HTTP: who gets in (Host, Origin, tokens,
//! scopes), what `tools/list` shows, and that a look-alike tool name is an
//! unknown tool. The real clients (TypeScript SDK, Python `mcp`, Inspector,
//! mcp-remote, the conformance suite) are driven in `mcp_clients.rs`.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tgw::gateway::GatewayConfig;
use tgw::people::{Role, Scope};
use tower::ServiceExt;

const ALL: [Scope; 3] = Scope::ALL;

struct Gateway {
    router: Router,
    chain: chain::Chain,
}

async fn gateway() -> Gateway {
    gateway_in(tempfile::tempdir().unwrap()).await
}

/// A gateway whose data and skills live in `dir` (which may hold more
/// skills already).
async fn gateway_in(dir: tempfile::TempDir) -> Gateway {
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    let config = GatewayConfig::default();
    let chain = chain::chain_with(dir, bus, config.clone()).await;
    let router = chain.app.router();
    Gateway { router, chain }
}

impl Gateway {
    async fn token(&self, user: &str, role: Role, scopes: &[Scope]) -> String {
        let people = &self.chain.people;
        if people.user(user).await.unwrap().is_none() {
            let invitation = people.invite(role).await.unwrap();
            people.redeem(&invitation.token, user).await.unwrap();
        }
        people.create_token(user, scopes).await.unwrap().0
    }

    async fn post(&self, token: Option<&str>, extra: &[(&str, &str)], body: Value) -> Reply {
        post(&self.router, token, extra, body).await
    }

    /// `notifications/initialized` in `session`: accepted.
    async fn initialized(&self, token: &str, session: &str) {
        let reply = self
            .post(
                Some(token),
                &[("mcp-session-id", session)],
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    }

    async fn call(&self, token: &str, name: &str, arguments: Value) -> Value {
        let reply = self
            .post(
                Some(token),
                &[],
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.message()
    }
}

/// One POST to `/v1/mcp`; `extra` headers override the defaults.
async fn post(router: &Router, token: Option<&str>, extra: &[(&str, &str)], body: Value) -> Reply {
    let mut request = Request::post("/v1/mcp")
        .header(header::HOST, "localhost:8400")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = request.body(Body::from(body.to_string())).unwrap();
    for (name, value) in extra {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    /// The JSON-RPC response in the body (JSON, or the last SSE `data:`).
    fn message(&self) -> Value {
        if let Ok(value) = serde_json::from_str::<Value>(&self.body) {
            return value;
        }
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .rfind(|message| message.get("id").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in {:?}", self.body))
    }

    fn www_authenticate(&self) -> String {
        self.headers
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}})
}

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_good_token_get_401_with_a_bearer_challenge() {
    let gateway = gateway().await;
    let missing = gateway.post(None, &[], list()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert!(
        missing.www_authenticate().starts_with("Bearer "),
        "{}",
        missing.www_authenticate()
    );

    for wrong in [
        "nonsense",
        "tgw_pat_0123456789abcdef_guess",
        "tgw_pat_../../x_y",
    ] {
        let reply = gateway.post(Some(wrong), &[], list()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(reply.www_authenticate().contains("error=\"invalid_token\""));
    }

    // A real token with its secret changed is no token.
    let token = gateway.token("alice", Role::Admin, &ALL).await;
    let tampered = format!("{}x", token);
    let reply = gateway.post(Some(&tampered), &[], list()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Revoked: refused from the next request on.
    assert_eq!(
        gateway.post(Some(&token), &[], list()).await.status,
        StatusCode::OK
    );
    let id = token.split('_').nth(2).unwrap();
    gateway.chain.people.revoke_token(id).await.unwrap();
    let reply = gateway.post(Some(&token), &[], list()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("revoked"), "{}", reply.body);

    // A disabled person's tokens stop working at once.
    let bob = gateway.token("bob", Role::User, &ALL).await;
    gateway.chain.people.disable("bob").await.unwrap();
    let reply = gateway.post(Some(&bob), &[], list()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("disabled"), "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_enforced_with_403_insufficient_scope() {
    let gateway = gateway().await;
    let lister = gateway
        .token("alice", Role::User, &[Scope::McpExecute, Scope::ToolsList])
        .await;
    assert_eq!(
        gateway.post(Some(&lister), &[], list()).await.status,
        StatusCode::OK
    );
    let reply = gateway
        .post(
            Some(&lister),
            &[],
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                   "params": {"name": "files.read_file", "arguments": {"path": "report.txt"}}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let challenge = reply.www_authenticate();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"tools:call\""), "{challenge}");

    let no_mcp = gateway
        .token("alice", Role::User, &[Scope::ToolsList, Scope::ToolsCall])
        .await;
    assert_eq!(
        gateway.post(Some(&no_mcp), &[], list()).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_or_origin_gets_403() {
    let gateway = gateway().await;
    let token = gateway.token("alice", Role::Admin, &ALL).await;
    let evil_origin = gateway
        .post(Some(&token), &[("origin", "https://evil.example")], list())
        .await;
    assert_eq!(evil_origin.status, StatusCode::FORBIDDEN);
    let evil_host = gateway
        .post(Some(&token), &[("host", "evil.example")], list())
        .await;
    assert_eq!(evil_host.status, StatusCode::FORBIDDEN);
    let rebinding = gateway
        .post(
            Some(&token),
            &[("host", "localhost.evil.example:8400")],
            list(),
        )
        .await;
    assert_eq!(rebinding.status, StatusCode::FORBIDDEN);
    // Even without a token the answer is 403, not a token challenge.
    assert_eq!(
        gateway
            .post(None, &[("origin", "https://evil.example")], list())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // The gateway's own origin and loopback are fine.
    for origin in ["http://localhost:8400", "http://127.0.0.1:6274"] {
        let reply = gateway
            .post(Some(&token), &[("origin", origin)], list())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{origin}: {}", reply.body);
    }
    // A body over 4 MiB is refused before it is read.
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "a".repeat(5 << 20)}});
    let reply = gateway.post(Some(&token), &[], big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Each refusal is audited: the Host and Origin ones before any token
    // is read (so counted as anonymous), the large body as alice's.
    let refusals = door_refusals(&gateway).await;
    assert_eq!(
        anonymous_counts(&refusals),
        [
            ("foreign-host".to_owned(), 2),
            ("foreign-origin".to_owned(), 2)
        ]
    );
    assert!(
        refusals
            .iter()
            .any(|r| r["principal"] == "alice" && r["code"] == "too-large"),
        "{refusals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_listed_by_skill_with_their_schema_hints_and_digest() {
    let gateway = gateway().await;
    let token = gateway.token("alice", Role::Admin, &ALL).await;
    let reply = gateway.post(Some(&token), &[], list()).await;
    let tools = reply.message()["result"]["tools"]
        .as_array()
        .unwrap()
        .clone();
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {tools:?}"))
            .clone()
    };
    let read = tool("files.read_file");
    assert_eq!(read["annotations"]["readOnlyHint"], true);
    assert_eq!(read["annotations"]["destructiveHint"], false);
    assert_eq!(read["inputSchema"]["type"], "object");
    assert!(
        read["inputSchema"]["properties"]["path"].is_object(),
        "{read}"
    );
    let digest = read["_meta"]["tgw/component"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let delete = tool("files.delete_file");
    assert_eq!(delete["annotations"]["destructiveHint"], true);
    assert_eq!(delete["annotations"]["readOnlyHint"], false);
    // Nothing by which an agent could change the gateway.
    assert!(
        tools
            .iter()
            .all(|t| t["name"].as_str().unwrap().starts_with("files.")),
        "{tools:?}"
    );

    // files is for the group support (its skill.toml) and admins: a user
    // outside support neither sees nor calls it.
    let user = gateway.token("bob", Role::User, &ALL).await;
    let theirs = gateway.post(Some(&user), &[], list()).await.message();
    assert_eq!(theirs["result"]["tools"], json!([]), "{theirs}");
    let call = gateway
        .call(&user, "files.read_file", json!({"path": "report.txt"}))
        .await;
    assert_eq!(call["result"]["isError"], true, "{call}");
    assert_eq!(
        call["result"]["_meta"]["tgw/refusal"], "not-in-groups",
        "{call}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_session_id_is_served_and_lookalike_names_are_unknown() {
    let gateway = gateway().await;
    let token = gateway.token("alice", Role::Admin, &ALL).await;
    // Claude.ai sometimes drops Mcp-Session-Id and never sends the
    // protocol version header: the call is still served.
    let done = gateway
        .call(&token, "files.read_file", json!({"path": "report.txt"}))
        .await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(
        done["result"]["structuredContent"]["content"],
        "quarterly numbers\n"
    );
    let text: Value =
        serde_json::from_str(done["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, done["result"]["structuredContent"]);

    for name in [
        "files.read_fіle",         // Cyrillic і
        "files.read_file\u{200b}", // zero-width space
        "fi\u{2060}les.read_file", // word joiner
        "FILES.read_file",
        "files.read-file",
        "files",
        "files.",
    ] {
        let reply = gateway
            .call(&token, name, json!({"path": "report.txt"}))
            .await;
        assert_eq!(reply["error"]["code"], -32602, "{name:?}: {reply}");
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown tool"),
            "{reply}"
        );
    }

    // Refusals are results in words, not protocol errors.
    let denied = gateway
        .call(
            &token,
            "files.read_file",
            json!({"path": "../../etc/passwd"}),
        )
        .await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    let arguments_refused = gateway
        .call(
            &token,
            "files.read_file",
            json!({"path": "report.txt", "n": 1e300}),
        )
        .await;
    assert_eq!(
        arguments_refused["result"]["isError"], true,
        "{arguments_refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opens_and_later_requests_need_no_protocol_header() {
    let gateway = gateway().await;
    let token = gateway.token("alice", Role::Admin, &ALL).await;
    let init = gateway.post(Some(&token), &[], initialize()).await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.body);
    let session = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let info = init.message();
    assert_eq!(info["result"]["serverInfo"]["name"], "tgw");
    assert_eq!(info["result"]["capabilities"]["tools"]["listChanged"], true);
    gateway.initialized(&token, &session).await;
    let listed = gateway
        .post(Some(&token), &[("mcp-session-id", &session)], list())
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert!(
        listed.message()["result"]["tools"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );

    // Ending the session: 204, and the id is no longer known.
    let ended = gateway
        .router
        .clone()
        .oneshot(
            Request::delete("/v1/mcp")
                .header(header::HOST, "localhost:8400")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("mcp-session-id", &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let after = gateway
        .post(Some(&token), &[("mcp-session-id", &session)], list())
        .await;
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.body);
}

/// A gateway whose skills folder is live (no executor: these calls only
/// wait for approval), and the folder. It runs in development mode, so a
/// rebuilt component (one this checkout did not build) loads.
async fn live_gateway() -> (Router, tgw::app::App, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy) = chain::workspace(dir.path(), "default.toml");
    let secrets = std::sync::Arc::new(tgw::secrets::SecretStore::new(dir.path()));
    let runtime = chain::shared_runtime();
    let skills = tgw::registry::LiveSkills::load(
        runtime.clone(),
        &skills_dir,
        secrets,
        tgw::registry::SkillTrust::local_builds().with_dev(true),
    )
    .await
    .unwrap();
    let backend = tgw::backend::embedded::backend(dir.path()).unwrap();
    let app = chain::app(
        backend,
        runtime,
        skills,
        &policy,
        GatewayConfig::default(),
        false,
        dir.path(),
    )
    .await;
    (app.router(), app, skills_dir, dir)
}

/// A session of `token`'s, initialized, and its stream of server
/// notifications (`GET /v1/mcp`), open.
async fn listening_session(router: &Router, token: &str) -> (String, Body) {
    let init = post(router, Some(token), &[], initialize()).await;
    let session = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
    post(
        router,
        Some(token),
        &[("mcp-session-id", &session)],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    let stream = router
        .clone()
        .oneshot(
            Request::get("/v1/mcp")
                .header(header::HOST, "localhost:8400")
                .header(header::ACCEPT, "text/event-stream")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("mcp-session-id", &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    (session, stream.into_body())
}

/// Reads `stream` until it says `notifications/tools/list_changed`.
async fn hears_tools_changed(stream: &mut Body) {
    let mut heard = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !heard.contains("notifications/tools/list_changed") {
        let frame = tokio::time::timeout_at(deadline, stream.frame())
            .await
            .expect("no list_changed within 10 s")
            .unwrap()
            .unwrap();
        if let Some(data) = frame.data_ref() {
            heard.push_str(&String::from_utf8_lossy(data));
        }
    }
}

/// Rebuilds nothing, but changes the component's bytes (and digest): a
/// custom section appended to a component is still a valid component.
fn touch_component(skills_dir: &std::path::Path) {
    let path = skills_dir.join("files/files.wasm");
    let mut bytes = std::fs::read(&path).unwrap();
    let name = b"tgw-test";
    let payload = b"a new build";
    bytes.push(0); // custom section
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_skill_is_announced_and_its_old_approvals_cannot_be_approved() {
    let (router, app, skills_dir, _dir) = live_gateway().await;
    let people = &app.people;
    let invitation = people.invite(Role::Admin).await.unwrap();
    people.redeem(&invitation.token, "alice").await.unwrap();
    let token = people.create_token("alice", &ALL).await.unwrap().0;

    // A session, with its stream for server notifications open.
    let (session, mut stream) = listening_session(&router, &token).await;
    let before = post(
        &router,
        Some(&token),
        &[("mcp-session-id", &session)],
        list(),
    )
    .await
    .message();

    // A destructive call waits for a human...
    let mut events = app.approvals.subscribe();
    let caller = app.gateway.clone();
    let call = tokio::spawn(async move {
        caller
            .propose(tgw::gateway::CallRequest {
                principal: "alice".into(),
                role: Role::Admin,
                groups: Vec::new(),
                skill: "files".parse().unwrap(),
                tool: "delete_file".parse().unwrap(),
                args: br#"{"path":"report.txt"}"#.to_vec(),
                trace: None,
            })
            .await
    });
    let pending = loop {
        if let tgw::approval::ApprovalEvent::Pending(record) = events.recv().await.unwrap() {
            break record;
        }
    };

    // ...and the skill changes under it.
    touch_component(&skills_dir);
    assert!(app.skills.reload().await.unwrap());

    hears_tools_changed(&mut stream).await;
    let after = post(
        &router,
        Some(&token),
        &[("mcp-session-id", &session)],
        list(),
    )
    .await
    .message();
    let digest = |listed: &Value| {
        listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "files.delete_file")
            .unwrap()["_meta"]["tgw/component"]
            .clone()
    };
    assert_ne!(digest(&before), digest(&after));
    assert_eq!(digest(&before), json!(pending.component));

    let refused = app
        .approvals
        .challenge(&pending.id, "alice")
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("changed since this call was proposed"),
        "{refused}"
    );
    app.approvals
        .deny(&pending.id, "alice", "stale")
        .await
        .unwrap();
    let result = call.await.unwrap();
    assert_eq!(
        result.refusal().map(tgw::refusal::Refusal::code),
        Some(tgw::refusal::RefusalCode::ApprovalDenied),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_a_human_does_not_hold_up_its_session() {
    let gateway = gateway().await;
    let token = gateway.token("alice", Role::Admin, &ALL).await;
    let init = gateway.post(Some(&token), &[], initialize()).await;
    let session = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
    gateway.initialized(&token, &session).await;
    let waiting = {
        let router = gateway.router.clone();
        let (token, session) = (token.clone(), session.clone());
        tokio::spawn(async move {
            post(
                &router,
                Some(&token),
                &[("mcp-session-id", &session)],
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "files.delete_file", "arguments": {"path": "old.txt"}}}),
            )
            .await
        })
    };
    // The destructive call waits for a human…
    for _ in 0..100 {
        if !gateway.chain.approvals.pending().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(gateway.chain.approvals.pending().await.unwrap().len(), 1);
    // …while a read in the same session is answered.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        gateway.post(
            Some(&token),
            &[("mcp-session-id", &session)],
            json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                   "params": {"name": "files.read_file", "arguments": {"path": "report.txt"}}}),
        ),
    )
    .await
    .expect("the read waited behind the call that waits for a human");
    let answer = read.message();
    assert_eq!(answer["id"], 8, "{answer}");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(!waiting.is_finished());
    waiting.abort();
}

/// A gateway whose skills folder holds `invoices` (for the group
/// `billing`) beside `files`.
async fn gateway_with_invoices() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let invoices = dir.path().join("skills/invoices");
    std::fs::create_dir_all(&invoices).unwrap();
    for file in ["skill.toml", "invoices.wasm"] {
        std::fs::copy(repo.join("skills/invoices").join(file), invoices.join(file)).unwrap();
    }
    gateway_in(dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skills_groups_decide_who_sees_and_calls_its_tools() {
    let gateway = gateway_with_invoices().await;
    let names = |listed: &Value| -> Vec<String> {
        listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let people = &gateway.chain.people;

    // Bob is in billing: he sees invoices.* (and not files.*, which is for
    // support), and his call is proposed, decided and run.
    let bob = gateway.token("bob", Role::User, &ALL).await;
    people
        .add_group("bob", &"billing".parse().unwrap())
        .await
        .unwrap();
    let seen = names(&gateway.post(Some(&bob), &[], list()).await.message());
    assert_eq!(
        seen,
        [
            "invoices.list_invoices",
            "invoices.create_invoice",
            "invoices.refund_invoice"
        ]
    );
    let call = gateway
        .call(&bob, "invoices.list_invoices", json!({}))
        .await;
    assert!(call["result"]["_meta"]["tgw/refusal"].is_null(), "{call}");
    let kinds = |entries: &[tgw::audit::AuditEntry]| -> Vec<&'static str> {
        entries.iter().map(|e| e.kind.as_str()).collect()
    };
    let entries = gateway.chain.audit.read(1, 1000).await.unwrap();
    assert_eq!(
        &kinds(&entries)[..3],
        ["proposal", "decision", "grant"],
        "{entries:?}"
    );

    // Carol is in support only: no invoices for her, and a call by name is
    // refused with not-in-groups, in the result and in the audit log.
    let carol = gateway.token("carol", Role::User, &ALL).await;
    people
        .add_group("carol", &"support".parse().unwrap())
        .await
        .unwrap();
    let seen = names(&gateway.post(Some(&carol), &[], list()).await.message());
    assert!(seen.iter().all(|n| n.starts_with("files.")), "{seen:?}");
    let before = entries.len();
    let refused = gateway
        .call(
            &carol,
            "invoices.refund_invoice",
            json!({"invoice_id": "in_1", "reason": "x"}),
        )
        .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert_eq!(
        refused["result"]["_meta"]["tgw/refusal"], "not-in-groups",
        "{refused}"
    );
    let entries = gateway.chain.audit.read(1, 1000).await.unwrap();
    let after = &entries[before..];
    assert_eq!(
        kinds(after),
        ["call.refused"],
        "nothing was proposed or run: {after:?}"
    );
    assert_eq!(after[0].detail["code"], "not-in-groups");

    // Out of billing, Bob loses the tools at once.
    people
        .remove_group("bob", &"billing".parse().unwrap())
        .await
        .unwrap();
    let seen = names(&gateway.post(Some(&bob), &[], list()).await.message());
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_belongs_to_whoever_opened_it() {
    let gateway = gateway().await;
    let alice = gateway.token("alice", Role::Admin, &ALL).await;
    let mallory = gateway.token("mallory", Role::Admin, &ALL).await;
    let init = gateway.post(Some(&alice), &[], initialize()).await;
    let session = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
    gateway.initialized(&alice, &session).await;

    // Mallory holds the id: she can neither use nor end the session.
    let used = gateway
        .post(Some(&mallory), &[("mcp-session-id", &session)], list())
        .await;
    assert_eq!(used.status, StatusCode::NOT_FOUND, "{}", used.body);
    let end = |token: &str| {
        Request::delete("/v1/mcp")
            .header(header::HOST, "localhost:8400")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("mcp-session-id", &session)
            .body(Body::empty())
            .unwrap()
    };
    let ended = gateway.router.clone().oneshot(end(&mallory)).await.unwrap();
    assert_eq!(ended.status(), StatusCode::NOT_FOUND);
    let refusals = door_refusals(&gateway).await;
    assert_eq!(
        refusals
            .iter()
            .filter(|r| r["principal"] == "mallory" && r["code"] == "session-not-found")
            .count(),
        2,
        "{refusals:?}"
    );

    // Alice's session goes on, and she may end it.
    let listed = gateway
        .post(Some(&alice), &[("mcp-session-id", &session)], list())
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let ended = gateway.router.clone().oneshot(end(&alice)).await.unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
}

/// `(code, times)` of every anonymous summary among `refusals`.
fn anonymous_counts(refusals: &[Value]) -> Vec<(String, u64)> {
    refusals
        .iter()
        .filter(|r| r["anonymous"] == true)
        .flat_map(|r| r["refusals"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["times"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The `request.refused` entries of the gateway's audit log.
async fn door_refusals(gateway: &Gateway) -> Vec<Value> {
    gateway.chain.app.api.doors.summarise().await;
    gateway
        .chain
        .audit
        .entries()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == tgw::audit::AuditKind::RequestRefused)
        .map(|e| e.detail)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_at_the_door_is_audited_and_knocking_is_summarised() {
    let gateway = gateway().await;
    // Anonymous knocking: counted, not written one by one.
    for _ in 0..40 {
        let reply = gateway.post(None, &[], list()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let reply = gateway
            .post(Some("tgw_pat_0123456789abcdef_wrong"), &[], list())
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // Known callers: each refusal written, naming them.
    let reader = gateway
        .token("uma", Role::User, &[Scope::McpExecute, Scope::ToolsList])
        .await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "files.read_file", "arguments": {"path": "report.txt"}}});
    let reply = gateway.post(Some(&reader), &[], call).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let admin = gateway.token("alice", Role::Admin, &ALL).await;
    let unknown = gateway.call(&admin, "files.format_disk", json!({})).await;
    assert!(unknown.get("error").is_some(), "{unknown}");

    let refusals = door_refusals(&gateway).await;
    let anonymous: Vec<&Value> = refusals.iter().filter(|r| r["anonymous"] == true).collect();
    assert_eq!(anonymous.len(), 1, "one summary per source: {refusals:?}");
    assert_eq!(
        anonymous_counts(&refusals),
        [
            ("invalid-token".to_owned(), 40),
            ("no-token".to_owned(), 40)
        ]
    );
    let known = |who: &str, code: &str| {
        refusals
            .iter()
            .any(|r| r["door"] == "mcp" && r["principal"] == who && r["code"] == code)
    };
    assert!(known("uma", "missing-scope"), "{refusals:?}");
    assert!(known("alice", "unknown-tool"), "{refusals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knocking_from_many_sources_cannot_grow_memory_or_the_log_without_bound() {
    use tgw::audit::doors::{Door, MAX_SOURCES, OTHER_SOURCES, Who};
    let gateway = gateway().await;
    let doors = gateway.chain.app.api.doors.clone();
    let sources = MAX_SOURCES + 2000;
    for i in 0..sources {
        let source = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        doors
            .refused(
                Door::Mcp,
                Who::Anonymous(Some(source)),
                "no-token",
                "no token",
            )
            .await;
    }
    let refusals = door_refusals(&gateway).await;
    assert_eq!(refusals.len(), MAX_SOURCES + 1);
    let other = refusals
        .iter()
        .find(|r| r["source"] == OTHER_SOURCES)
        .unwrap();
    assert_eq!(other["refusals"][0]["times"], 2000);
    // Counting starts again after each summary.
    assert_eq!(door_refusals(&gateway).await.len(), MAX_SOURCES + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_is_the_name_a_client_sees_and_calls_while_policy_and_audit_see_skill_tool() {
    let dir = tempfile::tempdir().unwrap();
    let (skills_dir, policy) = chain::workspace(dir.path(), "default.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!("{text}\n[aliases]\nread_report = \"files.read_file\"\n"),
    )
    .unwrap();
    let runtime = chain::shared_runtime();
    let secrets = tgw::secrets::SecretStore::new(dir.path());
    let skills = std::sync::Arc::new(chain::local_skills(&runtime, &skills_dir, &secrets).await);
    let app = chain::app(
        tgw::backend::embedded::backend(dir.path()).unwrap(),
        runtime,
        tgw::registry::LiveSkills::fixed(skills),
        &policy,
        GatewayConfig::default(),
        true,
        dir.path(),
    )
    .await;
    let router = app.router();
    let invitation = app.people.invite(Role::Admin).await.unwrap();
    app.people.redeem(&invitation.token, "alice").await.unwrap();
    let token = app.people.create_token("alice", &ALL).await.unwrap().0;

    let listed = post(&router, Some(&token), &[], list()).await.message();
    let tools = listed["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"read_report"), "{names:?}");
    assert!(!names.contains(&"files.read_file"), "{names:?}");
    let aliased = tools.iter().find(|t| t["name"] == "read_report").unwrap();
    assert_eq!(aliased["_meta"]["tgw/tool"], "files.read_file");

    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "read_report", "arguments": {"path": "report.txt"}}});
    let done = post(&router, Some(&token), &[], call).await.message();
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(
        done["result"]["structuredContent"]["content"],
        "quarterly numbers\n"
    );
    // Policy and the audit log saw the tool by its own name.
    let entries = app.audit.read(1, 100).await.unwrap();
    let proposal = entries
        .iter()
        .find(|e| e.kind == tgw::audit::AuditKind::Proposal)
        .unwrap();
    assert_eq!(
        (&proposal.detail["skill"], &proposal.detail["tool"]),
        (&json!("files"), &json!("read_file"))
    );
    // A name that is neither an alias nor a tool is unknown.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "read_repor", "arguments": {}}});
    let unknown = post(&router, Some(&token), &[], call).await.message();
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_alias_is_announced_and_listed() {
    let (router, app, _skills_dir, dir) = live_gateway().await;
    let invitation = app.people.invite(Role::Admin).await.unwrap();
    app.people.redeem(&invitation.token, "alice").await.unwrap();
    let token = app.people.create_token("alice", &ALL).await.unwrap().0;
    let (session, mut stream) = listening_session(&router, &token).await;

    let policy = dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!("{text}\n[aliases]\nremove = \"files.delete_file\"\n"),
    )
    .unwrap();
    app.policy.reload().unwrap();
    hears_tools_changed(&mut stream).await;
    let listed = post(
        &router,
        Some(&token),
        &[("mcp-session-id", &session)],
        list(),
    )
    .await
    .message();
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"remove") && !names.contains(&"files.delete_file"),
        "{names:?}"
    );
}
