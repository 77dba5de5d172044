//! A call's wait for a human: the approval is opened, every dashboard
//! hears of it, and the call waits for the first of a decision, expiry, or
//! the caller going away (which withdraws it). Each end is audited as
//! `approval.decided` by the waiting call itself, before it goes on, so the
//! log keeps the order of events.

use std::time::Duration;

use serde_json::json;
use tgw_proto::grant::Approval;
use tgw_proto::refusal::{Refusal, RefusalCode};
use tokio::sync::oneshot;

use super::{ApprovalEvents, ApprovalRecord, ApprovalState, ApprovalWorkflow, Approvals};
use crate::audit::{Audit, AuditKind, now_millis};
use crate::ids::{ApprovalId, CallId};
use crate::policy::{Decision, Proposal};

/// Another gateway process may decide an approval; a waiting call looks
/// at the store this often.
const LOOK_EVERY: Duration = Duration::from_secs(1);

impl ApprovalWorkflow {
    /// Opens an approval for `proposal` and waits for its end: the
    /// approval's evidence when a human approved, else why not.
    /// `pending` hears the record once it is open (an MCP client can be
    /// told where to decide). It expires after the gateway's approval
    /// expiry, or `longer` (a task's). Dropping the future withdraws the
    /// approval.
    pub async fn wait(
        &self,
        call: &CallId,
        proposal: &Proposal,
        decision: &Decision,
        pending: Option<oneshot::Sender<ApprovalRecord>>,
        longer: Option<Duration>,
    ) -> Result<Approval, Refusal> {
        let created = now_millis();
        let lifetime = longer.unwrap_or(self.config.expiry);
        let expiry = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
        let record = ApprovalRecord {
            id: crate::ids::new_approval_id(),
            call: call.clone(),
            skill: proposal.skill.clone(),
            tool: proposal.tool.clone(),
            risk: proposal.risk,
            component: proposal.component.clone(),
            principal: proposal.principal.clone(),
            args: proposal.args.as_str().to_owned(),
            input_hash: proposal.args.input_hash.clone(),
            policy: decision.policy.clone(),
            rule: decision.rule.clone(),
            reason: decision.reason.clone(),
            created,
            expires: created.saturating_add(expiry),
            state: ApprovalState::Pending,
        };
        let mut decided = self.approvals.open(&record).await.map_err(|e| {
            Refusal::new(
                RefusalCode::StateUnavailable,
                format!("the approval could not be recorded: {e}"),
            )
        })?;
        // If the caller goes away (a cancelled MCP call), withdraw.
        let guard = WithdrawOnDrop {
            approvals: self.approvals.clone(),
            audit: self.audit.clone(),
            events: self.events.clone(),
            call: call.clone(),
            id: Some(record.id.clone()),
        };
        self.audit
            .record(
                AuditKind::ApprovalPending,
                call,
                json!({"approval": record.id, "rule": record.rule, "reason": record.reason, "expires": record.expires}),
            )
            .await;
        self.events.pending(&record);
        if let Some(pending) = pending {
            let _ = pending.send(record.clone());
        }

        let deadline = tokio::time::Instant::now() + lifetime;
        let state = loop {
            let state = decided.borrow_and_update().clone();
            if state != ApprovalState::Pending {
                break state;
            }
            tokio::select! {
                _ = decided.changed() => {}
                () = tokio::time::sleep_until(deadline) => break self.expire(&record.id).await,
                () = tokio::time::sleep(LOOK_EVERY) => {
                    match self.approvals.get(&record.id).await {
                        Ok(Some(current)) if current.state != ApprovalState::Pending => {
                            break current.state;
                        }
                        // The record this call opened is gone, or failed
                        // its seal (the store names it in the audit log).
                        Ok(None) => {
                            guard.disarm();
                            let refusal = Refusal::new(
                                RefusalCode::RecordTampered,
                                format!(
                                    "the approval record {} was replaced by one no trusted gateway \
                                     signed, or removed: the call is refused",
                                    record.id
                                ),
                            );
                            self.audit
                                .record(
                                    AuditKind::ApprovalDecided,
                                    call,
                                    json!({"approval": record.id, "state": "tampered", "code": refusal.code()}),
                                )
                                .await;
                            return Err(refusal);
                        }
                        _ => {}
                    }
                }
            }
        };
        guard.disarm();
        self.audit
            .record(
                AuditKind::ApprovalDecided,
                call,
                json!({"approval": record.id, "state": state}),
            )
            .await;
        let approval = self.outcome(&record, state)?;
        // Whatever store the decision came from, the human's signature
        // is checked here, against the record as this call opened it.
        match self
            .check_evidence(&record, &approval.approver, &evidence(&approval))
            .await
        {
            Ok(approval) => Ok(approval),
            Err(e) => {
                let refusal = Refusal::new(
                    RefusalCode::NoHumanApproval,
                    format!(
                        "the approval's passkey evidence does not hold, so no grant is signed: {e}"
                    ),
                );
                self.audit
                    .record(
                        AuditKind::RecordTampered,
                        call,
                        json!({"approval": record.id, "code": refusal.code(), "reason": refusal.as_reason()}),
                    )
                    .await;
                Err(refusal)
            }
        }
    }

    /// The approval's time is up: it expires, unless it was decided at the
    /// last moment (here or elsewhere).
    async fn expire(&self, id: &str) -> ApprovalState {
        match self.approvals.expire(id).await {
            Ok(expired) => {
                self.events.decided(&expired);
                expired.state
            }
            Err(_) => self
                .approvals
                .get(id)
                .await
                .ok()
                .flatten()
                .map_or(ApprovalState::Expired { at: now_millis() }, |r| r.state),
        }
    }

    fn outcome(&self, record: &ApprovalRecord, state: ApprovalState) -> Result<Approval, Refusal> {
        match state {
            ApprovalState::Approved { by, evidence, .. } => Ok(Approval {
                id: record.id.to_string(),
                approver: by,
                credential_id: evidence.credential_id,
                nonce: evidence.nonce,
                authenticator_data: evidence.authenticator_data,
                client_data_json: evidence.client_data_json,
                signature: evidence.signature,
            }),
            ApprovalState::Denied { by, reason, .. } => Err(Refusal::new(
                RefusalCode::ApprovalDenied,
                format!("denied by {by}: {reason}"),
            )),
            ApprovalState::Expired { .. } => Err(Refusal::new(
                RefusalCode::ApprovalExpired,
                format!(
                    "nobody approved the call within {}",
                    human(self.config.expiry)
                ),
            )),
            ApprovalState::Withdrawn { .. } | ApprovalState::Pending => Err(Refusal::new(
                RefusalCode::ApprovalWithdrawn,
                "the call was withdrawn",
            )),
        }
    }
}

fn evidence(approval: &Approval) -> super::PasskeyEvidence {
    super::PasskeyEvidence {
        credential_id: approval.credential_id.clone(),
        nonce: approval.nonce.clone(),
        authenticator_data: approval.authenticator_data.clone(),
        client_data_json: approval.client_data_json.clone(),
        signature: approval.signature.clone(),
    }
}

/// `300 s`, or `300 ms` below a second.
fn human(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// Withdraws a pending approval whose caller went away, and says so (the
/// audit log, and every dashboard, so the card leaves).
struct WithdrawOnDrop {
    approvals: Approvals,
    audit: Audit,
    events: ApprovalEvents,
    call: CallId,
    id: Option<ApprovalId>,
}

impl WithdrawOnDrop {
    fn disarm(mut self) {
        if let Some(id) = self.id.take() {
            self.approvals.forget(&id);
        }
    }
}

impl Drop for WithdrawOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let approvals = self.approvals.clone();
        let audit = self.audit.clone();
        let events = self.events.clone();
        let call = self.call.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Ok(record) = approvals.withdraw(&id).await {
                    audit
                        .record(
                            AuditKind::ApprovalDecided,
                            &call,
                            json!({"approval": id, "state": record.state}),
                        )
                        .await;
                    events.decided(&record);
                }
            });
        }
    }
}
