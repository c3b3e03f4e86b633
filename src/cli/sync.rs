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
use abshift_sync::engine::{self, Engine, EngineOptions, Mode, Report, SyncError, VerifyReport};
use abshift_sync::etcd::{EtcdAccess, EtcdStore};
use abshift_sync::store::{self, KvStore, Scope, StoreError, show_key};
use abshift_sync::tls::{self, ClientIdentity, ClientTls, Credentials};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Replicate a Consul KV prefix from A to B.
    Consul(Box<ConsulArgs>),
    /// Replicate an etcd v3 prefix from A to B.
    Etcd(Box<EtcdArgs>),
    /// Compare A and B (key sets and value digests; values are never shown). Exit 0 only when equal.
    #[command(subcommand)]
    Verify(VerifyCommand),
}

#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Compare two Consul KV prefixes.
    Consul(Box<ConsulVerifyArgs>),
    /// Compare two etcd prefixes.
    Etcd(Box<EtcdVerifyArgs>),
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

/// TLS for `https://` Consul addresses, named as Consul's CLI names them (`-ca-file`,
/// `-client-cert`, `-client-key`); A's also come from Consul's own environment variables.
/// B never inherits A's: it is another cluster.
#[derive(Debug, Clone, Args)]
pub struct ConsulTlsArgs {
    /// PEM CA certificate(s) A's certificate must chain to (only these are trusted; default: the system's CAs).
    #[arg(long, env = "CONSUL_CACERT", value_name = "FILE")]
    pub from_ca_file: Option<PathBuf>,
    /// PEM client certificate for A, when A verifies clients (verify_incoming).
    #[arg(long, env = "CONSUL_CLIENT_CERT", value_name = "FILE")]
    pub from_client_cert: Option<PathBuf>,
    /// PEM private key of --from-client-cert.
    #[arg(long, env = "CONSUL_CLIENT_KEY", value_name = "FILE")]
    pub from_client_key: Option<PathBuf>,
    /// PEM CA certificate(s) B's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub to_ca_file: Option<PathBuf>,
    /// PEM client certificate for B.
    #[arg(long, value_name = "FILE")]
    pub to_client_cert: Option<PathBuf>,
    /// PEM private key of --to-client-cert.
    #[arg(long, value_name = "FILE")]
    pub to_client_key: Option<PathBuf>,
}

/// TLS and login for etcd, named as etcdctl names them (`--cacert`, `--cert`, `--key`,
/// `--user`); A's also come from etcdctl's environment variables. B never inherits A's.
/// Passwords never need the command line: a file, or the environment.
#[derive(Debug, Clone, Args)]
pub struct EtcdAccessArgs {
    /// PEM CA certificate(s) A's certificate must chain to (only these are trusted; default: the system's CAs).
    #[arg(long, env = "ETCDCTL_CACERT", value_name = "FILE")]
    pub from_cacert: Option<PathBuf>,
    /// PEM client certificate for A (etcd's --client-cert-auth).
    #[arg(long, env = "ETCDCTL_CERT", value_name = "FILE")]
    pub from_cert: Option<PathBuf>,
    /// PEM private key of --from-cert.
    #[arg(long, env = "ETCDCTL_KEY", value_name = "FILE")]
    pub from_key: Option<PathBuf>,
    /// User for A when it has authentication enabled. `USER:PASSWORD` is accepted as etcdctl
    /// does, but keep the password off the command line: --from-password-file or ETCDCTL_PASSWORD.
    #[arg(
        long,
        env = "ETCDCTL_USER",
        hide_env_values = true,
        value_name = "USER"
    )]
    pub from_user: Option<String>,
    /// File holding --from-user's password (trailing line breaks are dropped). Else ETCDCTL_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub from_password_file: Option<PathBuf>,
    /// PEM CA certificate(s) B's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub to_cacert: Option<PathBuf>,
    /// PEM client certificate for B.
    #[arg(long, value_name = "FILE")]
    pub to_cert: Option<PathBuf>,
    /// PEM private key of --to-cert.
    #[arg(long, value_name = "FILE")]
    pub to_key: Option<PathBuf>,
    /// User for B (`USER:PASSWORD` accepted, as for --from-user).
    #[arg(long, value_name = "USER")]
    pub to_user: Option<String>,
    /// File holding --to-user's password. Else ABSHIFT_TO_ETCD_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub to_password_file: Option<PathBuf>,
}

/// The environment variable holding A's etcd password (etcdctl's).
const FROM_ETCD_PASSWORD_ENV: &str = "ETCDCTL_PASSWORD";
/// The environment variable holding B's etcd password.
const TO_ETCD_PASSWORD_ENV: &str = "ABSHIFT_TO_ETCD_PASSWORD";

/// The names one side's TLS settings go by, for messages.
struct TlsNames {
    side: &'static str,
    ca: &'static str,
    cert: &'static str,
    key: &'static str,
}

/// Reads one side's PEM files; a file that cannot be used is a usage error naming its flag.
fn client_tls(
    url: &str,
    ca: &Option<PathBuf>,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    names: &TlsNames,
) -> Result<ClientTls, UsageError> {
    let flag_err = |flag: &str, e: tls::PemError| UsageError(format!("{flag}: {e}"));
    let identity = match (cert, key) {
        (None, None) => None,
        (Some(c), Some(k)) => Some(ClientIdentity {
            cert: tls::read_certificates(c).map_err(|e| flag_err(names.cert, e))?,
            key: tls::read_private_key(k).map_err(|e| flag_err(names.key, e))?,
        }),
        (Some(_), None) => {
            return Err(UsageError(format!(
                "{} needs {} (the client certificate's private key)",
                names.cert, names.key
            )));
        }
        (None, Some(_)) => {
            return Err(UsageError(format!(
                "{} needs {} (the client certificate)",
                names.key, names.cert
            )));
        }
    };
    let tls = ClientTls {
        ca: ca
            .as_ref()
            .map(|p| tls::read_certificates(p).map_err(|e| flag_err(names.ca, e)))
            .transpose()?,
        identity,
    };
    let plain = url
        .split(',')
        .any(|u| u.trim().to_ascii_lowercase().starts_with("http://"));
    if plain && !tls.is_empty() {
        return Err(UsageError(format!(
            "{} is {url}, but {}/{}/{} are set (from the command line or the environment): TLS needs an https:// address",
            names.side, names.ca, names.cert, names.key
        )));
    }
    Ok(tls)
}

/// etcd's user and password for one side: `USER:PASSWORD` as etcdctl splits it when no
/// password is given otherwise; the password from its file, else from `env`.
fn etcd_credentials(
    user: &Option<String>,
    password_file: &Option<PathBuf>,
    env: &str,
    user_flag: &str,
    file_flag: &str,
) -> Result<Option<Credentials>, UsageError> {
    let from_file = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("{file_flag} {}: {e}", path.display())))?;
            let pw = text.trim_end_matches(['\n', '\r']);
            if pw.is_empty() {
                return Err(UsageError(format!(
                    "{file_flag} {}: the file is empty",
                    path.display()
                )));
            }
            Some(pw.to_string())
        }
        None => None,
    };
    let Some(user) = user.as_deref().filter(|u| !u.is_empty()) else {
        if password_file.is_some() {
            return Err(UsageError(format!("{file_flag} needs {user_flag}")));
        }
        // A password in the environment without a user is ignored, as etcdctl does.
        return Ok(None);
    };
    let password = from_file.or_else(|| std::env::var(env).ok().filter(|p| !p.is_empty()));
    let (user, password) = match password {
        Some(p) => (user.to_string(), p),
        None => match user.split_once(':') {
            Some((u, p)) if !u.is_empty() && !p.is_empty() => (u.to_string(), p.to_string()),
            _ => {
                return Err(UsageError(format!(
                    "{user_flag} {}: no password: give {file_flag} FILE or set {env}",
                    user.split(':').next().unwrap_or_default()
                )));
            }
        },
    };
    Ok(Some(Credentials { user, password }))
}

#[derive(Debug, Args)]
pub struct ConsulArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub tokens: ConsulTokens,
    #[command(flatten)]
    pub tls: ConsulTlsArgs,
    /// Longest blocking query, in seconds (Consul caps it at 600).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct EtcdArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub access: EtcdAccessArgs,
}

#[derive(Debug, Args)]
pub struct ConsulVerifyArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub tokens: ConsulTokens,
    #[command(flatten)]
    pub tls: ConsulTlsArgs,
}

#[derive(Debug, Args)]
pub struct EtcdVerifyArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub access: EtcdAccessArgs,
}

pub async fn run(cmd: SyncCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SyncCommand::Consul(a) => {
            let stop = stop_signal()?;
            let (from, to) = consul_pair(&a.run.scope, &a.tokens, &a.tls, a.wait)?;
            let scope = a.run.scope.clone();
            replicate("consul", from, to, a.run, stop)
                .await
                .map_err(|e| with_flags(e, None, &scope, &CONSUL_FLAGS))
        }
        SyncCommand::Etcd(a) => {
            // Listen before connecting, so an early SIGTERM is a clean stop too.
            let stop = stop_signal()?;
            let (from, to) = etcd_pair(&a.run.scope, &a.access).await?;
            replicate("etcd", from, to, a.run, stop).await
        }
        SyncCommand::Verify(VerifyCommand::Consul(a)) => {
            let (from, to) = consul_pair(&a.scope, &a.tokens, &a.tls, 60)?;
            verify(from, to, &a.scope)
                .await
                .map_err(|e| with_flags(e, None, &a.scope, &CONSUL_FLAGS))
        }
        SyncCommand::Verify(VerifyCommand::Etcd(a)) => {
            let (from, to) = etcd_pair(&a.scope, &a.access).await?;
            verify(from, to, &a.scope).await
        }
    }
}

fn consul_pair(
    scope: &ScopeArgs,
    tokens: &ConsulTokens,
    tls: &ConsulTlsArgs,
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
    let from_tls = client_tls(
        &scope.from,
        &tls.from_ca_file,
        &tls.from_client_cert,
        &tls.from_client_key,
        &TlsNames {
            side: "A (--from)",
            ca: "--from-ca-file (CONSUL_CACERT)",
            cert: "--from-client-cert (CONSUL_CLIENT_CERT)",
            key: "--from-client-key (CONSUL_CLIENT_KEY)",
        },
    )?;
    let to_tls = client_tls(
        &scope.to,
        &tls.to_ca_file,
        &tls.to_client_cert,
        &tls.to_client_key,
        &TlsNames {
            side: "B (--to)",
            ca: "--to-ca-file",
            cert: "--to-client-cert",
            key: "--to-client-key",
        },
    )?;
    let from = ConsulStore::with_tls(&scope.from, from_token, wait, &from_tls)
        .map_err(|e| UsageError(e.to_string()))?;
    let to = ConsulStore::with_tls(&scope.to, to_token, wait, &to_tls)
        .map_err(|e| UsageError(e.to_string()))?;
    Ok((from, to))
}

/// Both sides' TLS material and users, checked before anything is contacted.
fn etcd_access(
    scope: &ScopeArgs,
    a: &EtcdAccessArgs,
) -> Result<(EtcdAccess, EtcdAccess), UsageError> {
    let from = EtcdAccess {
        tls: client_tls(
            &scope.from,
            &a.from_cacert,
            &a.from_cert,
            &a.from_key,
            &TlsNames {
                side: "A (--from)",
                ca: "--from-cacert (ETCDCTL_CACERT)",
                cert: "--from-cert (ETCDCTL_CERT)",
                key: "--from-key (ETCDCTL_KEY)",
            },
        )?,
        credentials: etcd_credentials(
            &a.from_user,
            &a.from_password_file,
            FROM_ETCD_PASSWORD_ENV,
            "--from-user (ETCDCTL_USER)",
            "--from-password-file",
        )?,
    };
    let to = EtcdAccess {
        tls: client_tls(
            &scope.to,
            &a.to_cacert,
            &a.to_cert,
            &a.to_key,
            &TlsNames {
                side: "B (--to)",
                ca: "--to-cacert",
                cert: "--to-cert",
                key: "--to-key",
            },
        )?,
        credentials: etcd_credentials(
            &a.to_user,
            &a.to_password_file,
            TO_ETCD_PASSWORD_ENV,
            "--to-user",
            "--to-password-file",
        )?,
    };
    for (side, url, access) in [("A", &scope.from, &from), ("B", &scope.to, &to)] {
        if access.credentials.is_some() && url.to_ascii_lowercase().contains("http://") {
            tracing::warn!(
                "{side}'s user and password go to {url} unencrypted (http://): use https:// where you can"
            );
        }
    }
    Ok((from, to))
}

async fn etcd_pair(
    scope: &ScopeArgs,
    access: &EtcdAccessArgs,
) -> anyhow::Result<(EtcdStore, EtcdStore)> {
    let (from_access, to_access) = etcd_access(scope, access)?;
    let (from, to) = tokio::join!(
        EtcdStore::connect_with(&scope.from, &from_access),
        EtcdStore::connect_with(&scope.to, &to_access)
    );
    let from = from.map_err(|e| with_flags(e.into(), Some('A'), scope, &ETCD_FLAGS))?;
    let to = to.map_err(|e| with_flags(e.into(), Some('B'), scope, &ETCD_FLAGS))?;
    Ok((from, to))
}

/// The flags that set one kind of store's TLS and credentials, per side, for messages.
struct SideFlags {
    from_tls: &'static str,
    to_tls: &'static str,
    from_login: &'static str,
    to_login: &'static str,
}

const ETCD_FLAGS: SideFlags = SideFlags {
    from_tls: "--from-cacert, --from-cert, --from-key",
    to_tls: "--to-cacert, --to-cert, --to-key",
    from_login: "--from-user, --from-password-file",
    to_login: "--to-user, --to-password-file",
};

const CONSUL_FLAGS: SideFlags = SideFlags {
    from_tls: "--from-ca-file, --from-client-cert, --from-client-key",
    to_tls: "--to-ca-file, --to-client-cert, --to-client-key",
    from_login: "--from-token, --from-token-file",
    to_login: "--to-token, --to-token-file",
};

/// A store error names its side, and a TLS failure or a refused login the flags that set
/// them there. `side` when known (connecting), else found by the error's address.
fn with_flags(
    err: anyhow::Error,
    side: Option<char>,
    scope: &ScopeArgs,
    flags: &SideFlags,
) -> anyhow::Error {
    let found = err.chain().find_map(|c| {
        c.downcast_ref::<StoreError>()
            .or_else(|| match c.downcast_ref::<SyncError>() {
                Some(SyncError::Store(e)) => Some(e),
                _ => None,
            })
    });
    let Some(store_err) = found else { return err };
    let (url, tls) = match store_err {
        StoreError::Tls { url, .. } => (url, Some(true)),
        StoreError::PermissionDenied { url, .. } => (url, Some(false)),
        StoreError::Unreachable { url, .. }
        | StoreError::Protocol { url, .. }
        | StoreError::StreamEnded { url, .. }
        | StoreError::Unavailable { url, .. } => (url, None),
    };
    let same = |a: &str| a.trim_end_matches('/') == url.trim_end_matches('/');
    let side = match side {
        Some(s) => s,
        None if same(&scope.from) => 'A',
        None if same(&scope.to) => 'B',
        None => return err,
    };
    let hint = match (side, tls) {
        ('A', Some(true)) => flags.from_tls,
        ('A', Some(false)) => flags.from_login,
        (_, Some(true)) => flags.to_tls,
        (_, Some(false)) => flags.to_login,
        (_, None) => "",
    };
    if hint.is_empty() {
        err.context(format!("store {side}"))
    } else {
        err.context(format!("store {side} ({hint})"))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const UNSET: &str = "ABSHIFT_TEST_NO_SUCH_PASSWORD_VARIABLE";

    fn creds(user: Option<&str>, file: Option<&Path>) -> Result<Option<Credentials>, UsageError> {
        etcd_credentials(
            &user.map(str::to_string),
            &file.map(Path::to_path_buf),
            UNSET,
            "--from-user",
            "--from-password-file",
        )
    }

    #[test]
    fn etcd_password_from_a_file_or_etcdctls_user_form() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "pa:ss word\n").unwrap();
        let c = creds(Some("root"), Some(&file)).unwrap().unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("root", "pa:ss word")
        );
        // etcdctl: without another password, USER:PASSWORD is split at the first colon.
        let c = creds(Some("root:pa:ss"), None).unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("root", "pa:ss"));
        assert!(creds(None, None).unwrap().is_none());
        let e = creds(Some("root"), None).unwrap_err().0;
        assert!(
            e.contains("--from-password-file") && e.contains(UNSET),
            "{e}"
        );
        let e = creds(None, Some(&file)).unwrap_err().0;
        assert!(e.contains("needs --from-user"), "{e}");
        std::fs::write(&file, "\n").unwrap();
        assert!(
            creds(Some("root"), Some(&file))
                .unwrap_err()
                .0
                .contains("empty")
        );
    }

    #[test]
    fn tls_material_needs_https_and_a_key_with_its_certificate() {
        let names = TlsNames {
            side: "A (--from)",
            ca: "--from-cacert",
            cert: "--from-cert",
            key: "--from-key",
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let some = |p: &Path| Some(p.to_path_buf());
        let e = client_tls("http://a:2379", &some(&ca), &None, &None, &names).unwrap_err();
        assert!(e.0.contains("https://"), "{e}");
        let t = client_tls("https://a:2379", &some(&ca), &None, &None, &names).unwrap();
        assert!(t.ca.is_some() && t.identity.is_none());
        let e = client_tls("https://a:2379", &None, &some(&ca), &None, &names).unwrap_err();
        assert!(e.0.contains("--from-cert needs --from-key"), "{e}");
        assert!(
            client_tls("http://a:2379", &None, &None, &None, &names)
                .unwrap()
                .is_empty()
        );
    }
}
