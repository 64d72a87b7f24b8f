//! Soak of `airlock serve` under hostile clients, loopback only, bounded in time
//! (`AIRLOCK_SOAK_SECONDS`, default 60; the whole run stays under 2 minutes).
//!
//! The server runs in its own process with its default limits. Attackers connect from other
//! loopback addresses (127.0.0.10 and up), the measured client from 127.0.0.1:
//! - 2,000 idle connections, reopened whenever the server closes one;
//! - 300 slowloris clients sending a request head one byte per second, reopened likewise;
//! - 100 uploads of a 16 MiB form body held open before their last byte: half signed with an
//!   access key id nobody has, half with a real key id and a wrong signature (the server must
//!   buffer those to check the signature, within its body budget).
//!
//! Meanwhile one client sends signed S3 `ListBuckets` requests, one after another, each on a
//! new connection. Reported: that client's latency (p50, p99, max) and failures, the server's
//! RSS before, at its peak during the attack, and after the attackers leave (sampled until it
//! settles, at most 30 s), and its open connections as seen from `/proc`.
//!
//! `cargo bench -p airlock-server --bench soak`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD: &str = "AIRLOCK_SOAK_CHILD";

fn main() {
    if let Ok(dir) = std::env::var(CHILD) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = airlock_server::ServeConfig::new(&dir);
            let _server = airlock_server::Server::start(config)
                .await
                .expect("airlock starts");
            std::future::pending::<()>().await;
        });
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn credentials(dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(dir.join("aws/credentials")).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().strip_prefix('='))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

/// The head of a signed `ListBuckets`.
fn list_buckets(port: u16, key: &str, secret: &str) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let host = format!("127.0.0.1:{port}");
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "soak").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [("host", host.as_str())];
    let req = SignableRequest::new(
        "GET",
        format!("http://{host}/"),
        headers.into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instr, _) = sign(req, &params).unwrap().into_parts();
    let mut head = format!("GET / HTTP/1.1\r\nhost: {host}\r\n");
    for (k, v) in instr.headers() {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    head
}

async fn connect_from(n: u32, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(127, 0, 0, 10)) + n);
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((ip, 0)))?;
    s.connect(to).await
}

async fn run() {
    let seconds: u64 = std::env::var("AIRLOCK_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
        .clamp(5, 90);
    let dir = std::env::temp_dir().join(format!("airlock-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Child(
        std::process::Command::new(std::env::current_exe().unwrap())
            .env(CHILD, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the server"),
    );
    let pid = child.0.id();
    let info = wait_for_server(&dir);
    let port = info["http_port"].as_u64().unwrap() as u16;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (key, secret) = credentials(&dir);

    // Warm up, then the baseline.
    for _ in 0..50 {
        let _ = one_request(addr, &list_buckets(port, &key, &secret)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_mib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    // `AIRLOCK_SOAK_ATTACKS` (default `idle,slowloris,bodies`) picks the attackers.
    let attacks = std::env::var("AIRLOCK_SOAK_ATTACKS")
        .unwrap_or_else(|_| "idle,slowloris,bodies".to_string());
    let on = |name: &str| attacks.split(',').any(|a| a.trim() == name);
    println!(
        "soak: server pid {pid}, RSS before {rss_before:.1} MiB, {seconds} s of attack ({attacks})"
    );
    let (idle_n, slow_n, body_n) = (
        if on("idle") { 2000u32 } else { 0 },
        if on("slowloris") { 300u32 } else { 0 },
        if on("bodies") { 100u32 } else { 0 },
    );
    for i in 0..idle_n {
        attackers.push(tokio::spawn(idle(
            i / 100,
            addr,
            stop.clone(),
            opened.clone(),
        )));
    }
    for i in 0..slow_n {
        attackers.push(tokio::spawn(slowloris(
            20 + i / 100,
            addr,
            stop.clone(),
            opened.clone(),
        )));
    }
    let date = airlock_server::sigv4::format_amz_date(SystemTime::now());
    for i in 0..body_n {
        let key_id = if i % 2 == 0 {
            "AKIANOBODYHASTHIS00".to_string()
        } else {
            key.clone()
        };
        attackers.push(tokio::spawn(held_body(
            30 + i / 50,
            addr,
            key_id,
            date.clone(),
            stop.clone(),
            opened.clone(),
        )));
    }

    // The measured client.
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failures = 0u64;
    let mut peak_rss = rss_before;
    let mut peak_fds = 0;
    let mut last_sample = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        match one_request(addr, &list_buckets(port, &key, &secret)).await {
            Ok(true) => latencies.push(t.elapsed()),
            _ => failures += 1,
        }
        if last_sample.elapsed() > Duration::from_millis(250) {
            peak_rss = peak_rss.max(rss_mib(pid));
            peak_fds = peak_fds.max(open_fds(pid));
            last_sample = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for a in attackers {
        a.abort();
    }
    // After the attackers leave: RSS as it settles (sampled for up to 30 s).
    let left = Instant::now();
    let mut rss_after = rss_mib(pid);
    while left.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_after = rss_mib(pid);
        if rss_after <= rss_before + 20.0 {
            break;
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "soak: client {} requests, {} failed; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 100 ms)",
        latencies.len(),
        failures,
        pct(0.50),
        pct(0.99),
        latencies
            .last()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    );
    println!(
        "soak: attackers opened {} connections; server peak open fds {peak_fds}",
        opened.load(Ordering::SeqCst)
    );
    println!(
        "soak: server RSS before {rss_before:.1} MiB, peak {peak_rss:.1} MiB (target < 300), after {rss_after:.1} MiB \
         ({:+.1} MiB, target within 50) after {:.1} s",
        rss_after - rss_before,
        left.elapsed().as_secs_f64()
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_for_server(dir: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let path: PathBuf = dir.join("server.json");
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(v) = serde_json::from_str(&text)
        {
            return v;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request on a new connection; true for a 200 answer.
async fn one_request(addr: SocketAddr, head: &str) -> std::io::Result<bool> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    s.write_all(head.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .map_err(|_| std::io::Error::other("answer timed out"))??;
    Ok(out.starts_with(b"HTTP/1.1 200"))
}

async fn idle(from: u32, addr: SocketAddr, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect_from(from, addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 64];
        let _ = s.read(&mut b).await;
    }
}

async fn slowloris(from: u32, addr: SocketAddr, stop: Arc<AtomicBool>, opened: Arc<AtomicU64>) {
    let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect_from(from, addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        for b in head.iter().cycle() {
            if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn held_body(
    from: u32,
    addr: SocketAddr,
    key_id: String,
    date: String,
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicU64>,
) {
    const LEN: usize = 16 * 1024 * 1024;
    let day = &date[..8];
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Amz-Date: {date}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={key_id}/{day}/us-east-1/sts/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00\r\nContent-Length: {LEN}\r\n\r\n"
    );
    let chunk = vec![b'a'; 1024 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect_from(from, addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        if s.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        // All but the last byte, then hold (the server may answer and close at any point).
        let mut sent = 0;
        while sent < LEN - 1 {
            let n = chunk.len().min(LEN - 1 - sent);
            if s.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            sent += n;
        }
        let mut b = [0u8; 256];
        let _ = s.read(&mut b).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
