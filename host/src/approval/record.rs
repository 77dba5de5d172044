//! The approval record: what an approver sees and decides on, and the
//! states it moves through (pending, then exactly one of approved, denied,
//! expired or withdrawn).

use serde::{Deserialize, Serialize};

use crate::backend::StoreError;
use crate::ids::{ApprovalId, CallId, Digest, SkillName, ToolName};

/// What an approver sees and decides on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    pub call: CallId,
    pub skill: SkillName,
    pub tool: ToolName,
    pub risk: crate::runtime::Risk,
    pub component: Digest,
    pub principal: String,
    /// The canonical arguments, in full.
    pub args: String,
    pub input_hash: String,
    pub policy: String,
    pub rule: Option<String>,
    pub reason: String,
    /// Unix milliseconds.
    pub created: i64,
    pub expires: i64,
    pub state: ApprovalState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ApprovalState {
    Pending,
    Approved {
        by: String,
        at: i64,
        evidence: PasskeyEvidence,
    },
    Denied {
        by: String,
        at: i64,
        reason: String,
    },
    Expired {
        at: i64,
    },
    Withdrawn {
        at: i64,
    },
}

/// The passkey assertion an approval was made with (base64url values),
/// carried into the grant so an executor can check it itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyEvidence {
    pub credential_id: String,
    pub nonce: String,
    pub authenticator_data: String,
    pub client_data_json: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("{0}")]
    NotAllowed(String),
    #[error("the passkey check failed: {0}")]
    Passkey(#[from] tgw_proto::webauthn::WebAuthnError),
    #[error("this passkey is suspended ({0}); an admin can enable it again on the People page")]
    Suspended(String),
    #[error(transparent)]
    People(#[from] crate::people::PeopleError),
    #[error("no approval {0}")]
    NotFound(String),
    #[error("approval {id} is already {state}")]
    AlreadyDecided { id: String, state: &'static str },
    #[error("approval {0} has expired")]
    Expired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    /// A stable name for the reason, for programs (the dashboard's API
    /// answers carry it).
    pub fn code(&self) -> &'static str {
        match self {
            ApprovalError::NotAllowed(_) => "not-allowed",
            ApprovalError::Passkey(tgw_proto::webauthn::WebAuthnError::SignCountRegressed {
                ..
            }) => "passkey-counter-regressed",
            ApprovalError::Passkey(_) => "passkey-refused",
            ApprovalError::Suspended(_) => "passkey-suspended",
            ApprovalError::People(_) => "people-unavailable",
            ApprovalError::NotFound(_) => "not-found",
            ApprovalError::AlreadyDecided { .. } => "already-decided",
            ApprovalError::Expired(_) => "expired",
            ApprovalError::Store(_) => "state-unavailable",
        }
    }
}

impl ApprovalState {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Denied { .. } => "denied",
            ApprovalState::Expired { .. } => "expired",
            ApprovalState::Withdrawn { .. } => "withdrawn",
        }
    }
}
