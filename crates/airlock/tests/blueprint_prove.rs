//! Each hardening switch fixes the seed flaw it names: with the switch off alone (everything
//! else hardened), the prover finds that flaw again (a claim violated or a finding), and the
//! engine decides the request the switch is about differently.

use airlock_blueprint::{Bindings, Plan};
use airlock_policy::setup::Setup;
use airlock_policy::{Context, Request, Resource};
use airlock_prove::check::{CheckOptions, Checker, Outcome, Property};
use airlock_prove::findings::lint;

const KEY: &str = "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012";
const ROLE: &str = "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";

fn seed_toml() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed.toml"
    ))
    .expect("examples/seed.toml")
}

/// The plan's setup and claims with `switch` off (or fully hardened for `None`).
fn setup(switch: Option<&str>) -> (Setup, Vec<String>) {
    let mut text = seed_toml();
    if let Some(s) = switch {
        let before = text.clone();
        text = text.replace(&format!("# {s} = true"), &format!("{s} = false"));
        assert_ne!(before, text, "{s} is in seed.toml");
    }
    let plan = Plan::from_toml(&text, None).expect("plans");
    let b = Bindings::illustrative(&plan);
    let setup = Setup::from_document(plan.setup_document(&b).expect("resolves")).expect("loads");
    (setup, plan.claims(&b).expect("claims"))
}

/// Checks the claims whose text starts with one of `prefixes`, and the findings.
fn check(setup: &Setup, claims: &[String], prefixes: &[&str]) -> (Vec<bool>, Vec<&'static str>) {
    let props: Vec<Property> = claims
        .iter()
        .filter(|c| prefixes.iter().any(|p| c.starts_with(p)))
        .map(|c| Property::parse(c).expect("claim parses"))
        .collect();
    assert_eq!(props.len(), prefixes.len(), "{prefixes:?} in {claims:?}");
    let mut checker = Checker::new(setup, CheckOptions::default());
    let proved = props
        .iter()
        .map(|p| matches!(checker.check(p).outcome, Outcome::Proved))
        .collect();
    let findings = lint(&mut checker);
    (proved, findings.iter().map(|f| f.id).collect())
}

#[test]
fn each_switch_off_brings_its_flaw_back() {
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "pin_trust_to_principal",
            &["only-principals=arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole"],
            "AL001",
        ),
        ("deny_insecure_transport", &["requires-tls"], "AL003"),
        ("deny_other_kms_keys", &["requires-kms-key"], "AL011"),
        ("least_privilege", &[], "AL005"),
        ("break_glass_admin", &[], "AL004"),
        ("key_policy_without_consumer_grant", &[], "AL002"),
        (
            "deny_data_to_others",
            &["only-principals=arn:aws:iam::222222222222:role/"],
            "",
        ),
    ];
    let (hardened, claims) = setup(None);
    let all: Vec<&str> = cases.iter().flat_map(|c| c.1.iter().copied()).collect();
    let (proved, findings) = check(&hardened, &claims, &all);
    assert!(
        proved.iter().all(|p| *p),
        "hardened proves {all:?}: {proved:?}"
    );
    for (_, _, id) in &cases {
        assert!(!findings.contains(id), "hardened has no {id}: {findings:?}");
    }
    for (switch, props, id) in cases {
        let (s, claims) = setup(Some(switch));
        let (proved, findings) = check(&s, &claims, props);
        assert!(
            proved.iter().all(|p| !*p),
            "{switch} off: {props:?} must be violated: {proved:?}"
        );
        if !id.is_empty() {
            assert!(
                findings.contains(&id),
                "{switch} off: {id} expected, got {findings:?}"
            );
        }
    }
}

#[test]
fn key_via_service_confines_the_role_to_s3() {
    let decide = |setup: &Setup, context: Context| {
        let principal = setup.request_principal(ROLE, "s").expect("principal");
        setup
            .evaluate(&Request {
                principal,
                action: "kms:Decrypt".into(),
                resource: Resource {
                    arn: KEY.into(),
                    account: Some("222222222222".into()),
                },
                context,
            })
            .decision
            .is_allowed()
    };
    let via_s3 = || {
        Context::new()
            .with("kms:ViaService", "s3.us-east-1.amazonaws.com")
            .with("kms:CallerAccount", "222222222222")
    };
    let (hardened, _) = setup(None);
    assert!(decide(&hardened, via_s3()), "through S3: allowed");
    assert!(
        !decide(
            &hardened,
            Context::new().with("kms:CallerAccount", "222222222222")
        ),
        "the role's credentials used directly on KMS: denied"
    );
    let (off, _) = setup(Some("key_via_service"));
    assert!(decide(&off, via_s3()));
    assert!(decide(
        &off,
        Context::new().with("kms:CallerAccount", "222222222222")
    ));
}
