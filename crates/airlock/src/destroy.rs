//! `airlock destroy BLUEPRINT`: removes what this deployment created (recorded in its state
//! file and tagged with its deployment id) in the seed's cleanup order and schedules the key's
//! deletion (7 days); lists what it left and why (another owner's, made by hand, adopted);
//! removes the state file. Idempotent.

use std::process::ExitCode;

use airlock_deploy::destroy::Removal;
use anyhow::Context as _;

use crate::apply::{Common, load_plan, runtime, target_from_profiles};

/// `airlock destroy` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One line per cleanup step.
pub fn print_removal(r: &Removal) {
    println!(
        "  ✓ {:<12}  {:<70} {:>6} ms",
        r.account,
        r.what,
        r.elapsed.as_millis()
    );
    if r.removed.is_empty() && r.left.is_empty() {
        println!("        (nothing left)");
    }
    for x in &r.removed {
        println!("        removed {x}");
    }
    for x in &r.left {
        println!("        left: {x}");
    }
}

/// Runs `airlock destroy`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = load_plan(&args.common.blueprint, args.common.hardening.get())?;
    let state = airlock_deploy::state_path(&args.common.blueprint);
    let rt = runtime()?;
    rt.block_on(async {
        let target = target_from_profiles(&args.common).await?;
        let json = args.json;
        let progress = crate::progress::Progress::start("destroy: removing the next resource");
        let report = airlock_deploy::destroy(&plan, &target, &state, &mut |r| {
            progress.next("destroy: removing the next resource");
            if !json {
                print_removal(r)
            }
        })
        .await
        .context("destroy stopped; run it again to continue")?;
        drop(progress);
        if json {
            crate::output::JsonOutput::Destroy.print(&report)?;
        } else {
            let left = report.left();
            if left.is_empty() {
                println!("destroy: {} resources removed", report.removed());
            } else {
                println!(
                    "destroy: {} resources removed, {} left (not this deployment's to delete; \
                     listed above)",
                    report.removed(),
                    left.len()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
