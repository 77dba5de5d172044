//! Sessions and CSRF.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ApiError, ApiState};
use crate::expiring::{ExpiringMap, WhenFull};
use crate::people::User;

pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
}

/// The most dashboard sessions at once; past it the oldest ends.
pub const MAX_SESSIONS: usize = 10_000;

/// Live sessions, by the hash of their cookie (a stolen copy of this map
/// holds no usable cookie).
pub struct Sessions(ExpiringMap<Session>);

impl Default for Sessions {
    fn default() -> Self {
        Sessions(ExpiringMap::new(
            SESSION_LIFETIME,
            MAX_SESSIONS,
            WhenFull::EvictOldest,
        ))
    }
}

fn random() -> String {
    crate::ids::random_b64(32)
}

fn key(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

impl Sessions {
    /// A new session for `user`: (cookie value, session).
    pub fn start(&self, user: &str) -> (String, Session) {
        let cookie = random();
        let session = Session {
            user: user.into(),
            csrf: random(),
        };
        // An evicting map always has room.
        let _ = self.0.insert(key(&cookie), session.clone());
        (cookie, session)
    }

    fn get(&self, cookie: &str) -> Option<Session> {
        self.0.get(&key(cookie))
    }

    fn end(&self, cookie: &str) {
        self.0.take(&key(cookie));
    }
}

pub fn cookie_name(state: &ApiState) -> &'static str {
    if state.https() {
        "__Host-tgw_session"
    } else {
        "tgw_session"
    }
}

/// The `Set-Cookie` value of a new session.
#[expect(
    clippy::expect_used,
    reason = "a cookie of base64url and fixed words is always a valid header value"
)]
pub fn set_cookie(state: &ApiState, value: &str) -> HeaderValue {
    let secure = if state.https() { "; Secure" } else { "" };
    let text = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        cookie_name(state),
        SESSION_LIFETIME.as_secs()
    );
    HeaderValue::from_str(&text).expect("a cookie of base64url is a valid header")
}

fn cookie<'a>(state: &ApiState, headers: &'a HeaderMap) -> Option<&'a str> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in, active user of a request.
pub async fn signed_in(state: &ApiState, headers: &HeaderMap) -> Result<(Session, User), ApiError> {
    let cookie = cookie(state, headers)
        .ok_or_else(|| ApiError::unauthorized("sign in with your passkey first"))?;
    let session = state
        .sessions
        .get(cookie)
        .ok_or_else(|| ApiError::unauthorized("your session has ended: sign in again"))?;
    let user = state
        .people
        .user(&session.user)
        .await
        .map_err(|e| ApiError(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .ok_or_else(|| ApiError::unauthorized("your account no longer exists"))?;
    if user.disabled {
        state.sessions.end(cookie);
        return Err(ApiError::forbidden("your account is disabled"));
    }
    Ok((session, user))
}

/// For state-changing requests: the Origin, when sent, must be this
/// gateway's.
pub fn check_origin(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) if origin != state.relying_party.origin => Err(ApiError::forbidden(format!(
            "requests from {origin} are not accepted"
        ))),
        _ => Ok(()),
    }
}

/// For state-changing requests with a session: the origin, and the CSRF
/// token in `X-CSRF-Token`.
pub async fn changing(state: &ApiState, headers: &HeaderMap) -> Result<(Session, User), ApiError> {
    check_origin(state, headers)?;
    let (session, user) = signed_in(state, headers).await?;
    let token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    if !token.is_some_and(|t| crate::ids::same_secret(t, &session.csrf)) {
        let why = "missing or wrong CSRF token: reload the page";
        state
            .doors
            .refused(
                crate::audit::doors::Door::Dashboard,
                crate::audit::doors::Who::Known(user.name.clone()),
                "csrf-refused",
                why,
            )
            .await;
        return Err(ApiError::forbidden(why));
    }
    Ok((session, user))
}

/// Who is signed in, and the session's CSRF token.
pub fn me_of(user: &User, session: &Session) -> tgw_dashboard::Me {
    tgw_dashboard::Me {
        user: user.name.clone(),
        role: user.role.as_str().to_owned(),
        csrf: session.csrf.clone(),
    }
}

pub async fn me(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let (session, user) = signed_in(&state, &headers).await?;
    Ok(Json(me_of(&user, &session)))
}

pub async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    changing(&state, &headers).await?;
    if let Some(cookie) = cookie(&state, &headers) {
        state.sessions.end(cookie);
    }
    let expired = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        cookie_name(&state)
    );
    Ok((
        [(header::SET_COOKIE, expired)],
        Json(json!({"signed_out": true})),
    ))
}
