//! STUB (replaced by the tui branch).
#![allow(unused_variables)]
pub fn run(
    input: super::WizardInput<'_>,
    apply: super::ApplyFn,
) -> anyhow::Result<super::WizardOutcome> {
    anyhow::bail!("the TUI is not built yet; use --plain")
}
