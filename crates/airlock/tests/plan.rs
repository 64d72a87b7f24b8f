//! `airlock plan` and `airlock check BLUEPRINT` end to end: the binary on examples/seed.toml in
//! both profiles, its files, outputs and exit codes.

use std::process::Command;

use airlock_policy::{Policy, PolicyKind};

fn airlock(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("run airlock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SEED: &str = "examples/seed.toml";

#[test]
fn plan_prints_steps_resources_and_policies_with_placeholders() {
    let (code, out, err) = airlock(&["plan", SEED]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("profile hardened"), "{out}");
    // the steps in order, the bucket policy after the endpoint
    let step = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} missing:\n{out}"));
    assert!(step("1. [222222222222") < step("2. [222222222222"));
    assert!(step("6. [111111111111") < step("7. [222222222222"));
    assert!(step("7. [222222222222") < step("8. [111111111111"));
    assert!(
        out.contains("${airlock:vpce_id:s3-gateway-endpoint}"),
        "{out}"
    );
    assert!(out.contains("e.g. vpce-0a1b2c3d4e5f6g7h8"), "{out}");
    assert!(out.contains("DenyInsecureTransport"));
    let (code, out, _) = airlock(&["plan", SEED, "--hardening", "as-written"]);
    assert_eq!(code, 0);
    assert!(out.contains("profile as-written"));
    assert!(out.contains("DenyAllExceptVPCEndpoint"));
    assert!(!out.contains("DenyInsecureTransport"));
    assert!(out.contains("hardening on:  none"));
}

#[test]
fn plan_json_is_the_plan() {
    let (code, out, err) = airlock(&["plan", SEED, "--json", "--hardening", "as-written"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["plan"]["profile"], "as-written");
    assert_eq!(
        v["plan"]["bucket"]["name"],
        "cross-account-secure-bucket-demo"
    );
    assert_eq!(v["plan"]["steps"][0]["action"]["kind"], "create-key");
    assert_eq!(
        v["bindings"]["key_id"],
        "12345678-1234-1234-1234-123456789012"
    );
}

#[test]
fn plan_out_files_parse_as_policies_of_their_kind() {
    for profile in ["hardened", "as-written"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf-8 path");
        let (code, _, err) = airlock(&["plan", SEED, "--hardening", profile, "--out", d]);
        assert_eq!(code, 0, "{err}");
        let bindings: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("bindings.json")).unwrap(),
        )
        .unwrap();
        let mut kinds = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name == "plan.json" || name == "bindings.json" || name == "templates" {
                continue;
            }
            let kind = if name.ends_with(".key-policy.json") {
                PolicyKind::Key
            } else if name.ends_with(".bucket-policy.json") {
                PolicyKind::Resource
            } else if name.ends_with(".trust-policy.json") {
                PolicyKind::Trust
            } else if name.contains(".inline.") {
                PolicyKind::Identity
            } else {
                panic!("unexpected file {name}")
            };
            assert!(
                name.starts_with("111111111111-account-a.")
                    || name.starts_with("222222222222-account-b."),
                "{name} names its account"
            );
            // the document, resolved with the illustrative values, is a policy of its kind
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains("${airlock:"), "{name}");
            Policy::parse(&text, kind).unwrap_or_else(|e| panic!("{name}: {e}"));
            // its template holds the placeholders; substituted, it is the same document
            let mut template =
                std::fs::read_to_string(dir.path().join("templates").join(&name)).unwrap();
            for (k, v) in bindings.as_object().unwrap() {
                template = template.replace(&format!("${{airlock:{k}}}"), v.as_str().unwrap());
            }
            let a: serde_json::Value = serde_json::from_str(&template).unwrap();
            let b: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(a, b, "{name}");
            kinds.push(kind);
        }
        kinds.sort_by_key(|k| format!("{k:?}"));
        kinds.dedup();
        assert_eq!(
            kinds.len(),
            4,
            "{profile}: key, bucket, trust and identity documents"
        );
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
                .unwrap();
        assert_eq!(plan["profile"], profile);
    }
}

#[test]
fn check_hardened_blueprint_proves_every_claim() {
    let (code, out, err) = airlock(&["check", SEED, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let props = v["properties"].as_array().unwrap();
    assert_eq!(props.len(), 7);
    for p in props {
        assert_eq!(p["result"], "proved", "{p}");
    }
    for f in v["findings"].as_array().unwrap() {
        assert_eq!(f["severity"], "note", "no warning or error: {f}");
    }
}

fn finding_ids(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["id"], f["location"]))
        .collect();
    ids.sort();
    ids
}

#[test]
fn check_as_written_blueprint_reports_the_seed_flaws_like_the_setup_document() {
    let (code, out, err) = airlock(&["check", SEED, "--hardening", "as-written", "--json"]);
    assert_eq!(code, 1, "{err}");
    let bp: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let (code, out, _) = airlock(&[
        "check",
        "--setup",
        "examples/seed-as-written.json",
        "--json",
    ]);
    assert_eq!(code, 1);
    let setup: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(finding_ids(&bp), finding_ids(&setup));
    let result = |prefix: &str| -> String {
        bp["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["property"].as_str().unwrap_or("").starts_with(prefix))
            .map(|p| p["result"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{prefix} missing: {bp}"))
    };
    assert_eq!(result("not-public"), "proved");
    assert_eq!(result("only-via-vpce"), "proved");
    assert_eq!(result("requires-tls"), "violated");
    assert_eq!(result("requires-kms-key"), "violated");
    // the trust admits any principal of account A, not only the EC2 role
    let trust = bp["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["property"]
                .as_str()
                .is_some_and(|x| x.ends_with("actions=sts:AssumeRole"))
        })
        .expect("trust claim");
    assert_eq!(trust["result"], "violated");
    // an explicit --property replaces the claims
    let (code, out, err) = airlock(&[
        "check",
        SEED,
        "--hardening",
        "as-written",
        "--no-lints",
        "--property",
        "no-actions=s3:Delete*;principals=arn:aws:iam::222222222222:role/CrossAccountS3AccessRole",
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn unknown_field_and_bad_blueprints_exit_2_with_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed.toml"
    ))
    .unwrap();
    let bad = seed.replace("bucket_key = true", "bucket_key = true\nbucket_kye = false");
    let line = bad
        .lines()
        .position(|l| l.starts_with("bucket_kye"))
        .unwrap()
        + 1;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &bad).unwrap();
    let p = path.to_str().unwrap();
    for cmd in [vec!["plan", p], vec!["check", p]] {
        let (code, out, err) = airlock(&cmd);
        assert_eq!(code, 2, "{cmd:?}: {out}{err}");
        assert!(err.contains(&format!("line {line}, column 1")), "{err}");
        assert!(err.contains("bucket_kye"), "{err}");
    }
    let (code, _, err) = airlock(&["plan", SEED, "--hardening", "hardend"]);
    assert_eq!(code, 2);
    assert!(err.contains("hardend"), "{err}");
    let (code, _, err) = airlock(&["plan", "no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/file.toml"), "{err}");
    let (code, _, _) = airlock(&["check", SEED, "--setup", "examples/seed-as-written.json"]);
    assert_eq!(code, 2, "a blueprint or a setup document, not both");
}

#[test]
fn a_subnet_outside_its_vpc_is_refused_by_plan_check_and_apply_with_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed.toml"
    ))
    .unwrap();
    let bad = seed.replace(
        "subnet_cidr = \"10.0.1.0/24\"",
        "subnet_cidr = \"172.16.1.0/24\"",
    );
    let line = bad
        .lines()
        .position(|l| l.starts_with("subnet_cidr"))
        .unwrap()
        + 1;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &bad).unwrap();
    let p = path.to_str().unwrap();
    for cmd in [
        vec!["plan", p],
        vec!["check", p],
        vec![
            "apply",
            p,
            "--storage-profile",
            "nope-b",
            "--consumer-profile",
            "nope-a",
        ],
    ] {
        let (code, out, err) = airlock(&cmd);
        assert_eq!(code, 2, "{cmd:?}: {out}{err}");
        assert!(err.contains(&format!("line {line}, column 15")), "{err}");
        assert!(
            err.contains("172.16.1.0/24") && err.contains("10.0.0.0/16"),
            "{err}"
        );
        assert!(err.contains("give a subnet_cidr within"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn plan_out_with_bindings_writes_the_real_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = dir.path().join("b.json");
    std::fs::write(
        &b,
        r#"{"key_arn": "arn:aws:kms:us-east-1:222222222222:key/0f0f0f0f-0000-4000-8000-000000000001",
            "vpce_id:s3-gateway-endpoint": "vpce-0123456789abcdef0"}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = airlock(&[
        "plan",
        SEED,
        "--bindings",
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let policy = std::fs::read_to_string(out.join(
        "222222222222-account-b.s3-bucket.cross-account-secure-bucket-demo.bucket-policy.json",
    ))
    .unwrap();
    assert!(policy.contains("vpce-0123456789abcdef0"), "{policy}");
    assert!(
        policy.contains("key/0f0f0f0f-0000-4000-8000-000000000001"),
        "{policy}"
    );
    assert!(!policy.contains("vpce-0a1b2c3d4e5f6g7h8"), "{policy}");
    // a bad binding name is an error (exit 2), nothing half-written matters
    std::fs::write(&b, r#"{"key_arm": "x"}"#).unwrap();
    let (code, _, err) = airlock(&["plan", SEED, "--bindings", b.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("key_arm"), "{err}");
}

/// `--profile hardened|as-written` still works for one release, with a warning naming
/// `--hardening`; any other value is refused with what `--profile` means here.
#[test]
fn deprecated_profile_flag_warns_and_still_works() {
    let (code, out, err) = airlock(&["plan", SEED, "--profile", "as-written"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("profile as-written"), "{out}");
    assert!(err.contains("deprecated"), "{err}");
    assert!(err.contains("--hardening as-written"), "{err}");
    let (code, out, err) = airlock(&["check", SEED, "--profile", "hardened", "--json"]);
    assert!(code == 0 || code == 1, "{out}{err}");
    assert!(err.contains("--hardening hardened"), "{err}");
    // the new spelling prints no warning
    let (code, _, err) = airlock(&["plan", SEED, "--hardening", "as-written"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("deprecated"), "{err}");
    // an AWS profile name is refused, pointing at --hardening and the AWS profile flags
    let (code, _, err) = airlock(&["plan", SEED, "--profile", "account-b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--hardening"), "{err}");
    assert!(err.contains("--storage-profile"), "{err}");
    // both spellings at once conflict
    let (code, _, _) = airlock(&[
        "plan",
        SEED,
        "--profile",
        "hardened",
        "--hardening",
        "as-written",
    ]);
    assert_eq!(code, 2);
}
