//! Progress of a fit as atomics: written by the core's events on whichever thread they
//! happen (CMC chains run on rayon's web workers), read by the worker's poll loop, and
//! set to stop by a cancel message. Lock-free, so a reader never waits on the fit.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use heterodyne_core::exec::{Event, Flow, Observer};
use serde::{Deserialize, Serialize};

/// Where a fit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Reading the config and building the problem.
    Starting,
    /// Least squares.
    Nlsq,
    /// Sampling.
    Cmc,
}

/// What the page shows of a running fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Phase.
    pub phase: Phase,
    /// Optimiser iterations so far.
    pub iteration: u64,
    /// Current χ² (Σ r²) of the optimiser, once it has one.
    pub cost: Option<f64>,
    /// Sampler draws done over every shard and chain, warm-up included.
    pub draws: u64,
    /// Sampler draws in all.
    pub total_draws: u64,
}

impl Snapshot {
    /// One line for the status.
    pub fn line(&self) -> String {
        match self.phase {
            Phase::Starting => "fitting in the page: starting …".into(),
            Phase::Nlsq => match self.cost {
                Some(cost) => format!(
                    "fitting in the page: NLSQ iteration {}, χ² = {cost:.6e}",
                    self.iteration
                ),
                None => "fitting in the page: NLSQ starting …".into(),
            },
            Phase::Cmc => format!(
                "sampling in the page: {} of {} draws ({:.0} %)",
                self.draws,
                self.total_draws,
                100.0 * self.fraction()
            ),
        }
    }

    /// Fraction done of the sampling (0 outside it).
    pub fn fraction(&self) -> f64 {
        if self.total_draws == 0 {
            0.0
        } else {
            (self.draws as f64 / self.total_draws as f64).min(1.0)
        }
    }
}

/// The shared progress of one fit.
#[derive(Debug)]
pub struct Progress {
    phase: AtomicU8,
    iteration: AtomicU64,
    cost_bits: AtomicU64,
    draws: AtomicU64,
    total_draws: AtomicU64,
    stop: AtomicBool,
    /// Called after an event on the thread it happened on (the single-threaded build
    /// posts from there; in the threaded build the poll loop reads instead).
    notify: Option<fn(&Progress)>,
}

impl Progress {
    /// A fresh progress; `notify` is called after every event.
    pub fn new(notify: Option<fn(&Progress)>) -> Self {
        Self {
            phase: AtomicU8::new(0),
            iteration: AtomicU64::new(0),
            cost_bits: AtomicU64::new(f64::NAN.to_bits()),
            draws: AtomicU64::new(0),
            total_draws: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            notify,
        }
    }

    /// Enters `phase`, with `total_draws` for sampling.
    pub fn enter(&self, phase: Phase, total_draws: u64) {
        self.total_draws.store(total_draws, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
        if let Some(notify) = self.notify {
            notify(self);
        }
    }

    /// Asks the fit to stop at its next event.
    pub fn cancel(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The current state.
    pub fn snapshot(&self) -> Snapshot {
        let phase = match self.phase.load(Ordering::Acquire) {
            1 => Phase::Nlsq,
            2 => Phase::Cmc,
            _ => Phase::Starting,
        };
        Snapshot {
            phase,
            iteration: self.iteration.load(Ordering::Relaxed),
            cost: Some(f64::from_bits(self.cost_bits.load(Ordering::Relaxed)))
                .filter(|c| c.is_finite()),
            draws: self.draws.load(Ordering::Relaxed),
            total_draws: self.total_draws.load(Ordering::Relaxed),
        }
    }
}

impl Observer for Progress {
    fn on(&self, event: &Event) -> Flow {
        match event {
            Event::Iteration { iteration, cost } => {
                self.iteration.store(*iteration as u64, Ordering::Relaxed);
                self.cost_bits.store(cost.to_bits(), Ordering::Relaxed);
            }
            Event::Draw { .. } => {
                self.draws.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if let Some(notify) = self.notify {
            notify(self);
        }
        if self.stop.load(Ordering::Relaxed) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_add_up_and_a_cancel_stops() {
        let p = Progress::new(None);
        p.enter(Phase::Cmc, 4);
        for _ in 0..3 {
            let e = Event::Draw {
                shard: 0,
                chain: 0,
                draw: 1,
                total: 4,
            };
            assert_eq!(p.on(&e), Flow::Continue);
        }
        let s = p.snapshot();
        assert_eq!((s.phase, s.draws, s.total_draws), (Phase::Cmc, 3, 4));
        // Before the optimiser's first step there is no cost; the snapshot still crosses.
        let back: Snapshot =
            serde_json::from_str(&serde_json::to_string(&s).expect("encode")).expect("decode");
        assert_eq!(back, s);
        assert!((s.fraction() - 0.75).abs() < 1e-12);
        p.cancel();
        assert_eq!(p.on(&Event::Waiting), Flow::Stop);
    }
}
