//! OAuth clients: dynamic client registration (RFC 7591), and the rules
//! every redirect URI must follow.
//!
//! Clients are public (`token_endpoint_auth_method: none`, PKCE instead of
//! a secret). A registration is kept in the bus state under
//! `client.<id>`; it returns a `registration_client_uri` and a
//! registration access token (RFC 7592, shown once, stored hashed) with
//! which the client may read its registration back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::OAuthState;
use super::error::OAuthErrorCode;
use crate::audit::now_millis;
use crate::backend::StoreError;
use crate::people::keys::Key;

pub use tgw_parse::oauth::{MAX_REDIRECT_URIS, check_redirect_uri};

/// What a client registered, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub issued_at: i64,
    /// hex sha256 of the registration access token.
    registration_token_hash: String,
}

/// A registration request: what we read; other metadata is ignored, as
/// RFC 7591 allows.
#[derive(Debug, Deserialize)]
pub struct Registration {
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
}

fn error(status: StatusCode, code: OAuthErrorCode, description: impl Into<String>) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": code.as_str(), "error_description": description.into()})),
    )
        .into_response()
}

fn invalid_metadata(description: impl Into<String>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        OAuthErrorCode::InvalidClientMetadata,
        description,
    )
}

use crate::ids::random_b64 as random;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A registration refused: the RFC 7591 error code and why.
type Refusal = (OAuthErrorCode, String);

impl Registration {
    fn check(&self) -> Result<(), Refusal> {
        let metadata = |why: String| (OAuthErrorCode::InvalidClientMetadata, why);
        if self.redirect_uris.is_empty() {
            return Err((
                OAuthErrorCode::InvalidRedirectUri,
                "at least one redirect URI is required".into(),
            ));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err((
                OAuthErrorCode::InvalidRedirectUri,
                format!("at most {MAX_REDIRECT_URIS} redirect URIs may be registered"),
            ));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|e| (OAuthErrorCode::InvalidRedirectUri, e))?;
        }
        if let Some(method) = &self.token_endpoint_auth_method
            && method != "none"
        {
            return Err(metadata(format!(
                "token_endpoint_auth_method {method:?} is not supported: clients are public (none) and use PKCE"
            )));
        }
        let allowed = ["authorization_code", "refresh_token"];
        if let Some(grants) = &self.grant_types
            && let Some(other) = grants.iter().find(|g| !allowed.contains(&g.as_str()))
        {
            return Err(metadata(format!("grant type {other:?} is not supported")));
        }
        if let Some(types) = &self.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(metadata(
                "only the response type \"code\" is supported".into(),
            ));
        }
        if self
            .client_name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 200)
        {
            return Err(metadata("client_name is longer than 200 characters".into()));
        }
        Ok(())
    }
}

fn document(client: &Client, issuer: &str) -> Value {
    json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.issued_at / 1000,
        "client_name": client.client_name,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "registration_client_uri": format!("{issuer}/oauth/register/{}", client.client_id),
    })
}

/// `POST /register` (and `/oauth/register`).
pub async fn register(State(state): State<OAuthState>, body: axum::body::Bytes) -> Response {
    let registration: Registration = match serde_json::from_slice(&body) {
        Ok(registration) => registration,
        Err(e) => {
            return invalid_metadata(format!("the registration is not valid JSON metadata: {e}"));
        }
    };
    if let Err((code, why)) = registration.check() {
        return error(StatusCode::BAD_REQUEST, code, why);
    }
    let access_token = random(32);
    let client = Client {
        client_id: random(16),
        client_name: registration.client_name,
        redirect_uris: registration.redirect_uris,
        issued_at: now_millis(),
        registration_token_hash: hash(&access_token),
    };
    let stored = super::json(&client);
    if let Err(e) = state
        .kv
        .create(&Key::OAuthClient(&client.client_id).render(), &stored)
        .await
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TemporarilyUnavailable,
            e.to_string(),
        );
    }
    let mut answer = document(&client, &state.issuer.url);
    answer["registration_access_token"] = json!(access_token);
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(answer),
    )
        .into_response()
}

/// Looks a client up; `None` when unknown.
pub async fn client(state: &OAuthState, id: &str) -> Result<Option<Client>, StoreError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(None);
    }
    Ok(super::read(state, &Key::OAuthClient(id).render())
        .await?
        .map(|(client, _)| client))
}

/// `GET /register/{client_id}` with the registration access token.
pub async fn read(
    State(state): State<OAuthState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(hash);
    match client(&state, &id).await {
        Ok(Some(client))
            if presented
                .as_deref()
                .is_some_and(|p| crate::ids::same_secret(p, &client.registration_token_hash)) =>
        {
            (
                [(header::CACHE_CONTROL, "no-store")],
                Json(document(&client, &state.issuer.url)),
            )
                .into_response()
        }
        Ok(_) => error(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidToken,
            "unknown client or wrong registration access token",
        ),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TemporarilyUnavailable,
            e.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        for good in [
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.com/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost:6274/oauth/callback",
            "http://[::1]:9000/cb",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "http://evil.example/cb",
            "http://localhost.evil.example/cb",
            "javascript:alert(1)",
            "https://claude.ai/cb#frag",
            "https://user@claude.ai/cb",
            "/relative/cb",
            "custom-scheme://cb",
            "",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let long = format!(
            "https://claude.ai/{}",
            "a".repeat(tgw_parse::oauth::MAX_REDIRECT_URI)
        );
        assert!(
            check_redirect_uri(&long)
                .unwrap_err()
                .contains("longer than")
        );
    }
}
