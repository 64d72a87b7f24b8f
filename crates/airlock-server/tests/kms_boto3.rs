//! KMS through boto3: error codes, messages and statuses, the JSON 1.1 wire protocol,
//! pagination, a cross-account role session, and condition keys on real requests
//! (`tests/server/kms_boto3.py`).

mod common;

use common::*;

#[test]
fn kms_through_boto3() {
    let s = TestServer::start();
    let policy = workspace().join("tests/server/seed/step1-key-policy.json");
    let out = s.python("kms_boto3.py", &[policy.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "kms_boto3.py failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], true);
    assert!(r["checks"].as_u64().unwrap() >= 30, "{r}");
}
