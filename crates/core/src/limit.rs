//! How many requests to keep in flight against an API server abshift knows
//! nothing about, and how large a list page to ask for. Pure state machines:
//! the caller reports each finished request and the clock, these answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the server said about one finished request, as far as load goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Served (whatever the status: a 409 or a 422 says nothing about load).
    Served,
    /// A 429: API Priority and Fairness or the in-flight limit turned a request
    /// away (that request itself waits the server's `Retry-After`).
    Throttled,
    /// A 5xx, a timeout or a dropped connection: the server is struggling.
    Overloaded,
}

/// The limiter's tuning. The defaults are the product's; tests shrink the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// Where to start: well below the server's own in-flight limits, high
    /// enough that a small run is not slower than the old fixed default (16).
    pub initial: usize,
    /// Never fewer: a server answering 429 to one request in five (as the
    /// fault tests make it) still gets work done while each throttled request
    /// waits its `Retry-After`.
    pub min: usize,
    /// Never more in flight than this: a ceiling below kube-apiserver's own
    /// in-flight limits (`--max-mutating-requests-inflight` defaults to 200).
    pub max: usize,
    /// A measurement lasts at least this long (and at least two rounds of the
    /// current level), so one slow request does not steer the level.
    pub window: Duration,
    /// Doubling the level must raise throughput by this fraction to continue
    /// the first, fast search; below it the level settles.
    pub doubling_gain: f64,
    /// A probe of one step up is kept only if throughput rises by this
    /// fraction; one step down only if it loses less than this fraction of
    /// the rate where the steps down began.
    pub probe_gain: f64,
    /// Throughput this far below the held level's, with latency doubled, in
    /// `LOW_STREAK` measurements in a row (and no 429 or 5xx): the server got
    /// slower, and the level steps down by `backoff`.
    pub fall: f64,
    /// Measurements between probes once settled.
    pub probe_every: u32,
    /// The level after a 429 or 5xx is this fraction of the one before.
    pub backoff: f64,
}

impl LimiterConfig {
    /// Writes in `migrate apply`.
    pub const WRITES: LimiterConfig = LimiterConfig {
        initial: 32,
        min: 4,
        max: 128,
        window: Duration::from_millis(300),
        doubling_gain: 0.05,
        probe_gain: 0.02,
        fall: 0.25,
        probe_every: 4,
        backoff: 0.7,
    };
    /// Lists in flight per cluster in `migrate plan` and `migrate verify`.
    pub const LISTS: LimiterConfig = LimiterConfig {
        initial: 8,
        max: 32,
        ..LimiterConfig::WRITES
    };
}

/// Why the level changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Doubling still paid: the fast search goes on.
    ThroughputRose,
    /// Doubling no longer paid: settled between the last two levels.
    Settled,
    /// A probe one step up paid and is kept.
    ProbeKept,
    /// A probe one step up (from the held level).
    Probe,
    /// A probe one step down (from the held level).
    ProbeDown,
    /// A probe one step down kept the rate: kept, with fewer in flight.
    ProbeDownKept,
    /// The probe did not pay: back to the held level.
    ProbeReverted,
    /// Throughput fell at the same level: the server got slower.
    ThroughputFell,
    /// B answered 429 (API Priority and Fairness or its in-flight limit).
    Throttled,
    /// B answered 5xx, timed out or dropped connections.
    Overloaded,
}

impl Reason {
    pub fn describe(&self) -> &'static str {
        match self {
            Reason::ThroughputRose => "throughput rose with the level",
            Reason::Settled => "doubling no longer raised throughput; settled",
            Reason::ProbeKept => "one step up raised throughput; kept",
            Reason::Probe => "probing a quarter up",
            Reason::ProbeDown => "probing a fifth down",
            Reason::ProbeDownKept => "one step down kept the rate; kept, with fewer in flight",
            Reason::ProbeReverted => "the probe did not pay; back",
            Reason::ThroughputFell => {
                "throughput fell and latency rose at the same level; stepping down"
            }
            Reason::Throttled => "429 Too Many Requests; backing off",
            Reason::Overloaded => "5xx, timeouts or dropped connections; backing off",
        }
    }
}

/// One change of level, for `-v` and the apply summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Milliseconds since the limiter started.
    pub at_ms: u64,
    pub from: usize,
    pub to: usize,
    pub reason: Reason,
    /// Completed units per second in the measurement that decided (0 for a
    /// back-off, which does not wait for one).
    pub per_sec: f64,
    /// Mean latency of that measurement, milliseconds.
    pub mean_ms: f64,
}

/// What a run did with its concurrency, reported in the apply summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitTrace {
    /// `--concurrency N` fixed the level.
    pub pinned: bool,
    pub initial: usize,
    pub last: usize,
    pub highest: usize,
    pub throttled: u64,
    pub overloaded: u64,
    pub changes: Vec<Change>,
}

/// Changes kept in a trace (a probe every second or so: hours of applying).
const MAX_CHANGES: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Level {
    limit: usize,
    per_sec: f64,
    mean_ms: f64,
}

impl LimitTrace {
    /// One line for a human summary.
    pub fn describe(&self) -> String {
        let mut s = if self.pinned {
            format!("fixed at {} (--concurrency)", self.last)
        } else {
            format!(
                "adaptive: started at {}, highest {}, ended at {} ({} changes; -v shows them)",
                self.initial,
                self.highest,
                self.last,
                self.changes.len()
            )
        };
        if self.throttled + self.overloaded > 0 {
            s.push_str(&format!(
                "; the server answered 429 {} times and 5xx/timed out {} times",
                self.throttled, self.overloaded
            ));
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Pinned,
    /// Doubling while each doubling pays.
    Search,
    /// Holding a level, probing one step up or down now and then.
    Hold,
}

/// Which way the next probe goes: on in the direction that last paid, else
/// the other way.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Toward {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Duration,
    units: u64,
    requests: u64,
    latency: Duration,
    starved: bool,
}

impl Window {
    fn new(now: Duration) -> Window {
        Window {
            started: now,
            units: 0,
            requests: 0,
            latency: Duration::ZERO,
            starved: false,
        }
    }
}

/// Measurements a level needs before the search or a probe judges it, on
/// their mean. One 300 ms window at one level swung between 957 and 2,811
/// objects/s on this project's machine: judged on the better of two, a step
/// down costing a few per cent was kept about as often as not, and the level
/// drifted below the best. A stall that ends a search early is measured again
/// by the first probe (`retest`).
const MEASURES_PER_LEVEL: usize = 3;
/// Measurements in a row that must each show the held level's throughput
/// fallen and its latency risen before the level steps down.
const LOW_STREAK: u32 = 5;
/// When the search ends, the higher level is held unless it measured this
/// much below the lower one.
const SETTLE_TOLERANCE: f64 = 0.10;

/// An adaptive concurrency limit. A fast search doubles the level while each
/// doubling raises throughput; then the level is held and probed one step up
/// or down now and then: a step up is kept if it raises throughput, a step
/// down if it keeps it (the same rate with fewer in flight is less load on
/// B; without this a level raised by a lucky measurement never came down).
/// A 429 or 5xx cuts it at once (once per measurement period), and
/// throughput that stays down while latency stays up steps it down.
/// Throughput, not latency, leads: on a saturated server latency grows with
/// the level anyway (Little's law), so latency alone would stop below the
/// server's best rate.
#[derive(Debug, Clone)]
pub struct Limiter {
    cfg: LimiterConfig,
    limit: usize,
    mode: Mode,
    window: Window,
    /// Measurements at the current level since it was set.
    at_level: Vec<Level>,
    /// The best level of the search, or the held level once settled.
    best: Option<Level>,
    /// While probing: the level probed from.
    probing_from: Option<Level>,
    since_probe: u32,
    /// A level the search left for a lower one, measured again by the first probe.
    retest: Option<usize>,
    toward: Toward,
    /// The last probe paid: the next one comes after `MEASURES_PER_LEVEL`.
    probe_soon: bool,
    /// The best rate held since the steps down began (reset only by a step
    /// up that paid, or a back-off): each step down is judged against it, so
    /// a gentle slope is not slid down step by step.
    down_from: Option<f64>,
    low_streak: u32,
    last_backoff: Option<Duration>,
    /// When the level last changed. A request sent before then was paced by
    /// the level before (after a step down, more are still in flight than the
    /// new level allows), so it does not count toward this level.
    changed_at: Duration,
    trace: LimitTrace,
}

impl Limiter {
    pub fn new(cfg: LimiterConfig) -> Limiter {
        let limit = cfg.initial.clamp(cfg.min.max(1), cfg.max.max(1));
        Limiter {
            cfg,
            limit,
            mode: Mode::Search,
            window: Window::new(Duration::ZERO),
            at_level: Vec::new(),
            best: None,
            probing_from: None,
            since_probe: 0,
            retest: None,
            toward: Toward::Down,
            probe_soon: false,
            down_from: None,
            low_streak: 0,
            last_backoff: None,
            changed_at: Duration::ZERO,
            trace: LimitTrace {
                initial: limit,
                last: limit,
                highest: limit,
                ..Default::default()
            },
        }
    }

    /// A fixed level (`--concurrency N`).
    pub fn pinned(limit: usize) -> Limiter {
        let mut l = Limiter::new(LimiterConfig {
            initial: limit.max(1),
            min: limit.max(1),
            max: limit.max(1),
            ..LimiterConfig::WRITES
        });
        l.mode = Mode::Pinned;
        l.trace.pinned = true;
        l
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn trace(&self) -> &LimitTrace {
        &self.trace
    }

    /// Starts a fresh measurement (a new wave: the last one ended with a
    /// tail of fewer requests than the level, which says nothing of the server).
    pub fn restart(&mut self, now: Duration) {
        self.window = Window::new(now);
    }

    /// The caller had nothing left to start while below the level: this
    /// measurement says nothing of the server's capacity.
    pub fn starved(&mut self) {
        self.window.starved = true;
    }

    /// One request finished after `latency`, completing `units` of work
    /// (objects written, items listed).
    pub fn record(&mut self, now: Duration, latency: Duration, units: u64, signal: Signal) {
        match signal {
            Signal::Throttled => {
                self.trace.throttled += 1;
                return self.back_off(now, Reason::Throttled);
            }
            Signal::Overloaded => {
                self.trace.overloaded += 1;
                return self.back_off(now, Reason::Overloaded);
            }
            Signal::Served => {}
        }
        if now.saturating_sub(latency) < self.changed_at {
            // Sent at the level before: the measurement starts when the
            // last of those is back.
            let starved = self.window.starved;
            self.window = Window::new(now);
            self.window.starved = starved;
            return;
        }
        let w = &mut self.window;
        w.units += units;
        w.requests += 1;
        w.latency += latency;
        let elapsed = now.saturating_sub(w.started);
        if elapsed < self.cfg.window || w.requests < 2 * self.limit as u64 {
            return;
        }
        let w = std::mem::replace(&mut self.window, Window::new(now));
        if w.starved || self.mode == Mode::Pinned {
            return;
        }
        let here = Level {
            limit: self.limit,
            per_sec: w.units as f64 / elapsed.as_secs_f64(),
            mean_ms: w.latency.as_secs_f64() * 1000.0 / w.requests as f64,
        };
        self.at_level.push(here);
        self.decide(now, here);
    }

    /// The current level's measurements taken together, once there are enough.
    fn judged(&self) -> Option<Level> {
        (self.at_level.len() >= MEASURES_PER_LEVEL).then(|| mean(&self.at_level))
    }

    fn decide(&mut self, now: Duration, last: Level) {
        let cfg = self.cfg;
        match self.mode {
            Mode::Pinned => {}
            Mode::Search => {
                let Some(here) = self.judged() else { return };
                match self.best {
                    Some(best) if here.per_sec < best.per_sec * (1.0 + cfg.doubling_gain) => {
                        // Doubling bought little: hold the higher level
                        // unless it measured clearly worse. Measurements are
                        // noisy and more in flight costs only latency, so a
                        // tie goes up, not down.
                        let held = if here.per_sec >= best.per_sec * (1.0 - SETTLE_TOLERANCE) {
                            here
                        } else {
                            best
                        };
                        self.mode = Mode::Hold;
                        self.best = Some(held);
                        if held.limit == self.limit {
                            self.at_level.clear();
                            self.note(now, held.limit, Reason::Settled, here);
                        } else {
                            // Stepping back down may be a stall of the server
                            // caught at the higher level: the first probe
                            // measures that level again.
                            self.retest = Some(self.limit);
                            self.set(now, held.limit, Reason::Settled, here);
                        }
                    }
                    _ => {
                        self.best = Some(here);
                        if self.limit >= cfg.max {
                            self.mode = Mode::Hold;
                        } else {
                            let to = (self.limit * 2).min(cfg.max);
                            self.set(now, to, Reason::ThroughputRose, here);
                        }
                    }
                }
            }
            Mode::Hold => {
                if let Some(from) = self.probing_from {
                    let Some(here) = self.judged() else { return };
                    self.probing_from = None;
                    self.since_probe = 0;
                    let up = here.limit > from.limit;
                    let kept = if up {
                        here.per_sec >= from.per_sec * (1.0 + cfg.probe_gain)
                    } else {
                        // Against the best rate held since the steps down
                        // began: a rate measured in a slow moment does not
                        // become the bar for every later step.
                        let began = self.down_from.map_or(from.per_sec, |b| b.max(from.per_sec));
                        self.down_from = Some(began);
                        here.per_sec >= began * (1.0 - cfg.probe_gain)
                    };
                    if kept {
                        if up {
                            self.down_from = None;
                        }
                        self.probe_soon = true;
                        self.best = Some(here);
                        self.at_level.clear();
                        let reason = if up {
                            Reason::ProbeKept
                        } else {
                            Reason::ProbeDownKept
                        };
                        self.note(now, here.limit, reason, here);
                    } else {
                        self.toward = if up { Toward::Down } else { Toward::Up };
                        self.probe_soon = false;
                        self.best = Some(from);
                        self.set(now, from.limit, Reason::ProbeReverted, here);
                    }
                    return;
                }
                let Some(held) = self.best else {
                    self.best = Some(last);
                    return;
                };
                if last.per_sec < held.per_sec * (1.0 - cfg.fall)
                    && last.mean_ms > 2.0 * held.mean_ms
                {
                    self.low_streak += 1;
                    if self.low_streak >= LOW_STREAK {
                        let to = ((self.limit as f64 * cfg.backoff) as usize).max(cfg.min);
                        self.best = None;
                        self.since_probe = 0;
                        self.low_streak = 0;
                        self.down_from = None;
                        self.set(now, to, Reason::ThroughputFell, last);
                    }
                    return;
                }
                self.low_streak = 0;
                // A slowly moving memory of the held level.
                self.best = Some(Level {
                    limit: held.limit,
                    per_sec: 0.75 * held.per_sec + 0.25 * last.per_sec,
                    mean_ms: 0.75 * held.mean_ms + 0.25 * last.mean_ms,
                });
                self.since_probe += 1;
                let due = if self.retest.is_some() || self.probe_soon {
                    MEASURES_PER_LEVEL as u32
                } else {
                    cfg.probe_every
                };
                if self.since_probe < due {
                    return;
                }
                let up = (self.limit + (self.limit / 4).max(1)).min(cfg.max);
                let down = self
                    .limit
                    .saturating_sub((self.limit / 5).max(1))
                    .max(cfg.min);
                let to = match (self.retest.take(), self.toward) {
                    (Some(level), _) => level.min(cfg.max),
                    (None, Toward::Down) if down < self.limit => down,
                    (None, _) if up > self.limit => up,
                    (None, _) => down,
                };
                if to == self.limit {
                    return;
                }
                self.probe_soon = false;
                // Judged like the probe: on the mean of as many measurements.
                let recent = match &self.at_level
                    [self.at_level.len().saturating_sub(MEASURES_PER_LEVEL)..]
                {
                    [] => last,
                    some => mean(some),
                };
                self.probing_from = Some(recent);
                let reason = if to > self.limit {
                    Reason::Probe
                } else {
                    Reason::ProbeDown
                };
                self.set(now, to, reason, last);
            }
        }
    }

    fn back_off(&mut self, now: Duration, reason: Reason) {
        if self.mode == Mode::Pinned {
            return;
        }
        // One cut per measurement period: the requests already in flight
        // when the first 429 came back were sent at the old level.
        if self
            .last_backoff
            .is_some_and(|t| now.saturating_sub(t) < self.cfg.window)
        {
            return;
        }
        self.last_backoff = Some(now);
        let to = ((self.limit as f64 * self.cfg.backoff) as usize).max(self.cfg.min);
        self.mode = Mode::Hold;
        self.probing_from = None;
        self.since_probe = 0;
        self.retest = None;
        self.low_streak = 0;
        self.down_from = None;
        self.probe_soon = false;
        self.best = None;
        let none = Level {
            limit: self.limit,
            per_sec: 0.0,
            mean_ms: 0.0,
        };
        self.set(now, to, reason, none);
    }

    fn set(&mut self, now: Duration, to: usize, reason: Reason, measured: Level) {
        let from = self.limit;
        self.limit = to.clamp(self.cfg.min.max(1), self.cfg.max.max(1));
        self.window = Window::new(now);
        self.at_level.clear();
        self.trace.last = self.limit;
        self.trace.highest = self.trace.highest.max(self.limit);
        if from != self.limit {
            self.changed_at = now;
            self.push(now, from, reason, measured);
        }
    }

    /// Records a decision that keeps the level (a probe kept).
    fn note(&mut self, now: Duration, at: usize, reason: Reason, measured: Level) {
        self.push(now, at, reason, measured);
    }

    fn push(&mut self, now: Duration, from: usize, reason: Reason, measured: Level) {
        if self.trace.changes.len() >= MAX_CHANGES {
            return;
        }
        self.trace.changes.push(Change {
            at_ms: now.as_millis() as u64,
            from,
            to: self.limit,
            reason,
            per_sec: (measured.per_sec * 10.0).round() / 10.0,
            mean_ms: (measured.mean_ms * 100.0).round() / 100.0,
        });
    }
}

/// Measurements of one level taken together: each lasts about one window, so
/// their plain mean is the rate over all of them.
fn mean(levels: &[Level]) -> Level {
    let n = levels.len().max(1) as f64;
    Level {
        limit: levels.first().map_or(0, |l| l.limit),
        per_sec: levels.iter().map(|l| l.per_sec).sum::<f64>() / n,
        mean_ms: levels.iter().map(|l| l.mean_ms).sum::<f64>() / n,
    }
}

/// List page sizes: start at `initial`; while pages come back full, fast and
/// small, double up to `max`, so a large list costs fewer round trips; halve
/// when a page is slow or large. `--page-size N` fixes it instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageSizer {
    size: u32,
    fixed: bool,
}

impl PageSizer {
    pub const INITIAL: u32 = 500;
    pub const MAX: u32 = 5000;
    /// Halving stops here.
    pub const SMALLEST: u32 = 50;
    /// A page slower than this is not grown, and one twice as slow shrinks.
    pub const SLOW: Duration = Duration::from_millis(500);
    /// Nor is a page larger than this (bytes of JSON): parsed, it is several
    /// times larger in memory.
    pub const LARGE: usize = 8 << 20;

    pub fn adaptive() -> PageSizer {
        PageSizer {
            size: Self::INITIAL,
            fixed: false,
        }
    }

    pub fn fixed(size: u32) -> PageSizer {
        PageSizer {
            size: size.max(1),
            fixed: true,
        }
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// One page came back: `items` of the `size` asked for, `bytes` long, after `latency`.
    pub fn page(&mut self, items: usize, bytes: usize, latency: Duration) {
        if self.fixed {
            return;
        }
        if latency > 2 * Self::SLOW || bytes > 2 * Self::LARGE {
            self.size = (self.size / 2).max(Self::SMALLEST);
        } else if items >= self.size as usize && latency < Self::SLOW && bytes < Self::LARGE {
            self.size = (self.size * 2).min(Self::MAX);
        }
    }
}

#[cfg(test)]
mod tests;
