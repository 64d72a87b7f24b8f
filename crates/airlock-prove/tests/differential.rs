//! Soundness and replay against the engine on generated setups: for random bucket policies,
//! identity policies and endpoint policies, every counterexample must replay through
//! `airlock_policy::evaluate` with the claimed decision, and whenever a property is proved, no
//! sampled concrete request may break it. `AIRLOCK_DIFF_SETUPS` (default 60) and
//! `AIRLOCK_DIFF_SEED` tune the run.

use airlock_policy::setup::Setup;
use airlock_policy::{
    Context, ContextValue, Decision, NamedPolicy, Policy, PolicyId, PolicyKind, Principal, Request,
    Resource,
};
use airlock_prove::check::{CheckOptions, Checker, Outcome, Property};
use serde_json::{Value, json};
use std::sync::Arc;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

const A: &str = "111111111111";
const B: &str = "222222222222";
const ROLE: &str = "arn:aws:iam::222222222222:role/R";
const USER: &str = "arn:aws:iam::111111111111:user/u";
const BUCKET: &str = "arn:aws:s3:::b";
const VPCE: &str = "vpce-1";

fn condition(r: &mut Rng) -> (String, String, Value) {
    let c: &[(&str, &str, Value)] = &[
        ("StringNotEquals", "aws:SourceVpce", json!(VPCE)),
        ("StringEquals", "aws:SourceVpce", json!(VPCE)),
        ("StringNotEqualsIfExists", "aws:SourceVpce", json!(VPCE)),
        ("Bool", "aws:SecureTransport", json!("false")),
        ("Bool", "aws:SecureTransport", json!("true")),
        ("IpAddress", "aws:SourceIp", json!("10.0.0.0/8")),
        (
            "NotIpAddress",
            "aws:SourceIp",
            json!(["10.0.0.0/8", "2001:db8::/32"]),
        ),
        ("StringLike", "s3:prefix", json!("home/*")),
        ("NumericLessThan", "s3:max-keys", json!("10")),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::111111111111:*"),
        ),
        ("ArnNotEquals", "aws:PrincipalArn", json!(ROLE)),
        (
            "StringEqualsIgnoreCase",
            "aws:PrincipalTag/team",
            json!("Dev"),
        ),
        ("Null", "aws:SourceVpce", json!("true")),
        ("Null", "aws:SourceIp", json!("false")),
        ("ForAnyValue:StringLike", "aws:TagKeys", json!("a*")),
        (
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            json!(["a", "b"]),
        ),
        (
            "DateGreaterThan",
            "aws:CurrentTime",
            json!("2020-01-01T00:00:00Z"),
        ),
        ("StringEquals", "aws:PrincipalAccount", json!(A)),
        ("StringLike", "aws:userid", json!("AROA*:s*")),
        (
            "StringNotLike",
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
            json!("arn:aws:kms:*:222222222222:key/*"),
        ),
        (
            "StringEqualsIfExists",
            "s3:x-amz-server-side-encryption",
            json!("aws:kms"),
        ),
        ("StringLike", "s3:prefix", json!("home/${aws:username}/*")),
        (
            "StringNotLike",
            "s3:prefix",
            json!(["home/${aws:username}/*", "public/*"]),
        ),
        ("ArnLike", "aws:SourceArn", json!("*")),
        ("Bool", "aws:SecureTransport", json!("maybe")),
    ];
    let (o, k, v) = r.pick(c).clone();
    (o.to_string(), k.to_string(), v)
}

fn statement(r: &mut Rng, resource_policy: bool) -> Value {
    let mut st = serde_json::Map::new();
    st.insert(
        "Effect".into(),
        json!(if r.chance(35) { "Deny" } else { "Allow" }),
    );
    if resource_policy {
        let p = r
            .pick(&[
                json!("*"),
                json!({"AWS": format!("arn:aws:iam::{A}:root")}),
                json!({"AWS": ROLE}),
                json!({"AWS": B}),
                json!({"AWS": "arn:aws:iam::333333333333:root"}),
                json!({"Service": "s3.amazonaws.com"}),
            ])
            .clone();
        st.insert(
            if r.chance(10) {
                "NotPrincipal"
            } else {
                "Principal"
            }
            .into(),
            p,
        );
    }
    let acts = r
        .pick(&[
            json!("s3:*"),
            json!("s3:Get*"),
            json!(["s3:GetObject", "s3:PutObject"]),
            json!("s3:ListBucket"),
            json!("s3:Delete*"),
            json!("*"),
        ])
        .clone();
    st.insert(
        if r.chance(15) { "NotAction" } else { "Action" }.into(),
        acts,
    );
    let res = r
        .pick(&[
            json!(BUCKET),
            json!(format!("{BUCKET}/*")),
            json!(format!("{BUCKET}/a*")),
            json!("*"),
            json!([BUCKET, format!("{BUCKET}/*")]),
        ])
        .clone();
    st.insert(
        if r.chance(10) {
            "NotResource"
        } else {
            "Resource"
        }
        .into(),
        res,
    );
    if r.chance(70) {
        let mut cond = serde_json::Map::new();
        for _ in 0..1 + r.below(2) {
            let (op, k, v) = condition(r);
            cond.entry(op)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|m| m.insert(k, v));
        }
        st.insert("Condition".into(), Value::Object(cond));
    }
    Value::Object(st)
}

fn policy(r: &mut Rng, resource: bool) -> Value {
    let n = 1 + r.below(3);
    json!({"Version": "2012-10-17", "Statement": (0..n).map(|_| statement(r, resource)).collect::<Vec<_>>()})
}

fn setup(r: &mut Rng) -> Setup {
    let endpoint_policy = if r.chance(50) {
        Some(policy(r, true))
    } else {
        None
    };
    let mut ep =
        json!({"id": VPCE, "account": A, "vpc": "vpc-1", "service": "com.amazonaws.us-east-1.s3"});
    if let Some(p) = endpoint_policy {
        ep["policy"] = p;
    }
    let doc = json!({
        "accounts": {A: {}, B: {}},
        "principals": [
            {"arn": format!("arn:aws:iam::{A}:root")},
            {"arn": format!("arn:aws:iam::{B}:root")},
            {"arn": USER, "tags": {"team": "dev"}, "policies": {"p": policy(r, false)}},
            {"arn": ROLE, "trust_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"}]},
             "policies": {"p": policy(r, false)}}
        ],
        "resources": [{"arn": BUCKET, "account": B, "policy": policy(r, true)}],
        "endpoints": [ep]
    });
    Setup::from_json(&doc.to_string()).expect("generated setup is valid")
}

fn allow_all() -> NamedPolicy {
    let p = Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Identity,
    )
    .expect("policy");
    NamedPolicy {
        id: PolicyId {
            kind: PolicyKind::Identity,
            name: "assumed".into(),
        },
        policy: Arc::new(p),
    }
}

/// A random concrete request within the prover's request space (it respects the same facts:
/// aws:SecureTransport always set, endpoint keys only without aws:SourceIp, S3 keys only on
/// their actions).
fn request(r: &mut Rng) -> (Request, bool) {
    let session = |acct: &str, name: &str| Principal::RoleSession {
        account: acct.into(),
        role_name: name.into(),
        role_path: "/".into(),
        role_id: "AROAEXAMPLE".into(),
        session_name: r_session(),
        tags: Default::default(),
        source_identity: None,
    };
    fn r_session() -> String {
        "sess".into()
    }
    let (principal, unlisted) = match r.below(8) {
        0 => (session(B, "R"), false),
        1 => (
            Principal::User {
                account: A.into(),
                name: "u".into(),
                path: "/".into(),
                id: "AIDAU".into(),
                tags: [("team".to_string(), "dev".to_string())].into(),
            },
            false,
        ),
        2 => (Principal::Root { account: A.into() }, false),
        3 => (Principal::Root { account: B.into() }, false),
        4 => (session(A, "other"), true),
        5 => (session("444444444444", "x"), true),
        6 => (Principal::Anonymous, false),
        _ => (
            Principal::Service {
                name: "s3.amazonaws.com".into(),
            },
            false,
        ),
    };
    let action = r
        .pick(&[
            "s3:GetObject",
            "s3:PutObject",
            "s3:ListBucket",
            "s3:DeleteObject",
            "s3:DeleteBucket",
            "s3:PutBucketPolicy",
            "s3:GetBucketPolicy",
        ])
        .to_string();
    let object = matches!(
        action.as_str(),
        "s3:GetObject" | "s3:PutObject" | "s3:DeleteObject"
    );
    let arn = if object {
        format!("{BUCKET}/{}", r.pick(&["a1", "home/x", "b"]))
    } else {
        BUCKET.to_string()
    };
    let mut ctx = Context::new().with("aws:SecureTransport", *r.pick(&["true", "false"]));
    if r.chance(50) {
        ctx.insert(
            "aws:SourceVpce",
            ContextValue::Single(r.pick(&[VPCE, "vpce-2"]).to_string()),
        );
    } else if r.chance(70) {
        ctx.insert(
            "aws:SourceIp",
            ContextValue::Single(
                r.pick(&["10.1.2.3", "192.0.2.1", "2001:db8::1"])
                    .to_string(),
            ),
        );
    }
    if action == "s3:ListBucket" && r.chance(50) {
        ctx.insert(
            "s3:prefix",
            ContextValue::Single(r.pick(&["home/a", "x", "home/u/a", "public/p"]).to_string()),
        );
        ctx.insert(
            "s3:max-keys",
            ContextValue::Single(r.pick(&["5", "50"]).to_string()),
        );
    }
    if action == "s3:PutObject" && r.chance(50) {
        ctx.insert(
            "s3:x-amz-server-side-encryption",
            ContextValue::Single(r.pick(&["aws:kms", "AES256"]).to_string()),
        );
        ctx.insert(
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
            ContextValue::Single(
                r.pick(&["arn:aws:kms:us-east-1:222222222222:key/k", "other"])
                    .to_string(),
            ),
        );
    }
    if r.chance(30) {
        ctx.insert(
            "aws:TagKeys",
            ContextValue::Multi(vec![r.pick(&["a", "ab", "c"]).to_string()]),
        );
    }
    if r.chance(50) {
        ctx.insert(
            "aws:CurrentTime",
            ContextValue::Single(
                r.pick(&["2019-06-01T00:00:00Z", "2024-06-01T00:00:00Z"])
                    .to_string(),
            ),
        );
    }
    (
        Request {
            principal,
            action,
            resource: Resource {
                arn,
                account: Some(B.into()),
            },
            context: ctx,
        },
        unlisted,
    )
}

fn breaks(prop: usize, req: &Request) -> bool {
    let get = |k: &str| match req.context.get(k) {
        Some(ContextValue::Single(s)) => Some(s.as_str()),
        _ => None,
    };
    match prop {
        0 => req.action.to_ascii_lowercase().starts_with("s3:delete"),
        1 => get("aws:SecureTransport") == Some("false"),
        2 => get("aws:SourceVpce") != Some(VPCE),
        3 => {
            !matches!(&req.principal, Principal::RoleSession { account, role_name, .. } if account == B && role_name == "R")
        }
        _ => match &req.principal {
            Principal::Anonymous => true,
            p => p.account().is_some_and(|a| a != A && a != B),
        },
    }
}

#[test]
fn proofs_hold_and_counterexamples_replay_on_generated_setups() {
    let n: usize = std::env::var("AIRLOCK_DIFF_SETUPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("AIRLOCK_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let props = [
        "no-actions=s3:Delete*".to_string(),
        "requires-tls".to_string(),
        format!("only-via-vpce={VPCE}"),
        format!("only-principals={ROLE}"),
        "not-public".to_string(),
    ];
    let (mut proved, mut violated, mut unknown, mut sampled) = (0, 0, 0, 0);
    for i in 0..n {
        let mut r = Rng((seed + i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let s = setup(&mut r);
        for (pi, p) in props.iter().enumerate() {
            let mut c = Checker::new(&s, CheckOptions::default());
            let res = c.check(&Property::parse(p).expect("property"));
            match &res.outcome {
                Outcome::Violated {
                    counterexample: Some(cx),
                    ..
                } => {
                    violated += 1;
                    assert_eq!(
                        cx.replayed,
                        Decision::Allow,
                        "setup {i} {p}: {}",
                        cx.summary()
                    );
                    assert!(
                        breaks(pi, &cx.request) || pi == 4,
                        "setup {i} {p}: counterexample does not break it: {}",
                        cx.summary()
                    );
                }
                Outcome::Violated {
                    counterexample: None,
                    ..
                } => violated += 1,
                Outcome::Unknown { reason } => {
                    assert!(!reason.contains("internal"), "setup {i} {p}: {reason}");
                    unknown += 1;
                }
                Outcome::Proved => {
                    proved += 1;
                    for _ in 0..300 {
                        let (req, unlisted) = request(&mut r);
                        let mut set = s.policy_set(&req);
                        if unlisted {
                            set.identity.push(allow_all());
                        }
                        let d = airlock_policy::evaluate(&req, &set).decision;
                        sampled += 1;
                        assert!(
                            !(d == Decision::Allow && breaks(pi, &req)),
                            "UNSOUND: setup {i} ({}) property {p} was proved but this request breaks it: {req:?}",
                            serde_json::to_string(s.document()).unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "differential: {n} setups: {proved} proved ({sampled} sampled requests), {violated} violated, {unknown} unknown"
    );
    assert!(proved > 0 && violated > 0);
}
