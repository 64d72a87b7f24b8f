//! `airlock verify BLUEPRINT`: the seed's Phase 3 and checklist, live, plus negative probes
//! per layer; a table (check, expected, got, why) ending with `N passed, N failed, N skipped`
//! (a skipped check could not run: a parameter is missing; it neither passes nor fails).
//!
//! Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or input.

use std::process::ExitCode;

use airlock_deploy::connect::{ClientOptions, load_profile};
use airlock_deploy::verify::{InstanceSide, Status, VerifyReport, instance_from_imds};
use anyhow::{Context as _, bail};

use crate::apply::{Common, load_plan, runtime, target_from_profiles};

/// `airlock verify` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Real AWS: the profile with the instance role's credentials (what the instance gets
    /// from its metadata service). Locally the instance's own metadata service is used.
    #[arg(long)]
    pub instance_profile: Option<String>,
    /// Real AWS: the S3 endpoint URL as the instance reaches it (default: the SDK's, which
    /// the VPC's route table sends to the gateway endpoint).
    #[arg(long)]
    pub instance_s3_endpoint: Option<String>,
    /// Real AWS: a plain-HTTP S3 URL as the instance reaches it, for the TLS probe.
    #[arg(long)]
    pub instance_s3_http_endpoint: Option<String>,
    /// Locally: the instance to run the instance-side checks on (default: the one in the
    /// state file).
    #[arg(long)]
    pub instance: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The instance side on the local endpoint, as `airlock exec` maps it.
pub fn local_instance(
    data_dir: &std::path::Path,
    instance_id: &str,
    options: ClientOptions,
) -> anyhow::Result<InstanceSide> {
    let data = airlock_server::DataDir::new(data_dir);
    let info = data.running_server()?;
    let routes = airlock_server::network::NetworkRoutes::read(&data)
        .with_context(|| format!("reading network.json in {}", data_dir.display()))?;
    let Some(inst) = routes.instances.get(instance_id) else {
        bail!(
            "instance {instance_id} is not running on the airlock server in {}",
            data_dir.display()
        );
    };
    let s3 = inst.endpoints.get("s3").cloned();
    let http = s3.as_ref().and_then(|u| {
        routes
            .vpc_endpoints
            .values()
            .find(|e| &e.https == u)
            .map(|e| e.http.clone())
    });
    let sts = inst
        .endpoints
        .get("sts")
        .cloned()
        .unwrap_or_else(|| info.https_endpoint.clone());
    let mut options = options;
    options.ca_bundles.push(info.ca_bundle.clone());
    Ok(instance_from_imds(
        &inst.imds_endpoint,
        &inst.region,
        &sts,
        s3,
        http,
        options,
    )?)
}

/// Prints the table and the summary line.
pub fn print_table(r: &VerifyReport) {
    for c in &r.checks {
        let mark = match c.status {
            Status::Passed => "✓",
            Status::Failed => "✗",
            Status::Skipped => "-",
        };
        println!("  {mark} {:<26} {}", c.id, c.check);
        println!("      expected: {}", c.expected);
        println!("      got:      {}", c.got);
        println!("      why:      {}", c.why);
    }
    println!("{}", r.summary());
}

/// Runs `airlock verify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&args.common.blueprint, args.common.hardening.get())?;
    let state_path = airlock_deploy::state_path(&args.common.blueprint);
    let rt = runtime()?;
    rt.block_on(async {
        let target = target_from_profiles(&args.common).await?;
        let options = ClientOptions {
            ca_bundles: args.common.ca_bundle.clone(),
            record: None,
        };
        let instance = match (&args.instance_profile, &args.common.data_dir) {
            (Some(p), _) => InstanceSide {
                config: load_profile(p, &options).await?,
                s3_endpoint: args.instance_s3_endpoint.clone(),
                s3_http_endpoint: args.instance_s3_http_endpoint.clone(),
                options,
            },
            (None, Some(dir)) => {
                let id = match &args.instance {
                    Some(i) => i.clone(),
                    None => airlock_deploy::State::read(&state_path)?
                        .and_then(|s| s.networks.iter().find_map(|n| n.instance_id.clone()))
                        .context("no instance in the state file: run apply first, or pass --instance")?,
                };
                local_instance(dir, &id, options)?
            }
            (None, None) => bail!(
                "verify needs the instance side: --data-dir of the local endpoint, or --instance-profile (and --instance-s3-endpoint) on AWS"
            ),
        };
        let progress = crate::progress::Progress::start("verify: running the checks and probes");
        let report = airlock_deploy::verify(&plan, &target, &instance, &state_path).await;
        drop(progress);
        let report = report?;
        if args.json {
            crate::output::JsonOutput::Verify.print(&report)?;
        } else {
            print_table(&report);
        }
        Ok(if report.failed() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
