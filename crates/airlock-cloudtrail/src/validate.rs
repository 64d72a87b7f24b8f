//! Log file integrity validation, as `aws cloudtrail validate-logs` does it.
//!
//! The walk starts at the newest digest file of the trail's region in the requested range and
//! follows each digest's `previousDigestS3Object` back in time. Every digest is checked for
//! its location (a digest moved or swapped with another names another key), its public key
//! (by fingerprint, from `ListPublicKeys`) and its SHA256withRSA signature over
//! `digestEndTime\nbucket/key\nsha256(digest)\npreviousSignature`; every log file it lists is
//! fetched and its SHA-256 (uncompressed) compared. A digest that cannot be fetched is
//! reported missing and the walk resumes at the next older digest in the bucket listing; a
//! chain that starts anew (logging or validation was off) resumes the same way.
//!
//! Everything goes through [`Source`], which the CLI implements with the AWS SDK (S3 and
//! CloudTrail APIs), so the same code validates files on AWS and on airlock.

use std::collections::HashMap;
use std::future::Future;

use crate::delivery::{gunzip, iso_seconds};
use crate::digest::{PublicKeyInfo, sha256_hex, string_to_sign, verify};

/// An object as fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Body bytes.
    pub body: Vec<u8>,
    /// User metadata (`x-amz-meta-*` without the prefix).
    pub metadata: HashMap<String, String>,
}

/// What validation reads, through the AWS APIs.
pub trait Source {
    /// Public keys valid in `[start_ms, end_ms]` (`ListPublicKeys`).
    fn public_keys(
        &self,
        start_ms: i64,
        end_ms: i64,
    ) -> impl Future<Output = Result<Vec<PublicKeyInfo>, String>>;
    /// Every key of `bucket` under `prefix` that sorts after `marker`, in key order
    /// (`ListObjects`).
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        marker: &str,
    ) -> impl Future<Output = Result<Vec<String>, String>>;
    /// An object; `Ok(None)` for `NoSuchKey` (`GetObject`).
    fn get(&self, bucket: &str, key: &str)
    -> impl Future<Output = Result<Option<Fetched>, String>>;
}

/// What to validate.
#[derive(Debug, Clone)]
pub struct Request {
    /// Trail ARN (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`).
    pub trail_arn: String,
    /// Bucket of the trail.
    pub bucket: String,
    /// Key prefix of the trail.
    pub prefix: Option<String>,
    /// Region whose files are validated (the trail's home region by default).
    pub region: String,
    /// Range start (ms).
    pub start_ms: i64,
    /// Range end (ms).
    pub end_ms: i64,
}

/// The parts of a trail ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailArn {
    /// Home region.
    pub region: String,
    /// Account.
    pub account: String,
    /// Name.
    pub name: String,
}

/// Parses `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`.
pub fn parse_trail_arn(arn: &str) -> Option<TrailArn> {
    let mut p = arn.splitn(6, ':');
    if p.next()? != "arn" {
        return None;
    }
    let _partition = p.next()?;
    if p.next()? != "cloudtrail" {
        return None;
    }
    let region = p.next()?.to_string();
    let account = p.next()?.to_string();
    let name = p.next()?.strip_prefix("trail/")?.to_string();
    if region.is_empty()
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
        || name.is_empty()
    {
        return None;
    }
    Some(TrailArn {
        region,
        account,
        name,
    })
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `Digest file\ts3://b/k\tvalid`.
    DigestValid(String),
    /// `Digest file\ts3://b/k\tINVALID: reason`.
    DigestInvalid(String, String),
    /// `Log file\ts3://b/k\tvalid`.
    LogValid(String),
    /// `Log file\ts3://b/k\tINVALID: reason`.
    LogInvalid(String, String),
    /// A period without digests (the chain starts anew).
    Gap(String, String),
}

impl Line {
    /// The text as the AWS CLI prints it.
    pub fn text(&self) -> String {
        match self {
            Line::DigestValid(u) => format!("Digest file\t{u}\tvalid"),
            Line::DigestInvalid(u, r) => format!("Digest file\t{u}\tINVALID: {r}"),
            Line::LogValid(u) => format!("Log file\t{u}\tvalid"),
            Line::LogInvalid(u, r) => format!("Log file\t{u}\tINVALID: {r}"),
            Line::Gap(a, b) => {
                format!("No log files were delivered by CloudTrail between {a} and {b}")
            }
        }
    }

    /// Whether the line reports a problem.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Line::DigestInvalid(..) | Line::LogInvalid(..))
    }
}

/// The result of a validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Lines, in the order found (newest first).
    pub lines: Vec<Line>,
    /// Valid digests.
    pub valid_digests: usize,
    /// Invalid digests.
    pub invalid_digests: usize,
    /// Valid log files.
    pub valid_logs: usize,
    /// Invalid log files.
    pub invalid_logs: usize,
    /// Earliest start of a valid digest (clamped to the request).
    pub found_start_ms: Option<i64>,
    /// Latest end of a valid digest (clamped to the request).
    pub found_end_ms: Option<i64>,
}

impl Report {
    /// True when nothing invalid was found.
    pub fn is_valid(&self) -> bool {
        self.invalid_digests == 0 && self.invalid_logs == 0
    }

    /// The summary the AWS CLI prints after the lines.
    pub fn summary(&self, req: &Request) -> String {
        let mut out = format!(
            "Results requested for {} to {}\n",
            iso_seconds(req.start_ms),
            iso_seconds(req.end_ms)
        );
        if self.valid_digests + self.invalid_digests == 0 {
            out.push_str("No digests found\n");
            return out;
        }
        match (self.found_start_ms, self.found_end_ms) {
            (Some(s), Some(e)) => out.push_str(&format!(
                "Results found for {} to {}:\n",
                iso_seconds(s),
                iso_seconds(e)
            )),
            _ => out.push_str("No valid digests found in range\n"),
        }
        let ratio = |out: &mut String, valid: usize, invalid: usize, name: &str| {
            let total = valid + invalid;
            if total > 0 {
                out.push_str(&format!("\n{valid}/{total} {name} files valid"));
                if invalid > 0 {
                    out.push_str(&format!(", {invalid}/{total} {name} files INVALID"));
                }
            }
        };
        ratio(&mut out, self.valid_digests, self.invalid_digests, "digest");
        ratio(&mut out, self.valid_logs, self.invalid_logs, "log");
        out.push('\n');
        out
    }
}

/// The 16-character `YYYYMMDDTHHMMSSZ` end stamp of a digest key.
fn key_stamp(key: &str) -> Option<&str> {
    let stem = key.strip_suffix(".json.gz")?;
    stem.get(stem.len().checked_sub(16)?..)
}

fn stamp_of(ms: i64) -> String {
    crate::delivery::digest_file_key(None, "", "", "", "", ms)
        .rsplit('_')
        .next()
        .and_then(|s| s.strip_suffix(".json.gz"))
        .unwrap_or_default()
        .to_string()
}

fn parse_stamp(s: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &f).ok()?;
    Some(t.assume_utc().unix_timestamp() * 1000)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (and RFC 3339 in general).
pub fn parse_time(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Validates the trail's digest chain and log files in the range.
pub async fn validate<S: Source>(source: &S, req: &Request) -> Result<Report, String> {
    let arn = parse_trail_arn(&req.trail_arn)
        .ok_or_else(|| format!("Invalid trail ARN provided: {}", req.trail_arn))?;
    let pre = |k: String| match req.prefix.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{k}"),
        None => k,
    };
    let list_prefix = pre(format!(
        "AWSLogs/{}/CloudTrail-Digest/{}",
        arn.account, req.region
    ));
    let marker = crate::delivery::digest_file_key(
        req.prefix.as_deref(),
        &arn.account,
        &req.region,
        &arn.name,
        &arn.region,
        req.start_ms - 60_000,
    );
    let file_infix = format!(
        "/{}_CloudTrail-Digest_{}_{}_{}_",
        arn.account, req.region, arn.name, arn.region
    );
    let start_stamp = stamp_of(req.start_ms);
    let end_stamp = stamp_of(req.end_ms + 3_600_000);
    let mut digests: Vec<String> = Vec::new();
    for key in source.list(&req.bucket, &list_prefix, &marker).await? {
        let Some(stamp) = key_stamp(&key) else {
            continue;
        };
        let Some(rest) = key.strip_suffix(&format!("{stamp}.json.gz")) else {
            continue;
        };
        if !rest.ends_with(&file_infix) || !key.starts_with(&list_prefix) {
            continue;
        }
        if stamp > end_stamp.as_str() {
            break;
        }
        if stamp < start_stamp.as_str() {
            continue;
        }
        digests.push(key);
    }
    let keys = source
        .public_keys(req.start_ms, req.end_ms + 2 * 3_600_000)
        .await?;
    if keys.is_empty() {
        return Err(format!(
            "No public keys found between {} and {}",
            iso_seconds(req.start_ms),
            iso_seconds(req.end_ms + 2 * 3_600_000)
        ));
    }
    let keys: HashMap<String, PublicKeyInfo> = keys
        .into_iter()
        .map(|k| (k.fingerprint.clone(), k))
        .collect();

    let mut report = Report::default();
    let mut bucket = req.bucket.clone();
    let mut next: Option<String> = digests.pop();
    let mut last_start_ms = next
        .as_deref()
        .and_then(key_stamp)
        .and_then(parse_stamp)
        .unwrap_or(i64::MIN);
    // Older digests of the listing than `key` (for resuming after a break).
    let resume = |digests: &mut Vec<String>, key: &str| -> Option<String> {
        let before = key_stamp(key).unwrap_or_default().to_string();
        while let Some(k) = digests.pop() {
            if key_stamp(&k).is_some_and(|s| s < before.as_str()) {
                return Some(k);
            }
        }
        None
    };
    while let Some(key) = next.take() {
        if req.start_ms > last_start_ms {
            break;
        }
        let url = format!("s3://{bucket}/{key}");
        let fetched = match source.get(&bucket, &key).await? {
            Some(f) => f,
            None => {
                report.invalid_digests += 1;
                report
                    .lines
                    .push(Line::DigestInvalid(url, "not found".into()));
                next = resume(&mut digests, &key);
                continue;
            }
        };
        match check_digest(&fetched, &bucket, &key, &keys, &arn.region) {
            Err(reason) => {
                report.invalid_digests += 1;
                report.lines.push(Line::DigestInvalid(url, reason));
                next = resume(&mut digests, &key);
            }
            Ok(d) => {
                report.valid_digests += 1;
                report.lines.push(Line::DigestValid(url));
                let start = d
                    .get("digestStartTime")
                    .and_then(|v| v.as_str())
                    .and_then(parse_time)
                    .unwrap_or(req.start_ms);
                let end = d
                    .get("digestEndTime")
                    .and_then(|v| v.as_str())
                    .and_then(parse_time)
                    .unwrap_or(req.end_ms);
                let s = start.max(req.start_ms);
                let e = end.min(req.end_ms);
                report.found_start_ms = Some(report.found_start_ms.map_or(s, |x| x.min(s)));
                report.found_end_ms = Some(report.found_end_ms.map_or(e, |x| x.max(e)));
                last_start_ms = start;
                for log in d
                    .get("logFiles")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default()
                {
                    check_log(source, &log, &mut report).await?;
                }
                let pb = d.get("previousDigestS3Bucket").and_then(|v| v.as_str());
                let pk = d.get("previousDigestS3Object").and_then(|v| v.as_str());
                match (pb, pk) {
                    (Some(pb), Some(pk)) => {
                        if pb != bucket {
                            bucket = pb.to_string();
                        }
                        next = Some(pk.to_string());
                    }
                    _ => {
                        next = resume(&mut digests, &key);
                        if let Some(n) = &next {
                            let n_end = key_stamp(n).and_then(parse_stamp).unwrap_or(0);
                            report
                                .lines
                                .push(Line::Gap(iso_seconds(n_end), iso_seconds(start)));
                        }
                    }
                }
            }
        }
    }
    Ok(report)
}

fn check_digest(
    f: &Fetched,
    bucket: &str,
    key: &str,
    keys: &HashMap<String, PublicKeyInfo>,
    home_region: &str,
) -> Result<serde_json::Value, String> {
    let raw = gunzip(&f.body).ok_or("invalid format")?;
    let d: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| "invalid format")?;
    let (Some(sig), Some(_alg)) = (
        f.metadata.get("signature"),
        f.metadata.get("signature-algorithm"),
    ) else {
        return Err("signature verification failed".into());
    };
    for k in [
        "digestPublicKeyFingerprint",
        "digestS3Bucket",
        "digestS3Object",
        "previousDigestSignature",
        "digestEndTime",
        "digestStartTime",
    ] {
        if d.get(k).is_none() {
            return Err("invalid format".into());
        }
    }
    let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    if s("digestS3Bucket") != bucket || s("digestS3Object") != key {
        return Err("has been moved from its original location".into());
    }
    let fp = s("digestPublicKeyFingerprint");
    let Some(pk) = keys.get(fp) else {
        return Err(format!(
            "public key not found in region {home_region} for fingerprint {fp}"
        ));
    };
    let prev = d.get("previousDigestSignature").and_then(|v| v.as_str());
    let to_sign = string_to_sign(s("digestEndTime"), bucket, key, &raw, prev);
    if !verify(&pk.value, to_sign.as_bytes(), sig) {
        return Err("signature verification failed".into());
    }
    Ok(d)
}

async fn check_log<S: Source>(
    source: &S,
    log: &serde_json::Value,
    report: &mut Report,
) -> Result<(), String> {
    let s = |k: &str| log.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let url = format!("s3://{}/{}", s("s3Bucket"), s("s3Object"));
    let bad = |report: &mut Report, reason: &str| {
        report.invalid_logs += 1;
        report
            .lines
            .push(Line::LogInvalid(url.clone(), reason.to_string()));
    };
    match source.get(s("s3Bucket"), s("s3Object")).await? {
        None => bad(report, "not found"),
        Some(f) => match gunzip(&f.body) {
            None => bad(report, "invalid format"),
            Some(raw) if sha256_hex(&raw) != s("hashValue") => {
                bad(report, "hash value doesn't match")
            }
            Some(_) => {
                report.valid_logs += 1;
                report.lines.push(Line::LogValid(url));
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_arns_parse() {
        let a = parse_trail_arn("arn:aws:cloudtrail:us-east-1:111111111111:trail/main").unwrap();
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.account, "111111111111");
        assert_eq!(a.name, "main");
        for bad in [
            "",
            "arn:aws:s3:::b",
            "arn:aws:cloudtrail:us-east-1:1111:trail/main",
            "arn:aws:cloudtrail:us-east-1:111111111111:main",
            "arn:aws:cloudtrail:us-east-1:111111111111:trail/",
        ] {
            assert!(parse_trail_arn(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn stamps_round_trip() {
        let ms = 1_439_823_691_000;
        assert_eq!(stamp_of(ms), "20150817T150131Z");
        assert_eq!(parse_stamp("20150817T150131Z"), Some(ms));
        assert_eq!(parse_time("2015-08-17T15:01:31Z"), Some(ms));
        assert_eq!(
            key_stamp("a/b_20150817T150131Z.json.gz"),
            Some("20150817T150131Z")
        );
        assert_eq!(key_stamp("x.json.gz"), None);
    }

    proptest::proptest! {
        #[test]
        fn arn_parser_never_panics(s in ".*") {
            let _ = parse_trail_arn(&s);
            let _ = key_stamp(&s);
            let _ = parse_time(&s);
        }
    }
}
