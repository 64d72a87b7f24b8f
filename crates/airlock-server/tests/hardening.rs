//! The endpoint under hostile clients: signature edge cases (boto3), bodies of
//! unauthenticated requests, listener limits and timeouts, what `--bind 0.0.0.0` exposes, and
//! failed authentication in the audit trail. Each test fails on the server before its fix.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{A, TestServer, ok_json};

/// Reads from `s` until the peer closes the connection or `limit` passes; returns what came.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

/// Reads one HTTP response head and its `Content-Length` body.
fn read_response(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                return String::from_utf8_lossy(&out[..end + 4 + len]).to_string();
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&out).to_string(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn http_addr(s: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], s.info.http_port))
}

/// A connection from the loopback address `from` (another "client" on this machine).
fn connect_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((from, 0)))?;
        let stream = socket.connect(to).await?;
        stream.into_std()
    })
    .and_then(|s| {
        s.set_nonblocking(false)?;
        Ok(s)
    })
}

#[test]
fn presign_expiry_unsigned_headers_and_refused_uploads_through_boto3() {
    let s = TestServer::start();
    let out = s.python("hardening_boto3.py", &[]);
    assert!(
        out.status.success(),
        "hardening_boto3.py failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], true, "{r}");
}

/// A request that names no known credential is answered before its body is read: the client
/// has sent only the head of an 8 MiB upload when the refusal arrives.
#[test]
fn unauthenticated_bodies_are_not_read() {
    let s = TestServer::start();
    let addr = http_addr(&s);
    let date = airlock_server::sigv4::format_amz_date(std::time::SystemTime::now());
    let day = &date[..8];
    let cases = [
        // Query protocol (STS) with an access key id nobody has.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 X-Amz-Date: {date}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIANOBODYHASTHIS00/{day}/us-east-1/sts/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00\r\nContent-Length: 8388608\r\n\r\n"
            ),
            "InvalidClientTokenId",
        ),
        // Unsigned, query protocol.
        (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: 8388608\r\n\r\n"
                .to_string(),
            "",
        ),
        // JSON protocol (KMS) with an unknown key.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n\
                 X-Amz-Target: TrentService.ListKeys\r\nX-Amz-Date: {date}\r\n\
                 Authorization: AWS4-HMAC-SHA256 Credential=AKIANOBODYHASTHIS00/{day}/us-east-1/kms/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\nContent-Length: 8388608\r\n\r\n"
            ),
            "UnrecognizedClientException",
        ),
        // S3 configuration document (buffered) with an unknown key.
        (
            format!(
                "PUT /some-bucket?policy HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Date: {date}\r\n\
                 X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\n\
                 Authorization: AWS4-HMAC-SHA256 Credential=AKIANOBODYHASTHIS00/{day}/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00\r\nContent-Length: 8388608\r\n\r\n"
            ),
            "InvalidAccessKeyId",
        ),
    ];
    for (head, code) in cases {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(head.as_bytes()).unwrap();
        // Nothing of the body is sent: the answer must come anyway.
        let answer = read_response(&mut c);
        assert!(
            answer.starts_with("HTTP/1.1 4"),
            "refused before the body: {answer}\nrequest: {head}"
        );
        assert!(answer.contains(code), "{code}: {answer}");
    }
}

/// A client that stops sending within a request's head is disconnected after the header-read
/// timeout, and one that stops within a body is answered `RequestTimeout`.
#[test]
fn slow_heads_and_bodies_time_out() {
    let s = TestServer::start_configured(&[(A, "account-a")], |c| {
        c.limits.header_read_timeout = Duration::from_millis(500);
        c.limits.body_read_timeout = Duration::from_millis(500);
    });
    let addr = http_addr(&s);
    // A slowloris head, and an idle keep-alive connection.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(30));
    assert!(closed, "a head that never ends is not held open");
    let mut idle = TcpStream::connect(addr).unwrap();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(30));
    assert!(closed, "an idle connection is not held open");

    // A signed PUT whose body stops halfway.
    let out = s.aws(&["s3api", "create-bucket", "--bucket", "slow-bodies"]);
    ok_json(&out);
    let key = &s.server().admin_keys()[0].1;
    let head = signed_put_head(
        &s,
        "/slow-bodies/half",
        100,
        &key.access_key_id,
        &key.secret_access_key,
    );
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&[b'x'; 50]).unwrap();
    let answer = read_response(&mut c);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("<Code>RequestTimeout</Code>"),
        "{answer}"
    );
    let out = s.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "slow-bodies",
        "--key",
        "half",
    ]);
    assert!(!out.status.success(), "half an upload stored nothing");
}

/// The head of a PUT signed with UNSIGNED-PAYLOAD by the SDK's signer.
fn signed_put_head(s: &TestServer, path: &str, len: usize, key: &str, secret: &str) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let host = format!("127.0.0.1:{}", s.info.http_port);
    let url = format!("http://{host}{path}");
    let headers = [
        ("host", host.as_str()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ("content-length", &len.to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "PUT",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in instructions.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// One client's connections beyond its cap are closed at accept; another client is served.
#[test]
fn a_client_cannot_take_every_connection() {
    let s = TestServer::start_configured(&[(A, "account-a")], |c| {
        c.limits.max_connections_per_client = 8;
    });
    let addr = http_addr(&s);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from([127, 0, 0, 2], addr).unwrap());
    }
    // The 9th from the same address gets no answer and is closed.
    let mut over = connect_from([127, 0, 0, 2], addr).unwrap();
    let _ = over.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (got, closed) = read_until_closed(&mut over, Duration::from_secs(20));
    assert!(closed && got.is_empty(), "over the cap: {got:?}");
    // Another client is served meanwhile.
    let out = s.aws(&["sts", "get-caller-identity"]);
    assert_eq!(ok_json(&out)["Account"], A);
    drop(held);
}

/// `--bind 0.0.0.0` opens the main listeners to the network, but VPC endpoint and metadata
/// listeners stay on loopback unless asked (they hand out role credentials).
#[test]
fn network_listeners_stay_on_loopback_when_the_main_ones_do_not() {
    let s = TestServer::start_configured(&[(A, "account-a")], |c| {
        c.bind = "0.0.0.0".parse().unwrap();
    });
    let vpc = ok_json(&s.aws(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"]));
    let vpc_id = vpc["Vpc"]["VpcId"].as_str().unwrap();
    let e = ok_json(&s.aws(&[
        "ec2",
        "create-vpc-endpoint",
        "--vpc-id",
        vpc_id,
        "--service-name",
        "com.amazonaws.us-east-1.s3",
        "--vpc-endpoint-type",
        "Interface",
    ]));
    let id = e["VpcEndpoint"]["VpcEndpointId"].as_str().unwrap();
    let routes = airlock_server::network::NetworkRoutes::read(s.server().data_dir()).unwrap();
    let https = &routes.vpc_endpoints[id].https;
    let port: u16 = https.rsplit(':').next().unwrap().parse().unwrap();
    let listening = listening_addresses();
    assert_eq!(
        listening.get(&port).map(String::as_str),
        Some("127.0.0.1"),
        "endpoint listener {https}: {listening:?}"
    );
    assert_eq!(
        listening.get(&s.info.http_port).map(String::as_str),
        Some("0.0.0.0"),
        "the main listener is where --bind says"
    );
}

/// Listening IPv4 sockets of this machine by port (`/proc/net/tcp`).
fn listening_addresses() -> std::collections::HashMap<u16, String> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let mut out = std::collections::HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[3] != "0A" {
            continue;
        }
        let Some((ip, port)) = f[1].split_once(':') else {
            continue;
        };
        let ip = u32::from_str_radix(ip, 16).unwrap_or(0).to_le_bytes();
        let port = u16::from_str_radix(port, 16).unwrap_or(0);
        out.insert(port, format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]));
    }
    out
}

/// A call with an access key id nobody has, on an account's bucket, is in that account's
/// event history as a failed authentication.
#[test]
fn unknown_access_keys_are_in_the_resource_owners_trail() {
    let s = TestServer::start_with(&[(A, "account-a")]);
    ok_json(&s.aws(&["s3api", "create-bucket", "--bucket", "trail-unknown-key"]));
    let out = s.aws_env(
        &[
            "s3api",
            "get-bucket-policy",
            "--bucket",
            "trail-unknown-key",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIANOBODYHASTHIS00"),
            ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("InvalidAccessKeyId"), "{err}");
    s.server().event_history().flush();
    let events = ok_json(&s.aws(&[
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=GetBucketPolicy",
    ]));
    let found = events["Events"].as_array().unwrap().iter().any(|e| {
        let detail: serde_json::Value =
            serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
        detail["errorCode"] == "InvalidAccessKeyId"
            && detail["userIdentity"]["accessKeyId"] == "AKIANOBODYHASTHIS00"
    });
    assert!(found, "{events}");
}
