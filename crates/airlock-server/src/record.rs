//! The record of every call: what the pipeline hands to recorders (the log line today, the
//! CloudTrail-format audit trail and event notifications later).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use airlock_policy::Explanation;

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
}

/// Receives every call record. Implementations must be fast and must not fail the request.
pub trait Recorder: Send + Sync + 'static {
    /// Records one call.
    fn record(&self, record: &CallRecord);
}

/// Writes one structured log line per request (target `airlock::request`).
#[derive(Debug, Default)]
pub struct LogRecorder;

impl Recorder for LogRecorder {
    fn record(&self, r: &CallRecord) {
        let explanation = match &r.outcome {
            Outcome::Denied(e) => serde_json::to_string(e).unwrap_or_default(),
            _ => String::new(),
        };
        tracing::info!(
            target: "airlock::request",
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
        );
    }
}
