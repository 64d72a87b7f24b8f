//! `destroy`: removes everything apply created, in the seed's cleanup order, after lifting
//! the bucket policy's VPC-endpoint lock, and schedules the key's deletion with the minimum
//! window (7 days). Idempotent: what is already gone is skipped.

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_blueprint::Plan;
use airlock_blueprint::plan::RolePurpose;
use serde::Serialize;

use crate::error::{DeployError, aws, has_code, unless_gone};
use crate::state::State;
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
}

/// Removes everything; see the module documentation.
pub async fn destroy(
    plan: &Plan,
    target: &Target,
    state_path: &Path,
    progress: &mut (dyn FnMut(&Removal) + Send),
) -> Result<DestroyReport, DeployError> {
    let mut state = State::read(state_path)?.unwrap_or_default();
    let mut steps = Vec::new();
    macro_rules! step {
        ($account:expr, $what:expr, $body:expr) => {{
            let started = Instant::now();
            let removed: Vec<String> = $body;
            let r = Removal {
                account: $account.to_string(),
                what: $what.to_string(),
                removed,
                elapsed: started.elapsed(),
            };
            progress(&r);
            steps.push(r);
        }};
    }
    let bucket = plan.bucket.name.clone();
    let storage = plan.storage_account.id.clone();

    step!(
        storage,
        format!("lift the VPC-endpoint lock: delete the policy of {bucket}"),
        { lift_lock(plan, target, &state).await? }
    );

    for net in &plan.networks {
        let known = state
            .network(&net.endpoint.name)
            .cloned()
            .unwrap_or_default();
        let ec2 = &target.clients(&net.account)?.ec2;
        step!(net.account, "terminate the instance", {
            let mut out = Vec::new();
            if let Some(id) = &known.instance_id {
                let sent = ec2.terminate_instances().instance_ids(id).send().await;
                let sent = sent.map_err(aws("ec2", "TerminateInstances"));
                if unless_gone(sent, &["InvalidInstanceID.NotFound"])?.is_some() {
                    wait_terminated(ec2, id).await?;
                    out.push(format!("instance {id}"));
                }
            }
            out
        });
        step!(net.account, "delete the VPC endpoint", {
            let mut out = Vec::new();
            if let Some(id) = &known.vpce_id {
                let sent = ec2.delete_vpc_endpoints().vpc_endpoint_ids(id).send().await;
                let sent = sent.map_err(aws("ec2", "DeleteVpcEndpoints"));
                if unless_gone(sent, &["InvalidVpcEndpointId.NotFound"])?
                    .is_some_and(|o| o.unsuccessful().is_empty())
                {
                    out.push(format!("VPC endpoint {id}"));
                }
            }
            out
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
                delete_role(
                    target,
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
            let mut out = Vec::new();
            if let Some(id) = &known.subnet_id {
                let sent = ec2.delete_subnet().subnet_id(id).send().await;
                let sent = sent.map_err(aws("ec2", "DeleteSubnet"));
                if unless_gone(sent, &["InvalidSubnetID.NotFound"])?.is_some() {
                    out.push(format!("subnet {id}"));
                }
            }
            if let Some(id) = &known.vpc_id {
                let sent = ec2.delete_vpc().vpc_id(id).send().await;
                let sent = sent.map_err(aws("ec2", "DeleteVpc"));
                if unless_gone(sent, &["InvalidVpcID.NotFound"])?.is_some() {
                    out.push(format!("VPC {id}"));
                }
            }
            out
        });
        state
            .networks
            .retain(|n| n.endpoint_name != net.endpoint.name);
    }

    let s3 = &target.storage.s3;
    step!(
        storage,
        format!("empty bucket {bucket} (every version and delete marker)"),
        { empty_bucket(s3, &bucket).await? }
    );
    step!(storage, format!("delete bucket {bucket}"), {
        let sent = s3.delete_bucket().bucket(&bucket).send().await;
        let sent = sent.map_err(aws("s3", "DeleteBucket"));
        unless_gone(sent, &["NoSuchBucket", "Http404"])?
            .map(|_| vec![format!("bucket {bucket}")])
            .unwrap_or_default()
    });
    for role in plan
        .roles
        .iter()
        .filter(|r| r.purpose != RolePurpose::Instance)
    {
        step!(role.account, format!("delete role {}", role.name), {
            delete_role(
                target,
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
        {
            let kms = &target.clients(&plan.key.account)?.kms;
            let mut out = Vec::new();
            let key_id = match &state.key {
                Some(k) => Some(k.key_id.clone()),
                None => match kms.describe_key().key_id(&plan.key.alias).send().await {
                    Ok(o) => o.key_metadata().map(|m| m.key_id().to_string()),
                    Err(_) => None,
                },
            };
            let sent = kms.delete_alias().alias_name(&plan.key.alias).send().await;
            let sent = sent.map_err(aws("kms", "DeleteAlias"));
            if unless_gone(sent, &["NotFoundException"])?.is_some() {
                out.push(format!("alias {}", plan.key.alias));
            }
            if let Some(id) = key_id {
                let sent = kms
                    .schedule_key_deletion()
                    .key_id(&id)
                    .pending_window_in_days(KEY_DELETION_DAYS)
                    .send()
                    .await
                    .map_err(aws("kms", "ScheduleKeyDeletion"));
                // Already pending deletion (KMSInvalidStateException) or gone.
                if let Some(o) =
                    unless_gone(sent, &["NotFoundException", "KMSInvalidStateException"])?
                {
                    out.push(format!(
                        "key {id} (deletion scheduled{})",
                        o.deletion_date()
                            .map(|d| format!(" for {d}"))
                            .unwrap_or_default()
                    ));
                }
            }
            out
        }
    );
    state.key = None;
    State::remove(state_path)?;
    Ok(DestroyReport { steps })
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

async fn delete_role(
    target: &Target,
    account: &str,
    name: &str,
    instance_profile: Option<&str>,
) -> Result<Vec<String>, DeployError> {
    let iam = &target.clients(account)?.iam;
    let mut out = Vec::new();
    if let Some(p) = instance_profile {
        let sent = iam
            .remove_role_from_instance_profile()
            .instance_profile_name(p)
            .role_name(name)
            .send()
            .await
            .map_err(aws("iam", "RemoveRoleFromInstanceProfile"));
        unless_gone(sent, &["NoSuchEntity"])?;
        let sent = iam
            .delete_instance_profile()
            .instance_profile_name(p)
            .send()
            .await
            .map_err(aws("iam", "DeleteInstanceProfile"));
        if unless_gone(sent, &["NoSuchEntity"])?.is_some() {
            out.push(format!("instance profile {p}"));
        }
    }
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
