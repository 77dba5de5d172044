//! Grant: the gateway signs an execution grant (at most 30 s) bound to the
//! canonical arguments, the component and the policy that decided, and
//! carrying the human approval when there was one. The grant's audit entry
//! is written before the grant leaves: if it cannot be, nothing runs.

use serde_json::json;
use tgw_proto::grant::{Approval, Claims};
use tgw_proto::refusal::{Refusal, RefusalCode};

use super::Gateway;
use crate::audit::AuditKind;
use crate::executor::{ExecRequest, unix_now};
use crate::policy::{Decision, Proposal};

impl Gateway {
    /// Makes sure executors can find the policy that decided among those
    /// in force, before a grant names it (once per digest and process).
    async fn record_policy(&self, digest: &str) -> Result<(), Refusal> {
        let known = |recorded: &std::sync::Mutex<std::collections::HashSet<String>>| {
            recorded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(digest)
        };
        if known(&self.recorded) {
            return Ok(());
        }
        crate::policy::in_force::ensure(&*self.policies, digest, crate::audit::now_millis())
            .await
            .map_err(|e| {
                Refusal::new(
                    RefusalCode::StateUnavailable,
                    format!("the policy in force could not be recorded for the executors: {e}"),
                )
            })?;
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(digest.to_owned());
        Ok(())
    }

    /// Grant: a grant of at most 30 s bound to the canonical arguments, the
    /// component and the policy that decided; audited as `grant`.
    pub(super) async fn grant(
        &self,
        call: &str,
        proposal: &Proposal,
        decision: &Decision,
        approval: Option<Approval>,
    ) -> Result<ExecRequest, Refusal> {
        self.record_policy(&decision.policy).await?;
        let now = unix_now();
        let claims = Claims {
            iss: self.config.issuer.clone(),
            aud: self.config.pool.to_string(),
            sub: proposal.principal.clone(),
            jti: crate::ids::random_b64(16),
            iat: now,
            nbf: now,
            exp: now + i64::try_from(self.config.grant_lifetime.as_secs().min(30)).unwrap_or(30),
            skill: proposal.skill.to_string(),
            tool: proposal.tool.to_string(),
            component: proposal.component.to_string(),
            input_hash: proposal.args.input_hash.clone(),
            policy: decision.policy.clone(),
            approval,
        };
        let grant = self.signer.sign(&claims);
        self.audit
            .append(
                AuditKind::Grant,
                call,
                json!({"jti": claims.jti, "kid": self.signer.kid(), "aud": claims.aud, "exp": claims.exp, "policy": claims.policy}),
            )
            .await
            .map_err(|e| {
                Refusal::new(
                    RefusalCode::AuditUnavailable,
                    format!("the grant's audit entry could not be written, so nothing runs: {e}"),
                )
            })?;
        Ok(ExecRequest {
            call: call.to_owned(),
            jti: claims.jti,
            grant: grant.token().to_owned(),
            args: proposal.args.as_str().to_owned(),
        })
    }
}
