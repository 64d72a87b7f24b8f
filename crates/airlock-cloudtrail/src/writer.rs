//! The background writer: the request path serializes its events into one pending batch and
//! returns; one thread takes the batch and commits it to the [`History`] in one durable
//! transaction.
//!
//! Durability trade-off: an event is durable once its batch commits, about
//! [`COMMIT_INTERVAL`] after the call was answered (AWS delivers within about 5 minutes, best
//! effort). A crash between the answer and the commit loses the events of that window; a
//! clean shutdown ([`HistoryWriter::close`]) loses nothing. When [`MAX_PENDING`] events wait
//! (the disk is far behind), `submit` waits for room rather than drop events.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::history::{Cursor, EncodedBatch, History, StoredEvent};

/// Most events waiting for the writer thread before `submit` waits for room.
pub const MAX_PENDING: usize = 65_536;
/// Pending events that end the gathering interval early (and so, while the writer keeps up,
/// the usual largest transaction).
pub const MAX_BATCH: usize = 4_096;
/// How long the writer gathers events after the first one before it commits them together.
/// One durable commit per interval instead of one per burst keeps the audit trail's disk and
/// CPU cost per event small while the data plane is busy (`LookupEvents`, `trail tail` and
/// shutdown flush at once, so nobody reading waits for it).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(200);

/// What the request path and the writer thread share.
#[derive(Default)]
struct Pending {
    /// Events submitted and not yet taken by the writer, in submission order.
    batch: EncodedBatch,
    /// Flushes waiting for everything submitted before them.
    flushes: Vec<SyncSender<Cursor>>,
    /// Set by `close`: commit what is pending and stop.
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer thread: the first event of a batch, a flush, a full batch, a close.
    work: Condvar,
    /// Wakes submitters waiting for room.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

thread_local! {
    /// Each request thread's encoding buffer: events are serialized here, outside the lock,
    /// and copied into the pending batch under it.
    static SCRATCH: RefCell<EncodedBatch> = RefCell::new(EncodedBatch::new());
}

/// Hands events to the history without waiting for the disk.
pub struct HistoryWriter {
    history: Arc<History>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    waited: AtomicU64,
}

impl std::fmt::Debug for HistoryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryWriter").finish_non_exhaustive()
    }
}

impl HistoryWriter {
    /// Starts the writer thread over `history`, committing every [`COMMIT_INTERVAL`].
    pub fn start(history: Arc<History>) -> std::io::Result<HistoryWriter> {
        Self::start_with_interval(history, COMMIT_INTERVAL)
    }

    /// Starts the writer thread over `history`, gathering events for `interval` after the
    /// first before each commit.
    pub fn start_with_interval(
        history: Arc<History>,
        interval: Duration,
    ) -> std::io::Result<HistoryWriter> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            work: Condvar::new(),
            room: Condvar::new(),
        });
        let (h, sh) = (history.clone(), shared.clone());
        let thread = std::thread::Builder::new()
            .name("airlock-cloudtrail-writer".into())
            .spawn(move || run(&h, &sh, interval))?;
        Ok(HistoryWriter {
            history,
            shared,
            thread: Some(thread),
            waited: AtomicU64::new(0),
        })
    }

    /// The history written to.
    pub fn history(&self) -> &Arc<History> {
        &self.history
    }

    /// Queues the copies of one call. Returns at once unless [`MAX_PENDING`] events wait. The
    /// events are serialized here, on the caller's thread, while they are still in its cache:
    /// the writer thread only copies bytes.
    pub fn submit(&self, events: Vec<StoredEvent>) {
        if events.is_empty() {
            return;
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            for e in &events {
                if let Err(err) = scratch.push(e) {
                    tracing::error!(target: "airlock::cloudtrail", error = %err, event_id = %e.record.event_id, "an event could not be serialized and was not recorded");
                }
            }
            if scratch.is_empty() {
                return;
            }
            let mut p = self.shared.lock();
            if p.batch.len() >= MAX_PENDING && !p.closed {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.shared.work.notify_one();
                while p.batch.len() >= MAX_PENDING && !p.closed {
                    p = self.shared.room.wait(p).unwrap_or_else(|e| e.into_inner());
                }
            }
            if p.closed {
                tracing::error!(target: "airlock::cloudtrail", "the event writer has stopped; an event was not recorded");
                return;
            }
            let before = p.batch.len();
            p.batch.append(scratch);
            let after = p.batch.len();
            drop(p);
            // The writer sleeps out its interval: wake it for a batch's first event, and when
            // the batch reaches MAX_BATCH (which ends the interval early).
            if before == 0 || (before < MAX_BATCH && after >= MAX_BATCH) {
                self.shared.work.notify_one();
            }
        });
    }

    /// Waits until every event submitted before this call is committed; returns the latest
    /// cursor.
    pub fn flush(&self) -> Cursor {
        let (done_tx, done_rx) = sync_channel(1);
        {
            let mut p = self.shared.lock();
            if p.closed {
                return self.history.latest();
            }
            p.flushes.push(done_tx);
        }
        self.shared.work.notify_one();
        done_rx.recv().unwrap_or_else(|_| self.history.latest())
    }

    /// How many times `submit` had to wait for room.
    pub fn waits(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Commits everything queued and stops the thread.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_one();
        self.shared.room.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Should the writer thread panic, stops accepting events and releases every waiting flush
/// and submitter (their senders dropped), rather than leave them blocked forever.
struct ReleaseOnPanic<'a>(&'a Shared);

impl Drop for ReleaseOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut p = self.0.lock();
            p.closed = true;
            p.flushes.clear();
            drop(p);
            self.0.room.notify_all();
        }
    }
}

fn run(history: &History, shared: &Shared, interval: Duration) {
    let _release = ReleaseOnPanic(shared);
    // The batch being committed; swapped with the pending one, so both keep their buffers.
    let mut taken = EncodedBatch::new();
    loop {
        let mut p = shared.lock();
        while p.batch.is_empty() && p.flushes.is_empty() && !p.closed {
            p = shared.work.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        // Gather for the interval after the first event, unless a flush, a close or a full
        // batch ends it early. Submitting an event never has to wake this thread meanwhile.
        let deadline = Instant::now() + interval;
        while p.flushes.is_empty() && !p.closed && p.batch.len() < MAX_BATCH {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            p = shared
                .work
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        std::mem::swap(&mut p.batch, &mut taken);
        let flushes = std::mem::take(&mut p.flushes);
        let closed = p.closed;
        drop(p);
        shared.room.notify_all();
        commit(history, &mut taken);
        for f in flushes {
            let _ = f.send(history.latest());
        }
        if closed && shared.lock().batch.is_empty() {
            return;
        }
    }
}

fn commit(history: &History, batch: &mut EncodedBatch) {
    if batch.is_empty() {
        return;
    }
    // A failing store is retried a few times; the events are logged if it keeps failing.
    for attempt in 0..3 {
        match history.append_encoded(batch) {
            Ok(_) => {
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::error!(target: "airlock::cloudtrail", attempt, error = %e, "committing events failed");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    for (json, _) in batch.iter() {
        tracing::error!(target: "airlock::cloudtrail", record = %String::from_utf8_lossy(json), "event not stored");
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use airlock_store::RedbStore;

    fn ev(i: i64) -> StoredEvent {
        StoredEvent::new(CloudTrailEvent {
            event_version: "1.09".into(),
            user_identity: UserIdentity {
                kind: IdentityType::Root,
                principal_id: Some("111111111111".into()),
                arn: Some("arn:aws:iam::111111111111:root".into()),
                account_id: Some("111111111111".into()),
                access_key_id: None,
                user_name: None,
                session_context: None,
                invoked_by: None,
            },
            event_time: format_epoch(1_800_000_000 + i),
            event_source: "s3.amazonaws.com".into(),
            event_name: "PutObject".into(),
            aws_region: "us-east-1".into(),
            source_ip_address: "127.0.0.1".into(),
            user_agent: None,
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: format!("r{i}"),
            event_id: format!("e{i}"),
            read_only: false,
            resources: vec![],
            event_type: EventType::AwsApiCall,
            management_event: false,
            recipient_account_id: "111111111111".into(),
            shared_event_id: None,
            vpc_endpoint_id: None,
            vpc_endpoint_account_id: None,
            event_category: EventCategory::Data,
            tls_details: None,
        })
    }

    /// A writer over a fresh history in memory, gathering for `interval`.
    fn writer(interval: Duration) -> (Arc<History>, HistoryWriter) {
        let history = Arc::new(History::open(Arc::new(RedbStore::in_memory().unwrap())).unwrap());
        let w = HistoryWriter::start_with_interval(history.clone(), interval).unwrap();
        (history, w)
    }

    /// Liveness, not speed: waits (up to a minute) until `n` events are committed without a
    /// flush.
    fn wait_for_commit(history: &History, n: u64, what: &str) {
        let mut polls = 0;
        while history.latest() < Cursor(n) {
            polls += 1;
            assert!(polls < 6_000, "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn flush_sees_everything_submitted_and_close_commits_the_rest() {
        let (history, w) = writer(COMMIT_INTERVAL);
        for i in 0..1000 {
            w.submit(vec![ev(i)]);
        }
        assert_eq!(w.flush(), Cursor(1000));
        let got = history.read_after(Cursor(0), 2000).unwrap();
        let ids: Vec<String> = got.iter().map(|(_, e)| e.record.event_id.clone()).collect();
        let want: Vec<String> = (0..1000).map(|i| format!("e{i}")).collect();
        assert_eq!(ids, want, "submission order is sequence order");
        for i in 1000..1010 {
            w.submit(vec![ev(i)]);
        }
        w.close();
        assert_eq!(history.latest(), Cursor(1010));
    }

    #[test]
    fn gathered_events_commit_without_a_flush() {
        let (history, w) = writer(Duration::from_millis(20));
        for i in 0..10 {
            w.submit(vec![ev(i)]);
        }
        // The interval ends and the batch commits on its own.
        wait_for_commit(&history, 10, "the gathered events were never committed");
        assert_eq!(history.read_after(Cursor(0), 100).unwrap().len(), 10);
    }

    #[test]
    fn concurrent_submitters_lose_nothing_and_keep_their_own_order() {
        let (history, w) = writer(Duration::from_millis(5));
        let w = Arc::new(w);
        let threads: Vec<_> = (0..4i64)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        w.submit(vec![ev(t * 1000 + i)]);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.flush(), Cursor(2000));
        let got = history.read_after(Cursor(0), 4000).unwrap();
        assert_eq!(got.len(), 2000);
        for t in 0..4 {
            let mine: Vec<String> = got
                .iter()
                .map(|(_, e)| e.record.event_id.clone())
                .filter(|id| id[1..].parse::<i64>().unwrap() / 1000 == t)
                .collect();
            let want: Vec<String> = (0..500).map(|i| format!("e{}", t * 1000 + i)).collect();
            assert_eq!(mine, want, "thread {t}'s events in its order");
        }
        // Closing with nothing pending commits nothing more.
        let w = Arc::into_inner(w).unwrap();
        w.close();
        assert_eq!(history.latest(), Cursor(2000));
    }

    #[test]
    fn a_full_batch_commits_before_the_interval_ends() {
        // An interval far longer than the test may take: only reaching MAX_BATCH commits.
        let (history, w) = writer(Duration::from_secs(3600));
        for i in 0..MAX_BATCH as i64 {
            w.submit(vec![ev(i)]);
        }
        wait_for_commit(
            &history,
            MAX_BATCH as u64,
            "a full batch waited for the interval",
        );
        w.close();
    }
}
