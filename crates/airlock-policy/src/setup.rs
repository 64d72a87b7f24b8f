//! The setup document: one JSON file that describes a whole environment — accounts, principals
//! with their identity policies, boundaries and trust policies, resources with their resource
//! policies (bucket, key), Block Public Access, VPC endpoints and organization policies — so that
//! any request can be decided against it without a live AWS.
//!
//! The JSON Schema is `schemas/setup.schema.json` at the repository root; the seed's literal
//! setup is `examples/seed-as-written.json`. See `docs/setup-document.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decision::{Evaluation, NamedPolicy, PolicyId, PolicyKind, PolicySet};
use crate::model::{Effect, Policy};
use crate::request::{Principal, Request};

/// The raw setup document, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetupDocument {
    /// Optional pointer to the JSON Schema, ignored by airlock.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The region of regional resources (`us-east-1` by default).
    #[serde(default = "default_region")]
    pub region: String,
    /// The accounts, keyed by 12-digit account id.
    pub accounts: BTreeMap<String, AccountDocument>,
    /// The AWS Organization the accounts belong to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationDocument>,
    /// Managed policies by ARN (customer managed, or AWS managed such as
    /// `arn:aws:iam::aws:policy/AdministratorAccess`), referenced from principals.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub managed_policies: BTreeMap<String, Value>,
    /// IAM users, roles and account roots with their policies.
    #[serde(default)]
    pub principals: Vec<PrincipalDocument>,
    /// Resources with resource-based policies: S3 buckets, KMS keys.
    #[serde(default)]
    pub resources: Vec<ResourceDocument>,
    /// VPC endpoints with their endpoint policies.
    #[serde(default)]
    pub endpoints: Vec<EndpointDocument>,
}

fn default_region() -> String {
    "us-east-1".to_string()
}

/// One account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountDocument {
    /// A friendly name (`account-a`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The organizational unit (or root) id the account sits in, when in an organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    /// SCPs attached directly to the account, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scps: BTreeMap<String, Value>,
    /// RCPs attached directly to the account, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rcps: BTreeMap<String, Value>,
    /// Account-level S3 Block Public Access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
}

/// An AWS Organization: a tree of units, each with its SCPs and RCPs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OrganizationDocument {
    /// The organization id (`o-...`).
    pub id: String,
    /// The root and organizational units; exactly one has no parent (the root).
    pub units: Vec<OrganizationalUnitDocument>,
}

/// The root or an organizational unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OrganizationalUnitDocument {
    /// `r-...` for the root, `ou-...` for units.
    pub id: String,
    /// The parent unit; absent for the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// SCPs attached here, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scps: BTreeMap<String, Value>,
    /// RCPs attached here, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rcps: BTreeMap<String, Value>,
}

/// An IAM user, role, or account root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrincipalDocument {
    /// `arn:aws:iam::ACCT:role/NAME`, `arn:aws:iam::ACCT:user/NAME` or `arn:aws:iam::ACCT:root`.
    pub arn: String,
    /// The unique id (`AROA...`, `AIDA...`); derived from the ARN when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Principal tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Roles only: the trust policy (who may assume the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<Value>,
    /// Inline identity policies, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, Value>,
    /// ARNs of attached managed policies (defined in `managed_policies`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_policies: Vec<String>,
    /// ARN of the managed policy used as permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// A resource with a resource-based policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourceDocument {
    /// The resource ARN: `arn:aws:s3:::BUCKET` or `arn:aws:kms:REGION:ACCT:key/ID`.
    pub arn: String,
    /// The owning account; required for S3 buckets (their ARNs carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The bucket policy or key policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    /// Buckets: bucket-level Block Public Access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Keys: alias names (`alias/NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A VPC endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EndpointDocument {
    /// `vpce-...`.
    pub id: String,
    /// The account that owns the endpoint.
    pub account: String,
    /// The VPC it sits in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
    /// The service name, `com.amazonaws.REGION.s3`.
    pub service: String,
    /// The endpoint policy; absent means AWS's default full-access policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

/// S3 Block Public Access settings, with AWS's field names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PublicAccessBlock {
    /// Reject requests that carry public ACLs.
    #[serde(rename = "BlockPublicAcls", default)]
    pub block_public_acls: bool,
    /// Ignore public ACLs.
    #[serde(rename = "IgnorePublicAcls", default)]
    pub ignore_public_acls: bool,
    /// Reject `PutBucketPolicy` of a public policy.
    #[serde(rename = "BlockPublicPolicy", default)]
    pub block_public_policy: bool,
    /// Confine a public policy to the owner account and AWS services.
    #[serde(rename = "RestrictPublicBuckets", default)]
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four settings on, as the seed's Step 2 keeps them.
    pub const ALL: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// The effective setting: a flag is on if the account or the bucket turns it on.
    pub fn union(self, other: PublicAccessBlock) -> PublicAccessBlock {
        PublicAccessBlock {
            block_public_acls: self.block_public_acls || other.block_public_acls,
            ignore_public_acls: self.ignore_public_acls || other.ignore_public_acls,
            block_public_policy: self.block_public_policy || other.block_public_policy,
            restrict_public_buckets: self.restrict_public_buckets || other.restrict_public_buckets,
        }
    }
}

/// A setup document that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The file is not valid JSON, or does not have the document's shape.
    #[error("setup document, line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A policy inside the document is invalid.
    #[error("setup document, `{location}`: {source}")]
    Policy {
        /// Where in the setup document (`principals[0].policies.S3AndKMSAccess`).
        location: String,
        /// The policy's parse error (with its own path, line and column within the policy).
        #[source]
        source: crate::ParseError,
    },
    /// The document is well-formed but inconsistent (bad account id, dangling reference, ...).
    #[error("setup document, `{location}`: {message}")]
    Invalid {
        /// Where in the setup document.
        location: String,
        /// What is wrong.
        message: String,
    },
}

/// A principal of the setup, with its parsed policies.
#[derive(Debug, Clone)]
pub struct SetupPrincipal {
    /// The principal's ARN as written.
    pub arn: String,
    /// The account.
    pub account: String,
    /// What kind of principal.
    pub kind: SetupPrincipalKind,
    /// The unique id.
    pub id: String,
    /// Path (`/` by default).
    pub path: String,
    /// Name (user or role name; the account id for a root).
    pub name: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Identity policies: inline then managed.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary.
    pub boundary: Option<NamedPolicy>,
    /// Roles: the trust policy.
    pub trust: Option<NamedPolicy>,
}

/// Users, roles and roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetupPrincipalKind {
    /// The account root user.
    Root,
    /// An IAM user.
    User,
    /// An IAM role (requests come from its sessions).
    Role,
}

/// A resource of the setup, with its parsed policy.
#[derive(Debug, Clone)]
pub struct SetupResource {
    /// The ARN.
    pub arn: String,
    /// The owning account.
    pub account: String,
    /// Bucket or key.
    pub kind: SetupResourceKind,
    /// Its resource policy.
    pub policy: Option<NamedPolicy>,
    /// Bucket-level Block Public Access (buckets).
    pub public_access_block: Option<PublicAccessBlock>,
    /// Alias names (keys).
    pub aliases: Vec<String>,
}

/// The resource types a setup document can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetupResourceKind {
    /// An S3 bucket (its policy also governs its objects).
    S3Bucket,
    /// A KMS key (its key policy is the root of trust).
    KmsKey,
    /// Any other resource with a resource-based policy.
    Other,
}

/// A VPC endpoint of the setup.
#[derive(Debug, Clone)]
pub struct SetupEndpoint {
    /// `vpce-...`.
    pub id: String,
    /// Owner account.
    pub account: String,
    /// VPC id, if given.
    pub vpc: Option<String>,
    /// Service name.
    pub service: String,
    /// The endpoint policy (AWS's default full-access policy when the document gives none).
    pub policy: NamedPolicy,
}

/// A loaded, validated setup: every policy parsed, every reference resolved.
#[derive(Debug, Clone)]
pub struct Setup {
    document: SetupDocument,
    principals: Vec<SetupPrincipal>,
    resources: Vec<SetupResource>,
    endpoints: Vec<SetupEndpoint>,
    /// Per account: SCP levels (root first, the account's own attachments last).
    scp_levels: BTreeMap<String, Vec<Vec<NamedPolicy>>>,
    /// Per account: RCP levels.
    rcp_levels: BTreeMap<String, Vec<Vec<NamedPolicy>>>,
}

const FULL_ACCESS_ENDPOINT_POLICY: &str =
    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

impl Setup {
    /// Loads a setup document from JSON text.
    pub fn from_json(text: &str) -> Result<Setup, SetupError> {
        let document: SetupDocument =
            serde_json::from_str(text).map_err(|e| SetupError::Syntax {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        Setup::from_document(document)
    }

    /// Loads an already-deserialized setup document.
    pub fn from_document(document: SetupDocument) -> Result<Setup, SetupError> {
        for id in document.accounts.keys() {
            check_account_id(id, &format!("accounts.{id}"))?;
        }
        let managed = parse_map(&document.managed_policies, "managed_policies", |name| {
            PolicyId {
                kind: PolicyKind::Identity,
                name: name.to_string(),
            }
        })?;

        let mut principals = Vec::new();
        for (i, p) in document.principals.iter().enumerate() {
            principals.push(load_principal(&document, &managed, p, i)?);
        }

        let mut resources = Vec::new();
        for (i, r) in document.resources.iter().enumerate() {
            resources.push(load_resource(&document, r, i)?);
        }

        let mut endpoints = Vec::new();
        for (i, e) in document.endpoints.iter().enumerate() {
            let location = format!("endpoints[{i}]");
            check_account_id(&e.account, &format!("{location}.account"))?;
            let id = PolicyId {
                kind: PolicyKind::Endpoint,
                name: format!("vpc-endpoint/{}", e.id),
            };
            let text = match &e.policy {
                Some(v) => v.to_string(),
                None => FULL_ACCESS_ENDPOINT_POLICY.to_string(),
            };
            let policy = parse_policy(&text, PolicyKind::Endpoint, &format!("{location}.policy"))?;
            endpoints.push(SetupEndpoint {
                id: e.id.clone(),
                account: e.account.clone(),
                vpc: e.vpc.clone(),
                service: e.service.clone(),
                policy: NamedPolicy { id, policy },
            });
        }

        let (scp_levels, rcp_levels) = load_organization(&document)?;
        Ok(Setup {
            document,
            principals,
            resources,
            endpoints,
            scp_levels,
            rcp_levels,
        })
    }

    /// The document as written.
    pub fn document(&self) -> &SetupDocument {
        &self.document
    }

    /// The accounts, by id.
    pub fn accounts(&self) -> impl Iterator<Item = (&str, &AccountDocument)> {
        self.document.accounts.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The principals.
    pub fn principals(&self) -> &[SetupPrincipal] {
        &self.principals
    }

    /// The resources.
    pub fn resources(&self) -> &[SetupResource] {
        &self.resources
    }

    /// The VPC endpoints.
    pub fn endpoints(&self) -> &[SetupEndpoint] {
        &self.endpoints
    }

    /// SCP levels that apply to principals of `account` (empty outside an organization).
    pub fn scp_levels(&self, account: &str) -> &[Vec<NamedPolicy>] {
        self.scp_levels.get(account).map_or(&[], Vec::as_slice)
    }

    /// RCP levels that apply to resources of `account` (empty outside an organization).
    pub fn rcp_levels(&self, account: &str) -> &[Vec<NamedPolicy>] {
        self.rcp_levels.get(account).map_or(&[], Vec::as_slice)
    }

    /// Finds a principal by ARN (a role session's role ARN finds the role).
    pub fn principal(&self, arn: &str) -> Option<&SetupPrincipal> {
        self.principals.iter().find(|p| p.arn == arn)
    }

    /// The setup principal behind a request principal, if the setup defines it.
    pub fn principal_of(&self, principal: &Principal) -> Option<&SetupPrincipal> {
        match principal {
            Principal::RoleSession {
                account, role_name, ..
            } => self.principals.iter().find(|p| {
                p.kind == SetupPrincipalKind::Role && &p.account == account && &p.name == role_name
            }),
            Principal::User { account, name, .. } => self.principals.iter().find(|p| {
                p.kind == SetupPrincipalKind::User && &p.account == account && &p.name == name
            }),
            Principal::Root { account } => self
                .principals
                .iter()
                .find(|p| p.kind == SetupPrincipalKind::Root && &p.account == account),
            _ => None,
        }
    }

    /// Resolves a caller named on the command line into a request principal:
    /// a role ARN (a session named `session_name`), an assumed-role ARN, a user ARN, an account
    /// root ARN or bare account id, a service principal (`ec2.amazonaws.com`), or `anonymous`.
    pub fn request_principal(
        &self,
        name: &str,
        session_name: &str,
    ) -> Result<Principal, SetupError> {
        let invalid = |message: String| SetupError::Invalid {
            location: "principal".to_string(),
            message,
        };
        if name == "anonymous" || name == "*" {
            return Ok(Principal::Anonymous);
        }
        if name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Principal::Root {
                account: name.to_string(),
            });
        }
        if !name.starts_with("arn:") {
            if name.ends_with(".amazonaws.com") {
                return Ok(Principal::Service {
                    name: name.to_string(),
                });
            }
            return Err(invalid(format!(
                "`{name}` is not an ARN, an account id, a service principal or `anonymous`"
            )));
        }
        let parts: Vec<&str> = name.splitn(6, ':').collect();
        if parts.len() != 6 {
            return Err(invalid(format!("`{name}` is not a valid ARN")));
        }
        let (service, account, resource) = (parts[2], parts[4], parts[5]);
        check_account_id(account, "principal")
            .map_err(|_| invalid(format!("`{name}` does not carry a 12-digit account id")))?;
        match service {
            "iam" if resource == "root" => Ok(Principal::Root {
                account: account.to_string(),
            }),
            "iam" if resource.starts_with("role/") => {
                let (path, role_name) = split_path(&resource["role/".len()..]);
                let known = self.principal(name);
                Ok(Principal::RoleSession {
                    account: account.to_string(),
                    role_name: role_name.to_string(),
                    role_path: path.to_string(),
                    role_id: known.map_or_else(|| derived_id("AROA", name), |p| p.id.clone()),
                    session_name: session_name.to_string(),
                    tags: known.map(|p| p.tags.clone()).unwrap_or_default(),
                    source_identity: None,
                })
            }
            "iam" if resource.starts_with("user/") => {
                let (path, user) = split_path(&resource["user/".len()..]);
                let known = self.principal(name);
                Ok(Principal::User {
                    account: account.to_string(),
                    name: user.to_string(),
                    path: path.to_string(),
                    id: known.map_or_else(|| derived_id("AIDA", name), |p| p.id.clone()),
                    tags: known.map(|p| p.tags.clone()).unwrap_or_default(),
                })
            }
            "sts" if resource.starts_with("assumed-role/") => {
                let rest = &resource["assumed-role/".len()..];
                let Some((role_name, session)) = rest.split_once('/') else {
                    return Err(invalid(format!("`{name}` lacks a session name")));
                };
                let role = self.principals.iter().find(|p| {
                    p.kind == SetupPrincipalKind::Role
                        && p.account == account
                        && p.name == role_name
                });
                Ok(Principal::RoleSession {
                    account: account.to_string(),
                    role_name: role_name.to_string(),
                    role_path: role.map_or_else(|| "/".to_string(), |r| r.path.clone()),
                    role_id: role.map_or_else(
                        || derived_id("AROA", &format!("arn:aws:iam::{account}:role/{role_name}")),
                        |r| r.id.clone(),
                    ),
                    session_name: session.to_string(),
                    tags: role.map(|p| p.tags.clone()).unwrap_or_default(),
                    source_identity: None,
                })
            }
            _ => Err(invalid(format!(
                "`{name}` is not a user, role, assumed-role or root ARN"
            ))),
        }
    }

    /// Finds the resource whose policy governs `arn`: the resource itself, or for an S3 object
    /// (`arn:aws:s3:::bucket/key`) its bucket, or for a KMS alias ARN the aliased key.
    pub fn resource(&self, arn: &str) -> Option<&SetupResource> {
        if let Some(r) = self.resources.iter().find(|r| r.arn == arn) {
            return Some(r);
        }
        if let Some(rest) = arn.strip_prefix("arn:aws:s3:::") {
            let bucket = rest.split('/').next().unwrap_or(rest);
            return self
                .resources
                .iter()
                .find(|r| r.kind == SetupResourceKind::S3Bucket && r.arn[13..] == *bucket);
        }
        if arn.starts_with("arn:aws:kms:")
            && let Some(pos) = arn.find(":alias/")
        {
            let alias = &arn[pos + 1..];
            return self
                .resources
                .iter()
                .find(|r| r.aliases.iter().any(|a| a == alias));
        }
        None
    }

    /// The account that owns `arn`: from the setup, else from the ARN's account field.
    pub fn resource_account(&self, arn: &str) -> Option<String> {
        if let Some(r) = self.resource(arn) {
            return Some(r.account.clone());
        }
        if let Some(p) = self.principals.iter().find(|p| p.arn == arn) {
            return Some(p.account.clone());
        }
        let account = arn.split(':').nth(4)?;
        (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            .then(|| account.to_string())
    }

    /// Assembles every policy that applies to `request`.
    pub fn policy_set(&self, request: &Request) -> PolicySet {
        let mut set = PolicySet::default();
        let principal_account = principal_account(&request.principal);
        if let Some(p) = self.principal_of(&request.principal) {
            set.identity = p.identity.clone();
            set.boundary = p.boundary.clone();
        }
        let resource_account = request
            .resource
            .account
            .clone()
            .or_else(|| self.resource_account(&request.resource.arn));
        let action = request.action.to_ascii_lowercase();
        if action.starts_with("sts:") {
            if let Some(role) = self
                .principals
                .iter()
                .find(|p| p.arn == request.resource.arn && p.kind == SetupPrincipalKind::Role)
            {
                set.resource = role.trust.clone();
            }
        } else if let Some(resource) = self.resource(&request.resource.arn) {
            set.resource = resource.policy.clone();
            if resource.kind == SetupResourceKind::S3Bucket {
                self.apply_restrict_public_buckets(&mut set, resource, &request.principal);
            }
        }
        if let Some(account) = &principal_account
            && !matches!(request.principal, Principal::Service { .. })
        {
            set.scps = self.scp_levels(account).to_vec();
        }
        if let Some(account) = &resource_account {
            set.rcps = self.rcp_levels(account).to_vec();
        }
        if let Some(crate::request::ContextValue::Single(vpce)) =
            request.context.get("aws:SourceVpce")
            && let Some(endpoint) = self.endpoints.iter().find(|e| &e.id == vpce)
        {
            set.endpoint = Some(endpoint.policy.clone());
        }
        set
    }

    /// Decides `request` against the setup.
    pub fn evaluate(&self, request: &Request) -> Evaluation {
        let mut request = request.clone();
        if request.resource.account.is_none() {
            request.resource.account = self.resource_account(&request.resource.arn);
        }
        let set = self.policy_set(&request);
        crate::evaluate(&request, &set)
    }

    /// The effective Block Public Access of a bucket (account-level OR bucket-level).
    pub fn effective_public_access_block(&self, resource: &SetupResource) -> PublicAccessBlock {
        let account = self
            .document
            .accounts
            .get(&resource.account)
            .and_then(|a| a.public_access_block)
            .unwrap_or_default();
        account.union(resource.public_access_block.unwrap_or_default())
    }

    /// `RestrictPublicBuckets`: when the bucket policy is public, only principals of the owner
    /// account and AWS services keep the grants it makes; its denies still apply to everyone.
    fn apply_restrict_public_buckets(
        &self,
        set: &mut PolicySet,
        bucket: &SetupResource,
        principal: &Principal,
    ) {
        let Some(policy) = &set.resource else { return };
        if !self
            .effective_public_access_block(bucket)
            .restrict_public_buckets
            || !crate::public::is_public(&policy.policy)
        {
            return;
        }
        let inside = match principal {
            Principal::Service { .. } => true,
            other => principal_account(other).as_deref() == Some(bucket.account.as_str()),
        };
        if inside {
            return;
        }
        let denies_only = Policy {
            version: policy.policy.version,
            id: policy.policy.id.clone(),
            statements: policy
                .policy
                .statements
                .iter()
                .filter(|s| s.effect == Effect::Deny)
                .cloned()
                .collect(),
        };
        set.resource = Some(NamedPolicy {
            id: PolicyId {
                kind: policy.id.kind,
                name: format!("{} (RestrictPublicBuckets: allows ignored)", policy.id.name),
            },
            policy: Arc::new(denies_only),
        });
    }
}

fn principal_account(principal: &Principal) -> Option<String> {
    match principal {
        Principal::Root { account }
        | Principal::User { account, .. }
        | Principal::RoleSession { account, .. } => Some(account.clone()),
        _ => None,
    }
}

fn split_path(rest: &str) -> (String, &str) {
    match rest.rfind('/') {
        Some(pos) => (format!("/{}/", &rest[..pos]), &rest[pos + 1..]),
        None => ("/".to_string(), rest),
    }
}

/// A stable, AWS-shaped unique id derived from an ARN (FNV-1a, rendered in base32-like
/// upper-case letters and digits), for principals whose document gives none.
fn derived_id(prefix: &str, arn: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::from(prefix);
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..2u8 {
        for b in arn.bytes().chain(std::iter::once(round)) {
            state ^= u64::from(b);
            state = state.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut s = state;
        for _ in 0..8 {
            out.push(ALPHABET[(s & 31) as usize] as char);
            s >>= 5;
        }
    }
    out
}

fn check_account_id(id: &str, location: &str) -> Result<(), SetupError> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(SetupError::Invalid {
            location: location.to_string(),
            message: format!("`{id}` is not a 12-digit account id"),
        })
    }
}

fn parse_policy(text: &str, kind: PolicyKind, location: &str) -> Result<Arc<Policy>, SetupError> {
    Policy::parse(text, kind)
        .map(Arc::new)
        .map_err(|source| SetupError::Policy {
            location: location.to_string(),
            source,
        })
}

fn policy_text(value: &Value) -> String {
    // Policies may be embedded as JSON objects or as JSON strings holding the document.
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn parse_map(
    map: &BTreeMap<String, Value>,
    location: &str,
    id: impl Fn(&str) -> PolicyId,
) -> Result<BTreeMap<String, NamedPolicy>, SetupError> {
    let mut out = BTreeMap::new();
    for (name, value) in map {
        let policy_id = id(name);
        let policy = parse_policy(
            &policy_text(value),
            policy_id.kind,
            &format!("{location}.{name}"),
        )?;
        out.insert(
            name.clone(),
            NamedPolicy {
                id: policy_id,
                policy,
            },
        );
    }
    Ok(out)
}

fn load_principal(
    document: &SetupDocument,
    managed: &BTreeMap<String, NamedPolicy>,
    p: &PrincipalDocument,
    index: usize,
) -> Result<SetupPrincipal, SetupError> {
    let location = format!("principals[{index}]");
    let invalid = |message: String| SetupError::Invalid {
        location: location.clone(),
        message,
    };
    let parts: Vec<&str> = p.arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" {
        return Err(invalid(format!("`{}` is not an IAM principal ARN", p.arn)));
    }
    let account = parts[4].to_string();
    check_account_id(&account, &format!("{location}.arn"))?;
    if !document.accounts.contains_key(&account) {
        return Err(invalid(format!(
            "account `{account}` of `{}` is not listed under `accounts`",
            p.arn
        )));
    }
    let resource = parts[5];
    let (kind, path, name, prefix) = if resource == "root" {
        (
            SetupPrincipalKind::Root,
            "/".to_string(),
            account.clone(),
            "",
        )
    } else if let Some(rest) = resource.strip_prefix("role/") {
        let (path, name) = split_path(rest);
        (SetupPrincipalKind::Role, path, name.to_string(), "AROA")
    } else if let Some(rest) = resource.strip_prefix("user/") {
        let (path, name) = split_path(rest);
        (SetupPrincipalKind::User, path, name.to_string(), "AIDA")
    } else {
        return Err(invalid(format!(
            "`{}` is not a role, user or root ARN",
            p.arn
        )));
    };
    if p.trust_policy.is_some() && kind != SetupPrincipalKind::Role {
        return Err(invalid("only roles have a `trust_policy`".to_string()));
    }
    if kind == SetupPrincipalKind::Role && p.trust_policy.is_none() {
        return Err(invalid(format!("role `{}` needs a `trust_policy`", p.arn)));
    }
    let short = match kind {
        SetupPrincipalKind::Root => format!("{account}:root"),
        SetupPrincipalKind::Role => format!("role/{name}"),
        SetupPrincipalKind::User => format!("user/{name}"),
    };
    let mut identity: Vec<NamedPolicy> =
        parse_map(&p.policies, &format!("{location}.policies"), |n| PolicyId {
            kind: PolicyKind::Identity,
            name: format!("{account}:{short}/inline/{n}"),
        })?
        .into_values()
        .collect();
    for arn in &p.managed_policies {
        let Some(policy) = managed.get(arn) else {
            return Err(invalid(format!(
                "managed policy `{arn}` is not defined under `managed_policies`"
            )));
        };
        identity.push(policy.clone());
    }
    let boundary = match &p.permissions_boundary {
        None => None,
        Some(arn) => {
            let Some(policy) = managed.get(arn) else {
                return Err(invalid(format!(
                    "permissions boundary `{arn}` is not defined under `managed_policies`"
                )));
            };
            Some(NamedPolicy {
                id: PolicyId {
                    kind: PolicyKind::Boundary,
                    name: arn.clone(),
                },
                policy: policy.policy.clone(),
            })
        }
    };
    let trust = match &p.trust_policy {
        None => None,
        Some(value) => Some(NamedPolicy {
            id: PolicyId {
                kind: PolicyKind::Trust,
                name: format!("{}/trust-policy", p.arn),
            },
            policy: parse_policy(
                &policy_text(value),
                PolicyKind::Trust,
                &format!("{location}.trust_policy"),
            )?,
        }),
    };
    let id = match (&p.id, kind) {
        (Some(id), _) => id.clone(),
        (None, SetupPrincipalKind::Root) => account.clone(),
        (None, _) => derived_id(prefix, &p.arn),
    };
    Ok(SetupPrincipal {
        arn: p.arn.clone(),
        account,
        kind,
        id,
        path,
        name,
        tags: p.tags.clone(),
        identity,
        boundary,
        trust,
    })
}

fn load_resource(
    document: &SetupDocument,
    r: &ResourceDocument,
    index: usize,
) -> Result<SetupResource, SetupError> {
    let location = format!("resources[{index}]");
    let invalid = |message: String| SetupError::Invalid {
        location: location.clone(),
        message,
    };
    let parts: Vec<&str> = r.arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(invalid(format!("`{}` is not an ARN", r.arn)));
    }
    let (kind, policy_kind) = match parts[2] {
        "s3" if !parts[5].contains('/') && !parts[5].is_empty() => {
            (SetupResourceKind::S3Bucket, PolicyKind::Resource)
        }
        "kms" if parts[5].starts_with("key/") => (SetupResourceKind::KmsKey, PolicyKind::Key),
        _ => (SetupResourceKind::Other, PolicyKind::Resource),
    };
    let account = match (&r.account, parts[4]) {
        (Some(a), arn_account) => {
            if !arn_account.is_empty() && arn_account != a {
                return Err(invalid(format!(
                    "`account` {a} differs from the account in `{}`",
                    r.arn
                )));
            }
            a.clone()
        }
        (None, "") => {
            return Err(invalid(format!(
                "`{}` carries no account: give `account`",
                r.arn
            )));
        }
        (None, a) => a.to_string(),
    };
    check_account_id(&account, &format!("{location}.account"))?;
    if !document.accounts.contains_key(&account) {
        return Err(invalid(format!(
            "account `{account}` is not listed under `accounts`"
        )));
    }
    if kind != SetupResourceKind::S3Bucket && r.public_access_block.is_some() {
        return Err(invalid(
            "only buckets have `public_access_block`".to_string(),
        ));
    }
    if kind != SetupResourceKind::KmsKey && !r.aliases.is_empty() {
        return Err(invalid("only KMS keys have `aliases`".to_string()));
    }
    let policy = match &r.policy {
        None => None,
        Some(value) => Some(NamedPolicy {
            id: PolicyId {
                kind: policy_kind,
                name: match kind {
                    SetupResourceKind::S3Bucket => format!("bucket-policy/{}", &r.arn[13..]),
                    SetupResourceKind::KmsKey => format!("key-policy/{}", r.arn),
                    SetupResourceKind::Other => format!("resource-policy/{}", r.arn),
                },
            },
            policy: parse_policy(
                &policy_text(value),
                policy_kind,
                &format!("{location}.policy"),
            )?,
        }),
    };
    Ok(SetupResource {
        arn: r.arn.clone(),
        account,
        kind,
        policy,
        public_access_block: r.public_access_block,
        aliases: r.aliases.clone(),
    })
}

type Levels = BTreeMap<String, Vec<Vec<NamedPolicy>>>;

fn load_organization(document: &SetupDocument) -> Result<(Levels, Levels), SetupError> {
    let mut scps = Levels::new();
    let mut rcps = Levels::new();
    let Some(org) = &document.organization else {
        for (id, account) in &document.accounts {
            if account.organizational_unit.is_some()
                || !account.scps.is_empty()
                || !account.rcps.is_empty()
            {
                return Err(SetupError::Invalid {
                    location: format!("accounts.{id}"),
                    message: "organization policies need an `organization`".to_string(),
                });
            }
        }
        return Ok((scps, rcps));
    };
    let roots = org.units.iter().filter(|u| u.parent.is_none()).count();
    if roots != 1 {
        return Err(SetupError::Invalid {
            location: "organization.units".to_string(),
            message: format!("exactly one unit must have no parent (the root); found {roots}"),
        });
    }
    let mut unit_policies: BTreeMap<&str, (Vec<NamedPolicy>, Vec<NamedPolicy>)> = BTreeMap::new();
    for (i, unit) in org.units.iter().enumerate() {
        let s = parse_map(&unit.scps, &format!("organization.units[{i}].scps"), |n| {
            PolicyId {
                kind: PolicyKind::ServiceControl,
                name: format!("{}/scp/{n}", unit.id),
            }
        })?;
        let r = parse_map(&unit.rcps, &format!("organization.units[{i}].rcps"), |n| {
            PolicyId {
                kind: PolicyKind::ResourceControl,
                name: format!("{}/rcp/{n}", unit.id),
            }
        })?;
        unit_policies.insert(
            &unit.id,
            (s.into_values().collect(), r.into_values().collect()),
        );
    }
    for (id, account) in &document.accounts {
        let location = format!("accounts.{id}");
        let Some(unit_id) = &account.organizational_unit else {
            continue;
        };
        // Walk from the account's unit up to the root.
        let mut chain = Vec::new();
        let mut current = Some(unit_id.as_str());
        while let Some(u) = current {
            if chain.len() > org.units.len() {
                return Err(SetupError::Invalid {
                    location: "organization.units".to_string(),
                    message: "the unit tree has a cycle".to_string(),
                });
            }
            let Some(unit) = org.units.iter().find(|x| x.id == u) else {
                return Err(SetupError::Invalid {
                    location: location.clone(),
                    message: format!("unit `{u}` is not defined under `organization.units`"),
                });
            };
            chain.push(unit.id.as_str());
            current = unit.parent.as_deref();
        }
        chain.reverse();
        let mut s_levels = Vec::new();
        let mut r_levels = Vec::new();
        for u in chain {
            let (s, r) = unit_policies.get(u).cloned().unwrap_or_default();
            s_levels.push(s);
            r_levels.push(r);
        }
        let own_s = parse_map(&account.scps, &format!("{location}.scps"), |n| PolicyId {
            kind: PolicyKind::ServiceControl,
            name: format!("{id}/scp/{n}"),
        })?;
        let own_r = parse_map(&account.rcps, &format!("{location}.rcps"), |n| PolicyId {
            kind: PolicyKind::ResourceControl,
            name: format!("{id}/rcp/{n}"),
        })?;
        s_levels.push(own_s.into_values().collect());
        r_levels.push(own_r.into_values().collect());
        // AWS attaches `FullAWSAccess` (SCP) and `RCPFullAWSAccess` (RCP) to every root, unit
        // and account by default; a level the document leaves empty stands for that default,
        // which allows everything, so it adds no restriction.
        s_levels.retain(|level: &Vec<NamedPolicy>| !level.is_empty());
        r_levels.retain(|level: &Vec<NamedPolicy>| !level.is_empty());
        scps.insert(id.clone(), s_levels);
        rcps.insert(id.clone(), r_levels);
    }
    Ok((scps, rcps))
}
