//! The data root as a jail: a submitted path resolves inside it or not at all. `..`
//! components are refused outright; what remains is resolved with symlinks followed and
//! must still lie under the (canonical) root, so a link pointing out is refused too.

use std::path::{Component, Path, PathBuf};

use super::error::ApiError;

/// Resolves `requested` (relative to `root`, or absolute inside it) to an existing file.
/// `root` must be canonical.
pub fn resolve(root: &Path, requested: &str) -> Result<PathBuf, ApiError> {
    if requested.trim().is_empty() {
        return Err(ApiError::BadRequest("data_path: empty".into()));
    }
    let path = Path::new(requested);
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(ApiError::BadRequest(format!(
            "data_path: {requested:?} contains '..'; give a path inside the data root"
        )));
    }
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let outside = || {
        ApiError::Forbidden(format!(
            "data_path: {requested:?} is outside this node's data root"
        ))
    };
    // Refuse an absolute path outside the root before touching the file system, so the
    // answer does not reveal whether the file exists.
    if path.is_absolute() && !joined.starts_with(root) {
        return Err(outside());
    }
    let real = joined.canonicalize().map_err(|_| {
        ApiError::NotFound(format!(
            "data_path: {requested:?}: no such file under the data root"
        ))
    })?;
    if !real.starts_with(root) {
        return Err(outside());
    }
    if !real.is_file() {
        return Err(ApiError::BadRequest(format!(
            "data_path: {requested:?} is not a file"
        )));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_root_only() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.npz"), b"x").expect("write");
        std::fs::write(tmp.path().join("secret.h5"), b"x").expect("write");
        std::os::unix::fs::symlink(tmp.path().join("secret.h5"), root.join("link.h5"))
            .expect("symlink");
        let root = root.canonicalize().expect("canonical");
        assert_eq!(
            resolve(&root, "sub/a.npz").expect("inside"),
            root.join("sub/a.npz")
        );
        let abs = root.join("sub/a.npz");
        assert!(resolve(&root, abs.to_str().expect("utf8")).is_ok());
        for (bad, status) in [
            ("../secret.h5", 400),
            ("sub/../../secret.h5", 400),
            ("/etc/passwd", 403),
            ("link.h5", 403),
            ("missing.h5", 404),
            ("sub", 400),
            ("", 400),
        ] {
            let e = resolve(&root, bad).expect_err(bad);
            assert_eq!(e.status().as_u16(), status, "{bad}: {e}");
        }
    }
}
