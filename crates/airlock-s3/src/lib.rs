//! # airlock-s3
//!
//! The S3 domain of airlock: buckets and their configuration (policy, Block Public Access,
//! default encryption, ownership controls, versioning, tags), objects with versions and delete
//! markers, listings and multipart uploads, with S3's rules and error codes. No HTTP: the
//! server maps S3's REST-XML protocol onto [`S3`], and the policy engine decides the S3
//! permissions of each request before any method here runs.
//!
//! ## Encryption at rest
//! Every object is stored encrypted, whatever its server-side-encryption setting: AES-256-GCM
//! in 64 KiB authenticated chunks ([`crypto`]), under a data key that KMS wraps (SSE-KMS, the
//! KMS key policy deciding for the caller, with S3 Bucket Keys) or that the server's SSE-S3 key
//! seals ([`keys`]). Ranges decrypt only the chunks they touch; tampered, truncated or swapped
//! data fails authentication and is never served.
//!
//! ## Durability
//! A change is answered only after its data is fsynced and renamed into place and its metadata
//! committed in one durable transaction ([`disk`], [`meta`]); concurrent changes share
//! transactions (group commit). A crash leaves the old object or the new one, and the debris
//! it can leave (files nothing references) is swept at start.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn airlock_store::Store>, kms: std::sync::Arc<airlock_kms::Kms>) -> Result<(), Box<dyn std::error::Error>> {
//! use airlock_s3::S3;
//! let s3 = S3::open(store, std::path::Path::new("/tmp/airlock/s3"), kms, &[0u8; 32])?;
//! s3.create_bucket("222222222222", "cross-account-secure-bucket-demo", "us-east-1", None).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod cache;
pub mod checksum;
pub mod crypto;
pub mod disk;
mod engine;
pub mod error;
pub mod keys;
pub mod listing;
pub mod meta;
pub mod model;
pub mod multipart;
pub mod names;
pub mod objects;
pub mod pool;

pub use engine::{Bucket, OpenError, S3, SweepReport};
pub use error::{Code, KmsDenial, S3Error};
