//! The es-secure modules under fuzzing, compiled from the main crate's own source files so the
//! fuzzed code is exactly the shipped code. Only pure domain modules may be listed here.

pub mod domain;
