//! The parameter table: value, bounds and vary for the 14 physics parameters, editable
//! with the keyboard.

use leptos::prelude::*;

use crate::config_text::Row;

fn number_cell(
    rows: RwSignal<Vec<Row>>,
    k: usize,
    get: fn(&Row) -> f64,
    set: fn(&mut Row, f64),
    label: String,
) -> impl IntoView {
    view! {
        <td>
            <input type="number" step="any" aria-label=label
                prop:value=move || rows.with(|r| get(&r[k]).to_string())
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<f64>() {
                        rows.update(|r| set(&mut r[k], v));
                    }
                }/>
        </td>
    }
}

/// The editable table of `rows`.
#[component]
pub fn ParamTable(rows: RwSignal<Vec<Row>>) -> impl IntoView {
    let n = rows.with_untracked(Vec::len);
    view! {
        <table class="params">
            <caption>"Start values and bounds"</caption>
            <thead><tr><th scope="col">"parameter"</th><th scope="col">"value"</th><th scope="col">"min"</th><th scope="col">"max"</th><th scope="col">"vary"</th></tr></thead>
            <tbody>
                {(0..n).map(|k| {
                    let name = rows.with_untracked(|r| r[k].name);
                    view! {
                        <tr data-param=name>
                            <th scope="row">{name}</th>
                            {number_cell(rows, k, |r| r.value, |r, v| r.value = v, format!("{name} value"))}
                            {number_cell(rows, k, |r| r.min, |r, v| r.min = v, format!("{name} min"))}
                            {number_cell(rows, k, |r| r.max, |r, v| r.max = v, format!("{name} max"))}
                            <td><input type="checkbox" aria-label=format!("{name} vary")
                                prop:checked=move || rows.with(|r| r[k].vary)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    rows.update(|r| r[k].vary = on);
                                }/></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
