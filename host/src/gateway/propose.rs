//! Propose: the skill and tool exist, the caller may use them, and the
//! arguments are canonical JSON (RFC 8785; duplicate keys, NaN, lone
//! surrogates, numbers beyond ±2^53, over 1 MiB or 64 levels are refused).

use serde_json::json;
use tgw_proto::refusal::{Refusal, RefusalCode};

use super::{CallRequest, Gateway};
use crate::audit::AuditKind;
use crate::canonical::canonicalize;
use crate::policy::Proposal;

impl Gateway {
    /// Propose: the skill and tool exist, the caller may use them, and the
    /// arguments are canonical JSON; audited as `proposal`.
    pub(super) async fn proposal(
        &self,
        call: &str,
        request: CallRequest,
    ) -> Result<Proposal, Refusal> {
        let skill = self.skills.current().get(&request.skill).ok_or_else(|| {
            Refusal::new(
                RefusalCode::UnknownSkill,
                format!("there is no skill {:?}", request.skill),
            )
        })?;
        let tool = skill.tool(&request.tool).ok_or_else(|| {
            Refusal::new(
                RefusalCode::UnknownTool,
                format!("skill {} has no tool {:?}", request.skill, request.tool),
            )
        })?;
        let audience = &skill.skill.manifest.audience;
        if !audience.admits(request.role, &request.groups) {
            return Err(Refusal::new(
                RefusalCode::NotInGroups,
                format!(
                    "{} may not use skill {} (it is for {})",
                    request.principal,
                    request.skill,
                    audience.describe()
                ),
            ));
        }
        let args = canonicalize(&request.args).map_err(|e| {
            Refusal::new(
                RefusalCode::BadArguments,
                format!("the arguments are refused: {e}"),
            )
        })?;
        if !args.bytes.starts_with(b"{") {
            return Err(Refusal::new(
                RefusalCode::BadArguments,
                "the arguments must be a JSON object",
            ));
        }
        let mut detail = json!({
            "principal": request.principal, "role": request.role, "groups": request.groups,
            "skill": request.skill, "tool": request.tool, "risk": tool.risk,
            "component": skill.component.digest, "input_hash": args.input_hash,
            "args": args.as_str(),
        });
        if let Some(trace) = &request.trace {
            detail["traceparent"] = json!(trace.to_string());
        }
        self.audit.record(AuditKind::Proposal, call, detail).await;
        Ok(Proposal {
            skill: request.skill,
            tool: request.tool,
            risk: tool.risk,
            component: skill.component.digest.clone(),
            principal: request.principal,
            role: request.role,
            groups: request.groups,
            args,
        })
    }
}
