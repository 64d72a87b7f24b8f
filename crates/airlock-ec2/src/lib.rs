//! # airlock-ec2
//!
//! The EC2 domain of airlock: the network a request can come from. VPCs (each with a main
//! route table), subnets, VPC endpoints (gateway and interface, with their endpoint policy and
//! route tables) and instances (with their instance profile). No HTTP here: the server turns
//! endpoints into listeners and instances into metadata services; this crate keeps the durable
//! state and AWS's rules and error codes.
//!
//! ```
//! use std::sync::Arc;
//! use airlock_ec2::{Ec2, EndpointType, NewVpcEndpoint};
//! use airlock_store::RedbStore;
//! let ec2 = Ec2::new(Arc::new(RedbStore::in_memory().unwrap()));
//! let vpc = ec2.create_vpc("111111111111", "us-east-1", "10.0.0.0/16", vec![]).unwrap();
//! let e = ec2.create_vpc_endpoint("111111111111", "us-east-1", NewVpcEndpoint {
//!     vpc_id: vpc.id.clone(),
//!     service_name: "com.amazonaws.us-east-1.s3".into(),
//!     endpoint_type: EndpointType::Gateway,
//!     policy_document: None,
//!     route_table_ids: vec![vpc.main_route_table_id.clone()],
//!     subnet_ids: vec![],
//!     tags: vec![],
//! }, (0, 0)).unwrap();
//! assert_eq!(ec2.s3_gateway_for_route_table("111111111111", &vpc.main_route_table_id).unwrap().unwrap().id, e.id);
//! ```
#![deny(missing_docs)]

mod model;
mod net;
mod service;

pub use model::{
    EndpointType, IamInstanceProfile, Instance, InstanceState, NewInstance, NewVpcEndpoint,
    RouteTable, Subnet, Tag, Vpc, VpcEndpoint,
};
pub use net::Cidr;
pub use service::{DEFAULT_ENDPOINT_POLICY, Ec2, random_id};

use airlock_store::StoreError;

/// An EC2 error with AWS's code.
#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// `InvalidVpcID.NotFound`.
    #[error("The vpc ID '{0}' does not exist")]
    VpcNotFound(String),
    /// `InvalidSubnetID.NotFound`.
    #[error("The subnet ID '{0}' does not exist")]
    SubnetNotFound(String),
    /// `InvalidRouteTableID.NotFound`.
    #[error("The routeTable ID '{0}' does not exist")]
    RouteTableNotFound(String),
    /// `InvalidVpcEndpointId.NotFound`.
    #[error("The Vpc Endpoint Id '{0}' does not exist")]
    EndpointNotFound(String),
    /// `InvalidInstanceID.NotFound`.
    #[error("The instance ID '{0}' does not exist")]
    InstanceNotFound(String),
    /// `InvalidVpcEndpointService.NotFound`.
    #[error("The Vpc Endpoint Service '{0}' does not exist")]
    ServiceNotFound(String),
    /// `InvalidVpc.Range`.
    #[error("The CIDR '{0}' is invalid.")]
    InvalidVpcRange(String),
    /// `InvalidSubnet.Range`.
    #[error("The CIDR '{0}' is invalid.")]
    InvalidSubnetRange(String),
    /// `InvalidSubnet.Conflict`.
    #[error("The CIDR '{0}' conflicts with another subnet")]
    SubnetConflict(String),
    /// `DependencyViolation`.
    #[error("{0}")]
    DependencyViolation(String),
    /// `InvalidParameterValue`.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `InvalidParameter`.
    #[error("{0}")]
    InvalidParameter(String),
    /// `MissingParameter`.
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    /// `MalformedPolicyDocument`.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Ec2Error {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            Ec2Error::VpcNotFound(_) => "InvalidVpcID.NotFound",
            Ec2Error::SubnetNotFound(_) => "InvalidSubnetID.NotFound",
            Ec2Error::RouteTableNotFound(_) => "InvalidRouteTableID.NotFound",
            Ec2Error::EndpointNotFound(_) => "InvalidVpcEndpointId.NotFound",
            Ec2Error::InstanceNotFound(_) => "InvalidInstanceID.NotFound",
            Ec2Error::ServiceNotFound(_) => "InvalidVpcEndpointService.NotFound",
            Ec2Error::InvalidVpcRange(_) => "InvalidVpc.Range",
            Ec2Error::InvalidSubnetRange(_) => "InvalidSubnet.Range",
            Ec2Error::SubnetConflict(_) => "InvalidSubnet.Conflict",
            Ec2Error::DependencyViolation(_) => "DependencyViolation",
            Ec2Error::InvalidParameterValue(_) => "InvalidParameterValue",
            Ec2Error::InvalidParameter(_) => "InvalidParameter",
            Ec2Error::MissingParameter(_) => "MissingParameter",
            Ec2Error::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            Ec2Error::Store(_) => "InternalError",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            Ec2Error::Store(_) => 500,
            _ => 400,
        }
    }
}

/// Current time, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
