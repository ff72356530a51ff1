//! The app shell: data in, the form (analyzer settings, parameters, YAML import/export),
//! heatmaps, a fit in the page, and the results.

use heterodyne_core::data::prepare::Prepared;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::cuts::Cuts;
use super::heatmap::{Heatmap, limits};
use super::params::ParamTable;
use crate::config_text::{self, Analyzer, Row};
use crate::data::{self, Loaded, MAX_FRAMES_HERE};
use crate::fit::{self, Outcome};
use crate::remote;

/// Bytes of the first file of a file input or drop.
async fn file_bytes(file: web_sys::File) -> Result<(String, Vec<u8>), String> {
    let name = file.name();
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| format!("{name}: the browser could not read the file"))?;
    Ok((name, js_sys::Uint8Array::new(&buffer).to_vec()))
}

fn first_file(ev: &leptos::ev::Event) -> Option<web_sys::File> {
    let input: web_sys::HtmlInputElement = ev.target()?.dyn_into().ok()?;
    input.files()?.get(0)
}

/// Milliseconds since the page started (the browser's clock; core has none).
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Whether the page may use threads, and how many cores the browser reports.
fn environment() -> (bool, u32) {
    let isolated = js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let cores = web_sys::window().map_or(1, |w| w.navigator().hardware_concurrency() as u32);
    (isolated, cores)
}

/// The config of the form, read by the CLI's reader.
fn config_of(a: &Analyzer, rows: &[Row]) -> Result<heterodyne_core::config::Config, String> {
    config_text::from_yaml(&config_text::to_yaml(a, rows)).map(|(c, _, _)| c)
}

/// The page.
#[component]
pub fn App() -> impl IntoView {
    let loaded = RwSignal::new(None::<Loaded>);
    let analyzer = RwSignal::new(Analyzer {
        dt: 1.0,
        q: 0.005,
        start_frame: 1,
        end_frame: 1,
        phi: None,
    });
    let rows = RwSignal::new(config_text::default_rows());
    let status = RwSignal::new(String::from(
        "Drop a two-time file (.npz, .npy) or choose one.",
    ));
    let error = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None::<(Outcome, Prepared)>);
    let busy = RwSignal::new(false);
    let node_url = RwSignal::new(String::new());
    let progress = RwSignal::new(None::<f64>);
    let remote_job = RwSignal::new(None::<String>);
    let share_link = RwSignal::new(None::<String>);
    let (isolated, cores) = environment();
    let workers = crate::workers();

    let open_data = move |name: String, bytes: Vec<u8>| match data::read(&name, bytes) {
        Ok(l) => {
            let n = l.raw.n;
            analyzer.update(|a| {
                a.dt = l.dt.unwrap_or(a.dt);
                a.q = l.raw.q.iter().flatten().next().copied().unwrap_or(a.q);
                a.start_frame = 1;
                a.end_frame = n;
                a.phi = None;
            });
            status.set(format!(
                "{}: {} matrices of {n}×{n} frames ({} layout)",
                l.name,
                l.raw.len(),
                l.raw.layout
            ));
            error.set(None);
            outcome.set(None);
            loaded.set(Some(l));
        }
        Err(e) => error.set(Some(e)),
    };
    let on_data = move |ev: leptos::ev::Event| {
        if let Some(file) = first_file(&ev) {
            spawn_local(async move {
                match file_bytes(file).await {
                    Ok((name, bytes)) => open_data(name, bytes),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        let file = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0));
        if let Some(file) = file {
            spawn_local(async move {
                match file_bytes(file).await {
                    Ok((name, bytes)) => open_data(name, bytes),
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    let on_config = move |ev: leptos::ev::Event| {
        if let Some(file) = first_file(&ev) {
            spawn_local(async move {
                let text = match file_bytes(file).await {
                    Ok((_, b)) => String::from_utf8_lossy(&b).to_string(),
                    Err(e) => return error.set(Some(e)),
                };
                match config_text::from_yaml(&text) {
                    Ok((_, a, r)) => {
                        analyzer.set(a);
                        rows.set(r);
                        error.set(None);
                        status.set("config imported".into());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    // The data the form selects (frames, q, angles, diagonal correction).
    let selected = Memo::new(move |_| {
        let l = loaded.get()?;
        let config = config_of(&analyzer.get(), &rows.get()).ok()?;
        data::select(&l, &config).ok()
    });
    let fit_here = move |_| {
        let Some(l) = loaded.get_untracked() else {
            return error.set(Some("load a data file first".into()));
        };
        let config = match config_of(&analyzer.get_untracked(), &rows.get_untracked()) {
            Ok(c) => c,
            Err(e) => return error.set(Some(e)),
        };
        let data = match data::select(&l, &config) {
            Ok(d) => d,
            Err(e) => return error.set(Some(e)),
        };
        if data.n > MAX_FRAMES_HERE {
            return error.set(Some(format!(
                "this dataset has {} frames; fit it on a node or trim to ≤ {MAX_FRAMES_HERE}",
                data.n
            )));
        }
        busy.set(true);
        error.set(None);
        status.set("fitting in the page …".into());
        spawn_local(async move {
            // Let the status paint before the fit holds the thread.
            let tick = js_sys::Promise::new(&mut |resolve, _| {
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 30);
                }
            });
            let _ = JsFuture::from(tick).await;
            let t0 = now_ms();
            let result = fit::run(&config, &data);
            let ms = now_ms() - t0;
            busy.set(false);
            match result {
                Ok(o) => {
                    remote_job.set(None);
                    share_link.set(None);
                    status.set(format!("fitted in {ms:.0} ms: {}", o.summary()));
                    outcome.set(Some((o, data)));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // Submits the loaded file with the form's config and follows the job to its result.
    let run_remote = move || async move {
        let l = loaded.get_untracked().ok_or("load a data file first")?;
        let yaml = config_text::to_yaml(&analyzer.get_untracked(), &rows.get_untracked());
        let base = node_url.get_untracked();
        status.set("sending the job to the node …".into());
        progress.set(Some(0.0));
        let id = remote::submit(&base, &yaml, &l.name, &l.bytes).await?;
        let end = remote::follow(&base, &id, move |p, phase| {
            progress.set(Some(p));
            status.set(format!("on the node: {phase} {:.0} %", 100.0 * p));
        })
        .await?;
        if end["state"] != "done" {
            return Err(format!(
                "the node's job {id} ended {}: {}",
                end["state"].as_str().unwrap_or("?"),
                end["error"].as_str().unwrap_or("")
            ));
        }
        let (o, d) = remote::result(&base, &id).await?;
        status.set(format!("fitted on the node (job {id}): {}", o.summary()));
        outcome.set(Some((o, d)));
        remote_job.set(Some(id.clone()));
        Ok::<String, String>(id)
    };
    let fit_node = move |_| {
        busy.set(true);
        error.set(None);
        share_link.set(None);
        spawn_local(async move {
            if let Err(e) = run_remote().await {
                error.set(Some(e));
            }
            progress.set(None);
            busy.set(false);
        });
    };
    // A node result is shared as it is; a result of this page is run on the node first.
    let share = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let id = match remote_job.get_untracked() {
                Some(id) => Ok(id),
                None => run_remote().await,
            };
            let link = match id {
                Ok(id) => remote::share(&node_url.get_untracked(), &id).await,
                Err(e) => Err(e),
            };
            match link {
                Ok(link) => share_link.set(Some(link)),
                Err(e) => error.set(Some(e)),
            }
            progress.set(None);
            busy.set(false);
        });
    };
    let export_href = move || {
        let yaml = config_text::to_yaml(&analyzer.get(), &rows.get());
        format!(
            "data:text/yaml;charset=utf-8,{}",
            js_sys::encode_uri_component(&yaml)
        )
    };
    let number = move |get: fn(&Analyzer) -> f64, set: fn(&mut Analyzer, f64), id: &'static str| {
        view! {
            <input type="number" step="any" id=id
                prop:value=move || analyzer.with(|a| get(a).to_string())
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<f64>() {
                        analyzer.update(|a| set(a, v));
                    }
                }/>
        }
    };

    view! {
        <header>
            <h1>"Heterodyne XPCS"</h1>
            // The threaded build (rayon on web workers) loads only on a cross-origin
            // isolated page; otherwise the single-threaded build computes on this thread.
            <p id="env" data-isolated=isolated.to_string() data-cores=cores.to_string() data-workers=workers.to_string()>
                {if workers > 0 {
                    format!("threaded: {workers} workers · page cross-origin isolated · {cores} cores")
                } else {
                    format!(
                        "single-threaded build (0 workers) · page {} cross-origin isolated · {cores} cores",
                        if isolated { "is" } else { "is not" }
                    )
                }}
            </p>
        </header>
        <main>
            <section class="input" on:dragover=|ev: web_sys::DragEvent| ev.prevent_default() on:drop=on_drop>
                <h2>"Data"</h2>
                <label>"Two-time file " <input type="file" id="data-file" accept=".npz,.npy,.h5,.hdf5,.hdf" on:change=on_data/></label>
                <label>" Config (YAML) " <input type="file" id="config-file" accept=".yaml,.yml" on:change=on_config/></label>
                <a id="export-config" download="config.yaml" href=export_href>"Export config"</a>
                <p id="status" role="status">{move || status.get()}</p>
                <p id="error" role="alert" class="error">{move || error.get().unwrap_or_default()}</p>
            </section>
            <section class="form">
                <h2>"Settings"</h2>
                <label>"dt (s) " {number(|a| a.dt, |a, v| a.dt = v, "dt")}</label>
                <label>" q (1/Å) " {number(|a| a.q, |a, v| a.q = v, "q")}</label>
                <label>" frames " {number(|a| a.start_frame as f64, |a, v| a.start_frame = v.max(1.0) as usize, "start-frame")}
                    " – " {number(|a| a.end_frame as f64, |a, v| a.end_frame = v.max(1.0) as usize, "end-frame")}</label>
                <fieldset id="angles">
                    <legend>"Angles (φ, degrees)"</legend>
                    {move || {
                        let angles = loaded.with(|l| l.as_ref().map(Loaded::angles)).unwrap_or_default();
                        angles.into_iter().enumerate().map(|(k, phi)| {
                            let on = move || analyzer.with(|a| a.phi.as_ref().is_none_or(|p| p.contains(&phi)));
                            view! {
                                <label><input type="checkbox" id=format!("phi-{k}") prop:checked=on
                                    on:change=move |ev| {
                                        let keep = event_target_checked(&ev);
                                        analyzer.update(|a| {
                                            let all = loaded.with_untracked(|l| l.as_ref().map(Loaded::angles)).unwrap_or_default();
                                            let mut now = a.phi.clone().unwrap_or_else(|| all.clone());
                                            now.retain(|p| *p != phi);
                                            if keep {
                                                now.push(phi);
                                                now.sort_by(f64::total_cmp);
                                            }
                                            a.phi = if now.len() == all.len() { None } else { Some(now) };
                                        });
                                    }/>{format!(" {phi}° ")}</label>
                            }
                        }).collect_view()
                    }}
                </fieldset>
                <ParamTable rows=rows/>
                <div class="run">
                    <button id="fit-here" on:click=fit_here disabled=move || busy.get() || loaded.with(Option::is_none)>"Fit here"</button>
                    <button id="fit-node" on:click=fit_node disabled=move || busy.get() || loaded.with(Option::is_none)>"Fit on node"</button>
                    <label>" node " <input type="url" id="node-url" placeholder="this page's node"
                        prop:value=move || node_url.get()
                        on:change=move |ev| node_url.set(event_target_value(&ev).trim().to_string())/></label>
                    <button id="share" on:click=share disabled=move || busy.get() || outcome.with(Option::is_none)>"Share"</button>
                    {move || progress.get().map(|p| view! { <progress id="progress" max="1" value=p.to_string()></progress> })}
                    {move || share_link.get().map(|l| view! { <a id="share-link" href=l.clone()>{l.clone()}</a> })}
                </div>
            </section>
            <section class="views">
                <h2>"C2"</h2>
                {move || selected.get().map(|d| {
                    let nn = d.n * d.n;
                    d.phi.iter().enumerate().map(|(a, phi)| {
                        let m = d.c2[a * nn..(a + 1) * nn].to_vec();
                        let (lo, hi) = limits(&m, d.n);
                        view! { <Heatmap title=format!("data, φ = {phi}°") matrix=m n=d.n lo=lo hi=hi id=format!("data-{a}")/> }
                    }).collect_view()
                })}
            </section>
            <section class="results">
                {move || outcome.get().map(|(o, d)| {
                    let nn = d.n * d.n;
                    view! {
                        <h2>"Fit"</h2>
                        <table id="estimates">
                            <caption>"NLSQ estimates"</caption>
                            <thead><tr><th scope="col">"parameter"</th><th scope="col">"value"</th><th scope="col">"std error"</th></tr></thead>
                            <tbody>
                                {o.estimates.iter().map(|e| view! {
                                    <tr data-param=e.name>
                                        <th scope="row">{e.name}</th>
                                        <td class="value" data-value=e.value.to_string()>{format!("{:.6}", e.value)}</td>
                                        <td class="std-error" data-value=e.std_error.map_or(String::new(), |s| s.to_string())>
                                            {e.std_error.map_or("—".to_string(), |s| format!("{s:.3e}"))}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {d.phi.iter().enumerate().map(|(a, phi)| {
                            let data_m = d.c2[a * nn..(a + 1) * nn].to_vec();
                            let fit_m = o.c2_fit[a * nn..(a + 1) * nn].to_vec();
                            let resid: Vec<f64> = data_m.iter().zip(&fit_m).map(|(x, y)| x - y).collect();
                            let (lo, hi) = limits(&data_m, d.n);
                            let (rlo, rhi) = limits(&resid, d.n);
                            let r = rlo.abs().max(rhi.abs());
                            view! {
                                <div class="triple">
                                    <Heatmap title=format!("data, φ = {phi}°") matrix=data_m n=d.n lo=lo hi=hi id=format!("fit-data-{a}")/>
                                    <Heatmap title=format!("fit, φ = {phi}°") matrix=fit_m n=d.n lo=lo hi=hi id=format!("fit-model-{a}")/>
                                    <Heatmap title=format!("residual, φ = {phi}°") matrix=resid n=d.n lo=-r hi=r id=format!("fit-resid-{a}")/>
                                </div>
                                <div class="triple cuts" id=format!("cuts-{a}")>
                                    <Cuts title=format!("φ = {phi}°") data=d.c2[a * nn..(a + 1) * nn].to_vec() fit=o.c2_fit[a * nn..(a + 1) * nn].to_vec() n=d.n/>
                                </div>
                            }
                        }).collect_view()}
                    }
                })}
            </section>
        </main>
    }
}
