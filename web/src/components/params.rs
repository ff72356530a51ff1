//! The parameter table: value, bounds and vary for the 14 physics parameters, then
//! contrast and offset with the per-angle mode that decides how they are fitted; every
//! cell editable with the keyboard.

use heterodyne_core::nlsq::PerAngleMode;
use leptos::prelude::*;

use crate::config_text::{Form, MODES, Row};

/// Which rows a cell edits.
#[derive(Debug, Clone, Copy)]
enum Which {
    Physics(usize),
    Scaling(usize),
}

fn row_mut(form: &mut Form, which: Which) -> &mut Row {
    match which {
        Which::Physics(k) => &mut form.rows[k],
        Which::Scaling(k) => &mut form.scaling[k],
    }
}

fn row_of(form: &Form, which: Which) -> &Row {
    match which {
        Which::Physics(k) => &form.rows[k],
        Which::Scaling(k) => &form.scaling[k],
    }
}

fn number_cell(
    form: RwSignal<Form>,
    which: Which,
    get: fn(&Row) -> f64,
    set: fn(&mut Row, f64),
    label: String,
) -> impl IntoView {
    view! {
        <td>
            <input type="number" step="any" aria-label=label
                prop:value=move || form.with(|f| get(row_of(f, which)).to_string())
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<f64>() {
                        form.update(|f| set(row_mut(f, which), v));
                    }
                }/>
        </td>
    }
}

fn row_view(form: RwSignal<Form>, which: Which) -> impl IntoView {
    let name = form.with_untracked(|f| row_of(f, which).name);
    let vary = match which {
        Which::Physics(_) => view! {
            <td><input type="checkbox" aria-label=format!("{name} vary")
                prop:checked=move || form.with(|f| row_of(f, which).vary)
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    form.update(|f| row_mut(f, which).vary = on);
                }/></td>
        }
        .into_any(),
        // Whether contrast/offset are fitted is the per-angle mode's choice.
        Which::Scaling(_) => view! { <td class="note">"per mode"</td> }.into_any(),
    };
    view! {
        <tr data-param=name>
            <th scope="row">{name}</th>
            {number_cell(form, which, |r| r.value, |r, v| r.value = v, format!("{name} value"))}
            {number_cell(form, which, |r| r.min, |r, v| r.min = v, format!("{name} min"))}
            {number_cell(form, which, |r| r.max, |r, v| r.max = v, format!("{name} max"))}
            {vary}
        </tr>
    }
}

/// The editable table of the form's parameters.
#[component]
pub fn ParamTable(form: RwSignal<Form>) -> impl IntoView {
    let n = form.with_untracked(|f| f.rows.len());
    let mode_name = move || form.with(|f| f.per_angle_mode.name());
    view! {
        <table class="params">
            <caption>"Start values and bounds"</caption>
            <thead><tr><th scope="col">"parameter"</th><th scope="col">"value"</th><th scope="col">"min"</th><th scope="col">"max"</th><th scope="col">"vary"</th></tr></thead>
            <tbody>
                {(0..n).map(|k| row_view(form, Which::Physics(k))).collect_view()}
            </tbody>
            <tbody class="scaling">
                <tr><th scope="rowgroup" colspan="5">
                    <label>"per-angle contrast/offset "
                        <select id="per-angle-mode" prop:value=mode_name
                            on:change=move |ev| {
                                let chosen = event_target_value(&ev);
                                if let Some(m) = MODES.iter().find(|m| m.name() == chosen) {
                                    form.update(|f| f.per_angle_mode = *m);
                                }
                            }>
                            {MODES.iter().map(|m| view! { <option value=m.name()>{m.name()}</option> }).collect_view()}
                        </select>
                    </label>
                    <span class="note">{move || describe(form.with(|f| f.per_angle_mode))}</span>
                </th></tr>
                {(0..2).map(|k| row_view(form, Which::Scaling(k))).collect_view()}
            </tbody>
        </table>
    }
}

/// What a per-angle mode does, in a line.
fn describe(mode: PerAngleMode) -> &'static str {
    match mode {
        PerAngleMode::Auto => " one fitted pair from 3 angles, else one pair per angle",
        PerAngleMode::Averaged => " one fitted pair for every angle",
        PerAngleMode::Individual => " one fitted pair per angle",
        PerAngleMode::Constant => " per-angle pairs held at the data's quantile estimates",
        PerAngleMode::Fourier => " Fourier series in φ",
        PerAngleMode::Fixed => " held at the values below",
    }
}
