//! Any header-signed S3 request: the server's own canonical-request signer (the data plane's
//! fast path) computes exactly what `aws-sigv4` computes, or refuses the request for one of the
//! reasons it documents; parsing and verification never panic.
//!
//! Input: fields separated by 0xFF: method, path, query, `SignedHeaders`, then header lines
//! `name:value`.
#![no_main]

use airlock_server::sigv4::{self, AuthError, RequestParts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0xff);
    let (Some(method), Some(path), Some(query), Some(signed)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return;
    };
    let (Ok(method), Ok(path), Ok(query), Ok(signed)) = (
        std::str::from_utf8(method),
        std::str::from_utf8(path),
        std::str::from_utf8(query),
        std::str::from_utf8(signed),
    ) else {
        return;
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return;
    }
    let Ok(uri) = format!("http://bucket.localhost:4566/{path}?{query}").parse::<http::Uri>()
    else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "host",
        http::HeaderValue::from_static("bucket.localhost:4566"),
    );
    headers.insert(
        "x-amz-date",
        http::HeaderValue::from_static("20261130T101112Z"),
    );
    headers.insert(
        "x-amz-content-sha256",
        http::HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    for line in fields {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(&line[..colon]),
            http::HeaderValue::from_bytes(&line[colon + 1..]),
        ) else {
            continue;
        };
        if name != "authorization" {
            headers.append(name, value);
        }
    }
    let Ok(auth) = http::HeaderValue::from_str(&format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={}",
        "0".repeat(64)
    )) else {
        return;
    };
    headers.insert("authorization", auth);
    let Ok(Some(req)) = sigv4::parse(&headers, &[]) else {
        return;
    };
    let parts = RequestParts {
        method,
        path: uri.path(),
        raw_query: uri.query(),
        headers: &headers,
        body: None,
    };
    // The public entry point never panics and refuses the all-zero signature.
    assert!(sigv4::verify(&req, &parts, "secret", true).is_err());

    let payload = "UNSIGNED-PAYLOAD";
    let (fast, reference) = sigv4::fuzz_s3_signatures(&req, &parts, payload, "secret");
    let names = &req.signed_headers;
    let listed = |n: &str| names.iter().any(|h| h == n);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    let refusable = !listed("host")
        || !listed("x-amz-date")
        || sorted.len() != names.len()
        || (listed("x-amz-security-token") && !headers.contains_key("x-amz-security-token"));
    match (fast, reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "fast path and aws-sigv4 disagree"),
        (Err(AuthError::SignatureMismatch), Ok(_)) => {
            assert!(refusable, "the fast path refused a request aws-sigv4 signs")
        }
        (Err(e), Ok(_)) => panic!("unexpected refusal {e:?}"),
        // aws-sigv4 cannot build a URI or header map from some received parts; the fast path
        // only computes a signature the client must still match.
        (_, Err(_)) => {}
    }
});
