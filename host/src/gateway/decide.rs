//! Decide: the rules of the active policy, deny-overrides. A denial ends
//! the call here. A call waiting for a human is decided again whenever the
//! policy is replaced: a denial under the new policy ends it with that
//! reason (the approval is withdrawn); anything else keeps it waiting for
//! the human it asked, and the grant names the policy that decided last.

use serde_json::json;
use tgw_proto::refusal::{Refusal, RefusalCode};

use tgw_proto::grant::Approval;
use tokio::sync::oneshot;

use super::Gateway;
use crate::approval::ApprovalRecord;
use crate::audit::AuditKind;
use crate::ids::CallId;
use crate::policy::{Decision, Proposal, Verdict};

impl Gateway {
    /// Decide: the active policy's rules; audited as `decision`. A denial
    /// ends the call here.
    pub(super) async fn decide(
        &self,
        call: &str,
        proposal: &Proposal,
    ) -> Result<Decision, Refusal> {
        let decision = self.policy.current().decide(&self.runtime, proposal).await;
        self.audit
            .record(AuditKind::Decision, call, json!(decision))
            .await;
        if decision.verdict == Verdict::Deny {
            return Err(denied(&decision));
        }
        Ok(decision)
    }
}

impl Gateway {
    /// Waits for the human, deciding the call again each time the policy
    /// is replaced meanwhile. The decision returned is the last one, kept
    /// at require-approval: a human was asked, so a human decides.
    pub(super) async fn wait_under_policy(
        &self,
        call: &CallId,
        proposal: &Proposal,
        decision: Decision,
        pending: Option<oneshot::Sender<ApprovalRecord>>,
        longer: Option<std::time::Duration>,
    ) -> Result<(Decision, Approval), Refusal> {
        let mut replaced = self.policy.subscribe();
        replaced.mark_unchanged();
        let mut last = None;
        let wait = self
            .approvals
            .wait(call, proposal, &decision, pending, longer);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                approval = &mut wait => {
                    let decided = last.unwrap_or_else(|| decision.clone());
                    return approval.map(|a| (decided, a));
                }
                Ok(()) = replaced.changed() => {
                    let again = self.policy.current().decide(&self.runtime, proposal).await;
                    self.audit
                        .record(
                            AuditKind::Decision,
                            call,
                            json!({"again": "the policy was replaced while the call waited", "decision": again}),
                        )
                        .await;
                    if again.verdict == Verdict::Deny {
                        // Dropping the wait withdraws the approval: the
                        // card leaves every dashboard.
                        return Err(denied(&again).context("the policy changed while the call waited"));
                    }
                    last = Some(Decision {
                        verdict: Verdict::RequireApproval,
                        ..again
                    });
                }
            }
        }
    }
}

/// The refusal of a call policy denied, naming the rule.
pub(super) fn denied(decision: &Decision) -> Refusal {
    let by = decision
        .rule
        .as_deref()
        .map(|r| format!(" (rule {r:?})"))
        .unwrap_or_default();
    Refusal::new(
        RefusalCode::PolicyDenied,
        format!("denied by policy{by}: {}", decision.reason),
    )
}
