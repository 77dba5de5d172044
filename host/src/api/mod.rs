//! The dashboard's JSON API (`/api/...`): passkey enrollment and sign-in,
//! sessions, deciding approvals, the other pages (history, skills, policy,
//! people) and OAuth consent. The Leptos dashboard (`web/`) is its client.
//!
//! Every response carries a strict Content-Security-Policy with
//! `frame-ancestors 'none'`. Sessions are HttpOnly, SameSite=Strict cookies
//! (`__Host-` prefixed under HTTPS); every state-changing request with a
//! session must carry the session's CSRF token in `X-CSRF-Token` and, when
//! the browser sends one, this gateway's `Origin`.

mod approvals;
mod assets;
pub mod consent;
pub mod passkeys;
mod session;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tgw_proto::webauthn::RelyingParty;

use crate::approval::ApprovalWorkflow;
use crate::audit::Audit;
use crate::people::People;
use crate::policy::LivePolicy;
use crate::registry::LiveSkills;

pub use session::Sessions;

/// What the dashboard's API works with (see `crate::app`).
pub struct ApiParts {
    pub approvals: Arc<ApprovalWorkflow>,
    pub audit: Audit,
    pub people: People,
    pub skills: Arc<LiveSkills>,
    pub policy: Arc<LivePolicy>,
    pub relying_party: RelyingParty,
    /// OAuth's state, shared with the consent page.
    pub oauth: crate::oauth::OAuthState,
    /// Where every door's refusals are audited.
    pub doors: crate::audit::doors::Doors,
}

#[derive(Clone)]
pub struct ApiState {
    pub approvals: Arc<ApprovalWorkflow>,
    pub audit: Audit,
    pub people: People,
    pub skills: Arc<LiveSkills>,
    pub policy: Arc<LivePolicy>,
    pub relying_party: RelyingParty,
    pub sessions: Arc<Sessions>,
    pub oauth: crate::oauth::OAuthState,
    pub doors: crate::audit::doors::Doors,
    ceremonies: Arc<passkeys::Ceremonies>,
}

impl ApiState {
    pub fn new(parts: ApiParts) -> Self {
        let ApiParts {
            approvals,
            audit,
            people,
            skills,
            policy,
            relying_party,
            oauth,
            doors,
        } = parts;
        ApiState {
            approvals,
            audit,
            people,
            skills,
            policy,
            relying_party,
            oauth,
            doors,
            sessions: Arc::default(),
            ceremonies: Arc::default(),
        }
    }

    /// How many sign-in and enrollment challenges wait now (at most
    /// [`passkeys::MAX_CEREMONIES`]).
    pub fn challenges_waiting(&self) -> usize {
        self.ceremonies.len()
    }

    fn https(&self) -> bool {
        self.relying_party.origin.starts_with("https://")
    }
}

/// An API error: a status and a sentence for a person.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(tgw_dashboard::ApiError { error: self.1 }),
        )
            .into_response()
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError(StatusCode::UNAUTHORIZED, message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError(StatusCode::FORBIDDEN, message.into())
    }
}

/// The dashboard's routes: its pages and assets, and `/api/...`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/enroll/begin", post(passkeys::enroll_begin))
        .route("/api/enroll/finish", post(passkeys::enroll_finish))
        .route("/api/login/begin", post(passkeys::login_begin))
        .route("/api/login/finish", post(passkeys::login_finish))
        .route("/api/logout", post(session::logout))
        .route("/api/me", get(session::me))
        .route("/api/approvals", get(approvals::pending))
        .route("/api/approvals/{id}/challenge", post(approvals::challenge))
        .route("/api/approvals/{id}/approve", post(approvals::approve))
        .route("/api/approvals/{id}/deny", post(approvals::deny))
        .route("/api/events", get(views::events))
        .route("/api/audit", get(views::audit))
        .route("/api/skills", get(views::skills))
        .route(
            "/api/skills/pending/{name}/accept",
            post(views::accept_update),
        )
        .route(
            "/api/skills/pending/{name}/reject",
            post(views::reject_update),
        )
        .route("/api/policy", get(views::policy))
        .route("/api/people", get(views::people))
        .route("/api/people/invite", post(views::invite))
        .route("/api/people/{name}/disable", post(views::disable))
        .route("/api/people/{name}/revoke", post(views::revoke_tokens))
        .route("/api/people/{name}/groups", post(views::set_groups))
        .route(
            "/api/people/{name}/passkeys/{id}/enable",
            post(views::enable_passkey),
        )
        .route(
            "/api/oauth/requests/{id}",
            get(consent::request).post(consent::decide),
        )
        .merge(assets::routes())
        .with_state(state)
}
