//! KMS errors, each carrying AWS's error code and message.

use airlock_policy::Evaluation;
use airlock_store::StoreError;

use crate::master::MasterKeyError;

/// A KMS error. [`KmsError::code`] is AWS's `__type`, [`KmsError::message`] the message AWS
/// sends with it.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// `NotFoundException`: no such key, alias or policy.
    #[error("{0}")]
    NotFound(String),
    /// `AlreadyExistsException`: the alias exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// `InvalidCiphertextException`. AWS sends no message; the reason is for the server log.
    #[error("invalid ciphertext: {reason}")]
    InvalidCiphertext {
        /// Why (logged, never sent).
        reason: String,
    },
    /// `IncorrectKeyException`: the `KeyId` of a Decrypt is not the key of the ciphertext.
    #[error("{0}")]
    IncorrectKey(String),
    /// `KMSInvalidStateException`: e.g. the key is pending deletion.
    #[error("{0}")]
    InvalidState(String),
    /// `DisabledException`: the key is disabled.
    #[error("{0}")]
    Disabled(String),
    /// `MalformedPolicyDocumentException`: the policy does not parse, or would lock the caller out.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `ValidationException`: a parameter is out of range or malformed.
    #[error("{0}")]
    Validation(String),
    /// `AccessDeniedException`, with AWS's message and the engine's evaluation (for the log).
    #[error("{message}")]
    AccessDenied {
        /// `User: ARN is not authorized to perform: ACTION on resource: ARN because ...`.
        message: String,
        /// The denied action (`kms:Decrypt`).
        action: String,
        /// The resource of the denied action (a key ARN, an alias ARN or `*`).
        resource: String,
        /// The decision and its explanation; `None` when no policy evaluation took place.
        evaluation: Option<Box<Evaluation>>,
    },
    /// `InvalidKeyUsageException`: e.g. an RSA encryption algorithm with a symmetric key.
    #[error("{0}")]
    InvalidKeyUsage(String),
    /// `NotAuthorizedException`: e.g. an alias in the reserved `alias/aws/` namespace.
    #[error("{0}")]
    NotAuthorized(String),
    /// `InvalidAliasNameException`.
    #[error("{0}")]
    InvalidAliasName(String),
    /// `InvalidMarkerException`: a pagination marker this server did not issue.
    #[error("{0}")]
    InvalidMarker(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
    /// `TagException`.
    #[error("{0}")]
    Tag(String),
    /// `UnsupportedOperationException`: a key type or feature airlock does not implement.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// `KMSInternalException`: storage failed; nothing was changed.
    #[error("{0}")]
    Internal(String),
}

impl KmsError {
    /// AWS's error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            KmsError::NotFound(_) => "NotFoundException",
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::InvalidCiphertext { .. } => "InvalidCiphertextException",
            KmsError::IncorrectKey(_) => "IncorrectKeyException",
            KmsError::InvalidState(_) => "KMSInvalidStateException",
            KmsError::Disabled(_) => "DisabledException",
            KmsError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            KmsError::Validation(_) => "ValidationException",
            KmsError::AccessDenied { .. } => "AccessDeniedException",
            KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            KmsError::NotAuthorized(_) => "NotAuthorizedException",
            KmsError::InvalidAliasName(_) => "InvalidAliasNameException",
            KmsError::InvalidMarker(_) => "InvalidMarkerException",
            KmsError::LimitExceeded(_) => "LimitExceededException",
            KmsError::Tag(_) => "TagException",
            KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
            KmsError::Internal(_) => "KMSInternalException",
        }
    }

    /// The message AWS sends, if any (`InvalidCiphertextException` has none).
    pub fn message(&self) -> Option<String> {
        match self {
            KmsError::InvalidCiphertext { .. } => None,
            other => Some(other.to_string()),
        }
    }

    /// The HTTP status AWS answers with: 500 for internal errors, 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            KmsError::Internal(_) => 500,
            _ => 400,
        }
    }

    pub(crate) fn invalid_ciphertext(reason: impl Into<String>) -> KmsError {
        KmsError::InvalidCiphertext {
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> Self {
        KmsError::Internal(format!("the KMS state could not be read or written: {e}"))
    }
}

/// Why [`crate::Kms::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The master key does not match the data directory, or could not be loaded.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// The store failed or holds records this airlock cannot read.
    #[error("cannot load the KMS state: {0}")]
    Store(#[from] StoreError),
    /// A stored record is inconsistent (e.g. sealed material that does not open).
    #[error("the KMS state is corrupt: {0}")]
    Corrupt(String),
}
