//! The command line, as clap derive types. Parsing only: no I/O here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Secure a self-managed Elasticsearch cluster and its Kibana: security on, built-in
/// passwords, transport TLS and HTTPS, planned as a reviewable diff and applied as one
/// transaction. Run without a command for the interactive wizard.
#[derive(Debug, Parser)]
#[command(name = "es-secure", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

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
    /// Plain line-by-line prompts instead of the full-screen wizard.
    #[arg(long, global = true)]
    pub plain: bool,
    /// Apply even though the service user cannot use the config, data or logs directories
    /// (you will fix ownership before the restart).
    #[arg(long, global = true)]
    pub ignore_ownership: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the plan for an answers file and change nothing.
    Plan {
        #[arg(long, value_name = "FILE")]
        answers: PathBuf,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply an answers file (or a node bundle): show the plan, confirm, apply, verify.
    Apply {
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
    },
    /// Show the detected installation, its tier with evidence, certificates and findings.
    Status {
        #[arg(long)]
        json: bool,
        /// Answers file, to show where it points.
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Check the live node: TLS, anonymous 401, users, certificates, health.
    Verify {
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
}

/// `--prune-bundles [joined|all]`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, ValueEnum)]
pub enum PruneBundles {
    /// The bundles of nodes the cluster lists (the default).
    Joined,
    /// Every bundle.
    All,
}
