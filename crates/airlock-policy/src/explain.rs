//! Human-readable rendering of decisions and explanations.

use std::fmt;

use crate::decision::{
    Decision, Evaluation, Explanation, ImplicitGrant, MissingAllow, PolicyId, PolicyKind,
    StatementRef,
};
use crate::model::Effect;

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Allow => "allow",
            Decision::ExplicitDeny => "explicit deny",
            Decision::ImplicitDeny => "implicit deny",
        })
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyKind::Identity => "identity policy",
            PolicyKind::Boundary => "permissions boundary",
            PolicyKind::Session => "session policy",
            PolicyKind::ServiceControl => "SCP",
            PolicyKind::ResourceControl => "RCP",
            PolicyKind::Resource => "resource policy",
            PolicyKind::Key => "key policy",
            PolicyKind::Trust => "trust policy",
            PolicyKind::Endpoint => "VPC endpoint policy",
        })
    }
}

impl fmt::Display for PolicyId {
    /// `the bucket policy `arn:aws:s3:::b``, `the identity policy `role/R/inline/P``, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == PolicyKind::Resource && self.name.starts_with("arn:aws:s3:::") {
            write!(f, "the bucket policy `{}`", self.name)
        } else {
            write!(f, "the {} `{}`", self.kind, self.name)
        }
    }
}

impl fmt::Display for StatementRef {
    /// `statement `Sid` (#0) of the bucket policy `...``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "statement `{sid}` (#{}) of {}", self.index, self.policy),
            None => write!(f, "statement #{} of {}", self.index, self.policy),
        }
    }
}

impl fmt::Display for MissingAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissingAllow::Identity { account: Some(a) } => {
                write!(f, "no identity policy of {a} allows it")
            }
            MissingAllow::Identity { account: None } => {
                f.write_str("no identity policy allows it")
            }
            MissingAllow::Resource { account: Some(a) } => write!(
                f,
                "no resource policy of {a} allows the caller"
            ),
            MissingAllow::Resource { account: None } => {
                f.write_str("no resource policy allows the caller")
            }
            MissingAllow::KeyPolicy => f.write_str(
                "the key policy neither allows the caller nor delegates to its account (the key policy is the root of trust)",
            ),
            MissingAllow::Boundary => f.write_str("the permissions boundary does not allow it"),
            MissingAllow::Session => f.write_str("no session policy allows it"),
            MissingAllow::ServiceControl { level } => {
                write!(f, "no SCP at organization level {level} allows it")
            }
            MissingAllow::ResourceControl { level } => {
                write!(f, "no RCP at organization level {level} allows it")
            }
            MissingAllow::Endpoint => f.write_str("the VPC endpoint policy does not allow it"),
        }
    }
}

fn join_refs(f: &mut fmt::Formatter<'_>, refs: &[StatementRef]) -> fmt::Result {
    for (i, r) in refs.iter().enumerate() {
        if i > 0 {
            f.write_str(if i + 1 == refs.len() { " and " } else { ", " })?;
        }
        write!(f, "{r}")?;
    }
    Ok(())
}

impl Explanation {
    /// The decision this explanation describes (explanations are self-describing: denies in
    /// `deciding` mean an explicit deny, a non-empty `missing` an implicit deny).
    pub fn decision(&self) -> Decision {
        if self.deciding.iter().any(|r| r.effect == Effect::Deny) {
            Decision::ExplicitDeny
        } else if !self.missing.is_empty() {
            Decision::ImplicitDeny
        } else {
            Decision::Allow
        }
    }
}

impl fmt::Display for Explanation {
    /// One paragraph, e.g. "implicit deny: cross-account: the bucket policy `arn:aws:s3:::b`
    /// allows but no identity policy of 111111111111 does".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decision() {
            Decision::ExplicitDeny => {
                f.write_str("explicit deny: denied by ")?;
                join_refs(f, &self.deciding)?;
            }
            Decision::Allow => {
                f.write_str("allow: ")?;
                match self.implicit_grant {
                    Some(ImplicitGrant::NoPermissionRequired) => {
                        f.write_str("the action needs no permission")?;
                    }
                    Some(ImplicitGrant::RootUser) => {
                        f.write_str("the root user has every permission of its account")?;
                        if !self.deciding.is_empty() {
                            f.write_str(", and ")?;
                        }
                    }
                    None if self.deciding.is_empty() => f.write_str("allowed")?,
                    None => f.write_str("allowed by ")?,
                }
                join_refs(f, &self.deciding)?;
                if self.cross_account {
                    f.write_str(" (cross-account: both sides allow)")?;
                }
            }
            Decision::ImplicitDeny => {
                f.write_str("implicit deny: ")?;
                let resource_allows: Vec<&StatementRef> = self
                    .insufficient_allows
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.policy.kind,
                            PolicyKind::Resource | PolicyKind::Key | PolicyKind::Trust
                        )
                    })
                    .collect();
                let identity_allows = self
                    .insufficient_allows
                    .iter()
                    .any(|r| r.policy.kind == PolicyKind::Identity);
                for (i, m) in self.missing.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    match m {
                        MissingAllow::Identity { account } if self.cross_account => {
                            f.write_str("cross-account: ")?;
                            match resource_allows.first() {
                                Some(r) => write!(f, "{} allows", r.policy)?,
                                None => f.write_str("the resource side allows")?,
                            }
                            match account {
                                Some(a) => write!(f, " but no identity policy of {a} does")?,
                                None => f.write_str(" but no identity policy does")?,
                            }
                        }
                        MissingAllow::Resource { account } if self.cross_account => {
                            f.write_str("cross-account: ")?;
                            if identity_allows {
                                f.write_str("the caller's identity policies allow but ")?;
                            }
                            match account {
                                Some(a) => {
                                    write!(f, "no resource policy of {a} allows the caller")?
                                }
                                None => f.write_str("no resource policy allows the caller")?,
                            }
                        }
                        MissingAllow::KeyPolicy if identity_allows => {
                            f.write_str("the caller's identity policies allow, but ")?;
                            write!(f, "{m}")?;
                        }
                        other => write!(f, "{other}")?,
                    }
                }
            }
        }
        if !self.missing_context_keys.is_empty() {
            f.write_str("; the request lacked condition keys ")?;
            for (i, k) in self.missing_context_keys.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "`{k}`")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.explanation)
    }
}
