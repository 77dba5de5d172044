//! The dashboard's API: passkey enrollment and sign-in, sessions, CSRF,
//! security headers, and approving with a passkey over HTTP.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tgw::approval::ApprovalEvent;
use tgw::gateway::GatewayConfig;
use tgw::people::Role;
use tgw::webauthn::software::SoftAuthenticator;
use tower::ServiceExt;

struct Client {
    router: Router,
    cookie: Option<String>,
    csrf: Option<String>,
}

const ORIGIN: &str = "http://localhost:8400";

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A state-changing request as the dashboard makes it.
    async fn post(&self, path: &str, body: Value) -> (StatusCode, HeaderMap, Value) {
        let csrf = self.csrf.clone().unwrap_or_default();
        self.send(
            "POST",
            path,
            Some(body),
            &[("origin", ORIGIN), ("x-csrf-token", &csrf)],
        )
        .await
    }

    fn signed_in(&mut self, headers: &HeaderMap, body: &Value) {
        let set = headers["set-cookie"].to_str().unwrap();
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
        self.csrf = Some(body["csrf"].as_str().unwrap().to_owned());
    }
}

async fn enroll(
    client: &mut Client,
    chain: &chain::Chain,
    name: &str,
    role: Role,
    key: &SoftAuthenticator,
) -> (StatusCode, HeaderMap, Value) {
    let invitation = chain.people.invite(role).await.unwrap();
    let (_, _, begin) = client
        .post("/api/enroll/begin", json!({"token": invitation.token}))
        .await;
    let challenge = begin["challenge"].as_str().unwrap().to_owned();
    let rp = chain::relying_party();
    let (client_data, attestation) =
        key.register(&rp.id, &rp.origin, &B64.decode(&challenge).unwrap(), true);
    let finished = client
        .post(
            "/api/enroll/finish",
            json!({"token": invitation.token, "name": name, "challenge": challenge,
                   "client_data_json": B64.encode(client_data), "attestation_object": B64.encode(attestation)}),
        )
        .await;
    if finished.0 == StatusCode::OK {
        client.signed_in(&finished.1, &finished.2);
    }
    finished
}

/// The body of `/api/login/finish`: `key` signs `challenge`.
fn login(challenge: &str, key: &mut SoftAuthenticator) -> Value {
    let rp = chain::relying_party();
    let assertion = key.assert(&rp.id, &rp.origin, &B64.decode(challenge).unwrap());
    json!({"challenge": challenge, "credential_id": B64.encode(&assertion.credential_id),
           "authenticator_data": B64.encode(&assertion.authenticator_data),
           "client_data_json": B64.encode(&assertion.client_data_json), "signature": B64.encode(&assertion.signature)})
}

async fn setup() -> (chain::Chain, Client) {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    let chain = chain::chain_with(dir, bus, GatewayConfig::default()).await;
    let router = chain.app.router();
    (
        chain,
        Client {
            router,
            cookie: None,
            csrf: None,
        },
    )
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (_chain, client) = setup().await;
    for path in ["/healthz", "/api/me", "/api/approvals"] {
        let (_, headers, _) = client.send("GET", path, None, &[]).await;
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
}

/// `key`'s answer to an approval challenge of `/api/approvals/{id}/challenge`.
fn answer_to(challenge: &Value, key: &mut SoftAuthenticator) -> tgw::webauthn::Assertion {
    let rp = chain::relying_party();
    key.assert(
        &rp.id,
        &rp.origin,
        &B64.decode(challenge["challenge"].as_str().unwrap())
            .unwrap(),
    )
}

/// The body of `/api/approvals/{id}/approve` for `assertion`.
fn approve_body(challenge: &Value, assertion: &tgw::webauthn::Assertion) -> Value {
    json!({"nonce": challenge["nonce"], "credential_id": B64.encode(&assertion.credential_id),
           "authenticator_data": B64.encode(&assertion.authenticator_data),
           "client_data_json": B64.encode(&assertion.client_data_json), "signature": B64.encode(&assertion.signature)})
}

#[tokio::test]
async fn an_admin_enrolls_signs_in_and_approves_with_a_passkey() {
    let (chain, mut client) = setup().await;
    let mut key = SoftAuthenticator::es256(21);
    let (status, headers, body) = enroll(&mut client, &chain, "ada", Role::Admin, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("tgw_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (status, _, me) = client.send("GET", "/api/me", None, &[]).await;
    assert_eq!(
        (status, me["user"].as_str(), me["role"].as_str()),
        (StatusCode::OK, Some("ada"), Some("admin"))
    );

    // A destructive call waits for her.
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request("delete_file", json!({"path": "report.txt"})))
            .await
    });
    let id = loop {
        if let ApprovalEvent::Pending(record) = events.recv().await.unwrap() {
            break record.id;
        }
    };
    let (_, _, listed) = client.send("GET", "/api/approvals", None, &[]).await;
    assert_eq!(listed["approvals"][0]["id"], id.as_str());
    assert_eq!(listed["approvals"][0]["args"], r#"{"path":"report.txt"}"#);

    // Without the CSRF token, or from another origin: refused.
    let path = format!("/api/approvals/{id}/challenge");
    let (status, _, body) = client
        .send("POST", &path, Some(json!({})), &[("origin", ORIGIN)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("CSRF"), "{body}");
    let refused = audited(&chain, tgw::audit::AuditKind::RequestRefused).await;
    assert!(
        refused
            .iter()
            .any(|r| r["principal"] == "ada" && r["code"] == "csrf-refused"),
        "{refused:?}"
    );
    let csrf = client.csrf.clone().unwrap();
    let (status, _, _) = client
        .send(
            "POST",
            &path,
            Some(json!({})),
            &[("origin", "https://evil.example"), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A signature that does not verify: refused, audited, nothing runs.
    let (status, _, challenge) = client.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    let mut forged = answer_to(&challenge, &mut key);
    *forged.signature.last_mut().unwrap() ^= 1;
    let (status, _, answer) = client
        .post(
            &format!("/api/approvals/{id}/approve"),
            approve_body(&challenge, &forged),
        )
        .await;
    assert!(status.is_client_error(), "{status} {answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("the signature does not verify"),
        "{answer}"
    );
    assert!(chain.files.join("report.txt").exists(), "the tool ran");
    let refused = audited(&chain, tgw::audit::AuditKind::RequestRefused).await;
    assert!(
        refused.iter().any(|r| r["door"] == "dashboard"
            && r["principal"] == "ada"
            && r["code"] == "passkey-refused"),
        "{refused:?}"
    );

    // With both: the challenge, the passkey, the call runs.
    let (status, _, challenge) = client.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    let assertion = answer_to(&challenge, &mut key);
    let (status, _, approved) = client
        .post(
            &format!("/api/approvals/{id}/approve"),
            approve_body(&challenge, &assertion),
        )
        .await;
    assert_eq!(
        (status, approved["state"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{approved}"
    );
    assert_eq!(chain::done(call.await.unwrap())["deleted"], true);
}

#[tokio::test]
async fn sign_in_refuses_a_disabled_user_a_replayed_challenge_and_a_used_invitation() {
    let (chain, mut client) = setup().await;
    let mut key = SoftAuthenticator::ed25519(22);
    enroll(&mut client, &chain, "bo", Role::Approver, &key).await;
    let mut fresh = Client {
        router: client.router.clone(),
        cookie: None,
        csrf: None,
    };
    let (_, _, begin) = fresh.post("/api/login/begin", json!({})).await;
    let challenge = begin["challenge"].as_str().unwrap().to_owned();
    let body = login(&challenge, &mut key);
    let (status, headers, signed) = fresh.post("/api/login/finish", body).await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    fresh.signed_in(&headers, &signed);
    // The same challenge again: refused.
    let (status, _, replay) = fresh
        .post("/api/login/finish", login(&challenge, &mut key))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        replay["error"]
            .as_str()
            .unwrap()
            .contains("unknown, used or expired"),
        "{replay}"
    );

    // Disabled: the live session ends and signing in is refused.
    chain.people.disable("bo").await.unwrap();
    let (status, _, _) = fresh.send("GET", "/api/me", None, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, begin) = fresh.post("/api/login/begin", json!({})).await;
    let (status, _, refused) = fresh
        .post(
            "/api/login/finish",
            login(begin["challenge"].as_str().unwrap(), &mut key),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        refused["error"].as_str().unwrap().contains("disabled"),
        "{refused}"
    );
    // Both refused sign-ins are in the audit log, counted at the door.
    chain.app.api.doors.summarise().await;
    let summary = audited(&chain, tgw::audit::AuditKind::RequestRefused).await;
    let counted = &summary[0]["refusals"][0];
    assert_eq!(
        (&counted["door"], &counted["code"], &counted["times"]),
        (&json!("dashboard"), &json!("sign-in-refused"), &json!(2)),
        "{summary:?}"
    );
    assert!(counted["reason"].as_str().unwrap().contains("disabled"));

    // An invitation enrolls once.
    let invitation = chain.people.invite(Role::User).await.unwrap();
    let other = SoftAuthenticator::es256(23);
    let rp = chain::relying_party();
    for (name, expected) in [("cy", StatusCode::OK), ("dee", StatusCode::FORBIDDEN)] {
        let (_, _, begin) = client
            .post("/api/enroll/begin", json!({"token": invitation.token}))
            .await;
        let challenge = begin["challenge"].as_str().unwrap().to_owned();
        let (client_data, attestation) =
            other.register(&rp.id, &rp.origin, &B64.decode(&challenge).unwrap(), false);
        let (status, _, body) = client
            .post("/api/enroll/finish", json!({"token": invitation.token, "name": name, "challenge": challenge,
                  "client_data_json": B64.encode(client_data), "attestation_object": B64.encode(attestation)}))
            .await;
        assert_eq!(status, expected, "{name}: {body}");
    }
}

#[tokio::test]
async fn the_pages_data_history_skills_policy_and_people() {
    let (chain, mut admin) = setup().await;
    enroll(
        &mut admin,
        &chain,
        "ada",
        Role::Admin,
        &SoftAuthenticator::es256(31),
    )
    .await;
    chain
        .gateway
        .propose(chain::request("read_file", json!({"path": "report.txt"})))
        .await;

    let (status, _, history) = admin
        .send("GET", "/api/audit?kind=execution", None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["chain"]["intact"], true);
    let kinds: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["execution.done"]);

    let (_, _, skills) = admin.send("GET", "/api/skills", None, &[]).await;
    assert_eq!(skills["skills"][0]["name"], "files");
    assert_eq!(
        skills["skills"][0]["capabilities"]["dirs"][0],
        json!({"guest": "/data", "access": "readwrite"})
    );
    assert!(
        skills["skills"][0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "delete_file" && t["risk"] == "destructive")
    );
    assert_eq!(
        (
            &skills["skills"][0]["provenance"],
            &skills["skills"][0]["publisher"],
            &skills["dev"]
        ),
        (
            &json!("local build of skill-files"),
            &Value::Null,
            &json!(false)
        )
    );
    assert_eq!(skills["pending"], json!([]));

    let (_, _, policy) = admin.send("GET", "/api/policy", None, &[]).await;
    assert_eq!(policy["digest"], chain.app.policy.current().digest.as_str());
    assert_eq!(
        policy["rules"],
        json!([
            "reads are fine",
            "writes need a human",
            "destructive calls need a human"
        ])
    );

    let (status, _, invited) = admin
        .post("/api/people/invite", json!({"role": "approver"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{invited}");
    assert!(
        invited["link"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:8400/enroll#")
    );
    let (_, _, people) = admin.send("GET", "/api/people", None, &[]).await;
    assert_eq!(people["people"][0]["name"], "ada");
    assert_eq!(people["people"][0]["passkeys"].as_array().unwrap().len(), 1);

    // An approver sees approvals but not People.
    let mut approver = Client {
        router: admin.router.clone(),
        cookie: None,
        csrf: None,
    };
    enroll(
        &mut approver,
        &chain,
        "bo",
        Role::Approver,
        &SoftAuthenticator::es256(32),
    )
    .await;
    let (status, _, _) = approver.send("GET", "/api/people", None, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = approver.post("/api/people/ada/disable", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = approver.post("/api/people/ada/revoke", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Only an admin decides a skill update; this gateway's skills are not
    // a folder it updates, so even the admin's yes finds nothing.
    let decision = json!({"digest": format!("sha256:{}", "0".repeat(64))});
    for verb in ["accept", "reject"] {
        let path = format!("/api/skills/pending/files/{verb}");
        let (status, _, _) = approver.post(&path, decision.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, refused) = admin.post(&path, decision.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("no skills folder"),
            "{refused}"
        );
    }
    let (status, _, _) = admin
        .post(
            "/api/skills/pending/files/accept",
            json!({"digest": 1, "more": true}),
        )
        .await;
    assert!(status.is_client_error(), "a malformed decision is refused");

    // An admin revokes bo's tokens: the personal one stops at once.
    let (token, _) = chain
        .people
        .create_token("bo", &tgw::people::Scope::ALL)
        .await
        .unwrap();
    let (status, _, revoked) = admin.post("/api/people/bo/revoke", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["personal_tokens"], 1);
    assert_eq!(
        chain.people.authenticate(&token).await.unwrap_err(),
        tgw::people::TokenError::Revoked
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(socket: &mut Socket) -> Value {
    use futures::StreamExt as _;
    let message = socket.next().await.unwrap().unwrap();
    serde_json::from_str::<Value>(message.to_text().unwrap()).unwrap()
}

#[tokio::test]
async fn every_open_dashboard_sees_a_card_arrive_and_leave() {
    use futures::SinkExt as _;
    let (chain, mut client) = setup().await;
    let mut key = SoftAuthenticator::es256(33);
    enroll(&mut client, &chain, "ada", Role::Admin, &key).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = client.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let connect = || async {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{addr}/api/events"),
            )
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", client.cookie.clone().unwrap().parse().unwrap());
        request
            .headers_mut()
            .insert("origin", ORIGIN.parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    let (mut first, mut second) = (connect().await, connect().await);
    // Without a session the feed is refused.
    let anonymous = tokio_tungstenite::connect_async(format!("ws://{addr}/api/events")).await;
    assert!(anonymous.is_err());

    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request("delete_file", json!({"path": "report.txt"})))
            .await
    });
    let card = next(&mut first).await;
    assert_eq!(card["type"], "approval.pending");
    assert_eq!(
        next(&mut second).await["approval"]["id"],
        card["approval"]["id"]
    );
    let id = card["approval"]["id"].as_str().unwrap().to_owned();

    // Approved in one dashboard: both hear it.
    let (_, _, challenge) = client
        .post(&format!("/api/approvals/{id}/challenge"), json!({}))
        .await;
    let rp = chain::relying_party();
    let assertion = key.assert(
        &rp.id,
        &rp.origin,
        &B64.decode(challenge["challenge"].as_str().unwrap())
            .unwrap(),
    );
    let clicked = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (status, _, _) = client
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"nonce": challenge["nonce"], "credential_id": B64.encode(&assertion.credential_id),
                   "authenticator_data": B64.encode(&assertion.authenticator_data),
                   "client_data_json": B64.encode(&assertion.client_data_json), "signature": B64.encode(&assertion.signature)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for socket in [&mut first, &mut second] {
        let decided = next(socket).await;
        assert_eq!(
            (decided["type"].as_str(), decided["id"].as_str()),
            (Some("approval.decided"), Some(id.as_str()))
        );
    }
    chain::done(call.await.unwrap());
    let grant = chain
        .audit
        .read(1, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == tgw::audit::AuditKind::Grant)
        .unwrap();
    // Measured, not asserted: reported in BENCHMARKS.md.
    eprintln!(
        "approve request sent → grant issued: {} ms",
        grant.ts - clicked
    );
    let _ = first.close(None).await;
    let _ = second
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
}

/// `/oauth/authorize` for a client registered with `callback`: the id of
/// the request waiting for consent.
async fn authorization_request(
    client: &Client,
    client_id: &str,
    callback: &str,
    challenge: &str,
) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", callback),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "s1"),
        ("resource", "http://localhost:8400/v1/mcp"),
        ("scope", "tools:list"),
    ])
    .unwrap();
    let (status, headers, _) = client
        .send("GET", &format!("/oauth/authorize?{query}"), None, &[])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers["location"].to_str().unwrap();
    location
        .strip_prefix("http://localhost:8400/#/consent/")
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned()
}

#[tokio::test]
async fn consent_gives_the_client_one_code_for_the_signed_in_person() {
    use sha2::{Digest, Sha256};
    let (chain, mut client) = setup().await;
    let key = SoftAuthenticator::es256(31);
    let (status, _, body) = enroll(&mut client, &chain, "ada", Role::Approver, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let callback = "http://127.0.0.1:9/callback";
    let (status, _, registered) = client
        .send(
            "POST",
            "/oauth/register",
            Some(json!({"client_name": "Test app", "redirect_uris": [callback]})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap();
    let verifier = "v".repeat(50);
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));

    let id = authorization_request(&client, client_id, callback, &challenge).await;
    let path = format!("/api/oauth/requests/{id}");
    let (status, _, shown) = client.send("GET", &path, None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["client_name"], "Test app");
    assert_eq!(shown["client_id_is_url"], false);
    assert_eq!(shown["redirect_host"], "127.0.0.1");
    assert_eq!(shown["scopes"], json!(["tools:list"]));
    assert_eq!(shown["user"], "ada");

    // Without the CSRF token, or from another origin: refused, and the
    // request still waits.
    let (status, _, _) = client
        .send(
            "POST",
            &path,
            Some(json!({"allow": true})),
            &[("origin", ORIGIN)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = client.csrf.clone().unwrap();
    let (status, _, _) = client
        .send(
            "POST",
            &path,
            Some(json!({"allow": true})),
            &[("origin", "https://evil.example"), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _, answer) = client.post(&path, json!({"allow": true})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let redirect = answer["redirect"].as_str().unwrap();
    let (target, query) = redirect.split_once('?').unwrap();
    assert_eq!(target, callback);
    let params: std::collections::HashMap<String, String> =
        serde_urlencoded::from_str(query).unwrap();
    assert_eq!(params["state"], "s1");
    // Answered once.
    let (status, _, _) = client.post(&path, json!({"allow": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The code is ada's, for the scope she allowed.
    let form = serde_urlencoded::to_string([
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", callback),
        ("client_id", client_id),
    ])
    .unwrap();
    let response = client
        .router
        .clone()
        .oneshot(
            Request::post("/oauth/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let tokens: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(tokens["scope"], "tools:list");

    // Denied: the client hears access_denied, with no code.
    let id = authorization_request(&client, client_id, callback, &challenge).await;
    let (status, _, answer) = client
        .post(
            &format!("/api/oauth/requests/{id}"),
            json!({"allow": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let redirect = answer["redirect"].as_str().unwrap();
    assert!(
        redirect.starts_with(&format!("{callback}?error=access_denied")),
        "{redirect}"
    );
    assert!(!redirect.contains("code="), "{redirect}");

    // Both decisions are in the audit log.
    let entries = chain.audit.read(1, 1000).await.unwrap();
    let consents: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == tgw::audit::AuditKind::OauthConsent)
        .map(|e| (e.detail["user"].clone(), e.detail["allowed"].clone()))
        .collect();
    assert_eq!(
        consents,
        [(json!("ada"), json!(true)), (json!("ada"), json!(false))]
    );
}

#[tokio::test]
async fn anonymous_sign_in_challenges_cannot_grow_memory_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    let chain = chain::chain_with(dir, bus, GatewayConfig::default()).await;
    let state = chain.app.api.clone();
    let mut client = Client {
        router: chain.app.router(),
        cookie: None,
        csrf: None,
    };
    let mut key = SoftAuthenticator::ed25519(24);
    let (status, _, _) = enroll(&mut client, &chain, "flo", Role::User, &key).await;
    assert_eq!(status, StatusCode::OK);
    let anonymous = Client {
        router: client.router.clone(),
        cookie: None,
        csrf: None,
    };
    let begin = || anonymous.post("/api/login/begin", json!({}));
    let first = begin().await.2["challenge"].as_str().unwrap().to_owned();
    for _ in 0..100_000 {
        let (status, _, begun) = begin().await;
        assert_eq!(status, StatusCode::OK, "{begun}");
    }
    assert_eq!(
        state.challenges_waiting(),
        tgw::api::passkeys::MAX_CEREMONIES,
        "the map holds at most its cap"
    );
    // The oldest challenge made room for newer ones: it is gone...
    let (status, _, refused) = anonymous
        .post("/api/login/finish", login(&first, &mut key))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    // ...and a person who asks now still signs in.
    let fresh = begin().await.2["challenge"].as_str().unwrap().to_owned();
    let (status, _, signed) = anonymous
        .post("/api/login/finish", login(&fresh, &mut key))
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
}

/// Signs in on a fresh client with `key`; the status and the answer.
async fn sign_in(client: &Client, key: &mut SoftAuthenticator) -> (StatusCode, Value) {
    let fresh = Client {
        router: client.router.clone(),
        cookie: None,
        csrf: None,
    };
    let (_, _, begin) = fresh.post("/api/login/begin", json!({})).await;
    let body = login(begin["challenge"].as_str().unwrap(), key);
    let (status, _, answer) = fresh.post("/api/login/finish", body).await;
    (status, answer)
}

async fn audited(chain: &chain::Chain, kind: tgw::audit::AuditKind) -> Vec<Value> {
    chain
        .audit
        .entries()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.detail)
        .collect()
}

#[tokio::test]
async fn a_passkey_whose_counter_goes_back_is_suspended_until_an_admin_enables_it() {
    use tgw::audit::AuditKind;
    let (chain, mut admin) = setup().await;
    let ada = SoftAuthenticator::es256(21);
    enroll(&mut admin, &chain, "ada", Role::Admin, &ada).await;
    let mut bob = chain::enroll_in(&chain.people, "bob", Role::Approver, 31).await;
    // A copy of bob's authenticator, made before he used it.
    let mut copy = SoftAuthenticator::es256(31);
    assert_eq!(sign_in(&admin, &mut bob).await.0, StatusCode::OK);

    // The copy signs with a counter that went back: refused, suspended.
    let (status, refused) = sign_in(&admin, &mut copy).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("counter went back"),
        "{refused}"
    );
    let suspended = audited(&chain, AuditKind::PasskeySuspended).await;
    assert_eq!(suspended.len(), 1, "{suspended:?}");
    assert_eq!(suspended[0]["user"], "bob");
    assert!(suspended[0]["reason"].as_str().unwrap().contains("cloned"));
    // Bob's own authenticator is refused too, until an admin looks.
    let (status, refused) = sign_in(&admin, &mut bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("suspended"),
        "{refused}"
    );
    // The People page shows it.
    let (_, _, people) = admin.send("GET", "/api/people", None, &[]).await;
    let person = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bob")
        .unwrap()
        .clone();
    let passkey = &person["passkeys"][0];
    assert!(
        passkey["suspended"].as_str().unwrap().contains("went back"),
        "{person}"
    );

    // A pending approval cannot be given with it either.
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request("delete_file", json!({"path": "report.txt"})))
            .await
    });
    let id = loop {
        if let ApprovalEvent::Pending(record) = events.recv().await.unwrap() {
            break record.id.to_string();
        }
    };
    let refused = chain::approve_in(&chain.approvals, &id, "bob", &mut bob)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "passkey-suspended", "{refused}");

    // The admin enables it again (audited); bob approves; the copy, used
    // again, is caught again.
    let id_of = passkey["id"].as_str().unwrap();
    let (status, _, enabled) = admin
        .post(
            &format!("/api/people/bob/passkeys/{id_of}/enable"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let enabled = audited(&chain, AuditKind::PasskeyEnabled).await;
    assert_eq!(enabled[0]["by"], "ada");
    chain::approve_in(&chain.approvals, &id, "bob", &mut bob)
        .await
        .unwrap();
    chain::done(call.await.unwrap());
    copy.sign_count = 1;
    assert_eq!(sign_in(&admin, &mut copy).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(audited(&chain, AuditKind::PasskeySuspended).await.len(), 2);
}

/// A client signed in as a new person of `role` (enrolled over the API).
async fn person(chain: &chain::Chain, router: &Router, name: &str, role: Role, seed: u8) -> Client {
    let mut client = Client {
        router: router.clone(),
        cookie: None,
        csrf: None,
    };
    let key = SoftAuthenticator::es256(seed);
    let (status, _, body) = enroll(&mut client, chain, name, role, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    client
}

fn call_by(name: &str, role: Role, tool: &str, args: Value) -> tgw::gateway::CallRequest {
    tgw::gateway::CallRequest {
        principal: name.into(),
        role,
        groups: vec!["support".parse().unwrap()],
        ..chain::request(tool, args)
    }
}

/// The calls of the audit entries `client` sees, and whether it sees any
/// entry outside a call.
async fn seen_calls(client: &Client) -> (std::collections::BTreeSet<String>, bool, Value) {
    let (status, _, page) = client.send("GET", "/api/audit?limit=1000", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let calls = entries
        .iter()
        .filter_map(|e| e["call"].as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let outside = entries.iter().any(|e| e["call"] == "");
    (calls, outside, page["chain"].clone())
}

#[tokio::test]
async fn the_audit_log_shows_each_person_what_is_theirs_to_see() {
    let (chain, admin) = {
        let (chain, mut client) = setup().await;
        let key = SoftAuthenticator::es256(51);
        enroll(&mut client, &chain, "ada", Role::Admin, &key).await;
        (chain, client)
    };
    let router = admin.router.clone();
    // An admin action: audited outside any call.
    let (status, _, _) = admin
        .post("/api/people/invite", json!({"role": "user"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let uma = person(&chain, &router, "uma", Role::User, 52).await;
    let abe = person(&chain, &router, "abe", Role::Approver, 53).await;
    let aud = person(&chain, &router, "aud", Role::Auditor, 54).await;

    // uma reads; vic's write waits for a human and is denied.
    let read = json!({"path": "report.txt"});
    chain::done(
        chain
            .gateway
            .propose(call_by("uma", Role::User, "read_file", read.clone()))
            .await,
    );
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let write = tokio::spawn(async move {
        gateway
            .propose(call_by(
                "vic",
                Role::User,
                "write_file",
                json!({"path": "x.txt", "content": "x"}),
            ))
            .await
    });
    let pending = loop {
        if let ApprovalEvent::Pending(record) = events.recv().await.unwrap() {
            break record;
        }
    };
    chain
        .approvals
        .deny(pending.id.as_ref(), "ada", "no")
        .await
        .unwrap();
    assert!(write.await.unwrap().refusal().is_some());
    let entries = chain.audit.entries().await.unwrap();
    let call_of = |who: &str| {
        entries
            .iter()
            .find(|e| e.kind == tgw::audit::AuditKind::Proposal && e.detail["principal"] == who)
            .unwrap()
            .call
            .clone()
    };
    let (uma_call, vic_call) = (call_of("uma"), call_of("vic"));

    let (calls, outside, _) = seen_calls(&uma).await;
    assert_eq!(
        calls,
        [uma_call.clone()].into(),
        "a user sees their own calls"
    );
    assert!(!outside);
    let (calls, outside, _) = seen_calls(&abe).await;
    assert_eq!(
        calls,
        [vic_call.clone()].into(),
        "an approver sees the calls that waited for a human"
    );
    assert!(!outside);
    for (who, client) in [("the auditor", &aud), ("an admin", &admin)] {
        let (calls, outside, chain_status) = seen_calls(client).await;
        assert_eq!(calls, [uma_call.clone(), vic_call.clone()].into(), "{who}");
        assert!(
            outside,
            "{who} sees the entries outside calls (admin actions)"
        );
        assert_eq!(chain_status["intact"], true);
    }

    // The auditor reads and decides nothing.
    let (status, _, _) = aud
        .post(
            &format!("/api/approvals/{}/deny", pending.id),
            json!({"reason": "x"}),
        )
        .await;
    assert_ne!(status, StatusCode::OK);

    // Checked incrementally: later entries are checked and counted too.
    let (_, _, before) = seen_calls(&aud).await;
    chain::done(
        chain
            .gateway
            .propose(call_by("uma", Role::User, "read_file", read))
            .await,
    );
    let (calls, _, after) = seen_calls(&aud).await;
    assert_eq!(calls.len(), 3);
    assert_eq!(after["intact"], true);
    assert!(after["entries"].as_u64().unwrap() > before["entries"].as_u64().unwrap());
}
