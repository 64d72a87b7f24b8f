//! Bucket names, object keys and ARNs.

use crate::error::{Code, S3Error};

/// The longest object key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// `arn:aws:s3:::BUCKET`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `arn:aws:s3:::BUCKET/KEY`.
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The canonical user id S3 shows for an account (`Owner/ID`): 64 hex digits, stable per
/// account.
pub fn canonical_id(account: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("airlock canonical user {account}").as_bytes(),
    );
    crate::crypto::hex(d.as_ref())
}

/// Checks a bucket name against S3's general-purpose bucket naming rules.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let bad = || {
        S3Error::new(
            Code::InvalidBucketName,
            "The specified bucket is not valid.",
        )
        .with("BucketName", name)
    };
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Err(bad());
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return Err(bad());
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(bad());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(bad());
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(bad());
        }
    }
    Ok(())
}

/// Checks an object key: 1 to 1024 bytes, no NUL (airlock's store separates keys with it).
pub fn validate_key(key: &str) -> Result<(), S3Error> {
    if key.is_empty() {
        return Err(S3Error::invalid_argument(
            "Key must not be empty",
            "key",
            key,
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(S3Error::new(Code::KeyTooLongError, "Your key is too long")
            .with("Size", key.len().to_string())
            .with("MaxSizeAllowed", MAX_KEY_LEN.to_string()));
    }
    if key.contains('\0') {
        return Err(S3Error::invalid_argument(
            "Object keys containing the NUL character are not supported by airlock",
            "key",
            &key.replace('\0', "\\0"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in [
            "cross-account-secure-bucket-demo",
            "abc",
            "a.b.c",
            "my-bucket-1",
            "123",
        ] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a_b",
            &"a".repeat(64),
            "a.-b",
        ] {
            let e = validate_bucket_name(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidBucketName, "{bad}");
        }
    }

    #[test]
    fn keys_are_bounded() {
        assert!(validate_key("a/b/c.txt").is_ok());
        assert_eq!(
            validate_key(&"k".repeat(1025)).unwrap_err().code,
            Code::KeyTooLongError
        );
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert!(validate_key("").is_err());
    }

    proptest! {
        #[test]
        fn validation_never_panics(s in ".*") {
            let _ = validate_bucket_name(&s);
            let _ = validate_key(&s);
        }
    }
}
