//! Reads, without changing anything, every live resource the plan names or the state file
//! records, and judges whose it is ([`crate::ownership`]). `apply` refuses before its first
//! change when something it would touch is not its own; `destroy` deletes only what is.

use airlock_blueprint::Plan;

use crate::error::{DeployError, aws, has_code};
use crate::ownership::{Conflict, Identity, Owner, TAG_DEPLOYMENT, Tags};
use crate::state::State;
use crate::target::Target;

/// The key the alias (else the state file) names.
#[derive(Debug, Clone)]
pub(crate) struct KeyFound {
    pub id: String,
    pub arn: String,
    pub enabled: bool,
    /// Pending deletion.
    pub pending: bool,
    /// The blueprint's alias names it.
    pub by_alias: bool,
    pub owner: Owner,
}

/// A named IAM resource.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub account: String,
    pub name: String,
    /// ARN (roles) or ARN (instance profiles), for messages.
    pub arn: String,
    pub owner: Owner,
}

/// An EC2 resource of the state file.
#[derive(Debug, Clone)]
pub(crate) struct Ec2Found {
    pub kind: &'static str,
    pub id: String,
    pub owner: Owner,
}

#[derive(Debug, Clone)]
pub(crate) struct Survey {
    pub key: Option<KeyFound>,
    pub bucket: Owner,
    /// The bucket exists but the storage account cannot reach it (another account's).
    pub bucket_unreachable: Option<String>,
    pub roles: Vec<Named>,
    pub profiles: Vec<Named>,
    pub ec2: Vec<Ec2Found>,
}

impl Survey {
    pub fn role(&self, account: &str, name: &str) -> Owner {
        find(&self.roles, account, name)
    }
    pub fn profile(&self, account: &str, name: &str) -> Owner {
        find(&self.profiles, account, name)
    }
    /// The owner of an EC2 resource of the state file (`Absent` when gone or unknown).
    pub fn ec2(&self, id: &str) -> Owner {
        self.ec2
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.owner.clone())
            .unwrap_or(Owner::Absent)
    }

    /// Everything apply would change but does not own, except what `adopt` names.
    pub fn conflicts(&self, plan: &Plan, adopt: &[String]) -> Vec<Conflict> {
        let mut out = Vec::new();
        if let Some(k) = &self.key
            && let Owner::Foreign(owner) = &k.owner
            && !adopts_key(plan, adopt, &k.id)
        {
            out.push(Conflict {
                kind: "KMS key".into(),
                name: plan.key.alias.clone(),
                id: k.arn.clone(),
                owner: owner.clone(),
                adoptable: true,
            });
        }
        if let Some(why) = &self.bucket_unreachable {
            out.push(Conflict {
                kind: "S3 bucket".into(),
                name: plan.bucket.name.clone(),
                id: String::new(),
                owner: why.clone(),
                adoptable: false,
            });
        } else if let Owner::Foreign(owner) = &self.bucket
            && !adopt.contains(&plan.bucket.name)
        {
            out.push(Conflict {
                kind: "S3 bucket".into(),
                name: plan.bucket.name.clone(),
                id: format!("arn:aws:s3:::{}", plan.bucket.name),
                owner: owner.clone(),
                adoptable: true,
            });
        }
        for (kind, list) in [
            ("IAM role", &self.roles),
            ("IAM instance profile", &self.profiles),
        ] {
            for n in list {
                if let Owner::Foreign(owner) = &n.owner
                    && !adopt.contains(&n.name)
                {
                    out.push(Conflict {
                        kind: kind.into(),
                        name: n.name.clone(),
                        id: n.arn.clone(),
                        owner: owner.clone(),
                        adoptable: true,
                    });
                }
            }
        }
        for e in &self.ec2 {
            if let Owner::Foreign(owner) = &e.owner {
                out.push(Conflict {
                    kind: e.kind.into(),
                    name: e.id.clone(),
                    id: e.id.clone(),
                    owner: format!("recorded in the state file, but {owner}"),
                    adoptable: false,
                });
            }
        }
        out
    }
}

fn find(list: &[Named], account: &str, name: &str) -> Owner {
    list.iter()
        .find(|n| n.account == account && n.name == name)
        .map(|n| n.owner.clone())
        .unwrap_or(Owner::Absent)
}

/// Whether `adopt` names the plan's key (by alias, with or without `alias/`, or by key id).
pub(crate) fn adopts_key(plan: &Plan, adopt: &[String], key_id: &str) -> bool {
    let short = plan
        .key
        .alias
        .strip_prefix("alias/")
        .unwrap_or(&plan.key.alias);
    adopt
        .iter()
        .any(|a| a == &plan.key.alias || a == short || a == key_id)
}

/// Checks that every `--adopt` name is a name of the plan.
pub(crate) fn check_adopt_names(plan: &Plan, adopt: &[String]) -> Result<(), DeployError> {
    let mut names = vec![plan.key.alias.clone(), plan.bucket.name.clone()];
    for r in &plan.roles {
        names.push(r.name.clone());
        if let Some(p) = &r.instance_profile {
            names.push(p.clone());
        }
    }
    names.dedup();
    for a in adopt {
        let known = names.contains(a) || names.contains(&format!("alias/{a}"));
        if !known {
            return Err(DeployError::Config(format!(
                "--adopt {a}: the blueprint names no key alias, bucket, role or instance profile \
                 `{a}`; the names --adopt takes are: {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Reads every resource; see the module documentation.
pub(crate) async fn survey(
    plan: &Plan,
    target: &Target,
    state: &State,
    me: &Identity,
) -> Result<Survey, DeployError> {
    let key = survey_key(plan, target, state, me).await?;
    let (bucket, bucket_unreachable) = survey_bucket(plan, target, state, me).await?;
    let mut roles = Vec::new();
    let mut profiles = Vec::new();
    for role in &plan.roles {
        let iam = &target.clients(&role.account)?.iam;
        let recorded = state
            .roles
            .iter()
            .find(|r| r.account == role.account && r.name == role.name);
        match iam.get_role().role_name(&role.name).send().await {
            Ok(out) => {
                let r = out
                    .role()
                    .ok_or_else(|| DeployError::Conflict("GetRole returned no role".into()))?;
                let tags: Tags = r
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                let same =
                    recorded.is_some_and(|s| !s.role_id.is_empty() && s.role_id == r.role_id());
                let adopted = recorded.is_some_and(|s| s.adopted);
                roles.push(Named {
                    account: role.account.clone(),
                    name: role.name.clone(),
                    arn: r.arn().to_string(),
                    owner: me.judge(&tags, same, adopted),
                });
            }
            Err(e) => {
                let e = aws("iam", "GetRole")(e);
                if !has_code(&e, &["NoSuchEntity"]) {
                    return Err(e);
                }
                roles.push(Named {
                    account: role.account.clone(),
                    name: role.name.clone(),
                    arn: role.arn(),
                    owner: Owner::Absent,
                });
            }
        }
        let Some(profile) = &role.instance_profile else {
            continue;
        };
        if profiles
            .iter()
            .any(|p: &Named| p.account == role.account && &p.name == profile)
        {
            continue;
        }
        let recorded = state.roles.iter().find(|r| {
            r.account == role.account && r.instance_profile.as_deref() == Some(profile.as_str())
        });
        match iam
            .get_instance_profile()
            .instance_profile_name(profile)
            .send()
            .await
        {
            Ok(out) => {
                let p = out.instance_profile().ok_or_else(|| {
                    DeployError::Conflict("GetInstanceProfile returned no instance profile".into())
                })?;
                let tags: Tags = p
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                let same = recorded.is_some_and(|s| {
                    s.instance_profile_id.as_deref() == Some(p.instance_profile_id())
                });
                let adopted = recorded.is_some_and(|s| s.instance_profile_adopted);
                profiles.push(Named {
                    account: role.account.clone(),
                    name: profile.clone(),
                    arn: p.arn().to_string(),
                    owner: me.judge(&tags, same, adopted),
                });
            }
            Err(e) => {
                let e = aws("iam", "GetInstanceProfile")(e);
                if !has_code(&e, &["NoSuchEntity"]) {
                    return Err(e);
                }
                profiles.push(Named {
                    account: role.account.clone(),
                    name: profile.clone(),
                    arn: format!("arn:aws:iam::{}:instance-profile/{profile}", role.account),
                    owner: Owner::Absent,
                });
            }
        }
    }
    let ec2 = survey_ec2(target, state, me).await?;
    Ok(Survey {
        key,
        bucket,
        bucket_unreachable,
        roles,
        profiles,
        ec2,
    })
}

async fn describe_key(
    kms: &aws_sdk_kms::Client,
    id: &str,
) -> Result<Option<aws_sdk_kms::types::KeyMetadata>, DeployError> {
    match kms.describe_key().key_id(id).send().await {
        Ok(out) => Ok(out.key_metadata().cloned()),
        Err(e) => {
            let e = aws("kms", "DescribeKey")(e);
            if has_code(&e, &["NotFoundException"]) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// A key's tags; `Err(why)` when they cannot be read (the key policy denies it).
pub(crate) async fn key_tags(
    kms: &aws_sdk_kms::Client,
    id: &str,
) -> Result<Result<Tags, String>, DeployError> {
    let mut tags = Tags::new();
    let mut marker = None;
    loop {
        let sent = kms
            .list_resource_tags()
            .key_id(id)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(aws("kms", "ListResourceTags"));
        let out = match sent {
            Ok(o) => o,
            Err(e) if has_code(&e, &["AccessDeniedException"]) => {
                return Ok(Err(format!("its tags cannot be read ({e})")));
            }
            Err(e) => return Err(e),
        };
        for t in out.tags() {
            tags.insert(t.tag_key().to_string(), t.tag_value().to_string());
        }
        match out.next_marker() {
            Some(m) if out.truncated() => marker = Some(m.to_string()),
            _ => return Ok(Ok(tags)),
        }
    }
}

async fn survey_key(
    plan: &Plan,
    target: &Target,
    state: &State,
    me: &Identity,
) -> Result<Option<KeyFound>, DeployError> {
    let kms = &target.clients(&plan.key.account)?.kms;
    let recorded = state.key.as_ref();
    let mut meta = describe_key(kms, &plan.key.alias).await?.map(|m| (m, true));
    if meta.is_none()
        && let Some(k) = recorded
    {
        meta = describe_key(kms, &k.key_id).await?.map(|m| (m, false));
    }
    let Some((m, by_alias)) = meta else {
        return Ok(None);
    };
    let id = m.key_id().to_string();
    let same = recorded.is_some_and(|k| k.key_id == id);
    let adopted = recorded.is_some_and(|k| k.adopted);
    let owner = match key_tags(kms, &id).await? {
        Ok(tags) => me.judge(&tags, same, adopted),
        Err(why) => Owner::Foreign(why),
    };
    Ok(Some(KeyFound {
        arn: m.arn().unwrap_or_default().to_string(),
        id,
        enabled: m.enabled(),
        pending: matches!(
            m.key_state(),
            Some(aws_sdk_kms::types::KeyState::PendingDeletion)
                | Some(aws_sdk_kms::types::KeyState::PendingReplicaDeletion)
        ),
        by_alias,
        owner,
    }))
}

/// A bucket's tags through `s3`; `Err(why)` when they cannot be read.
pub(crate) async fn bucket_tags(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Result<Tags, String>, DeployError> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(o) => Ok(Ok(o
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())),
        Err(e) => {
            let e = aws("s3", "GetBucketTagging")(e);
            if has_code(&e, &["NoSuchTagSet"]) {
                Ok(Ok(Tags::new()))
            } else if has_code(&e, &["AccessDenied", "Http403"]) {
                Ok(Err(format!(
                    "its tags cannot be read ({e}); run where its bucket policy admits the \
                     storage administrator (inside the VPC)"
                )))
            } else {
                Err(e)
            }
        }
    }
}

async fn survey_bucket(
    plan: &Plan,
    target: &Target,
    state: &State,
    me: &Identity,
) -> Result<(Owner, Option<String>), DeployError> {
    let name = &plan.bucket.name;
    let (s3, _) = target.bucket_s3(state);
    // GetBucketLocation rather than HeadBucket: HeadBucket needs s3:ListBucket, a data action
    // a hardened bucket policy reserves to the storage roles.
    if let Err(e) = s3.get_bucket_location().bucket(name).send().await {
        let e = aws("s3", "GetBucketLocation")(e);
        if has_code(&e, &["NotFound", "NoSuchBucket", "Http404"]) {
            return Ok((Owner::Absent, None));
        }
        if has_code(&e, &["Forbidden", "Http403", "AccessDenied"]) {
            return Ok((
                Owner::Foreign("unreachable".into()),
                Some(format!(
                    "exists but the storage account cannot reach it (another account's, or its \
                     policy denies this caller): {e}; bucket names are global, rename it in the \
                     blueprint"
                )),
            ));
        }
        return Err(e);
    }
    let recorded = state.bucket.as_deref() == Some(name.as_str());
    let owner = match bucket_tags(&s3, name).await? {
        Ok(tags) => {
            if recorded
                && state.bucket_untagged
                && !state.bucket_adopted
                && !tags.contains_key(TAG_DEPLOYMENT)
            {
                Owner::Ours
            } else {
                me.judge(&tags, recorded, state.bucket_adopted)
            }
        }
        Err(why) => Owner::Foreign(why),
    };
    Ok((owner, None))
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The VPC endpoint `id` as it is now, unless it is gone (deleted, being deleted, or unknown).
pub(crate) async fn live_vpc_endpoint(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Result<Option<aws_sdk_ec2::types::VpcEndpoint>, DeployError> {
    let live = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await;
    let live = crate::error::unless_gone(
        live.map_err(aws("ec2", "DescribeVpcEndpoints")),
        &["InvalidVpcEndpointId.NotFound"],
    )?;
    Ok(live
        .and_then(|o| o.vpc_endpoints().first().cloned())
        .filter(|e| {
            !matches!(
                e.state(),
                Some(aws_sdk_ec2::types::State::Deleted)
                    | Some(aws_sdk_ec2::types::State::Deleting)
            )
        }))
}

async fn survey_ec2(
    target: &Target,
    state: &State,
    me: &Identity,
) -> Result<Vec<Ec2Found>, DeployError> {
    use crate::error::unless_gone;
    let mut out = Vec::new();
    for n in &state.networks {
        let ec2 = &target.clients(&n.account)?.ec2;
        if let Some(id) = &n.vpc_id {
            let live = ec2.describe_vpcs().vpc_ids(id).send().await;
            let live = unless_gone(
                live.map_err(aws("ec2", "DescribeVpcs")),
                &["InvalidVpcID.NotFound"],
            )?;
            let tags = live
                .as_ref()
                .and_then(|o| o.vpcs().first())
                .map(|v| ec2_tags(v.tags()));
            out.push(found(me, "VPC", id, tags));
        }
        if let Some(id) = &n.subnet_id {
            let live = ec2.describe_subnets().subnet_ids(id).send().await;
            let live = unless_gone(
                live.map_err(aws("ec2", "DescribeSubnets")),
                &["InvalidSubnetID.NotFound"],
            )?;
            let tags = live
                .as_ref()
                .and_then(|o| o.subnets().first())
                .map(|v| ec2_tags(v.tags()));
            out.push(found(me, "subnet", id, tags));
        }
        if let Some(id) = &n.vpce_id {
            let tags = live_vpc_endpoint(ec2, id)
                .await?
                .map(|v| ec2_tags(v.tags()));
            out.push(found(me, "VPC endpoint", id, tags));
        }
        if let Some(id) = &n.instance_id {
            let live = ec2.describe_instances().instance_ids(id).send().await;
            let live = unless_gone(
                live.map_err(aws("ec2", "DescribeInstances")),
                &["InvalidInstanceID.NotFound"],
            )?;
            let tags = live
                .iter()
                .flat_map(|o| o.reservations())
                .flat_map(|r| r.instances())
                .find(|i| i.instance_id() == Some(id.as_str()))
                .filter(|i| {
                    !matches!(
                        i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                        Some("terminated") | Some("shutting-down")
                    )
                })
                .map(|i| ec2_tags(i.tags()));
            out.push(found(me, "instance", id, tags));
        }
    }
    Ok(out)
}

fn found(me: &Identity, kind: &'static str, id: &str, tags: Option<Tags>) -> Ec2Found {
    Ec2Found {
        kind,
        id: id.to_string(),
        owner: match tags {
            None => Owner::Absent,
            Some(t) => me.judge(&t, true, false),
        },
    }
}
