//! The guest side of a Trust Gateway policy rule: the `tgw:policy`
//! bindings, generated once from the workspace's `wit/` (like
//! `tgw-skill-sdk`), and the helpers the built-in rules share.
//!
//! A rule reads its `config` (the rule's table in `policy.toml`, as JSON)
//! and one proposal, and answers abstain, allow, require-approval or deny.
//! A rule that cannot understand its config denies: fail closed.

wit_bindgen::generate!({
    path: "../../wit",
    world: "tgw:policy/policy-rule@0.1.0",
    pub_export_macro: true,
    default_bindings_module: "tgw_rule_sdk",
    generate_all,
});

pub use exports::tgw::policy::rule::Guest;
pub use tgw::policy::types::{Decision, Proposal};
pub use tgw::skill0_1_0::types::Risk;

use serde::de::DeserializeOwned;

/// Parses the rule's config; a config the rule cannot use becomes a deny
/// naming the problem.
pub fn parse_config<T: DeserializeOwned>(config_json: &str) -> Result<T, Decision> {
    serde_json::from_str(config_json)
        .map_err(|e| Decision::Deny(format!("the rule's config is invalid: {e}")))
}

/// One glob or a list of them (`"stripe.*"` or `["a.*", "b.get"]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Globs {
    One(String),
    Many(Vec<String>),
}

impl Globs {
    /// `*` matches any run of characters, `?` one character.
    pub fn matches(&self, text: &str) -> bool {
        let hit = |pattern: &String| wildmatch::WildMatch::new(pattern).matches(text);
        match self {
            Globs::One(pattern) => hit(pattern),
            Globs::Many(patterns) => patterns.iter().any(hit),
        }
    }
}

/// What a rule decides when its conditions hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Allow,
    RequireApproval,
    Deny,
}

impl Outcome {
    pub fn decide(self, reason: String) -> Decision {
        match self {
            Outcome::Allow => Decision::Allow(reason),
            Outcome::RequireApproval => Decision::RequireApproval(reason),
            Outcome::Deny => Decision::Deny(reason),
        }
    }
}

/// `skill.tool`, the name policy globs match against.
pub fn full_tool_name(proposal: &Proposal) -> String {
    format!("{}.{}", proposal.skill, proposal.tool)
}

/// The proposal's arguments as JSON. The gateway sends canonical JSON; if
/// it ever did not, the rule cannot judge the call.
pub fn args(proposal: &Proposal) -> Result<serde_json::Value, Decision> {
    serde_json::from_str(&proposal.args_json)
        .map_err(|e| Decision::Deny(format!("the arguments are not JSON: {e}")))
}

/// A field by JSON pointer (`/amount`, `/lines/0/price`) or by top-level
/// name (`amount`).
pub fn field<'a>(args: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    if path.starts_with('/') {
        args.pointer(path)
    } else {
        args.get(path)
    }
}
