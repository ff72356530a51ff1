//! Rayon pools built from the topology: the NLSQ pool with each thread bound to one
//! physical core, CMC workers each bound (CPU and memory) to one NUMA node. A binding
//! that fails degrades to an unpinned thread and one warning — never an error.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use hwlocality::Topology;
use hwlocality::cpu::binding::CpuBindingFlags;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::memory::binding::{MemoryBindingFlags, MemoryBindingPolicy};
use hwlocality::object::types::ObjectType;

/// How threads are pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pin {
    /// Not at all (the OS schedules).
    None,
    /// One thread per physical core.
    #[default]
    Cores,
    /// Each CMC worker's threads on one NUMA node (NLSQ threads per core).
    Numa,
}

impl FromStr for Pin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Pin::None),
            "cores" => Ok(Pin::Cores),
            "numa" => Ok(Pin::Numa),
            other => Err(format!("expected none, cores or numa, found {other:?}")),
        }
    }
}

/// Warnings collected while threads bind (shown once by the caller).
#[derive(Debug, Clone, Default)]
pub struct BindWarnings(Arc<Mutex<Vec<String>>>);

impl BindWarnings {
    fn push(&self, w: String) {
        if let Ok(mut v) = self.0.lock()
            && v.is_empty()
        {
            v.push(w);
        }
    }

    /// The first binding failure, if any.
    pub fn first(&self) -> Option<String> {
        self.0.lock().ok().and_then(|v| v.first().cloned())
    }
}

/// The part of the machine one job may use: the `index`-th of `of` equal, contiguous
/// groups of physical cores. The CLI takes the whole machine; the node gives each of its
/// concurrent job slots its own group, so two jobs never pin threads onto the same cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Which group, `0..of`.
    pub index: usize,
    /// How many groups the cores are split into.
    pub of: usize,
}

impl Share {
    /// The whole machine.
    pub const ALL: Share = Share { index: 0, of: 1 };

    /// This share's slice of `items` (never empty when `items` is not).
    fn slice<T: Clone>(self, items: &[T]) -> Vec<T> {
        let of = self.of.clamp(1, items.len().max(1));
        let index = self.index % of;
        let (lo, hi) = (index * items.len() / of, (index + 1) * items.len() / of);
        items[lo..hi.max(lo + 1).min(items.len())].to_vec()
    }

    /// Physical cores in this share on a machine of `cores` cores (at least 1).
    pub fn cores_of(self, cores: usize) -> usize {
        let of = self.of.clamp(1, cores.max(1));
        let index = self.index % of;
        ((index + 1) * cores / of - index * cores / of).max(1)
    }
}

impl Default for Share {
    fn default() -> Self {
        Share::ALL
    }
}

/// Cpusets of the allowed physical cores of `share`, in topology order.
fn core_sets(topo: &Topology, share: Share) -> Vec<CpuSet> {
    let allowed = topo.allowed_cpuset().clone_target();
    let all: Vec<CpuSet> = topo
        .objects_with_type(ObjectType::Core)
        .filter_map(|c| c.cpuset().map(|s| s.clone_target()))
        .filter(|s| allowed.includes(s))
        .collect();
    share.slice(&all)
}

/// A pool of `threads` threads named `name-i`, thread i bound to `sets[i % len]` (CPU) and,
/// with `memory`, its allocations to that set's NUMA nodes.
fn bound_pool(
    name: &str,
    threads: usize,
    topo: Option<Arc<Topology>>,
    sets: Vec<CpuSet>,
    memory: bool,
    warnings: &BindWarnings,
) -> anyhow::Result<rayon::ThreadPool> {
    let name = name.to_string();
    let w = warnings.clone();
    let mut builder = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(move |i| format!("{name}-{i}"));
    if let Some(topo) = topo.filter(|_| !sets.is_empty()) {
        builder = builder.start_handler(move |i| {
            let set = &sets[i % sets.len()];
            let tid = hwlocality::current_thread_id();
            if let Err(e) = topo.bind_thread_cpu(tid, set, CpuBindingFlags::empty()) {
                w.push(format!("thread pinning failed, running unpinned: {e}"));
                return;
            }
            if memory
                && let Err(e) =
                    topo.bind_memory(set, MemoryBindingPolicy::Bind, MemoryBindingFlags::THREAD)
            {
                w.push(format!("memory binding failed, memory left to the OS: {e}"));
            }
        });
    }
    Ok(builder.build()?)
}

fn topology(warnings: &BindWarnings) -> Option<Arc<Topology>> {
    match Topology::new() {
        Ok(t) => Some(Arc::new(t)),
        Err(e) => {
            warnings.push(format!("hwloc unavailable, running unpinned: {e}"));
            None
        }
    }
}

/// The NLSQ pool: `threads` threads, with `Pin::Cores`/`Numa` thread i on core i of `share`.
pub fn nlsq_pool(
    threads: usize,
    pin: Pin,
    share: Share,
    warnings: &BindWarnings,
) -> anyhow::Result<rayon::ThreadPool> {
    let topo = (pin != Pin::None).then(|| topology(warnings)).flatten();
    let sets = topo
        .as_deref()
        .map(|t| core_sets(t, share))
        .unwrap_or_default();
    bound_pool("heterodyne", threads, topo, sets, false, warnings)
}

/// CMC worker pools: `workers` pools of `threads_per_worker` threads. `Pin::Numa`: worker w
/// on NUMA node w (mod the node count, among the nodes `share` touches), CPU and memory;
/// `Pin::Cores`: the workers' threads on disjoint cores of `share`; `Pin::None`: unpinned.
pub fn cmc_pools(
    workers: usize,
    threads_per_worker: usize,
    pin: Pin,
    share: Share,
    warnings: &BindWarnings,
) -> anyhow::Result<Vec<rayon::ThreadPool>> {
    let topo = (pin != Pin::None).then(|| topology(warnings)).flatten();
    let per = threads_per_worker.max(1);
    (0..workers.max(1))
        .map(|w| {
            let (sets, memory) = match (&topo, pin) {
                (Some(t), Pin::Numa) => {
                    let mine = core_sets(t, share);
                    let nodes: Vec<CpuSet> = t
                        .objects_with_type(ObjectType::NUMANode)
                        .filter_map(|n| n.cpuset().map(|s| s.clone_target()))
                        .filter(|n| mine.iter().any(|c| n.includes(c)))
                        .collect();
                    if nodes.is_empty() {
                        (Vec::new(), false)
                    } else {
                        (vec![nodes[w % nodes.len()].clone()], true)
                    }
                }
                (Some(t), Pin::Cores) => {
                    let cores = core_sets(t, share);
                    let mine = if cores.is_empty() {
                        Vec::new()
                    } else {
                        (0..per)
                            .map(|i| cores[(w * per + i) % cores.len()].clone())
                            .collect()
                    };
                    (mine, false)
                }
                _ => (Vec::new(), false),
            };
            bound_pool(
                &format!("cmc-worker-{w}"),
                per,
                topo.clone(),
                sets,
                memory,
                warnings,
            )
        })
        .collect()
}

/// The pinning asked for: `pin`, else `HETERODYNE_PIN`, else one thread per core.
pub fn pin_or_env(pin: Option<Pin>) -> Pin {
    pin.or_else(|| {
        std::env::var("HETERODYNE_PIN")
            .ok()
            .and_then(|v| v.parse().ok())
    })
    .unwrap_or_default()
}

/// A positive count from environment variable `name`.
pub fn env_count(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
}

/// Where a job's threads go: how many (0: `HETERODYNE_THREADS`, else every physical core
/// of the share), how they are pinned, and which share of the machine they may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    /// Threads in all (0: automatic).
    pub threads: usize,
    /// Pinning (`None`: `HETERODYNE_PIN`, else cores).
    pub pin: Option<Pin>,
    /// The cores this job may use.
    pub share: Share,
}

impl Placement {
    /// The thread count this placement resolves to.
    pub fn resolved_threads(&self) -> usize {
        match self.threads {
            0 => env_count("HETERODYNE_THREADS")
                .map(|n| {
                    if self.share.of > 1 {
                        n / self.share.of
                    } else {
                        n
                    }
                })
                .or_else(|| {
                    crate::hw::detect()
                        .ok()
                        .map(|m| self.share.cores_of(m.cores))
                })
                .unwrap_or_else(|| {
                    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                    self.share.cores_of(n)
                })
                .max(1),
            n => n,
        }
    }

    /// A rayon pool for this placement and the matching `Par`; a failed binding comes back
    /// as a warning, never an error.
    pub fn pool(
        &self,
    ) -> anyhow::Result<(
        rayon::ThreadPool,
        heterodyne_core::exec::Par,
        Option<String>,
    )> {
        let n = self.resolved_threads();
        let warnings = BindWarnings::default();
        let pool = nlsq_pool(n, pin_or_env(self.pin), self.share, &warnings)?;
        pool.broadcast(|_| ());
        Ok((
            pool,
            heterodyne_core::exec::Par::threads(n),
            warnings.first(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Cpus_allowed_list` of every thread of this process whose name starts with `prefix`.
    fn affinities(prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return out;
        };
        for t in tasks.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let comm = comm.trim().to_string();
            // Pool threads are `prefix` + their index (the test binary's own name also
            // starts with `heterodyne-`).
            match comm.strip_prefix(prefix) {
                Some(i) if !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()) => {}
                _ => continue,
            }
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            if let Some(line) = status.lines().find(|l| l.starts_with("Cpus_allowed_list:")) {
                out.push((comm, line["Cpus_allowed_list:".len()..].trim().to_string()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn nlsq_threads_are_bound_one_per_core() {
        let Ok(topo) = Topology::new() else {
            println!("skipped: hwloc cannot read the topology");
            return;
        };
        let cores = core_sets(&topo, Share::ALL);
        if cores.len() < 2 {
            println!(
                "skipped: this machine shows {} core(s); pinning needs ≥ 2",
                cores.len()
            );
            return;
        }
        let warnings = BindWarnings::default();
        let pool = nlsq_pool(2, Pin::Cores, Share::ALL, &warnings).expect("pool");
        // Make sure both threads have started (and bound themselves).
        pool.broadcast(|_| ());
        assert_eq!(warnings.first(), None);
        let seen = affinities("heterodyne-");
        assert_eq!(seen.len(), 2, "{seen:?}");
        let want: Vec<String> = cores[..2].iter().map(super::super::list).collect();
        for ((name, list), want) in seen.iter().zip(&want) {
            assert_eq!(list, want, "{name} bound to {list}, expected {want}");
        }
        // Read back through hwloc too: each thread's binding is a single core.
        let bindings: Vec<String> = pool.broadcast(|_| {
            topo.thread_cpu_binding(hwlocality::current_thread_id(), CpuBindingFlags::empty())
                .map(|s| s.to_string())
                .unwrap_or_default()
        });
        assert_eq!(bindings.len(), 2);
        assert_ne!(bindings[0], bindings[1], "{bindings:?}");
    }
}
