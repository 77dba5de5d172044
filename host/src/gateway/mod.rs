//! The gateway: the life of a call from proposal to result.
//!
//! Propose → decide (policy) → approve (a human, when policy says so) →
//! grant (a 30-second Ed25519 grant bound to the canonical arguments) →
//! execute (an executor of the pool verifies and runs): one file per
//! stage, and the approval workflow in `crate::approval`. Every step writes
//! an audit entry; any failure ends the call with a refusal: a stable code
//! and a reason in words.

mod decide;
mod execute;
mod grant;
mod propose;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tgw_proto::grant::GrantSigner;
use tgw_proto::refusal::Refusal;
use tgw_proto::webauthn::RelyingParty;
use tokio::sync::oneshot;

use crate::approval::{ApprovalRecord, ApprovalWorkflow};
use crate::audit::{Audit, AuditKind};
use crate::backend::{Bucket, Events, Requests};
use crate::ids::{CallId, GroupName, Pool, Role, SkillName, ToolName};
use crate::policy::{LivePolicy, Verdict};
use crate::registry::LiveSkills;
use crate::runtime::{CallUpdate, OutputFormat, Runtime};

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The `iss` of grants.
    pub issuer: String,
    /// The executor pool grants are for.
    pub pool: Pool,
    /// How long a call waits for a human.
    pub approval_expiry: Duration,
    /// How long the gateway waits for an executor to take a request (one
    /// nobody took goes to another executor of the pool).
    pub exec_ack: Duration,
    /// How long past the skill's `timeout_ms` the gateway waits for the
    /// answer of an executor that took the request, before telling the
    /// caller the executor went away.
    pub exec_grace: Duration,
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
            pool: Pool::default(),
            approval_expiry: crate::approval::DEFAULT_EXPIRY,
            exec_ack: Duration::from_secs(2),
            exec_grace: Duration::from_secs(5),
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
    pub skill: SkillName,
    pub tool: ToolName,
    /// The arguments as the agent sent them (JSON).
    pub args: Vec<u8>,
    /// The trace the client says the call belongs to (W3C `traceparent`,
    /// from MCP's `_meta`): in the proposal's audit entry.
    pub trace: Option<tgw_parse::mcp::TraceParent>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The tool ran and returned this (see [`OutputFormat`]).
    Done {
        output: String,
        format: OutputFormat,
    },
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

/// The control plane of one gateway: it proposes, decides, waits for
/// humans through the approval workflow, grants, and hands calls to the
/// executor pool. Built once, by `crate::app`.
pub struct Gateway {
    config: GatewayConfig,
    runtime: Arc<Runtime>,
    skills: Arc<LiveSkills>,
    policy: Arc<LivePolicy>,
    signer: GrantSigner,
    executors: crate::trust::LiveTrust,
    requests: Arc<dyn Requests>,
    events: Arc<dyn Events>,
    approvals: Arc<ApprovalWorkflow>,
    audit: Audit,
    /// Where the policies in force are recorded for executors
    /// (`crate::policy::in_force`), and the digests recorded so far.
    policies: Arc<dyn Bucket>,
    recorded: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What a gateway is made of (see `crate::app`).
pub struct GatewayParts {
    pub config: GatewayConfig,
    pub runtime: Arc<Runtime>,
    pub skills: Arc<LiveSkills>,
    pub policy: Arc<LivePolicy>,
    pub signer: GrantSigner,
    /// The executor keys whose signed receipts are believed, as they are
    /// now.
    pub executors: crate::trust::LiveTrust,
    /// Where execution requests go (`tgw.exec.<pool>`).
    pub requests: Arc<dyn Requests>,
    /// Where the executors' signed updates of running calls are heard.
    pub events: Arc<dyn Events>,
    pub approvals: Arc<ApprovalWorkflow>,
    pub audit: Audit,
    /// The sealed people bucket, where the policies in force are recorded.
    pub policies: Arc<dyn Bucket>,
}

impl Gateway {
    pub fn new(parts: GatewayParts) -> Self {
        let GatewayParts {
            config,
            runtime,
            skills,
            policy,
            signer,
            executors,
            requests,
            events,
            approvals,
            audit,
            policies,
        } = parts;
        Gateway {
            policies,
            recorded: std::sync::Mutex::default(),
            config,
            runtime,
            skills,
            policy,
            signer,
            executors,
            requests,
            events,
            approvals,
            audit,
        }
    }

    /// Withdraws the pending approval `id` (see
    /// [`ApprovalWorkflow::withdraw`]).
    pub async fn withdraw(
        &self,
        id: &str,
    ) -> Result<ApprovalRecord, crate::approval::ApprovalError> {
        self.approvals.withdraw(id).await
    }

    /// The whole life of one call.
    pub async fn propose(&self, request: CallRequest) -> CallResult {
        self.propose_watched(request, Watch::default()).await
    }

    /// [`propose`](Self::propose), keeping `watch` informed (so an MCP
    /// client can be). Dropping the returned future withdraws a pending
    /// approval.
    pub async fn propose_watched(&self, request: CallRequest, watch: Watch) -> CallResult {
        let call = crate::ids::new_call_id();
        match self.run_call(&call, request, watch).await {
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
        call: &CallId,
        request: CallRequest,
        watch: Watch,
    ) -> Result<CallResult, Refusal> {
        let proposal = self.proposal(call, request).await?;
        let decision = self.decide(call, &proposal).await?;
        let (decision, approval) = match decision.verdict {
            Verdict::Allow => (decision, None),
            Verdict::RequireApproval => {
                let longer = decision.task_approval.filter(|_| watch.task);
                let (decision, approval) = self
                    .wait_under_policy(call, &proposal, decision, watch.pending, longer)
                    .await?;
                (decision, Some(approval))
            }
            // `decide` refuses denials; should one come through, it is one.
            Verdict::Deny => return Err(decide::denied(&decision)),
        };
        let exec = self.grant(call, &proposal, &decision, approval).await?;
        self.execute(exec, &proposal, watch.updates, watch.receipt)
            .await
    }
}

/// Who hears how a call is going, besides its result.
#[derive(Debug, Default)]
pub struct Watch {
    /// Told when the call starts to wait for a human.
    pub pending: Option<oneshot::Sender<ApprovalRecord>>,
    /// Hears the running tool's progress and log lines, each checked
    /// against the signature of a trusted executor first.
    pub updates: Option<tokio::sync::mpsc::Sender<CallUpdate>>,
    /// Gets the executor's signed answer, once believed: what a task
    /// keeps as its result (see [`Gateway::reread`]).
    pub receipt: Option<oneshot::Sender<SignedAnswer>>,
    /// The call is an MCP task: it may wait for a person as long as its
    /// rule's `task_approval_minutes` says.
    pub task: bool,
}

/// An executor's answer with its receipt and what the receipt must bind:
/// a result that can be checked again later, by any gateway of the
/// deployment, against the executor keys it trusts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAnswer {
    pub call: String,
    pub jti: String,
    pub input_hash: String,
    pub answer: crate::executor::protocol::ExecAnswer,
}
