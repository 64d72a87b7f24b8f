//! KMS through the full stack (TCP/TLS, SigV4, pipeline, JSON protocol, key policy and IAM
//! evaluation, AES-256-GCM): `GenerateDataKey` + `Decrypt` pairs per second, against moto's
//! KMS doing the same calls in the same run with the same client.
//!
//! Run: `cargo bench -p airlock-server --bench kms_throughput` (needs target/venv from
//! scripts/test-env.sh for moto). Env: `BENCH_SECS` (per scenario, default 3), `BENCH_CONNS`
//! (concurrent keep-alive connections, default 8).
//!
//! The airlock scenario is the seed's: account A's principal uses account B's key (seed key
//! policy, verbatim) by key ARN with the encryption context S3 would send, so every request
//! evaluates the key policy AND the caller's IAM policy across accounts.

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
use serde_json::{Value, json};
use tokio::net::TcpStream;

#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    key: String,
    secret: String,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

fn kms_request(t: &Target, op: &str, body: &[u8]) -> http::Request<Full<Bytes>> {
    let identity: Identity = Credentials::new(&t.key, &t.secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kms")
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
    let target = format!("TrentService.{op}");
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target.as_str()),
    ];
    let signable =
        SignableRequest::new("POST", &uri, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", &host)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", &target)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req
}

async fn connect(t: &Target) -> Sender {
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

async fn call(sender: &mut Sender, t: &Target, op: &str, body: &Value) -> Value {
    // A server may close a keep-alive connection (moto's development server does): reconnect.
    if sender.ready().await.is_err() {
        *sender = connect(t).await;
    }
    let resp = sender
        .send_request(kms_request(t, op, body.to_string().as_bytes()))
        .await
        .expect("request");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    if !status.is_success() {
        panic!("{op} failed {status}: {}", String::from_utf8_lossy(&bytes));
    }
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// One `GenerateDataKey` + `Decrypt` pair; checks that the decrypted key is the generated one.
async fn pair(sender: &mut Sender, t: &Target, key: &str) {
    let ctx =
        json!({ "aws:s3:arn": "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt" });
    let dk = call(
        sender,
        t,
        "GenerateDataKey",
        &json!({ "KeyId": key, "KeySpec": "AES_256", "EncryptionContext": ctx }),
    )
    .await;
    let back = call(
        sender,
        t,
        "Decrypt",
        &json!({ "CiphertextBlob": dk["CiphertextBlob"], "EncryptionContext": ctx }),
    )
    .await;
    assert_eq!(
        back["Plaintext"], dk["Plaintext"],
        "decrypted data key differs"
    );
}

/// Pairs per second with `conns` keep-alive connections for `secs`.
async fn measure(t: &Target, key: &str, conns: usize, secs: f64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let t = t.clone();
        let key = key.to_string();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&t).await;
            while Instant::now() < deadline {
                pair(&mut sender, &t, &key).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// CPU seconds (user + system) a process has used so far (Linux `/proc/PID/stat`).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// `measure`, plus the pairs per CPU-second of `pid` (the server doing the work).
async fn measure_cpu(
    t: &Target,
    key: &str,
    conns: usize,
    secs: f64,
    pid: &str,
) -> (f64, Option<f64>) {
    let before = cpu_secs(pid);
    let start = Instant::now();
    let rate = measure(t, key, conns, secs).await;
    let pairs = rate * start.elapsed().as_secs_f64();
    let per_cpu = before
        .zip(cpu_secs(pid))
        .map(|(a, b)| pairs / (b - a).max(1e-9));
    (rate, per_cpu)
}

fn venv_bin(name: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/test-env.sh` to create target/venv",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const SEED_KEY_POLICY: &str = include_str!("../../../tests/server/seed/step1-key-policy.json");

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
    let dir = std::env::temp_dir().join(format!("airlock-kms-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let moto_port = free_port();
    let mut moto = std::process::Command::new(venv_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto_pid = moto.id();

    rt.block_on(async {
        let mut config = ServeConfig::new(&dir);
        config.accounts = vec![
            ("111111111111".into(), "account-a".into()),
            ("222222222222".into(), "account-b".into()),
        ];
        let server = Server::start(config).await.unwrap();
        let info = server.info().clone();
        let key_a = server.admin_keys()[0].1.clone();
        let key_b = server.admin_keys()[1].1.clone();
        let b = Target {
            host: "127.0.0.1".into(),
            port: info.http_port,
            tls: None,
            key: key_b.access_key_id.clone(),
            secret: key_b.secret_access_key.clone(),
        };
        let mut sb = connect(&b).await;
        let created = call(
            &mut sb,
            &b,
            "CreateKey",
            &json!({ "Policy": SEED_KEY_POLICY }),
        )
        .await;
        let key_arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_string();

        let mut roots = rustls::RootCertStore::empty();
        let ca = std::fs::read(&info.ca_bundle).unwrap();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        );
        // Account A's administrator uses B's key across accounts.
        let http = Target {
            host: "127.0.0.1".into(),
            port: info.http_port,
            tls: None,
            key: key_a.access_key_id.clone(),
            secret: key_a.secret_access_key.clone(),
        };
        let https = Target {
            port: info.https_port,
            tls: Some(tls),
            ..http.clone()
        };

        let m = Target {
            host: "127.0.0.1".into(),
            port: moto_port,
            tls: None,
            key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", moto_port)).await.is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "moto_server did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut sm = connect(&m).await;
        let moto_key = call(
            &mut sm,
            &m,
            "CreateKey",
            &json!({ "Policy": SEED_KEY_POLICY }),
        )
        .await["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .to_string();

        // CPU per pair: airlock's figure counts this whole process (server and the benchmark's
        // client); moto's counts only the moto process.
        let (a_http, a_http_cpu) = measure_cpu(&http, &key_arn, conns, secs, "self").await;
        let (a_tls, a_tls_cpu) = measure_cpu(&https, &key_arn, conns, secs, "self").await;
        let (moto_rps, moto_cpu) =
            measure_cpu(&m, &moto_key, conns, secs, &moto_pid.to_string()).await;
        server.shutdown().await;

        println!(
            "KMS GenerateDataKey+Decrypt pairs through the full stack ({secs} s per scenario, \
             {conns} keep-alive connections, {} cores shared by client and servers)",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        println!(
            "{:<14} {:>12} {:>12} {:>12} {:>10} {:>10}",
            "", "airlock HTTP", "airlock TLS", "moto HTTP", "HTTP/moto", "TLS/moto"
        );
        println!(
            "{:<14} {a_http:>10.0}/s {a_tls:>10.0}/s {moto_rps:>10.0}/s {:>9.1}x {:>9.1}x",
            "pairs",
            a_http / moto_rps,
            a_tls / moto_rps
        );
        let f = |v: Option<f64>| v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "n/a".into());
        let ratio = |a: Option<f64>| {
            a.zip(moto_cpu)
                .map(|(a, m)| format!("{:.1}x", a / m))
                .unwrap_or_else(|| "n/a".into())
        };
        println!(
            "{:<14} {:>10}/s {:>10}/s {:>10}/s {:>10} {:>10}   (pairs per CPU-second; airlock's includes the client)",
            "per CPU-s",
            f(a_http_cpu),
            f(a_tls_cpu),
            f(moto_cpu),
            ratio(a_http_cpu),
            ratio(a_tls_cpu)
        );
    });
    let _ = moto.kill();
    let _ = moto.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
