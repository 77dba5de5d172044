//! Enrollment (an invitation, then a passkey) and sign-in with a passkey.
//! Challenges are random (32 bytes), single use, and live 5 minutes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::json;
use tgw_proto::webauthn::{Assertion, verify_assertion, verify_registration};

use super::session::{check_origin, set_cookie};
use super::{ApiError, ApiState};
use crate::expiring::{ExpiringMap, WhenFull};

const CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Clone, PartialEq, Eq)]
enum Purpose {
    Enroll { token: String },
    SignIn,
}

/// The most sign-in and enrollment challenges waiting at once: anyone may
/// ask for one, so the oldest goes when a new one would not fit.
pub const MAX_CEREMONIES: usize = 10_000;

/// Issued challenges (base64url), by value; taking one removes it.
pub struct Ceremonies(ExpiringMap<Purpose>);

impl Default for Ceremonies {
    fn default() -> Self {
        Ceremonies(ExpiringMap::new(
            CHALLENGE_LIFETIME,
            MAX_CEREMONIES,
            WhenFull::EvictOldest,
        ))
    }
}

impl Ceremonies {
    fn issue(&self, purpose: Purpose) -> String {
        let challenge = crate::ids::random_b64(32);
        // An evicting map always has room.
        let _ = self.0.insert(challenge.clone(), purpose);
        challenge
    }

    fn take(&self, challenge: &str, purpose: &Purpose) -> Result<Vec<u8>, ApiError> {
        match self.0.take(challenge) {
            Some(issued_for) if issued_for == *purpose => B64
                .decode(challenge)
                .map_err(|_| ApiError::bad_request("bad challenge")),
            _ => Err(ApiError::forbidden(
                "the challenge is unknown, used or expired: start again",
            )),
        }
    }

    /// How many challenges wait now.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn decode(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    B64.decode(value)
        .map_err(|_| ApiError::bad_request(format!("{field} is not base64url")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollBegin {
    token: String,
}

pub async fn enroll_begin(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<EnrollBegin>,
) -> Result<impl IntoResponse, ApiError> {
    check_origin(&state, &headers)?;
    let challenge = state
        .ceremonies
        .issue(Purpose::Enroll { token: body.token });
    Ok(Json(json!({
        "challenge": challenge,
        "rp": {"id": state.relying_party.id, "name": "Trust Gateway"},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}],
        "userVerification": "required",
        "residentKey": "required",
        "attestation": "none",
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollFinish {
    token: String,
    name: String,
    challenge: String,
    client_data_json: String,
    attestation_object: String,
}

pub async fn enroll_finish(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(body): Json<EnrollFinish>,
) -> Result<impl IntoResponse, ApiError> {
    check_origin(&state, &headers)?;
    let challenge = state.ceremonies.take(
        &body.challenge,
        &Purpose::Enroll {
            token: body.token.clone(),
        },
    )?;
    let credential = verify_registration(
        &state.relying_party,
        &challenge,
        &decode("client_data_json", &body.client_data_json)?,
        &decode("attestation_object", &body.attestation_object)?,
        true,
    )
    .map_err(|e| ApiError::forbidden(e.to_string()))?;
    let user = state
        .people
        .redeem(&body.token, &body.name)
        .await
        .map_err(|e| ApiError::forbidden(e.to_string()))?;
    state
        .people
        .add_credential(&user.name, &credential)
        .await
        .map_err(|e| ApiError::forbidden(e.to_string()))?;
    let (cookie, session) = state.sessions.start(&user.name);
    Ok((
        [(header::SET_COOKIE, set_cookie(&state, &cookie))],
        Json(super::session::me_of(&user, &session)),
    ))
}

pub async fn login_begin(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    check_origin(&state, &headers)?;
    let challenge = state.ceremonies.issue(Purpose::SignIn);
    Ok(Json(
        json!({"challenge": challenge, "rpId": state.relying_party.id, "userVerification": "required"}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionBody {
    pub challenge: String,
    pub credential_id: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    pub signature: String,
}

impl AssertionBody {
    pub fn assertion(&self) -> Result<Assertion, ApiError> {
        assertion(
            &self.credential_id,
            &self.authenticator_data,
            &self.client_data_json,
            &self.signature,
        )
    }
}

/// An assertion from its base64url parts, as browsers' JSON carries them.
pub fn assertion(
    credential_id: &str,
    authenticator_data: &str,
    client_data_json: &str,
    signature: &str,
) -> Result<Assertion, ApiError> {
    Ok(Assertion {
        credential_id: decode("credential_id", credential_id)?,
        authenticator_data: decode("authenticator_data", authenticator_data)?,
        client_data_json: decode("client_data_json", client_data_json)?,
        signature: decode("signature", signature)?,
    })
}

/// `POST /api/login/finish`; a refused sign-in is counted at the door
/// (the person is not signed in: `crate::audit::doors`).
pub async fn login_finish(
    State(state): State<ApiState>,
    extensions: http::Extensions,
    headers: HeaderMap,
    Json(body): Json<AssertionBody>,
) -> Result<impl IntoResponse, ApiError> {
    let result = sign_in(&state, &headers, body).await;
    if let Err(ApiError(status, reason)) = &result
        && status.is_client_error()
    {
        state
            .doors
            .refused(
                crate::audit::doors::Door::Dashboard,
                crate::audit::doors::Who::Anonymous(crate::mcp::source_in(&extensions)),
                "sign-in-refused",
                reason,
            )
            .await;
    }
    result
}

async fn sign_in(
    state: &ApiState,
    headers: &HeaderMap,
    body: AssertionBody,
) -> Result<axum::response::Response, ApiError> {
    check_origin(state, headers)?;
    let challenge = state.ceremonies.take(&body.challenge, &Purpose::SignIn)?;
    let assertion = body.assertion()?;
    let unavailable = |e: crate::people::PeopleError| {
        ApiError(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    };
    let (credential, revision) = state
        .people
        .credential(&body.credential_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::unauthorized("this passkey is not enrolled here"))?;
    let user = state
        .people
        .user(&credential.user)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::unauthorized("this passkey's account no longer exists"))?;
    if user.disabled {
        return Err(ApiError::forbidden("this account is disabled"));
    }
    if let Some(why) = &credential.suspended {
        return Err(ApiError::forbidden(format!(
            "this passkey is suspended ({why}); an admin can enable it again on the People page"
        )));
    }
    let stored = credential.stored().map_err(unavailable)?;
    let verified =
        match verify_assertion(&state.relying_party, &challenge, &assertion, &stored, true) {
            Ok(verified) => verified,
            Err(e) => {
                state
                    .people
                    .suspend_if_cloned(&credential, &e, &state.audit)
                    .await;
                return Err(ApiError::unauthorized(e.to_string()));
            }
        };
    state
        .people
        .record_use(credential, revision, verified.sign_count)
        .await
        .map_err(unavailable)?;
    let (cookie, session) = state.sessions.start(&user.name);
    Ok((
        [(header::SET_COOKIE, set_cookie(state, &cookie))],
        Json(super::session::me_of(&user, &session)),
    )
        .into_response())
}
