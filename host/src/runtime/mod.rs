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

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tgw_parse::names::Digest;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

pub use self::engine::{EPOCH_TICK, MAX_CONCURRENT_CALLS, MAX_MEMORY_BYTES};
pub use self::error::{CallError, LoadError, ToolFailure};
pub use self::http::{HttpTarget, OutboundPolicy, SecretHeader};
pub use self::sandbox::{Limits, Preopen, SandboxSpec};

use self::bindings::skill::tgw::skill::types as wit;
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

/// One tool as its component describes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    pub risk: Risk,
}

/// A compiled component of world `W`, ready to instantiate.
pub struct Loaded<W: World> {
    /// `sha256:<hex>` of the component bytes.
    pub digest: Digest,
    /// Whether this load came from the on-disk compile cache.
    pub from_cache: bool,
    pre: W::Pre,
}

/// A skill component.
pub type LoadedComponent = Loaded<bindings::skill::Skill>;

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

    /// Loads a skill component from a file.
    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(&path.display().to_string(), &bytes)
    }

    /// Loads a skill component; `name` is only for error messages.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Arc<LoadedComponent>, LoadError> {
        self.load(name, bytes).map(Arc::new)
    }

    /// Compiles a component (or takes it from the in-memory or on-disk
    /// cache) and prepares it for world `W`.
    pub fn load<W: World>(&self, name: &str, bytes: &[u8]) -> Result<Loaded<W>, LoadError> {
        let digest = Digest::of(bytes);
        let digest_hex = digest.hex().to_owned();
        let known = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest)
            .cloned();
        let (component, from_cache) = match known {
            Some(known) => known,
            None => {
                let cached = self
                    .cache
                    .as_ref()
                    .and_then(|c| c.get(&self.engine, &digest_hex));
                let from_cache = cached.is_some();
                let component = match cached {
                    Some(component) => component,
                    None => {
                        let component = Component::new(&self.engine, bytes).map_err(|e| {
                            LoadError::Compile {
                                path: name.into(),
                                reason: format!("{e:#}"),
                            }
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
                (component, from_cache)
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(W::pre)
            .map_err(|e| LoadError::Link {
                path: name.into(),
                reason: format!("{e:#}"),
            })?;
        Ok(Loaded {
            digest,
            from_cache,
            pre,
        })
    }

    /// The tools a component offers, read in its sandbox.
    pub async fn tools(
        &self,
        component: &LoadedComponent,
        spec: &SandboxSpec,
    ) -> CallOutcome<Vec<ToolInfo>> {
        let outcome = self
            .run(
                component,
                spec,
                async |skill: &bindings::skill::Skill, store| {
                    skill.tgw_skill_tool_provider().call_tools(store).await
                },
            )
            .await;
        outcome.and_then(|tools| {
            tools
                .into_iter()
                .map(tool_info)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CallError::Tool(ToolFailure::Failed(e)))
        })
    }

    /// Runs `tool` with `args_json` in a fresh sandbox.
    pub async fn invoke(
        &self,
        component: &LoadedComponent,
        spec: &SandboxSpec,
        tool: &str,
        args_json: &str,
    ) -> CallOutcome<String> {
        let outcome = self
            .run(
                component,
                spec,
                async |skill: &bindings::skill::Skill, store| {
                    skill
                        .tgw_skill_tool_provider()
                        .call_invoke(store, tool, args_json)
                        .await
                },
            )
            .await;
        outcome.and_then(|result| {
            result.map_err(|e| {
                CallError::Tool(match e {
                    wit::ToolError::UnknownTool(m) => ToolFailure::UnknownTool(m),
                    wit::ToolError::InvalidArgs(m) => ToolFailure::InvalidArgs(m),
                    wit::ToolError::Failed(m) => ToolFailure::Failed(m),
                })
            })
        })
    }

    /// Instantiates `component` in a new store limited by `spec`, runs
    /// `body`, and turns every way it can fail into a [`CallError`].
    #[expect(clippy::expect_used, reason = "the engine is built with fuel enabled")]
    pub(crate) async fn run<W: World, T>(
        &self,
        component: &Loaded<W>,
        spec: &SandboxSpec,
        body: impl AsyncFnOnce(&W, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> CallOutcome<T> {
        let (state, trace) = match CallState::new(spec) {
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

fn tool_info(tool: wit::Tool) -> Result<ToolInfo, String> {
    let input_schema = serde_json::from_str(&tool.input_schema)
        .map_err(|e| format!("tool {}: its input schema is not JSON: {e}", tool.name))?;
    Ok(ToolInfo {
        name: tool.name,
        description: tool.description,
        input_schema,
        risk: match tool.risk {
            wit::Risk::Read => Risk::Read,
            wit::Risk::Write => Risk::Write,
            wit::Risk::Destructive => Risk::Destructive,
        },
    })
}
