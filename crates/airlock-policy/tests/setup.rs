//! The setup document: loading, request resolution, Block Public Access and organizations.

use airlock_policy::setup::{Setup, SetupError};
use airlock_policy::{Context, Decision, MissingAllow, Policy, PolicyKind, Request, Resource};

const SEED: &str = include_str!("../../../examples/seed-as-written.json");

fn request(setup: &Setup, principal: &str, action: &str, resource: &str, ctx: Context) -> Request {
    Request {
        principal: setup.request_principal(principal, "s").unwrap(),
        action: action.to_string(),
        resource: Resource {
            arn: resource.to_string(),
            account: None,
        },
        context: ctx,
    }
}

#[test]
fn seed_loads_and_resolves_objects_to_their_bucket_and_aliases_to_their_key() {
    let setup = Setup::from_json(SEED).unwrap();
    let bucket = setup
        .resource("arn:aws:s3:::cross-account-secure-bucket-demo/a/b.txt")
        .unwrap();
    assert_eq!(bucket.account, "222222222222");
    let key = setup
        .resource("arn:aws:kms:us-east-1:222222222222:alias/cross-account-s3-key")
        .unwrap();
    assert!(
        key.arn
            .ends_with("key/12345678-1234-1234-1234-123456789012")
    );
    assert_eq!(
        setup.resource_account("arn:aws:s3:::cross-account-secure-bucket-demo/x"),
        Some("222222222222".to_string())
    );
}

/// A public bucket policy under RestrictPublicBuckets grants nothing to other accounts or
/// anonymous callers, but still grants the owner's principals (S3 User Guide, "Blocking public
/// access to your Amazon S3 storage", RestrictPublicBuckets).
#[test]
fn restrict_public_buckets_confines_a_public_policy_to_the_owner_account() {
    let doc = r#"{
      "accounts": {"111111111111": {}, "222222222222": {"public_access_block": {"RestrictPublicBuckets": true}}},
      "principals": [{"arn": "arn:aws:iam::222222222222:user/reader"}],
      "resources": [{"arn": "arn:aws:s3:::pub", "account": "222222222222",
        "policy": {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pub/*"}]}}]
    }"#;
    let setup = Setup::from_json(doc).unwrap();
    let anon = request(
        &setup,
        "anonymous",
        "s3:GetObject",
        "arn:aws:s3:::pub/k",
        Context::new(),
    );
    assert_eq!(setup.evaluate(&anon).decision, Decision::ImplicitDeny);
    let other = request(
        &setup,
        "arn:aws:iam::111111111111:root",
        "s3:GetObject",
        "arn:aws:s3:::pub/k",
        Context::new(),
    );
    assert_eq!(setup.evaluate(&other).decision, Decision::ImplicitDeny);
    let owner = request(
        &setup,
        "arn:aws:iam::222222222222:user/reader",
        "s3:GetObject",
        "arn:aws:s3:::pub/k",
        Context::new(),
    );
    assert_eq!(setup.evaluate(&owner).decision, Decision::Allow);

    // Without the setting the same policy is public to everyone.
    let open = doc.replace(
        "\"RestrictPublicBuckets\": true",
        "\"RestrictPublicBuckets\": false",
    );
    let setup = Setup::from_json(&open).unwrap();
    let anon = request(
        &setup,
        "anonymous",
        "s3:GetObject",
        "arn:aws:s3:::pub/k",
        Context::new(),
    );
    assert_eq!(setup.evaluate(&anon).decision, Decision::Allow);
}

#[test]
fn scp_levels_follow_the_unit_tree_and_every_level_must_allow() {
    let doc = r#"{
      "accounts": {"111111111111": {"organizational_unit": "ou-work"}},
      "organization": {"id": "o-abc", "units": [
        {"id": "r-root", "scps": {"FullAWSAccess": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}},
        {"id": "ou-work", "parent": "r-root", "scps": {"OnlyS3": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}}
      ]},
      "principals": [{"arn": "arn:aws:iam::111111111111:user/dev",
        "policies": {"All": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}}]
    }"#;
    let setup = Setup::from_json(doc).unwrap();
    assert_eq!(setup.scp_levels("111111111111").len(), 2);
    let user = "arn:aws:iam::111111111111:user/dev";
    let s3 = request(
        &setup,
        user,
        "s3:ListBucket",
        "arn:aws:s3:::b",
        Context::new(),
    );
    let mut s3 = s3;
    s3.resource.account = Some("111111111111".into());
    assert_eq!(setup.evaluate(&s3).decision, Decision::Allow);
    let kms = request(
        &setup,
        user,
        "kms:Decrypt",
        "arn:aws:kms:us-east-1:111111111111:key/k",
        Context::new(),
    );
    let eval = setup.evaluate(&kms);
    assert_eq!(eval.decision, Decision::ImplicitDeny);
    assert!(
        eval.explanation
            .missing
            .contains(&MissingAllow::ServiceControl { level: 1 }),
        "{:?}",
        eval.explanation
    );
}

#[test]
fn invalid_documents_name_the_place() {
    let cases = [
        (r#"{"accounts": {"12345": {}}}"#, "accounts.12345"),
        (
            r#"{"accounts": {"111111111111": {}}, "principals": [{"arn": "arn:aws:iam::222222222222:user/x"}]}"#,
            "principals[0]",
        ),
        (
            r#"{"accounts": {"111111111111": {}}, "principals": [{"arn": "arn:aws:iam::111111111111:role/r"}]}"#,
            "principals[0]",
        ),
        (
            r#"{"accounts": {"111111111111": {}}, "resources": [{"arn": "arn:aws:s3:::b"}]}"#,
            "resources[0]",
        ),
        (
            r#"{"accounts": {"111111111111": {}}, "principals": [{"arn": "arn:aws:iam::111111111111:user/u", "managed_policies": ["arn:aws:iam::aws:policy/Nope"]}]}"#,
            "principals[0]",
        ),
    ];
    for (doc, place) in cases {
        let err = Setup::from_json(doc).unwrap_err();
        assert!(err.to_string().contains(place), "{doc}: {err}");
    }
    let err = Setup::from_json("{\"accounts\": {}, \"extra\": 1}").unwrap_err();
    assert!(matches!(err, SetupError::Syntax { line: 1, .. }), "{err}");
}

/// S3 User Guide, "The meaning of public": fixed principals or fixed source conditions make a
/// statement non-public; `*` without them, wildcards, negated operators and `NotPrincipal` do not.
#[test]
fn public_policy_definition() {
    let public = |statement: &str| {
        let text = format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#);
        airlock_policy::public::is_public(&Policy::parse(&text, PolicyKind::Resource).unwrap())
    };
    let base = r#""Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*""#;
    assert!(public(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", {base}}}"#
    )));
    assert!(public(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "*"}}, {base}}}"#
    )));
    assert!(!public(&format!(
        r#"{{"Effect": "Deny", "Principal": "*", {base}}}"#
    )));
    assert!(!public(&format!(
        r#"{{"Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::111111111111:role/R"}}, {base}}}"#
    )));
    assert!(!public(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", {base}, "Condition": {{"StringEquals": {{"aws:SourceVpce": "vpce-1"}}}}}}"#
    )));
    assert!(public(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", {base}, "Condition": {{"StringLike": {{"aws:SourceVpce": "vpce-*"}}}}}}"#
    )));
    assert!(public(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", {base}, "Condition": {{"StringNotEquals": {{"aws:SourceVpce": "vpce-1"}}}}}}"#
    )));
    assert!(!public(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", {base}, "Condition": {{"IpAddress": {{"aws:SourceIp": "198.51.100.0/24"}}}}}}"#
    )));
    assert!(public(&format!(
        r#"{{"Effect": "Allow", "Principal": "*", {base}, "Condition": {{"IpAddress": {{"aws:SourceIp": "0.0.0.0/0"}}}}}}"#
    )));
    assert!(public(&format!(
        r#"{{"Effect": "Allow", "NotPrincipal": {{"AWS": "arn:aws:iam::111111111111:root"}}, {base}}}"#
    )));
    // The seed's own bucket policy is not public: its only Allow names one role.
    let setup = Setup::from_json(SEED).unwrap();
    let bucket = setup
        .resource("arn:aws:s3:::cross-account-secure-bucket-demo")
        .unwrap();
    assert!(!airlock_policy::public::is_public(
        &bucket.policy.as_ref().unwrap().policy
    ));
}
