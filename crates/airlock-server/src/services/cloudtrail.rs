//! CloudTrail over AWS's JSON 1.1 protocol: `POST /` with
//! `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>`,
//! signing name `cloudtrail`, errors as `{"__type": CODE, "message": MESSAGE}`.
//!
//! `LookupEvents` reads the caller account's event history ([`airlock_cloudtrail::History`]):
//! management events of the last 90 days, newest first. `AirlockTailEvents` is airlock's own
//! extension for `airlock trail tail`: every event of the caller's account (data events too)
//! after a cursor, with the engine's explanation beside denials. Both are authorized by the
//! engine as `cloudtrail:LookupEvents`, like every other call.

use std::sync::Arc;

use airlock_cloudtrail::{
    Cursor, HistoryError, HistoryWriter, LookupAttribute, LookupAttributeKey, LookupQuery,
    StoredEvent,
};
use serde_json::{Value, json};

use crate::error::AwsError;
use crate::service::{Call, Check, Params, Prepared, Protocol, Reply, Service};

const JSON: &str = "application/x-amz-json-1.1";
/// The `X-Amz-Target` prefix of CloudTrail operations.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// airlock's extension operation behind `airlock trail tail` (not an AWS API; not recorded).
pub const TAIL_OPERATION: &str = "AirlockTailEvents";

/// The CloudTrail service.
pub struct CloudTrailService {
    writer: Arc<HistoryWriter>,
    trails: Option<Arc<super::cloudtrail_trails::TrailsApi>>,
}

impl std::fmt::Debug for CloudTrailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudTrailService").finish_non_exhaustive()
    }
}

impl CloudTrailService {
    /// CloudTrail over the event history written by `writer`.
    pub fn new(writer: Arc<HistoryWriter>) -> Self {
        CloudTrailService {
            writer,
            trails: None,
        }
    }

    /// Serves the trail operations (`CreateTrail`, ..., `ListPublicKeys`) with `trails`.
    pub fn with_trails(mut self, trails: Arc<super::cloudtrail_trails::TrailsApi>) -> Self {
        self.trails = Some(trails);
        self
    }
}

fn target(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok())
}

/// The operation named by `X-Amz-Target`: botocore sends the long form
/// (`com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.Op`), aws-sdk-rust the short one
/// (`CloudTrail_20131101.Op`); CloudTrail accepts both.
fn target_operation(headers: &http::HeaderMap) -> Option<&str> {
    let t = target(headers)?;
    t.strip_prefix(TARGET_PREFIX)
        .or_else(|| t.strip_prefix(SHORT_TARGET_PREFIX))
}

/// The short `X-Amz-Target` prefix aws-sdk-rust sends.
const SHORT_TARGET_PREFIX: &str = "CloudTrail_20131101.";

fn reply(v: Value) -> Reply {
    Reply::new(200, JSON, v.to_string().into_bytes())
}

fn body_json(call: &Call) -> Result<Value, AwsError> {
    if call.body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&call.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(AwsError::new(
            400,
            "SerializationException",
            "The request body is not a JSON object.",
        )),
    }
}

fn history_error(e: HistoryError) -> AwsError {
    if let HistoryError::Store(s) = &e {
        tracing::error!(target: "airlock::cloudtrail", error = %s, "reading the event history failed");
        return AwsError::new(
            500,
            "InternalFailure",
            "The event history could not be read.",
        );
    }
    AwsError::new(400, e.code(), e.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A JSON 1.1 timestamp: epoch seconds (number) or an ISO 8601 string.
fn timestamp(v: &Value, field: &str) -> Result<Option<i64>, AwsError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| Some(f.floor() as i64))
            .ok_or_else(|| bad_param(field)),
        Value::String(s) => airlock_cloudtrail::parse_event_time(s)
            .map(Some)
            .ok_or_else(|| bad_param(field)),
        _ => Err(bad_param(field)),
    }
}

fn bad_param(field: &str) -> AwsError {
    AwsError::new(
        400,
        "SerializationException",
        format!("The value of {field} is not valid."),
    )
}

/// Parses a `LookupEvents` request body.
pub fn parse_lookup(v: &Value) -> Result<LookupQuery, AwsError> {
    let mut q = LookupQuery::default();
    if let Some(attrs) = v.get("LookupAttributes").filter(|a| !a.is_null()) {
        let Value::Array(list) = attrs else {
            return Err(bad_param("LookupAttributes"));
        };
        for a in list {
            let key = a.get("AttributeKey").and_then(Value::as_str);
            let value = a.get("AttributeValue").and_then(Value::as_str);
            let (Some(key), Some(value)) = (key, value) else {
                return Err(AwsError::new(
                    400,
                    "InvalidLookupAttributesException",
                    "AttributeKey and AttributeValue are required.",
                ));
            };
            let Some(key) = LookupAttributeKey::parse(key) else {
                return Err(AwsError::new(
                    400,
                    "InvalidLookupAttributesException",
                    format!(
                        "Invalid attribute key: {key}. Valid keys are: EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId."
                    ),
                ));
            };
            q.attributes.push(LookupAttribute {
                key,
                value: value.to_string(),
            });
        }
    }
    q.start_time = timestamp(v.get("StartTime").unwrap_or(&Value::Null), "StartTime")?;
    q.end_time = timestamp(v.get("EndTime").unwrap_or(&Value::Null), "EndTime")?;
    q.max_results = match v.get("MaxResults") {
        None | Some(Value::Null) => None,
        Some(n) => Some(n.as_i64().ok_or_else(|| bad_param("MaxResults"))?),
    };
    if let Some(cat) = v.get("EventCategory").and_then(Value::as_str)
        && cat != "insight"
    {
        return Err(AwsError::new(
            400,
            "InvalidEventCategoryException",
            format!("Invalid event category: {cat}."),
        ));
    }
    q.next_token = match v.get("NextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad_param("NextToken")),
    };
    Ok(q)
}

/// One entry of `LookupEvents`' `Events`.
pub fn lookup_entry(e: &StoredEvent) -> Value {
    let r = &e.record;
    let mut out = json!({
        "EventId": r.event_id,
        "EventName": r.event_name,
        "ReadOnly": r.read_only.to_string(),
        "EventTime": e.epoch_seconds(),
        "EventSource": r.event_source,
        "Resources": r.resources.iter().map(|x| json!({
            "ResourceType": x.kind,
            "ResourceName": x.arn,
        })).collect::<Vec<_>>(),
        "CloudTrailEvent": serde_json::to_string(r).unwrap_or_default(),
    });
    if let Some(k) = &r.user_identity.access_key_id {
        out["AccessKeyId"] = json!(k);
    }
    if let Some(u) = r.username() {
        out["Username"] = json!(u);
    }
    out
}

impl Service for CloudTrailService {
    fn signing_name(&self) -> &'static str {
        "cloudtrail"
    }

    fn protocol(&self) -> Protocol {
        Protocol::Json
    }

    fn claims_unsigned(
        &self,
        _m: &http::Method,
        _p: &str,
        _params: &Params,
        headers: &http::HeaderMap,
    ) -> bool {
        target_operation(headers).is_some()
    }

    fn operation_name(&self, _params: &Params, headers: &http::HeaderMap) -> Option<String> {
        target_operation(headers).map(str::to_string)
    }

    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError> {
        let op = match target_operation(&call.headers) {
            Some(op) if !op.is_empty() && call.method == http::Method::POST => op.to_string(),
            _ => return Err(AwsError::new(400, "UnknownOperationException", "")),
        };
        let body = body_json(call)?;
        let account = call.caller.account.clone();
        // One arm per operation: trail management adds its arms here.
        match op.as_str() {
            "LookupEvents" => {
                let q = parse_lookup(&body)?;
                let writer = self.writer.clone();
                let check = Check::new("cloudtrail:LookupEvents", "*", &account);
                Ok(Prepared::sync(&op, vec![check], move |_call| {
                    // Read your writes: every call answered before this one is in the history.
                    writer.flush();
                    let page = writer
                        .history()
                        .lookup(&account, &q, now())
                        .map_err(history_error)?;
                    let mut out = json!({
                        "Events": page.events.iter().map(lookup_entry).collect::<Vec<_>>(),
                    });
                    if let Some(t) = page.next_token {
                        out["NextToken"] = json!(t);
                    }
                    Ok(reply(out))
                }))
            }
            TAIL_OPERATION => {
                let after = body.get("After").and_then(Value::as_u64).unwrap_or(0);
                let limit = body
                    .get("Limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(500)
                    .clamp(1, 5000) as usize;
                let from_end = body
                    .get("FromEnd")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let writer = self.writer.clone();
                let check = Check::new("cloudtrail:LookupEvents", "*", &account);
                Ok(Prepared::sync(&op, vec![check], move |_call| {
                    let latest = writer.flush();
                    if from_end {
                        return Ok(reply(json!({"Events": [], "Cursor": latest.0})));
                    }
                    let mut cursor = Cursor(after);
                    let mut events = Vec::new();
                    // Scan up to a few batches for this account's events.
                    for _ in 0..8 {
                        let batch = writer
                            .history()
                            .read_after(cursor, limit)
                            .map_err(history_error)?;
                        let done = batch.len() < limit;
                        for (c, e) in batch {
                            cursor = c;
                            if e.recipient_account == account {
                                events.push(json!({
                                    "Cursor": c.0,
                                    "Record": e.record,
                                    "Explanation": e.explanation,
                                }));
                            }
                        }
                        if done || events.len() >= limit {
                            break;
                        }
                    }
                    Ok(reply(json!({"Events": events, "Cursor": cursor.0})))
                }))
            }
            op if super::cloudtrail_trails::TrailsApi::handles(op) && self.trails.is_some() => {
                match &self.trails {
                    Some(t) => t.prepare(op, call, &body),
                    None => Err(AwsError::new(400, "UnknownOperationException", "")),
                }
            }
            other => Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("airlock does not implement the CloudTrail operation {other}"),
            )),
        }
    }
}
