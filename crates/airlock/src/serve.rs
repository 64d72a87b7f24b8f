//! `airlock serve`: the local multi-account AWS endpoint.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

/// Arguments of `airlock serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (state, TLS CA, AWS CLI files, server.json).
    /// Default: $XDG_DATA_HOME/airlock or ~/.local/share/airlock.
    #[arg(long, env = "AIRLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Plain-HTTP port (0 picks a free port; see server.json).
    #[arg(long, default_value_t = 4566)]
    pub port: u16,
    /// HTTPS port (0 picks a free port; see server.json).
    #[arg(long, default_value_t = 4567)]
    pub tls_port: u16,
    /// Address to listen on. Loopback by default: the endpoint is for this machine.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// An account to create on first start, as ID=ALIAS (12-digit id); repeatable.
    #[arg(long = "account", value_name = "ID=ALIAS", value_parser = parse_account)]
    pub accounts: Vec<(String, String)>,
    /// Default region written to the AWS CLI config.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Address of the VPC endpoint and instance metadata listeners. Loopback by default,
    /// whatever --bind says: a metadata service hands its instance role's credentials to
    /// anyone who reaches it.
    #[arg(long, default_value = "127.0.0.1")]
    pub network_bind: IpAddr,
    /// Open connections over all listeners; more are closed at accept (lowered to fit the
    /// open-files limit).
    #[arg(long, default_value_t = airlock_server::Limits::default().max_connections)]
    pub max_connections: usize,
    /// Open connections from one client address over all listeners.
    #[arg(long, default_value_t = airlock_server::Limits::default().max_connections_per_client)]
    pub max_connections_per_client: usize,
    /// Seconds a client has to send a request's head; also how long an idle connection is
    /// kept open.
    #[arg(long, default_value_t = airlock_server::Limits::default().header_read_timeout.as_secs_f64(), value_parser = parse_seconds)]
    pub header_read_timeout: f64,
    /// Seconds of silence allowed within a request body (then `RequestTimeout`).
    #[arg(long, default_value_t = airlock_server::Limits::default().body_read_timeout.as_secs_f64(), value_parser = parse_seconds)]
    pub body_read_timeout: f64,
    /// Give each account's `admin` user a well-known, public access key (for CI jobs that
    /// hard-code it): `AKIAAIRL` + the account id with each digit as a letter (0=A ... 9=J),
    /// secret `airlock/public/ACCOUNT_ID/not/a/secret`. Created or reactivated at start.
    #[arg(long, env = "AIRLOCK_FIXED_CREDENTIALS", value_parser = clap::builder::BoolishValueParser::new())]
    pub fixed_credentials: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400"
        )),
    }
}

fn parse_account(s: &str) -> Result<(String, String), String> {
    let (id, alias) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=ALIAS, got `{s}`"))?;
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("account id `{id}` must be 12 digits"));
    }
    if alias.is_empty()
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "alias `{alias}` must be letters, digits, `-` or `_`"
        ));
    }
    Ok((id.to_string(), alias.to_string()))
}

/// Runs the endpoint until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data_dir = args
        .data_dir
        .unwrap_or_else(airlock_server::default_data_dir);
    let mut config = airlock_server::ServeConfig::new(&data_dir);
    config.bind = args.bind;
    config.port = args.port;
    config.tls_port = args.tls_port;
    config.accounts = args.accounts;
    config.region = args.region;
    config.network_bind = args.network_bind;
    config.fixed_credentials = args.fixed_credentials;
    config.limits = airlock_server::Limits {
        max_connections: args.max_connections.max(1),
        max_connections_per_client: args.max_connections_per_client.max(1),
        header_read_timeout: std::time::Duration::from_secs_f64(args.header_read_timeout),
        body_read_timeout: std::time::Duration::from_secs_f64(args.body_read_timeout),
        ..airlock_server::Limits::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let server = match airlock_server::Server::start(config).await {
            Ok(s) => s,
            // The port and its flag say it all; nothing was created.
            Err(e @ airlock_server::ServeError::Bind { .. }) => return Err(e.into()),
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot serve from {}", data_dir.display())));
            }
        };
        let info = server.info().clone();
        println!("airlock serve: ready");
        println!("  HTTP   {}", info.http_endpoint);
        println!(
            "  HTTPS  {}   (CA: {})",
            info.https_endpoint,
            info.ca_bundle.display()
        );
        for a in &info.accounts {
            if args.fixed_credentials {
                let (key, secret) = airlock_server::fixed_credentials(&a.id);
                println!(
                    "  account {} (profile {}; public fixed key {key} / {secret})",
                    a.id, a.alias
                );
            } else {
                println!("  account {} (profile {})", a.id, a.alias);
            }
        }
        println!();
        println!("Use it with the AWS CLI:");
        println!(
            "  export AWS_CONFIG_FILE={}",
            info.aws_config_file.display()
        );
        println!(
            "  export AWS_SHARED_CREDENTIALS_FILE={}",
            info.aws_shared_credentials_file.display()
        );
        if let Some(a) = info.accounts.first() {
            println!("  aws --profile {} sts get-caller-identity", a.alias);
        }
        if std::env::var_os("AWS_CA_BUNDLE").is_some() {
            println!(
                "  note: AWS_CA_BUNDLE is set and overrides the profiles' ca_bundle: unset it, \
                 or pass --ca-bundle {}",
                info.ca_bundle.display()
            );
        }
        println!(
            "Other tools find the server through {}",
            server.data_dir().server_json().display()
        );
        wait_for_signal().await;
        eprintln!("airlock serve: shutting down");
        server.shutdown().await;
        anyhow::Ok(std::process::ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
