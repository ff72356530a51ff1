//! The machine as hwloc sees it — ISA extensions, packages, physical cores, hardware
//! threads, NUMA nodes with their cores and memory, caches — and the thread settings that
//! follow from it: NLSQ threads = physical cores (no SMT siblings), CMC workers = one per
//! NUMA node, threads per worker so that workers × threads ≤ physical cores.

pub mod pool;

use hwlocality::Topology;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::ObjectType;
use serde::Serialize;

/// One NUMA node.
#[derive(Debug, Clone, Serialize)]
pub struct NumaNode {
    /// hwloc's logical index.
    pub index: usize,
    /// Its processing units, in hwloc's list syntax (e.g. `0-7,16-23`).
    pub cpuset: String,
    /// Physical cores in it.
    pub cores: usize,
    /// Local memory, bytes (when known).
    pub memory_bytes: Option<u64>,
}

/// One cache level.
#[derive(Debug, Clone, Serialize)]
pub struct CacheLevel {
    /// 1, 2, 3 …
    pub level: usize,
    /// Size of one instance, bytes (data or unified cache).
    pub size_bytes: Option<u64>,
    /// Instances on the machine.
    pub count: usize,
}

/// Thread settings that never oversubscribe the cores.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recommended {
    /// NLSQ threads: one per physical core.
    pub nlsq_threads: usize,
    /// CMC workers: one per NUMA node (at most one per core).
    pub cmc_workers: usize,
    /// Threads per CMC worker: cores / workers.
    pub threads_per_worker: usize,
    /// Pinning: `numa` (several nodes), else `cores`.
    pub pin: String,
}

/// What `heterodyne hw` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU architecture.
    pub arch: String,
    /// Instruction-set extensions present that our kernels can use.
    pub isa: Vec<String>,
    /// CPU packages (sockets).
    pub packages: usize,
    /// Physical cores (in the allowed cpuset).
    pub cores: usize,
    /// Hardware threads (processing units).
    pub hardware_threads: usize,
    /// NUMA nodes.
    pub numa_nodes: Vec<NumaNode>,
    /// Cache levels.
    pub caches: Vec<CacheLevel>,
    /// A note when the process sees only part of the machine (cgroups, containers).
    pub restricted: Option<String>,
    /// Recommended settings.
    pub recommended: Recommended,
}

/// A cpuset in hwloc's list syntax (`0-3,8`).
pub fn list(set: &CpuSet) -> String {
    let s = set.to_string();
    s.trim_start_matches("CpuSet(")
        .trim_end_matches(')')
        .to_string()
}

/// Instruction-set extensions relevant to our kernels, as the CPU reports them.
pub fn isa() -> Vec<String> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    out.push($f.to_string());
                }
            )*};
        }
        probe!(
            "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl", "avx512bw"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            out.push("neon".to_string());
        }
    }
    out
}

/// The thread settings for `cores` physical cores on `numa` nodes.
pub fn recommend(cores: usize, numa: usize) -> Recommended {
    let cores = cores.max(1);
    let workers = numa.clamp(1, cores);
    Recommended {
        nlsq_threads: cores,
        cmc_workers: workers,
        threads_per_worker: (cores / workers).max(1),
        pin: if workers > 1 { "numa" } else { "cores" }.to_string(),
    }
}

/// Reads the topology.
pub fn detect() -> anyhow::Result<Machine> {
    let topo =
        Topology::new().map_err(|e| anyhow::anyhow!("hwloc: cannot read the topology: {e}"))?;
    let count = |t| topo.objects_with_type(t).count();
    let allowed = topo.allowed_cpuset();
    let complete = topo.complete_cpuset();
    let cores_in = |set: &CpuSet| {
        topo.objects_with_type(ObjectType::Core)
            .filter(|c| c.cpuset().is_some_and(|cs| set.includes(&*cs)))
            .count()
    };
    let cores = cores_in(&allowed.clone_target()).max(1);
    let hardware_threads = allowed.weight().unwrap_or(count(ObjectType::PU)).max(1);
    let numa_nodes: Vec<NumaNode> = topo
        .objects_with_type(ObjectType::NUMANode)
        .map(|n| {
            let set = n.cpuset().map(|c| c.clone_target()).unwrap_or_default();
            let memory_bytes = match n.attributes() {
                Some(ObjectAttributes::NUMANode(a)) => a.local_memory().map(|m| m.get()),
                _ => None,
            };
            NumaNode {
                index: n.logical_index(),
                cpuset: list(&set),
                cores: cores_in(&set),
                memory_bytes,
            }
        })
        .collect();
    let mut caches = Vec::new();
    for (level, t) in [
        (1, ObjectType::L1Cache),
        (2, ObjectType::L2Cache),
        (3, ObjectType::L3Cache),
    ] {
        let objs: Vec<_> = topo.objects_with_type(t).collect();
        if objs.is_empty() {
            continue;
        }
        let size_bytes = objs.iter().find_map(|o| match o.attributes() {
            Some(ObjectAttributes::Cache(c)) => c.size().map(|s| s.get()),
            _ => None,
        });
        caches.push(CacheLevel {
            level,
            size_bytes,
            count: objs.len(),
        });
    }
    let available = std::thread::available_parallelism().map_or(0, |n| n.get());
    let restricted = if *allowed != *complete {
        Some(format!(
            "this process may use processing units {} of {} (cgroup or container cpuset); settings count only those",
            list(&allowed.clone_target()),
            list(&complete.clone_target())
        ))
    } else if available > 0 && available < hardware_threads {
        Some(format!(
            "the OS grants {available} of {hardware_threads} hardware threads (CPU quota); consider --threads {available}"
        ))
    } else {
        None
    };
    let recommended = recommend(cores, numa_nodes.len());
    Ok(Machine {
        arch: std::env::consts::ARCH.to_string(),
        isa: isa(),
        packages: count(ObjectType::Package).max(1),
        cores,
        hardware_threads,
        numa_nodes,
        caches,
        restricted,
        recommended,
    })
}

impl Machine {
    /// `export` lines for a POSIX shell (`eval "$(heterodyne hw --export)"`).
    pub fn export_lines(&self) -> String {
        let r = &self.recommended;
        format!(
            "export RAYON_NUM_THREADS={}\nexport HETERODYNE_THREADS={}\nexport HETERODYNE_WORKERS={}\nexport HETERODYNE_THREADS_PER_WORKER={}\nexport HETERODYNE_PIN={}\n",
            r.nlsq_threads, r.nlsq_threads, r.cmc_workers, r.threads_per_worker, r.pin
        )
    }

    /// The human-readable report.
    pub fn report(&self) -> String {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let mut s = format!(
            "architecture      {}\nISA extensions    {}\npackages          {}\nphysical cores    {}\nhardware threads  {}\n",
            self.arch,
            if self.isa.is_empty() {
                "(none detected)".to_string()
            } else {
                self.isa.join(" ")
            },
            self.packages,
            self.cores,
            self.hardware_threads
        );
        for n in &self.numa_nodes {
            s += &format!(
                "NUMA node {}       cpus {} ({} cores){}\n",
                n.index,
                n.cpuset,
                n.cores,
                n.memory_bytes
                    .map(|m| format!(", {:.1} GiB", gib(m)))
                    .unwrap_or_default()
            );
        }
        for c in &self.caches {
            s += &format!(
                "L{} cache          {} × {}\n",
                c.level,
                c.count,
                c.size_bytes
                    .map(|b| format!("{} KiB", b / 1024))
                    .unwrap_or_else(|| "?".into())
            );
        }
        if let Some(note) = &self.restricted {
            s += &format!("note: {note}\n");
        }
        let r = &self.recommended;
        s += &format!(
            "recommended: NLSQ threads {} · CMC workers {} × {} threads · pin {}\n",
            r.nlsq_threads, r.cmc_workers, r.threads_per_worker, r.pin
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendations_never_oversubscribe() {
        for cores in 1..=64 {
            for numa in 0..=8 {
                let r = recommend(cores, numa);
                assert!(r.cmc_workers * r.threads_per_worker <= cores.max(1));
                assert_eq!(r.nlsq_threads, cores);
                assert!(r.cmc_workers >= 1);
            }
        }
        assert_eq!(recommend(16, 2).pin, "numa");
        assert_eq!(recommend(16, 1).pin, "cores");
    }
}
