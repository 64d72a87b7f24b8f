//! Ownership: which live resources this deployment may change or delete.
//!
//! Every resource `apply` creates carries two tags from its creation on: `airlock:blueprint`
//! (the blueprint's name) and `airlock:deployment` (the deployment id, random, made at the
//! first apply and kept in the state file). A resource is this deployment's only when **both**
//! hold: the state file records its unique id (key id, role id, instance profile id, VPC id,
//! ...; for the bucket, its name) **and** the live resource carries this deployment's tags. An
//! id in the state file alone proves nothing (names are reused after a delete, state files get
//! copied); a tag alone proves nothing either (tags are copied by hand, and a state file copied
//! beside another blueprint keeps the deployment id, which the blueprint tag catches).
//!
//! A resource taken over with `apply --adopt NAME` keeps its owner's tags; it gets a tag
//! `airlock:adopted:DEPLOYMENT` = blueprint, the state file records it as adopted with the
//! original of everything apply changed on it ([`Restore`]), and `destroy` gives it back as it
//! found it; no option makes destroy delete it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Tag key naming the blueprint that created a resource.
pub const TAG_BLUEPRINT: &str = "airlock:blueprint";
/// Tag key naming the deployment (state file) that created a resource.
pub const TAG_DEPLOYMENT: &str = "airlock:deployment";
/// Prefix of the tag key a deployment puts on a resource it adopted
/// (`airlock:adopted:DEPLOYMENT` = blueprint).
pub const TAG_ADOPTED_PREFIX: &str = "airlock:adopted:";

/// Who is acting: the blueprint and its deployment id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The blueprint's name (its file name without the extension).
    pub blueprint: String,
    /// The deployment id of the state file.
    pub deployment: String,
}

impl Identity {
    /// The tags every resource apply creates carries.
    pub fn creation_tags(&self) -> Vec<(String, String)> {
        vec![
            (TAG_BLUEPRINT.to_string(), self.blueprint.clone()),
            (TAG_DEPLOYMENT.to_string(), self.deployment.clone()),
        ]
    }

    /// The tag key of this deployment's adoption mark.
    pub fn adopted_key(&self) -> String {
        format!("{TAG_ADOPTED_PREFIX}{}", self.deployment)
    }

    /// Whether live tags name this deployment as the creator.
    pub fn created(&self, tags: &Tags) -> bool {
        !self.deployment.is_empty()
            && tags.get(TAG_DEPLOYMENT) == Some(&self.deployment)
            && tags.get(TAG_BLUEPRINT) == Some(&self.blueprint)
    }

    /// Whether live tags carry this deployment's adoption mark.
    pub fn adopted(&self, tags: &Tags) -> bool {
        !self.deployment.is_empty() && tags.contains_key(&self.adopted_key())
    }

    /// Judges a live resource: `recorded` says the state file records this very resource
    /// (same unique id), `adopted` that it records it as adopted.
    pub fn judge(&self, tags: &Tags, recorded: bool, adopted: bool) -> Owner {
        if recorded && !adopted && self.created(tags) {
            return Owner::Ours;
        }
        if recorded && adopted && self.adopted(tags) {
            return Owner::Adopted;
        }
        Owner::Foreign(self.describe(tags, recorded))
    }

    /// Who owns a resource, for messages.
    pub fn describe(&self, tags: &Tags, recorded: bool) -> String {
        match (tags.get(TAG_DEPLOYMENT), tags.get(TAG_BLUEPRINT)) {
            (Some(d), _) if d == &self.deployment && !recorded => format!(
                "tagged with this deployment ({d}) but the state file does not record this \
                 resource (a different id): it was not created by this state file"
            ),
            (Some(d), Some(b)) if d == &self.deployment => format!(
                "tagged with this deployment id ({d}) but by blueprint `{b}`, not `{}`: the \
                 state file was copied from that blueprint",
                self.blueprint
            ),
            (Some(d), b) => format!(
                "created by airlock blueprint `{}` (deployment {d})",
                b.map(String::as_str).unwrap_or("?")
            ),
            (None, _) if recorded => "recorded in the state file but it does not carry this \
                 deployment's tags (created by hand, or by an airlock without ownership tags)"
                .to_string(),
            (None, _) => "not created by airlock".to_string(),
        }
    }
}

/// Live tags, by key.
pub type Tags = BTreeMap<String, String>;

/// How a live resource relates to this deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "owner", content = "detail", rename_all = "kebab-case")]
pub enum Owner {
    /// Nothing of that name or id exists.
    Absent,
    /// Created by this deployment (recorded in the state file and tagged with it).
    Ours,
    /// Adopted earlier by this deployment (recorded as adopted and carrying its mark).
    Adopted,
    /// Someone else's: who, for messages.
    Foreign(String),
}

/// An existing resource apply would have to change but does not own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// `KMS key`, `S3 bucket`, `IAM role`, `IAM instance profile`, `VPC`, ...
    pub kind: String,
    /// The name the blueprint gives it (what `--adopt` takes), or its id.
    pub name: String,
    /// Its id or ARN.
    pub id: String,
    /// Who owns it.
    pub owner: String,
    /// Whether `--adopt NAME` can take it over (named resources; EC2 resources are found only
    /// by the ids of the state file and are never adopted).
    pub adoptable: bool,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.id.is_empty() || self.id == self.name {
            write!(f, "{} {}: {}", self.kind, self.name, self.owner)
        } else {
            write!(
                f,
                "{} {} ({}): {}",
                self.kind, self.name, self.id, self.owner
            )
        }
    }
}

/// The message of a refused apply: every conflict and what to do.
pub fn refusal(conflicts: &[Conflict]) -> String {
    let mut out = format!(
        "apply changed nothing: {} existing resource{} with the blueprint's names {} not created by this deployment:",
        conflicts.len(),
        if conflicts.len() == 1 { "" } else { "s" },
        if conflicts.len() == 1 { "was" } else { "were" },
    );
    for c in conflicts {
        out.push_str(&format!("\n  - {c}"));
    }
    let adoptable: Vec<&str> = conflicts
        .iter()
        .filter(|c| c.adoptable)
        .map(|c| c.name.as_str())
        .collect();
    out.push_str("\nRename them in the blueprint");
    if !adoptable.is_empty() {
        out.push_str(", or take them over knowingly with ");
        out.push_str(
            &adoptable
                .iter()
                .map(|n| format!("--adopt {n}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        out.push_str(
            " (apply then changes them to match the blueprint; destroy gives them back as it \
             found them and never deletes them)",
        );
    }
    if conflicts.iter().any(|c| !c.adoptable) {
        out.push_str(
            "; an EC2 resource the state file names but that does not carry this deployment's \
             tags is not adopted: remove its id from the state file (it may be a copy of \
             another deployment's) and apply creates a new one",
        );
    }
    out.push('.');
    out
}

/// The original of something apply changed on an adopted resource, so that `destroy` can give
/// the resource back as it found it. Recorded once per setting (the first change keeps the
/// original), before the change is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "kebab-case")]
pub enum Restore {
    /// A role's trust policy.
    RoleTrust {
        /// Account id.
        account: String,
        /// Role name.
        role: String,
        /// The original document.
        document: String,
    },
    /// A role's inline policy (`None`: it did not exist).
    RoleInlinePolicy {
        /// Account id.
        account: String,
        /// Role name.
        role: String,
        /// Policy name.
        policy: String,
        /// The original document.
        document: Option<String>,
    },
    /// A managed policy apply attached to a role.
    RoleManagedPolicy {
        /// Account id.
        account: String,
        /// Role name.
        role: String,
        /// Policy ARN.
        arn: String,
    },
    /// A role apply added to an instance profile.
    ProfileRole {
        /// Account id.
        account: String,
        /// Instance profile name.
        profile: String,
        /// Role name.
        role: String,
    },
    /// A key's policy.
    KeyPolicy {
        /// Key id.
        key_id: String,
        /// The original document.
        document: String,
    },
    /// A key apply enabled (it was disabled).
    KeyWasDisabled {
        /// Key id.
        key_id: String,
    },
    /// A key apply turned rotation on for.
    KeyRotationWasOff {
        /// Key id.
        key_id: String,
    },
    /// An alias apply created or pointed at the key (`None`: it did not exist).
    Alias {
        /// Alias name.
        alias: String,
        /// The key it named.
        target: Option<String>,
    },
    /// The bucket's policy (`None`: none).
    BucketPolicy {
        /// Bucket.
        bucket: String,
        /// The original document.
        document: Option<String>,
    },
    /// The bucket's Block Public Access (`None`: none).
    BucketPublicAccessBlock {
        /// Bucket.
        bucket: String,
        /// `[BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets]`.
        settings: Option<[bool; 4]>,
    },
    /// The bucket's object ownership (`None`: none).
    BucketOwnership {
        /// Bucket.
        bucket: String,
        /// The original setting.
        ownership: Option<String>,
    },
    /// The bucket's default encryption (`None`: none).
    BucketEncryption {
        /// Bucket.
        bucket: String,
        /// `(algorithm, KMS key, bucket key)`.
        setting: Option<(String, String, bool)>,
    },
    /// Versioning apply enabled (S3 can only suspend it again).
    BucketVersioning {
        /// Bucket.
        bucket: String,
        /// The original status (`None`: never enabled).
        status: Option<String>,
    },
    /// The bucket's tags (`None`: none).
    BucketTags {
        /// Bucket.
        bucket: String,
        /// The original tags.
        tags: Option<Tags>,
    },
}

impl Restore {
    /// The setting this restores; one record per slot.
    pub fn slot(&self) -> String {
        match self {
            Restore::RoleTrust { account, role, .. } => format!("trust/{account}/{role}"),
            Restore::RoleInlinePolicy {
                account,
                role,
                policy,
                ..
            } => format!("inline/{account}/{role}/{policy}"),
            Restore::RoleManagedPolicy { account, role, arn } => {
                format!("managed/{account}/{role}/{arn}")
            }
            Restore::ProfileRole {
                account,
                profile,
                role,
            } => format!("profile/{account}/{profile}/{role}"),
            Restore::KeyPolicy { key_id, .. } => format!("key-policy/{key_id}"),
            Restore::KeyWasDisabled { key_id } => format!("key-enabled/{key_id}"),
            Restore::KeyRotationWasOff { key_id } => format!("key-rotation/{key_id}"),
            Restore::Alias { alias, .. } => format!("alias/{alias}"),
            Restore::BucketPolicy { bucket, .. } => format!("bucket-policy/{bucket}"),
            Restore::BucketPublicAccessBlock { bucket, .. } => format!("bpa/{bucket}"),
            Restore::BucketOwnership { bucket, .. } => format!("ownership/{bucket}"),
            Restore::BucketEncryption { bucket, .. } => format!("encryption/{bucket}"),
            Restore::BucketVersioning { bucket, .. } => format!("versioning/{bucket}"),
            Restore::BucketTags { bucket, .. } => format!("tags/{bucket}"),
        }
    }
}

/// A fresh deployment id: `d-` and 16 random hex digits.
pub fn new_deployment_id() -> String {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // The system RNG failed; fall back to the clock and the pid, still unique enough to
        // tell deployments apart (the id is not a secret).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = ((nanos as u64) ^ (u64::from(std::process::id()) << 32)).to_be_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("d-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ownership_needs_the_state_record_and_the_tags() {
        let me = Identity {
            blueprint: "seed".into(),
            deployment: "d-1".into(),
        };
        let mine = tags(&[(TAG_BLUEPRINT, "seed"), (TAG_DEPLOYMENT, "d-1")]);
        assert_eq!(me.judge(&mine, true, false), Owner::Ours);
        // The state file does not record this resource: a name reused after a delete.
        assert!(matches!(me.judge(&mine, false, false), Owner::Foreign(_)));
        // A copied state file beside another blueprint keeps the deployment id.
        let copy = Identity {
            blueprint: "other".into(),
            deployment: "d-1".into(),
        };
        match copy.judge(&mine, true, false) {
            Owner::Foreign(why) => assert!(why.contains("copied"), "{why}"),
            o => panic!("{o:?}"),
        }
        let theirs = tags(&[(TAG_BLUEPRINT, "first"), (TAG_DEPLOYMENT, "d-9")]);
        match me.judge(&theirs, true, false) {
            Owner::Foreign(why) => assert!(why.contains("blueprint `first`"), "{why}"),
            o => panic!("{o:?}"),
        }
        match me.judge(&Tags::new(), false, false) {
            Owner::Foreign(why) => assert_eq!(why, "not created by airlock"),
            o => panic!("{o:?}"),
        }
        let mut adopted = theirs.clone();
        adopted.insert(me.adopted_key(), "seed".into());
        assert_eq!(me.judge(&adopted, true, true), Owner::Adopted);
        assert!(matches!(me.judge(&theirs, true, true), Owner::Foreign(_)));
        // Nobody owns anything without a deployment id.
        let none = Identity {
            blueprint: "seed".into(),
            deployment: String::new(),
        };
        assert!(matches!(
            none.judge(
                &tags(&[(TAG_BLUEPRINT, "seed"), (TAG_DEPLOYMENT, "")]),
                true,
                false
            ),
            Owner::Foreign(_)
        ));
    }

    #[test]
    fn deployment_ids_differ() {
        let a = new_deployment_id();
        assert!(a.starts_with("d-") && a.len() == 18, "{a}");
        assert_ne!(a, new_deployment_id());
    }

    #[test]
    fn the_refusal_names_each_resource_and_what_to_do() {
        let msg = refusal(&[Conflict {
            kind: "IAM role".into(),
            name: "R".into(),
            id: "arn:aws:iam::1:role/R".into(),
            owner: "not created by airlock".into(),
            adoptable: true,
        }]);
        assert!(msg.contains("IAM role R (arn:aws:iam::1:role/R): not created by airlock"));
        assert!(msg.contains("--adopt R"));
        assert!(msg.contains("Rename"));
    }
}
