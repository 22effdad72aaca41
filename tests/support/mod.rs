//! Shared helpers for integration tests (`mod support;` in a test file).
//!
//! Every integration test binary compiles this module separately and uses only part of
//! it, so unused items are expected here.
#![allow(dead_code)]

pub mod es;
pub mod install;
