//! The embedded backend: one redb file, one redb table per airlock table.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::{ReadTxn, SCHEMA_VERSION, Store, StoreError, WriteTxn};

const META: &str = "airlock_meta";
const SCHEMA_KEY: &str = "schema_version";

fn def(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// redb's page cache (read cache and write buffer together). redb's default is 1 GiB, which
/// a server writing many small objects fills with pages it never reads again, each one fresh
/// memory the kernel must fault in and zero; a bounded cache recycles the same memory.
const CACHE_BYTES: usize = 64 << 20;

/// A [`Store`] in one redb file. Commits are `Durability::Immediate` (fsync before return).
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the store file at `path`, creating it (with the current schema version) if absent.
    /// An existing file of another schema version is refused with
    /// [`StoreError::IncompatibleSchema`] and left untouched.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let existed = path.exists();
        let mut builder = Database::builder();
        builder.set_cache_size(CACHE_BYTES);
        let db = if existed {
            builder.open(path)
        } else {
            builder.create(path)
        }
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: shown.clone(),
            },
            other => StoreError::Unreadable {
                path: shown.clone(),
                reason: other.to_string(),
            },
        })?;
        let store = RedbStore { db };
        store.check_schema(&shown, existed)?;
        Ok(store)
    }

    /// A store in memory, for tests and throwaway servers.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        let store = RedbStore { db };
        store.check_schema("<memory>", false)?;
        Ok(store)
    }

    fn check_schema(&self, path: &str, existed: bool) -> Result<(), StoreError> {
        let found = {
            let read = self.read()?;
            read.get(META, SCHEMA_KEY)?
        };
        match found {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let found: u32 = text.trim().parse().map_err(|_| StoreError::Unreadable {
                    path: path.to_string(),
                    reason: format!("schema version {text:?} is not a number"),
                })?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::IncompatibleSchema {
                        path: path.to_string(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None => {
                // A redb file without our meta table was not written by airlock.
                let has_tables = {
                    let txn = self.db.begin_read().map_err(backend)?;
                    txn.list_tables().map_err(backend)?.next().is_some()
                };
                if existed && has_tables {
                    return Err(StoreError::Unreadable {
                        path: path.to_string(),
                        reason: "it holds data but no airlock schema version".to_string(),
                    });
                }
                let mut write = self.write()?;
                write.put(META, SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())?;
                write.commit()
            }
        }
    }
}

impl Store for RedbStore {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        Ok(Box::new(RedbRead { txn }))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        let mut txn = self.db.begin_write().map_err(backend)?;
        txn.set_durability(Durability::Immediate).map_err(backend)?;
        Ok(Box::new(RedbWrite { txn }))
    }
}

struct RedbRead {
    txn: redb::ReadTransaction,
}

fn collect_prefix<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for item in table.range::<&str>(prefix..).map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.to_string(), v.value().to_vec()));
    }
    Ok(out)
}

fn collect_after<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let start = match after {
        Some(a) if a > prefix => a,
        _ => prefix,
    };
    for item in table.range::<&str>(start..).map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        if after.is_some_and(|a| key <= a) {
            continue;
        }
        out.push((key.to_string(), v.value().to_vec()));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

impl ReadTxn for RedbRead {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.txn.open_table(def(table)) {
            Ok(t) => Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec())),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    fn scan_prefix(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self.txn.open_table(def(table)) {
            Ok(t) => collect_prefix(&t, prefix),
            Err(TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(backend(e)),
        }
    }

    fn scan_after(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self.txn.open_table(def(table)) {
            Ok(t) => collect_after(&t, prefix, after, limit),
            Err(TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(backend(e)),
        }
    }
}

struct RedbWrite {
    txn: redb::WriteTransaction,
}

impl ReadTxn for RedbWrite {
    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.txn.open_table(def(table)).map_err(backend)?;
        let value = t.get(key).map_err(backend)?.map(|v| v.value().to_vec());
        Ok(value)
    }

    fn scan_prefix(&self, table: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.txn.open_table(def(table)).map_err(backend)?;
        collect_prefix(&t, prefix)
    }

    fn scan_after(
        &self,
        table: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.txn.open_table(def(table)).map_err(backend)?;
        collect_after(&t, prefix, after, limit)
    }
}

impl WriteTxn for RedbWrite {
    fn put(&mut self, table: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(def(table)).map_err(backend)?;
        t.insert(key, value).map_err(backend)?;
        Ok(())
    }

    fn delete(&mut self, table: &str, key: &str) -> Result<bool, StoreError> {
        let mut t = self.txn.open_table(def(table)).map_err(backend)?;
        let existed = t.remove(key).map_err(backend)?.is_some();
        Ok(existed)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.txn.commit().map_err(backend)
    }

    fn as_read(&self) -> &dyn ReadTxn {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StoreExt, WriteExt};

    #[test]
    fn write_read_scan_delete() {
        let store = RedbStore::in_memory().unwrap();
        let mut w = store.write().unwrap();
        w.put_json("t", "a/1", &1u32).unwrap();
        w.put_json("t", "a/2", &2u32).unwrap();
        w.put_json("t", "b/1", &3u32).unwrap();
        w.commit().unwrap();
        let r = store.read().unwrap();
        let a: Vec<u32> = r.scan_json("t", "a/").unwrap();
        assert_eq!(a, vec![1, 2]);
        assert_eq!(r.get("missing-table", "x").unwrap(), None);
        drop(r);
        let mut w = store.write().unwrap();
        assert!(w.delete("t", "a/1").unwrap());
        assert!(!w.delete("t", "a/1").unwrap());
        drop(w); // aborted: the delete is not applied
        let r = store.read().unwrap();
        assert_eq!(r.get_json::<u32>("t", "a/1").unwrap(), Some(1));
    }

    #[test]
    fn scan_after_pages_in_key_order() {
        let store = RedbStore::in_memory().unwrap();
        let mut w = store.write().unwrap();
        for k in ["b/1", "b/2", "b/3", "c/1", "a/9"] {
            w.put("t", k, k.as_bytes()).unwrap();
        }
        let keys = |v: Vec<(String, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        // Inside the write transaction, and after commit through a read transaction.
        assert_eq!(
            keys(w.scan_after("t", "b/", None, 2).unwrap()),
            ["b/1", "b/2"]
        );
        w.commit().unwrap();
        let r = store.read().unwrap();
        assert_eq!(
            keys(r.scan_after("t", "b/", Some("b/1"), 10).unwrap()),
            ["b/2", "b/3"]
        );
        assert_eq!(
            keys(r.scan_after("t", "b/", Some("a"), 1).unwrap()),
            ["b/1"]
        );
        assert!(r.scan_after("t", "b/", Some("b/3"), 10).unwrap().is_empty());
        assert!(r.scan_after("t", "b/", None, 0).unwrap().is_empty());
        assert!(r.scan_after("missing", "", None, 10).unwrap().is_empty());
    }

    #[test]
    fn reopen_keeps_data_and_refuses_other_schema() {
        let dir = std::env::temp_dir().join(format!("airlock-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.redb");
        let _ = std::fs::remove_file(&path);
        {
            let store = RedbStore::open(&path).unwrap();
            let mut w = store.write().unwrap();
            w.put("roles", "k", b"v").unwrap();
            w.commit().unwrap();
        }
        {
            let store = RedbStore::open(&path).unwrap();
            assert_eq!(
                store.read().unwrap().get("roles", "k").unwrap(),
                Some(b"v".to_vec())
            );
            let mut w = store.write().unwrap();
            w.put(META, SCHEMA_KEY, b"999").unwrap();
            w.commit().unwrap();
        }
        match RedbStore::open(&path) {
            Err(StoreError::IncompatibleSchema {
                found: 999,
                expected,
                ..
            }) => {
                assert_eq!(expected, SCHEMA_VERSION)
            }
            other => panic!("expected IncompatibleSchema, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_file_that_is_not_a_store() {
        let dir = std::env::temp_dir().join(format!("airlock-store-junk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.redb");
        std::fs::write(&path, b"this is not a database at all, just text").unwrap();
        assert!(matches!(
            RedbStore::open(&path),
            Err(StoreError::Unreadable { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
