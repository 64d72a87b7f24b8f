//! Where apply, verify and destroy act: the storage and consumer accounts' clients, and, on the
//! local endpoint, how a client inside a VPC reaches its endpoints.

use std::sync::Arc;

use crate::connect::AccountClients;
use crate::error::DeployError;
use crate::state::State;

/// The URLs a client inside a VPC uses to reach a VPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrls {
    /// HTTPS.
    pub https: String,
    /// Plain HTTP (no TLS).
    pub http: String,
}

/// Looks up the listeners of a VPC endpoint by id (the local endpoint's `network.json`).
pub type EndpointResolver = Arc<dyn Fn(&str) -> Option<EndpointUrls> + Send + Sync>;

/// The two accounts' clients.
#[derive(Clone)]
pub struct Target {
    /// The storage account (bucket, key, storage role).
    pub storage: AccountClients,
    /// Its account id (from `GetCallerIdentity`).
    pub storage_id: String,
    /// The caller ARN of the storage clients.
    pub storage_arn: String,
    /// The consumer account (instance role, VPC, endpoint, instance).
    pub consumer: AccountClients,
    /// Its account id.
    pub consumer_id: String,
    /// The caller ARN of the consumer clients.
    pub consumer_arn: String,
    /// Local endpoint only: how to reach a VPC endpoint from inside its VPC. Bucket
    /// management of the storage account goes through it once the bucket policy admits only
    /// the endpoint (on real AWS, that requires running inside the VPC).
    pub endpoints: Option<EndpointResolver>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("storage_arn", &self.storage_arn)
            .field("consumer_arn", &self.consumer_arn)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Identifies both callers (`GetCallerIdentity`).
    pub async fn connect(
        storage: AccountClients,
        consumer: AccountClients,
        endpoints: Option<EndpointResolver>,
    ) -> Result<Target, DeployError> {
        let (storage_id, storage_arn) = storage.identity().await?;
        let (consumer_id, consumer_arn) = consumer.identity().await?;
        Ok(Target {
            storage,
            storage_id,
            storage_arn,
            consumer,
            consumer_id,
            consumer_arn,
            endpoints,
        })
    }

    /// The clients of an account of the plan.
    pub fn clients(&self, account: &str) -> Result<&AccountClients, DeployError> {
        if account == self.storage_id {
            Ok(&self.storage)
        } else if account == self.consumer_id {
            Ok(&self.consumer)
        } else {
            Err(DeployError::Config(format!(
                "the plan has resources in account {account}, but the storage profile is account {} and the consumer profile account {}",
                self.storage_id, self.consumer_id
            )))
        }
    }

    /// The S3 client the storage account manages its bucket with: through the first VPC
    /// endpoint of the state when the resolver knows it (inside the VPC), else directly.
    pub fn bucket_s3(&self, state: &State) -> (aws_sdk_s3::Client, Option<String>) {
        if let Some(resolve) = &self.endpoints {
            for n in &state.networks {
                if let Some(id) = &n.vpce_id
                    && let Some(urls) = resolve(id)
                {
                    return (self.storage.s3_at(&urls.https), Some(id.clone()));
                }
            }
        }
        (self.storage.s3.clone(), None)
    }
}
