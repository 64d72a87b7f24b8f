//! A seedable generator of random but valid AWS policy sets and requests.
//!
//! The world is small and realistic, so that random policies hit the request often enough to
//! exercise every rule: three accounts (A = 111111111111, B = 222222222222, C = 333333333333),
//! IAM users (with paths and tags), role sessions, account roots and anonymous callers; S3
//! buckets and objects, KMS keys and IAM roles (for `sts:AssumeRole`, with their trust
//! policies); context keys with the shapes AWS gives them (a VPC-endpoint request has
//! `aws:SourceVpce` and no `aws:SourceIp`, `s3:prefix` only on `ListBucket`, ...).
//!
//! Every policy is one that AWS accepts for its kind, and every request is one that AWS can
//! receive (no root `AssumeRole`, anonymous callers only on S3, session policies only for role
//! sessions). Randomness comes from SplitMix64, so a (seed, case index) pair regenerates the
//! same case on any machine and any toolchain.

use std::collections::BTreeMap;

use airlock_policy::{Context, ContextValue, PolicyKind, Principal, Request, Resource};
use serde_json::{Map, Value, json};

use super::case::{Case, CasePolicies, ResourcePolicy};

/// SplitMix64: tiny, fast, and stable forever (no dependency whose stream could change).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of case `index` of the run seeded with `seed`.
    pub fn for_case(seed: u64, index: u64) -> Self {
        let mut r = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p` percent.
    pub fn pct(&mut self, p: u32) -> bool {
        self.below(100) < p as usize
    }

    /// A uniformly chosen element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// A uniformly chosen string.
    pub fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }

    /// `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

/// Account A (in the seed: the source account).
pub const A: &str = "111111111111";
/// Account B (in the seed: the storage account).
pub const B: &str = "222222222222";
/// Account C (a third party).
pub const C: &str = "333333333333";
const ACCOUNTS: [&str; 3] = [A, B, C];

const KEY_A: &str = "arn:aws:kms:us-east-1:111111111111:key/1111aaaa-1111-4111-8111-111111111111";
const KEY_B: &str = "arn:aws:kms:us-east-1:222222222222:key/2222bbbb-2222-4222-8222-222222222222";
const VPCES: [&str; 2] = ["vpce-1a2b3c4d", "vpce-5e6f7a8b"];
const IPS: [&str; 5] = [
    "203.0.113.7",
    "198.51.100.20",
    "198.51.100.200",
    "10.1.2.3",
    "2001:db8::1",
];
const CIDRS: [&str; 8] = [
    "203.0.113.0/24",
    "198.51.100.0/25",
    "198.51.100.128/25",
    "10.0.0.0/8",
    "2001:db8::/32",
    "2001:db8:ffff::/48",
    "192.0.2.55/32",
    "0.0.0.0/0",
];
const TIMES: [&str; 3] = [
    "2024-03-15T10:00:00Z",
    "2024-06-01T00:00:00Z",
    "2025-02-01T08:30:00Z",
];
const POLICY_TIMES: [&str; 5] = [
    "2024-06-01T00:00:00Z",
    "2025-01-01T00:00:00Z",
    "2023-12-31T23:59:59Z",
    "1717200000",
    "2024-03-15T10:00:00Z",
];

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn user(account: &str, name: &str, path: &str, id: &str, t: &[(&str, &str)]) -> Principal {
    Principal::User {
        account: account.into(),
        name: name.into(),
        path: path.into(),
        id: id.into(),
        tags: tags(t),
    }
}

fn session(
    account: &str,
    role: &str,
    path: &str,
    id: &str,
    name: &str,
    t: &[(&str, &str)],
) -> Principal {
    Principal::RoleSession {
        account: account.into(),
        role_name: role.into(),
        role_path: path.into(),
        role_id: id.into(),
        session_name: name.into(),
        tags: tags(t),
        source_identity: None,
    }
}

/// Every caller of the world.
pub fn actors() -> Vec<Principal> {
    vec![
        user(
            A,
            "alice",
            "/",
            "AIDAALICEEXAMPLE00001",
            &[("team", "blue")],
        ),
        user(
            A,
            "bob",
            "/ops/",
            "AIDABOBEXAMPLE0000002",
            &[("team", "red")],
        ),
        user(B, "carol", "/", "AIDACAROLEXAMPLE00003", &[]),
        user(C, "dave", "/", "AIDADAVEEXAMPLE000004", &[("team", "blue")]),
        session(
            A,
            "app",
            "/",
            "AROAAPPEXAMPLE0000001",
            "i-0abc123",
            &[("team", "blue")],
        ),
        session(
            A,
            "batch",
            "/service-role/",
            "AROABATCHEXAMPLE00002",
            "worker-1",
            &[],
        ),
        session(
            B,
            "reader",
            "/",
            "AROAREADEREXAMPLE0003",
            "alice",
            &[("team", "red")],
        ),
        session(B, "deployer", "/ops/", "AROADEPLOYEREXAMPL004", "ci", &[]),
        session(C, "auditor", "/", "AROAAUDITOREXAMPLE005", "audit", &[]),
        Principal::Root { account: A.into() },
        Principal::Root { account: B.into() },
        Principal::Root { account: C.into() },
        Principal::Anonymous,
    ]
}

fn iam_arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() {
        format!("arn:aws:iam::{account}:{kind}/{name}")
    } else {
        format!("arn:aws:iam::{account}:{kind}/{p}/{name}")
    }
}

/// The ARNs by which a resource policy can name `p` (user ARN; role ARN and session ARN; root).
pub fn principal_arns(p: &Principal) -> Vec<String> {
    match p {
        Principal::User {
            account,
            name,
            path,
            ..
        } => vec![iam_arn(account, "user", path, name)],
        Principal::RoleSession {
            account,
            role_name,
            role_path,
            session_name,
            ..
        } => vec![
            iam_arn(account, "role", role_path, role_name),
            format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"),
        ],
        Principal::Root { account } => vec![format!("arn:aws:iam::{account}:root")],
        _ => vec![],
    }
}

/// The account of a principal, if it has one.
pub fn principal_account(p: &Principal) -> Option<&str> {
    match p {
        Principal::User { account, .. }
        | Principal::RoleSession { account, .. }
        | Principal::Root { account } => Some(account),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Svc {
    S3Bucket,
    S3Object,
    Kms,
    StsRole,
    IamRole,
    IamAll,
}

#[derive(Debug, Clone)]
struct Target {
    arn: String,
    account: Option<&'static str>,
    svc: Svc,
    actions: &'static [&'static str],
    bucket: Option<&'static str>,
}

const BUCKET_ACTIONS: &[&str] = &["s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy"];
const OBJECT_ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"];
const KMS_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
];

fn targets() -> Vec<Target> {
    let mut t = Vec::new();
    for (bucket, account, keys) in [
        (
            "data-a",
            A,
            &[
                "reports/2024/q1.csv",
                "home/alice/notes.txt",
                "home/bob/todo.txt",
                "Reports/upper.csv",
            ][..],
        ),
        (
            "secure-b",
            B,
            &["test-file.txt", "home/carol/a.txt", "home/alice/b.txt"][..],
        ),
    ] {
        t.push(Target {
            arn: format!("arn:aws:s3:::{bucket}"),
            account: Some(account),
            svc: Svc::S3Bucket,
            actions: BUCKET_ACTIONS,
            bucket: Some(bucket),
        });
        for key in keys {
            t.push(Target {
                arn: format!("arn:aws:s3:::{bucket}/{key}"),
                account: Some(account),
                svc: Svc::S3Object,
                actions: OBJECT_ACTIONS,
                bucket: Some(bucket),
            });
        }
    }
    for (key, account) in [(KEY_A, A), (KEY_B, B)] {
        t.push(Target {
            arn: key.into(),
            account: Some(account),
            svc: Svc::Kms,
            actions: KMS_ACTIONS,
            bucket: None,
        });
    }
    for (account, path, name) in [
        (A, "/", "app"),
        (B, "/", "reader"),
        (B, "/ops/", "deployer"),
    ] {
        let arn = iam_arn(account, "role", path, name);
        t.push(Target {
            arn: arn.clone(),
            account: Some(account),
            svc: Svc::StsRole,
            actions: &["sts:AssumeRole"],
            bucket: None,
        });
        t.push(Target {
            arn,
            account: Some(account),
            svc: Svc::IamRole,
            actions: &["iam:GetRole", "iam:TagRole"],
            bucket: None,
        });
    }
    t.push(Target {
        arn: "*".into(),
        account: None,
        svc: Svc::IamAll,
        actions: &["iam:ListRoles"],
        bucket: None,
    });
    t
}

/// What the policy generators know about the request they write policies for.
struct Cx {
    action: String,
    target: Target,
    principal: Principal,
    all_principal_arns: Vec<String>,
}

fn one_or_many(rng: &mut Rng, mut xs: Vec<String>) -> Value {
    xs.dedup();
    if xs.len() == 1 && rng.pct(60) {
        Value::String(xs.remove(0))
    } else {
        Value::Array(xs.into_iter().map(Value::String).collect())
    }
}

fn mangle_case(rng: &mut Rng, s: &str) -> String {
    match rng.below(3) {
        0 => s.to_ascii_lowercase(),
        1 => s.to_ascii_uppercase(),
        _ => s
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    }
}

// ---------------------------------------------------------------- actions

const ACTION_VOCAB: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:Delete*",
    "s3:*",
    "s3:Get*",
    "s3:*Policy",
    "s3:List*",
    "kms:Decrypt",
    "kms:GenerateDataKey*",
    "kms:Encrypt",
    "kms:*",
    "kms:Describe*",
    "sts:AssumeRole",
    "sts:*",
    "iam:GetRole",
    "iam:TagRole",
    "iam:List*",
    "iam:*Role",
    "*",
];

fn action_pattern(rng: &mut Rng, cx: &Cx) -> String {
    if !rng.pct(55) {
        return rng.pick(ACTION_VOCAB).to_string();
    }
    let action = cx.action.as_str();
    let (svc, op) = action.split_once(':').unwrap_or((action, ""));
    match rng.below(8) {
        0 | 1 => action.to_string(),
        2 => format!("{}:{}", mangle_case(rng, svc), mangle_case(rng, op)),
        3 => format!("{svc}:*"),
        4 => format!("{svc}:{}*", &op[..op.len().min(3)]),
        5 => format!("{svc}:?{}", &op[1.min(op.len())..]),
        6 => format!("{svc}:*{}", &op[op.len().saturating_sub(4)..]),
        _ => "*".to_string(),
    }
}

fn action_list(rng: &mut Rng, cx: &Cx) -> Vec<String> {
    let n = rng.range(1, 3);
    (0..n).map(|_| action_pattern(rng, cx)).collect()
}

// ---------------------------------------------------------------- resources

fn bucket_patterns(bucket: &str) -> Vec<String> {
    vec![
        format!("arn:aws:s3:::{bucket}"),
        format!("arn:aws:s3:::{bucket}/*"),
        format!("arn:aws:s3:::{bucket}/home/${{aws:username}}/*"),
        format!("arn:aws:s3:::{bucket}/home/alice/*"),
        format!("arn:aws:s3:::{bucket}/reports/*"),
        format!("arn:aws:s3:::{bucket}/Reports/*"),
        format!("arn:aws:s3:::{bucket}/*.txt"),
        format!("arn:aws:s3:::{bucket}/home/${{aws:PrincipalTag/team, 'alice'}}/*"),
    ]
}

fn resource_pattern(rng: &mut Rng, cx: &Cx) -> String {
    let t = &cx.target;
    if rng.pct(25) {
        // Anything from the world: usually a miss.
        let world = [
            "*",
            "arn:aws:s3:::data-a/*",
            "arn:aws:s3:::secure-b",
            "arn:aws:s3:::secure-b/*",
            "arn:aws:s3:::*",
            KEY_A,
            KEY_B,
            "arn:aws:kms:*:*:key/*",
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::222222222222:role/ops/*",
        ];
        return rng.pick(&world).to_string();
    }
    let arn = t.arn.as_str();
    match t.svc {
        Svc::S3Bucket | Svc::S3Object => {
            let bucket = t.bucket.unwrap_or("data-a");
            let mut options = bucket_patterns(bucket);
            options.push(arn.to_string());
            options.push(arn.to_string());
            options.push("arn:aws:s3:::data-?".into());
            options.push("arn:aws:s3:::*-b/*".into());
            options.push(format!("arn:aws:s3:::{bucket}/Home/*"));
            options.push("*".into());
            if let Some(idx) = arn.rfind('/') {
                options.push(format!("{}*", &arn[..idx + 1]));
            }
            rng.pick(&options).clone()
        }
        Svc::Kms => {
            let account = t.account.unwrap_or(A);
            let options = [
                arn.to_string(),
                arn.to_string(),
                format!("arn:aws:kms:us-east-1:{account}:key/*"),
                format!("arn:aws:kms:*:{account}:key/*"),
                // Policy variables only in the resource part: "You can't use a variable to
                // replace parts of the ARN before the fifth colon" (IAM User Guide, "Variables").
                format!(
                    "arn:aws:kms:*:{account}:key/${{aws:PrincipalTag/team, '1111aaaa-1111-4111-8111-111111111111'}}"
                ),
                "arn:aws:kms:us-east-1:*:key/1111*".to_string(),
                format!("arn:aws:kms:us-east-1:{account}:alias/*"),
                "arn:aws:kms:*:*:key/*".to_string(),
                "*".to_string(),
            ];
            rng.pick(&options).clone()
        }
        Svc::StsRole | Svc::IamRole => {
            let account = t.account.unwrap_or(A);
            let name = arn.rsplit('/').next().unwrap_or("app");
            let options = [
                arn.to_string(),
                arn.to_string(),
                format!("arn:aws:iam::{account}:role/*"),
                format!("arn:aws:iam::{account}:role/ops/*"),
                format!("arn:aws:iam::*:role/{name}"),
                format!("arn:aws:iam::{account}:role/${{aws:PrincipalTag/team, 'app'}}"),
                format!("arn:aws:iam::{account}:role/{}", mangle_case(rng, name)),
                "*".to_string(),
            ];
            rng.pick(&options).clone()
        }
        Svc::IamAll => {
            let options = [
                "*",
                "*",
                "arn:aws:iam::*:role/*",
                "arn:aws:iam::111111111111:*",
            ];
            rng.pick(&options).to_string()
        }
    }
}

fn resource_list(rng: &mut Rng, cx: &Cx) -> Vec<String> {
    let n = rng.range(1, 2);
    (0..n).map(|_| resource_pattern(rng, cx)).collect()
}

// ---------------------------------------------------------------- conditions

#[derive(Clone, Copy)]
enum Family {
    Str,
    Arn,
    Ip,
    Bool,
    Num,
    Date,
    Multi,
}

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
];
const ARN_OPS: &[&str] = &[
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "StringEquals",
    "StringLike",
];
const IP_OPS: &[&str] = &["IpAddress", "NotIpAddress"];
const NUM_OPS: &[&str] = &[
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
];
const DATE_OPS: &[&str] = &[
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
];

fn key_spec(rng: &mut Rng, cx: &Cx) -> (&'static str, Family, Vec<String>) {
    let principal_arn_values = {
        let mut v: Vec<String> = cx.all_principal_arns.clone();
        v.extend(
            [
                "arn:aws:iam::111111111111:role/*",
                "arn:aws:iam::*:user/*",
                "arn:aws:iam::222222222222:*",
                "arn:aws:sts::111111111111:assumed-role/app/*",
                "arn:aws:iam::111111111111:root",
            ]
            .map(String::from),
        );
        v
    };
    let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match rng.below(22) {
        0 | 1 => (
            "aws:SourceVpce",
            Family::Str,
            s(&[
                "vpce-1a2b3c4d",
                "vpce-5e6f7a8b",
                "vpce-1a*",
                "VPCE-1A2B3C4D",
            ]),
        ),
        2 | 3 => ("aws:SourceIp", Family::Ip, s(&CIDRS)),
        4 | 5 => ("aws:PrincipalArn", Family::Arn, principal_arn_values),
        6 => ("aws:PrincipalAccount", Family::Str, s(&ACCOUNTS)),
        7 => ("aws:SecureTransport", Family::Bool, s(&["true", "false"])),
        8 => (
            "aws:username",
            Family::Str,
            s(&["alice", "bob", "carol", "a*", "${aws:PrincipalTag/team}"]),
        ),
        9 => (
            "aws:userid",
            Family::Str,
            s(&[
                "AIDAALICEEXAMPLE00001",
                "AROAAPPEXAMPLE0000001:*",
                "AROA*:i-0abc123",
                "*:worker-1",
                "111111111111",
            ]),
        ),
        10 => (
            "aws:PrincipalTag/team",
            Family::Str,
            s(&["blue", "red", "Blue", "${aws:username}"]),
        ),
        11 => (
            "aws:PrincipalType",
            Family::Str,
            s(&["User", "AssumedRole", "Account", "Anonymous"]),
        ),
        12 => (
            "s3:prefix",
            Family::Str,
            s(&[
                "",
                "home/alice/",
                "home/${aws:username}/",
                "home/${aws:username}/*",
                "reports/*",
                "Reports/*",
                "reports/${*}",
            ]),
        ),
        13 => ("s3:max-keys", Family::Num, s(&["10", "100", "1000", "999"])),
        14 => ("aws:CurrentTime", Family::Date, s(&POLICY_TIMES)),
        15 | 16 => (
            "aws:TagKeys",
            Family::Multi,
            s(&["team", "env", "cost-*", "Team"]),
        ),
        17 => (
            "kms:ViaService",
            Family::Str,
            s(&[
                "s3.us-east-1.amazonaws.com",
                "s3.*.amazonaws.com",
                "ec2.us-east-1.amazonaws.com",
            ]),
        ),
        18 => ("kms:CallerAccount", Family::Str, s(&ACCOUNTS)),
        19 => ("sts:ExternalId", Family::Str, s(&["ext-123", "ext-999"])),
        20 => (
            "aws:ResourceAccount",
            Family::Str,
            s(&[A, B, C, "${aws:PrincipalAccount}"]),
        ),
        _ => (
            "aws:MultiFactorAuthPresent",
            Family::Bool,
            s(&["true", "false"]),
        ),
    }
}

/// One condition: (operator, key, values).
fn condition(rng: &mut Rng, cx: &Cx) -> (String, String, Value) {
    let (key, family, pool) = key_spec(rng, cx);
    let key = if rng.pct(8) {
        mangle_case(rng, key)
    } else {
        key.to_string()
    };
    if rng.pct(7) {
        let v = if rng.pct(50) { "true" } else { "false" };
        return ("Null".into(), key, Value::String(v.into()));
    }
    let base = match family {
        Family::Str => rng.pick(STRING_OPS).to_string(),
        Family::Arn => rng.pick(ARN_OPS).to_string(),
        Family::Ip => rng.pick(IP_OPS).to_string(),
        Family::Bool => "Bool".to_string(),
        Family::Num => rng.pick(NUM_OPS).to_string(),
        Family::Date => rng.pick(DATE_OPS).to_string(),
        Family::Multi => {
            let q = if rng.pct(50) {
                "ForAllValues"
            } else {
                "ForAnyValue"
            };
            format!("{q}:{}", rng.pick(STRING_OPS))
        }
    };
    // A set operator on a single-valued key now and then: AWS treats the value as a one-element set.
    let base = if !matches!(family, Family::Multi | Family::Bool) && rng.pct(4) {
        format!(
            "{}:{base}",
            if rng.pct(50) {
                "ForAnyValue"
            } else {
                "ForAllValues"
            }
        )
    } else {
        base
    };
    let op = if !matches!(family, Family::Multi) && rng.pct(18) {
        format!("{base}IfExists")
    } else {
        base
    };
    let n = if matches!(family, Family::Bool) {
        1
    } else {
        rng.range(1, 2)
    };
    let values: Vec<String> = (0..n).map(|_| rng.pick(&pool).clone()).collect();
    (op, key, one_or_many(rng, values))
}

fn condition_block(rng: &mut Rng, cx: &Cx, max: usize) -> Option<Value> {
    let n = match rng.below(100) {
        0..=49 => 0,
        50..=84 => 1,
        _ => 2,
    }
    .min(max);
    if n == 0 {
        return None;
    }
    let mut block: Map<String, Value> = Map::new();
    for _ in 0..n {
        let (op, key, values) = condition(rng, cx);
        let entry = block.entry(op).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            // Same key twice under one operator would be a duplicate JSON key: skip it.
            if !m.keys().any(|k| k.eq_ignore_ascii_case(&key)) {
                m.insert(key, values);
            }
        }
    }
    Some(Value::Object(block))
}

// ---------------------------------------------------------------- statements and policies

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Identity,
    Boundary,
    Session,
    Scp,
    Endpoint,
}

fn identity_statement(rng: &mut Rng, cx: &Cx, flavor: Flavor) -> Value {
    let allow_pct = match flavor {
        Flavor::Identity => 80,
        Flavor::Boundary | Flavor::Session | Flavor::Endpoint => 88,
        Flavor::Scp => 55,
    };
    let mut st = Map::new();
    st.insert(
        "Effect".into(),
        json!(if rng.pct(allow_pct) { "Allow" } else { "Deny" }),
    );
    if flavor == Flavor::Endpoint {
        st.insert("Principal".into(), json!("*"));
    }
    let actions = action_list(rng, cx);
    if rng.pct(12) {
        st.insert("NotAction".into(), one_or_many(rng, actions));
    } else {
        st.insert("Action".into(), one_or_many(rng, actions));
    }
    let resources = resource_list(rng, cx);
    if rng.pct(12) {
        st.insert("NotResource".into(), one_or_many(rng, resources));
    } else {
        st.insert("Resource".into(), one_or_many(rng, resources));
    }
    if let Some(c) = condition_block(rng, cx, 2) {
        st.insert("Condition".into(), c);
    }
    Value::Object(st)
}

fn version(rng: &mut Rng) -> Option<&'static str> {
    match rng.below(100) {
        0..=91 => Some("2012-10-17"),
        92..=95 => Some("2008-10-17"),
        _ => None,
    }
}

fn document(rng: &mut Rng, mut statements: Vec<Value>, version: Option<&str>) -> Value {
    // Sids, when present, are unique within the policy ("In IAM, the Sid value must be unique
    // within a JSON policy", IAM User Guide, "Sid").
    for (i, st) in statements.iter_mut().enumerate() {
        if let Value::Object(m) = st
            && !m.contains_key("Sid")
            && rng.pct(20)
        {
            m.insert("Sid".into(), json!(format!("S{i}")));
        }
    }
    let mut doc = Map::new();
    if let Some(v) = version {
        doc.insert("Version".into(), json!(v));
    }
    if rng.pct(10) {
        doc.insert("Id".into(), json!("generated"));
    }
    if statements.len() == 1 && rng.pct(25) {
        doc.insert(
            "Statement".into(),
            statements.into_iter().next().unwrap_or(Value::Null),
        );
    } else {
        doc.insert("Statement".into(), Value::Array(statements));
    }
    Value::Object(doc)
}

fn identity_like_policy(rng: &mut Rng, cx: &Cx, flavor: Flavor, max_statements: usize) -> Value {
    let n = rng.range(1, max_statements);
    let statements = (0..n)
        .map(|_| identity_statement(rng, cx, flavor))
        .collect();
    // SCPs and endpoint policies are written in the current language version.
    let v = match flavor {
        Flavor::Scp | Flavor::Endpoint => Some("2012-10-17"),
        _ => version(rng),
    };
    document(rng, statements, v)
}

fn principal_entry(rng: &mut Rng, cx: &Cx) -> String {
    let own = principal_arns(&cx.principal);
    if !own.is_empty() && rng.pct(45) {
        return rng.pick(&own).clone();
    }
    match rng.below(5) {
        0 => rng.pick(&ACCOUNTS).to_string(),
        1 => format!("arn:aws:iam::{}:root", rng.pick(&ACCOUNTS)),
        2 => {
            if let Some(acct) = principal_account(&cx.principal) {
                if rng.pct(50) {
                    return acct.to_string();
                }
                return format!("arn:aws:iam::{acct}:root");
            }
            rng.pick(&ACCOUNTS).to_string()
        }
        3 => "arn:aws:sts::111111111111:assumed-role/app/other-session".to_string(),
        _ => rng.pick(&cx.all_principal_arns).clone(),
    }
}

fn principal_value(rng: &mut Rng, cx: &Cx, allow_wildcard: bool) -> Value {
    let roll = rng.below(100);
    if allow_wildcard && roll < 12 {
        return json!("*");
    }
    if allow_wildcard && roll < 18 {
        return json!({"AWS": "*"});
    }
    if roll >= 95 {
        return json!({"Service": "ec2.amazonaws.com"});
    }
    let n = rng.range(1, 3);
    let entries: Vec<String> = (0..n).map(|_| principal_entry(rng, cx)).collect();
    json!({"AWS": one_or_many(rng, entries)})
}

fn resource_statement(rng: &mut Rng, cx: &Cx, kind: PolicyKind) -> Value {
    let mut st = Map::new();
    // NotPrincipal: only with Deny, and not in trust policies (IAM User Guide, "NotPrincipal":
    // "must be used with Effect Deny"; "You cannot use the NotPrincipal element in ... an IAM
    // role trust policy").
    let not_principal = kind != PolicyKind::Trust && rng.pct(10);
    let deny = not_principal || rng.pct(20);
    st.insert("Effect".into(), json!(if deny { "Deny" } else { "Allow" }));
    if not_principal {
        st.insert("NotPrincipal".into(), principal_value(rng, cx, false));
    } else {
        st.insert("Principal".into(), principal_value(rng, cx, true));
    }
    match kind {
        PolicyKind::Trust => {
            let a = [
                "sts:AssumeRole",
                "sts:AssumeRole",
                "sts:AssumeRole",
                "sts:*",
                "sts:Assume*",
            ];
            st.insert("Action".into(), json!(rng.pick(&a)));
        }
        PolicyKind::Key => {
            let actions = action_list(rng, cx);
            st.insert("Action".into(), one_or_many(rng, actions));
            let r = if rng.pct(85) {
                "*".to_string()
            } else {
                cx.target.arn.clone()
            };
            st.insert("Resource".into(), json!(r));
        }
        _ => {
            let actions = action_list(rng, cx);
            if rng.pct(8) {
                st.insert("NotAction".into(), one_or_many(rng, actions));
            } else {
                st.insert("Action".into(), one_or_many(rng, actions));
            }
            let bucket = cx.target.bucket.unwrap_or("data-a");
            let mut pool = bucket_patterns(bucket);
            pool.push(cx.target.arn.clone());
            pool.push(cx.target.arn.clone());
            let n = rng.range(1, 2);
            let resources: Vec<String> = (0..n).map(|_| rng.pick(&pool).clone()).collect();
            if rng.pct(8) {
                st.insert("NotResource".into(), one_or_many(rng, resources));
            } else {
                st.insert("Resource".into(), one_or_many(rng, resources));
            }
        }
    }
    if let Some(c) = condition_block(rng, cx, 2) {
        st.insert("Condition".into(), c);
    }
    Value::Object(st)
}

fn resource_policy(rng: &mut Rng, cx: &Cx, kind: PolicyKind) -> Value {
    let mut statements = Vec::new();
    // Realistic anchors, as in the seed: the key policy's "Enable IAM User Permissions",
    // the bucket policy's VPC-endpoint deny.
    if kind == PolicyKind::Key && rng.pct(55) {
        let acct = cx.target.account.unwrap_or(A);
        statements.push(json!({
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{acct}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }));
    }
    if kind == PolicyKind::Resource && rng.pct(25) {
        let bucket = cx.target.bucket.unwrap_or("data-a");
        statements.push(json!({
            "Sid": "DenyAllExceptVPCEndpoint",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"StringNotEquals": {"aws:SourceVpce": rng.pick(&VPCES)}}
        }));
    }
    let n = rng.range(1, 3);
    for _ in 0..n {
        statements.push(resource_statement(rng, cx, kind));
    }
    let v = version(rng);
    document(rng, statements, v)
}

fn scp_level(rng: &mut Rng, cx: &Cx) -> Vec<Value> {
    let mut level = Vec::new();
    let full = rng.pct(75);
    if full {
        level.push(json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        }));
    }
    if !full || rng.pct(50) {
        level.push(identity_like_policy(rng, cx, Flavor::Scp, 2));
    }
    level
}

const RCP_ACTIONS: &[&str] = &[
    "s3:*",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "kms:*",
    "kms:Decrypt",
    "sts:AssumeRole",
    "sts:*",
];

fn rcp_policy(rng: &mut Rng, cx: &Cx) -> Value {
    let n = rng.range(1, 2);
    let mut statements = Vec::new();
    for _ in 0..n {
        let k = rng.range(1, 2);
        let actions: Vec<String> = (0..k).map(|_| rng.pick(RCP_ACTIONS).to_string()).collect();
        let mut st = Map::new();
        st.insert("Effect".into(), json!("Deny"));
        st.insert("Principal".into(), json!("*"));
        st.insert("Action".into(), one_or_many(rng, actions));
        let r = if rng.pct(70) {
            "*".to_string()
        } else {
            resource_pattern(rng, cx)
        };
        st.insert("Resource".into(), json!(r));
        let cond = if rng.pct(92) {
            condition_block(rng, cx, 2)
        } else {
            None
        };
        let cond = cond.or_else(|| {
            if rng.pct(90) {
                Some(json!({"BoolIfExists": {"aws:SecureTransport": "false"}}))
            } else {
                None
            }
        });
        if let Some(c) = cond {
            st.insert("Condition".into(), c);
        }
        statements.push(Value::Object(st));
    }
    document(rng, statements, Some("2012-10-17"))
}

// ---------------------------------------------------------------- requests

fn single(v: &str) -> ContextValue {
    ContextValue::Single(v.to_string())
}

fn request_context(
    rng: &mut Rng,
    principal: &Principal,
    target: &Target,
    action: &str,
) -> (Context, bool) {
    let mut ctx = Context::new();
    // Network origin: a VPC endpoint (aws:SourceVpce, aws:SourceVpc, no aws:SourceIp), the
    // internet (aws:SourceIp), or neither (a call AWS makes on the caller's behalf).
    let via_vpce = match rng.below(100) {
        0..=44 => {
            ctx.insert("aws:SourceVpce", single(rng.pick_str(&VPCES)));
            ctx.insert("aws:SourceVpc", single("vpc-0a1b2c3d"));
            true
        }
        45..=89 => {
            ctx.insert("aws:SourceIp", single(rng.pick_str(&IPS)));
            false
        }
        _ => false,
    };
    if rng.pct(95) {
        ctx.insert(
            "aws:SecureTransport",
            single(if rng.pct(80) { "true" } else { "false" }),
        );
    }
    ctx.insert("aws:CurrentTime", single(rng.pick_str(&TIMES)));
    if matches!(principal, Principal::User { .. }) && rng.pct(60) {
        ctx.insert(
            "aws:MultiFactorAuthPresent",
            single(if rng.pct(50) { "true" } else { "false" }),
        );
    }
    let tag_sets: [&[&str]; 5] = [
        &["team"],
        &["team", "env"],
        &["cost-center"],
        &[],
        &["Team", "env"],
    ];
    if action == "iam:TagRole" || rng.pct(8) {
        let set = rng.pick(&tag_sets);
        ctx.insert(
            "aws:TagKeys",
            ContextValue::Multi(set.iter().map(|s| s.to_string()).collect()),
        );
    }
    match target.svc {
        Svc::S3Bucket if action == "s3:ListBucket" => {
            if rng.pct(65) {
                let prefixes = [
                    "",
                    "home/alice/",
                    "home/bob/",
                    "home/carol/",
                    "reports/",
                    "Reports/",
                    "reports/*",
                ];
                ctx.insert("s3:prefix", single(rng.pick_str(&prefixes)));
            }
            if rng.pct(50) {
                ctx.insert("s3:max-keys", single(rng.pick_str(&["10", "100", "1000"])));
            }
        }
        Svc::Kms => {
            if rng.pct(50) {
                ctx.insert("kms:ViaService", single("s3.us-east-1.amazonaws.com"));
            }
            if let Some(acct) = principal_account(principal)
                && rng.pct(85)
            {
                ctx.insert("kms:CallerAccount", single(acct));
            }
        }
        Svc::StsRole if rng.pct(35) => {
            ctx.insert(
                "sts:ExternalId",
                single(rng.pick_str(&["ext-123", "ext-999"])),
            );
        }
        _ => {}
    }
    (ctx, via_vpce)
}

/// Generates case `index` of the run seeded with `seed`.
pub fn case(seed: u64, index: u64) -> Case {
    let mut rng = Rng::for_case(seed, index);
    let rng = &mut rng;
    let actors = actors();
    let all_principal_arns: Vec<String> = actors.iter().flat_map(principal_arns).collect();
    let targets = targets();

    // The caller: sessions and users most often, roots and anonymous callers now and then.
    let principal = match rng.below(100) {
        0..=39 => actors[rng.range(4, 8)].clone(),
        40..=79 => actors[rng.range(0, 3)].clone(),
        80..=92 => actors[rng.range(9, 11)].clone(),
        _ => Principal::Anonymous,
    };
    let account = principal_account(&principal).map(str::to_string);
    let anonymous = matches!(principal, Principal::Anonymous);
    let root = matches!(principal, Principal::Root { .. });

    // What it calls: about half the time something in its own account.
    let eligible: Vec<&Target> = targets
        .iter()
        .filter(|t| !anonymous || matches!(t.svc, Svc::S3Bucket | Svc::S3Object))
        .filter(|t| !(root && t.svc == Svc::StsRole))
        .collect();
    let own: Vec<&Target> = eligible
        .iter()
        .copied()
        .filter(|t| t.account.is_some() && t.account.map(str::to_string) == account)
        .collect();
    let target: Target = if !own.is_empty() && rng.pct(50) {
        (*rng.pick(&own)).clone()
    } else {
        (*rng.pick(&eligible)).clone()
    };
    let action = rng.pick(target.actions).to_string();
    let resource_account = match target.svc {
        Svc::IamAll => account.clone(),
        _ => target.account.map(str::to_string),
    };
    let (context, via_vpce) = request_context(rng, &principal, &target, &action);
    let request = Request {
        principal: principal.clone(),
        action: action.clone(),
        resource: Resource {
            arn: target.arn.clone(),
            account: resource_account,
        },
        context,
    };
    let cx = Cx {
        action,
        target: target.clone(),
        principal: principal.clone(),
        all_principal_arns,
    };

    let mut policies = CasePolicies::default();
    let is_session = matches!(principal, Principal::RoleSession { .. });
    let is_user = matches!(principal, Principal::User { .. });
    if is_session || is_user {
        let n = match rng.below(100) {
            0..=14 => 0,
            15..=64 => 1,
            65..=89 => 2,
            _ => 3,
        };
        for _ in 0..n {
            policies
                .identity
                .push(identity_like_policy(rng, &cx, Flavor::Identity, 3));
        }
        if rng.pct(28) {
            policies.boundary = Some(identity_like_policy(rng, &cx, Flavor::Boundary, 2));
        }
    }
    if is_session && rng.pct(30) {
        policies.session = Some(identity_like_policy(rng, &cx, Flavor::Session, 2));
    }
    if !anonymous && rng.pct(40) {
        let levels = rng.range(1, 3);
        for _ in 0..levels {
            policies.scps.push(scp_level(rng, &cx));
        }
    }
    let rcp_applies = matches!(
        target.svc,
        Svc::S3Bucket | Svc::S3Object | Svc::Kms | Svc::StsRole
    );
    if rcp_applies && rng.pct(35) {
        let levels = rng.range(1, 2);
        for _ in 0..levels {
            let k = rng.range(0, 2);
            policies
                .rcps
                .push((0..k).map(|_| rcp_policy(rng, &cx)).collect());
        }
    }
    let resource_kind = match target.svc {
        Svc::S3Bucket | Svc::S3Object if rng.pct(65) => Some(PolicyKind::Resource),
        Svc::Kms => Some(PolicyKind::Key),
        Svc::StsRole => Some(PolicyKind::Trust),
        _ => None,
    };
    if let Some(kind) = resource_kind {
        policies.resource = Some(ResourcePolicy {
            kind,
            policy: resource_policy(rng, &cx, kind),
        });
    }
    if via_vpce && matches!(target.svc, Svc::S3Bucket | Svc::S3Object) && rng.pct(25) {
        policies.endpoint = Some(identity_like_policy(rng, &cx, Flavor::Endpoint, 2));
    }
    Case {
        id: index,
        request,
        policies,
    }
}
