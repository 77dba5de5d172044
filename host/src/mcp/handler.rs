//! What the gateway answers over MCP: `tools/list`, `tools/call` (the
//! call's life is `call.rs`), `tasks/get|update|cancel` (`task/`),
//! `logging/setLevel` and `subscriptions/listen`.

use std::sync::{Arc, Mutex};

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::{RoleServer, ServerHandler};

use super::task::store::TaskStore;
use super::{input, tools};
use crate::gateway::Gateway;
use crate::people::{Caller, Scope};
use crate::registry::LiveSkills;
use crate::runtime::LogLevel;

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
    /// Tells `subscriptions/listen` streams (2026-07-28) that the tools
    /// changed.
    changes: tokio::sync::broadcast::Sender<()>,
    /// Where the refusals of this door are audited.
    pub(super) doors: crate::audit::doors::Doors,
    /// Seals the state of a call whose tool asked questions.
    pub(super) request_states: input::RequestStates,
    /// Calls that became tasks.
    pub(super) tasks: TaskStore,
}

impl McpState {
    pub fn new(
        gateway: Arc<Gateway>,
        skills: Arc<LiveSkills>,
        policy: Arc<crate::policy::LivePolicy>,
        public_url: &str,
        doors: crate::audit::doors::Doors,
        gateway_seed: &[u8; 32],
        tasks: Arc<dyn crate::backend::Bucket>,
    ) -> Self {
        McpState {
            tasks: TaskStore::new(tasks),
            doors,
            request_states: input::RequestStates::new(gateway_seed),
            gateway,
            skills,
            policy,
            dashboard: format!("{}/#/approvals", public_url.trim_end_matches('/')),
            peers: Mutex::default(),
            changes: tokio::sync::broadcast::channel(16).0,
        }
    }

    /// Tells every open session and subscription that the tools changed.
    pub async fn tools_changed(&self) {
        // Nobody listening is not an error.
        let _ = self.changes.send(());
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
    /// The least severe log line this session wants (`logging/setLevel`);
    /// none: no log lines.
    pub log_level: Arc<Mutex<Option<LogLevel>>>,
}

impl McpHandler {
    pub fn new(state: Arc<McpState>) -> Self {
        McpHandler {
            state,
            log_level: Arc::default(),
        }
    }

    /// The least severe log line the client wants for this request: the
    /// request's own `_meta` level (2026-07-28), else the session's.
    pub(super) fn log_level(&self, context: &RequestContext<RoleServer>) -> Option<LogLevel> {
        context.meta.log_level().map(skill_level).or_else(|| {
            *self
                .log_level
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    }
}

#[expect(
    deprecated,
    reason = "MCP logging is what 2025-11-25 clients read and set"
)]
pub(super) use rmcp::model::LoggingLevel;

/// A skill's level for an MCP level (the MCP levels above error are
/// error's).
#[expect(deprecated, reason = "MCP logging is what 2025-11-25 clients set")]
fn skill_level(level: LoggingLevel) -> LogLevel {
    match level {
        LoggingLevel::Debug => LogLevel::Debug,
        LoggingLevel::Info => LogLevel::Info,
        LoggingLevel::Notice => LogLevel::Notice,
        LoggingLevel::Warning => LogLevel::Warning,
        _ => LogLevel::Error,
    }
}

/// The caller the HTTP guard authenticated for this very request.
pub(super) fn caller(extensions: &rmcp::model::Extensions) -> Result<Caller, ErrorData> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| ErrorData::invalid_request("the request carries no access token", None))
}

impl ServerHandler for McpHandler {
    #[expect(
        deprecated,
        reason = "2025-11-25 clients set a logging level to hear the tools' log lines"
    )]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_logging()
                .enable_tasks()
                .build(),
        )
        .with_server_info(Implementation::new("tgw", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "Tools of the Trust Gateway. Policy decides each call; a risky one waits for a \
             person to approve it at {}: the call stays open meanwhile, or becomes a task for \
             a client that takes tasks.",
            self.state.dashboard
        ))
    }

    #[expect(deprecated, reason = "MCP logging is what 2025-11-25 clients set")]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        *self
            .log_level
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(skill_level(request.level));
        Ok(())
    }

    /// `subscriptions/listen` (2026-07-28): tools `list_changed` only,
    /// the one change a gateway of tools announces.
    fn accepted_subscription_filter(
        &self,
        requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        let mut accepted = rmcp::model::SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.state.changes.subscribe();
        let wants_tools = context.accepted().tools_list_changed == Some(true);
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.recv() => match changed {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if wants_tools {
                            let notification = rmcp::model::ServerNotification::ToolListChangedNotification(
                                rmcp::model::ToolListChangedNotification::default(),
                            );
                            if context.sink().send(notification).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
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
        self.call(request, context).await
    }

    async fn get_task(
        &self,
        request: rmcp::model::GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, ErrorData> {
        self.task_get(request, context).await
    }

    async fn update_task(
        &self,
        request: rmcp::model::UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.task_update(request, context).await
    }

    async fn cancel_task(
        &self,
        request: rmcp::model::CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.task_cancel(request, context).await
    }
}
