//! Hostile guests: each test fails if the sandbox lets the attempt through,
//! and then checks that the same runtime still serves a good call.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::json;
use tgw::guests::GUEST_HOSTILE;
use tgw::runtime::{CallError, ToolFailure};

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let runtime = runtime();
    let mut spec = spec();
    spec.limits.fuel = 50_000_000;
    spec.limits.timeout = Duration::from_secs(120);
    let outcome = call(&runtime, GUEST_HOSTILE, &spec, "spin", json!({})).await;
    let error = outcome.result.unwrap_err();
    assert!(
        matches!(error, CallError::OutOfFuel { budget: 50_000_000 }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "out of fuel after 50000000: the tool used its whole compute budget"
    );
    assert_still_serving(&runtime).await;
}

#[tokio::test]
async fn an_infinite_loop_hits_the_epoch_deadline() {
    let runtime = runtime();
    let mut spec = spec();
    spec.limits.fuel = 1_000_000_000_000;
    spec.limits.timeout = Duration::from_millis(300);
    let outcome = call(&runtime, GUEST_HOSTILE, &spec, "spin", json!({})).await;
    let error = outcome.result.unwrap_err();
    assert!(matches!(error, CallError::Timeout { .. }), "{error:?}");
    assert_eq!(error.to_string(), "timed out after 300 ms");
    assert_still_serving(&runtime).await;
}

#[tokio::test]
async fn a_guest_waiting_on_a_slow_host_times_out() {
    let server = start_server("unused").await;
    let runtime = runtime();
    let mut spec = with_http(spec(), &[&server.allow_entry()]);
    spec.limits.timeout = Duration::from_millis(500);
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "http_get",
        json!({"url": server.url("/slow")}),
    )
    .await;
    assert_eq!(
        outcome.result.unwrap_err().to_string(),
        "timed out after 500 ms"
    );
    assert_still_serving(&runtime).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_cap() {
    let runtime = runtime();
    let mut spec = spec();
    spec.limits.memory_bytes = 32 << 20;
    let outcome = call(&runtime, GUEST_HOSTILE, &spec, "hog_memory", json!({})).await;
    let error = outcome.result.unwrap_err();
    assert!(
        matches!(error, CallError::MemoryLimit { mib: 32 }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "memory limit 32 MiB exceeded");
    assert_still_serving(&runtime).await;
}

/// Three host folders: the writable preopen, a read-only preopen, and a
/// folder outside both holding a secret file.
struct Folders {
    _root: tempfile::TempDir,
    rw: std::path::PathBuf,
    ro: std::path::PathBuf,
    outside: std::path::PathBuf,
}

const OUTSIDE_TEXT: &str = "outside the sandbox";
const READ_ONLY_TEXT: &str = "read-only original";

fn folders() -> Folders {
    let root = tempfile::tempdir().unwrap();
    let (rw, ro, outside) = (
        root.path().join("rw"),
        root.path().join("ro"),
        root.path().join("outside"),
    );
    for dir in [&rw, &ro, &outside] {
        fs::create_dir(dir).unwrap();
    }
    fs::write(outside.join("secret.txt"), OUTSIDE_TEXT).unwrap();
    fs::write(ro.join("kept.txt"), READ_ONLY_TEXT).unwrap();
    Folders {
        _root: root,
        rw,
        ro,
        outside,
    }
}

fn fs_spec(f: &Folders) -> tgw::runtime::SandboxSpec {
    with_dir(
        with_dir(spec(), &f.rw, "/sandbox", true),
        &f.ro,
        "/ro",
        false,
    )
}

/// The call must fail as a tool error (the guest saw an I/O error) and
/// must not have read the outside file.
fn assert_denied_read(outcome: &tgw::runtime::CallOutcome<String>) {
    match &outcome.result {
        Err(CallError::Tool(ToolFailure::Failed(message))) => {
            assert!(!message.contains(OUTSIDE_TEXT));
        }
        other => panic!("expected the read to fail, got {other:?}"),
    }
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_do_not_leave_the_preopen() {
    let f = folders();
    let runtime = runtime();
    let secret = f.outside.join("secret.txt");
    for path in [
        "/sandbox/../outside/secret.txt".to_owned(),
        "../outside/secret.txt".to_owned(),
        "/sandbox/../../../../../../etc/passwd".to_owned(),
        secret.display().to_string(),
        "/etc/passwd".to_owned(),
    ] {
        let outcome = call(
            &runtime,
            GUEST_HOSTILE,
            &fs_spec(&f),
            "read",
            json!({"path": path}),
        )
        .await;
        assert_denied_read(&outcome);
        assert_still_serving(&runtime).await;
    }
    // The preopen itself works, so the refusals above are not an accident.
    fs::write(f.rw.join("inside.txt"), "inside").unwrap();
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &fs_spec(&f),
        "read",
        json!({"path": "/sandbox/inside.txt"}),
    )
    .await;
    assert_eq!(outcome.result.unwrap(), "inside");
}

#[tokio::test]
async fn a_symlink_planted_in_a_writable_preopen_cannot_point_out() {
    let f = folders();
    let runtime = runtime();
    let absolute = f.outside.join("secret.txt").display().to_string();
    for (link, target) in [
        ("/sandbox/abs", absolute.as_str()),
        ("/sandbox/rel", "../outside/secret.txt"),
    ] {
        let outcome = call(
            &runtime,
            GUEST_HOSTILE,
            &fs_spec(&f),
            "symlink_read",
            json!({"path": link, "target": target}),
        )
        .await;
        assert_denied_read(&outcome);
        assert_still_serving(&runtime).await;
    }
}

#[tokio::test]
async fn a_read_only_preopen_cannot_be_written_or_truncated() {
    let f = folders();
    let runtime = runtime();
    let write = call(
        &runtime,
        GUEST_HOSTILE,
        &fs_spec(&f),
        "write",
        json!({"path": "/ro/new.txt", "content": "x"}),
    )
    .await;
    assert!(
        matches!(write.result, Err(CallError::Tool(ToolFailure::Failed(_)))),
        "{:?}",
        write.result
    );
    assert!(!f.ro.join("new.txt").exists());
    let overwrite = call(
        &runtime,
        GUEST_HOSTILE,
        &fs_spec(&f),
        "write",
        json!({"path": "/ro/kept.txt", "content": "x"}),
    )
    .await;
    assert!(overwrite.result.is_err());
    let truncate = call(
        &runtime,
        GUEST_HOSTILE,
        &fs_spec(&f),
        "truncate",
        json!({"path": "/ro/kept.txt"}),
    )
    .await;
    assert!(
        matches!(
            truncate.result,
            Err(CallError::Tool(ToolFailure::Failed(_)))
        ),
        "{:?}",
        truncate.result
    );
    assert_eq!(
        fs::read_to_string(f.ro.join("kept.txt")).unwrap(),
        READ_ONLY_TEXT
    );
    // The writable preopen does take writes.
    let ok = call(
        &runtime,
        GUEST_HOSTILE,
        &fs_spec(&f),
        "write",
        json!({"path": "/sandbox/new.txt", "content": "x"}),
    )
    .await;
    assert_eq!(ok.result.unwrap(), "written");
    assert_eq!(fs::read_to_string(f.rw.join("new.txt")).unwrap(), "x");
    assert_still_serving(&runtime).await;
}

async fn refused_get(allow: &[&str], url: &str) -> String {
    let runtime = runtime();
    let spec = with_http(spec(), allow);
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "http_get",
        json!({"url": url}),
    )
    .await;
    let message = match outcome.result {
        Err(CallError::HttpRefused(message)) => message,
        other => panic!("expected {url} to be refused, got {other:?}"),
    };
    assert_still_serving(&runtime).await;
    message
}

#[tokio::test]
async fn http_to_an_unlisted_host_is_refused() {
    let server = start_server("unused").await;
    let message = refused_get(&[&server.allow_entry()], "http://example.org/").await;
    assert_eq!(
        message,
        "http to example.org refused: not in the skill's allowlist"
    );
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn http_to_an_unlisted_ip_literal_is_refused() {
    let message = refused_get(&["example.com"], "http://93.184.216.34/").await;
    assert_eq!(
        message,
        "http to 93.184.216.34 refused: not in the skill's allowlist"
    );
}

#[tokio::test]
async fn http_to_localhost_is_refused() {
    let server = start_server("unused").await;
    let url = format!("http://localhost:{}/hello", server.addr.port());
    let message = refused_get(&["example.com"], &url).await;
    assert_eq!(
        message,
        "http to localhost refused: not in the skill's allowlist"
    );
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_listed_name_that_resolves_to_loopback_is_refused() {
    // This machine's own name resolves to a loopback or private address;
    // listing the name is not listing that address.
    let name = std::fs::read_to_string("/etc/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let server = start_server("unused").await;
    let entry = format!("http://{name}:{}", server.addr.port());
    let message = refused_get(&[&entry], &format!("{entry}/hello")).await;
    assert!(
        message.starts_with(&format!("http to {name} refused: it resolves to ")),
        "{message}"
    );
    assert!(
        message.contains("loopback, private or link-local"),
        "{message}"
    );
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn scheme_and_port_must_match_the_allowlist() {
    let server = start_server("unused").await;
    let other_port = format!("http://127.0.0.1:{}/hello", server.addr.port() + 1);
    let message = refused_get(&[&server.allow_entry()], &other_port).await;
    assert!(message.contains("the skill's allowlist has"), "{message}");
    let https = format!("https://{}/hello", server.addr);
    refused_get(&[&server.allow_entry()], &https).await;
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_explicitly_listed_loopback_address_is_reachable() {
    let server = start_server("unused").await;
    let runtime = runtime();
    let spec = with_http(spec(), &[&server.allow_entry()]);
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "http_get",
        json!({"url": server.url("/hello")}),
    )
    .await;
    assert_eq!(outcome.result.unwrap(), "200 hello from the test server");
}

#[tokio::test]
async fn a_redirect_to_an_unlisted_host_is_not_followed() {
    let server = start_server("unused").await;
    let runtime = runtime();
    let spec = with_http(spec(), &[&server.allow_entry()]);
    // http-fetch follows redirects itself; every hop goes through the hook.
    let outcome = call(
        &runtime,
        tgw::guests::SKILL_HTTP_FETCH,
        &spec,
        "get",
        json!({"url": server.url("/redirect/out")}),
    )
    .await;
    match outcome.result {
        Err(CallError::HttpRefused(message)) => {
            assert_eq!(
                message,
                "http to unlisted.example refused: not in the skill's allowlist"
            );
        }
        other => panic!("expected the redirect to be refused, got {other:?}"),
    }
    let paths: Vec<String> = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/redirect/out"]);
    assert_still_serving(&runtime).await;

    // A redirect within the allowlist is followed.
    let outcome = call(
        &runtime,
        tgw::guests::SKILL_HTTP_FETCH,
        &spec,
        "get",
        json!({"url": server.url("/redirect/in")}),
    )
    .await;
    let body: serde_json::Value = serde_json::from_str(&outcome.result.unwrap()).unwrap();
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"], "hello from the test server");
}

#[tokio::test]
async fn the_component_sees_no_environment_arguments_or_host_files() {
    let runtime = runtime();
    let outcome = call(&runtime, GUEST_HOSTILE, &spec(), "peek", json!({})).await;
    let seen: serde_json::Value = serde_json::from_str(&outcome.result.unwrap()).unwrap();
    assert_eq!(seen["env"], json!([]));
    assert_eq!(seen["args"], json!([]));
    assert_eq!(seen["root"], json!([]), "no preopens means no files at all");
}

#[tokio::test]
async fn guest_output_is_captured_with_a_cap() {
    let runtime = runtime();
    let mut spec = spec();
    spec.limits.log_bytes = 1000;
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "print",
        json!({"bytes": 5000}),
    )
    .await;
    assert_eq!(outcome.result.unwrap(), "printed");
    assert!(outcome.stdout.starts_with(&"x".repeat(1000)));
    assert!(
        outcome
            .stdout
            .ends_with("[4001 more bytes dropped: log cap 1000 bytes]"),
        "{}",
        &outcome.stdout[1000..]
    );
    assert_eq!(outcome.stderr, "to stderr\n");
}

#[tokio::test]
async fn a_guest_hoarding_handles_hits_the_resource_limit() {
    let folders = folders();
    let runtime = runtime();
    let spec = fs_spec(&folders);
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "hoard_handles",
        json!({"path": "/ro/kept.txt"}),
    )
    .await;
    let error = outcome.result.unwrap_err();
    assert!(
        matches!(error, CallError::ResourceLimit { max: 4096 }),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("resource limit exceeded"),
        "{error}"
    );
    assert_still_serving(&runtime).await;
}

#[tokio::test]
async fn a_request_with_too_many_headers_is_refused_before_it_leaves() {
    let server = start_server("unused").await;
    let runtime = runtime();
    let spec = with_http(spec(), &[&server.allow_entry()]);
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "many_headers",
        json!({"url": server.url("/"), "count": 65}),
    )
    .await;
    match outcome.result {
        // The guest's HTTP library adds one of its own.
        Err(CallError::HttpRefused(message)) => assert!(
            message.starts_with("http refused: the request has 6")
                && message.ends_with("headers; a skill may send at most 64"),
            "{message}"
        ),
        other => panic!("expected the request to be refused, got {other:?}"),
    }
    assert!(server.seen.lock().unwrap().is_empty(), "the request left");
    // Within the cap, it goes.
    let outcome = call(
        &runtime,
        GUEST_HOSTILE,
        &spec,
        "many_headers",
        json!({"url": server.url("/"), "count": 60}),
    )
    .await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}
