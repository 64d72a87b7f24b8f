//! The plan: every resource a blueprint asks for, per account, in the order it must be created,
//! with every policy document as a [`PolicyTemplate`].
//!
//! A plan is what `airlock plan` prints and what `airlock apply` executes. It is pure data: it
//! knows nothing of endpoints or credentials. Values that exist only once a resource has been
//! created (the KMS key's ARN, the VPC endpoint's id) appear in policy documents as named
//! placeholders (`${airlock:key_arn}`, `${airlock:vpce_id:s3-gateway-endpoint}`, see
//! [`Reference`]); [`PolicyTemplate::resolve`] substitutes them from [`Bindings`] once they are
//! known (from the created resources, or [`Bindings::illustrative`] for display and proofs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use airlock_policy::setup::PublicAccessBlock;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which policies the plan generates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Every hardening switch on unless the blueprint turns it off (the default).
    #[default]
    Hardened,
    /// The seed tutorial's JSON exactly, flaws included; every hardening switch off unless the
    /// blueprint turns it on.
    AsWritten,
}

impl Profile {
    /// `hardened` or `as-written`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Hardened => "hardened",
            Profile::AsWritten => "as-written",
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "hardened" => Ok(Profile::Hardened),
            "as-written" => Ok(Profile::AsWritten),
            other => Err(format!(
                "profile must be `hardened` or `as-written`, not `{other}`"
            )),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Defines [`Hardening`] (the switches in effect) and [`HardeningOverrides`] (the switches a
/// blueprint sets) from one list, so a switch is named in one place.
macro_rules! hardening_switches {
    ($($(#[doc = $doc:expr])* $name:ident,)*) => {
        /// The hardening switches in effect. Each fixes one flaw of the seed;
        /// `docs/blueprint.md` documents each with the flaw it fixes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Hardening {
            $($(#[doc = $doc])* pub $name: bool,)*
        }

        impl Hardening {
            /// Every switch on (the `hardened` profile's default).
            pub const ALL: Hardening = Hardening { $($name: true,)* };
            /// Every switch off (the `as-written` profile's default).
            pub const NONE: Hardening = Hardening { $($name: false,)* };
            /// How many switches there are.
            pub const COUNT: usize = [$(stringify!($name)),*].len();

            /// The switch names, in documentation order, with their current value.
            pub fn switches(&self) -> [(&'static str, bool); Hardening::COUNT] {
                [$((stringify!($name), self.$name)),*]
            }
        }

        /// Hardening switches set explicitly in a blueprint; the others keep the profile's
        /// default.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct HardeningOverrides {
            $(
                #[doc = concat!("See [`Hardening::", stringify!($name), "`].")]
                pub $name: Option<bool>,
            )*
        }

        impl HardeningOverrides {
            /// The profile's switches with these overrides applied.
            pub fn apply(&self, profile: Profile) -> Hardening {
                let mut h = Hardening::for_profile(profile);
                $(if let Some(v) = self.$name {
                    h.$name = v;
                })*
                h
            }
        }
    };
}

hardening_switches! {
    /// The storage role's trust admits only the consumer principals (`aws:PrincipalArn`), with
    /// `sts:ExternalId` when the blueprint gives one; as written it trusts the whole consumer
    /// account root.
    pin_trust_to_principal,
    /// The key policy carries no grant to the consumer accounts (only the storage role uses
    /// the key, through S3).
    key_policy_without_consumer_grant,
    /// The storage role may use the key only through S3 (`kms:ViaService`) from the storage
    /// account (`kms:CallerAccount`), and only `Decrypt`/`GenerateDataKey`.
    key_via_service,
    /// The bucket policy denies every request without TLS (`aws:SecureTransport`).
    deny_insecure_transport,
    /// The bucket policy denies PUTs that name another KMS key or another encryption.
    deny_other_kms_keys,
    /// The bucket policy denies the data actions (`s3:GetObject*`, `s3:PutObject*`,
    /// `s3:DeleteObject*`, `s3:List*`) to every principal but the storage roles, so that no
    /// administrator of the storage account reads the data by accident of an `Allow *`.
    deny_data_to_others,
    /// Object ownership `BucketOwnerEnforced` (ACLs disabled).
    bucket_owner_enforced,
    /// Bucket versioning enabled.
    versioning,
    /// Per-resource grants: `s3:ListBucket` on the bucket ARN, object actions on object ARNs
    /// (limited to the consumer's key prefixes).
    least_privilege,
    /// An explicit break-glass administrator exempt from the VPC-endpoint deny for
    /// `s3:GetBucketPolicy`/`PutBucketPolicy`/`DeleteBucketPolicy` only.
    break_glass_admin,
    /// Automatic yearly rotation of the KMS key material.
    key_rotation,
}

impl Hardening {
    /// The default switches of a profile.
    pub fn for_profile(profile: Profile) -> Hardening {
        match profile {
            Profile::Hardened => Hardening::ALL,
            Profile::AsWritten => Hardening::NONE,
        }
    }
}

/// An AWS account of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// A friendly name (`account-b`), used in messages and file names.
    pub alias: String,
}

/// The whole plan of a blueprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The region of every regional resource.
    pub region: String,
    /// The profile the policies were generated with.
    pub profile: Profile,
    /// The hardening switches in effect.
    pub hardening: Hardening,
    /// The account that holds the bucket, the key and the storage role.
    pub storage_account: Account,
    /// The accounts whose principals use the bucket (through the storage role).
    pub consumer_accounts: Vec<Account>,
    /// The KMS key (storage account).
    pub key: KeyPlan,
    /// The bucket (storage account).
    pub bucket: BucketPlan,
    /// Every IAM role to create, storage-account roles first, in creation order.
    pub roles: Vec<RolePlan>,
    /// Per admitted VPC endpoint: its VPC, subnet, endpoint and optional instance.
    pub networks: Vec<NetworkPlan>,
    /// The break-glass administrator, when `break_glass_admin` is on.
    pub break_glass: Option<BreakGlassPlan>,
    /// What to do, in order: the seed's Steps 1–8 with its "come back after Step 6" resolved
    /// (the bucket policy is put in Step 7, once the endpoint ids exist).
    pub steps: Vec<Step>,
}

/// The customer managed KMS key (seed Step 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPlan {
    /// The account that owns the key (the storage account).
    pub account: String,
    /// The alias, with its `alias/` prefix (`alias/cross-account-s3-key`).
    pub alias: String,
    /// The key's description.
    pub description: String,
    /// `SYMMETRIC_DEFAULT`.
    pub key_spec: String,
    /// `ENCRYPT_DECRYPT`.
    pub key_usage: String,
    /// The key policy. It references nothing created later (a key policy may use `"*"` as its
    /// resource), so it resolves with empty bindings.
    pub policy: PolicyTemplate,
    /// Whether automatic key rotation is enabled.
    pub enable_rotation: bool,
}

/// Default bucket encryption (seed Step 2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultEncryption {
    /// `aws:kms`.
    pub sse_algorithm: String,
    /// The key: `${airlock:key_arn}` until the key exists (resolve with
    /// [`Bindings::resolve_str`]).
    pub kms_master_key_id: String,
    /// S3 Bucket Key enabled.
    pub bucket_key_enabled: bool,
}

/// The S3 bucket (seed Steps 2 and 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketPlan {
    /// The owning account (the storage account).
    pub account: String,
    /// The bucket name.
    pub name: String,
    /// Bucket-level Block Public Access (all four on in both profiles, as the seed keeps them).
    pub public_access_block: PublicAccessBlock,
    /// Default encryption.
    pub default_encryption: DefaultEncryption,
    /// Object ownership (`BucketOwnerEnforced`), or `None` to leave S3's default.
    pub ownership: Option<String>,
    /// Whether versioning is enabled.
    pub versioning: bool,
    /// The bucket policy; references the VPC endpoint ids (and the key ARN when hardened).
    pub policy: PolicyTemplate,
    /// Bucket tags.
    pub tags: BTreeMap<String, String>,
}

impl BucketPlan {
    /// `arn:aws:s3:::NAME`.
    pub fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.name)
    }
}

/// What a role is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolePurpose {
    /// The storage-account role the consumers assume (seed Step 3).
    Storage,
    /// A consumer-account role of EC2 instances (seed Step 5), with an instance profile.
    Instance,
    /// The break-glass administrator of the bucket policy.
    BreakGlass,
}

/// An inline policy of a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InlinePolicy {
    /// The policy name (`S3AndKMSAccess`).
    pub name: String,
    /// The document.
    pub policy: PolicyTemplate,
}

/// An IAM role (seed Steps 3 and 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolePlan {
    /// The owning account.
    pub account: String,
    /// The role name.
    pub name: String,
    /// What the role is for.
    pub purpose: RolePurpose,
    /// The role's description.
    pub description: String,
    /// The trust policy (`AssumeRolePolicyDocument`).
    pub trust_policy: PolicyTemplate,
    /// Inline policies (`PutRolePolicy`), in order.
    pub inline_policies: Vec<InlinePolicy>,
    /// Managed policies to attach.
    pub managed_policy_arns: Vec<String>,
    /// The instance profile to create with the same name and add the role to (instance roles).
    pub instance_profile: Option<String>,
    /// Maximum session duration in seconds (`None`: IAM's default, 3600).
    pub max_session_duration: Option<u32>,
}

impl RolePlan {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.name)
    }
}

/// Gateway or interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointKind {
    /// A gateway endpoint (routes in route tables), as the seed uses.
    Gateway,
    /// An interface endpoint (network interfaces in subnets).
    Interface,
}

impl EndpointKind {
    /// The EC2 API's `VpcEndpointType` value.
    pub fn as_aws(self) -> &'static str {
        match self {
            EndpointKind::Gateway => "Gateway",
            EndpointKind::Interface => "Interface",
        }
    }
}

/// The VPC endpoint for S3 (seed Step 6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VpcEndpointPlan {
    /// The endpoint's name (its `Name` tag); also the name of its placeholders
    /// (`${airlock:vpce_id:NAME}`).
    pub name: String,
    /// `com.amazonaws.REGION.s3`.
    pub service_name: String,
    /// Gateway or interface.
    pub kind: EndpointKind,
    /// The endpoint policy; `None` is AWS's default full-access policy (the seed's "Full
    /// access").
    pub policy: Option<PolicyTemplate>,
    /// Gateway endpoints: associate the route table of the subnet (the VPC's main route table).
    pub associate_route_table: bool,
}

/// A VPC (seed prerequisite: "A VPC in Account A with a subnet").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcPlan {
    /// Its `Name` tag.
    pub name: String,
    /// IPv4 CIDR block.
    pub cidr: String,
}

/// A subnet of the VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetPlan {
    /// Its `Name` tag.
    pub name: String,
    /// IPv4 CIDR block (inside the VPC's).
    pub cidr: String,
}

/// The EC2 instance (seed Step 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePlan {
    /// Its `Name` tag.
    pub name: String,
    /// The instance profile (of an [`RolePurpose::Instance`] role).
    pub instance_profile: String,
    /// The role inside that instance profile.
    pub role: String,
    /// The AMI (`resolve:ssm:` parameters accepted, as by `RunInstances`).
    pub image_id: String,
    /// The instance type (`t2.micro`).
    pub instance_type: String,
}

/// One consumer network: VPC, subnet, S3 endpoint and optional instance (seed Steps 6 and 8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkPlan {
    /// The consumer account that owns it.
    pub account: String,
    /// The VPC.
    pub vpc: VpcPlan,
    /// The subnet.
    pub subnet: SubnetPlan,
    /// The S3 endpoint admitted by the bucket policy.
    pub endpoint: VpcEndpointPlan,
    /// The instance to launch in the subnet.
    pub instance: Option<InstancePlan>,
}

/// The break-glass administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassPlan {
    /// The principal exempt from the VPC-endpoint deny for the bucket-policy actions.
    pub principal_arn: String,
    /// When airlock creates the principal: the name of its role in [`Plan::roles`]
    /// ([`RolePurpose::BreakGlass`]); `None` when the blueprint names an existing principal.
    pub role: Option<String>,
}

/// What a step creates or configures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepAction {
    /// Create the KMS key, its alias and key policy; enable rotation when planned ([`Plan::key`]).
    CreateKey,
    /// Create the bucket with Block Public Access, default encryption, ownership and
    /// versioning, without its policy yet ([`Plan::bucket`]).
    CreateBucket,
    /// Create a role with its trust, inline and managed policies, and its instance profile.
    CreateRole {
        /// The role's name (an entry of [`Plan::roles`] in the step's account).
        name: String,
    },
    /// Create a VPC, its subnet and the S3 endpoint ([`Plan::networks`], by endpoint name).
    CreateNetwork {
        /// The endpoint name of the network.
        endpoint: String,
    },
    /// Put the bucket policy (needs every endpoint id and the key ARN).
    PutBucketPolicy,
    /// Launch the instance of a network.
    LaunchInstance {
        /// The endpoint name of the network whose instance to launch.
        endpoint: String,
    },
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The seed's step number (1–8); several steps may share one (one role per consumer account).
    pub number: u8,
    /// The account the step runs in.
    pub account: String,
    /// What it does.
    pub action: StepAction,
    /// One line for humans.
    pub what: String,
}

/// A value known only once a resource exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Reference {
    /// The KMS key's ARN: `${airlock:key_arn}`.
    KeyArn,
    /// The KMS key's id: `${airlock:key_id}`.
    KeyId,
    /// The id of the VPC endpoint of that name: `${airlock:vpce_id:NAME}`.
    VpceId(String),
    /// The id of the VPC of the network whose endpoint has that name: `${airlock:vpc_id:NAME}`.
    VpcId(String),
}

impl Reference {
    /// The placeholder text, `${airlock:...}`.
    pub fn placeholder(&self) -> String {
        format!("${{airlock:{}}}", self.name())
    }

    /// The name inside the placeholder (`key_arn`, `vpce_id:NAME`).
    pub fn name(&self) -> String {
        match self {
            Reference::KeyArn => "key_arn".into(),
            Reference::KeyId => "key_id".into(),
            Reference::VpceId(n) => format!("vpce_id:{n}"),
            Reference::VpcId(n) => format!("vpc_id:{n}"),
        }
    }

    /// Parses a name (`key_arn`, `vpce_id:NAME`).
    pub fn from_name(name: &str) -> Option<Reference> {
        match name {
            "key_arn" => Some(Reference::KeyArn),
            "key_id" => Some(Reference::KeyId),
            _ => {
                if let Some(n) = name.strip_prefix("vpce_id:") {
                    (!n.is_empty()).then(|| Reference::VpceId(n.to_string()))
                } else if let Some(n) = name.strip_prefix("vpc_id:") {
                    (!n.is_empty()).then(|| Reference::VpcId(n.to_string()))
                } else {
                    None
                }
            }
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.name()
    }
}

impl TryFrom<String> for Reference {
    type Error = String;
    fn try_from(s: String) -> Result<Reference, String> {
        Reference::from_name(&s).ok_or_else(|| format!("`{s}` is not an airlock reference"))
    }
}

/// Values of [`Reference`]s, once known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bindings(pub BTreeMap<Reference, String>);

/// A reference that has no value in the [`Bindings`], or a placeholder that is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The reference has no binding.
    #[error("`{}` has no value yet", .0.placeholder())]
    Unbound(Reference),
    /// `${airlock:...}` with a name that is not a reference.
    #[error("`${{airlock:{0}}}` is not an airlock reference")]
    Unknown(String),
}

impl Bindings {
    /// No values.
    pub fn new() -> Bindings {
        Bindings::default()
    }

    /// Sets one value.
    pub fn insert(&mut self, reference: Reference, value: impl Into<String>) {
        self.0.insert(reference, value.into());
    }

    /// A value.
    pub fn get(&self, reference: &Reference) -> Option<&str> {
        self.0.get(reference).map(String::as_str)
    }

    /// Deterministic example values for display and proofs: the seed's own examples for the first
    /// key and endpoint (`12345678-1234-1234-1234-123456789012`, `vpce-0a1b2c3d4e5f6g7h8`),
    /// derived ones for further endpoints.
    pub fn illustrative(plan: &Plan) -> Bindings {
        let mut b = Bindings::new();
        let key_id = "12345678-1234-1234-1234-123456789012";
        b.insert(Reference::KeyId, key_id);
        b.insert(
            Reference::KeyArn,
            format!(
                "arn:aws:kms:{}:{}:key/{key_id}",
                plan.region, plan.key.account
            ),
        );
        for (i, n) in plan.networks.iter().enumerate() {
            let (vpce, vpc) = if i == 0 {
                (
                    "vpce-0a1b2c3d4e5f6g7h8".to_string(),
                    "vpc-0example1111111".to_string(),
                )
            } else {
                (
                    format!("vpce-0a1b2c3d4e5f6{i:03x}"),
                    format!("vpc-0example{i:07}"),
                )
            };
            b.insert(Reference::VpceId(n.endpoint.name.clone()), vpce);
            b.insert(Reference::VpcId(n.endpoint.name.clone()), vpc);
        }
        b
    }

    /// Substitutes every placeholder in one string.
    pub fn resolve_str(&self, text: &str) -> Result<String, ResolveError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find(PREFIX) {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + PREFIX.len()..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[pos..]);
                return Ok(out);
            };
            let name = &after[..end];
            let reference =
                Reference::from_name(name).ok_or_else(|| ResolveError::Unknown(name.into()))?;
            let value = self
                .get(&reference)
                .ok_or_else(|| ResolveError::Unbound(reference.clone()))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

const PREFIX: &str = "${airlock:";

/// A policy document whose strings may hold [`Reference`] placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyTemplate(Value);

impl PolicyTemplate {
    /// Wraps a JSON document (placeholders written with [`Reference::placeholder`]).
    pub fn new(document: Value) -> PolicyTemplate {
        PolicyTemplate(document)
    }

    /// The document with its placeholders as written.
    pub fn template(&self) -> &Value {
        &self.0
    }

    /// Every reference the document uses, sorted.
    pub fn references(&self) -> BTreeSet<Reference> {
        let mut out = BTreeSet::new();
        walk_strings(&self.0, &mut |s| {
            let mut rest = s;
            while let Some(pos) = rest.find(PREFIX) {
                let after = &rest[pos + PREFIX.len()..];
                let Some(end) = after.find('}') else { break };
                if let Some(r) = Reference::from_name(&after[..end]) {
                    out.insert(r);
                }
                rest = &after[end + 1..];
            }
        });
        out
    }

    /// The document with every placeholder replaced by its binding.
    pub fn resolve(&self, bindings: &Bindings) -> Result<Value, ResolveError> {
        resolve_value(&self.0, bindings)
    }
}

fn walk_strings(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            f(k);
            walk_strings(x, f)
        }),
        _ => {}
    }
}

fn resolve_value(v: &Value, b: &Bindings) -> Result<Value, ResolveError> {
    Ok(match v {
        Value::String(s) => Value::String(b.resolve_str(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve_value(x, b))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(b.resolve_str(k)?, resolve_value(x, b)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_and_resolution() {
        let t = PolicyTemplate::new(json!({
            "Resource": "${airlock:key_arn}",
            "Condition": {"StringNotEquals": {"aws:SourceVpce": ["${airlock:vpce_id:a}", "x-${airlock:vpce_id:b}"]}}
        }));
        let refs: Vec<Reference> = t.references().into_iter().collect();
        assert_eq!(
            refs,
            vec![
                Reference::KeyArn,
                Reference::VpceId("a".into()),
                Reference::VpceId("b".into())
            ]
        );
        let mut b = Bindings::new();
        b.insert(Reference::KeyArn, "K");
        b.insert(Reference::VpceId("a".into()), "vpce-1");
        assert_eq!(
            t.resolve(&b),
            Err(ResolveError::Unbound(Reference::VpceId("b".into())))
        );
        b.insert(Reference::VpceId("b".into()), "vpce-2");
        assert_eq!(
            t.resolve(&b).unwrap(),
            json!({
                "Resource": "K",
                "Condition": {"StringNotEquals": {"aws:SourceVpce": ["vpce-1", "x-vpce-2"]}}
            })
        );
    }

    #[test]
    fn unknown_placeholder_is_an_error_and_aws_variables_pass() {
        let b = Bindings::new();
        assert_eq!(
            b.resolve_str("${airlock:nope}"),
            Err(ResolveError::Unknown("nope".into()))
        );
        assert_eq!(
            b.resolve_str("arn:aws:s3:::b/${aws:username}/*").unwrap(),
            "arn:aws:s3:::b/${aws:username}/*"
        );
    }

    #[test]
    fn reference_names_round_trip() {
        for r in [
            Reference::KeyArn,
            Reference::KeyId,
            Reference::VpceId("s3-gateway-endpoint".into()),
            Reference::VpcId("x".into()),
        ] {
            assert_eq!(Reference::from_name(&r.name()), Some(r.clone()));
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Reference>(&s).unwrap(), r);
        }
    }
}
