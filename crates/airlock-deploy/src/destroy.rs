//! `destroy`: removes what this deployment created, in the seed's cleanup order, after lifting
//! the bucket policy's VPC-endpoint lock, and schedules the key's deletion with the minimum
//! window (7 days). Idempotent: what is already gone is skipped.
//!
//! It deletes only what it can prove it owns ([`crate::ownership`]: recorded in the state file
//! and tagged with its deployment). Everything else it would have touched is left and listed
//! (`left` of each step): resources of another blueprint or deployment, resources made by hand,
//! and resources this deployment adopted (`apply --adopt`), which it gives back as it found
//! them (the original of every setting apply changed, the adoption mark removed): an adopted
//! resource was not created by this deployment, so no option makes destroy delete it.

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_blueprint::Plan;
use airlock_blueprint::plan::RolePurpose;
use serde::Serialize;

use crate::error::{DeployError, aws, has_code, unless_gone};
use crate::ownership::{Identity, Owner, Restore, Tags};
use crate::state::{State, blueprint_name};
use crate::survey::{Survey, bucket_tags, survey};
use crate::target::Target;

/// The minimum KMS deletion window.
pub const KEY_DELETION_DAYS: i32 = 7;

/// One cleanup step.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    /// The account.
    pub account: String,
    /// What the step removes.
    pub what: String,
    /// What was removed (empty: already gone).
    pub removed: Vec<String>,
    /// What the step left, and why: `TYPE NAME (reason)`.
    pub left: Vec<String>,
    /// Wall time.
    #[serde(serialize_with = "crate::millis")]
    pub elapsed: Duration,
}

/// The destroy report.
#[derive(Debug, Clone, Serialize)]
pub struct DestroyReport {
    /// Every step, in order.
    pub steps: Vec<Removal>,
}

impl DestroyReport {
    /// How many resources were removed.
    pub fn removed(&self) -> usize {
        self.steps.iter().map(|s| s.removed.len()).sum()
    }
    /// Everything left, with the reason.
    pub fn left(&self) -> Vec<&str> {
        self.steps
            .iter()
            .flat_map(|s| s.left.iter().map(String::as_str))
            .collect()
    }
}

/// What one step did.
#[derive(Default)]
struct Done {
    removed: Vec<String>,
    left: Vec<String>,
}

/// What destroy does with a resource of this owner.
enum Fate {
    /// Delete it.
    Delete,
    /// Give it back as found (adopted).
    GiveBack,
    /// Leave it: someone else's (the reason).
    Leave(String),
    /// Nothing there.
    Skip,
}

fn fate(owner: &Owner) -> Fate {
    match owner {
        Owner::Ours => Fate::Delete,
        Owner::Adopted => Fate::GiveBack,
        Owner::Foreign(why) => Fate::Leave(why.clone()),
        Owner::Absent => Fate::Skip,
    }
}

/// Removes everything this deployment owns; see the module documentation.
pub async fn destroy(
    plan: &Plan,
    target: &Target,
    state_path: &Path,
    progress: &mut (dyn FnMut(&Removal) + Send),
) -> Result<DestroyReport, DeployError> {
    let blueprint = blueprint_name(state_path);
    let mut state = State::read(state_path)?.unwrap_or_default();
    state.check_blueprint(state_path, &blueprint)?;
    let me = state.identity(&blueprint);
    let sv = survey(plan, target, &state, &me).await?;
    let mut steps = Vec::new();
    macro_rules! step {
        ($account:expr, $what:expr, $body:expr) => {{
            let started = Instant::now();
            let done: Done = $body;
            let r = Removal {
                account: $account.to_string(),
                what: $what.to_string(),
                removed: done.removed,
                left: done.left,
                elapsed: started.elapsed(),
            };
            progress(&r);
            steps.push(r);
        }};
    }
    let bucket = plan.bucket.name.clone();
    let storage = plan.storage_account.id.clone();
    let bucket_fate = match &sv.bucket_unreachable {
        Some(why) => Fate::Leave(why.clone()),
        None => fate(&sv.bucket),
    };

    step!(
        storage,
        format!("lift the VPC-endpoint lock: delete the policy of {bucket}"),
        {
            let mut done = Done::default();
            match &bucket_fate {
                Fate::Delete => done.removed = lift_lock(plan, target, &state).await?,
                Fate::GiveBack => {
                    // Before the endpoint goes: an adopted bucket's policy may admit only it.
                    let (s3, _) = target.bucket_s3(&state);
                    let restored = give_back_bucket(&s3, &bucket, &state, &me).await?;
                    done.left.push(format!(
                        "S3 bucket {bucket} (adopted; given back as found: {})",
                        list_or(&restored, "adoption mark removed")
                    ));
                }
                Fate::Leave(why) => done.left.push(format!("S3 bucket {bucket} ({why})")),
                Fate::Skip => {}
            }
            done
        }
    );

    for net in &plan.networks {
        let known = state
            .network(&net.endpoint.name)
            .cloned()
            .unwrap_or_default();
        let ec2 = &target.clients(&net.account)?.ec2;
        step!(net.account, "terminate the instance", {
            let mut done = Done::default();
            if let Some(id) = &known.instance_id {
                match fate(&sv.ec2(id)) {
                    Fate::Delete => {
                        let sent = ec2.terminate_instances().instance_ids(id).send().await;
                        let sent = sent.map_err(aws("ec2", "TerminateInstances"));
                        if unless_gone(sent, &["InvalidInstanceID.NotFound"])?.is_some() {
                            wait_terminated(ec2, id).await?;
                            done.removed.push(format!("instance {id}"));
                        }
                    }
                    Fate::Leave(why) => done.left.push(format!("instance {id} ({why})")),
                    Fate::GiveBack | Fate::Skip => {}
                }
            }
            done
        });
        step!(net.account, "delete the VPC endpoint", {
            let mut done = Done::default();
            if let Some(id) = &known.vpce_id {
                match fate(&sv.ec2(id)) {
                    Fate::Delete => {
                        let sent = ec2.delete_vpc_endpoints().vpc_endpoint_ids(id).send().await;
                        let sent = sent.map_err(aws("ec2", "DeleteVpcEndpoints"));
                        if unless_gone(sent, &["InvalidVpcEndpointId.NotFound"])?
                            .is_some_and(|o| o.unsuccessful().is_empty())
                        {
                            done.removed.push(format!("VPC endpoint {id}"));
                        }
                    }
                    Fate::Leave(why) => done.left.push(format!("VPC endpoint {id} ({why})")),
                    Fate::GiveBack | Fate::Skip => {}
                }
            }
            done
        });
    }
    for role in plan
        .roles
        .iter()
        .filter(|r| r.purpose == RolePurpose::Instance)
    {
        step!(
            role.account,
            format!("delete role {} and its instance profile", role.name),
            {
                role_step(
                    target,
                    &sv,
                    &state,
                    &me,
                    &role.account,
                    &role.name,
                    role.instance_profile.as_deref(),
                )
                .await?
            }
        );
    }
    for net in &plan.networks {
        let known = state
            .network(&net.endpoint.name)
            .cloned()
            .unwrap_or_default();
        let ec2 = &target.clients(&net.account)?.ec2;
        step!(net.account, "delete the subnet and the VPC", {
            let mut done = Done::default();
            if let Some(id) = &known.subnet_id {
                match fate(&sv.ec2(id)) {
                    Fate::Delete => {
                        let sent = ec2.delete_subnet().subnet_id(id).send().await;
                        let sent = sent.map_err(aws("ec2", "DeleteSubnet"));
                        if unless_gone(sent, &["InvalidSubnetID.NotFound"])?.is_some() {
                            done.removed.push(format!("subnet {id}"));
                        }
                    }
                    Fate::Leave(why) => done.left.push(format!("subnet {id} ({why})")),
                    Fate::GiveBack | Fate::Skip => {}
                }
            }
            if let Some(id) = &known.vpc_id {
                match fate(&sv.ec2(id)) {
                    Fate::Delete => {
                        let sent = ec2.delete_vpc().vpc_id(id).send().await;
                        let sent = sent.map_err(aws("ec2", "DeleteVpc"));
                        if unless_gone(sent, &["InvalidVpcID.NotFound"])?.is_some() {
                            done.removed.push(format!("VPC {id}"));
                        }
                    }
                    Fate::Leave(why) => done.left.push(format!("VPC {id} ({why})")),
                    Fate::GiveBack | Fate::Skip => {}
                }
            }
            done
        });
        state
            .networks
            .retain(|n| n.endpoint_name != net.endpoint.name);
    }

    let s3 = &target.storage.s3;
    let delete_bucket = matches!(bucket_fate, Fate::Delete);
    step!(
        storage,
        format!("empty bucket {bucket} (every version and delete marker)"),
        {
            Done {
                removed: if delete_bucket {
                    empty_bucket(s3, &bucket).await?
                } else {
                    Vec::new()
                },
                left: Vec::new(),
            }
        }
    );
    step!(storage, format!("delete bucket {bucket}"), {
        let mut done = Done::default();
        if delete_bucket {
            let sent = s3.delete_bucket().bucket(&bucket).send().await;
            let sent = sent.map_err(aws("s3", "DeleteBucket"));
            if unless_gone(sent, &["NoSuchBucket", "Http404"])?.is_some() {
                done.removed.push(format!("bucket {bucket}"));
            }
        }
        done
    });
    for role in plan
        .roles
        .iter()
        .filter(|r| r.purpose != RolePurpose::Instance)
    {
        step!(role.account, format!("delete role {}", role.name), {
            role_step(
                target,
                &sv,
                &state,
                &me,
                &role.account,
                &role.name,
                role.instance_profile.as_deref(),
            )
            .await?
        });
    }
    step!(
        storage,
        format!(
            "delete alias {} and schedule the key's deletion ({KEY_DELETION_DAYS} days)",
            plan.key.alias
        ),
        { key_step(plan, target, &sv, &state, &me).await? }
    );
    state.key = None;
    State::remove(state_path)?;
    Ok(DestroyReport { steps })
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_string()
    } else {
        items.join(", ")
    }
}

async fn key_step(
    plan: &Plan,
    target: &Target,
    sv: &Survey,
    state: &State,
    me: &Identity,
) -> Result<Done, DeployError> {
    let kms = &target.clients(&plan.key.account)?.kms;
    let mut done = Done::default();
    let Some(k) = &sv.key else {
        return Ok(done);
    };
    match fate(&k.owner) {
        Fate::Delete => {
            // The alias goes only when it names this key.
            if k.by_alias {
                let sent = kms.delete_alias().alias_name(&plan.key.alias).send().await;
                let sent = sent.map_err(aws("kms", "DeleteAlias"));
                if unless_gone(sent, &["NotFoundException"])?.is_some() {
                    done.removed.push(format!("alias {}", plan.key.alias));
                }
            }
            if k.pending {
                return Ok(done);
            }
            let sent = kms
                .schedule_key_deletion()
                .key_id(&k.id)
                .pending_window_in_days(KEY_DELETION_DAYS)
                .send()
                .await
                .map_err(aws("kms", "ScheduleKeyDeletion"));
            // Already pending deletion (KMSInvalidStateException) or gone.
            if let Some(o) = unless_gone(sent, &["NotFoundException", "KMSInvalidStateException"])?
            {
                done.removed.push(format!(
                    "key {} (deletion scheduled{})",
                    k.id,
                    o.deletion_date()
                        .map(|d| format!(" for {d}"))
                        .unwrap_or_default()
                ));
            }
        }
        Fate::GiveBack => {
            let mut restored = Vec::new();
            for r in state.restore.iter().rev() {
                let mine = match r {
                    Restore::KeyPolicy { key_id, .. }
                    | Restore::KeyWasDisabled { key_id }
                    | Restore::KeyRotationWasOff { key_id } => key_id == &k.id,
                    Restore::Alias { alias, .. } => alias == &plan.key.alias,
                    _ => false,
                };
                if mine {
                    restored.push(undo(target, plan, r).await?);
                }
            }
            kms.untag_resource()
                .key_id(&k.id)
                .tag_keys(me.adopted_key())
                .send()
                .await
                .map_err(aws("kms", "UntagResource"))?;
            done.left.push(format!(
                "KMS key {} {} (adopted; given back as found: {})",
                plan.key.alias,
                k.id,
                list_or(&restored, "adoption mark removed")
            ));
        }
        Fate::Leave(why) => done
            .left
            .push(format!("KMS key {} {} ({why})", plan.key.alias, k.id)),
        Fate::Skip => {}
    }
    Ok(done)
}

#[allow(clippy::too_many_arguments)]
async fn role_step(
    target: &Target,
    sv: &Survey,
    state: &State,
    me: &Identity,
    account: &str,
    name: &str,
    instance_profile: Option<&str>,
) -> Result<Done, DeployError> {
    let iam = &target.clients(account)?.iam;
    let mut done = Done::default();
    if let Some(p) = instance_profile {
        match fate(&sv.profile(account, p)) {
            Fate::Delete => {
                let sent = iam
                    .get_instance_profile()
                    .instance_profile_name(p)
                    .send()
                    .await;
                let sent = sent.map_err(aws("iam", "GetInstanceProfile"));
                let held: Vec<String> = unless_gone(sent, &["NoSuchEntity"])?
                    .and_then(|o| o.instance_profile().cloned())
                    .map(|ip| {
                        ip.roles()
                            .iter()
                            .map(|r| r.role_name().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                for r in held {
                    let sent = iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(p)
                        .role_name(&r)
                        .send()
                        .await
                        .map_err(aws("iam", "RemoveRoleFromInstanceProfile"));
                    unless_gone(sent, &["NoSuchEntity"])?;
                }
                let sent = iam
                    .delete_instance_profile()
                    .instance_profile_name(p)
                    .send()
                    .await
                    .map_err(aws("iam", "DeleteInstanceProfile"));
                if unless_gone(sent, &["NoSuchEntity"])?.is_some() {
                    done.removed.push(format!("instance profile {p}"));
                }
            }
            Fate::GiveBack => {
                let mut restored = Vec::new();
                for r in state.restore.iter().rev() {
                    if let Restore::ProfileRole {
                        account: a,
                        profile,
                        ..
                    } = r
                        && a == account
                        && profile == p
                    {
                        restored.push(undo_iam(iam, r).await?);
                    }
                }
                let sent = iam
                    .untag_instance_profile()
                    .instance_profile_name(p)
                    .tag_keys(me.adopted_key())
                    .send()
                    .await
                    .map_err(aws("iam", "UntagInstanceProfile"));
                unless_gone(sent, &["NoSuchEntity"])?;
                done.left.push(format!(
                    "IAM instance profile {p} (adopted; given back as found: {})",
                    list_or(&restored, "adoption mark removed")
                ));
            }
            Fate::Leave(why) => done.left.push(format!("IAM instance profile {p} ({why})")),
            Fate::Skip => {}
        }
    }
    match fate(&sv.role(account, name)) {
        Fate::Delete => done.removed.extend(delete_role(iam, name).await?),
        Fate::GiveBack => {
            let mut restored = Vec::new();
            for r in state.restore.iter().rev() {
                let mine = match r {
                    Restore::RoleTrust {
                        account: a, role, ..
                    }
                    | Restore::RoleInlinePolicy {
                        account: a, role, ..
                    }
                    | Restore::RoleManagedPolicy {
                        account: a, role, ..
                    } => a == account && role == name,
                    _ => false,
                };
                if mine {
                    restored.push(undo_iam(iam, r).await?);
                }
            }
            let sent = iam
                .untag_role()
                .role_name(name)
                .tag_keys(me.adopted_key())
                .send()
                .await
                .map_err(aws("iam", "UntagRole"));
            unless_gone(sent, &["NoSuchEntity"])?;
            done.left.push(format!(
                "IAM role {name} (adopted; given back as found: {})",
                list_or(&restored, "adoption mark removed")
            ));
        }
        Fate::Leave(why) => done.left.push(format!("IAM role {name} ({why})")),
        Fate::Skip => {}
    }
    Ok(done)
}

/// Puts back one IAM setting; says what.
async fn undo_iam(iam: &aws_sdk_iam::Client, r: &Restore) -> Result<String, DeployError> {
    Ok(match r {
        Restore::RoleTrust { role, document, .. } => {
            iam.update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
                .await
                .map_err(aws("iam", "UpdateAssumeRolePolicy"))?;
            "trust policy".to_string()
        }
        Restore::RoleInlinePolicy {
            role,
            policy,
            document: Some(d),
            ..
        } => {
            iam.put_role_policy()
                .role_name(role)
                .policy_name(policy)
                .policy_document(d)
                .send()
                .await
                .map_err(aws("iam", "PutRolePolicy"))?;
            format!("inline policy {policy}")
        }
        Restore::RoleInlinePolicy {
            role,
            policy,
            document: None,
            ..
        } => {
            let sent = iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
                .await
                .map_err(aws("iam", "DeleteRolePolicy"));
            unless_gone(sent, &["NoSuchEntity"])?;
            format!("inline policy {policy} removed (apply added it)")
        }
        Restore::RoleManagedPolicy { role, arn, .. } => {
            let sent = iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(aws("iam", "DetachRolePolicy"));
            unless_gone(sent, &["NoSuchEntity"])?;
            format!("managed policy {arn} detached (apply attached it)")
        }
        Restore::ProfileRole { profile, role, .. } => {
            let sent = iam
                .remove_role_from_instance_profile()
                .instance_profile_name(profile)
                .role_name(role)
                .send()
                .await
                .map_err(aws("iam", "RemoveRoleFromInstanceProfile"));
            unless_gone(sent, &["NoSuchEntity"])?;
            format!("role {role} removed from it (apply added it)")
        }
        other => {
            return Err(DeployError::Config(format!(
                "not an IAM setting: {}",
                other.slot()
            )));
        }
    })
}

/// Puts back one KMS setting; says what.
async fn undo(target: &Target, plan: &Plan, r: &Restore) -> Result<String, DeployError> {
    let kms = &target.clients(&plan.key.account)?.kms;
    Ok(match r {
        Restore::KeyPolicy { key_id, document } => {
            kms.put_key_policy()
                .key_id(key_id)
                .policy_name("default")
                .policy(document)
                .send()
                .await
                .map_err(aws("kms", "PutKeyPolicy"))?;
            "key policy".to_string()
        }
        Restore::KeyWasDisabled { key_id } => {
            kms.disable_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(aws("kms", "DisableKey"))?;
            "disabled again".to_string()
        }
        Restore::KeyRotationWasOff { key_id } => {
            kms.disable_key_rotation()
                .key_id(key_id)
                .send()
                .await
                .map_err(aws("kms", "DisableKeyRotation"))?;
            "rotation off again".to_string()
        }
        Restore::Alias {
            alias,
            target: Some(t),
        } => {
            kms.update_alias()
                .alias_name(alias)
                .target_key_id(t)
                .send()
                .await
                .map_err(aws("kms", "UpdateAlias"))?;
            format!("alias {alias} names {t} again")
        }
        Restore::Alias {
            alias,
            target: None,
        } => {
            let sent = kms.delete_alias().alias_name(alias).send().await;
            unless_gone(
                sent.map_err(aws("kms", "DeleteAlias")),
                &["NotFoundException"],
            )?;
            format!("alias {alias} removed (apply created it)")
        }
        other => {
            return Err(DeployError::Config(format!(
                "not a KMS setting: {}",
                other.slot()
            )));
        }
    })
}

/// Gives an adopted bucket back: every setting apply changed, then its tags without this
/// deployment's adoption mark.
async fn give_back_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    state: &State,
    me: &Identity,
) -> Result<Vec<String>, DeployError> {
    use aws_sdk_s3::types as s3t;
    let cfg = |e: aws_sdk_s3::error::BuildError| DeployError::Config(e.to_string());
    let mut restored = Vec::new();
    let mut tags_restored = false;
    for r in state.restore.iter().rev() {
        match r {
            Restore::BucketPolicy {
                bucket: b,
                document,
            } if b == bucket => {
                match document {
                    Some(d) => {
                        s3.put_bucket_policy()
                            .bucket(bucket)
                            .policy(d)
                            .send()
                            .await
                            .map_err(aws("s3", "PutBucketPolicy"))?;
                    }
                    None => {
                        s3.delete_bucket_policy()
                            .bucket(bucket)
                            .send()
                            .await
                            .map_err(aws("s3", "DeleteBucketPolicy"))?;
                    }
                }
                restored.push("bucket policy".to_string());
            }
            Restore::BucketPublicAccessBlock {
                bucket: b,
                settings,
            } if b == bucket => {
                match settings {
                    Some([a, i, p, r]) => {
                        s3.put_public_access_block()
                            .bucket(bucket)
                            .public_access_block_configuration(
                                s3t::PublicAccessBlockConfiguration::builder()
                                    .block_public_acls(*a)
                                    .ignore_public_acls(*i)
                                    .block_public_policy(*p)
                                    .restrict_public_buckets(*r)
                                    .build(),
                            )
                            .send()
                            .await
                            .map_err(aws("s3", "PutPublicAccessBlock"))?;
                    }
                    None => {
                        s3.delete_public_access_block()
                            .bucket(bucket)
                            .send()
                            .await
                            .map_err(aws("s3", "DeletePublicAccessBlock"))?;
                    }
                }
                restored.push("Block Public Access".to_string());
            }
            Restore::BucketOwnership {
                bucket: b,
                ownership,
            } if b == bucket => {
                match ownership {
                    Some(o) => {
                        s3.put_bucket_ownership_controls()
                            .bucket(bucket)
                            .ownership_controls(
                                s3t::OwnershipControls::builder()
                                    .rules(
                                        s3t::OwnershipControlsRule::builder()
                                            .object_ownership(s3t::ObjectOwnership::from(
                                                o.as_str(),
                                            ))
                                            .build()
                                            .map_err(cfg)?,
                                    )
                                    .build()
                                    .map_err(cfg)?,
                            )
                            .send()
                            .await
                            .map_err(aws("s3", "PutBucketOwnershipControls"))?;
                    }
                    None => {
                        s3.delete_bucket_ownership_controls()
                            .bucket(bucket)
                            .send()
                            .await
                            .map_err(aws("s3", "DeleteBucketOwnershipControls"))?;
                    }
                }
                restored.push("object ownership".to_string());
            }
            Restore::BucketEncryption { bucket: b, setting } if b == bucket => {
                match setting {
                    Some((alg, key, bucket_key)) => {
                        let mut by_default = s3t::ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(s3t::ServerSideEncryption::from(alg.as_str()));
                        if !key.is_empty() {
                            by_default = by_default.kms_master_key_id(key);
                        }
                        s3.put_bucket_encryption()
                            .bucket(bucket)
                            .server_side_encryption_configuration(
                                s3t::ServerSideEncryptionConfiguration::builder()
                                    .rules(
                                        s3t::ServerSideEncryptionRule::builder()
                                            .apply_server_side_encryption_by_default(
                                                by_default.build().map_err(cfg)?,
                                            )
                                            .bucket_key_enabled(*bucket_key)
                                            .build(),
                                    )
                                    .build()
                                    .map_err(cfg)?,
                            )
                            .send()
                            .await
                            .map_err(aws("s3", "PutBucketEncryption"))?;
                    }
                    None => {
                        s3.delete_bucket_encryption()
                            .bucket(bucket)
                            .send()
                            .await
                            .map_err(aws("s3", "DeleteBucketEncryption"))?;
                    }
                }
                restored.push("default encryption".to_string());
            }
            Restore::BucketVersioning { bucket: b, status } if b == bucket => {
                // S3 never turns versioning off again; suspending is the closest.
                s3.put_bucket_versioning()
                    .bucket(bucket)
                    .versioning_configuration(
                        s3t::VersioningConfiguration::builder()
                            .status(s3t::BucketVersioningStatus::Suspended)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(aws("s3", "PutBucketVersioning"))?;
                restored.push(match status {
                    Some(s) => format!("versioning {s}"),
                    None => "versioning suspended (it was never enabled; S3 cannot turn it off)"
                        .to_string(),
                });
            }
            Restore::BucketTags { bucket: b, tags } if b == bucket => {
                match tags {
                    Some(t) => put_tags(s3, bucket, t).await?,
                    None => {
                        s3.delete_bucket_tagging()
                            .bucket(bucket)
                            .send()
                            .await
                            .map_err(aws("s3", "DeleteBucketTagging"))?;
                    }
                }
                tags_restored = true;
                restored.push("tags".to_string());
            }
            _ => {}
        }
    }
    if !tags_restored
        && let Ok(mut live) = bucket_tags(s3, bucket).await?
        && live.remove(&me.adopted_key()).is_some()
    {
        if live.is_empty() {
            s3.delete_bucket_tagging()
                .bucket(bucket)
                .send()
                .await
                .map_err(aws("s3", "DeleteBucketTagging"))?;
        } else {
            put_tags(s3, bucket, &live).await?;
        }
    }
    Ok(restored)
}

async fn put_tags(s3: &aws_sdk_s3::Client, bucket: &str, tags: &Tags) -> Result<(), DeployError> {
    use aws_sdk_s3::types as s3t;
    let cfg = |e: aws_sdk_s3::error::BuildError| DeployError::Config(e.to_string());
    let mut tagging = s3t::Tagging::builder();
    for (k, v) in tags {
        tagging = tagging.tag_set(s3t::Tag::builder().key(k).value(v).build().map_err(cfg)?);
    }
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging.build().map_err(cfg)?)
        .send()
        .await
        .map_err(aws("s3", "PutBucketTagging"))?;
    Ok(())
}

/// Deletes the bucket policy so the storage account can empty the bucket from outside the
/// VPC: through the VPC endpoint when the target knows it (local), else directly, else as
/// the plan's break-glass role (exempt from the VPC-endpoint deny for the bucket-policy
/// actions).
async fn lift_lock(
    plan: &Plan,
    target: &Target,
    state: &State,
) -> Result<Vec<String>, DeployError> {
    let bucket = &plan.bucket.name;
    let (s3, via) = target.bucket_s3(state);
    let first = s3.delete_bucket_policy().bucket(bucket).send().await;
    let err = match first {
        Ok(_) => {
            return Ok(vec![format!(
                "bucket policy of {bucket}{}",
                via.map(|v| format!(" (through {v})")).unwrap_or_default()
            )]);
        }
        Err(e) => aws("s3", "DeleteBucketPolicy")(e),
    };
    if has_code(&err, &["NoSuchBucket", "NoSuchBucketPolicy", "Http404"]) {
        return Ok(Vec::new());
    }
    if !has_code(&err, &["AccessDenied"]) {
        return Err(err);
    }
    let Some(bg) = &plan.break_glass else {
        return Err(DeployError::Conflict(format!(
            "the bucket policy of {bucket} denies the storage administrator outside the VPC ({err}); \
             run destroy from inside the VPC, or delete the policy as the account's root user"
        )));
    };
    let assumed = target
        .storage
        .sts
        .assume_role()
        .role_arn(&bg.principal_arn)
        .role_session_name("airlock-destroy-break-glass")
        .send()
        .await
        .map_err(aws("sts", "AssumeRole"))?;
    let c = assumed
        .credentials()
        .ok_or_else(|| DeployError::Conflict("AssumeRole returned no credentials".into()))?;
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "airlock-break-glass",
    );
    let conf = target
        .storage
        .s3
        .config()
        .to_builder()
        .credentials_provider(creds)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
        .delete_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .map_err(aws("s3", "DeleteBucketPolicy"))?;
    Ok(vec![format!(
        "bucket policy of {bucket} (as break-glass {})",
        bg.principal_arn
    )])
}

async fn wait_terminated(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<(), DeployError> {
    for _ in 0..120 {
        let out = ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(aws("ec2", "DescribeInstances"));
        let state = match out {
            Ok(o) => o
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .find_map(|i| {
                    i.state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())
                }),
            Err(e) if has_code(&e, &["InvalidInstanceID.NotFound"]) => None,
            Err(e) => return Err(e),
        };
        match state.as_deref() {
            None | Some("terminated") => return Ok(()),
            _ => tokio::time::sleep(Duration::from_secs(5)).await,
        }
    }
    Err(DeployError::Conflict(format!(
        "instance {id} did not terminate within 10 minutes"
    )))
}

async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, DeployError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut removed = Vec::new();
    loop {
        let sent = s3.list_object_versions().bucket(bucket).send().await;
        let sent = sent.map_err(aws("s3", "ListObjectVersions"));
        let Some(listed) = unless_gone(sent, &["NoSuchBucket", "Http404"])? else {
            return Ok(removed);
        };
        let mut ids = Vec::new();
        for v in listed.versions() {
            if let Some(k) = v.key() {
                ids.push((k.to_string(), v.version_id().map(str::to_string), false));
            }
        }
        for m in listed.delete_markers() {
            if let Some(k) = m.key() {
                ids.push((k.to_string(), m.version_id().map(str::to_string), true));
            }
        }
        if ids.is_empty() {
            return Ok(removed);
        }
        let mut del = Delete::builder().quiet(true);
        for (k, v, _) in &ids {
            let mut o = ObjectIdentifier::builder().key(k);
            if let Some(v) = v.as_ref().filter(|v| v.as_str() != "null") {
                o = o.version_id(v);
            }
            del = del.objects(o.build().map_err(|e| DeployError::Config(e.to_string()))?);
        }
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(
                del.build()
                    .map_err(|e| DeployError::Config(e.to_string()))?,
            )
            .send()
            .await
            .map_err(aws("s3", "DeleteObjects"))?;
        if let Some(err) = out.errors().first() {
            return Err(DeployError::Aws {
                service: "s3",
                operation: "DeleteObjects",
                code: err.code().unwrap_or("Error").to_string(),
                message: format!(
                    "{}: {}",
                    err.key().unwrap_or_default(),
                    err.message().unwrap_or_default()
                ),
            });
        }
        for (k, v, marker) in ids {
            removed.push(format!(
                "{}{k}{}",
                if marker { "delete marker " } else { "" },
                v.map(|v| format!(" (version {v})")).unwrap_or_default()
            ));
        }
    }
}

/// Deletes a role this deployment owns: its inline policies, its managed policy
/// attachments, the role.
async fn delete_role(iam: &aws_sdk_iam::Client, name: &str) -> Result<Vec<String>, DeployError> {
    let mut out = Vec::new();
    let sent = iam.list_role_policies().role_name(name).send().await;
    let sent = sent.map_err(aws("iam", "ListRolePolicies"));
    let Some(listed) = unless_gone(sent, &["NoSuchEntity"])? else {
        return Ok(out);
    };
    for p in listed.policy_names() {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .map_err(aws("iam", "DeleteRolePolicy"))?;
        out.push(format!("inline policy {p}"));
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(aws("iam", "ListAttachedRolePolicies"))?;
    for a in attached.attached_policies() {
        if let Some(arn) = a.policy_arn() {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(aws("iam", "DetachRolePolicy"))?;
        }
    }
    let sent = iam.delete_role().role_name(name).send().await;
    let sent = sent.map_err(aws("iam", "DeleteRole"));
    if unless_gone(sent, &["NoSuchEntity"])?.is_some() {
        out.push(format!("role {name}"));
    }
    Ok(out)
}
