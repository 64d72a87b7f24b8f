//! # airlock-iam
//!
//! The IAM domain of airlock: accounts, users and their access keys, roles with trust policies,
//! inline and managed policies (with versions), permissions boundaries, instance profiles and
//! tags, with AWS's validation rules and error codes. It also answers the question the request
//! pipeline asks on every call: which identity policies and boundary apply to a principal.
//!
//! No HTTP here: the server maps the query protocol onto [`Iam`]. State lives in an
//! [`airlock_store::Store`]; every mutating method is one durable transaction, so a method that
//! returns `Ok` has committed, and one that returns `Err` changed nothing. Secret access keys
//! are stored only sealed, by the [`SecretSealer`] the embedding program passes in ([`seal`]).
//!
//! ```
//! use std::sync::Arc;
//! use airlock_iam::{AesGcmSealer, CreateRole, Iam};
//! use airlock_store::RedbStore;
//!
//! let sealer = Arc::new(AesGcmSealer::new(&[7u8; 32]));
//! let iam = Iam::new(Arc::new(RedbStore::in_memory().unwrap()), sealer);
//! iam.ensure_account("111111111111", "account-a").unwrap();
//! let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!     "Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
//! let role = iam.create_role("111111111111", CreateRole::new("EC2CrossAccountAssumeRole", trust)).unwrap();
//! assert_eq!(role.arn, "arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole");
//! ```
#![deny(missing_docs)]

pub mod aws_managed;
pub mod ids;
pub mod model;
pub mod policy;
pub mod seal;
mod service;
pub mod validate;

pub use model::{
    AccessKey, AccessKeyStatus, Account, InstanceProfile, ManagedPolicy, PolicyVersion, Role, Tag,
    User,
};
pub use seal::{AesGcmSealer, SecretSealer};
pub use service::{
    CreateRole, CreateUser, EntityKind, Iam, PolicyScope, PrincipalPolicies, seal_stored_secrets,
};

use airlock_store::StoreError;

/// An IAM error, carrying AWS's error code and message.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// `NoSuchEntity` (404).
    #[error("{0}")]
    NoSuchEntity(String),
    /// `EntityAlreadyExists` (409).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// `DeleteConflict` (409).
    #[error("{0}")]
    DeleteConflict(String),
    /// `LimitExceeded` (409).
    #[error("{0}")]
    LimitExceeded(String),
    /// `MalformedPolicyDocument` (400), with the parser's reason.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `InvalidInput` (400).
    #[error("{0}")]
    InvalidInput(String),
    /// `ValidationError` (400).
    #[error("{0}")]
    Validation(String),
    /// The store failed: `ServiceFailure` (500).
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl IamError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            IamError::NoSuchEntity(_) => "NoSuchEntity",
            IamError::EntityAlreadyExists(_) => "EntityAlreadyExists",
            IamError::DeleteConflict(_) => "DeleteConflict",
            IamError::LimitExceeded(_) => "LimitExceeded",
            IamError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            IamError::InvalidInput(_) => "InvalidInput",
            IamError::Validation(_) => "ValidationError",
            IamError::Store(_) => "ServiceFailure",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            IamError::NoSuchEntity(_) => 404,
            IamError::EntityAlreadyExists(_)
            | IamError::DeleteConflict(_)
            | IamError::LimitExceeded(_) => 409,
            IamError::MalformedPolicyDocument(_)
            | IamError::InvalidInput(_)
            | IamError::Validation(_) => 400,
            IamError::Store(_) => 500,
        }
    }
}

/// `arn:aws:iam::ACCT:root`.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// Current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
