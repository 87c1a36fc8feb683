//! Rate phases (the open model), judged at the demo shop: each phase's rate and
//! mix, the boundaries between them, how arrivals are spread, and iterations
//! dropped when the pool can't keep up, counted exactly.

use crate::common;

use common::*;

/// A template whose users name their type in each request, for the shop.
fn template() -> String {
    tagging_template(&["Normal", "Weekend"])
}

/// One rate phase: (duration s, iterations/s, extra fields, [(type, ratio)]).
fn rate_phase(duration: u32, per_s: u32, extra: &str, types: &[(&str, u32)]) -> String {
    let mut p =
        format!("phases {{\n  duration: {duration}\n  requests_per_s: {per_s}\n  {extra}\n");
    for (name, ratio) in types {
        p.push_str(&format!(
            "  user_types {{ name: \"{name}\" ratio: {ratio} }}\n"
        ));
    }
    p.push_str("}\n");
    p
}

/// Runs `config` against `shop` with `extra` flags; the summary.
fn summary_of(
    tag: &str,
    shop: &Shop,
    config: &str,
    run_time: &str,
    extra: &[&str],
) -> serde_json::Value {
    let files = LoadFiles::new(config, &template());
    Loadgen::run(tag, files.config(), &shop.host())
        .run_time(run_time)
        .args(["--user-class", "fast"])
        .report(&files.path("report"))
        .args(extra)
        .success()
        .summary()
}

/// Requests of each type at the shop in [from, to) (epoch seconds).
fn by_type(log: &[Logged], from: f64, to: f64) -> (u64, u64) {
    let mut counts = (0, 0);
    for r in log.iter().filter(|r| r.at >= from && r.at < to) {
        match r.user_type.as_deref() {
            Some("Normal") => counts.0 += 1,
            Some("Weekend") => counts.1 += 1,
            _ => {}
        }
    }
    counts
}

/// Where the rate really changed at a planned boundary `at` (epoch seconds),
/// from the shop's count in the second around it: with the old rate before the
/// change and the new one after, `count = (0.5 + d) old + (0.5 - d) new`.
fn boundary_offset(log: &[Logged], at: f64, old: f64, new: f64) -> f64 {
    let (n, w) = by_type(log, at - 0.5, at + 0.5);
    let count = (n + w) as f64;
    (count - 0.5 * (old + new)) / (old - new)
}

/// 200, 800 and 400 iterations/s with the mix changing: each phase's rate
/// within 2% at the shop, its mix within 2 points, each boundary within 0.1 s.
fn three_rates(tag: &str, extra: &[&str]) {
    let shop = Shop::start_slow("0");
    // Pools for a shop that answers at once (starting the default, a second
    // of iterations, costs a process about a second of CPU at 800/s).
    let config = [
        rate_phase(5, 200, "max_users: 40", &[("Normal", 1), ("Weekend", 1)]),
        rate_phase(5, 800, "max_users: 100", &[("Normal", 3), ("Weekend", 1)]),
        rate_phase(5, 400, "max_users: 80", &[("Normal", 1), ("Weekend", 3)]),
    ]
    .concat();
    let summary = summary_of(tag, &shop, &config, "15s", extra);
    let log = shop.requests();
    let phases = summary["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3, "{summary}");
    let planned = [(200.0, 0.5), (800.0, 0.75), (400.0, 0.25)];
    for (p, &(rate, normal_share)) in phases.iter().zip(&planned) {
        let (from, to) = occurrence_times(p);
        let (n, w) = by_type(&log, from, to);
        let delivered = (n + w) as f64 / (to - from);
        let share = n as f64 / (n + w).max(1) as f64;
        eprintln!(
            "phase {}: {delivered:.1} of {rate} req/s at the shop, Normal {:.1}% (planned {:.0}%)",
            p["phase"],
            share * 100.0,
            normal_share * 100.0
        );
        assert!(
            (delivered / rate - 1.0).abs() <= 0.02,
            "phase {}: {delivered:.1} req/s at the shop for {rate} planned",
            p["phase"]
        );
        assert!(
            (share - normal_share).abs() <= 0.02,
            "phase {}: Normal's share {share:.3}, planned {normal_share}",
            p["phase"]
        );
    }
    for i in 1..3 {
        let (at, _) = occurrence_times(&phases[i]);
        let d = boundary_offset(&log, at, planned[i - 1].0, planned[i].0);
        eprintln!("boundary {i}: the rate changed {:+.3} s from the plan", d);
        assert!(d.abs() <= 0.1, "boundary {i} moved {d:+.3} s");
    }
}

#[test]
fn rate_phases_hold_their_rates_mixes_and_boundaries() {
    three_rates("open-local", &["--workers", "1"]);
}

#[test]
fn rate_phases_hold_with_two_workers() {
    three_rates("open-workers", &["--workers", "2"]);
}

/// The coefficient of variation of the gaps between consecutive requests'
/// arrivals at the shop.
fn gaps_cv(log: &[Logged], from: f64, to: f64) -> f64 {
    let mut times: Vec<f64> = log
        .iter()
        .filter(|r| r.arrived_at >= from && r.arrived_at < to)
        .map(|r| r.arrived_at)
        .collect();
    times.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
    var.sqrt() / mean
}

#[test]
fn poisson_arrivals_are_random_and_uniform_ones_even() {
    let shop = Shop::start_slow("0");
    let config = [
        rate_phase(4, 200, "", &[("Normal", 1)]),
        rate_phase(12, 200, "arrival: POISSON", &[("Normal", 1)]),
    ]
    .concat();
    let summary = summary_of("open-poisson", &shop, &config, "16s", &[]);
    let log = shop.requests();
    let phases = summary["phases"].as_array().expect("phases");
    let (u_from, u_to) = occurrence_times(&phases[0]);
    let (p_from, p_to) = occurrence_times(&phases[1]);
    let uniform = gaps_cv(&log, u_from + 0.5, u_to - 0.5);
    let poisson = gaps_cv(&log, p_from + 0.5, p_to - 0.5);
    let (n, _) = by_type(&log, p_from, p_to);
    eprintln!("gaps' CV: uniform {uniform:.3}, poisson {poisson:.3}; poisson {n} requests in 12 s");
    assert!(
        uniform < 0.5,
        "uniform arrivals' gaps vary: CV {uniform:.3}"
    );
    assert!(
        (poisson - 1.0).abs() <= 0.1,
        "poisson arrivals' gaps: CV {poisson:.3}"
    );
    // 2,400 expected; a Poisson count's standard deviation is 49: within
    // five (a miss 6e-7 by chance alone, where four was 6e-5).
    assert!(
        (n as f64 - 2400.0).abs() <= 5.0 * 49.0,
        "{n} poisson arrivals for 2,400"
    );
}

#[test]
fn iterations_the_pool_cannot_start_are_dropped_said_and_counted() {
    // 100 iterations/s of 200 ms each need 20 users; the pool has 10.
    let shop = Shop::start_slow("200");
    let config = rate_phase(10, 100, "max_users: 10", &[("Normal", 1)]);
    let summary = summary_of("open-dropped", &shop, &config, "10s", &[]);
    let served = shop.total_requests();
    let dropped = summary["total"]["dropped_iterations"]
        .as_u64()
        .unwrap_or_else(|| panic!("no dropped_iterations in {}", summary["total"]));
    let planned = 100 * 10;
    eprintln!(
        "served {served} + dropped {dropped} = {} of {planned} planned",
        served + dropped
    );
    assert!(
        served < 700,
        "the pool should not carry the rate: {served} served"
    );
    let accounted = (served + dropped) as f64;
    assert!(
        (accounted / planned as f64 - 1.0).abs() <= 0.01,
        "served {served} + dropped {dropped} is not the {planned} planned"
    );
    let said = summary["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "dropping")
        .unwrap_or_else(|| panic!("dropping never said: {}", summary["events"]));
    let at = said["at_s"].as_f64().expect("at_s");
    eprintln!("dropping said {at:.1} s into the run");
    // The backlog passes the 1 s grace after about a second; said within 5 s.
    assert!(at <= 5.0, "dropping said at {at:.1} s");
    assert!(
        said["detail"].as_str().unwrap_or("").contains("max_users"),
        "{said}"
    );
}

/// The p99 of how long the shop held the requests that arrived in [from, to)
/// (from their arrival to their answer), in ms.
fn held_p99_ms(log: &[Logged], from: f64, to: f64) -> f64 {
    let mut held: Vec<f64> = log
        .iter()
        .filter(|r| r.arrived_at >= from && r.arrived_at < to)
        .map(|r| (r.t - r.arrived) * 1000.0)
        .collect();
    held.sort_by(f64::total_cmp);
    held.get(held.len() * 99 / 100).copied().unwrap_or(0.0)
}

#[test]
fn a_stalling_target_shows_in_the_latency_from_the_intended_start() {
    // The shop freezes for the last second of every 5 s, as a backend that
    // pauses (a GC, a lock): the same shop for an open and a closed run.
    let shop = Shop::start_stalling("5s/1s");
    // 11 s: at least two stalls begin early enough to be answered within the
    // run, whatever the run's offset from the shop's start (each holds about
    // 1% of the run's requests 0.9 s or more: two put the p99 past 900 ms).
    let open = rate_phase(11, 200, "max_users: 400", &[("Normal", 1)]);
    let summary = summary_of("open-stall", &shop, &open, "11s", &[]);
    let log = shop.requests();
    let (from, to) = occurrence_times(&summary["phases"][0]);
    // Requests sent up to 1.5 s before the end were all answered (a stall
    // lasts 1 s): counted by when they reached the shop.
    let span = (to - 1.5) - from;
    let sent = log
        .iter()
        .filter(|r| r.arrived_at >= from && r.arrived_at < to - 1.5)
        .count() as f64;
    let total = &summary["total"]["total"];
    let corrected = total["intended"]["p99_ms"].as_u64().expect("intended p99");
    let response = total["p99_ms"].as_u64().expect("p99");

    // The shop's own view: how long it held the open run's requests.
    let open_held = held_p99_ms(&log, from, to);

    let closed = phase(7, 2, 2, &[("Normal", 1, 5, 5)]);
    let closed_summary = summary_of("closed-stall", &shop, &closed, "7s", &[]);
    let (closed_from, closed_to) = occurrence_times(&closed_summary["phases"][0]);
    let closed_held = held_p99_ms(&shop.requests(), closed_from, closed_to);
    let closed_p99 = closed_summary["total"]["total"]["p99_ms"]
        .as_u64()
        .expect("p99");
    eprintln!(
        "stalling shop: open {sent} requests in {span:.1} s ({:.1}/s of 200), p99 {response} ms \
         response, {corrected} ms from intended start; closed p99 {closed_p99} ms; the shop \
         held the open run's p99 {open_held:.0} ms, the closed run's {closed_held:.0} ms",
        sent / span
    );
    // The shop saw what each run says: the open run's requests held through
    // the stalls, the closed run's too few to reach its p99.
    assert!(
        open_held >= 900.0,
        "the shop held the open run's p99 {open_held:.0} ms"
    );
    assert!(
        corrected as f64 + 20.0 >= open_held,
        "from intended start {corrected} ms is less than the shop held ({open_held:.0} ms)"
    );
    assert!(
        closed_held <= 50.0,
        "the shop held the closed run's p99 {closed_held:.0} ms"
    );
    assert!(
        (sent / span / 200.0 - 1.0).abs() <= 0.02,
        "the stalls thinned the open load: {:.1} req/s",
        sent / span
    );
    assert!(corrected >= 900, "p99 from intended start {corrected} ms");
    assert!(
        closed_p99 <= 50,
        "the closed run's p99 is {closed_p99} ms: it should hide the stalls"
    );
    assert!(
        total["intended"]["p99_ms"] != serde_json::Value::Null
            && closed_summary["total"]["total"]["intended"].is_null(),
        "a closed run has no latency from an intended start"
    );
}

#[test]
fn a_type_leaving_a_rate_phase_stops_and_one_going_back_to_users_runs_by_its_waits() {
    let shop = Shop::start_slow("0");
    let config = [
        rate_phase(4, 300, "max_users: 40", &[("Normal", 1), ("Weekend", 1)]),
        rate_phase(4, 200, "max_users: 20", &[("Weekend", 1)]),
        phase(4, 2, 100, &[("Normal", 1, 100, 100)]),
    ]
    .concat();
    let summary = summary_of("open-leave", &shop, &config, "12s", &[]);
    let log = shop.requests();
    let phases = summary["phases"].as_array().expect("phases");
    let (b1, _) = occurrence_times(&phases[1]);
    let (b2, end) = occurrence_times(&phases[2]);
    // Normal has no part in phase 2: its users stop at once, sending nothing
    // (released to their waits, users of a rate phase would send unpaced).
    let (normal, weekend) = by_type(&log, b1 + 0.1, b2);
    eprintln!("phase 2: Normal {normal}, Weekend {weekend} requests");
    assert!(
        normal <= 2,
        "Normal sent {normal} requests in a phase without it"
    );
    let rate = weekend as f64 / (b2 - b1 - 0.1);
    assert!(
        (rate / 200.0 - 1.0).abs() <= 0.02,
        "Weekend {rate:.1}/s of 200"
    );
    // Phase 3: 2 Normal users waiting 100 ms (about 20/s), Weekend none.
    let (normal, weekend) = by_type(&log, b2 + 0.5, end);
    let rate = normal as f64 / (end - b2 - 0.5);
    eprintln!("phase 3: Normal {rate:.1}/s, Weekend {weekend} requests");
    assert!(
        weekend <= 2,
        "Weekend sent {weekend} requests in a phase without it"
    );
    assert!(
        (15.0..=21.0).contains(&rate),
        "2 users waiting 100 ms sent {rate:.1}/s"
    );
}
