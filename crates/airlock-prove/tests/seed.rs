//! The prover on the seed's literal setup (`examples/seed-as-written.json`) and on the same setup
//! with the fixes of aws-semantics.md section 5 (`tests/fixtures/seed-hardened.json`): which
//! claims hold, which fail with which counterexample, and which findings are reported. Every
//! counterexample must replay through `airlock_policy::evaluate` with the claimed decision.

use airlock_policy::setup::Setup;
use airlock_policy::{Decision, Principal};
use airlock_prove::check::{CheckOptions, Checker, Outcome, Property};
use airlock_prove::findings::Severity;
use airlock_prove::report::{Report, run};

const ROLE: &str = "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";
const EC2: &str = "arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole";
const BUCKET: &str = "arn:aws:s3:::cross-account-secure-bucket-demo";
const KEY: &str = "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012";
const VPCE: &str = "vpce-0a1b2c3d4e5f6g7h8";

fn load(rel: &str) -> Setup {
    let text = std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR")))
        .expect("setup file");
    Setup::from_json(&text).expect("valid setup")
}
fn seed() -> Setup {
    load("../../examples/seed-as-written.json")
}
fn hardened() -> Setup {
    load("tests/fixtures/seed-hardened.json")
}

fn check(setup: &Setup, p: &str) -> Outcome {
    let mut c = Checker::new(setup, CheckOptions::default());
    let r = c.check(&Property::parse(p).expect("property parses"));
    if let Outcome::Violated {
        counterexample: Some(cx),
        ..
    } = &r.outcome
    {
        assert_eq!(
            cx.replayed,
            cx.decision,
            "replay disagrees: {}",
            cx.summary()
        );
        assert_eq!(
            airlock_prove::check::replay(setup, &cx.request, cx.assumed_identity_policy.as_ref()),
            Decision::Allow
        );
    }
    r.outcome
}

fn violated(o: &Outcome) -> &airlock_prove::check::Counterexample {
    match o {
        Outcome::Violated {
            counterexample: Some(cx),
            ..
        } => cx,
        other => panic!("expected a violation with a counterexample, got {other:?}"),
    }
}

fn ctx(cx: &airlock_prove::check::Counterexample, key: &str) -> Option<String> {
    match cx.request.context.get(key) {
        Some(airlock_policy::ContextValue::Single(s)) => Some(s.clone()),
        _ => None,
    }
}

#[test]
fn seed_claims_that_hold_are_proved() {
    let s = seed();
    assert_eq!(check(&s, "not-public"), Outcome::Proved);
    assert_eq!(
        check(
            &s,
            &format!(
                "only-via-vpce={VPCE};resources={BUCKET};actions=s3:GetObject*,s3:PutObject*,s3:List*,s3:DeleteObject*"
            )
        ),
        Outcome::Proved
    );
    assert_eq!(
        check(
            &s,
            &format!("no-actions=s3:Delete*,s3:PutBucketPolicy;principals={ROLE}")
        ),
        Outcome::Proved
    );
    // the EC2 instance role itself reads nothing: Test 2 of the checklist
    assert_eq!(
        check(&s, &format!("no-actions=s3:*;principals={EC2}")),
        Outcome::Proved
    );
}

#[test]
fn seed_flaws_are_violations_with_counterexamples() {
    let s = seed();
    // no TLS deny
    let o = check(&s, &format!("requires-tls;resources={BUCKET}"));
    assert_eq!(
        ctx(violated(&o), "aws:SecureTransport").as_deref(),
        Some("false")
    );
    // no deny of PUTs naming another key
    let o = check(&s, &format!("requires-kms-key={KEY}"));
    let cx = violated(&o);
    assert_eq!(cx.request.action, "s3:PutObject");
    // the trust admits any principal of account A with sts:AssumeRole, not only the EC2 role
    let o = check(
        &s,
        &format!("only-principals={EC2};resources={ROLE};actions=sts:AssumeRole"),
    );
    let cx = violated(&o);
    assert_eq!(cx.request.principal.account(), Some("111111111111"));
    assert_ne!(cx.request.principal.principal_arn().as_deref(), Some(EC2));
    // the bucket owner's root manages the bucket policy from outside the endpoint
    let o = check(&s, &format!("only-via-vpce={VPCE};resources={BUCKET}"));
    let cx = violated(&o);
    assert!(matches!(cx.request.principal, Principal::Root { .. }));
    assert!(cx.request.action.ends_with("BucketPolicy"));
    assert_eq!(ctx(cx, "aws:SourceVpce"), None);
    // account A can decrypt with the key directly, though only the B role uses it
    let o = check(
        &s,
        &format!(
            "only-principals={ROLE},arn:aws:iam::222222222222:user/admin,arn:aws:iam::222222222222:root;resources={KEY};actions=kms:Decrypt"
        ),
    );
    assert_eq!(
        violated(&o).request.principal.account(),
        Some("111111111111")
    );
}

fn ids(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.id).collect()
}

#[test]
fn seed_findings_cover_section_5() {
    let s = seed();
    let r = run(&s, "seed-as-written.json", &[], true);
    let ids = ids(&r);
    for id in [
        "AL001", "AL002", "AL003", "AL004", "AL005", "AL011", "AL012",
    ] {
        assert!(ids.contains(&id), "missing {id} in {ids:?}");
    }
    assert_eq!(
        ids.iter().filter(|i| **i == "AL005").count(),
        2,
        "both mixed statements"
    );
    for f in &r.findings {
        if let Some(cx) = &f.counterexample {
            assert_eq!(cx.replayed, cx.decision, "{}: {}", f.id, cx.summary());
        }
    }
    let al004 = r
        .findings
        .iter()
        .find(|f| f.id == "AL004")
        .expect("lockout finding");
    assert_eq!(
        al004.location.as_ref().and_then(|l| l.sid.as_deref()),
        Some("DenyAllExceptVPCEndpoint")
    );
    assert_eq!(
        al004.counterexample.as_ref().map(|c| c.decision),
        Some(Decision::ExplicitDeny)
    );
    let al002 = r
        .findings
        .iter()
        .find(|f| f.id == "AL002")
        .expect("key finding");
    assert_eq!(
        al002.location.as_ref().and_then(|l| l.sid.as_deref()),
        Some("Allow Account A to use the key")
    );
    assert!(r.failed(Severity::Warning));
    // SARIF
    let sarif = r.to_sarif(None);
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(results.len() >= r.findings.len());
    assert!(results.iter().any(|x| x["ruleId"] == "AL001"));
}

#[test]
fn hardened_seed_proves_the_fixed_claims() {
    let h = hardened();
    assert_eq!(check(&h, "not-public"), Outcome::Proved);
    assert_eq!(
        check(&h, &format!("requires-kms-key={KEY}")),
        Outcome::Proved
    );
    assert_eq!(
        check(
            &h,
            &format!("only-principals={EC2};resources={ROLE};actions=sts:AssumeRole")
        ),
        Outcome::Proved
    );
    assert_eq!(
        check(
            &h,
            &format!(
                "requires-tls;resources={BUCKET};actions=s3:GetObject*,s3:PutObject*,s3:List*"
            )
        ),
        Outcome::Proved
    );
    assert_eq!(
        check(
            &h,
            &format!(
                "only-via-vpce={VPCE};resources={BUCKET};actions=s3:GetObject*,s3:PutObject*,s3:List*,s3:DeleteObject*"
            )
        ),
        Outcome::Proved
    );
    let r = run(&h, "seed-hardened.json", &[], true);
    let ids = ids(&r);
    for id in ["AL001", "AL002", "AL003", "AL004", "AL005", "AL011"] {
        assert!(!ids.contains(&id), "{id} should be fixed, got {ids:?}");
    }
}

#[test]
fn federated_trust_is_public() {
    let doc = serde_json::json!({
        "accounts": {"222222222222": {}},
        "principals": [{
            "arn": "arn:aws:iam::222222222222:role/WebRole",
            "trust_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                "Action": "sts:AssumeRoleWithWebIdentity"}]}
        }]
    });
    let s = Setup::from_json(&doc.to_string()).expect("setup");
    let o = check(&s, "not-public");
    let cx = violated(&o);
    assert_eq!(
        cx.request.principal,
        Principal::Federated {
            provider: "cognito-identity.amazonaws.com".into()
        }
    );
    // with the audience pinned it is still reachable by every identity of the pool: the prover
    // says so; pinning to one account's principals instead proves it
    let doc2 = serde_json::json!({
        "accounts": {"222222222222": {}},
        "principals": [{
            "arn": "arn:aws:iam::222222222222:role/WebRole",
            "trust_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "sts:AssumeRole"}]}
        }]
    });
    let s2 = Setup::from_json(&doc2.to_string()).expect("setup");
    assert_eq!(check(&s2, "not-public"), Outcome::Proved);
}

#[test]
fn lints_on_a_crafted_setup() {
    let key = "arn:aws:kms:us-east-1:222222222222:key/k";
    let doc = serde_json::json!({
        "accounts": {"222222222222": {}},
        "resources": [
            {"arn": key, "policy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "S3Only", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                 "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "aws:SourceVpce": "vpce-1"}}}
            ]}},
            {"arn": "arn:aws:s3:::open", "account": "222222222222", "policy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::open/*"},
                {"Sid": "AllButOne", "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::open"},
                {"Sid": "Typos", "Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "s3:GetObjects", "Resource": "arn:aws:s3:::open/*",
                 "Condition": {"StringEquals": {"aws:SourceVpcee": "vpce-1"}}},
                {"Sid": "WrongService", "Effect": "Allow", "Principal": {"AWS": "222222222222"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::open/*",
                 "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
            ]}}
        ]
    });
    let s = Setup::from_json(&doc.to_string()).expect("setup");
    let r = run(&s, "crafted.json", &[], true);
    let has = |id: &str, sid: &str| {
        r.findings
            .iter()
            .any(|f| f.id == id && f.location.as_ref().and_then(|l| l.sid.as_deref()) == Some(sid))
    };
    assert!(has("AL006", "Everyone"), "{:#?}", r.findings);
    assert!(has("AL007", "AllButOne"));
    assert!(has("AL009", "Typos"));
    assert!(has("AL010", "Typos"));
    assert!(
        has("AL008", "S3Only"),
        "aws:SourceVpce is never on S3-made KMS calls"
    );
    assert!(
        has("AL008", "WrongService"),
        "kms:ViaService is never on S3 requests"
    );
    // and the bucket is public, with a replayed counterexample
    let o = check(&s, "not-public");
    assert!(matches!(
        violated(&o).request.principal,
        Principal::Anonymous
            | Principal::User { .. }
            | Principal::RoleSession { .. }
            | Principal::Root { .. }
    ));
}

/// Counterexamples read as examples: where the solver may pick any value it picks a placeholder
/// (`example-session`, `example-object.txt`, `999999999999`, `vpce-000…`, `203.0.113.1`) rather
/// than the shortest string, never a control character, and still replays to its decision.
#[test]
fn seed_counterexamples_use_readable_placeholders() {
    let s = seed();
    let r = run(&s, "seed-as-written.json", &[], true);
    let mut cxs: Vec<&airlock_prove::check::Counterexample> = r
        .properties
        .iter()
        .filter_map(|p| match &p.outcome {
            Outcome::Violated {
                counterexample: Some(cx),
                ..
            } => Some(&**cx),
            _ => None,
        })
        .collect();
    cxs.extend(
        r.findings
            .iter()
            .filter_map(|f| f.counterexample.as_deref()),
    );
    assert!(!cxs.is_empty());
    let mut texts = Vec::new();
    for cx in &cxs {
        assert_eq!(cx.replayed, cx.decision, "{}", cx.summary());
        let text = serde_json::to_string(&cx.request).expect("request serializes");
        let decoded: serde_json::Value = serde_json::from_str(&text).expect("json");
        let flat = decoded.to_string();
        assert!(
            !flat.contains("\\u00") && !flat.chars().any(char::is_control),
            "control character in {flat}"
        );
        if let Principal::RoleSession { session_name, .. } = &cx.request.principal {
            assert_eq!(session_name, "example-session", "{flat}");
        }
        texts.push(flat);
    }
    let all = texts.join("\n");
    assert!(all.contains("/example-object.txt\""), "{all}");
    assert!(!all.contains("\"a\""), "a one-letter witness in {all}");

    // a caller the setup does not list: its name, path and id are placeholders too
    let open = std::fs::read_to_string(format!(
        "{}/../../examples/seed-as-written.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("seed")
    .replace(
        "\"AWS\": \"arn:aws:iam::222222222222:role/CrossAccountS3AccessRole\"\n            },\n            \"Action\": [\n              \"s3:GetObject\",",
        "\"AWS\": \"*\"\n            },\n            \"Action\": [\n              \"s3:GetObject\",",
    );
    let open = Setup::from_json(&open).expect("valid setup");
    let known: Vec<String> = open.principals().iter().map(|p| p.arn.clone()).collect();
    let o = check(
        &open,
        &format!("only-principals={};resources={BUCKET}/*", known.join(",")),
    );
    let cx = violated(&o);
    let flat = serde_json::to_string(&cx.request).expect("json");
    assert!(!flat.chars().any(char::is_control), "{flat}");
    assert!(flat.contains("\"someone\""), "{flat}");
    assert!(flat.contains("EXAMPLE"), "{flat}");
}
