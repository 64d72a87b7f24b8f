//! Durable state: acknowledged changes survive `kill -9`, sessions survive restarts, and an
//! incompatible data directory is refused without being touched.

mod common;

use std::path::Path;
use std::process::{Child, Command};

use airlock_server::{ServeConfig, ServeError, Server, ServerInfo};
use airlock_store::{RedbStore, Store, StoreError};
use common::*;

const CHILD_ENV: &str = "AIRLOCK_TEST_SERVE_DATA_DIR";
const THIS_TEST: &str = "acknowledged_changes_survive_kill_9";

/// Starts this test binary as a child process that runs a server on `data_dir` (see the
/// child branch of [`acknowledged_changes_survive_kill_9`]), and returns once it serves.
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_server(data_dir: &Path) -> (Child, ServerInfo) {
    spawn_child_server(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", THIS_TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, data_dir),
    )
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        // Child: serve until killed.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut config = ServeConfig::new(dir);
            config.accounts = vec![
                (A.into(), "account-a".into()),
                (B.into(), "account-b".into()),
            ];
            let server = Server::start(config).await.expect("child server starts");
            announce_child_ready(&server);
            std::future::pending::<()>().await;
        });
        return;
    }

    let tmp = TempDir::new("kill9");
    let data = tmp.path().join("data");
    let (mut child, info) = spawn_server(&data);
    let aws = |info: &ServerInfo, args: &[&str]| aws_cli(info, tmp.path(), args, &[]);
    ok_json(&aws(
        &info,
        &[
            "--profile",
            "account-b",
            "iam",
            "create-role",
            "--role-name",
            "Survivor",
            "--assume-role-policy-document",
            &seed_file("step3-trust-another-account.json"),
        ],
    ));
    ok_json(&aws(
        &info,
        &[
            "--profile",
            "account-b",
            "iam",
            "put-role-policy",
            "--role-name",
            "Survivor",
            "--policy-name",
            "S3AndKMSAccess",
            "--policy-document",
            &seed_file("step3-S3AndKMSAccess.json"),
        ],
    ));
    let session = ok_json(&aws(
        &info,
        &[
            "--profile",
            "account-a",
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::222222222222:role/Survivor",
            "--role-session-name",
            "before-crash",
        ],
    ));
    let admin_before = std::fs::read_to_string(&info.aws_shared_credentials_file).unwrap();

    // kill -9: no shutdown path runs.
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, info2) = spawn_server(&data);
    let role = ok_json(&aws(
        &info2,
        &[
            "--profile",
            "account-b",
            "iam",
            "get-role",
            "--role-name",
            "Survivor",
        ],
    ));
    assert_eq!(
        role["Role"]["Arn"],
        "arn:aws:iam::222222222222:role/Survivor"
    );
    let policy = ok_json(&aws(
        &info2,
        &[
            "--profile",
            "account-b",
            "iam",
            "get-role-policy",
            "--role-name",
            "Survivor",
            "--policy-name",
            "S3AndKMSAccess",
        ],
    ));
    assert_eq!(
        policy["PolicyDocument"]["Statement"][0]["Sid"],
        "S3BucketAccess"
    );
    // The administrator credentials and the CA are reused, and the session issued before the
    // crash still authenticates.
    assert_eq!(
        std::fs::read_to_string(&info2.aws_shared_credentials_file).unwrap(),
        admin_before
    );
    let c = &session["Credentials"];
    let who = ok_json(&aws_cli(
        &info2,
        tmp.path(),
        &["sts", "get-caller-identity"],
        &[
            ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
            (
                "AWS_SECRET_ACCESS_KEY",
                c["SecretAccessKey"].as_str().unwrap(),
            ),
            ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
        ],
    ));
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::222222222222:assumed-role/Survivor/before-crash"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_incompatible_data_directory_is_refused_and_left_untouched() {
    let tmp = TempDir::new("schema");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        let store = RedbStore::open(&data.join("state.redb")).unwrap();
        let mut w = store.write().unwrap();
        w.put("airlock_meta", "schema_version", b"999").unwrap();
        w.commit().unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(Server::start(ServeConfig::new(&data)))
        .expect_err("must refuse");
    match &err {
        ServeError::Store(StoreError::IncompatibleSchema { found: 999, .. }) => {}
        other => panic!("expected an incompatible-schema error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("schema version 999") && message.contains("refusing to open it"),
        "{message}"
    );
    // Still the old schema, nothing rewritten (redb's own header bookkeeping aside).
    assert!(matches!(
        RedbStore::open(&data.join("state.redb")),
        Err(StoreError::IncompatibleSchema { found: 999, .. })
    ));
    assert!(!data.join("tls").exists() && !data.join("aws").exists());
    assert!(!data.join("server.json").exists());
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = TestServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(Server::start(ServeConfig::new(s.data_dir())))
        .expect_err("must refuse");
    assert!(
        matches!(err, ServeError::Store(StoreError::InUse { .. })),
        "{err:?}"
    );
    // The first server is unaffected.
    ok_json(&s.aws(&["--profile", "account-a", "sts", "get-caller-identity"]));
}
