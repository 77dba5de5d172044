//! The consent page's API: a signed-in person reads an authorization
//! request that `/authorize` put aside (`crate::oauth::authorize`) and
//! allows or denies it.
//!
//! Allowing issues a one-time code bound to the person, the client, the
//! redirect URI, the PKCE challenge, the scopes and the resource; either
//! way the answer is the URL to send the browser back to. Both decisions
//! go to the audit log (kind `oauth.consent`), with the client and where
//! the person was sent.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;
use tgw_dashboard::{ConsentDecision, ConsentRequest, Redirect};

use super::session::{changing, signed_in};
use super::{ApiError, ApiState};
use crate::oauth::token::{CodeGrant, issue_code};

fn expired() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "this connection request has expired or was already answered: go back to the app and connect again"
            .into(),
    )
}

/// What the consent screen shows.
pub async fn request(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = signed_in(&state, &headers).await?;
    let request = state.oauth.requests.get(&id).ok_or_else(expired)?;
    Ok(Json(ConsentRequest {
        redirect_host: request.redirect_host(),
        client_id: request.client_id,
        client_name: request.client_name,
        client_id_is_url: request.client_id_is_url,
        redirect_uri: request.redirect_uri,
        scopes: request
            .scopes
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        resource: request.resource,
        user: user.name,
    }))
}

/// Allow or deny: `{"redirect": URL}` to send the browser back to the
/// client.
pub async fn decide(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(decision): Json<ConsentDecision>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = changing(&state, &headers).await?;
    let request = state.oauth.requests.take(&id).ok_or_else(expired)?;
    let redirect = if decision.allow {
        let scope = request
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let grant = CodeGrant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            user: user.name.clone(),
            scope,
            resource: request.resource.clone(),
        };
        let code = issue_code(&state.oauth, grant).await.map_err(|e| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the gateway cannot store the grant right now: {e}"),
            )
        })?;
        request.redirect_with(&[("code", &code)])
    } else {
        request.redirect_with(&[
            ("error", crate::oauth::OAuthErrorCode::AccessDenied.as_str()),
            ("error_description", "the person declined"),
        ])
    };
    state
        .audit
        .record(
            crate::audit::AuditKind::OauthConsent,
            "",
            json!({
                "user": user.name,
                "client_id": request.client_id,
                "client_name": request.client_name,
                "redirect_host": request.redirect_host(),
                "scopes": request.scopes,
                "resource": request.resource,
                "allowed": decision.allow,
            }),
        )
        .await;
    Ok(Json(Redirect { redirect }))
}
