//! The seed document's own scenarios (/work/shared/seed/cross-account-secure-s3.md), with its
//! literal policies, decided as AWS decides them.

mod common;

use airlock_policy::{Decision, MissingAllow, PolicyKind, evaluate};
use common::*;

#[test]
fn every_seed_policy_parses_as_its_kind() {
    let seed = Seed::load();
    assert_eq!(seed.key_policy.policy.statements.len(), 2);
    assert_eq!(seed.bucket_policy.policy.statements.len(), 2);
    assert_eq!(seed.role_policy.policy.statements.len(), 2);
    assert_eq!(seed.role_trust.policy.statements.len(), 1);
    assert_eq!(seed.ec2_role_policy.policy.statements.len(), 1);
}

#[test]
fn checklist_decisions() {
    let seed = Seed::load();
    for (name, request, policies, expected) in checklist(&seed) {
        let got = evaluate(&request, &policies);
        assert_eq!(got.decision, expected, "{name}: {}", got.explanation);
    }
}

#[test]
fn role_reads_through_the_endpoint() {
    let seed = Seed::load();
    let r = via_vpce(request(
        cross_account_session(),
        "s3:GetObject",
        OBJECT_ARN,
        Some(ACCOUNT_B),
    ));
    let e = evaluate(&r, &seed.role_on_bucket());
    assert_eq!(e.decision, Decision::Allow);
    // Same account: the identity policy and the bucket policy each allow.
    let sids: Vec<_> = e
        .explanation
        .deciding
        .iter()
        .map(|s| s.sid.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(sids, ["S3BucketAccess", "AllowCrossAccountRole"]);
    assert!(!e.explanation.cross_account);
    assert!(e.explanation.missing_context_keys.is_empty());
}

#[test]
fn bucket_policy_alone_grants_the_role_in_its_own_account() {
    // Same account: "If an action is allowed by an identity-based policy, a resource-based
    // policy, or both, then AWS allows the action." (IAM User Guide, "Policy evaluation
    // logic"). The bucket policy names the role, so the role needs no IAM policy for S3.
    let seed = Seed::load();
    let mut policies = seed.role_on_bucket();
    policies.identity.clear();
    let r = via_vpce(request(
        cross_account_session(),
        "s3:PutObject",
        OBJECT_ARN,
        Some(ACCOUNT_B),
    ));
    assert_eq!(evaluate(&r, &policies).decision, Decision::Allow);
}

#[test]
fn administrator_from_outside_the_vpc_is_explicitly_denied() {
    let seed = Seed::load();
    let r = from_internet(request(
        user(ACCOUNT_B, "Admin"),
        "s3:ListBucket",
        BUCKET_ARN,
        Some(ACCOUNT_B),
    ));
    let e = evaluate(&r, &seed.admin_on_bucket());
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.explanation.deciding.len(), 1);
    let d = &e.explanation.deciding[0];
    assert_eq!(d.sid.as_deref(), Some("DenyAllExceptVPCEndpoint"));
    assert_eq!(d.index, 0);
    assert_eq!(d.policy.kind, PolicyKind::Resource);
    assert_eq!(e.explanation.missing_context_keys, ["aws:SourceVpce"]);
    assert_eq!(
        e.to_string(),
        "explicit deny: denied by statement `DenyAllExceptVPCEndpoint` (#0) of the bucket policy \
         `arn:aws:s3:::cross-account-secure-bucket-demo`; the request lacked condition keys `aws:SourceVpce`"
    );
}

#[test]
fn ec2_role_without_assuming_is_implicitly_denied_cross_account() {
    let seed = Seed::load();
    let r = via_vpce(request(
        ec2_session(),
        "s3:ListBucket",
        BUCKET_ARN,
        Some(ACCOUNT_B),
    ));
    let e = evaluate(&r, &seed.ec2_on_bucket());
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert!(e.explanation.cross_account);
    assert!(e.explanation.deciding.is_empty());
    assert_eq!(
        e.explanation.missing,
        [
            MissingAllow::Resource {
                account: Some(ACCOUNT_B.into())
            },
            MissingAllow::Identity {
                account: Some(ACCOUNT_A.into())
            },
        ]
    );
}

#[test]
fn role_cannot_delete() {
    let seed = Seed::load();
    for action in ["s3:DeleteObject", "s3:DeleteBucket", "s3:PutBucketPolicy"] {
        let arn = if action == "s3:DeleteObject" {
            OBJECT_ARN
        } else {
            BUCKET_ARN
        };
        let r = via_vpce(request(
            cross_account_session(),
            action,
            arn,
            Some(ACCOUNT_B),
        ));
        let e = evaluate(&r, &seed.role_on_bucket());
        assert_eq!(e.decision, Decision::ImplicitDeny, "{action}");
        assert_eq!(
            e.explanation.missing,
            [MissingAllow::Identity {
                account: Some(ACCOUNT_B.into())
            }]
        );
    }
}

#[test]
fn trust_of_account_a_root_admits_any_principal_of_a_with_permission() {
    // aws-semantics §5: "The role trusts arn:aws:iam::A:root: any principal in A with
    // sts:AssumeRole can take it, not only the EC2 role."
    let seed = Seed::load();
    let mut policies = seed.ec2_assumes_role();
    policies.identity = vec![seed.admin_policy.clone()];
    let r = request(
        user(ACCOUNT_A, "intern"),
        "sts:AssumeRole",
        ROLE_ARN,
        Some(ACCOUNT_B),
    );
    assert_eq!(evaluate(&r, &policies).decision, Decision::Allow);
    // Without an identity policy of its own, a principal of A cannot: the account-root
    // delegation requires A's IAM policies to allow too.
    policies.identity.clear();
    let e = evaluate(&r, &policies);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.to_string(),
        "implicit deny: cross-account: the trust policy `arn:aws:iam::222222222222:role/CrossAccountS3AccessRole` \
         allows but no identity policy of 111111111111 does"
    );
}

#[test]
fn key_policy_grants_account_a_although_only_b_uses_the_key() {
    // aws-semantics §5: the key policy grants account A Decrypt/GenerateDataKey. A principal of
    // A with an IAM policy for the key can use it directly.
    let seed = Seed::load();
    let mut policies = seed.role_on_key();
    policies.identity = vec![seed.admin_policy.clone()];
    let r = request(ec2_session(), "kms:Decrypt", KEY_ARN, None);
    let e = evaluate(&r, &policies);
    assert_eq!(e.decision, Decision::Allow);
    assert!(e.explanation.cross_account);
    // But not kms:ScheduleKeyDeletion, which the key policy does not grant to A.
    let r = request(ec2_session(), "kms:ScheduleKeyDeletion", KEY_ARN, None);
    let e = evaluate(&r, &policies);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing, [MissingAllow::KeyPolicy]);
}

#[test]
fn explanation_serializes_to_json() {
    let seed = Seed::load();
    let r = via_vpce(request(
        ec2_session(),
        "s3:ListBucket",
        BUCKET_ARN,
        Some(ACCOUNT_B),
    ));
    let e = evaluate(&r, &seed.ec2_on_bucket());
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["decision"], "implicit-deny");
    assert_eq!(json["explanation"]["cross_account"], true);
    assert_eq!(json["explanation"]["missing"][0]["missing"], "resource");
    assert_eq!(json["explanation"]["missing"][0]["account"], ACCOUNT_B);
}

#[test]
fn requests_deserialize_with_case_insensitive_context_keys() {
    let r: airlock_policy::Request = serde_json::from_str(
        r#"{"principal": {"type": "role-session", "account": "222222222222",
             "role_name": "CrossAccountS3AccessRole", "role_id": "AROAEXAMPLE",
             "session_name": "cross-account-session"},
            "action": "s3:GetObject",
            "resource": {"arn": "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt",
                         "account": "222222222222"},
            "context": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f6g7h8", "aws:TagKeys": ["a", "b"]}}"#,
    )
    .unwrap();
    assert!(r.context.contains_key("AWS:SOURCEVPCE"));
    let seed = Seed::load();
    assert_eq!(
        evaluate(&r, &seed.role_on_bucket()).decision,
        Decision::Allow
    );
    // And back.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["context"]["aws:sourcevpce"], VPCE);
    assert_eq!(json["principal"]["role_path"], "/");
}
