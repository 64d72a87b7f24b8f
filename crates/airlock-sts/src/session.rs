//! Sessions, `AssumeRole` input and its rules.

use std::collections::BTreeMap;

use airlock_iam::{Role, ids, validate};
use airlock_policy::{Context, ContextValue, PolicyKind, Principal};
use serde::{Deserialize, Serialize};

use crate::{Sts, StsError};

/// A role session: everything the server needs to authenticate and authorize its later calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The session's secret key.
    pub secret_access_key: String,
    /// The role's account.
    pub account: String,
    /// Role name.
    pub role_name: String,
    /// Role path.
    pub role_path: String,
    /// Role unique id (`AROA...`).
    pub role_id: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// Issue time (Unix seconds): `aws:TokenIssueTime`.
    pub issued: i64,
    /// Expiry (Unix seconds).
    pub expiration: i64,
    /// Inline session policy, if given.
    pub policy: Option<String>,
    /// Managed session policy ARNs, if given.
    pub policy_arns: Vec<String>,
    /// Principal tags: the role's tags overlaid with session tags.
    pub tags: BTreeMap<String, String>,
    /// Keys of tags that pass on to chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// `SourceIdentity`, if set.
    pub source_identity: Option<String>,
    /// Whether this session was assumed by another role session (role chaining).
    pub chained: bool,
}

impl Session {
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role_name, self.session_name
        )
    }

    /// `AROA...:SESSION`.
    pub fn assumed_role_id(&self) -> String {
        format!("{}:{}", self.role_id, self.session_name)
    }

    /// The ARN of the role.
    pub fn role_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role{}{}",
            self.account, self.role_path, self.role_name
        )
    }

    /// The engine's principal for this session.
    pub fn principal(&self) -> Principal {
        Principal::RoleSession {
            account: self.account.clone(),
            role_name: self.role_name.clone(),
            role_path: self.role_path.clone(),
            role_id: self.role_id.clone(),
            session_name: self.session_name.clone(),
            tags: self.tags.clone(),
            source_identity: self.source_identity.clone(),
        }
    }

    /// A fixed session for examples and tests.
    pub fn example() -> Self {
        Session {
            access_key_id: "ASIAEXAMPLEEXAMPLE01".into(),
            secret_access_key: "secret".into(),
            account: "222222222222".into(),
            role_name: "CrossAccountS3AccessRole".into(),
            role_path: "/".into(),
            role_id: "AROAEXAMPLEEXAMPLE012".into(),
            session_name: "cross-account-session".into(),
            issued: 1_700_000_000,
            expiration: 1_700_003_600,
            policy: None,
            policy_arns: Vec::new(),
            tags: BTreeMap::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            chained: false,
        }
    }
}

/// Temporary credentials as `AssumeRole` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `ASIA...`.
    pub access_key_id: String,
    /// Secret.
    pub secret_access_key: String,
    /// The sealed session token.
    pub session_token: String,
    /// Expiry (Unix seconds).
    pub expiration: i64,
}

/// What STS needs to know about the caller of `AssumeRole`.
#[derive(Debug, Clone, Default)]
pub struct SessionCaller {
    /// The caller is the root user (who may not assume roles).
    pub is_root: bool,
    /// The caller's own session, when it is a role session (role chaining).
    pub session: Option<Session>,
}

/// The parameters of `AssumeRole`.
#[derive(Debug, Clone, Default)]
pub struct AssumeRoleInput {
    /// `RoleArn`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub role_session_name: String,
    /// `DurationSeconds`.
    pub duration_seconds: Option<i64>,
    /// `ExternalId`.
    pub external_id: Option<String>,
    /// `Policy` (inline session policy).
    pub policy: Option<String>,
    /// `PolicyArns`.
    pub policy_arns: Vec<String>,
    /// `Tags` (session tags), in request order.
    pub tags: Vec<(String, String)>,
    /// `TransitiveTagKeys`.
    pub transitive_tag_keys: Vec<String>,
    /// `SourceIdentity`.
    pub source_identity: Option<String>,
}

fn constraint(value: &str, field: &str, what: &str) -> StsError {
    StsError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {what}"
    ))
}

fn sts_chars(
    value: &str,
    field: &str,
    min: usize,
    max: usize,
    pattern: &str,
    extra: &[char],
) -> Result<(), StsError> {
    let n = value.chars().count();
    if n < min {
        return Err(constraint(
            value,
            field,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            value,
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !value
        .chars()
        .all(|c| validate::is_name_char(c) || extra.contains(&c))
    {
        return Err(constraint(
            value,
            field,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        ));
    }
    Ok(())
}

impl AssumeRoleInput {
    /// Checks formats and lengths, and parses the inline session policy (nothing else is
    /// looked up). Errors are AWS's `ValidationError` / `MalformedPolicyDocument`.
    pub fn validate(&self) -> Result<(), StsError> {
        if self.role_arn.chars().count() < 20 {
            return Err(constraint(
                &self.role_arn,
                "roleArn",
                "Member must have length greater than or equal to 20",
            ));
        }
        sts_chars(
            &self.role_session_name,
            "roleSessionName",
            2,
            64,
            "[\\w+=,.@-]*",
            &[],
        )?;
        if let Some(d) = self.duration_seconds {
            if d < 900 {
                return Err(constraint(
                    &d.to_string(),
                    "durationSeconds",
                    "Member must have value greater than or equal to 900",
                ));
            }
            if d > 43200 {
                return Err(constraint(
                    &d.to_string(),
                    "durationSeconds",
                    "Member must have value less than or equal to 43200",
                ));
            }
        }
        if let Some(e) = &self.external_id {
            sts_chars(e, "externalId", 2, 1224, "[\\w+=,.@:/-]*", &[':', '/'])?;
        }
        if let Some(s) = &self.source_identity {
            sts_chars(s, "sourceIdentity", 2, 64, "[\\w+=,.@-]*", &[])?;
            if s.to_ascii_lowercase().starts_with("aws:") {
                return Err(StsError::Validation(
                    "SourceIdentity cannot start with 'aws:'.".into(),
                ));
            }
        }
        if let Some(p) = &self.policy {
            if p.chars().count() > 2048 {
                return Err(constraint(
                    "...",
                    "policy",
                    "Member must have length less than or equal to 2048",
                ));
            }
            airlock_iam::policy::parse(p, PolicyKind::Session)
                .map_err(|e| StsError::MalformedPolicyDocument(e.to_string()))?;
        }
        if self.policy_arns.len() > 10 {
            return Err(constraint(
                "...",
                "policyArns",
                "Member must have length less than or equal to 10",
            ));
        }
        if self.tags.len() > 50 {
            return Err(constraint(
                "...",
                "tags",
                "Member must have length less than or equal to 50",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &self.tags {
            if k.is_empty() || k.chars().count() > 128 {
                return Err(constraint(
                    k,
                    "tags.member.key",
                    "Member must have length between 1 and 128",
                ));
            }
            if v.chars().count() > 256 {
                return Err(constraint(
                    v,
                    "tags.member.value",
                    "Member must have length less than or equal to 256",
                ));
            }
            if !seen.insert(k.to_ascii_lowercase()) {
                return Err(StsError::Validation(
                    "Duplicate tag keys found. Please note that Tag keys are case insensitive."
                        .into(),
                ));
            }
        }
        for t in &self.transitive_tag_keys {
            if !seen.contains(&t.to_ascii_lowercase()) {
                return Err(StsError::Validation(
                    "The specified transitive tag key must be included in the requested tags."
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The role's account and name from `RoleArn`, or `None` if it is not a role ARN.
    pub fn role_account_and_name(&self) -> Option<(String, String)> {
        let rest = self.role_arn.strip_prefix("arn:aws:iam::")?;
        let (account, resource) = rest.split_once(':')?;
        let path_name = resource.strip_prefix("role/")?;
        let name = path_name.rsplit('/').next()?;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
            return None;
        }
        Some((account.to_string(), name.to_string()))
    }

    /// The actions the engine must allow on the role (the trust policy is the resource
    /// policy): `sts:AssumeRole`, plus `sts:TagSession` with tags and `sts:SetSourceIdentity`
    /// with a source identity.
    pub fn required_actions(&self) -> Vec<&'static str> {
        let mut out = vec!["sts:AssumeRole"];
        if !self.tags.is_empty() || !self.transitive_tag_keys.is_empty() {
            out.push("sts:TagSession");
        }
        if self.source_identity.is_some() {
            out.push("sts:SetSourceIdentity");
        }
        out
    }

    /// The request context keys of this call: `sts:ExternalId`, `sts:RoleSessionName`,
    /// `sts:SourceIdentity`, `aws:RequestTag/<k>`, `aws:TagKeys`, `sts:TransitiveTagKeys`.
    pub fn context(&self) -> Context {
        let mut c = Context::new();
        if let Some(e) = &self.external_id {
            c.insert("sts:ExternalId", ContextValue::Single(e.clone()));
        }
        c.insert(
            "sts:RoleSessionName",
            ContextValue::Single(self.role_session_name.clone()),
        );
        if let Some(s) = &self.source_identity {
            c.insert("sts:SourceIdentity", ContextValue::Single(s.clone()));
        }
        if !self.tags.is_empty() {
            for (k, v) in &self.tags {
                c.insert(
                    &format!("aws:RequestTag/{k}"),
                    ContextValue::Single(v.clone()),
                );
            }
            c.insert(
                "aws:TagKeys",
                ContextValue::Multi(self.tags.iter().map(|(k, _)| k.clone()).collect()),
            );
        }
        if !self.transitive_tag_keys.is_empty() {
            c.insert(
                "sts:TransitiveTagKeys",
                ContextValue::Multi(self.transitive_tag_keys.clone()),
            );
        }
        c
    }
}

impl Sts {
    /// Issues a session of `role` once the engine has allowed the call. Applies the duration
    /// rules (default 1 h, at most the role's `MaxSessionDuration`, at most 1 h when chained),
    /// tag inheritance for chained sessions, and the source-identity rule.
    pub fn issue(
        &self,
        role: &Role,
        input: &AssumeRoleInput,
        caller: &SessionCaller,
        now: i64,
    ) -> Result<(Session, Credentials), StsError> {
        if caller.is_root {
            return Err(StsError::AccessDenied(
                "Roles may not be assumed by root accounts.".into(),
            ));
        }
        let chained = caller.session.is_some();
        let duration = input.duration_seconds.unwrap_or(3600);
        if chained && duration > 3600 {
            return Err(StsError::Validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into(),
            ));
        }
        if duration > i64::from(role.max_session_duration) {
            return Err(StsError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        let mut tags: BTreeMap<String, String> = role
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        let mut transitive = Vec::new();
        if let Some(parent) = &caller.session {
            for k in &parent.transitive_tag_keys {
                if let Some(v) = parent.tags.get(k) {
                    if input.tags.iter().any(|(nk, _)| nk.eq_ignore_ascii_case(k)) {
                        return Err(StsError::Validation(format!(
                            "Cannot override transitive tag key {k} in a role chain."
                        )));
                    }
                    tags.insert(k.clone(), v.clone());
                    transitive.push(k.clone());
                }
            }
        }
        for (k, v) in &input.tags {
            tags.retain(|old, _| !old.eq_ignore_ascii_case(k));
            tags.insert(k.clone(), v.clone());
        }
        transitive.extend(input.transitive_tag_keys.iter().cloned());
        let inherited_source = caller
            .session
            .as_ref()
            .and_then(|s| s.source_identity.clone());
        let source_identity = match (&inherited_source, &input.source_identity) {
            (Some(old), Some(new)) if old != new => {
                return Err(StsError::AccessDenied(
                    "The source identity of a role chain cannot be changed.".into(),
                ));
            }
            (Some(old), _) => Some(old.clone()),
            (None, new) => new.clone(),
        };
        let session = Session {
            access_key_id: ids::access_key_id("ASIA"),
            secret_access_key: ids::secret_access_key(),
            account: role.account.clone(),
            role_name: role.name.clone(),
            role_path: role.path.clone(),
            role_id: role.id.clone(),
            session_name: input.role_session_name.clone(),
            issued: now,
            expiration: now + duration,
            policy: input.policy.clone(),
            policy_arns: input.policy_arns.clone(),
            tags,
            transitive_tag_keys: transitive,
            source_identity,
            chained,
        };
        let token = self.seal(&session);
        let creds = Credentials {
            access_key_id: session.access_key_id.clone(),
            secret_access_key: session.secret_access_key.clone(),
            session_token: token,
            expiration: session.expiration,
        };
        Ok((session, creds))
    }
}

/// The packed size AWS reports for session policies and tags, as a percentage of the allowed space.
pub fn packed_policy_size(input: &AssumeRoleInput) -> Option<u32> {
    if input.policy.is_none() && input.policy_arns.is_empty() && input.tags.is_empty() {
        return None;
    }
    let policy = input
        .policy
        .as_deref()
        .map(airlock_iam::policy::quota_size)
        .unwrap_or(0);
    let tags: usize = input.tags.iter().map(|(k, v)| k.len() + v.len()).sum();
    let arns = input.policy_arns.len() * 64;
    Some((((policy + tags + arns) * 100) / 2048).max(1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(max: u32) -> Role {
        Role {
            account: "222222222222".into(),
            name: "R".into(),
            path: "/".into(),
            id: "AROAEXAMPLEEXAMPLE012".into(),
            arn: "arn:aws:iam::222222222222:role/R".into(),
            create_date: 0,
            assume_role_policy: "{}".into(),
            description: None,
            max_session_duration: max,
            tags: vec![],
            inline_policies: BTreeMap::new(),
            attached_policies: vec![],
            permissions_boundary: None,
        }
    }

    fn input() -> AssumeRoleInput {
        AssumeRoleInput {
            role_arn: "arn:aws:iam::222222222222:role/R".into(),
            role_session_name: "s1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn duration_rules() {
        let sts = Sts::new([3u8; 32]);
        let mut i = input();
        i.duration_seconds = Some(7200);
        assert!(matches!(
            sts.issue(&role(3600), &i, &SessionCaller::default(), 0),
            Err(StsError::Validation(_))
        ));
        let (s, c) = sts
            .issue(&role(7200), &i, &SessionCaller::default(), 0)
            .unwrap();
        assert_eq!(s.expiration, 7200);
        assert!(c.access_key_id.starts_with("ASIA"));
        let chained = SessionCaller {
            is_root: false,
            session: Some(s),
        };
        assert!(matches!(
            sts.issue(&role(7200), &i, &chained, 0),
            Err(StsError::Validation(_))
        ));
        i.duration_seconds = None;
        assert!(sts.issue(&role(7200), &i, &chained, 0).unwrap().0.chained);
        let root = SessionCaller {
            is_root: true,
            session: None,
        };
        assert!(matches!(
            sts.issue(&role(3600), &i, &root, 0),
            Err(StsError::AccessDenied(_))
        ));
    }

    #[test]
    fn validation_and_actions() {
        let mut i = input();
        assert!(i.validate().is_ok());
        assert_eq!(i.required_actions(), vec!["sts:AssumeRole"]);
        i.role_session_name = "bad name".into();
        assert!(i.validate().is_err());
        i.role_session_name = "ok".into();
        i.tags = vec![("Project".into(), "x".into())];
        i.source_identity = Some("alice".into());
        assert_eq!(
            i.required_actions(),
            vec!["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
        );
        assert_eq!(
            i.role_account_and_name(),
            Some(("222222222222".into(), "R".into()))
        );
        i.role_arn = "arn:aws:iam::222222222222:user/R".into();
        assert_eq!(i.role_account_and_name(), None);
    }
}
