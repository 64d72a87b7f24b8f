//! Known divergence classes: shapes of case where AWS's documentation shows that iam-simulate
//! decides wrongly. A case in such a class is still evaluated by both sides; a disagreement
//! there is counted and reported under the class name instead of failing the test. Each class
//! is documented, with the AWS passage, in `docs/differences.md` ("Differential testing").
//!
//! A class is a predicate on the case's structure, never on the decisions, so a class cannot
//! hide an unrelated airlock bug in a case that does not have the shape.

use airlock_policy::{PolicyKind, Principal};
use serde_json::Value;

use super::case::Case;
use super::generate::{principal_account, principal_arns};

/// Every known class, in the order they are checked (a case is reported under the first).
pub const CLASSES: &[&str] = &[
    "policy-variable-in-pre-2012-policy",
    "epoch-seconds-date-value",
    "cidr-prefix-length-zero",
    "for-any-value-if-exists-on-missing-key",
    "root-bucket-policy-lockout-exemption",
    "session-policy-vs-grant-to-session",
    "not-principal-partial-chain",
    "escape-variable-outside-like-operator",
];

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

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => vec![],
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Every (operator, key, values) of every condition in the case.
fn conditions(case: &Case) -> Vec<(&str, &str, Vec<&str>)> {
    let mut out = Vec::new();
    for doc in all_docs(case) {
        for st in statements(doc) {
            let Some(Value::Object(block)) = st.get("Condition") else {
                continue;
            };
            for (op, keys) in block {
                if let Value::Object(keys) = keys {
                    for (key, values) in keys {
                        out.push((op.as_str(), key.as_str(), strings(values)));
                    }
                }
            }
        }
    }
    out
}

/// `${...}` in a policy whose `Version` is not `2012-10-17`: AWS treats it as literal text,
/// iam-simulate substitutes it regardless of the version.
fn variable_in_pre_2012_policy(case: &Case) -> bool {
    all_docs(case)
        .into_iter()
        .any(|d| !is_2012(d) && d.to_string().contains("${"))
}

/// A `Date*` condition value in epoch seconds: iam-simulate compares it as milliseconds
/// against ISO dates (which it parses to milliseconds).
fn epoch_date_value(case: &Case) -> bool {
    conditions(case).iter().any(|(op, _, values)| {
        op.to_ascii_lowercase().contains("date")
            && values
                .iter()
                .any(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// A `/0` CIDR: iam-simulate's IPv4 mask for a zero prefix is all ones (a 32-bit shift in
/// JavaScript is a shift by 0), so `0.0.0.0/0` matches only `0.0.0.0`.
fn cidr_prefix_zero(case: &Case) -> bool {
    conditions(case).iter().any(|(op, _, values)| {
        op.to_ascii_lowercase().contains("ipaddress") && values.iter().any(|v| v.ends_with("/0"))
    })
}

/// `ForAnyValue:...IfExists`: iam-simulate ignores `IfExists` after a set operator, so a
/// missing key fails the condition instead of satisfying it.
fn for_any_value_if_exists(case: &Case) -> bool {
    conditions(case).iter().any(|(op, _, _)| {
        let op = op.to_ascii_lowercase();
        op.starts_with("foranyvalue:") && op.ends_with("ifexists")
    })
}

/// The bucket owner's root user asking for Get/Put/DeleteBucketPolicy on a bucket with a
/// bucket policy: AWS exempts it from the bucket policy's denies, iam-simulate does not.
fn root_bucket_policy_lockout(case: &Case) -> bool {
    let r = &case.request;
    let Principal::Root { account } = &r.principal else {
        return false;
    };
    let same = r.resource.account.as_deref() == Some(account.as_str());
    let action = r.action.to_ascii_lowercase();
    same && [
        "s3:getbucketpolicy",
        "s3:putbucketpolicy",
        "s3:deletebucketpolicy",
    ]
    .contains(&action.as_str())
        && case
            .policies
            .resource
            .as_ref()
            .is_some_and(|p| p.kind == PolicyKind::Resource)
}

fn aws_principals(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Object(m) => m.get("AWS").map(strings).unwrap_or_default(),
        _ => vec![],
    }
}

/// A role session with a session policy, in the resource's account, where the resource policy
/// has an Allow naming the session itself (its session ARN, or `*`): AWS does not narrow such a
/// grant by the session policy; iam-simulate always requires the session policy to allow.
fn session_policy_vs_grant_to_session(case: &Case) -> bool {
    let r = &case.request;
    let Principal::RoleSession { account, .. } = &r.principal else {
        return false;
    };
    if case.policies.session.is_none() || r.resource.account.as_deref() != Some(account.as_str()) {
        return false;
    }
    let Some(rp) = &case.policies.resource else {
        return false;
    };
    let session_arn = principal_arns(&r.principal).pop().unwrap_or_default();
    statements(&rp.policy).into_iter().any(|st| {
        st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && st.get("Principal").is_some_and(|p| {
                aws_principals(p)
                    .iter()
                    .any(|e| *e == "*" || *e == session_arn)
            })
    })
}

/// A `NotPrincipal` that names some but not all links of the caller's chain (account; then
/// user, or role and session). iam-simulate exempts the caller when any entry matches it; AWS
/// documents that the account, then the role, then the session are checked, so a caller is
/// exempt only when every link is named.
fn not_principal_partial_chain(case: &Case) -> bool {
    let p = &case.request.principal;
    let Some(account) = principal_account(p) else {
        return false;
    };
    let arns = principal_arns(p);
    let is_account = |e: &str| e == account || e == format!("arn:aws:iam::{account}:root");
    let mut docs: Vec<&Value> = case.policies.resource.iter().map(|r| &r.policy).collect();
    docs.extend(case.policies.endpoint.iter());
    for doc in docs {
        for st in statements(doc) {
            let Some(np) = st.get("NotPrincipal") else {
                continue;
            };
            let entries = aws_principals(np);
            if entries.contains(&"*") {
                continue;
            }
            let named = |a: &str| entries.contains(&a);
            let any_named = entries.iter().any(|e| is_account(e)) || arns.iter().any(|a| named(a));
            let chain_named = entries.iter().any(|e| is_account(e))
                && match p {
                    Principal::Root { .. } => true,
                    _ => arns.iter().all(|a| named(a)),
                };
            if any_named != chain_named {
                return true;
            }
        }
    }
    false
}

/// `${*}`, `${?}` or `${$}` in a condition value of an operator without wildcards
/// (`StringEquals`, `ArnEquals`, ...): AWS substitutes the character, iam-simulate compares the
/// escape text literally.
fn escape_outside_like(case: &Case) -> bool {
    conditions(case).iter().any(|(op, _, values)| {
        !op.to_ascii_lowercase().contains("like")
            && values
                .iter()
                .any(|v| v.contains("${*}") || v.contains("${?}") || v.contains("${$}"))
    })
}

/// The class of `case`, if it has the shape of a known iam-simulate divergence.
pub fn divergence_class(case: &Case) -> Option<&'static str> {
    type Check = (&'static str, fn(&Case) -> bool);
    let checks: [Check; 8] = [
        (CLASSES[0], variable_in_pre_2012_policy),
        (CLASSES[1], epoch_date_value),
        (CLASSES[2], cidr_prefix_zero),
        (CLASSES[3], for_any_value_if_exists),
        (CLASSES[4], root_bucket_policy_lockout),
        (CLASSES[5], session_policy_vs_grant_to_session),
        (CLASSES[6], not_principal_partial_chain),
        (CLASSES[7], escape_outside_like),
    ];
    checks.iter().find(|(_, f)| f(case)).map(|(name, _)| *name)
}
