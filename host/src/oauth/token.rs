//! Authorization codes, the token endpoint, and refresh-token families.
//!
//! - A code (issued by `/authorize` once a person consented) is stored
//!   hashed, lives 60 seconds, and is spent once: PKCE S256, the same
//!   client and the same redirect URI are required to spend it.
//! - The access token is an RFC 9068 JWT for the resource the code was
//!   bound to (`jwt.rs`), valid 5 minutes.
//! - The refresh token rotates: each use spends it and returns a new one
//!   of the same family. A spent refresh token used again revokes the
//!   whole family, and with it the family's access tokens.
//!
//! The signing key's seed lives in the data dir (`keys/oauth.key`), never
//! in the bus state; the gateways of one deployment share it (`tgw keys
//! export --with-secrets`), so each issues and accepts the same tokens.

use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::OAuthErrorCode;
use super::jwt::{AccessClaims, AccessSigner};
use super::{OAuthState, json, read};
use crate::audit::now_millis;
use crate::backend::StoreError;
use crate::people::keys::{Key, Kind};

pub const CODE_LIFETIME_MS: i64 = 60_000;
pub const ACCESS_LIFETIME_S: i64 = 300;
pub const REFRESH_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

/// What a code stands for: who consented to what, for which client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    /// base64url sha256 of the verifier (PKCE S256).
    pub code_challenge: String,
    pub user: String,
    pub scope: String,
    /// The resource (RFC 8707): the tokens' audience.
    pub resource: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRecord {
    grant: CodeGrant,
    expires: i64,
    used: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRecord {
    client_id: String,
    user: String,
    scope: String,
    resource: String,
    family: String,
    expires: i64,
    used: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyRecord {
    user: String,
    client_id: String,
    revoked: bool,
}

pub(super) use crate::ids::random_b64 as random;

/// The access-token signer.
pub async fn signer(state: &OAuthState) -> Result<Arc<AccessSigner>, StoreError> {
    Ok(state.signer.clone())
}

/// Stores a code for `grant` and returns it (for `/authorize`).
pub async fn issue_code(state: &OAuthState, grant: CodeGrant) -> Result<String, StoreError> {
    let code = random(32);
    let record = CodeRecord {
        grant,
        expires: now_millis() + CODE_LIFETIME_MS,
        used: false,
    };
    state
        .kv
        .create(&Key::OAuthCode(&code).render(), &json(&record))
        .await?;
    Ok(code)
}

/// Whether the family of an access token still stands.
pub async fn family_revoked(state: &OAuthState, family: &str) -> Result<bool, StoreError> {
    Ok(
        read::<FamilyRecord>(state, &Key::OAuthFamily(family).render())
            .await?
            .is_none_or(|(f, _)| f.revoked),
    )
}

/// Revokes a family: its refresh tokens and access tokens stop working.
pub async fn revoke_family(state: &OAuthState, family: &str) -> Result<(), StoreError> {
    let key = Key::OAuthFamily(family).render();
    loop {
        let Some((mut record, revision)) = read::<FamilyRecord>(state, &key).await? else {
            return Ok(());
        };
        if record.revoked {
            return Ok(());
        }
        record.revoked = true;
        match state.kv.update(&key, &json(&record), revision).await {
            Err(StoreError::Conflict) => continue,
            other => return other,
        }
    }
}

/// Revokes every token family of `user` (the dashboard's People page);
/// returns how many were still standing.
pub async fn revoke_user(state: &OAuthState, user: &str) -> Result<usize, StoreError> {
    let mut revoked = 0;
    for key in state.kv.keys(Kind::OAuthFamily.prefix()).await? {
        let Some((record, _)) = read::<FamilyRecord>(state, &key).await? else {
            continue;
        };
        if record.user == user && !record.revoked {
            revoke_family(state, key.trim_start_matches(Kind::OAuthFamily.prefix())).await?;
            revoked += 1;
        }
    }
    Ok(revoked)
}

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    resource: Option<String>,
}

fn refusal(status: StatusCode, error: OAuthErrorCode, description: impl Into<String>) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response()
}

fn invalid_grant(description: impl Into<String>) -> Response {
    refusal(
        StatusCode::BAD_REQUEST,
        OAuthErrorCode::InvalidGrant,
        description,
    )
}

fn unavailable(e: StoreError) -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        OAuthErrorCode::TemporarilyUnavailable,
        e.to_string(),
    )
}

/// `POST /token` (and `/oauth/token`), form-encoded.
pub async fn token(State(state): State<OAuthState>, Form(request): Form<TokenRequest>) -> Response {
    let Some(client_id) = request.client_id.as_deref() else {
        return refusal(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "client_id is required",
        );
    };
    // A registered client, or one named by its metadata document URL.
    match super::clients::client(&state, client_id).await {
        Ok(Some(_)) => {}
        Ok(None) if super::cimd::check_client_id_url(client_id).is_ok() => {}
        Ok(None) => {
            return refusal(
                StatusCode::UNAUTHORIZED,
                OAuthErrorCode::InvalidClient,
                "unknown client: register again",
            );
        }
        Err(e) => return unavailable(e),
    }
    let result = match request.grant_type.as_deref() {
        Some("authorization_code") => spend_code(&state, client_id, &request).await,
        Some("refresh_token") => spend_refresh(&state, client_id, &request).await,
        Some(other) => Err(refusal(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::UnsupportedGrantType,
            format!("grant type {other:?} is not supported"),
        )),
        None => Err(refusal(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "grant_type is required",
        )),
    };
    match result {
        Ok(response) => response,
        Err(refused) => refused,
    }
}

#[derive(Deserialize)]
pub struct RevocationRequest {
    token: Option<String>,
    client_id: Option<String>,
    /// Read and not needed: both kinds are looked up.
    #[expect(
        dead_code,
        reason = "RFC 7009 allows it; we look the token up either way"
    )]
    token_type_hint: Option<String>,
}

/// The family of a token `client_id` holds: a refresh token, or an access
/// token this gateway signed that has not expired (an expired one
/// names a family its refresh token may still stand for, but it no longer
/// proves the caller held it recently).
async fn family_of(
    state: &OAuthState,
    token: &str,
    client_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let issued_to = |holder: &str| client_id.is_none_or(|c| c == holder);
    if let Some((record, _)) =
        read::<RefreshRecord>(state, &Key::OAuthRefresh(token).render()).await?
    {
        return Ok(issued_to(&record.client_id).then_some(record.family));
    }
    let signer = signer(state).await?;
    let now = now_millis() / 1000;
    Ok(super::metadata::RESOURCE_PATHS.iter().find_map(|path| {
        signer
            .verify(token, &state.issuer.url, &state.issuer.resource(path), now)
            .ok()
            .filter(|claims| issued_to(&claims.client_id))
            .map(|claims| claims.fam)
    }))
}

/// `POST /revoke` (RFC 7009): a client ends its own grant. Revoking either
/// token ends the whole family. The answer is 200 whether or not the token
/// was known (§2.2), so it tells nothing about other people's tokens.
pub async fn revoke(
    State(state): State<OAuthState>,
    Form(request): Form<RevocationRequest>,
) -> Response {
    let Some(token) = request.token.as_deref() else {
        return refusal(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "token is required",
        );
    };
    let revoked = match family_of(&state, token, request.client_id.as_deref()).await {
        Ok(Some(family)) => revoke_family(&state, &family).await,
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match revoked {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn spend_code(
    state: &OAuthState,
    client_id: &str,
    request: &TokenRequest,
) -> Result<Response, Response> {
    let (Some(code), Some(verifier)) = (&request.code, &request.code_verifier) else {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "code and code_verifier are required",
        ));
    };
    let key = Key::OAuthCode(code).render();
    let (mut record, revision) = read::<CodeRecord>(state, &key)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| invalid_grant("the code is unknown"))?;
    if record.used {
        return Err(invalid_grant("the code was already used"));
    }
    // Spent before anything else is checked: a code gets one try.
    record.used = true;
    match state.kv.update(&key, &json(&record), revision).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(invalid_grant("the code was already used")),
        Err(e) => return Err(unavailable(e)),
    }
    let grant = record.grant;
    if record.expires <= now_millis() {
        return Err(invalid_grant("the code has expired"));
    }
    if grant.client_id != client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the one the code was issued for",
        ));
    }
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    if !crate::ids::same_secret(&challenge, &grant.code_challenge) {
        return Err(invalid_grant(
            "the code_verifier does not match the code_challenge",
        ));
    }
    if request
        .resource
        .as_deref()
        .is_some_and(|r| r != grant.resource)
    {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidTarget,
            "the resource differs from the one consented to",
        ));
    }
    let family = random(16);
    let record = FamilyRecord {
        user: grant.user.clone(),
        client_id: client_id.to_owned(),
        revoked: false,
    };
    state
        .kv
        .create(&Key::OAuthFamily(&family).render(), &json(&record))
        .await
        .map_err(unavailable)?;
    issue(
        state,
        client_id,
        &grant.user,
        &grant.scope,
        &grant.resource,
        &family,
    )
    .await
}

async fn spend_refresh(
    state: &OAuthState,
    client_id: &str,
    request: &TokenRequest,
) -> Result<Response, Response> {
    let Some(token) = &request.refresh_token else {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "refresh_token is required",
        ));
    };
    let key = Key::OAuthRefresh(token).render();
    let (mut record, revision) = read::<RefreshRecord>(state, &key)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| invalid_grant("the refresh token is unknown"))?;
    if record.client_id != client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if record.used {
        // Replayed: someone holds a copy. End the whole family.
        revoke_family(state, &record.family)
            .await
            .map_err(unavailable)?;
        return Err(invalid_grant(
            "the refresh token was already used: every token of its family is revoked",
        ));
    }
    record.used = true;
    match state.kv.update(&key, &json(&record), revision).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            revoke_family(state, &record.family)
                .await
                .map_err(unavailable)?;
            return Err(invalid_grant("the refresh token was already used"));
        }
        Err(e) => return Err(unavailable(e)),
    }
    if record.expires <= now_millis() {
        return Err(invalid_grant("the refresh token has expired"));
    }
    if family_revoked(state, &record.family)
        .await
        .map_err(unavailable)?
    {
        return Err(invalid_grant("the refresh token was revoked"));
    }
    issue(
        state,
        client_id,
        &record.user,
        &record.scope,
        &record.resource,
        &record.family,
    )
    .await
}

async fn issue(
    state: &OAuthState,
    client_id: &str,
    user: &str,
    scope: &str,
    resource: &str,
    family: &str,
) -> Result<Response, Response> {
    let signer = signer(state).await.map_err(unavailable)?;
    let now = now_millis() / 1000;
    let access = signer.sign(&AccessClaims {
        iss: state.issuer.url.clone(),
        sub: user.to_owned(),
        aud: resource.to_owned(),
        exp: now + ACCESS_LIFETIME_S,
        iat: now,
        jti: random(12),
        client_id: client_id.to_owned(),
        scope: scope.to_owned(),
        fam: family.to_owned(),
    });
    let refresh = random(32);
    let record = RefreshRecord {
        client_id: client_id.to_owned(),
        user: user.to_owned(),
        scope: scope.to_owned(),
        resource: resource.to_owned(),
        family: family.to_owned(),
        expires: now_millis() + REFRESH_LIFETIME_MS,
        used: false,
    };
    state
        .kv
        .create(&Key::OAuthRefresh(&refresh).render(), &json(&record))
        .await
        .map_err(unavailable)?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_LIFETIME_S,
            "refresh_token": refresh,
            "scope": scope,
        })),
    )
        .into_response())
}
