//! Durability: the server (a separate process) is killed with SIGKILL while clients upload
//! concurrently; after a restart every acknowledged object reads back intact, an overwritten
//! key holds a complete version no older than the last acknowledged one, nothing listed is
//! torn, and the start-up sweep leaves no temporary data behind.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use common::*;

const CHILD_ENV: &str = "AIRLOCK_S3_CRASH_CHILD_DIR";

/// Runs a server in this process until it is killed. Only does anything when started by the
/// crash test (which sets the environment variable); run alone it returns at once.
#[test]
#[ignore = "helper process of kill_9_during_concurrent_uploads_keeps_every_acknowledged_object"]
fn crash_child_server() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut config = airlock_server::ServeConfig::new(PathBuf::from(dir));
        config.accounts = vec![(B.to_string(), "account-b".to_string())];
        let server = airlock_server::Server::start(config)
            .await
            .expect("server starts");
        announce_child_ready(&server);
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// Starts the child server on `dir` and returns once it serves.
fn spawn_server(dir: &Path) -> (Child, airlock_server::ServerInfo) {
    spawn_child_server(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_child_server",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir),
    )
}

fn client(info: &airlock_server::ServerInfo) -> aws_sdk_s3::Client {
    let text = std::fs::read_to_string(&info.aws_shared_credentials_file).unwrap();
    let section = text.split("[account-b]").nth(1).unwrap();
    let value = |k: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .trim()
            .to_string()
    };
    let creds = Credentials::new(
        value("aws_access_key_id"),
        value("aws_secret_access_key"),
        None,
        None,
        "test",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&info.http_endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The content of upload `n` of `key`: size and bytes derived from both.
fn content(key: &str, n: u64) -> Vec<u8> {
    let mut x = key
        .bytes()
        .fold(n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, |a, b| {
            a.rotate_left(5) ^ b as u64
        });
    let sizes = [700usize, 40_000, 65_536, 200_000, 1_500_000];
    let len = sizes[(x % sizes.len() as u64) as usize] + (n as usize % 97);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn kill_9_during_concurrent_uploads_keeps_every_acknowledged_object() {
    let dir = TempDir::new("s3-crash");
    let data = dir.path().join("data");
    let (mut child, info) = spawn_server(&data);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Acknowledged uploads: key -> upload number; the hot key's last acknowledged number.
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let hot_acked: Arc<Mutex<u64>> = Arc::default();
    rt.block_on(async {
        let c = client(&info);
        c.create_bucket()
            .bucket("crash-bucket")
            .send()
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for worker in 0..8u64 {
            let c = c.clone();
            let acked = acked.clone();
            let hot_acked = hot_acked.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let (key, n) = if worker == 0 {
                        ("hot".to_string(), i + 1)
                    } else {
                        (format!("w{worker}/o{i}"), i + 1)
                    };
                    let body = content(&key, n);
                    let r = c
                        .put_object()
                        .bucket("crash-bucket")
                        .key(&key)
                        .metadata("upload", n.to_string())
                        .body(ByteStream::from(body))
                        .send()
                        .await;
                    match r {
                        Ok(_) if worker == 0 => *hot_acked.lock().unwrap() = n,
                        Ok(_) => {
                            acked.lock().unwrap().insert(key, n);
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        // Let uploads run, then kill the server in the middle of them.
        let start = Instant::now();
        while acked.lock().unwrap().len() < 60 && start.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
    });
    let acked = acked.lock().unwrap().clone();
    let hot_acked = *hot_acked.lock().unwrap();
    assert!(
        acked.len() >= 60,
        "only {} uploads were acknowledged before the kill",
        acked.len()
    );

    // Restart on the same data directory.
    let (mut child, info) = spawn_server(&data);
    let tmp_left = std::fs::read_dir(data.join("s3/tmp")).unwrap().count();
    let result = rt.block_on(async {
        let c = client(&info);
        for (key, n) in &acked {
            let got = c
                .get_object()
                .bucket("crash-bucket")
                .key(key)
                .send()
                .await
                .map_err(|e| format!("{key}: {e:?}"))?;
            let bytes = got
                .body
                .collect()
                .await
                .map_err(|e| format!("{key}: {e}"))?
                .into_bytes();
            if bytes.as_ref() != content(key, *n).as_slice() {
                return Err(format!(
                    "{key}: acknowledged upload {n} does not read back intact"
                ));
            }
        }
        // The hot key holds one complete upload, not older than the last acknowledged one.
        let got = c
            .get_object()
            .bucket("crash-bucket")
            .key("hot")
            .send()
            .await
            .map_err(|e| format!("hot: {e:?}"))?;
        let n: u64 = got
            .metadata()
            .and_then(|m| m.get("upload"))
            .and_then(|v| v.parse().ok())
            .ok_or("hot: no upload number")?;
        let bytes = got
            .body
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .into_bytes();
        if n < hot_acked || bytes.as_ref() != content("hot", n).as_slice() {
            return Err(format!(
                "hot: holds upload {n} (last acknowledged {hot_acked}), intact: {}",
                bytes.as_ref() == content("hot", n).as_slice()
            ));
        }
        // Whatever else is listed (uploads that completed but were not yet acknowledged) is
        // complete too.
        let mut pages = c
            .list_objects_v2()
            .bucket("crash-bucket")
            .into_paginator()
            .send();
        let mut listed = 0;
        while let Some(page) = pages.next().await {
            for o in page.map_err(|e| e.to_string())?.contents() {
                let key = o.key().unwrap_or_default().to_string();
                let got = c
                    .get_object()
                    .bucket("crash-bucket")
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| format!("{key}: {e:?}"))?;
                let n: u64 = got
                    .metadata()
                    .and_then(|m| m.get("upload"))
                    .and_then(|v| v.parse().ok())
                    .ok_or("no upload number")?;
                let bytes = got
                    .body
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .into_bytes();
                if bytes.as_ref() != content(&key, n).as_slice() {
                    return Err(format!("{key}: listed but torn"));
                }
                listed += 1;
            }
        }
        Ok(listed)
    });
    let _ = child.kill();
    let _ = child.wait();
    let listed = result.unwrap_or_else(|e| panic!("after kill -9 and restart: {e}"));
    assert!(
        listed > acked.len(),
        "listed {listed}, acknowledged {}",
        acked.len()
    );
    assert_eq!(
        tmp_left, 0,
        "temporary upload data survived the start-up sweep"
    );
}
