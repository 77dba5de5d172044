//! The composition root: the one place the gateway is assembled. `tgw up`,
//! `tgw executor`, the tests and the benches all build through here.
//!
//! [`AppParts::load`] reads the configuration from disk (keys, skills,
//! policy, the backend); a test makes its own [`AppParts`] (a fixed key,
//! a fixed skill set). [`App::build`] wires the parts once, starts the
//! in-process executor and the background tasks, and [`App::router`] is
//! the one HTTP surface.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tgw_proto::grant::{GrantSigner, TrustedKey};
use tgw_proto::webauthn::RelyingParty;
use tokio::task::JoinHandle;

use crate::approval::{ApprovalConfig, ApprovalWorkflow, Approvals};
use crate::audit::Audit;
use crate::backend::{Backend, BucketName, LogName};
use crate::executor::{ApprovalFloor, Executor, ExecutorSetup};
use crate::gateway::{Gateway, GatewayConfig, GatewayParts};
use crate::ids::Pool;
use crate::keys::{KeyError, KeyStore};
use crate::mcp::McpState;
use crate::oauth::OAuthState;
use crate::people::People;
use crate::policy::LivePolicy;
use crate::registry::LiveSkills;
use crate::runtime::Runtime;
use crate::secrets::SecretStore;

/// How often skill folders and the policy file are looked at for changes.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// What a gateway is made of.
pub struct AppParts {
    pub backend: Backend,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<LiveSkills>,
    pub policy: Arc<LivePolicy>,
    /// The grant signing key.
    pub signer: GrantSigner,
    /// The grant keys the in-process executor accepts.
    pub trusted: Vec<TrustedKey>,
    pub secrets: Arc<SecretStore>,
    pub config: GatewayConfig,
    /// Run an executor of the pool in this process.
    pub executor: bool,
}

/// Where `tgw up` and `tgw executor` find their configuration.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    pub data_dir: PathBuf,
    pub skills_dir: PathBuf,
    /// NATS (JetStream) instead of the embedded backend.
    pub nats: Option<String>,
}

impl DiskConfig {
    pub fn runtime(&self) -> anyhow::Result<Arc<Runtime>> {
        let cache = self.data_dir.join("cache").join("components");
        Ok(Arc::new(Runtime::new(Some(&cache))?))
    }

    pub async fn backend(&self) -> anyhow::Result<Backend> {
        Ok(match &self.nats {
            Some(url) => crate::backend::nats::backend(url).await?,
            None => crate::backend::embedded::backend(&self.data_dir)?,
        })
    }

    /// The skills of the skills folder, reloaded when a folder changes.
    pub async fn skills(
        &self,
        runtime: &Arc<Runtime>,
        secrets: &Arc<SecretStore>,
    ) -> anyhow::Result<Arc<LiveSkills>> {
        LiveSkills::load(runtime.clone(), &self.skills_dir, secrets.clone()).await
    }
}

/// What [`AppParts::load`] did that a person should hear of.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The key id of a signing key made on this first start.
    pub new_signing_key: Option<String>,
}

impl AppParts {
    /// The parts of `tgw up`: the signing key (made on first start), the
    /// skills, the policy at `policy`, the backend.
    pub async fn load(
        disk: &DiskConfig,
        policy: PathBuf,
        config: GatewayConfig,
        executor: bool,
    ) -> anyhow::Result<(AppParts, Loaded)> {
        let keys = KeyStore::new(&disk.data_dir);
        let mut loaded = Loaded::default();
        let signer = match keys.signer() {
            Ok(signer) => signer,
            Err(KeyError::NoSigningKey(_)) => {
                let signer = keys.init()?;
                loaded.new_signing_key = Some(signer.kid().to_owned());
                signer
            }
            Err(e) => return Err(e.into()),
        };
        let runtime = disk.runtime()?;
        let secrets = Arc::new(SecretStore::new(&disk.data_dir));
        let skills = disk.skills(&runtime, &secrets).await?;
        let policy = LivePolicy::load(runtime.clone(), policy)?;
        let backend = disk.backend().await?;
        let parts = AppParts {
            backend,
            runtime,
            skills,
            policy,
            signer,
            trusted: keys.trusted()?,
            secrets,
            config,
            executor,
        };
        Ok((parts, loaded))
    }
}

/// What an executor is made of (in `tgw up`, or alone in `tgw executor`).
pub struct ExecutorParts {
    pub pool: Pool,
    pub backend: Backend,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<LiveSkills>,
    pub trusted: Vec<TrustedKey>,
    pub secrets: Arc<SecretStore>,
    /// Whose passkeys approve destructive tools.
    pub relying_party: RelyingParty,
}

/// Builds an executor and starts it serving its pool; the handle ends when
/// the backend closes.
pub async fn start_executor(
    parts: ExecutorParts,
) -> anyhow::Result<(Arc<Executor>, JoinHandle<()>)> {
    let requests = parts.backend.requests.clone();
    let executor = build_executor(parts)?;
    let serving = executor.clone().serve(requests).await?;
    Ok((executor, serving))
}

/// Builds an executor, not yet serving.
pub fn build_executor(parts: ExecutorParts) -> anyhow::Result<Arc<Executor>> {
    let ExecutorParts {
        pool,
        backend,
        runtime,
        skills,
        trusted,
        secrets,
        relying_party,
    } = parts;
    let executor = Arc::new(Executor::new(
        pool,
        ExecutorSetup {
            runtime,
            trusted,
            skills,
            nonces: backend.nonces.clone(),
            audit: Audit::new(backend.log(LogName::Audit)),
            secrets,
            floor: ApprovalFloor {
                relying_party,
                people: People::new(backend.bucket(BucketName::People)),
            },
        },
    )?);
    Ok(executor)
}

/// Background tasks of an app; they stop when it is dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// One gateway, assembled.
pub struct App {
    pub backend: Backend,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<LiveSkills>,
    pub policy: Arc<LivePolicy>,
    pub people: People,
    pub audit: Audit,
    pub approvals: Arc<ApprovalWorkflow>,
    pub gateway: Arc<Gateway>,
    /// The in-process executor, if this gateway runs one.
    pub executor: Option<Arc<Executor>>,
    pub oauth: OAuthState,
    pub mcp: Arc<McpState>,
    pub api: crate::api::ApiState,
    tasks: Tasks,
}

impl App {
    /// Wires `parts` together and starts what runs in the background: the
    /// in-process executor, and the announcement of tool changes to MCP
    /// sessions.
    pub async fn build(parts: AppParts) -> anyhow::Result<App> {
        let AppParts {
            backend,
            runtime,
            skills,
            policy,
            signer,
            trusted,
            secrets,
            config,
            executor,
        } = parts;
        let people = People::new(backend.bucket(BucketName::People));
        let audit = Audit::new(backend.log(LogName::Audit));
        let relying_party = config.relying_party.clone();
        let approvals = Arc::new(ApprovalWorkflow::new(
            ApprovalConfig {
                expiry: config.approval_expiry,
                relying_party: relying_party.clone(),
                four_eyes: config.four_eyes,
            },
            Approvals::new(backend.bucket(BucketName::Approvals)),
            audit.clone(),
            people.clone(),
            skills.clone(),
        ));
        let mut tasks = Vec::new();
        let executor = if executor {
            let (executor, serving) = start_executor(ExecutorParts {
                pool: config.pool.clone(),
                backend: backend.clone(),
                runtime: runtime.clone(),
                skills: skills.clone(),
                trusted,
                secrets,
                relying_party: relying_party.clone(),
            })
            .await?;
            tasks.push(serving);
            Some(executor)
        } else {
            None
        };
        let gateway = Arc::new(Gateway::new(GatewayParts {
            config,
            runtime: runtime.clone(),
            skills: skills.clone(),
            policy: policy.clone(),
            signer,
            requests: backend.requests.clone(),
            approvals: approvals.clone(),
            audit: audit.clone(),
        }));
        let oauth = OAuthState::new(&relying_party.origin, backend.bucket(BucketName::People));
        let mcp = Arc::new(McpState::new(
            gateway.clone(),
            skills.clone(),
            &relying_party.origin,
        ));
        tasks.push(tokio::spawn(announce_tool_changes(
            skills.clone(),
            mcp.clone(),
        )));
        let api = crate::api::ApiState::new(crate::api::ApiParts {
            approvals: approvals.clone(),
            audit: audit.clone(),
            people: people.clone(),
            skills: skills.clone(),
            policy: policy.clone(),
            relying_party,
            oauth: oauth.clone(),
        });
        Ok(App {
            backend,
            runtime,
            skills,
            policy,
            people,
            audit,
            approvals,
            gateway,
            executor,
            oauth,
            mcp,
            api,
            tasks: Tasks(tasks),
        })
    }

    /// Reloads skill folders and the policy file when they change, for as
    /// long as the app lives.
    pub fn watch_files(&mut self) {
        if let Some(task) = self.skills.watch(WATCH_EVERY) {
            self.tasks.0.push(task);
        }
        self.tasks.0.push(self.policy.watch(WATCH_EVERY));
    }

    /// The one HTTP surface: the dashboard and its API, MCP, OAuth,
    /// `/healthz`.
    pub fn router(&self) -> axum::Router {
        crate::http::router(
            self.api.clone(),
            self.mcp.clone(),
            &self.people,
            &self.oauth,
        )
    }
}

/// A skill added, removed or rebuilt: every MCP session hears
/// `notifications/tools/list_changed`.
async fn announce_tool_changes(skills: Arc<LiveSkills>, mcp: Arc<McpState>) {
    let mut changed = skills.subscribe();
    while changed.changed().await.is_ok() {
        mcp.tools_changed().await;
    }
}
