//! S3 through the real AWS CLI: the seed's Steps 1–3, 7 and Phase 3 (upload, list, download by
//! the role after AssumeRole; head-object encryption; least privilege), Block Public Access,
//! denials of every layer (IAM, bucket policy, anonymous, KMS), multipart and ranges,
//! versioning, and a scan of the data directory for plaintext.

mod common;
mod s3_support;

use common::*;
use s3_support::*;

#[test]
fn seed_phase_3_steps_2_and_7_and_the_checklist() {
    let s = TestServer::start();
    let key_arn = seed_storage_account(&s);

    // Phase 3 (Step 9) from account A: assume the role, export, and use S3.
    let role = assume(&s, "account-a", ROLE_ARN, "cross-account-session");
    let who = ok_json(&aws_with(&s, &role, &["sts", "get-caller-identity"]));
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::222222222222:assumed-role/CrossAccountS3AccessRole/cross-account-session"
    );
    let marker = "Hello from Account A! plaintext-marker-5d1f";
    let upload = file(&s, "test-file.txt", format!("{marker}\n").as_bytes());
    ok_text(&aws_with(
        &s,
        &role,
        &[
            "s3",
            "cp",
            "--only-show-errors",
            upload.to_str().unwrap(),
            &format!("s3://{BUCKET}/test-file.txt"),
        ],
    ));
    let listing = ok_text(&aws_with(
        &s,
        &role,
        &["s3", "ls", &format!("s3://{BUCKET}/")],
    ));
    assert!(listing.contains("test-file.txt"), "{listing}");
    let download = s.dir.path().join("downloaded-file.txt");
    ok_text(&aws_with(
        &s,
        &role,
        &[
            "s3",
            "cp",
            "--only-show-errors",
            &format!("s3://{BUCKET}/test-file.txt"),
            download.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(&download).unwrap(),
        format!("{marker}\n")
    );

    // Checklist Test 3: encrypted with the customer key and a Bucket Key.
    let head = ok_json(&aws_with(
        &s,
        &role,
        &[
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            "test-file.txt",
        ],
    ));
    assert_eq!(head["ServerSideEncryption"], "aws:kms");
    assert_eq!(head["SSEKMSKeyId"], key_arn.as_str());
    assert_eq!(head["BucketKeyEnabled"], true);

    // Checklist Test 4: the role cannot delete the bucket (nor its objects).
    fails_with(
        &aws_with(
            &s,
            &role,
            &["s3", "rb", &format!("s3://{BUCKET}"), "--force"],
        ),
        "AccessDenied",
    );
    ok_text(&aws_with(
        &s,
        &role,
        &[
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            "test-file.txt",
        ],
    ));

    // Step 7: the bucket policy, verbatim. It names a role, so it is not public: accepted
    // under BlockPublicPolicy.
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            BUCKET,
            "--policy",
            &seed_file("step7-bucket-policy.json"),
        ],
    ));
    // The seed's Deny covers `s3:*` for every principal outside the endpoint: from here the
    // account's own administrator can no longer even read the policy back (the seed's lockout;
    // only the account root user keeps Get/Put/DeleteBucketPolicy).
    let err = fails_with(
        &aws_as(
            &s,
            "account-b",
            &["s3api", "get-bucket-policy", "--bucket", BUCKET],
        ),
        "AccessDenied",
    );
    assert!(
        err.contains("explicit deny in a resource-based policy"),
        "{err}"
    );

    // Checklist Test 1: from outside the VPC endpoint, account B's administrator is denied...
    let err = fails_with(
        &aws_as(&s, "account-b", &["s3", "ls", &format!("s3://{BUCKET}/")]),
        "AccessDenied",
    );
    assert!(
        err.contains("explicit deny in a resource-based policy"),
        "{err}"
    );
    // ...and so are the role's own credentials (the endpoint test the checklist forgot).
    fails_with(
        &aws_with(&s, &role, &["s3", "ls", &format!("s3://{BUCKET}/")]),
        "AccessDenied",
    );
    fails_with(
        &aws_with(
            &s,
            &role,
            &[
                "s3",
                "cp",
                &format!("s3://{BUCKET}/test-file.txt"),
                download.to_str().unwrap(),
            ],
        ),
        "403",
    );

    // Nothing the role uploaded is on disk in plaintext.
    let hits = files_containing(&s.data_dir(), &[marker.as_bytes()]);
    assert!(hits.is_empty(), "plaintext found in {hits:?}");
}

#[test]
fn block_public_access_rejects_public_policies_and_anonymous_callers_are_evaluated() {
    let s = TestServer::start();
    ok_json(&aws_as(
        &s,
        "account-b",
        &["s3api", "create-bucket", "--bucket", "public-test-bucket"],
    ));
    let body = file(&s, "hello.txt", b"public hello");
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3",
            "cp",
            "--only-show-errors",
            body.to_str().unwrap(),
            "s3://public-test-bucket/hello.txt",
        ],
    ));
    let public = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::public-test-bucket/*"}]}"#;

    // Anonymous callers are evaluated: no policy allows them yet.
    fails_with(
        &s.aws(&["s3", "ls", "s3://public-test-bucket/", "--no-sign-request"]),
        "AccessDenied",
    );
    fails_with(
        &s.aws(&[
            "s3",
            "cp",
            "s3://public-test-bucket/hello.txt",
            "-",
            "--no-sign-request",
        ]),
        "403",
    );

    // BlockPublicPolicy (on by default) rejects the public policy with 403 AccessDenied.
    let err = fails_with(
        &aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "put-bucket-policy",
                "--bucket",
                "public-test-bucket",
                "--policy",
                public,
            ],
        ),
        "AccessDenied",
    );
    assert!(err.contains("BlockPublicPolicy"), "{err}");
    fails_with(
        &aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "get-bucket-policy",
                "--bucket",
                "public-test-bucket",
            ],
        ),
        "NoSuchBucketPolicy",
    );

    // Without Block Public Access the policy is accepted, reported public, and anonymous
    // reads of objects work (listing still does not: the policy grants only GetObject).
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "delete-public-access-block",
            "--bucket",
            "public-test-bucket",
        ],
    ));
    fails_with(
        &aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "get-public-access-block",
                "--bucket",
                "public-test-bucket",
            ],
        ),
        "NoSuchPublicAccessBlockConfiguration",
    );
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            "public-test-bucket",
            "--policy",
            public,
        ],
    ));
    let status = ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "get-bucket-policy-status",
            "--bucket",
            "public-test-bucket",
        ],
    ));
    assert_eq!(status["PolicyStatus"]["IsPublic"], true);
    let out = ok_text(&s.aws(&[
        "s3",
        "cp",
        "s3://public-test-bucket/hello.txt",
        "-",
        "--no-sign-request",
    ]));
    assert_eq!(out, "public hello");
    fails_with(
        &s.aws(&["s3", "ls", "s3://public-test-bucket/", "--no-sign-request"]),
        "AccessDenied",
    );

    // RestrictPublicBuckets confines the public policy to the owner's account.
    let rpb = r#"{"BlockPublicAcls":false,"IgnorePublicAcls":false,"BlockPublicPolicy":false,"RestrictPublicBuckets":true}"#;
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "put-public-access-block",
            "--bucket",
            "public-test-bucket",
            "--public-access-block-configuration",
            rpb,
        ],
    ));
    fails_with(
        &s.aws(&[
            "s3",
            "cp",
            "s3://public-test-bucket/hello.txt",
            "-",
            "--no-sign-request",
        ]),
        "403",
    );
}

#[test]
fn every_layer_denies_what_it_does_not_allow() {
    let s = TestServer::start();
    let key_arn = seed_storage_account(&s);
    let secret = noise(300_000, 11);
    let path = file(&s, "secret.bin", &secret);
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3",
            "cp",
            "--only-show-errors",
            path.to_str().unwrap(),
            &format!("s3://{BUCKET}/secret.bin"),
        ],
    ));

    // A principal of account B without any permission.
    let nobody = user_with_policy(&s, "account-b", "nobody", None);
    fails_with(
        &aws_with(&s, &nobody, &["s3", "ls", &format!("s3://{BUCKET}/")]),
        "AccessDenied",
    );
    let err = fails_with(
        &aws_with(
            &s,
            &nobody,
            &[
                "s3api",
                "head-object",
                "--bucket",
                BUCKET,
                "--key",
                "secret.bin",
            ],
        ),
        "403",
    );
    assert!(err.contains("Forbidden"), "{err}");

    // A cross-account caller with an IAM allow that the bucket policy does not name.
    let s3_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","kms:*"],"Resource":"*"}]}"#;
    let outsider = user_with_policy(&s, "account-a", "outsider", Some(s3_all));
    let err = fails_with(
        &aws_with(&s, &outsider, &["s3", "ls", &format!("s3://{BUCKET}/")]),
        "AccessDenied",
    );
    assert!(err.contains("Access Denied"), "{err}");
    fails_with(
        &aws_with(
            &s,
            &outsider,
            &[
                "s3api",
                "get-object",
                "--bucket",
                BUCKET,
                "--key",
                "secret.bin",
                "/dev/null",
            ],
        ),
        "AccessDenied",
    );

    // KMS: a caller of account B with S3 permissions but no KMS permission. The object exists
    // (HEAD works: it needs no key) but cannot be read, and nothing can be written under the key.
    let s3_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let no_kms = user_with_policy(&s, "account-b", "no-kms", Some(s3_only));
    let head = ok_json(&aws_with(
        &s,
        &no_kms,
        &[
            "s3api",
            "head-object",
            "--bucket",
            BUCKET,
            "--key",
            "secret.bin",
        ],
    ));
    assert_eq!(head["ContentLength"], 300_000);
    let err = fails_with(
        &aws_with(
            &s,
            &no_kms,
            &[
                "s3api",
                "get-object",
                "--bucket",
                BUCKET,
                "--key",
                "secret.bin",
                "/dev/null",
            ],
        ),
        "AccessDenied",
    );
    assert!(
        err.contains("kms:Decrypt") && err.contains(&key_arn),
        "{err}"
    );
    let err = fails_with(
        &aws_with(
            &s,
            &no_kms,
            &[
                "s3",
                "cp",
                path.to_str().unwrap(),
                &format!("s3://{BUCKET}/by-no-kms.bin"),
            ],
        ),
        "AccessDenied",
    );
    assert!(err.contains("kms:GenerateDataKey"), "{err}");
    // The seed's Step 3 policy verbatim names an example key, not this one: a role with it
    // has no KMS permission on the real key, so it too cannot read.
    ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "CrossAccountS3AccessRole",
            "--policy-name",
            "S3AndKMSAccess",
            "--policy-document",
            &seed_file("step3-S3AndKMSAccess.json"),
        ],
    ));
    let role = assume(&s, "account-a", ROLE_ARN, "verbatim-policy");
    fails_with(
        &aws_with(
            &s,
            &role,
            &[
                "s3api",
                "get-object",
                "--bucket",
                BUCKET,
                "--key",
                "secret.bin",
                "/dev/null",
            ],
        ),
        "kms:Decrypt",
    );

    // Anonymous.
    fails_with(
        &s.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            "secret.bin",
            "/dev/null",
            "--no-sign-request",
        ]),
        "AccessDenied",
    );

    assert!(files_containing(&s.data_dir(), &[&secret[1000..1064]]).is_empty());
}

/// The large object's content: an 8 MiB noise block repeated, its first byte set to the
/// block's index, so any range can be recomputed without keeping the object.
struct Pattern {
    block: Vec<u8>,
    size: u64,
}

impl Pattern {
    fn new(size: u64) -> Self {
        Pattern {
            block: noise(8 << 20, 3),
            size,
        }
    }

    fn fill(&self, offset: u64, buf: &mut [u8]) {
        let b = self.block.len() as u64;
        let mut done = 0usize;
        while done < buf.len() {
            let p = offset + done as u64;
            let within = (p % b) as usize;
            let n = (self.block.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&self.block[within..within + n]);
            if within == 0 {
                buf[done] = (p / b) as u8;
            }
            done += n;
        }
    }

    fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.fill(offset, &mut v);
        v
    }

    /// Writes the whole content to `w` in 8 MiB pieces.
    fn write_to(&self, mut w: impl std::io::Write) {
        let mut at = 0u64;
        let mut buf = vec![0u8; 8 << 20];
        while at < self.size {
            let n = (self.size - at).min(buf.len() as u64) as usize;
            self.fill(at, &mut buf[..n]);
            w.write_all(&buf[..n]).unwrap();
            at += n as u64;
        }
    }
}

fn aws_piped(s: &TestServer, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(venv().join("bin/aws"));
    clean_env(&mut cmd, s.dir.path());
    cmd.env("AWS_CONFIG_FILE", &s.info.aws_config_file)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            &s.info.aws_shared_credentials_file,
        )
        .args(["--profile", "account-b"])
        .args(args);
    cmd
}

#[test]
fn multipart_upload_ranged_reads_and_no_plaintext_at_rest() {
    use std::io::Read;
    use std::process::Stdio;

    let s = TestServer::start();
    ok_json(&aws_as(
        &s,
        "account-b",
        &["s3api", "create-bucket", "--bucket", "big-bucket"],
    ));
    // 64 MiB by default; 5 GiB with AIRLOCK_S3_LARGE_TEST=1 (streamed through the CLI's stdin
    // and stdout, so neither the test nor the disk holds a second copy).
    let large = std::env::var("AIRLOCK_S3_LARGE_TEST").is_ok_and(|v| v == "1");
    let size: u64 = if large { 5 << 30 } else { 64 << 20 };
    let pattern = Pattern::new(size);
    if large {
        let mut child = aws_piped(
            &s,
            &[
                "s3",
                "cp",
                "--only-show-errors",
                "--expected-size",
                &size.to_string(),
                "-",
                "s3://big-bucket/big.bin",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        pattern.write_to(child.stdin.take().unwrap());
        let out = child.wait_with_output().unwrap();
        ok_text(&out);
    } else {
        let path = s.dir.path().join("big.bin");
        pattern.write_to(std::io::BufWriter::new(
            std::fs::File::create(&path).unwrap(),
        ));
        ok_text(&aws_as(
            &s,
            "account-b",
            &[
                "s3",
                "cp",
                "--only-show-errors",
                path.to_str().unwrap(),
                "s3://big-bucket/big.bin",
            ],
        ));
        std::fs::remove_file(&path).unwrap();
    }
    let head = ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "head-object",
            "--bucket",
            "big-bucket",
            "--key",
            "big.bin",
        ],
    ));
    assert_eq!(head["ContentLength"], size);
    assert!(
        head["ETag"].as_str().unwrap().contains('-'),
        "multipart ETag: {head}"
    );

    // Download through stdout and compare as it streams.
    let mut child = aws_piped(
        &s,
        &[
            "s3",
            "cp",
            "--only-show-errors",
            "s3://big-bucket/big.bin",
            "-",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut want = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        pattern.fill(at, &mut want[..n]);
        assert!(
            buf[..n] == want[..n],
            "downloaded bytes differ near offset {at}"
        );
        at += n as u64;
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(at, size, "downloaded length");

    // Ranged reads, across part and chunk boundaries and at the end.
    for (start, end) in [
        (0u64, 99u64),
        (8 * 1024 * 1024 - 10, 8 * 1024 * 1024 + 70_000),
        (size - 5, size - 1),
    ] {
        let out = s.dir.path().join("range.bin");
        let r = ok_json(&aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "get-object",
                "--bucket",
                "big-bucket",
                "--key",
                "big.bin",
                "--range",
                &format!("bytes={start}-{end}"),
                out.to_str().unwrap(),
            ],
        ));
        assert_eq!(r["ContentRange"], format!("bytes {start}-{end}/{size}"));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            pattern.bytes(start, (end - start + 1) as usize),
            "range {start}-{end}"
        );
    }
    fails_with(
        &aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "get-object",
                "--bucket",
                "big-bucket",
                "--key",
                "big.bin",
                "--range",
                &format!("bytes={size}-"),
                "/dev/null",
            ],
        ),
        "InvalidRange",
    );
    let probe = pattern.bytes(12_345_678, 64);
    assert!(
        files_containing(&s.data_dir(), &[&probe]).is_empty(),
        "plaintext of the object found at rest"
    );
}

#[test]
fn versioning_round_trip() {
    let s = TestServer::start();
    let b = "versioned-bucket";
    ok_json(&aws_as(
        &s,
        "account-b",
        &["s3api", "create-bucket", "--bucket", b],
    ));
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            b,
            "--versioning-configuration",
            "Status=Enabled",
        ],
    ));
    let v = ok_json(&aws_as(
        &s,
        "account-b",
        &["s3api", "get-bucket-versioning", "--bucket", b],
    ));
    assert_eq!(v["Status"], "Enabled");
    let one = file(&s, "one.txt", b"version one");
    let two = file(&s, "two.txt", b"version two");
    let v1 = ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "put-object",
            "--bucket",
            b,
            "--key",
            "doc.txt",
            "--body",
            one.to_str().unwrap(),
        ],
    ));
    let v2 = ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "put-object",
            "--bucket",
            b,
            "--key",
            "doc.txt",
            "--body",
            two.to_str().unwrap(),
        ],
    ));
    let (id1, id2) = (
        v1["VersionId"].as_str().unwrap().to_string(),
        v2["VersionId"].as_str().unwrap().to_string(),
    );
    assert_ne!(id1, id2);
    let out = s.dir.path().join("out.txt");
    let got = ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "get-object",
            "--bucket",
            b,
            "--key",
            "doc.txt",
            "--version-id",
            &id1,
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(got["VersionId"], id1.as_str());
    assert_eq!(std::fs::read(&out).unwrap(), b"version one");

    let del = ok_json(&aws_as(
        &s,
        "account-b",
        &["s3api", "delete-object", "--bucket", b, "--key", "doc.txt"],
    ));
    assert_eq!(del["DeleteMarker"], true);
    let marker = del["VersionId"].as_str().unwrap().to_string();
    fails_with(
        &aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "get-object",
                "--bucket",
                b,
                "--key",
                "doc.txt",
                out.to_str().unwrap(),
            ],
        ),
        "NoSuchKey",
    );
    let versions = ok_json(&aws_as(
        &s,
        "account-b",
        &["s3api", "list-object-versions", "--bucket", b],
    ));
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 2);
    assert_eq!(versions["DeleteMarkers"][0]["VersionId"], marker.as_str());
    assert_eq!(versions["DeleteMarkers"][0]["IsLatest"], true);
    // `aws s3 ls` no longer shows it; removing the marker brings version two back.
    assert!(
        !ok_text(&aws_as(
            &s,
            "account-b",
            &["s3", "ls", &format!("s3://{b}/")]
        ))
        .contains("doc.txt")
    );
    ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "delete-object",
            "--bucket",
            b,
            "--key",
            "doc.txt",
            "--version-id",
            &marker,
        ],
    ));
    ok_json(&aws_as(
        &s,
        "account-b",
        &[
            "s3api",
            "get-object",
            "--bucket",
            b,
            "--key",
            "doc.txt",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(&out).unwrap(), b"version two");

    // A bucket with versions is not empty until every version is gone.
    fails_with(
        &aws_as(&s, "account-b", &["s3api", "delete-bucket", "--bucket", b]),
        "BucketNotEmpty",
    );
    for id in [&id1, &id2] {
        ok_json(&aws_as(
            &s,
            "account-b",
            &[
                "s3api",
                "delete-object",
                "--bucket",
                b,
                "--key",
                "doc.txt",
                "--version-id",
                id,
            ],
        ));
    }
    ok_text(&aws_as(
        &s,
        "account-b",
        &["s3api", "delete-bucket", "--bucket", b],
    ));
    fails_with(
        &aws_as(&s, "account-b", &["s3api", "head-bucket", "--bucket", b]),
        "404",
    );
}

#[test]
fn rb_force_empties_and_removes_a_bucket() {
    let s = TestServer::start();
    ok_text(&aws_as(
        &s,
        "account-b",
        &["s3", "mb", "s3://scratch-bucket"],
    ));
    let dir = s.dir.path().join("tree");
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    for (name, body) in [("x.txt", "x"), ("a/y.txt", "y"), ("a/b/z.txt", "z")] {
        std::fs::write(dir.join(name), body).unwrap();
    }
    ok_text(&aws_as(
        &s,
        "account-b",
        &[
            "s3",
            "cp",
            "--only-show-errors",
            "--recursive",
            dir.to_str().unwrap(),
            "s3://scratch-bucket/tree/",
        ],
    ));
    let ls = ok_text(&aws_as(
        &s,
        "account-b",
        &["s3", "ls", "s3://scratch-bucket/tree/"],
    ));
    assert!(ls.contains("PRE a/") && ls.contains("x.txt"), "{ls}");
    let rec = ok_text(&aws_as(
        &s,
        "account-b",
        &["s3", "ls", "--recursive", "s3://scratch-bucket/"],
    ));
    assert_eq!(rec.lines().count(), 3, "{rec}");
    fails_with(
        &aws_as(
            &s,
            "account-b",
            &["s3api", "delete-bucket", "--bucket", "scratch-bucket"],
        ),
        "BucketNotEmpty",
    );
    ok_text(&aws_as(
        &s,
        "account-b",
        &["s3", "rb", "--force", "s3://scratch-bucket"],
    ));
    assert!(!ok_text(&aws_as(&s, "account-b", &["s3", "ls"])).contains("scratch-bucket"));
}
