//! The executor: the last check before a tool runs, and the only place it
//! runs. For each request it
//!
//! 1. recomputes the input hash over the argument bytes it received (and
//!    refuses bytes that are not canonical),
//! 2. verifies the grant in the grant-verifier component, and again on the
//!    host, and requires both to agree,
//! 3. checks the skill's component digest against the grant's,
//! 4. spends the grant's nonce (insert-if-absent; a second use is refused),
//! 5. runs the tool in its sandbox, publishing its progress and log lines,
//!    each signed with the executor's key (`tgw_proto::update`), until it
//!    ends or a trusted gateway orders it stopped (`tgw_proto::stop`, on
//!    `tgw.stop.<pool>`): nobody waits for its answer any more.
//!
//! Every answer carries a receipt signed with the executor's own key
//! (`tgw_proto::receipt`), which also goes into its audit chain, and every
//! request is acknowledged as soon as it is taken, so a gateway hears fast
//! when an executor went away.
//!
//! Any failure on the way: the tool does not run, and the refusal (a stable
//! code and the reason) goes back to the caller and into the audit log. The nonce is spent before the tool
//! runs, so an executor that dies in between leaves a grant that can never
//! run again (at most once, never twice).

mod floor;
pub mod protocol;

use std::sync::Arc;

pub use floor::ApprovalFloor;
pub use protocol::{ExecAnswer, ExecReply, ExecRequest};

use serde_json::json;
use tgw_proto::grant::{Expectations, TrustedKey, UnverifiedGrant};
use tgw_proto::jws::JwsSigner;
use tgw_proto::receipt::{self, ReceiptClaims};
use tgw_proto::refusal::{Refusal, RefusalCode};

use crate::audit::{Audit, AuditKind};
use crate::backend::{
    Bucket, BusError, Events, LedgerError, NonceLedger, Requests, exec_subject, stop_subject,
    updates_subject,
};
use crate::canonical::{canonicalize, input_hash};
use crate::ids::Pool;
use crate::registry::LiveSkills;
use crate::runtime::{
    CallUpdate, GrantCheckError, LoadedVerifier, Runtime, UpdateSink, check_output,
};
use crate::secrets::SecretStore;
use tgw_proto::update::UpdateClaims;

pub struct Executor {
    pub pool: Pool,
    runtime: Arc<Runtime>,
    verifier: LoadedVerifier,
    trusted: crate::trust::LiveTrust,
    key: Arc<JwsSigner>,
    skills: Arc<LiveSkills>,
    nonces: Arc<dyn NonceLedger>,
    audit: Audit,
    secrets: Arc<SecretStore>,
    floor: ApprovalFloor,
    policies: Arc<dyn Bucket>,
    events: Arc<dyn Events>,
    /// The calls running here, by grant `jti`: what stops each.
    running: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>,
}

/// What an executor works with.
pub struct ExecutorSetup {
    pub runtime: Arc<Runtime>,
    /// The gateway public keys it accepts grants from, as they are now.
    pub trusted: crate::trust::LiveTrust,
    /// Its own key: receipts.
    pub key: Arc<JwsSigner>,
    pub skills: Arc<LiveSkills>,
    pub nonces: Arc<dyn NonceLedger>,
    pub audit: Audit,
    pub secrets: Arc<SecretStore>,
    pub floor: ApprovalFloor,
    /// The sealed records of the policies the deployment had in force
    /// (`crate::policy::in_force`), read from the people bucket.
    pub policies: Arc<dyn Bucket>,
    /// Where the running tools' signed updates are published.
    pub events: Arc<dyn Events>,
}

impl Executor {
    /// An executor that verifies grants with the component `verifier`
    /// (the built-in one in every process; the tests give it one that
    /// misbehaves, to show the executor refuses then).
    pub fn new(pool: Pool, setup: ExecutorSetup, verifier: &[u8]) -> anyhow::Result<Self> {
        let ExecutorSetup {
            runtime,
            trusted,
            key,
            skills,
            nonces,
            audit,
            secrets,
            floor,
            policies,
            events,
        } = setup;
        if trusted.current().is_empty() {
            anyhow::bail!(
                "no trusted grant keys: run `tgw keys init` (or `tgw keys trust` on an executor's machine)"
            );
        }
        let verifier = runtime.load_verifier(verifier)?;
        Ok(Executor {
            pool,
            runtime,
            verifier,
            trusted,
            key,
            skills,
            nonces,
            audit,
            secrets,
            floor,
            policies,
            events,
            running: std::sync::Mutex::default(),
        })
    }

    fn running(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<tokio::sync::Notify>>>
    {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops the call a stop order names, if it runs here and a trusted
    /// gateway signed the order for this pool; anything else on the
    /// subject is dropped.
    pub fn stop(&self, token: &[u8]) {
        let token = String::from_utf8_lossy(token);
        match tgw_proto::stop::verify(&token, &self.trusted.current(), self.pool.as_str()) {
            Ok(order) => {
                let stop = self.running().get(&order.jti).cloned();
                if let Some(stop) = stop {
                    tracing::info!(call = %order.call, "the gateway stopped a running call");
                    stop.notify_one();
                }
            }
            Err(why) => tracing::warn!(%why, "a stop order was dropped"),
        }
    }

    /// The audit log, written in this executor's chain.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Handles one request; never panics, always answers, with a receipt
    /// that is also in the audit entry of the outcome.
    pub async fn execute(&self, request: &ExecRequest) -> ExecAnswer {
        let stop = Arc::new(tokio::sync::Notify::new());
        self.running().insert(request.jti.clone(), stop.clone());
        let done = self.check_and_run(request, &stop).await;
        {
            // A replay of the same grant may have taken the entry since.
            let mut running = self.running();
            if running
                .get(&request.jti)
                .is_some_and(|current| Arc::ptr_eq(current, &stop))
            {
                running.remove(&request.jti);
            }
        }
        let (reply, fuel, updates) = match done {
            Ok(done) => done,
            Err(refusal) => (ExecReply::refused(&refusal), None, 0),
        };
        let receipt = self.receipt(
            &request.call,
            &request.jti,
            request.args.as_bytes(),
            &reply,
            updates,
        );
        let (kind, detail) = match &reply {
            ExecReply::Done { .. } => (
                AuditKind::ExecutionDone,
                json!({"pool": self.pool, "jti": request.jti, "fuel": fuel, "receipt": receipt}),
            ),
            ExecReply::Failed { reason } => (
                AuditKind::ExecutionFailed,
                json!({"pool": self.pool, "jti": request.jti, "reason": reason, "receipt": receipt}),
            ),
            ExecReply::Refused { code, reason } => (
                AuditKind::ExecutionRefused,
                json!({"pool": self.pool, "code": code, "reason": reason, "receipt": receipt}),
            ),
        };
        self.audit.record(kind, &request.call, detail).await;
        ExecAnswer { reply, receipt }
    }

    /// The signed receipt of `reply` to the request for `call` and `jti`
    /// with the argument bytes `args`, after `updates` updates.
    fn receipt(
        &self,
        call: &str,
        jti: &str,
        args: &[u8],
        reply: &ExecReply,
        updates: u32,
    ) -> String {
        let (outcome, text, format) = reply.outcome();
        receipt::sign(
            &self.key,
            &ReceiptClaims {
                call: call.to_owned(),
                jti: jti.to_owned(),
                input_hash: input_hash(args),
                outcome,
                output_hash: receipt::text_hash(text),
                format,
                updates,
                iat: unix_now(),
            },
        )
    }

    /// The checks, then the tool: its reply and the fuel it used.
    async fn check_and_run(
        &self,
        request: &ExecRequest,
        stop: &tokio::sync::Notify,
    ) -> Result<(ExecReply, Option<u64>, u32), Refusal> {
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
        let trusted = self.trusted.current();
        let expect = Expectations {
            trusted: &trusted,
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
        if claims.jti != request.jti {
            return Err(Refusal::new(
                RefusalCode::GrantBadClaim,
                "the request names another grant than the one it carries",
            ));
        }
        crate::policy::in_force::check(&*self.policies, &claims.policy, claims.iat, claims.exp)
            .await?;

        self.skills.catch_up(&claims.skill, &claims.component).await;
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
        // Only a 0.2.0 skill can send updates: nothing to forward otherwise.
        let (sink, forwarding) = if skill.component.sends_updates() {
            let (sink, updates) = UpdateSink::channel();
            let forwarding = tokio::spawn(self.forward_updates(request, updates));
            (Some(sink), Some(forwarding))
        } else {
            (None, None)
        };
        let run = self
            .runtime
            .invoke(&skill.component, &spec, &claims.tool, &request.args, sink);
        // Dropping the call drops its store: the tool stops where it is.
        let outcome = tokio::select! {
            outcome = run => outcome,
            () = stop.notified() => {
                if let Some(forwarding) = forwarding {
                    forwarding.abort();
                }
                let reason = "the gateway stopped it while it ran: nobody waits for its answer \
                              any more (the call was cancelled)";
                return Ok((ExecReply::Failed { reason: reason.into() }, None, 0));
            }
        };
        // The sink went with the call's store: the forwarder ends once it
        // has sent what is left, before the answer goes out.
        let updates = match forwarding {
            Some(forwarding) => forwarding.await.unwrap_or(0),
            None => 0,
        };
        let checked = outcome
            .result
            .map_err(|e| e.to_string())
            .and_then(|output| match skill.tool(&claims.tool) {
                Some(tool) => check_output(tool, &output).map(|()| output),
                None => Ok(output),
            });
        let reply = match checked {
            Ok(output) => ExecReply::Done {
                output: output.text,
                format: output.format,
            },
            Err(reason) => ExecReply::Failed { reason },
        };
        Ok((reply, Some(outcome.fuel_used), updates))
    }

    /// Signs each update of the running call and publishes it where the
    /// gateway that sent `request` listens; returns how many went out (the
    /// receipt says so). Best effort: an update that cannot be sent is
    /// dropped.
    fn forward_updates(
        &self,
        request: &ExecRequest,
        mut updates: tokio::sync::mpsc::Receiver<CallUpdate>,
    ) -> impl Future<Output = u32> + Send + 'static {
        let subject = updates_subject(self.pool.as_str(), &request.call);
        let (call, jti) = (request.call.clone(), request.jti.clone());
        let (events, key) = (self.events.clone(), self.key.clone());
        async move {
            let (mut seq, mut sent) = (0, 0);
            while let Some(update) = updates.recv().await {
                let Some(subject) = &subject else { continue };
                let claims = UpdateClaims {
                    call: call.clone(),
                    jti: jti.clone(),
                    seq,
                    update,
                };
                seq += 1;
                let token = tgw_proto::update::sign(&key, &claims);
                if events.publish(subject, token.into_bytes()).await.is_ok() {
                    sent += 1;
                }
            }
            sent
        }
    }

    /// Handles one request as it came off the bus: bytes that are not a
    /// request are refused, in the same answer format.
    pub async fn handle(&self, payload: &[u8]) -> ExecAnswer {
        match serde_json::from_slice::<ExecRequest>(payload) {
            Ok(request) => self.execute(&request).await,
            Err(e) => {
                let reply = ExecReply::refused(&Refusal::new(
                    RefusalCode::RequestUnreadable,
                    format!("the request is unreadable: {e}"),
                ));
                let receipt = self.receipt("", "", payload, &reply, 0);
                if let ExecReply::Refused { code, reason } = &reply {
                    self.audit
                        .record(
                            AuditKind::ExecutionRefused,
                            "",
                            json!({"pool": self.pool, "code": code, "reason": reason, "receipt": receipt}),
                        )
                        .await;
                }
                ExecAnswer { reply, receipt }
            }
        }
    }

    /// Serves the pool's requests from `requests` until it closes: each is
    /// acknowledged at once, then answered.
    pub async fn serve(
        self: Arc<Self>,
        requests: Arc<dyn Requests>,
    ) -> Result<tokio::task::JoinHandle<()>, BusError> {
        let mut deliveries = requests.serve(&exec_subject(self.pool.as_str())).await?;
        // Stop orders are best effort: without them a cancelled call's
        // tool runs to its end, and its answer goes nowhere.
        match self
            .events
            .subscribe(&stop_subject(self.pool.as_str()))
            .await
        {
            Ok(mut orders) => {
                let executor = Arc::downgrade(&self);
                tokio::spawn(async move {
                    while let Some(order) = orders.recv().await {
                        let Some(executor) = executor.upgrade() else {
                            return;
                        };
                        executor.stop(&order.payload);
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "no stop orders will be heard"),
        }
        Ok(tokio::spawn(async move {
            while let Some(delivery) = deliveries.recv().await {
                (delivery.ack)();
                let executor = self.clone();
                tokio::spawn(async move {
                    let answer = executor.handle(&delivery.payload).await;
                    (delivery.reply)(protocol::encode(&answer));
                });
            }
        }))
    }

    /// This executor's public key (the gateway trusts it with `tgw
    /// executors trust`).
    pub fn public_key(&self) -> TrustedKey {
        TrustedKey::new(self.key.verifying_key())
    }
}

pub fn unix_now() -> i64 {
    crate::audit::now_millis() / 1000
}
