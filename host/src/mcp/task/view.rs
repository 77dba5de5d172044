//! A task record as MCP shows it (`CreateTaskResult`, `tasks/get`): its
//! status, the approval it waits for and where to decide it, the tool's
//! open questions, and its result, read again from the executor's
//! receipt every time.

use rmcp::model::{
    CreateTaskResult, DetailedTask, GetTaskResult, InputRequest, InputRequests, JsonObject,
    MetaObject, Task, TaskPayload, TaskStatus,
};
use serde_json::json;

use super::POLL_INTERVAL;
use super::record::{Outcome, TaskRecord, TaskState, Waiting};
use crate::gateway::{CallResult, Gateway};
use crate::mcp::{call, input};

/// The `_meta` key of the approval a task waits for: its id, the
/// dashboard's URL and when it expires.
pub const APPROVAL_META: &str = "tgw/approval";

/// The input request key under which a client that takes URLs is asked
/// to show a person the approval's card.
pub const APPROVAL_INPUT: &str = "approval";

/// RFC 3339, as MCP's task times are.
fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn task(record: &TaskRecord) -> Task {
    Task::new(
        record.id.to_string(),
        TaskStatus::Working,
        rfc3339(record.created),
        rfc3339(record.updated),
    )
    .with_ttl_ms(record.ttl_ms)
    .with_poll_interval_ms(u64::try_from(POLL_INTERVAL.as_millis()).unwrap_or(u64::MAX))
}

/// What the client is told of the approval `waiting`.
fn approval_meta(waiting: &Waiting, dashboard: &str) -> MetaObject {
    let mut meta = MetaObject::new();
    meta.insert(
        APPROVAL_META.into(),
        json!({"id": waiting.id, "url": dashboard, "expires": rfc3339(waiting.expires)}),
    );
    meta
}

fn approval_message(waiting: &Waiting, dashboard: &str) -> String {
    format!(
        "waiting for a person to decide approval {} at {dashboard}",
        waiting.id
    )
}

/// The URL-mode elicitation that points a person at the approval's card.
fn approval_request(waiting: &Waiting, dashboard: &str) -> Option<InputRequests> {
    let request = serde_json::from_value::<InputRequest>(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "url",
            "message": format!(
                "This call needs a person's approval. Open the dashboard and decide approval {}.",
                waiting.id
            ),
            "url": dashboard,
            "elicitationId": waiting.id,
        },
    }))
    .ok()?;
    Some([(APPROVAL_INPUT.to_owned(), request)].into_iter().collect())
}

/// A tool's failure as a task's `error`.
fn error(reason: &str) -> TaskPayload {
    let error = json!({"code": -32603, "message": format!("The tool failed: {reason}")});
    TaskPayload::Failed {
        error: error.as_object().cloned().unwrap_or_default(),
    }
}

/// How a call's end shows: a result (refusals too: the agent reads why),
/// or a failure.
fn ended(outcome: &Outcome, gateway: &Gateway) -> TaskPayload {
    let result = match outcome {
        Outcome::Answered(signed) => match gateway.reread(signed) {
            Ok(result) => result,
            Err(why) => {
                tracing::warn!(call = %signed.call, %why, "a task's kept result does not verify");
                return error(&format!(
                    "its kept result is not signed by a trusted executor for this call ({why}), \
                     so it is not shown"
                ));
            }
        },
        Outcome::Refused(refusal) => CallResult::Refused(refusal.clone()),
        Outcome::Failed { reason } => CallResult::Failed {
            reason: reason.clone(),
        },
    };
    match result {
        CallResult::Failed { reason } => error(&reason),
        result => {
            let shown = serde_json::to_value(call::result_of(result)).unwrap_or_default();
            TaskPayload::Completed {
                result: shown.as_object().cloned().unwrap_or_else(JsonObject::new),
            }
        }
    }
}

/// The task as `tasks/get` answers it.
pub fn detailed(record: &TaskRecord, gateway: &Gateway, dashboard: &str) -> GetTaskResult {
    let mut task = task(record);
    let mut meta = None;
    let payload = match &record.state {
        TaskState::Working { approval: None } => TaskPayload::Working,
        TaskState::Working {
            approval: Some(waiting),
        } => {
            task = task.with_status_message(approval_message(waiting, dashboard));
            meta = Some(approval_meta(waiting, dashboard));
            match approval_request(waiting, dashboard) {
                Some(input_requests) if record.url_elicitation && !waiting.shown => {
                    TaskPayload::InputRequired { input_requests }
                }
                _ => TaskPayload::Working,
            }
        }
        TaskState::InputRequired {
            questions,
            responses,
            ..
        } => {
            let open: Vec<_> = questions
                .iter()
                .filter(|q| !responses.contains_key(&q.key))
                .cloned()
                .collect();
            match input::input_requests(&open) {
                Ok(input_requests) => TaskPayload::InputRequired { input_requests },
                Err(why) => error(&why),
            }
        }
        TaskState::Ended { outcome } => ended(outcome, gateway),
        TaskState::Cancelled => TaskPayload::Cancelled,
    };
    let mut result = GetTaskResult::new(DetailedTask::new(task, payload));
    result.meta = meta;
    result
}

/// The task as a `tools/call` that became one answers it.
pub fn created(record: &TaskRecord, dashboard: &str) -> CreateTaskResult {
    let mut task = task(record);
    let TaskState::Working {
        approval: Some(waiting),
    } = &record.state
    else {
        return CreateTaskResult::new(task);
    };
    task = task.with_status_message(approval_message(waiting, dashboard));
    CreateTaskResult::new(task).with_meta(approval_meta(waiting, dashboard))
}
