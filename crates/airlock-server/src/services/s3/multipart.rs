//! Multipart uploads over REST-XML: create, upload part (streamed), upload part copy,
//! complete, abort, list parts, list uploads.

use std::sync::Arc;

use airlock_policy::{Context, ContextValue};
use airlock_s3::checksum::{ChecksumAlgorithm, Hasher};
use airlock_s3::multipart::{CompletedPart, Completion, NewUpload};
use airlock_s3::names::{canonical_id, object_arn, validate_key};
use airlock_s3::objects::Staged;
use airlock_s3::{Bucket, S3Error};
use bytes::Bytes;

use super::bucket::check_acl_headers;
use super::object::{
    copy_conditions, copy_range, object_meta, parse_copy_source, pump, refuse_object_lock_headers,
    sse_request, write_condition,
};
use super::payload::{PayloadReader, PayloadSpec};
use super::request::{Op, Target};
use super::xml::{self, XMLNS, iso8601_ms};
use super::{
    Query, S3Service, header, kms_caller, prepared, reply, sse_headers, tags_from_header,
    version_header, xml_reply,
};
use crate::service::{Call, Prepared};
use crate::xml::Xml;

fn single(ctx: &mut Context, key: &str, value: &str) {
    ctx.insert(key, ContextValue::Single(value.to_string()));
}

fn part_number(q: &Query<'_>) -> Result<u32, S3Error> {
    let raw = q.get("partNumber").unwrap_or("");
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                raw,
            )
        })
}

fn upload_sse_headers(u: &airlock_s3::model::UploadRecord, out: &mut Vec<(String, String)>) {
    let fake = airlock_s3::model::ObjectVersion {
        key: String::new(),
        version_id: String::new(),
        seq: 0,
        delete_marker: false,
        last_modified_ms: 0,
        size: 0,
        etag: String::new(),
        owner: String::new(),
        meta: Default::default(),
        tags: Vec::new(),
        sse: Some(u.sse.clone()),
        checksum: None,
        segments: Vec::new(),
        parts_count: None,
    };
    sse_headers(&fake, out);
}

impl S3Service {
    pub(crate) fn prepare_multipart_op(
        &self,
        call: &Call,
        op: Op,
        target: &Target,
        q: &Query<'_>,
    ) -> Result<Prepared, S3Error> {
        let bucket = self.bucket_of(target)?;
        let s3 = self.s3.clone();
        if op == Op::ListMultipartUploads {
            let mut ctx = Context::new();
            for (p, k) in [
                ("prefix", "s3:prefix"),
                ("delimiter", "s3:delimiter"),
                ("max-uploads", "s3:max-uploads"),
            ] {
                if let Some(v) = q.get(p) {
                    single(&mut ctx, k, v);
                }
            }
            let check = self.check(
                call,
                "s3:ListBucketMultipartUploads",
                bucket.arn(),
                Some(&bucket),
                ctx,
            );
            let prefix = q.get("prefix").unwrap_or("").to_string();
            let delimiter = q
                .get("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_string);
            let e = super::bucket::Encoder::from_query(q)?;
            let key_marker = q.get("key-marker").map(str::to_string);
            let upload_marker = q.get("upload-id-marker").map(str::to_string);
            let max = match q.get("max-uploads") {
                None => 1000,
                Some(v) => v.parse::<usize>().map(|n| n.min(1000)).map_err(|_| {
                    S3Error::invalid_argument(
                        "Provided max-uploads not an integer or within integer range",
                        "max-uploads",
                        v,
                    )
                })?,
            };
            return Ok(prepared(op, vec![check], move |call| async move {
                let page = s3.list_uploads(
                    bucket.name(),
                    &prefix,
                    delimiter.as_deref(),
                    key_marker.as_deref(),
                    upload_marker.as_deref(),
                    max,
                )?;
                let mut x = Xml::new();
                x.open_ns("ListMultipartUploadsResult", XMLNS);
                x.leaf("Bucket", bucket.name());
                x.leaf("KeyMarker", &e.enc(key_marker.as_deref().unwrap_or("")));
                x.leaf("UploadIdMarker", upload_marker.as_deref().unwrap_or(""));
                x.opt(
                    "NextKeyMarker",
                    page.next_key_marker.as_deref().map(|k| e.enc(k)).as_deref(),
                );
                x.opt("NextUploadIdMarker", page.next_upload_id_marker.as_deref());
                x.leaf("Prefix", &e.enc(&prefix));
                x.opt(
                    "Delimiter",
                    delimiter.as_deref().map(|d| e.enc(d)).as_deref(),
                );
                x.leaf("MaxUploads", &max.to_string());
                if e.on() {
                    x.leaf("EncodingType", "url");
                }
                x.leaf("IsTruncated", &page.truncated.to_string());
                for u in &page.uploads {
                    x.open("Upload")
                        .leaf("Key", &e.enc(&u.key))
                        .leaf("UploadId", &u.upload_id);
                    x.open("Initiator")
                        .leaf("ID", &u.initiator_arn)
                        .leaf("DisplayName", &u.initiator_arn)
                        .close("Initiator");
                    x.open("Owner")
                        .leaf("ID", &canonical_id(&u.owner))
                        .close("Owner");
                    x.leaf(
                        "StorageClass",
                        u.meta.storage_class.as_deref().unwrap_or("STANDARD"),
                    );
                    x.leaf("Initiated", &iso8601_ms(u.initiated_ms));
                    if let Some(a) = u.checksum_algorithm {
                        x.leaf("ChecksumAlgorithm", a.as_str());
                        x.leaf(
                            "ChecksumType",
                            if u.checksum_full_object {
                                "FULL_OBJECT"
                            } else {
                                "COMPOSITE"
                            },
                        );
                    }
                    x.close("Upload");
                }
                for p in &page.prefixes {
                    x.open("CommonPrefixes")
                        .leaf("Prefix", &e.enc(p))
                        .close("CommonPrefixes");
                }
                x.close("ListMultipartUploadsResult");
                Ok(xml_reply(&call, x.finish()))
            }));
        }
        let key = target.key.clone().unwrap_or_default();
        validate_key(&key)?;
        let arn = object_arn(bucket.name(), &key);
        match op {
            Op::CreateMultipartUpload => self.prepare_create_upload(call, bucket, key),
            Op::UploadPart => {
                let number = part_number(q)?;
                let upload_id = q.get("uploadId").unwrap_or("").to_string();
                let spec = PayloadSpec::from_request(&call.headers, call.signature.as_ref())?;
                let check = self.check(call, "s3:PutObject", arn, Some(&bucket), Context::new());
                Ok(prepared(op, vec![check], move |mut call| async move {
                    let upload = s3.upload(bucket.name(), &key, &upload_id)?;
                    if let (Some(alg), Some(stated)) = (upload.checksum_algorithm, spec.algorithm())
                        && alg != stated
                    {
                        return Err(S3Error::invalid_request(format!(
                            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                            alg.as_str().to_ascii_lowercase(),
                            stated.as_str().to_ascii_lowercase()
                        )));
                    }
                    let kms = kms_caller(&call, s3.region());
                    let writer =
                        s3.begin_part(&kms, &upload, number, spec.length, spec.md5.is_some())?;
                    let body = call
                        .body_stream
                        .take()
                        .unwrap_or_else(|| crate::body::RequestBody::from_bytes(Bytes::new()));
                    let explicit = spec.algorithm().is_some();
                    let reader = PayloadReader::new(
                        body,
                        spec,
                        call.signature.as_ref(),
                        upload.checksum_algorithm,
                    );
                    let (staged, summary) = pump(reader, writer).await?;
                    let checksum = summary.checksum.clone();
                    let part = s3
                        .commit_part(
                            &upload,
                            number,
                            staged,
                            checksum.as_ref().map(|(_, v)| v.clone()),
                        )
                        .await?;
                    let mut r = reply(&call, 200);
                    r.headers
                        .push(("etag".into(), format!("\"{}\"", part.etag)));
                    upload_sse_headers(&upload, &mut r.headers);
                    if let Some((alg, v)) =
                        checksum.filter(|_| explicit || upload.checksum_algorithm.is_some())
                    {
                        r.headers.push((alg.header().into(), v));
                    }
                    Ok(r)
                }))
            }
            Op::UploadPartCopy => {
                let number = part_number(q)?;
                let upload_id = q.get("uploadId").unwrap_or("").to_string();
                let source = header(call, "x-amz-copy-source").unwrap_or_default();
                let (src_bucket_name, src_key, src_version) = parse_copy_source(source)?;
                let src_bucket: Arc<Bucket> = s3.existing_bucket(&src_bucket_name)?;
                let src_found = s3.get_version(&src_bucket_name, &src_key, src_version.as_deref());
                let src_action = if src_version.is_some() {
                    "s3:GetObjectVersion"
                } else {
                    "s3:GetObject"
                };
                let checks = vec![
                    self.check(
                        call,
                        src_action,
                        object_arn(&src_bucket_name, &src_key),
                        Some(&src_bucket),
                        Context::new(),
                    ),
                    self.check(call, "s3:PutObject", arn, Some(&bucket), Context::new()),
                ];
                Ok(prepared(op, checks, move |call| async move {
                    let upload = s3.upload(bucket.name(), &key, &upload_id)?;
                    let src = src_found?;
                    copy_conditions(&call, &src)?;
                    let (start, end) = copy_range(&call, src.size)?;
                    let kms = kms_caller(&call, s3.region());
                    let (_, reader) =
                        s3.open_object(&kms, src_bucket.name(), &src.key, Some(&src.version_id))?;
                    let writer = s3.begin_part(&kms, &upload, number, end - start, false)?;
                    let alg = upload.checksum_algorithm;
                    let (staged, checksum) = tokio::task::spawn_blocking(
                        move || -> Result<(Staged, Option<String>), S3Error> {
                            let mut writer = writer;
                            let mut h = alg.map(Hasher::new);
                            reader.read_range(start, end, |b| {
                                if let Some(h) = &mut h {
                                    h.update(b);
                                }
                                writer.write(b)
                            })?;
                            Ok((writer.finish()?, h.map(Hasher::finish_base64)))
                        },
                    )
                    .await
                    .map_err(S3Error::internal)??;
                    let part = s3
                        .commit_part(&upload, number, staged, checksum.clone())
                        .await?;
                    let mut x = Xml::new();
                    x.open_ns("CopyPartResult", XMLNS);
                    x.leaf("ETag", &format!("\"{}\"", part.etag))
                        .leaf("LastModified", &iso8601_ms(part.last_modified_ms));
                    if let (Some(a), Some(c)) = (alg, &checksum) {
                        x.leaf(a.element(), c);
                    }
                    x.close("CopyPartResult");
                    let mut r = xml_reply(&call, x.finish());
                    if src.version_id != "null" {
                        r.headers.push((
                            "x-amz-copy-source-version-id".into(),
                            src.version_id.clone(),
                        ));
                    }
                    upload_sse_headers(&upload, &mut r.headers);
                    Ok(r)
                }))
            }
            Op::CompleteMultipartUpload => {
                let upload_id = q.get("uploadId").unwrap_or("").to_string();
                // The x-amz-checksum-* header of a completion states the object's checksum,
                // not the body's: only Content-MD5 covers the body.
                super::payload::verify_md5(&call.headers, &call.body)?;
                let stated = super::payload::object_checksum_header(&call.headers)?;
                let full_object = match header(call, "x-amz-checksum-type") {
                    None => None,
                    Some(t) if t.eq_ignore_ascii_case("FULL_OBJECT") => Some(true),
                    Some(t) if t.eq_ignore_ascii_case("COMPOSITE") => Some(false),
                    Some(_) => {
                        return Err(S3Error::invalid_request(
                            "Value for x-amz-checksum-type header is invalid.",
                        ));
                    }
                };
                let object_size = match header(call, "x-amz-mp-object-size") {
                    None => None,
                    Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                        S3Error::invalid_argument(
                            "The x-amz-mp-object-size header is invalid.",
                            "x-amz-mp-object-size",
                            v,
                        )
                    })?),
                };
                let root = xml::parse_root(&call.body, "CompleteMultipartUpload")?;
                let mut parts = Vec::new();
                for p in root.all("Part") {
                    let number = p
                        .text_of("PartNumber")
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(S3Error::malformed_xml)?;
                    let etag = p
                        .text_of("ETag")
                        .ok_or_else(S3Error::malformed_xml)?
                        .to_string();
                    let checksum = ChecksumAlgorithm::ALL
                        .iter()
                        .find_map(|a| p.text_of(a.element()).map(str::to_string));
                    parts.push(CompletedPart {
                        number,
                        etag,
                        checksum,
                    });
                }
                // As on PutObject: `If-None-Match` other than `*` is 501, not ignored.
                let condition = write_condition(call)?;
                let check = self.check(call, "s3:PutObject", arn, Some(&bucket), Context::new());
                Ok(prepared(op, vec![check], move |call| async move {
                    let v = s3
                        .complete_upload(Completion {
                            bucket: bucket.name().to_string(),
                            key: key.clone(),
                            upload_id,
                            parts,
                            condition,
                            checksum: stated,
                            full_object,
                            object_size,
                            caller: call.caller.arn.clone(),
                        })
                        .await?;
                    let mut x = Xml::new();
                    x.open_ns("CompleteMultipartUploadResult", XMLNS);
                    let host = header(&call, "host").unwrap_or("localhost");
                    let scheme = if call.origin.tls { "https" } else { "http" };
                    x.leaf(
                        "Location",
                        &format!("{scheme}://{host}/{}/{}", bucket.name(), key),
                    );
                    x.leaf("Bucket", bucket.name())
                        .leaf("Key", &key)
                        .leaf("ETag", &v.quoted_etag());
                    if let Some(c) = &v.checksum {
                        x.leaf(c.algorithm.element(), &c.value);
                        x.leaf("ChecksumType", c.kind());
                    }
                    x.close("CompleteMultipartUploadResult");
                    let mut r = xml_reply(&call, x.finish());
                    version_header(&bucket, &v.version_id, &mut r.headers);
                    sse_headers(&v, &mut r.headers);
                    Ok(r)
                }))
            }
            Op::AbortMultipartUpload => {
                let upload_id = q.get("uploadId").unwrap_or("").to_string();
                let check = self.check(
                    call,
                    "s3:AbortMultipartUpload",
                    arn,
                    Some(&bucket),
                    Context::new(),
                );
                Ok(prepared(op, vec![check], move |call| async move {
                    s3.abort_upload(bucket.name(), &key, &upload_id).await?;
                    Ok(reply(&call, 204))
                }))
            }
            Op::ListParts => {
                let upload_id = q.get("uploadId").unwrap_or("").to_string();
                let marker: u32 = match q.get("part-number-marker") {
                    None => 0,
                    Some(m) => m.parse().map_err(|_| {
                        S3Error::invalid_argument(
                            "Provided part-number-marker not an integer",
                            "part-number-marker",
                            m,
                        )
                    })?,
                };
                let max: usize = match q.get("max-parts") {
                    None => 1000,
                    Some(m) => m.parse::<usize>().map(|n| n.min(1000)).map_err(|_| {
                        S3Error::invalid_argument(
                            "Provided max-parts not an integer or within integer range",
                            "max-parts",
                            m,
                        )
                    })?,
                };
                let check = self.check(
                    call,
                    "s3:ListMultipartUploadParts",
                    arn,
                    Some(&bucket),
                    Context::new(),
                );
                Ok(prepared(op, vec![check], move |call| async move {
                    let upload = s3.upload(bucket.name(), &key, &upload_id)?;
                    let (parts, truncated) = s3.list_parts(&upload_id, marker, max)?;
                    let mut x = Xml::new();
                    x.open_ns("ListPartsResult", XMLNS);
                    x.leaf("Bucket", bucket.name())
                        .leaf("Key", &key)
                        .leaf("UploadId", &upload_id);
                    x.leaf("PartNumberMarker", &marker.to_string());
                    if let Some(last) = parts.last() {
                        x.leaf("NextPartNumberMarker", &last.number.to_string());
                    }
                    x.leaf("MaxParts", &max.to_string())
                        .leaf("IsTruncated", &truncated.to_string());
                    for p in &parts {
                        x.open("Part").leaf("PartNumber", &p.number.to_string());
                        x.leaf("LastModified", &iso8601_ms(p.last_modified_ms));
                        x.leaf("ETag", &format!("\"{}\"", p.etag))
                            .leaf("Size", &p.size.to_string());
                        if let (Some(a), Some(c)) = (upload.checksum_algorithm, &p.checksum) {
                            x.leaf(a.element(), c);
                        }
                        x.close("Part");
                    }
                    x.open("Initiator")
                        .leaf("ID", &upload.initiator_arn)
                        .leaf("DisplayName", &upload.initiator_arn)
                        .close("Initiator");
                    x.open("Owner")
                        .leaf("ID", &canonical_id(&upload.owner))
                        .close("Owner");
                    x.leaf(
                        "StorageClass",
                        upload.meta.storage_class.as_deref().unwrap_or("STANDARD"),
                    );
                    if let Some(a) = upload.checksum_algorithm {
                        x.leaf("ChecksumAlgorithm", a.as_str());
                        x.leaf(
                            "ChecksumType",
                            if upload.checksum_full_object {
                                "FULL_OBJECT"
                            } else {
                                "COMPOSITE"
                            },
                        );
                    }
                    x.close("ListPartsResult");
                    Ok(xml_reply(&call, x.finish()))
                }))
            }
            other => Err(S3Error::internal(format!(
                "{} routed to multipart operations",
                other.name()
            ))),
        }
    }

    fn prepare_create_upload(
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
        let algorithm = match header(call, "x-amz-checksum-algorithm") {
            None => None,
            Some(a) => Some(ChecksumAlgorithm::parse(a).ok_or_else(|| {
                S3Error::invalid_request(format!("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]: {a}"))
            })?),
        };
        let full_object = match header(call, "x-amz-checksum-type") {
            None => algorithm.is_some_and(|a| a.full_object_by_default()),
            Some("FULL_OBJECT") => true,
            Some("COMPOSITE") => false,
            Some(other) => {
                return Err(S3Error::invalid_argument(
                    "Invalid checksum type",
                    "x-amz-checksum-type",
                    other,
                ));
            }
        };
        let mut ctx = Context::new();
        for (h, k) in [
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
        ] {
            if let Some(v) = header(call, h) {
                single(&mut ctx, k, v);
            }
        }
        for t in &tags {
            single(
                &mut ctx,
                &format!("s3:RequestObjectTag/{}", t.key),
                &t.value,
            );
        }
        let arn = object_arn(bucket.name(), &key);
        let mut checks = vec![self.check(call, "s3:PutObject", arn.clone(), Some(&bucket), ctx)];
        if !tags.is_empty() {
            checks.push(self.check(
                call,
                "s3:PutObjectTagging",
                arn,
                Some(&bucket),
                Context::new(),
            ));
        }
        let s3 = self.s3.clone();
        Ok(prepared(
            Op::CreateMultipartUpload,
            checks,
            move |call| async move {
                let owner = match bucket.record.object_ownership() {
                    airlock_s3::model::ObjectOwnership::BucketOwnerEnforced => {
                        bucket.owner().to_string()
                    }
                    airlock_s3::model::ObjectOwnership::BucketOwnerPreferred
                        if acl.as_deref() == Some("bucket-owner-full-control") =>
                    {
                        bucket.owner().to_string()
                    }
                    _ if call.caller.is_anonymous() => "anonymous".to_string(),
                    _ => call.caller.account.clone(),
                };
                let plan = s3.plan_encryption(&bucket.record, requested, bucket_key);
                let kms = kms_caller(&call, s3.region());
                let upload = s3
                    .create_upload(
                        &kms,
                        &bucket.record,
                        &plan,
                        NewUpload {
                            bucket: bucket.name().to_string(),
                            key: key.clone(),
                            owner,
                            initiator_arn: call.caller.arn.clone(),
                            initiator_id: call.caller.user_id.clone(),
                            meta,
                            tags,
                            checksum_algorithm: algorithm,
                            checksum_full_object: full_object,
                        },
                    )
                    .await?;
                let mut x = Xml::new();
                x.open_ns("InitiateMultipartUploadResult", XMLNS);
                x.leaf("Bucket", bucket.name())
                    .leaf("Key", &key)
                    .leaf("UploadId", &upload.upload_id);
                x.close("InitiateMultipartUploadResult");
                let mut r = xml_reply(&call, x.finish());
                upload_sse_headers(&upload, &mut r.headers);
                if let Some(a) = upload.checksum_algorithm {
                    r.headers
                        .push(("x-amz-checksum-algorithm".into(), a.as_str().into()));
                    r.headers.push((
                        "x-amz-checksum-type".into(),
                        if upload.checksum_full_object {
                            "FULL_OBJECT"
                        } else {
                            "COMPOSITE"
                        }
                        .into(),
                    ));
                }
                Ok(r)
            },
        ))
    }
}
