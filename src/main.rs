//! abshift entry point: parse the command line, dispatch, map errors to exit codes.
//! Everything else lives in the crates under crates/; this crate alone knows clap.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod error;
mod logging;

use cli::Cli;

/// mimalloc rather than the system allocator: a plan of 50,000 objects
/// allocates and frees millions of small documents on several threads, where
/// glibc's per-thread arenas cost time and hold memory (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
