//! Frontends: they collect answers and show plans and progress. They never write system
//! files; applying a plan is the shell's job.

pub mod plain;
pub mod tui;
