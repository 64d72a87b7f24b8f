//! The CloudTrail record: one API call (or service event) as CloudTrail writes it in log files
//! and in `LookupEvents`' `CloudTrailEvent` string.
//!
//! Field names and shapes follow CloudTrail's record contents
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>):
//! absent optional fields are omitted, except `requestParameters` and `responseElements`,
//! which CloudTrail writes as `null` when the call has none.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `eventVersion` of management events.
pub const MANAGEMENT_EVENT_VERSION: &str = "1.10";
/// The `eventVersion` of data events (S3 object-level calls).
pub const DATA_EVENT_VERSION: &str = "1.09";

/// One CloudTrail record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailEvent {
    /// `1.10` for management events, `1.09` for data events (as AWS writes them today).
    pub event_version: String,
    /// Who made the call.
    pub user_identity: UserIdentity,
    /// `2026-11-30T02:13:17Z` (UTC, seconds).
    pub event_time: String,
    /// `s3.amazonaws.com`, `kms.amazonaws.com`, `iam.amazonaws.com`, ...
    pub event_source: String,
    /// The operation (`PutObject`, `AssumeRole`).
    pub event_name: String,
    /// The region of the call (`us-east-1`; IAM, a global service, records `us-east-1`).
    pub aws_region: String,
    /// The caller's IP address, or the service's name (`s3.amazonaws.com`) for calls a service
    /// makes on the caller's behalf.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// `User-Agent` of the request (or the invoking service's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The AWS error code answered (`AccessDenied`, `NoSuchKey`), if the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message answered, if the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's parameters (never secrets); `null` when there are none.
    #[serde(default)]
    pub request_parameters: Option<Value>,
    /// The response's elements for calls that change state (never secrets); `null` otherwise.
    #[serde(default)]
    pub response_elements: Option<Value>,
    /// Extra data the service records (S3: `bytesTransferredIn`, `SignatureVersion`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// The request id answered to the client.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// Unique per record (each recipient account's copy has its own).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the call only reads.
    pub read_only: bool,
    /// The resources of the call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<EventResource>,
    /// `AwsApiCall` or `AwsServiceEvent`.
    pub event_type: EventType,
    /// Whether this is a management event (`false` for data events).
    pub management_event: bool,
    /// The account this copy of the record was delivered to.
    pub recipient_account_id: String,
    /// Shared by the copies of one cross-account call delivered to different accounts.
    #[serde(
        rename = "sharedEventID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_event_id: Option<String>,
    /// The VPC endpoint the call came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    /// The account that owns that VPC endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_account_id: Option<String>,
    /// `Management` or `Data`.
    pub event_category: EventCategory,
    /// The TLS session of the request (absent for plain HTTP and for service-invoked calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_details: Option<TlsDetails>,
}

/// `userIdentity`: the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// The kind of identity.
    #[serde(rename = "type")]
    pub kind: IdentityType,
    /// `AIDA...` (user), `AROA...:session` (assumed role), the account id (root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The caller's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The caller's account (`anonymous` for anonymous S3 requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key id used to sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The user name (IAM users; `RootUserName`-less root has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Role sessions: issuer, creation date, MFA, source identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
    /// The service that made the call on the caller's behalf (`s3.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

/// `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityType {
    /// The account's root user.
    Root,
    /// An IAM user.
    #[serde(rename = "IAMUser")]
    IamUser,
    /// A role session.
    AssumedRole,
    /// An AWS service (service-linked calls, deliveries).
    #[serde(rename = "AWSService")]
    AwsService,
    /// Another account (the resource owner's copy of a cross-account call, anonymous S3).
    #[serde(rename = "AWSAccount")]
    AwsAccount,
}

impl IdentityType {
    /// As written in records.
    pub fn as_str(&self) -> &'static str {
        match self {
            IdentityType::Root => "Root",
            IdentityType::IamUser => "IAMUser",
            IdentityType::AssumedRole => "AssumedRole",
            IdentityType::AwsService => "AWSService",
            IdentityType::AwsAccount => "AWSAccount",
        }
    }
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    /// The role the session was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_issuer: Option<SessionIssuer>,
    /// Web identity federation data (empty object for role sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_id_federation_data: Option<Value>,
    /// Creation date and MFA.
    pub attributes: SessionAttributes,
    /// The session's source identity (`sts:SourceIdentity`), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// `sessionContext.sessionIssuer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    /// `Role`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The role id (`AROA...`).
    pub principal_id: String,
    /// The role ARN.
    pub arn: String,
    /// The role's account.
    pub account_id: String,
    /// The role name.
    pub user_name: String,
}

/// `sessionContext.attributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    /// When the session was issued (`2026-11-30T02:13:17Z`).
    pub creation_date: String,
    /// `"true"` or `"false"` (a string, as CloudTrail writes it).
    pub mfa_authenticated: String,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResource {
    /// The resource ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The owner account, when known.
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `AWS::S3::Object`, `AWS::S3::Bucket`, `AWS::KMS::Key`, `AWS::IAM::Role`, ...
    #[serde(rename = "type")]
    pub kind: String,
}

/// `tlsDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails {
    /// `TLSv1.2`, `TLSv1.3`.
    pub tls_version: String,
    /// The IANA name of the cipher suite (`TLS_AES_128_GCM_SHA256`).
    pub cipher_suite: String,
    /// The `Host` header the client sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_provided_host_header: Option<String>,
}

/// `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// A call to an AWS API.
    AwsApiCall,
    /// An event AWS generated (no API call by the caller).
    AwsServiceEvent,
}

/// `eventCategory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventCategory {
    /// Control-plane operations (and KMS cryptographic operations).
    Management,
    /// Data-plane operations (S3 object-level calls).
    Data,
}

impl EventCategory {
    /// As written in records.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventCategory::Management => "Management",
            EventCategory::Data => "Data",
        }
    }
}

/// `eventTime`'s format: `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn format_event_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_epoch(secs)
}

/// Formats epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`. Events come many to a second, so each
/// thread keeps the last second it formatted.
pub fn format_epoch(secs: i64) -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs || last.1.is_empty() {
            *last = (secs, format_epoch_uncached(secs));
        }
        last.1.clone()
    })
}

fn format_epoch_uncached(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month() as u8,
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (as written by [`format_event_time`]) into epoch seconds.
pub fn parse_event_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|d| d.unix_timestamp())
}

impl CloudTrailEvent {
    /// `eventTime` as epoch seconds (0 if unparsable).
    pub fn epoch_seconds(&self) -> i64 {
        parse_event_time(&self.event_time).unwrap_or(0)
    }

    /// What `LookupEvents` calls `Username`: the IAM user's name, the role session's name,
    /// `root` for the root user, or the invoking service.
    pub fn username(&self) -> Option<String> {
        let u = &self.user_identity;
        match u.kind {
            IdentityType::IamUser => u.user_name.clone(),
            IdentityType::Root => Some("root".to_string()),
            IdentityType::AssumedRole | IdentityType::AwsAccount => u
                .arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string)
                .or_else(|| {
                    u.principal_id
                        .as_deref()
                        .and_then(|p| p.split_once(':'))
                        .map(|(_, s)| s.to_string())
                }),
            IdentityType::AwsService => u.invoked_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The per-thread cache answers exactly what formatting does, whatever the order.
        #[test]
        fn cached_event_times_match_formatting(secs in proptest::collection::vec(
            proptest::prop_oneof![0i64..4_000_000_000, 1_800_000_000i64..1_800_000_003, proptest::num::i64::ANY],
            1..20,
        )) {
            for s in secs {
                proptest::prop_assert_eq!(format_epoch(s), format_epoch_uncached(s));
                // Up to the year 9999 the text parses back to the same second.
                if (0..253_402_300_800).contains(&s) {
                    proptest::prop_assert_eq!(parse_event_time(&format_epoch(s)), Some(s));
                }
            }
        }
    }

    fn sample() -> CloudTrailEvent {
        CloudTrailEvent {
            event_version: MANAGEMENT_EVENT_VERSION.into(),
            user_identity: UserIdentity {
                kind: IdentityType::AssumedRole,
                principal_id: Some("AROAEXAMPLE:s1".into()),
                arn: Some("arn:aws:sts::111111111111:assumed-role/R/s1".into()),
                account_id: Some("111111111111".into()),
                access_key_id: Some("ASIAEXAMPLE".into()),
                user_name: None,
                session_context: Some(SessionContext {
                    session_issuer: Some(SessionIssuer {
                        kind: "Role".into(),
                        principal_id: "AROAEXAMPLE".into(),
                        arn: "arn:aws:iam::111111111111:role/R".into(),
                        account_id: "111111111111".into(),
                        user_name: "R".into(),
                    }),
                    web_id_federation_data: Some(serde_json::json!({})),
                    attributes: SessionAttributes {
                        creation_date: "2026-11-30T02:00:00Z".into(),
                        mfa_authenticated: "false".into(),
                    },
                    source_identity: None,
                }),
                invoked_by: None,
            },
            event_time: format_epoch(1_800_000_000),
            event_source: "kms.amazonaws.com".into(),
            event_name: "Decrypt".into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: Some("aws-cli/2".into()),
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: "r".into(),
            event_id: "e".into(),
            read_only: true,
            resources: vec![EventResource {
                arn: "arn:aws:kms:us-east-1:111111111111:key/k".into(),
                account_id: Some("111111111111".into()),
                kind: "AWS::KMS::Key".into(),
            }],
            event_type: EventType::AwsApiCall,
            management_event: true,
            recipient_account_id: "111111111111".into(),
            shared_event_id: None,
            vpc_endpoint_id: None,
            vpc_endpoint_account_id: None,
            event_category: EventCategory::Management,
            tls_details: None,
        }
    }

    #[test]
    fn serializes_with_cloudtrail_field_names() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["eventVersion"], "1.10");
        assert_eq!(v["userIdentity"]["type"], "AssumedRole");
        assert_eq!(
            v["userIdentity"]["sessionContext"]["sessionIssuer"]["type"],
            "Role"
        );
        assert_eq!(
            v["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"],
            "false"
        );
        assert_eq!(v["sourceIPAddress"], "127.0.0.1");
        assert_eq!(v["requestID"], "r");
        assert_eq!(v["eventID"], "e");
        assert_eq!(
            v["resources"][0]["ARN"],
            "arn:aws:kms:us-east-1:111111111111:key/k"
        );
        assert_eq!(v["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(v["eventCategory"], "Management");
        assert_eq!(v["eventType"], "AwsApiCall");
        assert!(v["requestParameters"].is_null());
        assert!(v.get("requestParameters").is_some());
        assert!(v.get("errorCode").is_none());
        assert!(v.get("sharedEventID").is_none());
        assert_eq!(v["eventTime"], "2027-01-15T08:00:00Z");
        let back: CloudTrailEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn username_per_identity_type() {
        let mut e = sample();
        assert_eq!(e.username().as_deref(), Some("s1"));
        e.user_identity.kind = IdentityType::Root;
        assert_eq!(e.username().as_deref(), Some("root"));
        e.user_identity.kind = IdentityType::IamUser;
        e.user_identity.user_name = Some("alice".into());
        assert_eq!(e.username().as_deref(), Some("alice"));
        assert_eq!(e.epoch_seconds(), 1_800_000_000);
    }
}
