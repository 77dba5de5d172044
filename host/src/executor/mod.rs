//! The executor: the last check before a tool runs, and the only place it
//! runs. For each request it
//!
//! 1. recomputes the input hash over the argument bytes it received (and
//!    refuses bytes that are not canonical),
//! 2. verifies the grant in the grant-verifier component, and again on the
//!    host, and requires both to agree,
//! 3. checks the skill's component digest against the grant's,
//! 4. spends the grant's nonce (insert-if-absent; a second use is refused),
//! 5. runs the tool in its sandbox.
//!
//! Any failure on the way: the tool does not run, and the refusal (a stable
//! code and the reason) goes back to the caller and into the audit log. The nonce is spent before the tool
//! runs, so an executor that dies in between leaves a grant that can never
//! run again (at most once, never twice).

mod floor;
pub mod protocol;

use std::sync::Arc;

pub use floor::ApprovalFloor;
pub use protocol::{ExecReply, ExecRequest};

use serde_json::json;
use tgw_proto::grant::{Expectations, TrustedKey, UnverifiedGrant};
use tgw_proto::refusal::{Refusal, RefusalCode};

use crate::audit::{Audit, AuditKind};
use crate::backend::{BusError, LedgerError, NonceLedger, Requests, exec_subject};
use crate::canonical::{canonicalize, input_hash};
use crate::ids::Pool;
use crate::registry::LiveSkills;
use crate::runtime::{GrantCheckError, LoadedVerifier, Runtime};
use crate::secrets::SecretStore;

pub struct Executor {
    pub pool: Pool,
    runtime: Arc<Runtime>,
    verifier: LoadedVerifier,
    trusted: Vec<TrustedKey>,
    skills: Arc<LiveSkills>,
    nonces: Arc<dyn NonceLedger>,
    audit: Audit,
    secrets: Arc<SecretStore>,
    floor: ApprovalFloor,
}

/// What an executor works with.
pub struct ExecutorSetup {
    pub runtime: Arc<Runtime>,
    /// The gateway public keys it accepts grants from.
    pub trusted: Vec<TrustedKey>,
    pub skills: Arc<LiveSkills>,
    pub nonces: Arc<dyn NonceLedger>,
    pub audit: Audit,
    pub secrets: Arc<SecretStore>,
    pub floor: ApprovalFloor,
}

impl Executor {
    pub fn new(pool: Pool, setup: ExecutorSetup) -> anyhow::Result<Self> {
        let ExecutorSetup {
            runtime,
            trusted,
            skills,
            nonces,
            audit,
            secrets,
            floor,
        } = setup;
        if trusted.is_empty() {
            anyhow::bail!(
                "no trusted grant keys: run `tgw keys init` (or `tgw keys trust` on an executor's machine)"
            );
        }
        let verifier = runtime.load_verifier(crate::guests::GRANT_VERIFIER_WASM)?;
        Ok(Executor {
            pool,
            runtime,
            verifier,
            trusted,
            skills,
            nonces,
            audit,
            secrets,
            floor,
        })
    }

    /// Handles one request; never panics, always answers.
    pub async fn execute(&self, request: &ExecRequest) -> ExecReply {
        match self.check_and_run(request).await {
            Ok(reply) => reply,
            Err(refusal) => {
                self.audit
                    .record(
                        AuditKind::ExecutionRefused,
                        &request.call,
                        json!({"pool": self.pool, "code": refusal.code(), "reason": refusal.as_reason()}),
                    )
                    .await;
                ExecReply::refused(&refusal)
            }
        }
    }

    async fn check_and_run(&self, request: &ExecRequest) -> Result<ExecReply, Refusal> {
        let canonical = canonicalize(request.args.as_bytes()).map_err(|e| {
            Refusal::new(
                RefusalCode::BadArguments,
                format!("the arguments are not valid: {e}"),
            )
        })?;
        if canonical.bytes != request.args.as_bytes() {
            return Err(Refusal::new(
                RefusalCode::ArgumentsNotCanonical,
                "the arguments are not in canonical form",
            ));
        }
        let hash = input_hash(request.args.as_bytes());
        let now = unix_now();
        let expect = Expectations {
            trusted: &self.trusted,
            audience: self.pool.as_str(),
            now,
            input_hash: &hash,
        };
        let grant = UnverifiedGrant::from_token(request.grant.clone());

        let claims = self
            .runtime
            .verify_grant(&self.verifier, &grant, &expect)
            .await
            .map_err(|e| match e {
                GrantCheckError::Refused(reason) => Refusal::from(reason),
                GrantCheckError::Sandbox(reason) => Refusal::new(
                    RefusalCode::VerifierFailed,
                    format!("the grant could not be verified: {reason}"),
                ),
            })?;
        let verified = grant.verify(&expect).map_err(Refusal::from)?;
        if *verified.claims() != claims {
            return Err(Refusal::new(
                RefusalCode::VerifierDisagrees,
                "the grant verifier and the host disagree about this grant",
            ));
        }
        let claims = verified.claims();

        let skill = self.skills.current().get(&claims.skill).ok_or_else(|| {
            Refusal::new(
                RefusalCode::SkillMissing,
                format!("this executor has no skill {}", claims.skill),
            )
        })?;
        if skill.component.digest != claims.component {
            return Err(Refusal::new(
                RefusalCode::ComponentMismatch,
                format!(
                    "skill {} changed since the grant was issued (the grant is for {}, this executor has {})",
                    claims.skill, claims.component, skill.component.digest
                ),
            ));
        }
        let tool = skill.tool(&claims.tool).ok_or_else(|| {
            Refusal::new(
                RefusalCode::SkillMissing,
                format!("skill {} has no tool {}", claims.skill, claims.tool),
            )
        })?;
        if tool.risk == crate::runtime::Risk::Destructive {
            self.floor
                .check(claims, &self.runtime, &self.verifier)
                .await?;
        }

        self.nonces
            .spend(&format!("{}_{}", claims.aud, claims.jti))
            .await
            .map_err(|e| match e {
                LedgerError::AlreadyUsed => Refusal::new(RefusalCode::NonceSpent, e.to_string()),
                LedgerError::Unavailable(_) => {
                    Refusal::new(RefusalCode::LedgerUnavailable, e.to_string())
                }
            })?;

        let spec = skill.skill.sandbox(&self.secrets);
        let outcome = self
            .runtime
            .invoke(&skill.component, &spec, &claims.tool, &request.args)
            .await;
        let reply = match outcome.result {
            Ok(output) => {
                self.audit
                    .record(
                        AuditKind::ExecutionDone,
                        &request.call,
                        json!({"pool": self.pool, "jti": claims.jti, "fuel": outcome.fuel_used}),
                    )
                    .await;
                ExecReply::Done { output }
            }
            Err(e) => {
                let reason = e.to_string();
                self.audit
                    .record(
                        AuditKind::ExecutionFailed,
                        &request.call,
                        json!({"pool": self.pool, "jti": claims.jti, "reason": reason}),
                    )
                    .await;
                ExecReply::Failed { reason }
            }
        };
        Ok(reply)
    }

    /// Handles one request as it came off the bus: bytes that are not a
    /// request are refused, in the same reply format.
    pub async fn handle(&self, payload: &[u8]) -> ExecReply {
        match serde_json::from_slice::<ExecRequest>(payload) {
            Ok(request) => self.execute(&request).await,
            Err(e) => ExecReply::refused(&Refusal::new(
                RefusalCode::RequestUnreadable,
                format!("the request is unreadable: {e}"),
            )),
        }
    }

    /// Serves the pool's requests from `requests` until it closes.
    pub async fn serve(
        self: Arc<Self>,
        requests: Arc<dyn Requests>,
    ) -> Result<tokio::task::JoinHandle<()>, BusError> {
        let mut deliveries = requests.serve(&exec_subject(self.pool.as_str())).await?;
        Ok(tokio::spawn(async move {
            while let Some(delivery) = deliveries.recv().await {
                let executor = self.clone();
                tokio::spawn(async move {
                    let reply = executor.handle(&delivery.payload).await;
                    (delivery.reply)(protocol::encode(&reply));
                });
            }
        }))
    }
}

pub fn unix_now() -> i64 {
    crate::audit::now_millis() / 1000
}
