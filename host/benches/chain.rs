//! The chain without MCP: auto-approved calls (policy → grant → verifier
//! component → nonce → tool) on the embedded bus and on NATS, against a
//! direct in-process call of the same tool in the same run.
//!
//! `cargo bench -p tgw --bench chain` (NATS: starts its own nats-server).
//! Prints p50/p99 latency and calls/s; results go in BENCHMARKS.md.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up or measure stops, loudly"
)]

#[path = "../tests/common/chain.rs"]
mod chain;
#[path = "../tests/common/nats.rs"]
mod nats;
#[path = "common/stats.rs"]
mod stats;

use std::time::Instant;

use serde_json::json;
use stats::{Stats, stats};
use tgw::gateway::{CallResult, GatewayConfig};

const CALLS: usize = 2000;
const WARMUP: usize = 100;

async fn measure<F, Fut>(mut call: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..WARMUP {
        call().await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    let started = Instant::now();
    for _ in 0..CALLS {
        let t = Instant::now();
        call().await;
        samples.push(t.elapsed());
    }
    stats(samples, started.elapsed())
}

fn print(name: &str, stats: &Stats, baseline: &Stats) {
    println!(
        "{name:<34} p50 {:>9.1?}  p99 {:>9.1?}  {:>7.0} calls/s  ({:.1}x the direct call's p50)",
        stats.p50,
        stats.p99,
        stats.per_second,
        stats.p50.as_secs_f64() / baseline.p50.as_secs_f64()
    );
}

async fn run_chain(chain: &chain::Chain) -> Stats {
    measure(|| async {
        let result = chain
            .gateway
            .propose(chain::request("read_file", json!({"path": "report.txt"})))
            .await;
        assert!(matches!(result, CallResult::Done { .. }), "{result:?}");
    })
    .await
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
        let embedded = chain::chain_with(dir, bus, GatewayConfig::default()).await;

        let files = embedded.skills.get("files").unwrap();
        let spec = files
            .skill
            .sandbox(&tgw::secrets::SecretStore::new(embedded.dir.path()));
        let args = r#"{"path":"report.txt"}"#;
        let direct = measure(|| async {
            let outcome = embedded
                .runtime
                .invoke(&files.component, &spec, "read_file", args, None)
                .await;
            outcome.result.unwrap();
        })
        .await;
        println!("{CALLS} sequential calls of files.read_file after {WARMUP} warm-up calls:");
        print("direct in-process call (baseline)", &direct, &direct);
        print("chain, embedded bus", &run_chain(&embedded).await, &direct);

        let server = nats::NatsServer::start();
        let bus = nats::backend(&server.url).await;
        let on_nats =
            chain::chain_with(tempfile::tempdir().unwrap(), bus, GatewayConfig::default()).await;
        print(
            "chain, NATS (JetStream state)",
            &run_chain(&on_nats).await,
            &direct,
        );
    });
}
