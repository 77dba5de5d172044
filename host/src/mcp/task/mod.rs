//! Calls that outlive their request: MCP tasks (the 2026-07-28 extension
//! `io.modelcontextprotocol/tasks`, SEP-2663).
//!
//! For a client that declared the extension, a call to a tool that does
//! not forbid tasks (`task` in its `[tools.<name>]`) becomes a task as
//! soon as it waits for a person, or when it has not answered within
//! [`TASK_AFTER`]; a quicker call answers as usual. The client then polls
//! `tasks/get`, answers the tool's questions with `tasks/update` and may
//! `tasks/cancel`, which withdraws a pending approval: its card leaves
//! the dashboards.
//!
//! The task lives in the bus store (`TGW_TASKS`, sealed by the gateway
//! key), so a client that reconnects, to any gateway process of the
//! deployment, finds it; its result is the executor's signed answer,
//! checked against the executor keys trusted now each time it is read.
//! A task is readable for [`TASK_TTL`] after it began, and only by the
//! principal who called.

pub mod record;
pub mod runner;
pub mod store;
pub mod view;

use std::time::Duration;

use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{
    CancelTaskParams, CreateTaskResult, GetTaskParams, GetTaskResult, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use serde_json::{Map, Value};

use self::record::{TaskRecord, TaskState};
use self::runner::{Runner, Running};
use super::call::Call;
use super::handler::{McpHandler, caller};
use super::input::Round;
use crate::approval::ApprovalRecord;
use crate::audit::now_millis;
use crate::ids::TaskId;
use crate::people::Caller;

/// How long a call of a task-capable client may take before it becomes a
/// task.
pub const TASK_AFTER: Duration = Duration::from_millis(500);

/// How long a task may be read after it began: an approval it waits for
/// may take a day (`task_approval_minutes`), and its result stays an hour
/// more.
pub const TASK_TTL: Duration = Duration::from_secs(25 * 3600);

/// How often a client is asked to poll.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How often a runner looks at its record for a change made elsewhere
/// (another gateway process, or none here to wake it).
pub const LOOK_EVERY: Duration = Duration::from_millis(500);

impl McpHandler {
    /// Makes a task of `running`, a round of `call` that has not ended:
    /// records it, then leaves it to a runner of its own.
    pub(in crate::mcp) async fn hand_over(
        &self,
        call: Call,
        running: Running,
        approval: Option<&ApprovalRecord>,
        round: Round,
        answers: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CreateTaskResult, ErrorData> {
        let now = now_millis();
        let record = TaskRecord {
            id: crate::ids::new_task_id(),
            owner: call.principal.clone(),
            tool: call.qualified.clone(),
            created: now,
            updated: now,
            ttl_ms: u64::try_from(TASK_TTL.as_millis()).unwrap_or(u64::MAX),
            url_elicitation: context
                .client_capabilities()
                .and_then(|c| c.elicitation)
                .is_some_and(|e| e.url.is_some()),
            state: TaskState::Working {
                approval: approval.map(runner::waiting),
            },
        };
        // Stored before it is answered: a `tasks/get` right after finds it.
        self.state.tasks.create(&record).await.map_err(|e| {
            ErrorData::internal_error(
                format!("the call could not become a task (the task store: {e}); it was dropped"),
                None,
            )
        })?;
        let runner = Runner {
            gateway: self.state.gateway.clone(),
            store: self.state.tasks.clone(),
            call,
            id: record.id.clone(),
        };
        tokio::spawn(runner.run(running, round, answers));
        Ok(view::created(&record, &self.state.dashboard))
    }

    /// The task `id`, if it is one of `caller`'s: for anyone else it does
    /// not exist.
    async fn own_task(&self, id: &str, caller: &Caller) -> Result<TaskRecord, ErrorData> {
        let unknown = || ErrorData::invalid_params(format!("unknown task {id:?}"), None);
        let id = TaskId::new(id).map_err(|_| unknown())?;
        match self.state.tasks.get(&id).await {
            Ok(Some((task, _))) if task.owner == caller.user => Ok(task),
            Ok(_) => Err(unknown()),
            Err(e) => Err(unavailable(&e)),
        }
    }

    pub(in crate::mcp) async fn task_get(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let caller = caller(&context.extensions)?;
        let task = self.own_task(&request.task_id, &caller).await?;
        Ok(view::detailed(
            &task,
            &self.state.gateway,
            &self.state.dashboard,
        ))
    }

    /// `tasks/update`: answers to the questions still open (others are
    /// ignored), or word that the approval's URL was shown.
    pub(in crate::mcp) async fn task_update(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = caller(&context.extensions)?;
        let task = self.own_task(&request.task_id, &caller).await?;
        let given = &request.input_responses;
        self.state
            .tasks
            .change(&task.id, |task| match &mut task.state {
                TaskState::InputRequired {
                    round, responses, ..
                } => {
                    let mut changed = false;
                    for (key, answer) in round.accepted(given) {
                        if !responses.contains_key(key) {
                            responses.insert(key.clone(), answer.clone());
                            changed = true;
                        }
                    }
                    changed
                }
                TaskState::Working {
                    approval: Some(waiting),
                } if !waiting.shown && given.contains_key(view::APPROVAL_INPUT) => {
                    waiting.shown = true;
                    true
                }
                _ => false,
            })
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// `tasks/cancel`: the task ends cancelled, unless it already ended.
    /// Its runner drops the round, withdrawing a pending approval; when no
    /// runner of this process has it, the approval is withdrawn here.
    pub(in crate::mcp) async fn task_cancel(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let caller = caller(&context.extensions)?;
        let task = self.own_task(&request.task_id, &caller).await?;
        let mut waited_for = None;
        self.state
            .tasks
            .change(&task.id, |task| {
                if task.state.is_terminal() {
                    return false;
                }
                if let TaskState::Working {
                    approval: Some(waiting),
                } = &task.state
                {
                    waited_for = Some(waiting.id.clone());
                }
                task.state = TaskState::Cancelled;
                true
            })
            .await
            .map_err(|e| unavailable(&e))?;
        if let Some(approval) = waited_for
            && !self.state.tasks.runs_here(&task.id)
        {
            // Already decided or withdrawn: nothing to do.
            let _ = self.state.gateway.withdraw(&approval).await;
        }
        Ok(())
    }
}

fn unavailable(e: &crate::backend::StoreError) -> ErrorData {
    ErrorData::internal_error(format!("the task store is unavailable: {e}"), None)
}
