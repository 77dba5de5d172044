//! The MCP front door: where agents propose.
//!
//! - `POST|GET|DELETE /v1/mcp`: Streamable HTTP, served by rmcp.
//! - `GET /v1/mcp/sse` and `POST /v1/mcp/message`: the legacy HTTP+SSE
//!   transport (`sse.rs`).
//!
//! Every request first passes `guard.rs` (Host, Origin, bearer token,
//! scopes, keys named twice). A Streamable HTTP session belongs to the
//! principal who opened it: anyone else's request with its id gets 404,
//! as SSE sessions do. Claude.ai sometimes drops `Mcp-Session-Id` on later requests:
//! such a request is not refused but served on its own by a session-less
//! rmcp service (its progress still streams back on its response). A
//! missing `MCP-Protocol-Version` header is read as 2025-03-26, as the spec
//! says, by rmcp.

mod call;
mod guard;
mod handler;
mod headers;
mod input;
mod sse;
mod task;
pub mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use guard::{Allowed, MAX_BODY, methods_in, source_in, source_of};
pub use handler::{McpHandler, McpState};

use crate::oauth::OAuthState;
use crate::people::People;

type Sessions = StreamableHttpService<McpHandler, LocalSessionManager>;
type Sessionless = StreamableHttpService<McpHandler, NeverSessionManager>;

#[derive(Clone)]
struct Streamable {
    sessions: Sessions,
    sessionless: Sessionless,
    manager: Arc<LocalSessionManager>,
    /// Who opened each session: only they may use or end it.
    owners: Arc<Mutex<HashMap<String, String>>>,
    doors: crate::audit::doors::Doors,
    /// The tools, for the `Mcp-Param-*` headers of their calls.
    state: Arc<McpState>,
}

const SESSION_HEADER: &str = "mcp-session-id";

/// What `Mcp-Param-*` headers are checked against in a `tools/call`.
#[derive(Default, serde::Deserialize)]
struct CallPeek {
    id: Option<serde_json::Value>,
    params: Option<CallPeekParams>,
}

#[derive(Default, serde::Deserialize)]
struct CallPeekParams {
    name: Option<String>,
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
}

fn session_of(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The first revision whose clients send `Mcp-Param-*` headers.
const PARAM_HEADERS_SINCE: &str = "2026-07-28";

impl Streamable {
    /// Refuses a 2026-07-28 `tools/call` whose `Mcp-Param-*` headers and
    /// arguments disagree: 400 and JSON-RPC error -32020 (HeaderMismatch),
    /// audited as `header-mismatch`.
    async fn check_param_headers(&self, request: Request) -> Result<Request, Response> {
        let version = request
            .headers()
            .get("mcp-protocol-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if version < PARAM_HEADERS_SINCE {
            return Ok(request);
        }
        let user = request
            .extensions()
            .get::<crate::people::Caller>()
            .map(|c| c.user.clone())
            .unwrap_or_default();
        let (parts, body) = request.into_parts();
        // The guard has read it already, within its limit.
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        // Only what the headers are checked against is read (rmcp reads
        // the whole message next); a body that does not parse is rmcp's
        // to refuse.
        let message: CallPeek = serde_json::from_slice(&bytes).unwrap_or_default();
        let params = message.params.unwrap_or_default();
        let skills = self.state.skills.current();
        let aliases = self.state.policy.current().aliases.clone();
        let tool = params
            .name
            .as_deref()
            .and_then(|name| tools::resolve(&skills, name, &aliases));
        if let Some((_, info)) = tool
            && let Err(mismatch) = headers::check(
                &parts.headers,
                &info.input_schema,
                params.arguments.as_ref(),
            )
        {
            let why = mismatch.to_string();
            self.doors
                .refused(
                    crate::audit::doors::Door::Mcp,
                    crate::audit::doors::Who::Known(user),
                    "header-mismatch",
                    &why,
                )
                .await;
            let error = serde_json::json!({
                "jsonrpc": "2.0",
                "id": message.id.unwrap_or_default(),
                "error": {"code": -32020, "message": why},
            });
            return Err((http::StatusCode::BAD_REQUEST, axum::Json(error)).into_response());
        }
        Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records who opened `session`, and forgets the sessions rmcp has
    /// closed since (so the map holds live sessions only).
    async fn opened(&self, session: String, user: String) {
        let live: Vec<String> = self
            .manager
            .sessions
            .read()
            .await
            .keys()
            .map(ToString::to_string)
            .collect();
        let mut owners = self.owners();
        owners.retain(|id, _| live.contains(id));
        owners.insert(session, user);
    }
}

/// `/v1/mcp`: with a session id (or opening one) to the session service;
/// a request that lost its session id to the session-less one. A session
/// belongs to whoever opened it: another principal's request with its id
/// is answered as if the session did not exist.
async fn streamable(State(services): State<Streamable>, request: Request) -> Response {
    let peeked = request.extensions().get::<guard::Peeked>().copied();
    let opens_session = peeked.is_some_and(|p| p.initialize);
    let request = if peeked.is_some_and(|p| p.tools_call) {
        match services.check_param_headers(request).await {
            Ok(request) => request,
            Err(refused) => return refused,
        }
    } else {
        request
    };
    let user = request
        .extensions()
        .get::<crate::people::Caller>()
        .map(|c| c.user.clone())
        .unwrap_or_default();
    let session = session_of(request.headers());
    let foreign = session.as_ref().filter(|id| {
        services
            .owners()
            .get(*id)
            .is_some_and(|owner| *owner != user)
    });
    if let Some(id) = foreign {
        services
            .doors
            .refused(
                crate::audit::doors::Door::Mcp,
                crate::audit::doors::Who::Known(user.clone()),
                "session-not-found",
                &format!("the request names session {id}, which another principal opened"),
            )
            .await;
        return (
            http::StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "no such session"})),
        )
            .into_response();
    }
    let lost_session =
        request.method() == http::Method::POST && !opens_session && session.is_none();
    let deleting = request.method() == http::Method::DELETE;
    let mut response = if lost_session {
        services.sessionless.handle(request).await.into_response()
    } else {
        services.sessions.handle(request).await.into_response()
    };
    if opens_session && let Some(id) = session_of(response.headers()) {
        services.opened(id, user).await;
    }
    // rmcp says 202 to a DELETE that ended the session; clients expect 200
    // or 204 (the Python SDK logs a failure otherwise).
    if deleting && response.status() == http::StatusCode::ACCEPTED {
        *response.status_mut() = http::StatusCode::NO_CONTENT;
        if let Some(id) = &session {
            services.owners().remove(id);
        }
    }
    response
}

/// The MCP routes, served for the sessions of `state`; `people` and
/// `oauth` check the tokens.
pub fn routes(
    state: Arc<McpState>,
    people: &People,
    oauth: &OAuthState,
    doors: &crate::audit::doors::Doors,
) -> Router {
    let allowed = Allowed::from_public_url(&oauth.issuer.url);
    let factory = {
        let state = state.clone();
        move || Ok(McpHandler::new(state.clone()))
    };
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed.hosts())
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(MAX_BODY);
    let manager = Arc::new(LocalSessionManager::default());
    let services = Streamable {
        state: state.clone(),
        manager: manager.clone(),
        owners: Arc::default(),
        doors: doors.clone(),
        sessions: StreamableHttpService::new(factory.clone(), manager, config.clone()),
        sessionless: StreamableHttpService::new(
            factory,
            Arc::new(NeverSessionManager::default()),
            config.with_legacy_session_mode(false),
        ),
    };
    let sse = sse::SseState {
        handler: McpHandler::new(state),
        sessions: Arc::default(),
    };
    let guard = guard::GuardState {
        people: people.clone(),
        allowed,
        issuer: oauth.issuer.clone(),
        oauth: oauth.clone(),
        doors: doors.clone(),
    };
    Router::new()
        .route("/v1/mcp", any(streamable).with_state(services))
        .route("/v1/mcp/sse", get(sse::open).with_state(sse.clone()))
        .route("/v1/mcp/message", post(sse::message).with_state(sse))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
}
