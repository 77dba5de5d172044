//! `builtin:amount-limit`: a numeric argument over a threshold needs a
//! human.
//!
//! ```toml
//! [[rule]]
//! name = "big payments need a human"
//! use = "builtin:amount-limit"
//! config = { tool = "stripe.*", field = "amount", max = 1000 }
//! ```
//!
//! For a call whose `skill.tool` matches `tool`: a `field` (a top-level
//! name or a JSON pointer) over `max` gives `decision` (default
//! require-approval). A field that is present but not a number, or a
//! negative number, is denied with the reason: the rule cannot tell what
//! such an amount moves (a negative charge may be a refund), so it does not
//! guess. Otherwise the rule abstains.

use serde::Deserialize;
use tgw_rule_sdk::{
    Decision, Globs, Guest, Outcome, Proposal, args, field, full_tool_name, parse_config,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tool: Globs,
    field: String,
    max: f64,
    #[serde(default = "require_approval")]
    decision: Outcome,
}

fn require_approval() -> Outcome {
    Outcome::RequireApproval
}

fn evaluate(config: Config, proposal: &Proposal) -> Result<Decision, Decision> {
    if !config.tool.matches(&full_tool_name(proposal)) {
        return Ok(Decision::Abstain);
    }
    let args = args(proposal)?;
    let Some(value) = field(&args, &config.field) else {
        return Ok(Decision::Abstain);
    };
    Ok(match value.as_f64() {
        Some(amount) if amount < 0.0 => Decision::Deny(format!(
            "{} is {amount}: a negative amount is refused, since the limit of {} cannot \
             say what it moves",
            config.field, config.max
        )),
        Some(amount) if amount > config.max => config.decision.decide(format!(
            "{} is {amount}, over the limit of {}",
            config.field, config.max
        )),
        Some(_) => Decision::Abstain,
        None => Decision::Deny(format!(
            "{} is {value}, not a number, so the limit of {} cannot be checked",
            config.field, config.max
        )),
    })
}

struct AmountLimit;

impl Guest for AmountLimit {
    fn evaluate(config_json: String, proposal: Proposal) -> Decision {
        let config = match parse_config::<Config>(&config_json) {
            Ok(config) => config,
            Err(deny) => return deny,
        };
        evaluate(config, &proposal).unwrap_or_else(|deny| deny)
    }
}

tgw_rule_sdk::export!(AmountLimit);
