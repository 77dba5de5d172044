//! Questions a tool asks the calling person before it answers (MCP's
//! multi round-trip requests, SEP-2322, with form elicitation).
//!
//! A 0.2.0 tool answers `input-required` with its questions. The gateway
//! asks them the way the client speaks:
//!
//! - a 2026-07-28 client gets an `InputRequiredResult`: the questions as
//!   `elicitation/create` input requests, and a `requestState` that the
//!   gateway seals (HMAC-SHA256, rmcp's `RequestStateCodec`) over the
//!   questions asked and the answers so far, bound to the caller, the tool
//!   and the exact arguments, for ten minutes. A retry whose state does not
//!   open is refused (`request-state-invalid`) and audited. A request
//!   without a state may answer ahead, for its first round's questions.
//! - a 2025-11-25 session is asked with server-to-client `elicitation/create`
//!   requests during the call.
//!
//! Either way the answers go back to the tool as a new proposal: the same
//! arguments plus `"$input"` (the answers by question key), decided by
//! policy like any call. A client may not send `"$input"` itself.

use std::time::Duration;

use rmcp::model::{ElicitRequestParams, InputRequest, InputRequests, InputResponses};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// The member of the arguments that carries the answers.
pub const INPUT_KEY: &str = "$input";

/// How many rounds of questions one call may take.
pub const MAX_ROUNDS: u32 = 8;

/// How long a sealed request state opens.
const STATE_LIFETIME: Duration = Duration::from_secs(600);

/// The largest answer kept, as JSON text.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// One question, as the executor signed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Question {
    pub key: String,
    pub message: String,
    pub requested_schema: Value,
}

/// A tool's questions from its signed answer.
pub fn questions(output: &str) -> Result<Vec<Question>, String> {
    serde_json::from_str(output).map_err(|e| format!("the tool's questions are unreadable: {e}"))
}

/// `question` as MCP's form elicitation parameters (its schema must be
/// one MCP's forms allow).
pub fn form(question: &Question) -> Result<ElicitRequestParams, String> {
    serde_json::from_value(json!({
        "mode": "form",
        "message": question.message,
        "requestedSchema": question.requested_schema,
    }))
    .map_err(|e| {
        format!(
            "question {} cannot be asked as a form (MCP forms take an object of primitive \
             properties): {e}",
            question.key
        )
    })
}

/// The questions as the input requests of an `InputRequiredResult`.
pub fn input_requests(questions: &[Question]) -> Result<InputRequests, String> {
    questions
        .iter()
        .map(|question| {
            let params = serde_json::to_value(form(question)?).map_err(|e| e.to_string())?;
            let request = serde_json::from_value::<InputRequest>(json!({
                "method": "elicitation/create",
                "params": params,
            }))
            .map_err(|e| e.to_string())?;
            Ok((question.key.clone(), request))
        })
        .collect()
}

/// What a sealed request state holds: the questions of the last round and
/// the answers before it. Signed, not secret: the client reads its own
/// answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Round {
    /// Counts from 1.
    pub number: u32,
    pub asked: Vec<String>,
    pub answers: Map<String, Value>,
}

impl Round {
    /// The answers with the responses to this round's questions added
    /// (only those asked, each an elicitation's result, bounded in size:
    /// anything else is no answer, and the question is asked again).
    pub fn answered(&self, responses: Option<&InputResponses>) -> Map<String, Value> {
        let mut answers = self.answers.clone();
        if let Some(responses) = responses {
            for (key, response) in self.accepted(responses) {
                answers.insert(key.clone(), response.clone());
            }
        }
        answers
    }

    /// The responses that answer this round's questions: only those
    /// asked, each an elicitation's result, bounded in size.
    pub fn accepted<'a>(
        &'a self,
        responses: &'a InputResponses,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.asked.iter().filter_map(|key| {
            responses
                .get(key)
                .filter(|r| is_elicit_result(r) && r.to_string().len() <= MAX_ANSWER_BYTES)
                .map(|r| (key, r))
        })
    }

    /// Whether `responses` answer every question of this round.
    pub fn answers_all(&self, responses: &InputResponses) -> bool {
        self.accepted(responses).count() == self.asked.len()
    }
}

/// Whether `response` reads as an elicitation's result: an object whose
/// `action` is accept, decline or cancel.
fn is_elicit_result(response: &Value) -> bool {
    matches!(
        response.get("action").and_then(Value::as_str),
        Some("accept" | "decline" | "cancel")
    )
}

/// Seals and opens request states with the gateway's key for them.
pub struct RequestStates {
    codec: rmcp::model::RequestStateCodec,
}

impl RequestStates {
    /// A codec keyed by a secret derived from the gateway's seed: replicas
    /// of one deployment open each other's states.
    pub fn new(gateway_seed: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"tgw mcp requestState v1\0");
        hasher.update(gateway_seed);
        let key = hasher.finalize().to_vec();
        RequestStates {
            // A 32-byte key is what the codec asks for.
            codec: rmcp::model::RequestStateCodec::try_new(key)
                .unwrap_or_else(|_| unreachable!("a SHA-256 digest is 32 bytes")),
        }
    }

    /// What binds a state: who calls, which tool, which arguments.
    fn context(user: &str, tool: &str, args: &Map<String, Value>) -> Vec<u8> {
        let canonical =
            crate::canonical::canonicalize(&serde_json::to_vec(args).unwrap_or_default())
                .map(|c| c.bytes)
                .unwrap_or_default();
        let mut context = Vec::new();
        for part in [
            user.as_bytes(),
            tool.as_bytes(),
            &Sha256::digest(&canonical),
        ] {
            context.extend_from_slice(&(part.len() as u64).to_be_bytes());
            context.extend_from_slice(part);
        }
        context
    }

    pub fn seal(&self, user: &str, tool: &str, args: &Map<String, Value>, round: &Round) -> String {
        let context = Self::context(user, tool, args);
        let payload = serde_json::to_vec(round).unwrap_or_default();
        self.codec.seal_with(
            &payload,
            &rmcp::model::SealOptions::new()
                .associated_data(&context)
                .ttl(STATE_LIFETIME),
        )
    }

    /// The round sealed in `sealed`, if this gateway sealed it for this
    /// caller, tool and arguments, and it has not expired.
    pub fn open(
        &self,
        sealed: &str,
        user: &str,
        tool: &str,
        args: &Map<String, Value>,
    ) -> Result<Round, String> {
        let context = Self::context(user, tool, args);
        let payload = self
            .codec
            .open_with(sealed, &context)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&payload).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Map<String, Value> {
        json!({"path": "a.txt"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn a_state_opens_only_for_its_caller_tool_and_arguments() {
        let states = RequestStates::new(&[7; 32]);
        let round = Round {
            number: 1,
            asked: vec!["name".into()],
            answers: Map::new(),
        };
        let sealed = states.seal("ada", "files.read_file", &args(), &round);
        assert_eq!(
            states.open(&sealed, "ada", "files.read_file", &args()),
            Ok(round)
        );
        assert!(
            states
                .open(&sealed, "eve", "files.read_file", &args())
                .is_err()
        );
        assert!(
            states
                .open(&sealed, "ada", "files.write_file", &args())
                .is_err()
        );
        let other = json!({"path": "b.txt"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            states
                .open(&sealed, "ada", "files.read_file", &other)
                .is_err()
        );
        let mut tampered = sealed.clone().into_bytes();
        tampered[5] ^= 1;
        let tampered = String::from_utf8_lossy(&tampered).into_owned();
        assert!(
            states
                .open(&tampered, "ada", "files.read_file", &args())
                .is_err()
        );
        let stranger = RequestStates::new(&[8; 32]);
        assert!(
            stranger
                .open(&sealed, "ada", "files.read_file", &args())
                .is_err()
        );
    }

    #[test]
    fn only_the_questions_asked_are_answered() {
        let round = Round {
            number: 1,
            asked: vec!["name".into()],
            answers: json!({"earlier": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let responses: InputResponses = [
            (
                "name".to_owned(),
                json!({"action": "accept", "content": {"name": "Ada"}}),
            ),
            ("other".to_owned(), json!({"action": "accept"})),
        ]
        .into_iter()
        .collect();
        let answers = round.answered(Some(&responses));
        assert_eq!(
            Value::Object(answers),
            json!({"earlier": 1, "name": {"action": "accept", "content": {"name": "Ada"}}})
        );
    }
}
