//! The inverse of Unicode lower-casing, for `StringEqualsIgnoreCase` (which the engine decides by
//! comparing `char::to_lowercase` of both sides).

use std::collections::HashMap;
use std::sync::OnceLock;

/// For every lower-cased form `u` that some character `c` maps to with `c.to_lowercase() != c`,
/// the characters mapping to `u`.
pub fn inverse_lower_table() -> &'static HashMap<String, Vec<char>> {
    static T: OnceLock<HashMap<String, Vec<char>>> = OnceLock::new();
    T.get_or_init(|| {
        let mut m: HashMap<String, Vec<char>> = HashMap::new();
        for cp in 0..=0x10_FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let mut it = c.to_lowercase();
            if it.len() == 1 && it.next() == Some(c) {
                continue;
            }
            let u: String = c.to_lowercase().collect();
            m.entry(u).or_default().push(c);
        }
        m
    })
}
