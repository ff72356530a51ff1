//! Reading and steering jobs: list, status, cancel, live events, result files.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tower::ServiceExt;

use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::JobState;
use crate::server::view::{JobView, is_final, view};

/// The view of job `id`, or 404.
pub(crate) async fn job_view(state: &AppState, id: &str) -> Result<JobView, ApiError> {
    let (st, key) = (state.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let job = st
            .store
            .get(&key)?
            .ok_or_else(|| ApiError::NotFound(format!("no job {key}")))?;
        Ok(view(&st, &job))
    })
    .await?
}

/// Every job, oldest first.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    responses((status = 200, body = Vec<JobView>), (status = 401, body = super::ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<JobView>>, ApiError> {
    let st = state.clone();
    let views = tokio::task::spawn_blocking(move || {
        st.store
            .list()
            .map(|jobs| jobs.iter().map(|j| view(&st, j)).collect::<Vec<_>>())
    })
    .await??;
    Ok(Json(views))
}

/// One job: state, progress, phase, error, timings, files.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = super::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(job_view(&state, &id).await?))
}

/// Cancels a job: a queued one at once, a running one at its next step.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job after the request", body = JobView),
        (status = 404, body = super::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let st = state.clone();
    let key = id.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let now = st
            .store
            .cancel_queued(&key)
            .map_err(|_| ApiError::NotFound(format!("no job {key}")))?;
        if now == JobState::Running
            && let Some(flag) = st
                .cancel
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
        {
            flag.store(true, Ordering::Relaxed);
        }
        Ok(())
    })
    .await??;
    tracing::info!(job = %id, "cancel requested");
    Ok(Json(job_view(&state, &id).await?))
}

/// Progress as Server-Sent Events: `progress` events carry the job view whenever it
/// changes (at most 4 a second); one `end` event carries the final view.
#[utoipa::path(get, path = "/api/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "text/event-stream of `progress` and a final `end` event (data: the job view)", content_type = "text/event-stream"),
        (status = 404, body = super::ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    job_view(&state, &id).await?;
    let stream = futures_util::stream::unfold(
        (state, id, String::new(), false),
        |(state, id, last, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let Ok(v) = job_view(&state, &id).await else {
                    return None;
                };
                let text = serde_json::to_string(&v).unwrap_or_default();
                if is_final(v.state) {
                    let event = Event::default().event("end").data(text);
                    return Some((Ok(event), (state, id, String::new(), true)));
                }
                if text != last {
                    let event = Event::default().event("progress").data(text.clone());
                    return Some((Ok(event), (state, id, text, false)));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A plain file name of a result (no folders, no hidden files).
pub(crate) fn plain_name(name: &str) -> Result<&str, ApiError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::NotFound(format!("no result file {name:?}")))
    }
}

/// Serves result file `name` of job `id` (done jobs only).
pub(crate) async fn result_file(
    state: &AppState,
    id: &str,
    name: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let job = job_view(state, id).await?;
    if job.state != JobState::Done {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}; results exist once it is done",
            job.state.as_str()
        )));
    }
    let name = plain_name(name)?;
    let path: PathBuf = state.result_dir(id).join(name);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        let hint = if name.starts_with("posterior") {
            format!(" (method {}: no posterior)", job.method)
        } else {
            String::new()
        };
        return Err(ApiError::NotFound(format!("job {id} has no {name}{hint}")));
    }
    let served = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::Internal(format!("{name}: {e}")))?;
    Ok(served.into_response())
}

/// `result.json`.
#[utoipa::path(get, path = "/api/jobs/{id}/result", tag = "results",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "result.json", content_type = "application/json"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn result(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    result_file(&state, &id, "result.json", request).await
}

/// `fit.npz`: data, fit, residuals, times, angles.
#[utoipa::path(get, path = "/api/jobs/{id}/fit.npz", tag = "results",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "fit.npz", content_type = "application/octet-stream"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn fit_npz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    result_file(&state, &id, "fit.npz", request).await
}

/// `posterior.npz` (CMC jobs).
#[utoipa::path(get, path = "/api/jobs/{id}/posterior.npz", tag = "results",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "posterior.npz", content_type = "application/octet-stream"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn posterior_npz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    result_file(&state, &id, "posterior.npz", request).await
}

/// A plot, e.g. `c2_phi_+000.00.png` (names are listed in the job's `files`).
#[utoipa::path(get, path = "/api/jobs/{id}/plots/{name}", tag = "results",
    params(("id" = String, Path, description = "Job id"), ("name" = String, Path, description = "PNG file name")),
    responses((status = 200, description = "PNG", content_type = "image/png"),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn plot(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    if !name.ends_with(".png") {
        return Err(ApiError::NotFound(format!(
            "no plot {name:?} (plots end in .png)"
        )));
    }
    result_file(&state, &id, &name, request).await
}
