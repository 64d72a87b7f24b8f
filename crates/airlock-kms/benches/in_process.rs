//! The in-process path S3 uses for SSE-KMS: `GenerateDataKey` + `Decrypt` pairs on behalf of a
//! caller, with full authorization (cross-account role session, the seed's key policy, IAM
//! policy, `kms:ViaService`, encryption context `aws:s3:arn`).
//!
//! `cargo bench -p airlock-kms --bench in_process`; a pair per iteration, so elements/s is
//! pairs/s on one core.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use airlock_kms::{
    Caller, CreateKeyInput, DecryptInput, GenerateDataKeyInput, Kms, MasterKey, SystemClock,
};
use airlock_policy::{
    Context, ContextValue, NamedPolicy, Policy, PolicyId, PolicyKind, PolicySet, Principal,
};
use airlock_store::RedbStore;
use criterion::{Criterion, Throughput, criterion_group};

const SEED_KEY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow Account A to use the key", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
     "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], "Resource": "*"}
  ]
}"#;

fn identity(json: &str) -> NamedPolicy {
    NamedPolicy {
        id: PolicyId {
            kind: PolicyKind::Identity,
            name: "role/inline/S3AndKMSAccess".into(),
        },
        policy: Arc::new(Policy::parse(json, PolicyKind::Identity).unwrap()),
    }
}

fn setup() -> (Kms, String, Caller, Caller) {
    let kms = Kms::open(
        Arc::new(RedbStore::in_memory().unwrap()),
        MasterKey::generate(),
        "us-east-1",
        Arc::new(SystemClock),
    )
    .unwrap();
    let b_root = Caller::new(
        Principal::Root {
            account: "222222222222".into(),
        },
        PolicySet::default(),
        Context::new(),
    );
    let key = kms
        .create_key(
            &b_root,
            CreateKeyInput {
                policy: Some(SEED_KEY_POLICY.into()),
                ..Default::default()
            },
        )
        .unwrap();
    kms.create_alias(&b_root, "alias/cross-account-s3-key", &key.key_id)
        .unwrap();
    let role_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"S3BucketAccess","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
          "Resource":["arn:aws:s3:::cross-account-secure-bucket-demo","arn:aws:s3:::cross-account-secure-bucket-demo/*"]}},
        {{"Sid":"KMSKeyAccess","Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey","kms:DescribeKey"],
          "Resource":"{}"}}]}}"#,
        key.arn
    );
    let mut context = Context::new();
    context.insert("aws:SecureTransport", ContextValue::Single("true".into()));
    context.insert("aws:SourceIp", ContextValue::Single("10.0.1.25".into()));
    context.insert(
        "aws:SourceVpce",
        ContextValue::Single("vpce-1a2b3c4d".into()),
    );
    // Account A's role session, S3 calling KMS on its behalf (cross-account).
    let a_role = Caller::new(
        Principal::RoleSession {
            account: "111111111111".into(),
            role_name: "EC2CrossAccountAssumeRole".into(),
            role_path: "/".into(),
            role_id: "AROAEXAMPLEROLEID001".into(),
            session_name: "i-0123456789abcdef0".into(),
            tags: BTreeMap::new(),
            source_identity: None,
        },
        PolicySet {
            identity: vec![identity(&role_policy)],
            ..PolicySet::default()
        },
        context,
    )
    .via_service("s3.us-east-1.amazonaws.com");
    (
        kms,
        key.arn,
        a_role,
        b_root.via_service("s3.us-east-1.amazonaws.com"),
    )
}

fn pair(kms: &Kms, caller: &Caller, key: &str, ec: &airlock_kms::EncryptionContext) {
    let dk = kms
        .generate_data_key(
            caller,
            &GenerateDataKeyInput {
                key_id: key.to_string(),
                encryption_context: ec.clone(),
                key_spec: Some("AES_256".into()),
                number_of_bytes: None,
            },
        )
        .unwrap();
    let back = kms
        .decrypt(
            caller,
            &DecryptInput {
                ciphertext_blob: dk.ciphertext_blob,
                encryption_context: ec.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    black_box(back);
}

fn bench(c: &mut Criterion) {
    let (kms, key, a_role, b_root) = setup();
    let ec: airlock_kms::EncryptionContext = [(
        "aws:s3:arn".to_string(),
        "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt".to_string(),
    )]
    .into();
    let mut g = c.benchmark_group("kms_in_process");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generate_data_key+decrypt/cross-account-role-via-s3", |b| {
        b.iter(|| pair(&kms, &a_role, &key, &ec))
    });
    g.bench_function("generate_data_key+decrypt/owner-root-via-s3", |b| {
        b.iter(|| pair(&kms, &b_root, &key, &ec))
    });
    g.finish();
}

/// CPU time of the calling thread in nanoseconds (Linux: /proc/thread-self/schedstat), so that
/// the rate per core is measured even when other processes share the machine.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Pairs per second of wall time and per second of this thread's CPU time.
fn cpu_report() {
    let (kms, key, a_role, _) = setup();
    let ec: airlock_kms::EncryptionContext = [(
        "aws:s3:arn".to_string(),
        "arn:aws:s3:::cross-account-secure-bucket-demo/test-file.txt".to_string(),
    )]
    .into();
    for _ in 0..20_000 {
        pair(&kms, &a_role, &key, &ec);
    }
    let n = 200_000u64;
    let (wall, cpu0) = (std::time::Instant::now(), thread_cpu_ns());
    for _ in 0..n {
        pair(&kms, &a_role, &key, &ec);
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu0.zip(thread_cpu_ns()).map(|(a, b)| (b - a) as f64 / 1e9);
    println!(
        "kms in-process GenerateDataKey+Decrypt (cross-account role via S3): {n} pairs, \
         {:.0} pairs/s wall, {} pairs/s per CPU-second",
        n as f64 / wall,
        cpu.map(|c| format!("{:.0}", n as f64 / c))
            .unwrap_or_else(|| "n/a".into())
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    cpu_report();
}
