//! Comparing two setups on every request (equivalent, more, less, incomparable, with witnesses),
//! and `no-new-access`: a policy change that grants nothing new.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use airlock_policy::setup::{Setup, SetupDocument};
use airlock_policy::{Decision, Policy, PolicyKind};
use serde::Serialize;
use serde_json::Value;

use crate::check::counterexample;
use crate::encode::{Fam, Query, key_families};
use crate::logic::Formula;
use crate::solver::{Sat, Solver};
use crate::space::{Universe, all_policies};

/// How two setups relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Same decision on every request.
    Equivalent,
    /// The first allows everything the second does, and more.
    More,
    /// The second allows everything the first does, and more.
    Less,
    /// Each allows something the other does not.
    Incomparable,
    /// Not decided for some requests.
    Unknown,
}

/// A request one setup allows and the other does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Witness {
    /// Caller class.
    pub caller_class: String,
    /// The request.
    pub request: airlock_policy::Request,
    /// For callers the setups do not list: the identity policy assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed_identity_policy: Option<Value>,
    /// The engine's decision under the first setup.
    pub first: Decision,
    /// The engine's decision under the second setup.
    pub second: Decision,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The verdict.
    pub verdict: Verdict,
    /// Requests only the first setup allows (one per resource at most).
    pub only_first: Vec<Witness>,
    /// Requests only the second setup allows.
    pub only_second: Vec<Witness>,
    /// Caller/resource pairs that could not be decided, with the reason.
    pub unknown: Vec<String>,
    /// Milliseconds.
    pub millis: f64,
}

impl Comparison {
    /// Human form.
    pub fn to_text(&self, first: &str, second: &str) -> String {
        let mut out = format!(
            "{first} vs {second}: {}\n",
            match self.verdict {
                Verdict::Equivalent => "equivalent (same decision on every request)".to_string(),
                Verdict::More => format!("{first} allows more"),
                Verdict::Less => format!("{first} allows less"),
                Verdict::Incomparable =>
                    "incomparable (each allows something the other does not)".to_string(),
                Verdict::Unknown => "unknown".to_string(),
            }
        );
        for (label, ws) in [(first, &self.only_first), (second, &self.only_second)] {
            for w in ws {
                out.push_str(&format!(
                    "  only {label} allows: {} {} {} [{}] ({:?} vs {:?})\n",
                    w.caller_class,
                    w.request.action,
                    w.request.resource.arn,
                    w.request
                        .context
                        .iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    w.first,
                    w.second
                ));
            }
        }
        for u in &self.unknown {
            out.push_str(&format!("  unknown: {u}\n"));
        }
        out.push_str(&format!("{:.1} ms\n", self.millis));
        out
    }
}

fn replay_in(setup: &Setup, w: &crate::check::Counterexample) -> Decision {
    crate::check::replay(setup, &w.request, w.assumed_identity_policy.as_ref())
}

/// Compares two setups on every request of their common callers and resources; callers and
/// resources that only one setup has are compared against that setup's "other" classes.
pub fn compare_setups(a: &Setup, b: &Setup) -> Comparison {
    let start = Instant::now();
    let ua = Universe::new(a);
    let ub = Universe::new(b);
    let mut fams: BTreeMap<String, BTreeSet<Fam>> =
        key_families(all_policies(a).iter().map(|p| &*p.policy));
    for (k, v) in key_families(all_policies(b).iter().map(|p| &*p.policy)) {
        fams.entry(k).or_default().extend(v);
    }
    let mut only_first = Vec::new();
    let mut only_second = Vec::new();
    let mut unknown = Vec::new();
    let tkey = |u: &Universe<'_>, t: usize| (u.targets[t].kind, u.targets[t].arn.clone());
    let all_t: BTreeSet<(crate::catalog::ResourceType, String)> = (0..ua.targets.len())
        .map(|t| tkey(&ua, t))
        .chain((0..ub.targets.len()).map(|t| tkey(&ub, t)))
        .collect();
    for tk in all_t {
        let ta = (0..ua.targets.len()).find(|&t| tkey(&ua, t) == tk);
        let tb = (0..ub.targets.len()).find(|&t| tkey(&ub, t) == tk);
        let labels: BTreeSet<String> = ua
            .classes
            .iter()
            .map(|c| c.label.clone())
            .chain(ub.classes.iter().map(|c| c.label.clone()))
            .collect();
        let mut found_first = false;
        let mut found_second = false;
        for label in labels {
            let ca = ua.classes.iter().position(|c| c.label == label);
            let cb = ub.classes.iter().position(|c| c.label == label);
            // a side that lacks the resource or the caller decides nothing: implicit deny
            let (base_u, bc, bt, other) = match (ca.zip(ta), cb.zip(tb)) {
                (Some((c, t)), o) => (&ua, c, t, o.map(|(c, t)| (&ub, c, t))),
                (None, Some((c, t))) => (&ub, c, t, None),
                (None, None) => continue,
            };
            let first_is_base = ca.zip(ta).is_some();
            let mut q = match Query::new(base_u, bc, bt, &fams) {
                Ok(q) => q,
                Err(e) => {
                    unknown.push(format!("{label} on {}: {e}", tk.1));
                    continue;
                }
            };
            let d_base = match q.decision(None) {
                Ok(d) => d.allow,
                Err(e) => {
                    unknown.push(format!("{label} on {}: {e}", tk.1));
                    continue;
                }
            };
            let d_other = match other {
                Some((u2, c2, t2)) => {
                    if let Err(e) = q.rebind(u2, c2, t2) {
                        unknown.push(format!("{label} on {}: {e}", tk.1));
                        continue;
                    }
                    match q.decision(None) {
                        Ok(d) => d.allow,
                        Err(e) => {
                            unknown.push(format!("{label} on {}: {e}", tk.1));
                            continue;
                        }
                    }
                }
                None => Formula::f(),
            };
            let (fa, fb) = if first_is_base {
                (d_base, d_other)
            } else {
                (d_other, d_base)
            };
            let ax = q.axioms();
            for (want_first, f) in [
                (
                    true,
                    Formula::and([fa.clone(), fb.clone().not(), ax.clone()]),
                ),
                (false, Formula::and([fb, fa.not(), ax])),
            ] {
                if (want_first && found_first) || (!want_first && found_second) || f == Formula::f()
                {
                    continue;
                }
                let mut s = Solver::new(&q.p);
                match s.solve(&f) {
                    Ok(Sat::Sat(m)) => {
                        let cx = counterexample(&q, &m, Decision::Allow);
                        let w = Witness {
                            caller_class: label.clone(),
                            first: replay_in(a, &cx),
                            second: replay_in(b, &cx),
                            request: cx.request,
                            assumed_identity_policy: cx.assumed_identity_policy,
                        };
                        if want_first {
                            found_first = true;
                            only_first.push(w);
                        } else {
                            found_second = true;
                            only_second.push(w);
                        }
                    }
                    Ok(Sat::Unsat) => {}
                    Err(e) => unknown.push(format!("{label} on {}: {e}", tk.1)),
                }
            }
        }
    }
    let verdict = match (
        only_first.is_empty(),
        only_second.is_empty(),
        unknown.is_empty(),
    ) {
        (_, _, false) if only_first.is_empty() || only_second.is_empty() => Verdict::Unknown,
        (true, true, _) => Verdict::Equivalent,
        (false, true, _) => Verdict::More,
        (true, false, _) => Verdict::Less,
        (false, false, _) => Verdict::Incomparable,
    };
    Comparison {
        verdict,
        only_first,
        only_second,
        unknown,
        millis: start.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The result of `no-new-access`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoNewAccess {
    /// Where the old policy was replaced (setup document paths).
    pub replaced_at: Vec<String>,
    /// Requests the new policy allows that the old did not.
    pub new_access: Vec<Witness>,
    /// Requests the new policy no longer allows (informational).
    pub removed_access: Vec<Witness>,
    /// Undecided pairs.
    pub unknown: Vec<String>,
}

impl NoNewAccess {
    /// Human form.
    pub fn to_text(&self, old: &str, new: &str) -> String {
        let mut out = format!(
            "no-new-access {old} -> {new} (replaced at {}): ",
            self.replaced_at.join(", ")
        );
        if self.new_access.is_empty() && self.unknown.is_empty() {
            out.push_str("proved: the new policy grants nothing the old one does not\n");
        } else if self.new_access.is_empty() {
            out.push_str("unknown\n");
        } else {
            out.push_str("VIOLATED\n");
        }
        for w in &self.new_access {
            out.push_str(&format!(
                "  newly allowed: {} {} {} ({:?} -> {:?})\n",
                w.caller_class, w.request.action, w.request.resource.arn, w.first, w.second
            ));
        }
        for w in &self.removed_access {
            out.push_str(&format!(
                "  no longer allowed: {} {} {}\n",
                w.caller_class, w.request.action, w.request.resource.arn
            ));
        }
        for u in &self.unknown {
            out.push_str(&format!("  unknown: {u}\n"));
        }
        out
    }
}

/// A bad `no-new-access` input.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// A policy did not parse.
    #[error("{which} policy: {source}")]
    Policy {
        /// `old` or `new`.
        which: &'static str,
        /// The parse error.
        #[source]
        source: airlock_policy::ParseError,
    },
    /// The old policy is not used by the setup.
    #[error(
        "the old policy is not a policy of the setup (no identity, trust, resource, endpoint or organization policy equals it)"
    )]
    NotFound,
    /// The changed setup does not load.
    #[error("the setup with the new policy is invalid: {0}")]
    Setup(#[from] airlock_policy::setup::SetupError),
    /// JSON.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

fn replace_in(v: &mut Value, old: &Policy, new: &Value, path: &str, hits: &mut Vec<String>) {
    if let Value::Object(m) = v
        && m.contains_key("Statement")
    {
        let text = v.to_string();
        for kind in [
            PolicyKind::Identity,
            PolicyKind::Resource,
            PolicyKind::Trust,
            PolicyKind::Key,
            PolicyKind::Endpoint,
            PolicyKind::ServiceControl,
        ] {
            if Policy::parse(&text, kind).ok().as_ref() == Some(old) {
                *v = new.clone();
                hits.push(path.to_string());
                return;
            }
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                replace_in(x, old, new, &format!("{path}.{k}"), hits);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                replace_in(x, old, new, &format!("{path}[{i}]"), hits);
            }
        }
        _ => {}
    }
}

/// Replaces every occurrence of policy `old` in the setup by `new` and proves that the changed
/// setup allows nothing the original does not.
pub fn no_new_access(setup: &Setup, old: &str, new: &str) -> Result<NoNewAccess, ChangeError> {
    let parse_any = |t: &str, which: &'static str| {
        let mut last = None;
        for kind in [
            PolicyKind::Identity,
            PolicyKind::Resource,
            PolicyKind::Trust,
            PolicyKind::Key,
        ] {
            match Policy::parse(t, kind) {
                Ok(p) => return Ok(p),
                Err(e) => last = Some(e),
            }
        }
        Err(ChangeError::Policy {
            which,
            source: last.expect("at least one kind tried"),
        })
    };
    let old_p = parse_any(old, "old")?;
    let _ = parse_any(new, "new")?;
    let new_v: Value = serde_json::from_str(new)?;
    let mut doc: Value = serde_json::to_value(setup.document())?;
    let mut hits = Vec::new();
    replace_in(&mut doc, &old_p, &new_v, "$", &mut hits);
    if hits.is_empty() {
        return Err(ChangeError::NotFound);
    }
    let doc: SetupDocument = serde_json::from_value(doc)?;
    let changed = Setup::from_document(doc)?;
    let c = compare_setups(setup, &changed);
    Ok(NoNewAccess {
        replaced_at: hits,
        new_access: c.only_second,
        removed_access: c.only_first,
        unknown: c.unknown,
    })
}
