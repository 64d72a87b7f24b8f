//! `airlock reset [--data-dir D] [--yes]`: empties a stopped server's data directory, so the
//! next `airlock serve` starts a fresh endpoint (new accounts' keys, no IAM entities, KMS
//! keys, buckets, instances or audit trail).
//!
//! Only airlock's own files inside the directory are removed, by name: the state store, object
//! data, `server.json`, `network.json`, the AWS CLI files and the STS session key (so no session
//! issued before the reset is accepted after it). The local CA (`tls/`) is kept, so clients
//! that trust it keep working, and so are the KMS master key and the SSE-S3 root key: a copy of
//! the store or of the object data taken before the reset stays readable with them, and a
//! fresh store works under the same keys.
//! Symbolic links are removed as links, never followed. A directory with neither
//! `state.redb` nor `server.json` is not taken for a data directory, and one a server is
//! running from is refused: stop the server first.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock_server::{DataDir, ServerState};
use anyhow::{Context, bail};

/// `airlock reset` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Data directory to empty.
    /// Default: $XDG_DATA_HOME/airlock or ~/.local/share/airlock.
    #[arg(long, env = "AIRLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What reset removes, relative to the data directory (a trailing `/`: a directory).
pub const REMOVED: [&str; 10] = [
    "state.redb",
    "state.redb.rewrite",
    "s3/",
    "server.json",
    "server.tmp",
    "network.json",
    "network.json.tmp",
    "aws/",
    "sts-session.key",
    "sts-session.tmp",
];

/// Runs `airlock reset`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = args
        .data_dir
        .unwrap_or_else(airlock_server::default_data_dir);
    let meta = match std::fs::metadata(&root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "airlock reset: {} does not exist: nothing to reset",
                root.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", root.display())),
    };
    if !meta.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let data = DataDir::new(&root);
    let is_ours =
        |name: &str| std::fs::symlink_metadata(root.join(name)).is_ok_and(|m| m.is_file());
    if !is_ours("state.redb") && !is_ours("server.json") {
        bail!(
            "{} does not look like an airlock data directory (it has no state.redb and no \
             server.json): refusing to delete anything. Pass the directory `airlock serve` used \
             with --data-dir",
            root.display()
        );
    }
    match data.server_state()? {
        ServerState::Running(info) => bail!(
            "an airlock server (pid {}, {}) is serving from {}: stop it first (Ctrl-C in its \
             terminal, or `kill {}`), then run `airlock reset` again",
            info.pid,
            info.http_endpoint,
            root.display(),
            info.pid
        ),
        ServerState::Gone(_) | ServerState::Absent => {}
    }
    if data.store_in_use() {
        bail!(
            "another process has {} open (an `airlock serve` starting or running): stop it \
             first, then run `airlock reset` again",
            data.state().display()
        );
    }
    let present: Vec<&str> = REMOVED
        .iter()
        .copied()
        .filter(|name| std::fs::symlink_metadata(root.join(name.trim_end_matches('/'))).is_ok())
        .collect();
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "airlock reset deletes all state of {} and asks first; standard input is not a \
                 terminal, so pass --yes to reset without asking",
                root.display()
            );
        }
        print!(
            "Delete all state of {} (accounts and their keys, IAM, STS, KMS keys, buckets and \
             objects, VPCs and instances, the audit trail)? The local CA in tls/, the KMS master key and \
             the SSE-S3 key are kept. [y/N] ",
            root.display()
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            println!("airlock reset: nothing deleted");
            return Ok(ExitCode::from(1));
        }
    }
    for name in &present {
        remove(&root, name)?;
    }
    println!(
        "airlock reset: emptied {} (removed: {}; kept: tls/, the local CA, kms-master.key and s3-sse.key)",
        root.display(),
        if present.is_empty() {
            "nothing".to_string()
        } else {
            present.join(", ")
        }
    );
    println!(
        "Start a fresh endpoint with `airlock serve --data-dir {}`",
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes `name` under `root`: a symbolic link as a link (never what it points to), a
/// directory with everything in it (links inside are removed, not followed), a file.
fn remove(root: &Path, name: &str) -> anyhow::Result<()> {
    let path = root.join(name.trim_end_matches('/'));
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let result = if meta.is_dir() {
        // `remove_dir_all` does not follow symbolic links.
        std::fs::remove_dir_all(&path)
    } else {
        std::fs::remove_file(&path)
    };
    result.with_context(|| format!("removing {}", path.display()))
}
