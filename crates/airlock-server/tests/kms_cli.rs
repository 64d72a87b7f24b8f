//! KMS through the real AWS CLI: the seed's Step 1 verbatim, cross-account use through the
//! seed's key-policy grant and its removal, the key policy as root of trust, encryption
//! context, rotation, the deletion window, restart persistence and the at-rest scan.

mod common;

use std::path::{Path, PathBuf};

use airlock_server::{ServeConfig, Server, ServerInfo};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;

const REGION: &str = "us-east-1";
const ALIAS: &str = "alias/cross-account-s3-key";

fn b(s: &TestServer, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--profile", "account-b", "kms"];
    all.extend_from_slice(args);
    s.aws(&all)
}

fn a(s: &TestServer, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--profile", "account-a", "kms"];
    all.extend_from_slice(args);
    s.aws(&all)
}

/// `An error occurred (CODE) when calling the OP operation: MESSAGE`, as the CLI prints it.
fn error_of(out: &std::process::Output) -> (String, String) {
    let err = failed(out);
    let line = err
        .lines()
        .find(|l| l.contains("An error occurred ("))
        .unwrap_or_else(|| panic!("no AWS error in: {err}"));
    let code = line
        .split('(')
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_default();
    let message = line
        .split_once("operation: ")
        .map(|(_, m)| m)
        .unwrap_or_default();
    (code.to_string(), message.trim().to_string())
}

/// Step 1: the key with the seed's policy (verbatim) and its alias. Returns the key metadata.
fn seed_step1(s: &TestServer) -> serde_json::Value {
    let created = ok_json(&b(
        s,
        &[
            "create-key",
            "--description",
            "KMS key for cross-account S3 bucket encryption",
            "--key-usage",
            "ENCRYPT_DECRYPT",
            "--key-spec",
            "SYMMETRIC_DEFAULT",
            "--policy",
            &seed_file("step1-key-policy.json"),
        ],
    ));
    let md = created["KeyMetadata"].clone();
    ok_json(&b(
        s,
        &[
            "create-alias",
            "--alias-name",
            ALIAS,
            "--target-key-id",
            md["KeyId"].as_str().unwrap(),
        ],
    ));
    md
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    format!("fileb://{}", p.display())
}

fn blob(v: &serde_json::Value, field: &str) -> Vec<u8> {
    STANDARD
        .decode(
            v[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {v}")),
        )
        .unwrap()
}

#[test]
fn seed_step1_creates_the_key_with_the_verbatim_policy_and_alias() {
    let s = TestServer::start();
    let md = seed_step1(&s);
    let id = md["KeyId"].as_str().unwrap();
    let arn = format!("arn:aws:kms:{REGION}:{B}:key/{id}");
    assert_eq!(md["Arn"], arn.as_str());
    assert_eq!(md["AWSAccountId"], B);
    assert_eq!(md["KeyState"], "Enabled");
    assert_eq!(md["Enabled"], true);
    assert_eq!(md["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(md["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(md["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(md["KeyManager"], "CUSTOMER");
    assert_eq!(md["Origin"], "AWS_KMS");
    assert_eq!(
        md["EncryptionAlgorithms"],
        serde_json::json!(["SYMMETRIC_DEFAULT"])
    );
    assert_eq!(
        md["Description"],
        "KMS key for cross-account S3 bucket encryption"
    );
    assert!(md["CreationDate"].is_number());

    // DescribeKey by id, key ARN, alias name and alias ARN.
    let alias_arn = format!("arn:aws:kms:{REGION}:{B}:{ALIAS}");
    for form in [id, arn.as_str(), ALIAS, alias_arn.as_str()] {
        let d = ok_json(&b(&s, &["describe-key", "--key-id", form]));
        assert_eq!(d["KeyMetadata"]["Arn"], arn.as_str(), "{form}");
    }
    // The policy comes back exactly as given.
    let got = ok_json(&b(
        &s,
        &["get-key-policy", "--key-id", id, "--policy-name", "default"],
    ));
    let verbatim =
        std::fs::read_to_string(workspace().join("tests/server/seed/step1-key-policy.json"))
            .unwrap();
    assert_eq!(got["Policy"], verbatim.as_str());
    let names = ok_json(&b(&s, &["list-key-policies", "--key-id", id]));
    assert_eq!(names["PolicyNames"], serde_json::json!(["default"]));
    let aliases = ok_json(&b(&s, &["list-aliases", "--key-id", id]));
    assert_eq!(aliases["Aliases"][0]["AliasName"], ALIAS);
    assert_eq!(aliases["Aliases"][0]["AliasArn"], alias_arn.as_str());
    assert_eq!(aliases["Aliases"][0]["TargetKeyId"], id);
    let keys = ok_json(&b(&s, &["list-keys"]));
    assert_eq!(
        keys["Keys"],
        serde_json::json!([{ "KeyId": id, "KeyArn": arn }])
    );
    // Account A sees none of it in its own account.
    assert_eq!(
        ok_json(&a(&s, &["list-keys"]))["Keys"],
        serde_json::json!([])
    );

    // The same alias again: AlreadyExistsException.
    let (code, msg) = error_of(&b(
        &s,
        &["create-alias", "--alias-name", ALIAS, "--target-key-id", id],
    ));
    assert_eq!(code, "AlreadyExistsException");
    assert_eq!(
        msg,
        format!("An alias with the name {alias_arn} already exists")
    );
    // A key that does not exist.
    let (code, msg) = error_of(&b(&s, &["describe-key", "--key-id", "alias/nope"]));
    assert_eq!(code, "NotFoundException");
    assert_eq!(
        msg,
        format!("Alias arn:aws:kms:{REGION}:{B}:alias/nope is not found.")
    );
}

#[test]
fn account_b_admin_uses_the_key_and_account_a_through_the_seed_grant_until_it_is_removed() {
    let s = TestServer::start();
    let md = seed_step1(&s);
    let arn = md["Arn"].as_str().unwrap().to_string();
    let alias_arn = format!("arn:aws:kms:{REGION}:{B}:{ALIAS}");

    // Account B's administrator: generate a data key, decrypt it.
    let dk = ok_json(&b(
        &s,
        &[
            "generate-data-key",
            "--key-id",
            ALIAS,
            "--key-spec",
            "AES_256",
        ],
    ));
    assert_eq!(dk["KeyId"], arn.as_str());
    let plain = blob(&dk, "Plaintext");
    assert_eq!(plain.len(), 32);
    let ct = write(s.dir.path(), "dk.bin", &blob(&dk, "CiphertextBlob"));
    let back = ok_json(&b(&s, &["decrypt", "--ciphertext-blob", &ct]));
    assert_eq!(blob(&back, "Plaintext"), plain);
    assert_eq!(back["KeyId"], arn.as_str());

    // Account A's administrator, through the seed's "Allow Account A to use the key" statement
    // (and its own AdministratorAccess): by alias ARN or key ARN.
    let dk_a = ok_json(&a(
        &s,
        &[
            "generate-data-key",
            "--key-id",
            &alias_arn,
            "--number-of-bytes",
            "32",
        ],
    ));
    let ct_a = write(s.dir.path(), "dk_a.bin", &blob(&dk_a, "CiphertextBlob"));
    assert_eq!(
        blob(
            &ok_json(&a(&s, &["decrypt", "--ciphertext-blob", &ct_a])),
            "Plaintext"
        ),
        blob(&dk_a, "Plaintext")
    );
    assert_eq!(
        ok_json(&a(&s, &["describe-key", "--key-id", &arn]))["KeyMetadata"]["Arn"],
        arn.as_str()
    );
    // A decrypts what B encrypted too (the grant is for the key, not for A's ciphertexts).
    ok_json(&a(&s, &["decrypt", "--ciphertext-blob", &ct]));
    // The grant does not include Encrypt.
    let pt = write(s.dir.path(), "p.txt", b"hello");
    let (code, msg) = error_of(&a(&s, &["encrypt", "--key-id", &arn, "--plaintext", &pt]));
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:iam::{A}:user/admin is not authorized to perform: kms:Encrypt on \
             resource: {arn} because no resource-based policy allows the kms:Encrypt action"
        )
    );
    // A's management calls cannot reach B's key.
    assert_eq!(
        error_of(&a(&s, &["disable-key", "--key-id", &arn])).0,
        "NotFoundException"
    );

    // B removes the grant: A is denied with AWS's message.
    let without_a = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"}]}"#;
    ok_json(&b(
        &s,
        &[
            "put-key-policy",
            "--key-id",
            &arn,
            "--policy-name",
            "default",
            "--policy",
            without_a,
        ],
    ));
    let (code, msg) = error_of(&a(&s, &["decrypt", "--ciphertext-blob", &ct_a]));
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:iam::{A}:user/admin is not authorized to perform: kms:Decrypt on \
             resource: {arn} because no resource-based policy allows the kms:Decrypt action"
        )
    );
    assert_eq!(
        error_of(&a(
            &s,
            &[
                "generate-data-key",
                "--key-id",
                &alias_arn,
                "--key-spec",
                "AES_256"
            ]
        ))
        .0,
        "AccessDeniedException"
    );
    // B still can.
    ok_json(&b(&s, &["decrypt", "--ciphertext-blob", &ct_a]));
}

#[test]
fn account_a_role_session_needs_its_own_iam_permission_for_the_key() {
    let s = TestServer::start();
    let md = seed_step1(&s);
    let arn = md["Arn"].as_str().unwrap().to_string();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "create-role",
        "--role-name",
        "App",
        "--assume-role-policy-document",
        &trust,
    ]));
    let out = ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "sts",
        "assume-role",
        "--role-arn",
        &format!("arn:aws:iam::{A}:role/App"),
        "--role-session-name",
        "app",
    ]));
    let c = out["Credentials"].clone();
    let app = |args: &[&str]| {
        let mut all = vec!["kms", "--region", REGION];
        all.extend_from_slice(args);
        aws_cli(
            &s.info,
            s.dir.path(),
            &all,
            &[
                ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    c["SecretAccessKey"].as_str().unwrap(),
                ),
                ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
                ("AWS_ENDPOINT_URL", &s.info.https_endpoint),
                ("AWS_CA_BUNDLE", s.info.ca_bundle.to_str().unwrap()),
            ],
        )
    };
    // The key policy allows account A, but the role's own policies say nothing: denied, and
    // AWS names the identity side.
    let (code, msg) = error_of(&app(&[
        "generate-data-key",
        "--key-id",
        &arn,
        "--key-spec",
        "AES_256",
    ]));
    assert_eq!(code, "AccessDeniedException");
    assert!(
        msg.starts_with(&format!("User: arn:aws:sts::{A}:assumed-role/App/app is not authorized to perform: kms:GenerateDataKey on resource: {arn}")),
        "{msg}"
    );
    assert!(
        msg.ends_with("because no identity-based policy allows the kms:GenerateDataKey action"),
        "{msg}"
    );
    let allow = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"{arn}"}}]}}"#
    );
    ok_json(&s.aws(&[
        "--profile",
        "account-a",
        "iam",
        "put-role-policy",
        "--role-name",
        "App",
        "--policy-name",
        "kms",
        "--policy-document",
        &allow,
    ]));
    let dk = ok_json(&app(&[
        "generate-data-key",
        "--key-id",
        &arn,
        "--key-spec",
        "AES_256",
    ]));
    assert_eq!(dk["KeyId"], arn.as_str());
}

#[test]
fn a_role_in_b_with_an_iam_policy_but_no_key_policy_delegation_is_denied() {
    let s = TestServer::start();
    // A key policy that names B's admin user only: no statement for the account root, so B's
    // IAM policies grant nothing on this key.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"AdminOnly","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:user/admin"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let md = ok_json(&b(&s, &["create-key", "--policy", &policy]))["KeyMetadata"].clone();
    let arn = md["Arn"].as_str().unwrap().to_string();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "create-role",
        "--role-name",
        "KmsUser",
        "--assume-role-policy-document",
        &trust,
    ]));
    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "iam",
        "put-role-policy",
        "--role-name",
        "KmsUser",
        "--policy-name",
        "all-kms",
        "--policy-document",
        allow_all,
    ]));
    let out = ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "sts",
        "assume-role",
        "--role-arn",
        &format!("arn:aws:iam::{B}:role/KmsUser"),
        "--role-session-name",
        "kms-user",
    ]));
    let c = &out["Credentials"];
    let env = [
        ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ENDPOINT_URL", &s.info.https_endpoint),
        ("AWS_CA_BUNDLE", s.info.ca_bundle.to_str().unwrap()),
    ];
    let out = aws_cli(
        &s.info,
        s.dir.path(),
        &[
            "kms",
            "generate-data-key",
            "--key-id",
            &arn,
            "--key-spec",
            "AES_256",
        ],
        &env,
    );
    let (code, msg) = error_of(&out);
    assert_eq!(code, "AccessDeniedException");
    assert_eq!(
        msg,
        format!(
            "User: arn:aws:sts::{B}:assumed-role/KmsUser/kms-user is not authorized to perform: \
             kms:GenerateDataKey on resource: {arn} because no resource-based policy allows the \
             kms:GenerateDataKey action"
        )
    );
    let out = aws_cli(
        &s.info,
        s.dir.path(),
        &["kms", "describe-key", "--key-id", &arn],
        &env,
    );
    assert_eq!(error_of(&out).0, "AccessDeniedException");
    // The named administrator uses it.
    ok_json(&b(
        &s,
        &[
            "generate-data-key",
            "--key-id",
            &arn,
            "--key-spec",
            "AES_256",
        ],
    ));
}

#[test]
fn encryption_context_mismatch_is_invalid_ciphertext() {
    let s = TestServer::start();
    let md = seed_step1(&s);
    let arn = md["Arn"].as_str().unwrap();
    let pt = write(s.dir.path(), "p.txt", b"the seed's test-file.txt");
    let enc = ok_json(&b(
        &s,
        &[
            "encrypt",
            "--key-id",
            ALIAS,
            "--plaintext",
            &pt,
            "--encryption-context",
            "aws:s3:arn=arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt",
        ],
    ));
    assert_eq!(enc["KeyId"], arn);
    assert_eq!(enc["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let ct = write(s.dir.path(), "c.bin", &blob(&enc, "CiphertextBlob"));
    let good = ok_json(&b(
        &s,
        &[
            "decrypt",
            "--ciphertext-blob",
            &ct,
            "--encryption-context",
            "aws:s3:arn=arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt",
        ],
    ));
    assert_eq!(blob(&good, "Plaintext"), b"the seed's test-file.txt");
    for wrong in [
        vec![
            "--encryption-context",
            "aws:s3:arn=arn:aws:s3:::cross-account-secure-bucket-demo/other.txt",
        ],
        vec![],
    ] {
        let mut args = vec!["decrypt", "--ciphertext-blob", ct.as_str()];
        args.extend(wrong.iter().copied());
        let (code, _) = error_of(&b(&s, &args));
        assert_eq!(code, "InvalidCiphertextException");
    }
    // A blob with a flipped bit.
    let mut tampered = blob(&enc, "CiphertextBlob");
    tampered[40] ^= 1;
    let t = write(s.dir.path(), "t.bin", &tampered);
    assert_eq!(
        error_of(&b(
            &s,
            &[
                "decrypt",
                "--ciphertext-blob",
                &t,
                "--encryption-context",
                "aws:s3:arn=arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt"
            ]
        ))
        .0,
        "InvalidCiphertextException"
    );
}

#[test]
fn rotation_keeps_old_ciphertexts_decryptable() {
    let s = TestServer::start();
    let md = seed_step1(&s);
    let id = md["KeyId"].as_str().unwrap();
    let pt = write(s.dir.path(), "p.txt", b"before rotation");
    let old = blob(
        &ok_json(&b(&s, &["encrypt", "--key-id", id, "--plaintext", &pt])),
        "CiphertextBlob",
    );
    assert_eq!(
        ok_json(&b(&s, &["get-key-rotation-status", "--key-id", id]))["KeyRotationEnabled"],
        false
    );
    ok_json(&b(
        &s,
        &[
            "enable-key-rotation",
            "--key-id",
            id,
            "--rotation-period-in-days",
            "90",
        ],
    ));
    let st = ok_json(&b(&s, &["get-key-rotation-status", "--key-id", id]));
    assert_eq!(st["KeyRotationEnabled"], true);
    assert_eq!(st["RotationPeriodInDays"], 90);
    assert!(st["NextRotationDate"].is_number());
    let r = ok_json(&b(&s, &["rotate-key-on-demand", "--key-id", id]));
    assert_eq!(r["KeyId"], id);
    let rotations = ok_json(&b(&s, &["list-key-rotations", "--key-id", id]));
    assert_eq!(rotations["Rotations"][0]["RotationType"], "ON_DEMAND");
    let pt2 = write(s.dir.path(), "p2.txt", b"after rotation");
    let new = blob(
        &ok_json(&b(&s, &["encrypt", "--key-id", id, "--plaintext", &pt2])),
        "CiphertextBlob",
    );
    // The blobs name material versions 1 and 2 (byte 0 format, 1..17 key id, 17..21 version).
    assert_eq!(&old[17..21], &1u32.to_be_bytes());
    assert_eq!(&new[17..21], &2u32.to_be_bytes());
    let o = write(s.dir.path(), "o.bin", &old);
    let n = write(s.dir.path(), "n.bin", &new);
    assert_eq!(
        blob(
            &ok_json(&b(&s, &["decrypt", "--ciphertext-blob", &o])),
            "Plaintext"
        ),
        b"before rotation"
    );
    assert_eq!(
        blob(
            &ok_json(&b(&s, &["decrypt", "--ciphertext-blob", &n])),
            "Plaintext"
        ),
        b"after rotation"
    );
    // ReEncrypt moves the old ciphertext to the current material.
    let re = ok_json(&b(
        &s,
        &[
            "re-encrypt",
            "--ciphertext-blob",
            &o,
            "--destination-key-id",
            id,
        ],
    ));
    assert_eq!(&blob(&re, "CiphertextBlob")[17..21], &2u32.to_be_bytes());
    ok_json(&b(&s, &["disable-key-rotation", "--key-id", id]));
    assert_eq!(
        ok_json(&b(&s, &["get-key-rotation-status", "--key-id", id]))["KeyRotationEnabled"],
        false
    );
}

#[test]
fn deletion_window_blocks_cryptography_until_cancelled() {
    let s = TestServer::start();
    let md = seed_step1(&s);
    let id = md["KeyId"].as_str().unwrap();
    let arn = md["Arn"].as_str().unwrap();
    let pt = write(s.dir.path(), "p.txt", b"data");
    let ct = write(
        s.dir.path(),
        "c.bin",
        &blob(
            &ok_json(&b(&s, &["encrypt", "--key-id", id, "--plaintext", &pt])),
            "CiphertextBlob",
        ),
    );

    for bad in ["6", "31"] {
        assert_eq!(
            error_of(&b(
                &s,
                &[
                    "schedule-key-deletion",
                    "--key-id",
                    id,
                    "--pending-window-in-days",
                    bad
                ]
            ))
            .0,
            "ValidationException"
        );
    }
    let sched = ok_json(&b(
        &s,
        &[
            "schedule-key-deletion",
            "--key-id",
            id,
            "--pending-window-in-days",
            "7",
        ],
    ));
    assert_eq!(sched["KeyId"], arn);
    assert_eq!(sched["KeyState"], "PendingDeletion");
    assert_eq!(sched["PendingWindowInDays"], 7);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let when = sched["DeletionDate"].as_f64().unwrap();
    assert!(
        (when - now - 7.0 * 86400.0).abs() < 120.0,
        "{when} vs {now}"
    );
    let d = ok_json(&b(&s, &["describe-key", "--key-id", ALIAS]));
    assert_eq!(d["KeyMetadata"]["KeyState"], "PendingDeletion");
    assert_eq!(d["KeyMetadata"]["Enabled"], false);
    assert_eq!(d["KeyMetadata"]["DeletionDate"].as_f64(), Some(when));

    let pending = (
        "KMSInvalidStateException".to_string(),
        format!("{arn} is pending deletion."),
    );
    assert_eq!(
        error_of(&b(&s, &["decrypt", "--ciphertext-blob", &ct])),
        pending
    );
    assert_eq!(
        error_of(&b(&s, &["encrypt", "--key-id", id, "--plaintext", &pt])),
        pending
    );
    assert_eq!(
        error_of(&b(
            &s,
            &[
                "generate-data-key",
                "--key-id",
                ALIAS,
                "--key-spec",
                "AES_256"
            ]
        )),
        pending
    );
    assert_eq!(
        error_of(&b(
            &s,
            &[
                "generate-data-key-without-plaintext",
                "--key-id",
                ALIAS,
                "--key-spec",
                "AES_256"
            ]
        )),
        pending
    );
    assert_eq!(error_of(&b(&s, &["enable-key", "--key-id", id])), pending);
    assert_eq!(
        error_of(&a(&s, &["decrypt", "--ciphertext-blob", &ct])),
        pending
    );

    let c = ok_json(&b(&s, &["cancel-key-deletion", "--key-id", id]));
    assert_eq!(c["KeyId"], arn);
    // As in AWS, a key whose deletion was cancelled is Disabled.
    assert_eq!(
        ok_json(&b(&s, &["describe-key", "--key-id", id]))["KeyMetadata"]["KeyState"],
        "Disabled"
    );
    assert_eq!(
        error_of(&b(&s, &["decrypt", "--ciphertext-blob", &ct])),
        (
            "DisabledException".to_string(),
            format!("{arn} is disabled.")
        )
    );
    assert_eq!(
        error_of(&b(&s, &["cancel-key-deletion", "--key-id", id])),
        (
            "KMSInvalidStateException".to_string(),
            format!("{arn} is not pending deletion.")
        )
    );
    ok_json(&b(&s, &["enable-key", "--key-id", id]));
    assert_eq!(
        blob(
            &ok_json(&b(&s, &["decrypt", "--ciphertext-blob", &ct])),
            "Plaintext"
        ),
        b"data"
    );
}

/// A server on a given data directory that can be stopped and started again.
struct Restartable {
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    data: PathBuf,
}

impl Restartable {
    fn start(data: &Path) -> (Restartable, ServerInfo) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = ServeConfig::new(data);
        config.accounts = vec![
            (A.into(), "account-a".into()),
            (B.into(), "account-b".into()),
        ];
        let server = runtime
            .block_on(Server::start(config))
            .expect("server starts");
        let info = server.info().clone();
        (
            Restartable {
                runtime,
                server: Some(server),
                data: data.to_path_buf(),
            },
            info,
        )
    }

    fn stop(mut self) -> PathBuf {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
        self.data.clone()
    }
}

#[test]
fn keys_aliases_policies_and_material_survive_a_restart() {
    let tmp = TempDir::new("kms-restart");
    let data = tmp.path().join("data");
    let (srv, info) = Restartable::start(&data);
    let kb = |info: &ServerInfo, args: &[&str]| {
        let mut all = vec!["--profile", "account-b", "kms"];
        all.extend_from_slice(args);
        aws_cli(info, tmp.path(), &all, &[])
    };
    let md = ok_json(&kb(
        &info,
        &[
            "create-key",
            "--policy",
            &seed_file("step1-key-policy.json"),
        ],
    ))["KeyMetadata"]
        .clone();
    let id = md["KeyId"].as_str().unwrap().to_string();
    ok_json(&kb(
        &info,
        &[
            "create-alias",
            "--alias-name",
            ALIAS,
            "--target-key-id",
            &id,
        ],
    ));
    ok_json(&kb(
        &info,
        &[
            "tag-resource",
            "--key-id",
            &id,
            "--tags",
            "TagKey=env,TagValue=prod",
        ],
    ));
    let pt = write(tmp.path(), "p.txt", b"survives restarts");
    let ct = write(
        tmp.path(),
        "c.bin",
        &blob(
            &ok_json(&kb(
                &info,
                &[
                    "encrypt",
                    "--key-id",
                    ALIAS,
                    "--plaintext",
                    &pt,
                    "--encryption-context",
                    "k=v",
                ],
            )),
            "CiphertextBlob",
        ),
    );
    ok_json(&kb(&info, &["rotate-key-on-demand", "--key-id", &id]));
    ok_json(&kb(&info, &["disable-key", "--key-id", &id]));
    srv.stop();

    let (srv, info) = Restartable::start(&data);
    let d = ok_json(&kb(&info, &["describe-key", "--key-id", ALIAS]))["KeyMetadata"].clone();
    assert_eq!(d["KeyId"], id.as_str());
    assert_eq!(d["KeyState"], "Disabled");
    ok_json(&kb(&info, &["enable-key", "--key-id", &id]));
    assert_eq!(
        blob(
            &ok_json(&kb(
                &info,
                &[
                    "decrypt",
                    "--ciphertext-blob",
                    &ct,
                    "--encryption-context",
                    "k=v"
                ]
            )),
            "Plaintext"
        ),
        b"survives restarts"
    );
    let policy = ok_json(&kb(&info, &["get-key-policy", "--key-id", &id]))["Policy"].clone();
    assert_eq!(
        policy,
        std::fs::read_to_string(workspace().join("tests/server/seed/step1-key-policy.json"))
            .unwrap()
            .as_str()
    );
    assert_eq!(
        ok_json(&kb(&info, &["list-resource-tags", "--key-id", &id]))["Tags"],
        serde_json::json!([{"TagKey": "env", "TagValue": "prod"}])
    );
    assert_eq!(
        ok_json(&kb(&info, &["list-key-rotations", "--key-id", &id]))["Rotations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    srv.stop();
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                hits.push(p);
            }
        }
    }
    hits
}

#[test]
fn the_data_directory_holds_no_key_material_data_keys_or_plaintexts() {
    use airlock_store::{RedbStore, Store};
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

    let tmp = TempDir::new("kms-at-rest");
    let data = tmp.path().join("data");
    let (srv, info) = Restartable::start(&data);
    let kb = |args: &[&str]| {
        let mut all = vec!["--profile", "account-b", "kms"];
        all.extend_from_slice(args);
        aws_cli(&info, tmp.path(), &all, &[])
    };
    let id = ok_json(&kb(&["create-key"]))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let plaintext = b"AT-REST-MARKER: the plaintext of an Encrypt call, 0123456789";
    let pt = write(tmp.path(), "p.txt", plaintext);
    ok_json(&kb(&["encrypt", "--key-id", &id, "--plaintext", &pt]));
    let dk = ok_json(&kb(&[
        "generate-data-key",
        "--key-id",
        &id,
        "--key-spec",
        "AES_256",
    ]));
    let data_key = blob(&dk, "Plaintext");
    let ct = write(tmp.path(), "c.bin", &blob(&dk, "CiphertextBlob"));
    ok_json(&kb(&["decrypt", "--ciphertext-blob", &ct]));
    ok_json(&kb(&["rotate-key-on-demand", "--key-id", &id]));
    let random = blob(
        &ok_json(&kb(&["generate-random", "--number-of-bytes", "64"])),
        "Plaintext",
    );
    srv.stop();

    // Recover the key material with the master key (documented sealed format), to know what to
    // look for.
    let master_text = std::fs::read_to_string(data.join("kms-master.key")).unwrap();
    let master_bytes = STANDARD.decode(master_text.trim()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("kms-master.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let master = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &master_bytes).unwrap());
    let store = RedbStore::open(&data.join("state.redb")).unwrap();
    let records = store.read().unwrap().scan_prefix("kms.keys", "").unwrap();
    drop(store);
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (_, rec) in records {
        let rec: serde_json::Value = serde_json::from_slice(&rec).unwrap();
        let key_id = airlock_kms::KeyId::parse(rec["key_id"].as_str().unwrap()).unwrap();
        for m in rec["materials"].as_array().unwrap() {
            let version = m["version"].as_u64().unwrap() as u32;
            let mut sealed = STANDARD.decode(m["sealed"].as_str().unwrap()).unwrap();
            let nonce: [u8; 12] = sealed[..12].try_into().unwrap();
            let mut aad = b"airlock-kms-material-v1".to_vec();
            aad.extend_from_slice(key_id.as_bytes());
            aad.extend_from_slice(&version.to_be_bytes());
            let material = master
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&aad[..]),
                    &mut sealed[12..],
                )
                .unwrap()
                .to_vec();
            needles.push((format!("key material v{version}"), material));
        }
    }
    assert_eq!(needles.len(), 2);
    needles.push(("Encrypt plaintext".into(), plaintext.to_vec()));
    needles.push(("data key".into(), data_key));
    needles.push(("GenerateRandom output".into(), random));
    for (what, needle) in &needles {
        for form in [needle.clone(), STANDARD.encode(needle).into_bytes()] {
            let hits = files_containing(&data, &form);
            assert!(hits.is_empty(), "{what} found at rest in {hits:?}");
        }
    }
}

#[test]
fn a_different_master_key_is_refused_at_start() {
    let tmp = TempDir::new("kms-master");
    let data = tmp.path().join("data");
    let (srv, _) = Restartable::start(&data);
    srv.stop();
    std::fs::write(
        data.join("kms-master.key"),
        format!("{}\n", STANDARD.encode([7u8; 32])),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut config = ServeConfig::new(&data);
    config.accounts = vec![(A.into(), "account-a".into())];
    let err = runtime
        .block_on(Server::start(config))
        .expect_err("a foreign master key is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("not the key this data directory's KMS keys were sealed with"),
        "{msg}"
    );
}
