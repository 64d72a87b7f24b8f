//! The first hour, through the built binary: `airlock reset`, a `server.json` left by a
//! crashed server, fixed credentials on an existing data directory, a misspelt AWS profile
//! and a port in use.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

mod support;

const A: &str = "111111111111";

use support::{clean, workspace};

fn venv_bin() -> PathBuf {
    let bin = workspace().join("target/venv/bin");
    assert!(
        bin.join("aws").exists(),
        "the test venv is missing: run `bash scripts/test-env.sh`"
    );
    bin
}

/// `airlock ARGS` with a clean environment (no AWS_*, no AIRLOCK_*), stdin closed.
fn airlock(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    support::run_airlock(home, args, env)
}

fn serve(home: &Path, data: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    clean(&mut cmd, home);
    cmd.args(["serve", "--port", "0", "--tls-port", "0"])
        .args(["--account", &format!("{A}=account-a")])
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().copied());
    support::spawn_ready(&mut cmd)
}

fn server_json(data: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data.join("server.json")).unwrap()).unwrap()
}

/// The AWS CLI against the plain-HTTP listener with only the given key (no profile files).
fn aws_with_key(home: &Path, data: &Path, key: &str, secret: &str, args: &[&str]) -> Output {
    let endpoint = server_json(data)["http_endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cmd = Command::new(venv_bin().join("aws"));
    clean(&mut cmd, home);
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args(["--endpoint-url", &endpoint])
        .args(args)
        .output()
        .expect("aws runs")
}

/// The key of a profile in an AWS credentials file.
fn profile_key(data: &Path, profile: &str) -> (String, String) {
    let text = std::fs::read_to_string(data.join("aws/credentials")).unwrap();
    let mut inside = false;
    let (mut id, mut secret) = (String::new(), String::new());
    for line in text.lines() {
        if line.starts_with('[') {
            inside = line == format!("[{profile}]");
        } else if inside && let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = v.trim().to_string(),
                "aws_secret_access_key" => secret = v.trim().to_string(),
                _ => {}
            }
        }
    }
    (id, secret)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn kill_hard(child: &mut Child) {
    // SIGKILL: no shutdown, so server.json stays behind as after a crash.
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_crashed_server_is_named_gone_and_fixed_credentials_join_an_existing_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let data = home.join("data");
    let mut child = serve(home, &data, &[]);
    let (random_id, random_secret) = profile_key(&data, "account-a");
    assert!(random_id.starts_with("AKIA") && !random_id.starts_with("AKIAAIRL"));
    let pid = server_json(&data)["pid"].as_u64().unwrap();
    kill_hard(&mut child);
    assert!(data.join("server.json").exists());

    // Commands that need the server say it is gone and how to start it again.
    let d = data.to_str().unwrap();
    let out = airlock(
        home,
        &["exec", "--data-dir", d, "i-0123", "--", "true"],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is gone") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("airlock serve --data-dir {d}")),
        "{err}"
    );
    let out = airlock(
        home,
        &[
            "apply",
            "examples/seed.toml",
            "--storage-profile",
            "account-a",
            "--consumer-profile",
            "account-a",
            "--data-dir",
            d,
        ],
        &[],
    );
    assert!(stderr(&out).contains("is gone"), "{}", stderr(&out));
    let out = airlock(home, &["trail", "tail", "--data-dir", d], &[]);
    assert!(stderr(&out).contains("is gone"), "{}", stderr(&out));

    // Restarted with fixed credentials (from the environment): the documented key works
    // without any profile file, and the existing random key still does.
    let mut child = serve(home, &data, &[("AIRLOCK_FIXED_CREDENTIALS", "1")]);
    for (key, secret) in [
        (
            "AKIAAIRLBBBBBBBBBBBB",
            "airlock/public/111111111111/not/a/secret",
        ),
        (random_id.as_str(), random_secret.as_str()),
    ] {
        let out = aws_with_key(home, &data, key, secret, &["sts", "get-caller-identity"]);
        assert!(out.status.success(), "{key}: {}", stderr(&out));
        let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(id["Arn"], format!("arn:aws:iam::{A}:user/admin"));
    }
    assert_eq!(profile_key(&data, "account-a").0, "AKIAAIRLBBBBBBBBBBBB");
    kill_hard(&mut child);
}

#[test]
fn reset_empties_a_stopped_data_dir_only_and_keeps_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let data = home.join("data");
    let d = data.to_str().unwrap();

    // Not a data directory: refused, nothing touched.
    let stranger = home.join("stranger");
    std::fs::create_dir_all(stranger.join("s3")).unwrap();
    std::fs::write(stranger.join("s3/keep"), "mine").unwrap();
    let out = airlock(
        home,
        &["reset", "--yes", "--data-dir", stranger.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not look like an airlock data directory"),
        "{}",
        stderr(&out)
    );
    assert!(stranger.join("s3/keep").exists());

    let mut child = serve(home, &data, &[]);
    let (key, secret) = profile_key(&data, "account-a");
    let out = aws_with_key(
        home,
        &data,
        &key,
        &secret,
        &["iam", "create-user", "--user-name", "alice"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Running: refused with what to do.
    let out = airlock(home, &["reset", "--yes", "--data-dir", d], &[]);
    assert!(stderr(&out).contains("stop it first"), "{}", stderr(&out));
    assert!(data.join("state.redb").exists());
    kill_hard(&mut child);

    // A symbolic link inside the data directory is removed as a link, never followed.
    let outside = home.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious"), "keep").unwrap();
    std::fs::remove_file(data.join("network.json")).ok();
    std::os::unix::fs::symlink(&outside, data.join("network.json")).unwrap();
    std::os::unix::fs::symlink(&outside, data.join("s3").join("link")).unwrap();

    // Without a terminal and without --yes: refused.
    let out = airlock(home, &["reset", "--data-dir", d], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(data.join("state.redb").exists());

    let out = airlock(home, &["reset", "--yes"], &[("AIRLOCK_DATA_DIR", d)]);
    assert!(out.status.success(), "{}", stderr(&out));
    for gone in [
        "state.redb",
        "s3",
        "server.json",
        "network.json",
        "aws",
        "sts-session.key",
    ] {
        assert!(
            std::fs::symlink_metadata(data.join(gone)).is_err(),
            "{gone} is still there"
        );
    }
    // A backup of the store or the object data stays readable: the keys that seal them stay.
    for kept in ["kms-master.key", "s3-sse.key"] {
        assert!(data.join(kept).exists(), "{kept} is kept");
    }
    assert!(data.join("tls/ca.pem").exists(), "the CA is kept");
    assert_eq!(
        std::fs::read_to_string(outside.join("precious")).unwrap(),
        "keep"
    );

    // The next serve is a fresh endpoint: a new key, and no user alice.
    let mut child = serve(home, &data, &[]);
    let (new_key, new_secret) = profile_key(&data, "account-a");
    assert_ne!(new_key, key);
    let out = aws_with_key(
        home,
        &data,
        &new_key,
        &new_secret,
        &["iam", "get-user", "--user-name", "alice"],
    );
    assert!(stderr(&out).contains("NoSuchEntity"), "{}", stderr(&out));
    kill_hard(&mut child);
}

#[test]
fn a_misspelt_profile_lists_the_known_profiles() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let config = home.join("config");
    let creds = home.join("credentials");
    std::fs::write(
        &config,
        "[default]\nregion = us-east-1\n[profile account-a]\nregion = us-east-1\n",
    )
    .unwrap();
    std::fs::write(
        &creds,
        "[account-b]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n",
    )
    .unwrap();
    for cmd in ["apply", "verify", "destroy"] {
        let out = airlock(
            home,
            &[
                cmd,
                "examples/seed.toml",
                "--storage-profile",
                "acount-a",
                "--consumer-profile",
                "account-b",
            ],
            &[
                ("AWS_CONFIG_FILE", config.to_str().unwrap()),
                ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("no AWS profile `acount-a`"), "{cmd}: {err}");
        assert!(
            err.contains("known profiles: account-a, account-b, default"),
            "{cmd}: {err}"
        );
        assert!(!err.contains("has no region"), "{cmd}: {err}");
    }
}

#[test]
fn a_port_in_use_is_named_with_its_flag_and_nothing_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = home.join("fresh");
    let out = airlock(
        home,
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--port",
            &port,
            "--tls-port",
            "0",
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("port {port} (--port")), "{err}");
    assert!(err.contains("in use"), "{err}");
    assert!(!data.exists(), "{} was created", data.display());
}

#[test]
fn committed_health_schema_matches_the_health_type() {
    let tmp = tempfile::tempdir().unwrap();
    let out = airlock(tmp.path(), &["schema", "health"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed =
        std::fs::read_to_string(workspace().join("schemas/health.schema.json")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        committed.trim(),
        "schemas/health.schema.json is stale: run `cargo run -p airlock -- schema health > schemas/health.schema.json`"
    );
}
