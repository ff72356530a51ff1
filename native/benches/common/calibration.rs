//! Calibration of the posterior, measured by simulation-based calibration (Talts et al.
//! 2018): for each replicate, a truth drawn from a prior (truncated normals around the small
//! fixture's truth), data simulated from it (3 angles × 100 frames, relative noise 0.003,
//! its own noise seed), and `heterodyne fit --method both` with that same prior in the
//! config and every sampler default. A correct posterior then covers the truth with its
//! central 90 % interval in 90 % of replicates, and the truth's rank among the (thinned)
//! draws is uniform; per identified quantity we print both.
//!
//! Why the truth is drawn and not fixed: with one fixed truth, a direction the data barely
//! constrain (how J(t) splits into D0·t^α and D_offset) is set by the prior in every
//! replicate alike, and its intervals cover a truth near the prior's centre every time
//! (coverage 1.0 by construction, not by merit). Only prior-averaged coverage is a
//! property the posterior must have.
//!
//! Shared by the benchmark (`cargo bench -p heterodyne --bench calibration`) and the short
//! test in `tests/cli`, which run the real binary.

use std::path::Path;
use std::process::Command;

use ndarray::Array2;
use ndarray_npy::NpzReader;

/// The calibration prior: truncated normals with these centres (the small fixture's truth,
/// `tests/data/datasets/small.json`) and the widths in [`WIDTH`].
pub const TRUTH: [(&str, f64); 14] = [
    ("D0_ref", 500.0),
    ("alpha_ref", 0.1),
    ("D_offset_ref", 10.0),
    ("D0_sample", 1000.0),
    ("alpha_sample", 0.2),
    ("D_offset_sample", 50.0),
    ("v0", 50.0),
    ("beta", 0.2),
    ("v_offset", 5.0),
    ("f0", 0.4),
    ("f1", 0.02),
    ("f2", 25.0),
    ("f3", 0.1),
    ("phi0", 3.0),
];

/// Standard deviations of the calibration prior, and the registry's bounds it is
/// truncated to.
pub const WIDTH: [(f64, f64, f64); 14] = [
    (100.0, 100.0, 1e6),
    (0.05, -5.0, 5.0),
    (5.0, -1e5, 1e5),
    (200.0, 100.0, 1e6),
    (0.05, -5.0, 5.0),
    (10.0, -1e5, 1e5),
    (5.0, 1e-6, 1e4),
    (0.03, -2.0, 2.0),
    (1.0, -100.0, 100.0),
    (0.05, 0.0, 1.0),
    (0.002, -10.0, 10.0),
    (3.0, -1e4, 1e4),
    (0.02, 0.0, 1.0),
    (0.5, -10.0, 10.0),
];

/// A small deterministic generator (splitmix64) and Box–Muller normals: the replicates'
/// truths must be reproducible from the replicate index alone.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Replicate `r`'s truth, drawn from the calibration prior.
pub fn draw_truth(r: usize) -> Vec<(&'static str, f64)> {
    let mut rng = Rng(0xC0FF_EE00 + r as u64);
    TRUTH
        .iter()
        .zip(WIDTH)
        .map(|(&(name, mean), (sd, lo, hi))| {
            loop {
                let x = mean + sd * rng.normal();
                if x > lo && x < hi {
                    break (name, x);
                }
            }
        })
        .collect()
}

const GROUPS: [(&str, &[&str]); 5] = [
    ("reference", &["D0_ref", "alpha_ref", "D_offset_ref"]),
    ("sample", &["D0_sample", "alpha_sample", "D_offset_sample"]),
    ("velocity", &["v0", "beta", "v_offset"]),
    ("fraction", &["f0", "f1", "f2", "f3"]),
    ("angle", &["phi0"]),
];

/// Rank bins of the histogram.
pub const BINS: usize = 10;

/// One identified quantity's calibration over the replicates.
#[derive(Debug, Clone)]
pub struct Row {
    /// Quantity (as in `result.json`).
    pub name: String,
    /// Replicates whose central 90 % interval holds the truth.
    pub covered: usize,
    /// Replicates.
    pub replicates: usize,
    /// Truth's rank among the thinned draws, in `BINS` equal bins.
    pub ranks: [usize; BINS],
}

impl Row {
    /// Coverage of the central 90 % interval.
    pub fn coverage(&self) -> f64 {
        self.covered as f64 / self.replicates.max(1) as f64
    }
}

fn config(values: &[(&str, f64)], data: Option<&Path>) -> String {
    let with_prior = data.is_some();
    let mut yaml = String::new();
    if let Some(d) = data {
        yaml += &format!("experimental_data:\n  file_path: {}\n", d.display());
    }
    yaml += "analyzer_parameters:\n  dt: 0.5\n  start_frame: 1\n  end_frame: 100\n  scattering:\n    wavevector_q: 0.0054\n    phi_angles: [0.0, 45.0, 90.0]\nparameters:\n";
    for (group, names) in GROUPS {
        yaml += &format!("  {group}:\n");
        for n in names {
            let v = values
                .iter()
                .find(|(k, _)| k == n)
                .map_or(f64::NAN, |p| p.1);
            let k = TRUTH.iter().position(|(m, _)| m == n).unwrap_or(0);
            if with_prior {
                yaml += &format!(
                    "    {n}: {{value: {v}, prior: truncated_normal, prior_params: {{mean: {}, std: {}}}}}\n",
                    TRUTH[k].1, WIDTH[k].0
                );
            } else {
                yaml += &format!("    {n}: {{value: {v}}}\n");
            }
        }
    }
    if data.is_none() {
        yaml += "  scaling:\n    contrast: {value: 0.1}\n    offset: {value: 1.0}\n";
    }
    yaml
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    // 3: finished, with a convergence warning (counted by the caller through coverage).
    if matches!(out.status.code(), Some(0 | 3)) {
        Ok(())
    } else {
        Err(format!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `(chains × draws)` of `key` from `posterior.npz`, flattened chain by chain.
fn read_draws(npz: &Path, key: &str) -> Result<Vec<f64>, String> {
    let file = std::fs::File::open(npz).map_err(|e| format!("{}: {e}", npz.display()))?;
    let mut r = NpzReader::new(file).map_err(|e| format!("{}: {e}", npz.display()))?;
    let a: Array2<f64> = r
        .by_name(&format!("posterior.{key}"))
        .or_else(|_| r.by_name(&format!("posterior.{key}.npy")))
        .map_err(|e| format!("{}: posterior.{key}: {e}", npz.display()))?;
    Ok(a.iter().copied().collect())
}

/// Central interval `[q(lo), q(hi)]` of `v` (linear interpolation between order statistics).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = p * (sorted.len() - 1) as f64;
    let (i, f) = (h.floor() as usize, h - h.floor());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + f * (sorted[j] - sorted[i])
}

/// Simulates `replicates` datasets in `work`, fits each with `threads` threads (and
/// `draws` warm-up and kept draws per chain, `None`: the defaults), and returns one row
/// per identified quantity plus the total divergences.
pub fn calibrate(
    bin: &Path,
    work: &Path,
    replicates: usize,
    draws: Option<u64>,
    threads: usize,
) -> Result<(Vec<Row>, u64), String> {
    // (name in result.json, key in posterior.npz, the truth of a replicate).
    let names_of = |t: &[(&str, f64)]| -> Vec<(String, String, f64)> {
        let get = |n: &str| t.iter().find(|(k, _)| *k == n).map_or(f64::NAN, |p| p.1);
        let mut names: Vec<(String, String, f64)> = t
            .iter()
            .filter(|(n, _)| *n != "f0" && *n != "f2")
            .map(|(n, v)| (n.to_string(), n.to_string(), *v))
            .collect();
        names.push((
            "ln(f0·exp(−f1·f2))".into(),
            "ln_f0_exp_minus_f1_f2".into(),
            get("f0").ln() - get("f1") * get("f2"),
        ));
        // Contrast and offset are held at one value (their default priors are wide and the
        // data pin them to 1e-3).
        names.push(("contrast".into(), "contrast".into(), 0.1));
        names.push(("offset".into(), "offset".into(), 1.0));
        names
    };
    let names = names_of(&TRUTH);
    let mut rows: Vec<Row> = names
        .iter()
        .map(|(n, _, _)| Row {
            name: n.clone(),
            covered: 0,
            replicates: 0,
            ranks: [0; BINS],
        })
        .collect();
    let mut divergences = 0;
    let threads = threads.to_string();
    for r in 0..replicates {
        let truth = draw_truth(r);
        let names = names_of(&truth);
        std::fs::write(work.join("simulate.yaml"), config(&truth, None))
            .map_err(|e| e.to_string())?;
        let data = work.join(format!("rep{r}.h5"));
        let seed = (5000 + r).to_string();
        let data_s = data.display().to_string();
        run(
            bin,
            work,
            &[
                "simulate",
                "--config",
                "simulate.yaml",
                "--out",
                &data_s,
                "--layout",
                "aps-u",
                "--noise",
                "0.003",
                "--seed",
                &seed,
            ],
        )?;
        let fit = format!("fit{r}.yaml");
        std::fs::write(work.join(&fit), config(&TRUTH, Some(&data))).map_err(|e| e.to_string())?;
        let out = format!("out{r}");
        let mut args = vec![
            "fit",
            "--config",
            &fit,
            "--output-dir",
            &out,
            "--method",
            "both",
            "--quiet",
            "--no-plots",
            "--seed",
            &seed,
            "--threads",
            &threads,
        ];
        let d = draws.map(|d| d.to_string());
        if let Some(d) = &d {
            args.extend(["--num-warmup", d, "--num-samples", d]);
        }
        run(bin, work, &args)?;
        let result: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(work.join(&out).join("result.json"))
                .map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        divergences += result["divergences"].as_u64().unwrap_or(0);
        let npz = work.join(&out).join("posterior.npz");
        for ((_, key, truth), row) in names.iter().zip(rows.iter_mut()) {
            let all = read_draws(&npz, key)?;
            let mut sorted = all.clone();
            sorted.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile(&sorted, 0.05), quantile(&sorted, 0.95));
            row.replicates += 1;
            if (lo..=hi).contains(truth) {
                row.covered += 1;
            }
            // Thin to about 100 draws (well below the ESS) so the ranks are near independent.
            let step = (all.len() / 100).max(1);
            let thinned: Vec<f64> = all.iter().step_by(step).copied().collect();
            let below = thinned.iter().filter(|&&x| x < *truth).count();
            let bin = (below * BINS / (thinned.len() + 1)).min(BINS - 1);
            row.ranks[bin] += 1;
        }
        eprintln!("replicate {}/{replicates} done", r + 1);
    }
    Ok((rows, divergences))
}

/// The table as printed by the benchmark (Markdown, for the README).
pub fn table(rows: &[Row]) -> String {
    let mut s =
        String::from("| quantity | 90 % coverage | rank histogram (10 bins) |\n|---|---|---|\n");
    for r in rows {
        s += &format!(
            "| `{}` | {}/{} = {:.2} | {} |\n",
            r.name,
            r.covered,
            r.replicates,
            r.coverage(),
            r.ranks
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    s
}
