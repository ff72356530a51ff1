//! The CMC posterior: per sampled quantity a histogram of the combined draws (all chains)
//! and the trace of each chain, as SVG, with mean ± sd, R̂ and bulk ESS.

use leptos::prelude::*;

use super::svg::{finite_range, points};
use crate::fit::{Marginal, Posterior};

const W: f64 = 260.0;
const H: f64 = 120.0;
const BINS: usize = 30;
const CHAIN_COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// Counts of `values` in `BINS` equal bins over their range; the range.
fn histogram(values: &[f64]) -> (Vec<usize>, f64, f64) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    let mut counts = vec![0; BINS];
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        counts[BINS / 2] = values.iter().filter(|v| v.is_finite()).count();
        return (counts, lo, lo);
    }
    for v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v - lo) / (hi - lo)) * BINS as f64).floor() as usize;
        counts[b.min(BINS - 1)] += 1;
    }
    (counts, lo, hi)
}

fn histogram_view(m: &Marginal) -> impl IntoView + use<> {
    let all: Vec<f64> = m.chains.iter().flatten().copied().collect();
    let (counts, lo, hi) = histogram(&all);
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bw = (W - 8.0) / BINS as f64;
    let bars = counts
        .iter()
        .enumerate()
        .map(|(b, &c)| {
            let h = (H - 8.0) * c as f64 / top;
            view! {
                <rect x=format!("{:.1}", 4.0 + b as f64 * bw) y=format!("{:.1}", H - 4.0 - h)
                    width=format!("{:.1}", (bw - 1.0).max(0.5)) height=format!("{h:.1}") fill="#3b528b"/>
            }
        })
        .collect_view();
    view! {
        <svg class="histogram" width=W.to_string() height=H.to_string() role="img"
            aria-label=format!("{}: histogram of {} draws", m.name, all.len())>
            <rect x="0" y="0" width=W.to_string() height=H.to_string() fill="none" stroke="#ccc"/>
            {bars}
        </svg>
        <div class="limits"><span>{format!("{lo:.4e}")}</span><span>{format!("{hi:.4e}")}</span></div>
    }
}

fn trace_view(m: &Marginal) -> impl IntoView + use<> {
    let (lo, hi) = finite_range(m.chains.iter().flatten());
    let lines = m
        .chains
        .iter()
        .enumerate()
        .map(|(c, draws)| {
            view! {
                <polyline class="chain" points=points(draws, lo, hi, W, H) fill="none"
                    stroke=CHAIN_COLOURS[c % CHAIN_COLOURS.len()] stroke-width="0.7" opacity="0.8"/>
            }
        })
        .collect_view();
    view! {
        <svg class="trace" width=W.to_string() height=H.to_string() role="img"
            aria-label=format!("{}: trace of {} chains", m.name, m.chains.len())>
            <rect x="0" y="0" width=W.to_string() height=H.to_string() fill="none" stroke="#ccc"/>
            {lines}
        </svg>
        <div class="limits"><span>"draw →"</span><span>{format!("chains: {}", m.chains.len())}</span></div>
    }
}

/// Histograms and traces of every sampled quantity of `posterior`.
#[component]
pub fn PosteriorViews(posterior: Posterior) -> impl IntoView {
    let verdict = if posterior.converged {
        "the verdict passed (R̂, ESS, divergences, E-BFMI)".to_string()
    } else {
        format!("the verdict failed: {}", posterior.warnings.join("; "))
    };
    view! {
        <h2>"Posterior (CMC)"</h2>
        <p id="verdict" class=if posterior.converged { "" } else { "warning" }>
            {format!("{} shard(s), {} divergences; {verdict}", posterior.shards, posterior.divergences)}
        </p>
        <div class="posterior" id="posterior">
            {posterior.marginals.iter().map(|m| view! {
                <figure class="marginal" data-param=m.name.clone() data-mean=m.mean.to_string() data-std=m.std.to_string()>
                    <figcaption>
                        <code>{m.name.clone()}</code>
                        {format!(" = {:.5e} ± {:.2e} · R̂ {:.3} · ESS {:.0}", m.mean, m.std, m.r_hat, m.ess_bulk)}
                    </figcaption>
                    {histogram_view(m)}
                    {trace_view(m)}
                </figure>
            }).collect_view()}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_counts_every_draw_once() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).collect();
        let (counts, lo, hi) = histogram(&values);
        assert_eq!(counts.iter().sum::<usize>(), 1000);
        assert!(lo < hi);
        let (counts, ..) = histogram(&[2.0; 7]);
        assert_eq!(counts.iter().sum::<usize>(), 7);
    }
}
