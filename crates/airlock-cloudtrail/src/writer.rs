//! The background writer: the request path hands events to a bounded queue and returns; one
//! thread commits them to the [`History`] in batches (one durable transaction per batch).
//!
//! Durability trade-off: an event is durable once its batch commits, about
//! [`COMMIT_INTERVAL`] after the call was answered (AWS delivers within about 5 minutes, best
//! effort). A crash between the answer and the commit loses the events of that window; a clean shutdown ([`HistoryWriter::close`])
//! loses nothing. When the queue is full (the disk is far behind), `submit` waits for room
//! rather than drop events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::history::{Cursor, EncodedEvent, History, StoredEvent};

/// Capacity of the queue, in batches handed over by `submit`.
pub const QUEUE_CAPACITY: usize = 65_536;
/// Largest number of events committed in one transaction.
pub const MAX_BATCH: usize = 4_096;
/// How long the writer gathers events after the first one before it commits them together.
/// One durable commit per interval instead of one per burst keeps the audit trail's disk and
/// CPU cost per event small while the data plane is busy (`LookupEvents`, `trail tail` and
/// shutdown flush at once, so nobody reading waits for it).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(200);

enum Msg {
    Events(Vec<EncodedEvent>),
    Flush(SyncSender<Cursor>),
}

/// Hands events to the history without waiting for the disk.
pub struct HistoryWriter {
    history: Arc<History>,
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<()>>,
    waited: AtomicU64,
    /// Set (and the thread unparked) by a flush, so the thread commits before its interval ends.
    flush_requested: Arc<AtomicBool>,
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
        let (tx, rx) = sync_channel(QUEUE_CAPACITY);
        let h = history.clone();
        let flush_requested = Arc::new(AtomicBool::new(false));
        let flag = flush_requested.clone();
        let thread = std::thread::Builder::new()
            .name("airlock-cloudtrail-writer".into())
            .spawn(move || run(h, rx, interval, flag))?;
        Ok(HistoryWriter {
            history,
            tx: Some(tx),
            thread: Some(thread),
            waited: AtomicU64::new(0),
            flush_requested,
        })
    }

    /// The history written to.
    pub fn history(&self) -> &Arc<History> {
        &self.history
    }

    /// Queues the copies of one call. Returns at once unless the queue is full. The events are
    /// serialized here, on the caller's thread, while they are still in its cache: the writer
    /// thread only copies bytes.
    pub fn submit(&self, events: Vec<StoredEvent>) {
        if events.is_empty() {
            return;
        }
        let Some(tx) = &self.tx else { return };
        let encoded = events
            .iter()
            .filter_map(|e| {
                EncodedEvent::encode(e)
                    .inspect_err(|err| {
                        tracing::error!(target: "airlock::cloudtrail", error = %err, event_id = %e.record.event_id, "an event could not be serialized and was not recorded");
                    })
                    .ok()
            })
            .collect();
        match tx.try_send(Msg::Events(encoded)) {
            Ok(()) => {}
            Err(TrySendError::Full(m)) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(m);
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!(target: "airlock::cloudtrail", "the event writer has stopped; an event was not recorded");
            }
        }
    }

    /// Waits until every event submitted before this call is committed; returns the latest
    /// cursor.
    pub fn flush(&self) -> Cursor {
        let Some(tx) = &self.tx else {
            return self.history.latest();
        };
        let (done_tx, done_rx) = sync_channel(1);
        if tx.send(Msg::Flush(done_tx)).is_err() {
            return self.history.latest();
        }
        self.wake();
        done_rx.recv().unwrap_or_else(|_| self.history.latest())
    }

    /// How many times `submit` had to wait for room in the queue.
    pub fn waits(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Commits everything queued and stops the thread.
    pub fn close(mut self) {
        self.stop();
    }

    /// Ends the writer's gathering interval now.
    fn wake(&self) {
        self.flush_requested.store(true, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    fn stop(&mut self) {
        self.tx.take();
        self.wake();
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

fn run(history: Arc<History>, rx: Receiver<Msg>, interval: Duration, flush: Arc<AtomicBool>) {
    let mut batch: Vec<EncodedEvent> = Vec::new();
    let mut waiting: Vec<SyncSender<Cursor>> = Vec::new();
    let take =
        |m: Msg, batch: &mut Vec<EncodedEvent>, waiting: &mut Vec<SyncSender<Cursor>>| match m {
            Msg::Events(e) => batch.extend(e),
            Msg::Flush(done) => waiting.push(done),
        };
    while let Ok(first) = rx.recv() {
        take(first, &mut batch, &mut waiting);
        // Sleep out the interval without waiting on the queue, so that submitting an event
        // never has to wake this thread; a flush request unparks it early.
        let deadline = Instant::now() + interval;
        while waiting.is_empty() && !flush.swap(false, Ordering::AcqRel) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
        }
        // Everything queued by now, committed in transactions of at most MAX_BATCH events.
        while let Ok(m) = rx.try_recv() {
            take(m, &mut batch, &mut waiting);
            if batch.len() >= MAX_BATCH {
                commit(&history, &mut batch);
            }
        }
        commit(&history, &mut batch);
        for w in waiting.drain(..) {
            let _ = w.send(history.latest());
        }
    }
    commit(&history, &mut batch);
}

fn commit(history: &History, batch: &mut Vec<EncodedEvent>) {
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
    for e in batch.drain(..) {
        tracing::error!(target: "airlock::cloudtrail", record = %String::from_utf8_lossy(&e.json), "event not stored");
    }
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

    #[test]
    fn flush_sees_everything_submitted_and_close_commits_the_rest() {
        let history = Arc::new(History::open(Arc::new(RedbStore::in_memory().unwrap())).unwrap());
        let w = HistoryWriter::start(history.clone()).unwrap();
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
        let history = Arc::new(History::open(Arc::new(RedbStore::in_memory().unwrap())).unwrap());
        let w = HistoryWriter::start_with_interval(
            history.clone(),
            std::time::Duration::from_millis(20),
        )
        .unwrap();
        for i in 0..10 {
            w.submit(vec![ev(i)]);
        }
        // Liveness, not speed: the interval ends and the batch commits on its own.
        let mut polls = 0;
        while history.latest() < Cursor(10) {
            polls += 1;
            assert!(polls < 6_000, "the gathered events were never committed");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(history.read_after(Cursor(0), 100).unwrap().len(), 10);
    }
}
