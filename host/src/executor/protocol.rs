//! What travels between the gateway and an executor on `tgw.exec.<pool>`:
//! a grant with the canonical arguments it binds, and the executor's
//! answer. JSON, `deny_unknown_fields`.

use serde::{Deserialize, Serialize};
use tgw_proto::refusal::{Refusal, RefusalCode};

/// What the gateway sends an executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// The call this belongs to, for the audit log.
    pub call: String,
    pub grant: String,
    /// Canonical JSON text of the arguments.
    pub args: String,
}

/// An executor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ExecReply {
    /// The tool ran and returned this.
    Done { output: String },
    /// The executor refused to run the tool: a stable code and the reason.
    Refused { code: RefusalCode, reason: String },
    /// The tool ran and failed (its own error or a sandbox limit).
    Failed { reason: String },
}

impl ExecReply {
    pub fn refused(refusal: &Refusal) -> Self {
        ExecReply::Refused {
            code: refusal.code(),
            reason: refusal.as_reason().to_owned(),
        }
    }
}

/// Our own messages are plain structs of strings: serde_json cannot fail
/// on them.
pub fn encode(message: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}
