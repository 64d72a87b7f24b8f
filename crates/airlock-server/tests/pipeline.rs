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

/// An upload refused before its body is read (here: to a bucket that does not exist) leaves the
/// connection usable: the server reads the rest of a small body and discards it, so the client
/// is not reset mid-upload (which SDKs retry, recording the call again).
#[test]
fn a_refused_small_upload_leaves_the_connection_usable() {
    use std::io::{BufRead, BufReader, Read, Write};

    let server = TestServer::start_with(&[(A, "account-a")]);
    let info = server.info.clone();

    let mut conn = std::net::TcpStream::connect(("127.0.0.1", info.http_port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let body = vec![b'x'; 256 * 1024];
    let head = format!(
        "PUT /no-such-bucket/k HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\r\n",
        info.http_port,
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let read_answer = |reader: &mut BufReader<std::net::TcpStream>| -> (String, Vec<u8>) {
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).unwrap();
        (status, body)
    };
    let (status, answer) = read_answer(&mut reader);
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    assert!(
        String::from_utf8_lossy(&answer).contains("<Code>NoSuchBucket</Code>"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The same connection answers the next request: the refused body was consumed.
    let next = format!(
        "GET /no-such-bucket/k HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        info.http_port
    );
    conn.write_all(next.as_bytes()).unwrap();
    let (status, _) = read_answer(&mut reader);
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
}
