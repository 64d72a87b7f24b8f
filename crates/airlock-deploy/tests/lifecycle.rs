//! apply → verify → apply again → destroy against a real local endpoint over HTTPS, for both
//! policy profiles; drift correction; a layer removed by hand makes verify fail.

mod common;

use airlock_blueprint::Profile;
use airlock_deploy::ownership::{TAG_BLUEPRINT, TAG_DEPLOYMENT};
use airlock_deploy::verify::{Status, expected_failures};
use airlock_deploy::{Outcome, State, apply, destroy, verify};
use common::seed::{BUCKET, seed_plan};
use common::*;

fn lifecycle(profile: Profile) {
    let local = Local::start();
    let plan = seed_plan(profile);
    let target = local.target(None);
    let state = local.state_path();

    let first = local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert_eq!(first.changed(), plan.steps.len(), "{:#?}", first.steps);
    assert!(first.steps.iter().all(|s| s.outcome == Outcome::Created));
    let saved = State::read(&state).unwrap().unwrap();
    assert!(saved.key.is_some() && saved.bucket.as_deref() == Some(BUCKET));
    assert!(saved.networks[0].instance_id.is_some());
    // Everything created carries the deployment's tags from its creation on.
    let dep = saved.deployment_id.clone();
    assert!(dep.starts_with("d-"), "{saved:?}");
    local.rt.block_on(async {
        let has = |tags: Vec<(String, String)>, what: &str| {
            assert!(
                tags.contains(&(TAG_DEPLOYMENT.into(), dep.clone()))
                    && tags.contains(&(TAG_BLUEPRINT.into(), "seed".into())),
                "{what}: {tags:?}"
            );
        };
        for r in &saved.roles {
            let iam = &target.clients(&r.account).unwrap().iam;
            let got = iam.get_role().role_name(&r.name).send().await.unwrap();
            let tags = got.role().unwrap().tags().iter();
            has(
                tags.map(|t| (t.key().into(), t.value().into())).collect(),
                &r.name,
            );
            if let Some(p) = &r.instance_profile {
                let got = iam
                    .list_instance_profile_tags()
                    .instance_profile_name(p)
                    .send()
                    .await
                    .unwrap();
                let tags = got
                    .tags()
                    .iter()
                    .map(|t| (t.key().into(), t.value().into()));
                has(tags.collect(), p);
            }
        }
        let key = &saved.key.as_ref().unwrap().key_id;
        let got = target
            .storage
            .kms
            .list_resource_tags()
            .key_id(key)
            .send()
            .await
            .unwrap();
        let tags = got
            .tags()
            .iter()
            .map(|t| (t.tag_key().into(), t.tag_value().into()));
        has(tags.collect(), "key");
        let (s3, _) = target.bucket_s3(&saved);
        let got = s3.get_bucket_tagging().bucket(BUCKET).send().await.unwrap();
        let tags = got
            .tag_set()
            .iter()
            .map(|t| (t.key().into(), t.value().into()));
        has(tags.collect(), "bucket");
        let net = &saved.networks[0];
        let vpcs = target
            .consumer
            .ec2
            .describe_vpcs()
            .vpc_ids(net.vpc_id.as_ref().unwrap());
        let got = vpcs.send().await.unwrap();
        let tags = got.vpcs()[0].tags().iter();
        has(
            tags.map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
                .collect(),
            "VPC",
        );
    });

    let report = local
        .rt
        .block_on(verify(&plan, &target, &local.instance(), &state))
        .unwrap();
    let mut expected = expected_failures(&plan);
    expected.sort();
    let mut failed = report.failed_ids();
    failed.sort();
    assert_eq!(failed, expected, "{:#?}", report.checks);
    assert!(
        report.checks.iter().all(|c| c.status != Status::Skipped),
        "{:#?}",
        report.checks
    );

    let second = local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert_eq!(second.changed(), 0, "{:#?}", second.steps);

    let gone = local
        .rt
        .block_on(destroy(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert!(gone.removed() > 0);
    assert!(gone.left().is_empty(), "{:#?}", gone.left());
    assert!(!state.exists());
    // Idempotent: nothing left to remove.
    let again = local
        .rt
        .block_on(destroy(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert_eq!(again.removed(), 0, "{:#?}", again.steps);
    let head = local
        .rt
        .block_on(target.storage.s3.head_bucket().bucket(BUCKET).send());
    assert!(head.is_err(), "the bucket is gone");
}

#[test]
fn hardened_apply_verify_reapply_destroy() {
    lifecycle(Profile::Hardened);
}

#[test]
fn as_written_apply_verify_reapply_destroy() {
    lifecycle(Profile::AsWritten);
}

#[test]
fn drift_is_reported_and_corrected_and_a_missing_layer_fails_verify() {
    let local = Local::start();
    let plan = seed_plan(Profile::Hardened);
    let target = local.target(None);
    let state = local.state_path();
    local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    let saved = State::read(&state).unwrap().unwrap();
    let (bucket_admin, _) = target.bucket_s3(&saved);

    // Edit the bucket policy by hand: every deny removed, the first grant widened to s3:*.
    let mut by_hand = plan.bucket.policy.resolve(&saved.bindings).unwrap();
    let stmts = by_hand["Statement"].as_array_mut().unwrap();
    let first_deny = stmts
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .and_then(|s| s["Sid"].as_str())
        .unwrap()
        .to_string();
    stmts.retain(|s| s["Effect"] == "Allow");
    stmts[0]["Action"] = serde_json::json!("s3:*");
    let widened = stmts[0]["Sid"].as_str().unwrap().to_string();
    local
        .rt
        .block_on(
            bucket_admin
                .put_bucket_policy()
                .bucket(BUCKET)
                .policy(by_hand.to_string())
                .send(),
        )
        .unwrap();
    // And turn Block Public Access off.
    local
        .rt
        .block_on(
            bucket_admin
                .put_public_access_block()
                .bucket(BUCKET)
                .public_access_block_configuration(
                    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(false)
                        .ignore_public_acls(false)
                        .block_public_policy(false)
                        .restrict_public_buckets(false)
                        .build(),
                )
                .send(),
        )
        .unwrap();
    let fixed = local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    let drift = fixed.drift();
    assert!(
        drift
            .iter()
            .any(|d| d.contains("bucket policy") && d.contains(&format!("`{first_deny}` missing"))),
        "{drift:#?}"
    );
    assert!(
        drift
            .iter()
            .any(|d| d.contains(&format!("`{widened}` changed (Action)"))),
        "{drift:#?}"
    );
    assert!(
        drift.iter().any(|d| d.contains("Block Public Access")),
        "{drift:#?}"
    );
    assert_eq!(fixed.changed(), 2, "{:#?}", fixed.steps);
    let again = local
        .rt
        .block_on(apply(&plan, &target, &state, &mut |_| {}))
        .unwrap();
    assert_eq!(again.changed(), 0);

    // Delete the bucket policy by hand: the outside-VPC probe must fail and say so.
    local
        .rt
        .block_on(bucket_admin.delete_bucket_policy().bucket(BUCKET).send())
        .unwrap();
    let report = local
        .rt
        .block_on(verify(&plan, &target, &local.instance(), &state))
        .unwrap();
    let outside = report
        .checks
        .iter()
        .find(|c| c.id == "probe-outside-vpc")
        .unwrap();
    assert_eq!(outside.status, Status::Failed, "{outside:#?}");
    assert!(
        outside.why.contains("VPC-endpoint layer is missing"),
        "{outside:#?}"
    );
    assert!(report.failed() >= 1);
}
