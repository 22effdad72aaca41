//! The command line, as clap derive types. Parsing only: no I/O here, and no decisions beyond
//! which flags go with which command.

use std::path::PathBuf;

use clap::{ArgAction, Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

/// Secure a self-managed Elasticsearch cluster and its Kibana: security on, built-in
/// passwords, transport TLS and HTTPS, planned as a reviewable diff and applied as one
/// transaction. Run without a command for the interactive wizard.
#[derive(Debug, Parser)]
#[command(name = "es-secure", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub wizard: WizardFlags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command that looks at an installation understands (given before or after the
/// command name).
#[derive(Clone, Debug, Default, Args)]
pub struct Global {
    /// Elasticsearch home (the directory with bin/ and lib/); overrides detection.
    #[arg(long, global = true, value_name = "DIR")]
    pub es_home: Option<PathBuf>,
    /// Elasticsearch config directory (holding elasticsearch.yml); overrides detection.
    #[arg(long, global = true, value_name = "DIR")]
    pub es_config: Option<PathBuf>,
    /// Kibana config directory (holding kibana.yml); overrides detection.
    #[arg(long, global = true, value_name = "DIR")]
    pub kibana_config: Option<PathBuf>,
    /// The user Elasticsearch runs as (archive installs; packages use `elasticsearch`).
    #[arg(long, global = true, value_name = "NAME")]
    pub es_user: Option<String>,
    /// Where es-secure keeps its CA, backups and state [default: /var/lib/es-secure].
    #[arg(long, global = true, value_name = "DIR", env = "ES_SECURE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Use es-secure's bundled sample install (a scratch copy), even if Elasticsearch is found.
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// More detail on stderr: what was detected and where (repeat for more).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Also write what is shown on stderr (findings, plan, steps, errors; never passwords)
    /// to FILE, mode 0600, when the command ends.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Wizard only (set from `--plain`); not a flag of the commands.
    #[arg(skip)]
    pub plain: bool,
    /// Set from the wizard's or `apply`'s `--ignore-ownership`; not a flag of other commands.
    #[arg(skip)]
    pub ignore_ownership: bool,
}

/// Flags of the wizard (no command). Given together with a command they are refused, so a
/// flag never silently does nothing.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Wizard options (no command)")]
pub struct WizardFlags {
    /// Plain line-by-line prompts instead of the full-screen wizard.
    #[arg(long)]
    pub plain: bool,
    /// Apply even though the service user cannot use the config, data or logs directories
    /// (you will fix ownership before the restart).
    #[arg(long)]
    pub ignore_ownership: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the plan for an answers file and change nothing.
    Plan {
        /// The answers file (see templates/answers.example.yml).
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
        /// Print the plan as JSON (with `schema_version`; file modes as octal strings).
        #[arg(long)]
        json: bool,
    },
    /// Apply an answers file (or a node bundle): show the plan, confirm, apply, verify.
    Apply {
        /// The answers file (see templates/answers.example.yml).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "bundle",
            conflicts_with = "bundle"
        )]
        answers: Option<PathBuf>,
        /// A node bundle written by an apply on another node of the cluster.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// With --bundle: the cluster file written with the bundle (default: cluster.yml in
        /// the bundle's directory).
        #[arg(long, value_name = "FILE", requires = "bundle")]
        cluster_file: Option<PathBuf>,
        /// With --bundle: the SHA-256 fingerprint of the CA that must have signed the bundle,
        /// as the apply on the CA host printed it (hex, colons optional). Needed with --yes.
        #[arg(long, value_name = "SHA256", requires = "bundle")]
        ca_fingerprint: Option<String>,
        /// With --answers, instead of applying: delete the bundles in <state>/bundles/ of
        /// nodes that have joined the cluster (GET _nodes, trusting only our CA); `all`
        /// deletes every bundle without asking the cluster.
        #[arg(
            long,
            value_name = "WHICH",
            num_args = 0..=1,
            default_missing_value = "joined",
            conflicts_with = "bundle"
        )]
        prune_bundles: Option<PruneBundles>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Show the plan and stop (same as `plan`).
        #[arg(long)]
        dry_run: bool,
        /// Apply even though the service user cannot use the config, data or logs
        /// directories (you will fix ownership before the restart).
        #[arg(long)]
        ignore_ownership: bool,
    },
    /// Show the detected installation, its tier with evidence, certificates and findings,
    /// and the posture per layer (with the license read by one `GET _license`).
    Status {
        /// Print the detected facts and the posture (`posture.schema_version`) as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 6 when any posture row is `fail`.
        #[arg(long)]
        strict: bool,
        /// Exit 8 when any certificate es-secure manages, or its CA, expires within DAYS
        /// (or has expired); with --json the dates are under `expiry`.
        #[arg(long, value_name = "DAYS")]
        check_expiry: Option<u32>,
        /// Answers file, to show where it points (and, with `auth.method: elastic-password`,
        /// the password the license is read with).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Check the live node: TLS, anonymous 401, users, certificates, health.
    Verify {
        /// The answers file the node was secured with.
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
    },
    /// Issue this node's certificates again from the same CA (same subject, SANs and file
    /// names), without a restart, and wait until Elasticsearch serves them.
    Renew {
        /// Only certificates that expire within DAYS (or have expired); default: all of them.
        #[arg(long, value_name = "DAYS")]
        within: Option<u32>,
        /// Also write new signed bundles for the other nodes named in --answers (on the CA
        /// host; each node applies its bundle with `apply --bundle`).
        #[arg(long, requires = "answers")]
        all: bool,
        /// The answers file naming the cluster's nodes (for --all).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Show the plan and stop.
        #[arg(long)]
        dry_run: bool,
    },
    /// Replace the CA without downtime, one rolling phase per run (the phase is kept in the
    /// state directory; re-running continues): (a) a new CA, every trust list holds both;
    /// (b) every certificate issued again under the new CA; (c) only the new CA is trusted
    /// and the old CA key is deleted. Run each phase on every node before the next.
    RotateCa {
        /// Also write a signed rotation bundle for every other node named in --answers (on
        /// the CA host; each node runs `rotate-ca --bundle FILE`).
        #[arg(long, requires = "answers", conflicts_with = "bundle")]
        all: bool,
        /// The answers file naming the cluster's nodes (for --all).
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
        /// On another node: run the phase in this rotation bundle from the CA host.
        #[arg(long, value_name = "FILE", requires = "ca_fingerprint")]
        bundle: Option<PathBuf>,
        /// The SHA-256 fingerprint of the CA that signed --bundle (the CA being replaced),
        /// as the CA host printed it.
        #[arg(long, value_name = "SHA256")]
        ca_fingerprint: Option<String>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Show the plan of the next phase and stop.
        #[arg(long)]
        dry_run: bool,
    },
    /// One step of a rolling restart, on the host that holds the CA, around each node's own
    /// restart (the Ansible role runs it): `before` limits shard allocation to primaries and
    /// flushes; `after` waits until the cluster has every node of --answers and is yellow or
    /// green, then enables allocation again. Restarts nothing itself.
    RollingRestart {
        /// Which side of the node's restart.
        #[arg(value_enum)]
        step: RollingStep,
        /// The answers file the cluster was secured with (its URL, its nodes).
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
    },
    /// Restore the files of a past apply.
    Rollback {
        /// List past applies instead.
        #[arg(long)]
        list: bool,
        /// The apply to restore (from --list); default: the latest.
        id: Option<String>,
    },
    /// Print a shell completion script (e.g. `es-secure completions bash > /etc/bash_completion.d/es-secure`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout (e.g. `es-secure man | man -l -`).
    Man,
}

impl Cli {
    /// The clap command tree, for completions and the man page.
    pub fn command_tree() -> clap::Command {
        Self::command()
    }

    /// Fold flags into [`Global`] and refuse the wizard's flags next to a command: the
    /// message names the flag and where it belongs.
    pub fn resolve(mut self) -> Result<Self, String> {
        let wizard_flag = if self.wizard.plain {
            Some("--plain")
        } else if self.wizard.ignore_ownership {
            Some("--ignore-ownership")
        } else {
            None
        };
        if let (Some(flag), Some(cmd)) = (wizard_flag, &self.command) {
            let hint = if flag == "--ignore-ownership" && matches!(cmd, Command::Apply { .. }) {
                "put it after `apply`: `es-secure apply --ignore-ownership ...`"
            } else {
                "it is a flag of the wizard (es-secure without a command)"
            };
            return Err(format!("{flag} does not apply to `{}`: {hint}", cmd.name()));
        }
        self.global.plain = self.wizard.plain;
        self.global.ignore_ownership = match &self.command {
            Some(Command::Apply {
                ignore_ownership, ..
            }) => *ignore_ownership,
            _ => self.wizard.ignore_ownership,
        };
        Ok(self)
    }
}

impl Command {
    /// The subcommand's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Plan { .. } => "plan",
            Self::Apply { .. } => "apply",
            Self::Status { .. } => "status",
            Self::Verify { .. } => "verify",
            Self::Renew { .. } => "renew",
            Self::RotateCa { .. } => "rotate-ca",
            Self::RollingRestart { .. } => "rolling-restart",
            Self::Rollback { .. } => "rollback",
            Self::Completions { .. } => "completions",
            Self::Man => "man",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(args)
            .map_err(|e| e.to_string())
            .and_then(Cli::resolve)
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_has_help() {
        fn check(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help text");
            }
            for sub in cmd.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "es-secure");
    }

    #[test]
    fn wizard_flags_are_refused_with_a_command() {
        let e = parse(&["es-secure", "--plain", "status"]).unwrap_err();
        assert!(e.contains("--plain does not apply to `status`"), "{e}");
        let e = parse(&["es-secure", "--ignore-ownership", "apply", "--answers", "a"]).unwrap_err();
        assert!(e.contains("after `apply`"), "{e}");
        assert!(parse(&["es-secure", "status", "--plain"]).is_err());
        assert!(parse(&["es-secure", "plan", "--answers", "a", "--ignore-ownership"]).is_err());
    }

    #[test]
    fn rolling_restart_takes_a_side_and_the_answers() {
        let cli = parse(&["es-secure", "rolling-restart", "before", "--answers", "a"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::RollingRestart {
                step: RollingStep::Before,
                ..
            })
        ));
        let cli = parse(&["es-secure", "rolling-restart", "after", "--answers", "a"]).unwrap();
        assert_eq!(cli.command.map(|c| c.name()), Some("rolling-restart"));
        assert!(parse(&["es-secure", "rolling-restart", "before"]).is_err());
        assert!(parse(&["es-secure", "rolling-restart", "during", "--answers", "a"]).is_err());
    }

    #[test]
    fn flags_land_where_they_act() {
        let cli = parse(&["es-secure", "--plain", "--ignore-ownership"]).unwrap();
        assert!(cli.global.plain && cli.global.ignore_ownership);
        let cli = parse(&[
            "es-secure",
            "--es-home",
            "/h",
            "apply",
            "--answers",
            "a",
            "--ignore-ownership",
            "-vv",
        ])
        .unwrap();
        assert!(cli.global.ignore_ownership && !cli.global.plain);
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.es_home, Some(PathBuf::from("/h")));
    }
}

/// `rolling-restart before|after`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum RollingStep {
    /// Before a node stops: allocation limited to primaries, then a flush.
    Before,
    /// After it is back: every node in the cluster, yellow or green, allocation enabled.
    After,
}

/// `--prune-bundles [joined|all]`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum PruneBundles {
    /// The bundles of nodes the cluster lists (the default).
    Joined,
    /// Every bundle.
    All,
}
