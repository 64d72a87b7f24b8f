//! Starting and stopping the endpoint: data directory, state, accounts, TLS, listeners,
//! `server.json` and the AWS CLI files.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_cloudtrail::{History, HistoryWriter};
use airlock_iam::{AccessKey, Account, Iam};
use airlock_store::{RedbStore, StoreError};
use airlock_sts::Sts;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming as HyperBody;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::body::{BoxError, RequestBody};
use crate::keyfile::{KeyFileError, read_private};
use crate::listener::{self, Connections, Limits, Peer};
use crate::pipeline::{Incoming, Pipeline};
use crate::record::{LogRecorder, Recorder};
use crate::sealing::MasterKeySealer;
use crate::service::{Origin, Service};
use crate::services::{
    cloudtrail::CloudTrailService, iam::IamService, kms::KmsService, s3::S3Service, sts::StsService,
};
use crate::tls::{self, TlsFiles, write_private};
use crate::trail::CloudTrailRecorder;

/// How to run the endpoint.
#[derive(Clone)]
pub struct ServeConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Address to bind (loopback by default).
    pub bind: IpAddr,
    /// Plain HTTP port (0: pick a free one).
    pub port: u16,
    /// HTTPS port (0: pick a free one).
    pub tls_port: u16,
    /// Accounts to create if missing: (12-digit id, alias).
    pub accounts: Vec<(String, String)>,
    /// Default region (written to the AWS CLI config).
    pub region: String,
    /// Recorders that receive every call record, in addition to the log line (the hook of the
    /// audit trail and event notifications).
    pub recorders: Vec<Arc<dyn Recorder>>,
    /// Lifetime of instance-profile credentials served by the metadata services (EC2:
    /// 6 hours, capped by the role's maximum session duration).
    pub imds_credential_seconds: i64,
    /// Whether the audit trail records data events (S3 object-level calls) in the event
    /// history (default: yes; trails select what they deliver).
    pub cloudtrail_data_events: bool,
    /// How often trails deliver log files (AWS: about every 5 minutes; default 5 seconds,
    /// `AIRLOCK_TRAIL_DELIVERY_SECONDS`).
    pub trail_delivery_interval: std::time::Duration,
    /// The digest period of trails with log file validation (AWS: one hour; default one hour,
    /// `AIRLOCK_TRAIL_DIGEST_SECONDS`; at least one second).
    pub trail_digest_period: std::time::Duration,
    /// Connection caps and timeouts of every listener.
    pub limits: Limits,
    /// Address of the VPC endpoint and instance metadata listeners: loopback unless asked
    /// otherwise, whatever `bind` is, since a metadata service hands out role credentials to
    /// whoever reaches it.
    pub network_bind: IpAddr,
    /// Give each account's administrator the well-known key of [`fixed_credentials`] (for
    /// CI), created or reactivated at start, and write it into the AWS CLI files.
    pub fixed_credentials: bool,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .field("accounts", &self.accounts)
            .field("region", &self.region)
            .field("recorders", &self.recorders.len())
            .field("imds_credential_seconds", &self.imds_credential_seconds)
            .field("cloudtrail_data_events", &self.cloudtrail_data_events)
            .field("trail_delivery_interval", &self.trail_delivery_interval)
            .field("trail_digest_period", &self.trail_digest_period)
            .field("limits", &self.limits)
            .field("network_bind", &self.network_bind)
            .field("fixed_credentials", &self.fixed_credentials)
            .finish()
    }
}

impl ServeConfig {
    /// Loopback, free ports, no extra accounts, `us-east-1`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            data_dir: data_dir.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tls_port: 0,
            accounts: Vec::new(),
            region: "us-east-1".to_string(),
            recorders: Vec::new(),
            imds_credential_seconds: 21_600,
            cloudtrail_data_events: true,
            trail_delivery_interval: seconds_from_env("AIRLOCK_TRAIL_DELIVERY_SECONDS", 5.0),
            trail_digest_period: seconds_from_env("AIRLOCK_TRAIL_DIGEST_SECONDS", 3600.0),
            limits: Limits::default(),
            network_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            fixed_credentials: false,
        }
    }
}

/// The well-known administrator key of an account under `--fixed-credentials`:
/// `(access key id, secret access key)`.
///
/// The access key id is `AKIAAIRL` followed by the 12 digits of the account id, each written
/// as a letter (`0` → `A`, `1` → `B`, ..., `9` → `J`), so it has AWS's length (20) and
/// alphabet: `111111111111` → `AKIAAIRLBBBBBBBBBBBB`. The secret is
/// `airlock/public/ACCOUNT_ID/not/a/secret` (40 characters). Both are public: anyone who can
/// reach the endpoint can act as the account's administrator with them.
pub fn fixed_credentials(account_id: &str) -> (String, String) {
    let letters: String = account_id
        .bytes()
        .map(|b| match b {
            b'0'..=b'9' => char::from(b'A' + (b - b'0')),
            other => char::from(other).to_ascii_uppercase(),
        })
        .collect();
    (
        format!("AKIAAIRL{letters}"),
        format!("airlock/public/{account_id}/not/a/secret"),
    )
}

/// A main listener: what `ServeError::Bind` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainListener {
    /// The plain-HTTP listener (`ServeConfig::port`, `airlock serve --port`).
    Http,
    /// The HTTPS listener (`ServeConfig::tls_port`, `airlock serve --tls-port`).
    Https,
}

impl MainListener {
    /// The `airlock serve` option that sets its port.
    pub fn flag(self) -> &'static str {
        match self {
            MainListener::Http => "--port",
            MainListener::Https => "--tls-port",
        }
    }
}

/// A duration in (fractional) seconds from an environment variable, else `default`.
fn seconds_from_env(name: &str, default: f64) -> std::time::Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(default);
    std::time::Duration::from_secs_f64(secs.min(1e9))
}

/// The account airlock creates when none is configured and none exists.
pub const DEFAULT_ACCOUNT: (&str, &str) = ("123456789012", "default");

/// Errors starting the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The state store could not be opened (in use, incompatible schema, unreadable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS material could not be created or read.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A key file of the data directory could not be used (unreadable, or readable by others).
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Invalid configuration (e.g. a malformed account id).
    #[error("{0}")]
    Config(String),
    /// No server runs on the data directory: it has no `server.json`.
    #[error(
        "no airlock server is running with the data directory {} (it has no server.json): start one with `airlock serve --data-dir {}`",
        .dir.display(), .dir.display()
    )]
    NotRunning {
        /// The data directory.
        dir: PathBuf,
    },
    /// `server.json` names a server that is gone (crashed or killed): its process is not
    /// running, or nothing listens on its port.
    #[error(
        "the airlock server that wrote {} (pid {pid}, {endpoint}) is gone: it crashed or was killed. \
         Start it again with `airlock serve --data-dir {}` (its state is kept)",
        .dir.join("server.json").display(), .dir.display()
    )]
    Gone {
        /// The data directory.
        dir: PathBuf,
        /// The pid `server.json` names.
        pid: u32,
        /// Its plain-HTTP endpoint.
        endpoint: String,
    },
    /// A main listener could not bind its address (the port is taken, or not allowed).
    /// Nothing was created: the listeners are bound before the data directory is touched.
    #[error("{}", bind_message(.addr, .listener, .error))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Which listener.
        listener: MainListener,
        /// The error (named in the message).
        error: std::io::Error,
    },
}

fn bind_message(addr: &SocketAddr, listener: &MainListener, source: &std::io::Error) -> String {
    let port = addr.port();
    let flag = listener.flag();
    let what = match listener {
        MainListener::Http => "HTTP",
        MainListener::Https => "HTTPS",
    };
    match source.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {port} ({flag}, the {what} listener) is in use on {}: another process \
             (perhaps another `airlock serve`) listens there; stop it, or pick another port \
             with {flag} PORT ({flag} 0 picks a free one)",
            addr.ip()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on port {port} ({flag}, the {what} listener) on {}: ports \
             below 1024 need privileges; pick another with {flag} PORT",
            addr.ip()
        ),
        _ => format!(
            "cannot listen on {addr} ({flag}, the {what} listener): {source}; pick another \
             address or port"
        ),
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// An account and its administrator credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Account id.
    pub id: String,
    /// Alias (also the AWS CLI profile name).
    pub alias: String,
}

/// What `server.json` holds: how other processes (`airlock exec`, tests) find the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's process id.
    pub pid: u32,
    /// The bound address.
    pub host: String,
    /// Plain HTTP port.
    pub http_port: u16,
    /// HTTPS port.
    pub https_port: u16,
    /// `http://HOST:PORT`.
    pub http_endpoint: String,
    /// `https://HOST:PORT`.
    pub https_endpoint: String,
    /// The CA certificate to trust for the HTTPS listener.
    pub ca_bundle: PathBuf,
    /// Default region.
    pub region: String,
    /// The AWS CLI config file airlock wrote.
    pub aws_config_file: PathBuf,
    /// The AWS CLI credentials file airlock wrote.
    pub aws_shared_credentials_file: PathBuf,
    /// The accounts served.
    pub accounts: Vec<AccountInfo>,
}

/// The data directory's files.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The state store.
    pub fn state(&self) -> PathBuf {
        self.root.join("state.redb")
    }
    /// The STS session-sealing key (0600).
    pub fn session_key(&self) -> PathBuf {
        self.root.join("sts-session.key")
    }
    /// S3 object data (encrypted segments).
    pub fn s3(&self) -> PathBuf {
        self.root.join("s3")
    }
    /// The SSE-S3 root key (0600).
    pub fn s3_sse_key(&self) -> PathBuf {
        self.root.join("s3-sse.key")
    }
    /// TLS material.
    pub fn tls(&self) -> TlsFiles {
        TlsFiles::in_dir(&self.root.join("tls"))
    }
    /// `server.json`.
    pub fn server_json(&self) -> PathBuf {
        self.root.join("server.json")
    }
    /// AWS CLI config file.
    pub fn aws_config(&self) -> PathBuf {
        self.root.join("aws").join("config")
    }
    /// AWS CLI credentials file.
    pub fn aws_credentials(&self) -> PathBuf {
        self.root.join("aws").join("credentials")
    }

    /// What `server.json` says, checked: no file, a running server, or one that is gone
    /// (its process is not alive or nothing accepts connections on its HTTP port).
    pub fn server_state(&self) -> Result<ServerState, ServeError> {
        match std::fs::symlink_metadata(self.server_json()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ServerState::Absent),
            _ => {}
        }
        let info = self.read_server_info()?;
        if is_serving(&info) {
            Ok(ServerState::Running(info))
        } else {
            Ok(ServerState::Gone(info))
        }
    }

    /// The running server of this data directory, or an error that says there is none
    /// ([`ServeError::NotRunning`]) or that the one `server.json` names is gone
    /// ([`ServeError::Gone`]), and how to start it.
    pub fn running_server(&self) -> Result<ServerInfo, ServeError> {
        match self.server_state()? {
            ServerState::Running(info) => Ok(info),
            ServerState::Absent => Err(ServeError::NotRunning {
                dir: absolute(&self.root),
            }),
            ServerState::Gone(info) => Err(ServeError::Gone {
                dir: absolute(&self.root),
                pid: info.pid,
                endpoint: info.http_endpoint,
            }),
        }
    }

    /// Whether a process has the state store open (a server runs, perhaps still starting,
    /// before it writes `server.json`).
    pub fn store_in_use(&self) -> bool {
        RedbStore::in_use(&self.state())
    }

    /// Reads `server.json` of a running (or crashed) server, unchecked.
    pub fn read_server_info(&self) -> Result<ServerInfo, ServeError> {
        let text = std::fs::read_to_string(self.server_json()).map_err(io(format!(
            "no running airlock server found in {} (reading server.json)",
            self.root.display()
        )))?;
        serde_json::from_str(&text)
            .map_err(|e| ServeError::Config(format!("{}: {e}", self.server_json().display())))
    }
}

/// What a data directory's `server.json` says.
#[derive(Debug, Clone)]
pub enum ServerState {
    /// No `server.json`: no server runs (or one is still starting).
    Absent,
    /// A server runs.
    Running(ServerInfo),
    /// `server.json` is left from a server that crashed or was killed.
    Gone(ServerInfo),
}

/// Whether the server `info` describes is alive: its process exists and its HTTP port
/// accepts a connection (a pid alone may have been reused).
fn is_serving(info: &ServerInfo) -> bool {
    if process_alive(info.pid) == Some(false) {
        return false;
    }
    let host = info.host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = host.parse::<IpAddr>() else {
        return true;
    };
    std::net::TcpStream::connect_timeout(
        &SocketAddr::new(ip, info.http_port),
        std::time::Duration::from_secs(2),
    )
    .is_ok()
}

/// Whether process `pid` exists (`None`: cannot tell on this platform).
fn process_alive(pid: u32) -> Option<bool> {
    if pid == std::process::id() {
        return Some(true);
    }
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return Some(proc.join(pid.to_string()).exists());
    }
    #[cfg(unix)]
    {
        std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()
            .map(|s| s.success())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The default data directory: `$XDG_DATA_HOME/airlock`, else `~/.local/share/airlock`.
/// (`AIRLOCK_DATA_DIR` is applied by the CLI before this.)
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("airlock");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h)
            .join(".local")
            .join("share")
            .join("airlock"),
        None => PathBuf::from(".airlock"),
    }
}

/// A 32-byte key file of the data directory (`what` names it in errors), created with mode 0600
/// on first start. A file group or others may read or write is refused, as is one of another
/// size (it is never replaced: what it sealed would be lost).
fn load_or_create_key(path: &Path, what: &'static str) -> Result<[u8; 32], ServeError> {
    match read_private(path, what)? {
        Some(bytes) => bytes.try_into().map_err(|_| {
            ServeError::Config(format!(
                "{what} {} is not a 32-byte key; refusing to replace it (what it sealed would be lost)",
                path.display()
            ))
        }),
        None => {
            let mut key = [0u8; 32];
            aws_lc_rs::rand::fill(&mut key)
                .map_err(|_| ServeError::Config("system random generator failed".into()))?;
            write_private(path, &key, true).map_err(io(format!("writing {}", path.display())))?;
            Ok(key)
        }
    }
}

/// A running endpoint.
pub struct Server {
    info: ServerInfo,
    data: DataDir,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    admin_keys: Vec<(Account, AccessKey)>,
    network: Arc<crate::network::Network>,
    trail: Arc<HistoryWriter>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Opens (or creates) the data directory, creates missing accounts, binds both listeners
    /// and writes `server.json` and the AWS CLI files. Must be called inside a multi-threaded
    /// tokio runtime.
    pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
        let started = std::time::Instant::now();
        // The main listeners first: a port clash must leave nothing behind (not even a new
        // data directory).
        let bind = |port: u16, listener: MainListener| {
            let addr = SocketAddr::new(config.bind, port);
            async move {
                TcpListener::bind(addr)
                    .await
                    .map_err(|error| ServeError::Bind {
                        addr,
                        listener,
                        error,
                    })
            }
        };
        let http = bind(config.port, MainListener::Http).await?;
        let https = bind(config.tls_port, MainListener::Https).await?;
        let http_port = http.local_addr().map_err(io("local address"))?.port();
        let https_port = https.local_addr().map_err(io("local address"))?.port();

        let data = DataDir::new(&config.data_dir);
        create_private_dir(data.root())?;
        let store = RedbStore::open(&data.state())?;
        let key = load_or_create_key(&data.session_key(), "STS session key")?;
        tls::ensure(&data.tls())?;
        let tls_config = tls::server_config(&data.tls())?;

        // One root secret: the KMS master key seals IAM's secret access keys too. It is checked
        // against the store before anything is sealed under it.
        let master = load_master_key(&data, &store)?;
        let sealer = Arc::new(MasterKeySealer(master.clone()));
        let map_iam = |e: airlock_iam::IamError| ServeError::Config(e.to_string());
        let sealed = airlock_iam::seal_stored_secrets(&store, &*sealer).map_err(|e| {
            ServeError::Config(format!("sealing the stored secret access keys: {e}"))
        })?;
        if sealed > 0 {
            tracing::info!(target: "airlock::iam", sealed, "sealed secret access keys stored in clear by an older airlock");
        }
        // After that upgrade the store file is rewritten, so no page keeps a secret in clear.
        let store = Arc::new(store.rewrite_if_requested()?);

        let iam = Arc::new(Iam::new(store.clone(), sealer));
        let home_kms = open_kms(store.clone(), master.clone(), &config.region)?;
        let kms = Arc::new(KmsService::new(home_kms.clone()));
        let sts = Arc::new(Sts::new(key));
        let ec2 = Arc::new(airlock_ec2::Ec2::new(store.clone()));
        let mut wanted = config.accounts.clone();
        if wanted.is_empty() && iam.accounts().map_err(map_iam)?.is_empty() {
            wanted.push((DEFAULT_ACCOUNT.0.to_string(), DEFAULT_ACCOUNT.1.to_string()));
        }
        for (id, alias) in &wanted {
            iam.ensure_account(id, alias).map_err(map_iam)?;
        }
        // Every account (configured now or earlier) with its administrator key, in the order
        // given on the command line, then the rest by id.
        let mut accounts = iam.accounts().map_err(map_iam)?;
        accounts.sort_by_key(|a| {
            (
                wanted
                    .iter()
                    .position(|(id, _)| id == &a.id)
                    .unwrap_or(usize::MAX),
                a.id.clone(),
            )
        });
        let mut admin_keys = Vec::new();
        for a in &accounts {
            let fixed = config.fixed_credentials.then(|| fixed_credentials(&a.id));
            let (acct, key) = iam
                .ensure_account_with_key(
                    &a.id,
                    &a.alias,
                    fixed.as_ref().map(|(k, s)| (k.as_str(), s.as_str())),
                )
                .map_err(|e| ServeError::Config(format!("account {}: {e}", a.id)))?;
            admin_keys.push((acct, key));
        }
        if config.fixed_credentials {
            tracing::warn!(
                "--fixed-credentials: every account's administrator has a well-known, public \
                 access key (AKIAAIRL + the account id in letters); anyone who can reach the \
                 endpoint can use it"
            );
        }

        // Every listener shares one set of connection caps.
        let connections = Connections::new(effective_limits(&config.limits));
        let body_read_timeout = config.limits.body_read_timeout;
        warn_if_exposed(&config);
        // EC2 (network origin): endpoint listeners and metadata services, wired below.
        let network = crate::network::Network::new(
            crate::network::Wiring {
                ec2: ec2.clone(),
                iam: iam.clone(),
                sts: sts.clone(),
                bind: config.network_bind,
                host: host_of(config.network_bind),
                tls: tls_config.clone(),
                data: data.clone(),
                connections: connections.clone(),
            },
            config.imds_credential_seconds,
        );
        // S3, with the home region's KMS for SSE-KMS data keys and the SSE-S3 root key (0600).
        let sse_s3_key = load_or_create_key(&data.s3_sse_key(), "SSE-S3 root key")?;
        // The audit trail: the event history in the store, written in the background.
        let history =
            Arc::new(History::open(store.clone()).map_err(|e| ServeError::Config(e.to_string()))?);
        let trail = Arc::new(
            HistoryWriter::start(history).map_err(io("starting the CloudTrail event writer"))?,
        );
        let s3 = Arc::new(
            airlock_s3::S3::open(store.clone(), &data.s3(), home_kms, &sse_s3_key)
                .map_err(|e| ServeError::Config(e.to_string()))?,
        );
        // CloudTrail trails: the trail API and the delivery task over the event history.
        let (trails_api, delivery) = crate::services::cloudtrail_trails::wire(
            store.clone(),
            s3.clone(),
            master,
            trail.history().clone(),
            &config,
        );

        let services: Vec<Arc<dyn Service>> = vec![
            Arc::new(StsService::new(iam.clone(), sts.clone())),
            Arc::new(IamService::new(iam.clone())),
            kms.clone(),
            Arc::new(S3Service::new(s3)),
            Arc::new(crate::services::ec2::Ec2Service::new(
                ec2,
                iam.clone(),
                network.clone(),
            )),
            Arc::new(CloudTrailService::new(trail.clone()).with_trails(trails_api)),
        ];
        // The audit trail comes last: it takes the record itself (`Recorder::record_owned`).
        let mut recorders: Vec<Arc<dyn Recorder>> = vec![Arc::new(LogRecorder)];
        recorders.extend(config.recorders.iter().cloned());
        recorders.push(Arc::new(CloudTrailRecorder::new(
            trail.clone(),
            config.cloudtrail_data_events,
        )));
        let pipeline = Arc::new(Pipeline::new(
            services,
            Authenticator::new(iam.clone(), sts),
            recorders,
            config.region.clone(),
        ));

        let (stop, stop_rx) = watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
        network.set_pipeline(&pipeline);
        network.restore().map_err(|e| {
            ServeError::Config(format!("re-opening VPC endpoints and instances: {e}"))
        })?;
        let host = host_of(config.bind);
        let ca = std::fs::canonicalize(data.tls().ca_cert).map_err(io("resolving the CA path"))?;
        let info = ServerInfo {
            pid: std::process::id(),
            host: host.clone(),
            http_port,
            https_port,
            http_endpoint: format!("http://{host}:{http_port}"),
            https_endpoint: format!("https://{host}:{https_port}"),
            ca_bundle: ca,
            region: config.region.clone(),
            aws_config_file: absolute(&data.aws_config()),
            aws_shared_credentials_file: absolute(&data.aws_credentials()),
            accounts: admin_keys
                .iter()
                .map(|(a, _)| AccountInfo {
                    id: a.id.clone(),
                    alias: a.alias.clone(),
                })
                .collect(),
        };
        let health = Arc::new(crate::health::HealthSource {
            info: info.clone(),
            started,
            services: pipeline.service_names(),
            network: network.clone(),
        });
        // The main listeners: every request goes down the pipeline "from the internet", but
        // for the health document.
        let main_handler = {
            let pipeline = pipeline.clone();
            move |req: http::Request<HyperBody>, peer: Peer| {
                let pipeline = pipeline.clone();
                let health = health.clone();
                async move {
                    if crate::health::is_health_request(req.method(), req.uri(), req.headers()) {
                        return health_response(&health, req.method() == http::Method::HEAD);
                    }
                    let origin = Origin {
                        peer: peer.addr,
                        tls: peer.tls.is_some(),
                        tls_version: peer.tls.and_then(|t| t.0),
                        tls_cipher: peer.tls.and_then(|t| t.1),
                        network: None,
                    };
                    respond(&pipeline, req, origin, body_read_timeout).await
                }
            }
        };
        let tasks = vec![
            tokio::spawn(crate::services::cloudtrail_trails::delivery_loop(
                delivery,
                config.trail_delivery_interval,
                stop_rx.clone(),
            )),
            tokio::spawn(kms_maintenance(kms, stop_rx.clone())),
            tokio::spawn(listener::serve(
                http,
                None,
                connections.clone(),
                stop_rx.clone(),
                main_handler.clone(),
            )),
            tokio::spawn(listener::serve(
                https,
                Some(acceptor),
                connections.clone(),
                stop_rx,
                main_handler,
            )),
        ];

        write_aws_files(&data, &info, &admin_keys)?;
        let json =
            serde_json::to_vec_pretty(&info).map_err(|e| ServeError::Config(e.to_string()))?;
        write_private(&data.server_json(), &json, false).map_err(io("writing server.json"))?;
        Ok(Server {
            info,
            data,
            stop,
            tasks,
            admin_keys,
            network,
            trail,
        })
    }

    /// The audit trail's writer and, through it, the event history (`LookupEvents`, trail
    /// delivery).
    pub fn event_history(&self) -> &Arc<HistoryWriter> {
        &self.trail
    }

    /// Ports, endpoints and files of the running server.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.data
    }

    /// Each account with its administrator access key.
    pub fn admin_keys(&self) -> &[(Account, AccessKey)] {
        &self.admin_keys
    }

    /// Stops the listeners, closes open connections and removes `server.json`.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.network.shutdown().await;
        for t in self.tasks {
            let _ = t.await;
        }
        // Every call answered is in the history before the server is gone.
        let trail = self.trail.clone();
        let _ = tokio::task::spawn_blocking(move || trail.flush()).await;
        let _ = std::fs::remove_file(self.data.server_json());
    }
}

/// The limits, with the connection cap lowered to what the process's file-descriptor limit
/// allows (each connection holds one; 256 are kept for the store, segments and listeners).
fn effective_limits(wanted: &Limits) -> Limits {
    let mut limits = wanted.clone();
    if let Some(nofile) = open_files_limit() {
        let room = nofile.saturating_sub(256).max(16) as usize;
        if limits.max_connections > room {
            tracing::warn!(
                wanted = limits.max_connections,
                allowed = room,
                open_files_limit = nofile,
                "the connection limit is lowered to fit the open-files limit; raise it with `ulimit -n` to allow more"
            );
            limits.max_connections = room;
        }
    }
    limits.max_connections_per_client = limits
        .max_connections_per_client
        .min(limits.max_connections);
    limits
}

/// The soft limit on open files (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Says loudly what leaves the machine when a listener is bound beyond loopback.
fn warn_if_exposed(config: &ServeConfig) {
    if !config.bind.is_loopback() {
        tracing::warn!(
            bind = %config.bind,
            "the main listeners accept connections from the network (--bind): anyone who can reach \
             them can call the endpoint, and anonymous requests are decided by the policies"
        );
    }
    if !config.network_bind.is_loopback() {
        tracing::warn!(
            bind = %config.network_bind,
            "VPC endpoint and instance metadata listeners accept connections from the network \
             (--network-bind): every running instance's metadata service hands its role's \
             credentials to anyone who can reach it"
        );
    }
}

/// How clients reach an address the server binds.
fn host_of(bind: IpAddr) -> String {
    match bind {
        IpAddr::V4(a) if a.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(a) if a.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn create_private_dir(dir: &Path) -> Result<(), ServeError> {
    std::fs::create_dir_all(dir)
        .map_err(io(format!("creating data directory {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes `aws/config` and `aws/credentials`: one profile per account alias (and `default`
/// for the first account), pointing at the HTTPS listener with the local CA.
fn write_aws_files(
    data: &DataDir,
    info: &ServerInfo,
    keys: &[(Account, AccessKey)],
) -> Result<(), ServeError> {
    let dir = data.root().join("aws");
    create_private_dir(&dir)?;
    let mut config = String::from("# Written by `airlock serve`; rewritten at every start.\n");
    let mut creds = String::from("# Written by `airlock serve`; rewritten at every start.\n");
    let mut profiles: Vec<(String, &AccessKey)> = Vec::new();
    if let Some((_, k)) = keys.first() {
        profiles.push(("default".to_string(), k));
    }
    for (a, k) in keys {
        if a.alias != "default" {
            profiles.push((a.alias.clone(), k));
        }
    }
    for (name, key) in profiles {
        let header = if name == "default" {
            "[default]".to_string()
        } else {
            format!("[profile {name}]")
        };
        config.push_str(&format!(
            "\n{header}\nregion = {}\nendpoint_url = {}\nca_bundle = {}\n",
            info.region,
            info.https_endpoint,
            info.ca_bundle.display()
        ));
        creds.push_str(&format!(
            "\n[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key.access_key_id, key.secret_access_key
        ));
    }
    write_private(&data.aws_config(), config.as_bytes(), false)
        .map_err(io("writing aws/config"))?;
    write_private(&data.aws_credentials(), creds.as_bytes(), true)
        .map_err(io("writing aws/credentials"))?;
    Ok(())
}

/// The health document as an HTTP response.
fn health_response(
    health: &crate::health::HealthSource,
    head: bool,
) -> http::Response<UnsyncBoxBody<Bytes, BoxError>> {
    let (status, body) = health.response(head);
    let mut resp = http::Response::new(crate::body::ReplyBody::Full(body).into_http());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

pub(crate) async fn respond(
    pipeline: &Pipeline,
    req: http::Request<HyperBody>,
    origin: Origin,
    body_read_timeout: std::time::Duration,
) -> http::Response<UnsyncBoxBody<Bytes, BoxError>> {
    let (parts, body) = req.into_parts();
    // A client that waits for `100 Continue` sends no body until the server reads it: if the
    // request is refused unread, hyper must not be made to ask for it (see `RequestBody`).
    let expects_continue = parts
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let body = RequestBody::new(body)
        .with_read_timeout(body_read_timeout)
        .expecting_continue(expects_continue);
    let out = pipeline
        .handle(Incoming {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
            origin,
        })
        .await;
    let mut resp = http::Response::new(out.body.into_http());
    *resp.status_mut() =
        http::StatusCode::from_u16(out.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in out.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

/// The KMS master key from the environment or `DATA_DIR/kms-master.key` (created on first
/// start), checked against the data directory's check value.
fn load_master_key(
    data: &DataDir,
    store: &RedbStore,
) -> Result<Arc<airlock_kms::MasterKey>, ServeError> {
    let master = airlock_kms::MasterKey::load_or_create(data.root())
        .map_err(|e| ServeError::Config(e.to_string()))?;
    if let airlock_kms::MasterKeySource::Created(path) = master.source() {
        tracing::info!(target: "airlock::kms", path = %path.display(), "created the KMS master key");
    }
    airlock_kms::Kms::check_master_key(store, &master)
        .map_err(|e| ServeError::Config(e.to_string()))?;
    Ok(Arc::new(master))
}

/// Opens KMS over the store with the master key.
fn open_kms(
    store: Arc<RedbStore>,
    master: Arc<airlock_kms::MasterKey>,
    region: &str,
) -> Result<Arc<airlock_kms::Kms>, ServeError> {
    let kms = airlock_kms::Kms::open(store, master, region, Arc::new(airlock_kms::SystemClock))
        .map_err(|e| ServeError::Config(e.to_string()))?;
    Ok(Arc::new(kms))
}

/// Ends deletion windows and runs due automatic rotations, once a minute and at start.
async fn kms_maintenance(kms: Arc<KmsService>, mut stop: watch::Receiver<bool>) {
    loop {
        let k = kms.clone();
        let _ = tokio::task::spawn_blocking(move || k.run_maintenance()).await;
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}
