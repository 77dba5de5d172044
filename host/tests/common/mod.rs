//! Shared pieces of the host's integration tests: a runtime over the guest
//! components that `build.rs` built, sandbox specs, and a local HTTP server
//! that records what reaches it.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tgw::runtime::{
    CallOutcome, HttpTarget, LoadedComponent, OutboundPolicy, Preopen, Runtime, SandboxSpec,
};

/// A runtime sharing one compile cache across the tests (compiling with a
/// debug build of Cranelift is slow).
pub fn runtime() -> Runtime {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    Runtime::new(Some(&cache)).expect("creating the runtime")
}

pub fn load(runtime: &Runtime, path: &str) -> Arc<LoadedComponent> {
    runtime
        .load_file(Path::new(path))
        .expect("loading a built guest")
}

/// A spec with generous limits and nothing reachable.
pub fn spec() -> SandboxSpec {
    let mut spec = SandboxSpec::default();
    spec.limits.timeout = Duration::from_secs(30);
    spec
}

pub fn with_http(mut spec: SandboxSpec, allow: &[&str]) -> SandboxSpec {
    let allow: Vec<HttpTarget> = allow.iter().map(|a| a.parse().unwrap()).collect();
    spec.outbound = Arc::new(OutboundPolicy {
        allow,
        secrets: spec.outbound.secrets.clone(),
    });
    spec
}

pub fn with_dir(mut spec: SandboxSpec, host: &Path, guest: &str, writable: bool) -> SandboxSpec {
    spec.dirs.push(Preopen {
        host: host.to_owned(),
        guest: guest.into(),
        writable,
    });
    spec
}

/// Runs the echo guest: proof that the runtime still serves after a
/// hostile call.
pub async fn assert_still_serving(runtime: &Runtime) {
    let echo = load(runtime, tgw::guests::GUEST_ECHO);
    let outcome = runtime
        .invoke(&echo, &spec(), "echo", r#"{"ok":true}"#, None)
        .await;
    assert_eq!(outcome.result.unwrap().text, r#"{"ok":true}"#);
}

pub async fn call(
    runtime: &Runtime,
    component: &str,
    spec: &SandboxSpec,
    tool: &str,
    args: serde_json::Value,
) -> CallOutcome<String> {
    let component = load(runtime, component);
    runtime
        .invoke(&component, spec, tool, &args.to_string(), None)
        .await
        .and_then(|output| Ok(output.text))
}

/// One request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// A local HTTP server: `/hello`, redirects, and a small invoice API that
/// wants `Authorization: Bearer <api_key>`.
pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn allow_entry(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[derive(Clone)]
struct ServerState {
    seen: Arc<Mutex<Vec<Seen>>>,
    api_key: String,
}

pub async fn start_server(api_key: &str) -> TestServer {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = ServerState {
        seen: seen.clone(),
        api_key: api_key.into(),
    };
    let app = Router::new()
        .route("/hello", get(|| async { "hello from the test server" }))
        .route(
            "/redirect/out",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "http://unlisted.example/steal")],
                )
            }),
        )
        .route(
            "/redirect/in",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/hello")]) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "too late"
            }),
        )
        .route("/v1/invoices", get(list_invoices).post(create_invoice))
        .route("/v1/invoices/{id}/refund", post(refund_invoice))
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestServer { addr, seen }
}

async fn record(
    State(state): State<ServerState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

fn authorized(state: &ServerState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {}", state.api_key))
}

async fn list_invoices(State(state): State<ServerState>, headers: HeaderMap) -> impl IntoResponse {
    if !authorized(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "bad api key"})),
        );
    }
    (
        StatusCode::OK,
        axum::Json(
            serde_json::json!({"invoices": [{"id": "inv_1", "amount_cents": 4200, "status": "paid"}]}),
        ),
    )
}

async fn create_invoice(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    if !authorized(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "bad api key"})),
        );
    }
    let mut invoice: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    invoice["id"] = "inv_2".into();
    invoice["status"] = "open".into();
    (StatusCode::CREATED, axum::Json(invoice))
}

async fn refund_invoice(
    State(state): State<ServerState>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> impl IntoResponse {
    if !authorized(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "bad api key"})),
        );
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"id": id, "status": "refunded"})),
    )
}
