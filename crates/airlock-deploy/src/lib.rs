//! # airlock-deploy
//!
//! Applies a blueprint's [`airlock_blueprint::Plan`] to live accounts, verifies the result with
//! the seed tutorial's checks and per-layer negative probes, and destroys it, through
//! aws-sdk-rust with the standard credential chain and endpoint configuration. The same code
//! talks to the local endpoint (`airlock serve`) and to real AWS.
//!
//! - [`apply::apply`]: creates or corrects everything in the plan's step order and records it
//!   in `BLUEPRINT.state.json` ([`state`]); idempotent, reports and corrects drift (policies
//!   compared by meaning, [`policy`]).
//! - [`verify::verify`]: Phase 3, the four checklist tests and the probes; each check has
//!   expected, got and why.
//! - [`destroy::destroy`]: the seed's cleanup order; the key's deletion scheduled (7 days);
//!   only what the deployment can prove it created ([`ownership`]), the rest listed as left.
//! - [`ownership`]: the tags every created resource carries, and the rules of proof and
//!   adoption that keep apply and destroy off resources they did not create.
//! - [`record`]: records the requests sent, to compare them with an expectation.
#![deny(missing_docs)]

pub mod apply;
pub mod connect;
pub mod destroy;
pub mod error;
pub mod ownership;
pub mod policy;
pub mod record;
pub mod state;
mod survey;
pub mod target;
pub mod verify;

/// Serializes a duration as whole milliseconds (the reports' `elapsed`).
fn millis<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

pub use apply::{ApplyOptions, ApplyReport, Outcome, StepReport, apply, apply_with};
pub use connect::{AccountClients, ClientOptions};
pub use destroy::{DestroyReport, destroy};
pub use error::DeployError;
pub use state::{State, state_path};
pub use target::{EndpointUrls, Target};
pub use verify::{InstanceSide, VerifyReport, verify};
