//! Typed errors of apply, verify and destroy.

use aws_smithy_runtime_api::http::Response as HttpResponse;

/// An error of the deployment library. AWS errors keep the service's error code.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An AWS call failed.
    #[error("{service} {operation}: {code}: {message}")]
    Aws {
        /// Service (`iam`, `sts`, `kms`, `s3`, `ec2`).
        service: &'static str,
        /// Operation name (`CreateRole`, ...).
        operation: &'static str,
        /// AWS error code (`AccessDenied`, `NoSuchBucket`, ...), or `Transport` when no
        /// response arrived.
        code: String,
        /// The error message as returned.
        message: String,
    },
    /// The state file could not be read or written.
    #[error("state file {path}: {message}")]
    State {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The named AWS profile is in neither shared file.
    #[error("{}", unknown_profile_message(.profile, .files, .known))]
    UnknownProfile {
        /// The profile asked for.
        profile: String,
        /// The config and credentials files read (whether they exist).
        files: Vec<(std::path::PathBuf, bool)>,
        /// The profiles they define, sorted.
        known: Vec<String>,
    },
    /// Client configuration (profile, endpoint, CA bundle) is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The live state contradicts the plan in a way apply cannot fix (e.g. a bucket of the
    /// same name owned by another account).
    #[error("{0}")]
    Conflict(String),
    /// Apply refused before changing anything: existing resources with the blueprint's names
    /// are not this deployment's (see [`crate::ownership`]).
    #[error("{}", crate::ownership::refusal(.conflicts))]
    NotOwned {
        /// Each resource, who owns it, and whether `--adopt` can take it over.
        conflicts: Vec<crate::ownership::Conflict>,
    },
    /// A policy template could not be resolved or a live policy could not be parsed.
    #[error("policy: {0}")]
    Policy(String),
}

fn unknown_profile_message(
    profile: &str,
    files: &[(std::path::PathBuf, bool)],
    known: &[String],
) -> String {
    let files: Vec<String> = files
        .iter()
        .map(|(p, exists)| {
            if *exists {
                p.display().to_string()
            } else {
                format!("{} (missing)", p.display())
            }
        })
        .collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    format!(
        "no AWS profile `{profile}` in {}; known profiles: {known}. For a local `airlock serve`, \
         export the AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE it prints \
         (DATA_DIR/aws/config and DATA_DIR/aws/credentials); its profiles are the account aliases",
        files.join(" or ")
    )
}

/// Whether `e` is an AWS error with one of `codes`.
pub(crate) fn has_code(e: &DeployError, codes: &[&str]) -> bool {
    e.code().is_some_and(|c| codes.contains(&c))
}

/// The answer of a Describe call about a resource the state file names: `None` when AWS
/// answers one of the `gone` codes (the resource was deleted behind airlock's back, so apply
/// recreates it), other errors as they are.
pub(crate) fn unless_gone<T>(
    answer: Result<T, DeployError>,
    gone: &[&str],
) -> Result<Option<T>, DeployError> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if has_code(&e, gone) => Ok(None),
        Err(e) => Err(e),
    }
}

impl DeployError {
    /// The AWS error code, for AWS errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            DeployError::Aws { code, .. } => Some(code),
            _ => None,
        }
    }
    /// The AWS error message, for AWS errors.
    pub fn aws_message(&self) -> Option<&str> {
        match self {
            DeployError::Aws { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Converts an SDK error into [`DeployError::Aws`], keeping the error code.
pub(crate) fn aws<E>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>) -> DeployError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |err| {
        use aws_smithy_runtime_api::client::result::SdkError;
        let (code, message) = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().map(str::to_string).unwrap_or_else(|| {
                    // S3 HEAD errors carry no body: name them after the status.
                    format!("Http{}", se.raw().status().as_u16())
                });
                (code, e.message().unwrap_or_default().to_string())
            }
            other => ("Transport".to_string(), display_chain(other)),
        };
        DeployError::Aws {
            service,
            operation,
            code,
            message,
        }
    }
}

pub(crate) fn display_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
