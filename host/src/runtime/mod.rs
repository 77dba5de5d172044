//! The sandboxed WebAssembly runtime: one engine, components compiled once
//! (and cached on disk), a fresh store per call with fuel, an epoch
//! deadline, a memory cap, captured logs, only the manifest's directories
//! and only the manifest's HTTP hosts.

mod cache;
mod engine;
mod error;
pub mod http;
mod log;
pub use tgw_parse::net;
mod sandbox;
mod skill;
mod updates;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use tgw_parse::names::Digest;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

pub use self::engine::{EPOCH_TICK, MAX_CONCURRENT_CALLS, MAX_MEMORY_BYTES};
pub use self::error::{CallError, LoadError, ToolFailure};
pub use self::http::{HttpTarget, OutboundPolicy, SecretHeader};
pub use self::sandbox::{Limits, Preopen, SandboxSpec};
pub use self::skill::{
    LoadedComponent, MAX_OUTPUT_BYTES, OutputFormat, ToolInfo, ToolOutput, check_output,
};
pub use self::updates::{CallUpdate, LogLevel, MAX_UPDATES, UpdateSink};

use self::cache::CompileCache;
use self::engine::EpochTicker;
pub use self::sandbox::CallState;
use self::sandbox::CallTrace;

mod bindings {
    pub mod skill {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "tgw:skill/skill@0.1.0",
            exports: { default: async },
        });
    }
    pub mod skill_v0_2 {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "tgw:skill/skill@0.2.0",
            exports: { default: async },
        });
    }
    pub mod grant {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "tgw:grant/grant-verifier@0.1.0",
            exports: { default: async },
        });
    }
    pub mod policy {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "tgw:policy/policy-rule@0.1.0",
            exports: { default: async },
        });
    }
}

mod verifier;
pub use self::verifier::{GrantCheckError, LoadedVerifier};
mod rule;
pub use self::rule::{LoadedRule, RuleDecision, RuleProposal};

/// A kind of component the runtime can run: one per WIT world.
pub trait World: Sized + Send {
    type Pre: Send + Sync;
    fn pre(
        instance_pre: wasmtime::component::InstancePre<CallState>,
    ) -> wasmtime::Result<Self::Pre>;
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<CallState>,
    ) -> impl Future<Output = wasmtime::Result<Self>> + Send;
}

macro_rules! world {
    ($guest:ty, $pre:ty) => {
        impl World for $guest {
            type Pre = $pre;
            fn pre(
                instance_pre: wasmtime::component::InstancePre<CallState>,
            ) -> wasmtime::Result<$pre> {
                <$pre>::new(instance_pre)
            }
            async fn instantiate(
                pre: &$pre,
                store: &mut Store<CallState>,
            ) -> wasmtime::Result<Self> {
                pre.instantiate_async(store).await
            }
        }
    };
}
world!(bindings::skill::Skill, bindings::skill::SkillPre<CallState>);
world!(
    bindings::skill_v0_2::Skill,
    bindings::skill_v0_2::SkillPre<CallState>
);
world!(
    bindings::grant::GrantVerifier,
    bindings::grant::GrantVerifierPre<CallState>
);
world!(
    bindings::policy::PolicyRule,
    bindings::policy::PolicyRulePre<CallState>
);

/// How much harm a tool's call can do (`tgw:skill/types.risk`); the
/// manifest's word is the one that applies.
pub use tgw_parse::manifest::Risk;

/// A compiled component, not yet linked to a world.
struct Compiled {
    digest: Digest,
    component: Component,
    from_cache: bool,
}

/// A compiled component of world `W`, ready to instantiate.
pub struct Loaded<W: World> {
    /// `sha256:<hex>` of the component bytes.
    pub digest: Digest,
    /// Whether this load came from the on-disk compile cache.
    pub from_cache: bool,
    pre: W::Pre,
}

/// The result of a finished call, with what the guest printed.
#[derive(Debug)]
pub struct CallOutcome<T> {
    pub result: Result<T, CallError>,
    pub stdout: String,
    pub stderr: String,
    pub fuel_used: u64,
}

impl<T> CallOutcome<T> {
    /// Maps a successful result, keeping the guest's output.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Result<U, CallError>) -> CallOutcome<U> {
        CallOutcome {
            result: self.result.and_then(f),
            stdout: self.stdout,
            stderr: self.stderr,
            fuel_used: self.fuel_used,
        }
    }
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<CompileCache>,
    /// Compiled components by digest, and whether they came from disk.
    compiled: Mutex<HashMap<Digest, (Component, bool)>>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// A runtime whose compiled components are cached under `cache_dir`
    /// (none: compile every time the process starts).
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut CallState| {
            wasmtime_wasi_config::WasiConfig::from(&state.config)
        })?;
        bindings::skill_v0_2::tgw::skill0_2_0::call_context::add_to_linker::<
            CallState,
            wasmtime::component::HasSelf<CallState>,
        >(&mut linker, |state| state)?;
        let cache = match cache_dir {
            Some(dir) => Some(CompileCache::open(dir, &engine)?),
            None => None,
        };
        let ticker = EpochTicker::start(&engine);
        Ok(Runtime {
            engine,
            linker,
            cache,
            compiled: Mutex::default(),
            _ticker: ticker,
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component and prepares it for world `W`.
    pub fn load<W: World>(&self, name: &str, bytes: &[u8]) -> Result<Loaded<W>, LoadError> {
        let compiled = self.compile(name, bytes)?;
        self.prepare(name, compiled)
    }

    /// Compiles a component, or takes it from the in-memory or on-disk
    /// cache.
    fn compile(&self, name: &str, bytes: &[u8]) -> Result<Compiled, LoadError> {
        let digest = Digest::of(bytes);
        let known = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest)
            .cloned();
        if let Some((component, from_cache)) = known {
            return Ok(Compiled {
                digest,
                component,
                from_cache,
            });
        }
        let digest_hex = digest.hex().to_owned();
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&self.engine, &digest_hex));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let component =
                    Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
                        path: name.into(),
                        reason: format!("{e:#}"),
                    })?;
                if let Some(cache) = &self.cache {
                    cache.put(&digest_hex, &component);
                }
                component
            }
        };
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(digest.clone(), (component.clone(), from_cache));
        Ok(Compiled {
            digest,
            component,
            from_cache,
        })
    }

    /// Links a compiled component for world `W`.
    fn prepare<W: World>(&self, name: &str, compiled: Compiled) -> Result<Loaded<W>, LoadError> {
        let pre = self
            .linker
            .instantiate_pre(&compiled.component)
            .and_then(W::pre)
            .map_err(|e| LoadError::Link {
                path: name.into(),
                reason: format!("{e:#}"),
            })?;
        Ok(Loaded {
            digest: compiled.digest,
            from_cache: compiled.from_cache,
            pre,
        })
    }

    /// Runs `body` on a fresh instance of `component` (see [`Self::run_with`]).
    pub(crate) async fn run<W: World, T>(
        &self,
        component: &Loaded<W>,
        spec: &SandboxSpec,
        body: impl AsyncFnOnce(&W, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> CallOutcome<T> {
        self.run_with(component, spec, None, body).await
    }

    /// Instantiates `component` in a new store limited by `spec` (its
    /// progress and log lines to `updates`), runs `body`, and turns every
    /// way it can fail into a [`CallError`].
    #[expect(clippy::expect_used, reason = "the engine is built with fuel enabled")]
    pub(crate) async fn run_with<W: World, T>(
        &self,
        component: &Loaded<W>,
        spec: &SandboxSpec,
        updates: Option<UpdateSink>,
        body: impl AsyncFnOnce(&W, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> CallOutcome<T> {
        let (state, trace) = match CallState::new(spec, updates) {
            Ok(pair) => pair,
            Err(e) => {
                return CallOutcome {
                    result: Err(e),
                    stdout: String::new(),
                    stderr: String::new(),
                    fuel_used: 0,
                };
            }
        };
        let limits = spec.limits;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store
            .set_fuel(limits.fuel)
            .expect("fuel is enabled on the engine");
        // Let other tasks run while a long call computes.
        store
            .fuel_async_yield_interval(Some(10_000_000))
            .expect("fuel is enabled on the engine");
        store.set_epoch_deadline(engine::deadline_ticks(limits.timeout));
        store.epoch_deadline_trap();

        let call = async {
            let instance = W::instantiate(&component.pre, &mut store).await?;
            body(&instance, &mut store).await
        };
        // The epoch deadline stops guest code; this stops a guest that is
        // waiting on the host (a slow HTTP response) at the same deadline.
        let raw = match tokio::time::timeout(limits.timeout, call).await {
            Ok(raw) => raw,
            Err(_) => Err(Trap::Interrupt.into()),
        };
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let result = classify(raw, store.data(), &trace, &limits);
        let outcome = CallOutcome {
            result,
            stdout: trace.stdout.text(),
            stderr: trace.stderr.text(),
            fuel_used,
        };
        if !outcome.stdout.is_empty() || !outcome.stderr.is_empty() {
            tracing::debug!(target: "tgw::guest", component = %component.digest, stdout = %outcome.stdout, stderr = %outcome.stderr);
        }
        outcome
    }
}

/// Maps a call's raw result to what the caller is told. Sandbox limits come
/// first: a guest that trips one gets that limit as the reason, whatever it
/// returned or trapped with afterwards.
fn classify<T>(
    raw: wasmtime::Result<T>,
    state: &CallState,
    trace: &CallTrace,
    limits: &Limits,
) -> Result<T, CallError> {
    let refusal = trace
        .refusals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .first()
        .cloned();
    match raw {
        Err(_) if state.memory.hit => Err(CallError::MemoryLimit {
            mib: limits.memory_bytes >> 20,
        }),
        Err(e) => Err(match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => CallError::OutOfFuel {
                budget: limits.fuel,
            },
            Some(Trap::Interrupt) => CallError::Timeout {
                limit: limits.timeout,
            },
            _ if is_table_full(&e) => CallError::ResourceLimit {
                max: sandbox::MAX_RESOURCES,
            },
            _ if refusal.is_some() => CallError::HttpRefused(refusal.unwrap_or_default()),
            _ => CallError::Trap(format!("{}", e.root_cause())),
        }),
        // The guest may have swallowed a refusal; the call still fails.
        Ok(_) if refusal.is_some() => Err(CallError::HttpRefused(refusal.unwrap_or_default())),
        Ok(result) => Ok(result),
    }
}

/// The guest asked for one host resource more than its table holds.
fn is_table_full(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<wasmtime::component::ResourceTableError>(),
            Some(wasmtime::component::ResourceTableError::Full)
        )
    })
}
