//! The airlock command line.

mod serve;

use clap::{Parser, Subcommand};

/// airlock: AWS cross-account security, decided exactly like AWS, provable, and runnable locally.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local multi-account AWS endpoint (IAM, STS).
    Serve(serve::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
    }
}
