//! The dashboard end to end, in real headless Chromium (Debian's chromium,
//! driven by playwright-core from npm, with the DevTools Protocol's virtual
//! WebAuthn authenticator doing user verification): the first admin
//! enrolls; a destructive call proposed through the gateway's API appears
//! as a card in two open dashboards without a reload; approving it with the
//! passkey runs the tool and the card leaves both; denying refuses the next
//! one; History shows the run and filters it; an approver invited from the
//! People page enrolls and is disabled there. Screenshots go to
//! target/e2e-screenshots/.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/chain.rs"]
mod chain;

use std::path::Path;
use std::process::Stdio;

use serde_json::json;
use tgw::people::Role;
use tgw::refusal::RefusalCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn e2e_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e")
}

/// playwright-core from npm, installed once (like build.rs adds the wasm
/// targets): no browser download, it drives Debian's chromium.
fn ensure_playwright() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the dashboard tests need Debian's chromium: apt-get install chromium (.ci/run does this)"
    );
    if !e2e_dir().join("node_modules/playwright-core").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(e2e_dir())
            .status()
            .expect("npm is installed");
        assert!(status.success(), "npm ci in tests/e2e failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_enrolls_and_decides_calls_in_real_chromium() {
    ensure_playwright();
    let (chain, origin, _) = chain::on_a_port(None).await;

    let invitation = chain.people.invite(Role::Admin).await.unwrap();
    let link = format!("{origin}/enroll#{}", invitation.token);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut browser = tokio::process::Command::new("node")
        .arg("dashboard.mjs")
        .arg(&link)
        .arg(&shots)
        .current_dir(e2e_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is installed");
    let mut to_browser = browser.stdin.take().unwrap();
    let mut from_browser = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(60), from_browser.next_line())
            .await
            .expect("the browser answered within a minute")
            .unwrap()
            .expect("the browser script ended early (its error is above)")
    };

    assert_eq!(next().await, "ENROLLED");
    let user = chain.people.user("ada").await.unwrap().unwrap();
    assert_eq!(user.role, Role::Admin);

    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request("delete_file", json!({"path": "report.txt"})))
            .await
    });
    to_browser.write_all(b"PROPOSED\n").await.unwrap();
    assert_eq!(next().await, "CARD");
    assert!(
        chain.files.join("report.txt").exists(),
        "nothing runs before the approval"
    );
    let approved = next().await;
    let clicked: i64 = approved
        .strip_prefix("APPROVED ")
        .expect(&approved)
        .parse()
        .unwrap();
    assert_eq!(chain::done(call.await.unwrap())["deleted"], true);
    assert!(!chain.files.join("report.txt").exists());
    let grant = chain
        .audit
        .read(1, 1000)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == tgw::audit::AuditKind::Grant)
        .unwrap();
    // Measured, not asserted: reported in BENCHMARKS.md.
    eprintln!("approve click → grant issued: {} ms", grant.ts - clicked);

    std::fs::write(chain.files.join("report.txt"), "again").unwrap();
    let gateway = chain.gateway.clone();
    let call = tokio::spawn(async move {
        gateway
            .propose(chain::request("delete_file", json!({"path": "report.txt"})))
            .await
    });
    to_browser.write_all(b"PROPOSED\n").await.unwrap();
    assert_eq!(next().await, "DENIED");
    let refused = call.await.unwrap();
    assert_eq!(
        refused.refusal().map(|r| (r.code(), r.as_reason())),
        Some((RefusalCode::ApprovalDenied, "denied by ada: not today")),
        "{refused:?}"
    );
    assert!(chain.files.join("report.txt").exists());

    assert_eq!(next().await, "HISTORY");
    assert_eq!(next().await, "GROUPS");
    let grace = chain.people.user("grace").await.unwrap().unwrap();
    let groups: Vec<&str> = grace
        .groups
        .iter()
        .map(tgw::ids::GroupName::as_str)
        .collect();
    assert_eq!(
        groups,
        ["billing", "support"],
        "the People page set the groups"
    );
    assert_eq!(next().await, "PEOPLE");
    assert_eq!(next().await, "DONE");
    drop(to_browser);
    assert!(browser.wait().await.unwrap().success());
    for shot in [
        "approvals-empty.png",
        "approvals-card.png",
        "history.png",
        "approvals-phone.png",
    ] {
        assert!(shots.join(shot).exists(), "{shot} was not saved");
    }
}
