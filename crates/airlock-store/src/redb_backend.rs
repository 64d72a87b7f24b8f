//! The embedded backend: one redb file, one redb table per airlock table.

use std::path::{Path, PathBuf};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError, TableHandle,
};

use crate::{
    META_TABLE, OLDEST_UPGRADABLE_SCHEMA, REWRITE_KEY, ReadTxn, SCHEMA_VERSION, Store, StoreError,
    WriteTxn,
};

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

/// Rows per transaction when a store is rewritten into a fresh file.
const REWRITE_BATCH: usize = 4096;

/// A [`Store`] in one redb file. Commits are `Durability::Immediate` (fsync before return).
pub struct RedbStore {
    db: Database,
    /// The file, `None` in memory.
    path: Option<PathBuf>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the store file at `path`, creating it (with the current schema version) if absent.
    /// An existing file of a schema version this build cannot upgrade is refused with
    /// [`StoreError::IncompatibleSchema`] and left untouched; one of an older, upgradable
    /// version opens as it is (its owners upgrade it). A rewrite requested by a transaction
    /// that committed before a crash is done now ([`RedbStore::rewrite_if_requested`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        RedbStore::open_file(path)?.rewrite_if_requested()
    }

    /// Whether another process (a running `airlock serve`) has the store file at `path` open.
    /// A missing or unreadable file is not in use. Opening takes the file's lock for a moment
    /// and may finish a crashed writer's recovery; it changes no data.
    pub fn in_use(path: &Path) -> bool {
        if !path.is_file() {
            return false;
        }
        matches!(
            Database::builder().set_cache_size(1 << 20).open(path),
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
        )
    }

    fn open_file(path: &Path) -> Result<Self, StoreError> {
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
        let store = RedbStore {
            db,
            path: Some(path.to_path_buf()),
        };
        store.check_schema(&shown, existed)?;
        Ok(store)
    }

    /// A store in memory, for tests and throwaway servers.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        let store = RedbStore { db, path: None };
        store.check_schema("<memory>", false)?;
        Ok(store)
    }

    fn check_schema(&self, path: &str, existed: bool) -> Result<(), StoreError> {
        let found = {
            let read = self.read()?;
            crate::schema_version(&*read).map_err(|e| StoreError::Unreadable {
                path: path.to_string(),
                reason: e.to_string(),
            })?
        };
        match found {
            Some(found) => {
                if !(OLDEST_UPGRADABLE_SCHEMA..=SCHEMA_VERSION).contains(&found) {
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
                crate::set_schema_version(&mut *write, SCHEMA_VERSION)?;
                write.commit()
            }
        }
    }

    /// If a committed transaction asked for it ([`crate::request_rewrite`]), copies the current
    /// data into a fresh file and puts it in the old one's place (fsync, atomic rename, fsync of
    /// the directory): pages that held overwritten or deleted values are then gone from the
    /// store file, which redb's copy-on-write only frees for reuse. A crash midway leaves the
    /// old file with its request, and the next open rewrites it. A store in memory, or one
    /// without a request, is returned as it is.
    pub fn rewrite_if_requested(self) -> Result<Self, StoreError> {
        let requested = crate::rewrite_requested(&*self.read()?)?;
        let Some(path) = self.path.clone().filter(|_| requested) else {
            return Ok(self);
        };
        let shown = path.display().to_string();
        let io = |what: &str, e: std::io::Error| {
            StoreError::Backend(format!("rewriting {shown}: {what}: {e}"))
        };
        let mut fresh_name = path.file_name().unwrap_or_default().to_os_string();
        fresh_name.push(".rewrite");
        let fresh_path = path.with_file_name(fresh_name);
        match std::fs::remove_file(&fresh_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("removing an earlier attempt", e));
            }
            _ => {}
        }
        {
            let mut builder = Database::builder();
            builder.set_cache_size(CACHE_BYTES);
            let fresh = builder.create(&fresh_path).map_err(backend)?;
            let read = self.db.begin_read().map_err(backend)?;
            let names: Vec<String> = read
                .list_tables()
                .map_err(backend)?
                .map(|t| t.name().to_string())
                .collect();
            // In batches, so a large store is never one transaction in memory; only the last
            // commit needs to be durable (the file is not in use before the rename).
            for name in &names {
                let from = read.open_table(def(name)).map_err(backend)?;
                let mut rows = from.iter().map_err(backend)?;
                loop {
                    let mut write = fresh.begin_write().map_err(backend)?;
                    write.set_durability(Durability::None).map_err(backend)?;
                    let mut more = false;
                    {
                        let mut to = write.open_table(def(name)).map_err(backend)?;
                        let mut copied = 0;
                        for item in rows.by_ref() {
                            let (k, v) = item.map_err(backend)?;
                            if name == META_TABLE && k.value() == REWRITE_KEY {
                                continue;
                            }
                            to.insert(k.value(), v.value()).map_err(backend)?;
                            copied += 1;
                            if copied == REWRITE_BATCH {
                                more = true;
                                break;
                            }
                        }
                    }
                    write.commit().map_err(backend)?;
                    if !more {
                        break;
                    }
                }
            }
            let mut last = fresh.begin_write().map_err(backend)?;
            last.set_durability(Durability::Immediate)
                .map_err(backend)?;
            last.commit().map_err(backend)?;
        }
        // Close the old file (and release its lock) before it is replaced.
        drop(self);
        std::fs::rename(&fresh_path, &path).map_err(|e| io("replacing the old file", e))?;
        if let Some(dir) = path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            d.sync_all().map_err(|e| io("syncing the directory", e))?;
        }
        RedbStore::open_file(&path)
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
            w.put(META_TABLE, "schema_version", b"999").unwrap();
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
    fn a_requested_rewrite_leaves_no_overwritten_value_in_the_file() {
        let dir = std::env::temp_dir().join(format!("airlock-store-rw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.redb");
        let _ = std::fs::remove_file(&path);
        let secret = b"plaintext-secret-0123456789-abcdefghij";
        let contains = |p: &Path| {
            let bytes = std::fs::read(p).unwrap();
            bytes.windows(secret.len()).any(|w| w == secret)
        };
        let store = RedbStore::open(&path).unwrap();
        let mut w = store.write().unwrap();
        for i in 0..5000 {
            w.put("bulk", &format!("{i:05}"), b"some row").unwrap();
        }
        w.put("keys", "AKIA1", secret).unwrap();
        w.commit().unwrap();
        // The migration: the value replaced, and the rewrite asked for, in one transaction.
        let mut w = store.write().unwrap();
        w.put("keys", "AKIA1", b"sealed").unwrap();
        crate::request_rewrite(&mut *w).unwrap();
        w.commit().unwrap();
        // redb freed the overwritten page without erasing it.
        assert!(
            contains(&path),
            "the test needs a file that still holds the old value"
        );
        let store = store.rewrite_if_requested().unwrap();
        assert!(!contains(&path));
        let r = store.read().unwrap();
        assert_eq!(r.get("keys", "AKIA1").unwrap(), Some(b"sealed".to_vec()));
        assert_eq!(r.scan_prefix("bulk", "").unwrap().len(), 5000);
        assert!(!crate::rewrite_requested(&*r).unwrap());
        assert_eq!(crate::schema_version(&*r).unwrap(), Some(SCHEMA_VERSION));
        drop(r);
        // Written once: the next open has nothing to do.
        drop(store);
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(
            store.read().unwrap().get("keys", "AKIA1").unwrap(),
            Some(b"sealed".to_vec())
        );
        drop(store);
        assert!(!dir.join("state.redb.rewrite").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_upgradable_older_schema_opens_as_it_is() {
        let dir = std::env::temp_dir().join(format!("airlock-store-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.redb");
        let _ = std::fs::remove_file(&path);
        {
            let store = RedbStore::open(&path).unwrap();
            let mut w = store.write().unwrap();
            crate::set_schema_version(&mut *w, OLDEST_UPGRADABLE_SCHEMA).unwrap();
            w.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(
            crate::schema_version(&*store.read().unwrap()).unwrap(),
            Some(OLDEST_UPGRADABLE_SCHEMA)
        );
        drop(store);
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
