//! One differential case: a request as airlock sees it and the raw policy documents that apply.
//!
//! The JSON form of a [`Case`] is the exchange format with `tests/oracle/decide.mjs` and is
//! what the test prints on a mismatch, so any failing case can be replayed through both sides
//! (`AIRLOCK_DIFF_REPLAY=FILE cargo test -p airlock-policy --test differential`, and
//! `node tests/oracle/decide.mjs --explain < FILE`).

use std::sync::Arc;

use airlock_policy::{NamedPolicy, Policy, PolicyId, PolicyKind, PolicySet, Request};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request and the policy documents that apply to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    /// Position in the batch (also how the oracle's answers are matched up).
    pub id: u64,
    /// The request, exactly as airlock evaluates it.
    pub request: Request,
    /// The policies, as JSON documents.
    pub policies: CasePolicies,
}

/// The policy documents of a case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CasePolicies {
    /// Identity policies of the principal.
    #[serde(default)]
    pub identity: Vec<Value>,
    /// Permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<Value>,
    /// Session policy of a role session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Value>,
    /// SCP levels of the principal's account (root first).
    #[serde(default)]
    pub scps: Vec<Vec<Value>>,
    /// Customer RCP levels of the resource's account (root first). `RCPFullAWSAccess`, which
    /// AWS attaches to every level and which cannot be detached, is implied at every level
    /// (iam-simulate adds it itself; [`Case::policy_set`] adds it for airlock).
    #[serde(default)]
    pub rcps: Vec<Vec<Value>>,
    /// The resource-based policy (bucket policy, key policy or trust policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourcePolicy>,
    /// The VPC endpoint policy of the endpoint the request came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Value>,
}

/// A resource-based policy with its kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourcePolicy {
    /// `resource` (bucket), `key` (KMS key policy) or `trust` (role trust policy).
    pub kind: PolicyKind,
    /// The document.
    pub policy: Value,
}

/// The AWS managed RCP attached to every root, OU and account once RCPs are enabled
/// (Organizations User Guide, "Resource control policies": "RCPFullAWSAccess ... is
/// automatically attached ... You can't detach this policy").
pub const RCP_FULL_AWS_ACCESS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

fn named(kind: PolicyKind, name: String, doc: &str) -> Result<NamedPolicy, String> {
    let policy = Policy::parse(doc, kind).map_err(|e| {
        format!("airlock rejected {kind:?} policy `{name}`: {e}\n  document: {doc}")
    })?;
    Ok(NamedPolicy {
        id: PolicyId { kind, name },
        policy: Arc::new(policy),
    })
}

impl Case {
    /// The airlock policy set of this case. An error means airlock's parser rejected a document
    /// that the generator considers valid AWS policy syntax.
    pub fn policy_set(&self) -> Result<PolicySet, String> {
        let p = &self.policies;
        let mut set = PolicySet::default();
        for (i, doc) in p.identity.iter().enumerate() {
            set.identity.push(named(
                PolicyKind::Identity,
                format!("identity-{i}"),
                &doc.to_string(),
            )?);
        }
        if let Some(doc) = &p.boundary {
            set.boundary = Some(named(
                PolicyKind::Boundary,
                "boundary".into(),
                &doc.to_string(),
            )?);
        }
        if let Some(doc) = &p.session {
            set.session.push(named(
                PolicyKind::Session,
                "session".into(),
                &doc.to_string(),
            )?);
        }
        for (i, level) in p.scps.iter().enumerate() {
            let mut out = Vec::new();
            for (j, doc) in level.iter().enumerate() {
                out.push(named(
                    PolicyKind::ServiceControl,
                    format!("scp-{i}-{j}"),
                    &doc.to_string(),
                )?);
            }
            set.scps.push(out);
        }
        for (i, level) in p.rcps.iter().enumerate() {
            let mut out = vec![named(
                PolicyKind::ResourceControl,
                format!("rcp-{i}-RCPFullAWSAccess"),
                RCP_FULL_AWS_ACCESS,
            )?];
            for (j, doc) in level.iter().enumerate() {
                out.push(named(
                    PolicyKind::ResourceControl,
                    format!("rcp-{i}-{j}"),
                    &doc.to_string(),
                )?);
            }
            set.rcps.push(out);
        }
        if let Some(rp) = &p.resource {
            set.resource = Some(named(rp.kind, "resource".into(), &rp.policy.to_string())?);
        }
        if let Some(doc) = &p.endpoint {
            set.endpoint = Some(named(
                PolicyKind::Endpoint,
                "endpoint".into(),
                &doc.to_string(),
            )?);
        }
        Ok(set)
    }

    /// One JSON line, the form the oracle reads and the test prints.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"unserializable\":\"{e}\"}}"))
    }
}
