//! `tgw mcp stdio`: Claude Desktop speaks MCP over stdio; this bridges it to
//! the gateway's Streamable HTTP endpoint.
//!
//! It relays JSON-RPC as it is, a line in, a POST out, and each message of
//! the answer (JSON or an SSE stream) a line back, rather than re-typing
//! every message through an MCP client stack: nothing is lost in between,
//! and methods neither side knows pass through. stdout carries protocol
//! only; everything else goes to stderr.
//!
//! Each POST is sent in order (so `initialize` is answered before the
//! next message goes), while its answer is streamed back on its own task
//! (so a call waiting for approval does not hold up a cancellation).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clap::Subcommand;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::http::Endpoint;

#[derive(Subcommand)]
pub enum McpCommand {
    /// Bridge stdio (Claude Desktop) to the gateway's /v1/mcp.
    Stdio {
        /// The gateway's MCP endpoint, e.g. https://gw.example.com/v1/mcp.
        #[arg(long, env = "TGW_MCP_URL")]
        url: String,
        /// A file holding the access token (`tgw tokens create`); or set
        /// TGW_TOKEN.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
}

pub async fn run(command: McpCommand) -> anyhow::Result<()> {
    match command {
        McpCommand::Stdio { url, token_file } => {
            let token = match token_file {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
                    .trim()
                    .to_owned(),
                None => std::env::var("TGW_TOKEN").map_err(|_| {
                    anyhow::anyhow!("no token: pass --token-file FILE or set TGW_TOKEN")
                })?,
            };
            bridge(Endpoint::parse(&url)?, token).await
        }
    }
}

/// What later requests must carry, learnt from `initialize`.
#[derive(Default)]
struct Session {
    id: Option<String>,
    protocol: Option<String>,
}

struct Bridge {
    endpoint: Endpoint,
    token: String,
    session: Mutex<Session>,
    out: mpsc::UnboundedSender<String>,
}

impl Bridge {
    #[expect(
        clippy::expect_used,
        reason = "the headers are the gateway's own: valid by construction"
    )]
    fn request(&self, method: http::Method, body: Bytes) -> http::Request<Full<Bytes>> {
        let authority = self
            .endpoint
            .uri
            .authority()
            .map_or(String::new(), std::string::ToString::to_string);
        let mut request = http::Request::builder()
            .method(method)
            .uri(
                self.endpoint
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str()),
            )
            .header(http::header::HOST, authority)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .header(http::header::CONTENT_TYPE, "application/json");
        let session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(id) = &session.id {
            request = request.header("mcp-session-id", id);
        }
        if let Some(version) = &session.protocol {
            request = request.header("mcp-protocol-version", version);
        }
        request
            .body(Full::new(body))
            .expect("the headers are valid")
    }

    /// An error answer for a request the gateway did not answer.
    fn fail(&self, id: &Value, message: String) {
        eprintln!("tgw mcp stdio: {message}");
        if !id.is_null() {
            let error =
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}});
            let _ = self.out.send(error.to_string());
        }
    }

    /// Sends one message from the client; returns once the gateway
    /// answered with headers, streaming the body on a task of its own.
    async fn relay(self: &Arc<Self>, line: String) {
        let message: Value = match serde_json::from_str(&line) {
            Ok(message) => message,
            Err(e) => {
                let error = json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32700, "message": format!("not JSON: {e}")}});
                let _ = self.out.send(error.to_string());
                return;
            }
        };
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let initialize = message["method"] == "initialize";
        let request = self.request(http::Method::POST, Bytes::from(line));
        let response = match self.endpoint.send(request).await {
            Ok(response) => response,
            Err(e) => return self.fail(&id, format!("the gateway cannot be reached: {e}")),
        };
        if initialize
            && let Some(session) = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
        {
            self.session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .id = Some(session.into());
        }
        let status = response.status();
        if status == http::StatusCode::ACCEPTED {
            return;
        }
        let bridge = self.clone();
        tokio::spawn(async move {
            let sse = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("text/event-stream"));
            if !status.is_success() {
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map(http_body_util::Collected::to_bytes);
                let text = body
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                return bridge.fail(&id, format!("the gateway answered {status}: {text}"));
            }
            if sse {
                bridge.stream_events(response.into_body(), initialize).await;
            } else {
                match response.into_body().collect().await {
                    Ok(body) => bridge.emit(&body.to_bytes(), initialize),
                    Err(e) => bridge.fail(&id, format!("the answer was cut off: {e}")),
                }
            }
        });
    }

    /// Writes one message to stdout, learning the protocol version from
    /// an `initialize` result.
    fn emit(&self, data: &[u8], initialize: bool) {
        let Ok(message) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if initialize && let Some(version) = message["result"]["protocolVersion"].as_str() {
            self.session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .protocol = Some(version.into());
        }
        let _ = self.out.send(message.to_string());
    }

    /// Relays the `data` of each SSE event (events are separated by a
    /// blank line; priming events carry no data).
    async fn stream_events(&self, mut body: hyper::body::Incoming, initialize: bool) {
        let mut buffer = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Some(chunk) = frame.data_ref() else {
                continue;
            };
            buffer.extend_from_slice(chunk);
            while let Some(end) = find_event_end(&buffer) {
                let event: Vec<u8> = buffer.drain(..end.1).collect();
                let data = event_data(&event[..end.0]);
                if !data.is_empty() {
                    self.emit(&data, initialize);
                }
            }
        }
    }
}

/// Where the first event in `buffer` ends: (end of its text, end of its
/// separator). Accepts `\n\n` and `\r\n\r\n`.
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn event_data(event: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(event);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| data.strip_prefix(' ').unwrap_or(data))
        .collect();
    lines.join("\n").into_bytes()
}

async fn bridge(endpoint: Endpoint, token: String) -> anyhow::Result<()> {
    let (out, mut lines_out) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = lines_out.recv().await {
            if stdout
                .write_all(format!("{line}\n").as_bytes())
                .await
                .is_err()
                || stdout.flush().await.is_err()
            {
                break;
            }
        }
    });
    let bridge = Arc::new(Bridge {
        endpoint,
        token,
        session: Mutex::default(),
        out,
    });
    eprintln!("tgw mcp stdio: relaying to {}", bridge.endpoint.uri);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if !line.trim().is_empty() {
            bridge.relay(line).await;
        }
    }
    // The client closed stdin: end the session, let answers drain.
    let has_session = bridge
        .session
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .id
        .is_some();
    if has_session {
        let _ = bridge
            .endpoint
            .send(bridge.request(http::Method::DELETE, Bytes::new()))
            .await;
    }
    drop(bridge);
    let _ = writer.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_their_data_joined() {
        let buffer = b"id: 1\ndata: {\"a\":\ndata: 1}\n\nretry: 3000\n\n";
        let (text, next) = find_event_end(buffer).unwrap();
        assert_eq!(event_data(&buffer[..text]), b"{\"a\":\n1}");
        let (text, _) = find_event_end(&buffer[next..]).unwrap();
        assert!(event_data(&buffer[next..next + text]).is_empty());
        assert_eq!(find_event_end(b"data: x\r\n\r\n"), Some((7, 11)));
        assert_eq!(find_event_end(b"data: incomplete\n"), None);
    }
}
