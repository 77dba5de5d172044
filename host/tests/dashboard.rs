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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_shows_exactly_the_bytes_the_challenge_and_the_executor_get() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    ensure_playwright();
    let (chain, origin, _) = chain::on_a_port(None).await;
    let invitation = chain.people.invite(Role::Admin).await.unwrap();
    let link = format!("{origin}/enroll#{}", invitation.token);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut browser = tokio::process::Command::new("node")
        .arg("fidelity.mjs")
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
        tokio::time::timeout(std::time::Duration::from_secs(90), from_browser.next_line())
            .await
            .expect("the browser answered in time")
            .unwrap()
            .expect("the browser script ended early (its error is above)")
    };
    assert_eq!(next().await, "ENROLLED");

    // 200 KiB of text, then a right-to-left override and a sentence in
    // TAG characters, which no person can see.
    let hidden: String = "rm -rf /"
        .bytes()
        .map(|b| char::from_u32(0xE0000 + u32::from(b)).unwrap())
        .collect();
    let content = format!("{}\u{202e}txt.exe{hidden}", "A".repeat(200 * 1024));
    let args = json!({"path": "notes.txt", "content": content});
    let canonical = tgw::canonical::canonicalize(args.to_string().as_bytes()).unwrap();
    let gateway = chain.gateway.clone();
    let call =
        tokio::spawn(async move { gateway.propose(chain::request("write_file", args)).await });
    to_browser.write_all(b"PROPOSED\n").await.unwrap();
    let line = next().await;
    let card: serde_json::Value =
        serde_json::from_str(line.strip_prefix("CARD ").expect(&line)).unwrap();
    let pending = chain.approvals.pending().await.unwrap();
    let record = pending.first().unwrap().clone();
    to_browser.write_all(b"APPROVE\n").await.unwrap();

    // The card: the canonical bytes in full, with what hides escaped.
    let shown = card["shown"].as_str().unwrap();
    assert_eq!(record.args, canonical.as_str());
    assert_eq!(shown, tgw::shown::show(&record.args).text);
    assert_eq!(
        tgw::shown::unshow(shown).as_deref(),
        Some(canonical.as_str())
    );
    assert!(
        shown.contains("\\u{202e}txt.exe\\u{e0072}\\u{e006d}"),
        "not escaped"
    );
    assert!(
        shown.contains(&"A".repeat(200 * 1024)),
        "the long string is cut"
    );
    let warnings: Vec<&str> = card["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [
            "contains a right-to-left override (U+202E), 1 time",
            "contains a Unicode TAG character (U+E0072), 8 times",
            "its TAG characters spell hidden text: \"rm -rf /\"",
        ]
    );
    assert!(
        card["scroll"]["scrollHeight"].as_f64().unwrap()
            > card["scroll"]["clientHeight"].as_f64().unwrap()
            && card["scroll"]["scrolledTo"].as_f64().unwrap() > 0.0,
        "the box does not scroll: {}",
        card["scroll"]
    );
    assert_eq!(card["input_hash"], canonical.input_hash);
    assert_eq!(card["input_hash"], record.input_hash);
    assert_eq!(card["component"], record.component.to_string());

    // The approval: the passkey signed the challenge over that hash.
    assert_eq!(next().await, "APPROVED");
    let done = chain::done(call.await.unwrap());
    assert!(
        done.to_string().contains("written") || done.is_object(),
        "{done}"
    );
    let decided = chain
        .approvals
        .get(record.id.as_ref())
        .await
        .unwrap()
        .unwrap();
    let tgw::approval::ApprovalState::Approved { evidence, .. } = decided.state else {
        panic!("not approved: {:?}", decided.state);
    };
    let client_data: serde_json::Value =
        serde_json::from_slice(&b64.decode(&evidence.client_data_json).unwrap()).unwrap();
    let expected = tgw::webauthn::approval_challenge(
        record.id.as_ref(),
        &canonical.input_hash,
        record.component.as_ref(),
        &b64.decode(&evidence.nonce).unwrap(),
    );
    assert_eq!(client_data["challenge"], b64.encode(expected));

    // The executor: it ran on exactly those bytes.
    let written = std::fs::read_to_string(chain.files.join("notes.txt")).unwrap();
    assert_eq!(written, content);
    drop(to_browser);
    assert!(browser.wait().await.unwrap().success());
}
