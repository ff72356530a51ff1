//! Writing a file so that it either appears complete or not at all: the content goes to
//! a temporary file in the destination's directory, which is then renamed over it.

use std::path::Path;

use super::error::IoError;

/// Calls `write` with the path of a fresh temporary file next to `dest`, then moves it to
/// `dest`. On any error the temporary file is removed and `dest` is untouched.
pub fn write_atomically(
    dest: &Path,
    write: impl FnOnce(&Path) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(IoError::file(
            dest,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    // Results are for sharing: readable by others, as a plain create would make them.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| IoError::file(dest, format!("cannot write in {}: {e}", dir.display())))?;
    // Writers that need a path (HDF5) open the file themselves; keep only the path.
    let tmp_path = tmp.into_temp_path();
    write(&tmp_path)?;
    tmp_path
        .persist(dest)
        .map_err(|e| IoError::file(dest, format!("cannot move into place: {}", e.error)))
}
