//! A request to be authorized: who asks, for what action, on which resource, with which context.

use std::collections::BTreeMap;

/// One request, as the engine sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// The caller.
    pub principal: Principal,
    /// The action, `service:Operation` (e.g. `s3:GetObject`). Compared case-insensitively.
    pub action: String,
    /// The resource acted on.
    pub resource: Resource,
    /// Request context keys (`aws:SourceVpce`, `s3:prefix`, ...). Global keys derived from the
    /// principal and resource (`aws:PrincipalArn`, `aws:userid`, `aws:PrincipalAccount`,
    /// `aws:ResourceAccount`, ...) are added by the engine unless set here explicitly.
    #[serde(default)]
    pub context: Context,
}

/// The resource a request acts on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resource {
    /// The resource ARN (`arn:aws:s3:::bucket/key`), or `*` for actions without a resource.
    pub arn: String,
    /// The account that owns the resource. S3 ARNs carry no account, so it is given here.
    pub account: Option<String>,
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Principal {
    /// An unauthenticated caller.
    Anonymous,
    /// The root user of an account.
    Root {
        /// The account id.
        account: String,
    },
    /// An IAM user.
    User {
        /// The account id.
        account: String,
        /// The user name.
        name: String,
        /// The path, `/` by default.
        #[serde(default = "default_path")]
        path: String,
        /// The unique id (`AIDA...`).
        id: String,
        /// Principal tags (`aws:PrincipalTag/k`).
        #[serde(default)]
        tags: BTreeMap<String, String>,
    },
    /// A session of an IAM role (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`).
    RoleSession {
        /// The account id of the role.
        account: String,
        /// The role name.
        role_name: String,
        /// The role path, `/` by default.
        #[serde(default = "default_path")]
        role_path: String,
        /// The role's unique id (`AROA...`).
        role_id: String,
        /// The session name.
        session_name: String,
        /// Principal tags: the role's tags overlaid with session tags.
        #[serde(default)]
        tags: BTreeMap<String, String>,
        /// `sts:SourceIdentity`, if set.
        #[serde(default)]
        source_identity: Option<String>,
    },
    /// An AWS service acting as itself, e.g. `ec2.amazonaws.com`.
    Service {
        /// The service principal name.
        name: String,
    },
    /// A web-identity or SAML federated caller.
    Federated {
        /// The provider (`cognito-identity.amazonaws.com` or a provider ARN).
        provider: String,
    },
}

fn default_path() -> String {
    "/".to_string()
}

/// Request context: condition keys with their values. Keys compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Context {
    entries: BTreeMap<String, ContextValue>,
}

/// The value of a context key: one value or a set (for multi-valued keys like `aws:TagKeys`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ContextValue {
    /// A single value.
    Single(String),
    /// A multi-valued key.
    Multi(Vec<String>),
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a key (stored lower-cased), replacing any earlier value.
    pub fn insert(&mut self, key: &str, value: ContextValue) {
        self.entries.insert(key.to_ascii_lowercase(), value);
    }

    /// Builder form of [`Context::insert`] for a single value.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, ContextValue::Single(value.into()));
        self
    }

    /// Looks a key up, case-insensitively.
    pub fn get(&self, key: &str) -> Option<&ContextValue> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.entries.get(&key.to_ascii_lowercase())
        } else {
            self.entries.get(key)
        }
    }

    /// Removes a key, case-insensitively.
    pub fn remove(&mut self, key: &str) -> Option<ContextValue> {
        self.entries.remove(&key.to_ascii_lowercase())
    }

    /// Iterates over `(lower-cased key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ContextValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}
