//! A `tools/call`, from proposal to answer.
//!
//! A `tools/call` is a proposal in the chain (`Gateway::propose_watched`).
//! When policy wants a human, the call stays open and, if the client asked
//! for progress, hears every second which approval it waits for and where
//! to decide it. While the tool runs, its own progress (to a client that
//! asked for progress) and its log lines (to a session that set a logging
//! level) reach the client, as signed by the executor. A client's
//! `notifications/cancelled` drops the proposal, which withdraws the
//! approval (or stops the running tool). For a client that takes tasks, a call that waits for a
//! person or runs long becomes a task instead (`task/`). Denial, expiry and every other refusal are
//! results with `isError: true`, the reason in words and the stable code in
//! `_meta["tgw/refusal"]`, not protocol errors: the agent (and its user)
//! should read why.

use std::time::Duration;

use rmcp::ErrorData;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    ProgressNotificationParam, ProgressToken,
};
use rmcp::service::RequestContext;
use tokio::sync::{mpsc, oneshot};

#[expect(deprecated, reason = "MCP logging is what 2025-11-25 clients read")]
use super::handler::LoggingLevel;
use super::handler::{McpHandler, caller};
use super::task::TASK_AFTER;
use super::task::runner::{RoundEvent, Running};
use super::{input, tools};
use crate::approval::ApprovalRecord;
use crate::audit::doors::{Door, Who};
use crate::gateway::{CallRequest, CallResult, Watch};
use crate::ids::ToolName;
use crate::people::{Caller, Scope};
use crate::runtime::{CallUpdate, LogLevel, MAX_UPDATES, OutputFormat};
use tgw_parse::manifest::TaskSupport;
use tgw_proto::refusal::{Refusal, RefusalCode};

/// The `_meta` key of a refused call's stable refusal code.
pub const REFUSAL_META: &str = "tgw/refusal";

/// A refusal as a tool result: the reason in words for the agent and its
/// user, and the stable code in `_meta` for programs.
fn refused(refusal: &Refusal, words: &str) -> CallToolResponse {
    refusal_result(refusal, words).into()
}

fn refusal_result(refusal: &Refusal, words: &str) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "{words}: {}",
        refusal.as_reason()
    ))]);
    let mut meta = rmcp::model::MetaObject::new();
    meta.insert(REFUSAL_META.into(), serde_json::json!(refusal.code()));
    result.meta = Some(meta);
    result
}

/// What stays the same through the rounds of a call: who calls which tool
/// with which arguments.
pub(super) struct Call {
    pub principal: String,
    pub role: crate::ids::Role,
    pub groups: Vec<crate::ids::GroupName>,
    pub skill: crate::ids::SkillName,
    pub tool: ToolName,
    /// `skill.tool`, as policy and the audit log see it.
    pub qualified: String,
    /// Whether it may become a task (its manifest's `task`).
    pub task: TaskSupport,
    /// The client's trace context (`_meta.traceparent`), when well formed.
    pub trace: Option<tgw_parse::mcp::TraceParent>,
    pub args: serde_json::Map<String, serde_json::Value>,
}

impl Call {
    /// The proposal of one round: the arguments, with the answers to the
    /// tool's questions so far under `"$input"`.
    pub fn proposal(
        &self,
        answers: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<CallRequest, String> {
        let mut proposed = self.args.clone();
        if !answers.is_empty() {
            proposed.insert(
                input::INPUT_KEY.into(),
                serde_json::Value::Object(answers.clone()),
            );
        }
        Ok(CallRequest {
            principal: self.principal.clone(),
            role: self.role,
            groups: self.groups.clone(),
            skill: self.skill.clone(),
            tool: self.tool.clone(),
            args: serde_json::to_vec(&proposed).map_err(|e| e.to_string())?,
            trace: self.trace.clone(),
        })
    }
}

/// How a task-capable client's round went within [`TASK_AFTER`].
enum Quick {
    /// It ended: answered as usual.
    Ended(CallResult),
    /// It waits for a person (the approval), or runs on: it becomes a task.
    Long(Option<Box<ApprovalRecord>>),
}

/// The MCP level of a skill's log line.
#[expect(deprecated, reason = "MCP logging is what 2025-11-25 clients read")]
fn mcp_level(level: LogLevel) -> LoggingLevel {
    match level {
        LogLevel::Debug => LoggingLevel::Debug,
        LogLevel::Info => LoggingLevel::Info,
        LogLevel::Notice => LoggingLevel::Notice,
        LogLevel::Warning => LoggingLevel::Warning,
        LogLevel::Error => LoggingLevel::Error,
    }
}

/// Why the person was not asked a tool's questions during the call.
enum Unasked {
    /// The client cancelled the call meanwhile.
    Cancelled,
    /// A question could not be asked, or was not answered.
    Failed(String),
}

impl McpHandler {
    /// The whole call: checks, then rounds of proposals until the tool
    /// answers (a tool's questions are asked between rounds).
    pub(super) async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context.extensions)?;
        if !caller.may(Scope::ToolsCall) {
            let refusal = Refusal::new(
                RefusalCode::MissingScope,
                "this access token may not call tools (it lacks the tools:call scope)",
            );
            self.refused_at_door(&caller, refusal.code(), refusal.as_reason())
                .await;
            return Ok(refused(&refusal, "The call was not run"));
        }
        let (mut call, round) = self.admit(&caller, &request).await?;
        // W3C: a trace context that does not parse is ignored.
        call.trace = context
            .meta
            .get("traceparent")
            .and_then(serde_json::Value::as_str)
            .and_then(tgw_parse::mcp::TraceParent::parse);
        let takes_tasks = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        if call.task == TaskSupport::Required && !takes_tasks {
            return Err(ErrorData::missing_required_client_capability(
                rmcp::model::ClientCapabilities::builder()
                    .enable_tasks()
                    .build(),
            ));
        }
        let as_task = takes_tasks && call.task != TaskSupport::Forbidden;
        let answers = round.answered(request.input_responses.as_ref());
        // Without a state, a 2026-07-28 client may answer ahead: its
        // answers count for the questions the tool asks in this request's
        // first round, and for nothing else.
        let ahead = request
            .input_responses
            .clone()
            .filter(|_| request.request_state.is_none());
        self.rounds(call, as_task, round, answers, ahead, &context)
            .await
    }

    async fn refused_at_door(&self, caller: &Caller, code: RefusalCode, reason: &str) {
        let who = Who::Known(caller.user.clone());
        self.state
            .doors
            .refused(Door::Mcp, who, code.as_str(), reason)
            .await;
    }

    /// The call `request` names, and the round it goes on from: the tool
    /// exists, the arguments do not pretend to carry answers, and a
    /// `requestState` is one this gateway sealed for this caller, tool and
    /// arguments.
    async fn admit(
        &self,
        caller: &Caller,
        request: &CallToolRequestParams,
    ) -> Result<(Call, input::Round), ErrorData> {
        let unknown =
            || ErrorData::invalid_params(format!("unknown tool {:?}", request.name), None);
        // A tool the caller may not use is still proposed: the gateway
        // refuses it with `not-in-groups` and the audit log says so.
        let aliases = &self.state.policy.current().aliases;
        let Some((skill, info)) =
            tools::resolve(&self.state.skills.current(), &request.name, aliases)
        else {
            let why = format!("unknown tool {:?}", request.name);
            self.refused_at_door(caller, RefusalCode::UnknownTool, &why)
                .await;
            return Err(unknown());
        };
        let tool = ToolName::new(&info.name).map_err(|_| unknown())?;
        let args = request.arguments.clone().unwrap_or_default();
        if args.contains_key(input::INPUT_KEY) {
            let why = format!(
                "the arguments may not name {:?}: answers to a tool's questions come as \
                 inputResponses",
                input::INPUT_KEY
            );
            self.refused_at_door(caller, RefusalCode::BadArguments, &why)
                .await;
            return Err(ErrorData::invalid_params(why, None));
        }
        let call = Call {
            principal: caller.user.clone(),
            role: caller.role,
            groups: caller.groups.clone(),
            skill: skill.skill.manifest.name.clone(),
            qualified: format!("{}.{}", skill.skill.name(), info.name),
            task: skill
                .skill
                .manifest
                .tools
                .get(&tool)
                .map(|declared| declared.task)
                .unwrap_or_default(),
            tool,
            args,
            trace: None,
        };
        let Some(sealed) = &request.request_state else {
            return Ok((call, input::Round::default()));
        };
        match self
            .state
            .request_states
            .open(sealed, &call.principal, &call.qualified, &call.args)
        {
            Ok(round) => Ok((call, round)),
            Err(why) => {
                let why = format!(
                    "the requestState is not one this gateway gave for this call (altered, \
                     expired, or for another caller, tool or arguments): {why}"
                );
                self.refused_at_door(caller, RefusalCode::RequestStateInvalid, &why)
                    .await;
                Err(ErrorData::invalid_params(
                    why,
                    Some(serde_json::json!({REFUSAL_META: RefusalCode::RequestStateInvalid})),
                ))
            }
        }
    }

    /// Rounds of proposals, from `round` with `answers` so far, until the
    /// tool answers, its questions go back to a 2026-07-28 client, or the
    /// call becomes a task (`as_task`: for a client that takes tasks).
    async fn rounds(
        &self,
        call: Call,
        as_task: bool,
        mut round: input::Round,
        mut answers: serde_json::Map<String, serde_json::Value>,
        mut ahead: Option<rmcp::model::InputResponses>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        loop {
            let proposal = call
                .proposal(&answers)
                .map_err(|e| ErrorData::invalid_params(e, None))?;
            let result = if as_task {
                let mut running = Running::start(self.state.gateway.clone(), proposal);
                match quick_or_long(&mut running, context).await? {
                    Quick::Ended(result) => result,
                    Quick::Long(approval) => {
                        let created = self
                            .hand_over(call, running, approval.as_deref(), round, answers, context)
                            .await?;
                        return Ok(CallToolResponse::Task(created));
                    }
                }
            } else {
                self.run(proposal, context).await?
            };
            let CallResult::Done {
                output,
                format: OutputFormat::InputRequired,
            } = result
            else {
                return Ok(answer(result));
            };
            let questions = match input::questions(&output) {
                Ok(questions) => questions,
                Err(why) => return Ok(failed(&why)),
            };
            if round.number >= input::MAX_ROUNDS {
                return Ok(failed(&format!(
                    "the tool asked more than {} rounds of questions",
                    input::MAX_ROUNDS
                )));
            }
            round = input::Round {
                number: round.number + 1,
                asked: questions.iter().map(|q| q.key.clone()).collect(),
                answers,
            };
            if let Some(given) = ahead.take()
                && round.answers_all(&given)
            {
                answers = round.answered(Some(&given));
                continue;
            }
            let elicits = context
                .client_capabilities()
                .is_some_and(|c| c.elicitation.is_some());
            if !elicits {
                return Err(ErrorData::missing_required_client_capability(
                    serde_json::from_value(serde_json::json!({"elicitation": {}}))
                        .unwrap_or_default(),
                ));
            }
            // A request that carries its protocol version in `_meta` is a
            // stateless 2026-07-28 one: the client asks, and calls again.
            if context.meta.protocol_version().is_some() {
                let requests = match input::input_requests(&questions) {
                    Ok(requests) => requests,
                    Err(why) => return Ok(failed(&why)),
                };
                let sealed = self.state.request_states.seal(
                    &call.principal,
                    &call.qualified,
                    &call.args,
                    &round,
                );
                return Ok(CallToolResponse::InputRequired(
                    rmcp::model::InputRequiredResult::new(Some(requests), Some(sealed)),
                ));
            }
            // A session: the gateway asks, during the call.
            let responses = match ask_here(&questions, context).await {
                Ok(responses) => responses,
                Err(Unasked::Cancelled) => {
                    return Err(ErrorData::invalid_request(
                        "the client cancelled the call",
                        None,
                    ));
                }
                Err(Unasked::Failed(why)) => return Ok(failed(&why)),
            };
            answers = round.answered(Some(&responses));
        }
    }
}

/// Asks a session's person `questions` with server-to-client
/// `elicitation/create` requests, one after the other.
async fn ask_here(
    questions: &[input::Question],
    context: &RequestContext<RoleServer>,
) -> Result<rmcp::model::InputResponses, Unasked> {
    let mut responses = rmcp::model::InputResponses::new();
    for question in questions {
        let form = input::form(question).map_err(Unasked::Failed)?;
        let response = tokio::select! {
            response = context.peer.create_elicitation(form) => response,
            _ = context.ct.cancelled() => return Err(Unasked::Cancelled),
        };
        let result =
            response.map_err(|e| Unasked::Failed(format!("the question was not answered: {e}")))?;
        responses.insert(
            question.key.clone(),
            serde_json::to_value(result).unwrap_or_default(),
        );
    }
    Ok(responses)
}

/// Waits for the round until it ends or [`TASK_AFTER`] has passed, or it
/// waits for a person.
async fn quick_or_long(
    running: &mut Running,
    context: &RequestContext<RoleServer>,
) -> Result<Quick, ErrorData> {
    tokio::select! {
        event = running.next() => Ok(match event {
            RoundEvent::Ended(result, _) => Quick::Ended(result),
            RoundEvent::Pending(record) => Quick::Long(Some(record)),
        }),
        () = tokio::time::sleep(TASK_AFTER) => Ok(Quick::Long(None)),
        () = context.ct.cancelled() => {
            Err(ErrorData::invalid_request("the client cancelled the call", None))
        }
    }
}

/// A tool's failure as a tool result.
fn failed(reason: &str) -> CallToolResponse {
    failure(reason).into()
}

fn failure(reason: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "The tool failed: {reason}"
    ))])
}

/// A call's end as MCP's tool response.
fn answer(result: CallResult) -> CallToolResponse {
    result_of(result).into()
}

/// A call's end as MCP's tool result.
pub(super) fn result_of(result: CallResult) -> CallToolResult {
    match result {
        CallResult::Done {
            output,
            format: OutputFormat::Text,
        } => {
            // A JSON object (what our 0.1 skills return) also goes out
            // as structured content; the text stays for older clients.
            let structured = serde_json::from_str::<serde_json::Value>(&output)
                .ok()
                .filter(serde_json::Value::is_object);
            let mut result = CallToolResult::success(vec![ContentBlock::text(output)]);
            result.structured_content = structured;
            result
        }
        // The executor made this from the skill's content blocks, and
        // signed it: it is read, not trusted more than that.
        CallResult::Done {
            output,
            format: OutputFormat::Content,
        } => match serde_json::from_str::<CallToolResult>(&output) {
            Ok(mut result) => {
                // As rmcp's constructors do: rmcp clears it for clients
                // of revisions before 2026-07-28.
                result.result_type = Some(rmcp::model::ResultType::COMPLETE);
                result
            }
            Err(e) => failure(&format!("its answer could not be read: {e}")),
        },
        // Questions are asked by `call_tool`; none reach here.
        CallResult::Done {
            format: OutputFormat::InputRequired,
            ..
        } => failure("it asked questions that were not asked"),
        CallResult::Refused(refusal) => refusal_result(&refusal, "The call was not run"),
        CallResult::Failed { reason } => failure(&reason),
    }
}

impl McpHandler {
    /// Proposes one round of a call and waits for its end, keeping the
    /// client informed as it asked to be.
    async fn run(
        &self,
        proposal: CallRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallResult, ErrorData> {
        let (pending_tx, pending_rx) = oneshot::channel();
        let progress = context.meta.get_progress_token();
        // Updates only for a client that will hear them: listening costs
        // a subscription on the bus.
        let (updates_tx, updates_rx) = match (&progress, self.log_level(context)) {
            (None, None) => (None, None),
            _ => {
                let (tx, rx) = mpsc::channel(MAX_UPDATES);
                (Some(tx), Some(rx))
            }
        };
        let watch = Watch {
            pending: Some(pending_tx),
            updates: updates_tx,
            receipt: None,
            task: false,
        };
        let call = self.state.gateway.propose_watched(proposal, watch);
        self.wait(call, pending_rx, updates_rx, progress, context)
            .await
    }

    /// Runs the proposal to its end, reporting progress while it waits for
    /// a human. A cancelled request drops the proposal (withdrawing its
    /// approval); rmcp discards whatever would have been answered.
    async fn wait(
        &self,
        call: impl Future<Output = CallResult>,
        mut pending_rx: oneshot::Receiver<ApprovalRecord>,
        mut updates: Option<mpsc::Receiver<CallUpdate>>,
        progress: Option<ProgressToken>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallResult, ErrorData> {
        tokio::pin!(call);
        let mut pending: Option<ApprovalRecord> = None;
        let mut listening = true;
        let mut tool_progress = 0.0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut seconds = 0u32;
        loop {
            tokio::select! {
                result = &mut call => {
                    // The last updates came before the answer: tell them first.
                    if let Some(rx) = &mut updates {
                        while let Ok(update) = rx.try_recv() {
                            self.tell(update, progress.as_ref(), &mut tool_progress, context).await;
                        }
                    }
                    return Ok(result);
                }
                _ = context.ct.cancelled() => {
                    return Err(ErrorData::invalid_request("the client cancelled the call", None));
                }
                update = next_update(&mut updates) => match update {
                    Some(update) => {
                        self.tell(update, progress.as_ref(), &mut tool_progress, context).await;
                    }
                    None => updates = None,
                },
                record = &mut pending_rx, if listening => {
                    listening = false;
                    pending = record.ok();
                    tick.reset_immediately();
                }
                _ = tick.tick(), if pending.is_some() => {
                    let (Some(record), Some(token)) = (&pending, &progress) else { continue };
                    let total = ((record.expires - record.created) / 1000).max(1) as f64;
                    let message = format!(
                        "waiting for approval {} — open {}",
                        record.id, self.state.dashboard
                    );
                    let _ = context
                        .peer
                        .notify_progress(
                            ProgressNotificationParam::new(token.clone(), f64::from(seconds))
                                .with_total(total)
                                .with_message(message),
                        )
                        .await;
                    seconds += 1;
                }
            }
        }
    }

    /// Passes a running tool's update on: progress to a client that asked
    /// for it (never going backwards), a log line to a session whose
    /// level it meets.
    async fn tell(
        &self,
        update: CallUpdate,
        progress: Option<&ProgressToken>,
        last: &mut f64,
        context: &RequestContext<RoleServer>,
    ) {
        match update {
            CallUpdate::Progress {
                done,
                total,
                message,
            } => {
                let Some(token) = progress else { return };
                if done < *last {
                    return;
                }
                *last = done;
                let mut param = ProgressNotificationParam::new(token.clone(), done);
                if let Some(total) = total {
                    param = param.with_total(total);
                }
                if let Some(message) = message {
                    param = param.with_message(message);
                }
                let _ = context.peer.notify_progress(param).await;
            }
            CallUpdate::Log { level, message } => {
                if self.log_level(context).is_none_or(|wanted| level < wanted) {
                    return;
                }
                #[expect(deprecated, reason = "MCP logging is what 2025-11-25 clients read")]
                let param = rmcp::model::LoggingMessageNotificationParam::new(
                    mcp_level(level),
                    serde_json::Value::String(message),
                );
                #[expect(deprecated, reason = "MCP logging is what 2025-11-25 clients read")]
                let _ = context.peer.notify_logging_message(param).await;
            }
        }
    }
}

/// The next update, when there is a stream of them.
async fn next_update(updates: &mut Option<mpsc::Receiver<CallUpdate>>) -> Option<CallUpdate> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
