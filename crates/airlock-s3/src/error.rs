//! S3's errors, as they go on the wire: code, HTTP status, message and the extra elements S3
//! puts in its `<Error>` document (`BucketName`, `Key`, `RangeRequested`, ...).

use airlock_store::StoreError;

macro_rules! codes {
    ($($variant:ident = $status:literal, $code:literal;)*) => {
        /// An S3 error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// The code as S3 writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The HTTP status S3 answers with.
            pub fn status(self) -> u16 {
                match self {
                    $(Code::$variant => $status,)*
                }
            }
        }
    };
}

codes! {
    AccessDenied = 403, "AccessDenied";
    AccessControlListNotSupported = 400, "AccessControlListNotSupported";
    BadDigest = 400, "BadDigest";
    BucketAlreadyExists = 409, "BucketAlreadyExists";
    BucketAlreadyOwnedByYou = 409, "BucketAlreadyOwnedByYou";
    BucketNotEmpty = 409, "BucketNotEmpty";
    EntityTooLarge = 400, "EntityTooLarge";
    EntityTooSmall = 400, "EntityTooSmall";
    IllegalLocationConstraintException = 400, "IllegalLocationConstraintException";
    IncompleteBody = 400, "IncompleteBody";
    InternalError = 500, "InternalError";
    InvalidArgument = 400, "InvalidArgument";
    InvalidBucketName = 400, "InvalidBucketName";
    InvalidBucketAclWithObjectOwnership = 400, "InvalidBucketAclWithObjectOwnership";
    InvalidDigest = 400, "InvalidDigest";
    InvalidEncryptionAlgorithmError = 400, "InvalidEncryptionAlgorithmError";
    InvalidLocationConstraint = 400, "InvalidLocationConstraint";
    InvalidObjectState = 403, "InvalidObjectState";
    InvalidPart = 400, "InvalidPart";
    InvalidPartOrder = 400, "InvalidPartOrder";
    InvalidRange = 416, "InvalidRange";
    InvalidRequest = 400, "InvalidRequest";
    InvalidStorageClass = 400, "InvalidStorageClass";
    InvalidTag = 400, "InvalidTag";
    InvalidURI = 400, "InvalidURI";
    InvalidPartNumber = 416, "InvalidPartNumber";
    KeyTooLongError = 400, "KeyTooLongError";
    KmsDisabled = 400, "KMS.DisabledException";
    KmsInvalidState = 400, "KMS.KMSInvalidStateException";
    KmsNotFound = 400, "KMS.NotFoundException";
    KmsInvalidCiphertext = 400, "KMS.InvalidCiphertextException";
    KmsOther = 400, "KMS.KMSInternalException";
    MalformedPolicy = 400, "MalformedPolicy";
    MalformedXML = 400, "MalformedXML";
    MetadataTooLarge = 400, "MetadataTooLarge";
    MethodNotAllowed = 405, "MethodNotAllowed";
    MissingContentLength = 411, "MissingContentLength";
    NoSuchBucket = 404, "NoSuchBucket";
    NoSuchBucketPolicy = 404, "NoSuchBucketPolicy";
    NoSuchCORSConfiguration = 404, "NoSuchCORSConfiguration";
    NoSuchLifecycleConfiguration = 404, "NoSuchLifecycleConfiguration";
    NoSuchWebsiteConfiguration = 404, "NoSuchWebsiteConfiguration";
    ObjectLockConfigurationNotFoundError = 404, "ObjectLockConfigurationNotFoundError";
    ReplicationConfigurationNotFoundError = 404, "ReplicationConfigurationNotFoundError";
    NoSuchKey = 404, "NoSuchKey";
    NoSuchPublicAccessBlockConfiguration = 404, "NoSuchPublicAccessBlockConfiguration";
    NoSuchTagSet = 404, "NoSuchTagSet";
    RequestTimeout = 400, "RequestTimeout";
    SlowDown = 503, "SlowDown";
    NoSuchUpload = 404, "NoSuchUpload";
    NoSuchVersion = 404, "NoSuchVersion";
    NotImplemented = 501, "NotImplemented";
    NotModified = 304, "NotModified";
    OwnershipControlsNotFoundError = 404, "OwnershipControlsNotFoundError";
    PreconditionFailed = 412, "PreconditionFailed";
    ServerSideEncryptionConfigurationNotFoundError = 404, "ServerSideEncryptionConfigurationNotFoundError";
    SignatureDoesNotMatch = 403, "SignatureDoesNotMatch";
    XAmzContentSHA256Mismatch = 400, "XAmzContentSHA256Mismatch";
    MalformedACLError = 400, "MalformedACLError";
    NoSuchAccessPoint = 404, "NoSuchAccessPoint";
    TooManyParts = 400, "InvalidArgument";
}

/// A denial KMS made for a call S3 made on the caller's behalf (SSE-KMS), kept so the request
/// is recorded with the engine's explanation.
#[derive(Debug, Clone)]
pub struct KmsDenial {
    /// The denied action (`kms:Decrypt`, `kms:GenerateDataKey`).
    pub action: String,
    /// The key (or alias) ARN.
    pub resource: String,
    /// The engine's explanation.
    pub explanation: airlock_policy::Explanation,
}

impl PartialEq for KmsDenial {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action && self.resource == other.resource
    }
}

impl Eq for KmsDenial {}

/// An S3 error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", code.as_str(), code.status())]
pub struct S3Error {
    /// The code.
    pub code: Code,
    /// The message.
    pub message: String,
    /// Extra elements of the `<Error>` document, in order.
    pub fields: Vec<(&'static str, String)>,
    /// Extra response headers (`x-amz-delete-marker`, `x-amz-version-id`, `Allow`).
    pub headers: Vec<(&'static str, String)>,
    /// Set when KMS denied the caller the key S3 needed.
    pub denial: Option<Box<KmsDenial>>,
}

impl S3Error {
    /// An error with a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            fields: Vec::new(),
            headers: Vec::new(),
            denial: None,
        }
    }

    /// Adds an element to the error document.
    pub fn with(mut self, field: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((field, value.into()));
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `NoSuchBucket`.
    pub fn no_such_bucket(bucket: &str) -> Self {
        S3Error::new(Code::NoSuchBucket, "The specified bucket does not exist")
            .with("BucketName", bucket)
    }

    /// `NoSuchKey`.
    pub fn no_such_key(key: &str) -> Self {
        S3Error::new(Code::NoSuchKey, "The specified key does not exist.").with("Key", key)
    }

    /// `NoSuchVersion`.
    pub fn no_such_version(key: &str, version: &str) -> Self {
        S3Error::new(Code::NoSuchVersion, "The specified version does not exist.")
            .with("Key", key)
            .with("VersionId", version)
    }

    /// `NoSuchUpload`.
    pub fn no_such_upload(upload_id: &str) -> Self {
        S3Error::new(
            Code::NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", upload_id)
    }

    /// `InvalidArgument` naming the argument.
    pub fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> Self {
        S3Error::new(Code::InvalidArgument, message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    /// `InvalidRequest`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        S3Error::new(Code::InvalidRequest, message)
    }

    /// `MalformedXML`.
    pub fn malformed_xml() -> Self {
        S3Error::new(
            Code::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    /// `AccessDenied` with a message.
    pub fn access_denied(message: impl Into<String>) -> Self {
        S3Error::new(Code::AccessDenied, message)
    }

    /// `AccessControlListNotSupported` (a bucket with `BucketOwnerEnforced`).
    pub fn acl_not_supported() -> Self {
        S3Error::new(
            Code::AccessControlListNotSupported,
            "The bucket does not allow ACLs",
        )
    }

    /// `InternalError` (the cause goes to the log, not the client).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "airlock::s3", error = %cause, "internal error");
        S3Error::new(
            Code::InternalError,
            "We encountered an internal error. Please try again.",
        )
    }

    /// `NotImplemented` for a feature airlock does not offer.
    pub fn not_implemented(what: &str) -> Self {
        S3Error::new(
            Code::NotImplemented,
            format!(
                "A header or query you provided implies functionality that is not implemented: {what}"
            ),
        )
    }

    /// `NotImplemented` for Object Lock, which airlock does not offer yet: refused clearly
    /// rather than accepted and then not enforced.
    pub fn object_lock_not_supported() -> Self {
        S3Error::new(
            Code::NotImplemented,
            "Object Lock is not supported by airlock yet: a bucket cannot be created with Object Lock enabled, nor have it turned on",
        )
    }

    /// `InvalidRequest` for an Object Lock parameter on a bucket without Object Lock (every
    /// bucket, as long as airlock has no Object Lock), with S3's message.
    pub fn missing_object_lock() -> Self {
        S3Error::invalid_request("Bucket is missing Object Lock Configuration")
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        S3Error::internal(e)
    }
}

/// Maps an error of the KMS calls S3 makes for a caller to S3's answer: an access denial is
/// S3's `AccessDenied` carrying KMS's message (as S3 answers), other KMS failures are `KMS.*`.
pub fn from_kms(e: airlock_kms::KmsError) -> S3Error {
    use airlock_kms::KmsError;
    let message = e.message().unwrap_or_else(|| e.to_string());
    match &e {
        KmsError::AccessDenied {
            evaluation,
            action,
            resource,
            ..
        } => {
            let mut err = S3Error::access_denied(message);
            if let Some(ev) = evaluation {
                err.denial = Some(Box::new(KmsDenial {
                    action: action.clone(),
                    resource: resource.clone(),
                    explanation: ev.explanation.clone(),
                }));
            }
            err
        }
        other => {
            let code = match other.code() {
                "NotFoundException" => Code::KmsNotFound,
                "DisabledException" => Code::KmsDisabled,
                "KMSInvalidStateException" => Code::KmsInvalidState,
                "InvalidCiphertextException" => Code::KmsInvalidCiphertext,
                _ => Code::KmsOther,
            };
            S3Error::new(code, message)
        }
    }
}
