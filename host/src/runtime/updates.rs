//! What a running call tells the person waiting for it
//! (`tgw:skill/call-context@0.2.0`): progress and log lines. Both are best
//! effort and bounded: a call may send at most [`MAX_UPDATES`], each text
//! cut at [`MAX_UPDATE_CHARS`], and what the caller cannot take at once is
//! dropped rather than slowing the tool.

pub use tgw_proto::update::{CallUpdate, LogLevel};
use tokio::sync::mpsc;

use super::bindings::skill_v0_2::tgw::skill0_2_0::call_context as wit;
use super::sandbox::CallState;

/// How many updates one call may send.
pub const MAX_UPDATES: usize = 256;
/// How long one update's text may be, in characters.
pub const MAX_UPDATE_CHARS: usize = 1024;

/// Where a call's updates go, and how many it may still send.
#[derive(Debug)]
pub struct UpdateSink {
    to: mpsc::Sender<CallUpdate>,
    left: usize,
}

impl UpdateSink {
    /// A sink and the receiver of what is sent into it.
    pub fn channel() -> (Self, mpsc::Receiver<CallUpdate>) {
        let (to, from) = mpsc::channel(MAX_UPDATES);
        (
            UpdateSink {
                to,
                left: MAX_UPDATES,
            },
            from,
        )
    }

    fn send(&mut self, update: CallUpdate) {
        if self.left == 0 {
            return;
        }
        self.left -= 1;
        // Full or closed: the update is dropped, the call goes on.
        let _ = self.to.try_send(update);
    }
}

fn cut(text: String) -> String {
    if text.chars().count() <= MAX_UPDATE_CHARS {
        text
    } else {
        text.chars().take(MAX_UPDATE_CHARS).collect()
    }
}

impl wit::Host for CallState {
    fn progress(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
        if !done.is_finite() || total.is_some_and(|t| !t.is_finite()) {
            return;
        }
        if let Some(sink) = &mut self.updates {
            sink.send(CallUpdate::Progress {
                done,
                total,
                message: message.map(cut),
            });
        }
    }

    fn log(&mut self, level: wit::LogLevel, message: String) {
        let level = match level {
            wit::LogLevel::Debug => LogLevel::Debug,
            wit::LogLevel::Info => LogLevel::Info,
            wit::LogLevel::Notice => LogLevel::Notice,
            wit::LogLevel::Warning => LogLevel::Warning,
            wit::LogLevel::Error => LogLevel::Error,
        };
        if let Some(sink) = &mut self.updates {
            sink.send(CallUpdate::Log {
                level,
                message: cut(message),
            });
        }
    }
}
