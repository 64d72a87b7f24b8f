//! The local certificate authority and the HTTPS listener's certificate.
//!
//! On first start airlock makes a CA (`tls/ca.pem`, key `tls/ca-key.pem`, mode 0600) and a
//! server certificate signed by it for `localhost`, `*.localhost`, `*.s3.localhost` (S3 virtual-hosted style),
//! `127.0.0.1` and `::1`. Clients trust the CA through `ca_bundle` / `AWS_CA_BUNDLE`. Later
//! starts reuse both files, so a client configured once keeps working. A key file group or
//! others may read is refused ([`crate::keyfile::read_private`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::keyfile::{KeyFileError, read_private};

const CA_KEY: &str = "TLS CA key";
const SERVER_KEY: &str = "TLS server key";

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a certificate file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// A key file could not be read, or group or others may read it.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A stored certificate or key does not parse.
    #[error(
        "{path}: not a usable PEM certificate or key ({reason}); remove the tls/ directory to regenerate it"
    )]
    BadPem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Paths of the TLS material in the data directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate clients trust.
    pub ca_cert: PathBuf,
    /// The CA key.
    pub ca_key: PathBuf,
    /// The server certificate.
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// The files under `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        TlsFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn missing(path: &Path) -> TlsError {
    TlsError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

fn gen_err(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

/// Writes `contents` to `path` atomically (temp file + rename), with mode 0600 for keys.
pub fn write_private(path: &Path, contents: &[u8], private: bool) -> Result<(), std::io::Error> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(if private { 0o600 } else { 0o644 });
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "airlock local CA");
    dn.push(DnType::OrganizationName, "airlock");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Ensures CA and server certificate exist under `files`, creating what is missing.
/// Returns true if the CA was created now.
pub fn ensure(files: &TlsFiles) -> Result<bool, TlsError> {
    if let Some(dir) = files.ca_cert.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut created = false;
    // Checked on every start, also when only the server key is read: a CA key others may read
    // lets them issue certificates every client of this endpoint trusts.
    let ca_key_pem = read_private(&files.ca_key, CA_KEY)?;
    if !files.ca_cert.exists() || ca_key_pem.is_none() {
        let key = KeyPair::generate().map_err(gen_err)?;
        let cert = ca_params().self_signed(&key).map_err(gen_err)?;
        write_private(&files.ca_key, key.serialize_pem().as_bytes(), true)
            .map_err(io(&files.ca_key))?;
        write_private(&files.ca_cert, cert.pem().as_bytes(), false).map_err(io(&files.ca_cert))?;
        let _ = std::fs::remove_file(&files.server_cert);
        created = true;
    }
    if !files.server_cert.exists() || !files.server_key.exists() {
        let ca_key_pem =
            read_private(&files.ca_key, CA_KEY)?.ok_or_else(|| missing(&files.ca_key))?;
        let ca_key_pem = String::from_utf8(ca_key_pem).map_err(|e| TlsError::BadPem {
            path: files.ca_key.clone(),
            reason: e.to_string(),
        })?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| TlsError::BadPem {
            path: files.ca_key.clone(),
            reason: e.to_string(),
        })?;
        let issuer = Issuer::new(ca_params(), ca_key);
        // `*.s3.localhost` too: rustls (aws-sdk-rust) refuses a wildcard directly above a
        // single-label name, so its virtual-hosted-style requests use `BUCKET.s3.localhost`.
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "*.localhost".to_string(),
            "s3.localhost".to_string(),
            "*.s3.localhost".to_string(),
        ])
        .map_err(gen_err)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::V4(
                std::net::Ipv4Addr::LOCALHOST,
            )));
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::V6(
                std::net::Ipv6Addr::LOCALHOST,
            )));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(gen_err)?;
        let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
        write_private(&files.server_key, key.serialize_pem().as_bytes(), true)
            .map_err(io(&files.server_key))?;
        write_private(&files.server_cert, cert.pem().as_bytes(), false)
            .map_err(io(&files.server_cert))?;
    }
    Ok(created)
}

/// The rustls server configuration of the HTTPS listener.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.server_cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::BadPem {
            path: files.server_cert.clone(),
            reason: e.to_string(),
        })?;
    let key_pem =
        read_private(&files.server_key, SERVER_KEY)?.ok_or_else(|| missing(&files.server_key))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadPem {
        path: files.server_key.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Generate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The negotiated TLS version (as `s3:TlsVersion` writes it: `1.2`, `1.3`) and cipher suite
/// (as CloudTrail's `tlsDetails.cipherSuite` names it) of a server connection.
pub fn session_details(
    conn: &rustls::ServerConnection,
) -> (Option<&'static str>, Option<&'static str>) {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => Some("1.3"),
        Some(rustls::ProtocolVersion::TLSv1_2) => Some("1.2"),
        _ => None,
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .and_then(|s| cipher_suite_name(s.suite()));
    (version, cipher)
}

/// CloudTrail's names: IANA names for TLS 1.3, OpenSSL names for TLS 1.2.
fn cipher_suite_name(s: rustls::CipherSuite) -> Option<&'static str> {
    use rustls::CipherSuite as C;
    Some(match s {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}
