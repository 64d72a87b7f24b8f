//! The prover's condition languages against the engine, value by value: for each operator,
//! policy value and request value, membership in the prover's language must equal the engine's
//! verdict on a one-statement policy.

use std::sync::Arc;

use airlock_policy::OperatorKind as O;
use airlock_policy::{
    Context, Decision, NamedPolicy, Policy, PolicyId, PolicyKind, PolicySet, Principal, Request,
    Resource,
};
use airlock_prove::encode::{PTok, cidr_set, string_op_lang};
use airlock_prove::lang::Re;

fn engine(op: &str, pv: &str, rv: &str) -> bool {
    let doc = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {op: {"k:k": pv}}}]});
    let p = Policy::parse(&doc.to_string(), PolicyKind::Identity).expect("policy");
    let set = PolicySet {
        identity: vec![NamedPolicy {
            id: PolicyId {
                kind: PolicyKind::Identity,
                name: "p".into(),
            },
            policy: Arc::new(p),
        }],
        ..Default::default()
    };
    let req = Request {
        principal: Principal::User {
            account: "111111111111".into(),
            name: "u".into(),
            path: "/".into(),
            id: "AIDA".into(),
            tags: Default::default(),
        },
        action: "s3:GetObject".into(),
        resource: Resource {
            arn: "arn:aws:s3:::b/k".into(),
            account: Some("111111111111".into()),
        },
        context: Context::new().with("k:k", rv),
    };
    airlock_policy::evaluate(&req, &set).decision == Decision::Allow
}

fn toks(s: &str) -> Vec<PTok> {
    s.chars()
        .map(|c| match c {
            '*' => PTok::Star,
            '?' => PTok::One,
            c => PTok::Lit(c),
        })
        .collect()
}

#[test]
fn string_languages_agree_with_the_engine() {
    let values = [
        "",
        "a",
        "A",
        "dev",
        "Dev",
        "DEV",
        "\u{212A}",
        "k",
        "K",
        "true",
        "TRUE",
        "True ",
        "x*y",
        "xay",
        "é",
        "É",
        "QmluYXJ5VmFsdWU=",
        "QmluYXJ5VmFsdWU",
        "QmluYXJ5VmFsdWV",
        "QmluYXJ5VmFsdWZ",
        "QmluYXJ5VmFsdWU==",
        "!!",
        "arn:aws:s3:::b/x",
        "arn:aws:s3:::b",
        "arn:aws:iam::1:role/a:b",
        "arn:aws:iam::1:role/a",
    ];
    let patterns = [
        "dev",
        "k",
        "é",
        "true",
        "x*y",
        "x?y",
        "*",
        "",
        "QmluYXJ5VmFsdWU=",
        "!!",
        "arn:aws:s3:::b/*",
        "arn:aws:iam::*:role/*",
        "arn:*:iam::1:role/a",
    ];
    let mut n = 0;
    for p in patterns {
        let l = |k: O| string_op_lang(k, p, &toks(p)).expect("string operator");
        let langs: [(&str, Re); 8] = [
            ("StringEquals", l(O::StringEquals)),
            ("StringEqualsIgnoreCase", l(O::StringEqualsIgnoreCase)),
            ("StringLike", l(O::StringLike)),
            ("Bool", l(O::Bool)),
            ("BinaryEquals", l(O::BinaryEquals)),
            ("ArnLike", l(O::ArnLike)),
            ("ArnEquals", l(O::ArnEquals)),
            ("StringNotLike", l(O::StringNotLike).not()),
        ];
        for (op, l) in &langs {
            for v in values {
                assert_eq!(l.matches(v), engine(op, p, v), "{op} {p:?} on {v:?}");
                n += 1;
            }
        }
    }
    assert!(n > 500);
}

#[test]
fn ip_sets_agree_with_the_engine() {
    let nets = [
        "10.0.0.0/8",
        "10.0.0.1",
        "::ffff:10.0.0.0/104",
        "2001:db8::/32",
        "0.0.0.0/0",
        "::/0",
        "10.0.0.0/33",
        "bogus",
    ];
    let addrs = [
        "10.1.2.3",
        "11.0.0.1",
        "2001:db8::1",
        "::ffff:10.1.2.3",
        "10.0.0.1/32",
        "x",
        "",
    ];
    for n in nets {
        let set = cidr_set(n);
        for a in addrs {
            let ours = match a
                .split('/')
                .next()
                .unwrap_or("")
                .parse::<std::net::IpAddr>()
            {
                Ok(std::net::IpAddr::V4(x)) => {
                    set.contains(airlock_prove::sets::Family::V4, u32::from(x) as u128)
                }
                Ok(std::net::IpAddr::V6(x)) => {
                    set.contains(airlock_prove::sets::Family::V6, u128::from(x))
                }
                Err(_) => false,
            };
            assert_eq!(ours, engine("IpAddress", n, a), "IpAddress {n} on {a}");
        }
    }
}
