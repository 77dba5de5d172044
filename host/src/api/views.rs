//! What the dashboard's pages read: History (the audit log and the chain's
//! status), Skills, Policy and People; and the live feed of approvals.

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::session::{changing, signed_in};
use super::{ApiError, ApiState};
use crate::approval::ApprovalEvent;
use crate::people::{GroupName, Role, User};

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn admin(user: &User) -> Result<(), ApiError> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("only admins may do this"))
    }
}

/// A state-changing request (CSRF checked) by an admin.
async fn changing_admin(state: &ApiState, headers: &HeaderMap) -> Result<User, ApiError> {
    let (_, user) = changing(state, headers).await?;
    admin(&user)?;
    Ok(user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    kind: Option<String>,
    call: Option<String>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    200
}

pub async fn audit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    signed_in(&state, &headers).await?;
    let audit = &state.audit;
    let chain = match audit.verify().await {
        Ok(count) => json!({"intact": true, "entries": count}),
        Err(e) => json!({"intact": false, "problem": e.to_string()}),
    };
    let last = audit
        .last()
        .await
        .map_err(unavailable)?
        .map_or(0, |e| e.seq);
    let mut entries = Vec::new();
    let mut from = 1;
    while from <= last {
        let batch = audit.read(from, 1000).await.map_err(unavailable)?;
        let Some(end) = batch.last().map(|e| e.seq) else {
            break;
        };
        entries.extend(batch.into_iter().filter(|e| {
            query
                .kind
                .as_ref()
                .is_none_or(|k| e.kind.as_str().starts_with(k.as_str()))
                && query.call.as_ref().is_none_or(|c| &e.call == c)
        }));
        from = end + 1;
    }
    let newest: Vec<_> = entries
        .into_iter()
        .rev()
        .take(query.limit.min(1000))
        .collect();
    Ok(Json(json!({"chain": chain, "entries": newest})))
}

pub async fn skills(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    signed_in(&state, &headers).await?;
    let skills: Vec<_> = state
        .skills
        .current()
        .iter()
        .map(|s| {
            let manifest = &s.skill.manifest;
            let caps = &manifest.capabilities;
            json!({
                "name": manifest.name,
                "version": manifest.version,
                "component": s.component.digest,
                "tools": s.tools,
                "capabilities": {
                    "dirs": caps.dirs.iter().map(|d| json!({"guest": d.guest.get_ref(), "access": format!("{:?}", d.access).to_lowercase()})).collect::<Vec<_>>(),
                    "http": manifest.http_targets().map(std::string::ToString::to_string).collect::<Vec<_>>(),
                    "fuel": caps.fuel, "memory_mib": caps.memory_mib, "timeout_ms": caps.timeout_ms,
                },
                "groups": manifest.audience.groups,
                "roles": manifest.audience.roles,
                "secrets": manifest.secrets.iter().map(|d| d.name.get_ref()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"skills": skills})))
}

pub async fn policy(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    signed_in(&state, &headers).await?;
    let policy = state.policy.current();
    Ok(Json(json!({
        "path": policy.path.display().to_string(),
        "digest": policy.digest,
        "rules": policy.rule_names().collect::<Vec<_>>(),
        "text": policy.text,
    })))
}

pub async fn people(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = signed_in(&state, &headers).await?;
    admin(&user)?;
    let mut people = Vec::new();
    for user in state.people.users().await.map_err(unavailable)? {
        let passkeys = state
            .people
            .credentials_of(&user.name)
            .await
            .map_err(unavailable)?;
        let passkeys: Vec<_> = passkeys
            .iter()
            .map(|c| json!({"id": c.id, "created": c.created, "sign_count": c.sign_count}))
            .collect();
        people.push(json!({"name": user.name, "role": user.role, "groups": user.groups, "disabled": user.disabled, "created": user.created, "passkeys": passkeys}));
    }
    Ok(Json(json!({"people": people})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    role: Role,
}

pub async fn invite(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<InviteBody>,
) -> Result<impl IntoResponse, ApiError> {
    changing_admin(&state, &headers).await?;
    let invitation = state.people.invite(body.role).await.map_err(unavailable)?;
    let link = format!("{}/enroll#{}", state.relying_party.origin, invitation.token);
    Ok(Json(
        json!({"link": link, "role": invitation.role, "expires": invitation.expires}),
    ))
}

pub async fn disable(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let user = changing_admin(&state, &headers).await?;
    if user.name == name {
        return Err(ApiError::bad_request("you cannot disable yourself"));
    }
    let disabled = state
        .people
        .disable(&name)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!({"name": disabled.name, "disabled": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsBody {
    /// The person's groups, in full (each a group name).
    groups: Vec<String>,
}

/// Sets a person's groups. Every name is checked; one bad name changes
/// nothing.
pub async fn set_groups(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<GroupsBody>,
) -> Result<impl IntoResponse, ApiError> {
    changing_admin(&state, &headers).await?;
    if body.groups.len() > crate::people::MAX_GROUPS {
        return Err(ApiError::bad_request(format!(
            "a person may be in at most {} groups",
            crate::people::MAX_GROUPS
        )));
    }
    let groups = body
        .groups
        .iter()
        .map(|g| GroupName::new(g.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let user = state
        .people
        .set_groups(&name, groups)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!({"name": user.name, "groups": user.groups})))
}

/// Revokes every token of a person: their OAuth grants (connected
/// clients such as Claude.ai) and their personal access tokens.
pub async fn revoke_tokens(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    changing_admin(&state, &headers).await?;
    let grants = crate::oauth::token::revoke_user(&state.oauth, &name)
        .await
        .map_err(unavailable)?;
    let mut personal = 0;
    for token in state.people.tokens().await.map_err(unavailable)? {
        if token.user == name && token.revoked.is_none() {
            state
                .people
                .revoke_token(&token.id)
                .await
                .map_err(unavailable)?;
            personal += 1;
        }
    }
    Ok(Json(
        json!({"name": name, "oauth_grants": grants, "personal_tokens": personal}),
    ))
}

/// `/api/events`: pending and decided approvals, as they happen, for
/// admins and approvers.
pub async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<impl IntoResponse, ApiError> {
    super::session::check_origin(&state, &headers)?;
    let (_, user) = signed_in(&state, &headers).await?;
    if !user.role.may_approve() {
        return Err(ApiError::forbidden(
            "only admins and approvers follow approvals",
        ));
    }
    let receiver = state.approvals.subscribe();
    Ok(upgrade.on_upgrade(move |socket| feed(socket, receiver)))
}

async fn feed(mut socket: WebSocket, mut events: tokio::sync::broadcast::Receiver<ApprovalEvent>) {
    loop {
        let message = match events.recv().await {
            Ok(ApprovalEvent::Pending(record)) => {
                json!({"type": "approval.pending", "approval": record})
            }
            Ok(ApprovalEvent::Decided { id, state }) => {
                json!({"type": "approval.decided", "id": id, "state": state})
            }
            // Fell behind: tell the page to reload its list.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => json!({"type": "resync"}),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if socket
            .send(Message::Text(message.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}
