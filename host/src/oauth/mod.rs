//! OAuth 2.1 for clients that cannot be handed a token (Claude.ai).
//!
//! The stages, in the order a client meets them:
//!
//! - discovery (`metadata.rs`), which every 401 of the MCP endpoints
//!   points to;
//! - the client: dynamic client registration (`clients.rs`) or a client
//!   ID metadata document fetched behind an SSRF guard (`cimd.rs`);
//! - `/authorize` (`authorize.rs`), which hands the person to the
//!   dashboard to sign in with their passkey and consent
//!   (`crate::api::consent`);
//! - `/token` (`token.rs`): codes, RFC 9068 access tokens (`jwt.rs`) and
//!   rotating refresh tokens.

pub mod authorize;
pub mod cimd;
mod clients;
mod error;
pub mod jwt;
pub use error::OAuthErrorCode;
mod metadata;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use clients::{Client, check_redirect_uri};
pub use metadata::{Issuer, RESOURCE_PATHS};

use crate::backend::{Bucket, StoreError};
use crate::people::{Caller, People, Scope, TokenError};

#[derive(Clone)]
pub struct OAuthState {
    pub issuer: Issuer,
    /// Where clients, codes and token families are kept (the people
    /// bucket).
    pub kv: Arc<dyn Bucket>,
    /// The access-token key (its seed lives in the data dir, never in the
    /// store).
    pub signer: Arc<jwt::AccessSigner>,
    /// Authorization requests waiting for a person's consent.
    pub requests: Arc<authorize::Requests>,
}

impl OAuthState {
    pub fn new(public_url: &str, kv: Arc<dyn Bucket>, seed: &[u8; 32]) -> Self {
        OAuthState {
            issuer: Issuer::new(public_url),
            kv,
            signer: Arc::new(jwt::AccessSigner::from_seed(seed)),
            requests: Arc::default(),
        }
    }
}

/// A record of the OAuth state as stored (clients, codes, refresh tokens,
/// families).
#[expect(
    clippy::expect_used,
    reason = "our records are plain structs of strings and numbers: they always serialise"
)]
fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

/// The record under `key` and its revision; one that does not parse makes
/// the store unavailable rather than a guess.
async fn read<T: serde::de::DeserializeOwned>(
    state: &OAuthState,
    key: &str,
) -> Result<Option<(T, u64)>, StoreError> {
    match state.kv.get(key).await? {
        Some(entry) => serde_json::from_slice(&entry.value)
            .map(|value| Some((value, entry.revision)))
            .map_err(|e| StoreError::Unavailable(format!("{key} is unreadable: {e}"))),
        None => Ok(None),
    }
}

/// Checks an OAuth access token presented to the MCP `resource` (a URL):
/// signature, issuer, audience, time, its family not revoked, its person
/// active. A token is never passed on to a tool.
pub async fn authenticate(
    state: &OAuthState,
    people: &People,
    token: &str,
    resource: &str,
) -> Result<Caller, TokenError> {
    let unavailable = |e: StoreError| TokenError::Unavailable(e.to_string());
    let signer = token::signer(state).await.map_err(unavailable)?;
    let now = crate::audit::now_millis() / 1000;
    let claims = signer
        .verify(token, &state.issuer.url, resource, now)
        .map_err(TokenError::Invalid)?;
    if token::family_revoked(state, &claims.fam)
        .await
        .map_err(unavailable)?
    {
        return Err(TokenError::Revoked);
    }
    match people.user(&claims.sub).await {
        Ok(Some(user)) if !user.disabled => Ok(Caller {
            role: user.role,
            groups: user.groups,
            user: user.name,
            scopes: claims
                .scope
                .split(' ')
                .filter_map(|s| s.parse::<Scope>().ok())
                .collect(),
        }),
        Ok(_) => Err(TokenError::UserDisabled(claims.sub)),
        Err(e) => Err(TokenError::Unavailable(e.to_string())),
    }
}

/// The OAuth routes of a gateway at `public_url`. The endpoints answer at
/// the origin root and under `/oauth/`, because Claude.ai sometimes builds
/// those URLs itself instead of reading the metadata.
/// The OAuth endpoints; every error they answer with is audited at
/// `doors` (counted per source: the callers are not signed in).
pub fn routes(state: OAuthState, doors: &crate::audit::doors::Doors) -> Router {
    let mut endpoints = Router::new();
    for prefix in ["", "/oauth"] {
        endpoints = endpoints
            .route(&format!("{prefix}/authorize"), get(authorize::authorize))
            .route(&format!("{prefix}/token"), post(token::token))
            .route(&format!("{prefix}/revoke"), post(token::revoke))
            .route(&format!("{prefix}/register"), post(clients::register))
            .route(
                &format!("{prefix}/register/{{client_id}}"),
                get(clients::read),
            );
    }
    let endpoints =
        endpoints
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(
                doors.clone(),
                audit_errors,
            ));
    metadata::routes(state.issuer.clone()).merge(endpoints)
}

/// The largest error body read back for the audit log.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Audits each OAuth error answer: a JSON `error` (RFC 6749 §5.2) or an
/// `error` in the redirect back to the client (§4.1.2.1).
async fn audit_errors(
    axum::extract::State(doors): axum::extract::State<crate::audit::doors::Doors>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use crate::audit::doors::{Door, Who};
    let source = crate::mcp::source_of(&request);
    let response = next.run(request).await;
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split_once('?').map(|(_, q)| q.to_owned()));
        if let Some(query) = location {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(&query).unwrap_or_default();
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if let Some(code) = get("error") {
                let reason = get("error_description").unwrap_or_default();
                doors
                    .refused(Door::OAuth, Who::Anonymous(source), &code, &reason)
                    .await;
            }
        }
        return response;
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ERROR_BODY_LIMIT).await else {
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    // A JSON error names its code; a refusal that may not go back to the
    // client (a bad client or redirect URI) is a page for the person.
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let (code, reason) = match answer["error"].as_str() {
        Some(code) => (
            code.to_owned(),
            answer["error_description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        None => (
            OAuthErrorCode::InvalidRequest.as_str().to_owned(),
            format!("refused with a page (HTTP {status}), not sent back to the client"),
        ),
    };
    doors
        .refused(Door::OAuth, Who::Anonymous(source), &code, &reason)
        .await;
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}
