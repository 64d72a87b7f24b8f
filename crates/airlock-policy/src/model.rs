//! The policy language as AWS defines it: policies, statements, principals, actions, resources
//! and condition blocks. These types are the parsed, validated form of a JSON policy document.

use std::fmt;

/// A parsed and validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The `Version` element. A missing `Version` means `2008-10-17` semantics (no policy variables).
    pub version: Version,
    /// The optional `Id` element.
    pub id: Option<String>,
    /// The statements, in document order (a single statement object becomes a one-element list).
    pub statements: Vec<Statement>,
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2008-10-17`, or no `Version` element: `${...}` is literal text, never a variable.
    V2008_10_17,
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The optional `Sid`.
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`, absent in identity policies, SCPs, boundaries and session policies.
    pub principal: Option<PrincipalClause>,
    /// `Action` or `NotAction`.
    pub action: ActionClause,
    /// `Resource` or `NotResource`. Absent only in trust policies, where AWS allows it to be omitted.
    pub resource: Option<ResourceClause>,
    /// The `Condition` block, flattened: every condition must hold (AND).
    pub conditions: Vec<Condition>,
}

/// The `Effect` of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub enum PrincipalClause {
    /// `"Principal": ...`: the statement applies to callers that match.
    Principal(Principals),
    /// `"NotPrincipal": ...`: the statement applies to callers that do not match.
    NotPrincipal(Principals),
}

/// The value of a `Principal`/`NotPrincipal` element.
#[derive(Debug, Clone, PartialEq)]
pub enum Principals {
    /// `"*"`: everyone, anonymous callers included.
    Any,
    /// A map such as `{"AWS": [...], "Service": "ec2.amazonaws.com"}`.
    Listed(Vec<PrincipalEntry>),
}

/// One principal named in a `Principal` map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrincipalEntry {
    /// `"AWS": "*"`: every AWS principal (and, as AWS treats it, anonymous callers too).
    AwsAny,
    /// `"AWS": "123456789012"` or `arn:aws:iam::123456789012:root`: the account, which delegates to its IAM policies.
    Account(String),
    /// `"AWS": "arn:..."` naming an IAM user, role, assumed-role session, federated user or root ARN form other than the account.
    Arn(String),
    /// `"AWS": "AIDA..."`/`"AROA..."`: a unique id (AWS rewrites ARNs of deleted principals to these).
    UniqueId(String),
    /// `"Service": "ec2.amazonaws.com"`.
    Service(String),
    /// `"Federated": "cognito-identity.amazonaws.com"` or a SAML/OIDC provider ARN.
    Federated(String),
    /// `"CanonicalUser": "79a59df9..."`.
    CanonicalUser(String),
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionClause {
    /// `"Action": [...]`.
    Action(Vec<ActionPattern>),
    /// `"NotAction": [...]`.
    NotAction(Vec<ActionPattern>),
}

/// An action pattern such as `s3:Get*`, `kms:*` or `*`. Matching is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionPattern(pub String);

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceClause {
    /// `"Resource": [...]`.
    Resource(Vec<ResourcePattern>),
    /// `"NotResource": [...]`.
    NotResource(Vec<ResourcePattern>),
}

/// A resource pattern: `*` or an ARN with `*`/`?` wildcards and (in 2012-10-17) policy variables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePattern(pub String);

/// One condition: `"Operator": {"key": values}`. Several values of one key are ORed.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator with its set qualifier and `IfExists` flag.
    pub operator: ConditionOperator,
    /// The condition key as written (matching is case-insensitive; see [`Condition::key_lower`]).
    pub key: String,
    /// The values, as strings (AWS accepts JSON numbers and booleans and compares their text).
    pub values: Vec<String>,
}

impl Condition {
    /// The condition key in lower case, the form in which keys are compared.
    pub fn key_lower(&self) -> String {
        self.key.to_ascii_lowercase()
    }
}

/// A condition operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConditionOperator {
    /// `ForAllValues:` or `ForAnyValue:`, if present.
    pub qualifier: Option<SetQualifier>,
    /// The base operator.
    pub kind: OperatorKind,
    /// The `IfExists` suffix.
    pub if_exists: bool,
}

/// A set qualifier for multi-valued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    /// `ForAllValues:`: every request value must match some policy value (true when the key is missing or empty).
    ForAllValues,
    /// `ForAnyValue:`: at least one request value must match some policy value.
    ForAnyValue,
}

/// The base condition operators of the IAM policy language.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorKind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl OperatorKind {
    /// True for the negated operators (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, ...), which match a missing key.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            OperatorKind::StringNotEquals
                | OperatorKind::StringNotEqualsIgnoreCase
                | OperatorKind::StringNotLike
                | OperatorKind::NumericNotEquals
                | OperatorKind::DateNotEquals
                | OperatorKind::NotIpAddress
                | OperatorKind::ArnNotEquals
                | OperatorKind::ArnNotLike
        )
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}
