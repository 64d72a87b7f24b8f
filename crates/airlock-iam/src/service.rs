//! The IAM service: operations over the store, one transaction each.

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_policy::{NamedPolicy, PolicyKind};
use airlock_store::{ReadTxn, Store, StoreError, StoreExt, WriteExt, WriteTxn};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::policy::{PolicyCache, quota_size};
use crate::seal::{SecretSealer, access_key_label};
use crate::{IamError, aws_managed, ids, now, validate};

const ACCOUNTS: &str = "iam_accounts";
const ROLES: &str = "iam_roles";
const USERS: &str = "iam_users";
const POLICIES: &str = "iam_policies";
const AWS_POLICY_USAGE: &str = "iam_aws_policy_usage";
const ACCESS_KEYS: &str = "iam_access_keys";
const INSTANCE_PROFILES: &str = "iam_instance_profiles";

const MAX_MANAGED_PER_ENTITY: usize = 10;
const MAX_POLICY_VERSIONS: usize = 5;
const MAX_ACCESS_KEYS: usize = 2;
const ROLE_INLINE_QUOTA: usize = 10_240;
const USER_INLINE_QUOTA: usize = 2_048;
const MANAGED_POLICY_QUOTA: usize = 6_144;

/// Users or roles: the two IAM identities that hold policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// An IAM role.
    Role,
    /// An IAM user.
    User,
}

impl EntityKind {
    fn table(self) -> &'static str {
        match self {
            EntityKind::Role => ROLES,
            EntityKind::User => USERS,
        }
    }
    fn word(self) -> &'static str {
        match self {
            EntityKind::Role => "role",
            EntityKind::User => "user",
        }
    }
    fn not_found(self, name: &str) -> IamError {
        IamError::NoSuchEntity(format!(
            "The {} with name {name} cannot be found.",
            self.word()
        ))
    }
}

/// Input of [`Iam::create_role`].
#[derive(Debug, Clone)]
pub struct CreateRole {
    /// Role name.
    pub name: String,
    /// Path (`/` when `None`).
    pub path: Option<String>,
    /// Trust policy document.
    pub assume_role_policy: String,
    /// Description.
    pub description: Option<String>,
    /// Max session duration (3600 when `None`).
    pub max_session_duration: Option<u32>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Permissions boundary ARN.
    pub permissions_boundary: Option<String>,
}

impl CreateRole {
    /// A role with a name and trust policy, everything else default.
    pub fn new(name: &str, trust: &str) -> Self {
        CreateRole {
            name: name.to_string(),
            path: None,
            assume_role_policy: trust.to_string(),
            description: None,
            max_session_duration: None,
            tags: Vec::new(),
            permissions_boundary: None,
        }
    }
}

/// Input of [`Iam::create_user`].
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    /// User name.
    pub name: String,
    /// Path (`/` when `None`).
    pub path: Option<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Permissions boundary ARN.
    pub permissions_boundary: Option<String>,
}

/// Which managed policies `ListPolicies` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    /// Both.
    All,
    /// AWS managed only.
    Aws,
    /// Customer managed only.
    Local,
}

/// The identity side of a principal's policy set.
#[derive(Debug, Clone, Default)]
pub struct PrincipalPolicies {
    /// Inline and attached managed policies.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary, if any.
    pub boundary: Option<NamedPolicy>,
}

/// The IAM service over a store.
pub struct Iam {
    store: Arc<dyn Store>,
    sealer: Arc<dyn SecretSealer>,
    cache: PolicyCache,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Iam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iam").finish_non_exhaustive()
    }
}

fn key(account: &str, name: &str) -> String {
    format!("{account}/{}", name.to_ascii_lowercase())
}

fn entity_arn(account: &str, kind: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{path}{name}")
}

/// The entities that carry inline policies, attached policies, boundaries and tags.
trait Holder: Serialize + DeserializeOwned {
    fn inline(&mut self) -> &mut BTreeMap<String, String>;
    fn attached(&mut self) -> &mut Vec<String>;
    fn boundary(&mut self) -> &mut Option<String>;
    fn tags(&mut self) -> &mut Vec<Tag>;
}

macro_rules! holder {
    ($t:ty) => {
        impl Holder for $t {
            fn inline(&mut self) -> &mut BTreeMap<String, String> {
                &mut self.inline_policies
            }
            fn attached(&mut self) -> &mut Vec<String> {
                &mut self.attached_policies
            }
            fn boundary(&mut self) -> &mut Option<String> {
                &mut self.permissions_boundary
            }
            fn tags(&mut self) -> &mut Vec<Tag> {
                &mut self.tags
            }
        }
    };
}
holder!(Role);
holder!(User);

/// Splits a customer-managed policy ARN into (account, name).
fn parse_policy_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_name = resource.strip_prefix("policy/")?;
    let name = path_name.rsplit('/').next()?;
    if account.is_empty() || name.is_empty() {
        return None;
    }
    Some((account.to_string(), name.to_string()))
}

fn policy_not_attachable(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
}

impl Iam {
    /// The IAM service over `store`, sealing secret access keys at rest with `sealer`.
    ///
    /// A store written before secrets were sealed (schema version 1) must be upgraded first
    /// with [`seal_stored_secrets`]; until then its access keys are refused as corrupt.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<dyn SecretSealer>) -> Self {
        Iam {
            store,
            sealer,
            cache: PolicyCache::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A counter bumped after every committed change: anything derived from IAM state (such
    /// as an authenticated caller with its policies) is current while the counter is unchanged.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The parsed-policy cache (shared with the request pipeline).
    pub fn policy_cache(&self) -> &PolicyCache {
        &self.cache
    }

    fn read<T>(&self, f: impl FnOnce(&dyn ReadTxn) -> Result<T, IamError>) -> Result<T, IamError> {
        let txn = self.store.read()?;
        f(&*txn)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn WriteTxn) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        let mut txn = self.store.write()?;
        let out = f(&mut *txn)?;
        txn.commit()?;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(out)
    }

    // ----- accounts -------------------------------------------------------------------------

    /// Creates the account on first call, with an IAM user `admin` that has
    /// `AdministratorAccess` attached and one access key. Later calls change nothing (the
    /// alias is updated if it differs). Returns the account and the admin's first active key.
    pub fn ensure_account(&self, id: &str, alias: &str) -> Result<(Account, AccessKey), IamError> {
        self.ensure_account_with_key(id, alias, None)
    }

    /// [`Iam::ensure_account`], with the administrator's key given rather than random when
    /// `fixed` is `(access key id, secret access key)`: the key is created if missing (within
    /// the two-key quota) and made active if it was deactivated, and it is the key returned.
    /// No random key is created then. A key of that id that belongs to another user or
    /// account is refused.
    pub fn ensure_account_with_key(
        &self,
        id: &str,
        alias: &str,
        fixed: Option<(&str, &str)>,
    ) -> Result<(Account, AccessKey), IamError> {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IamError::Validation(format!(
                "account id {id:?} must be 12 digits"
            )));
        }
        self.write(|txn| {
            let account = match txn.get_json::<Account>(ACCOUNTS, id)? {
                Some(mut a) => {
                    if a.alias != alias {
                        a.alias = alias.to_string();
                        txn.put_json(ACCOUNTS, id, &a)?;
                    }
                    a
                }
                None => {
                    let a = Account {
                        id: id.to_string(),
                        alias: alias.to_string(),
                        create_date: now(),
                    };
                    txn.put_json(ACCOUNTS, id, &a)?;
                    a
                }
            };
            if txn.get(USERS, &key(id, "admin"))?.is_none() {
                let input = CreateUser {
                    name: "admin".to_string(),
                    ..CreateUser::default()
                };
                create_user_in(txn, id, input)?;
                attach_in(
                    txn,
                    EntityKind::User,
                    id,
                    "admin",
                    aws_managed::ADMINISTRATOR_ACCESS,
                )?;
            }
            if let Some((key_id, secret)) = fixed {
                let key = ensure_fixed_key_in(txn, &*self.sealer, id, "admin", key_id, secret)?;
                return Ok((account, key));
            }
            let keys = access_keys_of(txn.as_read(), id, Some("admin"))?;
            let key = match keys
                .into_iter()
                .find(|k| k.status == AccessKeyStatus::Active)
            {
                Some(k) => k.open(&*self.sealer)?,
                None => create_access_key_in(txn, &*self.sealer, id, Some("admin"))?,
            };
            Ok((account, key))
        })
    }

    /// The account, if airlock serves it.
    pub fn account(&self, id: &str) -> Result<Option<Account>, IamError> {
        self.read(|r| Ok(r.get_json(ACCOUNTS, id)?))
    }

    /// Every account.
    pub fn accounts(&self) -> Result<Vec<Account>, IamError> {
        self.read(|r| Ok(r.scan_json(ACCOUNTS, "")?))
    }

    // ----- roles ----------------------------------------------------------------------------

    /// `CreateRole`.
    pub fn create_role(&self, account: &str, input: CreateRole) -> Result<Role, IamError> {
        validate::name(&input.name, "roleName", 64)?;
        let path = input.path.clone().unwrap_or_else(|| "/".to_string());
        validate::path(&path, "path")?;
        if let Some(d) = &input.description {
            validate::description(d)?;
        }
        let max = input.max_session_duration.unwrap_or(3600);
        validate::max_session_duration(max)?;
        validate::tags(&input.tags)?;
        self.cache
            .get(&input.assume_role_policy, PolicyKind::Trust)?;
        self.write(|txn| {
            let k = key(account, &input.name);
            if txn.get(ROLES, &k)?.is_some() {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role with name {} already exists.",
                    input.name
                )));
            }
            let role = Role {
                account: account.to_string(),
                arn: entity_arn(account, "role", &path, &input.name),
                name: input.name.clone(),
                path: path.clone(),
                id: ids::unique_id("AROA"),
                create_date: now(),
                assume_role_policy: input.assume_role_policy.clone(),
                description: input.description.clone(),
                max_session_duration: max,
                tags: input.tags.clone(),
                inline_policies: BTreeMap::new(),
                attached_policies: Vec::new(),
                permissions_boundary: None,
            };
            txn.put_json(ROLES, &k, &role)?;
            if let Some(b) = &input.permissions_boundary {
                set_boundary_in(txn, EntityKind::Role, account, &input.name, b)?;
            }
            Ok(txn.get_json(ROLES, &k)?.unwrap_or(role))
        })
    }

    /// `GetRole`.
    pub fn get_role(&self, account: &str, name: &str) -> Result<Role, IamError> {
        self.read(|r| get_entity(r, EntityKind::Role, account, name))
    }

    /// The role, or `None` (for callers that must not reveal existence, like `AssumeRole`).
    pub fn find_role(&self, account: &str, name: &str) -> Result<Option<Role>, IamError> {
        self.read(|r| Ok(r.get_json(ROLES, &key(account, name))?))
    }

    /// `ListRoles`, filtered by path prefix, ordered by name.
    pub fn list_roles(&self, account: &str, path_prefix: &str) -> Result<Vec<Role>, IamError> {
        self.read(|r| {
            let roles: Vec<Role> = r.scan_json(ROLES, &format!("{account}/"))?;
            Ok(roles
                .into_iter()
                .filter(|x| x.path.starts_with(path_prefix))
                .collect())
        })
    }

    /// `DeleteRole`: refused with `DeleteConflict` while policies or instance profiles remain.
    pub fn delete_role(&self, account: &str, name: &str) -> Result<(), IamError> {
        self.write(|txn| {
            let mut role: Role = get_entity(txn.as_read(), EntityKind::Role, account, name)?;
            let profiles: Vec<InstanceProfile> =
                txn.scan_json(INSTANCE_PROFILES, &format!("{account}/"))?;
            if profiles
                .iter()
                .any(|p| p.roles.iter().any(|r| r.eq_ignore_ascii_case(name)))
            {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must remove roles from instance profile first.".into(),
                ));
            }
            if !role.inline_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            if !role.attached_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".into(),
                ));
            }
            if let Some(b) = role.permissions_boundary.take() {
                adjust_usage(txn, account, &b, 0, -1)?;
            }
            txn.delete(ROLES, &key(account, name))?;
            Ok(())
        })
    }

    /// `UpdateAssumeRolePolicy`.
    pub fn update_assume_role_policy(
        &self,
        account: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        self.cache.get(document, PolicyKind::Trust)?;
        self.write(|txn| {
            let mut role: Role = get_entity(txn.as_read(), EntityKind::Role, account, name)?;
            role.assume_role_policy = document.to_string();
            txn.put_json(ROLES, &key(account, name), &role)?;
            Ok(())
        })
    }

    /// `UpdateRole` (description and max session duration).
    pub fn update_role(
        &self,
        account: &str,
        name: &str,
        description: Option<String>,
        max_session_duration: Option<u32>,
    ) -> Result<(), IamError> {
        if let Some(d) = &description {
            validate::description(d)?;
        }
        if let Some(m) = max_session_duration {
            validate::max_session_duration(m)?;
        }
        self.write(|txn| {
            let mut role: Role = get_entity(txn.as_read(), EntityKind::Role, account, name)?;
            if description.is_some() {
                role.description = description;
            }
            if let Some(m) = max_session_duration {
                role.max_session_duration = m;
            }
            txn.put_json(ROLES, &key(account, name), &role)?;
            Ok(())
        })
    }

    // ----- users ----------------------------------------------------------------------------

    /// `CreateUser`.
    pub fn create_user(&self, account: &str, input: CreateUser) -> Result<User, IamError> {
        self.write(|txn| create_user_in(txn, account, input))
    }

    /// `GetUser`.
    pub fn get_user(&self, account: &str, name: &str) -> Result<User, IamError> {
        self.read(|r| get_entity(r, EntityKind::User, account, name))
    }

    /// `ListUsers`, filtered by path prefix.
    pub fn list_users(&self, account: &str, path_prefix: &str) -> Result<Vec<User>, IamError> {
        self.read(|r| {
            let users: Vec<User> = r.scan_json(USERS, &format!("{account}/"))?;
            Ok(users
                .into_iter()
                .filter(|x| x.path.starts_with(path_prefix))
                .collect())
        })
    }

    /// `DeleteUser`: refused with `DeleteConflict` while keys or policies remain.
    pub fn delete_user(&self, account: &str, name: &str) -> Result<(), IamError> {
        self.write(|txn| {
            let mut user: User = get_entity(txn.as_read(), EntityKind::User, account, name)?;
            if !access_keys_of(txn.as_read(), account, Some(&user.name))?.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete access keys first.".into(),
                ));
            }
            if !user.inline_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".into(),
                ));
            }
            if !user.attached_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".into(),
                ));
            }
            if let Some(b) = user.permissions_boundary.take() {
                adjust_usage(txn, account, &b, 0, -1)?;
            }
            txn.delete(USERS, &key(account, name))?;
            Ok(())
        })
    }

    // ----- access keys ----------------------------------------------------------------------

    /// `CreateAccessKey` for a user (`Some`) or the account root (`None`).
    pub fn create_access_key(
        &self,
        account: &str,
        user: Option<&str>,
    ) -> Result<AccessKey, IamError> {
        self.write(|txn| {
            let user_name = match user {
                Some(u) => {
                    Some(get_entity::<User>(txn.as_read(), EntityKind::User, account, u)?.name)
                }
                None => None,
            };
            create_access_key_in(txn, &*self.sealer, account, user_name.as_deref())
        })
    }

    /// `ListAccessKeys`.
    pub fn list_access_keys(
        &self,
        account: &str,
        user: Option<&str>,
    ) -> Result<Vec<AccessKey>, IamError> {
        self.read(|r| {
            let user_name = match user {
                Some(u) => Some(get_entity::<User>(r, EntityKind::User, account, u)?.name),
                None => None,
            };
            access_keys_of(r, account, user_name.as_deref())?
                .into_iter()
                .map(|k| k.open(&*self.sealer))
                .collect()
        })
    }

    fn owned_key(
        r: &dyn ReadTxn,
        account: &str,
        user: Option<&str>,
        id: &str,
    ) -> Result<StoredAccessKey, IamError> {
        let user_name = match user {
            Some(u) => Some(get_entity::<User>(r, EntityKind::User, account, u)?.name),
            None => None,
        };
        match r.get_json::<StoredAccessKey>(ACCESS_KEYS, id)? {
            Some(k)
                if k.account == account
                    && k.user_name.as_deref().map(str::to_ascii_lowercase)
                        == user_name.as_deref().map(str::to_ascii_lowercase) =>
            {
                Ok(k)
            }
            _ => Err(IamError::NoSuchEntity(format!(
                "The Access Key with id {id} cannot be found."
            ))),
        }
    }

    /// `DeleteAccessKey`.
    pub fn delete_access_key(
        &self,
        account: &str,
        user: Option<&str>,
        id: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| {
            Self::owned_key(txn.as_read(), account, user, id)?;
            txn.delete(ACCESS_KEYS, id)?;
            Ok(())
        })
    }

    /// `UpdateAccessKey`.
    pub fn update_access_key(
        &self,
        account: &str,
        user: Option<&str>,
        id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), IamError> {
        self.write(|txn| {
            let mut k = Self::owned_key(txn.as_read(), account, user, id)?;
            k.status = status;
            txn.put_json(ACCESS_KEYS, id, &k)?;
            Ok(())
        })
    }

    /// The access key with this id, whoever owns it (authentication), its secret unsealed.
    pub fn access_key(&self, id: &str) -> Result<Option<AccessKey>, IamError> {
        self.read(|r| {
            r.get_json::<StoredAccessKey>(ACCESS_KEYS, id)?
                .map(|k| k.open(&*self.sealer))
                .transpose()
        })
    }

    // ----- inline policies ------------------------------------------------------------------

    /// `PutRolePolicy` / `PutUserPolicy`.
    pub fn put_inline_policy(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        validate::name(policy_name, "policyName", 128)?;
        self.cache.get(document, PolicyKind::Identity)?;
        self.write(|txn| match kind {
            EntityKind::Role => {
                put_inline_in::<Role>(txn, kind, account, entity, policy_name, document)
            }
            EntityKind::User => {
                put_inline_in::<User>(txn, kind, account, entity, policy_name, document)
            }
        })
    }

    /// `GetRolePolicy` / `GetUserPolicy`: the document.
    pub fn get_inline_policy(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        policy_name: &str,
    ) -> Result<(String, String), IamError> {
        let inline = self.inline_policies(kind, account, entity)?;
        let found = inline.1.iter().find(|(n, _)| n.as_str() == policy_name);
        match found {
            Some((n, d)) => Ok((n.clone(), d.clone())),
            None => Err(IamError::NoSuchEntity(format!(
                "The {} policy with name {policy_name} cannot be found.",
                kind.word()
            ))),
        }
    }

    /// `ListRolePolicies` / `ListUserPolicies`: (entity name, policies by name).
    pub fn inline_policies(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
    ) -> Result<(String, BTreeMap<String, String>), IamError> {
        self.read(|r| match kind {
            EntityKind::Role => {
                let x: Role = get_entity(r, kind, account, entity)?;
                Ok((x.name, x.inline_policies))
            }
            EntityKind::User => {
                let x: User = get_entity(r, kind, account, entity)?;
                Ok((x.name, x.inline_policies))
            }
        })
    }

    /// `DeleteRolePolicy` / `DeleteUserPolicy`.
    pub fn delete_inline_policy(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        policy_name: &str,
    ) -> Result<(), IamError> {
        fn go<H: Holder>(
            txn: &mut dyn WriteTxn,
            kind: EntityKind,
            account: &str,
            entity: &str,
            policy_name: &str,
        ) -> Result<(), IamError> {
            let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
            if x.inline().remove(policy_name).is_none() {
                return Err(IamError::NoSuchEntity(format!(
                    "The {} policy with name {policy_name} cannot be found.",
                    kind.word()
                )));
            }
            txn.put_json(kind.table(), &key(account, entity), &x)?;
            Ok(())
        }
        self.write(|txn| match kind {
            EntityKind::Role => go::<Role>(txn, kind, account, entity, policy_name),
            EntityKind::User => go::<User>(txn, kind, account, entity, policy_name),
        })
    }

    // ----- managed policies -----------------------------------------------------------------

    /// `CreatePolicy`.
    pub fn create_policy(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<ManagedPolicy, IamError> {
        validate::name(name, "policyName", 128)?;
        let path = path.unwrap_or("/");
        validate::path(path, "path")?;
        if let Some(d) = description {
            validate::description(d)?;
        }
        validate::tags(&tags)?;
        self.cache.get(document, PolicyKind::Identity)?;
        if quota_size(document) > MANAGED_POLICY_QUOTA {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PolicySize: {MANAGED_POLICY_QUOTA}"
            )));
        }
        self.write(|txn| {
            let k = key(account, name);
            if txn.get(POLICIES, &k)?.is_some() {
                return Err(IamError::EntityAlreadyExists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            let t = now();
            let p = ManagedPolicy {
                account: account.to_string(),
                name: name.to_string(),
                path: path.to_string(),
                id: ids::unique_id("ANPA"),
                arn: entity_arn(account, "policy", path, name),
                description: description.map(str::to_string),
                create_date: t,
                update_date: t,
                default_version_id: "v1".to_string(),
                versions: vec![PolicyVersion {
                    version_id: "v1".to_string(),
                    document: document.to_string(),
                    create_date: t,
                }],
                next_version: 2,
                attachment_count: 0,
                boundary_usage_count: 0,
                tags,
            };
            txn.put_json(POLICIES, &k, &p)?;
            Ok(p)
        })
    }

    /// `GetPolicy` (customer or AWS managed), with this account's attachment counts.
    pub fn get_policy(&self, account: &str, arn: &str) -> Result<ManagedPolicy, IamError> {
        self.read(|r| {
            get_managed(r, account, arn)?
                .ok_or_else(|| IamError::NoSuchEntity(format!("Policy {arn} was not found.")))
        })
    }

    /// `ListPolicies`.
    pub fn list_policies(
        &self,
        account: &str,
        scope: PolicyScope,
        only_attached: bool,
        path_prefix: &str,
    ) -> Result<Vec<ManagedPolicy>, IamError> {
        self.read(|r| {
            let mut out = Vec::new();
            if scope != PolicyScope::Local {
                for p in aws_managed::all() {
                    if let Some(p) = get_managed(r, account, &p.arn)? {
                        out.push(p);
                    }
                }
            }
            if scope != PolicyScope::Aws {
                out.extend(r.scan_json::<ManagedPolicy>(POLICIES, &format!("{account}/"))?);
            }
            Ok(out
                .into_iter()
                .filter(|p| p.path.starts_with(path_prefix))
                .filter(|p| !only_attached || p.attachment_count > 0)
                .collect())
        })
    }

    /// `DeletePolicy`: refused while attached or while non-default versions exist.
    pub fn delete_policy(&self, account: &str, arn: &str) -> Result<(), IamError> {
        self.write(|txn| {
            let p = local_policy(txn.as_read(), account, arn)?;
            if p.attachment_count > 0 || p.boundary_usage_count > 0 {
                return Err(IamError::DeleteConflict("Cannot delete a policy attached to entities.".into()));
            }
            if p.versions.len() > 1 {
                return Err(IamError::DeleteConflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
                ));
            }
            txn.delete(POLICIES, &key(account, &p.name))?;
            Ok(())
        })
    }

    /// `CreatePolicyVersion`.
    pub fn create_policy_version(
        &self,
        account: &str,
        arn: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<PolicyVersion, IamError> {
        self.cache.get(document, PolicyKind::Identity)?;
        if quota_size(document) > MANAGED_POLICY_QUOTA {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PolicySize: {MANAGED_POLICY_QUOTA}"
            )));
        }
        self.write(|txn| {
            let mut p = local_policy(txn.as_read(), account, arn)?;
            if p.versions.len() >= MAX_POLICY_VERSIONS {
                return Err(IamError::LimitExceeded(
                    "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.".into(),
                ));
            }
            let t = now();
            let v = PolicyVersion {
                version_id: format!("v{}", p.next_version),
                document: document.to_string(),
                create_date: t,
            };
            p.next_version += 1;
            p.versions.push(v.clone());
            if set_as_default {
                p.default_version_id = v.version_id.clone();
                p.update_date = t;
            }
            txn.put_json(POLICIES, &key(account, &p.name), &p)?;
            Ok(v)
        })
    }

    /// `GetPolicyVersion`.
    pub fn get_policy_version(
        &self,
        account: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(ManagedPolicy, PolicyVersion), IamError> {
        let p = self.get_policy(account, arn)?;
        let v = p
            .versions
            .iter()
            .find(|v| v.version_id == version_id)
            .cloned()
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version_id} does not exist or is not attachable."
                ))
            })?;
        Ok((p, v))
    }

    /// `DeletePolicyVersion`: the default version cannot be deleted.
    pub fn delete_policy_version(
        &self,
        account: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| {
            let mut p = local_policy(txn.as_read(), account, arn)?;
            if p.default_version_id == version_id {
                return Err(IamError::DeleteConflict(
                    "Cannot delete the default version of a policy.".into(),
                ));
            }
            let before = p.versions.len();
            p.versions.retain(|v| v.version_id != version_id);
            if p.versions.len() == before {
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version_id} does not exist or is not deletable."
                )));
            }
            txn.put_json(POLICIES, &key(account, &p.name), &p)?;
            Ok(())
        })
    }

    /// `SetDefaultPolicyVersion`.
    pub fn set_default_policy_version(
        &self,
        account: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| {
            let mut p = local_policy(txn.as_read(), account, arn)?;
            if !p.versions.iter().any(|v| v.version_id == version_id) {
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version_id} does not exist or is not attachable."
                )));
            }
            p.default_version_id = version_id.to_string();
            p.update_date = now();
            txn.put_json(POLICIES, &key(account, &p.name), &p)?;
            Ok(())
        })
    }

    /// `AttachRolePolicy` / `AttachUserPolicy`.
    pub fn attach_policy(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| attach_in(txn, kind, account, entity, arn))
    }

    /// `DetachRolePolicy` / `DetachUserPolicy`.
    pub fn detach_policy(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        fn go<H: Holder>(
            txn: &mut dyn WriteTxn,
            kind: EntityKind,
            account: &str,
            entity: &str,
            arn: &str,
        ) -> Result<(), IamError> {
            let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
            let before = x.attached().len();
            x.attached().retain(|a| a != arn);
            if x.attached().len() == before {
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} was not found."
                )));
            }
            txn.put_json(kind.table(), &key(account, entity), &x)?;
            adjust_usage(txn, account, arn, -1, 0)
        }
        self.write(|txn| match kind {
            EntityKind::Role => go::<Role>(txn, kind, account, entity, arn),
            EntityKind::User => go::<User>(txn, kind, account, entity, arn),
        })
    }

    /// `ListAttachedRolePolicies` / `ListAttachedUserPolicies`: (name, ARN) pairs.
    pub fn attached_policies(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
    ) -> Result<Vec<(String, String)>, IamError> {
        let arns = self.read(|r| match kind {
            EntityKind::Role => Ok(get_entity::<Role>(r, kind, account, entity)?.attached_policies),
            EntityKind::User => Ok(get_entity::<User>(r, kind, account, entity)?.attached_policies),
        })?;
        Ok(arns
            .into_iter()
            .map(|a| (a.rsplit('/').next().unwrap_or(&a).to_string(), a))
            .collect())
    }

    /// `PutRolePermissionsBoundary` / `PutUserPermissionsBoundary`.
    pub fn put_permissions_boundary(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| set_boundary_in(txn, kind, account, entity, arn))
    }

    /// `DeleteRolePermissionsBoundary` / `DeleteUserPermissionsBoundary`.
    pub fn delete_permissions_boundary(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
    ) -> Result<(), IamError> {
        fn go<H: Holder>(
            txn: &mut dyn WriteTxn,
            kind: EntityKind,
            account: &str,
            entity: &str,
        ) -> Result<(), IamError> {
            let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
            let old = x.boundary().take();
            txn.put_json(kind.table(), &key(account, entity), &x)?;
            if let Some(old) = old {
                adjust_usage(txn, account, &old, 0, -1)?;
            }
            Ok(())
        }
        self.write(|txn| match kind {
            EntityKind::Role => go::<Role>(txn, kind, account, entity),
            EntityKind::User => go::<User>(txn, kind, account, entity),
        })
    }

    // ----- tags -----------------------------------------------------------------------------

    /// `TagRole` / `TagUser`: adds or overwrites tags.
    pub fn tag(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        tags: Vec<Tag>,
    ) -> Result<(), IamError> {
        validate::tags(&tags)?;
        fn go<H: Holder>(
            txn: &mut dyn WriteTxn,
            kind: EntityKind,
            account: &str,
            entity: &str,
            tags: Vec<Tag>,
        ) -> Result<(), IamError> {
            let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
            for t in tags {
                let existing = x
                    .tags()
                    .iter_mut()
                    .find(|e| e.key.eq_ignore_ascii_case(&t.key));
                match existing {
                    Some(e) => e.value = t.value,
                    None => x.tags().push(t),
                }
            }
            if x.tags().len() > 50 {
                return Err(IamError::LimitExceeded(
                    "The number of tags has reached the maximum limit.".into(),
                ));
            }
            txn.put_json(kind.table(), &key(account, entity), &x)?;
            Ok(())
        }
        self.write(|txn| match kind {
            EntityKind::Role => go::<Role>(txn, kind, account, entity, tags),
            EntityKind::User => go::<User>(txn, kind, account, entity, tags),
        })
    }

    /// `UntagRole` / `UntagUser`.
    pub fn untag(
        &self,
        kind: EntityKind,
        account: &str,
        entity: &str,
        keys: &[String],
    ) -> Result<(), IamError> {
        fn go<H: Holder>(
            txn: &mut dyn WriteTxn,
            kind: EntityKind,
            account: &str,
            entity: &str,
            keys: &[String],
        ) -> Result<(), IamError> {
            let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
            x.tags()
                .retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
            txn.put_json(kind.table(), &key(account, entity), &x)?;
            Ok(())
        }
        self.write(|txn| match kind {
            EntityKind::Role => go::<Role>(txn, kind, account, entity, keys),
            EntityKind::User => go::<User>(txn, kind, account, entity, keys),
        })
    }

    /// `TagInstanceProfile`: adds or overwrites tags (keys compared case-insensitively, as IAM
    /// does), at most 50.
    pub fn tag_instance_profile(
        &self,
        account: &str,
        name: &str,
        tags: Vec<Tag>,
    ) -> Result<(), IamError> {
        validate::tags(&tags)?;
        self.write(|txn| {
            let mut p = get_profile(txn.as_read(), account, name)?;
            for t in tags {
                match p
                    .tags
                    .iter_mut()
                    .find(|e| e.key.eq_ignore_ascii_case(&t.key))
                {
                    Some(e) => e.value = t.value,
                    None => p.tags.push(t),
                }
            }
            if p.tags.len() > 50 {
                return Err(IamError::LimitExceeded(
                    "The number of tags has reached the maximum limit.".into(),
                ));
            }
            txn.put_json(INSTANCE_PROFILES, &key(account, name), &p)?;
            Ok(())
        })
    }

    /// `UntagInstanceProfile`: removes the tags with these keys (absent keys are ignored).
    pub fn untag_instance_profile(
        &self,
        account: &str,
        name: &str,
        keys: &[String],
    ) -> Result<(), IamError> {
        self.write(|txn| {
            let mut p = get_profile(txn.as_read(), account, name)?;
            p.tags
                .retain(|t| !keys.iter().any(|k| k.eq_ignore_ascii_case(&t.key)));
            txn.put_json(INSTANCE_PROFILES, &key(account, name), &p)?;
            Ok(())
        })
    }

    // ----- instance profiles ----------------------------------------------------------------

    /// `CreateInstanceProfile`.
    pub fn create_instance_profile(
        &self,
        account: &str,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<InstanceProfile, IamError> {
        validate::name(name, "instanceProfileName", 128)?;
        let path = path.unwrap_or("/");
        validate::path(path, "path")?;
        validate::tags(&tags)?;
        self.write(|txn| {
            let k = key(account, name);
            if txn.get(INSTANCE_PROFILES, &k)?.is_some() {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Instance Profile {name} already exists."
                )));
            }
            let p = InstanceProfile {
                account: account.to_string(),
                name: name.to_string(),
                path: path.to_string(),
                id: ids::unique_id("AIPA"),
                arn: entity_arn(account, "instance-profile", path, name),
                create_date: now(),
                roles: Vec::new(),
                tags,
            };
            txn.put_json(INSTANCE_PROFILES, &k, &p)?;
            Ok(p)
        })
    }

    /// `GetInstanceProfile`.
    pub fn get_instance_profile(
        &self,
        account: &str,
        name: &str,
    ) -> Result<InstanceProfile, IamError> {
        self.read(|r| get_profile(r, account, name))
    }

    /// `ListInstanceProfiles`.
    pub fn list_instance_profiles(
        &self,
        account: &str,
        path_prefix: &str,
    ) -> Result<Vec<InstanceProfile>, IamError> {
        self.read(|r| {
            let all: Vec<InstanceProfile> =
                r.scan_json(INSTANCE_PROFILES, &format!("{account}/"))?;
            Ok(all
                .into_iter()
                .filter(|p| p.path.starts_with(path_prefix))
                .collect())
        })
    }

    /// `ListInstanceProfilesForRole`.
    pub fn instance_profiles_for_role(
        &self,
        account: &str,
        role: &str,
    ) -> Result<Vec<InstanceProfile>, IamError> {
        self.read(|r| {
            get_entity::<Role>(r, EntityKind::Role, account, role)?;
            let all: Vec<InstanceProfile> =
                r.scan_json(INSTANCE_PROFILES, &format!("{account}/"))?;
            Ok(all
                .into_iter()
                .filter(|p| p.roles.iter().any(|x| x.eq_ignore_ascii_case(role)))
                .collect())
        })
    }

    /// `DeleteInstanceProfile`: refused while it contains a role.
    pub fn delete_instance_profile(&self, account: &str, name: &str) -> Result<(), IamError> {
        self.write(|txn| {
            let p = get_profile(txn.as_read(), account, name)?;
            if !p.roles.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must remove roles from instance profile first.".into(),
                ));
            }
            txn.delete(INSTANCE_PROFILES, &key(account, name))?;
            Ok(())
        })
    }

    /// `AddRoleToInstanceProfile`: at most one role per profile.
    pub fn add_role_to_instance_profile(
        &self,
        account: &str,
        profile: &str,
        role: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| {
            let mut p = get_profile(txn.as_read(), account, profile)?;
            let r: Role = get_entity(txn.as_read(), EntityKind::Role, account, role)?;
            if p.roles.iter().any(|x| x.eq_ignore_ascii_case(role)) {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role {} already exists.",
                    r.name
                )));
            }
            if !p.roles.is_empty() {
                return Err(IamError::LimitExceeded(
                    "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".into(),
                ));
            }
            p.roles.push(r.name);
            txn.put_json(INSTANCE_PROFILES, &key(account, profile), &p)?;
            Ok(())
        })
    }

    /// `RemoveRoleFromInstanceProfile`.
    pub fn remove_role_from_instance_profile(
        &self,
        account: &str,
        profile: &str,
        role: &str,
    ) -> Result<(), IamError> {
        self.write(|txn| {
            let mut p = get_profile(txn.as_read(), account, profile)?;
            get_entity::<Role>(txn.as_read(), EntityKind::Role, account, role)?;
            let before = p.roles.len();
            p.roles.retain(|x| !x.eq_ignore_ascii_case(role));
            if p.roles.len() == before {
                return Err(IamError::NoSuchEntity(format!(
                    "The role with name {role} cannot be found in instance profile {profile}."
                )));
            }
            txn.put_json(INSTANCE_PROFILES, &key(account, profile), &p)?;
            Ok(())
        })
    }

    // ----- authorization support ------------------------------------------------------------

    /// The identity policies and boundary of a user or role, parsed. `None` if the entity
    /// does not exist (any more).
    pub fn principal_policies(
        &self,
        kind: EntityKind,
        account: &str,
        name: &str,
    ) -> Result<Option<PrincipalPolicies>, IamError> {
        self.entity_policies(kind, account, name, None)
    }

    /// The identity policies and boundary of the role a session was issued for, read in one
    /// snapshot with the check that the role still is that role: `None` if no role `name`
    /// exists, or if the role of that name has another unique id than `role_id` (it was deleted
    /// and created again). Sessions are bound to the role's unique id, as AWS's `AROA...` ids
    /// bind policies: a session of a deleted role never gains the permissions of a new role of
    /// the same name.
    pub fn session_role_policies(
        &self,
        account: &str,
        name: &str,
        role_id: &str,
    ) -> Result<Option<PrincipalPolicies>, IamError> {
        self.entity_policies(EntityKind::Role, account, name, Some(role_id))
    }

    fn entity_policies(
        &self,
        kind: EntityKind,
        account: &str,
        name: &str,
        role_id: Option<&str>,
    ) -> Result<Option<PrincipalPolicies>, IamError> {
        self.read(|r| {
            let (label, inline, attached, boundary) = match kind {
                EntityKind::Role => match r.get_json::<Role>(ROLES, &key(account, name))? {
                    Some(x) if role_id.is_some_and(|id| id != x.id) => return Ok(None),
                    Some(x) => (
                        format!("role/{}", x.name),
                        x.inline_policies,
                        x.attached_policies,
                        x.permissions_boundary,
                    ),
                    None => return Ok(None),
                },
                EntityKind::User => match r.get_json::<User>(USERS, &key(account, name))? {
                    Some(x) => (
                        format!("user/{}", x.name),
                        x.inline_policies,
                        x.attached_policies,
                        x.permissions_boundary,
                    ),
                    None => return Ok(None),
                },
            };
            let mut out = PrincipalPolicies::default();
            for (pname, doc) in &inline {
                out.identity.push(self.cache.named(
                    doc,
                    PolicyKind::Identity,
                    format!("{label}/inline/{pname}"),
                )?);
            }
            for arn in &attached {
                if let Some(p) = get_managed(r, account, arn)?
                    && let Some(doc) = p.default_document()
                {
                    out.identity
                        .push(self.cache.named(doc, PolicyKind::Identity, arn.clone())?);
                }
            }
            if let Some(arn) = boundary
                && let Some(p) = get_managed(r, account, &arn)?
                && let Some(doc) = p.default_document()
            {
                out.boundary = Some(self.cache.named(doc, PolicyKind::Boundary, arn.clone())?);
            }
            Ok(Some(out))
        })
    }

    /// A managed policy's default document as a parsed policy of `kind` (session `PolicyArns`).
    pub fn managed_policy_named(
        &self,
        account: &str,
        arn: &str,
        kind: PolicyKind,
    ) -> Result<Option<NamedPolicy>, IamError> {
        self.read(|r| match get_managed(r, account, arn)? {
            Some(p) => match p.default_document() {
                Some(doc) => Ok(Some(self.cache.named(doc, kind, arn.to_string())?)),
                None => Ok(None),
            },
            None => Ok(None),
        })
    }
}

// ----- helpers inside transactions ----------------------------------------------------------

fn get_entity<H: DeserializeOwned>(
    r: &dyn ReadTxn,
    kind: EntityKind,
    account: &str,
    name: &str,
) -> Result<H, IamError> {
    r.get_json(kind.table(), &key(account, name))?
        .ok_or_else(|| kind.not_found(name))
}

fn get_profile(r: &dyn ReadTxn, account: &str, name: &str) -> Result<InstanceProfile, IamError> {
    r.get_json(INSTANCE_PROFILES, &key(account, name))?
        .ok_or_else(|| IamError::NoSuchEntity(format!("Instance Profile {name} cannot be found.")))
}

/// A managed policy visible from `account`: its own customer-managed policies and AWS's.
fn get_managed(
    r: &dyn ReadTxn,
    account: &str,
    arn: &str,
) -> Result<Option<ManagedPolicy>, IamError> {
    if let Some(mut p) = aws_managed::get(arn) {
        if let Some((a, b)) =
            r.get_json::<(u32, u32)>(AWS_POLICY_USAGE, &format!("{account}/{arn}"))?
        {
            p.attachment_count = a;
            p.boundary_usage_count = b;
        }
        return Ok(Some(p));
    }
    match parse_policy_arn(arn) {
        Some((a, name)) if a == account => Ok(r
            .get_json::<ManagedPolicy>(POLICIES, &key(account, &name))?
            .filter(|p| p.arn == arn)),
        _ => Ok(None),
    }
}

fn local_policy(r: &dyn ReadTxn, account: &str, arn: &str) -> Result<ManagedPolicy, IamError> {
    if arn.starts_with("arn:aws:iam::aws:") {
        return Err(IamError::InvalidInput(format!(
            "Policy {arn} is an AWS managed policy and cannot be modified."
        )));
    }
    match get_managed(r, account, arn)? {
        Some(p) => Ok(p),
        None => Err(IamError::NoSuchEntity(format!(
            "Policy {arn} was not found."
        ))),
    }
}

/// Adds to a managed policy's attachment and boundary-usage counts.
fn adjust_usage(
    txn: &mut dyn WriteTxn,
    account: &str,
    arn: &str,
    attach: i64,
    boundary: i64,
) -> Result<(), IamError> {
    let bump = |v: u32, d: i64| (v as i64 + d).max(0) as u32;
    if aws_managed::get(arn).is_some() {
        let k = format!("{account}/{arn}");
        let (a, b) = txn
            .get_json::<(u32, u32)>(AWS_POLICY_USAGE, &k)?
            .unwrap_or((0, 0));
        txn.put_json(AWS_POLICY_USAGE, &k, &(bump(a, attach), bump(b, boundary)))?;
        return Ok(());
    }
    if let Some(mut p) = get_managed(txn.as_read(), account, arn)? {
        p.attachment_count = bump(p.attachment_count, attach);
        p.boundary_usage_count = bump(p.boundary_usage_count, boundary);
        txn.put_json(POLICIES, &key(account, &p.name), &p)?;
    }
    Ok(())
}

fn create_user_in(
    txn: &mut dyn WriteTxn,
    account: &str,
    input: CreateUser,
) -> Result<User, IamError> {
    validate::name(&input.name, "userName", 64)?;
    let path = input.path.clone().unwrap_or_else(|| "/".to_string());
    validate::path(&path, "path")?;
    validate::tags(&input.tags)?;
    let k = key(account, &input.name);
    if txn.get(USERS, &k)?.is_some() {
        return Err(IamError::EntityAlreadyExists(format!(
            "User with name {} already exists.",
            input.name
        )));
    }
    let user = User {
        account: account.to_string(),
        arn: entity_arn(account, "user", &path, &input.name),
        name: input.name.clone(),
        path,
        id: ids::unique_id("AIDA"),
        create_date: now(),
        tags: input.tags.clone(),
        inline_policies: BTreeMap::new(),
        attached_policies: Vec::new(),
        permissions_boundary: None,
    };
    txn.put_json(USERS, &k, &user)?;
    if let Some(b) = &input.permissions_boundary {
        set_boundary_in(txn, EntityKind::User, account, &input.name, b)?;
    }
    Ok(txn.get_json(USERS, &k)?.unwrap_or(user))
}

/// An access key as stored: its secret only sealed (see [`crate::seal`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAccessKey {
    access_key_id: String,
    /// The secret in clear: only in stores of schema version 1, until
    /// [`seal_stored_secrets`] seals it. Never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
    /// The secret sealed under the label [`access_key_label`], in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_secret_access_key: Option<String>,
    account: String,
    user_name: Option<String>,
    status: AccessKeyStatus,
    create_date: i64,
}

impl StoredAccessKey {
    fn seal(key: &AccessKey, sealer: &dyn SecretSealer) -> StoredAccessKey {
        let sealed = sealer.seal(
            &access_key_label(&key.access_key_id),
            key.secret_access_key.as_bytes(),
        );
        StoredAccessKey {
            access_key_id: key.access_key_id.clone(),
            secret_access_key: None,
            sealed_secret_access_key: Some(STANDARD.encode(sealed)),
            account: key.account.clone(),
            user_name: key.user_name.clone(),
            status: key.status,
            create_date: key.create_date,
        }
    }

    /// The key with its secret unsealed. A secret that does not open, or one in clear (a store
    /// not upgraded), is a corrupt record: never served.
    fn open(self, sealer: &dyn SecretSealer) -> Result<AccessKey, IamError> {
        let corrupt = |reason: &str| {
            IamError::Store(StoreError::Corrupt {
                table: ACCESS_KEYS.to_string(),
                key: self.access_key_id.clone(),
                reason: reason.to_string(),
            })
        };
        let Some(sealed) = &self.sealed_secret_access_key else {
            return Err(corrupt(
                "the secret access key is stored in clear (a store of schema version 1 that \
                 was not upgraded)",
            ));
        };
        let secret = STANDARD
            .decode(sealed)
            .ok()
            .and_then(|b| sealer.open(&access_key_label(&self.access_key_id), &b))
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or_else(|| {
                corrupt("the sealed secret access key does not open with this server's key")
            })?;
        Ok(AccessKey {
            access_key_id: self.access_key_id,
            secret_access_key: secret,
            account: self.account,
            user_name: self.user_name,
            status: self.status,
            create_date: self.create_date,
        })
    }
}

/// Upgrades a store written before secret access keys were sealed (schema version 1): seals
/// every secret stored in clear with `sealer`, records [`airlock_store::SCHEMA_VERSION`] and
/// asks for the store file to be rewritten (the pages that held the clear secrets are only
/// freed by the backend, not erased), all in one durable transaction. Returns how many secrets
/// were sealed now (0 for a store already upgraded, which is left unchanged).
///
/// The sealer must be the one the server keeps using (checked first: the server verifies the
/// KMS master key against the store before it calls this).
pub fn seal_stored_secrets(
    store: &dyn Store,
    sealer: &dyn SecretSealer,
) -> Result<usize, IamError> {
    let mut txn = store.write()?;
    let version = airlock_store::schema_version(txn.as_read())?;
    let mut sealed = 0;
    for (id, bytes) in txn.scan_prefix(ACCESS_KEYS, "")? {
        let mut k: StoredAccessKey =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                table: ACCESS_KEYS.to_string(),
                key: id.clone(),
                reason: e.to_string(),
            })?;
        let Some(secret) = k.secret_access_key.take() else {
            continue;
        };
        let clear = AccessKey {
            access_key_id: k.access_key_id.clone(),
            secret_access_key: secret,
            account: k.account.clone(),
            user_name: k.user_name.clone(),
            status: k.status,
            create_date: k.create_date,
        };
        txn.put_json(ACCESS_KEYS, &id, &StoredAccessKey::seal(&clear, sealer))?;
        sealed += 1;
    }
    let old_version = version.is_some_and(|v| v < airlock_store::SCHEMA_VERSION);
    if sealed == 0 && !old_version {
        return Ok(0);
    }
    if old_version {
        airlock_store::set_schema_version(&mut *txn, airlock_store::SCHEMA_VERSION)?;
    }
    if sealed > 0 {
        airlock_store::request_rewrite(&mut *txn)?;
    }
    txn.commit()?;
    Ok(sealed)
}

fn access_keys_of(
    r: &dyn ReadTxn,
    account: &str,
    user: Option<&str>,
) -> Result<Vec<StoredAccessKey>, IamError> {
    let all: Vec<StoredAccessKey> = r.scan_json(ACCESS_KEYS, "")?;
    Ok(all
        .into_iter()
        .filter(|k| {
            k.account == account
                && k.user_name.as_deref().map(str::to_ascii_lowercase)
                    == user.map(str::to_ascii_lowercase)
        })
        .collect())
}

/// The access key `key_id` of `user` with the secret `secret`, created (within the quota) or
/// reactivated.
fn ensure_fixed_key_in(
    txn: &mut dyn WriteTxn,
    sealer: &dyn SecretSealer,
    account: &str,
    user: &str,
    key_id: &str,
    secret: &str,
) -> Result<AccessKey, IamError> {
    if let Some(stored) = txn.get_json::<StoredAccessKey>(ACCESS_KEYS, key_id)? {
        if stored.account != account
            || stored.user_name.as_deref().map(str::to_ascii_lowercase)
                != Some(user.to_ascii_lowercase())
        {
            return Err(IamError::EntityAlreadyExists(format!(
                "The access key {key_id} belongs to another user ({} in account {})",
                stored.user_name.as_deref().unwrap_or("root"),
                stored.account
            )));
        }
        let mut key = stored.open(sealer)?;
        if key.status != AccessKeyStatus::Active || key.secret_access_key != secret {
            key.status = AccessKeyStatus::Active;
            key.secret_access_key = secret.to_string();
            txn.put_json(ACCESS_KEYS, key_id, &StoredAccessKey::seal(&key, sealer))?;
        }
        return Ok(key);
    }
    if access_keys_of(txn.as_read(), account, Some(user))?.len() >= MAX_ACCESS_KEYS {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS} (user {user} of account \
             {account} has {MAX_ACCESS_KEYS} keys; delete one with `aws iam delete-access-key \
             --user-name {user} --access-key-id ID` to make room for {key_id})"
        )));
    }
    let k = AccessKey {
        access_key_id: key_id.to_string(),
        secret_access_key: secret.to_string(),
        account: account.to_string(),
        user_name: Some(user.to_string()),
        status: AccessKeyStatus::Active,
        create_date: now(),
    };
    txn.put_json(ACCESS_KEYS, key_id, &StoredAccessKey::seal(&k, sealer))?;
    Ok(k)
}

fn create_access_key_in(
    txn: &mut dyn WriteTxn,
    sealer: &dyn SecretSealer,
    account: &str,
    user: Option<&str>,
) -> Result<AccessKey, IamError> {
    if access_keys_of(txn.as_read(), account, user)?.len() >= MAX_ACCESS_KEYS {
        return Err(IamError::LimitExceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
        )));
    }
    let k = AccessKey {
        access_key_id: ids::access_key_id("AKIA"),
        secret_access_key: ids::secret_access_key(),
        account: account.to_string(),
        user_name: user.map(str::to_string),
        status: AccessKeyStatus::Active,
        create_date: now(),
    };
    txn.put_json(
        ACCESS_KEYS,
        &k.access_key_id,
        &StoredAccessKey::seal(&k, sealer),
    )?;
    Ok(k)
}

fn put_inline_in<H: Holder>(
    txn: &mut dyn WriteTxn,
    kind: EntityKind,
    account: &str,
    entity: &str,
    policy_name: &str,
    document: &str,
) -> Result<(), IamError> {
    let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
    x.inline()
        .insert(policy_name.to_string(), document.to_string());
    let total: usize = x.inline().values().map(|d| quota_size(d)).sum();
    let quota = match kind {
        EntityKind::Role => ROLE_INLINE_QUOTA,
        EntityKind::User => USER_INLINE_QUOTA,
    };
    if total > quota {
        return Err(IamError::LimitExceeded(format!(
            "Maximum policy size of {quota} bytes exceeded for {} {entity}",
            kind.word()
        )));
    }
    txn.put_json(kind.table(), &key(account, entity), &x)?;
    Ok(())
}

fn attach_in(
    txn: &mut dyn WriteTxn,
    kind: EntityKind,
    account: &str,
    entity: &str,
    arn: &str,
) -> Result<(), IamError> {
    fn go<H: Holder>(
        txn: &mut dyn WriteTxn,
        kind: EntityKind,
        account: &str,
        entity: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        if get_managed(txn.as_read(), account, arn)?.is_none() {
            return Err(policy_not_attachable(arn));
        }
        let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
        if x.attached().iter().any(|a| a == arn) {
            return Ok(());
        }
        if x.attached().len() >= MAX_MANAGED_PER_ENTITY {
            let quota = match kind {
                EntityKind::Role => "PoliciesPerRole",
                EntityKind::User => "PoliciesPerUser",
            };
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for {quota}: {MAX_MANAGED_PER_ENTITY}"
            )));
        }
        x.attached().push(arn.to_string());
        txn.put_json(kind.table(), &key(account, entity), &x)?;
        adjust_usage(txn, account, arn, 1, 0)
    }
    match kind {
        EntityKind::Role => go::<Role>(txn, kind, account, entity, arn),
        EntityKind::User => go::<User>(txn, kind, account, entity, arn),
    }
}

fn set_boundary_in(
    txn: &mut dyn WriteTxn,
    kind: EntityKind,
    account: &str,
    entity: &str,
    arn: &str,
) -> Result<(), IamError> {
    fn go<H: Holder>(
        txn: &mut dyn WriteTxn,
        kind: EntityKind,
        account: &str,
        entity: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        if get_managed(txn.as_read(), account, arn)?.is_none() {
            return Err(IamError::NoSuchEntity(format!(
                "Scope ARN: {arn} does not exist or is not attachable."
            )));
        }
        let mut x: H = get_entity(txn.as_read(), kind, account, entity)?;
        let old = x.boundary().replace(arn.to_string());
        txn.put_json(kind.table(), &key(account, entity), &x)?;
        if let Some(old) = old {
            adjust_usage(txn, account, &old, 0, -1)?;
        }
        adjust_usage(txn, account, arn, 0, 1)
    }
    match kind {
        EntityKind::Role => go::<Role>(txn, kind, account, entity, arn),
        EntityKind::User => go::<User>(txn, kind, account, entity, arn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_store::RedbStore;

    fn iam() -> Iam {
        let iam = Iam::new(
            Arc::new(RedbStore::in_memory().unwrap()),
            Arc::new(crate::AesGcmSealer::new(&[9u8; 32])),
        );
        iam.ensure_account("111111111111", "account-a").unwrap();
        iam
    }

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
    const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

    #[test]
    fn a_fixed_admin_key_is_created_reactivated_and_kept_within_the_quota() {
        let iam = Iam::new(
            Arc::new(RedbStore::in_memory().unwrap()),
            Arc::new(crate::AesGcmSealer::new(&[9u8; 32])),
        );
        let fixed = Some(("AKIAFIXEDFIXEDFIXED1", "fixed/secret"));
        // A new account gets only the fixed key.
        let (_, k) = iam
            .ensure_account_with_key("111111111111", "a", fixed)
            .unwrap();
        assert_eq!(k.access_key_id, "AKIAFIXEDFIXEDFIXED1");
        assert_eq!(k.secret_access_key, "fixed/secret");
        assert_eq!(
            iam.list_access_keys("111111111111", Some("admin"))
                .unwrap()
                .len(),
            1
        );
        // Deactivated by hand: made active again.
        iam.update_access_key(
            "111111111111",
            Some("admin"),
            "AKIAFIXEDFIXEDFIXED1",
            AccessKeyStatus::Inactive,
        )
        .unwrap();
        let (_, k) = iam
            .ensure_account_with_key("111111111111", "a", fixed)
            .unwrap();
        assert_eq!(k.status, AccessKeyStatus::Active);
        // An existing account keeps its random key and gains the fixed one.
        let (_, random) = iam.ensure_account("222222222222", "b").unwrap();
        let (_, k) = iam
            .ensure_account_with_key("222222222222", "b", Some(("AKIAFIXEDFIXEDFIXED2", "s")))
            .unwrap();
        assert_eq!(k.access_key_id, "AKIAFIXEDFIXEDFIXED2");
        let ids: Vec<String> = iam
            .list_access_keys("222222222222", Some("admin"))
            .unwrap()
            .into_iter()
            .map(|k| k.access_key_id)
            .collect();
        assert!(ids.contains(&random.access_key_id), "{ids:?}");
        // Another account's fixed key id is refused; so is a third key.
        let err = iam
            .ensure_account_with_key("222222222222", "b", fixed)
            .unwrap_err();
        assert!(err.to_string().contains("another user"), "{err}");
        let err = iam
            .ensure_account_with_key("222222222222", "b", Some(("AKIAFIXEDFIXEDFIXED3", "s")))
            .unwrap_err();
        assert!(err.to_string().contains("delete-access-key"), "{err}");
    }

    #[test]
    fn account_bootstrap_is_idempotent() {
        let iam = iam();
        let (_, k1) = iam.ensure_account("111111111111", "account-a").unwrap();
        let (_, k2) = iam.ensure_account("111111111111", "account-a").unwrap();
        assert_eq!(k1, k2);
        let admin = iam.get_user("111111111111", "admin").unwrap();
        assert_eq!(
            admin.attached_policies,
            vec![aws_managed::ADMINISTRATOR_ACCESS.to_string()]
        );
        let p = iam
            .principal_policies(EntityKind::User, "111111111111", "admin")
            .unwrap()
            .unwrap();
        assert_eq!(p.identity.len(), 1);
    }

    #[test]
    fn secret_access_keys_are_stored_only_sealed() {
        let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
        let iam = Iam::new(
            store.clone(),
            Arc::new(crate::AesGcmSealer::new(&[9u8; 32])),
        );
        let (_, admin) = iam.ensure_account("111111111111", "account-a").unwrap();
        let k = iam.create_access_key("111111111111", None).unwrap();
        for key in [&admin, &k] {
            let raw = store
                .read()
                .unwrap()
                .get(ACCESS_KEYS, &key.access_key_id)
                .unwrap()
                .unwrap();
            let raw = String::from_utf8(raw).unwrap();
            assert!(!raw.contains(&key.secret_access_key), "{raw}");
            assert!(raw.contains("sealed_secret_access_key"), "{raw}");
            assert_eq!(
                iam.access_key(&key.access_key_id).unwrap().as_ref(),
                Some(key)
            );
        }
        let listed = iam.list_access_keys("111111111111", Some("admin")).unwrap();
        assert_eq!(listed, vec![admin.clone()]);
        iam.update_access_key(
            "111111111111",
            None,
            &k.access_key_id,
            AccessKeyStatus::Inactive,
        )
        .unwrap();
        let k2 = iam.access_key(&k.access_key_id).unwrap().unwrap();
        assert_eq!(k2.secret_access_key, k.secret_access_key);
        assert_eq!(k2.status, AccessKeyStatus::Inactive);
        // Under another key the secrets do not open: refused, never served.
        let other = Iam::new(store, Arc::new(crate::AesGcmSealer::new(&[1u8; 32])));
        assert!(matches!(
            other.access_key(&admin.access_key_id),
            Err(IamError::Store(StoreError::Corrupt { .. }))
        ));
    }

    #[test]
    fn a_store_with_secrets_in_clear_is_upgraded_in_one_transaction() {
        let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
        let sealer = Arc::new(crate::AesGcmSealer::new(&[9u8; 32]));
        // What airlock of schema version 1 wrote.
        let legacy = r#"{"access_key_id":"AKIAOLDOLDOLDOLDOLD1","secret_access_key":"0ld/s3cret/In/Clear/0123456789abcdefghij","account":"111111111111","user_name":"admin","status":"Active","create_date":1700000000}"#;
        {
            let mut w = store.write().unwrap();
            w.put(ACCESS_KEYS, "AKIAOLDOLDOLDOLDOLD1", legacy.as_bytes())
                .unwrap();
            airlock_store::set_schema_version(&mut *w, 1).unwrap();
            w.commit().unwrap();
        }
        let iam = Iam::new(store.clone(), sealer.clone());
        // Not upgraded: the key is refused rather than served from clear text.
        assert!(iam.access_key("AKIAOLDOLDOLDOLDOLD1").is_err());
        assert_eq!(seal_stored_secrets(&*store, &*sealer).unwrap(), 1);
        let r = store.read().unwrap();
        let raw = String::from_utf8(r.get(ACCESS_KEYS, "AKIAOLDOLDOLDOLDOLD1").unwrap().unwrap())
            .unwrap();
        assert!(!raw.contains("0ld/s3cret"), "{raw}");
        assert_eq!(
            airlock_store::schema_version(&*r).unwrap(),
            Some(airlock_store::SCHEMA_VERSION)
        );
        assert!(
            r.get(airlock_store::META_TABLE, "rewrite_requested")
                .unwrap()
                .is_some()
        );
        drop(r);
        let k = iam.access_key("AKIAOLDOLDOLDOLDOLD1").unwrap().unwrap();
        assert_eq!(
            k.secret_access_key,
            "0ld/s3cret/In/Clear/0123456789abcdefghij"
        );
        assert_eq!(k.user_name.as_deref(), Some("admin"));
        // Once upgraded, nothing more to do.
        assert_eq!(seal_stored_secrets(&*store, &*sealer).unwrap(), 0);
    }

    #[test]
    fn session_policies_are_bound_to_the_role_unique_id() {
        let iam = iam();
        let a = "111111111111";
        let old = iam.create_role(a, CreateRole::new("R", TRUST)).unwrap();
        iam.put_inline_policy(EntityKind::Role, a, "R", "P", ALLOW)
            .unwrap();
        let p = iam.session_role_policies(a, "r", &old.id).unwrap().unwrap();
        assert_eq!(p.identity.len(), 1);
        assert!(
            iam.session_role_policies(a, "R", "AROAOTHER")
                .unwrap()
                .is_none()
        );
        iam.delete_inline_policy(EntityKind::Role, a, "R", "P")
            .unwrap();
        iam.delete_role(a, "R").unwrap();
        assert!(
            iam.session_role_policies(a, "R", &old.id)
                .unwrap()
                .is_none()
        );
        // The same name, trust and permissions again: a new role, with a new unique id.
        let new = iam.create_role(a, CreateRole::new("R", TRUST)).unwrap();
        iam.put_inline_policy(EntityKind::Role, a, "R", "P", ALLOW)
            .unwrap();
        assert_ne!(new.id, old.id);
        assert!(
            iam.session_role_policies(a, "R", &old.id)
                .unwrap()
                .is_none()
        );
        assert!(
            iam.session_role_policies(a, "R", &new.id)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn role_lifecycle_and_conflicts() {
        let iam = iam();
        let a = "111111111111";
        iam.create_role(a, CreateRole::new("R", TRUST)).unwrap();
        assert!(matches!(
            iam.create_role(a, CreateRole::new("r", TRUST)),
            Err(IamError::EntityAlreadyExists(_))
        ));
        iam.put_inline_policy(EntityKind::Role, a, "R", "P", ALLOW)
            .unwrap();
        assert!(matches!(
            iam.delete_role(a, "R"),
            Err(IamError::DeleteConflict(_))
        ));
        iam.delete_inline_policy(EntityKind::Role, a, "R", "P")
            .unwrap();
        iam.attach_policy(EntityKind::Role, a, "R", aws_managed::ADMINISTRATOR_ACCESS)
            .unwrap();
        assert_eq!(
            iam.get_policy(a, aws_managed::ADMINISTRATOR_ACCESS)
                .unwrap()
                .attachment_count,
            2
        );
        assert!(matches!(
            iam.delete_role(a, "R"),
            Err(IamError::DeleteConflict(_))
        ));
        iam.detach_policy(EntityKind::Role, a, "R", aws_managed::ADMINISTRATOR_ACCESS)
            .unwrap();
        iam.delete_role(a, "R").unwrap();
        assert!(matches!(
            iam.get_role(a, "R"),
            Err(IamError::NoSuchEntity(_))
        ));
    }

    #[test]
    fn instance_profile_tags_are_added_overwritten_and_removed() {
        let iam = iam();
        let a = "111111111111";
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        iam.create_instance_profile(a, "P", None, vec![tag("owner", "alice")])
            .unwrap();
        iam.tag_instance_profile(a, "P", vec![tag("OWNER", "bob"), tag("team", "x")])
            .unwrap();
        let got = iam.get_instance_profile(a, "P").unwrap().tags;
        // Keys compare case-insensitively, as IAM's do: the first spelling stays.
        assert_eq!(got, vec![tag("owner", "bob"), tag("team", "x")]);
        iam.untag_instance_profile(a, "P", &["Owner".into(), "absent".into()])
            .unwrap();
        assert_eq!(
            iam.get_instance_profile(a, "P").unwrap().tags,
            vec![tag("team", "x")]
        );
        assert!(matches!(
            iam.tag_instance_profile(a, "Q", vec![tag("k", "v")]),
            Err(IamError::NoSuchEntity(_))
        ));
        let many = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(matches!(
            iam.tag_instance_profile(a, "P", many),
            Err(IamError::LimitExceeded(_))
        ));
    }

    #[test]
    fn managed_policy_versions() {
        let iam = iam();
        let a = "111111111111";
        let p = iam
            .create_policy(a, "P", None, ALLOW, None, vec![])
            .unwrap();
        for _ in 0..4 {
            iam.create_policy_version(a, &p.arn, ALLOW, false).unwrap();
        }
        assert!(matches!(
            iam.create_policy_version(a, &p.arn, ALLOW, true),
            Err(IamError::LimitExceeded(_))
        ));
        assert!(matches!(
            iam.delete_policy_version(a, &p.arn, "v1"),
            Err(IamError::DeleteConflict(_))
        ));
        iam.set_default_policy_version(a, &p.arn, "v3").unwrap();
        iam.delete_policy_version(a, &p.arn, "v1").unwrap();
        assert!(matches!(
            iam.delete_policy(a, &p.arn),
            Err(IamError::DeleteConflict(_))
        ));
    }

    #[test]
    fn failed_operations_store_nothing() {
        let iam = iam();
        let a = "111111111111";
        assert!(
            iam.create_role(a, CreateRole::new("bad name", TRUST))
                .is_err()
        );
        assert!(iam.list_roles(a, "/").unwrap().is_empty());
        iam.create_role(a, CreateRole::new("R", TRUST)).unwrap();
        assert!(
            iam.attach_policy(EntityKind::Role, a, "R", "arn:aws:iam::aws:policy/Nope")
                .is_err()
        );
        assert!(iam.get_role(a, "R").unwrap().attached_policies.is_empty());
    }
}
