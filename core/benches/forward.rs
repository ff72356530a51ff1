//! Forward-model benchmark (issue "Core", Must show 4): ns per C2 element for the fast
//! separable evaluator, the naive per-element evaluator and a plain read-one-array /
//! write-another pass (the memory floor), N = 500 and 2000, 3 angles, single thread; then
//! the fast evaluator's speed-up on 2 threads. Run: `cargo bench -p heterodyne-core`.
//! Ratios are measured in the same run on the same machine; absolute times vary.

use std::hint::black_box;
use std::time::Instant;

use heterodyne_core::exec::Par;
use heterodyne_core::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid};

/// Median wall time of `reps` runs of `f`, in seconds.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm caches and page in the output
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let threads = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2usize);
    let pool1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let pool_n = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    // A realistic parameter set: the fixtures' small dataset truth region.
    let params = PhysicsParams::from_array([
        500.0, 0.3, 10.0, 2e3, -0.2, 50.0, 80.0, 0.1, 2.0, 0.4, 0.02, 25.0, 0.1, 3.0,
    ]);
    let phi = vec![0.0, 45.0, 90.0];
    let scaling = Scaling::uniform(3, 0.1, 1.0);
    println!(
        "{:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10}",
        "N", "fast ns/el", "naive ns/el", "floor ns/el", "fast/floor", "naive/fast", "speedup"
    );
    let sizes: Vec<usize> = std::env::var("BENCH_N")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![500, 2000]);
    for n in sizes {
        let dt = 50.0 / n as f64;
        let model =
            HeterodyneModel::new(TimeGrid::window(dt, n).expect("grid"), 0.0054, phi.clone())
                .expect("model");
        let len = model.len();
        let mut out = vec![0.0; len];
        let reps = (200_000_000 / (n * n)).clamp(9, 801);
        let fast = median_secs(reps, || {
            model
                .c2_into(&params, &scaling, Par::Seq, &mut out)
                .expect("c2");
            black_box(&out);
        });
        let naive = median_secs(reps.min(9), || {
            model
                .c2_naive_into(&params, &scaling, Par::Seq, &mut out)
                .expect("c2");
            black_box(&out);
        });
        let input: Vec<f64> = (0..len).map(|i| i as f64 * 1e-9).collect();
        let floor = median_secs(reps, || {
            for (o, i) in out.iter_mut().zip(black_box(&input)) {
                *o = i + 1.0;
            }
            black_box(&out);
        });
        let fast_1 = pool1.install(|| {
            median_secs(reps, || {
                model
                    .c2_into(&params, &scaling, Par::threads(1), &mut out)
                    .expect("c2");
            })
        });
        let fast_n = pool_n.install(|| {
            median_secs(reps, || {
                model
                    .c2_into(&params, &scaling, Par::threads(threads), &mut out)
                    .expect("c2");
            })
        });
        let per = |s: f64| s * 1e9 / len as f64;
        println!(
            "{n:>6} {:>12.3} {:>12.3} {:>12.3} {:>12.2} {:>12.1} {:>9.2}x",
            per(fast),
            per(naive),
            per(floor),
            fast / floor,
            naive / fast,
            fast_1 / fast_n,
        );
    }
    println!(
        "(speedup: fast evaluator on a {threads}-thread pool vs a 1-thread pool; BENCH_THREADS, BENCH_N=500,2000 set them)"
    );
}
