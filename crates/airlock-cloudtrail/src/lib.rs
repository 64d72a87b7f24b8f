//! # airlock-cloudtrail
//!
//! The audit trail of the local endpoint, in CloudTrail's own formats, without HTTP:
//!
//! - [`event`]: the CloudTrail record ([`CloudTrailEvent`]) with CloudTrail's field names and
//!   shapes (`userIdentity`, `requestParameters`, `resources`, `tlsDetails`, ...).
//! - [`history`]: the durable event history on the server's [`airlock_store::Store`]: one
//!   global, monotonic sequence of [`StoredEvent`]s (one per recipient account) that trail
//!   delivery reads with a durable [`Cursor`] ([`History::read_after`]), and the
//!   per-account index behind `LookupEvents` ([`History::lookup`]).
//! - [`writer`]: the background writer that batches events into the history so the request
//!   path never waits for a disk commit of the audit trail.
//!
//! - [`trail`], [`selectors`]: trails and their event selectors, durable in the store.
//! - [`delivery`]: gzipped log files and signed digest files into each trail's bucket, after a
//!   durable per-trail cursor (at least once), through a sink the server implements with S3.
//! - [`digest`]: the digest format, per-region RSA signing keys sealed at rest, public keys.
//! - [`validate`]: log file integrity validation as `aws cloudtrail validate-logs` does it.
//!
//! The server builds the records (it knows the request); this crate stores and queries them.
#![deny(missing_docs)]

pub mod delivery;
pub mod digest;
pub mod event;
pub mod history;
pub mod selectors;
pub mod trail;
pub mod validate;
pub mod writer;

pub use event::{
    CloudTrailEvent, EventCategory, EventResource, EventType, IdentityType, SessionAttributes,
    SessionContext, SessionIssuer, TlsDetails, UserIdentity, format_epoch, format_event_time,
    parse_event_time,
};
pub use history::{
    Cursor, EncodedBatch, History, HistoryError, LookupAttribute, LookupAttributeKey, LookupPage,
    LookupQuery, StoredEvent,
};
pub use writer::HistoryWriter;
