//! Recycled read buffers for streamed GETs.
//!
//! A large GET decrypts its object 1 MiB at a time into a buffer it hands to the response
//! stream. A fresh 1 MiB allocation per batch costs page faults and the kernel zeroing every
//! page; a [`BufferPool`] gives each batch a buffer that an earlier batch of the same read
//! already used, once the response stream has let go of it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Buffers kept for reuse; more than a read has in flight at once.
const MAX_FREE: usize = 8;

/// A pool of byte buffers shared by the threads of one read and its response stream.
#[derive(Clone, Default)]
pub struct BufferPool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferPool").finish_non_exhaustive()
    }
}

impl BufferPool {
    /// A buffer of at least `len` initialized bytes (zeroed only where it is new memory).
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = self
            .free
            .lock()
            .map(|mut free| free.pop())
            .unwrap_or_default()
            .unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf
    }

    /// `buf[..len]` as shared bytes; `buf` comes back to the pool when the last of them is
    /// dropped.
    pub fn share(&self, buf: Vec<u8>, len: usize) -> Bytes {
        let len = len.min(buf.len());
        Bytes::from_owner(Pooled {
            buf,
            len,
            home: self.free.clone(),
        })
    }

    /// Returns a buffer that was not handed on.
    pub fn give(&self, buf: Vec<u8>) {
        recycle(&self.free, buf);
    }

    /// Buffers waiting for reuse.
    #[cfg(test)]
    pub(crate) fn free_count(&self) -> usize {
        self.free.lock().map(|f| f.len()).unwrap_or(0)
    }
}

struct Pooled {
    buf: Vec<u8>,
    len: usize,
    home: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        recycle(&self.home, std::mem::take(&mut self.buf));
    }
}

/// Keeps `buf` for reuse unless enough buffers already wait.
fn recycle(free: &Mutex<Vec<Vec<u8>>>, buf: Vec<u8>) {
    if let Ok(mut free) = free.lock()
        && free.len() < MAX_FREE
    {
        free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_when_the_last_share_is_dropped() {
        let pool = BufferPool::default();
        let mut buf = pool.take(16);
        assert_eq!(buf.len(), 16);
        buf[..5].copy_from_slice(b"hello");
        let bytes = pool.share(buf, 5);
        let part = bytes.slice(1..3);
        assert_eq!(&bytes[..], b"hello");
        drop(bytes);
        assert_eq!(pool.free_count(), 0, "a slice still holds the buffer");
        assert_eq!(&part[..], b"el");
        drop(part);
        assert_eq!(pool.free_count(), 1);
        // Reused: the old contents are there until overwritten, and it grows on demand.
        let again = pool.take(32);
        assert_eq!(again.len(), 32);
        assert_eq!(&again[..5], b"hello");
        assert_eq!(pool.free_count(), 0);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let pool = BufferPool::default();
        let shared: Vec<Bytes> = (0..3 * MAX_FREE)
            .map(|_| pool.share(pool.take(8), 8))
            .collect();
        drop(shared);
        assert_eq!(pool.free_count(), MAX_FREE);
    }
}
