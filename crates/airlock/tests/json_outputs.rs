//! Every `--json` output of the CLI carries `format_version` and validates against its committed
//! schema (`schemas/NAME.schema.json`, which `airlock schema NAME` prints): the offline commands
//! on the examples, and apply, verify and destroy against a real `airlock serve`.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod support;

const OUTPUTS: [&str; 8] = [
    "simulate",
    "plan",
    "check",
    "check-compare",
    "check-no-new-access",
    "apply",
    "verify",
    "destroy",
];

use support::{clean, workspace};

fn airlock(home: &Path, args: &[&str]) -> Output {
    airlock_env(home, args, &[])
}

fn airlock_env(home: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    support::run_airlock(home, args, env)
}

const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
doc = json.load(sys.stdin)
errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(schema).iter_errors(doc)]
assert not errors, errors
"#;

/// Checks that `out` (a command's `--json` standard output) is valid against
/// `schemas/NAME.schema.json` and names its format.
fn validate(name: &str, out: &Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{name}: not JSON ({e}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        doc["format_version"],
        format!("airlock.{name}/1"),
        "{name}: {text}"
    );
    let python = workspace().join("target/venv/bin/python");
    assert!(
        python.exists(),
        "the test venv is missing: run `bash scripts/test-env.sh`"
    );
    let schema = workspace().join(format!("schemas/{name}.schema.json"));
    let mut child = Command::new(python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let v = child.wait_with_output().unwrap();
    assert!(
        v.status.success(),
        "{name}: the output does not match {}: {}",
        schema.display(),
        String::from_utf8_lossy(&v.stderr)
    );
}

#[test]
fn committed_output_schemas_match_airlock_schema() {
    let home = tempfile::tempdir().unwrap();
    for name in OUTPUTS {
        let out = airlock(home.path(), &["schema", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = workspace().join(format!("schemas/{name}.schema.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            committed.trim(),
            "{} is stale: run `cargo run -p airlock -- schema {name} > schemas/{name}.schema.json`",
            path.display()
        );
    }
}

#[test]
fn offline_json_outputs_match_their_schemas() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let setup = "examples/seed-as-written.json";
    validate(
        "simulate",
        &airlock(
            h,
            &[
                "simulate",
                "--setup",
                setup,
                "--requests",
                "examples/seed-checklist.json",
                "--json",
            ],
        ),
    );
    for profile in ["hardened", "as-written"] {
        let args = ["examples/seed.toml", "--hardening", profile, "--json"];
        validate("plan", &airlock(h, &[&["plan"][..], &args].concat()));
        validate("check", &airlock(h, &[&["check"][..], &args].concat()));
    }
    validate("check", &airlock(h, &["check", "--setup", setup, "--json"]));
    validate(
        "check-compare",
        &airlock(
            h,
            &["check", "--setup", setup, "--compare", setup, "--json"],
        ),
    );
    let old = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
    let wider = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","arn:aws:iam::333333333333:root"]},"Action":"sts:AssumeRole"}]}"#;
    std::fs::write(h.join("old.json"), old).unwrap();
    std::fs::write(h.join("wider.json"), wider).unwrap();
    let pair = format!(
        "{},{}",
        h.join("old.json").display(),
        h.join("wider.json").display()
    );
    validate(
        "check-no-new-access",
        &airlock(
            h,
            &[
                "check",
                "--setup",
                setup,
                "--no-new-access",
                &pair,
                "--json",
            ],
        ),
    );
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn apply_verify_and_destroy_json_outputs_match_their_schemas() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let data = h.join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    clean(&mut cmd, h);
    cmd.args(["serve", "--port", "0", "--tls-port", "0"])
        .args(["--account", "111111111111=account-a"])
        .args(["--account", "222222222222=account-b"])
        .arg("--data-dir")
        .arg(&data);
    let _server = Serve(support::spawn_ready(&mut cmd));
    // The blueprint in a directory of its own: its state file is written next to it.
    let blueprint = h.join("seed.toml");
    std::fs::copy(workspace().join("examples/seed.toml"), &blueprint).unwrap();
    let b = blueprint.to_str().unwrap();
    let d = data.to_str().unwrap();
    let common = [
        b,
        "--storage-profile",
        "account-b",
        "--consumer-profile",
        "account-a",
        "--data-dir",
        d,
        "--json",
    ];
    for cmd in ["apply", "verify", "destroy"] {
        let out = airlock_env(
            h,
            &[&[cmd][..], &common].concat(),
            &[
                ("AWS_CONFIG_FILE", &data.join("aws/config")),
                ("AWS_SHARED_CREDENTIALS_FILE", &data.join("aws/credentials")),
            ],
        );
        validate(cmd, &out);
    }
}
