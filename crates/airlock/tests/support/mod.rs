//! What the CLI's end-to-end tests share: running the built `airlock` in a clean environment,
//! and starting `airlock serve` as a child process.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Removes every `AWS_*` and `AIRLOCK_*` variable and sets `HOME` to `home`.
pub fn clean(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("AIRLOCK_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home).env("AWS_PAGER", "");
}

/// `airlock ARGS` from the workspace root with a clean environment plus `env`, stdin closed.
pub fn run_airlock<V: AsRef<OsStr>>(home: &Path, args: &[&str], env: &[(&str, V)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    clean(&mut cmd, home);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_ref())))
        .current_dir(workspace())
        .stdin(Stdio::null())
        .output()
        .expect("run airlock")
}

/// Spawns `cmd` (an `airlock serve` command line) and returns once the server has said
/// `airlock serve: ready`, which it prints only after its listeners are bound and
/// `server.json`/`network.json` are written. No clock is involved: if the server exits first,
/// its standard output ends and the test fails with the exit status.
pub fn spawn_ready(cmd: &mut Command) -> Child {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn airlock serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("airlock serve: ready") => break,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                let status = child.wait();
                panic!("airlock serve exited before it was ready: {status:?}");
            }
        }
    }
    // Keep reading so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    child
}
