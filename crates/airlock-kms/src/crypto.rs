//! The cryptography: AES-256-GCM (aws-lc-rs), the ciphertext blob format, and the encoding of
//! the encryption context as additional authenticated data.
//!
//! # Ciphertext blob format (version 1)
//!
//! ```text
//! offset  size  field
//!      0     1  format version, 0x01
//!      1    16  key id (the UUID's 16 bytes)
//!     17     4  key-material version, big-endian u32 (1 = the key's original material,
//!               +1 per rotation)
//!     21    12  AES-GCM nonce (random per ciphertext)
//!     33     n  AES-256-GCM ciphertext of the n plaintext bytes
//!   33+n    16  AES-GCM authentication tag
//! ```
//!
//! The additional authenticated data is the 33-byte header followed by the canonical encoding of
//! the encryption context: its pairs sorted by key (byte order), each written as
//! `u32be(len(key)) key u32be(len(value)) value`. Tampering with any header byte, the body, or
//! decrypting with a different encryption context fails authentication, which KMS reports as
//! `InvalidCiphertextException`. Because the blob names the key-material version, rotation
//! only adds material: every older ciphertext still names the material that decrypts it.

use std::collections::BTreeMap;

pub(crate) use aws_lc_rs::aead::NONCE_LEN;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::ids::KeyId;

/// The length of a key: 256-bit AES.
pub const KEY_LEN: usize = 32;
/// The length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// The format version byte of ciphertext blobs written by this airlock.
pub const BLOB_FORMAT_VERSION: u8 = 1;
/// The length of a blob's header (version, key id, material version, nonce).
pub const BLOB_HEADER_LEN: usize = 1 + 16 + 4 + NONCE_LEN;
/// The overhead a ciphertext blob adds to its plaintext.
pub const BLOB_OVERHEAD: usize = BLOB_HEADER_LEN + TAG_LEN;

/// An encryption context: non-secret string pairs bound to a ciphertext.
pub type EncryptionContext = BTreeMap<String, String>;

/// Fills `buf` with cryptographically secure random bytes.
pub fn fill_random(buf: &mut [u8]) {
    // aws-lc-rs's generator only fails if the OS entropy source is unusable, in which case
    // continuing would be worse than stopping: no key or nonce may come from a broken source.
    if aws_lc_rs::rand::fill(buf).is_err() {
        std::process::abort();
    }
}

/// An AES-256-GCM key ready for use.
pub(crate) struct AeadKey(LessSafeKey);

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}

impl AeadKey {
    /// A key from 32 bytes; `None` for any other length.
    pub(crate) fn new(bytes: &[u8]) -> Option<AeadKey> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        UnboundKey::new(&AES_256_GCM, bytes)
            .ok()
            .map(|k| AeadKey(LessSafeKey::new(k)))
    }

    /// Encrypts `plaintext` under `nonce` and `aad`, writing `ciphertext || tag` after what
    /// `out` already holds.
    pub(crate) fn seal_into(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let start = out.len();
        out.extend_from_slice(plaintext);
        match self.0.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[start..],
        ) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                true
            }
            Err(_) => {
                out.truncate(start);
                false
            }
        }
    }

    /// Decrypts `ciphertext || tag`; `None` if authentication fails.
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        if ciphertext_and_tag.len() < TAG_LEN {
            return None;
        }
        let mut buf = Zeroizing::new(ciphertext_and_tag.to_vec());
        let len = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }
}

/// A random nonce.
pub(crate) fn random_nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    fill_random(&mut n);
    n
}

/// The parsed header of a ciphertext blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    /// The key that encrypted the blob.
    pub key_id: KeyId,
    /// The key-material version that encrypted it.
    pub material_version: u32,
    /// The nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl BlobHeader {
    /// Reads the header of a blob; `None` if the blob is not a version-1 airlock ciphertext.
    /// (Authenticity is established only by decrypting.)
    pub fn parse(blob: &[u8]) -> Option<BlobHeader> {
        if blob.len() < BLOB_OVERHEAD || blob[0] != BLOB_FORMAT_VERSION {
            return None;
        }
        let key_id = KeyId::from_bytes(blob[1..17].try_into().ok()?);
        let material_version = u32::from_be_bytes(blob[17..21].try_into().ok()?);
        let nonce = blob[21..BLOB_HEADER_LEN].try_into().ok()?;
        Some(BlobHeader {
            key_id,
            material_version,
            nonce,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(BLOB_FORMAT_VERSION);
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(&self.material_version.to_be_bytes());
        out.extend_from_slice(&self.nonce);
    }
}

/// Appends the canonical encoding of `context` to `out`.
pub fn encode_context(context: &EncryptionContext, out: &mut Vec<u8>) {
    for (k, v) in context {
        // Lengths are bounded by the request size checks long before 4 GiB.
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

fn blob_aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(
        header.len()
            + context
                .iter()
                .map(|(k, v)| 8 + k.len() + v.len())
                .sum::<usize>(),
    );
    aad.extend_from_slice(header);
    encode_context(context, &mut aad);
    aad
}

/// Encrypts `plaintext` into a ciphertext blob under `material` (version `material_version` of
/// key `key_id`) with a fresh random `nonce`, binding `context`.
pub(crate) fn seal_blob(
    material: &AeadKey,
    key_id: KeyId,
    material_version: u32,
    nonce: [u8; NONCE_LEN],
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Option<Vec<u8>> {
    let header = BlobHeader {
        key_id,
        material_version,
        nonce,
    };
    let mut out = Vec::with_capacity(BLOB_OVERHEAD + plaintext.len());
    header.write(&mut out);
    let aad = blob_aad(&out, context);
    material
        .seal_into(header.nonce, &aad, plaintext, &mut out)
        .then_some(out)
}

/// Decrypts a ciphertext blob whose header is `header` under `material`; `None` if the blob is
/// not authentic under this material and context.
pub(crate) fn open_blob(
    material: &AeadKey,
    header: &BlobHeader,
    blob: &[u8],
    context: &EncryptionContext,
) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < BLOB_OVERHEAD {
        return None;
    }
    let aad = blob_aad(&blob[..BLOB_HEADER_LEN], context);
    material.open(header.nonce, &aad, &blob[BLOB_HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> AeadKey {
        AeadKey::new(&[7u8; 32]).unwrap()
    }

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blob_round_trip_and_header() {
        let id = KeyId::random();
        let c = ctx(&[("aws:s3:arn", "arn:aws:s3:::b/k")]);
        let blob = seal_blob(&key(), id, 3, random_nonce(), b"hello", &c).unwrap();
        assert_eq!(blob.len(), 5 + BLOB_OVERHEAD);
        let h = BlobHeader::parse(&blob).unwrap();
        assert_eq!((h.key_id, h.material_version), (id, 3));
        assert_eq!(&open_blob(&key(), &h, &blob, &c).unwrap()[..], b"hello");
    }

    #[test]
    fn wrong_context_tampering_and_wrong_key_fail() {
        let id = KeyId::random();
        let c = ctx(&[("purpose", "test")]);
        let blob = seal_blob(&key(), id, 1, random_nonce(), b"secret", &c).unwrap();
        let h = BlobHeader::parse(&blob).unwrap();
        assert!(open_blob(&key(), &h, &blob, &ctx(&[("purpose", "other")])).is_none());
        assert!(open_blob(&key(), &h, &blob, &EncryptionContext::new()).is_none());
        // Ambiguity check: {"ab": "c"} and {"a": "bc"} must not encode alike.
        let b2 = seal_blob(&key(), id, 1, random_nonce(), b"x", &ctx(&[("ab", "c")])).unwrap();
        let h2 = BlobHeader::parse(&b2).unwrap();
        assert!(open_blob(&key(), &h2, &b2, &ctx(&[("a", "bc")])).is_none());
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 1;
            if let Some(th) = BlobHeader::parse(&t) {
                assert!(open_blob(&key(), &th, &t, &c).is_none(), "byte {i}");
            }
        }
        let other = AeadKey::new(&[8u8; 32]).unwrap();
        assert!(open_blob(&other, &h, &blob, &c).is_none());
    }

    #[test]
    fn short_or_foreign_blobs_are_not_parsed() {
        assert!(BlobHeader::parse(b"").is_none());
        assert!(BlobHeader::parse(&[1u8; BLOB_OVERHEAD - 1]).is_none());
        assert!(BlobHeader::parse(&[2u8; 100]).is_none());
    }

    proptest! {
        #[test]
        fn header_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(h) = BlobHeader::parse(&bytes) {
                prop_assert!(open_blob(&key(), &h, &bytes, &EncryptionContext::new()).is_none());
            }
        }
    }
}
