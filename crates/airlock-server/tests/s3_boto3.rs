//! S3 through boto3 (tests/server/s3_boto3.py): AWS error codes, statuses and shapes,
//! virtual-hosted-style addressing, presigned URLs, checksums, copies, batch deletes, tags and
//! condition keys, account-level Block Public Access, aws:SecureTransport.

mod common;

use common::*;

#[test]
fn s3_error_codes_features_and_condition_keys_through_boto3() {
    let s = TestServer::start();
    let out = s.python("s3_boto3.py", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "s3_boto3.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all S3 boto3 checks passed"), "{stdout}");
}
