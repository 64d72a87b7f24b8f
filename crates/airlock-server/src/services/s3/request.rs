//! S3 addressing (path-style, virtual-hosted-style, `s3control`) and the operation a request
//! names.

use airlock_s3::{Code, S3Error};

/// Where a request points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The bucket, if any.
    pub bucket: Option<String>,
    /// The object key (decoded), if any.
    pub key: Option<String>,
    /// The bucket came from the `Host` header.
    pub virtual_host: bool,
    /// An `s3control` request (`/v20180820/...`).
    pub control: Option<String>,
}

/// Host suffixes under which the first labels name a bucket.
const VHOST_SUFFIXES: [&str; 2] = [".localhost", ".amazonaws.com"];

/// The bucket named by a `Host` header, for virtual-hosted-style requests
/// (`BUCKET.localhost:PORT`, `BUCKET.s3.localhost`, `BUCKET.s3.REGION.amazonaws.com`).
pub fn vhost_bucket(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(']') => {
            h.to_string()
        }
        _ => host,
    };
    for suffix in VHOST_SUFFIXES {
        let Some(front) = host.strip_suffix(suffix) else {
            continue;
        };
        // Strip an `s3` / `s3.REGION` / `s3-REGION` service part.
        let labels: Vec<&str> = front.split('.').collect();
        let service = labels
            .iter()
            .position(|l| *l == "s3" || l.starts_with("s3-") || *l == "s3-control");
        let bucket_labels = match service {
            Some(i) => &labels[..i],
            None if suffix == ".localhost" => &labels[..],
            None => return None,
        };
        if bucket_labels.is_empty() {
            return None;
        }
        return Some(bucket_labels.join("."));
    }
    None
}

fn decode(raw: &str) -> Result<String, S3Error> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::new(Code::InvalidURI, "Couldn't parse the specified URI."))
}

/// Resolves the bucket and key of a request.
pub fn target(raw_path: &str, headers: &http::HeaderMap) -> Result<Target, S3Error> {
    if let Some(rest) = raw_path.strip_prefix("/v20180820/") {
        return Ok(Target {
            control: Some(decode(rest)?),
            ..Default::default()
        });
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    if let Some(bucket) = vhost_bucket(host) {
        let key = if path.is_empty() {
            None
        } else {
            Some(decode(path)?)
        };
        return Ok(Target {
            bucket: Some(bucket),
            key,
            virtual_host: true,
            control: None,
        });
    }
    if path.is_empty() {
        return Ok(Target::default());
    }
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (path, None),
    };
    Ok(Target {
        bucket: Some(decode(bucket)?),
        key: key.map(decode).transpose()?,
        virtual_host: false,
        control: None,
    })
}

/// The S3 operations airlock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketAcl,
    PutBucketAcl,
    /// A bucket configuration airlock does not model, read (answers "not configured").
    GetBucketUnmodeled(&'static str),
    /// A bucket configuration airlock does not model, deleted (nothing to do).
    DeleteBucketUnmodeled(&'static str),
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    UploadPart,
    UploadPartCopy,
    CreateMultipartUpload,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectAttributes,
    /// An object's retention or legal hold, read or set: airlock has no Object Lock, so every
    /// bucket answers as S3 does for a bucket without it.
    ObjectLockUnconfigured(&'static str),
    GetAccountPublicAccessBlock,
    PutAccountPublicAccessBlock,
    DeleteAccountPublicAccessBlock,
}

impl Op {
    /// The operation's API name.
    pub fn name(self) -> &'static str {
        match self {
            Op::GetBucketUnmodeled(n)
            | Op::DeleteBucketUnmodeled(n)
            | Op::ObjectLockUnconfigured(n) => n,
            Op::GetPublicAccessBlock => "GetPublicAccessBlock",
            Op::PutPublicAccessBlock => "PutPublicAccessBlock",
            Op::DeletePublicAccessBlock => "DeletePublicAccessBlock",
            other => {
                // Debug of a unit variant is its name.
                OP_NAMES
                    .iter()
                    .find(|(o, _)| *o == other)
                    .map(|(_, n)| *n)
                    .unwrap_or("Unknown")
            }
        }
    }
}

const OP_NAMES: &[(Op, &str)] = &[
    (Op::ListBuckets, "ListBuckets"),
    (Op::CreateBucket, "CreateBucket"),
    (Op::DeleteBucket, "DeleteBucket"),
    (Op::HeadBucket, "HeadBucket"),
    (Op::GetBucketLocation, "GetBucketLocation"),
    (Op::ListObjects, "ListObjects"),
    (Op::ListObjectsV2, "ListObjectsV2"),
    (Op::ListObjectVersions, "ListObjectVersions"),
    (Op::ListMultipartUploads, "ListMultipartUploads"),
    (Op::DeleteObjects, "DeleteObjects"),
    (Op::GetBucketPolicy, "GetBucketPolicy"),
    (Op::PutBucketPolicy, "PutBucketPolicy"),
    (Op::DeleteBucketPolicy, "DeleteBucketPolicy"),
    (Op::GetBucketPolicyStatus, "GetBucketPolicyStatus"),
    (Op::GetBucketEncryption, "GetBucketEncryption"),
    (Op::PutBucketEncryption, "PutBucketEncryption"),
    (Op::DeleteBucketEncryption, "DeleteBucketEncryption"),
    (Op::GetBucketOwnershipControls, "GetBucketOwnershipControls"),
    (Op::PutBucketOwnershipControls, "PutBucketOwnershipControls"),
    (
        Op::DeleteBucketOwnershipControls,
        "DeleteBucketOwnershipControls",
    ),
    (Op::GetBucketVersioning, "GetBucketVersioning"),
    (Op::PutBucketVersioning, "PutBucketVersioning"),
    (Op::GetBucketTagging, "GetBucketTagging"),
    (Op::PutBucketTagging, "PutBucketTagging"),
    (Op::DeleteBucketTagging, "DeleteBucketTagging"),
    (Op::GetBucketAcl, "GetBucketAcl"),
    (Op::PutBucketAcl, "PutBucketAcl"),
    (Op::PutObject, "PutObject"),
    (Op::CopyObject, "CopyObject"),
    (Op::GetObject, "GetObject"),
    (Op::HeadObject, "HeadObject"),
    (Op::DeleteObject, "DeleteObject"),
    (Op::UploadPart, "UploadPart"),
    (Op::UploadPartCopy, "UploadPartCopy"),
    (Op::CreateMultipartUpload, "CreateMultipartUpload"),
    (Op::CompleteMultipartUpload, "CompleteMultipartUpload"),
    (Op::AbortMultipartUpload, "AbortMultipartUpload"),
    (Op::ListParts, "ListParts"),
    (Op::GetObjectTagging, "GetObjectTagging"),
    (Op::PutObjectTagging, "PutObjectTagging"),
    (Op::DeleteObjectTagging, "DeleteObjectTagging"),
    (Op::GetObjectAcl, "GetObjectAcl"),
    (Op::GetObjectAttributes, "GetObjectAttributes"),
    (Op::PutObjectAcl, "PutObjectAcl"),
    (Op::GetAccountPublicAccessBlock, "GetPublicAccessBlock"),
    (Op::PutAccountPublicAccessBlock, "PutPublicAccessBlock"),
    (
        Op::DeleteAccountPublicAccessBlock,
        "DeletePublicAccessBlock",
    ),
];

/// Query parameters of a request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        Query {
            pairs: raw
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether a parameter is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

const UNMODELED_GET: &[(&str, &str)] = &[
    ("cors", "GetBucketCors"),
    ("lifecycle", "GetBucketLifecycleConfiguration"),
    ("website", "GetBucketWebsite"),
    ("logging", "GetBucketLogging"),
    ("notification", "GetBucketNotificationConfiguration"),
    ("replication", "GetBucketReplication"),
    ("object-lock", "GetObjectLockConfiguration"),
    ("accelerate", "GetBucketAccelerateConfiguration"),
    ("requestPayment", "GetBucketRequestPayment"),
];

const UNMODELED_DELETE: &[(&str, &str)] = &[
    ("cors", "DeleteBucketCors"),
    ("lifecycle", "DeleteBucketLifecycle"),
    ("website", "DeleteBucketWebsite"),
    ("replication", "DeleteBucketReplication"),
];

const UNSUPPORTED_BUCKET: &[&str] = &[
    "cors",
    "lifecycle",
    "website",
    "logging",
    "notification",
    "replication",
    "object-lock",
    "accelerate",
    "requestPayment",
    "inventory",
    "analytics",
    "metrics",
    "intelligent-tiering",
    "metadataTable",
    "session",
];

const UNSUPPORTED_OBJECT: &[&str] = &[
    "retention",
    "legal-hold",
    "restore",
    "select",
    "torrent",
    "renameObject",
];

/// The operation of a request.
pub fn operation(
    method: &http::Method,
    target: &Target,
    q: &Query,
    headers: &http::HeaderMap,
) -> Result<Op, S3Error> {
    use http::Method;
    let not_allowed = || {
        S3Error::new(
            Code::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        )
        .with("Method", method.as_str())
    };
    if let Some(path) = &target.control {
        return match (method, path.as_str()) {
            (&Method::GET, "configuration/publicAccessBlock") => {
                Ok(Op::GetAccountPublicAccessBlock)
            }
            (&Method::PUT, "configuration/publicAccessBlock") => {
                Ok(Op::PutAccountPublicAccessBlock)
            }
            (&Method::DELETE, "configuration/publicAccessBlock") => {
                Ok(Op::DeleteAccountPublicAccessBlock)
            }
            _ => Err(S3Error::not_implemented(&format!(
                "s3control {method} /v20180820/{path}"
            ))),
        };
    }
    let Some(_bucket) = &target.bucket else {
        return match *method {
            Method::GET => Ok(Op::ListBuckets),
            _ => Err(not_allowed()),
        };
    };
    let copy = headers.contains_key("x-amz-copy-source");
    if target.key.is_none() {
        let op = match *method {
            Method::PUT => {
                if q.has("policy") {
                    Op::PutBucketPolicy
                } else if q.has("publicAccessBlock") {
                    Op::PutPublicAccessBlock
                } else if q.has("encryption") {
                    Op::PutBucketEncryption
                } else if q.has("ownershipControls") {
                    Op::PutBucketOwnershipControls
                } else if q.has("versioning") {
                    Op::PutBucketVersioning
                } else if q.has("tagging") {
                    Op::PutBucketTagging
                } else if q.has("acl") {
                    Op::PutBucketAcl
                } else if q.has("object-lock") {
                    return Err(S3Error::object_lock_not_supported());
                } else if let Some(s) = UNSUPPORTED_BUCKET.iter().find(|s| q.has(s)) {
                    return Err(S3Error::not_implemented(&format!("PUT ?{s}")));
                } else {
                    Op::CreateBucket
                }
            }
            Method::GET => {
                if q.has("policy") {
                    Op::GetBucketPolicy
                } else if q.has("policyStatus") {
                    Op::GetBucketPolicyStatus
                } else if q.has("publicAccessBlock") {
                    Op::GetPublicAccessBlock
                } else if q.has("encryption") {
                    Op::GetBucketEncryption
                } else if q.has("ownershipControls") {
                    Op::GetBucketOwnershipControls
                } else if q.has("versioning") {
                    Op::GetBucketVersioning
                } else if q.has("tagging") {
                    Op::GetBucketTagging
                } else if q.has("acl") {
                    Op::GetBucketAcl
                } else if q.has("location") {
                    Op::GetBucketLocation
                } else if q.has("versions") {
                    Op::ListObjectVersions
                } else if q.has("uploads") {
                    Op::ListMultipartUploads
                } else if let Some((_, name)) = UNMODELED_GET.iter().find(|(s, _)| q.has(s)) {
                    Op::GetBucketUnmodeled(name)
                } else if let Some(s) = UNSUPPORTED_BUCKET.iter().find(|s| q.has(s)) {
                    return Err(S3Error::not_implemented(&format!("GET ?{s}")));
                } else if q.get("list-type") == Some("2") {
                    Op::ListObjectsV2
                } else {
                    Op::ListObjects
                }
            }
            Method::DELETE => {
                if q.has("policy") {
                    Op::DeleteBucketPolicy
                } else if q.has("publicAccessBlock") {
                    Op::DeletePublicAccessBlock
                } else if q.has("encryption") {
                    Op::DeleteBucketEncryption
                } else if q.has("ownershipControls") {
                    Op::DeleteBucketOwnershipControls
                } else if q.has("tagging") {
                    Op::DeleteBucketTagging
                } else if let Some((_, name)) = UNMODELED_DELETE.iter().find(|(s, _)| q.has(s)) {
                    Op::DeleteBucketUnmodeled(name)
                } else if let Some(s) = UNSUPPORTED_BUCKET.iter().find(|s| q.has(s)) {
                    return Err(S3Error::not_implemented(&format!("DELETE ?{s}")));
                } else {
                    Op::DeleteBucket
                }
            }
            Method::HEAD => Op::HeadBucket,
            Method::POST if q.has("delete") => Op::DeleteObjects,
            _ => return Err(not_allowed()),
        };
        return Ok(op);
    }
    let op = match *method {
        Method::PUT => {
            if q.has("uploadId") && q.has("partNumber") {
                if copy {
                    Op::UploadPartCopy
                } else {
                    Op::UploadPart
                }
            } else if q.has("tagging") {
                Op::PutObjectTagging
            } else if q.has("acl") {
                Op::PutObjectAcl
            } else if q.has("retention") {
                Op::ObjectLockUnconfigured("PutObjectRetention")
            } else if q.has("legal-hold") {
                Op::ObjectLockUnconfigured("PutObjectLegalHold")
            } else if let Some(s) = UNSUPPORTED_OBJECT.iter().find(|s| q.has(s)) {
                return Err(S3Error::not_implemented(&format!("PUT ?{s}")));
            } else if copy {
                Op::CopyObject
            } else {
                Op::PutObject
            }
        }
        Method::GET => {
            if q.has("uploadId") {
                Op::ListParts
            } else if q.has("tagging") {
                Op::GetObjectTagging
            } else if q.has("acl") {
                Op::GetObjectAcl
            } else if q.has("retention") {
                Op::ObjectLockUnconfigured("GetObjectRetention")
            } else if q.has("legal-hold") {
                Op::ObjectLockUnconfigured("GetObjectLegalHold")
            } else if q.has("attributes") {
                Op::GetObjectAttributes
            } else if let Some(s) = UNSUPPORTED_OBJECT.iter().find(|s| q.has(s)) {
                return Err(S3Error::not_implemented(&format!("GET ?{s}")));
            } else {
                Op::GetObject
            }
        }
        Method::HEAD => Op::HeadObject,
        Method::DELETE => {
            if q.has("uploadId") {
                Op::AbortMultipartUpload
            } else if q.has("tagging") {
                Op::DeleteObjectTagging
            } else {
                Op::DeleteObject
            }
        }
        Method::POST => {
            if q.has("uploads") {
                Op::CreateMultipartUpload
            } else if q.has("uploadId") {
                Op::CompleteMultipartUpload
            } else if let Some(s) = UNSUPPORTED_OBJECT.iter().find(|s| q.has(s)) {
                return Err(S3Error::not_implemented(&format!("POST ?{s}")));
            } else {
                return Err(not_allowed());
            }
        }
        _ => return Err(not_allowed()),
    };
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hdr(host: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("host", http::HeaderValue::from_str(host).unwrap());
        h
    }

    #[test]
    fn addressing_styles() {
        let t = target("/bucket/a%20b/c.txt", &hdr("127.0.0.1:4566")).unwrap();
        assert_eq!(
            (t.bucket.as_deref(), t.key.as_deref(), t.virtual_host),
            (Some("bucket"), Some("a b/c.txt"), false)
        );
        let t = target("/a%20b/c.txt", &hdr("my.bucket.localhost:4566")).unwrap();
        assert_eq!(
            (t.bucket.as_deref(), t.key.as_deref(), t.virtual_host),
            (Some("my.bucket"), Some("a b/c.txt"), true)
        );
        let t = target("/", &hdr("bucket.s3.us-east-1.amazonaws.com")).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key), (Some("bucket"), None));
        let t = target("/", &hdr("localhost:4566")).unwrap();
        assert_eq!(t.bucket, None);
        let t = target("/bucket/", &hdr("localhost")).unwrap();
        assert_eq!((t.bucket.as_deref(), t.key), (Some("bucket"), None));
        let t = target(
            "/v20180820/configuration/publicAccessBlock",
            &hdr("111111111111.localhost:1"),
        )
        .unwrap();
        assert_eq!(
            t.control.as_deref(),
            Some("configuration/publicAccessBlock")
        );
        assert_eq!(vhost_bucket("s3.amazonaws.com"), None);
        assert_eq!(vhost_bucket("[::1]:80"), None);
        assert!(target("/b/%ff", &hdr("localhost")).is_err());
    }

    #[test]
    fn operations() {
        let t = target("/b/k", &hdr("localhost")).unwrap();
        let mut h = http::HeaderMap::new();
        assert_eq!(
            operation(&http::Method::PUT, &t, &Query::parse(None), &h).unwrap(),
            Op::PutObject
        );
        assert_eq!(
            operation(
                &http::Method::PUT,
                &t,
                &Query::parse(Some("partNumber=1&uploadId=x")),
                &h
            )
            .unwrap(),
            Op::UploadPart
        );
        h.insert("x-amz-copy-source", http::HeaderValue::from_static("/a/b"));
        assert_eq!(
            operation(&http::Method::PUT, &t, &Query::parse(None), &h).unwrap(),
            Op::CopyObject
        );
        let b = target("/b", &hdr("localhost")).unwrap();
        let h = http::HeaderMap::new();
        assert_eq!(
            operation(
                &http::Method::GET,
                &b,
                &Query::parse(Some("list-type=2&prefix=a")),
                &h
            )
            .unwrap(),
            Op::ListObjectsV2
        );
        assert_eq!(
            operation(&http::Method::GET, &b, &Query::parse(Some("versions")), &h).unwrap(),
            Op::ListObjectVersions
        );
        assert_eq!(
            operation(&http::Method::POST, &b, &Query::parse(Some("delete")), &h).unwrap(),
            Op::DeleteObjects
        );
        assert_eq!(
            operation(&http::Method::GET, &b, &Query::parse(Some("cors")), &h)
                .unwrap()
                .name(),
            "GetBucketCors"
        );
        assert_eq!(Op::PutBucketPolicy.name(), "PutBucketPolicy");
        // Object Lock: the bucket configuration is refused, object-level calls are routed.
        let e = operation(
            &http::Method::PUT,
            &b,
            &Query::parse(Some("object-lock")),
            &h,
        )
        .unwrap_err();
        assert_eq!(e.code, Code::NotImplemented);
        for (m, q, name) in [
            (http::Method::PUT, "retention", "PutObjectRetention"),
            (http::Method::GET, "retention", "GetObjectRetention"),
            (http::Method::PUT, "legal-hold", "PutObjectLegalHold"),
            (http::Method::GET, "legal-hold", "GetObjectLegalHold"),
        ] {
            let t = target("/b/k", &hdr("localhost")).unwrap();
            assert_eq!(
                operation(&m, &t, &Query::parse(Some(q)), &h)
                    .unwrap()
                    .name(),
                name
            );
        }
        assert!(operation(&http::Method::PATCH, &b, &Query::parse(None), &h).is_err());
    }

    proptest! {
        #[test]
        fn addressing_never_panics(path in ".*", host in ".*") {
            let mut h = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&host) { h.insert("host", v); }
            if let Ok(t) = target(&path, &h) {
                for m in [http::Method::GET, http::Method::PUT, http::Method::POST, http::Method::DELETE, http::Method::HEAD] {
                    let _ = operation(&m, &t, &Query::parse(Some(&path)), &h);
                }
            }
        }
    }
}
