//! The prover on the seed's literal setup (`examples/seed-as-written.json`).

use airlock_policy::Decision;
use airlock_policy::setup::Setup;
use airlock_prove::check::{CheckOptions, Checker, Outcome, Property};

fn seed() -> Setup {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed-as-written.json"))
        .expect("seed setup");
    Setup::from_json(&text).expect("valid seed setup")
}

const ROLE: &str = "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";
const BUCKET: &str = "arn:aws:s3:::cross-account-secure-bucket-demo";
const KEY: &str = "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012";

fn run(p: &str) -> Outcome {
    let setup = seed();
    let mut c = Checker::new(&setup, CheckOptions::default());
    let r = c.check(&Property::parse(p).expect("property"));
    eprintln!("{p}: {:?} ({:.1} ms, {} queries)", r.outcome, r.millis, r.queries);
    if let Outcome::Violated { counterexample: Some(cx), .. } = &r.outcome {
        assert_eq!(cx.replayed, cx.decision, "replay disagrees: {}", cx.summary());
        eprintln!("  counterexample: {}", cx.summary());
    }
    r.outcome
}

#[test]
fn seed_properties() {
    for p in [
        "only-via-vpce=vpce-0a1b2c3d4e5f6g7h8",
        "not-public",
        &format!("no-actions=s3:Delete*;principals={ROLE}"),
        "requires-tls",
        &format!("requires-kms-key={KEY}"),
        &format!("only-principals={ROLE}"),
        &format!("only-principals=arn:aws:iam::111111111111:role/EC2CrossAccountAssumeRole;resources={ROLE}"),
        &format!("no-actions=s3:*;resources={BUCKET}"),
    ] {
        let _ = run(p);
    }
    let _ = Decision::Allow;
}
