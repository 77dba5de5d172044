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

use serde_json::json;
use tgw_proto::grant::{GrantSigner, TrustedKey};
use tgw_proto::jws::JwsSigner;
use tgw_proto::webauthn::RelyingParty;
use tokio::task::JoinHandle;

use crate::approval::{ApprovalConfig, ApprovalWorkflow, Approvals};
use crate::audit::{Audit, AuditKind, AuditTrust, executor_chain, gateway_chain};
use crate::backend::nats::{NatsConfig, Opener};
use crate::backend::sealed::{Sealer, Tampered};
use crate::backend::{Backend, BucketName, LogName, StoreError};
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

/// The keys a gateway signs and checks with (see `keys.rs`).
#[derive(Clone)]
pub struct Identity {
    /// The gateway's signing seed: grants, sealed records, its audit chain.
    pub gateway_seed: [u8; 32],
    /// Gateway keys that are accepted (grants, records, gateway chains).
    pub trusted: Vec<TrustedKey>,
    /// The OAuth access-token key's seed.
    pub oauth_seed: [u8; 32],
    /// The seed of the executor in this process.
    pub executor_seed: [u8; 32],
    /// Executor keys whose receipts are accepted (the in-process
    /// executor's own key is added).
    pub executors: Vec<TrustedKey>,
    /// Names this gateway's audit chain.
    pub instance: String,
}

impl Identity {
    /// The identity kept under `data_dir` (keys made on first start).
    pub fn load(data_dir: &std::path::Path) -> anyhow::Result<(Identity, Loaded)> {
        let keys = KeyStore::new(data_dir);
        let mut loaded = Loaded::default();
        if let Err(KeyError::NoSigningKey(_)) = keys.signing_seed() {
            loaded.new_signing_key = Some(keys.init()?.kid().to_owned());
        }
        Ok((
            Identity {
                gateway_seed: keys.signing_seed()?,
                trusted: keys.trusted()?,
                oauth_seed: keys.oauth_seed()?,
                executor_seed: keys.executor_seed()?.0,
                executors: keys.trusted_executors()?,
                instance: keys.instance()?,
            },
            loaded,
        ))
    }

    /// A fixed identity, for tests and benches: every key from `seed`,
    /// and its own executor key trusted (executors elsewhere may be given
    /// the same seed).
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        let executor_seed = Self::executor_seed_of(seed);
        Identity {
            gateway_seed: seed,
            trusted: vec![GrantSigner::from_seed(&seed).trusted_key()],
            oauth_seed: [seed[0] ^ 0xaa; 32],
            executor_seed,
            executors: vec![TrustedKey::new(
                JwsSigner::from_seed(&executor_seed).verifying_key(),
            )],
            instance: "test".into(),
        }
    }

    /// The executor seed of [`Identity::from_seed`].
    pub fn executor_seed_of(mut seed: [u8; 32]) -> [u8; 32] {
        seed[0] ^= 0x55;
        seed
    }

    pub fn grant_signer(&self) -> GrantSigner {
        GrantSigner::from_seed(&self.gateway_seed)
    }

    pub fn record_signer(&self) -> Arc<JwsSigner> {
        Arc::new(JwsSigner::from_seed(&self.gateway_seed))
    }

    pub fn executor_signer(&self) -> Arc<JwsSigner> {
        Arc::new(JwsSigner::from_seed(&self.executor_seed))
    }
}

/// What a gateway is made of.
pub struct AppParts {
    pub backend: Backend,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<LiveSkills>,
    pub policy: Arc<LivePolicy>,
    pub identity: Identity,
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
    pub nats: NatsConfig,
    /// Development mode: unsigned skill folders load too (never the
    /// default; the dashboard shows it).
    pub dev: bool,
}

impl DiskConfig {
    pub fn runtime(&self) -> anyhow::Result<Arc<Runtime>> {
        let cache = self.data_dir.join("cache").join("components");
        Ok(Arc::new(Runtime::new(Some(&cache))?))
    }

    /// The backend, not yet sealed; `opener` says whether this process
    /// may create NATS streams (only a gateway does).
    pub async fn backend(&self, opener: Opener) -> anyhow::Result<Backend> {
        Ok(match &self.nats.url {
            Some(_) => crate::backend::nats::backend(&self.nats, opener).await?,
            None => crate::backend::embedded::backend(&self.data_dir)?,
        })
    }

    /// The backend as a gateway command sees it (`tgw users`, `tgw
    /// tokens`): sealed with the gateway key of the data dir.
    pub async fn gateway_backend(&self) -> anyhow::Result<Backend> {
        Ok(self.gateway_command().await?.0)
    }

    /// The backend as a gateway command sees it, and the audit log as it
    /// writes there: in the gateway's own chain, as the dashboard's admin
    /// actions are (`tgw users disable`, `tgw tokens revoke`).
    pub async fn gateway_command(&self) -> anyhow::Result<(Backend, Audit)> {
        let (identity, _) = Identity::load(&self.data_dir)?;
        let backend = self.backend(Opener::Gateway).await?;
        let audit = gateway_audit(&backend, &identity, identity.executors.clone());
        let backend =
            sealed_for_gateway(backend, &identity, Arc::new(|t: Tampered| log_tampered(&t)))
                .await?;
        Ok((backend, audit))
    }

    /// The skills of the skills folder that this host believes (see
    /// [`crate::registry::provenance`]), reloaded when a folder changes.
    pub async fn skills(
        &self,
        runtime: &Arc<Runtime>,
        secrets: &Arc<SecretStore>,
    ) -> anyhow::Result<Arc<LiveSkills>> {
        let trust = crate::registry::SkillTrust::load(&self.data_dir, self.dev)?;
        LiveSkills::load(runtime.clone(), &self.skills_dir, secrets.clone(), trust).await
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
        let (identity, loaded) = Identity::load(&disk.data_dir)?;
        // The backend first: a deployment whose streams are unsafe is
        // refused before anything is compiled.
        let backend = disk.backend(Opener::Gateway).await?;
        let runtime = disk.runtime()?;
        let secrets = Arc::new(SecretStore::new(&disk.data_dir));
        let skills = disk.skills(&runtime, &secrets).await?;
        let policy = LivePolicy::load(runtime.clone(), policy)?;
        let parts = AppParts {
            backend,
            runtime,
            skills,
            policy,
            identity,
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
    /// The backend, not yet sealed: the executor reads people records
    /// sealed by a trusted gateway key and writes none.
    pub backend: Backend,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<LiveSkills>,
    /// The gateway keys it accepts grants from (as they are now) and
    /// records from (as they were at start).
    pub trusted: crate::trust::LiveTrust,
    /// The executor's own key: receipts and its audit chain.
    pub key: Arc<JwsSigner>,
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
    let executor = build_executor(parts).await?;
    let serving = executor.clone().serve(requests).await?;
    Ok((executor, serving))
}

/// Builds an executor, not yet serving.
pub async fn build_executor(parts: ExecutorParts) -> anyhow::Result<Arc<Executor>> {
    build_executor_with_verifier(parts, crate::guests::GRANT_VERIFIER_WASM).await
}

/// Builds an executor that verifies grants with the component `verifier`
/// (see [`Executor::new`]), not yet serving.
pub async fn build_executor_with_verifier(
    parts: ExecutorParts,
    verifier: &[u8],
) -> anyhow::Result<Arc<Executor>> {
    let ExecutorParts {
        pool,
        backend,
        runtime,
        skills,
        trusted,
        key,
        secrets,
        relying_party,
    } = parts;
    let gateways = trusted.current();
    let audit = Audit::writer(
        backend.log(LogName::Audit),
        backend.bucket(BucketName::AuditHeads),
        AuditTrust {
            gateways: gateways.clone(),
            executors: vec![TrustedKey::new(key.verifying_key())],
        },
        executor_chain(pool.as_str(), key.kid()),
        key.clone(),
    );
    let sealer = Sealer {
        signer: None,
        trusted: Arc::new(gateways),
        on_tampered: tampered_to(&audit),
    };
    let (backend, _) = backend.seal(&sealer);
    check_nonce_ledger(&backend, &Opener::Other).await?;
    let executor = Arc::new(Executor::new(
        pool,
        ExecutorSetup {
            runtime,
            trusted,
            key,
            skills,
            nonces: backend.nonces.clone(),
            audit,
            secrets,
            floor: ApprovalFloor {
                relying_party,
                people: People::new(backend.bucket(BucketName::People)),
            },
            policies: backend.bucket(BucketName::People),
            events: backend.events.clone(),
        },
        verifier,
    )?);
    Ok(executor)
}

/// The audit log of `backend`, written in the chain of `identity`'s
/// gateway; entries of `executors` are believed.
fn gateway_audit(backend: &Backend, identity: &Identity, executors: Vec<TrustedKey>) -> Audit {
    Audit::writer(
        backend.log(LogName::Audit),
        backend.bucket(BucketName::AuditHeads),
        AuditTrust {
            gateways: identity.trusted.clone(),
            executors,
        },
        gateway_chain(&identity.instance),
        identity.record_signer(),
    )
}

/// `backend` as a gateway sees it: the buckets that carry authority
/// sealed with `identity`'s key, after the start-up upkeep (values sealed
/// by an older key sealed again; on the embedded store, values an older
/// version wrote unsealed sealed too).
async fn sealed_for_gateway(
    backend: Backend,
    identity: &Identity,
    on_tampered: crate::backend::sealed::OnTampered,
) -> anyhow::Result<Backend> {
    let sealer = Sealer {
        signer: Some(identity.record_signer()),
        trusted: Arc::new(identity.trusted.clone()),
        on_tampered,
    };
    let (backend, sealed) = backend.seal(&sealer);
    for bucket in &sealed {
        bucket.upkeep(backend.local_store).await?;
    }
    Ok(backend)
}

/// A sealer that reads records sealed by `trusted` gateway keys, writes
/// none, and logs each that fails its seal.
pub fn logging_reader(trusted: Vec<TrustedKey>) -> Sealer {
    Sealer {
        on_tampered: Arc::new(|t: Tampered| log_tampered(&t)),
        ..Sealer::reader(trusted)
    }
}

fn log_tampered(tampered: &Tampered) {
    tracing::error!(target: "tgw::backend", "record {}/{} refused: {}", tampered.bucket, tampered.key, tampered.reason);
}

/// Tells the audit log of each record that failed its seal.
fn tampered_to(audit: &Audit) -> crate::backend::sealed::OnTampered {
    let audit = audit.clone();
    Arc::new(move |tampered: Tampered| {
        log_tampered(&tampered);
        let audit = audit.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                audit
                    .record(
                        AuditKind::RecordTampered,
                        "",
                        json!({"bucket": tampered.bucket, "key": tampered.key, "reason": tampered.reason}),
                    )
                    .await;
            });
        }
    })
}

/// The people-bucket record of which `TGW_NONCES` this deployment uses.
const NONCE_LEDGER_KEY: &str = "deployment.nonce-ledger";

/// Checks that the nonce ledger is the one the deployment recorded (its
/// signed record of the stream's identity), so a `TGW_NONCES` deleted and
/// made again, empty, stops everything instead of letting grants seen
/// before run again. The first gateway records it.
pub async fn check_nonce_ledger(backend: &Backend, opener: &Opener) -> anyhow::Result<()> {
    let Some(identity) = &backend.nonce_ledger_identity else {
        return Ok(());
    };
    let people = backend.bucket(BucketName::People);
    match people.get(NONCE_LEDGER_KEY).await? {
        Some(entry) if entry.value == identity.as_bytes() => Ok(()),
        Some(entry) => anyhow::bail!(
            "refusing to start: TGW_NONCES is not the stream this deployment recorded (created {}, \
             the record says {}): it was deleted and made again, so nonces spent before are \
             forgotten. If you did this yourself, wait 60 s (every grant issued before has \
             expired), then run `tgw nats accept-nonces` with the gateway's data dir.",
            identity,
            String::from_utf8_lossy(&entry.value)
        ),
        None if *opener == Opener::Gateway => {
            match people.create(NONCE_LEDGER_KEY, identity.as_bytes()).await {
                Ok(()) | Err(StoreError::Conflict) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        None => anyhow::bail!(
            "refusing to start: no gateway has recorded this deployment's TGW_NONCES (start `tgw up \
             --nats` first), or its record failed its signature check"
        ),
    }
}

/// Records the current `TGW_NONCES` as the deployment's (after an
/// operator recreated it on purpose): `tgw nats accept-nonces`.
pub async fn accept_nonce_ledger(backend: &Backend) -> anyhow::Result<()> {
    let Some(identity) = &backend.nonce_ledger_identity else {
        anyhow::bail!("the embedded backend has no NATS nonce ledger");
    };
    let people = backend.bucket(BucketName::People);
    crate::backend::put(&*people, NONCE_LEDGER_KEY, identity.as_bytes()).await?;
    Ok(())
}

/// An OAuth signing seed that older versions kept in the people bucket is
/// wiped there (the key now lives in the data dir).
async fn wipe_stored_oauth_seed(people: &dyn crate::backend::Bucket) -> Result<(), StoreError> {
    const OLD_KEY: &str = "oauth.key";
    if let Some(entry) = people.get(OLD_KEY).await?
        && !entry.value.is_empty()
    {
        match people.update(OLD_KEY, b"", entry.revision).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    /// The gateway keys the in-process executor runs grants of, and the
    /// executor keys whose receipts are believed: both follow the data
    /// dir's files once [`App::watch_keys`] runs.
    pub gateway_keys: crate::trust::LiveTrust,
    pub executor_keys: crate::trust::LiveTrust,
    own_executor_key: Option<TrustedKey>,
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
            identity,
            secrets,
            config,
            executor,
        } = parts;
        wipe_stored_oauth_seed(&*backend.bucket(BucketName::People)).await?;
        let executor_key = identity.executor_signer();
        let mut executors = identity.executors.clone();
        if executor {
            executors.push(TrustedKey::new(executor_key.verifying_key()));
        }
        let gateway_keys = crate::trust::LiveTrust::fixed(identity.trusted.clone());
        let executor_keys = crate::trust::LiveTrust::fixed(executors.clone());
        let own_executor_key = executor.then(|| TrustedKey::new(executor_key.verifying_key()));
        let audit = gateway_audit(&backend, &identity, executors.clone());
        let raw = backend.clone();
        let backend = sealed_for_gateway(backend, &identity, tampered_to(&audit)).await?;
        check_nonce_ledger(&backend, &Opener::Gateway).await?;
        let people = People::new(backend.bucket(BucketName::People));
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
                backend: raw,
                runtime: runtime.clone(),
                skills: skills.clone(),
                trusted: gateway_keys.clone(),
                key: executor_key,
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
            signer: identity.grant_signer(),
            executors: executor_keys.clone(),
            requests: backend.requests.clone(),
            events: backend.events.clone(),
            approvals: approvals.clone(),
            audit: audit.clone(),
            policies: backend.bucket(BucketName::People),
        }));
        let oauth = OAuthState::new(
            &relying_party.origin,
            backend.bucket(BucketName::People),
            &identity.oauth_seed,
        );
        let doors = crate::audit::doors::Doors::new(audit.clone(), SUMMARISE_DOORS_EVERY);
        let mcp = Arc::new(McpState::new(
            gateway.clone(),
            skills.clone(),
            policy.clone(),
            &relying_party.origin,
            doors.clone(),
            &identity.gateway_seed,
            backend.bucket(BucketName::Tasks),
        ));
        tasks.push(tokio::spawn(announce_tool_changes(
            skills.clone(),
            policy.clone(),
            mcp.clone(),
        )));
        crate::policy::in_force::started(
            &*backend.bucket(BucketName::People),
            &policy.current().digest,
            crate::audit::now_millis(),
        )
        .await?;
        tasks.push(tokio::spawn(record_policy_changes(
            policy.clone(),
            backend.bucket(BucketName::People),
        )));
        tasks.push(tokio::spawn(audit_refused_skills(
            skills.clone(),
            audit.clone(),
        )));
        if let Some(blobs) = backend.blobs.clone() {
            // Executors on other machines run what the record names: it
            // is written before this gateway takes a call, and again after
            // each change.
            let people = backend.bucket(BucketName::People);
            let written = publish_served_skills(&skills, &blobs, &*people).await;
            tasks.push(tokio::spawn(republish_served_skills(
                skills.clone(),
                blobs,
                people,
                written,
            )));
        }
        let api = crate::api::ApiState::new(crate::api::ApiParts {
            doors,
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
            gateway_keys,
            executor_keys,
            own_executor_key,
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

    /// Follows the trusted keys in `data_dir` (`keys/trusted.json`,
    /// `keys/executors.json`) for as long as the app lives: untrusting a
    /// key takes effect within a second.
    pub fn watch_keys(&mut self, data_dir: &std::path::Path) {
        let keys = KeyStore::new(data_dir);
        self.tasks.0.push(self.gateway_keys.watch(
            "the trusted gateway keys (keys/trusted.json)",
            WATCH_EVERY,
            self.audit.clone(),
            move || keys.trusted(),
        ));
        let keys = KeyStore::new(data_dir);
        let own = self.own_executor_key.clone();
        self.tasks.0.push(self.executor_keys.watch(
            "the trusted executor keys (keys/executors.json)",
            WATCH_EVERY,
            self.audit.clone(),
            move || {
                let mut trusted = keys.trusted_executors()?;
                trusted.extend(own.clone());
                Ok(trusted)
            },
        ));
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

/// How often the anonymous refusals at the doors are summarised in the
/// audit log (one entry per source).
const SUMMARISE_DOORS_EVERY: Duration = Duration::from_secs(60);

/// Records each replacement of the policy for the executors: the new one
/// in force, then the old one replaced (so none is ever without a policy).
async fn record_policy_changes(policy: Arc<LivePolicy>, people: Arc<dyn crate::backend::Bucket>) {
    use crate::policy::in_force;
    let mut changed = policy.subscribe();
    let mut last = policy.current().digest.clone();
    while changed.changed().await.is_ok() {
        let now = crate::audit::now_millis();
        let digest = policy.current().digest.clone();
        if digest == last {
            continue;
        }
        let recorded = async {
            in_force::started(&*people, &digest, now).await?;
            in_force::replaced(&*people, &last, now).await
        };
        match recorded.await {
            Ok(()) => last = digest,
            Err(e) => {
                tracing::error!(target: "tgw::policy", "the policy change ({last} → {digest}) was not recorded for the executors, so they still accept grants {last} decided; it is tried again at the next change: {e}");
            }
        }
    }
}

/// Audits each skill folder that is left out (`skill.refused`), once per
/// reason, at start and after every reload.
async fn audit_refused_skills(skills: Arc<LiveSkills>, audit: Audit) {
    let mut changed = skills.subscribe();
    let mut told = std::collections::HashSet::new();
    loop {
        for why in skills.current().refused() {
            if told.insert(why.clone()) {
                audit
                    .record(AuditKind::SkillRefused, "", json!({"reason": why}))
                    .await;
            }
        }
        if changed.changed().await.is_err() {
            return;
        }
    }
}

/// How long a gateway waits before it writes the served skills again,
/// when the object store or the people bucket refused.
const REPUBLISH_AFTER: Duration = Duration::from_secs(2);

/// Writes the skills served now for the executors
/// ([`crate::registry::served`]); `false` if that failed (it is logged).
async fn publish_served_skills(
    skills: &LiveSkills,
    blobs: &crate::backend::Blobs,
    people: &dyn crate::backend::Bucket,
) -> bool {
    match crate::registry::served::publish(&skills.current(), blobs, people).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(target: "tgw::registry", "the served skills were not written for the executors (tried again in {} s): {e}", REPUBLISH_AFTER.as_secs());
            false
        }
    }
}

/// How often a gateway reads its record of the served skills back: one
/// that someone replaced on the bus (it reads as absent, or as another
/// set) is written again.
const CHECK_SERVED_EVERY: Duration = Duration::from_secs(30);

/// After each change of the skills, writes them again; until that
/// succeeds, tries again every [`REPUBLISH_AFTER`]; and every
/// [`CHECK_SERVED_EVERY`], writes them again if the record is not what
/// this gateway serves.
async fn republish_served_skills(
    skills: Arc<LiveSkills>,
    blobs: crate::backend::Blobs,
    people: Arc<dyn crate::backend::Bucket>,
    mut written: bool,
) {
    use crate::registry::served;
    let mut changed = skills.subscribe();
    let mut check = tokio::time::interval(CHECK_SERVED_EVERY);
    check.tick().await;
    loop {
        if written {
            tokio::select! {
                change = changed.changed() => if change.is_err() { return },
                _ = check.tick() => {
                    let serving = served::ServedSet::of(&skills.current());
                    if matches!(served::read(&*people).await, Ok(Some(record)) if record == serving) {
                        continue;
                    }
                }
            }
        } else {
            tokio::time::sleep(REPUBLISH_AFTER).await;
        }
        written = publish_served_skills(&skills, &blobs, &*people).await;
    }
}

/// A skill added, removed or rebuilt, or a tool's alias changed: every
/// MCP session hears `notifications/tools/list_changed`.
async fn announce_tool_changes(
    skills: Arc<LiveSkills>,
    policy: Arc<LivePolicy>,
    mcp: Arc<McpState>,
) {
    let mut skills_changed = skills.subscribe();
    let mut policy_changed = policy.subscribe();
    let mut aliases = policy.current().aliases.clone();
    loop {
        tokio::select! {
            changed = skills_changed.changed() => if changed.is_err() { return },
            changed = policy_changed.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = policy.current().aliases.clone();
                if now == aliases {
                    continue;
                }
                aliases = now;
            }
        }
        mcp.tools_changed().await;
    }
}
