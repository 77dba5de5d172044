//! OAuth, stage by stage. Discovery: a client that meets a 401 on an MCP
//! endpoint is told where the resource's metadata is, and the metadata
//! documents (RFC 9728, RFC 8414) say how to get a token. Then dynamic
//! registration, codes and tokens, revocation, and `/authorize`.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tgw::gateway::GatewayConfig;
use tower::ServiceExt;

async fn router() -> (axum::Router, chain::Chain) {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    let config = GatewayConfig::default();
    let chain = chain::chain_with(dir, bus, config.clone()).await;
    let router = chain.app.router();
    (router, chain)
}

async fn send(
    router: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "localhost:8400")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_points_to_the_protected_resource_metadata() {
    let (router, _chain) = router().await;
    let post = Request::post("/v1/mcp")
        .header(header::HOST, "localhost:8400")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        ))
        .unwrap();
    for (request, resource) in [(post, "/v1/mcp"), (get("/v1/mcp/sse"), "/v1/mcp/sse")] {
        let (status, headers, _) = send(&router, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.contains(&format!(
                "resource_metadata=\"http://localhost:8400/.well-known/oauth-protected-resource{resource}\""
            )),
            "{challenge}"
        );
        assert!(
            challenge.contains("scope=\"mcp:execute tools:list tools:call\""),
            "{challenge}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_documents_say_how_to_get_a_token() {
    let (router, _chain) = router().await;
    for (path, resource) in [
        ("/.well-known/oauth-protected-resource", "/v1/mcp"),
        ("/.well-known/oauth-protected-resource/v1/mcp", "/v1/mcp"),
        (
            "/.well-known/oauth-protected-resource/v1/mcp/sse",
            "/v1/mcp/sse",
        ),
    ] {
        let (status, headers, document) = send(&router, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            document["resource"],
            format!("http://localhost:8400{resource}")
        );
        assert_eq!(
            document["authorization_servers"],
            json!(["http://localhost:8400"])
        );
        assert_eq!(
            document["scopes_supported"],
            json!(["mcp:execute", "tools:list", "tools:call"])
        );
    }
    let (status, _, server) = send(&router, get("/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server["issuer"], "http://localhost:8400");
    assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));
    assert!(
        server["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none"))
    );
    assert_eq!(server["client_id_metadata_document_supported"], true);
    assert_eq!(
        server["authorization_endpoint"],
        "http://localhost:8400/oauth/authorize"
    );
    assert_eq!(
        server["token_endpoint"],
        "http://localhost:8400/oauth/token"
    );
    assert_eq!(
        server["registration_endpoint"],
        "http://localhost:8400/oauth/register"
    );
}

fn register(body: &Value, prefix: &str) -> Request<Body> {
    Request::post(format!("{prefix}/register"))
        .header(header::HOST, "localhost:8400")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_register_dynamically_and_read_their_registration_back() {
    let (router, _chain) = router().await;
    for prefix in ["", "/oauth"] {
        let (status, headers, client) = send(
            &router,
            register(
                &json!({
                    "client_name": "Claude",
                    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "logo_uri": "https://claude.ai/logo.png"
                }),
                prefix,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{prefix}: {client}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let id = client["client_id"].as_str().unwrap();
        assert_eq!(
            client["redirect_uris"],
            json!(["https://claude.ai/api/mcp/auth_callback"])
        );
        assert_eq!(client["token_endpoint_auth_method"], "none");
        let uri = client["registration_client_uri"].as_str().unwrap();
        assert_eq!(uri, format!("http://localhost:8400/oauth/register/{id}"));
        let token = client["registration_access_token"].as_str().unwrap();

        let read = |bearer: String| {
            Request::get(format!("{prefix}/register/{id}"))
                .header(header::HOST, "localhost:8400")
                .header(header::AUTHORIZATION, bearer)
                .body(Body::empty())
                .unwrap()
        };
        let (status, _, again) = send(&router, read(format!("Bearer {token}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["client_id"], id);
        assert!(again.get("registration_access_token").is_none());
        let (status, _, _) = send(&router, read("Bearer wrong".into())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_with_bad_metadata_are_refused() {
    let (router, _chain) = router().await;
    let eleven: Vec<String> = (0..11)
        .map(|i| format!("https://a.example/cb{i}"))
        .collect();
    for (body, error) in [
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({"redirect_uris": eleven}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://claude.ai/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"client_name": "no redirect uris"}),
            "invalid_client_metadata",
        ),
        (json!("not an object"), "invalid_client_metadata"),
    ] {
        let (status, _, answer) = send(&router, register(&body, "")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"], error, "{body}: {answer}");
    }
}

// --- Tokens: codes spent once with PKCE, JWTs for one resource, rotating
// refresh tokens. (Codes are issued here directly, through
// `oauth::token::issue_code`, as consent at `/authorize` issues them.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};
use tgw::oauth::OAuthState;
use tgw::oauth::token::{CodeGrant, issue_code};

const CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

struct Flow {
    router: axum::Router,
    state: OAuthState,
    client_id: String,
    _chain: chain::Chain,
}

async fn flow() -> Flow {
    let (router, chain) = router().await;
    let people = chain.people.clone();
    let invitation = people.invite(tgw::people::Role::Admin).await.unwrap();
    people.redeem(&invitation.token, "alice").await.unwrap();
    let (_, _, client) = send(
        &router,
        register(
            &json!({"client_name": "Claude", "redirect_uris": [CALLBACK]}),
            "",
        ),
    )
    .await;
    // The gateway's own OAuth state: the same key signs and checks.
    let state = chain.app.oauth.clone();
    Flow {
        router,
        state,
        client_id: client["client_id"].as_str().unwrap().to_owned(),
        _chain: chain,
    }
}

impl Flow {
    async fn code(&self, resource: &str) -> String {
        issue_code(
            &self.state,
            CodeGrant {
                client_id: self.client_id.clone(),
                redirect_uri: CALLBACK.into(),
                code_challenge: B64.encode(Sha256::digest(VERIFIER.as_bytes())),
                user: "alice".into(),
                scope: "mcp:execute tools:list tools:call".into(),
                resource: resource.into(),
            },
        )
        .await
        .unwrap()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, http::HeaderMap, Value) {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        send(
            &self.router,
            Request::post("/token")
                .header(header::HOST, "localhost:8400")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect: &str,
    ) -> (StatusCode, http::HeaderMap, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect),
            ("client_id", &self.client_id),
        ])
        .await
    }

    /// A tools/list with `token`: the status and the challenge.
    async fn list(&self, token: &str) -> (StatusCode, String) {
        let (status, headers, _) = send(
            &self.router,
            Request::post("/v1/mcp")
                .header(header::HOST, "localhost:8400")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
        let challenge = headers
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge)
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const MCP: &str = "http://localhost:8400/v1/mcp";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_becomes_a_jwt_that_opens_the_mcp_endpoint_once() {
    let flow = flow().await;
    let code = flow.code(MCP).await;
    let (status, headers, tokens) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&B64.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(flow.list(access).await.0, StatusCode::OK);

    // The same code again: refused.
    let (status, _, again) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_need_the_right_verifier_redirect_and_client() {
    let flow = flow().await;
    for (verifier, redirect) in [
        (
            "another-verifier-of-at-least-forty-three-characters-000",
            CALLBACK,
        ),
        (VERIFIER, "https://claude.ai/api/mcp/auth_callback/"),
        (VERIFIER, "https://Claude.ai/api/mcp/auth_callback"),
        (VERIFIER, "https://claude.ai/api/mcp/AUTH_callback"),
    ] {
        let code = flow.code(MCP).await;
        let (status, _, refused) = flow.exchange(&code, verifier, redirect).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{redirect}");
        assert_eq!(refused["error"], "invalid_grant", "{refused}");
        // One try per code: the right values afterwards do not help.
        let (status, _, _) = flow.exchange(&code, VERIFIER, CALLBACK).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // An unknown client is told to register again.
    let code = flow.code(MCP).await;
    let (status, _, refused) = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", CALLBACK),
            ("client_id", "no-such-client"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["error"], "invalid_client");

    // Every refusal is in the audit log, counted at the door per code.
    let counted = oauth_refusals(&flow).await;
    assert_eq!(
        counted,
        [
            ("invalid_client".to_owned(), 1),
            ("invalid_grant".to_owned(), 8)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_resource_or_expired_or_forged_is_refused() {
    let flow = flow().await;
    let code = flow.code("https://other.example/v1/mcp").await;
    let (_, _, tokens) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    let (status, challenge) = flow.list(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        challenge.contains("not for http://localhost:8400/v1/mcp"),
        "{challenge}"
    );

    // Expired: signed with the gateway's own key, but an hour old.
    let signer = tgw::oauth::token::signer(&flow.state).await.unwrap();
    let now = tgw::audit::now_millis() / 1000;
    let code = flow.code(MCP).await;
    let (_, _, fresh) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    let payload: Value =
        serde_json::from_slice(&B64.decode(fresh.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let mut claims: tgw::oauth::jwt::AccessClaims = serde_json::from_value(payload).unwrap();
    claims.iat = now - 3600;
    claims.exp = now - 3000;
    let (status, challenge) = flow.list(&signer.sign(&claims)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("expired"), "{challenge}");

    // Forged: another key, or `alg: none`.
    let forger = tgw::oauth::jwt::AccessSigner::from_seed(&[9; 32]);
    claims.exp = now + 300;
    assert_eq!(
        flow.list(&forger.sign(&claims)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"at+jwt"}"#),
        B64.encode(serde_json::to_vec(&claims).unwrap())
    );
    assert_eq!(flow.list(&none).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_used_twice_revokes_its_whole_family() {
    let flow = flow().await;
    let code = flow.code(MCP).await;
    let (_, _, first) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let rotate = |token: String| {
        let flow = &flow;
        async move {
            flow.token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", &flow.client_id),
            ])
            .await
        }
    };
    let (status, _, second) = rotate(refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(flow.list(&access).await.0, StatusCode::OK);

    // The first refresh token again: refused, and the family is over.
    let (status, _, replay) = rotate(refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(replay["error"], "invalid_grant");
    let (status, _, _) = rotate(second["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, challenge) = flow.list(&access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("revoked"), "{challenge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_person_ends_their_connected_clients_at_once() {
    let flow = flow().await;
    let code = flow.code(MCP).await;
    let (_, _, tokens) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(flow.list(access).await.0, StatusCode::OK);
    assert_eq!(
        tgw::oauth::token::revoke_user(&flow.state, "alice")
            .await
            .unwrap(),
        1
    );
    let (status, challenge) = flow.list(access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("revoked"), "{challenge}");
    let (status, _, refused) = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &flow.client_id),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        tgw::oauth::token::revoke_user(&flow.state, "alice")
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_revokes_its_own_grant() {
    let flow = flow().await;
    let code = flow.code(MCP).await;
    let (_, _, tokens) = flow.exchange(&code, VERIFIER, CALLBACK).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(flow.list(access).await.0, StatusCode::OK);
    // Unknown tokens are answered 200 too (RFC 7009 §2.2).
    let revoke = |token: String| {
        let flow = &flow;
        async move {
            send(
                &flow.router,
                Request::post("/oauth/revoke")
                    .header(header::HOST, "localhost:8400")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "token={}&client_id={}",
                        urlencode(&token),
                        flow.client_id
                    )))
                    .unwrap(),
            )
            .await
            .0
        }
    };
    assert_eq!(revoke("not-a-token".into()).await, StatusCode::OK);
    assert_eq!(flow.list(access).await.0, StatusCode::OK);
    assert_eq!(
        revoke(tokens["refresh_token"].as_str().unwrap().into()).await,
        StatusCode::OK
    );
    let (status, challenge) = flow.list(access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("revoked"), "{challenge}");
}

/// `/authorize` with `params` (and the client's id unless given): the
/// status, the Location and the page.
async fn authorize(
    flow: &Flow,
    prefix: &str,
    params: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    if !params.iter().any(|(k, _)| *k == "client_id") {
        query.push(format!("client_id={}", flow.client_id));
    }
    let response = flow
        .router
        .clone()
        .oneshot(get(&format!("{prefix}/authorize?{}", query.join("&"))))
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let page = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&page).into_owned(),
    )
}

fn challenge() -> String {
    B64.encode(Sha256::digest(VERIFIER.as_bytes()))
}

/// A good authorization request, with `change` applied (a value of ""
/// drops the parameter).
fn request_with(change: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("response_type", "code".to_owned()),
        ("redirect_uri", CALLBACK.to_owned()),
        ("code_challenge", challenge()),
        ("code_challenge_method", "S256".to_owned()),
        ("state", "xyz 1".to_owned()),
        ("resource", MCP.to_owned()),
        ("scope", "mcp:execute tools:list tools:call".to_owned()),
    ];
    for (key, value) in change {
        params.retain(|(k, _)| k != key);
        if !value.is_empty() {
            params.push((key, (*value).to_owned()));
        }
    }
    params
}

async fn authorize_with(
    flow: &Flow,
    change: &[(&'static str, &'static str)],
) -> (StatusCode, String, String) {
    let params = request_with(change);
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    authorize(flow, "", &borrowed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_authorization_request_goes_to_the_consent_page_at_both_paths() {
    let flow = flow().await;
    for prefix in ["", "/oauth"] {
        let params = request_with(&[]);
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, location, _) = authorize(&flow, prefix, &borrowed).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let id = location
            .strip_prefix("http://localhost:8400/#/consent/")
            .unwrap_or_else(|| panic!("{location}"));
        assert!(id.len() >= 20, "{id}");
        // The consent screen's data needs a signed-in person.
        let (status, _, body) = send(&flow.router, get(&format!("/api/oauth/requests/{id}"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_without_pkce_s256_or_a_resource_is_refused_back_to_the_client() {
    let flow = flow().await;
    // (what changes in a good request, the error, words of its description)
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static str,
    );
    let cases: [Case; 7] = [
        (
            &[("code_challenge", "")],
            "invalid_request",
            "code_challenge is required",
        ),
        (
            &[("code_challenge_method", "plain")],
            "invalid_request",
            "plain is not accepted",
        ),
        (
            &[("code_challenge_method", "")],
            "invalid_request",
            "must be S256",
        ),
        (
            &[("code_challenge", "short")],
            "invalid_request",
            "not a base64url",
        ),
        (
            &[("response_type", "token")],
            "unsupported_response_type",
            "response_type=code",
        ),
        (
            &[("resource", "")],
            "invalid_request",
            "resource is required",
        ),
        (
            &[("resource", "https://other.example/v1/mcp")],
            "invalid_target",
            "not a resource of this gateway",
        ),
    ];
    for (change, error, words) in cases {
        let (status, location, _) = authorize_with(&flow, change).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{change:?}");
        let (target, query) = location.split_once('?').unwrap();
        assert_eq!(target, CALLBACK, "{change:?}");
        let answer: std::collections::HashMap<String, String> =
            serde_urlencoded::from_str(query).unwrap();
        assert_eq!(answer["error"], error, "{change:?}");
        assert!(
            answer["error_description"].contains(words),
            "{change:?}: {answer:?}"
        );
        assert_eq!(answer["state"], "xyz 1", "state round-trips: {change:?}");
        assert!(!answer.contains_key("code"));
    }
    let (_, location, _) = authorize_with(&flow, &[("scope", "tools:call admin:all")]).await;
    assert!(location.contains("error=invalid_scope"), "{location}");
    // A huge state is not kept, nor sent back.
    let huge: &'static str = Box::leak("s".repeat(5000).into_boxed_str());
    let (status, location, _) = authorize_with(&flow, &[("state", huge)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(!location.contains("state="), "{location}");
    assert_eq!(
        oauth_refusals(&flow).await,
        [
            ("invalid_request".to_owned(), 6),
            ("invalid_scope".to_owned(), 1),
            ("invalid_target".to_owned(), 1),
            ("unsupported_response_type".to_owned(), 1),
        ]
    );
}

/// The OAuth refusals counted at the door so far, by code (summarised
/// into the audit log first).
async fn oauth_refusals(flow: &Flow) -> Vec<(String, u64)> {
    let chain = &flow._chain;
    chain.app.api.doors.summarise().await;
    let entries = chain.audit.entries().await.unwrap();
    let mut counted = std::collections::BTreeMap::new();
    for entry in entries
        .iter()
        .filter(|e| e.kind == tgw::audit::AuditKind::RequestRefused)
    {
        for refusal in entry.detail["refusals"].as_array().into_iter().flatten() {
            if refusal["door"] == "oauth" {
                *counted
                    .entry(refusal["code"].as_str().unwrap().to_owned())
                    .or_insert(0) += refusal["times"].as_u64().unwrap();
            }
        }
    }
    counted.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_client_or_redirect_uri_is_never_redirected_to() {
    let flow = flow().await;
    let cases: [(&[(&str, &str)], &str); 7] = [
        (
            &[("redirect_uri", "https://claude.ai/api/mcp/auth_callback/")],
            "is not a redirect URI",
        ),
        (
            &[("redirect_uri", "https://Claude.ai/api/mcp/auth_callback")],
            "is not a redirect URI",
        ),
        (
            &[("redirect_uri", "https://evil.example/cb")],
            "is not a redirect URI",
        ),
        (&[("redirect_uri", "")], "no redirect_uri"),
        (&[("client_id", "no-such-client")], "is not registered here"),
        // Client ID metadata documents at internal addresses are not fetched.
        (
            &[("client_id", "https://127.0.0.1/client.json")],
            "metadata document could not be used",
        ),
        (
            &[("client_id", "https://169.254.169.254/latest/meta-data")],
            "metadata document could not be used",
        ),
    ];
    for (change, words) in cases {
        let (status, location, page) = authorize_with(&flow, change).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change:?}: {page}");
        assert_eq!(location, "", "{change:?}");
        assert!(page.contains(words), "{change:?}: {page}");
        assert!(page.contains("Nothing was shared"), "{page}");
    }
    // A parameter given twice is refused as a whole.
    let (status, location, _) = authorize(
        &flow,
        "",
        &[
            ("redirect_uri", CALLBACK),
            ("redirect_uri", "https://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::BAD_REQUEST, ""));
    // Each is in the audit log, counted at the door.
    assert_eq!(
        oauth_refusals(&flow).await,
        [("invalid_request".to_owned(), 8)]
    );
}
