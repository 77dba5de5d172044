//! The whole chain on the embedded bus: propose → decide → approve →
//! grant → verify → execute, and the executor's refusals.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;
#[path = "common/forge.rs"]
mod forge;

use std::time::Duration;

use chain::{chain_with, done, request};
use serde_json::{Value, json};
use tgw::approval::ApprovalEvent;
use tgw::audit::AuditKind;
use tgw::executor::ExecRequest;
use tgw::gateway::{CallResult, GatewayConfig};
use tgw::refusal::{Refusal, RefusalCode};

async fn backend(config: GatewayConfig) -> chain::Chain {
    let dir = tempfile::tempdir().unwrap();
    let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
    chain_with(dir, bus, config).await
}

include!("common/chain_cases.rs");

#[tokio::test]
async fn an_unreachable_ledger_fails_closed() {
    let chain = backend_default().await;
    let (token, args) = grant(&chain, "write_file", WRITE, |_| {});
    // Break the real ledger: its table is gone.
    let db = rusqlite::Connection::open(chain.dir.path().join("state.db")).unwrap();
    db.execute_batch("DROP TABLE nonces").unwrap();
    refused_by_executor(&chain, token, &args, RefusalCode::LedgerUnavailable).await;
}
