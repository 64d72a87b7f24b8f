//! Secrets at rest in the data directory (issue #24): IAM secret access keys are stored only
//! sealed, a data directory that holds them in clear is upgraded on open without leaving them
//! in `state.redb`, and private key files that group or others may read are refused.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use airlock_server::{ServeConfig, ServeError, Server, ServerInfo};
use airlock_store::{RedbStore, Store};
use common::*;
use serde_json::Value;

/// A server over a data directory that outlives restarts.
struct Restartable {
    dir: TempDir,
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    info: ServerInfo,
}

fn config(data: &Path) -> ServeConfig {
    let mut c = ServeConfig::new(data);
    c.accounts = vec![(A.into(), "account-a".into())];
    c
}

impl Restartable {
    fn start(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(Server::start(config(&dir.path().join("data"))))
            .unwrap();
        let info = server.info().clone();
        Restartable {
            dir,
            runtime,
            server: Some(server),
            info,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }

    fn try_start(&mut self) -> Result<(), ServeError> {
        self.stop();
        let server = self.runtime.block_on(Server::start(config(&self.data())))?;
        self.info = server.info().clone();
        self.server = Some(server);
        Ok(())
    }

    fn admin_secrets(&self) -> HashMap<String, String> {
        self.server
            .as_ref()
            .unwrap()
            .admin_keys()
            .iter()
            .map(|(_, k)| (k.access_key_id.clone(), k.secret_access_key.clone()))
            .collect()
    }

    fn aws(&self, args: &[&str]) -> Value {
        let mut v = args.to_vec();
        v.extend_from_slice(&["--profile", "account-a"]);
        ok_json(&aws_cli(&self.info, self.dir.path(), &v, &[]))
    }

    /// `sts get-caller-identity` with an access key: its ARN.
    fn whoami(&self, key: &str, secret: &str) -> String {
        let out = aws_cli(
            &self.info,
            self.dir.path(),
            &["sts", "get-caller-identity"],
            &[
                ("AWS_ACCESS_KEY_ID", key),
                ("AWS_SECRET_ACCESS_KEY", secret),
            ],
        );
        ok_json(&out)["Arn"].as_str().unwrap().to_string()
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        self.stop();
    }
}

fn file_contains(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A user with an access key, made through the API: (id, secret).
fn user_with_key(srv: &Restartable) -> (String, String) {
    srv.aws(&["iam", "create-user", "--user-name", "alice"]);
    let k = srv.aws(&["iam", "create-access-key", "--user-name", "alice"]);
    let id = k["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    let secret = k["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    (id, secret)
}

#[test]
fn secret_access_keys_are_not_in_state_redb_and_work_after_a_restart() {
    let mut srv = Restartable::start("sealed");
    let (id, secret) = user_with_key(&srv);
    assert_eq!(
        srv.whoami(&id, &secret),
        format!("arn:aws:iam::{A}:user/alice")
    );
    let state = srv.data().join("state.redb");
    let mut secrets = srv.admin_secrets();
    secrets.insert(id.clone(), secret.clone());
    for s in secrets.values() {
        assert!(
            !file_contains(&state, s),
            "a secret access key is in clear in state.redb"
        );
    }

    srv.try_start().unwrap();
    assert_eq!(
        srv.whoami(&id, &secret),
        format!("arn:aws:iam::{A}:user/alice")
    );
    srv.aws(&["sts", "get-caller-identity"]);
    srv.stop();
    for s in secrets.values() {
        assert!(
            !file_contains(&state, s),
            "a secret access key is in clear in state.redb"
        );
    }
}

#[test]
fn a_data_directory_with_secrets_in_clear_is_upgraded_on_open() {
    let mut srv = Restartable::start("upgrade");
    let (id, secret) = user_with_key(&srv);
    let mut secrets = srv.admin_secrets();
    secrets.insert(id.clone(), secret.clone());
    srv.stop();

    // Make it the data directory an airlock of schema version 1 wrote: every secret access key
    // in clear, no sealed one.
    let state = srv.data().join("state.redb");
    {
        let store = RedbStore::open(&state).unwrap();
        let mut w = store.write().unwrap();
        let rows = w.scan_prefix("iam_access_keys", "").unwrap();
        assert_eq!(rows.len(), secrets.len());
        for (key_id, bytes) in rows {
            let mut row: Value = serde_json::from_slice(&bytes).unwrap();
            let obj = row.as_object_mut().unwrap();
            obj.remove("sealed_secret_access_key");
            obj.insert(
                "secret_access_key".into(),
                Value::String(secrets[&key_id].clone()),
            );
            w.put(
                "iam_access_keys",
                &key_id,
                &serde_json::to_vec(&row).unwrap(),
            )
            .unwrap();
        }
        airlock_store::set_schema_version(&mut *w, 1).unwrap();
        w.commit().unwrap();
    }
    for s in secrets.values() {
        assert!(
            file_contains(&state, s),
            "the old format keeps secrets in clear"
        );
    }

    // The upgrade: the keys keep working and no secret is left in the file.
    srv.try_start().unwrap();
    assert_eq!(
        srv.whoami(&id, &secret),
        format!("arn:aws:iam::{A}:user/alice")
    );
    srv.aws(&["sts", "get-caller-identity"]);
    srv.stop();
    for s in secrets.values() {
        assert!(
            !file_contains(&state, s),
            "a secret access key is in clear in state.redb"
        );
    }
    let store = RedbStore::open(&state).unwrap();
    assert_eq!(
        airlock_store::schema_version(&*store.read().unwrap()).unwrap(),
        Some(airlock_store::SCHEMA_VERSION)
    );
    drop(store);
    assert!(!srv.data().join("state.redb.rewrite").exists());
    // And again: nothing more to upgrade.
    srv.try_start().unwrap();
    assert_eq!(
        srv.whoami(&id, &secret),
        format!("arn:aws:iam::{A}:user/alice")
    );
}

#[cfg(unix)]
#[test]
fn key_files_readable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut srv = Restartable::start("modes");
    srv.stop();
    let data = srv.data();
    for (file, what) in [
        ("sts-session.key", "STS session key"),
        ("s3-sse.key", "SSE-S3 root key"),
        ("tls/ca-key.pem", "TLS CA key"),
        ("tls/server-key.pem", "TLS server key"),
        ("kms-master.key", "KMS master key"),
    ] {
        let path = data.join(file);
        for mode in [0o644, 0o640, 0o604] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = srv
                .try_start()
                .expect_err("an insecure key file must be refused");
            let message = err.to_string();
            assert!(
                message.contains(what)
                    && message.contains(&format!("has mode {mode:o}"))
                    && message.contains(&format!("run `chmod 600 {}`", path.display())),
                "{file}: {message}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        srv.try_start().unwrap();
        srv.stop();
    }
}
