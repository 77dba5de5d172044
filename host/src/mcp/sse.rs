//! The legacy HTTP+SSE transport (MCP 2024-11-05), for clients that still
//! speak it: `GET /v1/mcp/sse` opens an event stream whose first event,
//! `endpoint`, names where to POST (`/v1/mcp/message?sessionId=…`); every
//! message from the server then arrives as a `message` event.
//!
//! rmcp dropped its SSE server, so this is a small adapter on rmcp's
//! `Transport` trait: two channels between the HTTP handlers and an rmcp
//! service. There is no second JSON-RPC stack here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::{RoleServer, ServiceExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::handler::McpHandler;
use crate::people::Caller;

/// Open SSE sessions, by id: where their POSTed messages go, and whose.
#[derive(Default)]
pub struct SseSessions(Mutex<HashMap<String, SseSession>>);

struct SseSession {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    user: String,
}

impl SseSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SseSession>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Clone)]
pub struct SseState {
    pub handler: McpHandler,
    pub sessions: Arc<SseSessions>,
}

/// rmcp's side of one SSE session.
struct ChannelTransport {
    from_client: mpsc::Receiver<ClientJsonRpcMessage>,
    to_client: mpsc::Sender<ServerJsonRpcMessage>,
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = mpsc::error::SendError<ServerJsonRpcMessage>;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let to_client = self.to_client.clone();
        async move { to_client.send(item).await }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.from_client.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.from_client.close();
        Ok(())
    }
}

/// Forgets a session when its event stream goes away, which ends its rmcp
/// service (its inbound channel closes).
struct Forget {
    sessions: Arc<SseSessions>,
    id: String,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    crate::ids::fill_random(&mut bytes);
    hex::encode(bytes)
}

/// `GET /v1/mcp/sse`
pub async fn open(
    State(state): State<SseState>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let id = random_id();
    let (to_server, from_client) = mpsc::channel(64);
    let (to_client, from_server) = mpsc::channel::<ServerJsonRpcMessage>(64);
    state.sessions.lock().insert(
        id.clone(),
        SseSession {
            to_server,
            user: caller.user,
        },
    );
    let handler = McpHandler::new(state.handler.state.clone());
    tokio::spawn(async move {
        let transport = ChannelTransport {
            from_client,
            to_client,
        };
        match handler.serve(transport).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => {
                tracing::debug!(target: "tgw::mcp", "an SSE session ended before it began: {e}");
            }
        }
    });
    let forget = Forget {
        sessions: state.sessions.clone(),
        id: id.clone(),
    };
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/v1/mcp/message?sessionId={id}"));
    let messages = tokio_stream_of(from_server).map(move |message| {
        // Held by the stream: dropped (and the session forgotten) with it.
        let _ = &forget;
        let data = serde_json::to_string(&message).unwrap_or_else(|e| {
            json!({"jsonrpc": "2.0", "error": {"code": -32603, "message": e.to_string()}})
                .to_string()
        });
        Ok(Event::default().event("message").data(data))
    });
    Sse::new(futures::stream::once(async { Ok(endpoint) }).chain(messages))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn tokio_stream_of<T: Send + 'static>(
    mut receiver: mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionQuery {
    session_id: String,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// `POST /v1/mcp/message?sessionId=…`
pub async fn message(
    State(state): State<SseState>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some(caller) = parts.extensions.get::<Caller>().cloned() else {
        return error(StatusCode::UNAUTHORIZED, "an access token is required");
    };
    let to_server = {
        let sessions = state.sessions.lock();
        match sessions.get(&query.session_id) {
            // Someone else's session is as unknown as no session.
            Some(session) if session.user == caller.user => session.to_server.clone(),
            _ => {
                return error(
                    StatusCode::NOT_FOUND,
                    "no such session: open /v1/mcp/sse again",
                );
            }
        }
    };
    let bytes: Bytes = match axum::body::to_bytes(body, super::guard::MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the message is larger than 4 MiB",
            );
        }
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("not a JSON-RPC message: {e}"),
            );
        }
    };
    message.insert_extension(parts);
    match to_server.send(message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            "the session has ended: open /v1/mcp/sse again",
        ),
    }
}
