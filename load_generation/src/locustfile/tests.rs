//! Unit tests of the template checks and rendering (`locustfile.rs`).

use std::time::Duration;

use super::render::seconds;
use super::*;
use crate::config;
use crate::diagnostic::Position;
use crate::plan::Plan;

const HIPSTER_TEMPLATE: &str =
    include_str!("../../../applications/hipster_shop/load_generation/locustfile.loadgen.tmpl");

fn hipster() -> (config::LoadConfig, Plan) {
    let text = include_str!("../../../applications/hipster_shop/load_generation/load.pbtxt");
    let config = config::parse(SourceText::new("load.pbtxt", text.to_string()))
        .unwrap()
        .config;
    let plan = Plan::new(&config);
    (config, plan)
}

fn check(text: &str) -> Result<Template, Diagnostics> {
    Template::check(SourceText::new("t.tmpl", text.to_string()), &hipster().0)
}

const BEHAVIORS: &str = "from locust import TaskSet\nclass NormalUserBehavior(TaskSet):\n    pass\nclass WeekendUserBehavior(TaskSet): pass\nclass HolidayUserBehavior(TaskSet): pass\n";

#[test]
fn missing_marker_and_behaviours_are_all_listed() {
    let err = check("from locust import TaskSet\nclass NormalUserBehavior(TaskSet):\n    pass\n")
        .unwrap_err();
    let msgs: Vec<_> = err.0.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("no `{{.Users}}` marker"));
    assert!(msgs[1].contains("class WeekendUserBehavior(TaskSet)"));
    assert!(
        err.0[1]
            .help
            .as_deref()
            .unwrap()
            .starts_with("load.pbtxt:20:"),
        "{:?}",
        err.0[1].help
    );
    assert!(msgs[2].contains("class HolidayUserBehavior(TaskSet)"));
    assert!(err.0[2]
        .help
        .as_deref()
        .unwrap()
        .starts_with("load.pbtxt:37:"));
}

#[test]
fn locust_0x_names_translate_and_what_cannot_is_located() {
    // HttpLocust, task_set and min_wait run as they are (the harness adds
    // them to Locust): no error, one note.
    let text = format!("{BEHAVIORS}class X(HttpLocust):\n    task_set = NormalUserBehavior\n    min_wait = 10  # ms\n{{{{.Users}}}}\n");
    let template = check(&text).unwrap();
    let note = template.legacy_note().unwrap();
    assert!(note.contains("HttpLocust -> HttpUser (line 6)"), "{note}");
    assert!(
        note.contains("task_set -> tasks = [...] (line 7)"),
        "{note}"
    );
    // hatch_rate has no translation: located, with the fix. hatch_complete
    // runs as spawning_complete: said in the note.
    let text = format!("{BEHAVIORS}hatch_rate = 5\nevents.hatch_complete += f\n{{{{.Users}}}}\n");
    let err = check(&text).unwrap_err();
    let got: Vec<_> = err.0.iter().map(|d| d.position.unwrap()).collect();
    assert_eq!(got, vec![Position { line: 6, column: 1 }]);
    assert!(err.0[0].help.as_deref().unwrap().contains("spawn_rate"));
    let text = format!("{BEHAVIORS}events.hatch_complete += f\n{{{{.Users}}}}\n");
    let note = check(&text).unwrap().legacy_note().unwrap();
    assert!(
        note.contains("hatch_complete -> spawning_complete (line 6)"),
        "{note}"
    );
    // A Locust 2 template says nothing.
    let (config, _) = hipster();
    let modern =
        Template::check(SourceText::new("t", HIPSTER_TEMPLATE.to_string()), &config).unwrap();
    assert_eq!(modern.legacy_note(), None);
}

#[test]
fn marker_must_be_alone_and_single() {
    let err = check(&format!("{BEHAVIORS}x = 1 {{{{.Users}}}}\n")).unwrap_err();
    assert!(err.0[0].message.contains("must stand alone"));
    let err = check(&format!("{BEHAVIORS}{{{{.Users}}}}\n{{{{.Users}}}}\n")).unwrap_err();
    assert_eq!(err.0[0].position.unwrap().line, 7);
    assert!(err.0[0].message.contains("more than once"));
}

#[test]
fn an_indented_marker_is_refused_with_the_fix() {
    let err = check(&format!("{BEHAVIORS}if True:\n    {{{{.Users}}}}\n")).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err:?}");
    assert!(err.0[0].message.contains("is indented"));
    assert_eq!(err.0[0].position.unwrap(), Position { line: 7, column: 5 });
    assert!(err.0[0]
        .help
        .as_deref()
        .unwrap()
        .contains("start of its line"));
}

#[test]
fn empty_template_is_explained() {
    let err = check("").unwrap_err();
    assert!(err.0[0].message.contains("no `{{.Users}}`"));
}

#[test]
fn a_config_name_cannot_end_the_header_comment() {
    // Found by the hostile-input tests: a config file named like this ran the
    // print, as Python ends a line at a lone `\r`.
    let (_, plan) = hipster();
    let template = check(&format!("{BEHAVIORS}{{{{.Users}}}}\n")).unwrap();
    let name = "x\rprint('INJECTED')\r#\x0b\0.pbtxt";
    for file in [
        render_for_run(&template, &plan, UserClass::Http, name),
        render_for_phase(&template, &plan, 0, UserClass::Fast, name),
    ] {
        assert!(!file.text.contains(['\r', '\x0b', '\0']));
        let line = file.text.lines().find(|l| l.contains("INJECTED")).unwrap();
        assert!(line.starts_with("# "), "{line:?}");
    }
}

#[test]
fn renders_readable_classes_and_maps_lines_back() {
    let (_, plan) = hipster();
    let template = check(&format!("{BEHAVIORS}{{{{.Users}}}}\nprint('after')\n")).unwrap();
    let file = render_for_phase(&template, &plan, 1, UserClass::Http, "load.pbtxt");
    assert!(file.text.contains(
        "class WeekendUser(HttpUser):\n    weight = 2\n    tasks = [WeekendUserBehavior]\n    wait_time = between(1.0, 1.0)\n"
    ));
    assert!(!file.text.contains("HolidayUser("));
    let after = file
        .text
        .lines()
        .position(|l| l == "print('after')")
        .unwrap()
        + 1;
    assert_eq!(file.origin(after), Origin::Template(7));
    assert_eq!(file.origin(3), Origin::Template(3));
    assert_eq!(file.origin(7), Origin::Generated);
    let run = render_for_run(&template, &plan, UserClass::Fast, "load.pbtxt");
    assert!(run
        .text
        .contains("class HolidayUser(FastHttpUser):\n    weight = 3\n"));
}

#[test]
fn the_hipster_template_checks() {
    let (config, _) = hipster();
    Template::check(SourceText::new("t", HIPSTER_TEMPLATE.to_string()), &config).unwrap();
}

#[test]
fn behaviours_in_docstrings_do_not_count_and_parameters_are_not_old_apis() {
    let text = "from locust import TaskSet\n\"\"\"Example:\nclass WeekendUserBehavior(TaskSet):\n\"\"\"\n\
         def pace(min_wait, max_wait=2):\n    task_set = min_wait\n    return task_set\n\
         class NormalUserBehavior(TaskSet): pass\nclass HolidayUserBehavior(TaskSet): pass\n{{.Users}}\n";
    let err = check(text).unwrap_err();
    let msgs: Vec<_> = err.0.iter().map(|d| d.message.as_str()).collect();
    // Only the docstring's Weekend is missing; the parameters are no old API
    // (and `task_set`, set, is a 0.x name loadgen translates).
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("class WeekendUserBehavior(TaskSet)"),
        "{msgs:?}"
    );
}

#[test]
fn imported_names_are_found() {
    let names: Vec<_> = imported_names("from users import (WebsiteUser, Api as ApiUser,").collect();
    assert_eq!(names, ["WebsiteUser", "ApiUser"]);
    assert_eq!(imported_names("import os").count(), 0);
}

#[test]
fn seconds_are_python_floats() {
    assert_eq!(seconds(Duration::from_millis(1000)), "1.0");
    assert_eq!(seconds(Duration::from_millis(250)), "0.25");
    assert_eq!(seconds(Duration::ZERO), "0.0");
}
