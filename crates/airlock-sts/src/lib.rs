//! # airlock-sts
//!
//! The STS domain of airlock: the rules of `AssumeRole` (what must be authorized, duration
//! limits, role chaining, session tags, session policies, source identity), the temporary
//! credentials it issues, and `GetCallerIdentity`.
//!
//! Sessions are *self-validating*: the session token is the session record sealed with
//! AES-256-GCM under a server key, so nothing is written per `AssumeRole`, and sessions survive
//! restarts as long as the key does (the server keeps it in a 0600 file in its data directory).
//! A token that was altered, or sealed under another key, does not open.
//!
//! A session is bound to its role's unique id ([`Session::role_id`], `AROA...`), which every
//! token carries: the server accepts a session only while a role of that name *and* that id
//! exists (`Iam::session_role_policies`), so a session of a deleted role is refused, also after
//! a role of the same name is created again. A token without the id does not open.
//!
//! Authorization is not decided here: [`AssumeRoleInput::required_actions`] and
//! [`AssumeRoleInput::context`] say what the request pipeline must ask the policy engine, with
//! the role's trust policy as the resource policy. Only after the engine allows does the
//! pipeline call [`Sts::issue`].
//!
//! ```
//! use airlock_sts::{Sts, Session};
//! let sts = Sts::new([7u8; 32]);
//! let session = Session::example();
//! let token = sts.seal(&session);
//! let opened = sts.open(&session.access_key_id, &token, session.issued).unwrap();
//! assert_eq!(opened, session);
//! ```
#![deny(missing_docs)]

mod session;

pub use session::{AssumeRoleInput, Credentials, Session, SessionCaller, packed_policy_size};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// An STS error, with AWS's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    /// `ValidationError` (400).
    #[error("{0}")]
    Validation(String),
    /// `MalformedPolicyDocument` (400).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// `PackedPolicyTooLarge` (400).
    #[error("{0}")]
    PackedPolicyTooLarge(String),
    /// `AccessDenied` (403) decided by STS itself (e.g. root callers may not assume roles).
    #[error("{0}")]
    AccessDenied(String),
    /// `InvalidClientTokenId` (403): the token does not open or does not match the key id.
    #[error("The security token included in the request is invalid.")]
    InvalidToken,
    /// `ExpiredToken` (400).
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

impl StsError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            StsError::Validation(_) => "ValidationError",
            StsError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            StsError::PackedPolicyTooLarge(_) => "PackedPolicyTooLarge",
            StsError::AccessDenied(_) => "AccessDenied",
            StsError::InvalidToken => "InvalidClientTokenId",
            StsError::ExpiredToken => "ExpiredToken",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            StsError::AccessDenied(_) | StsError::InvalidToken => 403,
            _ => 400,
        }
    }
}

const TOKEN_VERSION: u8 = 1;
const AAD: &[u8] = b"airlock-sts-session-v1";

/// The STS service: seals and opens sessions under a server key.
pub struct Sts {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sts").finish_non_exhaustive()
    }
}

impl Sts {
    /// STS with a 256-bit server key.
    pub fn new(key: [u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256-GCM.
        let unbound = UnboundKey::new(&AES_256_GCM, &key).expect("32-byte AES-256 key");
        Sts {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Seals a session into a session token.
    pub fn seal(&self, session: &Session) -> String {
        self.seal_record(serde_json::to_vec(session).expect("sessions serialize"))
    }

    fn seal_record(&self, mut data: Vec<u8>) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("system random generator failed");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .expect("AES-GCM seal of a bounded buffer");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + data.len());
        out.push(TOKEN_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        STANDARD.encode(out)
    }

    /// Opens a session token presented with `access_key_id` at time `now` (Unix seconds).
    pub fn open(&self, access_key_id: &str, token: &str, now: i64) -> Result<Session, StsError> {
        let raw = STANDARD
            .decode(token.trim())
            .map_err(|_| StsError::InvalidToken)?;
        if raw.len() < 1 + NONCE_LEN + 16 || raw[0] != TOKEN_VERSION {
            return Err(StsError::InvalidToken);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&raw[1..1 + NONCE_LEN]);
        let mut data = raw[1 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut data,
            )
            .map_err(|_| StsError::InvalidToken)?;
        let session: Session = serde_json::from_slice(plain).map_err(|_| StsError::InvalidToken)?;
        if session.access_key_id != access_key_id {
            return Err(StsError::InvalidToken);
        }
        if now >= session.expiration {
            return Err(StsError::ExpiredToken);
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tampered_and_foreign_tokens_do_not_open() {
        let sts = Sts::new([1u8; 32]);
        let s = Session::example();
        let token = sts.seal(&s);
        let mut raw = STANDARD.decode(&token).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            sts.open(&s.access_key_id, &STANDARD.encode(&raw), s.issued),
            Err(StsError::InvalidToken)
        );
        let other = Sts::new([2u8; 32]);
        assert_eq!(
            other.open(&s.access_key_id, &token, s.issued),
            Err(StsError::InvalidToken)
        );
        assert_eq!(
            sts.open("ASIAOTHER", &token, s.issued),
            Err(StsError::InvalidToken)
        );
        assert_eq!(
            sts.open(&s.access_key_id, &token, s.expiration),
            Err(StsError::ExpiredToken)
        );
    }

    #[test]
    fn a_token_without_the_role_unique_id_does_not_open() {
        // Every token airlock sealed carries the role's unique id; a record without it (hand
        // made, or from a format that never existed) is refused, never resolved by role name.
        let sts = Sts::new([1u8; 32]);
        let s = Session::example();
        let mut record = serde_json::to_value(&s).unwrap();
        record.as_object_mut().unwrap().remove("role_id");
        let token = sts.seal_record(serde_json::to_vec(&record).unwrap());
        assert_eq!(
            sts.open(&s.access_key_id, &token, s.issued),
            Err(StsError::InvalidToken)
        );
    }

    proptest! {
        #[test]
        fn open_never_panics(token in ".*") {
            let sts = Sts::new([1u8; 32]);
            let _ = sts.open("ASIA", &token, 0);
        }
    }
}
