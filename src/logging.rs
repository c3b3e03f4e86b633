//! Log set-up: tracing to stderr. By default only abshift's own warnings, so a
//! failure reads as one line; libraries' logs appear from -vv. `RUST_LOG` overrides.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8, quiet: bool) {
    let directives = match (quiet, verbose) {
        (true, _) => "abshift=error",
        (false, 0) => "abshift=warn",
        (false, 1) => "abshift=info",
        (false, 2) => "abshift=debug,kube=info,warn",
        _ => "abshift=trace,kube=debug,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
