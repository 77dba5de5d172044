//! Deciding approvals from the dashboard.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::session::{changing, signed_in};
use super::{ApiError, ApiState};
use crate::approval::ApprovalError;

fn refused(e: ApprovalError) -> ApiError {
    match e {
        ApprovalError::NotFound(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        ApprovalError::Store(_) | ApprovalError::People(_) => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        _ => ApiError::forbidden(e.to_string()),
    }
}

pub async fn pending(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = signed_in(&state, &headers).await?;
    if !user.role.may_approve() {
        return Err(ApiError::forbidden(
            "only admins and approvers see approvals",
        ));
    }
    let pending = state
        .approvals
        .pending()
        .await
        .map_err(|e| refused(e.into()))?;
    Ok(Json(json!({"approvals": pending})))
}

pub async fn challenge(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = changing(&state, &headers).await?;
    let challenge = state
        .approvals
        .challenge(&id, &user.name)
        .await
        .map_err(refused)?;
    Ok(Json(challenge))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    nonce: String,
    credential_id: String,
    authenticator_data: String,
    client_data_json: String,
    signature: String,
}

pub async fn approve(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ApproveBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = changing(&state, &headers).await?;
    let assertion = super::passkeys::assertion(
        &body.credential_id,
        &body.authenticator_data,
        &body.client_data_json,
        &body.signature,
    )?;
    let record = state
        .approvals
        .approve_with_passkey(&id, &user.name, &body.nonce, &assertion)
        .await
        .map_err(refused)?;
    Ok(Json(
        json!({"approval": record.id, "state": record.state.name()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    reason: String,
}

pub async fn deny(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<DenyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = changing(&state, &headers).await?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::bad_request("say why the call is denied"));
    }
    let record = state
        .approvals
        .deny(&id, &user.name, &body.reason)
        .await
        .map_err(refused)?;
    Ok(Json(
        json!({"approval": record.id, "state": record.state.name()}),
    ))
}
