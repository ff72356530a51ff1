//! The tables of a fit: the physics estimates with standard errors, and the per-angle
//! contrast and offset.

use leptos::prelude::*;

use crate::fit::{Estimate, ScalingFit};

fn std_error_cell(e: &Estimate) -> impl IntoView + use<> {
    view! {
        <td class="std-error" data-value=e.std_error.map_or(String::new(), |s| s.to_string())>
            {e.std_error.map_or("—".to_string(), |s| format!("{s:.3e}"))}</td>
    }
}

/// The 14 physics parameters.
#[component]
pub fn EstimatesTable(estimates: Vec<Estimate>) -> impl IntoView {
    view! {
        <table id="estimates">
            <caption>"NLSQ estimates"</caption>
            <thead><tr><th scope="col">"parameter"</th><th scope="col">"value"</th><th scope="col">"std error"</th></tr></thead>
            <tbody>
                {estimates.iter().map(|e| view! {
                    <tr data-param=e.name.clone()>
                        <th scope="row">{e.name.clone()}</th>
                        <td class="value" data-value=e.value.to_string()>{format!("{:.6}", e.value)}</td>
                        {std_error_cell(e)}
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Contrast and offset of every angle.
#[component]
pub fn ScalingTable(scaling: ScalingFit) -> impl IntoView {
    let rows = scaling
        .phi
        .iter()
        .zip(scaling.contrast.iter().zip(&scaling.offset))
        .map(|(phi, (c, o))| {
            view! {
                <tr data-phi=phi.to_string()>
                    <th scope="row">{format!("{phi}°")}</th>
                    <td class="contrast" data-value=c.value.to_string()>{format!("{:.5}", c.value)}</td>
                    {std_error_cell(c)}
                    <td class="offset" data-value=o.value.to_string()>{format!("{:.5}", o.value)}</td>
                    {std_error_cell(o)}
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="scaling">
            <caption>{format!("Per-angle scaling ({})", scaling.mode)}</caption>
            <thead><tr><th scope="col">"φ"</th><th scope="col">"contrast"</th><th scope="col">"std error"</th>
                <th scope="col">"offset"</th><th scope="col">"std error"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
