//! The audit trail's recorder: turns every [`CallRecord`] into CloudTrail records, one per
//! recipient account, and hands them to the background [`HistoryWriter`].
//!
//! Recipients: the caller's account, and the owner of every resource of the call that is in
//! another account (cross-account S3, KMS, STS calls), as AWS delivers them. The copies of
//! one cross-account call share a `sharedEventID`; each has its own `eventID` and
//! `recipientAccountId`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use airlock_cloudtrail::event::{DATA_EVENT_VERSION, MANAGEMENT_EVENT_VERSION};
use airlock_cloudtrail::{
    CloudTrailEvent, EventCategory, EventResource, EventType, HistoryWriter, IdentityType,
    SessionAttributes, SessionContext, SessionIssuer, StoredEvent, TlsDetails, UserIdentity,
    format_epoch, format_event_time,
};

use crate::pipeline::new_request_id;
use crate::record::{CallRecord, Outcome, Recorder};
use crate::service::{Caller, CallerKind};

/// Records every call into the CloudTrail event history.
pub struct CloudTrailRecorder {
    writer: Arc<HistoryWriter>,
    data_events: AtomicBool,
}

impl std::fmt::Debug for CloudTrailRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudTrailRecorder").finish_non_exhaustive()
    }
}

impl CloudTrailRecorder {
    /// A recorder writing through `writer`; `data_events` says whether data events (S3
    /// object-level calls) are recorded too.
    pub fn new(writer: Arc<HistoryWriter>, data_events: bool) -> Self {
        CloudTrailRecorder {
            writer,
            data_events: AtomicBool::new(data_events),
        }
    }

    /// The writer (and through it the history).
    pub fn writer(&self) -> &Arc<HistoryWriter> {
        &self.writer
    }

    /// Turns recording of data events on or off.
    pub fn set_data_events(&self, on: bool) {
        self.data_events.store(on, Ordering::Relaxed);
    }
}

impl CloudTrailRecorder {
    fn wants(&self, r: &CallRecord) -> bool {
        if r.data_event && !self.data_events.load(Ordering::Relaxed) {
            return false;
        }
        // airlock's own read path for `trail tail` is not an AWS API call.
        !(r.service == "cloudtrail"
            && r.operation.as_deref() == Some(crate::services::cloudtrail::TAIL_OPERATION))
    }
}

impl Recorder for CloudTrailRecorder {
    fn record(&self, r: &CallRecord) {
        if self.wants(r) {
            self.writer.submit(events_of(r.clone()));
        }
    }

    /// The record's strings and values move into the event: no copy on the request path.
    fn record_owned(&self, r: CallRecord) {
        if self.wants(&r) {
            self.writer.submit(events_of(r));
        }
    }

    fn wants_details(&self) -> bool {
        true
    }
}

/// The CloudTrail records of one call, one per recipient account (none when no account can
/// be named: an unauthenticated call on no resource).
pub fn events_of(r: CallRecord) -> Vec<StoredEvent> {
    let caller_account = r
        .caller
        .as_ref()
        .filter(|c| !c.is_anonymous())
        .map(|c| c.account.clone())
        .or_else(|| r.account.clone());
    let mut recipients: Vec<String> = caller_account.iter().cloned().collect();
    for res in &r.resources {
        if let Some(a) = &res.account
            && !recipients.contains(a)
        {
            recipients.push(a.clone());
        }
    }
    if recipients.is_empty() {
        return Vec::new();
    }
    let shared = (recipients.len() > 1).then(new_request_id);
    let explanation = match &r.outcome {
        Outcome::Denied(e) => Some(serde_json::json!({
            "summary": e.to_string(),
            "explanation": serde_json::to_value(e).unwrap_or_default(),
        })),
        _ => None,
    };
    // The owner of a role assumed from another account sees that account, not the caller's
    // identity (CloudTrail's `AWSAccount`).
    let owner_view = r
        .caller
        .as_ref()
        .filter(|_| r.service == "sts")
        .map(|c| UserIdentity {
            kind: IdentityType::AwsAccount,
            principal_id: Some(c.user_id.clone()),
            arn: None,
            account_id: Some(c.account.clone()),
            access_key_id: None,
            user_name: None,
            session_context: None,
            invoked_by: r.invoked_by.clone(),
        });
    let mut base = Some(base_record(r));
    let last = recipients.len() - 1;
    recipients
        .into_iter()
        .enumerate()
        .filter_map(|(i, account)| {
            // The last copy takes the record itself; only cross-account calls clone it.
            let mut rec = if i == last { base.take() } else { base.clone() }?;
            rec.event_id = new_request_id();
            rec.shared_event_id = shared.clone();
            if caller_account.as_deref() != Some(account.as_str())
                && let Some(u) = &owner_view
            {
                rec.user_identity = u.clone();
            }
            rec.recipient_account_id = account.clone();
            Some(StoredEvent {
                recipient_account: account,
                record: rec,
                explanation: explanation.clone(),
            })
        })
        .collect()
}

fn base_record(r: CallRecord) -> CloudTrailEvent {
    let data = r.data_event;
    let failed = r.error_code.is_some();
    let user_identity = user_identity(&r);
    CloudTrailEvent {
        event_version: if data {
            DATA_EVENT_VERSION
        } else {
            MANAGEMENT_EVENT_VERSION
        }
        .to_string(),
        user_identity,
        event_time: format_event_time(r.time),
        event_source: if r.event_source.is_empty() {
            format!("{}.amazonaws.com", r.service)
        } else {
            r.event_source
        },
        event_name: r.operation.unwrap_or_default(),
        aws_region: if r.service == "iam" {
            "us-east-1".to_string()
        } else {
            r.region
        },
        source_ip_address: match &r.invoked_by {
            Some(s) => s.clone(),
            None => r.source_ip.to_string(),
        },
        user_agent: r.invoked_by.or(r.user_agent),
        error_code: r.error_code,
        error_message: r.error_message,
        request_parameters: r.request_parameters,
        response_elements: if failed { None } else { r.response_elements },
        additional_event_data: r.additional_event_data,
        request_id: r.request_id,
        event_id: String::new(),
        read_only: r.read_only,
        resources: r
            .resources
            .into_iter()
            .map(|x| EventResource {
                arn: x.arn,
                account_id: x.account,
                kind: x.kind,
            })
            .collect(),
        event_type: EventType::AwsApiCall,
        management_event: !data,
        recipient_account_id: String::new(),
        shared_event_id: None,
        vpc_endpoint_id: r.network.as_ref().map(|n| n.vpce_id.clone()),
        vpc_endpoint_account_id: r.network.as_ref().map(|n| n.vpce_account.clone()),
        event_category: if data {
            EventCategory::Data
        } else {
            EventCategory::Management
        },
        tls_details: r.tls_version.map(|v| TlsDetails {
            tls_version: format!("TLSv{v}"),
            cipher_suite: r.tls_cipher.unwrap_or("unknown").to_string(),
            client_provided_host_header: r.host,
        }),
    }
}

fn user_identity(r: &CallRecord) -> UserIdentity {
    let Some(c) = r.caller.as_deref() else {
        // Authenticated only by access key (or not at all): what the pipeline knows.
        return UserIdentity {
            kind: IdentityType::AwsAccount,
            principal_id: None,
            arn: r.principal.clone(),
            account_id: r.account.clone(),
            access_key_id: r.access_key_id.clone(),
            user_name: None,
            session_context: None,
            invoked_by: r.invoked_by.clone(),
        };
    };
    let mut u = identity_of(c);
    u.invoked_by = r.invoked_by.clone();
    u
}

/// The `userIdentity` of an authenticated caller.
pub fn identity_of(c: &Caller) -> UserIdentity {
    let key = (!c.access_key_id.is_empty()).then(|| c.access_key_id.clone());
    match &c.kind {
        CallerKind::Root => UserIdentity {
            kind: IdentityType::Root,
            principal_id: Some(c.account.clone()),
            arn: Some(c.arn.clone()),
            account_id: Some(c.account.clone()),
            access_key_id: key,
            user_name: None,
            session_context: None,
            invoked_by: None,
        },
        CallerKind::User { name } => UserIdentity {
            kind: IdentityType::IamUser,
            principal_id: Some(c.user_id.clone()),
            arn: Some(c.arn.clone()),
            account_id: Some(c.account.clone()),
            access_key_id: key,
            user_name: Some(name.clone()),
            session_context: None,
            invoked_by: None,
        },
        CallerKind::Session(s) => UserIdentity {
            kind: IdentityType::AssumedRole,
            principal_id: Some(c.user_id.clone()),
            arn: Some(c.arn.clone()),
            account_id: Some(c.account.clone()),
            access_key_id: key,
            user_name: None,
            session_context: Some(SessionContext {
                session_issuer: Some(SessionIssuer {
                    kind: "Role".into(),
                    principal_id: s.role_id.clone(),
                    arn: s.role_arn(),
                    account_id: s.account.clone(),
                    user_name: s.role_name.clone(),
                }),
                web_id_federation_data: Some(serde_json::json!({})),
                attributes: SessionAttributes {
                    creation_date: format_epoch(s.issued),
                    mfa_authenticated: "false".into(),
                },
                source_identity: s.source_identity.clone(),
            }),
            invoked_by: None,
        },
        CallerKind::Anonymous => UserIdentity {
            kind: IdentityType::AwsAccount,
            principal_id: Some(String::new()),
            arn: None,
            account_id: Some("anonymous".into()),
            access_key_id: None,
            user_name: None,
            session_context: None,
            invoked_by: None,
        },
    }
}
