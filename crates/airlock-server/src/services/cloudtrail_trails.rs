//! CloudTrail's trail operations (`CreateTrail`, `GetTrail`, `DescribeTrails`, `ListTrails`,
//! `UpdateTrail`, `DeleteTrail`, `StartLogging`, `StopLogging`, `GetTrailStatus`,
//! `PutEventSelectors`, `GetEventSelectors`, `ListPublicKeys`) and the delivery of log and
//! digest files into S3.
//!
//! The CloudTrail dispatch ([`super::cloudtrail`]) hands these operations to [`TrailsApi`];
//! each is authorized by the engine as `cloudtrail:<Operation>` on the trail's ARN.
//!
//! Delivery writes through S3's own request path: a `PutObject` made by the CloudTrail service
//! principal (`cloudtrail.amazonaws.com`) with the context AWS sends (`aws:SourceArn` = the
//! trail ARN, `aws:SourceAccount`, `s3:x-amz-acl = bucket-owner-full-control`), prepared by
//! [`S3Service`] (so the bucket's default encryption, ownership and policy apply as to any
//! writer), every check decided by the engine against the bucket policy, and committed durably
//! before [`airlock_cloudtrail::delivery`] advances the trail's cursor.

use std::sync::Arc;

use airlock_cloudtrail::delivery::{BoxFuture, ObjectSink};
use airlock_cloudtrail::digest::KeyRing;
use airlock_cloudtrail::selectors::{AdvancedEventSelector, EventSelector, Selectors};
use airlock_cloudtrail::trail::{CreateTrail, Trail, TrailError, Trails};
use airlock_policy::{Context, ContextValue, Evaluation, PolicySet, Principal, Request, Resource};
use airlock_s3::S3;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::AwsError;
use crate::sealing::MasterKeySealer;
use crate::service::{Call, Caller, CallerKind, Check, Origin, Params, Prepared, Reply, Service};
use crate::services::s3::S3Service;

const JSON: &str = "application/x-amz-json-1.1";
/// CloudTrail's service principal.
pub const CLOUDTRAIL_PRINCIPAL: &str = "cloudtrail.amazonaws.com";

/// The trail operations this module serves.
pub const OPERATIONS: &[&str] = &[
    "CreateTrail",
    "GetTrail",
    "DescribeTrails",
    "ListTrails",
    "UpdateTrail",
    "DeleteTrail",
    "StartLogging",
    "StopLogging",
    "GetTrailStatus",
    "PutEventSelectors",
    "GetEventSelectors",
    "ListPublicKeys",
];

/// The trail API and the S3 writer of delivery.
pub struct TrailsApi {
    trails: Arc<Trails>,
    keys: Arc<KeyRing>,
    s3: S3Service,
    head: Arc<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for TrailsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrailsApi").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn err(code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(400, code, message)
}

fn trail_error(e: TrailError) -> AwsError {
    if let TrailError::Store(s) = &e {
        tracing::error!(target: "airlock::cloudtrail", error = %s, "trail store failed");
        return AwsError::new(500, "InternalFailure", "The trail could not be stored.");
    }
    err(e.code(), e.to_string())
}

fn reply(v: Value) -> Reply {
    Reply::new(200, JSON, v.to_string().into_bytes())
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, AwsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(
            "InvalidParameterException",
            format!("{name} must be a string"),
        )),
    }
}

fn required<'a>(v: &'a Value, name: &str) -> Result<&'a str, AwsError> {
    str_field(v, name)?.ok_or_else(|| {
        err(
            "InvalidParameterException",
            format!("Missing required parameter {name}"),
        )
    })
}

fn bool_field(v: &Value, name: &str) -> Result<Option<bool>, AwsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(err(
            "InvalidParameterException",
            format!("{name} must be a boolean"),
        )),
    }
}

fn time_field(v: &Value, name: &str) -> Result<Option<i64>, AwsError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|f| Some((f * 1000.0) as i64))
            .ok_or_else(|| err("InvalidTimeRangeException", format!("{name} is not a time"))),
        Some(Value::String(s)) => airlock_cloudtrail::validate::parse_time(s)
            .map(Some)
            .ok_or_else(|| err("InvalidTimeRangeException", format!("{name} is not a time"))),
        Some(_) => Err(err(
            "InvalidTimeRangeException",
            format!("{name} is not a time"),
        )),
    }
}

fn epoch(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// A trail as `DescribeTrails`/`GetTrail` return it.
pub fn trail_json(t: &Trail) -> Value {
    let mut v = json!({
        "Name": t.name,
        "S3BucketName": t.s3_bucket_name,
        "IncludeGlobalServiceEvents": t.include_global_service_events,
        "IsMultiRegionTrail": t.is_multi_region_trail,
        "HomeRegion": t.home_region,
        "TrailARN": t.arn(),
        "LogFileValidationEnabled": t.log_file_validation_enabled,
        "HasCustomEventSelectors": t.selectors != Selectors::default(),
        "HasInsightSelectors": false,
        "IsOrganizationTrail": false,
    });
    if let Some(p) = &t.s3_key_prefix {
        v["S3KeyPrefix"] = json!(p);
    }
    v
}

fn create_json(t: &Trail) -> Value {
    let mut v = trail_json(t);
    if let Some(o) = v.as_object_mut() {
        o.remove("HomeRegion");
        o.remove("HasCustomEventSelectors");
        o.remove("HasInsightSelectors");
    }
    v
}

fn selectors_json(t: &Trail) -> Value {
    match &t.selectors {
        Selectors::Basic(s) => json!({ "TrailARN": t.arn(), "EventSelectors": s }),
        Selectors::Advanced(s) => json!({ "TrailARN": t.arn(), "AdvancedEventSelectors": s }),
    }
}

/// The context CloudTrail's requests to S3 carry.
fn cloudtrail_context(trail_arn: &str, account: &str) -> Context {
    let mut ctx = Context::new();
    for (k, v) in [
        ("aws:SourceArn", trail_arn.to_string()),
        ("aws:SourceAccount", account.to_string()),
        ("aws:SecureTransport", "true".to_string()),
        ("aws:ViaAWSService", "false".to_string()),
    ] {
        ctx.insert(k, ContextValue::Single(v));
    }
    let secs = now_ms() / 1000;
    ctx.insert(
        "aws:CurrentTime",
        ContextValue::Single(crate::xml::iso8601(secs)),
    );
    ctx.insert("aws:EpochTime", ContextValue::Single(secs.to_string()));
    ctx
}

/// Decides one check for the CloudTrail service principal: the bucket policy is the only
/// policy that can allow it (a service principal has no identity policies).
fn authorize_service(check: &Check, extra: &Context) -> Evaluation {
    let mut context = check.context.clone();
    for (k, v) in extra.iter() {
        if context.get(k).is_none() {
            context.insert(k, v.clone());
        }
    }
    let request = Request {
        principal: Principal::Service {
            name: CLOUDTRAIL_PRINCIPAL.to_string(),
        },
        action: check.action.clone(),
        resource: check.resource.clone(),
        context,
    };
    airlock_policy::evaluate(
        &request,
        &PolicySet {
            resource: check.resource_policy.clone(),
            ..PolicySet::default()
        },
    )
}

fn cloudtrail_caller() -> Arc<Caller> {
    Arc::new(Caller {
        principal: Principal::Service {
            name: CLOUDTRAIL_PRINCIPAL.to_string(),
        },
        arn: CLOUDTRAIL_PRINCIPAL.to_string(),
        account: String::new(),
        user_id: CLOUDTRAIL_PRINCIPAL.to_string(),
        access_key_id: String::new(),
        // Not a caller of any account: S3 treats it as outside every account.
        kind: CallerKind::Anonymous,
        identity: Vec::new(),
        boundary: None,
        session_policies: Vec::new(),
    })
}

fn object_path(bucket: &str, key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!(
        "/{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, KEEP)
    )
}

impl TrailsApi {
    /// The trail API over the store, S3 and the event history (`head` gives its newest
    /// sequence number), sealing signing keys under the KMS master key.
    pub fn new(
        store: Arc<dyn airlock_store::Store>,
        s3: Arc<S3>,
        master: Arc<airlock_kms::MasterKey>,
        head: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> Self {
        TrailsApi {
            trails: Arc::new(Trails::new(store.clone())),
            keys: Arc::new(KeyRing::new(store, Arc::new(MasterKeySealer(master)))),
            s3: S3Service::new(s3),
            head,
        }
    }

    /// The trails.
    pub fn trails(&self) -> &Arc<Trails> {
        &self.trails
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Whether `op` is a trail operation.
    pub fn handles(op: &str) -> bool {
        OPERATIONS.contains(&op)
    }

    /// Checks that CloudTrail may write to `bucket` for this trail, as `CreateTrail` and
    /// `UpdateTrail` do: `s3:GetBucketAcl` on the bucket and `s3:PutObject` under
    /// `PREFIX/AWSLogs/ACCOUNT/`, decided by the bucket policy.
    fn check_bucket(
        &self,
        bucket_name: &str,
        prefix: Option<&str>,
        trail_arn: &str,
        account: &str,
    ) -> Result<(), AwsError> {
        let Some(bucket) = self.s3.s3().bucket(bucket_name) else {
            return Err(err(
                "S3BucketDoesNotExistException",
                format!("S3 bucket does not exist: {bucket_name}"),
            ));
        };
        let ctx = cloudtrail_context(trail_arn, account);
        let policy = bucket.named_policy();
        let owner = bucket.owner().to_string();
        let key = match prefix.filter(|p| !p.is_empty()) {
            Some(p) => format!("{p}/AWSLogs/{account}/"),
            None => format!("AWSLogs/{account}/"),
        };
        let mut put_ctx = Context::new();
        put_ctx.insert(
            "s3:x-amz-acl",
            ContextValue::Single("bucket-owner-full-control".into()),
        );
        let checks = [
            Check {
                action: "s3:GetBucketAcl".into(),
                resource: Resource {
                    arn: format!("arn:aws:s3:::{bucket_name}"),
                    account: Some(owner.clone()),
                },
                resource_policy: policy.clone(),
                context: Context::new(),
            },
            Check {
                action: "s3:PutObject".into(),
                resource: Resource {
                    arn: format!("arn:aws:s3:::{bucket_name}/{key}"),
                    account: Some(owner),
                },
                resource_policy: policy,
                context: put_ctx,
            },
        ];
        for c in &checks {
            if !authorize_service(c, &ctx).decision.is_allowed() {
                return Err(err(
                    "InsufficientS3BucketPolicyException",
                    format!("Incorrect S3 bucket policy is detected for bucket: {bucket_name}"),
                ));
            }
        }
        Ok(())
    }

    /// Plans a trail operation: parses the input, names the check, runs on approval.
    pub fn prepare(
        self: &Arc<Self>,
        op: &str,
        call: &Call,
        body: &Value,
    ) -> Result<Prepared, AwsError> {
        let account = call.caller.account.clone();
        let region = call.region.clone();
        let arn_of = |name: &str| {
            if name.starts_with("arn:") {
                name.to_string()
            } else {
                format!("arn:aws:cloudtrail:{region}:{account}:trail/{name}")
            }
        };
        let check =
            |resource: &str| vec![Check::new(&format!("cloudtrail:{op}"), resource, &account)];
        let api = self.clone();
        let (a, r) = (account.clone(), region.clone());
        match op {
            "CreateTrail" => {
                let input = CreateTrail {
                    name: required(body, "Name")?.to_string(),
                    s3_bucket_name: required(body, "S3BucketName")?.to_string(),
                    s3_key_prefix: str_field(body, "S3KeyPrefix")?.map(str::to_string),
                    is_multi_region_trail: bool_field(body, "IsMultiRegionTrail")?.unwrap_or(false),
                    include_global_service_events: bool_field(body, "IncludeGlobalServiceEvents")?,
                    enable_log_file_validation: bool_field(body, "EnableLogFileValidation")?
                        .unwrap_or(false),
                };
                airlock_cloudtrail::trail::validate_name(&input.name).map_err(trail_error)?;
                let arn = arn_of(&input.name);
                Ok(Prepared::sync(op, check(&arn), move |_| {
                    api.check_bucket(
                        &input.s3_bucket_name,
                        input.s3_key_prefix.as_deref(),
                        &arn,
                        &a,
                    )?;
                    let t = api
                        .trails
                        .create(&a, &r, input, now_ms())
                        .map_err(trail_error)?;
                    Ok(reply(create_json(&t)))
                }))
            }
            "GetTrail" => {
                let name = required(body, "Name")?.to_string();
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    let t = api.trails.get(&a, &r, &name).map_err(trail_error)?;
                    Ok(reply(json!({ "Trail": trail_json(&t) })))
                }))
            }
            "DescribeTrails" => {
                let names: Option<Vec<String>> = match body.get("trailNameList") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(a)) => Some(
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect(),
                    ),
                    Some(_) => {
                        return Err(err(
                            "InvalidParameterException",
                            "trailNameList must be a list",
                        ));
                    }
                };
                let shadow = bool_field(body, "includeShadowTrails")?.unwrap_or(true);
                let resource = format!("arn:aws:cloudtrail:{region}:{account}:trail/*");
                Ok(Prepared::sync(op, check(&resource), move |_| {
                    let all = api.trails.list(&a, &r).map_err(trail_error)?;
                    let list: Vec<Value> = all
                        .iter()
                        .filter(|t| shadow || t.home_region == r)
                        .filter(|t| {
                            names.as_ref().is_none_or(|n| {
                                n.is_empty() || n.iter().any(|x| *x == t.name || *x == t.arn())
                            })
                        })
                        .map(trail_json)
                        .collect();
                    Ok(reply(json!({ "trailList": list })))
                }))
            }
            "ListTrails" => {
                let resource = format!("arn:aws:cloudtrail:{region}:{account}:trail/*");
                Ok(Prepared::sync(op, check(&resource), move |_| {
                    let all = api.trails.list(&a, &r).map_err(trail_error)?;
                    let list: Vec<Value> = all
                        .iter()
                        .map(|t| {
                            json!({"TrailARN": t.arn(), "Name": t.name, "HomeRegion": t.home_region})
                        })
                        .collect();
                    Ok(reply(json!({ "Trails": list })))
                }))
            }
            "DeleteTrail" => {
                let name = required(body, "Name")?.to_string();
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    api.trails.delete(&a, &r, &name).map_err(trail_error)?;
                    Ok(reply(json!({})))
                }))
            }
            "UpdateTrail" => {
                let name = required(body, "Name")?.to_string();
                let bucket = str_field(body, "S3BucketName")?.map(str::to_string);
                let prefix = str_field(body, "S3KeyPrefix")?.map(str::to_string);
                let multi = bool_field(body, "IsMultiRegionTrail")?;
                let global = bool_field(body, "IncludeGlobalServiceEvents")?;
                let validation = bool_field(body, "EnableLogFileValidation")?;
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    let current = api.trails.get(&a, &r, &name).map_err(trail_error)?;
                    if bucket.is_some() || prefix.is_some() {
                        let b = bucket.as_deref().unwrap_or(&current.s3_bucket_name);
                        let p = prefix.as_deref().or(current.s3_key_prefix.as_deref());
                        api.check_bucket(b, p, &current.arn(), &a)?;
                    }
                    let t = api
                        .trails
                        .update(&a, &r, &name, |t| {
                            if let Some(b) = bucket {
                                t.s3_bucket_name = b;
                            }
                            if let Some(p) = prefix {
                                t.s3_key_prefix = (!p.is_empty()).then_some(p);
                            }
                            if let Some(m) = multi {
                                t.is_multi_region_trail = m;
                            }
                            if let Some(g) = global {
                                t.include_global_service_events = g;
                            }
                            if let Some(v) = validation {
                                t.log_file_validation_enabled = v;
                            }
                            Ok(())
                        })
                        .map_err(trail_error)?;
                    Ok(reply(create_json(&t)))
                }))
            }
            "StartLogging" | "StopLogging" => {
                let name = required(body, "Name")?.to_string();
                let on = op == "StartLogging";
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    let t = api.trails.get(&a, &r, &name).map_err(trail_error)?;
                    if t.home_region != r {
                        return Err(trail_error(TrailError::NotFound {
                            arn: arn_of_name(&r, &a, &name),
                            account: a.clone(),
                        }));
                    }
                    api.trails
                        .set_logging(&t, on, now_ms(), (api.head)())
                        .map_err(trail_error)?;
                    Ok(reply(json!({})))
                }))
            }
            "GetTrailStatus" => {
                let name = required(body, "Name")?.to_string();
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    let t = api.trails.get(&a, &r, &name).map_err(trail_error)?;
                    let s = api.trails.state(&t).map_err(trail_error)?;
                    let mut v = json!({ "IsLogging": s.is_logging });
                    let iso = |ms: i64| airlock_cloudtrail::delivery::iso_seconds(ms);
                    if let Some(ms) = s.latest_delivery_ms {
                        v["LatestDeliveryTime"] = epoch(ms);
                    }
                    if let Some(e) = &s.latest_delivery_error {
                        v["LatestDeliveryError"] = json!(e);
                    }
                    if let Some(ms) = s.latest_digest_delivery_ms {
                        v["LatestDigestDeliveryTime"] = epoch(ms);
                    }
                    if let Some(e) = &s.latest_digest_delivery_error {
                        v["LatestDigestDeliveryError"] = json!(e);
                    }
                    if let Some(ms) = s.start_logging_ms {
                        v["StartLoggingTime"] = epoch(ms);
                        v["TimeLoggingStarted"] = json!(iso(ms));
                    }
                    if let Some(ms) = s.stop_logging_ms {
                        v["StopLoggingTime"] = epoch(ms);
                        v["TimeLoggingStopped"] = json!(iso(ms));
                    }
                    if let Some(ms) = s.latest_delivery_attempt_ms {
                        v["LatestDeliveryAttemptTime"] = json!(iso(ms));
                    }
                    if let Some(ms) = s.latest_delivery_ms {
                        v["LatestDeliveryAttemptSucceeded"] = json!(iso(ms));
                    }
                    Ok(reply(v))
                }))
            }
            "PutEventSelectors" => {
                let name = required(body, "TrailName")?.to_string();
                let basic = body.get("EventSelectors").filter(|v| !v.is_null());
                let advanced = body.get("AdvancedEventSelectors").filter(|v| !v.is_null());
                let selectors = match (basic, advanced) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(err(
                            "InvalidEventSelectorsException",
                            "You must specify either EventSelectors or AdvancedEventSelectors, but not both.",
                        ));
                    }
                    (Some(b), None) => Selectors::Basic(
                        serde_json::from_value::<Vec<EventSelector>>(b.clone()).map_err(|e| {
                            err(
                                "InvalidEventSelectorsException",
                                format!("Invalid EventSelectors: {e}"),
                            )
                        })?,
                    ),
                    (None, Some(a)) => Selectors::Advanced(
                        serde_json::from_value::<Vec<AdvancedEventSelector>>(a.clone()).map_err(
                            |e| {
                                err(
                                    "InvalidEventSelectorsException",
                                    format!("Invalid AdvancedEventSelectors: {e}"),
                                )
                            },
                        )?,
                    ),
                };
                selectors
                    .validate()
                    .map_err(|e| err("InvalidEventSelectorsException", e.to_string()))?;
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    let t = api
                        .trails
                        .update(&a, &r, &name, |t| {
                            t.selectors = selectors;
                            Ok(())
                        })
                        .map_err(trail_error)?;
                    Ok(reply(selectors_json(&t)))
                }))
            }
            "GetEventSelectors" => {
                let name = required(body, "TrailName")?.to_string();
                Ok(Prepared::sync(op, check(&arn_of(&name)), move |_| {
                    let t = api.trails.get(&a, &r, &name).map_err(trail_error)?;
                    Ok(reply(selectors_json(&t)))
                }))
            }
            "ListPublicKeys" => {
                let now = now_ms();
                let start = time_field(body, "StartTime")?.unwrap_or(now);
                let end = time_field(body, "EndTime")?.unwrap_or(now);
                if start > end {
                    return Err(err(
                        "InvalidTimeRangeException",
                        "Start time must be before end time.",
                    ));
                }
                let resource = "*".to_string();
                Ok(Prepared::sync(op, check(&resource), move |_| {
                    let keys = api.keys.public_keys(&r, start, end, now).map_err(|e| {
                        tracing::error!(target: "airlock::cloudtrail", error = %e, "public keys");
                        AwsError::new(500, "InternalFailure", "The public keys could not be read.")
                    })?;
                    let list: Vec<Value> = keys
                        .iter()
                        .map(|k| {
                            json!({
                                "Value": STANDARD.encode(&k.value),
                                "ValidityStartTime": epoch(k.validity_start_ms),
                                "ValidityEndTime": epoch(k.validity_end_ms),
                                "Fingerprint": k.fingerprint,
                            })
                        })
                        .collect();
                    Ok(reply(json!({ "PublicKeyList": list })))
                }))
            }
            _ => Err(err("UnknownOperationException", "")),
        }
    }

    /// Writes an object as the CloudTrail service principal through S3's request path.
    async fn put_as_cloudtrail(
        &self,
        trail: &Trail,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        metadata: Vec<(String, String)>,
    ) -> Result<(), String> {
        let mut headers = http::HeaderMap::new();
        let mut set = |k: &str, v: &str| {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                headers.insert(k, v);
            }
        };
        set("host", "127.0.0.1");
        set("content-length", &body.len().to_string());
        set("content-type", "application/json");
        set("content-encoding", "gzip");
        set("x-amz-acl", "bucket-owner-full-control");
        set(
            "x-amz-content-sha256",
            &airlock_cloudtrail::digest::sha256_hex(&body),
        );
        for (k, v) in &metadata {
            set(&format!("x-amz-meta-{k}"), v);
        }
        let call = Call {
            request_id: crate::pipeline::new_request_id(),
            method: http::Method::PUT,
            path: object_path(bucket, key),
            headers,
            params: Params::default(),
            body: Bytes::new(),
            body_stream: Some(crate::body::RequestBody::from_bytes(body)),
            signature: None,
            region: trail.home_region.clone(),
            caller: cloudtrail_caller(),
            origin: Origin::plain(std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
            key_uses: Default::default(),
        };
        let prepared = self.s3.prepare(&call).map_err(|e| e.code)?;
        let ctx = cloudtrail_context(&trail.arn(), &trail.account);
        for check in &prepared.checks {
            let eval = authorize_service(check, &ctx);
            if !eval.decision.is_allowed() {
                tracing::warn!(
                    target: "airlock::cloudtrail",
                    trail = %trail.arn(),
                    bucket,
                    key,
                    action = %check.action,
                    explanation = %serde_json::to_string(&eval.explanation).unwrap_or_default(),
                    "delivery denied by the bucket policy"
                );
                return Err("AccessDenied".to_string());
            }
        }
        (prepared.run)(call).await.map(|_| ()).map_err(|e| e.code)
    }
}

fn arn_of_name(region: &str, account: &str, name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        format!("arn:aws:cloudtrail:{region}:{account}:trail/{name}")
    }
}

/// The S3 writer of delivery.
#[derive(Debug, Clone)]
pub struct CloudTrailS3Sink(pub Arc<TrailsApi>);

impl ObjectSink for CloudTrailS3Sink {
    fn put_object<'a>(
        &'a self,
        trail: &'a Trail,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
        metadata: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.0.put_as_cloudtrail(trail, bucket, key, body, metadata))
    }
}

/// The delivery task: one pass every `interval` until `stop`.
pub async fn delivery_loop(
    delivery: Arc<airlock_cloudtrail::delivery::Delivery>,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let report = delivery.run_once(now_ms()).await;
        if report.log_files + report.digests + report.errors > 0 {
            tracing::debug!(
                target: "airlock::cloudtrail",
                log_files = report.log_files,
                events = report.events,
                digests = report.digests,
                errors = report.errors,
                "delivery pass"
            );
        }
    }
}

/// Builds the trail API and the delivery task over the store, S3, the KMS master key and the
/// event history.
pub fn wire(
    store: Arc<dyn airlock_store::Store>,
    s3: Arc<S3>,
    master: Arc<airlock_kms::MasterKey>,
    history: Arc<airlock_cloudtrail::History>,
    config: &crate::ServeConfig,
) -> (Arc<TrailsApi>, Arc<airlock_cloudtrail::delivery::Delivery>) {
    let h = history.clone();
    let api = Arc::new(TrailsApi::new(
        store,
        s3,
        master,
        Arc::new(move || h.latest().0),
    ));
    let delivery = Arc::new(airlock_cloudtrail::delivery::Delivery::new(
        api.trails().clone(),
        api.keys().clone(),
        history,
        Arc::new(CloudTrailS3Sink(api.clone())),
        airlock_cloudtrail::delivery::DeliveryConfig {
            digest_period_ms: config.trail_digest_period.as_millis() as i64,
            batch: 1000,
        },
    ));
    (api, delivery)
}
