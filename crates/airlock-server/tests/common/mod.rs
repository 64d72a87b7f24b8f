//! Test harness: a real server on free loopback ports, and the real AWS CLI / boto3 from the
//! test venv.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airlock_server::{ServeConfig, Server, ServerInfo};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The test venv (`target/venv`), or a panic that says how to create it.
pub fn venv() -> PathBuf {
    let v = workspace().join("target/venv");
    if !v.join("bin/aws").exists() || !v.join("bin/python").exists() {
        panic!(
            "the test venv is missing: {} has no bin/aws or bin/python.\n\
             Create it with `bash scripts/test-env.sh` (installs the pinned AWS CLI, boto3 and moto).",
            v.display()
        );
    }
    v
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut b = [0u8; 8];
        aws_lc_rs::rand::fill(&mut b).unwrap();
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let p = std::env::temp_dir().join(format!("airlock-test-{tag}-{name}"));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The two accounts of the seed.
pub const A: &str = "111111111111";
pub const B: &str = "222222222222";

/// A server running in-process on its own runtime.
pub struct TestServer {
    pub dir: TempDir,
    pub info: ServerInfo,
    server: Option<Server>,
    runtime: tokio::runtime::Runtime,
}

impl TestServer {
    /// Starts a server with the seed's accounts `account-a` and `account-b`.
    pub fn start() -> Self {
        Self::start_with(&[(A, "account-a"), (B, "account-b")])
    }

    pub fn start_with(accounts: &[(&str, &str)]) -> Self {
        Self::start_configured(accounts, |_| {})
    }

    /// Starts a server with `accounts`, after `adjust` changed its configuration.
    pub fn start_configured(
        accounts: &[(&str, &str)],
        adjust: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        let dir = TempDir::new("srv");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = ServeConfig::new(dir.path().join("data"));
        config.accounts = accounts
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        adjust(&mut config);
        let server = runtime
            .block_on(Server::start(config))
            .expect("server starts");
        let info = server.info().clone();
        TestServer {
            dir,
            info,
            server: Some(server),
            runtime,
        }
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn server_json(&self) -> PathBuf {
        self.data_dir().join("server.json")
    }

    /// Runs the AWS CLI with the written config files and a clean environment.
    pub fn aws(&self, args: &[&str]) -> Output {
        aws_cli(&self.info, self.dir.path(), args, &[])
    }

    /// Runs the AWS CLI with extra environment variables (e.g. exported session credentials).
    pub fn aws_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        aws_cli(&self.info, self.dir.path(), args, env)
    }

    /// Runs a helper script under tests/server with the venv's python.
    pub fn python(&self, script: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg(workspace().join("tests/server").join(script))
            .arg(self.server_json())
            .args(args);
        clean_env(&mut cmd, self.dir.path());
        cmd.output().expect("python runs")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// Removes every variable that would point the AWS CLI elsewhere (the sandbox sets
/// `AWS_CA_BUNDLE`, for instance) and keeps it off the user's `~/.aws`.
pub fn clean_env(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_")
            || k == "REQUESTS_CA_BUNDLE"
            || k == "CURL_CA_BUNDLE"
            || k == "SSL_CERT_FILE"
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_PAGER", "")
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

pub fn aws_cli(info: &ServerInfo, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(venv().join("bin/aws"));
    clean_env(&mut cmd, home);
    cmd.env("AWS_CONFIG_FILE", &info.aws_config_file)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            &info.aws_shared_credentials_file,
        )
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("aws cli runs")
}

/// Asserts success and parses stdout as JSON (empty output → `null`).
pub fn ok_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// Asserts failure and returns stderr.
pub fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A path under tests/server/seed as a `file://` argument.
pub fn seed_file(name: &str) -> String {
    format!(
        "file://{}",
        workspace().join("tests/server/seed").join(name).display()
    )
}

/// What a child server process prints on its standard output once it serves: this marker,
/// then its `ServerInfo` as JSON, to the end of the line.
pub const CHILD_READY: &str = "airlock-test-child ready ";

/// In a child server process: announces on standard output that `server` is listening (see
/// [`spawn_child_server`]).
pub fn announce_child_ready(server: &Server) {
    use std::io::Write;
    let info = serde_json::to_string(server.info()).expect("server info serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{CHILD_READY}{info}");
    let _ = out.flush();
}

/// Spawns `cmd` (this test binary re-run as a child that serves and calls
/// [`announce_child_ready`]) and returns once the child says it serves, with its
/// `ServerInfo`. No clock is involved: if the child exits first, its standard output ends and
/// this panics with the exit status.
pub fn spawn_child_server(cmd: &mut Command) -> (std::process::Child, ServerInfo) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child server");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let info = loop {
        match lines.next() {
            Some(Ok(line)) => {
                // libtest may have printed the test's name on the same line.
                if let Some(at) = line.find(CHILD_READY) {
                    let json = &line[at + CHILD_READY.len()..];
                    break serde_json::from_str::<ServerInfo>(json).expect("child server info");
                }
            }
            Some(Err(_)) | None => {
                let status = child.wait();
                panic!("the child server exited before it was ready: {status:?}");
            }
        }
    };
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, info)
}
