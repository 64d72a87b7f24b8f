//! S3 benchmark, in one run, each server in its own process on this machine:
//!
//! - 4 KiB PUT and GET operations per second with 16 concurrent clients against airlock
//!   (SigV4 with a signed payload hash, the engine deciding identity + bucket policy, SSE-KMS
//!   with a Bucket Key as in the seed, durable group commits), moto's server
//!   (`target/venv/bin/moto_server`), s3s-fs (no authentication, no encryption, no fsync), and
//!   two ceilings sent the same signed requests by the same client: a null server that answers
//!   without doing anything (the ceiling of this machine and load generator), and a durable null
//!   server that only appends each PUT's body to one file with one `fdatasync` per batch (the
//!   ceiling of any PUT that is durable before it is answered);
//! - 1 GiB PUT and GET throughput through airlock (one stream, plain HTTP, UNSIGNED-PAYLOAD) as
//!   a ratio to single-core AES-256-GCM speed (aws-lc-rs) measured in the same run, and
//!   airlock's CPU seconds per GiB, beside three ceilings: the disk's own durable write speed
//!   (1 MiB writes, `fdatasync` every 32 MiB in a helper thread as airlock does), the null
//!   server streaming the same bytes (HTTP alone), and a crypto null server doing HTTP plus the
//!   per-byte work every encrypted transfer needs, and nothing else (PUT: CRC64NVME, the
//!   checksum S3 adds to uploads that name none, and AES-256-GCM sealing on a second thread;
//!   GET: AES-256-GCM opening on one thread per core; no disk, no metadata);
//! - airlock's peak RSS (VmHWM) while it receives the large upload;
//! - 4 KiB PUT and GET with the audit trail recording data events versus not (two airlock
//!   processes, each operation measured on both back to back in alternating order,
//!   `AIRLOCK_BENCH_TRAIL_ROUNDS` times (default 5); the median of the per-round ratios and
//!   each server's CPU time per operation are reported).
//!
//! `cargo bench -p airlock-server --bench s3`. `AIRLOCK_BENCH_SECONDS` (default 5) sets each
//! ops/s phase's length, `AIRLOCK_BENCH_SMALL_ROUNDS` (default 3) how many rounds of every
//! server's 4 KiB phases run (in a rotated order; each ratio is the median of the rounds'), `AIRLOCK_BENCH_LARGE_GIB` (default 1; 0 skips the large-object phases)
//! the large object's size, `AIRLOCK_BENCH_LARGE_ROUNDS` (default 3) how many times it is put
//! and got (each next to its own baselines; the median ratio is reported),
//! `AIRLOCK_BENCH_RSS_GIB` (default 5, 0 skips it) the size of the upload whose peak RSS is
//! reported. `AIRLOCK_BENCH_TRAIL_ONLY=1` runs only the audit-trail phase,
//! `AIRLOCK_BENCH_LARGE_ONLY=1` only the large-object phases, `AIRLOCK_BENCH_AIRLOCK_SMALL_ONLY=1`
//! only airlock's 4 KiB phases (for profiling).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The allocator of the `airlock` binary, so the child servers run as `airlock serve` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD: &str = "AIRLOCK_S3_BENCH_CHILD";
const CONCURRENCY: usize = 16;
const SMALL: usize = 4096;
const BUCKET: &str = "bench-bucket";

type Body = UnsyncBoxBody<Bytes, std::convert::Infallible>;

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        child(&mode);
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

// ---------------------------------------------------------------- child processes

fn child(mode: &str) {
    let (kind, dir) = mode.split_once(':').expect("KIND:DIR");
    let dir = PathBuf::from(dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match kind {
        "airlock" | "airlock-nodata" => rt.block_on(async {
            let mut config = airlock_server::ServeConfig::new(&dir);
            config.accounts = vec![("222222222222".into(), "account-b".into())];
            config.cloudtrail_data_events = kind == "airlock";
            let _server = airlock_server::Server::start(config)
                .await
                .expect("airlock starts");
            std::future::pending::<()>().await;
        }),
        "s3s-fs" => rt.block_on(async {
            let root = dir.join("root");
            std::fs::create_dir_all(&root).unwrap();
            let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs root");
            let service = s3s::service::S3ServiceBuilder::new(fs).build();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            std::fs::write(
                dir.join("port"),
                listener.local_addr().unwrap().port().to_string(),
            )
            .unwrap();
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let _ = socket.set_nodelay(true);
                let conn = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        }),
        // The ceiling of this machine and load generator: an HTTP server that does no work
        // (no authentication, no storage) and answers every GET and HEAD with 4 KiB (`/large`:
        // `AIRLOCK_BENCH_LARGE_GIB` GiB streamed). `null-durable` also makes each PUT's body
        // durable before answering, as cheaply as possible: appended to one file, group-committed
        // with one `fdatasync` per batch (the least any durable store must do).
        "null" | "null-durable" => {
            rt.block_on(null_server(&dir, kind == "null-durable", false, false))
        }
        // The floor: the work the S3 issue requires of every request and nothing else (see
        // [`Floor`]). `null-floor-large` first writes the sealed large object its GETs read
        // (1 GiB by default); the 4 KiB phases' floor does not, so no gigabyte of writeback
        // runs under them.
        "null-floor" | "null-floor-large" => {
            if kind == "null-floor-large" {
                let large: u64 = env_or("AIRLOCK_BENCH_LARGE_GIB", 1u64) << 30;
                write_sealed_chunks(&dir.join(Floor::SEALED), large);
            }
            rt.block_on(null_server(&dir, true, false, true))
        }
        // The ceiling of a large transfer that does the per-byte work any airlock must do, and
        // nothing else: a PUT's body goes through CRC64NVME (the checksum S3 adds to every
        // upload that names none) and AES-256-GCM sealing (out of place, no copy), then is
        // dropped; a GET's body is AES-256-GCM opened (out of place, into recycled buffers) from
        // ciphertext held in memory. No disk, no metadata, no authorization.
        "null-crypto" => rt.block_on(null_server(&dir, false, true, false)),
        other => panic!("unknown child {other}"),
    }
}

async fn null_server(dir: &Path, durable: bool, crypto: bool, floor: bool) {
    let large: u64 = env_or("AIRLOCK_BENCH_LARGE_GIB", 1u64) << 30;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    std::fs::write(
        dir.join("port"),
        listener.local_addr().unwrap().port().to_string(),
    )
    .unwrap();
    let object = Bytes::from(vec![0x5au8; SMALL]);
    let log = durable.then(|| group_commit_log(&dir.join("log")));
    let floor = floor.then(|| Arc::new(Floor::new(dir)));
    loop {
        let (socket, _) = listener.accept().await.unwrap();
        let _ = socket.set_nodelay(true);
        let object = object.clone();
        let log = log.clone();
        let floor = floor.clone();
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let object = object.clone();
                let log = log.clone();
                let floor = floor.clone();
                async move {
                    let method = req.method().clone();
                    let is_large = req.uri().path().ends_with("/large");
                    let (parts, mut body) = req.into_parts();
                    let mut small = Vec::new();
                    // CRC64NVME here, sealing on its own thread (as airlock's writer thread).
                    let large_work = (crypto || floor.is_some()) && is_large;
                    let mut crc = large_work.then(|| {
                        airlock_s3::checksum::Hasher::new(
                            airlock_s3::checksum::ChecksumAlgorithm::Crc64Nvme,
                        )
                    });
                    let large_put = large_work && method == http::Method::PUT;
                    let durable_out = floor
                        .as_ref()
                        .filter(|_| large_put)
                        .map(|f| DurableFile::create(&f.large_out));
                    let sealer = large_put.then(|| {
                        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
                        let thread = std::thread::spawn(move || {
                            let mut s = Sealer::new(durable_out);
                            let mut rx = rx;
                            while let Some(d) = rx.blocking_recv() {
                                s.seal(&d);
                            }
                            std::hint::black_box(s.finish());
                        });
                        (tx, thread)
                    });
                    while let Some(Ok(frame)) = body.frame().await {
                        match (frame.into_data(), is_large) {
                            (Ok(d), false) => small.extend_from_slice(&d),
                            (Ok(d), true) => {
                                if let (Some(c), Some((tx, _))) = (&mut crc, &sealer) {
                                    c.update(&d);
                                    tx.send(d).await.unwrap();
                                }
                            }
                            _ => {}
                        }
                    }
                    if let (Some(c), Some((tx, thread))) = (crc, sealer) {
                        drop(tx);
                        std::hint::black_box(c.finish());
                        tokio::task::spawn_blocking(move || thread.join().unwrap())
                            .await
                            .unwrap();
                    }
                    let mut small = Bytes::from(small);
                    let mut object = object;
                    if let Some(f) = &floor {
                        f.verify(&parts, (!is_large).then_some(&small[..]));
                        match (&method, is_large) {
                            (&http::Method::PUT, false) => small = f.seal(&small),
                            (&http::Method::GET, false) => object = f.open(),
                            _ => {}
                        }
                    }
                    if let (Some(log), true) = (&log, method == http::Method::PUT && !is_large) {
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        log.send((small, tx)).unwrap();
                        rx.await.unwrap();
                    }
                    let body: Body = match (&method, is_large) {
                        (&http::Method::GET, true) if crypto => {
                            Opening::new(large, None).boxed_unsync()
                        }
                        (&http::Method::GET, true) if let Some(f) = &floor => {
                            Opening::new(large, Some(f.large_sealed.clone())).boxed_unsync()
                        }
                        (&http::Method::GET, true) => Repeat {
                            block: Bytes::from(vec![0x5au8; 1 << 20]),
                            left: large,
                        }
                        .boxed_unsync(),
                        (&http::Method::GET, false) => full(object),
                        _ => full(Bytes::new()),
                    };
                    let mut resp = http::Response::new(body);
                    if method == http::Method::HEAD {
                        resp.headers_mut().insert("content-length", SMALL.into());
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                .await;
        });
    }
}

const CRYPTO_CHUNK: usize = 64 * 1024;

/// The floor server's work (`null-floor`): the durable null server's, plus on every request
/// SigV4 verification with airlock's verifier (payload hash included); for 4 KiB, AES-256-GCM
/// sealing of a PUT's body before the append and opening of a sealed 4 KiB for a GET; for the
/// large object, the crypto null server's work with the sealed upload written durably to
/// [`Floor::large_out`] and GETs read from [`Floor::large_sealed`]. No policy, no KMS, no
/// metadata index, no versions, no audit record.
struct Floor {
    key: aws_lc_rs::aead::LessSafeKey,
    count: std::sync::atomic::AtomicU64,
    sealed: Vec<u8>,
    /// Where a large PUT's sealed body goes.
    large_out: PathBuf,
    /// The sealed large object GETs read (written by [`write_sealed_chunks`]).
    large_sealed: PathBuf,
}

impl Floor {
    /// File name of the sealed large object in the server's directory.
    const SEALED: &str = "large-sealed";

    fn new(dir: &Path) -> Floor {
        let key = bench_key();
        let mut sealed = vec![0x5au8; SMALL];
        key.seal_in_place_append_tag(bench_nonce(0), aws_lc_rs::aead::Aad::empty(), &mut sealed)
            .unwrap();
        Floor {
            key,
            count: std::sync::atomic::AtomicU64::new(1),
            sealed,
            large_out: dir.join("large"),
            large_sealed: dir.join(Self::SEALED),
        }
    }

    /// Panics unless the request carries a valid signature by the bench's null-server key.
    fn verify(&self, parts: &http::request::Parts, body: Option<&[u8]>) {
        let signed = airlock_server::sigv4::parse(&parts.headers, &[])
            .expect("signature parses")
            .expect("request is signed");
        let request = airlock_server::sigv4::RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            body,
        };
        airlock_server::sigv4::verify(&signed, &request, NULL_SECRET, true)
            .expect("signature verifies");
    }

    fn seal(&self, data: &[u8]) -> Bytes {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::with_capacity(data.len() + 16);
        out.extend_from_slice(data);
        self.key
            .seal_in_place_append_tag(bench_nonce(n), aws_lc_rs::aead::Aad::empty(), &mut out)
            .unwrap();
        Bytes::from(out)
    }

    fn open(&self) -> Bytes {
        let mut data = self.sealed.clone();
        let n = self
            .key
            .open_in_place(bench_nonce(0), aws_lc_rs::aead::Aad::empty(), &mut data)
            .unwrap()
            .len();
        data.truncate(n);
        Bytes::from(data)
    }
}

/// The secret key the bench signs requests to its null servers with.
const NULL_SECRET: &str = "secret";

/// The credentials the bench signs requests to its null servers with.
fn null_credentials() -> Option<(String, String)> {
    Some(("AKIDNULLSERVER".to_string(), NULL_SECRET.to_string()))
}

fn bench_key() -> aws_lc_rs::aead::LessSafeKey {
    use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap())
}

fn bench_nonce(i: u64) -> aws_lc_rs::aead::Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    aws_lc_rs::aead::Nonce::assume_unique_for_key(n)
}

/// The least sealing work of an encrypted PUT: AES-256-GCM straight from the received frames
/// into one reused buffer (each frame sealed as one message, so nothing is copied).
struct Sealer {
    key: aws_lc_rs::aead::LessSafeKey,
    out: Vec<u8>,
    count: u64,
    /// The floor server's: where the sealed output goes, durably.
    file: Option<DurableFile>,
}

impl Sealer {
    fn new(file: Option<DurableFile>) -> Sealer {
        Sealer {
            key: bench_key(),
            out: vec![0u8; (1 << 20) + 16],
            count: 0,
            file,
        }
    }

    fn seal(&mut self, data: &[u8]) {
        for piece in data.chunks(1 << 20) {
            let out = &mut self.out[..piece.len() + 16];
            self.key
                .seal_in_place_scatter(
                    bench_nonce(self.count),
                    aws_lc_rs::aead::Aad::from(&self.count.to_be_bytes()),
                    &mut [],
                    piece,
                    out,
                )
                .unwrap();
            self.count += 1;
            if let Some(f) = &mut self.file {
                f.write(out);
            }
        }
    }

    fn finish(mut self) -> u8 {
        if let Some(f) = self.file.take() {
            f.finish();
        }
        self.out[0]
    }
}

/// A GET body of `left` bytes produced as a decrypting GET must: 1 MiB blocks, each sixteen
/// 64 KiB AES-256-GCM chunks opened out of place from ciphertext held in memory into a buffer
/// recycled once the response has sent it. One thread per core opens every n-th block and the
/// body takes them round robin (as airlock's striped read). With `source` (the floor server),
/// the ciphertext is read from that file (written by [`write_sealed_chunks`]) instead.
struct Opening {
    blocks: Vec<tokio::sync::mpsc::Receiver<Bytes>>,
    next: usize,
    left: u64,
}

impl Opening {
    fn new(left: u64, source: Option<PathBuf>) -> Opening {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let blocks = left.div_ceil(1 << 20);
        let receivers = (0..threads)
            .map(|phase| {
                let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
                let source = source.clone();
                std::thread::spawn(move || {
                    let key = bench_key();
                    let file = source.map(|p| std::fs::File::open(p).unwrap());
                    // The ciphertext of one MiB: held in memory, or read into it from the file.
                    let mut sealed = sealed_block(&key);
                    let pool = airlock_s3::pool::BufferPool::default();
                    let mut block = phase as u64;
                    while block < blocks {
                        let n = (1u64 << 20).min(left - (block << 20)) as usize;
                        let mut buf = pool.take(1 << 20);
                        if let Some(f) = &file {
                            use std::os::unix::fs::FileExt as _;
                            let at = block * sealed.len() as u64;
                            f.read_exact_at(&mut sealed, at).unwrap();
                        }
                        for (i, unit) in sealed.chunks(CRYPTO_CHUNK + 16).enumerate() {
                            let (chunk, tag) = unit.split_at(CRYPTO_CHUNK);
                            key.open_separate_gather(
                                bench_nonce(i as u64),
                                aws_lc_rs::aead::Aad::from(&(i as u64).to_be_bytes()),
                                chunk,
                                tag,
                                &mut buf[i * CRYPTO_CHUNK..(i + 1) * CRYPTO_CHUNK],
                            )
                            .unwrap();
                        }
                        if tx.blocking_send(pool.share(buf, n)).is_err() {
                            return;
                        }
                        block += threads as u64;
                    }
                });
                rx
            })
            .collect();
        Opening {
            blocks: receivers,
            next: 0,
            left,
        }
    }
}

impl http_body::Body for Opening {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let next = self.next;
        match self.blocks[next].poll_recv(cx) {
            Poll::Ready(Some(b)) => {
                self.left -= b.len() as u64;
                self.next = (next + 1) % self.blocks.len();
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// One MiB of plaintext as [`Opening`] reads it: sixteen 64 KiB chunks, each ciphertext then
/// tag, chunk `i` sealed with nonce `i`.
fn sealed_block(key: &aws_lc_rs::aead::LessSafeKey) -> Vec<u8> {
    let mut block = Vec::with_capacity(16 * (CRYPTO_CHUNK + 16));
    for i in 0..16u64 {
        let mut chunk = vec![0x5au8; CRYPTO_CHUNK];
        let tag = key
            .seal_in_place_separate_tag(
                bench_nonce(i),
                aws_lc_rs::aead::Aad::from(&i.to_be_bytes()),
                &mut chunk,
            )
            .unwrap();
        block.extend_from_slice(&chunk);
        block.extend_from_slice(tag.as_ref());
    }
    block
}

/// Writes `len` bytes' worth of [`sealed_block`]s to `path`.
fn write_sealed_chunks(path: &Path, len: u64) {
    use std::io::Write as _;
    let block = sealed_block(&bench_key());
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..len.div_ceil(1 << 20) {
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
}

type LogEntry = (Bytes, tokio::sync::oneshot::Sender<()>);

/// An append-only file written by one thread: it takes every waiting entry, appends them all,
/// `fdatasync`s once, then answers them all.
fn group_commit_log(path: &Path) -> std::sync::mpsc::Sender<LogEntry> {
    use std::io::Write as _;
    let (tx, rx) = std::sync::mpsc::channel::<LogEntry>();
    let mut file = std::fs::File::create(path).unwrap();
    std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            for (data, _) in &batch {
                file.write_all(data).unwrap();
            }
            file.sync_data().unwrap();
            for (_, done) in batch {
                let _ = done.send(());
            }
        }
    });
    tx
}

struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_self(kind: &str, dir: &Path) -> Proc {
    Proc(
        std::process::Command::new(std::env::current_exe().unwrap())
            .env(CHILD, format!("{kind}:{}", dir.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn child"),
    )
}

/// Starts child `kind` (a server that writes its port to `dir/port`) in `dir`, and a client
/// for it named `name`, signing with `creds` if given.
fn start_child(
    kind: &str,
    dir: &Path,
    name: &'static str,
    creds: Option<(String, String)>,
) -> (Proc, Target) {
    std::fs::create_dir_all(dir).unwrap();
    let child = spawn_self(kind, dir);
    let port = wait_for(kind, || std::fs::read_to_string(dir.join("port")).ok());
    (
        child,
        Target::new(name, format!("http://127.0.0.1:{port}"), creds),
    )
}

fn wait_for(what: &str, mut f: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------- client

#[derive(Clone)]
struct Target {
    name: &'static str,
    endpoint: String,
    creds: Option<(String, String)>,
    client: Client<HttpConnector, Body>,
    /// The server's process, when its CPU time per operation is reported.
    pid: Option<u32>,
}

/// User + system CPU time of process `pid` so far, in seconds (Linux `/proc`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // Clock ticks; 100 per second on Linux (USER_HZ).
    Some((utime + stime) / 100.0)
}

fn full(b: Bytes) -> Body {
    http_body_util::Full::new(b).boxed_unsync()
}

fn sha256_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl Target {
    fn new(name: &'static str, endpoint: String, creds: Option<(String, String)>) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(http);
        Target {
            name,
            endpoint,
            creds,
            client,
            pid: None,
        }
    }

    /// A request, SigV4-signed if the target has credentials. `payload` is the declared
    /// `x-amz-content-sha256`.
    fn request(
        &self,
        method: &str,
        path_query: &str,
        extra: &[(&str, &str)],
        payload: &str,
        body: Body,
        service: &str,
    ) -> http::Request<Body> {
        let uri = format!("{}{}", self.endpoint, path_query);
        let host = self.endpoint.trim_start_matches("http://").to_string();
        let mut b = http::Request::builder()
            .method(method)
            .uri(&uri)
            .header("host", &host);
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let mut req = b.body(body).unwrap();
        if let Some((ak, sk)) = &self.creds {
            let now = SystemTime::now();
            req.headers_mut()
                .insert("x-amz-content-sha256", payload.parse().unwrap());
            let identity: Identity = Credentials::new(ak, sk, None, None, "bench").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name(service)
                .time(now)
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect();
            let signable = SignableRequest::new(
                method,
                &uri,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Precomputed(payload.to_string()),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            instructions.apply_to_request_http1x(&mut req);
        }
        req
    }

    async fn send(&self, req: http::Request<Body>) -> (u16, Bytes) {
        let resp = self.client.request(req).await.expect("request sent");
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        (status, body)
    }

    async fn ok(
        &self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: Bytes,
        service: &str,
    ) -> Bytes {
        let hash = sha256_hex(&body);
        let req = self.request(method, path, extra, &hash, full(body), service);
        let (status, out) = self.send(req).await;
        assert!(
            status < 300,
            "{} {method} {path}: {status} {}",
            self.name,
            String::from_utf8_lossy(&out)
        );
        out
    }
}

/// Operations per second of one phase, the server's CPU time per operation (µs) if its
/// process is known, and the whole machine's: CPU time per operation (client, server and
/// kernel, µs) and how busy its cores were (0 to 1).
#[derive(Clone, Copy)]
struct Rate {
    ops: f64,
    cpu_us: Option<f64>,
    machine_us: f64,
    busy: f64,
}

/// The machine's busy and idle CPU time so far, in seconds, from `/proc/stat` (busy: user,
/// nice, system, irq, softirq; idle: idle, iowait; time stolen by the hypervisor is neither).
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0);
    (
        (at(0) + at(1) + at(2) + at(5) + at(6)) / 100.0,
        (at(3) + at(4)) / 100.0,
    )
}

/// Runs `op` from 16 concurrent clients for `secs`, measuring the server process `pid`.
async fn ops_per_second<F, Fut>(secs: f64, pid: Option<u32>, op: F) -> Rate
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let cpu_before = pid.and_then(cpu_seconds);
    let machine_before = machine_cpu();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY as u64 {
        let op = op.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < stop {
                op(w * 1_000_000 + i).await;
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed) as f64;
    let cpu_us = match (cpu_before, pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) if n > 0.0 => Some((b - a) * 1e6 / n),
        _ => None,
    };
    let machine_after = machine_cpu();
    let busy = machine_after.0 - machine_before.0;
    let idle = machine_after.1 - machine_before.1;
    Rate {
        ops: n / start.elapsed().as_secs_f64(),
        cpu_us,
        machine_us: busy * 1e6 / n.max(1.0),
        busy: busy / (busy + idle).max(1e-9),
    }
}

async fn small_ops(t: &Target, secs: f64) -> (Rate, Rate) {
    let put = small_puts(t, secs).await;
    (put, small_gets(t, secs).await)
}

/// 4 KiB PUTs of keys `k{client * 1e6 + i}` (each run overwrites the same keys from 0).
async fn small_puts(t: &Target, secs: f64) -> Rate {
    let body = Bytes::from(vec![0x5au8; SMALL]);
    let hash = sha256_hex(&body);
    let put = {
        let t = t.clone();
        let body = body.clone();
        let hash = hash.clone();
        move |i: u64| {
            let t = t.clone();
            let body = body.clone();
            let hash = hash.clone();
            async move {
                let req = t.request(
                    "PUT",
                    &format!("/{BUCKET}/k{i}"),
                    &[("content-length", "4096")],
                    &hash,
                    full(body),
                    "s3",
                );
                let (status, out) = t.send(req).await;
                assert_eq!(
                    status,
                    200,
                    "{} PUT: {}",
                    t.name,
                    String::from_utf8_lossy(&out)
                );
            }
        }
    };
    ops_per_second(secs, t.pid, put).await
}

/// 4 KiB GETs of the objects an earlier [`small_puts`] stored (up to 50 per client).
async fn small_gets(t: &Target, secs: f64) -> Rate {
    // The slowest server may have stored only a few objects per client: read what exists.
    let mut stored = vec![0u64; CONCURRENCY];
    for (w, n) in stored.iter_mut().enumerate() {
        let mut lo = 0u64;
        let mut hi = 1u64;
        while object_exists(t, w as u64 * 1_000_000 + hi).await && hi < 1 << 20 {
            lo = hi;
            hi *= 2;
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if object_exists(t, w as u64 * 1_000_000 + mid).await {
                lo = mid
            } else {
                hi = mid
            }
        }
        *n = (lo + 1).min(50);
    }
    let stored = Arc::new(stored);
    let get = {
        let t = t.clone();
        move |i: u64| {
            let t = t.clone();
            let stored = stored.clone();
            async move {
                let w = (i / 1_000_000) as usize;
                let key = format!("k{}", w as u64 * 1_000_000 + (i % 1_000_000) % stored[w]);
                let req = t.request(
                    "GET",
                    &format!("/{BUCKET}/{key}"),
                    &[],
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    full(Bytes::new()),
                    "s3",
                );
                let (status, out) = t.send(req).await;
                assert!(
                    status == 200 && out.len() == SMALL,
                    "{} GET {key}: {status}",
                    t.name
                );
            }
        }
    };
    ops_per_second(secs, t.pid, get).await
}

async fn object_exists(t: &Target, n: u64) -> bool {
    let req = t.request(
        "HEAD",
        &format!("/{BUCKET}/k{n}"),
        &[],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        full(Bytes::new()),
        "s3",
    );
    t.send(req).await.0 == 200
}

/// A body of `total` bytes made of one 1 MiB block repeated (no large buffer in the client).
struct Repeat {
    block: Bytes,
    left: u64,
}

impl http_body::Body for Repeat {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = (self.block.len() as u64).min(self.left) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.block.slice(..n)))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// How fast this machine's disk takes `total` bytes durably, written as airlock writes a
/// large object: sequential 1 MiB writes into a new file beside airlock's data while a helper
/// thread `fdatasync`s every 32 MiB (the writes go on meanwhile), then a final `fdatasync`.
/// What a durable PUT must at least do.
fn durable_write_mib_s(dir: &Path, total: u64) -> f64 {
    let path = dir.join("durable-write-probe");
    let block = vec![0x3cu8; 1 << 20];
    let start = Instant::now();
    let mut f = DurableFile::create(&path);
    let mut done = 0u64;
    while done < total {
        f.write(&block);
        done += block.len() as u64;
    }
    f.finish();
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    done as f64 / (1 << 20) as f64 / secs
}

/// A file written as airlock writes object data: sequential writes, an `fdatasync` every
/// 32 MiB in a helper thread behind them, and a last one at the end.
struct DurableFile {
    file: std::fs::File,
    written: u64,
    tx: Option<std::sync::mpsc::Sender<()>>,
    syncer: Option<std::thread::JoinHandle<()>>,
}

impl DurableFile {
    fn create(path: &Path) -> DurableFile {
        let file = std::fs::File::create(path).unwrap();
        let clone = file.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let syncer = std::thread::spawn(move || {
            while rx.recv().is_ok() {
                while rx.try_recv().is_ok() {}
                clone.sync_data().unwrap();
            }
        });
        DurableFile {
            file,
            written: 0,
            tx: Some(tx),
            syncer: Some(syncer),
        }
    }

    fn write(&mut self, data: &[u8]) {
        use std::io::Write as _;
        self.file.write_all(data).unwrap();
        let before = self.written >> 25;
        self.written += data.len() as u64;
        if self.written >> 25 != before
            && let Some(tx) = &self.tx
        {
            let _ = tx.send(());
        }
    }

    fn finish(mut self) {
        drop(self.tx.take());
        if let Some(s) = self.syncer.take() {
            s.join().unwrap();
        }
        self.file.sync_data().unwrap();
    }
}

fn aes_gcm_single_core_mib_s() -> f64 {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    let mut buf = vec![1u8; 64 * 1024];
    let total: u64 = 1 << 30;
    let start = Instant::now();
    let mut done = 0u64;
    let mut i = 0u64;
    while done < total {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&i.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(n),
                Aad::from(&i.to_be_bytes()),
                &mut buf,
            )
            .unwrap();
        let _ = std::hint::black_box(tag);
        done += buf.len() as u64;
        i += 1;
    }
    done as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64()
}

async fn run() {
    let secs: f64 = env_or("AIRLOCK_BENCH_SECONDS", 5.0);
    let large_gib: u64 = env_or("AIRLOCK_BENCH_LARGE_GIB", 1);
    let work = tempdir();
    println!(
        "S3 benchmark: {CONCURRENCY} concurrent clients, {SMALL}-byte objects, {secs} s per phase"
    );

    if std::env::var_os("AIRLOCK_BENCH_TRAIL_ONLY").is_some() {
        // The trail phase starts its own two servers.
        trail_phase(&work, secs).await;
        let _ = std::fs::remove_dir_all(&work);
        return;
    }

    // airlock (recording data events in the audit trail, as by default)
    let (airlock, airlock_t) = start_airlock("airlock", &work.join("airlock")).await;
    if std::env::var_os("AIRLOCK_BENCH_AIRLOCK_SMALL_ONLY").is_some() {
        // For profiling: airlock's 4 KiB phases alone.
        let (put, get) = small_ops(&airlock_t, secs).await;
        println!(
            "  airlock  4 KiB PUT {:>9.0} ops/s   GET {:>9.0} ops/s   server CPU per op: PUT {:.0} us, GET {:.0} us",
            put.ops,
            get.ops,
            put.cpu_us.unwrap_or(f64::NAN),
            get.cpu_us.unwrap_or(f64::NAN)
        );
        drop(airlock);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    if std::env::var_os("AIRLOCK_BENCH_LARGE_ONLY").is_none() {
        let (_s3s, s3s_t) = start_child("s3s-fs", &work.join("s3s"), "s3s-fs", None);
        s3s_t
            .ok("PUT", &format!("/{BUCKET}"), &[], Bytes::new(), "s3")
            .await;
        // The ceilings, sent requests signed like airlock's (the servers ignore the signature),
        // so the client's work is the same: the null server (this machine's ceiling under this
        // load generator) and the durable null server (the ceiling of a durable PUT).
        let (_null, null_t) = start_child("null", &work.join("null"), "null", null_credentials());
        let (_durable, durable_t) = start_child(
            "null-durable",
            &work.join("null-durable"),
            "durable",
            null_credentials(),
        );
        let (_floor, floor_t) = start_child(
            "null-floor",
            &work.join("null-floor"),
            "floor",
            null_credentials(),
        );

        // moto
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/moto_server");
        let moto = if venv.exists() {
            let port = free_port();
            let p = Proc(
                std::process::Command::new(&venv)
                    .args(["-p", &port.to_string()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("moto_server starts"),
            );
            wait_for("moto", || {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| String::new())
            });
            let t = Target::new(
                "moto",
                format!("http://127.0.0.1:{port}"),
                Some(("testing".into(), "testing".into())),
            );
            t.ok("PUT", &format!("/{BUCKET}"), &[], Bytes::new(), "s3")
                .await;
            Some((p, t))
        } else {
            println!(
                "moto_server not found at {} (run scripts/test-env.sh); skipping moto",
                venv.display()
            );
            None
        };

        // Rounds of every server, in an order rotated each round: this VM's speed drifts by a
        // factor of two within minutes, so each ratio is taken within one round and the median
        // of the rounds' ratios is reported.
        let rounds: usize = env_or("AIRLOCK_BENCH_SMALL_ROUNDS", 3).max(1);
        let targets: Vec<&Target> = [
            Some(&airlock_t),
            Some(&s3s_t),
            Some(&null_t),
            Some(&durable_t),
            Some(&floor_t),
            moto.as_ref().map(|(_, t)| t),
        ]
        .into_iter()
        .flatten()
        .collect();
        type Row<'a> = (&'a str, Rate, Rate);
        let mut rows: Vec<Vec<Row>> = Vec::new();
        for round in 0..rounds {
            let mut row = Vec::new();
            for k in 0..targets.len() {
                let t = targets[(k + round) % targets.len()];
                let (put, get) = small_ops(t, secs).await;
                println!(
                    "  round {}: {:<8} 4 KiB PUT {:>9.0} ops/s   GET {:>9.0} ops/s   machine CPU per op: PUT {:.0} us ({:.0}% busy), GET {:.0} us ({:.0}% busy)",
                    round + 1,
                    t.name,
                    put.ops,
                    get.ops,
                    put.machine_us,
                    put.busy * 100.0,
                    get.machine_us,
                    get.busy * 100.0
                );
                row.push((t.name, put, get));
            }
            rows.push(row);
        }
        let median_of = |name: &str, f: fn(&Row) -> f64| {
            median(
                rows.iter()
                    .filter_map(|r| r.iter().find(|x| x.0 == name).map(f))
                    .collect(),
            )
        };
        for t in &targets {
            println!(
                "  {:<8} 4 KiB PUT {:>9.0} ops/s   GET {:>9.0} ops/s   machine CPU per op: PUT {:.0} us, GET {:.0} us   (medians of {rounds} rounds)",
                t.name,
                median_of(t.name, |x| x.1.ops),
                median_of(t.name, |x| x.2.ops),
                median_of(t.name, |x| x.1.machine_us),
                median_of(t.name, |x| x.2.machine_us)
            );
        }
        let ratio = |num: &str, den: &str, label: &str, note: &str| {
            let per_round = |f: fn(&Row) -> f64| -> Vec<f64> {
                rows.iter()
                    .filter_map(|r| {
                        let a = r.iter().find(|x| x.0 == num)?;
                        let b = r.iter().find(|x| x.0 == den)?;
                        Some(f(a) / f(b))
                    })
                    .collect()
            };
            let (put, get) = (per_round(|x| x.1.ops), per_round(|x| x.2.ops));
            if put.is_empty() {
                return;
            }
            let range = |v: &[f64]| {
                let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = v.iter().cloned().fold(0.0, f64::max);
                format!("{lo:.2}-{hi:.2}")
            };
            println!(
                "  {label}: PUT {:.2}x ({})  GET {:.2}x ({})   {note}",
                median(put.clone()),
                range(&put),
                median(get.clone()),
                range(&get)
            );
        };
        println!("  ratios, median of the rounds' ratios (range):");
        ratio("airlock", "s3s-fs", "airlock / s3s-fs", "(target >= 0.8x)");
        ratio("airlock", "moto", "airlock / moto", "(target >= 50x)");
        ratio(
            "null",
            "moto",
            "null server (no work at all) / moto",
            "(the ceiling of this machine and client)",
        );
        ratio(
            "durable",
            "moto",
            "durable null server (PUT = append + group fdatasync) / moto",
            "(its PUT: the ceiling of any durable PUT here)",
        );
        ratio(
            "floor",
            "moto",
            "floor server (durable null + SigV4 + AES-256-GCM) / moto",
            "(the least work the issue requires of a request)",
        );
        ratio("airlock", "null", "airlock / null server", "");
        ratio(
            "airlock",
            "durable",
            "airlock / durable null server",
            "(PUT is the comparison that counts)",
        );
        // What 50x moto leaves per operation of this machine's CPU, against what the servers
        // spent (client and kernel included).
        if targets.iter().any(|t| t.name == "moto") {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let budget = |f: fn(&Row) -> f64| cores * 1e6 / (50.0 * median_of("moto", f));
            println!(
                "  machine CPU per op at 50x moto ({cores} cores): PUT {:.0} us, GET {:.0} us; spent: airlock PUT {:.0} GET {:.0}, durable null PUT {:.0}, null PUT {:.0} GET {:.0} us",
                budget(|x| x.1.ops),
                budget(|x| x.2.ops),
                median_of("airlock", |x| x.1.machine_us),
                median_of("airlock", |x| x.2.machine_us),
                median_of("durable", |x| x.1.machine_us),
                median_of("null", |x| x.1.machine_us),
                median_of("null", |x| x.2.machine_us)
            );
        }
        drop(moto);
        drop(_floor);
        drop(_durable);
        drop(_null);
        drop(_s3s);
        trail_phase(&work, secs).await;
    }

    // Large object through a fresh airlock process (so its peak RSS is the upload's).
    drop(airlock);
    if large_gib == 0 {
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    let (airlock, airlock_t) = start_airlock("airlock", &work.join("airlock-large")).await;
    let airlock_pid = airlock.0.id();
    // Rounds of (AES baseline, disk baseline, PUT, AES baseline, GET): on a shared machine the
    // CPU and the disk drift by a factor of two within a minute, so each transfer is compared
    // with a baseline measured right next to it, and the median of the rounds' ratios is given.
    let rounds: usize = env_or("AIRLOCK_BENCH_LARGE_ROUNDS", 3).max(1);
    // The null server streams the large object too: the ceiling of HTTP on this machine.
    let (_null, null_t) = start_child("null", &work.join("null-large"), "null", None);
    // The crypto null server: the per-byte work of an encrypted transfer, nothing else.
    let (_crypto, crypto_t) = start_child("null-crypto", &work.join("null-crypto"), "crypto", None);
    // The floor server: the crypto null server's work plus SigV4 and the disk (the sealed PUT
    // written as airlock writes it, the GET read from a file).
    let (_floor, floor_t) = start_child(
        "null-floor-large",
        &work.join("null-floor-large"),
        "floor",
        null_credentials(),
    );
    let total = large_gib << 30;
    let rss_before = peak_rss_kib(airlock_pid).unwrap_or(0);
    let mut put_vs_aes = Vec::new();
    let mut put_vs_disk = Vec::new();
    let mut get_vs_aes = Vec::new();
    let mut null_put_vs_aes = Vec::new();
    let mut null_get_vs_aes = Vec::new();
    let mut disk_vs_aes = Vec::new();
    let mut crypto_put_vs_aes = Vec::new();
    let mut crypto_get_vs_aes = Vec::new();
    let mut floor_put_vs_aes = Vec::new();
    let mut floor_get_vs_aes = Vec::new();
    for round in 1..=rounds {
        let aes_put = aes_gcm_single_core_mib_s();
        let disk = durable_write_mib_s(&work, total);
        let null_put = put_streamed(&null_t, "large", total, 0xa5).await;
        let crypto_put = put_streamed(&crypto_t, "large", total, 0xa5).await;
        let floor_put = put_streamed(&floor_t, "large", total, 0xa5).await;
        let cpu0 = cpu_seconds(airlock_pid);
        let put = put_streamed(&airlock_t, "large", total, 0xa5).await;
        let cpu1 = cpu_seconds(airlock_pid);
        let aes_get = aes_gcm_single_core_mib_s();
        let null_get = get_streamed(&null_t, "large", total).await;
        let crypto_get = get_streamed(&crypto_t, "large", total).await;
        let floor_get = get_streamed(&floor_t, "large", total).await;
        let cpu2 = cpu_seconds(airlock_pid);
        let get = get_streamed(&airlock_t, "large", total).await;
        let cpu3 = cpu_seconds(airlock_pid);
        let per_gib = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (b - a) / large_gib as f64,
            _ => f64::NAN,
        };
        println!(
            "  round {round}: raw AES-256-GCM (aws-lc-rs, one core, 64 KiB chunks) {aes_put:.0} / {aes_get:.0} MiB/s; durable write on the data directory's disk ({large_gib} GiB in 1 MiB writes, fdatasync every 32 MiB behind them as airlock does) {disk:.0} MiB/s ({:.2}x AES); null server (HTTP only) PUT {null_put:.0} GET {null_get:.0} MiB/s; crypto null server (HTTP + CRC64NVME + AES-GCM) PUT {crypto_put:.0} ({:.2}x AES) GET {crypto_get:.0} MiB/s ({:.2}x AES)",
            disk / aes_put,
            crypto_put / aes_put,
            crypto_get / aes_get
        );
        println!(
            "  round {round}: floor server (crypto null + SigV4 + durable write / file read) PUT {floor_put:.0} MiB/s ({:.2}x AES) GET {floor_get:.0} MiB/s ({:.2}x AES)",
            floor_put / aes_put,
            floor_get / aes_get
        );
        crypto_put_vs_aes.push(crypto_put / aes_put);
        crypto_get_vs_aes.push(crypto_get / aes_get);
        floor_put_vs_aes.push(floor_put / aes_put);
        floor_get_vs_aes.push(floor_get / aes_get);
        println!(
            "  round {round}: {large_gib} GiB PUT {put:.0} MiB/s ({:.2}x AES, {:.2}x the disk)   GET {get:.0} MiB/s ({:.2}x AES)   airlock CPU per GiB: PUT {:.2} s, GET {:.2} s",
            put / aes_put,
            put / disk,
            get / aes_get,
            per_gib(cpu0, cpu1),
            per_gib(cpu2, cpu3)
        );
        put_vs_aes.push(put / aes_put);
        put_vs_disk.push(put / disk);
        get_vs_aes.push(get / aes_get);
        null_put_vs_aes.push(null_put / aes_put);
        null_get_vs_aes.push(null_get / aes_get);
        disk_vs_aes.push(disk / aes_put);
    }
    drop(_null);
    drop(_crypto);
    drop(_floor);
    println!(
        "  ceilings, median of {rounds} rounds: the disk {:.2}x AES; null server PUT {:.2}x AES, GET {:.2}x AES; crypto null server PUT {:.2}x AES, GET {:.2}x AES; floor server PUT {:.2}x AES, GET {:.2}x AES",
        median(disk_vs_aes),
        median(null_put_vs_aes),
        median(null_get_vs_aes),
        median(crypto_put_vs_aes),
        median(crypto_get_vs_aes),
        median(floor_put_vs_aes),
        median(floor_get_vs_aes)
    );
    let rss_after = peak_rss_kib(airlock_pid).unwrap_or(0);
    println!(
        "  {large_gib} GiB, median of {rounds} rounds: PUT {:.2}x AES ({:.2}x the disk)   GET {:.2}x AES   (target >= 0.5x AES)",
        median(put_vs_aes),
        median(put_vs_disk),
        median(get_vs_aes)
    );
    println!(
        "  airlock peak RSS: {:.1} MiB before the {large_gib} GiB uploads, {:.1} MiB after them",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    // Peak RSS while a larger object streams in (5 GiB by default).
    let rss_gib: u64 = env_or("AIRLOCK_BENCH_RSS_GIB", 5);
    if rss_gib > 0 {
        let req = airlock_t.request(
            "DELETE",
            &format!("/{BUCKET}/large"),
            &[],
            "UNSIGNED-PAYLOAD",
            full(Bytes::new()),
            "s3",
        );
        airlock_t.send(req).await;
        let put = put_streamed(&airlock_t, "larger", rss_gib << 30, 0x5a).await;
        println!(
            "  {rss_gib} GiB PUT {put:.0} MiB/s; airlock peak RSS {:.1} MiB (target < 100 MiB)",
            peak_rss_kib(airlock_pid).unwrap_or(0) as f64 / 1024.0
        );
    }
    drop(airlock);
    let _ = std::fs::remove_dir_all(&work);
}

/// PUTs `total` bytes of `fill` to `key` as one streamed, UNSIGNED-PAYLOAD request; MiB/s.
async fn put_streamed(t: &Target, key: &str, total: u64, fill: u8) -> f64 {
    let body = Repeat {
        block: Bytes::from(vec![fill; 1 << 20]),
        left: total,
    }
    .boxed_unsync();
    let len = total.to_string();
    let req = t.request(
        "PUT",
        &format!("/{BUCKET}/{key}"),
        &[("content-length", &len)],
        "UNSIGNED-PAYLOAD",
        body,
        "s3",
    );
    let start = Instant::now();
    let (status, out) = t.send(req).await;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(status, 200, "PUT {key}: {}", String::from_utf8_lossy(&out));
    (total >> 20) as f64 / secs
}

/// GETs `key` (`total` bytes), counting the body as it streams in; MiB/s.
async fn get_streamed(t: &Target, key: &str, total: u64) -> f64 {
    let req = t.request(
        "GET",
        &format!("/{BUCKET}/{key}"),
        &[],
        "UNSIGNED-PAYLOAD",
        full(Bytes::new()),
        "s3",
    );
    let start = Instant::now();
    let resp = t.client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200, "GET {key}");
    let mut body = resp.into_body();
    let mut got = 0u64;
    while let Some(f) = body.frame().await {
        if let Ok(d) = f.unwrap().into_data() {
            got += d.len() as u64;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(got, total, "GET {key}: body length");
    (total >> 20) as f64 / secs
}

/// The number in environment variable `name`, else `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Starts an airlock child (`airlock`: data events recorded; `airlock-nodata`: not) with the
/// seed's bucket (SSE-KMS with a customer key and a Bucket Key).
async fn start_airlock(kind: &str, airlock_dir: &Path) -> (Proc, Target) {
    let airlock = spawn_self(kind, airlock_dir);
    let airlock_pid = airlock.0.id();
    let info_text = wait_for("airlock", || {
        let t = std::fs::read_to_string(airlock_dir.join("server.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&t).ok()?;
        (v["pid"].as_u64() == Some(airlock_pid as u64)).then_some(t)
    });
    let info: serde_json::Value = serde_json::from_str(&info_text).unwrap();
    let creds =
        std::fs::read_to_string(info["aws_shared_credentials_file"].as_str().unwrap()).unwrap();
    let section = creds.split("[account-b]").nth(1).unwrap();
    let value = |k: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .trim()
            .to_string()
    };
    let mut airlock_t = Target::new(
        "airlock",
        info["http_endpoint"].as_str().unwrap().to_string(),
        Some((value("aws_access_key_id"), value("aws_secret_access_key"))),
    );
    airlock_t.pid = Some(airlock_pid);
    // The seed's bucket configuration: SSE-KMS with a customer key and a Bucket Key.
    let key = airlock_t
        .ok(
            "POST",
            "/",
            &[
                ("x-amz-target", "TrentService.CreateKey"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            Bytes::from_static(b"{}"),
            "kms",
        )
        .await;
    let key: serde_json::Value = serde_json::from_slice(&key).unwrap();
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    airlock_t
        .ok("PUT", &format!("/{BUCKET}"), &[], Bytes::new(), "s3")
        .await;
    let enc = format!(
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>{key_arn}</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"
    );
    let md5 = {
        use base64::Engine;
        let d = airlock_s3_md5(enc.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(d)
    };
    airlock_t
        .ok(
            "PUT",
            &format!("/{BUCKET}?encryption"),
            &[("content-md5", &md5)],
            Bytes::from(enc),
            "s3",
        )
        .await;

    (airlock, airlock_t)
}

/// 4 KiB PUT/GET with data events recorded in the audit trail versus not: each operation
/// measured on the two servers back to back, in alternating order, `AIRLOCK_BENCH_TRAIL_ROUNDS`
/// times (default 5), so drift on a shared machine hits both. Reports the mean rates and the median of the
/// per-round ratios. Both servers start empty here, so neither carries the other phases' data
/// and history.
async fn trail_phase(work: &Path, secs: f64) {
    let rounds: usize = env_or("AIRLOCK_BENCH_TRAIL_ROUNDS", 5).max(1);
    let (_on_proc, on) = start_airlock("airlock", &work.join("airlock-trail-on")).await;
    let (_off_proc, off) = start_airlock("airlock-nodata", &work.join("airlock-trail-off")).await;
    let on = &on;
    let mut on_runs: Vec<(Rate, Rate)> = Vec::new();
    let mut off_runs: Vec<(Rate, Rate)> = Vec::new();
    // Each operation is measured on the two servers back to back, the order swapped every
    // round (on-off, off-on, ...), so slow drift in the machine's speed hits both sides alike.
    for round in 0..rounds {
        let pair = if round % 2 == 0 {
            [on, &off]
        } else {
            [&off, on]
        };
        let mut puts = Vec::new();
        for t in pair {
            puts.push(small_puts(t, secs).await);
        }
        let mut gets = Vec::new();
        for t in pair {
            gets.push(small_gets(t, secs).await);
        }
        if round % 2 == 1 {
            puts.reverse();
            gets.reverse();
        }
        on_runs.push((puts[0], gets[0]));
        off_runs.push((puts[1], gets[1]));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let col = |runs: &[(Rate, Rate)], f: fn(&(Rate, Rate)) -> Option<f64>| -> Vec<f64> {
        runs.iter().filter_map(f).collect()
    };
    let ratios = |f: fn(&(Rate, Rate)) -> Option<f64>| -> Vec<f64> {
        on_runs
            .iter()
            .zip(&off_runs)
            .filter_map(|(a, b)| Some(f(a)? / f(b)?))
            .collect()
    };
    let put_ops: fn(&(Rate, Rate)) -> Option<f64> = |r| Some(r.0.ops);
    let get_ops: fn(&(Rate, Rate)) -> Option<f64> = |r| Some(r.1.ops);
    let put_cpu: fn(&(Rate, Rate)) -> Option<f64> = |r| r.0.cpu_us;
    let get_cpu: fn(&(Rate, Rate)) -> Option<f64> = |r| r.1.cpu_us;
    for (label, runs) in [("on ", &on_runs), ("off", &off_runs)] {
        println!(
            "  audit trail, data events {label}: 4 KiB PUT {:>9.0} ops/s   GET {:>9.0} ops/s   (mean of {rounds}); server CPU per op: PUT {:.0} us, GET {:.0} us",
            mean(&col(runs, put_ops)),
            mean(&col(runs, get_ops)),
            mean(&col(runs, put_cpu)),
            mean(&col(runs, get_cpu)),
        );
    }
    let (pr, gr) = (ratios(put_ops), ratios(get_ops));
    for (i, (p, g)) in pr.iter().zip(&gr).enumerate() {
        println!("    round {}: on/off PUT {p:.2}x  GET {g:.2}x", i + 1);
    }
    println!(
        "  server CPU per op, on / off (median of rounds): PUT {:.2}x  GET {:.2}x",
        median(ratios(put_cpu)),
        median(ratios(get_cpu)),
    );
    println!(
        "  data events on / off (median of rounds): PUT {:.2}x  GET {:.2}x   (target >= 0.9x)",
        median(pr),
        median(gr),
    );
}

fn airlock_s3_md5(data: &[u8]) -> [u8; 16] {
    airlock_s3::checksum::md5(data)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tempdir() -> PathBuf {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let p = std::env::temp_dir().join(format!("airlock-s3-bench-{name}"));
    std::fs::create_dir_all(&p).unwrap();
    p
}
