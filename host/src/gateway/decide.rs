//! Decide: the rules of the active policy, deny-overrides. A denial ends
//! the call here.

use serde_json::json;
use tgw_proto::refusal::{Refusal, RefusalCode};

use super::Gateway;
use crate::audit::AuditKind;
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
