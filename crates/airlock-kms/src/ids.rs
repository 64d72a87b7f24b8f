//! Key ids, ARNs and the four ways a request can name a key: key id, key ARN, alias name and
//! alias ARN.

use std::fmt;

/// The id of a KMS key: a random (version 4) UUID, written in lower case with hyphens
/// (`1234abcd-12ab-34cd-56ef-1234567890ab`). Ids are unique across every account the server
/// hosts, so a ciphertext blob can name its key by id alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 16]);

impl KeyId {
    /// A fresh random id.
    pub fn random() -> KeyId {
        let mut b = [0u8; 16];
        crate::crypto::fill_random(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        KeyId(b)
    }

    /// The id from its 16 bytes (as carried in a ciphertext blob).
    pub fn from_bytes(bytes: [u8; 16]) -> KeyId {
        KeyId(bytes)
    }

    /// The 16 bytes of the id.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the textual form (`8-4-4-4-12` hex digits, either case).
    pub fn parse(text: &str) -> Option<KeyId> {
        let b = text.as_bytes();
        if b.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            };
            out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
            nibbles += 1;
        }
        Some(KeyId(out))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = [0u8; 36];
        let mut j = 0;
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s[j] = b'-';
                j += 1;
            }
            s[j] = HEX[(byte >> 4) as usize];
            s[j + 1] = HEX[(byte & 0xf) as usize];
            j += 2;
        }
        // Only ASCII hex digits and hyphens were written.
        f.write_str(std::str::from_utf8(&s).map_err(|_| fmt::Error)?)
    }
}

/// The ARN of a key: `arn:aws:kms:REGION:ACCOUNT:key/KEY_ID`.
pub fn key_arn(region: &str, account: &str, key_id: &KeyId) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{key_id}")
}

/// The ARN of an alias: `arn:aws:kms:REGION:ACCOUNT:alias/NAME` (`alias_name` includes `alias/`).
pub fn alias_arn(region: &str, account: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:{alias_name}")
}

/// How a request names a key (the `KeyId` parameter of most KMS operations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyIdentifier {
    /// A bare key id: the key is in the caller's account and the server's region.
    KeyId(KeyId),
    /// A key ARN.
    KeyArn {
        /// The region in the ARN.
        region: String,
        /// The account in the ARN.
        account: String,
        /// The key id.
        key_id: KeyId,
    },
    /// An alias name (`alias/NAME`), in the caller's account.
    AliasName(String),
    /// An alias ARN.
    AliasArn {
        /// The region in the ARN.
        region: String,
        /// The account in the ARN.
        account: String,
        /// The alias name, `alias/NAME`.
        alias_name: String,
    },
}

/// [`KeyIdentifier`] borrowing from the request (the hot path allocates nothing to resolve a key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRef<'a> {
    KeyId(KeyId),
    KeyArn {
        region: &'a str,
        account: &'a str,
        key_id: KeyId,
    },
    AliasName(&'a str),
    AliasArn {
        region: &'a str,
        account: &'a str,
        alias_name: &'a str,
    },
}

impl<'a> KeyRef<'a> {
    pub(crate) fn parse(text: &'a str) -> Option<KeyRef<'a>> {
        if let Some(rest) = text.strip_prefix("arn:") {
            let mut parts = rest.splitn(5, ':');
            let partition = parts.next()?;
            let service = parts.next()?;
            let region = parts.next()?;
            let account = parts.next()?;
            let resource = parts.next()?;
            if partition != "aws" || service != "kms" || region.is_empty() || !is_account(account) {
                return None;
            }
            if let Some(id) = resource.strip_prefix("key/") {
                return Some(KeyRef::KeyArn {
                    region,
                    account,
                    key_id: KeyId::parse(id)?,
                });
            }
            if resource.starts_with("alias/") && resource.len() > "alias/".len() {
                return Some(KeyRef::AliasArn {
                    region,
                    account,
                    alias_name: resource,
                });
            }
            return None;
        }
        if text.starts_with("alias/") {
            if text.len() == "alias/".len() {
                return None;
            }
            return Some(KeyRef::AliasName(text));
        }
        KeyId::parse(text).map(KeyRef::KeyId)
    }
}

impl KeyIdentifier {
    /// Parses a `KeyId` request parameter. `None` when it is none of the four forms; the caller
    /// reports that as AWS does (`NotFoundException: Invalid keyId ...`).
    pub fn parse(text: &str) -> Option<KeyIdentifier> {
        Some(match KeyRef::parse(text)? {
            KeyRef::KeyId(id) => KeyIdentifier::KeyId(id),
            KeyRef::KeyArn {
                region,
                account,
                key_id,
            } => KeyIdentifier::KeyArn {
                region: region.to_string(),
                account: account.to_string(),
                key_id,
            },
            KeyRef::AliasName(n) => KeyIdentifier::AliasName(n.to_string()),
            KeyRef::AliasArn {
                region,
                account,
                alias_name,
            } => KeyIdentifier::AliasArn {
                region: region.to_string(),
                account: account.to_string(),
                alias_name: alias_name.to_string(),
            },
        })
    }

    /// The alias name if the key is named by an alias (the value of `kms:RequestAlias`).
    pub fn alias_name(&self) -> Option<&str> {
        match self {
            KeyIdentifier::AliasName(n) => Some(n),
            KeyIdentifier::AliasArn { alias_name, .. } => Some(alias_name),
            _ => None,
        }
    }
}

/// True for a 12-digit account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_id_round_trips_in_lower_case() {
        let id = KeyId::parse("1234ABCD-12ab-34cd-56ef-1234567890ab").unwrap();
        assert_eq!(id.to_string(), "1234abcd-12ab-34cd-56ef-1234567890ab");
        let r = KeyId::random();
        assert_eq!(KeyId::parse(&r.to_string()), Some(r));
        assert_eq!(r.to_string().as_bytes()[14], b'4');
    }

    #[test]
    fn identifiers_in_all_four_forms() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let key = KeyId::parse(id).unwrap();
        assert_eq!(KeyIdentifier::parse(id), Some(KeyIdentifier::KeyId(key)));
        assert_eq!(
            KeyIdentifier::parse(&format!("arn:aws:kms:us-east-1:222222222222:key/{id}")),
            Some(KeyIdentifier::KeyArn {
                region: "us-east-1".into(),
                account: "222222222222".into(),
                key_id: key
            })
        );
        assert_eq!(
            KeyIdentifier::parse("alias/cross-account-s3-key"),
            Some(KeyIdentifier::AliasName(
                "alias/cross-account-s3-key".into()
            ))
        );
        assert_eq!(
            KeyIdentifier::parse("arn:aws:kms:us-east-1:222222222222:alias/cross-account-s3-key"),
            Some(KeyIdentifier::AliasArn {
                region: "us-east-1".into(),
                account: "222222222222".into(),
                alias_name: "alias/cross-account-s3-key".into()
            })
        );
        for bad in [
            "",
            "alias/",
            "not-a-key",
            "arn:aws:kms:us-east-1:2222:key/x",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:222222222222:key/nope",
            "1234abcd-12ab-34cd-56ef-1234567890aZ",
        ] {
            assert_eq!(KeyIdentifier::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn identifier_parser_never_panics(s in "\\PC*") {
            let _ = KeyIdentifier::parse(&s);
            let _ = KeyId::parse(&s);
        }

        #[test]
        fn key_id_text_round_trip(bytes in any::<[u8; 16]>()) {
            let id = KeyId::from_bytes(bytes);
            prop_assert_eq!(KeyId::parse(&id.to_string()), Some(id));
        }
    }
}
