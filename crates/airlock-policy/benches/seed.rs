//! Speed of the engine on the seed's policy set (issue 2, "Speed"): decisions per second for
//! every request of the seed's Phase 3 and checklist against the seed's literal policies, and
//! the parse time of a ~10 KiB policy.
//!
//! `cargo bench -p airlock-policy --bench seed` prints criterion's figures and, at the end, a
//! summary line with decisions per second on one core.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use airlock_policy::{Policy, PolicyKind, evaluate};
use criterion::{Criterion, Throughput, criterion_group};

/// A ~10 KiB identity policy: many statements with actions, resources and conditions of
/// every family, the size of a large real-world managed policy.
fn ten_kib_policy() -> String {
    let mut statements = Vec::new();
    let mut i = 0;
    loop {
        statements.push(format!(
            r#"{{"Sid": "Stmt{i}", "Effect": "{effect}", "Action": ["s3:GetObject", "s3:PutObject", "s3:List*", "kms:Decrypt"],
  "Resource": ["arn:aws:s3:::bucket-{i}/*", "arn:aws:s3:::bucket-{i}", "arn:aws:kms:us-east-1:222222222222:key/{i}"],
  "Condition": {{"StringEquals": {{"aws:SourceVpce": ["vpce-{i}", "vpce-x"]}}, "IpAddress": {{"aws:SourceIp": "10.{i}.0.0/16"}},
                 "DateLessThan": {{"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, "Bool": {{"aws:SecureTransport": true}}}}}}"#,
            effect = if i % 5 == 4 { "Deny" } else { "Allow" },
        ));
        i += 1;
        let doc = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
            statements.join(",\n")
        );
        if doc.len() >= 10 * 1024 {
            return doc;
        }
    }
}

fn bench(c: &mut Criterion) {
    let seed = common::Seed::load();
    let cases = common::checklist(&seed);
    for (name, request, policies, expected) in &cases {
        assert_eq!(evaluate(request, policies).decision, *expected, "{name}");
    }

    let mut group = c.benchmark_group("seed");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("checklist", |b| {
        b.iter(|| {
            for (_, request, policies, _) in &cases {
                black_box(evaluate(black_box(request), black_box(policies)));
            }
        })
    });
    group.finish();

    let doc = ten_kib_policy();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(doc.len() as u64));
    group.bench_function("10KiB", |b| {
        b.iter(|| Policy::parse(black_box(&doc), PolicyKind::Identity).expect("valid"))
    });
    group.finish();
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux). The machine is
/// shared, so wall time includes time other processes ran; CPU time is what "per core" means.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` and returns (wall time, CPU time if known).
fn timed(f: impl FnOnce()) -> (Duration, Option<Duration>) {
    let cpu0 = thread_cpu_time();
    let start = Instant::now();
    f();
    let wall = start.elapsed();
    let cpu = thread_cpu_time()
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a));
    (wall, cpu)
}

/// A plain timing loop after criterion, printed as lines that reports can quote.
fn summary() {
    let seed = common::Seed::load();
    let cases = common::checklist(&seed);
    let rounds = 200_000;
    let (wall, cpu) = timed(|| {
        for _ in 0..rounds {
            for (_, request, policies, _) in &cases {
                black_box(evaluate(black_box(request), black_box(policies)));
            }
        }
    });
    let decisions = (rounds * cases.len()) as f64;
    println!(
        "summary: {decisions} decisions ({} requests of the seed checklist): {:.0} decisions/s of CPU time on one core ({:.0}/s wall clock, {wall:.2?})",
        cases.len(),
        cpu.map_or(f64::NAN, |c| decisions / c.as_secs_f64()),
        decisions / wall.as_secs_f64(),
    );
    let doc = ten_kib_policy();
    let rounds = 2_000u32;
    let (wall, cpu) = timed(|| {
        for _ in 0..rounds {
            black_box(Policy::parse(black_box(&doc), PolicyKind::Identity).expect("valid"));
        }
    });
    println!(
        "summary: parse of a {} byte policy: {:.2?} of CPU time per parse ({:.2?} wall clock)",
        doc.len(),
        cpu.map_or(Duration::ZERO, |c| c / rounds),
        wall / rounds,
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
