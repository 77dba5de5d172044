//! `/authorize`: the start of the authorization-code flow (OAuth 2.1 §4.1).
//!
//! The request is checked in the order the spec asks for:
//!
//! 1. The client (registered, or a client ID metadata document fetched
//!    through `cimd::fetch`) and the exact redirect URI. Until both are
//!    known good nothing is redirected anywhere: the person sees a page
//!    saying what is wrong, so a forged link cannot bounce them to an
//!    attacker.
//! 2. Everything else (`response_type`, PKCE S256, `resource`, `scope`)
//!    is refused by redirecting back to the client with an error and its
//!    `state`.
//!
//! A good request is kept here for ten minutes under a random id, and the
//! browser is sent to the dashboard's consent page (`/#/consent/<id>`),
//! where the person signs in with their passkey and decides
//! (`crate::api::consent`). Consent is asked every time, for every client:
//! anyone can register a client with any name and any redirect URI, so a
//! signed-in person is never sent on without seeing where.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::error::OAuthErrorCode;
use super::metadata::RESOURCE_PATHS;
use super::{OAuthState, cimd, clients};
use crate::expiring::{ExpiringMap, WhenFull};
use crate::people::Scope;

/// How long a person has to sign in and consent.
pub const REQUEST_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// Requests waiting for consent at once; more are refused rather than
/// letting anyone fill the gateway's memory.
const MAX_WAITING: usize = 10_000;
/// The longest `state` kept for a client (it waits in memory, and goes
/// back in a URL).
const MAX_STATE: usize = 1024;

/// An authorization request waiting for the person's decision.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// The name the client gave itself (unverified for registered
    /// clients: anyone can register any name).
    pub client_name: Option<String>,
    /// True when `client_id` is the HTTPS URL of the metadata document we
    /// fetched: the name is then vouched for by that URL's host.
    pub client_id_is_url: bool,
    pub redirect_uri: String,
    #[serde(skip)]
    pub code_challenge: String,
    #[serde(skip)]
    pub state: Option<String>,
    pub scopes: Vec<Scope>,
    pub resource: String,
}

impl AuthorizationRequest {
    /// The host the person is sent back to.
    pub fn redirect_host(&self) -> String {
        self.redirect_uri
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The redirect back to the client with `params` and the request's
    /// `state`.
    pub fn redirect_with(&self, params: &[(&str, &str)]) -> String {
        redirect_to(&self.redirect_uri, params, self.state.as_deref())
    }
}

/// The requests waiting for consent, by id. In memory, like dashboard
/// sessions: the browser that started a request finishes it on the same
/// gateway. Anyone may start one, so a full map refuses new ones.
pub struct Requests(ExpiringMap<AuthorizationRequest>);

impl Default for Requests {
    fn default() -> Self {
        Requests(ExpiringMap::new(
            REQUEST_LIFETIME,
            MAX_WAITING,
            WhenFull::Refuse,
        ))
    }
}

impl Requests {
    fn insert(&self, request: AuthorizationRequest) -> Option<String> {
        let id = super::token::random(16);
        self.0.insert(id.clone(), request).ok().map(|()| id)
    }

    /// The request `id`, if it still waits.
    pub fn get(&self, id: &str) -> Option<AuthorizationRequest> {
        self.0.get(id)
    }

    /// Takes the request `id` out: a decision is made once.
    pub fn take(&self, id: &str) -> Option<AuthorizationRequest> {
        self.0.take(id)
    }
}

/// `redirect_uri` with `params` (and `state`) added to its query.
#[expect(
    clippy::expect_used,
    reason = "pairs of strings always encode as a query"
)]
fn redirect_to(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    let query = serde_urlencoded::to_string(&pairs).expect("pairs of strings encode");
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{query}")
}

/// A page for the person, when the request cannot even be sent back.
fn not_valid(status: StatusCode, reason: &str) -> Response {
    let reason = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Trust Gateway: this connection link is not valid</title>\
         <link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
         <body><main class=\"signin panel\"><h1>This connection link is not valid</h1>\
         <p class=\"error\">{reason}</p>\
         <p class=\"note\">Nothing was shared. Go back to the app you came from and connect again.</p>\
         </main></body></html>"
    );
    (status, Html(page)).into_response()
}

/// An error sent back to the client (its redirect URI is known good).
fn refused_back(
    redirect_uri: &str,
    state: Option<&str>,
    error: OAuthErrorCode,
    description: &str,
) -> Response {
    let location = redirect_to(
        redirect_uri,
        &[
            ("error", error.as_str()),
            ("error_description", description),
        ],
        state,
    );
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

pub use tgw_parse::oauth::parameters;

/// The client's name and redirect URIs, or why it is not a client.
async fn resolve_client(
    state: &OAuthState,
    client_id: &str,
) -> Result<(Option<String>, Vec<String>, bool), (StatusCode, String)> {
    if client_id.starts_with("https://") {
        let document = cimd::fetch(client_id).await.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("the client's metadata document could not be used: {e}"),
            )
        })?;
        return Ok((document.client_name, document.redirect_uris, true));
    }
    match clients::client(state, client_id).await {
        Ok(Some(client)) => Ok((client.client_name, client.redirect_uris, false)),
        Ok(None) => Err((
            StatusCode::BAD_REQUEST,
            format!("the client {client_id:?} is not registered here"),
        )),
        Err(e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the gateway cannot read its clients right now: {e}"),
        )),
    }
}

/// A PKCE S256 challenge: base64url of 32 bytes is 43 characters; RFC
/// 7636 allows 43 to 128.
fn valid_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `GET /authorize` (also at `/oauth/authorize`).
pub async fn authorize(State(state): State<OAuthState>, RawQuery(query): RawQuery) -> Response {
    let params = match parameters(query.as_deref()) {
        Ok(params) => params,
        Err(reason) => return not_valid(StatusCode::BAD_REQUEST, &reason),
    };
    let param = |name: &str| params.get(name).map(String::as_str);

    // 1. Who asks, and where the answer goes: nothing is redirected until
    //    both are known good.
    let Some(client_id) = param("client_id") else {
        return not_valid(StatusCode::BAD_REQUEST, "the request names no client_id");
    };
    let (client_name, redirect_uris, client_id_is_url) =
        match resolve_client(&state, client_id).await {
            Ok(client) => client,
            Err((status, reason)) => return not_valid(status, &reason),
        };
    let Some(redirect_uri) = param("redirect_uri") else {
        return not_valid(StatusCode::BAD_REQUEST, "the request names no redirect_uri");
    };
    if !redirect_uris.iter().any(|r| r == redirect_uri) {
        return not_valid(
            StatusCode::BAD_REQUEST,
            &format!("{redirect_uri:?} is not a redirect URI this client registered"),
        );
    }

    // 2. The rest goes back to the client, with its state.
    let client_state = param("state");
    let refuse = |error: OAuthErrorCode, description: &str| {
        refused_back(redirect_uri, client_state, error, description)
    };
    if client_state.is_some_and(|s| s.len() > MAX_STATE) {
        // Sent back without it: echoing a huge value is the problem.
        return refused_back(
            redirect_uri,
            None,
            OAuthErrorCode::InvalidRequest,
            &format!("state is longer than {MAX_STATE} bytes"),
        );
    }
    if param("response_type") != Some("code") {
        return refuse(
            OAuthErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        );
    }
    match (param("code_challenge"), param("code_challenge_method")) {
        (None, _) => {
            return refuse(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is required (PKCE with S256)",
            );
        }
        (Some(_), method) if method != Some("S256") => {
            return refuse(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256; plain is not accepted",
            );
        }
        (Some(challenge), _) if !valid_challenge(challenge) => {
            return refuse(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is not a base64url S256 challenge",
            );
        }
        _ => {}
    }
    let Some(resource) = param("resource") else {
        return refuse(
            OAuthErrorCode::InvalidRequest,
            "resource is required (RFC 8707): the URL of this gateway's MCP endpoint",
        );
    };
    if !RESOURCE_PATHS
        .iter()
        .any(|path| state.issuer.resource(path) == resource)
    {
        return refuse(
            OAuthErrorCode::InvalidTarget,
            &format!(
                "{resource:?} is not a resource of this gateway; use {}",
                state.issuer.resource(RESOURCE_PATHS[0])
            ),
        );
    }
    let scopes = match param("scope") {
        None => Scope::ALL.to_vec(),
        Some(scope) => {
            let mut scopes = Vec::new();
            for name in scope.split(' ').filter(|s| !s.is_empty()) {
                match name.parse::<Scope>() {
                    Ok(s) if !scopes.contains(&s) => scopes.push(s),
                    Ok(_) => {}
                    Err(e) => return refuse(OAuthErrorCode::InvalidScope, &e),
                }
            }
            if scopes.is_empty() {
                Scope::ALL.to_vec()
            } else {
                scopes
            }
        }
    };

    let request = AuthorizationRequest {
        client_id: client_id.to_owned(),
        client_name,
        client_id_is_url,
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: param("code_challenge").unwrap_or_default().to_owned(),
        state: client_state.map(str::to_owned),
        scopes,
        resource: resource.to_owned(),
    };
    match state.requests.insert(request) {
        Some(id) => {
            let consent = format!("{}/#/consent/{id}", state.issuer.url);
            (StatusCode::SEE_OTHER, [(header::LOCATION, consent)]).into_response()
        }
        None => refuse(
            OAuthErrorCode::TemporarilyUnavailable,
            "too many sign-ins are waiting; try again in a few minutes",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_clients_query_and_encode_values() {
        assert_eq!(
            redirect_to(
                "https://app.example/cb?x=1",
                &[("code", "a b&c")],
                Some("s=1")
            ),
            "https://app.example/cb?x=1&code=a+b%26c&state=s%3D1"
        );
        assert_eq!(
            redirect_to("http://127.0.0.1:8/cb", &[("code", "c")], None),
            "http://127.0.0.1:8/cb?code=c"
        );
    }

    #[test]
    fn parameters_given_twice_are_refused() {
        assert!(parameters(Some("a=1&a=2")).is_err());
        assert_eq!(parameters(Some("a=1&b=%20")).unwrap()["b"], " ");
        assert!(parameters(None).unwrap().is_empty());
    }

    #[test]
    fn challenges() {
        assert!(valid_challenge(&"a".repeat(43)));
        assert!(!valid_challenge(&"a".repeat(42)));
        assert!(!valid_challenge(&"a".repeat(129)));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(43))));
    }
}
