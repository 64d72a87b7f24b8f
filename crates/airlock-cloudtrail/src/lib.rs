//! # airlock-cloudtrail
//!
//! The CloudTrail domain of airlock: trails and their event selectors, delivery of gzipped log
//! files into S3 and log file integrity validation (signed, chained digest files). No HTTP:
//! the server maps CloudTrail's JSON 1.1 protocol onto these types and writes the files into
//! S3 through the one request pipeline, as the CloudTrail service principal.
#![deny(missing_docs)]

pub mod delivery;
pub mod digest;
pub mod selectors;
pub mod trail;
pub mod validate;
