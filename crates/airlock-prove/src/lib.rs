//! # airlock-prove
//!
//! Properties over *every* possible request to a setup, decided exactly, with a concrete
//! counterexample request when a property fails.
//!
//! The policy fragment of AWS IAM is decidable with automata and intervals: string conditions
//! are glob/equality languages, numbers and dates are intervals, IP addresses are 128-bit
//! ranges, Booleans and `Null` are finite. [`solver`] runs a DPLL(T) search over the Boolean
//! structure of the policies with one theory solver per variable; [`encode`] translates a policy
//! set into that logic with the engine's exact semantics; [`check`] states the properties and
//! findings; [`report`] renders results as a table, JSON or SARIF 2.1.0.
//!
//! This crate is pure: no I/O.
#![deny(missing_docs)]

pub mod catalog;
pub mod check;
pub mod compare;
pub mod encode;
pub mod findings;
pub mod lang;
pub mod logic;
pub mod report;
pub mod sets;
pub mod smt;
pub mod solver;
pub mod space;
pub mod unicase;
