//! Amazon S3's definition of a *public* resource policy, used by Block Public Access
//! (`BlockPublicPolicy`, `RestrictPublicBuckets`) and by the prover's `not-public` property.
//!
//! Source: Amazon S3 User Guide, "The meaning of public", and the `PublicAccessBlockConfiguration`
//! API reference: a policy is public unless every `Allow` statement is fixed to a non-wildcard value
//! of at least one of: a specific AWS principal (account, user, role, service principal),
//! `aws:SourceArn`, `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`, `aws:SourceAccount`,
//! `s3:x-amz-server-side-encryption-aws-kms-key-id`, `aws:userid` outside the pattern `AROLEID:*`,
//! `aws:PrincipalOrgID`, `s3:DataAccessPointArn`, `s3:DataAccessPointAccount`; or limited to a set of
//! CIDR ranges with `aws:SourceIp`.

use crate::model::{
    Condition, Effect, OperatorKind, Policy, PrincipalClause, PrincipalEntry, Principals, Statement,
};

/// Why a statement makes a policy public.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicStatement {
    /// Index of the statement in the policy.
    pub index: usize,
    /// Its `Sid`, if any.
    pub sid: Option<String>,
    /// What makes it public, in words.
    pub reason: String,
}

/// Condition keys whose fixed values make an `Allow` statement non-public.
const FIXING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:principalarn",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

/// True when S3 would consider the policy public.
pub fn is_public(policy: &Policy) -> bool {
    !public_statements(policy).is_empty()
}

/// The `Allow` statements that make the policy public, with the reason for each.
pub fn public_statements(policy: &Policy) -> Vec<PublicStatement> {
    policy
        .statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.effect == Effect::Allow)
        .filter_map(|(index, s)| {
            statement_public_reason(s).map(|reason| PublicStatement {
                index,
                sid: s.sid.clone(),
                reason,
            })
        })
        .collect()
}

fn statement_public_reason(statement: &Statement) -> Option<String> {
    let principal_fixed = match &statement.principal {
        None => false,
        Some(PrincipalClause::NotPrincipal(_)) => false,
        Some(PrincipalClause::Principal(Principals::Any)) => false,
        Some(PrincipalClause::Principal(Principals::Listed(entries))) => {
            entries.iter().all(principal_entry_is_fixed)
        }
    };
    if principal_fixed {
        return None;
    }
    if statement.conditions.iter().any(condition_fixes) {
        return None;
    }
    Some(match &statement.principal {
        Some(PrincipalClause::NotPrincipal(_)) => {
            "`NotPrincipal` with `Allow` grants everyone not listed".to_string()
        }
        _ => "grants `*` (or a wildcard principal) without a condition that fixes the caller or network"
            .to_string(),
    })
}

fn principal_entry_is_fixed(entry: &PrincipalEntry) -> bool {
    match entry {
        PrincipalEntry::AwsAny => false,
        PrincipalEntry::Account(_)
        | PrincipalEntry::UniqueId(_)
        | PrincipalEntry::Service(_)
        | PrincipalEntry::CanonicalUser(_) => true,
        PrincipalEntry::Arn(arn) => !has_wildcard_or_variable(arn),
        // Federated principals are fixed identity providers.
        PrincipalEntry::Federated(p) => !has_wildcard_or_variable(p),
    }
}

fn has_wildcard_or_variable(value: &str) -> bool {
    value.contains('*') || value.contains('?') || value.contains("${")
}

/// Whether one condition limits the statement to fixed values of a fixing key.
fn condition_fixes(condition: &Condition) -> bool {
    // Negated operators and IfExists leave the statement open to requests without the key.
    if condition.operator.if_exists || condition.operator.kind.is_negated() {
        return false;
    }
    if condition.operator.qualifier == Some(crate::model::SetQualifier::ForAllValues) {
        // ForAllValues is true for a request without the key.
        return false;
    }
    if condition.values.is_empty() {
        return false;
    }
    let key = condition.key.to_ascii_lowercase();
    match condition.operator.kind {
        OperatorKind::IpAddress if key == "aws:sourceip" => {
            condition.values.iter().all(|v| cidr_is_non_public(v))
        }
        OperatorKind::StringEquals
        | OperatorKind::StringEqualsIgnoreCase
        | OperatorKind::StringLike
        | OperatorKind::ArnEquals
        | OperatorKind::ArnLike => {
            if key == "aws:userid" {
                condition
                    .values
                    .iter()
                    .all(|v| !has_wildcard_or_variable(v))
            } else if FIXING_KEYS.contains(&key.as_str()) {
                condition
                    .values
                    .iter()
                    .all(|v| !has_wildcard_or_variable(v))
            } else {
                false
            }
        }
        _ => false,
    }
}

/// A CIDR range counts as limiting only if it is not so wide that it is effectively public.
/// S3 does not publish its threshold; airlock treats IPv4 ranges shorter than /8 and IPv6
/// ranges shorter than /32 as public (documented in docs/differences.md).
fn cidr_is_non_public(value: &str) -> bool {
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => match p.parse::<u8>() {
            Ok(p) => (a, Some(p)),
            Err(_) => return false,
        },
        None => (value, None),
    };
    if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        prefix.is_none_or(|p| (8..=32).contains(&p))
    } else if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        prefix.is_none_or(|p| (32..=128).contains(&p))
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_thresholds() {
        assert!(cidr_is_non_public("10.0.0.0/8"));
        assert!(cidr_is_non_public("192.0.2.1"));
        assert!(!cidr_is_non_public("0.0.0.0/0"));
        assert!(!cidr_is_non_public("0.0.0.0/1"));
        assert!(cidr_is_non_public("2001:db8::/32"));
        assert!(!cidr_is_non_public("::/0"));
        assert!(!cidr_is_non_public("not-an-ip/8"));
    }
}
