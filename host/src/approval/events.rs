//! What the dashboards and other watchers of this gateway hear: an
//! approval opened, an approval decided.

use tokio::sync::broadcast;

use super::record::{ApprovalRecord, ApprovalState};
use crate::ids::ApprovalId;

#[derive(Debug, Clone)]
pub enum ApprovalEvent {
    Pending(Box<ApprovalRecord>),
    Decided {
        id: ApprovalId,
        state: ApprovalState,
    },
}

/// The in-process feed of approval events.
#[derive(Clone)]
pub struct ApprovalEvents {
    sender: broadcast::Sender<ApprovalEvent>,
}

impl Default for ApprovalEvents {
    fn default() -> Self {
        ApprovalEvents {
            sender: broadcast::channel(256).0,
        }
    }
}

impl ApprovalEvents {
    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.sender.subscribe()
    }

    pub fn pending(&self, record: &ApprovalRecord) {
        // Nobody listening is fine: no dashboard is open.
        let _ = self
            .sender
            .send(ApprovalEvent::Pending(Box::new(record.clone())));
    }

    pub fn decided(&self, record: &ApprovalRecord) {
        let _ = self.sender.send(ApprovalEvent::Decided {
            id: record.id.clone(),
            state: record.state.clone(),
        });
    }
}
