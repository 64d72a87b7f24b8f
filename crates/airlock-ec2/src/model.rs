//! Stored EC2 records.

use serde::{Deserialize, Serialize};

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    /// `vpc-...`.
    pub id: String,
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Primary IPv4 CIDR block.
    pub cidr_block: String,
    /// Its main route table (created with the VPC).
    pub main_route_table_id: String,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A subnet. Subnets use their VPC's main route table (explicit associations are not modelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `subnet-...`.
    pub id: String,
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// VPC.
    pub vpc_id: String,
    /// IPv4 CIDR block.
    pub cidr_block: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A route table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    /// `rtb-...`.
    pub id: String,
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// VPC.
    pub vpc_id: String,
    /// Whether it is the VPC's main route table.
    pub main: bool,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Gateway or interface endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointType {
    /// Reached through route tables (S3, DynamoDB).
    Gateway,
    /// Reached through its own DNS names.
    Interface,
}

impl EndpointType {
    /// `Gateway` / `Interface`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointType::Gateway => "Gateway",
            EndpointType::Interface => "Interface",
        }
    }

    /// Parses AWS's spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "gateway" => Some(EndpointType::Gateway),
            "interface" => Some(EndpointType::Interface),
            _ => None,
        }
    }
}

/// A VPC endpoint, with the loopback ports of its listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcEndpoint {
    /// `vpce-...`.
    pub id: String,
    /// Owner account (`aws:VpceAccount`).
    pub account: String,
    /// Region.
    pub region: String,
    /// VPC (`aws:SourceVpc`).
    pub vpc_id: String,
    /// `com.amazonaws.REGION.s3`.
    pub service_name: String,
    /// Gateway or interface.
    pub endpoint_type: EndpointType,
    /// The endpoint policy (full access by default).
    pub policy_document: String,
    /// Route tables (gateway endpoints).
    pub route_table_ids: Vec<String>,
    /// Subnets (interface endpoints).
    pub subnet_ids: Vec<String>,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Plain-HTTP port of the endpoint's listener.
    pub http_port: u16,
    /// HTTPS port of the endpoint's listener.
    pub https_port: u16,
    /// Tags.
    pub tags: Vec<Tag>,
}

impl VpcEndpoint {
    /// The service short name: `s3`, `sts`.
    pub fn service(&self) -> &str {
        self.service_name.rsplit('.').next().unwrap_or_default()
    }
}

/// What `CreateVpcEndpoint` asks for.
#[derive(Debug, Clone)]
pub struct NewVpcEndpoint {
    /// VPC.
    pub vpc_id: String,
    /// Service name.
    pub service_name: String,
    /// Type.
    pub endpoint_type: EndpointType,
    /// Policy, or the default full-access policy.
    pub policy_document: Option<String>,
    /// Route tables (gateway).
    pub route_table_ids: Vec<String>,
    /// Subnets (interface).
    pub subnet_ids: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Instance lifecycle states that airlock models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceState {
    /// Running.
    Running,
    /// Terminated.
    Terminated,
}

impl InstanceState {
    /// AWS's state code and name.
    pub fn code_and_name(&self) -> (u16, &'static str) {
        match self {
            InstanceState::Running => (16, "running"),
            InstanceState::Terminated => (48, "terminated"),
        }
    }
}

/// The instance profile attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamInstanceProfile {
    /// Profile ARN.
    pub arn: String,
    /// Profile id (`AIPA...`).
    pub id: String,
    /// Profile name.
    pub name: String,
}

/// An instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// `i-...`.
    pub id: String,
    /// `r-...`.
    pub reservation_id: String,
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// AMI id, as given.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Subnet.
    pub subnet_id: String,
    /// VPC.
    pub vpc_id: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Private IPv4 address.
    pub private_ip: String,
    /// State.
    pub state: InstanceState,
    /// Instance profile.
    pub iam_instance_profile: Option<IamInstanceProfile>,
    /// Launch time (Unix seconds).
    pub launch_time: i64,
    /// Port of its instance metadata service on loopback (0 when not running).
    pub imds_port: u16,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// What `RunInstances` asks for (one instance per entry).
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// AMI id.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Subnet, or the account's first subnet in the region.
    pub subnet_id: Option<String>,
    /// Instance profile, already resolved against IAM.
    pub iam_instance_profile: Option<IamInstanceProfile>,
    /// Tags.
    pub tags: Vec<Tag>,
}
