//! An output directory that is either complete or untouched: files are written into a
//! hidden staging directory beside it and moved in only when all of them succeeded.

use std::path::{Path, PathBuf};

use super::error::IoError;

/// A staging area for the files of one output directory.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    tmp: tempfile::TempDir,
}

impl Staging {
    /// Prepares staging for `target` (created, with its parents, on commit).
    pub fn new(target: &Path) -> Result<Self, IoError> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| {
            IoError::file(target, format!("cannot create {}: {e}", parent.display()))
        })?;
        if target.exists() && !target.is_dir() {
            return Err(IoError::file(target, "exists and is not a directory"));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".heterodyne-output.")
            .tempdir_in(&parent)
            .map_err(|e| {
                IoError::file(target, format!("cannot write in {}: {e}", parent.display()))
            })?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
        })
    }

    /// Where to write file `name` now.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The final directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves every staged file into the target directory. A target that does not exist
    /// yet appears in one rename, complete; an existing one has its files replaced one by
    /// one (other files in it are kept).
    pub fn commit(self) -> Result<(), IoError> {
        if !self.target.exists() {
            let staged = self.tmp.keep();
            // A temporary directory is private (0700); an output directory is not.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755));
            }
            match std::fs::rename(&staged, &self.target) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staged);
                    return Err(IoError::file(&self.target, e));
                }
            }
        }
        std::fs::create_dir_all(&self.target).map_err(|e| IoError::file(&self.target, e))?;
        let entries =
            std::fs::read_dir(self.tmp.path()).map_err(|e| IoError::file(&self.target, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| IoError::file(&self.target, e))?;
            let dest = self.target.join(entry.file_name());
            std::fs::rename(entry.path(), &dest).map_err(|e| IoError::file(&dest, e))?;
        }
        Ok(())
    }
}
