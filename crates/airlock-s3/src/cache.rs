//! A read cache of the latest version of recently read keys.
//!
//! A GET of a key without a version id spent a tenth of the server's time finding the key's
//! newest version (a range scan in the store and a JSON decode). This cache keeps the decoded
//! record of recently read keys, each tagged with the S3 *write generation* current when its
//! read began. The committer bumps the generation after every committed batch and before it
//! answers any operation of the batch, so an entry is used only while no write has been
//! acknowledged since it was read: a read never sees a version older than one whose write was
//! acknowledged before the read began. Any write invalidates every entry (the cache serves
//! read-mostly keys; a write-heavy workload simply misses).
//!
//! Beside it, [`InlineCache`] keeps the stored bytes of recently read small segments (those
//! kept inline in the store): ciphertext, authenticated on every read as if it came from the
//! store. A segment's bytes never change (segment ids are unique: random, or time-ordered with
//! 8 random bytes), so an entry is right for as long as any version refers to the segment;
//! which version a read serves is decided by the version lookup alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::model::ObjectVersion;

/// Entries kept before the cache starts over.
const MAX_ENTRIES: usize = 4096;

/// Versions with more segments are not kept: a multipart object's record grows with its parts
/// (up to 10,000), and its lookup is small beside its transfer.
const MAX_SEGMENTS: usize = 16;

/// The write generation, shared by the committer (which bumps it) and the cache.
#[derive(Debug, Default)]
pub struct WriteGeneration(AtomicU64);

impl WriteGeneration {
    /// The current generation.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks that writes were committed (called before they are acknowledged).
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

type Entries = HashMap<String, HashMap<String, (u64, Arc<ObjectVersion>)>>;

/// The latest version of `(bucket, key)` as read at some generation.
#[derive(Debug)]
pub struct LatestCache {
    generation: Arc<WriteGeneration>,
    /// Bucket → key → (generation, version), and the number of entries.
    entries: Mutex<(Entries, usize)>,
}

impl LatestCache {
    /// An empty cache over `generation`.
    pub fn new(generation: Arc<WriteGeneration>) -> Self {
        LatestCache {
            generation,
            entries: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The generation to read at: take it before reading the store, and give it to
    /// [`LatestCache::insert`] with what was read.
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// The cached latest version of `key`, if it was read at `generation` (the current one).
    pub fn get(&self, generation: u64, bucket: &str, key: &str) -> Option<Arc<ObjectVersion>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = entries.0.get(bucket)?.get(key)?;
        (found.0 == generation).then(|| found.1.clone())
    }

    /// Records `version` as the latest of its key, read at `generation`. Ignored if a write has
    /// committed since, or if the record is large (more than [`MAX_SEGMENTS`] segments).
    pub fn insert(&self, generation: u64, bucket: &str, version: Arc<ObjectVersion>) {
        if self.generation.current() != generation || version.segments.len() > MAX_SEGMENTS {
            return;
        }
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, count) = &mut *guard;
        if *count >= MAX_ENTRIES {
            // Drop what is stale first; start over if all is current.
            for keys in entries.values_mut() {
                keys.retain(|_, (g, _)| *g == generation);
            }
            entries.retain(|_, keys| !keys.is_empty());
            *count = entries.values().map(HashMap::len).sum();
            if *count >= MAX_ENTRIES {
                entries.clear();
                *count = 0;
            }
        }
        let keys = match entries.get_mut(bucket) {
            Some(keys) => keys,
            None => entries.entry(bucket.to_string()).or_default(),
        };
        if keys
            .insert(version.key.clone(), (generation, version))
            .is_none()
        {
            *count += 1;
        }
    }
}

/// Bytes of inline segments kept before the cache starts over.
const INLINE_BUDGET: usize = 8 << 20;

/// The stored (encrypted) bytes of recently read inline segments, by segment id, within a
/// byte budget. Segments deleted since stay until the cache starts over: they are never
/// reached again (no version refers to them), and the budget bounds them.
#[derive(Debug, Default)]
pub struct InlineCache {
    /// Segment id → stored bytes, and their total size.
    entries: Mutex<(HashMap<String, Bytes>, usize)>,
}

impl InlineCache {
    /// The stored bytes of segment `id`, if cached.
    pub fn get(&self, id: &str) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.0.get(id).cloned()
    }

    /// Keeps the stored bytes of segment `id`.
    pub fn insert(&self, id: &str, stored: Bytes) {
        if stored.len() > INLINE_BUDGET / 64 {
            return;
        }
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, total) = &mut *guard;
        if *total + stored.len() > INLINE_BUDGET {
            entries.clear();
            *total = 0;
        }
        *total += stored.len();
        if let Some(old) = entries.insert(id.to_string(), stored) {
            *total -= old.len();
        }
    }

    /// The bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(key: &str, etag: &str) -> Arc<ObjectVersion> {
        Arc::new(ObjectVersion {
            key: key.into(),
            version_id: "null".into(),
            seq: 1,
            delete_marker: false,
            last_modified_ms: 0,
            size: 1,
            etag: etag.into(),
            owner: "111111111111".into(),
            meta: Default::default(),
            tags: Vec::new(),
            sse: None,
            checksum: None,
            segments: Vec::new(),
            parts_count: None,
        })
    }

    #[test]
    fn an_entry_lives_until_the_next_write() {
        let generation = Arc::new(WriteGeneration::default());
        let cache = LatestCache::new(generation.clone());
        let g = cache.generation();
        cache.insert(g, "b", version("k", "one"));
        assert_eq!(cache.get(g, "b", "k").unwrap().etag, "one");
        assert!(cache.get(g, "b", "other").is_none());
        assert!(cache.get(g, "c", "k").is_none());
        generation.bump();
        let g2 = cache.generation();
        assert!(cache.get(g2, "b", "k").is_none(), "a write invalidates");
    }

    #[test]
    fn what_was_read_before_a_write_is_not_cached_after_it() {
        let generation = Arc::new(WriteGeneration::default());
        let cache = LatestCache::new(generation.clone());
        let g = cache.generation();
        // The read took its generation, then a write committed before it finished.
        generation.bump();
        cache.insert(g, "b", version("k", "old"));
        assert!(cache.get(cache.generation(), "b", "k").is_none());
    }

    #[test]
    fn large_records_are_not_kept() {
        let cache = LatestCache::new(Arc::new(WriteGeneration::default()));
        let g = cache.generation();
        let mut v = (*version("multipart", "e")).clone();
        v.segments = vec![
            crate::model::Segment {
                id: "0".repeat(32),
                len: 1,
                inline: false,
                part: None,
            };
            MAX_SEGMENTS + 1
        ];
        cache.insert(g, "b", Arc::new(v));
        assert!(cache.get(g, "b", "multipart").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = LatestCache::new(Arc::new(WriteGeneration::default()));
        let g = cache.generation();
        for i in 0..(MAX_ENTRIES * 2 + 5) {
            cache.insert(g, "b", version(&format!("k{i}"), "e"));
        }
        let entries = cache.entries.lock().unwrap();
        assert!(entries.1 <= MAX_ENTRIES);
        assert_eq!(
            entries.1,
            entries.0.values().map(HashMap::len).sum::<usize>()
        );
    }

    #[test]
    fn inline_segments_stay_within_the_budget() {
        let cache = InlineCache::default();
        cache.insert("a", Bytes::from_static(b"stored-a"));
        assert_eq!(cache.get("a").as_deref(), Some(&b"stored-a"[..]));
        assert!(cache.get("b").is_none());
        cache.insert("a", Bytes::from_static(b"stored-a"));
        assert_eq!(cache.bytes(), 8, "the same segment again is counted once");
        let block = Bytes::from(vec![7u8; 4096]);
        for i in 0..(INLINE_BUDGET / 4096 * 2) {
            cache.insert(&format!("s{i}"), block.clone());
            assert!(cache.bytes() <= INLINE_BUDGET);
        }
        // Too large a segment is not kept at all.
        cache.insert("big", Bytes::from(vec![0u8; INLINE_BUDGET / 64 + 1]));
        assert!(cache.get("big").is_none());
    }
}
