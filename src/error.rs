//! Errors shared by every command: the ones that decide the exit code.

/// The command line asks for something that cannot work (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
