//! Metadata layout in the store, and group commit.
//!
//! Tables (all keys are strings; values JSON unless noted):
//!
//! | table          | key                                  | value                         |
//! |----------------|--------------------------------------|-------------------------------|
//! | `s3_buckets`   | bucket name                          | [`BucketRecord`]              |
//! | `s3_versions`  | `BUCKET/KEY \0 INV_SEQ`              | [`ObjectVersion`]             |
//! | `s3_data`      | segment id                           | a small segment's ciphertext  |
//! | `s3_uploads`   | `BUCKET/KEY \0 UPLOAD_ID`            | [`UploadRecord`]              |
//! | `s3_parts`     | `UPLOAD_ID/NNNNN`                    | [`PartRecord`]                |
//! | `s3_completed` | `BUCKET/KEY \0 UPLOAD_ID`            | [`CompletedUpload`]           |
//! | `s3_completed_expiry` | `EXPIRES_MS \0 BUCKET/KEY \0 UPLOAD_ID` | empty (prunes `s3_completed` in expiry order) |
//! | `s3_accounts`  | account id                           | [`AccountRecord`]             |
//! | `s3_meta`      | `aws-s3-key/ACCOUNT`                 | the account's default S3 KMS key ARN |
//!
//! `INV_SEQ` is `u64::MAX - seq` in 16 hex digits, so a key's versions sort newest first and
//! keys sort in S3's (UTF-8 binary) order. Object keys never contain NUL.
//!
//! Every change of an S3 operation is one write transaction. Concurrent operations are batched
//! by one committer thread into a shared transaction (group commit): each is applied in turn,
//! the batch is committed (fsynced) once, and only then is each operation answered.
//!
//! [`BucketRecord`]: crate::model::BucketRecord
//! [`ObjectVersion`]: crate::model::ObjectVersion
//! [`UploadRecord`]: crate::model::UploadRecord
//! [`PartRecord`]: crate::model::PartRecord
//! [`CompletedUpload`]: crate::model::CompletedUpload
//! [`AccountRecord`]: crate::model::AccountRecord

use std::sync::Arc;
use std::sync::mpsc;

use airlock_store::{Store, StoreError, WriteTxn};

use crate::cache::WriteGeneration;
use crate::error::{Code, S3Error};

/// Buckets.
pub const BUCKETS: &str = "s3_buckets";
/// Object versions.
pub const VERSIONS: &str = "s3_versions";
/// Inline segment ciphertext.
pub const DATA: &str = "s3_data";
/// Multipart uploads.
pub const UPLOADS: &str = "s3_uploads";
/// Parts of multipart uploads.
pub const PARTS: &str = "s3_parts";
/// Recently completed multipart uploads (for retried completions).
pub const COMPLETED: &str = "s3_completed";
/// `s3_completed` in expiry order: `EXPIRES_MS` in 16 hex digits, NUL, the upload's key.
pub const COMPLETED_EXPIRY: &str = "s3_completed_expiry";
/// Account-level settings.
pub const ACCOUNTS: &str = "s3_accounts";
/// Miscellaneous.
pub const META: &str = "s3_meta";

/// `BUCKET/KEY\0`: the prefix of every version of one key.
pub fn versions_prefix(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}\0")
}

/// The store key of one version.
pub fn version_key(bucket: &str, key: &str, seq: u64) -> String {
    format!("{bucket}/{key}\0{:016x}", u64::MAX - seq)
}

/// A store key that sorts after every version of `key` (and before any longer key).
pub fn after_all_versions(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}\0~")
}

/// A store key that sorts after every key starting with `prefix`.
pub fn after_prefix(bucket: &str, prefix: &str) -> String {
    format!("{bucket}/{prefix}\u{10FFFF}")
}

/// Splits a version store key into (object key, seq).
pub fn parse_version_key<'a>(bucket: &str, store_key: &'a str) -> Option<(&'a str, u64)> {
    let rest = store_key.strip_prefix(bucket)?.strip_prefix('/')?;
    let (key, inv) = rest.rsplit_once('\0')?;
    let inv = u64::from_str_radix(inv, 16).ok()?;
    Some((key, u64::MAX - inv))
}

/// The store key of an upload.
pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> String {
    format!("{bucket}/{key}\0{upload_id}")
}

/// The `s3_completed_expiry` key of a completed upload.
pub fn completed_expiry_key(expires_ms: i64, upload_key: &str) -> String {
    format!("{:016x}\0{upload_key}", expires_ms.max(0))
}

/// The store key of a part.
pub fn part_key(upload_id: &str, number: u32) -> String {
    format!("{upload_id}/{number:05}")
}

/// A version id that carries its sequence number: 16 hex digits of `seq`, then 16 random
/// characters, so that a version is found directly from its id.
pub fn new_version_id(seq: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut r = [0u8; 16];
    crate::crypto::fill_random(&mut r);
    let tail: String = r
        .iter()
        .map(|b| ALPHABET[(*b & 63) as usize] as char)
        .collect();
    format!("{seq:016x}{tail}")
}

/// The sequence number of a version id made by [`new_version_id`].
pub fn version_seq(version_id: &str) -> Option<u64> {
    if version_id.len() != 32 {
        return None;
    }
    u64::from_str_radix(version_id.get(..16)?, 16).ok()
}

type Completion = Box<dyn FnOnce(Option<&S3Error>) + Send>;
type Job = Box<dyn FnOnce(&mut dyn WriteTxn) -> (Completion, bool) + Send>;

/// Batches write operations into shared, durable transactions.
pub struct Committer {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Committer {
    /// Lets the thread finish the operations already queued, and waits for it (so the store
    /// is released when the service is dropped).
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

/// Largest number of operations in one transaction.
const MAX_BATCH: usize = 512;

impl Committer {
    /// Starts the committer thread over `store`. It ends when the committer is dropped. It
    /// bumps `generation` after each commit, before answering the batch's operations.
    pub fn start(store: Arc<dyn Store>, generation: Arc<WriteGeneration>) -> Committer {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("airlock-s3-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    run_batch(store.as_ref(), &generation, batch);
                }
            });
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(target: "airlock::s3", error = %e, "could not start the S3 commit thread");
                None
            }
        };
        Committer {
            tx: Some(tx),
            thread,
        }
    }

    /// Runs `op` inside a write transaction shared with concurrent operations, and returns its
    /// result once the transaction is durable.
    ///
    /// `op` must check everything before it writes: an `Err` must leave the transaction as it
    /// found it, except for `InternalError`, which aborts the whole batch.
    pub async fn run<T, F>(&self, op: F) -> Result<T, S3Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, S3Error> + Send + 'static,
    {
        let (done, wait) = tokio::sync::oneshot::channel::<Result<T, S3Error>>();
        let job: Job = Box::new(move |txn: &mut dyn WriteTxn| {
            let result = op(txn);
            let poisoned = matches!(&result, Err(e) if e.code == Code::InternalError);
            let completion: Completion = Box::new(move |commit_error: Option<&S3Error>| {
                let out = match (result, commit_error) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Some(e)) => Err(e.clone()),
                    (Ok(v), None) => Ok(v),
                };
                let _ = done.send(out);
            });
            (completion, poisoned)
        });
        self.tx
            .as_ref()
            .ok_or_else(|| S3Error::internal("the S3 commit thread has stopped"))?
            .send(job)
            .map_err(|_| S3Error::internal("the S3 commit thread has stopped"))?;
        wait.await.unwrap_or_else(|_| {
            Err(S3Error::internal(
                "the S3 commit thread dropped an operation",
            ))
        })
    }

    /// [`Committer::run`] for callers that are not async (blocks the thread).
    pub fn run_blocking<T, F>(&self, op: F) -> Result<T, S3Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, S3Error> + Send + 'static,
    {
        let (done, wait) = std::sync::mpsc::channel::<Result<T, S3Error>>();
        let job: Job = Box::new(move |txn: &mut dyn WriteTxn| {
            let result = op(txn);
            let poisoned = matches!(&result, Err(e) if e.code == Code::InternalError);
            let completion: Completion = Box::new(move |commit_error: Option<&S3Error>| {
                let out = match (result, commit_error) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Some(e)) => Err(e.clone()),
                    (Ok(v), None) => Ok(v),
                };
                let _ = done.send(out);
            });
            (completion, poisoned)
        });
        self.tx
            .as_ref()
            .ok_or_else(|| S3Error::internal("the S3 commit thread has stopped"))?
            .send(job)
            .map_err(|_| S3Error::internal("the S3 commit thread has stopped"))?;
        wait.recv().unwrap_or_else(|_| {
            Err(S3Error::internal(
                "the S3 commit thread dropped an operation",
            ))
        })
    }
}

fn run_batch(store: &dyn Store, generation: &WriteGeneration, batch: Vec<Job>) {
    let mut txn = match store.write() {
        Ok(t) => t,
        Err(e) => {
            let err = S3Error::internal(e);
            for job in batch {
                fail_job(job, &err);
            }
            return;
        }
    };
    let mut completions = Vec::with_capacity(batch.len());
    let mut poisoned = false;
    for job in batch {
        let (c, p) = job(&mut *txn);
        poisoned |= p;
        completions.push(c);
    }
    let outcome: Result<(), S3Error> = if poisoned {
        drop(txn);
        Err(S3Error::internal(
            "an S3 write failed; its transaction was rolled back",
        ))
    } else {
        txn.commit().map_err(S3Error::internal)
    };
    // Before any answer: a read that begins after an acknowledged write must not be served
    // from the latest-version cache filled before it.
    generation.bump();
    for c in completions {
        c(outcome.as_ref().err());
    }
}

/// Fails a job that never ran (the transaction could not start): run it against a throwaway
/// in-memory transaction is not possible, so report the error through a transaction-less path.
fn fail_job(job: Job, err: &S3Error) {
    // The job needs a transaction to produce its completion; give it one that rejects writes.
    let mut t = Refusing;
    let (c, _) = job(&mut t);
    c(Some(err));
}

struct Refusing;

impl airlock_store::ReadTxn for Refusing {
    fn get(&self, _t: &str, _k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Err(StoreError::Backend("no transaction".into()))
    }
    fn scan_prefix(&self, _t: &str, _p: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Err(StoreError::Backend("no transaction".into()))
    }
}

impl WriteTxn for Refusing {
    fn put(&mut self, _t: &str, _k: &str, _v: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Backend("no transaction".into()))
    }
    fn delete(&mut self, _t: &str, _k: &str) -> Result<bool, StoreError> {
        Err(StoreError::Backend("no transaction".into()))
    }
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        Err(StoreError::Backend("no transaction".into()))
    }
    fn as_read(&self) -> &dyn airlock_store::ReadTxn {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_store::RedbStore;

    #[test]
    fn version_keys_sort_newest_first_and_parse_back() {
        let a = version_key("b", "k", 5);
        let b = version_key("b", "k", 9);
        assert!(b < a);
        assert_eq!(parse_version_key("b", &a), Some(("k", 5)));
        assert!(version_key("b", "k", 1) < after_all_versions("b", "k"));
        assert!(after_all_versions("b", "k") < version_key("b", "k\u{1}", 1));
        assert!(after_all_versions("b", "k") < version_key("b", "k/x", 1));
        let id = new_version_id(42);
        assert_eq!(version_seq(&id), Some(42));
        assert_eq!(version_seq("null"), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn batches_commit_and_reject_independently() {
        let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
        let c = Arc::new(Committer::start(
            store.clone(),
            Arc::new(WriteGeneration::default()),
        ));
        let mut tasks = Vec::new();
        for i in 0..50u32 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.run(move |txn| {
                    if i % 10 == 3 {
                        return Err(S3Error::invalid_request("rejected"));
                    }
                    txn.put("t", &format!("{i:03}"), b"x")?;
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 45);
        assert_eq!(
            store.read().unwrap().scan_prefix("t", "").unwrap().len(),
            45
        );
        // An internal error rolls back its batch.
        let r = c.run_blocking(|txn| {
            txn.put("t", "zzz", b"x")?;
            Err::<(), _>(S3Error::internal("boom"))
        });
        assert!(r.is_err());
        assert_eq!(store.read().unwrap().get("t", "zzz").unwrap(), None);
    }
}
