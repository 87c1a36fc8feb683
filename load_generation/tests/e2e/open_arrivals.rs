//! The open model's start times (`loadgen_open.py`'s `Arrivals`), checked in
//! Python on their own: exact counts, changes of rate, ramps, Poisson gaps and
//! dropped start times (tests/data/open/arrivals.py says what each check is).

use crate::common;

use std::process::Command;

use common::*;

#[test]
fn start_times_are_laid_down_exactly_at_the_rate() {
    let _alone = alone(); // timing: not beside a load
    let out = Command::new(locust_python("open-arrivals"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/open/arrivals.py"
        ))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/src/locust"))
        .output()
        .expect("run arrivals.py");
    let said = text(&out.stdout);
    eprintln!("{said}{}", text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("ok: ").count(), 10, "{said}");
}
