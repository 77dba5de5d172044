//! A whole gateway and one executor over a bus, with the `files` skill in
//! a temp folder, for the chain tests (embedded and NATS).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tgw::app::{App, AppParts, ExecutorParts};
use tgw::approval::{ApprovalError, ApprovalRecord, ApprovalWorkflow};
use tgw::audit::Audit;
use tgw::backend::Backend;
use tgw::executor::Executor;
use tgw::gateway::{CallRequest, CallResult, Gateway, GatewayConfig};
use tgw::grant::GrantSigner;
use tgw::people::{People, Role};
use tgw::policy::LivePolicy;
use tgw::registry::{LiveSkills, SkillSet};
use tgw::runtime::Runtime;
use tgw::secrets::SecretStore;
use tgw::webauthn::software::SoftAuthenticator;
use tgw::webauthn::{RelyingParty, verify_registration};

pub const SEED: [u8; 32] = [42; 32];

/// A gateway built by `tgw::app` (as `tgw up` builds it), its in-process
/// executor, and handles on its parts.
pub struct Chain {
    pub app: App,
    pub gateway: Arc<Gateway>,
    pub approvals: Arc<ApprovalWorkflow>,
    pub people: People,
    pub audit: Audit,
    pub executor: Arc<Executor>,
    pub backend: Backend,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<SkillSet>,
    /// The files skill's folder: what its tools read and write.
    pub files: PathBuf,
    pub dir: tempfile::TempDir,
    /// Anything that must live as long as the chain (a NATS server).
    /// Held, not read: it keeps a NATS server alive.
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// The relying party of the default gateway config.
pub fn relying_party() -> RelyingParty {
    GatewayConfig::default().relying_party
}

/// A gateway with its dashboard, API and MCP on a port of 127.0.0.1, as
/// `tgw up` serves them: the chain, the dashboard's origin and the port.
/// `origin` is the origin passkeys are made for; by default
/// `http://localhost:PORT` (passkeys need a name, not an address).
pub async fn on_a_port(origin: Option<String>) -> (Chain, String, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = origin.unwrap_or_else(|| format!("http://localhost:{port}"));
    let relying_party = RelyingParty {
        id: "localhost".into(),
        origin: origin.clone(),
    };
    let config = GatewayConfig {
        relying_party: relying_party.clone(),
        ..GatewayConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let backend = tgw::backend::embedded::backend(dir.path()).unwrap();
    let chain = chain_with(dir, backend, config).await;
    let router = chain.app.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (chain, origin, port)
}

pub fn shared_runtime() -> Arc<Runtime> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    Arc::new(Runtime::new(Some(&cache)).unwrap())
}

/// A skills folder holding a copy of `files`, and a policy file.
pub fn workspace(dir: &Path, policy: &str) -> (PathBuf, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let skills = dir.join("skills");
    let files = skills.join("files");
    std::fs::create_dir_all(files.join("data")).unwrap();
    std::fs::copy(
        repo.join("skills/files/skill.toml"),
        files.join("skill.toml"),
    )
    .unwrap();
    std::fs::copy(
        repo.join("skills/files/files.wasm"),
        files.join("files.wasm"),
    )
    .unwrap();
    std::fs::write(files.join("data/report.txt"), "quarterly numbers\n").unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(
        &policy_path,
        std::fs::read_to_string(repo.join("policy").join(policy)).unwrap(),
    )
    .unwrap();
    (skills, policy_path)
}

/// The skills of `dir` a host serves with no trust policy: the builds of
/// this checkout.
pub async fn local_skills(runtime: &Runtime, dir: &Path, secrets: &SecretStore) -> SkillSet {
    SkillSet::load(
        runtime,
        dir,
        secrets,
        &tgw::registry::SkillTrust::local_builds(),
    )
    .await
    .unwrap()
}

pub async fn chain_with(dir: tempfile::TempDir, backend: Backend, config: GatewayConfig) -> Chain {
    chain_in(dir, backend, config, "default.toml", |_| {}).await
}

/// A chain under `policy` (a path under `policy/`), whose skills folder
/// holds `files` and what `more` adds to it.
pub async fn chain_in(
    dir: tempfile::TempDir,
    backend: Backend,
    config: GatewayConfig,
    policy: &str,
    more: impl FnOnce(&Path),
) -> Chain {
    let runtime = shared_runtime();
    let (skills_dir, policy_path) = workspace(dir.path(), policy);
    more(&skills_dir);
    let secrets = SecretStore::new(dir.path());
    let skills = Arc::new(local_skills(&runtime, &skills_dir, &secrets).await);
    let app = app(
        backend.clone(),
        runtime.clone(),
        LiveSkills::fixed(skills.clone()),
        &policy_path,
        config,
        true,
        dir.path(),
    )
    .await;
    Chain {
        gateway: app.gateway.clone(),
        approvals: app.approvals.clone(),
        people: app.people.clone(),
        audit: app.audit.clone(),
        executor: app.executor.clone().unwrap(),
        app,
        backend,
        runtime,
        skills,
        files: skills_dir.join("files/data"),
        dir,
        guard: None,
    }
}

/// A gateway built as `tgw up` builds it, signing with [`SEED`], over
/// `backend`, with or without an executor in-process; its secrets are
/// under `data_dir`. `skills` must be loaded by `runtime`.
pub async fn app(
    backend: Backend,
    runtime: Arc<Runtime>,
    skills: Arc<LiveSkills>,
    policy: &Path,
    config: GatewayConfig,
    executor: bool,
    data_dir: &Path,
) -> App {
    app_with(
        identity(),
        backend,
        runtime,
        skills,
        policy,
        config,
        executor,
        data_dir,
    )
    .await
}

/// [`app`] with another identity (more trusted executors, say).
#[expect(
    clippy::too_many_arguments,
    reason = "each part of a gateway, as `app` takes them"
)]
pub async fn app_with(
    identity: tgw::app::Identity,
    backend: Backend,
    runtime: Arc<Runtime>,
    skills: Arc<LiveSkills>,
    policy: &Path,
    config: GatewayConfig,
    executor: bool,
    data_dir: &Path,
) -> App {
    App::build(AppParts {
        backend,
        runtime: runtime.clone(),
        skills,
        policy: LivePolicy::load(runtime, policy.to_owned()).unwrap(),
        identity,
        secrets: Arc::new(SecretStore::new(data_dir)),
        config,
        executor,
    })
    .await
    .unwrap()
}

impl Chain {
    /// One more executor of the same pool over the same bus (as on
    /// another machine); not yet serving.
    /// It signs with the same executor key as the chain's own (a machine
    /// the gateway trusts).
    pub async fn another_executor(&self) -> Arc<Executor> {
        self.executor_with(tgw::ids::Pool::default(), tgw::guests::GRANT_VERIFIER_WASM)
            .await
    }

    /// An executor of `pool` over the same bus that verifies grants with
    /// the component `verifier`; not yet serving.
    pub async fn executor_with(&self, pool: tgw::ids::Pool, verifier: &[u8]) -> Arc<Executor> {
        tgw::app::build_executor_with_verifier(
            ExecutorParts {
                pool,
                backend: self.backend.clone(),
                runtime: self.runtime.clone(),
                skills: LiveSkills::fixed(self.skills.clone()),
                trusted: tgw::trust::LiveTrust::fixed(vec![
                    GrantSigner::from_seed(&SEED).trusted_key(),
                ]),
                key: identity().executor_signer(),
                secrets: Arc::new(SecretStore::new(self.dir.path())),
                relying_party: relying_party(),
            },
            verifier,
        )
        .await
        .unwrap()
    }

    /// Invites and enrolls `name` with a software passkey.
    pub async fn enroll(&self, name: &str, role: Role, seed: u8) -> SoftAuthenticator {
        enroll_in(&self.people, name, role, seed).await
    }

    /// What the dashboard does: ask for the challenge, sign, send.
    pub async fn approve(
        &self,
        id: &str,
        name: &str,
        key: &mut SoftAuthenticator,
    ) -> Result<ApprovalRecord, ApprovalError> {
        approve_in(&self.approvals, id, name, key).await
    }
}

/// Invites and enrolls `name` in `people` with a software passkey.
pub async fn enroll_in(people: &People, name: &str, role: Role, seed: u8) -> SoftAuthenticator {
    let invitation = people.invite(role).await.unwrap();
    people.redeem(&invitation.token, name).await.unwrap();
    let authenticator = SoftAuthenticator::es256(seed);
    let rp = relying_party();
    let challenge = [7u8; 32];
    let (client_data, attestation) = authenticator.register(&rp.id, &rp.origin, &challenge, false);
    let credential =
        verify_registration(&rp, &challenge, &client_data, &attestation, true).unwrap();
    people.add_credential(name, &credential).await.unwrap();
    authenticator
}

/// Approves `id` in `approvals` as `name`, as the dashboard does: ask for
/// the challenge, sign, send.
pub async fn approve_in(
    approvals: &ApprovalWorkflow,
    id: &str,
    name: &str,
    key: &mut SoftAuthenticator,
) -> Result<ApprovalRecord, ApprovalError> {
    use base64::Engine as _;
    let challenge = approvals.challenge(id, name).await?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&challenge.challenge)
        .unwrap();
    let rp = relying_party();
    let assertion = key.assert(&rp.id, &rp.origin, &bytes);
    approvals
        .approve_with_passkey(id, name, &challenge.nonce, &assertion)
        .await
}

pub fn request(tool: &str, args: Value) -> CallRequest {
    request_to("files", tool, args)
}

/// A call of `skill`'s `tool` by alice (an admin).
pub fn request_to(skill: &str, tool: &str, args: Value) -> CallRequest {
    CallRequest {
        principal: "alice".into(),
        role: tgw::people::Role::Admin,
        groups: Vec::new(),
        skill: skill.parse().unwrap(),
        tool: tool.parse().unwrap(),
        args: args.to_string().into_bytes(),
        trace: None,
    }
}

pub fn done(result: CallResult) -> Value {
    match result {
        CallResult::Done { output, .. } => serde_json::from_str(&output).unwrap(),
        other => panic!("expected the tool to run, got {other:?}"),
    }
}

/// The identity every test gateway signs with (keys from [`SEED`]).
pub fn identity() -> tgw::app::Identity {
    tgw::app::Identity::from_seed(SEED)
}

/// Sends `request` to pool `default` over `backend`, as the gateway does,
/// and reads the executor's answer (its receipt is dropped).
pub async fn exec(
    backend: &Backend,
    request: &tgw::executor::ExecRequest,
    timeout: std::time::Duration,
) -> Result<tgw::executor::ExecReply, tgw::backend::BusError> {
    let payload = serde_json::to_vec(request).unwrap();
    let deadlines = tgw::backend::Deadlines {
        ack: timeout,
        answer: timeout,
    };
    let answer = backend
        .requests
        .request(&tgw::backend::exec_subject("default"), payload, deadlines)
        .await?;
    let answer: tgw::executor::ExecAnswer = serde_json::from_slice(&answer).unwrap();
    Ok(answer.reply)
}

/// The `jti` of a grant token (read without checking: for building
/// requests in tests).
pub fn jti_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap_or_default().to_owned()
}

/// Checks the whole audit log and returns how many entries it holds.
pub async fn verified(audit: &Audit) -> u64 {
    let report = audit.verify().await.unwrap();
    assert!(
        report.intact(),
        "the audit log does not verify: {:?}",
        report.problems
    );
    report.entries()
}
