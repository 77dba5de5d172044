//! The one wasmtime `Engine`: pooling allocator, fuel, epoch interruption,
//! and the thread that advances the epoch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the resolution of call timeouts.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Calls that may run at once; more wait for a free slot in the pool.
pub const MAX_CONCURRENT_CALLS: u32 = 64;

/// The largest linear memory any component may have (manifests ask for
/// less; `StoreLimits` enforces their own cap).
pub const MAX_MEMORY_BYTES: usize = 1 << 30;

/// How much of each memory, table and stack slot stays resident between
/// calls.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

pub fn new_engine() -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(MAX_CONCURRENT_CALLS)
        .total_core_instances(MAX_CONCURRENT_CALLS * 8)
        .total_memories(MAX_CONCURRENT_CALLS * 4)
        .total_tables(MAX_CONCURRENT_CALLS * 8)
        .total_stacks(MAX_CONCURRENT_CALLS)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Reset a reused slot by rewriting its low pages instead of handing
        // them back to the kernel: page faults and madvise are the bulk of
        // an instantiation's cost otherwise (and dearer still under gVisor).
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        .async_stack_keep_resident(KEEP_RESIDENT_BYTES)
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    #[expect(
        clippy::expect_used,
        reason = "without the epoch thread no timeout holds: stopping is the only safe answer"
    )]
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tgw-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Epoch ticks for a wall-clock timeout: rounded up, plus the tick already
/// under way.
pub fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    u64::try_from(timeout.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX - 1) + 1
}
