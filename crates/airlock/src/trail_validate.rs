//! `airlock trail validate`: log file integrity validation of a trail, like
//! `aws cloudtrail validate-logs`, through the AWS APIs (CloudTrail `DescribeTrails` and
//! `ListPublicKeys`, S3 `ListObjects` and `GetObject`) with aws-sdk-rust, so it validates
//! files on AWS as well as on a local airlock endpoint.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use airlock_cloudtrail::digest::PublicKeyInfo;
use airlock_cloudtrail::validate::{Fetched, Request, Source, parse_time, parse_trail_arn};
use anyhow::{Context as _, anyhow, bail};
use aws_config::{BehaviorVersion, Region};

/// Options of `airlock trail validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The trail's ARN (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`).
    #[arg(long = "trail", alias = "trail-arn")]
    pub trail: String,
    /// Validate files delivered on or after this UTC time (`2026-01-08T05:21:42Z`; default:
    /// 24 hours before the end time).
    #[arg(long)]
    pub start_time: Option<String>,
    /// ... and on or before this time (default: now).
    #[arg(long)]
    pub end_time: Option<String>,
    /// The AWS CLI profile whose credentials, region and `endpoint_url` are used.
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Endpoint of every service (overrides the profile's `endpoint_url`).
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// CA bundle to trust for HTTPS (default: the profile's `ca_bundle`, else `AWS_CA_BUNDLE`).
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,
    /// Region whose files are validated (default: the trail's home region).
    #[arg(long)]
    pub region: Option<String>,
    /// Bucket of the digest files (default: the trail's, from `DescribeTrails`).
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Key prefix of the digest files (default: the trail's).
    #[arg(long)]
    pub s3_prefix: Option<String>,
    /// Print every valid file too.
    #[arg(long)]
    pub verbose: bool,
}

/// Reads `ca_bundle` of a profile from the AWS CLI config file.
fn profile_ca_bundle(profile: Option<&str>) -> Option<PathBuf> {
    let file = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/config")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let header = match profile {
        None | Some("default") => "[default]".to_string(),
        Some(p) => format!("[profile {p}]"),
    };
    let mut inside = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            inside = l == header;
            continue;
        }
        if inside
            && let Some((k, v)) = l.split_once('=')
            && k.trim() == "ca_bundle"
        {
            return Some(PathBuf::from(v.trim()));
        }
    }
    None
}

struct Aws {
    s3: aws_sdk_s3::Client,
    cloudtrail: aws_sdk_cloudtrail::Client,
}

fn ms_to_datetime(ms: i64) -> aws_sdk_cloudtrail::primitives::DateTime {
    aws_sdk_cloudtrail::primitives::DateTime::from_millis(ms)
}

impl Source for Aws {
    async fn public_keys(&self, start_ms: i64, end_ms: i64) -> Result<Vec<PublicKeyInfo>, String> {
        let out = self
            .cloudtrail
            .list_public_keys()
            .start_time(ms_to_datetime(start_ms))
            .end_time(ms_to_datetime(end_ms))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ListPublicKeys: {}",
                    aws_sdk_cloudtrail::error::DisplayErrorContext(e)
                )
            })?;
        Ok(out
            .public_key_list()
            .iter()
            .map(|k| PublicKeyInfo {
                value: k.value().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
                validity_start_ms: k
                    .validity_start_time()
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or(0),
                validity_end_ms: k
                    .validity_end_time()
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or(0),
                fingerprint: k.fingerprint().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn list(&self, bucket: &str, prefix: &str, marker: &str) -> Result<Vec<String>, String> {
        let mut keys = Vec::new();
        let mut marker = marker.to_string();
        loop {
            let out = self
                .s3
                .list_objects()
                .bucket(bucket)
                .prefix(prefix)
                .marker(&marker)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "ListObjects s3://{bucket}/{prefix}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    )
                })?;
            let page: Vec<String> = out
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect();
            let truncated = out.is_truncated().unwrap_or(false);
            match page.last() {
                Some(last) if truncated => marker = last.clone(),
                _ => {
                    keys.extend(page);
                    return Ok(keys);
                }
            }
            keys.extend(page);
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Fetched>, String> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => {
                let metadata: HashMap<String, String> = out.metadata().cloned().unwrap_or_default();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| format!("GetObject s3://{bucket}/{key}: {e}"))?
                    .into_bytes()
                    .to_vec();
                Ok(Some(Fetched { body, metadata }))
            }
            Err(e) => {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    Ok(None)
                } else {
                    Err(format!(
                        "GetObject s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                }
            }
        }
    }
}

async fn clients(args: &ValidateArgs, home_region: &str) -> anyhow::Result<Aws> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = &args.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let ca = args
        .ca_bundle
        .clone()
        .or_else(|| profile_ca_bundle(args.profile.as_deref()))
        .or_else(|| std::env::var_os("AWS_CA_BUNDLE").map(PathBuf::from));
    if let Some(ca) = ca {
        use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
        let pem =
            std::fs::read(&ca).with_context(|| format!("reading CA bundle {}", ca.display()))?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(
                TlsContext::builder()
                    .with_trust_store(
                        TrustStore::empty()
                            .with_native_roots(false)
                            .with_pem_certificate(pem),
                    )
                    .build()
                    .map_err(|e| anyhow!("CA bundle {}: {e}", ca.display()))?,
            )
            .build_https();
        loader = loader.http_client(http);
    }
    let shared = loader
        .region(Region::new(home_region.to_string()))
        .load()
        .await;
    let s3_conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    Ok(Aws {
        s3: aws_sdk_s3::Client::from_conf(s3_conf),
        cloudtrail: aws_sdk_cloudtrail::Client::new(&shared),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs the validation; exit 0 when everything is valid, 1 when anything is invalid.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let arn = parse_trail_arn(&args.trail)
        .ok_or_else(|| anyhow!("Invalid trail ARN provided: {}", args.trail))?;
    let end_ms = match &args.end_time {
        Some(t) => parse_time(t).ok_or_else(|| anyhow!("Unable to parse date value: {t}"))?,
        None => now_ms(),
    };
    let start_ms = match &args.start_time {
        Some(t) => parse_time(t).ok_or_else(|| anyhow!("Unable to parse date value: {t}"))?,
        None => end_ms - 24 * 3_600_000,
    };
    if start_ms > end_ms {
        bail!("Invalid time range specified: start-time must occur before end-time");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let aws = clients(&args, &arn.region).await?;
        let (bucket, prefix) = match &args.s3_bucket {
            Some(b) => (b.clone(), args.s3_prefix.clone()),
            None => {
                let out = aws.cloudtrail.describe_trails().send().await.map_err(|e| {
                    anyhow!(
                        "DescribeTrails: {}",
                        aws_sdk_cloudtrail::error::DisplayErrorContext(e)
                    )
                })?;
                let t = out
                    .trail_list()
                    .iter()
                    .find(|t| t.trail_arn() == Some(args.trail.as_str()))
                    .ok_or_else(|| anyhow!("A trail could not be found for {}", args.trail))?;
                (
                    t.s3_bucket_name().unwrap_or_default().to_string(),
                    args.s3_prefix
                        .clone()
                        .or_else(|| t.s3_key_prefix().map(str::to_string)),
                )
            }
        };
        let req = Request {
            trail_arn: args.trail.clone(),
            bucket,
            prefix,
            region: args.region.clone().unwrap_or(arn.region.clone()),
            start_ms,
            end_ms,
        };
        println!(
            "Validating log files for trail {} between {} and {}\n",
            args.trail,
            airlock_cloudtrail::delivery::iso_seconds(start_ms),
            airlock_cloudtrail::delivery::iso_seconds(end_ms)
        );
        let report = airlock_cloudtrail::validate::validate(&aws, &req)
            .await
            .map_err(|e| anyhow!(e))?;
        // Newest first, as found; problems always, valid files with --verbose.
        for line in &report.lines {
            if line.is_invalid() || matches!(line, airlock_cloudtrail::validate::Line::Gap(..)) {
                eprintln!("{}\n", line.text());
            } else if args.verbose {
                println!("{}", line.text());
            }
        }
        if args.verbose {
            println!();
        }
        print!("{}", report.summary(&req));
        Ok(if report.is_valid() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
