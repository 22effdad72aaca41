//! es-secure's entry point: parse the command line, run, print the error chain and exit with
//! the documented code.

use clap::Parser as _;

fn main() {
    let cli = match es_secure::cli::Cli::parse().resolve() {
        Ok(cli) => cli,
        // A flag given to a command it does not affect: a usage error (exit 2), like clap's own.
        Err(msg) => es_secure::cli::Cli::command_tree()
            .error(clap::error::ErrorKind::ArgumentConflict, msg)
            .exit(),
    };
    match es_secure::app::run(cli) {
        Ok(()) => {}
        Err(failure) => {
            // Exit 7 is not an error: the files are in place and a restart is due.
            let label = match failure.exit {
                es_secure::error::Exit::RestartPending => "restart pending",
                _ => "error",
            };
            eprintln!("{label}: {:#}", failure.error);
            std::process::exit(failure.exit.code());
        }
    }
}
