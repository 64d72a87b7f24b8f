//! Throughput of the full stack (TCP/TLS, SigV4, pipeline, engine, STS) for GetCallerIdentity
//! and AssumeRole, against moto's server doing the same calls in the same run, plus
//! `airlock serve` startup-to-ready time on an existing data directory.
//!
//! Run: `cargo bench -p airlock-server --bench throughput` (needs target/venv from
//! scripts/test-env.sh for moto). Options via env: `BENCH_SECS` (per scenario, default 3),
//! `BENCH_CONNS` (concurrent keep-alive connections, default 8).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use airlock_server::{ServeConfig, Server};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpStream;

#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    key: String,
    secret: String,
}

fn signed_request(t: &Target, body: &str) -> http::Request<Full<Bytes>> {
    let identity: Identity = Credentials::new(&t.key, &t.secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = format!("{}:{}", t.host, t.port);
    let uri = format!(
        "{}://{host}/",
        if t.tls.is_some() { "https" } else { "http" }
    );
    let headers = [
        ("host", host.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", &host)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req
}

async fn connect(t: &Target) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect((t.host.as_str(), t.port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    match &t.tls {
        Some(cfg) => {
            let connector = tokio_rustls::TlsConnector::from(cfg.clone());
            let name = rustls::pki_types::ServerName::try_from(t.host.clone()).unwrap();
            let tls = connector.connect(name, stream).await.unwrap();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            sender
        }
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            sender
        }
    }
}

/// Requests per second with `conns` keep-alive connections for `secs`, every response checked.
async fn measure(
    t: &Target,
    body: &'static str,
    expect: &'static str,
    conns: usize,
    secs: f64,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let t = t.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&t).await;
            while Instant::now() < deadline {
                // Servers that close after each response (moto's werkzeug) cost a reconnect, as
                // they would for any client.
                if sender.ready().await.is_err() {
                    sender = connect(&t).await;
                }
                let resp = match sender.send_request(signed_request(&t, body)).await {
                    Ok(r) => r,
                    Err(_) => {
                        sender = connect(&t).await;
                        sender
                            .send_request(signed_request(&t, body))
                            .await
                            .expect("request")
                    }
                };
                let status = resp.status();
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                if !status.is_success()
                    || !bytes.windows(expect.len()).any(|w| w == expect.as_bytes())
                {
                    panic!(
                        "unexpected response {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn venv_bin(name: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/venv/bin")
        .join(name);
    if !p.exists() {
        panic!(
            "{} is missing: run `bash scripts/test-env.sh` to create target/venv",
            p.display()
        );
    }
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const GCI: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const ASSUME_AIRLOCK: &str = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FBench&RoleSessionName=bench";
const ASSUME_MOTO: &str = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FBench&RoleSessionName=bench";

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let conns: usize = std::env::var("BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("airlock-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // moto's server, same calls.
    let moto_port = free_port();
    let moto = std::process::Command::new(venv_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    // Stops moto even if a scenario panics.
    let _moto = KillOnDrop(moto);

    rt.block_on(async {
        let mut config = ServeConfig::new(&dir);
        config.accounts = vec![("111111111111".into(), "account-a".into()), ("222222222222".into(), "account-b".into())];
        let server = Server::start(config).await.unwrap();
        let info = server.info().clone();
        let key_a = server.admin_keys()[0].1.clone();
        let key_b = server.admin_keys()[1].1.clone();

        // Role in B trusted by A.
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
        let create = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=Bench&AssumeRolePolicyDocument={}",
            percent_encoding::utf8_percent_encode(trust, percent_encoding::NON_ALPHANUMERIC)
        );
        let b = Target { host: "127.0.0.1".into(), port: info.http_port, tls: None, key: key_b.access_key_id.clone(), secret: key_b.secret_access_key.clone() };
        iam_call(&b, &create).await;

        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(&info.ca_bundle).unwrap();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let http = Target { host: "127.0.0.1".into(), port: info.http_port, tls: None, key: key_a.access_key_id.clone(), secret: key_a.secret_access_key.clone() };
        let https = Target { port: info.https_port, tls: Some(tls), ..http.clone() };

        // moto: wait for it, create the same role.
        let m = Target { host: "127.0.0.1".into(), port: moto_port, tls: None, key: "AKIAIOSFODNN7EXAMPLE".into(), secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into() };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", moto_port)).await.is_err() {
            assert!(t0.elapsed() < Duration::from_secs(60), "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let moto_create = create.clone();
        iam_call(&m, &moto_create).await;

        let mut rows = Vec::new();
        for (name, body, expect_a, expect_m) in [
            ("GetCallerIdentity", GCI, "<Arn>", "<Arn>"),
            ("AssumeRole", ASSUME_AIRLOCK, "<SessionToken>", "<SessionToken>"),
        ] {
            let moto_body = if name == "AssumeRole" { ASSUME_MOTO } else { body };
            let a_http = measure(&http, body, expect_a, conns, secs).await;
            let a_tls = measure(&https, body, expect_a, conns, secs).await;
            let moto_rps = measure(&m, moto_body, expect_m, conns, secs).await;
            rows.push((name, a_http, a_tls, moto_rps));
        }

        server.shutdown().await;

        // Startup-to-ready on the existing data directory (state, CA and keys exist).
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let s = Server::start(ServeConfig::new(&dir)).await.unwrap();
            // Ready: a signed request is answered.
            let probe = Target { port: s.info().http_port, ..http.clone() };
            let mut sender = connect(&probe).await;
            let resp = sender.send_request(signed_request(&probe, GCI)).await.unwrap();
            assert!(resp.status().is_success());
            times.push(t.elapsed());
            s.shutdown().await;
        }
        times.sort();

        println!("airlock-server throughput ({} s per scenario, {conns} keep-alive connections, {} cores)", secs, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        println!("{:<20} {:>14} {:>14} {:>12} {:>10} {:>10}", "call", "airlock HTTP", "airlock TLS", "moto HTTP", "HTTP/moto", "TLS/moto");
        for (name, a, t, m) in rows {
            println!("{name:<20} {a:>12.0}/s {t:>12.0}/s {m:>10.0}/s {:>9.1}x {:>9.1}x", a / m, t / m);
        }
        println!(
            "startup-to-ready on an existing data dir: median {:.1} ms, max {:.1} ms (10 runs, in-process Server::start + first answered request)",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

async fn iam_call(t: &Target, body: &str) {
    // IAM is signed for service "iam"; reuse the STS signer with another scope.
    let identity: Identity = Credentials::new(&t.key, &t.secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iam")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = format!("{}:{}", t.host, t.port);
    let uri = format!("http://{host}/");
    let headers = [
        ("host", host.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", &host)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let mut sender = connect(t).await;
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "setup call failed {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
}

/// Kills and reaps a child process when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
