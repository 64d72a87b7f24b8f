//! The server master key, under which every KMS key's material is sealed at rest.
//!
//! Sources, in order of precedence:
//! 1. [`MASTER_KEY_ENV`] (`AIRLOCK_KMS_MASTER_KEY`): the key itself, 32 bytes in standard base64.
//! 2. [`MASTER_KEY_FILE_ENV`] (`AIRLOCK_KMS_MASTER_KEY_FILE`): a file holding the base64 key,
//!    wherever the operator keeps it (outside the data directory, on a separate mount, ...).
//! 3. `DATA_DIR/kms-master.key` ([`MASTER_KEY_FILE_NAME`]): created with mode 0600 on first
//!    start, with 32 random bytes.
//!
//! A file readable by group or others is refused, as ssh refuses such private keys.
//!
//! Sealed key material is `nonce (12) || AES-256-GCM(material) || tag (16)` with additional
//! authenticated data `"airlock-kms-material-v1" || key id (16 bytes) || u32be(version)`, so a
//! sealed material copied onto another key or version does not open.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::crypto::{AeadKey, KEY_LEN, TAG_LEN, random_nonce};
use crate::ids::KeyId;

/// Environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "AIRLOCK_KMS_MASTER_KEY";
/// Environment variable naming a file that holds the master key.
pub const MASTER_KEY_FILE_ENV: &str = "AIRLOCK_KMS_MASTER_KEY_FILE";
/// The master key file created in the data directory when no other source is configured.
pub const MASTER_KEY_FILE_NAME: &str = "kms-master.key";

const MATERIAL_AAD: &[u8] = b"airlock-kms-material-v1";
const SECRET_AAD: &[u8] = b"airlock-sealed-secret-v1:";
const CHECK_AAD: &[u8] = b"airlock-kms-master-check-v1";
const CHECK_PLAINTEXT: &[u8] = b"airlock kms master key check";
const NONCE_LEN: usize = 12;

/// Why the master key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Reading or writing the key file failed.
    #[error("KMS master key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key is not 32 bytes of base64.
    #[error(
        "KMS master key from {origin} is malformed: expected 32 bytes in standard base64 ({reason})"
    )]
    Malformed {
        /// Where the key came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The key file is readable or writable by group or others.
    #[error(
        "KMS master key file {path} has mode {mode:o}, which lets other users read it; \
         run `chmod 600 {path}` (airlock refuses to use it otherwise)"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key does not open the material sealed in this data directory.
    #[error(
        "the KMS master key from {origin} is not the key this data directory's KMS keys were \
         sealed with; start airlock with the original key (nothing was changed)"
    )]
    Mismatch {
        /// Where the key came from.
        origin: String,
    },
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// [`MASTER_KEY_ENV`].
    Environment,
    /// An existing file ([`MASTER_KEY_FILE_ENV`] or the data directory).
    File(PathBuf),
    /// A file created now, on first start.
    Created(PathBuf),
    /// Given by the embedding program ([`MasterKey::from_bytes`]).
    Provided,
}

impl std::fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKeySource::Environment => write!(f, "${MASTER_KEY_ENV}"),
            MasterKeySource::File(p) => write!(f, "{}", p.display()),
            MasterKeySource::Created(p) => write!(f, "{} (created)", p.display()),
            MasterKeySource::Provided => f.write_str("the embedding program"),
        }
    }
}

/// The master key: seals and opens key material. Its bytes never leave this type.
pub struct MasterKey {
    key: AeadKey,
    source: MasterKeySource,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> MasterKey {
        MasterKey {
            // A 32-byte slice is always a valid AES-256 key.
            key: AeadKey::new(bytes).unwrap_or_else(|| std::process::abort()),
            source: MasterKeySource::Provided,
        }
    }

    /// A fresh random master key (for tests and throwaway servers).
    pub fn generate() -> MasterKey {
        let mut b = Zeroizing::new([0u8; KEY_LEN]);
        crate::crypto::fill_random(&mut b[..]);
        MasterKey::from_bytes(&b)
    }

    /// Decodes the base64 form used by the environment variable and the key file.
    pub fn from_base64(text: &str, source: MasterKeySource) -> Result<MasterKey, MasterKeyError> {
        let malformed = |reason: String| MasterKeyError::Malformed {
            origin: source.to_string(),
            reason,
        };
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|e| malformed(e.to_string()))?,
        );
        if bytes.len() != KEY_LEN {
            return Err(malformed(format!("{} bytes", bytes.len())));
        }
        let key = AeadKey::new(&bytes).ok_or_else(|| malformed("not an AES-256 key".into()))?;
        Ok(MasterKey { key, source })
    }

    /// Loads the master key from the environment ([`MASTER_KEY_ENV`], then
    /// [`MASTER_KEY_FILE_ENV`]) or from `DATA_DIR/kms-master.key`, creating that file (mode
    /// 0600) with a random key if no source exists yet.
    pub fn load_or_create(data_dir: &Path) -> Result<MasterKey, MasterKeyError> {
        MasterKey::load_or_create_from(
            std::env::var(MASTER_KEY_ENV).ok(),
            std::env::var_os(MASTER_KEY_FILE_ENV).map(PathBuf::from),
            data_dir,
        )
    }

    /// [`MasterKey::load_or_create`] with the environment given explicitly.
    pub fn load_or_create_from(
        env_key: Option<String>,
        env_file: Option<PathBuf>,
        data_dir: &Path,
    ) -> Result<MasterKey, MasterKeyError> {
        if let Some(text) = env_key.filter(|t| !t.trim().is_empty()) {
            let text = Zeroizing::new(text);
            return MasterKey::from_base64(&text, MasterKeySource::Environment);
        }
        if let Some(path) = env_file {
            return read_key_file(&path);
        }
        let path = data_dir.join(MASTER_KEY_FILE_NAME);
        match create_key_file(&path)? {
            Some(key) => Ok(key),
            None => read_key_file(&path),
        }
    }

    /// Where the key came from.
    pub fn source(&self) -> &MasterKeySource {
        &self.source
    }

    /// Seals version `version` of key `key_id`'s material.
    pub(crate) fn seal_material(&self, key_id: &KeyId, version: u32, material: &[u8]) -> Vec<u8> {
        let aad = material_aad(key_id, version);
        self.seal(&aad, material)
    }

    /// Opens sealed material; `None` if it was not sealed by this master key for this key and
    /// version.
    pub(crate) fn open_material(
        &self,
        key_id: &KeyId,
        version: u32,
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        self.open(&material_aad(key_id, version), sealed)
    }

    /// Seals a secret of another airlock component (CloudTrail's digest signing keys, for
    /// instance) under the master key. `label` names what the secret is and is bound as
    /// additional authenticated data (with a prefix distinct from KMS key material), so a sealed
    /// secret does not open under another label and never passes for KMS key material.
    pub fn seal_secret(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        self.seal(&secret_aad(label), plaintext)
    }

    /// Opens a secret sealed by [`MasterKey::seal_secret`] with the same label; `None` if it was
    /// sealed under another master key or label, or was altered.
    pub fn open_secret(&self, label: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.open(&secret_aad(label), sealed)
    }

    /// A value stored beside the keys that proves, at the next start, that the same master key is
    /// in use.
    pub(crate) fn check_value(&self) -> Vec<u8> {
        self.seal(CHECK_AAD, CHECK_PLAINTEXT)
    }

    /// True if `check` was produced by [`MasterKey::check_value`] of this key.
    pub(crate) fn verify_check_value(&self, check: &[u8]) -> bool {
        self.open(CHECK_AAD, check)
            .is_some_and(|p| p.as_slice() == CHECK_PLAINTEXT)
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = random_nonce();
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        if !self.key.seal_into(nonce, aad, plaintext, &mut out) {
            // AES-GCM sealing of a short buffer cannot fail; never store an unsealed value.
            std::process::abort();
        }
        out
    }

    fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().ok()?;
        self.key.open(nonce, aad, &sealed[NONCE_LEN..])
    }
}

fn material_aad(key_id: &KeyId, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(MATERIAL_AAD.len() + 20);
    aad.extend_from_slice(MATERIAL_AAD);
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn secret_aad(label: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SECRET_AAD.len() + label.len());
    aad.extend_from_slice(SECRET_AAD);
    aad.extend_from_slice(label.as_bytes());
    aad
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError + '_ {
    move |source| MasterKeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the key file if it does not exist; `Ok(None)` if it already existed.
fn create_key_file(path: &Path) -> Result<Option<MasterKey>, MasterKeyError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    crate::crypto::fill_random(&mut bytes[..]);
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(&bytes[..])));
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Never leave a half-written key behind to be picked up at the next start.
        let _ = fs::remove_file(path);
        return Err(io_err(path)(e));
    }
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    let mut key = MasterKey::from_bytes(&bytes);
    key.source = MasterKeySource::Created(path.to_path_buf());
    Ok(Some(key))
}

fn read_key_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(MasterKeyError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_err(path))?);
    MasterKey::from_base64(&text, MasterKeySource::File(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = MasterKey::load_or_create_from(None, None, dir.path()).unwrap();
        let path = dir.path().join(MASTER_KEY_FILE_NAME);
        assert_eq!(k1.source(), &MasterKeySource::Created(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let k2 = MasterKey::load_or_create_from(None, None, dir.path()).unwrap();
        assert_eq!(k2.source(), &MasterKeySource::File(path));
        let id = KeyId::random();
        let sealed = k1.seal_material(&id, 1, &[9u8; 32]);
        assert_eq!(&k2.open_material(&id, 1, &sealed).unwrap()[..], &[9u8; 32]);
        assert!(k2.verify_check_value(&k1.check_value()));
    }

    #[test]
    fn sealed_material_is_bound_to_key_and_version() {
        let k = MasterKey::generate();
        let id = KeyId::random();
        let sealed = k.seal_material(&id, 1, &[1u8; 32]);
        assert!(k.open_material(&id, 2, &sealed).is_none());
        assert!(k.open_material(&KeyId::random(), 1, &sealed).is_none());
        assert!(
            MasterKey::generate()
                .open_material(&id, 1, &sealed)
                .is_none()
        );
        assert!(!MasterKey::generate().verify_check_value(&k.check_value()));
    }

    #[test]
    fn sealed_secrets_are_bound_to_their_label() {
        let k = MasterKey::generate();
        let sealed = k.seal_secret("cloudtrail/us-east-1/1", b"private key");
        assert_eq!(
            &k.open_secret("cloudtrail/us-east-1/1", &sealed).unwrap()[..],
            b"private key"
        );
        assert!(k.open_secret("cloudtrail/us-east-1/2", &sealed).is_none());
        assert!(
            MasterKey::generate()
                .open_secret("cloudtrail/us-east-1/1", &sealed)
                .is_none()
        );
        let id = KeyId::random();
        assert!(k.open_material(&id, 1, &sealed).is_none());
    }

    #[test]
    fn environment_wins_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let k = MasterKey::load_or_create_from(Some(STANDARD.encode([5u8; 32])), None, dir.path())
            .unwrap();
        assert_eq!(k.source(), &MasterKeySource::Environment);
        assert!(!dir.path().join(MASTER_KEY_FILE_NAME).exists());
        let err =
            MasterKey::load_or_create_from(Some("c2hvcnQ=".into()), None, dir.path()).unwrap_err();
        assert!(matches!(err, MasterKeyError::Malformed { .. }), "{err}");
        let err = MasterKey::load_or_create_from(Some("!!".into()), None, dir.path()).unwrap_err();
        assert!(matches!(err, MasterKeyError::Malformed { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mk");
        fs::write(&path, STANDARD.encode([5u8; 32])).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load_or_create_from(None, Some(path.clone()), dir.path()).unwrap_err();
        assert!(
            matches!(err, MasterKeyError::InsecurePermissions { mode: 0o644, .. }),
            "{err}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let k = MasterKey::load_or_create_from(None, Some(path.clone()), dir.path()).unwrap();
        assert_eq!(k.source(), &MasterKeySource::File(path));
    }
}
