//! The real-AWS path is the same code: this records every request apply sends (service,
//! operation, key parameters, in order) and compares it with the committed expectation
//! `tests/blueprint/apply-requests.json`. Regenerate it after an intended change with
//! `AIRLOCK_UPDATE_EXPECTATIONS=1 cargo test -p airlock-deploy --test requests`.

mod common;

use airlock_blueprint::Profile;
use airlock_deploy::apply;
use airlock_deploy::record::{RecordedRequest, RequestLog};
use common::seed::seed_plan;
use common::*;

#[test]
fn apply_sends_the_recorded_requests_in_order() {
    let local = Local::start();
    let plan = seed_plan(Profile::Hardened);
    let log = RequestLog::new();
    let target = local.target(Some(log.clone()));
    log.clear();
    local
        .rt
        .block_on(apply(&plan, &target, &local.state_path(), &mut |_| {}))
        .unwrap();
    let got = log.requests();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/blueprint/apply-requests.json");
    if std::env::var_os("AIRLOCK_UPDATE_EXPECTATIONS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with AIRLOCK_UPDATE_EXPECTATIONS=1",
            path.display()
        )
    });
    let want: Vec<RecordedRequest> = serde_json::from_str(&text).unwrap();
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w, g, "request #{i} differs");
    }
    assert_eq!(want.len(), got.len(), "number of requests");
    // The first request creates the key, the bucket policy comes after the endpoint.
    let pos = |op: &str| got.iter().position(|r| r.operation == op).unwrap();
    assert!(pos("CreateKey") < pos("CreateBucket"));
    assert!(pos("CreateVpcEndpoint") < pos("PutBucketPolicy"));
    assert!(pos("PutBucketPolicy") < pos("RunInstances"));
}
