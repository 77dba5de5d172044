//! The whole chain on NATS (a nats-server of each test's own), the same
//! cases as the embedded bus, and what only NATS has: delete markers on a
//! spent nonce, an unreachable ledger, executors sharing a queue group.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;
#[path = "common/forge.rs"]
mod forge;
#[path = "common/nats.rs"]
mod nats;

use std::time::Duration;

use chain::{chain_with, done, request};
use serde_json::{Value, json};
use tgw::approval::ApprovalEvent;
use tgw::audit::AuditKind;
use tgw::executor::ExecRequest;
use tgw::gateway::{CallResult, GatewayConfig};
use tgw::refusal::{Refusal, RefusalCode};

async fn backend(config: GatewayConfig) -> chain::Chain {
    let server = nats::NatsServer::start();
    let bus = nats::backend(&server.url).await;
    let mut chain = chain_with(tempfile::tempdir().unwrap(), bus, config).await;
    chain.guard = Some(Box::new(std::sync::Mutex::new(server)));
    chain
}

include!("common/chain_cases.rs");

#[tokio::test]
async fn a_delete_marker_on_a_spent_nonce_does_not_reopen_it() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    let request = ExecRequest {
        call: "first".into(),
        jti: chain::jti_of(&token),
        grant: token.clone(),
        args: args.clone(),
    };
    assert!(matches!(
        chain.executor.execute(&request).await.reply,
        tgw::executor::ExecReply::Done { .. }
    ));
    std::fs::remove_file(chain.files.join("marker.txt")).unwrap();

    // An attacker with publish rights on the subject tries the KV-style
    // delete marker and a purge marker.
    let url = &chain
        .guard
        .as_ref()
        .unwrap()
        .downcast_ref::<std::sync::Mutex<nats::NatsServer>>()
        .unwrap()
        .lock()
        .unwrap()
        .url
        .clone();
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let jti = chain::jti_of(&token);
    for operation in ["DEL", "PURGE"] {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("KV-Operation", operation);
        let published = async {
            js.publish_with_headers(format!("tgw.nonces.default_{jti}"), headers, "".into())
                .await?
                .await
        }
        .await;
        assert!(published.is_err(), "the {operation} marker was accepted");
    }
    refused_by_executor(&chain, token, &args, RefusalCode::NonceSpent).await;
}

#[tokio::test]
async fn an_unreachable_ledger_fails_closed() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    chain
        .guard
        .as_ref()
        .unwrap()
        .downcast_ref::<std::sync::Mutex<nats::NatsServer>>()
        .unwrap()
        .lock()
        .unwrap()
        .stop();
    let reply = chain
        .executor
        .execute(&ExecRequest {
            call: "down".into(),
            jti: chain::jti_of(&token),
            grant: token,
            args,
        })
        .await
        .reply;
    match reply {
        // The first state it cannot read refuses: the record of the
        // policies in force, or the ledger.
        tgw::executor::ExecReply::Refused { code, reason } => assert!(
            matches!(
                code,
                RefusalCode::StateUnavailable | RefusalCode::LedgerUnavailable
            ),
            "{code}: {reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!chain.files.join("marker.txt").exists());
}

#[tokio::test]
async fn executors_of_a_pool_share_the_work() {
    let chain = backend_default().await;
    // A second executor in the same pool, as on another machine.
    let second = chain.another_executor().await;
    second.serve(chain.backend.requests.clone()).await.unwrap();
    let calls = (0..12).map(|_| {
        chain
            .gateway
            .propose(request("read_file", json!({"path": "report.txt"})))
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(done(result)["content"], "quarterly numbers\n");
    }
    assert_eq!(chain::verified(&chain.audit).await, 12 * 4);
}
