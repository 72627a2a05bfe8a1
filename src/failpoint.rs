//! Fault injection for the crash and failure tests.
//!
//! Owns one environment variable, `FLEETCMDB_FAILPOINT=NAME:SUBSTRING`, read
//! once. When set, the code path called `NAME` misbehaves for subjects (file
//! paths) containing `SUBSTRING`. It is inert when unset, costs one branch,
//! and is documented in docs/testing.md as a testing hook.

use std::sync::OnceLock;

fn spec() -> Option<&'static (String, String)> {
    static SPEC: OnceLock<Option<(String, String)>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let v = std::env::var("FLEETCMDB_FAILPOINT").ok()?;
        let (name, subject) = v.split_once(':')?;
        Some((name.to_string(), subject.to_string()))
    })
    .as_ref()
}

/// Whether failpoint `name` is armed for `subject`.
pub fn armed(name: &str, subject: &str) -> bool {
    spec().is_some_and(|(n, s)| n == name && subject.contains(s.as_str()))
}
