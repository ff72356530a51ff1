//! The app shell: data in, the form (analyzer settings, parameters, sampler, YAML
//! import/export), heatmaps, fits in the fit worker or on a node, and the results.

use heterodyne_core::data::prepare::Prepared;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::heatmap::{Heatmap, limits};
use super::params::ParamTable;
use super::result_view::ResultView;
use crate::config_text::Form;
use crate::data::{self, Loaded, MAX_FRAMES_HERE};
use crate::fit::client::{FitWorker, Message};
use crate::fit::{CANCELLED, Method, Outcome, Phase, Request};
use crate::remote;

/// Bytes of a file the user gave.
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

/// Whether the page is cross-origin isolated, and how many cores the browser reports.
fn environment() -> (bool, u32) {
    let isolated = js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let cores = web_sys::window().map_or(1, |w| w.navigator().hardware_concurrency() as u32);
    (isolated, cores)
}

/// The bundled example's data file name.
const EXAMPLE_DATA: &str = "example_aps_u.h5";

/// Bytes of an app asset.
async fn asset_bytes(path: &str) -> Result<Vec<u8>, String> {
    let url = crate::assets::url(path);
    let r = gloo_net::http::Request::get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !r.ok() {
        return Err(format!("{url}: the server answered {}", r.status()));
    }
    r.binary().await.map_err(|e| format!("{url}: {e}"))
}

/// The bundled example: (data file name, its bytes, the config).
async fn example() -> Result<(String, Vec<u8>, String), String> {
    let bytes = asset_bytes(&format!("example/{EXAMPLE_DATA}")).await?;
    let yaml = asset_bytes("example/fit.yaml").await?;
    let yaml = String::from_utf8(yaml).map_err(|_| "example/fit.yaml is not UTF-8".to_string())?;
    Ok((EXAMPLE_DATA.to_string(), bytes, yaml))
}

/// What the page is busy with.
#[derive(Debug, Clone, PartialEq)]
enum Busy {
    Idle,
    /// A fit in the fit worker.
    Here,
    /// A job on the node (its id once submitted).
    Node(Option<String>),
}

/// The page.
#[component]
pub fn App() -> impl IntoView {
    let loaded = RwSignal::new(None::<Loaded>);
    let form = RwSignal::new(Form::default());
    let method = RwSignal::new(Method::Nlsq);
    let status = RwSignal::new(String::from(
        "Drop a two-time file (.npz, .npy, .h5) or choose one.",
    ));
    let error = RwSignal::new(None::<String>);
    let outcome = RwSignal::new(None::<(Outcome, Prepared)>);
    let busy = RwSignal::new(Busy::Idle);
    let node_url = RwSignal::new(String::new());
    // Fraction done; negative while the amount of work is unknown (NLSQ iterations).
    let progress = RwSignal::new(None::<f64>);
    let remote_job = RwSignal::new(None::<String>);
    let share_link = RwSignal::new(None::<String>);
    // The loaded data is too large to fit here: offer to send it to the node.
    let oversize = RwSignal::new(false);
    // (threaded, workers) once the fit worker has loaded.
    let engine = RwSignal::new(None::<(bool, usize)>);
    let worker = StoredValue::new_local(None::<FitWorker>);
    // The data of the fit in the worker, shown beside its outcome.
    let fitting = StoredValue::new_local(None::<Prepared>);
    let (isolated, cores) = environment();

    let on_worker = move |m: Message| match m {
        Message::Ready { threaded, workers } => engine.set(Some((threaded, workers))),
        Message::Progress(s) => {
            if busy.get_untracked() == Busy::Here {
                status.set(s.line());
                progress.set(Some(if s.phase == Phase::Cmc {
                    s.fraction()
                } else {
                    -1.0
                }));
            }
        }
        Message::Done { outcome: o, ms } => {
            busy.set(Busy::Idle);
            progress.set(None);
            remote_job.set(None);
            share_link.set(None);
            status.set(format!("fitted in {ms:.0} ms: {}", o.summary()));
            if let Some(d) = fitting.try_update_value(Option::take).flatten() {
                outcome.set(Some((*o, d)));
            }
        }
        Message::Failed(e) => {
            let was_fitting = busy.get_untracked() == Busy::Here;
            if was_fitting {
                busy.set(Busy::Idle);
                progress.set(None);
            }
            if e == CANCELLED {
                status.set("fit cancelled".into());
            } else {
                error.set(Some(e));
            }
        }
    };
    let spawn_worker = move || match FitWorker::spawn(on_worker) {
        Ok(w) => worker.set_value(Some(w)),
        Err(e) => error.set(Some(e)),
    };
    spawn_worker();

    let open_data = move |name: String, bytes: Vec<u8>| match data::read(&name, bytes) {
        Ok(l) => {
            let n = l.raw.n;
            form.update(|f| {
                let a = &mut f.analyzer;
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
            oversize.set(false);
            outcome.set(None);
            loaded.set(Some(l));
        }
        Err(e) => error.set(Some(e)),
    };
    let open_file = move |file: web_sys::File| {
        spawn_local(async move {
            match file_bytes(file).await {
                Ok((name, bytes)) => open_data(name, bytes),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // The bundled example (the CLI's examples/: an APS-U file and its config), from the
    // app's own asset directory.
    let open_example = move |_| {
        status.set("opening the example …".into());
        spawn_local(async move {
            match example().await {
                Ok((name, bytes, yaml)) => {
                    open_data(name, bytes);
                    match Form::from_yaml(&yaml) {
                        Ok((_, f)) => {
                            form.set(f);
                            status.set(format!(
                                "{}: the bundled example (APS-U layout, 3 angles; config examples/fit.yaml) — press Fit here",
                                EXAMPLE_DATA
                            ));
                        }
                        Err(e) => error.set(Some(format!("example/fit.yaml: {e}"))),
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let on_data = move |ev: leptos::ev::Event| {
        if let Some(file) = first_file(&ev) {
            open_file(file);
        }
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        let file = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0));
        if let Some(file) = file {
            open_file(file);
        }
    };
    let on_config = move |ev: leptos::ev::Event| {
        if let Some(file) = first_file(&ev) {
            spawn_local(async move {
                let (name, text) = match file_bytes(file).await {
                    Ok((name, b)) => (name, String::from_utf8_lossy(&b).to_string()),
                    Err(e) => return error.set(Some(e)),
                };
                match Form::from_yaml(&text) {
                    Ok((_, f)) => {
                        form.set(f);
                        error.set(None);
                        status.set(format!("{name}: config imported"));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        }
    };
    // The data the form selects (frames, q, angles, diagonal correction).
    let selected = Memo::new(move |_| {
        let l = loaded.get()?;
        let config = form.with(Form::config).ok()?;
        data::select(&l, &config).ok()
    });
    let fit_here = move |_| {
        let Some(l) = loaded.get_untracked() else {
            return error.set(Some("load a data file first".into()));
        };
        let f = form.get_untracked();
        let data = match f.config().and_then(|c| data::select(&l, &c)) {
            Ok(d) => d,
            Err(e) => return error.set(Some(e)),
        };
        if data.n > MAX_FRAMES_HERE {
            oversize.set(true);
            return error.set(Some(format!(
                "this dataset has {} frames; fit it on a node or trim to ≤ {MAX_FRAMES_HERE}",
                data.n
            )));
        }
        if worker.with_value(Option::is_none) {
            spawn_worker();
        }
        let request = Request {
            config_yaml: f.to_yaml(),
            c2: data.c2.clone(),
            n: data.n,
            phi: data.phi.clone(),
            method: method.get_untracked(),
        };
        let sent = worker.with_value(|w| {
            w.as_ref()
                .map_or(Err("the fit worker is not running".to_string()), |w| {
                    w.start(&request)
                })
        });
        match sent {
            Ok(()) => {
                fitting.set_value(Some(data));
                busy.set(Busy::Here);
                error.set(None);
                progress.set(Some(-1.0));
                status.set("fitting in the page: starting …".into());
            }
            Err(e) => error.set(Some(e)),
        }
    };
    // Submits the loaded file with the form's config and follows the job to its result.
    let run_remote = move || async move {
        let l = loaded.get_untracked().ok_or("load a data file first")?;
        let yaml = form.with_untracked(Form::to_yaml);
        let base = node_url.get_untracked();
        status.set("sending the job to the node …".into());
        progress.set(Some(0.0));
        let id = remote::submit(&base, &yaml, method.get_untracked(), &l.name, &l.bytes).await?;
        busy.set(Busy::Node(Some(id.clone())));
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
        busy.set(Busy::Node(None));
        error.set(None);
        oversize.set(false);
        share_link.set(None);
        spawn_local(async move {
            if let Err(e) = run_remote().await {
                error.set(Some(e));
            }
            progress.set(None);
            busy.set(Busy::Idle);
        });
    };
    let cancel = move |_| match busy.get_untracked() {
        Busy::Idle => {}
        Busy::Here => {
            if engine.get_untracked().is_some_and(|(threaded, _)| threaded) {
                // The core stops at its next step; the worker answers "cancelled".
                worker.with_value(|w| w.as_ref().map(FitWorker::cancel));
                status.set("cancelling …".into());
            } else {
                // A single-threaded worker reads no message while it computes: end it.
                worker.set_value(None);
                engine.set(None);
                busy.set(Busy::Idle);
                progress.set(None);
                status.set("fit cancelled".into());
                spawn_worker();
            }
        }
        Busy::Node(id) => {
            let Some(id) = id else { return };
            let base = node_url.get_untracked();
            status.set("cancelling the job on the node …".into());
            spawn_local(async move {
                if let Err(e) = remote::cancel(&base, &id).await {
                    error.set(Some(e));
                }
            });
        }
    };
    // A node result is shared as it is; a result of this page is run on the node first.
    let share = move |_| {
        busy.set(Busy::Node(None));
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
            busy.set(Busy::Idle);
        });
    };
    let export_href = move || {
        format!(
            "data:text/yaml;charset=utf-8,{}",
            js_sys::encode_uri_component(&form.with(Form::to_yaml))
        )
    };
    let number = move |get: fn(&Form) -> f64, set: fn(&mut Form, f64), id: &'static str| {
        view! {
            <input type="number" step="any" id=id
                prop:value=move || form.with(|f| get(f).to_string())
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<f64>() {
                        form.update(|f| set(f, v));
                    }
                }/>
        }
    };
    let idle = move || busy.get() == Busy::Idle;
    let env_line = move || match engine.get() {
        None => format!("fit worker loading … · {cores} cores"),
        Some((true, workers)) => {
            format!("threaded: {workers} workers · page cross-origin isolated · {cores} cores")
        }
        Some((false, _)) => format!(
            "single-threaded build (0 workers) · page {} cross-origin isolated · {cores} cores",
            if isolated { "is" } else { "is not" }
        ),
    };

    view! {
        <header>
            <h1>"Heterodyne XPCS"</h1>
            // Fits run in a dedicated worker: the threaded build (rayon on web workers)
            // when the page is cross-origin isolated, the single-threaded one otherwise.
            <p id="env" data-isolated=isolated.to_string() data-cores=cores.to_string()
                data-ready=move || engine.get().is_some().to_string()
                data-workers=move || engine.get().map_or(0, |(_, w)| w).to_string()>
                {env_line}
            </p>
        </header>
        <main>
            <section class="input" on:dragover=|ev: web_sys::DragEvent| ev.prevent_default() on:drop=on_drop>
                <h2>"Data"</h2>
                <button id="open-example" on:click=open_example>"Open the example"</button>
                <label>" Two-time file " <input type="file" id="data-file" accept=".npz,.npy,.h5,.hdf5,.hdf" on:change=on_data/></label>
                <label>" Config (YAML) " <input type="file" id="config-file" accept=".yaml,.yml" on:change=on_config/></label>
                <a id="export-config" download="config.yaml" href=export_href>"Export config"</a>
                <p id="status" role="status">{move || status.get()}</p>
                <p id="error" role="alert" class="error">{move || error.get().unwrap_or_default()}</p>
                {move || oversize.get().then(|| view! {
                    <button id="send-to-node" on:click=fit_node disabled=move || !idle()>"Send to node"</button>
                })}
            </section>
            <section class="form">
                <h2>"Settings"</h2>
                <label>"dt (s) " {number(|f| f.analyzer.dt, |f, v| f.analyzer.dt = v, "dt")}</label>
                <label>" q (1/Å) " {number(|f| f.analyzer.q, |f, v| f.analyzer.q = v, "q")}</label>
                <label>" frames " {number(|f| f.analyzer.start_frame as f64, |f, v| f.analyzer.start_frame = v.max(1.0) as usize, "start-frame")}
                    " – " {number(|f| f.analyzer.end_frame as f64, |f, v| f.analyzer.end_frame = v.max(1.0) as usize, "end-frame")}</label>
                <fieldset id="angles">
                    <legend>"Angles (φ, degrees)"</legend>
                    {move || {
                        let angles = loaded.with(|l| l.as_ref().map(Loaded::angles)).unwrap_or_default();
                        angles.into_iter().enumerate().map(|(k, phi)| {
                            let on = move || form.with(|f| f.analyzer.phi.as_ref().is_none_or(|p| p.contains(&phi)));
                            view! {
                                <label><input type="checkbox" id=format!("phi-{k}") prop:checked=on
                                    on:change=move |ev| {
                                        let keep = event_target_checked(&ev);
                                        form.update(|f| {
                                            let all = loaded.with_untracked(|l| l.as_ref().map(Loaded::angles)).unwrap_or_default();
                                            let mut now = f.analyzer.phi.clone().unwrap_or_else(|| all.clone());
                                            now.retain(|p| *p != phi);
                                            if keep {
                                                now.push(phi);
                                                now.sort_by(f64::total_cmp);
                                            }
                                            f.analyzer.phi = if now.len() == all.len() { None } else { Some(now) };
                                        });
                                    }/>{format!(" {phi}° ")}</label>
                            }
                        }).collect_view()
                    }}
                </fieldset>
                <ParamTable form=form/>
                <fieldset id="sampler">
                    <legend>"Sampler (CMC)"</legend>
                    <label>"warm-up " {number(|f| f.sampler.num_warmup as f64, |f, v| f.sampler.num_warmup = v.max(0.0) as u64, "num-warmup")}</label>
                    <label>" samples " {number(|f| f.sampler.num_samples as f64, |f, v| f.sampler.num_samples = v.max(1.0) as u64, "num-samples")}</label>
                    <label>" chains " {number(|f| f.sampler.num_chains as f64, |f, v| f.sampler.num_chains = v.max(1.0) as usize, "num-chains")}</label>
                    <label>" shards "
                        <input type="text" id="num-shards" inputmode="numeric" placeholder="auto"
                            prop:value=move || form.with(|f| f.sampler.num_shards.map_or(String::new(), |k| k.to_string()))
                            on:change=move |ev| {
                                let text = event_target_value(&ev);
                                let text = text.trim();
                                if text.is_empty() || text == "auto" {
                                    form.update(|f| f.sampler.num_shards = None);
                                } else if let Ok(k) = text.parse::<usize>() {
                                    form.update(|f| f.sampler.num_shards = Some(k.max(1)));
                                }
                            }/></label>
                </fieldset>
                <div class="run">
                    <label>"method "
                        <select id="method" prop:value=move || method.get().as_str()
                            on:change=move |ev| method.set(if event_target_value(&ev) == "cmc" { Method::Cmc } else { Method::Nlsq })>
                            <option value="nlsq">"NLSQ"</option>
                            <option value="cmc">"NLSQ + CMC"</option>
                        </select>
                    </label>
                    <button id="fit-here" on:click=fit_here disabled=move || !idle() || loaded.with(Option::is_none)>"Fit here"</button>
                    <button id="fit-node" on:click=fit_node disabled=move || !idle() || loaded.with(Option::is_none)>"Fit on node"</button>
                    <button id="cancel" on:click=cancel disabled=idle>"Cancel"</button>
                    <label>" node " <input type="url" id="node-url" placeholder="this page's node"
                        prop:value=move || node_url.get()
                        on:change=move |ev| node_url.set(event_target_value(&ev).trim().to_string())/></label>
                    <button id="share" on:click=share disabled=move || !idle() || outcome.with(Option::is_none)>"Share"</button>
                    {move || progress.get().map(|p| if p < 0.0 {
                        view! { <progress id="progress" aria-label="fit running"></progress> }.into_any()
                    } else {
                        view! { <progress id="progress" aria-label="fit progress" max="1" value=p.to_string()></progress> }.into_any()
                    })}
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
                {move || outcome.get().map(|(o, d)| view! { <ResultView outcome=o data=d/> })}
            </section>
        </main>
    }
}
