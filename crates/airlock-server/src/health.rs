//! `GET /_airlock/health` on the main listeners: what is running, unauthenticated, as JSON.
//!
//! The path cannot collide with S3: a path-style request for it would name the bucket
//! `_airlock`, and bucket names cannot contain `_`. A virtual-hosted-style request
//! (`BUCKET.localhost/_airlock/health`) names the object `_airlock/health` of a bucket and
//! goes to S3 as usual. The document names no secret: account ids and aliases, addresses.
//! Its JSON Schema is `schemas/health.schema.json` (`airlock schema health`).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::network::Network;
use crate::server::ServerInfo;

/// The path of the health document.
pub const HEALTH_PATH: &str = "/_airlock/health";

/// The health document.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `running` (a server that answers is running).
    pub status: String,
    /// The airlock version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: f64,
    /// The services served, by their signing name (the credential scope's service).
    pub services: Vec<String>,
    /// The default region.
    pub region: String,
    /// The accounts served (ids and aliases; the alias is also the AWS CLI profile).
    pub accounts: Vec<HealthAccount>,
    /// Where the server listens.
    pub listeners: HealthListeners,
}

/// An account served.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthAccount {
    /// The 12-digit account id.
    pub id: String,
    /// The alias (AWS CLI profile name).
    pub alias: String,
}

/// Every listener's address.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthListeners {
    /// The main plain-HTTP listener (`http://HOST:PORT`).
    pub http: String,
    /// The main HTTPS listener (`https://HOST:PORT`).
    pub https: String,
    /// One entry per VPC endpoint (its own listeners).
    pub vpc_endpoints: Vec<HealthVpcEndpoint>,
    /// One entry per running instance (its metadata service).
    pub metadata_services: Vec<HealthMetadataService>,
}

/// A VPC endpoint's listeners.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthVpcEndpoint {
    /// `vpce-...`.
    pub id: String,
    /// The VPC.
    pub vpc_id: String,
    /// The service (`s3`, `sts`, ...).
    pub service: String,
    /// Plain-HTTP listener.
    pub http: String,
    /// HTTPS listener.
    pub https: String,
}

/// A running instance's metadata service.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthMetadataService {
    /// `i-...`.
    pub instance_id: String,
    /// `http://HOST:PORT`.
    pub endpoint: String,
}

/// What the health document is made of.
pub(crate) struct HealthSource {
    pub(crate) info: ServerInfo,
    pub(crate) started: Instant,
    pub(crate) services: Vec<String>,
    pub(crate) network: Arc<Network>,
}

impl HealthSource {
    /// The document now.
    pub(crate) fn health(&self) -> Health {
        let mut vpc_endpoints = Vec::new();
        let mut metadata_services = Vec::new();
        match self.network.routes() {
            Ok(routes) => {
                for (id, e) in routes.vpc_endpoints {
                    vpc_endpoints.push(HealthVpcEndpoint {
                        id,
                        vpc_id: e.vpc_id,
                        service: e.service,
                        http: e.http,
                        https: e.https,
                    });
                }
                for (id, i) in routes.instances {
                    metadata_services.push(HealthMetadataService {
                        instance_id: id,
                        endpoint: i.imds_endpoint,
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "health: could not read the network listeners"),
        }
        Health {
            status: "running".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            services: self.services.clone(),
            region: self.info.region.clone(),
            accounts: self
                .info
                .accounts
                .iter()
                .map(|a| HealthAccount {
                    id: a.id.clone(),
                    alias: a.alias.clone(),
                })
                .collect(),
            listeners: HealthListeners {
                http: self.info.http_endpoint.clone(),
                https: self.info.https_endpoint.clone(),
                vpc_endpoints,
                metadata_services,
            },
        }
    }

    /// The HTTP answer (a `HEAD` gets the headers only).
    pub(crate) fn response(&self, head: bool) -> (http::StatusCode, Bytes) {
        match serde_json::to_vec_pretty(&self.health()) {
            Ok(mut json) => {
                json.push(b'\n');
                let body = if head {
                    Bytes::new()
                } else {
                    Bytes::from(json)
                };
                (http::StatusCode::OK, body)
            }
            Err(e) => (
                http::StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from(format!("{{\"status\":\"error\",\"message\":\"{e}\"}}\n")),
            ),
        }
    }
}

/// Whether a request on a main listener asks for the health document: `GET` or `HEAD` of
/// [`HEALTH_PATH`] (any query), unless the `Host` names a bucket (virtual-hosted-style S3).
pub fn is_health_request(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> bool {
    if uri.path() != HEALTH_PATH || !(method == http::Method::GET || method == http::Method::HEAD) {
        return false;
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    crate::services::s3::request::vhost_bucket(host).is_none()
}

/// The JSON Schema of [`Health`] (`schemas/health.schema.json`).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(Health)
}
