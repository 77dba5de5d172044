//! Refusals: why a call did not run, as a stable code for programs and a
//! sentence for a person.
//!
//! The code travels everywhere a refusal does: in an executor's reply, in
//! the audit log (`call.refused`, `execution.refused`), in the `_meta` of an
//! MCP result (`tgw/refusal`) and on the dashboard. Codes never change
//! meaning; the sentence may be reworded.

use serde::{Deserialize, Serialize};

use crate::grant::VerifyError;

/// One case per reason a call is refused. Serialised in kebab-case
/// (`not-in-groups`), which is also [`RefusalCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalCode {
    // The proposal.
    /// No skill of that name is loaded.
    UnknownSkill,
    /// The skill has no tool of that name.
    UnknownTool,
    /// The caller is in none of the skill's `[access] groups`.
    NotInGroups,
    /// The access token lacks the scope for this request.
    MissingScope,
    /// The request names a key twice in one object, anywhere in it: two
    /// parsers could read it differently, so it is refused at the door.
    DuplicateKey,
    /// The arguments are not acceptable JSON (duplicate keys, NaN, too big,
    /// too deep, numbers beyond 2^53, not an object).
    BadArguments,
    /// A retry after a tool's questions carries a `requestState` this
    /// gateway did not seal for this caller, tool and arguments, or one
    /// that expired.
    RequestStateInvalid,

    // The decision and the human.
    /// A policy rule (or the policy's default) denied the call.
    PolicyDenied,
    /// An approver denied the call.
    ApprovalDenied,
    /// Nobody decided before the approval expired.
    ApprovalExpired,
    /// The proposer went away while the call waited.
    ApprovalWithdrawn,
    /// The state the decision needs (approvals, people, audit) could not be
    /// read or written.
    StateUnavailable,
    /// A record the decision rests on (an approval, a person) is not
    /// signed by a trusted gateway key, or is older than one already seen.
    RecordTampered,
    /// The audit entry that must precede a step could not be written, so
    /// the step did not happen.
    AuditUnavailable,
    /// The executor's answer is not signed by a trusted executor, or its
    /// receipt does not match the call: a forgery on the bus.
    ForgedExecutorReply,

    // The executor.
    /// The executor could not read the request.
    RequestUnreadable,
    /// The argument bytes are not canonical JSON.
    ArgumentsNotCanonical,
    /// The grant is not a well-formed token.
    GrantMalformed,
    /// The grant's header names another token type.
    GrantWrongType,
    /// The grant is signed with an algorithm other than EdDSA.
    GrantWrongAlgorithm,
    /// The grant's header carries a field that is not allowed.
    GrantForbiddenHeader,
    /// The grant's key id is not in the executor's trust set.
    GrantUnknownKey,
    /// The grant's signature does not verify.
    GrantBadSignature,
    /// A claim is missing, mistyped or unknown.
    GrantBadClaim,
    /// The grant has expired.
    GrantExpired,
    /// The grant is not valid yet.
    GrantNotYetValid,
    /// The grant lives longer than 30 seconds.
    GrantLifetimeTooLong,
    /// The grant is for another executor pool.
    GrantWrongAudience,
    /// The arguments are not the ones the grant binds.
    GrantHashMismatch,
    /// The grant-verifier component did not finish (trap, fuel, time).
    VerifierFailed,
    /// The verifier component and the host disagree about a grant.
    VerifierDisagrees,
    /// The grant was decided by a policy the deployment did not have in
    /// force during the grant's lifetime (replaced before it, or never).
    PolicyNotInForce,
    /// The executor has no skill by the grant's name, or no such tool.
    SkillMissing,
    /// The skill's component is not the build the grant names.
    ComponentMismatch,
    /// A destructive tool's grant carries no valid human passkey approval.
    NoHumanApproval,
    /// The grant's nonce was already spent.
    NonceSpent,
    /// The nonce ledger cannot be reached, so nothing runs.
    LedgerUnavailable,
}

impl RefusalCode {
    /// The code as it appears on the wire and in the audit log.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalCode::UnknownSkill => "unknown-skill",
            RefusalCode::UnknownTool => "unknown-tool",
            RefusalCode::NotInGroups => "not-in-groups",
            RefusalCode::MissingScope => "missing-scope",
            RefusalCode::DuplicateKey => "duplicate-key",
            RefusalCode::BadArguments => "bad-arguments",
            RefusalCode::RequestStateInvalid => "request-state-invalid",
            RefusalCode::PolicyDenied => "policy-denied",
            RefusalCode::ApprovalDenied => "approval-denied",
            RefusalCode::ApprovalExpired => "approval-expired",
            RefusalCode::ApprovalWithdrawn => "approval-withdrawn",
            RefusalCode::StateUnavailable => "state-unavailable",
            RefusalCode::RecordTampered => "record-tampered",
            RefusalCode::AuditUnavailable => "audit-unavailable",
            RefusalCode::ForgedExecutorReply => "forged-executor-reply",
            RefusalCode::RequestUnreadable => "request-unreadable",
            RefusalCode::ArgumentsNotCanonical => "arguments-not-canonical",
            RefusalCode::GrantMalformed => "grant-malformed",
            RefusalCode::GrantWrongType => "grant-wrong-type",
            RefusalCode::GrantWrongAlgorithm => "grant-wrong-algorithm",
            RefusalCode::GrantForbiddenHeader => "grant-forbidden-header",
            RefusalCode::GrantUnknownKey => "grant-unknown-key",
            RefusalCode::GrantBadSignature => "grant-bad-signature",
            RefusalCode::GrantBadClaim => "grant-bad-claim",
            RefusalCode::GrantExpired => "grant-expired",
            RefusalCode::GrantNotYetValid => "grant-not-yet-valid",
            RefusalCode::GrantLifetimeTooLong => "grant-lifetime-too-long",
            RefusalCode::GrantWrongAudience => "grant-wrong-audience",
            RefusalCode::GrantHashMismatch => "grant-hash-mismatch",
            RefusalCode::VerifierFailed => "verifier-failed",
            RefusalCode::VerifierDisagrees => "verifier-disagrees",
            RefusalCode::PolicyNotInForce => "policy-not-in-force",
            RefusalCode::SkillMissing => "skill-missing",
            RefusalCode::ComponentMismatch => "component-mismatch",
            RefusalCode::NoHumanApproval => "no-human-approval",
            RefusalCode::NonceSpent => "nonce-spent",
            RefusalCode::LedgerUnavailable => "ledger-unavailable",
        }
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused call: the stable code and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(deny_unknown_fields)]
#[error("{reason}")]
pub struct Refusal {
    code: RefusalCode,
    reason: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> RefusalCode {
        self.code
    }

    /// The reason, for a person.
    pub fn as_reason(&self) -> &str {
        &self.reason
    }

    /// The same code, with `context` before the reason
    /// ("the executor refused: …").
    #[must_use]
    pub fn context(self, context: &str) -> Self {
        Refusal {
            code: self.code,
            reason: format!("{context}: {}", self.reason),
        }
    }
}

impl VerifyError {
    /// The refusal code of this reason.
    pub fn code(&self) -> RefusalCode {
        match self {
            VerifyError::Malformed(_) => RefusalCode::GrantMalformed,
            VerifyError::WrongType(_) => RefusalCode::GrantWrongType,
            VerifyError::WrongAlgorithm(_) => RefusalCode::GrantWrongAlgorithm,
            VerifyError::ForbiddenHeader(_) => RefusalCode::GrantForbiddenHeader,
            VerifyError::UnknownKey(_) => RefusalCode::GrantUnknownKey,
            VerifyError::BadSignature => RefusalCode::GrantBadSignature,
            VerifyError::BadClaim(_) => RefusalCode::GrantBadClaim,
            VerifyError::Expired => RefusalCode::GrantExpired,
            VerifyError::NotYetValid => RefusalCode::GrantNotYetValid,
            VerifyError::LifetimeTooLong => RefusalCode::GrantLifetimeTooLong,
            VerifyError::WrongAudience(_) => RefusalCode::GrantWrongAudience,
            VerifyError::HashMismatch => RefusalCode::GrantHashMismatch,
        }
    }
}

impl From<VerifyError> for Refusal {
    fn from(error: VerifyError) -> Self {
        Refusal::new(error.code(), format!("the grant is refused: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            RefusalCode::NotInGroups,
            RefusalCode::GrantExpired,
            RefusalCode::NonceSpent,
        ] {
            let text = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(text, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn a_refusal_keeps_its_code_through_context() {
        let refusal = Refusal::from(VerifyError::Expired).context("the executor refused");
        assert_eq!(refusal.code(), RefusalCode::GrantExpired);
        assert_eq!(
            refusal.as_reason(),
            "the executor refused: the grant is refused: the grant has expired"
        );
    }
}
