//! Any byte string, as any kind of policy: parsing never panics, and what parses round-trips.
#![no_main]

use airlock_policy::{Policy, PolicyKind};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 9] = [
    PolicyKind::Identity,
    PolicyKind::Boundary,
    PolicyKind::Session,
    PolicyKind::ServiceControl,
    PolicyKind::ResourceControl,
    PolicyKind::Resource,
    PolicyKind::Key,
    PolicyKind::Trust,
    PolicyKind::Endpoint,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    if let Ok(policy) = Policy::parse(text, kind) {
        let again = Policy::parse(&policy.to_json().to_string(), kind)
            .expect("a parsed policy's canonical JSON parses again");
        assert_eq!(policy, again);
    }
});
