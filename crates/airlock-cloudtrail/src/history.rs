//! The event history: every CloudTrail record the endpoint produced, durable in the server's
//! [`Store`], in one global sequence, with a per-account index for `LookupEvents`.
//!
//! # Layout (tables of the store)
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `cloudtrail-events` | the sequence number of the row's last event, 20 decimal digits | a block of consecutive events: `{"blockFirst": N, "events": [StoredEvent, ...]}` (JSON); rows written before blocks hold one [`StoredEvent`] |
//! | `cloudtrail-lookup` | `ACCOUNT/` + (`u64::MAX` − sequence), 20 digits | empty: management events only, newest first |
//! | `cloudtrail-meta` | `next-seq` | the next sequence number |
//!
//! Events are stored in blocks of up to [`BLOCK_EVENTS`] consecutive events per row: one
//! B-tree insert per block instead of one per event keeps the audit trail's cost per call
//! small while the data plane is busy. Keying a row by its *last* sequence number makes "the
//! row holding event N" the first row with a key of at least N.
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

/// Most events in one row of `cloudtrail-events`.
pub const BLOCK_EVENTS: usize = 64;
/// How a block row begins (rows of single events, from before blocks, begin otherwise).
const BLOCK_PREFIX: &[u8] = b"{\"blockFirst\":";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockIn {
    block_first: u64,
    events: Vec<StoredEvent>,
}

/// The events of one row of `cloudtrail-events`, with their sequence numbers.
fn decode_row(key: &str, value: &[u8]) -> Result<Vec<(Cursor, StoredEvent)>, HistoryError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table: EVENTS.to_string(),
        key: key.to_string(),
        reason,
    };
    let last: u64 = key
        .parse()
        .map_err(|_| corrupt("the key is not a sequence number".into()))?;
    if value.starts_with(BLOCK_PREFIX) {
        let b: BlockIn = serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
        let n = b.events.len() as u64;
        if n == 0 || b.block_first.checked_add(n - 1) != Some(last) {
            return Err(corrupt(format!(
                "a block of {n} events from {} does not end at its key",
                b.block_first
            ))
            .into());
        }
        Ok(b.events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (Cursor(b.block_first + i as u64), e))
            .collect())
    } else {
        let e: StoredEvent = serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
        Ok(vec![(Cursor(last), e)])
    }
}

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

/// [`StoredEvent`]s already serialized, back to back, with what the index needs. The request
/// path encodes its events itself ([`crate::HistoryWriter::submit`]), while they are still in
/// its cache, into the writer's one pending batch; the writer thread only copies bytes into
/// blocks. One buffer for a whole batch, reused from batch to batch, instead of one allocation
/// per event freed on another thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedBatch {
    /// The events' JSON, back to back.
    json: Vec<u8>,
    /// Per event: where its JSON ends in `json`, and for a management event its recipient
    /// account (the `LookupEvents` index entry).
    events: Vec<(usize, Option<String>)>,
}

impl EncodedBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serializes `e` onto the end of the batch; on failure the batch is as it was.
    pub fn push(&mut self, e: &StoredEvent) -> Result<(), serde_json::Error> {
        let start = self.json.len();
        if let Err(err) = serde_json::to_writer(&mut self.json, e) {
            self.json.truncate(start);
            return Err(err);
        }
        let lookup = e
            .record
            .management_event
            .then(|| e.recipient_account.clone());
        self.events.push((self.json.len(), lookup));
        Ok(())
    }

    /// Moves the events of `other` to the end of this batch, leaving `other` empty with its
    /// buffers (a submitter's scratch batch keeps its capacity).
    pub fn append(&mut self, other: &mut EncodedBatch) {
        let base = self.json.len();
        self.json.extend_from_slice(&other.json);
        self.events.extend(
            other
                .events
                .drain(..)
                .map(|(end, lookup)| (base + end, lookup)),
        );
        other.json.clear();
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.json.clear();
        self.events.clear();
    }

    /// Each event's JSON, and its recipient account if it is a management event, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&str>)> {
        let starts = std::iter::once(0).chain(self.events.iter().map(|(end, _)| *end));
        starts
            .zip(&self.events)
            .map(|(start, (end, lookup))| (&self.json[start..*end], lookup.as_deref()))
    }
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
        let mut encoded = EncodedBatch::new();
        for e in events {
            encoded.push(e).map_err(|e| StoreError::Corrupt {
                table: EVENTS.to_string(),
                key: String::new(),
                reason: e.to_string(),
            })?;
        }
        self.append_encoded(&encoded)
    }

    /// [`History::append`] for events already serialized.
    pub fn append_encoded(&self, batch: &EncodedBatch) -> Result<Cursor, HistoryError> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if batch.is_empty() {
            return Ok(Cursor(*next - 1));
        }
        let mut seq = *next;
        let mut txn = self.store.write()?;
        let mut row = Vec::new();
        let mut events = batch.iter().peekable();
        while events.peek().is_some() {
            // `{"blockFirst":N,"events":[e1,e2,...]}`: the events' own JSON, copied.
            row.clear();
            row.extend_from_slice(BLOCK_PREFIX);
            row.extend_from_slice(seq.to_string().as_bytes());
            row.extend_from_slice(b",\"events\":[");
            for (i, (json, lookup)) in events.by_ref().take(BLOCK_EVENTS).enumerate() {
                if i > 0 {
                    row.push(b',');
                }
                row.extend_from_slice(json);
                if let Some(account) = lookup {
                    txn.put(LOOKUP, &lookup_key(account, seq), b"")?;
                }
                seq += 1;
            }
            row.extend_from_slice(b"]}");
            txn.put(EVENTS, &Cursor(seq - 1).key(), &row)?;
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
        // Every row after the cursor's key holds at least one event after the cursor, so
        // `limit` rows hold at least `limit` of them (or all there are).
        let rows = txn.scan_after(EVENTS, "", Some(&cursor.key()), limit)?;
        let mut out = Vec::with_capacity(limit.min(1024));
        for (k, v) in rows {
            for (c, e) in decode_row(&k, &v)? {
                if c > cursor && out.len() < limit {
                    out.push((c, e));
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The event with sequence number `seq`, reusing `cached` (the last row decoded) when it
    /// holds it.
    fn event_at(
        txn: &dyn airlock_store::ReadTxn,
        seq: u64,
        cached: &mut Vec<(Cursor, StoredEvent)>,
    ) -> Result<Option<StoredEvent>, HistoryError> {
        let held = |c: &Vec<(Cursor, StoredEvent)>| matches!((c.first(), c.last()), (Some(a), Some(b)) if a.0.0 <= seq && seq <= b.0.0);
        if !held(cached) {
            let after = Cursor(seq.saturating_sub(1)).key();
            let rows = if seq == 0 {
                Vec::new()
            } else {
                txn.scan_after(EVENTS, "", Some(&after), 1)?
            };
            *cached = match rows.into_iter().next() {
                Some((k, v)) => decode_row(&k, &v)?,
                None => Vec::new(),
            };
        }
        Ok(cached
            .iter()
            .find(|(c, _)| c.0 == seq)
            .map(|(_, e)| e.clone()))
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
        let mut cached = Vec::new();
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
                let Some(e) = Self::event_at(txn.as_ref(), seq, &mut cached)? else {
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
    fn blocks_read_back_from_every_cursor_with_every_limit() {
        let h = history();
        // One append spanning several blocks, then small ones.
        let big: Vec<StoredEvent> = (0..150)
            .map(|i| event("111111111111", &format!("E{i}"), NOW, i % 5 == 0))
            .collect();
        assert_eq!(h.append(&big).unwrap(), Cursor(150));
        for i in 150..153 {
            h.append(&[event("111111111111", &format!("E{i}"), NOW, true)])
                .unwrap();
        }
        for from in 0..=153u64 {
            for limit in [1usize, 7, 64, 65, 200] {
                let got = h.read_after(Cursor(from), limit).unwrap();
                let want: Vec<u64> = (from + 1..=153).take(limit).collect();
                let seqs: Vec<u64> = got.iter().map(|(c, _)| c.0).collect();
                assert_eq!(seqs, want, "from {from}, limit {limit}");
                for (c, e) in &got {
                    assert_eq!(e.event_name(), format!("E{}", c.0 - 1));
                }
            }
        }
        // LookupEvents finds the management events inside the blocks, newest first.
        let page = h
            .lookup("111111111111", &LookupQuery::default(), NOW + 1)
            .unwrap();
        let names: Vec<&str> = page.events.iter().map(|e| e.event_name()).collect();
        let want: Vec<String> = (0..153)
            .rev()
            .filter(|i| *i >= 150 || i % 5 == 0)
            .take(LOOKUP_MAX_RESULTS)
            .map(|i| format!("E{i}"))
            .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn encoded_events_round_trip_through_blocks() {
        let h = history();
        let mut e = event("111111111111", "Put\"Object\u{2028}\n\\", NOW, false);
        e.explanation = Some(serde_json::json!({"summary": "denied: \"x\"", "n": [1, 2]}));
        let mut one = EncodedBatch::new();
        one.push(&e).unwrap();
        assert_eq!(
            one.iter().map(|(_, lookup)| lookup).collect::<Vec<_>>(),
            [None]
        );
        let mut encoded = one.clone();
        let mut moved = one.clone();
        encoded.append(&mut moved);
        assert!(moved.is_empty(), "append empties its source");
        let m = event("222222222222", "CreateBucket", NOW, true);
        encoded.push(&m).unwrap();
        assert_eq!(encoded.len(), 3);
        h.append_encoded(&encoded).unwrap();
        let got = h.read_after(Cursor(0), 10).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[..2].iter().all(|(_, x)| *x == e));
        assert_eq!(got[2].1, m);
        let page = h
            .lookup("222222222222", &LookupQuery::default(), NOW)
            .unwrap();
        assert_eq!(page.events, vec![m], "the management event is indexed");
    }

    #[test]
    fn rows_of_single_events_from_before_blocks_still_read() {
        let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
        {
            // The layout written before blocks: one event per row, keyed by its number.
            let mut txn = store.write().unwrap();
            for seq in 1..=3u64 {
                let e = event("111111111111", &format!("Old{seq}"), NOW, true);
                txn.put_json(EVENTS, &Cursor(seq).key(), &e).unwrap();
                txn.put(LOOKUP, &lookup_key("111111111111", seq), b"")
                    .unwrap();
            }
            txn.put_json(META, NEXT_SEQ, &4u64).unwrap();
            txn.commit().unwrap();
        }
        let h = History::open(store).unwrap();
        h.append(&[
            event("111111111111", "New4", NOW, true),
            event("111111111111", "New5", NOW, true),
        ])
        .unwrap();
        let names: Vec<String> = h
            .read_after(Cursor(1), 10)
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.event_name().to_string())
            .collect();
        assert_eq!(names, ["Old2", "Old3", "New4", "New5"]);
        let page = h
            .lookup("111111111111", &LookupQuery::default(), NOW + 1)
            .unwrap();
        let names: Vec<&str> = page.events.iter().map(|e| e.event_name()).collect();
        assert_eq!(names, ["New5", "New4", "Old3", "Old2", "Old1"]);
    }

    /// A block row as `append_encoded` writes it, built by serde for comparison.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct BlockOut<'a> {
        block_first: u64,
        events: &'a [StoredEvent],
    }

    #[test]
    fn a_block_that_does_not_end_at_its_key_is_reported_corrupt() {
        let e = event("111111111111", "X", NOW, true);
        let row = serde_json::to_vec(&BlockOut {
            block_first: 5,
            events: &[e.clone(), e],
        })
        .unwrap();
        assert!(decode_row(&Cursor(6).key(), &row).is_ok());
        assert!(decode_row(&Cursor(7).key(), &row).is_err());
        assert!(decode_row("not-a-number", &row).is_err());
        assert!(decode_row(&Cursor(6).key(), b"{\"blockFirst\":5,\"events\":[]}").is_err());
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
