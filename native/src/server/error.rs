//! One error type for every route, turned into a status code and `{"error": "…"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use super::store::StoreError;

/// Why a request failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is malformed (missing field, bad path syntax): 400.
    #[error("{0}")]
    BadRequest(String),
    /// A bearer token is required and missing or wrong: 401.
    #[error("this node requires `Authorization: Bearer <token>`")]
    Unauthorized,
    /// A path leaves the data root: 403.
    #[error("{0}")]
    Forbidden(String),
    /// No such job, share or file: 404.
    #[error("{0}")]
    NotFound(String),
    /// The job is not in a state that allows this (result of a running job): 409.
    #[error("{0}")]
    Conflict(String),
    /// The upload is larger than the node accepts: 413.
    #[error("the upload exceeds this node's limit of {limit} bytes (--upload-limit)")]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// The data file is not HDF5, NPZ or NPY: 415.
    #[error("{0}")]
    UnsupportedMedia(String),
    /// The config or the data fail validation: 422 (the message names the key or dataset).
    #[error("{0}")]
    Invalid(String),
    /// The queue is full or too many submissions are in flight: 429 with `Retry-After`.
    #[error("{0}")]
    TooMany(String),
    /// The node's own state failed: 500.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else on the node's side: 500.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("a background task failed: {e}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(format!("node storage: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
