//! `rolling-restart before|after`: one side of one node's restart in a rolling restart, run
//! on the host that holds the CA (the Ansible role calls it around each node's
//! `systemctl restart`). Wiring only: the REST calls are `shell::rolling_restart`'s.

use std::path::Path;

use crate::cli::{Global, RollingStep};
use crate::error::{Exit, Failure};
use crate::shell::rolling_restart::{self, Side};

use super::{
    begin_session, detect_with, load_answers, locate, remove_leftover_users, sandbox_guard,
    sandbox_if_requested, say,
};

pub(super) fn rolling_restart_cmd(
    global: &Global,
    step: RollingStep,
    answers_path: &Path,
) -> Result<(), Failure> {
    let (_, answers) = load_answers(answers_path)?;
    let sandbox = sandbox_if_requested(global)?;
    let loc = locate(global, sandbox.as_deref());
    // It may add a temporary superuser: the lock, and recovery first, as for verify.
    let session = begin_session(&loc.state_dir, "rolling restart")?;
    let facts = detect_with(&loc, Some(&answers))?;
    sandbox_guard(&facts, &answers)?;
    remove_leftover_users(&session, &facts)?;
    let side = match step {
        RollingStep::Before => Side::Before,
        RollingStep::After => Side::After,
    };
    rolling_restart::run(&facts, &answers, side, &session, &mut |line| {
        say(&format!("rolling restart: {line}"));
    })
    // The cluster did not do what the step needs (unreachable, not back in time): nothing
    // on this host was changed, and the role stops before the next node.
    .map_err(|e| Failure::new(Exit::Refused, e))
}
