//! The one HTTP listener's routes: the dashboard and its JSON API
//! (`crate::api`), MCP (`crate::mcp`), OAuth (`crate::oauth`) and
//! `/healthz`, with the security headers on every response.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use crate::api::ApiState;
use crate::mcp::McpState;
use crate::oauth::OAuthState;
use crate::people::People;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// Everything the listener serves: the dashboard's `api`, the `mcp`
/// sessions (their tokens checked against `people` and `oauth`), OAuth.
pub fn router(api: ApiState, mcp: Arc<McpState>, people: &People, oauth: &OAuthState) -> Router {
    let doors = api.doors.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::api::router(api))
        .merge(crate::mcp::routes(mcp, people, oauth, &doors))
        .merge(crate::oauth::routes(oauth.clone(), &doors))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
