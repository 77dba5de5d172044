//! Running a policy-rule component (`tgw:policy`).

use super::bindings::policy::PolicyRule;
use super::bindings::policy::tgw::policy::types as wit;
use super::bindings::policy::tgw::skill0_1_0::types::Risk as WitRisk;
use super::{CallError, Limits, LoadError, Loaded, Risk, Runtime, SandboxSpec};

/// A rule component, compiled.
pub type LoadedRule = Loaded<PolicyRule>;

/// What a rule sees of a proposed call.
#[derive(Debug, Clone)]
pub struct RuleProposal<'a> {
    pub skill: &'a str,
    pub tool: &'a str,
    pub risk: Risk,
    pub component: &'a str,
    pub principal: &'a str,
    /// The principal's account role.
    pub role: &'a str,
    /// The principal's groups.
    pub groups: Vec<String>,
    /// Canonical JSON text of the arguments.
    pub args_json: &'a str,
    pub input_hash: &'a str,
}

/// A rule's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleDecision {
    Abstain,
    Allow(String),
    RequireApproval(String),
    Deny(String),
}

impl Runtime {
    pub fn load_rule(&self, name: &str, bytes: &[u8]) -> Result<LoadedRule, LoadError> {
        self.load(name, bytes)
    }

    /// Runs one rule over one proposal in a sandbox with `limits` and
    /// nothing else: no files, no network.
    pub async fn evaluate_rule(
        &self,
        rule: &LoadedRule,
        limits: Limits,
        config_json: &str,
        proposal: &RuleProposal<'_>,
    ) -> Result<RuleDecision, CallError> {
        let spec = SandboxSpec {
            limits,
            ..SandboxSpec::default()
        };
        let proposal = wit::Proposal {
            skill: proposal.skill.to_owned(),
            tool: proposal.tool.to_owned(),
            risk: match proposal.risk {
                Risk::Read => WitRisk::Read,
                Risk::Write => WitRisk::Write,
                Risk::Destructive => WitRisk::Destructive,
            },
            component: proposal.component.to_owned(),
            principal: proposal.principal.to_owned(),
            role: proposal.role.to_owned(),
            groups: proposal.groups.clone(),
            args_json: proposal.args_json.to_owned(),
            input_hash: proposal.input_hash.to_owned(),
        };
        let outcome = self
            .run(rule, &spec, async |r: &PolicyRule, store| {
                r.tgw_policy_rule()
                    .call_evaluate(store, config_json, &proposal)
                    .await
            })
            .await;
        outcome.result.map(|decision| match decision {
            wit::Decision::Abstain => RuleDecision::Abstain,
            wit::Decision::Allow(r) => RuleDecision::Allow(r),
            wit::Decision::RequireApproval(r) => RuleDecision::RequireApproval(r),
            wit::Decision::Deny(r) => RuleDecision::Deny(r),
        })
    }
}
