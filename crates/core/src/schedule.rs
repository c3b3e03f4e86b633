//! The order `migrate apply` writes a plan in. An object starts as soon as
//! everything it depends on has finished, not when its whole wave before has,
//! so one slow write or one large wave does not hold back unrelated objects.
//! Pure: indices in, steps out; the apply driver does the writing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One planned object, as the schedule sees it.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub wave: usize,
    /// Indices of the objects it depends on, in the plan's order (the first
    /// broken one is the one named when it is blocked).
    pub deps: Vec<usize>,
    /// Written after the rest of its wave that is ready (A's Secrets are read
    /// during the wave before, so they go last).
    pub last: bool,
    /// Confirmed in B by an earlier run (the journal): nothing to write.
    pub resumed: bool,
}

/// What the driver does next with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write it: everything it depends on has finished and was applied.
    Write(usize),
    /// Report it as done by an earlier run.
    Resumed(usize),
    /// Report it as blocked: `by`, one of its dependencies, was not applied.
    Blocked { index: usize, by: usize },
}

impl Step {
    pub fn index(self) -> usize {
        match self {
            Step::Write(i) | Step::Resumed(i) | Step::Blocked { index: i, .. } => i,
        }
    }
}

/// Hands out objects as they become ready; told when each finishes.
///
/// Ordering rules, all from the plan's graph:
/// - an object waits for each of its dependencies to finish (the driver
///   includes "usable" in finishing: a Namespace Active, a CRD Established);
/// - an object whose wave is higher than its dependencies alone put it (the
///   last-wave kinds, lifted above everything else: admission webhooks and
///   policies, APIServices) also waits for every object of a lower wave;
/// - among ready objects, lower waves first, a wave's `last` objects after
///   its others, then the plan's order.
#[derive(Debug)]
pub struct Schedule {
    nodes: Vec<Node>,
    dependents: Vec<Vec<usize>>,
    /// Dependencies not finished yet, per object.
    waiting: Vec<usize>,
    /// Finished and not applied (failed, drifted, blocked): its dependents are blocked.
    broken: Vec<bool>,
    /// Lifted above its dependencies: waits for every lower wave too.
    lifted: Vec<bool>,
    /// Objects not finished, per wave.
    open: Vec<usize>,
    /// The lowest wave with an object not finished (`open.len()` when none).
    lowest_open: usize,
    ready: BinaryHeap<Reverse<(usize, bool, usize)>>,
    /// Lifted objects whose dependencies finished, waiting for lower waves.
    held: Vec<usize>,
    handed_out: usize,
}

impl Schedule {
    pub fn new(nodes: Vec<Node>) -> Schedule {
        let n = nodes.len();
        let waves = nodes.iter().map(|o| o.wave + 1).max().unwrap_or(0);
        let mut dependents = vec![Vec::new(); n];
        let mut waiting = vec![0; n];
        let mut lifted = vec![false; n];
        let mut open = vec![0; waves];
        for (i, o) in nodes.iter().enumerate() {
            open[o.wave] += 1;
            if o.resumed {
                continue;
            }
            for &d in &o.deps {
                dependents[d].push(i);
                waiting[i] += 1;
            }
            let from_deps = o.deps.iter().map(|&d| nodes[d].wave + 1).max();
            lifted[i] = o.wave > from_deps.unwrap_or(0);
        }
        let mut s = Schedule {
            dependents,
            waiting,
            broken: vec![false; n],
            lifted,
            open,
            lowest_open: 0,
            ready: BinaryHeap::with_capacity(n),
            held: Vec::new(),
            handed_out: 0,
            nodes,
        };
        s.advance_lowest_open();
        for i in 0..n {
            if s.nodes[i].resumed || s.waiting[i] == 0 {
                s.release(i);
            }
        }
        s
    }

    /// Every object has been handed out: nothing more will become ready.
    pub fn exhausted(&self) -> bool {
        self.handed_out == self.nodes.len()
    }

    /// Objects of `wave` not finished yet.
    pub fn open_in(&self, wave: usize) -> usize {
        self.open[wave]
    }

    /// The next object ready to start, if any is (more may become ready as
    /// others finish).
    pub fn next_step(&mut self) -> Option<Step> {
        let Reverse((_, _, i)) = self.ready.pop()?;
        self.handed_out += 1;
        let node = &self.nodes[i];
        Some(if node.resumed {
            Step::Resumed(i)
        } else if let Some(&by) = node.deps.iter().find(|&&d| self.broken[d]) {
            Step::Blocked { index: i, by }
        } else {
            Step::Write(i)
        })
    }

    /// `index` finished; `applied` is false when it failed, drifted or was
    /// blocked, which blocks what depends on it.
    pub fn finished(&mut self, index: usize, applied: bool) {
        self.broken[index] = !applied;
        let wave = self.nodes[index].wave;
        self.open[wave] -= 1;
        for k in 0..self.dependents[index].len() {
            let d = self.dependents[index][k];
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.release(d);
            }
        }
        if wave == self.lowest_open && self.open[wave] == 0 {
            self.advance_lowest_open();
            let lowest = self.lowest_open;
            let (now, later): (Vec<usize>, Vec<usize>) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|&i| self.nodes[i].wave <= lowest);
            self.held = later;
            for i in now {
                self.push(i);
            }
        }
    }

    fn advance_lowest_open(&mut self) {
        while self.lowest_open < self.open.len() && self.open[self.lowest_open] == 0 {
            self.lowest_open += 1;
        }
    }

    /// Its dependencies are done: ready, or held for the waves below it.
    fn release(&mut self, i: usize) {
        if self.lifted[i] && !self.nodes[i].resumed && self.lowest_open < self.nodes[i].wave {
            self.held.push(i);
        } else {
            self.push(i);
        }
    }

    fn push(&mut self, i: usize) {
        let o = &self.nodes[i];
        self.ready.push(Reverse((o.wave, o.last, i)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(wave: usize, deps: &[usize]) -> Node {
        Node {
            wave,
            deps: deps.to_vec(),
            ..Node::default()
        }
    }

    fn drain(s: &mut Schedule) -> Vec<Step> {
        std::iter::from_fn(|| s.next_step()).collect()
    }

    #[test]
    fn a_dependent_starts_when_its_own_dependency_finishes_not_its_whole_wave() {
        // Two namespaces (0, 1), a ConfigMap in each (2 in 0, 3 in 1).
        let mut s = Schedule::new(vec![
            node(0, &[]),
            node(0, &[]),
            node(1, &[0]),
            node(1, &[1]),
        ]);
        assert_eq!(drain(&mut s), vec![Step::Write(0), Step::Write(1)]);
        s.finished(0, true);
        // Namespace 1 is still being written; 2 need not wait for it.
        assert_eq!(drain(&mut s), vec![Step::Write(2)]);
        assert!(!s.exhausted());
        assert_eq!((s.open_in(0), s.open_in(1)), (1, 2));
        s.finished(1, true);
        assert_eq!(drain(&mut s), vec![Step::Write(3)]);
        assert!(s.exhausted());
    }

    #[test]
    fn lower_waves_first_and_a_waves_last_objects_after_its_others() {
        let mut s = Schedule::new(vec![
            Node {
                last: true,
                ..node(0, &[])
            },
            node(0, &[]),
            node(1, &[]), // a wave above what its dependencies say: lifted
            node(0, &[]),
        ]);
        // 2 is lifted (wave 1 with no dependencies), so it waits for wave 0.
        assert_eq!(
            drain(&mut s),
            vec![Step::Write(1), Step::Write(3), Step::Write(0)]
        );
        s.finished(1, true);
        s.finished(3, true);
        assert_eq!(s.next_step(), None);
        s.finished(0, true);
        assert_eq!(drain(&mut s), vec![Step::Write(2)]);
    }

    #[test]
    fn a_lifted_object_waits_for_every_lower_wave_even_unrelated_ones() {
        // 0: namespace; 1: service in it (wave 1); 2: deployment (wave 2, on 1);
        // 3: a webhook on the service, lifted to wave 3 above the deployment.
        let mut s = Schedule::new(vec![
            node(0, &[]),
            node(1, &[0]),
            node(2, &[1]),
            node(3, &[1]),
        ]);
        assert_eq!(drain(&mut s), vec![Step::Write(0)]);
        s.finished(0, true);
        assert_eq!(drain(&mut s), vec![Step::Write(1)]);
        s.finished(1, true);
        // The webhook's service is there, but the deployment is not yet.
        assert_eq!(drain(&mut s), vec![Step::Write(2)]);
        s.finished(2, true);
        assert_eq!(drain(&mut s), vec![Step::Write(3)]);
        s.finished(3, true);
        assert!(s.exhausted());
    }

    #[test]
    fn what_depends_on_a_broken_object_is_blocked_naming_it_and_so_on_down() {
        let mut s = Schedule::new(vec![
            node(0, &[]),
            node(0, &[]),
            node(1, &[1, 0]),
            node(2, &[2]),
        ]);
        assert_eq!(drain(&mut s), vec![Step::Write(0), Step::Write(1)]);
        s.finished(0, false);
        s.finished(1, true);
        assert_eq!(drain(&mut s), vec![Step::Blocked { index: 2, by: 0 }]);
        s.finished(2, false);
        assert_eq!(drain(&mut s), vec![Step::Blocked { index: 3, by: 2 }]);
        s.finished(3, false);
        assert!(s.exhausted());
    }

    #[test]
    fn resumed_objects_are_handed_out_at_once_and_release_their_dependents() {
        let mut s = Schedule::new(vec![
            Node {
                resumed: true,
                ..node(0, &[])
            },
            node(1, &[0]),
            Node {
                resumed: true,
                ..node(2, &[1])
            },
        ]);
        assert_eq!(drain(&mut s), vec![Step::Resumed(0), Step::Resumed(2)]);
        s.finished(2, true);
        s.finished(0, true);
        assert_eq!(drain(&mut s), vec![Step::Write(1)]);
        s.finished(1, true);
        assert!(s.exhausted());
    }

    #[test]
    fn every_object_is_handed_out_once_whatever_the_order_of_finishing() {
        // A layered graph; finish in reverse order of handing out.
        let mut nodes = vec![node(0, &[]), node(0, &[])];
        for i in 2..40 {
            nodes.push(node(nodes[i - 2].wave + 1, &[i - 2]));
        }
        let n = nodes.len();
        let mut s = Schedule::new(nodes);
        let mut seen = vec![false; n];
        let mut running = Vec::new();
        while !s.exhausted() || !running.is_empty() {
            while let Some(step) = s.next_step() {
                assert!(!seen[step.index()], "{step:?} handed out twice");
                seen[step.index()] = true;
                running.push(step.index());
            }
            let i = running.pop().expect("something runs while objects remain");
            s.finished(i, true);
        }
        assert!(seen.iter().all(|&b| b));
    }
}
