//! Errors shared by every command: the ones that decide the exit code.

/// A command that is part of the tree but not built yet.
#[derive(Debug, thiserror::Error)]
#[error("`abshift {0}` is not yet available in this version")]
pub struct NotYetAvailable(pub &'static str);

/// The command line asks for something that cannot work (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
