//! The tools an MCP client sees: one per tool of each skill the caller may
//! use, named `<skill>.<tool>` (or the alias the policy gives it), with the
//! input and output schemas the component itself declares (unchanged,
//! whatever JSON Schema draft) and hints from its risk. Each carries the component digest it
//! was listed from (in `_meta`), so a client and an approver can tell which
//! build of a skill a call will run.
//!
//! There is deliberately no tool that touches the gateway itself: policy,
//! skills and people change only from the dashboard and the CLI.

use std::sync::Arc;

use rmcp::model::{JsonObject, MetaObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::people::Caller;
use crate::policy::aliases::Aliases;
use crate::registry::{LoadedSkill, SkillSet};
use crate::runtime::{Risk, ToolInfo};

/// The meta key under which a tool names its component's digest.
pub const COMPONENT_META: &str = "tgw/component";

/// Whether `caller` may use `skill` (its manifest's `[access]`: admins,
/// members of its groups; everyone when it names none).
pub fn may_use(caller: &Caller, skill: &LoadedSkill) -> bool {
    skill
        .skill
        .manifest
        .audience
        .admits(caller.role, &caller.groups)
}

fn annotations(risk: Risk) -> ToolAnnotations {
    let annotations = ToolAnnotations::new()
        .read_only(risk == Risk::Read)
        .destructive(risk == Risk::Destructive);
    // A read-only tool touches nothing; writes are not assumed repeatable.
    annotations.idempotent(risk == Risk::Read)
}

fn schema(info: &ToolInfo) -> JsonObject {
    match &info.input_schema {
        Value::Object(schema) => schema.clone(),
        // The manifest tests keep this from happening; stay valid anyway.
        _ => json!({"type": "object"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

/// The meta key under which an aliased tool names its `skill.tool`.
pub const TOOL_META: &str = "tgw/tool";

/// `info` of `skill` as a client sees it: under its alias, if it has one.
pub fn describe(skill: &LoadedSkill, info: &ToolInfo, aliases: &Aliases) -> Tool {
    let qualified = format!("{}.{}", skill.skill.name(), info.name);
    let mut meta = MetaObject::new();
    meta.insert(COMPONENT_META.into(), json!(skill.component.digest));
    meta.insert("tgw/risk".into(), json!(info.risk));
    let name = match aliases.alias_of(&qualified) {
        Some(alias) => {
            meta.insert(TOOL_META.into(), json!(qualified));
            alias.to_owned()
        }
        None => qualified,
    };
    let mut tool = Tool::new(name, info.description.clone(), Arc::new(schema(info)))
        .with_annotations(annotations(info.risk));
    if let Some(Value::Object(output)) = &info.output_schema {
        tool.output_schema = Some(Arc::new(output.clone()));
    }
    tool.meta = Some(meta);
    tool
}

/// Every tool `caller` may use, in a stable order.
pub fn list(skills: &SkillSet, caller: &Caller, aliases: &Aliases) -> Vec<Tool> {
    skills
        .iter()
        .filter(|skill| may_use(caller, skill))
        .flat_map(|skill| {
            skill
                .tools
                .iter()
                .map(|info| describe(skill, info, aliases))
        })
        .collect()
}

/// Splits `<skill>.<tool>` (or the `skill.tool` an alias names) into a
/// skill and tool that exist, exactly as named: no case folding, no
/// normalisation, so a name with an invisible or look-alike character is
/// simply unknown.
pub fn resolve(
    skills: &SkillSet,
    name: &str,
    aliases: &Aliases,
) -> Option<(Arc<LoadedSkill>, ToolInfo)> {
    if !name.is_ascii() {
        return None;
    }
    let name = aliases.target(name).unwrap_or(name);
    let (skill, tool) = name.split_once('.')?;
    let skill = skills.get(skill)?;
    let info = skill.tool(tool)?.clone();
    Some((skill, info))
}
