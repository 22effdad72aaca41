//! STUB (replaced by the tui branch).
#![allow(unused_variables)]
pub fn run(input: super::WizardInput<'_>) -> anyhow::Result<super::WizardOutcome> {
    anyhow::bail!("plain mode is not built yet")
}
