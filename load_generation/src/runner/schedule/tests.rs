//! The schedule's unit tests: each control action and boundary, and any
//! sequence of them (a property test), with no Locust.

use super::*;
use crate::diagnostic::SourceText;

/// Two phases: 10 s of 10 A at 10/s, then 5 s of 4 A + 4 B at 2/s.
fn plan() -> Plan {
    let text = r#"
        phases { duration: 10 num_users: 10 hatch_rate_per_s: 10
                 user_types { name: "A" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 } }
        phases { duration: 5 num_users: 8 hatch_rate_per_s: 2
                 user_types { name: "A" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 }
                 user_types { name: "B" ratio: 1 min_wait_ms: 300 max_wait_ms: 300 } }
        "#;
    let loaded = crate::config::parse(SourceText::new("load.pbtxt", text.to_string()));
    Plan::new(&loaded.expect("a valid config").config)
}

fn at(start: Instant, ms: u64) -> Instant {
    start + Duration::from_millis(ms)
}

fn users(tick: &Tick) -> Option<Vec<u32>> {
    match &tick.send {
        Some(Command::Targets { users, .. }) => Some(users.values().copied().collect()),
        _ => None,
    }
}

#[test]
fn the_first_phase_ramps_from_zero_at_its_hatch_rate() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    assert_eq!(s.first().slot.phase_index, 0);
    assert_eq!(users(&s.tick(t0)), Some(vec![0, 0]));
    assert_eq!(users(&s.tick(at(t0, 500))), Some(vec![5, 0]));
    // Nothing changed: nothing to send.
    assert_eq!(s.tick(at(t0, 550)), Tick::default());
    assert_eq!(users(&s.tick(at(t0, 1000))), Some(vec![10, 0]));
    assert!(!s.settled(at(t0, 1000), Duration::from_secs(1)));
    assert!(s.settled(at(t0, 2000), Duration::from_secs(1)));
}

#[test]
fn a_boundary_starts_a_new_occurrence_at_its_scheduled_time() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 9_950));
    // The tick that sees phase 2 comes 80 ms late; the ramp still starts at 10 s.
    let tick = s.tick(at(t0, 10_080));
    let boundary = tick.boundary.expect("phase 2 began");
    assert_eq!(boundary.slot.phase_index, 1);
    assert_eq!(boundary.occurrence, Occurrence(1));
    assert_eq!(boundary.at, at(t0, 10_000));
    assert_eq!(boundary.targets, vec![4, 4]);
    // 10 -> (4, 4) is 6 stops and 4 spawns: 3 s at 2/s; after 1 s, a third.
    assert_eq!(users(&s.tick(at(t0, 11_000))), Some(vec![8, 1]));
    match s.command() {
        Command::Targets {
            occurrence,
            waits,
            ramp_to,
            ..
        } => {
            assert_eq!(occurrence, 1);
            assert_eq!(waits["BUser"], (0.3, 0.3));
            // Mid-ramp, the command names where the ramp ends: the phase's users.
            assert_eq!(ramp_to.values().copied().collect::<Vec<_>>(), vec![4, 4]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_loop_is_woken_at_each_ramp_step_and_at_the_next_boundary() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(t0);
    // Ramping 0 -> 10 at 10/s: a user each 100 ms, each due half a ms late.
    let due = s.next_change(at(t0, 330)).expect("a step");
    assert_eq!(due, at(t0, 400) + Duration::from_micros(500));
    assert_eq!(users(&s.tick(due)), Some(vec![4, 0]));
    s.tick(at(t0, 1_001));
    assert_eq!(s.commanded(), &vec![10, 0]);
    // Ramped: the next thing is phase 2, at 10 s, met on time.
    assert_eq!(s.next_change(at(t0, 1_001)), Some(at(t0, 10_000)));
    assert!(s.tick(at(t0, 10_000)).boundary.is_some());
    // Its ramp moves at 2/s: the first move 500 ms in.
    assert_eq!(
        s.next_change(at(t0, 10_000)),
        Some(at(t0, 10_500) + Duration::from_micros(500))
    );
    s.tick(at(t0, 13_001));
    assert_eq!(s.commanded(), &vec![4, 4]);
    // Then the next loop's phase 1 at 15 s; paused, nothing is due.
    assert_eq!(s.next_change(at(t0, 13_001)), Some(at(t0, 15_000)));
    s.pause(at(t0, 14_000)).expect("pause");
    assert_eq!(s.next_change(at(t0, 14_000)), None);
}

#[test]
fn a_fast_ramp_moves_every_10_ms_not_every_user() {
    let text = r#"
        phases { duration: 10 num_users: 40 hatch_rate_per_s: 1000
                 user_types { name: "A" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 } }
        "#;
    let loaded = crate::config::parse(SourceText::new("load.pbtxt", text.to_string()));
    let mut s = Schedule::new(
        Plan::new(&loaded.expect("valid").config),
        at(Instant::now(), 0),
    );
    let t0 = s.first().at;
    s.tick(t0);
    let mut now = t0;
    let mut moves = Vec::new();
    while let Some(due) = s.next_change(now).filter(|&d| d < at(t0, 1_000)) {
        assert!(
            due >= now + MIN_STEP,
            "{due:?} is sooner than 10 ms after {now:?}"
        );
        now = due;
        moves.push(users(&s.tick(now)).expect("a move")[0]);
    }
    // 40 users in 40 ms: 4 moves of about 10.
    assert_eq!(moves.last(), Some(&40), "{moves:?}");
    assert!(moves.len() <= 5, "{moves:?}");
}

#[test]
fn loops_continue_from_the_run_start_without_drift() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    let mut boundaries = Vec::new();
    for ms in (0..=60_000).step_by(100) {
        if let Some(b) = s.tick(at(t0, ms)).boundary {
            boundaries.push((b.slot.loop_index, b.slot.phase_index, b.at));
        }
    }
    // Loops of 15 s: phase 2 at 10 s, phase 1 of loop 2 at 15 s, ...
    assert_eq!(boundaries.len(), 8);
    assert_eq!(boundaries[0], (0, 1, at(t0, 10_000)));
    assert_eq!(boundaries[1], (1, 0, at(t0, 15_000)));
    assert_eq!(boundaries[6], (3, 1, at(t0, 55_000)));
    assert_eq!(boundaries[7], (4, 0, at(t0, 60_000)));
    assert!(matches!(
        s.command(),
        Command::Targets { occurrence: 8, .. }
    ));
}

#[test]
fn a_restart_ramps_back_to_the_current_phase_from_now() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 3_000));
    assert_eq!(s.commanded(), &vec![10, 0]);
    s.restart(at(t0, 4_000));
    assert_eq!(s.commanded(), &vec![0, 0]);
    assert_eq!(users(&s.tick(at(t0, 4_000))), Some(vec![0, 0]));
    assert_eq!(users(&s.tick(at(t0, 4_500))), Some(vec![5, 0]));
    assert_eq!(users(&s.tick(at(t0, 5_000))), Some(vec![10, 0]));
    // The same occurrence goes on.
    assert!(matches!(
        s.command(),
        Command::Targets { occurrence: 0, .. }
    ));
}

#[test]
fn an_identical_count_is_sent_again_after_a_restart() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 2_000));
    s.restart(at(t0, 2_000));
    // The new Locust has no users yet: even zero must be sent to it.
    assert!(s.tick(at(t0, 2_000)).send.is_some());
}

#[test]
fn a_jump_starts_the_phase_now_and_the_schedule_goes_on_from_there() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 3_000));
    s.jump(1, at(t0, 3_000)).unwrap();
    let tick = s.tick(at(t0, 3_050));
    let b = tick.boundary.expect("a new occurrence");
    assert_eq!((b.slot.loop_index, b.slot.phase_index), (0, 1));
    // It ramps from now at phase 2's hatch rate (2/s): 1 s in, a third of 6.
    assert_eq!(b.at, at(t0, 3_050));
    assert_eq!(users(&s.tick(at(t0, 4_050))), Some(vec![8, 1]));
    // Phase 2 lasts 5 s from the jump, then loop 2 begins.
    assert!(s.tick(at(t0, 7_900)).boundary.is_none());
    let next = s.tick(at(t0, 8_100)).boundary.expect("loop 2");
    assert_eq!((next.slot.loop_index, next.slot.phase_index), (1, 0));
    assert_eq!(next.at, at(t0, 8_000));
}

#[test]
fn jumping_back_goes_to_the_next_loop_and_a_bad_phase_is_refused() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 11_000));
    assert_eq!(s.slot().phase_index, 1);
    s.next(at(t0, 11_000)).unwrap();
    let b = s.tick(at(t0, 11_000)).boundary.unwrap();
    assert_eq!((b.slot.loop_index, b.slot.phase_index), (1, 0));
    assert_eq!(s.jump(2, at(t0, 11_000)), Err(Refused::NoSuchPhase(3, 2)));
}

#[test]
fn a_pause_stops_every_user_and_holds_the_clock() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 2_000));
    s.pause(at(t0, 2_000)).unwrap();
    assert_eq!(s.pause(at(t0, 2_000)), Err(Refused::AlreadyPaused));
    assert_eq!(users(&s.tick(at(t0, 2_100))), Some(vec![0, 0]));
    // A minute later the schedule is where the pause left it.
    let tick = s.tick(at(t0, 62_000));
    assert!(tick.boundary.is_none());
    assert_eq!(s.position(at(t0, 62_000)), Duration::from_secs(2));
    assert!(!s.settled(at(t0, 62_000), Duration::ZERO));
    s.resume(at(t0, 62_000)).unwrap();
    assert_eq!(users(&s.tick(at(t0, 62_500))), Some(vec![5, 0]));
    // Phase 1 had 8 s left: phase 2 begins 8 s after the resume.
    assert!(s.tick(at(t0, 69_900)).boundary.is_none());
    assert_eq!(s.tick(at(t0, 70_100)).boundary.unwrap().at, at(t0, 70_000));
    assert_eq!(s.resume(at(t0, 70_100)), Err(Refused::NotPaused));
}

#[test]
fn scaling_keeps_the_mix_and_applies_to_later_phases() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 2_000));
    s.scale(1.5).unwrap();
    let b = s.tick(at(t0, 2_000)).boundary.unwrap();
    assert_eq!(b.targets, vec![15, 0]);
    assert_eq!(b.slot.phase_index, 0, "the same phase, a new occurrence");
    assert_eq!(users(&s.tick(at(t0, 2_500))), Some(vec![15, 0]));
    assert_eq!(s.tick(at(t0, 10_000)).boundary.unwrap().targets, vec![6, 6]);
    assert_eq!(s.scale(-1.0), Err(Refused::BadScale(-1.0)));
    assert!(s.scale(f64::NAN).is_err());
}

#[test]
fn a_new_plan_takes_over_at_the_same_position() {
    let t0 = Instant::now();
    let mut s = Schedule::new(plan(), t0);
    s.tick(at(t0, 4_000));
    let text = r#"
        phases { duration: 10 num_users: 30 hatch_rate_per_s: 100
                 user_types { name: "C" ratio: 1 min_wait_ms: 100 max_wait_ms: 100 } }
        "#;
    let loaded = crate::config::parse(SourceText::new("load.pbtxt", text.to_string()));
    let config = loaded.expect("a valid config").config;
    let old = s.plan().user_types.clone();
    s.replace_plan(Plan::build(&config, &old, false), at(t0, 4_000));
    let b = s.tick(at(t0, 4_000)).boundary.expect("a new occurrence");
    assert_eq!(b.targets, vec![0, 0, 30], "A and B keep their places");
    assert_eq!(users(&s.tick(at(t0, 5_000))), Some(vec![0, 0, 30]));
    // The new plan's 10 s phase began at schedule time 0: it ends at 10 s.
    assert_eq!(s.tick(at(t0, 10_050)).boundary.unwrap().slot.loop_index, 1);
}

/// What the control API can ask, in any order at any time (the fuzzing of
/// control requests, as a property): the schedule never panics, never runs
/// users while paused, never commands more than the scaled plan's largest
/// phase (or, ramping down to it, than it commanded before), never goes
/// back in time, and numbers occurrences upwards.
#[derive(Debug, Clone)]
enum Call {
    Jump(usize),
    Next,
    Pause,
    Resume,
    Scale(f64),
    Restart,
}

fn call() -> impl proptest::strategy::Strategy<Value = Call> {
    use proptest::prelude::*;
    prop_oneof![
        (0usize..4).prop_map(Call::Jump),
        Just(Call::Next),
        Just(Call::Pause),
        Just(Call::Resume),
        prop_oneof![
            -1.0f64..101.0,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(0.0),
            Just(100.0)
        ]
        .prop_map(Call::Scale),
        Just(Call::Restart),
    ]
}

proptest::proptest! {
    #[test]
    fn any_sequence_of_control_calls_keeps_the_schedule_sane(
        calls in proptest::collection::vec((0u64..3_000, call()), 1..40),
    ) {
        let t0 = Instant::now();
        let mut s = Schedule::new(plan(), t0);
        let mut now = t0;
        let mut position = Duration::ZERO;
        let mut occurrence = 0;
        let mut before = 0;
        s.tick(now);
        for (advance_ms, call) in calls {
            now += Duration::from_millis(advance_ms);
            let refused = match call {
                Call::Jump(n) => s.jump(n, now).is_err(),
                Call::Next => s.next(now).is_err(),
                Call::Pause => s.pause(now).is_err(),
                Call::Resume => s.resume(now).is_err(),
                Call::Scale(f) => s.scale(f).is_err(),
                Call::Restart => {
                    s.restart(now);
                    false
                }
            };
            if let Call::Jump(n) = call {
                proptest::prop_assert_eq!(refused, n >= 2, "jump to {}", n);
            }
            let tick = s.tick(now);
            if let Some(b) = &tick.boundary {
                proptest::prop_assert!(b.occurrence.0 > occurrence, "occurrence numbers go up");
                occurrence = b.occurrence.0;
                proptest::prop_assert!(b.slot.phase_index < 2);
            }
            let largest = (0..2).map(|i| s.targets(i).iter().sum::<u32>()).max().unwrap_or(0);
            let commanded: u32 = s.commanded.iter().sum();
            proptest::prop_assert!(
                commanded <= largest.max(before),
                "{} users commanded, the largest phase has {}, {} before", commanded, largest, before
            );
            before = commanded;
            if s.paused() {
                proptest::prop_assert_eq!(commanded, 0, "users while paused");
            }
            let at = s.position(now);
            proptest::prop_assert!(at >= position, "the schedule went back from {:?} to {:?}", position, at);
            position = at;
            proptest::prop_assert!((0.0..=100.0).contains(&s.scale_factor()));
        }
    }
}

#[test]
fn a_start_at_in_the_future_waits_and_one_in_the_past_gives_the_position() {
    let start_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    assert_eq!(
        Anchor::of(start_at, start_at - Duration::from_millis(1500)),
        Anchor::Ahead(Duration::from_millis(1500))
    );
    assert_eq!(Anchor::of(start_at, start_at), Anchor::At(Duration::ZERO));
    assert_eq!(
        Anchor::of(start_at, start_at + Duration::from_secs(12)),
        Anchor::At(Duration::from_secs(12))
    );
    // --run-time counts from --start-at: a restarted master ends when the first would have.
    let hour = Duration::from_secs(3600);
    assert_eq!(
        run_time_left(start_at, hour, start_at + Duration::from_secs(600)),
        Some(Duration::from_secs(3000))
    );
    assert_eq!(
        run_time_left(start_at, hour, start_at - Duration::from_secs(5)),
        Some(Duration::from_secs(3605))
    );
    assert_eq!(run_time_left(start_at, hour, start_at + hour), None);
    assert_eq!(run_time_left(start_at, hour, start_at + 2 * hour), None);
}

#[test]
fn a_late_start_begins_mid_phase_and_later_boundaries_keep_their_computed_times() {
    // 12 s after the anchor: phase 2 of loop 0 (10..15 s), 3 s of it left.
    let t0 = Instant::now();
    let mut s = Schedule::resuming(plan(), t0, Duration::from_secs(12));
    let first = s.first();
    assert_eq!((first.slot.loop_index, first.slot.phase_index), (0, 1));
    assert_eq!(first.occurrence, Occurrence(0));
    assert_eq!(first.at, t0);
    assert_eq!(first.targets, vec![4, 4]);
    // Its users ramp from zero at its hatch rate (2/s) from now, not all at once.
    assert_eq!(users(&s.tick(t0)), Some(vec![0, 0]));
    assert_eq!(users(&s.tick(at(t0, 1000))), Some(vec![1, 1]));
    assert_eq!(s.position(at(t0, 1000)), Duration::from_secs(13));
    // Phase 1 of loop 1 starts at 15 s after the anchor: 3 s from now.
    s.tick(at(t0, 2_990));
    let tick = s.tick(at(t0, 3_050));
    let boundary = tick.boundary.expect("loop 1 began");
    assert_eq!(
        (boundary.slot.loop_index, boundary.slot.phase_index),
        (1, 0)
    );
    assert_eq!(boundary.at, at(t0, 3_000));
    assert_eq!(boundary.occurrence, Occurrence(1));
    // And loop l's phase k starts at l × 15 s + its offset, whatever the late start.
    let mut s = Schedule::resuming(plan(), t0, Duration::from_millis(52_500));
    assert_eq!(
        (s.first().slot.loop_index, s.first().slot.phase_index),
        (3, 0)
    );
    s.tick(t0);
    let boundary = s.tick(at(t0, 2_600)).boundary.expect("phase 2 of loop 3");
    assert_eq!(
        (boundary.slot.loop_index, boundary.slot.phase_index),
        (3, 1)
    );
    assert_eq!(boundary.at, at(t0, 2_500));
}

#[test]
fn a_start_at_the_anchor_is_the_plain_schedule() {
    let t0 = Instant::now();
    let mut a = Schedule::new(plan(), t0);
    let mut b = Schedule::resuming(plan(), t0, Duration::ZERO);
    for ms in (0..40_000).step_by(250) {
        assert_eq!(a.tick(at(t0, ms)), b.tick(at(t0, ms)), "at {ms} ms");
    }
}

#[test]
fn a_rate_phase_sends_each_types_rate_scaled_with_its_pool_and_no_rate_elsewhere() {
    let text = r#"
        phases { duration: 10 requests_per_s: 40 max_users: 8 arrival: POISSON rate_ramp_s: 2
                 user_types { name: "A" ratio: 1 } user_types { name: "B" ratio: 3 } }
        phases { duration: 5 num_users: 2 hatch_rate_per_s: 2
                 user_types { name: "A" ratio: 1 min_wait_ms: 100 max_wait_ms: 100 } }
        "#;
    let loaded = crate::config::parse(SourceText::new("load.pbtxt", text.to_string()));
    let t0 = Instant::now();
    let mut s = Schedule::new(Plan::new(&loaded.expect("valid").config), t0);
    s.tick(at(t0, 2_000));
    s.scale(2.0).unwrap();
    s.tick(at(t0, 2_000));
    let Command::Targets { rates, ramp_to, .. } = s.command() else {
        panic!("targets")
    };
    let per_s: Vec<f64> = rates.values().map(|r| r.per_s).collect();
    assert_eq!(per_s, vec![20.0, 60.0], "10 and 30 per second, scaled by 2");
    // Paused: every rate held at 0 with the users; resumed, back.
    s.pause(at(t0, 2_000)).unwrap();
    s.tick(at(t0, 2_100));
    let Command::Targets { rates: held, .. } = s.command() else {
        panic!("targets")
    };
    assert!(held.values().all(|r| r.per_s == 0.0), "{held:?}");
    s.resume(at(t0, 2_200)).unwrap();
    s.tick(at(t0, 2_200));
    assert!(rates
        .values()
        .all(|r| r.arrival == crate::plan::Arrival::Poisson && r.ramp_s == 2.0));
    // The pool: 8 users by 1:3 with one each at least (2, 6), scaled by 2.
    assert_eq!(ramp_to.values().copied().collect::<Vec<_>>(), vec![4, 12]);
    // (The pause held the clock 0.2 s: phase 2 begins at 10.2 s.)
    s.tick(at(t0, 10_300));
    let Command::Targets { rates, .. } = s.command() else {
        panic!("targets")
    };
    // B has no user in the phase of users: parked at 0 (its users, stopping,
    // wait for start times that do not come); A runs by its waits.
    let listed: Vec<(&str, f64)> = rates.iter().map(|(c, r)| (c.as_str(), r.per_s)).collect();
    assert_eq!(listed, vec![("BUser", 0.0)]);
}
