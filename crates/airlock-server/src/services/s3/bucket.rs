//! Bucket operations: create, delete, head, location, listings, and configuration (policy,
//! Block Public Access, encryption, ownership controls, versioning, tags, ACLs), plus the
//! account-level Block Public Access of `s3control`.

use std::sync::Arc;

use airlock_policy::{Context, ContextValue};
use airlock_s3::listing::{ListQuery, ListStart};
use airlock_s3::model::{
    EncryptionRule, ObjectOwnership, PublicAccessBlock, SseAlgorithm, Versioning,
};
use airlock_s3::names::{bucket_arn, canonical_id};
use airlock_s3::{Bucket, Code, S3, S3Error};
use airlock_store::StoreExt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::request::{Op, Target};
use super::xml::{self, Element, XMLNS, iso8601_ms};
use super::{
    Query, S3Service, header, payload, prepared, reply, tags_from_xml, tags_xml, xml_reply,
};
use crate::service::{Call, Check, Prepared};
use crate::xml::Xml;

const S3CONTROL_XMLNS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";
const MAX_KEYS: usize = 1000;

fn single(ctx: &mut Context, key: &str, value: &str) {
    ctx.insert(key, ContextValue::Single(value.to_string()));
}

fn parse_max(q: &Query<'_>, name: &str) -> Result<usize, S3Error> {
    match q.get(name) {
        None => Ok(MAX_KEYS),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as usize).min(MAX_KEYS)),
            _ => Err(S3Error::invalid_argument(
                format!("Provided {name} not an integer or within integer range"),
                name,
                v,
            )),
        },
    }
}

/// URL-encodes listing values when the client asked for `encoding-type=url`, as S3 does:
/// every byte but ASCII letters, digits and `-_.*/` is percent-encoded, a space becoming `+`.
/// Unlike form encoding, `/` stays as it is (a key's "directories" stay readable).
pub(crate) struct Encoder(pub(crate) bool);

impl Encoder {
    /// The `encoding-type` parameter of a listing: absent, or `url`.
    pub(crate) fn from_query(q: &Query<'_>) -> Result<Encoder, S3Error> {
        match q.get("encoding-type") {
            None => Ok(Encoder(false)),
            Some("url") => Ok(Encoder(true)),
            Some(other) => Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
                "encoding-type",
                other,
            )),
        }
    }

    pub(crate) fn enc(&self, s: &str) -> String {
        if !self.0 {
            return s.to_string();
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(s.len());
        for &b in s.as_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => {
                    out.push('%');
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 15) as usize] as char);
                }
            }
        }
        out
    }

    /// Whether values are encoded (the result then says `<EncodingType>url</EncodingType>`).
    pub(crate) fn on(&self) -> bool {
        self.0
    }
}

fn pab_xml(p: &PublicAccessBlock, ns: &str) -> String {
    let mut x = Xml::new();
    x.open_ns("PublicAccessBlockConfiguration", ns)
        .leaf("BlockPublicAcls", &p.block_public_acls.to_string())
        .leaf("IgnorePublicAcls", &p.ignore_public_acls.to_string())
        .leaf("BlockPublicPolicy", &p.block_public_policy.to_string())
        .leaf(
            "RestrictPublicBuckets",
            &p.restrict_public_buckets.to_string(),
        )
        .close("PublicAccessBlockConfiguration");
    x.finish()
}

fn parse_pab(body: &[u8]) -> Result<PublicAccessBlock, S3Error> {
    let root = xml::parse_root(body, "PublicAccessBlockConfiguration")?;
    let flag = |name: &str| -> Result<bool, S3Error> {
        root.text_of(name).map(xml::parse_bool).unwrap_or(Ok(false))
    };
    Ok(PublicAccessBlock {
        block_public_acls: flag("BlockPublicAcls")?,
        ignore_public_acls: flag("IgnorePublicAcls")?,
        block_public_policy: flag("BlockPublicPolicy")?,
        restrict_public_buckets: flag("RestrictPublicBuckets")?,
    })
}

fn parse_encryption(body: &[u8]) -> Result<EncryptionRule, S3Error> {
    let root = xml::parse_root(body, "ServerSideEncryptionConfiguration")?;
    let rules: Vec<&Element> = root.all("Rule").collect();
    if rules.len() != 1 {
        return Err(S3Error::malformed_xml());
    }
    let rule = rules[0];
    let default = rule
        .child("ApplyServerSideEncryptionByDefault")
        .ok_or_else(S3Error::malformed_xml)?;
    let alg = default
        .text_of("SSEAlgorithm")
        .ok_or_else(S3Error::malformed_xml)?;
    let algorithm = match alg {
        "AES256" => SseAlgorithm::Aes256,
        "aws:kms" => SseAlgorithm::AwsKms,
        "aws:kms:dsse" => return Err(S3Error::not_implemented("SSEAlgorithm aws:kms:dsse")),
        _ => return Err(S3Error::malformed_xml()),
    };
    let key = default
        .text_of("KMSMasterKeyID")
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    if key.is_some() && algorithm != SseAlgorithm::AwsKms {
        return Err(S3Error::invalid_argument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            "ApplyServerSideEncryptionByDefault",
            "",
        ));
    }
    let bucket_key = rule
        .text_of("BucketKeyEnabled")
        .map(xml::parse_bool)
        .transpose()?
        .unwrap_or(false);
    Ok(EncryptionRule {
        algorithm,
        kms_key_id: key,
        bucket_key_enabled: bucket_key,
    })
}

fn encryption_xml(rule: &EncryptionRule) -> String {
    let mut x = Xml::new();
    x.open_ns("ServerSideEncryptionConfiguration", XMLNS)
        .open("Rule")
        .open("ApplyServerSideEncryptionByDefault");
    x.leaf("SSEAlgorithm", rule.algorithm.as_str());
    x.opt("KMSMasterKeyID", rule.kms_key_id.as_deref());
    x.close("ApplyServerSideEncryptionByDefault");
    x.leaf("BucketKeyEnabled", &rule.bucket_key_enabled.to_string());
    x.close("Rule").close("ServerSideEncryptionConfiguration");
    x.finish()
}

fn acl_xml(owner: &str) -> String {
    let id = canonical_id(owner);
    let mut x = Xml::new();
    x.open_ns("AccessControlPolicy", XMLNS)
        .open("Owner")
        .leaf("ID", &id)
        .close("Owner");
    x.open("AccessControlList").open("Grant");
    x.raw("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
    x.leaf("ID", &id).close("Grantee");
    x.leaf("Permission", "FULL_CONTROL")
        .close("Grant")
        .close("AccessControlList");
    x.close("AccessControlPolicy");
    x.finish()
}

/// The canned ACLs S3 knows.
pub(crate) const CANNED_ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

/// Checks the ACL headers of a request against ownership controls and Block Public Access.
/// Returns the canned ACL, if one was given.
pub(crate) fn check_acl_headers(
    call: &Call,
    bucket: Option<&Bucket>,
    pab: PublicAccessBlock,
) -> Result<Option<String>, S3Error> {
    let acl = header(call, "x-amz-acl").map(str::to_string);
    let grants: Vec<(&str, &str)> = call
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-amz-grant-"))
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("")))
        .collect();
    if let Some(a) = &acl
        && !CANNED_ACLS.contains(&a.as_str())
    {
        return Err(S3Error::invalid_argument("", "x-amz-acl", a));
    }
    if bucket.is_some_and(|b| b.record.acls_disabled())
        && (!grants.is_empty()
            || acl
                .as_deref()
                .is_some_and(|a| a != "bucket-owner-full-control" && a != "private"))
    {
        return Err(S3Error::acl_not_supported());
    }
    let public_acl = acl.as_deref().is_some_and(|a| {
        matches!(
            a,
            "public-read" | "public-read-write" | "authenticated-read"
        )
    });
    let public_grant = grants.iter().any(|(_, v)| {
        v.contains("acs.amazonaws.com/groups/global/AllUsers")
            || v.contains("acs.amazonaws.com/groups/global/AuthenticatedUsers")
    });
    if pab.block_public_acls && (public_acl || public_grant) {
        return Err(S3Error::access_denied("Access Denied"));
    }
    Ok(acl)
}

impl S3Service {
    pub(crate) fn prepare_bucket_op(
        &self,
        call: &Call,
        op: Op,
        target: &Target,
        q: &Query<'_>,
    ) -> Result<Prepared, S3Error> {
        let s3 = self.s3.clone();
        match op {
            Op::ListBuckets => {
                let check = self.check(
                    call,
                    "s3:ListAllMyBuckets",
                    "arn:aws:s3:::*".into(),
                    None,
                    Context::new(),
                );
                let prefix = q.get("prefix").unwrap_or("").to_string();
                Ok(prepared(op, vec![check], move |call| async move {
                    let mut x = Xml::new();
                    x.open_ns("ListAllMyBucketsResult", XMLNS);
                    x.open("Buckets");
                    for b in s3
                        .list_buckets(&call.caller.account)
                        .iter()
                        .filter(|b| b.name().starts_with(&prefix))
                    {
                        x.open("Bucket")
                            .leaf("Name", b.name())
                            .leaf("CreationDate", &iso8601_ms(b.record.created_ms))
                            .leaf("BucketRegion", &b.record.region)
                            .close("Bucket");
                    }
                    x.close("Buckets");
                    x.open("Owner")
                        .leaf("ID", &canonical_id(&call.caller.account))
                        .close("Owner");
                    x.opt("Prefix", (!prefix.is_empty()).then_some(prefix.as_str()));
                    x.close("ListAllMyBucketsResult");
                    Ok(xml_reply(&call, x.finish()))
                }))
            }
            Op::CreateBucket => self.prepare_create_bucket(call, target),
            Op::GetAccountPublicAccessBlock
            | Op::PutAccountPublicAccessBlock
            | Op::DeleteAccountPublicAccessBlock => {
                let account = header(call, "x-amz-account-id")
                    .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        S3Error::invalid_request("Missing or invalid x-amz-account-id header")
                    })?
                    .to_string();
                let action = if op == Op::GetAccountPublicAccessBlock {
                    "s3:GetAccountPublicAccessBlock"
                } else {
                    "s3:PutAccountPublicAccessBlock"
                };
                let mut check = self.check(call, action, "*".into(), None, Context::new());
                check.resource.account = Some(account.clone());
                let body = call.body.clone();
                payload::verify_buffered(&call.headers, &body)?;
                Ok(prepared(op, vec![check], move |call| async move {
                    match op {
                        Op::GetAccountPublicAccessBlock => {
                            match s3.account_public_access_block(&account) {
                                Some(p) => Ok(xml_reply(&call, pab_xml(&p, S3CONTROL_XMLNS))),
                                None => Err(S3Error::new(
                                    Code::NoSuchPublicAccessBlockConfiguration,
                                    "The public access block configuration was not found",
                                )
                                .with("AccountId", &account)),
                            }
                        }
                        Op::PutAccountPublicAccessBlock => {
                            let p = parse_pab(&body)?;
                            s3.put_account_public_access_block(&account, Some(p))
                                .await?;
                            Ok(reply(&call, 200))
                        }
                        _ => {
                            s3.put_account_public_access_block(&account, None).await?;
                            Ok(reply(&call, 204))
                        }
                    }
                }))
            }
            _ => self.prepare_existing_bucket_op(call, op, target, q, s3),
        }
    }

    fn prepare_create_bucket(&self, call: &Call, target: &Target) -> Result<Prepared, S3Error> {
        let s3 = self.s3.clone();
        let name = target.bucket.clone().unwrap_or_default();
        airlock_s3::names::validate_bucket_name(&name)?;
        payload::verify_buffered(&call.headers, &call.body)?;
        let constraint = if call.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let root = xml::parse_root(&call.body, "CreateBucketConfiguration")?;
            root.text_of("LocationConstraint")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let region = match constraint.as_deref() {
            None if call.region != "us-east-1" => {
                return Err(S3Error::new(
                    Code::IllegalLocationConstraintException,
                    "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.",
                ));
            }
            None => "us-east-1".to_string(),
            Some("us-east-1") => {
                return Err(S3Error::new(
                    Code::InvalidLocationConstraint,
                    "The specified location-constraint is not valid",
                )
                .with("LocationConstraint", "us-east-1"));
            }
            Some(c) if c != call.region => {
                return Err(S3Error::new(
                    Code::IllegalLocationConstraintException,
                    format!(
                        "The {c} location constraint is incompatible for the region specific endpoint this request was sent to."
                    ),
                ));
            }
            Some(c) => c.to_string(),
        };
        match header(call, "x-amz-bucket-object-lock-enabled") {
            None => {}
            Some(v) => match xml::parse_bool(v) {
                Ok(false) => {}
                Ok(true) => return Err(S3Error::object_lock_not_supported()),
                Err(_) => {
                    return Err(S3Error::invalid_argument(
                        "Invalid value for x-amz-bucket-object-lock-enabled",
                        "x-amz-bucket-object-lock-enabled",
                        v,
                    ));
                }
            },
        }
        let ownership = match header(call, "x-amz-object-ownership") {
            None => None,
            Some(o) => Some(ObjectOwnership::parse(o).ok_or_else(|| {
                S3Error::invalid_argument(
                    "Invalid x-amz-object-ownership header",
                    "x-amz-object-ownership",
                    o,
                )
            })?),
        };
        let acl = header(call, "x-amz-acl");
        let grants = call
            .headers
            .keys()
            .any(|k| k.as_str().starts_with("x-amz-grant-"));
        if let Some(a) = acl
            && !CANNED_ACLS.contains(&a)
        {
            return Err(S3Error::invalid_argument("", "x-amz-acl", a));
        }
        if ownership.unwrap_or(ObjectOwnership::BucketOwnerEnforced)
            == ObjectOwnership::BucketOwnerEnforced
            && (grants || acl.is_some_and(|a| a != "private" && a != "bucket-owner-full-control"))
        {
            return Err(S3Error::new(
                Code::InvalidBucketAclWithObjectOwnership,
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            ));
        }
        let arn = bucket_arn(&name);
        let mut ctx = Context::new();
        if let Some(c) = &constraint {
            single(&mut ctx, "s3:locationconstraint", c);
        }
        if let Some(o) = header(call, "x-amz-object-ownership") {
            single(&mut ctx, "s3:x-amz-object-ownership", o);
        }
        if let Some(a) = acl {
            single(&mut ctx, "s3:x-amz-acl", a);
        }
        let mut checks = vec![self.check(call, "s3:CreateBucket", arn.clone(), None, ctx)];
        if ownership.is_some() {
            checks.push(self.check(
                call,
                "s3:PutBucketOwnershipControls",
                arn.clone(),
                None,
                Context::new(),
            ));
        }
        if acl.is_some() || grants {
            checks.push(self.check(call, "s3:PutBucketAcl", arn, None, Context::new()));
        }
        Ok(prepared(Op::CreateBucket, checks, move |call| async move {
            if call.caller.is_anonymous() {
                return Err(S3Error::access_denied("Access Denied"));
            }
            s3.create_bucket(&call.caller.account, &name, &region, ownership)
                .await?;
            let mut r = reply(&call, 200);
            r.headers.push(("location".into(), format!("/{name}")));
            Ok(r)
        }))
    }

    fn prepare_existing_bucket_op(
        &self,
        call: &Call,
        op: Op,
        target: &Target,
        q: &Query<'_>,
        s3: Arc<S3>,
    ) -> Result<Prepared, S3Error> {
        let bucket = self.bucket_of(target)?;
        let arn = bucket.arn();
        let b = bucket.clone();
        let simple = |action: &str| -> Vec<Check> {
            vec![self.check(call, action, arn.clone(), Some(&bucket), Context::new())]
        };
        let body = call.body.clone();
        if !body.is_empty() {
            payload::verify_buffered(&call.headers, &body)?;
        }
        match op {
            Op::DeleteBucket => Ok(prepared(
                op,
                simple("s3:DeleteBucket"),
                move |call| async move {
                    s3.delete_bucket(b.name()).await?;
                    Ok(reply(&call, 204))
                },
            )),
            Op::HeadBucket => Ok(prepared(
                op,
                simple("s3:ListBucket"),
                move |call| async move {
                    let mut r = reply(&call, 200);
                    r.headers
                        .push(("x-amz-bucket-region".into(), b.record.region.clone()));
                    Ok(r)
                },
            )),
            Op::GetBucketLocation => Ok(prepared(
                op,
                simple("s3:GetBucketLocation"),
                move |call| async move {
                    let region = if b.record.region == "us-east-1" {
                        ""
                    } else {
                        b.record.region.as_str()
                    };
                    let mut x = Xml::new();
                    x.open_ns("LocationConstraint", XMLNS);
                    x.raw(&crate::xml::escape(region));
                    x.close("LocationConstraint");
                    Ok(xml_reply(&call, x.finish()))
                },
            )),
            Op::ListObjects | Op::ListObjectsV2 => self.prepare_list_objects(call, op, bucket, q),
            Op::ListObjectVersions => self.prepare_list_versions(call, bucket, q),
            Op::GetBucketPolicy => Ok(prepared(
                op,
                simple("s3:GetBucketPolicy"),
                move |call| async move {
                    match &b.record.policy {
                        Some(p) => {
                            let mut r = reply(&call, 200);
                            r.content_type = "application/json".into();
                            r.body = crate::body::ReplyBody::Full(bytes::Bytes::from(p.clone()));
                            Ok(r)
                        }
                        None => Err(no_policy(b.name())),
                    }
                },
            )),
            Op::PutBucketPolicy => {
                let text = String::from_utf8(body.to_vec()).map_err(|_| {
                    S3Error::new(
                        Code::MalformedPolicy,
                        "Policies must be valid JSON and the first byte must be '{'",
                    )
                })?;
                let policy = S3::parse_bucket_policy(b.name(), &text)?;
                let public = airlock_policy::public::is_public(&policy);
                Ok(prepared(
                    op,
                    simple("s3:PutBucketPolicy"),
                    move |call| async move {
                        let owner = b.owner().to_string();
                        s3.update_bucket(b.name(), move |r, txn| {
                        let account: Option<airlock_s3::model::AccountRecord> = txn.get_json(airlock_s3::meta::ACCOUNTS, &owner)?;
                        let pab = account
                            .and_then(|a| a.public_access_block)
                            .unwrap_or_default()
                            .union(r.public_access_block.unwrap_or_default());
                        if public && pab.block_public_policy {
                            return Err(S3Error::access_denied(
                                "User is not authorized to perform this action: the bucket policy is public and Block Public Access (BlockPublicPolicy) is on",
                            ));
                        }
                        r.policy = Some(text);
                        Ok(())
                    })
                    .await?;
                        Ok(reply(&call, 204))
                    },
                ))
            }
            Op::DeleteBucketPolicy => Ok(prepared(
                op,
                simple("s3:DeleteBucketPolicy"),
                move |call| async move {
                    s3.update_bucket(b.name(), |r, _| {
                        r.policy = None;
                        Ok(())
                    })
                    .await?;
                    Ok(reply(&call, 204))
                },
            )),
            Op::GetBucketPolicyStatus => Ok(prepared(
                op,
                simple("s3:GetBucketPolicyStatus"),
                move |call| async move {
                    if b.record.policy.is_none() {
                        return Err(no_policy(b.name()));
                    }
                    let mut x = Xml::new();
                    x.open_ns("PolicyStatus", XMLNS)
                        .leaf("IsPublic", &b.public.to_string())
                        .close("PolicyStatus");
                    Ok(xml_reply(&call, x.finish()))
                },
            )),
            Op::GetPublicAccessBlock => Ok(prepared(
                op,
                simple("s3:GetBucketPublicAccessBlock"),
                move |call| async move {
                    match &b.record.public_access_block {
                        Some(p) => Ok(xml_reply(&call, pab_xml(p, XMLNS))),
                        None => Err(S3Error::new(
                            Code::NoSuchPublicAccessBlockConfiguration,
                            "The public access block configuration was not found",
                        )
                        .with("BucketName", b.name())),
                    }
                },
            )),
            Op::PutPublicAccessBlock => {
                let p = parse_pab(&body)?;
                Ok(prepared(
                    op,
                    simple("s3:PutBucketPublicAccessBlock"),
                    move |call| async move {
                        s3.update_bucket(b.name(), move |r, _| {
                            r.public_access_block = Some(p);
                            Ok(())
                        })
                        .await?;
                        Ok(reply(&call, 200))
                    },
                ))
            }
            Op::DeletePublicAccessBlock => Ok(prepared(
                op,
                simple("s3:PutBucketPublicAccessBlock"),
                move |call| async move {
                    s3.update_bucket(b.name(), |r, _| {
                        r.public_access_block = None;
                        Ok(())
                    })
                    .await?;
                    Ok(reply(&call, 204))
                },
            )),
            Op::GetBucketEncryption => Ok(prepared(
                op,
                simple("s3:GetEncryptionConfiguration"),
                move |call| async move {
                    Ok(xml_reply(
                        &call,
                        encryption_xml(&b.record.encryption_rule()),
                    ))
                },
            )),
            Op::PutBucketEncryption => {
                let rule = parse_encryption(&body)?;
                Ok(prepared(
                    op,
                    simple("s3:PutEncryptionConfiguration"),
                    move |call| async move {
                        s3.update_bucket(b.name(), move |r, _| {
                            r.encryption = Some(rule);
                            Ok(())
                        })
                        .await?;
                        Ok(reply(&call, 200))
                    },
                ))
            }
            Op::DeleteBucketEncryption => Ok(prepared(
                op,
                simple("s3:PutEncryptionConfiguration"),
                move |call| async move {
                    s3.update_bucket(b.name(), |r, _| {
                        r.encryption = None;
                        Ok(())
                    })
                    .await?;
                    Ok(reply(&call, 204))
                },
            )),
            Op::GetBucketOwnershipControls => Ok(prepared(
                op,
                simple("s3:GetBucketOwnershipControls"),
                move |call| async move {
                    match b.record.ownership {
                        Some(o) => {
                            let mut x = Xml::new();
                            x.open_ns("OwnershipControls", XMLNS)
                                .open("Rule")
                                .leaf("ObjectOwnership", o.as_str())
                                .close("Rule")
                                .close("OwnershipControls");
                            Ok(xml_reply(&call, x.finish()))
                        }
                        None => Err(S3Error::new(
                            Code::OwnershipControlsNotFoundError,
                            "The bucket ownership controls were not found",
                        )
                        .with("BucketName", b.name())),
                    }
                },
            )),
            Op::PutBucketOwnershipControls => {
                let root = xml::parse_root(&body, "OwnershipControls")?;
                let rules: Vec<&Element> = root.all("Rule").collect();
                if rules.len() != 1 {
                    return Err(S3Error::malformed_xml());
                }
                let o = rules[0]
                    .text_of("ObjectOwnership")
                    .and_then(ObjectOwnership::parse)
                    .ok_or_else(S3Error::malformed_xml)?;
                Ok(prepared(
                    op,
                    simple("s3:PutBucketOwnershipControls"),
                    move |call| async move {
                        s3.update_bucket(b.name(), move |r, _| {
                            r.ownership = Some(o);
                            Ok(())
                        })
                        .await?;
                        Ok(reply(&call, 200))
                    },
                ))
            }
            Op::DeleteBucketOwnershipControls => Ok(prepared(
                op,
                simple("s3:PutBucketOwnershipControls"),
                move |call| async move {
                    s3.update_bucket(b.name(), |r, _| {
                        r.ownership = None;
                        Ok(())
                    })
                    .await?;
                    Ok(reply(&call, 204))
                },
            )),
            Op::GetBucketVersioning => Ok(prepared(
                op,
                simple("s3:GetBucketVersioning"),
                move |call| async move {
                    let mut x = Xml::new();
                    x.open_ns("VersioningConfiguration", XMLNS);
                    match b.record.versioning {
                        Versioning::Unversioned => {}
                        Versioning::Enabled => {
                            x.leaf("Status", "Enabled");
                        }
                        Versioning::Suspended => {
                            x.leaf("Status", "Suspended");
                        }
                    }
                    x.close("VersioningConfiguration");
                    Ok(xml_reply(&call, x.finish()))
                },
            )),
            Op::PutBucketVersioning => {
                let root = xml::parse_root(&body, "VersioningConfiguration")?;
                let status = match root.text_of("Status") {
                    Some("Enabled") => Some(Versioning::Enabled),
                    Some("Suspended") => Some(Versioning::Suspended),
                    None => None,
                    Some(_) => return Err(S3Error::malformed_xml()),
                };
                if root.text_of("MfaDelete") == Some("Enabled") {
                    return Err(S3Error::invalid_request(
                        "DevPay and Mfa are mutually exclusive authorization methods",
                    )
                    .with("ArgumentName", "x-amz-mfa"));
                }
                Ok(prepared(
                    op,
                    simple("s3:PutBucketVersioning"),
                    move |call| async move {
                        if let Some(status) = status {
                            s3.update_bucket(b.name(), move |r, _| {
                                r.versioning = status;
                                Ok(())
                            })
                            .await?;
                        }
                        Ok(reply(&call, 200))
                    },
                ))
            }
            Op::GetBucketTagging => Ok(prepared(
                op,
                simple("s3:GetBucketTagging"),
                move |call| async move {
                    match &b.record.tags {
                        Some(t) => Ok(xml_reply(&call, tags_xml(t))),
                        None => Err(
                            S3Error::new(Code::NoSuchTagSet, "The TagSet does not exist")
                                .with("BucketName", b.name()),
                        ),
                    }
                },
            )),
            Op::PutBucketTagging => {
                let tags = tags_from_xml(&body, false)?;
                Ok(prepared(
                    op,
                    simple("s3:PutBucketTagging"),
                    move |call| async move {
                        s3.update_bucket(b.name(), move |r, _| {
                            r.tags = Some(tags);
                            Ok(())
                        })
                        .await?;
                        Ok(reply(&call, 204))
                    },
                ))
            }
            Op::DeleteBucketTagging => Ok(prepared(
                op,
                simple("s3:PutBucketTagging"),
                move |call| async move {
                    s3.update_bucket(b.name(), |r, _| {
                        r.tags = None;
                        Ok(())
                    })
                    .await?;
                    Ok(reply(&call, 204))
                },
            )),
            Op::GetBucketAcl => Ok(prepared(
                op,
                simple("s3:GetBucketAcl"),
                move |call| async move { Ok(xml_reply(&call, acl_xml(b.owner()))) },
            )),
            Op::PutBucketAcl => {
                if b.record.acls_disabled() {
                    return Err(S3Error::acl_not_supported());
                }
                check_acl_headers(call, Some(&b), self.pab(&b))?;
                Ok(prepared(
                    op,
                    simple("s3:PutBucketAcl"),
                    move |call| async move { Ok(reply(&call, 200)) },
                ))
            }
            Op::GetBucketUnmodeled(name) => {
                let action = match name {
                    "GetBucketCors" => "s3:GetBucketCORS",
                    "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
                    "GetBucketWebsite" => "s3:GetBucketWebsite",
                    "GetBucketLogging" => "s3:GetBucketLogging",
                    "GetBucketNotificationConfiguration" => "s3:GetBucketNotification",
                    "GetBucketReplication" => "s3:GetReplicationConfiguration",
                    "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
                    "GetBucketAccelerateConfiguration" => "s3:GetAccelerateConfiguration",
                    _ => "s3:GetBucketRequestPayment",
                };
                Ok(prepared(op, simple(action), move |call| async move {
                    let empty = |root: &str, inner: &str| {
                        let mut x = Xml::new();
                        x.open_ns(root, XMLNS);
                        x.raw(inner);
                        x.close(root);
                        x.finish()
                    };
                    let name_of = b.name().to_string();
                    let not_found = |code: Code, msg: &str| {
                        Err(S3Error::new(code, msg).with("BucketName", &name_of))
                    };
                    match name {
                        "GetBucketCors" => not_found(
                            Code::NoSuchCORSConfiguration,
                            "The CORS configuration does not exist",
                        ),
                        "GetBucketLifecycleConfiguration" => not_found(
                            Code::NoSuchLifecycleConfiguration,
                            "The lifecycle configuration does not exist",
                        ),
                        "GetBucketWebsite" => not_found(
                            Code::NoSuchWebsiteConfiguration,
                            "The specified bucket does not have a website configuration",
                        ),
                        "GetBucketReplication" => not_found(
                            Code::ReplicationConfigurationNotFoundError,
                            "The replication configuration was not found",
                        ),
                        "GetObjectLockConfiguration" => not_found(
                            Code::ObjectLockConfigurationNotFoundError,
                            "Object Lock configuration does not exist for this bucket",
                        ),
                        "GetBucketLogging" => {
                            Ok(xml_reply(&call, empty("BucketLoggingStatus", "")))
                        }
                        "GetBucketNotificationConfiguration" => {
                            Ok(xml_reply(&call, empty("NotificationConfiguration", "")))
                        }
                        "GetBucketAccelerateConfiguration" => {
                            Ok(xml_reply(&call, empty("AccelerateConfiguration", "")))
                        }
                        _ => Ok(xml_reply(
                            &call,
                            empty("RequestPaymentConfiguration", "<Payer>BucketOwner</Payer>"),
                        )),
                    }
                }))
            }
            Op::DeleteBucketUnmodeled(name) => {
                let action = match name {
                    "DeleteBucketCors" => "s3:PutBucketCORS",
                    "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
                    "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
                    _ => "s3:PutReplicationConfiguration",
                };
                Ok(prepared(op, simple(action), move |call| async move {
                    Ok(reply(&call, 204))
                }))
            }
            other => Err(S3Error::internal(format!(
                "{} routed to bucket operations",
                other.name()
            ))),
        }
    }

    fn list_context(q: &Query<'_>) -> Context {
        let mut ctx = Context::new();
        for (param, key) in [
            ("prefix", "s3:prefix"),
            ("delimiter", "s3:delimiter"),
            ("max-keys", "s3:max-keys"),
        ] {
            if let Some(v) = q.get(param) {
                single(&mut ctx, key, v);
            }
        }
        ctx
    }

    fn prepare_list_objects(
        &self,
        call: &Call,
        op: Op,
        bucket: Arc<Bucket>,
        q: &Query<'_>,
    ) -> Result<Prepared, S3Error> {
        let s3 = self.s3.clone();
        let v2 = op == Op::ListObjectsV2;
        let prefix = q.get("prefix").unwrap_or("").to_string();
        let delimiter = q
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let max = parse_max(q, "max-keys")?;
        let e = Encoder::from_query(q)?;
        let token = q.get("continuation-token").map(str::to_string);
        let start_after = q.get("start-after").map(str::to_string);
        let marker = q.get("marker").map(str::to_string);
        let fetch_owner = q.get("fetch-owner") == Some("true");
        let start = if v2 {
            match &token {
                Some(t) => Some(decode_token(t)?),
                None => start_after
                    .clone()
                    .filter(|s| !s.is_empty())
                    .map(ListStart::Key),
            }
        } else {
            marker
                .clone()
                .filter(|m| !m.is_empty())
                .map(|m| match &delimiter {
                    Some(d) if m.ends_with(d.as_str()) => ListStart::Prefix(m),
                    _ => ListStart::Key(m),
                })
        };
        let check = self.check(
            call,
            "s3:ListBucket",
            bucket.arn(),
            Some(&bucket),
            Self::list_context(q),
        );
        Ok(prepared(op, vec![check], move |call| async move {
            let page = s3.list_objects(
                bucket.name(),
                &ListQuery {
                    prefix: prefix.clone(),
                    delimiter: delimiter.clone(),
                    start,
                    max_keys: max,
                },
            )?;
            let mut x = Xml::new();
            x.open_ns("ListBucketResult", XMLNS);
            x.leaf("Name", bucket.name())
                .leaf("Prefix", &e.enc(&prefix));
            if v2 {
                x.opt("ContinuationToken", token.as_deref());
                x.opt(
                    "StartAfter",
                    start_after.as_deref().map(|s| e.enc(s)).as_deref(),
                );
                x.leaf(
                    "KeyCount",
                    &(page.objects.len() + page.prefixes.len()).to_string(),
                );
            } else {
                x.leaf("Marker", &e.enc(marker.as_deref().unwrap_or("")));
            }
            x.leaf("MaxKeys", &max.to_string());
            x.opt(
                "Delimiter",
                delimiter.as_deref().map(|d| e.enc(d)).as_deref(),
            );
            if e.on() {
                x.leaf("EncodingType", "url");
            }
            x.leaf("IsTruncated", &page.truncated.to_string());
            if page.truncated {
                if v2 {
                    x.opt(
                        "NextContinuationToken",
                        page.last.as_ref().map(encode_token).as_deref(),
                    );
                } else if delimiter.is_some() {
                    let next = match &page.last {
                        Some(ListStart::Key(k)) | Some(ListStart::Prefix(k)) => Some(e.enc(k)),
                        None => None,
                    };
                    x.opt("NextMarker", next.as_deref());
                }
            }
            for o in &page.objects {
                x.open("Contents");
                x.leaf("Key", &e.enc(&o.key));
                x.leaf("LastModified", &iso8601_ms(o.last_modified_ms));
                x.leaf("ETag", &o.quoted_etag());
                if let Some(c) = &o.checksum {
                    x.leaf("ChecksumAlgorithm", c.algorithm.as_str());
                    x.leaf("ChecksumType", c.kind());
                }
                x.leaf("Size", &o.size.to_string());
                if !v2 || fetch_owner {
                    x.open("Owner")
                        .leaf("ID", &canonical_id(&o.owner))
                        .close("Owner");
                }
                x.leaf(
                    "StorageClass",
                    o.meta.storage_class.as_deref().unwrap_or("STANDARD"),
                );
                x.close("Contents");
            }
            for p in &page.prefixes {
                x.open("CommonPrefixes")
                    .leaf("Prefix", &e.enc(p))
                    .close("CommonPrefixes");
            }
            x.close("ListBucketResult");
            Ok(xml_reply(&call, x.finish()))
        }))
    }

    fn prepare_list_versions(
        &self,
        call: &Call,
        bucket: Arc<Bucket>,
        q: &Query<'_>,
    ) -> Result<Prepared, S3Error> {
        let s3 = self.s3.clone();
        let prefix = q.get("prefix").unwrap_or("").to_string();
        let delimiter = q
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let max = parse_max(q, "max-keys")?;
        let e = Encoder::from_query(q)?;
        let key_marker = q.get("key-marker").map(str::to_string);
        let version_marker = q.get("version-id-marker").map(str::to_string);
        if version_marker.as_deref().is_some_and(|v| !v.is_empty())
            && key_marker.as_deref().is_none_or(str::is_empty)
        {
            return Err(S3Error::invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
                "version-id-marker",
                version_marker.as_deref().unwrap_or(""),
            ));
        }
        let check = self.check(
            call,
            "s3:ListBucketVersions",
            bucket.arn(),
            Some(&bucket),
            Self::list_context(q),
        );
        Ok(prepared(
            Op::ListObjectVersions,
            vec![check],
            move |call| async move {
                let page = s3.list_versions(
                    bucket.name(),
                    &prefix,
                    delimiter.as_deref(),
                    key_marker.as_deref(),
                    version_marker.as_deref(),
                    max,
                )?;
                let mut x = Xml::new();
                x.open_ns("ListVersionsResult", XMLNS);
                x.leaf("Name", bucket.name())
                    .leaf("Prefix", &e.enc(&prefix));
                x.leaf("KeyMarker", &e.enc(key_marker.as_deref().unwrap_or("")));
                x.leaf("VersionIdMarker", version_marker.as_deref().unwrap_or(""));
                x.opt(
                    "NextKeyMarker",
                    page.next_key_marker.as_deref().map(|k| e.enc(k)).as_deref(),
                );
                x.opt(
                    "NextVersionIdMarker",
                    page.next_version_id_marker.as_deref(),
                );
                x.leaf("MaxKeys", &max.to_string());
                x.opt(
                    "Delimiter",
                    delimiter.as_deref().map(|d| e.enc(d)).as_deref(),
                );
                if e.on() {
                    x.leaf("EncodingType", "url");
                }
                x.leaf("IsTruncated", &page.truncated.to_string());
                for (v, latest) in &page.versions {
                    if v.delete_marker {
                        x.open("DeleteMarker");
                        x.leaf("Key", &e.enc(&v.key))
                            .leaf("VersionId", &v.version_id);
                        x.leaf("IsLatest", &latest.to_string());
                        x.leaf("LastModified", &iso8601_ms(v.last_modified_ms));
                        x.open("Owner")
                            .leaf("ID", &canonical_id(&v.owner))
                            .close("Owner");
                        x.close("DeleteMarker");
                    } else {
                        x.open("Version");
                        x.leaf("Key", &e.enc(&v.key))
                            .leaf("VersionId", &v.version_id);
                        x.leaf("IsLatest", &latest.to_string());
                        x.leaf("LastModified", &iso8601_ms(v.last_modified_ms));
                        x.leaf("ETag", &v.quoted_etag());
                        if let Some(c) = &v.checksum {
                            x.leaf("ChecksumAlgorithm", c.algorithm.as_str());
                            x.leaf("ChecksumType", c.kind());
                        }
                        x.leaf("Size", &v.size.to_string());
                        x.leaf(
                            "StorageClass",
                            v.meta.storage_class.as_deref().unwrap_or("STANDARD"),
                        );
                        x.open("Owner")
                            .leaf("ID", &canonical_id(&v.owner))
                            .close("Owner");
                        x.close("Version");
                    }
                }
                for p in &page.prefixes {
                    x.open("CommonPrefixes")
                        .leaf("Prefix", &e.enc(p))
                        .close("CommonPrefixes");
                }
                x.close("ListVersionsResult");
                Ok(xml_reply(&call, x.finish()))
            },
        ))
    }
}

fn no_policy(bucket: &str) -> S3Error {
    S3Error::new(Code::NoSuchBucketPolicy, "The bucket policy does not exist")
        .with("BucketName", bucket)
}

fn encode_token(start: &ListStart) -> String {
    let raw = match start {
        ListStart::Key(k) => format!("k{k}"),
        ListStart::Prefix(p) => format!("p{p}"),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_token(t: &str) -> Result<ListStart, S3Error> {
    let bad = || {
        S3Error::invalid_argument(
            "The continuation token provided is incorrect",
            "continuation-token",
            t,
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    match s.split_at_checked(1) {
        Some(("k", k)) => Ok(ListStart::Key(k.to_string())),
        Some(("p", p)) => Ok(ListStart::Prefix(p.to_string())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn configuration_documents_parse() {
        let p = parse_pab(
            br#"<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><BlockPublicAcls>true</BlockPublicAcls><BlockPublicPolicy>true</BlockPublicPolicy></PublicAccessBlockConfiguration>"#,
        )
        .unwrap();
        assert!(p.block_public_acls && p.block_public_policy && !p.ignore_public_acls);
        let r = parse_encryption(br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"#).unwrap();
        assert_eq!(r.kms_key_id.as_deref(), Some("alias/k"));
        assert!(r.bucket_key_enabled);
        assert!(parse_encryption(b"<ServerSideEncryptionConfiguration/>").is_err());
        assert!(parse_encryption(br#"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"#).is_err());
        for t in [ListStart::Key("a/b".into()), ListStart::Prefix("c/".into())] {
            assert_eq!(decode_token(&encode_token(&t)).unwrap(), t);
        }
    }

    #[test]
    fn listing_encoding_is_s3s() {
        let e = Encoder(true);
        assert_eq!(e.enc("a b/c+d~ü*-_."), "a+b/c%2Bd%7E%C3%BC*-_.");
        assert_eq!(Encoder(false).enc("a b/"), "a b/");
    }

    proptest! {
        #[test]
        fn listing_encoding_round_trips(s in ".*") {
            let encoded = Encoder(true).enc(&s);
            let decoded: String = form_urlencoded::parse(format!("k={encoded}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .next()
                .unwrap_or_default();
            prop_assert_eq!(decoded, s);
        }

        #[test]
        fn config_parsers_never_panic(s in ".*") {
            let _ = parse_pab(s.as_bytes());
            let _ = parse_encryption(s.as_bytes());
            let _ = decode_token(&s);
        }
    }
}
