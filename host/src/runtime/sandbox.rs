//! What one call may touch, and the per-call store state that enforces it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::error::CallError;
use super::http::{OutboundHttp, OutboundPolicy};
use super::log::CappedLog;
use super::updates::UpdateSink;

/// A directory the component sees.
#[derive(Debug, Clone)]
pub struct Preopen {
    pub host: PathBuf,
    /// Absolute path inside the sandbox, e.g. `/data`.
    pub guest: String,
    pub writable: bool,
}

/// Per-call limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub timeout: Duration,
    /// Cap on each of stdout and stderr.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 1_000_000_000,
            memory_bytes: 64 << 20,
            timeout: Duration::from_millis(5000),
            log_bytes: 64 * 1024,
        }
    }
}

/// Everything a call of one skill may touch. Built from the skill's
/// manifest (see `registry`); nothing outside it is reachable.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    pub dirs: Vec<Preopen>,
    pub outbound: Arc<OutboundPolicy>,
    /// The manifest's `[config]`, served through `wasi:config/store`.
    pub config: Vec<(String, String)>,
    pub limits: Limits,
}

/// Wraps wasmtime's `StoreLimits` to remember that the memory cap was hit,
/// so the call fails with "memory limit N MiB exceeded" rather than with
/// whatever trap the guest's allocator turns a failed grow into.
pub(crate) struct MemoryCap {
    limits: StoreLimits,
    pub hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// How many host resources (open files, streams, HTTP requests and
/// responses, …) one call may hold at once. Each lives outside the guest's
/// memory, so the memory cap does not bound them; wasmtime's default is a
/// million.
pub const MAX_RESOURCES: usize = 4096;

/// The `T` of each call's `Store<T>` (opaque outside the runtime).
pub struct CallState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHttp,
    pub(crate) memory: MemoryCap,
    pub(crate) config: WasiConfigVariables,
    /// Where a 0.2.0 skill's progress and log lines go (none: dropped).
    pub(crate) updates: Option<UpdateSink>,
}

/// What a finished call leaves behind besides its result.
pub(crate) struct CallTrace {
    pub stdout: CappedLog,
    pub stderr: CappedLog,
    pub refusals: Arc<Mutex<Vec<String>>>,
}

impl CallState {
    pub(crate) fn new(
        spec: &SandboxSpec,
        updates: Option<UpdateSink>,
    ) -> Result<(Self, CallTrace), CallError> {
        let trace = CallTrace {
            stdout: CappedLog::new(spec.limits.log_bytes),
            stderr: CappedLog::new(spec.limits.log_bytes),
            refusals: Arc::default(),
        };
        // No environment, no arguments, no stdin, no sockets: only what the
        // spec lists. File operations run on the calling thread, not a hop
        // to the blocking pool and back for each: 8x faster for a small
        // read, at the cost of holding the worker while the OS answers
        // (skills' directories must be local; README, "The sandbox").
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(trace.stdout.clone())
            .stderr(trace.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .allow_blocking_current_thread(true);
        for dir in &spec.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    CallError::Setup(format!(
                        "directory {} for {}: {e}",
                        dir.host.display(),
                        dir.guest
                    ))
                })?;
        }
        let memory = MemoryCap {
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(spec.limits.memory_bytes).unwrap_or(usize::MAX))
                .table_elements(1_000_000)
                .build(),
            hit: false,
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let state = CallState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table,
            hooks: OutboundHttp {
                policy: spec.outbound.clone(),
                refusals: trace.refusals.clone(),
            },
            memory,
            config: spec
                .config
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            updates,
        };
        Ok((state, trace))
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
