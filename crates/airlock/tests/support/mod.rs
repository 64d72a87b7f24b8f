//! What the CLI's end-to-end tests share: starting `airlock serve` as a child process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
