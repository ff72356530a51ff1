//! Heterodyne XPCS in the browser: drop a two-time file, look at the C2 matrices, fit
//! them here with the same `heterodyne-core` as the CLI (compiled to wasm32), or send the
//! job to a node. The page mounts from JavaScript (`mount()`), never from a wasm start
//! function, so that the fit worker (`www/fit-worker.js`, [`fit::task`]) and rayon's
//! threads can instantiate the module without a second UI.

pub mod assets;
pub mod components;
pub mod config_text;
pub mod data;
pub mod fit;
pub mod remote;

use wasm_bindgen::prelude::wasm_bindgen;

#[cfg(all(feature = "threads", target_arch = "wasm32"))]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Threads this module computes on: rayon's pool of web workers in the threaded build (which
/// only the fit worker loads), 0 otherwise.
pub fn workers() -> usize {
    if cfg!(feature = "threads") {
        rayon::current_num_threads()
    } else {
        0
    }
}

/// Mounts the app into `<body>`: the read-only shared result at a share link
/// (`/s/{token}`), else the full app.
#[wasm_bindgen]
pub fn mount() {
    console_error_panic_hook::set_once();
    match assets::share_token() {
        Some(token) => leptos::mount::mount_to_body(move || {
            leptos::prelude::view! { <components::shared::SharedView token=token.clone()/> }
        }),
        None => leptos::mount::mount_to_body(components::app::App),
    }
}
