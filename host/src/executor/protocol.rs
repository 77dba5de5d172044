//! What travels between the gateway and an executor on `tgw.exec.<pool>`:
//! a grant with the canonical arguments it binds, and the executor's
//! answer with its signed receipt. JSON, `deny_unknown_fields`. While a
//! tool runs, the executor also publishes its signed progress and log
//! lines (`tgw_proto::update`) on `tgw.updates.<pool>.<call>`.

use serde::{Deserialize, Serialize};
use tgw_proto::receipt::OutputFormat;
use tgw_proto::refusal::{Refusal, RefusalCode};

/// What the gateway sends an executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    /// The call this belongs to, for the audit log.
    pub call: String,
    /// The grant's `jti`, echoed in the receipt (a grant that runs must
    /// carry this one).
    pub jti: String,
    pub grant: String,
    /// Canonical JSON text of the arguments.
    pub args: String,
}

/// An executor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ExecReply {
    /// The tool ran and returned this.
    Done {
        output: String,
        /// How `output` is read (absent: text).
        #[serde(default, skip_serializing_if = "OutputFormat::is_text")]
        format: OutputFormat,
    },
    /// The executor refused to run the tool: a stable code and the reason.
    Refused { code: RefusalCode, reason: String },
    /// The tool ran and failed (its own error or a sandbox limit).
    Failed { reason: String },
}

/// An executor's answer and its receipt (`tgw_proto::receipt`), which
/// binds the call, the grant, the input, the outcome and the answer's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecAnswer {
    pub reply: ExecReply,
    pub receipt: String,
}

impl ExecReply {
    /// The outcome, the text the receipt hashes, and how it is read.
    pub fn outcome(&self) -> (tgw_proto::receipt::Outcome, &str, OutputFormat) {
        use tgw_proto::receipt::Outcome;
        match self {
            ExecReply::Done { output, format } => (Outcome::Done, output, *format),
            ExecReply::Refused { reason, .. } => (Outcome::Refused, reason, OutputFormat::Text),
            ExecReply::Failed { reason } => (Outcome::Failed, reason, OutputFormat::Text),
        }
    }

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
