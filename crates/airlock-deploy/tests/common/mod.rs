//! Test harness: a real `airlock serve` endpoint in process (accounts 111111111111 and
//! 222222222222), clients from its administrator keys over HTTPS with its CA, and the
//! instance side from its `network.json` (as `airlock exec` maps it).
#![allow(dead_code)]

pub mod seed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_deploy::connect::{AccountClients, ClientOptions, explicit_config};
use airlock_deploy::record::RequestLog;
use airlock_deploy::target::{EndpointUrls, Target};
use airlock_deploy::verify::{InstanceSide, instance_from_imds};
use airlock_server::network::NetworkRoutes;
use airlock_server::{DataDir, ServeConfig, Server, ServerInfo};
use aws_credential_types::Credentials;

pub struct Local {
    pub dir: tempfile::TempDir,
    pub info: ServerInfo,
    pub keys: Vec<(String, Credentials)>,
    server: Option<Server>,
    pub rt: tokio::runtime::Runtime,
}

impl Local {
    pub fn start() -> Local {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = ServeConfig::new(dir.path().join("data"));
        config.accounts = vec![
            (seed::A.into(), "account-a".into()),
            (seed::B.into(), "account-b".into()),
        ];
        let server = rt.block_on(Server::start(config)).unwrap();
        let info = server.info().clone();
        let keys = server
            .admin_keys()
            .iter()
            .map(|(a, k)| {
                (
                    a.id.clone(),
                    Credentials::new(&k.access_key_id, &k.secret_access_key, None, None, "admin"),
                )
            })
            .collect();
        Local {
            dir,
            info,
            keys,
            server: Some(server),
            rt,
        }
    }

    pub fn data(&self) -> DataDir {
        DataDir::new(self.dir.path().join("data"))
    }

    pub fn blueprint_path(&self) -> PathBuf {
        self.dir.path().join("seed.toml")
    }

    pub fn state_path(&self) -> PathBuf {
        airlock_deploy::state_path(&self.blueprint_path())
    }

    pub fn options(&self, record: Option<RequestLog>) -> ClientOptions {
        ClientOptions {
            ca_bundles: vec![self.info.ca_bundle.clone()],
            record,
        }
    }

    pub fn clients(&self, account: &str, record: Option<RequestLog>) -> AccountClients {
        let creds = self
            .keys
            .iter()
            .find(|(a, _)| a == account)
            .unwrap()
            .1
            .clone();
        let opts = self.options(record);
        let cfg = explicit_config(
            "us-east-1",
            Some(&self.info.https_endpoint),
            Some(creds),
            &opts.ca_bundles,
        )
        .unwrap();
        AccountClients::new(&cfg, &opts)
    }

    pub fn target(&self, record: Option<RequestLog>) -> Target {
        let data = self.data();
        let resolver = Arc::new(move |id: &str| {
            let routes = NetworkRoutes::read(&data).ok()?;
            routes.vpc_endpoints.get(id).map(|e| EndpointUrls {
                https: e.https.clone(),
                http: e.http.clone(),
            })
        });
        self.rt
            .block_on(Target::connect(
                self.clients(seed::B, record.clone()),
                self.clients(seed::A, record),
                Some(resolver),
            ))
            .unwrap()
    }

    /// The instance side of the first running instance, as `airlock exec` maps it.
    pub fn instance(&self) -> InstanceSide {
        let routes = NetworkRoutes::read(&self.data()).unwrap();
        let (_, inst) = routes.instances.iter().next().expect("a running instance");
        let s3 = inst.endpoints.get("s3").cloned();
        let http = s3.as_ref().and_then(|u| {
            routes
                .vpc_endpoints
                .values()
                .find(|e| &e.https == u)
                .map(|e| e.http.clone())
        });
        let sts = inst
            .endpoints
            .get("sts")
            .cloned()
            .unwrap_or_else(|| self.info.https_endpoint.clone());
        instance_from_imds(
            &inst.imds_endpoint,
            &inst.region,
            &sts,
            s3,
            http,
            self.options(None),
        )
        .unwrap()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
