//! `airlock exec INSTANCE_ID -- COMMAND...`: runs a local command "on the instance".
//!
//! The command's environment is what a process on that EC2 instance would have: no caller
//! credentials or AWS config files, the SDKs pointed at the instance's metadata service
//! (`AWS_EC2_METADATA_SERVICE_ENDPOINT`), S3 at the gateway endpoint routed from the instance's
//! subnet when there is one (`AWS_ENDPOINT_URL_S3`), STS at an interface endpoint in its VPC
//! when there is one (`AWS_ENDPOINT_URL_STS`), and every other service at the main listener
//! (`AWS_ENDPOINT_URL`), trusting the server's local CA. The routes come from the running
//! server's `network.json`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use airlock_server::DataDir;
use airlock_server::network::NetworkRoutes;
use anyhow::{Context, bail};

/// `airlock exec` arguments.
#[derive(clap::Args)]
pub struct ExecArgs {
    /// Data directory of the running `airlock serve`.
    /// Default: $XDG_DATA_HOME/airlock or ~/.local/share/airlock.
    #[arg(long, env = "AIRLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The instance (`i-...`) to run the command on.
    pub instance_id: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Variables that would give the command credentials, a profile or endpoints of the caller's.
fn is_caller_setting(name: &str) -> bool {
    name.starts_with("AWS_")
}

/// Runs the command and returns its exit status.
pub fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(
        args.data_dir
            .unwrap_or_else(airlock_server::default_data_dir),
    );
    let info = data.running_server()?;
    let routes = NetworkRoutes::read(&data).with_context(|| {
        format!(
            "reading {}",
            airlock_server::network::network_json(&data).display()
        )
    })?;
    let Some(inst) = routes.instances.get(&args.instance_id) else {
        bail!(
            "instance {} is not running on the airlock server in {} (running: {})",
            args.instance_id,
            data.root().display(),
            if routes.instances.is_empty() {
                "none".to_string()
            } else {
                routes
                    .instances
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    };
    let (program, rest) = args
        .command
        .split_first()
        .context("no command given after --")?;
    let mut cmd = Command::new(program);
    cmd.args(rest);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(is_caller_setting) {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &inst.imds_endpoint)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4")
        .env("AWS_REGION", &inst.region)
        .env("AWS_DEFAULT_REGION", &inst.region)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CA_BUNDLE", &info.ca_bundle)
        .env("AWS_ENDPOINT_URL", &info.https_endpoint);
    for (service, url) in &inst.endpoints {
        cmd.env(
            format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase()),
            url,
        );
    }
    let status = cmd.status().with_context(|| format!("running {program}"))?;
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
