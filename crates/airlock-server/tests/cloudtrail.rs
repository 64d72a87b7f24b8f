//! The audit trail over HTTP with real clients: CloudTrail records for every call, allowed or
//! denied, delivered to the caller's and the resource owner's accounts; the KMS calls S3 makes
//! for a caller recorded as AWS records them; no secret in any record; `LookupEvents` with the
//! AWS CLI and boto3.

mod common;

use airlock_cloudtrail::{Cursor, StoredEvent};
use common::*;
use serde_json::Value;

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    format!("file://{}", p.display())
}

/// Every event recorded so far (after the background writer caught up).
fn all_events(srv: &TestServer) -> Vec<StoredEvent> {
    let w = srv.server().event_history();
    w.flush();
    w.history()
        .read_after(Cursor::default(), 100_000)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn find<'a>(
    events: &'a [StoredEvent],
    account: &str,
    name: &str,
    pred: impl Fn(&StoredEvent) -> bool,
) -> Vec<&'a StoredEvent> {
    events
        .iter()
        .filter(|e| e.recipient_account == account && e.event_name() == name && pred(e))
        .collect()
}

#[test]
fn cross_account_get_through_a_vpc_endpoint_is_recorded_in_both_accounts() {
    let srv = TestServer::start();
    let dir = srv.dir.path();
    let a = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend(["--profile", "account-a"]);
        ok_json(&srv.aws(&v))
    };
    let b = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend(["--profile", "account-b"]);
        ok_json(&srv.aws(&v))
    };

    // Account A: a role its administrator assumes (with a source identity), allowed S3 and the
    // KMS calls S3 makes.
    let trust = write(
        dir,
        "trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}}]}}"#
        ),
    );
    a(&[
        "iam",
        "create-role",
        "--role-name",
        "Reader",
        "--assume-role-policy-document",
        &trust,
    ]);
    let perms = write(
        dir,
        "perms.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","kms:Decrypt"],"Resource":"*"}]}"#,
    );
    a(&[
        "iam",
        "put-role-policy",
        "--role-name",
        "Reader",
        "--policy-name",
        "read",
        "--policy-document",
        &perms,
    ]);
    // Account B: a key whose policy lets A use it, a bucket encrypted with it whose policy lets
    // A's role read.
    let key_policy = write(
        dir,
        "key.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:*","Resource":"*"}},
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*"}}]}}"#
        ),
    );
    let key = s(&b(&["kms", "create-key", "--policy", &key_policy])["KeyMetadata"]["Arn"]);
    b(&["s3api", "create-bucket", "--bucket", "trail-shared"]);
    let bucket_policy = write(
        dir,
        "bucket.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:role/Reader"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::trail-shared/*"}}]}}"#
        ),
    );
    b(&[
        "s3api",
        "put-bucket-policy",
        "--bucket",
        "trail-shared",
        "--policy",
        &bucket_policy,
    ]);
    let body_secret = "object-body-7f3a9c1e2d";
    let body = dir.join("body.txt");
    std::fs::write(&body, body_secret).unwrap();
    b(&[
        "s3api",
        "put-object",
        "--bucket",
        "trail-shared",
        "--key",
        "doc.txt",
        "--body",
        body.to_str().unwrap(),
        "--server-side-encryption",
        "aws:kms",
        "--ssekms-key-id",
        &key,
    ]);

    // Account A: a VPC with an S3 interface endpoint.
    let vpc = s(&a(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"])["Vpc"]["VpcId"]);
    let subnet = s(&a(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &vpc,
        "--cidr-block",
        "10.0.1.0/24",
    ])["Subnet"]["SubnetId"]);
    let ep = a(&[
        "ec2",
        "create-vpc-endpoint",
        "--vpc-id",
        &vpc,
        "--vpc-endpoint-type",
        "Interface",
        "--service-name",
        "com.amazonaws.us-east-1.s3",
        "--subnet-ids",
        &subnet,
    ]);
    let vpce = s(&ep["VpcEndpoint"]["VpcEndpointId"]);
    let url = format!(
        "https://{}",
        s(&ep["VpcEndpoint"]["DnsEntries"][0]["DnsName"])
    );

    // The role session reads B's object through the endpoint.
    let creds = a(&[
        "sts",
        "assume-role",
        "--role-arn",
        &format!("arn:aws:iam::{A}:role/Reader"),
        "--role-session-name",
        "reader-session",
        "--source-identity",
        "alice-src",
    ])["Credentials"]
        .clone();
    let (akid, secret, token) = (
        s(&creds["AccessKeyId"]),
        s(&creds["SecretAccessKey"]),
        s(&creds["SessionToken"]),
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", akid.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    let out = dir.join("out.txt");
    ok_json(&srv.aws_env(
        &[
            "s3api",
            "get-object",
            "--bucket",
            "trail-shared",
            "--key",
            "doc.txt",
            "--endpoint-url",
            &url,
            out.to_str().unwrap(),
        ],
        &env,
    ));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), body_secret);
    // A denied call: the session may not write.
    let err = failed(&srv.aws_env(
        &[
            "s3api",
            "put-object",
            "--bucket",
            "trail-shared",
            "--key",
            "x.txt",
            "--endpoint-url",
            &url,
        ],
        &env,
    ));
    assert!(err.contains("AccessDenied"), "{err}");

    let events = all_events(&srv);
    let session_arn = format!("arn:aws:sts::{A}:assumed-role/Reader/reader-session");

    // GetObject: one copy per account, same sharedEventID, own eventIDs, the session context,
    // the endpoint, TLS details and both resources.
    let in_a = find(&events, A, "GetObject", |_| true);
    let in_b = find(&events, B, "GetObject", |_| true);
    assert_eq!((in_a.len(), in_b.len()), (1, 1), "{events:#?}");
    let (ra, rb) = (&in_a[0].record, &in_b[0].record);
    assert_eq!(ra.recipient_account_id, A);
    assert_eq!(rb.recipient_account_id, B);
    assert_ne!(ra.event_id, rb.event_id);
    assert!(ra.shared_event_id.is_some());
    assert_eq!(ra.shared_event_id, rb.shared_event_id);
    assert_eq!(ra.request_id, rb.request_id);
    for r in [ra, rb] {
        let v = serde_json::to_value(r).unwrap();
        assert_eq!(v["eventCategory"], "Data");
        assert_eq!(v["managementEvent"], false);
        assert_eq!(v["readOnly"], true);
        assert_eq!(v["eventSource"], "s3.amazonaws.com");
        assert_eq!(v["userIdentity"]["type"], "AssumedRole");
        assert_eq!(v["userIdentity"]["arn"], session_arn.as_str());
        assert_eq!(v["userIdentity"]["accessKeyId"], akid.as_str());
        let ctx = &v["userIdentity"]["sessionContext"];
        assert_eq!(ctx["sessionIssuer"]["type"], "Role");
        assert_eq!(
            ctx["sessionIssuer"]["arn"],
            format!("arn:aws:iam::{A}:role/Reader")
        );
        assert_eq!(ctx["sourceIdentity"], "alice-src");
        assert_eq!(ctx["attributes"]["mfaAuthenticated"], "false");
        assert_eq!(v["vpcEndpointId"], vpce.as_str());
        assert_eq!(v["vpcEndpointAccountId"], A);
        assert_eq!(
            v["tlsDetails"]["tlsVersion"]
                .as_str()
                .map(|t| t.starts_with("TLSv1.")),
            Some(true)
        );
        assert_eq!(v["requestParameters"]["bucketName"], "trail-shared");
        assert_eq!(v["requestParameters"]["key"], "doc.txt");
        assert_eq!(v["resources"][0]["type"], "AWS::S3::Object");
        assert_eq!(
            v["resources"][0]["ARN"],
            "arn:aws:s3:::trail-shared/doc.txt"
        );
        assert_eq!(v["resources"][1]["type"], "AWS::S3::Bucket");
        assert_eq!(v["resources"][1]["accountId"], B);
        assert!(v.get("errorCode").is_none());
    }

    // The Decrypt S3 made for the session: invoked by S3, from S3, with the object's
    // encryption context and the key; delivered to the caller's and the key owner's account.
    let dec_a = find(&events, A, "Decrypt", |e| {
        e.record.user_identity.invoked_by.is_some()
    });
    let dec_b = find(&events, B, "Decrypt", |e| {
        e.record.user_identity.invoked_by.is_some()
    });
    assert_eq!((dec_a.len(), dec_b.len()), (1, 1), "{events:#?}");
    for e in [dec_a[0], dec_b[0]] {
        let v = serde_json::to_value(&e.record).unwrap();
        assert_eq!(v["eventSource"], "kms.amazonaws.com");
        assert_eq!(v["userIdentity"]["invokedBy"], "s3.amazonaws.com");
        assert_eq!(v["userIdentity"]["arn"], session_arn.as_str());
        assert_eq!(v["sourceIPAddress"], "s3.amazonaws.com");
        assert_eq!(v["userAgent"], "s3.amazonaws.com");
        assert_eq!(
            v["requestParameters"]["encryptionContext"]["aws:s3:arn"],
            "arn:aws:s3:::trail-shared/doc.txt"
        );
        assert_eq!(v["requestParameters"]["keyId"], key.as_str());
        assert_eq!(v["resources"][0]["type"], "AWS::KMS::Key");
        assert_eq!(v["resources"][0]["accountId"], B);
        assert_eq!(v["eventCategory"], "Management");
        assert_eq!(v["readOnly"], true);
        assert!(v.get("vpcEndpointId").is_none());
        assert!(v.get("tlsDetails").is_none());
    }
    // B's own PUT: GenerateDataKey invoked by S3, in B only.
    let gdk = find(&events, B, "GenerateDataKey", |e| {
        e.record.user_identity.invoked_by.as_deref() == Some("s3.amazonaws.com")
    });
    assert_eq!(gdk.len(), 1);
    assert_eq!(
        gdk[0].record.request_parameters.as_ref().unwrap()["keySpec"],
        "AES_256"
    );

    // The denial: AccessDenied with S3's message, the engine's explanation beside the record.
    let denied = find(&events, A, "PutObject", |e| e.record.error_code.is_some());
    assert_eq!(denied.len(), 1, "{events:#?}");
    assert_eq!(denied[0].record.error_code.as_deref(), Some("AccessDenied"));
    assert_eq!(
        denied[0].record.error_message.as_deref(),
        Some("Access Denied")
    );
    let why = denied[0].explanation.as_ref().expect("explanation kept");
    assert!(why["summary"].as_str().unwrap().contains("deny"), "{why}");
    let text = serde_json::to_string(&denied[0].record).unwrap();
    assert!(!text.contains("summary") && !text.contains("explanation"));

    // AssumeRole: in A, with the issued key id but never the secret or the token.
    let assume = find(&events, A, "AssumeRole", |_| true);
    assert_eq!(assume.len(), 1);
    let resp = assume[0].record.response_elements.as_ref().unwrap();
    assert_eq!(resp["credentials"]["accessKeyId"], akid.as_str());

    // No secret handed to a client appears in any record.
    let everything = serde_json::to_string(&events).unwrap();
    for secret in [secret.as_str(), token.as_str(), body_secret] {
        assert!(
            !everything.contains(secret),
            "a secret leaked into the trail"
        );
    }

    // LookupEvents with the AWS CLI: management events only, filtered, paged.
    let lookup = |args: &[&str]| {
        let mut v = vec!["cloudtrail", "lookup-events", "--profile", "account-a"];
        v.extend_from_slice(args);
        ok_json(&srv.aws(&v))
    };
    let ev = lookup(&[
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=AssumeRole",
    ]);
    assert_eq!(ev["Events"].as_array().unwrap().len(), 1, "{ev}");
    let record: Value = serde_json::from_str(&s(&ev["Events"][0]["CloudTrailEvent"])).unwrap();
    assert_eq!(record["eventName"], "AssumeRole");
    assert_eq!(record["recipientAccountId"], A);
    let none = lookup(&[
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=GetObject",
    ]);
    assert_eq!(
        none["Events"].as_array().unwrap().len(),
        0,
        "data events are not in the event history"
    );
    let decrypts = lookup(&[
        "--lookup-attributes",
        "AttributeKey=EventSource,AttributeValue=kms.amazonaws.com",
    ]);
    assert!(
        decrypts["Events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["EventName"] == "Decrypt"),
        "{decrypts}"
    );
    let b_events = ok_json(&srv.aws(&[
        "cloudtrail",
        "lookup-events",
        "--profile",
        "account-b",
        "--lookup-attributes",
        "AttributeKey=ResourceName,AttributeValue=arn:aws:s3:::trail-shared",
    ]));
    let names: Vec<&str> = b_events["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["PutBucketPolicy", "CreateBucket"], "{b_events}");
    let first = lookup(&["--max-results", "2", "--no-paginate"]);
    assert_eq!(first["Events"].as_array().unwrap().len(), 2);
    let next = s(&first["NextToken"]);
    let second = lookup(&["--max-results", "2", "--no-paginate", "--next-token", &next]);
    assert_eq!(second["Events"].as_array().unwrap().len(), 2);
    assert_ne!(
        first["Events"][0]["EventId"],
        second["Events"][0]["EventId"]
    );
    let t1 = first["Events"][1]["EventTime"].as_f64().unwrap();
    let t2 = second["Events"][0]["EventTime"].as_f64().unwrap();
    assert!(t1 >= t2, "newest first across pages");
    let err = failed(&srv.aws(&[
        "cloudtrail",
        "lookup-events",
        "--profile",
        "account-a",
        "--next-token",
        "garbage",
    ]));
    assert!(err.contains("InvalidNextTokenException"), "{err}");
}

#[test]
fn secrets_returned_to_clients_never_reach_a_record() {
    let srv = TestServer::start();
    let a = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend(["--profile", "account-a"]);
        ok_json(&srv.aws(&v))
    };
    // IAM CreateAccessKey.
    a(&["iam", "create-user", "--user-name", "bob"]);
    let k = a(&["iam", "create-access-key", "--user-name", "bob"]);
    let user_secret = s(&k["AccessKey"]["SecretAccessKey"]);
    // STS AssumeRole.
    let trust = write(
        srv.dir.path(),
        "trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        ),
    );
    a(&[
        "iam",
        "create-role",
        "--role-name",
        "R",
        "--assume-role-policy-document",
        &trust,
    ]);
    let c = a(&[
        "sts",
        "assume-role",
        "--role-arn",
        &format!("arn:aws:iam::{A}:role/R"),
        "--role-session-name",
        "secrets-session",
    ]);
    let (session_secret, session_token) = (
        s(&c["Credentials"]["SecretAccessKey"]),
        s(&c["Credentials"]["SessionToken"]),
    );
    // KMS GenerateDataKey and Encrypt/Decrypt of a plaintext.
    let key = s(&a(&["kms", "create-key"])["KeyMetadata"]["Arn"]);
    let dk = a(&[
        "kms",
        "generate-data-key",
        "--key-id",
        &key,
        "--key-spec",
        "AES_256",
    ]);
    let plaintext_key = s(&dk["Plaintext"]);
    let plain = "cGxhaW50ZXh0LXNlY3JldC05OTE="; // base64 of the plaintext, as on the wire
    let plain_file = srv.dir.path().join("plain.bin");
    std::fs::write(&plain_file, "plaintext-secret-991").unwrap();
    let enc = a(&[
        "kms",
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        &format!("fileb://{}", plain_file.display()),
    ]);
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(s(&enc["CiphertextBlob"]))
        .unwrap();
    let blob_file = srv.dir.path().join("blob.bin");
    std::fs::write(&blob_file, blob).unwrap();
    let dec = a(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob_file.display()),
    ]);
    assert_eq!(s(&dec["Plaintext"]), plain);
    // S3 PutObject (SSE-KMS) of a body.
    a(&["s3api", "create-bucket", "--bucket", "secret-bucket"]);
    let body = srv.dir.path().join("b.txt");
    let body_secret = "s3-body-secret-5521";
    std::fs::write(&body, body_secret).unwrap();
    a(&[
        "s3api",
        "put-object",
        "--bucket",
        "secret-bucket",
        "--key",
        "k",
        "--body",
        body.to_str().unwrap(),
        "--server-side-encryption",
        "aws:kms",
        "--ssekms-key-id",
        &key,
    ]);
    let events = all_events(&srv);
    for name in [
        "CreateAccessKey",
        "AssumeRole",
        "GenerateDataKey",
        "Encrypt",
        "Decrypt",
        "PutObject",
    ] {
        assert!(
            events.iter().any(|e| e.event_name() == name),
            "{name} recorded"
        );
    }
    let ak = find(&events, A, "CreateAccessKey", |_| true);
    assert_eq!(
        ak[0].record.response_elements.as_ref().unwrap()["accessKey"]["accessKeyId"],
        k["AccessKey"]["AccessKeyId"]
    );
    let everything = serde_json::to_string(&events).unwrap();
    for secret in [
        user_secret.as_str(),
        session_secret.as_str(),
        session_token.as_str(),
        plaintext_key.as_str(),
        plain,
        "plaintext-secret-991",
        body_secret,
    ] {
        assert!(
            !everything.contains(secret),
            "secret {}... found in the trail",
            &secret[..4]
        );
    }
}

#[test]
fn lookup_events_with_boto3() {
    let srv = TestServer::start();
    let out = srv.python("cloudtrail_boto3.py", &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
}
