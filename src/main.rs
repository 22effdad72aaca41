//! es-secure's entry point: parse the command line, run, print the error chain and exit with
//! the documented code.

use clap::Parser as _;

fn main() {
    let cli = es_secure::cli::Cli::parse();
    match es_secure::app::run(cli) {
        Ok(()) => {}
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            std::process::exit(failure.exit.code());
        }
    }
}
