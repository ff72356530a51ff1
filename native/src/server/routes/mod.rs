//! The HTTP routes, one file per resource, and the router that joins them: the job routes
//! behind the optional bearer token, share links and node information open.

pub mod jobs;
pub mod meta;
pub mod shares;
pub mod submit;
pub mod web;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderName;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::{OpenApi, ToSchema};

use super::error::ApiError;
use super::state::AppState;

/// Every error's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the key, dataset, file or limit.
    pub error: String,
}

/// The API description served at `/api/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "heterodyne node", description = "Heterodyne XPCS fits as jobs: submit, follow, fetch, share."),
    paths(
        submit::submit, jobs::list, jobs::get, jobs::cancel, jobs::events, jobs::result,
        jobs::fit_npz, jobs::posterior_npz, jobs::plot, shares::create, shares::revoke,
        shares::json, shares::page, shares::plot, shares::fit_npz, shares::posterior_npz,
        meta::health, meta::hw, meta::openapi, web::page, web::asset,
    ),
    components(schemas(
        ErrorBody, submit::SubmitJson, submit::SubmitForm, submit::Accepted,
        super::view::JobView, super::view::Timings, shares::Share, shares::Shared, meta::Health,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Equal in time whatever the inputs: both sides are hashed first, then every byte of
/// the digests is compared.
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(want) = &state.options.auth_token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same_secret(given, want) {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(next.run(request).await)
}

/// Largest total size of a request's header names and values, bytes: a browser sends a
/// few KB; more is refused before any route runs.
const HEADER_LIMIT: usize = 32 << 10;

/// Answers 431 to a request whose headers exceed [`HEADER_LIMIT`].
async fn limit_headers(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if size > HEADER_LIMIT {
        let body = serde_json::json!({
            "error": format!("request headers: {size} bytes, more than the limit of {HEADER_LIMIT}")
        });
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(body),
        )
            .into_response();
    }
    next.run(request).await
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let o = &state.options;
    let timeout = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, o.request_timeout);
    let upload = Router::new()
        .route("/api/jobs", post(submit::submit))
        .layer(DefaultBodyLimit::max(
            usize::try_from(o.upload_limit.saturating_add(2 << 20)).unwrap_or(usize::MAX),
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            o.upload_timeout,
        ));
    let guarded = Router::new()
        .route("/api/jobs", get(jobs::list))
        .route("/api/jobs/{id}", get(jobs::get))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/jobs/{id}/result", get(jobs::result))
        .route("/api/jobs/{id}/fit.npz", get(jobs::fit_npz))
        .route("/api/jobs/{id}/posterior.npz", get(jobs::posterior_npz))
        .route("/api/jobs/{id}/plots/{name}", get(jobs::plot))
        .route("/api/jobs/{id}/share", post(shares::create))
        .route("/api/shares/{token}", delete(shares::revoke))
        .layer(timeout)
        // The event stream lasts as long as the job: no request timeout.
        .route("/api/jobs/{id}/events", get(jobs::events))
        .merge(upload)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let open = Router::new()
        .route("/s/{token}", get(shares::page))
        .route("/api/shared/{token}", get(shares::json))
        .route("/api/shared/{token}/plots/{name}", get(shares::plot))
        .route("/api/shared/{token}/fit.npz", get(shares::fit_npz))
        .route(
            "/api/shared/{token}/posterior.npz",
            get(shares::posterior_npz),
        )
        .route("/", get(web::page))
        .route("/app/{*path}", get(web::asset))
        .route("/api/health", get(meta::health))
        .route("/api/hw", get(meta::hw))
        .route("/api/openapi.json", get(meta::openapi))
        .layer(timeout);
    let mut app = Router::new().merge(guarded).merge(open);
    // `--web-dir` (developing the page): every other path is a file of that directory.
    app = match &state.options.web_dir {
        Some(dir) => app.fallback_service(ServeDir::new(dir)),
        None => app.fallback(|| async { ApiError::NotFound("no such route".into()) }),
    };
    // The app's wasm threads need a cross-origin isolated page; every response says so.
    let mut app = app
        .with_state(state.clone())
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(limit_headers));
    if !state.options.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = state
            .options
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
        );
    }
    app
}
