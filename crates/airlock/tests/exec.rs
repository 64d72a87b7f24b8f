//! `airlock exec` against a real `airlock serve`: the seed's Step 9 identity flow runs
//! unchanged "on the instance", with the caller's own credentials removed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use serde_json::Value;

mod support;

const A: &str = "111111111111";
const B: &str = "222222222222";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn venv_bin() -> PathBuf {
    let bin = workspace().join("target/venv/bin");
    assert!(
        bin.join("aws").exists(),
        "the test venv is missing: run `bash scripts/test-env.sh`"
    );
    bin
}

struct Serve {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start() -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let child = support::spawn_ready(
            Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args(["serve", "--port", "0", "--tls-port", "0"])
                .args(["--account", &format!("{A}=account-a")])
                .args(["--account", &format!("{B}=account-b")])
                .arg("--data-dir")
                .arg(&data),
        );
        Serve { child, dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn env(&self, cmd: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "AIRLOCK_DATA_DIR" {
                cmd.env_remove(k);
            }
        }
        let path = format!(
            "{}:{}",
            venv_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("HOME", self.dir.path())
            .env("PATH", path)
            .env("AWS_PAGER", "")
            .current_dir(self.dir.path());
    }

    /// The AWS CLI as the administrator of a profile.
    fn aws(&self, profile: &str, args: &[&str]) -> Value {
        let mut cmd = Command::new(venv_bin().join("aws"));
        self.env(&mut cmd);
        let out = cmd
            .env("AWS_CONFIG_FILE", self.data().join("aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.data().join("aws/credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(args)
            .args(["--profile", profile])
            .output()
            .unwrap();
        json(&out)
    }

    /// `airlock exec INSTANCE -- bash -c SCRIPT`, from a caller that has its own admin
    /// credentials in the environment (which must not reach the instance).
    fn exec(&self, instance: &str, script: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
        self.env(&mut cmd);
        cmd.env("AIRLOCK_DATA_DIR", self.data())
            .env("AWS_ACCESS_KEY_ID", "AKIACALLERCREDENTIAL")
            .env("AWS_SECRET_ACCESS_KEY", "caller-secret")
            .env("AWS_PROFILE", "account-b")
            .args(["exec", instance, "--", "bash", "-c", script])
            .output()
            .unwrap()
    }
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8_lossy(&out.stdout);
    if t.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&t).unwrap()
    }
}

fn seed(name: &str) -> String {
    format!(
        "file://{}",
        workspace().join("tests/server/seed").join(name).display()
    )
}

#[test]
fn step9_identity_flow_runs_on_the_instance() {
    let srv = Serve::start();
    // Account B: the cross-account role of Step 3 (trusting account A).
    srv.aws(
        "account-b",
        &[
            "iam",
            "create-role",
            "--role-name",
            "CrossAccountS3AccessRole",
            "--assume-role-policy-document",
            &seed("step3-trust-another-account.json"),
        ],
    );
    // Account A: Steps 5, 6 and 8.
    for args in [
        vec![
            "iam",
            "create-role",
            "--role-name",
            "EC2CrossAccountAssumeRole",
            "--assume-role-policy-document",
            &seed("step5-trust-ec2.json"),
        ],
        vec![
            "iam",
            "put-role-policy",
            "--role-name",
            "EC2CrossAccountAssumeRole",
            "--policy-name",
            "AssumeRoleInAccountB",
            "--policy-document",
            &seed("step5-AssumeRoleInAccountB.json"),
        ],
        vec![
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "EC2CrossAccountAssumeRole",
        ],
        vec![
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "EC2CrossAccountAssumeRole",
            "--role-name",
            "EC2CrossAccountAssumeRole",
        ],
    ] {
        srv.aws("account-a", &args);
    }
    let vpc = srv.aws(
        "account-a",
        &["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"],
    );
    let vpc = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let rtb = srv.aws(
        "account-a",
        &[
            "ec2",
            "describe-route-tables",
            "--filters",
            &format!("Name=vpc-id,Values={vpc}"),
        ],
    );
    let rtb = rtb["RouteTables"][0]["RouteTableId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = srv.aws(
        "account-a",
        &[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            "10.0.1.0/24",
        ],
    );
    let subnet = subnet["Subnet"]["SubnetId"].as_str().unwrap().to_string();
    let ep = srv.aws(
        "account-a",
        &[
            "ec2",
            "create-vpc-endpoint",
            "--vpc-id",
            &vpc,
            "--service-name",
            "com.amazonaws.us-east-1.s3",
            "--route-table-ids",
            &rtb,
        ],
    );
    let vpce = ep["VpcEndpoint"]["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let run = srv.aws(
        "account-a",
        &[
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
        ],
    );
    let instance = run["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();

    // Step 9.2: the instance profile's identity, although the caller had its own credentials.
    let id = json(&srv.exec(&instance, "aws sts get-caller-identity"));
    assert_eq!(
        id["Arn"],
        format!("arn:aws:sts::{A}:assumed-role/EC2CrossAccountAssumeRole/{instance}")
    );

    // S3 is routed to the gateway endpoint's listener; the caller's settings are gone.
    let out = srv.exec(
        &instance,
        "echo \"$AWS_ENDPOINT_URL_S3|${AWS_ACCESS_KEY_ID:-none}|${AWS_PROFILE:-none}\"",
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let network: Value =
        serde_json::from_str(&std::fs::read_to_string(srv.data().join("network.json")).unwrap())
            .unwrap();
    let s3 = network["instances"][&instance]["endpoints"]["s3"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(text, format!("{s3}|none|none"));
    assert!(!vpce.is_empty());

    // Steps 9.3-9.5 verbatim: assume the role in B, export its credentials, check identity.
    let script = r#"set -e
aws sts get-caller-identity >/dev/null
read -r AK SK ST <<< "$(aws sts assume-role \
  --role-arn "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole" \
  --role-session-name "cross-account-session" \
  --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)"
export AWS_ACCESS_KEY_ID="$AK"
export AWS_SECRET_ACCESS_KEY="$SK"
export AWS_SESSION_TOKEN="$ST"
aws sts get-caller-identity
"#;
    let id = json(&srv.exec(&instance, script));
    assert_eq!(
        id["Arn"],
        format!("arn:aws:sts::{B}:assumed-role/CrossAccountS3AccessRole/cross-account-session")
    );

    // An unknown instance is a clear error, and the command does not run.
    let out = srv.exec("i-0000000000000000a", "echo ran");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    format!("file://{}", p.display())
}

const BUCKET: &str = "cross-account-secure-bucket-demo";

/// The seed's Step 1 key policy, verbatim.
const KEY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::222222222222:root"
      },
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow Account A to use the key",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::111111111111:root"
      },
      "Action": [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey"
      ],
      "Resource": "*"
    }
  ]
}"#;

/// The seed's Step 7 bucket policy, verbatim but for the endpoint id.
fn bucket_policy(vpce: &str) -> String {
    r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "DenyAllExceptVPCEndpoint",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "s3:*",
      "Resource": [
        "arn:aws:s3:::cross-account-secure-bucket-demo",
        "arn:aws:s3:::cross-account-secure-bucket-demo/*"
      ],
      "Condition": {
        "StringNotEquals": {
          "aws:SourceVpce": "vpce-0a1b2c3d4e5f6g7h8"
        }
      }
    },
    {
      "Sid": "AllowCrossAccountRole",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole"
      },
      "Action": [
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket"
      ],
      "Resource": [
        "arn:aws:s3:::cross-account-secure-bucket-demo",
        "arn:aws:s3:::cross-account-secure-bucket-demo/*"
      ]
    }
  ]
}"#
    .replace("vpce-0a1b2c3d4e5f6g7h8", vpce)
}

/// Seed Step 9, steps 2-8, verbatim (the export lines take the values of step 3's answer).
const STEP9: &str = r#"set -e
aws sts get-caller-identity
read -r AK SK ST <<< "$(aws sts assume-role \
  --role-arn "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole" \
  --role-session-name "cross-account-session" \
  --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)"
export AWS_ACCESS_KEY_ID="$AK"
export AWS_SECRET_ACCESS_KEY="$SK"
export AWS_SESSION_TOKEN="$ST"
aws sts get-caller-identity
echo "Hello from Account A!" > test-file.txt

aws s3 cp test-file.txt s3://cross-account-secure-bucket-demo/test-file.txt
aws s3 ls s3://cross-account-secure-bucket-demo/
aws s3 cp s3://cross-account-secure-bucket-demo/test-file.txt downloaded-file.txt
cat downloaded-file.txt
"#;

#[test]
fn seed_step9_s3_through_the_vpc_endpoint_and_denied_outside_it() {
    let srv = Serve::start();
    let dir = srv.dir.path();
    // Account B: Steps 1-3.
    let key = srv.aws(
        "account-b",
        &[
            "kms",
            "create-key",
            "--policy",
            &write(dir, "key-policy.json", KEY_POLICY),
            "--description",
            "KMS key for cross-account S3 bucket encryption",
        ],
    );
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    srv.aws(
        "account-b",
        &[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/cross-account-s3-key",
            "--target-key-id",
            &key_arn,
        ],
    );
    srv.aws("account-b", &["s3api", "create-bucket", "--bucket", BUCKET]);
    srv.aws("account-b", &["s3api", "put-public-access-block", "--bucket", BUCKET, "--public-access-block-configuration", "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"]);
    let enc = format!(
        r#"{{"Rules":[{{"ApplyServerSideEncryptionByDefault":{{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"{key_arn}"}},"BucketKeyEnabled":true}}]}}"#
    );
    srv.aws(
        "account-b",
        &[
            "s3api",
            "put-bucket-encryption",
            "--bucket",
            BUCKET,
            "--server-side-encryption-configuration",
            &enc,
        ],
    );
    srv.aws(
        "account-b",
        &[
            "iam",
            "create-role",
            "--role-name",
            "CrossAccountS3AccessRole",
            "--assume-role-policy-document",
            &seed("step3-trust-another-account.json"),
        ],
    );
    let role_policy =
        std::fs::read_to_string(workspace().join("tests/server/seed/step3-S3AndKMSAccess.json"))
            .unwrap()
            .replace(
                "arn:aws:kms:us-east-1:222222222222:key/12345678-1234-1234-1234-123456789012",
                &key_arn,
            );
    srv.aws(
        "account-b",
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "CrossAccountS3AccessRole",
            "--policy-name",
            "S3AndKMSAccess",
            "--policy-document",
            &write(dir, "role-policy.json", &role_policy),
        ],
    );
    // Account A: Steps 5, 6 and 8.
    for args in [
        vec![
            "iam",
            "create-role",
            "--role-name",
            "EC2CrossAccountAssumeRole",
            "--assume-role-policy-document",
            &seed("step5-trust-ec2.json"),
        ],
        vec![
            "iam",
            "put-role-policy",
            "--role-name",
            "EC2CrossAccountAssumeRole",
            "--policy-name",
            "AssumeRoleInAccountB",
            "--policy-document",
            &seed("step5-AssumeRoleInAccountB.json"),
        ],
        vec![
            "iam",
            "create-instance-profile",
            "--instance-profile-name",
            "EC2CrossAccountAssumeRole",
        ],
        vec![
            "iam",
            "add-role-to-instance-profile",
            "--instance-profile-name",
            "EC2CrossAccountAssumeRole",
            "--role-name",
            "EC2CrossAccountAssumeRole",
        ],
    ] {
        srv.aws("account-a", &args);
    }
    let vpc = srv.aws(
        "account-a",
        &["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"],
    );
    let vpc = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let rtb = srv.aws(
        "account-a",
        &[
            "ec2",
            "describe-route-tables",
            "--filters",
            &format!("Name=vpc-id,Values={vpc}"),
        ],
    );
    let rtb = rtb["RouteTables"][0]["RouteTableId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = srv.aws(
        "account-a",
        &[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            "10.0.1.0/24",
        ],
    );
    let subnet = subnet["Subnet"]["SubnetId"].as_str().unwrap().to_string();
    let ep = srv.aws(
        "account-a",
        &[
            "ec2",
            "create-vpc-endpoint",
            "--vpc-id",
            &vpc,
            "--service-name",
            "com.amazonaws.us-east-1.s3",
            "--route-table-ids",
            &rtb,
        ],
    );
    let vpce = ep["VpcEndpoint"]["VpcEndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let run = srv.aws(
        "account-a",
        &[
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
        ],
    );
    let instance = run["Instances"][0]["InstanceId"]
        .as_str()
        .unwrap()
        .to_string();
    // Account B: Step 7 with the endpoint id.
    srv.aws(
        "account-b",
        &[
            "s3api",
            "put-bucket-policy",
            "--bucket",
            BUCKET,
            "--policy",
            &write(dir, "bucket-policy.json", &bucket_policy(&vpce)),
        ],
    );

    // Step 9 on the instance.
    let out = srv.exec(&instance, STEP9);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "assumed-role/EC2CrossAccountAssumeRole/{instance}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("assumed-role/CrossAccountS3AccessRole/cross-account-session"),
        "{stdout}"
    );
    assert!(stdout.contains("test-file.txt"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("Hello from Account A!"),
        "{stdout}"
    );

    // Checklist Test 1: account B's administrator, from this machine (not the VPC): denied.
    let mut cmd = Command::new(venv_bin().join("aws"));
    srv.env(&mut cmd);
    let o = cmd
        .env("AWS_CONFIG_FILE", srv.data().join("aws/config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            srv.data().join("aws/credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "s3",
            "ls",
            &format!("s3://{BUCKET}/"),
            "--profile",
            "account-b",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("AccessDenied"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The role's own credentials, taken out of the VPC: denied too.
    let creds = json(&srv.exec(&instance, r#"aws sts assume-role --role-arn "arn:aws:iam::222222222222:role/CrossAccountS3AccessRole" --role-session-name outside"#));
    let c = &creds["Credentials"];
    let mut cmd = Command::new(venv_bin().join("aws"));
    srv.env(&mut cmd);
    let o = cmd
        .env("AWS_CONFIG_FILE", srv.data().join("aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        )
        .env("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap())
        .args(["s3", "ls", &format!("s3://{BUCKET}/")])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("AccessDenied"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // An endpoint policy that denies s3:PutObject blocks uploads through the endpoint; reads
    // still work.
    let deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"*"}]}"#;
    srv.aws(
        "account-a",
        &[
            "ec2",
            "modify-vpc-endpoint",
            "--vpc-endpoint-id",
            &vpce,
            "--policy-document",
            &write(dir, "endpoint-policy.json", deny),
        ],
    );
    let script = STEP9.replace("aws s3 cp test-file.txt", "aws s3 cp test-file.txt s3://cross-account-secure-bucket-demo/second.txt || echo PUT-DENIED\n: ");
    let out = srv.exec(&instance, &script);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PUT-DENIED"), "{stdout}");
    assert!(!stdout.contains("second.txt"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDenied"));
    assert!(
        stdout.trim_end().ends_with("Hello from Account A!"),
        "{stdout}"
    );
}
