//! Refusals at the doors — MCP, OAuth, the dashboard — in the audit log,
//! as `request.refused` with the door, the code and the reason.
//!
//! A refusal of someone known (a valid token or a session) is written at
//! once, naming them. A refusal of an anonymous request (no valid token, a
//! failed sign-in) is counted instead, per source, door and code, and
//! written as one summary entry per source and interval: nobody can flood
//! the log by knocking. At most [`MAX_SOURCES`] sources are counted at once
//! (more are counted together as `other sources`), so nobody can grow the
//! gateway's memory either.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::json;

use super::{Audit, AuditKind};

/// How many anonymous sources are counted one by one in an interval.
pub const MAX_SOURCES: usize = 1024;
/// What the sources past [`MAX_SOURCES`] are counted as.
pub const OTHER_SOURCES: &str = "other sources";

/// Where a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Door {
    Mcp,
    OAuth,
    Dashboard,
}

impl Door {
    pub const fn as_str(self) -> &'static str {
        match self {
            Door::Mcp => "mcp",
            Door::OAuth => "oauth",
            Door::Dashboard => "dashboard",
        }
    }
}

/// Who was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A person the request proved to be (a token, a session).
    Known(String),
    /// Nobody in particular: the request's source address, if known.
    Anonymous(Option<String>),
}

#[derive(Default)]
struct Count {
    times: u64,
    /// The reason of the last one.
    reason: String,
}

/// Counts of anonymous refusals: source → (door, code) → count.
type Counts = BTreeMap<String, BTreeMap<(Door, String), Count>>;

#[derive(Clone)]
pub struct Doors {
    audit: Audit,
    counts: Arc<Mutex<Counts>>,
}

impl Doors {
    /// Refusals go to `audit`; the anonymous ones are summarised every
    /// `interval` (while the returned value lives).
    pub fn new(audit: Audit, interval: Duration) -> Self {
        let doors = Doors {
            audit,
            counts: Arc::default(),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let counts = Arc::downgrade(&doors.counts);
            let audit = doors.audit.clone();
            runtime.spawn(summarise_every(interval, counts, audit));
        }
        doors
    }

    /// A request refused at `door` with `code` (a refusal code, an OAuth
    /// error code), and why.
    pub async fn refused(&self, door: Door, who: Who, code: &str, reason: &str) {
        match who {
            Who::Known(principal) => {
                self.audit
                    .record(
                        AuditKind::RequestRefused,
                        "",
                        json!({"door": door.as_str(), "principal": principal, "code": code, "reason": reason}),
                    )
                    .await;
            }
            Who::Anonymous(source) => {
                let mut counts = self
                    .counts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut source = source.unwrap_or_else(|| "unknown".into());
                if !counts.contains_key(&source) && counts.len() >= MAX_SOURCES {
                    source = OTHER_SOURCES.into();
                }
                let count = counts
                    .entry(source)
                    .or_default()
                    .entry((door, code.to_owned()))
                    .or_default();
                count.times += 1;
                reason.clone_into(&mut count.reason);
            }
        }
    }

    /// Writes the summary of the anonymous refusals counted so far, one
    /// entry per source, and starts counting again.
    pub async fn summarise(&self) {
        summarise(&self.counts, &self.audit).await;
    }
}

async fn summarise(counts: &Mutex<Counts>, audit: &Audit) {
    let taken = std::mem::take(
        &mut *counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    for (source, refusals) in taken {
        let refusals: Vec<_> = refusals
            .into_iter()
            .map(|((door, code), count)| {
                json!({"door": door.as_str(), "code": code, "times": count.times, "reason": count.reason})
            })
            .collect();
        audit
            .record(
                AuditKind::RequestRefused,
                "",
                json!({"anonymous": true, "source": source, "refusals": refusals}),
            )
            .await;
    }
}

async fn summarise_every(interval: Duration, counts: Weak<Mutex<Counts>>, audit: Audit) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(counts) = counts.upgrade() else {
            return;
        };
        summarise(&counts, &audit).await;
    }
}
