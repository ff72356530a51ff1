//! The browser app: the page at `/` and its assets under `/app/` (see [`crate::server::app`]).

use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::server::app::{self, WebApp};
use crate::server::error::ApiError;
use crate::server::state::AppState;

/// The app's page (no-cache).
#[utoipa::path(get, path = "/", tag = "app",
    responses((status = 200, description = "The browser app", content_type = "text/html"),
        (status = 404, description = "A binary built without the app")))]
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    app::index(&WebApp::choose(state.options.web_dir.as_deref()), &headers)
}

/// An asset of the app (embedded ones are immutable: their directory is named by their
/// content hash).
#[utoipa::path(get, path = "/app/{path}", tag = "app",
    params(("path" = String, Path, description = "Asset path, e.g. `<hash>/pkg/heterodyne_web_bg.wasm`")),
    responses((status = 200, description = "The asset"), (status = 404, body = super::ErrorBody)))]
pub async fn asset(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    match WebApp::choose(state.options.web_dir.as_deref()) {
        // ServeDir refuses `..` and resolves inside the directory.
        WebApp::Dir(dir) => Ok(ServeDir::new(dir)
            .oneshot(request)
            .await
            .map_err(|e| ApiError::Internal(format!("{path}: {e}")))?
            .into_response()),
        _ => app::asset(&path, request.headers())
            .ok_or_else(|| ApiError::NotFound(format!("no app asset {path:?}"))),
    }
}
