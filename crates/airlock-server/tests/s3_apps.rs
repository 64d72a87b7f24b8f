//! S3 as applications use it (issue #26), through boto3 (tests/server/s3_apps_boto3.py):
//! emptying a versioned bucket page by page, `encoding-type=url`, `max-keys=0`, Object Lock
//! refused rather than ignored, SSE headers refused on reads, retried multipart completions,
//! the object checksums a completion states and reads return, conditional writes
//! (`If-None-Match: *`, `If-Match`) with concurrent writers, and `GetObjectAttributes`.

mod common;

use common::*;

/// Runs sections of the script against one server.
fn run(sections: &[&str]) {
    let s = TestServer::start();
    let out = s.python("s3_apps_boto3.py", sections);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "s3_apps_boto3.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("all S3 application checks passed"),
        "{stdout}"
    );
}

#[test]
fn listings_as_applications_page_through_them() {
    run(&["versions_paging", "encoding", "max_keys_zero"]);
}

#[test]
fn unsupported_object_lock_and_read_headers_are_refused() {
    run(&["object_lock", "sse_on_read"]);
}

#[test]
fn multipart_completions_retry_and_carry_object_checksums() {
    run(&["complete_retry", "checksums"]);
}

#[test]
fn conditional_writes_decide_one_winner() {
    run(&["conditional_writes"]);
}

#[test]
fn checksums_are_returned_on_reads_when_asked() {
    run(&["checksum_reads"]);
}

#[test]
fn get_object_attributes_needs_both_actions() {
    run(&["object_attributes"]);
}
