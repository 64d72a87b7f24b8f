//! The policy set of one request, and the decision with its explanation.
//!
//! Explanations are data, not strings: the CLI, the server log, `verify` and (later) the console
//! all render the same structure.

use std::sync::Arc;

use crate::model::{Effect, Policy};

/// What role a policy plays in a request. Also selects the parser's validation rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// An identity policy (inline or managed) attached to a user or role.
    Identity,
    /// A permissions boundary.
    Boundary,
    /// A session policy passed to `AssumeRole` (`Policy` or `PolicyArns`).
    Session,
    /// A service control policy of AWS Organizations.
    ServiceControl,
    /// A resource control policy of AWS Organizations.
    ResourceControl,
    /// A resource-based policy: bucket policy, queue policy, ...
    Resource,
    /// A KMS key policy: a resource policy that is also the root of trust for its key.
    Key,
    /// A role trust policy: the resource policy of `sts:AssumeRole`.
    Trust,
    /// A VPC endpoint policy.
    Endpoint,
}

/// Names a policy in explanations: its kind and a human name (ARN, `role/NAME/inline/POLICY`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PolicyId {
    /// The role the policy plays.
    pub kind: PolicyKind,
    /// A stable, human-readable name.
    pub name: String,
}

/// A policy with the name it is reported under.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPolicy {
    /// How the policy is named in explanations.
    pub id: PolicyId,
    /// The parsed policy.
    pub policy: Arc<Policy>,
}

/// Every policy that applies to one request. Empty lists mean "no such policy type in play"
/// (e.g. no Organizations: `scps` is empty and SCPs do not restrict).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    /// Identity policies of the principal (for a role session: the role's policies).
    pub identity: Vec<NamedPolicy>,
    /// The principal's permissions boundary, if any.
    pub boundary: Option<NamedPolicy>,
    /// Session policies of a role session, if any.
    pub session: Vec<NamedPolicy>,
    /// SCPs of the principal's account, one list per level from the organization root to the
    /// account; every level must allow.
    pub scps: Vec<Vec<NamedPolicy>>,
    /// RCPs of the resource's account, one list per level; every level must allow.
    pub rcps: Vec<Vec<NamedPolicy>>,
    /// The resource-based policy (bucket, key, trust), if the resource has one.
    pub resource: Option<NamedPolicy>,
    /// The VPC endpoint policy, when the request came through an endpoint.
    pub endpoint: Option<NamedPolicy>,
}

/// The outcome of evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// At least one applicable policy allowed and nothing denied or failed to allow.
    Allow,
    /// An applicable statement with `Effect: Deny` matched.
    ExplicitDeny,
    /// Nothing denied, but the allows that AWS requires were missing.
    ImplicitDeny,
}

impl Decision {
    /// True only for [`Decision::Allow`].
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// A decision and why it was reached.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// Why.
    pub explanation: Explanation,
}

/// Points at one statement of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct StatementRef {
    /// The policy.
    pub policy: PolicyId,
    /// The statement's index in the policy (0-based).
    pub index: usize,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
    /// The statement's effect.
    pub effect: Effect,
}

/// The structured explanation of a decision.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Explanation {
    /// The statements that decided: the matching denies for an explicit deny, the allows that
    /// together granted access for an allow, empty for an implicit deny.
    pub deciding: Vec<StatementRef>,
    /// For an implicit deny: each allow that AWS requires and that was missing.
    pub missing: Vec<MissingAllow>,
    /// For an implicit deny: the allow statements that did match but were not enough on their
    /// own (e.g. the bucket policy's allow of a cross-account caller whose own account grants
    /// nothing). Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub insufficient_allows: Vec<StatementRef>,
    /// Condition keys that some statement's condition looked up and the request did not have.
    pub missing_context_keys: Vec<String>,
    /// Whether principal and resource are in different accounts (AND rule instead of OR).
    pub cross_account: bool,
    /// For an allow that no statement had to grant: why (the root user in its own account,
    /// an action that needs no permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implicit_grant: Option<ImplicitGrant>,
}

/// Why an allow needed no (or not every) statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImplicitGrant {
    /// The root user has every permission of its account on the identity side; only SCPs,
    /// resource policies and KMS key policies restrict it.
    RootUser,
    /// The action needs no permission (`sts:GetCallerIdentity`).
    NoPermissionRequired,
}

/// An allow that the decision logic needed and did not find.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "missing", rename_all = "kebab-case")]
pub enum MissingAllow {
    /// No identity policy of the principal's account allows (needed cross-account, or when the
    /// resource policy does not grant the principal itself).
    Identity {
        /// The principal's account.
        account: Option<String>,
    },
    /// The resource policy does not allow (needed cross-account, and for KMS keys always).
    Resource {
        /// The resource's account.
        account: Option<String>,
    },
    /// The KMS key policy neither allows the principal nor delegates to its account's IAM policies.
    KeyPolicy,
    /// The permissions boundary does not allow.
    Boundary,
    /// No session policy allows.
    Session,
    /// An SCP level of the principal's organization does not allow.
    ServiceControl {
        /// The level (0 = organization root).
        level: usize,
    },
    /// An RCP level of the resource's organization does not allow.
    ResourceControl {
        /// The level (0 = organization root).
        level: usize,
    },
    /// The VPC endpoint policy does not allow.
    Endpoint,
}
