//! Trails end to end against a real `airlock serve`: cross-account delivery into a log-archive
//! bucket with the bucket policy AWS documents for CloudTrail, log file integrity validation
//! by the real AWS CLI (`aws cloudtrail validate-logs`) and by `airlock trail validate`, every
//! kind of tampering detected by both, a denying bucket policy reported by `GetTrailStatus`
//! without losing events, and no event lost when the server is killed during delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

mod support;

const A: &str = "111111111111";
const B: &str = "222222222222";
const BUCKET: &str = "org-log-archive";
const TRAIL: &str = "org-trail";

fn trail_arn() -> String {
    format!("arn:aws:cloudtrail:us-east-1:{A}:trail/{TRAIL}")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn venv_bin() -> PathBuf {
    let bin = workspace().join("target/venv/bin");
    assert!(
        bin.join("aws").exists(),
        "the test venv is missing: run `bash scripts/test-env.sh`"
    );
    bin
}

/// The bucket policy AWS documents for CloudTrail ("Amazon S3 bucket policy for CloudTrail"),
/// plus read access for the trail owner's account (the auditor validating the files).
fn documented_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck20150319",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": format!("arn:aws:s3:::{BUCKET}"),
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn()}}
            },
            {
                "Sid": "AWSCloudTrailWrite20150319",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{BUCKET}/AWSLogs/{A}/*"),
                "Condition": {"StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": trail_arn()
                }}
            },
            {
                "Sid": "TrailOwnerReads",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
                "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")]
            }
        ]
    })
}

struct Serve {
    child: Option<Child>,
    dir: tempfile::TempDir,
    delivery_seconds: &'static str,
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Serve {
    fn start(delivery_seconds: &'static str) -> Serve {
        let mut s = Serve {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            delivery_seconds,
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let data = self.data();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.args(["serve", "--port", "0", "--tls-port", "0"])
            .args(["--account", &format!("{A}=account-a")])
            .args(["--account", &format!("{B}=account-b")])
            .arg("--data-dir")
            .arg(&data)
            .env("AIRLOCK_TRAIL_DELIVERY_SECONDS", self.delivery_seconds)
            .env("AIRLOCK_TRAIL_DIGEST_SECONDS", "2");
        self.child = Some(support::spawn_ready(&mut cmd));
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_")
                || k == "AIRLOCK_DATA_DIR"
                || k == "REQUESTS_CA_BUNDLE"
                || k == "CURL_CA_BUNDLE"
                || k == "SSL_CERT_FILE"
            {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("AWS_PAGER", "")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.data().join("aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.data().join("aws/credentials"),
            )
            .current_dir(self.dir.path());
        cmd
    }

    fn aws(&self, profile: &str, args: &[&str]) -> Output {
        self.command(&venv_bin().join("aws"))
            .args(args)
            .args(["--profile", profile])
            .output()
            .unwrap()
    }

    fn aws_ok(&self, profile: &str, args: &[&str]) -> Value {
        json_of(&self.aws(profile, args))
    }

    fn airlock(&self, args: &[&str]) -> Output {
        self.command(Path::new(env!("CARGO_BIN_EXE_airlock")))
            .args(args)
            .output()
            .unwrap()
    }

    fn file(&self, name: &str, content: &[u8]) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_string()
    }

    /// Every object under `AWSLogs/`, downloaded by the bucket owner: key → bytes.
    fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        let target = self.dir.path().join("download");
        let _ = std::fs::remove_dir_all(&target);
        let out = self.aws(
            "account-b",
            &[
                "s3",
                "sync",
                "--only-show-errors",
                &format!("s3://{BUCKET}/AWSLogs"),
                target.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut found = BTreeMap::new();
        let mut stack = vec![target.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&target).unwrap().to_str().unwrap();
                    found.insert(format!("AWSLogs/{rel}"), std::fs::read(&p).unwrap());
                }
            }
        }
        found
    }
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8_lossy(&out.stdout);
    if t.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&t).unwrap()
    }
}

fn fails_with(out: &Output, code: &str) {
    assert!(!out.status.success(), "unexpected success");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(code), "expected {code}: {err}");
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    airlock_cloudtrail::delivery::gunzip(b).expect("gzip")
}

/// Records of every delivered log file, deduplicated by eventID.
fn delivered(objects: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in objects {
        if k.contains("/CloudTrail/") {
            let doc: Value = serde_json::from_slice(&gunzip(v)).unwrap();
            for r in doc["Records"].as_array().unwrap() {
                out.insert(r["eventID"].as_str().unwrap().to_string(), r.clone());
            }
        }
    }
    out
}

fn created_users(records: &BTreeMap<String, Value>) -> BTreeSet<String> {
    records
        .values()
        .filter(|r| r["eventName"] == "CreateUser" && r["errorCode"].is_null())
        .filter_map(|r| {
            r["requestParameters"]["userName"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Polls `f` once per delivery pass (the tests run delivery every 0.3 s or less) until it
/// holds. The bound is a number of passes, a liveness limit so that a delivery bug fails the
/// test instead of hanging it; it says nothing about speed.
fn wait_for(what: &str, passes: u32, mut f: impl FnMut() -> bool) {
    for _ in 0..passes {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(f(), "not seen after {passes} delivery passes: {what}");
}

fn create_users(s: &Serve, names: &[String]) {
    for n in names {
        s.aws_ok("account-a", &["iam", "create-user", "--user-name", n]);
    }
}

fn archive_with_trail(s: &Serve) {
    s.aws_ok("account-b", &["s3api", "create-bucket", "--bucket", BUCKET]);
    let policy = s.file("policy.json", documented_policy().to_string().as_bytes());
    s.aws_ok(
        "account-b",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            BUCKET,
            "--policy",
            &format!("file://{policy}"),
        ],
    );
    s.aws_ok(
        "account-a",
        &[
            "cloudtrail",
            "create-trail",
            "--name",
            TRAIL,
            "--s3-bucket-name",
            BUCKET,
            "--enable-log-file-validation",
        ],
    );
    s.aws_ok(
        "account-a",
        &["cloudtrail", "start-logging", "--name", TRAIL],
    );
}

/// Runs both validators; returns (aws cli ok, aws cli output, airlock ok, airlock output).
fn validate_both(s: &Serve, start: &str) -> (bool, String, bool, String) {
    let cli = s.aws(
        "account-a",
        &[
            "cloudtrail",
            "validate-logs",
            "--trail-arn",
            &trail_arn(),
            "--start-time",
            start,
        ],
    );
    let ours = s.airlock(&[
        "trail",
        "validate",
        "--trail",
        &trail_arn(),
        "--start-time",
        start,
        "--profile",
        "account-a",
    ]);
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    (
        cli.status.success(),
        text(&cli),
        ours.status.success(),
        text(&ours),
    )
}

fn copy(s: &Serve, from: &str, to: &str) {
    s.aws_ok(
        "account-b",
        &[
            "s3api",
            "copy-object",
            "--bucket",
            BUCKET,
            "--key",
            to,
            "--copy-source",
            &format!("{BUCKET}/{from}"),
        ],
    );
}

fn url(key: &str) -> String {
    format!("s3://{BUCKET}/{key}")
}

#[test]
fn cross_account_delivery_validates_and_every_tampering_is_detected() {
    let s = Serve::start("0.3");
    // Trail API errors, as AWS answers them.
    s.aws_ok("account-b", &["s3api", "create-bucket", "--bucket", BUCKET]);
    let create = |bucket: &str, name: &str| {
        s.aws(
            "account-a",
            &[
                "cloudtrail",
                "create-trail",
                "--name",
                name,
                "--s3-bucket-name",
                bucket,
                "--enable-log-file-validation",
            ],
        )
    };
    fails_with(
        &create(BUCKET, TRAIL),
        "InsufficientS3BucketPolicyException",
    );
    fails_with(
        &create("no-such-bucket-x", TRAIL),
        "S3BucketDoesNotExistException",
    );
    fails_with(&create(BUCKET, "bad..name"), "InvalidTrailNameException");
    fails_with(
        &s.aws(
            "account-a",
            &["cloudtrail", "get-trail-status", "--name", TRAIL],
        ),
        "TrailNotFoundException",
    );
    // The log-archive account allows CloudTrail as AWS documents; the trail is account A's.
    s.aws_ok("account-b", &["s3api", "delete-bucket", "--bucket", BUCKET]);
    archive_with_trail(&s);
    let start = s.aws_ok(
        "account-a",
        &["cloudtrail", "get-trail-status", "--name", TRAIL],
    )["TimeLoggingStarted"]
        .as_str()
        .unwrap()
        .to_string();
    let trails = s.aws_ok("account-a", &["cloudtrail", "describe-trails"]);
    assert_eq!(trails["trailList"][0]["TrailARN"], trail_arn().as_str());
    assert_eq!(trails["trailList"][0]["LogFileValidationEnabled"], true);
    let keys = s.aws_ok("account-a", &["cloudtrail", "list-public-keys"]);
    assert_eq!(keys["PublicKeyList"].as_array().unwrap().len(), 1);

    // Events in several digest periods.
    let names: Vec<String> = (0..6).map(|i| format!("trail-user-{i}")).collect();
    create_users(&s, &names[..3]);
    std::thread::sleep(Duration::from_millis(2500));
    create_users(&s, &names[3..]);
    let wanted: BTreeSet<String> = names.iter().cloned().collect();
    wait_for("every CreateUser delivered", 180, || {
        created_users(&delivered(&s.objects())) == wanted
    });
    std::thread::sleep(Duration::from_millis(2500));
    s.aws_ok(
        "account-a",
        &["cloudtrail", "stop-logging", "--name", TRAIL],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let objects = s.objects();
    let records = delivered(&objects);
    for r in records.values() {
        assert_eq!(r["recipientAccountId"], A, "{r}");
    }
    let status = s.aws_ok(
        "account-a",
        &["cloudtrail", "get-trail-status", "--name", TRAIL],
    );
    assert_eq!(status["IsLogging"], false);
    assert!(status.get("LatestDeliveryError").is_none(), "{status}");
    assert!(status["LatestDigestDeliveryTime"].is_number(), "{status}");

    // A clean chain: both validators agree it is valid.
    let (cli_ok, cli, ours_ok, ours) = validate_both(&s, &start);
    assert!(cli_ok && !cli.contains("INVALID"), "{cli}");
    assert!(
        cli.contains("digest files valid") && cli.contains("log files valid"),
        "{cli}"
    );
    assert!(ours_ok && !ours.contains("INVALID"), "{ours}");
    let digests: Vec<String> = objects
        .keys()
        .filter(|k| k.contains("/CloudTrail-Digest/"))
        .cloned()
        .collect();
    assert!(digests.len() >= 4, "{digests:?}");
    let n = digests.len();
    assert!(
        ours.contains(&format!("{n}/{n} digest files valid")),
        "{ours}"
    );

    // Log files listed by digests that are not the newest (their digests stay valid).
    let mut listed: Vec<String> = Vec::new();
    for d in &digests[..n - 1] {
        let doc: Value = serde_json::from_slice(&gunzip(&objects[d])).unwrap();
        for l in doc["logFiles"].as_array().unwrap() {
            listed.push(l["s3Object"].as_str().unwrap().to_string());
        }
    }
    assert!(listed.len() >= 2, "{listed:?}");
    let (l1, l2) = (listed[0].clone(), listed[1].clone());
    // Middle digests: reachable through the chain from the newest.
    let (d1, d2) = (digests[n - 3].clone(), digests[n - 2].clone());
    for k in [&l1, &l2, &d1, &d2] {
        copy(&s, k, &format!("backup/{k}"));
    }
    let restore = |k: &str| copy(&s, &format!("backup/{k}"), k);
    let expect = |what: &str, lines: &[String]| {
        let (cli_ok, cli, ours_ok, ours) = validate_both(&s, &start);
        assert!(!cli_ok, "{what}: the AWS CLI accepted it:\n{cli}");
        assert!(!ours_ok, "{what}: airlock accepted it:\n{ours}");
        for l in lines {
            assert!(cli.contains(l), "{what}: AWS CLI missed `{l}`:\n{cli}");
            assert!(ours.contains(l), "{what}: airlock missed `{l}`:\n{ours}");
        }
    };

    // A modified log file.
    let mut raw = gunzip(&objects[&l1]);
    raw.extend_from_slice(b"\n");
    let changed = s.file("changed.json.gz", &airlock_cloudtrail::delivery::gzip(&raw));
    s.aws_ok(
        "account-b",
        &["s3", "cp", "--only-show-errors", &changed, &url(&l1)],
    );
    expect(
        "modified log",
        &[format!(
            "Log file\t{}\tINVALID: hash value doesn't match",
            url(&l1)
        )],
    );
    restore(&l1);

    // A deleted log file.
    s.aws_ok("account-b", &["s3", "rm", "--only-show-errors", &url(&l1)]);
    expect(
        "deleted log",
        &[format!("Log file\t{}\tINVALID: not found", url(&l1))],
    );
    restore(&l1);

    // Two log files swapped.
    copy(&s, &l1, "swap-tmp");
    copy(&s, &l2, &l1);
    copy(&s, "swap-tmp", &l2);
    expect(
        "swapped logs",
        &[
            format!("Log file\t{}\tINVALID: hash value doesn't match", url(&l1)),
            format!("Log file\t{}\tINVALID: hash value doesn't match", url(&l2)),
        ],
    );
    restore(&l1);
    restore(&l2);

    // A modified digest (re-uploaded with its original signature metadata).
    let text = String::from_utf8(gunzip(&objects[&d1])).unwrap();
    let forged = text.replacen("\"logFiles\":[", "\"logFiles\":[ ", 1);
    assert_ne!(forged, text);
    let forged_file = s.file(
        "forged.json.gz",
        &airlock_cloudtrail::delivery::gzip(forged.as_bytes()),
    );
    let head = s.aws_ok(
        "account-b",
        &["s3api", "head-object", "--bucket", BUCKET, "--key", &d1],
    );
    let meta = &head["Metadata"];
    s.aws_ok(
        "account-b",
        &[
            "s3api",
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            &d1,
            "--body",
            &forged_file,
            "--metadata",
            &format!(
                "signature={},signature-algorithm={}",
                meta["signature"].as_str().unwrap(),
                meta["signature-algorithm"].as_str().unwrap()
            ),
        ],
    );
    expect(
        "modified digest",
        &[format!(
            "Digest file\t{}\tINVALID: signature verification failed",
            url(&d1)
        )],
    );
    restore(&d1);

    // A deleted digest.
    s.aws_ok("account-b", &["s3", "rm", "--only-show-errors", &url(&d1)]);
    expect(
        "deleted digest",
        &[format!("Digest file\t{}\tINVALID: not found", url(&d1))],
    );
    restore(&d1);

    // Two digests swapped.
    copy(&s, &d1, "swap-tmp");
    copy(&s, &d2, &d1);
    copy(&s, "swap-tmp", &d2);
    expect(
        "swapped digests",
        &[format!(
            "Digest file\t{}\tINVALID: has been moved from its original location",
            url(&d2)
        )],
    );
    restore(&d1);
    restore(&d2);

    // Restored: valid again.
    let (cli_ok, cli, ours_ok, ours) = validate_both(&s, &start);
    assert!(cli_ok, "{cli}");
    assert!(ours_ok, "{ours}");
}

#[test]
fn a_denying_bucket_policy_is_a_delivery_error_and_events_arrive_once_fixed() {
    let s = Serve::start("0.3");
    archive_with_trail(&s);
    // The archive account now denies CloudTrail's writes.
    let mut policy = documented_policy();
    policy["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "DenyCloudTrail",
        "Effect": "Deny",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": format!("arn:aws:s3:::{BUCKET}/*")
    }));
    let deny = s.file("deny.json", policy.to_string().as_bytes());
    s.aws_ok(
        "account-b",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            BUCKET,
            "--policy",
            &format!("file://{deny}"),
        ],
    );
    let names: Vec<String> = (0..3).map(|i| format!("denied-user-{i}")).collect();
    create_users(&s, &names);
    wait_for("the delivery error", 90, || {
        let st = s.aws_ok(
            "account-a",
            &["cloudtrail", "get-trail-status", "--name", TRAIL],
        );
        st["LatestDeliveryError"] == "AccessDenied"
    });
    assert!(created_users(&delivered(&s.objects())).is_empty());
    // Fixed: everything recorded meanwhile arrives, and the error clears.
    let fixed = s.file("fixed.json", documented_policy().to_string().as_bytes());
    s.aws_ok(
        "account-b",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            BUCKET,
            "--policy",
            &format!("file://{fixed}"),
        ],
    );
    let wanted: BTreeSet<String> = names.iter().cloned().collect();
    wait_for("the events recorded while denied", 90, || {
        created_users(&delivered(&s.objects())) == wanted
    });
    wait_for("the error to clear", 90, || {
        let st = s.aws_ok(
            "account-a",
            &["cloudtrail", "get-trail-status", "--name", TRAIL],
        );
        st.get("LatestDeliveryError").is_none()
    });
}

#[test]
fn killing_the_server_during_delivery_loses_no_event() {
    // A slower delivery pass so that kills land between recording and delivery.
    let mut s = Serve::start("1.5");
    archive_with_trail(&s);
    let mut wanted = BTreeSet::new();
    for round in 0..3 {
        let names: Vec<String> = (0..3).map(|i| format!("crash-{round}-{i}")).collect();
        create_users(&s, &names);
        // Recorded (durable in the event history: LookupEvents reads it), then killed.
        wait_for("the events in the history", 90, || {
            let out = s.aws_ok(
                "account-a",
                &[
                    "cloudtrail",
                    "lookup-events",
                    "--lookup-attributes",
                    "AttributeKey=EventName,AttributeValue=CreateUser",
                ],
            );
            let seen: BTreeSet<String> = out["Events"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| {
                    let r: Value = serde_json::from_str(e["CloudTrailEvent"].as_str()?).ok()?;
                    r["requestParameters"]["userName"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            names.iter().all(|n| seen.contains(n))
        });
        s.kill();
        s.launch();
        wanted.extend(names);
    }
    wait_for("every event after the restarts", 180, || {
        let got = created_users(&delivered(&s.objects()));
        wanted.iter().all(|n| got.contains(n))
    });
    // Each event at least once; deduplicated by eventID, exactly one CreateUser per user.
    let records = delivered(&s.objects());
    let per_user = records
        .values()
        .filter(|r| r["eventName"] == "CreateUser")
        .filter_map(|r| r["requestParameters"]["userName"].as_str())
        .filter(|n| n.starts_with("crash-"))
        .count();
    assert_eq!(per_user, wanted.len());
}

#[test]
fn s3_data_events_are_delivered_only_when_selected() {
    let s = Serve::start("0.3");
    archive_with_trail(&s);
    for b in ["watched-bucket-a", "other-bucket-a"] {
        s.aws_ok("account-a", &["s3api", "create-bucket", "--bucket", b]);
    }
    let body = s.file("object.txt", b"data event");
    let put = |bucket: &str, key: &str| {
        s.aws_ok(
            "account-a",
            &[
                "s3api",
                "put-object",
                "--bucket",
                bucket,
                "--key",
                key,
                "--body",
                &body,
            ],
        );
    };
    let delivered_puts = || -> BTreeSet<String> {
        delivered(&s.objects())
            .values()
            .filter(|r| r["eventName"] == "PutObject")
            .map(|r| {
                format!(
                    "{}/{}",
                    r["requestParameters"]["bucketName"]
                        .as_str()
                        .unwrap_or_default(),
                    r["requestParameters"]["key"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    let marker = |name: &str| {
        create_users(&s, &[name.to_string()]);
        let wanted = name.to_string();
        wait_for("the marker event", 90, || {
            created_users(&delivered(&s.objects())).contains(&wanted)
        });
    };
    // Default selectors: management events only.
    put("watched-bucket-a", "before.txt");
    marker("marker-1");
    assert!(delivered_puts().is_empty());

    // Advanced selectors: management events, and S3 writes under one bucket.
    let selectors = json!([
        {"Name": "management", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "watched writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::watched-bucket-a/"]},
            {"Field": "readOnly", "Equals": ["false"]}]}
    ]);
    let file = s.file("selectors.json", selectors.to_string().as_bytes());
    let out = s.aws_ok(
        "account-a",
        &[
            "cloudtrail",
            "put-event-selectors",
            "--trail-name",
            TRAIL,
            "--advanced-event-selectors",
            &format!("file://{file}"),
        ],
    );
    assert_eq!(out["AdvancedEventSelectors"], selectors);
    let got = s.aws_ok(
        "account-a",
        &["cloudtrail", "get-event-selectors", "--trail-name", TRAIL],
    );
    assert_eq!(got["AdvancedEventSelectors"], selectors);
    assert_eq!(got["TrailARN"], trail_arn().as_str());
    // Basic and advanced together are refused, as on AWS.
    fails_with(
        &s.aws(
            "account-a",
            &[
                "cloudtrail",
                "put-event-selectors",
                "--trail-name",
                TRAIL,
                "--advanced-event-selectors",
                &format!("file://{file}"),
                "--event-selectors",
                "[{\"ReadWriteType\":\"All\"}]",
            ],
        ),
        "InvalidEventSelectorsException",
    );

    put("watched-bucket-a", "selected.txt");
    put("other-bucket-a", "not-selected.txt");
    s.aws_ok(
        "account-a",
        &[
            "s3api",
            "get-object",
            "--bucket",
            "watched-bucket-a",
            "--key",
            "selected.txt",
            s.dir.path().join("got.txt").to_str().unwrap(),
        ],
    );
    marker("marker-2");
    let puts = delivered_puts();
    assert_eq!(
        puts,
        BTreeSet::from(["watched-bucket-a/selected.txt".to_string()]),
    );
    // Delivered files are encrypted at rest under the bucket's default encryption.
    let objects = s.objects();
    let log_key = objects.keys().find(|k| k.contains("/CloudTrail/")).unwrap();
    let head = s.aws_ok(
        "account-b",
        &["s3api", "head-object", "--bucket", BUCKET, "--key", log_key],
    );
    assert_eq!(head["ServerSideEncryption"], "AES256", "{head}");
    assert_eq!(head["ContentEncoding"], "gzip", "{head}");
    // Reads were not selected.
    assert!(
        !delivered(&s.objects())
            .values()
            .any(|r| r["eventName"] == "GetObject")
    );
}
