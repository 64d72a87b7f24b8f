//! EC2 and network origin through the real AWS CLI: the seed's Steps 5, 6 and 8, VPC endpoint
//! listeners that carry `aws:SourceVpce` and enforce their endpoint policy, instance metadata
//! services that hand out the instance role, restart survival, and EC2's error shapes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use airlock_server::network::NetworkRoutes;
use airlock_server::{DataDir, ServeConfig, Server, ServerInfo};
use common::*;
use serde_json::Value;

/// A server whose data directory outlives restarts.
struct Restartable {
    dir: TempDir,
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    info: ServerInfo,
}

impl Restartable {
    fn start() -> Self {
        Self::start_with_imds(21_600)
    }

    fn start_with_imds(imds_credential_seconds: i64) -> Self {
        let dir = TempDir::new("ec2");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut c = config(dir.path());
        c.imds_credential_seconds = imds_credential_seconds;
        let server = runtime.block_on(Server::start(c)).unwrap();
        let info = server.info().clone();
        Restartable {
            dir,
            runtime,
            server: Some(server),
            info,
        }
    }

    fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
        let server = self
            .runtime
            .block_on(Server::start(config(self.dir.path())))
            .unwrap();
        self.info = server.info().clone();
        self.server = Some(server);
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn aws(&self, args: &[&str]) -> Output {
        aws_cli(&self.info, self.dir.path(), args, &[])
    }

    fn json(&self, args: &[&str]) -> Value {
        ok_json(&self.aws(args))
    }

    fn routes(&self) -> NetworkRoutes {
        NetworkRoutes::read(&DataDir::new(self.data())).expect("network.json")
    }

    /// The AWS CLI as a process on the instance sees it: no credentials or config files, the
    /// instance's metadata service, and the given endpoint.
    fn on_instance(
        &self,
        instance: &str,
        endpoint: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let routes = self.routes();
        let r = &routes.instances[instance];
        let mut cmd = Command::new(venv().join("bin/aws"));
        clean_env(&mut cmd, self.dir.path());
        cmd.env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &r.imds_endpoint)
            .env("AWS_REGION", &r.region)
            .env("AWS_DEFAULT_REGION", &r.region)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_CA_BUNDLE", &self.info.ca_bundle)
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// The AWS CLI as account A's administrator.
fn as_a(srv: &Restartable, args: &[&str]) -> Output {
    let mut v: Vec<&str> = args.to_vec();
    v.extend_from_slice(&["--profile", "account-a"]);
    srv.aws(&v)
}

fn config(dir: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(dir.join("data"));
    c.accounts = vec![
        (A.into(), "account-a".into()),
        (B.into(), "account-b".into()),
    ];
    c
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    format!("file://{}", p.display())
}

/// The seed's network and instance in account A: VPC, subnet, S3 gateway endpoint on the main
/// route table (Step 6), the `EC2CrossAccountAssumeRole` role and profile (Step 5) and the
/// instance (Step 8).
struct SeedA {
    vpc: String,
    rtb: String,
    subnet: String,
    gateway: String,
    instance: String,
}

fn seed_a(srv: &Restartable) -> SeedA {
    let a = ["--profile", "account-a"];
    let with = |args: &[&str]| -> Value {
        let mut v: Vec<&str> = args.to_vec();
        v.extend_from_slice(&a);
        srv.json(&v)
    };
    let vpc = with(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"]);
    let vpc = s(&vpc["Vpc"]["VpcId"]);
    let rts = with(&[
        "ec2",
        "describe-route-tables",
        "--filters",
        &format!("Name=vpc-id,Values={vpc}"),
        "Name=association.main,Values=true",
    ]);
    let tables = rts["RouteTables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{rts}");
    assert_eq!(tables[0]["Associations"][0]["Main"], true);
    let rtb = s(&tables[0]["RouteTableId"]);
    let subnet = with(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &vpc,
        "--cidr-block",
        "10.0.1.0/24",
    ]);
    let subnet = s(&subnet["Subnet"]["SubnetId"]);
    // Step 6: gateway endpoint for S3 on the subnet's route table, full access.
    let ep = with(&[
        "ec2",
        "create-vpc-endpoint",
        "--vpc-id",
        &vpc,
        "--service-name",
        "com.amazonaws.us-east-1.s3",
        "--route-table-ids",
        &rtb,
        "--tag-specifications",
        "ResourceType=vpc-endpoint,Tags=[{Key=Name,Value=s3-gateway-endpoint}]",
    ]);
    let e = &ep["VpcEndpoint"];
    assert_eq!(e["VpcEndpointType"], "Gateway", "{ep}");
    assert_eq!(e["RouteTableIds"][0], rtb.as_str());
    let policy: Value = serde_json::from_str(e["PolicyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Action"], "*");
    let gateway = s(&e["VpcEndpointId"]);
    assert!(gateway.starts_with("vpce-"));
    // Step 5: the instance role, its inline policy and its instance profile.
    with(&[
        "iam",
        "create-role",
        "--role-name",
        "EC2CrossAccountAssumeRole",
        "--assume-role-policy-document",
        &seed_file("step5-trust-ec2.json"),
        "--description",
        "Allows EC2 to assume role in Account B",
    ]);
    with(&[
        "iam",
        "put-role-policy",
        "--role-name",
        "EC2CrossAccountAssumeRole",
        "--policy-name",
        "AssumeRoleInAccountB",
        "--policy-document",
        &seed_file("step5-AssumeRoleInAccountB.json"),
    ]);
    with(&[
        "iam",
        "create-instance-profile",
        "--instance-profile-name",
        "EC2CrossAccountAssumeRole",
    ]);
    with(&[
        "iam",
        "add-role-to-instance-profile",
        "--instance-profile-name",
        "EC2CrossAccountAssumeRole",
        "--role-name",
        "EC2CrossAccountAssumeRole",
    ]);
    // Step 8: the instance.
    let run = with(&[
        "ec2",
        "run-instances",
        "--image-id",
        "ami-0abcdef1234567890",
        "--instance-type",
        "t2.micro",
        "--subnet-id",
        &subnet,
        "--iam-instance-profile",
        "Name=EC2CrossAccountAssumeRole",
        "--tag-specifications",
        "ResourceType=instance,Tags=[{Key=Name,Value=cross-account-test-instance}]",
    ]);
    let inst = &run["Instances"][0];
    assert_eq!(inst["State"]["Name"], "running", "{run}");
    assert_eq!(inst["SubnetId"], subnet.as_str());
    assert_eq!(inst["VpcId"], vpc.as_str());
    assert!(
        s(&inst["IamInstanceProfile"]["Arn"])
            .ends_with(":instance-profile/EC2CrossAccountAssumeRole")
    );
    let instance = s(&inst["InstanceId"]);
    SeedA {
        vpc,
        rtb,
        subnet,
        gateway,
        instance,
    }
}

#[test]
fn seed_network_and_instance_identity() {
    let mut srv = Restartable::start();
    let seed = seed_a(&srv);

    // Describe calls see what was created, and route tables carry the endpoint's route.
    let vpcs = ok_json(&as_a(
        &srv,
        &["ec2", "describe-vpcs", "--vpc-ids", &seed.vpc],
    ));
    assert_eq!(vpcs["Vpcs"][0]["CidrBlock"], "10.0.0.0/16");
    let subnets = ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "describe-subnets",
            "--filters",
            &format!("Name=vpc-id,Values={}", seed.vpc),
        ],
    ));
    assert_eq!(subnets["Subnets"][0]["SubnetId"], seed.subnet.as_str());
    let rts = ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "describe-route-tables",
            "--route-table-ids",
            &seed.rtb,
        ],
    ));
    let routes = rts["RouteTables"][0]["Routes"].as_array().unwrap();
    assert!(
        routes
            .iter()
            .any(|r| r["GatewayId"] == seed.gateway.as_str()
                && r["DestinationPrefixListId"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("pl-"))),
        "{rts}"
    );
    let eps = ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "describe-vpc-endpoints",
            "--filters",
            "Name=tag:Name,Values=s3-gateway-endpoint",
        ],
    ));
    assert_eq!(
        eps["VpcEndpoints"][0]["VpcEndpointId"],
        seed.gateway.as_str()
    );
    let insts = ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "describe-instances",
            "--instance-ids",
            &seed.instance,
        ],
    ));
    assert_eq!(
        insts["Reservations"][0]["Instances"][0]["InstanceId"],
        seed.instance.as_str()
    );
    let azs = ok_json(&as_a(&srv, &["ec2", "describe-availability-zones"]));
    assert_eq!(azs["AvailabilityZones"][0]["ZoneName"], "us-east-1a");
    let regions = ok_json(&as_a(&srv, &["ec2", "describe-regions"]));
    assert_eq!(regions["Regions"][0]["RegionName"], "us-east-1");
    // Account B sees none of A's network.
    let b_vpcs = ok_json(&srv.aws(&["ec2", "describe-vpcs", "--profile", "account-b"]));
    assert_eq!(b_vpcs["Vpcs"].as_array().unwrap().len(), 0);

    // network.json routes the instance's S3 traffic to the gateway endpoint.
    let routes = srv.routes();
    let r = &routes.instances[&seed.instance];
    assert!(r.endpoints["s3"].starts_with("https://127.0.0.1:"), "{r:?}");
    assert!(!r.endpoints.contains_key("sts"));

    // The instance identity through IMDSv2, as the AWS CLI gets it (seed Step 9.2).
    let main = srv.info.https_endpoint.clone();
    let id = ok_json(&srv.on_instance(&seed.instance, &main, &["sts", "get-caller-identity"], &[]));
    assert_eq!(id["Account"], A);
    assert_eq!(
        id["Arn"],
        format!(
            "arn:aws:sts::{A}:assumed-role/EC2CrossAccountAssumeRole/{}",
            seed.instance
        )
    );

    // Restart: endpoints and instances keep their listeners (same ports), identity still works.
    let before = srv.routes();
    srv.restart();
    let after = srv.routes();
    assert_eq!(before.instances, after.instances);
    let main = srv.info.https_endpoint.clone();
    let id = ok_json(&srv.on_instance(&seed.instance, &main, &["sts", "get-caller-identity"], &[]));
    assert_eq!(id["Account"], A);

    // Terminate: the metadata service goes away with the instance.
    let imds = after.instances[&seed.instance].imds_endpoint.clone();
    let t = ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "terminate-instances",
            "--instance-ids",
            &seed.instance,
        ],
    ));
    assert_eq!(
        t["TerminatingInstances"][0]["CurrentState"]["Name"],
        "terminated"
    );
    assert_eq!(
        t["TerminatingInstances"][0]["PreviousState"]["Name"],
        "running"
    );
    assert!(srv.routes().instances.is_empty());
    let port: u16 = imds.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "metadata service still listening"
    );
}

#[test]
fn endpoint_listener_carries_vpce_keys_and_endpoint_policy() {
    let srv = Restartable::start();
    let seed = seed_a(&srv);
    // An STS interface endpoint in the seed VPC.
    let ep = ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "create-vpc-endpoint",
            "--vpc-id",
            &seed.vpc,
            "--vpc-endpoint-type",
            "Interface",
            "--service-name",
            "com.amazonaws.us-east-1.sts",
            "--subnet-ids",
            &seed.subnet,
        ],
    ));
    let sts_ep = s(&ep["VpcEndpoint"]["VpcEndpointId"]);
    let dns = s(&ep["VpcEndpoint"]["DnsEntries"][0]["DnsName"]);
    let url = format!("https://{dns}");
    assert_eq!(srv.routes().instances[&seed.instance].endpoints["sts"], url);

    // Account B's role trusts account A, but only through that endpoint (aws:SourceVpce), and
    // denies any request that carries aws:SourceIp (requests through an endpoint have none).
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[
          {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"sts:AssumeRole",
            "Condition":{{"StringEquals":{{"aws:SourceVpce":"{sts_ep}","aws:SourceVpc":"{vpc}","aws:VpceAccount":"{A}"}}}}}},
          {{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole",
            "Condition":{{"Null":{{"aws:SourceIp":"false"}}}}}}]}}"#,
        vpc = seed.vpc
    );
    let trust = write(srv.dir.path(), "trust.json", &trust);
    ok_json(&srv.aws(&[
        "iam",
        "create-role",
        "--role-name",
        "CrossAccountS3AccessRole",
        "--assume-role-policy-document",
        &trust,
        "--profile",
        "account-b",
    ]));
    let role = format!("arn:aws:iam::{B}:role/CrossAccountS3AccessRole");
    let assume = [
        "sts",
        "assume-role",
        "--role-arn",
        role.as_str(),
        "--role-session-name",
        "cross-account-session",
    ];

    // From the instance through the endpoint: allowed (seed Step 9.3).
    let creds = ok_json(&srv.on_instance(&seed.instance, &url, &assume, &[]));
    assert!(
        s(&creds["AssumedRoleUser"]["Arn"])
            .ends_with(":assumed-role/CrossAccountS3AccessRole/cross-account-session")
    );
    // The instance role's own credentials on the main listener: denied (no aws:SourceVpce).
    let main = srv.info.https_endpoint.clone();
    let err = failed(&srv.on_instance(&seed.instance, &main, &assume, &[]));
    assert!(err.contains("AccessDenied"), "{err}");
    // A request signed for another service is refused by the STS endpoint.
    let err = failed(&srv.on_instance(&seed.instance, &url, &["ec2", "describe-vpcs"], &[]));
    assert!(
        err.contains("421") || err.contains("serves the 'sts' service only"),
        "{err}"
    );

    // An endpoint policy that denies sts:AssumeRole blocks it through the endpoint.
    let deny = write(
        srv.dir.path(),
        "endpoint-policy.json",
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
            {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}"#,
    );
    ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &sts_ep,
            "--policy-document",
            &deny,
        ],
    ));
    let err = failed(&srv.on_instance(&seed.instance, &url, &assume, &[]));
    assert!(err.contains("AccessDenied"), "{err}");
    // Reset to full access: allowed again; GetCallerIdentity works through the endpoint too.
    ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &sts_ep,
            "--reset-policy",
        ],
    ));
    ok_json(&srv.on_instance(&seed.instance, &url, &assume, &[]));
    ok_json(&srv.on_instance(&seed.instance, &url, &["sts", "get-caller-identity"], &[]));

    // Removing the gateway's route takes S3 off the instance's routes; deleting the STS
    // endpoint closes its listener.
    ok_json(&as_a(
        &srv,
        &[
            "ec2",
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &seed.gateway,
            "--remove-route-table-ids",
            &seed.rtb,
        ],
    ));
    assert!(
        !srv.routes().instances[&seed.instance]
            .endpoints
            .contains_key("s3")
    );
    let port: u16 = dns.rsplit(':').next().unwrap().parse().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let del = ok_json(&as_a(
        &srv,
        &["ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", &sts_ep],
    ));
    assert_eq!(del["Unsuccessful"].as_array().unwrap().len(), 0);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "endpoint listener still open"
    );
    assert!(
        !srv.routes().instances[&seed.instance]
            .endpoints
            .contains_key("sts")
    );
}

#[test]
fn ec2_errors_have_aws_codes() {
    let srv = Restartable::start();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["ec2", "describe-vpcs", "--vpc-ids", "vpc-0123456789abcdef0"],
            "InvalidVpcID.NotFound",
        ),
        (
            vec!["ec2", "delete-vpc", "--vpc-id", "vpc-0123456789abcdef0"],
            "InvalidVpcID.NotFound",
        ),
        (
            vec!["ec2", "create-vpc", "--cidr-block", "10.0.0.0/8"],
            "InvalidVpc.Range",
        ),
        (
            vec![
                "ec2",
                "create-subnet",
                "--vpc-id",
                "vpc-0123456789abcdef0",
                "--cidr-block",
                "10.0.1.0/24",
            ],
            "InvalidVpcID.NotFound",
        ),
        (
            vec![
                "ec2",
                "describe-subnets",
                "--subnet-ids",
                "subnet-0123456789abcdef0",
            ],
            "InvalidSubnetID.NotFound",
        ),
        (
            vec![
                "ec2",
                "describe-vpc-endpoints",
                "--vpc-endpoint-ids",
                "vpce-0123456789abcdef0",
            ],
            "InvalidVpcEndpointId.NotFound",
        ),
        (
            vec![
                "ec2",
                "modify-vpc-endpoint",
                "--vpc-endpoint-id",
                "vpce-0123456789abcdef0",
                "--reset-policy",
            ],
            "InvalidVpcEndpointId.NotFound",
        ),
        (
            vec![
                "ec2",
                "describe-instances",
                "--instance-ids",
                "i-0123456789abcdef0",
            ],
            "InvalidInstanceID.NotFound",
        ),
        (
            vec![
                "ec2",
                "terminate-instances",
                "--instance-ids",
                "i-0123456789abcdef0",
            ],
            "InvalidInstanceID.NotFound",
        ),
        (
            vec![
                "ec2",
                "run-instances",
                "--image-id",
                "ami-1",
                "--subnet-id",
                "subnet-0123456789abcdef0",
            ],
            "InvalidSubnetID.NotFound",
        ),
        (
            vec![
                "ec2",
                "create-vpc",
                "--cidr-block",
                "10.0.0.0/16",
                "--dry-run",
            ],
            "DryRunOperation",
        ),
    ];
    for (args, code) in cases {
        let err = failed(&as_a(&srv, &args));
        assert!(err.contains(&format!("({code})")), "{args:?}: {err}");
    }
    // Nothing was created by the failed calls (the dry run included).
    let vpcs = ok_json(&as_a(&srv, &["ec2", "describe-vpcs"]));
    assert_eq!(vpcs["Vpcs"].as_array().unwrap().len(), 0);

    let vpc = s(&ok_json(&as_a(
        &srv,
        &["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"],
    ))["Vpc"]["VpcId"]);
    let err = failed(&as_a(
        &srv,
        &[
            "ec2",
            "create-vpc-endpoint",
            "--vpc-id",
            &vpc,
            "--service-name",
            "com.amazonaws.us-east-1.dynamodb",
        ],
    ));
    assert!(err.contains("InvalidVpcEndpointService.NotFound"), "{err}");
    let err = failed(&as_a(
        &srv,
        &[
            "ec2",
            "create-vpc-endpoint",
            "--vpc-id",
            &vpc,
            "--service-name",
            "com.amazonaws.us-east-1.s3",
            "--policy-document",
            "{\"Statement\": 1}",
        ],
    ));
    assert!(err.contains("MalformedPolicyDocument"), "{err}");
    let err = failed(&as_a(
        &srv,
        &[
            "ec2",
            "run-instances",
            "--image-id",
            "ami-1",
            "--iam-instance-profile",
            "Name=missing",
        ],
    ));
    assert!(
        err.contains("InvalidParameterValue") || err.contains("MissingParameter"),
        "{err}"
    );
    assert!(
        ok_json(&as_a(&srv, &["ec2", "describe-vpc-endpoints"]))["VpcEndpoints"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A user without EC2 permissions: UnauthorizedOperation with AWS's wording.
    ok_json(&as_a(
        &srv,
        &["iam", "create-user", "--user-name", "nobody"],
    ));
    let key = ok_json(&as_a(
        &srv,
        &["iam", "create-access-key", "--user-name", "nobody"],
    ));
    let out = srv.dir.path().join("nobody");
    let mut cmd = Command::new(venv().join("bin/aws"));
    clean_env(&mut cmd, srv.dir.path());
    let o = cmd
        .env("AWS_CONFIG_FILE", &srv.info.aws_config_file)
        .env("AWS_SHARED_CREDENTIALS_FILE", &out)
        .env("AWS_ACCESS_KEY_ID", s(&key["AccessKey"]["AccessKeyId"]))
        .env(
            "AWS_SECRET_ACCESS_KEY",
            s(&key["AccessKey"]["SecretAccessKey"]),
        )
        .args(["ec2", "create-vpc", "--cidr-block", "10.1.0.0/16"])
        .output()
        .unwrap();
    let err = failed(&o);
    assert!(err.contains("(UnauthorizedOperation)"), "{err}");
    assert!(
        err.contains("You are not authorized to perform this operation."),
        "{err}"
    );
    assert!(err.contains("ec2:CreateVpc"), "{err}");
    assert_eq!(
        ok_json(&as_a(&srv, &["ec2", "describe-vpcs"]))["Vpcs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// One raw HTTP/1.1 exchange with a metadata service: (status, body).
fn imds(endpoint: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

fn unix(iso: &str) -> i64 {
    time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

fn sleep_until(unix_time: i64) {
    let now = airlock_iam::now();
    if unix_time > now {
        std::thread::sleep(std::time::Duration::from_secs((unix_time - now) as u64));
    }
}

#[test]
fn instance_credentials_rotate_and_old_ones_expire() {
    let srv = Restartable::start_with_imds(20);
    let seed = seed_a(&srv);
    let ep = srv.routes().instances[&seed.instance].imds_endpoint.clone();
    let creds_path = "/latest/meta-data/iam/security-credentials/EC2CrossAccountAssumeRole";

    // IMDSv2 only: no token, no answer; a token needs a TTL of 1..21600 seconds.
    assert_eq!(
        imds(&ep, "GET", "/latest/meta-data/instance-id", &[]).0,
        401
    );
    assert_eq!(
        imds(
            &ep,
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "0")]
        )
        .0,
        400
    );
    let (st, token) = imds(
        &ep,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
    );
    assert_eq!(st, 200);
    let get = |path: &str| {
        imds(
            &ep,
            "GET",
            path,
            &[("X-aws-ec2-metadata-token", token.as_str())],
        )
    };
    assert_eq!(
        get("/latest/meta-data/instance-id"),
        (200, seed.instance.clone())
    );
    assert_eq!(
        get("/latest/meta-data/placement/region"),
        (200, "us-east-1".to_string())
    );
    assert_eq!(
        get("/latest/meta-data/iam/security-credentials/"),
        (200, "EC2CrossAccountAssumeRole".to_string())
    );
    let info: Value = serde_json::from_str(&get("/latest/meta-data/iam/info").1).unwrap();
    assert_eq!(info["Code"], "Success");
    assert!(
        s(&info["InstanceProfileArn"]).ends_with(":instance-profile/EC2CrossAccountAssumeRole")
    );
    assert_eq!(
        get("/latest/meta-data/iam/security-credentials/OtherRole").0,
        404
    );

    let fetch = || -> Value { serde_json::from_str(&get(creds_path).1).unwrap() };
    let c1 = fetch();
    assert_eq!(c1["Code"], "Success");
    assert_eq!(
        fetch()["AccessKeyId"],
        c1["AccessKeyId"],
        "credentials are reused while fresh"
    );
    let exp1 = unix(&s(&c1["Expiration"]));

    let with = |c: &Value| {
        let main = srv.info.https_endpoint.clone();
        srv.on_instance(
            &seed.instance,
            &main,
            &["sts", "get-caller-identity"],
            &[
                ("AWS_ACCESS_KEY_ID", &s(&c["AccessKeyId"])),
                ("AWS_SECRET_ACCESS_KEY", &s(&c["SecretAccessKey"])),
                ("AWS_SESSION_TOKEN", &s(&c["Token"])),
            ],
        )
    };
    ok_json(&with(&c1));

    // Within the refresh margin (half the 20 s lifetime) the service hands out new credentials.
    sleep_until(exp1 - 9);
    let c2 = fetch();
    assert_ne!(c2["AccessKeyId"], c1["AccessKeyId"]);
    assert!(unix(&s(&c2["Expiration"])) > exp1);
    // Once the first ones expire they are refused; the new ones still work.
    sleep_until(exp1 + 1);
    let err = failed(&with(&c1));
    assert!(err.contains("ExpiredToken"), "{err}");
    let id = ok_json(&with(&c2));
    assert!(s(&id["Arn"]).ends_with(&format!(
        "assumed-role/EC2CrossAccountAssumeRole/{}",
        seed.instance
    )));
}

#[test]
fn role_that_does_not_trust_ec2_gets_no_instance_credentials() {
    let srv = Restartable::start();
    let seed = seed_a(&srv);
    // The seed role now trusts only account A's root, not the EC2 service.
    ok_json(&as_a(
        &srv,
        &[
            "iam",
            "update-assume-role-policy",
            "--role-name",
            "EC2CrossAccountAssumeRole",
            "--policy-document",
            &seed_file("step3-trust-another-account.json"),
        ],
    ));
    let ep = srv.routes().instances[&seed.instance].imds_endpoint.clone();
    let (_, token) = imds(
        &ep,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    let (st, body) = imds(
        &ep,
        "GET",
        "/latest/meta-data/iam/security-credentials/EC2CrossAccountAssumeRole",
        &[("X-aws-ec2-metadata-token", &token)],
    );
    assert_eq!(st, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Code"], "AssumeRoleUnauthorizedAccess", "{v}");
    assert!(v.get("AccessKeyId").is_none());
    let main = srv.info.https_endpoint.clone();
    failed(&srv.on_instance(&seed.instance, &main, &["sts", "get-caller-identity"], &[]));
}

/// Issue #24: instance credentials are sessions bound to the role's unique id. When the
/// profile's role is deleted and created again under the same name, the old credentials are
/// refused and the metadata service hands out a session of the new role.
#[test]
fn instance_credentials_of_a_deleted_role_are_refused_and_replaced() {
    let srv = Restartable::start();
    let seed = seed_a(&srv);
    let ep = srv.routes().instances[&seed.instance].imds_endpoint.clone();
    let (_, token) = imds(
        &ep,
        "PUT",
        "/latest/api/token",
        &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
    );
    let fetch = || -> Value {
        let (st, body) = imds(
            &ep,
            "GET",
            "/latest/meta-data/iam/security-credentials/EC2CrossAccountAssumeRole",
            &[("X-aws-ec2-metadata-token", &token)],
        );
        assert_eq!(st, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let with = |c: &Value| {
        let main = srv.info.https_endpoint.clone();
        srv.on_instance(
            &seed.instance,
            &main,
            &["sts", "get-caller-identity"],
            &[
                ("AWS_ACCESS_KEY_ID", &s(&c["AccessKeyId"])),
                ("AWS_SECRET_ACCESS_KEY", &s(&c["SecretAccessKey"])),
                ("AWS_SESSION_TOKEN", &s(&c["Token"])),
            ],
        )
    };
    let c1 = fetch();
    assert_eq!(c1["Code"], "Success", "{c1}");
    ok_json(&with(&c1));

    let role = "EC2CrossAccountAssumeRole";
    for args in [
        &[
            "iam",
            "remove-role-from-instance-profile",
            "--instance-profile-name",
            role,
            "--role-name",
            role,
        ][..],
        &[
            "iam",
            "delete-role-policy",
            "--role-name",
            role,
            "--policy-name",
            "AssumeRoleInAccountB",
        ],
        &["iam", "delete-role", "--role-name", role],
    ] {
        ok_json(&as_a(&srv, args));
    }
    let err = failed(&with(&c1));
    assert!(err.contains("InvalidClientTokenId"), "{err}");

    // The same role again: name, trust policy, permissions and profile.
    let trust = seed_file("step5-trust-ec2.json");
    let policy = seed_file("step5-AssumeRoleInAccountB.json");
    for args in [
        &[
            "iam",
            "create-role",
            "--role-name",
            role,
            "--assume-role-policy-document",
            &trust,
        ][..],
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            role,
            "--policy-name",
            "AssumeRoleInAccountB",
            "--policy-document",
            &policy,
        ],
        &[
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            role,
            "--role-name",
            role,
        ],
    ] {
        ok_json(&as_a(&srv, args));
    }
    let err = failed(&with(&c1));
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    let c2 = fetch();
    assert_eq!(c2["Code"], "Success", "{c2}");
    assert_ne!(c2["AccessKeyId"], c1["AccessKeyId"]);
    let id = ok_json(&with(&c2));
    assert!(s(&id["Arn"]).ends_with(&format!("assumed-role/{role}/{}", seed.instance)));
}
