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

/// Cpusets of the allowed physical cores, in topology order.
fn core_sets(topo: &Topology) -> Vec<CpuSet> {
    let allowed = topo.allowed_cpuset().clone_target();
    topo.objects_with_type(ObjectType::Core)
        .filter_map(|c| c.cpuset().map(|s| s.clone_target()))
        .filter(|s| allowed.includes(s))
        .collect()
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

/// The NLSQ pool: `threads` threads, with `Pin::Cores`/`Numa` thread i on core i.
pub fn nlsq_pool(
    threads: usize,
    pin: Pin,
    warnings: &BindWarnings,
) -> anyhow::Result<rayon::ThreadPool> {
    let topo = (pin != Pin::None).then(|| topology(warnings)).flatten();
    let sets = topo.as_deref().map(core_sets).unwrap_or_default();
    bound_pool("heterodyne", threads, topo, sets, false, warnings)
}

/// CMC worker pools: `workers` pools of `threads_per_worker` threads. `Pin::Numa`: worker w
/// on NUMA node w (mod the node count), CPU and memory; `Pin::Cores`: the workers' threads
/// on disjoint cores; `Pin::None`: unpinned.
pub fn cmc_pools(
    workers: usize,
    threads_per_worker: usize,
    pin: Pin,
    warnings: &BindWarnings,
) -> anyhow::Result<Vec<rayon::ThreadPool>> {
    let topo = (pin != Pin::None).then(|| topology(warnings)).flatten();
    let per = threads_per_worker.max(1);
    (0..workers.max(1))
        .map(|w| {
            let (sets, memory) = match (&topo, pin) {
                (Some(t), Pin::Numa) => {
                    let nodes: Vec<CpuSet> = t
                        .objects_with_type(ObjectType::NUMANode)
                        .filter_map(|n| n.cpuset().map(|s| s.clone_target()))
                        .collect();
                    if nodes.is_empty() {
                        (Vec::new(), false)
                    } else {
                        (vec![nodes[w % nodes.len()].clone()], true)
                    }
                }
                (Some(t), Pin::Cores) => {
                    let cores = core_sets(t);
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
        let cores = core_sets(&topo);
        if cores.len() < 2 {
            println!(
                "skipped: this machine shows {} core(s); pinning needs ≥ 2",
                cores.len()
            );
            return;
        }
        let warnings = BindWarnings::default();
        let pool = nlsq_pool(2, Pin::Cores, &warnings).expect("pool");
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
