//! Delivery: log files and digest files from the event history into each trail's bucket.
//!
//! One pass ([`Delivery::run_once`]) takes, for every trail that is logging (or stopped with
//! events recorded before it stopped), the history after the trail's durable cursor, keeps the
//! events its selectors and regions select, writes one gzipped `{"Records":[...]}` log file per
//! region through the [`ObjectSink`] (the server writes it into S3 as the CloudTrail service
//! principal, authorized against the bucket policy), and only then advances the cursor in the
//! store. A failed write leaves the cursor where it was and records the error for
//! `GetTrailStatus`; the next pass retries. Delivery is therefore at least once: a crash
//! between the S3 commit and the cursor commit delivers those events again in a new file.
//!
//! With log file validation on, each region's digest chain collects the delivered files and,
//! once per digest period (hourly on AWS), writes a signed digest file, also when no log file
//! was delivered in the period.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::digest::{
    Digest, DigestLogFile, HASH_ALGORITHM, KeyRing, SIGNATURE_ALGORITHM, sha256_hex, string_to_sign,
};
use crate::selectors::EventFacts;
use crate::trail::{DeliveredLog, DigestChain, PreviousDigest, Trail, TrailState, Trails};

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The event history, as delivery reads it: one global sequence of records, each for one
/// recipient account.
pub trait EventSource: Send + Sync {
    /// The sequence number of the newest recorded event (0 when none).
    fn head(&self) -> Result<u64, String>;
    /// Up to `limit` events with sequence numbers after `cursor`, in order, each with its
    /// sequence number, recipient account and CloudTrail record (JSON as delivered).
    fn read_after(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, String, Value)>, String>;
}

impl EventSource for crate::history::History {
    fn head(&self) -> Result<u64, String> {
        Ok(self.latest().0)
    }

    fn read_after(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, String, Value)>, String> {
        let rows = crate::history::History::read_after(self, crate::history::Cursor(cursor), limit)
            .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|(c, e)| {
                let record = serde_json::to_value(&e.record).map_err(|e| e.to_string())?;
                Ok((c.0, e.recipient_account, record))
            })
            .collect()
    }
}

/// Where files go: S3, written as the CloudTrail service principal for `trail`.
pub trait ObjectSink: Send + Sync {
    /// Writes an object durably; `Err` carries the S3 error code (`AccessDenied`,
    /// `NoSuchBucket`) as `GetTrailStatus` reports it.
    fn put_object<'a>(
        &'a self,
        trail: &'a Trail,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
        metadata: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Digest period in milliseconds (AWS: one hour). At least one second.
    pub digest_period_ms: i64,
    /// Events read per history page.
    pub batch: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            digest_period_ms: 3_600_000,
            batch: 1000,
        }
    }
}

/// `2026-01-02T03:04:05Z`.
pub fn iso_seconds(ms: i64) -> String {
    fmt_time(
        ms,
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    )
}

fn fmt_time(ms: i64, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(format).unwrap_or_default()
}

fn prefixed(prefix: Option<&str>, key: String) -> String {
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{key}"),
        None => key,
    }
}

/// `{prefix/}AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`.
pub fn log_file_key(
    prefix: Option<&str>,
    account: &str,
    region: &str,
    ms: i64,
    unique: &str,
) -> String {
    let day = fmt_time(
        ms,
        time::macros::format_description!("[year]/[month]/[day]"),
    );
    let stamp = fmt_time(
        ms,
        time::macros::format_description!("[year][month][day]T[hour][minute]Z"),
    );
    prefixed(
        prefix,
        format!(
            "AWSLogs/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_{unique}.json.gz"
        ),
    )
}

/// `{prefix/}AWSLogs/ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHmmssZ.json.gz`.
pub fn digest_file_key(
    prefix: Option<&str>,
    account: &str,
    region: &str,
    trail_name: &str,
    home_region: &str,
    end_ms: i64,
) -> String {
    let day = fmt_time(
        end_ms,
        time::macros::format_description!("[year]/[month]/[day]"),
    );
    let stamp = fmt_time(
        end_ms,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    );
    prefixed(
        prefix,
        format!(
            "AWSLogs/{account}/CloudTrail-Digest/{region}/{day}/{account}_CloudTrail-Digest_{region}_{trail_name}_{home_region}_{stamp}.json.gz"
        ),
    )
}

/// A random 16-character alphanumeric id, as in CloudTrail's log file names.
pub fn unique_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return format!("{:016x}", std::process::id());
    }
    b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}

/// Gzip.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Gunzip; `None` if not a single well-formed gzip stream.
pub fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut dec = flate2::read::GzDecoder::new(data);
    let mut out = Vec::new();
    dec.read_to_end(&mut out).ok()?;
    Some(out)
}

/// History pages gathered into one log file.
const PAGES_PER_FILE: usize = 10;

const GLOBAL_SOURCES: &[&str] = &[
    "iam.amazonaws.com",
    "cloudfront.amazonaws.com",
    "route53.amazonaws.com",
    "organizations.amazonaws.com",
];

/// Whether `trail` logs this record.
pub fn selects(trail: &Trail, record: &Value) -> bool {
    let region = record
        .get("awsRegion")
        .and_then(|v| v.as_str())
        .unwrap_or(&trail.home_region);
    if !trail.covers_region(region) {
        return false;
    }
    let facts = EventFacts::from_record(record);
    if !trail.include_global_service_events && GLOBAL_SOURCES.contains(&facts.event_source.as_str())
    {
        return false;
    }
    trail.selectors.matches(&facts)
}

/// The delivery task's state and collaborators.
pub struct Delivery {
    trails: Arc<Trails>,
    keys: Arc<KeyRing>,
    source: Arc<dyn EventSource>,
    sink: Arc<dyn ObjectSink>,
    config: DeliveryConfig,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one pass did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Log files written.
    pub log_files: usize,
    /// Events written.
    pub events: usize,
    /// Digest files written.
    pub digests: usize,
    /// Failed writes.
    pub errors: usize,
}

impl Delivery {
    /// Delivery over these parts.
    pub fn new(
        trails: Arc<Trails>,
        keys: Arc<KeyRing>,
        source: Arc<dyn EventSource>,
        sink: Arc<dyn ObjectSink>,
        mut config: DeliveryConfig,
    ) -> Self {
        config.digest_period_ms = config.digest_period_ms.max(1000);
        config.batch = config.batch.max(1);
        Delivery {
            trails,
            keys,
            source,
            sink,
            config,
        }
    }

    /// One pass over every trail.
    pub async fn run_once(&self, now_ms: i64) -> PassReport {
        let mut report = PassReport::default();
        let all = match self.trails.all() {
            Ok(a) => a,
            Err(e) => {
                tracing_free_log(&format!("reading trails: {e}"));
                return report;
            }
        };
        for (trail, state) in all {
            self.deliver_trail(&trail, state, now_ms, &mut report).await;
        }
        report
    }

    async fn deliver_trail(
        &self,
        trail: &Trail,
        mut state: TrailState,
        now_ms: i64,
        report: &mut PassReport,
    ) {
        let limit = if state.is_logging {
            None
        } else {
            match state.stop_cursor {
                Some(c) if c > state.cursor => Some(c),
                _ => {
                    // Stopped and caught up: close the digest chains that have files.
                    if trail.log_file_validation_enabled
                        && state.digests.values().any(|c| !c.pending.is_empty())
                    {
                        self.write_digests(trail, &mut state, now_ms, true, report)
                            .await;
                        let _ = self.trails.commit_state(trail, &state);
                    }
                    return;
                }
            }
        };
        // Logs.
        loop {
            // Up to a few pages go into one file per region.
            let mut events: Vec<(u64, Value)> = Vec::new();
            let mut after = state.cursor;
            for _ in 0..PAGES_PER_FILE {
                let page = match self.source.read_after(after, self.config.batch) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing_free_log(&format!("reading the event history: {e}"));
                        return;
                    }
                };
                let full = page.len() >= self.config.batch;
                let page: Vec<(u64, String, Value)> = page
                    .into_iter()
                    .filter(|(seq, _, _)| limit.is_none_or(|l| *seq <= l))
                    .collect();
                let Some(last) = page.last().map(|(s, _, _)| *s) else {
                    break;
                };
                after = last;
                events.extend(
                    page.into_iter()
                        .filter(|(_, account, _)| *account == trail.account)
                        .map(|(s, _, v)| (s, v)),
                );
                if !full {
                    break;
                }
            }
            if after == state.cursor {
                break;
            }
            let last = after;
            let mut by_region: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (_, r) in events {
                if selects(trail, &r) {
                    let region = r
                        .get("awsRegion")
                        .and_then(|v| v.as_str())
                        .unwrap_or(&trail.home_region)
                        .to_string();
                    by_region.entry(region).or_default().push(r);
                }
            }
            for (region, records) in by_region {
                let body = serde_json::to_vec(&serde_json::json!({ "Records": records }))
                    .unwrap_or_default();
                let times: Vec<&str> = records
                    .iter()
                    .filter_map(|r| r.get("eventTime").and_then(|v| v.as_str()))
                    .collect();
                let newest = times
                    .iter()
                    .max()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let oldest = times
                    .iter()
                    .min()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let key = log_file_key(
                    trail.s3_key_prefix.as_deref(),
                    &trail.account,
                    &region,
                    now_ms,
                    &unique_id(),
                );
                state.latest_delivery_attempt_ms = Some(now_ms);
                let put = self
                    .sink
                    .put_object(trail, &trail.s3_bucket_name, &key, gzip(&body), Vec::new())
                    .await;
                match put {
                    Ok(()) => {
                        report.log_files += 1;
                        report.events += records.len();
                        state.latest_delivery_ms = Some(now_ms);
                        state.latest_delivery_error = None;
                        if trail.log_file_validation_enabled {
                            let start = state.start_logging_ms.unwrap_or(now_ms);
                            state
                                .digests
                                .entry(region)
                                .or_insert_with(|| DigestChain {
                                    period_start_ms: start,
                                    ..Default::default()
                                })
                                .pending
                                .push(DeliveredLog {
                                    bucket: trail.s3_bucket_name.clone(),
                                    key,
                                    sha256: sha256_hex(&body),
                                    newest_event_time: newest,
                                    oldest_event_time: oldest,
                                });
                        }
                        // Commit what this file delivered before the next file.
                    }
                    Err(e) => {
                        report.errors += 1;
                        state.latest_delivery_error = Some(e);
                        // The cursor stays: these events are delivered by a later pass.
                        let _ = self.trails.commit_state(trail, &state);
                        return;
                    }
                }
            }
            state.cursor = last;
            if let Err(e) = self.trails.commit_state(trail, &state) {
                tracing_free_log(&format!("committing delivery state: {e}"));
                return;
            }
        }
        // Digests.
        if trail.log_file_validation_enabled && state.is_logging {
            let start = state.start_logging_ms.unwrap_or(now_ms);
            state
                .digests
                .entry(trail.home_region.clone())
                .or_insert_with(|| DigestChain {
                    period_start_ms: start,
                    ..Default::default()
                });
            self.write_digests(trail, &mut state, now_ms, false, report)
                .await;
            let _ = self.trails.commit_state(trail, &state);
        }
    }

    async fn write_digests(
        &self,
        trail: &Trail,
        state: &mut TrailState,
        now_ms: i64,
        closing: bool,
        report: &mut PassReport,
    ) {
        let regions: Vec<String> = state.digests.keys().cloned().collect();
        for region in regions {
            let Some(chain) = state.digests.get(&region).cloned() else {
                continue;
            };
            // Digest end times are whole seconds (they name the file): one per second at most.
            let end_ms = now_ms - now_ms.rem_euclid(1000);
            let due = now_ms - chain.period_start_ms >= self.config.digest_period_ms;
            if !(due || closing && !chain.pending.is_empty()) || end_ms <= chain.period_start_ms {
                continue;
            }
            match self.write_digest(trail, &region, &chain, end_ms).await {
                Ok(prev) => {
                    report.digests += 1;
                    state.latest_digest_delivery_ms = Some(now_ms);
                    state.latest_digest_delivery_error = None;
                    state.digests.insert(
                        region,
                        DigestChain {
                            period_start_ms: end_ms,
                            pending: Vec::new(),
                            previous: Some(prev),
                        },
                    );
                }
                Err(e) => {
                    report.errors += 1;
                    state.latest_digest_delivery_error = Some(e);
                }
            }
        }
    }

    async fn write_digest(
        &self,
        trail: &Trail,
        region: &str,
        chain: &DigestChain,
        end_ms: i64,
    ) -> Result<PreviousDigest, String> {
        let bucket = trail.s3_bucket_name.clone();
        let key = digest_file_key(
            trail.s3_key_prefix.as_deref(),
            &trail.account,
            region,
            &trail.name,
            &trail.home_region,
            end_ms,
        );
        let newest = chain
            .pending
            .iter()
            .map(|l| &l.newest_event_time)
            .max()
            .cloned();
        let oldest = chain
            .pending
            .iter()
            .map(|l| &l.oldest_event_time)
            .min()
            .cloned();
        let prev = chain.previous.as_ref();
        // The fingerprint is that of the key that signs: sign a probe first to learn it (the
        // ring makes the region's key on first use), then the real string.
        let fingerprint = self
            .keys
            .sign(region, end_ms, b"fingerprint")
            .map_err(|e| e.to_string())?
            .fingerprint;
        let digest = Digest {
            aws_account_id: trail.account.clone(),
            digest_start_time: iso_seconds(chain.period_start_ms),
            digest_end_time: iso_seconds(end_ms),
            digest_s3_bucket: bucket.clone(),
            digest_s3_object: key.clone(),
            digest_public_key_fingerprint: fingerprint.clone(),
            digest_signature_algorithm: SIGNATURE_ALGORITHM.to_string(),
            newest_event_time: newest,
            oldest_event_time: oldest,
            previous_digest_s3_bucket: prev.map(|p| p.bucket.clone()),
            previous_digest_s3_object: prev.map(|p| p.key.clone()),
            previous_digest_hash_value: prev.map(|p| p.sha256.clone()),
            previous_digest_hash_algorithm: prev.map(|_| HASH_ALGORITHM.to_string()),
            previous_digest_signature: prev.map(|p| p.signature.clone()),
            log_files: chain
                .pending
                .iter()
                .map(|l| DigestLogFile {
                    s3_bucket: l.bucket.clone(),
                    s3_object: l.key.clone(),
                    hash_value: l.sha256.clone(),
                    hash_algorithm: HASH_ALGORITHM.to_string(),
                    newest_event_time: l.newest_event_time.clone(),
                    oldest_event_time: l.oldest_event_time.clone(),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&digest).map_err(|e| e.to_string())?;
        let to_sign = string_to_sign(
            &digest.digest_end_time,
            &bucket,
            &key,
            &body,
            prev.map(|p| p.signature.as_str()),
        );
        let signed = self
            .keys
            .sign(region, end_ms, to_sign.as_bytes())
            .map_err(|e| e.to_string())?;
        if signed.fingerprint != fingerprint {
            return Err("the signing key changed while signing; retrying".to_string());
        }
        self.sink
            .put_object(
                trail,
                &bucket,
                &key,
                gzip(&body),
                vec![
                    ("signature".to_string(), signed.signature.clone()),
                    (
                        "signature-algorithm".to_string(),
                        SIGNATURE_ALGORITHM.to_string(),
                    ),
                ],
            )
            .await?;
        Ok(PreviousDigest {
            bucket,
            key,
            sha256: sha256_hex(&body),
            signature: signed.signature,
        })
    }
}

/// Problems that are not a trail's delivery error (shown by `GetTrailStatus`) go to the log.
fn tracing_free_log(message: &str) {
    tracing::warn!(target: "airlock::cloudtrail", "delivery: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_cloudtrails_layout() {
        // 2015-08-17T15:01:31Z
        let ms = 1_439_823_691_000;
        assert_eq!(
            log_file_key(
                Some("p"),
                "111122223333",
                "us-east-2",
                ms,
                "AbCdEfGhIjKlMnOp"
            ),
            "p/AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1501Z_AbCdEfGhIjKlMnOp.json.gz"
        );
        assert_eq!(
            digest_file_key(
                None,
                "111122223333",
                "us-east-2",
                "your-trail-name",
                "us-east-2",
                ms
            ),
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz"
        );
        assert_eq!(iso_seconds(ms), "2015-08-17T15:01:31Z");
        assert_eq!(unique_id().len(), 16);
    }

    #[test]
    fn gzip_round_trips() {
        let data = b"{\"Records\":[]}".repeat(100);
        assert_eq!(gunzip(&gzip(&data)).unwrap(), data);
        assert!(gunzip(b"not gzip").is_none());
    }
}
