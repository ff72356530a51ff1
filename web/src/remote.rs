//! Jobs on a node: submit the loaded file with the form's config, follow the job over
//! Server-Sent Events, fetch `result.json` and `fit.npz`, and create a share link. The
//! node is this page's own origin unless a node URL is given.

use std::io::Cursor;

use futures::StreamExt;
use gloo_net::eventsource::futures::EventSource;
use gloo_net::http::Request;
use heterodyne_core::data::npz::Npz;
use heterodyne_core::data::prepare::Prepared;
use heterodyne_core::model::params::PHYSICS;
use serde_json::Value;

use crate::fit::{Estimate, Marginal, Method, Outcome, Posterior, ScalingFit};

/// `base` + `path`, `base` without a trailing slash (empty: this origin).
fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

fn unreachable(base: &str, e: impl std::fmt::Display) -> String {
    let at = if base.is_empty() {
        "this page's node"
    } else {
        base
    };
    format!("cannot reach the node at {at}: {e}")
}

/// The error text of a refused request.
async fn refusal(response: gloo_net::http::Response) -> String {
    let status = response.status();
    match response.json::<Value>().await {
        Ok(v) => format!(
            "the node answered {status}: {}",
            v["error"].as_str().unwrap_or("(no reason given)")
        ),
        Err(_) => format!("the node answered {status}"),
    }
}

/// Submits `bytes` (file `name`) with `yaml` to run `method`; returns the job id.
pub async fn submit(
    base: &str,
    yaml: &str,
    method: Method,
    name: &str,
    bytes: &[u8],
) -> Result<String, String> {
    let form =
        web_sys::FormData::new().map_err(|_| "the browser cannot build a form".to_string())?;
    let _ = form.append_with_str("config", yaml);
    let _ = form.append_with_str("method", method.as_str());
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts)
        .map_err(|_| "the browser cannot wrap the file".to_string())?;
    let _ = form.append_with_blob_and_filename("data", &blob, name);
    let response = Request::post(&url(base, "/api/jobs"))
        .body(form)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| unreachable(base, e))?;
    if response.status() != 202 {
        return Err(refusal(response).await);
    }
    let v: Value = response.json().await.map_err(|e| e.to_string())?;
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "the node answered without a job id".to_string())
}

/// Follows job `id` until it ends, calling `progress(fraction, phase)`; returns the final
/// job view.
pub async fn follow(base: &str, id: &str, progress: impl Fn(f64, String)) -> Result<Value, String> {
    let mut source = EventSource::new(&url(base, &format!("/api/jobs/{id}/events")))
        .map_err(|e| unreachable(base, format!("{e:?}")))?;
    let updates = source.subscribe("progress").map_err(|e| e.to_string())?;
    let ends = source.subscribe("end").map_err(|e| e.to_string())?;
    let mut events = futures::stream::select(updates, ends);
    while let Some(event) = events.next().await {
        let (kind, message) = event.map_err(|e| unreachable(base, e))?;
        let view: Value = message
            .data()
            .as_string()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null);
        if kind == "end" {
            source.close();
            return Ok(view);
        }
        progress(
            view["progress"].as_f64().unwrap_or(0.0),
            view["phase"].as_str().unwrap_or("queued").to_string(),
        );
    }
    Err(unreachable(base, "the event stream closed"))
}

/// Where a finished result is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A job of the node (its routes may need the node's login).
    Job(String),
    /// A share link's token (open, read-only).
    Share(String),
}

impl Source {
    /// The route prefix of its files.
    fn prefix(&self) -> String {
        match self {
            Source::Job(id) => format!("/api/jobs/{id}"),
            Source::Share(token) => format!("/api/shared/{token}"),
        }
    }
}

/// The result of a finished job, as the page shows a local fit.
pub async fn result(base: &str, id: &str) -> Result<(Outcome, Prepared), String> {
    result_of(base, &Source::Job(id.to_string())).await
}

/// A finished result from `source`: its `result.json`, `fit.npz` and, for CMC,
/// `posterior.npz`.
pub async fn result_of(base: &str, source: &Source) -> Result<(Outcome, Prepared), String> {
    let prefix = source.prefix();
    let get = |path: String| async move {
        let r = Request::get(&url(base, &path))
            .send()
            .await
            .map_err(|e| unreachable(base, e))?;
        if !r.ok() {
            return Err(refusal(r).await);
        }
        Ok(r)
    };
    let result: Value = match source {
        Source::Job(_) => get(format!("{prefix}/result")).await?.json().await,
        // A share answers {job, result}.
        Source::Share(_) => get(prefix.clone())
            .await?
            .json::<Value>()
            .await
            .map(|v| v["result"].clone()),
    }
    .map_err(|e| e.to_string())?;
    let npz = get(format!("{prefix}/fit.npz"))
        .await?
        .binary()
        .await
        .map_err(|e| e.to_string())?;
    let mut z = Npz::new(Cursor::new(npz.as_slice())).map_err(|e| format!("fit.npz: {e}"))?;
    let mut array = |name: &str| {
        z.array(name)
            .map_err(|e| format!("fit.npz: {e}"))?
            .ok_or_else(|| format!("fit.npz: no {name}"))
    };
    let (shape, c2_exp) = array("c2_exp")?;
    let (_, c2_fit) = array("c2_fit")?;
    let (_, phi) = array("phi")?;
    let n = shape.last().copied().unwrap_or(0);
    let estimate = |name: &str, v: &Value| Estimate {
        name: name.to_string(),
        value: v["value"].as_f64().unwrap_or(f64::NAN),
        std_error: v["std_error"].as_f64(),
    };
    let estimates = PHYSICS
        .iter()
        .map(|p| estimate(p.name, &result["parameters"][p.name]))
        .collect();
    let per_angle = |name: &str| -> Vec<Estimate> {
        result["scaling"][name]
            .as_array()
            .map(|a| a.iter().map(|v| estimate(name, v)).collect())
            .unwrap_or_default()
    };
    let scaling = ScalingFit {
        mode: result["scaling"]["mode"].as_str().unwrap_or("").to_string(),
        phi: phi.clone(),
        contrast: per_angle("contrast"),
        offset: per_angle("offset"),
    };
    let posterior = match result["posterior"].as_object() {
        None => None,
        Some(summaries) => {
            let draws = get(format!("{prefix}/posterior.npz"))
                .await?
                .binary()
                .await
                .map_err(|e| e.to_string())?;
            let mut z = Npz::new(Cursor::new(draws.as_slice()))
                .map_err(|e| format!("posterior.npz: {e}"))?;
            // The physics parameters in kernel order, then scaling and σ.
            let mut names: Vec<&String> = summaries.keys().collect();
            names.sort_by_key(|n| {
                PHYSICS
                    .iter()
                    .position(|p| p.name == n.as_str())
                    .unwrap_or(PHYSICS.len())
            });
            let mut marginals = Vec::new();
            for name in names {
                let s = &summaries[name.as_str()];
                let key = format!("posterior.{name}");
                let (shape, values) = z
                    .array(&key)
                    .map_err(|e| format!("posterior.npz: {e}"))?
                    .ok_or_else(|| format!("posterior.npz: no {key}"))?;
                let per_chain = shape.get(1).copied().unwrap_or(values.len()).max(1);
                marginals.push(Marginal {
                    name: name.clone(),
                    mean: s["mean"].as_f64().unwrap_or(f64::NAN),
                    std: s["std"].as_f64().unwrap_or(f64::NAN),
                    r_hat: s["r_hat"].as_f64().unwrap_or(f64::NAN),
                    ess_bulk: s["ess_bulk"].as_f64().unwrap_or(f64::NAN),
                    chains: values.chunks(per_chain).map(<[f64]>::to_vec).collect(),
                });
            }
            let cmc = &result["cmc"];
            Some(Posterior {
                marginals,
                shards: cmc["num_shards"].as_u64().unwrap_or(0) as usize,
                divergences: cmc["divergences"].as_u64().unwrap_or(0) as usize,
                converged: cmc["converged"].as_bool().unwrap_or(false),
                warnings: cmc["warnings"]
                    .as_array()
                    .map(|w| {
                        w.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        }
    };
    Ok((
        Outcome {
            estimates,
            scaling,
            c2_fit,
            chi2: (
                result["chi2"].as_f64().unwrap_or(f64::NAN),
                result["reduced_chi2"].as_f64().unwrap_or(f64::NAN),
            ),
            iterations: result["iterations"].as_u64().unwrap_or(0) as usize,
            converged: result["nlsq_converged"]
                .as_bool()
                .or_else(|| result["converged"].as_bool())
                .unwrap_or(false),
            posterior,
        },
        Prepared {
            c2: c2_exp,
            n,
            phi,
            notes: Vec::new(),
        },
    ))
}

/// A share link for job `id` (absolute when the node is another origin).
pub async fn share(base: &str, id: &str) -> Result<String, String> {
    let r = Request::post(&url(base, &format!("/api/jobs/{id}/share")))
        .send()
        .await
        .map_err(|e| unreachable(base, e))?;
    if r.status() != 201 {
        return Err(refusal(r).await);
    }
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    let path = v["url"].as_str().unwrap_or_default();
    Ok(url(base, path))
}

/// Asks the node to stop job `id`.
pub async fn cancel(base: &str, id: &str) -> Result<(), String> {
    let r = Request::post(&url(base, &format!("/api/jobs/{id}/cancel")))
        .send()
        .await
        .map_err(|e| unreachable(base, e))?;
    if !r.ok() {
        return Err(refusal(r).await);
    }
    Ok(())
}
