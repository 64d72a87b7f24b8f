//! `airlock trail ...`: the audit trail of a running server.
//!
//! `trail tail` follows the events of one account live: one compact line per event (time,
//! principal, action, resource, decision, endpoint), with the policy engine's explanation
//! beside each denial; `--json` prints the raw CloudTrail records, one per line.
//!
//! How it reads: `LookupEvents` shows management events only, so `tail` uses airlock's own
//! extension operation `AirlockTailEvents` on the CloudTrail endpoint: a SigV4-signed call,
//! authenticated with the account's credentials (the profile airlock wrote to
//! `DATA_DIR/aws/credentials`) and authorized by the engine as `cloudtrail:LookupEvents`,
//! that returns every event of the caller's account (data events too) after a cursor. It
//! goes to the server's plain-HTTP listener on loopback.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use airlock_server::DataDir;
use airlock_server::client::{ClientCredentials, call_json};
use airlock_server::services::cloudtrail::{TAIL_OPERATION, TARGET_PREFIX};
use anyhow::{Context, bail};
use serde_json::{Value, json};

/// `airlock trail` subcommands.
#[derive(clap::Subcommand)]
pub enum TrailCommand {
    /// Follow the events of an account live (compact lines, or `--json` records).
    Tail(TailArgs),
    /// Validate a trail's log files with its signed digest files, like
    /// `aws cloudtrail validate-logs`: valid, modified, deleted and missing files.
    Validate(crate::trail_validate::ValidateArgs),
}

/// `airlock trail tail` arguments.
#[derive(clap::Args)]
pub struct TailArgs {
    /// Data directory of the running `airlock serve`.
    /// Default: $XDG_DATA_HOME/airlock or ~/.local/share/airlock.
    #[arg(long, env = "AIRLOCK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The AWS CLI profile (in DATA_DIR/aws/credentials) whose account to follow.
    #[arg(long, conflicts_with = "account")]
    pub profile: Option<String>,
    /// The account (12 digits or alias) to follow, with its administrator credentials.
    #[arg(long)]
    pub account: Option<String>,
    /// The server's plain-HTTP endpoint (default: from DATA_DIR/server.json).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Print raw CloudTrail records, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Start with the events already recorded instead of only new ones.
    #[arg(long)]
    pub from_start: bool,
    /// Stop after this many events (default: follow until interrupted).
    #[arg(long)]
    pub count: Option<usize>,
    /// Polling interval in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
}

/// Runs a `trail` subcommand.
pub fn run(cmd: TrailCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TrailCommand::Tail(args) => tail(args),
        TrailCommand::Validate(args) => crate::trail_validate::run(args),
    }
}

/// The credentials of `profile` in an AWS CLI credentials file.
fn profile_credentials(text: &str, profile: &str) -> Option<ClientCredentials> {
    let mut current = None::<String>;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            continue;
        }
        if current.as_deref() != Some(profile) {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(ClientCredentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

fn tail(args: TailArgs) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(
        args.data_dir
            .clone()
            .unwrap_or_else(airlock_server::default_data_dir),
    );
    let info = data.running_server()?;
    let endpoint = args.endpoint.clone().unwrap_or(info.http_endpoint.clone());
    let profile = match (&args.profile, &args.account) {
        (Some(p), _) => p.clone(),
        (None, Some(a)) => {
            let Some(acct) = info.accounts.iter().find(|x| &x.id == a || &x.alias == a) else {
                bail!("the server serves no account {a}");
            };
            if info.accounts.first().is_some_and(|f| f.id == acct.id) {
                "default".to_string()
            } else {
                acct.alias.clone()
            }
        }
        (None, None) => "default".to_string(),
    };
    let text = std::fs::read_to_string(&info.aws_shared_credentials_file)
        .with_context(|| format!("reading {}", info.aws_shared_credentials_file.display()))?;
    let Some(creds) = profile_credentials(&text, &profile) else {
        bail!(
            "no credentials for profile {profile} in {}",
            info.aws_shared_credentials_file.display()
        );
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(follow(&args, &endpoint, &info.region, &creds))
}

async fn follow(
    args: &TailArgs,
    endpoint: &str,
    region: &str,
    creds: &ClientCredentials,
) -> anyhow::Result<ExitCode> {
    let target = format!("{TARGET_PREFIX}{TAIL_OPERATION}");
    let call = |body: Value| {
        let target = target.clone();
        async move { call_json(endpoint, region, "cloudtrail", &target, creds, &body).await }
    };
    let mut cursor = if args.from_start {
        0
    } else {
        let v = call(json!({"FromEnd": true})).await?;
        v["Cursor"].as_u64().unwrap_or(0)
    };
    eprintln!("airlock: following events (Ctrl-C to stop)");
    let mut shown = 0usize;
    loop {
        let v = call(json!({"After": cursor, "Limit": 500})).await?;
        if let Some(c) = v["Cursor"].as_u64() {
            cursor = cursor.max(c);
        }
        for e in v["Events"].as_array().into_iter().flatten() {
            if args.json {
                println!("{}", e["Record"]);
            } else {
                println!("{}", compact(&e["Record"], &e["Explanation"]));
            }
            shown += 1;
            if args.count.is_some_and(|n| shown >= n) {
                return Ok(ExitCode::SUCCESS);
            }
        }
        tokio::time::sleep(Duration::from_millis(args.interval_ms.max(10))).await;
    }
}

/// `TIME PRINCIPAL ACTION RESOURCE DECISION ENDPOINT [-- explanation]`.
fn compact(r: &Value, explanation: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let u = &r["userIdentity"];
    let mut principal = u["arn"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}:{}", s(&u["type"]), s(&u["accountId"])));
    if let Some(by) = u["invokedBy"].as_str() {
        principal.push_str(&format!(" (via {by})"));
    }
    let service = s(&r["eventSource"]);
    let action = format!(
        "{}:{}",
        service.strip_suffix(".amazonaws.com").unwrap_or(&service),
        s(&r["eventName"])
    );
    let resource = r["resources"][0]["ARN"].as_str().unwrap_or("-").to_string();
    let decision = match r["errorCode"].as_str() {
        None => "allow".to_string(),
        Some(c) if c.starts_with("AccessDenied") => format!("deny({c})"),
        Some(c) => format!("error({c})"),
    };
    let endpoint = r["vpcEndpointId"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| s(&r["sourceIPAddress"]));
    let mut line = format!(
        "{} {principal} {action} {resource} {decision} {endpoint} -> {}",
        s(&r["eventTime"]),
        s(&r["recipientAccountId"])
    );
    if let Some(why) = explanation["summary"].as_str() {
        line.push_str(&format!("  -- {why}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles() {
        let text = "# c\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n[account-b]\naws_access_key_id=AKIA2\naws_secret_access_key=s2\n";
        assert_eq!(
            profile_credentials(text, "account-b")
                .unwrap()
                .access_key_id,
            "AKIA2"
        );
        assert!(profile_credentials(text, "nope").is_none());
    }

    #[test]
    fn compact_line_shows_denial_and_endpoint() {
        let r = json!({"eventTime": "2026-11-30T02:00:00Z", "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/R/s"},
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "resources": [{"ARN": "arn:aws:s3:::b/k"}],
            "errorCode": "AccessDenied", "vpcEndpointId": "vpce-1", "recipientAccountId": "1"});
        let line = compact(
            &r,
            &json!({"summary": "implicit deny: no statement allows"}),
        );
        assert_eq!(
            line,
            "2026-11-30T02:00:00Z arn:aws:sts::1:assumed-role/R/s s3:GetObject arn:aws:s3:::b/k deny(AccessDenied) vpce-1 -> 1  -- implicit deny: no statement allows"
        );
    }
}
