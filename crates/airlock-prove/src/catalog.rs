//! The request space's vocabulary: the actions of the services a setup's resources belong to
//! (from the AWS Service Authorization Reference, "Actions defined by Amazon S3 / AWS KMS / AWS
//! STS"), grouped by the resource type they act on, and the condition keys AWS defines (global
//! keys and the service keys), with their value types.

/// What a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceType {
    /// An S3 bucket (`arn:aws:s3:::BUCKET`).
    Bucket,
    /// An S3 object (`arn:aws:s3:::BUCKET/KEY`).
    Object,
    /// A KMS key.
    Key,
    /// An IAM role, as the resource of `sts:AssumeRole` and its companions.
    Role,
}

/// S3 actions on objects.
pub const S3_OBJECT: &[&str] = &[
    "s3:AbortMultipartUpload",
    "s3:BypassGovernanceRetention",
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:GetObject",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectVersionTorrent",
    "s3:InitiateReplication",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectVersionTagging",
    "s3:ReplicateDelete",
    "s3:ReplicateObject",
    "s3:ReplicateTags",
    "s3:RestoreObject",
];

/// S3 actions on buckets.
pub const S3_BUCKET: &[&str] = &[
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:DeleteBucketOwnershipControls",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucketWebsite",
    "s3:GetAccelerateConfiguration",
    "s3:GetAnalyticsConfiguration",
    "s3:GetBucketAcl",
    "s3:GetBucketCORS",
    "s3:GetBucketLocation",
    "s3:GetBucketLogging",
    "s3:GetBucketNotification",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketRequestPayment",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetBucketWebsite",
    "s3:GetEncryptionConfiguration",
    "s3:GetIntelligentTieringConfiguration",
    "s3:GetInventoryConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetMetricsConfiguration",
    "s3:GetReplicationConfiguration",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:PutAccelerateConfiguration",
    "s3:PutAnalyticsConfiguration",
    "s3:PutBucketAcl",
    "s3:PutBucketCORS",
    "s3:PutBucketLogging",
    "s3:PutBucketNotification",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketRequestPayment",
    "s3:PutBucketTagging",
    "s3:PutBucketVersioning",
    "s3:PutBucketWebsite",
    "s3:PutEncryptionConfiguration",
    "s3:PutIntelligentTieringConfiguration",
    "s3:PutInventoryConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutMetricsConfiguration",
    "s3:PutReplicationConfiguration",
];

/// KMS actions on keys.
pub const KMS_KEY: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DeleteImportedKeyMaterial",
    "kms:DeriveSharedSecret",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:GetParametersForImport",
    "kms:GetPublicKey",
    "kms:ImportKeyMaterial",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:ReplicateKey",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:Sign",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
    "kms:Verify",
    "kms:VerifyMac",
];

/// STS actions whose resource is a role (decided by its trust policy).
pub const STS_ROLE: &[&str] = &[
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:SetContext",
    "sts:SetSourceIdentity",
    "sts:TagSession",
];

/// Other actions of the services, known for the unknown-action lint but outside the request space
/// of setup resources (they act on `*` or on resources a setup does not hold).
pub const OTHER_ACTIONS: &[&str] = &[
    "s3:ListAllMyBuckets",
    "s3:GetAccountPublicAccessBlock",
    "s3:PutAccountPublicAccessBlock",
    "s3:ListAccessPoints",
    "s3:CreateAccessPoint",
    "s3:GetAccessPoint",
    "s3:DeleteAccessPoint",
    "kms:CreateKey",
    "kms:ListKeys",
    "kms:ListAliases",
    "kms:GenerateRandom",
    "kms:ConnectCustomKeyStore",
    "kms:CreateCustomKeyStore",
    "kms:DescribeCustomKeyStores",
    "kms:ListRetirableGrants",
    "sts:GetCallerIdentity",
    "sts:GetSessionToken",
    "sts:GetFederationToken",
    "sts:DecodeAuthorizationMessage",
    "sts:GetAccessKeyInfo",
    "sts:GetServiceBearerToken",
];

/// The actions of one resource type.
pub fn actions_for(t: ResourceType) -> &'static [&'static str] {
    match t {
        ResourceType::Bucket => S3_BUCKET,
        ResourceType::Object => S3_OBJECT,
        ResourceType::Key => KMS_KEY,
        ResourceType::Role => STS_ROLE,
    }
}

/// Every catalogued action (for the unknown-action lint).
pub fn all_actions() -> impl Iterator<Item = &'static str> {
    S3_OBJECT
        .iter()
        .chain(S3_BUCKET)
        .chain(KMS_KEY)
        .chain(STS_ROLE)
        .chain(OTHER_ACTIONS)
        .copied()
}

/// The value type of a condition key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// String (also ARN, Bool and Binary keys, which the engine compares as text).
    Str,
    /// A multi-valued string key (`aws:TagKeys`, ...).
    StrList,
    /// Numeric.
    Num,
    /// Date.
    Date,
    /// IP address.
    Ip,
}

/// Global condition keys (IAM User Guide, "AWS global condition context keys").
pub const GLOBAL_KEYS: &[(&str, KeyType)] = &[
    ("aws:calledvia", KeyType::StrList),
    ("aws:calledviafirst", KeyType::Str),
    ("aws:calledvialast", KeyType::Str),
    ("aws:currenttime", KeyType::Date),
    ("aws:epochtime", KeyType::Date),
    ("aws:federatedprovider", KeyType::Str),
    ("aws:multifactorauthage", KeyType::Num),
    ("aws:multifactorauthpresent", KeyType::Str),
    ("aws:principalaccount", KeyType::Str),
    ("aws:principalarn", KeyType::Str),
    ("aws:principalisawsservice", KeyType::Str),
    ("aws:principalorgid", KeyType::Str),
    ("aws:principalorgpaths", KeyType::StrList),
    ("aws:principalservicename", KeyType::Str),
    ("aws:principalservicenameslist", KeyType::StrList),
    ("aws:principaltype", KeyType::Str),
    ("aws:referer", KeyType::Str),
    ("aws:requestedregion", KeyType::Str),
    ("aws:requesttag", KeyType::Str),
    ("aws:resourceaccount", KeyType::Str),
    ("aws:resourceorgid", KeyType::Str),
    ("aws:resourceorgpaths", KeyType::StrList),
    ("aws:resourcetag", KeyType::Str),
    ("aws:securetransport", KeyType::Str),
    ("aws:sourceaccount", KeyType::Str),
    ("aws:sourcearn", KeyType::Str),
    ("aws:sourceidentity", KeyType::Str),
    ("aws:sourceip", KeyType::Ip),
    ("aws:sourceorgid", KeyType::Str),
    ("aws:sourceorgpaths", KeyType::StrList),
    ("aws:sourceowner", KeyType::Str),
    ("aws:sourcevpc", KeyType::Str),
    ("aws:sourcevpce", KeyType::Str),
    ("aws:tagkeys", KeyType::StrList),
    ("aws:tokenissuetime", KeyType::Date),
    ("aws:useragent", KeyType::Str),
    ("aws:userid", KeyType::Str),
    ("aws:username", KeyType::Str),
    ("aws:viaawsservice", KeyType::Str),
    ("aws:vpcsourceip", KeyType::Ip),
    ("aws:vpceaccount", KeyType::Str),
    ("aws:vpceorgid", KeyType::Str),
    ("aws:vpceorgpaths", KeyType::StrList),
    ("aws:ec2instancesourcevpc", KeyType::Str),
    ("aws:ec2instancesourceprivateipv4", KeyType::Ip),
    ("aws:sourceidentity", KeyType::Str),
    ("aws:isMcpServiceAction", KeyType::Str),
];

/// Service condition keys of S3, KMS and STS (Service Authorization Reference).
pub const SERVICE_KEYS: &[(&str, KeyType)] = &[
    ("s3:accesspointnetworkorigin", KeyType::Str),
    ("s3:authtype", KeyType::Str),
    ("s3:delimiter", KeyType::Str),
    ("s3:dataaccesspointaccount", KeyType::Str),
    ("s3:dataaccesspointarn", KeyType::Str),
    ("s3:existingobjecttag", KeyType::Str),
    ("s3:locationconstraint", KeyType::Str),
    ("s3:max-keys", KeyType::Num),
    ("s3:objectcreationoperation", KeyType::Str),
    ("s3:object-lock-legal-hold", KeyType::Str),
    ("s3:object-lock-mode", KeyType::Str),
    ("s3:object-lock-remaining-retention-days", KeyType::Num),
    ("s3:object-lock-retain-until-date", KeyType::Date),
    ("s3:prefix", KeyType::Str),
    ("s3:requestobjecttag", KeyType::Str),
    ("s3:requestobjecttagkeys", KeyType::StrList),
    ("s3:resourceaccount", KeyType::Str),
    ("s3:signatureage", KeyType::Num),
    ("s3:signatureversion", KeyType::Str),
    ("s3:tlsversion", KeyType::Num),
    ("s3:versionid", KeyType::Str),
    ("s3:x-amz-acl", KeyType::Str),
    ("s3:x-amz-content-sha256", KeyType::Str),
    ("s3:x-amz-copy-source", KeyType::Str),
    ("s3:x-amz-grant-full-control", KeyType::Str),
    ("s3:x-amz-grant-read", KeyType::Str),
    ("s3:x-amz-grant-read-acp", KeyType::Str),
    ("s3:x-amz-grant-write", KeyType::Str),
    ("s3:x-amz-grant-write-acp", KeyType::Str),
    ("s3:x-amz-metadata-directive", KeyType::Str),
    ("s3:x-amz-object-ownership", KeyType::Str),
    ("s3:x-amz-server-side-encryption", KeyType::Str),
    (
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        KeyType::Str,
    ),
    (
        "s3:x-amz-server-side-encryption-customer-algorithm",
        KeyType::Str,
    ),
    ("s3:x-amz-storage-class", KeyType::Str),
    ("s3:x-amz-website-redirect-location", KeyType::Str),
    ("kms:calleraccount", KeyType::Str),
    ("kms:encryptionalgorithm", KeyType::Str),
    ("kms:encryptioncontext", KeyType::Str),
    ("kms:encryptioncontextkeys", KeyType::StrList),
    ("kms:grantconstrainttype", KeyType::Str),
    ("kms:grantisforawsresource", KeyType::Str),
    ("kms:grantoperations", KeyType::StrList),
    ("kms:granteeprincipal", KeyType::Str),
    ("kms:keyorigin", KeyType::Str),
    ("kms:keyspec", KeyType::Str),
    ("kms:keyusage", KeyType::Str),
    ("kms:macalgorithm", KeyType::Str),
    ("kms:messagetype", KeyType::Str),
    ("kms:multiregion", KeyType::Str),
    ("kms:multiregionkeytype", KeyType::Str),
    ("kms:primaryregion", KeyType::Str),
    ("kms:reencryptondestination", KeyType::Str),
    ("kms:replicaregion", KeyType::Str),
    ("kms:requestalias", KeyType::Str),
    ("kms:resourcealiases", KeyType::StrList),
    ("kms:retiringprincipal", KeyType::Str),
    ("kms:rotationperiodindays", KeyType::Num),
    ("kms:schedulekeydeletionpendingwindowindays", KeyType::Num),
    ("kms:signingalgorithm", KeyType::Str),
    ("kms:validto", KeyType::Date),
    ("kms:viaservice", KeyType::Str),
    ("kms:wrappingalgorithm", KeyType::Str),
    ("kms:wrappingkeyspec", KeyType::Str),
    ("sts:externalid", KeyType::Str),
    ("sts:rolesessionname", KeyType::Str),
    ("sts:sourceidentity", KeyType::Str),
    ("sts:transitivetagkeys", KeyType::StrList),
    ("sts:tagsession", KeyType::Str),
    ("sts:awsservicename", KeyType::StrList),
    ("sts:duration", KeyType::Num),
    ("sts:rolesessionname", KeyType::Str),
];

/// Prefixes of keys that carry a tag or context name after a slash or colon.
const PREFIX_KEYS: &[(&str, KeyType)] = &[
    ("aws:principaltag/", KeyType::Str),
    ("aws:requesttag/", KeyType::Str),
    ("aws:resourcetag/", KeyType::Str),
    ("s3:existingobjecttag/", KeyType::Str),
    ("s3:requestobjecttag/", KeyType::Str),
    ("kms:encryptioncontext:", KeyType::Str),
    ("ec2:resourcetag/", KeyType::Str),
];

/// The type of a known condition key (lower-cased), or `None` for a key AWS does not define.
pub fn key_type(lower: &str) -> Option<KeyType> {
    GLOBAL_KEYS
        .iter()
        .chain(SERVICE_KEYS)
        .find(|(k, _)| k.eq_ignore_ascii_case(lower))
        .map(|(_, t)| *t)
        .or_else(|| {
            PREFIX_KEYS
                .iter()
                .find(|(p, _)| lower.starts_with(p))
                .map(|(_, t)| *t)
        })
}

/// Whether a key is a service key (`s3:`, `kms:`, `sts:`): present only on that service's actions.
pub fn key_service(lower: &str) -> Option<&str> {
    let (svc, _) = lower.split_once(':')?;
    (svc != "aws").then_some(svc)
}
