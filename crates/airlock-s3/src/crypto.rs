//! The encrypted segment format: how object bytes are stored at rest.
//!
//! An object's data is one or more *segments* (one for a simple upload, one per part for a
//! multipart upload). Each segment is encrypted under its own AES-256 key, derived with
//! HKDF-SHA256 from the object's data key (which KMS, or the SSE-S3 key, wraps) and the
//! segment's random 16-byte id. A segment is:
//!
//! ```text
//! header (36 bytes): magic "ALS3SEG1" | u32be chunk size | u64be plaintext length | segment id (16)
//! chunk 0:  AES-256-GCM(plaintext[0 .. C])       || tag (16)
//! chunk 1:  AES-256-GCM(plaintext[C .. 2C])      || tag (16)
//! ...
//! chunk n-1 (the last, possibly shorter; an empty segment has one empty chunk)
//! ```
//!
//! Chunk `i` uses the nonce `0u32 || u64be(i)` (unique: every segment has its own key) and the
//! additional authenticated data `header || u64be(i)`. So every chunk authenticates the whole
//! header (length included), a chunk moved to another position or another segment fails, and a
//! truncated or extended file is detected by its length. A range is read by decrypting only the
//! chunks it touches.

use std::io::Write;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use crate::pool::BufferPool;

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Header length.
pub const HEADER_LEN: usize = 36;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
const MAGIC: &[u8; 8] = b"ALS3SEG1";
const HKDF_INFO: &[u8] = b"airlock-s3 segment key v1";

/// A segment id: 16 bytes, unique (random, or time-ordered with a random half), shown as 32 hex
/// digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub [u8; 16]);

impl SegmentId {
    /// A fresh random id.
    pub fn random() -> SegmentId {
        let mut b = [0u8; 16];
        fill_random(&mut b);
        SegmentId(b)
    }

    /// A fresh id whose first 8 bytes grow over time (clock at first use, then a counter) and
    /// whose last 8 are random. Ids stay unique across restarts by those random bytes even if
    /// the clock goes back; within a process they are strictly increasing, so a B-tree keyed by
    /// them takes each new id at its right edge instead of at a random leaf.
    pub fn sequential() -> SegmentId {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static START: OnceLock<u64> = OnceLock::new();
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let start = *START.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        let n = start.wrapping_add(COUNT.fetch_add(1, Ordering::Relaxed));
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&n.to_be_bytes());
        fill_random(&mut b[8..]);
        SegmentId(b)
    }

    /// 32 lower-case hex digits.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 32 hex digits.
    pub fn parse(s: &str) -> Option<SegmentId> {
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SegmentId(out))
    }
}

/// Fills `buf` from the system's secure random generator.
pub fn fill_random(buf: &mut [u8]) {
    airlock_kms::crypto::fill_random(buf);
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A 256-bit data key in memory (zeroed on drop).
#[derive(Clone)]
pub struct DataKey(pub(crate) Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// From 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    /// A fresh random key.
    pub fn random() -> DataKey {
        let mut k = Zeroizing::new([0u8; 32]);
        fill_random(&mut k[..]);
        DataKey(k)
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The AEAD key of one segment.
    pub(crate) fn segment_key(&self, id: &SegmentId) -> SegmentKey {
        struct Len;
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &id.0).extract(&self.0[..]);
        let mut okm = Zeroizing::new([0u8; 32]);
        let info = [HKDF_INFO];
        // Expanding 32 bytes from SHA-256 cannot exceed HKDF's 255 * 32 limit.
        if let Ok(o) = prk.expand(&info, Len) {
            let _ = o.fill(&mut okm[..]);
        }
        let key = UnboundKey::new(&AES_256_GCM, &okm[..]).map(LessSafeKey::new);
        SegmentKey { key: key.ok() }
    }
}

pub(crate) struct SegmentKey {
    key: Option<LessSafeKey>,
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(header: &[u8; HEADER_LEN], index: u64) -> [u8; HEADER_LEN + 8] {
    let mut a = [0u8; HEADER_LEN + 8];
    a[..HEADER_LEN].copy_from_slice(header);
    a[HEADER_LEN..].copy_from_slice(&index.to_be_bytes());
    a
}

/// The header of a segment.
pub fn header(id: &SegmentId, plain_len: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&(CHUNK_SIZE as u32).to_be_bytes());
    h[12..20].copy_from_slice(&plain_len.to_be_bytes());
    h[20..36].copy_from_slice(&id.0);
    h
}

/// Number of chunks of a segment of `plain_len` bytes (at least one).
pub fn chunk_count(plain_len: u64) -> u64 {
    plain_len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// The stored size of a segment of `plain_len` bytes.
pub fn stored_len(plain_len: u64) -> u64 {
    HEADER_LEN as u64 + plain_len + chunk_count(plain_len) * TAG_LEN as u64
}

/// Why a segment could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Writing or reading the underlying file failed.
    #[error("segment I/O: {0}")]
    Io(#[from] std::io::Error),
    /// More or fewer bytes than announced were written.
    #[error("segment length mismatch: announced {expected} bytes, got {got}")]
    Length {
        /// Announced.
        expected: u64,
        /// Written so far (or at finish).
        got: u64,
    },
    /// The stored bytes do not authenticate: tampered, truncated, swapped or corrupted.
    #[error("segment {segment} failed authentication at chunk {chunk}: {reason}")]
    Tampered {
        /// The segment id.
        segment: String,
        /// The chunk index.
        chunk: u64,
        /// What was wrong.
        reason: String,
    },
    /// The key could not be set up.
    #[error("segment key setup failed")]
    Key,
}

/// Chunks sealed before one write to the underlying writer (1 MiB of plaintext), and read
/// with one positioned read.
const WRITE_BATCH: usize = 16;

/// How many batches (up to 16 chunks each, counted from a range's first chunk) a read of
/// plaintext `[start, end)` of one segment has.
pub fn batch_count(start: u64, end: u64) -> u64 {
    if start >= end {
        return 0;
    }
    let chunks = (end - 1) / CHUNK_SIZE as u64 - start / CHUNK_SIZE as u64 + 1;
    chunks.div_ceil(WRITE_BATCH as u64)
}

/// Which of a read's batches one reader decrypts, when several threads share a read: the
/// batches, numbered from 0 across all the read's segments, go round robin, batch `n` to the
/// reader whose `phase` is `n % stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    /// This reader's place in the rotation.
    pub phase: u64,
    /// How many readers share the read.
    pub stride: u64,
}

impl Stripe {
    /// Every batch: one reader.
    pub const ALL: Stripe = Stripe {
        phase: 0,
        stride: 1,
    };

    /// Whether batch `n` is this reader's.
    pub fn owns(&self, n: u64) -> bool {
        n % self.stride.max(1) == self.phase
    }

    /// Whether any of the `count` batches numbered from `first` is this reader's.
    pub fn owns_any(&self, first: u64, count: u64) -> bool {
        (first..first + count.min(self.stride.max(1))).any(|n| self.owns(n))
    }
}

/// Encrypts a segment of known length into a writer, chunk by chunk. Sealed chunks are
/// collected in one buffer and handed to the writer 16 at a time (one system call per MiB for
/// a file). A whole chunk found in the caller's data is sealed straight from it into that
/// buffer; only the pieces of chunks that straddle two writes are copied in first and sealed
/// in place.
pub struct SegmentWriter<W: Write> {
    out: W,
    key: SegmentKey,
    header: [u8; HEADER_LEN],
    plain_len: u64,
    written: u64,
    index: u64,
    /// Room for a batch of sealed chunks: `[..open]` sealed, `[open..fill]` the plaintext of
    /// the chunk being filled.
    buf: Vec<u8>,
    open: usize,
    fill: usize,
    id: SegmentId,
}

impl<W: Write> SegmentWriter<W> {
    /// Starts a segment: writes the header.
    pub fn new(
        key: &DataKey,
        id: SegmentId,
        plain_len: u64,
        mut out: W,
    ) -> Result<Self, SegmentError> {
        let header = header(&id, plain_len);
        out.write_all(&header)?;
        let key = key.segment_key(&id);
        if key.key.is_none() {
            return Err(SegmentError::Key);
        }
        let chunks = plain_len
            .div_ceil(CHUNK_SIZE as u64)
            .clamp(1, WRITE_BATCH as u64) as usize;
        let cap = (plain_len as usize).min(WRITE_BATCH * CHUNK_SIZE) + chunks * TAG_LEN;
        Ok(SegmentWriter {
            out,
            key,
            header,
            plain_len,
            written: 0,
            index: 0,
            buf: vec![0; cap],
            open: 0,
            fill: 0,
            id,
        })
    }

    /// The segment id.
    pub fn id(&self) -> SegmentId {
        self.id
    }

    /// Plaintext bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Adds plaintext.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), SegmentError> {
        let got = self.written + data.len() as u64;
        if got > self.plain_len {
            return Err(SegmentError::Length {
                expected: self.plain_len,
                got,
            });
        }
        while !data.is_empty() {
            // A whole chunk that is not the segment's last: seal it out of place. (The last
            // chunk is sealed by `finish`, which checks the length first.)
            if self.fill == self.open
                && data.len() >= CHUNK_SIZE
                && self.written + (CHUNK_SIZE as u64) < self.plain_len
            {
                let (chunk, rest) = data.split_at(CHUNK_SIZE);
                self.seal_from(chunk)?;
                self.written += CHUNK_SIZE as u64;
                data = rest;
                continue;
            }
            let room = CHUNK_SIZE - (self.fill - self.open);
            let take = room.min(data.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&data[..take]);
            self.fill += take;
            data = &data[take..];
            self.written += take as u64;
            if self.fill - self.open == CHUNK_SIZE && self.written < self.plain_len {
                self.seal_chunk()?;
            }
        }
        Ok(())
    }

    /// Seals a whole chunk from `plain` into the buffer (nothing is being filled).
    fn seal_from(&mut self, plain: &[u8]) -> Result<(), SegmentError> {
        let key = self.key.key.as_ref().ok_or(SegmentError::Key)?;
        let a = aad(&self.header, self.index);
        let end = self.open + plain.len() + TAG_LEN;
        key.seal_in_place_scatter(
            nonce(self.index),
            Aad::from(&a[..]),
            &mut [],
            plain,
            &mut self.buf[self.open..end],
        )
        .map_err(|_| SegmentError::Key)?;
        self.open = end;
        self.fill = end;
        self.sealed()
    }

    /// Seals the chunk being filled in place and counts it.
    fn seal_chunk(&mut self) -> Result<(), SegmentError> {
        self.seal_filled()?;
        self.sealed()
    }

    /// Seals the chunk being filled in place; its tag follows it.
    fn seal_filled(&mut self) -> Result<(), SegmentError> {
        let key = self.key.key.as_ref().ok_or(SegmentError::Key)?;
        let a = aad(&self.header, self.index);
        let tag = key
            .seal_in_place_separate_tag(
                nonce(self.index),
                Aad::from(&a[..]),
                &mut self.buf[self.open..self.fill],
            )
            .map_err(|_| SegmentError::Key)?;
        self.buf[self.fill..self.fill + TAG_LEN].copy_from_slice(tag.as_ref());
        self.open = self.fill + TAG_LEN;
        self.fill = self.open;
        Ok(())
    }

    /// Counts a sealed chunk; a full batch goes to the writer.
    fn sealed(&mut self) -> Result<(), SegmentError> {
        self.index += 1;
        if self.index.is_multiple_of(WRITE_BATCH as u64) {
            self.flush_sealed()?;
        }
        Ok(())
    }

    fn flush_sealed(&mut self) -> Result<(), SegmentError> {
        self.out.write_all(&self.buf[..self.open])?;
        self.buf.copy_within(self.open..self.fill, 0);
        self.fill -= self.open;
        self.open = 0;
        Ok(())
    }

    /// Seals the last chunk and returns the writer. Fails unless exactly the announced length
    /// was written.
    pub fn finish(mut self) -> Result<W, SegmentError> {
        if self.written != self.plain_len {
            return Err(SegmentError::Length {
                expected: self.plain_len,
                got: self.written,
            });
        }
        self.seal_filled()?;
        self.flush_sealed()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Random access to the stored bytes of a segment (a file or an in-memory value).
pub trait SegmentSource {
    /// Fills `buf` from `offset`; an error if the source is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
    /// The stored length.
    fn stored_len(&self) -> std::io::Result<u64>;
}

impl SegmentSource for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
    fn stored_len(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl SegmentSource for &std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(*self, buf, offset)
    }
    fn stored_len(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

fn slice_read(src: &[u8], buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
    let end = start
        .checked_add(buf.len())
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let part = src
        .get(start..end)
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    buf.copy_from_slice(part);
    Ok(())
}

impl SegmentSource for &[u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        slice_read(self, buf, offset)
    }
    fn stored_len(&self) -> std::io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }
}

impl SegmentSource for bytes::Bytes {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        slice_read(self, buf, offset)
    }
    fn stored_len(&self) -> std::io::Result<u64> {
        Ok(bytes::Bytes::len(self) as u64)
    }
}

/// Decrypts ranges of one segment.
pub struct SegmentReader<S: SegmentSource> {
    src: S,
    key: SegmentKey,
    header: [u8; HEADER_LEN],
    plain_len: u64,
    id: SegmentId,
}

impl<S: SegmentSource> SegmentReader<S> {
    /// Opens a segment whose id and length the metadata records; checks the header and the
    /// stored length before any chunk is read.
    pub fn open(
        key: &DataKey,
        id: SegmentId,
        plain_len: u64,
        src: S,
    ) -> Result<Self, SegmentError> {
        let expected = header(&id, plain_len);
        let tampered = |reason: &str| SegmentError::Tampered {
            segment: id.hex(),
            chunk: 0,
            reason: reason.to_string(),
        };
        let mut found = [0u8; HEADER_LEN];
        src.read_exact_at(&mut found, 0)
            .map_err(|_| tampered("header missing"))?;
        if found != expected {
            return Err(tampered("header does not match the object's metadata"));
        }
        if src.stored_len()? != stored_len(plain_len) {
            return Err(tampered("stored length differs from the recorded length"));
        }
        let key = key.segment_key(&id);
        if key.key.is_none() {
            return Err(SegmentError::Key);
        }
        Ok(SegmentReader {
            src,
            key,
            header: expected,
            plain_len,
            id,
        })
    }

    /// The plaintext length.
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    /// Plaintext `[start, end)` as shared buffers: up to 16 chunks are read with one positioned
    /// read, decrypted into one buffer, and handed to `sink` as one slice of it (up to 1 MiB).
    pub fn read_range_bytes(
        &self,
        start: u64,
        end: u64,
        sink: impl FnMut(bytes::Bytes) -> Result<(), SegmentError>,
    ) -> Result<(), SegmentError> {
        self.read_batches(
            start,
            end,
            Stripe::ALL,
            &mut 0,
            &BufferPool::default(),
            sink,
        )
    }

    /// [`SegmentReader::read_range_bytes`] of the batches `stripe` owns. `counter` numbers the
    /// read's batches: this segment's continue from it, and it is advanced past them (owned or
    /// not), so a read over several segments numbers its batches once. Buffers come from `pool`.
    pub fn read_batches(
        &self,
        start: u64,
        end: u64,
        stripe: Stripe,
        counter: &mut u64,
        pool: &BufferPool,
        mut sink: impl FnMut(bytes::Bytes) -> Result<(), SegmentError>,
    ) -> Result<(), SegmentError> {
        let end = end.min(self.plain_len);
        if start >= end {
            return Ok(());
        }
        let key = self.key.key.as_ref().ok_or(SegmentError::Key)?;
        let first = start / CHUNK_SIZE as u64;
        let last = (end - 1) / CHUNK_SIZE as u64;
        // The stored bytes of one batch, reused by every batch of this call.
        let mut sealed = pool.take(0);
        let mut i = first;
        while i <= last {
            let n = (last - i + 1).min(WRITE_BATCH as u64);
            let batch = *counter;
            *counter += 1;
            if !stripe.owns(batch) {
                i += n;
                continue;
            }
            let base = i * CHUNK_SIZE as u64;
            let plain_in_batch =
                (((i + n) * CHUNK_SIZE as u64).min(self.plain_len) - base) as usize;
            let stored = plain_in_batch + n as usize * TAG_LEN;
            if sealed.len() < stored {
                sealed.resize(stored, 0);
            }
            let offset = HEADER_LEN as u64 + i * (CHUNK_SIZE + TAG_LEN) as u64;
            self.src.read_exact_at(&mut sealed[..stored], offset)?;
            // Each chunk is opened out of place, its plaintext right after the previous one's:
            // the batch's plaintext is contiguous, and the range is one slice of it.
            let mut plain_buf = pool.take(plain_in_batch);
            let (mut at, mut to) = (0usize, 0usize);
            for k in 0..n {
                let index = i + k;
                let plain =
                    ((self.plain_len - index * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64)) as usize;
                let a = aad(&self.header, index);
                key.open_separate_gather(
                    nonce(index),
                    Aad::from(&a[..]),
                    &sealed[at..at + plain],
                    &sealed[at + plain..at + plain + TAG_LEN],
                    &mut plain_buf[to..to + plain],
                )
                .map_err(|_| SegmentError::Tampered {
                    segment: self.id.hex(),
                    chunk: index,
                    reason: "authentication tag mismatch".into(),
                })?;
                at += plain + TAG_LEN;
                to += plain;
            }
            let from = start.saturating_sub(base) as usize;
            let until = ((end - base) as usize).min(plain_in_batch);
            if from < until {
                sink(pool.share(plain_buf, until).slice(from..))?;
            } else {
                pool.give(plain_buf);
            }
            i += n;
        }
        pool.give(sealed);
        Ok(())
    }
}

/// Encrypts a whole small segment in memory.
pub fn seal_segment(key: &DataKey, id: SegmentId, plain: &[u8]) -> Result<Vec<u8>, SegmentError> {
    let mut w = SegmentWriter::new(
        key,
        id,
        plain.len() as u64,
        Vec::with_capacity(stored_len(plain.len() as u64) as usize),
    )?;
    w.write(plain)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sequential_ids_increase_and_differ_across_threads() {
        let ids: Vec<SegmentId> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..1000)
                            .map(|_| SegmentId::sequential())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        // Each thread's ids increase; all 4000 are distinct, in both halves.
        for run in ids.chunks(1000) {
            assert!(run.windows(2).all(|w| w[0] < w[1]));
        }
        let prefixes: std::collections::HashSet<_> =
            ids.iter().map(|i| i.0[..8].to_vec()).collect();
        assert_eq!(prefixes.len(), ids.len());
        let tails: std::collections::HashSet<_> = ids.iter().map(|i| i.0[8..].to_vec()).collect();
        assert_eq!(tails.len(), ids.len());
    }

    fn roundtrip(len: usize) {
        let key = DataKey::random();
        let id = SegmentId::random();
        let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let stored = seal_segment(&key, id, &plain).unwrap();
        assert_eq!(stored.len() as u64, stored_len(len as u64));
        let r = SegmentReader::open(&key, id, len as u64, &stored[..]).unwrap();
        let mut out = Vec::new();
        r.read_range_bytes(0, len as u64, |b| {
            out.extend_from_slice(&b);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            3 * CHUNK_SIZE + 17,
        ] {
            roundtrip(len);
        }
    }

    #[test]
    fn batched_and_striped_reads_match_the_plaintext() {
        let key = DataKey::random();
        let id = SegmentId::random();
        let len = 40 * CHUNK_SIZE + 123;
        let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let stored = seal_segment(&key, id, &plain).unwrap();
        let r = SegmentReader::open(&key, id, len as u64, &stored[..]).unwrap();
        for (s, e) in [
            (0, len),
            (5, 17 * CHUNK_SIZE + 3),
            (CHUNK_SIZE * 16, CHUNK_SIZE * 32),
            (len - 1, len),
        ] {
            let mut out = Vec::new();
            let mut buffers = 0;
            r.read_range_bytes(s as u64, e as u64, |b| {
                out.extend_from_slice(&b);
                buffers += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(&out[..], &plain[s..e], "{s}..{e}");
            // One buffer per batch of up to 16 chunks, counted from the range's first chunk.
            let chunks = (e - 1) / CHUNK_SIZE - s / CHUNK_SIZE + 1;
            let batches = chunks.div_ceil(16);
            assert_eq!(buffers, batches, "{s}..{e}");
        }
        // Striped, with buffers recycled as soon as each is consumed: the same bytes. The
        // segment's three batches are numbered 7, 8, 9, as if earlier segments had 7.
        let pool = BufferPool::default();
        assert_eq!(batch_count(0, len as u64), 3);
        for stride in 1..=3u64 {
            let mut numbered = Vec::new();
            for phase in 0..stride {
                let stripe = Stripe { phase, stride };
                let mut mine = (7..10u64).filter(|n| stripe.owns(*n));
                let mut counter = 7;
                r.read_batches(0, len as u64, stripe, &mut counter, &pool, |b| {
                    numbered.push((mine.next().expect("a batch it owns"), b.to_vec()));
                    Ok(())
                })
                .unwrap();
                assert_eq!(mine.next(), None, "every owned batch was handed out");
                assert_eq!(counter, 10, "all three batches counted");
            }
            numbered.sort_by_key(|(n, _)| *n);
            let joined: Vec<u8> = numbered.into_iter().flat_map(|(_, b)| b).collect();
            assert_eq!(joined, plain, "{stride} stripes");
        }
        assert!(
            pool.free_count() > 0,
            "consumed buffers went back to the pool"
        );
        let mut bad = stored.clone();
        bad[HEADER_LEN + 20 * (CHUNK_SIZE + TAG_LEN) + 7] ^= 1;
        let r = SegmentReader::open(&key, id, len as u64, &bad[..]).unwrap();
        let mut served = 0;
        let err = r.read_range_bytes(0, len as u64, |b| {
            served += b.len();
            Ok(())
        });
        assert!(matches!(err, Err(SegmentError::Tampered { chunk: 20, .. })));
        assert_eq!(
            served,
            16 * CHUNK_SIZE,
            "only the intact batch before the tampered one was handed out"
        );
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let key = DataKey::random();
        let id = SegmentId::random();
        let plain = vec![0x41u8; CHUNK_SIZE + 100];
        let stored = seal_segment(&key, id, &plain).unwrap();
        for pos in [0, 9, 20, 35, 36, 100, CHUNK_SIZE + 36 + 5, stored.len() - 1] {
            let mut bad = stored.clone();
            bad[pos] ^= 0x01;
            let res = SegmentReader::open(&key, id, plain.len() as u64, &bad[..])
                .and_then(|r| r.read_range_bytes(0, plain.len() as u64, |_| Ok(())));
            assert!(
                matches!(res, Err(SegmentError::Tampered { .. })),
                "flip at {pos} not detected: {res:?}"
            );
        }
        // Truncation and extension.
        let short = &stored[..stored.len() - 1];
        assert!(SegmentReader::open(&key, id, plain.len() as u64, short).is_err());
        let mut long = stored.clone();
        long.push(0);
        assert!(SegmentReader::open(&key, id, plain.len() as u64, &long[..]).is_err());
        // Another key, another id.
        let r =
            SegmentReader::open(&DataKey::random(), id, plain.len() as u64, &stored[..]).unwrap();
        assert!(r.read_range_bytes(0, 10, |_| Ok(())).is_err());
        assert!(
            SegmentReader::open(&key, SegmentId::random(), plain.len() as u64, &stored[..])
                .is_err()
        );
    }

    #[test]
    fn swapped_chunks_are_detected() {
        let key = DataKey::random();
        let id = SegmentId::random();
        let mut plain = vec![1u8; CHUNK_SIZE];
        plain.extend(vec![2u8; CHUNK_SIZE]);
        let stored = seal_segment(&key, id, &plain).unwrap();
        let c = CHUNK_SIZE + TAG_LEN;
        let mut swapped = stored[..HEADER_LEN].to_vec();
        swapped.extend_from_slice(&stored[HEADER_LEN + c..HEADER_LEN + 2 * c]);
        swapped.extend_from_slice(&stored[HEADER_LEN..HEADER_LEN + c]);
        let r = SegmentReader::open(&key, id, plain.len() as u64, &swapped[..]).unwrap();
        assert!(
            r.read_range_bytes(0, plain.len() as u64, |_| Ok(()))
                .is_err()
        );
    }

    #[test]
    fn writer_refuses_wrong_lengths() {
        let key = DataKey::random();
        let mut w = SegmentWriter::new(&key, SegmentId::random(), 3, Vec::new()).unwrap();
        assert!(w.write(b"abcd").is_err());
        w.write(b"ab").unwrap();
        assert!(w.finish().is_err());
    }

    proptest! {
        #[test]
        fn ranges_match_the_plaintext(len in 0usize..(3 * CHUNK_SIZE), a in 0usize..(3 * CHUNK_SIZE + 10), b in 0usize..(3 * CHUNK_SIZE + 10)) {
            let key = DataKey::random();
            let id = SegmentId::random();
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let stored = seal_segment(&key, id, &plain).unwrap();
            let r = SegmentReader::open(&key, id, len as u64, &stored[..]).unwrap();
            let (s, e) = (a.min(b), a.max(b));
            let mut out = Vec::new();
            r.read_range_bytes(s as u64, e as u64, |x| { out.extend_from_slice(&x); Ok(()) }).unwrap();
            let want = if s >= len { &[][..] } else { &plain[s..e.min(len)] };
            prop_assert_eq!(&out[..], want);
        }

        /// Whole chunks are sealed straight from the caller's data and straddling ones after a
        /// copy: how the plaintext is split into writes must not change one stored byte.
        #[test]
        fn any_split_of_the_writes_stores_the_same_bytes(
            len in 0usize..(20 * CHUNK_SIZE),
            cuts in proptest::collection::vec(0usize..(20 * CHUNK_SIZE), 0..12),
        ) {
            let key = DataKey::random();
            let id = SegmentId::random();
            let plain: Vec<u8> = (0..len).map(|i| (i % 249) as u8).collect();
            let whole = seal_segment(&key, id, &plain).unwrap();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
            cuts.push(len);
            cuts.sort_unstable();
            let mut w = SegmentWriter::new(&key, id, len as u64, Vec::new()).unwrap();
            let mut at = 0;
            for c in cuts {
                w.write(&plain[at..c]).unwrap();
                at = c;
            }
            let split = w.finish().unwrap();
            prop_assert!(split == whole, "stored bytes differ for a split write of {} bytes", len);
            let r = SegmentReader::open(&key, id, len as u64, &split[..]).unwrap();
            let mut out = Vec::new();
            r.read_range_bytes(0, len as u64, |x| { out.extend_from_slice(&x); Ok(()) }).unwrap();
            prop_assert!(out == plain);
        }

        #[test]
        fn segment_ids_parse_only_hex(s in ".*") {
            if let Some(id) = SegmentId::parse(&s) { prop_assert_eq!(id.hex(), s.to_ascii_lowercase()); }
        }
    }
}
