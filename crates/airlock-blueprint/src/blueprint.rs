//! The blueprint file: TOML, every table closed (`deny_unknown_fields`), every error located by
//! line and column. `docs/blueprint.md` is the format reference; `examples/seed.toml` is the
//! seed tutorial's setup.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

pub use crate::plan::HardeningOverrides;
use crate::plan::Profile;

/// A blueprint as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The region (`us-east-1` by default).
    #[serde(default = "default_region")]
    pub region: String,
    /// `hardened` (default) or `as-written`.
    #[serde(default)]
    pub profile: Option<Profile>,
    /// The storage account and what it holds.
    pub storage: Storage,
    /// The consumer accounts (one or more).
    #[serde(rename = "consumer")]
    pub consumers: Vec<Consumer>,
    /// Switches over the profile's defaults.
    #[serde(default)]
    pub hardening: HardeningOverrides,
    /// The break-glass administrator (used when `break_glass_admin` is on).
    #[serde(default)]
    pub break_glass: Option<BreakGlass>,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// The storage account: bucket, key and the roles the consumers assume.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The 12-digit account id.
    pub account: String,
    /// A friendly name (`account-b`).
    pub alias: String,
    /// The bucket.
    pub bucket: Bucket,
    /// The KMS key.
    pub key: Key,
    /// The roles the consumers assume (one or more).
    #[serde(rename = "role")]
    pub roles: Vec<StorageRole>,
}

/// The bucket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// The bucket name.
    pub name: String,
    /// S3 Bucket Key (`true` by default, as the seed enables it).
    #[serde(default = "yes")]
    pub bucket_key: bool,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// The KMS key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// The alias, with or without `alias/`.
    pub alias: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
}

/// What a storage role may do on the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// `s3:GetObject`.
    Read,
    /// `s3:PutObject`.
    Write,
    /// `s3:ListBucket`.
    List,
}

/// A storage-account role the consumers assume.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageRole {
    /// The role name.
    pub name: String,
    /// The role's description.
    #[serde(default)]
    pub description: Option<String>,
    /// The name of its inline policy.
    #[serde(default = "default_storage_policy")]
    pub policy_name: String,
    /// What it may do.
    pub access: BTreeSet<Access>,
    /// Key prefixes it may use (`reports/`); empty: the whole bucket.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Maximum session duration in seconds (3600–43200).
    #[serde(default)]
    pub max_session_duration: Option<u32>,
}

fn default_storage_policy() -> String {
    "S3AndKMSAccess".into()
}

/// A consumer account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// The 12-digit account id.
    pub account: String,
    /// A friendly name (`account-a`).
    pub alias: String,
    /// `sts:ExternalId` required from this account's principals (hardened trust only).
    #[serde(default)]
    pub external_id: Option<String>,
    /// The principals that assume storage roles (one or more).
    #[serde(rename = "principal")]
    pub principals: Vec<ConsumerPrincipal>,
    /// The VPC endpoints admitted by the bucket policy (one or more).
    #[serde(rename = "endpoint")]
    pub endpoints: Vec<Endpoint>,
}

/// A consumer principal: an EC2 instance role airlock creates (`instance_role`), or an existing
/// role (`arn`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerPrincipal {
    /// Name of an EC2 instance role to create in the consumer account.
    #[serde(default)]
    pub instance_role: Option<String>,
    /// ARN of an existing role of the consumer account.
    #[serde(default)]
    pub arn: Option<String>,
    /// Created roles: the description.
    #[serde(default)]
    pub description: Option<String>,
    /// Created roles: the name of the inline policy that allows `sts:AssumeRole`.
    #[serde(default)]
    pub policy_name: Option<String>,
    /// Created roles: the instance profile name (the role's name by default).
    #[serde(default)]
    pub instance_profile: Option<String>,
    /// The storage roles it assumes (every storage role by default).
    #[serde(default)]
    pub assumes: Option<Vec<String>>,
}

/// Endpoint type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointType {
    /// Gateway endpoint.
    Gateway,
    /// Interface endpoint.
    Interface,
}

/// A VPC endpoint admitted by the bucket policy, with its VPC and subnet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The endpoint's name (`s3-gateway-endpoint`), unique in the blueprint.
    pub name: String,
    /// `gateway` (default) or `interface`.
    #[serde(rename = "type", default = "default_endpoint_type")]
    pub kind: EndpointType,
    /// The VPC's name tag (`NAME-vpc` by default).
    #[serde(default)]
    pub vpc_name: Option<String>,
    /// The VPC's CIDR block.
    pub vpc_cidr: String,
    /// The subnet's name tag (`NAME-subnet` by default).
    #[serde(default)]
    pub subnet_name: Option<String>,
    /// The subnet's CIDR block.
    pub subnet_cidr: String,
    /// An instance to launch in the subnet.
    #[serde(default)]
    pub instance: Option<Instance>,
}

fn default_endpoint_type() -> EndpointType {
    EndpointType::Gateway
}

/// An EC2 instance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Its name tag.
    pub name: String,
    /// The `instance_role` of a principal of the same consumer account.
    pub role: String,
    /// The AMI (Amazon Linux 2023 through its public SSM parameter by default).
    #[serde(default = "default_image")]
    pub image_id: String,
    /// The instance type (`t2.micro` by default).
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
}

fn default_image() -> String {
    "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into()
}

fn default_instance_type() -> String {
    "t2.micro".into()
}

/// The break-glass administrator: a role airlock creates in the storage account (`role`), or an
/// existing principal of the storage account (`principal_arn`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlass {
    /// Name of a role to create (trusting the storage account's root, so its administrators
    /// decide who may assume it).
    #[serde(default)]
    pub role: Option<String>,
    /// ARN of an existing principal of the storage account.
    #[serde(default)]
    pub principal_arn: Option<String>,
}

/// A blueprint that failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlueprintError {
    /// Not TOML, an unknown field, a missing field or a value of the wrong type.
    #[error("blueprint, line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong, as the TOML reader says it.
        message: String,
    },
    /// Well-formed but inconsistent (bad account id, unknown reference, duplicate name, ...).
    #[error("blueprint, `{location}`: {message}")]
    Invalid {
        /// Where (`consumer[0].endpoint[1].name`).
        location: String,
        /// What is wrong.
        message: String,
    },
    /// Well-formed but inconsistent, at a known place in the file: [`BlueprintError::Invalid`]
    /// with the line and column of the value (what [`crate::Plan::from_toml`] reports).
    #[error("blueprint, line {line}, column {column}, `{location}`: {message}")]
    Placed {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// Where (`consumer[0].endpoint[1].subnet_cidr`).
        location: String,
        /// What is wrong.
        message: String,
    },
}

impl BlueprintError {
    /// An [`BlueprintError::Invalid`] error placed at the line and column of its location in
    /// `text` (the blueprint it was read from), when the location is found there; any other
    /// error unchanged.
    pub fn placed_in(self, text: &str) -> BlueprintError {
        match self {
            BlueprintError::Invalid { location, message } => match locate(text, &location) {
                Some((line, column)) => BlueprintError::Placed {
                    line,
                    column,
                    location,
                    message,
                },
                None => BlueprintError::Invalid { location, message },
            },
            other => other,
        }
    }
}

/// The line and column of the value at `location` (`consumer[0].endpoint[1].name`) in TOML text.
fn locate(text: &str, location: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut here: Option<&DeValue<'_>> = None;
    let mut table: &DeTable<'_> = root.get_ref();
    for part in location.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, Some(rest.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (part, None),
        };
        if let Some(v) = here {
            match v {
                DeValue::Table(t) => table = t,
                _ => return None,
            }
        }
        let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        let mut value = value;
        if let Some(i) = index {
            match value.get_ref() {
                DeValue::Array(items) => value = items.get(i)?,
                _ => return None,
            }
        }
        span = value.span();
        here = Some(value.get_ref());
    }
    Some(line_column(text, span.start))
}

impl Blueprint {
    /// Reads a blueprint from TOML text. Unknown fields and type errors name the field with
    /// its line and column.
    pub fn from_toml(text: &str) -> Result<Blueprint, BlueprintError> {
        toml::from_str::<Blueprint>(text).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => line_column(text, span.start),
                None => (1, 1),
            };
            BlueprintError::Syntax {
                line,
                column,
                message: e.message().trim_end().to_string(),
            }
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé d", 7), (2, 4));
        assert_eq!(line_column("x", 99), (1, 2));
    }

    #[test]
    fn locations_are_found_in_the_text() {
        let text = "a = 1\n[[c]]\nx = \"one\"\n[[c]]\n[c.e]\n  y = \"two\"\n";
        assert_eq!(locate(text, "a"), Some((1, 5)));
        assert_eq!(locate(text, "c[0].x"), Some((3, 5)));
        assert_eq!(locate(text, "c[1].e.y"), Some((6, 7)));
        assert_eq!(locate(text, "c[2].x"), None);
        assert_eq!(locate(text, "b"), None);
    }
}
