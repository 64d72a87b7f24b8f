//! Decisions from AWS's own documentation. Each test names the page it follows.

mod common;

use std::collections::BTreeMap;

use airlock_policy::{
    Context, ContextValue, Decision, MissingAllow, PolicyKind as PK, PolicySet, Principal, Request,
    evaluate,
};
use common::{named, request, role_session, root, user};

const ACCT: &str = "123456789012";
const OTHER: &str = "444455556666";

fn decide(r: &Request, set: &PolicySet) -> Decision {
    evaluate(r, set).decision
}

fn identity(json: &str) -> PolicySet {
    PolicySet {
        identity: vec![named(PK::Identity, "identity", json)],
        ..PolicySet::default()
    }
}

fn with_resource(mut set: PolicySet, kind: PK, json: &str) -> PolicySet {
    set.resource = Some(named(kind, "arn:aws:s3:::example-bucket", json));
    set
}

const ALLOW_S3_ALL: &str = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#;
const ALLOW_KMS_ALL: &str = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;

fn bucket_policy_for(principal: &str, action: &str) -> String {
    format!(
        r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Principal": {principal},
            "Action": "{action}", "Resource": ["arn:aws:s3:::example-bucket", "arn:aws:s3:::example-bucket/*"]}}}}"#
    )
}

const OBJ: &str = "arn:aws:s3:::example-bucket/key";

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "Policy evaluation for requests within a single account"
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
// ---------------------------------------------------------------------------------------------

/// "Example identity-based and resource-based policy evaluation": Carlos' identity policy,
/// verbatim; saving a file to the `-logs` bucket is denied by `DenyS3Logs`.
#[test]
fn carlos_example() {
    let policy = r#"{
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowS3ListRead", "Effect": "Allow",
             "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"],
             "Resource": "arn:aws:s3:::*"},
            {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
            {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"}
        ]
    }"#;
    let set = identity(policy);
    let carlos = || user(ACCT, "carlossalazar");
    let e = evaluate(
        &request(
            carlos(),
            "s3:PutObject",
            "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/file.txt",
            Some(ACCT),
        ),
        &set,
    );
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.explanation.deciding[0].sid.as_deref(), Some("DenyS3Logs"));
    assert_eq!(
        decide(
            &request(
                carlos(),
                "s3:PutObject",
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/file.txt",
                Some(ACCT)
            ),
            &set
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &request(
                carlos(),
                "s3:GetBucketLocation",
                "arn:aws:s3:::someone-elses-bucket",
                Some(ACCT)
            ),
            &set
        ),
        Decision::Allow
    );
}

/// "If either the identity-based policy or the resource-based policy within the same account
/// allows the request and the other doesn't, the request is still allowed."
#[test]
fn same_account_identity_or_resource_suffices() {
    let alice = || user(ACCT, "alice");
    let r = request(alice(), "s3:GetObject", OBJ, Some(ACCT));
    // Resource policy only.
    let only_resource = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(
            &format!(r#"{{"AWS": "arn:aws:iam::{ACCT}:user/alice"}}"#),
            "s3:GetObject",
        ),
    );
    assert_eq!(decide(&r, &only_resource), Decision::Allow);
    // Identity policy only, with a bucket policy that says nothing about alice.
    let only_identity = with_resource(
        identity(ALLOW_S3_ALL),
        PK::Resource,
        &bucket_policy_for(
            r#"{"AWS": "arn:aws:iam::123456789012:user/bob"}"#,
            "s3:GetObject",
        ),
    );
    assert_eq!(decide(&r, &only_identity), Decision::Allow);
    // Neither.
    let neither = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(
            r#"{"AWS": "arn:aws:iam::123456789012:user/bob"}"#,
            "s3:GetObject",
        ),
    );
    let e = evaluate(&r, &neither);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::Identity {
            account: Some(ACCT.into())
        }]
    );
}

/// "An explicit deny in any of the policies overrides the allow."
#[test]
fn explicit_deny_in_resource_policy_overrides_identity_allow() {
    let set = with_resource(
        identity(ALLOW_S3_ALL),
        PK::Resource,
        r#"{"Version": "2012-10-17", "Statement": {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*",
            "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::example-bucket/*"}}"#,
    );
    let r = request(user(ACCT, "alice"), "s3:DeleteObject", OBJ, Some(ACCT));
    let e = evaluate(&r, &set);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.explanation.deciding[0].sid.as_deref(), Some("NoDeletes"));
    assert_eq!(e.explanation.deciding[0].policy.kind, PK::Resource);
}

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "Permissions boundaries for IAM entities"
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
// ---------------------------------------------------------------------------------------------

fn boundary(json: &str) -> Option<airlock_policy::NamedPolicy> {
    Some(named(PK::Boundary, "boundary", json))
}

const BOUNDARY_GET_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}"#;

/// "Identity-based policies with boundaries – ... effective permissions are the intersection".
#[test]
fn boundary_intersects_identity_policies() {
    let mut set = identity(ALLOW_S3_ALL);
    set.boundary = boundary(BOUNDARY_GET_ONLY);
    let get = request(user(ACCT, "shirley"), "s3:GetObject", OBJ, Some(ACCT));
    let put = request(user(ACCT, "shirley"), "s3:PutObject", OBJ, Some(ACCT));
    assert_eq!(decide(&get, &set), Decision::Allow);
    let e = evaluate(&put, &set);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing, [MissingAllow::Boundary]);
    // The boundary alone grants nothing.
    set.identity.clear();
    assert_eq!(decide(&get, &set), Decision::ImplicitDeny);
}

/// "Resource-based policies – ... Within the same account, resource-based policies that grant
/// permissions to an IAM user ARN (that is not a federated user session) are not limited by an
/// implicit deny in an identity-based policy or permissions boundary." Grants to a role ARN
/// are limited; grants to the session ARN are not.
#[test]
fn boundary_and_resource_policies_in_one_account() {
    let put = |p: Principal| request(p, "s3:PutObject", OBJ, Some(ACCT));
    for (principal_json, caller, expected) in [
        (
            r#"{"AWS": "arn:aws:iam::123456789012:user/shirley"}"#,
            user(ACCT, "shirley"),
            Decision::Allow,
        ),
        (
            r#"{"AWS": "arn:aws:iam::123456789012:role/R"}"#,
            role_session(ACCT, "R", "s1"),
            Decision::ImplicitDeny,
        ),
        (
            r#"{"AWS": "arn:aws:sts::123456789012:assumed-role/R/s1"}"#,
            role_session(ACCT, "R", "s1"),
            Decision::Allow,
        ),
    ] {
        let mut set = with_resource(
            PolicySet::default(),
            PK::Resource,
            &bucket_policy_for(principal_json, "s3:PutObject"),
        );
        set.boundary = boundary(BOUNDARY_GET_ONLY);
        assert_eq!(decide(&put(caller), &set), expected, "{principal_json}");
    }
}

/// "The NotPrincipal element with a Deny effect will always deny any IAM principal that has a
/// permissions boundary policy attached, regardless of the values specified in the
/// NotPrincipal element."
#[test]
fn not_principal_deny_always_denies_principals_with_a_boundary() {
    let resource = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::123456789012:user/shirley", "123456789012"]},
         "Action": "s3:*", "Resource": "arn:aws:s3:::example-bucket/*"}]}"#;
    let r = request(user(ACCT, "shirley"), "s3:GetObject", OBJ, Some(ACCT));
    let mut set = with_resource(identity(ALLOW_S3_ALL), PK::Resource, resource);
    assert_eq!(decide(&r, &set), Decision::Allow);
    set.boundary = boundary(ALLOW_S3_ALL);
    assert_eq!(decide(&r, &set), Decision::ExplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// IAM JSON policy elements: NotPrincipal
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
// ---------------------------------------------------------------------------------------------

/// "When you use NotPrincipal with Deny, you must also specify the account ARN of the
/// not-denied principal. Otherwise, the policy might deny access to the entire account
/// containing the principal." The assumed-role example lists the session, the role and the
/// account.
#[test]
fn not_principal_must_name_the_whole_chain() {
    let deny_except = |names: &[&str]| {
        let list = names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(",");
        with_resource(
            identity(ALLOW_S3_ALL),
            PK::Resource,
            &format!(
                r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Deny", "NotPrincipal": {{"AWS": [{list}]}},
                   "Action": "s3:*", "Resource": "arn:aws:s3:::example-bucket/*"}}}}"#
            ),
        )
    };
    let session = "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app";
    let role = "arn:aws:iam::444455556666:role/cross-account-read-only-role";
    let account = "arn:aws:iam::444455556666:root";
    let caller = role_session(
        OTHER,
        "cross-account-read-only-role",
        "cross-account-audit-app",
    );
    let r = request(caller, "s3:GetObject", OBJ, Some(OTHER));
    assert_eq!(
        decide(&r, &deny_except(&[session, role, account])),
        Decision::Allow
    );
    assert_eq!(
        decide(&r, &deny_except(&[session, role])),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&r, &deny_except(&[role, account])),
        Decision::ExplicitDeny
    );
    // Another session of the same role is denied.
    let other = request(
        role_session(OTHER, "cross-account-read-only-role", "someone-else"),
        "s3:GetObject",
        OBJ,
        Some(OTHER),
    );
    assert_eq!(
        decide(&other, &deny_except(&[session, role, account])),
        Decision::ExplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "Policies and permissions in AWS Identity and Access Management", section
// "Session policies"
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session
// ---------------------------------------------------------------------------------------------

/// "The resulting session's permissions are the intersection of the entity's identity-based
/// policies and the session policies." A resource-based policy that names the role ARN is
/// limited by the session policy; one that names the session ARN is not.
#[test]
fn session_policies_narrow_the_session() {
    let caller = || role_session(ACCT, "R", "s1");
    let put = request(caller(), "s3:PutObject", OBJ, Some(ACCT));
    let get = request(caller(), "s3:GetObject", OBJ, Some(ACCT));
    let mut set = identity(ALLOW_S3_ALL);
    set.session = vec![named(PK::Session, "session", BOUNDARY_GET_ONLY)];
    assert_eq!(decide(&get, &set), Decision::Allow);
    let e = evaluate(&put, &set);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing, [MissingAllow::Session]);

    let mut by_role = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(
            r#"{"AWS": "arn:aws:iam::123456789012:role/R"}"#,
            "s3:PutObject",
        ),
    );
    by_role.session = set.session.clone();
    assert_eq!(decide(&put, &by_role), Decision::ImplicitDeny);

    let mut by_session = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(
            r#"{"AWS": "arn:aws:sts::123456789012:assumed-role/R/s1"}"#,
            "s3:PutObject",
        ),
    );
    by_session.session = set.session.clone();
    assert_eq!(decide(&put, &by_session), Decision::Allow);
}

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "Cross-account policy evaluation logic"
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
// ---------------------------------------------------------------------------------------------

/// "the identity-based policy in the trusted account AND the resource-based policy in the
/// trusting account must both allow".
#[test]
fn cross_account_needs_both_sides() {
    let caller = || user(OTHER, "carlos");
    let r = request(caller(), "s3:GetObject", OBJ, Some(ACCT));
    let trusts_account = bucket_policy_for(r#"{"AWS": "444455556666"}"#, "s3:GetObject");
    let trusts_user = bucket_policy_for(
        r#"{"AWS": "arn:aws:iam::444455556666:user/carlos"}"#,
        "s3:GetObject",
    );

    let both = with_resource(identity(ALLOW_S3_ALL), PK::Resource, &trusts_account);
    let e = evaluate(&r, &both);
    assert_eq!(e.decision, Decision::Allow);
    assert!(e.explanation.cross_account);
    assert_eq!(e.explanation.deciding.len(), 2);

    // No resource policy at all: nothing in the trusting account grants the other account.
    let e = evaluate(&r, &identity(ALLOW_S3_ALL));
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::Resource {
            account: Some(ACCT.into())
        }]
    );
    assert_eq!(
        e.to_string(),
        "implicit deny: cross-account: the caller's identity policies allow but no resource policy of 123456789012 allows the caller"
    );

    // The bucket policy names the user directly, but the user's own account grants nothing.
    let e = evaluate(
        &r,
        &with_resource(PolicySet::default(), PK::Resource, &trusts_user),
    );
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::Identity {
            account: Some(OTHER.into())
        }]
    );
    assert_eq!(
        e.to_string(),
        "implicit deny: cross-account: the bucket policy `arn:aws:s3:::example-bucket` allows but no identity policy of 444455556666 does"
    );

    // The root user of the trusted account has every permission of its account.
    let r = request(root(OTHER), "s3:GetObject", OBJ, Some(ACCT));
    assert_eq!(
        decide(
            &r,
            &with_resource(PolicySet::default(), PK::Resource, &trusts_account)
        ),
        Decision::Allow
    );
}

// ---------------------------------------------------------------------------------------------
// AWS KMS Developer Guide, "Key policies in AWS KMS", "Default key policy" and "Allowing users
// in other accounts to use a KMS key"
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
// ---------------------------------------------------------------------------------------------

const KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn key_set(key_policy: &str, identity_json: Option<&str>) -> PolicySet {
    PolicySet {
        identity: identity_json
            .map(|j| vec![named(PK::Identity, "identity", j)])
            .unwrap_or_default(),
        resource: Some(named(PK::Key, KEY, key_policy)),
        ..PolicySet::default()
    }
}

/// The default key policy's "Enable IAM User Permissions" statement.
const DEFAULT_KEY_POLICY: &str = r#"{"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]}"#;

/// "Unless the key policy explicitly allows it, you cannot use IAM policies to allow access to
/// a KMS key. Without permission from the key policy, IAM policies that allow permissions have
/// no effect." The default statement "allows the account to use IAM policies".
#[test]
fn key_policy_is_the_root_of_trust() {
    let r = request(role_session(ACCT, "R", "s"), "kms:Decrypt", KEY, None);
    assert_eq!(
        decide(&r, &key_set(DEFAULT_KEY_POLICY, Some(ALLOW_KMS_ALL))),
        Decision::Allow
    );
    let e = evaluate(&r, &key_set(DEFAULT_KEY_POLICY, None));
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::Identity {
            account: Some(ACCT.into())
        }]
    );

    let admin_only = r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::123456789012:role/KeyAdmin"},
         "Action": ["kms:Create*", "kms:Describe*", "kms:PutKeyPolicy"], "Resource": "*"}]}"#;
    let e = evaluate(&r, &key_set(admin_only, Some(ALLOW_KMS_ALL)));
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing, [MissingAllow::KeyPolicy]);
    assert_eq!(
        e.to_string(),
        "implicit deny: the caller's identity policies allow, but the key policy neither allows the caller nor delegates to its account (the key policy is the root of trust)"
    );
    // Not even the account's root user.
    let root_req = request(root(ACCT), "kms:Decrypt", KEY, None);
    assert_eq!(
        decide(&root_req, &key_set(admin_only, None)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&root_req, &key_set(DEFAULT_KEY_POLICY, None)),
        Decision::Allow
    );
    // A key policy statement naming the role grants it without any IAM policy.
    let admin = request(
        role_session(ACCT, "KeyAdmin", "s"),
        "kms:PutKeyPolicy",
        KEY,
        None,
    );
    assert_eq!(decide(&admin, &key_set(admin_only, None)), Decision::Allow);
}

/// "To give permission to use a KMS key to users and roles in another account, you must use two
/// different types of policies: the key policy ... must give the external account (or users
/// and roles in the external account) permission ... IAM policies in the external account must
/// delegate the key policy permissions to its users and roles."
#[test]
fn kms_cross_account() {
    let external_account = r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "Allow an external account to use this KMS key", "Effect": "Allow",
         "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"}]}"#;
    let external_role = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:role/ExampleRole"},
         "Action": "kms:Decrypt", "Resource": "*"}]}"#;
    let iam = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["kms:Decrypt"],
        "Resource": "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}"#;
    let r = request(
        role_session(OTHER, "ExampleRole", "s"),
        "kms:Decrypt",
        KEY,
        None,
    );
    assert_eq!(
        decide(&r, &key_set(external_account, Some(iam))),
        Decision::Allow
    );
    assert_eq!(
        decide(&r, &key_set(external_account, None)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&r, &key_set(external_role, Some(iam))),
        Decision::Allow
    );
    assert_eq!(
        decide(&r, &key_set(external_role, None)),
        Decision::ImplicitDeny
    );
    // IAM alone, with a key policy that trusts only the key's own account.
    let e = evaluate(&r, &key_set(DEFAULT_KEY_POLICY, Some(iam)));
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing, [MissingAllow::KeyPolicy]);
}

// ---------------------------------------------------------------------------------------------
// AWS Organizations User Guide, "Service control policies (SCPs)" and "Resource control
// policies (RCPs)"
// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html
// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html
// ---------------------------------------------------------------------------------------------

/// "If a permission is blocked at any level above the account, either implicitly ... or
/// explicitly ..., a user or role in the affected account can't use that permission". SCPs
/// "don't affect ... service-linked roles" nor grant anything themselves.
#[test]
fn scp_levels_must_each_allow() {
    let full = named(
        PK::ServiceControl,
        "FullAWSAccess",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#,
    );
    let only_ec2 = named(
        PK::ServiceControl,
        "ou/ec2-only",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}}"#,
    );
    let deny_delete = named(
        PK::ServiceControl,
        "deny-delete",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}}"#,
    );
    let r = request(user(ACCT, "alice"), "s3:GetObject", OBJ, Some(ACCT));
    let mut set = identity(ALLOW_S3_ALL);
    set.scps = vec![vec![full.clone()], vec![full.clone()]];
    assert_eq!(decide(&r, &set), Decision::Allow);
    set.scps = vec![vec![full.clone()], vec![only_ec2]];
    let e = evaluate(&r, &set);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::ServiceControl { level: 1 }]
    );
    // SCPs bind the root user of a member account too.
    assert_eq!(
        decide(&request(root(ACCT), "s3:GetObject", OBJ, Some(ACCT)), &set),
        Decision::ImplicitDeny
    );
    // An SCP allow grants nothing by itself.
    set.scps = vec![vec![full.clone()]];
    set.identity.clear();
    assert_eq!(decide(&r, &set), Decision::ImplicitDeny);
    // Deny anywhere wins.
    set.identity = identity(ALLOW_S3_ALL).identity;
    set.scps = vec![vec![full.clone(), deny_delete]];
    let del = request(
        user(ACCT, "alice"),
        "s3:DeleteBucket",
        "arn:aws:s3:::example-bucket",
        Some(ACCT),
    );
    assert_eq!(decide(&del, &set), Decision::ExplicitDeny);
    // Service principals are not subject to SCPs.
    let svc = request(
        Principal::Service {
            name: "cloudtrail.amazonaws.com".into(),
        },
        "s3:PutObject",
        OBJ,
        Some(ACCT),
    );
    let mut svc_set = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(r#"{"Service": "cloudtrail.amazonaws.com"}"#, "s3:PutObject"),
    );
    svc_set.scps = vec![vec![only_ec2_again()]];
    assert_eq!(decide(&svc, &svc_set), Decision::Allow);
}

fn only_ec2_again() -> airlock_policy::NamedPolicy {
    named(
        PK::ServiceControl,
        "ou/ec2-only",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}}"#,
    )
}

/// RCP example "Enforce secure transport": an RCP Deny applies to every caller of the
/// resource account's resources, other accounts and anonymous callers included.
#[test]
fn rcp_denies_apply_to_everyone() {
    let full = named(
        PK::ResourceControl,
        "RCPFullAWSAccess",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}"#,
    );
    let tls = named(
        PK::ResourceControl,
        "enforce-tls",
        r#"{"Version": "2012-10-17", "Statement": {"Sid": "EnforceSecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": ["s3:*", "sqs:*", "kms:*", "secretsmanager:*", "sts:*"], "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}}}}"#,
    );
    let mut set = with_resource(
        identity(ALLOW_S3_ALL),
        PK::Resource,
        &bucket_policy_for(r#"{"AWS": "444455556666"}"#, "s3:GetObject"),
    );
    set.rcps = vec![vec![full, tls]];
    let mut r = request(user(OTHER, "carlos"), "s3:GetObject", OBJ, Some(ACCT));
    r.context = Context::new().with("aws:SecureTransport", "true");
    assert_eq!(decide(&r, &set), Decision::Allow);
    r.context = Context::new().with("aws:SecureTransport", "false");
    let e = evaluate(&r, &set);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.explanation.deciding[0].policy.kind, PK::ResourceControl);
}

/// RCP example "Enforce confused deputy protection for AWS service principals": RCPs apply to
/// service principals, which the example singles out with `aws:PrincipalIsAWSService`.
#[test]
fn rcps_apply_to_service_principals() {
    let full = named(
        PK::ResourceControl,
        "RCPFullAWSAccess",
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}"#,
    );
    let deputy = named(
        PK::ResourceControl,
        "confused-deputy",
        r#"{"Version": "2012-10-17", "Statement": {"Sid": "EnforceConfusedDeputyProtection", "Effect": "Deny",
            "Principal": "*", "Action": ["s3:*", "sqs:*", "kms:*", "secretsmanager:*", "sts:*"], "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:SourceOrgID": "o-exampleorg"},
                          "Null": {"aws:SourceAccount": "false"},
                          "Bool": {"aws:PrincipalIsAWSService": "true"}}}}"#,
    );
    let mut set = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(r#"{"Service": "cloudtrail.amazonaws.com"}"#, "s3:PutObject"),
    );
    set.rcps = vec![vec![full, deputy]];
    let mut r = request(
        Principal::Service {
            name: "cloudtrail.amazonaws.com".into(),
        },
        "s3:PutObject",
        OBJ,
        Some(ACCT),
    );
    r.context = Context::new()
        .with("aws:SourceAccount", ACCT)
        .with("aws:SourceOrgID", "o-exampleorg");
    assert_eq!(decide(&r, &set), Decision::Allow);
    r.context = Context::new()
        .with("aws:SourceAccount", "999999999999")
        .with("aws:SourceOrgID", "o-someoneelse");
    assert_eq!(decide(&r, &set), Decision::ExplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// Amazon VPC, "Control access to VPC endpoints using endpoint policies"
// https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
// ---------------------------------------------------------------------------------------------

/// "An endpoint policy does not override or replace identity-based policies or resource-based
/// policies" — it is one more policy that must allow, and whose Deny denies.
#[test]
fn endpoint_policy_must_allow() {
    let mut set = identity(ALLOW_S3_ALL);
    set.endpoint = Some(named(
        PK::Endpoint,
        "vpce-1a2b3c4d",
        r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
                          {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "*"}]}"#,
    ));
    let caller = || user(ACCT, "alice");
    assert_eq!(
        decide(&request(caller(), "s3:GetObject", OBJ, Some(ACCT)), &set),
        Decision::Allow
    );
    let e = evaluate(&request(caller(), "s3:PutObject", OBJ, Some(ACCT)), &set);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing, [MissingAllow::Endpoint]);
    assert_eq!(
        decide(&request(caller(), "s3:DeleteObject", OBJ, Some(ACCT)), &set),
        Decision::ExplicitDeny
    );
}

// ---------------------------------------------------------------------------------------------
// Amazon S3 User Guide, "Bucket policy examples" (granting anonymous read) and IAM JSON policy
// elements: Principal ("All principals")
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html
// ---------------------------------------------------------------------------------------------

#[test]
fn anonymous_callers_only_through_resource_policies() {
    let public_read = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow",
        "Principal": "*", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": ["arn:aws:s3:::example-bucket/*"]}]}"#;
    let anon = || request(Principal::Anonymous, "s3:GetObject", OBJ, Some(ACCT));
    let set = with_resource(PolicySet::default(), PK::Resource, public_read);
    assert_eq!(decide(&anon(), &set), Decision::Allow);
    // `{"AWS": "*"}` is equivalent to `"*"`.
    let aws_star = with_resource(
        PolicySet::default(),
        PK::Resource,
        &bucket_policy_for(r#"{"AWS": "*"}"#, "s3:GetObject"),
    );
    assert_eq!(decide(&anon(), &aws_star), Decision::Allow);
    // A grant to an account does not cover anonymous callers; identity policies never apply.
    let mut acct = with_resource(
        identity(ALLOW_S3_ALL),
        PK::Resource,
        &bucket_policy_for(r#"{"AWS": "123456789012"}"#, "s3:GetObject"),
    );
    assert_eq!(decide(&anon(), &acct), Decision::ImplicitDeny);
    acct.resource = None;
    let e = evaluate(&anon(), &acct);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::Resource {
            account: Some(ACCT.into())
        }]
    );
}

/// "As a security precaution, the root user of the AWS account that owns a bucket can always
/// use this operation, even if the policy explicitly denies the root user the ability to perform
/// this action." (Amazon S3 API Reference, GetBucketPolicy, PutBucketPolicy, DeleteBucketPolicy;
/// https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html)
#[test]
fn bucket_owner_root_is_never_locked_out_of_the_bucket_policy() {
    let deny_all = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::example-bucket", "arn:aws:s3:::example-bucket/*"]}}"#;
    let set = with_resource(PolicySet::default(), PK::Resource, deny_all);
    let bucket = "arn:aws:s3:::example-bucket";
    for action in [
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    ] {
        assert_eq!(
            decide(&request(root(ACCT), action, bucket, Some(ACCT)), &set),
            Decision::Allow,
            "{action}"
        );
    }
    assert_eq!(
        decide(&request(root(ACCT), "s3:GetObject", OBJ, Some(ACCT)), &set),
        Decision::ExplicitDeny
    );
    // Without a bucket policy the root user needs no statement at all.
    let e = evaluate(
        &request(root(ACCT), "s3:GetObject", OBJ, Some(ACCT)),
        &PolicySet::default(),
    );
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(
        e.to_string(),
        "allow: the root user has every permission of its account"
    );
    assert_eq!(
        decide(
            &request(root(OTHER), "s3:DeleteBucketPolicy", bucket, Some(ACCT)),
            &set
        ),
        Decision::ExplicitDeny
    );
}

/// "No permissions are required to perform this operation. If an administrator attaches a
/// policy to your identity that explicitly denies access to the sts:GetCallerIdentity action,
/// you can still perform this operation." (AWS STS API Reference, GetCallerIdentity)
#[test]
fn get_caller_identity_needs_no_permission() {
    let set = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}}"#,
    );
    let r = request(user(ACCT, "alice"), "sts:GetCallerIdentity", "*", None);
    let e = evaluate(&r, &set);
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(e.to_string(), "allow: the action needs no permission");
}

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "Roles terms and concepts" / "How to use trust policies": a role trust policy
// is the resource policy of sts:AssumeRole.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html
// ---------------------------------------------------------------------------------------------

#[test]
fn trust_policies() {
    let role = "arn:aws:iam::123456789012:role/Target";
    let trust = |principal: &str| PolicySet {
        resource: Some(named(
            PK::Trust,
            role,
            &format!(
                r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Principal": {principal}, "Action": "sts:AssumeRole"}}}}"#
            ),
        )),
        ..PolicySet::default()
    };
    let assume = |p: Principal| request(p, "sts:AssumeRole", role, Some(ACCT));
    let allow_assume = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}}"#;
    // Same account, trust names the caller: no identity permission needed.
    assert_eq!(
        decide(
            &assume(user(ACCT, "alice")),
            &trust(r#"{"AWS": "arn:aws:iam::123456789012:user/alice"}"#)
        ),
        Decision::Allow
    );
    // Same account, trust names the account: the caller's IAM policy must allow.
    let by_account = trust(r#"{"AWS": "123456789012"}"#);
    assert_eq!(
        decide(&assume(user(ACCT, "alice")), &by_account),
        Decision::ImplicitDeny
    );
    let mut with_iam = by_account.clone();
    with_iam.identity = vec![named(PK::Identity, "i", allow_assume)];
    assert_eq!(
        decide(&assume(user(ACCT, "alice")), &with_iam),
        Decision::Allow
    );
    // Same account, an identity policy alone cannot assume a role whose trust does not allow.
    let mut other_trust = trust(r#"{"AWS": "444455556666"}"#);
    other_trust.identity = vec![named(PK::Identity, "i", allow_assume)];
    let e = evaluate(&assume(user(ACCT, "alice")), &other_trust);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.explanation.missing,
        [MissingAllow::Resource {
            account: Some(ACCT.into())
        }]
    );
    // Cross account, trust names the caller's role: the caller still needs an IAM allow.
    let names_role = trust(r#"{"AWS": "arn:aws:iam::444455556666:role/Caller"}"#);
    assert_eq!(
        decide(&assume(role_session(OTHER, "Caller", "s")), &names_role),
        Decision::ImplicitDeny
    );
    let mut names_role_iam = names_role.clone();
    names_role_iam.identity = vec![named(PK::Identity, "i", allow_assume)];
    assert_eq!(
        decide(&assume(role_session(OTHER, "Caller", "s")), &names_role_iam),
        Decision::Allow
    );
}

// ---------------------------------------------------------------------------------------------
// IAM JSON policy elements: Condition operators
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// ---------------------------------------------------------------------------------------------

fn cond_set(condition: &str) -> PolicySet {
    identity(&format!(
        r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {condition}}}}}"#
    ))
}

fn with_context(pairs: &[(&str, ContextValue)]) -> Request {
    let mut r = request(user(ACCT, "alice"), "s3:GetObject", OBJ, Some(ACCT));
    for (k, v) in pairs {
        r.context.insert(k, v.clone());
    }
    r
}

fn one(s: &str) -> ContextValue {
    ContextValue::Single(s.into())
}

fn many(v: &[&str]) -> ContextValue {
    ContextValue::Multi(v.iter().map(|s| s.to_string()).collect())
}

fn allowed(condition: &str, pairs: &[(&str, ContextValue)]) -> bool {
    decide(&with_context(pairs), &cond_set(condition)).is_allowed()
}

/// "If the key that you specify in a policy condition is not present in the request context,
/// the values do not match and the condition is false. If the policy condition requires that
/// the key is not matched, such as StringNotLike or ArnNotLike, and the right key is not
/// present, the condition is true. This logic applies to all condition operators except
/// ...IfExists and Null check." (IAM JSON policy elements: Condition)
#[test]
fn missing_keys() {
    for (op, expected) in [
        ("StringEquals", false),
        ("StringNotEquals", true),
        ("StringLike", false),
        ("StringNotLike", true),
        ("StringEqualsIgnoreCase", false),
        ("StringNotEqualsIgnoreCase", true),
        ("NumericEquals", false),
        ("NumericNotEquals", true),
        ("DateEquals", false),
        ("DateNotEquals", true),
        ("IpAddress", false),
        ("NotIpAddress", true),
        ("ArnLike", false),
        ("ArnNotLike", true),
        ("ArnEquals", false),
        ("ArnNotEquals", true),
        ("Bool", false),
        ("BinaryEquals", false),
        ("StringEqualsIfExists", true),
        ("NumericLessThanIfExists", true),
        ("BoolIfExists", true),
    ] {
        assert_eq!(
            allowed(&format!(r#"{{"{op}": {{"aws:Missing": "1"}}}}"#), &[]),
            expected,
            "{op}"
        );
    }
    // "Use a Null condition operator to check if a condition key is absent": true = absent.
    assert!(allowed(r#"{"Null": {"aws:TokenIssueTime": "true"}}"#, &[]));
    assert!(!allowed(
        r#"{"Null": {"aws:TokenIssueTime": "false"}}"#,
        &[]
    ));
    assert!(allowed(
        r#"{"Null": {"aws:TokenIssueTime": "false"}}"#,
        &[("aws:TokenIssueTime", one("2024-01-01T00:00:00Z"))]
    ));
    // The explanation records the keys that were needed and absent.
    let e = evaluate(
        &with_context(&[]),
        &cond_set(r#"{"StringEquals": {"aws:SourceVpce": "vpce-1"}}"#),
    );
    assert_eq!(e.explanation.missing_context_keys, ["aws:SourceVpce"]);
}

#[test]
fn ifexists_still_checks_present_keys() {
    // "StringEqualsIfExists": {"ec2:InstanceType": ["t1.*", ...]}-style example.
    let c = r#"{"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}"#;
    assert!(allowed(c, &[]));
    assert!(allowed(c, &[("ec2:InstanceType", one("t2.micro"))]));
    assert!(!allowed(c, &[("ec2:InstanceType", one("p4d.24xlarge"))]));
}

#[test]
fn string_operators() {
    // Keys are case-insensitive, values case-sensitive.
    let c = r#"{"StringEquals": {"AWS:PrincipalTag/job-category": "iamuser-admin"}}"#;
    let mut r = with_context(&[]);
    if let Principal::User { tags, .. } = &mut r.principal {
        tags.insert("job-category".into(), "iamuser-admin".into());
    }
    assert!(decide(&r, &cond_set(c)).is_allowed());
    if let Principal::User { tags, .. } = &mut r.principal {
        tags.insert("job-category".into(), "IAMUser-Admin".into());
    }
    assert!(!decide(&r, &cond_set(c)).is_allowed());
    assert!(allowed(
        r#"{"StringEqualsIgnoreCase": {"aws:k": "Straße"}}"#,
        &[("aws:K", one("STRAẞE"))]
    ));
    assert!(allowed(
        r#"{"StringLike": {"s3:prefix": ["", "home/", "home/alice/*"]}}"#,
        &[("s3:prefix", one("home/alice/docs/x"))]
    ));
    assert!(!allowed(
        r#"{"StringLike": {"s3:prefix": ["", "home/", "home/alice/*"]}}"#,
        &[("s3:prefix", one("home/bob/"))]
    ));
    // StringEquals does not glob.
    assert!(!allowed(
        r#"{"StringEquals": {"aws:k": "a*"}}"#,
        &[("aws:k", one("abc"))]
    ));
    assert!(allowed(
        r#"{"StringNotEquals": {"aws:k": ["a", "b"]}}"#,
        &[("aws:k", one("c"))]
    ));
    assert!(!allowed(
        r#"{"StringNotEquals": {"aws:k": ["a", "b"]}}"#,
        &[("aws:k", one("b"))]
    ));
}

#[test]
fn numeric_date_bool_binary_ip_arn() {
    // "NumericLessThanEquals": {"s3:max-keys": "10"}
    let c = r#"{"NumericLessThanEquals": {"s3:max-keys": "10"}}"#;
    assert!(allowed(c, &[("s3:max-keys", one("10"))]));
    assert!(allowed(c, &[("s3:max-keys", one("2.5"))]));
    assert!(!allowed(c, &[("s3:max-keys", one("11"))]));
    assert!(!allowed(c, &[("s3:max-keys", one("ten"))]));
    // "DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}
    let c = r#"{"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}"#;
    assert!(allowed(
        c,
        &[("aws:TokenIssueTime", one("2020-01-02T00:00:00Z"))]
    ));
    assert!(!allowed(
        c,
        &[("aws:TokenIssueTime", one("2020-01-01T00:00:01Z"))]
    ));
    // Epoch seconds on either side.
    assert!(allowed(c, &[("aws:TokenIssueTime", one("1577836802"))]));
    assert!(allowed(
        r#"{"DateLessThan": {"aws:EpochTime": "1700000000"}}"#,
        &[("aws:EpochTime", one("2023-01-01"))]
    ));
    // "Bool": {"aws:SecureTransport": "false"} (values may be JSON booleans).
    assert!(allowed(
        r#"{"Bool": {"aws:SecureTransport": false}}"#,
        &[("aws:SecureTransport", one("false"))]
    ));
    assert!(!allowed(
        r#"{"Bool": {"aws:SecureTransport": "false"}}"#,
        &[("aws:SecureTransport", one("true"))]
    ));
    // "BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}
    assert!(allowed(
        r#"{"BinaryEquals": {"aws:key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#,
        &[("aws:key", one("QmluYXJ5VmFsdWVJbkJhc2U2NA=="))]
    ));
    // "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}
    let c = r#"{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}"#;
    assert!(allowed(c, &[("aws:SourceIp", one("203.0.113.77"))]));
    assert!(allowed(
        c,
        &[("aws:SourceIp", one("2001:db8:1234:5678::9"))]
    ));
    assert!(!allowed(
        c,
        &[("aws:SourceIp", one("2001:db8:1234:5679::9"))]
    ));
    assert!(!allowed(c, &[("aws:SourceIp", one("198.51.100.1"))]));
    assert!(allowed(
        r#"{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#,
        &[("aws:SourceIp", one("198.51.100.1"))]
    ));
    // "ArnLike": {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:TOPIC-ID"}-style, with
    // wildcards per field; ArnEquals takes wildcards too.
    for op in ["ArnLike", "ArnEquals"] {
        let c = format!(r#"{{"{op}": {{"aws:SourceArn": "arn:aws:sns:*:123456789012:topic-*"}}}}"#);
        assert!(allowed(
            &c,
            &[(
                "aws:SourceArn",
                one("arn:aws:sns:us-east-1:123456789012:topic-a")
            )]
        ));
        assert!(!allowed(
            &c,
            &[(
                "aws:SourceArn",
                one("arn:aws:sns:us-east-1:210987654321:topic-a")
            )]
        ));
        // "Each of the six colon-delimited components of the ARN is checked separately": a
        // value with fewer fields matches nothing.
        let short = format!(r#"{{"{op}": {{"aws:SourceArn": "arn:aws:sns:*"}}}}"#);
        assert!(!allowed(
            &short,
            &[(
                "aws:SourceArn",
                one("arn:aws:sns:us-east-1:123456789012:topic-a")
            )]
        ));
    }
}

/// IAM User Guide, "Set operators for multivalued context keys": "ForAllValues ... returns true
/// if every key value in the request matches at least one value in the policy. It also returns
/// true if there are no keys in the request"; "ForAnyValue ... returns true if any one of the
/// key values in the request matches any one of the condition values in your policy".
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
#[test]
fn set_operators() {
    let all = r#"{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}"#;
    assert!(allowed(all, &[("aws:TagKeys", many(&["environment"]))]));
    assert!(allowed(
        all,
        &[("aws:TagKeys", many(&["environment", "cost-center"]))]
    ));
    assert!(!allowed(
        all,
        &[("aws:TagKeys", many(&["environment", "owner"]))]
    ));
    assert!(allowed(all, &[]));
    assert!(allowed(all, &[("aws:TagKeys", many(&[]))]));

    let any = r#"{"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}"#;
    assert!(allowed(
        any,
        &[("aws:TagKeys", many(&["environment", "owner"]))]
    ));
    assert!(!allowed(any, &[("aws:TagKeys", many(&["owner"]))]));
    assert!(!allowed(any, &[]));
    assert!(!allowed(any, &[("aws:TagKeys", many(&[]))]));

    // ForAllValues with a negated operator: no request value may be in the list.
    let none_of = r#"{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}"#;
    assert!(allowed(none_of, &[("aws:TagKeys", many(&["a", "b"]))]));
    assert!(!allowed(
        none_of,
        &[("aws:TagKeys", many(&["a", "secret"]))]
    ));

    // A multivalued key without a set operator does not match.
    assert!(!allowed(
        r#"{"StringEquals": {"aws:TagKeys": "environment"}}"#,
        &[("aws:TagKeys", many(&["environment"]))]
    ));
}

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "IAM policy elements: Variables and tags"
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
// ---------------------------------------------------------------------------------------------

const HOME_DIRS: &str = r#"{"Version": "2012-10-17", "Statement": [
    {"Action": ["s3:ListBucket"], "Effect": "Allow", "Resource": ["arn:aws:s3:::mybucket"],
     "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}},
    {"Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow",
     "Resource": ["arn:aws:s3:::mybucket/${aws:username}/*"]}]}"#;

/// "When this policy is evaluated, IAM replaces the variable ${aws:username} with the friendly
/// name of the actual current user."
#[test]
fn username_variable() {
    let set = identity(HOME_DIRS);
    let get = |who: Principal, key: &str| {
        request(
            who,
            "s3:GetObject",
            &format!("arn:aws:s3:::mybucket/{key}"),
            Some(ACCT),
        )
    };
    assert_eq!(
        decide(&get(user(ACCT, "David"), "David/a.txt"), &set),
        Decision::Allow
    );
    assert_eq!(
        decide(&get(user(ACCT, "David"), "Maria/a.txt"), &set),
        Decision::ImplicitDeny
    );
    let mut list = request(
        user(ACCT, "David"),
        "s3:ListBucket",
        "arn:aws:s3:::mybucket",
        Some(ACCT),
    );
    list.context = Context::new().with("s3:prefix", "David/reports/");
    assert_eq!(decide(&list, &set), Decision::Allow);
    list.context = Context::new().with("s3:prefix", "Maria/");
    assert_eq!(decide(&list, &set), Decision::ImplicitDeny);
    // "If AWS cannot resolve a variable this might cause the entire statement to be invalid":
    // role sessions have no aws:username, so the statement does not apply, and the lookup is
    // reported.
    let e = evaluate(&get(role_session(ACCT, "R", "David"), "David/a.txt"), &set);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.explanation.missing_context_keys, ["aws:username"]);
}

/// An unresolvable variable spoils only the value it is in: the statement's other resources
/// still match. (Found by the differential test: a Deny listing `.../home/${aws:username}/*`
/// and `.../*` must still deny a role session, which has no `aws:username`.)
#[test]
fn unresolvable_variable_spoils_only_its_value() {
    let deny = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "NoWrites", "Effect": "Deny", "Action": "s3:PutObject",
         "Resource": ["arn:aws:s3:::data/home/${aws:username}/*", "arn:aws:s3:::data/*"]}]}"#;
    let set = identity(deny);
    let put = |p: Principal| {
        request(
            p,
            "s3:PutObject",
            "arn:aws:s3:::data/home/bob/x",
            Some(ACCT),
        )
    };
    for caller in [role_session(ACCT, "app", "s"), user(ACCT, "alice")] {
        assert_eq!(
            decide(&put(caller.clone()), &set),
            Decision::ExplicitDeny,
            "{caller:?}"
        );
    }
    // A variable after a wildcard is still a variable.
    let key = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa";
    let set = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:DescribeKey",
            "Resource": "arn:aws:kms:*:123456789012:key/${aws:PrincipalTag/team, '1111aaaa'}"}}"#,
    );
    let describe = |p: Principal| request(p, "kms:DescribeKey", key, None);
    assert_eq!(
        decide(&describe(user(ACCT, "alice")), &set),
        Decision::Allow
    );
    let mut tagged = user(ACCT, "alice");
    if let Principal::User { tags, .. } = &mut tagged {
        tags.insert("team".into(), "2222bbbb".into());
    }
    assert_eq!(decide(&describe(tagged), &set), Decision::ImplicitDeny);
    // In a condition, an unresolvable value can never be satisfied: positive operators can
    // still match another value, negated operators fail. (Role sessions have no aws:username.)
    let as_session = |condition: &str| {
        let mut r = request(
            role_session(ACCT, "app", "s"),
            "s3:GetObject",
            OBJ,
            Some(ACCT),
        );
        r.context = Context::new().with("aws:k", "v");
        decide(&r, &cond_set(condition)).is_allowed()
    };
    assert!(as_session(
        r#"{"StringEquals": {"aws:k": ["${aws:username}", "v"]}}"#
    ));
    assert!(!as_session(
        r#"{"StringEquals": {"aws:k": ["${aws:username}"]}}"#
    ));
    assert!(!as_session(
        r#"{"StringNotEquals": {"aws:k": ["${aws:username}", "zzz"]}}"#
    ));
    assert!(as_session(
        r#"{"StringNotEquals": {"aws:k": ["${aws:username, 'x'}", "zzz"]}}"#
    ));
    assert!(!as_session(
        r#"{"ForAllValues:StringNotLike": {"aws:k": "${aws:username}"}}"#
    ));
    // For an IAM user the variable resolves.
    assert!(allowed(
        r#"{"StringNotEquals": {"aws:k": ["${aws:username}", "zzz"]}}"#,
        &[("aws:k", one("v"))]
    ));
    // Likewise `NotResource`: an unresolvable pattern is not "not matched".
    let not_resource = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*",
            "NotResource": ["arn:aws:s3:::c/${aws:username}", "arn:aws:s3:::zzz"]}}"#,
    );
    let get = request(
        role_session(ACCT, "app", "s"),
        "s3:GetObject",
        "arn:aws:s3:::b/x",
        Some(ACCT),
    );
    assert_eq!(decide(&get, &not_resource), Decision::ImplicitDeny);
    let get = request(
        user(ACCT, "alice"),
        "s3:GetObject",
        "arn:aws:s3:::b/x",
        Some(ACCT),
    );
    assert_eq!(decide(&get, &not_resource), Decision::Allow);
}

/// "Policy variables were introduced in version 2012-10-17, so earlier versions of the policy
/// language don't support policy variables": in 2008-10-17 `${aws:username}` is literal text.
#[test]
fn variables_are_literal_in_2008() {
    let set = identity(&HOME_DIRS.replace("2012-10-17", "2008-10-17"));
    let r = |key: &str| {
        request(
            user(ACCT, "David"),
            "s3:GetObject",
            &format!("arn:aws:s3:::mybucket/{key}"),
            Some(ACCT),
        )
    };
    assert_eq!(decide(&r("David/a.txt"), &set), Decision::ImplicitDeny);
    assert_eq!(decide(&r("${aws:username}/a.txt"), &set), Decision::Allow);
}

/// "To add a default value to a variable, surround the default value with single quotes ('')
/// and separate the variable text and the default value with a comma and space (, )." and
/// "Special characters": `${*}`, `${?}`, `${$}`.
#[test]
fn defaults_and_escapes() {
    let set = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'company-wide'}/*"}}"#,
    );
    let mut tagged = user(ACCT, "alice");
    if let Principal::User { tags, .. } = &mut tagged {
        *tags = BTreeMap::from([("team".to_string(), "red".to_string())]);
    }
    let get = |p: Principal, key: &str| {
        request(
            p,
            "s3:GetObject",
            &format!("arn:aws:s3:::bucket/{key}"),
            Some(ACCT),
        )
    };
    assert_eq!(decide(&get(tagged.clone(), "red/x"), &set), Decision::Allow);
    assert_eq!(
        decide(&get(tagged, "company-wide/x"), &set),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&get(user(ACCT, "bob"), "company-wide/x"), &set),
        Decision::Allow
    );

    let literal_star = identity(
        r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bucket/${*}${?}${$}"}}"#,
    );
    assert_eq!(
        decide(&get(user(ACCT, "a"), "*?$"), &literal_star),
        Decision::Allow
    );
    assert_eq!(
        decide(&get(user(ACCT, "a"), "ab$"), &literal_star),
        Decision::ImplicitDeny
    );
    // In condition values too.
    assert!(allowed(
        r#"{"StringLike": {"aws:k": "a${*}*"}}"#,
        &[("aws:k", one("a*bc"))]
    ));
    assert!(!allowed(
        r#"{"StringLike": {"aws:k": "a${*}*"}}"#,
        &[("aws:k", one("abc"))]
    ));
}

// ---------------------------------------------------------------------------------------------
// IAM User Guide, "AWS global condition context keys"
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
// ---------------------------------------------------------------------------------------------

/// aws:PrincipalArn of a role session is the role's ARN; aws:userid is `role-id:session`;
/// aws:username exists only for IAM users.
#[test]
fn derived_global_keys() {
    let session = Principal::RoleSession {
        account: ACCT.into(),
        role_name: "Admin".into(),
        role_path: "/ops/".into(),
        role_id: "AROAEXAMPLEID".into(),
        session_name: "alice".into(),
        tags: BTreeMap::from([("team".into(), "red".into())]),
        source_identity: Some("alice@example.com".into()),
    };
    assert_eq!(
        session.arn().as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/Admin/alice")
    );
    assert_eq!(
        session.principal_arn().as_deref(),
        Some("arn:aws:iam::123456789012:role/ops/Admin")
    );
    assert_eq!(session.userid().as_deref(), Some("AROAEXAMPLEID:alice"));
    let mut r = request(session, "s3:GetObject", OBJ, Some(ACCT));
    r.context = Context::new().with("aws:SourceVpce", "vpce-1");
    let ctx = r.effective_context();
    let get = |k: &str| match ctx.get(k) {
        Some(ContextValue::Single(s)) => Some(s.as_str()),
        _ => None,
    };
    assert_eq!(
        get("aws:PrincipalArn"),
        Some("arn:aws:iam::123456789012:role/ops/Admin")
    );
    assert_eq!(get("aws:PrincipalAccount"), Some(ACCT));
    assert_eq!(get("aws:userid"), Some("AROAEXAMPLEID:alice"));
    assert_eq!(get("aws:username"), None);
    assert_eq!(get("aws:PrincipalType"), Some("AssumedRole"));
    assert_eq!(get("aws:PrincipalTag/team"), Some("red"));
    assert_eq!(get("aws:ResourceAccount"), Some(ACCT));
    assert_eq!(get("aws:SourceIdentity"), Some("alice@example.com"));
    assert_eq!(get("aws:PrincipalIsAWSService"), Some("false"));
    assert_eq!(get("aws:SourceVpce"), Some("vpce-1"));

    let u = user(ACCT, "bob");
    assert_eq!(
        u.arn().as_deref(),
        Some("arn:aws:iam::123456789012:user/bob")
    );
    assert_eq!(u.principal_arn(), u.arn());
    let root = root(ACCT);
    assert_eq!(
        root.arn().as_deref(),
        Some("arn:aws:iam::123456789012:root")
    );
    assert_eq!(root.userid().as_deref(), Some(ACCT));

    // An explicit context value wins over the derived one.
    let mut r = request(user(ACCT, "bob"), "s3:GetObject", OBJ, Some(ACCT));
    r.context = Context::new().with("aws:username", "mallory");
    assert_eq!(
        r.effective_context().get("aws:username"),
        Some(&ContextValue::Single("mallory".into()))
    );

    // Derived keys in conditions: pin a trust policy to one role with aws:PrincipalArn.
    let set = PolicySet {
        identity: vec![named(
            PK::Identity,
            "i",
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}}"#,
        )],
        resource: Some(named(
            PK::Trust,
            "arn:aws:iam::123456789012:role/Target",
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "444455556666"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::444455556666:role/EC2CrossAccountAssumeRole"}}}}"#,
        )),
        ..PolicySet::default()
    };
    let assume = |p: Principal| {
        request(
            p,
            "sts:AssumeRole",
            "arn:aws:iam::123456789012:role/Target",
            Some(ACCT),
        )
    };
    assert_eq!(
        decide(
            &assume(role_session(OTHER, "EC2CrossAccountAssumeRole", "i-1")),
            &set
        ),
        Decision::Allow
    );
    assert_eq!(
        decide(&assume(user(OTHER, "intern")), &set),
        Decision::ImplicitDeny
    );
}
