//! Shared fixtures: the seed's literal policies and request builders. Also used by the
//! benchmark (`benches/seed.rs` includes this file by path).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_policy::{
    Context, NamedPolicy, Policy, PolicyId, PolicyKind, PolicySet, Principal, Request, Resource,
};

pub const ACCOUNT_A: &str = "111111111111";
pub const ACCOUNT_B: &str = "222222222222";
pub const BUCKET: &str = "cross-account-secure-bucket-demo";
pub const BUCKET_ARN: &str = "arn:aws:s3:::cross-account-secure-bucket-demo";
pub const OBJECT_ARN: &str = "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt";
pub const KEY_ARN: &str =
    "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012";
pub const ROLE_ARN: &str = "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";
pub const EC2_ROLE_ARN: &str = "arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole";
pub const VPCE: &str = "vpce-0a1b2c3d4e5f6g7h8";

pub const KEY_POLICY: &str = include_str!("../fixtures/seed/key-policy.json");
pub const ROLE_POLICY: &str =
    include_str!("../fixtures/seed/cross-account-role-inline-policy.json");
pub const ROLE_TRUST: &str = include_str!("../fixtures/seed/cross-account-role-trust-policy.json");
pub const EC2_ROLE_POLICY: &str = include_str!("../fixtures/seed/ec2-role-inline-policy.json");
pub const EC2_ROLE_TRUST: &str = include_str!("../fixtures/seed/ec2-role-trust-policy.json");
pub const BUCKET_POLICY: &str = include_str!("../fixtures/seed/bucket-policy.json");
pub const ADMIN_POLICY: &str = include_str!("../fixtures/seed/administrator-access.json");

/// Parses and names a policy; panics on invalid fixtures (test code only).
pub fn named(kind: PolicyKind, name: &str, json: &str) -> NamedPolicy {
    let policy =
        Policy::parse(json, kind).unwrap_or_else(|e| panic!("fixture {name} does not parse: {e}"));
    NamedPolicy {
        id: PolicyId {
            kind,
            name: name.to_string(),
        },
        policy: Arc::new(policy),
    }
}

pub fn role_session(account: &str, role: &str, session: &str) -> Principal {
    Principal::RoleSession {
        account: account.to_string(),
        role_name: role.to_string(),
        role_path: "/".to_string(),
        role_id: format!(
            "AROA{}EXAMPLE",
            role.to_ascii_uppercase().replace(['-', '_'], "")
        ),
        session_name: session.to_string(),
        tags: BTreeMap::new(),
        source_identity: None,
    }
}

pub fn user(account: &str, name: &str) -> Principal {
    Principal::User {
        account: account.to_string(),
        name: name.to_string(),
        path: "/".to_string(),
        id: format!(
            "AIDA{}EXAMPLE",
            name.to_ascii_uppercase().replace(['-', '_'], "")
        ),
        tags: BTreeMap::new(),
    }
}

pub fn root(account: &str) -> Principal {
    Principal::Root {
        account: account.to_string(),
    }
}

pub fn request(principal: Principal, action: &str, arn: &str, account: Option<&str>) -> Request {
    Request {
        principal,
        action: action.to_string(),
        resource: Resource {
            arn: arn.to_string(),
            account: account.map(str::to_string),
        },
        context: Context::new(),
    }
}

/// The cross-account role's session, as in the seed's Step 9.
pub fn cross_account_session() -> Principal {
    role_session(
        ACCOUNT_B,
        "CrossAccountS3AccessRole",
        "cross-account-session",
    )
}

/// The EC2 instance's session of its instance-profile role (account A).
pub fn ec2_session() -> Principal {
    role_session(
        ACCOUNT_A,
        "EC2CrossAccountAssumeRole",
        "i-0123456789abcdef0",
    )
}

/// The seed's policies, one field per policy.
pub struct Seed {
    pub key_policy: NamedPolicy,
    pub role_policy: NamedPolicy,
    pub role_trust: NamedPolicy,
    pub ec2_role_policy: NamedPolicy,
    pub ec2_role_trust: NamedPolicy,
    pub bucket_policy: NamedPolicy,
    pub admin_policy: NamedPolicy,
}

impl Seed {
    pub fn load() -> Seed {
        Seed {
            key_policy: named(PolicyKind::Key, KEY_ARN, KEY_POLICY),
            role_policy: named(
                PolicyKind::Identity,
                "role/CrossAccountS3AccessRole/S3AndKMSAccess",
                ROLE_POLICY,
            ),
            role_trust: named(PolicyKind::Trust, ROLE_ARN, ROLE_TRUST),
            ec2_role_policy: named(
                PolicyKind::Identity,
                "role/EC2CrossAccountAssumeRole/AssumeRoleInAccountB",
                EC2_ROLE_POLICY,
            ),
            ec2_role_trust: named(PolicyKind::Trust, EC2_ROLE_ARN, EC2_ROLE_TRUST),
            bucket_policy: named(PolicyKind::Resource, BUCKET_ARN, BUCKET_POLICY),
            admin_policy: named(
                PolicyKind::Identity,
                "arn:aws:iam::aws:policy/AdministratorAccess",
                ADMIN_POLICY,
            ),
        }
    }

    /// The policies for an S3 request by the cross-account role.
    pub fn role_on_bucket(&self) -> PolicySet {
        PolicySet {
            identity: vec![self.role_policy.clone()],
            resource: Some(self.bucket_policy.clone()),
            ..PolicySet::default()
        }
    }

    /// The policies for a KMS request by the cross-account role.
    pub fn role_on_key(&self) -> PolicySet {
        PolicySet {
            identity: vec![self.role_policy.clone()],
            resource: Some(self.key_policy.clone()),
            ..PolicySet::default()
        }
    }

    /// The policies for the EC2 role calling `sts:AssumeRole` on the cross-account role.
    pub fn ec2_assumes_role(&self) -> PolicySet {
        PolicySet {
            identity: vec![self.ec2_role_policy.clone()],
            resource: Some(self.role_trust.clone()),
            ..PolicySet::default()
        }
    }

    /// The policies for an S3 request by the EC2 role itself (checklist Test 2).
    pub fn ec2_on_bucket(&self) -> PolicySet {
        PolicySet {
            identity: vec![self.ec2_role_policy.clone()],
            resource: Some(self.bucket_policy.clone()),
            ..PolicySet::default()
        }
    }

    /// The policies for account B's administrator on the bucket (checklist Test 1).
    pub fn admin_on_bucket(&self) -> PolicySet {
        PolicySet {
            identity: vec![self.admin_policy.clone()],
            resource: Some(self.bucket_policy.clone()),
            ..PolicySet::default()
        }
    }

    /// The policies for the EC2 service assuming the instance role.
    pub fn ec2_service_assumes_instance_role(&self) -> PolicySet {
        PolicySet {
            resource: Some(self.ec2_role_trust.clone()),
            ..PolicySet::default()
        }
    }
}

/// A request through the seed's VPC endpoint.
pub fn via_vpce(mut r: Request) -> Request {
    r.context = r
        .context
        .with("aws:SourceVpce", VPCE)
        .with("aws:SourceVpc", "vpc-0abc")
        .with("aws:VpceAccount", ACCOUNT_A);
    r
}

/// A request from the internet.
pub fn from_internet(mut r: Request) -> Request {
    r.context = r.context.with("aws:SourceIp", "198.51.100.7");
    r
}

/// A KMS request S3 makes on the caller's behalf (SSE-KMS with a bucket key).
pub fn via_s3(mut r: Request) -> Request {
    r.context = r
        .context
        .with("kms:ViaService", "s3.us-east-1.amazonaws.com")
        .with("kms:CallerAccount", ACCOUNT_B)
        .with("kms:EncryptionContext:aws:s3:arn", BUCKET_ARN);
    r
}

/// Every request of the seed's Phase 3 and checklist, with the policies that apply and the
/// decision AWS gives. Used by the seed test and the benchmark.
pub fn checklist(seed: &Seed) -> Vec<(&'static str, Request, PolicySet, airlock_policy::Decision)> {
    use airlock_policy::Decision::*;
    let role = cross_account_session;
    vec![
        (
            "step 8: EC2 assumes the instance role",
            request(
                Principal::Service {
                    name: "ec2.amazonaws.com".into(),
                },
                "sts:AssumeRole",
                EC2_ROLE_ARN,
                Some(ACCOUNT_A),
            ),
            seed.ec2_service_assumes_instance_role(),
            Allow,
        ),
        (
            "step 9.3: EC2 role assumes the cross-account role",
            request(ec2_session(), "sts:AssumeRole", ROLE_ARN, Some(ACCOUNT_B)),
            seed.ec2_assumes_role(),
            Allow,
        ),
        (
            "step 9.6: role uploads through the endpoint",
            via_vpce(request(role(), "s3:PutObject", OBJECT_ARN, Some(ACCOUNT_B))),
            seed.role_on_bucket(),
            Allow,
        ),
        (
            "step 9.6: S3 generates the data key for the role",
            via_s3(request(role(), "kms:GenerateDataKey", KEY_ARN, None)),
            seed.role_on_key(),
            Allow,
        ),
        (
            "step 9.7: role lists the bucket through the endpoint",
            via_vpce(request(
                role(),
                "s3:ListBucket",
                BUCKET_ARN,
                Some(ACCOUNT_B),
            )),
            seed.role_on_bucket(),
            Allow,
        ),
        (
            "step 9.8: role downloads through the endpoint",
            via_vpce(request(role(), "s3:GetObject", OBJECT_ARN, Some(ACCOUNT_B))),
            seed.role_on_bucket(),
            Allow,
        ),
        (
            "step 9.8: S3 decrypts the data key for the role",
            via_s3(request(role(), "kms:Decrypt", KEY_ARN, None)),
            seed.role_on_key(),
            Allow,
        ),
        (
            "test 1: account B's administrator lists from outside the VPC",
            from_internet(request(
                user(ACCOUNT_B, "Admin"),
                "s3:ListBucket",
                BUCKET_ARN,
                Some(ACCOUNT_B),
            )),
            seed.admin_on_bucket(),
            ExplicitDeny,
        ),
        (
            "test 2: the EC2 role lists the bucket without assuming the role",
            via_vpce(request(
                ec2_session(),
                "s3:ListBucket",
                BUCKET_ARN,
                Some(ACCOUNT_B),
            )),
            seed.ec2_on_bucket(),
            ImplicitDeny,
        ),
        (
            "test 3: head-object by the role",
            via_vpce(request(role(), "s3:GetObject", OBJECT_ARN, Some(ACCOUNT_B))),
            seed.role_on_bucket(),
            Allow,
        ),
        (
            "test 4: rb --force deletes the objects first",
            via_vpce(request(
                role(),
                "s3:DeleteObject",
                OBJECT_ARN,
                Some(ACCOUNT_B),
            )),
            seed.role_on_bucket(),
            ImplicitDeny,
        ),
        (
            "test 4: rb deletes the bucket",
            via_vpce(request(
                role(),
                "s3:DeleteBucket",
                BUCKET_ARN,
                Some(ACCOUNT_B),
            )),
            seed.role_on_bucket(),
            ImplicitDeny,
        ),
        (
            "the role's own credentials from outside the VPC",
            from_internet(request(role(), "s3:GetObject", OBJECT_ARN, Some(ACCOUNT_B))),
            seed.role_on_bucket(),
            ExplicitDeny,
        ),
    ]
}
