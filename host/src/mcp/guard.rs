//! The checks in front of every MCP request, before any JSON-RPC is read:
//!
//! 1. `Host` must name this gateway (its public URL's host, or loopback),
//!    and an `Origin`, when a browser sends one, must be its public origin
//!    or loopback: DNS-rebinding protection. Otherwise 403.
//! 2. A bearer token must check out (`People::authenticate`) and carry
//!    `mcp:execute`. Otherwise 401 with `WWW-Authenticate: Bearer`, or 403.
//! 3. A POST's body is read once here. A key named twice in one object,
//!    anywhere in it, is refused (`duplicate-key`) and audited before
//!    anything else reads it: rmcp's parser keeps the last of duplicate
//!    keys, so `{"cmd":"ls","cmd":"rm -rf /"}` would otherwise mean one
//!    thing to the client and another to the gateway.
//! 4. The messages a POST names: `tools/list` needs the
//!    `tools:list` scope and `tools/call` needs `tools:call` (403 with
//!    `error="insufficient_scope"`), and the guard notes whether the body
//!    opens a session (`initialize`), for the routing in `mod.rs`.
//!
//! The authenticated [`Caller`] rides in the request's extensions; rmcp
//! hands them to the handler with each message.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::audit::doors::{Door, Doors, Who};
use crate::people::{Caller, People, Scope};
use crate::refusal::{Refusal, RefusalCode};

/// The largest MCP message accepted (as rmcp's own default).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

pub use tgw_parse::mcp::methods_in;

/// Who may address the MCP endpoints.
#[derive(Clone, Debug)]
pub struct Allowed {
    /// The public URL's host (lowercase, no port).
    pub host: String,
    /// The public URL's origin (`scheme://host[:port]`).
    pub origin: String,
}

/// What the guard learnt from a POST's body.
#[derive(Clone, Copy, Debug)]
pub struct Peeked {
    pub initialize: bool,
    /// It calls a tool: its `Mcp-Param-*` headers are checked (`headers.rs`).
    pub tools_call: bool,
}

#[derive(Clone)]
pub struct GuardState {
    pub people: People,
    pub allowed: Allowed,
    /// Names the resource and its metadata in every challenge (RFC 9728),
    /// so an OAuth client knows where to get a token.
    pub issuer: crate::oauth::Issuer,
    /// For OAuth access tokens (JWTs); personal access tokens are checked
    /// by `people`.
    pub oauth: crate::oauth::OAuthState,
    /// Where the door's refusals are written.
    pub doors: Doors,
}

const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl Allowed {
    pub fn from_public_url(public_url: &str) -> Self {
        let origin = public_url.trim_end_matches('/').to_ascii_lowercase();
        let authority = origin.split("://").nth(1).unwrap_or_default();
        Allowed {
            host: host_of(authority).to_owned(),
            origin,
        }
    }

    /// The hosts for rmcp's own check (a name without a port matches any).
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts = vec![
            self.host.clone(),
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ];
        hosts.dedup();
        hosts
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let name = host_of(&host);
        name == self.host || LOOPBACK.contains(&name)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        if origin == self.origin {
            return true;
        }
        match origin.strip_prefix("http://") {
            Some(authority) => !authority.contains('/') && LOOPBACK.contains(&host_of(authority)),
            None => false,
        }
    }
}

/// The host part of `host[:port]` or `[v6][:port]`.
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority.split(':').next().unwrap_or_default()
}

fn forbidden(message: &str) -> Response {
    (StatusCode::FORBIDDEN, axum::Json(json!({"error": message}))).into_response()
}

fn challenge(status: StatusCode, value: String, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({"error": message}))).into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The scope each method needs beyond `mcp:execute`.
fn needed(method: &str) -> Option<Scope> {
    match method {
        "tools/list" => Some(Scope::ToolsList),
        "tools/call" => Some(Scope::ToolsCall),
        _ => None,
    }
}

/// The source address of a request, when the listener gave it.
pub fn source_of(request: &Request) -> Option<String> {
    source_in(request.extensions())
}

/// The source address among a request's extensions (plain TCP or TLS).
pub fn source_in(extensions: &http::Extensions) -> Option<String> {
    use axum::extract::ConnectInfo;
    extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<crate::tls::Peer>>()
                .map(|info| info.0.0)
        })
        .map(|addr| addr.ip().to_string())
}

/// The guard, with every refusal audited: an anonymous one counted
/// (`crate::audit::doors`), one of a known caller written at once.
pub async fn guard(State(state): State<GuardState>, request: Request, next: Next) -> Response {
    let source = source_of(&request);
    match check(&state, request, next).await {
        Ok(response) => response,
        Err(refused) => {
            let who = match refused.caller {
                Some(user) => Who::Known(user),
                None => Who::Anonymous(source),
            };
            state
                .doors
                .refused(Door::Mcp, who, refused.code, &refused.reason)
                .await;
            refused.response
        }
    }
}

/// A request the guard turned away.
struct Refused {
    code: &'static str,
    reason: String,
    caller: Option<String>,
    response: Response,
}

fn refused(
    code: &'static str,
    reason: &str,
    caller: Option<&Caller>,
    response: Response,
) -> Refused {
    Refused {
        code,
        reason: reason.to_owned(),
        caller: caller.map(|c| c.user.clone()),
        response,
    }
}

async fn check(state: &GuardState, request: Request, next: Next) -> Result<Response, Refused> {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(std::string::ToString::to_string)
        });
    if !host.is_some_and(|h| state.allowed.host_allowed(&h)) {
        let why = "this gateway does not answer to that Host";
        return Err(refused("foreign-host", why, None, forbidden(why)));
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin
            .to_str()
            .is_ok_and(|o| state.allowed.origin_allowed(o))
    {
        let why = "requests from that Origin are not allowed";
        return Err(refused("foreign-origin", why, None, forbidden(why)));
    }
    // The SSE transport's two paths are one resource.
    let resource = if request.uri().path() == "/v1/mcp" {
        "/v1/mcp"
    } else {
        "/v1/mcp/sse"
    };
    let about = state.issuer.challenge(resource);
    let Some(token) = bearer(headers) else {
        let why =
            "an access token is required: send `Authorization: Bearer <token>` (tgw tokens create)";
        let response = challenge(StatusCode::UNAUTHORIZED, format!("Bearer {about}"), why);
        return Err(refused("no-token", why, None, response));
    };
    let checked = if token.starts_with("tgw_pat_") {
        state.people.authenticate(token).await
    } else {
        let audience = state.issuer.resource(resource);
        crate::oauth::authenticate(&state.oauth, &state.people, token, &audience).await
    };
    let caller: Caller = match checked {
        Ok(caller) => caller,
        Err(crate::people::TokenError::Unavailable(e)) => {
            return Ok((
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": e})),
            )
                .into_response());
        }
        Err(e) => {
            // It goes into a quoted header parameter.
            let message = e.to_string().replace('"', "'");
            let response = challenge(
                StatusCode::UNAUTHORIZED,
                format!(
                    "Bearer error=\"{}\", error_description=\"{message}\", {about}",
                    crate::oauth::OAuthErrorCode::InvalidToken
                ),
                &message,
            );
            return Err(refused("invalid-token", &message, None, response));
        }
    };
    let insufficient = |scope: Scope| {
        let why = format!("this access token lacks the {} scope", scope.as_str());
        let response = challenge(
            StatusCode::FORBIDDEN,
            format!(
                "Bearer error=\"{}\", scope=\"{}\", resource_metadata=\"{}\"",
                crate::oauth::OAuthErrorCode::InsufficientScope,
                scope.as_str(),
                state.issuer.resource_metadata_url(resource)
            ),
            &why,
        );
        refused(
            RefusalCode::MissingScope.as_str(),
            &why,
            Some(&caller),
            response,
        )
    };
    if !caller.may(Scope::McpExecute) {
        return Err(insufficient(Scope::McpExecute));
    }

    let (mut parts, body) = request.into_parts();
    let mut peeked = Peeked {
        initialize: false,
        tools_call: false,
    };
    let body = if parts.method == http::Method::POST {
        let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
            let why = "the message is larger than 4 MiB";
            let response = (
                StatusCode::PAYLOAD_TOO_LARGE,
                axum::Json(json!({"error": why})),
            )
                .into_response();
            return Err(refused("too-large", why, Some(&caller), response));
        };
        if let Some((key, at)) = tgw_proto::canonical::duplicate_key(&bytes) {
            return Ok(duplicate_key(&state.doors, &caller, &bytes, &key, at).await);
        }
        // Unparseable bodies go on to rmcp, which answers them properly.
        for method in methods_in(&bytes) {
            if let Some(scope) = needed(&method).filter(|s| !caller.may(*s)) {
                return Err(insufficient(scope));
            }
            peeked.initialize |= method == "initialize";
            peeked.tools_call |= method == "tools/call";
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(caller);
    parts.extensions.insert(peeked);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// Refuses a message that names `key` twice: audited, and answered as a
/// JSON-RPC error carrying the refusal code, for the message's id when it
/// has one that is not itself in doubt.
async fn duplicate_key(
    doors: &Doors,
    caller: &Caller,
    body: &[u8],
    key: &str,
    at: usize,
) -> Response {
    let refusal = Refusal::new(
        RefusalCode::DuplicateKey,
        format!(
            "the request names the key {key:?} twice in one object (at byte {at}); JSON parsers \
             disagree about which one counts, so nothing in it was read or decided"
        ),
    );
    doors
        .refused(
            Door::Mcp,
            Who::Known(caller.user.clone()),
            refusal.code().as_str(),
            refusal.as_reason(),
        )
        .await;
    let id = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(message) if key != "id" => message.get("id").cloned().unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    let status = if id.is_null() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let error = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32602,
            "message": refusal.as_reason(),
            "data": {"tgw/refusal": refusal.code()},
        },
    });
    (status, axum::Json(error)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let allowed = Allowed::from_public_url("https://Gateway.example.com/");
        assert!(allowed.host_allowed("gateway.example.com"));
        assert!(allowed.host_allowed("gateway.example.com:443"));
        assert!(allowed.host_allowed("127.0.0.1:8400"));
        assert!(allowed.host_allowed("[::1]:8400"));
        assert!(!allowed.host_allowed("evil.example"));
        assert!(!allowed.host_allowed("gateway.example.com.evil.example"));
        assert!(allowed.origin_allowed("https://gateway.example.com"));
        assert!(allowed.origin_allowed("http://localhost:6274"));
        assert!(!allowed.origin_allowed("https://evil.example"));
        assert!(!allowed.origin_allowed("http://gateway.example.com"));
        assert!(!allowed.origin_allowed("null"));
        assert!(!allowed.origin_allowed("http://localhost.evil.example"));
    }

    #[test]
    fn methods_are_read_from_messages_and_batches_and_nothing_else() {
        assert_eq!(
            methods_in(br#"{"method":"tools/call","id":1}"#),
            ["tools/call"]
        );
        assert_eq!(
            methods_in(br#"[{"method":"initialize"},{"method":"tools/list"},{"id":3}]"#),
            ["initialize", "tools/list"]
        );
        assert!(methods_in(b"not json").is_empty());
        assert!(methods_in(br#"{"method":7}"#).is_empty());
        assert!(methods_in(br#""tools/call""#).is_empty());
        // A batch hiding a call behind a harmless message is still seen.
        assert!(
            methods_in(br#"[{"method":"ping"},{"method":"tools/call"}]"#)
                .contains(&"tools/call".to_owned())
        );
    }

    #[test]
    fn bearer_tokens() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }
}
