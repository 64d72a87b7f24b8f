//! # airlock-server
//!
//! airlock's local multi-account AWS endpoint: one HTTP and one HTTPS listener for every
//! service, SigV4 authentication, the AWS wire protocols and error formats, durable state, and
//! the single request pipeline in which every call is authenticated, authorized by the policy
//! engine, executed, recorded and timed.
//!
//! Services plug in through [`service::Service`]: a service turns an authenticated
//! [`service::Call`] into a [`service::Prepared`] operation that lists the authorization
//! [`service::Check`]s it needs; the [`pipeline::Pipeline`] asks the engine and only then runs
//! the operation. IAM and STS are the first two; KMS, S3 and EC2 plug in the same way.
//!
//! ```no_run
//! # async fn demo() -> Result<(), airlock_server::ServeError> {
//! let mut config = airlock_server::ServeConfig::new("/tmp/airlock-data");
//! config.accounts.push(("111111111111".into(), "account-a".into()));
//! let server = airlock_server::Server::start(config).await?;
//! println!("HTTPS on {}", server.info().https_endpoint);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod audit;
pub mod auth;
pub mod authz;
pub mod body;
pub mod client;
pub mod error;
pub mod health;
pub mod imds;
pub mod keyfile;
pub mod listener;
pub mod network;
pub mod pipeline;
pub mod record;
pub mod sealing;
pub mod server;
pub mod service;
pub mod services;
pub mod sigv4;
pub mod tls;
pub mod trail;
pub mod unserved;
pub mod xml;

pub use error::AwsError;
pub use listener::Limits;
pub use server::{
    AccountInfo, DataDir, MainListener, ServeConfig, ServeError, Server, ServerInfo, ServerState,
    default_data_dir, fixed_credentials,
};
