//! The AWS CLI against a real server: the seed's IAM steps, cross-account AssumeRole with the
//! Step 9 export flow, denials, malformed policies and TLS-only context keys.

mod common;

use common::*;

const TRUST_A_ROOT: &str = "step3-trust-another-account.json";

fn setup_seed_roles(s: &TestServer) {
    // Step 3 in account B: the role trusted by account A, and its inline policy (verbatim).
    let role = ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "create-role",
        "--role-name",
        "CrossAccountS3AccessRole",
        "--description",
        "Allows Account A EC2 to access encrypted S3 bucket",
        "--assume-role-policy-document",
        &seed_file(TRUST_A_ROOT),
    ]));
    assert_eq!(
        role["Role"]["Arn"],
        "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole"
    );
    ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "put-role-policy",
        "--role-name",
        "CrossAccountS3AccessRole",
        "--policy-name",
        "S3AndKMSAccess",
        "--policy-document",
        &seed_file("step3-S3AndKMSAccess.json"),
    ]));
    // Step 5 in account A: the EC2 role and its inline policy (verbatim).
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-role",
        "--role-name",
        "EC2CrossAccountAssumeRole",
        "--description",
        "Allows EC2 to assume role in Account B",
        "--assume-role-policy-document",
        &seed_file("step5-trust-ec2.json"),
    ]));
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "put-role-policy",
        "--role-name",
        "EC2CrossAccountAssumeRole",
        "--policy-name",
        "AssumeRoleInAccountB",
        "--policy-document",
        &seed_file("step5-AssumeRoleInAccountB.json"),
    ]));
}

fn seed_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace().join("tests/server/seed").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn seed_steps_3_and_5_iam_calls_store_the_documents_verbatim() {
    let s = TestServer::start();
    setup_seed_roles(&s);

    let got = ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "get-role-policy",
        "--role-name",
        "CrossAccountS3AccessRole",
        "--policy-name",
        "S3AndKMSAccess",
    ]));
    assert_eq!(got["RoleName"], "CrossAccountS3AccessRole");
    assert_eq!(
        got["PolicyDocument"],
        seed_json("step3-S3AndKMSAccess.json")
    );

    let got = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "get-role-policy",
        "--role-name",
        "EC2CrossAccountAssumeRole",
        "--policy-name",
        "AssumeRoleInAccountB",
    ]));
    assert_eq!(
        got["PolicyDocument"],
        seed_json("step5-AssumeRoleInAccountB.json")
    );

    let role = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "get-role",
        "--role-name",
        "EC2CrossAccountAssumeRole",
    ]));
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"],
        seed_json("step5-trust-ec2.json")
    );
    assert_eq!(
        role["Role"]["Description"],
        "Allows EC2 to assume role in Account B"
    );
    assert_eq!(role["Role"]["MaxSessionDuration"], 3600);
    assert!(role["Role"]["RoleId"].as_str().unwrap().starts_with("AROA"));

    // Roles are per account: account A does not see B's role.
    let roles = ok_json(&s.aws(&["--profile", "account-a", "iam", "list-roles"]));
    let names: Vec<&str> = roles["Roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["RoleName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["EC2CrossAccountAssumeRole"]);
    let policies = ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "list-role-policies",
        "--role-name",
        "CrossAccountS3AccessRole",
    ]));
    assert_eq!(
        policies["PolicyNames"],
        serde_json::json!(["S3AndKMSAccess"])
    );

    // Creating it again is EntityAlreadyExists.
    let err = failed(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "create-role",
        "--role-name",
        "CrossAccountS3AccessRole",
        "--assume-role-policy-document",
        &seed_file(TRUST_A_ROOT),
    ]));
    assert!(err.contains("EntityAlreadyExists"), "{err}");
    assert!(
        err.contains("Role with name CrossAccountS3AccessRole already exists."),
        "{err}"
    );
}

#[test]
fn cross_account_assume_role_and_the_step_9_export_flow() {
    let s = TestServer::start();
    setup_seed_roles(&s);

    let me = ok_json(&s.aws(&["--profile", "account-a", "sts", "get-caller-identity"]));
    assert_eq!(me["Account"], A);
    assert_eq!(me["Arn"], "arn:aws:iam::111111111111:user/admin");

    let out = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole",
        "--role-session-name",
        "cross-account-session",
    ]));
    let creds = &out["Credentials"];
    let key = creds["AccessKeyId"].as_str().unwrap();
    assert!(key.starts_with("ASIA"), "{key}");
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::222222222222:assumed-role/CrossAccountS3AccessRole/cross-account-session"
    );
    assert!(
        out["AssumedRoleUser"]["AssumedRoleId"]
            .as_str()
            .unwrap()
            .ends_with(":cross-account-session")
    );

    // export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_SESSION_TOKEN=...
    let env = [
        ("AWS_ACCESS_KEY_ID", key),
        (
            "AWS_SECRET_ACCESS_KEY",
            creds["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", creds["SessionToken"].as_str().unwrap()),
    ];
    let who = ok_json(&s.aws_env(&["sts", "get-caller-identity"], &env));
    assert_eq!(who["Account"], B);
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::222222222222:assumed-role/CrossAccountS3AccessRole/cross-account-session"
    );

    // The session has only the role's permissions: no IAM.
    let err = failed(&s.aws_env(&["iam", "list-roles"], &env));
    assert!(err.contains("AccessDenied"), "{err}");
    assert!(
        err.contains("User: arn:aws:sts::222222222222:assumed-role/CrossAccountS3AccessRole/cross-account-session is not authorized to perform: iam:ListRoles on resource: * because no identity-based policy allows the iam:ListRoles action"),
        "{err}"
    );
}

#[test]
fn assume_role_is_denied_when_the_trust_policy_does_not_name_the_caller() {
    let s = TestServer::start();
    // Account B's role trusts only account 333333333333.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"sts:AssumeRole"}]}"#;
    ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "create-role",
        "--role-name",
        "Other",
        "--assume-role-policy-document",
        trust,
    ]));
    let err = failed(&s.aws(&[
        "--profile",
        "account-a",
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::222222222222:role/Other",
        "--role-session-name",
        "s1",
    ]));
    assert!(
        err.contains("An error occurred (AccessDenied) when calling the AssumeRole operation: User: arn:aws:iam::111111111111:user/admin is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/Other"),
        "{err}"
    );
    // A role that does not exist answers the same way (existence is not revealed).
    let err = failed(&s.aws(&[
        "--profile",
        "account-a",
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::222222222222:role/Missing",
        "--role-session-name",
        "s1",
    ]));
    assert!(err.contains("(AccessDenied)"), "{err}");
}

#[test]
fn iam_call_is_denied_for_a_principal_without_permission_and_changes_nothing() {
    let s = TestServer::start();
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-user",
        "--user-name",
        "bob",
    ]));
    let key = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-access-key",
        "--user-name",
        "bob",
    ]));
    let env = [
        (
            "AWS_ACCESS_KEY_ID",
            key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        ),
    ];
    let who = ok_json(&s.aws_env(&["sts", "get-caller-identity"], &env));
    assert_eq!(who["Arn"], "arn:aws:iam::111111111111:user/bob");
    let err = failed(&s.aws_env(
        &[
            "iam",
            "create-role",
            "--role-name",
            "Sneaky",
            "--assume-role-policy-document",
            &seed_file(TRUST_A_ROOT),
        ],
        &env,
    ));
    assert!(
        err.contains("User: arn:aws:iam::111111111111:user/bob is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::111111111111:role/Sneaky because no identity-based policy allows the iam:CreateRole action"),
        "{err}"
    );
    let err = failed(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "get-role",
        "--role-name",
        "Sneaky",
    ]));
    assert!(
        err.contains("NoSuchEntity") && err.contains("The role with name Sneaky cannot be found."),
        "{err}"
    );

    // An explicit deny wins over AdministratorAccess, and the message says so.
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "attach-user-policy",
        "--user-name",
        "bob",
        "--policy-arn",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ]));
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateRole","Resource":"*"}]}"#;
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "put-user-policy",
        "--user-name",
        "bob",
        "--policy-name",
        "NoRoles",
        "--policy-document",
        deny,
    ]));
    let err = failed(&s.aws_env(
        &[
            "iam",
            "create-role",
            "--role-name",
            "Sneaky",
            "--assume-role-policy-document",
            &seed_file(TRUST_A_ROOT),
        ],
        &env,
    ));
    assert!(
        err.contains("with an explicit deny in an identity-based policy"),
        "{err}"
    );
    ok_json(&s.aws_env(&["iam", "list-roles"], &env));
}

#[test]
fn malformed_policy_documents_are_rejected_and_nothing_is_stored() {
    let s = TestServer::start();
    let err = failed(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-role",
        "--role-name",
        "Broken",
        "--assume-role-policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole""#,
    ]));
    assert!(err.contains("MalformedPolicyDocument"), "{err}");
    failed(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "get-role",
        "--role-name",
        "Broken",
    ]));

    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-role",
        "--role-name",
        "R",
        "--assume-role-policy-document",
        &seed_file(TRUST_A_ROOT),
    ]));
    // An identity policy may not name a principal.
    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
    let err = failed(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "put-role-policy",
        "--role-name",
        "R",
        "--policy-name",
        "P",
        "--policy-document",
        with_principal,
    ]));
    assert!(err.contains("MalformedPolicyDocument"), "{err}");
    let listed = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "list-role-policies",
        "--role-name",
        "R",
    ]));
    assert_eq!(listed["PolicyNames"], serde_json::json!([]));
}

#[test]
fn secure_transport_is_true_only_on_the_tls_listener() {
    let s = TestServer::start();
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-user",
        "--user-name",
        "tls-only",
    ]));
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"},
        {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "put-user-policy",
        "--user-name",
        "tls-only",
        "--policy-name",
        "P",
        "--policy-document",
        policy,
    ]));
    let key = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-access-key",
        "--user-name",
        "tls-only",
    ]));
    let env = [
        (
            "AWS_ACCESS_KEY_ID",
            key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
        ),
    ];
    ok_json(&s.aws_env(&["iam", "list-roles"], &env));
    let err = failed(&s.aws_env(
        &["iam", "list-roles", "--endpoint-url", &s.info.http_endpoint],
        &env,
    ));
    assert!(
        err.contains("with an explicit deny in an identity-based policy"),
        "{err}"
    );
}

/// The seed's Step 9 as the instance would run it: credentials of the EC2 role's session (as
/// the instance metadata service will issue them) assume the role in account B. Cross-account,
/// the caller's own identity policy (`AssumeRoleInAccountB`) must allow too.
#[test]
fn seed_step_9_from_the_ec2_role_session_needs_its_identity_policy() {
    let s = TestServer::start();
    setup_seed_roles(&s);
    let role = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "get-role",
        "--role-name",
        "EC2CrossAccountAssumeRole",
    ]));
    let key: [u8; 32] = std::fs::read(s.data_dir().join("sts-session.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let sts = airlock_sts::Sts::new(key);
    let mut session = airlock_sts::Session::example();
    session.access_key_id = "ASIAINSTANCEPROFILE1".into();
    session.secret_access_key = "instance-secret".into();
    session.account = A.into();
    session.role_name = "EC2CrossAccountAssumeRole".into();
    session.role_id = role["Role"]["RoleId"].as_str().unwrap().into();
    session.session_name = "i-0123456789abcdef0".into();
    session.issued = airlock_iam::now();
    session.expiration = airlock_iam::now() + 3600;
    let token = sts.seal(&session);
    let env = [
        ("AWS_ACCESS_KEY_ID", session.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", session.secret_access_key.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    // Step 9.2: the instance's identity.
    let who = ok_json(&s.aws_env(&["sts", "get-caller-identity"], &env));
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::111111111111:assumed-role/EC2CrossAccountAssumeRole/i-0123456789abcdef0"
    );
    // Step 9.3, verbatim.
    let assume = [
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole",
        "--role-session-name",
        "cross-account-session",
    ];
    let out = ok_json(&s.aws_env(&assume, &env));
    assert_eq!(
        out["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::222222222222:assumed-role/CrossAccountS3AccessRole/cross-account-session"
    );

    // Without AssumeRoleInAccountB the trust policy alone is not enough across accounts.
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "delete-role-policy",
        "--role-name",
        "EC2CrossAccountAssumeRole",
        "--policy-name",
        "AssumeRoleInAccountB",
    ]));
    let err = failed(&s.aws_env(&assume, &env));
    assert!(
        err.contains("User: arn:aws:sts::111111111111:assumed-role/EC2CrossAccountAssumeRole/i-0123456789abcdef0 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/CrossAccountS3AccessRole"),
        "{err}"
    );
}
