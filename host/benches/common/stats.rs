//! Latency percentiles and throughput, for the benchmarks that time calls
//! one by one (`chain`, `mcp`).

use std::time::Duration;

pub struct Stats {
    pub p50: Duration,
    pub p99: Duration,
    pub per_second: f64,
}

/// The percentiles of `samples` and the calls per second over `total`.
pub fn stats(mut samples: Vec<Duration>, total: Duration) -> Stats {
    samples.sort();
    let n = samples.len();
    Stats {
        p50: samples[n / 2],
        p99: samples[n * 99 / 100],
        per_second: n as f64 / total.as_secs_f64(),
    }
}
