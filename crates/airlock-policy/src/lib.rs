//! # airlock-policy
//!
//! The AWS policy language: parse policy documents as AWS accepts them, evaluate requests exactly
//! as AWS decides them, and explain every decision as data.
//!
//! This crate is pure: it performs no I/O, spawns nothing, and knows nothing of HTTP or storage.
//!
//! ```
//! use std::sync::Arc;
//! use airlock_policy::{
//!     evaluate, Context, Decision, NamedPolicy, Policy, PolicyId, PolicyKind, PolicySet,
//!     Principal, Request, Resource,
//! };
//!
//! // The seed's bucket policy: only through the VPC endpoint, only the cross-account role.
//! let bucket_policy = Policy::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [
//!     {"Sid": "DenyAllExceptVPCEndpoint", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
//!      "Resource": ["arn:aws:s3:::demo", "arn:aws:s3:::demo/*"],
//!      "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f6g7h8"}}},
//!     {"Sid": "AllowCrossAccountRole", "Effect": "Allow",
//!      "Principal": {"AWS": "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole"},
//!      "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
//!      "Resource": ["arn:aws:s3:::demo", "arn:aws:s3:::demo/*"]}
//!   ]}"#, PolicyKind::Resource).unwrap();
//!
//! let policies = PolicySet {
//!     resource: Some(NamedPolicy {
//!         id: PolicyId { kind: PolicyKind::Resource, name: "arn:aws:s3:::demo".into() },
//!         policy: Arc::new(bucket_policy),
//!     }),
//!     ..PolicySet::default()
//! };
//! let role = Principal::RoleSession {
//!     account: "222222222222".into(),
//!     role_name: "CrossAccountS3AccessRole".into(),
//!     role_path: "/".into(),
//!     role_id: "AROAEXAMPLEROLEID0001".into(),
//!     session_name: "cross-account-session".into(),
//!     tags: Default::default(),
//!     source_identity: None,
//! };
//! let mut request = Request {
//!     principal: role,
//!     action: "s3:GetObject".into(),
//!     resource: Resource {
//!         arn: "arn:aws:s3:::demo/test-file.txt".into(),
//!         account: Some("222222222222".into()),
//!     },
//!     context: Context::new().with("aws:SourceVpce", "vpce-0a1b2c3d4e5f6g7h8"),
//! };
//!
//! // Through the endpoint: the bucket policy grants the role (same account, no IAM policy needed).
//! assert_eq!(evaluate(&request, &policies).decision, Decision::Allow);
//!
//! // From outside the VPC: the Deny applies, because `aws:SourceVpce` is absent.
//! request.context = Context::new();
//! let evaluation = evaluate(&request, &policies);
//! assert_eq!(evaluation.decision, Decision::ExplicitDeny);
//! assert_eq!(evaluation.explanation.deciding[0].sid.as_deref(), Some("DenyAllExceptVPCEndpoint"));
//! assert_eq!(evaluation.explanation.missing_context_keys, ["aws:SourceVpce"]);
//! println!("{evaluation}");
//! ```
//!
//! ## Fidelity notes
//!
//! The rules come from AWS's documentation, cited next to the code that implements them. Where
//! the documentation is silent or ambiguous, these are the choices made (and where they differ
//! from `@cloud-copilot/iam-simulate`, the differential oracle):
//!
//! - **Unresolvable policy variables** (`${aws:username}` for a role session, a multi-valued
//!   key) make the resource pattern or condition value that contains them unsatisfiable: it
//!   matches nothing, and it cannot be "not matched" either, so `NotResource` and negated
//!   operators with such a value fail, while the other values of a `Resource` list or of a
//!   positive operator still count. ("If AWS cannot resolve a variable this might cause the
//!   entire statement to be invalid"; iam-simulate decides the same way.)
//! - **`NotPrincipal`** excludes a caller only if every link of its chain is named (account,
//!   role and session; or account and user), per the NotPrincipal page. iam-simulate excludes
//!   on any match.
//! - **`...IfExists` with `ForAnyValue:`** holds when the key is absent, as `IfExists` says;
//!   iam-simulate returns false.
//! - **Session policies** do not limit a resource-policy grant that names the session ARN (IAM
//!   User Guide, "Session policies"); iam-simulate lets the session policy deny regardless.
//! - **The root user** has every permission of its own account on the identity side; the
//!   bucket owner's root user may always get, put and delete the bucket policy.
//! - **Multi-valued keys without a set operator** never match (AWS, as confirmed to
//!   iam-simulate's authors); `ForAllValues:` holds for an absent or empty key.
//! - **Resource ARNs** match field by field, case-sensitively; a trailing `*` in the last field
//!   of the pattern absorbs colons. iam-simulate compares partition, service, region and account
//!   case-insensitively.
//! - **Parsing**: operator names are accepted in any case; duplicate JSON keys are rejected;
//!   `Sid` uniqueness is enforced except in key and endpoint policies, and IAM-stored policies
//!   (identity, boundary, session, trust) require alphanumeric Sids; trust policies reject
//!   `Resource` and `NotPrincipal`; RCPs require `"Principal": "*"`.
//! - Only the `aws` partition is modelled for principals ([`Principal::arn`]).
#![deny(missing_docs)]

mod condition;
pub mod decision;
pub mod error;
mod eval;
mod explain;
mod glob;
mod json;
pub mod model;
pub mod operand;
mod parse;
pub mod public;
pub mod request;
pub mod setup;

pub use decision::{
    Decision, Evaluation, Explanation, ImplicitGrant, MissingAllow, NamedPolicy, PolicyId,
    PolicyKind, PolicySet, StatementRef,
};
pub use error::{ParseError, ParseErrorKind};
pub use eval::evaluate;
pub use model::{
    ActionClause, ActionPattern, Condition, ConditionOperator, Effect, OperatorKind, Policy,
    PrincipalClause, PrincipalEntry, Principals, ResourceClause, ResourcePattern, SetQualifier,
    Statement, Version,
};
pub use request::{Context, ContextValue, Principal, Request, Resource};
