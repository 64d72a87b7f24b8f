//! The key policy as the root of trust, cross-account use, and KMS condition keys, through the
//! in-process interface (the same code path the JSON protocol and S3 use).
//!
//! Sources: KMS Developer Guide, "Key policies in AWS KMS", "Default key policy", "Allowing
//! users in other accounts to use a KMS key", "Condition keys for AWS KMS".

mod common;

use airlock_kms::{
    CreateKeyInput, DecryptInput, EncryptInput, GenerateDataKeyInput, KmsError, ReEncryptInput,
};
use airlock_policy::{ContextValue, Decision, MissingAllow};
use common::*;
use zeroize::Zeroizing;

fn seed_key(e: &Env) -> String {
    let meta = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(SEED_KEY_POLICY.into()),
                description: Some("KMS key for cross-account S3 bucket encryption".into()),
                ..Default::default()
            },
        )
        .unwrap();
    e.kms
        .create_alias(&admin(B), "alias/cross-account-s3-key", &meta.key_id)
        .unwrap();
    meta.arn
}

fn gdk(key: &str, ec: &[(&str, &str)]) -> GenerateDataKeyInput {
    GenerateDataKeyInput {
        key_id: key.to_string(),
        encryption_context: ctx(ec),
        key_spec: Some("AES_256".into()),
        number_of_bytes: None,
    }
}

fn denied(r: Result<impl std::fmt::Debug, KmsError>) -> (String, Box<airlock_policy::Evaluation>) {
    match r {
        Err(KmsError::AccessDenied {
            message,
            evaluation: Some(ev),
            ..
        }) => (message, ev),
        other => panic!("expected AccessDeniedException, got {other:?}"),
    }
}

#[test]
fn account_b_root_and_admin_use_the_seed_key() {
    let e = env();
    let arn = seed_key(&e);
    for caller in [root(B), admin(B)] {
        let dk = e.kms.generate_data_key(&caller, &gdk(&arn, &[])).unwrap();
        let back = e
            .kms
            .decrypt(
                &caller,
                &DecryptInput {
                    ciphertext_blob: dk.ciphertext_blob,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(Some(back.plaintext), dk.plaintext);
        assert_eq!(back.key_arn, arn);
    }
}

#[test]
fn account_a_uses_the_key_through_the_seed_grant_and_loses_it_when_removed() {
    let e = env();
    let arn = seed_key(&e);
    // Account A's principal needs its own IAM permission too (cross-account AND).
    let a_role = role_session(
        A,
        "EC2CrossAccountAssumeRole",
        &[(
            "kms",
            &allow(
                &["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                &arn,
            ),
        )],
    );
    let dk = e.kms.generate_data_key(&a_role, &gdk(&arn, &[])).unwrap();
    // By alias ARN, as a cross-account caller must name it.
    let alias_arn = format!("arn:aws:kms:{REGION}:{B}:alias/cross-account-s3-key");
    assert_eq!(e.kms.describe_key(&a_role, &alias_arn).unwrap().arn, arn);
    // A bare key id or alias name resolves in the caller's own account: not found.
    let key_id = arn.rsplit('/').next().unwrap();
    assert!(matches!(
        e.kms.describe_key(&a_role, key_id),
        Err(KmsError::NotFound(m)) if m == format!("Key 'arn:aws:kms:{REGION}:{A}:key/{key_id}' does not exist")
    ));
    assert!(matches!(
        e.kms.describe_key(&a_role, "alias/cross-account-s3-key"),
        Err(KmsError::NotFound(m)) if m == format!("Alias arn:aws:kms:{REGION}:{A}:alias/cross-account-s3-key is not found.")
    ));

    // A is not granted Encrypt by the key policy.
    let (msg, _) = denied(e.kms.encrypt(
        &role_session(
            A,
            "EC2CrossAccountAssumeRole",
            &[("kms", &allow(&["kms:*"], "*"))],
        ),
        &EncryptInput {
            key_id: arn.clone(),
            plaintext: Zeroizing::new(b"x".to_vec()),
            ..Default::default()
        },
    ));
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:sts::{A}:assumed-role/EC2CrossAccountAssumeRole/session is not \
             authorized to perform: kms:Encrypt on resource: {arn} because no resource-based \
             policy allows the kms:Encrypt action"
        )
    );

    // B removes the grant: A is denied, and the explanation says the key policy is missing.
    e.kms
        .put_key_policy(&admin(B), &arn, None, SEED_KEY_POLICY_WITHOUT_A, false)
        .unwrap();
    let (msg, ev) = denied(e.kms.decrypt(
        &a_role,
        &DecryptInput {
            ciphertext_blob: dk.ciphertext_blob.clone(),
            ..Default::default()
        },
    ));
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:sts::{A}:assumed-role/EC2CrossAccountAssumeRole/session is not \
             authorized to perform: kms:Decrypt on resource: {arn} because no resource-based \
             policy allows the kms:Decrypt action"
        )
    );
    assert_eq!(ev.decision, Decision::ImplicitDeny);
    assert!(ev.explanation.cross_account);
    assert!(ev.explanation.missing.contains(&MissingAllow::KeyPolicy));
}

#[test]
fn cross_account_needs_the_callers_iam_policy_too() {
    let e = env();
    let arn = seed_key(&e);
    // The key policy allows account A, but this role's IAM policy does not name the key.
    let a_role = role_session(A, "Other", &[("s3", &allow(&["s3:*"], "*"))]);
    let (msg, ev) = denied(e.kms.generate_data_key(&a_role, &gdk(&arn, &[])));
    assert!(
        msg.ends_with("because no identity-based policy allows the kms:GenerateDataKey action"),
        "{msg}"
    );
    assert!(matches!(
        ev.explanation.missing.as_slice(),
        [MissingAllow::Identity { .. }]
    ));
}

#[test]
fn a_role_in_b_with_an_iam_policy_but_no_key_policy_delegation_is_denied() {
    let e = env();
    // A key policy that names only the admin user: no delegation to account B's IAM policies.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"AdminOnly","Effect":"Allow",
        "Principal":{{"AWS":"arn:aws:iam::{B}:user/admin"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let meta = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .unwrap();
    let b_role = role_session(
        B,
        "CrossAccountS3AccessRole",
        &[("kms", &allow(&["kms:*"], "*"))],
    );
    let (msg, ev) = denied(e.kms.generate_data_key(&b_role, &gdk(&meta.arn, &[])));
    assert!(
        msg.ends_with("because no resource-based policy allows the kms:GenerateDataKey action"),
        "{msg}"
    );
    assert_eq!(ev.explanation.missing, vec![MissingAllow::KeyPolicy]);
    assert!(!ev.explanation.cross_account);
    // Even the account root is bound by the key policy.
    denied(e.kms.describe_key(&root(B), &meta.arn));
    // The named admin works without any further grant.
    e.kms
        .generate_data_key(&admin(B), &gdk(&meta.arn, &[]))
        .unwrap();
}

#[test]
fn explicit_deny_in_the_key_policy_wins() {
    let e = env();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"NoDecrypt","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
          "Condition":{{"StringNotEquals":{{"kms:ViaService":"s3.{REGION}.amazonaws.com"}}}}}}]}}"#
    );
    let meta = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .unwrap();
    let ec = ctx(&[("aws:s3:arn", "arn:aws:s3:::bucket/object")]);
    let dk = e
        .kms
        .generate_data_key(
            &admin(B),
            &gdk(&meta.arn, &[("aws:s3:arn", "arn:aws:s3:::bucket/object")]),
        )
        .unwrap();
    let input = DecryptInput {
        ciphertext_blob: dk.ciphertext_blob,
        encryption_context: ec,
        ..Default::default()
    };
    let (msg, ev) = denied(e.kms.decrypt(&admin(B), &input));
    assert!(
        msg.ends_with(&format!(
            "on resource: {} with an explicit deny in a resource-based policy",
            meta.arn
        )),
        "{msg}"
    );
    assert_eq!(ev.decision, Decision::ExplicitDeny);
    assert_eq!(ev.explanation.deciding[0].sid.as_deref(), Some("NoDecrypt"));
    // Through S3 (kms:ViaService set), the same caller may decrypt.
    let via = admin(B).via_service(format!("s3.{REGION}.amazonaws.com"));
    e.kms.decrypt(&via, &input).unwrap();
}

#[test]
fn via_service_caller_account_and_encryption_context_conditions() {
    let e = env();
    // The hardened key policy of the design notes: A may use the key only through S3, only for
    // objects of one bucket, and only as account A.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"AViaS3","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},
          "Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*",
          "Condition":{{
            "StringEquals":{{"kms:ViaService":"s3.{REGION}.amazonaws.com","kms:CallerAccount":"{A}"}},
            "StringLike":{{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::cross-account-secure-bucket-demo*"}},
            "ForAllValues:StringEquals":{{"kms:EncryptionContextKeys":["aws:s3:arn"]}}}}}}]}}"#
    );
    let meta = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .unwrap();
    let a_role = role_session(A, "R", &[("kms", &allow(&["kms:*"], &meta.arn))]);
    let via = a_role
        .clone()
        .via_service(format!("s3.{REGION}.amazonaws.com"));
    let good = [(
        "aws:s3:arn",
        "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt",
    )];
    e.kms
        .generate_data_key(&via, &gdk(&meta.arn, &good))
        .unwrap();
    // Directly (no kms:ViaService): denied.
    let (_, ev) = denied(e.kms.generate_data_key(&a_role, &gdk(&meta.arn, &good)));
    assert!(
        ev.explanation
            .missing_context_keys
            .iter()
            .any(|k| k.eq_ignore_ascii_case("kms:ViaService")),
        "{:?}",
        ev.explanation
    );
    // Another bucket's object: denied.
    denied(e.kms.generate_data_key(
        &via,
        &gdk(&meta.arn, &[("aws:s3:arn", "arn:aws:s3:::other-bucket/x")]),
    ));
    // An extra context key: ForAllValues fails.
    denied(
        e.kms
            .generate_data_key(&via, &gdk(&meta.arn, &[good[0], ("extra", "1")])),
    );
    // Via another service: denied.
    denied(
        e.kms.generate_data_key(
            &a_role
                .clone()
                .via_service(format!("ec2.{REGION}.amazonaws.com")),
            &gdk(&meta.arn, &good),
        ),
    );
}

#[test]
fn calls_via_a_service_drop_the_callers_network_keys() {
    let e = env();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"OnlyFromVpce","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
          "Condition":{{"StringNotEquals":{{"aws:SourceVpce":"vpce-1a2b3c4d"}},"BoolIfExists":{{"aws:ViaAWSService":"false"}}}}}}]}}"#
    );
    let meta = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(policy),
                bypass_policy_lockout_safety_check: true,
                ..Default::default()
            },
        )
        .unwrap();
    let mut caller = admin(B);
    caller.context.insert(
        "aws:SourceVpce",
        ContextValue::Single("vpce-1a2b3c4d".into()),
    );
    e.kms
        .generate_data_key(&caller, &gdk(&meta.arn, &[]))
        .unwrap();
    let mut outside = admin(B);
    outside
        .context
        .insert("aws:SourceIp", ContextValue::Single("203.0.113.9".into()));
    denied(e.kms.generate_data_key(&outside, &gdk(&meta.arn, &[])));
    // Via S3: aws:SourceVpce is absent (so StringNotEquals matches), but aws:ViaAWSService is
    // true, which exempts the call.
    let via = caller.via_service(format!("s3.{REGION}.amazonaws.com"));
    e.kms.generate_data_key(&via, &gdk(&meta.arn, &[])).unwrap();
}

#[test]
fn request_alias_and_resource_aliases_conditions() {
    let e = env();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"ByAlias","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:Encrypt","Resource":"*",
          "Condition":{{"StringEquals":{{"kms:RequestAlias":"alias/app"}}}}}},
        {{"Sid":"Tagged","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:DescribeKey","Resource":"*",
          "Condition":{{"ForAnyValue:StringEquals":{{"kms:ResourceAliases":"alias/app"}}}}}}]}}"#
    );
    let meta = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .unwrap();
    let a = role_session(A, "R", &[("kms", &allow(&["kms:*"], "*"))]);
    let enc = |key: &str| EncryptInput {
        key_id: key.to_string(),
        plaintext: Zeroizing::new(b"data".to_vec()),
        ..Default::default()
    };
    // No alias yet: DescribeKey has no kms:ResourceAliases; Encrypt by ARN has no RequestAlias.
    denied(e.kms.describe_key(&a, &meta.arn));
    e.kms
        .create_alias(&admin(B), "alias/app", &meta.key_id)
        .unwrap();
    e.kms.describe_key(&a, &meta.arn).unwrap();
    denied(e.kms.encrypt(&a, &enc(&meta.arn)));
    e.kms
        .encrypt(&a, &enc(&format!("arn:aws:kms:{REGION}:{B}:alias/app")))
        .unwrap();
    // Once the alias moves to another key, this key loses both.
    let other = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    e.kms
        .update_alias(&admin(B), "alias/app", &other.key_id)
        .unwrap();
    denied(e.kms.describe_key(&a, &meta.arn));
}

#[test]
fn lockout_safety_check_and_its_bypass() {
    let e = env();
    // A policy that does not let the caller call PutKeyPolicy later.
    let locked = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    let err = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                policy: Some(locked.clone()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
    assert_eq!(
        err.to_string(),
        "The new key policy will not allow you to update the key policy in the future."
    );
    // Nothing was created.
    assert!(
        e.kms
            .list_keys(&admin(B), None, None)
            .unwrap()
            .items
            .is_empty()
    );

    let meta = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let err = e
        .kms
        .put_key_policy(&admin(B), &meta.key_id, None, &locked, false)
        .unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
    assert!(
        e.kms
            .get_key_policy(&admin(B), &meta.key_id, None)
            .unwrap()
            .contains("key-default-1")
    );
    // With the bypass, the caller locks itself out for good.
    e.kms
        .put_key_policy(&admin(B), &meta.key_id, Some("default"), &locked, true)
        .unwrap();
    denied(e.kms.get_key_policy(&admin(B), &meta.key_id, None));
    denied(e.kms.get_key_policy(&root(B), &meta.key_id, None));
}

#[test]
fn malformed_policies_are_rejected_with_the_reason_and_change_nothing() {
    let e = env();
    let meta = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    for bad in [
        "not json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
    ] {
        let err = e
            .kms
            .put_key_policy(&admin(B), &meta.key_id, None, bad, false)
            .unwrap_err();
        assert_eq!(err.code(), "MalformedPolicyDocumentException", "{bad}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        e.kms.get_key_policy(&admin(B), &meta.key_id, None).unwrap(),
        airlock_kms::default_key_policy(B)
    );
}

#[test]
fn iam_only_actions_follow_the_callers_policies() {
    let e = env();
    let nobody = role_session(B, "NoKms", &[("s3", &allow(&["s3:*"], "*"))]);
    let (msg, _) = denied(e.kms.create_key(&nobody, CreateKeyInput::default()));
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:sts::{B}:assumed-role/NoKms/session is not authorized to perform: \
             kms:CreateKey on resource: * because no identity-based policy allows the \
             kms:CreateKey action"
        )
    );
    denied(e.kms.list_keys(&nobody, None, None));
    let creator = role_session(
        B,
        "Creator",
        &[(
            "kms",
            &allow(
                &["kms:CreateKey", "kms:PutKeyPolicy", "kms:CreateAlias"],
                "*",
            ),
        )],
    );
    let meta = e
        .kms
        .create_key(&creator, CreateKeyInput::default())
        .unwrap();
    // CreateAlias needs the alias resource in the IAM policy and the key in the key policy.
    let alias_only = role_session(
        B,
        "AliasOnly",
        &[(
            "kms",
            &allow(
                &["kms:CreateAlias"],
                &format!("arn:aws:kms:{REGION}:{B}:alias/*"),
            ),
        )],
    );
    let (msg, _) = denied(e.kms.create_alias(&alias_only, "alias/x", &meta.key_id));
    assert!(msg.contains(&format!("on resource: {}", meta.arn)), "{msg}");
    e.kms
        .create_alias(&creator, "alias/x", &meta.key_id)
        .unwrap();
}

#[test]
fn re_encrypt_needs_from_and_to() {
    let e = env();
    let k1 = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let k2 = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let blob = e
        .kms
        .encrypt(
            &admin(B),
            &EncryptInput {
                key_id: k1.arn.clone(),
                plaintext: Zeroizing::new(b"payload".to_vec()),
                encryption_context: ctx(&[("a", "1")]),
                encryption_algorithm: None,
            },
        )
        .unwrap()
        .ciphertext_blob;
    let input = ReEncryptInput {
        ciphertext_blob: blob,
        source_encryption_context: ctx(&[("a", "1")]),
        destination_key_id: k2.key_id.clone(),
        destination_encryption_context: ctx(&[("b", "2")]),
        ..Default::default()
    };
    let from_only = role_session(B, "R", &[("kms", &allow(&["kms:ReEncryptFrom"], "*"))]);
    let (msg, _) = denied(e.kms.re_encrypt(&from_only, &input));
    assert!(msg.contains("kms:ReEncryptTo"), "{msg}");
    let out = e.kms.re_encrypt(&admin(B), &input).unwrap();
    assert_eq!(
        (out.source_key_arn.as_str(), out.key_arn.as_str()),
        (k1.arn.as_str(), k2.arn.as_str())
    );
    let back = e
        .kms
        .decrypt(
            &admin(B),
            &DecryptInput {
                ciphertext_blob: out.ciphertext_blob,
                encryption_context: ctx(&[("b", "2")]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(&back.plaintext[..], b"payload");
}

#[test]
fn authorize_key_use_matches_the_operation() {
    let e = env();
    let arn = seed_key(&e);
    let ec = ctx(&[("aws:s3:arn", "arn:aws:s3:::b")]);
    let a_role = role_session(A, "R", &[("kms", &allow(&["kms:Decrypt"], &arn))]);
    assert_eq!(
        e.kms
            .authorize_key_use(&a_role, "kms:Decrypt", &arn, &ec)
            .unwrap(),
        arn
    );
    denied(
        e.kms
            .authorize_key_use(&a_role, "kms:GenerateDataKey", &arn, &ec),
    );
    e.kms.disable_key(&admin(B), &arn).unwrap();
    assert_eq!(
        e.kms
            .authorize_key_use(&a_role, "kms:Decrypt", &arn, &ec)
            .unwrap_err()
            .code(),
        "DisabledException"
    );
}
