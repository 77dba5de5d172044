//! Execute: one executor of the pool verifies the grant and runs the tool.
//! Its answer counts only with a receipt signed by a trusted executor key
//! that binds this call, this grant, these arguments, the outcome and the
//! answer's text: anything else is a forgery on the bus, and the call
//! fails closed. An executor's refusal keeps its code.
//!
//! While the tool runs, whoever watches the call hears its progress and
//! log lines: only those signed by a trusted executor for this call and
//! this grant; anything else on their subject is dropped. A call dropped
//! while its tool runs (a cancelled task or request) tells the executor to
//! stop it, with an order signed by the gateway key.

use serde_json::json;
use tgw_proto::receipt::{self, Expected};
use tgw_proto::refusal::{Refusal, RefusalCode};
use tgw_proto::update;
use tokio::sync::mpsc;

use super::{CallResult, Gateway, SignedAnswer};
use crate::audit::AuditKind;
use crate::backend::{BusError, Deadlines, Events, exec_subject, stop_subject, updates_subject};
use crate::executor::protocol::{ExecAnswer, ExecReply, ExecRequest, encode};
use crate::policy::Proposal;
use crate::runtime::CallUpdate;

/// How long updates the executor sent before its answer may still take
/// to arrive after it (they travel on another subject).
const UPDATES_STRAGGLE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a skill that names no limit may take.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Gateway {
    /// Execute: one executor of the pool verifies and runs; its answer is
    /// believed only with a matching signed receipt.
    pub(super) async fn execute(
        &self,
        exec: ExecRequest,
        proposal: &Proposal,
        updates: Option<mpsc::Sender<CallUpdate>>,
        receipt: Option<tokio::sync::oneshot::Sender<SignedAnswer>>,
    ) -> Result<CallResult, Refusal> {
        let listening = match updates {
            Some(to) => self.hear_updates(&exec, to).await,
            None => None,
        };
        let subject = exec_subject(self.config.pool.as_str());
        let timeout = self
            .skills
            .current()
            .get(&proposal.skill)
            .map_or(DEFAULT_TIMEOUT, |s| {
                std::time::Duration::from_millis(s.skill.manifest.capabilities.timeout_ms)
            });
        let deadlines = Deadlines {
            ack: self.config.exec_ack,
            answer: timeout + self.config.exec_grace,
        };
        let stop = StopOnDrop {
            order: Some(tgw_proto::stop::StopClaims {
                aud: self.config.pool.to_string(),
                call: exec.call.clone(),
                jti: exec.jti.clone(),
            }),
            signer: self.signer.jws(),
            subject: stop_subject(self.config.pool.as_str()),
            events: self.events.clone(),
        };
        let answer = self
            .requests
            .request(&subject, encode(&exec), deadlines)
            .await;
        stop.answered();
        let answer = match answer {
            Ok(answer) => answer,
            Err(BusError::NoResponders(_) | BusError::NotAcknowledged(_)) => {
                return Ok(CallResult::Failed {
                    reason: format!(
                        "no executor of pool {} took the call (none is running, or none answers)",
                        self.config.pool
                    ),
                });
            }
            Err(BusError::Timeout(waited)) => {
                return Ok(CallResult::Failed {
                    reason: format!(
                        "the executor took the call but went away: no answer within {} s (the \
                         skill's limit and {} s more); the call was not sent again, and its \
                         grant cannot run twice",
                        waited.as_secs(),
                        self.config.exec_grace.as_secs()
                    ),
                });
            }
            Err(e) => {
                return Ok(CallResult::Failed {
                    reason: format!("the executor did not answer: {e}"),
                });
            }
        };
        let (answer, updates) = self.believe(&exec, proposal, &answer).await?;
        if let Some(receipt) = receipt {
            let _ = receipt.send(SignedAnswer {
                call: exec.call.clone(),
                jti: exec.jti.clone(),
                input_hash: proposal.args.input_hash.clone(),
                answer: answer.clone(),
            });
        }
        // The receipt says how many updates the executor sent first: pass
        // them all on, then stop listening.
        if let Some(listening) = listening {
            listening.finish(updates).await;
        }
        ended(answer.reply)
    }

    /// The executor's reply, if its receipt is signed by a trusted
    /// executor and says exactly what the reply says about this call.
    async fn believe(
        &self,
        exec: &ExecRequest,
        proposal: &Proposal,
        bytes: &[u8],
    ) -> Result<(ExecAnswer, u32), Refusal> {
        let checked = serde_json::from_slice::<ExecAnswer>(bytes)
            .map_err(|e| format!("the answer is unreadable: {e}"))
            .and_then(|answer| {
                let updates =
                    self.verify_receipt(&answer, &exec.call, &exec.jti, &proposal.args.input_hash)?;
                Ok((answer, updates))
            });
        match checked {
            Ok(believed) => Ok(believed),
            Err(why) => {
                let shown: String = String::from_utf8_lossy(bytes).chars().take(512).collect();
                self.audit
                    .record(
                        AuditKind::ReplyForged,
                        &exec.call,
                        json!({"jti": exec.jti, "reason": why, "answer": shown}),
                    )
                    .await;
                Err(Refusal::new(
                    RefusalCode::ForgedExecutorReply,
                    format!(
                        "forged executor reply: the answer on the bus is not signed by a trusted \
                         executor for this call ({why}); it was discarded"
                    ),
                ))
            }
        }
    }

    /// How many updates the receipt of `answer` counts, if it is signed
    /// by a trusted executor and binds this call, grant and input, and
    /// exactly what the answer says.
    fn verify_receipt(
        &self,
        answer: &ExecAnswer,
        call: &str,
        jti: &str,
        input_hash: &str,
    ) -> Result<u32, String> {
        let (outcome, output, format) = answer.reply.outcome();
        let expected = Expected {
            call,
            jti,
            input_hash,
            outcome,
            output,
            format,
        };
        receipt::verify(&answer.receipt, &self.executors.current(), &expected)
            .map(|(claims, _executor)| claims.updates)
            .map_err(|e| e.to_string())
    }

    /// A kept answer, read again: the call's end, if its receipt still
    /// holds against the executor keys trusted now.
    pub fn reread(&self, signed: &SignedAnswer) -> Result<CallResult, String> {
        self.verify_receipt(
            &signed.answer,
            &signed.call,
            &signed.jti,
            &signed.input_hash,
        )?;
        Ok(ended(signed.answer.reply.clone()).unwrap_or_else(CallResult::Refused))
    }

    /// Subscribes to the updates of `exec`'s call and passes the genuine
    /// ones to `to`, until the returned guard is dropped. Updates are best
    /// effort: when the bus will not subscribe, the call goes on without.
    async fn hear_updates(
        &self,
        exec: &ExecRequest,
        to: mpsc::Sender<CallUpdate>,
    ) -> Option<Listening> {
        let subject = updates_subject(self.config.pool.as_str(), &exec.call)?;
        let mut heard = self.events.subscribe(&subject).await.ok()?;
        let executors = self.executors.clone();
        let (call, jti) = (exec.call.clone(), exec.jti.clone());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<u32>();
        let task = tokio::spawn(async move {
            let (mut next, mut passed) = (0, 0u32);
            let mut pass_on = async |event: crate::backend::Event, passed: &mut u32| {
                let token = String::from_utf8_lossy(&event.payload);
                match update::verify(&token, &executors.current(), &call, &jti) {
                    // In order, each once: a replayed or late one is dropped.
                    Ok(claims) if claims.seq >= next => {
                        next = claims.seq + 1;
                        *passed += 1;
                        to.send(claims.update).await.is_ok()
                    }
                    Ok(_) => true,
                    Err(why) => {
                        tracing::warn!(%call, %why, "an update of the call was dropped");
                        true
                    }
                }
            };
            loop {
                tokio::select! {
                    biased;
                    event = heard.recv() => match event {
                        Some(event) => if !pass_on(event, &mut passed).await { return },
                        None => return,
                    },
                    sent = &mut stopped => {
                        // The rest may still be on its way: wait for as
                        // many as the executor sent, a little while.
                        let sent = sent.unwrap_or(0);
                        let until = tokio::time::Instant::now() + UPDATES_STRAGGLE;
                        while passed < sent {
                            match tokio::time::timeout_at(until, heard.recv()).await {
                                Ok(Some(event)) => {
                                    if !pass_on(event, &mut passed).await {
                                        return;
                                    }
                                }
                                _ => return,
                            }
                        }
                        return;
                    }
                }
            }
        });
        Some(Listening {
            stop: Some(stop),
            task,
        })
    }
}

/// How a call ends with the executor's (believed) reply: a refusal keeps
/// the executor's code.
fn ended(reply: ExecReply) -> Result<CallResult, Refusal> {
    match reply {
        ExecReply::Done { output, format } => Ok(CallResult::Done { output, format }),
        ExecReply::Refused { code, reason } => {
            Err(Refusal::new(code, reason).context("the executor refused"))
        }
        ExecReply::Failed { reason } => Ok(CallResult::Failed { reason }),
    }
}

/// A request in flight: dropped before its answer came (nobody waits for
/// it any more), it orders the executors of the pool to stop the call. The
/// order is signed only then, off the path of every call that is answered.
struct StopOnDrop<'a> {
    order: Option<tgw_proto::stop::StopClaims>,
    signer: &'a tgw_proto::jws::JwsSigner,
    subject: String,
    events: std::sync::Arc<dyn Events>,
}

impl StopOnDrop<'_> {
    fn answered(mut self) {
        self.order = None;
    }
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let Some(claims) = self.order.take() else {
            return;
        };
        let order = tgw_proto::stop::sign(self.signer, &claims);
        let (events, subject) = (self.events.clone(), std::mem::take(&mut self.subject));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = events.publish(&subject, order.into_bytes()).await {
                    tracing::warn!(error = %e, "the order to stop a cancelled call was not sent");
                }
            });
        }
    }
}

/// The updates of one call being heard; dropping it stops at once.
struct Listening {
    stop: Option<tokio::sync::oneshot::Sender<u32>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// Passes on the `sent` updates the executor's receipt counts (those
    /// not arrived yet for at most [`UPDATES_STRAGGLE`]), then stops.
    async fn finish(mut self, sent: u32) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(sent);
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}
