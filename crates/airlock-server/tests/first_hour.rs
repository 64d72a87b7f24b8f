//! What a LocalStack or moto user looks for in the first hour, against a real server: the
//! health document, a clean error in the service's own protocol for a service airlock does
//! not serve, the documented fixed credentials, one log line per multipart upload, and a port
//! clash that names the port and its flag and creates nothing.

mod common;

use std::io::Write as _;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use airlock_server::{MainListener, ServeConfig, ServeError, Server};
use common::*;

/// Runs the venv's python with `code`, the server's info as `sys.argv[1..]`.
fn python(s: &TestServer, code: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(venv().join("bin/python"));
    clean_env(&mut cmd, s.dir.path());
    cmd.arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python runs")
}

const FETCH: &str = r#"
import json, ssl, sys, urllib.request
from jsonschema import Draft202012Validator
url, ca, schema_path = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with urllib.request.urlopen(url, context=ctx if url.startswith("https") else None) as r:
    assert r.status == 200, r.status
    assert r.headers["content-type"] == "application/json", r.headers["content-type"]
    doc = json.load(r)
schema = json.load(open(schema_path))
errors = [e.message for e in Draft202012Validator(schema).iter_errors(doc)]
assert not errors, errors
print(json.dumps(doc))
"#;

fn health(s: &TestServer, base: &str) -> serde_json::Value {
    let out = python(
        s,
        FETCH,
        &[
            &format!("{base}/_airlock/health"),
            s.info.ca_bundle.to_str().unwrap(),
            workspace()
                .join("schemas/health.schema.json")
                .to_str()
                .unwrap(),
        ],
    );
    ok_json(&out)
}

#[test]
fn health_names_version_services_accounts_and_listeners_on_both_main_listeners() {
    let s = TestServer::start();
    // A VPC endpoint, so the document has a listener beyond the main ones.
    let vpc = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "ec2",
        "create-vpc",
        "--cidr-block",
        "10.0.0.0/16",
    ]));
    let vpc = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let ep = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "ec2",
        "create-vpc-endpoint",
        "--vpc-id",
        &vpc,
        "--service-name",
        "com.amazonaws.us-east-1.s3",
    ]));
    let ep_id = ep["VpcEndpoint"]["VpcEndpointId"].as_str().unwrap();

    for base in [&s.info.http_endpoint, &s.info.https_endpoint] {
        let h = health(&s, base);
        assert_eq!(h["status"], "running", "{h}");
        assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
        assert!(h["uptime_seconds"].as_f64().unwrap() >= 0.0);
        let services: Vec<&str> = h["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for want in ["iam", "sts", "kms", "s3", "ec2", "cloudtrail"] {
            assert!(services.contains(&want), "{services:?}");
        }
        assert_eq!(
            h["accounts"],
            serde_json::json!([
                {"id": A, "alias": "account-a"},
                {"id": B, "alias": "account-b"}
            ])
        );
        let l = &h["listeners"];
        assert_eq!(l["http"], s.info.http_endpoint.as_str());
        assert_eq!(l["https"], s.info.https_endpoint.as_str());
        assert_eq!(l["vpc_endpoints"][0]["id"], ep_id, "{l}");
        assert_eq!(l["vpc_endpoints"][0]["service"], "s3");
        // No secret anywhere.
        let text = h.to_string();
        assert!(!text.contains("secret") && !text.contains("AKIA"), "{text}");
    }
}

#[test]
fn the_health_path_stays_an_object_key_for_virtual_hosted_s3_and_a_bad_bucket_otherwise() {
    let s = TestServer::start();
    let port = s.info.http_port;
    // Virtual-hosted-style: the object `_airlock/health` of a bucket, which S3 answers.
    let code = r#"
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={"Host": sys.argv[2]})
try:
    r = urllib.request.urlopen(req); print(r.status, r.headers["content-type"])
except urllib.error.HTTPError as e:
    print(e.code, e.headers["content-type"], e.read().decode())
"#;
    let out = python(
        &s,
        code,
        &[
            &format!("http://127.0.0.1:{port}/_airlock/health"),
            &format!("no-such-bucket.localhost:{port}"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NoSuchBucket"), "{text}");
    // Any other path under /_airlock/ is S3's (an invalid bucket name), not a health page.
    let out = python(
        &s,
        code,
        &[
            &format!("http://127.0.0.1:{port}/_airlock/other"),
            &format!("127.0.0.1:{port}"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("running"), "{text}");
}

#[test]
fn a_service_airlock_does_not_serve_is_answered_in_its_own_protocol() {
    let s = TestServer::start();
    let served = "it serves sts, iam, kms, s3, ec2, cloudtrail";
    for (args, code) in [
        (&["sqs", "list-queues"][..], "(UnknownOperationException)"),
        (
            &["dynamodb", "list-tables"][..],
            "(UnknownOperationException)",
        ),
        (&["sns", "list-topics"][..], "(InvalidAction)"),
        (
            &["lambda", "list-functions"][..],
            "(UnknownOperationException)",
        ),
    ] {
        // The AWS CLI v1 points `sqs` at queue.amazonaws.com whatever the profile's
        // endpoint_url says; the flag wins.
        let mut all = vec![
            "--profile",
            "account-a",
            "--endpoint-url",
            &s.info.https_endpoint,
        ];
        all.extend_from_slice(args);
        let err = failed(&s.aws(&all));
        assert!(err.contains(code), "{args:?}: {err}");
        assert!(
            err.contains(&format!("airlock does not serve the service '{}'", args[0])),
            "{args:?}: {err}"
        );
        assert!(err.contains(served), "{args:?}: {err}");
        // A clean service error, not a parse failure or a traceback.
        assert!(
            !err.contains("Traceback") && !err.contains("Unable to parse"),
            "{err}"
        );
    }
}

/// The CLI with only the documented fixed key in its environment: no profile files.
fn aws_with_key(s: &TestServer, key: &str, secret: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(venv().join("bin/aws"));
    clean_env(&mut cmd, s.dir.path());
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args(["--endpoint-url", &s.info.http_endpoint])
        .args(args);
    cmd.output().expect("aws cli runs")
}

#[test]
fn fixed_credentials_are_the_documented_ones() {
    let s = TestServer::start_configured(&[(A, "account-a"), (B, "account-b")], |c| {
        c.fixed_credentials = true;
    });
    // The values of the README, hard-coded as a CI job would.
    for (key, secret, account) in [
        (
            "AKIAAIRLBBBBBBBBBBBB",
            "airlock/public/111111111111/not/a/secret",
            A,
        ),
        (
            "AKIAAIRLCCCCCCCCCCCC",
            "airlock/public/222222222222/not/a/secret",
            B,
        ),
    ] {
        assert_eq!(
            airlock_server::fixed_credentials(account),
            (key.to_string(), secret.to_string())
        );
        let id = ok_json(&aws_with_key(
            &s,
            key,
            secret,
            &["sts", "get-caller-identity"],
        ));
        assert_eq!(id["Arn"], format!("arn:aws:iam::{account}:user/admin"));
    }
    assert_eq!(
        airlock_server::fixed_credentials("123456789012").0,
        "AKIAAIRLBCDEFGHIJABC"
    );
    // The profiles airlock writes carry the fixed key too.
    let creds = std::fs::read_to_string(&s.info.aws_shared_credentials_file).unwrap();
    assert!(creds.contains("AKIAAIRLBBBBBBBBBBBB"), "{creds}");
    // A wrong secret is still refused.
    let err = failed(&aws_with_key(
        &s,
        "AKIAAIRLBBBBBBBBBBBB",
        "airlock/public/111111111111/not/a/secreT",
        &["sts", "get-caller-identity"],
    ));
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
}

/// Log lines of `airlock::request`, at DEBUG and above, captured for the whole test binary.
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("airlock::request=debug"))
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_multipart_upload_is_one_line_at_the_default_level() {
    let log = captured_log();
    let s = TestServer::start();
    let bucket = "first-hour-multipart";
    let a = |args: &[&str]| {
        let mut all = vec!["--profile", "account-a", "s3api"];
        all.extend_from_slice(args);
        ok_json(&s.aws(&all))
    };
    a(&["create-bucket", "--bucket", bucket]);
    let up = a(&[
        "create-multipart-upload",
        "--bucket",
        bucket,
        "--key",
        "big",
    ]);
    let upload_id = up["UploadId"].as_str().unwrap().to_string();
    let part1 = s.dir.path().join("part1");
    let part2 = s.dir.path().join("part2");
    std::fs::write(&part1, vec![b'a'; 5 * 1024 * 1024]).unwrap();
    std::fs::File::create(&part2)
        .unwrap()
        .write_all(b"tail")
        .unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, &part1), (2, &part2)] {
        let p = a(&[
            "upload-part",
            "--bucket",
            bucket,
            "--key",
            "big",
            "--upload-id",
            &upload_id,
            "--part-number",
            &n.to_string(),
            "--body",
            body.to_str().unwrap(),
        ]);
        parts.push(serde_json::json!({"PartNumber": n, "ETag": p["ETag"]}));
    }
    let parts = serde_json::json!({ "Parts": parts }).to_string();
    a(&[
        "complete-multipart-upload",
        "--bucket",
        bucket,
        "--key",
        "big",
        "--upload-id",
        &upload_id,
        "--multipart-upload",
        &parts,
    ]);

    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("arn:aws:s3:::{bucket}/big")))
        .collect();
    let at = |level: &str, op: &str| {
        lines
            .iter()
            .filter(|l| l.contains(level) && l.contains(&format!("s3 {op} ")))
            .count()
    };
    assert_eq!(at("INFO", "CompleteMultipartUpload"), 1, "{lines:#?}");
    assert_eq!(at("INFO", "UploadPart"), 0, "{lines:#?}");
    assert_eq!(at("INFO", "CreateMultipartUpload"), 0, "{lines:#?}");
    assert_eq!(at("DEBUG", "UploadPart"), 2, "{lines:#?}");
    assert_eq!(at("DEBUG", "CreateMultipartUpload"), 1, "{lines:#?}");
}

#[test]
fn a_port_in_use_names_the_port_and_its_flag_and_creates_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tmp = TempDir::new("port");
    for (which, flag) in [
        (MainListener::Http, "--port"),
        (MainListener::Https, "--tls-port"),
    ] {
        let data = tmp.path().join("new-data-dir");
        let mut config = ServeConfig::new(&data);
        match which {
            MainListener::Http => config.port = port,
            MainListener::Https => config.tls_port = port,
        }
        let err = rt.block_on(Server::start(config)).unwrap_err();
        assert!(
            matches!(&err, ServeError::Bind { listener, .. } if *listener == which),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("port {port} ({flag}")) && text.contains("in use"),
            "{text}"
        );
        assert!(!data.exists(), "a port clash created {}", data.display());
    }
}
