//! Destroy never touches what the blueprint did not create (issue #23, part 1), end to end
//! against a real local endpoint: a second blueprint reusing the first one's role and key
//! names, and resources made by hand with a blueprint's names.

mod common;

use airlock_blueprint::{Plan, Profile};
use airlock_deploy::apply::ApplyOptions;
use airlock_deploy::ownership::{TAG_BLUEPRINT, TAG_DEPLOYMENT};
use airlock_deploy::verify::expected_failures;
use airlock_deploy::{DeployError, State, Target, apply, apply_with, destroy, policy};
use common::seed::{BUCKET, seed_plan};
use common::*;

const ALIAS: &str = "alias/cross-account-s3-key";
const STORAGE_ROLE: &str = "CrossAccountS3AccessRole";
const SECOND_BUCKET: &str = "second-bucket-demo";

fn seed_text() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.toml"),
    )
    .unwrap()
}

/// Everything of a role that apply or destroy could change: id, trust, inline policies, tags.
async fn role_snapshot(iam: &aws_sdk_iam::Client, name: &str) -> Option<Vec<String>> {
    let r = iam.get_role().role_name(name).send().await.ok()?;
    let r = r.role().unwrap();
    let mut out = vec![
        format!("id {}", r.role_id()),
        format!(
            "trust {}",
            policy::canonical(
                &policy::parse_live(r.assume_role_policy_document().unwrap()).unwrap()
            )
        ),
    ];
    let mut tags: Vec<String> = r
        .tags()
        .iter()
        .map(|t| format!("tag {}={}", t.key(), t.value()))
        .collect();
    tags.sort();
    out.extend(tags);
    let names = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap();
    for p in names.policy_names() {
        let d = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(p)
            .send()
            .await
            .unwrap();
        out.push(format!(
            "inline {p} {}",
            policy::canonical(&policy::parse_live(d.policy_document()).unwrap())
        ));
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap();
    for a in attached.attached_policies() {
        out.push(format!("managed {}", a.policy_arn().unwrap_or_default()));
    }
    Some(out)
}

async fn profile_snapshot(iam: &aws_sdk_iam::Client, name: &str) -> Option<Vec<String>> {
    let p = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .ok()?;
    let p = p.instance_profile().unwrap();
    let mut out = vec![format!("id {}", p.instance_profile_id())];
    out.extend(p.roles().iter().map(|r| format!("role {}", r.role_name())));
    let mut tags: Vec<String> = p
        .tags()
        .iter()
        .map(|t| format!("tag {}={}", t.key(), t.value()))
        .collect();
    tags.sort();
    out.extend(tags);
    Some(out)
}

async fn key_snapshot(kms: &aws_sdk_kms::Client, id: &str) -> Vec<String> {
    let m = kms.describe_key().key_id(id).send().await.unwrap();
    let m = m.key_metadata().unwrap();
    let pol = kms
        .get_key_policy()
        .key_id(id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let tags = kms.list_resource_tags().key_id(id).send().await.unwrap();
    let aliases = kms.list_aliases().key_id(id).send().await.unwrap();
    let rotation = kms
        .get_key_rotation_status()
        .key_id(id)
        .send()
        .await
        .unwrap();
    let mut out = vec![
        format!("id {}", m.key_id()),
        format!("state {:?} enabled {}", m.key_state(), m.enabled()),
        format!("rotation {}", rotation.key_rotation_enabled()),
        format!(
            "policy {}",
            policy::canonical(&policy::parse_live(pol.policy().unwrap()).unwrap())
        ),
    ];
    out.extend(
        tags.tags()
            .iter()
            .map(|t| format!("tag {}={}", t.tag_key(), t.tag_value())),
    );
    out.extend(
        aliases
            .aliases()
            .iter()
            .map(|a| format!("alias {}", a.alias_name().unwrap_or_default())),
    );
    out
}

/// The first deployment's roles, instance profile and key, as one comparable value.
fn first_snapshot(local: &Local, target: &Target, key_id: &str) -> Vec<String> {
    local.rt.block_on(async {
        let mut out = Vec::new();
        for (iam, role) in [
            (&target.storage.iam, STORAGE_ROLE),
            (&target.storage.iam, "BreakGlass"),
            (&target.consumer.iam, "EC2CrossAccountAssumeRole"),
        ] {
            let snap = role_snapshot(iam, role).await;
            assert!(snap.is_some(), "role {role} exists");
            out.push(format!("role {role}: {:?}", snap));
        }
        out.push(format!(
            "profile: {:?}",
            profile_snapshot(&target.consumer.iam, "EC2CrossAccountAssumeRole").await
        ));
        out.push(format!(
            "key: {:?}",
            key_snapshot(&target.storage.kms, key_id).await
        ));
        out
    })
}

/// ListBuckets: the bucket policy (which admits only the endpoint) does not apply to it.
fn bucket_exists(local: &Local, target: &Target, bucket: &str) -> bool {
    let listed = local
        .rt
        .block_on(target.storage.s3.list_buckets().send())
        .unwrap();
    listed.buckets().iter().any(|b| b.name() == Some(bucket))
}

#[test]
fn a_second_blueprint_reusing_role_and_key_names_never_changes_the_first() {
    let local = Local::start();
    let target = local.target(None);
    let first = seed_plan(Profile::Hardened);
    let first_state = local.state_path();
    local
        .rt
        .block_on(apply(&first, &target, &first_state, &mut |_| {}))
        .unwrap();
    let saved = State::read(&first_state).unwrap().unwrap();
    assert_eq!(saved.blueprint, "seed");
    assert!(saved.deployment_id.starts_with("d-"), "{saved:?}");
    let key_id = saved.key.as_ref().unwrap().key_id.clone();
    let before = first_snapshot(&local, &target, &key_id);
    assert!(
        before
            .iter()
            .any(|s| s.contains(&format!("tag {TAG_DEPLOYMENT}={}", saved.deployment_id))),
        "{before:#?}"
    );

    // The second blueprint: the seed with another bucket, same role names and key alias.
    let second = Plan::from_toml(
        &seed_text().replace(BUCKET, SECOND_BUCKET),
        Some(Profile::Hardened),
    )
    .unwrap();
    let second_state = airlock_deploy::state_path(&local.dir.path().join("second.toml"));

    // 1. Refused, naming each resource and its owner, before changing anything.
    let refused = local
        .rt
        .block_on(apply(&second, &target, &second_state, &mut |_| {}));
    let err = match refused {
        Err(e @ DeployError::NotOwned { .. }) => e,
        other => panic!(
            "the second apply must refuse: {:#?}",
            other.map(|r| r.steps)
        ),
    };
    let msg = err.to_string();
    for name in [
        ALIAS,
        STORAGE_ROLE,
        "BreakGlass",
        "IAM role EC2CrossAccountAssumeRole",
        "IAM instance profile EC2CrossAccountAssumeRole",
    ] {
        assert!(msg.contains(name), "{name} not named:\n{msg}");
    }
    assert!(msg.contains("created by airlock blueprint `seed`"), "{msg}");
    assert!(msg.contains("--adopt"), "{msg}");
    assert!(msg.contains("apply changed nothing"), "{msg}");
    assert!(!second_state.exists(), "a refused apply writes no state");
    assert!(
        !bucket_exists(&local, &target, SECOND_BUCKET),
        "no partial apply"
    );
    assert_eq!(first_snapshot(&local, &target, &key_id), before);

    // 2. Adopted knowingly, then destroyed: the first deployment's roles, instance profile and
    //    key come back exactly as they were.
    let DeployError::NotOwned { conflicts } = err else {
        unreachable!()
    };
    let adopt: Vec<String> = conflicts.iter().map(|c| c.name.clone()).collect();
    let adopted = local
        .rt
        .block_on(apply_with(
            &second,
            &target,
            &second_state,
            &ApplyOptions {
                adopt: adopt.clone(),
            },
            &mut |_| {},
        ))
        .unwrap();
    let drift = adopted.drift();
    assert!(
        drift
            .iter()
            .any(|d| d.contains(&format!("adopted IAM role {STORAGE_ROLE}"))),
        "{drift:#?}"
    );
    assert!(bucket_exists(&local, &target, SECOND_BUCKET));
    // A second run is idempotent and keeps it adopted.
    let again = local
        .rt
        .block_on(apply_with(
            &second,
            &target,
            &second_state,
            &ApplyOptions { adopt },
            &mut |_| {},
        ))
        .unwrap();
    assert_eq!(again.changed(), 0, "{:#?}", again.steps);

    let gone = local
        .rt
        .block_on(destroy(&second, &target, &second_state, &mut |_| {}))
        .unwrap();
    let left = gone.left();
    for name in [
        STORAGE_ROLE,
        "BreakGlass",
        "EC2CrossAccountAssumeRole",
        ALIAS,
    ] {
        assert!(
            left.iter()
                .any(|l| l.contains(name) && l.contains("adopted")),
            "{name} not listed as left:\n{left:#?}"
        );
    }
    let removed: Vec<&String> = gone.steps.iter().flat_map(|s| &s.removed).collect();
    assert!(
        removed.iter().any(|r| r.contains(SECOND_BUCKET)),
        "its own bucket is removed: {removed:#?}"
    );
    for r in &removed {
        assert!(
            !r.contains(&key_id) && !r.starts_with("role ") && !r.starts_with("instance profile"),
            "destroy removed the first deployment's {r}"
        );
    }
    assert!(!bucket_exists(&local, &target, SECOND_BUCKET));
    assert!(!second_state.exists());
    let after = first_snapshot(&local, &target, &key_id);
    assert_eq!(after, before, "the first deployment changed");
    assert!(
        after
            .iter()
            .any(|s| s.contains("Enabled") && !s.contains("PendingDeletion")),
        "{after:#?}"
    );

    // The first deployment still works, and its own destroy still removes everything.
    let report = local
        .rt
        .block_on(airlock_deploy::verify(
            &first,
            &target,
            &local.instance(),
            &first_state,
        ))
        .unwrap();
    let mut failed = report.failed_ids();
    failed.sort();
    let mut expected = expected_failures(&first);
    expected.sort();
    assert_eq!(failed, expected, "{:#?}", report.checks);
    let gone = local
        .rt
        .block_on(destroy(&first, &target, &first_state, &mut |_| {}))
        .unwrap();
    assert!(gone.left().is_empty(), "{:#?}", gone.left());
    let kms = &target.storage.kms;
    let m = local
        .rt
        .block_on(kms.describe_key().key_id(&key_id).send())
        .unwrap();
    assert_eq!(
        m.key_metadata().unwrap().key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );
}

async fn bucket_snapshot(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let tags = s3.get_bucket_tagging().bucket(bucket).send().await;
    let mut tags: Vec<String> = tags
        .map(|t| {
            t.tag_set()
                .iter()
                .map(|t| format!("tag {}={}", t.key(), t.value()))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    out.extend(tags);
    out.push(format!(
        "policy {:?}",
        s3.get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|p| p.policy().map(str::to_string))
    ));
    out.push(format!(
        "public access block {:?}",
        s3.get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|p| p.public_access_block_configuration().cloned())
    ));
    out.push(format!(
        "encryption {:?}",
        s3.get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|p| p.server_side_encryption_configuration().cloned())
    ));
    let objects = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    for o in objects.contents() {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        out.push(format!(
            "object {} {}",
            o.key().unwrap(),
            String::from_utf8_lossy(&body)
        ));
    }
    out
}

fn hand_made(local: &Local, target: &Target) -> (Vec<String>, Vec<String>) {
    local.rt.block_on(async {
        let iam = &target.storage.iam;
        iam.create_role()
            .role_name(STORAGE_ROLE)
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sts:AssumeRole"}]}"#,
            )
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("owner")
                    .value("alice")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(STORAGE_ROLE)
            .policy_name("Mine")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap();
        let s3 = &target.storage.s3;
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        s3.put_bucket_tagging()
            .bucket(BUCKET)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("owner")
                            .value("alice")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket(BUCKET)
            .key("alice/notes.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"mine"))
            .send()
            .await
            .unwrap();
        (
            role_snapshot(iam, STORAGE_ROLE).await.unwrap(),
            bucket_snapshot(s3, BUCKET).await,
        )
    })
}

#[test]
fn a_hand_made_role_and_bucket_with_the_blueprint_names_are_refused_and_left() {
    let local = Local::start();
    let target = local.target(None);
    let plan = seed_plan(Profile::Hardened);
    let state = local.state_path();
    let (role_before, bucket_before) = hand_made(&local, &target);
    let snapshot = || {
        local.rt.block_on(async {
            (
                role_snapshot(&target.storage.iam, STORAGE_ROLE)
                    .await
                    .unwrap(),
                bucket_snapshot(&target.storage.s3, BUCKET).await,
            )
        })
    };

    let refused = local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}));
    let msg = match refused {
        Err(e @ DeployError::NotOwned { .. }) => e.to_string(),
        other => panic!("apply must refuse: {:#?}", other.map(|r| r.steps)),
    };
    assert!(
        msg.contains(&format!("IAM role {STORAGE_ROLE}"))
            && msg.contains(&format!("S3 bucket {BUCKET}"))
            && msg.contains("not created by airlock")
            && msg.contains(&format!("--adopt {STORAGE_ROLE}"))
            && msg.contains(&format!("--adopt {BUCKET}")),
        "{msg}"
    );
    // Nothing changed, nothing was created (no partial apply).
    assert_eq!(snapshot(), (role_before.clone(), bucket_before.clone()));
    assert!(!state.exists());
    let alias = local
        .rt
        .block_on(target.storage.kms.describe_key().key_id(ALIAS).send());
    assert!(alias.is_err(), "no key was created");
    let others = local
        .rt
        .block_on(target.storage.iam.get_role().role_name("BreakGlass").send());
    assert!(others.is_err(), "no other role was created");

    // Destroy with no deployment at all: everything of the blueprint's names is left.
    let gone = local
        .rt
        .block_on(destroy(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert_eq!(gone.removed(), 0, "{:#?}", gone.steps);
    let left = gone.left();
    assert!(
        left.contains(&format!("IAM role {STORAGE_ROLE} (not created by airlock)").as_str()),
        "{left:#?}"
    );
    assert!(
        left.contains(&format!("S3 bucket {BUCKET} (not created by airlock)").as_str()),
        "{left:#?}"
    );
    assert_eq!(snapshot(), (role_before.clone(), bucket_before.clone()));

    // Adopted knowingly, applied over, then destroyed: given back as found (versioning aside:
    // S3 can only suspend it again), the object untouched.
    let applied = local
        .rt
        .block_on(apply_with(
            &plan,
            &target,
            &state,
            &ApplyOptions {
                adopt: vec![STORAGE_ROLE.into(), BUCKET.into()],
            },
            &mut |_| {},
        ))
        .unwrap();
    assert!(applied.changed() > 0);
    let tags = local.rt.block_on(async {
        let (s3, _) = target.bucket_s3(&State::read(&state).unwrap().unwrap());
        s3.get_bucket_tagging().bucket(BUCKET).send().await.unwrap()
    });
    assert!(
        tags.tag_set().iter().any(|t| t.key() == "owner")
            && !tags.tag_set().iter().any(|t| t.key() == TAG_BLUEPRINT),
        "an adopted bucket keeps its tags and is not marked created: {tags:?}"
    );
    let gone = local
        .rt
        .block_on(destroy(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    let left = gone.left();
    assert!(
        left.iter()
            .any(|l| l.starts_with(&format!("IAM role {STORAGE_ROLE} (adopted"))),
        "{left:#?}"
    );
    assert!(
        left.iter()
            .any(|l| l.starts_with(&format!("S3 bucket {BUCKET} (adopted"))),
        "{left:#?}"
    );
    assert_eq!(snapshot(), (role_before, bucket_before));
    let versioning = local
        .rt
        .block_on(
            target
                .storage
                .s3
                .get_bucket_versioning()
                .bucket(BUCKET)
                .send(),
        )
        .unwrap();
    assert_eq!(
        versioning.status(),
        Some(&aws_sdk_s3::types::BucketVersioningStatus::Suspended)
    );
}

#[test]
fn a_copied_state_file_proves_nothing() {
    let local = Local::start();
    let target = local.target(None);
    let plan = seed_plan(Profile::Hardened);
    let state = local.state_path();
    local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    let copy = airlock_deploy::state_path(&local.dir.path().join("copy.toml"));
    std::fs::copy(&state, &copy).unwrap();
    let err = local
        .rt
        .block_on(destroy(&plan, &target, &copy, &mut |_| {}))
        .unwrap_err();
    assert!(err.to_string().contains("copy"), "{err}");
    let err = local
        .rt
        .block_on(apply(&plan, &target, &copy, &mut |_| {}))
        .unwrap_err();
    assert!(
        err.to_string().contains("written for blueprint `seed`"),
        "{err}"
    );
    // The original deployment is intact and still its own.
    let again = local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert_eq!(again.changed(), 0, "{:#?}", again.steps);
    let gone = local
        .rt
        .block_on(destroy(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert!(gone.left().is_empty(), "{:#?}", gone.left());
}
