//! The one listener implementation: every socket the server accepts on — the main HTTP and
//! HTTPS ports, each VPC endpoint's pair, each instance's metadata service — goes through
//! [`serve`], so every one of them has the same limits:
//!
//! - a server-wide connection cap and a per-client (peer address) cap, checked at accept: a
//!   connection over either is closed at once, before anything is read from it;
//! - a header-read timeout, which also bounds how long an idle keep-alive connection is kept
//!   (hyper starts it as soon as it waits for the next request's head);
//! - a TLS handshake timeout;
//! - a body-read timeout between two pieces of a request body ([`crate::body::RequestBody`]);
//! - backoff on `accept` errors: running out of file descriptors (`EMFILE`) makes `accept`
//!   fail at once for as long as it lasts, and a loop that retries at once spins a core while
//!   the queued connections wait.
//!
//! The limits are [`Limits`], configurable through `airlock serve`'s flags (`--max-connections`,
//! `--max-connections-per-client`, `--header-read-timeout`, `--body-read-timeout`) and
//! documented in `docs/differences.md`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming as HyperBody;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::body::BoxError;

/// The limits every listener applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open connections over all listeners; one more is closed at accept.
    pub max_connections: usize,
    /// Open connections from one peer address over all listeners.
    pub max_connections_per_client: usize,
    /// Time to receive a request's head, counted from when the connection starts waiting for
    /// it: also how long an idle keep-alive connection is kept open.
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body; the request then fails with
    /// `RequestTimeout` and the connection is closed.
    pub body_read_timeout: Duration,
    /// Time to complete a TLS handshake.
    pub tls_handshake_timeout: Duration,
}

impl Default for Limits {
    /// 4096 connections, 1024 per client, 20 s to send a head (S3 closes idle connections
    /// after about 20 s too), 20 s of silence within a body, 10 s for a TLS handshake.
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_client: 1024,
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(20),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Open connections, counted over every listener of one server.
#[derive(Debug)]
pub struct Connections {
    limits: Limits,
    open: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    refused: AtomicUsize,
    last_warning: Mutex<Option<Instant>>,
}

/// A connection's place under the caps, given back when it is dropped.
#[derive(Debug)]
pub struct Admitted {
    conns: Arc<Connections>,
    client: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.conns.open.fetch_sub(1, Ordering::AcqRel);
        if let Ok(mut m) = self.conns.per_client.lock()
            && let Some(n) = m.get_mut(&self.client)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server-wide cap is reached.
    Server,
    /// This client's cap is reached.
    Client,
}

impl Connections {
    /// Counters under `limits`.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Connections {
            limits,
            open: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            refused: AtomicUsize::new(0),
            last_warning: Mutex::new(None),
        })
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Connections closed at accept so far because a cap was reached.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Acquire)
    }

    /// Takes a place for a connection from `client`, if both caps allow it.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Admitted, Refusal> {
        let mut m = self.per_client.lock().map_err(|_| Refusal::Server)?;
        if self.open.load(Ordering::Acquire) >= self.limits.max_connections {
            return Err(Refusal::Server);
        }
        let n = m.entry(client).or_insert(0);
        if *n >= self.limits.max_connections_per_client {
            return Err(Refusal::Client);
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(Admitted {
            conns: self.clone(),
            client,
        })
    }

    /// Counts a refusal and warns at most once every 10 seconds.
    fn refuse(&self, peer: SocketAddr, why: Refusal) {
        self.refused.fetch_add(1, Ordering::AcqRel);
        if self.may_warn() {
            match why {
                Refusal::Server => tracing::warn!(
                    peer = %peer,
                    limit = self.limits.max_connections,
                    refused = self.refused(),
                    "connection closed: the server's connection limit is reached (--max-connections)"
                ),
                Refusal::Client => tracing::warn!(
                    peer = %peer,
                    limit = self.limits.max_connections_per_client,
                    refused = self.refused(),
                    "connection closed: this client's connection limit is reached (--max-connections-per-client)"
                ),
            }
        }
    }

    fn may_warn(&self) -> bool {
        let Ok(mut last) = self.last_warning.lock() else {
            return false;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(10)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// What a handler knows of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// TLS version and cipher suite, for connections of a TLS listener.
    pub tls: Option<(Option<&'static str>, Option<&'static str>)>,
}

/// The response type of every handler.
pub type Response = http::Response<UnsyncBoxBody<Bytes, BoxError>>;

/// Accepts connections on `listener` until `stop` changes, serving each request with
/// `handler`, under the limits of `conns`. Open connections are closed when it returns.
pub async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    conns: Arc<Connections>,
    mut stop: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(http::Request<HyperBody>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::ZERO;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => {
                        backoff = Duration::ZERO;
                        a
                    }
                    Err(e) => {
                        if is_per_connection(&e) {
                            continue;
                        }
                        backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                        if conns.may_warn() {
                            tracing::warn!(error = %e, pause_ms = backoff.as_millis() as u64,
                                "accept failed (out of file descriptors?); pausing before the next accept");
                        }
                        tokio::select! {
                            _ = stop.changed() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        continue;
                    }
                };
                let admitted = match conns.admit(peer.ip()) {
                    Ok(a) => a,
                    Err(why) => {
                        conns.refuse(peer, why);
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (handler, tls, limits) = (handler.clone(), tls.clone(), conns.limits.clone());
                tasks.spawn(async move {
                    let _admitted = admitted;
                    match tls {
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream));
                            if let Ok(Ok(s)) = handshake.await {
                                let details = crate::tls::session_details(s.get_ref().1);
                                let peer = Peer { addr: peer, tls: Some(details) };
                                serve_connection(s, peer, &limits, handler).await;
                            }
                        }
                        None => serve_connection(stream, Peer { addr: peer, tls: None }, &limits, handler).await,
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

/// Errors of `accept` that concern one connection only (it was reset while queued): the next
/// accept may succeed at once.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

async fn serve_connection<S, H, F>(stream: S, peer: Peer, limits: &Limits, handler: H)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(http::Request<HyperBody>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: http::Request<HyperBody>| {
        let fut = handler(req, peer);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_client: usize) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_client: per_client,
            ..Limits::default()
        }
    }

    #[test]
    fn caps_are_per_server_and_per_client_and_given_back() {
        let c = Connections::new(limits(3, 2));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = c.admit(a).unwrap();
        let _a2 = c.admit(a).unwrap();
        assert_eq!(c.admit(a).unwrap_err(), Refusal::Client);
        let _b1 = c.admit(b).unwrap();
        assert_eq!(c.admit(b).unwrap_err(), Refusal::Server);
        assert_eq!(c.open(), 3);
        drop(a1);
        assert_eq!(c.open(), 2);
        let _b2 = c.admit(b).unwrap();
        assert_eq!(c.admit(b).unwrap_err(), Refusal::Server);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_over_its_cap_is_closed_at_once_and_others_are_served() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Connections::new(limits(100, 1));
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(serve(
            listener,
            None,
            conns.clone(),
            rx,
            |_req, _peer| async {
                use http_body_util::BodyExt;
                http::Response::new(
                    http_body_util::Full::new(Bytes::from_static(b"ok"))
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                )
            },
        ));
        // The first connection from 127.0.0.1 holds the client's only place.
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        first
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = first.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        // A second one from the same address is closed without an answer.
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = second.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
            .await
            .expect("closed, not held")
            .unwrap_or(0);
        assert_eq!(n, 0, "no answer over the cap");
        assert_eq!(conns.refused(), 1);
        drop(first);
        let _ = stop.send(true);
        task.await.unwrap();
    }
}
