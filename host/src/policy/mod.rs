//! The policy engine: the rules of the active `policy.toml`, each a
//! policy-rule component, combined deny-overrides
//! (`deny` > `require-approval` > `allow` > `abstain`); when every rule
//! abstains, the file's `default` (deny unless set).
//!
//! Every decision carries the `sha256:` digest of the policy set that made
//! it (the file and the digest of every rule component), and that digest
//! goes into the grant.

pub mod aliases;
pub mod file;
pub mod in_force;
mod live;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest as _;

pub use self::file::{DefaultDecision, PolicyError, PolicyFile};
pub use self::live::LivePolicy;
use crate::canonical::Canonical;
use crate::ids::{Digest, GroupName, Role, SkillName, ToolName};
use crate::runtime::{Limits, LoadedRule, Risk, RuleDecision, RuleProposal, Runtime};

/// The built-in rule components, embedded in the binary.
pub fn builtin_rule(name: &str) -> Option<&'static [u8]> {
    match name {
        "match" => Some(crate::guests::RULE_MATCH_WASM),
        "amount-limit" => Some(crate::guests::RULE_AMOUNT_LIMIT_WASM),
        _ => None,
    }
}

/// A proposed call, as policy sees it.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub skill: SkillName,
    pub tool: ToolName,
    pub risk: Risk,
    /// `sha256:` digest of the skill component.
    pub component: Digest,
    pub principal: String,
    pub role: Role,
    pub groups: Vec<GroupName>,
    pub args: Canonical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    RequireApproval,
    Deny,
}

/// What one rule said about one call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleOutcome {
    pub rule: String,
    /// `abstain`, `allow`, `require-approval` or `deny`.
    pub decision: &'static str,
    pub reason: String,
}

/// The policy's decision on one call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// The rule whose decision won (none: the default applied).
    pub rule: Option<String>,
    pub reason: String,
    /// `sha256:` digest of the policy set that decided.
    pub policy: String,
    /// Every rule's answer, in file order.
    pub trace: Vec<RuleOutcome>,
    /// How long a task waits for a person under this decision, when its
    /// rule says (`task_approval_minutes`).
    #[serde(skip)]
    pub task_approval: Option<Duration>,
}

struct Rule {
    name: String,
    config_json: String,
    component: LoadedRule,
    task_approval: Option<Duration>,
}

/// A policy file with its rule components loaded.
pub struct Policy {
    pub digest: String,
    /// The file's text, as loaded.
    pub text: String,
    /// sha256 of the file text this policy was loaded from.
    pub(crate) text_hash: [u8; 32],
    pub path: PathBuf,
    default: DefaultDecision,
    limits: Limits,
    rules: Vec<Rule>,
    /// The public names of tools (`[aliases]`).
    pub aliases: aliases::Aliases,
}

impl Policy {
    pub fn load(runtime: &Runtime, path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::whole(path, format!("cannot read: {e}")))?;
        Self::from_text(runtime, path, &text)
    }

    /// Parses `text` (read from `path`) and loads every rule's component.
    pub fn from_text(runtime: &Runtime, path: &Path, text: &str) -> Result<Policy, PolicyError> {
        let file = PolicyFile::parse(path, text)?;
        let source = tgw_parse::toml_file::Source { file: path, text };
        let aliases = file.checked_aliases(&source)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut rules = Vec::new();
        for (i, entry) in file.rules.iter().enumerate() {
            let use_ = entry.component.get_ref();
            let at = |message: String| {
                source.error(
                    Some(entry.component.span()),
                    format!("rule[{i}].use: {message}"),
                )
            };
            let (label, bytes) = match use_.strip_prefix("builtin:") {
                Some(name) => {
                    let bytes = builtin_rule(name).ok_or_else(|| {
                        at(format!(
                            "no built-in rule {name:?} (there are: match, amount-limit)"
                        ))
                    })?;
                    (use_.clone(), bytes.to_vec())
                }
                None => {
                    let file = base.join(use_);
                    let bytes = std::fs::read(&file)
                        .map_err(|e| at(format!("cannot read {}: {e}", file.display())))?;
                    (file.display().to_string(), bytes)
                }
            };
            let component = runtime
                .load_rule(&label, &bytes)
                .map_err(|e| at(e.to_string()))?;
            let mut config = serde_json::to_value(&entry.config)
                .map_err(|e| at(format!("config is not JSON: {e}")))?;
            if let Some(decision) = &entry.decision {
                config["decision"] = Value::String(decision.clone());
            }
            rules.push(Rule {
                name: entry.name.get_ref().clone(),
                config_json: config.to_string(),
                component,
                task_approval: entry
                    .task_approval_minutes
                    .as_ref()
                    .map(|minutes| Duration::from_secs(minutes.get_ref() * 60)),
            });
        }
        let digest = policy_digest(text, &rules);
        let limits = Limits {
            fuel: file.limits.fuel,
            memory_bytes: file.limits.memory_mib << 20,
            timeout: Duration::from_millis(file.limits.timeout_ms),
            log_bytes: 4096,
        };
        let text_hash = sha2::Sha256::digest(text.as_bytes()).into();
        Ok(Policy {
            digest,
            text: text.to_owned(),
            text_hash,
            path: path.to_owned(),
            default: file.default,
            limits,
            rules,
            aliases,
        })
    }

    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Runs every rule over `proposal` and combines their answers. A rule
    /// that traps, loops or runs out of memory denies, with that reason.
    pub async fn decide(&self, runtime: &Runtime, proposal: &Proposal) -> Decision {
        let rule_proposal = RuleProposal {
            skill: &proposal.skill,
            tool: &proposal.tool,
            risk: proposal.risk,
            component: &proposal.component,
            principal: &proposal.principal,
            role: proposal.role.as_str(),
            groups: proposal.groups.iter().map(ToString::to_string).collect(),
            args_json: proposal.args.as_str(),
            input_hash: &proposal.args.input_hash,
        };
        let mut trace = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let answer = runtime
                .evaluate_rule(
                    &rule.component,
                    self.limits,
                    &rule.config_json,
                    &rule_proposal,
                )
                .await;
            let (decision, reason) = match answer {
                Ok(RuleDecision::Abstain) => ("abstain", String::new()),
                Ok(RuleDecision::Allow(r)) => ("allow", r),
                Ok(RuleDecision::RequireApproval(r)) => ("require-approval", r),
                Ok(RuleDecision::Deny(r)) => ("deny", r),
                Err(e) => ("deny", format!("the rule failed, so it denies: {e}")),
            };
            trace.push(RuleOutcome {
                rule: rule.name.clone(),
                decision,
                reason,
            });
        }
        let mut decision = combine(&self.digest, self.default, trace);
        decision.task_approval = self
            .rules
            .iter()
            .find(|rule| Some(&rule.name) == decision.rule.as_ref())
            .and_then(|rule| rule.task_approval);
        decision
    }
}

fn combine(policy: &str, default: DefaultDecision, trace: Vec<RuleOutcome>) -> Decision {
    for (decision, verdict) in [
        ("deny", Verdict::Deny),
        ("require-approval", Verdict::RequireApproval),
        ("allow", Verdict::Allow),
    ] {
        if let Some(winner) = trace.iter().find(|o| o.decision == decision) {
            return Decision {
                verdict,
                rule: Some(winner.rule.clone()),
                reason: winner.reason.clone(),
                policy: policy.to_owned(),
                trace,
                task_approval: None,
            };
        }
    }
    let (verdict, name) = match default {
        DefaultDecision::Deny => (Verdict::Deny, "deny"),
        DefaultDecision::RequireApproval => (Verdict::RequireApproval, "require-approval"),
        DefaultDecision::Allow => (Verdict::Allow, "allow"),
    };
    Decision {
        verdict,
        rule: None,
        reason: format!("no rule decided; the policy's default is {name}"),
        policy: policy.to_owned(),
        trace,
        task_approval: None,
    }
}

/// `sha256:` over the canonical JSON of the file's text and each rule's
/// name and component digest.
#[expect(
    clippy::expect_used,
    reason = "the policy set is our own JSON of strings: always canonical"
)]
fn policy_digest(text: &str, rules: &[Rule]) -> String {
    let set = json!({
        "file": text,
        "rules": rules.iter().map(|r| json!({"name": r.name, "component": r.component.digest})).collect::<Vec<_>>(),
    });
    let canonical = crate::canonical::canonicalize(set.to_string().as_bytes())
        .expect("our own JSON is canonicalisable");
    canonical.input_hash
}

/// Shared ownership of the runtime a policy evaluates with.
pub type SharedRuntime = Arc<Runtime>;
