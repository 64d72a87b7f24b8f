//! The single request path: every call, allowed, denied or unauthenticated, reaches the
//! recorders with account, principal, action, resource, decision (with the engine's
//! explanation for denials) and latency.

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
fn every_call_is_recorded_with_its_decision() {
    let tmp = TempDir::new("records");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let collect = Arc::new(Collect::default());
    let mut config = ServeConfig::new(tmp.path().join("data"));
    config.accounts = vec![(A.into(), "account-a".into())];
    config.recorders.push(collect.clone());
    let server = rt.block_on(Server::start(config)).unwrap();
    let info = server.info().clone();

    ok_json(&aws_cli(
        &info,
        tmp.path(),
        &["--profile", "account-a", "sts", "get-caller-identity"],
        &[],
    ));
    ok_json(&aws_cli(
        &info,
        tmp.path(),
        &[
            "--profile",
            "account-a",
            "iam",
            "create-user",
            "--user-name",
            "dave",
        ],
        &[],
    ));
    let key = ok_json(&aws_cli(
        &info,
        tmp.path(),
        &[
            "--profile",
            "account-a",
            "iam",
            "create-access-key",
            "--user-name",
            "dave",
        ],
        &[],
    ));
    let env = [
        (
            "AWS_ACCESS_KEY_ID",
            key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        ),
    ];
    failed(&aws_cli(
        &info,
        tmp.path(),
        &["iam", "get-user", "--user-name", "dave"],
        &env,
    ));
    let bad = [
        ("AWS_ACCESS_KEY_ID", "AKIAAAAAAAAAAAAAAAAA"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ];
    failed(&aws_cli(
        &info,
        tmp.path(),
        &["sts", "get-caller-identity"],
        &bad,
    ));
    rt.block_on(server.shutdown());

    let records = collect.0.lock().unwrap().clone();
    assert_eq!(records.len(), 5, "{records:#?}");
    let gci = &records[0];
    assert_eq!(gci.action.as_deref(), Some("sts:GetCallerIdentity"));
    assert_eq!(
        gci.principal.as_deref(),
        Some("arn:aws:iam::111111111111:user/admin")
    );
    assert_eq!(gci.outcome, Outcome::Allowed);
    assert!(gci.tls);
    let create = &records[1];
    assert_eq!(create.account.as_deref(), Some(A));
    assert_eq!(create.action.as_deref(), Some("iam:CreateUser"));
    assert_eq!(
        create.resource.as_deref(),
        Some("arn:aws:iam::111111111111:user/dave")
    );
    assert_eq!(create.status, 200);
    let denied = &records[3];
    assert_eq!(
        denied.principal.as_deref(),
        Some("arn:aws:iam::111111111111:user/dave")
    );
    assert_eq!(denied.action.as_deref(), Some("iam:GetUser"));
    assert_eq!(denied.status, 403);
    assert_eq!(denied.error_code.as_deref(), Some("AccessDenied"));
    match &denied.outcome {
        Outcome::Denied(explanation) => assert!(!explanation.missing.is_empty(), "{explanation:?}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    let unauth = &records[4];
    assert_eq!(unauth.outcome, Outcome::Unauthenticated);
    assert_eq!(unauth.error_code.as_deref(), Some("InvalidClientTokenId"));
    assert_eq!(
        unauth.access_key_id.as_deref(),
        Some("AKIAAAAAAAAAAAAAAAAA")
    );
    assert!(unauth.principal.is_none());
}
