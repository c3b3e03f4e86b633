//! abshift entry point: parse the command line, dispatch, map errors to exit codes.
//! Everything else lives in the library so tests can reach it.

use std::process::ExitCode;

use clap::Parser;

use abshift::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    abshift::logging::init(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", cli::render_error(&err));
            ExitCode::from(cli::exit_code_for(&err))
        }
    }
}
