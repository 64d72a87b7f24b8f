//! Policy documents: validation through the engine's parser, and a cache of parsed policies so
//! that the request pipeline does not re-parse the same document on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock_policy::{NamedPolicy, Policy, PolicyId, PolicyKind};

use crate::IamError;

/// Parses a document as the engine does; the error carries the parser's reason
/// (`MalformedPolicyDocument`).
pub fn parse(document: &str, kind: PolicyKind) -> Result<Policy, IamError> {
    Policy::parse(document, kind).map_err(|e| IamError::MalformedPolicyDocument(e.to_string()))
}

/// Parsed policies by (kind, document text). Bounded: cleared when it grows past its capacity.
#[derive(Debug, Default)]
pub struct PolicyCache {
    map: Mutex<HashMap<(PolicyKind, String), Arc<Policy>>>,
}

const CAPACITY: usize = 4096;

impl PolicyCache {
    /// The parsed form of `document`, from the cache or freshly parsed.
    pub fn get(&self, document: &str, kind: PolicyKind) -> Result<Arc<Policy>, IamError> {
        let key = (kind, document.to_string());
        if let Ok(map) = self.map.lock()
            && let Some(p) = map.get(&key)
        {
            return Ok(p.clone());
        }
        let parsed = Arc::new(parse(document, kind)?);
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(key, parsed.clone());
        }
        Ok(parsed)
    }

    /// A [`NamedPolicy`] for `document`.
    pub fn named(
        &self,
        document: &str,
        kind: PolicyKind,
        name: String,
    ) -> Result<NamedPolicy, IamError> {
        Ok(NamedPolicy {
            id: PolicyId { kind, name },
            policy: self.get(document, kind)?,
        })
    }
}

/// Size of a policy document as IAM counts it for quotas: characters other than whitespace.
pub fn quota_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}
