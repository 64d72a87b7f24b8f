//! Any byte string as a setup document: loading never panics.
#![no_main]

use airlock_policy::setup::Setup;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Setup::from_json(text);
    }
});
