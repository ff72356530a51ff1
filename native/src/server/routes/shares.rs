//! Share links: a token (256 random bits) opens one finished result read-only, without
//! a login, until it is revoked. Tokens are stored as SHA-256 digests and looked up by
//! digest, so no comparison ever runs over the secret itself and a revoked, unknown or
//! malformed token all get the same 404.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::jobs::{job_view, plain_name, result_file};
use crate::server::app::{self, WebApp};
use crate::server::error::ApiError;
use crate::server::share_page;
use crate::server::state::AppState;
use crate::server::store::JobState;
use crate::server::view::{JobView, file_name};

/// A new share link.
#[derive(Debug, Serialize, ToSchema)]
pub struct Share {
    /// The token (64 hex digits).
    pub token: String,
    /// The read-only page, relative to the node.
    pub url: String,
}

/// A shared result.
#[derive(Debug, Serialize, ToSchema)]
pub struct Shared {
    /// The job.
    pub job: JobView,
    /// Its `result.json` (the data file reduced to its name).
    #[schema(value_type = Object)]
    pub result: Value,
}

fn no_share() -> ApiError {
    ApiError::NotFound("no such share".into())
}

/// The job a token opens, or the one 404 for every kind of bad token.
async fn job_of(state: &AppState, token: &str) -> Result<String, ApiError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(no_share());
    }
    let (st, t) = (state.clone(), token.to_string());
    tokio::task::spawn_blocking(move || st.store.shared_job(&t))
        .await??
        .ok_or_else(no_share)
}

/// Creates a share link for a finished job.
#[utoipa::path(post, path = "/api/jobs/{id}/share", tag = "shares",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 201, body = Share), (status = 404, body = super::ErrorBody),
        (status = 409, description = "The job is not done", body = super::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Share>), ApiError> {
    let job = job_view(&state, &id).await?;
    if job.state != JobState::Done {
        return Err(ApiError::Conflict(format!(
            "job {id} is not done; only finished results can be shared"
        )));
    }
    let st = state.clone();
    let token = tokio::task::spawn_blocking(move || st.store.share(&id)).await??;
    tracing::info!(job = %job.id, "share link created");
    let url = format!("/s/{token}");
    Ok((StatusCode::CREATED, Json(Share { token, url })))
}

/// Revokes a share link.
#[utoipa::path(delete, path = "/api/shares/{token}", tag = "shares",
    params(("token" = String, Path, description = "Share token")),
    responses((status = 204, description = "Revoked"), (status = 404, body = super::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    job_of(&state, &token).await?;
    let st = state.clone();
    if tokio::task::spawn_blocking(move || st.store.revoke(&token)).await?? {
        tracing::info!("share link revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_share())
    }
}

async fn shared(state: &AppState, token: &str) -> Result<Shared, ApiError> {
    let id = job_of(state, token).await?;
    let job = job_view(state, &id).await?;
    let path = state.result_dir(&id).join("result.json");
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|_| no_share())?;
    let mut result: Value =
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(format!("result.json: {e}")))?;
    // The node's own paths are not the viewer's business.
    if let Some(data) = result["data_file"].as_str().map(file_name) {
        result["data_file"] = Value::String(data);
    }
    Ok(Shared { job, result })
}

/// The shared result as JSON.
#[utoipa::path(get, path = "/api/shared/{token}", tag = "shares",
    params(("token" = String, Path, description = "Share token")),
    responses((status = 200, body = Shared), (status = 404, body = super::ErrorBody)))]
pub async fn json(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<Shared>, ApiError> {
    Ok(Json(shared(&state, &token).await?))
}

/// The read-only page of a shared result: the browser app, which opens the result itself
/// (heatmaps, tables, posterior views); a plain HTML page when the binary has no app.
#[utoipa::path(get, path = "/s/{token}", tag = "shares",
    params(("token" = String, Path, description = "Share token")),
    responses((status = 200, description = "HTML page", content_type = "text/html"),
        (status = 404, body = super::ErrorBody)))]
pub async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Checked first: a bad token gets the one 404, never the page.
    let s = shared(&state, &token).await?;
    let web = WebApp::choose(state.options.web_dir.as_deref());
    if web != WebApp::Missing {
        return Ok(app::index(&web, &headers));
    }
    let plots: Vec<String> = s
        .job
        .files
        .iter()
        .filter(|f| f.ends_with(".png"))
        .cloned()
        .collect();
    Ok(Html(share_page::render(
        &format!("/api/shared/{token}"),
        &s.job.id,
        &s.result,
        &plots,
    ))
    .into_response())
}

/// A plot of a shared result.
#[utoipa::path(get, path = "/api/shared/{token}/plots/{name}", tag = "shares",
    params(("token" = String, Path, description = "Share token"), ("name" = String, Path, description = "PNG file name")),
    responses((status = 200, description = "PNG", content_type = "image/png"),
        (status = 404, body = super::ErrorBody)))]
pub async fn plot(
    State(state): State<AppState>,
    Path((token, name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = job_of(&state, &token).await?;
    if !plain_name(&name)?.ends_with(".png") {
        return Err(no_share());
    }
    result_file(&state, &id, &name, request).await
}

/// `fit.npz` of a shared result.
#[utoipa::path(get, path = "/api/shared/{token}/fit.npz", tag = "shares",
    params(("token" = String, Path, description = "Share token")),
    responses((status = 200, description = "fit.npz", content_type = "application/octet-stream"),
        (status = 404, body = super::ErrorBody)))]
pub async fn fit_npz(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = job_of(&state, &token).await?;
    result_file(&state, &id, "fit.npz", request).await
}

/// `posterior.npz` of a shared CMC result.
#[utoipa::path(get, path = "/api/shared/{token}/posterior.npz", tag = "shares",
    params(("token" = String, Path, description = "Share token")),
    responses((status = 200, description = "posterior.npz", content_type = "application/octet-stream"),
        (status = 404, body = super::ErrorBody)))]
pub async fn posterior_npz(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = job_of(&state, &token).await?;
    result_file(&state, &id, "posterior.npz", request).await
}
