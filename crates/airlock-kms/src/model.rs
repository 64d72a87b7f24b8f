//! KMS entities: what is stored, and what the API returns. Times are Unix milliseconds (UTC).

use serde::{Deserialize, Serialize};

/// The time source. The server uses [`SystemClock`]; tests drive a [`ManualClock`] through
/// deletion windows and rotation periods.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock standing at `millis`.
    pub fn new(millis: i64) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(millis))
    }

    /// Moves the clock forward.
    pub fn advance_millis(&self, millis: i64) {
        self.0
            .fetch_add(millis, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the clock forward by whole days.
    pub fn advance_days(&self, days: i64) {
        self.advance_millis(days * DAY_MS);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable for cryptographic operations.
    Enabled,
    /// Not usable until enabled again.
    Disabled,
    /// Scheduled for deletion; unusable, and deleted when the window ends.
    PendingDeletion,
}

impl KeyState {
    /// The AWS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// A tag on a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// `TagKey`.
    pub key: String,
    /// `TagValue`.
    pub value: String,
}

/// How a key-material version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationType {
    /// Automatic rotation (`EnableKeyRotation`).
    #[serde(rename = "AUTOMATIC")]
    Automatic,
    /// `RotateKeyOnDemand`.
    #[serde(rename = "ON_DEMAND")]
    OnDemand,
}

impl RotationType {
    /// The AWS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Automatic => "AUTOMATIC",
            RotationType::OnDemand => "ON_DEMAND",
        }
    }
}

/// One version of a key's material, sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SealedMaterial {
    /// 1 for the original material, +1 per rotation.
    pub version: u32,
    /// When it was created.
    pub created: i64,
    /// `None` for the original material.
    pub rotation: Option<RotationType>,
    /// `nonce || AES-256-GCM(material) || tag` under the master key, base64.
    pub sealed: String,
}

/// A key as stored (table `kms.keys`, keyed by key id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub key_id: String,
    pub account: String,
    pub region: String,
    pub creation_date: i64,
    pub description: String,
    pub state: KeyState,
    pub deletion_date: Option<i64>,
    pub pending_window_days: Option<u32>,
    /// The key policy document, exactly as given.
    pub policy: String,
    pub tags: Vec<Tag>,
    pub rotation_enabled: bool,
    pub rotation_period_days: Option<u32>,
    pub next_rotation_date: Option<i64>,
    pub on_demand_rotations: u32,
    pub materials: Vec<SealedMaterial>,
}

/// An alias as stored (table `kms.aliases`, keyed by `ACCOUNT/REGION/alias/NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AliasRecord {
    pub account: String,
    pub region: String,
    pub alias_name: String,
    pub target_key_id: String,
    pub creation_date: i64,
    pub last_updated_date: i64,
}

/// `KeyMetadata`, as `CreateKey` and `DescribeKey` return it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMetadata {
    /// `AWSAccountId`.
    pub account: String,
    /// `KeyId`.
    pub key_id: String,
    /// `Arn`.
    pub arn: String,
    /// `CreationDate`.
    pub creation_date: i64,
    /// `Enabled`: true only in the `Enabled` state.
    pub enabled: bool,
    /// `Description`.
    pub description: String,
    /// `KeyState`.
    pub key_state: KeyState,
    /// `DeletionDate`, for keys pending deletion.
    pub deletion_date: Option<i64>,
    /// `KeyUsage`: always `ENCRYPT_DECRYPT`.
    pub key_usage: &'static str,
    /// `KeySpec` (and `CustomerMasterKeySpec`): always `SYMMETRIC_DEFAULT`.
    pub key_spec: &'static str,
    /// `Origin`: always `AWS_KMS`.
    pub origin: &'static str,
    /// `KeyManager`: always `CUSTOMER`.
    pub key_manager: &'static str,
    /// `EncryptionAlgorithms`.
    pub encryption_algorithms: &'static [&'static str],
}

/// One entry of `ListKeys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListEntry {
    /// `KeyId`.
    pub key_id: String,
    /// `KeyArn`.
    pub key_arn: String,
}

/// One entry of `ListAliases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasListEntry {
    /// `AliasName`.
    pub alias_name: String,
    /// `AliasArn`.
    pub alias_arn: String,
    /// `TargetKeyId`.
    pub target_key_id: String,
    /// `CreationDate`.
    pub creation_date: i64,
    /// `LastUpdatedDate`.
    pub last_updated_date: i64,
}

/// `GetKeyRotationStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationStatus {
    /// `KeyId` (the key ARN).
    pub key_arn: String,
    /// `KeyRotationEnabled`.
    pub enabled: bool,
    /// `RotationPeriodInDays`, when rotation is enabled.
    pub period_days: Option<u32>,
    /// `NextRotationDate`, when rotation is enabled.
    pub next_rotation_date: Option<i64>,
}

/// One entry of `ListKeyRotations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// `KeyId`.
    pub key_id: String,
    /// `RotationDate`.
    pub rotation_date: i64,
    /// `RotationType`.
    pub rotation_type: RotationType,
}

/// `ScheduleKeyDeletion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledDeletion {
    /// `KeyId` (the key ARN).
    pub key_arn: String,
    /// `DeletionDate`.
    pub deletion_date: i64,
    /// `PendingWindowInDays`.
    pub pending_window_days: u32,
}

/// A page of a list operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// `NextMarker`, when `Truncated`.
    pub next_marker: Option<String>,
}

/// What [`crate::Kms::run_maintenance`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Keys whose deletion window ended and that are now deleted.
    pub deleted_keys: Vec<String>,
    /// Keys rotated automatically.
    pub rotated_keys: Vec<String>,
}
