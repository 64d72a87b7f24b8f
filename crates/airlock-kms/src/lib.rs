//! # airlock-kms
//!
//! The KMS domain of airlock: customer managed symmetric keys whose key policy is the root of
//! trust, envelope encryption with AES-256-GCM, aliases, tags, rotation and the deletion window,
//! with AWS's validation rules, key-state rules and error codes.
//!
//! No HTTP here: the server maps the JSON protocol (`TrentService.*`) onto [`Kms`], and S3 calls
//! the same methods in-process for SSE-KMS, with the caller as principal and
//! [`Caller::via_service`] setting `kms:ViaService`. Every method authorizes through the policy
//! engine exactly as the wire operation does.
//!
//! Key material never reaches the store in plaintext: each version is sealed under the server
//! [`MasterKey`] (see [`master`]). Ciphertext blobs name their key and key-material version
//! (format in [`crypto`]), so rotation keeps every older ciphertext decryptable.
//!
//! ```
//! use std::sync::Arc;
//! use airlock_kms::{Caller, CreateKeyInput, DecryptInput, GenerateDataKeyInput, Kms, MasterKey, SystemClock};
//! use airlock_policy::{Context, PolicySet, Principal};
//! use airlock_store::RedbStore;
//!
//! let kms = Kms::open(
//!     Arc::new(RedbStore::in_memory().unwrap()),
//!     MasterKey::generate(),
//!     "us-east-1",
//!     Arc::new(SystemClock),
//! )
//! .unwrap();
//! // The account root, under the default key policy.
//! let root = Caller::new(
//!     Principal::Root { account: "222222222222".into() },
//!     PolicySet::default(),
//!     Context::new(),
//! );
//! let key = kms.create_key(&root, CreateKeyInput::default()).unwrap();
//! let context: airlock_kms::EncryptionContext =
//!     [("aws:s3:arn".to_string(), "arn:aws:s3:::bucket".to_string())].into();
//! let via_s3 = root.clone().via_service("s3.us-east-1.amazonaws.com");
//! let data_key = kms
//!     .generate_data_key(&via_s3, &GenerateDataKeyInput {
//!         key_id: key.arn.clone(),
//!         encryption_context: context.clone(),
//!         key_spec: Some("AES_256".into()),
//!         ..Default::default()
//!     })
//!     .unwrap();
//! let plain = kms
//!     .decrypt(&via_s3, &DecryptInput {
//!         ciphertext_blob: data_key.ciphertext_blob.clone(),
//!         encryption_context: context,
//!         ..Default::default()
//!     })
//!     .unwrap();
//! assert_eq!(plain.plaintext, data_key.plaintext.unwrap());
//! ```
#![deny(missing_docs)]

mod authz;
pub mod crypto;
mod error;
pub mod ids;
pub mod master;
mod model;
mod service;

pub use authz::{Caller, KeyUse, KeyUseObserver, default_key_policy};
pub use crypto::{BlobHeader, EncryptionContext};
pub use error::{KmsError, OpenError};
pub use ids::{KeyId, KeyIdentifier};
pub use master::{MasterKey, MasterKeyError, MasterKeySource};
pub use model::{
    AliasListEntry, Clock, DAY_MS, KeyListEntry, KeyMetadata, KeyRotation, KeyState, Maintenance,
    ManualClock, Page, RotationStatus, RotationType, ScheduledDeletion, SystemClock, Tag,
};
pub use service::{
    CIPHERTEXT_OVERHEAD, CreateKeyInput, DecryptInput, DecryptOutput, EncryptInput, EncryptOutput,
    GenerateDataKeyInput, GenerateDataKeyOutput, Kms, MAX_CIPHERTEXT, MAX_PLAINTEXT,
    ReEncryptInput, ReEncryptOutput,
};
