//! aws-sdk-rust (aws-sdk-s3) against the endpoint over TLS: virtual-hosted-style addressing
//! (its default), streamed uploads with its default checksum trailer, downloads, ranges,
//! listings, a multipart upload, batch delete; and path-style addressing.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, ServerSideEncryption,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use common::*;

/// Resolves `*.localhost` to the loopback address (what systemd-resolved does on most
/// workstations; this machine's resolver does not), and records the names asked.
#[derive(Debug, Clone, Default)]
struct Localhost(Arc<Mutex<Vec<String>>>);

impl ResolveDns for Localhost {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        self.0.lock().unwrap().push(name.to_string());
        if name == "localhost" || name.ends_with(".localhost") || name == "127.0.0.1" {
            DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        } else {
            DnsFuture::ready(Err(
                aws_smithy_runtime_api::client::dns::ResolveDnsError::new("not a test name"),
            ))
        }
    }
}

fn admin(s: &TestServer, alias: &str) -> Credentials {
    let text = std::fs::read_to_string(&s.info.aws_shared_credentials_file).unwrap();
    let section = text.split(&format!("[{alias}]")).nth(1).unwrap();
    let value = |k: &str| {
        section
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .trim()
            .to_string()
    };
    Credentials::new(
        value("aws_access_key_id"),
        value("aws_secret_access_key"),
        None,
        None,
        "test",
    )
}

fn client(s: &TestServer, endpoint: &str, resolver: Localhost) -> aws_sdk_s3::Client {
    let ca = std::fs::read(&s.info.ca_bundle).unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(
                    TrustStore::empty()
                        .with_native_roots(false)
                        .with_pem_certificate(ca),
                )
                .build()
                .unwrap(),
        )
        .build_with_resolver(resolver);
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(http)
        .credentials_provider(admin(s, "account-b"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
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
fn sdk_rust_virtual_hosted_and_path_style() {
    let s = TestServer::start();
    let port = s.info.https_port;
    let names = Localhost::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = client(&s, &format!("https://s3.localhost:{port}"), names.clone());
        c.create_bucket().bucket("sdk-bucket").send().await.unwrap();

        // A streamed upload from a file (aws-chunked with the SDK's CRC32 trailer).
        let body = noise(3 << 20, 7);
        let path = s.dir.path().join("upload.bin");
        std::fs::write(&path, &body).unwrap();
        let put = c
            .put_object()
            .bucket("sdk-bucket")
            .key("dir/upload.bin")
            .body(ByteStream::from_path(&path).await.unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert!(put.checksum_crc32().is_some(), "{put:?}");

        let got = c
            .get_object()
            .bucket("sdk-bucket")
            .key("dir/upload.bin")
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_length(), Some(body.len() as i64));
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            &body[..]
        );
        let range = c
            .get_object()
            .bucket("sdk-bucket")
            .key("dir/upload.bin")
            .range("bytes=65530-65545")
            .send()
            .await
            .unwrap();
        assert_eq!(
            range.content_range(),
            Some(format!("bytes 65530-65545/{}", body.len()).as_str())
        );
        assert_eq!(
            range.body.collect().await.unwrap().into_bytes().as_ref(),
            &body[65530..65546]
        );

        // A multipart upload.
        let mp = c
            .create_multipart_upload()
            .bucket("sdk-bucket")
            .key("mp.bin")
            .send()
            .await
            .unwrap();
        let id = mp.upload_id().unwrap().to_string();
        let parts = [noise(5 << 20, 1), noise(1000, 2)];
        let mut done = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let r = c
                .upload_part()
                .bucket("sdk-bucket")
                .key("mp.bin")
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .unwrap();
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(r.e_tag().unwrap())
                    .build(),
            );
        }
        let fin = c
            .complete_multipart_upload()
            .bucket("sdk-bucket")
            .key("mp.bin")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert!(fin.e_tag().unwrap().ends_with("-2\""), "{fin:?}");
        let all = c
            .get_object()
            .bucket("sdk-bucket")
            .key("mp.bin")
            .send()
            .await
            .unwrap();
        let bytes = all.body.collect().await.unwrap().into_bytes();
        assert_eq!(bytes.len(), parts[0].len() + parts[1].len());
        assert_eq!(&bytes[..parts[0].len()], &parts[0][..]);
        assert_eq!(&bytes[parts[0].len()..], &parts[1][..]);

        // Listing through the paginator, then a batch delete and the bucket's removal.
        for i in 0..5 {
            c.put_object()
                .bucket("sdk-bucket")
                .key(format!("many/{i}"))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
        let mut keys = Vec::new();
        let mut pages = c
            .list_objects_v2()
            .bucket("sdk-bucket")
            .max_keys(2)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            keys.extend(
                page.unwrap()
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        assert_eq!(keys.len(), 7, "{keys:?}");
        let objects: Vec<ObjectIdentifier> = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
            .collect();
        let del = c
            .delete_objects()
            .bucket("sdk-bucket")
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(del.deleted().len(), 7);
        c.delete_bucket().bucket("sdk-bucket").send().await.unwrap();
        let asked = names.0.lock().unwrap().clone();
        assert!(
            asked.iter().any(|n| n == "sdk-bucket.s3.localhost"),
            "virtual-hosted style was not used: {asked:?}"
        );

        // Path style: an IP endpoint (or force_path_style) puts the bucket in the path.
        let p = client(&s, &s.info.https_endpoint, Localhost::default());
        p.create_bucket()
            .bucket("path-bucket")
            .send()
            .await
            .unwrap();
        p.put_object()
            .bucket("path-bucket")
            .key("k")
            .body(ByteStream::from_static(b"path"))
            .send()
            .await
            .unwrap();
        let got = p
            .get_object()
            .bucket("path-bucket")
            .key("k")
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            b"path"
        );
        let err = p
            .get_object()
            .bucket("path-bucket")
            .key("missing")
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_no_such_key());
    });
}
