//! The replication engine, written once over `KvStore`: reconcile B's prefix to equal A's,
//! then apply A's change feed in batches, checkpointing what B is known to reflect.
//! Deletions in B come only from A's own delete events or a complete, trusted read of A.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::store::{ChangeFeed, FeedItem, KvStore, Op, Scope, Snapshot, StoreError, show_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Once,
    Follow,
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub scope: Scope,
    pub mode: Mode,
    pub checkpoint_path: Option<PathBuf>,
    /// Identity of this sync, stored in and checked against the checkpoint.
    pub checkpoint: Checkpoint,
    pub dry_run: bool,
    /// Accept an empty prefix in A (and so empty B's prefix) instead of refusing.
    pub allow_empty: bool,
    pub progress_every: Duration,
    pub checkpoint_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "prefix {prefix:?} matches nothing in A ({url}); nothing was changed in B. A store with ACLs hides the keys a token may not read (Consul answers as if they did not exist): check A's token; pass --allow-empty only if A really is empty"
    )]
    EmptySource { prefix: String, url: String },
    #[error("the read of A ({url}) cannot be trusted ({reason}); nothing was changed in B")]
    SuspectRead { url: String, reason: String },
}

impl SyncError {
    fn is_transient(&self) -> bool {
        match self {
            SyncError::Store(e) => e.is_transient(),
            SyncError::SuspectRead { .. } => true,
            _ => false,
        }
    }
}

/// One line of a dry run: `+` put, `-` delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    pub kind: char,
    pub key: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub puts: u64,
    pub deletes: u64,
    pub index: u64,
    pub recopies: u32,
    pub stopped: bool,
    pub initial_copy_complete: bool,
    pub planned: Vec<PlannedChange>,
    pub skipped: usize,
}

pub struct Engine<S: KvStore> {
    src: S,
    dst: S,
    opts: EngineOptions,
    stop: watch::Receiver<bool>,
    progress: Progress,
    report: Report,
}

impl<S: KvStore> Engine<S> {
    pub fn new(src: S, dst: S, opts: EngineOptions, stop: watch::Receiver<bool>) -> Self {
        let progress = Progress::new(opts.progress_every);
        Engine {
            src,
            dst,
            opts,
            stop,
            progress,
            report: Report::default(),
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    pub async fn run(mut self) -> Result<Report, SyncError> {
        let resume = match &self.opts.checkpoint_path {
            Some(path) => Checkpoint::load(path, &self.opts.checkpoint)?,
            None => None,
        };
        let mut index = match (&resume, self.opts.mode, self.opts.dry_run) {
            (Some(cp), Mode::Follow, false) => {
                self.progress.say(&format!(
                    "resuming from checkpoint at index {} (no full copy)",
                    cp.index
                ));
                self.report.initial_copy_complete = true;
                cp.index
            }
            _ => match self.reconcile().await? {
                Some(idx) if !self.opts.dry_run => {
                    self.report.initial_copy_complete = true;
                    idx
                }
                _ => {
                    self.report.stopped = self.stopping();
                    self.progress.finish();
                    return Ok(self.report);
                }
            },
        };
        self.report.index = index;
        self.save_checkpoint(index)?;
        if self.opts.mode == Mode::Follow && !self.stopping() {
            index = self.follow(index).await?;
            self.report.index = index;
            self.save_checkpoint(index)?;
        }
        self.report.stopped = self.stopping();
        self.progress.finish();
        Ok(self.report)
    }

    fn save_checkpoint(&mut self, index: u64) -> Result<(), SyncError> {
        if let Some(path) = &self.opts.checkpoint_path
            && !self.opts.dry_run
            && index > 0
        {
            self.opts.checkpoint.save(path, index)?;
        }
        Ok(())
    }

    /// Reads A completely, then B, then writes the difference. Returns A's index, or
    /// None when a stop request cut the writing short (B is then only partly updated).
    async fn reconcile(&mut self) -> Result<Option<u64>, SyncError> {
        self.progress.phase("reading A");
        // Reading a large store takes a while: a stop request ends it (nothing written yet).
        let mut stop = self.stop.clone();
        let snap = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(None),
            snap = self.src.snapshot(&self.opts.scope.prefix) => snap?,
        };
        let url = self.src.url().to_string();
        let Snapshot {
            entries,
            index,
            suspect,
            skipped,
        } = snap;
        if let Some(reason) = suspect {
            return Err(SyncError::SuspectRead { url, reason });
        }
        self.warn_skipped(&skipped);
        let scope = self.opts.scope.clone();
        let mut source: Vec<_> = entries
            .into_iter()
            .filter_map(|e| {
                let rel = scope.source_rel(&e.key)?.to_vec();
                Some((rel, e))
            })
            .collect();
        if source.is_empty() && !self.opts.allow_empty {
            return Err(SyncError::EmptySource {
                prefix: show_key(&scope.prefix),
                url,
            });
        }
        self.progress.phase("reading B");
        let dsnap = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(None),
            snap = self.dst.snapshot(&scope.dest_prefix) => snap?,
        };
        // B's own ephemeral keys are B's business: never delete them.
        let protected: HashSet<Vec<u8>> = dsnap
            .skipped
            .iter()
            .filter_map(|k| scope.dest_rel(k).map(<[u8]>::to_vec))
            .collect();
        let mut dest: HashMap<Vec<u8>, [u8; 32]> = dsnap
            .entries
            .into_iter()
            .filter_map(|e| Some((scope.dest_rel(&e.key)?.to_vec(), e.digest())))
            .collect();
        source.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ops = Vec::new();
        for (rel, e) in source {
            let same = dest.remove(&rel).is_some_and(|d| d == e.digest());
            if !same {
                let key = scope.to_dest(&rel);
                ops.push(Op::Put(super::store::Entry { key, ..e }));
            }
        }
        let mut gone: Vec<_> = dest
            .into_keys()
            .filter(|rel| !protected.contains(rel))
            .collect();
        gone.sort();
        ops.extend(gone.into_iter().map(|rel| Op::Delete(scope.to_dest(&rel))));
        if self.opts.dry_run {
            self.report.planned = ops
                .iter()
                .map(|op| PlannedChange {
                    kind: if matches!(op, Op::Put(_)) { '+' } else { '-' },
                    key: op.key().to_vec(),
                })
                .collect();
            self.report.index = index;
            return Ok(Some(index));
        }
        self.progress.phase("copying");
        self.progress.head = index;
        if !self.apply_all(ops, false).await? {
            return Ok(None);
        }
        self.progress.applied = index;
        self.progress.tick(true);
        Ok(Some(index))
    }

    fn warn_skipped(&mut self, skipped: &[Vec<u8>]) {
        if skipped.is_empty() {
            return;
        }
        self.report.skipped = skipped.len();
        let shown: Vec<_> = skipped.iter().take(5).map(|k| show_key(k)).collect();
        tracing::warn!(
            "skipping {} ephemeral key(s) held by a session or lease in A (they cannot exist in B): {}{}",
            skipped.len(),
            shown.join(", "),
            if skipped.len() > 5 { ", …" } else { "" }
        );
    }

    /// Writes `ops` in transactions on distinct keys. Returns false when a stop request
    /// left some of them unwritten. `retry` keeps retrying transient failures (follow mode).
    async fn apply_all(&mut self, ops: Vec<Op>, retry: bool) -> Result<bool, SyncError> {
        let ops = last_write_wins(ops);
        let chunks = chunk(ops, self.dst.max_txn_ops(), self.dst.max_txn_bytes());
        let mut backoff = Backoff::new();
        let mut pending = chunks;
        while !pending.is_empty() {
            let dst = &self.dst;
            let stop = self.stop.clone();
            let mut results = futures::stream::iter(pending.into_iter().map(|c| {
                let stop = stop.clone();
                async move {
                    if *stop.borrow() {
                        return (c, Ok(false));
                    }
                    let r = dst.apply(&c).await.map(|_| true);
                    (c, r)
                }
            }))
            .buffer_unordered(self.dst.write_parallelism());
            let mut failed = Vec::new();
            let mut first_err = None;
            while let Some((c, r)) = results.next().await {
                match r {
                    Ok(true) => {
                        for op in &c {
                            match op {
                                Op::Put(_) => self.report.puts += 1,
                                Op::Delete(_) => self.report.deletes += 1,
                            }
                        }
                        self.progress.puts = self.report.puts;
                        self.progress.deletes = self.report.deletes;
                        self.progress.tick(false);
                    }
                    Ok(false) => self.report.stopped = true,
                    Err(e) => {
                        failed.push(c);
                        first_err.get_or_insert(e);
                    }
                }
            }
            drop(results);
            match first_err {
                None => pending = Vec::new(),
                Some(e) if retry && e.is_transient() && !self.stopping() => {
                    tracing::warn!("writing to B failed, retrying: {e}");
                    if !backoff.wait(&mut self.stop).await {
                        self.report.stopped = true;
                        return Ok(false);
                    }
                    pending = failed;
                }
                Some(e) => return Err(e.into()),
            }
        }
        Ok(!self.report.stopped)
    }

    async fn open_feed(&mut self, after: u64) -> Result<S::Feed, SyncError> {
        let known = if self.src.feed_needs_known_keys() {
            let scope = &self.opts.scope;
            let d = self.dst.snapshot(&scope.dest_prefix).await?;
            Some(
                d.entries
                    .iter()
                    .filter_map(|e| scope.dest_rel(&e.key).map(|r| scope.to_source(r)))
                    .collect(),
            )
        } else {
            None
        };
        Ok(self
            .src
            .follow(&self.opts.scope.prefix, after, known, self.opts.allow_empty)
            .await?)
    }

    /// Streams A's changes into B until stopped. Returns the last index B reflects.
    ///
    /// Batches are pipelined: up to `PIPELINE` are written at once, but a batch that
    /// touches a key of one still in flight waits for it, so every key sees A's order.
    /// The feed runs in its own task behind a small channel: memory stays bounded and a
    /// completed write never interrupts a blocking query.
    async fn follow(&mut self, mut applied: u64) -> Result<u64, SyncError> {
        self.progress.phase("following");
        self.progress.applied = applied;
        let mut backoff = Backoff::new();
        let mut feed: Option<FeedPump> = None;
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let mut last_save = Instant::now();
        let mut last_suspect_warn: Option<Instant> = None;
        while !self.stopping() {
            if feed.is_none() {
                // Reopen only with nothing in flight: the feed restarts from `applied`.
                if !self.drain(&mut inflight, &mut applied).await? {
                    break;
                }
                match self.open_feed(applied).await {
                    Ok(f) => {
                        backoff.reset();
                        feed = Some(FeedPump::start(f));
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!("cannot follow A yet, retrying: {e}");
                        if !backoff.wait(&mut self.stop).await {
                            break;
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let rx = &mut feed.as_mut().expect("feed opened above").rx;
            let mut stop = self.stop.clone();
            let event = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                done = async { (&mut inflight.front_mut().expect("non-empty").handle).await },
                    if !inflight.is_empty() => Event::Done(done),
                item = rx.recv() => Event::Item(item),
            };
            match event {
                Event::Done(done) => {
                    if !self.finish_front(&mut inflight, done, &mut applied).await? {
                        break;
                    }
                }
                Event::Item(Some(Ok(FeedItem::Changes { ops, index, head }))) => {
                    let scope = &self.opts.scope;
                    let ops =
                        last_write_wins(ops.into_iter().filter_map(|o| scope.map_op(o)).collect());
                    self.progress.head = head.max(index);
                    let keys: HashSet<Vec<u8>> = ops.iter().map(|o| o.key().to_vec()).collect();
                    while inflight.len() >= PIPELINE
                        || inflight.iter().any(|f| !f.keys.is_disjoint(&keys))
                    {
                        let f = inflight.front_mut().expect("non-empty");
                        let done = (&mut f.handle).await;
                        if !self.finish_front(&mut inflight, done, &mut applied).await? {
                            return Ok(applied);
                        }
                    }
                    inflight.push_back(InFlight::spawn(&self.dst, ops, keys, index));
                    backoff.reset();
                }
                Event::Item(Some(Ok(FeedItem::Progress { index, head }))) => {
                    self.progress.head = head.max(index);
                    if inflight.is_empty() {
                        applied = applied.max(index);
                        self.progress.applied = applied;
                    } else {
                        inflight.push_back(InFlight::spawn(
                            &self.dst,
                            Vec::new(),
                            HashSet::new(),
                            index,
                        ));
                    }
                    backoff.reset();
                }
                Event::Item(Some(Ok(FeedItem::Reset(reason)))) => {
                    feed = None;
                    if !self.drain(&mut inflight, &mut applied).await? {
                        break;
                    }
                    self.progress.say(&format!(
                        "A cannot continue the change stream ({reason}): doing a full re-copy"
                    ));
                    self.report.recopies += 1;
                    loop {
                        match self.reconcile().await {
                            Ok(Some(idx)) => {
                                applied = idx;
                                break;
                            }
                            // Stopped mid-copy: the old index stays, so a restart re-copies.
                            Ok(None) => return Ok(applied),
                            Err(e) if e.is_transient() && !self.stopping() => {
                                tracing::warn!("re-copy failed, retrying: {e}");
                                if !backoff.wait(&mut self.stop).await {
                                    return Ok(applied);
                                }
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    if self.stopping() {
                        return Ok(applied);
                    }
                    self.progress.phase("following");
                }
                Event::Item(Some(Ok(FeedItem::Suspect(reason)))) => {
                    if last_suspect_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                        tracing::warn!(
                            "A's answer looks wrong ({reason}); holding changes until it recovers"
                        );
                        last_suspect_warn = Some(Instant::now());
                    }
                }
                Event::Item(Some(Err(e))) if e.is_transient() => {
                    tracing::warn!("lost the change stream from A, reconnecting: {e}");
                    feed = None;
                    if !backoff.wait(&mut self.stop).await {
                        break;
                    }
                }
                Event::Item(Some(Err(e))) => return Err(e.into()),
                Event::Item(None) => {
                    tracing::warn!("the change stream from A ended, reconnecting");
                    feed = None;
                }
            }
            self.progress.tick(false);
            if last_save.elapsed() >= self.opts.checkpoint_every {
                self.save_checkpoint(applied)?;
                last_save = Instant::now();
            }
        }
        // Stop after the current batches: let what is in flight land.
        self.drain(&mut inflight, &mut applied).await?;
        Ok(applied)
    }

    /// Waits for every batch in flight. False when a stop cut a retry short.
    async fn drain(
        &mut self,
        inflight: &mut VecDeque<InFlight>,
        applied: &mut u64,
    ) -> Result<bool, SyncError> {
        while let Some(f) = inflight.front_mut() {
            let done = (&mut f.handle).await;
            if !self.finish_front(inflight, done, applied).await? {
                // Later batches may land or not: the checkpoint stays before them.
                for f in inflight.drain(..) {
                    let _ = f.handle.await;
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Accounts for the oldest batch in flight, retrying it in place if B blinked.
    /// False when a stop interrupted the retry (then `applied` does not move).
    async fn finish_front(
        &mut self,
        inflight: &mut VecDeque<InFlight>,
        done: Result<Result<(), StoreError>, tokio::task::JoinError>,
        applied: &mut u64,
    ) -> Result<bool, SyncError> {
        let f = inflight.pop_front().expect("non-empty");
        match done {
            Ok(Ok(())) => {
                for op in &f.ops {
                    match op {
                        Op::Put(_) => self.report.puts += 1,
                        Op::Delete(_) => self.report.deletes += 1,
                    }
                }
                self.progress.puts = self.report.puts;
                self.progress.deletes = self.report.deletes;
            }
            // Later batches in flight touch other keys, so retrying this one now keeps order.
            Ok(Err(e)) if e.is_transient() => {
                tracing::warn!("writing to B failed, retrying: {e}");
                if !self.apply_all(f.ops, true).await? {
                    return Ok(false);
                }
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(join) => {
                return Err(SyncError::Store(StoreError::Protocol {
                    url: self.dst.url().to_string(),
                    reason: format!("write task failed: {join}"),
                }));
            }
        }
        *applied = (*applied).max(f.index);
        self.progress.applied = *applied;
        self.progress.last_latency = f.started.elapsed();
        Ok(true)
    }
}

/// Batches written at once while following.
const PIPELINE: usize = 4;

enum Event {
    Done(Result<Result<(), StoreError>, tokio::task::JoinError>),
    Item(Option<Result<FeedItem, StoreError>>),
}

/// One batch being written to B, and what it covers.
struct InFlight {
    handle: tokio::task::JoinHandle<Result<(), StoreError>>,
    ops: Vec<Op>,
    keys: HashSet<Vec<u8>>,
    index: u64,
    started: Instant,
}

impl InFlight {
    fn spawn<S: KvStore>(dst: &S, ops: Vec<Op>, keys: HashSet<Vec<u8>>, index: u64) -> InFlight {
        let chunks = chunk(ops.clone(), dst.max_txn_ops(), dst.max_txn_bytes());
        let parallel = dst.write_parallelism();
        let dst = dst.clone();
        let handle = tokio::spawn(async move {
            futures::stream::iter(chunks)
                .map(|c| {
                    let dst = dst.clone();
                    async move { dst.apply(&c).await }
                })
                .buffer_unordered(parallel)
                .try_collect::<Vec<()>>()
                .await
                .map(|_| ())
        });
        InFlight {
            handle,
            ops,
            keys,
            index,
            started: Instant::now(),
        }
    }
}

/// Runs a change feed in its own task; stops it when dropped.
struct FeedPump {
    rx: tokio::sync::mpsc::Receiver<Result<FeedItem, StoreError>>,
    task: tokio::task::JoinHandle<()>,
}

impl FeedPump {
    fn start<F: ChangeFeed>(mut feed: F) -> FeedPump {
        // Two items of look-ahead: enough to keep B busy, small enough to bound memory.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let task = tokio::spawn(async move {
            loop {
                let item = feed.next().await;
                let end = item.is_err();
                if tx.send(item).await.is_err() || end {
                    break;
                }
            }
        });
        FeedPump { rx, task }
    }
}

impl Drop for FeedPump {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Within one batch only the last operation on a key matters, and etcd rejects a
/// transaction that touches a key twice.
fn last_write_wins(ops: Vec<Op>) -> Vec<Op> {
    let mut seen = HashSet::with_capacity(ops.len());
    let mut out: Vec<Op> = ops
        .into_iter()
        .rev()
        .filter(|op| seen.insert(op.key().to_vec()))
        .collect();
    out.reverse();
    out
}

fn chunk(ops: Vec<Op>, max_ops: usize, max_bytes: usize) -> Vec<Vec<Op>> {
    let mut chunks = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0;
    for op in ops {
        let size = op.size();
        if !cur.is_empty() && (cur.len() >= max_ops || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += size;
        cur.push(op);
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            next: Duration::from_millis(200),
        }
    }
    fn reset(&mut self) {
        self.next = Duration::from_millis(200);
    }
    /// Sleeps, or returns false as soon as a stop is requested.
    async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let d = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(15));
        tokio::select! {
            _ = stop.wait_for(|s| *s) => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// A spinner on a terminal, otherwise one line every `every`; silent under `--quiet`.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    enabled: bool,
    every: Duration,
    last_line: Instant,
    last_count: u64,
    phase: &'static str,
    puts: u64,
    deletes: u64,
    applied: u64,
    head: u64,
    last_latency: Duration,
}

impl Progress {
    fn new(every: Duration) -> Self {
        // `-q` lowers this crate's level to ERROR: progress goes quiet with the warnings.
        let enabled = tracing::enabled!(tracing::Level::WARN);
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            enabled,
            every,
            last_line: Instant::now(),
            last_count: 0,
            phase: "starting",
            puts: 0,
            deletes: 0,
            applied: 0,
            head: 0,
            last_latency: Duration::ZERO,
        }
    }

    fn phase(&mut self, phase: &'static str) {
        self.phase = phase;
        self.tick(true);
    }

    fn say(&self, msg: &str) {
        if !self.enabled {
            return;
        }
        match &self.bar {
            Some(b) => b.println(format!("sync: {msg}")),
            None => eprintln!("sync: {msg}"),
        }
    }

    fn line(&self) -> String {
        let elapsed = self.last_line.elapsed().as_secs_f64().max(0.001);
        let count = self.puts + self.deletes;
        let rate = (count - self.last_count.min(count)) as f64 / elapsed;
        format!(
            "{}: {} keys written, {} deleted, index {} (lag {} behind A, last batch {} ms), {:.0} keys/s",
            self.phase,
            self.puts,
            self.deletes,
            self.applied,
            self.head.saturating_sub(self.applied),
            self.last_latency.as_millis(),
            rate
        )
    }

    fn tick(&mut self, force: bool) {
        if !self.enabled {
            return;
        }
        if let Some(b) = &self.bar {
            if force || self.last_line.elapsed() >= Duration::from_millis(200) {
                let l = self.line();
                b.set_message(l);
                self.last_count = self.puts + self.deletes;
                self.last_line = Instant::now();
            }
        } else if self.last_line.elapsed() >= self.every {
            eprintln!("sync: {}", self.line());
            self.last_count = self.puts + self.deletes;
            self.last_line = Instant::now();
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// What `sync verify` found. Keys only; values are compared by digest.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub equal: usize,
    pub only_in_a: Vec<Vec<u8>>,
    pub only_in_b: Vec<Vec<u8>>,
    pub differ: Vec<Vec<u8>>,
    /// Digest over every (key, value digest) pair of A's scope, to quote as proof.
    pub digest: String,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.only_in_a.is_empty() && self.only_in_b.is_empty() && self.differ.is_empty()
    }
}

pub async fn verify<S: KvStore>(
    src: &S,
    dst: &S,
    scope: &Scope,
) -> Result<VerifyReport, SyncError> {
    use sha2::{Digest, Sha256};
    let (a, b) = tokio::try_join!(
        src.snapshot(&scope.prefix),
        dst.snapshot(&scope.dest_prefix)
    )?;
    if let Some(reason) = a.suspect {
        return Err(SyncError::SuspectRead {
            url: src.url().to_string(),
            reason,
        });
    }
    let mut a: Vec<(Vec<u8>, [u8; 32])> = a
        .entries
        .iter()
        .filter_map(|e| Some((scope.source_rel(&e.key)?.to_vec(), e.digest())))
        .collect();
    let mut b: HashMap<Vec<u8>, [u8; 32]> = b
        .entries
        .iter()
        .filter_map(|e| Some((scope.dest_rel(&e.key)?.to_vec(), e.digest())))
        .collect();
    if a.is_empty() && b.is_empty() {
        return Err(SyncError::EmptySource {
            prefix: show_key(&scope.prefix),
            url: src.url().to_string(),
        });
    }
    a.sort();
    let mut report = VerifyReport::default();
    let mut h = Sha256::new();
    for (rel, d) in a {
        h.update((rel.len() as u64).to_be_bytes());
        h.update(&rel);
        h.update(d);
        match b.remove(&rel) {
            None => report.only_in_a.push(scope.to_source(&rel)),
            Some(db) if db != d => report.differ.push(scope.to_source(&rel)),
            Some(_) => report.equal += 1,
        }
    }
    report.only_in_b = b.into_keys().map(|r| scope.to_dest(&r)).collect();
    report.only_in_b.sort();
    report.digest = hex::encode(h.finalize());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Entry;

    fn put(k: &str) -> Op {
        Op::Put(Entry {
            key: k.as_bytes().to_vec(),
            value: vec![1],
            flags: 0,
        })
    }

    #[test]
    fn last_write_wins_keeps_final_op_per_key() {
        let ops = vec![put("a"), Op::Delete(b"a".to_vec()), put("b"), put("a")];
        let out = last_write_wins(ops);
        assert_eq!(out, vec![put("b"), put("a")]);
    }

    #[test]
    fn chunks_respect_ops_and_bytes() {
        let ops: Vec<_> = (0..130).map(|i| put(&format!("k{i}"))).collect();
        let c = chunk(ops, 64, usize::MAX);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![64, 64, 2]);
        let ops: Vec<_> = (0..4).map(|i| put(&format!("k{i}"))).collect();
        assert_eq!(chunk(ops, 64, 70).len(), 2);
    }
}
