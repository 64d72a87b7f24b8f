//! Errors as they go on the wire: an AWS error code, message and HTTP status.

/// An authorization denial decided while an operation ran, rather than by the pipeline's
/// checks: KMS finds the key of a `Decrypt` only in the ciphertext, and services that call KMS
/// in-process (S3 with SSE-KMS) are denied inside their operation. The pipeline records it as
/// the call's decision, with the engine's explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// The denied action (`kms:Decrypt`).
    pub action: String,
    /// The resource of the denied action.
    pub resource: String,
    /// The engine's explanation.
    pub explanation: airlock_policy::Explanation,
}

impl Eq for Denial {}

/// An error answered to the client, rendered in the service's protocol format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status.
    pub status: u16,
    /// AWS error code (`NoSuchEntity`, `AccessDenied`, ...).
    pub code: String,
    /// Message.
    pub message: String,
    /// `Sender` (client fault) or `Receiver` (server fault).
    pub sender_fault: bool,
    /// Set when the error is an authorization denial made by the operation itself.
    pub denial: Option<Box<Denial>>,
}

impl AwsError {
    /// A client-fault error.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        AwsError {
            status,
            code: code.to_string(),
            message: message.into(),
            sender_fault: status < 500,
            denial: None,
        }
    }

    /// The same error, recorded as the denial `denial`.
    pub fn with_denial(mut self, denial: Denial) -> Self {
        self.denial = Some(Box::new(denial));
        self
    }

    /// `ValidationError` for a missing required parameter, as AWS words it.
    pub fn missing(field: &str) -> Self {
        AwsError::new(
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
            ),
        )
    }

    /// `InternalFailure` (500).
    pub fn internal(message: impl Into<String>) -> Self {
        AwsError::new(500, "InternalFailure", message)
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for AwsError {}

impl From<airlock_iam::IamError> for AwsError {
    fn from(e: airlock_iam::IamError) -> Self {
        if let airlock_iam::IamError::Store(s) = &e {
            tracing::error!(error = %s, "store failure");
            return AwsError::new(
                500,
                "ServiceFailure",
                "The request processing has failed because of an unknown error, exception or failure.",
            );
        }
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

impl From<airlock_sts::StsError> for AwsError {
    fn from(e: airlock_sts::StsError) -> Self {
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}
