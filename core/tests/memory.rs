//! Must show (NLSQ 3): the streaming strategy's peak heap at N = 2000 × 3 angles stays
//! under 3× the size of the C2 data itself. A counting global allocator measures the
//! whole process heap (this binary holds only this test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use heterodyne_core::exec::{Par, Silent};
use heterodyne_core::model::{HeterodyneModel, PhysicsParams, Scaling, TimeGrid};
use heterodyne_core::nlsq::{
    self, FitProblem, NlsqSettings, PerAngleMode, PhysicsStart, ResidualSupport, ScalingInputs,
    ScalingLayout, Strategy, Tolerances,
};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn streaming_peak_memory_is_under_three_times_the_data() {
    let n = 2000;
    let phi = vec![0.0, 45.0, 90.0];
    let grid = TimeGrid::window(0.025, n).expect("grid");
    let model = HeterodyneModel::new(grid, 0.0054, phi.clone()).expect("model");
    let truth = PhysicsParams::from_array([
        500.0, 0.1, 10.0, 1000.0, 0.2, 50.0, 50.0, 0.2, 5.0, 0.4, 0.02, 25.0, 0.1, 3.0,
    ]);
    let c2 = model
        .c2(&truth, &Scaling::uniform(3, 0.1, 1.0), Par::Seq)
        .expect("c2");
    let data_bytes = c2.len() * std::mem::size_of::<f64>();
    let t = grid.times();
    let layout = ScalingLayout::new(
        PerAngleMode::Averaged,
        &ScalingInputs {
            phi: &phi,
            c2: &c2,
            n,
            t: &t,
            contrast: 0.1,
            offset: 1.0,
            fourier_order: 2,
            constant_scaling_threshold: 3,
        },
    );
    let mut start = truth;
    start.d0_ref = 550.0;
    start.v0 = 52.0;
    let problem = FitProblem::new(
        model,
        &c2,
        None,
        ResidualSupport::default(),
        PhysicsStart::registry(start),
        layout,
    )
    .expect("problem");
    let settings = NlsqSettings {
        strategy: Strategy::Streaming,
        tolerances: Tolerances {
            max_iterations: 2,
            ..Tolerances::default()
        },
        ..NlsqSettings::default()
    };
    let report = nlsq::fit(&problem, &settings, Par::Seq, &Silent).expect("fit");
    assert!(report.iterations >= 1);
    let peak = PEAK.load(Ordering::Relaxed);
    let ratio = peak as f64 / data_bytes as f64;
    println!(
        "C2 data {:.1} MB, process heap peak {:.1} MB ({ratio:.2}× the data), strategy {:?}",
        data_bytes as f64 / 1e6,
        peak as f64 / 1e6,
        report.strategy
    );
    assert!(ratio < 3.0, "peak {peak} bytes is {ratio:.2}× the data");
}
