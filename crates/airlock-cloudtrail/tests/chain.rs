//! Delivery and validation together, over an in-memory bucket: a clean chain validates, and
//! each kind of tampering (modify, delete, swap log files; modify, delete, swap digests) is
//! reported. The server-level tests do the same through S3 and the AWS CLI.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use airlock_cloudtrail::delivery::{BoxFuture, Delivery, DeliveryConfig, EventSource, ObjectSink};
use airlock_cloudtrail::digest::{KeyRing, PublicKeyInfo, Sealer};
use airlock_cloudtrail::trail::{CreateTrail, Trail, Trails};
use airlock_cloudtrail::validate::{Fetched, Line, Request, Source, validate};
use airlock_store::{RedbStore, Store};
use serde_json::{Value, json};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const T0: i64 = 1_800_000_000_000;

struct XorSealer;
impl Sealer for XorSealer {
    fn seal(&self, label: &str, p: &[u8]) -> Vec<u8> {
        let mut out = label.as_bytes().to_vec();
        out.push(0);
        out.extend(p.iter().map(|b| b ^ 0xa5));
        out
    }
    fn open(&self, label: &str, s: &[u8]) -> Option<Vec<u8>> {
        let rest = s.strip_prefix(label.as_bytes())?.strip_prefix(&[0])?;
        Some(rest.iter().map(|b| b ^ 0xa5).collect())
    }
}

#[derive(Default)]
struct History {
    events: Mutex<Vec<(u64, String, Value)>>,
}

impl History {
    fn push(&self, account: &str, name: &str, ms: i64) {
        let mut e = self.events.lock().unwrap();
        let seq = e.len() as u64 + 1;
        e.push((
            seq,
            account.to_string(),
            json!({
                "eventVersion": "1.11",
                "eventTime": airlock_cloudtrail::delivery::iso_seconds(ms),
                "eventSource": "iam.amazonaws.com",
                "eventName": name,
                "awsRegion": REGION,
                "eventID": format!("id-{seq}"),
                "readOnly": false,
                "eventType": "AwsApiCall",
                "eventCategory": "Management",
                "recipientAccountId": account,
            }),
        ));
    }
}

impl EventSource for History {
    fn head(&self) -> Result<u64, String> {
        Ok(self.events.lock().unwrap().len() as u64)
    }
    fn read_after(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, String, Value)>, String> {
        Ok(self
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, _)| *s > cursor)
            .take(limit)
            .cloned()
            .collect())
    }
}

/// An object: body and user metadata.
type Stored = (Vec<u8>, HashMap<String, String>);

/// A bucket: key → (body, metadata); `deny` makes every write fail as a denied PutObject.
#[derive(Default)]
struct Bucket {
    objects: Mutex<BTreeMap<String, Stored>>,
    deny: Mutex<bool>,
    keys: Mutex<Option<Arc<KeyRing>>>,
}

impl ObjectSink for Bucket {
    fn put_object<'a>(
        &'a self,
        _trail: &'a Trail,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
        metadata: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if *self.deny.lock().unwrap() {
                return Err("AccessDenied".to_string());
            }
            self.objects.lock().unwrap().insert(
                format!("{bucket}/{key}"),
                (body, metadata.into_iter().collect()),
            );
            Ok(())
        })
    }
}

impl Source for Bucket {
    async fn public_keys(&self, start: i64, end: i64) -> Result<Vec<PublicKeyInfo>, String> {
        let ring = self.keys.lock().unwrap().clone().unwrap();
        ring.public_keys(REGION, start, end, start)
            .map_err(|e| e.to_string())
    }
    async fn list(&self, bucket: &str, prefix: &str, marker: &str) -> Result<Vec<String>, String> {
        let b = format!("{bucket}/");
        Ok(self
            .objects
            .lock()
            .unwrap()
            .keys()
            .filter_map(|k| k.strip_prefix(&b))
            .filter(|k| k.starts_with(prefix) && *k > marker)
            .map(str::to_string)
            .collect())
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Fetched>, String> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&format!("{bucket}/{key}"))
            .map(|(b, m)| Fetched {
                body: b.clone(),
                metadata: m.clone(),
            }))
    }
}

struct Setup {
    bucket: Arc<Bucket>,
    history: Arc<History>,
    trails: Arc<Trails>,
    delivery: Delivery,
    trail: Trail,
}

fn setup() -> Setup {
    let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
    let trails = Arc::new(Trails::new(store.clone()));
    let keys = Arc::new(KeyRing::new(store, Arc::new(XorSealer)));
    let bucket = Arc::new(Bucket::default());
    *bucket.keys.lock().unwrap() = Some(keys.clone());
    let history = Arc::new(History::default());
    let trail = trails
        .create(
            ACCOUNT,
            REGION,
            CreateTrail {
                name: "main".into(),
                s3_bucket_name: "logs".into(),
                s3_key_prefix: Some("org".into()),
                enable_log_file_validation: true,
                ..Default::default()
            },
            T0,
        )
        .unwrap();
    let delivery = Delivery::new(
        trails.clone(),
        keys,
        history.clone(),
        bucket.clone(),
        DeliveryConfig {
            digest_period_ms: 10_000,
            batch: 3,
        },
    );
    Setup {
        bucket,
        history,
        trails,
        delivery,
        trail,
    }
}

/// Four digest periods, each with events (one period without), then validation.
async fn deliver_chain(s: &Setup) {
    s.history.push(ACCOUNT, "Before", T0);
    s.trails
        .set_logging(&s.trail, true, T0, s.history.head().unwrap())
        .unwrap();
    let mut t = T0;
    for period in 0..4 {
        if period != 2 {
            for i in 0..4 {
                s.history
                    .push(ACCOUNT, &format!("Call{period}x{i}"), t + 1000);
                s.history.push("222222222222", "OtherAccount", t + 1000);
            }
        }
        t += 5_000;
        s.delivery.run_once(t).await;
        t += 6_000;
        s.delivery.run_once(t).await;
    }
}

fn request(s: &Setup) -> Request {
    Request {
        trail_arn: s.trail.arn(),
        bucket: "logs".into(),
        prefix: Some("org".into()),
        region: REGION.into(),
        start_ms: T0 - 60_000,
        end_ms: T0 + 3_600_000,
    }
}

fn keys_of(s: &Setup, kind: &str) -> Vec<String> {
    s.bucket
        .objects
        .lock()
        .unwrap()
        .keys()
        .filter(|k| k.contains(&format!("/{kind}/")))
        .cloned()
        .collect()
}

fn invalid(report: &airlock_cloudtrail::validate::Report) -> Vec<String> {
    report
        .lines
        .iter()
        .filter(|l| l.is_invalid())
        .map(Line::text)
        .collect()
}

#[tokio::test]
async fn a_clean_chain_validates_and_every_event_is_delivered_once() {
    let s = setup();
    deliver_chain(&s).await;
    let digests = keys_of(&s, "CloudTrail-Digest");
    let logs = keys_of(&s, "CloudTrail");
    assert_eq!(digests.len(), 4, "{digests:?}");
    assert_eq!(logs.len(), 3, "{logs:?}");
    let mut names = Vec::new();
    for k in &logs {
        let (body, _) = s.bucket.objects.lock().unwrap()[k].clone();
        let v: Value =
            serde_json::from_slice(&airlock_cloudtrail::delivery::gunzip(&body).unwrap()).unwrap();
        for r in v["Records"].as_array().unwrap() {
            assert_eq!(r["recipientAccountId"], ACCOUNT);
            names.push(r["eventName"].as_str().unwrap().to_string());
        }
    }
    names.sort();
    assert_eq!(names.len(), 12, "{names:?}");
    assert!(!names.contains(&"Before".to_string()));
    let report = validate(&*s.bucket, &request(&s)).await.unwrap();
    assert!(report.is_valid(), "{:?}", report.lines);
    assert_eq!((report.valid_digests, report.valid_logs), (4, 3));
    assert!(
        report
            .summary(&request(&s))
            .contains("4/4 digest files valid")
    );
    assert!(report.summary(&request(&s)).contains("3/3 log files valid"));
}

#[tokio::test]
async fn modified_deleted_and_swapped_files_are_detected() {
    let s = setup();
    deliver_chain(&s).await;
    let logs = keys_of(&s, "CloudTrail");
    let url = |k: &str| format!("s3://{k}");
    {
        let mut o = s.bucket.objects.lock().unwrap();
        // Modify a log file (re-gzipped so it is well-formed).
        let (body, meta) = o[&logs[0]].clone();
        let mut raw = airlock_cloudtrail::delivery::gunzip(&body).unwrap();
        raw.extend_from_slice(b" ");
        o.insert(
            logs[0].clone(),
            (airlock_cloudtrail::delivery::gzip(&raw), meta),
        );
        // Swap the two other log files.
        let a = o[&logs[1]].clone();
        let b = o[&logs[2]].clone();
        o.insert(logs[1].clone(), b);
        o.insert(logs[2].clone(), a);
    }
    let report = validate(&*s.bucket, &request(&s)).await.unwrap();
    let bad = invalid(&report);
    assert_eq!(report.invalid_logs, 3, "{bad:?}");
    for k in &logs[..3] {
        assert!(
            bad.contains(&format!(
                "Log file\t{}\tINVALID: hash value doesn't match",
                url(k)
            )),
            "{bad:?}"
        );
    }
    assert_eq!(report.invalid_digests, 0);

    // Delete a log file.
    s.bucket.objects.lock().unwrap().remove(&logs[0]);
    let report = validate(&*s.bucket, &request(&s)).await.unwrap();
    assert!(invalid(&report).contains(&format!("Log file\t{}\tINVALID: not found", url(&logs[0]))));
}

#[tokio::test]
async fn modified_deleted_and_swapped_digests_are_detected() {
    let s = setup();
    deliver_chain(&s).await;
    let digests = keys_of(&s, "CloudTrail-Digest");
    let url = |k: &str| format!("s3://{k}");
    // Modify the newest digest's body (signature no longer verifies).
    {
        let mut o = s.bucket.objects.lock().unwrap();
        let (body, meta) = o[&digests[3]].clone();
        let raw = airlock_cloudtrail::delivery::gunzip(&body).unwrap();
        let text = String::from_utf8(raw)
            .unwrap()
            .replace("\"logFiles\":[", "\"logFiles\":[ ");
        o.insert(
            digests[3].clone(),
            (airlock_cloudtrail::delivery::gzip(text.as_bytes()), meta),
        );
    }
    let report = validate(&*s.bucket, &request(&s)).await.unwrap();
    assert_eq!(
        invalid(&report),
        vec![format!(
            "Digest file\t{}\tINVALID: signature verification failed",
            url(&digests[3])
        )]
    );
    assert_eq!(report.valid_digests, 3);

    // Delete a digest in the middle of the chain.
    let s = setup();
    deliver_chain(&s).await;
    let digests = keys_of(&s, "CloudTrail-Digest");
    s.bucket.objects.lock().unwrap().remove(&digests[1]);
    let report = validate(&*s.bucket, &request(&s)).await.unwrap();
    assert_eq!(
        invalid(&report),
        vec![format!(
            "Digest file\t{}\tINVALID: not found",
            url(&digests[1])
        )]
    );

    // Swap two digests.
    let s = setup();
    deliver_chain(&s).await;
    let digests = keys_of(&s, "CloudTrail-Digest");
    {
        let mut o = s.bucket.objects.lock().unwrap();
        let a = o[&digests[1]].clone();
        let b = o[&digests[2]].clone();
        o.insert(digests[1].clone(), b);
        o.insert(digests[2].clone(), a);
    }
    let report = validate(&*s.bucket, &request(&s)).await.unwrap();
    let bad = invalid(&report);
    assert!(
        bad.contains(&format!(
            "Digest file\t{}\tINVALID: has been moved from its original location",
            url(&digests[2])
        )),
        "{bad:?}"
    );
    assert!(!report.is_valid());
}

#[tokio::test]
async fn a_denied_write_is_retried_and_nothing_is_lost() {
    let s = setup();
    s.trails.set_logging(&s.trail, true, T0, 0).unwrap();
    for i in 0..5 {
        s.history.push(ACCOUNT, &format!("Call{i}"), T0 + 100);
    }
    *s.bucket.deny.lock().unwrap() = true;
    let r = s.delivery.run_once(T0 + 1000).await;
    assert_eq!(r.log_files, 0);
    let st = s.trails.state(&s.trail).unwrap();
    assert_eq!(st.latest_delivery_error.as_deref(), Some("AccessDenied"));
    assert_eq!(st.cursor, 0);
    *s.bucket.deny.lock().unwrap() = false;
    let r = s.delivery.run_once(T0 + 2000).await;
    assert_eq!(r.events, 5);
    let st = s.trails.state(&s.trail).unwrap();
    assert_eq!(st.latest_delivery_error, None);
    assert_eq!(st.cursor, 5);
}
