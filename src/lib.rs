//! es-secure: secure a self-managed Elasticsearch cluster and its Kibana.
//!
//! Architecture (functional core, imperative shell):
//! - [`domain`] is pure: settings reading, tier detection, typed answers, the planner, the
//!   YAML editor and plan rendering. It performs no I/O, reads no clock and draws no
//!   randomness, so it is deterministic and cheap to test.
//! - [`shell`] holds every side effect: detection, certificate generation, keystores, the
//!   file transaction, the Elasticsearch REST client and the executor of a plan.
//! - [`ui`] frontends only collect answers and show things; they never write system files.
//! - [`app`] is the one place that wires the three together for each command.
//!
//! Allowed dependency directions: `ui -> domain`, `shell -> domain`, `app -> ui, shell,
//! domain`. `domain` never imports from `shell` or `ui`.

pub mod app;
pub mod cli;
pub mod domain;
pub mod error;
pub mod shell;
pub mod ui;
