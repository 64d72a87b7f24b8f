//! Condition operators, as in the IAM User Guide, "IAM JSON policy elements: Condition
//! operators" (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>)
//! and "Single-valued vs. multivalued context keys"
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>).
//!
//! Semantics of one condition `Operator: {key: [v1, v2, ...]}` (values are ORed):
//! - key absent: `Null` checks absence; `...IfExists` holds; a negated operator
//!   (`StringNotEquals`, `NotIpAddress`, `ArnNotLike`, ...) holds; `ForAllValues:` holds;
//!   everything else fails.
//! - single-valued key, no set qualifier: positive operators hold if the value matches any
//!   policy value, negated operators hold if it matches none.
//! - multi-valued key without a set qualifier: fails (AWS requires `ForAllValues`/`ForAnyValue`
//!   for multi-valued keys; iam-simulate documents the same behaviour, confirmed by AWS).
//! - `ForAnyValue:` holds if at least one request value satisfies the base operator;
//!   `ForAllValues:` holds if every request value does (vacuously for an empty set).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::eval::{Env, Val, has_variable, toks_to_string};
use crate::glob;
use crate::model::{Condition, OperatorKind as O, SetQualifier, Version};
use crate::operand::{base64_decode, parse_cidr, parse_date, parse_number};

/// Evaluates one condition.
pub(crate) fn holds<'a>(c: &'a Condition, version: Version, env: &mut Env<'a>) -> bool {
    let op = c.operator;
    let value = env.lookup(&c.key);
    if op.kind == O::Null {
        let present = value.is_some();
        return c.values.iter().any(|v| {
            if v.eq_ignore_ascii_case("true") {
                !present
            } else if v.eq_ignore_ascii_case("false") {
                present
            } else {
                false
            }
        });
    }
    let Some(value) = value else {
        env.note_missing(&c.key);
        return match op.qualifier {
            _ if op.if_exists => true,
            Some(SetQualifier::ForAllValues) => true,
            Some(SetQualifier::ForAnyValue) => false,
            None => op.kind.is_negated(),
        };
    };
    match (op.qualifier, value) {
        // A single value, with or without a set operator, is tested as it is.
        (_, Val::One(v)) => base(c, version, &v, env),
        (None, Val::Many(_)) => false,
        (Some(SetQualifier::ForAnyValue), Val::Many(vs)) => {
            vs.iter().any(|v| base(c, version, v, env))
        }
        (Some(SetQualifier::ForAllValues), Val::Many(vs)) => {
            vs.iter().all(|v| base(c, version, v, env))
        }
    }
}

/// The base operator on one request value: positive operators hold if any policy value
/// matches, negated ones if none does. A policy value with an unresolvable variable can never
/// be satisfied: it matches nothing, and it is not "not equal" to anything either, so a negated
/// operator with such a value fails (as iam-simulate decides; AWS: "If AWS cannot resolve a
/// variable this might cause the entire statement to be invalid").
fn base<'a>(c: &'a Condition, version: Version, v: &str, env: &mut Env<'a>) -> bool {
    let kind = c.operator.kind;
    let mut unresolved = false;
    for p in &c.values {
        match matches_one(kind, version, p, v, env) {
            Some(true) => return !kind.is_negated(),
            Some(false) => {}
            None => unresolved = true,
        }
    }
    kind.is_negated() && !unresolved
}

/// Whether request value `v` matches policy value `p` under the positive form of `kind`;
/// `None` if `p` has a variable that cannot be resolved.
fn matches_one<'a>(
    kind: O,
    version: Version,
    p: &'a str,
    v: &str,
    env: &mut Env<'a>,
) -> Option<bool> {
    let vars = has_variable(version, p)
        && matches!(
            kind,
            O::StringEquals
                | O::StringNotEquals
                | O::StringEqualsIgnoreCase
                | O::StringNotEqualsIgnoreCase
                | O::StringLike
                | O::StringNotLike
                | O::ArnEquals
                | O::ArnNotEquals
                | O::ArnLike
                | O::ArnNotLike
                | O::Bool
        );
    Some(match kind {
        O::StringEquals | O::StringNotEquals => {
            if vars {
                toks_to_string(&env.expand(p)?) == v
            } else {
                p == v
            }
        }
        O::StringEqualsIgnoreCase | O::StringNotEqualsIgnoreCase => {
            let p: Cow<'_, str> = if vars {
                Cow::Owned(toks_to_string(&env.expand(p)?))
            } else {
                Cow::Borrowed(p)
            };
            eq_ignore_case(&p, v)
        }
        O::StringLike | O::StringNotLike => {
            if vars {
                glob::glob(env.expand(p)?.as_slice(), v.as_bytes(), false)
            } else {
                glob::wild_match(p, v, false)
            }
        }
        O::ArnEquals | O::ArnNotEquals | O::ArnLike | O::ArnNotLike => {
            // "ArnEquals, ArnLike: Case-sensitive matching of the ARN. Each of the six
            // colon-delimited components of the ARN is checked separately and each can include
            // multi-character match wildcards (*) or single-character match wildcards (?)."
            // So a value with fewer than six fields (even `*`) matches nothing here, unlike in
            // `Resource`.
            let six = |s: &str| s.bytes().filter(|&b| b == b':').count() >= 5;
            if !six(p) || !six(v) {
                false
            } else if vars {
                glob::arn_match(env.expand(p)?.as_slice(), v)
            } else {
                glob::arn_match_str(p, v)
            }
        }
        O::NumericEquals | O::NumericNotEquals => num2(p, v, |a, b| a == b),
        O::NumericLessThan => num2(p, v, |a, b| b < a),
        O::NumericLessThanEquals => num2(p, v, |a, b| b <= a),
        O::NumericGreaterThan => num2(p, v, |a, b| b > a),
        O::NumericGreaterThanEquals => num2(p, v, |a, b| b >= a),
        O::DateEquals | O::DateNotEquals => date2(p, v, |a, b| a == b),
        O::DateLessThan => date2(p, v, |a, b| b < a),
        O::DateLessThanEquals => date2(p, v, |a, b| b <= a),
        O::DateGreaterThan => date2(p, v, |a, b| b > a),
        O::DateGreaterThanEquals => date2(p, v, |a, b| b >= a),
        // "true"/"false", ignoring case; anything else is not a boolean and never matches.
        O::Bool => {
            let p = if vars {
                Cow::Owned(toks_to_string(&env.expand(p)?))
            } else {
                Cow::Borrowed(p)
            };
            let is_bool =
                |s: &str| s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false");
            is_bool(&p) && is_bool(v) && p.eq_ignore_ascii_case(v)
        }
        O::BinaryEquals => match (base64_decode(p), base64_decode(v)) {
            (Some(a), Some(b)) => a == b,
            _ => p == v,
        },
        O::IpAddress | O::NotIpAddress => ip_in(p, v),
        // Handled by the caller.
        O::Null => false,
    })
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Compares policy value `p` and request value `v` as numbers (`f(policy, request)`). A value
/// that is not a number never matches.
fn num2(p: &str, v: &str, f: impl Fn(f64, f64) -> bool) -> bool {
    match (parse_number(p), parse_number(v)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    }
}

fn date2(p: &str, v: &str, f: impl Fn(i128, i128) -> bool) -> bool {
    match (parse_date(p), parse_date(v)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    }
}

/// Whether address `v` lies in `p`, a CIDR block or a single address (IPv4 or IPv6).
fn ip_in(p: &str, v: &str) -> bool {
    let Some((net, prefix)) = parse_cidr(p) else {
        return false;
    };
    let Some((addr, _)) = parse_cidr(v) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            (u32::from(n) & mask) == (u32::from(a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            (u128::from(n) & mask) == (u128::from(a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V4(a)) => match n.to_ipv4_mapped() {
            Some(n4) if prefix >= 96 => {
                let prefix = prefix - 96;
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                (u32::from(n4) & mask) == (u32::from(a) & mask)
            }
            _ => false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_date("1"), Some(1000));
        assert_eq!(
            parse_date("2020-02-29T12:00:00.5Z"),
            parse_date("1582977600").map(|x| x + 500)
        );
        assert_eq!(
            parse_date("2020-01-01T01:00:00+01:00"),
            parse_date("2020-01-01T00:00:00Z")
        );
        assert_eq!(parse_date("2019-02-29"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn cidrs() {
        assert!(ip_in("203.0.113.0/24", "203.0.113.7"));
        assert!(!ip_in("203.0.113.0/24", "203.0.114.7"));
        assert!(ip_in("0.0.0.0/0", "1.2.3.4"));
        assert!(ip_in("2001:db8::/32", "2001:db8:1::1"));
        assert!(!ip_in("2001:db8::/32", "2001:db9::1"));
        assert!(ip_in("10.0.0.1", "10.0.0.1"));
        assert!(!ip_in("10.0.0.0/33", "10.0.0.1"));
        assert!(!ip_in("2001:db8::/32", "10.0.0.1"));
    }

    #[test]
    fn base64() {
        assert_eq!(
            base64_decode("QmluYXJ5VmFsdWU="),
            Some(b"BinaryValue".to_vec())
        );
        assert_eq!(
            base64_decode("QmluYXJ5VmFsdWU"),
            Some(b"BinaryValue".to_vec())
        );
        assert_eq!(base64_decode("!!"), None);
    }
}
