//! Runs SMT-LIB queries through the Z3 harness (`tests/z3/decide.py`, z3-solver in `target/venv`)
//! in one batch process. Shared by the agreement tests and the benchmark.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The venv Python, or a panic that says how to get it (the cross-check must never be skipped).
pub fn python() -> PathBuf {
    let root = workspace_root();
    let py = root.join("target/venv/bin/python");
    if !py.exists() {
        panic!(
            "Z3 cross-check needs the test venv: {} is missing. Run `bash scripts/test-env.sh` \
             (it installs z3-solver into target/venv).",
            py.display()
        );
    }
    py
}

/// Z3's verdict on one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `sat`, `unsat`, `unknown` or `error ...`.
    pub result: String,
    /// Z3's solving time in seconds.
    pub seconds: f64,
}

/// Decides every query in one Python process; returns verdicts in order and Z3's total time.
pub fn decide(queries: &[String]) -> (Vec<Verdict>, f64) {
    decide_with(queries, 8, 2000)
}

/// [`decide`] with the length bound of the fallback check and Z3's timeout per query.
pub fn decide_with(queries: &[String], bound: usize, timeout_ms: u64) -> (Vec<Verdict>, f64) {
    let root = workspace_root();
    let mut child = Command::new(python())
        .env("AIRLOCK_Z3_BOUND", bound.to_string())
        .env("AIRLOCK_Z3_TIMEOUT_MS", timeout_ms.to_string())
        .arg(root.join("tests/z3/decide.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the Z3 harness");
    let mut input = String::new();
    for (i, q) in queries.iter().enumerate() {
        input.push_str(&format!(";;; QUERY {i}\n"));
        input.push_str(q);
    }
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("Z3 harness output");
        writer
            .join()
            .expect("writer thread")
            .expect("write queries");
        assert!(
            out.status.success(),
            "the Z3 harness failed: {:?} (is z3-solver installed in target/venv?)",
            out.status
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut verdicts = vec![
            Verdict {
                result: "missing".into(),
                seconds: 0.0
            };
            queries.len()
        ];
        let mut total = 0.0;
        for line in text.lines() {
            let mut it = line.splitn(3, ' ');
            let id = it.next().unwrap_or("");
            let r = it.next().unwrap_or("");
            let rest = it.next().unwrap_or("0");
            if id == "total" {
                total = r.parse().unwrap_or(0.0);
                continue;
            }
            if let Ok(i) = id.parse::<usize>()
                && i < verdicts.len()
            {
                verdicts[i] = Verdict {
                    result: if r == "error" {
                        format!("error {rest}")
                    } else {
                        r.to_string()
                    },
                    seconds: rest.parse().unwrap_or(0.0),
                };
            }
        }
        (verdicts, total)
    }
}
