//! abshift entry point: parse the command line, dispatch, map errors to exit codes.
//! Everything else lives in the crates under crates/; this crate alone knows clap.

use std::process::ExitCode;

use clap::Parser;

mod allocator;
mod cli;
mod commands;
mod error;
mod logging;

use cli::Cli;

fn main() -> ExitCode {
    allocator::tune();
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
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
