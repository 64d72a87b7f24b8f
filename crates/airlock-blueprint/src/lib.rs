//! # airlock-blueprint
//!
//! A blueprint is one declarative TOML file that describes the whole cross-account setup of the
//! seed tutorial: accounts, bucket, key, roles, consumers and the VPC endpoints admitted. This
//! crate turns it into a [`plan::Plan`]: every resource per account, in dependency order, and
//! every policy document, generated either exactly as the seed writes them (`as-written`) or with
//! each of the seed's flaws fixed by a named switch (`hardened`).
//!
//! This crate is pure: it performs no I/O (the CLI reads the file), no network, no async.

#![deny(missing_docs)]

pub mod plan;

pub use blueprint::{Blueprint, BlueprintError};
pub use plan::{Bindings, Plan, PolicyTemplate, Profile, Reference};
pub mod blueprint;
pub mod generate;
pub mod setup;
