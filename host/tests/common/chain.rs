//! A whole gateway and one executor over a bus, with the `files` skill in
//! a temp folder, for the chain tests (embedded and NATS).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tgw::approval::{ApprovalError, ApprovalRecord};
use tgw::bus::Bus;
use tgw::executor::{ApprovalFloor, Executor, ExecutorSetup};
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

pub struct Chain {
    pub gateway: Arc<Gateway>,
    pub executor: Arc<Executor>,
    pub bus: Bus,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<SkillSet>,
    /// The files skill's folder: what its tools read and write.
    pub files: PathBuf,
    pub dir: tempfile::TempDir,
    /// Anything that must live as long as the chain (a NATS server).
    #[allow(dead_code, reason = "held, not read: it keeps a NATS server alive")]
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
    let bus = tgw::bus::embedded::bus(dir.path()).unwrap();
    let chain = chain_with(dir, bus, config).await;
    let router = tgw::api::router(tgw::api::ApiState::new(
        chain.gateway.clone(),
        relying_party,
    ));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (chain, origin, port)
}

pub fn floor(bus: &Bus, relying_party: &RelyingParty) -> ApprovalFloor {
    ApprovalFloor {
        relying_party: relying_party.clone(),
        people: People::new(bus.people.clone()),
    }
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

pub async fn chain_with(dir: tempfile::TempDir, bus: Bus, config: GatewayConfig) -> Chain {
    let runtime = shared_runtime();
    let (skills_dir, policy_path) = workspace(dir.path(), "default.toml");
    let secrets = Arc::new(SecretStore::new(dir.path()));
    let skills = Arc::new(
        SkillSet::load(&runtime, &skills_dir, &secrets)
            .await
            .unwrap(),
    );
    let policy = LivePolicy::load(runtime.clone(), policy_path).unwrap();
    let signer = GrantSigner::from_seed(&SEED);
    let trusted = vec![signer.trusted_key()];
    let pool = config.pool.clone();
    let config_rp = config.relying_party.clone();
    let gateway = Arc::new(Gateway::new(
        config,
        runtime.clone(),
        LiveSkills::fixed(skills.clone()),
        policy,
        signer,
        bus.clone(),
    ));
    let executor = Arc::new(
        Executor::new(
            &pool,
            ExecutorSetup {
                runtime: runtime.clone(),
                trusted,
                skills: LiveSkills::fixed(skills.clone()),
                nonces: bus.nonces.clone(),
                audit: tgw::audit::Audit::new(bus.audit.clone()),
                secrets,
                floor: floor(&bus, &config_rp),
            },
        )
        .unwrap(),
    );
    executor.clone().serve(bus.exec.clone()).await.unwrap();
    Chain {
        gateway,
        executor,
        bus,
        runtime,
        skills,
        files: skills_dir.join("files/data"),
        dir,
        guard: None,
    }
}

impl Chain {
    /// One more executor of the same pool over the same bus (as on
    /// another machine); not yet serving.
    pub fn another_executor(&self) -> Arc<Executor> {
        Arc::new(
            Executor::new(
                "default",
                ExecutorSetup {
                    runtime: self.runtime.clone(),
                    trusted: vec![GrantSigner::from_seed(&SEED).trusted_key()],
                    skills: LiveSkills::fixed(self.skills.clone()),
                    nonces: self.bus.nonces.clone(),
                    audit: tgw::audit::Audit::new(self.bus.audit.clone()),
                    secrets: Arc::new(SecretStore::new(self.dir.path())),
                    floor: floor(&self.bus, &relying_party()),
                },
            )
            .unwrap(),
        )
    }

    /// Invites and enrolls `name` with a software passkey.
    pub async fn enroll(&self, name: &str, role: Role, seed: u8) -> SoftAuthenticator {
        let people = self.gateway.people();
        let invitation = people.invite(role).await.unwrap();
        people.redeem(&invitation.token, name).await.unwrap();
        let authenticator = SoftAuthenticator::es256(seed);
        let rp = relying_party();
        let challenge = [7u8; 32];
        let (client_data, attestation) =
            authenticator.register(&rp.id, &rp.origin, &challenge, false);
        let credential =
            verify_registration(&rp, &challenge, &client_data, &attestation, true).unwrap();
        people.add_credential(name, &credential).await.unwrap();
        authenticator
    }

    /// What the dashboard does: ask for the challenge, sign, send.
    pub async fn approve(
        &self,
        id: &str,
        name: &str,
        key: &mut SoftAuthenticator,
    ) -> Result<ApprovalRecord, ApprovalError> {
        use base64::Engine as _;
        let challenge = self.gateway.approval_challenge(id, name).await?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&challenge.challenge)
            .unwrap();
        let rp = relying_party();
        let assertion = key.assert(&rp.id, &rp.origin, &bytes);
        self.gateway
            .approve_with_passkey(id, name, &challenge.nonce, &assertion)
            .await
    }
}

pub fn request(tool: &str, args: Value) -> CallRequest {
    CallRequest {
        principal: "alice".into(),
        role: tgw::people::Role::Admin,
        groups: Vec::new(),
        skill: "files".into(),
        tool: tool.into(),
        args: args.to_string().into_bytes(),
    }
}

pub fn done(result: CallResult) -> Value {
    match result {
        CallResult::Done { output } => serde_json::from_str(&output).unwrap(),
        other => panic!("expected the tool to run, got {other:?}"),
    }
}
