//! `airlock`: the command line. Each subcommand lives in its own module; this file only
//! declares them and maps outcomes to exit codes.
//!
//! Exit codes: 0 success (for `simulate`: every decision allowed or as expected), 1 a
//! negative result (a denial, a failed expectation, a violated property), 2 bad usage or input.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: `airlock serve` allocates small, short-lived
/// buffers on every request from several threads, where glibc's malloc spent about a third of
/// the server's user time (profile of the 4 KiB S3 benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod apply;
mod check;
mod demo;
mod destroy;
mod exec;
mod output;
mod plan;
mod progress;
mod reset;
mod serve;
mod simulate;
mod trail;
mod trail_validate;
mod verify;

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Cross-account AWS data sharing as software: decide, prove, serve, apply."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Decide requests against a setup document and explain each decision.
    Simulate(simulate::Args),
    /// Print every resource and policy document a blueprint asks for, per account, in step order.
    Plan(plan::Args),
    /// Prove properties of a setup over every possible request; report counterexamples and findings.
    Check(check::Args),
    /// Print a JSON Schema: the setup document (`schemas/setup.schema.json`, the default), the
    /// health document of `GET /_airlock/health` (`schemas/health.schema.json`), or a command's
    /// `--json` output (`schemas/NAME.schema.json`).
    Schema {
        /// Which document.
        #[arg(value_enum, default_value_t = SchemaKind::Setup)]
        which: SchemaKind,
    },
    /// Run the local multi-account AWS endpoint (IAM, STS, KMS, S3, EC2) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Empty the data directory of a stopped server: the next `serve` starts a fresh endpoint.
    Reset(reset::Args),
    /// Run a local command "on" an instance of the running server (its role, its VPC's endpoints).
    Exec(exec::ExecArgs),
    /// The audit trail of the running server (CloudTrail-format events).
    #[command(subcommand)]
    Trail(trail::TrailCommand),
    /// Create everything a blueprint plans, in dependency order; idempotent; corrects drift.
    Apply(apply::Args),
    /// Check the live setup: the seed's Phase 3 and checklist, plus one probe per layer.
    Verify(verify::Args),
    /// Remove everything a blueprint created, in the seed's cleanup order.
    Destroy(destroy::Args),
    /// The seed tutorial, live, in seconds: embedded endpoint, apply, check, verify, destroy.
    Demo(demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Check(args) => check::run(args),
        Command::Schema { which } => print_schema(which),
        Command::Serve(args) => serve::run(args),
        Command::Reset(args) => reset::run(args),
        Command::Exec(args) => exec::run(args),
        Command::Trail(cmd) => trail::run(cmd),
        Command::Apply(args) => apply::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Destroy(args) => destroy::run(args),
        Command::Demo(args) => demo::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("airlock: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The documents `airlock schema` describes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaKind {
    /// The setup document of `simulate` and `check`.
    Setup,
    /// The health document of `GET /_airlock/health`.
    Health,
    /// `simulate --json`.
    Simulate,
    /// `plan --json`.
    Plan,
    /// `check --json`.
    Check,
    /// `check --compare OTHER --json`.
    CheckCompare,
    /// `check --no-new-access OLD,NEW --json`.
    CheckNoNewAccess,
    /// `apply --json`.
    Apply,
    /// `verify --json`.
    Verify,
    /// `destroy --json`.
    Destroy,
}

fn print_schema(which: SchemaKind) -> anyhow::Result<ExitCode> {
    use output::JsonOutput as J;
    let output = |o: J| serde_json::to_string_pretty(&o.schema());
    let text = match which {
        SchemaKind::Setup => serde_json::to_string_pretty(&schemars::schema_for!(
            airlock_policy::setup::SetupDocument
        ))?,
        SchemaKind::Health => serde_json::to_string_pretty(&airlock_server::health::schema())?,
        SchemaKind::Simulate => output(J::Simulate)?,
        SchemaKind::Plan => output(J::Plan)?,
        SchemaKind::Check => output(J::Check)?,
        SchemaKind::CheckCompare => output(J::CheckCompare)?,
        SchemaKind::CheckNoNewAccess => output(J::CheckNoNewAccess)?,
        SchemaKind::Apply => output(J::Apply)?,
        SchemaKind::Verify => output(J::Verify)?,
        SchemaKind::Destroy => output(J::Destroy)?,
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
