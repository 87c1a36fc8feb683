//! The protocol's types against the golden file, `tests/protocol.jsonl`.

use super::*;
use serde_json::Value;

/// The golden file: one example of every message, read by both sides.
const GOLDEN: &str = include_str!("../../tests/protocol.jsonl");

fn golden(kind: &str) -> Vec<Value> {
    GOLDEN
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| serde_json::from_str::<Value>(l).expect("golden lines are JSON"))
        .filter(|v| v["kind"] == kind)
        .map(|v| v["message"].clone())
        .collect()
}

fn common() -> Common {
    Common {
        locustfile: PathBuf::from("/tmp/loadgen-x/locustfile.py"),
        host: Some("http://127.0.0.1:8080".into()),
        user_classes: vec!["NormalUser".into(), "WeekendUser".into()],
        class_names: BTreeMap::from([("WeekendUser".into(), "Weekend".into())]),
        base_dir: Some(PathBuf::from("/home/me/load")),
        locust_args: vec!["--tags".into(), "checkout".into()],
        sample_interval: 0.5,
        stop_drain: 0.5,
        trace: TraceSetup {
            traceparent: true,
            baggage: true,
            sample_ratio: 0.01,
            baggage_prefix: "loadgen.".into(),
            run_id: "5f0c2a9e41d7b3c8".into(),
            user_types: BTreeMap::from([
                ("NormalUser".into(), "Normal".into()),
                ("WeekendUser".into(), "Weekend".into()),
            ]),
        },
        verbose: false,
    }
}

#[test]
fn setups_are_written_exactly_as_the_golden_file_says() {
    let built = [
        Setup::local(common()),
        Setup::master(
            common(),
            "127.0.0.1".into(),
            5557,
            2,
            85.0,
            3,
            Some(ClusterKey::new("0123456789abcdef0123456789abcdef").unwrap()),
        ),
        Setup::worker(common(), "127.0.0.1".into(), 5557, None),
        Setup::check(common()),
    ];
    let golden = golden("setup");
    assert_eq!(golden.len(), built.len(), "one golden setup per role");
    for (setup, expected) in built.iter().zip(&golden) {
        assert_eq!(&serde_json::to_value(setup).unwrap(), expected);
        let read: Setup = serde_json::from_value(expected.clone()).unwrap();
        assert_eq!(&read, setup);
    }
}

#[test]
fn a_cluster_key_is_long_enough_trimmed_random_and_never_shown() {
    let key = ClusterKey::new("  correct horse battery staple\n").unwrap();
    assert_eq!(key.reveal(), "correct horse battery staple");
    assert_eq!(format!("{key:?}"), "ClusterKey(redacted)");
    let setup = Setup::worker(common(), "h".into(), 1, Some(key));
    assert!(!format!("{setup:?}").contains("horse"), "{setup:?}");
    let short = ClusterKey::new("hunter2").unwrap_err();
    assert!(
        short.contains("at least 16 characters (this one has 7)")
            && short.contains("loadgen cluster-key"),
        "{short}"
    );
    let (a, b) = (ClusterKey::random(), ClusterKey::random());
    assert_eq!(a.reveal().len(), 64);
    assert!(a.reveal().chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[test]
fn commands_are_written_exactly_as_the_golden_file_says() {
    let built = [
        Command::Targets {
            occurrence: 4,
            phase: PhaseTag {
                number: 2,
                name: "weekend rush".into(),
                loop_number: 1,
            },
            users: [("NormalUser".into(), 33), ("WeekendUser".into(), 67)].into(),
            waits: [("NormalUser".into(), (1.0, 2.0))].into(),
            ramp_to: [("NormalUser".into(), 50), ("WeekendUser".into(), 100)].into(),
            rates: [(
                "WeekendUser".into(),
                RateTarget {
                    per_s: 250.5,
                    arrival: Arrival::Poisson,
                    ramp_s: 10.0,
                    since: 1764354000.0,
                },
            )]
            .into(),
        },
        Command::Flush,
        Command::Stop,
    ];
    let golden = golden("command");
    assert_eq!(golden.len(), built.len(), "one golden line per command");
    for (command, expected) in built.iter().zip(&golden) {
        assert_eq!(&serde_json::to_value(command).unwrap(), expected);
    }
}

#[test]
fn every_golden_event_is_read_and_nothing_is_lost() {
    let golden = golden("event");
    let mut seen = std::collections::BTreeSet::new();
    for line in &golden {
        let event: Event =
            serde_json::from_value(line.clone()).unwrap_or_else(|e| panic!("{line}: {e}"));
        // Reading and writing back gives the same object: every field is modelled.
        assert_eq!(&serde_json::to_value(&event).unwrap(), line);
        seen.insert(line["ev"].as_str().unwrap().to_string());
    }
    let all = [
        "ready",
        "sample",
        "warning",
        "fatal",
        "imported",
        "users_at_end",
        "quit",
        "stopped",
    ];
    assert_eq!(seen, all.iter().map(|s| s.to_string()).collect());
}

#[test]
fn an_unknown_or_missing_field_is_refused() {
    let extra = r#"{"ev":"stopped","reason":"asked","surprise":1}"#;
    assert!(serde_json::from_str::<Event>(extra).is_err());
    let missing = r#"{"ev":"ready","locust_version":"2.47.0","python":"3.11","pid":1}"#;
    assert!(serde_json::from_str::<Event>(missing).is_err());
}
