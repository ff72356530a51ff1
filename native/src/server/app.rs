//! The browser app the node serves at `/` (and at `/s/{token}`, where it opens the shared
//! result): embedded in the binary by the build script (`native/build.rs`), or read from
//! a directory given with `--web-dir` while developing the page.
//!
//! Embedded assets live under `/app/<content hash>/` and are served as immutable;
//! `index.html` is served no-cache with a `<base href="/">`, so the same page works at `/`
//! and under `/s/`. JavaScript and wasm go out gzipped when the browser accepts it.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file of the embedded app.
#[derive(Debug)]
pub struct Asset {
    /// Path relative to the app's root (`index.html`, `app/<hash>/…`).
    pub path: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Gzipped, for JavaScript, wasm and text.
    pub gzip: Option<&'static [u8]>,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Whether this binary carries the browser app (it does unless built with
/// `HETERODYNE_WEB=skip`).
pub fn embedded() -> bool {
    embedded::BUILT
}

/// Content hash naming the embedded asset directory (empty without the app).
pub fn hash() -> &'static str {
    embedded::HASH
}

/// Where the page comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum WebApp {
    /// The app built into this binary.
    Embedded,
    /// A directory (`--web-dir`, e.g. written by `heterodyne export-app`).
    Dir(PathBuf),
    /// Neither: `/` says how to get the app.
    Missing,
}

impl WebApp {
    /// The app `--web-dir` names, else the embedded one when there is one.
    pub fn choose(web_dir: Option<&Path>) -> Self {
        match web_dir {
            Some(d) => WebApp::Dir(d.to_path_buf()),
            None if embedded() => WebApp::Embedded,
            None => WebApp::Missing,
        }
    }
}

/// The marker in `index.html` that the node replaces with its `<base>`.
const BASE_MARKER: &str = "<!--base-->";

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "yaml" | "yml" => "text/yaml; charset=utf-8",
        "h5" | "hdf" | "hdf5" => "application/x-hdf5",
        "png" => "image/png",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Whether `Accept-Encoding` allows gzip (a `q=0` refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

fn embedded_file(path: &str) -> Option<(&'static [u8], Option<&'static [u8]>)> {
    embedded::FILES
        .iter()
        .find(|a| a.path == path)
        .map(|a| (a.bytes, a.gzip))
}

/// `index.html` with the node's `<base>` (so `/s/{token}` finds the assets too).
fn with_base(html: &str) -> String {
    html.replacen(BASE_MARKER, "<base href=\"/\">", 1)
}

/// The page, as the node serves it at `/` and at a share link.
pub fn index(app: &WebApp, request: &HeaderMap) -> Response {
    let html = match app {
        WebApp::Embedded => match embedded_file("index.html") {
            Some((bytes, _)) => String::from_utf8_lossy(bytes).into_owned(),
            None => return missing(),
        },
        WebApp::Dir(dir) => match std::fs::read_to_string(dir.join("index.html")) {
            Ok(text) => text,
            Err(e) => {
                return (
                    StatusCode::NOT_FOUND,
                    format!("--web-dir {}: cannot read index.html: {e}", dir.display()),
                )
                    .into_response();
            }
        },
        WebApp::Missing => return missing(),
    };
    let tag = format!("\"{}\"", hash());
    let fresh = matches!(app, WebApp::Embedded)
        && request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type("index.html"))],
            with_base(&html),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if matches!(app, WebApp::Embedded)
        && let Ok(v) = HeaderValue::from_str(&tag)
    {
        h.insert(header::ETAG, v);
    }
    response
}

fn missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "this heterodyne binary was built without the browser app (HETERODYNE_WEB=skip); \
         rebuild it without that variable, or serve an exported app with --web-dir DIR\n",
    )
        .into_response()
}

/// An embedded asset under `/app/`: immutable (its directory is named by its content),
/// gzipped when the browser accepts it.
pub fn asset(path: &str, request: &HeaderMap) -> Option<Response> {
    let key = format!("app/{path}");
    let (bytes, gz) = embedded_file(&key)?;
    let (body, encoded) = match gz {
        Some(gz) if accepts_gzip(request) => (gz, true),
        _ => (bytes, false),
    };
    let mut response = Response::new(Body::from(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&key)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if gz.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if encoded {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Some(response)
}

/// Writes the embedded app into `dir` (created if missing) as plain files that any static
/// server can host; returns how many files were written.
pub fn export(dir: &Path) -> std::io::Result<usize> {
    if !embedded() {
        return Err(std::io::Error::other(
            "this binary was built without the browser app (HETERODYNE_WEB=skip)",
        ));
    }
    for asset in embedded::FILES {
        let file = dir.join(asset.path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, asset.bytes)?;
    }
    Ok(embedded::FILES.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_only_when_offered() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("*"));
        assert!(accepts_gzip(&h));
    }

    #[test]
    fn the_page_gets_the_base_and_types_are_right() {
        assert_eq!(
            with_base("<head>\n<!--base-->\n</head>"),
            "<head>\n<base href=\"/\">\n</head>"
        );
        assert_eq!(content_type("app/x/pkg/m_bg.wasm"), "application/wasm");
        assert!(content_type("app/x/fit-worker.js").starts_with("text/javascript"));
    }

    #[test]
    fn embedded_assets_sit_under_their_hash() {
        if !embedded() {
            return;
        }
        let prefix = format!("app/{}/", hash());
        assert!(
            embedded::FILES
                .iter()
                .all(|a| a.path == "index.html" || a.path.starts_with(&prefix))
        );
        let index = embedded_file("index.html").map(|(b, _)| String::from_utf8_lossy(b));
        assert!(index.is_some_and(|i| i.contains(&prefix) && i.contains(BASE_MARKER)));
    }
}
