//! S3 requests pass the one pipeline: each reaches the recorders with its operation, action,
//! resource and decision, including anonymous callers and a KMS denial made inside the
//! operation (SSE-KMS), which is recorded as the call's decision with the engine's explanation.

mod common;

use std::sync::{Arc, Mutex};

use airlock_server::record::{CallRecord, Outcome, Recorder};
use airlock_server::{ServeConfig, Server};
use common::*;

#[derive(Default)]
struct Collect(Mutex<Vec<CallRecord>>);

impl Recorder for Collect {
    fn record(&self, r: &CallRecord) {
        self.0.lock().unwrap().push(r.clone());
    }
}

#[test]
fn s3_calls_are_recorded_with_their_decisions() {
    let tmp = TempDir::new("s3-records");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let collect = Arc::new(Collect::default());
    let mut config = ServeConfig::new(tmp.path().join("data"));
    config.accounts = vec![(B.into(), "account-b".into())];
    config.recorders.push(collect.clone());
    let server = rt.block_on(Server::start(config)).unwrap();
    let info = server.info().clone();
    let aws = |args: &[&str], env: &[(&str, &str)]| aws_cli(&info, tmp.path(), args, env);

    let key = ok_json(&aws(&["--profile", "account-b", "kms", "create-key"], &[]));
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    ok_json(&aws(
        &[
            "--profile",
            "account-b",
            "s3api",
            "create-bucket",
            "--bucket",
            "records-bucket",
        ],
        &[],
    ));
    let body = tmp.path().join("f.txt");
    std::fs::write(&body, "recorded").unwrap();
    ok_json(&aws(
        &[
            "--profile",
            "account-b",
            "s3api",
            "put-object",
            "--bucket",
            "records-bucket",
            "--key",
            "f.txt",
            "--body",
            body.to_str().unwrap(),
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            &key_arn,
        ],
        &[],
    ));
    // A user with S3 permissions but no KMS permission: GetObject is allowed by the engine's
    // S3 checks, then denied by KMS inside the operation.
    ok_json(&aws(
        &[
            "--profile",
            "account-b",
            "iam",
            "create-user",
            "--user-name",
            "reader",
        ],
        &[],
    ));
    ok_json(&aws(
        &[
            "--profile",
            "account-b",
            "iam",
            "put-user-policy",
            "--user-name",
            "reader",
            "--policy-name",
            "s3",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        ],
        &[],
    ));
    let k = ok_json(&aws(
        &[
            "--profile",
            "account-b",
            "iam",
            "create-access-key",
            "--user-name",
            "reader",
        ],
        &[],
    ));
    let (id, secret) = (
        k["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(),
        k["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let out = tmp.path().join("out.txt");
    failed(&aws(
        &[
            "s3api",
            "get-object",
            "--bucket",
            "records-bucket",
            "--key",
            "f.txt",
            out.to_str().unwrap(),
        ],
        &env,
    ));
    failed(&aws(
        &[
            "s3api",
            "get-object",
            "--bucket",
            "records-bucket",
            "--key",
            "f.txt",
            out.to_str().unwrap(),
            "--no-sign-request",
        ],
        &[],
    ));
    rt.block_on(server.shutdown());

    let records = collect.0.lock().unwrap().clone();
    let s3: Vec<&CallRecord> = records.iter().filter(|r| r.service == "s3").collect();
    let put = s3
        .iter()
        .find(|r| r.operation.as_deref() == Some("PutObject"))
        .expect("PutObject recorded");
    assert_eq!(put.outcome, Outcome::Allowed);
    assert_eq!(put.action.as_deref(), Some("s3:PutObject"));
    assert_eq!(
        put.resource.as_deref(),
        Some("arn:aws:s3:::records-bucket/f.txt")
    );
    assert_eq!(put.account.as_deref(), Some(B));

    let kms_denied = s3
        .iter()
        .find(|r| {
            r.operation.as_deref() == Some("GetObject")
                && r.principal.as_deref() == Some("arn:aws:iam::222222222222:user/reader")
        })
        .expect("the reader's GetObject recorded");
    assert_eq!(kms_denied.status, 403);
    assert_eq!(kms_denied.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(kms_denied.action.as_deref(), Some("kms:Decrypt"));
    assert_eq!(kms_denied.resource.as_deref(), Some(key_arn.as_str()));
    assert!(
        matches!(kms_denied.outcome, Outcome::Denied(_)),
        "{:?}",
        kms_denied.outcome
    );

    let anonymous = s3
        .iter()
        .find(|r| {
            r.operation.as_deref() == Some("GetObject")
                && r.principal.as_deref() == Some("anonymous")
        })
        .expect("the anonymous GetObject recorded");
    assert_eq!(anonymous.account, None);
    assert_eq!(anonymous.action.as_deref(), Some("s3:GetObject"));
    assert!(matches!(anonymous.outcome, Outcome::Denied(_)));
    assert_eq!(anonymous.status, 403);
}
