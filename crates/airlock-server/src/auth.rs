//! Authentication: from an access key id (and session token) to a [`Caller`] with the
//! identity side of its policy set. Credential lookup is kept apart from the access decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock_iam::{AccessKeyStatus, EntityKind, Iam};
use airlock_policy::{PolicyKind, Principal};
use airlock_sts::{Session, Sts};

use crate::service::{Caller, CallerKind};
use crate::sigv4::{AuthError, SignedRequest};

/// Who a credential belongs to, resolved before the signature is checked.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// A root access key of an account.
    Root {
        /// The account.
        account: String,
    },
    /// An IAM user's access key.
    User {
        /// The account.
        account: String,
        /// The user name.
        name: String,
    },
    /// A role session.
    Session(Box<Session>),
}

/// Resolves credentials through IAM (long-term keys) and STS (sealed sessions).
///
/// Resolved callers are cached per access key while IAM's generation counter is unchanged
/// (any committed IAM change invalidates every entry), so the hot path does no store reads.
/// The signature is still verified on every request, and session expiry is checked against
/// the clock every time.
pub struct Authenticator {
    iam: Arc<Iam>,
    sts: Arc<Sts>,
    cache: Mutex<HashMap<String, Arc<Cached>>>,
}

struct Cached {
    generation: u64,
    token: Option<String>,
    expiration: Option<i64>,
    secret: String,
    caller: Arc<Caller>,
}

const CACHE_CAPACITY: usize = 10_000;

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> AuthError {
    tracing::error!(error = %e, "credential lookup failed");
    AuthError::UnknownKey
}

impl Authenticator {
    /// An authenticator over the IAM and STS services.
    pub fn new(iam: Arc<Iam>, sts: Arc<Sts>) -> Self {
        Authenticator {
            iam,
            sts,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The caller of a signed request and its secret (to verify the signature with), from the
    /// cache when IAM has not changed since.
    pub fn authenticate(
        &self,
        req: &SignedRequest,
        now: i64,
    ) -> Result<(String, Arc<Caller>), AuthError> {
        let generation = self.iam.generation();
        let hit = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&req.access_key_id).cloned());
        if let Some(c) = hit
            && c.generation == generation
            && c.token == req.security_token
        {
            if c.expiration.is_some_and(|e| now >= e) {
                return Err(AuthError::ExpiredToken);
            }
            return Ok((c.secret.clone(), c.caller.clone()));
        }
        let (secret, resolved) = self.resolve(req, now)?;
        let expiration = match &resolved {
            Resolved::Session(s) => Some(s.expiration),
            _ => None,
        };
        let caller = Arc::new(self.caller(resolved, &req.access_key_id)?);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(
                req.access_key_id.clone(),
                Arc::new(Cached {
                    generation,
                    token: req.security_token.clone(),
                    expiration,
                    secret: secret.clone(),
                    caller: caller.clone(),
                }),
            );
        }
        Ok((secret, caller))
    }

    /// The secret of the request's credential and who it belongs to.
    pub fn resolve(&self, req: &SignedRequest, now: i64) -> Result<(String, Resolved), AuthError> {
        if req.access_key_id.starts_with("ASIA") {
            let token = req.security_token.as_deref().ok_or(AuthError::UnknownKey)?;
            let session = self
                .sts
                .open(&req.access_key_id, token, now)
                .map_err(|e| match e {
                    airlock_sts::StsError::ExpiredToken => AuthError::ExpiredToken,
                    _ => AuthError::InvalidToken,
                })?;
            return Ok((
                session.secret_access_key.clone(),
                Resolved::Session(Box::new(session)),
            ));
        }
        let key = self
            .iam
            .access_key(&req.access_key_id)
            .map_err(internal)?
            .ok_or(AuthError::UnknownKey)?;
        if key.status == AccessKeyStatus::Inactive {
            return Err(AuthError::InactiveKey);
        }
        let who = match key.user_name {
            Some(name) => Resolved::User {
                account: key.account,
                name,
            },
            None => Resolved::Root {
                account: key.account,
            },
        };
        Ok((key.secret_access_key, who))
    }

    /// The caller with its current identity policies, boundary and session policies.
    pub fn caller(&self, resolved: Resolved, access_key_id: &str) -> Result<Caller, AuthError> {
        match resolved {
            Resolved::Root { account } => Ok(Caller {
                principal: Principal::Root {
                    account: account.clone(),
                },
                arn: airlock_iam::root_arn(&account),
                user_id: account.clone(),
                account,
                access_key_id: access_key_id.to_string(),
                kind: CallerKind::Root,
                identity: Vec::new(),
                boundary: None,
                session_policies: Vec::new(),
            }),
            Resolved::User { account, name } => {
                let user = self
                    .iam
                    .get_user(&account, &name)
                    .map_err(|_| AuthError::UnknownKey)?;
                let policies = self
                    .iam
                    .principal_policies(EntityKind::User, &account, &name)
                    .map_err(internal)?
                    .unwrap_or_default();
                Ok(Caller {
                    principal: Principal::User {
                        account: account.clone(),
                        name: user.name.clone(),
                        path: user.path.clone(),
                        id: user.id.clone(),
                        tags: user
                            .tags
                            .iter()
                            .map(|t| (t.key.clone(), t.value.clone()))
                            .collect(),
                    },
                    arn: user.arn.clone(),
                    user_id: user.id.clone(),
                    account,
                    access_key_id: access_key_id.to_string(),
                    kind: CallerKind::User { name: user.name },
                    identity: policies.identity,
                    boundary: policies.boundary,
                    session_policies: Vec::new(),
                })
            }
            Resolved::Session(session) => {
                // The session is bound to its role's unique id: once that role is deleted the
                // session is refused, even after a role of the same name is created again.
                let policies = self
                    .iam
                    .session_role_policies(&session.account, &session.role_name, &session.role_id)
                    .map_err(internal)?
                    .ok_or(AuthError::InvalidToken)?;
                let mut session_policies = Vec::new();
                let cache = self.iam.policy_cache();
                if let Some(doc) = &session.policy {
                    // Validated at AssumeRole; a failure here means the document no longer parses.
                    let p = cache
                        .named(
                            doc,
                            PolicyKind::Session,
                            format!("session/{}/inline", session.session_name),
                        )
                        .map_err(|_| AuthError::InvalidToken)?;
                    session_policies.push(p);
                }
                for arn in &session.policy_arns {
                    if let Some(p) = self
                        .iam
                        .managed_policy_named(&session.account, arn, PolicyKind::Session)
                        .map_err(internal)?
                    {
                        session_policies.push(p);
                    }
                }
                Ok(Caller {
                    principal: session.principal(),
                    arn: session.arn(),
                    user_id: session.assumed_role_id(),
                    account: session.account.clone(),
                    access_key_id: access_key_id.to_string(),
                    identity: policies.identity,
                    boundary: policies.boundary,
                    session_policies,
                    kind: CallerKind::Session(session),
                })
            }
        }
    }
}
