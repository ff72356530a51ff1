//! A finished fit as the page shows it, whether fitted here, on a node or opened from a
//! share link: the estimate tables, data / fit / residual heatmaps and cuts per angle, and
//! the CMC posterior when there is one.

use heterodyne_core::data::prepare::Prepared;
use leptos::prelude::*;

use super::cuts::Cuts;
use super::heatmap::{Heatmap, limits};
use super::posterior::PosteriorViews;
use super::results::{EstimatesTable, ScalingTable};
use crate::fit::Outcome;

/// The result `outcome` of a fit to `data`.
#[component]
pub fn ResultView(outcome: Outcome, data: Prepared) -> impl IntoView {
    let (o, d) = (outcome, data);
    let nn = d.n * d.n;
    view! {
        <h2>"Fit"</h2>
        <div class="tables">
            <EstimatesTable estimates=o.estimates.clone()/>
            <ScalingTable scaling=o.scaling.clone()/>
        </div>
        {d.phi.iter().enumerate().map(|(a, phi)| {
            let data_m = d.c2[a * nn..(a + 1) * nn].to_vec();
            let fit_m = o.c2_fit[a * nn..(a + 1) * nn].to_vec();
            let resid: Vec<f64> = data_m.iter().zip(&fit_m).map(|(x, y)| x - y).collect();
            let (lo, hi) = limits(&data_m, d.n);
            let (rlo, rhi) = limits(&resid, d.n);
            let r = rlo.abs().max(rhi.abs());
            view! {
                <div class="triple">
                    <Heatmap title=format!("data, φ = {phi}°") matrix=data_m.clone() n=d.n lo=lo hi=hi id=format!("fit-data-{a}")/>
                    <Heatmap title=format!("fit, φ = {phi}°") matrix=fit_m.clone() n=d.n lo=lo hi=hi id=format!("fit-model-{a}")/>
                    <Heatmap title=format!("residual, φ = {phi}°") matrix=resid n=d.n lo=-r hi=r id=format!("fit-resid-{a}")/>
                </div>
                <div class="triple cuts" id=format!("cuts-{a}")>
                    <Cuts title=format!("φ = {phi}°") data=data_m fit=fit_m n=d.n/>
                </div>
            }
        }).collect_view()}
        {o.posterior.clone().map(|p| view! { <PosteriorViews posterior=p/> })}
    }
}
