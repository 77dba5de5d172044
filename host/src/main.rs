//! `tgw`: the Trust Gateway's one binary.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's malloc: a call allocates often (JSON,
/// canonical forms, audit entries, Wasm instances), and under load glibc's
/// malloc and free were 6% of the CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tgw::tls::install_crypto_provider();
    // Logs go to stderr: stdout carries results (and the MCP stdio protocol
    // of `tgw mcp stdio`) only.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tgw=info,warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
