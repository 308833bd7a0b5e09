//! Samples folded into hourly windows.
//!
//! A sample is what the cluster looked like at one moment T (a dump, or one live listing). Each
//! sighting of a node or pod at T stands for `[T, T + interval)`. Consecutive sightings of the
//! same key at most `max_gap` apart (default 3 × interval) are one continuous presence: the time
//! between them counts, so a missed sample or two costs nothing. A longer gap ends the presence
//! at the last sighting + interval, and the next sighting starts a new one.
//!
//! A presence is cut at hour boundaries into windows: `window_start` is the hour, or the first
//! sighting when the presence began inside the hour; `window_end` is the hour's end, or the last
//! sighting + interval when it ended (or has not been seen again yet) inside it. A presence
//! bridged across whole hours without sightings fills them too. Per window, the facts
//! (requests, capacity, labels) are the latest sighting's, and usage is the average of the
//! sightings that carried usage (none: 0), rounded half up at 18 decimal places.
//!
//! The usage tables replace a row by (cluster, node, window_start[, namespace, pod]), so a
//! window landed again with more sightings (the same hour re-folded, or a live run extending
//! it) replaces the earlier row instead of adding to it.
use std::collections::{BTreeMap, BTreeSet};

use queries::Dec18;
use serde::{Deserialize, Serialize};

pub const HOUR: u32 = 3600;

fn hour_of(t: u32) -> u32 {
    t - t % HOUR
}

/// The sampling interval and the longest gap bridged, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    pub interval: u32,
    pub max_gap: u32,
}

impl Timing {
    /// `max_gap` defaults to 3 × `interval`, and is at least `interval`.
    pub fn new(interval: u32, max_gap: Option<u32>) -> Timing {
        let interval = interval.max(1);
        Timing {
            interval,
            max_gap: max_gap.unwrap_or(interval.saturating_mul(3)).max(interval),
        }
    }
}

/// A key's presence inside one hour, so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment<F> {
    pub start: u32,
    pub last_seen: u32,
    pub facts: F,
    pub cpu_usage_sum: Dec18,
    pub memory_usage_sum: Dec18,
    pub usage_samples: u32,
}

/// One row: a key over `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window<K, F> {
    pub key: K,
    pub start: u32,
    pub end: u32,
    pub facts: F,
    pub cpu_usage: Dec18,
    pub memory_usage: Dec18,
}

fn average(sum: Dec18, n: u32) -> Dec18 {
    if n == 0 {
        return Dec18::ZERO;
    }
    let n = i128::from(n);
    let (q, r) = (sum.0 / n, sum.0 % n);
    // Half up (away from zero): usage is never negative.
    Dec18(q + i128::from(2 * r.abs() >= n) * sum.0.signum())
}

impl<F: Clone> Segment<F> {
    fn new(start: u32, t: u32, facts: F, usage: Option<(Dec18, Dec18)>) -> Segment<F> {
        let mut s = Segment {
            start,
            last_seen: t,
            facts,
            cpu_usage_sum: Dec18::ZERO,
            memory_usage_sum: Dec18::ZERO,
            usage_samples: 0,
        };
        s.add(usage);
        s
    }

    fn add(&mut self, usage: Option<(Dec18, Dec18)>) {
        if let Some((cpu, memory)) = usage {
            self.cpu_usage_sum = self.cpu_usage_sum + cpu;
            self.memory_usage_sum = self.memory_usage_sum + memory;
            self.usage_samples += 1;
        }
    }

    fn window<K>(&self, key: K, end: u32) -> Window<K, F> {
        Window {
            key,
            start: self.start,
            end,
            facts: self.facts.clone(),
            cpu_usage: average(self.cpu_usage_sum, self.usage_samples),
            memory_usage: average(self.memory_usage_sum, self.usage_samples),
        }
    }
}

/// Sightings folded into windows; `K` identifies a node or pod, `F` is what a row says of it.
#[derive(Debug, Clone)]
pub struct Fold<K, F> {
    timing: Timing,
    open: BTreeMap<K, Segment<F>>,
    /// Windows complete or changed since the last [`Fold::take_windows`].
    out: Vec<Window<K, F>>,
    touched: BTreeSet<K>,
}

impl<K: Ord + Clone, F: Clone> Fold<K, F> {
    pub fn new(timing: Timing) -> Fold<K, F> {
        Fold {
            timing,
            open: BTreeMap::new(),
            out: Vec::new(),
            touched: BTreeSet::new(),
        }
    }

    /// A fold that continues from segments an earlier run left (see [`Fold::segments`]).
    pub fn resume(timing: Timing, segments: Vec<(K, Segment<F>)>) -> Fold<K, F> {
        Fold {
            open: segments.into_iter().collect(),
            ..Fold::new(timing)
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The presences still open (for the next run to continue).
    pub fn segments(&self) -> impl Iterator<Item = (&K, &Segment<F>)> {
        self.open.iter()
    }

    /// Where an open presence's window ends as long as it is not seen again.
    fn provisional_end(&self, s: &Segment<F>) -> u32 {
        (hour_of(s.start) + HOUR).min(s.last_seen.saturating_add(self.timing.interval))
    }

    /// `key` was seen at `t` with `facts` (and `usage`, when measured). Sightings of one key come
    /// in time order; an earlier or repeated one is ignored.
    pub fn observe(&mut self, key: K, t: u32, facts: F, usage: Option<(Dec18, Dec18)>) {
        let Some(seg) = self.open.get_mut(&key) else {
            self.open
                .insert(key.clone(), Segment::new(t, t, facts, usage));
            self.touched.insert(key);
            return;
        };
        if t <= seg.last_seen {
            tracing::debug!(
                t,
                last = seg.last_seen,
                "a sighting out of order is ignored"
            );
            return;
        }
        if t - seg.last_seen <= self.timing.max_gap {
            if hour_of(t) == hour_of(seg.start) {
                seg.last_seen = t;
                seg.facts = facts;
                seg.add(usage);
            } else {
                // Present throughout: the old hour ends full, hours in between are full, the
                // new hour starts at its beginning.
                let old = seg.clone();
                self.out
                    .push(old.window(key.clone(), hour_of(old.start) + HOUR));
                let mut hour = hour_of(old.start) + HOUR;
                while hour < hour_of(t) {
                    let mut full = old.window(key.clone(), hour + HOUR);
                    full.start = hour;
                    self.out.push(full);
                    hour += HOUR;
                }
                *seg = Segment::new(hour_of(t), t, facts, usage);
            }
        } else {
            let old = seg.clone();
            let end = self.provisional_end(&old);
            self.out.push(old.window(key.clone(), end));
            *self.open.get_mut(&key).expect("present") = Segment::new(t, t, facts, usage);
        }
        self.touched.insert(key);
    }

    /// Forget presences not seen for longer than the gap before `t`: they cannot be bridged any
    /// more, and their windows were taken when they were last seen.
    pub fn forget_before(&mut self, t: u32) {
        let max_gap = self.timing.max_gap;
        self.open
            .retain(|_, s| t.saturating_sub(s.last_seen) <= max_gap);
    }

    /// The windows completed or changed since the last call: closed ones, and the current
    /// window of every presence seen since.
    pub fn take_windows(&mut self) -> Vec<Window<K, F>> {
        let mut out = std::mem::take(&mut self.out);
        for key in std::mem::take(&mut self.touched) {
            if let Some(s) = self.open.get(&key) {
                out.push(s.window(key.clone(), self.provisional_end(s)));
            }
        }
        out
    }

    /// Every window, all presences ended at their last sighting + interval.
    pub fn finish(mut self) -> Vec<Window<K, F>> {
        let mut out = std::mem::take(&mut self.out);
        for (key, s) in std::mem::take(&mut self.open) {
            let end = self.provisional_end(&s);
            out.push(s.window(key, end));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u32 = 1_788_220_800; // 2026-09-01 00:00 UTC
    const UNIT: i128 = 1_000_000_000_000_000_000;

    fn u(units: i128) -> Option<(Dec18, Dec18)> {
        Some((Dec18(units * UNIT), Dec18(units * UNIT)))
    }

    #[test]
    fn rows_cut_at_hours_and_bridged_gaps() {
        let mut f: Fold<&str, u8> = Fold::new(Timing::new(60, None));
        // 00:58, 00:59, then 01:01 (01:00 missed: bridged), 01:02.
        for (t, v) in [(58, 1), (59, 3), (61, 5), (62, 7)] {
            f.observe("a", T0 + t * 60, 0, u(v));
        }
        let mut rows = f.finish();
        rows.sort_by_key(|w| w.start);
        assert_eq!(
            rows.iter()
                .map(|w| (w.start - T0, w.end - T0, w.cpu_usage.0 / UNIT))
                .collect::<Vec<_>>(),
            [(58 * 60, 3600, 2), (3600, 63 * 60, 6)]
        );
    }

    #[test]
    fn a_long_gap_splits_and_whole_hours_are_filled_when_bridged() {
        let mut f: Fold<&str, u8> = Fold::new(Timing::new(60, None));
        f.observe("a", T0, 1, None);
        f.observe("a", T0 + 600, 2, None); // 10 minutes > 3 minutes: a new presence
        let mut rows = f.finish();
        rows.sort_by_key(|w| w.start);
        assert_eq!(
            rows.iter()
                .map(|w| (w.start - T0, w.end - T0, w.facts))
                .collect::<Vec<_>>(),
            [(0, 60, 1), (600, 660, 2)]
        );

        let mut f: Fold<&str, u8> = Fold::new(Timing::new(3600, Some(3 * 3600)));
        f.observe("a", T0 + 1800, 1, u(2));
        f.observe("a", T0 + 3 * 3600 + 1800, 2, u(4));
        let rows = f.finish();
        assert_eq!(
            rows.iter()
                .map(|w| (w.start - T0, w.end - T0, w.facts, w.cpu_usage.0 / UNIT))
                .collect::<Vec<_>>(),
            [
                (1800, 3600, 1, 2),
                (3600, 7200, 1, 2),
                (7200, 10800, 1, 2),
                (10800, 14400, 2, 4)
            ]
        );
    }

    #[test]
    fn averages_round_half_up_and_usage_free_sightings_do_not_count() {
        assert_eq!(average(Dec18(10), 4), Dec18(3));
        assert_eq!(average(Dec18(10), 3), Dec18(3));
        assert_eq!(average(Dec18(11), 3), Dec18(4));
        assert_eq!(average(Dec18(5), 0), Dec18::ZERO);
        let mut f: Fold<&str, ()> = Fold::new(Timing::new(60, None));
        f.observe("a", T0, (), u(3));
        f.observe("a", T0 + 60, (), None);
        f.observe("a", T0 + 120, (), u(5));
        assert_eq!(f.finish()[0].cpu_usage, Dec18(4 * UNIT));
    }

    #[test]
    fn a_resumed_fold_extends_the_same_window() {
        let timing = Timing::new(60, None);
        let mut f: Fold<String, u8> = Fold::new(timing);
        f.observe("a".into(), T0 + 60, 1, u(2));
        let first = f.take_windows();
        assert_eq!((first[0].start, first[0].end), (T0 + 60, T0 + 120));
        f.forget_before(T0 + 60);
        let kept: Vec<(String, Segment<u8>)> =
            f.segments().map(|(k, s)| (k.clone(), s.clone())).collect();
        let mut g = Fold::resume(timing, kept);
        g.observe("a".into(), T0 + 120, 2, u(4));
        let second = g.take_windows();
        assert_eq!(second.len(), 1);
        assert_eq!(
            (second[0].start, second[0].end, second[0].facts),
            (T0 + 60, T0 + 180, 2)
        );
        assert_eq!(second[0].cpu_usage, Dec18(3 * UNIT));
        // Not seen for longer than the gap: forgotten, nothing re-emitted.
        g.forget_before(T0 + 400);
        assert_eq!(g.segments().count(), 0);
        assert!(g.take_windows().is_empty());
    }
}
