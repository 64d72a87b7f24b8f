//! Identifiers in AWS's formats, from the system's secure random generator.

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // The system RNG failing is not recoverable; aws-lc aborts itself in that case.
    aws_lc_rs::rand::fill(&mut bytes).expect("system random generator failed");
    bytes
        .iter()
        .map(|b| alphabet[(*b as usize) % alphabet.len()] as char)
        .collect()
}

/// A unique id with AWS's 4-letter prefix (`AIDA`, `AROA`, `ANPA`, `AIPA`): 21 characters.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(ID_ALPHABET, 17))
}

/// An access key id with the given prefix (`AKIA` long-term, `ASIA` temporary): 20 characters.
pub fn access_key_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(ID_ALPHABET, 16))
}

/// A 40-character secret access key.
pub fn secret_access_key() -> String {
    random_from(SECRET_ALPHABET, 40)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::unique_id("AROA").len(), 21);
        assert_eq!(super::access_key_id("AKIA").len(), 20);
        assert_eq!(super::secret_access_key().len(), 40);
        assert_ne!(super::secret_access_key(), super::secret_access_key());
    }
}
