//! Object checksums (`x-amz-checksum-*`) and the MD5 of `Content-MD5` and ETags.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Digest as _;
use serde::{Deserialize, Serialize};

/// A checksum algorithm S3 supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC).
    #[serde(rename = "CRC32")]
    Crc32,
    /// CRC-32C (Castagnoli).
    #[serde(rename = "CRC32C")]
    Crc32c,
    /// CRC-64/NVME.
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    /// SHA-1.
    #[serde(rename = "SHA1")]
    Sha1,
    /// SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The name S3 uses (`CRC32`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Parses a name, case-insensitively.
    pub fn parse(s: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The header carrying a value of this algorithm (`x-amz-checksum-crc32`).
    pub fn header(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The XML element name of a value (`ChecksumCRC32`).
    pub fn element(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "ChecksumCRC32",
            ChecksumAlgorithm::Crc32c => "ChecksumCRC32C",
            ChecksumAlgorithm::Crc64Nvme => "ChecksumCRC64NVME",
            ChecksumAlgorithm::Sha1 => "ChecksumSHA1",
            ChecksumAlgorithm::Sha256 => "ChecksumSHA256",
        }
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Whether multipart objects get a full-object checksum by default (CRC64NVME) rather
    /// than a composite one.
    pub fn full_object_by_default(self) -> bool {
        self == ChecksumAlgorithm::Crc64Nvme
    }
}

/// An incremental checksum.
pub enum Hasher {
    /// A CRC.
    Crc(ChecksumAlgorithm, Box<crc_fast::Digest>),
    /// SHA-1.
    Sha1(aws_lc_rs::digest::Context),
    /// SHA-256.
    Sha256(aws_lc_rs::digest::Context),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(alg: ChecksumAlgorithm) -> Hasher {
        use crc_fast::CrcAlgorithm as C;
        match alg {
            ChecksumAlgorithm::Crc32 => {
                Hasher::Crc(alg, Box::new(crc_fast::Digest::new(C::Crc32IsoHdlc)))
            }
            ChecksumAlgorithm::Crc32c => {
                Hasher::Crc(alg, Box::new(crc_fast::Digest::new(C::Crc32Iscsi)))
            }
            ChecksumAlgorithm::Crc64Nvme => {
                Hasher::Crc(alg, Box::new(crc_fast::Digest::new(C::Crc64Nvme)))
            }
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(aws_lc_rs::digest::Context::new(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            )),
            ChecksumAlgorithm::Sha256 => {
                Hasher::Sha256(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
            }
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(c) | Hasher::Sha256(c) => c.update(data),
        }
    }

    /// The digest bytes.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc(alg, d) => {
                let v = d.finalize();
                if alg == ChecksumAlgorithm::Crc64Nvme {
                    v.to_be_bytes().to_vec()
                } else {
                    (v as u32).to_be_bytes().to_vec()
                }
            }
            Hasher::Sha1(c) | Hasher::Sha256(c) => c.finish().as_ref().to_vec(),
        }
    }

    /// The digest in base64, as S3 shows checksums.
    pub fn finish_base64(self) -> String {
        STANDARD.encode(self.finish())
    }
}

/// The checksum of a whole buffer, base64.
pub fn checksum_base64(alg: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finish_base64()
}

/// Whether a checksum value decodes to the algorithm's digest length.
pub fn valid_checksum_value(alg: ChecksumAlgorithm, value: &str) -> bool {
    STANDARD
        .decode(value)
        .is_ok_and(|b| b.len() == alg.digest_len())
}

/// Incremental MD5.
#[derive(Debug, Default, Clone)]
pub struct Md5(md5::Md5);

impl Md5 {
    /// A fresh MD5.
    pub fn new() -> Md5 {
        Md5(md5::Md5::new())
    }
    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The 16-byte digest.
    pub fn finish(self) -> [u8; 16] {
        self.0.finalize().into()
    }
}

/// MD5 of a buffer.
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut m = Md5::new();
    m.update(data);
    m.finish()
}

/// A stored checksum of an object or part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    /// Algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// Base64 value (a composite value ends with `-N`).
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub composite: bool,
}

impl Checksum {
    /// `FULL_OBJECT` / `COMPOSITE`.
    pub fn kind(&self) -> &'static str {
        if self.composite {
            "COMPOSITE"
        } else {
            "FULL_OBJECT"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // "123456789" check values of each CRC, and the SHA digests of "abc".
        assert_eq!(
            checksum_base64(ChecksumAlgorithm::Crc32, b"123456789"),
            STANDARD.encode(0xcbf43926u32.to_be_bytes())
        );
        assert_eq!(
            checksum_base64(ChecksumAlgorithm::Crc32c, b"123456789"),
            STANDARD.encode(0xe3069283u32.to_be_bytes())
        );
        assert_eq!(
            checksum_base64(ChecksumAlgorithm::Crc64Nvme, b"123456789"),
            STANDARD.encode(0xae8b14860a799888u64.to_be_bytes())
        );
        assert_eq!(
            checksum_base64(ChecksumAlgorithm::Sha1, b"abc"),
            "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
        );
        assert_eq!(
            checksum_base64(ChecksumAlgorithm::Sha256, b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert_eq!(
            crate::crypto::hex(&md5(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert!(valid_checksum_value(ChecksumAlgorithm::Crc32, "y/Q5Jg=="));
        assert!(!valid_checksum_value(
            ChecksumAlgorithm::Crc32,
            "not base64"
        ));
        assert_eq!(
            ChecksumAlgorithm::parse("crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
    }
}
