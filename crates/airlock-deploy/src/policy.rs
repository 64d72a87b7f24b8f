//! Policies compared by meaning, not by text: AWS hands documents back reformatted (IAM
//! URL-encodes them, a lone action becomes a string, an account id becomes its root ARN).

use serde_json::{Map, Value};

/// Parses a policy document as returned by AWS (IAM returns it URL-encoded).
pub fn parse_live(text: &str) -> Result<Value, String> {
    let trimmed = text.trim_start();
    let decoded = if trimmed.starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|e| format!("policy is not UTF-8 after URL decoding: {e}"))?
            .into_owned()
    };
    serde_json::from_str(&decoded).map_err(|e| format!("policy is not JSON: {e}"))
}

/// The canonical form of a policy: statements as a sorted array, value lists as sorted sets,
/// condition keys lower-cased, scalars as strings, account ids as root ARNs.
pub fn canonical(policy: &Value) -> Value {
    let Value::Object(top) = policy else {
        return policy.clone();
    };
    let mut out = Map::new();
    for (k, v) in top {
        if k == "Statement" {
            let mut stmts: Vec<Value> = match v {
                Value::Array(a) => a.iter().map(canonical_statement).collect(),
                other => vec![canonical_statement(other)],
            };
            stmts.sort_by_key(|s| s.to_string());
            out.insert(k.clone(), Value::Array(stmts));
        } else if k == "Id" {
            // An Id is a label only.
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn canonical_statement(s: &Value) -> Value {
    let Value::Object(m) = s else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(v, false),
            "Principal" | "NotPrincipal" => match v {
                Value::Object(p) => Value::Object(
                    p.iter()
                        .map(|(pk, pv)| (pk.clone(), string_set(pv, pk == "AWS")))
                        .collect(),
                ),
                other => other.clone(),
            },
            "Condition" => match v {
                Value::Object(ops) => Value::Object(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(km) => Value::Object(
                                    km.iter()
                                        .map(|(ck, cv)| {
                                            (ck.to_ascii_lowercase(), string_set(cv, false))
                                        })
                                        .collect(),
                                ),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn string_set(v: &Value, accounts: bool) -> Value {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out: Vec<String> = items
        .into_iter()
        .map(|x| {
            let s = match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if accounts && s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
                format!("arn:aws:iam::{s}:root")
            } else {
                s
            }
        })
        .collect();
    out.sort();
    out.dedup();
    Value::Array(out.into_iter().map(Value::String).collect())
}

/// Whether two policies mean the same.
pub fn same(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// What differs between the desired and the live policy, statement by statement (by `Sid`,
/// else by position), in words.
pub fn differences(desired: &Value, live: &Value) -> Vec<String> {
    let stmts = |p: &Value| -> Vec<Value> {
        match canonical(p).get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    };
    let label = |s: &Value, i: usize| {
        s.get("Sid")
            .and_then(Value::as_str)
            .map(|x| format!("statement `{x}`"))
            .unwrap_or_else(|| format!("statement #{}", i + 1))
    };
    let (d, l) = (stmts(desired), stmts(live));
    let mut out = Vec::new();
    for (i, s) in d.iter().enumerate() {
        if !l.contains(s) {
            let sid = s.get("Sid");
            let counterpart = sid.and_then(|sid| l.iter().find(|x| x.get("Sid") == Some(sid)));
            match counterpart {
                Some(c) => {
                    let keys: Vec<String> = s
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.iter())
                        .filter(|(k, v)| c.get(k.as_str()) != Some(v))
                        .map(|(k, _)| k.clone())
                        .collect();
                    out.push(format!("{} changed ({})", label(s, i), keys.join(", ")));
                }
                None => out.push(format!("{} missing", label(s, i))),
            }
        }
    }
    for (i, s) in l.iter().enumerate() {
        if !d.contains(s) {
            let sid = s.get("Sid");
            if sid.is_none() || !d.iter().any(|x| x.get("Sid") == sid) {
                out.push(format!("{} not in the plan", label(s, i)));
            }
        }
    }
    if out.is_empty() && !same(desired, live) {
        out.push("document differs outside its statements".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reformatted_policies_are_the_same() {
        let a = json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}});
        let b = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root"]},"Action":["s3:GetObject"],"Resource":"*","Condition":{"Bool":{"AWS:SecureTransport":"false"}}}]});
        assert!(same(&a, &b));
        assert!(differences(&a, &b).is_empty());
    }

    #[test]
    fn a_changed_statement_is_named() {
        let a = json!({"Statement":[{"Sid":"S","Effect":"Deny","Action":"s3:*","Resource":"*"}]});
        let b = json!({"Statement":[{"Sid":"S","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"x:y","Resource":"*"}]});
        let d = differences(&a, &b);
        assert_eq!(
            d,
            vec![
                "statement `S` changed (Effect)",
                "statement #1 not in the plan"
            ]
        );
    }

    #[test]
    fn url_encoded_documents_parse() {
        let v = parse_live("%7B%22Version%22%3A%222012-10-17%22%7D").unwrap();
        assert_eq!(v, json!({"Version":"2012-10-17"}));
    }
}
