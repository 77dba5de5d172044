//! What the dashboard's pages read: History (the audit log and the chain's
//! status), Skills, Policy and People; and the live feed of approvals.

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use tgw_dashboard::{
    self as dashboard, AuditPage, CapabilitiesView, ChainStatus, DirView, Disabled, FeedEvent,
    GroupsRequest, GroupsSet, InviteRequest, Invited, PasskeyEnabled, PasskeyView, PendingUpdate,
    Person, PolicyView, Revoked, SkillChange, SkillView, Skills, ToolView, UpdateDecided,
    UpdateDecision,
};

use super::session::{changing, signed_in};
use super::{ApiError, ApiState};
use crate::approval::ApprovalEvent;
use crate::audit::AuditKind;
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

/// Audits what an admin did (`admin.action`).
async fn admin_action(state: &ApiState, by: &User, mut detail: serde_json::Value) {
    detail["by"] = json!(by.name);
    state.audit.record(AuditKind::AdminAction, "", detail).await;
}

/// Which entries of the audit log a person sees: admins and auditors all
/// of them; everyone else the calls they proposed, and approvers also the
/// calls that waited for a human (theirs to decide).
struct Visible {
    all: bool,
    calls: std::collections::HashSet<String>,
}

impl Visible {
    fn to(user: &User, entries: &[crate::audit::AuditEntry]) -> Self {
        if user.role.reads_all_audit() {
            return Visible {
                all: true,
                calls: Default::default(),
            };
        }
        let calls = entries
            .iter()
            .filter(|e| {
                (e.kind == AuditKind::Proposal && e.detail["principal"] == user.name.as_str())
                    || (e.kind == AuditKind::ApprovalPending && user.role.may_approve())
            })
            .map(|e| e.call.clone())
            .collect();
        Visible { all: false, calls }
    }

    fn shows(&self, entry: &crate::audit::AuditEntry) -> bool {
        self.all || (!entry.call.is_empty() && self.calls.contains(&entry.call))
    }
}

/// `GET /api/audit`: the newest entries this person may see, and the
/// chain's status (checked incrementally: each entry once).
pub async fn audit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (_, user) = signed_in(&state, &headers).await?;
    let (report, newest) = state
        .audit
        .checked(|entries| {
            let visible = Visible::to(&user, entries);
            entries
                .iter()
                .filter(|e| {
                    visible.shows(e)
                        && query
                            .kind
                            .as_ref()
                            .is_none_or(|k| e.kind.as_str().starts_with(k.as_str()))
                        && query.call.as_ref().is_none_or(|c| &e.call == c)
                })
                .rev()
                .take(query.limit.min(1000))
                .map(|e| dashboard::AuditEntry {
                    writer: e.writer.clone(),
                    seq: e.seq,
                    ts: e.ts,
                    kind: e.kind.as_str().to_owned(),
                    call: e.call.clone(),
                    detail: e.detail.clone(),
                    prev: e.prev.clone(),
                    hash: e.hash.clone(),
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(unavailable)?;
    let chain = ChainStatus {
        intact: report.intact(),
        entries: Some(report.entries()),
        problem: (!report.intact()).then(|| {
            report
                .problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        }),
    };
    Ok(Json(AuditPage {
        chain,
        entries: newest,
    }))
}

pub async fn skills(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    signed_in(&state, &headers).await?;
    let current = state.skills.current();
    let skills = current
        .iter()
        .map(|s| {
            let manifest = &s.skill.manifest;
            let caps = &manifest.capabilities;
            SkillView {
                name: manifest.name.to_string(),
                version: manifest.version.clone(),
                component: s.component.digest.to_string(),
                tools: s
                    .tools
                    .iter()
                    .map(|t| ToolView {
                        name: t.name.clone(),
                        description: t.description.clone(),
                        risk: t.risk.as_str().to_owned(),
                        input_schema: t.input_schema.clone(),
                    })
                    .collect(),
                capabilities: CapabilitiesView {
                    dirs: caps
                        .dirs
                        .iter()
                        .map(|d| DirView {
                            guest: d.guest.get_ref().clone(),
                            access: format!("{:?}", d.access).to_lowercase(),
                        })
                        .collect(),
                    http: manifest.http_targets().map(ToString::to_string).collect(),
                    fuel: caps.fuel,
                    memory_mib: caps.memory_mib,
                    timeout_ms: caps.timeout_ms,
                },
                groups: manifest
                    .audience
                    .groups
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                roles: manifest
                    .audience
                    .roles
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                secrets: manifest
                    .secrets
                    .iter()
                    .map(|d| d.name.get_ref().clone())
                    .collect(),
                provenance: s.provenance.to_string(),
                publisher: match &s.provenance {
                    crate::registry::Provenance::Signed { publisher } => Some(publisher.clone()),
                    _ => None,
                },
            }
        })
        .collect();
    let pending = state
        .skills
        .pending()
        .into_iter()
        .map(|p| PendingUpdate {
            digest: p.shown_digest().to_owned(),
            name: p.entry.name,
            version: p.entry.version,
            publisher: p.entry.publisher,
            source: p.entry.source,
            changes: p
                .changes
                .into_iter()
                .map(|c| SkillChange {
                    what: c.what,
                    widens: c.widens,
                })
                .collect(),
        })
        .collect();
    Ok(Json(Skills {
        skills,
        refused: current.refused().to_vec(),
        dev: current.dev(),
        pending,
    }))
}

/// Accepts an update that waits for an admin's yes (the one the admin
/// was shown, by digest); audited as `admin.action` `skill-update`.
pub async fn accept_update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(decision): Json<UpdateDecision>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = changing_admin(&state, &headers).await?;
    let accepted = state
        .skills
        .accept_pending(&name, &decision.digest)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let audited =
        crate::registry::install::update_audited(&accepted.entry, &accepted.changes, true);
    admin_action(&state, &admin, audited).await;
    Ok(Json(UpdateDecided {
        name,
        version: accepted.entry.version,
        accepted: true,
    }))
}

/// Drops an update that waits; the installed version goes on serving.
/// Audited as `admin.action` `skill-update-rejected`.
pub async fn reject_update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(decision): Json<UpdateDecision>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = changing_admin(&state, &headers).await?;
    let rejected = state
        .skills
        .reject_pending(&name, &decision.digest)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    admin_action(
        &state,
        &admin,
        json!({"action": "skill-update-rejected", "skill": name,
               "version": rejected.entry.version, "digest": rejected.entry.digest}),
    )
    .await;
    Ok(Json(UpdateDecided {
        name,
        version: rejected.entry.version,
        accepted: false,
    }))
}

pub async fn policy(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    signed_in(&state, &headers).await?;
    let policy = state.policy.current();
    Ok(Json(PolicyView {
        path: policy.path.display().to_string(),
        digest: policy.digest.clone(),
        rules: policy.rule_names().map(str::to_owned).collect(),
        text: policy.text.clone(),
    }))
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
        people.push(Person {
            role: user.role.as_str().to_owned(),
            groups: user.groups.iter().map(ToString::to_string).collect(),
            disabled: user.disabled,
            created: user.created,
            passkeys: passkeys
                .into_iter()
                .map(|c| PasskeyView {
                    id: c.id,
                    created: c.created,
                    sign_count: c.sign_count,
                    suspended: c.suspended,
                })
                .collect(),
            name: user.name,
        });
    }
    Ok(Json(dashboard::People { people }))
}

pub async fn invite(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<InviteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let by = changing_admin(&state, &headers).await?;
    let role = Role::named(&body.role).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{:?} is not a role (admin, approver, user or auditor)",
            body.role
        ))
    })?;
    let invitation = state.people.invite(role).await.map_err(unavailable)?;
    admin_action(&state, &by, json!({"action": "invite", "role": role})).await;
    let link = format!("{}/enroll#{}", state.relying_party.origin, invitation.token);
    Ok(Json(Invited {
        link,
        role: invitation.role.as_str().to_owned(),
        expires: invitation.expires,
    }))
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
    admin_action(&state, &user, json!({"action": "disable", "person": name})).await;
    Ok(Json(Disabled {
        name: disabled.name,
        disabled: true,
    }))
}

/// Enables a suspended passkey of `name` again (an admin has checked the
/// authenticator); audited as `passkey.enabled`.
pub async fn enable_passkey(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = changing_admin(&state, &headers).await?;
    match state.people.credential(&id).await.map_err(unavailable)? {
        Some((credential, _)) if credential.user == name => {}
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("{name} has no passkey {id}"),
            ));
        }
    }
    let record = state
        .people
        .set_suspended(&id, None)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .audit
        .record(
            AuditKind::PasskeyEnabled,
            "",
            json!({"user": record.user, "credential": record.id, "by": admin.name}),
        )
        .await;
    Ok(Json(PasskeyEnabled {
        name: record.user,
        id: record.id,
    }))
}

/// Sets a person's groups. Every name is checked; one bad name changes
/// nothing.
pub async fn set_groups(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<GroupsRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let by = changing_admin(&state, &headers).await?;
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
    admin_action(
        &state,
        &by,
        json!({"action": "set-groups", "person": name, "groups": user.groups}),
    )
    .await;
    Ok(Json(GroupsSet {
        groups: user.groups.iter().map(ToString::to_string).collect(),
        name: user.name,
    }))
}

/// Revokes every token of a person: their OAuth grants (connected
/// clients such as Claude.ai) and their personal access tokens.
pub async fn revoke_tokens(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let by = changing_admin(&state, &headers).await?;
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
    admin_action(
        &state,
        &by,
        json!({"action": "revoke-tokens", "person": name, "oauth_grants": grants, "personal_tokens": personal}),
    )
    .await;
    Ok(Json(Revoked {
        name,
        oauth_grants: grants as u64,
        personal_tokens: personal,
    }))
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
            Ok(ApprovalEvent::Pending(record)) => FeedEvent::Pending {
                approval: Box::new(super::approvals::card(&record)),
            },
            Ok(ApprovalEvent::Decided { id, state }) => FeedEvent::Decided {
                id: id.to_string(),
                state: serde_json::to_value(&state).unwrap_or_default(),
            },
            // Fell behind: tell the page to reload its list.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => FeedEvent::Resync,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let text = serde_json::to_string(&message).unwrap_or_default();
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}
