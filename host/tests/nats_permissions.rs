//! Every permission `tgw nats config` grants is needed: for each line of
//! each role (`host/src/backend/nats/permissions.rs`), a role without that
//! one line cannot do its work.
//!
//! One nats-server holds an account per case, so each case starts from an
//! empty JetStream. An account has the three roles as `tgw nats config`
//! writes them, except that the role under test has one grant fewer. The
//! role then does what it does in the product: the gateway opens and
//! creates the streams, reads and writes approvals, people and skill
//! components, appends its audit chain and verifies the log, and sends an
//! execution request; an executor opens the streams, checks the nonce
//! ledger's record, spends a nonce, reads a person and a skill component
//! (and cannot store one), appends its chain and answers a request; the
//! auditor verifies the log. Each case must fail; with every grant, each
//! role's work succeeds.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking: unwrap and expect say what must hold"
)]

#[path = "common/nats.rs"]
mod nats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use futures::StreamExt;
use serde_json::json;
use tgw::app::check_nonce_ledger;
use tgw::audit::{Audit, AuditKind, AuditTrust, executor_chain, gateway_chain};
use tgw::backend::nats::permissions::{self, Role};
use tgw::backend::nats::{NatsConfig, Opener};
use tgw::backend::{Backend, BucketName, Deadlines, LogName, exec_subject};
use tgw::grant::TrustedKey;
use tgw::jws::JwsSigner;

/// A role's work that has not ended by then has failed.
const WORK_DEADLINE: Duration = Duration::from_secs(25);
/// How many cases run at once.
const AT_ONCE: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Gateway,
    Executor,
    Auditor,
}

impl Who {
    fn role(self) -> Role {
        match self {
            Who::Gateway => permissions::gateway(),
            Who::Executor => permissions::executor("default"),
            Who::Auditor => permissions::auditor(),
        }
    }
}

/// One grant of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    Publish(String),
    Subscribe(String),
    Responses,
}

/// The role under test and the grant it lacks (none: the control).
#[derive(Debug, Clone)]
struct Case {
    who: Who,
    without: Option<Grant>,
}

impl Case {
    fn role(&self, who: Who) -> Role {
        let mut role = who.role();
        if who != self.who {
            return role;
        }
        match &self.without {
            Some(Grant::Publish(p)) => role.publish.retain(|g| g != p),
            Some(Grant::Subscribe(s)) => role.subscribe.retain(|g| g != s),
            Some(Grant::Responses) => role.responses = None,
            None => {}
        }
        role
    }
}

/// The grant that only a long listing needs (the server asks for flow
/// control after megabytes): `a_long_listing_needs_flow_control` shows it.
const FLOW_CONTROL: &str = "$JS.FC.>";

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for who in [Who::Gateway, Who::Executor, Who::Auditor] {
        let role = who.role();
        cases.push(Case { who, without: None });
        let grants = role
            .publish
            .into_iter()
            .filter(|g| g != FLOW_CONTROL)
            .map(Grant::Publish)
            .chain(role.subscribe.into_iter().map(Grant::Subscribe))
            .chain(role.responses.map(|_| Grant::Responses));
        cases.extend(grants.map(|g| Case {
            who,
            without: Some(g),
        }));
    }
    cases
}

/// How each role of one case's account connects.
struct Account {
    url: String,
    seeds: PathBuf,
}

impl Account {
    fn config(&self, who: Who) -> NatsConfig {
        NatsConfig {
            nkey: Some(self.seeds.join(format!("{who:?}.nk"))),
            ..NatsConfig::url(&self.url)
        }
    }
}

/// Writes each role's seed of case `index` and returns its account block.
fn account_of(index: usize, case: &Case, dir: &Path) -> String {
    let seeds = dir.join(index.to_string());
    std::fs::create_dir_all(&seeds).unwrap();
    let users: Vec<(Role, String)> = [Who::Gateway, Who::Executor, Who::Auditor]
        .into_iter()
        .map(|who| {
            let key = nkeys::KeyPair::new_user();
            std::fs::write(seeds.join(format!("{who:?}.nk")), key.seed().unwrap()).unwrap();
            (case.role(who), key.public_key())
        })
        .collect();
    permissions::account(&format!("CASE{index}"), &users)
}

fn gateway_signer() -> Arc<JwsSigner> {
    Arc::new(JwsSigner::from_seed(&[31; 32]))
}

fn executor_signer() -> Arc<JwsSigner> {
    Arc::new(JwsSigner::from_seed(&[32; 32]))
}

fn trust() -> AuditTrust {
    AuditTrust {
        gateways: vec![TrustedKey::new(gateway_signer().verifying_key())],
        executors: vec![TrustedKey::new(executor_signer().verifying_key())],
    }
}

fn gateway_audit(backend: &Backend) -> Audit {
    Audit::writer(
        backend.log(LogName::Audit),
        backend.bucket(BucketName::AuditHeads),
        trust(),
        gateway_chain("permissions"),
        gateway_signer(),
    )
}

fn quick() -> Deadlines {
    Deadlines {
        ack: Duration::from_secs(1),
        answer: Duration::from_secs(3),
    }
}

/// A gateway's start: the streams (made if missing), the nonce ledger's
/// record, a person, and an audit entry with its checkpoint.
async fn open_deployment(config: &NatsConfig) -> anyhow::Result<Backend> {
    let backend = tgw::backend::nats::backend(config, Opener::Gateway).await?;
    check_nonce_ledger(&backend, &Opener::Gateway).await?;
    tgw::backend::put(&*backend.bucket(BucketName::People), "user.ada", b"ada").await?;
    blobs(&backend)?.put(COMPONENT).await?;
    let audit = gateway_audit(&backend);
    audit
        .append(AuditKind::Proposal, "call-1", json!({}))
        .await?;
    audit.checkpoint().await?;
    Ok(backend)
}

/// A skill component, as the gateway stores it in `TGW_SKILLS`.
const COMPONENT: &[u8] = b"(component)";

fn blobs(backend: &Backend) -> anyhow::Result<&tgw::backend::Blobs> {
    backend.blobs.as_ref().context("a NATS backend has blobs")
}

/// What a gateway does.
async fn gateway_work(account: &Account) -> anyhow::Result<()> {
    // Its executor, with every grant of its role, answers `pong`.
    let executor = account
        .config(Who::Executor)
        .connect("executor_default")
        .await?;
    let mut requests = executor
        .queue_subscribe(exec_subject("default"), "executors".into())
        .await?;
    executor.flush().await?;
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let reply = request.reply.unwrap();
            executor.publish(reply.clone(), "".into()).await.unwrap();
            executor.publish(reply, "pong".into()).await.unwrap();
        }
    });

    let backend = open_deployment(&account.config(Who::Gateway)).await?;
    for bucket in [BucketName::Approvals, BucketName::People] {
        let store = backend.bucket(bucket);
        store.create("a.1", b"pending").await?;
        let entry = store.get("a.1").await?.context("a value just written")?;
        store.update("a.1", b"decided", entry.revision).await?;
        ensure!(store.get("a.1").await?.map(|e| e.value) == Some(b"decided".to_vec()));
        ensure!(store.keys("a.").await? == ["a.1"]);
    }
    let tasks = backend.bucket(BucketName::Tasks);
    tasks.create("t1", b"working").await?;
    let entry = tasks.get("t1").await?.context("a task just written")?;
    tasks.update("t1", b"completed", entry.revision).await?;
    ensure!(tasks.get("t1").await?.map(|e| e.value) == Some(b"completed".to_vec()));
    let digest = tgw::backend::Digest::of(COMPONENT);
    ensure!(blobs(&backend)?.get(&digest).await? == COMPONENT);
    let report = gateway_audit(&backend).verify().await?;
    ensure!(report.intact(), "{:?}", report.problems);
    ensure!(report.chains.len() == 1, "{:?}", report.chains);
    let answer = backend
        .requests
        .request(&exec_subject("default"), b"ping".to_vec(), quick())
        .await?;
    ensure!(answer == b"pong");

    // It hears the updates of a running tool from its executor, and
    // orders its executor to stop a call.
    let executor = tgw::backend::nats::backend(
        &account.config(Who::Executor),
        Opener::Executor("default".into()),
    )
    .await?;
    updates_reach(&executor, &backend).await?;
    stop_orders_reach(&backend, &executor).await
}

/// An update `from` publishes on a call's subject reaches `to`.
async fn updates_reach(from: &Backend, to: &Backend) -> anyhow::Result<()> {
    let subject = tgw::backend::updates_subject("default", "call-1").context("a call id")?;
    reaches(from, to, &subject).await
}

/// A stop order the gateway `from` publishes reaches the executor `to`.
async fn stop_orders_reach(from: &Backend, to: &Backend) -> anyhow::Result<()> {
    reaches(from, to, &tgw::backend::stop_subject("default")).await
}

/// An event `from` publishes on `subject` reaches `to`.
async fn reaches(from: &Backend, to: &Backend, subject: &str) -> anyhow::Result<()> {
    let mut heard = to.events.subscribe(subject).await?;
    from.events.publish(subject, b"progress".to_vec()).await?;
    let event = tokio::time::timeout(Duration::from_secs(3), heard.recv())
        .await
        .context("no update arrived")?
        .context("the subscription ended")?;
    ensure!(event.payload == b"progress");
    Ok(())
}

/// What an executor of pool `default` does.
async fn executor_work(account: &Account) -> anyhow::Result<()> {
    let gateway = open_deployment(&account.config(Who::Gateway)).await?;
    let backend = tgw::backend::nats::backend(
        &account.config(Who::Executor),
        Opener::Executor("default".into()),
    )
    .await?;
    check_nonce_ledger(&backend, &Opener::Other).await?;
    backend.nonces.spend("default_nonce-1").await?;
    ensure!(
        backend
            .bucket(BucketName::People)
            .get("user.ada")
            .await?
            .map(|e| e.value)
            == Some(b"ada".to_vec())
    );
    let digest = tgw::backend::Digest::of(COMPONENT);
    ensure!(blobs(&backend)?.get(&digest).await? == COMPONENT);
    ensure!(
        blobs(&backend)?.put(b"(another)").await.is_err(),
        "an executor stored a component"
    );
    let signer = executor_signer();
    let audit = Audit::writer(
        backend.log(LogName::Audit),
        backend.bucket(BucketName::AuditHeads),
        trust(),
        executor_chain("default", signer.kid()),
        signer,
    );
    audit
        .append(AuditKind::Proposal, "call-1", json!({}))
        .await?;
    audit
        .append(AuditKind::Proposal, "call-2", json!({}))
        .await?;
    audit.checkpoint().await?;

    let subject = exec_subject("default");
    let mut deliveries = backend.requests.serve(&subject).await?;
    let request = gateway
        .requests
        .request(&subject, b"ping".to_vec(), quick());
    let serve = async {
        let delivery = deliveries.recv().await.context("no request came")?;
        ensure!(delivery.payload == b"ping");
        (delivery.ack)();
        (delivery.reply)(b"pong".to_vec());
        anyhow::Ok(())
    };
    let (answer, served) = tokio::join!(request, serve);
    served?;
    ensure!(answer? == b"pong");

    // It tells the gateway how its tool is going, and hears its orders to
    // stop one.
    updates_reach(&backend, &gateway).await?;
    stop_orders_reach(&gateway, &backend).await?;

    // What it wrote is there, as the gateway reads it.
    let report = gateway_audit(&gateway).verify().await?;
    ensure!(report.intact(), "{:?}", report.problems);
    ensure!(report.chains.len() == 2, "{:?}", report.chains);
    ensure!(
        report
            .chains
            .iter()
            .any(|c| c.writer.starts_with("executor.") && c.entries == 2),
        "{:?}",
        report.chains
    );
    Ok(())
}

/// What the auditor does: `tgw audit verify`.
async fn auditor_work(account: &Account) -> anyhow::Result<()> {
    open_deployment(&account.config(Who::Gateway)).await?;
    let backend = tgw::backend::nats::backend(&account.config(Who::Auditor), Opener::Other).await?;
    let audit = Audit::reader(
        backend.log(LogName::Audit),
        backend.bucket(BucketName::AuditHeads),
        trust(),
    );
    let report = audit.verify().await?;
    ensure!(report.intact(), "{:?}", report.problems);
    ensure!(
        report.chains.len() == 1 && report.chains[0].entries == 1,
        "{:?}",
        report.chains
    );
    ensure!(audit.checkpoints().await?.len() == 1);
    Ok(())
}

async fn work(case: &Case, account: &Account) -> anyhow::Result<()> {
    let work = async {
        match case.who {
            Who::Gateway => gateway_work(account).await,
            Who::Executor => executor_work(account).await,
            Who::Auditor => auditor_work(account).await,
        }
    };
    tokio::time::timeout(WORK_DEADLINE, work)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("did not finish in time")))
}

/// A server with an account for each case; the seeds are in `dir`.
fn server_for(cases: &[Case], dir: &Path) -> nats::NatsServer {
    nats::NatsServer::start_with(
        |port| {
            let mut config =
                format!("listen: \"127.0.0.1:{port}\"\njetstream: enabled\naccounts {{\n");
            for (index, case) in cases.iter().enumerate() {
                config.push_str(&account_of(index, case, dir));
            }
            config.push_str("}\n");
            let path = dir.join(format!("nats-{port}.conf"));
            std::fs::write(&path, config).unwrap();
            Some(path)
        },
        "nats",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_grant_of_each_role_is_needed() {
    let cases = cases();
    let dir = tempfile::tempdir().unwrap();
    let server = server_for(&cases, dir.path());
    let outcomes: Vec<(Case, anyhow::Result<()>)> = futures::stream::iter(cases.iter().enumerate())
        .map(|(index, case)| {
            let account = Account {
                url: server.url.clone(),
                seeds: dir.path().join(index.to_string()),
            };
            async move { (case.clone(), work(case, &account).await) }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;

    let mut wrong = Vec::new();
    for (case, outcome) in &outcomes {
        match (&case.without, outcome) {
            (None, Err(e)) => wrong.push(format!("{:?} with every grant failed: {e:#}", case.who)),
            (Some(grant), Ok(())) => {
                wrong.push(format!("{:?} worked without {grant:?}", case.who));
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases are wrong:\n{}",
        wrong.len(),
        outcomes.len(),
        wrong.join("\n")
    );
}

/// How many keys make a listing long enough for the server to ask for
/// flow control (it asks once about 2 MiB are delivered unanswered; each
/// key of a listing is a headers-only message of about 150 bytes).
const LONG_LISTING: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_listing_needs_flow_control() {
    let full = Case {
        who: Who::Gateway,
        without: None,
    };
    let without = Case {
        who: Who::Gateway,
        without: Some(Grant::Publish(FLOW_CONTROL.into())),
    };
    let dir = tempfile::tempdir().unwrap();
    let server = server_for(&[full, without], dir.path());
    let mut listed = Vec::new();
    for index in 0..2 {
        let account = Account {
            url: server.url.clone(),
            seeds: dir.path().join(index.to_string()),
        };
        let config = account.config(Who::Gateway);
        let backend = open_deployment(&config).await.unwrap();
        let client = config.connect("gateway").await.unwrap();
        let js = async_nats::jetstream::new(client);
        let acks: Vec<_> = futures::stream::iter(0..LONG_LISTING)
            .map(|i| {
                let js = js.clone();
                async move {
                    js.publish(format!("$KV.TGW_PEOPLE.user.u{i}"), "x".into())
                        .await
                        .unwrap()
                        .await
                }
            })
            .buffer_unordered(256)
            .collect()
            .await;
        assert!(acks.iter().all(Result::is_ok));
        let people = backend.bucket(BucketName::People);
        let listing = tokio::time::timeout(Duration::from_secs(15), people.keys("user."));
        listed.push(match listing.await {
            Ok(Ok(keys)) => Some(keys.len()),
            _ => None,
        });
    }
    assert_eq!(listed, [Some(LONG_LISTING + 1), None]);
}
