//! Clients for one account: the standard credential chain and endpoint configuration
//! (profiles, `AWS_ENDPOINT_URL*`, a profile's `endpoint_url`), or explicit credentials and
//! an endpoint (the embedded endpoint of `airlock demo`, the instance side of `verify`).

use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::error::DeployError;
use crate::record::RequestLog;

/// How clients are built beyond the SDK's own configuration.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Extra CA certificates (PEM files) to trust besides the system roots: the local
    /// endpoint's CA. The profile's `ca_bundle` and `AWS_CA_BUNDLE` are added by
    /// [`load_profile`].
    pub ca_bundles: Vec<PathBuf>,
    /// Records every request sent (service, operation, key parameters), in order.
    pub record: Option<RequestLog>,
}

/// The HTTP client trusting the system roots plus `ca_bundles` (None: the SDK default).
pub fn http_client(ca_bundles: &[PathBuf]) -> Result<Option<SharedHttpClient>, DeployError> {
    if ca_bundles.is_empty() {
        return Ok(None);
    }
    let mut store = TrustStore::empty().with_native_roots(true);
    for path in ca_bundles {
        let pem = std::fs::read(path)
            .map_err(|e| DeployError::Config(format!("CA bundle {}: {e}", path.display())))?;
        store = store.with_pem_certificate(pem);
    }
    let ctx = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| DeployError::Config(format!("TLS configuration: {e}")))?;
    Ok(Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(ctx)
            .build_https(),
    ))
}

/// The `ca_bundle` of a profile in the shared config file (`AWS_CONFIG_FILE`, else
/// `~/.aws/config`), which the AWS CLI honours and aws-sdk-rust does not read itself.
pub fn profile_ca_bundle(profile: &str) -> Option<PathBuf> {
    let file = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".aws").join("config")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let wanted = if profile == "default" {
        vec!["[default]".to_string(), "[profile default]".to_string()]
    } else {
        vec![format!("[profile {profile}]")]
    };
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let squeezed: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
            inside = wanted.contains(&squeezed);
            continue;
        }
        if inside
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "ca_bundle"
        {
            return Some(PathBuf::from(v.trim()));
        }
    }
    None
}

/// The shared config and credentials files the SDK reads: `AWS_CONFIG_FILE` (else
/// `~/.aws/config`) and `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`), each
/// with whether it is the credentials file.
pub fn shared_files() -> Vec<(PathBuf, bool)> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let pick = |var: &str, name: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    pick("AWS_CONFIG_FILE", "config")
        .map(|p| (p, false))
        .into_iter()
        .chain(pick("AWS_SHARED_CREDENTIALS_FILE", "credentials").map(|p| (p, true)))
        .collect()
}

/// The profile names a shared file defines: `[default]` and `[profile NAME]` sections of a
/// config file, every `[NAME]` section of a credentials file.
pub fn profiles_in(text: &str, credentials_file: bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(inner) = line.strip_prefix('[').and_then(|l| l.split(']').next()) else {
            continue;
        };
        let words: Vec<&str> = inner.split_whitespace().collect();
        let name = match words.as_slice() {
            [name] if credentials_file || *name == "default" => *name,
            ["profile", name] if !credentials_file => *name,
            _ => continue,
        };
        out.push(name.to_string());
    }
    out
}

/// Refuses a profile that neither shared file defines, listing the ones they do (the SDK
/// would otherwise say the profile "has no region", or fail later reaching for instance
/// metadata). `default` may also come from `AWS_ACCESS_KEY_ID` alone.
pub fn check_profile_exists(profile: &str) -> Result<(), DeployError> {
    let mut known = Vec::new();
    let mut files = Vec::new();
    for (path, credentials_file) in shared_files() {
        let text = std::fs::read_to_string(&path).ok();
        if let Some(t) = &text {
            known.extend(profiles_in(t, credentials_file));
        }
        files.push((path, text.is_some()));
    }
    known.sort();
    known.dedup();
    let env_default = profile == "default" && std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
    if known.iter().any(|k| k == profile) || env_default {
        return Ok(());
    }
    Err(DeployError::UnknownProfile {
        profile: profile.to_string(),
        files,
        known,
    })
}

/// Loads a named profile with the standard chain (credentials, region, endpoint URLs). The
/// profile's `ca_bundle` and `AWS_CA_BUNDLE` are trusted in addition to the system roots. A
/// profile no shared file defines is refused with [`DeployError::UnknownProfile`].
pub async fn load_profile(profile: &str, opts: &ClientOptions) -> Result<SdkConfig, DeployError> {
    check_profile_exists(profile)?;
    let mut cas = opts.ca_bundles.clone();
    cas.extend(profile_ca_bundle(profile));
    if let Some(env) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(env);
        if p.exists() {
            cas.push(p);
        }
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).profile_name(profile);
    if let Some(http) = http_client(&cas)? {
        loader = loader.http_client(http);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(DeployError::Config(format!(
            "profile `{profile}` has no region (set `region` in the profile or AWS_REGION)"
        )));
    }
    Ok(config)
}

/// A configuration with explicit credentials (None: anonymous, unsigned requests), region and
/// endpoint.
pub fn explicit_config(
    region: &str,
    endpoint: Option<&str>,
    credentials: Option<Credentials>,
    ca_bundles: &[PathBuf],
) -> Result<SdkConfig, DeployError> {
    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()));
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    if let Some(c) = credentials {
        b = b.credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(c),
        );
    }
    if let Some(http) = http_client(ca_bundles)? {
        b = b.http_client(http);
    }
    Ok(b.build())
}

/// The clients of one account.
#[derive(Debug, Clone)]
pub struct AccountClients {
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// STS.
    pub sts: aws_sdk_sts::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// S3 (path-style when an endpoint URL is configured).
    pub s3: aws_sdk_s3::Client,
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// The region.
    pub region: String,
    /// The configuration the clients were built from.
    pub sdk: SdkConfig,
    /// The options they were built with.
    pub options: ClientOptions,
}

impl AccountClients {
    /// Builds every client from one configuration.
    pub fn new(sdk: &SdkConfig, opts: &ClientOptions) -> AccountClients {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".to_string());
        let custom_endpoint =
            sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        macro_rules! build {
            ($krate:ident) => {{
                let mut b = $krate::config::Builder::from(sdk);
                if let Some(r) = &opts.record {
                    b = b.interceptor(r.interceptor());
                }
                b
            }};
        }
        let iam = aws_sdk_iam::Client::from_conf(build!(aws_sdk_iam).build());
        let sts = aws_sdk_sts::Client::from_conf(build!(aws_sdk_sts).build());
        let kms = aws_sdk_kms::Client::from_conf(build!(aws_sdk_kms).build());
        let ec2 = aws_sdk_ec2::Client::from_conf(build!(aws_sdk_ec2).build());
        let s3 = aws_sdk_s3::Client::from_conf(
            build!(aws_sdk_s3).force_path_style(custom_endpoint).build(),
        );
        AccountClients {
            iam,
            sts,
            kms,
            s3,
            ec2,
            region,
            sdk: sdk.clone(),
            options: opts.clone(),
        }
    }

    /// An S3 client with the same credentials at another endpoint (a VPC endpoint's
    /// listener), path-style.
    pub fn s3_at(&self, url: &str) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.sdk)
            .endpoint_url(url)
            .force_path_style(true);
        if let Some(r) = &self.options.record {
            b = b.interceptor(r.interceptor());
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// The caller's account id and ARN (`GetCallerIdentity`).
    pub async fn identity(&self) -> Result<(String, String), DeployError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(crate::error::aws("sts", "GetCallerIdentity"))?;
        Ok((
            out.account().unwrap_or_default().to_string(),
            out.arn().unwrap_or_default().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::profiles_in;

    #[test]
    fn profile_names_come_from_section_headers() {
        let config = "[default]\nregion = x\n[profile account-a]\n[ profile  b ]\n[sso-session s]\n[services x]\n";
        assert_eq!(profiles_in(config, false), ["default", "account-a", "b"]);
        let creds = "# c\n[default]\n[account-b]\naws_access_key_id = k\n";
        assert_eq!(profiles_in(creds, true), ["default", "account-b"]);
    }
}
