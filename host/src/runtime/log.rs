//! The guest's stdout and stderr: kept in memory up to a cap, the rest
//! counted and dropped. wasmtime-wasi's `MemoryOutputPipe` traps the guest
//! when it is full; a chatty tool should lose log lines, not its call.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: usize,
}

/// A capped, shareable log buffer for one stream of one call.
#[derive(Clone)]
pub(crate) struct CappedLog {
    cap: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl CappedLog {
    pub fn new(cap: usize) -> Self {
        CappedLog {
            cap,
            buffer: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buffer = self
            .buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let room = self.cap.saturating_sub(buffer.kept.len()).min(bytes.len());
        buffer.kept.extend_from_slice(&bytes[..room]);
        buffer.dropped += bytes.len() - room;
    }

    /// What was written, with a note when some of it was dropped.
    pub fn text(&self) -> String {
        let buffer = self
            .buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut text = String::from_utf8_lossy(&buffer.kept).into_owned();
        if buffer.dropped > 0 {
            text.push_str(&format!(
                "\n[{} more bytes dropped: log cap {} bytes]",
                buffer.dropped, self.cap
            ));
        }
        text
    }
}

impl IsTerminal for CappedLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CappedLog {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CappedLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let log = CappedLog::new(4);
        log.push(b"abc");
        log.push(b"def");
        assert_eq!(log.text(), "abcd\n[2 more bytes dropped: log cap 4 bytes]");
    }
}
