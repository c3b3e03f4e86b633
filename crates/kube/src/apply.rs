//! `migrate apply`: recreates a plan's objects in B, each once what it
//! depends on is there (`abshift_core::schedule`; waves overlap): a plain
//! POST for objects B did not hold at plan time, server-side apply for the
//! rest (and for a POST that finds the object there after all). Idempotent (a
//! journal records what B confirmed, and re-applying an object is harmless),
//! refuses plans made for other clusters, and reads Secret values from A at
//! apply time (one list per namespace, a wave ahead: from the first write of
//! the wave before, or beside the first wave's other writes), never from the
//! plan.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;

use futures::StreamExt;
use http::Method;
use serde_json::{Value, json};

use crate::adaptive::{self, Gate};
use crate::cluster::{Cluster, ClusterError};
use crate::journal::{self, ApplyLock, Entry, Journal, JournalError};
use abshift_core::diff::{Action, MIGRATED_FROM_LABEL, PLAN_ANNOTATION};
use abshift_core::fields::{FIELDS_ANNOTATION, as_applied, fieldset_digest};
use abshift_core::limit::{Limiter, LimiterConfig};
use abshift_core::model::{
    GroupKind, ObjectKey, ObjectRef, ResourceType, ValueAt, path_segment, split_api_version,
};
use abshift_core::outcome::{ApplySummary, ObjectResult, OnConflict, Outcome};
use abshift_core::plan::{Plan, PlannedObject, digest_key_bytes, secret_digest};
use abshift_core::schedule::{Node, Schedule, Step};

pub use abshift_core::fields::FIELD_MANAGER;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "plan {plan} was made for target cluster {expected} ('{plan_context}'), but '{context}' is cluster {found}: refusing to write; point --to at the plan's target or make a new plan"
    )]
    WrongTarget {
        plan: String,
        expected: String,
        plan_context: String,
        context: String,
        found: String,
    },
    #[error(
        "plan {plan} was made from source cluster {expected} ('{plan_context}'), but '{context}' is cluster {found}: refusing to write; point --from at the plan's source or make a new plan"
    )]
    WrongSource {
        plan: String,
        expected: String,
        plan_context: String,
        context: String,
        found: String,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub dry_run: bool,
    /// Writes in flight, fixed (`--concurrency`); `None` adapts to B
    /// (`abshift_core::limit::Limiter`).
    pub concurrency: Option<NonZeroUsize>,
    pub on_conflict: OnConflict,
    pub allow_drift: bool,
    /// Create CronJobs suspended, recording A's value (`--suspend-cronjobs`).
    pub suspend_cronjobs: bool,
    /// Create the plan's singletons (`singleton-runs-twice` findings) with no
    /// replicas, recording A's count (`--suspend-singletons`).
    pub suspend_singletons: bool,
}

/// Progress callbacks so the CLI can draw bars without this module knowing terminals.
pub trait ApplyProgress: Send + Sync {
    fn wave(&self, _wave: usize, _objects: usize) {}
    fn done(&self, _result: &ObjectResult) {}
    fn wave_finished(&self, _wave: usize) {}
}

pub struct NoProgress;
impl ApplyProgress for NoProgress {}

/// Refuses a plan whose clusters are not the ones connected to.
pub async fn check_clusters(
    plan: &Plan,
    source: &Cluster,
    target: &Cluster,
) -> Result<(), ApplyError> {
    let (sf, tf) = tokio::try_join!(source.fingerprint(), target.fingerprint())?;
    if tf != plan.target.fingerprint {
        return Err(ApplyError::WrongTarget {
            plan: plan.id.clone(),
            expected: plan.target.fingerprint.clone(),
            plan_context: plan.target.context.clone(),
            context: target.context.clone(),
            found: tf,
        });
    }
    if sf != plan.source.fingerprint {
        return Err(ApplyError::WrongSource {
            plan: plan.id.clone(),
            expected: plan.source.fingerprint.clone(),
            plan_context: plan.source.context.clone(),
            context: source.context.clone(),
            found: sf,
        });
    }
    Ok(())
}

struct Ctx<'a> {
    plan: &'a Plan,
    source: &'a Cluster,
    target: &'a Cluster,
    opts: &'a ApplyOptions,
    journal: Option<&'a Journal>,
    /// Where each planned kind lives, for owner lookups.
    kinds: HashMap<GroupKind, (String, String, bool)>,
    /// UIDs in B of objects written or found, for ownerReference remapping.
    uids: Mutex<HashMap<ObjectKey, String>>,
    writes: std::sync::atomic::AtomicU64,
    /// Objects this run creates, so a dry run can tell "missing in B" from
    /// "created earlier in this plan" (empty in a real run, which never asks).
    created_by_plan: HashSet<ObjectKey>,
    /// A's Secrets of the current wave and the next, read with one list per
    /// namespace instead of one GET per Secret; (namespace, name) → object,
    /// each removed when its Secret is written.
    live_secrets: Mutex<HashMap<(String, String), Value>>,
    /// The last wave whose Secrets were read: a Secret's write waits for its
    /// wave's reads, the wave's other objects do not.
    secrets_read: tokio::sync::watch::Sender<Option<usize>>,
    /// Namespaces and CRDs B already reported usable in the answer to their
    /// write, so the wait before their dependents does not ask again.
    usable: Mutex<HashSet<ObjectKey>>,
    /// The plan's key for Secret digests.
    digest_key: Vec<u8>,
    /// Objects created stopped (`--suspend-cronjobs`, `--suspend-singletons`).
    handed_over: HashSet<ObjectKey>,
    /// The first journal error: once set, no further write starts.
    journal_error: Mutex<Option<JournalError>>,
    /// Paces the writes to B.
    gate: Gate,
}

pub async fn apply(
    plan: &Plan,
    plan_path: &Path,
    source: &Cluster,
    target: &Cluster,
    opts: &ApplyOptions,
    progress: &dyn ApplyProgress,
) -> Result<ApplySummary, ApplyError> {
    let started = std::time::Instant::now();
    check_clusters(plan, source, target).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "clusters checked"
    );
    let journal_path = journal::path_for(plan_path);
    // One apply of a plan at a time; the OS releases the lock with the process.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(ApplyLock::acquire(&journal_path)?)
    };
    let done = if opts.dry_run {
        HashMap::new()
    } else {
        journal::load(&journal_path, &plan.id, &plan.checksum)?
    };
    let journal = if opts.dry_run {
        None
    } else {
        Some(Journal::open(&journal_path, &plan.id, &plan.checksum)?)
    };

    let mut uids = HashMap::new();
    for e in done.values() {
        if let Some(uid) = &e.uid {
            uids.insert(e.object.key(), uid.clone());
        }
    }
    let ctx = Ctx {
        plan,
        source,
        target,
        opts,
        journal: journal.as_ref(),
        kinds: plan
            .objects
            .iter()
            .map(|o| {
                let (g, _) = split_api_version(&o.api_version);
                (
                    GroupKind::new(g, &o.kind),
                    (o.api_version.clone(), o.resource.clone(), o.namespaced),
                )
            })
            .collect(),
        uids: Mutex::new(uids),
        writes: Default::default(),
        // Only a dry run asks (a real run creates them before their dependents).
        created_by_plan: if opts.dry_run {
            plan.objects
                .iter()
                .filter(|o| o.action != Action::Unchanged)
                .map(|o| o.object_ref().key())
                .collect()
        } else {
            HashSet::new()
        },
        live_secrets: Mutex::new(HashMap::new()),
        secrets_read: tokio::sync::watch::Sender::new(None),
        usable: Mutex::new(HashSet::new()),
        digest_key: digest_key_bytes(&plan.digest_key),
        journal_error: Mutex::new(None),
        handed_over: handed_over(plan, opts),
        gate: Gate::new(
            match opts.concurrency {
                Some(n) => Limiter::pinned(n.get()),
                None => Limiter::new(LimiterConfig::WRITES),
            },
            "writes",
            &target.context,
        ),
    };

    let waves = plan.objects.iter().map(|o| o.wave + 1).max().unwrap_or(0);
    // A's Secrets are read a wave ahead: those of wave w from the first write
    // of wave w - 1 (wave 0's beside its own writes), so a wave's Secrets are
    // usually there before its first write and the reads do not crowd its
    // start. Each is dropped when written, so about two waves' Secrets are
    // held at a time (and those of objects blocked by a failed dependency).
    let started_wave = tokio::sync::watch::Sender::new(0usize);
    let secrets_ready: Mutex<Vec<Option<std::time::Instant>>> = Mutex::new(vec![None; waves]);
    let ctx_ref = &ctx;
    let read_ahead = async {
        let mut started = started_wave.subscribe();
        for wave in 0..waves {
            let _ = started.wait_for(|w| *w + 1 >= wave).await;
            if !ctx_ref.stopped() {
                let due: Vec<&PlannedObject> = plan
                    .objects
                    .iter()
                    .filter(|o| o.wave == wave && o.secret_digest.is_some())
                    .filter(|o| !done.contains_key(&o.object_ref()))
                    .collect();
                prefetch_secrets(ctx_ref, &due).await;
            }
            secrets_ready.lock().expect("secret times")[wave] = Some(std::time::Instant::now());
            ctx_ref.secrets_read.send_replace(Some(wave));
        }
    };
    // Each object is written once everything it depends on is written and
    // usable (`schedule`), so waves overlap: a ConfigMap starts when its own
    // Namespace is Active, not when every Namespace is.
    let feed = WaveFeed {
        schedule: Schedule::new(schedule_nodes(plan, &done)),
        plan,
        gate: &ctx.gate,
        progress,
        started_wave: &started_wave,
        secrets_ready: &secrets_ready,
        clocks: WaveClock::per_wave(plan, waves),
        started,
    };
    let done = &done;
    let write = async {
        let finished = adaptive::run_fed(
            &ctx.gate,
            feed,
            |step| async move {
                let o = &plan.objects[step.index()];
                let result = match step {
                    Step::Resumed(_) => ObjectResult {
                        object: o.object_ref(),
                        wave: o.wave,
                        outcome: done[&o.object_ref()].outcome,
                        detail: None,
                        resumed: true,
                    },
                    Step::Blocked { by, .. } => ObjectResult {
                        object: o.object_ref(),
                        wave: o.wave,
                        outcome: Outcome::Blocked,
                        detail: Some(format!(
                            "depends on {}, which was not applied",
                            plan.objects[by].object_ref()
                        )),
                        resumed: false,
                    },
                    Step::Write(_) if ctx_ref.stopped() => not_attempted(o),
                    Step::Write(_) => {
                        let pressure = ctx_ref.target.pressure();
                        adaptive::timed(&ctx_ref.gate, pressure, 1, apply_one(ctx_ref, o)).await
                    }
                };
                // What depends on a Namespace or a CRD needs it usable, not
                // just stored.
                let usable_after = if matches!(step, Step::Write(_))
                    && !opts.dry_run
                    && matches!(result.outcome, Outcome::Created | Outcome::Updated)
                {
                    wait_until_usable(ctx_ref, &result.object).await
                } else {
                    std::time::Duration::ZERO
                };
                Finished {
                    index: step.index(),
                    result,
                    usable_after,
                }
            },
            |_| {},
        )
        .await;
        // Every wave began (or had nothing to write): no read waits any more.
        started_wave.send_replace(waves);
        finished
    };
    let ((), finished) = tokio::join!(read_ahead, write);
    let results: Vec<ObjectResult> = finished.into_iter().map(|f| f.result).collect();
    let writes = ctx.writes.load(std::sync::atomic::Ordering::Relaxed);
    let concurrency = ctx.gate.trace();
    let mut stopped = ctx
        .journal_error
        .lock()
        .expect("journal error")
        .take()
        .map(|e| e.to_string());
    drop(ctx);
    if let Some(j) = journal
        && let Err(e) = j.close().await
        && stopped.is_none()
    {
        // The last group of entries did not reach the disk: the objects are in
        // B, but a re-run will not know it. Say so instead of claiming success.
        stopped = Some(e.to_string());
    }

    let mut summary = ApplySummary {
        plan: plan.id.clone(),
        target: target.context.clone(),
        dry_run: opts.dry_run,
        writes,
        retries: target.retry_count() + source.retry_count(),
        seconds: started.elapsed().as_secs_f64(),
        stopped,
        concurrency,
        ..Default::default()
    };
    for r in &results {
        *summary.counts.entry(r.outcome).or_default() += 1;
        if r.resumed {
            summary.resumed += 1;
        }
        if matches!(
            r.outcome,
            Outcome::Failed
                | Outcome::Blocked
                | Outcome::Drifted
                | Outcome::Skipped
                | Outcome::Deferred
        ) {
            summary.problems.push(r.clone());
        }
    }
    summary
        .problems
        .sort_by(|a, b| (a.wave, &a.object).cmp(&(b.wave, &b.object)));
    Ok(summary)
}

/// One object's end: its result, and how long B took to make it usable.
struct Finished {
    index: usize,
    result: ObjectResult,
    usable_after: std::time::Duration,
}

/// The plan as the schedule sees it: waves, dependencies by index, Secrets
/// last in their wave, what the journal says is done.
fn schedule_nodes(plan: &Plan, done: &HashMap<ObjectRef, Entry>) -> Vec<Node> {
    let index: HashMap<ObjectKey, usize> = plan
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.object_ref().key(), i))
        .collect();
    plan.objects
        .iter()
        .map(|o| Node {
            wave: o.wave,
            deps: o
                .depends_on
                .iter()
                .filter_map(|d| index.get(&d.key()).copied())
                .collect(),
            last: o.secret_digest.is_some(),
            resumed: done.contains_key(&o.object_ref()),
        })
        .collect()
}

/// A wave's progress, for the bars and `-v`.
struct WaveClock {
    objects: usize,
    /// Objects written (not resumed, not blocked).
    written: usize,
    first: Option<std::time::Instant>,
    level_at_first: usize,
    longest_usable_wait: std::time::Duration,
}

impl WaveClock {
    fn per_wave(plan: &Plan, waves: usize) -> Vec<WaveClock> {
        let mut clocks: Vec<WaveClock> = (0..waves)
            .map(|_| WaveClock {
                objects: 0,
                written: 0,
                first: None,
                level_at_first: 0,
                longest_usable_wait: std::time::Duration::ZERO,
            })
            .collect();
        for o in &plan.objects {
            clocks[o.wave].objects += 1;
        }
        clocks
    }
}

/// Hands the writes the schedule's steps, and keeps each wave's clock.
struct WaveFeed<'a> {
    schedule: Schedule,
    plan: &'a Plan,
    gate: &'a Gate,
    progress: &'a dyn ApplyProgress,
    /// The highest wave begun, for the Secret reads a wave ahead.
    started_wave: &'a tokio::sync::watch::Sender<usize>,
    secrets_ready: &'a Mutex<Vec<Option<std::time::Instant>>>,
    clocks: Vec<WaveClock>,
    started: std::time::Instant,
}

impl adaptive::Feed<Step, Finished> for WaveFeed<'_> {
    fn next(&mut self) -> Option<Step> {
        let step = self.schedule.next_step()?;
        let wave = self.plan.objects[step.index()].wave;
        let clock = &mut self.clocks[wave];
        if clock.first.is_none() {
            clock.first = Some(std::time::Instant::now());
            clock.level_at_first = self.gate.limit();
            self.progress.wave(wave, clock.objects);
            self.started_wave.send_if_modified(|w| {
                let later = wave > *w;
                *w = (*w).max(wave);
                later
            });
        }
        if matches!(step, Step::Write(_)) {
            clock.written += 1;
        }
        Some(step)
    }

    fn finished(&mut self, f: &Finished) {
        let r = &f.result;
        let applied = r.resumed
            || !matches!(
                r.outcome,
                Outcome::Failed | Outcome::Drifted | Outcome::Blocked
            );
        self.schedule.finished(f.index, applied);
        self.progress.done(r);
        let clock = &mut self.clocks[r.wave];
        clock.longest_usable_wait = clock.longest_usable_wait.max(f.usable_after);
        if self.schedule.open_in(r.wave) > 0 {
            return;
        }
        let first = clock.first.unwrap_or(self.started);
        tracing::info!(
            wave = r.wave,
            objects = clock.written,
            started_ms = first.saturating_duration_since(self.started).as_millis() as u64,
            // 0: A's Secrets of the wave were read before its first write.
            secrets_ready_ms = self.secrets_ready.lock().expect("secret times")[r.wave]
                .map_or(0, |t| t.saturating_duration_since(first).as_millis() as u64),
            written_ms = first.elapsed().as_millis() as u64,
            ready_ms = clock.longest_usable_wait.as_millis() as u64,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            concurrency_at_start = clock.level_at_first,
            concurrency_at_end = self.gate.limit(),
            "wave applied"
        );
        self.progress.wave_finished(r.wave);
    }
}

/// What apply creates or updates stopped: every CronJob with
/// `--suspend-cronjobs`, the plan's `singleton-runs-twice` objects with
/// `--suspend-singletons`.
fn handed_over(plan: &Plan, opts: &ApplyOptions) -> HashSet<ObjectKey> {
    let mut keys = HashSet::new();
    if opts.suspend_cronjobs {
        keys.extend(
            plan.objects
                .iter()
                .filter(|o| o.kind == "CronJob" && split_api_version(&o.api_version).0 == "batch")
                .map(|o| o.object_ref().key()),
        );
    }
    if opts.suspend_singletons {
        keys.extend(
            plan.findings
                .iter()
                .filter(|f| f.rule == "singleton-runs-twice")
                .filter_map(|f| f.object.as_ref().map(ObjectRef::key)),
        );
    }
    keys
}

/// The result of an object a stopped run did not attempt.
fn not_attempted(o: &PlannedObject) -> ObjectResult {
    ObjectResult {
        object: o.object_ref(),
        wave: o.wave,
        outcome: Outcome::Blocked,
        detail: Some(
            "not attempted: the run stopped because its journal could not be written".into(),
        ),
        resumed: false,
    }
}

async fn apply_one(ctx: &Ctx<'_>, o: &PlannedObject) -> ObjectResult {
    let object = o.object_ref();
    let result = |outcome, detail: Option<String>| ObjectResult {
        object: object.clone(),
        wave: o.wave,
        outcome,
        detail,
        resumed: false,
    };
    let force = match o.action {
        Action::Unchanged => {
            ctx.record(&object, Outcome::Unchanged, None);
            return result(Outcome::Unchanged, None);
        }
        Action::Conflict => match ctx.opts.on_conflict {
            OnConflict::Fail => {
                return result(
                    Outcome::Failed,
                    Some(format!(
                        "exists in {} with different content and was not created by abshift; re-run with --on-conflict overwrite to replace it or --on-conflict skip to keep B's copy",
                        ctx.target.context
                    )),
                );
            }
            OnConflict::Skip => {
                return result(
                    Outcome::Skipped,
                    Some("kept B's copy (--on-conflict skip)".into()),
                );
            }
            OnConflict::Overwrite => true,
        },
        Action::Create | Action::Update => ctx.opts.on_conflict == OnConflict::Overwrite,
    };
    let body = match build_body(ctx, o).await {
        Ok(b) => b,
        Err((outcome, detail)) => return result(outcome, Some(detail)),
    };
    let (group, version) = split_api_version(&o.api_version);
    let rt = ResourceType {
        group: group.into(),
        version: version.into(),
        kind: o.kind.clone(),
        plural: o.resource.clone(),
        namespaced: o.namespaced,
        verbs: vec![],
    };
    let what = format!("applying {object}");
    let bytes = serde_json::to_vec(&body).expect("manifest serialises");
    drop(body);
    let collection = rt.collection_path(o.namespace.as_deref());
    let dry = if ctx.opts.dry_run { "&dryRun=All" } else { "" };
    // An object absent from B when the plan was made is created with a plain
    // POST: the API server does less work for it than for a server-side apply
    // (no merge, no apply-time ownership computation). Its fields are recorded
    // for manager `abshift` (operation Update). If it exists after all (a re-run
    // without journal, or someone created it since), server-side apply below
    // takes over as for any other object.
    if o.action == Action::Create && created_with_post(o) {
        let post = format!("{collection}?fieldManager={FIELD_MANAGER}{dry}");
        let resp =
            match send_write(ctx, Method::POST, &post, &bytes, "application/json", &what).await {
                Ok(r) => r,
                Err(e) => return result(Outcome::Failed, Some(e.to_string())),
            };
        if resp.status != http::StatusCode::CONFLICT {
            return finish(ctx, o, &object, resp, &what);
        }
    }
    // An update must also remove what A dropped: server-side apply removes
    // only fields its own Apply entry holds, so abshift's fields from a POST
    // (operation Update) are moved into that entry first.
    if o.action == Action::Update
        && !ctx.opts.dry_run
        && let Err(e) = take_over_own_fields(ctx, o, &rt).await
    {
        return result(Outcome::Failed, Some(e));
    }
    let mut path = format!(
        "{}?fieldManager={FIELD_MANAGER}{dry}",
        rt.object_path(o.namespace.as_deref(), &o.name)
    );
    if force {
        path.push_str("&force=true");
    }
    let apply = |path: String| {
        let (bytes, what) = (&bytes, &what);
        async move {
            send_write(
                ctx,
                Method::PATCH,
                &path,
                bytes,
                "application/apply-patch+yaml",
                what,
            )
            .await
        }
    };
    let mut resp = match apply(path.clone()).await {
        Ok(r) => r,
        Err(e) => return result(Outcome::Failed, Some(e.to_string())),
    };
    // Fields abshift itself wrote with a POST (an earlier run's create) are
    // owned by "abshift" with operation Update, which server-side apply treats
    // as another manager: taking them over is taking our own fields back.
    if resp.status == http::StatusCode::CONFLICT && !force && conflicts_only_with_ourselves(&resp) {
        resp = match apply(format!("{path}&force=true")).await {
            Ok(r) => r,
            Err(e) => return result(Outcome::Failed, Some(e.to_string())),
        };
    }
    match resp.status.as_u16() {
        409 if already_there(ctx, o, &rt).await => {
            ctx.record(&object, Outcome::Unchanged, None);
            result(
                Outcome::Unchanged,
                Some(
                    "B already holds this content (another manager owns some of its fields)".into(),
                ),
            )
        }
        409 => {
            let message = resp
                .json()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            let message = abshift_core::text::escape(&message);
            result(
                Outcome::Failed,
                Some(format!(
                    "{message}; B holds fields another manager set to other values: re-run with --on-conflict overwrite to take them over, or skip to keep B's copy"
                )),
            )
        }
        _ => finish(ctx, o, &object, resp, &what),
    }
}

/// Services stay with server-side apply: on Kubernetes 1.20, applying a
/// Service that was created by POST (a re-run without journal) is refused with
/// "nodePort: provided port is already allocated" (seen in the e2e estate).
fn created_with_post(o: &PlannedObject) -> bool {
    !(o.api_version == "v1" && o.kind == "Service")
}

/// One write to B, counted. A custom resource can be refused with 404 for a
/// moment after its CRD is Established, until the API server serves the new
/// group: poll briefly.
async fn send_write(
    ctx: &Ctx<'_>,
    method: Method,
    path: &str,
    bytes: &[u8],
    content_type: &str,
    what: &str,
) -> Result<crate::cluster::RawResponse, ClusterError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        ctx.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = ctx
            .target
            .send(
                method.clone(),
                path,
                Some(bytes.to_vec()),
                Some(content_type),
                what,
            )
            .await?;
        if r.status == http::StatusCode::NOT_FOUND
            && !ctx.opts.dry_run
            && std::time::Instant::now() < deadline
            && resource_not_served(&r)
        {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        return Ok(r);
    }
}

/// The outcome of a write B answered (POST or apply), but for apply conflicts.
fn finish(
    ctx: &Ctx<'_>,
    o: &PlannedObject,
    object: &ObjectRef,
    resp: crate::cluster::RawResponse,
    what: &str,
) -> ObjectResult {
    let result = |outcome, detail: Option<String>| ObjectResult {
        object: object.clone(),
        wave: o.wave,
        outcome,
        detail,
        resumed: false,
    };
    match resp.status.as_u16() {
        200 | 201 if ctx.opts.dry_run => result(Outcome::Accepted, None),
        200 | 201 => {
            // A Namespace is usually Active in the very answer to its POST.
            if let Some((_, ready)) = readiness(object)
                && resp.json().is_some_and(|v| ready(&v))
            {
                ctx.usable.lock().expect("usable set").insert(object.key());
            }
            let uid = uid_of(&resp.body);
            if let Some(uid) = &uid {
                ctx.uids.lock().expect("uid map").insert(object.key(), uid.clone());
            }
            let outcome = if resp.status.as_u16() == 201 { Outcome::Created } else { Outcome::Updated };
            ctx.record(object, outcome, uid);
            result(outcome, None)
        }
        404 if ctx.opts.dry_run && o.depends_on.iter().any(|d| ctx.created_by_plan.contains(&d.key())) => {
            result(Outcome::Deferred, Some("depends on objects this plan creates first (namespace, CRD); the server cannot check it before they exist".into()))
        }
        _ => {
            let mut detail = ctx.target.status_error(&resp, what).to_string();
            if let Some(rules) = conversion_note(o) {
                detail.push_str(&rules);
            }
            result(Outcome::Failed, Some(detail))
        }
    }
}

/// For a converted object B rejects: which rules made what B was sent, so the
/// one-line rejection names the object, B's field error and the rule.
fn conversion_note(o: &PlannedObject) -> Option<String> {
    if o.conversions.is_empty() {
        return None;
    }
    let from = o
        .read_as
        .as_deref()
        .map(|v| format!(" from A's {v}"))
        .unwrap_or_default();
    Some(format!(
        " (converted{from} by rule {}; see `abshift rules`)",
        o.conversions.join(", ")
    ))
}

/// `metadata.uid` of a written object, without building the whole document.
fn uid_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Meta {
        uid: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Obj {
        metadata: Meta,
    }
    serde_json::from_slice::<Obj>(body).ok()?.metadata.uid
}

/// A 409 from server-side apply whose every conflict is with fields "abshift"
/// wrote by POST/update ("conflict with \"abshift\" using v1"), none with
/// another manager's.
fn conflicts_only_with_ourselves(resp: &crate::cluster::RawResponse) -> bool {
    let ours = format!("conflict with \"{FIELD_MANAGER}\" using ");
    resp.json()
        .and_then(|v| {
            v.at(&["details", "causes"])
                .and_then(Value::as_array)
                .cloned()
        })
        .is_some_and(|causes| {
            !causes.is_empty()
                && causes.iter().all(|c| {
                    c.get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.starts_with(&ours))
                })
        })
}

/// A server-side-apply conflict on content B already holds is not a conflict
/// worth failing for: B's controllers take ownership of fields they rewrite
/// (a StatefulSet's claim templates, for one) without changing their values.
async fn already_there(ctx: &Ctx<'_>, o: &PlannedObject, rt: &ResourceType) -> bool {
    let path = rt.object_path(o.namespace.as_deref(), &o.name);
    let Ok(mut current) = ctx
        .target
        .get_json::<Value>(&path, "reading B's copy")
        .await
    else {
        return false;
    };
    let digest_matches = o
        .secret_digest
        .as_ref()
        .is_none_or(|d| &secret_digest(&current, &ctx.digest_key) == d);
    abshift_core::normalize::normalize(&rt.group_kind(), &mut current);
    digest_matches && abshift_core::diff::contains(&o.manifest, &current)
}

fn resource_not_served(resp: &crate::cluster::RawResponse) -> bool {
    // "the server could not find the requested resource" has no details.name;
    // a missing namespace or object names it.
    resp.json()
        .is_some_and(|v| v.at(&["details", "name"]).is_none())
}

/// Moves abshift's fields of operation Update (written by a POST) into its
/// Apply entry, guarded by B's resourceVersion, so the server-side apply that
/// follows removes what A no longer sets. Nothing to do when abshift holds no
/// such entry. Retries when B's copy changes in between.
async fn take_over_own_fields(
    ctx: &Ctx<'_>,
    o: &PlannedObject,
    rt: &ResourceType,
) -> Result<(), String> {
    let path = rt.object_path(o.namespace.as_deref(), &o.name);
    for _ in 0..5 {
        let current: Value = ctx
            .target
            .get_json(&path, &format!("reading B's copy of {}", o.object_ref()))
            .await
            .map_err(|e| e.to_string())?;
        let managed = current
            .at(&["metadata", "managedFields"])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(rewritten) = as_applied(&managed, &o.api_version) else {
            return Ok(());
        };
        let rv = current
            .at(&["metadata", "resourceVersion"])
            .cloned()
            .unwrap_or(Value::Null);
        let patch = json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "replace", "path": "/metadata/managedFields", "value": rewritten},
        ]);
        let bytes = serde_json::to_vec(&patch).expect("patch serialises");
        let what = format!("taking over abshift's fields of {}", o.object_ref());
        let resp = send_write(
            ctx,
            Method::PATCH,
            &path,
            &bytes,
            "application/json-patch+json",
            &what,
        )
        .await
        .map_err(|e| e.to_string())?;
        match resp.status.as_u16() {
            200 => return Ok(()),
            // The test op failed or the write raced: B's copy changed; read again.
            409 | 422 => continue,
            _ => return Err(ctx.target.status_error(&resp, &what).to_string()),
        }
    }
    Err(format!(
        "B's copy of {} kept changing while abshift took over its own fields; re-run apply",
        o.object_ref()
    ))
}

impl Ctx<'_> {
    /// Journals what B confirmed. The first journal error stops the run:
    /// no write starts after it (see `stopped`).
    fn record(&self, object: &ObjectRef, outcome: Outcome, uid: Option<String>) {
        if let Some(j) = self.journal.filter(|_| outcome.journaled())
            && let Err(e) = j.record(Entry {
                object: object.clone(),
                outcome,
                uid,
            })
        {
            self.journal_error
                .lock()
                .expect("journal error")
                .get_or_insert(e);
        }
    }

    /// True once the journal failed (now, or in its writer): stop writing.
    fn stopped(&self) -> bool {
        let mut slot = self.journal_error.lock().expect("journal error");
        if slot.is_none()
            && let Some(e) = self.journal.and_then(Journal::failed)
        {
            *slot = Some(e);
        }
        slot.is_some()
    }

    /// The UID in B of an owner: from this run, from the journal, or read from B.
    async fn owner_uid(&self, key: &ObjectKey) -> Result<String, String> {
        if let Some(uid) = self.uids.lock().expect("uid map").get(key) {
            return Ok(uid.clone());
        }
        let (api_version, plural, namespaced) = self
            .kinds
            .get(&key.gk)
            .cloned()
            .ok_or_else(|| format!("owner {key} is not in the plan and its kind is unknown"))?;
        let (group, version) = split_api_version(&api_version);
        let rt = ResourceType {
            group: group.into(),
            version: version.into(),
            kind: key.gk.kind.clone(),
            plural,
            namespaced,
            verbs: vec![],
        };
        let path = rt.object_path(key.namespace.as_deref(), &key.name);
        let v: Value = self
            .target
            .get_json(&path, &format!("reading owner {key}"))
            .await
            .map_err(|e| format!("owner {key} not found in B: {e}"))?;
        let uid = v
            .at(&["metadata", "uid"])
            .and_then(Value::as_str)
            .ok_or_else(|| format!("owner {key} in B has no uid"))?
            .to_string();
        self.uids
            .lock()
            .expect("uid map")
            .insert(key.clone(), uid.clone());
        Ok(uid)
    }
}

/// The object as sent to B: the plan's manifest, stamped as abshift's, owners
/// remapped to B's UIDs, and for Secrets the value read from A right now.
async fn build_body(ctx: &Ctx<'_>, o: &PlannedObject) -> Result<Value, (Outcome, String)> {
    let mut body = o.manifest.clone();
    let short_fp: String = ctx
        .plan
        .source
        .fingerprint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect();
    {
        let meta = body
            .as_object_mut()
            .and_then(|m| {
                m.entry("metadata")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
            })
            .ok_or((Outcome::Failed, "manifest has no metadata".to_string()))?;
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(l) = labels.as_object_mut() {
            l.insert(MIGRATED_FROM_LABEL.into(), Value::String(short_fp));
        }
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(PLAN_ANNOTATION.into(), Value::String(ctx.plan.id.clone()));
            // The set of fields sent, so a later plan sees what A dropped.
            let (group, _) = split_api_version(&o.api_version);
            a.insert(
                FIELDS_ANNOTATION.into(),
                Value::String(fieldset_digest(
                    &GroupKind::new(group, &o.kind),
                    &o.manifest,
                )),
            );
        }
    }
    if ctx.handed_over.contains(&o.object_ref().key()) {
        let (group, _) = split_api_version(&o.api_version);
        abshift_core::handover::suspend_manifest(&GroupKind::new(group, &o.kind), &mut body);
    }
    let owners: Vec<(usize, ObjectKey)> = body
        .at(&["metadata", "ownerReferences"])
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .enumerate()
                .filter(|(_, r)| r.get("uid").is_none())
                .filter_map(|(i, r)| {
                    let (g, _) = split_api_version(r.get("apiVersion")?.as_str()?);
                    let gk = GroupKind::new(g, r.get("kind")?.as_str()?);
                    let namespaced = ctx.kinds.get(&gk).map(|k| k.2).unwrap_or(true);
                    let ns = if namespaced {
                        o.namespace.as_deref()
                    } else {
                        None
                    };
                    Some((i, ObjectKey::new(gk, ns, r.get("name")?.as_str()?)))
                })
                .collect()
        })
        .unwrap_or_default();
    for (i, key) in owners {
        let uid = match ctx.owner_uid(&key).await {
            Ok(uid) => uid,
            Err(_) if ctx.opts.dry_run && ctx.created_by_plan.contains(&key) => {
                return Err((
                    Outcome::Deferred,
                    format!(
                        "its owner {key} is created earlier by this plan; the server cannot check it before"
                    ),
                ));
            }
            Err(e) => return Err((Outcome::Failed, e)),
        };
        if let Some(r) = body
            .pointer_mut(&format!("/metadata/ownerReferences/{i}"))
            .and_then(Value::as_object_mut)
        {
            r.insert("uid".into(), Value::String(uid));
        }
    }
    if let Some(planned_digest) = &o.secret_digest {
        let ns = o.namespace.as_deref().unwrap_or("");
        // A's Secrets of this wave are listed a wave ahead; wait for those lists.
        let _ = ctx
            .secrets_read
            .subscribe()
            .wait_for(|read| *read >= Some(o.wave))
            .await;
        let listed = ctx
            .live_secrets
            .lock()
            .expect("secret map")
            .remove(&(ns.to_string(), o.name.clone()));
        let live: Value = match listed {
            Some(v) => v,
            None => {
                let path = secrets_type().object_path(Some(ns), &o.name);
                ctx.source
                    .get_json(
                        &path,
                        &format!("reading Secret {ns}/{} from the source", o.name),
                    )
                    .await
                    .map_err(|e| {
                        (
                            Outcome::Failed,
                            format!("{e}; the Secret's value is read from A at apply time"),
                        )
                    })?
            }
        };
        let digest = secret_digest(&live, &ctx.digest_key);
        if &digest != planned_digest && !ctx.opts.allow_drift {
            return Err((Outcome::Drifted, "its value changed in A since the plan was made; re-plan, or re-run with --allow-drift to copy the current value".into()));
        }
        if let Some(map) = body.as_object_mut() {
            if let Some(data) = live.get("data") {
                map.insert("data".into(), data.clone());
            }
            if let Some(t) = live.get("type") {
                map.insert("type".into(), t.clone());
            }
        }
    }
    Ok(body)
}

/// Lists of A's Secrets in flight at once: as many as `migrate plan` starts
/// its lists with. They run beside B's writes, and on a machine or network A
/// shares with B, more at once only takes from those.
const SECRET_LISTS: usize = LimiterConfig::LISTS.initial;

/// Reads, from A, the Secrets a wave writes: one paged list per namespace
/// rather than a GET each. A failed list is not fatal: those Secrets are then
/// read one by one, with that read's own error if it fails too.
async fn prefetch_secrets(ctx: &Ctx<'_>, todo: &[&PlannedObject]) {
    let mut wanted: HashMap<String, HashSet<String>> = HashMap::new();
    for o in todo
        .iter()
        .filter(|o| o.secret_digest.is_some() && o.action != Action::Unchanged)
    {
        wanted
            .entry(o.namespace.clone().unwrap_or_default())
            .or_default()
            .insert(o.name.clone());
    }
    let secrets = secrets_type();
    // Only worth a list when several Secrets of the namespace are due.
    let lists = wanted
        .into_iter()
        .filter(|(_, names)| names.len() >= 2)
        .map(|(ns, names)| {
            let secrets = &secrets;
            async move {
                // Only what is copied and digested (type and data) is kept
                // until the Secret's write: not the rest of A's metadata.
                let keep = |mut v: Value| {
                    let name = abshift_core::model::str_at(&v, &["metadata", "name"])?.to_string();
                    if !names.contains(&name) {
                        return None;
                    }
                    let map = v.as_object_mut()?;
                    let value: serde_json::Map<String, Value> = ["type", "data"]
                        .into_iter()
                        .filter_map(|k| map.remove_entry(k))
                        .collect();
                    Some(((ns.clone(), name), Value::Object(value)))
                };
                ctx.source
                    .list(secrets, Some(&ns), None, 500, keep)
                    .await
                    .unwrap_or_default()
            }
        });
    let map: Vec<((String, String), Value)> = futures::stream::iter(lists)
        .buffer_unordered(SECRET_LISTS)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    ctx.live_secrets.lock().expect("secret map").extend(map);
}

/// Where core Secrets live, for reads of A's values.
fn secrets_type() -> ResourceType {
    ResourceType {
        group: String::new(),
        version: "v1".into(),
        kind: "Secret".into(),
        plural: "secrets".into(),
        namespaced: true,
        verbs: vec![],
    }
}

/// What depends on `object` needs it usable, not just stored: CRDs must be
/// Established (else their custom resources are refused), Namespaces Active.
/// Waits with a deadline, a GET every 100 ms, unless B's answer to the write
/// already said so; a timeout is left to the dependents' writes to report,
/// with the server's own words. Returns how long it waited.
async fn wait_until_usable(ctx: &Ctx<'_>, object: &ObjectRef) -> std::time::Duration {
    let Some((path, check)) = readiness(object) else {
        return std::time::Duration::ZERO;
    };
    if ctx.usable.lock().expect("usable set").remove(&object.key()) {
        return std::time::Duration::ZERO;
    }
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(60);
    loop {
        let ok = ctx
            .target
            .get_json::<Value>(&path, "waiting for readiness")
            .await
            .map(|v| check(&v))
            .unwrap_or(false);
        if ok || std::time::Instant::now() > deadline {
            return started.elapsed();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Where to read an object that later waves need usable, and whether a
/// read copy of it is.
type Readiness = (String, fn(&Value) -> bool);

/// Kinds later waves need usable, not just stored: CRDs must be
/// Established, Namespaces Active.
fn readiness(object: &ObjectRef) -> Option<Readiness> {
    let (group, _) = split_api_version(&object.api_version);
    match (group, object.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some((
            format!(
                "/apis/{}/customresourcedefinitions/{}",
                object.api_version,
                path_segment(&object.name)
            ),
            |v| {
                v.at(&["status", "conditions"])
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Established" && c["status"] == "True")
                    })
            },
        )),
        ("", "Namespace") => Some((
            format!("/api/v1/namespaces/{}", path_segment(&object.name)),
            |v| v.at(&["status", "phase"]).and_then(Value::as_str) == Some("Active"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::RawResponse;

    fn answer(status: u16, body: Value) -> RawResponse {
        RawResponse {
            status: http::StatusCode::from_u16(status).unwrap(),
            body: serde_json::to_vec(&body).unwrap().into(),
        }
    }

    fn conflict(managers: &[&str]) -> RawResponse {
        let causes: Vec<Value> = managers
            .iter()
            .map(|m| json!({"reason": "FieldManagerConflict", "message": m, "field": ".data.a"}))
            .collect();
        answer(
            409,
            json!({"kind": "Status", "code": 409, "reason": "Conflict", "details": {"causes": causes}}),
        )
    }

    #[test]
    fn only_conflicts_with_our_own_post_are_taken_back() {
        // As B's API server words them (Kubernetes 1.20): an Update-operation
        // manager is named with its API version.
        assert!(conflicts_only_with_ourselves(&conflict(&[
            "conflict with \"abshift\" using v1"
        ])));
        assert!(!conflicts_only_with_ourselves(&conflict(&[
            "conflict with \"abshift\" using v1",
            "conflict with \"kubectl\" using v1",
        ])));
        assert!(!conflicts_only_with_ourselves(&conflict(&[
            "conflict with \"abshift-other\" using v1"
        ])));
        assert!(!conflicts_only_with_ourselves(&conflict(&[])));
        assert!(!conflicts_only_with_ourselves(&answer(
            409,
            json!({"reason": "AlreadyExists"})
        )));
    }

    #[test]
    fn uid_is_read_from_the_written_object() {
        let body = serde_json::to_vec(
            &json!({"kind": "ConfigMap", "metadata": {"name": "x", "uid": "u-1", "managedFields": [{}]}, "data": {"a": "b"}}),
        )
        .unwrap();
        assert_eq!(uid_of(&body).as_deref(), Some("u-1"));
        assert_eq!(uid_of(b"{\"metadata\":{}}"), None);
        assert_eq!(uid_of(b"not json"), None);
    }
}
