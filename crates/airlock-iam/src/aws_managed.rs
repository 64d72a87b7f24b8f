//! The AWS-managed policies airlock serves, from a small built-in table. Their documents are
//! AWS's published default versions (abridged where AWS lists services airlock does not serve).

use crate::model::{ManagedPolicy, PolicyVersion};

struct Builtin {
    name: &'static str,
    path: &'static str,
    id: &'static str,
    version: &'static str,
    description: &'static str,
    document: &'static str,
}

const CREATED: i64 = 1_423_000_000; // 2015-02-03, as AWS reports for its original managed policies.

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "AdministratorAccess",
        path: "/",
        id: "ANPAIWMBCKSKIEE64ZLYK",
        version: "v1",
        description: "Provides full access to AWS services and resources.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    Builtin {
        name: "PowerUserAccess",
        path: "/",
        id: "ANPAJYRXTHIB4FOVS3ZXS",
        version: "v5",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization","account:ListRegions","account:GetAccountInformation"],"Resource":"*"}]}"#,
    },
    Builtin {
        name: "IAMFullAccess",
        path: "/",
        id: "ANPAI7XKCFMBPM3QQRRVQ",
        version: "v2",
        description: "Provides full access to IAM via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    },
    Builtin {
        name: "IAMReadOnlyAccess",
        path: "/",
        id: "ANPAJKSO7NDY4T57MWDSQ",
        version: "v4",
        description: "Provides read only access to IAM via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    },
    Builtin {
        name: "AmazonS3FullAccess",
        path: "/",
        id: "ANPAIFIR6V6BVTRAHWINE",
        version: "v2",
        description: "Provides full access to all buckets via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#,
    },
    Builtin {
        name: "AmazonS3ReadOnlyAccess",
        path: "/",
        id: "ANPAIZTJ4DXE7G6AGAE6M",
        version: "v3",
        description: "Provides read only access to all buckets via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
    },
];

fn to_policy(b: &Builtin) -> ManagedPolicy {
    ManagedPolicy {
        account: "aws".to_string(),
        name: b.name.to_string(),
        path: b.path.to_string(),
        id: b.id.to_string(),
        arn: format!("arn:aws:iam::aws:policy{}{}", b.path, b.name),
        description: Some(b.description.to_string()),
        create_date: CREATED,
        update_date: CREATED,
        default_version_id: b.version.to_string(),
        versions: vec![PolicyVersion {
            version_id: b.version.to_string(),
            document: b.document.to_string(),
            create_date: CREATED,
        }],
        next_version: 0,
        attachment_count: 0,
        boundary_usage_count: 0,
        tags: Vec::new(),
    }
}

/// The AWS-managed policy with this ARN, if airlock serves it.
pub fn get(arn: &str) -> Option<ManagedPolicy> {
    BUILTINS
        .iter()
        .find(|b| format!("arn:aws:iam::aws:policy{}{}", b.path, b.name) == arn)
        .map(to_policy)
}

/// Every AWS-managed policy airlock serves.
pub fn all() -> Vec<ManagedPolicy> {
    BUILTINS.iter().map(to_policy).collect()
}

/// The ARN of `AdministratorAccess`.
pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
