//! Objects: writing (encrypted, durable), reading (ranges, authenticated), versions, deletes
//! and tags.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use airlock_kms::Caller;
use airlock_store::{ReadTxn, StoreExt, WriteExt, WriteTxn};
use bytes::Bytes;

use crate::cache::InlineCache;
use crate::checksum::{Checksum, Md5};
use crate::crypto::{
    CHUNK_SIZE, DataKey, SegmentError, SegmentId, SegmentReader, SegmentWriter, Stripe,
    batch_count, hex,
};
use crate::disk::{Disk, TempFile};
use crate::engine::{S3, drop_segment, now_ms};
use crate::error::{Code, S3Error};
use crate::keys::SsePlan;
use crate::meta::{self, BUCKETS, DATA, VERSIONS};
use crate::model::{
    BucketRecord, ObjectMeta, ObjectVersion, Segment, SseAlgorithm, SseInfo, Tag, Versioning,
};
use crate::names::validate_key;
use crate::pool::BufferPool;

/// Largest object a single `PutObject` (or part) may carry: 5 GiB.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Segments up to this size are kept in the metadata store instead of a file.
pub const INLINE_MAX: u64 = CHUNK_SIZE as u64;

enum Sink {
    Inline(SegmentWriter<Vec<u8>>),
    File(SegmentWriter<SyncingFile>, std::path::PathBuf),
    Done,
}

/// Bytes written between write-back requests for large segments.
const WRITEBACK: u64 = 32 * 1024 * 1024;

/// A segment file that asks the kernel to write data back while the upload is still arriving
/// (a helper thread `fdatasync`s every 32 MiB), so the final fsync before the commit has little
/// left to do.
struct SyncingFile {
    file: File,
    since: u64,
    syncer: Option<(
        std::sync::mpsc::Sender<()>,
        std::thread::JoinHandle<std::io::Result<()>>,
    )>,
}

impl SyncingFile {
    fn new(file: File) -> SyncingFile {
        SyncingFile {
            file,
            since: 0,
            syncer: None,
        }
    }

    fn kick(&mut self) -> std::io::Result<()> {
        if self.syncer.is_none() {
            let clone = self.file.try_clone()?;
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let handle = std::thread::Builder::new()
                .name("airlock-s3-writeback".into())
                .spawn(move || {
                    while rx.recv().is_ok() {
                        while rx.try_recv().is_ok() {}
                        clone.sync_data()?;
                    }
                    Ok(())
                })?;
            self.syncer = Some((tx, handle));
        }
        if let Some((tx, _)) = &self.syncer {
            let _ = tx.send(());
        }
        Ok(())
    }

    /// Waits for write-back and returns the file (the caller still fsyncs it).
    fn finish(mut self) -> std::io::Result<File> {
        if let Some((tx, handle)) = self.syncer.take() {
            drop(tx);
            handle
                .join()
                .map_err(|_| std::io::Error::other("write-back thread panicked"))??;
        }
        Ok(self.file)
    }
}

impl Write for SyncingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.since >= WRITEBACK {
            self.since = 0;
            self.kick()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes one segment of new object data (a whole object or one part), encrypting as it goes.
/// Blocking: run it off the async executor for large objects.
pub struct ObjectWriter {
    sink: Sink,
    id: SegmentId,
    size: u64,
    md5: Option<Md5>,
    sse: SseInfo,
    disk: Disk,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("id", &self.id.hex())
            .field("size", &self.size)
            .finish()
    }
}

/// New data, durable on disk (or ready to go inline), not yet referenced by any metadata.
#[derive(Debug)]
pub struct Staged {
    /// The segment.
    pub segment: Segment,
    /// The ciphertext of an inline segment.
    inline: Option<Vec<u8>>,
    /// Size.
    pub size: u64,
    /// MD5 of the plaintext, if it was computed.
    pub md5: Option<[u8; 16]>,
    /// The encryption record.
    pub sse: SseInfo,
    disk: Disk,
    committed: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed
            && !self.segment.inline
            && let Some(id) = SegmentId::parse(&self.segment.id)
        {
            self.disk.remove(&id);
        }
    }
}

impl Staged {
    pub(crate) fn mark_committed(mut self) {
        self.committed = true;
    }

    pub(crate) fn inline_data(&self) -> Option<&[u8]> {
        self.inline.as_deref()
    }
}

impl ObjectWriter {
    pub(crate) fn new(
        disk: &Disk,
        key: &DataKey,
        sse: SseInfo,
        size: u64,
        md5: bool,
    ) -> Result<ObjectWriter, S3Error> {
        let inline = size <= INLINE_MAX;
        // Inline data is keyed by its id in the data table: time-ordered ids keep each commit's
        // inserts at one edge of it. Files keep random ids, whose first byte spreads them over
        // the fan-out directories.
        let id = if inline {
            SegmentId::sequential()
        } else {
            SegmentId::random()
        };
        let sink = if inline {
            Sink::Inline(SegmentWriter::new(key, id, size, Vec::new()).map_err(S3Error::internal)?)
        } else {
            let TempFile { path, file } = disk.temp().map_err(S3Error::internal)?;
            let w = SegmentWriter::new(key, id, size, SyncingFile::new(file))
                .map_err(S3Error::internal)?;
            Sink::File(w, path)
        };
        Ok(ObjectWriter {
            sink,
            id,
            size,
            md5: md5.then(Md5::new),
            sse,
            disk: disk.clone(),
        })
    }

    /// The announced size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds plaintext. More than the announced size is `IncompleteBody`-style refused.
    pub fn write(&mut self, data: &[u8]) -> Result<(), S3Error> {
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        let r = match &mut self.sink {
            Sink::Inline(w) => w.write(data),
            Sink::File(w, _) => w.write(data),
            Sink::Done => return Err(S3Error::internal("write after finish")),
        };
        r.map_err(|e| match e {
            SegmentError::Length { .. } => S3Error::new(
                Code::IncompleteBody,
                "The request body is longer than the Content-Length (or decoded content length) announced",
            ),
            other => S3Error::internal(other),
        })
    }

    /// Finishes the data: exactly the announced size must have been written. A file segment is
    /// fsynced and moved into place; it becomes visible only when metadata references it.
    pub fn finish(mut self) -> Result<Staged, S3Error> {
        let sink = std::mem::replace(&mut self.sink, Sink::Done);
        let short = |e: SegmentError| match e {
            SegmentError::Length { .. } => S3Error::new(
                Code::IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ),
            other => S3Error::internal(other),
        };
        let (inline, is_inline) = match sink {
            Sink::Inline(w) => (Some(w.finish().map_err(short)?), true),
            Sink::File(w, path) => {
                let buf = match w.finish() {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = std::fs::remove_file(&path);
                        return Err(short(e));
                    }
                };
                let file = match buf.finish() {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = std::fs::remove_file(&path);
                        return Err(S3Error::internal(e));
                    }
                };
                if let Err(e) = self.disk.publish(
                    TempFile {
                        path: path.clone(),
                        file,
                    },
                    &self.id,
                ) {
                    let _ = std::fs::remove_file(&path);
                    return Err(S3Error::internal(e));
                }
                (None, false)
            }
            Sink::Done => return Err(S3Error::internal("finish called twice")),
        };
        Ok(Staged {
            segment: Segment {
                id: self.id.hex(),
                len: self.size,
                inline: is_inline,
                part: None,
            },
            inline,
            size: self.size,
            md5: self.md5.take().map(Md5::finish),
            sse: self.sse.clone(),
            disk: self.disk.clone(),
            committed: false,
        })
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Sink::File(_, path) = &self.sink {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Conditions on a write (`If-None-Match: *`, `If-Match`).
#[derive(Debug, Clone, Default)]
pub struct WriteCondition {
    /// `If-None-Match: *`: only if no current object.
    pub if_none_match_star: bool,
    /// `If-Match`: only if the current object has this ETag.
    pub if_match: Option<String>,
}

/// The description of a new object version.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Owning account.
    pub owner: String,
    /// Metadata.
    pub meta: ObjectMeta,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Checksum.
    pub checksum: Option<Checksum>,
    /// Conditions.
    pub condition: WriteCondition,
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// The version id created (a delete marker) or removed, when versioning is involved.
    pub version_id: Option<String>,
    /// A delete marker was created or removed.
    pub delete_marker: bool,
}

/// Reads an object's plaintext.
pub struct ObjectReader {
    key: DataKey,
    segments: Vec<(u64, Segment, Option<Source>)>,
    size: u64,
    s3: Store2,
    bucket: String,
    object_key: String,
}

#[derive(Clone)]
struct Store2 {
    store: Arc<dyn airlock_store::Store>,
    disk: Disk,
    inline: Arc<InlineCache>,
}

enum Source {
    File(File),
    Inline(Bytes),
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("size", &self.size)
            .finish()
    }
}

/// How many segment files are opened eagerly (so an overwrite cannot pull them away).
const EAGER_OPEN: usize = 64;

fn is_tampered(e: &SegmentError) -> bool {
    matches!(e, SegmentError::Tampered { .. })
}

impl ObjectReader {
    /// The object size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Plaintext `[start, end)` handed to `sink` piece by piece (up to 1 MiB each). Every piece
    /// is authenticated before it is handed over; tampered data is reported and never handed
    /// out.
    pub fn read_range(
        &self,
        start: u64,
        end: u64,
        mut sink: impl FnMut(&[u8]) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        self.read_range_bytes(start, end, |b| sink(&b))
    }

    /// Plaintext `[start, end)` as shared buffers (up to 1 MiB each, no copy), every piece
    /// authenticated before it is handed over.
    pub fn read_range_bytes(
        &self,
        start: u64,
        end: u64,
        sink: impl FnMut(Bytes) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        self.read_stripe(start, end, Stripe::ALL, &BufferPool::default(), sink)
    }

    /// The batches of [`ObjectReader::read_range_bytes`] that `stripe` owns, in order. Several
    /// threads may share one reader, each with its own stripe of the same range: together they
    /// hand out every batch once, and taking their buffers round robin, from phase 0 on, gives
    /// the range in order. Segments not opened with the reader are opened by each thread that
    /// needs them.
    pub fn read_stripe(
        &self,
        start: u64,
        end: u64,
        stripe: Stripe,
        pool: &BufferPool,
        mut sink: impl FnMut(Bytes) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        let end = end.min(self.size);
        let mut counter = 0u64;
        for (offset, seg, eager) in &self.segments {
            let (offset, len) = (*offset, seg.len);
            let (s, e) = (start.max(offset), end.min(offset + len));
            if s >= e {
                continue;
            }
            let batches = batch_count(s - offset, e - offset);
            if !stripe.owns_any(counter, batches) {
                counter += batches;
                continue;
            }
            let opened;
            let src = match eager {
                Some(src) => src,
                None => {
                    opened = self.s3.open_source(seg).map_err(OpenFailure::into_error)?;
                    &opened
                }
            };
            let id = SegmentId::parse(&seg.id)
                .ok_or_else(|| S3Error::internal("bad segment id in metadata"))?;
            let mut sink_error = None;
            let mut forward = |b: Bytes| {
                sink(b).map_err(|err| {
                    sink_error = Some(err);
                    SegmentError::Key
                })
            };
            let (rs, re) = (s - offset, e - offset);
            let result = match src {
                Source::File(f) => SegmentReader::open(&self.key, id, len, f)
                    .and_then(|r| r.read_batches(rs, re, stripe, &mut counter, pool, &mut forward)),
                Source::Inline(b) => SegmentReader::open(&self.key, id, len, b.clone())
                    .and_then(|r| r.read_batches(rs, re, stripe, &mut counter, pool, &mut forward)),
            };
            if let Some(err) = sink_error {
                return Err(err);
            }
            if let Err(e) = result {
                if is_tampered(&e) {
                    tracing::error!(
                        target: "airlock::s3",
                        bucket = %self.bucket,
                        key = %self.object_key,
                        error = %e,
                        "stored object data failed authentication (tampered or corrupted); it was not served"
                    );
                }
                return Err(S3Error::internal(e));
            }
        }
        Ok(())
    }

    /// Reads a whole (small) range into memory; without a copy when it is one batch (up to
    /// 1 MiB), as a small object is.
    pub fn read_to_bytes(&self, start: u64, end: u64) -> Result<Bytes, S3Error> {
        let mut pieces = Vec::new();
        self.read_range_bytes(start, end, |b| {
            pieces.push(b);
            Ok(())
        })?;
        if pieces.len() == 1
            && let Some(one) = pieces.pop()
        {
            return Ok(one);
        }
        Ok(Bytes::from(pieces.concat()))
    }
}

enum OpenFailure {
    /// A segment (file or inline) vanished: the object was replaced or deleted meanwhile.
    Gone,
    Other(S3Error),
}

impl From<S3Error> for OpenFailure {
    fn from(e: S3Error) -> Self {
        OpenFailure::Other(e)
    }
}

impl From<airlock_store::StoreError> for OpenFailure {
    fn from(e: airlock_store::StoreError) -> Self {
        OpenFailure::Other(e.into())
    }
}

impl OpenFailure {
    fn into_error(self) -> S3Error {
        match self {
            OpenFailure::Gone => S3Error::internal("a segment vanished while the object was read"),
            OpenFailure::Other(e) => e,
        }
    }
}

impl Store2 {
    fn open_source(&self, seg: &Segment) -> Result<Source, OpenFailure> {
        if seg.inline {
            if let Some(stored) = self.inline.get(&seg.id) {
                return Ok(Source::Inline(stored));
            }
            match self.store.read()?.get(DATA, &seg.id)? {
                Some(data) => {
                    let stored = Bytes::from(data);
                    self.inline.insert(&seg.id, stored.clone());
                    Ok(Source::Inline(stored))
                }
                // The version was replaced or deleted since it was looked up (its data goes in
                // the same commit), like a vanished segment file.
                None => Err(OpenFailure::Gone),
            }
        } else {
            let id = SegmentId::parse(&seg.id)
                .ok_or_else(|| S3Error::internal("bad segment id in metadata"))?;
            match self.disk.open_segment(&id) {
                Ok(f) => Ok(Source::File(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenFailure::Gone),
                Err(e) => Err(OpenFailure::Other(S3Error::internal(e))),
            }
        }
    }
}

/// The latest version of a key in `txn`.
pub(crate) fn latest(
    txn: &dyn ReadTxn,
    bucket: &str,
    key: &str,
) -> Result<Option<ObjectVersion>, S3Error> {
    let found = txn.scan_after(VERSIONS, &meta::versions_prefix(bucket, key), None, 1)?;
    match found.into_iter().next() {
        Some((_, v)) => Ok(Some(serde_json::from_slice(&v).map_err(S3Error::internal)?)),
        None => Ok(None),
    }
}

/// Every version of a key, newest first.
pub(crate) fn all_versions(
    txn: &dyn ReadTxn,
    bucket: &str,
    key: &str,
) -> Result<Vec<ObjectVersion>, S3Error> {
    Ok(txn.scan_json(VERSIONS, &meta::versions_prefix(bucket, key))?)
}

/// `InvalidArgument` for a malformed version id.
pub fn invalid_version_id(v: &str) -> S3Error {
    S3Error::invalid_argument("Invalid version id specified", "versionId", v)
}

/// One version by id (`null` included).
pub(crate) fn find_version(
    txn: &dyn ReadTxn,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<ObjectVersion>, S3Error> {
    if version_id == "null" {
        return Ok(all_versions(txn, bucket, key)?
            .into_iter()
            .find(|v| v.version_id == "null"));
    }
    let seq = meta::version_seq(version_id).ok_or_else(|| invalid_version_id(version_id))?;
    let v: Option<ObjectVersion> = txn.get_json(VERSIONS, &meta::version_key(bucket, key, seq))?;
    Ok(v.filter(|v| v.version_id == version_id))
}

pub(crate) fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// A random ETag for objects whose ETag is not an MD5 (SSE-KMS, as on AWS).
pub(crate) fn opaque_etag() -> String {
    let mut b = [0u8; 16];
    crate::crypto::fill_random(&mut b);
    hex(&b)
}

impl S3 {
    /// Picks the encryption of a new object from the request's headers (already parsed into
    /// `requested`) and the bucket's default encryption.
    pub fn plan_encryption(
        &self,
        bucket: &BucketRecord,
        requested: Option<SsePlan>,
        bucket_key_header: Option<bool>,
    ) -> SsePlan {
        match requested {
            Some(mut p) => {
                if p.algorithm == SseAlgorithm::AwsKms {
                    let rule = bucket.encryption_rule();
                    p.bucket_key = bucket_key_header.unwrap_or(
                        rule.algorithm == SseAlgorithm::AwsKms && rule.bucket_key_enabled,
                    );
                } else {
                    p.bucket_key = false;
                }
                p
            }
            None => {
                let rule = bucket.encryption_rule();
                SsePlan {
                    algorithm: rule.algorithm,
                    kms_key_id: rule.kms_key_id.clone(),
                    bucket_key: rule.algorithm == SseAlgorithm::AwsKms
                        && bucket_key_header.unwrap_or(rule.bucket_key_enabled),
                    extra_context: Default::default(),
                    context_header: None,
                }
            }
        }
    }

    /// Starts writing new object data of `size` bytes for `bucket/key`: makes the data key
    /// (through KMS for SSE-KMS, authorized for `caller`). `md5` asks for the plaintext's MD5
    /// (for `Content-MD5`; SSE-S3 objects always get one, as it is their ETag).
    pub fn begin_write(
        &self,
        caller: &Caller,
        bucket: &BucketRecord,
        key: &str,
        size: u64,
        plan: &SsePlan,
        md5: bool,
    ) -> Result<ObjectWriter, S3Error> {
        validate_key(key)?;
        if size > MAX_PUT_SIZE {
            return Err(S3Error::new(
                Code::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("ProposedSize", size.to_string())
            .with("MaxSizeAllowed", MAX_PUT_SIZE.to_string()));
        }
        let (dk, sse) = self
            .keys
            .new_key(caller, &bucket.name, &bucket.owner, key, plan)?;
        let md5 = md5 || sse.algorithm == SseAlgorithm::Aes256;
        ObjectWriter::new(&self.disk, &dk, sse, size, md5)
    }

    /// Starts writing data under an existing data key (a part of a multipart upload).
    pub(crate) fn begin_write_with(
        &self,
        key: &DataKey,
        sse: SseInfo,
        size: u64,
        md5: bool,
    ) -> Result<ObjectWriter, S3Error> {
        ObjectWriter::new(&self.disk, key, sse, size, md5)
    }

    /// Makes staged data the new current version of `obj.key`, durably, in one transaction:
    /// the version record, inline data, and the removal of the version it replaces (the `null`
    /// version, unless versioning is enabled). Returns the new version.
    pub async fn commit_object(
        &self,
        obj: NewObject,
        staged: Staged,
        etag: Option<String>,
    ) -> Result<ObjectVersion, S3Error> {
        let seq = self.next_seq();
        let etag = etag
            .or_else(|| staged.md5.map(|m| hex(&m)))
            .unwrap_or_else(opaque_etag);
        let segment = staged.segment.clone();
        let inline = staged.inline.clone();
        let sse = staged.sse.clone();
        let size = staged.size;
        let result = self
            .committer
            .run(move |txn| {
                let bucket: BucketRecord = txn
                    .get_json(BUCKETS, &obj.bucket)?
                    .ok_or_else(|| S3Error::no_such_bucket(&obj.bucket))?;
                check_write_condition(txn.as_read(), &obj, &bucket)?;
                let version = ObjectVersion {
                    key: obj.key.clone(),
                    version_id: match bucket.versioning {
                        Versioning::Enabled => meta::new_version_id(seq),
                        _ => "null".to_string(),
                    },
                    seq,
                    delete_marker: false,
                    last_modified_ms: now_ms(),
                    size,
                    etag,
                    owner: obj.owner.clone(),
                    meta: obj.meta.clone(),
                    tags: obj.tags.clone(),
                    sse: Some(sse),
                    checksum: obj.checksum.clone(),
                    segments: vec![segment],
                    parts_count: None,
                };
                let removed = put_version(txn, &bucket, version.clone(), inline)?;
                Ok((version, removed))
            })
            .await;
        match result {
            Ok((version, removed)) => {
                staged.mark_committed();
                for id in removed {
                    self.disk.remove(&id);
                }
                Ok(version)
            }
            Err(e) => Err(e), // `staged` drops here and removes its file.
        }
    }

    /// The current version of a key, or a specific one. A delete marker as current version is
    /// `NoSuchKey` with `x-amz-delete-marker: true`; a version id naming a delete marker is
    /// `MethodNotAllowed`, as on S3.
    pub fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Arc<ObjectVersion>, S3Error> {
        match version_id {
            None => match self.latest_version(bucket, key)? {
                None => Err(S3Error::no_such_key(key)),
                Some(v) if v.delete_marker => Err(S3Error::no_such_key(key)
                    .header("x-amz-delete-marker", "true")
                    .header("x-amz-version-id", v.version_id.clone())),
                Some(v) => Ok(v),
            },
            Some(vid) => match find_version(&*self.store.read()?, bucket, key, vid)? {
                None => Err(S3Error::no_such_version(key, vid)),
                Some(v) if v.delete_marker => Err(S3Error::new(
                    Code::MethodNotAllowed,
                    "The specified method is not allowed against this resource.",
                )
                .with("Method", "GET")
                .with("ResourceType", "DeleteMarker")
                .header("x-amz-delete-marker", "true")
                .header("x-amz-version-id", v.version_id.clone())
                .header("allow", "DELETE")),
                Some(v) => Ok(Arc::new(v)),
            },
        }
    }

    /// The latest version of `key` (a delete marker included), through the latest-version
    /// cache.
    fn latest_version(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Arc<ObjectVersion>>, S3Error> {
        let generation = self.latest.generation();
        if let Some(v) = self.latest.get(generation, bucket, key) {
            return Ok(Some(v));
        }
        let found = latest(&*self.store.read()?, bucket, key)?.map(Arc::new);
        if let Some(v) = &found {
            self.latest.insert(generation, bucket, v.clone());
        }
        Ok(found)
    }

    /// Opens a version's data for `caller`: recovers the data key (KMS `Decrypt` for SSE-KMS,
    /// authorized for the caller) and opens its segments.
    pub fn open_reader(
        &self,
        caller: &Caller,
        bucket: &str,
        version: &ObjectVersion,
    ) -> Result<ObjectReader, S3Error> {
        self.try_open_reader(caller, bucket, version)
            .map_err(OpenFailure::into_error)
    }

    fn try_open_reader(
        &self,
        caller: &Caller,
        bucket: &str,
        version: &ObjectVersion,
    ) -> Result<ObjectReader, OpenFailure> {
        let sse = version
            .sse
            .as_ref()
            .ok_or_else(|| S3Error::internal("object without encryption record"))?;
        let key = self.keys.open_key(caller, sse)?;
        let s = Store2 {
            store: self.store.clone(),
            disk: self.disk.clone(),
            inline: self.inline.clone(),
        };
        let mut offset = 0;
        let mut segments = Vec::with_capacity(version.segments.len());
        for (i, seg) in version.segments.iter().enumerate() {
            let src = if i < EAGER_OPEN {
                Some(s.open_source(seg)?)
            } else {
                None
            };
            segments.push((offset, seg.clone(), src));
            offset += seg.len;
        }
        Ok(ObjectReader {
            key,
            segments,
            size: version.size,
            s3: s,
            bucket: bucket.to_string(),
            object_key: version.key.clone(),
        })
    }

    /// [`S3::open_reader`] of a version already looked up; if its data was removed meanwhile (the
    /// object was replaced), the current state of that version id is read instead, and returned.
    pub fn open_version(
        &self,
        caller: &Caller,
        bucket: &str,
        v: &Arc<ObjectVersion>,
    ) -> Result<(Arc<ObjectVersion>, ObjectReader), S3Error> {
        match self.try_open_reader(caller, bucket, v) {
            Ok(r) => Ok((v.clone(), r)),
            Err(OpenFailure::Gone) => self.open_object(caller, bucket, &v.key, Some(&v.version_id)),
            Err(e) => Err(e.into_error()),
        }
    }

    /// Like [`S3::get_version`] then [`S3::open_reader`], retrying once if the object was
    /// replaced (and its data removed) between the two.
    pub fn open_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(Arc<ObjectVersion>, ObjectReader), S3Error> {
        let mut attempt = 0;
        loop {
            let v = self.get_version(bucket, key, version_id)?;
            match self.try_open_reader(caller, bucket, &v) {
                Ok(r) => return Ok((v, r)),
                Err(OpenFailure::Gone) if attempt == 0 => attempt += 1,
                Err(e) => return Err(e.into_error()),
            }
        }
    }

    /// `DeleteObject`, with S3's versioning rules.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeleteOutcome, S3Error> {
        validate_key(key)?;
        if let Some(v) = version_id
            && v != "null"
            && meta::version_seq(v).is_none()
        {
            return Err(invalid_version_id(v));
        }
        let seq = self.next_seq();
        let (b, k, vid) = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
        );
        let (outcome, removed) = self
            .committer
            .run(move |txn| {
                let bucket: BucketRecord = txn
                    .get_json(BUCKETS, &b)?
                    .ok_or_else(|| S3Error::no_such_bucket(&b))?;
                let mut removed = Vec::new();
                if let Some(vid) = vid {
                    let Some(v) = find_version(txn.as_read(), &b, &k, &vid)? else {
                        return Ok((
                            DeleteOutcome {
                                version_id: Some(vid),
                                delete_marker: false,
                            },
                            removed,
                        ));
                    };
                    for s in &v.segments {
                        removed.extend(drop_segment(txn, s)?);
                    }
                    txn.delete(VERSIONS, &meta::version_key(&b, &k, v.seq))?;
                    return Ok((
                        DeleteOutcome {
                            version_id: Some(v.version_id),
                            delete_marker: v.delete_marker,
                        },
                        removed,
                    ));
                }
                match bucket.versioning {
                    Versioning::Unversioned => {
                        if let Some(v) = all_versions(txn.as_read(), &b, &k)?
                            .into_iter()
                            .find(|v| v.version_id == "null")
                        {
                            for s in &v.segments {
                                removed.extend(drop_segment(txn, s)?);
                            }
                            txn.delete(VERSIONS, &meta::version_key(&b, &k, v.seq))?;
                        }
                        Ok((DeleteOutcome::default(), removed))
                    }
                    Versioning::Enabled | Versioning::Suspended => {
                        let marker = ObjectVersion {
                            key: k.clone(),
                            version_id: if bucket.versioning == Versioning::Enabled {
                                meta::new_version_id(seq)
                            } else {
                                "null".into()
                            },
                            seq,
                            delete_marker: true,
                            last_modified_ms: now_ms(),
                            size: 0,
                            etag: String::new(),
                            owner: bucket.owner.clone(),
                            meta: ObjectMeta::default(),
                            tags: Vec::new(),
                            sse: None,
                            checksum: None,
                            segments: Vec::new(),
                            parts_count: None,
                        };
                        let id = marker.version_id.clone();
                        removed = put_version(txn, &bucket, marker, None)?;
                        Ok((
                            DeleteOutcome {
                                version_id: Some(id),
                                delete_marker: true,
                            },
                            removed,
                        ))
                    }
                }
            })
            .await?;
        for id in removed {
            self.disk.remove(&id);
        }
        Ok(outcome)
    }

    /// Replaces the tags of a version (the current one by default); returns its version id.
    pub async fn put_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Option<Vec<Tag>>,
    ) -> Result<String, S3Error> {
        let (b, k, vid) = (
            bucket.to_string(),
            key.to_string(),
            version_id.map(str::to_string),
        );
        self.committer
            .run(move |txn| {
                if txn.get(BUCKETS, &b)?.is_none() {
                    return Err(S3Error::no_such_bucket(&b));
                }
                let mut v = match &vid {
                    None => match latest(txn.as_read(), &b, &k)? {
                        Some(v) if !v.delete_marker => v,
                        _ => return Err(S3Error::no_such_key(&k)),
                    },
                    Some(id) => match find_version(txn.as_read(), &b, &k, id)? {
                        Some(v) if !v.delete_marker => v,
                        Some(_) => {
                            return Err(S3Error::new(
                                Code::MethodNotAllowed,
                                "The specified method is not allowed against this resource.",
                            )
                            .with("Method", "PUT")
                            .with("ResourceType", "DeleteMarker"));
                        }
                        None => return Err(S3Error::no_such_version(&k, id)),
                    },
                };
                v.tags = tags.unwrap_or_default();
                txn.put_json(VERSIONS, &meta::version_key(&b, &k, v.seq), &v)?;
                Ok(v.version_id)
            })
            .await
    }
}

fn check_write_condition(
    txn: &dyn ReadTxn,
    obj: &NewObject,
    _bucket: &BucketRecord,
) -> Result<(), S3Error> {
    let c = &obj.condition;
    if !c.if_none_match_star && c.if_match.is_none() {
        return Ok(());
    }
    let current = latest(txn, &obj.bucket, &obj.key)?.filter(|v| !v.delete_marker);
    if c.if_none_match_star && current.is_some() {
        return Err(S3Error::new(
            Code::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", "If-None-Match"));
    }
    if let Some(m) = &c.if_match {
        match &current {
            None => return Err(S3Error::no_such_key(&obj.key)),
            Some(v) if !etag_matches(m, &v.etag) => {
                return Err(S3Error::new(
                    Code::PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold",
                )
                .with("Condition", "If-Match"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Inserts a version (and its inline data); unless versioning is enabled, first removes the
/// existing `null` version. Returns file segments to remove after commit.
pub(crate) fn put_version(
    txn: &mut dyn WriteTxn,
    bucket: &BucketRecord,
    version: ObjectVersion,
    inline: Option<Vec<u8>>,
) -> Result<Vec<SegmentId>, S3Error> {
    let mut removed = Vec::new();
    if version.version_id == "null"
        && let Some(old) = all_versions(txn.as_read(), &bucket.name, &version.key)?
            .into_iter()
            .find(|v| v.version_id == "null")
    {
        for s in &old.segments {
            removed.extend(drop_segment(txn, s)?);
        }
        txn.delete(
            VERSIONS,
            &meta::version_key(&bucket.name, &version.key, old.seq),
        )?;
    }
    if let (Some(data), Some(seg)) = (inline, version.segments.first()) {
        txn.put(DATA, &seg.id, &data)?;
    }
    txn.put_json(
        VERSIONS,
        &meta::version_key(&bucket.name, &version.key, version.seq),
        &version,
    )?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn etag_lists() {
        assert!(super::etag_matches("\"abc\"", "abc"));
        assert!(super::etag_matches("\"x\", \"abc\"", "abc"));
        assert!(super::etag_matches("*", "abc"));
        assert!(!super::etag_matches("\"abd\"", "abc"));
    }
}
