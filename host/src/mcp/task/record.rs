//! A task as the bus store keeps it (`TGW_TASKS`, sealed by the gateway
//! key like every record there): whose it is, which call, and where it
//! stands. Its result is the executor's signed answer, checked again each
//! time it is read.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tgw_proto::refusal::Refusal;

use crate::gateway::SignedAnswer;
use crate::ids::{ApprovalId, TaskId};
use crate::mcp::input::{Question, Round};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRecord {
    pub id: TaskId,
    /// The principal who called: nobody else may read, answer or cancel
    /// it.
    pub owner: String,
    /// `skill.tool`, as policy and the audit log see it.
    pub tool: String,
    /// Milliseconds since the epoch.
    pub created: i64,
    pub updated: i64,
    /// How long after `created` it may be read.
    pub ttl_ms: u64,
    /// The client can be pointed at a URL (URL-mode elicitation): it is
    /// asked to open an approval's card.
    pub url_elicitation: bool,
    pub state: TaskState,
}

/// Where a task stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskState {
    /// Running, or waiting for a person to decide `approval`.
    Working {
        approval: Option<Waiting>,
    },
    /// The tool asked questions; `responses` holds the answers so far.
    InputRequired {
        questions: Vec<Question>,
        round: Round,
        responses: Map<String, Value>,
    },
    /// It ended.
    Ended {
        outcome: Outcome,
    },
    Cancelled,
}

impl TaskState {
    pub fn is_terminal(&self) -> bool {
        matches!(self, TaskState::Ended { .. } | TaskState::Cancelled)
    }
}

/// An approval the task waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiting {
    pub id: ApprovalId,
    /// When it expires (ms since the epoch).
    pub expires: i64,
    /// The client said it showed the person the card's URL.
    pub shown: bool,
}

/// How a task's call ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// An executor answered: its answer with the receipt it signed.
    Answered(Box<SignedAnswer>),
    /// The gateway refused the call (policy, a person, a check).
    Refused(Refusal),
    /// It failed before any executor answered.
    Failed { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_refuses_unknown_fields() {
        let record = TaskRecord {
            id: TaskId::from_random([1; 16]),
            owner: "ada".into(),
            tool: "files.write_file".into(),
            created: 1,
            updated: 2,
            ttl_ms: 3,
            url_elicitation: false,
            state: TaskState::Working {
                approval: Some(Waiting {
                    id: ApprovalId::from_random([2; 16]),
                    expires: 4,
                    shown: false,
                }),
            },
        };
        let json = serde_json::to_value(&record).unwrap_or_default();
        assert_eq!(json["state"]["status"], "working");
        let back: TaskRecord =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, record);
        let mut extra = json;
        extra["state"]["result"] = Value::from("forged");
        assert!(serde_json::from_value::<TaskRecord>(extra).is_err());
    }
}
