//! `abshift sync consul|etcd|verify`: keep a key-value prefix of store A replicated into B
//! during the cutover window, and prove afterwards that both hold the same keys and values.
//! This module is the CLI edge: flags, signals, printing; the engine lives in `engine`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokio::sync::watch;

use crate::error::UsageError;
use abshift_sync::checkpoint::Checkpoint;
use abshift_sync::consul::ConsulStore;
use abshift_sync::engine::{self, Engine, EngineOptions, Mode, Report, VerifyReport};
use abshift_sync::etcd::EtcdStore;
use abshift_sync::store::{self, KvStore, Scope, show_key};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Replicate a Consul KV prefix from A to B.
    Consul(ConsulArgs),
    /// Replicate an etcd v3 prefix from A to B.
    Etcd(EtcdArgs),
    /// Compare A and B (key sets and value digests; values are never shown). Exit 0 only when equal.
    #[command(subcommand)]
    Verify(VerifyCommand),
}

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Compare two Consul KV prefixes.
    Consul(ConsulVerifyArgs),
    /// Compare two etcd prefixes.
    Etcd(EtcdVerifyArgs),
}

/// Which keys, on which two stores.
#[derive(Debug, Clone, Args)]
pub struct ScopeArgs {
    /// Address of store A, the source (etcd: comma-separated endpoints).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// Address of store B, the destination.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Replicate this prefix. `app` means the key `app` and everything under `app/`, never `apps/`;
    /// end it with `/` for the subtree only. Empty: every key.
    #[arg(long, default_value = "", value_name = "P")]
    pub prefix: String,
    /// Where the prefix lands in B (default: the same prefix).
    #[arg(long, value_name = "P")]
    pub dest_prefix: Option<String>,
    /// Leave keys under this prefix alone on both sides (full source key, path semantics; repeatable).
    #[arg(long, value_name = "P")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Copy once so B's prefix equals A's, then exit (the default).
    #[arg(long, conflicts_with = "follow")]
    pub once: bool,
    /// After the copy, keep streaming A's changes into B until SIGINT/SIGTERM.
    #[arg(long)]
    pub follow: bool,
    /// Remember the last replicated index here (written atomically); a restarted --follow resumes from it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// List the keys that would be written (+) or deleted (-) in B; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept that the prefix is empty in A, and so empty it in B too (refused by default).
    #[arg(long)]
    pub allow_empty: bool,
    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub progress_interval: u64,
}

/// Consul ACL tokens. Best kept off the command line (where `ps` shows
/// them): in a file (`--from-token-file`, `CONSUL_HTTP_TOKEN_FILE`) or the
/// environment (`CONSUL_HTTP_TOKEN`).
#[derive(Debug, Clone, Args)]
pub struct ConsulTokens {
    /// ACL token for A (sent as X-Consul-Token).
    #[arg(
        long,
        env = "CONSUL_HTTP_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub from_token: Option<String>,
    /// File holding the ACL token for A (used when no --from-token is given).
    #[arg(long, env = "CONSUL_HTTP_TOKEN_FILE", value_name = "PATH")]
    pub from_token_file: Option<PathBuf>,
    /// ACL token for B (default: A's token).
    #[arg(long, hide_env_values = true, value_name = "TOKEN")]
    pub to_token: Option<String>,
    /// File holding the ACL token for B (used when no --to-token is given).
    #[arg(long, value_name = "PATH")]
    pub to_token_file: Option<PathBuf>,
}

/// A token given directly, else read from its file (trimmed); a file that
/// cannot be read is a usage error naming it.
fn token(
    direct: &Option<String>,
    file: &Option<PathBuf>,
    flag: &str,
) -> Result<Option<String>, UsageError> {
    if let Some(t) = direct {
        return Ok(Some(t.clone()));
    }
    let Some(path) = file else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{flag} {}: {e}", path.display())))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(UsageError(format!(
            "{flag} {}: the file is empty",
            path.display()
        )));
    }
    Ok(Some(t.to_string()))
}

#[derive(Debug, Args)]
pub struct ConsulArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub tokens: ConsulTokens,
    /// Longest blocking query, in seconds (Consul caps it at 600).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct EtcdArgs {
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct ConsulVerifyArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub tokens: ConsulTokens,
}

#[derive(Debug, Args)]
pub struct EtcdVerifyArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
}

pub async fn run(cmd: SyncCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SyncCommand::Consul(a) => {
            let stop = stop_signal()?;
            let (from, to) = consul_pair(&a.run.scope, &a.tokens, a.wait)?;
            replicate("consul", from, to, a.run, stop).await
        }
        SyncCommand::Etcd(a) => {
            // Listen before connecting, so an early SIGTERM is a clean stop too.
            let stop = stop_signal()?;
            let (from, to) = etcd_pair(&a.run.scope).await?;
            replicate("etcd", from, to, a.run, stop).await
        }
        SyncCommand::Verify(VerifyCommand::Consul(a)) => {
            let (from, to) = consul_pair(&a.scope, &a.tokens, 60)?;
            verify(from, to, &a.scope).await
        }
        SyncCommand::Verify(VerifyCommand::Etcd(a)) => {
            let (from, to) = etcd_pair(&a.scope).await?;
            verify(from, to, &a.scope).await
        }
    }
}

fn consul_pair(
    scope: &ScopeArgs,
    tokens: &ConsulTokens,
    wait: u64,
) -> anyhow::Result<(ConsulStore, ConsulStore)> {
    if !(1..=600).contains(&wait) {
        return Err(UsageError("--wait must be between 1 and 600 seconds".to_string()).into());
    }
    let wait = Duration::from_secs(wait);
    let from_token = token(
        &tokens.from_token,
        &tokens.from_token_file,
        "--from-token-file",
    )?;
    let to_token = token(&tokens.to_token, &tokens.to_token_file, "--to-token-file")?
        .or_else(|| from_token.clone());
    let from =
        ConsulStore::new(&scope.from, from_token, wait).map_err(|e| UsageError(e.to_string()))?;
    let to = ConsulStore::new(&scope.to, to_token, wait).map_err(|e| UsageError(e.to_string()))?;
    Ok((from, to))
}

async fn etcd_pair(scope: &ScopeArgs) -> anyhow::Result<(EtcdStore, EtcdStore)> {
    let (from, to) = tokio::join!(
        EtcdStore::connect(&scope.from),
        EtcdStore::connect(&scope.to)
    );
    Ok((from.context("store A")?, to.context("store B")?))
}

fn check_scope(scope: &ScopeArgs) -> anyhow::Result<Scope> {
    let s = Scope::new(&scope.prefix, scope.dest_prefix.as_deref(), &scope.exclude);
    if scope.from.trim_end_matches('/') == scope.to.trim_end_matches('/')
        && (store::path_match(&s.prefix, &s.dest_prefix)
            || store::path_match(&s.dest_prefix, &s.prefix))
    {
        return Err(UsageError(
            "--from and --to are the same store and the prefixes overlap: that would copy the prefix onto itself"
                .to_string(),
        )
        .into());
    }
    Ok(s)
}

/// SIGINT or SIGTERM flips the flag; the engine finishes its current batch and stops.
fn stop_signal() -> anyhow::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("stop requested: finishing the current batch");
        let _ = tx.send(true);
        // A second signal means "now".
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        std::process::exit(130);
    });
    Ok(rx)
}

async fn replicate<S: KvStore>(
    kind: &str,
    from: S,
    to: S,
    args: RunArgs,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let scope = check_scope(&args.scope)?;
    if args.dry_run && args.follow {
        return Err(UsageError(
            "--dry-run lists one reconcile; it cannot be combined with --follow".into(),
        )
        .into());
    }
    let dest_prefix = args
        .scope
        .dest_prefix
        .clone()
        .unwrap_or_else(|| args.scope.prefix.clone());
    let opts = EngineOptions {
        scope,
        mode: if args.follow {
            Mode::Follow
        } else {
            Mode::Once
        },
        checkpoint_path: args.checkpoint.clone(),
        checkpoint: Checkpoint::new(
            kind,
            from.url(),
            to.url(),
            &args.scope.prefix,
            &dest_prefix,
            &args.scope.exclude,
        ),
        dry_run: args.dry_run,
        allow_empty: args.allow_empty,
        progress_every: Duration::from_secs(args.progress_interval.max(1)),
        checkpoint_every: Duration::from_secs(1),
    };
    let report = Engine::new(from, to, opts, stop).run().await?;
    Ok(print_report(&report, args.dry_run))
}

fn print_report(r: &Report, dry_run: bool) -> ExitCode {
    if dry_run {
        for c in &r.planned {
            println!("{} {}", c.kind, show_key(&c.key));
        }
        let puts = r.planned.iter().filter(|c| c.kind == '+').count();
        println!(
            "dry run at index {}: {} key(s) would be written, {} deleted in B; nothing changed",
            r.index,
            puts,
            r.planned.len() - puts
        );
        return ExitCode::SUCCESS;
    }
    if !r.initial_copy_complete {
        eprintln!(
            "stopped before the initial copy finished: {} key(s) written, {} deleted; B is not yet equal to A and no checkpoint was written",
            r.puts, r.deletes
        );
        return ExitCode::from(130);
    }
    println!(
        "{}: B reflects A at index {} ({} key(s) written, {} deleted{}{})",
        if r.stopped { "stopped" } else { "done" },
        r.index,
        r.puts,
        r.deletes,
        if r.recopies > 0 {
            format!(", {} full re-copy", r.recopies)
        } else {
            String::new()
        },
        if r.skipped > 0 {
            format!(", {} ephemeral key(s) skipped", r.skipped)
        } else {
            String::new()
        },
    );
    ExitCode::SUCCESS
}

async fn verify<S: KvStore>(from: S, to: S, scope: &ScopeArgs) -> anyhow::Result<ExitCode> {
    let s = check_scope(scope)?;
    let r: VerifyReport = engine::verify(&from, &to, &s).await?;
    for k in &r.only_in_a {
        println!("only in A: {}", show_key(k));
    }
    for k in &r.only_in_b {
        println!("only in B: {}", show_key(k));
    }
    for k in &r.differ {
        println!("differs:   {}", show_key(k));
    }
    if r.is_clean() {
        println!("equal: {} key(s), digest sha256:{}", r.equal, r.digest);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "NOT equal: {} equal, {} only in A, {} only in B, {} with different values",
            r.equal,
            r.only_in_a.len(),
            r.only_in_b.len(),
            r.differ.len()
        );
        Ok(ExitCode::from(1))
    }
}
