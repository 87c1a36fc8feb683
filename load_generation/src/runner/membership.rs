//! Which Locust workers joined, came back, were lost or were replaced between two
//! samples, by name, with the users that move: what a person watching a
//! distributed run needs to read ("worker w2 lost: its 20 users move to the 1
//! still connected"), not only that a count changed.
//!
//! Pure: the run loop feeds it each sample's users per worker (the master's
//! view of the live workers) and keeps every worker it has ever seen, so a
//! worker that comes back is told from a new one.

use std::collections::{BTreeMap, BTreeSet};

/// One change, to be said and kept as a run event.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// `worker_joined`, `worker_rejoined`, `worker_lost` or `worker_replaced`.
    pub kind: &'static str,
    pub detail: String,
}

/// The changes from `before` to `now` (users per live worker), given every
/// worker seen so far (updated here).
pub fn changes(
    before: &BTreeMap<String, u32>,
    now: &BTreeMap<String, u32>,
    seen: &mut BTreeSet<String>,
) -> Vec<Change> {
    let lost: Vec<&String> = before.keys().filter(|w| !now.contains_key(*w)).collect();
    let arrived: Vec<&String> = now.keys().filter(|w| !before.contains_key(*w)).collect();
    let counts = format!("{} connected (was {})", now.len(), before.len());
    let mut out = Vec::new();
    let mut arrived_rest = arrived.as_slice();
    for worker in &lost {
        let users = before.get(*worker).copied().unwrap_or(0);
        // A worker lost and another arriving in the same sample: a replacement
        // (a pod rescheduled, a process restarted under a new id).
        if let Some((new, rest)) = arrived_rest.split_first() {
            arrived_rest = rest;
            out.push(Change {
                kind: "worker_replaced",
                detail: format!(
                    "Locust worker {worker} replaced by {new}{}: {counts}",
                    if seen.contains(*new) { " (back)" } else { "" }
                ),
            });
            continue;
        }
        let remaining = now.len();
        let moves = match (users, remaining) {
            (0, _) => "it ran no users".to_string(),
            (_, 0) => format!("its {users} users have no worker left to run them"),
            (_, 1) => format!("its {users} users move to the 1 still connected"),
            (_, n) => format!("its {users} users move to the {n} still connected"),
        };
        out.push(Change {
            kind: "worker_lost",
            detail: format!("Locust worker {worker} lost ({moves}): {counts}"),
        });
    }
    for worker in arrived_rest {
        let (kind, what) = if seen.contains(*worker) {
            ("worker_rejoined", "came back")
        } else {
            ("worker_joined", "joined")
        };
        out.push(Change {
            kind,
            detail: format!("Locust worker {worker} {what}: {counts}"),
        });
    }
    seen.extend(now.keys().cloned());
    out
}

/// A change in the number of connected workers, before the master has named
/// them: a worker joined (or came back), or was lost (it quit, or missed its
/// heartbeats).
pub fn count_change(before: u32, now: u32) -> Option<Change> {
    let (kind, what, n) = match now.cmp(&before) {
        std::cmp::Ordering::Equal => return None,
        std::cmp::Ordering::Greater => ("worker_joined", "joined", now - before),
        std::cmp::Ordering::Less => ("worker_lost", "lost", before - now),
    };
    Some(Change {
        kind,
        detail: format!(
            "{n} Locust worker{} {what}: {now} connected (was {before})",
            if n == 1 { "" } else { "s" }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
    }

    #[test]
    fn a_lost_worker_is_named_with_the_users_that_move() {
        let mut seen = BTreeSet::new();
        let two = users(&[("w1", 20), ("w2", 20)]);
        assert!(changes(&BTreeMap::new(), &two, &mut seen).len() == 2);
        let c = changes(&two, &users(&[("w1", 40)]), &mut seen);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, "worker_lost");
        assert_eq!(
            c[0].detail,
            "Locust worker w2 lost (its 20 users move to the 1 still connected): 1 connected (was 2)"
        );
        let c = changes(&users(&[("w1", 40)]), &BTreeMap::new(), &mut seen);
        assert!(c[0].detail.contains("no worker left"), "{c:?}");
    }

    #[test]
    fn a_worker_that_comes_back_is_told_from_a_new_one() {
        let mut seen = BTreeSet::new();
        let one = users(&[("w1", 40)]);
        changes(
            &BTreeMap::new(),
            &users(&[("w1", 20), ("w2", 20)]),
            &mut seen,
        );
        let c = changes(&one, &users(&[("w1", 20), ("w2", 0)]), &mut seen);
        assert_eq!(c[0].kind, "worker_rejoined");
        assert_eq!(
            c[0].detail,
            "Locust worker w2 came back: 2 connected (was 1)"
        );
        let c = changes(&one, &users(&[("w1", 20), ("w3", 0)]), &mut seen);
        assert_eq!(c[0].kind, "worker_joined");
    }

    #[test]
    fn lost_and_new_in_one_sample_is_a_replacement() {
        let mut seen = BTreeSet::new();
        let before = users(&[("w1", 20), ("w2", 20)]);
        changes(&BTreeMap::new(), &before, &mut seen);
        let c = changes(&before, &users(&[("w1", 20), ("w9", 0)]), &mut seen);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].kind, "worker_replaced");
        assert_eq!(
            c[0].detail,
            "Locust worker w2 replaced by w9: 2 connected (was 2)"
        );
        assert!(changes(&before, &before, &mut seen).is_empty());
    }
}
