//! Data keys: made and unwrapped through KMS for SSE-KMS (with S3 Bucket Keys), or sealed
//! under the server's SSE-S3 key.
//!
//! Every use of a KMS key is authorized by KMS for the caller, with `kms:ViaService` set by the
//! caller handle the server builds. Without a bucket key, each PUT is one `GenerateDataKey`
//! (context `aws:s3:arn` = the object ARN) and each GET one `Decrypt`. With a bucket key, the
//! context is the bucket ARN and a bucket-level key is reused for a limited time: KMS still
//! decides, for every request, whether this caller may use the key (`authorize_key_use`), but
//! the cryptographic calls happen only when the cached bucket key is missing or expired, as
//! S3 Bucket Keys reduce KMS traffic on AWS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_kms::{Caller, CreateKeyInput, DecryptInput, GenerateDataKeyInput, Kms};
use airlock_policy::{Context, PolicySet, Principal};
use airlock_store::{Store, StoreExt, WriteExt};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::crypto::{DataKey, fill_random};
use crate::error::{Code, S3Error, from_kms};
use crate::meta::META;
use crate::model::{SseAlgorithm, SseInfo};
use crate::names::{bucket_arn, object_arn};

/// How long a bucket key is used for new objects before a new one is made.
pub const BUCKET_KEY_LIFETIME: Duration = Duration::from_secs(10 * 60);
const CACHE_LIMIT: usize = 4096;
const SSE_S3_AAD: &[u8] = b"airlock-s3-sse-s3-data-key-v1";

/// The encryption chosen for a new object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsePlan {
    /// SSE-S3 or SSE-KMS.
    pub algorithm: SseAlgorithm,
    /// The KMS key as named (id, ARN, alias); `None` means the account's default S3 key.
    pub kms_key_id: Option<String>,
    /// Use an S3 Bucket Key.
    pub bucket_key: bool,
    /// Extra encryption context (`x-amz-server-side-encryption-context`, decoded).
    pub extra_context: BTreeMap<String, String>,
    /// The header as sent, to echo back.
    pub context_header: Option<String>,
}

/// (bucket, KMS key ARN, encryption context).
type BucketKeySlot = (String, String, BTreeMap<String, String>);

struct CachedBucketKey {
    key: DataKey,
    blob: Vec<u8>,
    key_arn: String,
    made: Instant,
}

/// Makes and opens data keys.
pub struct KeyManager {
    kms: Arc<Kms>,
    sse_s3: LessSafeKey,
    store: Arc<dyn Store>,
    /// (bucket, requested key, context) → the bucket key new objects use.
    bucket_keys: Mutex<HashMap<BucketKeySlot, Arc<CachedBucketKey>>>,
    /// Bucket-key blob → plaintext, for reads.
    opened: Mutex<HashMap<Vec<u8>, (DataKey, Instant)>>,
    /// Account → ARN of its default S3 key.
    default_keys: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyManager")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl KeyManager {
    /// A key manager over KMS and the server's SSE-S3 root key (32 bytes).
    pub fn new(
        kms: Arc<Kms>,
        sse_s3_key: &[u8; 32],
        store: Arc<dyn Store>,
    ) -> Result<KeyManager, S3Error> {
        let sse_s3 = UnboundKey::new(&AES_256_GCM, sse_s3_key)
            .map(LessSafeKey::new)
            .map_err(|_| S3Error::internal("the SSE-S3 key could not be set up"))?;
        Ok(KeyManager {
            kms,
            sse_s3,
            store,
            bucket_keys: Mutex::new(HashMap::new()),
            opened: Mutex::new(HashMap::new()),
            default_keys: Mutex::new(HashMap::new()),
        })
    }

    /// The KMS service.
    pub fn kms(&self) -> &Arc<Kms> {
        &self.kms
    }

    /// A fresh data key for a new object of `bucket` owned by `bucket_owner`, with the record
    /// that lets a reader recover it.
    pub fn new_key(
        &self,
        caller: &Caller,
        bucket: &str,
        bucket_owner: &str,
        key: &str,
        plan: &SsePlan,
    ) -> Result<(DataKey, SseInfo), S3Error> {
        match plan.algorithm {
            SseAlgorithm::Aes256 => {
                let dk = DataKey::random();
                let wrapped = self.seal_s3(&dk)?;
                Ok((
                    dk,
                    SseInfo {
                        algorithm: SseAlgorithm::Aes256,
                        kms_key_arn: None,
                        bucket_key: false,
                        wrapped_key: wrapped,
                        context: BTreeMap::new(),
                        context_header: None,
                    },
                ))
            }
            SseAlgorithm::AwsKms => {
                let key_id = match &plan.kms_key_id {
                    Some(k) => k.clone(),
                    None => self.default_key(bucket_owner)?,
                };
                let arn = if plan.bucket_key {
                    bucket_arn(bucket)
                } else {
                    object_arn(bucket, key)
                };
                let mut context = plan.extra_context.clone();
                context.insert("aws:s3:arn".to_string(), arn);
                let (dk, blob, key_arn) = if plan.bucket_key {
                    self.bucket_key(caller, bucket, &key_id, &context)?
                } else {
                    let out = self
                        .kms
                        .generate_data_key(
                            caller,
                            &GenerateDataKeyInput {
                                key_id: key_id.clone(),
                                encryption_context: context.clone(),
                                key_spec: Some("AES_256".into()),
                                number_of_bytes: None,
                            },
                        )
                        .map_err(from_kms)?;
                    let plain = out.plaintext.ok_or_else(|| {
                        S3Error::internal("GenerateDataKey returned no plaintext")
                    })?;
                    let dk = DataKey::from_slice(&plain)
                        .ok_or_else(|| S3Error::internal("data key is not 32 bytes"))?;
                    (dk, out.ciphertext_blob, out.key_arn)
                };
                Ok((
                    dk,
                    SseInfo {
                        algorithm: SseAlgorithm::AwsKms,
                        kms_key_arn: Some(key_arn),
                        bucket_key: plan.bucket_key,
                        wrapped_key: STANDARD.encode(blob),
                        context,
                        context_header: plan.context_header.clone(),
                    },
                ))
            }
        }
    }

    fn bucket_key(
        &self,
        caller: &Caller,
        bucket: &str,
        key_id: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<(DataKey, Vec<u8>, String), S3Error> {
        // KMS decides for this caller every time, even when the bucket key is cached.
        let arn = self
            .kms
            .authorize_key_use(caller, "kms:GenerateDataKey", key_id, context)
            .map_err(from_kms)?;
        let cache_key = (bucket.to_string(), arn.clone(), context.clone());
        if let Some(c) = lock(&self.bucket_keys).get(&cache_key)
            && c.made.elapsed() < BUCKET_KEY_LIFETIME
        {
            return Ok((c.key.clone(), c.blob.clone(), c.key_arn.clone()));
        }
        let out = self
            .kms
            .generate_data_key(
                caller,
                &GenerateDataKeyInput {
                    key_id: arn.clone(),
                    encryption_context: context.clone(),
                    key_spec: Some("AES_256".into()),
                    number_of_bytes: None,
                },
            )
            .map_err(from_kms)?;
        let plain = out
            .plaintext
            .ok_or_else(|| S3Error::internal("GenerateDataKey returned no plaintext"))?;
        let dk = DataKey::from_slice(&plain)
            .ok_or_else(|| S3Error::internal("data key is not 32 bytes"))?;
        let cached = Arc::new(CachedBucketKey {
            key: dk.clone(),
            blob: out.ciphertext_blob.clone(),
            key_arn: out.key_arn.clone(),
            made: Instant::now(),
        });
        let mut map = lock(&self.bucket_keys);
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(cache_key, cached);
        lock(&self.opened).insert(out.ciphertext_blob.clone(), (dk.clone(), Instant::now()));
        Ok((dk, out.ciphertext_blob, out.key_arn))
    }

    /// Recovers the data key of an object (or multipart upload) for `caller`: KMS `Decrypt`
    /// (or, with a bucket key, KMS's decision on `kms:Decrypt` and the cached bucket key).
    pub fn open_key(&self, caller: &Caller, sse: &SseInfo) -> Result<DataKey, S3Error> {
        let blob = STANDARD
            .decode(&sse.wrapped_key)
            .map_err(|_| S3Error::internal("stored wrapped key is not base64"))?;
        match sse.algorithm {
            SseAlgorithm::Aes256 => self.open_s3(&blob),
            SseAlgorithm::AwsKms => {
                if sse.bucket_key {
                    let arn = sse.kms_key_arn.as_deref().unwrap_or_default();
                    self.kms
                        .authorize_key_use(caller, "kms:Decrypt", arn, &sse.context)
                        .map_err(from_kms)?;
                    if let Some((k, _)) = lock(&self.opened).get(&blob) {
                        return Ok(k.clone());
                    }
                }
                let out = self
                    .kms
                    .decrypt(
                        caller,
                        &DecryptInput {
                            ciphertext_blob: blob.clone(),
                            encryption_context: sse.context.clone(),
                            key_id: None,
                            encryption_algorithm: None,
                        },
                    )
                    .map_err(from_kms)?;
                let dk = DataKey::from_slice(&out.plaintext)
                    .ok_or_else(|| S3Error::internal("data key is not 32 bytes"))?;
                if sse.bucket_key {
                    let mut map = lock(&self.opened);
                    if map.len() >= CACHE_LIMIT {
                        map.retain(|_, (_, t)| t.elapsed() < BUCKET_KEY_LIFETIME);
                        if map.len() >= CACHE_LIMIT {
                            map.clear();
                        }
                    }
                    map.insert(blob, (dk.clone(), Instant::now()));
                }
                Ok(dk)
            }
        }
    }

    /// Checks that `caller` may use the KMS key of an existing object to make more data under
    /// it (`UploadPart` needs `kms:Decrypt` on the upload's key, as on AWS).
    pub fn authorize_decrypt(&self, caller: &Caller, sse: &SseInfo) -> Result<(), S3Error> {
        if sse.algorithm == SseAlgorithm::AwsKms {
            let arn = sse.kms_key_arn.as_deref().unwrap_or_default();
            self.kms
                .authorize_key_use(caller, "kms:Decrypt", arn, &sse.context)
                .map_err(from_kms)?;
        }
        Ok(())
    }

    fn seal_s3(&self, dk: &DataKey) -> Result<String, S3Error> {
        let mut nonce = [0u8; 12];
        fill_random(&mut nonce);
        let mut buf = dk.bytes().to_vec();
        let tag = self
            .sse_s3
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(SSE_S3_AAD),
                &mut buf,
            )
            .map_err(|_| S3Error::internal("SSE-S3 sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        out.extend_from_slice(tag.as_ref());
        Ok(STANDARD.encode(out))
    }

    fn open_s3(&self, blob: &[u8]) -> Result<DataKey, S3Error> {
        if blob.len() != 12 + 32 + 16 {
            return Err(S3Error::internal("stored SSE-S3 key has the wrong length"));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&blob[..12]);
        let mut buf = Zeroizing::new(blob[12..].to_vec());
        let plain = self
            .sse_s3
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(SSE_S3_AAD),
                &mut buf,
            )
            .map_err(|_| {
                S3Error::internal(
                    "stored SSE-S3 key failed authentication (tampered, or another server key)",
                )
            })?;
        DataKey::from_slice(plain).ok_or_else(|| S3Error::internal("SSE-S3 key is not 32 bytes"))
    }

    /// The ARN of `account`'s default S3 KMS key (what AWS calls `aws/s3`), created on first
    /// use with the AWS managed key's policy: usable by principals of the account through S3.
    pub fn default_key(&self, account: &str) -> Result<String, S3Error> {
        if let Some(arn) = lock(&self.default_keys).get(account) {
            return Ok(arn.clone());
        }
        let name = format!("aws-s3-key/{account}");
        if let Some(arn) = self.store.read()?.get_json::<String>(META, &name)? {
            lock(&self.default_keys).insert(account.to_string(), arn.clone());
            return Ok(arn);
        }
        // Serialize creation per server: take the cache lock across it.
        let mut cache = lock(&self.default_keys);
        if let Some(arn) = cache.get(account) {
            return Ok(arn.clone());
        }
        let region = self.kms.region().to_string();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Id": "auto-s3-2",
            "Statement": [
                {
                    "Sid": "Allow access through S3 for all principals in the account that are authorized to use S3",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": format!("s3.{region}.amazonaws.com")}}
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                    "Resource": "*"
                }
            ]
        });
        let root = Caller::new(
            Principal::Root {
                account: account.to_string(),
            },
            PolicySet::default(),
            Context::new(),
        );
        let meta = self
            .kms
            .create_key(
                &root,
                CreateKeyInput {
                    policy: Some(policy.to_string()),
                    description: Some(
                        "Default key that protects my S3 objects when no other key is defined"
                            .into(),
                    ),
                    bypass_policy_lockout_safety_check: true,
                    ..Default::default()
                },
            )
            .map_err(from_kms)?;
        let mut txn = self.store.write()?;
        txn.put_json(META, &name, &meta.arn)?;
        txn.commit()?;
        cache.insert(account.to_string(), meta.arn.clone());
        Ok(meta.arn)
    }
}

/// Decodes `x-amz-server-side-encryption-context`: base64 of a JSON object of strings.
pub fn parse_context_header(value: &str) -> Result<BTreeMap<String, String>, S3Error> {
    let bad = || {
        S3Error::invalid_argument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
            "x-amz-server-side-encryption-context",
            value,
        )
    };
    let bytes = STANDARD.decode(value.trim()).map_err(|_| bad())?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if map.keys().any(|k| k.starts_with("aws:")) {
        return Err(S3Error::new(
            Code::InvalidArgument,
            "The encryption context may not contain keys starting with 'aws:'",
        ));
    }
    Ok(map)
}
