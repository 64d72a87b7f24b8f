//! The seed blueprint, `examples/seed.toml`, planned with a profile.

use airlock_blueprint::{Plan, Profile};

pub const A: &str = "111111111111";
pub const B: &str = "222222222222";
pub const BUCKET: &str = "cross-account-secure-bucket-demo";

pub fn seed_plan(profile: Profile) -> Plan {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    Plan::from_toml(&text, Some(profile)).unwrap()
}
