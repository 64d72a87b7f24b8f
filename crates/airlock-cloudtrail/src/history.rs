//! The event history: every CloudTrail record the endpoint produced, durable in the server's
//! [`Store`], in one global sequence, with a per-account index for `LookupEvents`.
//!
//! # Layout (tables of the store)
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `cloudtrail-events` | the sequence number, 20 decimal digits | [`StoredEvent`] (JSON) |
//! | `cloudtrail-lookup` | `ACCOUNT/` + (`u64::MAX` − sequence), 20 digits | empty: management events only, newest first |
//! | `cloudtrail-meta` | `next-seq` | the next sequence number |
//!
//! # Contract for consumers (trail delivery)
//!
//! - [`History::append`] assigns each event the next number of one global, strictly increasing
//!   sequence, in slice order, and commits them (and their index entries) in one durable
//!   transaction. Numbers are never reused, events are never changed.
//! - [`History::read_after`] returns events with a sequence number greater than the cursor, in
//!   sequence order, each with its own [`Cursor`]. A consumer that stores the cursor of the last
//!   event it has durably handled and resumes from it gets every event at least once, across
//!   restarts. Events of every recipient account are in the one sequence: filter on
//!   [`StoredEvent::recipient_account`].
//! - Nothing is deleted: `LookupEvents` hides events older than 90 days
//!   ([`LOOKUP_RETENTION_SECONDS`]), but trail delivery may still read them.

use std::sync::{Arc, Mutex};

use airlock_store::{Store, StoreError, StoreExt, WriteExt};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{CloudTrailEvent, EventCategory};

const EVENTS: &str = "cloudtrail-events";
const LOOKUP: &str = "cloudtrail-lookup";
const META: &str = "cloudtrail-meta";
const NEXT_SEQ: &str = "next-seq";

/// `LookupEvents` shows the management events of the last 90 days.
pub const LOOKUP_RETENTION_SECONDS: i64 = 90 * 24 * 3600;
/// `LookupEvents`' largest (and default) `MaxResults`.
pub const LOOKUP_MAX_RESULTS: usize = 50;

/// A position in the global event sequence: the sequence number of the last event read
/// (`Cursor::default()`, 0, is before the first event). Serializable, so a consumer can keep
/// it durably.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor(pub u64);

impl Cursor {
    fn key(self) -> String {
        format!("{:020}", self.0)
    }
}

/// One copy of a record, as stored for one recipient account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The account this copy is delivered to (equals `record.recipient_account_id`).
    pub recipient_account: String,
    /// The CloudTrail record, exactly as delivered.
    pub record: CloudTrailEvent,
    /// For denials: the policy engine's explanation, as
    /// `{"summary": "<one paragraph>", "explanation": <airlock_policy::Explanation as JSON>}`.
    /// Never part of the record (AWS does not put it there); `trail tail` shows it beside the
    /// record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Value>,
}

impl StoredEvent {
    /// A copy of `record` for its `recipient_account_id`.
    pub fn new(record: CloudTrailEvent) -> Self {
        StoredEvent {
            recipient_account: record.recipient_account_id.clone(),
            record,
            explanation: None,
        }
    }
    /// `Management` or `Data` (what basic and advanced event selectors select on).
    pub fn category(&self) -> EventCategory {
        self.record.event_category
    }
    /// Whether the call only reads (`readOnly` selector field).
    pub fn read_only(&self) -> bool {
        self.record.read_only
    }
    /// `eventSource` (`s3.amazonaws.com`).
    pub fn event_source(&self) -> &str {
        &self.record.event_source
    }
    /// `eventName` (`PutObject`).
    pub fn event_name(&self) -> &str {
        &self.record.event_name
    }
    /// `resources[].type` (`AWS::S3::Object`).
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.record.resources.iter().map(|r| r.kind.as_str())
    }
    /// `resources[].ARN`.
    pub fn resource_arns(&self) -> impl Iterator<Item = &str> {
        self.record.resources.iter().map(|r| r.arn.as_str())
    }
    /// The event time in epoch seconds.
    pub fn epoch_seconds(&self) -> i64 {
        self.record.epoch_seconds()
    }
}

/// `LookupEvents`' attribute keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupAttributeKey {
    /// `EventId`.
    EventId,
    /// `EventName`.
    EventName,
    /// `ReadOnly` (`true`/`false`).
    ReadOnly,
    /// `Username`.
    Username,
    /// `ResourceType` (`AWS::S3::Bucket`).
    ResourceType,
    /// `ResourceName` (the ARN, or its last name segment).
    ResourceName,
    /// `EventSource`.
    EventSource,
    /// `AccessKeyId`.
    AccessKeyId,
}

impl LookupAttributeKey {
    /// From the wire name (`EventName`); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "EventId" => Self::EventId,
            "EventName" => Self::EventName,
            "ReadOnly" => Self::ReadOnly,
            "Username" => Self::Username,
            "ResourceType" => Self::ResourceType,
            "ResourceName" => Self::ResourceName,
            "EventSource" => Self::EventSource,
            "AccessKeyId" => Self::AccessKeyId,
            _ => return None,
        })
    }
}

/// One `LookupAttributes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupAttribute {
    /// The attribute.
    pub key: LookupAttributeKey,
    /// The value it must equal.
    pub value: String,
}

impl LookupAttribute {
    fn matches(&self, e: &CloudTrailEvent) -> bool {
        let v = self.value.as_str();
        match self.key {
            LookupAttributeKey::EventId => e.event_id == v,
            LookupAttributeKey::EventName => e.event_name == v,
            LookupAttributeKey::ReadOnly => e.read_only.to_string() == v.to_ascii_lowercase(),
            LookupAttributeKey::Username => e.username().as_deref() == Some(v),
            LookupAttributeKey::ResourceType => e.resources.iter().any(|r| r.kind == v),
            LookupAttributeKey::ResourceName => e
                .resources
                .iter()
                .any(|r| r.arn == v || resource_name(&r.arn) == v),
            LookupAttributeKey::EventSource => e.event_source == v,
            LookupAttributeKey::AccessKeyId => e.user_identity.access_key_id.as_deref() == Some(v),
        }
    }
}

/// The name part of an ARN: after the last `/`, else after the last `:`.
pub fn resource_name(arn: &str) -> &str {
    arn.rsplit_once('/')
        .map(|(_, n)| n)
        .or_else(|| arn.rsplit_once(':').map(|(_, n)| n))
        .unwrap_or(arn)
}

/// A `LookupEvents` request.
#[derive(Debug, Clone, Default)]
pub struct LookupQuery {
    /// At most one attribute (AWS refuses more).
    pub attributes: Vec<LookupAttribute>,
    /// Only events at or after this time (epoch seconds).
    pub start_time: Option<i64>,
    /// Only events at or before this time (epoch seconds).
    pub end_time: Option<i64>,
    /// 1..=50; default 50.
    pub max_results: Option<i64>,
    /// The previous page's `NextToken`.
    pub next_token: Option<String>,
}

/// One page of `LookupEvents`, newest first.
#[derive(Debug, Clone, Default)]
pub struct LookupPage {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// Set when more events may follow.
    pub next_token: Option<String>,
}

/// Errors of the history, with CloudTrail's error codes for invalid lookups.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// More than one lookup attribute, or an invalid value.
    #[error("{0}")]
    InvalidLookupAttributes(String),
    /// `MaxResults` out of range.
    #[error("{0}")]
    InvalidMaxResults(String),
    /// `StartTime` after `EndTime`.
    #[error("{0}")]
    InvalidTimeRange(String),
    /// A `NextToken` this history did not issue (or for another account).
    #[error("{0}")]
    InvalidNextToken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HistoryError {
    /// CloudTrail's error code (`InvalidLookupAttributesException`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            HistoryError::InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            HistoryError::InvalidMaxResults(_) => "InvalidMaxResultsException",
            HistoryError::InvalidTimeRange(_) => "InvalidTimeRangeException",
            HistoryError::InvalidNextToken(_) => "InvalidNextTokenException",
            HistoryError::Store(_) => "InternalFailure",
        }
    }
}

/// The durable event history.
pub struct History {
    store: Arc<dyn Store>,
    next: Mutex<u64>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

fn lookup_key(account: &str, seq: u64) -> String {
    format!("{account}/{:020}", u64::MAX - seq)
}

fn seq_of_lookup_key(key: &str) -> Option<u64> {
    let (_, inv) = key.rsplit_once('/')?;
    if inv.len() != 20 {
        return None;
    }
    inv.parse::<u64>().ok().map(|i| u64::MAX - i)
}

impl History {
    /// Opens the history on `store` (creating nothing until the first append).
    pub fn open(store: Arc<dyn Store>) -> Result<History, HistoryError> {
        let next = store.read()?.get_json::<u64>(META, NEXT_SEQ)?.unwrap_or(1);
        Ok(History {
            store,
            next: Mutex::new(next.max(1)),
        })
    }

    /// Appends events in one durable transaction; returns the cursor of the last one (the
    /// current latest cursor if `events` is empty).
    pub fn append(&self, events: &[StoredEvent]) -> Result<Cursor, HistoryError> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if events.is_empty() {
            return Ok(Cursor(*next - 1));
        }
        let mut seq = *next;
        let mut txn = self.store.write()?;
        for e in events {
            txn.put_json(EVENTS, &Cursor(seq).key(), e)?;
            if e.record.management_event {
                txn.put(LOOKUP, &lookup_key(&e.recipient_account, seq), b"")?;
            }
            seq += 1;
        }
        txn.put_json(META, NEXT_SEQ, &seq)?;
        txn.commit()?;
        *next = seq;
        Ok(Cursor(seq - 1))
    }

    /// The cursor of the newest event (0 when there is none).
    pub fn latest(&self) -> Cursor {
        Cursor(*self.next.lock().unwrap_or_else(|p| p.into_inner()) - 1)
    }

    /// Up to `limit` events after `cursor`, oldest first, each with its own cursor.
    pub fn read_after(
        &self,
        cursor: Cursor,
        limit: usize,
    ) -> Result<Vec<(Cursor, StoredEvent)>, HistoryError> {
        let txn = self.store.read()?;
        let rows = txn.scan_after(EVENTS, "", Some(&cursor.key()), limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (k, v) in rows {
            let Ok(seq) = k.parse::<u64>() else { continue };
            let e: StoredEvent = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                table: EVENTS.to_string(),
                key: k.clone(),
                reason: e.to_string(),
            })?;
            out.push((Cursor(seq), e));
        }
        Ok(out)
    }

    /// `LookupEvents` for `account` at time `now` (epoch seconds): management events of the
    /// last 90 days, newest first, filtered by at most one attribute and the time range.
    pub fn lookup(
        &self,
        account: &str,
        q: &LookupQuery,
        now: i64,
    ) -> Result<LookupPage, HistoryError> {
        if q.attributes.len() > 1 {
            return Err(HistoryError::InvalidLookupAttributes(
                "You cannot specify more than one lookup attribute.".into(),
            ));
        }
        if let Some(a) = q.attributes.first()
            && a.key == LookupAttributeKey::ReadOnly
            && !matches!(a.value.to_ascii_lowercase().as_str(), "true" | "false")
        {
            return Err(HistoryError::InvalidLookupAttributes(
                "ReadOnly attribute value must be either true or false.".into(),
            ));
        }
        let max = match q.max_results {
            None => LOOKUP_MAX_RESULTS,
            Some(n) if (1..=LOOKUP_MAX_RESULTS as i64).contains(&n) => n as usize,
            Some(_) => {
                return Err(HistoryError::InvalidMaxResults(
                    "Value for parameter MaxResults is invalid. It must be between 1 and 50."
                        .into(),
                ));
            }
        };
        if let (Some(s), Some(e)) = (q.start_time, q.end_time)
            && s > e
        {
            return Err(HistoryError::InvalidTimeRange(
                "Start time must be earlier than end time.".into(),
            ));
        }
        let prefix = format!("{account}/");
        let mut after = match &q.next_token {
            None => None,
            Some(t) => Some(decode_token(t, &prefix)?),
        };
        let oldest = q
            .start_time
            .unwrap_or(i64::MIN)
            .max(now - LOOKUP_RETENTION_SECONDS);
        let newest = q.end_time.unwrap_or(i64::MAX);
        let mut page = LookupPage::default();
        let txn = self.store.read()?;
        'scan: loop {
            let rows = txn.scan_after(LOOKUP, &prefix, after.as_deref(), 256)?;
            if rows.is_empty() {
                break;
            }
            for (k, _) in rows {
                after = Some(k.clone());
                let Some(seq) = seq_of_lookup_key(&k) else {
                    continue;
                };
                let Some(e) = txn.get_json::<StoredEvent>(EVENTS, &Cursor(seq).key())? else {
                    continue;
                };
                let t = e.epoch_seconds();
                // The sequence is in arrival order; allow for calls that finished out of order.
                if t < oldest - 300 {
                    break 'scan;
                }
                if t < oldest || t > newest {
                    continue;
                }
                if !q.attributes.iter().all(|a| a.matches(&e.record)) {
                    continue;
                }
                page.events.push(e);
                if page.events.len() == max {
                    page.next_token = Some(URL_SAFE_NO_PAD.encode(k.as_bytes()));
                    break 'scan;
                }
            }
        }
        Ok(page)
    }
}

fn decode_token(token: &str, prefix: &str) -> Result<String, HistoryError> {
    let bad = || HistoryError::InvalidNextToken("Invalid NextToken.".into());
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
    let key = String::from_utf8(bytes).map_err(|_| bad())?;
    if !key.starts_with(prefix) || seq_of_lookup_key(&key).is_none() {
        return Err(bad());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use airlock_store::RedbStore;

    fn event(account: &str, name: &str, t: i64, management: bool) -> StoredEvent {
        StoredEvent::new(CloudTrailEvent {
            event_version: "1.10".into(),
            user_identity: UserIdentity {
                kind: IdentityType::IamUser,
                principal_id: Some("AIDA1".into()),
                arn: Some(format!("arn:aws:iam::{account}:user/alice")),
                account_id: Some(account.into()),
                access_key_id: Some("AKIA1".into()),
                user_name: Some("alice".into()),
                session_context: None,
                invoked_by: None,
            },
            event_time: format_epoch(t),
            event_source: "iam.amazonaws.com".into(),
            event_name: name.into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: None,
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: format!("req-{name}-{t}"),
            event_id: format!("ev-{name}-{t}"),
            read_only: name.starts_with("Get"),
            resources: vec![EventResource {
                arn: format!("arn:aws:iam::{account}:role/R{t}"),
                account_id: Some(account.into()),
                kind: "AWS::IAM::Role".into(),
            }],
            event_type: EventType::AwsApiCall,
            management_event: management,
            recipient_account_id: account.into(),
            shared_event_id: None,
            vpc_endpoint_id: None,
            vpc_endpoint_account_id: None,
            event_category: if management {
                EventCategory::Management
            } else {
                EventCategory::Data
            },
            tls_details: None,
        })
    }

    fn history() -> History {
        History::open(Arc::new(RedbStore::in_memory().unwrap())).unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn sequence_is_global_monotonic_and_resumable() {
        let h = history();
        assert_eq!(h.latest(), Cursor(0));
        let c = h
            .append(&[
                event("111111111111", "CreateRole", NOW, true),
                event("222222222222", "PutObject", NOW, false),
            ])
            .unwrap();
        assert_eq!(c, Cursor(2));
        h.append(&[event("111111111111", "GetRole", NOW + 1, true)])
            .unwrap();
        let all = h.read_after(Cursor::default(), 10).unwrap();
        let seqs: Vec<u64> = all.iter().map(|(c, _)| c.0).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        let rest = h.read_after(Cursor(2), 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].1.event_name(), "GetRole");
        assert!(h.read_after(Cursor(3), 10).unwrap().is_empty());
        assert_eq!(h.read_after(Cursor(0), 2).unwrap().len(), 2);
    }

    #[test]
    fn sequence_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("airlock-ct-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("state.redb");
        let _ = std::fs::remove_file(&path);
        {
            let h = History::open(Arc::new(RedbStore::open(&path).unwrap())).unwrap();
            h.append(&[event("111111111111", "CreateRole", NOW, true)])
                .unwrap();
        }
        let h = History::open(Arc::new(RedbStore::open(&path).unwrap())).unwrap();
        assert_eq!(h.latest(), Cursor(1));
        assert_eq!(
            h.append(&[event("111111111111", "CreateRole", NOW, true)])
                .unwrap(),
            Cursor(2)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lookup_is_per_account_management_only_newest_first_and_pages() {
        let h = history();
        let mut batch = Vec::new();
        for i in 0..7 {
            batch.push(event("111111111111", "CreateRole", NOW - 100 + i, true));
        }
        batch.push(event("111111111111", "PutObject", NOW - 10, false));
        batch.push(event("222222222222", "CreateRole", NOW - 5, true));
        h.append(&batch).unwrap();
        let mut q = LookupQuery {
            max_results: Some(3),
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = h.lookup("111111111111", &q, NOW).unwrap();
            assert!(page.events.len() <= 3);
            seen.extend(page.events.iter().map(|e| e.epoch_seconds()));
            match page.next_token {
                Some(t) => q.next_token = Some(t),
                None => break,
            }
        }
        let expected: Vec<i64> = (0..7).rev().map(|i| NOW - 100 + i).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn lookup_filters_and_time_window() {
        let h = history();
        h.append(&[
            event("111111111111", "CreateRole", NOW - 91 * 24 * 3600, true),
            event("111111111111", "CreateRole", NOW - 50, true),
            event("111111111111", "GetRole", NOW - 40, true),
            event("111111111111", "DeleteRole", NOW - 30, true),
        ])
        .unwrap();
        let q = |k, v: &str| LookupQuery {
            attributes: vec![LookupAttribute {
                key: k,
                value: v.into(),
            }],
            ..Default::default()
        };
        let names = |p: LookupPage| -> Vec<String> {
            p.events
                .iter()
                .map(|e| e.event_name().to_string())
                .collect()
        };
        let acct = "111111111111";
        assert_eq!(
            names(
                h.lookup(acct, &q(LookupAttributeKey::EventName, "CreateRole"), NOW)
                    .unwrap()
            ),
            vec!["CreateRole"],
            "the 91-day-old event is hidden"
        );
        assert_eq!(
            names(
                h.lookup(acct, &q(LookupAttributeKey::ReadOnly, "true"), NOW)
                    .unwrap()
            ),
            vec!["GetRole"]
        );
        assert_eq!(
            names(
                h.lookup(
                    acct,
                    &q(LookupAttributeKey::ResourceName, &format!("R{}", NOW - 30)),
                    NOW
                )
                .unwrap()
            ),
            vec!["DeleteRole"]
        );
        assert_eq!(
            h.lookup(acct, &q(LookupAttributeKey::Username, "alice"), NOW)
                .unwrap()
                .events
                .len(),
            3
        );
        let window = LookupQuery {
            start_time: Some(NOW - 45),
            end_time: Some(NOW - 35),
            ..Default::default()
        };
        assert_eq!(
            names(h.lookup(acct, &window, NOW).unwrap()),
            vec!["GetRole"]
        );
    }

    #[test]
    fn lookup_rejects_bad_input() {
        let h = history();
        let two = LookupQuery {
            attributes: vec![
                LookupAttribute {
                    key: LookupAttributeKey::EventName,
                    value: "a".into(),
                },
                LookupAttribute {
                    key: LookupAttributeKey::EventSource,
                    value: "b".into(),
                },
            ],
            ..Default::default()
        };
        let code = |q: &LookupQuery| h.lookup("111111111111", q, NOW).unwrap_err().code();
        assert_eq!(code(&two), "InvalidLookupAttributesException");
        for m in [0, 51, -1] {
            let q = LookupQuery {
                max_results: Some(m),
                ..Default::default()
            };
            assert_eq!(code(&q), "InvalidMaxResultsException");
        }
        let q = LookupQuery {
            start_time: Some(10),
            end_time: Some(5),
            ..Default::default()
        };
        assert_eq!(code(&q), "InvalidTimeRangeException");
        for t in [
            "!!",
            "",
            "eHl6",
            &URL_SAFE_NO_PAD.encode("222222222222/00000000000000000001"),
        ] {
            let q = LookupQuery {
                next_token: Some(t.to_string()),
                ..Default::default()
            };
            assert_eq!(code(&q), "InvalidNextTokenException", "{t}");
        }
    }

    proptest::proptest! {
        #[test]
        fn next_token_never_panics(t in ".{0,64}") {
            let h = history();
            let q = LookupQuery { next_token: Some(t), ..Default::default() };
            let _ = h.lookup("111111111111", &q, NOW);
        }
    }
}
