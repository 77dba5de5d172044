//! The MCP front door: where agents propose.
//!
//! - `POST|GET|DELETE /v1/mcp`: Streamable HTTP, served by rmcp.
//! - `GET /v1/mcp/sse` and `POST /v1/mcp/message`: the legacy HTTP+SSE
//!   transport (`sse.rs`).
//!
//! Every request first passes `guard.rs` (Host, Origin, bearer token,
//! scopes). Claude.ai sometimes drops `Mcp-Session-Id` on later requests:
//! such a request is not refused but served on its own by a session-less
//! rmcp service (its progress still streams back on its response). A
//! missing `MCP-Protocol-Version` header is read as 2025-03-26, as the spec
//! says, by rmcp.

mod guard;
mod handler;
mod sse;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use guard::{Allowed, MAX_BODY, methods_in};
pub use handler::{McpHandler, McpState};

use crate::gateway::Gateway;

type Sessions = StreamableHttpService<McpHandler, LocalSessionManager>;
type Sessionless = StreamableHttpService<McpHandler, NeverSessionManager>;

#[derive(Clone)]
struct Streamable {
    sessions: Sessions,
    sessionless: Sessionless,
}

/// `/v1/mcp`: with a session id (or opening one) to the session service;
/// a request that lost its session id to the session-less one.
async fn streamable(State(services): State<Streamable>, request: Request) -> Response {
    let opens_session = request
        .extensions()
        .get::<guard::Peeked>()
        .is_some_and(|p| p.initialize);
    let lost_session = request.method() == http::Method::POST
        && !opens_session
        && !request.headers().contains_key("mcp-session-id");
    let deleting = request.method() == http::Method::DELETE;
    let mut response = if lost_session {
        services.sessionless.handle(request).await.into_response()
    } else {
        services.sessions.handle(request).await.into_response()
    };
    // rmcp says 202 to a DELETE that ended the session; clients expect 200
    // or 204 (the Python SDK logs a failure otherwise).
    if deleting && response.status() == http::StatusCode::ACCEPTED {
        *response.status_mut() = http::StatusCode::NO_CONTENT;
    }
    response
}

/// The MCP routes for a gateway reachable at `public_url`, and the state
/// they share (to announce tool changes).
pub fn routes(gateway: Arc<Gateway>, public_url: &str) -> (Router, Arc<McpState>) {
    let allowed = Allowed::from_public_url(public_url);
    let state = Arc::new(McpState::new(gateway.clone(), public_url));
    // A skill added, removed or rebuilt: every session hears
    // notifications/tools/list_changed.
    let mut skills_changed = gateway.live_skills().subscribe();
    let announcer = state.clone();
    tokio::spawn(async move {
        while skills_changed.changed().await.is_ok() {
            announcer.tools_changed().await;
        }
    });
    let factory = {
        let state = state.clone();
        move || {
            Ok(McpHandler {
                state: state.clone(),
            })
        }
    };
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed.hosts())
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(MAX_BODY);
    let services = Streamable {
        sessions: StreamableHttpService::new(
            factory.clone(),
            Arc::new(LocalSessionManager::default()),
            config.clone(),
        ),
        sessionless: StreamableHttpService::new(
            factory,
            Arc::new(NeverSessionManager::default()),
            config.with_legacy_session_mode(false),
        ),
    };
    let sse = sse::SseState {
        handler: McpHandler {
            state: state.clone(),
        },
        sessions: Arc::default(),
    };
    let guard = guard::GuardState {
        people: gateway.people().clone(),
        allowed,
        issuer: crate::oauth::Issuer::new(public_url),
        oauth: crate::oauth::OAuthState::new(public_url, gateway.people().store().clone()),
    };
    let router = Router::new()
        .route("/v1/mcp", any(streamable).with_state(services))
        .route("/v1/mcp/sse", get(sse::open).with_state(sse.clone()))
        .route("/v1/mcp/message", post(sse::message).with_state(sse))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard));
    (router, state)
}
