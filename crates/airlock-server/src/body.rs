//! Request and response bodies.
//!
//! Most services take a small buffered body; S3 objects stream in both directions, so the
//! listener hands the pipeline the body unread ([`RequestBody`]) and the pipeline buffers it
//! only for services that do not ask for the stream ([`crate::service::Service::streams_body`]).
//! Responses are either buffered bytes or a stream ([`ReplyBody`]).

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

/// The error type of body streams.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failure to read a request body.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit.
    #[error("the request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection failed while the body was read (client went away, bad framing).
    #[error("the request body could not be read: {0}")]
    Read(String),
    /// The client sent nothing for longer than the body-read timeout.
    #[error(
        "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
    )]
    Timeout,
    /// The server's budget for buffered bodies stayed full for the whole body-read patience.
    #[error("Please reduce your request rate.")]
    Busy,
}

/// How much memory the buffered bodies being read at once may hold, in units of
/// [`BodyBudget::UNIT`] bytes.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl BodyBudget {
    /// The unit of accounting.
    pub const UNIT: usize = 64 * 1024;
    /// How long a read waits for room before it fails with [`BodyError::Busy`].
    pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        BodyBudget {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new((bytes / Self::UNIT).max(1))),
        }
    }
}

/// A request body as it arrives on the connection, not yet read.
pub struct RequestBody {
    inner: UnsyncBoxBody<Bytes, BoxError>,
    /// Longest wait for the next piece of the body.
    read_timeout: Option<std::time::Duration>,
    /// The client sent `Expect: 100-continue`: it sends the body only once the server starts
    /// reading it.
    expects_continue: bool,
    /// Whether reading started (hyper has then sent `100 Continue`).
    started: bool,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("size_hint", &self.inner.size_hint())
            .finish()
    }
}

/// How much of a request body dropped unread ([`RequestBody`]'s `Drop`) is still read and
/// discarded, and for how long at most.
const DISCARD_LIMIT: u64 = 1024 * 1024;
const DISCARD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// A body dropped before its end (a request refused before its upload was read, by the
/// pipeline or by a service) is read on and discarded in the background, up to
/// [`DISCARD_LIMIT`] bytes within [`DISCARD_PATIENCE`]: the client, still sending, then reads
/// the error answer on a connection that stays open, instead of having its upload reset
/// (which SDKs retry, so the call would be made and recorded again). A larger or slower body is
/// let go; hyper then closes the connection after the answer.
///
/// A client that sent `Expect: 100-continue` and was answered before the body was read never
/// sends that body: reading it would make hyper send `100 Continue` after the final answer, and
/// the client's next request on the connection would be read as this body. Such a body is
/// left alone, and hyper closes the connection after the answer.
impl Drop for RequestBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() || self.inner.size_hint().lower() > DISCARD_LIMIT {
            return;
        }
        if self.expects_continue && !self.started {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut rest = std::mem::replace(
            &mut self.inner,
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        runtime.spawn(async move {
            let _ = tokio::time::timeout(DISCARD_PATIENCE, async {
                let mut read = 0u64;
                while let Some(Ok(frame)) = rest.frame().await {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if read > DISCARD_LIMIT {
                        break;
                    }
                }
            })
            .await;
        });
    }
}

impl RequestBody {
    /// Wraps any HTTP body (hyper's `Incoming` on a listener).
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        RequestBody {
            inner: body.map_err(Into::into).boxed_unsync(),
            read_timeout: None,
            expects_continue: false,
            started: false,
        }
    }

    /// Fails a read that waits longer than `timeout` for the next piece of the body.
    pub fn with_read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Marks a body whose client waits for `100 Continue` before sending it.
    pub fn expecting_continue(mut self, expects: bool) -> Self {
        self.expects_continue = expects;
        self
    }

    /// A body that is already in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self::new(http_body_util::Full::new(bytes.into()).map_err(|never| match never {}))
    }

    /// The next piece of data, `None` at the end. Trailers are skipped.
    pub async fn data(&mut self) -> Option<Result<Bytes, BodyError>> {
        self.started = true;
        loop {
            let frame = match self.read_timeout {
                Some(t) => match tokio::time::timeout(t, self.inner.frame()).await {
                    Ok(f) => f,
                    Err(_) => return Some(Err(BodyError::Timeout)),
                },
                None => self.inner.frame().await,
            };
            match frame? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data));
                    }
                }
                Err(e) => return Some(Err(BodyError::Read(e.to_string()))),
            }
        }
    }

    /// Reads the whole body, failing once it exceeds `limit` bytes, holding room in `budget`
    /// for the memory it allocates until it returns. The body is gathered in one buffer sized
    /// from `Content-Length` when the client declared one, room for all of it taken before the
    /// allocation; a body of unknown length is counted as it arrives and its buffer grows by
    /// doubling.
    pub async fn collect_within(
        mut self,
        limit: usize,
        budget: &BodyBudget,
    ) -> Result<Bytes, BodyError> {
        let declared = usize::try_from(self.inner.size_hint().lower()).unwrap_or(usize::MAX);
        if declared > limit {
            return Err(BodyError::TooLarge { limit });
        }
        let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
        let mut held_units = 0usize;
        let mut reserve = async |bytes: usize, held_units: &mut usize| {
            let units = bytes.div_ceil(BodyBudget::UNIT);
            if units <= *held_units {
                return Ok(());
            }
            let more = u32::try_from(units - *held_units).map_err(|_| BodyError::Busy)?;
            let permit = tokio::time::timeout(
                BodyBudget::PATIENCE,
                budget.permits.clone().acquire_many_owned(more),
            )
            .await
            .map_err(|_| BodyError::Busy)?
            .map_err(|_| BodyError::Busy)?;
            match &mut held {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
            *held_units = units;
            Ok(())
        };
        // The common case, a body that arrives in one piece, is kept without a copy.
        let mut first: Option<Bytes> = None;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = self.data().await {
            let chunk = chunk?;
            let have = first.as_ref().map_or(buf.len(), Bytes::len);
            let need = have + chunk.len();
            if need > limit {
                return Err(BodyError::TooLarge { limit });
            }
            if first.is_none() && buf.is_empty() {
                reserve(chunk.len(), &mut held_units).await?;
                first = Some(chunk);
                continue;
            }
            if declared >= need {
                // The client said how much it sends: one allocation, counted whole.
                if buf.capacity() < declared {
                    reserve(declared, &mut held_units).await?;
                    buf.reserve_exact(declared - buf.len());
                }
            } else {
                // No (or a wrong) length: count what arrived; the buffer grows by doubling,
                // so it holds at most twice that.
                reserve(need, &mut held_units).await?;
            }
            if let Some(f) = first.take() {
                buf.extend_from_slice(&f);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(match first {
            Some(f) => f,
            None => Bytes::from(buf),
        })
    }

    /// Reads the whole body, failing once it exceeds `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, BodyError> {
        if self.inner.size_hint().lower() > limit as u64 {
            return Err(BodyError::TooLarge { limit });
        }
        let mut first: Option<Bytes> = None;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = self.data().await {
            let chunk = chunk?;
            let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + chunk.len();
            if len > limit {
                return Err(BodyError::TooLarge { limit });
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                None => buf.extend_from_slice(&chunk),
                Some(f) => {
                    buf.extend_from_slice(&f);
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok(match first {
            Some(f) => f,
            None => Bytes::from(buf),
        })
    }
}

/// A response body: buffered, or streamed (S3 `GetObject`).
pub enum ReplyBody {
    /// The whole body.
    Full(Bytes),
    /// A stream; an error aborts the connection mid-body (the client sees a truncated
    /// response, never wrong data).
    Stream(UnsyncBoxBody<Bytes, BoxError>),
}

impl std::fmt::Debug for ReplyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyBody::Full(b) => f.debug_tuple("Full").field(&b.len()).finish(),
            ReplyBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl ReplyBody {
    /// A streamed body from any HTTP body.
    pub fn stream<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ReplyBody::Stream(body.map_err(Into::into).boxed_unsync())
    }

    /// The buffered bytes (empty for a stream).
    pub fn bytes(&self) -> &[u8] {
        match self {
            ReplyBody::Full(b) => b,
            ReplyBody::Stream(_) => &[],
        }
    }

    /// The body as one boxed HTTP body for the listener.
    pub fn into_http(self) -> UnsyncBoxBody<Bytes, BoxError> {
        match self {
            ReplyBody::Full(b) => http_body_util::Full::new(b)
                .map_err(|never| match never {})
                .boxed_unsync(),
            ReplyBody::Stream(s) => s,
        }
    }
}

impl From<Bytes> for ReplyBody {
    fn from(b: Bytes) -> Self {
        ReplyBody::Full(b)
    }
}

/// An HTTP body fed by a channel: a producer (e.g. a blocking reader that decrypts) sends
/// chunks; the listener sends them as they come. An `Err` aborts the response.
pub struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it, buffering at most `capacity` chunks.
    pub fn new(
        capacity: usize,
    ) -> (
        tokio::sync::mpsc::Sender<Result<Bytes, BoxError>>,
        ChannelBody,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        (tx, ChannelBody { rx })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collect_enforces_the_limit() {
        let b = RequestBody::from_bytes(vec![7u8; 10]);
        assert_eq!(b.collect(10).await.unwrap().len(), 10);
        let b = RequestBody::from_bytes(vec![7u8; 11]);
        assert!(matches!(
            b.collect(10).await,
            Err(BodyError::TooLarge { limit: 10 })
        ));
    }

    /// Bodies in pieces, with and without a declared length, come back whole, and every
    /// unit of the budget is given back once they are read.
    #[tokio::test]
    async fn collect_within_gathers_pieces_and_gives_the_budget_back() {
        let budget = BodyBudget::new(4 * BodyBudget::UNIT);
        for pieces in [1usize, 2, 7, 40] {
            let data: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
            let (tx, body) = ChannelBody::new(64);
            let chunks: Vec<Bytes> = data
                .chunks(data.len().div_ceil(pieces))
                .map(Bytes::copy_from_slice)
                .collect();
            tokio::spawn(async move {
                for c in chunks {
                    tx.send(Ok(c)).await.unwrap();
                }
            });
            let got = RequestBody::new(body)
                .collect_within(1 << 20, &budget)
                .await
                .unwrap();
            assert_eq!(&got[..], &data[..], "{pieces} pieces");
            assert_eq!(budget.permits.available_permits(), 4, "budget given back");
        }
        let over = RequestBody::from_bytes(vec![1u8; 11]);
        assert!(matches!(
            over.collect_within(10, &budget).await,
            Err(BodyError::TooLarge { limit: 10 })
        ));
    }

    #[tokio::test]
    async fn channel_body_streams_and_aborts() {
        let (tx, body) = ChannelBody::new(2);
        tokio::spawn(async move {
            tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
            tx.send(Err("tampered".into())).await.unwrap();
        });
        let mut body = RequestBody::new(body);
        assert_eq!(
            body.data().await.unwrap().unwrap(),
            Bytes::from_static(b"ab")
        );
        assert!(matches!(body.data().await, Some(Err(BodyError::Read(_)))));
    }
}
