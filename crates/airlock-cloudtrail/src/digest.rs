//! Digest files and their signing keys.
//!
//! A digest file lists the log files a trail delivered to a region during one period with
//! the SHA-256 of each (uncompressed), and chains to the previous digest by its bucket, key,
//! SHA-256 and signature. It is signed with SHA256withRSA (RSA PKCS#1 v1.5, 2048-bit key, one
//! key pair per region) over the string
//!
//! ```text
//! digestEndTime \n digestS3Bucket/digestS3Object \n hex(SHA-256(uncompressed digest)) \n previousDigestSignature-or-"null"
//! ```
//!
//! and the hex signature is stored in the S3 object's metadata (`x-amz-meta-signature`,
//! `x-amz-meta-signature-algorithm`), as CloudTrail does. Public keys are served by
//! `ListPublicKeys` as DER `RSAPublicKey` (PKCS#1) with the fingerprint = hex MD5 of that DER.
//!
//! Private keys are stored only sealed by a [`Sealer`] (the server's KMS master key).

use std::sync::{Arc, Mutex};

use airlock_store::{Store, StoreError, StoreExt, WriteExt};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

const KEYS: &str = "cloudtrail-signing-keys";

/// The signature algorithm CloudTrail names.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// The hash algorithm of log files and previous digests.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// How long a signing key pair is used before a new one is made.
pub const KEY_VALIDITY_MS: i64 = 365 * 24 * 3600 * 1000;

/// Seals and opens secrets at rest (the server implements it with the KMS master key).
pub trait Sealer: Send + Sync {
    /// Seals `plaintext`, bound to `label`.
    fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8>;
    /// Opens what [`Sealer::seal`] sealed with the same label.
    fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>>;
}

/// One entry of the `logFiles` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLogFile {
    /// Bucket.
    pub s3_bucket: String,
    /// Key.
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed log file.
    pub hash_value: String,
    /// `SHA-256`.
    pub hash_algorithm: String,
    /// Newest event time in the file.
    pub newest_event_time: String,
    /// Oldest event time in the file.
    pub oldest_event_time: String,
}

/// A digest file, fields in CloudTrail's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// Account of the trail.
    pub aws_account_id: String,
    /// Period start (`YYYY-MM-DDTHH:MM:SSZ`).
    pub digest_start_time: String,
    /// Period end.
    pub digest_end_time: String,
    /// Bucket of this digest.
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    /// Key of this digest.
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    /// Fingerprint of the signing key's public key.
    pub digest_public_key_fingerprint: String,
    /// `SHA256withRSA`.
    pub digest_signature_algorithm: String,
    /// Newest event time over the log files (`null` without log files).
    pub newest_event_time: Option<String>,
    /// Oldest event time over the log files.
    pub oldest_event_time: Option<String>,
    /// Previous digest's bucket (`null` for the first digest of a chain).
    #[serde(rename = "previousDigestS3Bucket")]
    pub previous_digest_s3_bucket: Option<String>,
    /// Previous digest's key.
    #[serde(rename = "previousDigestS3Object")]
    pub previous_digest_s3_object: Option<String>,
    /// Hex SHA-256 of the previous digest (uncompressed).
    pub previous_digest_hash_value: Option<String>,
    /// `SHA-256`.
    pub previous_digest_hash_algorithm: Option<String>,
    /// Previous digest's hex signature.
    pub previous_digest_signature: Option<String>,
    /// The log files of the period.
    pub log_files: Vec<DigestLogFile>,
}

/// The string CloudTrail signs for a digest.
pub fn string_to_sign(
    digest_end_time: &str,
    bucket: &str,
    key: &str,
    uncompressed: &[u8],
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{bucket}/{key}\n{}\n{}",
        sha256_hex(uncompressed),
        previous_signature.unwrap_or("null")
    )
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex; `None` if malformed.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The fingerprint CloudTrail gives a public key: hex MD5 of its DER.
pub fn fingerprint(public_der: &[u8]) -> String {
    hex(&md5::Md5::digest(public_der))
}

/// Verifies a hex SHA256withRSA signature of `data` by a DER (`RSAPublicKey`) public key.
pub fn verify(public_der: &[u8], data: &[u8], signature_hex: &str) -> bool {
    let Some(sig) = unhex(signature_hex) else {
        return false;
    };
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_der)
        .verify(data, &sig)
        .is_ok()
}

/// A public key as `ListPublicKeys` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// DER `RSAPublicKey`.
    pub value: Vec<u8>,
    /// Validity start (ms).
    pub validity_start_ms: i64,
    /// Validity end (ms).
    pub validity_end_ms: i64,
    /// Hex MD5 of `value`.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    region: String,
    public_der_b64: String,
    sealed_private_b64: String,
    fingerprint: String,
    valid_from_ms: i64,
    valid_to_ms: i64,
}

impl StoredKey {
    fn public(&self) -> PublicKeyInfo {
        PublicKeyInfo {
            value: STANDARD.decode(&self.public_der_b64).unwrap_or_default(),
            validity_start_ms: self.valid_from_ms,
            validity_end_ms: self.valid_to_ms,
            fingerprint: self.fingerprint.clone(),
        }
    }

    fn label(&self) -> String {
        format!("cloudtrail-digest-key/{}/{}", self.region, self.fingerprint)
    }
}

/// Errors of the key ring.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key generation or signing failed.
    #[error("RSA: {0}")]
    Crypto(String),
    /// A sealed private key did not open (another master key?).
    #[error("the CloudTrail signing key {0} does not open under the master key")]
    Sealed(String),
}

/// The per-region signing key pairs, private halves sealed at rest.
pub struct KeyRing {
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

/// A signature made by the key ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Hex signature.
    pub signature: String,
    /// Fingerprint of the key used.
    pub fingerprint: String,
}

impl KeyRing {
    /// A key ring over `store`, sealing with `sealer`.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<dyn Sealer>) -> Self {
        KeyRing {
            store,
            sealer,
            lock: Mutex::new(()),
        }
    }

    fn keys(&self, region: &str) -> Result<Vec<StoredKey>, StoreError> {
        self.store
            .read()?
            .scan_json::<StoredKey>(KEYS, &format!("{region}/"))
    }

    /// The key pair in use in `region` at `now_ms`, made (and stored sealed) if there is none.
    fn current(&self, region: &str, now_ms: i64) -> Result<StoredKey, KeyError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = self
            .keys(region)?
            .into_iter()
            .rev()
            .find(|k| k.valid_from_ms <= now_ms && now_ms < k.valid_to_ms)
        {
            return Ok(k);
        }
        let pair = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let pkcs8 = pair.as_der().map_err(|e| KeyError::Crypto(e.to_string()))?;
        let public_der = pair.public_key().as_ref().to_vec();
        let fp = fingerprint(&public_der);
        let mut k = StoredKey {
            region: region.to_string(),
            public_der_b64: STANDARD.encode(&public_der),
            sealed_private_b64: String::new(),
            fingerprint: fp,
            valid_from_ms: now_ms,
            valid_to_ms: now_ms + KEY_VALIDITY_MS,
        };
        let sealed = self.sealer.seal(&k.label(), pkcs8.as_ref());
        k.sealed_private_b64 = STANDARD.encode(sealed);
        let mut txn = self.store.write()?;
        txn.put_json(KEYS, &format!("{region}/{now_ms:020}"), &k)?;
        txn.commit()?;
        Ok(k)
    }

    /// Signs `data` with the region's current key.
    pub fn sign(&self, region: &str, now_ms: i64, data: &[u8]) -> Result<Signed, KeyError> {
        let k = self.current(region, now_ms)?;
        let sealed = STANDARD
            .decode(&k.sealed_private_b64)
            .map_err(|_| KeyError::Sealed(k.fingerprint.clone()))?;
        let pkcs8 = self
            .sealer
            .open(&k.label(), &sealed)
            .ok_or_else(|| KeyError::Sealed(k.fingerprint.clone()))?;
        let pair = signature::RsaKeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            data,
            &mut sig,
        )
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
        Ok(Signed {
            signature: hex(&sig),
            fingerprint: k.fingerprint,
        })
    }

    /// Public keys of `region` valid at some time in `[start_ms, end_ms]` (`ListPublicKeys`).
    /// With no key yet, the region's key is made now so that one is always listed.
    pub fn public_keys(
        &self,
        region: &str,
        start_ms: i64,
        end_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<PublicKeyInfo>, KeyError> {
        if self.keys(region)?.is_empty() {
            self.current(region, now_ms)?;
        }
        Ok(self
            .keys(region)?
            .iter()
            .filter(|k| k.valid_from_ms <= end_ms && start_ms < k.valid_to_ms)
            .map(StoredKey::public)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_store::RedbStore;

    /// A sealer for tests: XOR with a label-derived pad plus the label as a tag. Enough to
    /// prove the ring never stores the PKCS#8 bytes as they are and checks the label.
    struct TestSealer;
    impl Sealer for TestSealer {
        fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
            let mut out = label.as_bytes().to_vec();
            out.push(0);
            out.extend(plaintext.iter().map(|b| b ^ 0x5a));
            out
        }
        fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>> {
            let rest = sealed.strip_prefix(label.as_bytes())?.strip_prefix(&[0])?;
            Some(rest.iter().map(|b| b ^ 0x5a).collect())
        }
    }

    #[test]
    fn signatures_verify_with_the_listed_public_key_and_detect_changes() {
        let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
        let ring = KeyRing::new(store.clone(), Arc::new(TestSealer));
        let digest = br#"{"awsAccountId":"111111111111"}"#;
        let to_sign = string_to_sign("2026-01-01T01:00:00Z", "b", "k.json.gz", digest, None);
        assert!(to_sign.ends_with("\nnull"));
        let s = ring.sign("us-east-1", 1000, to_sign.as_bytes()).unwrap();
        let keys = ring.public_keys("us-east-1", 0, 2000, 2000).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].fingerprint, s.fingerprint);
        assert_eq!(fingerprint(&keys[0].value), s.fingerprint);
        assert!(verify(&keys[0].value, to_sign.as_bytes(), &s.signature));
        let changed = string_to_sign("2026-01-01T01:00:00Z", "b", "k.json.gz", b"{}", None);
        assert!(!verify(&keys[0].value, changed.as_bytes(), &s.signature));
        // The same key is reused; another region has its own.
        let again = ring.sign("us-east-1", 1500, b"x").unwrap();
        assert_eq!(again.fingerprint, s.fingerprint);
        let other = ring.sign("eu-west-1", 1500, b"x").unwrap();
        assert_ne!(other.fingerprint, s.fingerprint);
        // The private key is not stored as it is.
        let raw = store.read().unwrap().scan_prefix(KEYS, "").unwrap();
        for (_, v) in raw {
            let k: StoredKey = serde_json::from_slice(&v).unwrap();
            let sealed = STANDARD.decode(k.sealed_private_b64).unwrap();
            assert!(aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&sealed).is_err());
        }
    }

    #[test]
    fn digest_serializes_with_cloudtrails_field_names_and_nulls() {
        let d = Digest {
            aws_account_id: "111111111111".into(),
            digest_start_time: "a".into(),
            digest_end_time: "b".into(),
            digest_s3_bucket: "bucket".into(),
            digest_s3_object: "key".into(),
            digest_public_key_fingerprint: "fp".into(),
            digest_signature_algorithm: SIGNATURE_ALGORITHM.into(),
            newest_event_time: None,
            oldest_event_time: None,
            previous_digest_s3_bucket: None,
            previous_digest_s3_object: None,
            previous_digest_hash_value: None,
            previous_digest_hash_algorithm: None,
            previous_digest_signature: None,
            log_files: vec![],
        };
        let v = serde_json::to_value(&d).unwrap();
        for k in [
            "awsAccountId",
            "digestStartTime",
            "digestEndTime",
            "digestS3Bucket",
            "digestS3Object",
            "digestPublicKeyFingerprint",
            "digestSignatureAlgorithm",
            "newestEventTime",
            "oldestEventTime",
            "previousDigestS3Bucket",
            "previousDigestS3Object",
            "previousDigestHashValue",
            "previousDigestHashAlgorithm",
            "previousDigestSignature",
            "logFiles",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert!(v["previousDigestSignature"].is_null());
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(
            unhex(&hex(&[0, 1, 254, 255])).unwrap(),
            vec![0, 1, 254, 255]
        );
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
    }
}
