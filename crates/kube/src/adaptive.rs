//! Runs many requests against one cluster at the level `abshift_core::limit`
//! chooses, learning from what the server says (`cluster::Pressure`): the
//! writes of `migrate apply` and the lists of `migrate plan` and `verify`.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::cluster::Pressure;
use abshift_core::limit::{LimitTrace, Limiter, Signal};

/// One limiter, shared by the requests it paces. Completed requests report
/// through [`Gate::record`]; [`run`] starts new ones up to [`Gate::limit`].
/// A throttled request itself waits the server's `Retry-After` (in
/// `Cluster::send`); the gate cuts the level.
pub struct Gate {
    limiter: Mutex<Limiter>,
    started: Instant,
    /// The pressure counters as last seen, to tell what is new.
    seen: Mutex<(u64, u64)>,
    /// "writes" or "lists", and the cluster's context, for `-v`.
    what: &'static str,
    context: String,
}

impl Gate {
    pub fn new(limiter: Limiter, what: &'static str, context: &str) -> Gate {
        Gate {
            limiter: Mutex::new(limiter),
            started: Instant::now(),
            seen: Mutex::new((0, 0)),
            what,
            context: context.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limiter> {
        // A panic elsewhere cannot leave a limiter half-updated in a way
        // that matters: its numbers are advice.
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn limit(&self) -> usize {
        self.lock().limit()
    }

    pub fn trace(&self) -> LimitTrace {
        self.lock().trace().clone()
    }

    fn starved(&self) {
        self.lock().starved();
    }

    fn restart(&self) {
        let now = self.started.elapsed();
        self.lock().restart(now);
    }

    /// One request finished after `latency`, completing `units` of work; what
    /// `pressure` counted since the last call decides how the server felt.
    pub fn record(&self, latency: Duration, units: u64, pressure: &Pressure) {
        let signal = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let now = (pressure.throttled(), pressure.overloaded());
            let signal = if now.0 > seen.0 {
                Signal::Throttled
            } else if now.1 > seen.1 {
                Signal::Overloaded
            } else {
                Signal::Served
            };
            *seen = now;
            signal
        };
        let mut limiter = self.lock();
        let before = limiter.trace().changes.len();
        limiter.record(self.started.elapsed(), latency, units, signal);
        for c in &limiter.trace().changes[before..] {
            let apf = (signal != Signal::Served)
                .then(|| pressure.priority_level())
                .flatten();
            tracing::info!(
                what = self.what,
                context = %self.context,
                from = c.from,
                to = c.to,
                per_sec = c.per_sec,
                mean_ms = c.mean_ms,
                apf_priority_level = apf.as_deref().unwrap_or(""),
                "concurrency: {}",
                c.reason.describe()
            );
        }
    }
}

/// Where [`run_fed`] takes its work from: items may become ready only as
/// others finish (apply's objects wait for what they depend on).
pub trait Feed<T, R> {
    /// The next item ready to start; `None` when none is ready now. Asked
    /// again after each result: with nothing in flight and nothing ready,
    /// the run is over.
    fn next(&mut self) -> Option<T>;
    /// One started item finished with `result`.
    fn finished(&mut self, _result: &R) {}
}

/// A feed of items all ready from the start (fused: `run_fed` asks again
/// after a `None`, and an iterator need not keep answering `None`).
struct Ready<I>(I);

impl<T, R, I: Iterator<Item = T>> Feed<T, R> for Ready<I> {
    fn next(&mut self) -> Option<T> {
        self.0.next()
    }
}

/// Runs `f` over `items`, keeping as many in flight as the gate allows. Each
/// finished result goes to `done` as it arrives; all are returned (in
/// completion order). The futures report their own latency to the gate (a
/// list reports each page).
pub async fn run<T, R, Fut>(
    gate: &Gate,
    items: impl IntoIterator<Item = T>,
    f: impl FnMut(T) -> Fut,
    done: impl FnMut(&R),
) -> Vec<R>
where
    Fut: Future<Output = R>,
{
    run_fed(gate, Ready(items.into_iter().fuse()), f, done).await
}

/// [`run`] over a feed whose items become ready as others finish: starts
/// what is ready up to the gate's level, tells the feed of each result.
pub async fn run_fed<T, R, Fut>(
    gate: &Gate,
    mut feed: impl Feed<T, R>,
    mut f: impl FnMut(T) -> Fut,
    mut done: impl FnMut(&R),
) -> Vec<R>
where
    Fut: Future<Output = R>,
{
    gate.restart();
    let mut running = FuturesUnordered::new();
    let mut out = Vec::new();
    loop {
        let mut idle = false;
        while running.len() < gate.limit() {
            match feed.next() {
                Some(item) => running.push(f(item)),
                None => {
                    idle = true;
                    break;
                }
            }
        }
        // Fewer in flight than allowed because nothing is ready: the
        // throughput seen now says nothing about the server.
        if idle {
            gate.starved();
        }
        match running.next().await {
            Some(r) => {
                feed.finished(&r);
                done(&r);
                out.push(r);
            }
            // Nothing in flight, and nothing was ready to start.
            None => break,
        }
    }
    out
}

/// Times `fut` and reports it to `gate` as `units` of work.
pub async fn timed<R>(
    gate: &Gate,
    pressure: &Pressure,
    units: u64,
    fut: impl Future<Output = R>,
) -> R {
    let t = Instant::now();
    let r = fut.await;
    gate.record(t.elapsed(), units, pressure);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use abshift_core::limit::LimiterConfig;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn never_more_in_flight_than_the_level_and_every_item_done() {
        let gate = Gate::new(Limiter::pinned(3), "writes", "b");
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut seen = 0;
        let out = run(
            &gate,
            0..50u32,
            |i| {
                let (in_flight, peak) = (&in_flight, &peak);
                async move {
                    let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    i
                }
            },
            |_| seen += 1,
        )
        .await;
        assert_eq!(out.len(), 50);
        assert_eq!(seen, 50);
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    /// Items 0..n in chains: item i + 2 becomes ready when item i finishes.
    struct Chains {
        ready: Vec<u32>,
        n: u32,
    }

    impl Feed<u32, u32> for Chains {
        fn next(&mut self) -> Option<u32> {
            self.ready.pop()
        }
        fn finished(&mut self, r: &u32) {
            if r + 2 < self.n {
                self.ready.push(r + 2);
            }
        }
    }

    #[tokio::test]
    async fn a_fed_run_starts_items_as_they_become_ready_and_ends_with_the_last() {
        let gate = Gate::new(Limiter::pinned(8), "writes", "b");
        let started = std::sync::Mutex::new(Vec::new());
        let out = run_fed(
            &gate,
            Chains {
                ready: vec![1, 0],
                n: 20,
            },
            |i| {
                started.lock().unwrap().push(i);
                async move {
                    tokio::task::yield_now().await;
                    i
                }
            },
            |_| {},
        )
        .await;
        // Every item ran once, each after the one it waited for.
        assert_eq!(out.len(), 20);
        let started = started.into_inner().unwrap();
        let mut sorted = started.clone();
        sorted.sort();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        for i in 2..20u32 {
            let at = |x: u32| out.iter().position(|&o| o == x).unwrap();
            assert!(at(i - 2) < at(i), "{i} finished before {}", i - 2);
        }
    }

    #[test]
    fn a_429_or_a_5xx_counted_by_the_cluster_cuts_the_level() {
        let gate = Gate::new(Limiter::new(LimiterConfig::WRITES), "writes", "b");
        let pressure = Pressure::default();
        gate.record(Duration::from_millis(1), 1, &pressure);
        assert_eq!(gate.limit(), 32);
        pressure.note_for_test(429);
        gate.record(Duration::from_millis(1), 0, &pressure);
        assert_eq!(gate.limit(), 22);
        let t = gate.trace();
        assert_eq!((t.throttled, t.overloaded), (1, 0));
        // Only what is new counts: the same counters again are no signal.
        gate.record(Duration::from_millis(1), 1, &pressure);
        assert_eq!(gate.trace().throttled, 1);
        pressure.note_for_test(503);
        gate.record(Duration::from_millis(1), 0, &pressure);
        assert_eq!(gate.trace().overloaded, 1);
    }
}
