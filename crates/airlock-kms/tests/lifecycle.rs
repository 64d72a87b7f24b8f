//! Key states, rotation, deletion windows, aliases, tags, validation, persistence and the
//! at-rest guarantee.
//!
//! Sources: KMS Developer Guide, "Key states of AWS KMS keys", "Rotate AWS KMS keys",
//! "Delete an AWS KMS key"; KMS API Reference for each operation's parameters and errors.

mod common;

use std::sync::Arc;

use airlock_kms::{
    Clock, CreateKeyInput, DecryptInput, EncryptInput, GenerateDataKeyInput, KeyState, Kms,
    KmsError, ManualClock, MasterKey, MasterKeyError, OpenError, RotationType, Tag,
};
use airlock_store::{RedbStore, Store};
use common::*;
use zeroize::Zeroizing;

fn enc(key: &str, data: &[u8], ec: &[(&str, &str)]) -> EncryptInput {
    EncryptInput {
        key_id: key.to_string(),
        plaintext: Zeroizing::new(data.to_vec()),
        encryption_context: ctx(ec),
        encryption_algorithm: None,
    }
}

fn dec(blob: &[u8], ec: &[(&str, &str)]) -> DecryptInput {
    DecryptInput {
        ciphertext_blob: blob.to_vec(),
        encryption_context: ctx(ec),
        ..Default::default()
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, KmsError>) -> (String, String) {
    let e = r.expect_err("expected an error");
    (e.code().to_string(), e.message().unwrap_or_default())
}

#[test]
fn encryption_context_must_match_exactly() {
    let e = env();
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let blob = e
        .kms
        .encrypt(
            &admin(B),
            &enc(&k.key_id, b"secret", &[("purpose", "test"), ("dept", "x")]),
        )
        .unwrap()
        .ciphertext_blob;
    assert_eq!(
        &e.kms
            .decrypt(
                &admin(B),
                &dec(&blob, &[("dept", "x"), ("purpose", "test")])
            )
            .unwrap()
            .plaintext[..],
        b"secret"
    );
    for wrong in [
        &[][..],
        &[("purpose", "test")][..],
        &[("purpose", "TEST"), ("dept", "x")][..],
        &[("purpose", "test"), ("dept", "x"), ("more", "1")][..],
    ] {
        let err = e.kms.decrypt(&admin(B), &dec(&blob, wrong)).unwrap_err();
        assert_eq!(err.code(), "InvalidCiphertextException", "{wrong:?}");
        assert_eq!(err.message(), None, "AWS sends no message");
    }
    let mut tampered = blob.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    assert_eq!(
        code(e.kms.decrypt(
            &admin(B),
            &dec(&tampered, &[("purpose", "test"), ("dept", "x")])
        ))
        .0,
        "InvalidCiphertextException"
    );
    assert_eq!(
        code(e.kms.decrypt(&admin(B), &dec(b"garbage", &[]))).0,
        "InvalidCiphertextException"
    );
    assert_eq!(
        code(e.kms.decrypt(&admin(B), &dec(b"", &[]))).0,
        "ValidationException"
    );
}

#[test]
fn decrypt_with_the_wrong_key_id_is_incorrect_key() {
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
        .encrypt(&admin(B), &enc(&k1.key_id, b"x", &[]))
        .unwrap()
        .ciphertext_blob;
    let mut input = dec(&blob, &[]);
    input.key_id = Some(k2.arn.clone());
    assert_eq!(
        code(e.kms.decrypt(&admin(B), &input)).0,
        "IncorrectKeyException"
    );
    input.key_id = Some(k1.key_id.clone());
    e.kms.decrypt(&admin(B), &input).unwrap();
}

#[test]
fn rotation_keeps_old_ciphertexts_decryptable() {
    let e = env();
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let old = e
        .kms
        .encrypt(&admin(B), &enc(&k.arn, b"before", &[("v", "1")]))
        .unwrap()
        .ciphertext_blob;
    assert_eq!(
        airlock_kms::BlobHeader::parse(&old)
            .unwrap()
            .material_version,
        1
    );
    e.kms.rotate_key_on_demand(&admin(B), &k.key_id).unwrap();
    let new = e
        .kms
        .encrypt(&admin(B), &enc(&k.arn, b"after", &[("v", "2")]))
        .unwrap()
        .ciphertext_blob;
    assert_eq!(
        airlock_kms::BlobHeader::parse(&new)
            .unwrap()
            .material_version,
        2
    );
    assert_eq!(
        &e.kms
            .decrypt(&admin(B), &dec(&old, &[("v", "1")]))
            .unwrap()
            .plaintext[..],
        b"before"
    );
    assert_eq!(
        &e.kms
            .decrypt(&admin(B), &dec(&new, &[("v", "2")]))
            .unwrap()
            .plaintext[..],
        b"after"
    );

    // Automatic rotation: enabled with a period, rotated by maintenance when due.
    assert!(
        !e.kms
            .get_key_rotation_status(&admin(B), &k.key_id)
            .unwrap()
            .enabled
    );
    e.kms
        .enable_key_rotation(&admin(B), &k.key_id, Some(90))
        .unwrap();
    let st = e.kms.get_key_rotation_status(&admin(B), &k.key_id).unwrap();
    assert_eq!((st.enabled, st.period_days), (true, Some(90)));
    assert_eq!(
        st.next_rotation_date,
        Some(e.clock.now_millis() + 90 * airlock_kms::DAY_MS)
    );
    assert!(e.kms.run_maintenance().unwrap().rotated_keys.is_empty());
    e.clock.advance_days(91);
    assert_eq!(
        e.kms.run_maintenance().unwrap().rotated_keys,
        vec![k.arn.clone()]
    );
    let third = e
        .kms
        .encrypt(&admin(B), &enc(&k.arn, b"third", &[]))
        .unwrap()
        .ciphertext_blob;
    assert_eq!(
        airlock_kms::BlobHeader::parse(&third)
            .unwrap()
            .material_version,
        3
    );
    assert_eq!(
        &e.kms
            .decrypt(&admin(B), &dec(&old, &[("v", "1")]))
            .unwrap()
            .plaintext[..],
        b"before"
    );
    let rotations = e
        .kms
        .list_key_rotations(&admin(B), &k.key_id, None, None)
        .unwrap()
        .items;
    assert_eq!(
        rotations
            .iter()
            .map(|r| r.rotation_type)
            .collect::<Vec<_>>(),
        vec![RotationType::OnDemand, RotationType::Automatic]
    );
    assert_eq!(
        code(e.kms.enable_key_rotation(&admin(B), &k.key_id, Some(30))).0,
        "ValidationException"
    );
    e.kms.disable_key_rotation(&admin(B), &k.key_id).unwrap();
    assert!(
        !e.kms
            .get_key_rotation_status(&admin(B), &k.key_id)
            .unwrap()
            .enabled
    );
}

#[test]
fn on_demand_rotation_is_limited() {
    let e = env();
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    for _ in 0..10 {
        e.kms.rotate_key_on_demand(&admin(B), &k.key_id).unwrap();
    }
    assert_eq!(
        code(e.kms.rotate_key_on_demand(&admin(B), &k.key_id)).0,
        "LimitExceededException"
    );
}

#[test]
fn disabled_keys_refuse_cryptography_until_enabled() {
    let e = env();
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let blob = e
        .kms
        .encrypt(&admin(B), &enc(&k.key_id, b"x", &[]))
        .unwrap()
        .ciphertext_blob;
    e.kms.disable_key(&admin(B), &k.key_id).unwrap();
    let d = e.kms.describe_key(&admin(B), &k.key_id).unwrap();
    assert_eq!((d.key_state, d.enabled), (KeyState::Disabled, false));
    assert_eq!(
        code(e.kms.decrypt(&admin(B), &dec(&blob, &[]))),
        (
            "DisabledException".into(),
            format!("{} is disabled.", k.arn)
        )
    );
    assert_eq!(
        code(e.kms.encrypt(&admin(B), &enc(&k.key_id, b"x", &[]))).0,
        "DisabledException"
    );
    e.kms.enable_key(&admin(B), &k.key_id).unwrap();
    e.kms.decrypt(&admin(B), &dec(&blob, &[])).unwrap();
}

#[test]
fn deletion_window_then_cancel_then_deletion() {
    let e = env();
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    e.kms
        .create_alias(&admin(B), "alias/doomed", &k.key_id)
        .unwrap();
    let blob = e
        .kms
        .encrypt(&admin(B), &enc(&k.key_id, b"x", &[]))
        .unwrap()
        .ciphertext_blob;
    for days in [6, 31] {
        assert_eq!(
            code(
                e.kms
                    .schedule_key_deletion(&admin(B), &k.key_id, Some(days))
            )
            .0,
            "ValidationException"
        );
    }
    let s = e
        .kms
        .schedule_key_deletion(&admin(B), &k.key_id, Some(7))
        .unwrap();
    assert_eq!(s.pending_window_days, 7);
    assert_eq!(
        s.deletion_date,
        e.clock.now_millis() + 7 * airlock_kms::DAY_MS
    );
    let d = e.kms.describe_key(&admin(B), &k.key_id).unwrap();
    assert_eq!(
        (d.key_state, d.deletion_date),
        (KeyState::PendingDeletion, Some(s.deletion_date))
    );
    let pending = (
        "KMSInvalidStateException".to_string(),
        format!("{} is pending deletion.", k.arn),
    );
    assert_eq!(code(e.kms.decrypt(&admin(B), &dec(&blob, &[]))), pending);
    assert_eq!(
        code(e.kms.encrypt(&admin(B), &enc(&k.key_id, b"x", &[]))),
        pending
    );
    assert_eq!(
        code(e.kms.generate_data_key(
            &admin(B),
            &GenerateDataKeyInput {
                key_id: "alias/doomed".into(),
                number_of_bytes: Some(32),
                ..Default::default()
            }
        )),
        pending
    );
    assert_eq!(code(e.kms.enable_key(&admin(B), &k.key_id)), pending);
    assert_eq!(
        code(e.kms.schedule_key_deletion(&admin(B), &k.key_id, None)),
        pending
    );

    let arn = e.kms.cancel_key_deletion(&admin(B), &k.key_id).unwrap();
    assert_eq!(arn, k.arn);
    // AWS: a key whose deletion is canceled is Disabled.
    assert_eq!(
        e.kms.describe_key(&admin(B), &k.key_id).unwrap().key_state,
        KeyState::Disabled
    );
    assert_eq!(
        code(e.kms.cancel_key_deletion(&admin(B), &k.key_id)),
        (
            "KMSInvalidStateException".into(),
            format!("{} is not pending deletion.", k.arn)
        )
    );
    e.kms.enable_key(&admin(B), &k.key_id).unwrap();
    e.kms.decrypt(&admin(B), &dec(&blob, &[])).unwrap();

    // Scheduled again and left to run out: the key and its alias are gone.
    e.kms
        .schedule_key_deletion(&admin(B), &k.key_id, Some(7))
        .unwrap();
    e.clock.advance_days(6);
    assert!(e.kms.run_maintenance().unwrap().deleted_keys.is_empty());
    e.clock.advance_days(1);
    // Past the deletion date the key is gone even before maintenance runs.
    assert_eq!(
        code(e.kms.describe_key(&admin(B), &k.key_id)).0,
        "NotFoundException"
    );
    assert_eq!(
        e.kms.run_maintenance().unwrap().deleted_keys,
        vec![k.arn.clone()]
    );
    assert_eq!(
        code(e.kms.describe_key(&admin(B), "alias/doomed")).0,
        "NotFoundException"
    );
    assert_eq!(
        code(e.kms.decrypt(&admin(B), &dec(&blob, &[]))).0,
        "InvalidCiphertextException"
    );
    assert!(
        e.kms
            .list_aliases(&admin(B), None, None, None)
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn aliases_create_update_delete_and_describe_by_every_form() {
    let e = env();
    let k1 = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let k2 = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    e.kms
        .create_alias(&admin(B), "alias/cross-account-s3-key", &k1.arn)
        .unwrap();
    let alias_arn = format!("arn:aws:kms:{REGION}:{B}:alias/cross-account-s3-key");
    for form in [
        k1.key_id.as_str(),
        k1.arn.as_str(),
        "alias/cross-account-s3-key",
        alias_arn.as_str(),
    ] {
        assert_eq!(
            e.kms.describe_key(&admin(B), form).unwrap().key_id,
            k1.key_id,
            "{form}"
        );
    }
    assert_eq!(
        code(
            e.kms
                .create_alias(&admin(B), "alias/cross-account-s3-key", &k2.key_id)
        ),
        (
            "AlreadyExistsException".into(),
            format!("An alias with the name {alias_arn} already exists")
        )
    );
    assert_eq!(
        code(e.kms.create_alias(&admin(B), "cross-account", &k2.key_id)).0,
        "ValidationException"
    );
    assert_eq!(
        code(e.kms.create_alias(&admin(B), "alias/aws/s3", &k2.key_id)).0,
        "NotAuthorizedException"
    );
    assert_eq!(
        code(e.kms.create_alias(&admin(B), "alias/bad name", &k2.key_id)).0,
        "InvalidAliasNameException"
    );
    assert_eq!(
        code(
            e.kms
                .create_alias(&admin(B), "alias/other", "alias/cross-account-s3-key")
        )
        .0,
        "ValidationException"
    );
    e.kms
        .update_alias(&admin(B), "alias/cross-account-s3-key", &k2.key_id)
        .unwrap();
    assert_eq!(
        e.kms
            .describe_key(&admin(B), "alias/cross-account-s3-key")
            .unwrap()
            .key_id,
        k2.key_id
    );
    let listed = e
        .kms
        .list_aliases(&admin(B), Some(&k2.key_id), None, None)
        .unwrap()
        .items;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].alias_arn.as_str(),
            listed[0].target_key_id.as_str()
        ),
        (alias_arn.as_str(), k2.key_id.as_str())
    );
    assert!(
        e.kms
            .list_aliases(&admin(B), Some(&k1.key_id), None, None)
            .unwrap()
            .items
            .is_empty()
    );
    e.kms
        .delete_alias(&admin(B), "alias/cross-account-s3-key")
        .unwrap();
    assert_eq!(
        code(e.kms.delete_alias(&admin(B), "alias/cross-account-s3-key")),
        (
            "NotFoundException".into(),
            format!("Alias {alias_arn} is not found.")
        )
    );
    // Another account's aliases are separate.
    e.kms
        .create_alias(&admin(B), "alias/cross-account-s3-key", &k1.key_id)
        .unwrap();
    assert!(
        e.kms
            .list_aliases(&admin(A), None, None, None)
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn key_identifiers_that_name_nothing() {
    let e = env();
    assert_eq!(
        code(e.kms.describe_key(&admin(B), "nonsense")),
        ("NotFoundException".into(), "Invalid keyId nonsense".into())
    );
    let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    assert_eq!(
        code(e.kms.describe_key(&admin(B), id)),
        (
            "NotFoundException".into(),
            format!("Key 'arn:aws:kms:{REGION}:{B}:key/{id}' does not exist")
        )
    );
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    // The right id in the wrong region is not found.
    assert_eq!(
        code(
            e.kms
                .describe_key(&admin(B), &k.arn.replace(REGION, "eu-west-1"))
        )
        .0,
        "NotFoundException"
    );
    // Management operations are not cross-account, whatever the key policy says.
    assert_eq!(
        code(e.kms.disable_key(&admin(A), &k.arn)).0,
        "NotFoundException"
    );
}

#[test]
fn parameter_validation() {
    let e = env();
    let k = e
        .kms
        .create_key(&admin(B), CreateKeyInput::default())
        .unwrap();
    let gdk = |spec: Option<&str>, n: Option<i64>| GenerateDataKeyInput {
        key_id: k.key_id.clone(),
        key_spec: spec.map(str::to_string),
        number_of_bytes: n,
        ..Default::default()
    };
    assert_eq!(
        e.kms
            .generate_data_key(&admin(B), &gdk(Some("AES_128"), None))
            .unwrap()
            .plaintext
            .unwrap()
            .len(),
        16
    );
    assert_eq!(
        e.kms
            .generate_data_key(&admin(B), &gdk(None, Some(1024)))
            .unwrap()
            .plaintext
            .unwrap()
            .len(),
        1024
    );
    let without = e
        .kms
        .generate_data_key_without_plaintext(&admin(B), &gdk(None, Some(7)))
        .unwrap();
    assert!(without.plaintext.is_none());
    assert_eq!(
        e.kms
            .decrypt(&admin(B), &dec(&without.ciphertext_blob, &[]))
            .unwrap()
            .plaintext
            .len(),
        7
    );
    for (spec, n, msg) in [
        (
            Some("AES_256"),
            Some(32),
            "Please specify either number of bytes or key spec.",
        ),
        (
            None,
            None,
            "Please specify either number of bytes or key spec.",
        ),
        (
            Some("AES_512"),
            None,
            "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
        ),
        (
            None,
            Some(0),
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            None,
            Some(1025),
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        ),
    ] {
        assert_eq!(
            code(e.kms.generate_data_key(&admin(B), &gdk(spec, n))),
            ("ValidationException".into(), msg.into())
        );
    }
    assert_eq!(
        code(e.kms.encrypt(&admin(B), &enc(&k.key_id, &[0u8; 4097], &[]))).0,
        "ValidationException"
    );
    assert_eq!(
        code(e.kms.encrypt(&admin(B), &enc(&k.key_id, &[], &[]))).0,
        "ValidationException"
    );
    e.kms
        .encrypt(&admin(B), &enc(&k.key_id, &[0u8; 4096], &[]))
        .unwrap();
    let mut bad_alg = enc(&k.key_id, b"x", &[]);
    bad_alg.encryption_algorithm = Some("RSAES_OAEP_SHA_256".into());
    assert_eq!(
        code(e.kms.encrypt(&admin(B), &bad_alg)).0,
        "InvalidKeyUsageException"
    );
    bad_alg.encryption_algorithm = Some("ROT13".into());
    assert_eq!(
        code(e.kms.encrypt(&admin(B), &bad_alg)).0,
        "ValidationException"
    );
    for input in [
        CreateKeyInput {
            key_spec: Some("RSA_2048".into()),
            ..Default::default()
        },
        CreateKeyInput {
            key_usage: Some("SIGN_VERIFY".into()),
            ..Default::default()
        },
        CreateKeyInput {
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        },
        CreateKeyInput {
            multi_region: Some(true),
            ..Default::default()
        },
    ] {
        assert_eq!(
            code(e.kms.create_key(&admin(B), input)).0,
            "UnsupportedOperationException"
        );
    }
    assert_eq!(
        code(e.kms.create_key(
            &admin(B),
            CreateKeyInput {
                key_spec: Some("AES".into()),
                ..Default::default()
            }
        ))
        .0,
        "ValidationException"
    );
    assert_eq!(
        code(e.kms.get_key_policy(&admin(B), &k.key_id, Some("other"))).0,
        "NotFoundException"
    );
    assert_eq!(
        code(e.kms.list_keys(&admin(B), Some(0), None)).0,
        "ValidationException"
    );
    // Nothing above created a key.
    assert_eq!(
        e.kms.list_keys(&admin(B), None, None).unwrap().items.len(),
        1
    );
}

#[test]
fn tags_and_resource_tag_conditions() {
    let e = env();
    let k = e
        .kms
        .create_key(
            &admin(B),
            CreateKeyInput {
                tags: vec![Tag {
                    key: "team".into(),
                    value: "storage".into(),
                }],
                ..Default::default()
            },
        )
        .unwrap();
    e.kms
        .tag_resource(
            &admin(B),
            &k.key_id,
            vec![Tag {
                key: "env".into(),
                value: "prod".into(),
            }],
        )
        .unwrap();
    let tags = e
        .kms
        .list_resource_tags(&admin(B), &k.key_id, None, None)
        .unwrap()
        .items;
    assert_eq!(
        tags.iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect::<Vec<_>>(),
        vec![("env", "prod"), ("team", "storage")]
    );
    let page = e
        .kms
        .list_resource_tags(&admin(B), &k.key_id, Some(1), None)
        .unwrap();
    assert_eq!(page.next_marker.as_deref(), Some("team"));
    let page2 = e
        .kms
        .list_resource_tags(&admin(B), &k.key_id, Some(1), page.next_marker.as_deref())
        .unwrap();
    assert_eq!(
        (page2.items[0].key.as_str(), page2.next_marker),
        ("team", None)
    );
    assert_eq!(
        code(e.kms.tag_resource(
            &admin(B),
            &k.key_id,
            vec![Tag {
                key: "aws:x".into(),
                value: "y".into()
            }]
        ))
        .0,
        "TagException"
    );
    // ABAC: an IAM policy that allows use of keys tagged env=prod.
    let abac = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
        "Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}}}]}"#;
    let role = role_session(B, "Abac", &[("abac", abac)]);
    e.kms.encrypt(&role, &enc(&k.key_id, b"x", &[])).unwrap();
    e.kms
        .untag_resource(&admin(B), &k.key_id, vec!["env".into()])
        .unwrap();
    assert_eq!(
        code(e.kms.encrypt(&role, &enc(&k.key_id, b"x", &[]))).0,
        "AccessDeniedException"
    );
}

#[test]
fn list_keys_pages_through_the_callers_account_only() {
    let e = env();
    let mut ids: Vec<String> = (0..5)
        .map(|_| {
            e.kms
                .create_key(&admin(B), CreateKeyInput::default())
                .unwrap()
                .key_id
        })
        .collect();
    e.kms
        .create_key(&admin(A), CreateKeyInput::default())
        .unwrap();
    ids.sort();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = e
            .kms
            .list_keys(&admin(B), Some(2), marker.as_deref())
            .unwrap();
        seen.extend(page.items.into_iter().map(|k| k.key_id));
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[test]
fn state_survives_reopen_and_a_different_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let master_dir = dir.path().join("mk");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(1_700_000_000_000));
    let (arn, blob) = {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let kms = Kms::open(
            store,
            MasterKey::load_or_create(&master_dir).unwrap(),
            REGION,
            clock.clone(),
        )
        .unwrap();
        let k = kms
            .create_key(
                &admin(B),
                CreateKeyInput {
                    policy: Some(SEED_KEY_POLICY.into()),
                    ..Default::default()
                },
            )
            .unwrap();
        kms.create_alias(&admin(B), "alias/cross-account-s3-key", &k.key_id)
            .unwrap();
        let blob = kms
            .encrypt(&admin(B), &enc(&k.arn, b"persist me", &[("k", "v")]))
            .unwrap()
            .ciphertext_blob;
        kms.rotate_key_on_demand(&admin(B), &k.arn).unwrap();
        kms.tag_resource(
            &admin(B),
            &k.arn,
            vec![Tag {
                key: "a".into(),
                value: "b".into(),
            }],
        )
        .unwrap();
        (k.arn, blob)
    };
    {
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let err = Kms::open(store, MasterKey::generate(), REGION, clock.clone()).unwrap_err();
        assert!(
            matches!(err, OpenError::MasterKey(MasterKeyError::Mismatch { .. })),
            "{err}"
        );
    }
    let store = Arc::new(RedbStore::open(&path).unwrap());
    let kms = Kms::open(
        store,
        MasterKey::load_or_create(&master_dir).unwrap(),
        REGION,
        clock,
    )
    .unwrap();
    assert_eq!(
        kms.describe_key(&admin(B), "alias/cross-account-s3-key")
            .unwrap()
            .arn,
        arn
    );
    assert_eq!(
        &kms.decrypt(&admin(B), &dec(&blob, &[("k", "v")]))
            .unwrap()
            .plaintext[..],
        b"persist me"
    );
    assert_eq!(
        kms.get_key_policy(&admin(B), &arn, None).unwrap(),
        SEED_KEY_POLICY
    );
    assert_eq!(
        kms.list_key_rotations(&admin(B), &arn, None, None)
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        kms.list_resource_tags(&admin(B), &arn, None, None)
            .unwrap()
            .items
            .len(),
        1
    );
}

/// Finds `needle` anywhere in the files under `dir`.
fn found_in(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}

#[test]
fn no_key_material_or_plaintext_at_rest() {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    let dir = tempfile::tempdir().unwrap();
    let master_bytes = [0x42u8; 32];
    let plaintext = b"PLAINTEXT-MARKER-0123456789-the seed's test-file.txt contents";
    let (data_key, material_versions) = {
        let store = Arc::new(RedbStore::open(&dir.path().join("state.redb")).unwrap());
        let kms = Kms::open(
            store,
            MasterKey::from_bytes(&master_bytes),
            REGION,
            Arc::new(airlock_kms::SystemClock),
        )
        .unwrap();
        let k = kms
            .create_key(&admin(B), CreateKeyInput::default())
            .unwrap();
        kms.encrypt(&admin(B), &enc(&k.arn, plaintext, &[]))
            .unwrap();
        let dk = kms
            .generate_data_key(
                &admin(B),
                &GenerateDataKeyInput {
                    key_id: k.arn.clone(),
                    key_spec: Some("AES_256".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        kms.rotate_key_on_demand(&admin(B), &k.arn).unwrap();
        (dk.plaintext.unwrap().to_vec(), 2)
    };
    // Recover the key material independently, from the documented sealed format, to know what
    // to look for: nonce || AES-256-GCM(material) || tag under the master key, AAD
    // "airlock-kms-material-v1" || key id bytes || u32be(version).
    let store = RedbStore::open(&dir.path().join("state.redb")).unwrap();
    let records = store.read().unwrap().scan_prefix("kms.keys", "").unwrap();
    drop(store);
    assert_eq!(records.len(), 1);
    let record: serde_json::Value = serde_json::from_slice(&records[0].1).unwrap();
    let key_id = airlock_kms::KeyId::parse(record["key_id"].as_str().unwrap()).unwrap();
    let master = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &master_bytes).unwrap());
    let mut materials = Vec::new();
    for m in record["materials"].as_array().unwrap() {
        let version = m["version"].as_u64().unwrap() as u32;
        let mut sealed = STANDARD.decode(m["sealed"].as_str().unwrap()).unwrap();
        let nonce: [u8; 12] = sealed[..12].try_into().unwrap();
        let mut aad = b"airlock-kms-material-v1".to_vec();
        aad.extend_from_slice(key_id.as_bytes());
        aad.extend_from_slice(&version.to_be_bytes());
        let body = &mut sealed[12..];
        let plain = master
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                body,
            )
            .unwrap();
        assert_eq!(plain.len(), 32);
        materials.push(plain.to_vec());
    }
    assert_eq!(materials.len(), material_versions);
    for (what, needle) in [
        ("key material v1", materials[0].as_slice()),
        ("key material v2", materials[1].as_slice()),
        ("data key", data_key.as_slice()),
        ("plaintext", &plaintext[..]),
        ("master key", &master_bytes[..]),
    ] {
        assert_eq!(
            found_in(dir.path(), needle),
            Vec::<std::path::PathBuf>::new(),
            "{what} found at rest"
        );
        let b64 = STANDARD.encode(needle);
        assert_eq!(
            found_in(dir.path(), b64.as_bytes()),
            Vec::<std::path::PathBuf>::new(),
            "{what} (base64) found at rest"
        );
    }
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary ciphertexts (random, or a real blob with one byte changed) and key names
        /// get an error, never a panic and never a plaintext.
        #[test]
        fn decrypt_of_arbitrary_input_fails_cleanly(
            random in proptest::collection::vec(any::<u8>(), 0..200),
            flip in any::<usize>(),
            key_name in "\\PC{0,40}",
        ) {
            let e = env();
            let k = e.kms.create_key(&admin(B), CreateKeyInput::default()).unwrap();
            let mut blob = e.kms.encrypt(&admin(B), &enc(&k.arn, b"x", &[])).unwrap().ciphertext_blob;
            let i = flip % blob.len();
            blob[i] ^= 0x5a;
            for input in [random.clone(), blob] {
                let r = e.kms.decrypt(&admin(B), &dec(&input, &[]));
                let err = r.expect_err("no plaintext from a forged blob");
                prop_assert!(
                    matches!(err.code(), "InvalidCiphertextException" | "ValidationException"),
                    "{}", err.code()
                );
            }
            let _ = e.kms.describe_key(&admin(B), &key_name);
            let _ = e.kms.encrypt(&admin(B), &enc(&key_name, b"x", &[]));
        }
    }
}
