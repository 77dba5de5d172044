//! The `tgw` binary as a user runs it.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn tgw(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let skills = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills");
    process::run(data_dir, &skills, args, stdin)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn skill_list_tools_and_call() {
    let data = tempfile::tempdir().unwrap();
    let list = tgw(data.path(), &["skill", "list"], None);
    assert!(list.status.success(), "{}", stderr(&list));
    let names: Vec<String> = stdout(&list)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["files", "http-fetch", "invoices"]);

    let tools = tgw(data.path(), &["skill", "tools", "files"], None);
    assert!(tools.status.success(), "{}", stderr(&tools));
    assert!(
        stdout(&tools).contains("files.delete_file  [destructive]"),
        "{}",
        stdout(&tools)
    );

    let call = tgw(
        data.path(),
        &[
            "skill",
            "call",
            "files",
            "read_file",
            r#"{"path":"hello.txt"}"#,
        ],
        None,
    );
    assert!(call.status.success(), "{}", stderr(&call));
    let result: serde_json::Value = serde_json::from_str(&stdout(&call)).unwrap();
    assert!(
        result["content"]
            .as_str()
            .unwrap()
            .starts_with("Hello from the Trust Gateway.")
    );
}

#[test]
fn errors_are_readable_and_exit_non_zero() {
    let data = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            vec!["skill", "call", "nope", "x"],
            "error: no skill named nope in ",
        ),
        (
            vec!["skill", "call", "files", "read_file", "{not json"],
            "error: the arguments are not JSON",
        ),
        (
            vec!["skill", "call", "files", "read_file", "[1]"],
            "error: the arguments must be a JSON object",
        ),
        (
            vec!["skill", "call", "files", "format_disk"],
            "error: unknown tool \"format_disk\"",
        ),
        (
            vec![
                "skill",
                "call",
                "files",
                "read_file",
                r#"{"path":"../../etc/passwd"}"#,
            ],
            "error: invalid arguments: ",
        ),
        (
            vec![
                "skill",
                "call",
                "http-fetch",
                "get",
                r#"{"url":"http://169.254.169.254/"}"#,
            ],
            "error: http to 169.254.169.254 refused: not in the skill's allowlist",
        ),
    ] {
        let output = tgw(data.path(), &args, None);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("panicked"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn secrets_are_read_from_stdin_and_stored_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let set = tgw(
        data.path(),
        &["secrets", "set", "invoices", "INVOICE_API_KEY"],
        Some("sk_live_abc\n"),
    );
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(!stderr(&set).contains("sk_live_abc") && !stdout(&set).contains("sk_live_abc"));

    let file = data.path().join("secrets/invoices/INVOICE_API_KEY");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "sk_live_abc");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for dir in [
        data.path().join("secrets"),
        data.path().join("secrets/invoices"),
    ] {
        assert_eq!(
            std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    let list = tgw(data.path(), &["secrets", "list", "invoices"], None);
    assert!(
        stdout(&list).starts_with("INVOICE_API_KEY"),
        "{}",
        stdout(&list)
    );
    assert!(stdout(&list).contains(" set "));
    assert!(!stdout(&list).contains("sk_live_abc"));

    let undeclared = tgw(
        data.path(),
        &["secrets", "set", "invoices", "OTHER_KEY"],
        Some("x\n"),
    );
    assert!(!undeclared.status.success());
    assert!(
        stderr(&undeclared).contains("declares no secret OTHER_KEY (it declares: INVOICE_API_KEY)")
    );

    let empty = tgw(
        data.path(),
        &["secrets", "set", "invoices", "INVOICE_API_KEY"],
        Some("\n"),
    );
    assert!(!empty.status.success());
    assert!(
        stderr(&empty).contains("the value is empty"),
        "{}",
        stderr(&empty)
    );
}

#[test]
fn keys_init_rotate_export_trust_and_untrust() {
    use std::os::unix::fs::PermissionsExt;
    let gateway = tempfile::tempdir().unwrap();
    let init = tgw(gateway.path(), &["keys", "init"], None);
    assert!(init.status.success(), "{}", stderr(&init));
    let first = stdout(&init).split_whitespace().nth(3).unwrap().to_owned();
    let key_file = gateway.path().join("keys/signing.key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = tgw(gateway.path(), &["keys", "init"], None);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("use `tgw keys rotate`"),
        "{}",
        stderr(&again)
    );

    assert!(
        tgw(gateway.path(), &["keys", "rotate"], None)
            .status
            .success()
    );
    let list = stdout(&tgw(gateway.path(), &["keys", "list"], None));
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with(&first) && l.contains(" trusted ")),
        "{list}"
    );
    let current = list
        .lines()
        .find(|l| l.contains(" signing "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let refused = tgw(gateway.path(), &["keys", "untrust", &current], None);
    assert!(
        !refused.status.success(),
        "the signing key cannot be untrusted"
    );

    // An executor's machine trusts the exported public keys, never the
    // signing key.
    let export = stdout(&tgw(gateway.path(), &["keys", "export"], None));
    let executor = tempfile::tempdir().unwrap();
    let trust = tgw(executor.path(), &["keys", "trust", "-"], Some(&export));
    assert!(trust.status.success(), "{}", stderr(&trust));
    assert!(!executor.path().join("keys/signing.key").exists());
    let trusted = stdout(&tgw(executor.path(), &["keys", "list"], None));
    assert_eq!(trusted.lines().count(), 2, "{trusted}");

    // A tampered export (a key id that is not the key's) is refused.
    let tampered = export.replacen(&first, "AAAAAAAAAAAAAAAA", 1);
    let refused = tgw(
        tempfile::tempdir().unwrap().path(),
        &["keys", "trust", "-"],
        Some(&tampered),
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("its id should be"),
        "{}",
        stderr(&refused)
    );

    assert!(
        tgw(gateway.path(), &["keys", "untrust", &first], None)
            .status
            .success()
    );
    assert_eq!(
        stdout(&tgw(gateway.path(), &["keys", "list"], None))
            .lines()
            .count(),
        1
    );
}

#[test]
fn users_invite_list_and_disable() {
    let data = tempfile::tempdir().unwrap();
    let empty = tgw(data.path(), &["users", "list"], None);
    assert!(
        stdout(&empty).starts_with("No users yet"),
        "{}",
        stdout(&empty)
    );
    let invite = tgw(
        data.path(),
        &[
            "users",
            "invite",
            "--role",
            "approver",
            "--public-url",
            "https://gw.example.com",
        ],
        None,
    );
    assert!(invite.status.success(), "{}", stderr(&invite));
    let link = stdout(&invite).trim().to_owned();
    assert!(link.starts_with("https://gw.example.com/enroll#"), "{link}");
    let token = link.split('#').nth(1).unwrap().to_owned();
    assert_eq!(token.len(), 43, "256 random bits, base64url");
    assert!(stderr(&invite).contains("Single use, valid 15 minutes"));

    // Redeem it through the library (the dashboard's enrollment does this).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let disk = tgw::app::DiskConfig {
            data_dir: data.path().to_owned(),
            skills_dir: data.path().join("skills"),
            nats: Default::default(),
            dev: false,
        };
        let bus = disk.gateway_backend().await.unwrap();
        let people = tgw::people::People::new(bus.bucket(tgw::backend::BucketName::People));
        people.redeem(&token, "bob").await.unwrap();
        assert!(
            people.redeem(&token, "eve").await.is_err(),
            "an invitation is single use"
        );
    });
    let list = stdout(&tgw(data.path(), &["users", "list"], None));
    assert!(
        list.starts_with("bob") && list.contains("approver") && list.contains("active"),
        "{list}"
    );
    assert!(
        tgw(data.path(), &["users", "disable", "bob"], None)
            .status
            .success()
    );
    assert!(stdout(&tgw(data.path(), &["users", "list"], None)).contains("disabled"));
    let missing = tgw(data.path(), &["users", "disable", "nobody"], None);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no user nobody"),
        "{}",
        stderr(&missing)
    );
    let group = tgw(data.path(), &["users", "add-group", "bob", "billing"], None);
    assert!(group.status.success(), "{}", stderr(&group));

    // Each change is in the audit log, by the command line; the refused
    // one is not; and the log verifies.
    let export = stdout(&tgw(data.path(), &["audit", "export"], None));
    let actions: Vec<Value> = export
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["entry"]["kind"] == "admin.action")
        .map(|line| line["entry"]["detail"].clone())
        .collect();
    let described: Vec<(String, String)> = actions
        .iter()
        .map(|d| {
            assert_eq!(d["by"], "cli", "{d}");
            (
                d["action"].as_str().unwrap().to_owned(),
                d["person"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("invite".to_owned(), "-".to_owned()),
            ("disable".to_owned(), "bob".to_owned()),
            ("set-groups".to_owned(), "bob".to_owned()),
        ]
    );
    assert_eq!(actions[2]["groups"], json!(["billing"]));
    let verify = tgw(data.path(), &["audit", "verify"], None);
    assert!(
        verify.status.success(),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
}

#[test]
fn publisher_keys_and_the_trust_policy() {
    let publisher = tempfile::tempdir().unwrap();
    let gateway = tempfile::tempdir().unwrap();
    let export = tgw(publisher.path(), &["publisher", "keys", "export"], None);
    assert!(!export.status.success());
    assert!(
        stderr(&export).contains("run `tgw publisher keys init` first"),
        "{}",
        stderr(&export)
    );

    let init = tgw(publisher.path(), &["publisher", "keys", "init"], None);
    assert!(init.status.success(), "{}", stderr(&init));
    assert!(
        stdout(&init).starts_with("Created publisher key "),
        "{}",
        stdout(&init)
    );
    let again = tgw(publisher.path(), &["publisher", "keys", "init"], None);
    assert!(
        stdout(&again).ends_with("exists already.\n"),
        "{}",
        stdout(&again)
    );
    let key_file = publisher.path().join("keys/publisher.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed = stdout(&tgw(publisher.path(), &["publisher", "keys", "list"], None));
    let entry = stdout(&tgw(
        publisher.path(),
        &["publisher", "keys", "export"],
        None,
    ));
    let parsed: Value = serde_json::from_str(&entry).unwrap();
    let kid = parsed["kid"].as_str().unwrap();
    assert!(listed.starts_with(kid), "{listed}");
    // The secret never leaves in an export.
    let seed = std::fs::read_to_string(&key_file).unwrap();
    assert!(!entry.contains(seed.trim()));

    // On the gateway: trust it for some names.
    let none = stdout(&tgw(gateway.path(), &["publisher", "list"], None));
    assert!(none.starts_with("No trusted publishers"), "{none}");
    let bad = tgw(
        gateway.path(),
        &["publisher", "trust", "-", "--skills", "../x"],
        Some(&entry),
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("a glob of skill names"),
        "{}",
        stderr(&bad)
    );
    let trust = tgw(
        gateway.path(),
        &[
            "publisher",
            "trust",
            "-",
            "--skills",
            "acme-*",
            "--skills",
            "files",
        ],
        Some(&entry),
    );
    assert!(trust.status.success(), "{}", stderr(&trust));
    let policy = std::fs::read_to_string(gateway.path().join("trust.toml")).unwrap();
    assert!(
        policy.contains(kid) && policy.contains("\"acme-*\""),
        "{policy}"
    );
    let listed = stdout(&tgw(gateway.path(), &["publisher", "list"], None));
    assert!(
        listed.starts_with(kid) && listed.trim_end().ends_with("acme-*,files"),
        "{listed}"
    );
    let forged = tgw(
        gateway.path(),
        &["publisher", "trust", "-", "--skills", "*"],
        Some(&entry.replace(kid, "AAAAAAAAAAAAAAAA")),
    );
    assert!(
        !forged.status.success(),
        "a key id that is not the key's own was trusted"
    );
}

#[test]
fn a_new_skill_builds_tests_and_runs_as_it_is() {
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str], cwd: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tgw"))
            .args(args)
            .current_dir(cwd)
            .env("TGW_DATA_DIR", work.path().join("data"))
            .env_remove("TGW_SKILLS_DIR")
            .output()
            .unwrap()
    };
    let made = run(&["skill", "new", "greeter"], work.path());
    assert!(made.status.success(), "{}", stderr(&made));
    let again = run(&["skill", "new", "greeter"], work.path());
    assert!(
        stderr(&again).contains("exists already"),
        "{}",
        stderr(&again)
    );
    let bad = run(&["skill", "new", "Not A Name"], work.path());
    assert!(!bad.status.success());
    let crate_dir = work.path().join("greeter");

    // Its test passes as it is.
    let test = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(crate_dir.join("target"))
        .output()
        .unwrap();
    assert!(test.status.success(), "{}{}", stdout(&test), stderr(&test));

    // It builds into a component next to skill.toml, and runs.
    let built = run(&["skill", "build", "greeter"], work.path());
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(crate_dir.join("skill_greeter.wasm").is_file());
    let call = run(
        &[
            "--skills-dir",
            ".",
            "skill",
            "call",
            "greeter",
            "greet",
            r#"{"name": "Ada"}"#,
        ],
        work.path(),
    );
    assert!(call.status.success(), "{}", stderr(&call));
    // A 0.2.0 skill: content blocks and structured content.
    let answer: Value = serde_json::from_str(&stdout(&call)).unwrap();
    assert_eq!(
        answer["structuredContent"]["greeting"], "Hello, Ada!",
        "{answer}"
    );
    let tools = stdout(&run(
        &["--skills-dir", ".", "skill", "tools", "greeter"],
        work.path(),
    ));
    assert!(tools.contains("greeter.greet  [read]"), "{tools}");
}
