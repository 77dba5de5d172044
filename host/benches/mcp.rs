//! Load through the MCP front door: auto-approved `files.read_file` calls
//! over Streamable HTTP (a session per client connection, as the SDKs do)
//! at concurrency 1, 8 and 64, against a direct in-process call of the same
//! tool and the chain without HTTP (`Gateway::propose`), in the same run.
//!
//! When `wrk` is installed (Debian's `wrk`), the same calls are also made
//! from a process of its own (`benches/mcp_wrk.lua`, one MCP session), so
//! the load generator is not counted in the gateway's process.
//!
//! The `wrk` rows without a session are made again with the gateway and
//! its executor on NATS (a nats-server of the bench's own), side by side
//! with the embedded bus in the same run.
//!
//! `cargo bench -p tgw --bench mcp`. Prints p50/p99 latency and calls/s;
//! results go in BENCHMARKS.md.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark that cannot set up or measure stops, loudly"
)]

#[path = "../tests/common/chain.rs"]
mod chain;
#[path = "../tests/common/nats.rs"]
mod nats;
#[path = "common/stats.rs"]
mod stats;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use stats::{Stats, stats};
use tgw::gateway::{CallResult, GatewayConfig};
use tgw::people::{Role, Scope};

// The allocator of `tgw` (src/main.rs), so the numbers are its numbers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CALLS: usize = 4000;
const WARMUP: usize = 200;

fn print(name: &str, stats: &Stats, baseline: &Stats) {
    println!(
        "{name:<40} p50 {:>9.1?}  p99 {:>9.1?}  {:>7.0} calls/s  (p50 +{:.0?} over the direct call)",
        stats.p50,
        stats.p99,
        stats.per_second,
        stats.p50.saturating_sub(baseline.p50)
    );
}

/// One MCP client: a kept-alive HTTP/1.1 connection and a session.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    token: String,
    session: Option<String>,
}

impl Client {
    async fn connect(address: std::net::SocketAddr, token: &str) -> Self {
        let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut client = Client {
            sender,
            host: address.to_string(),
            token: token.to_owned(),
            session: None,
        };
        client
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}}),
            )
            .await;
        client
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        client
    }

    async fn post(&mut self, body: Value) -> Option<Value> {
        let mut request = http::Request::post("/v1/mcp")
            .header("host", &self.host)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        self.sender.ready().await.unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        if let Some(session) = response.headers().get("mcp-session-id") {
            self.session = Some(session.to_str().unwrap().to_owned());
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
    }

    async fn read_file(&mut self, id: u64) {
        let answer = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "files.read_file", "arguments": {"path": "report.txt"}}}))
            .await
            .unwrap();
        assert_eq!(answer["result"]["isError"], false, "{answer}");
    }
}

async fn over_mcp(address: std::net::SocketAddr, token: &str, concurrency: usize) -> Stats {
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        clients.push(Client::connect(address, token).await);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        for n in 0..WARMUP / concurrency + 1 {
            client.read_file((i * 100_000 + n) as u64).await;
        }
    }
    let per_client = CALLS / concurrency;
    let started = Instant::now();
    let workers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(per_client);
                for n in 0..per_client {
                    let t = Instant::now();
                    client.read_file(n as u64 + 1).await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }
    stats(samples, started.elapsed())
}

/// The calls made by `wrk` in another process, `concurrency` connections
/// for 10 seconds, all in one MCP session or (`in_session` false) each
/// request on its own, as a client that drops `Mcp-Session-Id` sends them;
/// `None` without wrk.
async fn over_wrk(
    address: std::net::SocketAddr,
    token: &str,
    concurrency: usize,
    in_session: bool,
) -> Option<Stats> {
    let session = if in_session {
        Client::connect(address, token).await.session.unwrap()
    } else {
        String::new()
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/mcp_wrk.lua");
    let output = tokio::process::Command::new("wrk")
        .args(["-t1", &format!("-c{concurrency}"), "-d10s", "-s", script])
        .arg(format!("http://{address}/v1/mcp"))
        .env("TGW_BENCH_TOKEN", token)
        .env("TGW_BENCH_SESSION", session)
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|l| l.starts_with("TGW "))?;
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("wrk said {line:?}"))
    };
    assert_eq!(
        field("bad"),
        0.0,
        "calls that did not return the file: {line}"
    );
    assert_eq!(field("errors"), 0.0, "wrk saw errors: {text}");
    Some(Stats {
        p50: Duration::from_micros(field("p50_us") as u64),
        p99: Duration::from_micros(field("p99_us") as u64),
        per_second: field("requests") / field("seconds"),
    })
}

/// Serves `chain`'s router on a port of 127.0.0.1, as `tgw up` does, with
/// a token for an admin: its address and the token.
async fn serve(chain: &chain::Chain) -> (std::net::SocketAddr, String) {
    let people = &chain.people;
    let invitation = people.invite(Role::Admin).await.unwrap();
    people.redeem(&invitation.token, "bench").await.unwrap();
    let (token, _) = people.create_token("bench", &Scope::ALL).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = chain.app.router();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, token)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let bus = tgw::backend::embedded::backend(dir.path()).unwrap();
        let config = GatewayConfig::default();
        let chain = chain::chain_with(dir, bus, config.clone()).await;
        let (address, token) = serve(&chain).await;

        let files = chain.skills.get("files").unwrap();
        let spec = files
            .skill
            .sandbox(&tgw::secrets::SecretStore::new(chain.dir.path()));
        let args = r#"{"path":"report.txt"}"#;
        let mut samples = Vec::new();
        for _ in 0..WARMUP {
            chain
                .runtime
                .invoke(&files.component, &spec, "read_file", args, None)
                .await
                .result
                .unwrap();
        }
        let started = Instant::now();
        for _ in 0..CALLS {
            let t = Instant::now();
            let outcome = chain
                .runtime
                .invoke(&files.component, &spec, "read_file", args, None)
                .await;
            outcome.result.unwrap();
            samples.push(t.elapsed());
        }
        let direct = stats(samples, started.elapsed());

        let mut samples = Vec::new();
        let started = Instant::now();
        for _ in 0..CALLS / 2 {
            let t = Instant::now();
            let result = chain
                .gateway
                .propose(chain::request("read_file", json!({"path": "report.txt"})))
                .await;
            assert!(matches!(result, CallResult::Done { .. }), "{result:?}");
            samples.push(t.elapsed());
        }
        let propose = stats(samples, started.elapsed());

        // The same, 8 at a time: what the chain alone can do on this
        // machine, to tell the front door's share from the chain's.
        let started = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let gateway = chain.gateway.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    for _ in 0..CALLS / 8 {
                        let t = Instant::now();
                        let result = gateway
                            .propose(chain::request("read_file", json!({"path": "report.txt"})))
                            .await;
                        assert!(matches!(result, CallResult::Done { .. }), "{result:?}");
                        samples.push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await.unwrap());
        }
        let propose_8 = stats(samples, started.elapsed());

        println!("files.read_file, auto-approved, embedded bus; {CALLS} calls per row:");
        print("direct in-process call (baseline)", &direct, &direct);
        print("chain without HTTP (Gateway::propose)", &propose, &direct);
        print("chain without HTTP, concurrency 8", &propose_8, &direct);
        for concurrency in [1, 8, 64] {
            let stats = over_mcp(address, &token, concurrency).await;
            print(
                &format!("MCP Streamable HTTP, concurrency {concurrency}"),
                &stats,
                &direct,
            );
        }
        for (in_session, kind) in [(true, "one session"), (false, "no session")] {
            for concurrency in [1, 8, 64] {
                match over_wrk(address, &token, concurrency, in_session).await {
                    Some(stats) => print(
                        &format!("wrk (own process), {kind}, concurrency {concurrency}"),
                        &stats,
                        &direct,
                    ),
                    None => println!(
                        "(wrk is not installed: apt-get install wrk for the out-of-process rows)"
                    ),
                }
            }
        }

        // The same wrk rows (no session) with the gateway and its executor
        // on NATS: sealed records, signed receipts, one audit chain per
        // writer, all over the bus.
        let server = nats::NatsServer::start();
        let bus = nats::backend(&server.url).await;
        let on_nats = chain::chain_with(tempfile::tempdir().unwrap(), bus, config).await;
        let (nats_address, nats_token) = serve(&on_nats).await;
        for concurrency in [1, 8, 64] {
            for (name, address, token) in [
                ("embedded", address, &token),
                ("NATS", nats_address, &nats_token),
            ] {
                if let Some(stats) = over_wrk(address, token, concurrency, false).await {
                    print(
                        &format!("wrk, no session, {name}, concurrency {concurrency}"),
                        &stats,
                        &direct,
                    );
                }
            }
        }
        drop(server);
    });
    // Skip the runtime's shutdown: the sessions still open would cancel
    // WASI tasks in flight, which wasmtime-wasi reports as panics.
    std::process::exit(0);
}
