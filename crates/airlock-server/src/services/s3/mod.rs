//! S3 over its REST-XML protocol, on the one request pipeline.
//!
//! The pipeline authenticates (SigV4, presigned URLs, or anonymous), then [`S3Service::prepare`]
//! resolves the bucket and key (path-style or `BUCKET.localhost` virtual-hosted-style), names
//! the operation and lists its [`Check`]s: the S3 action on the bucket or object ARN with the
//! bucket owner as resource account, the bucket policy as resource policy (confined by
//! `RestrictPublicBuckets` when it is public), and S3's condition keys. The pipeline has the
//! engine decide every check before the operation runs; only then does the operation call KMS
//! for the caller (SSE-KMS) and touch data. Object bodies stream in and out; nothing holds a
//! whole object in memory.

mod bucket;
mod multipart;
mod object;
pub mod payload;
pub mod request;
pub mod xml;

use std::sync::Arc;

use airlock_policy::{
    Context, ContextValue, Effect, NamedPolicy, Policy, PolicyId, PolicySet, Resource,
};
use airlock_s3::model::{ObjectVersion, PublicAccessBlock, SseAlgorithm, Tag, Versioning};
use airlock_s3::{Bucket, Code, S3, S3Error};
use bytes::Bytes;

use crate::error::AwsError;
use crate::service::{
    BoxFuture, Call, Check, Params, Prepared, Protocol, Reply, Service, rest_xml_host_id,
};
use crate::sigv4::AuthLocation;
use request::{Op, Target};

/// The S3 service.
pub struct S3Service {
    s3: Arc<S3>,
}

impl std::fmt::Debug for S3Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Service").finish_non_exhaustive()
    }
}

impl From<S3Error> for AwsError {
    fn from(e: S3Error) -> Self {
        let mut a = AwsError::new(e.status(), e.code.as_str(), e.message);
        a.fields = e
            .fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        a.headers = e
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        // A KMS denial inside the operation is recorded as the call's decision.
        if let Some(d) = e.denial {
            a = a.with_denial(crate::error::Denial {
                action: d.action,
                resource: d.resource,
                explanation: d.explanation,
            });
        }
        a
    }
}

/// Query parameters, read through the call's parameters.
pub(crate) struct Query<'a>(&'a Params);

impl Query<'_> {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }
}

pub(crate) fn header<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.headers.get(name).and_then(|v| v.to_str().ok())
}

/// An empty reply with S3's request-id headers.
pub(crate) fn reply(call: &Call, status: u16) -> Reply {
    let mut r = Reply::new(status, "application/xml", Vec::new());
    r.headers
        .push(("x-amz-request-id".into(), call.request_id.clone()));
    r.headers
        .push(("x-amz-id-2".into(), rest_xml_host_id(&call.request_id)));
    r
}

/// An XML reply.
pub(crate) fn xml_reply(call: &Call, body: String) -> Reply {
    let mut r = reply(call, 200);
    r.body = crate::body::ReplyBody::Full(Bytes::from(body));
    r
}

/// Boxes an async operation body into a [`Prepared`].
pub(crate) fn prepared<F, Fut>(op: Op, checks: Vec<Check>, run: F) -> Prepared
where
    F: FnOnce(Call) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Reply, S3Error>> + Send + 'static,
{
    Prepared {
        operation: op.name().to_string(),
        checks,
        run: Box::new(move |call| -> BoxFuture<'static, Result<Reply, AwsError>> {
            Box::pin(async move { run(call).await.map_err(AwsError::from) })
        }),
    }
}

/// The KMS caller for the calls S3 makes on the caller's behalf: the caller's identity side,
/// the request's global keys, `kms:ViaService = s3.REGION.amazonaws.com`.
pub(crate) fn kms_caller(call: &Call, region: &str) -> airlock_kms::Caller {
    let c = &call.caller;
    airlock_kms::Caller::new(
        c.principal.clone(),
        PolicySet {
            identity: c.identity.clone(),
            boundary: c.boundary.clone(),
            session: c.session_policies.clone(),
            ..PolicySet::default()
        },
        crate::authz::request_context(call),
    )
    .via_service(format!("s3.{region}.amazonaws.com"))
    .observed_by(call.key_uses.clone())
}

fn single(ctx: &mut Context, key: &str, value: impl Into<String>) {
    ctx.insert(key, ContextValue::Single(value.into()));
}

/// Parses `x-amz-tagging` (a URL query string) or the tags of a `Tagging` document, with S3's
/// limits.
pub(crate) fn validate_tags(tags: &[Tag], object: bool) -> Result<(), S3Error> {
    let max = if object { 10 } else { 50 };
    if tags.len() > max {
        return Err(S3Error::new(
            Code::InvalidTag,
            format!("Object tags cannot be greater than {max}"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(S3Error::new(
                Code::InvalidTag,
                "The TagKey you have provided is invalid",
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(S3Error::new(
                Code::InvalidTag,
                "The TagValue you have provided is invalid",
            ));
        }
        if t.key.starts_with("aws:") {
            return Err(S3Error::new(
                Code::InvalidTag,
                "Your TagKey cannot be prefixed with aws:",
            ));
        }
        if !seen.insert(t.key.as_str()) {
            return Err(S3Error::new(
                Code::InvalidTag,
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

pub(crate) fn tags_from_header(value: &str) -> Result<Vec<Tag>, S3Error> {
    let tags: Vec<Tag> = form_urlencoded::parse(value.as_bytes())
        .map(|(k, v)| Tag {
            key: k.into_owned(),
            value: v.into_owned(),
        })
        .collect();
    validate_tags(&tags, true)?;
    Ok(tags)
}

pub(crate) fn tags_from_xml(body: &[u8], object: bool) -> Result<Vec<Tag>, S3Error> {
    let root = xml::parse_root(body, "Tagging")?;
    let set = root.child("TagSet").ok_or_else(S3Error::malformed_xml)?;
    let mut tags = Vec::new();
    for t in set.all("Tag") {
        let key = t
            .child("Key")
            .ok_or_else(S3Error::malformed_xml)?
            .text
            .clone();
        let value = t.child("Value").map(|v| v.text.clone()).unwrap_or_default();
        tags.push(Tag { key, value });
    }
    validate_tags(&tags, object)?;
    Ok(tags)
}

pub(crate) fn tags_xml(tags: &[Tag]) -> String {
    let mut x = crate::xml::Xml::new();
    x.open_ns("Tagging", xml::XMLNS).open("TagSet");
    for t in tags {
        x.open("Tag")
            .leaf("Key", &t.key)
            .leaf("Value", &t.value)
            .close("Tag");
    }
    x.close("TagSet").close("Tagging");
    x.finish()
}

/// The headers S3 sends about an object's encryption.
pub(crate) fn sse_headers(v: &ObjectVersion, out: &mut Vec<(String, String)>) {
    if let Some(sse) = &v.sse {
        out.push((
            "x-amz-server-side-encryption".into(),
            sse.algorithm.as_str().into(),
        ));
        if sse.algorithm == SseAlgorithm::AwsKms {
            if let Some(arn) = &sse.kms_key_arn {
                out.push((
                    "x-amz-server-side-encryption-aws-kms-key-id".into(),
                    arn.clone(),
                ));
            }
            if sse.bucket_key {
                out.push((
                    "x-amz-server-side-encryption-bucket-key-enabled".into(),
                    "true".into(),
                ));
            }
            if let Some(c) = &sse.context_header {
                out.push(("x-amz-server-side-encryption-context".into(), c.clone()));
            }
        }
    }
}

/// `x-amz-version-id` when the bucket is (or was) versioned.
pub(crate) fn version_header(bucket: &Bucket, version_id: &str, out: &mut Vec<(String, String)>) {
    if bucket.record.versioning != Versioning::Unversioned || version_id != "null" {
        out.push(("x-amz-version-id".into(), version_id.to_string()));
    }
}

impl S3Service {
    /// S3 over the domain service.
    pub fn new(s3: Arc<S3>) -> Self {
        S3Service { s3 }
    }

    /// The domain service.
    pub fn s3(&self) -> &Arc<S3> {
        &self.s3
    }

    /// The bucket policy that applies to this caller: with `RestrictPublicBuckets` in effect
    /// and a public policy, callers outside the bucket owner's account get none of its
    /// grants (its denials still apply).
    pub(crate) fn effective_policy(&self, call: &Call, b: &Bucket) -> Option<NamedPolicy> {
        let named = b.named_policy()?;
        if b.public
            && self
                .s3
                .effective_public_access_block(b)
                .restrict_public_buckets
        {
            let inside = !call.caller.is_anonymous() && call.caller.account == b.owner();
            if !inside {
                let denies = Policy {
                    version: named.policy.version,
                    id: named.policy.id.clone(),
                    statements: named
                        .policy
                        .statements
                        .iter()
                        .filter(|s| s.effect == Effect::Deny)
                        .cloned()
                        .collect(),
                };
                return Some(NamedPolicy {
                    id: PolicyId {
                        kind: named.id.kind,
                        name: format!("{} (RestrictPublicBuckets: allows ignored)", named.id.name),
                    },
                    policy: Arc::new(denies),
                });
            }
        }
        Some(named)
    }

    /// S3's request-wide condition keys.
    pub(crate) fn common_context(call: &Call, ctx: &mut Context) {
        if let Some(sig) = &call.signature {
            single(
                ctx,
                "s3:authType",
                match sig.location {
                    AuthLocation::Header => "REST-HEADER",
                    AuthLocation::Query => "REST-QUERY-STRING",
                },
            );
            single(ctx, "s3:signatureversion", "AWS4-HMAC-SHA256");
            if let Some(t) = crate::sigv4::parse_amz_date(&sig.amz_date) {
                let age = std::time::SystemTime::now()
                    .duration_since(t)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                single(ctx, "s3:signatureAge", age.to_string());
            }
        }
        if let Some(v) = header(call, "x-amz-content-sha256") {
            single(ctx, "s3:x-amz-content-sha256", v);
        }
        if let Some(v) = call.origin.tls_version {
            single(ctx, "s3:TlsVersion", v);
        }
    }

    /// A check of `action` on `arn`, owned by the bucket's owner (or the caller's account when
    /// there is no bucket yet), with the bucket policy.
    pub(crate) fn check(
        &self,
        call: &Call,
        action: &str,
        arn: String,
        bucket: Option<&Bucket>,
        mut ctx: Context,
    ) -> Check {
        Self::common_context(call, &mut ctx);
        let account = match bucket {
            Some(b) => {
                single(&mut ctx, "s3:ResourceAccount", b.owner());
                b.owner().to_string()
            }
            None => call.caller.account.clone(),
        };
        Check {
            action: action.to_string(),
            resource: Resource {
                arn,
                account: Some(account),
            },
            resource_policy: bucket.and_then(|b| self.effective_policy(call, b)),
            context: ctx,
        }
    }

    /// Whether `call`'s caller may list `bucket` (`s3:ListBucket`): asked only when a read
    /// finds no such key, since without that permission S3 answers 403 instead of 404.
    pub(crate) fn may_list(&self, call: &Call, bucket: &Bucket) -> bool {
        let check = self.check(
            call,
            "s3:ListBucket",
            bucket.arn(),
            Some(bucket),
            Context::new(),
        );
        crate::authz::authorize(call, &check).decision.is_allowed()
    }

    /// The effective Block Public Access of a bucket.
    pub(crate) fn pab(&self, b: &Bucket) -> PublicAccessBlock {
        self.s3.effective_public_access_block(b)
    }

    fn prepare_op(&self, call: &Call) -> Result<Prepared, S3Error> {
        // Signature Version 2 (header `Authorization: AWS ...` or presigned `Signature=`):
        // S3 refuses it for buckets created since June 2020, which every airlock bucket is.
        let v2_header = header(call, "authorization").is_some_and(|a| a.starts_with("AWS "));
        let v2_query =
            call.params.get("AWSAccessKeyId").is_some() && call.params.get("Signature").is_some();
        if call.caller.is_anonymous() && (v2_header || v2_query) {
            return Err(S3Error::invalid_request(
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
            ));
        }
        let target: Target = request::target(&call.path, &call.headers)?;
        let q = Query(&call.params);
        let op = self.operation(call, &target, &q)?;
        // `x-amz-expected-bucket-owner`: a bucket of another account is refused with 403.
        if let (Some(expected), Some(name)) =
            (header(call, "x-amz-expected-bucket-owner"), &target.bucket)
            && self.s3.bucket(name).is_some_and(|b| b.owner() != expected)
        {
            return Err(S3Error::access_denied("Access Denied"));
        }
        match op {
            Op::ListBuckets
            | Op::CreateBucket
            | Op::DeleteBucket
            | Op::HeadBucket
            | Op::GetBucketLocation
            | Op::ListObjects
            | Op::ListObjectsV2
            | Op::ListObjectVersions
            | Op::GetBucketPolicy
            | Op::PutBucketPolicy
            | Op::DeleteBucketPolicy
            | Op::GetBucketPolicyStatus
            | Op::GetPublicAccessBlock
            | Op::PutPublicAccessBlock
            | Op::DeletePublicAccessBlock
            | Op::GetBucketEncryption
            | Op::PutBucketEncryption
            | Op::DeleteBucketEncryption
            | Op::GetBucketOwnershipControls
            | Op::PutBucketOwnershipControls
            | Op::DeleteBucketOwnershipControls
            | Op::GetBucketVersioning
            | Op::PutBucketVersioning
            | Op::GetBucketTagging
            | Op::PutBucketTagging
            | Op::DeleteBucketTagging
            | Op::GetBucketAcl
            | Op::PutBucketAcl
            | Op::GetBucketUnmodeled(_)
            | Op::DeleteBucketUnmodeled(_)
            | Op::GetAccountPublicAccessBlock
            | Op::PutAccountPublicAccessBlock
            | Op::DeleteAccountPublicAccessBlock => self.prepare_bucket_op(call, op, &target, &q),
            Op::ListMultipartUploads
            | Op::CreateMultipartUpload
            | Op::UploadPart
            | Op::UploadPartCopy
            | Op::CompleteMultipartUpload
            | Op::AbortMultipartUpload
            | Op::ListParts => self.prepare_multipart_op(call, op, &target, &q),
            Op::PutObject
            | Op::CopyObject
            | Op::GetObject
            | Op::HeadObject
            | Op::DeleteObject
            | Op::DeleteObjects
            | Op::GetObjectTagging
            | Op::PutObjectTagging
            | Op::DeleteObjectTagging
            | Op::GetObjectAcl
            | Op::PutObjectAcl
            | Op::GetObjectAttributes
            | Op::ObjectLockUnconfigured(_) => self.prepare_object_op(call, op, &target, &q),
        }
    }

    fn operation(&self, call: &Call, target: &Target, q: &Query<'_>) -> Result<Op, S3Error> {
        // `request::operation` reads a parsed query; present our parameters to it.
        let mut pairs = Vec::new();
        for name in QUERY_NAMES {
            if let Some(v) = q.get(name) {
                pairs.push((name.to_string(), v.to_string()));
            }
        }
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            ser.append_pair(k, v);
        }
        let raw = ser.finish();
        request::operation(
            &call.method,
            target,
            &request::Query::parse(Some(&raw)),
            &call.headers,
        )
    }

    /// The existing bucket of a request, or `NoSuchBucket` (answered to anyone, as S3 does).
    pub(crate) fn bucket_of(&self, target: &Target) -> Result<Arc<Bucket>, S3Error> {
        let name = target.bucket.as_deref().unwrap_or_default();
        self.s3.existing_bucket(name)
    }
}

/// Query parameters that select S3 operations.
const QUERY_NAMES: &[&str] = &[
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "encryption",
    "ownershipControls",
    "versioning",
    "tagging",
    "acl",
    "location",
    "versions",
    "uploads",
    "uploadId",
    "partNumber",
    "delete",
    "list-type",
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
    "retention",
    "legal-hold",
    "restore",
    "select",
    "torrent",
    "attributes",
    "renameObject",
];

impl Service for S3Service {
    fn signing_name(&self) -> &'static str {
        "s3"
    }

    fn unauthenticated_details(
        &self,
        method: &http::Method,
        path: &str,
        raw_query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> (Option<String>, Vec<crate::record::RecordResource>) {
        let Ok(t) = request::target(path, headers) else {
            return (None, Vec::new());
        };
        let op = request::operation(method, &t, &request::Query::parse(raw_query), headers)
            .ok()
            .map(|op| op.name().to_string());
        let Some(bucket) = t.bucket.as_deref().and_then(|b| self.s3.bucket(b)) else {
            return (op, Vec::new());
        };
        let name = t.bucket.as_deref().unwrap_or_default();
        let arn = match &t.key {
            Some(k) => format!("arn:aws:s3:::{name}/{k}"),
            None => format!("arn:aws:s3:::{name}"),
        };
        (op, crate::audit::resources_of(&arn, Some(bucket.owner())))
    }

    fn protocol(&self) -> Protocol {
        Protocol::RestXml
    }

    fn claims_unsigned(
        &self,
        _m: &http::Method,
        _p: &str,
        params: &Params,
        headers: &http::HeaderMap,
    ) -> bool {
        params.get("Action").is_none() && !headers.contains_key("x-amz-target")
    }

    fn operation_name(&self, _params: &Params, _headers: &http::HeaderMap) -> Option<String> {
        None
    }

    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError> {
        self.prepare_op(call).map_err(AwsError::from)
    }

    fn streams_body(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> bool {
        if method != http::Method::PUT {
            return false;
        }
        let Ok(target) = request::target(uri.path(), headers) else {
            return false;
        };
        let q = request::Query::parse(uri.query());
        matches!(
            request::operation(method, &target, &q, headers),
            Ok(Op::PutObject | Op::UploadPart)
        )
    }

    fn allows_anonymous(&self) -> bool {
        true
    }

    fn is_data_event(&self, operation: &str) -> bool {
        is_data_event(operation)
    }

    /// S3's `requestParameters`: `bucketName`, `Host`, `key` and the query parameters (never
    /// the body).
    fn request_parameters(&self, call: &Call, _operation: &str) -> Option<serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let Ok(t) = request::target(&call.path, &call.headers) {
            if let Some(b) = t.bucket {
                m.insert("bucketName".into(), b.into());
            }
            if let Some(k) = t.key {
                m.insert("key".into(), k.into());
            }
        }
        if let Some(h) = header(call, "host") {
            m.insert("Host".into(), h.into());
        }
        for (k, v) in call.params.iter() {
            if k.starts_with("X-Amz-") || crate::audit::is_secret_name(k) {
                continue;
            }
            m.insert(k.to_string(), v.into());
        }
        Some(serde_json::Value::Object(m))
    }

    fn response_elements(&self, _operation: &str, _body: &[u8]) -> Option<serde_json::Value> {
        None
    }
}

/// S3 operations CloudTrail logs as data events (object-level calls).
pub fn is_data_event(operation: &str) -> bool {
    matches!(
        operation,
        "PutObject"
            | "GetObject"
            | "HeadObject"
            | "DeleteObject"
            | "DeleteObjects"
            | "CopyObject"
            | "UploadPart"
            | "UploadPartCopy"
            | "CreateMultipartUpload"
            | "CompleteMultipartUpload"
            | "AbortMultipartUpload"
            | "ListParts"
            | "GetObjectTagging"
            | "PutObjectTagging"
            | "DeleteObjectTagging"
            | "GetObjectAcl"
            | "PutObjectAcl"
            | "GetObjectAttributes"
            | "GetObjectRetention"
            | "PutObjectRetention"
            | "GetObjectLegalHold"
            | "PutObjectLegalHold"
            | "ListObjects"
            | "ListObjectsV2"
            | "ListObjectVersions"
    )
}
