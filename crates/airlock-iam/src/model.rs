//! IAM entities as stored. Times are Unix seconds (UTC); names keep the caller's case, while
//! lookups are case-insensitive as in AWS.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An AWS account served by airlock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// The alias (also the AWS CLI profile name airlock writes).
    pub alias: String,
    /// When airlock created the account.
    pub create_date: i64,
}

/// A tag on an IAM entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key (case-sensitive; unique per entity, case-insensitively).
    pub key: String,
    /// The value.
    pub value: String,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Owning account.
    pub account: String,
    /// Role name.
    pub name: String,
    /// Path, `/` by default.
    pub path: String,
    /// Unique id, `AROA...`.
    pub id: String,
    /// `arn:aws:iam::ACCT:role{path}{name}`.
    pub arn: String,
    /// Creation time.
    pub create_date: i64,
    /// The trust policy document, as given by the caller.
    pub assume_role_policy: String,
    /// Description.
    pub description: Option<String>,
    /// Maximum session duration in seconds (3600..=43200).
    pub max_session_duration: u32,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Inline policies: name → document.
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies, in attachment order.
    pub attached_policies: Vec<String>,
    /// ARN of the permissions boundary, if any.
    pub permissions_boundary: Option<String>,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Owning account.
    pub account: String,
    /// User name.
    pub name: String,
    /// Path, `/` by default.
    pub path: String,
    /// Unique id, `AIDA...`.
    pub id: String,
    /// `arn:aws:iam::ACCT:user{path}{name}`.
    pub arn: String,
    /// Creation time.
    pub create_date: i64,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Inline policies: name → document.
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    pub attached_policies: Vec<String>,
    /// ARN of the permissions boundary, if any.
    pub permissions_boundary: Option<String>,
}

/// One version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub version_id: String,
    /// The document, as given.
    pub document: String,
    /// Creation time.
    pub create_date: i64,
}

/// A managed policy: customer managed (stored) or AWS managed (built in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// Owning account, or `aws` for AWS-managed policies.
    pub account: String,
    /// Policy name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Unique id, `ANPA...`.
    pub id: String,
    /// The policy ARN.
    pub arn: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub create_date: i64,
    /// Last update (new default version).
    pub update_date: i64,
    /// The default version id.
    pub default_version_id: String,
    /// All versions (at most 5).
    pub versions: Vec<PolicyVersion>,
    /// The number to give the next version.
    pub next_version: u32,
    /// How many users and roles it is attached to.
    pub attachment_count: u32,
    /// How many entities use it as a permissions boundary.
    pub boundary_usage_count: u32,
    /// Tags.
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    /// The default version's document.
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.version_id == self.default_version_id)
            .map(|v| v.document.as_str())
    }
}

/// Status of an access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessKeyStatus {
    /// Usable.
    Active,
    /// Rejected at authentication.
    Inactive,
}

impl AccessKeyStatus {
    /// The AWS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }
}

/// A long-term access key of a user (or of the account root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    /// `AKIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// Owning account.
    pub account: String,
    /// The user, or `None` for a root access key.
    pub user_name: Option<String>,
    /// Status.
    pub status: AccessKeyStatus,
    /// Creation time.
    pub create_date: i64,
}

/// An instance profile: a container for (at most) one role, used by EC2 instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceProfile {
    /// Owning account.
    pub account: String,
    /// Name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Unique id, `AIPA...`.
    pub id: String,
    /// `arn:aws:iam::ACCT:instance-profile{path}{name}`.
    pub arn: String,
    /// Creation time.
    pub create_date: i64,
    /// Names of the roles in it.
    pub roles: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}
