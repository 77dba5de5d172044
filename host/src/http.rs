//! The one HTTP listener's routes: the dashboard and its JSON API
//! (`crate::api`), MCP (`crate::mcp`), OAuth (`crate::oauth`) and
//! `/healthz`, with the security headers on every response.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use crate::app::App;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

pub fn router(app: &App) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::api::router(app.api.clone()))
        .merge(crate::mcp::routes(app.mcp.clone(), &app.people, &app.oauth))
        .merge(crate::oauth::routes(app.oauth.clone()))
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
