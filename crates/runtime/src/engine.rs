//! The one wasmtime [`Engine`] a process uses, and the epoch clock that drives
//! request deadlines.
//!
//! Every component of every trigger is compiled by this engine, so its
//! configuration is written in exactly one place: [`build_engine`]. The
//! pooling allocator makes per-request instantiation cheap, but it reserves
//! a lot of virtual address space up front; where the host refuses that
//! reservation (small `ulimit -v`, some sandboxes) we fall back to on-demand
//! allocation instead of failing to start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, Result};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch clock ticks. Request deadlines are checked, and
/// long-running guests yield to other tasks, at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Instance slots the pooling allocator reserves (Spin's default).
const POOL_INSTANCES: u32 = 1000;

/// Dirty linear memory a freed slot resets in place (copying the image back)
/// instead of returning it to the kernel. An `madvise` on every instance
/// costs a TLB shoot-down on every core plus fresh page faults on the next
/// request; with `PAGEMAP_SCAN` (Linux 6.7+) only the pages the guest wrote
/// are copied.
const LINEAR_MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// The same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// How linear memory is allocated for guest instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Pre-reserved slots, reused between instances (fast instantiation).
    Pooling,
    /// Memory mapped per instance (the fallback).
    OnDemand,
}

/// Settings that shape the engine.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Upper bound on one instance's linear memory, in bytes.
    pub max_instance_memory: Option<u64>,
    /// Never try the pooling allocator (used when it is known not to fit).
    pub disable_pooling: bool,
}

/// The process's engine plus the allocator it ended up with.
#[derive(Clone)]
pub struct RuntimeEngine {
    engine: Engine,
    allocator: AllocatorKind,
    halt: Halt,
}

/// Stops every guest of an engine at its next epoch check, whatever it is
/// doing: what makes a shutdown's drain bound hold against guests that
/// spin, since a spinning guest otherwise only yields and never ends.
#[derive(Clone, Default)]
pub struct Halt(Arc<AtomicBool>);

impl Halt {
    /// Whether guests must stop.
    pub fn is_halted(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl RuntimeEngine {
    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Which allocator the engine uses.
    pub fn allocator(&self) -> AllocatorKind {
        self.allocator
    }

    /// What every store of this engine checks on its epoch ticks.
    pub fn halt(&self) -> &Halt {
        &self.halt
    }

    /// Makes every running guest trap at its next epoch check. The epoch is
    /// advanced once here, so this holds even when the ticker has stopped:
    /// every store's deadline is at most one epoch ahead.
    pub fn halt_guests(&self) {
        self.halt.0.store(true, Ordering::Release);
        self.engine.increment_epoch();
    }
}

/// Builds the engine: pooling allocator if the host allows it, else on-demand.
pub fn build_engine(options: &EngineOptions) -> Result<RuntimeEngine> {
    if !options.disable_pooling {
        let mut config = base_config();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(options)));
        match Engine::new(&config) {
            Ok(engine) => {
                return Ok(RuntimeEngine {
                    engine,
                    allocator: AllocatorKind::Pooling,
                    halt: Halt::default(),
                })
            }
            Err(err) => tracing::warn!(
                "pooling allocator unavailable, instantiating on demand instead: {err:#}"
            ),
        }
    }
    let engine = Engine::new(&base_config())
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")?;
    Ok(RuntimeEngine {
        engine,
        allocator: AllocatorKind::OnDemand,
        halt: Halt::default(),
    })
}

/// The configuration shared by both allocation strategies.
fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // WASIp3 guests (`wasi:http/handler@0.3.0`) need the async ABI.
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    config
}

fn pooling_config(options: &EngineOptions) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    // A component instance is made of several core instances (the guest
    // module plus the WASI adapter and its shims), each with its own memory
    // and tables, so core-level totals are a multiple of the component total.
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 4)
        .total_stacks(POOL_INSTANCES)
        .max_core_instances_per_component(50)
        .max_memories_per_component(10)
        .max_tables_per_component(20)
        .max_unused_warm_slots(100)
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    if let Some(max) = options.max_instance_memory {
        pool.max_memory_size(usize::try_from(max).unwrap_or(usize::MAX));
    }
    pool
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread,
/// until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`'s epoch.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn({
                let stop = stop.clone();
                let engine = engine.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .ok();
        Self { stop, thread }
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
