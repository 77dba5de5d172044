//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! pinned in tests/mcp/package.json), run as its README says, against
//! `tgw up` serving the fixture of tests/conformance: a copy of its
//! `skills/` folder, its `policy.toml` (whose aliases give the diagnostic
//! tools the names the suite calls), and `expected-failures.yml`, which
//! names only what a gateway of tools does not serve.
//!
//! Each revision's requirement set runs at its own wire version
//! (`--requirements 2026-07-28`, `--requirements 2025-11-25`); the run
//! must exit 0, so a scenario that regresses, or one that passes while
//! listed as expected to fail, fails the test.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/nats.rs"]
mod nats;
#[path = "common/process.rs"]
mod process;

use std::path::{Path, PathBuf};

use process::{Killed, ok, start};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture() -> PathBuf {
    repo().join("tests/conformance")
}

/// A running `tgw up` on the fixture, with a token for an admin.
struct Served {
    _up: Killed,
    mcp: String,
    token: String,
    _dir: tempfile::TempDir,
}

/// A copy of the fixture's skills folder: what the build put there (each
/// skill's manifest and component).
fn copy_skills(to: &Path) {
    for entry in std::fs::read_dir(fixture().join("skills")).unwrap() {
        let from = entry.unwrap().path();
        let name = from.file_name().unwrap().to_owned();
        let dest = to.join(&name);
        std::fs::create_dir_all(&dest).unwrap();
        for file in std::fs::read_dir(&from).unwrap() {
            let file = file.unwrap().path();
            let keep = file.extension().is_some_and(|e| e == "toml" || e == "wasm");
            if keep {
                std::fs::copy(&file, dest.join(file.file_name().unwrap())).unwrap();
            }
        }
    }
}

/// `tgw up --skills-dir <copy of tests/conformance/skills> --policy
/// tests/conformance/policy.toml`, and an admin's token.
async fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let (data, skills) = (dir.path().join("data"), dir.path().join("skills"));
    copy_skills(&skills);
    ok(&process::run(&data, &skills, &["keys", "init"], None));
    let link = ok(&process::run(
        &data,
        &skills,
        &["users", "invite", "--role", "admin"],
        None,
    ));
    let invitation = link.trim().rsplit('#').next().unwrap().to_owned();
    // The dashboard's enrollment redeems an invitation; here the library
    // does, with no passkey (the suite approves nothing).
    let disk = tgw::app::DiskConfig {
        data_dir: data.clone(),
        skills_dir: skills.clone(),
        nats: Default::default(),
        dev: false,
    };
    let bus = disk.gateway_backend().await.unwrap();
    let people = tgw::people::People::new(bus.bucket(tgw::backend::BucketName::People));
    people.redeem(&invitation, "conformance").await.unwrap();
    drop((people, bus));
    let token = ok(&process::run(
        &data,
        &skills,
        &["tokens", "create", "--user", "conformance"],
        None,
    ))
    .trim()
    .to_owned();
    let listen = format!("127.0.0.1:{}", nats::free_port());
    let policy = fixture().join("policy.toml").display().to_string();
    let skills_arg = skills.display().to_string();
    let (up, lines) = start(
        &[
            "up",
            "--listen",
            &listen,
            "--policy",
            &policy,
            "--skills-dir",
            &skills_arg,
        ],
        &data,
        &skills,
        "Stop with Ctrl-C.",
    );
    let text = lines.join("\n");
    assert!(text.contains("diagnostics"), "{text}");
    Served {
        _up: up,
        mcp: format!("http://{listen}/v1/mcp"),
        token,
        _dir: dir,
    }
}

/// Runs the suite's server scenarios of `revision` against `served`; the
/// stdout, and where the results are.
fn suite(served: &Served, revision: &str) -> (String, PathBuf) {
    let clients = repo().join("tests/mcp");
    // Kept after the test (target/tmp/conformance/<revision>): each
    // scenario's checks.json says what failed and why.
    let results = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(revision);
    let _ = std::fs::remove_dir_all(&results);
    let output = std::process::Command::new(clients.join("node_modules/.bin/node"))
        .arg("--import")
        .arg(clients.join("scripts/bearer.mjs"))
        .arg(clients.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", &served.mcp, "--requirements", revision])
        .arg("--expected-failures")
        .arg(fixture().join("expected-failures.yml"))
        .arg("-o")
        .arg(&results)
        .env("MCP_BEARER", &served.token)
        .current_dir(&clients)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the conformance suite ({revision}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout, results)
}

/// The checks of `scenario` in `results` that did not succeed: the
/// suite writes each scenario's checks to `<results>/server-<scenario>-<time>/checks.json`.
fn failed_checks(results: &Path, scenario: &str) -> Vec<String> {
    let prefix = format!("server-{scenario}-2");
    let dir = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .unwrap_or_else(|| panic!("the suite ran no scenario {scenario}"));
    let checks: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checks.json")).unwrap()).unwrap();
    assert!(!checks.is_empty(), "{scenario} made no checks");
    checks
        .iter()
        .filter(|c| !["SUCCESS", "INFO", "SKIPPED"].contains(&c["status"].as_str().unwrap()))
        .map(|c| format!("{}: {} {}", c["id"], c["status"], c["errorMessage"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_what_2026_07_28_requires() {
    let served = serve().await;
    let (stdout, results) = suite(&served, "2026-07-28");
    println!("{stdout}");
    // Run, not scored: the exit code ignores them.
    for scenario in [
        "http-header-validation",
        "http-custom-header-server-validation",
        "tasks-capability-negotiation",
        "tasks-lifecycle",
        "tasks-wire-fields",
        "tasks-request-state-removal",
        "tasks-mrtr-input",
        "tasks-mrtr-composition",
        "tasks-request-headers",
        "tasks-dispatch-and-envelope",
        "tasks-required-task-error",
        "tasks-status-notifications",
    ] {
        let failed = failed_checks(&results, scenario);
        assert!(failed.is_empty(), "{scenario}: {failed:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_what_2025_11_25_requires() {
    let served = serve().await;
    let (stdout, _) = suite(&served, "2025-11-25");
    println!("{stdout}");
}

/// The Python `mcp` client's reading of each call of `calls` (`tool` or
/// `tool=ARGS`).
fn python_calls(served: &Served, calls: &[&str]) -> Vec<serde_json::Value> {
    let clients = repo().join("tests/mcp");
    let output = std::process::Command::new(clients.join(".venv/bin/python"))
        .arg("py_rich.py")
        .arg(&served.mcp)
        .arg(&served.token)
        .args(calls)
        .current_dir(clients.join("scripts"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    said.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_reads_an_image_structured_content_and_progress_as_such() {
    let served = serve().await;
    let results = python_calls(
        &served,
        &[
            "test_image_content",
            r#"diagnostics.weather={"city": "Lyon"}"#,
            "test_tool_with_progress",
        ],
    );
    let image = &results[0]["content"][0];
    assert_eq!(image["class"], "ImageContent", "{image}");
    assert!(image.to_string().contains("image/png"), "{image}");
    assert!(
        image["data"].as_str().unwrap().starts_with("iVBORw0KGgo"),
        "{image}"
    );

    let weather = &results[1];
    assert_eq!(
        weather["structured"],
        serde_json::json!({"city": "Lyon", "celsius": 21.5, "sky": "clear"}),
        "{weather}"
    );
    assert_eq!(weather["content"][0]["class"], "TextContent");

    let progress = results[2]["progress"].as_array().unwrap();
    let done: Vec<f64> = progress
        .iter()
        .map(|p| p["done"].as_f64().unwrap())
        .collect();
    assert_eq!(done, [0.0, 50.0, 100.0], "{progress:?}");
    assert_eq!(progress[2]["message"], "100% done");
}
