//! What an audit entry is about: one name per step of a call's life, and
//! the few events outside a call.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditKind {
    /// A call was proposed: who, which tool, the canonical arguments.
    #[serde(rename = "proposal")]
    Proposal,
    /// Policy's decision, with every rule's answer.
    #[serde(rename = "decision")]
    Decision,
    /// The call waits for a human.
    #[serde(rename = "approval.pending")]
    ApprovalPending,
    /// The wait ended: approved, denied, expired or withdrawn.
    #[serde(rename = "approval.decided")]
    ApprovalDecided,
    /// The gateway signed an execution grant.
    #[serde(rename = "grant")]
    Grant,
    /// A door refused a request before it became a call (MCP, OAuth, the
    /// dashboard): which door, who if known, the refusal code.
    #[serde(rename = "request.refused")]
    RequestRefused,
    /// The gateway refused the call, with the refusal code.
    #[serde(rename = "call.refused")]
    CallRefused,
    /// An executor refused to run the tool, with the refusal code.
    #[serde(rename = "execution.refused")]
    ExecutionRefused,
    /// The tool ran.
    #[serde(rename = "execution.done")]
    ExecutionDone,
    /// The tool ran and failed (its own error or a sandbox limit).
    #[serde(rename = "execution.failed")]
    ExecutionFailed,
    /// A person allowed or denied an OAuth client.
    #[serde(rename = "oauth.consent")]
    OauthConsent,
    /// A record read from the store failed its signature check (forged,
    /// moved or replayed) and was treated as absent.
    #[serde(rename = "record.tampered")]
    RecordTampered,
    /// An admin changed who may do what on the dashboard: an invitation,
    /// a person disabled, their groups set, their tokens revoked.
    #[serde(rename = "admin.action")]
    AdminAction,
    /// A passkey was suspended (its signature counter went back) or an
    /// admin enabled it again.
    #[serde(rename = "passkey.suspended")]
    PasskeySuspended,
    #[serde(rename = "passkey.enabled")]
    PasskeyEnabled,
    /// A skill folder was left out: a bad manifest, a name another folder
    /// has, a component that does not load.
    #[serde(rename = "skill.refused")]
    SkillRefused,
    /// An answer on the bus that no trusted executor signed, or whose
    /// receipt does not match the call: discarded, and the call failed.
    #[serde(rename = "reply.forged")]
    ReplyForged,
    /// The keys a process trusts, as it starts (`"start": true`), and
    /// each change it takes up (`tgw keys trust|untrust`, `tgw executors
    /// trust|untrust`, a rotation): which keys came and went.
    #[serde(rename = "trust.changed")]
    TrustChanged,
}

impl AuditKind {
    pub const ALL: [AuditKind; 18] = [
        AuditKind::Proposal,
        AuditKind::Decision,
        AuditKind::ApprovalPending,
        AuditKind::ApprovalDecided,
        AuditKind::Grant,
        AuditKind::RequestRefused,
        AuditKind::CallRefused,
        AuditKind::ExecutionRefused,
        AuditKind::ExecutionDone,
        AuditKind::ExecutionFailed,
        AuditKind::OauthConsent,
        AuditKind::RecordTampered,
        AuditKind::AdminAction,
        AuditKind::PasskeySuspended,
        AuditKind::PasskeyEnabled,
        AuditKind::SkillRefused,
        AuditKind::ReplyForged,
        AuditKind::TrustChanged,
    ];

    /// The name in the log (`approval.pending`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::Proposal => "proposal",
            AuditKind::Decision => "decision",
            AuditKind::ApprovalPending => "approval.pending",
            AuditKind::ApprovalDecided => "approval.decided",
            AuditKind::Grant => "grant",
            AuditKind::RequestRefused => "request.refused",
            AuditKind::CallRefused => "call.refused",
            AuditKind::ExecutionRefused => "execution.refused",
            AuditKind::ExecutionDone => "execution.done",
            AuditKind::ExecutionFailed => "execution.failed",
            AuditKind::OauthConsent => "oauth.consent",
            AuditKind::RecordTampered => "record.tampered",
            AuditKind::AdminAction => "admin.action",
            AuditKind::PasskeySuspended => "passkey.suspended",
            AuditKind::PasskeyEnabled => "passkey.enabled",
            AuditKind::SkillRefused => "skill.refused",
            AuditKind::ReplyForged => "reply.forged",
            AuditKind::TrustChanged => "trust.changed",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serialises_as_its_name() {
        for kind in AuditKind::ALL {
            let text = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(text, format!("\"{}\"", kind.as_str()));
        }
    }
}
