//! `crate::domain::{settings, yaml_edit}`, as the main crate spells them.

#[path = "../../src/domain/settings.rs"]
pub mod settings;
#[path = "../../src/domain/yaml_edit.rs"]
pub mod yaml_edit;
