//! Errors of [`Policy::parse`](crate::Policy::parse).

use std::fmt;

/// Why a policy document was rejected, with where: a JSON pointer to the offending element and
/// the 1-based line and column (in characters) at which it starts.
///
/// ```
/// use airlock_policy::{Policy, PolicyKind, ParseErrorKind};
///
/// let err = Policy::parse(
///     r#"{"Version": "2012-10-17",
///         "Statement": {"Effect": "Permit", "Action": "s3:*", "Resource": "*"}}"#,
///     PolicyKind::Identity,
/// )
/// .unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::InvalidEffect);
/// assert_eq!(err.path(), "/Statement/Effect");
/// assert_eq!((err.line(), err.column()), (2, 33));
/// assert_eq!(
///     err.to_string(),
///     "`Permit` is not a valid Effect: expected `Allow` or `Deny` (at /Statement/Effect, line 2, column 33)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    kind: ParseErrorKind,
    message: String,
    path: String,
    line: usize,
    column: usize,
}

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        message: String,
        path: String,
        line: usize,
        column: usize,
    ) -> Self {
        Self {
            kind,
            message,
            path,
            line,
            column,
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The message without the location (lowercase, user input in backticks).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A JSON pointer (RFC 6901) to the offending element, e.g. `/Statement/1/Condition/StringEquals`.
    /// Empty for the document itself.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The 1-based line at which the offending element starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) at which the offending element starts.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(
            f,
            "{} (at {}, line {}, column {})",
            self.message, path, self.line, self.column
        )
    }
}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The text is not JSON.
    Syntax,
    /// The JSON nests deeper than any policy can.
    TooDeep,
    /// An object has the same key twice.
    DuplicateKey,
    /// An element has the wrong JSON type (e.g. a number where a string is required).
    WrongType,
    /// An element that the policy grammar does not know (e.g. `Statment`).
    UnknownElement,
    /// A required element is absent (`Statement`, `Effect`, `Action`/`NotAction`, ...).
    MissingElement,
    /// Two mutually exclusive elements are both present (`Action` and `NotAction`, ...).
    ConflictingElements,
    /// An empty array or string where AWS requires a value.
    EmptyValue,
    /// `Version` is neither `2008-10-17` nor `2012-10-17`.
    InvalidVersion,
    /// `Sid` has characters this policy type does not accept.
    InvalidSid,
    /// Two statements share a `Sid` where AWS requires unique ones.
    DuplicateSid,
    /// `Effect` is not exactly `Allow` or `Deny`.
    InvalidEffect,
    /// A `Principal`/`NotPrincipal` value is malformed (bad ARN, wildcard inside an ARN, ...).
    InvalidPrincipal,
    /// An action is not `*` or `service:action`.
    InvalidAction,
    /// A resource is not `*` or an ARN.
    InvalidResource,
    /// A condition operator name is unknown.
    UnknownOperator,
    /// A condition key is malformed.
    InvalidConditionKey,
    /// A condition value is malformed (e.g. `null`, a nested object).
    InvalidConditionValue,
    /// The policy type does not allow `Principal`/`NotPrincipal` (identity policies, SCPs, ...).
    PrincipalNotAllowed,
    /// The policy type requires `Principal`/`NotPrincipal` (resource, key, trust, endpoint policies, RCPs).
    PrincipalRequired,
    /// The policy type requires `Resource`/`NotResource`.
    ResourceRequired,
    /// The policy type does not allow `Resource`/`NotResource` (role trust policies).
    ResourceNotAllowed,
    /// The construct is valid elsewhere but not in this policy type or combination.
    NotSupported,
}
