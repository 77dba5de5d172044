//! `builtin:match`: decides when every condition it is given holds.
//!
//! ```toml
//! [[rule]]
//! name = "support may refund small amounts"
//! use = "builtin:match"
//! decision = "allow"
//! config = { tool = "invoices.refund_invoice", groups = ["support"], args = [{ pointer = "/amount_cents", max = 5000 }] }
//! ```
//!
//! Conditions (all optional, all must hold): `skill` and `tool` globs
//! (`tool` matches `skill.tool`), `risk` (any of), `principal` glob,
//! `roles` (the caller's account role is any of them), `groups` (the
//! caller is in any of them), `outside_groups` (the caller is in none of
//! them), `hidden_characters` (`true`: the arguments hold a character a
//! person cannot see on the approval card — a bidirectional control, a
//! zero-width or TAG character, a control, an unusual space — as
//! `tgw_proto::shown` defines them; `false`: they hold none), and `args`
//! predicates on a JSON pointer: `equals`, `prefix`, `one_of`, `min`,
//! `max`. A missing field fails its predicate.

use serde::Deserialize;
use serde_json::Value;
use tgw_rule_sdk::{
    Decision, Globs, Guest, Outcome, Proposal, Risk, args, field, full_tool_name, parse_config,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    decision: Outcome,
    reason: Option<String>,
    skill: Option<Globs>,
    tool: Option<Globs>,
    risk: Option<Vec<RiskName>>,
    principal: Option<Globs>,
    roles: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    outside_groups: Option<Vec<String>>,
    hidden_characters: Option<bool>,
    #[serde(default)]
    args: Vec<Predicate>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RiskName {
    Read,
    Write,
    Destructive,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Predicate {
    pointer: String,
    equals: Option<Value>,
    prefix: Option<String>,
    one_of: Option<Vec<Value>>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Predicate {
    fn holds(&self, args: &Value) -> bool {
        let Some(value) = field(args, &self.pointer) else {
            return false;
        };
        let number = value.as_f64();
        self.equals.as_ref().is_none_or(|e| e == value)
            && self
                .prefix
                .as_ref()
                .is_none_or(|p| value.as_str().is_some_and(|s| s.starts_with(p.as_str())))
            && self.one_of.as_ref().is_none_or(|set| set.contains(value))
            && self.min.is_none_or(|min| number.is_some_and(|n| n >= min))
            && self.max.is_none_or(|max| number.is_some_and(|n| n <= max))
    }
}

fn risk_name(risk: Risk) -> RiskName {
    match risk {
        Risk::Read => RiskName::Read,
        Risk::Write => RiskName::Write,
        Risk::Destructive => RiskName::Destructive,
    }
}

fn evaluate(config: Config, proposal: &Proposal) -> Result<Decision, Decision> {
    let name = full_tool_name(proposal);
    let args = if config.args.is_empty() {
        Value::Null
    } else {
        args(proposal)?
    };
    let holds = config
        .skill
        .as_ref()
        .is_none_or(|g| g.matches(&proposal.skill))
        && config.tool.as_ref().is_none_or(|g| g.matches(&name))
        && config
            .risk
            .as_ref()
            .is_none_or(|r| r.contains(&risk_name(proposal.risk)))
        && config
            .principal
            .as_ref()
            .is_none_or(|g| g.matches(&proposal.principal))
        && config
            .roles
            .as_ref()
            .is_none_or(|r| r.contains(&proposal.role))
        && config
            .groups
            .as_ref()
            .is_none_or(|g| g.iter().any(|group| proposal.groups.contains(group)))
        && config
            .outside_groups
            .as_ref()
            .is_none_or(|g| !g.iter().any(|group| proposal.groups.contains(group)))
        && config
            .hidden_characters
            .is_none_or(|hidden| hidden == tgw_proto::shown::contains_hidden(&proposal.args_json))
        && config.args.iter().all(|p| p.holds(&args));
    if !holds {
        return Ok(Decision::Abstain);
    }
    Ok(config
        .decision
        .decide(config.reason.unwrap_or_else(|| format!("{name} matched"))))
}

struct Match;

impl Guest for Match {
    fn evaluate(config_json: String, proposal: Proposal) -> Decision {
        let config = match parse_config::<Config>(&config_json) {
            Ok(config) => config,
            Err(deny) => return deny,
        };
        evaluate(config, &proposal).unwrap_or_else(|deny| deny)
    }
}

tgw_rule_sdk::export!(Match);
