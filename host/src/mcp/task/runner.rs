//! A task's call, run to its end outside any request: each round is a
//! proposal of its own; a round that waits for a person marks the task
//! with the approval; a tool's questions wait in the record for
//! `tasks/update`; the end is written once. A cancelled task's round is
//! dropped, which withdraws its approval.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::{Notify, oneshot};

use super::LOOK_EVERY;
use super::record::{Outcome, TaskState, Waiting};
use super::store::TaskStore;
use crate::approval::ApprovalRecord;
use crate::gateway::{CallRequest, CallResult, Gateway, SignedAnswer, Watch};
use crate::ids::TaskId;
use crate::mcp::call::Call;
use crate::mcp::input::{self, Round};
use crate::runtime::OutputFormat;

/// One round of a call, running in a task of its own (so that a request
/// can hand it over to a task's runner). Dropping it stops the round.
pub struct Running {
    join: tokio::task::JoinHandle<CallResult>,
    pending: oneshot::Receiver<ApprovalRecord>,
    listening: bool,
    receipt: oneshot::Receiver<SignedAnswer>,
}

/// What a running round does next.
pub enum RoundEvent {
    /// It waits for a person.
    Pending(Box<ApprovalRecord>),
    /// It ended, with the executor's signed answer when one answered.
    Ended(CallResult, Option<SignedAnswer>),
}

impl Running {
    pub fn start(gateway: Arc<Gateway>, proposal: CallRequest) -> Self {
        let (pending_tx, pending) = oneshot::channel();
        let (receipt_tx, receipt) = oneshot::channel();
        let watch = Watch {
            pending: Some(pending_tx),
            updates: None,
            receipt: Some(receipt_tx),
            task: true,
        };
        let join = tokio::spawn(async move { gateway.propose_watched(proposal, watch).await });
        Running {
            join,
            pending,
            listening: true,
            receipt,
        }
    }

    /// The round's next event; after [`RoundEvent::Ended`] there is none.
    pub async fn next(&mut self) -> RoundEvent {
        loop {
            tokio::select! {
                joined = &mut self.join => {
                    let result = joined.unwrap_or_else(|e| CallResult::Failed {
                        reason: format!("the call stopped unexpectedly: {e}"),
                    });
                    return RoundEvent::Ended(result, self.receipt.try_recv().ok());
                }
                record = &mut self.pending, if self.listening => {
                    self.listening = false;
                    if let Ok(record) = record {
                        return RoundEvent::Pending(Box::new(record));
                    }
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.join.abort();
    }
}

/// The marks of an approval a task waits for.
pub fn waiting(record: &ApprovalRecord) -> Waiting {
    Waiting {
        id: record.id.clone(),
        expires: record.expires,
        shown: false,
    }
}

/// How a round that ended is kept: the executor's signed answer when it
/// answered, else the gateway's refusal or failure.
fn outcome(result: CallResult, receipt: Option<SignedAnswer>) -> Outcome {
    match (receipt, result) {
        (Some(signed), _) => Outcome::Answered(Box::new(signed)),
        (None, CallResult::Refused(refusal)) => Outcome::Refused(refusal),
        (None, CallResult::Failed { reason }) => Outcome::Failed { reason },
        (None, CallResult::Done { .. }) => Outcome::Failed {
            reason: "the answer came without the executor's receipt".into(),
        },
    }
}

/// Waits a little, or until a request in this process changes the task.
async fn look(waker: &Notify) {
    tokio::select! {
        () = waker.notified() => {}
        () = tokio::time::sleep(LOOK_EVERY) => {}
    }
}

/// Runs one task's call to its end.
pub struct Runner {
    pub gateway: Arc<Gateway>,
    pub store: TaskStore,
    pub call: Call,
    pub id: TaskId,
}

impl Runner {
    /// Goes on with `running`, a round of `round` whose answers so far
    /// are `answers`.
    pub async fn run(self, running: Running, round: Round, answers: Map<String, Value>) {
        let waker = self.store.waker(&self.id);
        self.rounds(&waker, running, round, answers).await;
        self.store.forget(&self.id);
    }

    async fn rounds(
        &self,
        waker: &Notify,
        mut running: Running,
        mut round: Round,
        mut answers: Map<String, Value>,
    ) {
        loop {
            let (result, receipt) = loop {
                tokio::select! {
                    event = running.next() => match event {
                        RoundEvent::Ended(result, receipt) => break (result, receipt),
                        RoundEvent::Pending(record) => {
                            let state = TaskState::Working { approval: Some(waiting(&record)) };
                            self.set(state).await;
                        }
                    },
                    () = look(waker) => if self.stopped().await {
                        // Dropping the round withdraws its approval.
                        return;
                    },
                }
            };
            let CallResult::Done {
                output,
                format: OutputFormat::InputRequired,
            } = &result
            else {
                return self
                    .set(TaskState::Ended {
                        outcome: outcome(result, receipt),
                    })
                    .await;
            };
            let questions = match self.questions(output, &round) {
                Ok(questions) => questions,
                Err(reason) => {
                    let outcome = Outcome::Failed { reason };
                    return self.set(TaskState::Ended { outcome }).await;
                }
            };
            round = Round {
                number: round.number + 1,
                asked: questions.iter().map(|q| q.key.clone()).collect(),
                answers: answers.clone(),
            };
            self.set(TaskState::InputRequired {
                questions,
                round: round.clone(),
                responses: Map::new(),
            })
            .await;
            let Some(responses) = self.responses(waker, &round).await else {
                return;
            };
            answers = round.answered(Some(&responses.into_iter().collect()));
            let proposal = match self.call.proposal(&answers) {
                Ok(proposal) => proposal,
                Err(reason) => {
                    let outcome = Outcome::Failed { reason };
                    return self.set(TaskState::Ended { outcome }).await;
                }
            };
            running = Running::start(self.gateway.clone(), proposal);
        }
    }

    /// The tool's questions, if they can be asked as a task's input
    /// requests and the call has rounds left.
    fn questions(&self, output: &str, round: &Round) -> Result<Vec<input::Question>, String> {
        let questions = input::questions(output)?;
        input::input_requests(&questions)?;
        if round.number >= input::MAX_ROUNDS {
            return Err(format!(
                "the tool asked more than {} rounds of questions",
                input::MAX_ROUNDS
            ));
        }
        Ok(questions)
    }

    /// Writes `state`, unless the task has already ended (a cancel wins
    /// over a result that comes after it).
    async fn set(&self, state: TaskState) {
        let written = self
            .store
            .change(&self.id, |task| {
                if task.state.is_terminal() {
                    return false;
                }
                task.state = state.clone();
                true
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(task = %self.id, error = %e, "the task's state could not be written");
        }
    }

    /// Whether the task was cancelled, or is gone (expired, or its record
    /// failed its seal). A store that cannot be read stops nothing: the
    /// call still needs whatever it needed.
    async fn stopped(&self) -> bool {
        match self.store.get(&self.id).await {
            Ok(Some((task, _))) => task.state.is_terminal(),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The answers to every question of `round`, once `tasks/update` has
    /// given them; none if the task stops first.
    async fn responses(&self, waker: &Notify, round: &Round) -> Option<Map<String, Value>> {
        loop {
            look(waker).await;
            match self.store.get(&self.id).await {
                Ok(Some((task, _))) => match task.state {
                    TaskState::InputRequired { responses, .. }
                        if round.asked.iter().all(|key| responses.contains_key(key)) =>
                    {
                        return Some(responses);
                    }
                    state if state.is_terminal() => return None,
                    _ => {}
                },
                Ok(None) => return None,
                Err(_) => {}
            }
        }
    }
}
