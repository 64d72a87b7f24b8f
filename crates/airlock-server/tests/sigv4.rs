//! Every SigV4 failure, through real boto3 clients (and the SDK signer for the raw cases).

mod common;

use common::*;

#[test]
fn every_sigv4_failure_gets_awss_error_code() {
    let s = TestServer::start();
    // An expired session, sealed with the server's own key as STS would have issued it.
    let key: [u8; 32] = std::fs::read(s.data_dir().join("sts-session.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let sts = airlock_sts::Sts::new(key);
    let mut session = airlock_sts::Session::example();
    session.access_key_id = "ASIAEXPIREDEXPIRED01".into();
    session.secret_access_key = "expired-secret".into();
    session.issued = airlock_iam::now() - 7200;
    session.expiration = airlock_iam::now() - 3600;
    let token = sts.seal(&session);

    let out = s.python(
        "sigv4_failures.py",
        &[&session.access_key_id, &session.secret_access_key, &token],
    );
    assert!(
        out.status.success(),
        "script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expect = |name: &str, code: &str, status: u64| {
        assert_eq!(r[name]["code"], code, "{name}: {}", r[name]);
        assert_eq!(r[name]["status"], status, "{name}: {}", r[name]);
    };
    assert_eq!(r["valid"]["ok"], true, "{}", r["valid"]);
    assert_eq!(r["skew_allowed"]["ok"], true, "{}", r["skew_allowed"]);
    assert_eq!(r["presigned"]["ok"], true, "{}", r["presigned"]);
    assert!(
        r["presigned"]["body"]
            .as_str()
            .unwrap()
            .contains("arn:aws:iam::111111111111:user/admin")
    );
    expect("bad_signature", "SignatureDoesNotMatch", 403);
    assert!(
        r["bad_signature"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature we calculated does not match")
    );
    expect("unknown_key", "InvalidClientTokenId", 403);
    assert_eq!(
        r["unknown_key"]["message"],
        "The security token included in the request is invalid."
    );
    expect("expired_token", "ExpiredToken", 400);
    assert_eq!(
        r["expired_token"]["message"],
        "The security token included in the request is expired"
    );
    expect("forged_token", "InvalidClientTokenId", 403);
    expect("skew_past", "SignatureDoesNotMatch", 403);
    assert!(
        r["skew_past"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired: "),
        "{}",
        r["skew_past"]
    );
    assert!(
        r["skew_past"]["message"]
            .as_str()
            .unwrap()
            .ends_with(" - 15 min.)"),
        "{}",
        r["skew_past"]
    );
    expect("skew_future", "SignatureDoesNotMatch", 403);
    assert!(
        r["skew_future"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature not yet current: ")
    );
    expect("bad_payload", "SignatureDoesNotMatch", 403);
    expect(
        "declared_payload_hash_mismatch",
        "SignatureDoesNotMatch",
        403,
    );
    expect("presigned_expired", "AccessDenied", 403);
}

#[test]
fn unsigned_requests_are_missing_authentication() {
    let s = TestServer::start();
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let out = std::process::Command::new(venv().join("bin/python"))
        .args([
            "-c",
            "import sys,urllib.request,urllib.error\n\
             req=urllib.request.Request(sys.argv[1],data=sys.argv[2].encode(),headers={'Content-Type':'application/x-www-form-urlencoded'})\n\
             try:\n  urllib.request.urlopen(req)\nexcept urllib.error.HTTPError as e:\n  print(e.code); print(e.read().decode())",
            &s.info.http_endpoint,
            body,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("403"), "{text}");
    assert!(
        text.contains("<Code>MissingAuthenticationToken</Code>"),
        "{text}"
    );
    assert!(
        text.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{text}"
    );
    assert!(text.contains("<Type>Sender</Type>"), "{text}");
}
