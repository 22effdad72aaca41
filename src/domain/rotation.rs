//! The CA rotation's phases and the record of how far a rotation got (kept in the state file
//! by `shell::state`, shown by `status`). Pure data: it must not read or write anything.

use serde::{Deserialize, Serialize};

/// One of the three rolling phases of `rotate-ca`, each run on every node before the next
/// starts: trust both CAs, then new leaves, then drop the old CA.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationPhase {
    /// (a) A new CA exists; every trust list holds the old and the new CA.
    TrustBoth,
    /// (b) Every leaf certificate is issued again under the new CA (same SANs).
    NewLeaves,
    /// (c) The old CA is gone from the trust lists and its key is deleted: the rotation is
    /// complete.
    DropOld,
}

impl RotationPhase {
    pub const ALL: [Self; 3] = [Self::TrustBoth, Self::NewLeaves, Self::DropOld];

    /// The phase a run does after `done` (the last phase completed); `None` → a new rotation.
    pub fn after(done: Option<Self>) -> Self {
        match done {
            None | Some(Self::DropOld) => Self::TrustBoth,
            Some(Self::TrustBoth) => Self::NewLeaves,
            Some(Self::NewLeaves) => Self::DropOld,
        }
    }

    /// `a`, `b`, `c`.
    pub fn letter(self) -> char {
        match self {
            Self::TrustBoth => 'a',
            Self::NewLeaves => 'b',
            Self::DropOld => 'c',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrustBoth => "trust-both",
            Self::NewLeaves => "new-leaves",
            Self::DropOld => "drop-old",
        }
    }

    /// What the phase does, for plans and `status`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::TrustBoth => "trust the old and the new CA",
            Self::NewLeaves => "certificates issued again under the new CA",
            Self::DropOld => "old CA removed from the trust lists",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for RotationPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}) {}", self.letter(), self.as_str())
    }
}

/// How far this node's CA rotation got. Kept after phase (c) (as a record of the last
/// rotation) until the next `rotate-ca` starts a new one.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct CaRotation {
    /// The last phase completed (and verified) on this node.
    pub phase: RotationPhase,
    /// SHA-256 fingerprints (uppercase hex with colons) of the CA being replaced and of the
    /// new one.
    pub old_ca: String,
    pub new_ca: String,
    /// Unix seconds when the phase completed.
    pub at: i64,
}

impl CaRotation {
    /// The phase the next `rotate-ca` runs, or `None` when this rotation is complete.
    pub fn next(&self) -> Option<RotationPhase> {
        (self.phase != RotationPhase::DropOld).then(|| RotationPhase::after(Some(self.phase)))
    }

    /// One line for `status`.
    pub fn status_line(&self) -> String {
        match self.next() {
            Some(next) => format!(
                "phase {} done ({}); next: `es-secure rotate-ca` phase {} on every node (old CA {}, new CA {})",
                self.phase,
                self.phase.describe(),
                next,
                short_fp(&self.old_ca),
                short_fp(&self.new_ca)
            ),
            None => format!(
                "complete (phase {} done; CA {} replaced by {})",
                self.phase,
                short_fp(&self.old_ca),
                short_fp(&self.new_ca)
            ),
        }
    }
}

/// The first 8 bytes of a fingerprint, for one-line summaries.
pub fn short_fp(fp: &str) -> String {
    let parts: Vec<&str> = fp.split(':').collect();
    if parts.len() > 8 {
        format!("{}…", parts[..8].join(":"))
    } else {
        fp.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_each_other_and_a_finished_rotation_starts_again() {
        assert_eq!(RotationPhase::after(None), RotationPhase::TrustBoth);
        assert_eq!(
            RotationPhase::after(Some(RotationPhase::TrustBoth)),
            RotationPhase::NewLeaves
        );
        assert_eq!(
            RotationPhase::after(Some(RotationPhase::NewLeaves)),
            RotationPhase::DropOld
        );
        assert_eq!(
            RotationPhase::after(Some(RotationPhase::DropOld)),
            RotationPhase::TrustBoth
        );
        for p in RotationPhase::ALL {
            assert_eq!(RotationPhase::parse(p.as_str()), Some(p));
        }
        let r = CaRotation {
            phase: RotationPhase::NewLeaves,
            old_ca: "AA".into(),
            new_ca: "BB".into(),
            at: 0,
        };
        assert_eq!(r.next(), Some(RotationPhase::DropOld));
        assert!(r.status_line().contains("phase (b) new-leaves done"));
    }
}
