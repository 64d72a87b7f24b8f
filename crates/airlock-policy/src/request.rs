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
///
/// Serialized as a JSON object; keys are lower-cased on the way in, whether inserted or
/// deserialized.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Context {
    entries: BTreeMap<String, ContextValue>,
}

impl<'de> serde::Deserialize<'de> for Context {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, ContextValue>::deserialize(deserializer)?;
        Ok(raw.into_iter().collect())
    }
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

impl Context {
    /// Looks up a key that is already lower-case (no allocation).
    pub(crate) fn get_lowercase(&self, lower_key: &str) -> Option<&ContextValue> {
        self.entries.get(lower_key)
    }

    /// True if the key is set (case-insensitive).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no key is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(String, ContextValue)> for Context {
    fn from_iter<T: IntoIterator<Item = (String, ContextValue)>>(iter: T) -> Self {
        let mut c = Context::new();
        for (k, v) in iter {
            c.insert(&k, v);
        }
        c
    }
}

impl Principal {
    /// The ARN the caller acts as: `arn:aws:iam::ACCT:root`, `arn:aws:iam::ACCT:user/PATH/NAME`,
    /// or `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`. `None` for anonymous callers, service
    /// principals and federated providers, which have no ARN of their own.
    ///
    /// airlock models the `aws` partition.
    pub fn arn(&self) -> Option<String> {
        match self {
            Principal::Root { account } => Some(format!("arn:aws:iam::{account}:root")),
            Principal::User {
                account,
                name,
                path,
                ..
            } => Some(format!(
                "arn:aws:iam::{account}:user{}{name}",
                norm_path(path)
            )),
            Principal::RoleSession {
                account,
                role_name,
                session_name,
                ..
            } => Some(format!(
                "arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
            )),
            Principal::Anonymous | Principal::Service { .. } | Principal::Federated { .. } => None,
        }
    }

    /// The value of `aws:PrincipalArn`: for a role session the ARN of the role
    /// (`arn:aws:iam::ACCT:role/PATH/ROLE`), otherwise [`Principal::arn`].
    pub fn principal_arn(&self) -> Option<String> {
        match self {
            Principal::RoleSession {
                account,
                role_name,
                role_path,
                ..
            } => Some(format!(
                "arn:aws:iam::{account}:role{}{role_name}",
                norm_path(role_path)
            )),
            _ => self.arn(),
        }
    }

    /// The caller's account, if it has one.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::RoleSession { account, .. } => Some(account),
            Principal::Anonymous | Principal::Service { .. } | Principal::Federated { .. } => None,
        }
    }

    /// The value of `aws:userid`: the account id for the root user, the user's unique id
    /// (`AIDA...`), `ROLEID:SESSION` for a role session, `anonymous` for anonymous callers
    /// (IAM User Guide, "AWS global condition context keys", aws:userid).
    pub fn userid(&self) -> Option<String> {
        match self {
            Principal::Root { account } => Some(account.clone()),
            Principal::User { id, .. } => Some(id.clone()),
            Principal::RoleSession {
                role_id,
                session_name,
                ..
            } => Some(format!("{role_id}:{session_name}")),
            Principal::Anonymous => Some("anonymous".to_string()),
            Principal::Service { .. } | Principal::Federated { .. } => None,
        }
    }

    /// The value of `aws:PrincipalType`: `Account`, `User`, `AssumedRole` or `Anonymous`.
    pub fn principal_type(&self) -> Option<&'static str> {
        match self {
            Principal::Root { .. } => Some("Account"),
            Principal::User { .. } => Some("User"),
            Principal::RoleSession { .. } => Some("AssumedRole"),
            Principal::Anonymous => Some("Anonymous"),
            Principal::Service { .. } | Principal::Federated { .. } => None,
        }
    }

    /// Principal tags (`aws:PrincipalTag/k`), empty for callers without tags.
    pub fn tags(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Principal::User { tags, .. } | Principal::RoleSession { tags, .. } => Some(tags),
            _ => None,
        }
    }
}

/// `/` for an empty path, otherwise the path with leading and trailing `/`.
pub(crate) fn norm_path(path: &str) -> std::borrow::Cow<'_, str> {
    let ok = path.starts_with('/') && path.ends_with('/');
    if ok {
        std::borrow::Cow::Borrowed(path)
    } else if path.is_empty() {
        std::borrow::Cow::Borrowed("/")
    } else {
        let trimmed = path.trim_matches('/');
        std::borrow::Cow::Owned(format!("/{trimmed}/"))
    }
}

impl Resource {
    /// The account that owns the resource: [`Resource::account`] if given, otherwise the
    /// account field of the ARN if it has one.
    pub fn owner(&self) -> Option<&str> {
        if let Some(a) = &self.account {
            return Some(a);
        }
        let mut fields = self.arn.splitn(6, ':');
        let (_, _, _, _, account) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        );
        account.filter(|a| !a.is_empty() && fields.next().is_some())
    }
}

impl Request {
    /// The request context as policies see it: [`Request::context`] plus the global keys AWS
    /// derives from the principal and the resource, unless the context sets them itself:
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:userid`, `aws:username` (IAM users
    /// only), `aws:PrincipalType`, `aws:PrincipalTag/k`, `aws:PrincipalIsAWSService`,
    /// `aws:PrincipalServiceName` (service principals), `aws:ResourceAccount` and
    /// `aws:SourceIdentity`.
    ///
    /// The evaluator derives these lazily, key by key; this method is for display and tests.
    ///
    /// Keys that depend on the world rather than on the request's parties are the caller's to
    /// set: the engine is pure and reads no clock or network, so `aws:CurrentTime`,
    /// `aws:EpochTime`, `aws:SecureTransport`, `aws:SourceIp`, `aws:SourceVpce`,
    /// `aws:SourceVpc`, `aws:VpceAccount`, `aws:PrincipalOrgID`, `aws:TokenIssueTime`,
    /// `aws:MultiFactorAuthPresent`, `aws:CalledVia`, service keys (`s3:prefix`,
    /// `kms:ViaService`, ...) and tags on the request or resource come from [`Request::context`].
    pub fn effective_context(&self) -> Context {
        let mut ctx = self.context.clone();
        for (key, value) in crate::eval::derived_keys(self) {
            if ctx.get(&key).is_none() {
                ctx.insert(&key, value);
            }
        }
        ctx
    }
}
