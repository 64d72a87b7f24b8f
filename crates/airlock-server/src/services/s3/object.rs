//! Object operations: put (streamed), get and head (ranges, conditions, streamed), delete,
//! batch delete, copy, tags and ACLs.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use airlock_policy::{Context, ContextValue};
use airlock_s3::checksum::{Checksum, ChecksumAlgorithm, Hasher};
use airlock_s3::crypto::Stripe;
use airlock_s3::keys::{SsePlan, parse_context_header};
use airlock_s3::model::{ObjectMeta, ObjectOwnership, ObjectVersion, SseAlgorithm, Tag};
use airlock_s3::names::{object_arn, validate_key};
use airlock_s3::objects::{
    INLINE_MAX, NewObject, ObjectReader, ObjectWriter, Staged, WriteCondition,
};
use airlock_s3::pool::BufferPool;
use airlock_s3::{Bucket, Code, S3Error};
use bytes::Bytes;
use http_body::Frame;

use super::bucket::check_acl_headers;
use super::payload::{self, PayloadReader, PayloadSpec, PayloadSummary};
use super::request::{Op, Target};
use super::xml::{self, XMLNS, http_date, iso8601_ms, parse_http_date};
use super::{
    Query, S3Service, header, kms_caller, prepared, reply, sse_headers, tags_from_header,
    tags_from_xml, tags_xml, version_header, xml_reply,
};
use crate::body::{BoxError, ReplyBody};
use crate::service::{Call, Prepared};
use crate::xml::Xml;

const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];
const MAX_METADATA: usize = 2048;
/// Bodies up to this size are read and answered from memory; larger ones stream.
const SMALL_READ: u64 = 1024 * 1024;

fn single(ctx: &mut Context, key: &str, value: &str) {
    ctx.insert(key, ContextValue::Single(value.to_string()));
}

/// System and user metadata from request headers.
pub(crate) fn object_meta(call: &Call) -> Result<ObjectMeta, S3Error> {
    let h = |n: &str| header(call, n).map(str::to_string);
    let storage_class = h("x-amz-storage-class");
    if let Some(c) = &storage_class
        && !STORAGE_CLASSES.contains(&c.as_str())
    {
        return Err(S3Error::new(
            Code::InvalidStorageClass,
            "The storage class you specified is not valid",
        )
        .with("StorageClassRequested", c));
    }
    let encoding = h("content-encoding")
        .map(|e| {
            e.split(',')
                .map(str::trim)
                .filter(|p| !p.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|e| !e.is_empty());
    let mut user = std::collections::BTreeMap::new();
    let mut size = 0;
    for (k, v) in call.headers.iter() {
        if let Some(name) = k.as_str().strip_prefix("x-amz-meta-") {
            let value = v
                .to_str()
                .map_err(|_| S3Error::invalid_argument("Invalid metadata value", k.as_str(), ""))?;
            size += name.len() + value.len();
            user.insert(name.to_string(), value.to_string());
        }
    }
    if size > MAX_METADATA {
        return Err(S3Error::new(
            Code::MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size",
        )
        .with("Size", size.to_string())
        .with("MaxSizeAllowed", MAX_METADATA.to_string()));
    }
    Ok(ObjectMeta {
        content_type: h("content-type"),
        content_encoding: encoding,
        content_disposition: h("content-disposition"),
        content_language: h("content-language"),
        cache_control: h("cache-control"),
        expires: h("expires"),
        website_redirect: h("x-amz-website-redirect-location"),
        storage_class: storage_class.filter(|c| c != "STANDARD"),
        user,
    })
}

/// Refuses the Object Lock headers of a write (`x-amz-object-lock-mode`,
/// `-retain-until-date`, `-legal-hold`) as S3 does on a bucket without Object Lock, which every
/// bucket of airlock is: accepting them would promise a retention nothing enforces.
pub(crate) fn refuse_object_lock_headers(call: &Call) -> Result<(), S3Error> {
    const HEADERS: [&str; 3] = [
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
        "x-amz-object-lock-legal-hold",
    ];
    if HEADERS.iter().any(|h| call.headers.contains_key(*h)) {
        return Err(S3Error::missing_object_lock());
    }
    Ok(())
}

/// The encryption a request asks for (`x-amz-server-side-encryption*`), and its bucket-key
/// header.
pub(crate) fn sse_request(call: &Call) -> Result<(Option<SsePlan>, Option<bool>), S3Error> {
    if call.headers.keys().any(|k| {
        k.as_str()
            .starts_with("x-amz-server-side-encryption-customer-")
    }) {
        return Err(S3Error::not_implemented(
            "server-side encryption with customer-provided keys (SSE-C)",
        ));
    }
    let alg = header(call, "x-amz-server-side-encryption");
    let key = header(call, "x-amz-server-side-encryption-aws-kms-key-id").map(str::to_string);
    let context = header(call, "x-amz-server-side-encryption-context").map(str::to_string);
    let bucket_key = match header(call, "x-amz-server-side-encryption-bucket-key-enabled") {
        None => None,
        Some(v) => Some(xml::parse_bool(v).map_err(|_| {
            S3Error::invalid_argument(
                "Invalid value for bucket key",
                "x-amz-server-side-encryption-bucket-key-enabled",
                v,
            )
        })?),
    };
    let algorithm = match alg {
        None => {
            if key.is_some() || context.is_some() {
                return Err(S3Error::invalid_argument(
                    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
                    "x-amz-server-side-encryption",
                    "null",
                ));
            }
            return Ok((None, bucket_key));
        }
        Some("AES256") => SseAlgorithm::Aes256,
        Some("aws:kms") => SseAlgorithm::AwsKms,
        Some("aws:kms:dsse") => {
            return Err(S3Error::not_implemented(
                "dual-layer SSE-KMS (aws:kms:dsse)",
            ));
        }
        Some(other) => {
            return Err(S3Error::invalid_argument(
                "The encryption method specified is not supported",
                "x-amz-server-side-encryption",
                other,
            ));
        }
    };
    if algorithm == SseAlgorithm::Aes256 && (key.is_some() || context.is_some()) {
        return Err(S3Error::invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
            "x-amz-server-side-encryption",
            "AES256",
        ));
    }
    let extra_context = match &context {
        Some(c) => parse_context_header(c)?,
        None => Default::default(),
    };
    Ok((
        Some(SsePlan {
            algorithm,
            kms_key_id: key,
            bucket_key: false,
            extra_context,
            context_header: context,
        }),
        bucket_key,
    ))
}

/// Condition keys of a write: encryption, ACL, storage class, request tags.
fn write_context(call: &Call, tags: &[Tag]) -> Context {
    let mut ctx = Context::new();
    for (h, key) in [
        (
            "x-amz-server-side-encryption",
            "s3:x-amz-server-side-encryption",
        ),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
        ),
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        (
            "x-amz-website-redirect-location",
            "s3:x-amz-website-redirect-location",
        ),
    ] {
        if let Some(v) = header(call, h) {
            single(&mut ctx, key, v);
        }
    }
    request_tag_context(&mut ctx, tags);
    ctx
}

fn request_tag_context(ctx: &mut Context, tags: &[Tag]) {
    for t in tags {
        single(ctx, &format!("s3:RequestObjectTag/{}", t.key), &t.value);
    }
    if !tags.is_empty() {
        ctx.insert(
            "s3:RequestObjectTagKeys",
            ContextValue::Multi(tags.iter().map(|t| t.key.clone()).collect()),
        );
    }
}

fn existing_tag_context(ctx: &mut Context, tags: &[Tag]) {
    for t in tags {
        single(ctx, &format!("s3:ExistingObjectTag/{}", t.key), &t.value);
    }
}

/// The account that owns a new object under the bucket's ownership setting.
fn object_owner(bucket: &Bucket, call: &Call, acl: Option<&str>) -> String {
    let writer = if call.caller.is_anonymous() {
        "anonymous".to_string()
    } else {
        call.caller.account.clone()
    };
    match bucket.record.object_ownership() {
        ObjectOwnership::BucketOwnerEnforced => bucket.owner().to_string(),
        ObjectOwnership::BucketOwnerPreferred if acl == Some("bucket-owner-full-control") => {
            bucket.owner().to_string()
        }
        _ => writer,
    }
}

pub(crate) fn write_condition(call: &Call) -> Result<WriteCondition, S3Error> {
    let inm = header(call, "if-none-match");
    if let Some(v) = inm
        && v.trim() != "*"
    {
        return Err(S3Error::not_implemented(
            "If-None-Match on writes other than '*'",
        ));
    }
    Ok(WriteCondition {
        if_none_match_star: inm.is_some(),
        if_match: header(call, "if-match").map(str::to_string),
    })
}

/// Feeds a decoded upload body into an object writer: small bodies in place, large ones
/// through a blocking writer thread (encryption and file I/O off the executor), with at most a
/// few frames in flight. The payload is fully checked before the data is finished.
pub(crate) async fn pump(
    mut reader: PayloadReader,
    mut writer: ObjectWriter,
) -> Result<(Staged, PayloadSummary), S3Error> {
    if writer.size() <= INLINE_MAX {
        while let Some(b) = reader.next().await? {
            writer.write(&b)?;
        }
        let summary = reader.finish()?;
        return Ok((writer.finish()?, summary));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let handle = tokio::task::spawn_blocking(move || -> Result<ObjectWriter, S3Error> {
        while let Some(b) = rx.blocking_recv() {
            writer.write(&b)?;
        }
        Ok(writer)
    });
    let mut read_error = None;
    loop {
        match reader.next().await {
            Ok(Some(b)) => {
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = handle.await.map_err(S3Error::internal)?;
    if let Some(e) = read_error {
        return Err(e);
    }
    let writer = written?;
    let summary = reader.finish()?;
    let staged = tokio::task::spawn_blocking(move || writer.finish())
        .await
        .map_err(S3Error::internal)??;
    Ok((staged, summary))
}

fn checksum_of(summary: &PayloadSummary) -> Option<Checksum> {
    summary.checksum.as_ref().map(|(a, v)| Checksum {
        algorithm: *a,
        value: v.clone(),
        composite: false,
    })
}

/// Headers describing an object (GET and HEAD).
fn object_headers(
    v: &ObjectVersion,
    bucket: &Bucket,
    call: &Call,
    full: bool,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("etag".to_string(), v.quoted_etag()),
        ("last-modified".to_string(), http_date(v.last_modified_ms)),
        ("accept-ranges".to_string(), "bytes".to_string()),
    ];
    version_header(bucket, &v.version_id, &mut h);
    sse_headers(v, &mut h);
    let m = &v.meta;
    for (name, value) in [
        ("content-encoding", &m.content_encoding),
        ("content-disposition", &m.content_disposition),
        ("content-language", &m.content_language),
        ("cache-control", &m.cache_control),
        ("expires", &m.expires),
        ("x-amz-website-redirect-location", &m.website_redirect),
        ("x-amz-storage-class", &m.storage_class),
    ] {
        if let Some(value) = value {
            h.push((name.to_string(), value.clone()));
        }
    }
    for (k, value) in &m.user {
        h.push((format!("x-amz-meta-{k}"), value.clone()));
    }
    if full
        && header(call, "x-amz-checksum-mode").is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
        && let Some(c) = &v.checksum
    {
        h.push((c.algorithm.header().to_string(), c.value.clone()));
        h.push(("x-amz-checksum-type".to_string(), c.kind().to_string()));
    }
    h
}

fn etag_list_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// GET/HEAD conditions: `Some(status)` to answer 304 or 412 instead of the object.
fn evaluate_conditions(call: &Call, v: &ObjectVersion, prefix: &str) -> Result<(), S3Error> {
    let h = |n: &str| header(call, &format!("{prefix}{n}"));
    let modified_s = v.last_modified_ms / 1000;
    let failed = |cond: &str| {
        S3Error::new(
            Code::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", cond)
    };
    let not_modified = || S3Error::new(Code::NotModified, "Not Modified");
    let if_match = h("if-match");
    if let Some(m) = if_match {
        if !etag_list_matches(m, &v.etag) {
            return Err(failed("If-Match"));
        }
    } else if let Some(t) = h("if-unmodified-since").and_then(parse_http_date)
        && modified_s > t
    {
        return Err(failed("If-Unmodified-Since"));
    }
    let not_modified_err = |prefix: &str| {
        if prefix.is_empty() {
            not_modified()
        } else {
            failed("x-amz-copy-source-If-None-Match")
        }
    };
    if let Some(m) = h("if-none-match") {
        if etag_list_matches(m, &v.etag) {
            return Err(not_modified_err(prefix));
        }
    } else if let Some(t) = h("if-modified-since").and_then(parse_http_date)
        && modified_s <= t
    {
        return Err(not_modified_err(prefix));
    }
    Ok(())
}

/// A requested byte range, resolved against the object size: `None` for the whole object.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let unsatisfiable = || {
        S3Error::new(Code::InvalidRange, "The requested range is not satisfiable")
            .with("RangeRequested", value)
            .with("ActualObjectSize", size.to_string())
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        return Ok(Some((size.saturating_sub(n), size)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.saturating_add(1).min(size),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// A response body fed by blocking reader threads, the first piece already read. Reader `p`
/// of `n` sends batches `p`, `p + n`, ... on channel `p`; taking one buffer from each channel
/// in turn gives the range in order.
struct ObjectBody {
    first: Option<Bytes>,
    rx: Vec<tokio::sync::mpsc::Receiver<Result<Bytes, S3Error>>>,
    next: usize,
}

impl http_body::Body for ObjectBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        let this = &mut *self;
        let Some(rx) = this.rx.get_mut(this.next) else {
            return Poll::Ready(None);
        };
        // The reader whose turn it is has no more batches: the range is complete (a reader
        // that fails sends its error first).
        let polled = rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            this.next = (this.next + 1) % this.rx.len();
        }
        polled.map(|o| o.map(|r| r.map(Frame::data).map_err(|e| -> BoxError { Box::new(e) })))
    }
}

/// Ranges at least this long are decrypted by several threads at once.
const PARALLEL_READ: u64 = 4 << 20;

/// How many threads decrypt one large range: AES-GCM and the copy out of the page cache are
/// most of a large GET's work, and one thread doing them all is its bottleneck.
/// Asked once: the answer may come from reading cgroup files.
fn read_threads() -> u64 {
    static THREADS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *THREADS
        .get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u64))
}

/// Reads `[start, end)` of an object into a response body: in memory when small, otherwise
/// streamed from blocking threads. The first piece is read (and authenticated) before the
/// response starts, so a tampered object is an error answer, not a truncated one.
async fn body_of(reader: ObjectReader, start: u64, end: u64) -> Result<ReplyBody, S3Error> {
    if end - start <= SMALL_READ {
        return Ok(ReplyBody::Full(reader.read_to_bytes(start, end)?));
    }
    let stride = if end - start >= PARALLEL_READ {
        read_threads()
    } else {
        1
    };
    let reader = Arc::new(reader);
    let pool = BufferPool::default();
    let mut rx = Vec::new();
    for phase in 0..stride {
        // Two buffers in flight per thread: enough to keep the socket busy while the next
        // batch is decrypted, and a bound on the memory one GET holds.
        let (tx, r) = tokio::sync::mpsc::channel::<Result<Bytes, S3Error>>(2);
        rx.push(r);
        let (reader, pool) = (reader.clone(), pool.clone());
        tokio::task::spawn_blocking(move || {
            let stripe = Stripe { phase, stride };
            let result = reader.read_stripe(start, end, stripe, &pool, |b| {
                tx.blocking_send(Ok(b))
                    .map_err(|_| S3Error::new(Code::InternalError, "client went away"))
            });
            if let Err(e) = result
                && e.message != "client went away"
            {
                let _ = tx.blocking_send(Err(e));
            }
        });
    }
    match rx[0].recv().await {
        None => Ok(ReplyBody::Full(Bytes::new())),
        Some(Err(e)) => Err(e),
        Some(Ok(first)) => Ok(ReplyBody::stream(ObjectBody {
            first: Some(first),
            next: 1 % rx.len(),
            rx,
        })),
    }
}

/// `x-amz-copy-source`: `/bucket/key?versionId=v` (URL-encoded).
pub(crate) fn parse_copy_source(value: &str) -> Result<(String, String, Option<String>), S3Error> {
    let bad =
        || S3Error::invalid_argument("Invalid copy source object key", "x-amz-copy-source", value);
    let (path, query) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let version = match query {
        None => None,
        Some(q) => {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            match pairs.iter().find(|(k, _)| k == "versionId") {
                Some((_, v)) => Some(v.clone()),
                None => return Err(bad()),
            }
        }
    };
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad())?;
    let trimmed = decoded.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').ok_or_else(|| {
        S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            value,
        )
    })?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((bucket.to_string(), key.to_string(), version))
}

impl S3Service {
    pub(crate) fn prepare_object_op(
        &self,
        call: &Call,
        op: Op,
        target: &Target,
        q: &Query<'_>,
    ) -> Result<Prepared, S3Error> {
        let bucket = self.bucket_of(target)?;
        if op == Op::DeleteObjects {
            return self.prepare_delete_objects(call, bucket);
        }
        let key = target.key.clone().unwrap_or_default();
        validate_key(&key)?;
        let arn = object_arn(bucket.name(), &key);
        let version_id = q.get("versionId").map(str::to_string);
        let s3 = self.s3.clone();
        match op {
            Op::PutObject => self.prepare_put(call, bucket, key),
            Op::CopyObject => self.prepare_copy(call, bucket, key),
            Op::GetObject | Op::HeadObject => {
                self.prepare_get(call, op, bucket, key, version_id, q)
            }
            Op::DeleteObject => {
                let action = if version_id.is_some() {
                    "s3:DeleteObjectVersion"
                } else {
                    "s3:DeleteObject"
                };
                let check = self.check(call, action, arn, Some(&bucket), Context::new());
                Ok(prepared(op, vec![check], move |call| async move {
                    let out = s3
                        .delete_object(bucket.name(), &key, version_id.as_deref())
                        .await?;
                    let mut r = reply(&call, 204);
                    if out.delete_marker {
                        r.headers
                            .push(("x-amz-delete-marker".into(), "true".into()));
                    }
                    if let Some(v) = out.version_id {
                        r.headers.push(("x-amz-version-id".into(), v));
                    }
                    Ok(r)
                }))
            }
            Op::GetObjectTagging | Op::PutObjectTagging | Op::DeleteObjectTagging => {
                let existing = s3.get_version(bucket.name(), &key, version_id.as_deref());
                let mut ctx = Context::new();
                if let Ok(v) = &existing {
                    existing_tag_context(&mut ctx, &v.tags);
                }
                let versioned = version_id.is_some();
                let (action, new_tags) = match op {
                    Op::GetObjectTagging => (
                        if versioned {
                            "s3:GetObjectVersionTagging"
                        } else {
                            "s3:GetObjectTagging"
                        },
                        None,
                    ),
                    Op::PutObjectTagging => {
                        payload::verify_buffered(&call.headers, &call.body)?;
                        let tags = tags_from_xml(&call.body, true)?;
                        request_tag_context(&mut ctx, &tags);
                        (
                            if versioned {
                                "s3:PutObjectVersionTagging"
                            } else {
                                "s3:PutObjectTagging"
                            },
                            Some(tags),
                        )
                    }
                    _ => (
                        if versioned {
                            "s3:DeleteObjectVersionTagging"
                        } else {
                            "s3:DeleteObjectTagging"
                        },
                        Some(Vec::new()),
                    ),
                };
                let check = self.check(call, action, arn, Some(&bucket), ctx);
                Ok(prepared(op, vec![check], move |call| async move {
                    match new_tags {
                        None => {
                            let v = existing?;
                            let mut r = xml_reply(&call, tags_xml(&v.tags));
                            version_header(&bucket, &v.version_id, &mut r.headers);
                            Ok(r)
                        }
                        Some(tags) => {
                            let deleting = tags.is_empty() && op == Op::DeleteObjectTagging;
                            let vid = s3
                                .put_object_tags(
                                    bucket.name(),
                                    &key,
                                    version_id.as_deref(),
                                    Some(tags),
                                )
                                .await?;
                            let mut r = reply(&call, if deleting { 204 } else { 200 });
                            version_header(&bucket, &vid, &mut r.headers);
                            Ok(r)
                        }
                    }
                }))
            }
            Op::ObjectLockUnconfigured(name) => {
                let action = match name {
                    "GetObjectRetention" => "s3:GetObjectRetention",
                    "PutObjectRetention" => "s3:PutObjectRetention",
                    "GetObjectLegalHold" => "s3:GetObjectLegalHold",
                    _ => "s3:PutObjectLegalHold",
                };
                let check = self.check(call, action, arn, Some(&bucket), Context::new());
                Ok(prepared(op, vec![check], move |_call| async move {
                    Err(S3Error::missing_object_lock())
                }))
            }
            Op::GetObjectAttributes => self.prepare_attributes(call, bucket, key, version_id),
            Op::GetObjectAcl => {
                let action = if version_id.is_some() {
                    "s3:GetObjectVersionAcl"
                } else {
                    "s3:GetObjectAcl"
                };
                let check = self.check(call, action, arn, Some(&bucket), Context::new());
                Ok(prepared(op, vec![check], move |call| async move {
                    let v = s3.get_version(bucket.name(), &key, version_id.as_deref())?;
                    let id = airlock_s3::names::canonical_id(&v.owner);
                    let mut x = Xml::new();
                    x.open_ns("AccessControlPolicy", XMLNS)
                        .open("Owner")
                        .leaf("ID", &id)
                        .close("Owner");
                    x.open("AccessControlList").open("Grant");
                    x.raw("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
                    x.leaf("ID", &id)
                        .close("Grantee")
                        .leaf("Permission", "FULL_CONTROL")
                        .close("Grant");
                    x.close("AccessControlList").close("AccessControlPolicy");
                    Ok(xml_reply(&call, x.finish()))
                }))
            }
            Op::PutObjectAcl => {
                if bucket.record.acls_disabled() {
                    return Err(S3Error::acl_not_supported());
                }
                check_acl_headers(call, Some(&bucket), self.pab(&bucket))?;
                let action = if version_id.is_some() {
                    "s3:PutObjectVersionAcl"
                } else {
                    "s3:PutObjectAcl"
                };
                let check = self.check(call, action, arn, Some(&bucket), Context::new());
                Ok(prepared(op, vec![check], move |call| async move {
                    s3.get_version(bucket.name(), &key, version_id.as_deref())?;
                    Ok(reply(&call, 200))
                }))
            }
            other => Err(S3Error::internal(format!(
                "{} routed to object operations",
                other.name()
            ))),
        }
    }

    /// GetObjectAttributes: needs `s3:GetObject` and `s3:GetObjectAttributes` (the `Version`
    /// actions for a version id), as AWS documents.
    fn prepare_attributes(
        &self,
        call: &Call,
        bucket: Arc<Bucket>,
        key: String,
        version_id: Option<String>,
    ) -> Result<Prepared, S3Error> {
        const NAMES: [&str; 5] = [
            "ETag",
            "Checksum",
            "ObjectParts",
            "StorageClass",
            "ObjectSize",
        ];
        let mut wanted = [false; 5];
        for a in header(call, "x-amz-object-attributes")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            let i = NAMES.iter().position(|n| *n == a).ok_or_else(|| {
                S3Error::invalid_argument(
                    "Invalid attribute name specified.",
                    "x-amz-object-attributes",
                    a,
                )
            })?;
            wanted[i] = true;
        }
        if !wanted.contains(&true) {
            return Err(S3Error::invalid_argument(
                "Empty Object Attribute list",
                "x-amz-object-attributes",
                "",
            ));
        }
        let number = |name: &str, max: u32| -> Result<Option<u32>, S3Error> {
            header(call, name)
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n <= max)
                        .ok_or_else(|| {
                            S3Error::invalid_argument(
                                format!("Provided {name} not an integer or within integer range"),
                                name,
                                v,
                            )
                        })
                })
                .transpose()
        };
        let max_parts = number("x-amz-max-parts", i32::MAX as u32)?.unwrap_or(1000);
        let marker = number("x-amz-part-number-marker", i32::MAX as u32)?.unwrap_or(0);
        let versioned = version_id.is_some();
        let arn = object_arn(bucket.name(), &key);
        let found = self
            .s3
            .get_version(bucket.name(), &key, version_id.as_deref());
        let mut ctx = Context::new();
        if let Ok(v) = &found {
            existing_tag_context(&mut ctx, &v.tags);
        }
        let (get, attrs) = if versioned {
            ("s3:GetObjectVersion", "s3:GetObjectVersionAttributes")
        } else {
            ("s3:GetObject", "s3:GetObjectAttributes")
        };
        let checks = vec![
            self.check(call, get, arn.clone(), Some(&bucket), ctx.clone()),
            self.check(call, attrs, arn, Some(&bucket), ctx),
        ];
        let service = S3Service {
            s3: self.s3.clone(),
        };
        Ok(prepared(
            Op::GetObjectAttributes,
            checks,
            move |call| async move {
                let v = match found {
                    Ok(v) => v,
                    Err(e) => {
                        if e.code == Code::NoSuchKey && !service.may_list(&call, &bucket) {
                            return Err(S3Error::access_denied("Access Denied"));
                        }
                        return Err(e);
                    }
                };
                let mut x = Xml::new();
                x.open_ns("GetObjectAttributesResponse", XMLNS);
                if wanted[0] {
                    x.leaf("ETag", &v.etag);
                }
                if wanted[1]
                    && let Some(c) = &v.checksum
                {
                    x.open("Checksum")
                        .leaf(c.algorithm.element(), &c.value)
                        .leaf("ChecksumType", c.kind())
                        .close("Checksum");
                }
                if wanted[2]
                    && let Some(count) = v.parts_count
                {
                    x.open("ObjectParts").leaf("PartsCount", &count.to_string());
                    // Parts are listed only when they carry checksums, as on AWS.
                    let parts: Vec<_> = v
                        .segments
                        .iter()
                        .filter_map(|s| s.part.as_ref().map(|p| (p, s.len)))
                        .filter(|(p, _)| p.checksum.is_some() && p.number > marker)
                        .collect();
                    if let (Some(c), false) = (&v.checksum, parts.is_empty() && marker == 0) {
                        let truncated = parts.len() > max_parts as usize;
                        let shown = &parts[..parts.len().min(max_parts as usize)];
                        x.leaf("PartNumberMarker", &marker.to_string());
                        if let Some((last, _)) = shown.last() {
                            x.leaf("NextPartNumberMarker", &last.number.to_string());
                        }
                        x.leaf("MaxParts", &max_parts.to_string())
                            .leaf("IsTruncated", if truncated { "true" } else { "false" });
                        for (p, len) in shown {
                            x.open("Part")
                                .leaf("PartNumber", &p.number.to_string())
                                .leaf("Size", &len.to_string());
                            if let Some(sum) = &p.checksum {
                                x.leaf(c.algorithm.element(), sum);
                            }
                            x.close("Part");
                        }
                    }
                    x.close("ObjectParts");
                }
                if wanted[3] {
                    x.leaf(
                        "StorageClass",
                        v.meta.storage_class.as_deref().unwrap_or("STANDARD"),
                    );
                }
                if wanted[4] {
                    x.leaf("ObjectSize", &v.size.to_string());
                }
                x.close("GetObjectAttributesResponse");
                let mut r = xml_reply(&call, x.finish());
                r.headers
                    .push(("last-modified".into(), http_date(v.last_modified_ms)));
                version_header(&bucket, &v.version_id, &mut r.headers);
                Ok(r)
            },
        ))
    }

    fn prepare_put(
        &self,
        call: &Call,
        bucket: Arc<Bucket>,
        key: String,
    ) -> Result<Prepared, S3Error> {
        refuse_object_lock_headers(call)?;
        let acl = check_acl_headers(call, Some(&bucket), self.pab(&bucket))?;
        let meta = object_meta(call)?;
        let tags = match header(call, "x-amz-tagging") {
            Some(t) => tags_from_header(t)?,
            None => Vec::new(),
        };
        let (requested, bucket_key) = sse_request(call)?;
        let condition = write_condition(call)?;
        let spec = PayloadSpec::from_request(&call.headers, call.signature.as_ref())?;
        let arn = object_arn(bucket.name(), &key);
        let mut checks = vec![self.check(
            call,
            "s3:PutObject",
            arn.clone(),
            Some(&bucket),
            write_context(call, &tags),
        )];
        if !tags.is_empty() {
            let mut ctx = Context::new();
            request_tag_context(&mut ctx, &tags);
            checks.push(self.check(call, "s3:PutObjectTagging", arn.clone(), Some(&bucket), ctx));
        }
        if acl.is_some() && !bucket.record.acls_disabled() {
            checks.push(self.check(call, "s3:PutObjectAcl", arn, Some(&bucket), Context::new()));
        }
        let s3 = self.s3.clone();
        Ok(prepared(
            Op::PutObject,
            checks,
            move |mut call| async move {
                let owner = object_owner(&bucket, &call, acl.as_deref());
                let plan = s3.plan_encryption(&bucket.record, requested, bucket_key);
                let kms = kms_caller(&call, s3.region());
                let writer = s3.begin_write(
                    &kms,
                    &bucket.record,
                    &key,
                    spec.length,
                    &plan,
                    spec.md5.is_some(),
                )?;
                let body = call
                    .body_stream
                    .take()
                    .unwrap_or_else(|| crate::body::RequestBody::from_bytes(Bytes::new()));
                let explicit = spec.algorithm().is_some();
                let reader = PayloadReader::new(
                    body,
                    spec,
                    call.signature.as_ref(),
                    Some(ChecksumAlgorithm::Crc64Nvme),
                );
                let (staged, summary) = pump(reader, writer).await?;
                let checksum = checksum_of(&summary);
                let version = s3
                    .commit_object(
                        NewObject {
                            bucket: bucket.name().to_string(),
                            key,
                            owner,
                            meta,
                            tags,
                            checksum: checksum.clone(),
                            condition,
                        },
                        staged,
                        None,
                    )
                    .await?;
                let mut r = reply(&call, 200);
                r.headers.push(("etag".into(), version.quoted_etag()));
                version_header(&bucket, &version.version_id, &mut r.headers);
                sse_headers(&version, &mut r.headers);
                if let Some(c) = checksum.filter(|_| explicit) {
                    r.headers.push((c.algorithm.header().into(), c.value));
                    r.headers
                        .push(("x-amz-checksum-type".into(), "FULL_OBJECT".into()));
                }
                Ok(r)
            },
        ))
    }

    fn prepare_get(
        &self,
        call: &Call,
        op: Op,
        bucket: Arc<Bucket>,
        key: String,
        version_id: Option<String>,
        q: &Query<'_>,
    ) -> Result<Prepared, S3Error> {
        // A read cannot choose an encryption: S3 refuses the SSE-S3/SSE-KMS header there (only
        // SSE-C's key headers belong on a read).
        if let Some(v) = header(call, "x-amz-server-side-encryption") {
            return Err(S3Error::invalid_argument(
                "x-amz-server-side-encryption header is not supported for this operation.",
                "x-amz-server-side-encryption",
                v,
            ));
        }
        let action = if version_id.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        let found = self
            .s3
            .get_version(bucket.name(), &key, version_id.as_deref());
        let mut ctx = Context::new();
        if let Ok(v) = &found {
            existing_tag_context(&mut ctx, &v.tags);
        }
        let arn = object_arn(bucket.name(), &key);
        let check = self.check(call, action, arn, Some(&bucket), ctx);
        let part_number = match q.get("partNumber") {
            None => None,
            Some(p) => Some(
                p.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        S3Error::invalid_argument(
                            "Part number must be an integer between 1 and 10000, inclusive",
                            "partNumber",
                            p,
                        )
                    })?,
            ),
        };
        let overrides: Vec<(&'static str, String)> = [
            ("response-content-type", "content-type"),
            ("response-content-language", "content-language"),
            ("response-expires", "expires"),
            ("response-cache-control", "cache-control"),
            ("response-content-disposition", "content-disposition"),
            ("response-content-encoding", "content-encoding"),
        ]
        .into_iter()
        .filter_map(|(p, h)| q.get(p).map(|v| (h, v.to_string())))
        .collect();
        let service = S3Service {
            s3: self.s3.clone(),
        };
        Ok(prepared(op, vec![check], move |call| async move {
            let s3 = &service.s3;
            let head = op == Op::HeadObject;
            let v = match found {
                Ok(v) => v,
                Err(mut e) => {
                    // Without s3:ListBucket a missing key is indistinguishable from a denial.
                    if e.code == Code::NoSuchKey && !service.may_list(&call, &bucket) {
                        return Err(S3Error::access_denied("Access Denied"));
                    }
                    if head && e.code == Code::MethodNotAllowed {
                        e.fields.retain(|(k, _)| *k != "Method");
                        e.fields.insert(0, ("Method", "HEAD".into()));
                    }
                    return Err(e);
                }
            };
            if matches!(
                v.meta.storage_class.as_deref(),
                Some("GLACIER" | "DEEP_ARCHIVE")
            ) && !head
            {
                return Err(S3Error::new(
                    Code::InvalidObjectState,
                    "The operation is not valid for the object's storage class",
                )
                .with(
                    "StorageClass",
                    v.meta.storage_class.clone().unwrap_or_default(),
                ));
            }
            match evaluate_conditions(&call, &v, "") {
                Ok(()) => {}
                Err(e) if e.code == Code::NotModified => {
                    let mut r = reply(&call, 304);
                    r.headers.push(("etag".into(), v.quoted_etag()));
                    r.headers
                        .push(("last-modified".into(), http_date(v.last_modified_ms)));
                    return Ok(r);
                }
                Err(e) => return Err(e),
            }
            // The part or range to answer.
            let mut range = None;
            let mut parts_count = None;
            if let Some(n) = part_number {
                let count = v.parts_count.unwrap_or(1);
                if n > count {
                    return Err(S3Error::new(
                        Code::InvalidPartNumber,
                        "The requested partnumber is not satisfiable",
                    )
                    .with("PartNumberRequested", n.to_string())
                    .with("ActualPartCount", count.to_string()));
                }
                if v.parts_count.is_some() {
                    let mut offset = 0;
                    for s in &v.segments {
                        if s.part.as_ref().is_some_and(|p| p.number == n) {
                            range = Some((offset, offset + s.len));
                        }
                        offset += s.len;
                    }
                    parts_count = Some(count);
                }
            } else if let Some(r) = header(&call, "range") {
                range = parse_range(r, v.size)?;
            }
            let full = range.is_none();
            let (start, end) = range.unwrap_or((0, v.size));
            let mut r = reply(&call, if full { 200 } else { 206 });
            r.content_type = v
                .meta
                .content_type
                .clone()
                .unwrap_or_else(|| "binary/octet-stream".into());
            r.headers.extend(object_headers(&v, &bucket, &call, full));
            if !full {
                r.headers.push((
                    "content-range".into(),
                    format!("bytes {start}-{}/{}", end.saturating_sub(1), v.size),
                ));
            }
            if let Some(n) = parts_count {
                r.headers
                    .push(("x-amz-mp-parts-count".into(), n.to_string()));
            }
            if !head && !v.tags.is_empty() {
                r.headers
                    .push(("x-amz-tagging-count".into(), v.tags.len().to_string()));
            }
            for (h, value) in &overrides {
                if *h == "content-type" {
                    r.content_type = value.clone();
                } else {
                    r.headers.retain(|(k, _)| k != h);
                    r.headers.push((h.to_string(), value.clone()));
                }
            }
            r.headers
                .push(("content-length".into(), (end - start).to_string()));
            if head {
                return Ok(r);
            }
            let kms = kms_caller(&call, s3.region());
            let (opened, reader) = s3.open_version(&kms, bucket.name(), &v)?;
            if opened.etag != v.etag || opened.size != v.size {
                // Replaced between lookup and open (a `null` version overwritten): answer the
                // version actually read, as a fresh request would.
                return Err(S3Error::new(
                    Code::InternalError,
                    "We encountered an internal error. Please try again.",
                ));
            }
            r.body = body_of(reader, start, end).await?;
            Ok(r)
        }))
    }

    fn prepare_copy(
        &self,
        call: &Call,
        bucket: Arc<Bucket>,
        key: String,
    ) -> Result<Prepared, S3Error> {
        refuse_object_lock_headers(call)?;
        let source = header(call, "x-amz-copy-source").unwrap_or_default();
        let (src_bucket_name, src_key, src_version) = parse_copy_source(source)?;
        let src_bucket = self.s3.existing_bucket(&src_bucket_name)?;
        let acl = check_acl_headers(call, Some(&bucket), self.pab(&bucket))?;
        let directive = match header(call, "x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(S3Error::invalid_argument(
                    "Unknown metadata directive.",
                    "x-amz-metadata-directive",
                    other,
                ));
            }
        };
        let tag_directive = match header(call, "x-amz-tagging-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(other) => {
                return Err(S3Error::invalid_argument(
                    "Unknown tagging directive.",
                    "x-amz-tagging-directive",
                    other,
                ));
            }
        };
        let new_meta = object_meta(call)?;
        let new_tags = match header(call, "x-amz-tagging") {
            Some(t) => tags_from_header(t)?,
            None => Vec::new(),
        };
        let (requested, bucket_key) = sse_request(call)?;
        let condition = write_condition(call)?;
        let checksum_alg = match header(call, "x-amz-checksum-algorithm") {
            None => None,
            Some(a) => Some(ChecksumAlgorithm::parse(a).ok_or_else(|| {
                S3Error::invalid_argument(
                    "Invalid checksum algorithm",
                    "x-amz-checksum-algorithm",
                    a,
                )
            })?),
        };
        let src_action = if src_version.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        let src_found = self
            .s3
            .get_version(&src_bucket_name, &src_key, src_version.as_deref());
        let mut src_ctx = Context::new();
        if let Ok(v) = &src_found {
            existing_tag_context(&mut src_ctx, &v.tags);
        }
        let mut checks = vec![
            self.check(
                call,
                src_action,
                object_arn(&src_bucket_name, &src_key),
                Some(&src_bucket),
                src_ctx,
            ),
            self.check(
                call,
                "s3:PutObject",
                object_arn(bucket.name(), &key),
                Some(&bucket),
                write_context(call, &new_tags),
            ),
        ];
        if tag_directive && !new_tags.is_empty() {
            let mut ctx = Context::new();
            request_tag_context(&mut ctx, &new_tags);
            checks.push(self.check(
                call,
                "s3:PutObjectTagging",
                object_arn(bucket.name(), &key),
                Some(&bucket),
                ctx,
            ));
        }
        let s3 = self.s3.clone();
        Ok(prepared(Op::CopyObject, checks, move |call| async move {
            let src = src_found?;
            evaluate_conditions(&call, &src, "x-amz-copy-source-")?;
            let same = src_bucket.name() == bucket.name() && src.key == key;
            if same
                && !directive
                && requested.is_none()
                && header(&call, "x-amz-storage-class").is_none()
                && header(&call, "x-amz-website-redirect-location").is_none()
            {
                return Err(S3Error::invalid_request(
                    "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
                ));
            }
            let meta = if directive {
                new_meta
            } else {
                let mut m = src.meta.clone();
                if let Some(sc) = new_meta.storage_class.clone() {
                    m.storage_class = Some(sc);
                }
                m
            };
            let tags = if tag_directive {
                new_tags
            } else {
                src.tags.clone()
            };
            let plan = s3.plan_encryption(&bucket.record, requested, bucket_key);
            let kms = kms_caller(&call, s3.region());
            let (_, reader) =
                s3.open_object(&kms, src_bucket.name(), &src.key, Some(&src.version_id))?;
            let writer = s3.begin_write(&kms, &bucket.record, &key, src.size, &plan, false)?;
            let reuse = src
                .checksum
                .clone()
                .filter(|c| !c.composite && checksum_alg.is_none_or(|a| a == c.algorithm));
            let alg = checksum_alg.unwrap_or(ChecksumAlgorithm::Crc64Nvme);
            let size = src.size;
            let (staged, computed) = tokio::task::spawn_blocking(
                move || -> Result<(Staged, Option<Checksum>), S3Error> {
                    let mut writer = writer;
                    let mut hasher = if reuse.is_none() {
                        Some(Hasher::new(alg))
                    } else {
                        None
                    };
                    reader.read_range(0, size, |b| {
                        if let Some(h) = &mut hasher {
                            h.update(b);
                        }
                        writer.write(b)
                    })?;
                    let staged = writer.finish()?;
                    let checksum = match (reuse, hasher) {
                        (Some(c), _) => Some(c),
                        (None, Some(h)) => Some(Checksum {
                            algorithm: alg,
                            value: h.finish_base64(),
                            composite: false,
                        }),
                        _ => None,
                    };
                    Ok((staged, checksum))
                },
            )
            .await
            .map_err(S3Error::internal)??;
            let owner = object_owner(&bucket, &call, acl.as_deref());
            let version = s3
                .commit_object(
                    NewObject {
                        bucket: bucket.name().to_string(),
                        key,
                        owner,
                        meta,
                        tags,
                        checksum: computed.clone(),
                        condition,
                    },
                    staged,
                    None,
                )
                .await?;
            let mut x = Xml::new();
            x.open_ns("CopyObjectResult", XMLNS);
            x.leaf("ETag", &version.quoted_etag())
                .leaf("LastModified", &iso8601_ms(version.last_modified_ms));
            if let Some(c) = &computed {
                x.leaf(c.algorithm.element(), &c.value);
                x.leaf("ChecksumType", c.kind());
            }
            x.close("CopyObjectResult");
            let mut r = xml_reply(&call, x.finish());
            version_header(&bucket, &version.version_id, &mut r.headers);
            if src.version_id != "null"
                || src_bucket.record.versioning != airlock_s3::model::Versioning::Unversioned
            {
                r.headers.push((
                    "x-amz-copy-source-version-id".into(),
                    src.version_id.clone(),
                ));
            }
            sse_headers(&version, &mut r.headers);
            Ok(r)
        }))
    }

    fn prepare_delete_objects(
        &self,
        call: &Call,
        bucket: Arc<Bucket>,
    ) -> Result<Prepared, S3Error> {
        if payload::content_md5(&call.headers)?.is_none()
            && payload::checksum_header(&call.headers)?.is_none()
        {
            return Err(S3Error::invalid_request(
                "Missing required header for this request: Content-MD5",
            ));
        }
        payload::verify_buffered(&call.headers, &call.body)?;
        let root = xml::parse_root(&call.body, "Delete")?;
        let quiet = root
            .text_of("Quiet")
            .map(xml::parse_bool)
            .transpose()?
            .unwrap_or(false);
        let mut objects = Vec::new();
        for o in root.all("Object") {
            let key = o
                .child("Key")
                .ok_or_else(S3Error::malformed_xml)?
                .text
                .clone();
            let version = o
                .text_of("VersionId")
                .filter(|v| !v.is_empty())
                .map(str::to_string);
            objects.push((key, version));
        }
        if objects.is_empty() || objects.len() > 1000 {
            return Err(S3Error::malformed_xml());
        }
        // Each key is authorized on its own when the batch runs (a denied key is an <Error>).
        let checks_per_key: Vec<_> = objects
            .iter()
            .map(|(k, v)| {
                let action = if v.is_some() {
                    "s3:DeleteObjectVersion"
                } else {
                    "s3:DeleteObject"
                };
                self.check(
                    call,
                    action,
                    object_arn(bucket.name(), k),
                    Some(&bucket),
                    Context::new(),
                )
            })
            .collect();
        let s3 = self.s3.clone();
        Ok(prepared(
            Op::DeleteObjects,
            Vec::new(),
            move |call| async move {
                let mut x = Xml::new();
                x.open_ns("DeleteResult", XMLNS);
                for ((key, version), check) in objects.into_iter().zip(checks_per_key) {
                    let error = |x: &mut Xml, code: &str, message: &str| {
                        x.open("Error").leaf("Key", &key);
                        x.opt("VersionId", version.as_deref());
                        x.leaf("Code", code).leaf("Message", message).close("Error");
                    };
                    if let Err(e) = validate_key(&key) {
                        error(&mut x, e.code.as_str(), &e.message);
                        continue;
                    }
                    let eval = crate::authz::authorize(&call, &check);
                    if !eval.decision.is_allowed() {
                        tracing::info!(
                            target: "airlock::request",
                            request_id = %call.request_id,
                            action = %check.action,
                            resource = %check.resource.arn,
                            decision = "deny",
                            explanation = %serde_json::to_string(&eval.explanation).unwrap_or_default(),
                            "s3 DeleteObjects entry denied"
                        );
                        error(&mut x, "AccessDenied", "Access Denied");
                        continue;
                    }
                    match s3
                        .delete_object(bucket.name(), &key, version.as_deref())
                        .await
                    {
                        Ok(out) => {
                            if !quiet {
                                x.open("Deleted").leaf("Key", &key);
                                x.opt("VersionId", version.as_deref());
                                if out.delete_marker {
                                    x.leaf("DeleteMarker", "true");
                                    if version.is_none() {
                                        x.opt("DeleteMarkerVersionId", out.version_id.as_deref());
                                    }
                                }
                                x.close("Deleted");
                            }
                        }
                        Err(e) => error(&mut x, e.code.as_str(), &e.message),
                    }
                }
                x.close("DeleteResult");
                Ok(xml_reply(&call, x.finish()))
            },
        ))
    }
}

/// Opens an upload part's source range for `UploadPartCopy`.
pub(crate) fn copy_range(call: &Call, size: u64) -> Result<(u64, u64), S3Error> {
    match header(call, "x-amz-copy-source-range") {
        None => Ok((0, size)),
        Some(r) => {
            let bad = || {
                S3Error::invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                    "x-amz-copy-source-range",
                    r,
                )
            };
            let spec = r.trim().strip_prefix("bytes=").ok_or_else(bad)?;
            let (a, b) = spec.split_once('-').ok_or_else(bad)?;
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if b < a {
                return Err(bad());
            }
            if b >= size {
                return Err(S3Error::new(
                    Code::InvalidRange,
                    "The requested range is not satisfiable",
                )
                .with("RangeRequested", r)
                .with("ActualObjectSize", size.to_string()));
            }
            Ok((a, b + 1))
        }
    }
}

/// Evaluates `x-amz-copy-source-if-*` for a part copy.
pub(crate) fn copy_conditions(call: &Call, v: &ObjectVersion) -> Result<(), S3Error> {
    evaluate_conditions(call, v, "x-amz-copy-source-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), Some((95, 100)));
        assert_eq!(
            parse_range("bytes=100-", 100).unwrap_err().code,
            Code::InvalidRange
        );
        assert_eq!(parse_range("bytes=5-2", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
    }

    #[test]
    fn copy_sources() {
        assert_eq!(
            parse_copy_source("/b/k%20x").unwrap(),
            ("b".into(), "k x".into(), None)
        );
        assert_eq!(
            parse_copy_source("b/a/b?versionId=v1").unwrap(),
            ("b".into(), "a/b".into(), Some("v1".into()))
        );
        assert!(parse_copy_source("b").is_err());
        assert!(parse_copy_source("/b/").is_err());
    }

    proptest! {
        #[test]
        fn header_parsers_never_panic(s in ".*", size in 0u64..1_000_000) {
            let _ = parse_range(&s, size);
            let _ = parse_copy_source(&s);
        }
    }
}
