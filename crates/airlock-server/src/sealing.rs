//! One root secret: the KMS master key seals, besides KMS key material, the secrets other
//! components keep at rest — CloudTrail's digest signing keys and IAM's secret access keys —
//! through the sealing traits those crates own. Each secret is bound to its label (additional
//! authenticated data with a prefix distinct from KMS key material, see
//! `MasterKey::seal_secret`), so none opens as another.

use std::sync::Arc;

/// Seals secrets of other components under the KMS master key.
pub struct MasterKeySealer(pub Arc<airlock_kms::MasterKey>);

impl std::fmt::Debug for MasterKeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeySealer").finish_non_exhaustive()
    }
}

impl airlock_cloudtrail::digest::Sealer for MasterKeySealer {
    fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        self.0.seal_secret(label, plaintext)
    }
    fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.0.open_secret(label, sealed).map(|z| z.to_vec())
    }
}

impl airlock_iam::SecretSealer for MasterKeySealer {
    fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        self.0.seal_secret(label, plaintext)
    }
    fn open(&self, label: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.0.open_secret(label, sealed).map(|z| z.to_vec())
    }
}
