//! A KMS denial is one log line with the decision, the denied action and key, and the engine's
//! explanation; an `InvalidCiphertextException` (sent without a message, as AWS does) has its
//! reason in the log.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn denials_are_logged_with_the_engines_explanation() {
    let log = Shared::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let s = TestServer::start();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{B}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let md = ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "kms",
        "create-key",
        "--policy",
        &policy,
    ]));
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let dk = ok_json(&s.aws(&[
        "--profile",
        "account-b",
        "kms",
        "generate-data-key",
        "--key-id",
        &arn,
        "--key-spec",
        "AES_256",
    ]));
    let ct = s.dir.path().join("c.bin");
    std::fs::write(
        &ct,
        STANDARD
            .decode(dk["CiphertextBlob"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let ct = format!("fileb://{}", ct.display());
    let denied = s.aws(&[
        "--profile",
        "account-a",
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &ct,
    ]);
    assert!(failed(&denied).contains("AccessDeniedException"));
    let bad = s.aws(&[
        "--profile",
        "account-b",
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &ct,
        "--encryption-context",
        "k=v",
    ]);
    assert!(failed(&bad).contains("InvalidCiphertextException"));

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("kms Decrypt") && l.contains(r#"decision="deny""#))
        .unwrap_or_else(|| panic!("no denial line in the log:\n{text}"));
    assert!(
        line.contains(&format!(r#"principal="arn:aws:iam::{A}:user/admin""#)),
        "{line}"
    );
    assert!(line.contains(r#"action="kms:Decrypt""#), "{line}");
    assert!(line.contains(&format!(r#"resource="{arn}""#)), "{line}");
    assert!(line.contains(r#"error="AccessDeniedException""#), "{line}");
    assert!(line.contains(r#""missing":"key-policy""#), "{line}");
    assert!(line.contains(r#""cross_account":true"#), "{line}");
    let reason = text
        .lines()
        .find(|l| l.contains("InvalidCiphertextException") && l.contains("reason="))
        .unwrap_or_else(|| panic!("no InvalidCiphertextException reason in the log:\n{text}"));
    assert!(reason.contains("encryption context differs"), "{reason}");
}
