//! Execute: one executor of the pool verifies the grant and runs the tool;
//! its refusal keeps its code.

use tgw_proto::refusal::Refusal;

use super::{CallResult, Gateway};
use crate::backend::{BusError, exec_subject};
use crate::executor::protocol::{ExecReply, ExecRequest, encode};

impl Gateway {
    /// Execute: one executor of the pool verifies and runs; its refusal
    /// keeps its code.
    pub(super) async fn execute(&self, exec: ExecRequest) -> Result<CallResult, Refusal> {
        let subject = exec_subject(self.config.pool.as_str());
        let answer = match self
            .requests
            .request(&subject, encode(&exec), self.config.exec_timeout)
            .await
        {
            Ok(answer) => answer,
            Err(BusError::NoResponders(_)) => {
                return Ok(CallResult::Failed {
                    reason: format!("no executor of pool {} is listening", self.config.pool),
                });
            }
            Err(e) => {
                return Ok(CallResult::Failed {
                    reason: format!("the executor did not answer: {e}"),
                });
            }
        };
        match serde_json::from_slice::<ExecReply>(&answer) {
            Ok(ExecReply::Done { output }) => Ok(CallResult::Done { output }),
            Ok(ExecReply::Refused { code, reason }) => {
                Err(Refusal::new(code, reason).context("the executor refused"))
            }
            Ok(ExecReply::Failed { reason }) => Ok(CallResult::Failed { reason }),
            Err(e) => Ok(CallResult::Failed {
                reason: format!("the executor's answer is unreadable: {e}"),
            }),
        }
    }
}
