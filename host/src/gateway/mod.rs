//! The gateway: the life of a call from proposal to result.
//!
//! Propose → decide (policy) → approve (a human, when policy says so) →
//! grant (a 30-second Ed25519 grant bound to the canonical arguments) →
//! execute (an executor of the pool verifies and runs). Every step writes
//! an audit entry; any failure ends the call with a reason in words.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tgw_proto::grant::{Approval, Claims, GrantSigner};
use tgw_proto::webauthn::RelyingParty;
use tokio::sync::{broadcast, oneshot};

use tgw_proto::refusal::{Refusal, RefusalCode};

use crate::approval::{ApprovalRecord, ApprovalState, Approvals};
use crate::audit::{Audit, AuditKind, now_millis};
use crate::bus::{Bus, ExecReply, ExecRequest};
use crate::canonical::canonicalize;
use crate::executor::unix_now;
use crate::ids::{GroupName, Role};
use crate::policy::{Decision, LivePolicy, Proposal, Verdict};
use crate::registry::{LiveSkills, SkillSet};
use crate::runtime::Runtime;

mod passkey;
pub use passkey::ApprovalChallenge;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The `iss` of grants.
    pub issuer: String,
    /// The executor pool grants are for.
    pub pool: String,
    /// How long a call waits for a human.
    pub approval_expiry: Duration,
    /// How long the gateway waits for an executor's answer.
    pub exec_timeout: Duration,
    /// Grant lifetime, at most 30 s.
    pub grant_lifetime: Duration,
    /// Who passkeys are for: the RP ID and the dashboard's origin, from
    /// `--public-url`.
    pub relying_party: RelyingParty,
    /// Forbid approving one's own proposals.
    pub four_eyes: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            issuer: "tgw".into(),
            pool: "default".into(),
            approval_expiry: crate::approval::DEFAULT_EXPIRY,
            exec_timeout: Duration::from_secs(330),
            grant_lifetime: Duration::from_secs(30),
            relying_party: RelyingParty {
                id: "localhost".into(),
                origin: "http://localhost:8400".into(),
            },
            four_eyes: false,
        }
    }
}

/// A tool call as an agent proposes it.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub principal: String,
    /// The principal's account role.
    pub role: Role,
    /// The principal's groups: which skills they may use.
    pub groups: Vec<GroupName>,
    pub skill: String,
    pub tool: String,
    /// The arguments as the agent sent them (JSON).
    pub args: Vec<u8>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The tool ran and returned this.
    Done { output: String },
    /// The call was not run: policy, a human, or a check said no.
    Refused(Refusal),
    /// The tool ran (or was sent to run) and failed.
    Failed { reason: String },
}

impl CallResult {
    /// The refusal, if the call was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            CallResult::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }
}

/// What the dashboard and other watchers hear.
#[derive(Debug, Clone)]
pub enum GatewayEvent {
    ApprovalPending(Box<ApprovalRecord>),
    ApprovalDecided { id: String, state: ApprovalState },
}

pub struct Gateway {
    config: GatewayConfig,
    runtime: Arc<Runtime>,
    skills: Arc<LiveSkills>,
    policy: Arc<LivePolicy>,
    signer: GrantSigner,
    bus: Bus,
    approvals: Approvals,
    audit: Audit,
    events: broadcast::Sender<GatewayEvent>,
    people: crate::people::People,
    ceremonies: passkey::Ceremonies,
}

fn random_id() -> String {
    crate::ids::random_b64(16)
}

impl Gateway {
    pub fn new(
        config: GatewayConfig,
        runtime: Arc<Runtime>,
        skills: Arc<LiveSkills>,
        policy: Arc<LivePolicy>,
        signer: GrantSigner,
        bus: Bus,
    ) -> Self {
        let approvals = Approvals::new(bus.approvals.clone());
        let audit = Audit::new(bus.audit.clone());
        let (events, _) = broadcast::channel(256);
        let people = crate::people::People::new(bus.people.clone());
        Gateway {
            config,
            runtime,
            skills,
            policy,
            signer,
            bus,
            approvals,
            audit,
            events,
            people,
            ceremonies: passkey::Ceremonies::default(),
        }
    }

    pub fn policy(&self) -> &Arc<LivePolicy> {
        &self.policy
    }

    pub fn people(&self) -> &crate::people::People {
        &self.people
    }

    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The skills in force now.
    pub fn skills(&self) -> Arc<SkillSet> {
        self.skills.current()
    }

    pub fn live_skills(&self) -> &Arc<LiveSkills> {
        &self.skills
    }

    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.events.subscribe()
    }

    /// Denies a pending call; `approver` must be an active admin or
    /// approver.
    pub async fn deny(
        &self,
        id: &str,
        approver: &str,
        reason: &str,
    ) -> Result<ApprovalRecord, crate::approval::ApprovalError> {
        self.check_approver(approver, None).await?;
        let record = self.approvals.deny(id, approver, reason).await?;
        self.decided(&record);
        Ok(record)
    }

    /// Tells watchers; the waiting call writes the audit entry itself,
    /// before it goes on, so the log keeps the order of events.
    fn decided(&self, record: &ApprovalRecord) {
        let _ = self.events.send(GatewayEvent::ApprovalDecided {
            id: record.id.clone(),
            state: record.state.clone(),
        });
    }

    /// The whole life of one call.
    pub async fn propose(&self, request: CallRequest) -> CallResult {
        self.propose_watched(request, None).await
    }

    /// [`propose`](Self::propose), telling `pending` when the call starts
    /// to wait for a human (so an MCP client can be kept informed).
    /// Dropping the returned future withdraws a pending approval.
    pub async fn propose_watched(
        &self,
        request: CallRequest,
        pending: Option<oneshot::Sender<ApprovalRecord>>,
    ) -> CallResult {
        let call = random_id();
        match self.run_call(&call, request, pending).await {
            Ok(result) => result,
            Err(refusal) => {
                self.audit
                    .record(
                        AuditKind::CallRefused,
                        &call,
                        json!({"code": refusal.code(), "reason": refusal.as_reason()}),
                    )
                    .await;
                CallResult::Refused(refusal)
            }
        }
    }

    /// The stages of a call, in order. A refusal at any stage ends it.
    async fn run_call(
        &self,
        call: &str,
        request: CallRequest,
        pending: Option<oneshot::Sender<ApprovalRecord>>,
    ) -> Result<CallResult, Refusal> {
        let proposal = self.proposal(call, request).await?;
        let decision = self.decide(call, &proposal).await?;
        let approval = match decision.verdict {
            Verdict::Allow => None,
            Verdict::RequireApproval => Some(
                self.wait_for_approval(call, &proposal, &decision, pending)
                    .await?,
            ),
            Verdict::Deny => unreachable!("decide refuses denied calls"),
        };
        let exec = self.grant(call, &proposal, &decision, approval).await;
        self.execute(exec).await
    }

    /// Propose: the skill and tool exist, the caller may use them, and the
    /// arguments are canonical JSON; audited as `proposal`.
    async fn proposal(&self, call: &str, request: CallRequest) -> Result<Proposal, Refusal> {
        let skill = self.skills.current().get(&request.skill).ok_or_else(|| {
            Refusal::new(
                RefusalCode::UnknownSkill,
                format!("there is no skill {:?}", request.skill),
            )
        })?;
        let tool = skill.tool(&request.tool).ok_or_else(|| {
            Refusal::new(
                RefusalCode::UnknownTool,
                format!("skill {} has no tool {:?}", request.skill, request.tool),
            )
        })?;
        let audience = &skill.skill.manifest.audience;
        if !audience.admits(request.role, &request.groups) {
            return Err(Refusal::new(
                RefusalCode::NotInGroups,
                format!(
                    "{} may not use skill {} (it is for {})",
                    request.principal,
                    request.skill,
                    audience.describe()
                ),
            ));
        }
        let args = canonicalize(&request.args).map_err(|e| {
            Refusal::new(
                RefusalCode::BadArguments,
                format!("the arguments are refused: {e}"),
            )
        })?;
        if !args.bytes.starts_with(b"{") {
            return Err(Refusal::new(
                RefusalCode::BadArguments,
                "the arguments must be a JSON object",
            ));
        }
        self.audit
            .record(
                AuditKind::Proposal,
                call,
                json!({
                    "principal": request.principal, "role": request.role, "groups": request.groups,
                    "skill": request.skill, "tool": request.tool, "risk": tool.risk,
                    "component": skill.component.digest, "input_hash": args.input_hash,
                    "args": args.as_str(),
                }),
            )
            .await;
        Ok(Proposal {
            skill: request.skill,
            tool: request.tool,
            risk: tool.risk,
            component: skill.component.digest.clone(),
            principal: request.principal,
            role: request.role,
            groups: request.groups,
            args,
        })
    }

    /// Decide: the active policy's rules; audited as `decision`. A denial
    /// ends the call here.
    async fn decide(&self, call: &str, proposal: &Proposal) -> Result<Decision, Refusal> {
        let decision = self.policy.current().decide(&self.runtime, proposal).await;
        self.audit
            .record(AuditKind::Decision, call, json!(decision))
            .await;
        if decision.verdict == Verdict::Deny {
            let by = decision
                .rule
                .as_deref()
                .map(|r| format!(" (rule {r:?})"))
                .unwrap_or_default();
            return Err(Refusal::new(
                RefusalCode::PolicyDenied,
                format!("denied by policy{by}: {}", decision.reason),
            ));
        }
        Ok(decision)
    }

    /// Grant: a grant of at most 30 s bound to the canonical arguments, the
    /// component and the policy that decided; audited as `grant`.
    async fn grant(
        &self,
        call: &str,
        proposal: &Proposal,
        decision: &Decision,
        approval: Option<Approval>,
    ) -> ExecRequest {
        let now = unix_now();
        let claims = Claims {
            iss: self.config.issuer.clone(),
            aud: self.config.pool.clone(),
            sub: proposal.principal.clone(),
            jti: random_id(),
            iat: now,
            nbf: now,
            exp: now + self.config.grant_lifetime.as_secs().min(30) as i64,
            skill: proposal.skill.clone(),
            tool: proposal.tool.clone(),
            component: proposal.component.clone(),
            input_hash: proposal.args.input_hash.clone(),
            policy: decision.policy.clone(),
            approval,
        };
        let grant = self.signer.sign(&claims);
        self.audit
            .record(
                AuditKind::Grant,
                call,
                json!({"jti": claims.jti, "kid": self.signer.kid(), "aud": claims.aud, "exp": claims.exp}),
            )
            .await;
        ExecRequest {
            call: call.to_owned(),
            grant: grant.token().to_owned(),
            args: proposal.args.as_str().to_owned(),
        }
    }

    /// Execute: one executor of the pool verifies and runs; its refusal
    /// keeps its code.
    async fn execute(&self, exec: ExecRequest) -> Result<CallResult, Refusal> {
        match self
            .bus
            .exec
            .execute(&self.config.pool, &exec, self.config.exec_timeout)
            .await
        {
            Ok(ExecReply::Done { output }) => Ok(CallResult::Done { output }),
            Ok(ExecReply::Refused { code, reason }) => {
                Err(Refusal::new(code, reason).context("the executor refused"))
            }
            Ok(ExecReply::Failed { reason }) => Ok(CallResult::Failed { reason }),
            Err(e) => Ok(CallResult::Failed {
                reason: e.to_string(),
            }),
        }
    }

    /// Approve: opens an approval and waits for its end; `Ok` with the
    /// approval's evidence when a human approved.
    async fn wait_for_approval(
        &self,
        call: &str,
        proposal: &Proposal,
        decision: &Decision,
        pending: Option<oneshot::Sender<ApprovalRecord>>,
    ) -> Result<Approval, Refusal> {
        let created = now_millis();
        let record = ApprovalRecord {
            id: random_id(),
            call: call.to_owned(),
            skill: proposal.skill.clone(),
            tool: proposal.tool.clone(),
            risk: proposal.risk,
            component: proposal.component.clone(),
            principal: proposal.principal.clone(),
            args: proposal.args.as_str().to_owned(),
            input_hash: proposal.args.input_hash.clone(),
            policy: decision.policy.clone(),
            rule: decision.rule.clone(),
            reason: decision.reason.clone(),
            created,
            expires: created + self.config.approval_expiry.as_millis() as i64,
            state: ApprovalState::Pending,
        };
        let mut decided = self.approvals.open(&record).await.map_err(|e| {
            Refusal::new(
                RefusalCode::StateUnavailable,
                format!("the approval could not be recorded: {e}"),
            )
        })?;
        // If the caller goes away (a cancelled MCP call), withdraw.
        let guard = WithdrawOnDrop {
            approvals: self.approvals.clone(),
            audit: self.audit.clone(),
            events: self.events.clone(),
            call: call.to_owned(),
            id: Some(record.id.clone()),
        };
        self.audit
            .record(
                AuditKind::ApprovalPending,
                call,
                json!({"approval": record.id, "rule": record.rule, "reason": record.reason, "expires": record.expires}),
            )
            .await;
        let _ = self
            .events
            .send(GatewayEvent::ApprovalPending(Box::new(record.clone())));
        if let Some(pending) = pending {
            let _ = pending.send(record.clone());
        }

        let deadline = tokio::time::Instant::now() + self.config.approval_expiry;
        let state = loop {
            let state = decided.borrow_and_update().clone();
            if state != ApprovalState::Pending {
                break state;
            }
            tokio::select! {
                _ = decided.changed() => {}
                () = tokio::time::sleep_until(deadline) => {
                    break match self.approvals.expire(&record.id).await {
                        Ok(expired) => {
                            self.decided(&expired);
                            expired.state
                        }
                        // Decided at the last moment, or elsewhere.
                        Err(_) => self.approvals.get(&record.id).await.ok().flatten().map_or(ApprovalState::Expired { at: now_millis() }, |r| r.state),
                    };
                }
                // Another gateway process may have decided it: look.
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if let Ok(Some(current)) = self.approvals.get(&record.id).await
                        && current.state != ApprovalState::Pending
                    {
                        break current.state;
                    }
                }
            }
        };
        guard.disarm();
        self.audit
            .record(
                AuditKind::ApprovalDecided,
                call,
                json!({"approval": record.id, "state": state}),
            )
            .await;
        match state {
            ApprovalState::Approved { by, evidence, .. } => Ok(Approval {
                id: record.id.clone(),
                approver: by,
                credential_id: evidence.credential_id,
                nonce: evidence.nonce,
                authenticator_data: evidence.authenticator_data,
                client_data_json: evidence.client_data_json,
                signature: evidence.signature,
            }),
            ApprovalState::Denied { by, reason, .. } => Err(Refusal::new(
                RefusalCode::ApprovalDenied,
                format!("denied by {by}: {reason}"),
            )),
            ApprovalState::Expired { .. } => Err(Refusal::new(
                RefusalCode::ApprovalExpired,
                format!(
                    "nobody approved the call within {}",
                    human(self.config.approval_expiry)
                ),
            )),
            ApprovalState::Withdrawn { .. } | ApprovalState::Pending => Err(Refusal::new(
                RefusalCode::ApprovalWithdrawn,
                "the call was withdrawn",
            )),
        }
    }
}

/// `300 s`, or `300 ms` below a second.
fn human(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// Withdraws a pending approval whose caller went away, and says so (the
/// audit log, and every dashboard, so the card leaves).
struct WithdrawOnDrop {
    approvals: Approvals,
    audit: Audit,
    events: broadcast::Sender<GatewayEvent>,
    call: String,
    id: Option<String>,
}

impl WithdrawOnDrop {
    fn disarm(mut self) {
        if let Some(id) = self.id.take() {
            self.approvals.forget(&id);
        }
    }
}

impl Drop for WithdrawOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let approvals = self.approvals.clone();
            let audit = self.audit.clone();
            let events = self.events.clone();
            let call = std::mem::take(&mut self.call);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Ok(record) = approvals.withdraw(&id).await {
                        audit
                            .record(
                                AuditKind::ApprovalDecided,
                                &call,
                                json!({"approval": id, "state": record.state}),
                            )
                            .await;
                        let _ = events.send(GatewayEvent::ApprovalDecided {
                            id,
                            state: record.state,
                        });
                    }
                });
            }
        }
    }
}
