//! Shared helpers for integration tests (`mod support;` in a test file).
//!
//! Every integration test binary compiles this module separately and uses only part of
//! it, so unused items are expected here.
#![allow(dead_code)]

pub mod es;
pub mod es_secure;
pub mod fake_es;
pub mod install;
pub mod run;

/// True when `ES_SECURE_TEST_REQUIRE=1` (CI sets it): every test must really run.
pub fn required() -> bool {
    std::env::var("ES_SECURE_TEST_REQUIRE").is_ok_and(|s| s == "1")
}

/// A test (or one case of it) that cannot run on this machine: a loud SKIPPED line locally,
/// a failure under `ES_SECURE_TEST_REQUIRE=1`, where a silently skipped check proves nothing.
pub fn skip(what: &str) {
    let msg = format!("SKIPPED: {what}");
    assert!(
        !required(),
        "{msg} (and ES_SECURE_TEST_REQUIRE=1: in CI every test must run)"
    );
    eprintln!("\n{msg}\n");
}
