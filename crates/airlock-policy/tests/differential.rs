//! Differential test: airlock-policy against an independent evaluator,
//! `@cloud-copilot/iam-simulate` (npm, pinned in `tests/oracle/package-lock.json`).
//!
//! A seeded generator writes random but valid policy sets and requests (see
//! `differential/gen.rs`); every case goes through `airlock_policy::evaluate` and, in one node
//! process for the whole batch, through iam-simulate. Decisions must agree. Cases of a known
//! divergence class — where AWS's documentation shows iam-simulate is wrong — are counted and
//! reported by class, never silently dropped (`differential/known.rs`, `docs/differences.md`).
//!
//! - `AIRLOCK_DIFF_CASES` — number of cases (default 10,000).
//! - `AIRLOCK_DIFF_SEED` — the seed (decimal or 0x-hex; default fixed, printed on every run).
//! - `AIRLOCK_DIFF_REPLAY=FILE` — run the cases of a JSON-lines file (as printed on a mismatch
//!   or written to `differential-mismatches.jsonl`) instead of generating.
//!
//! Requires node and `tests/oracle/node_modules`; `scripts/test-env.sh` installs them. Their
//! absence fails the test.

#[path = "differential/case.rs"]
mod case;
#[path = "differential/generate.rs"]
mod generate;
#[path = "differential/known.rs"]
mod known;
#[path = "differential/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::io::Write;

use airlock_policy::{Decision, Evaluation};

use case::Case;

const DEFAULT_SEED: u64 = 0xA1B0_C0DE_5EED_0002;
const DEFAULT_CASES: u64 = 10_000;
/// How many mismatches are printed in full (all are written to the mismatch file).
const PRINTED: usize = 8;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim().replace('_', "");
            let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
        }
        Err(_) => default,
    }
}

fn load_cases() -> (Vec<Case>, String) {
    if let Ok(path) = std::env::var("AIRLOCK_DIFF_REPLAY") {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("AIRLOCK_DIFF_REPLAY={path}: {e}"));
        let cases: Vec<Case> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{path}:{}: not a differential case: {e}", i + 1))
            })
            .collect();
        return (cases, format!("replay of {path}"));
    }
    let seed = env_u64("AIRLOCK_DIFF_SEED", DEFAULT_SEED);
    let n = env_u64("AIRLOCK_DIFF_CASES", DEFAULT_CASES);
    let cases = (0..n).map(|i| generate::case(seed, i)).collect();
    (
        cases,
        format!("AIRLOCK_DIFF_SEED={seed:#x} AIRLOCK_DIFF_CASES={n}"),
    )
}

fn word(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::ExplicitDeny => "explicit-deny",
        Decision::ImplicitDeny => "implicit-deny",
    }
}

/// One case that did not pass.
struct Failure {
    case: Case,
    what: String,
    airlock: Option<Evaluation>,
}

#[test]
fn airlock_agrees_with_iam_simulate() {
    if let Err(e) = oracle::require_oracle() {
        panic!("the differential oracle is not available: {e}");
    }
    let (cases, origin) = load_cases();
    eprintln!("differential: {origin} ({} cases)", cases.len());

    let answers = oracle::decide_all(&cases).unwrap_or_else(|e| panic!("oracle failed: {e}"));

    let mut failures: Vec<Failure> = Vec::new();
    let mut agreed = 0u64;
    let mut by_decision: BTreeMap<&str, u64> = BTreeMap::new();
    // class -> (cases in class, of which disagreed)
    let mut known_counts: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();

    for (case, answer) in cases.iter().zip(&answers) {
        let set = match case.policy_set() {
            Ok(set) => set,
            Err(e) => {
                failures.push(Failure {
                    case: case.clone(),
                    what: format!("airlock parse error: {e}"),
                    airlock: None,
                });
                continue;
            }
        };
        let eval = airlock_policy::evaluate(&case.request, &set);
        let class = known::divergence_class(case);
        if let Some(class) = class {
            known_counts.entry(class).or_default().0 += 1;
        }
        if let Some(err) = &answer.error {
            failures.push(Failure {
                case: case.clone(),
                what: format!("iam-simulate rejected the case (a generator bug): {err}"),
                airlock: Some(eval),
            });
            continue;
        }
        if !answer.ignored_context_keys.is_empty() {
            failures.push(Failure {
                case: case.clone(),
                what: format!(
                    "iam-simulate ignored context keys {:?} as not applicable to {} (a generator bug)",
                    answer.ignored_context_keys, case.request.action
                ),
                airlock: Some(eval),
            });
            continue;
        }
        let Some(theirs) = answer.decision else {
            failures.push(Failure {
                case: case.clone(),
                what: "iam-simulate gave neither a decision nor an error".into(),
                airlock: Some(eval),
            });
            continue;
        };
        *by_decision.entry(word(eval.decision)).or_default() += 1;
        if theirs == eval.decision {
            agreed += 1;
            continue;
        }
        if let Some(class) = class {
            known_counts.entry(class).or_default().1 += 1;
            continue;
        }
        failures.push(Failure {
            case: case.clone(),
            what: format!(
                "airlock: {}, iam-simulate: {}",
                word(eval.decision),
                word(theirs)
            ),
            airlock: Some(eval),
        });
    }

    let total = cases.len() as u64;
    let tolerated: u64 = known_counts.values().map(|(_, d)| d).sum();
    eprintln!(
        "differential: {agreed} of {total} cases agree; {tolerated} disagree in known iam-simulate divergence classes; {} failures",
        failures.len()
    );
    eprintln!("differential: airlock decisions {by_decision:?}");
    for (class, (n, d)) in &known_counts {
        eprintln!(
            "differential: known class `{class}`: {n} cases, {d} disagreed (iam-simulate is wrong here, see docs/differences.md)"
        );
    }

    if failures.is_empty() {
        return;
    }
    let out =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-mismatches.jsonl");
    if let Ok(mut f) = std::fs::File::create(&out) {
        for fail in &failures {
            let _ = writeln!(f, "{}", fail.case.to_json_line());
        }
    }
    // The same cases with what went wrong and airlock's explanation, for triage.
    let explained = out.with_extension("explained.jsonl");
    if let Ok(mut f) = std::fs::File::create(&explained) {
        for fail in &failures {
            let line = serde_json::json!({
                "id": fail.case.id,
                "what": fail.what,
                "airlock": fail.airlock.as_ref().map(|e| serde_json::json!({
                    "decision": word(e.decision),
                    "explanation": e.explanation,
                })),
            });
            let _ = writeln!(f, "{line}");
        }
    }
    for fail in failures.iter().take(PRINTED) {
        eprintln!("\n--- case {} — {}", fail.case.id, fail.what);
        eprintln!("{}", fail.case.to_json_line());
        if let Some(eval) = &fail.airlock {
            eprintln!(
                "airlock explanation: {}",
                serde_json::to_string(&eval.explanation).unwrap_or_default()
            );
        }
    }
    panic!(
        "{} of {total} differential cases failed ({origin}); all failing cases are in {} — replay with AIRLOCK_DIFF_REPLAY={} cargo test -p airlock-policy --test differential, and `node tests/oracle/decide.mjs --explain < FILE` for iam-simulate's side",
        failures.len(),
        out.display(),
        out.display()
    );
}

/// The generator is deterministic: a (seed, index) pair is a complete reproducer.
#[test]
fn generator_is_reproducible() {
    for i in [0u64, 1, 77, 9_999] {
        let a = generate::case(DEFAULT_SEED, i).to_json_line();
        let b = generate::case(DEFAULT_SEED, i).to_json_line();
        assert_eq!(a, b, "case {i} differs between two generations");
    }
    assert_ne!(
        generate::case(DEFAULT_SEED, 1).to_json_line(),
        generate::case(DEFAULT_SEED + 1, 1).to_json_line(),
        "the seed does not influence the cases"
    );
}

/// Developer tool: shrinks every case of a mismatch file to a minimal reproducer.
///
/// `AIRLOCK_DIFF_SHRINK=FILE cargo test -p airlock-policy --test differential -- --ignored shrink`
/// repeatedly deletes one JSON element (a policy, a statement, a condition, a list entry, a
/// context key) while airlock and iam-simulate still disagree in the same way, and writes the
/// results to `FILE.min.jsonl`.
#[test]
#[ignore = "manual triage tool; needs AIRLOCK_DIFF_SHRINK"]
fn shrink() {
    use serde_json::Value;
    let Ok(path) = std::env::var("AIRLOCK_DIFF_SHRINK") else {
        panic!("set AIRLOCK_DIFF_SHRINK to a mismatch file");
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut current: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect();

    // (airlock, iam-simulate) decisions of each case, or None when they agree or either errs.
    fn outcomes(cases: &[Value]) -> Vec<Option<(Decision, Decision)>> {
        let parsed: Vec<Option<Case>> = cases
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut v = v.clone();
                v["id"] = Value::from(i as u64);
                serde_json::from_value::<Case>(v).ok()
            })
            .collect();
        let valid: Vec<Case> = parsed.iter().flatten().cloned().collect();
        let answers = oracle::decide_all(&valid).unwrap_or_else(|e| panic!("oracle failed: {e}"));
        let mut by_id = std::collections::HashMap::new();
        for (c, a) in valid.iter().zip(answers) {
            by_id.insert(c.id, (c.clone(), a));
        }
        (0..cases.len() as u64)
            .map(|i| {
                let (case, answer) = by_id.get(&i)?;
                let theirs = answer.decision?;
                if answer.error.is_some() || !answer.ignored_context_keys.is_empty() {
                    return None;
                }
                // Shrinking must not wander into a known iam-simulate divergence.
                if known::divergence_class(case).is_some() {
                    return None;
                }
                let set = case.policy_set().ok()?;
                let ours = airlock_policy::evaluate(&case.request, &set).decision;
                (ours != theirs).then_some((ours, theirs))
            })
            .collect()
    }

    // Every case obtained by deleting one element of `policies` or one context key.
    fn candidates(case: &Value) -> Vec<Value> {
        fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>, keep_one: bool) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        path.push(k.clone());
                        out.push(path.clone());
                        walk(child, path, out, k == "Statement");
                        path.pop();
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        path.push(i.to_string());
                        if !keep_one || a.len() > 1 {
                            out.push(path.clone());
                        }
                        walk(child, path, out, false);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        let mut paths = Vec::new();
        if let Some(p) = case.get("policies") {
            walk(p, &mut vec!["policies".into()], &mut paths, false);
        }
        if let Some(Value::Object(ctx)) = case.get("request").and_then(|r| r.get("context")) {
            for k in ctx.keys() {
                paths.push(vec!["request".into(), "context".into(), k.clone()]);
            }
        }
        paths
            .into_iter()
            .filter_map(|p| {
                let mut c = case.clone();
                let (last, parents) = p.split_last()?;
                let mut node = &mut c;
                for seg in parents {
                    node = match node {
                        Value::Object(m) => m.get_mut(seg)?,
                        Value::Array(a) => a.get_mut(seg.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                match node {
                    Value::Object(m) => {
                        m.remove(last)?;
                    }
                    Value::Array(a) => {
                        let i = last.parse::<usize>().ok()?;
                        if i < a.len() {
                            a.remove(i);
                        }
                    }
                    _ => return None,
                }
                Some(c)
            })
            .collect()
    }

    let mut target = outcomes(&current);
    let mut active: Vec<usize> = (0..current.len())
        .filter(|&i| target[i].is_some())
        .collect();
    let mut round = 0;
    while !active.is_empty() {
        round += 1;
        let mut batch = Vec::new();
        let mut owner = Vec::new();
        for &i in &active {
            for c in candidates(&current[i]) {
                owner.push(i);
                batch.push(c);
            }
        }
        eprintln!(
            "shrink round {round}: {} cases, {} candidates",
            active.len(),
            batch.len()
        );
        let results = outcomes(&batch);
        let mut progressed = std::collections::HashSet::new();
        for ((i, cand), res) in owner.iter().zip(batch).zip(results) {
            if progressed.contains(i) {
                continue;
            }
            if res.is_some() && res == target[*i] {
                current[*i] = cand;
                progressed.insert(*i);
            }
        }
        active.retain(|i| progressed.contains(i));
    }
    let out = format!("{path}.min.jsonl");
    let mut f = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
    for (v, t) in current.iter().zip(target.iter_mut()) {
        let line = serde_json::json!({
            "airlock": t.map(|(a, _)| word(a)),
            "iam_simulate": t.map(|(_, b)| word(b)),
            "case": v,
        });
        let _ = writeln!(f, "{line}");
    }
    eprintln!("shrink: wrote {out}");
}

/// Every known divergence class has a minimal reproducer on which both sides still decide as
/// `docs/differences.md` says. If iam-simulate is fixed (or airlock changes), this fails and the
/// class must be removed or re-examined, so a class can never outlive its reason.
#[test]
fn known_divergence_classes_reproduce() {
    #[derive(serde::Deserialize)]
    struct Reproducer {
        class: String,
        airlock: Decision,
        iam_simulate: Decision,
        case: Case,
    }
    if let Err(e) = oracle::require_oracle() {
        panic!("the differential oracle is not available: {e}");
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/differential/known-reproducers.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let reproducers: Vec<Reproducer> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect();
    for class in known::CLASSES {
        assert!(
            reproducers.iter().any(|r| r.class == *class),
            "known class `{class}` has no reproducer in {path}"
        );
    }
    let cases: Vec<Case> = reproducers.iter().map(|r| r.case.clone()).collect();
    let answers = oracle::decide_all(&cases).unwrap_or_else(|e| panic!("oracle failed: {e}"));
    for (r, answer) in reproducers.iter().zip(&answers) {
        assert_eq!(
            known::divergence_class(&r.case),
            Some(r.class.as_str()),
            "the reproducer of `{}` is not classified as such",
            r.class
        );
        let set = r
            .case
            .policy_set()
            .unwrap_or_else(|e| panic!("reproducer of `{}`: {e}", r.class));
        let ours = airlock_policy::evaluate(&r.case.request, &set).decision;
        assert_eq!(
            ours, r.airlock,
            "airlock's decision on the reproducer of `{}` changed",
            r.class
        );
        assert_eq!(
            answer.decision,
            Some(r.iam_simulate),
            "iam-simulate no longer shows `{}` (answer {:?}): re-examine the class",
            r.class,
            answer
        );
        assert_ne!(
            ours, r.iam_simulate,
            "the reproducer of `{}` does not disagree",
            r.class
        );
    }
}
