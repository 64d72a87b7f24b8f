//! Callers and fixtures shared by the airlock-kms integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_kms::{Caller, Clock, Kms, ManualClock, MasterKey};
use airlock_policy::{Context, NamedPolicy, Policy, PolicyId, PolicyKind, PolicySet, Principal};
use airlock_store::RedbStore;

pub const A: &str = "111111111111";
pub const B: &str = "222222222222";
pub const REGION: &str = "us-east-1";

/// The seed's key policy (Step 1), verbatim.
pub const SEED_KEY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::222222222222:root"
      },
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow Account A to use the key",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::111111111111:root"
      },
      "Action": [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey"
      ],
      "Resource": "*"
    }
  ]
}"#;

/// The seed's key policy without the statement for account A.
pub const SEED_KEY_POLICY_WITHOUT_A: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::222222222222:root"
      },
      "Action": "kms:*",
      "Resource": "*"
    }
  ]
}"#;

pub fn identity(name: &str, json: &str) -> NamedPolicy {
    NamedPolicy {
        id: PolicyId {
            kind: PolicyKind::Identity,
            name: name.to_string(),
        },
        policy: Arc::new(Policy::parse(json, PolicyKind::Identity).expect("test policy parses")),
    }
}

pub fn root(account: &str) -> Caller {
    Caller::new(
        Principal::Root {
            account: account.to_string(),
        },
        PolicySet::default(),
        Context::new(),
    )
}

/// An IAM user with AdministratorAccess.
pub fn admin(account: &str) -> Caller {
    Caller::new(
        Principal::User {
            account: account.to_string(),
            name: "admin".into(),
            path: "/".into(),
            id: "AIDAADMINADMINADMIN1".into(),
            tags: BTreeMap::new(),
        },
        PolicySet {
            identity: vec![identity(
                "AdministratorAccess",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            )],
            ..PolicySet::default()
        },
        Context::new(),
    )
}

/// A session of role `role` in `account` with the given identity policies.
pub fn role_session(account: &str, role: &str, policies: &[(&str, &str)]) -> Caller {
    Caller::new(
        Principal::RoleSession {
            account: account.to_string(),
            role_name: role.to_string(),
            role_path: "/".into(),
            role_id: "AROAEXAMPLEROLEID001".into(),
            session_name: "session".into(),
            tags: BTreeMap::new(),
            source_identity: None,
        },
        PolicySet {
            identity: policies.iter().map(|(n, j)| identity(n, j)).collect(),
            ..PolicySet::default()
        },
        Context::new(),
    )
}

/// An identity policy allowing `actions` on `resource`.
pub fn allow(actions: &[&str], resource: &str) -> String {
    let actions: Vec<String> = actions.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{}],"Resource":"{resource}"}}]}}"#,
        actions.join(",")
    )
}

pub struct Env {
    pub kms: Kms,
    pub clock: Arc<ManualClock>,
    pub store: Arc<RedbStore>,
}

pub fn env() -> Env {
    let store = Arc::new(RedbStore::in_memory().expect("in-memory store"));
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let kms = Kms::open(
        store.clone(),
        MasterKey::generate(),
        REGION,
        clock.clone() as Arc<dyn Clock>,
    )
    .expect("kms opens");
    Env { kms, clock, store }
}

pub fn ctx(pairs: &[(&str, &str)]) -> airlock_kms::EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
