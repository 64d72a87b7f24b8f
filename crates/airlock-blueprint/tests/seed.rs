//! The `as-written` profile of `examples/seed.toml` emits the seed tutorial's JSON exactly: every
//! JSON block of the seed (a verbatim copy in tests/fixtures) and every policy of
//! `examples/seed-as-written.json`.

use airlock_blueprint::plan::{RolePurpose, StepAction};
use airlock_blueprint::{Bindings, Plan, Profile};
use serde_json::Value;

fn seed_toml() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed.toml"
    ))
    .expect("examples/seed.toml")
}

fn seed_json() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed-as-written.json"
    ))
    .expect("examples/seed-as-written.json");
    serde_json::from_str(&text).expect("json")
}

/// The ```json blocks of the seed markdown, in order.
fn seed_blocks() -> Vec<Value> {
    let md = include_str!("fixtures/cross-account-secure-s3.md");
    let mut out = Vec::new();
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```json" {
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push(serde_json::from_str(&body).expect("seed block is JSON"));
        }
    }
    out
}

fn plan(profile: Profile) -> Plan {
    Plan::from_toml(&seed_toml(), Some(profile)).expect("seed.toml plans")
}

#[test]
fn as_written_emits_every_json_block_of_the_seed() {
    let p = plan(Profile::AsWritten);
    let b = Bindings::illustrative(&p);
    let blocks = seed_blocks();
    assert_eq!(blocks.len(), 4, "the seed prints four policies");
    // Step 1: key policy.
    assert_eq!(p.key.policy.resolve(&b).unwrap(), blocks[0]);
    // Step 3: the storage role's inline policy.
    let storage = p
        .roles
        .iter()
        .find(|r| r.purpose == RolePurpose::Storage)
        .unwrap();
    assert_eq!(storage.name, "CrossAccountS3AccessRole");
    assert_eq!(storage.inline_policies[0].name, "S3AndKMSAccess");
    assert_eq!(
        storage.inline_policies[0].policy.resolve(&b).unwrap(),
        blocks[1]
    );
    // Step 5: the EC2 role's inline policy.
    let ec2 = p
        .roles
        .iter()
        .find(|r| r.purpose == RolePurpose::Instance)
        .unwrap();
    assert_eq!(ec2.name, "EC2CrossAccountAssumeRole");
    assert_eq!(ec2.inline_policies[0].name, "AssumeRoleInAccountB");
    assert_eq!(
        ec2.inline_policies[0].policy.resolve(&b).unwrap(),
        blocks[2]
    );
    // Step 7: bucket policy.
    assert_eq!(p.bucket.policy.resolve(&b).unwrap(), blocks[3]);
    // The names and choices of the seed's steps.
    assert_eq!(p.key.alias, "alias/cross-account-s3-key");
    assert_eq!(
        p.key.description,
        "KMS key for cross-account S3 bucket encryption"
    );
    assert_eq!(p.bucket.name, "cross-account-secure-bucket-demo");
    assert!(p.bucket.default_encryption.bucket_key_enabled);
    assert_eq!(p.bucket.default_encryption.sse_algorithm, "aws:kms");
    assert_eq!(p.bucket.ownership, None);
    assert!(!p.bucket.versioning);
    assert!(!p.key.enable_rotation);
    assert_eq!(
        storage.description,
        "Allows Account A EC2 to access encrypted S3 bucket"
    );
    assert_eq!(ec2.description, "Allows EC2 to assume role in Account B");
    assert_eq!(
        ec2.instance_profile.as_deref(),
        Some("EC2CrossAccountAssumeRole")
    );
    let net = &p.networks[0];
    assert_eq!(net.endpoint.name, "s3-gateway-endpoint");
    assert_eq!(net.endpoint.service_name, "com.amazonaws.us-east-1.s3");
    assert_eq!(net.endpoint.policy, None, "the seed's `Full access`");
    let inst = net.instance.as_ref().unwrap();
    assert_eq!(inst.name, "cross-account-test-instance");
    assert_eq!(inst.instance_type, "t2.micro");
    assert_eq!(inst.instance_profile, "EC2CrossAccountAssumeRole");
    assert!(p.break_glass.is_none());
}

#[test]
fn as_written_setup_document_is_examples_seed_as_written_json() {
    let p = plan(Profile::AsWritten);
    let doc = p.setup_document(&Bindings::illustrative(&p)).unwrap();
    let mut got = serde_json::to_value(&doc).unwrap();
    let mut want = seed_json();
    for v in [&mut got, &mut want] {
        let m = v.as_object_mut().unwrap();
        m.remove("$schema");
        m.remove("description");
    }
    assert_eq!(got, want);
    // and it loads
    airlock_policy::setup::Setup::from_document(doc).expect("loads");
}

#[test]
fn trust_policies_are_the_consoles() {
    let p = plan(Profile::AsWritten);
    let b = Bindings::illustrative(&p);
    let seed = seed_json();
    for r in &p.roles {
        let want = seed["principals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["arn"] == r.arn())
            .unwrap();
        assert_eq!(
            r.trust_policy.resolve(&b).unwrap(),
            want["trust_policy"],
            "{}",
            r.name
        );
    }
}

#[test]
fn steps_follow_the_seed_with_the_bucket_policy_after_the_endpoint() {
    for profile in [Profile::AsWritten, Profile::Hardened] {
        let p = plan(profile);
        let numbers: Vec<u8> = p.steps.iter().map(|s| s.number).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(numbers, sorted, "steps in the seed's order");
        let pos = |a: &StepAction| p.steps.iter().position(|s| &s.action == a).unwrap();
        let network = pos(&StepAction::CreateNetwork {
            endpoint: "s3-gateway-endpoint".into(),
        });
        let policy = pos(&StepAction::PutBucketPolicy);
        assert!(pos(&StepAction::CreateKey) < pos(&StepAction::CreateBucket));
        assert!(network < policy, "the bucket policy needs the endpoint id");
        assert!(
            policy
                < pos(&StepAction::LaunchInstance {
                    endpoint: "s3-gateway-endpoint".into()
                })
        );
        // every step's account is one of the plan's, and the storage steps run in B
        assert_eq!(p.steps[0].account, "222222222222");
        assert!(p.steps.iter().any(|s| s.account == "111111111111"));
        // every reference of every policy is resolvable with the illustrative bindings
        let b = Bindings::illustrative(&p);
        p.setup_document(&b).unwrap();
    }
}
