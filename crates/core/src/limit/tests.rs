//! The limiter against simulated servers: a saturating one shaped like the
//! API server measured in docs/benchmarks.md, one that scales, one that
//! slows down, and one that answers 429.

use super::*;

/// A server whose rate at each level is interpolated (in log2 of the level)
/// between measured points; latency follows from Little's law.
fn rate_at(points: &[(usize, f64)], level: usize) -> f64 {
    let x = (level as f64).log2();
    let first = points[0];
    if level <= first.0 {
        return first.1 * level as f64 / first.0 as f64;
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if level <= b.0 {
            let (xa, xb) = ((a.0 as f64).log2(), (b.0 as f64).log2());
            return a.1 + (b.1 - a.1) * (x - xa) / (xb - xa);
        }
    }
    points[points.len() - 1].1
}

/// Runs the limiter for `seconds` of simulated time against `rate(level, t)`,
/// returning the level at each completion and the units completed per second
/// of simulated time after `settle` seconds.
fn simulate(
    limiter: &mut Limiter,
    seconds: f64,
    mut rate: impl FnMut(usize, f64) -> f64,
) -> (Vec<usize>, Vec<(f64, usize)>) {
    let mut t = 0.0;
    let mut levels = Vec::new();
    let mut samples = Vec::new();
    while t < seconds {
        let level = limiter.limit();
        let r = rate(level, t);
        t += 1.0 / r;
        let latency = Duration::from_secs_f64(level as f64 / r);
        limiter.record(Duration::from_secs_f64(t), latency, 1, Signal::Served);
        levels.push(level);
        samples.push((t, level));
    }
    (levels, samples)
}

/// Whether the limiter's trace holds a change for `reason`.
fn changed_for(l: &Limiter, reason: Reason) -> bool {
    l.trace().changes.iter().any(|c| c.reason == reason)
}

/// The measured shape: raw POSTs on this machine at 8, 16, 32 and 64 in flight.
const MEASURED: &[(usize, f64)] = &[
    (8, 1341.0),
    (16, 1587.0),
    (32, 1789.0),
    (64, 1835.0),
    (128, 1840.0),
];

#[test]
fn on_a_saturating_server_it_settles_where_the_rate_is_within_5_percent_of_the_best() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    let best = 1840.0;
    let (_, samples) = simulate(&mut l, 30.0, |level, _| rate_at(MEASURED, level));
    // After the search (a few windows), every level held gives >= 95 % of the best.
    let late: Vec<usize> = samples
        .iter()
        .filter(|(t, _)| *t > 3.0)
        .map(|(_, l)| *l)
        .collect();
    let worst = late.iter().copied().min().unwrap();
    assert!(
        rate_at(MEASURED, worst) >= 0.95 * best,
        "held {worst} ({:.0}/s): {:?}",
        rate_at(MEASURED, worst),
        l.trace().changes
    );
    // And it does not run to the ceiling for a 0.3 % gain.
    assert!(l.trace().highest < 128, "{:?}", l.trace().changes);
    assert_eq!(l.trace().changes[0].reason, Reason::ThroughputRose);
    assert!(changed_for(&l, Reason::Settled));
}

#[test]
fn on_a_server_that_scales_it_climbs_to_the_ceiling() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    simulate(&mut l, 10.0, |level, _| 100.0 * level as f64);
    assert_eq!(l.limit(), LimiterConfig::WRITES.max);
}

#[test]
fn short_stalls_of_the_server_do_not_pull_the_level_down() {
    // Every 3 s the server serves at a fifth of its rate for 400 ms (etcd's
    // fsync, a garbage collection): seen on this project's machine.
    let mut l = Limiter::new(LimiterConfig::WRITES);
    let (_, samples) = simulate(&mut l, 30.0, |level, t| {
        let r = rate_at(MEASURED, level);
        if t % 3.0 > 2.6 { r / 5.0 } else { r }
    });
    assert!(
        !changed_for(&l, Reason::ThroughputFell),
        "{:?}",
        l.trace().changes
    );
    let worst = samples
        .iter()
        .filter(|(t, _)| *t > 3.0)
        .map(|(_, l)| *l)
        .min()
        .unwrap();
    assert!(rate_at(MEASURED, worst) >= 0.95 * 1840.0, "held {worst}");
}

#[test]
fn a_server_that_gets_slower_makes_it_step_down() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    // Fine for 5 s, then the same level serves at a third of the rate.
    simulate(&mut l, 12.0, |level, t| {
        let r = rate_at(MEASURED, level);
        if t > 5.0 { r / 3.0 } else { r }
    });
    assert!(
        l.trace()
            .changes
            .iter()
            .any(|c| c.reason == Reason::ThroughputFell && c.at_ms >= 5000),
        "{:?}",
        l.trace().changes
    );
}

#[test]
fn a_429_cuts_the_level_once_per_window() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    let at = Duration::from_secs(2);
    l.record(at, Duration::from_millis(5), 0, Signal::Throttled);
    assert_eq!(l.limit(), 22, "32 x 0.7");
    // The requests already in flight come back throttled too: no second cut.
    l.record(
        at + Duration::from_millis(10),
        Duration::from_millis(5),
        0,
        Signal::Throttled,
    );
    assert_eq!(l.limit(), 22);
    // A window later, another 429 cuts again; 5xx the same.
    l.record(
        at + Duration::from_millis(300),
        Duration::ZERO,
        0,
        Signal::Overloaded,
    );
    assert_eq!(l.limit(), 15);
    let t = l.trace();
    assert_eq!((t.throttled, t.overloaded), (2, 1));
    assert_eq!(
        t.changes.iter().map(|c| c.reason).collect::<Vec<_>>(),
        [Reason::Throttled, Reason::Overloaded]
    );
}

#[test]
fn backing_off_never_goes_below_the_minimum() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    for i in 0..40u64 {
        l.record(
            Duration::from_secs(i),
            Duration::ZERO,
            0,
            Signal::Overloaded,
        );
    }
    assert_eq!(l.limit(), LimiterConfig::WRITES.min);
}

#[test]
fn a_pinned_level_never_moves() {
    let mut l = Limiter::pinned(32);
    simulate(&mut l, 5.0, |level, _| 100.0 * level as f64);
    l.record(Duration::from_secs(6), Duration::ZERO, 0, Signal::Throttled);
    assert_eq!(l.limit(), 32);
    assert!(l.trace().pinned);
    assert!(l.trace().changes.is_empty());
    assert_eq!(l.trace().throttled, 1);
}

#[test]
fn a_starved_measurement_changes_nothing() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    for i in 1..=200u64 {
        l.starved();
        l.record(
            Duration::from_millis(i * 10),
            Duration::from_millis(5),
            1,
            Signal::Served,
        );
    }
    assert_eq!(l.limit(), LimiterConfig::WRITES.initial);
    assert!(l.trace().changes.is_empty());
}

#[test]
fn page_sizes_grow_while_pages_are_full_fast_and_small_and_shrink_when_slow() {
    let mut p = PageSizer::adaptive();
    assert_eq!(p.size(), 500);
    p.page(500, 250_000, Duration::from_millis(40));
    assert_eq!(p.size(), 1000);
    for _ in 0..5 {
        let s = p.size() as usize;
        p.page(s, s * 500, Duration::from_millis(80));
    }
    assert_eq!(p.size(), PageSizer::MAX);
    // The last page of a list is short: nothing to learn.
    p.page(17, 8000, Duration::from_millis(5));
    assert_eq!(p.size(), PageSizer::MAX);
    p.page(5000, 3_000_000, Duration::from_millis(1500));
    assert_eq!(p.size(), 2500);
    // Big objects: a page over twice the size bound halves, down to the floor.
    for _ in 0..10 {
        p.page(p.size() as usize, 20 << 20, Duration::from_millis(100));
    }
    assert_eq!(p.size(), PageSizer::SMALLEST);
    let mut fixed = PageSizer::fixed(200);
    fixed.page(200, 1000, Duration::from_millis(1));
    assert_eq!(fixed.size(), 200);
}

#[test]
fn a_stall_that_ends_the_search_early_is_measured_again() {
    // The server stalls for the whole of the first measurements at 64 (the
    // first 2 s): the search steps back to 32, then measures 64 again and
    // keeps it.
    let mut l = Limiter::new(LimiterConfig::WRITES);
    simulate(&mut l, 8.0, |level, t| {
        let r = rate_at(MEASURED, level);
        if level == 64 && t < 2.0 { r / 3.0 } else { r }
    });
    let reasons: Vec<(usize, usize, Reason)> = l
        .trace()
        .changes
        .iter()
        .map(|c| (c.from, c.to, c.reason))
        .collect();
    assert!(
        reasons.contains(&(64, 32, Reason::Settled)),
        "the stall must end the search for this test to mean anything: {reasons:?}"
    );
    assert!(reasons.contains(&(32, 64, Reason::Probe)), "{reasons:?}");
    assert!(
        reasons.contains(&(64, 64, Reason::ProbeKept)),
        "{reasons:?}"
    );
    // Later steps down may trade 64 for a level as good.
    assert!(rate_at(MEASURED, l.limit()) >= 0.95 * 1840.0, "{reasons:?}");
}

#[test]
fn a_level_raised_by_a_slow_start_comes_back_down() {
    // The first second is slow (A's Secrets are read beside a wave's first
    // writes, on the same machine): every doubling seems to pay, up to the
    // ceiling. On the flat part of the curve a step down keeps the rate, so
    // the level comes back toward the knee.
    let mut l = Limiter::new(LimiterConfig::WRITES);
    simulate(&mut l, 20.0, |level, t| {
        let r = rate_at(MEASURED, level);
        if t < 1.0 { r / 2.0 } else { r }
    });
    let changes = &l.trace().changes;
    assert_eq!(
        l.trace().highest,
        LimiterConfig::WRITES.max,
        "the slow start must fool the search for this test to mean anything: {changes:?}"
    );
    assert!(
        changes.iter().any(|c| c.reason == Reason::ProbeDownKept),
        "{changes:?}"
    );
    assert!(l.limit() <= 64, "{changes:?}");
    // It stops where the curve falls: never below 32, which has 97 % of the best.
    let lowest = changes.iter().map(|c| c.to).min().unwrap();
    assert!(lowest >= 32, "{changes:?}");
}

#[test]
fn on_a_server_that_scales_steps_down_are_not_kept() {
    let mut l = Limiter::new(LimiterConfig::WRITES);
    simulate(&mut l, 20.0, |level, _| 100.0 * level as f64);
    assert!(
        !changed_for(&l, Reason::ProbeDownKept),
        "{:?}",
        l.trace().changes
    );
    assert_eq!(l.limit(), LimiterConfig::WRITES.max);
}

#[test]
fn noisy_measurements_keep_the_rate_near_the_best() {
    // Each 200 ms the server runs between 50 % and 150 % of its rate (this
    // machine's measurements swing that much at one level). Whatever the
    // level does under that noise, the rate it gets must stay near the best.
    let noise = noise(0);
    let mut l = Limiter::new(LimiterConfig::WRITES);
    let (_, samples) = simulate(&mut l, 30.0, |level, t| {
        rate_at(MEASURED, level) * noise[(t / 0.2) as usize % noise.len()]
    });
    let late: Vec<(f64, usize)> = samples.into_iter().filter(|(t, _)| *t > 3.0).collect();
    let held = held_rate(&late, MEASURED);
    assert!(
        held >= 0.95 * 1840.0,
        "{held:.0}/s: {:?}",
        l.trace().changes
    );
    let lowest = l.trace().changes.iter().map(|c| c.to).min().unwrap();
    assert!(lowest >= 16, "{:?}", l.trace().changes);
}

/// The raw rates of issue #17's sixth run (docs/benchmarks.md), still rising
/// at 64 in flight, where the limiter drifted down to 44-55; 128 taken as flat.
const SIXTH_RUN: &[(usize, f64)] = &[
    (8, 1450.0),
    (16, 1619.0),
    (32, 1730.0),
    (64, 1990.0),
    (128, 2000.0),
];

/// The rate the levels in `samples` would get from `points` without noise,
/// averaged over the time each was held.
fn held_rate(samples: &[(f64, usize)], points: &[(usize, f64)]) -> f64 {
    let mut weighted = 0.0;
    for w in samples.windows(2) {
        weighted += (w[1].0 - w[0].0) * rate_at(points, w[0].1);
    }
    weighted / (samples[samples.len() - 1].0 - samples[0].0)
}

/// Multiplicative noise for each 200 ms: uniform in [0.5, 1.5), from `seed`.
fn noise(seed: u64) -> Vec<f64> {
    let mut x = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    (0..400)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            0.5 + (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

#[test]
fn on_a_noisy_server_still_rising_at_64_the_level_seldom_drifts_below_the_best() {
    // 100 applies of 26 s (50,000 objects), each with its own noise. Judged
    // on the better of two windows, 14 of these fell below 95 % of the best
    // rate, 7 below 90 % (the lowest 85.5 %); on the mean of three, with
    // requests paced by the level before left out, 6, none below 93 %.
    let mut below = Vec::new();
    for seed in 0..100 {
        let noise = noise(seed);
        let mut l = Limiter::new(LimiterConfig::WRITES);
        let (_, samples) = simulate(&mut l, 26.0, |level, t| {
            rate_at(SIXTH_RUN, level) * noise[(t / 0.2) as usize % noise.len()]
        });
        let share = held_rate(&samples, SIXTH_RUN) / 2000.0;
        if share < 0.95 {
            below.push((seed, (share * 1000.0).round() / 10.0));
        }
    }
    assert!(
        below.len() <= 8 && below.iter().all(|(_, share)| *share >= 92.0),
        "seeds below 95 % (seed, %): {below:?}"
    );
}

#[test]
fn requests_sent_at_the_level_before_do_not_count_toward_the_new_one() {
    // The search doubles 32 -> 64 after three windows; then a burst of
    // completions of requests sent before that change (as after a step down,
    // when more are in flight than the new level allows) must not be taken
    // as the new level's rate and raise it again.
    let mut l = Limiter::new(LimiterConfig::WRITES);
    let mut t = Duration::ZERO;
    while l.limit() == 32 {
        t += Duration::from_millis(1);
        l.record(t, Duration::from_millis(16), 1, Signal::Served);
    }
    assert_eq!(l.limit(), 64);
    let changed = t;
    for _ in 0..5000 {
        t += Duration::from_micros(200);
        let sent_before = t - changed + Duration::from_millis(1);
        l.record(t, sent_before, 10, Signal::Served);
    }
    assert_eq!(l.limit(), 64, "{:?}", l.trace().changes);
    // Requests sent after it do count: the same burst from them raises it.
    for _ in 0..5000 {
        t += Duration::from_micros(200);
        l.record(t, Duration::from_micros(100), 10, Signal::Served);
    }
    assert_eq!(l.limit(), 128, "{:?}", l.trace().changes);
}
