//! What the gateway answers over MCP: `tools/list` and `tools/call`.
//!
//! A `tools/call` is a proposal in the chain (`Gateway::propose_watched`).
//! When policy wants a human, the call stays open and, if the client asked
//! for progress, hears every second which approval it waits for and where
//! to decide it. A client's `notifications/cancelled` drops the proposal,
//! which withdraws the approval. Denial, expiry and every other refusal are
//! results with `isError: true`, the reason in words and the stable code in
//! `_meta["tgw/refusal"]`, not protocol errors: the agent (and its user)
//! should read why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::{RoleServer, ServerHandler};
use tokio::sync::oneshot;

use super::tools;
use crate::approval::ApprovalRecord;
use crate::audit::doors::{Door, Who};
use crate::gateway::{CallRequest, CallResult, Gateway};
use crate::ids::ToolName;
use crate::people::{Caller, Scope};
use crate::registry::LiveSkills;
use tgw_proto::refusal::{Refusal, RefusalCode};

/// What every MCP session of one gateway shares.
pub struct McpState {
    pub gateway: Arc<Gateway>,
    /// The skills in force: the tools a caller sees.
    pub skills: Arc<LiveSkills>,
    /// The policy in force: the names tools are seen under (`[aliases]`).
    pub policy: Arc<crate::policy::LivePolicy>,
    /// Where a person decides approvals: the dashboard's Approvals page.
    pub dashboard: String,
    /// Sessions that may hear `notifications/tools/list_changed`.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Where the refusals of this door are audited.
    doors: crate::audit::doors::Doors,
}

impl McpState {
    pub fn new(
        gateway: Arc<Gateway>,
        skills: Arc<LiveSkills>,
        policy: Arc<crate::policy::LivePolicy>,
        public_url: &str,
        doors: crate::audit::doors::Doors,
    ) -> Self {
        McpState {
            doors,
            gateway,
            skills,
            policy,
            dashboard: format!("{}/#/approvals", public_url.trim_end_matches('/')),
            peers: Mutex::default(),
        }
    }

    /// Tells every open session that the tools changed.
    pub async fn tools_changed(&self) {
        let peers: Vec<_> = {
            let mut peers = self
                .peers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            let _ = peer.notify_tool_list_changed().await;
        }
    }
}

/// One MCP session's handler (rmcp makes one per session, or per request
/// when a client drops its session id).
#[derive(Clone)]
pub struct McpHandler {
    pub state: Arc<McpState>,
}

/// The caller the HTTP guard authenticated for this very request.
fn caller(extensions: &rmcp::model::Extensions) -> Result<Caller, ErrorData> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("the request carries no access token", None))
}

/// The `_meta` key of a refused call's stable refusal code.
pub const REFUSAL_META: &str = "tgw/refusal";

/// A refusal as a tool result: the reason in words for the agent and its
/// user, and the stable code in `_meta` for programs.
fn refused(refusal: &Refusal, words: &str) -> CallToolResponse {
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "{words}: {}",
        refusal.as_reason()
    ))]);
    let mut meta = rmcp::model::MetaObject::new();
    meta.insert(REFUSAL_META.into(), serde_json::json!(refusal.code()));
    result.meta = Some(meta);
    result.into()
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("tgw", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "Tools of the Trust Gateway. Policy decides each call; a risky one waits for a \
             person to approve it at {} and the call stays open meanwhile.",
            self.state.dashboard
        ))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.state
            .peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context.extensions)?;
        if !caller.may(Scope::ToolsList) {
            return Err(ErrorData::invalid_request(
                "this access token may not list tools (it lacks the tools:list scope)",
                None,
            ));
        }
        Ok(ListToolsResult::with_all_items(tools::list(
            &self.state.skills.current(),
            &caller,
            &self.state.policy.current().aliases,
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context.extensions)?;
        let doors = self.state.doors.clone();
        let user = caller.user.clone();
        let door = |code: RefusalCode, reason: String| {
            let (doors, who) = (doors.clone(), Who::Known(user.clone()));
            async move { doors.refused(Door::Mcp, who, code.as_str(), &reason).await }
        };
        if !caller.may(Scope::ToolsCall) {
            let refusal = Refusal::new(
                RefusalCode::MissingScope,
                "this access token may not call tools (it lacks the tools:call scope)",
            );
            door(refusal.code(), refusal.as_reason().to_owned()).await;
            return Ok(refused(&refusal, "The call was not run"));
        }
        let unknown =
            || ErrorData::invalid_params(format!("unknown tool {:?}", request.name), None);
        // A tool the caller may not use is still proposed: the gateway
        // refuses it with `not-in-groups` and the audit log says so.
        let aliases = &self.state.policy.current().aliases;
        let Some((skill, info)) =
            tools::resolve(&self.state.skills.current(), &request.name, aliases)
        else {
            door(
                RefusalCode::UnknownTool,
                format!("unknown tool {:?}", request.name),
            )
            .await;
            return Err(unknown());
        };
        let args = serde_json::to_vec(&request.arguments.clone().unwrap_or_default())
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let proposal = CallRequest {
            principal: caller.user,
            role: caller.role,
            groups: caller.groups,
            skill: skill.skill.manifest.name.clone(),
            tool: ToolName::new(&info.name).map_err(|_| unknown())?,
            args,
        };
        let (pending_tx, pending_rx) = oneshot::channel();
        let call = self
            .state
            .gateway
            .propose_watched(proposal, Some(pending_tx));
        let result = self
            .wait(
                call,
                pending_rx,
                context.meta.get_progress_token(),
                &context,
            )
            .await?;
        Ok(match result {
            CallResult::Done { output } => {
                // A JSON object (what our skills return) also goes out as
                // structured content; the text stays for older clients.
                let structured = serde_json::from_str::<serde_json::Value>(&output)
                    .ok()
                    .filter(serde_json::Value::is_object);
                let mut result = CallToolResult::success(vec![ContentBlock::text(output)]);
                result.structured_content = structured;
                result.into()
            }
            CallResult::Refused(refusal) => refused(&refusal, "The call was not run"),
            CallResult::Failed { reason } => CallToolResult::error(vec![ContentBlock::text(
                format!("The tool failed: {reason}"),
            )])
            .into(),
        })
    }
}

impl McpHandler {
    /// Runs the proposal to its end, reporting progress while it waits for
    /// a human. A cancelled request drops the proposal (withdrawing its
    /// approval); rmcp discards whatever would have been answered.
    async fn wait(
        &self,
        call: impl Future<Output = CallResult>,
        mut pending_rx: oneshot::Receiver<ApprovalRecord>,
        progress: Option<ProgressToken>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallResult, ErrorData> {
        tokio::pin!(call);
        let mut pending: Option<ApprovalRecord> = None;
        let mut listening = true;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut seconds = 0u32;
        loop {
            tokio::select! {
                result = &mut call => return Ok(result),
                _ = context.ct.cancelled() => {
                    return Err(ErrorData::invalid_request("the client cancelled the call", None));
                }
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
}
