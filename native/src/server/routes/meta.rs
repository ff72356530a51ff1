//! About the node: health, hardware, and the API description.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::server::error::ApiError;
use crate::server::state::AppState;

/// The node is up.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Software version.
    pub version: String,
    /// Jobs waiting.
    pub queued: usize,
    /// Jobs run at once.
    pub concurrency: usize,
}

/// Health check.
#[utoipa::path(get, path = "/api/health", tag = "node",
    responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let st = state.clone();
    let queued = tokio::task::spawn_blocking(move || st.store.queued()).await??;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        queued,
        concurrency: state.options.concurrency,
    }))
}

/// The machine (as `heterodyne hw --json`).
#[utoipa::path(get, path = "/api/hw", tag = "node",
    responses((status = 200, description = "Topology and recommended settings", body = Object)))]
pub async fn hw() -> Result<Json<serde_json::Value>, ApiError> {
    let machine = tokio::task::spawn_blocking(crate::hw::detect)
        .await?
        .map_err(|e| ApiError::Internal(format!("{e:#}")))?;
    Ok(Json(
        serde_json::to_value(machine).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "node",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::ApiDoc::openapi())
}
