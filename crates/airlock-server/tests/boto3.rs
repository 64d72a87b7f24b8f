//! boto3 against the endpoint: IAM error codes and shapes, and STS rules.

mod common;

use common::*;

fn run(s: &TestServer, script: &str) -> serde_json::Value {
    let out = s.python(script, &[]);
    assert!(
        out.status.success(),
        "{script} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn iam_through_boto3() {
    let s = TestServer::start();
    let r = run(&s, "iam_boto3.py");
    assert_eq!(r["ok"], true);
    assert!(r["error_checks"].as_u64().unwrap() >= 15, "{r}");
}

#[test]
fn sts_rules_through_boto3() {
    let s = TestServer::start();
    let r = run(&s, "sts_boto3.py");
    assert_eq!(r["ok"], true);
}
