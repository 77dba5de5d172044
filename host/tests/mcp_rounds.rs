//! `tgw:skill@0.2.0` skills over MCP, stateless 2026-07-28 requests
//! against a gateway on the embedded bus: rich results, a tool's questions
//! and the sealed `requestState` of their rounds, and `subscriptions/listen`.
//! (The official suite drives the same in `conformance.rs`; the Python
//! client in `mcp_clients.rs`.)

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap says what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tgw::audit::AuditKind;
use tgw::gateway::GatewayConfig;
use tgw::people::{Role, Scope};
use tower::ServiceExt;

const VERSION: &str = "2026-07-28";

/// A gateway serving `files` and the conformance fixture's `diagnostics`,
/// and an admin's token.
async fn gateway() -> (Router, chain::Chain, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let from = repo.join("tests/conformance/skills/diagnostics");
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    let chain = chain::chain_in(
        dir,
        bus,
        GatewayConfig::default(),
        "default.toml",
        |skills| {
            let to = skills.join("diagnostics");
            std::fs::create_dir_all(&to).unwrap();
            for file in ["skill.toml", "diagnostics.wasm"] {
                std::fs::copy(from.join(file), to.join(file)).unwrap();
            }
        },
    )
    .await;
    let token = admin(&chain, "ada").await;
    (chain.app.router(), chain, token)
}

/// A token of `name`, a new admin.
async fn admin(chain: &chain::Chain, name: &str) -> String {
    let invitation = chain.people.invite(Role::Admin).await.unwrap();
    chain.people.redeem(&invitation.token, name).await.unwrap();
    chain
        .people
        .create_token(name, &Scope::ALL)
        .await
        .unwrap()
        .0
}

/// The per-request `_meta` of a 2026-07-28 client; `elicitation`: whether
/// it declares that it can ask its person.
fn meta(elicitation: bool) -> Value {
    let capabilities = if elicitation {
        json!({"elicitation": {}})
    } else {
        json!({})
    };
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "0"},
    })
}

/// A stateless request: its status and the JSON-RPC message it got.
async fn request(
    router: &Router,
    token: &str,
    method: &str,
    name: &str,
    params: Value,
) -> (StatusCode, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut builder = Request::post("/v1/mcp")
        .header(header::HOST, "localhost:8400")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", method);
    if !name.is_empty() {
        builder = builder.header("mcp-name", name);
    }
    let response = router
        .clone()
        .oneshot(builder.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let message = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .rfind(|m| m.get("id").is_some())
            .unwrap_or_else(|| panic!("no answer in {text:?}"))
    });
    (status, message)
}

async fn call(router: &Router, token: &str, tool: &str, params: Value) -> (StatusCode, Value) {
    let mut params = params;
    params["name"] = json!(tool);
    request(router, token, "tools/call", tool, params).await
}

/// The door's `request.refused` entry of `code`.
async fn refused_at_the_door(chain: &chain::Chain, code: &str) -> Value {
    chain.app.api.doors.summarise().await;
    chain
        .audit
        .entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == AuditKind::RequestRefused && e.detail["code"] == code)
        .unwrap_or_else(|| panic!("no request.refused {code}"))
        .detail
}

async fn executions(chain: &chain::Chain) -> usize {
    chain
        .audit
        .entries()
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == AuditKind::ExecutionDone)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_blocks_and_structured_content_reach_the_client_as_the_skill_gave_them() {
    let (router, _chain, token) = gateway().await;
    let (_, image) = call(
        &router,
        &token,
        "diagnostics.image",
        json!({"arguments": {}, "_meta": meta(false)}),
    )
    .await;
    let block = &image["result"]["content"][0];
    assert_eq!(block["type"], "image", "{image}");
    assert_eq!(block["mimeType"], "image/png");
    assert!(
        block["data"].as_str().unwrap().starts_with("iVBORw0KGgo"),
        "{block}"
    );
    assert_eq!(image["result"]["resultType"], "complete");

    let (_, weather) = call(
        &router,
        &token,
        "diagnostics.weather",
        json!({"arguments": {"city": "Lyon"}, "_meta": meta(false)}),
    )
    .await;
    assert_eq!(
        weather["result"]["structuredContent"],
        json!({"city": "Lyon", "celsius": 21.5, "sky": "clear"}),
        "{weather}"
    );
    let (_, listed) = request(
        &router,
        &token,
        "tools/list",
        "",
        json!({"_meta": meta(false)}),
    )
    .await;
    let listed = listed["result"]["tools"].as_array().unwrap();
    let weather = listed
        .iter()
        .find(|t| t["name"] == "diagnostics.weather")
        .unwrap();
    assert_eq!(
        weather["outputSchema"]["required"],
        json!(["city", "celsius", "sky"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_a_sealed_round_and_a_tampered_state_is_refused_and_audited() {
    let (router, chain, token) = gateway().await;
    let (_, first) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {}, "_meta": meta(true)}),
    )
    .await;
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    assert_eq!(
        result["inputRequests"]["user_name"]["params"]["message"],
        "What is your name?"
    );
    let state = result["requestState"].as_str().unwrap().to_owned();
    let answer = json!({"user_name": {"action": "accept", "content": {"name": "Ada"}}});

    // The answer, with the state as sealed: a second proposal runs.
    let (_, second) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {}, "inputResponses": answer, "requestState": state, "_meta": meta(true)}),
    )
    .await;
    assert_eq!(
        second["result"]["content"][0]["text"], "Hello, Ada!",
        "{second}"
    );
    assert_eq!(
        executions(&chain).await,
        2,
        "each round is a call of its own"
    );

    // One character changed: refused, audited, and nothing ran.
    let mut tampered = state.into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (_, refused) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {}, "inputResponses": answer, "requestState": tampered, "_meta": meta(true)}),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert_eq!(
        refused["error"]["data"]["tgw/refusal"],
        "request-state-invalid"
    );
    assert_eq!(
        executions(&chain).await,
        2,
        "the tampered round did not run"
    );
    let entry = refused_at_the_door(&chain, "request-state-invalid").await;
    assert_eq!(entry["door"], "mcp", "{entry}");
    assert_eq!(entry["principal"], "ada", "{entry}");

    // The same state for other arguments does not open either.
    let (_, elsewhere) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {"extra": 1}, "inputResponses": answer, "requestState": result["requestState"], "_meta": meta(true)}),
    )
    .await;
    assert_eq!(
        elsewhere["error"]["data"]["tgw/refusal"], "request-state-invalid",
        "{elsewhere}"
    );

    // Answers come only as inputResponses, never in the arguments.
    let (_, forged) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {"$input": answer}, "_meta": meta(true)}),
    )
    .await;
    assert_eq!(forged["error"]["code"], -32602, "{forged}");
    assert_eq!(executions(&chain).await, 2);
    refused_at_the_door(&chain, "bad-arguments").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_ask_its_person_is_told_which_capability_is_missing() {
    let (router, _chain, token) = gateway().await;
    let (status, answer) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {}, "_meta": meta(false)}),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32021, "{answer}");
    assert!(answer["error"]["data"]["requiredCapabilities"]["elicitation"].is_object());
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_disagrees_with_the_arguments_is_refused_before_anything_runs() {
    let (router, chain, token) = gateway().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "diagnostics.regional", "arguments": {"region": "eu"}, "_meta": meta(false)}});
    let send = async |region: &str| {
        let response = router
            .clone()
            .oneshot(
                Request::post("/v1/mcp")
                    .header(header::HOST, "localhost:8400")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ACCEPT, "application/json, text/event-stream")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header("mcp-protocol-version", VERSION)
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "diagnostics.regional")
                    .header("mcp-param-region", region)
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        response.status()
    };
    assert_eq!(send("us").await, StatusCode::BAD_REQUEST);
    assert_eq!(executions(&chain).await, 0);
    let entry = refused_at_the_door(&chain, "header-mismatch").await;
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains("Mcp-Param-Region"),
        "{entry}"
    );
    assert_eq!(send("eu").await, StatusCode::OK);
    assert_eq!(executions(&chain).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_stream_hears_when_the_tools_change() {
    let (router, chain, token) = gateway().await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "subscriptions/listen", "params": {
        "notifications": {"toolsListChanged": true}, "_meta": meta(false)}});
    let response = router
        .clone()
        .oneshot(
            Request::post("/v1/mcp")
                .header(header::HOST, "localhost:8400")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("mcp-protocol-version", VERSION)
                .header("mcp-method", "subscriptions/listen")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body();
    let mut heard = String::new();
    let mut read_until = async |what: &str, heard: &mut String| {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !heard.contains(what) {
            let frame = tokio::time::timeout_at(deadline, stream.frame())
                .await
                .unwrap_or_else(|_| panic!("no {what} within 10 s: {heard}"))
                .unwrap()
                .unwrap();
            if let Some(data) = frame.data_ref() {
                heard.push_str(&String::from_utf8_lossy(data));
            }
        }
    };
    read_until("notifications/subscriptions/acknowledged", &mut heard).await;

    // An alias added to the policy changes the tools a client sees.
    let policy = chain.dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!("{text}\n[aliases]\nweather = \"diagnostics.weather\"\n"),
    )
    .unwrap();
    chain.app.policy.reload().unwrap();
    read_until("notifications/tools/list_changed", &mut heard).await;
}

/// The per-request `_meta` of a 2026-07-28 client that takes tasks.
fn tasks_meta() -> Value {
    let mut meta = meta(true);
    meta["io.modelcontextprotocol/clientCapabilities"]["extensions"] =
        json!({"io.modelcontextprotocol/tasks": {}});
    meta
}

/// A task request (`tasks/get`, `tasks/cancel`) for `id`.
async fn task_request(router: &Router, token: &str, method: &str, id: &str) -> Value {
    let mut params = json!({"taskId": id, "_meta": tasks_meta()});
    if method == "tasks/update" {
        params["inputResponses"] = json!({"confirm": {"action": "accept"}});
    }
    request(router, token, method, id, params).await.1
}

/// A call of a tool that takes a minute, by a client that takes tasks: the
/// task's id.
async fn minute_long_task(router: &Router, token: &str) -> String {
    let (_, created) = call(
        router,
        token,
        "diagnostics.slow_compute",
        json!({"arguments": {"seconds": 60, "label": "long"}, "_meta": tasks_meta()}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    created["result"]["taskId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_only_its_callers_and_a_forged_record_is_not_believed() {
    let (router, chain, ada) = gateway().await;
    let eve = admin(&chain, "eve").await;
    let id = minute_long_task(&router, &ada).await;
    let got = task_request(&router, &ada, "tasks/get", &id).await;
    assert_eq!(got["result"]["status"], "working", "{got}");

    // Someone else's task does not exist for eve, and she cannot cancel it.
    for method in ["tasks/get", "tasks/cancel", "tasks/update"] {
        let answer = task_request(&router, &eve, method, &id).await;
        assert_eq!(answer["error"]["code"], -32602, "{method}: {answer}");
    }
    let got = task_request(&router, &ada, "tasks/get", &id).await;
    assert_eq!(got["result"]["status"], "working", "{got}");

    // Ids that are not ours, or not ids at all.
    for bogus in ["AAAAAAAAAAAAAAAAAAAAAA", "../../etc", &"x".repeat(4096)] {
        let answer = task_request(&router, &ada, "tasks/get", bogus).await;
        assert_eq!(answer["error"]["code"], -32602, "{bogus:.20}: {answer}");
    }

    // A record written to the store by someone without the gateway's key
    // (ada's own task, "completed" with a result nobody signed) is not
    // believed: the task is gone for the client, and the audit log says
    // why.
    let forged = json!({
        "id": id, "owner": "ada", "tool": "diagnostics.slow_compute",
        "created": 1, "updated": 1, "ttl_ms": 4_000_000_000_000u64, "url_elicitation": false,
        "state": {"status": "ended", "outcome": {"failed": {"reason": "forged"}}},
    });
    let raw = chain.backend.bucket(tgw::backend::BucketName::Tasks);
    tgw::backend::put(&*raw, &id, forged.to_string().as_bytes())
        .await
        .unwrap();
    let answer = task_request(&router, &ada, "tasks/get", &id).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let mut audited = false;
    for _ in 0..50 {
        audited = chain
            .audit
            .entries()
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == AuditKind::RecordTampered && e.detail["bucket"] == "TGW_TASKS");
        if audited {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(audited, "the forged task record was not audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_call_answers_at_once_even_for_a_client_that_takes_tasks() {
    let (router, chain, token) = gateway().await;
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut traced_meta = tasks_meta();
    traced_meta["traceparent"] = json!(trace);
    let (_, answer) = call(
        &router,
        &token,
        "diagnostics.greet",
        json!({"arguments": {"name": "Ada"}, "_meta": traced_meta}),
    )
    .await;
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "Hello, Ada!");
    // The client's trace context is in the proposal's audit entry; one
    // that does not parse is not.
    let traced = |entries: &[tgw::audit::AuditEntry]| {
        entries
            .iter()
            .filter(|e| e.kind == AuditKind::Proposal && e.detail.get("traceparent").is_some())
            .map(|e| e.detail["traceparent"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        traced(&chain.audit.entries().await.unwrap()),
        [json!(trace)]
    );
    let mut untraced = tasks_meta();
    untraced["traceparent"] = json!("00-not-a-trace-01");
    call(
        &router,
        &token,
        "diagnostics.greet",
        json!({"arguments": {"name": "Ada"}, "_meta": untraced}),
    )
    .await;
    assert_eq!(
        traced(&chain.audit.entries().await.unwrap()),
        [json!(trace)]
    );
    // Without the extension, a tool that runs only as a task is refused
    // with the capability it needs.
    let (_, refused) = call(
        &router,
        &token,
        "diagnostics.failing_job",
        json!({"arguments": {}, "_meta": meta(true)}),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waits_for_a_person_as_long_as_its_rule_says() {
    let (router, chain, token) = gateway().await;
    let policy = chain.dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[[rule]]\nname = \"deletions wait\"\nuse = \"builtin:match\"\n\
         config = { risk = [\"destructive\"] }\ndecision = \"require-approval\"\n\
         task_approval_minutes = 90\n",
    )
    .unwrap();
    chain.app.policy.reload().unwrap();
    std::fs::write(chain.files.join("old.txt"), "bytes\n").unwrap();
    let (_, created) = call(
        &router,
        &token,
        "files.delete_file",
        json!({"arguments": {"path": "old.txt"}, "_meta": tasks_meta()}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let approval = created["result"]["_meta"]["tgw/approval"].clone();
    let id = approval["id"].as_str().unwrap();
    let record = chain.approvals.get(id).await.unwrap().unwrap();
    assert_eq!(record.expires - record.created, 90 * 60 * 1000);
    assert!(chain.files.join("old.txt").exists());

    // Cancelled: the approval is withdrawn, and nothing ran.
    let task = created["result"]["taskId"].as_str().unwrap();
    let ack = task_request(&router, &token, "tasks/cancel", task).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let mut withdrawn = false;
    for _ in 0..50 {
        let record = chain.approvals.get(id).await.unwrap().unwrap();
        withdrawn = matches!(record.state, tgw::approval::ApprovalState::Withdrawn { .. });
        if withdrawn {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(withdrawn, "the approval was not withdrawn");
    let got = task_request(&router, &token, "tasks/get", task).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
    // Nothing ran, and the audit log says the approval was withdrawn.
    assert!(chain.files.join("old.txt").exists());
    assert_eq!(executions(&chain).await, 0);
    let mut audited = false;
    for _ in 0..50 {
        audited = chain.audit.entries().await.unwrap().iter().any(|e| {
            e.kind == AuditKind::ApprovalDecided
                && e.detail["approval"] == id
                && e.detail["state"]["state"] == "withdrawn"
        });
        if audited {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(audited, "the withdrawal is not in the audit log");
}

/// The executor's `execution.failed` entry whose reason says it was
/// stopped, within `seconds`.
async fn stopped_execution(chain: &chain::Chain, seconds: u64) -> Option<Value> {
    for _ in 0..seconds * 10 {
        let entries = chain.audit.entries().await.unwrap();
        if let Some(entry) = entries.into_iter().find(|e| {
            e.kind == AuditKind::ExecutionFailed
                && e.detail["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("the gateway stopped it"))
        }) {
            return Some(entry.detail);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_task_stops_its_running_tool_and_nobody_else_can() {
    let (router, chain, token) = gateway().await;
    let task = minute_long_task(&router, &token).await;

    // An order to stop every call, signed by a key the executor does not
    // trust, and one that is not an order at all: both are dropped.
    let stranger = tgw_proto::jws::JwsSigner::from_seed(&[9; 32]);
    let subject = tgw::backend::stop_subject("default");
    for jti in ["", "anything"] {
        let forged = tgw_proto::stop::sign(
            &stranger,
            &tgw_proto::stop::StopClaims {
                aud: "default".into(),
                call: String::new(),
                jti: jti.into(),
            },
        );
        chain
            .backend
            .events
            .publish(&subject, forged.into_bytes())
            .await
            .unwrap();
    }
    chain
        .backend
        .events
        .publish(&subject, b"stop everything".to_vec())
        .await
        .unwrap();
    assert!(
        stopped_execution(&chain, 1).await.is_none(),
        "a forged order stopped a call"
    );
    let got = task_request(&router, &token, "tasks/get", &task).await;
    assert_eq!(got["result"]["status"], "working", "{got}");

    // Its caller cancels: the tool stops within seconds, not a minute.
    let ack = task_request(&router, &token, "tasks/cancel", &task).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert!(
        stopped_execution(&chain, 10).await.is_some(),
        "the running tool was not stopped"
    );
    let got = task_request(&router, &token, "tasks/get", &task).await;
    assert_eq!(got["result"]["status"], "cancelled", "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_ahead_count_for_the_first_questions_only_and_must_be_answers() {
    let (router, _chain, token) = gateway().await;
    let answer = |name: &str| json!({"action": "accept", "content": {"name": name}});
    // Answered ahead, with keys nobody asked beside: the extra keys are
    // ignored, and the tool answers.
    let (_, done) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {}, "_meta": meta(true), "inputResponses": {
            "user_name": answer("Alice"), "unknown": answer("Mallory"),
        }}),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Hello, Alice!");
    // Something that is not an elicitation's result is no answer: the
    // question is asked again.
    let (_, asked) = call(
        &router,
        &token,
        "diagnostics.ask_name",
        json!({"arguments": {}, "_meta": meta(true), "inputResponses": {"user_name": 12345}}),
    )
    .await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    // An answer ahead counts for the first round only: the second question
    // of a two-round tool is asked, not answered by the same responses.
    let (_, second) = call(
        &router,
        &token,
        "diagnostics.two_questions",
        json!({"arguments": {}, "_meta": meta(true), "inputResponses": {
            "step1": answer("Ada"),
            "step2": {"action": "accept", "content": {"color": "green"}},
        }}),
    )
    .await;
    assert_eq!(second["result"]["resultType"], "input_required", "{second}");
    let keys: Vec<_> = second["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["step2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_takes_urls_is_pointed_at_the_approval_card() {
    let (router, chain, token) = gateway().await;
    std::fs::write(chain.files.join("old.txt"), "bytes\n").unwrap();
    let mut url_meta = tasks_meta();
    url_meta["io.modelcontextprotocol/clientCapabilities"]["elicitation"] = json!({"url": {}});
    let (_, created) = call(
        &router,
        &token,
        "files.delete_file",
        json!({"arguments": {"path": "old.txt"}, "_meta": url_meta}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let task = created["result"]["taskId"].as_str().unwrap().to_owned();
    let approval = created["result"]["_meta"]["tgw/approval"].clone();
    let got = task_request(&router, &token, "tasks/get", &task).await;
    assert_eq!(got["result"]["status"], "input_required", "{got}");
    let asked = &got["result"]["inputRequests"]["approval"];
    assert_eq!(asked["method"], "elicitation/create", "{got}");
    assert_eq!(asked["params"]["mode"], "url", "{got}");
    assert_eq!(asked["params"]["url"], approval["url"], "{got}");
    assert_eq!(asked["params"]["elicitationId"], approval["id"], "{got}");

    // The client showed the URL: the task works on, waiting for the person.
    let params = json!({
        "taskId": task, "_meta": tasks_meta(),
        "inputResponses": {"approval": {"action": "accept"}},
    });
    let (_, ack) = request(&router, &token, "tasks/update", &task, params).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let got = task_request(&router, &token, "tasks/get", &task).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
    assert!(
        got["result"]["statusMessage"]
            .as_str()
            .unwrap()
            .contains(approval["id"].as_str().unwrap()),
        "{got}"
    );
    assert!(chain.files.join("old.txt").exists(), "it ran unapproved");
}
