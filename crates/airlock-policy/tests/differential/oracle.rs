//! Runs cases through `tests/oracle/decide.mjs` (@cloud-copilot/iam-simulate): one node process
//! for the whole batch, cases streamed on stdin by a writer thread while answers are read back.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use airlock_policy::Decision;
use serde::Deserialize;

use super::case::Case;

/// The directory of the npm project holding the oracle.
pub fn oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oracle")
}

/// Checks that node and the installed oracle are there. Missing pieces are an error, never a
/// reason to skip: the differential test is part of the suite.
pub fn require_oracle() -> Result<PathBuf, String> {
    let dir = oracle_dir();
    let hint = "run scripts/test-env.sh (it runs `npm ci` in tests/oracle) and make sure `node` (>= 20) is on PATH";
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Err(format!("`node --version` failed ({}); {hint}", out.status)),
        Err(e) => return Err(format!("node is not runnable ({e}); {hint}")),
    }
    let pkg = dir.join("node_modules/@cloud-copilot/iam-simulate/package.json");
    if !pkg.is_file() {
        return Err(format!(
            "{} is missing: the iam-simulate oracle is not installed; {hint}",
            pkg.display()
        ));
    }
    Ok(dir)
}

/// What the oracle said about one case.
#[derive(Debug, Clone, Deserialize)]
pub struct Answer {
    /// The case id it answers.
    pub id: Option<u64>,
    /// The decision, when iam-simulate ran.
    pub decision: Option<Decision>,
    /// Why iam-simulate did not run (input rejected, exception).
    pub error: Option<String>,
    /// Context keys iam-simulate dropped as not applicable to the action.
    #[serde(default)]
    pub ignored_context_keys: Vec<String>,
}

/// Runs every case through the oracle, returning the answers in case order.
pub fn decide_all(cases: &[Case]) -> Result<Vec<Answer>, String> {
    let dir = require_oracle()?;
    let mut child = Command::new("node")
        .arg("decide.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start node decide.mjs in {}: {e}", dir.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin pipe to node")?;
    let stdout = child.stdout.take().ok_or("no stdout pipe from node")?;
    let lines: Vec<String> = cases.iter().map(Case::to_json_line).collect();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(&mut stdin);
        for line in &lines {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()
        // stdin drops here: node sees EOF and exits after the last answer.
    });
    let mut answers = Vec::with_capacity(cases.len());
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading oracle output: {e}"))?;
        let answer: Answer = serde_json::from_str(&line)
            .map_err(|e| format!("unreadable oracle line ({e}): {line}"))?;
        answers.push(answer);
    }
    writer
        .join()
        .map_err(|_| "oracle writer thread panicked".to_string())?
        .map_err(|e| format!("writing cases to the oracle: {e}"))?;
    let status = child.wait().map_err(|e| format!("waiting for node: {e}"))?;
    if !status.success() {
        return Err(format!("node decide.mjs exited with {status}"));
    }
    if answers.len() != cases.len() {
        return Err(format!(
            "oracle answered {} of {} cases",
            answers.len(),
            cases.len()
        ));
    }
    for (case, answer) in cases.iter().zip(&answers) {
        if answer.id != Some(case.id) {
            return Err(format!(
                "oracle answers out of order: expected id {}, got {:?}",
                case.id, answer.id
            ));
        }
    }
    Ok(answers)
}
