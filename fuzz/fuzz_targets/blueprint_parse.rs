//! Any byte string as a blueprint, in both profiles: reading, planning, the setup document and
//! the claims never panic, and every plan that succeeds loads as a setup.
#![no_main]

use airlock_blueprint::{Bindings, Plan, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for profile in [Profile::Hardened, Profile::AsWritten] {
            if let Ok(plan) = Plan::from_toml(text, Some(profile)) {
                let b = Bindings::illustrative(&plan);
                let doc = plan
                    .setup_document(&b)
                    .expect("illustrative bindings resolve");
                airlock_policy::setup::Setup::from_document(doc).expect("a plan is a valid setup");
                plan.claims(&b).expect("claims resolve");
            }
        }
    }
});
