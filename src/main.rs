//! es-secure's entry point: parse the command line, run, print the error chain and exit with
//! the documented code. It must not panic on any input: a command line that is not UTF-8 is a
//! usage error (exit 2) like any other.

use clap::Parser as _;

fn main() {
    // Paths and names end up in YAML, journals and messages, which are UTF-8: say so clearly
    // instead of letting a later `to_str` fail (or panic) somewhere deep.
    if let Some((i, arg)) = std::env::args_os()
        .enumerate()
        .skip(1)
        .find(|(_, a)| a.to_str().is_none())
    {
        eprintln!(
            "error: command-line argument {i} ({}) is not valid UTF-8\nhelp: es-secure takes UTF-8 arguments only; rename the file or pass a path without those bytes",
            arg.to_string_lossy()
        );
        std::process::exit(es_secure::error::Exit::Config.code());
    }
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
            eprintln!("{label}: {}", failure.report());
            std::process::exit(failure.exit.code());
        }
    }
}
