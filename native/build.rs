//! Builds the browser app (`../web`) and embeds it in the `heterodyne` binary, so that
//! `heterodyne serve` serves the whole app with no checkout beside it.
//!
//! Why a build script and not an embedding crate over a prebuilt directory: the app is
//! compiled from this workspace's own sources (the same `heterodyne-core` as the binary),
//! so the binary and its page can never come from different commits, and a plain
//! `cargo build` / `cargo install` is enough. The files are embedded by generated
//! `include_bytes!` lines (what `include_dir` does, without the proc macro).
//!
//! Steps:
//! 1. `cargo build -p heterodyne-web --target wasm32-unknown-unknown --release` twice,
//!    side by side: the single-threaded module on this tool chain, and the threaded one
//!    (rayon on web workers) on the pinned nightly with build-std and the shared-memory
//!    link arguments (`../shared/toolchain.md`, §A.4). Both use one target directory next
//!    to this build's (`<target>/heterodyne-web-app/`), shared by every profile, so
//!    clippy, test and release builds compile the app once.
//! 2. wasm-bindgen (`wasm-bindgen-cli-support`, pinned to the `wasm-bindgen` of the
//!    lock file, so no separately installed CLI can disagree) for `--target web`.
//! 3. Assemble `OUT_DIR/app`: `index.html`, and under `app/<content hash>/` the worker
//!    script, both modules and the bundled example. Hashed names are served as
//!    immutable; `index.html` as no-cache. JavaScript and wasm are also stored gzipped.
//! 4. Write `OUT_DIR/web_assets.rs`.
//!
//! `HETERODYNE_WEB=skip` builds a binary without the app (for a quick native-only build;
//! `serve` then says so at `/`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// The nightly that builds the threaded module (must match `scripts/setup.sh`).
const NIGHTLY: &str = "nightly-2026-05-20";

/// Since rust-lang/rust#147225, `+atomics` no longer implies a shared memory: these link
/// arguments make it shared, importable by every web worker, with TLS for each.
const THREADS_RUSTFLAGS: &str = "-C target-feature=+atomics,+bulk-memory,+mutable-globals \
     -C link-arg=--shared-memory -C link-arg=--max-memory=4294967296 \
     -C link-arg=--import-memory -C link-arg=--export=__wasm_init_tls \
     -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
     -C link-arg=--export=__tls_base";

type Fallible<T> = Result<T, String>;

fn main() {
    println!("cargo:rerun-if-env-changed=HETERODYNE_WEB");
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..");
    for p in [
        "web/src",
        "web/www",
        "web/Cargo.toml",
        "core/src",
        "core/Cargo.toml",
        "Cargo.lock",
        "Cargo.toml",
        "examples/example_aps_u.h5",
        "examples/fit.yaml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let out = PathBuf::from(env("OUT_DIR"));
    let generated = out.join("web_assets.rs");
    let result = if std::env::var("HETERODYNE_WEB").is_ok_and(|v| v == "skip") {
        write_assets(&generated, None)
    } else {
        build(&root, &out).and_then(|app| write_assets(&generated, Some(&app)))
    };
    if let Err(e) = result {
        eprintln!("error: building the embedded browser app failed: {e}");
        eprintln!(
            "The heterodyne binary carries the browser app. Building it needs the \
             wasm32-unknown-unknown target and {NIGHTLY} with rust-src \
             (`bash scripts/setup.sh` installs both). To build without the app, set \
             HETERODYNE_WEB=skip."
        );
        std::process::exit(1);
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

/// `cmd` (a cargo invocation) building the web crate for wasm32 into `target_dir`, with
/// nothing of this build's environment that would change how it compiles (clippy's
/// wrapper, host rustflags, the outer target directory).
fn web_cargo(mut cmd: Command, root: &Path, target_dir: &Path) -> Command {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = matches!(key, "CARGO_HOME" | "CARGO_MAKEFLAGS")
            || key.starts_with("CARGO_NET_")
            || key.starts_with("CARGO_HTTP_")
            || key.starts_with("CARGO_REGISTRIES_")
            || key.starts_with("CARGO_REGISTRY_");
        let drop = (key.starts_with("CARGO_") && !keep)
            || key.starts_with("RUSTC")
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTDOC"
                    | "RUSTDOCFLAGS"
                    | "RUSTUP_TOOLCHAIN"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "OUT_DIR"
            );
        if drop {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(root)
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_INCREMENTAL", "0")
        // wasm-bindgen drops debug sections anyway; not emitting them saves build time.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .args(["build", "--locked", "--release", "-p", "heterodyne-web"])
        .args(["--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(target_dir);
    cmd
}

/// Runs both wasm builds at once; returns (single-threaded, threaded) module paths.
fn compile(root: &Path, out: &Path) -> Fallible<(PathBuf, PathBuf)> {
    // <target>/<profile>/build/heterodyne-<hash>/out → <target>: one app build for all
    // profiles of this target directory.
    let target = out
        .ancestors()
        .nth(4)
        .ok_or("OUT_DIR is not inside a target directory")?;
    let dir = target.join("heterodyne-web-app");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut single = web_cargo(Command::new(cargo), root, &dir.join("single"));
    // The outer rustc is this tool chain's: the single-threaded module uses it too.
    if let Ok(rustc) = std::env::var("RUSTC") {
        single.env("RUSTC", rustc);
    }
    let mut nightly = Command::new("rustup");
    nightly.args(["run", NIGHTLY, "cargo"]);
    let mut threads = web_cargo(nightly, root, &dir.join("threads"));
    threads
        .args(["--features", "threads", "-Z", "build-std=panic_abort,std"])
        .env("RUSTFLAGS", THREADS_RUSTFLAGS);
    let spawn = |cmd: &mut Command, what: &str| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {what} build ({cmd:?}): {e}"))
    };
    let a = spawn(&mut single, "single-threaded")?;
    let b = spawn(&mut threads, "threaded (nightly)")?;
    let finish = |child: std::process::Child, what: &str| -> Fallible<()> {
        let output = child
            .wait_with_output()
            .map_err(|e| format!("the {what} build: {e}"))?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "the {what} build of heterodyne-web failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ))
    };
    let ra = finish(a, "single-threaded");
    let rb = finish(b, "threaded (nightly)");
    ra?;
    rb?;
    let module = |sub: &str| {
        dir.join(sub)
            .join("wasm32-unknown-unknown/release/heterodyne_web.wasm")
    };
    Ok((module("single"), module("threads")))
}

/// Builds the app into `out/app`; returns the files (relative path → bytes).
fn build(root: &Path, out: &Path) -> Fallible<BTreeMap<String, Vec<u8>>> {
    let (single, threads) = compile(root, out)?;
    let staging = out.join("bindgen");
    let _ = std::fs::remove_dir_all(&staging);
    let mut files = BTreeMap::new();
    for (module, sub) in [(&single, "pkg"), (&threads, "pkg-threads")] {
        let dest = staging.join(sub);
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(module)
            .web(true)
            .map_err(|e| format!("wasm-bindgen: {e}"))?
            .typescript(false)
            // As the CLI does: the glue finds its .wasm beside itself when called bare.
            .omit_default_module_path(false)
            .generate(&dest)
            .map_err(|e| format!("wasm-bindgen {}: {e:#}", module.display()))?;
        collect(&dest, sub, &mut files)?;
    }
    let www = root.join("web/www");
    files.insert("fit-worker.js".into(), read(&www.join("fit-worker.js"))?);
    files.insert(
        "example/example_aps_u.h5".into(),
        read(&root.join("examples/example_aps_u.h5"))?,
    );
    files.insert(
        "example/fit.yaml".into(),
        read(&root.join("examples/fit.yaml"))?,
    );
    // One hash over every asset: a new build is a new directory, so a browser never mixes
    // a cached module with a new page.
    let mut hasher = Sha256::new();
    for (path, bytes) in &files {
        hasher.update(path.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut app: BTreeMap<String, Vec<u8>> = files
        .into_iter()
        .map(|(p, b)| (format!("app/{hash}/{p}"), b))
        .collect();
    let index = String::from_utf8(read(&www.join("index.html"))?)
        .map_err(|_| "web/www/index.html is not UTF-8")?;
    if !index.contains("__ASSETS__") {
        return Err("web/www/index.html has no __ASSETS__ placeholder".into());
    }
    app.insert(
        "index.html".into(),
        index
            .replace("__ASSETS__", &format!("app/{hash}/"))
            .into_bytes(),
    );
    let dir = out.join("app");
    let _ = std::fs::remove_dir_all(&dir);
    for (path, bytes) in &app {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&file, bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(app)
}

fn read(path: &Path) -> Fallible<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every file under `dir`, keyed `prefix/relative path`.
fn collect(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) -> Fallible<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}/{name}");
        if path.is_dir() {
            collect(&path, &key, files)?;
        } else {
            files.insert(key, read(&path)?);
        }
    }
    Ok(())
}

fn gzip(bytes: &[u8]) -> Fallible<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// Writes the generated module: `BUILT`, `HASH` and `FILES` (path, bytes, and gzipped
/// bytes for text and wasm).
fn write_assets(generated: &Path, app: Option<&BTreeMap<String, Vec<u8>>>) -> Fallible<()> {
    let mut src = String::new();
    let hash = app
        .and_then(|a| a.keys().find_map(|k| k.strip_prefix("app/")))
        .and_then(|k| k.split('/').next())
        .unwrap_or("");
    let _ = writeln!(src, "/// Whether this binary carries the browser app.");
    let _ = writeln!(src, "pub const BUILT: bool = {};", app.is_some());
    let _ = writeln!(src, "/// Content hash of the app's asset directory.");
    let _ = writeln!(src, "pub const HASH: &str = {hash:?};");
    let _ = writeln!(
        src,
        "/// Every file of the app (the `Asset` type is the includer's)."
    );
    let _ = writeln!(src, "pub static FILES: &[super::Asset] = &[");
    if let Some(app) = app {
        let dir = generated.with_file_name("app");
        for (path, bytes) in app {
            let file = dir.join(path);
            let compress = [".js", ".wasm", ".html", ".yaml"]
                .iter()
                .any(|ext| path.ends_with(ext));
            let gz = if compress {
                let gz_file = dir.join(format!("{path}.gz"));
                std::fs::write(&gz_file, gzip(bytes)?)
                    .map_err(|e| format!("{}: {e}", gz_file.display()))?;
                format!("Some(include_bytes!({:?}))", gz_file.display().to_string())
            } else {
                "None".to_string()
            };
            let _ = writeln!(
                src,
                "    super::Asset {{ path: {path:?}, bytes: include_bytes!({:?}), gzip: {gz} }},",
                file.display().to_string()
            );
        }
    }
    let _ = writeln!(src, "];");
    std::fs::write(generated, src).map_err(|e| format!("{}: {e}", generated.display()))
}
