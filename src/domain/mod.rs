//! The functional core: pure data and pure functions. Nothing here touches the file system,
//! the network, the terminal, the clock or a random source.

pub mod answers;
pub mod bundle;
pub mod certspec;
pub mod defaults;
pub mod expiry;
pub mod facts;
pub mod outcome;
pub mod plan;
pub mod plan_json;
pub mod planner;
pub mod posture;
pub mod redact;
pub mod render;
pub mod rotation;
pub mod settings;
pub mod summary;
pub mod tier;
pub mod yaml_edit;
