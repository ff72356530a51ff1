//! Where the app's own files are: the worker script and the bundled example sit in the
//! asset directory named by their content hash, which the page's loader (`index.html`)
//! records in `globalThis.heterodyneAssets`.

/// The URL of app asset `path` (e.g. `fit-worker.js`, `example/fit.yaml`).
pub fn url(path: &str) -> String {
    let base = js_sys::Reflect::get(&js_sys::global(), &"heterodyneAssets".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_else(|| "./".to_string());
    format!("{base}{path}")
}

/// The share token when the page was opened at a share link (`/s/{token}`).
pub fn share_token() -> Option<String> {
    let path = web_sys::window()?.location().pathname().ok()?;
    let token = path.strip_prefix("/s/")?.trim_end_matches('/');
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())).then(|| token.to_string())
}
