//! From a [`Blueprint`] to a [`Plan`]: validation, then every resource and policy document of
//! the chosen profile.

use std::collections::{BTreeMap, BTreeSet};

use airlock_policy::setup::PublicAccessBlock;
use serde_json::{Value, json};

use crate::blueprint::{Access, Blueprint, BlueprintError, EndpointType};
use crate::plan::{
    Account, BreakGlassPlan, BucketPlan, DefaultEncryption, EndpointKind, InlinePolicy,
    InstancePlan, KeyPlan, NetworkPlan, Plan, PolicyTemplate, Profile, Reference, RolePlan,
    RolePurpose, Step, StepAction, SubnetPlan, VpcEndpointPlan, VpcPlan,
};

/// The default description of the key (the seed's, Step 1.3).
pub const DEFAULT_KEY_DESCRIPTION: &str = "KMS key for cross-account S3 bucket encryption";
/// The default name of the break-glass role.
pub const DEFAULT_BREAK_GLASS_ROLE: &str = "BreakGlass";
/// The bucket-policy actions the break-glass administrator keeps from outside the VPC.
pub const BUCKET_POLICY_ACTIONS: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];
/// The data actions the `deny_data_to_others` switch reserves to the storage roles, and the
/// scope of the blueprint's network and TLS claims.
pub const DATA_ACTIONS: [&str; 4] = [
    "s3:GetObject*",
    "s3:PutObject*",
    "s3:DeleteObject*",
    "s3:List*",
];

fn invalid(location: impl Into<String>, message: impl Into<String>) -> BlueprintError {
    BlueprintError::Invalid {
        location: location.into(),
        message: message.into(),
    }
}

fn one_or_many(mut items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.remove(0))
    } else {
        Value::Array(items.into_iter().map(Value::String).collect())
    }
}

fn check_account(id: &str, location: &str) -> Result<(), BlueprintError> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid(
            location,
            format!("`{id}` is not a 12-digit account id"),
        ))
    }
}

fn check_role_name(name: &str, location: &str) -> Result<(), BlueprintError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            location,
            format!("`{name}` is not a valid IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-)"),
        ))
    }
}

fn check_bucket_name(name: &str, location: &str) -> Result<(), BlueprintError> {
    let b = name.as_bytes();
    let ok = (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            location,
            format!(
                "`{name}` is not a valid bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)"
            ),
        ))
    }
}

/// An IPv4 CIDR block as EC2 takes it for a VPC or a subnet: a network address (no host bits
/// set) and a prefix length of 16 to 28. Returns the first address and the prefix length.
fn check_cidr(cidr: &str, what: &str, location: &str) -> Result<(u32, u8), BlueprintError> {
    let parsed = cidr.split_once('/').and_then(|(ip, len)| {
        let ip = ip.parse::<std::net::Ipv4Addr>().ok()?;
        let len = len.parse::<u8>().ok().filter(|l| *l <= 32)?;
        Some((u32::from(ip), len))
    });
    let Some((base, len)) = parsed else {
        return Err(invalid(
            location,
            format!(
                "the {what} CIDR `{cidr}` is not an IPv4 CIDR block: write it as ADDRESS/LENGTH, like `10.0.0.0/16`"
            ),
        ));
    };
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if base & !mask != 0 {
        let network = std::net::Ipv4Addr::from(base & mask);
        return Err(invalid(
            location,
            format!(
                "the {what} CIDR `{cidr}` has host bits set: write its network address, `{network}/{len}`"
            ),
        ));
    }
    if !(16..=28).contains(&len) {
        return Err(invalid(
            location,
            format!(
                "the {what} CIDR `{cidr}` is a /{len}: EC2 takes blocks from /16 to /28; give a prefix length in that range"
            ),
        ));
    }
    Ok((base, len))
}

/// The VPC and subnet blocks of an endpoint: each valid, and the subnet inside the VPC.
fn check_network(vpc: &str, subnet: &str, location: &str) -> Result<(), BlueprintError> {
    let (vbase, vlen) = check_cidr(vpc, "VPC", &format!("{location}.vpc_cidr"))?;
    let (sbase, slen) = check_cidr(subnet, "subnet", &format!("{location}.subnet_cidr"))?;
    let vmask = u32::MAX << (32 - vlen);
    if slen < vlen || sbase & vmask != vbase {
        return Err(invalid(
            format!("{location}.subnet_cidr"),
            format!(
                "the subnet CIDR `{subnet}` is not inside its VPC's CIDR `{vpc}`: give a subnet_cidr within `{vpc}` (like `{}/{}`), or widen vpc_cidr to contain `{subnet}`",
                std::net::Ipv4Addr::from(vbase),
                (vlen + 8).min(28)
            ),
        ));
    }
    Ok(())
}

fn check_name(name: &str, location: &str) -> Result<(), BlueprintError> {
    if !name.is_empty()
        && name.len() <= 128
        && !name.contains('}')
        && !name.chars().any(char::is_control)
    {
        Ok(())
    } else {
        Err(invalid(
            location,
            format!("`{name}` is not a usable name (1-128 characters, no `}}`)"),
        ))
    }
}

/// What a storage role grants, resolved from the blueprint.
struct RoleAccess {
    arn: String,
    access: BTreeSet<Access>,
    prefixes: Vec<String>,
}

impl RoleAccess {
    /// The seed's action order: Get, Put, List.
    fn s3_actions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.access.contains(&Access::Read) {
            out.push("s3:GetObject".to_string());
        }
        if self.access.contains(&Access::Write) {
            out.push("s3:PutObject".to_string());
        }
        if self.access.contains(&Access::List) {
            out.push("s3:ListBucket".to_string());
        }
        out
    }

    fn object_actions(&self) -> Vec<String> {
        self.s3_actions()
            .into_iter()
            .filter(|a| a != "s3:ListBucket")
            .collect()
    }

    fn object_arns(&self, bucket: &str) -> Vec<String> {
        if self.prefixes.is_empty() {
            vec![format!("arn:aws:s3:::{bucket}/*")]
        } else {
            self.prefixes
                .iter()
                .map(|p| format!("arn:aws:s3:::{bucket}/{p}*"))
                .collect()
        }
    }

    /// As written: both ARNs for every action.
    fn as_written_statement(&self, bucket: &str, sid: &str, principal: bool) -> Value {
        let mut resources = vec![format!("arn:aws:s3:::{bucket}")];
        resources.extend(self.object_arns(bucket));
        let mut st = serde_json::Map::new();
        st.insert("Sid".into(), json!(sid));
        st.insert("Effect".into(), json!("Allow"));
        if principal {
            st.insert("Principal".into(), json!({"AWS": self.arn}));
        }
        st.insert("Action".into(), json!(self.s3_actions()));
        st.insert("Resource".into(), json!(resources));
        Value::Object(st)
    }

    /// Least privilege: `ListBucket` on the bucket (prefix-limited), object actions on objects.
    fn least_privilege_statements(
        &self,
        bucket: &str,
        suffix: &str,
        sid_prefix: &str,
        principal: bool,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let head = |sid: String| {
            let mut st = serde_json::Map::new();
            st.insert("Sid".into(), json!(sid));
            st.insert("Effect".into(), json!("Allow"));
            if principal {
                st.insert("Principal".into(), json!({"AWS": self.arn}));
            }
            st
        };
        if self.access.contains(&Access::List) {
            let mut st = head(format!("{sid_prefix}List{suffix}"));
            st.insert("Action".into(), json!("s3:ListBucket"));
            st.insert("Resource".into(), json!(format!("arn:aws:s3:::{bucket}")));
            if !self.prefixes.is_empty() {
                let pats: Vec<String> = self.prefixes.iter().map(|p| format!("{p}*")).collect();
                st.insert(
                    "Condition".into(),
                    json!({"StringLike": {"s3:prefix": one_or_many(pats)}}),
                );
            }
            out.push(Value::Object(st));
        }
        let objs = self.object_actions();
        if !objs.is_empty() {
            let name = match (
                self.access.contains(&Access::Read),
                self.access.contains(&Access::Write),
            ) {
                (true, true) => "ReadWrite",
                (true, false) => "Read",
                _ => "Write",
            };
            let mut st = head(format!("{sid_prefix}{name}{suffix}"));
            st.insert("Action".into(), one_or_many(objs));
            st.insert("Resource".into(), one_or_many(self.object_arns(bucket)));
            out.push(Value::Object(st));
        }
        out
    }
}

/// Builds the plan of a blueprint; `profile` (from the command line) overrides the blueprint's.
pub fn plan(bp: &Blueprint, profile: Option<Profile>) -> Result<Plan, BlueprintError> {
    let profile = profile.or(bp.profile).unwrap_or_default();
    let hardening = bp.hardening.apply(profile);
    let region = bp.region.clone();
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(
            "region",
            format!("`{region}` is not a region name"),
        ));
    }
    let st = &bp.storage;
    let storage = st.account.clone();
    check_account(&storage, "storage.account")?;
    check_bucket_name(&st.bucket.name, "storage.bucket.name")?;
    let bucket = st.bucket.name.clone();
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let alias = if st.key.alias.starts_with("alias/") {
        st.key.alias.clone()
    } else {
        format!("alias/{}", st.key.alias)
    };
    if alias.len() <= "alias/".len()
        || alias.starts_with("alias/aws/")
        || !alias["alias/".len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
    {
        return Err(invalid(
            "storage.key.alias",
            format!("`{}` is not a valid customer key alias", st.key.alias),
        ));
    }

    // Storage roles.
    if st.roles.is_empty() {
        return Err(invalid("storage.role", "give at least one storage role"));
    }
    let mut role_access: Vec<RoleAccess> = Vec::new();
    let mut storage_names = BTreeSet::new();
    for (i, r) in st.roles.iter().enumerate() {
        let loc = format!("storage.role[{i}]");
        check_role_name(&r.name, &format!("{loc}.name"))?;
        if !storage_names.insert(r.name.clone()) {
            return Err(invalid(
                format!("{loc}.name"),
                format!("role `{}` is listed twice", r.name),
            ));
        }
        if r.access.is_empty() {
            return Err(invalid(
                format!("{loc}.access"),
                "give at least one of read, write, list",
            ));
        }
        for (j, p) in r.prefixes.iter().enumerate() {
            if p.is_empty() || p.contains(['*', '?', '$']) {
                return Err(invalid(
                    format!("{loc}.prefixes[{j}]"),
                    format!("`{p}` is not a key prefix (non-empty, without * ? $)"),
                ));
            }
        }
        if let Some(d) = r.max_session_duration
            && !(3600..=43200).contains(&d)
        {
            return Err(invalid(
                format!("{loc}.max_session_duration"),
                format!("{d} is outside 3600..=43200 seconds"),
            ));
        }
        role_access.push(RoleAccess {
            arn: format!("arn:aws:iam::{storage}:role/{}", r.name),
            access: r.access.clone(),
            prefixes: r.prefixes.clone(),
        });
    }

    // Consumers.
    if bp.consumers.is_empty() {
        return Err(invalid("consumer", "give at least one consumer account"));
    }
    let mut consumer_ids = BTreeSet::new();
    let mut endpoint_names = BTreeSet::new();
    // Per storage role: (consumer account, principal ARNs) in blueprint order.
    let mut assumers: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (i, c) in bp.consumers.iter().enumerate() {
        let loc = format!("consumer[{i}]");
        check_account(&c.account, &format!("{loc}.account"))?;
        if c.account == storage {
            return Err(invalid(
                format!("{loc}.account"),
                "a consumer account must differ from the storage account",
            ));
        }
        if !consumer_ids.insert(c.account.clone()) {
            return Err(invalid(
                format!("{loc}.account"),
                format!("account {} is listed twice", c.account),
            ));
        }
        if c.principals.is_empty() {
            return Err(invalid(
                format!("{loc}.principal"),
                "give at least one principal",
            ));
        }
        if c.endpoints.is_empty() {
            return Err(invalid(
                format!("{loc}.endpoint"),
                "give at least one VPC endpoint",
            ));
        }
        let mut instance_roles = BTreeSet::new();
        for (j, p) in c.principals.iter().enumerate() {
            let ploc = format!("{loc}.principal[{j}]");
            let arn = match (&p.instance_role, &p.arn) {
                (Some(name), None) => {
                    check_role_name(name, &format!("{ploc}.instance_role"))?;
                    if let Some(ip) = &p.instance_profile {
                        check_role_name(ip, &format!("{ploc}.instance_profile"))?;
                    }
                    if !instance_roles.insert(name.clone()) {
                        return Err(invalid(
                            format!("{ploc}.instance_role"),
                            format!("role `{name}` is listed twice"),
                        ));
                    }
                    format!("arn:aws:iam::{}:role/{name}", c.account)
                }
                (None, Some(arn)) => {
                    let prefix = format!("arn:aws:iam::{}:role/", c.account);
                    if !arn.starts_with(&prefix) || arn.len() == prefix.len() {
                        return Err(invalid(
                            format!("{ploc}.arn"),
                            format!("`{arn}` is not a role ARN of account {}", c.account),
                        ));
                    }
                    if p.description.is_some()
                        || p.policy_name.is_some()
                        || p.instance_profile.is_some()
                    {
                        return Err(invalid(
                            ploc,
                            "`description`, `policy_name` and `instance_profile` describe a role airlock creates: use them with `instance_role`, not `arn`",
                        ));
                    }
                    arn.clone()
                }
                _ => {
                    return Err(invalid(
                        ploc,
                        "give exactly one of `instance_role` (a role to create) or `arn` (an existing role)",
                    ));
                }
            };
            let targets: Vec<String> = match &p.assumes {
                None => st.roles.iter().map(|r| r.name.clone()).collect(),
                Some(list) if list.is_empty() => {
                    return Err(invalid(
                        format!("{ploc}.assumes"),
                        "give at least one storage role",
                    ));
                }
                Some(list) => list.clone(),
            };
            for t in targets {
                if !storage_names.contains(&t) {
                    return Err(invalid(
                        format!("{ploc}.assumes"),
                        format!("`{t}` is not a storage role of the blueprint"),
                    ));
                }
                assumers
                    .entry(t)
                    .or_default()
                    .push((c.account.clone(), arn.clone()));
            }
        }
        for (j, e) in c.endpoints.iter().enumerate() {
            let eloc = format!("{loc}.endpoint[{j}]");
            check_name(&e.name, &format!("{eloc}.name"))?;
            if !endpoint_names.insert(e.name.clone()) {
                return Err(invalid(
                    format!("{eloc}.name"),
                    format!("endpoint `{}` is listed twice", e.name),
                ));
            }
            check_network(&e.vpc_cidr, &e.subnet_cidr, &eloc)?;
            if let Some(inst) = &e.instance {
                if !instance_roles.contains(&inst.role) {
                    return Err(invalid(
                        format!("{eloc}.instance.role"),
                        format!(
                            "`{}` is not an `instance_role` of account {}",
                            inst.role, c.account
                        ),
                    ));
                }
                check_name(&inst.name, &format!("{eloc}.instance.name"))?;
            }
        }
    }
    for r in &st.roles {
        if !assumers.contains_key(&r.name) {
            return Err(invalid(
                "storage.role",
                format!("no consumer principal assumes `{}`", r.name),
            ));
        }
    }

    // Break glass.
    let break_glass = if hardening.break_glass_admin {
        let (arn, role) = match &bp.break_glass {
            None => (
                format!("arn:aws:iam::{storage}:role/{DEFAULT_BREAK_GLASS_ROLE}"),
                Some(DEFAULT_BREAK_GLASS_ROLE.to_string()),
            ),
            Some(b) => match (&b.role, &b.principal_arn) {
                (Some(name), None) => {
                    check_role_name(name, "break_glass.role")?;
                    if storage_names.contains(name) {
                        return Err(invalid(
                            "break_glass.role",
                            format!("`{name}` is already a storage role"),
                        ));
                    }
                    (
                        format!("arn:aws:iam::{storage}:role/{name}"),
                        Some(name.clone()),
                    )
                }
                (None, Some(arn)) => {
                    let ok = [
                        format!("arn:aws:iam::{storage}:role/"),
                        format!("arn:aws:iam::{storage}:user/"),
                    ]
                    .iter()
                    .any(|p| arn.starts_with(p.as_str()) && arn.len() > p.len());
                    if !ok {
                        return Err(invalid(
                            "break_glass.principal_arn",
                            format!(
                                "`{arn}` is not a role or user ARN of the storage account {storage}"
                            ),
                        ));
                    }
                    (arn.clone(), None)
                }
                _ => {
                    return Err(invalid(
                        "break_glass",
                        "give exactly one of `role` (a role to create) or `principal_arn` (an existing principal)",
                    ));
                }
            },
        };
        Some(BreakGlassPlan {
            principal_arn: arn,
            role,
        })
    } else {
        None
    };

    let storage_account = Account {
        id: storage.clone(),
        alias: st.alias.clone(),
    };
    let consumer_accounts: Vec<Account> = bp
        .consumers
        .iter()
        .map(|c| Account {
            id: c.account.clone(),
            alias: c.alias.clone(),
        })
        .collect();
    let key_arn = Reference::KeyArn.placeholder();
    let vpces: Vec<String> = bp
        .consumers
        .iter()
        .flat_map(|c| c.endpoints.iter())
        .map(|e| Reference::VpceId(e.name.clone()).placeholder())
        .collect();

    // Step 1: the key policy.
    let mut key_statements = vec![json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{storage}:root")},
        "Action": "kms:*",
        "Resource": "*"
    })];
    if !hardening.key_policy_without_consumer_grant {
        let roots: Vec<String> = consumer_accounts
            .iter()
            .map(|a| format!("arn:aws:iam::{}:root", a.id))
            .collect();
        let mut stmt = json!({
            "Sid": if roots.len() == 1 { "Allow Account A to use the key" } else { "Allow the consumer accounts to use the key" },
            "Effect": "Allow",
            "Principal": {"AWS": one_or_many(roots)},
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
            "Resource": "*"
        });
        if hardening.key_via_service {
            stmt["Condition"] = json!({"StringEquals": {
                "kms:ViaService": format!("s3.{region}.amazonaws.com"),
                "kms:CallerAccount": one_or_many(consumer_accounts.iter().map(|a| a.id.clone()).collect()),
            }});
        }
        key_statements.push(stmt);
    }
    let key = KeyPlan {
        account: storage.clone(),
        alias: alias.clone(),
        description: st
            .key
            .description
            .clone()
            .unwrap_or_else(|| DEFAULT_KEY_DESCRIPTION.into()),
        key_spec: "SYMMETRIC_DEFAULT".into(),
        key_usage: "ENCRYPT_DECRYPT".into(),
        policy: PolicyTemplate::new(json!({"Version": "2012-10-17", "Statement": key_statements})),
        enable_rotation: hardening.key_rotation,
    };

    // Step 3: storage roles.
    let mut roles = Vec::new();
    let external_ids: BTreeMap<&str, &str> = bp
        .consumers
        .iter()
        .filter_map(|c| c.external_id.as_deref().map(|x| (c.account.as_str(), x)))
        .collect();
    for (r, ra) in st.roles.iter().zip(&role_access) {
        let who = assumers.get(&r.name).cloned().unwrap_or_default();
        let mut accounts: Vec<String> = Vec::new();
        for (a, _) in &who {
            if !accounts.contains(a) {
                accounts.push(a.clone());
            }
        }
        let trust_statements: Vec<Value> = if !hardening.pin_trust_to_principal
            && external_ids.is_empty()
        {
            vec![json!({
                "Effect": "Allow",
                "Principal": {"AWS": one_or_many(accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect())},
                "Action": "sts:AssumeRole"
            })]
        } else {
            accounts
                .iter()
                .map(|a| {
                    let mut cond = serde_json::Map::new();
                    if hardening.pin_trust_to_principal {
                        let arns: Vec<String> = who
                            .iter()
                            .filter(|(x, _)| x == a)
                            .map(|(_, p)| p.clone())
                            .collect();
                        cond.insert(
                            "ArnEquals".into(),
                            json!({"aws:PrincipalArn": one_or_many(arns)}),
                        );
                    }
                    if let Some(x) = external_ids.get(a.as_str()) {
                        cond.insert("StringEquals".into(), json!({"sts:ExternalId": x}));
                    }
                    let mut stmt = json!({
                        "Effect": "Allow",
                        "Principal": {"AWS": format!("arn:aws:iam::{a}:root")},
                        "Action": "sts:AssumeRole"
                    });
                    if !cond.is_empty() {
                        stmt["Condition"] = Value::Object(cond);
                    }
                    stmt
                })
                .collect()
        };
        let mut statements = if hardening.least_privilege {
            ra.least_privilege_statements(&bucket, "", "", false)
        } else {
            vec![ra.as_written_statement(&bucket, "S3BucketAccess", false)]
        };
        let mut kms = json!({
            "Sid": "KMSKeyAccess",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": key_arn
        });
        if hardening.key_via_service {
            kms["Action"] = json!(["kms:Decrypt", "kms:GenerateDataKey"]);
            kms["Condition"] = json!({"StringEquals": {
                "kms:ViaService": format!("s3.{region}.amazonaws.com"),
                "kms:CallerAccount": storage
            }});
        }
        statements.push(kms);
        roles.push(RolePlan {
            account: storage.clone(),
            name: r.name.clone(),
            purpose: RolePurpose::Storage,
            description: r.description.clone().unwrap_or_else(|| {
                format!("Assumed by the consumer accounts to use the bucket {bucket}")
            }),
            trust_policy: PolicyTemplate::new(
                json!({"Version": "2012-10-17", "Statement": trust_statements}),
            ),
            inline_policies: vec![InlinePolicy {
                name: r.policy_name.clone(),
                policy: PolicyTemplate::new(
                    json!({"Version": "2012-10-17", "Statement": statements}),
                ),
            }],
            managed_policy_arns: Vec::new(),
            instance_profile: None,
            max_session_duration: r.max_session_duration,
        });
    }
    if let Some(BreakGlassPlan {
        role: Some(name), ..
    }) = &break_glass
    {
        roles.push(RolePlan {
            account: storage.clone(),
            name: name.clone(),
            purpose: RolePurpose::BreakGlass,
            description: format!(
                "Break-glass administrator of the policy of the bucket {bucket} (exempt from the VPC-endpoint deny for the bucket-policy actions only)"
            ),
            trust_policy: PolicyTemplate::new(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{storage}:root")},
                    "Action": "sts:AssumeRole"
                }]
            })),
            inline_policies: vec![InlinePolicy {
                name: "BucketPolicyAdmin".into(),
                policy: PolicyTemplate::new(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": BUCKET_POLICY_ACTIONS,
                        "Resource": bucket_arn
                    }]
                })),
            }],
            managed_policy_arns: Vec::new(),
            instance_profile: None,
            max_session_duration: None,
        });
    }

    // Step 5: consumer instance roles.
    for c in &bp.consumers {
        for p in &c.principals {
            let Some(name) = &p.instance_role else {
                continue;
            };
            let arn = format!("arn:aws:iam::{}:role/{name}", c.account);
            let targets: Vec<String> = st
                .roles
                .iter()
                .filter(|r| {
                    assumers
                        .get(&r.name)
                        .is_some_and(|w| w.iter().any(|(_, x)| *x == arn))
                })
                .map(|r| format!("arn:aws:iam::{storage}:role/{}", r.name))
                .collect();
            roles.push(RolePlan {
                account: c.account.clone(),
                name: name.clone(),
                purpose: RolePurpose::Instance,
                description: p.description.clone().unwrap_or_else(|| {
                    format!("Allows EC2 to assume the storage role in account {storage}")
                }),
                trust_policy: PolicyTemplate::new(json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole"
                    }]
                })),
                inline_policies: vec![InlinePolicy {
                    name: p
                        .policy_name
                        .clone()
                        .unwrap_or_else(|| "AssumeStorageRole".into()),
                    policy: PolicyTemplate::new(json!({
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Resource": one_or_many(targets)
                        }]
                    })),
                }],
                managed_policy_arns: Vec::new(),
                instance_profile: Some(p.instance_profile.clone().unwrap_or_else(|| name.clone())),
                max_session_duration: None,
            });
        }
    }

    // Step 7: the bucket policy.
    let both = json!([bucket_arn.clone(), format!("{bucket_arn}/*")]);
    let mut bucket_statements = Vec::new();
    match &break_glass {
        None => bucket_statements.push(json!({
            "Sid": "DenyAllExceptVPCEndpoint",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": both,
            "Condition": {"StringNotEquals": {"aws:SourceVpce": one_or_many(vpces.clone())}}
        })),
        Some(bg) => {
            bucket_statements.push(json!({
                "Sid": "DenyOutsideEndpointExceptBreakGlass",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": both,
                "Condition": {
                    "StringNotEquals": {"aws:SourceVpce": one_or_many(vpces.clone())},
                    "ArnNotEquals": {"aws:PrincipalArn": bg.principal_arn}
                }
            }));
            bucket_statements.push(json!({
                "Sid": "DenyBreakGlassDataOutsideEndpoint",
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": BUCKET_POLICY_ACTIONS,
                "Resource": both,
                "Condition": {"StringNotEquals": {"aws:SourceVpce": one_or_many(vpces.clone())}}
            }));
        }
    }
    if hardening.deny_insecure_transport {
        bucket_statements.push(json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": both,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }));
    }
    if hardening.deny_other_kms_keys {
        bucket_statements.push(json!({
            "Sid": "DenyOtherKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("{bucket_arn}/*"),
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"}
            }
        }));
        bucket_statements.push(json!({
            "Sid": "DenyOtherEncryption",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("{bucket_arn}/*"),
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption": "false"}
            }
        }));
    }
    if hardening.deny_data_to_others {
        bucket_statements.push(json!({
            "Sid": "DenyDataToOthers",
            "Effect": "Deny",
            "Principal": "*",
            "Action": DATA_ACTIONS,
            "Resource": both,
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": one_or_many(role_access.iter().map(|r| r.arn.clone()).collect())}}
        }));
    }
    for (i, ra) in role_access.iter().enumerate() {
        let suffix = if i == 0 {
            String::new()
        } else {
            (i + 1).to_string()
        };
        if hardening.least_privilege {
            bucket_statements.extend(ra.least_privilege_statements(
                &bucket,
                &suffix,
                "AllowRole",
                true,
            ));
        } else {
            bucket_statements.push(ra.as_written_statement(
                &bucket,
                &format!("AllowCrossAccountRole{suffix}"),
                true,
            ));
        }
    }
    let bucket_plan = BucketPlan {
        account: storage.clone(),
        name: bucket.clone(),
        public_access_block: PublicAccessBlock::ALL,
        default_encryption: DefaultEncryption {
            sse_algorithm: "aws:kms".into(),
            kms_master_key_id: key_arn.clone(),
            bucket_key_enabled: st.bucket.bucket_key,
        },
        ownership: hardening
            .bucket_owner_enforced
            .then(|| "BucketOwnerEnforced".to_string()),
        versioning: hardening.versioning,
        policy: PolicyTemplate::new(
            json!({"Version": "2012-10-17", "Statement": bucket_statements}),
        ),
        tags: st.bucket.tags.clone(),
    };

    // Step 6: networks.
    let mut networks = Vec::new();
    for c in &bp.consumers {
        for e in &c.endpoints {
            let instance = e.instance.as_ref().map(|inst| {
                let profile = c
                    .principals
                    .iter()
                    .find(|p| p.instance_role.as_deref() == Some(inst.role.as_str()))
                    .and_then(|p| p.instance_profile.clone())
                    .unwrap_or_else(|| inst.role.clone());
                InstancePlan {
                    name: inst.name.clone(),
                    instance_profile: profile,
                    role: inst.role.clone(),
                    image_id: inst.image_id.clone(),
                    instance_type: inst.instance_type.clone(),
                }
            });
            networks.push(NetworkPlan {
                account: c.account.clone(),
                vpc: VpcPlan {
                    name: e
                        .vpc_name
                        .clone()
                        .unwrap_or_else(|| format!("{}-vpc", e.name)),
                    cidr: e.vpc_cidr.clone(),
                },
                subnet: SubnetPlan {
                    name: e
                        .subnet_name
                        .clone()
                        .unwrap_or_else(|| format!("{}-subnet", e.name)),
                    cidr: e.subnet_cidr.clone(),
                },
                endpoint: VpcEndpointPlan {
                    name: e.name.clone(),
                    service_name: format!("com.amazonaws.{region}.s3"),
                    kind: match e.kind {
                        EndpointType::Gateway => EndpointKind::Gateway,
                        EndpointType::Interface => EndpointKind::Interface,
                    },
                    policy: None,
                    associate_route_table: e.kind == EndpointType::Gateway,
                },
                instance,
            });
        }
    }

    let steps = steps(&storage, &key, &bucket_plan, &roles, &networks);
    Ok(Plan {
        region,
        profile,
        hardening,
        storage_account,
        consumer_accounts,
        key,
        bucket: bucket_plan,
        roles,
        networks,
        break_glass,
        steps,
    })
}

fn steps(
    storage: &str,
    key: &KeyPlan,
    bucket: &BucketPlan,
    roles: &[RolePlan],
    networks: &[NetworkPlan],
) -> Vec<Step> {
    let on_off = |b: bool| if b { "on" } else { "off" };
    let mut out = vec![
        Step {
            number: 1,
            account: storage.into(),
            action: StepAction::CreateKey,
            what: format!(
                "create the KMS key {} with its key policy (rotation {})",
                key.alias,
                on_off(key.enable_rotation)
            ),
        },
        Step {
            number: 2,
            account: storage.into(),
            action: StepAction::CreateBucket,
            what: format!(
                "create the bucket {} with all four Block Public Access settings, default encryption SSE-KMS with the key (Bucket Key {}), ownership {}, versioning {}",
                bucket.name,
                on_off(bucket.default_encryption.bucket_key_enabled),
                bucket
                    .ownership
                    .as_deref()
                    .unwrap_or("left at S3's default"),
                on_off(bucket.versioning)
            ),
        },
    ];
    for r in roles.iter().filter(|r| r.account == storage) {
        out.push(Step {
            number: 3,
            account: storage.into(),
            action: StepAction::CreateRole {
                name: r.name.clone(),
            },
            what: match r.purpose {
                RolePurpose::BreakGlass => format!(
                    "create the break-glass role {} (bucket-policy actions only)",
                    r.name
                ),
                _ => format!(
                    "create the role {} with its trust policy and inline policy {}",
                    r.name,
                    r.inline_policies
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        });
    }
    for r in roles.iter().filter(|r| r.account != storage) {
        out.push(Step {
            number: 5,
            account: r.account.clone(),
            action: StepAction::CreateRole {
                name: r.name.clone(),
            },
            what: format!(
                "create the EC2 role {} with its instance profile {} and inline policy {}",
                r.name,
                r.instance_profile.as_deref().unwrap_or(&r.name),
                r.inline_policies
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    for n in networks {
        out.push(Step {
            number: 6,
            account: n.account.clone(),
            action: StepAction::CreateNetwork {
                endpoint: n.endpoint.name.clone(),
            },
            what: format!(
                "create the VPC {} ({}), the subnet {} ({}) and the {} endpoint {} for {}",
                n.vpc.name,
                n.vpc.cidr,
                n.subnet.name,
                n.subnet.cidr,
                n.endpoint.kind.as_aws().to_lowercase(),
                n.endpoint.name,
                n.endpoint.service_name
            ),
        });
    }
    out.push(Step {
        number: 7,
        account: storage.into(),
        action: StepAction::PutBucketPolicy,
        what: format!(
            "put the bucket policy of {} (the seed's Step 4, done once the endpoint ids exist)",
            bucket.name
        ),
    });
    for n in networks {
        if let Some(i) = &n.instance {
            out.push(Step {
                number: 8,
                account: n.account.clone(),
                action: StepAction::LaunchInstance {
                    endpoint: n.endpoint.name.clone(),
                },
                what: format!(
                    "launch the instance {} ({}, {}) in {} with the instance profile {}",
                    i.name, i.instance_type, i.image_id, n.subnet.name, i.instance_profile
                ),
            });
        }
    }
    out
}
