// The chain's cases, shared by the embedded and the NATS tests: each test
// file defines `async fn backend(config) -> chain::Chain` and includes this.

async fn backend_default() -> chain::Chain {
    backend(GatewayConfig::default()).await
}

async fn audit_kinds(chain: &chain::Chain) -> Vec<(String, Value)> {
    let entries = chain.audit.read(1, 10_000).await.unwrap();
    entries.into_iter().map(|e| (e.kind.as_str().to_owned(), e.detail)).collect()
}

/// The kinds of the log's entries, in order.
async fn kinds_of(chain: &chain::Chain) -> Vec<String> {
    audit_kinds(chain).await.into_iter().map(|(k, _)| k).collect()
}

async fn next_pending(events: &mut tokio::sync::broadcast::Receiver<ApprovalEvent>) -> String {
    loop {
        match events.recv().await.unwrap() {
            ApprovalEvent::Pending(record) => return record.id.to_string(),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn an_auto_approved_read_runs() {
    let chain = backend_default().await;
    let result = chain.gateway.propose(request("read_file", json!({"path": "report.txt"}))).await;
    assert_eq!(done(result)["content"], "quarterly numbers\n");
    let kinds = kinds_of(&chain).await;
    assert_eq!(kinds, ["proposal", "decision", "grant", "execution.done"]);
    assert_eq!(chain::verified(&chain.audit).await, 4);
}

#[tokio::test]
async fn a_destructive_call_waits_and_runs_after_approval() {
    let chain = backend_default().await;
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move { gateway.propose(request("delete_file", json!({"path": "report.txt"}))).await });
    let id = next_pending(&mut events).await;
    let pending = chain.approvals.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].args, r#"{"path":"report.txt"}"#);
    assert!(chain.files.join("report.txt").exists(), "nothing runs before the approval");
    let mut key = chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    chain.approve(&id, "bob", &mut key).await.unwrap();
    assert_eq!(done(call.await.unwrap())["deleted"], true);
    assert!(!chain.files.join("report.txt").exists());
    // A decided approval cannot be decided again.
    chain.enroll("carol", tgw::people::Role::Approver, 6).await;
    assert!(chain.approvals.deny(&id, "carol", "too late").await.is_err());
    let kinds = kinds_of(&chain).await;
    assert_eq!(kinds, ["proposal", "decision", "approval.pending", "approval.decided", "grant", "execution.done"]);
    chain::verified(&chain.audit).await;
}

#[tokio::test]
async fn a_denied_call_does_not_run() {
    let chain = backend_default().await;
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move { gateway.propose(request("delete_file", json!({"path": "report.txt"}))).await });
    let id = next_pending(&mut events).await;
    chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    chain.approvals.deny(&id, "bob", "we keep reports").await.unwrap();
    let refused = call.await.unwrap();
    assert_eq!(refused.refusal().map(Refusal::code), Some(RefusalCode::ApprovalDenied), "{refused:?}");
    assert_eq!(refused.refusal().map(Refusal::as_reason), Some("denied by bob: we keep reports"));
    assert!(chain.files.join("report.txt").exists());
    let kinds = audit_kinds(&chain).await;
    assert!(!kinds.iter().any(|(k, _)| k == "grant"));
    assert!(kinds.iter().any(|(k, d)| k == "call.refused" && d["code"] == "approval-denied"), "{kinds:?}");
}

#[tokio::test]
async fn an_expired_approval_does_not_run() {
    let chain = backend(GatewayConfig { approval_expiry: Duration::from_millis(300), ..GatewayConfig::default() }).await;
    let result = chain.gateway.propose(request("delete_file", json!({"path": "report.txt"}))).await;
    assert_eq!(result.refusal().map(Refusal::code), Some(RefusalCode::ApprovalExpired), "{result:?}");
    assert_eq!(result.refusal().map(Refusal::as_reason), Some("nobody approved the call within 300 ms"));
    assert!(chain.files.join("report.txt").exists());
    let kinds = audit_kinds(&chain).await;
    let decided = kinds.iter().find(|(k, _)| k == "approval.decided").unwrap();
    assert_eq!(decided.1["state"]["state"], "expired");
    assert!(kinds.iter().any(|(k, d)| k == "call.refused" && d["code"] == "approval-expired"), "{kinds:?}");
}

#[tokio::test]
async fn a_cancelled_call_withdraws_its_approval() {
    let chain = backend_default().await;
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move { gateway.propose(request("delete_file", json!({"path": "report.txt"}))).await });
    let id = next_pending(&mut events).await;
    call.abort();
    let _ = call.await;
    for _ in 0..100 {
        if chain.approvals.get(&id).await.unwrap().unwrap().state.name() == "withdrawn" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(chain.approvals.get(&id).await.unwrap().unwrap().state.name(), "withdrawn");
    // The caller is gone, so nobody hears the refusal; the log records the
    // withdrawal.
    let mut withdrawn = false;
    for _ in 0..100 {
        if audit_kinds(&chain).await.iter().any(|(k, d)| k == "approval.decided" && d["state"]["state"] == "withdrawn") {
            withdrawn = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(withdrawn, "the withdrawal is not audited");
    let mut key = chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    assert!(chain.approve(&id, "bob", &mut key).await.is_err(), "a withdrawn call cannot be approved");
    assert!(chain.files.join("report.txt").exists());
}

#[tokio::test]
async fn policy_and_input_refusals_name_the_reason() {
    let chain = backend_default().await;
    let refused = |r: CallResult| match r {
        CallResult::Refused(refusal) => (refusal.code(), refusal.as_reason().to_owned()),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut stranger = request("read_file", json!({"path": "report.txt"}));
    stranger.role = tgw::people::Role::User;
    assert_eq!(refused(chain.gateway.propose(stranger).await), (RefusalCode::NotInGroups, "alice may not use skill files (it is for support)".to_owned()));
    let mut duplicate = request("read_file", json!({}));
    duplicate.args = br#"{"path":"report.txt","path":"../secret"}"#.to_vec();
    assert_eq!(refused(chain.gateway.propose(duplicate).await), (RefusalCode::BadArguments, "the arguments are refused: duplicate key \"path\" at byte 21".to_owned()));
    assert_eq!(refused(chain.gateway.propose(request("format_disk", json!({}))).await).0, RefusalCode::UnknownTool);
    assert_eq!(refused(chain.gateway.propose(chain::request_to("no-such-skill", "x", json!({}))).await).0, RefusalCode::UnknownSkill);
    let mut support = request("read_file", json!({"path": "report.txt"}));
    support.role = tgw::people::Role::User;
    support.groups = vec!["support".parse().unwrap()];
    assert_eq!(done(chain.gateway.propose(support).await)["content"], "quarterly numbers\n", "a member of support uses files");
    // Every refusal is in the audit log with its code.
    let codes: Vec<Value> = audit_kinds(&chain).await.into_iter().filter(|(k, _)| k == "call.refused").map(|(_, d)| d["code"].clone()).collect();
    assert_eq!(codes, [json!("not-in-groups"), json!("bad-arguments"), json!("unknown-tool"), json!("unknown-skill")]);
}

/// A grant for `tool` with `args`, signed by the chain's key, with claims
/// changed by `edit`.
fn grant(chain: &chain::Chain, tool: &str, args: &str, edit: impl FnOnce(&mut Value)) -> (String, String) {
    use base64::Engine as _;
    let canonical = tgw::canonical::canonicalize(args.as_bytes()).unwrap();
    let now = tgw::executor::unix_now();
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).unwrap();
    let mut claims = json!({
        "iss": "tgw", "aud": "default", "sub": "alice",
        "jti": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(jti),
        "iat": now, "nbf": now, "exp": now + 30, "skill": "files", "tool": tool,
        "component": chain.skills.get("files").unwrap().component.digest,
        "input_hash": canonical.input_hash,
        "policy": chain.app.policy.current().digest.clone(),
    });
    edit(&mut claims);
    let key = ed25519_dalek::SigningKey::from_bytes(&chain::SEED);
    let token = forge::forge(&forge::header_for(&key).to_string(), &claims.to_string(), &key);
    (token, String::from_utf8(canonical.bytes).unwrap())
}

const WRITE: &str = r#"{"content":"pwned","path":"marker.txt"}"#;

async fn refused_by_executor(chain: &chain::Chain, token: String, args: &str, code: RefusalCode) {
    refused_by(chain, &chain.executor, token, args, code).await;
}

/// `executor` refuses the grant `token` for `args` with `code`: the tool
/// did not run, and the audit log names the code.
async fn refused_by(chain: &chain::Chain, executor: &tgw::executor::Executor, token: String, args: &str, code: RefusalCode) {
    let call = format!("case-{}-{}", code, args.len());
    let reply = executor.execute(&ExecRequest { call: call.clone(), jti: chain::jti_of(&token), grant: token, args: args.into() }).await.reply;
    match reply {
        tgw::executor::ExecReply::Refused { code: got, reason } => assert_eq!(got, code, "{reason}"),
        other => panic!("expected a refusal with {code}, got {other:?}"),
    }
    assert!(!chain.files.join("marker.txt").exists(), "the tool ran: {code}");
    let entries = chain.audit.read(1, 10_000).await.unwrap();
    assert!(
        entries.iter().any(|e| e.kind == AuditKind::ExecutionRefused && e.call == call && e.detail["code"] == code.as_str()),
        "no audit entry names {code}"
    );
}

#[tokio::test]
async fn the_executor_refuses_every_bad_grant_and_says_why() {
    let chain = backend_default().await;
    let key = ed25519_dalek::SigningKey::from_bytes(&chain::SEED);
    let (valid, args) = grant(&chain, "write_file", WRITE, |_| {});
    let claims_of = |edit: fn(&mut Value)| {
        let (token, _) = grant(&chain, "write_file", WRITE, edit);
        let payload = token.split('.').nth(1).unwrap().to_owned();
        use base64::Engine as _;
        serde_json::from_slice::<Value>(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let plain = claims_of(|_| {});
    let header = forge::header_for(&key);
    let cases: Vec<(&str, String, RefusalCode)> = vec![
        ("alg none", forge::alg_none(&header, &plain), RefusalCode::GrantWrongAlgorithm),
        ("HS256 with the public key", forge::hs256_with_public_key(&key, &plain), RefusalCode::GrantWrongAlgorithm),
        ("unknown kid", forge::forge(&forge::with(header.clone(), "kid", json!("AAAAAAAAAAAAAAAA")).to_string(), &plain.to_string(), &key), RefusalCode::GrantUnknownKey),
        ("kid with path characters", forge::forge(&forge::with(header.clone(), "kid", json!("../signing.key")).to_string(), &plain.to_string(), &key), RefusalCode::GrantMalformed),
        ("jku header", forge::forge(&forge::with(header.clone(), "jku", json!("https://evil.example")).to_string(), &plain.to_string(), &key), RefusalCode::GrantForbiddenHeader),
        ("jwk header", forge::forge(&forge::with(header.clone(), "jwk", json!({})).to_string(), &plain.to_string(), &key), RefusalCode::GrantForbiddenHeader),
        ("exp as a string", grant(&chain, "write_file", WRITE, |c| c["exp"] = json!(c["exp"].to_string())).0, RefusalCode::GrantBadClaim),
        ("expired", grant(&chain, "write_file", WRITE, |c| { let n = c["iat"].as_i64().unwrap(); c["iat"] = json!(n - 60); c["nbf"] = json!(n - 60); c["exp"] = json!(n - 35); }).0, RefusalCode::GrantExpired),
        ("iat in the future", grant(&chain, "write_file", WRITE, |c| { let n = c["iat"].as_i64().unwrap(); c["iat"] = json!(n + 60); c["nbf"] = json!(n + 60); c["exp"] = json!(n + 80); }).0, RefusalCode::GrantNotYetValid),
        ("exp - iat over 30", grant(&chain, "write_file", WRITE, |c| c["exp"] = json!(c["iat"].as_i64().unwrap() + 31)).0, RefusalCode::GrantLifetimeTooLong),
        ("wrong aud", grant(&chain, "write_file", WRITE, |c| c["aud"] = json!("payments")).0, RefusalCode::GrantWrongAudience),
        ("wrong typ", forge::forge(&forge::with(header.clone(), "typ", json!("JWT")).to_string(), &plain.to_string(), &key), RefusalCode::GrantWrongType),
        ("non-canonical signature", forge::malleate(&valid), RefusalCode::GrantBadSignature),
        ("another skill's component", grant(&chain, "write_file", WRITE, |c| c["component"] = json!(format!("sha256:{}", "e".repeat(64)))).0, RefusalCode::ComponentMismatch),
        ("a tool the skill lacks", grant(&chain, "format_disk", WRITE, |_| {}).0, RefusalCode::SkillMissing),
        ("a skill the executor lacks", grant(&chain, "write_file", WRITE, |c| c["skill"] = json!("payroll")).0, RefusalCode::SkillMissing),
    ];
    for (name, token, code) in cases {
        eprintln!("case: {name}");
        refused_by_executor(&chain, token, &args, code).await;
    }
    // Arguments changed after the grant, and arguments that are not JSON a
    // verifier could agree on.
    refused_by_executor(&chain, valid.clone(), r#"{"content":"pwned","path":"other.txt"}"#, RefusalCode::GrantHashMismatch).await;
    refused_by_executor(&chain, valid.clone(), r#"{"content":"pwned","path":"marker.txt","path":"x"}"#, RefusalCode::BadArguments).await;
    refused_by_executor(&chain, valid, r#"{"path":"marker.txt","content":"pwned"}"#, RefusalCode::ArgumentsNotCanonical).await;
    // Bytes off the bus that are not a request at all.
    let answer = chain.executor.handle(b"{\"call\": 7}").await;
    assert!(matches!(answer.reply, tgw::executor::ExecReply::Refused { code: RefusalCode::RequestUnreadable, .. }), "{:?}", answer.reply);
    let entries = chain.audit.read(1, 10_000).await.unwrap();
    assert!(entries.iter().any(|e| e.kind == AuditKind::ExecutionRefused && e.detail["code"] == "request-unreadable"));
    chain::verified(&chain.audit).await;
}

#[tokio::test]
async fn a_grant_runs_once() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    let request = ExecRequest { call: "twice".into(), jti: chain::jti_of(&token), grant: token, args };
    assert!(matches!(chain.executor.execute(&request).await.reply, tgw::executor::ExecReply::Done { .. }));
    std::fs::remove_file(chain.files.join("marker.txt")).unwrap();
    refused_by_executor(&chain, request.grant.clone(), &request.args, RefusalCode::NonceSpent).await;
}

#[tokio::test]
async fn two_executors_given_the_same_grant_at_once_run_it_once() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", r#"{"content":"once","path":"counted.txt"}"#, |_| {});
    let second = chain.another_executor().await;
    let request = ExecRequest { call: "race".into(), jti: chain::jti_of(&token), grant: token, args };
    let (a, b) = tokio::join!(chain.executor.execute(&request), second.execute(&request));
    let (a, b) = (a.reply, b.reply);
    let done = [&a, &b].iter().filter(|r| matches!(r, tgw::executor::ExecReply::Done { .. })).count();
    assert_eq!(done, 1, "{a:?} / {b:?}");
    let refused = [a, b].into_iter().find_map(|r| match r {
        tgw::executor::ExecReply::Refused { code, .. } => Some(code),
        _ => None,
    });
    assert_eq!(refused, Some(RefusalCode::NonceSpent));
}

#[tokio::test]
async fn a_grant_redelivered_after_its_executor_died_does_not_run_again() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    // The executor that took the first delivery recorded the nonce and
    // died before running the tool: the ledger holds the spent nonce.
    let claims = tgw::grant::UnverifiedGrant::from_token(token.clone())
        .verify(&tgw::grant::Expectations {
            trusted: &[tgw::grant::GrantSigner::from_seed(&chain::SEED).trusted_key()],
            audience: "default",
            now: tgw::executor::unix_now(),
            input_hash: &tgw::canonical::input_hash(args.as_bytes()),
        })
        .unwrap();
    chain.backend.nonces.spend(&format!("default_{}", claims.claims().jti)).await.unwrap();
    refused_by_executor(&chain, token, &args, RefusalCode::NonceSpent).await;
}

/// An `approval` claim signed by `key` over the challenge of `approval_id`
/// for these arguments and component, as an approved call's grant carries.
fn approval_claim(key: &mut tgw::webauthn::software::SoftAuthenticator, approver: &str, approval_id: &str, input_hash: &str, component: &str) -> Value {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let nonce = b"sixteen byte nce";
    let challenge = tgw::webauthn::approval_challenge(approval_id, input_hash, component, nonce);
    let rp = chain::relying_party();
    let assertion = key.assert(&rp.id, &rp.origin, &challenge);
    json!({
        "id": approval_id, "approver": approver, "credential_id": b64(&assertion.credential_id), "nonce": b64(nonce),
        "authenticator_data": b64(&assertion.authenticator_data), "client_data_json": b64(&assertion.client_data_json),
        "signature": b64(&assertion.signature),
    })
}

const DELETE: &str = r#"{"path":"report.txt"}"#;

#[tokio::test]
async fn a_destructive_tool_needs_a_valid_passkey_approval_in_its_grant() {
    let chain = backend_default().await;
    let mut bob = chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    let component = chain.skills.get("files").unwrap().component.digest.clone();
    let hash = tgw::canonical::canonicalize(DELETE.as_bytes()).unwrap().input_hash;

    // No approval at all (a grant from a policy that said allow).
    let (token, args) = grant(&chain, "delete_file", DELETE, |_| {});
    refused_delete(&chain, token, &args, "the grant carries none").await;

    // Another call's approval: it binds other arguments.
    let other = tgw::canonical::canonicalize(br#"{"path":"other.txt"}"#).unwrap().input_hash;
    let claim = approval_claim(&mut bob, "bob", "approval-1", &other, &component);
    let (token, args) = grant(&chain, "delete_file", DELETE, |c| c["approval"] = claim);
    refused_delete(&chain, token, &args, "the challenge is not the one issued").await;

    // A forged signature.
    let mut claim = approval_claim(&mut bob, "bob", "approval-2", &hash, &component);
    claim["signature"] = json!(claim["signature"].as_str().unwrap().replacen('A', "B", 1).replacen('M', "N", 1));
    let (token, args) = grant(&chain, "delete_file", DELETE, |c| c["approval"] = claim);
    refused_delete(&chain, token, &args, "signature does not verify").await;

    // A passkey that is not enrolled, and one named for another approver.
    let mut stranger = tgw::webauthn::software::SoftAuthenticator::es256(77);
    let claim = approval_claim(&mut stranger, "bob", "approval-3", &hash, &component);
    let (token, args) = grant(&chain, "delete_file", DELETE, |c| c["approval"] = claim);
    refused_delete(&chain, token, &args, "its passkey is not enrolled").await;
    let claim = approval_claim(&mut bob, "mallory", "approval-4", &hash, &component);
    let (token, args) = grant(&chain, "delete_file", DELETE, |c| c["approval"] = claim);
    refused_delete(&chain, token, &args, "its passkey is not the approver's").await;

    // The real thing runs ...
    let claim = approval_claim(&mut bob, "bob", "approval-5", &hash, &component);
    let (token, args) = grant(&chain, "delete_file", DELETE, |c| c["approval"] = claim.clone());
    let reply = chain.executor.execute(&ExecRequest { call: "ok".into(), jti: chain::jti_of(&token), grant: token, args }).await.reply;
    assert!(matches!(reply, tgw::executor::ExecReply::Done { .. }), "{reply:?}");
    // ... but not once its approver is disabled.
    std::fs::write(chain.files.join("report.txt"), "again").unwrap();
    chain.people.disable("bob").await.unwrap();
    let (token, args) = grant(&chain, "delete_file", DELETE, |c| c["approval"] = claim);
    refused_delete(&chain, token, &args, "not an active admin or approver").await;
}

/// The floor's refusals share one code; `why` tells the cases apart.
async fn refused_delete(chain: &chain::Chain, token: String, args: &str, why: &str) {
    let reply = chain.executor.execute(&ExecRequest { call: "floor".into(), jti: chain::jti_of(&token), grant: token, args: args.into() }).await.reply;
    match reply {
        tgw::executor::ExecReply::Refused { code, reason } => {
            assert_eq!(code, RefusalCode::NoHumanApproval, "{reason}");
            assert!(reason.contains(why), "expected {why:?} in {reason:?}");
        }
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
    assert!(chain.files.join("report.txt").exists(), "the destructive tool ran: {why}");
}

#[tokio::test]
async fn passkey_approvals_refuse_replays_strangers_disabled_users_and_self_approval() {
    let chain = backend(GatewayConfig { four_eyes: true, ..GatewayConfig::default() }).await;
    let mut events = chain.approvals.subscribe();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move { gateway.propose(request("delete_file", json!({"path": "report.txt"}))).await });
    let id = next_pending(&mut events).await;
    let rp = chain::relying_party();

    // The proposer may not approve their own call (four eyes).
    let mut alice = chain.enroll("alice", tgw::people::Role::Admin, 3).await;
    let own = chain.approve(&id, "alice", &mut alice).await.unwrap_err();
    assert!(own.to_string().contains("may not approve it (four eyes)"), "{own}");
    // A user without the approver role may not.
    let mut user = chain.enroll("uma", tgw::people::Role::User, 4).await;
    assert!(chain.approve(&id, "uma", &mut user).await.unwrap_err().to_string().contains("may not approve"));
    // A disabled approver may not.
    let mut dave = chain.enroll("dave", tgw::people::Role::Approver, 6).await;
    chain.people.disable("dave").await.unwrap();
    assert!(chain.approve(&id, "dave", &mut dave).await.unwrap_err().to_string().contains("dave is disabled"));

    // Bob's assertion for a challenge, sent twice: the second is a replay.
    let mut bob = chain.enroll("bob", tgw::people::Role::Approver, 5).await;
    let challenge = chain.approvals.challenge(&id, "bob").await.unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&challenge.challenge).unwrap();
    // Signed over another challenge: refused, and the challenge is spent.
    let wrong = bob.assert(&rp.id, &rp.origin, b"not the challenge issued for it");
    let refused = chain.approvals.approve_with_passkey(&id, "bob", &challenge.nonce, &wrong).await.unwrap_err();
    assert!(refused.to_string().contains("the challenge is not the one issued"), "{refused}");
    let right = bob.assert(&rp.id, &rp.origin, &bytes);
    let replay = chain.approvals.approve_with_passkey(&id, "bob", &challenge.nonce, &right).await.unwrap_err();
    assert!(replay.to_string().contains("unknown, used or expired"), "{replay}");
    // A good approval runs the call.
    chain.approve(&id, "bob", &mut bob).await.unwrap();
    assert_eq!(done(call.await.unwrap())["deleted"], true);

    // A copy of bob's key with a lower counter (a cloned authenticator) is
    // refused and reported.
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move { gateway.propose(request("write_file", json!({"path": "x.txt", "content": "x"}))).await });
    let id = next_pending(&mut events).await;
    let challenge = chain.approvals.challenge(&id, "bob").await.unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&challenge.challenge).unwrap();
    let mut clone = tgw::webauthn::software::SoftAuthenticator::es256(5);
    let stale = clone.assert(&rp.id, &rp.origin, &bytes);
    let cloned = chain.approvals.approve_with_passkey(&id, "bob", &challenge.nonce, &stale).await.unwrap_err();
    assert!(cloned.to_string().contains("signature counter went back from 3 to 1"), "{cloned}");
    call.abort();
}

/// A digest of a policy nobody wrote.
fn other_policy() -> String {
    format!("sha256:{}", "e".repeat(64))
}

#[tokio::test]
async fn a_grant_for_a_policy_never_in_force_is_refused() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |c| c["policy"] = json!(other_policy()));
    refused_by_executor(&chain, token, &args, RefusalCode::PolicyNotInForce).await;
}

#[tokio::test]
async fn a_grant_for_a_policy_replaced_before_it_was_issued_is_refused() {
    let chain = backend_default().await;
    let people = chain.app.backend.bucket(tgw::backend::BucketName::People);
    let now = tgw::audit::now_millis();
    tgw::policy::in_force::started(&*people, &other_policy(), now - 120_000).await.unwrap();
    tgw::policy::in_force::replaced(&*people, &other_policy(), now - 60_000).await.unwrap();
    let (token, args) = grant(&chain, "write_file", WRITE, |c| c["policy"] = json!(other_policy()));
    refused_by_executor(&chain, token, &args, RefusalCode::PolicyNotInForce).await;
    // A record on the bus that no gateway sealed is no record.
    let raw = chain.backend.bucket(tgw::backend::BucketName::People);
    let forged = format!("sha256:{}", "f".repeat(64));
    let key = tgw::policy::in_force::key(&forged).unwrap();
    let record = json!({"digest": forged, "since": now - 1000, "replaced": null});
    raw.create(&key, record.to_string().as_bytes()).await.unwrap();
    let (token, args) = grant(&chain, "write_file", WRITE, |c| c["policy"] = json!(forged));
    refused_by_executor(&chain, token, &args, RefusalCode::PolicyNotInForce).await;
}

/// Writes `text` as the chain's policy file and reloads it.
fn replace_policy(chain: &chain::Chain, text: &str) -> String {
    std::fs::write(chain.dir.path().join("policy.toml"), text).unwrap();
    chain.app.policy.reload().unwrap()
}

const NO_WRITES: &str = r#"version = 1
default = "deny"

[[rule]]
name = "reads are fine"
use = "builtin:match"
config = { risk = ["read"] }
decision = "allow"

[[rule]]
name = "no writes today"
use = "builtin:match"
config = { risk = ["write"], reason = "writes are frozen" }
decision = "deny"
"#;

const WRITES_ALLOWED: &str = r#"version = 1
default = "deny"

[[rule]]
name = "writes are fine now"
use = "builtin:match"
config = { risk = ["read", "write"] }
decision = "allow"
"#;

#[tokio::test]
async fn a_waiting_call_is_decided_again_when_the_policy_changes() {
    let chain = backend_default().await;
    let mut events = chain.approvals.subscribe();

    // Denied by the new policy: the call ends with its reason, and the
    // approval is withdrawn.
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway.propose(request("write_file", json!({"path": "frozen.txt", "content": "x"}))).await
    });
    let first = next_pending(&mut events).await;
    let frozen = replace_policy(&chain, NO_WRITES);
    let refused = call.await.unwrap();
    let refusal = refused.refusal().unwrap();
    assert_eq!(refusal.code(), RefusalCode::PolicyDenied);
    assert_eq!(
        refusal.as_reason(),
        "the policy changed while the call waited: denied by policy (rule \"no writes today\"): writes are frozen"
    );
    assert!(!chain.files.join("frozen.txt").exists());
    let mut withdrawn = false;
    for _ in 0..100 {
        let record = chain.approvals.get(&first).await.unwrap().unwrap();
        if record.state.name() == "withdrawn" {
            withdrawn = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(withdrawn, "the approval is still open");
    let kinds = audit_kinds(&chain).await;
    assert!(
        kinds.iter().any(|(k, d)| k == "decision" && d["decision"]["policy"] == frozen.as_str() && d["decision"]["verdict"] == "deny"),
        "the new decision is not audited: {kinds:?}"
    );
    assert!(kinds.iter().any(|(k, d)| k == "call.refused" && d["code"] == "policy-denied"));

    // Allowed by the next one: the human it asked still decides, and the
    // grant names the policy that decided last.
    replace_policy(&chain, &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/default.toml")).unwrap());
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway.propose(request("write_file", json!({"path": "thawed.txt", "content": "y"}))).await
    });
    let second = next_pending(&mut events).await;
    let allowed = replace_policy(&chain, WRITES_ALLOWED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the call ran without its human");
    assert_eq!(chain.approvals.get(&second).await.unwrap().unwrap().state.name(), "pending");
    let mut key = chain.enroll("ada", tgw::people::Role::Approver, 41).await;
    chain.approve(&second, "ada", &mut key).await.unwrap();
    done(call.await.unwrap());
    assert!(chain.files.join("thawed.txt").exists());
    let kinds = audit_kinds(&chain).await;
    let grant = kinds.iter().rev().find(|(k, _)| k == "grant").unwrap();
    assert_eq!(grant.1["policy"], allowed.as_str());
}
