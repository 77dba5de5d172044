//! OAuth discovery (step 5): a client that meets a 401 on an MCP endpoint
//! is told where the resource's metadata is, and the metadata documents
//! (RFC 9728, RFC 8414) say how to get a token.

#[path = "common/chain.rs"]
mod chain;

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tgw::api::ApiState;
use tgw::gateway::GatewayConfig;
use tower::ServiceExt;

async fn router() -> (axum::Router, chain::Chain) {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::bus::embedded::bus(dir.path()).unwrap();
    let config = GatewayConfig::default();
    let chain = chain::chain_with(dir, bus, config.clone()).await;
    let router = tgw::api::router(ApiState::new(chain.gateway.clone(), config.relying_party));
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
        "http://localhost:8400/authorize"
    );
    assert_eq!(server["token_endpoint"], "http://localhost:8400/token");
    assert_eq!(
        server["registration_endpoint"],
        "http://localhost:8400/register"
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
        assert_eq!(uri, format!("http://localhost:8400/register/{id}"));
        let token = client["registration_access_token"].as_str().unwrap();

        let read = |bearer: String| {
            Request::get(format!("/register/{id}"))
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
    for (body, error) in [
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
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
