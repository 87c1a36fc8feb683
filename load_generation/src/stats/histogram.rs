//! Latencies as Locust buckets them: bounded, and merged exactly (across
//! workers, intervals and folded loops).

use std::collections::BTreeMap;

/// Response times as Locust records them: milliseconds rounded to two significant
/// digits above 100 ms, mapped to how many requests took that long.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram(BTreeMap<u64, u64>);

impl Histogram {
    pub fn add(&mut self, ms: u64, count: u64) {
        if count > 0 {
            *self.0.entry(ms).or_default() += count;
        }
    }

    /// Adds a sample's (ms, count) pairs, as the harness sends them.
    pub fn add_pairs(&mut self, pairs: &[(u64, i64)]) {
        for &(ms, count) in pairs {
            self.add(ms, count.max(0) as u64);
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (&ms, &count) in &other.0 {
            self.add(ms, count);
        }
    }

    /// (response time in ms as Locust rounds it, count), fastest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&ms, &n)| (ms, n))
    }

    pub fn count(&self) -> u64 {
        self.0.values().sum()
    }

    /// The smallest recorded time with at least `q` of the requests at or below it
    /// (Locust's definition); 0 when empty.
    pub fn percentile(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let wanted = ((count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&ms, &c) in &self.0 {
            seen += c;
            if seen >= wanted {
                return ms;
            }
        }
        self.max()
    }

    pub fn max(&self) -> u64 {
        self.0.keys().next_back().copied().unwrap_or(0)
    }
}
