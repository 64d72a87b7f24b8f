//! The record of every call: what the pipeline hands to recorders (the log line today, the
//! CloudTrail-format audit trail and event notifications later).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use airlock_policy::Explanation;
use serde_json::Value;

use crate::service::{Caller, NetworkOrigin};

/// How a call was decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Authentication failed (no principal).
    Unauthenticated,
    /// Authorized by the engine (or needing no authorization, like `GetCallerIdentity`).
    Allowed,
    /// Denied by the engine, with its explanation.
    Denied(Box<Explanation>),
    /// Rejected before authorization (unknown action, invalid input).
    Rejected,
}

impl Outcome {
    /// `allow`, `deny`, `unauthenticated` or `rejected`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Allowed => "allow",
            Outcome::Denied(_) => "deny",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One API call as recorded.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Request id.
    pub request_id: String,
    /// When the request arrived.
    pub time: SystemTime,
    /// Signing name of the service (`iam`, `sts`).
    pub service: String,
    /// Operation (`CreateRole`), if known.
    pub operation: Option<String>,
    /// The caller's account, if authenticated.
    pub account: Option<String>,
    /// The caller's ARN, if authenticated.
    pub principal: Option<String>,
    /// The access key id presented, if any.
    pub access_key_id: Option<String>,
    /// The authorized (or denied) action, e.g. `iam:CreateRole`.
    pub action: Option<String>,
    /// The resource of the deciding check.
    pub resource: Option<String>,
    /// Decision.
    pub outcome: Outcome,
    /// HTTP status answered.
    pub status: u16,
    /// AWS error code answered, if any.
    pub error_code: Option<String>,
    /// Error message answered, if any.
    pub error_message: Option<String>,
    /// Wall time from request to response.
    pub latency: Duration,
    /// Peer address.
    pub source_ip: IpAddr,
    /// Arrived over TLS.
    pub tls: bool,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Region of the request.
    pub region: String,

    // ---- What the audit trail needs (filled only when a recorder asks for details, see
    // ---- [`Recorder::wants_details`]; service-invoked records always have them).
    /// The authenticated caller: kind (root, user, role session with its issuer, creation
    /// date and source identity), ARN, account, access key id. `None` when unauthenticated.
    /// Holds no secret that recorders may write: they pick the fields they need.
    pub caller: Option<Arc<Caller>>,
    /// CloudTrail's `eventSource` (`s3.amazonaws.com`).
    pub event_source: String,
    /// The VPC endpoint the request came through.
    pub network: Option<Arc<NetworkOrigin>>,
    /// Negotiated TLS version (`1.2`, `1.3`).
    pub tls_version: Option<&'static str>,
    /// Negotiated cipher suite (`TLS_AES_128_GCM_SHA256`).
    pub tls_cipher: Option<&'static str>,
    /// The `Host` header the client sent.
    pub host: Option<String>,
    /// `requestParameters` (never secrets).
    pub request_parameters: Option<Value>,
    /// `responseElements` (never secrets).
    pub response_elements: Option<Value>,
    /// `additionalEventData`.
    pub additional_event_data: Option<Value>,
    /// The resources of the call: the checks' resources and those the service names.
    pub resources: Vec<RecordResource>,
    /// Whether the call only reads.
    pub read_only: bool,
    /// A data event (S3 object-level) rather than a management event.
    pub data_event: bool,
    /// The service that made this call on the caller's behalf (`s3.amazonaws.com`).
    pub invoked_by: Option<String>,
}

/// A resource of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordResource {
    /// ARN.
    pub arn: String,
    /// Owner account, when known.
    pub account: Option<String>,
    /// CloudTrail's type (`AWS::S3::Object`).
    pub kind: String,
}

/// One KMS call a service made in process on the caller's behalf.
#[derive(Debug, Clone)]
pub struct KeyUseRecord {
    /// `GenerateDataKey` or `Decrypt`.
    pub operation: &'static str,
    /// The key ARN.
    pub key_arn: Option<String>,
    /// The encryption context.
    pub encryption_context: std::collections::BTreeMap<String, String>,
    /// `KeySpec`.
    pub key_spec: Option<String>,
    /// The error code, message and denial explanation, if it failed.
    pub error: Option<(String, String, Option<Explanation>)>,
}

/// The per-request collector of [`KeyUseRecord`]s (an [`airlock_kms::KeyUseObserver`]).
#[derive(Debug, Default)]
pub struct KeyUses(Mutex<Vec<KeyUseRecord>>);

impl KeyUses {
    /// Takes the calls collected so far.
    pub fn take(&self) -> Vec<KeyUseRecord> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl airlock_kms::KeyUseObserver for KeyUses {
    fn key_used(&self, u: &airlock_kms::KeyUse<'_>) {
        let error = u.error.map(|e| {
            let explanation = match e {
                airlock_kms::KmsError::AccessDenied {
                    evaluation: Some(ev),
                    ..
                } => Some(ev.explanation.clone()),
                _ => None,
            };
            (e.code().to_string(), e.to_string(), explanation)
        });
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(KeyUseRecord {
                operation: u.operation,
                key_arn: u.key_arn.map(str::to_string),
                encryption_context: u.encryption_context.clone(),
                key_spec: u.key_spec.map(str::to_string),
                error,
            });
    }
}

/// Receives every call record. Implementations must be fast and must not fail the request.
pub trait Recorder: Send + Sync + 'static {
    /// Records one call.
    fn record(&self, record: &CallRecord);

    /// Records one call, taking the record: the pipeline hands it to its last recorder this
    /// way, so a recorder that keeps the record's contents can move them instead of copying.
    fn record_owned(&self, record: CallRecord) {
        self.record(&record);
    }

    /// Whether this recorder needs the audit details of [`CallRecord`] (request parameters,
    /// response elements, resources). The pipeline derives them only if some recorder does.
    fn wants_details(&self) -> bool {
        false
    }
}

/// Writes one structured log line per request (target `airlock::request`), at `info`, but for
/// the steps of a multipart upload that succeed (`CreateMultipartUpload`, `UploadPart`,
/// `UploadPartCopy`), which go to `debug`: at the default level a multipart upload is one
/// line, its `CompleteMultipartUpload` (or `AbortMultipartUpload`). A step that fails or is
/// denied stays at `info`.
#[derive(Debug, Default)]
pub struct LogRecorder;

/// Whether a record is a successful intermediate step of a multipart upload.
pub fn is_multipart_step(r: &CallRecord) -> bool {
    r.service == "s3"
        && r.outcome == Outcome::Allowed
        && r.status < 300
        && matches!(
            r.operation.as_deref(),
            Some("CreateMultipartUpload" | "UploadPart" | "UploadPartCopy")
        )
}

impl Recorder for LogRecorder {
    fn record(&self, r: &CallRecord) {
        let explanation = match &r.outcome {
            Outcome::Denied(e) => serde_json::to_string(e).unwrap_or_default(),
            _ => String::new(),
        };
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "airlock::request",
                    $level,
                    request_id = %r.request_id,
                    account = r.account.as_deref().unwrap_or("-"),
                    principal = r.principal.as_deref().unwrap_or("-"),
                    action = r.action.as_deref().or(r.operation.as_deref()).unwrap_or("-"),
                    resource = r.resource.as_deref().unwrap_or("-"),
                    decision = r.outcome.as_str(),
                    status = r.status,
                    error = r.error_code.as_deref().unwrap_or("-"),
                    latency_us = r.latency.as_micros() as u64,
                    tls = r.tls,
                    source_ip = %r.source_ip,
                    explanation = %explanation,
                    "{} {}",
                    r.service,
                    r.operation.as_deref().unwrap_or("-"),
                )
            };
        }
        if is_multipart_step(r) {
            line!(tracing::Level::DEBUG);
        } else {
            line!(tracing::Level::INFO);
        }
    }
}
