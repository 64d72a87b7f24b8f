//! Any byte string as an S3 XML request body (bucket policy status, versioning, tagging,
//! DeleteObjects, CompleteMultipartUpload, ...): the parser never panics, and refuses or parses.
#![no_main]

use airlock_server::services::s3::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = xml::parse_http_date(text);
        let _ = xml::parse_bool(text);
    }
});
