//! Network origin: every VPC endpoint is a listener of its own (plain HTTP and HTTPS on
//! loopback) whose requests carry `aws:SourceVpce`, `aws:SourceVpc` and `aws:VpceAccount`
//! instead of `aws:SourceIp` and are also decided against the endpoint policy; every running
//! instance has a metadata service ([`crate::imds`]). Listeners live as long as the endpoint
//! or instance, are re-opened at start-up on their recorded ports, and close on delete.
//!
//! `network.json` in the data directory tells `airlock exec` where each running instance's
//! metadata service is and which listener each service is reached through from its VPC.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use airlock_ec2::{Ec2, EndpointType, InstanceState, VpcEndpoint};
use airlock_iam::Iam;
use airlock_policy::PolicyKind;
use airlock_sts::Sts;
use hyper::body::Incoming as HyperBody;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::listener::{Connections, Peer};
use crate::pipeline::Pipeline;
use crate::server::DataDir;
use crate::service::{NetworkOrigin, Origin};

/// Where an instance's SDKs are pointed (`network.json`, read by `airlock exec`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstanceRoutes {
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// VPC.
    pub vpc_id: String,
    /// `http://HOST:PORT` of its metadata service.
    pub imds_endpoint: String,
    /// Service name (`s3`, `sts`) → HTTPS URL of the VPC endpoint that serves it from this
    /// instance (a gateway endpoint on its route table, or an interface endpoint in its VPC).
    pub endpoints: BTreeMap<String, String>,
}

/// The listeners of one VPC endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EndpointRoutes {
    /// The VPC the endpoint belongs to.
    pub vpc_id: String,
    /// The service it serves (`s3`, `sts`).
    pub service: String,
    /// `https://HOST:PORT` of its HTTPS listener.
    pub https: String,
    /// `http://HOST:PORT` of its plain-HTTP listener (requests without TLS, for
    /// `aws:SecureTransport` probes).
    pub http: String,
}

/// The contents of `network.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkRoutes {
    /// Running instances by id.
    pub instances: BTreeMap<String, InstanceRoutes>,
    /// Every VPC endpoint's listeners, by endpoint id (what a client inside its VPC reaches;
    /// used by `airlock verify` and `airlock apply` against the local endpoint).
    #[serde(default)]
    pub vpc_endpoints: BTreeMap<String, EndpointRoutes>,
}

impl NetworkRoutes {
    /// Reads `network.json` of a data directory.
    pub fn read(data: &DataDir) -> std::io::Result<NetworkRoutes> {
        let text = std::fs::read_to_string(network_json(data))?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}

/// `DIR/network.json`.
pub fn network_json(data: &DataDir) -> std::path::PathBuf {
    data.root().join("network.json")
}

struct Handle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The listeners of VPC endpoints and metadata services.
pub struct Network {
    pub(crate) ec2: Arc<Ec2>,
    pub(crate) iam: Arc<Iam>,
    pub(crate) sts: Arc<Sts>,
    bind: IpAddr,
    host: String,
    tls: tokio_rustls::TlsAcceptor,
    data: DataDir,
    connections: Arc<Connections>,
    pipeline: OnceLock<Weak<Pipeline>>,
    listeners: Mutex<HashMap<String, Handle>>,
    pub(crate) imds: crate::imds::ImdsState,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

/// What the network's listeners are built from.
pub struct Wiring {
    /// EC2's state: endpoints, instances, routes.
    pub ec2: Arc<Ec2>,
    /// IAM (endpoint policies, instance profiles).
    pub iam: Arc<Iam>,
    /// STS (instance-profile sessions).
    pub sts: Arc<Sts>,
    /// The address listeners bind (loopback unless `--network-bind` says otherwise).
    pub bind: IpAddr,
    /// How clients reach `bind`.
    pub host: String,
    /// The TLS configuration of endpoint listeners.
    pub tls: Arc<rustls::ServerConfig>,
    /// The data directory (`network.json`).
    pub data: DataDir,
    /// The server's connection caps and timeouts, shared with the main listeners.
    pub connections: Arc<Connections>,
}

impl Network {
    /// The network over EC2's state.
    pub fn new(w: Wiring, imds_credential_seconds: i64) -> Arc<Self> {
        Arc::new(Network {
            ec2: w.ec2,
            iam: w.iam,
            sts: w.sts,
            bind: w.bind,
            host: w.host,
            tls: tokio_rustls::TlsAcceptor::from(w.tls),
            data: w.data,
            connections: w.connections,
            pipeline: OnceLock::new(),
            listeners: Mutex::new(HashMap::new()),
            imds: crate::imds::ImdsState::new(imds_credential_seconds),
        })
    }

    /// The connection caps and timeouts every listener applies.
    pub(crate) fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// Connects the request pipeline (after it is built, since it contains EC2).
    pub fn set_pipeline(&self, pipeline: &Arc<Pipeline>) {
        let _ = self.pipeline.set(Arc::downgrade(pipeline));
    }

    /// The host listeners are reached at (`127.0.0.1`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Binds one loopback socket (the given port, or a free one).
    pub fn bind_one(&self, port: Option<u16>) -> std::io::Result<std::net::TcpListener> {
        let l = std::net::TcpListener::bind(SocketAddr::new(self.bind, port.unwrap_or(0)))?;
        l.set_nonblocking(true)?;
        Ok(l)
    }

    /// Binds a plain and a TLS socket.
    pub fn bind_pair(
        &self,
        ports: Option<(u16, u16)>,
    ) -> std::io::Result<(std::net::TcpListener, std::net::TcpListener)> {
        Ok((
            self.bind_one(ports.map(|p| p.0))?,
            self.bind_one(ports.map(|p| p.1))?,
        ))
    }

    fn register(&self, id: &str, stop: watch::Sender<bool>, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut l) = self.listeners.lock()
            && let Some(old) = l.insert(id.to_string(), Handle { stop, task })
        {
            let _ = old.stop.send(true);
        }
    }

    /// Starts serving an endpoint on its two bound sockets.
    pub fn open_endpoint(
        self: &Arc<Self>,
        e: &VpcEndpoint,
        plain: std::net::TcpListener,
        tls: std::net::TcpListener,
    ) {
        let (Ok(plain), Ok(tls)) = (TcpListener::from_std(plain), TcpListener::from_std(tls))
        else {
            tracing::error!(endpoint = %e.id, "could not register the endpoint's sockets");
            return;
        };
        let (stop, rx) = watch::channel(false);
        let me = self.clone();
        let (account, id) = (e.account.clone(), e.id.clone());
        let task = tokio::spawn(async move {
            let a = endpoint_loop(
                me.clone(),
                plain,
                None,
                account.clone(),
                id.clone(),
                rx.clone(),
            );
            let b = endpoint_loop(me.clone(), tls, Some(me.tls.clone()), account, id, rx);
            tokio::join!(a, b);
        });
        self.register(&e.id, stop, task);
    }

    /// Starts an instance's metadata service on its bound socket.
    pub fn open_imds(self: &Arc<Self>, instance_id: &str, socket: std::net::TcpListener) {
        let Ok(listener) = TcpListener::from_std(socket) else {
            tracing::error!(instance = %instance_id, "could not register the metadata socket");
            return;
        };
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(crate::imds::serve(
            self.clone(),
            instance_id.to_string(),
            listener,
            rx,
        ));
        self.register(instance_id, stop, task);
    }

    /// Closes the listener of an endpoint or instance (open connections are dropped).
    pub fn close(&self, id: &str) {
        let handle = self.listeners.lock().ok().and_then(|mut l| l.remove(id));
        if let Some(h) = handle {
            let _ = h.stop.send(true);
        }
        self.imds.forget(id);
    }

    /// Re-opens every endpoint and running instance's listener at start-up, on its recorded
    /// ports when they are free (else on new ones, recorded).
    pub fn restore(self: &Arc<Self>) -> Result<(), airlock_ec2::Ec2Error> {
        for e in self.ec2.all_endpoints()? {
            let pair = match self.bind_pair(Some((e.http_port, e.https_port))) {
                Ok(p) => p,
                Err(err) => {
                    tracing::warn!(endpoint = %e.id, error = %err, "recorded ports are taken; the endpoint moves to new ports");
                    match self.bind_pair(None) {
                        Ok(p) => p,
                        Err(err) => {
                            tracing::error!(endpoint = %e.id, error = %err, "cannot bind the endpoint");
                            continue;
                        }
                    }
                }
            };
            let ports = (
                pair.0.local_addr().map(|a| a.port()).unwrap_or(0),
                pair.1.local_addr().map(|a| a.port()).unwrap_or(0),
            );
            let mut e = e;
            if ports != (e.http_port, e.https_port) {
                self.ec2.set_endpoint_ports(&e.account, &e.id, ports)?;
                e.http_port = ports.0;
                e.https_port = ports.1;
            }
            self.open_endpoint(&e, pair.0, pair.1);
        }
        for i in self.ec2.all_instances()? {
            if i.state != InstanceState::Running {
                continue;
            }
            let socket = match self
                .bind_one(Some(i.imds_port))
                .or_else(|_| self.bind_one(None))
            {
                Ok(s) => s,
                Err(err) => {
                    tracing::error!(instance = %i.id, error = %err, "cannot bind the metadata service");
                    continue;
                }
            };
            let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
            if port != i.imds_port {
                self.ec2.set_imds_port(&i.account, &i.id, port)?;
            }
            self.open_imds(&i.id, socket);
        }
        self.write_routes();
        Ok(())
    }

    /// Stops every listener and waits for them.
    pub async fn shutdown(&self) {
        let handles: Vec<Handle> = self
            .listeners
            .lock()
            .map(|mut l| l.drain().map(|(_, h)| h).collect())
            .unwrap_or_default();
        for h in &handles {
            let _ = h.stop.send(true);
        }
        for h in handles {
            let _ = h.task.await;
        }
    }

    /// The routes of every running instance.
    pub fn routes(&self) -> Result<NetworkRoutes, airlock_ec2::Ec2Error> {
        let endpoints = self.ec2.all_endpoints()?;
        let mut out = NetworkRoutes::default();
        for e in &endpoints {
            out.vpc_endpoints.insert(
                e.id.clone(),
                EndpointRoutes {
                    vpc_id: e.vpc_id.clone(),
                    service: e.service().to_string(),
                    https: format!("https://{}:{}", self.host, e.https_port),
                    http: format!("http://{}:{}", self.host, e.http_port),
                },
            );
        }
        for i in self.ec2.all_instances()? {
            if i.state != InstanceState::Running {
                continue;
            }
            let route_table = self
                .ec2
                .vpc(&i.account, &i.region, &i.vpc_id)
                .map(|v| v.main_route_table_id)
                .unwrap_or_default();
            let mut map = BTreeMap::new();
            for e in endpoints.iter().filter(|e| e.vpc_id == i.vpc_id) {
                let routed = match e.endpoint_type {
                    EndpointType::Gateway => e.route_table_ids.contains(&route_table),
                    EndpointType::Interface => true,
                };
                // A gateway route wins over an interface endpoint for the same service.
                if routed
                    && (e.endpoint_type == EndpointType::Gateway || !map.contains_key(e.service()))
                {
                    map.insert(
                        e.service().to_string(),
                        format!("https://{}:{}", self.host, e.https_port),
                    );
                }
            }
            out.instances.insert(
                i.id.clone(),
                InstanceRoutes {
                    account: i.account.clone(),
                    region: i.region.clone(),
                    vpc_id: i.vpc_id.clone(),
                    imds_endpoint: format!("http://{}:{}", self.host, i.imds_port),
                    endpoints: map,
                },
            );
        }
        Ok(out)
    }

    /// Rewrites `network.json` (after every change of endpoints or instances).
    pub fn write_routes(&self) {
        let result = self.routes().map_err(|e| e.to_string()).and_then(|r| {
            let json = serde_json::to_vec_pretty(&r).map_err(|e| e.to_string())?;
            let path = network_json(&self.data);
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, json)
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not write network.json");
        }
    }

    /// The origin of a request that arrives at an endpoint now (current policy).
    fn endpoint_origin(&self, account: &str, id: &str) -> Option<(Arc<NetworkOrigin>, String)> {
        let e = self.ec2.vpc_endpoint(account, id).ok()?;
        let policy = self
            .iam
            .policy_cache()
            .named(&e.policy_document, PolicyKind::Endpoint, e.id.clone())
            .ok()?;
        Some((
            Arc::new(NetworkOrigin {
                vpce_id: e.id.clone(),
                vpc_id: e.vpc_id.clone(),
                vpce_account: e.account.clone(),
                policy,
            }),
            e.service().to_string(),
        ))
    }
}

/// Serves one of an endpoint's listeners (`tls`: its HTTPS one).
async fn endpoint_loop(
    net: Arc<Network>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    account: String,
    id: String,
    stop: watch::Receiver<bool>,
) {
    let conns = net.connections.clone();
    let timeout = conns.limits().body_read_timeout;
    let handler = move |req: http::Request<HyperBody>, peer: Peer| {
        let (net, account, id) = (net.clone(), account.clone(), id.clone());
        async move { endpoint_request(&net, &account, &id, req, peer, timeout).await }
    };
    crate::listener::serve(listener, tls, conns, stop, handler).await;
}

/// The signing service named in a request's credential scope, if it is signed.
fn scope_service(req: &http::Request<HyperBody>) -> Option<String> {
    let from_header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split([',', ' ']).next().unwrap_or_default().to_string());
    let from_query = || {
        req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        })
    };
    let cred = from_header.or_else(from_query)?;
    cred.split('/').nth(3).map(str::to_string)
}

async fn endpoint_request(
    net: &Network,
    account: &str,
    id: &str,
    req: http::Request<HyperBody>,
    peer: Peer,
    body_read_timeout: std::time::Duration,
) -> crate::listener::Response {
    let pipeline = net.pipeline.get().and_then(Weak::upgrade);
    let origin = net.endpoint_origin(account, id);
    let (Some(pipeline), Some((network, service))) = (pipeline, origin) else {
        return boxed(plain(503, "this VPC endpoint no longer exists"));
    };
    if let Some(s) = scope_service(&req)
        && s != service
    {
        return boxed(plain(
            421,
            &format!(
                "VPC endpoint {id} serves the '{service}' service only; this request is signed for '{s}'"
            ),
        ));
    }
    let origin = Origin {
        peer: peer.addr,
        tls: peer.tls.is_some(),
        tls_version: peer.tls.and_then(|t| t.0),
        tls_cipher: peer.tls.and_then(|t| t.1),
        network: Some(network),
    };
    crate::server::respond(&pipeline, req, origin, body_read_timeout).await
}

pub(crate) fn plain(status: u16, text: &str) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let mut r = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
        text.to_string(),
    )));
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

pub(crate) fn boxed(
    r: http::Response<http_body_util::Full<bytes::Bytes>>,
) -> http::Response<http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, crate::body::BoxError>>
{
    use http_body_util::BodyExt;
    r.map(|b| b.map_err(|e: Infallible| match e {}).boxed_unsync())
}
