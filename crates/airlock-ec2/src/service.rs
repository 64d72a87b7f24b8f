//! The EC2 state and its rules.

use std::sync::Arc;

use airlock_policy::{Policy, PolicyKind};
use airlock_store::{ReadTxn, Store, StoreExt, WriteExt, WriteTxn};

use crate::model::*;
use crate::net::Cidr;
use crate::{Ec2Error, now};

const VPCS: &str = "ec2_vpcs";
const SUBNETS: &str = "ec2_subnets";
const ROUTE_TABLES: &str = "ec2_route_tables";
const ENDPOINTS: &str = "ec2_vpc_endpoints";
const INSTANCES: &str = "ec2_instances";

/// The policy a VPC endpoint gets when none is given: full access, as AWS writes it.
pub const DEFAULT_ENDPOINT_POLICY: &str = "{\n  \"Version\": \"2008-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Principal\": \"*\",\n      \"Action\": \"*\",\n      \"Resource\": \"*\"\n    }\n  ]\n}";

/// An id with AWS's prefix and 17 lower-case hex digits (`vpc-0a1b...`).
pub fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 9];
    aws_lc_rs::rand::fill(&mut b).expect("system random generator failed");
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}-{}", &hex[..17])
}

fn key(account: &str, id: &str) -> String {
    format!("{account}/{id}")
}

/// The EC2 service state.
pub struct Ec2 {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Ec2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2").finish_non_exhaustive()
    }
}

fn vpc_in(r: &dyn ReadTxn, account: &str, region: &str, id: &str) -> Result<Vpc, Ec2Error> {
    r.get_json::<Vpc>(VPCS, &key(account, id))?
        .filter(|v| v.region == region)
        .ok_or_else(|| Ec2Error::VpcNotFound(id.to_string()))
}

fn by_region<T>(items: Vec<T>, region: &str, f: impl Fn(&T) -> &str) -> Vec<T> {
    items.into_iter().filter(|x| f(x) == region).collect()
}

impl Ec2 {
    /// EC2 over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Ec2 { store }
    }

    fn read<T>(&self, f: impl FnOnce(&dyn ReadTxn) -> Result<T, Ec2Error>) -> Result<T, Ec2Error> {
        let txn = self.store.read()?;
        f(&*txn)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn WriteTxn) -> Result<T, Ec2Error>,
    ) -> Result<T, Ec2Error> {
        let mut txn = self.store.write()?;
        let out = f(&mut *txn)?;
        txn.commit()?;
        Ok(out)
    }

    // ----- VPCs -----------------------------------------------------------------------------

    /// `CreateVpc`: the VPC and its main route table. The block must be /16 to /28.
    pub fn create_vpc(
        &self,
        account: &str,
        region: &str,
        cidr_block: &str,
        tags: Vec<Tag>,
    ) -> Result<Vpc, Ec2Error> {
        let cidr = Cidr::parse(cidr_block)
            .filter(|c| (16..=28).contains(&c.len))
            .ok_or_else(|| Ec2Error::InvalidVpcRange(cidr_block.to_string()))?;
        let vpc = Vpc {
            id: random_id("vpc"),
            account: account.to_string(),
            region: region.to_string(),
            cidr_block: cidr.to_string(),
            main_route_table_id: random_id("rtb"),
            tags,
        };
        let rtb = RouteTable {
            id: vpc.main_route_table_id.clone(),
            account: account.to_string(),
            region: region.to_string(),
            vpc_id: vpc.id.clone(),
            main: true,
            tags: Vec::new(),
        };
        self.write(|t| {
            t.put_json(VPCS, &key(account, &vpc.id), &vpc)?;
            t.put_json(ROUTE_TABLES, &key(account, &rtb.id), &rtb)?;
            Ok(())
        })?;
        Ok(vpc)
    }

    /// `DescribeVpcs` (all VPCs of the account in the region; the caller filters).
    pub fn vpcs(&self, account: &str, region: &str) -> Result<Vec<Vpc>, Ec2Error> {
        self.read(|r| {
            Ok(by_region(
                r.scan_json(VPCS, &format!("{account}/"))?,
                region,
                |v: &Vpc| &v.region,
            ))
        })
    }

    /// One VPC.
    pub fn vpc(&self, account: &str, region: &str, id: &str) -> Result<Vpc, Ec2Error> {
        self.read(|r| vpc_in(r, account, region, id))
    }

    /// `DeleteVpc`: refused while subnets, endpoints or instances use it.
    pub fn delete_vpc(&self, account: &str, region: &str, id: &str) -> Result<(), Ec2Error> {
        self.write(|t| {
            let vpc = vpc_in(t.as_read(), account, region, id)?;
            let prefix = format!("{account}/");
            let subnets: Vec<Subnet> = t.scan_json(SUBNETS, &prefix)?;
            let endpoints: Vec<VpcEndpoint> = t.scan_json(ENDPOINTS, &prefix)?;
            let instances: Vec<Instance> = t.scan_json(INSTANCES, &prefix)?;
            if subnets.iter().any(|s| s.vpc_id == vpc.id)
                || endpoints.iter().any(|e| e.vpc_id == vpc.id)
                || instances
                    .iter()
                    .any(|i| i.vpc_id == vpc.id && i.state == InstanceState::Running)
            {
                return Err(Ec2Error::DependencyViolation(format!(
                    "The vpc '{id}' has dependencies and cannot be deleted."
                )));
            }
            t.delete(VPCS, &key(account, id))?;
            t.delete(ROUTE_TABLES, &key(account, &vpc.main_route_table_id))?;
            Ok(())
        })
    }

    // ----- subnets --------------------------------------------------------------------------

    /// `CreateSubnet`: inside the VPC's block, overlapping no other subnet.
    pub fn create_subnet(
        &self,
        account: &str,
        region: &str,
        vpc_id: &str,
        cidr_block: &str,
        availability_zone: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Subnet, Ec2Error> {
        let az = availability_zone
            .map(str::to_string)
            .unwrap_or_else(|| format!("{region}a"));
        if !az.starts_with(region) || az.len() != region.len() + 1 {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "Value ({az}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {region}a, {region}b, {region}c."
            )));
        }
        self.write(|t| {
            let vpc = vpc_in(t.as_read(), account, region, vpc_id)?;
            let vpc_cidr = Cidr::parse(&vpc.cidr_block)
                .ok_or_else(|| Ec2Error::InvalidVpcRange(vpc.cidr_block.clone()))?;
            let cidr = Cidr::parse(cidr_block)
                .filter(|c| (16..=28).contains(&c.len) && vpc_cidr.contains(c))
                .ok_or_else(|| Ec2Error::InvalidSubnetRange(cidr_block.to_string()))?;
            let subnets: Vec<Subnet> = t.scan_json(SUBNETS, &format!("{account}/"))?;
            if subnets.iter().any(|s| {
                s.vpc_id == vpc.id && Cidr::parse(&s.cidr_block).is_some_and(|c| c.overlaps(&cidr))
            }) {
                return Err(Ec2Error::SubnetConflict(cidr_block.to_string()));
            }
            let s = Subnet {
                id: random_id("subnet"),
                account: account.to_string(),
                region: region.to_string(),
                vpc_id: vpc.id,
                cidr_block: cidr.to_string(),
                availability_zone: az,
                tags,
            };
            t.put_json(SUBNETS, &key(account, &s.id), &s)?;
            Ok(s)
        })
    }

    /// `DescribeSubnets`.
    pub fn subnets(&self, account: &str, region: &str) -> Result<Vec<Subnet>, Ec2Error> {
        self.read(|r| {
            Ok(by_region(
                r.scan_json(SUBNETS, &format!("{account}/"))?,
                region,
                |s: &Subnet| &s.region,
            ))
        })
    }

    /// `DeleteSubnet`: refused while a running instance uses it.
    pub fn delete_subnet(&self, account: &str, region: &str, id: &str) -> Result<(), Ec2Error> {
        self.write(|t| {
            let s: Subnet = t
                .get_json::<Subnet>(SUBNETS, &key(account, id))?
                .filter(|s| s.region == region)
                .ok_or_else(|| Ec2Error::SubnetNotFound(id.to_string()))?;
            let instances: Vec<Instance> = t.scan_json(INSTANCES, &format!("{account}/"))?;
            if instances
                .iter()
                .any(|i| i.subnet_id == s.id && i.state == InstanceState::Running)
            {
                return Err(Ec2Error::DependencyViolation(format!(
                    "The subnet '{id}' has dependencies and cannot be deleted."
                )));
            }
            t.delete(SUBNETS, &key(account, id))?;
            Ok(())
        })
    }

    // ----- route tables ---------------------------------------------------------------------

    /// `DescribeRouteTables`.
    pub fn route_tables(&self, account: &str, region: &str) -> Result<Vec<RouteTable>, Ec2Error> {
        self.read(|r| {
            Ok(by_region(
                r.scan_json(ROUTE_TABLES, &format!("{account}/"))?,
                region,
                |t: &RouteTable| &t.region,
            ))
        })
    }

    /// The route table a subnet uses (its VPC's main route table).
    pub fn route_table_of_subnet(&self, subnet: &Subnet) -> Result<String, Ec2Error> {
        self.read(|r| {
            Ok(vpc_in(r, &subnet.account, &subnet.region, &subnet.vpc_id)?.main_route_table_id)
        })
    }

    /// The S3 gateway endpoint routed from this route table, if any.
    pub fn s3_gateway_for_route_table(
        &self,
        account: &str,
        route_table_id: &str,
    ) -> Result<Option<VpcEndpoint>, Ec2Error> {
        Ok(self.all_endpoints()?.into_iter().find(|e| {
            e.account == account
                && e.endpoint_type == EndpointType::Gateway
                && e.service() == "s3"
                && e.route_table_ids.iter().any(|r| r == route_table_id)
        }))
    }

    // ----- VPC endpoints --------------------------------------------------------------------

    fn check_policy(doc: &str) -> Result<(), Ec2Error> {
        Policy::parse(doc, PolicyKind::Endpoint)
            .map(|_| ())
            .map_err(|e| Ec2Error::MalformedPolicyDocument(format!("Invalid policy document: {e}")))
    }

    /// Validates a `CreateVpcEndpoint` request against the current state (nothing changes).
    pub fn validate_new_endpoint(
        &self,
        account: &str,
        region: &str,
        input: &NewVpcEndpoint,
    ) -> Result<(), Ec2Error> {
        let service = input
            .service_name
            .strip_prefix(&format!("com.amazonaws.{region}."))
            .filter(|s| *s == "s3" || *s == "sts")
            .ok_or_else(|| Ec2Error::ServiceNotFound(input.service_name.clone()))?;
        if service == "sts" && input.endpoint_type == EndpointType::Gateway {
            return Err(Ec2Error::InvalidParameter(format!(
                "The Vpc Endpoint Service '{}' does not support the endpoint type 'Gateway'",
                input.service_name
            )));
        }
        if input.endpoint_type == EndpointType::Interface && !input.route_table_ids.is_empty() {
            return Err(Ec2Error::InvalidParameter(
                "Route table IDs are only supported for Gateway type VPC Endpoint.".into(),
            ));
        }
        if let Some(p) = &input.policy_document {
            Self::check_policy(p)?;
        }
        self.read(|r| {
            vpc_in(r, account, region, &input.vpc_id)?;
            check_route_tables(r, account, &input.vpc_id, &input.route_table_ids)?;
            for s in &input.subnet_ids {
                let sub = r
                    .get_json::<Subnet>(SUBNETS, &key(account, s))?
                    .ok_or_else(|| Ec2Error::SubnetNotFound(s.clone()))?;
                if sub.vpc_id != input.vpc_id {
                    return Err(Ec2Error::InvalidParameter(format!(
                        "The subnet '{s}' does not belong to the vpc '{}'",
                        input.vpc_id
                    )));
                }
            }
            let endpoints: Vec<VpcEndpoint> = r.scan_json(ENDPOINTS, &format!("{account}/"))?;
            if input.endpoint_type == EndpointType::Gateway {
                for rt in &input.route_table_ids {
                    if endpoints.iter().any(|e| {
                        e.service_name == input.service_name && e.route_table_ids.contains(rt)
                    }) {
                        return Err(Ec2Error::InvalidParameter(format!(
                            "route table {rt} already has a route with destination-prefix-list-id for {}",
                            input.service_name
                        )));
                    }
                }
            }
            Ok(())
        })
    }

    /// `CreateVpcEndpoint`, with the ports its listener was bound to.
    pub fn create_vpc_endpoint(
        &self,
        account: &str,
        region: &str,
        input: NewVpcEndpoint,
        ports: (u16, u16),
    ) -> Result<VpcEndpoint, Ec2Error> {
        self.validate_new_endpoint(account, region, &input)?;
        let e = VpcEndpoint {
            id: random_id("vpce"),
            account: account.to_string(),
            region: region.to_string(),
            vpc_id: input.vpc_id,
            service_name: input.service_name,
            endpoint_type: input.endpoint_type,
            policy_document: input
                .policy_document
                .unwrap_or_else(|| DEFAULT_ENDPOINT_POLICY.to_string()),
            route_table_ids: input.route_table_ids,
            subnet_ids: input.subnet_ids,
            created: now(),
            http_port: ports.0,
            https_port: ports.1,
            tags: input.tags,
        };
        self.write(|t| {
            t.put_json(ENDPOINTS, &key(account, &e.id), &e)?;
            Ok(())
        })?;
        Ok(e)
    }

    /// One endpoint.
    pub fn vpc_endpoint(&self, account: &str, id: &str) -> Result<VpcEndpoint, Ec2Error> {
        self.read(|r| {
            r.get_json::<VpcEndpoint>(ENDPOINTS, &key(account, id))?
                .ok_or_else(|| Ec2Error::EndpointNotFound(id.to_string()))
        })
    }

    /// `DescribeVpcEndpoints`.
    pub fn vpc_endpoints(&self, account: &str, region: &str) -> Result<Vec<VpcEndpoint>, Ec2Error> {
        self.read(|r| {
            Ok(by_region(
                r.scan_json(ENDPOINTS, &format!("{account}/"))?,
                region,
                |e: &VpcEndpoint| &e.region,
            ))
        })
    }

    /// Every endpoint of every account (listeners at start-up).
    pub fn all_endpoints(&self) -> Result<Vec<VpcEndpoint>, Ec2Error> {
        self.read(|r| Ok(r.scan_json(ENDPOINTS, "")?))
    }

    /// Records new listener ports of an endpoint (when its old ports were taken at start-up).
    pub fn set_endpoint_ports(
        &self,
        account: &str,
        id: &str,
        ports: (u16, u16),
    ) -> Result<(), Ec2Error> {
        self.write(|t| {
            let mut e: VpcEndpoint = t
                .get_json(ENDPOINTS, &key(account, id))?
                .ok_or_else(|| Ec2Error::EndpointNotFound(id.to_string()))?;
            e.http_port = ports.0;
            e.https_port = ports.1;
            t.put_json(ENDPOINTS, &key(account, id), &e)?;
            Ok(())
        })
    }

    /// `ModifyVpcEndpoint`: new policy (or the default with `reset_policy`), route tables
    /// added and removed.
    #[allow(clippy::too_many_arguments)]
    pub fn modify_vpc_endpoint(
        &self,
        account: &str,
        region: &str,
        id: &str,
        policy: Option<&str>,
        reset_policy: bool,
        add_route_tables: &[String],
        remove_route_tables: &[String],
    ) -> Result<VpcEndpoint, Ec2Error> {
        if let Some(p) = policy {
            Self::check_policy(p)?;
        }
        self.write(|t| {
            let mut e: VpcEndpoint = t
                .get_json::<VpcEndpoint>(ENDPOINTS, &key(account, id))?
                .filter(|e| e.region == region)
                .ok_or_else(|| Ec2Error::EndpointNotFound(id.to_string()))?;
            if e.endpoint_type == EndpointType::Interface
                && !(add_route_tables.is_empty() && remove_route_tables.is_empty())
            {
                return Err(Ec2Error::InvalidParameter(
                    "Route table IDs are only supported for Gateway type VPC Endpoint.".into(),
                ));
            }
            check_route_tables(t.as_read(), account, &e.vpc_id, add_route_tables)?;
            check_route_tables(t.as_read(), account, &e.vpc_id, remove_route_tables)?;
            if let Some(p) = policy {
                e.policy_document = p.to_string();
            } else if reset_policy {
                e.policy_document = DEFAULT_ENDPOINT_POLICY.to_string();
            }
            for r in add_route_tables {
                if !e.route_table_ids.contains(r) {
                    e.route_table_ids.push(r.clone());
                }
            }
            e.route_table_ids
                .retain(|r| !remove_route_tables.contains(r));
            t.put_json(ENDPOINTS, &key(account, id), &e)?;
            Ok(e)
        })
    }

    /// `DeleteVpcEndpoints`: per id, the deleted endpoint or the error for that id.
    pub fn delete_vpc_endpoints(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
    ) -> Result<Vec<Result<VpcEndpoint, Ec2Error>>, Ec2Error> {
        self.write(|t| {
            let mut out = Vec::new();
            for id in ids {
                match t
                    .get_json::<VpcEndpoint>(ENDPOINTS, &key(account, id))?
                    .filter(|e| e.region == region)
                {
                    Some(e) => {
                        t.delete(ENDPOINTS, &key(account, id))?;
                        out.push(Ok(e));
                    }
                    None => out.push(Err(Ec2Error::EndpointNotFound(id.clone()))),
                }
            }
            Ok(out)
        })
    }

    // ----- instances ------------------------------------------------------------------------

    /// Validates `RunInstances` against the current state: the subnet it will use.
    pub fn subnet_for_launch(
        &self,
        account: &str,
        region: &str,
        subnet_id: Option<&str>,
    ) -> Result<Subnet, Ec2Error> {
        self.read(|r| {
            let subnets: Vec<Subnet> = r.scan_json(SUBNETS, &format!("{account}/"))?;
            match subnet_id {
                Some(id) => subnets
                    .into_iter()
                    .find(|s| s.id == id && s.region == region)
                    .ok_or_else(|| Ec2Error::SubnetNotFound(id.to_string())),
                None => subnets
                    .into_iter()
                    .find(|s| s.region == region)
                    .ok_or_else(|| {
                        Ec2Error::MissingParameter(
                        "SubnetId (airlock has no default VPC: create a VPC and a subnet first)"
                            .into(),
                    )
                    }),
            }
        })
    }

    /// `RunInstances`: `count` instances, each with the port of its metadata service.
    pub fn run_instances(
        &self,
        account: &str,
        region: &str,
        input: &NewInstance,
        imds_ports: &[u16],
    ) -> Result<Vec<Instance>, Ec2Error> {
        let subnet = self.subnet_for_launch(account, region, input.subnet_id.as_deref())?;
        let reservation = random_id("r");
        let cidr = Cidr::parse(&subnet.cidr_block)
            .ok_or_else(|| Ec2Error::InvalidSubnetRange(subnet.cidr_block.clone()))?;
        self.write(|t| {
            let existing: Vec<Instance> = t.scan_json(INSTANCES, &format!("{account}/"))?;
            let mut used = existing.iter().filter(|i| i.subnet_id == subnet.id).count() as u32;
            let mut out = Vec::new();
            for port in imds_ports {
                used += 1;
                let i = Instance {
                    id: random_id("i"),
                    reservation_id: reservation.clone(),
                    account: account.to_string(),
                    region: region.to_string(),
                    image_id: input.image_id.clone(),
                    instance_type: input.instance_type.clone(),
                    subnet_id: subnet.id.clone(),
                    vpc_id: subnet.vpc_id.clone(),
                    availability_zone: subnet.availability_zone.clone(),
                    // AWS reserves the first four addresses of a subnet.
                    private_ip: cidr.host(3 + used),
                    state: InstanceState::Running,
                    iam_instance_profile: input.iam_instance_profile.clone(),
                    launch_time: now(),
                    imds_port: *port,
                    tags: input.tags.clone(),
                };
                t.put_json(INSTANCES, &key(account, &i.id), &i)?;
                out.push(i);
            }
            Ok(out)
        })
    }

    /// `DescribeInstances`.
    pub fn instances(&self, account: &str, region: &str) -> Result<Vec<Instance>, Ec2Error> {
        self.read(|r| {
            Ok(by_region(
                r.scan_json(INSTANCES, &format!("{account}/"))?,
                region,
                |i: &Instance| &i.region,
            ))
        })
    }

    /// Every instance of every account.
    pub fn all_instances(&self) -> Result<Vec<Instance>, Ec2Error> {
        self.read(|r| Ok(r.scan_json(INSTANCES, "")?))
    }

    /// One instance of any account, by id.
    pub fn find_instance(&self, id: &str) -> Result<Instance, Ec2Error> {
        self.all_instances()?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| Ec2Error::InstanceNotFound(id.to_string()))
    }

    /// Records a new metadata-service port of an instance.
    pub fn set_imds_port(&self, account: &str, id: &str, port: u16) -> Result<(), Ec2Error> {
        self.write(|t| {
            let mut i: Instance = t
                .get_json(INSTANCES, &key(account, id))?
                .ok_or_else(|| Ec2Error::InstanceNotFound(id.to_string()))?;
            i.imds_port = port;
            t.put_json(INSTANCES, &key(account, id), &i)?;
            Ok(())
        })
    }

    /// Checks that every id names an instance of the account in the region.
    pub fn check_instances(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
    ) -> Result<(), Ec2Error> {
        let all = self.instances(account, region)?;
        for id in ids {
            if !all.iter().any(|i| &i.id == id) {
                return Err(Ec2Error::InstanceNotFound(id.clone()));
            }
        }
        Ok(())
    }

    /// `TerminateInstances`: (instance after, previous state) per id.
    pub fn terminate_instances(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
    ) -> Result<Vec<(Instance, InstanceState)>, Ec2Error> {
        self.write(|t| {
            let mut out = Vec::new();
            for id in ids {
                let mut i: Instance = t
                    .get_json::<Instance>(INSTANCES, &key(account, id))?
                    .filter(|i| i.region == region)
                    .ok_or_else(|| Ec2Error::InstanceNotFound(id.clone()))?;
                let prev = i.state;
                i.state = InstanceState::Terminated;
                i.imds_port = 0;
                t.put_json(INSTANCES, &key(account, id), &i)?;
                out.push((i, prev));
            }
            Ok(out)
        })
    }
}

fn check_route_tables(
    r: &dyn ReadTxn,
    account: &str,
    vpc_id: &str,
    ids: &[String],
) -> Result<(), Ec2Error> {
    for id in ids {
        let rt = r
            .get_json::<RouteTable>(ROUTE_TABLES, &key(account, id))?
            .ok_or_else(|| Ec2Error::RouteTableNotFound(id.clone()))?;
        if rt.vpc_id != vpc_id {
            return Err(Ec2Error::InvalidParameter(format!(
                "The route table '{id}' does not belong to the vpc '{vpc_id}'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_store::RedbStore;

    const A: &str = "111111111111";
    const R: &str = "us-east-1";

    fn ec2() -> Ec2 {
        Ec2::new(Arc::new(RedbStore::in_memory().unwrap()))
    }

    fn gateway(vpc: &Vpc, policy: Option<&str>) -> NewVpcEndpoint {
        NewVpcEndpoint {
            vpc_id: vpc.id.clone(),
            service_name: format!("com.amazonaws.{R}.s3"),
            endpoint_type: EndpointType::Gateway,
            policy_document: policy.map(str::to_string),
            route_table_ids: vec![vpc.main_route_table_id.clone()],
            subnet_ids: vec![],
            tags: vec![],
        }
    }

    #[test]
    fn vpc_rules() {
        let e = ec2();
        assert_eq!(
            e.create_vpc(A, R, "10.0.0.0/8", vec![]).unwrap_err().code(),
            "InvalidVpc.Range"
        );
        let vpc = e.create_vpc(A, R, "10.0.0.0/16", vec![]).unwrap();
        assert_eq!(e.route_tables(A, R).unwrap().len(), 1);
        assert!(e.vpcs(A, "eu-west-1").unwrap().is_empty());
        let s = e
            .create_subnet(A, R, &vpc.id, "10.0.1.0/24", None, vec![])
            .unwrap();
        assert_eq!(s.availability_zone, "us-east-1a");
        assert_eq!(
            e.create_subnet(A, R, &vpc.id, "10.0.1.0/25", None, vec![])
                .unwrap_err()
                .code(),
            "InvalidSubnet.Conflict"
        );
        assert_eq!(
            e.create_subnet(A, R, &vpc.id, "10.1.0.0/24", None, vec![])
                .unwrap_err()
                .code(),
            "InvalidSubnet.Range"
        );
        assert_eq!(
            e.delete_vpc(A, R, &vpc.id).unwrap_err().code(),
            "DependencyViolation"
        );
        e.delete_subnet(A, R, &s.id).unwrap();
        e.delete_vpc(A, R, &vpc.id).unwrap();
        assert!(e.route_tables(A, R).unwrap().is_empty());
        assert_eq!(
            e.vpc(A, R, &vpc.id).unwrap_err().code(),
            "InvalidVpcID.NotFound"
        );
    }

    #[test]
    fn endpoint_rules() {
        let e = ec2();
        let vpc = e.create_vpc(A, R, "10.0.0.0/16", vec![]).unwrap();
        let mut bad = gateway(&vpc, None);
        bad.service_name = "com.amazonaws.us-east-1.dynamodb".into();
        assert_eq!(
            e.create_vpc_endpoint(A, R, bad, (0, 0)).unwrap_err().code(),
            "InvalidVpcEndpointService.NotFound"
        );
        assert_eq!(
            e.create_vpc_endpoint(A, R, gateway(&vpc, Some("{\"Statement\": 3}")), (0, 0))
                .unwrap_err()
                .code(),
            "MalformedPolicyDocument"
        );
        let gw = e
            .create_vpc_endpoint(A, R, gateway(&vpc, None), (1, 2))
            .unwrap();
        assert_eq!(gw.policy_document, DEFAULT_ENDPOINT_POLICY);
        // One S3 route per route table.
        assert_eq!(
            e.create_vpc_endpoint(A, R, gateway(&vpc, None), (0, 0))
                .unwrap_err()
                .code(),
            "InvalidParameter"
        );
        let m = e
            .modify_vpc_endpoint(
                A,
                R,
                &gw.id,
                None,
                false,
                &[],
                std::slice::from_ref(&vpc.main_route_table_id),
            )
            .unwrap();
        assert!(m.route_table_ids.is_empty());
        assert!(
            e.s3_gateway_for_route_table(A, &vpc.main_route_table_id)
                .unwrap()
                .is_none()
        );
        let out = e
            .delete_vpc_endpoints(A, R, &[gw.id.clone(), "vpce-0000".into()])
            .unwrap();
        assert!(out[0].is_ok());
        assert_eq!(
            out[1].as_ref().unwrap_err().code(),
            "InvalidVpcEndpointId.NotFound"
        );
    }

    #[test]
    fn instances() {
        let e = ec2();
        assert_eq!(
            e.subnet_for_launch(A, R, None).unwrap_err().code(),
            "MissingParameter"
        );
        let vpc = e.create_vpc(A, R, "10.0.0.0/16", vec![]).unwrap();
        let s = e
            .create_subnet(A, R, &vpc.id, "10.0.1.0/24", None, vec![])
            .unwrap();
        let input = NewInstance {
            image_id: "ami-1".into(),
            instance_type: "t2.micro".into(),
            subnet_id: Some(s.id.clone()),
            iam_instance_profile: None,
            tags: vec![],
        };
        let is = e.run_instances(A, R, &input, &[10, 11]).unwrap();
        assert_eq!(is.len(), 2);
        assert_eq!(is[0].private_ip, "10.0.1.4");
        assert_eq!(is[0].vpc_id, vpc.id);
        let t = e.terminate_instances(A, R, &[is[0].id.clone()]).unwrap();
        assert_eq!(t[0].1, InstanceState::Running);
        assert_eq!(t[0].0.state, InstanceState::Terminated);
        assert_eq!(
            e.terminate_instances(A, R, &["i-0".into()])
                .unwrap_err()
                .code(),
            "InvalidInstanceID.NotFound"
        );
    }
}
