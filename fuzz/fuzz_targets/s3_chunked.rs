//! Any byte string as an `aws-chunked` upload body (signed chunks with or without a signed
//! trailer, unsigned chunks with a trailer) or a plain one: the decoder never panics, never
//! yields more than the declared decoded length, and fails rather than accept a body whose
//! chunk signatures were not computed with the request's key.
#![no_main]

use airlock_server::body::RequestBody;
use airlock_server::service::Signature;
use airlock_server::services::s3::payload::{PayloadReader, PayloadSpec};
use airlock_server::sigv4::AuthLocation;
use libfuzzer_sys::fuzz_target;

const FRAMINGS: [&str; 4] = [
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "UNSIGNED-PAYLOAD",
];

fuzz_target!(|data: &[u8]| {
    let [selector, l0, l1, body @ ..] = data else {
        return;
    };
    let framing = FRAMINGS[usize::from(*selector) % FRAMINGS.len()];
    let length = u64::from(u16::from_le_bytes([*l0, *l1]));
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-content-sha256",
        http::HeaderValue::from_static(framing),
    );
    let len = http::HeaderValue::from_str(&length.to_string()).expect("digits");
    if framing.starts_with("STREAMING-") {
        headers.insert("x-amz-decoded-content-length", len);
        if framing.ends_with("-TRAILER") {
            headers.insert(
                "x-amz-trailer",
                http::HeaderValue::from_static("x-amz-checksum-crc32"),
            );
        }
    } else {
        headers.insert("content-length", len);
    }
    let signature = Signature {
        location: AuthLocation::Header,
        content_sha256: Some(framing.to_string()),
        amz_date: "20261130T101112Z".into(),
        scope: "20261130/us-east-1/s3/aws4_request".into(),
        seed_signature: "0".repeat(64),
        signing_key: vec![7; 32],
    };
    let Ok(spec) = PayloadSpec::from_request(&headers, Some(&signature)) else {
        return;
    };
    let signed = framing.starts_with("STREAMING-AWS4");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut reader = PayloadReader::new(
            RequestBody::from_bytes(body.to_vec()),
            spec,
            Some(&signature),
            None,
        );
        let mut decoded = 0u64;
        loop {
            match reader.next().await {
                Ok(Some(piece)) => {
                    decoded += piece.len() as u64;
                    assert!(decoded <= length, "decoded past the declared length");
                }
                Ok(None) => {
                    let finished = reader.finish();
                    // Signed chunks end with a final chunk signed with the request's key,
                    // which the fuzzer cannot forge: a signed body never completes.
                    if signed {
                        assert!(finished.is_err(), "an unsigned body passed as signed");
                    }
                    break;
                }
                Err(_) => break,
            }
        }
    });
});
