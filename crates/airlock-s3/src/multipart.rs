//! Multipart uploads: create, upload parts (each an encrypted segment under the upload's data
//! key), complete (the parts' segments become the object's, without copying), abort.

use airlock_kms::Caller;
use airlock_store::{StoreExt, WriteExt};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::checksum::{Checksum, ChecksumAlgorithm, Hasher, Md5};
use crate::crypto::{SegmentId, hex};
use crate::engine::{S3, drop_segment, now_ms, remove_upload};
use crate::error::{Code, S3Error};
use crate::keys::SsePlan;
use crate::meta::{self, BUCKETS, COMPLETED, COMPLETED_EXPIRY, PARTS, UPLOADS};
use crate::model::{
    BucketRecord, CompletedUpload, ObjectMeta, ObjectVersion, PartInfo, PartRecord, Tag,
    UploadRecord, Versioning,
};
use crate::names::validate_key;
use crate::objects::{
    MAX_PUT_SIZE, ObjectWriter, Staged, WriteCondition, latest, opaque_etag, put_version,
};

/// Smallest part (all but the last): 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Most parts in one upload.
pub const MAX_PARTS: u32 = 10_000;

/// One part named in `CompleteMultipartUpload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// `PartNumber`.
    pub number: u32,
    /// `ETag` (quotes allowed).
    pub etag: String,
    /// The part checksum the client states, if any.
    pub checksum: Option<String>,
}

/// How long a completed upload is remembered: a retried `CompleteMultipartUpload` by the same
/// principal with the same parts is answered with the first completion's result for this long.
pub const COMPLETED_RETENTION_MS: i64 = 60 * 60 * 1000;

/// Most expired completion records removed by one completion (bounded work per request).
const PRUNE_BATCH: usize = 16;

/// A `CompleteMultipartUpload` request.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// The parts, as listed.
    pub parts: Vec<CompletedPart>,
    /// `If-Match` / `If-None-Match`.
    pub condition: WriteCondition,
    /// The object checksum the client states (`x-amz-checksum-*`): a full-object checksum, or a
    /// composite one with or without its `-N`.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// The checksum type the client states (`x-amz-checksum-type`): `true` for `FULL_OBJECT`.
    pub full_object: Option<bool>,
    /// The object size the client states (`x-amz-mp-object-size`).
    pub object_size: Option<u64>,
    /// The completing principal (ARN): only its retries get a completed upload's result.
    pub caller: String,
}

/// Parameters of `CreateMultipartUpload`.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The account that will own the object.
    pub owner: String,
    /// Initiator ARN.
    pub initiator_arn: String,
    /// Initiator id.
    pub initiator_id: String,
    /// Metadata.
    pub meta: ObjectMeta,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Checksum algorithm.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `FULL_OBJECT` checksum type.
    pub checksum_full_object: bool,
}

fn new_upload_id(seq: u64) -> String {
    let mut r = [0u8; 24];
    crate::crypto::fill_random(&mut r);
    let tail = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r);
    format!("{seq:016x}{tail}")
}

fn strip_quotes(s: &str) -> &str {
    s.trim().trim_matches('"')
}

fn crc_algorithm(a: ChecksumAlgorithm) -> Option<crc_fast::CrcAlgorithm> {
    match a {
        ChecksumAlgorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
        _ => None,
    }
}

fn crc_bytes(a: ChecksumAlgorithm, v: u64) -> Vec<u8> {
    if a == ChecksumAlgorithm::Crc64Nvme {
        v.to_be_bytes().to_vec()
    } else {
        (v as u32).to_be_bytes().to_vec()
    }
}

/// The numeric value of a base64 CRC checksum.
pub fn crc_value(a: ChecksumAlgorithm, b64: &str) -> Option<u64> {
    let bytes = STANDARD.decode(b64).ok()?;
    match (a, bytes.len()) {
        (ChecksumAlgorithm::Crc64Nvme, 8) => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        (ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c, 4) => {
            Some(u32::from_be_bytes(bytes.try_into().ok()?) as u64)
        }
        _ => None,
    }
}

impl S3 {
    /// `CreateMultipartUpload`: makes the object's data key now (KMS `GenerateDataKey` for
    /// SSE-KMS, authorized for `caller`).
    pub async fn create_upload(
        &self,
        caller: &Caller,
        bucket: &BucketRecord,
        plan: &SsePlan,
        u: NewUpload,
    ) -> Result<UploadRecord, S3Error> {
        validate_key(&u.key)?;
        if u.checksum_full_object
            && u.checksum_algorithm
                .is_some_and(|a| crc_algorithm(a).is_none())
        {
            return Err(S3Error::invalid_request(
                "The FULL_OBJECT checksum type cannot be used with the SHA1 or SHA256 checksum algorithms.",
            ));
        }
        let (_, sse) = self
            .keys
            .new_key(caller, &bucket.name, &bucket.owner, &u.key, plan)?;
        let record = UploadRecord {
            upload_id: new_upload_id(self.next_seq()),
            bucket: u.bucket,
            key: u.key,
            initiated_ms: now_ms(),
            owner: u.owner,
            initiator_arn: u.initiator_arn,
            initiator_id: u.initiator_id,
            meta: u.meta,
            tags: u.tags,
            sse,
            checksum_algorithm: u.checksum_algorithm,
            checksum_full_object: u.checksum_full_object,
        };
        let stored = record.clone();
        self.committer
            .run(move |txn| {
                if txn.get(BUCKETS, &stored.bucket)?.is_none() {
                    return Err(S3Error::no_such_bucket(&stored.bucket));
                }
                txn.put_json(
                    UPLOADS,
                    &meta::upload_key(&stored.bucket, &stored.key, &stored.upload_id),
                    &stored,
                )?;
                Ok(())
            })
            .await?;
        Ok(record)
    }

    /// An in-progress upload, or `NoSuchUpload`.
    pub fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<UploadRecord, S3Error> {
        self.store
            .read()?
            .get_json::<UploadRecord>(UPLOADS, &meta::upload_key(bucket, key, upload_id))?
            .ok_or_else(|| S3Error::no_such_upload(upload_id))
    }

    /// Starts writing a part: recovers the upload's data key for `caller` (KMS decides
    /// `kms:Decrypt`, as S3 needs for `UploadPart`).
    pub fn begin_part(
        &self,
        caller: &Caller,
        upload: &UploadRecord,
        number: u32,
        size: u64,
        md5: bool,
    ) -> Result<ObjectWriter, S3Error> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                &number.to_string(),
            ));
        }
        if size > MAX_PUT_SIZE {
            return Err(S3Error::new(
                Code::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("ProposedSize", size.to_string())
            .with("MaxSizeAllowed", MAX_PUT_SIZE.to_string()));
        }
        let key = self.keys.open_key(caller, &upload.sse)?;
        let md5 = md5 || upload.sse.algorithm == crate::model::SseAlgorithm::Aes256;
        self.begin_write_with(&key, upload.sse.clone(), size, md5)
    }

    /// Records a written part (replacing an earlier upload of the same number). `checksum` is
    /// the part's checksum in the upload's algorithm, `crc` its numeric CRC for full-object
    /// checksums.
    pub async fn commit_part(
        &self,
        upload: &UploadRecord,
        number: u32,
        staged: Staged,
        checksum: Option<String>,
    ) -> Result<PartRecord, S3Error> {
        let etag = staged.md5.map(|m| hex(&m)).unwrap_or_else(opaque_etag);
        let crc = match (upload.checksum_algorithm, &checksum) {
            (Some(a), Some(v)) => crc_value(a, v),
            _ => None,
        };
        let part = PartRecord {
            number,
            size: staged.size,
            etag,
            last_modified_ms: now_ms(),
            segment: staged.segment.clone(),
            checksum,
            crc,
        };
        let inline = staged_inline(&staged);
        let (b, k, id) = (
            upload.bucket.clone(),
            upload.key.clone(),
            upload.upload_id.clone(),
        );
        let stored = part.clone();
        let result = self
            .committer
            .run(move |txn| {
                if txn.get(UPLOADS, &meta::upload_key(&b, &k, &id))?.is_none() {
                    return Err(S3Error::no_such_upload(&id));
                }
                let pk = meta::part_key(&id, number);
                let mut removed = Vec::new();
                if let Some(old) = txn.get_json::<PartRecord>(PARTS, &pk)? {
                    removed.extend(drop_segment(txn, &old.segment)?);
                }
                if let Some(data) = inline {
                    txn.put(crate::meta::DATA, &stored.segment.id, &data)?;
                }
                txn.put_json(PARTS, &pk, &stored)?;
                Ok(removed)
            })
            .await;
        match result {
            Ok(removed) => {
                mark_committed(staged);
                for id in removed {
                    self.disk.remove(&id);
                }
                Ok(part)
            }
            Err(e) => Err(e),
        }
    }

    /// `CompleteMultipartUpload`: checks the list (ascending, existing parts with matching
    /// ETags, all but the last at least 5 MiB) and makes the object from the parts' segments.
    ///
    /// A retry of a completion that succeeded (same principal, bucket, key, upload id and
    /// parts, within [`COMPLETED_RETENTION_MS`]) answers the same version again, as S3 does;
    /// anything else for an upload that is gone is `NoSuchUpload`.
    pub async fn complete_upload(&self, c: Completion) -> Result<ObjectVersion, S3Error> {
        if c.parts.is_empty() {
            return Err(S3Error::malformed_xml());
        }
        let seq = self.next_seq();
        let (version, removed) = self
            .committer
            .run(move |txn| {
                let Completion { bucket: b, key: k, upload_id: id, parts, condition, checksum: stated_checksum, full_object: stated_full, object_size, caller } = c;
                let bucket_rec: BucketRecord = txn.get_json(BUCKETS, &b)?.ok_or_else(|| S3Error::no_such_bucket(&b))?;
                let upload_key = meta::upload_key(&b, &k, &id);
                let Some(upload) = txn.get_json::<UploadRecord>(UPLOADS, &upload_key)? else {
                    let version = replay_completion(txn.as_read(), &upload_key, &id, &caller, &parts)?;
                    return Ok((version, Vec::new()));
                };
                if upload.checksum_algorithm.is_some()
                    && stated_full.is_some_and(|full| full != upload.checksum_full_object)
                {
                    return Err(S3Error::invalid_request(format!(
                        "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                        if upload.checksum_full_object { "FULL_OBJECT" } else { "COMPOSITE" }
                    )));
                }
                if let (Some(a), Some((stated, _))) = (upload.checksum_algorithm, &stated_checksum)
                    && a != *stated
                {
                    return Err(S3Error::invalid_request(format!(
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                        a.as_str().to_ascii_lowercase(),
                        stated.as_str().to_ascii_lowercase()
                    )));
                }
                let stored: Vec<PartRecord> = txn.scan_json(PARTS, &format!("{id}/"))?;
                let mut chosen: Vec<&PartRecord> = Vec::with_capacity(parts.len());
                let mut prev = 0u32;
                for p in &parts {
                    if p.number <= prev {
                        return Err(S3Error::new(
                            Code::InvalidPartOrder,
                            "The list of parts was not in ascending order. Parts must be ordered by part number.",
                        )
                        .with("UploadId", &id));
                    }
                    prev = p.number;
                    let found = stored.iter().find(|s| s.number == p.number && s.etag == strip_quotes(&p.etag));
                    let Some(found) = found else {
                        return Err(S3Error::new(
                            Code::InvalidPart,
                            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                        )
                        .with("UploadId", &id)
                        .with("PartNumber", p.number.to_string())
                        .with("ETag", &p.etag));
                    };
                    if let (Some(stated), Some(have)) = (&p.checksum, &found.checksum)
                        && stated != have
                    {
                        return Err(S3Error::new(
                            Code::InvalidPart,
                            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                        )
                        .with("UploadId", &id)
                        .with("PartNumber", p.number.to_string()));
                    }
                    chosen.push(found);
                }
                for (i, p) in chosen.iter().enumerate() {
                    if i + 1 < chosen.len() && p.size < MIN_PART_SIZE {
                        return Err(S3Error::new(Code::EntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.")
                            .with("ProposedSize", p.size.to_string())
                            .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
                            .with("PartNumber", p.number.to_string())
                            .with("ETag", &p.etag));
                    }
                }
                // ETag: MD5 of the parts' binary ETags, then "-N".
                let mut md5 = Md5::new();
                for p in &chosen {
                    let mut raw = Vec::with_capacity(16);
                    let e = p.etag.as_bytes();
                    for i in (0..e.len().saturating_sub(1)).step_by(2) {
                        if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&e[i..i + 2]).unwrap_or("00"), 16) {
                            raw.push(b);
                        }
                    }
                    md5.update(&raw);
                }
                let etag = format!("{}-{}", hex(&md5.finish()), chosen.len());
                let size: u64 = chosen.iter().map(|p| p.size).sum();
                if let Some(stated) = object_size
                    && stated != size
                {
                    return Err(S3Error::invalid_request(format!(
                        "The provided 'x-amz-mp-object-size' header value {stated} does not match what was computed: {size}"
                    )));
                }
                let checksum = match upload.checksum_algorithm {
                    Some(a) if chosen.iter().all(|p| p.checksum.is_some()) => {
                        if upload.checksum_full_object {
                            let alg = crc_algorithm(a).ok_or_else(|| S3Error::internal("full-object checksum without CRC"))?;
                            let mut acc: Option<u64> = None;
                            for p in &chosen {
                                let c = p.crc.ok_or_else(|| S3Error::internal("part without CRC value"))?;
                                acc = Some(match acc {
                                    None => c,
                                    Some(prev) => crc_fast::checksum_combine(alg, prev, c, p.size),
                                });
                            }
                            Some(Checksum {
                                algorithm: a,
                                value: STANDARD.encode(crc_bytes(a, acc.unwrap_or(0))),
                                composite: false,
                            })
                        } else {
                            let mut h = Hasher::new(a);
                            for p in &chosen {
                                if let Some(v) = &p.checksum
                                    && let Ok(bytes) = STANDARD.decode(v)
                                {
                                    h.update(&bytes);
                                }
                            }
                            Some(Checksum {
                                algorithm: a,
                                value: format!("{}-{}", h.finish_base64(), chosen.len()),
                                composite: true,
                            })
                        }
                    }
                    _ => None,
                };
                if let (Some((_, stated)), Some(c)) = (&stated_checksum, &checksum)
                    && !stated_checksum_matches(stated, c)
                {
                    return Err(S3Error::new(Code::BadDigest, format!("The {} you specified did not match the calculated checksum.", c.algorithm.as_str())));
                }
                let obj = crate::objects::NewObject {
                    bucket: b.clone(),
                    key: k.clone(),
                    owner: upload.owner.clone(),
                    meta: upload.meta.clone(),
                    tags: upload.tags.clone(),
                    checksum: checksum.clone(),
                    condition,
                };
                check_condition(txn.as_read(), &obj)?;
                let segments = chosen
                    .iter()
                    .map(|p| {
                        let mut s = p.segment.clone();
                        s.part = Some(PartInfo {
                            number: p.number,
                            etag: p.etag.clone(),
                            checksum: p.checksum.clone(),
                        });
                        s
                    })
                    .collect();
                let now = now_ms();
                let version = ObjectVersion {
                    key: k.clone(),
                    version_id: match bucket_rec.versioning {
                        Versioning::Enabled => meta::new_version_id(seq),
                        _ => "null".into(),
                    },
                    seq,
                    delete_marker: false,
                    last_modified_ms: now,
                    size,
                    etag,
                    owner: upload.owner.clone(),
                    meta: upload.meta.clone(),
                    tags: upload.tags.clone(),
                    sse: Some(upload.sse.clone()),
                    checksum,
                    segments,
                    parts_count: Some(chosen.len() as u32),
                };
                let completed = CompletedUpload {
                    caller,
                    parts: parts.iter().map(|p| (p.number, strip_quotes(&p.etag).to_string())).collect(),
                    expires_ms: now.saturating_add(COMPLETED_RETENTION_MS),
                    // No copy of the wrapped data key either: the answer names the
                    // encryption, it does not read the object.
                    version: ObjectVersion {
                        meta: Default::default(),
                        tags: Vec::new(),
                        segments: Vec::new(),
                        sse: version.sse.clone().map(|s| crate::model::SseInfo {
                            wrapped_key: String::new(),
                            ..s
                        }),
                        ..version.clone()
                    },
                };
                // Parts not used by the object are removed; used ones move into it.
                let used: std::collections::HashSet<u32> = chosen.iter().map(|p| p.number).collect();
                let mut removed: Vec<SegmentId> = Vec::new();
                for p in &stored {
                    if !used.contains(&p.number) {
                        removed.extend(drop_segment(txn, &p.segment)?);
                    }
                    txn.delete(PARTS, &meta::part_key(&id, p.number))?;
                }
                txn.delete(UPLOADS, &upload_key)?;
                removed.extend(put_version(txn, &bucket_rec, version.clone(), None)?);
                prune_completed(txn, now)?;
                txn.put(COMPLETED_EXPIRY, &meta::completed_expiry_key(completed.expires_ms, &upload_key), b"")?;
                txn.put_json(COMPLETED, &upload_key, &completed)?;
                Ok((version, removed))
            })
            .await?;
        for id in removed {
            self.disk.remove(&id);
        }
        Ok(version)
    }

    /// `AbortMultipartUpload`.
    pub async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let (b, k, id) = (bucket.to_string(), key.to_string(), upload_id.to_string());
        let removed = self
            .committer
            .run(move |txn| {
                let upload: UploadRecord = txn
                    .get_json(UPLOADS, &meta::upload_key(&b, &k, &id))?
                    .ok_or_else(|| S3Error::no_such_upload(&id))?;
                remove_upload(txn, &upload)
            })
            .await?;
        for id in removed {
            self.disk.remove(&id);
        }
        Ok(())
    }
}

/// The answer to a completion of an upload that is no longer in progress: the version a
/// completion made, if the same principal completed it with the same parts and the record has
/// not expired; otherwise `NoSuchUpload` (also after an abort, which leaves no record).
fn replay_completion(
    txn: &dyn airlock_store::ReadTxn,
    upload_key: &str,
    upload_id: &str,
    caller: &str,
    parts: &[CompletedPart],
) -> Result<ObjectVersion, S3Error> {
    let record: Option<CompletedUpload> = txn.get_json(COMPLETED, upload_key)?;
    match record {
        Some(r)
            if r.expires_ms > now_ms()
                && r.caller == caller
                && r.parts.len() == parts.len()
                && r.parts
                    .iter()
                    .zip(parts)
                    .all(|((n, e), p)| *n == p.number && e == strip_quotes(&p.etag)) =>
        {
            Ok(r.version)
        }
        _ => Err(S3Error::no_such_upload(upload_id)),
    }
}

/// Removes up to [`PRUNE_BATCH`] completion records that expired by `now`, oldest first.
fn prune_completed(txn: &mut dyn airlock_store::WriteTxn, now: i64) -> Result<(), S3Error> {
    for (k, _) in txn.scan_after(COMPLETED_EXPIRY, "", None, PRUNE_BATCH)? {
        let Some((expires, upload_key)) = k.split_once('\0') else {
            txn.delete(COMPLETED_EXPIRY, &k)?;
            continue;
        };
        if i64::from_str_radix(expires, 16).is_ok_and(|e| e > now) {
            break;
        }
        txn.delete(COMPLETED, upload_key)?;
        txn.delete(COMPLETED_EXPIRY, &k)?;
    }
    Ok(())
}

/// Whether the object checksum a client states matches the computed one: a full-object
/// checksum exactly; a composite one with its `-N` or without it.
fn stated_checksum_matches(stated: &str, computed: &Checksum) -> bool {
    let stated = stated.trim();
    if stated == computed.value {
        return true;
    }
    computed.composite && computed.value.split('-').next() == Some(stated)
}

/// Removes a bucket's completion records (the bucket is being deleted).
pub(crate) fn remove_completed(
    txn: &mut dyn airlock_store::WriteTxn,
    bucket: &str,
) -> Result<(), S3Error> {
    let rows: Vec<(String, Vec<u8>)> = txn.scan_prefix(COMPLETED, &format!("{bucket}/"))?;
    for (k, v) in rows {
        if let Ok(r) = serde_json::from_slice::<CompletedUpload>(&v) {
            txn.delete(
                COMPLETED_EXPIRY,
                &meta::completed_expiry_key(r.expires_ms, &k),
            )?;
        }
        txn.delete(COMPLETED, &k)?;
    }
    Ok(())
}

fn check_condition(
    txn: &dyn airlock_store::ReadTxn,
    obj: &crate::objects::NewObject,
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
            Some(v) if !crate::objects::etag_matches(m, &v.etag) => {
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

fn staged_inline(staged: &Staged) -> Option<Vec<u8>> {
    staged.inline_data().map(<[u8]>::to_vec)
}

fn mark_committed(staged: Staged) {
    staged.mark_committed();
}
