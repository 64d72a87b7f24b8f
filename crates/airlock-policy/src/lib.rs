//! # airlock-policy
//!
//! The AWS policy language: parse policy documents as AWS accepts them, evaluate requests exactly
//! as AWS decides them, and explain every decision as data.
//!
//! This crate is pure: it performs no I/O, spawns nothing, and knows nothing of HTTP or storage.
#![deny(missing_docs)]

pub mod decision;
pub mod model;
pub mod request;

pub use decision::{
    Decision, Evaluation, Explanation, MissingAllow, NamedPolicy, PolicyId, PolicyKind, PolicySet,
    StatementRef,
};
pub use model::{
    ActionClause, ActionPattern, Condition, ConditionOperator, Effect, OperatorKind, Policy,
    PrincipalClause, PrincipalEntry, Principals, ResourceClause, ResourcePattern, SetQualifier,
    Statement, Version,
};
pub use request::{Context, ContextValue, Principal, Request, Resource};
