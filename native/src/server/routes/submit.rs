//! `POST /api/jobs`: a job from an upload (multipart: `config`, `data`, optional `method`)
//! or from a file under the data root (JSON: `config`, `data_path`, optional `method`).
//! The upload streams to disk (memory stays flat whatever its size); the config and the
//! data are checked before the job is queued, so a bad submission is answered at once
//! with the key or dataset named, and never becomes a failed job.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::config::Config;
use crate::job::{self, Method};
use crate::server::error::ApiError;
use crate::server::jail;
use crate::server::state::AppState;
use crate::server::store::Store;

/// A job from a file under the node's data root.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJson {
    /// The YAML config text (its `experimental_data.file_path` and `output` are ignored).
    pub config: String,
    /// Data file, relative to `--data-root` (or absolute inside it).
    pub data_path: String,
    /// `nlsq`, `cmc` or `both` (default: the config's `optimization.method`, else `nlsq`).
    #[schema(value_type = Option<String>)]
    pub method: Option<Method>,
}

/// A job from an upload (`multipart/form-data`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SubmitForm {
    /// The YAML config text.
    config: String,
    /// The data file: HDF5 (any supported layout), NPZ or NPY.
    #[schema(value_type = String, format = Binary)]
    data: Vec<u8>,
    /// `nlsq`, `cmc` or `both`.
    method: Option<String>,
}

/// The id of an accepted job.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Accepted {
    /// The job id.
    pub id: String,
}

/// Largest config text, bytes.
const CONFIG_LIMIT: usize = 1 << 20;

/// Data formats by their first bytes.
fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        Some("h5")
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some("npz")
    } else if head.starts_with(b"\x93NUMPY") {
        Some("npy")
    } else {
        None
    }
}

/// A safe file stem from an uploader's file name (`data` when nothing usable is left).
fn stem_of(shown: &str) -> String {
    let stem = Path::new(shown)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+-".contains(*c))
        .take(80)
        .collect();
    if clean.is_empty() || clean == "config" {
        "data".to_string()
    } else {
        clean
    }
}

fn parse_method(text: &str) -> Result<Method, ApiError> {
    Method::parse(text.trim()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "method: expected nlsq, cmc or both, found {:?}",
            text.trim()
        ))
    })
}

/// Checks the config and the data the way the job will read them; returns the method.
/// Messages name `shown` (what the user called the file) instead of the node's path.
fn validate(
    config_text: &str,
    data: &Path,
    shown: &str,
    method: Option<Method>,
) -> Result<Method, ApiError> {
    let config = Config::parse(Path::new("config"), config_text)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let method = method.unwrap_or_else(|| Method::of_config(&config));
    if method != Method::Nlsq {
        config
            .cmc
            .check()
            .map_err(|e| ApiError::Invalid(format!("config: optimization.cmc: {e}")))?;
    }
    job::load(&config, data, None).map_err(|e| {
        ApiError::Invalid(format!("{e:#}").replace(&data.display().to_string(), shown))
    })?;
    Ok(method)
}

/// Receives the multipart fields into `dir`: returns (config text, data file, the
/// uploader's file name, method).
async fn receive(
    state: &AppState,
    mut form: Multipart,
    dir: &Path,
) -> Result<(String, PathBuf, String, Option<Method>), ApiError> {
    let limit = state.options.upload_limit;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge { limit }
        } else {
            ApiError::BadRequest(format!("multipart body: {}", e.body_text()))
        }
    };
    let (mut config, mut data, mut method) = (None, None, None);
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "config" => {
                let mut text = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    text.extend_from_slice(&chunk);
                    if text.len() > CONFIG_LIMIT {
                        return Err(ApiError::BadRequest(format!(
                            "config: larger than {CONFIG_LIMIT} bytes"
                        )));
                    }
                }
                config = Some(
                    String::from_utf8(text)
                        .map_err(|_| ApiError::BadRequest("config: not UTF-8 text".to_string()))?,
                );
            }
            "method" => {
                let text = field.text().await.map_err(bad)?;
                method = Some(parse_method(&text)?);
            }
            "data" => {
                let shown = field
                    .file_name()
                    .map(super::super::view::file_name)
                    .unwrap_or_else(|| "data".to_string());
                let path = dir.join("upload.bin");
                let mut file = tokio::fs::File::create(&path).await?;
                let mut written: u64 = 0;
                let mut head = Vec::with_capacity(8);
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    written += chunk.len() as u64;
                    if written > limit {
                        // Read (and drop) the rest that the body limit lets through, so the
                        // client has sent its request when the 413 comes, instead of
                        // meeting a closed connection mid-send.
                        while let Ok(Some(_)) = field.chunk().await {}
                        return Err(ApiError::TooLarge { limit });
                    }
                    if head.len() < 8 {
                        head.extend_from_slice(&chunk[..chunk.len().min(8 - head.len())]);
                    }
                    file.write_all(&chunk).await?;
                }
                file.sync_all().await?;
                let Some(ext) = sniff(&head) else {
                    return Err(ApiError::UnsupportedMedia(format!(
                        "data ({shown}): not an HDF5, NPZ or NPY file (its first bytes are {head:02x?})"
                    )));
                };
                let named = dir.join(format!("{}.{ext}", stem_of(&shown)));
                tokio::fs::rename(&path, &named).await?;
                data = Some((named, shown));
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown form field {other:?} (expected config, data, method)"
                )));
            }
        }
    }
    let config = config.ok_or_else(|| ApiError::BadRequest("missing form field config".into()))?;
    let (data, shown) =
        data.ok_or_else(|| ApiError::BadRequest("missing form field data (the data file)".into()))?;
    Ok((config, data, shown, method))
}

/// Bytes over the limit that a refused request may still send (and have dropped).
const DRAIN_OVER_LIMIT: u64 = 16 << 20;

/// Reads and drops what is left of `request`'s body (at most `cap` bytes) before
/// answering `refusal`: a client still sending its upload would otherwise meet a closed
/// connection instead of the answer (the 429 and its `Retry-After`, or the 413). Nothing
/// is stored or parsed, and the upload timeout still bounds the time.
async fn drain(request: Request, cap: u64, refusal: ApiError) -> ApiError {
    use futures_util::StreamExt;
    let mut seen: u64 = 0;
    let mut body = request.into_body().into_data_stream();
    while let Some(Ok(chunk)) = body.next().await {
        seen += chunk.len() as u64;
        if seen > cap {
            break;
        }
    }
    refusal
}

/// Submit a job.
#[utoipa::path(
    post, path = "/api/jobs", tag = "jobs",
    request_body(content(
        (SubmitJson = "application/json"),
        (SubmitForm = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Queued", body = Accepted),
        (status = 400, description = "Malformed request or path with `..`", body = super::ErrorBody),
        (status = 401, description = "Bearer token required", body = super::ErrorBody),
        (status = 403, description = "Path outside the data root", body = super::ErrorBody),
        (status = 413, description = "Upload over the limit", body = super::ErrorBody),
        (status = 415, description = "Not HDF5, NPZ or NPY", body = super::ErrorBody),
        (status = 422, description = "Config or data invalid (key or dataset named)", body = super::ErrorBody),
        (status = 429, description = "Queue full or too many submissions in flight", body = super::ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    // Cheap refusals first, before a byte of the body is read.
    let limit = state.options.upload_limit;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let cap = limit + CONFIG_LIMIT as u64 + 65_536;
    if let Some(n) = declared.filter(|n| *n > cap) {
        // A body a little over the limit is read and dropped so the client sees the 413
        // (many stop reading at a reset); a far larger one is cut off at once.
        if n - cap <= DRAIN_OVER_LIMIT {
            return Err(drain(request, n, ApiError::TooLarge { limit }).await);
        }
        return Err(ApiError::TooLarge { limit });
    }
    let queue_full = || {
        ApiError::TooMany(format!(
            "the queue is full ({} jobs waiting); retry later",
            state.options.max_queued
        ))
    };
    let st = state.clone();
    if tokio::task::spawn_blocking(move || st.store.queued()).await?? >= state.options.max_queued {
        return Err(drain(request, cap, queue_full()).await);
    }
    let Ok(_permit) = state.submissions.clone().try_acquire_owned() else {
        let busy = ApiError::TooMany("too many submissions in progress; retry later".into());
        return Err(drain(request, cap, busy).await);
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let id = Store::new_id();
    let staging = state.tmp_dir().join(&id);
    tokio::fs::create_dir_all(&staging).await?;
    let outcome = async {
        let (config, data, shown, method) = if content_type.starts_with("multipart/form-data") {
            let form = Multipart::from_request(request, &state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
            receive(&state, form, &staging).await?
        } else if content_type.starts_with("application/json") {
            let Json(body) = Json::<SubmitJson>::from_request(request, &state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
            let Some(root) = state.data_root.clone() else {
                return Err(ApiError::BadRequest(
                    "data_path: this node has no --data-root; upload the file instead".into(),
                ));
            };
            let path = jail::resolve(&root, &body.data_path)?;
            (body.config, path, body.data_path, body.method)
        } else {
            return Err(ApiError::UnsupportedMedia(format!(
                "expected multipart/form-data (config + data) or application/json (config + data_path), found {content_type:?}"
            )));
        };
        let (text, file, who) = (config.clone(), data.clone(), shown.clone());
        let method =
            tokio::task::spawn_blocking(move || validate(&text, &file, &who, method)).await??;
        tokio::fs::write(staging.join("config.yaml"), &config).await?;
        // The job's folder appears complete, in one rename, and only then is the job
        // recorded; a crash in between leaves a folder no job owns, swept at start.
        let dir = state.job_dir(&id);
        tokio::fs::rename(&staging, &dir).await?;
        let data = if data.starts_with(&staging) {
            dir.join(data.strip_prefix(&staging).unwrap_or(&data))
        } else {
            data
        };
        let st = state.clone();
        let (job, data_str) = (id.clone(), data.display().to_string());
        let queued = tokio::task::spawn_blocking(move || {
            st.store.submit(
                &job,
                &config,
                &data_str,
                method.as_str(),
                st.options.max_queued,
            )
        })
        .await??;
        if !queued {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(queue_full());
        }
        tracing::info!(job = %id, method = method.as_str(), data = %shown, "queued");
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return Err(e);
    }
    state.wake.notify();
    Ok((StatusCode::ACCEPTED, Json(Accepted { id })))
}
