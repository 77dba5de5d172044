//! The policy engine: the repository's policy files against tables of
//! calls, deny-overrides, hostile rules, bad files and live reload.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tgw::canonical::canonicalize;
use tgw::ids::Role;
use tgw::policy::{LivePolicy, Policy, Proposal, Verdict};
use tgw::runtime::{Risk, Runtime};

fn runtime() -> Arc<Runtime> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    Arc::new(Runtime::new(Some(&cache)).unwrap())
}

fn repo_policy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policy")
        .join(name)
}

/// A proposal by `principal`, who has the account role named in `who`
/// (`user` if none is) and every other name in `who` as a group.
fn call(name: &str, risk: Risk, principal: &str, who: &[&str], args: Value) -> Proposal {
    let (skill, tool) = name.split_once('.').unwrap();
    let role = who
        .iter()
        .find_map(|w| Role::named(w))
        .unwrap_or(Role::User);
    let groups = who
        .iter()
        .filter(|w| Role::named(w).is_none())
        .map(|g| g.parse().unwrap())
        .collect();
    Proposal {
        skill: skill.parse().unwrap(),
        tool: tool.parse().unwrap(),
        risk,
        component: format!("sha256:{}", "c".repeat(64)).parse().unwrap(),
        principal: principal.into(),
        role,
        groups,
        args: canonicalize(args.to_string().as_bytes()).unwrap(),
    }
}

use Risk::{Destructive, Read, Write};
use Verdict::{Allow, Deny, RequireApproval};

async fn check(file: &str, cases: &[(Proposal, Verdict)]) {
    let runtime = runtime();
    let policy = Policy::load(&runtime, &repo_policy(file)).unwrap_or_else(|e| panic!("{e}"));
    for (proposal, expected) in cases {
        let decision = policy.decide(&runtime, proposal).await;
        assert_eq!(
            decision.verdict,
            *expected,
            "{file}: {}.{} by {} ({} in {:?}) {}: {decision:#?}",
            proposal.skill,
            proposal.tool,
            proposal.principal,
            proposal.role,
            proposal.groups,
            proposal.args.as_str()
        );
        assert_eq!(decision.policy, policy.digest);
    }
}

#[tokio::test]
async fn the_default_policy() {
    check(
        "default.toml",
        &[
            (
                call(
                    "files.read_file",
                    Read,
                    "alice",
                    &["user"],
                    json!({"path": "a"}),
                ),
                Allow,
            ),
            (
                call(
                    "files.write_file",
                    Write,
                    "alice",
                    &["user"],
                    json!({"path": "a", "content": ""}),
                ),
                RequireApproval,
            ),
            (
                call(
                    "invoices.refund_invoice",
                    Destructive,
                    "alice",
                    &["admin"],
                    json!({"invoice_id": "x", "reason": "r"}),
                ),
                RequireApproval,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_payments_example() {
    let create = |amount: i64, who: &str| {
        call(
            "invoices.create_invoice",
            Write,
            who,
            &["billing"],
            json!({"customer": "c", "amount_cents": amount, "currency": "EUR"}),
        )
    };
    check(
        "examples/payments.toml",
        &[
            (
                call(
                    "invoices.list_invoices",
                    Read,
                    "bob",
                    &["billing"],
                    json!({}),
                ),
                Allow,
            ),
            (create(500, "bob"), Allow),
            (create(100_000, "bob"), Allow),
            (create(100_001, "bob"), RequireApproval),
            (
                call(
                    "invoices.create_invoice",
                    Write,
                    "bob",
                    &["billing"],
                    json!({"amount_cents": "lots"}),
                ),
                Deny,
            ),
            (create(-1, "bob"), Deny),
            (
                call(
                    "invoices.create_invoice",
                    Write,
                    "bob",
                    &["billing"],
                    json!({"customer": "ev\u{202e}lim", "amount_cents": 5, "currency": "EUR"}),
                ),
                Deny,
            ),
            (
                call(
                    "invoices.create_invoice",
                    Write,
                    "bob",
                    &["billing"],
                    json!({"customer": "Zoë 名前", "amount_cents": 5, "currency": "EUR"}),
                ),
                Allow,
            ),
            (create(0, "bob"), Allow),
            (
                call(
                    "invoices.refund_invoice",
                    Destructive,
                    "bob",
                    &["billing"],
                    json!({"invoice_id": "x", "reason": "r"}),
                ),
                RequireApproval,
            ),
            (create(500, "intern-carl"), Deny),
            (
                call(
                    "invoices.list_invoices",
                    Read,
                    "intern-carl",
                    &["billing"],
                    json!({}),
                ),
                Allow,
            ),
            (
                call(
                    "files.delete_file",
                    Destructive,
                    "bob",
                    &["billing"],
                    json!({"path": "a"}),
                ),
                Deny,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_support_team_example() {
    let refund = |amount: i64, roles: &[&str]| {
        call(
            "invoices.refund_invoice",
            Destructive,
            "sam",
            roles,
            json!({"invoice_id": "x", "amount_cents": amount, "reason": "r"}),
        )
    };
    check(
        "examples/support-team.toml",
        &[
            (refund(1200, &["support"]), Allow),
            (refund(5000, &["support"]), Allow),
            (refund(5001, &["support"]), RequireApproval),
            (refund(1200, &["billing"]), Deny),
            (refund(9999, &["support", "admin"]), RequireApproval),
            (refund(1200, &["admin"]), Deny),
            (
                call(
                    "invoices.refund_invoice",
                    Destructive,
                    "sam",
                    &["support"],
                    json!({"invoice_id": "x", "reason": "full refund"}),
                ),
                Deny,
            ),
            (
                call(
                    "files.write_file",
                    Write,
                    "sam",
                    &["support"],
                    json!({"path": "public/faq.md", "content": ""}),
                ),
                Allow,
            ),
            (
                call(
                    "files.write_file",
                    Write,
                    "sam",
                    &["support"],
                    json!({"path": "private/keys", "content": ""}),
                ),
                Deny,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_read_only_example() {
    check(
        "examples/read-only.toml",
        &[
            (
                call(
                    "http-fetch.get",
                    Read,
                    "a",
                    &[],
                    json!({"url": "https://example.com"}),
                ),
                Allow,
            ),
            (
                call(
                    "files.write_file",
                    Write,
                    "a",
                    &["admin"],
                    json!({"path": "x", "content": ""}),
                ),
                Deny,
            ),
        ],
    )
    .await;
}

#[test]
fn every_policy_file_in_the_repository_is_covered_above() {
    let mut files = vec![];
    for dir in [repo_policy(""), repo_policy("examples")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(
                    path.strip_prefix(repo_policy(""))
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "default.toml",
            "examples/payments.toml",
            "examples/read-only.toml",
            "examples/support-team.toml"
        ]
    );
}

fn write_policy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const HOSTILE: &str = "hostile.wasm";

fn with_hostile_rule(dir: &Path, mode: &str) -> PathBuf {
    std::fs::copy(tgw::guests::GUEST_HOSTILE_RULE, dir.join(HOSTILE)).unwrap();
    write_policy(
        dir,
        &format!(
            r#"
version = 1
default = "allow"

[limits]
fuel = 20_000_000
memory_mib = 16
timeout_ms = 2000

[[rule]]
name = "misbehaves"
use = "{HOSTILE}"
config = {{ mode = "{mode}" }}
"#
        ),
    )
}

#[tokio::test]
async fn a_rule_that_loops_traps_or_hogs_memory_denies_with_the_reason() {
    let runtime = runtime();
    let proposal = call("files.read_file", Read, "a", &[], json!({}));
    for (mode, reason) in [
        (
            "spin",
            "the rule failed, so it denies: out of fuel after 20000000",
        ),
        (
            "hog",
            "the rule failed, so it denies: memory limit 16 MiB exceeded",
        ),
        ("trap", "the rule failed, so it denies: the tool crashed: "),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy::load(&runtime, &with_hostile_rule(dir.path(), mode)).unwrap();
        let decision = policy.decide(&runtime, &proposal).await;
        assert_eq!(decision.verdict, Deny, "{mode}");
        assert_eq!(decision.rule.as_deref(), Some("misbehaves"));
        assert!(
            decision.reason.starts_with(reason),
            "{mode}: {}",
            decision.reason
        );
    }
    // The same rule behaving: the default allow is not even needed.
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::load(&runtime, &with_hostile_rule(dir.path(), "allow")).unwrap();
    assert_eq!(policy.decide(&runtime, &proposal).await.verdict, Allow);
}

#[tokio::test]
async fn deny_overrides_approval_overrides_allow_and_abstaining_falls_to_the_default() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = write_policy(
        dir.path(),
        r#"
version = 1

[[rule]]
name = "allow everything"
use = "builtin:match"
decision = "allow"

[[rule]]
name = "approve writes"
use = "builtin:match"
config = { risk = ["write", "destructive"] }
decision = "require-approval"

[[rule]]
name = "deny deletes"
use = "builtin:match"
config = { tool = "*.delete_*", reason = "no deleting" }
decision = "deny"
"#,
    );
    let policy = Policy::load(&runtime, &path).unwrap();
    let decide = |name: &str, risk| {
        let proposal = call(name, risk, "a", &[], json!({}));
        let runtime = runtime.clone();
        let policy = &policy;
        async move { policy.decide(&runtime, &proposal).await }
    };
    let read = decide("files.read_file", Read).await;
    assert_eq!(
        (read.verdict, read.rule.as_deref()),
        (Allow, Some("allow everything"))
    );
    let write = decide("files.write_file", Write).await;
    assert_eq!(
        (write.verdict, write.rule.as_deref()),
        (RequireApproval, Some("approve writes"))
    );
    let delete = decide("files.delete_file", Destructive).await;
    assert_eq!(
        (delete.verdict, delete.reason.as_str()),
        (Deny, "no deleting")
    );
    assert_eq!(
        delete.trace.iter().map(|o| o.decision).collect::<Vec<_>>(),
        ["allow", "require-approval", "deny"]
    );

    // A rule that cannot read its config denies every call.
    let dir = tempfile::tempdir().unwrap();
    let path = write_policy(
        dir.path(),
        "version = 1\ndefault = \"allow\"\n[[rule]]\nname = \"typo\"\nuse = \"builtin:match\"\nconfig = { riks = [\"read\"] }\ndecision = \"allow\"\n",
    );
    let policy = Policy::load(&runtime, &path).unwrap();
    let decision = policy
        .decide(
            &runtime,
            &call("files.read_file", Read, "a", &[], json!({})),
        )
        .await;
    assert_eq!(decision.verdict, Deny);
    assert!(
        decision
            .reason
            .starts_with("the rule's config is invalid: unknown field `riks`"),
        "{}",
        decision.reason
    );

    // Nothing matches: the default, deny.
    let dir = tempfile::tempdir().unwrap();
    let path = write_policy(
        dir.path(),
        "version = 1\n[[rule]]\nname = \"r\"\nuse = \"builtin:match\"\nconfig = { skill = \"other\" }\ndecision = \"allow\"\n",
    );
    let policy = Policy::load(&runtime, &path).unwrap();
    let decision = policy
        .decide(
            &runtime,
            &call("files.read_file", Read, "a", &[], json!({})),
        )
        .await;
    assert_eq!(decision.verdict, Deny);
    assert_eq!(decision.rule, None);
    assert_eq!(
        decision.reason,
        "no rule decided; the policy's default is deny"
    );
}

#[test]
fn bad_policy_files_are_refused_with_file_line_and_key() {
    let runtime = Runtime::new(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (text, expected) in [
        (
            "version = 2\n",
            "1:11: version: version 2 is not supported (this gateway reads version 1)",
        ),
        ("default = \"deny\"\n", "1:1: missing field `version`"),
        (
            "version = 1\ndefault = \"maybe\"\n",
            "2:11: default: unknown variant `maybe`, expected one of `deny`, `require-approval`, `allow`",
        ),
        (
            "version = 1\ndefualt = \"deny\"\n",
            "2:1: defualt: unknown field `defualt`, expected one of `version`, `default`, `limits`, `rule`, `aliases`",
        ),
        (
            "version = 1\n[aliases]\n\"files.read\" = \"files.read_file\"\n",
            "3:16: aliases.files.read: an alias is 1 to 128 ASCII letters, digits, `_` and `-` (no `.`",
        ),
        (
            "version = 1\n[aliases]\nread = \"files\"\n",
            "3:8: aliases.read: \"files\" is not skill.tool",
        ),
        (
            "version = 1\n[aliases]\na = \"files.read_file\"\nb = \"files.read_file\"\n",
            "4:5: aliases.b: files.read_file has the alias \"a\" already",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:nope\"\n",
            "4:7: rule[0].use: no built-in rule \"nope\" (there are: match, amount-limit)",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"missing.wasm\"\n",
            "4:7: rule[0].use: cannot read ",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\ndecision = \"yes\"\n",
            "5:12: rule[0].decision: \"yes\" is not allow, require-approval or deny",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\n",
            "6:8: rule[1].name: \"a\" is used twice",
        ),
        (
            "version = 1\n[[rule]]\nuse = \"builtin:match\"\n",
            "2:1: rule[0]: missing field `name`",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\nwhen = 1\n",
            "5:1: rule[0].when: unknown field `when`",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\ntask_approval_minutes = 0\n",
            "5:25: rule[0].task_approval_minutes: 0 is not between 1 and 1440 (a day)",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\ntask_approval_minutes = 1441\n",
            "5:25: rule[0].task_approval_minutes: 1441 is not between 1 and 1440 (a day)",
        ),
        (
            "version = 1\n[[rule]]\nname = \"a\"\nuse = \"builtin:match\"\ntask_approval_minutes = -5\n",
            "5:25: rule[0].task_approval_minutes: invalid value",
        ),
    ] {
        let path = write_policy(dir.path(), text);
        let error = Policy::load(&runtime, &path)
            .err()
            .unwrap_or_else(|| panic!("{text:?} loaded"));
        assert_eq!(error.file, path);
        let got = format!("{}:{}: {}", error.line, error.column, error.message);
        assert!(
            got.starts_with(expected),
            "{text:?}:\n  got      {got}\n  expected {expected}"
        );
    }
}

#[tokio::test]
async fn a_changed_file_is_reloaded_and_a_bad_one_is_refused() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = write_policy(
        dir.path(),
        &std::fs::read_to_string(repo_policy("examples/read-only.toml")).unwrap(),
    );
    let live = LivePolicy::load(runtime.clone(), path.clone()).unwrap();
    let watcher = live.watch(Duration::from_millis(50));
    let first = live.current().digest.clone();
    let write = call("files.write_file", Write, "a", &[], json!({}));
    assert_eq!(live.current().decide(&runtime, &write).await.verdict, Deny);

    std::fs::write(
        &path,
        std::fs::read_to_string(repo_policy("default.toml")).unwrap(),
    )
    .unwrap();
    let second = wait_for_new_digest(&live, &first).await;
    let decision = live.current().decide(&runtime, &write).await;
    assert_eq!(decision.verdict, RequireApproval);
    assert_eq!(decision.policy, second);

    // A bad file: refused, the previous policy stays.
    std::fs::write(&path, "version = 1\n[[rule]]\nname = 3\n").unwrap();
    assert!(live.reload().is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(live.current().digest, second);
    watcher.abort();
}

async fn wait_for_new_digest(live: &LivePolicy, old: &str) -> String {
    for _ in 0..200 {
        let now = live.current().digest.clone();
        if now != old {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the policy was not reloaded within 10 s");
}
