//! OAuth discovery: how a client that met a 401 finds where to get
//! a token.
//!
//! - RFC 9728 protected resource metadata, at
//!   `/.well-known/oauth-protected-resource` and at the path-specific
//!   `/.well-known/oauth-protected-resource/v1/mcp` (and `/v1/mcp/sse`):
//!   the resource (the MCP endpoint, which becomes a token's audience), its
//!   authorization server (this gateway) and scopes.
//! - RFC 8414 authorization server metadata, at
//!   `/.well-known/oauth-authorization-server`: PKCE with S256 only, public
//!   clients (`none`), dynamic registration and client ID metadata
//!   documents. The endpoints are also served at the origin root, since
//!   Claude.ai sometimes builds those URLs itself.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::people::Scope;

/// The MCP paths a protected resource document exists for.
pub const RESOURCE_PATHS: [&str; 2] = ["/v1/mcp", "/v1/mcp/sse"];

/// Where this gateway is, as clients must see it.
#[derive(Clone, Debug)]
pub struct Issuer {
    /// The public URL, without a trailing slash.
    pub url: String,
}

impl Issuer {
    pub fn new(public_url: &str) -> Self {
        Issuer {
            url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    fn scopes() -> Vec<&'static str> {
        Scope::ALL.iter().map(|s| s.as_str()).collect()
    }

    /// The canonical resource identifier of an MCP path (a token's `aud`).
    pub fn resource(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The metadata URL named in a 401's `WWW-Authenticate`.
    pub fn resource_metadata_url(&self, path: &str) -> String {
        format!("{}/.well-known/oauth-protected-resource{path}", self.url)
    }

    /// The `WWW-Authenticate` parameters of a 401 for `path`.
    pub fn challenge(&self, path: &str) -> String {
        format!(
            "resource_metadata=\"{}\", scope=\"{}\"",
            self.resource_metadata_url(path),
            Self::scopes().join(" ")
        )
    }

    pub fn protected_resource(&self, path: &str) -> Value {
        json!({
            "resource": self.resource(path),
            "authorization_servers": [self.url],
            "scopes_supported": Self::scopes(),
            "bearer_methods_supported": ["header"],
            "resource_name": "Trust Gateway",
        })
    }

    pub fn authorization_server(&self) -> Value {
        let url = &self.url;
        json!({
            "issuer": url,
            // The paths of DESIGN.md; the same endpoints answer at the
            // root too, for clients that build the URLs themselves.
            "authorization_endpoint": format!("{url}/oauth/authorize"),
            "token_endpoint": format!("{url}/oauth/token"),
            "registration_endpoint": format!("{url}/oauth/register"),
            "revocation_endpoint": format!("{url}/oauth/revoke"),
            "scopes_supported": Self::scopes(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "client_id_metadata_document_supported": true,
        })
    }
}

async fn authorization_server(State(issuer): State<Issuer>) -> impl IntoResponse {
    Json(issuer.authorization_server())
}

/// The discovery routes.
pub fn routes(issuer: Issuer) -> Router {
    let mut router = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(|State(issuer): State<Issuer>| async move {
                Json(issuer.protected_resource(RESOURCE_PATHS[0]))
            }),
        );
    for path in RESOURCE_PATHS {
        router = router.route(
            &format!("/.well-known/oauth-protected-resource{path}"),
            get(move |State(issuer): State<Issuer>| async move {
                Json(issuer.protected_resource(path))
            }),
        );
    }
    // Public documents: browser-based clients of other origins may read
    // them.
    router
        .with_state(issuer)
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                response.headers_mut().insert(
                    axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    axum::http::HeaderValue::from_static("*"),
                );
                response
            },
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_name_this_gateway_and_s256_only() {
        let issuer = Issuer::new("https://gw.example.com/");
        let resource = issuer.protected_resource("/v1/mcp");
        assert_eq!(resource["resource"], "https://gw.example.com/v1/mcp");
        assert_eq!(
            resource["authorization_servers"][0],
            "https://gw.example.com"
        );
        let server = issuer.authorization_server();
        assert_eq!(server["issuer"], "https://gw.example.com");
        assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            server["token_endpoint_auth_methods_supported"],
            json!(["none"])
        );
        assert_eq!(server["client_id_metadata_document_supported"], true);
        assert_eq!(
            issuer.challenge("/v1/mcp"),
            "resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource/v1/mcp\", \
             scope=\"mcp:execute tools:list tools:call\""
        );
    }
}
