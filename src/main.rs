//! es-secure's entry point: parse the command line, run, print the error chain and exit with
//! the documented code.

use clap::Parser as _;

fn main() {
    let cli = es_secure::cli::Cli::parse();
    match es_secure::app::run(cli) {
        Ok(()) => {}
        Err(failure) => {
            // Exit 7 is not an error: the files are in place and a restart is due.
            let label = match failure.exit {
                es_secure::error::Exit::RestartPending => "restart pending",
                _ => "error",
            };
            eprintln!("{label}: {}", failure.report());
            std::process::exit(failure.exit.code());
        }
    }
}
