//! Private key files of the data directory (`sts-session.key`, `s3-sse.key`, the TLS keys):
//! read only when no one but their owner may read or write them, as ssh treats private keys
//! and as `airlock-kms` treats `kms-master.key`.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A key file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading the file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is readable or writable by group or others.
    #[error(
        "{what} {path} has mode {mode:o}, which lets other users read it; run `chmod 600 {path}` \
         (airlock refuses to use it otherwise)"
    )]
    InsecurePermissions {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Reads the private key file `path` (`what` names it in errors): `Ok(None)` if it does not
/// exist, [`KeyFileError::InsecurePermissions`] if group or others may read or write it (the
/// mode of the file opened, not of a path looked up again).
pub fn read_private(path: &Path, what: &'static str) -> Result<Option<Vec<u8>>, KeyFileError> {
    let io = |source| KeyFileError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::InsecurePermissions {
                what,
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(Some(bytes))
}
