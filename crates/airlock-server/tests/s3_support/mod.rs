//! Helpers of the S3 tests: the seed's setup through the real AWS CLI, AssumeRole sessions,
//! and scans of the data directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// The seed's bucket.
pub const BUCKET: &str = "cross-account-secure-bucket-demo";
/// The seed's role in account B.
pub const ROLE_ARN: &str = "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";
/// The key ARN the seed's Step 3 policy names (an example the seed asks to replace).
pub const SEED_EXAMPLE_KEY_ARN: &str =
    "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012";

/// Runs the AWS CLI as `profile`.
pub fn aws_as(s: &TestServer, profile: &str, args: &[&str]) -> Output {
    let mut all = vec!["--profile", profile];
    all.extend_from_slice(args);
    s.aws(&all)
}

/// Asserts success and returns stdout as text.
pub fn ok_text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts an AWS CLI failure with `code` in its message.
pub fn fails_with(out: &Output, code: &str) -> String {
    let err = failed(out);
    assert!(err.contains(code), "expected {code}, got: {err}");
    err
}

/// A file with `content` in the test directory.
pub fn file(s: &TestServer, name: &str, content: &[u8]) -> PathBuf {
    let p = s.dir.path().join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Pseudo-random bytes (deterministic, incompressible enough to be found only where written).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Step 1 (the seed's key policy verbatim, alias), Step 2 (bucket with all four Block Public
/// Access settings, SSE-KMS default encryption with the key and Bucket Key), Step 3 (the role
/// and its inline policy, with the real key ARN in place of the seed's example ARN, as the seed
/// instructs). Returns the key ARN.
pub fn seed_storage_account(s: &TestServer) -> String {
    let key = ok_json(&aws_as(
        s,
        "account-b",
        &[
            "kms",
            "create-key",
            "--description",
            "KMS key for cross-account S3 bucket encryption",
            "--policy",
            &seed_file("step1-key-policy.json"),
        ],
    ));
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    ok_json(&aws_as(
        s,
        "account-b",
        &[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/cross-account-s3-key",
            "--target-key-id",
            &key_arn,
        ],
    ));

    // Step 2: the bucket keeps S3's defaults (all four Block Public Access settings on).
    ok_json(&aws_as(
        s,
        "account-b",
        &["s3api", "create-bucket", "--bucket", BUCKET],
    ));
    let pab = ok_json(&aws_as(
        s,
        "account-b",
        &["s3api", "get-public-access-block", "--bucket", BUCKET],
    ));
    for flag in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(pab["PublicAccessBlockConfiguration"][flag], true, "{flag}");
    }
    let encryption = serde_json::json!({
        "Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": true
        }]
    });
    ok_json(&aws_as(
        s,
        "account-b",
        &[
            "s3api",
            "put-bucket-encryption",
            "--bucket",
            BUCKET,
            "--server-side-encryption-configuration",
            &encryption.to_string(),
        ],
    ));

    // Step 3.
    ok_json(&aws_as(
        s,
        "account-b",
        &[
            "iam",
            "create-role",
            "--role-name",
            "CrossAccountS3AccessRole",
            "--description",
            "Allows Account A EC2 to access encrypted S3 bucket",
            "--assume-role-policy-document",
            &seed_file("step3-trust-another-account.json"),
        ],
    ));
    let policy =
        std::fs::read_to_string(workspace().join("tests/server/seed/step3-S3AndKMSAccess.json"))
            .unwrap()
            .replace(SEED_EXAMPLE_KEY_ARN, &key_arn);
    let path = file(s, "S3AndKMSAccess.json", policy.as_bytes());
    ok_json(&aws_as(
        s,
        "account-b",
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "CrossAccountS3AccessRole",
            "--policy-name",
            "S3AndKMSAccess",
            "--policy-document",
            &format!("file://{}", path.display()),
        ],
    ));
    key_arn
}

/// `aws sts assume-role` as `profile`, then the seed's Step 9 exports.
pub fn assume(
    s: &TestServer,
    profile: &str,
    role_arn: &str,
    session: &str,
) -> Vec<(String, String)> {
    let out = ok_json(&aws_as(
        s,
        profile,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            role_arn,
            "--role-session-name",
            session,
        ],
    ));
    let c = &out["Credentials"];
    vec![
        (
            "AWS_ACCESS_KEY_ID".into(),
            c["AccessKeyId"].as_str().unwrap().into(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            c["SecretAccessKey"].as_str().unwrap().into(),
        ),
        (
            "AWS_SESSION_TOKEN".into(),
            c["SessionToken"].as_str().unwrap().into(),
        ),
    ]
}

/// The AWS CLI with exported credentials (no profile).
pub fn aws_with(s: &TestServer, env: &[(String, String)], args: &[&str]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.aws_env(args, &env)
}

/// An IAM user of `account_profile` with `policy` (if any) and an access key; returns the
/// exported credentials.
pub fn user_with_policy(
    s: &TestServer,
    account_profile: &str,
    name: &str,
    policy: Option<&str>,
) -> Vec<(String, String)> {
    ok_json(&aws_as(
        s,
        account_profile,
        &["iam", "create-user", "--user-name", name],
    ));
    if let Some(p) = policy {
        ok_json(&aws_as(
            s,
            account_profile,
            &[
                "iam",
                "put-user-policy",
                "--user-name",
                name,
                "--policy-name",
                "p",
                "--policy-document",
                p,
            ],
        ));
    }
    let key = ok_json(&aws_as(
        s,
        account_profile,
        &["iam", "create-access-key", "--user-name", name],
    ));
    vec![
        (
            "AWS_ACCESS_KEY_ID".into(),
            key["AccessKey"]["AccessKeyId"].as_str().unwrap().into(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap().into(),
        ),
    ]
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Files under `dir` that contain any of `needles`.
pub fn files_containing(dir: &Path, needles: &[&[u8]]) -> Vec<String> {
    let mut hits = Vec::new();
    for p in walk(dir) {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        for n in needles {
            if !n.is_empty() && bytes.windows(n.len()).any(|w| w == *n) {
                hits.push(p.display().to_string());
                break;
            }
        }
    }
    hits
}
