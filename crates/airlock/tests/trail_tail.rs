//! `airlock trail tail` against a real `airlock serve`: `--json` shows the records of calls
//! made after it started (data events included), and only those of the chosen account; the
//! compact form shows a denial with the engine's explanation beside it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

mod support;

const A: &str = "111111111111";
const B: &str = "222222222222";

fn venv_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/venv/bin")
        .canonicalize()
        .expect("the test venv is missing: run `bash scripts/test-env.sh`");
    assert!(bin.join("aws").exists(), "run `bash scripts/test-env.sh`");
    bin
}

struct Serve {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let child = support::spawn_ready(
            Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args(["serve", "--port", "0", "--tls-port", "0"])
                .args(["--account", &format!("{A}=account-a")])
                .args(["--account", &format!("{B}=account-b")])
                .arg("--data-dir")
                .arg(&data),
        );
        Serve { child, dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn aws(&self, profile: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(venv_bin().join("aws"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "REQUESTS_CA_BUNDLE" || k == "SSL_CERT_FILE" {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("AWS_PAGER", "")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.data().join("aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.data().join("aws/credentials"),
            )
            .args(args)
            .args(["--profile", profile])
            .output()
            .unwrap()
    }

    /// Starts `airlock trail tail ARGS` and waits until it follows.
    fn tail(&self, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["trail", "tail", "--data-dir"])
            .arg(self.data())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.contains("following"), "tail did not start: {line}");
        let out = BufReader::new(child.stdout.take().unwrap());
        (child, out)
    }
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tail_json_shows_the_calls_made_after_it_started() {
    let srv = Serve::start();
    // Before tail starts: not shown.
    ok(&srv.aws(
        "account-a",
        &["iam", "create-user", "--user-name", "before"],
    ));
    let (mut child, out) = srv.tail(&["--account", "account-a", "--json", "--count", "3"]);
    ok(&srv.aws(
        "account-a",
        &["s3api", "create-bucket", "--bucket", "tail-b"],
    ));
    // Account B's own call is not A's event.
    ok(&srv.aws("account-b", &["iam", "create-user", "--user-name", "other"]));
    let body = srv.dir.path().join("x");
    std::fs::write(&body, "x").unwrap();
    ok(&srv.aws(
        "account-a",
        &[
            "s3api",
            "put-object",
            "--bucket",
            "tail-b",
            "--key",
            "k",
            "--body",
            body.to_str().unwrap(),
        ],
    ));
    ok(&srv.aws("account-a", &["iam", "create-user", "--user-name", "after"]));
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let status = child.wait().unwrap();
    assert!(status.success());
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["CreateBucket", "PutObject", "CreateUser"]);
    assert_eq!(records[1]["eventCategory"], "Data");
    assert_eq!(records[2]["requestParameters"]["userName"], "after");
    assert!(records.iter().all(|r| r["recipientAccountId"] == A));
}

#[test]
fn tail_shows_denials_with_the_explanation_beside_them() {
    let srv = Serve::start();
    ok(&srv.aws(
        "account-a",
        &["s3api", "create-bucket", "--bucket", "a-only"],
    ));
    let (mut child, out) = srv.tail(&["--account", A, "--count", "1"]);
    // B reads A's bucket without a bucket policy: denied, recorded in A (the owner).
    let o = srv.aws(
        "account-b",
        &["s3api", "get-bucket-policy", "--bucket", "a-only"],
    );
    assert!(!o.status.success());
    let lines: Vec<String> = out.lines().map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert!(
        l.contains(&format!("arn:aws:iam::{B}:user/admin"))
            && l.contains("s3:GetBucketPolicy")
            && l.contains("arn:aws:s3:::a-only")
            && l.contains("deny(AccessDenied)")
            && l.contains(" -- "),
        "{l}"
    );
}
