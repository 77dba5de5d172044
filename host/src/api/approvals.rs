//! Deciding approvals from the dashboard.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tgw_dashboard::{
    ApprovalChallenge, ApproveRequest, Decided, DenyRequest, PendingApproval, PendingApprovals,
};

use super::session::{changing, signed_in};
use super::{ApiError, ApiState};
use crate::approval::{ApprovalError, ApprovalRecord};

/// A pending approval as its card shows it.
/// How many words that mix writing systems a card names.
const MIXED_WORDS_NAMED: usize = 20;

/// The card of a pending call: its canonical arguments exactly, with what
/// a person cannot see escaped and named (`tgw_proto::shown`), and the
/// words that mix writing systems flagged.
pub fn card(record: &ApprovalRecord) -> PendingApproval {
    let shown = tgw_proto::shown::show(&record.args);
    let mut warnings = shown.warnings;
    for (word, scripts) in tgw_parse::scripts::mixed_script_words(&record.args, MIXED_WORDS_NAMED) {
        warnings.push(format!(
            "the word {word:?} mixes writing systems ({}): it may imitate another word",
            scripts.join(" and ")
        ));
    }
    PendingApproval {
        shown: shown.text,
        warnings,
        id: record.id.to_string(),
        call: record.call.to_string(),
        skill: record.skill.to_string(),
        tool: record.tool.to_string(),
        risk: record.risk.as_str().to_owned(),
        component: record.component.to_string(),
        principal: record.principal.clone(),
        args: record.args.clone(),
        input_hash: record.input_hash.clone(),
        policy: record.policy.clone(),
        rule: record.rule.clone(),
        reason: record.reason.clone(),
        created: record.created,
        expires: record.expires,
    }
}

fn decided(record: &ApprovalRecord) -> Decided {
    Decided {
        approval: record.id.to_string(),
        state: record.state.name().to_owned(),
    }
}

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
    Ok(Json(PendingApprovals {
        approvals: pending.iter().map(card).collect(),
    }))
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
    Ok(Json(ApprovalChallenge {
        challenge: challenge.challenge,
        nonce: challenge.nonce,
        rp_id: challenge.rp_id,
        allow_credentials: challenge.allow_credentials,
    }))
}

pub async fn approve(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ApproveRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = changing(&state, &headers).await?;
    let assertion = super::passkeys::assertion(
        &body.credential_id,
        &body.authenticator_data,
        &body.client_data_json,
        &body.signature,
    )?;
    let record = match state
        .approvals
        .approve_with_passkey(&id, &user.name, &body.nonce, &assertion)
        .await
    {
        Ok(record) => record,
        Err(e) => {
            state
                .doors
                .refused(
                    crate::audit::doors::Door::Dashboard,
                    crate::audit::doors::Who::Known(user.name.clone()),
                    e.code(),
                    &format!("approving {id}: {e}"),
                )
                .await;
            return Err(refused(e));
        }
    };
    Ok(Json(decided(&record)))
}

pub async fn deny(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<DenyRequest>,
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
    Ok(Json(decided(&record)))
}
