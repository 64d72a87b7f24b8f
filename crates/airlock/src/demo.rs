//! `airlock demo [--as-written] [--keep]`: the whole seed tutorial, live, in seconds, on a
//! fresh machine: an embedded local endpoint in a temporary data directory with accounts
//! 111111111111 and 222222222222, `examples/seed.toml` applied (hardened by default), the
//! prover run on the plan, the live checks and probes, and everything cleaned up unless
//! `--keep`.
//!
//! Exit codes: 0 the result is the expected one (hardened: every check passes; as-written:
//! exactly the probes the seed's design cannot pass fail), 1 otherwise, 2 an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use airlock_blueprint::Profile;
use airlock_deploy::connect::{AccountClients, ClientOptions, explicit_config};
use airlock_deploy::target::Target;
use airlock_deploy::verify::expected_failures;

use crate::progress::Progress;
use anyhow::Context as _;
use aws_credential_types::Credentials;

use crate::apply::{load_plan, local_resolver, print_step, print_summary, runtime};
use crate::destroy::print_removal;
use crate::verify::{local_instance, print_table};

/// The seed blueprint, compiled in so the demo runs from anywhere.
const SEED_TOML: &str = include_str!("../../../examples/seed.toml");

const A: (&str, &str) = ("111111111111", "account-a");
const B: (&str, &str) = ("222222222222", "account-b");

/// `airlock demo` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Apply the seed's policies exactly as written, and show which probes fail and why.
    #[arg(long)]
    pub as_written: bool,
    /// Keep the data directory (and the running setup) and print how to serve it again.
    #[arg(long)]
    pub keep: bool,
    /// Skip the prover (`check`) on the plan.
    #[arg(long)]
    pub no_check: bool,
}

/// `airlock check BLUEPRINT --hardening P` on the demo's blueprint (the prover on the plan).
fn run_check(blueprint: &Path, profile: Profile) -> anyhow::Result<ExitCode> {
    #[derive(clap::Parser)]
    struct CheckCli {
        #[command(flatten)]
        args: crate::check::Args,
    }
    let cli = <CheckCli as clap::Parser>::try_parse_from([
        std::ffi::OsStr::new("check"),
        blueprint.as_os_str(),
        std::ffi::OsStr::new("--hardening"),
        std::ffi::OsStr::new(profile.as_str()),
    ])?;
    crate::check::run(cli.args)
}

fn section(title: &str) {
    println!();
    println!("── {title}");
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let total = Instant::now();
    let profile = if args.as_written {
        Profile::AsWritten
    } else {
        Profile::Hardened
    };
    let dir = tempfile::Builder::new()
        .prefix("airlock-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let root: PathBuf = dir.path().to_path_buf();
    let blueprint = root.join("seed.toml");
    std::fs::write(&blueprint, SEED_TOML).context("writing seed.toml")?;
    let data_dir = root.join("data");
    let plan = load_plan(&blueprint, Some(profile))?;
    let state_path = airlock_deploy::state_path(&blueprint);

    println!(
        "airlock demo: the seed tutorial (cross-account secure S3), {profile} policies, on a local endpoint"
    );
    println!("  blueprint  {} (examples/seed.toml)", blueprint.display());
    println!("  data       {}", data_dir.display());

    if !args.no_check {
        section("check: the prover on the plan's policies (every possible request)");
        let started = Instant::now();
        let code = run_check(&blueprint, profile)?;
        println!(
            "  check {} ({} ms){}",
            if code == ExitCode::SUCCESS {
                "passed"
            } else {
                "reported problems"
            },
            started.elapsed().as_millis(),
            if args.as_written {
                ": the seed's policies have the flaws listed above; the live probes below show them"
            } else {
                ""
            }
        );
    }

    let rt = runtime()?;
    let outcome = rt.block_on(async {
        let mut config = airlock_server::ServeConfig::new(&data_dir);
        config.accounts = vec![
            (A.0.to_string(), A.1.to_string()),
            (B.0.to_string(), B.1.to_string()),
        ];
        let started = Instant::now();
        let server = airlock_server::Server::start(config)
            .await
            .context("starting the embedded endpoint")?;
        let info = server.info().clone();
        section(&format!(
            "serve: local endpoint {} (accounts {} and {}) in {} ms",
            info.https_endpoint,
            A.0,
            B.0,
            started.elapsed().as_millis()
        ));
        let result = demo_body(&args, &server, &plan, &blueprint, &state_path, &data_dir).await;
        // With --keep the data directory stays and `airlock serve` opens it again.
        server.shutdown().await;
        result
    });
    let outcome = outcome?;
    section("summary");
    println!("{}", outcome.summary);
    if args.keep {
        let kept = dir.keep();
        explore_kept(&kept, &data_dir, &outcome);
    } else {
        println!(
            "Everything was destroyed and {} removed; `airlock demo --keep` keeps it to explore.",
            root.display()
        );
    }
    println!("demo: {} ms in total", total.elapsed().as_millis());
    Ok(if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

struct Outcome {
    ok: bool,
    summary: String,
    instance: Option<String>,
}

async fn demo_body(
    args: &Args,
    server: &airlock_server::Server,
    plan: &airlock_blueprint::Plan,
    blueprint: &Path,
    state_path: &Path,
    data_dir: &Path,
) -> anyhow::Result<Outcome> {
    let info = server.info();
    let opts = ClientOptions {
        ca_bundles: vec![info.ca_bundle.clone()],
        record: None,
    };
    let clients = |account: &str| -> anyhow::Result<AccountClients> {
        let (_, key) = server
            .admin_keys()
            .iter()
            .find(|(a, _)| a.id == account)
            .context("administrator key missing")?;
        let creds = Credentials::new(
            &key.access_key_id,
            &key.secret_access_key,
            None,
            None,
            "airlock-demo",
        );
        let cfg = explicit_config(
            &info.region,
            Some(&info.https_endpoint),
            Some(creds),
            &opts.ca_bundles,
        )?;
        Ok(AccountClients::new(&cfg, &opts))
    };
    let target =
        Target::connect(clients(B.0)?, clients(A.0)?, Some(local_resolver(data_dir))).await?;

    section(&format!(
        "apply: {} steps in dependency order (seed Steps 1–8)",
        plan.steps.len()
    ));
    let started = Instant::now();
    let progress = Progress::start(&crate::apply::step_label(plan, 0));
    let mut done = 0;
    let applied = airlock_deploy::apply(plan, &target, state_path, &mut |s| {
        done += 1;
        progress.next(&crate::apply::step_label(plan, done));
        print_step(s)
    })
    .await;
    drop(progress);
    let applied = applied?;
    let apply_ms = started.elapsed();
    print_summary(&applied, apply_ms);

    section("apply again: idempotent");
    let started = Instant::now();
    let progress = Progress::start("apply again");
    let again = airlock_deploy::apply(plan, &target, state_path, &mut |_| {}).await;
    drop(progress);
    let again = again?;
    print_summary(&again, started.elapsed());

    let instance_id = applied
        .state
        .networks
        .iter()
        .find_map(|n| n.instance_id.clone())
        .context("no instance was launched")?;
    section(&format!(
        "verify: Phase 3 on instance {instance_id}, the checklist, and one probe per layer"
    ));
    let started = Instant::now();
    let instance = local_instance(data_dir, &instance_id, opts.clone())?;
    let progress = Progress::start("verify: running the checks and probes");
    let report = airlock_deploy::verify(plan, &target, &instance, state_path).await;
    drop(progress);
    let report = report?;
    let verify_ms = started.elapsed();
    print_table(&report);
    println!("(verify: {} ms)", verify_ms.as_millis());

    let mut expected = expected_failures(plan);
    expected.sort();
    let mut failed = report.failed_ids();
    failed.sort();
    let ok = failed == expected;
    let mut summary = format!(
        "apply {} ms, verify {} ms: {}.",
        apply_ms.as_millis(),
        verify_ms.as_millis(),
        report.summary()
    );
    if args.as_written {
        summary.push_str(&format!(
            "\nAs written, the seed's design cannot pass {} probe(s): {}.\n{}",
            expected.len(),
            expected.join(", "),
            if ok {
                "Exactly those failed, as expected: the demo exits 0. `airlock demo` (hardened) passes them all."
            } else {
                "Other checks failed than the expected ones: the demo exits 1."
            }
        ));
    } else if ok {
        summary.push_str("\nEvery layer holds: the demo exits 0.");
    } else {
        summary.push_str("\nSome checks failed: the demo exits 1.");
    }

    if !args.keep {
        section("destroy: the seed's cleanup order");
        let started = Instant::now();
        let progress = Progress::start("destroy: removing the next resource");
        let gone = airlock_deploy::destroy(plan, &target, state_path, &mut |r| {
            progress.next("destroy: removing the next resource");
            print_removal(r)
        })
        .await;
        drop(progress);
        let gone = gone?;
        println!(
            "destroy: {} resources removed ({} ms)",
            gone.removed(),
            started.elapsed().as_millis()
        );
    }
    let _ = blueprint;
    Ok(Outcome {
        ok,
        summary,
        instance: Some(instance_id),
    })
}

fn explore_kept(root: &Path, data_dir: &Path, outcome: &Outcome) {
    let data = data_dir.display();
    let bp = root.join("seed.toml");
    let bp = bp.display();
    println!(
        "Kept {} (the setup is still there). To explore:",
        root.display()
    );
    println!(
        "  airlock serve --data-dir {data}            # serve it again (same accounts, ports may change)"
    );
    println!("  # in another shell:");
    println!(
        "  export AWS_CONFIG_FILE={data}/aws/config AWS_SHARED_CREDENTIALS_FILE={data}/aws/credentials"
    );
    println!("  unset AWS_CA_BUNDLE                        # the profiles carry the local CA");
    println!(
        "  aws --profile account-b s3 ls s3://cross-account-secure-bucket-demo/   # AccessDenied: not through the VPC endpoint"
    );
    if let Some(i) = &outcome.instance {
        println!(
            "  airlock exec --data-dir {data} {i} -- aws sts get-caller-identity   # on the instance"
        );
    }
    println!(
        "  airlock verify {bp} --storage-profile account-b --consumer-profile account-a --data-dir {data}"
    );
    println!(
        "  airlock destroy {bp} --storage-profile account-b --consumer-profile account-a --data-dir {data}"
    );
}
