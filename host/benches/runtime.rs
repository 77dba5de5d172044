//! Runtime latency: warm instantiate+invoke of a trivial tool, and the
//! first call after a cold start with and without the on-disk compile
//! cache. Run with `cargo bench -p tgw --bench runtime`; results go in
//! BENCHMARKS.md.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up or measure stops, loudly"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tgw::runtime::{Runtime, SandboxSpec};

const ARGS: &str = r#"{"hello":"world"}"#;

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn warm(c: &mut Criterion) {
    let rt = tokio();
    let runtime = Runtime::new(None).unwrap();
    let echo = runtime
        .load_file(Path::new(tgw::guests::GUEST_ECHO))
        .unwrap();
    let spec = SandboxSpec::default();
    c.bench_function("warm instantiate+invoke (echo)", |b| {
        b.to_async(&rt).iter(|| async {
            let outcome = runtime.invoke(&echo, &spec, "echo", ARGS, None).await;
            black_box(outcome.result.unwrap());
        });
    });
    percentiles(&rt, &runtime, &echo, &spec);
}

/// Criterion reports a mean and its confidence interval; a gateway cares
/// about the tail too, so time each call of a longer run and print
/// percentiles and throughput.
fn percentiles(
    rt: &tokio::runtime::Runtime,
    runtime: &Runtime,
    echo: &tgw::runtime::LoadedComponent,
    spec: &SandboxSpec,
) {
    const CALLS: usize = 20_000;
    let mut samples = Vec::with_capacity(CALLS);
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..CALLS {
            let t = Instant::now();
            black_box(
                runtime
                    .invoke(echo, spec, "echo", ARGS, None)
                    .await
                    .result
                    .unwrap(),
            );
            samples.push(t.elapsed());
        }
    });
    let total = started.elapsed();
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "warm instantiate+invoke over {CALLS} calls: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}  throughput {:.0} calls/s (one thread)",
        at(0.50),
        at(0.90),
        at(0.99),
        samples[samples.len() - 1],
        CALLS as f64 / total.as_secs_f64()
    );
}

fn cold(c: &mut Criterion) {
    let rt = tokio();
    let spec = SandboxSpec::default();
    let mut group = c.benchmark_group("first call after a cold start");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));

    group.bench_function("without the compile cache", |b| {
        b.to_async(&rt).iter(|| async {
            let runtime = Runtime::new(None).unwrap();
            let echo = runtime
                .load_file(Path::new(tgw::guests::GUEST_ECHO))
                .unwrap();
            black_box(
                runtime
                    .invoke(&echo, &spec, "echo", ARGS, None)
                    .await
                    .result
                    .unwrap(),
            );
        });
    });

    let cache = tempfile::tempdir().unwrap();
    Runtime::new(Some(cache.path()))
        .unwrap()
        .load_file(Path::new(tgw::guests::GUEST_ECHO))
        .unwrap();
    group.bench_function("with the compile cache", |b| {
        b.to_async(&rt).iter(|| async {
            let runtime = Runtime::new(Some(cache.path())).unwrap();
            let echo = runtime
                .load_file(Path::new(tgw::guests::GUEST_ECHO))
                .unwrap();
            assert!(echo.from_cache);
            black_box(
                runtime
                    .invoke(&echo, &spec, "echo", ARGS, None)
                    .await
                    .result
                    .unwrap(),
            );
        });
    });
    group.finish();
}

criterion_group!(benches, warm, cold);
criterion_main!(benches);
