//! `airlock simulate` and `airlock schema`, driven as a user would: the built binary, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn airlock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run airlock")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn committed_schema_matches_the_setup_types() {
    let out = airlock(&["schema"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(root().join("schemas/setup.schema.json")).unwrap();
    assert_eq!(
        stdout(&out).trim(),
        committed.trim(),
        "schemas/setup.schema.json is stale: run `cargo run -p airlock -- schema > schemas/setup.schema.json`"
    );
}

#[test]
fn seed_checklist_decides_as_the_seed_expects() {
    let out = airlock(&[
        "simulate",
        "--setup",
        "examples/seed-as-written.json",
        "--requests",
        "examples/seed-checklist.json",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("14 passed, 0 failed"), "{text}");
    assert!(
        text.contains("denied by statement `DenyAllExceptVPCEndpoint`"),
        "{text}"
    );
}

#[test]
fn json_output_carries_structured_explanations() {
    let out = airlock(&[
        "simulate",
        "--setup",
        "examples/seed-as-written.json",
        "--principal",
        "arn:aws:iam::222222222222:user/admin",
        "--action",
        "s3:ListBucket",
        "--resource",
        "arn:aws:s3:::cross-account-secure-bucket-demo",
        "--context",
        "aws:SourceIp=203.0.113.10",
        "--json",
    ]);
    // A denial exits 1.
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcomes"][0]["decision"], "explicit-deny");
    assert_eq!(
        v["outcomes"][0]["explanation"]["deciding"][0]["sid"],
        "DenyAllExceptVPCEndpoint"
    );
    assert_eq!(
        v["outcomes"][0]["explanation"]["deciding"][0]["policy"]["kind"],
        "resource"
    );
    assert_eq!(
        v["outcomes"][0]["explanation"]["missing_context_keys"][0],
        "aws:SourceVpce"
    );
}

#[test]
fn session_policy_narrows_a_role_session() {
    let dir = tempdir();
    let session = dir.path().join("session.json");
    std::fs::write(
        &session,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#,
    )
    .unwrap();
    let args = |action: &'static str, resource: &'static str| {
        vec![
            "simulate".to_string(),
            "--setup".into(),
            "examples/seed-as-written.json".into(),
            "--principal".into(),
            "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole".into(),
            "--action".into(),
            action.into(),
            "--resource".into(),
            resource.into(),
            "--context".into(),
            "aws:SourceVpce=vpce-0a1b2c3d4e5f6g7h8".into(),
            "--session-policy".into(),
            session.display().to_string(),
        ]
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        airlock(&refs)
    };
    let list = run(args(
        "s3:ListBucket",
        "arn:aws:s3:::cross-account-secure-bucket-demo",
    ));
    assert!(list.status.success(), "{}", stdout(&list));
    let get = run(args(
        "s3:GetObject",
        "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt",
    ));
    assert_eq!(get.status.code(), Some(1), "{}", stdout(&get));
}

#[test]
fn malformed_setup_is_a_usage_error_with_position() {
    let dir = tempdir();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"accounts": {"111111111111": {}}, "principals": [{"arn": "arn:aws:iam::111111111111:user/u",
  "policies": {"P": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "NotAction": "s3:Get*", "Resource": "*"}}}}]}"#,
    )
    .unwrap();
    let out = airlock(&[
        "simulate",
        "--setup",
        bad.to_str().unwrap(),
        "--principal",
        "arn:aws:iam::111111111111:user/u",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/k",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("principals[0].policies.P"), "{err}");
    assert!(err.contains("/Statement"), "{err}");

    let unknown = dir.path().join("unknown.json");
    std::fs::write(&unknown, "{\"accounts\": {},\n \"acounts\": {}}").unwrap();
    let out = airlock(&[
        "simulate",
        "--setup",
        unknown.to_str().unwrap(),
        "--requests",
        "examples/seed-checklist.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("acounts"), "{err}");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}
