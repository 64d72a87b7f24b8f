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

/// Issue #24: a session of a deleted role never comes back, not even when a role of the same
/// name, trust policy and permissions is created again (sessions are bound to the role's
/// unique id).
#[test]
fn a_session_of_a_deleted_role_is_refused_even_after_the_role_is_recreated() {
    let s = TestServer::start();
    let r = run(&s, "role_recreate_boto3.py");
    assert_eq!(r["ok"], true, "{r}");
}
