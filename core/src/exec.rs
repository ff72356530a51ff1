//! How work and progress cross the boundary between the core and its callers.
//!
//! The core never builds a thread pool and never reads a clock. The caller decides the
//! parallelism ([`Par`]) and, for long work, passes an [`Observer`] that sees [`Event`]s and
//! may stop the work by returning [`Flow::Stop`]. With `Par::Threads`, the core issues rayon
//! calls on whatever pool the caller has entered (`pool.install(..)` natively, the
//! wasm-bindgen-rayon pool in the browser). Results never depend on the choice: chunking
//! follows the data size, not the thread count.

use std::num::NonZeroUsize;

/// Parallelism granted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Par {
    /// Run on the calling thread only.
    #[default]
    Seq,
    /// Run rayon tasks on the pool the caller entered; the count is a hint for chunking
    /// decisions that never changes a result.
    Threads(NonZeroUsize),
}

impl Par {
    /// `Threads(n)` for `n ≥ 2`, `Seq` otherwise.
    pub fn threads(n: usize) -> Self {
        match NonZeroUsize::new(n) {
            Some(n) if n.get() > 1 => Par::Threads(n),
            _ => Par::Seq,
        }
    }

    /// Whether rayon may be used.
    pub fn is_parallel(self) -> bool {
        matches!(self, Par::Threads(_))
    }
}

/// What happened; observers timestamp events themselves (the core has no clock).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A named phase started.
    PhaseStarted(&'static str),
    /// A named phase finished.
    PhaseFinished(&'static str),
    /// One iteration of an optimiser: iteration number and current cost (χ²).
    Iteration {
        /// 1-based iteration count.
        iteration: usize,
        /// Current cost, Σ r².
        cost: f64,
    },
    /// A sampler draw finished (warm-up included): shard, chain, 1-based draw, total.
    Draw {
        /// Shard index (0 without sharding).
        shard: usize,
        /// Chain index within the shard.
        chain: usize,
        /// Draws done so far by this chain, warm-up included.
        draw: u64,
        /// Warm-up plus kept draws of this chain.
        total: u64,
    },
    /// A shard handed to an outside executor changed state (`PENDING`, `RUNNING`,
    /// `COMPLETED`, `FAILED`, `retry 1` …, as the executor spells it).
    Shard {
        /// Shard index.
        shard: usize,
        /// The new state.
        state: String,
    },
    /// Waiting on outside work; lets the observer stop it.
    Waiting,
    /// Free-form note for the log.
    Note(String),
}

/// Whether the work should go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Stop at the next boundary; the call returns [`crate::Error::Cancelled`].
    Stop,
}

/// Receives progress events; rate limiting is the observer's job.
pub trait Observer: Sync {
    /// Called for every event.
    fn on(&self, event: &Event) -> Flow {
        let _ = event;
        Flow::Continue
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
