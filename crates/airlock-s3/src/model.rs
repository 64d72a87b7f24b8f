//! The stored records: buckets with their configuration, object versions, multipart uploads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use airlock_policy::setup::PublicAccessBlock;

use crate::checksum::{Checksum, ChecksumAlgorithm};

/// A tag (`Key`, `Value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Versioning {
    /// Never enabled: every key has one version, `null`.
    #[default]
    Unversioned,
    /// `Enabled`: every write makes a new version.
    Enabled,
    /// `Suspended`: new writes replace the `null` version; older versions stay.
    Suspended,
}

/// Object ownership (`x-amz-object-ownership`, `OwnershipControls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs disabled; the bucket owner owns every object (the default for new buckets).
    BucketOwnerEnforced,
    /// ACLs enabled; objects written with `bucket-owner-full-control` belong to the bucket owner.
    BucketOwnerPreferred,
    /// ACLs enabled; the writing account owns the object.
    ObjectWriter,
}

impl ObjectOwnership {
    /// The name S3 uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    /// Parses S3's name.
    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        match s {
            "BucketOwnerEnforced" => Some(ObjectOwnership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(ObjectOwnership::BucketOwnerPreferred),
            "ObjectWriter" => Some(ObjectOwnership::ObjectWriter),
            _ => None,
        }
    }
}

/// Server-side encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseAlgorithm {
    /// SSE-S3: keys S3 manages.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS: data keys from a KMS key.
    #[serde(rename = "aws:kms")]
    AwsKms,
}

impl SseAlgorithm {
    /// The header / XML value.
    pub fn as_str(self) -> &'static str {
        match self {
            SseAlgorithm::Aes256 => "AES256",
            SseAlgorithm::AwsKms => "aws:kms",
        }
    }
}

/// The default-encryption rule of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRule {
    /// `SSEAlgorithm`.
    pub algorithm: SseAlgorithm,
    /// `KMSMasterKeyID` as given (key id, key ARN, alias name or alias ARN).
    pub kms_key_id: Option<String>,
    /// `BucketKeyEnabled`.
    pub bucket_key_enabled: bool,
}

impl EncryptionRule {
    /// S3's default for every bucket since January 2023: SSE-S3.
    pub fn default_sse_s3() -> EncryptionRule {
        EncryptionRule {
            algorithm: SseAlgorithm::Aes256,
            kms_key_id: None,
            bucket_key_enabled: false,
        }
    }
}

/// A bucket and its configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Name.
    pub name: String,
    /// The owning account.
    pub owner: String,
    /// Region.
    pub region: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// Versioning state.
    #[serde(default)]
    pub versioning: Versioning,
    /// Bucket policy document, as given.
    #[serde(default)]
    pub policy: Option<String>,
    /// Bucket-level Block Public Access.
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Default encryption (`None`: S3's default, SSE-S3).
    #[serde(default)]
    pub encryption: Option<EncryptionRule>,
    /// Ownership controls.
    #[serde(default)]
    pub ownership: Option<ObjectOwnership>,
    /// Bucket tags.
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// Incremented by every change, so caches keep the newest record.
    #[serde(default)]
    pub generation: u64,
}

impl BucketRecord {
    /// The effective ownership setting (no controls behave as `ObjectWriter`).
    pub fn object_ownership(&self) -> ObjectOwnership {
        self.ownership.unwrap_or(ObjectOwnership::ObjectWriter)
    }

    /// Whether ACLs are disabled.
    pub fn acls_disabled(&self) -> bool {
        self.object_ownership() == ObjectOwnership::BucketOwnerEnforced
    }

    /// The effective default-encryption rule.
    pub fn encryption_rule(&self) -> EncryptionRule {
        self.encryption
            .clone()
            .unwrap_or_else(EncryptionRule::default_sse_s3)
    }
}

/// Account-level S3 settings (`s3control` Block Public Access).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Account-level Block Public Access.
    pub public_access_block: Option<PublicAccessBlock>,
}

/// How an object's data key is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SseInfo {
    /// SSE-S3 or SSE-KMS.
    pub algorithm: SseAlgorithm,
    /// The KMS key ARN (SSE-KMS).
    #[serde(default)]
    pub kms_key_arn: Option<String>,
    /// Whether the data key is an S3 Bucket Key (encryption context = bucket ARN).
    #[serde(default)]
    pub bucket_key: bool,
    /// The wrapped data key: a KMS ciphertext blob, or the SSE-S3 sealed key (base64).
    pub wrapped_key: String,
    /// The KMS encryption context used (SSE-KMS).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// `x-amz-server-side-encryption-context` as the client sent it, if it did.
    #[serde(default)]
    pub context_header: Option<String>,
}

/// Where one segment's ciphertext lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Segment id (32 hex digits).
    pub id: String,
    /// Plaintext length.
    pub len: u64,
    /// Stored in the metadata store (small segments) rather than in a file.
    #[serde(default)]
    pub inline: bool,
    /// For multipart objects: the part number, ETag and checksum of this part.
    #[serde(default)]
    pub part: Option<PartInfo>,
}

/// Part information kept in a completed multipart object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Part number.
    pub number: u32,
    /// ETag (no quotes).
    pub etag: String,
    /// Checksum value (base64) of the part.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// System and user metadata of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `Content-Type`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    #[serde(default)]
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    #[serde(default)]
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    #[serde(default)]
    pub content_language: Option<String>,
    /// `Cache-Control`.
    #[serde(default)]
    pub cache_control: Option<String>,
    /// `Expires`, as given.
    #[serde(default)]
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`.
    #[serde(default)]
    pub website_redirect: Option<String>,
    /// `x-amz-storage-class` (`STANDARD` when absent).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// User metadata (`x-amz-meta-*`, names lower-cased).
    #[serde(default)]
    pub user: BTreeMap<String, String>,
}

/// One version of an object (or a delete marker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// Key.
    pub key: String,
    /// Version id (`null` for unversioned writes).
    pub version_id: String,
    /// Ordering of versions (newest highest).
    pub seq: u64,
    /// A delete marker rather than an object.
    #[serde(default)]
    pub delete_marker: bool,
    /// Last-modified time, Unix milliseconds.
    pub last_modified_ms: i64,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// ETag without quotes.
    #[serde(default)]
    pub etag: String,
    /// The owning account.
    pub owner: String,
    /// Metadata.
    #[serde(default)]
    pub meta: ObjectMeta,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Encryption (absent only for delete markers).
    #[serde(default)]
    pub sse: Option<SseInfo>,
    /// Checksum, if the object has one.
    #[serde(default)]
    pub checksum: Option<Checksum>,
    /// The data, in order.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Number of parts, for multipart objects.
    #[serde(default)]
    pub parts_count: Option<u32>,
}

impl ObjectVersion {
    /// The ETag as S3 sends it, in quotes.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Upload id.
    pub upload_id: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Initiation time, Unix milliseconds.
    pub initiated_ms: i64,
    /// The account that will own the object.
    pub owner: String,
    /// The initiator's ARN.
    pub initiator_arn: String,
    /// The initiator's id (user id / role session id).
    pub initiator_id: String,
    /// Metadata for the object.
    pub meta: ObjectMeta,
    /// Tags for the object.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Encryption of the object (the data key is made when the upload is created).
    pub sse: SseInfo,
    /// Checksum algorithm chosen at creation.
    #[serde(default)]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `FULL_OBJECT` rather than `COMPOSITE` checksum type.
    #[serde(default)]
    pub checksum_full_object: bool,
}

/// A multipart upload that was completed, kept for [`COMPLETED_RETENTION_MS`] so that a
/// retried `CompleteMultipartUpload` (an SDK retrying after a timeout) gets the same answer.
///
/// [`COMPLETED_RETENTION_MS`]: crate::multipart::COMPLETED_RETENTION_MS
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUpload {
    /// The principal (ARN) that completed it; only its retries get the result.
    pub caller: String,
    /// The parts it was completed with: number and ETag (without quotes).
    pub parts: Vec<(u32, String)>,
    /// Until when (Unix milliseconds) a retry is answered.
    pub expires_ms: i64,
    /// The version it made, without its data, metadata, tags or wrapped data key (what the
    /// answer needs: version id, ETag, checksum, encryption).
    pub version: ObjectVersion,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Part number, 1 to 10000.
    pub number: u32,
    /// Size.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Upload time, Unix milliseconds.
    pub last_modified_ms: i64,
    /// The data.
    pub segment: Segment,
    /// Checksum value (base64) in the upload's algorithm, if any.
    #[serde(default)]
    pub checksum: Option<String>,
    /// CRC state for full-object checksums of multipart uploads: the part's own CRC, combined
    /// at completion.
    #[serde(default)]
    pub crc: Option<u64>,
}
