//! The S3 service state: buckets and their configuration (objects, listings and multipart
//! uploads are in sibling modules, as further `impl S3` blocks).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use airlock_kms::Kms;
use airlock_policy::{Policy, PolicyKind};
use airlock_store::{ReadTxn, Store, StoreExt, WriteExt, WriteTxn};

use crate::cache::{InlineCache, LatestCache, WriteGeneration};
use crate::crypto::SegmentId;
use crate::disk::Disk;
use crate::error::{Code, S3Error};
use crate::keys::KeyManager;
use crate::meta::{self, ACCOUNTS, BUCKETS, Committer, DATA, PARTS, UPLOADS, VERSIONS};
use crate::model::{
    AccountRecord, BucketRecord, ObjectOwnership, ObjectVersion, PartRecord, PublicAccessBlock,
    UploadRecord,
};
use crate::names::{bucket_arn, validate_bucket_name};

/// A bucket as the service keeps it in memory: the record and its parsed policy.
#[derive(Debug)]
pub struct Bucket {
    /// The stored record.
    pub record: BucketRecord,
    /// The parsed bucket policy.
    pub policy: Option<Arc<Policy>>,
    /// Whether the policy is public in S3's sense (Block Public Access).
    pub public: bool,
}

impl Bucket {
    fn from_record(record: BucketRecord) -> Bucket {
        let policy = record
            .policy
            .as_deref()
            .and_then(|p| Policy::parse(p, PolicyKind::Resource).ok())
            .map(Arc::new);
        let public = policy
            .as_deref()
            .is_some_and(airlock_policy::public::is_public);
        Bucket {
            record,
            policy,
            public,
        }
    }

    /// The bucket policy as the engine takes it.
    pub fn named_policy(&self) -> Option<airlock_policy::NamedPolicy> {
        self.policy.as_ref().map(|p| airlock_policy::NamedPolicy {
            id: airlock_policy::PolicyId {
                kind: PolicyKind::Resource,
                name: bucket_arn(&self.record.name),
            },
            policy: p.clone(),
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// The owning account.
    pub fn owner(&self) -> &str {
        &self.record.owner
    }

    /// `arn:aws:s3:::NAME`.
    pub fn arn(&self) -> String {
        bucket_arn(&self.record.name)
    }
}

/// Why the S3 service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory could not be prepared or swept.
    #[error("S3 data directory {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The metadata could not be read.
    #[error("S3 metadata: {0}")]
    Store(#[from] airlock_store::StoreError),
    /// Key setup failed.
    #[error("S3 keys: {0}")]
    Keys(S3Error),
}

/// What the start-up sweep found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Buckets loaded.
    pub buckets: usize,
    /// Segment files referenced by metadata.
    pub referenced_segments: usize,
    /// Orphaned files removed (temporary files and unreferenced segments).
    pub removed_files: usize,
}

/// The S3 service.
pub struct S3 {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) disk: Disk,
    pub(crate) keys: KeyManager,
    pub(crate) committer: Committer,
    /// The latest version of recently read keys, valid until the next committed write.
    pub(crate) latest: LatestCache,
    /// The stored bytes of recently read inline segments.
    pub(crate) inline: Arc<InlineCache>,
    region: String,
    buckets: RwLock<HashMap<String, Arc<Bucket>>>,
    accounts: RwLock<HashMap<String, AccountRecord>>,
    seq: AtomicU64,
    sweep: SweepReport,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl S3 {
    /// Opens the S3 service: metadata in `store`, segment files under `dir` (`DATA_DIR/s3`),
    /// data keys through `kms` and the SSE-S3 root key. Sweeps orphaned files left by a crash
    /// before returning.
    pub fn open(
        store: Arc<dyn Store>,
        dir: &Path,
        kms: Arc<Kms>,
        sse_s3_key: &[u8; 32],
    ) -> Result<S3, OpenError> {
        let io = |source| OpenError::Io {
            path: dir.display().to_string(),
            source,
        };
        let disk = Disk::open(dir).map_err(io)?;
        let region = kms.region().to_string();
        let keys = KeyManager::new(kms, sse_s3_key, store.clone()).map_err(OpenError::Keys)?;

        let read = store.read()?;
        let records: Vec<BucketRecord> = read.scan_json(BUCKETS, "")?;
        let accounts: Vec<(String, Vec<u8>)> = read.scan_prefix(ACCOUNTS, "")?;
        let mut referenced = HashSet::new();
        let mut max_seq = 0u64;
        for (_, v) in read.scan_prefix(VERSIONS, "")? {
            let version: ObjectVersion =
                serde_json::from_slice(&v).map_err(|e| airlock_store::StoreError::Corrupt {
                    table: VERSIONS.into(),
                    key: String::new(),
                    reason: e.to_string(),
                })?;
            max_seq = max_seq.max(version.seq);
            for s in version.segments.iter().filter(|s| !s.inline) {
                if let Some(id) = SegmentId::parse(&s.id) {
                    referenced.insert(id);
                }
            }
        }
        for (_, v) in read.scan_prefix(PARTS, "")? {
            let part: PartRecord =
                serde_json::from_slice(&v).map_err(|e| airlock_store::StoreError::Corrupt {
                    table: PARTS.into(),
                    key: String::new(),
                    reason: e.to_string(),
                })?;
            if !part.segment.inline
                && let Some(id) = SegmentId::parse(&part.segment.id)
            {
                referenced.insert(id);
            }
        }
        drop(read);
        let removed = disk.sweep(&referenced).map_err(io)?;
        if removed > 0 {
            tracing::info!(target: "airlock::s3", removed, "removed orphaned S3 data left by an interrupted write");
        }
        let sweep = SweepReport {
            buckets: records.len(),
            referenced_segments: referenced.len(),
            removed_files: removed,
        };
        let buckets = records
            .into_iter()
            .map(|r| (r.name.clone(), Arc::new(Bucket::from_record(r))))
            .collect();
        let accounts = accounts
            .into_iter()
            .filter_map(|(k, v)| {
                serde_json::from_slice::<AccountRecord>(&v)
                    .ok()
                    .map(|r| (k, r))
            })
            .collect();
        let generation = Arc::new(WriteGeneration::default());
        Ok(S3 {
            committer: Committer::start(store.clone(), generation.clone()),
            latest: LatestCache::new(generation),
            inline: Arc::default(),
            store,
            disk,
            keys,
            region,
            buckets: RwLock::new(buckets),
            accounts: RwLock::new(accounts),
            seq: AtomicU64::new(max_seq.max(now_nanos())),
            sweep,
        })
    }

    /// What the start-up sweep found.
    pub fn sweep_report(&self) -> SweepReport {
        self.sweep
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The KMS service S3 uses.
    pub fn kms(&self) -> &Arc<Kms> {
        self.keys.kms()
    }

    /// A new sequence number (strictly increasing; time-based so it survives restarts).
    pub(crate) fn next_seq(&self) -> u64 {
        let now = now_nanos();
        let mut cur = self.seq.load(Ordering::Relaxed);
        loop {
            let next = cur.max(now) + 1;
            match self
                .seq
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => cur = actual,
            }
        }
    }

    // ------------------------------------------------------------------ buckets

    /// A bucket by name.
    pub fn bucket(&self, name: &str) -> Option<Arc<Bucket>> {
        read_lock(&self.buckets).get(name).cloned()
    }

    /// A bucket, or `NoSuchBucket`.
    pub fn existing_bucket(&self, name: &str) -> Result<Arc<Bucket>, S3Error> {
        self.bucket(name)
            .ok_or_else(|| S3Error::no_such_bucket(name))
    }

    /// The buckets of `owner`, by name.
    pub fn list_buckets(&self, owner: &str) -> Vec<Arc<Bucket>> {
        let mut v: Vec<Arc<Bucket>> = read_lock(&self.buckets)
            .values()
            .filter(|b| b.owner() == owner)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    fn cache_bucket(&self, record: BucketRecord) {
        let mut map = write_lock(&self.buckets);
        let newer = map
            .get(&record.name)
            .is_none_or(|b| b.record.generation < record.generation);
        if newer {
            map.insert(record.name.clone(), Arc::new(Bucket::from_record(record)));
        }
    }

    /// `CreateBucket`. New buckets get S3's defaults: all four Block Public Access settings on
    /// and `BucketOwnerEnforced` (unless `ownership` says otherwise).
    pub async fn create_bucket(
        &self,
        owner: &str,
        name: &str,
        region: &str,
        ownership: Option<ObjectOwnership>,
    ) -> Result<(), S3Error> {
        validate_bucket_name(name)?;
        let record = BucketRecord {
            name: name.to_string(),
            owner: owner.to_string(),
            region: region.to_string(),
            created_ms: now_ms(),
            versioning: Default::default(),
            policy: None,
            public_access_block: Some(PublicAccessBlock::ALL),
            encryption: None,
            ownership: Some(ownership.unwrap_or(ObjectOwnership::BucketOwnerEnforced)),
            tags: None,
            generation: 1,
        };
        let legacy_region = self.region == "us-east-1";
        let stored = record.clone();
        let created = self
            .committer
            .run(move |txn| {
                if let Some(existing) = txn.get_json::<BucketRecord>(BUCKETS, &stored.name)? {
                    if existing.owner != stored.owner {
                        return Err(S3Error::new(
                            Code::BucketAlreadyExists,
                            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                        )
                        .with("BucketName", &stored.name));
                    }
                    if legacy_region && existing.region == "us-east-1" {
                        // us-east-1 answers 200 to its owner re-creating a bucket (legacy).
                        return Ok(false);
                    }
                    return Err(S3Error::new(
                        Code::BucketAlreadyOwnedByYou,
                        "Your previous request to create the named bucket succeeded and you already own it.",
                    )
                    .with("BucketName", &stored.name));
                }
                txn.put_json(BUCKETS, &stored.name, &stored)?;
                Ok(true)
            })
            .await?;
        if created {
            self.cache_bucket(record);
        }
        Ok(())
    }

    /// `DeleteBucket`: refused with `BucketNotEmpty` while any object version or delete marker
    /// remains. In-progress multipart uploads are aborted with the bucket.
    pub async fn delete_bucket(&self, name: &str) -> Result<(), S3Error> {
        self.existing_bucket(name)?;
        let bucket = name.to_string();
        let removed: Vec<SegmentId> = self
            .committer
            .run(move |txn| {
                if txn.get(BUCKETS, &bucket)?.is_none() {
                    return Err(S3Error::no_such_bucket(&bucket));
                }
                let prefix = format!("{bucket}/");
                if !txn.scan_after(VERSIONS, &prefix, None, 1)?.is_empty() {
                    return Err(S3Error::new(
                        Code::BucketNotEmpty,
                        "The bucket you tried to delete is not empty",
                    )
                    .with("BucketName", &bucket));
                }
                let uploads: Vec<UploadRecord> = txn.scan_json(UPLOADS, &prefix)?;
                let mut segments = Vec::new();
                for u in &uploads {
                    segments.extend(remove_upload(txn, u)?);
                }
                crate::multipart::remove_completed(txn, &bucket)?;
                txn.delete(BUCKETS, &bucket)?;
                Ok(segments)
            })
            .await?;
        for id in removed {
            self.disk.remove(&id);
        }
        write_lock(&self.buckets).remove(name);
        Ok(())
    }

    /// Changes a bucket's configuration atomically: `f` sees the current record (and the
    /// transaction, e.g. for account settings) and either edits it or refuses.
    pub async fn update_bucket<F>(&self, name: &str, f: F) -> Result<Arc<Bucket>, S3Error>
    where
        F: FnOnce(&mut BucketRecord, &dyn ReadTxn) -> Result<(), S3Error> + Send + 'static,
    {
        let bucket = name.to_string();
        let record = self
            .committer
            .run(move |txn| {
                let mut record: BucketRecord = txn
                    .get_json(BUCKETS, &bucket)?
                    .ok_or_else(|| S3Error::no_such_bucket(&bucket))?;
                f(&mut record, txn.as_read())?;
                record.generation += 1;
                txn.put_json(BUCKETS, &bucket, &record)?;
                Ok(record)
            })
            .await?;
        self.cache_bucket(record);
        self.existing_bucket(name)
    }

    // ------------------------------------------------------------------ Block Public Access

    /// The account-level Block Public Access of `account`, if set.
    pub fn account_public_access_block(&self, account: &str) -> Option<PublicAccessBlock> {
        read_lock(&self.accounts)
            .get(account)
            .and_then(|a| a.public_access_block)
    }

    /// Sets (or with `None`, deletes) the account-level Block Public Access.
    pub async fn put_account_public_access_block(
        &self,
        account: &str,
        pab: Option<PublicAccessBlock>,
    ) -> Result<(), S3Error> {
        let acct = account.to_string();
        let record = self
            .committer
            .run(move |txn| {
                let mut r: AccountRecord = txn.get_json(ACCOUNTS, &acct)?.unwrap_or_default();
                r.public_access_block = pab;
                txn.put_json(ACCOUNTS, &acct, &r)?;
                Ok(r)
            })
            .await?;
        write_lock(&self.accounts).insert(account.to_string(), record);
        Ok(())
    }

    /// The effective Block Public Access of a bucket: a setting is on if the bucket or its
    /// owner's account turns it on.
    pub fn effective_public_access_block(&self, bucket: &Bucket) -> PublicAccessBlock {
        let account = self
            .account_public_access_block(bucket.owner())
            .unwrap_or_default();
        account.union(bucket.record.public_access_block.unwrap_or_default())
    }

    /// Parses a bucket policy as S3 accepts it: a resource policy whose resources are in this
    /// bucket.
    pub fn parse_bucket_policy(bucket: &str, text: &str) -> Result<Policy, S3Error> {
        if text.len() > 20 * 1024 {
            return Err(S3Error::new(
                Code::MalformedPolicy,
                "Policies cannot exceed 20480 bytes",
            ));
        }
        if !text.trim_start().starts_with('{') {
            return Err(S3Error::new(
                Code::MalformedPolicy,
                "Policies must be valid JSON and the first byte must be '{'",
            ));
        }
        let policy = Policy::parse(text, PolicyKind::Resource)
            .map_err(|e| S3Error::new(Code::MalformedPolicy, e.to_string()))?;
        let arn = bucket_arn(bucket);
        for s in &policy.statements {
            if s.principal.is_none() {
                return Err(S3Error::new(
                    Code::MalformedPolicy,
                    "Missing required field Principal",
                ));
            }
            let patterns: Vec<&str> = match &s.resource {
                Some(airlock_policy::ResourceClause::Resource(r))
                | Some(airlock_policy::ResourceClause::NotResource(r)) => {
                    r.iter().map(|p| p.0.as_str()).collect()
                }
                None => Vec::new(),
            };
            for p in patterns {
                let within = p == "*"
                    || p == arn
                    || p.strip_prefix(&arn)
                        .is_some_and(|rest| rest.starts_with('/'))
                    || (p.contains('*') || p.contains('?')) && airlock_policy_glob_matches(p, &arn);
                if !within {
                    return Err(S3Error::new(
                        Code::MalformedPolicy,
                        "Policy has invalid resource",
                    ));
                }
            }
        }
        Ok(policy)
    }
}

/// Whether a resource pattern with wildcards can match the bucket or its objects.
fn airlock_policy_glob_matches(pattern: &str, bucket_arn: &str) -> bool {
    // The pattern must agree with the bucket ARN up to its first wildcard.
    let fixed = pattern.split(['*', '?']).next().unwrap_or("");
    bucket_arn.starts_with(fixed) || fixed.starts_with(&format!("{bucket_arn}/"))
}

/// Deletes an upload and its parts in `txn`; returns the file segments to remove after commit.
pub(crate) fn remove_upload(
    txn: &mut dyn WriteTxn,
    u: &UploadRecord,
) -> Result<Vec<SegmentId>, S3Error> {
    let parts: Vec<(String, Vec<u8>)> = txn.scan_prefix(PARTS, &format!("{}/", u.upload_id))?;
    let mut segments = Vec::new();
    for (k, v) in parts {
        let part: PartRecord = serde_json::from_slice(&v).map_err(S3Error::internal)?;
        segments.extend(drop_segment(txn, &part.segment)?);
        txn.delete(PARTS, &k)?;
    }
    txn.delete(UPLOADS, &meta::upload_key(&u.bucket, &u.key, &u.upload_id))?;
    Ok(segments)
}

/// Removes an inline segment's data in `txn`; a file segment is returned for removal after
/// the commit.
pub(crate) fn drop_segment(
    txn: &mut dyn WriteTxn,
    s: &crate::model::Segment,
) -> Result<Option<SegmentId>, S3Error> {
    if s.inline {
        txn.delete(DATA, &s.id)?;
        Ok(None)
    } else {
        Ok(SegmentId::parse(&s.id))
    }
}
