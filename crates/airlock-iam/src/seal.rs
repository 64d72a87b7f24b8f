//! Secrets IAM keeps at rest (secret access keys) are stored only sealed, by a
//! [`SecretSealer`] the embedding program gives [`crate::Iam`]: IAM sees no key bytes and does
//! no file I/O. The server seals under the KMS master key (`MasterKey::seal_secret`), so one
//! root secret protects KMS key material, CloudTrail's signing keys and IAM's secrets.
//!
//! A secret access key is sealed with the label `iam-secret-access-key/ACCESS_KEY_ID` as
//! additional authenticated data: a sealed secret copied onto another key id does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Seals and opens secrets with authenticated encryption, binding `label` to the ciphertext.
pub trait SecretSealer: Send + Sync {
    /// Seals `plaintext` under `label`.
    fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8>;
    /// Opens what [`SecretSealer::seal`] sealed under the same label; `None` if it was sealed
    /// under another key or label, or altered.
    fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>>;
}

/// The label a secret access key is sealed under.
pub(crate) fn access_key_label(access_key_id: &str) -> String {
    format!("iam-secret-access-key/{access_key_id}")
}

/// A [`SecretSealer`] with AES-256-GCM under a key of its own: `nonce (12) || ciphertext ||
/// tag (16)`, the label as additional authenticated data. For programs that embed IAM without
/// KMS, and tests.
pub struct AesGcmSealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for AesGcmSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesGcmSealer").finish_non_exhaustive()
    }
}

impl AesGcmSealer {
    /// A sealer under a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        // A 32-byte key is always a valid AES-256 key.
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key");
        AesGcmSealer {
            key: LessSafeKey::new(unbound),
        }
    }
}

impl SecretSealer for AesGcmSealer {
    fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("system random generator failed");
        let mut data = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM seal of a bounded buffer");
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        out
    }

    fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_under_their_label_and_key() {
        let s = AesGcmSealer::new(&[7u8; 32]);
        let sealed = s.seal("iam-secret-access-key/AKIA1", b"secret");
        assert_eq!(
            s.open("iam-secret-access-key/AKIA1", &sealed).as_deref(),
            Some(&b"secret"[..])
        );
        assert!(s.open("iam-secret-access-key/AKIA2", &sealed).is_none());
        assert!(
            AesGcmSealer::new(&[8u8; 32])
                .open("iam-secret-access-key/AKIA1", &sealed)
                .is_none()
        );
        assert!(s.open("x", &[]).is_none());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }
}
