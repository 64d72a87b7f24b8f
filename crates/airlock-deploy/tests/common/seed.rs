//! The seed's plan, built by hand for the deploy tests (independent of the blueprint
//! generator): Steps 1–8 with the seed's names, `as-written` JSON exactly or a hardened
//! variant.

use airlock_blueprint::plan::*;
use airlock_policy::setup::PublicAccessBlock;
use serde_json::json;

pub const A: &str = "111111111111";
pub const B: &str = "222222222222";
pub const BUCKET: &str = "cross-account-secure-bucket-demo";
pub const VPCE: &str = "${airlock:vpce_id:s3-gateway-endpoint}";

fn t(v: serde_json::Value) -> PolicyTemplate {
    PolicyTemplate::new(v)
}

pub fn seed_plan(profile: Profile) -> Plan {
    let hardened = profile == Profile::Hardened;
    let bucket_arn = format!("arn:aws:s3:::{BUCKET}");
    let objects = format!("{bucket_arn}/*");
    let storage_role = format!("arn:aws:iam::{B}:role/CrossAccountS3AccessRole");
    let instance_role = format!("arn:aws:iam::{A}:role/EC2CrossAccountAssumeRole");
    let break_glass = format!("arn:aws:iam::{B}:role/AirlockBreakGlassAdmin");
    let key_policy = if hardened {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{B}:root")},"Action":"kms:*","Resource":"*"},
            {"Sid":"AllowStorageRoleThroughS3","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{B}:root")},
             "Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"*",
             "Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com","kms:CallerAccount":B}}}
        ]})
    } else {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{B}:root")},"Action":"kms:*","Resource":"*"},
            {"Sid":"Allow Account A to use the key","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{A}:root")},"Action":["kms:Decrypt","kms:DescribeKey","kms:GenerateDataKey"],"Resource":"*"}
        ]})
    };
    let bucket_policy = if hardened {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"DenyAllExceptVPCEndpoint","Effect":"Deny","Principal":"*",
             "NotAction":["s3:GetBucketPolicy","s3:PutBucketPolicy","s3:DeleteBucketPolicy"],
             "Resource":[bucket_arn, objects],
             "Condition":{"StringNotEquals":{"aws:SourceVpce":VPCE}}},
            {"Sid":"DenyPolicyActionsExceptVPCEndpointOrBreakGlass","Effect":"Deny","Principal":"*",
             "Action":["s3:GetBucketPolicy","s3:PutBucketPolicy","s3:DeleteBucketPolicy"],
             "Resource":bucket_arn,
             "Condition":{"StringNotEquals":{"aws:SourceVpce":VPCE},"ArnNotEquals":{"aws:PrincipalArn":break_glass}}},
            {"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*",
             "Resource":[bucket_arn, objects],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
            {"Sid":"DenyOtherKmsKeys","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":objects,
             "Condition":{"StringNotEqualsIfExists":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"${airlock:key_arn}"}}},
            {"Sid":"AllowCrossAccountRoleList","Effect":"Allow","Principal":{"AWS":storage_role},
             "Action":"s3:ListBucket","Resource":bucket_arn},
            {"Sid":"AllowCrossAccountRoleObjects","Effect":"Allow","Principal":{"AWS":storage_role},
             "Action":["s3:GetObject","s3:PutObject"],"Resource":objects}
        ]})
    } else {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"DenyAllExceptVPCEndpoint","Effect":"Deny","Principal":"*","Action":"s3:*",
             "Resource":[bucket_arn, objects],
             "Condition":{"StringNotEquals":{"aws:SourceVpce":VPCE}}},
            {"Sid":"AllowCrossAccountRole","Effect":"Allow","Principal":{"AWS":storage_role},
             "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":[bucket_arn, objects]}
        ]})
    };
    let trust = if hardened {
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{A}:root")},"Action":"sts:AssumeRole",
            "Condition":{"ArnEquals":{"aws:PrincipalArn":instance_role}}}]})
    } else {
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{A}:root")},"Action":"sts:AssumeRole"}]})
    };
    let s3_and_kms = if hardened {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"List","Effect":"Allow","Action":"s3:ListBucket","Resource":bucket_arn},
            {"Sid":"Objects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":objects},
            {"Sid":"KMSKeyAccess","Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"${airlock:key_arn}"}
        ]})
    } else {
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"S3BucketAccess","Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],"Resource":[bucket_arn, objects]},
            {"Sid":"KMSKeyAccess","Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey","kms:DescribeKey"],"Resource":"${airlock:key_arn}"}
        ]})
    };
    let mut roles = vec![RolePlan {
        account: B.into(),
        name: "CrossAccountS3AccessRole".into(),
        purpose: RolePurpose::Storage,
        description: "Allows Account A EC2 to access encrypted S3 bucket".into(),
        trust_policy: t(trust),
        inline_policies: vec![InlinePolicy { name: "S3AndKMSAccess".into(), policy: t(s3_and_kms) }],
        managed_policy_arns: vec![],
        instance_profile: None,
        max_session_duration: None,
    }];
    if hardened {
        roles.push(RolePlan {
            account: B.into(),
            name: "AirlockBreakGlassAdmin".into(),
            purpose: RolePurpose::BreakGlass,
            description: "Break-glass administrator of the bucket policy".into(),
            trust_policy: t(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{B}:root")},"Action":"sts:AssumeRole"}]})),
            inline_policies: vec![InlinePolicy { name: "BucketPolicyAdmin".into(), policy: t(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetBucketPolicy","s3:PutBucketPolicy","s3:DeleteBucketPolicy"],"Resource":format!("arn:aws:s3:::{BUCKET}")}]})) }],
            managed_policy_arns: vec![],
            instance_profile: None,
            max_session_duration: None,
        });
    }
    roles.push(RolePlan {
        account: A.into(),
        name: "EC2CrossAccountAssumeRole".into(),
        purpose: RolePurpose::Instance,
        description: "Allows EC2 to assume role in Account B".into(),
        trust_policy: t(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]})),
        inline_policies: vec![InlinePolicy { name: "AssumeRoleInAccountB".into(), policy: t(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":storage_role}]})) }],
        managed_policy_arns: vec![],
        instance_profile: Some("EC2CrossAccountAssumeRole".into()),
        max_session_duration: None,
    });
    let mut steps = vec![
        Step { number: 1, account: B.into(), action: StepAction::CreateKey, what: "Create the KMS key".into() },
        Step { number: 2, account: B.into(), action: StepAction::CreateBucket, what: "Create the bucket".into() },
        Step { number: 3, account: B.into(), action: StepAction::CreateRole { name: "CrossAccountS3AccessRole".into() }, what: "Create the storage role".into() },
    ];
    if hardened {
        steps.push(Step { number: 3, account: B.into(), action: StepAction::CreateRole { name: "AirlockBreakGlassAdmin".into() }, what: "Create the break-glass role".into() });
    }
    steps.extend([
        Step { number: 5, account: A.into(), action: StepAction::CreateRole { name: "EC2CrossAccountAssumeRole".into() }, what: "Create the instance role".into() },
        Step { number: 6, account: A.into(), action: StepAction::CreateNetwork { endpoint: "s3-gateway-endpoint".into() }, what: "Create the VPC endpoint".into() },
        Step { number: 7, account: B.into(), action: StepAction::PutBucketPolicy, what: "Put the bucket policy".into() },
        Step { number: 8, account: A.into(), action: StepAction::LaunchInstance { endpoint: "s3-gateway-endpoint".into() }, what: "Launch the instance".into() },
    ]);
    Plan {
        region: "us-east-1".into(),
        profile,
        hardening: Hardening::for_profile(profile),
        storage_account: Account { id: B.into(), alias: "account-b".into() },
        consumer_accounts: vec![Account { id: A.into(), alias: "account-a".into() }],
        key: KeyPlan {
            account: B.into(),
            alias: "alias/cross-account-s3-key".into(),
            description: "KMS key for cross-account S3 bucket encryption".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            policy: t(key_policy),
            enable_rotation: hardened,
        },
        bucket: BucketPlan {
            account: B.into(),
            name: BUCKET.into(),
            public_access_block: PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            },
            default_encryption: DefaultEncryption {
                sse_algorithm: "aws:kms".into(),
                kms_master_key_id: "${airlock:key_arn}".into(),
                bucket_key_enabled: true,
            },
            ownership: hardened.then(|| "BucketOwnerEnforced".to_string()),
            versioning: hardened,
            policy: t(bucket_policy),
            tags: Default::default(),
        },
        roles,
        networks: vec![NetworkPlan {
            account: A.into(),
            vpc: VpcPlan { name: "airlock-vpc".into(), cidr: "10.0.0.0/16".into() },
            subnet: SubnetPlan { name: "airlock-subnet".into(), cidr: "10.0.1.0/24".into() },
            endpoint: VpcEndpointPlan {
                name: "s3-gateway-endpoint".into(),
                service_name: "com.amazonaws.us-east-1.s3".into(),
                kind: EndpointKind::Gateway,
                policy: None,
                associate_route_table: true,
            },
            instance: Some(InstancePlan {
                name: "cross-account-test-instance".into(),
                instance_profile: "EC2CrossAccountAssumeRole".into(),
                role: "EC2CrossAccountAssumeRole".into(),
                image_id: "ami-0abcdef1234567890".into(),
                instance_type: "t2.micro".into(),
            }),
        }],
        break_glass: hardened.then(|| BreakGlassPlan { principal_arn: break_glass.clone(), role: Some("AirlockBreakGlassAdmin".into()) }),
        steps,
    }
}
