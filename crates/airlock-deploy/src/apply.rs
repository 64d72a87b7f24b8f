//! `apply`: creates or corrects everything of a plan, in the plan's step order (the seed's
//! Steps 1–8, the bucket policy once the endpoints exist), records it in the state file, and
//! reports drift it corrected.
//!
//! Before its first change it reads every resource the plan names and refuses
//! ([`DeployError::NotOwned`]) if one exists that this deployment did not create and
//! `--adopt` does not name: it never rewrites, and so never later deletes, someone else's
//! resource ([`crate::ownership`]). Everything it creates carries the deployment's tags from
//! creation on (the bucket right after `CreateBucket`, which takes no tags).

use std::path::Path;
use std::time::{Duration, Instant};

use airlock_blueprint::plan::{Reference, RolePlan, StepAction};
use airlock_blueprint::{Bindings, Plan, PolicyTemplate};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde::Serialize;
use serde_json::Value;

use crate::error::{DeployError, aws, has_code, unless_gone};
use crate::ownership::{Identity, Owner, Restore, Tags, new_deployment_id};
use crate::policy;
use crate::state::{KeyState, RoleState, STATE_VERSION, State, blueprint_name};
use crate::survey::{Survey, adopts_key, bucket_tags, check_adopt_names, survey};
use crate::target::Target;

/// Options of an apply.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Existing resources to take over knowingly (`--adopt NAME`): the key's alias (with or
    /// without `alias/`), the bucket, a role or an instance profile of the blueprint. Apply
    /// tags each with `airlock:adopted:DEPLOYMENT`, records it as adopted with the original
    /// of every setting it changes, and `destroy` gives it back as it found it.
    pub adopt: Vec<String>,
}

/// What every step needs to know about ownership.
struct Cx<'a> {
    me: Identity,
    survey: Survey,
    adopt: &'a [String],
}

impl Cx<'_> {
    /// The tags of a resource apply creates, as `(key, value)`.
    fn creation_tags(&self) -> Vec<(String, String)> {
        self.me.creation_tags()
    }
}

/// What happened to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Something was created.
    Created,
    /// It existed and something was corrected (drift).
    Corrected,
    /// It existed as planned.
    Unchanged,
}

/// The report of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The seed's step number.
    pub number: u8,
    /// The account it ran in.
    pub account: String,
    /// One line for humans (from the plan).
    pub what: String,
    /// What happened.
    pub outcome: Outcome,
    /// Each change: what was created, or which resource drifted and how (then corrected).
    pub changes: Vec<String>,
    /// Wall time.
    #[serde(serialize_with = "crate::millis")]
    pub elapsed: Duration,
}

/// The report of a whole apply.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// Every step, in order.
    pub steps: Vec<StepReport>,
    /// The state written.
    pub state: State,
}

impl ApplyReport {
    /// Steps that changed something.
    pub fn changed(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.outcome != Outcome::Unchanged)
            .count()
    }
    /// Every drift corrected (resource and difference).
    pub fn drift(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.outcome == Outcome::Corrected)
            .flat_map(|s| s.changes.iter().map(String::as_str))
            .collect()
    }
}

#[derive(Default)]
struct Run {
    created: bool,
    changes: Vec<String>,
}

impl Run {
    fn created(&mut self, what: impl Into<String>) {
        self.created = true;
        self.changes.push(what.into());
    }
    fn drift(&mut self, what: impl Into<String>) {
        self.changes.push(what.into());
    }
}

fn resolve(t: &PolicyTemplate, b: &Bindings) -> Result<Value, DeployError> {
    t.resolve(b).map_err(|e| DeployError::Policy(e.to_string()))
}

fn doc(v: &Value) -> String {
    v.to_string()
}

/// Applies the plan with default options (adopts nothing): see [`apply_with`].
pub async fn apply(
    plan: &Plan,
    target: &Target,
    state_path: &Path,
    progress: &mut (dyn FnMut(&StepReport) + Send),
) -> Result<ApplyReport, DeployError> {
    apply_with(plan, target, state_path, &ApplyOptions::default(), progress).await
}

/// Applies the plan: see the module documentation. `progress` is called after every step.
pub async fn apply_with(
    plan: &Plan,
    target: &Target,
    state_path: &Path,
    options: &ApplyOptions,
    progress: &mut (dyn FnMut(&StepReport) + Send),
) -> Result<ApplyReport, DeployError> {
    if plan.storage_account.id != target.storage_id {
        return Err(DeployError::Config(format!(
            "the plan's storage account is {} but the storage profile is account {}",
            plan.storage_account.id, target.storage_id
        )));
    }
    let blueprint = blueprint_name(state_path);
    let mut state = State::read(state_path)?.unwrap_or_default();
    state.check_blueprint(state_path, &blueprint)?;
    check_adopt_names(plan, &options.adopt)?;
    let me = Identity {
        blueprint: blueprint.clone(),
        deployment: if state.deployment_id.is_empty() {
            new_deployment_id()
        } else {
            state.deployment_id.clone()
        },
    };
    // Read everything first; refuse before the first change.
    let surveyed = survey(plan, target, &state, &me).await?;
    let conflicts = surveyed.conflicts(plan, &options.adopt);
    if !conflicts.is_empty() {
        return Err(DeployError::NotOwned { conflicts });
    }
    let cx = Cx {
        me,
        survey: surveyed,
        adopt: &options.adopt,
    };
    state.blueprint = blueprint;
    state.deployment_id = cx.me.deployment.clone();
    state.version = STATE_VERSION;
    state.profile = plan.profile.as_str().to_string();
    state.region = plan.region.clone();
    state.storage_account = plan.storage_account.id.clone();
    let fresh_bucket = state.bucket.is_none();
    let mut steps = Vec::new();
    for step in &plan.steps {
        let started = Instant::now();
        let mut run = Run::default();
        let result = match &step.action {
            StepAction::CreateKey => ensure_key(plan, target, &mut state, &mut run, &cx).await,
            StepAction::CreateBucket => {
                ensure_bucket(plan, target, &mut state, &mut run, &cx).await
            }
            StepAction::CreateRole { name } => {
                let role = plan
                    .roles
                    .iter()
                    .find(|r| &r.name == name && r.account == step.account)
                    .ok_or_else(|| {
                        DeployError::Config(format!("step names unknown role {name}"))
                    })?;
                ensure_role(role, target, &mut state, &mut run, &cx).await
            }
            StepAction::CreateNetwork { endpoint } => {
                ensure_network(plan, endpoint, target, &mut state, &mut run, &cx).await
            }
            StepAction::PutBucketPolicy => {
                ensure_bucket_policy(plan, target, &mut state, &mut run, fresh_bucket).await
            }
            StepAction::LaunchInstance { endpoint } => {
                ensure_instance(plan, endpoint, target, &mut state, &mut run, &cx).await
            }
        };
        // Whatever happened, record what exists so far.
        state.write(state_path)?;
        result?;
        let outcome = if run.created {
            Outcome::Created
        } else if run.changes.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Corrected
        };
        let report = StepReport {
            number: step.number,
            account: step.account.clone(),
            what: step.what.clone(),
            outcome,
            changes: run.changes,
            elapsed: started.elapsed(),
        };
        progress(&report);
        steps.push(report);
    }
    state.write(state_path)?;
    Ok(ApplyReport { steps, state })
}

// ---------------------------------------------------------------- Step 1: the key

async fn ensure_key(
    plan: &Plan,
    target: &Target,
    state: &mut State,
    run: &mut Run,
    cx: &Cx<'_>,
) -> Result<(), DeployError> {
    let kms = &target.clients(&plan.key.account)?.kms;
    let policy_doc = resolve(&plan.key.policy, &state.bindings)?;
    // The key the alias (else the state file) names, as the survey judged it. A key of this
    // deployment pending deletion is not used: a new one is made and the alias moved to it.
    let mut found = cx.survey.key.clone();
    if let Some(k) = &found
        && k.pending
        && matches!(k.owner, Owner::Ours | Owner::Adopted)
    {
        run.drift(format!("key {}: pending deletion, not used", k.id));
        found = None;
    }
    let mut adopted = false;
    let (key_id, key_arn) = match found {
        Some(k) => {
            match &k.owner {
                Owner::Ours | Owner::Absent => {}
                Owner::Adopted => adopted = true,
                Owner::Foreign(owner) => {
                    if !adopts_key(plan, cx.adopt, &k.id) {
                        // The survey refused already; never change what is not ours.
                        return Err(DeployError::Conflict(format!(
                            "KMS key {} is not this deployment's ({owner})",
                            k.id
                        )));
                    }
                    kms.tag_resource()
                        .key_id(&k.id)
                        .tags(kms_tag(&cx.me.adopted_key(), &cx.me.blueprint)?)
                        .send()
                        .await
                        .map_err(aws("kms", "TagResource"))?;
                    run.drift(format!(
                        "adopted KMS key {} ({}; --adopt {})",
                        k.id, owner, plan.key.alias
                    ));
                    adopted = true;
                }
            }
            // Recorded before any further change, so destroy finds it adopted.
            state.key = Some(KeyState {
                key_id: k.id.clone(),
                key_arn: k.arn.clone(),
                alias: plan.key.alias.clone(),
                adopted,
            });
            if !k.enabled {
                if adopted {
                    state.record_restore(Restore::KeyWasDisabled {
                        key_id: k.id.clone(),
                    });
                }
                kms.enable_key()
                    .key_id(&k.id)
                    .send()
                    .await
                    .map_err(aws("kms", "EnableKey"))?;
                run.drift(format!("key {}: was disabled; enabled", k.id));
            }
            let live = kms
                .get_key_policy()
                .key_id(&k.id)
                .policy_name("default")
                .send()
                .await
                .map_err(aws("kms", "GetKeyPolicy"))?;
            let live_text = live.policy().unwrap_or("{}").to_string();
            let live = policy::parse_live(&live_text).map_err(DeployError::Policy)?;
            if !policy::same(&policy_doc, &live) {
                let diff = policy::differences(&policy_doc, &live).join("; ");
                if adopted {
                    state.record_restore(Restore::KeyPolicy {
                        key_id: k.id.clone(),
                        document: live_text,
                    });
                }
                put_key_policy(kms, &k.id, &policy_doc).await?;
                run.drift(format!("key policy drifted ({diff}); corrected"));
            }
            (k.id, k.arn)
        }
        None => {
            let mut create = kms
                .create_key()
                .description(&plan.key.description)
                .key_spec(aws_sdk_kms::types::KeySpec::from(
                    plan.key.key_spec.as_str(),
                ))
                .key_usage(aws_sdk_kms::types::KeyUsageType::from(
                    plan.key.key_usage.as_str(),
                ))
                .policy(doc(&policy_doc));
            for (k, v) in cx.creation_tags() {
                create = create.tags(kms_tag(&k, &v)?);
            }
            let out = create.send().await.map_err(aws("kms", "CreateKey"))?;
            let m = out
                .key_metadata()
                .ok_or_else(|| DeployError::Conflict("CreateKey returned no key".into()))?;
            run.created(format!("key {}", m.key_id()));
            (
                m.key_id().to_string(),
                m.arn().unwrap_or_default().to_string(),
            )
        }
    };
    state.bindings.insert(Reference::KeyId, key_id.clone());
    state.bindings.insert(Reference::KeyArn, key_arn.clone());
    state.key = Some(KeyState {
        key_id: key_id.clone(),
        key_arn,
        alias: plan.key.alias.clone(),
        adopted,
    });
    // The alias names this key.
    let aliases = kms
        .list_aliases()
        .key_id(&key_id)
        .send()
        .await
        .map_err(aws("kms", "ListAliases"))?;
    if !aliases
        .aliases()
        .iter()
        .any(|a| a.alias_name() == Some(plan.key.alias.as_str()))
    {
        if adopted {
            state.record_restore(Restore::Alias {
                alias: plan.key.alias.clone(),
                target: cx
                    .survey
                    .key
                    .as_ref()
                    .filter(|k| k.by_alias)
                    .map(|k| k.id.clone()),
            });
        }
        match kms
            .create_alias()
            .alias_name(&plan.key.alias)
            .target_key_id(&key_id)
            .send()
            .await
            .map_err(aws("kms", "CreateAlias"))
        {
            Ok(_) => run.created(format!("alias {}", plan.key.alias)),
            Err(e) if has_code(&e, &["AlreadyExistsException"]) => {
                // Only the alias of this deployment's own key pending deletion is moved; an
                // alias that appeared since the survey is someone else's.
                let previous = cx
                    .survey
                    .key
                    .as_ref()
                    .filter(|k| k.by_alias && matches!(k.owner, Owner::Ours | Owner::Adopted));
                let Some(previous) = previous else {
                    return Err(DeployError::Conflict(format!(
                        "alias {} appeared during apply and names a key this deployment does not own; \
                         apply again to see whose",
                        plan.key.alias
                    )));
                };
                kms.update_alias()
                    .alias_name(&plan.key.alias)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map_err(aws("kms", "UpdateAlias"))?;
                run.drift(format!(
                    "alias {} named key {} (pending deletion); now {key_id}",
                    plan.key.alias, previous.id
                ));
            }
            Err(e) => return Err(e),
        }
    }
    if plan.key.enable_rotation {
        let on = kms
            .get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await
            .map_err(aws("kms", "GetKeyRotationStatus"))?
            .key_rotation_enabled();
        if !on {
            if adopted {
                state.record_restore(Restore::KeyRotationWasOff {
                    key_id: key_id.clone(),
                });
            }
            kms.enable_key_rotation()
                .key_id(&key_id)
                .send()
                .await
                .map_err(aws("kms", "EnableKeyRotation"))?;
            if run.created {
                run.changes.push("automatic rotation enabled".into());
            } else {
                run.drift("key rotation was off; enabled");
            }
        }
    }
    Ok(())
}

fn kms_tag(key: &str, value: &str) -> Result<aws_sdk_kms::types::Tag, DeployError> {
    aws_sdk_kms::types::Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .map_err(|e| DeployError::Config(e.to_string()))
}

fn iam_tag(key: &str, value: &str) -> Result<aws_sdk_iam::types::Tag, DeployError> {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| DeployError::Config(e.to_string()))
}

async fn put_key_policy(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    policy_doc: &Value,
) -> Result<(), DeployError> {
    kms.put_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .policy(doc(policy_doc))
        .send()
        .await
        .map_err(aws("kms", "PutKeyPolicy"))?;
    Ok(())
}

// ---------------------------------------------------------------- Step 2: the bucket

async fn ensure_bucket(
    plan: &Plan,
    target: &Target,
    state: &mut State,
    run: &mut Run,
    cx: &Cx<'_>,
) -> Result<(), DeployError> {
    use aws_sdk_s3::types as s3t;
    let b = &plan.bucket;
    let (s3, _) = target.bucket_s3(state);
    let adopted = match &cx.survey.bucket {
        Owner::Ours => false,
        Owner::Adopted => true,
        Owner::Foreign(owner) => {
            if !cx.adopt.contains(&b.name) {
                return Err(DeployError::Conflict(format!(
                    "bucket {} is not this deployment's ({owner})",
                    b.name
                )));
            }
            // Its tags are set below, with this deployment's adoption mark.
            run.drift(format!(
                "adopted S3 bucket {} ({owner}; --adopt {})",
                b.name, b.name
            ));
            true
        }
        Owner::Absent => {
            let mut create = s3.create_bucket().bucket(&b.name);
            if plan.region != "us-east-1" {
                create = create.create_bucket_configuration(
                    s3t::CreateBucketConfiguration::builder()
                        .location_constraint(s3t::BucketLocationConstraint::from(
                            plan.region.as_str(),
                        ))
                        .build(),
                );
            }
            create.send().await.map_err(aws("s3", "CreateBucket"))?;
            // CreateBucket takes no tags: record it as created-untagged, and tag it at once.
            state.bucket = Some(b.name.clone());
            state.bucket_untagged = true;
            run.created(format!("bucket {}", b.name));
            let mut want: Tags = b.tags.clone().into_iter().collect();
            want.extend(cx.creation_tags());
            put_bucket_tags(&s3, &b.name, &want).await?;
            state.bucket_untagged = false;
            false
        }
    };
    state.bucket_adopted = adopted;
    state.bucket = Some(b.name.clone());
    let created = run.created;
    let note = |run: &mut Run, what: String| {
        if created {
            run.changes.push(what);
        } else {
            run.drift(what);
        }
    };

    // Block Public Access.
    let want = &b.public_access_block;
    let live = match s3.get_public_access_block().bucket(&b.name).send().await {
        Ok(o) => o.public_access_block_configuration().cloned(),
        Err(e) => {
            let e = aws("s3", "GetPublicAccessBlock")(e);
            if !has_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) {
                return Err(e);
            }
            None
        }
    };
    let live_tuple = live.as_ref().map(|c| {
        (
            c.block_public_acls().unwrap_or(false),
            c.ignore_public_acls().unwrap_or(false),
            c.block_public_policy().unwrap_or(false),
            c.restrict_public_buckets().unwrap_or(false),
        )
    });
    let want_tuple = (
        want.block_public_acls,
        want.ignore_public_acls,
        want.block_public_policy,
        want.restrict_public_buckets,
    );
    if live_tuple != Some(want_tuple) {
        if adopted {
            state.record_restore(Restore::BucketPublicAccessBlock {
                bucket: b.name.clone(),
                settings: live_tuple.map(|(a, b, c, d)| [a, b, c, d]),
            });
        }
        s3.put_public_access_block()
            .bucket(&b.name)
            .public_access_block_configuration(
                s3t::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(want.block_public_acls)
                    .ignore_public_acls(want.ignore_public_acls)
                    .block_public_policy(want.block_public_policy)
                    .restrict_public_buckets(want.restrict_public_buckets)
                    .build(),
            )
            .send()
            .await
            .map_err(aws("s3", "PutPublicAccessBlock"))?;
        note(
            run,
            match live_tuple {
                Some(l) => format!(
                    "Block Public Access was (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets) = {l:?}; set to {want_tuple:?}"
                ),
                None => "Block Public Access: all four settings on".into(),
            },
        );
    }

    // Ownership.
    if let Some(own) = &b.ownership {
        let live = match s3
            .get_bucket_ownership_controls()
            .bucket(&b.name)
            .send()
            .await
        {
            Ok(o) => o
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_string()),
            Err(e) => {
                let e = aws("s3", "GetBucketOwnershipControls")(e);
                if !has_code(&e, &["OwnershipControlsNotFoundError"]) {
                    return Err(e);
                }
                None
            }
        };
        if live.as_deref() != Some(own.as_str()) {
            if adopted {
                state.record_restore(Restore::BucketOwnership {
                    bucket: b.name.clone(),
                    ownership: live.clone(),
                });
            }
            s3.put_bucket_ownership_controls()
                .bucket(&b.name)
                .ownership_controls(
                    s3t::OwnershipControls::builder()
                        .rules(
                            s3t::OwnershipControlsRule::builder()
                                .object_ownership(s3t::ObjectOwnership::from(own.as_str()))
                                .build()
                                .map_err(|e| DeployError::Config(e.to_string()))?,
                        )
                        .build()
                        .map_err(|e| DeployError::Config(e.to_string()))?,
                )
                .send()
                .await
                .map_err(aws("s3", "PutBucketOwnershipControls"))?;
            note(
                run,
                format!(
                    "object ownership {} (was {})",
                    own,
                    live.as_deref().unwrap_or("unset")
                ),
            );
        }
    }

    // Default encryption (the key is bound by Step 1).
    let enc = &b.default_encryption;
    let key = state
        .bindings
        .resolve_str(&enc.kms_master_key_id)
        .map_err(|e| DeployError::Policy(e.to_string()))?;
    let live = match s3.get_bucket_encryption().bucket(&b.name).send().await {
        Ok(o) => o
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .map(|r| {
                let d = r.apply_server_side_encryption_by_default();
                (
                    d.map(|d| d.sse_algorithm().as_str().to_string())
                        .unwrap_or_default(),
                    d.and_then(|d| d.kms_master_key_id())
                        .unwrap_or_default()
                        .to_string(),
                    r.bucket_key_enabled().unwrap_or(false),
                )
            }),
        Err(e) => {
            let e = aws("s3", "GetBucketEncryption")(e);
            if !has_code(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) {
                return Err(e);
            }
            None
        }
    };
    let want_enc = (
        enc.sse_algorithm.clone(),
        key.clone(),
        enc.bucket_key_enabled,
    );
    let same_key = |live: &str| {
        live == key
            || state
                .key
                .as_ref()
                .is_some_and(|k| live == k.key_id || live == k.key_arn)
    };
    let matches = live
        .as_ref()
        .is_some_and(|l| l.0 == want_enc.0 && same_key(&l.1) && l.2 == want_enc.2);
    if !matches {
        if adopted {
            state.record_restore(Restore::BucketEncryption {
                bucket: b.name.clone(),
                setting: live.clone(),
            });
        }
        s3.put_bucket_encryption()
            .bucket(&b.name)
            .server_side_encryption_configuration(
                s3t::ServerSideEncryptionConfiguration::builder()
                    .rules(
                        s3t::ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                s3t::ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(s3t::ServerSideEncryption::from(
                                        enc.sse_algorithm.as_str(),
                                    ))
                                    .kms_master_key_id(&key)
                                    .build()
                                    .map_err(|e| DeployError::Config(e.to_string()))?,
                            )
                            .bucket_key_enabled(enc.bucket_key_enabled)
                            .build(),
                    )
                    .build()
                    .map_err(|e| DeployError::Config(e.to_string()))?,
            )
            .send()
            .await
            .map_err(aws("s3", "PutBucketEncryption"))?;
        note(
            run,
            match live {
                Some(l) => format!(
                    "default encryption was ({}, {}, bucket key {}); set to ({}, {key}, bucket key {})",
                    l.0,
                    if l.1.is_empty() { "no key" } else { &l.1 },
                    l.2,
                    want_enc.0,
                    want_enc.2
                ),
                None => format!("default encryption {} with {key}", enc.sse_algorithm),
            },
        );
    }

    // Versioning.
    if b.versioning {
        let live = s3
            .get_bucket_versioning()
            .bucket(&b.name)
            .send()
            .await
            .map_err(aws("s3", "GetBucketVersioning"))?;
        if live.status() != Some(&s3t::BucketVersioningStatus::Enabled) {
            if adopted {
                state.record_restore(Restore::BucketVersioning {
                    bucket: b.name.clone(),
                    status: live.status().map(|s| s.as_str().to_string()),
                });
            }
            s3.put_bucket_versioning()
                .bucket(&b.name)
                .versioning_configuration(
                    s3t::VersioningConfiguration::builder()
                        .status(s3t::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(aws("s3", "PutBucketVersioning"))?;
            note(
                run,
                format!(
                    "versioning enabled (was {})",
                    live.status().map(|s| s.as_str()).unwrap_or("never enabled")
                ),
            );
        }
    }

    // Tags: the blueprint's and the ownership tags. An adopted bucket keeps every tag it had
    // (its owner's included) and gets this deployment's adoption mark.
    let live = bucket_tags(&s3, &b.name)
        .await?
        .map_err(|why| DeployError::Conflict(format!("bucket {}: {why}", b.name)))?;
    let mut want: Tags = if adopted { live.clone() } else { Tags::new() };
    want.extend(b.tags.clone());
    if adopted {
        want.insert(cx.me.adopted_key(), cx.me.blueprint.clone());
    } else {
        want.extend(cx.creation_tags());
    }
    if live != want {
        if adopted {
            state.record_restore(Restore::BucketTags {
                bucket: b.name.clone(),
                tags: (!live.is_empty()).then_some(live),
            });
        }
        put_bucket_tags(&s3, &b.name, &want).await?;
        note(run, "bucket tags set".into());
    }
    state.bucket_untagged = false;
    Ok(())
}

async fn put_bucket_tags(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    tags: &Tags,
) -> Result<(), DeployError> {
    use aws_sdk_s3::types as s3t;
    let mut tagging = s3t::Tagging::builder();
    for (k, v) in tags {
        tagging = tagging.tag_set(
            s3t::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| DeployError::Config(e.to_string()))?,
        );
    }
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            tagging
                .build()
                .map_err(|e| DeployError::Config(e.to_string()))?,
        )
        .send()
        .await
        .map_err(aws("s3", "PutBucketTagging"))?;
    Ok(())
}

// ---------------------------------------------------------------- Steps 3 and 5: roles

async fn ensure_role(
    role: &RolePlan,
    target: &Target,
    state: &mut State,
    run: &mut Run,
    cx: &Cx<'_>,
) -> Result<(), DeployError> {
    let iam = &target.clients(&role.account)?.iam;
    let trust = resolve(&role.trust_policy, &state.bindings)?;
    let owner = cx.survey.role(&role.account, &role.name);
    let mut adopted = false;
    let (arn, role_id) = match &owner {
        Owner::Absent => {
            let mut create = iam
                .create_role()
                .role_name(&role.name)
                .assume_role_policy_document(doc(&trust))
                .description(&role.description);
            if let Some(d) = role.max_session_duration {
                create = create.max_session_duration(i32::try_from(d).unwrap_or(3600));
            }
            for (k, v) in cx.creation_tags() {
                create = create.tags(iam_tag(&k, &v)?);
            }
            let out = create.send().await.map_err(aws("iam", "CreateRole"))?;
            run.created(format!("role {}", role.name));
            let r = out
                .role()
                .ok_or_else(|| DeployError::Conflict("CreateRole returned no role".into()))?;
            (r.arn().to_string(), r.role_id().to_string())
        }
        Owner::Ours | Owner::Adopted | Owner::Foreign(_) => {
            if let Owner::Foreign(who) = &owner {
                if !cx.adopt.contains(&role.name) {
                    return Err(DeployError::Conflict(format!(
                        "role {} is not this deployment's ({who})",
                        role.name
                    )));
                }
                iam.tag_role()
                    .role_name(&role.name)
                    .tags(iam_tag(&cx.me.adopted_key(), &cx.me.blueprint)?)
                    .send()
                    .await
                    .map_err(aws("iam", "TagRole"))?;
                run.drift(format!(
                    "adopted IAM role {} ({who}; --adopt {})",
                    role.name, role.name
                ));
            }
            adopted = owner != Owner::Ours;
            let out = iam
                .get_role()
                .role_name(&role.name)
                .send()
                .await
                .map_err(aws("iam", "GetRole"))?;
            let r = out
                .role()
                .ok_or_else(|| DeployError::Conflict("GetRole returned no role".into()))?;
            let live = policy::parse_live(r.assume_role_policy_document().unwrap_or("{}"))
                .map_err(DeployError::Policy)?;
            if !policy::same(&trust, &live) {
                let diff = policy::differences(&trust, &live).join("; ");
                if adopted {
                    state.record_restore(Restore::RoleTrust {
                        account: role.account.clone(),
                        role: role.name.clone(),
                        document: live.to_string(),
                    });
                }
                iam.update_assume_role_policy()
                    .role_name(&role.name)
                    .policy_document(doc(&trust))
                    .send()
                    .await
                    .map_err(aws("iam", "UpdateAssumeRolePolicy"))?;
                run.drift(format!(
                    "role {} trust policy drifted ({diff}); corrected",
                    role.name
                ));
            }
            (r.arn().to_string(), r.role_id().to_string())
        }
    };
    let previous = state
        .roles
        .iter()
        .position(|r| r.account == role.account && r.name == role.name)
        .map(|i| state.roles.remove(i));
    state.roles.push(RoleState {
        account: role.account.clone(),
        name: role.name.clone(),
        arn,
        role_id,
        adopted,
        instance_profile: role.instance_profile.clone(),
        instance_profile_id: previous
            .as_ref()
            .and_then(|p| p.instance_profile_id.clone()),
        instance_profile_adopted: previous
            .as_ref()
            .is_some_and(|p| p.instance_profile_adopted),
    });
    for p in &role.inline_policies {
        let want = resolve(&p.policy, &state.bindings)?;
        let live = match iam
            .get_role_policy()
            .role_name(&role.name)
            .policy_name(&p.name)
            .send()
            .await
        {
            Ok(o) => Some(policy::parse_live(o.policy_document()).map_err(DeployError::Policy)?),
            Err(e) => {
                let e = aws("iam", "GetRolePolicy")(e);
                if !has_code(&e, &["NoSuchEntity"]) {
                    return Err(e);
                }
                None
            }
        };
        let differs = live.as_ref().is_none_or(|l| !policy::same(&want, l));
        if differs {
            if adopted {
                state.record_restore(Restore::RoleInlinePolicy {
                    account: role.account.clone(),
                    role: role.name.clone(),
                    policy: p.name.clone(),
                    document: live.as_ref().map(|l| l.to_string()),
                });
            }
            iam.put_role_policy()
                .role_name(&role.name)
                .policy_name(&p.name)
                .policy_document(doc(&want))
                .send()
                .await
                .map_err(aws("iam", "PutRolePolicy"))?;
            match live {
                None if run.created => run.changes.push(format!("inline policy {}", p.name)),
                None => run.drift(format!(
                    "role {} inline policy {} was missing; put",
                    role.name, p.name
                )),
                Some(l) => run.drift(format!(
                    "role {} inline policy {} drifted ({}); corrected",
                    role.name,
                    p.name,
                    policy::differences(&want, &l).join("; ")
                )),
            }
        }
    }
    if !role.managed_policy_arns.is_empty() {
        let attached = iam
            .list_attached_role_policies()
            .role_name(&role.name)
            .send()
            .await
            .map_err(aws("iam", "ListAttachedRolePolicies"))?;
        for arn in &role.managed_policy_arns {
            if !attached
                .attached_policies()
                .iter()
                .any(|a| a.policy_arn() == Some(arn.as_str()))
            {
                if adopted {
                    state.record_restore(Restore::RoleManagedPolicy {
                        account: role.account.clone(),
                        role: role.name.clone(),
                        arn: arn.clone(),
                    });
                }
                iam.attach_role_policy()
                    .role_name(&role.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(aws("iam", "AttachRolePolicy"))?;
                run.drift(format!("managed policy {arn} attached"));
            }
        }
    }
    if let Some(profile) = &role.instance_profile {
        ensure_instance_profile(role, profile, iam, state, run, cx).await?;
    }
    Ok(())
}

async fn ensure_instance_profile(
    role: &RolePlan,
    profile: &str,
    iam: &aws_sdk_iam::Client,
    state: &mut State,
    run: &mut Run,
    cx: &Cx<'_>,
) -> Result<(), DeployError> {
    let owner = cx.survey.profile(&role.account, profile);
    let (id, roles_in) = match &owner {
        Owner::Absent => {
            let mut create = iam.create_instance_profile().instance_profile_name(profile);
            for (k, v) in cx.creation_tags() {
                create = create.tags(iam_tag(&k, &v)?);
            }
            let out = create
                .send()
                .await
                .map_err(aws("iam", "CreateInstanceProfile"))?;
            run.created(format!("instance profile {profile}"));
            let id = out
                .instance_profile()
                .map(|p| p.instance_profile_id().to_string())
                .unwrap_or_default();
            (id, Vec::new())
        }
        Owner::Ours | Owner::Adopted | Owner::Foreign(_) => {
            if let Owner::Foreign(who) = &owner {
                if !cx.adopt.iter().any(|a| a == profile) {
                    return Err(DeployError::Conflict(format!(
                        "instance profile {profile} is not this deployment's ({who})"
                    )));
                }
                iam.tag_instance_profile()
                    .instance_profile_name(profile)
                    .tags(iam_tag(&cx.me.adopted_key(), &cx.me.blueprint)?)
                    .send()
                    .await
                    .map_err(aws("iam", "TagInstanceProfile"))?;
                run.drift(format!(
                    "adopted IAM instance profile {profile} ({who}; --adopt {profile})"
                ));
            }
            let out = iam
                .get_instance_profile()
                .instance_profile_name(profile)
                .send()
                .await
                .map_err(aws("iam", "GetInstanceProfile"))?;
            let p = out.instance_profile().ok_or_else(|| {
                DeployError::Conflict("GetInstanceProfile returned no instance profile".into())
            })?;
            (
                p.instance_profile_id().to_string(),
                p.roles()
                    .iter()
                    .map(|r| r.role_name().to_string())
                    .collect(),
            )
        }
    };
    let adopted = !matches!(owner, Owner::Absent | Owner::Ours);
    if let Some(r) = state
        .roles
        .iter_mut()
        .find(|r| r.account == role.account && r.name == role.name)
    {
        r.instance_profile_id = Some(id);
        r.instance_profile_adopted = adopted;
    }
    if !roles_in.contains(&role.name) {
        if adopted {
            state.record_restore(Restore::ProfileRole {
                account: role.account.clone(),
                profile: profile.to_string(),
                role: role.name.clone(),
            });
        }
        iam.add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(&role.name)
            .send()
            .await
            .map_err(aws("iam", "AddRoleToInstanceProfile"))?;
        if !run.created {
            run.drift(format!(
                "instance profile {profile} did not hold role {}; added",
                role.name
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- Step 6: network

/// The `Name` tag and the ownership tags, at creation.
fn name_tag(kind: ResourceType, name: &str, cx: &Cx<'_>) -> TagSpecification {
    let mut spec = TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build());
    for (k, v) in cx.creation_tags() {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

async fn ensure_network(
    plan: &Plan,
    endpoint: &str,
    target: &Target,
    state: &mut State,
    run: &mut Run,
    cx: &Cx<'_>,
) -> Result<(), DeployError> {
    let net = plan
        .networks
        .iter()
        .find(|n| n.endpoint.name == endpoint)
        .ok_or_else(|| DeployError::Config(format!("no network with endpoint {endpoint}")))?;
    let ec2 = &target.clients(&net.account)?.ec2;
    let known = state.network(endpoint).cloned().unwrap_or_default();

    // VPC.
    let mut vpc_id = None;
    if let Some(id) = &known.vpc_id {
        let live = ec2.describe_vpcs().vpc_ids(id).send().await;
        let live = unless_gone(
            live.map_err(aws("ec2", "DescribeVpcs")),
            &["InvalidVpcID.NotFound"],
        )?;
        if live.is_some_and(|o| !o.vpcs().is_empty()) {
            vpc_id = Some(id.clone());
        } else {
            run.drift(format!("VPC {id} is gone; recreating"));
        }
    }
    let vpc_id = match vpc_id {
        Some(v) => v,
        None => {
            let out = ec2
                .create_vpc()
                .cidr_block(&net.vpc.cidr)
                .tag_specifications(name_tag(ResourceType::Vpc, &net.vpc.name, cx))
                .send()
                .await
                .map_err(aws("ec2", "CreateVpc"))?;
            let id = out
                .vpc()
                .and_then(|v| v.vpc_id())
                .unwrap_or_default()
                .to_string();
            run.created(format!("VPC {id} ({})", net.vpc.cidr));
            state.network_mut(endpoint, &net.account).subnet_id = None;
            state.network_mut(endpoint, &net.account).vpce_id = None;
            id
        }
    };
    state.network_mut(endpoint, &net.account).vpc_id = Some(vpc_id.clone());
    state
        .bindings
        .insert(Reference::VpcId(endpoint.to_string()), vpc_id.clone());

    // Subnet.
    let mut subnet_id = None;
    if let Some(id) = &state.network(endpoint).and_then(|n| n.subnet_id.clone()) {
        let live = ec2.describe_subnets().subnet_ids(id).send().await;
        let live = unless_gone(
            live.map_err(aws("ec2", "DescribeSubnets")),
            &["InvalidSubnetID.NotFound"],
        )?;
        if live.is_some_and(|o| !o.subnets().is_empty()) {
            subnet_id = Some(id.clone());
        } else {
            run.drift(format!("subnet {id} is gone; recreating"));
        }
    }
    let subnet_id = match subnet_id {
        Some(s) => s,
        None => {
            let out = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(&net.subnet.cidr)
                .tag_specifications(name_tag(ResourceType::Subnet, &net.subnet.name, cx))
                .send()
                .await
                .map_err(aws("ec2", "CreateSubnet"))?;
            let id = out
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap_or_default()
                .to_string();
            run.created(format!("subnet {id} ({})", net.subnet.cidr));
            id
        }
    };
    state.network_mut(endpoint, &net.account).subnet_id = Some(subnet_id);

    // The VPC's main route table (the subnet's, as it has no explicit association).
    let rts = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
        .filters(
            Filter::builder()
                .name("association.main")
                .values("true")
                .build(),
        )
        .send()
        .await
        .map_err(aws("ec2", "DescribeRouteTables"))?;
    let route_table = rts
        .route_tables()
        .first()
        .and_then(|r| r.route_table_id())
        .map(str::to_string);
    state.network_mut(endpoint, &net.account).route_table_id = route_table.clone();

    // The endpoint.
    let want_policy = match &net.endpoint.policy {
        Some(t) => Some(resolve(t, &state.bindings)?),
        None => None,
    };
    let mut vpce = None;
    if let Some(id) = &state.network(endpoint).and_then(|n| n.vpce_id.clone()) {
        if let Some(e) = crate::survey::live_vpc_endpoint(ec2, id).await? {
            vpce = Some(id.clone());
            if net.endpoint.associate_route_table
                && let Some(rt) = &route_table
                && !e.route_table_ids().contains(rt)
            {
                ec2.modify_vpc_endpoint()
                    .vpc_endpoint_id(id)
                    .add_route_table_ids(rt)
                    .send()
                    .await
                    .map_err(aws("ec2", "ModifyVpcEndpoint"))?;
                run.drift(format!(
                    "endpoint {id} was not on route table {rt}; associated"
                ));
            }
            if let Some(want) = &want_policy {
                let live = policy::parse_live(e.policy_document().unwrap_or("{}"))
                    .map_err(DeployError::Policy)?;
                if !policy::same(want, &live) {
                    let diff = policy::differences(want, &live).join("; ");
                    ec2.modify_vpc_endpoint()
                        .vpc_endpoint_id(id)
                        .policy_document(doc(want))
                        .send()
                        .await
                        .map_err(aws("ec2", "ModifyVpcEndpoint"))?;
                    run.drift(format!("endpoint {id} policy drifted ({diff}); corrected"));
                }
            }
        } else {
            run.drift(format!("VPC endpoint {id} is gone; recreating"));
        }
    }
    let vpce = match vpce {
        Some(v) => v,
        None => {
            let mut create = ec2
                .create_vpc_endpoint()
                .vpc_id(&vpc_id)
                .service_name(&net.endpoint.service_name)
                .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::from(
                    net.endpoint.kind.as_aws(),
                ))
                .tag_specifications(name_tag(ResourceType::VpcEndpoint, &net.endpoint.name, cx));
            if net.endpoint.associate_route_table
                && let Some(rt) = &route_table
            {
                create = create.route_table_ids(rt);
            }
            if let Some(p) = &want_policy {
                create = create.policy_document(doc(p));
            }
            let out = create
                .send()
                .await
                .map_err(aws("ec2", "CreateVpcEndpoint"))?;
            let id = out
                .vpc_endpoint()
                .and_then(|e| e.vpc_endpoint_id())
                .unwrap_or_default()
                .to_string();
            run.created(format!("VPC endpoint {id} ({})", net.endpoint.service_name));
            id
        }
    };
    state.network_mut(endpoint, &net.account).vpce_id = Some(vpce.clone());
    state
        .bindings
        .insert(Reference::VpceId(endpoint.to_string()), vpce);
    Ok(())
}

// ---------------------------------------------------------------- Step 7: bucket policy

async fn ensure_bucket_policy(
    plan: &Plan,
    target: &Target,
    state: &mut State,
    run: &mut Run,
    fresh_bucket: bool,
) -> Result<(), DeployError> {
    let b = &plan.bucket;
    let want = resolve(&b.policy, &state.bindings)?;
    let (s3, _) = target.bucket_s3(state);
    let live_text = match s3.get_bucket_policy().bucket(&b.name).send().await {
        Ok(o) => Some(o.policy().unwrap_or("{}").to_string()),
        Err(e) => {
            let e = aws("s3", "GetBucketPolicy")(e);
            if !has_code(&e, &["NoSuchBucketPolicy"]) {
                return Err(e);
            }
            None
        }
    };
    let live = match &live_text {
        Some(t) => Some(policy::parse_live(t).map_err(DeployError::Policy)?),
        None => None,
    };
    match &live {
        Some(l) if policy::same(&want, l) => return Ok(()),
        _ => {}
    }
    if state.bucket_adopted {
        state.record_restore(Restore::BucketPolicy {
            bucket: b.name.clone(),
            document: live_text,
        });
    }
    s3.put_bucket_policy()
        .bucket(&b.name)
        .policy(doc(&want))
        .send()
        .await
        .map_err(aws("s3", "PutBucketPolicy"))?;
    match live {
        None if fresh_bucket => run.created(format!("bucket policy of {}", b.name)),
        None => run.drift(format!("bucket {} had no policy; put", b.name)),
        Some(l) => run.drift(format!(
            "bucket policy of {} drifted ({}); corrected",
            b.name,
            policy::differences(&want, &l).join("; ")
        )),
    }
    Ok(())
}

// ---------------------------------------------------------------- Step 8: instance

async fn ensure_instance(
    plan: &Plan,
    endpoint: &str,
    target: &Target,
    state: &mut State,
    run: &mut Run,
    cx: &Cx<'_>,
) -> Result<(), DeployError> {
    let net = plan
        .networks
        .iter()
        .find(|n| n.endpoint.name == endpoint)
        .ok_or_else(|| DeployError::Config(format!("no network with endpoint {endpoint}")))?;
    let Some(inst) = &net.instance else {
        return Ok(());
    };
    let ec2 = &target.clients(&net.account)?.ec2;
    if let Some(id) = state.network(endpoint).and_then(|n| n.instance_id.clone()) {
        let live = ec2.describe_instances().instance_ids(&id).send().await;
        let live = unless_gone(
            live.map_err(aws("ec2", "DescribeInstances")),
            &["InvalidInstanceID.NotFound"],
        )?;
        let state_name = live
            .iter()
            .flat_map(|o| o.reservations())
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id.as_str()))
            .and_then(|i| i.state())
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string());
        match state_name.as_deref() {
            Some("running") | Some("pending") => return Ok(()),
            other => run.drift(format!(
                "instance {id} is {}; launching a new one",
                other.unwrap_or("gone")
            )),
        }
    }
    let subnet = state
        .network(endpoint)
        .and_then(|n| n.subnet_id.clone())
        .ok_or_else(|| DeployError::Config("the network's subnet does not exist".into()))?;
    // A new instance profile takes a few seconds to be usable by EC2 on AWS.
    let mut attempt = 0;
    let out = loop {
        let res = ec2
            .run_instances()
            .image_id(&inst.image_id)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                inst.instance_type.as_str(),
            ))
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet)
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                    .name(&inst.instance_profile)
                    .build(),
            )
            .tag_specifications(name_tag(ResourceType::Instance, &inst.name, cx))
            .send()
            .await
            .map_err(aws("ec2", "RunInstances"));
        match res {
            Err(e) if has_code(&e, &["InvalidParameterValue"]) && attempt < 12 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            other => break other?,
        }
    };
    let id = out
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_string();
    run.created(format!(
        "instance {id} ({}, profile {})",
        inst.instance_type, inst.instance_profile
    ));
    state.network_mut(endpoint, &net.account).instance_id = Some(id);
    Ok(())
}
