//! EC2 over its query protocol: VPCs, subnets, route tables, VPC endpoints (each a listener,
//! see [`crate::network`]) and instances (each with a metadata service, see [`crate::imds`]).

use std::sync::Arc;

use airlock_ec2::{
    DEFAULT_ENDPOINT_POLICY, Ec2, Ec2Error, EndpointType, IamInstanceProfile, Instance,
    NewInstance, NewVpcEndpoint, Tag, VpcEndpoint,
};
use airlock_iam::Iam;
use airlock_policy::ContextValue;
use base64::Engine;

use crate::error::AwsError;
use crate::network::Network;
use crate::service::{Call, Check, Params, Prepared, Protocol, Reply, Service};
use crate::xml::{Xml, iso8601};

/// The EC2 XML namespace.
pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
const VERSION: &str = "2016-11-15";

impl From<Ec2Error> for AwsError {
    fn from(e: Ec2Error) -> Self {
        if let Ec2Error::Store(s) = &e {
            tracing::error!(error = %s, "store failure");
            return AwsError::new(500, "InternalError", "An internal error has occurred");
        }
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

/// EC2's error document: `<Response><Errors><Error>..</Error></Errors><RequestID>..`.
/// A denial by the engine becomes `UnauthorizedOperation` with AWS's wording and an encoded
/// authorization message (base64 of the explanation; AWS encrypts it for
/// `sts:DecodeAuthorizationMessage`); an unknown or invalid credential becomes `AuthFailure`.
pub(crate) fn error_response(err: &AwsError, request_id: &str) -> Reply {
    let (status, code, message) = match err.code.as_str() {
        "AccessDenied" => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(err.message.as_bytes());
            (
                403,
                "UnauthorizedOperation".to_string(),
                format!(
                    "You are not authorized to perform this operation. {}. Encoded authorization failure message: {encoded}",
                    err.message
                ),
            )
        }
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken"
        | "IncompleteSignature" => (
            401,
            "AuthFailure".to_string(),
            "AWS was not able to validate the provided access credentials".to_string(),
        ),
        "ExpiredToken" => (
            400,
            "RequestExpired".to_string(),
            "Request has expired.".to_string(),
        ),
        _ => (err.status, err.code.clone(), err.message.clone()),
    };
    let mut x = Xml::new();
    x.open("Response")
        .open("Errors")
        .open("Error")
        .leaf("Code", &code)
        .leaf("Message", &message)
        .close("Error")
        .close("Errors")
        .leaf("RequestID", request_id)
        .close("Response");
    Reply::xml(status, x.finish())
}

/// The EC2 service.
pub struct Ec2Service {
    ec2: Arc<Ec2>,
    iam: Arc<Iam>,
    network: Arc<Network>,
}

impl Ec2Service {
    /// EC2 over its state, IAM (instance profiles) and the network listeners.
    pub fn new(ec2: Arc<Ec2>, iam: Arc<Iam>, network: Arc<Network>) -> Self {
        Ec2Service { ec2, iam, network }
    }
}

/// `Name.1`, `Name.2`, ... in order, stopping at the first gap (as SDKs send them).
fn list(p: &Params, name: &str) -> Vec<String> {
    (1..)
        .map_while(|i| p.get(&format!("{name}.{i}")).map(str::to_string))
        .collect()
}

/// `Filter.N.Name` with `Filter.N.Value.M`.
fn filters(p: &Params) -> Vec<(String, Vec<String>)> {
    (1..)
        .map_while(|i| {
            let name = p.get(&format!("Filter.{i}.Name"))?;
            Some((name.to_string(), list(p, &format!("Filter.{i}.Value"))))
        })
        .collect()
}

/// Tags of `TagSpecification.N` for `resource_type`.
fn tag_specs(p: &Params, resource_type: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    for i in 1.. {
        let Some(rt) = p.get(&format!("TagSpecification.{i}.ResourceType")) else {
            break;
        };
        if rt != resource_type {
            continue;
        }
        for j in 1.. {
            let Some(k) = p.get(&format!("TagSpecification.{i}.Tag.{j}.Key")) else {
                break;
            };
            let v = p
                .get(&format!("TagSpecification.{i}.Tag.{j}.Value"))
                .unwrap_or_default();
            out.push(Tag {
                key: k.to_string(),
                value: v.to_string(),
            });
        }
    }
    out
}

/// Whether a resource with these attributes passes every filter (values ORed, filters ANDed;
/// `*` and `?` wildcards as EC2 allows).
fn passes(filters: &[(String, Vec<String>)], attr: impl Fn(&str) -> Vec<String>) -> bool {
    filters.iter().all(|(name, values)| {
        let have = attr(name);
        values
            .iter()
            .any(|v| have.iter().any(|h| wildcard(v.as_bytes(), h.as_bytes())))
    })
}

/// `*` (any run) and `?` (one character) matching, as EC2 filters allow.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn tag_attr(tags: &[Tag], name: &str) -> Option<Vec<String>> {
    if let Some(k) = name.strip_prefix("tag:") {
        return Some(
            tags.iter()
                .filter(|t| t.key == k)
                .map(|t| t.value.clone())
                .collect(),
        );
    }
    if name == "tag-key" {
        return Some(tags.iter().map(|t| t.key.clone()).collect());
    }
    None
}

fn tag_set(x: &mut Xml, tags: &[Tag]) {
    x.open("tagSet");
    for t in tags {
        x.open("item")
            .leaf("key", &t.key)
            .leaf("value", &t.value)
            .close("item");
    }
    x.close("tagSet");
}

fn response(op: &str, request_id: &str, body: impl FnOnce(&mut Xml)) -> Reply {
    let mut x = Xml::new();
    x.open_ns(&format!("{op}Response"), XMLNS);
    x.leaf("requestId", request_id);
    body(&mut x);
    x.close(&format!("{op}Response"));
    Reply::xml(200, x.finish())
}

fn dry_run(p: &Params) -> Result<(), AwsError> {
    if p.bool("DryRun") == Some(true) {
        return Err(AwsError::new(
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        ));
    }
    Ok(())
}

fn arn(call: &Call, kind: &str, id: &str) -> String {
    format!(
        "arn:aws:ec2:{}:{}:{kind}/{id}",
        call.region, call.caller.account
    )
}

fn check(call: &Call, action: &str, resource: &str) -> Check {
    Check::new(&format!("ec2:{action}"), resource, &call.caller.account)
}

fn endpoint_xml(x: &mut Xml, e: &VpcEndpoint, host: &str) {
    x.leaf("vpcEndpointId", &e.id)
        .leaf("vpcEndpointType", e.endpoint_type.as_str())
        .leaf("vpcId", &e.vpc_id)
        .leaf("serviceName", &e.service_name)
        .leaf("state", "available")
        .leaf("policyDocument", &e.policy_document);
    x.open("routeTableIdSet");
    for r in &e.route_table_ids {
        x.leaf("item", r);
    }
    x.close("routeTableIdSet");
    x.open("subnetIdSet");
    for s in &e.subnet_ids {
        x.leaf("item", s);
    }
    x.close("subnetIdSet");
    x.open("groupSet").close("groupSet");
    x.leaf("ipAddressType", "ipv4");
    x.leaf("privateDnsEnabled", "false")
        .leaf("requesterManaged", "false");
    x.open("networkInterfaceIdSet")
        .close("networkInterfaceIdSet");
    x.open("dnsEntrySet");
    if e.endpoint_type == EndpointType::Interface {
        // The DNS entries point at the endpoint's listener (HTTPS first, then plain HTTP).
        for port in [e.https_port, e.http_port] {
            x.open("item")
                .leaf("dnsName", &format!("{host}:{port}"))
                .leaf("hostedZoneId", "ZAIRLOCKLOCAL")
                .close("item");
        }
    }
    x.close("dnsEntrySet");
    x.leaf("creationTimestamp", &iso8601(e.created))
        .leaf("ownerId", &e.account);
    tag_set(x, &e.tags);
}

fn instance_xml(x: &mut Xml, i: &Instance) {
    let (code, name) = i.state.code_and_name();
    x.leaf("instanceId", &i.id)
        .leaf("imageId", &i.image_id)
        .open("instanceState")
        .leaf("code", &code.to_string())
        .leaf("name", name)
        .close("instanceState")
        .leaf(
            "privateDnsName",
            &format!("ip-{}.ec2.internal", i.private_ip.replace('.', "-")),
        )
        .leaf("dnsName", "")
        .leaf("amiLaunchIndex", "0")
        .leaf("instanceType", &i.instance_type)
        .leaf("launchTime", &iso8601(i.launch_time))
        .open("placement")
        .leaf("availabilityZone", &i.availability_zone)
        .leaf("groupName", "")
        .leaf("tenancy", "default")
        .close("placement")
        .open("monitoring")
        .leaf("state", "disabled")
        .close("monitoring")
        .leaf("subnetId", &i.subnet_id)
        .leaf("vpcId", &i.vpc_id)
        .leaf("privateIpAddress", &i.private_ip)
        .leaf("architecture", "x86_64")
        .leaf("rootDeviceType", "ebs")
        .leaf("rootDeviceName", "/dev/xvda")
        .leaf("virtualizationType", "hvm")
        .leaf("hypervisor", "xen");
    if let Some(p) = &i.iam_instance_profile {
        x.open("iamInstanceProfile")
            .leaf("arn", &p.arn)
            .leaf("id", &p.id)
            .close("iamInstanceProfile");
    }
    x.open("metadataOptions")
        .leaf("state", "applied")
        .leaf("httpTokens", "required")
        .leaf("httpPutResponseHopLimit", "2")
        .leaf("httpEndpoint", "enabled")
        .leaf("instanceMetadataTags", "disabled")
        .close("metadataOptions");
    tag_set(x, &i.tags);
}

impl Service for Ec2Service {
    fn signing_name(&self) -> &'static str {
        "ec2"
    }

    fn protocol(&self) -> Protocol {
        Protocol::Ec2
    }

    fn claims_unsigned(
        &self,
        _m: &http::Method,
        _p: &str,
        params: &Params,
        _h: &http::HeaderMap,
    ) -> bool {
        super::query_version_is(params, VERSION)
    }

    fn operation_name(&self, params: &Params, _h: &http::HeaderMap) -> Option<String> {
        params.get("Action").map(str::to_string)
    }

    fn prepare(&self, call: &Call) -> Result<Prepared, AwsError> {
        let action = call.params.get("Action").unwrap_or_default().to_string();
        match action.as_str() {
            "CreateVpc" => self.create_vpc(call),
            "DescribeVpcs" => self.describe_vpcs(call),
            "DeleteVpc" => self.delete_vpc(call),
            "CreateSubnet" => self.create_subnet(call),
            "DescribeSubnets" => self.describe_subnets(call),
            "DeleteSubnet" => self.delete_subnet(call),
            "DescribeRouteTables" => self.describe_route_tables(call),
            "CreateVpcEndpoint" => self.create_vpc_endpoint(call),
            "DescribeVpcEndpoints" => self.describe_vpc_endpoints(call),
            "ModifyVpcEndpoint" => self.modify_vpc_endpoint(call),
            "DeleteVpcEndpoints" => self.delete_vpc_endpoints(call),
            "RunInstances" => self.run_instances(call),
            "DescribeInstances" => self.describe_instances(call),
            "TerminateInstances" => self.terminate_instances(call),
            "DescribeAvailabilityZones" => Ok(describe_azs(call)),
            "DescribeRegions" => Ok(describe_regions(call)),
            "" => Err(AwsError::new(
                400,
                "MissingAction",
                "The request must contain the parameter Action",
            )),
            other => Err(AwsError::new(
                400,
                "InvalidAction",
                format!("The action {other} is not valid for this web service."),
            )),
        }
    }
}

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, AwsError> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Ec2Error::MissingParameter(name.to_string()).into())
}

fn describe_azs(call: &Call) -> Prepared {
    let checks = vec![check(call, "DescribeAvailabilityZones", "*")];
    Prepared::sync("DescribeAvailabilityZones", checks, |call| {
        dry_run(&call.params)?;
        let region = call.region.clone();
        Ok(response(
            "DescribeAvailabilityZones",
            &call.request_id,
            |x| {
                x.open("availabilityZoneInfo");
                for (i, s) in ["a", "b", "c"].iter().enumerate() {
                    x.open("item")
                        .leaf("zoneName", &format!("{region}{s}"))
                        .leaf("zoneId", &format!("use1-az{}", i + 1))
                        .leaf("zoneState", "available")
                        .leaf("regionName", &region)
                        .leaf("zoneType", "availability-zone")
                        .leaf("optInStatus", "opt-in-not-required")
                        .leaf("groupName", &region)
                        .leaf("networkBorderGroup", &region)
                        .open("messageSet")
                        .close("messageSet")
                        .close("item");
                }
                x.close("availabilityZoneInfo");
            },
        ))
    })
}

fn describe_regions(call: &Call) -> Prepared {
    let checks = vec![check(call, "DescribeRegions", "*")];
    Prepared::sync("DescribeRegions", checks, |call| {
        dry_run(&call.params)?;
        let region = call.region.clone();
        Ok(response("DescribeRegions", &call.request_id, |x| {
            x.open("regionInfo")
                .open("item")
                .leaf("regionName", &region)
                .leaf("regionEndpoint", &format!("ec2.{region}.amazonaws.com"))
                .leaf("optInStatus", "opt-in-not-required")
                .close("item")
                .close("regionInfo");
        }))
    })
}

impl Ec2Service {
    fn create_vpc(&self, call: &Call) -> Result<Prepared, AwsError> {
        let cidr = required(&call.params, "CidrBlock")?.to_string();
        let tags = tag_specs(&call.params, "vpc");
        let checks = vec![check(call, "CreateVpc", &arn(call, "vpc", "*"))];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("CreateVpc", checks, move |call| {
            dry_run(&call.params)?;
            let v = ec2.create_vpc(&call.caller.account, &call.region, &cidr, tags)?;
            Ok(response("CreateVpc", &call.request_id, |x| {
                x.open("vpc");
                vpc_xml(x, &v, "pending");
                x.close("vpc");
            }))
        }))
    }

    fn describe_vpcs(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "VpcId");
        let f = filters(&call.params);
        let checks = vec![check(call, "DescribeVpcs", "*")];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("DescribeVpcs", checks, move |call| {
            dry_run(&call.params)?;
            let all = ec2.vpcs(&call.caller.account, &call.region)?;
            for id in &ids {
                if !all.iter().any(|v| &v.id == id) {
                    return Err(Ec2Error::VpcNotFound(id.clone()).into());
                }
            }
            let vpcs: Vec<_> = all
                .into_iter()
                .filter(|v| ids.is_empty() || ids.contains(&v.id))
                .filter(|v| {
                    passes(&f, |n| {
                        tag_attr(&v.tags, n).unwrap_or_else(|| match n {
                            "vpc-id" => vec![v.id.clone()],
                            "cidr" | "cidr-block-association.cidr-block" => {
                                vec![v.cidr_block.clone()]
                            }
                            "state" => vec!["available".into()],
                            "owner-id" => vec![v.account.clone()],
                            "is-default" => vec!["false".into()],
                            _ => vec![],
                        })
                    })
                })
                .collect();
            Ok(response("DescribeVpcs", &call.request_id, |x| {
                x.open("vpcSet");
                for v in &vpcs {
                    x.open("item");
                    vpc_xml(x, v, "available");
                    x.close("item");
                }
                x.close("vpcSet");
            }))
        }))
    }

    fn delete_vpc(&self, call: &Call) -> Result<Prepared, AwsError> {
        let id = required(&call.params, "VpcId")?.to_string();
        let checks = vec![check(call, "DeleteVpc", &arn(call, "vpc", &id))];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("DeleteVpc", checks, move |call| {
            dry_run(&call.params)?;
            ec2.delete_vpc(&call.caller.account, &call.region, &id)?;
            Ok(response("DeleteVpc", &call.request_id, |x| {
                x.leaf("return", "true");
            }))
        }))
    }

    fn create_subnet(&self, call: &Call) -> Result<Prepared, AwsError> {
        let vpc_id = required(&call.params, "VpcId")?.to_string();
        let cidr = required(&call.params, "CidrBlock")?.to_string();
        let az = call.params.get("AvailabilityZone").map(str::to_string);
        let tags = tag_specs(&call.params, "subnet");
        let checks = vec![
            check(call, "CreateSubnet", &arn(call, "subnet", "*")),
            check(call, "CreateSubnet", &arn(call, "vpc", &vpc_id)),
        ];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("CreateSubnet", checks, move |call| {
            dry_run(&call.params)?;
            let s = ec2.create_subnet(
                &call.caller.account,
                &call.region,
                &vpc_id,
                &cidr,
                az.as_deref(),
                tags,
            )?;
            Ok(response("CreateSubnet", &call.request_id, |x| {
                x.open("subnet");
                subnet_xml(x, &s);
                x.close("subnet");
            }))
        }))
    }

    fn describe_subnets(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "SubnetId");
        let f = filters(&call.params);
        let checks = vec![check(call, "DescribeSubnets", "*")];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("DescribeSubnets", checks, move |call| {
            dry_run(&call.params)?;
            let all = ec2.subnets(&call.caller.account, &call.region)?;
            for id in &ids {
                if !all.iter().any(|v| &v.id == id) {
                    return Err(Ec2Error::SubnetNotFound(id.clone()).into());
                }
            }
            let subnets: Vec<_> = all
                .into_iter()
                .filter(|s| ids.is_empty() || ids.contains(&s.id))
                .filter(|s| {
                    passes(&f, |n| {
                        tag_attr(&s.tags, n).unwrap_or_else(|| match n {
                            "subnet-id" => vec![s.id.clone()],
                            "vpc-id" => vec![s.vpc_id.clone()],
                            "cidr-block" | "cidr" | "cidrBlock" => vec![s.cidr_block.clone()],
                            "availability-zone" | "availabilityZone" => {
                                vec![s.availability_zone.clone()]
                            }
                            "state" => vec!["available".into()],
                            "owner-id" => vec![s.account.clone()],
                            _ => vec![],
                        })
                    })
                })
                .collect();
            Ok(response("DescribeSubnets", &call.request_id, |x| {
                x.open("subnetSet");
                for s in &subnets {
                    x.open("item");
                    subnet_xml(x, s);
                    x.close("item");
                }
                x.close("subnetSet");
            }))
        }))
    }

    fn delete_subnet(&self, call: &Call) -> Result<Prepared, AwsError> {
        let id = required(&call.params, "SubnetId")?.to_string();
        let checks = vec![check(call, "DeleteSubnet", &arn(call, "subnet", &id))];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("DeleteSubnet", checks, move |call| {
            dry_run(&call.params)?;
            ec2.delete_subnet(&call.caller.account, &call.region, &id)?;
            Ok(response("DeleteSubnet", &call.request_id, |x| {
                x.leaf("return", "true");
            }))
        }))
    }

    fn describe_route_tables(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "RouteTableId");
        let f = filters(&call.params);
        let checks = vec![check(call, "DescribeRouteTables", "*")];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("DescribeRouteTables", checks, move |call| {
            dry_run(&call.params)?;
            let account = call.caller.account.clone();
            let all = ec2.route_tables(&account, &call.region)?;
            for id in &ids {
                if !all.iter().any(|v| &v.id == id) {
                    return Err(Ec2Error::RouteTableNotFound(id.clone()).into());
                }
            }
            let vpcs = ec2.vpcs(&account, &call.region)?;
            let endpoints = ec2.vpc_endpoints(&account, &call.region)?;
            let tables: Vec<_> = all
                .into_iter()
                .filter(|t| ids.is_empty() || ids.contains(&t.id))
                .filter(|t| {
                    passes(&f, |n| {
                        tag_attr(&t.tags, n).unwrap_or_else(|| match n {
                            "route-table-id" => vec![t.id.clone()],
                            "vpc-id" => vec![t.vpc_id.clone()],
                            "association.main" => vec![t.main.to_string()],
                            "owner-id" => vec![t.account.clone()],
                            _ => vec![],
                        })
                    })
                })
                .collect();
            Ok(response("DescribeRouteTables", &call.request_id, |x| {
                x.open("routeTableSet");
                for t in &tables {
                    let cidr = vpcs
                        .iter()
                        .find(|v| v.id == t.vpc_id)
                        .map(|v| v.cidr_block.clone())
                        .unwrap_or_default();
                    x.open("item")
                        .leaf("routeTableId", &t.id)
                        .leaf("vpcId", &t.vpc_id)
                        .leaf("ownerId", &t.account);
                    x.open("routeSet");
                    x.open("item")
                        .leaf("destinationCidrBlock", &cidr)
                        .leaf("gatewayId", "local")
                        .leaf("state", "active")
                        .leaf("origin", "CreateRouteTable")
                        .close("item");
                    for e in endpoints
                        .iter()
                        .filter(|e| e.route_table_ids.contains(&t.id))
                    {
                        x.open("item")
                            .leaf("destinationPrefixListId", &prefix_list_id(&e.service_name))
                            .leaf("gatewayId", &e.id)
                            .leaf("state", "active")
                            .leaf("origin", "CreateRoute")
                            .close("item");
                    }
                    x.close("routeSet");
                    x.open("associationSet");
                    if t.main {
                        x.open("item")
                            .leaf(
                                "routeTableAssociationId",
                                &t.id.replacen("rtb-", "rtbassoc-", 1),
                            )
                            .leaf("routeTableId", &t.id)
                            .leaf("main", "true")
                            .open("associationState")
                            .leaf("state", "associated")
                            .close("associationState")
                            .close("item");
                    }
                    x.close("associationSet");
                    x.open("propagatingVgwSet").close("propagatingVgwSet");
                    tag_set(x, &t.tags);
                    x.close("item");
                }
                x.close("routeTableSet");
            }))
        }))
    }

    fn create_vpc_endpoint(&self, call: &Call) -> Result<Prepared, AwsError> {
        let p = &call.params;
        let endpoint_type = match p.get("VpcEndpointType") {
            None => EndpointType::Gateway,
            Some(t) => EndpointType::parse(t).ok_or_else(|| {
                Ec2Error::InvalidParameterValue(format!(
                    "Value ({t}) for parameter VpcEndpointType is invalid."
                ))
            })?,
        };
        let input = NewVpcEndpoint {
            vpc_id: required(p, "VpcId")?.to_string(),
            service_name: required(p, "ServiceName")?.to_string(),
            endpoint_type,
            policy_document: p.get("PolicyDocument").map(str::to_string),
            route_table_ids: list(p, "RouteTableId"),
            subnet_ids: list(p, "SubnetId"),
            tags: tag_specs(p, "vpc-endpoint"),
        };
        let checks = vec![
            check(call, "CreateVpcEndpoint", &arn(call, "vpc-endpoint", "*")),
            check(call, "CreateVpcEndpoint", &arn(call, "vpc", &input.vpc_id)),
        ];
        let ec2 = self.ec2.clone();
        let net = self.network.clone();
        Ok(Prepared::sync("CreateVpcEndpoint", checks, move |call| {
            dry_run(&call.params)?;
            let account = call.caller.account.clone();
            ec2.validate_new_endpoint(&account, &call.region, &input)?;
            let (plain, tls) = net
                .bind_pair(None)
                .map_err(|e| AwsError::internal(format!("binding the endpoint's listener: {e}")))?;
            let ports = (port_of(&plain), port_of(&tls));
            let e = ec2.create_vpc_endpoint(&account, &call.region, input, ports)?;
            net.open_endpoint(&e, plain, tls);
            net.write_routes();
            let host = net.host().to_string();
            Ok(response("CreateVpcEndpoint", &call.request_id, |x| {
                x.open("vpcEndpoint");
                endpoint_xml(x, &e, &host);
                x.close("vpcEndpoint");
            }))
        }))
    }

    fn describe_vpc_endpoints(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "VpcEndpointId");
        let f = filters(&call.params);
        let checks = vec![check(call, "DescribeVpcEndpoints", "*")];
        let ec2 = self.ec2.clone();
        let host = self.network.host().to_string();
        Ok(Prepared::sync(
            "DescribeVpcEndpoints",
            checks,
            move |call| {
                dry_run(&call.params)?;
                let all = ec2.vpc_endpoints(&call.caller.account, &call.region)?;
                for id in &ids {
                    if !all.iter().any(|v| &v.id == id) {
                        return Err(Ec2Error::EndpointNotFound(id.clone()).into());
                    }
                }
                let eps: Vec<_> = all
                    .into_iter()
                    .filter(|e| ids.is_empty() || ids.contains(&e.id))
                    .filter(|e| {
                        passes(&f, |n| {
                            tag_attr(&e.tags, n).unwrap_or_else(|| match n {
                                "vpc-endpoint-id" => vec![e.id.clone()],
                                "vpc-id" => vec![e.vpc_id.clone()],
                                "service-name" => vec![e.service_name.clone()],
                                "vpc-endpoint-type" => vec![e.endpoint_type.as_str().to_string()],
                                "vpc-endpoint-state" => vec!["available".into()],
                                _ => vec![],
                            })
                        })
                    })
                    .collect();
                Ok(response("DescribeVpcEndpoints", &call.request_id, |x| {
                    x.open("vpcEndpointSet");
                    for e in &eps {
                        x.open("item");
                        endpoint_xml(x, e, &host);
                        x.close("item");
                    }
                    x.close("vpcEndpointSet");
                }))
            },
        ))
    }

    fn modify_vpc_endpoint(&self, call: &Call) -> Result<Prepared, AwsError> {
        let p = &call.params;
        let id = required(p, "VpcEndpointId")?.to_string();
        let policy = p.get("PolicyDocument").map(str::to_string);
        let reset = p.bool("ResetPolicy") == Some(true);
        if reset && policy.is_some() {
            return Err(Ec2Error::InvalidParameter(
                "PolicyDocument and ResetPolicy cannot both be specified".into(),
            )
            .into());
        }
        let add = list(p, "AddRouteTableId");
        let remove = list(p, "RemoveRouteTableId");
        let checks = vec![check(
            call,
            "ModifyVpcEndpoint",
            &arn(call, "vpc-endpoint", &id),
        )];
        let ec2 = self.ec2.clone();
        let net = self.network.clone();
        Ok(Prepared::sync("ModifyVpcEndpoint", checks, move |call| {
            dry_run(&call.params)?;
            ec2.modify_vpc_endpoint(
                &call.caller.account,
                &call.region,
                &id,
                policy.as_deref(),
                reset,
                &add,
                &remove,
            )?;
            net.write_routes();
            Ok(response("ModifyVpcEndpoint", &call.request_id, |x| {
                x.leaf("return", "true");
            }))
        }))
    }

    fn delete_vpc_endpoints(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "VpcEndpointId");
        if ids.is_empty() {
            return Err(Ec2Error::MissingParameter("VpcEndpointId".into()).into());
        }
        let checks = ids
            .iter()
            .map(|id| check(call, "DeleteVpcEndpoints", &arn(call, "vpc-endpoint", id)))
            .collect();
        let ec2 = self.ec2.clone();
        let net = self.network.clone();
        Ok(Prepared::sync("DeleteVpcEndpoints", checks, move |call| {
            dry_run(&call.params)?;
            let out = ec2.delete_vpc_endpoints(&call.caller.account, &call.region, &ids)?;
            for e in out.iter().flatten() {
                net.close(&e.id);
            }
            net.write_routes();
            Ok(response("DeleteVpcEndpoints", &call.request_id, |x| {
                x.open("unsuccessful");
                for (id, r) in ids.iter().zip(&out) {
                    if let Err(err) = r {
                        x.open("item")
                            .open("error")
                            .leaf("code", err.code())
                            .leaf("message", &err.to_string())
                            .close("error")
                            .leaf("resourceId", id)
                            .close("item");
                    }
                }
                x.close("unsuccessful");
            }))
        }))
    }

    fn run_instances(&self, call: &Call) -> Result<Prepared, AwsError> {
        let p = &call.params;
        let image_id = required(p, "ImageId")?.to_string();
        let min = p.int("MinCount", "minCount")?.unwrap_or(1);
        let max = p.int("MaxCount", "maxCount")?.unwrap_or(min);
        if min < 1 || max < min {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "Value ({min}) for parameter minCount is invalid. Expected a value between 1 and maxCount ({max})."
            ))
            .into());
        }
        let count = max.min(20) as usize;
        let subnet_id = p
            .get("SubnetId")
            .or_else(|| p.get("NetworkInterface.1.SubnetId"))
            .map(str::to_string);
        let account = call.caller.account.clone();
        // The instance profile, by name or ARN, and the role it passes to EC2.
        let mut checks = vec![check(call, "RunInstances", &arn(call, "instance", "*"))];
        let profile_ref = p
            .get("IamInstanceProfile.Name")
            .map(str::to_string)
            .or_else(|| {
                p.get("IamInstanceProfile.Arn")
                    .and_then(|a| a.rsplit('/').next())
                    .map(str::to_string)
            });
        let profile = match &profile_ref {
            None => None,
            Some(name) => {
                let invalid = || {
                    Ec2Error::InvalidParameterValue(format!(
                        "Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
                    ))
                };
                let prof = self
                    .iam
                    .get_instance_profile(&account, name)
                    .map_err(|_| invalid())?;
                if let Some(role_name) = prof.roles.first() {
                    let role = self.iam.get_role(&account, role_name)?;
                    let mut c = Check::new("iam:PassRole", &role.arn, &account);
                    c.context.insert(
                        "iam:PassedToService",
                        ContextValue::Single("ec2.amazonaws.com".into()),
                    );
                    checks.push(c);
                }
                Some(IamInstanceProfile {
                    arn: prof.arn,
                    id: prof.id,
                    name: prof.name,
                })
            }
        };
        let input = NewInstance {
            image_id,
            instance_type: p.get("InstanceType").unwrap_or("m1.small").to_string(),
            subnet_id,
            iam_instance_profile: profile,
            tags: tag_specs(p, "instance"),
        };
        self.ec2
            .subnet_for_launch(&account, &call.region, input.subnet_id.as_deref())?;
        let ec2 = self.ec2.clone();
        let net = self.network.clone();
        Ok(Prepared::sync("RunInstances", checks, move |call| {
            dry_run(&call.params)?;
            let mut listeners = Vec::new();
            for _ in 0..count {
                listeners.push(net.bind_one(None).map_err(|e| {
                    AwsError::internal(format!("binding the metadata service: {e}"))
                })?);
            }
            let ports: Vec<u16> = listeners.iter().map(port_of).collect();
            let instances = ec2.run_instances(&account, &call.region, &input, &ports)?;
            for (i, l) in instances.iter().zip(listeners) {
                net.open_imds(&i.id, l);
            }
            net.write_routes();
            let reservation = instances
                .first()
                .map(|i| i.reservation_id.clone())
                .unwrap_or_default();
            Ok(response("RunInstances", &call.request_id, |x| {
                x.leaf("reservationId", &reservation)
                    .leaf("ownerId", &account)
                    .open("groupSet")
                    .close("groupSet")
                    .open("instancesSet");
                for i in &instances {
                    x.open("item");
                    instance_xml(x, i);
                    x.close("item");
                }
                x.close("instancesSet");
            }))
        }))
    }

    fn describe_instances(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "InstanceId");
        let f = filters(&call.params);
        let checks = vec![check(call, "DescribeInstances", "*")];
        let ec2 = self.ec2.clone();
        Ok(Prepared::sync("DescribeInstances", checks, move |call| {
            dry_run(&call.params)?;
            ec2.check_instances(&call.caller.account, &call.region, &ids)?;
            let all = ec2.instances(&call.caller.account, &call.region)?;
            let instances: Vec<_> = all
                .into_iter()
                .filter(|i| ids.is_empty() || ids.contains(&i.id))
                .filter(|i| {
                    passes(&f, |n| {
                        tag_attr(&i.tags, n).unwrap_or_else(|| match n {
                            "instance-id" => vec![i.id.clone()],
                            "vpc-id" => vec![i.vpc_id.clone()],
                            "subnet-id" => vec![i.subnet_id.clone()],
                            "image-id" => vec![i.image_id.clone()],
                            "instance-type" => vec![i.instance_type.clone()],
                            "instance-state-name" => vec![i.state.code_and_name().1.into()],
                            "instance-state-code" => vec![i.state.code_and_name().0.to_string()],
                            "iam-instance-profile.arn" => i
                                .iam_instance_profile
                                .iter()
                                .map(|p| p.arn.clone())
                                .collect(),
                            "private-ip-address" => vec![i.private_ip.clone()],
                            "reservation-id" => vec![i.reservation_id.clone()],
                            _ => vec![],
                        })
                    })
                })
                .collect();
            let mut reservations: Vec<(String, Vec<&Instance>)> = Vec::new();
            for i in &instances {
                match reservations
                    .iter_mut()
                    .find(|(r, _)| r == &i.reservation_id)
                {
                    Some((_, v)) => v.push(i),
                    None => reservations.push((i.reservation_id.clone(), vec![i])),
                }
            }
            Ok(response("DescribeInstances", &call.request_id, |x| {
                x.open("reservationSet");
                for (r, is) in &reservations {
                    x.open("item")
                        .leaf("reservationId", r)
                        .leaf("ownerId", &call.caller.account)
                        .open("groupSet")
                        .close("groupSet")
                        .open("instancesSet");
                    for i in is {
                        x.open("item");
                        instance_xml(x, i);
                        x.close("item");
                    }
                    x.close("instancesSet").close("item");
                }
                x.close("reservationSet");
            }))
        }))
    }

    fn terminate_instances(&self, call: &Call) -> Result<Prepared, AwsError> {
        let ids = list(&call.params, "InstanceId");
        if ids.is_empty() {
            return Err(Ec2Error::MissingParameter("InstanceId".into()).into());
        }
        self.ec2
            .check_instances(&call.caller.account, &call.region, &ids)?;
        let checks = ids
            .iter()
            .map(|id| check(call, "TerminateInstances", &arn(call, "instance", id)))
            .collect();
        let ec2 = self.ec2.clone();
        let net = self.network.clone();
        Ok(Prepared::sync("TerminateInstances", checks, move |call| {
            dry_run(&call.params)?;
            let out = ec2.terminate_instances(&call.caller.account, &call.region, &ids)?;
            for (i, _) in &out {
                net.close(&i.id);
            }
            net.write_routes();
            Ok(response("TerminateInstances", &call.request_id, |x| {
                x.open("instancesSet");
                for (i, prev) in &out {
                    let (c, n) = i.state.code_and_name();
                    let (pc, pn) = prev.code_and_name();
                    x.open("item")
                        .leaf("instanceId", &i.id)
                        .open("currentState")
                        .leaf("code", &c.to_string())
                        .leaf("name", n)
                        .close("currentState")
                        .open("previousState")
                        .leaf("code", &pc.to_string())
                        .leaf("name", pn)
                        .close("previousState")
                        .close("item");
                }
                x.close("instancesSet");
            }))
        }))
    }
}

fn port_of(l: &std::net::TcpListener) -> u16 {
    l.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// The AWS-managed prefix list id of a gateway service (stable per service name).
fn prefix_list_id(service_name: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in service_name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("pl-{:08x}", h as u32)
}

fn vpc_xml(x: &mut Xml, v: &airlock_ec2::Vpc, state: &str) {
    x.leaf("vpcId", &v.id)
        .leaf("ownerId", &v.account)
        .leaf("state", state)
        .leaf("cidrBlock", &v.cidr_block)
        .open("cidrBlockAssociationSet")
        .open("item")
        .leaf("cidrBlock", &v.cidr_block)
        .leaf(
            "associationId",
            &v.id.replacen("vpc-", "vpc-cidr-assoc-", 1),
        )
        .open("cidrBlockState")
        .leaf("state", "associated")
        .close("cidrBlockState")
        .close("item")
        .close("cidrBlockAssociationSet")
        .leaf("dhcpOptionsId", "default")
        .leaf("instanceTenancy", "default")
        .leaf("isDefault", "false");
    tag_set(x, &v.tags);
}

fn subnet_xml(x: &mut Xml, s: &airlock_ec2::Subnet) {
    let cidr = airlock_ec2::Cidr::parse(&s.cidr_block);
    let free = cidr
        .map(|c| (c.last() - c.base + 1).saturating_sub(5))
        .unwrap_or(0);
    x.leaf("subnetId", &s.id)
        .leaf(
            "subnetArn",
            &format!("arn:aws:ec2:{}:{}:subnet/{}", s.region, s.account, s.id),
        )
        .leaf("state", "available")
        .leaf("ownerId", &s.account)
        .leaf("vpcId", &s.vpc_id)
        .leaf("cidrBlock", &s.cidr_block)
        .leaf("availableIpAddressCount", &free.to_string())
        .leaf("availabilityZone", &s.availability_zone)
        .leaf("defaultForAz", "false")
        .leaf("mapPublicIpOnLaunch", "false")
        .leaf("assignIpv6AddressOnCreation", "false");
    tag_set(x, &s.tags);
}

/// The default endpoint policy (re-exported for tests and docs).
pub const DEFAULT_POLICY: &str = DEFAULT_ENDPOINT_POLICY;
