//! `airlock check` end to end: the binary on the seed's literal setup, its outputs and exit codes.

use std::process::Command;

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

const SEED: &str = "examples/seed-as-written.json";

#[test]
fn seed_table_reports_flaws_and_proofs() {
    let (code, out, err) = airlock(&["check", "--setup", SEED]);
    assert_eq!(code, 1, "violations exit 1: {err}");
    assert!(
        out.contains("not-public") && out.contains("proved"),
        "{out}"
    );
    assert!(out.contains("VIOLATED"), "{out}");
    for id in ["AL001", "AL002", "AL003", "AL004", "AL005", "AL011"] {
        assert!(out.contains(id), "{id} missing:\n{out}");
    }
}

#[test]
fn a_proved_property_exits_zero() {
    let (code, out, err) = airlock(&[
        "check",
        "--setup",
        SEED,
        "--no-lints",
        "--property",
        "no-actions=s3:Delete*;principals=arn:aws:iam::222222222222:role/CrossAccountS3AccessRole",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("proved"));
}

#[test]
fn json_and_sarif() {
    let (code, out, _) = airlock(&[
        "check",
        "--setup",
        SEED,
        "--json",
        "--property",
        "requires-tls",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["properties"][0]["result"], "violated");
    assert_eq!(v["properties"][0]["counterexample"]["replayed"], "allow");
    let (_, out, _) = airlock(&["check", "--setup", SEED, "--sarif"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("SARIF JSON");
    assert_eq!(v["version"], "2.1.0");
    assert!(
        v["runs"][0]["results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["ruleId"] == "AL004"))
    );
}

#[test]
fn bad_input_exits_two() {
    let (code, _, err) = airlock(&["check", "--setup", SEED, "--property", "no-such-property"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown property"), "{err}");
    let (code, _, err) = airlock(&["check", "--setup", "does-not-exist.json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = airlock(&["check", "--setup", SEED, "--fail-on", "sometimes"]);
    assert_eq!(code, 2);
}

#[test]
fn compare_and_no_new_access() {
    let (code, out, err) = airlock(&["check", "--setup", SEED, "--compare", SEED]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("equivalent"), "{out}");
    let dir = std::env::temp_dir().join(format!("airlock-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let old = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
    let wider = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","arn:aws:iam::333333333333:root"]},"Action":"sts:AssumeRole"}]}"#;
    let narrower = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole"}}}]}"#;
    for (n, t) in [("old", old), ("wider", wider), ("narrower", narrower)] {
        std::fs::write(dir.join(format!("{n}.json")), t).expect("write");
    }
    let p = |n: &str| dir.join(format!("{n}.json")).display().to_string();
    let (code, out, err) = airlock(&[
        "check",
        "--setup",
        SEED,
        "--no-new-access",
        &format!("{},{}", p("old"), p("narrower")),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = airlock(&[
        "check",
        "--setup",
        SEED,
        "--no-new-access",
        &format!("{},{}", p("old"), p("wider")),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("333333333333"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_table_wraps_long_properties_and_reasons_instead_of_cutting_them() {
    let property =
        "no-actions=s3:Delete*;principals=arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";
    for columns in ["80", "100", "not-a-number"] {
        let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args([
                "check",
                "--setup",
                SEED,
                "--no-lints",
                "--property",
                property,
            ])
            .env("COLUMNS", columns)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .output()
            .expect("run airlock");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains('…'), "COLUMNS={columns}: {text}");
        assert!(
            text.contains(property),
            "COLUMNS={columns}: the property appears whole: {text}"
        );
    }
}
