//! `policy.toml`: which rules decide, in what order, and the default.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, de::Error as _};
use toml::Spanned;

/// A parsed policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(deserialize_with = "version_one")]
    pub version: u32,
    /// What happens when every rule abstains.
    #[serde(default)]
    pub default: DefaultDecision,
    /// Sandbox limits of each rule evaluation.
    #[serde(default)]
    pub limits: RuleLimits,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleEntry>,
    /// Public names of tools for MCP clients: `alias = "skill.tool"` (see
    /// [`super::aliases`]).
    #[serde(default)]
    pub aliases: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultDecision {
    #[default]
    Deny,
    RequireApproval,
    Allow,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleLimits {
    #[serde(default = "default_fuel")]
    pub fuel: u64,
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits {
            fuel: default_fuel(),
            memory_mib: default_memory_mib(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

fn default_fuel() -> u64 {
    100_000_000
}
fn default_memory_mib() -> u64 {
    32
}
fn default_timeout_ms() -> u64 {
    500
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub name: Spanned<String>,
    /// `builtin:<name>` or a component file, relative to the policy file.
    #[serde(rename = "use")]
    pub component: Spanned<String>,
    /// Given to the rule as JSON.
    #[serde(default)]
    pub config: toml::Table,
    /// Given to the rule as `config.decision`.
    #[serde(default, deserialize_with = "decision")]
    pub decision: Option<String>,
    /// How long a call that became an MCP task waits for a person when
    /// this rule asks for one, in minutes (1 to [`MAX_TASK_APPROVAL_MINUTES`]).
    /// Calls held open in their request keep the gateway's approval expiry.
    #[serde(default)]
    pub task_approval_minutes: Option<Spanned<u64>>,
}

/// The longest a task may wait for a person: a day.
pub const MAX_TASK_APPROVAL_MINUTES: u64 = 24 * 60;

/// A policy file that cannot be used, located in it.
pub type PolicyError = tgw_parse::toml_file::FileError;

impl PolicyFile {
    pub fn parse(file: &Path, text: &str) -> Result<PolicyFile, PolicyError> {
        let source = tgw_parse::toml_file::Source { file, text };
        let located = |span, message| source.error(span, message);
        let policy: PolicyFile = source.parse()?;
        let mut seen = BTreeMap::new();
        for (i, rule) in policy.rules.iter().enumerate() {
            let name = rule.name.get_ref();
            if name.trim().is_empty() {
                return Err(located(
                    Some(rule.name.span()),
                    format!("rule[{i}].name: a rule needs a name"),
                ));
            }
            if seen.insert(name.clone(), i).is_some() {
                return Err(located(
                    Some(rule.name.span()),
                    format!("rule[{i}].name: {name:?} is used twice"),
                ));
            }
            if let Some(minutes) = &rule.task_approval_minutes
                && !(1..=MAX_TASK_APPROVAL_MINUTES).contains(minutes.get_ref())
            {
                return Err(located(
                    Some(minutes.span()),
                    format!(
                        "rule[{i}].task_approval_minutes: {} is not between 1 and \
                         {MAX_TASK_APPROVAL_MINUTES} (a day)",
                        minutes.get_ref()
                    ),
                ));
            }
        }
        Ok(policy)
    }

    /// The `[aliases]` table, checked (an error names the alias).
    pub fn checked_aliases(
        &self,
        source: &tgw_parse::toml_file::Source<'_>,
    ) -> Result<super::aliases::Aliases, PolicyError> {
        super::aliases::Aliases::new(
            self.aliases
                .iter()
                .map(|(alias, target)| (alias.as_str(), target.get_ref().as_str())),
        )
        .map_err(|(alias, why)| {
            let span = self.aliases.get(&alias).map(Spanned::span);
            source.error(span, format!("aliases.{alias}: {why}"))
        })
    }
}

fn version_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        1 => Ok(1),
        other => Err(D::Error::custom(format!(
            "version {other} is not supported (this gateway reads version 1)"
        ))),
    }
}

fn decision<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = String::deserialize(d)?;
    match value.as_str() {
        "allow" | "require-approval" | "deny" => Ok(Some(value)),
        _ => Err(D::Error::custom(format!(
            "{value:?} is not allow, require-approval or deny"
        ))),
    }
}
