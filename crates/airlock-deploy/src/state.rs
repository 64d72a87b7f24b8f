//! The state file beside the blueprint (`BLUEPRINT.state.json`): what apply created, with the
//! resolved bindings. Written atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_blueprint::Bindings;
use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::ownership::{Identity, Restore};

/// Version of the state file format. Version 2 added ownership (blueprint, deployment id,
/// unique ids, adoption); a version 1 file is read with those empty, so none of its resources
/// is proved this deployment's until adopted.
pub const STATE_VERSION: u32 = 2;

/// What apply created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The blueprint's name (its file name without the extension); a state file beside
    /// another blueprint is a copy and is refused.
    #[serde(default)]
    pub blueprint: String,
    /// The deployment id: random, made at the first apply; every resource apply creates is
    /// tagged with it (`airlock:deployment`).
    #[serde(default)]
    pub deployment_id: String,
    /// The plan's profile (`hardened`, `as-written`).
    pub profile: String,
    /// Region.
    pub region: String,
    /// Storage account id.
    pub storage_account: String,
    /// The KMS key.
    pub key: Option<KeyState>,
    /// The bucket name, once created (or adopted).
    pub bucket: Option<String>,
    /// The bucket was adopted (`apply --adopt NAME`), not created.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bucket_adopted: bool,
    /// The bucket was created but its ownership tags are not written yet (S3's CreateBucket
    /// takes no tags; apply tags it right after). The only case where the state file alone
    /// vouches for a resource, and only while it carries no airlock tags at all.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bucket_untagged: bool,
    /// Roles created (account, name, ARN).
    pub roles: Vec<RoleState>,
    /// Networks, by endpoint name.
    pub networks: Vec<NetworkState>,
    /// Values of the plan's references (key ARN, endpoint ids).
    pub bindings: Bindings,
    /// The originals of what apply changed on adopted resources, which destroy puts back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<Restore>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// Key id.
    pub key_id: String,
    /// Key ARN.
    pub key_arn: String,
    /// Alias (`alias/...`).
    pub alias: String,
    /// Adopted (`apply --adopt ALIAS`), not created.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adopted: bool,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleState {
    /// Account id.
    pub account: String,
    /// Role name.
    pub name: String,
    /// Role ARN.
    pub arn: String,
    /// Its unique id (`AROA...`): a role deleted and created again under the same name has
    /// another.
    #[serde(default)]
    pub role_id: String,
    /// Adopted (`apply --adopt NAME`), not created.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adopted: bool,
    /// Its instance profile, when it has one.
    pub instance_profile: Option<String>,
    /// The instance profile's unique id (`AIPA...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile_id: Option<String>,
    /// The instance profile was adopted, not created.
    #[serde(default, skip_serializing_if = "is_false")]
    pub instance_profile_adopted: bool,
}

/// One consumer network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    /// The endpoint's name in the plan.
    pub endpoint_name: String,
    /// Account id.
    pub account: String,
    /// VPC id.
    pub vpc_id: Option<String>,
    /// Subnet id.
    pub subnet_id: Option<String>,
    /// The route table the gateway endpoint is associated with.
    pub route_table_id: Option<String>,
    /// VPC endpoint id.
    pub vpce_id: Option<String>,
    /// Instance id.
    pub instance_id: Option<String>,
}

impl State {
    /// The network of an endpoint name, created empty if missing.
    pub fn network_mut(&mut self, endpoint: &str, account: &str) -> &mut NetworkState {
        if let Some(i) = self
            .networks
            .iter()
            .position(|n| n.endpoint_name == endpoint)
        {
            return &mut self.networks[i];
        }
        self.networks.push(NetworkState {
            endpoint_name: endpoint.to_string(),
            account: account.to_string(),
            ..NetworkState::default()
        });
        let last = self.networks.len() - 1;
        &mut self.networks[last]
    }

    /// The network of an endpoint name.
    pub fn network(&self, endpoint: &str) -> Option<&NetworkState> {
        self.networks.iter().find(|n| n.endpoint_name == endpoint)
    }

    /// Records the original of a setting apply is about to change on an adopted resource,
    /// unless one is recorded already (the first original is the one to give back).
    pub fn record_restore(&mut self, r: Restore) {
        let slot = r.slot();
        if !self.restore.iter().any(|x| x.slot() == slot) {
            self.restore.push(r);
        }
    }

    /// The identity of this state file: its blueprint and deployment id (empty before the
    /// first apply: then nothing is this deployment's).
    pub fn identity(&self, blueprint: &str) -> Identity {
        Identity {
            blueprint: blueprint.to_string(),
            deployment: self.deployment_id.clone(),
        }
    }

    /// Refuses a state file written for another blueprint (a copy).
    pub fn check_blueprint(&self, path: &Path, blueprint: &str) -> Result<(), DeployError> {
        if !self.blueprint.is_empty() && self.blueprint != blueprint {
            return Err(state_err(
                path,
                format!(
                    "it was written for blueprint `{}`, not `{blueprint}`: it is a copy of another \
                     deployment's state and proves nothing here; move it away (its resources stay \
                     that deployment's) and apply again",
                    self.blueprint
                ),
            ));
        }
        Ok(())
    }

    /// Reads a state file; `None` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<State>, DeployError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(state_err(path, e)),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| state_err(path, e))?;
        if state.version != STATE_VERSION && state.version != 1 {
            return Err(state_err(
                path,
                format!(
                    "version {} is not {STATE_VERSION}; refusing to use it",
                    state.version
                ),
            ));
        }
        Ok(Some(state))
    }

    /// Writes the state atomically: a temporary file in the same directory, fsync, rename,
    /// fsync of the directory.
    pub fn write(&self, path: &Path) -> Result<(), DeployError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| state_err(path, e))?;
        let tmp = tmp_path(path);
        let result = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| state_err(path, e))
    }

    /// Removes the state file (absent is fine).
    pub fn remove(path: &Path) -> Result<(), DeployError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(state_err(path, e)),
        }
    }
}

/// `BLUEPRINT.state.json` beside the blueprint.
pub fn state_path(blueprint: &Path) -> PathBuf {
    let mut name = blueprint
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".state.json");
    blueprint.with_file_name(name)
}

/// The blueprint's name for a state file `BLUEPRINT.state.json`: the blueprint's file name
/// without its extension (`seed` for `seed.toml.state.json`).
pub fn blueprint_name(state_path: &Path) -> String {
    let file = state_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bp = file.strip_suffix(".state.json").unwrap_or(&file);
    match bp.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => bp.to_string(),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

fn state_err(path: &Path, e: impl std::fmt::Display) -> DeployError {
    DeployError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_is_written_atomically() {
        let dir = std::env::temp_dir().join(format!("airlock-deploy-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = state_path(&dir.join("seed.toml"));
        assert!(path.ends_with("seed.toml.state.json"));
        assert_eq!(blueprint_name(&path), "seed");
        assert_eq!(State::read(&path).unwrap(), None);
        let mut s = State {
            version: STATE_VERSION,
            bucket: Some("b".into()),
            ..State::default()
        };
        s.network_mut("e", "111111111111").vpce_id = Some("vpce-1".into());
        s.write(&path).unwrap();
        assert_eq!(State::read(&path).unwrap(), Some(s));
        assert!(
            std::fs::read_dir(&dir).unwrap().count() == 1,
            "no temporary file left"
        );
        std::fs::write(&path, "{").unwrap();
        assert!(State::read(&path).is_err());
        State::remove(&path).unwrap();
        State::remove(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
