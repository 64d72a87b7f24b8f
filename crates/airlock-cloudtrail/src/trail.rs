//! Trails: their configuration and their delivery state, durable in the store.
//!
//! A trail's configuration (`cloudtrail-trails`) and its delivery state
//! (`cloudtrail-trail-state`: logging on or off, the delivery cursor into the event history,
//! the last delivery and its error, the digest chain per region) are separate records under
//! the same key `ACCOUNT/REGION/NAME`, so the delivery task never rewrites a configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_store::{Store, StoreError, StoreExt, WriteExt};
use serde::{Deserialize, Serialize};

use crate::selectors::{InvalidSelectors, Selectors};

const TRAILS: &str = "cloudtrail-trails";
const STATE: &str = "cloudtrail-trail-state";

/// A trail's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trail {
    /// Name.
    pub name: String,
    /// Owner account.
    pub account: String,
    /// Home region (where it was created).
    pub home_region: String,
    /// Bucket receiving log and digest files.
    pub s3_bucket_name: String,
    /// Optional key prefix.
    pub s3_key_prefix: Option<String>,
    /// Logs events of every region.
    pub is_multi_region_trail: bool,
    /// Logs events of global services (IAM).
    pub include_global_service_events: bool,
    /// Writes signed digest files.
    pub log_file_validation_enabled: bool,
    /// Event selectors.
    pub selectors: Selectors,
    /// Creation time (ms since the epoch).
    pub created_ms: i64,
}

impl Trail {
    /// `arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            self.home_region, self.account, self.name
        )
    }

    /// The store key.
    pub fn key(&self) -> String {
        trail_key(&self.account, &self.home_region, &self.name)
    }

    /// Whether the trail logs events recorded in `region`.
    pub fn covers_region(&self, region: &str) -> bool {
        self.is_multi_region_trail || region == self.home_region
    }
}

fn trail_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

/// One log file delivered and not yet covered by a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredLog {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Hex SHA-256 of the uncompressed file.
    pub sha256: String,
    /// Newest event time (`YYYY-MM-DDTHH:MM:SSZ`).
    pub newest_event_time: String,
    /// Oldest event time.
    pub oldest_event_time: String,
}

/// The last digest file written for a region: what the next one chains to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousDigest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Hex SHA-256 of the uncompressed digest.
    pub sha256: String,
    /// Hex signature.
    pub signature: String,
}

/// The digest chain of one region of a trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DigestChain {
    /// Start of the current digest period (ms).
    pub period_start_ms: i64,
    /// Log files delivered in the current period.
    pub pending: Vec<DeliveredLog>,
    /// The previous digest (`None` before the first, or after logging or validation stopped).
    pub previous: Option<PreviousDigest>,
}

/// A trail's delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TrailState {
    /// `IsLogging`.
    pub is_logging: bool,
    /// Last `StartLogging` (ms).
    pub start_logging_ms: Option<i64>,
    /// Last `StopLogging` (ms).
    pub stop_logging_ms: Option<i64>,
    /// Events up to this history sequence number are delivered (or not selected).
    pub cursor: u64,
    /// The history's head when logging stopped: events up to it are still delivered.
    #[serde(default)]
    pub stop_cursor: Option<u64>,
    /// Last successful log delivery (ms).
    pub latest_delivery_ms: Option<i64>,
    /// Last log delivery attempt (ms).
    pub latest_delivery_attempt_ms: Option<i64>,
    /// Error of the last failed log delivery, cleared by the next success.
    pub latest_delivery_error: Option<String>,
    /// Last successful digest delivery (ms).
    pub latest_digest_delivery_ms: Option<i64>,
    /// Error of the last failed digest delivery.
    pub latest_digest_delivery_error: Option<String>,
    /// Digest chains by region.
    pub digests: BTreeMap<String, DigestChain>,
}

/// Errors of trail operations, with CloudTrail's error codes.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// `TrailNotFoundException`.
    #[error("Unknown trail: {arn} for the user: {account}")]
    NotFound {
        /// The ARN asked for.
        arn: String,
        /// The caller's account.
        account: String,
    },
    /// `TrailAlreadyExistsException`.
    #[error("Trail {0} already exists for customer: {1}")]
    AlreadyExists(String, String),
    /// `InvalidTrailNameException`.
    #[error("{0}")]
    InvalidName(String),
    /// `InvalidEventSelectorsException`.
    #[error(transparent)]
    InvalidSelectors(#[from] InvalidSelectors),
    /// `InvalidS3PrefixException`.
    #[error("{0}")]
    InvalidPrefix(String),
    /// `MaximumNumberOfTrailsExceededException`.
    #[error("User: {0} already has 5 trails in {1}.")]
    TooMany(String, String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TrailError {
    /// CloudTrail's error code.
    pub fn code(&self) -> &'static str {
        match self {
            TrailError::NotFound { .. } => "TrailNotFoundException",
            TrailError::AlreadyExists(..) => "TrailAlreadyExistsException",
            TrailError::InvalidName(_) => "InvalidTrailNameException",
            TrailError::InvalidSelectors(_) => "InvalidEventSelectorsException",
            TrailError::InvalidPrefix(_) => "InvalidS3PrefixException",
            TrailError::TooMany(..) => "MaximumNumberOfTrailsExceededException",
            TrailError::Store(_) => "InternalFailure",
        }
    }
}

/// Validates a trail name as CloudTrail does.
pub fn validate_name(name: &str) -> Result<(), TrailError> {
    let bad = |m: &str| Err(TrailError::InvalidName(m.to_string()));
    let n = name.chars().count();
    if n < 3 {
        return Err(TrailError::InvalidName(format!(
            "Trail name too short. Minimum allowed length: 3 characters. Specified name length: {n} characters."
        )));
    }
    if n > 128 {
        return Err(TrailError::InvalidName(format!(
            "Trail name too long. Maximum allowed length: 128 characters. Specified name length: {n} characters."
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return bad(
            "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).",
        );
    }
    let first = name.chars().next().unwrap_or('.');
    let last = name.chars().last().unwrap_or('.');
    if !first.is_ascii_alphanumeric() {
        return bad("Trail name must starts with a letter or number.");
    }
    if !last.is_ascii_alphanumeric() {
        return bad("Trail name must ends with a letter or number.");
    }
    let b = name.as_bytes();
    if b.windows(2)
        .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
    {
        return bad("Trail name cannot contain adjacent periods, hyphens or underscores.");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("Trail name cannot be formatted as an IP address.");
    }
    Ok(())
}

/// What `CreateTrail` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateTrail {
    /// Name.
    pub name: String,
    /// Bucket.
    pub s3_bucket_name: String,
    /// Prefix.
    pub s3_key_prefix: Option<String>,
    /// Multi-region.
    pub is_multi_region_trail: bool,
    /// Global service events (default true).
    pub include_global_service_events: Option<bool>,
    /// Log file validation.
    pub enable_log_file_validation: bool,
}

/// The trails of every account, over the store.
pub struct Trails {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Trails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trails").finish_non_exhaustive()
    }
}

/// A trail name or ARN resolved to (region, name).
fn resolve(account: &str, region: &str, name_or_arn: &str) -> (String, String, String) {
    if let Some(rest) = name_or_arn.strip_prefix("arn:aws:cloudtrail:") {
        let mut parts = rest.splitn(3, ':');
        let r = parts.next().unwrap_or_default().to_string();
        let a = parts.next().unwrap_or_default().to_string();
        let n = parts
            .next()
            .and_then(|x| x.strip_prefix("trail/"))
            .unwrap_or_default()
            .to_string();
        (a, r, n)
    } else {
        (
            account.to_string(),
            region.to_string(),
            name_or_arn.to_string(),
        )
    }
}

impl Trails {
    /// Trails over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Trails { store }
    }

    fn not_found(account: &str, region: &str, name_or_arn: &str) -> TrailError {
        let arn = if name_or_arn.starts_with("arn:") {
            name_or_arn.to_string()
        } else {
            format!("arn:aws:cloudtrail:{region}:{account}:trail/{name_or_arn}")
        };
        TrailError::NotFound {
            arn,
            account: account.to_string(),
        }
    }

    /// Creates a trail (stopped, default selectors). The bucket's existence and policy are
    /// the caller's to check first.
    pub fn create(
        &self,
        account: &str,
        region: &str,
        input: CreateTrail,
        now_ms: i64,
    ) -> Result<Trail, TrailError> {
        validate_name(&input.name)?;
        if let Some(p) = &input.s3_key_prefix
            && p.len() > 200
        {
            return Err(TrailError::InvalidPrefix(
                "Prefix is too long. Maximum allowed length: 200 characters.".into(),
            ));
        }
        let trail = Trail {
            name: input.name.clone(),
            account: account.to_string(),
            home_region: region.to_string(),
            s3_bucket_name: input.s3_bucket_name,
            s3_key_prefix: input.s3_key_prefix.filter(|p| !p.is_empty()),
            is_multi_region_trail: input.is_multi_region_trail,
            include_global_service_events: input.include_global_service_events.unwrap_or(true),
            log_file_validation_enabled: input.enable_log_file_validation,
            selectors: Selectors::default(),
            created_ms: now_ms,
        };
        let mut txn = self.store.write()?;
        let existing = txn.as_read().scan_prefix(TRAILS, &format!("{account}/"))?;
        if existing
            .iter()
            .any(|(k, _)| k.rsplit('/').next() == Some(input.name.as_str()))
        {
            return Err(TrailError::AlreadyExists(input.name, account.to_string()));
        }
        if existing
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{account}/{region}/")))
            .count()
            >= 5
        {
            return Err(TrailError::TooMany(account.to_string(), region.to_string()));
        }
        txn.put_json(TRAILS, &trail.key(), &trail)?;
        txn.put_json(STATE, &trail.key(), &TrailState::default())?;
        txn.commit()?;
        Ok(trail)
    }

    /// The trail named (by name in `region`, or by ARN) for `account`.
    pub fn get(&self, account: &str, region: &str, name_or_arn: &str) -> Result<Trail, TrailError> {
        let (a, r, n) = resolve(account, region, name_or_arn);
        let read = self.store.read()?;
        if a == account
            && let Some(t) = read.get_json::<Trail>(TRAILS, &trail_key(&a, &r, &n))?
        {
            return Ok(t);
        }
        // A multi-region trail is visible by name from every region.
        if !name_or_arn.starts_with("arn:")
            && let Some(t) = read
                .scan_json::<Trail>(TRAILS, &format!("{account}/"))?
                .into_iter()
                .find(|t| t.name == n && t.is_multi_region_trail)
        {
            return Ok(t);
        }
        Err(Self::not_found(account, region, name_or_arn))
    }

    /// Trails of `account` visible in `region`: its own and multi-region ones (shadow trails).
    pub fn list(&self, account: &str, region: &str) -> Result<Vec<Trail>, TrailError> {
        let read = self.store.read()?;
        Ok(read
            .scan_json::<Trail>(TRAILS, &format!("{account}/"))?
            .into_iter()
            .filter(|t| t.home_region == region || t.is_multi_region_trail)
            .collect())
    }

    /// Every trail of every account.
    pub fn all(&self) -> Result<Vec<(Trail, TrailState)>, TrailError> {
        let read = self.store.read()?;
        let trails = read.scan_json::<Trail>(TRAILS, "")?;
        let mut out = Vec::with_capacity(trails.len());
        for t in trails {
            let s = read
                .get_json::<TrailState>(STATE, &t.key())?
                .unwrap_or_default();
            out.push((t, s));
        }
        Ok(out)
    }

    /// Deletes a trail (only in its home region).
    pub fn delete(&self, account: &str, region: &str, name_or_arn: &str) -> Result<(), TrailError> {
        let t = self.get(account, region, name_or_arn)?;
        if t.home_region != region {
            return Err(Self::not_found(account, region, name_or_arn));
        }
        let mut txn = self.store.write()?;
        txn.delete(TRAILS, &t.key())?;
        txn.delete(STATE, &t.key())?;
        txn.commit()?;
        Ok(())
    }

    /// Applies `f` to a trail's configuration and stores it.
    pub fn update(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
        f: impl FnOnce(&mut Trail) -> Result<(), TrailError>,
    ) -> Result<Trail, TrailError> {
        let mut t = self.get(account, region, name_or_arn)?;
        if t.home_region != region {
            return Err(Self::not_found(account, region, name_or_arn));
        }
        let validation_before = t.log_file_validation_enabled;
        f(&mut t)?;
        t.selectors.validate()?;
        let mut txn = self.store.write()?;
        txn.put_json(TRAILS, &t.key(), &t)?;
        if validation_before != t.log_file_validation_enabled {
            // Turning validation on or off starts a new chain, as on AWS.
            let mut s: TrailState = txn.as_read().get_json(STATE, &t.key())?.unwrap_or_default();
            s.digests.clear();
            txn.put_json(STATE, &t.key(), &s)?;
        }
        txn.commit()?;
        Ok(t)
    }

    /// The delivery state of a trail.
    pub fn state(&self, trail: &Trail) -> Result<TrailState, TrailError> {
        Ok(self
            .store
            .read()?
            .get_json::<TrailState>(STATE, &trail.key())?
            .unwrap_or_default())
    }

    /// `StartLogging`/`StopLogging`. Starting logging delivers only events recorded from now
    /// on (`cursor` is the history's current head), and starts a new digest chain.
    pub fn set_logging(
        &self,
        trail: &Trail,
        on: bool,
        now_ms: i64,
        head: u64,
    ) -> Result<(), TrailError> {
        let mut txn = self.store.write()?;
        let mut s: TrailState = txn
            .as_read()
            .get_json(STATE, &trail.key())?
            .unwrap_or_default();
        if on && !s.is_logging {
            s.is_logging = true;
            s.start_logging_ms = Some(now_ms);
            s.cursor = s.cursor.max(head);
            s.stop_cursor = None;
            s.digests.clear();
        } else if !on && s.is_logging {
            s.is_logging = false;
            s.stop_logging_ms = Some(now_ms);
            s.stop_cursor = Some(head);
        }
        txn.put_json(STATE, &trail.key(), &s)?;
        txn.commit()?;
        Ok(())
    }

    /// Stores a delivery state durably, unless the trail was deleted or stopped meanwhile
    /// (then the stored logging flag wins).
    pub fn commit_state(&self, trail: &Trail, state: &TrailState) -> Result<(), TrailError> {
        let mut txn = self.store.write()?;
        let Some(current) = txn.as_read().get_json::<TrailState>(STATE, &trail.key())? else {
            return Ok(());
        };
        let mut s = state.clone();
        s.is_logging = current.is_logging;
        s.start_logging_ms = current.start_logging_ms;
        s.stop_logging_ms = current.stop_logging_ms;
        s.stop_cursor = current.stop_cursor;
        if current.start_logging_ms != state.start_logging_ms {
            // Restarted meanwhile: keep the new start's cursor and chain.
            s.cursor = current.cursor;
            s.digests = current.digests;
        }
        txn.put_json(STATE, &trail.key(), &s)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_store::RedbStore;

    fn trails() -> Trails {
        Trails::new(Arc::new(RedbStore::in_memory().unwrap()))
    }

    #[test]
    fn names_follow_cloudtrails_rules() {
        for ok in ["abc", "my-trail_1.x", "A1b"] {
            validate_name(ok).unwrap();
        }
        for bad in ["ab", "-abc", "abc-", "a..b", "a_-b", "a b c", "10.0.0.1"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_get_list_delete() {
        let t = trails();
        let input = CreateTrail {
            name: "main".into(),
            s3_bucket_name: "logs".into(),
            ..Default::default()
        };
        let trail = t
            .create("111111111111", "us-east-1", input.clone(), 1)
            .unwrap();
        assert_eq!(
            trail.arn(),
            "arn:aws:cloudtrail:us-east-1:111111111111:trail/main"
        );
        assert!(matches!(
            t.create("111111111111", "us-east-1", input, 2),
            Err(TrailError::AlreadyExists(..))
        ));
        assert_eq!(
            t.get("111111111111", "us-east-1", &trail.arn()).unwrap(),
            trail
        );
        assert!(t.get("222222222222", "us-east-1", &trail.arn()).is_err());
        assert!(t.get("111111111111", "eu-west-1", "main").is_err());
        assert_eq!(t.list("111111111111", "us-east-1").unwrap().len(), 1);
        t.delete("111111111111", "us-east-1", "main").unwrap();
        let err = t.get("111111111111", "us-east-1", "main").unwrap_err();
        assert_eq!(err.code(), "TrailNotFoundException");
        assert_eq!(
            err.to_string(),
            "Unknown trail: arn:aws:cloudtrail:us-east-1:111111111111:trail/main for the user: 111111111111"
        );
    }

    #[test]
    fn starting_logging_skips_earlier_history_and_survives_a_delivery_commit() {
        let t = trails();
        let trail = t
            .create(
                "111111111111",
                "us-east-1",
                CreateTrail {
                    name: "main".into(),
                    s3_bucket_name: "logs".into(),
                    ..Default::default()
                },
                1,
            )
            .unwrap();
        t.set_logging(&trail, true, 10, 42).unwrap();
        let mut s = t.state(&trail).unwrap();
        assert!(s.is_logging);
        assert_eq!(s.cursor, 42);
        s.cursor = 50;
        t.set_logging(&trail, false, 20, 60).unwrap();
        t.commit_state(&trail, &s).unwrap();
        let after = t.state(&trail).unwrap();
        assert_eq!(after.cursor, 50);
        assert_eq!(after.stop_cursor, Some(60));
        assert!(!after.is_logging);
    }
}
