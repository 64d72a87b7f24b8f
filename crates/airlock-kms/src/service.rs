//! The KMS service: every operation, with AWS's validation, key-state rules and authorization.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use airlock_policy::{ContextValue, NamedPolicy};
use airlock_store::{Store, StoreExt, WriteExt};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::KmsError;
use crate::authz::{self, Caller, ContextBuilder, KeyRefs, Target, parse_key_policy};
use crate::crypto::{
    AeadKey, BLOB_OVERHEAD, BlobHeader, EncryptionContext, KEY_LEN, NONCE_LEN, fill_random,
    open_blob, random_nonce, seal_blob,
};
use crate::error::OpenError;
use crate::ids::{KeyId, KeyIdentifier, KeyRef, alias_arn, key_arn};
use crate::master::{MasterKey, MasterKeyError};
use crate::model::{
    AliasListEntry, AliasRecord, Clock, DAY_MS, KeyListEntry, KeyMetadata, KeyRecord, KeyRotation,
    KeyState, Maintenance, Page, RotationStatus, RotationType, ScheduledDeletion, SealedMaterial,
    Tag,
};

const KEYS: &str = "kms.keys";
const ALIASES: &str = "kms.aliases";
const META: &str = "kms.meta";
const MASTER_CHECK: &str = "master-check";

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
const AWS_KMS: &str = "AWS_KMS";
const ALGORITHMS: &[&str] = &[SYMMETRIC_DEFAULT];

/// The largest plaintext `Encrypt` accepts.
pub const MAX_PLAINTEXT: usize = 4096;
/// The largest ciphertext blob `Decrypt` accepts.
pub const MAX_CIPHERTEXT: usize = 6144;
const MAX_POLICY: usize = 32768;
const MAX_TAGS: usize = 50;
const MAX_ON_DEMAND_ROTATIONS: u32 = 10;
const DEFAULT_ROTATION_DAYS: u32 = 365;

/// `CreateKey` parameters. Enumerations are the strings AWS accepts, validated here.
#[derive(Debug, Clone, Default)]
pub struct CreateKeyInput {
    /// `Policy`; the default key policy when absent.
    pub policy: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `KeyUsage` (`ENCRYPT_DECRYPT`).
    pub key_usage: Option<String>,
    /// `KeySpec` (`SYMMETRIC_DEFAULT`).
    pub key_spec: Option<String>,
    /// `CustomerMasterKeySpec` (deprecated synonym of `KeySpec`).
    pub customer_master_key_spec: Option<String>,
    /// `Origin` (`AWS_KMS`).
    pub origin: Option<String>,
    /// `MultiRegion`.
    pub multi_region: Option<bool>,
    /// `BypassPolicyLockoutSafetyCheck`.
    pub bypass_policy_lockout_safety_check: bool,
    /// `Tags`.
    pub tags: Vec<Tag>,
}

/// `Encrypt` parameters.
#[derive(Debug, Clone, Default)]
pub struct EncryptInput {
    /// `KeyId`: key id, key ARN, alias name or alias ARN.
    pub key_id: String,
    /// `Plaintext` (1 to 4096 bytes).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// `EncryptionContext`.
    pub encryption_context: EncryptionContext,
    /// `EncryptionAlgorithm` (`SYMMETRIC_DEFAULT`).
    pub encryption_algorithm: Option<String>,
}

/// `Encrypt` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptOutput {
    /// `CiphertextBlob`.
    pub ciphertext_blob: Vec<u8>,
    /// `KeyId`: the key ARN.
    pub key_arn: String,
}

/// `Decrypt` parameters.
#[derive(Debug, Clone, Default)]
pub struct DecryptInput {
    /// `CiphertextBlob`.
    pub ciphertext_blob: Vec<u8>,
    /// `EncryptionContext`: must be the one given at encryption.
    pub encryption_context: EncryptionContext,
    /// `KeyId`: if given, must identify the key that encrypted the blob.
    pub key_id: Option<String>,
    /// `EncryptionAlgorithm` (`SYMMETRIC_DEFAULT`).
    pub encryption_algorithm: Option<String>,
}

/// `Decrypt` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptOutput {
    /// `Plaintext`.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// `KeyId`: the key ARN.
    pub key_arn: String,
}

/// `GenerateDataKey` / `GenerateDataKeyWithoutPlaintext` parameters.
#[derive(Debug, Clone, Default)]
pub struct GenerateDataKeyInput {
    /// `KeyId`.
    pub key_id: String,
    /// `EncryptionContext`.
    pub encryption_context: EncryptionContext,
    /// `KeySpec`: `AES_256` or `AES_128`.
    pub key_spec: Option<String>,
    /// `NumberOfBytes`: 1 to 1024.
    pub number_of_bytes: Option<i64>,
}

/// `GenerateDataKey` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateDataKeyOutput {
    /// `CiphertextBlob`: the data key encrypted under the KMS key.
    pub ciphertext_blob: Vec<u8>,
    /// `Plaintext`: the data key (absent for `GenerateDataKeyWithoutPlaintext`).
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    /// `KeyId`: the key ARN.
    pub key_arn: String,
}

/// `ReEncrypt` parameters.
#[derive(Debug, Clone, Default)]
pub struct ReEncryptInput {
    /// `CiphertextBlob`.
    pub ciphertext_blob: Vec<u8>,
    /// `SourceEncryptionContext`.
    pub source_encryption_context: EncryptionContext,
    /// `SourceKeyId`.
    pub source_key_id: Option<String>,
    /// `DestinationKeyId`.
    pub destination_key_id: String,
    /// `DestinationEncryptionContext`.
    pub destination_encryption_context: EncryptionContext,
    /// `SourceEncryptionAlgorithm`.
    pub source_encryption_algorithm: Option<String>,
    /// `DestinationEncryptionAlgorithm`.
    pub destination_encryption_algorithm: Option<String>,
}

/// `ReEncrypt` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReEncryptOutput {
    /// `CiphertextBlob`.
    pub ciphertext_blob: Vec<u8>,
    /// `SourceKeyId`: the source key ARN.
    pub source_key_arn: String,
    /// `KeyId`: the destination key ARN.
    pub key_arn: String,
}

/// A key as held in memory: the stored record, the parsed policy, the opened material.
struct KeyEntry {
    id: KeyId,
    arn: String,
    record: KeyRecord,
    policy: NamedPolicy,
    /// Material version `v` is `materials[v - 1]`.
    materials: Arc<Vec<AeadKey>>,
    /// Context keys that describe the key: `kms:ResourceAliases`, `aws:ResourceTag/*`,
    /// `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin`, `kms:MultiRegion`.
    resource_context: Vec<(String, ContextValue)>,
    /// The condition keys the key policy may look up.
    policy_refs: KeyRefs,
}

impl KeyEntry {
    fn metadata(&self) -> KeyMetadata {
        let r = &self.record;
        KeyMetadata {
            account: r.account.clone(),
            key_id: r.key_id.clone(),
            arn: self.arn.clone(),
            creation_date: r.creation_date,
            enabled: r.state == KeyState::Enabled,
            description: r.description.clone(),
            key_state: r.state,
            deletion_date: r.deletion_date,
            key_usage: ENCRYPT_DECRYPT,
            key_spec: SYMMETRIC_DEFAULT,
            origin: AWS_KMS,
            key_manager: "CUSTOMER",
            encryption_algorithms: ALGORITHMS,
        }
    }

    fn gone(&self, now: i64) -> bool {
        self.record.state == KeyState::PendingDeletion
            && self.record.deletion_date.is_some_and(|d| d <= now)
    }

    fn current_version(&self) -> u32 {
        // Records always hold at least the original material (checked at load).
        u32::try_from(self.materials.len()).unwrap_or(u32::MAX)
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<KeyId, Arc<KeyEntry>>,
    /// `(account, alias name)` → alias.
    aliases: BTreeMap<(String, String), AliasRecord>,
}

impl State {
    fn aliases_of(&self, key_id: &str) -> Vec<String> {
        self.aliases
            .values()
            .filter(|a| a.target_key_id == key_id)
            .map(|a| a.alias_name.clone())
            .collect()
    }
}

/// What a key operation requires of the key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Cryptographic use: `Enabled`.
    Usable,
    /// Anything but `PendingDeletion`.
    NotPendingDeletion,
    /// Any state.
    Any,
}

/// A resolved key reference.
struct Resolved {
    entry: Arc<KeyEntry>,
    request_alias: Option<String>,
}

/// The KMS service of one region, over a [`Store`].
///
/// Reads (every cryptographic operation) are served from memory; every change is one durable
/// store transaction, applied in memory only after it committed. A method that returns `Err`
/// changed nothing.
pub struct Kms {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    region: String,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    writer: Mutex<()>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("region", &self.region)
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn validation(msg: impl Into<String>) -> KmsError {
    KmsError::Validation(msg.into())
}

fn length_error(field: &str, max: usize, len: usize) -> KmsError {
    if len == 0 {
        validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
        ))
    } else {
        validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length less than or equal to {max}"
        ))
    }
}

fn enum_error(value: &str, field: &str, allowed: &[&str]) -> KmsError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: \
         Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    ))
}

fn range_error(value: i64, field: &str, min: i64, max: i64) -> Option<KmsError> {
    let (rel, bound) = if value < min {
        ("greater", min)
    } else if value > max {
        ("less", max)
    } else {
        return None;
    };
    Some(validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: \
         Member must have value {rel} than or equal to {bound}"
    )))
}

fn check_algorithm(alg: Option<&str>, field: &str) -> Result<(), KmsError> {
    const ALL: &[&str] = &[
        SYMMETRIC_DEFAULT,
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "SM2PKE",
    ];
    match alg {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(a) if ALL.contains(&a) => Err(KmsError::InvalidKeyUsage(format!(
            "The encryption algorithm {a} is not supported by symmetric encryption KMS keys; \
             use SYMMETRIC_DEFAULT"
        ))),
        Some(a) => Err(enum_error(a, field, ALL)),
    }
}

fn validate_tags(tags: &[Tag]) -> Result<(), KmsError> {
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(KmsError::Tag(format!(
                "Tag key '{}' must be 1 to 128 characters long",
                t.key
            )));
        }
        if t.value.chars().count() > 256 {
            return Err(KmsError::Tag(format!(
                "Tag value for key '{}' must be at most 256 characters long",
                t.key
            )));
        }
        if t.key.len() >= 4 && t.key[..4].eq_ignore_ascii_case("aws:") {
            return Err(KmsError::Tag(format!(
                "Tag key '{}' uses the reserved prefix aws:",
                t.key
            )));
        }
    }
    Ok(())
}

fn validate_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with("alias/") {
        return Err(validation(
            "Alias must start with the prefix \"alias/\". Please see \
             https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    }
    if name.len() > 256 {
        return Err(length_error("aliasName", 256, name.len()));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::NotAuthorized(format!(
            "{name} is reserved for AWS managed keys: alias names cannot begin with alias/aws/"
        )));
    }
    let rest = &name["alias/".len()..];
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(KmsError::InvalidAliasName(format!(
            "Alias name {name} is not valid: after alias/ it must have 1 or more of the \
             characters a-z, A-Z, 0-9, /, _ and -"
        )));
    }
    Ok(())
}

fn tags_context(ctx: &mut ContextBuilder<'_>, tags: &[Tag]) {
    if ctx.wants_prefix("aws:requesttag/") {
        for t in tags {
            ctx.put(&format!("aws:RequestTag/{}", t.key), || {
                ContextValue::Single(t.value.clone())
            });
        }
    }
    if !tags.is_empty() {
        ctx.put("aws:TagKeys", || {
            ContextValue::Multi(tags.iter().map(|t| t.key.clone()).collect())
        });
    }
}

impl Kms {
    /// Opens the KMS service of `region` over `store`, loading every key and unsealing its
    /// material with `master`.
    ///
    /// On the first start the store records a check value of the master key; later starts
    /// refuse a different master key with [`MasterKeyError::Mismatch`] (and change nothing).
    pub fn open(
        store: Arc<dyn Store>,
        master: impl Into<Arc<MasterKey>>,
        region: impl Into<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Kms, OpenError> {
        let region = region.into();
        let master = master.into();
        Kms::check_master_key(&*store, &master)?;
        let kms = Kms {
            store,
            master,
            region,
            clock,
            state: RwLock::new(State::default()),
            writer: Mutex::new(()),
        };
        kms.load()?;
        Ok(kms)
    }

    /// Checks that `master` is the master key of the data in `store`, before anything is sealed
    /// under it: a store without a check value (first start) records the key's, a store with
    /// another key's check value is refused with [`MasterKeyError::Mismatch`] (nothing changed).
    /// [`Kms::open`] does the same; a component that seals its secrets under the master key
    /// before KMS opens (IAM's upgrade of an old data directory) calls this first.
    pub fn check_master_key(store: &dyn Store, master: &MasterKey) -> Result<(), OpenError> {
        let check = store.read()?.get(META, MASTER_CHECK)?;
        match check {
            Some(check) if master.verify_check_value(&check) => Ok(()),
            Some(_) => Err(MasterKeyError::Mismatch {
                origin: master.source().to_string(),
            }
            .into()),
            None => {
                let mut txn = store.write()?;
                txn.put(META, MASTER_CHECK, &master.check_value())?;
                txn.commit()?;
                Ok(())
            }
        }
    }

    /// The KMS service of another region over the same store, master key and clock. Each
    /// region's keys and aliases are separate, as in AWS.
    pub fn open_region(&self, region: impl Into<String>) -> Result<Kms, OpenError> {
        let kms = Kms {
            store: self.store.clone(),
            master: self.master.clone(),
            region: region.into(),
            clock: self.clock.clone(),
            state: RwLock::new(State::default()),
            writer: Mutex::new(()),
        };
        kms.load()?;
        Ok(kms)
    }

    fn load(&self) -> Result<(), OpenError> {
        let read = self.store.read()?;
        let records: Vec<KeyRecord> = read.scan_json(KEYS, "")?;
        let aliases: Vec<AliasRecord> = read.scan_json(ALIASES, "")?;
        drop(read);
        let records = records.into_iter().filter(|r| r.region == self.region);
        let aliases = aliases.into_iter().filter(|a| a.region == self.region);
        let mut state = State::default();
        for a in aliases {
            state
                .aliases
                .insert((a.account.clone(), a.alias_name.clone()), a);
        }
        for r in records {
            let names = state.aliases_of(&r.key_id);
            let entry = self
                .build_entry(r, names, None)
                .map_err(|e| OpenError::Corrupt(e.to_string()))?;
            state.keys.insert(entry.id, Arc::new(entry));
        }
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
        Ok(())
    }

    /// The region this service serves.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Builds the in-memory form of a record. `materials` reuses already opened material when
    /// the record's material did not change.
    fn build_entry(
        &self,
        record: KeyRecord,
        aliases: Vec<String>,
        materials: Option<Arc<Vec<AeadKey>>>,
    ) -> Result<KeyEntry, KmsError> {
        let id = KeyId::parse(&record.key_id)
            .ok_or_else(|| KmsError::Internal(format!("bad key id {}", record.key_id)))?;
        let arn = key_arn(&record.region, &record.account, &id);
        let materials = match materials {
            Some(m) if m.len() == record.materials.len() => m,
            _ => {
                let mut opened = Vec::with_capacity(record.materials.len());
                for (i, m) in record.materials.iter().enumerate() {
                    let sealed = STANDARD.decode(&m.sealed).map_err(|e| {
                        KmsError::Internal(format!("{arn}: sealed material is not base64: {e}"))
                    })?;
                    let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    let plain = (m.version == expected)
                        .then(|| self.master.open_material(&id, m.version, &sealed))
                        .flatten()
                        .ok_or_else(|| {
                            KmsError::Internal(format!(
                                "{arn}: key material version {} does not open under the master key",
                                m.version
                            ))
                        })?;
                    opened.push(AeadKey::new(&plain).ok_or_else(|| {
                        KmsError::Internal(format!("{arn}: key material has the wrong length"))
                    })?);
                }
                if opened.is_empty() {
                    return Err(KmsError::Internal(format!("{arn}: no key material")));
                }
                Arc::new(opened)
            }
        };
        let policy = parse_key_policy(&record.policy, &arn)?;
        let policy_refs = KeyRefs::of(&policy.policy);
        let mut resource_context = vec![
            (
                "kms:KeySpec".to_string(),
                ContextValue::Single(SYMMETRIC_DEFAULT.into()),
            ),
            (
                "kms:KeyUsage".to_string(),
                ContextValue::Single(ENCRYPT_DECRYPT.into()),
            ),
            (
                "kms:KeyOrigin".to_string(),
                ContextValue::Single(AWS_KMS.into()),
            ),
            (
                "kms:MultiRegion".to_string(),
                ContextValue::Single("false".into()),
            ),
        ];
        if !aliases.is_empty() {
            resource_context.push(("kms:ResourceAliases".into(), ContextValue::Multi(aliases)));
        }
        for t in &record.tags {
            resource_context.push((
                format!("aws:ResourceTag/{}", t.key),
                ContextValue::Single(t.value.clone()),
            ));
        }
        Ok(KeyEntry {
            id,
            arn,
            record,
            policy,
            materials,
            resource_context,
            policy_refs,
        })
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn caller_account<'c>(&self, caller: &'c Caller) -> Result<&'c str, KmsError> {
        caller.account().ok_or_else(|| KmsError::AccessDenied {
            message: format!(
                "User: {} is not authorized to use KMS: KMS requires signed requests of an AWS account principal",
                caller.arn()
            ),
            action: "kms:*".into(),
            resource: "*".into(),
            evaluation: None,
        })
    }

    fn not_found_key(&self, region: &str, account: &str, id: &KeyId) -> KmsError {
        KmsError::NotFound(format!(
            "Key '{}' does not exist",
            key_arn(region, account, id)
        ))
    }

    /// Resolves a `KeyId` parameter. `cross_account` says whether the operation may use a key
    /// of another account (named by key ARN or alias ARN).
    fn resolve(
        &self,
        caller: &Caller,
        ident: &str,
        cross_account: bool,
    ) -> Result<Resolved, KmsError> {
        let caller_account = self.caller_account(caller)?;
        let parsed = KeyRef::parse(ident)
            .ok_or_else(|| KmsError::NotFound(format!("Invalid keyId {ident}")))?;
        let now = self.now();
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let (id, account, region, request_alias) = match parsed {
            KeyRef::KeyId(id) => (id, caller_account, self.region.as_str(), None),
            KeyRef::KeyArn {
                region,
                account,
                key_id,
            } => (key_id, account, region, None),
            KeyRef::AliasName(_) | KeyRef::AliasArn { .. } => {
                let (account, region, name) = match parsed {
                    KeyRef::AliasArn {
                        region,
                        account,
                        alias_name,
                    } => (account, region, alias_name),
                    _ => (caller_account, self.region.as_str(), ident),
                };
                let not_found = || {
                    KmsError::NotFound(format!(
                        "Alias {} is not found.",
                        alias_arn(region, account, name)
                    ))
                };
                if region != self.region || (!cross_account && account != caller_account) {
                    return Err(not_found());
                }
                let alias = state
                    .aliases
                    .get(&(account.to_string(), name.to_string()))
                    .ok_or_else(not_found)?;
                let id = KeyId::parse(&alias.target_key_id).ok_or_else(not_found)?;
                (id, account, region, Some(name.to_string()))
            }
        };
        if region != self.region || (!cross_account && account != caller_account) {
            return Err(self.not_found_key(region, account, &id));
        }
        match state.keys.get(&id) {
            Some(e) if e.record.account == account && !e.gone(now) => Ok(Resolved {
                entry: e.clone(),
                request_alias,
            }),
            _ => Err(self.not_found_key(region, account, &id)),
        }
    }

    /// The request context for an action on a key.
    fn key_context<'a>(
        &self,
        caller: &'a Caller,
        resolved: &'a Resolved,
        ec: Option<&EncryptionContext>,
    ) -> ContextBuilder<'a> {
        let mut ctx = ContextBuilder::new(caller, Some(&resolved.entry.policy_refs));
        for (k, v) in &resolved.entry.resource_context {
            ctx.put(k, || v.clone());
        }
        if let Some(alias) = &resolved.request_alias {
            ctx.put("kms:RequestAlias", || ContextValue::Single(alias.clone()));
        }
        if let Some(ec) = ec {
            ctx.encryption_context(ec);
        }
        ctx
    }

    fn authorize_key(
        &self,
        caller: &Caller,
        action: &str,
        resolved: &Resolved,
        ctx: ContextBuilder<'_>,
    ) -> Result<(), KmsError> {
        let ctx = ctx.build();
        let e = &resolved.entry;
        authz::authorize(
            caller,
            action,
            &Target {
                arn: &e.arn,
                account: &e.record.account,
                key_policy: Some(&e.policy),
            },
            ctx,
        )
    }

    fn authorize_account(
        &self,
        caller: &Caller,
        action: &str,
        resource_arn: &str,
        ctx: ContextBuilder<'_>,
    ) -> Result<(), KmsError> {
        let ctx = ctx.build();
        let account = self.caller_account(caller)?;
        authz::authorize(
            caller,
            action,
            &Target {
                arn: resource_arn,
                account,
                key_policy: None,
            },
            ctx,
        )
    }

    fn check_state(entry: &KeyEntry, need: Need) -> Result<(), KmsError> {
        match (need, entry.record.state) {
            (Need::Any, _) | (_, KeyState::Enabled) => Ok(()),
            (_, KeyState::PendingDeletion) => Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                entry.arn
            ))),
            (Need::Usable, KeyState::Disabled) => {
                Err(KmsError::Disabled(format!("{} is disabled.", entry.arn)))
            }
            (Need::NotPendingDeletion, KeyState::Disabled) => Ok(()),
        }
    }

    /// Resolves, authorizes and checks the state: the common head of key operations.
    fn use_key(
        &self,
        caller: &Caller,
        ident: &str,
        action: &str,
        cross_account: bool,
        need: Need,
        extra: impl FnOnce(&mut ContextBuilder<'_>),
    ) -> Result<Resolved, KmsError> {
        let resolved = self.resolve(caller, ident, cross_account)?;
        let mut ctx = self.key_context(caller, &resolved, None);
        extra(&mut ctx);
        self.authorize_key(caller, action, &resolved, ctx)?;
        Self::check_state(&resolved.entry, need)?;
        Ok(resolved)
    }

    /// Applies `change` to a key's record durably, then in memory. Must be called with the
    /// writer lock held and with `entry` read under it.
    fn commit_key(
        &self,
        entry: &KeyEntry,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<Arc<KeyEntry>, KmsError> {
        let mut record = entry.record.clone();
        change(&mut record)?;
        let aliases = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .aliases_of(&record.key_id);
        let materials = (record.materials.len() == entry.record.materials.len())
            .then(|| entry.materials.clone());
        let new_entry = Arc::new(self.build_entry(record, aliases, materials)?);
        let mut txn = self.store.write()?;
        txn.put_json(KEYS, &new_entry.record.key_id, &new_entry.record)?;
        txn.commit()?;
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .insert(new_entry.id, new_entry.clone());
        Ok(new_entry)
    }

    /// Re-reads the entry under the writer lock (it may have changed since it was resolved).
    fn fresh(&self, resolved: &Resolved) -> Result<Arc<KeyEntry>, KmsError> {
        let now = self.now();
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        match state.keys.get(&resolved.entry.id) {
            Some(e) if !e.gone(now) => Ok(e.clone()),
            _ => Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                resolved.entry.arn
            ))),
        }
    }

    /// Rebuilds the entries of `key_ids` after their aliases changed.
    fn refresh_aliases(&self, key_ids: &[&str]) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        for key_id in key_ids {
            let Some(id) = KeyId::parse(key_id) else {
                continue;
            };
            let Some(old) = state.keys.get(&id).cloned() else {
                continue;
            };
            let names = state.aliases_of(key_id);
            if let Ok(e) = self.build_entry(old.record.clone(), names, Some(old.materials.clone()))
            {
                state.keys.insert(id, Arc::new(e));
            }
        }
    }

    /// Checks that `policy` lets the caller call `PutKeyPolicy` on the key later
    /// (the policy lockout safety check).
    fn lockout_check(
        &self,
        caller: &Caller,
        policy: &NamedPolicy,
        key_arn: &str,
        key_account: &str,
    ) -> Result<(), KmsError> {
        let refs = KeyRefs::of(&policy.policy);
        let ctx = ContextBuilder::new(caller, Some(&refs)).build();
        let evaluation = authz::evaluate(
            caller,
            "kms:PutKeyPolicy",
            &Target {
                arn: key_arn,
                account: key_account,
                key_policy: Some(policy),
            },
            ctx,
        );
        if evaluation.decision.is_allowed() {
            Ok(())
        } else {
            Err(KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future."
                    .into(),
            ))
        }
    }

    // ---------------------------------------------------------------- key management

    /// `CreateKey`: a symmetric encryption key with fresh material.
    pub fn create_key(
        &self,
        caller: &Caller,
        input: CreateKeyInput,
    ) -> Result<KeyMetadata, KmsError> {
        let account = self.caller_account(caller)?.to_string();
        if input.key_spec.is_some() && input.customer_master_key_spec.is_some() {
            return Err(validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
                 CustomerMasterKeySpec is deprecated.",
            ));
        }
        const SPECS: &[&str] = &[
            "RSA_2048",
            "RSA_3072",
            "RSA_4096",
            "ECC_NIST_P256",
            "ECC_NIST_P384",
            "ECC_NIST_P521",
            "ECC_SECG_P256K1",
            SYMMETRIC_DEFAULT,
            "HMAC_224",
            "HMAC_256",
            "HMAC_384",
            "HMAC_512",
            "SM2",
            "ML_DSA_44",
            "ML_DSA_65",
            "ML_DSA_87",
        ];
        let (spec_field, spec) = match (&input.key_spec, &input.customer_master_key_spec) {
            (Some(s), _) => ("keySpec", s.as_str()),
            (None, Some(s)) => ("customerMasterKeySpec", s.as_str()),
            (None, None) => ("keySpec", SYMMETRIC_DEFAULT),
        };
        if !SPECS.contains(&spec) {
            return Err(enum_error(spec, spec_field, SPECS));
        }
        const USAGES: &[&str] = &[
            "SIGN_VERIFY",
            ENCRYPT_DECRYPT,
            "GENERATE_VERIFY_MAC",
            "KEY_AGREEMENT",
        ];
        let usage = input.key_usage.as_deref().unwrap_or(ENCRYPT_DECRYPT);
        if !USAGES.contains(&usage) {
            return Err(enum_error(usage, "keyUsage", USAGES));
        }
        const ORIGINS: &[&str] = &[AWS_KMS, "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
        let origin = input.origin.as_deref().unwrap_or(AWS_KMS);
        if !ORIGINS.contains(&origin) {
            return Err(enum_error(origin, "origin", ORIGINS));
        }
        if spec != SYMMETRIC_DEFAULT || usage != ENCRYPT_DECRYPT || origin != AWS_KMS {
            return Err(KmsError::UnsupportedOperation(format!(
                "airlock supports only symmetric encryption keys (KeySpec SYMMETRIC_DEFAULT, \
                 KeyUsage ENCRYPT_DECRYPT, Origin AWS_KMS); got KeySpec {spec}, KeyUsage {usage}, \
                 Origin {origin}"
            )));
        }
        if input.multi_region == Some(true) {
            return Err(KmsError::UnsupportedOperation(
                "airlock does not support multi-Region keys".into(),
            ));
        }
        let description = input.description.unwrap_or_default();
        if description.chars().count() > 8192 {
            return Err(length_error("description", 8192, description.len()));
        }
        validate_tags(&input.tags)?;
        if input.tags.len() > MAX_TAGS {
            return Err(KmsError::Tag(format!(
                "A key can have at most {MAX_TAGS} tags"
            )));
        }
        if let Some(p) = &input.policy
            && (p.is_empty() || p.len() > MAX_POLICY)
        {
            return Err(length_error("policy", MAX_POLICY, p.len()));
        }

        let mut ctx = ContextBuilder::new(caller, None);
        ctx.put("kms:KeySpec", || ContextValue::Single(spec.into()));
        ctx.put("kms:KeyUsage", || ContextValue::Single(usage.into()));
        ctx.put("kms:KeyOrigin", || ContextValue::Single(origin.into()));
        ctx.put("kms:MultiRegion", || ContextValue::Single("false".into()));
        ctx.put("kms:BypassPolicyLockoutSafetyCheck", || {
            ContextValue::Single(input.bypass_policy_lockout_safety_check.to_string())
        });
        tags_context(&mut ctx, &input.tags);
        self.authorize_account(caller, "kms:CreateKey", "*", ctx)?;

        let id = KeyId::random();
        let arn = key_arn(&self.region, &account, &id);
        let policy_text = input
            .policy
            .unwrap_or_else(|| authz::default_key_policy(&account));
        let policy = parse_key_policy(&policy_text, &arn)?;
        if !input.bypass_policy_lockout_safety_check {
            self.lockout_check(caller, &policy, &arn, &account)?;
        }

        let now = self.now();
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(&mut material[..]);
        let sealed = self.master.seal_material(&id, 1, &material[..]);
        let mut tags: Vec<Tag> = Vec::new();
        for t in input.tags {
            tags.retain(|x| x.key != t.key);
            tags.push(t);
        }
        let record = KeyRecord {
            key_id: id.to_string(),
            account,
            region: self.region.clone(),
            creation_date: now,
            description,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            policy: policy_text,
            tags,
            rotation_enabled: false,
            rotation_period_days: None,
            next_rotation_date: None,
            on_demand_rotations: 0,
            materials: vec![SealedMaterial {
                version: 1,
                created: now,
                rotation: None,
                sealed: STANDARD.encode(&sealed),
            }],
        };
        let _w = lock(&self.writer);
        let entry = Arc::new(self.build_entry(record, Vec::new(), None)?);
        let mut txn = self.store.write()?;
        txn.put_json(KEYS, &entry.record.key_id, &entry.record)?;
        txn.commit()?;
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .insert(entry.id, entry.clone());
        Ok(entry.metadata())
    }

    /// `DescribeKey` (cross-account: yes).
    pub fn describe_key(&self, caller: &Caller, key_id: &str) -> Result<KeyMetadata, KmsError> {
        let r = self.use_key(caller, key_id, "kms:DescribeKey", true, Need::Any, |_| {})?;
        Ok(r.entry.metadata())
    }

    /// `ListKeys`: the keys of the caller's account, ordered by key id.
    pub fn list_keys(
        &self,
        caller: &Caller,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<KeyListEntry>, KmsError> {
        let limit = page_limit(limit, 1000, 100)?;
        let account = self.caller_account(caller)?.to_string();
        self.authorize_account(
            caller,
            "kms:ListKeys",
            "*",
            ContextBuilder::new(caller, None),
        )?;
        let now = self.now();
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<KeyListEntry> = state
            .keys
            .values()
            .filter(|e| e.record.account == account && !e.gone(now))
            .map(|e| KeyListEntry {
                key_id: e.record.key_id.clone(),
                key_arn: e.arn.clone(),
            })
            .collect();
        all.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(paginate(all, limit, marker, |e| e.key_id.clone()))
    }

    /// `UpdateKeyDescription`.
    pub fn update_key_description(
        &self,
        caller: &Caller,
        key_id: &str,
        description: &str,
    ) -> Result<(), KmsError> {
        if description.chars().count() > 8192 {
            return Err(length_error("description", 8192, description.len()));
        }
        let r = self.use_key(
            caller,
            key_id,
            "kms:UpdateKeyDescription",
            false,
            Need::NotPendingDeletion,
            |_| {},
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        self.commit_key(&e, |rec| {
            rec.description = description.to_string();
            Ok(())
        })?;
        Ok(())
    }

    /// `EnableKey`.
    pub fn enable_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.set_enabled(caller, key_id, true)
    }

    /// `DisableKey`.
    pub fn disable_key(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        self.set_enabled(caller, key_id, false)
    }

    fn set_enabled(&self, caller: &Caller, key_id: &str, enabled: bool) -> Result<(), KmsError> {
        let action = if enabled {
            "kms:EnableKey"
        } else {
            "kms:DisableKey"
        };
        let r = self.use_key(
            caller,
            key_id,
            action,
            false,
            Need::NotPendingDeletion,
            |_| {},
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        let target = if enabled {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        };
        if e.record.state != target {
            self.commit_key(&e, |rec| {
                rec.state = target;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// `ScheduleKeyDeletion`: 7 to 30 days (default 30) in `PendingDeletion`.
    pub fn schedule_key_deletion(
        &self,
        caller: &Caller,
        key_id: &str,
        pending_window_days: Option<i64>,
    ) -> Result<ScheduledDeletion, KmsError> {
        let days = pending_window_days.unwrap_or(30);
        if let Some(e) = range_error(days, "pendingWindowInDays", 7, 30) {
            return Err(e);
        }
        let r = self.use_key(
            caller,
            key_id,
            "kms:ScheduleKeyDeletion",
            false,
            Need::NotPendingDeletion,
            |ctx| {
                ctx.put("kms:ScheduleKeyDeletionPendingWindowInDays", || {
                    ContextValue::Single(days.to_string())
                })
            },
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        let deletion_date = self.now() + days * DAY_MS;
        let days = u32::try_from(days).unwrap_or(30);
        let e = self.commit_key(&e, |rec| {
            rec.state = KeyState::PendingDeletion;
            rec.deletion_date = Some(deletion_date);
            rec.pending_window_days = Some(days);
            Ok(())
        })?;
        Ok(ScheduledDeletion {
            key_arn: e.arn.clone(),
            deletion_date,
            pending_window_days: days,
        })
    }

    /// `CancelKeyDeletion`: the key returns in the `Disabled` state, as in AWS. Returns the key ARN.
    pub fn cancel_key_deletion(&self, caller: &Caller, key_id: &str) -> Result<String, KmsError> {
        let r = self.use_key(
            caller,
            key_id,
            "kms:CancelKeyDeletion",
            false,
            Need::Any,
            |_| {},
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        if e.record.state != KeyState::PendingDeletion {
            return Err(KmsError::InvalidState(format!(
                "{} is not pending deletion.",
                e.arn
            )));
        }
        let e = self.commit_key(&e, |rec| {
            rec.state = KeyState::Disabled;
            rec.deletion_date = None;
            rec.pending_window_days = None;
            Ok(())
        })?;
        Ok(e.arn.clone())
    }

    // ---------------------------------------------------------------- key policies

    /// `GetKeyPolicy`: the policy document as it was given.
    pub fn get_key_policy(
        &self,
        caller: &Caller,
        key_id: &str,
        policy_name: Option<&str>,
    ) -> Result<String, KmsError> {
        check_policy_name(policy_name)?;
        let r = self.use_key(caller, key_id, "kms:GetKeyPolicy", false, Need::Any, |_| {})?;
        Ok(r.entry.record.policy.clone())
    }

    /// `ListKeyPolicies`: always `["default"]`.
    pub fn list_key_policies(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<Vec<String>, KmsError> {
        self.use_key(
            caller,
            key_id,
            "kms:ListKeyPolicies",
            false,
            Need::Any,
            |_| {},
        )?;
        Ok(vec!["default".to_string()])
    }

    /// `PutKeyPolicy`, with the policy lockout safety check unless bypassed.
    pub fn put_key_policy(
        &self,
        caller: &Caller,
        key_id: &str,
        policy_name: Option<&str>,
        policy: &str,
        bypass_policy_lockout_safety_check: bool,
    ) -> Result<(), KmsError> {
        check_policy_name(policy_name)?;
        if policy.is_empty() || policy.len() > MAX_POLICY {
            return Err(length_error("policy", MAX_POLICY, policy.len()));
        }
        let r = self.use_key(
            caller,
            key_id,
            "kms:PutKeyPolicy",
            false,
            Need::Any,
            |ctx| {
                ctx.put("kms:BypassPolicyLockoutSafetyCheck", || {
                    ContextValue::Single(bypass_policy_lockout_safety_check.to_string())
                })
            },
        )?;
        let parsed = parse_key_policy(policy, &r.entry.arn)?;
        if !bypass_policy_lockout_safety_check {
            self.lockout_check(caller, &parsed, &r.entry.arn, &r.entry.record.account)?;
        }
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        self.commit_key(&e, |rec| {
            rec.policy = policy.to_string();
            Ok(())
        })?;
        Ok(())
    }

    // ---------------------------------------------------------------- aliases

    /// `CreateAlias`: needs `kms:CreateAlias` on the alias (IAM policy) and on the key (key policy).
    pub fn create_alias(
        &self,
        caller: &Caller,
        alias_name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias_name)?;
        let account = self.caller_account(caller)?.to_string();
        let target = self.alias_target(caller, target_key_id, "kms:CreateAlias")?;
        let arn = alias_arn(&self.region, &account, alias_name);
        self.authorize_account(
            caller,
            "kms:CreateAlias",
            &arn,
            ContextBuilder::new(caller, None),
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&target)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        let k = (account.clone(), alias_name.to_string());
        if self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .contains_key(&k)
        {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {arn} already exists"
            )));
        }
        let now = self.now();
        let record = AliasRecord {
            account: account.clone(),
            region: self.region.clone(),
            alias_name: alias_name.to_string(),
            target_key_id: e.record.key_id.clone(),
            creation_date: now,
            last_updated_date: now,
        };
        let mut txn = self.store.write()?;
        txn.put_json(
            ALIASES,
            &alias_key(&account, &self.region, alias_name),
            &record,
        )?;
        txn.commit()?;
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .insert(k, record);
        self.refresh_aliases(&[&e.record.key_id]);
        Ok(())
    }

    /// `UpdateAlias`: points an alias at another key of the same account.
    pub fn update_alias(
        &self,
        caller: &Caller,
        alias_name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        validate_alias_name(alias_name)?;
        let account = self.caller_account(caller)?.to_string();
        let arn = alias_arn(&self.region, &account, alias_name);
        let k = (account.clone(), alias_name.to_string());
        let current = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .get(&k)
            .cloned()
            .ok_or_else(|| KmsError::NotFound(format!("Alias {arn} is not found.")))?;
        let new_target = self.alias_target(caller, target_key_id, "kms:UpdateAlias")?;
        let old_target = self.resolve(caller, &current.target_key_id, false)?;
        self.authorize_key(
            caller,
            "kms:UpdateAlias",
            &old_target,
            self.key_context(caller, &old_target, None),
        )?;
        self.authorize_account(
            caller,
            "kms:UpdateAlias",
            &arn,
            ContextBuilder::new(caller, None),
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&new_target)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        let mut record = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .get(&k)
            .cloned()
            .ok_or_else(|| KmsError::NotFound(format!("Alias {arn} is not found.")))?;
        let old_key = record.target_key_id.clone();
        record.target_key_id = e.record.key_id.clone();
        record.last_updated_date = self.now();
        let mut txn = self.store.write()?;
        txn.put_json(
            ALIASES,
            &alias_key(&account, &self.region, alias_name),
            &record,
        )?;
        txn.commit()?;
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .insert(k, record);
        self.refresh_aliases(&[&old_key, &e.record.key_id]);
        Ok(())
    }

    /// `DeleteAlias`: needs `kms:DeleteAlias` on the alias and on its key.
    pub fn delete_alias(&self, caller: &Caller, alias_name: &str) -> Result<(), KmsError> {
        if !alias_name.starts_with("alias/") {
            return Err(validation(
                "Alias must start with the prefix \"alias/\". Please see \
                 https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
            ));
        }
        let account = self.caller_account(caller)?.to_string();
        let arn = alias_arn(&self.region, &account, alias_name);
        let k = (account.clone(), alias_name.to_string());
        let current = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .get(&k)
            .cloned()
            .ok_or_else(|| KmsError::NotFound(format!("Alias {arn} is not found.")))?;
        if let Ok(target) = self.resolve(caller, &current.target_key_id, false) {
            self.authorize_key(
                caller,
                "kms:DeleteAlias",
                &target,
                self.key_context(caller, &target, None),
            )?;
        }
        self.authorize_account(
            caller,
            "kms:DeleteAlias",
            &arn,
            ContextBuilder::new(caller, None),
        )?;
        let _w = lock(&self.writer);
        let mut txn = self.store.write()?;
        if !txn.delete(ALIASES, &alias_key(&account, &self.region, alias_name))? {
            return Err(KmsError::NotFound(format!("Alias {arn} is not found.")));
        }
        txn.commit()?;
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .remove(&k);
        self.refresh_aliases(&[&current.target_key_id]);
        Ok(())
    }

    /// The target key of `CreateAlias`/`UpdateAlias`: a key id or key ARN in the caller's account.
    fn alias_target(
        &self,
        caller: &Caller,
        target_key_id: &str,
        action: &str,
    ) -> Result<Resolved, KmsError> {
        if KeyIdentifier::parse(target_key_id).is_some_and(|k| k.alias_name().is_some()) {
            return Err(validation("Aliases must refer to keys. Not aliases"));
        }
        self.use_key(
            caller,
            target_key_id,
            action,
            false,
            Need::NotPendingDeletion,
            |_| {},
        )
    }

    /// `ListAliases`: the aliases of the caller's account, optionally of one key.
    pub fn list_aliases(
        &self,
        caller: &Caller,
        key_id: Option<&str>,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<AliasListEntry>, KmsError> {
        let limit = page_limit(limit, 100, 50)?;
        let account = self.caller_account(caller)?.to_string();
        self.authorize_account(
            caller,
            "kms:ListAliases",
            "*",
            ContextBuilder::new(caller, None),
        )?;
        let filter = match key_id {
            Some(k) => Some(self.resolve(caller, k, false)?.entry.record.key_id.clone()),
            None => None,
        };
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let all: Vec<AliasListEntry> = state
            .aliases
            .values()
            .filter(|a| a.account == account)
            .filter(|a| filter.as_ref().is_none_or(|f| &a.target_key_id == f))
            .map(|a| AliasListEntry {
                alias_name: a.alias_name.clone(),
                alias_arn: alias_arn(&a.region, &a.account, &a.alias_name),
                target_key_id: a.target_key_id.clone(),
                creation_date: a.creation_date,
                last_updated_date: a.last_updated_date,
            })
            .collect();
        Ok(paginate(all, limit, marker, |a| a.alias_name.clone()))
    }

    // ---------------------------------------------------------------- tags

    /// `TagResource`: adds or replaces tags.
    pub fn tag_resource(
        &self,
        caller: &Caller,
        key_id: &str,
        tags: Vec<Tag>,
    ) -> Result<(), KmsError> {
        validate_tags(&tags)?;
        let r = self.use_key(
            caller,
            key_id,
            "kms:TagResource",
            false,
            Need::NotPendingDeletion,
            |ctx| tags_context(ctx, &tags),
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        self.commit_key(&e, |rec| {
            for t in tags {
                rec.tags.retain(|x| x.key != t.key);
                rec.tags.push(t);
            }
            if rec.tags.len() > MAX_TAGS {
                return Err(KmsError::Tag(format!(
                    "A key can have at most {MAX_TAGS} tags"
                )));
            }
            Ok(())
        })?;
        Ok(())
    }

    /// `UntagResource`.
    pub fn untag_resource(
        &self,
        caller: &Caller,
        key_id: &str,
        tag_keys: Vec<String>,
    ) -> Result<(), KmsError> {
        let r = self.use_key(
            caller,
            key_id,
            "kms:UntagResource",
            false,
            Need::NotPendingDeletion,
            |ctx| {
                if !tag_keys.is_empty() {
                    ctx.put("aws:TagKeys", || ContextValue::Multi(tag_keys.clone()));
                }
            },
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::NotPendingDeletion)?;
        self.commit_key(&e, |rec| {
            rec.tags.retain(|t| !tag_keys.contains(&t.key));
            Ok(())
        })?;
        Ok(())
    }

    /// `ListResourceTags`, ordered by tag key.
    pub fn list_resource_tags(
        &self,
        caller: &Caller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<Tag>, KmsError> {
        let limit = page_limit(limit, 50, 50)?;
        let r = self.use_key(
            caller,
            key_id,
            "kms:ListResourceTags",
            false,
            Need::Any,
            |_| {},
        )?;
        let mut tags = r.entry.record.tags.clone();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(paginate(tags, limit, marker, |t| t.key.clone()))
    }

    // ---------------------------------------------------------------- rotation

    /// `EnableKeyRotation`: automatic rotation every `rotation_period_days` (90 to 2560, default 365).
    pub fn enable_key_rotation(
        &self,
        caller: &Caller,
        key_id: &str,
        rotation_period_days: Option<i64>,
    ) -> Result<(), KmsError> {
        if let Some(p) = rotation_period_days
            && let Some(e) = range_error(p, "rotationPeriodInDays", 90, 2560)
        {
            return Err(e);
        }
        let r = self.use_key(
            caller,
            key_id,
            "kms:EnableKeyRotation",
            false,
            Need::Usable,
            |ctx| {
                if let Some(p) = rotation_period_days {
                    ctx.put("kms:RotationPeriodInDays", || {
                        ContextValue::Single(p.to_string())
                    });
                }
            },
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::Usable)?;
        let now = self.now();
        self.commit_key(&e, |rec| {
            let days = rotation_period_days
                .and_then(|p| u32::try_from(p).ok())
                .or(rec.rotation_period_days)
                .unwrap_or(DEFAULT_ROTATION_DAYS);
            rec.rotation_enabled = true;
            rec.rotation_period_days = Some(days);
            rec.next_rotation_date = Some(now + i64::from(days) * DAY_MS);
            Ok(())
        })?;
        Ok(())
    }

    /// `DisableKeyRotation`.
    pub fn disable_key_rotation(&self, caller: &Caller, key_id: &str) -> Result<(), KmsError> {
        let r = self.use_key(
            caller,
            key_id,
            "kms:DisableKeyRotation",
            false,
            Need::Usable,
            |_| {},
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::Usable)?;
        self.commit_key(&e, |rec| {
            rec.rotation_enabled = false;
            rec.next_rotation_date = None;
            Ok(())
        })?;
        Ok(())
    }

    /// `GetKeyRotationStatus` (cross-account: yes).
    pub fn get_key_rotation_status(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<RotationStatus, KmsError> {
        let r = self.use_key(
            caller,
            key_id,
            "kms:GetKeyRotationStatus",
            true,
            Need::Any,
            |_| {},
        )?;
        let rec = &r.entry.record;
        let enabled = rec.rotation_enabled && rec.state != KeyState::PendingDeletion;
        Ok(RotationStatus {
            key_arn: r.entry.arn.clone(),
            enabled,
            period_days: enabled.then_some(rec.rotation_period_days).flatten(),
            next_rotation_date: enabled.then_some(rec.next_rotation_date).flatten(),
        })
    }

    /// `RotateKeyOnDemand`: new key material now; older ciphertexts stay decryptable.
    /// Returns the key id.
    pub fn rotate_key_on_demand(&self, caller: &Caller, key_id: &str) -> Result<String, KmsError> {
        let r = self.use_key(
            caller,
            key_id,
            "kms:RotateKeyOnDemand",
            false,
            Need::Usable,
            |_| {},
        )?;
        let _w = lock(&self.writer);
        let e = self.fresh(&r)?;
        Self::check_state(&e, Need::Usable)?;
        if e.record.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded(format!(
                "The on-demand rotations limit has been reached for the given keyId. No more \
                 on-demand rotations can be performed for this key: {}",
                e.arn
            )));
        }
        let e = self.rotate(&e, RotationType::OnDemand)?;
        Ok(e.record.key_id.clone())
    }

    fn rotate(&self, e: &KeyEntry, kind: RotationType) -> Result<Arc<KeyEntry>, KmsError> {
        let now = self.now();
        let version = e.current_version().saturating_add(1);
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(&mut material[..]);
        let sealed = self.master.seal_material(&e.id, version, &material[..]);
        self.commit_key(e, |rec| {
            rec.materials.push(SealedMaterial {
                version,
                created: now,
                rotation: Some(kind),
                sealed: STANDARD.encode(&sealed),
            });
            match kind {
                RotationType::OnDemand => rec.on_demand_rotations += 1,
                RotationType::Automatic => {
                    let days = rec.rotation_period_days.unwrap_or(DEFAULT_ROTATION_DAYS);
                    rec.next_rotation_date = Some(now + i64::from(days) * DAY_MS);
                }
            }
            Ok(())
        })
    }

    /// `ListKeyRotations`: completed rotations, oldest first.
    pub fn list_key_rotations(
        &self,
        caller: &Caller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<Page<KeyRotation>, KmsError> {
        let limit = page_limit(limit, 1000, 100)?;
        let r = self.use_key(
            caller,
            key_id,
            "kms:ListKeyRotations",
            false,
            Need::Any,
            |_| {},
        )?;
        let all: Vec<(u32, KeyRotation)> = r
            .entry
            .record
            .materials
            .iter()
            .filter_map(|m| {
                m.rotation.map(|t| {
                    (
                        m.version,
                        KeyRotation {
                            key_id: r.entry.record.key_id.clone(),
                            rotation_date: m.created,
                            rotation_type: t,
                        },
                    )
                })
            })
            .collect();
        let page = paginate(all, limit, marker, |(v, _)| format!("{v:010}"));
        Ok(Page {
            items: page.items.into_iter().map(|(_, r)| r).collect(),
            next_marker: page.next_marker,
        })
    }

    // ---------------------------------------------------------------- cryptography

    /// `Encrypt` (cross-account: yes).
    pub fn encrypt(
        &self,
        caller: &Caller,
        input: &EncryptInput,
    ) -> Result<EncryptOutput, KmsError> {
        if input.plaintext.is_empty() || input.plaintext.len() > MAX_PLAINTEXT {
            return Err(length_error(
                "plaintext",
                MAX_PLAINTEXT,
                input.plaintext.len(),
            ));
        }
        check_algorithm(input.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
        let r = self.resolve(caller, &input.key_id, true)?;
        let mut ctx = self.key_context(caller, &r, Some(&input.encryption_context));
        ctx.put("kms:EncryptionAlgorithm", || {
            ContextValue::Single(SYMMETRIC_DEFAULT.into())
        });
        self.authorize_key(caller, "kms:Encrypt", &r, ctx)?;
        Self::check_state(&r.entry, Need::Usable)?;
        let ciphertext_blob = self.seal_with(
            &r.entry,
            &input.plaintext,
            &input.encryption_context,
            random_nonce(),
        )?;
        Ok(EncryptOutput {
            ciphertext_blob,
            key_arn: r.entry.arn.clone(),
        })
    }

    fn seal_with(
        &self,
        e: &KeyEntry,
        plaintext: &[u8],
        ec: &EncryptionContext,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, KmsError> {
        let version = e.current_version();
        let material = e
            .materials
            .last()
            .ok_or_else(|| KmsError::Internal(format!("{}: no key material", e.arn)))?;
        seal_blob(material, e.id, version, nonce, plaintext, ec)
            .ok_or_else(|| KmsError::Internal("encryption failed".into()))
    }

    /// Finds the key of a ciphertext blob (any account: blobs name keys by their unique id).
    fn blob_key(&self, blob: &[u8]) -> Result<(BlobHeader, Arc<KeyEntry>), KmsError> {
        if blob.is_empty() || blob.len() > MAX_CIPHERTEXT {
            return Err(length_error("ciphertextBlob", MAX_CIPHERTEXT, blob.len()));
        }
        let header = BlobHeader::parse(blob)
            .ok_or_else(|| KmsError::invalid_ciphertext("not an airlock KMS ciphertext blob"))?;
        let now = self.now();
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let entry = state
            .keys
            .get(&header.key_id)
            .filter(|e| e.record.region == self.region && !e.gone(now))
            .cloned()
            .ok_or_else(|| {
                KmsError::invalid_ciphertext(format!(
                    "the ciphertext names key {}, which does not exist",
                    header.key_id
                ))
            })?;
        Ok((header, entry))
    }

    fn open_with(
        e: &KeyEntry,
        header: &BlobHeader,
        blob: &[u8],
        ec: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let material = usize::try_from(header.material_version)
            .ok()
            .and_then(|v| v.checked_sub(1))
            .and_then(|i| e.materials.get(i))
            .ok_or_else(|| {
                KmsError::invalid_ciphertext(format!(
                    "the ciphertext names key material version {} of {}, which does not exist",
                    header.material_version, e.arn
                ))
            })?;
        open_blob(material, header, blob, ec).ok_or_else(|| {
            KmsError::invalid_ciphertext(format!(
                "authentication failed under {} (material version {}): the encryption context \
                 differs from the one used at encryption, or the blob was altered",
                e.arn, header.material_version
            ))
        })
    }

    /// Checks that an explicit `KeyId` names the key of the ciphertext.
    fn check_named_key(
        &self,
        caller: &Caller,
        named: Option<&str>,
        actual: &KeyEntry,
    ) -> Result<Option<String>, KmsError> {
        let Some(named) = named else {
            return Ok(None);
        };
        let r = self.resolve(caller, named, true)?;
        if r.entry.id != actual.id {
            return Err(KmsError::IncorrectKey(
                "The key ID in the request does not identify a KMS key that can perform this \
                 operation."
                    .into(),
            ));
        }
        Ok(r.request_alias)
    }

    /// `Decrypt` (cross-account: yes). The key comes from the blob; `KeyId`, if given, must match.
    pub fn decrypt(
        &self,
        caller: &Caller,
        input: &DecryptInput,
    ) -> Result<DecryptOutput, KmsError> {
        let out = self.decrypt_inner(caller, input);
        caller.report(
            "Decrypt",
            out.as_ref().ok().map(|o| o.key_arn.as_str()),
            &input.encryption_context,
            None,
            out.as_ref().err(),
        );
        out
    }

    fn decrypt_inner(
        &self,
        caller: &Caller,
        input: &DecryptInput,
    ) -> Result<DecryptOutput, KmsError> {
        check_algorithm(input.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
        self.caller_account(caller)?;
        let (header, entry) = self.blob_key(&input.ciphertext_blob)?;
        let request_alias = self.check_named_key(caller, input.key_id.as_deref(), &entry)?;
        let r = Resolved {
            entry,
            request_alias,
        };
        let mut ctx = self.key_context(caller, &r, Some(&input.encryption_context));
        ctx.put("kms:EncryptionAlgorithm", || {
            ContextValue::Single(SYMMETRIC_DEFAULT.into())
        });
        self.authorize_key(caller, "kms:Decrypt", &r, ctx)?;
        Self::check_state(&r.entry, Need::Usable)?;
        let plaintext = Self::open_with(
            &r.entry,
            &header,
            &input.ciphertext_blob,
            &input.encryption_context,
        )?;
        Ok(DecryptOutput {
            plaintext,
            key_arn: r.entry.arn.clone(),
        })
    }

    /// `ReEncrypt`: decrypts under the source key and encrypts under the destination key without
    /// exposing the plaintext. Needs `kms:ReEncryptFrom` on the source key and
    /// `kms:ReEncryptTo` on the destination key.
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        input: &ReEncryptInput,
    ) -> Result<ReEncryptOutput, KmsError> {
        check_algorithm(
            input.source_encryption_algorithm.as_deref(),
            "sourceEncryptionAlgorithm",
        )?;
        check_algorithm(
            input.destination_encryption_algorithm.as_deref(),
            "destinationEncryptionAlgorithm",
        )?;
        self.caller_account(caller)?;
        let (header, source) = self.blob_key(&input.ciphertext_blob)?;
        let source_alias = self.check_named_key(caller, input.source_key_id.as_deref(), &source)?;
        let src = Resolved {
            entry: source,
            request_alias: source_alias,
        };
        let dst = self.resolve(caller, &input.destination_key_id, true)?;
        let same = (src.entry.id == dst.entry.id).to_string();
        let mut ctx = self.key_context(caller, &src, Some(&input.source_encryption_context));
        ctx.put("kms:ReEncryptOnSameKey", || {
            ContextValue::Single(same.clone())
        });
        ctx.put("kms:EncryptionAlgorithm", || {
            ContextValue::Single(SYMMETRIC_DEFAULT.into())
        });
        self.authorize_key(caller, "kms:ReEncryptFrom", &src, ctx)?;
        let mut ctx = self.key_context(caller, &dst, Some(&input.destination_encryption_context));
        ctx.put("kms:ReEncryptOnSameKey", || ContextValue::Single(same));
        ctx.put("kms:EncryptionAlgorithm", || {
            ContextValue::Single(SYMMETRIC_DEFAULT.into())
        });
        self.authorize_key(caller, "kms:ReEncryptTo", &dst, ctx)?;
        Self::check_state(&src.entry, Need::Usable)?;
        Self::check_state(&dst.entry, Need::Usable)?;
        let plaintext = Self::open_with(
            &src.entry,
            &header,
            &input.ciphertext_blob,
            &input.source_encryption_context,
        )?;
        let ciphertext_blob = self.seal_with(
            &dst.entry,
            &plaintext,
            &input.destination_encryption_context,
            random_nonce(),
        )?;
        Ok(ReEncryptOutput {
            ciphertext_blob,
            source_key_arn: src.entry.arn.clone(),
            key_arn: dst.entry.arn.clone(),
        })
    }

    /// `GenerateDataKey` (cross-account: yes): a fresh data key, in plaintext and encrypted under
    /// the KMS key.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        input: &GenerateDataKeyInput,
    ) -> Result<GenerateDataKeyOutput, KmsError> {
        let out = self.data_key(caller, input, true);
        caller.report(
            "GenerateDataKey",
            out.as_ref().ok().map(|o| o.key_arn.as_str()),
            &input.encryption_context,
            input.key_spec.as_deref(),
            out.as_ref().err(),
        );
        out
    }

    /// `GenerateDataKeyWithoutPlaintext` (cross-account: yes): only the encrypted data key.
    pub fn generate_data_key_without_plaintext(
        &self,
        caller: &Caller,
        input: &GenerateDataKeyInput,
    ) -> Result<GenerateDataKeyOutput, KmsError> {
        self.data_key(caller, input, false)
    }

    fn data_key(
        &self,
        caller: &Caller,
        input: &GenerateDataKeyInput,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyOutput, KmsError> {
        let len = match (&input.key_spec, input.number_of_bytes) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(validation(
                    "Please specify either number of bytes or key spec.",
                ));
            }
            (Some(spec), None) => match spec.as_str() {
                "AES_256" => 32,
                "AES_128" => 16,
                other => return Err(enum_error(other, "keySpec", &["AES_256", "AES_128"])),
            },
            (None, Some(n)) => {
                if let Some(e) = range_error(n, "numberOfBytes", 1, 1024) {
                    return Err(e);
                }
                usize::try_from(n).unwrap_or(32)
            }
        };
        let action = if with_plaintext {
            "kms:GenerateDataKey"
        } else {
            "kms:GenerateDataKeyWithoutPlaintext"
        };
        let r = self.resolve(caller, &input.key_id, true)?;
        let ctx = self.key_context(caller, &r, Some(&input.encryption_context));
        self.authorize_key(caller, action, &r, ctx)?;
        Self::check_state(&r.entry, Need::Usable)?;
        // One call to the generator for the data key and the nonce.
        let mut random = Zeroizing::new(vec![0u8; len + NONCE_LEN]);
        fill_random(&mut random);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&random[len..]);
        random.truncate(len);
        let data_key = random;
        let ciphertext_blob =
            self.seal_with(&r.entry, &data_key, &input.encryption_context, nonce)?;
        Ok(GenerateDataKeyOutput {
            ciphertext_blob,
            plaintext: with_plaintext.then_some(data_key),
            key_arn: r.entry.arn.clone(),
        })
    }

    /// `GenerateRandom`: 1 to 1024 random bytes (IAM policy `kms:GenerateRandom`).
    pub fn generate_random(
        &self,
        caller: &Caller,
        number_of_bytes: Option<i64>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let n = number_of_bytes.ok_or_else(|| {
            validation("1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
        })?;
        if let Some(e) = range_error(n, "numberOfBytes", 1, 1024) {
            return Err(e);
        }
        self.authorize_account(
            caller,
            "kms:GenerateRandom",
            "*",
            ContextBuilder::new(caller, None),
        )?;
        let mut out = Zeroizing::new(vec![0u8; usize::try_from(n).unwrap_or(0)]);
        fill_random(&mut out);
        Ok(out)
    }

    /// Decides, without doing it, whether `caller` may perform `action` (`kms:Decrypt`,
    /// `kms:GenerateDataKey`, ...) with the key named by `key_id` and `encryption_context`, as
    /// the operation itself would (including the key's state). For services that cache a data
    /// key (S3 Bucket Keys) and must still check every caller.
    pub fn authorize_key_use(
        &self,
        caller: &Caller,
        action: &str,
        key_id: &str,
        encryption_context: &EncryptionContext,
    ) -> Result<String, KmsError> {
        let r = self.resolve(caller, key_id, true)?;
        let ctx = self.key_context(caller, &r, Some(encryption_context));
        self.authorize_key(caller, action, &r, ctx)?;
        Self::check_state(&r.entry, Need::Usable)?;
        Ok(r.entry.arn.clone())
    }

    // ---------------------------------------------------------------- maintenance

    /// Deletes keys whose deletion window has ended (with their aliases) and rotates keys whose
    /// automatic rotation is due. The server calls this periodically; operations already treat
    /// keys past their deletion date as deleted.
    pub fn run_maintenance(&self) -> Result<Maintenance, KmsError> {
        let _w = lock(&self.writer);
        let now = self.now();
        let entries: Vec<Arc<KeyEntry>> = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys
            .values()
            .cloned()
            .collect();
        let mut report = Maintenance::default();
        for e in entries {
            if e.gone(now) {
                let aliases: Vec<(String, String)> = self
                    .state
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .aliases
                    .iter()
                    .filter(|(_, a)| a.target_key_id == e.record.key_id)
                    .map(|(k, _)| k.clone())
                    .collect();
                let mut txn = self.store.write()?;
                txn.delete(KEYS, &e.record.key_id)?;
                for (account, name) in &aliases {
                    txn.delete(ALIASES, &alias_key(account, &self.region, name))?;
                }
                txn.commit()?;
                let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
                state.keys.remove(&e.id);
                for k in &aliases {
                    state.aliases.remove(k);
                }
                report.deleted_keys.push(e.arn.clone());
            } else if e.record.state == KeyState::Enabled
                && e.record.rotation_enabled
                && e.record.next_rotation_date.is_some_and(|d| d <= now)
            {
                self.rotate(&e, RotationType::Automatic)?;
                report.rotated_keys.push(e.arn.clone());
            }
        }
        Ok(report)
    }
}

fn alias_key(account: &str, region: &str, alias_name: &str) -> String {
    format!("{account}/{region}/{alias_name}")
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::NotFound("No such policy exists".into())),
    }
}

fn page_limit(limit: Option<i64>, max: i64, default: i64) -> Result<usize, KmsError> {
    let l = limit.unwrap_or(default);
    if let Some(e) = range_error(l, "limit", 1, max) {
        return Err(e);
    }
    Ok(usize::try_from(l).unwrap_or(1))
}

/// One page of `items` (sorted by `key`): those from `marker` on, at most `limit`.
fn paginate<T>(
    items: Vec<T>,
    limit: usize,
    marker: Option<&str>,
    key: impl Fn(&T) -> String,
) -> Page<T> {
    let mut rest: Vec<T> = match marker {
        Some(m) => items.into_iter().filter(|i| key(i).as_str() >= m).collect(),
        None => items,
    };
    let next_marker = (rest.len() > limit).then(|| key(&rest[limit]));
    rest.truncate(limit);
    Page {
        items: rest,
        next_marker,
    }
}

/// The overhead of a ciphertext over its plaintext (for callers sizing buffers).
pub const CIPHERTEXT_OVERHEAD: usize = BLOB_OVERHEAD;
