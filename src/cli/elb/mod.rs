//! `abshift elb status|switch|rollback`: move the live and pre-live load
//! balancers from cluster A's ingress instances to B's, health-gated, never dark.
//! This module is the CLI edge: flags, validation, printing, Ctrl-C, exit
//! codes; `switch.rs` runs a switch with its gates and prints what it freed.

/// Prints a line to stdout; a reader that went away (`| head`) is no reason
/// to panic half-way through a switch report.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::named::named;
use crate::error::UsageError;
use abshift_elb::aws::{Aws, CloudWatchTraffic};
use abshift_elb::burn::BurnDownSettings;
use abshift_elb::error::ElbError;
use abshift_elb::machine::{Cancel, Event, Timing};
use abshift_elb::model::{LbRef, LoadBalancerApi};
use abshift_elb::names;
use abshift_elb::ops::{self, Context, Gates, Selector, SwitchReport, SwitchRequest};
use abshift_elb::smoke::{ShellSmoke, SmokeCheck, SmokeEnv, SmokeSettings, escape_output};
use abshift_elb::state::{self, LockOptions};
use abshift_elb::tf::{LbRole, TfOutputs};

mod switch;
use switch::switch;

#[derive(Debug, Subcommand)]
pub enum ElbCommand {
    /// Show each load balancer's members grouped by cluster, with health.
    Status(StatusArgs),
    /// Move a load balancer from A's ingress instances to B's, health-gated.
    Switch(Box<SwitchArgs>),
    /// Restore the membership recorded by the last switch.
    Rollback(RollbackArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Load balancer by role, resolved through --tf-output (repeatable; default: both when --tf-output is given).
    #[arg(long, value_parser = named::<LbRole>())]
    pub lb: Vec<LbRole>,
    /// Load balancer by name: classic ELB name, target group name or ARN, or an ALB/NLB with one target group (repeatable).
    #[arg(long, value_name = "NAME")]
    pub lb_name: Vec<String>,
    /// JSON of `terraform output -json` for the VPC shell.
    #[arg(long, value_name = "FILE")]
    pub tf_output: Option<PathBuf>,
    /// EC2 tag whose value names an instance's cluster.
    #[arg(long, default_value = names::TAG_CLUSTER, value_name = "KEY")]
    pub cluster_tag: String,
    /// S3 bucket holding lock, state and audit, to show the last switch and
    /// any lock holder (default: the `state_bucket` Terraform output).
    #[arg(long, value_name = "BUCKET")]
    pub state_bucket: Option<String>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// One load balancer, by role or by name.
#[derive(Debug, Args)]
pub struct LbArgs {
    /// Load balancer by role, resolved through --tf-output.
    #[arg(
        long,
        value_parser = named::<LbRole>(),
        required_unless_present = "lb_name",
        conflicts_with = "lb_name"
    )]
    pub lb: Option<LbRole>,
    /// Load balancer by name: classic ELB name, target group name or ARN, or an ALB/NLB with one target group.
    #[arg(long, value_name = "NAME")]
    pub lb_name: Option<String>,
    /// JSON of `terraform output -json` for the VPC shell (load balancers and state bucket).
    #[arg(long, value_name = "FILE")]
    pub tf_output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// S3 bucket for lock, state and audit (default: the `state_bucket` Terraform output).
    #[arg(long, env = names::ENV_STATE_BUCKET, value_name = "BUCKET")]
    pub state_bucket: Option<String>,
    /// Take over a lock older than --lock-stale-after.
    #[arg(long)]
    pub break_lock: bool,
    /// Age after which a lock counts as stale (e.g. 30m, 2h).
    #[arg(long, default_value = "30m", value_name = "DUR")]
    pub lock_stale_after: String,
}

#[derive(Debug, Args)]
pub struct TimingArgs {
    /// How long new members may take to become healthy (1s to 1h).
    #[arg(long, default_value = "5m", value_name = "DUR")]
    pub health_timeout: String,
    /// How long deregistered members may take to drain (1s to 1h; default: the load balancer's draining delay + 30s).
    #[arg(long, value_name = "DUR")]
    pub drain_timeout: Option<String>,
    /// Time between health polls.
    #[arg(long, default_value = "5s", value_name = "DUR")]
    pub poll_interval: String,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    #[command(flatten)]
    pub lb: LbArgs,
    /// Cluster to move the load balancer to (value of the cluster tag).
    #[arg(long, value_name = "CLUSTER")]
    pub to: String,
    /// Cluster to move it away from (default: every member not in --to).
    #[arg(long, value_name = "CLUSTER")]
    pub from: Option<String>,
    /// Tag an ingress instance carries besides the cluster tag (repeatable; replaces the default abshift:role=ingress).
    #[arg(long = "instance-tag", value_name = "KEY=VALUE")]
    pub instance_tags: Vec<String>,
    /// EC2 tag whose value names an instance's cluster.
    #[arg(long, default_value = names::TAG_CLUSTER, value_name = "KEY")]
    pub cluster_tag: String,
    /// New members that must be healthy before old ones are removed (default: all).
    #[arg(long, value_name = "N")]
    pub min_healthy: Option<usize>,
    /// Register the new members but leave the old ones in.
    #[arg(long)]
    pub keep_old: bool,
    /// Print every step and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub smoke: SmokeArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub timing: TimingArgs,
}

/// The smoke gate and the burn-down wait of a switch.
#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Smoke check run with `sh -c CMD` once the new members are healthy, before any old member is deregistered; a non-zero exit rolls the switch back (repeatable; commands run in order, before any --smoke-url). Its environment adds ABSHIFT_LB_NAME, ABSHIFT_LB_DNS, ABSHIFT_LB_ROLE, ABSHIFT_FROM_CLUSTER and ABSHIFT_TO_CLUSTER.
    #[arg(long = "smoke-cmd", value_name = "CMD")]
    pub smoke_cmds: Vec<String>,
    /// Smoke check that GETs URL (redirects not followed) every --smoke-retry-interval until it answers --expect-status; no such answer within --smoke-timeout rolls the switch back (repeatable; $ABSHIFT_LB_DNS and the other four ABSHIFT_ names are replaced in URL).
    #[arg(long = "smoke-url", value_name = "URL")]
    pub smoke_urls: Vec<String>,
    /// HTTP status every --smoke-url must answer.
    #[arg(long, default_value_t = 200, value_name = "N", value_parser = clap::value_parser!(u16).range(100..=599))]
    pub expect_status: u16,
    /// How long each smoke check may run (1s to 1h); one still running then counts as failed (a command is killed with its whole process group).
    #[arg(long, default_value = "60s", value_name = "DUR")]
    pub smoke_timeout: String,
    /// Time between two requests of a --smoke-url that did not answer --expect-status yet (at most 5m).
    #[arg(long, default_value = "2s", value_name = "DUR")]
    pub smoke_retry_interval: String,
    /// After the old members are deregistered and drained, record the switch as completed and wait until nothing reaches them any more: a CloudWatch metric of the load balancer where one counts only their traffic (cross-zone load balancing off, no remaining member in their zones), else until the load balancer's draining delay has passed since their deregistration; then print which of them are safe to scale down. If they are not found idle within --burn-down-timeout (or on Ctrl-C), the command exits 1 and the switch stays done.
    #[arg(long)]
    pub wait_burn_down: bool,
    /// Longest --wait-burn-down (1s to 1h); where a CloudWatch metric is used, it is read every 30s meanwhile.
    #[arg(long, default_value = "15m", value_name = "DUR")]
    pub burn_down_timeout: String,
}

/// How often the burn-down reads CloudWatch (ELB publishes once a minute).
const BURN_DOWN_POLL: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub lb: LbArgs,
    /// Print what would be restored and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub timing: TimingArgs,
}

pub async fn run(cmd: ElbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ElbCommand::Status(a) => status(a).await,
        ElbCommand::Switch(a) => switch(*a).await,
        ElbCommand::Rollback(a) => rollback(a).await,
    }
}

/// Parses `90`, `90s`, `500ms`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    // `try_`: a value beyond what `Duration` holds (or NaN, or negative) is a
    // typo to report, not a reason to panic.
    Duration::try_from_secs_f64(secs).ok()
}

/// No flag means anything longer: a bigger value is a typo, and capping it
/// keeps deadline arithmetic (`Instant + Duration`) far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

fn duration_flag(flag: &str, value: &str) -> Result<Duration, UsageError> {
    let d = parse_duration(value).ok_or_else(|| {
        UsageError(format!(
            "{flag} `{value}` is not a duration (e.g. 90s, 5m, 1h)"
        ))
    })?;
    if d > MAX_DURATION {
        return Err(UsageError(format!(
            "{flag} `{value}` is longer than the {}h any flag accepts",
            MAX_DURATION.as_secs() / 3600
        )));
    }
    Ok(d)
}

fn bounded(flag: &str, value: &str) -> Result<Duration, UsageError> {
    let d = duration_flag(flag, value)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
        return Err(UsageError(format!("{flag} {value} is outside 1s..3600s")));
    }
    Ok(d)
}

/// Validated flags, before any AWS call: bad input must change nothing.
struct Pacing {
    health_timeout: Duration,
    drain_timeout: Option<Duration>,
    poll_interval: Duration,
}

fn pacing(t: &TimingArgs) -> Result<Pacing, UsageError> {
    let poll_interval = duration_flag("--poll-interval", &t.poll_interval)?;
    if poll_interval.is_zero() || poll_interval > Duration::from_secs(300) {
        return Err(UsageError(format!(
            "--poll-interval {} is outside (0s, 300s]",
            t.poll_interval
        )));
    }
    Ok(Pacing {
        health_timeout: bounded("--health-timeout", &t.health_timeout)?,
        drain_timeout: t
            .drain_timeout
            .as_deref()
            .map(|d| bounded("--drain-timeout", d))
            .transpose()?,
        poll_interval,
    })
}

/// Validated smoke and burn-down flags (checks, per-check timeout, retry
/// pause; the burn-down settings when asked for), before any AWS call.
struct Gating {
    checks: Vec<SmokeCheck>,
    timeout: Duration,
    retry_every: Duration,
    burn_down: Option<BurnDownSettings>,
}

fn gating(a: &SmokeArgs, keep_old: bool) -> Result<Gating, UsageError> {
    let mut checks = Vec::new();
    for c in &a.smoke_cmds {
        if c.trim().is_empty() {
            return Err(UsageError("--smoke-cmd must not be empty".into()));
        }
        checks.push(SmokeCheck::Command(c.clone()));
    }
    for u in &a.smoke_urls {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(UsageError(format!(
                "--smoke-url `{}` must start with http:// or https://",
                escape_output(u)
            )));
        }
        checks.push(SmokeCheck::Url {
            url: u.clone(),
            expect_status: a.expect_status,
        });
    }
    let retry_every = duration_flag("--smoke-retry-interval", &a.smoke_retry_interval)?;
    if retry_every.is_zero() || retry_every > Duration::from_secs(300) {
        return Err(UsageError(format!(
            "--smoke-retry-interval {} is outside (0s, 300s]",
            a.smoke_retry_interval
        )));
    }
    let timeout = bounded("--smoke-timeout", &a.smoke_timeout)?;
    let burn_timeout = bounded("--burn-down-timeout", &a.burn_down_timeout)?;
    if a.wait_burn_down && keep_old {
        return Err(UsageError(
            "--wait-burn-down waits for the deregistered members, and --keep-old deregisters none"
                .into(),
        ));
    }
    Ok(Gating {
        checks,
        timeout,
        retry_every,
        burn_down: a.wait_burn_down.then_some(BurnDownSettings {
            timeout: burn_timeout,
            poll_interval: BURN_DOWN_POLL,
        }),
    })
}

impl Pacing {
    fn timing(&self, lb: &LbRef, report: &dyn Fn(&Event)) -> Timing {
        let configured = lb.drain_delay;
        let drain_timeout = match (self.drain_timeout, configured) {
            (Some(d), Some(c)) if d < c => {
                report(&Event::Warning(format!(
                    "--drain-timeout {}s is shorter than the {}s draining delay of {}: the drain wait may time out, which rolls the switch back",
                    d.as_secs(),
                    c.as_secs(),
                    lb.name
                )));
                d
            }
            (Some(d), _) => d,
            (None, Some(c)) => (c + Duration::from_secs(30))
                .clamp(Duration::from_secs(1), Duration::from_secs(3600)),
            (None, None) => Duration::from_secs(300),
        };
        Timing {
            poll_interval: self.poll_interval,
            health_timeout: self.health_timeout,
            drain_timeout,
            ..Timing::default()
        }
    }
}

fn selector(cluster_tag: &str, tags: &[String]) -> Result<Selector, UsageError> {
    let mut parsed = Vec::new();
    for t in tags {
        match t.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                parsed.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => {
                return Err(UsageError(format!("--instance-tag `{t}` is not KEY=VALUE")));
            }
        }
    }
    if parsed.is_empty() {
        parsed.push((names::TAG_ROLE.to_string(), names::ROLE_INGRESS.to_string()));
    }
    if cluster_tag.trim().is_empty() {
        return Err(UsageError("--cluster-tag must not be empty".into()));
    }
    Ok(Selector {
        cluster_tag: cluster_tag.to_string(),
        tags: parsed,
    })
}

fn load_tf(path: Option<&PathBuf>) -> Result<Option<TfOutputs>, ElbError> {
    path.map(|p| TfOutputs::load(p)).transpose()
}

/// The name to resolve for `--lb ROLE` / `--lb-name NAME`.
fn lb_name(
    args: &LbArgs,
    tf: Option<&TfOutputs>,
) -> Result<(String, Option<LbRole>), anyhow::Error> {
    if let Some(name) = &args.lb_name {
        return Ok((name.clone(), None));
    }
    let role = args.lb.expect("clap requires --lb or --lb-name");
    let tf = tf.ok_or_else(|| {
        UsageError(format!(
            "--lb {} needs --tf-output FILE (or name the load balancer with --lb-name)",
            role.as_str()
        ))
    })?;
    Ok((tf.lb(role)?, Some(role)))
}

fn bucket(state: &StateArgs, tf: Option<&TfOutputs>) -> Option<String> {
    state
        .state_bucket
        .clone()
        .or_else(|| tf.and_then(|t| t.state_bucket()))
}

fn lock_options(state: &StateArgs) -> Result<LockOptions, UsageError> {
    Ok(LockOptions {
        break_lock: state.break_lock,
        stale_after: duration_flag("--lock-stale-after", &state.lock_stale_after)?,
    })
}

fn print_event(e: &Event) {
    match e {
        Event::Step(s) => eprintln!("==> {s}"),
        Event::Health { healthy, need, of } => {
            eprintln!("    {healthy} of {of} healthy (need {need})")
        }
        Event::Retry {
            action,
            attempt,
            delay,
            message,
        } => eprintln!(
            "    {action} failed ({message}); retry {attempt} in {:.1}s",
            delay.as_secs_f64()
        ),
        Event::RollingBack(cause) => {
            eprintln!("!!! {cause}; rolling back to the recorded membership")
        }
        Event::Warning(w) => eprintln!("warning: {w}"),
        Event::Smoke(r) => {
            let check = escape_output(&r.check).replace('\n', "\\n");
            let secs = r.duration_ms as f64 / 1000.0;
            if r.passed() {
                eprintln!("    smoke check passed: {check} ({}, {secs:.1}s)", r.status);
            } else {
                eprintln!(
                    "!!! smoke check {}: {check} ({}, {secs:.1}s); its last output:",
                    r.result, r.status
                );
                let lines: Vec<&str> = r.output.lines().collect();
                if lines.is_empty() {
                    eprintln!("      | (no output)");
                }
                for line in &lines[lines.len().saturating_sub(20)..] {
                    eprintln!("      | {line}");
                }
            }
        }
    }
}

/// Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and CI runners send)
/// flip the cancel flag, once; the handlers stay installed afterwards so that
/// no further signal can kill the process half-way through a rollback.
/// `what` tells the operator what happens next.
fn interrupts(what: &'static str) -> anyhow::Result<(Cancel, tokio::task::JoinHandle<()>)> {
    use anyhow::Context as _;
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Installed before returning, not in the task: a signal that comes at once
    // must already find the handler.
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let handle = tokio::spawn(async move {
        let first = tokio::select! {
            r = int.recv() => r.map(|()| "Ctrl-C"),
            r = term.recv() => r.map(|()| "SIGTERM"),
        };
        let Some(name) = first else { return };
        eprintln!("!!! interrupted ({name}): {what} (further signals are ignored)");
        let _ = tx.send(true);
        loop {
            let again = tokio::select! {
                r = int.recv() => r,
                r = term.recv() => r,
            };
            if again.is_none() {
                break;
            }
        }
    });
    Ok((Cancel::new(rx), handle))
}

async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let tf = load_tf(args.tf_output.as_ref())?;
    let mut wanted: Vec<(String, Option<LbRole>)> = Vec::new();
    let roles = if args.lb.is_empty() && args.lb_name.is_empty() {
        if tf.is_none() {
            return Err(UsageError(
                "name load balancers with --lb-name, or give --tf-output FILE (optionally with --lb live|pre-live)"
                    .into(),
            )
            .into());
        }
        vec![LbRole::Live, LbRole::PreLive]
    } else {
        args.lb.clone()
    };
    for role in roles {
        let tf = tf
            .as_ref()
            .ok_or_else(|| UsageError(format!("--lb {} needs --tf-output FILE", role.as_str())))?;
        wanted.push((tf.lb(role)?, Some(role)));
    }
    wanted.extend(args.lb_name.iter().map(|n| (n.clone(), None)));

    let aws = Aws::load().await?;
    let bucket = args
        .state_bucket
        .clone()
        .or_else(|| tf.as_ref().and_then(|t| t.state_bucket()));
    let mut out = Vec::new();
    for (name, role) in wanted {
        let lb = aws.resolve(&name).await?;
        let mut st = ops::status(
            &aws,
            &aws,
            &lb,
            role.map(|r| r.as_str().to_string()),
            &args.cluster_tag,
        )
        .await?;
        if let Some(b) = &bucket {
            // Status is for looking: an unreadable bucket is a note, not a failure.
            let store = aws.bucket(b);
            match state::read_record(&store, &lb).await {
                Ok(r) => st.last_switch = r,
                Err(e) => tracing::warn!(
                    "{}: cannot read the last switch from s3://{b}: {e}",
                    lb.name
                ),
            }
            match state::read_lock(&store, &lb).await {
                Ok(l) => st.lock = l,
                Err(e) => tracing::warn!("{}: cannot read the lock from s3://{b}: {e}", lb.name),
            }
        }
        out.push(st);
    }
    match args.output {
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "load_balancers": out }))?
        ),
        Format::Text => {
            for s in &out {
                let label = match &s.role {
                    Some(r) => format!("{r}: {}", s.name),
                    None => s.name.clone(),
                };
                let serving = if s.serving.is_empty() {
                    "NOTHING (no healthy member)".to_string()
                } else {
                    s.serving.join(" + ")
                };
                say!(
                    "{label} ({}, {}) serves {serving}; {} of {} member(s) healthy",
                    s.kind,
                    s.vpc_id.as_deref().unwrap_or("no VPC"),
                    s.healthy,
                    s.members.len()
                );
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED);
                table.set_header(["CLUSTER", "INSTANCE", "HEALTH", "REASON"]);
                for m in &s.members {
                    table.add_row([
                        m.cluster.clone().unwrap_or_else(|| "-".into()),
                        m.id.clone(),
                        m.health.to_string(),
                        m.reason.clone().unwrap_or_default(),
                    ]);
                }
                if s.members.is_empty() {
                    say!("  (no members)");
                } else {
                    say!("{table}");
                }
                if bucket.is_some() {
                    match &s.last_switch {
                        Some(r) => say!(
                            "  last switch: {} -> {} ({}), operation {} by {} at {}{}",
                            r.from_cluster.as_deref().unwrap_or("?"),
                            r.to_cluster,
                            r.phase.as_str(),
                            r.operation_id,
                            r.by,
                            r.started_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            r.detail
                                .as_deref()
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        ),
                        None => say!("  last switch: none recorded"),
                    }
                    match &s.lock {
                        Some(l) => say!(
                            "  lock: HELD by {} ({}) since {}",
                            l.owner,
                            l.operation,
                            l.created_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                        None => say!("  lock: free"),
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Read-only look at the lock for `--dry-run`: says whether a real run would block.
async fn dry_run_lock_note(aws: &Aws, bucket: &str, lb: &LbRef) {
    use abshift_elb::model::StateStore;
    let store = aws.bucket(bucket);
    match store.get(&state::lock_key(lb)).await {
        Ok(None) => say!("  lock: free"),
        Ok(Some(obj)) => match serde_json::from_slice::<state::LockRecord>(&obj.body) {
            Ok(l) => say!(
                "  lock: HELD by {} ({}) since {}: a real run would be refused",
                l.owner,
                l.operation,
                l.created_at
            ),
            Err(_) => say!("  lock: held (unreadable lock object)"),
        },
        Err(e) => say!("  lock: cannot read ({e})"),
    }
}

async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let pacing = pacing(&args.timing)?;
    let lock = lock_options(&args.state)?;
    let tf = load_tf(args.lb.tf_output.as_ref())?;
    let (name, _role) = lb_name(&args.lb, tf.as_ref())?;
    let bucket = bucket(&args.state, tf.as_ref()).ok_or_else(|| {
        UsageError(format!(
            "no state bucket: pass --state-bucket, set {}, or give --tf-output with a `{}` output",
            names::ENV_STATE_BUCKET,
            names::TF_STATE_BUCKET
        ))
    })?;
    let aws = Aws::load().await?;
    let lb = aws.resolve(&name).await?;
    let store = aws.bucket(&bucket);
    let timing = pacing.timing(&lb, &print_event);
    let plan = ops::plan_rollback(&aws, &store, &lb).await?;
    let r = &plan.record;
    let summary = format!(
        "{} to the membership recorded before switch {} ({} -> {}, by {}, {}): {}",
        lb.name,
        r.operation_id,
        r.from_cluster.as_deref().unwrap_or("-"),
        r.to_cluster,
        r.by,
        r.phase.as_str(),
        if r.before.is_empty() {
            "(none)".to_string()
        } else {
            r.before.join(", ")
        }
    );
    if args.dry_run {
        say!("dry run: roll back {summary}; nothing will be changed");
        let mut n = 1;
        say!("  {n}. take the lock of {} in the state bucket", lb.name);
        if !plan.add.is_empty() {
            n += 1;
            say!(
                "  {n}. register {} and wait up to {}s until they are healthy",
                plan.add.join(", "),
                timing.health_timeout.as_secs()
            );
        }
        if !plan.remove.is_empty() {
            n += 1;
            say!(
                "  {n}. check that {} keeps a healthy member, then deregister {} and wait up to {}s for draining",
                lb.name,
                plan.remove.join(", "),
                timing.drain_timeout.as_secs()
            );
        }
        if plan.add.is_empty() && plan.remove.is_empty() {
            n += 1;
            say!("  {n}. nothing: the membership already matches the record");
        }
        say!("  {}. append an audit record and release the lock", n + 1);
        dry_run_lock_note(&aws, &bucket, &lb).await;
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("==> rolling back {summary}");
    // A rollback is itself the recovery: a signal is deferred until the
    // membership is restored and the lock released, never obeyed half-way.
    let (_deferred, sig) =
        interrupts("the rollback finishes restoring the membership and releases the lock first")?;
    let cx = Context {
        api: &aws,
        store: &store,
        who: state::who(),
        lock,
        timing,
        cancel: Cancel::never(),
        report: &print_event,
    };
    let result = ops::execute_rollback(&cx, &lb).await;
    sig.abort();
    result?;
    say!("rolled back {}", lb.name);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert!(bounded("--drain-timeout", "0s").is_err());
        assert!(bounded("--drain-timeout", "3601s").is_err());
        assert!(bounded("--drain-timeout", "3600s").is_ok());
    }

    #[test]
    fn huge_durations_are_usage_errors_not_panics() {
        for v in ["99999999999999999999999", "1e400", "99999999999999999999h"] {
            assert!(
                std::panic::catch_unwind(|| parse_duration(v)).is_ok(),
                "{v} panicked"
            );
            let e = duration_flag("--poll-interval", v).unwrap_err();
            assert!(!e.0.contains('\n'), "{}", e.0);
        }
        let t = TimingArgs {
            health_timeout: "5m".into(),
            drain_timeout: None,
            poll_interval: "99999999999999999999999".into(),
        };
        let e = pacing(&t).err().unwrap();
        assert!(e.0.contains("--poll-interval"), "{}", e.0);
        let e = duration_flag("--lock-stale-after", "8000h").unwrap_err();
        assert!(e.0.contains("longer than"), "{}", e.0);
        assert!(duration_flag("--lock-stale-after", "2h").is_ok());
    }

    fn smoke_args() -> SmokeArgs {
        SmokeArgs {
            smoke_cmds: vec!["./a".into(), "./b".into()],
            smoke_urls: vec!["http://$ABSHIFT_LB_DNS/health".into()],
            expect_status: 204,
            smoke_timeout: "60s".into(),
            smoke_retry_interval: "2s".into(),
            wait_burn_down: true,
            burn_down_timeout: "15m".into(),
        }
    }

    #[test]
    fn smoke_flags_commands_first_then_urls_and_bad_ones_refused() {
        let g = gating(&smoke_args(), false).unwrap();
        assert_eq!(
            g.checks,
            vec![
                SmokeCheck::Command("./a".into()),
                SmokeCheck::Command("./b".into()),
                SmokeCheck::Url {
                    url: "http://$ABSHIFT_LB_DNS/health".into(),
                    expect_status: 204
                },
            ]
        );
        assert_eq!(g.timeout, Duration::from_secs(60));
        assert_eq!(g.retry_every, Duration::from_secs(2));
        let b = g.burn_down.unwrap();
        assert_eq!(b.timeout, Duration::from_secs(900));
        assert_eq!(b.poll_interval, BURN_DOWN_POLL);

        let refused = |edit: &dyn Fn(&mut SmokeArgs), keep_old: bool, needle: &str| {
            let mut a = smoke_args();
            edit(&mut a);
            let e = gating(&a, keep_old).err().unwrap();
            assert!(e.0.contains(needle), "{needle}: {}", e.0);
        };
        refused(&|a| a.smoke_cmds.push(" ".into()), false, "--smoke-cmd");
        refused(
            &|a| a.smoke_urls.push("ftp://x".into()),
            false,
            "--smoke-url",
        );
        refused(&|a| a.smoke_timeout = "0s".into(), false, "--smoke-timeout");
        refused(&|a| a.smoke_timeout = "2h".into(), false, "--smoke-timeout");
        refused(
            &|a| a.smoke_retry_interval = "0s".into(),
            false,
            "--smoke-retry-interval",
        );
        refused(
            &|a| a.burn_down_timeout = "0s".into(),
            false,
            "--burn-down-timeout",
        );
        refused(&|_| {}, true, "--keep-old");
        let mut a = smoke_args();
        a.wait_burn_down = false;
        assert!(gating(&a, true).unwrap().burn_down.is_none());
    }

    #[test]
    fn instance_tags_replace_the_role_default() {
        let s = selector(names::TAG_CLUSTER, &[]).unwrap();
        assert_eq!(
            s.filter_for("b"),
            vec![
                (names::TAG_CLUSTER.to_string(), "b".to_string()),
                (names::TAG_ROLE.to_string(), names::ROLE_INGRESS.to_string())
            ]
        );
        let s = selector("team:cluster", &["tier=edge".into()]).unwrap();
        assert_eq!(
            s.filter_for("b"),
            vec![
                ("team:cluster".to_string(), "b".to_string()),
                ("tier".to_string(), "edge".to_string())
            ]
        );
        assert!(selector(names::TAG_CLUSTER, &["novalue".into()]).is_err());
    }
}
