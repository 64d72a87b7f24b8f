//! # airlock-store
//!
//! Durable, transactional state for airlock's services, behind the [`Store`] trait.
//!
//! Services see named tables of `string key → bytes` with snapshot reads and serializable
//! write transactions. A write transaction is durable (fsynced) when [`WriteTxn::commit`]
//! returns, so a service acknowledges a change only after it survives `kill -9`.
//!
//! The embedded backend is [`RedbStore`] (one redb file in the data directory). The trait is the
//! seam for other backends later (PostgreSQL for a scaled-out gateway): it asks for nothing a
//! relational table `(table, key, value)` cannot give.
//!
//! ```
//! use airlock_store::{RedbStore, Store, StoreExt, WriteExt};
//! let store = RedbStore::in_memory().unwrap();
//! let mut txn = store.write().unwrap();
//! txn.put_json("roles", "111111111111/admin", &"hello").unwrap();
//! txn.commit().unwrap();
//! let read = store.read().unwrap();
//! let value: Option<String> = read.get_json("roles", "111111111111/admin").unwrap();
//! assert_eq!(value.as_deref(), Some("hello"));
//! ```
#![deny(missing_docs)]

mod redb_backend;

pub use redb_backend::RedbStore;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The schema version this build of airlock reads and writes. Bump it on any incompatible
/// change of a stored record; an existing data directory of a version this build cannot
/// upgrade (older than [`OLDEST_UPGRADABLE_SCHEMA`], or newer than this one) is refused.
///
/// History:
/// - 1: the first schema.
/// - 2: IAM's secret access keys are stored sealed, not in clear. `airlock_iam` upgrades a
///   version-1 store (`airlock_iam::seal_stored_secrets`, one durable transaction that also
///   writes the new version and asks for a [rewrite](RedbStore::rewrite_if_requested)).
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest schema version this build opens: such a store is upgraded to
/// [`SCHEMA_VERSION`] by the crates that own the changed records, each in one transaction
/// with the version write ([`set_schema_version`]); an older airlock then refuses it.
pub const OLDEST_UPGRADABLE_SCHEMA: u32 = 1;

/// The table of the store's own records (schema version, rewrite request).
pub const META_TABLE: &str = "airlock_meta";
const SCHEMA_KEY: &str = "schema_version";
const REWRITE_KEY: &str = "rewrite_requested";

/// The schema version recorded in the store, if any.
pub fn schema_version(r: &dyn ReadTxn) -> Result<Option<u32>, StoreError> {
    match r.get(META_TABLE, SCHEMA_KEY)? {
        None => Ok(None),
        Some(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            text.trim()
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    table: META_TABLE.to_string(),
                    key: SCHEMA_KEY.to_string(),
                    reason: format!("schema version {text:?} is not a number"),
                })
        }
    }
}

/// Records the schema version (in the transaction that upgrades the records).
pub fn set_schema_version(w: &mut dyn WriteTxn, version: u32) -> Result<(), StoreError> {
    w.put(META_TABLE, SCHEMA_KEY, version.to_string().as_bytes())
}

/// Asks for the store file to be rewritten with only its current data, in the transaction
/// that replaced values which must not linger in freed pages (secrets stored in clear): the
/// backend frees overwritten pages without erasing them. The request is durable with that
/// transaction, so a rewrite interrupted by a crash is done at the next open.
pub fn request_rewrite(w: &mut dyn WriteTxn) -> Result<(), StoreError> {
    w.put(META_TABLE, REWRITE_KEY, b"1")
}

fn rewrite_requested(r: &dyn ReadTxn) -> Result<bool, StoreError> {
    Ok(r.get(META_TABLE, REWRITE_KEY)?.is_some())
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory was written by an incompatible airlock version.
    #[error(
        "the data directory {path} holds airlock state of schema version {found}, but this airlock \
         uses schema version {expected}; refusing to open it (nothing was changed). Use another \
         --data-dir, or the airlock version that wrote it"
    )]
    IncompatibleSchema {
        /// The store file.
        path: String,
        /// The version found in the store.
        found: u32,
        /// The version this build uses.
        expected: u32,
    },
    /// Another process (another `airlock serve`) has the store open.
    #[error("the data directory {path} is in use by another airlock process")]
    InUse {
        /// The store file.
        path: String,
    },
    /// The file is not a store this airlock can read.
    #[error("cannot open the airlock state file {path}: {reason}")]
    Unreadable {
        /// The store file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A stored record does not decode: the store is corrupt or was written by other software.
    #[error("corrupt record {table}/{key}: {reason}")]
    Corrupt {
        /// The table.
        table: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The backend failed (I/O error, disk full, ...).
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// A durable transactional key-value store with named tables.
pub trait Store: Send + Sync + 'static {
    /// Starts a read transaction: a consistent snapshot.
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, StoreError>;
    /// Starts a write transaction. Write transactions are serialized: this waits for the
    /// current writer, if any. Dropping the transaction without committing aborts it.
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError>;
}

/// Reads within one transaction.
pub trait ReadTxn {
    /// The value of `key` in `table`, if any.
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Up to `limit` `(key, value)` pairs whose key starts with `prefix` and, if `after` is
    /// given, sorts strictly after it, in key order. Listings page through large tables with
    /// this without reading them whole (S3's `ListObjectsV2`, for instance).
    fn scan_after(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .scan_prefix(table, prefix)?
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(limit)
            .collect())
    }
}

/// Reads and writes within one transaction.
pub trait WriteTxn: ReadTxn {
    /// Sets `key` in `table` to `value`.
    fn put(&mut self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` from `table`; true if it existed.
    fn delete(&mut self, table: &str, key: &str) -> Result<bool, StoreError>;
    /// Commits durably: when this returns `Ok`, the changes survive a crash.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
    /// Upcast for code that only reads.
    fn as_read(&self) -> &dyn ReadTxn;
}

/// Typed (JSON) helpers over [`ReadTxn`].
pub trait StoreExt {
    /// Decodes the JSON value of `key`.
    fn get_json<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError>;
    /// Decodes every JSON value under `prefix`, in key order.
    fn scan_json<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError>;
}

impl<R: ReadTxn + ?Sized> StoreExt for R {
    fn get_json<T: DeserializeOwned>(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.get(table, key)? {
            None => Ok(None),
            Some(bytes) => decode(table, key, &bytes).map(Some),
        }
    }

    fn scan_json<T: DeserializeOwned>(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.scan_prefix(table, prefix)?
            .into_iter()
            .map(|(k, v)| decode(table, &k, &v))
            .collect()
    }
}

/// Typed (JSON) helpers over [`WriteTxn`].
pub trait WriteExt {
    /// Encodes `value` as JSON and stores it under `key`.
    fn put_json<T: Serialize + ?Sized>(
        &mut self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError>;
}

impl<W: WriteTxn + ?Sized> WriteExt for W {
    fn put_json<T: Serialize + ?Sized>(
        &mut self,
        table: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.put(table, key, &bytes)
    }
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.to_string(),
        key: key.to_string(),
        reason: e.to_string(),
    })
}
