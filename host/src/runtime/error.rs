//! Why a call did not produce a result, in words a person understands.

use std::time::Duration;

/// A failed call. Every variant means the tool did not complete; none of
/// them is a panic, and the runtime keeps serving after each.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The tool ran and reported a failure of its own.
    #[error("{0}")]
    Tool(#[from] ToolFailure),
    #[error("out of fuel after {budget}: the tool used its whole compute budget")]
    OutOfFuel { budget: u64 },
    #[error("timed out after {} ms", .limit.as_millis())]
    Timeout { limit: Duration },
    #[error("memory limit {mib} MiB exceeded")]
    MemoryLimit { mib: u64 },
    #[error(
        "resource limit exceeded: the tool held more than {max} open handles (files, streams, \
         requests) at once"
    )]
    ResourceLimit { max: usize },
    /// The sandbox refused an outgoing HTTP request the tool made.
    #[error("{0}")]
    HttpRefused(String),
    /// The component trapped (a bug or a deliberate abort in the guest).
    #[error("the tool crashed: {0}")]
    Trap(String),
    /// The sandbox could not be set up (a missing directory, ...).
    #[error("the sandbox could not be prepared: {0}")]
    Setup(String),
}

/// A tool's own error (`tgw:skill/types.tool-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolFailure {
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    #[error("{0}")]
    Failed(String),
}

/// A component that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading component {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Compile { path: String, reason: String },
    #[error(
        "{path} does not fit the tgw:skill world (a missing export or an import the sandbox does not offer): {reason}"
    )]
    Link { path: String, reason: String },
}
