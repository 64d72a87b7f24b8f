//! Benchmark: each default property of the seed's literal setup, the whole seed (properties and
//! findings), and the same solver queries through Z3 (z3-solver in target/venv) in the same run,
//! with the ratio. Targets: < 50 ms per property, < 1 s for the whole seed.
//!
//! Run: `cargo bench -p airlock-prove --bench prove`.

#[path = "../tests/common/z3.rs"]
mod z3;

use std::time::Instant;

use airlock_policy::setup::Setup;
use airlock_prove::check::{CheckOptions, Checker};
use airlock_prove::report::{default_properties, run};
use criterion::{Criterion, criterion_group, criterion_main};

fn seed() -> Setup {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed-as-written.json"
    ))
    .expect("seed setup");
    Setup::from_json(&text).expect("valid seed")
}

fn bench(c: &mut Criterion) {
    let setup = seed();
    let props = default_properties(&setup);
    let mut g = c.benchmark_group("seed");
    for (i, p) in props.iter().enumerate() {
        let name = format!("{i}:{}", p.display().chars().take(60).collect::<String>());
        g.bench_function(&name, |b| {
            b.iter(|| {
                let mut ch = Checker::new(&setup, CheckOptions::default());
                ch.check(p)
            })
        });
    }
    g.bench_function("whole seed (properties + findings)", |b| {
        b.iter(|| run(&setup, "seed", &[], true))
    });
    g.finish();

    // Our time per property (mean of 20 warm runs) against Z3 on the same queries.
    println!("\nproperty | airlock ms | queries | z3 ms (same queries) | z3 / airlock");
    let mut tot_ours = 0.0;
    let mut tot_z3 = 0.0;
    for p in &props {
        let mut ch = Checker::new(&setup, CheckOptions { record: true });
        let _ = ch.check(p);
        let queries: Vec<String> = ch.recorded.iter().map(|q| q.smtlib.clone()).collect();
        let ours_sat: Vec<bool> = ch.recorded.iter().map(|q| q.sat).collect();
        let n = 20;
        let t0 = Instant::now();
        for _ in 0..n {
            let mut ch = Checker::new(&setup, CheckOptions::default());
            let _ = ch.check(p);
        }
        let ours = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
        let (verdicts, z3_secs) = if queries.is_empty() {
            (Vec::new(), 0.0)
        } else {
            z3::decide_with(&queries, 96, 5_000)
        };
        for (v, o) in verdicts.iter().zip(&ours_sat) {
            assert!(
                v.result == "unknown"
                    || (v.result == "sat") == *o
                    || (v.result == "bounded-unsat" && !*o),
                "Z3 disagrees on a query of {}",
                p.display()
            );
        }
        let z3_ms = z3_secs * 1000.0;
        tot_ours += ours;
        tot_z3 += z3_ms;
        println!(
            "{} | {ours:.2} | {} | {z3_ms:.2} | {:.1}x",
            p.display(),
            queries.len(),
            if ours > 0.0 { z3_ms / ours } else { 0.0 }
        );
    }
    println!(
        "all properties | {tot_ours:.2} | | {tot_z3:.2} | {:.1}x",
        tot_z3 / tot_ours.max(1e-9)
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
