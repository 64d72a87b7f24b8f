//! Known divergence classes: shapes of case where AWS's documentation shows that iam-simulate
//! decides wrongly. A case in such a class is still evaluated by both sides; a disagreement
//! there is counted and reported under the class name instead of failing the test. Each class
//! is documented, with the AWS passage, in `docs/differences.md` ("Differential testing").
//!
//! A class is a predicate on the case's structure, never on the decisions, so a class cannot
//! hide an unrelated airlock bug in a case that does not have the shape.

use serde_json::Value;

use super::case::Case;

fn is_2012(doc: &Value) -> bool {
    doc.get("Version").and_then(Value::as_str) == Some("2012-10-17")
}

fn all_docs(case: &Case) -> Vec<&Value> {
    let p = &case.policies;
    let mut docs: Vec<&Value> = p.identity.iter().collect();
    docs.extend(p.boundary.iter());
    docs.extend(p.session.iter());
    docs.extend(p.scps.iter().flatten());
    docs.extend(p.rcps.iter().flatten());
    docs.extend(p.resource.iter().map(|r| &r.policy));
    docs.extend(p.endpoint.iter());
    docs
}

/// `${...}` in a policy whose `Version` is not `2012-10-17`: AWS treats it as literal text,
/// iam-simulate substitutes it regardless of the version.
fn variable_in_pre_2012_policy(case: &Case) -> bool {
    all_docs(case)
        .into_iter()
        .any(|d| !is_2012(d) && d.to_string().contains("${"))
}

/// The class of `case`, if it has the shape of a known iam-simulate divergence.
pub fn divergence_class(case: &Case) -> Option<&'static str> {
    if variable_in_pre_2012_policy(case) {
        return Some("policy-variable-in-pre-2012-policy");
    }
    None
}
