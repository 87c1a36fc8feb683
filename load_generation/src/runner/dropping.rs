//! Dropped iterations of rate phases, said as they happen: an iteration that
//! no user of its pool could start within 1 s of its scheduled time is dropped
//! (`loadgen_open.py`), so the target received less than the plan asked for.
//! That is never silent: the first drop is said at the next sample (within a
//! second of the drop), the end once none has been dropped for [`CALM`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::health::Said;
use crate::fmt::int;

/// How long without a dropped iteration before the dropping is said to be over.
const CALM: Duration = Duration::from_secs(5);

/// Whether iterations are being dropped, and how many since it began.
#[derive(Debug, Default)]
pub struct Dropping {
    /// When the first iteration of this episode was dropped, and the last.
    began: Option<Instant>,
    last: Option<Instant>,
    count: u64,
}

impl Dropping {
    pub fn dropping(&self) -> bool {
        self.began.is_some()
    }

    /// Takes a sample's dropped iterations per class; `pool` is the users
    /// per class loadgen asks for now (the rate's pool).
    pub fn observe(
        &mut self,
        now: Instant,
        dropped: &BTreeMap<String, u64>,
        pool: &BTreeMap<String, u32>,
    ) -> Option<Said> {
        let total: u64 = dropped.values().sum();
        if total > 0 {
            self.count += total;
            self.last = Some(now);
            if self.began.is_none() {
                self.began = Some(now);
                let classes: Vec<String> = dropped
                    .iter()
                    .filter(|(_, &n)| n > 0)
                    .map(|(class, &n)| {
                        let users = pool.get(class).copied().unwrap_or(0);
                        format!(
                            "{} of {class} (pool {} users)",
                            int(n),
                            int(u64::from(users))
                        )
                    })
                    .collect();
                return Some(Said {
                    kind: "dropping",
                    detail: format!(
                        "dropping iterations: {} could not start within 1 s of their scheduled time, \
                         every user of their pool being busy: the target answers slower than the pool \
                         carries at this rate, and receives less than the plan. Raise the phase's \
                         `max_users`, or lower its `requests_per_s`; each dropped iteration is counted \
                         in the report.",
                        classes.join(", ")
                    ),
                });
            }
            return None;
        }
        let (began, last) = (self.began?, self.last?);
        if now.saturating_duration_since(last) < CALM {
            return None;
        }
        let said = Said {
            kind: "dropping_ended",
            detail: format!(
                "iterations start on time again: {} dropped over {:.0} s",
                int(self.count),
                last.saturating_duration_since(began).as_secs_f64().max(0.5)
            ),
        };
        *self = Dropping::default();
        Some(said)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_first_drop_is_said_at_once_and_the_end_after_five_calm_seconds() {
        let start = Instant::now();
        let at = |s: f64| start + Duration::from_secs_f64(s);
        let pool = BTreeMap::from([("NormalUser".to_string(), 10)]);
        let mut d = Dropping::default();
        assert_eq!(d.observe(at(0.5), &counts(&[]), &pool), None);
        let said = d
            .observe(at(1.0), &counts(&[("NormalUser", 37)]), &pool)
            .expect("said at the first sample with a drop");
        assert_eq!(said.kind, "dropping");
        assert!(
            said.detail.contains("37 of NormalUser (pool 10 users)"),
            "{}",
            said.detail
        );
        assert!(said.detail.contains("max_users"), "{}", said.detail);
        // Said once while it goes on.
        assert_eq!(
            d.observe(at(1.5), &counts(&[("NormalUser", 40)]), &pool),
            None
        );
        assert!(d.dropping());
        // Calm for less than 5 s: still dropping.
        assert_eq!(d.observe(at(6.0), &counts(&[]), &pool), None);
        let ended = d
            .observe(at(6.5), &counts(&[]), &pool)
            .expect("the end said");
        assert_eq!(ended.kind, "dropping_ended");
        assert!(ended.detail.contains("77 dropped"), "{}", ended.detail);
        assert!(!d.dropping());
        // A new episode is said anew.
        assert!(d
            .observe(at(20.0), &counts(&[("NormalUser", 1)]), &pool)
            .is_some());
    }

    #[test]
    fn a_sample_with_zero_drops_listed_is_no_drop() {
        let mut d = Dropping::default();
        let none = counts(&[("NormalUser", 0)]);
        assert_eq!(d.observe(Instant::now(), &none, &BTreeMap::new()), None);
        assert!(!d.dropping());
    }
}
