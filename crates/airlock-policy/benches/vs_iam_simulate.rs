//! Speed comparison: airlock-policy against @cloud-copilot/iam-simulate on the SAME requests.
//!
//! The policy set is the seed's (docs: shared/seed/cross-account-secure-s3.md): the KMS key
//! policy, the B role's inline policy, the A EC2 role's inline policy, the B role's trust policy
//! (trusting account A, as the console's "Another AWS account" writes it) and the bucket policy
//! with its VPC-endpoint deny. The requests are the seed's walk-through and checklist steps.
//!
//! Both sides evaluate the same cases in the same run: airlock in-process (policies parsed
//! once, as a server holds them), iam-simulate through `tests/oracle/bench.mjs` (its public
//! `runSimulation`, which validates and loads the policies on each call). Prints decisions per
//! second for both and the ratio, and checks that both sides decide every case alike.
//!
//!     cargo bench -p airlock-policy --bench vs_iam_simulate
//!
//! `AIRLOCK_BENCH_SECONDS` sets the measuring time per side (default 3).

#[path = "../tests/differential/case.rs"]
mod case;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_policy::{
    Context, ContextValue, Decision, PolicyKind, PolicySet, Principal, Request, Resource,
};
use case::{Case, CasePolicies, ResourcePolicy};
use serde_json::{Value, json};

const A: &str = "111111111111";
const B: &str = "222222222222";
const BUCKET: &str = "cross-account-secure-bucket-demo";
const KEY: &str = "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012";
const ROLE_B: &str = "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole";
const VPCE: &str = "vpce-0a1b2c3d4e5f6g7h8";

fn key_policy() -> Value {
    json!({
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow Account A to use the key", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
         "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], "Resource": "*"}
      ]
    })
}

fn role_b_policy() -> Value {
    json!({
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "S3BucketAccess", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")]},
        {"Sid": "KMSKeyAccess", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], "Resource": KEY}
      ]
    })
}

fn ec2_role_policy() -> Value {
    json!({"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_B}]})
}

fn trust_policy() -> Value {
    json!({"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                          "Action": "sts:AssumeRole"}]})
}

fn bucket_policy() -> Value {
    json!({
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "DenyAllExceptVPCEndpoint", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": VPCE}}},
        {"Sid": "AllowCrossAccountRole", "Effect": "Allow",
         "Principal": {"AWS": ROLE_B},
         "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
         "Resource": [format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")]}
      ]
    })
}

fn admin_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

fn session(account: &str, role: &str, role_id: &str, name: &str) -> Principal {
    Principal::RoleSession {
        account: account.into(),
        role_name: role.into(),
        role_path: "/".into(),
        role_id: role_id.into(),
        session_name: name.into(),
        tags: Default::default(),
        source_identity: None,
    }
}

fn ctx(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.insert(k, ContextValue::Single(v.to_string()));
    }
    c
}

/// The seed's walk-through and checklist, as requests with the policies that apply to each.
fn seed_cases() -> Vec<(&'static str, Case)> {
    let ec2 = session(
        A,
        "EC2CrossAccountAssumeRole",
        "AROAEC2EXAMPLE0000001",
        "i-0123456789abcdef0",
    );
    let role = session(
        B,
        "CrossAccountS3AccessRole",
        "AROAXACCTEXAMPLE00002",
        "cross-account-session",
    );
    let admin = Principal::User {
        account: B.into(),
        name: "admin".into(),
        path: "/".into(),
        id: "AIDAADMINEXAMPLE00003".into(),
        tags: Default::default(),
    };
    let object = format!("arn:aws:s3:::{BUCKET}/test-file.txt");
    let bucket = format!("arn:aws:s3:::{BUCKET}");
    let in_vpc = [
        ("aws:SourceVpce", VPCE),
        ("aws:SourceVpc", "vpc-0a1b2c3d"),
        ("aws:SecureTransport", "true"),
    ];
    let outside = [
        ("aws:SourceIp", "198.51.100.20"),
        ("aws:SecureTransport", "true"),
    ];
    let via_s3 = [
        ("kms:ViaService", "s3.us-east-1.amazonaws.com"),
        ("kms:CallerAccount", B),
    ];

    let bucket_rp = || {
        Some(ResourcePolicy {
            kind: PolicyKind::Resource,
            policy: bucket_policy(),
        })
    };
    let role_policies = |resource| CasePolicies {
        identity: vec![role_b_policy()],
        resource,
        ..Default::default()
    };
    let mk = |principal: &Principal,
              action: &str,
              arn: &str,
              context: Context,
              policies: CasePolicies| Case {
        id: 0,
        request: Request {
            principal: principal.clone(),
            action: action.into(),
            resource: Resource {
                arn: arn.into(),
                account: Some(B.into()),
            },
            context,
        },
        policies,
    };
    let key_rp = || {
        Some(ResourcePolicy {
            kind: PolicyKind::Key,
            policy: key_policy(),
        })
    };

    let mut cases = vec![
        (
            "step 9.3: EC2 role assumes the B role",
            mk(
                &ec2,
                "sts:AssumeRole",
                ROLE_B,
                ctx(&[
                    ("aws:SourceIp", "203.0.113.7"),
                    ("aws:SecureTransport", "true"),
                ]),
                CasePolicies {
                    identity: vec![ec2_role_policy()],
                    resource: Some(ResourcePolicy {
                        kind: PolicyKind::Trust,
                        policy: trust_policy(),
                    }),
                    ..Default::default()
                },
            ),
        ),
        (
            "step 9.6: PutObject through the endpoint",
            mk(
                &role,
                "s3:PutObject",
                &object,
                ctx(&[
                    in_vpc[0],
                    in_vpc[1],
                    in_vpc[2],
                    ("s3:x-amz-server-side-encryption", "aws:kms"),
                ]),
                role_policies(bucket_rp()),
            ),
        ),
        (
            "step 9.6: S3 asks KMS for a data key",
            mk(
                &role,
                "kms:GenerateDataKey",
                KEY,
                ctx(&via_s3),
                role_policies(key_rp()),
            ),
        ),
        (
            "step 9.7: ListBucket through the endpoint",
            mk(
                &role,
                "s3:ListBucket",
                &bucket,
                ctx(&in_vpc),
                role_policies(bucket_rp()),
            ),
        ),
        (
            "step 9.8: GetObject through the endpoint",
            mk(
                &role,
                "s3:GetObject",
                &object,
                ctx(&in_vpc),
                role_policies(bucket_rp()),
            ),
        ),
        (
            "step 9.8: S3 asks KMS to decrypt",
            mk(
                &role,
                "kms:Decrypt",
                KEY,
                ctx(&via_s3),
                role_policies(key_rp()),
            ),
        ),
        (
            "test 1: B's admin lists from outside the VPC",
            mk(
                &admin,
                "s3:ListBucket",
                &bucket,
                ctx(&outside),
                CasePolicies {
                    identity: vec![admin_policy()],
                    resource: bucket_rp(),
                    ..Default::default()
                },
            ),
        ),
        (
            "test 2: EC2 role lists without assuming",
            mk(
                &ec2,
                "s3:ListBucket",
                &bucket,
                ctx(&in_vpc),
                CasePolicies {
                    identity: vec![ec2_role_policy()],
                    resource: bucket_rp(),
                    ..Default::default()
                },
            ),
        ),
        (
            "test 3: HeadObject (s3:GetObject)",
            mk(
                &role,
                "s3:GetObject",
                &object,
                ctx(&in_vpc),
                role_policies(bucket_rp()),
            ),
        ),
        (
            "test 4: the role deletes an object",
            mk(
                &role,
                "s3:DeleteObject",
                &object,
                ctx(&in_vpc),
                role_policies(bucket_rp()),
            ),
        ),
        (
            "test 4: the role deletes the bucket",
            mk(
                &role,
                "s3:DeleteBucket",
                &bucket,
                ctx(&in_vpc),
                role_policies(bucket_rp()),
            ),
        ),
        (
            "anonymous list from the internet",
            mk(
                &Principal::Anonymous,
                "s3:ListBucket",
                &bucket,
                ctx(&outside),
                CasePolicies {
                    resource: bucket_rp(),
                    ..Default::default()
                },
            ),
        ),
    ];
    for (i, (_, c)) in cases.iter_mut().enumerate() {
        c.id = i as u64;
    }
    cases
}

fn word(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::ExplicitDeny => "explicit-deny",
        Decision::ImplicitDeny => "implicit-deny",
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a test run must not spend seconds measuring.
    if !std::env::args().any(|a| a == "--bench") {
        println!("vs_iam_simulate: measures only under `cargo bench`");
        return;
    }
    let seconds: f64 = std::env::var("AIRLOCK_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let cases = seed_cases();
    let prepared: Vec<(Request, PolicySet)> = cases
        .iter()
        .map(|(name, c)| {
            let set = c.policy_set().unwrap_or_else(|e| panic!("{name}: {e}"));
            (c.request.clone(), set)
        })
        .collect();

    // airlock
    let ours: Vec<Decision> = prepared
        .iter()
        .map(|(r, s)| airlock_policy::evaluate(r, s).decision)
        .collect();
    for _ in 0..10_000 {
        for (r, s) in &prepared {
            std::hint::black_box(airlock_policy::evaluate(std::hint::black_box(r), s));
        }
    }
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..1_000 {
            for (r, s) in &prepared {
                std::hint::black_box(airlock_policy::evaluate(std::hint::black_box(r), s));
            }
        }
        n += 1_000 * prepared.len() as u64;
    }
    let airlock_secs = start.elapsed().as_secs_f64();
    let airlock_rate = n as f64 / airlock_secs;

    // iam-simulate, same cases
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oracle");
    if !dir
        .join("node_modules/@cloud-copilot/iam-simulate")
        .is_dir()
    {
        eprintln!("tests/oracle/node_modules is missing: run scripts/test-env.sh first");
        std::process::exit(2);
    }
    let mut child = Command::new("node")
        .args(["bench.mjs", "--seconds", &seconds.to_string()])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}"));
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        for (_, c) in &cases {
            writeln!(stdin, "{}", c.to_json_line()).expect("write to node");
        }
    }
    let out = child.wait_with_output().expect("node bench.mjs");
    assert!(
        out.status.success(),
        "node bench.mjs failed: {}",
        out.status
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("bench.mjs JSON");
    let theirs_rate = report["per_second"].as_f64().unwrap_or(f64::NAN);
    let theirs_n = report["decisions"].as_u64().unwrap_or(0);
    let theirs_secs = report["seconds"].as_f64().unwrap_or(f64::NAN);

    println!("vs_iam_simulate: {} seed requests", cases.len());
    let mut disagreements = 0;
    for (i, (name, _)) in cases.iter().enumerate() {
        let theirs = report["results"][i].as_str().unwrap_or("?");
        let mark = if theirs == word(ours[i]) {
            ""
        } else {
            "   <-- DISAGREE"
        };
        if !mark.is_empty() {
            disagreements += 1;
        }
        println!(
            "  {name:<48} airlock {:<13} iam-simulate {theirs}{mark}",
            word(ours[i])
        );
    }
    println!(
        "airlock:      {n} decisions in {airlock_secs:.2} s = {airlock_rate:>12.0} decisions/s (one core)"
    );
    println!(
        "iam-simulate: {theirs_n} decisions in {theirs_secs:.2} s = {theirs_rate:>12.0} decisions/s (node, one core)"
    );
    println!(
        "ratio airlock / iam-simulate: {:.0}x",
        airlock_rate / theirs_rate
    );
    if disagreements > 0 {
        println!("WARNING: {disagreements} seed requests decided differently");
    }
}
