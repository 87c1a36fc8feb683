//! `loadgen check` imports the locustfile in Locust's own Python (no load): what
//! only Python sees (a syntax error, a missing module, a misspelt name at the top
//! level, a class that is no User) is reported then, at the user's file, line and
//! column (a template's own line, not its rendering's), never as a traceback.

use crate::common;

use std::time::Duration;

use common::*;

const CONFIG: &str = r#"phases { duration: 5 num_users: 2 hatch_rate_per_s: 2
  user_types { name: "Website" ratio: 1 } }
"#;

const USER: &str = "\n\nclass WebsiteUser(HttpUser):\n    @task\n    def visit(self):\n        self.client.get(\"/\")\n";

/// `check` on the files written into a fresh directory; its output and the directory.
fn check(files: &[(&str, &str)], extra: &[&str]) -> (Finished, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.pbtxt"), CONFIG).unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let out = Loadgen::command(&tag("check-import"), ["check"])
        .args(["--config-file", "load.pbtxt"])
        .args(extra)
        .current_dir(dir.path())
        .limit(Duration::from_secs(60))
        .output();
    (out, dir)
}

/// A check that must fail as bad input, without a traceback; its stderr.
fn refused(out: &Finished) -> String {
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(!stderr.contains("loadgen_harness"), "{stderr}");
    stderr
}

#[test]
fn a_name_error_in_a_helper_module_is_shown_at_the_helpers_line_and_column() {
    let locustfile = format!("from locust import HttpUser, task\nimport helper\n{USER}");
    let (out, dir) = check(
        &[
            ("locustfile.py", &locustfile),
            ("helper.py", "X = 1\nY = undefined_name + 1\n"),
        ],
        &["-f", "locustfile.py"],
    );
    let stderr = refused(&out);
    let helper = std::fs::canonicalize(dir.path().join("helper.py")).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}:2:5: error: importing the locustfile failed: NameError: name 'undefined_name' is not defined",
            helper.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains(" 2 | Y = undefined_name + 1"), "{stderr}");
}

#[test]
fn a_missing_package_is_shown_at_its_import_with_how_to_install_it() {
    let locustfile =
        format!("from locust import HttpUser, task\nimport loadgen_no_such_module\n{USER}");
    let (out, _dir) = check(&[("locustfile.py", &locustfile)], &["-f", "locustfile.py"]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("locustfile.py:2:1: error: importing the locustfile failed: ModuleNotFoundError: No module named 'loadgen_no_such_module'"),
        "{stderr}"
    );
    assert!(stderr.contains("requirements.txt"), "{stderr}");
}

#[test]
fn a_syntax_error_in_a_plain_locustfile_is_located() {
    let locustfile = format!("from locust import HttpUser, task\n{USER}        x = (1,\n");
    let (out, _dir) = check(&[("locustfile.py", &locustfile)], &["-f", "locustfile.py"]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("locustfile.py:8:13: error: importing the locustfile failed: SyntaxError: '(' was never closed"),
        "{stderr}"
    );
}

/// A template whose error comes after the `{{.Users}}` marker: loadgen's
/// rendering has the user classes there, so its line numbers differ from the
/// template's; the error is shown at the template's own line (and column, in
/// characters).
#[test]
fn an_error_in_a_template_is_shown_at_the_templates_own_line() {
    let template = "from locust import TaskSet, task\n\n\nclass WebsiteUserBehavior(TaskSet):\n    @task\n    def visit(self):\n        self.client.get(\"/\")\n\n{{.Users}}\n\nlabel = \"é\" + unknown_label\n";
    let (out, _dir) = check(&[("locustfile.loadgen.tmpl", template)], &[]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("locustfile.loadgen.tmpl:11:15: error: importing the locustfile failed: NameError: name 'unknown_label' is not defined"),
        "{stderr}"
    );

    // A template that ends mid-statement: Python stops in loadgen's lines.
    let template = "from locust import TaskSet, task\n\n\nclass WebsiteUserBehavior(TaskSet):\n    @task\n    def visit(self):\n        self.client.get(\"/\",\n\n{{.Users}}\n";
    let (out, _dir) = check(&[("locustfile.loadgen.tmpl", template)], &[]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("locustfile.loadgen.tmpl:7:24: error: importing the locustfile failed: SyntaxError: '(' was never closed"),
        "{stderr}"
    );
}

#[test]
fn a_user_type_naming_a_task_set_is_refused_at_the_configs_line() {
    let locustfile = "from locust import TaskSet, task\n\n\nclass WebsiteUser(TaskSet):\n    @task\n    def visit(self):\n        self.client.get(\"/\")\n";
    let (out, _dir) = check(&[("locustfile.py", locustfile)], &["-f", "locustfile.py"]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("load.pbtxt:2:1: error: user type \"Website\" runs `WebsiteUser` of locustfile.py, which is no concrete User class once imported"),
        "{stderr}"
    );
}

#[test]
fn a_good_locustfile_is_imported_and_its_user_classes_listed() {
    let locustfile = format!(
        "from locust import HttpUser, task\n{USER}\n\nclass AdminUser(HttpUser):\n    @task\n    def admin(self):\n        self.client.get(\"/admin\")\n"
    );
    let (out, _dir) = check(&[("locustfile.py", &locustfile)], &["-f", "locustfile.py"]);
    let stdout = out.stdout();
    assert!(out.status().success(), "{}", out.stderr());
    assert!(
        stdout.contains("Imported in Locust 2.47.0: User classes AdminUser, WebsiteUser"),
        "{stdout}"
    );
    assert!(
        stdout.contains("User classes no user type runs: AdminUser"),
        "{stdout}"
    );
}

#[test]
fn no_import_checks_the_text_only() {
    let locustfile =
        format!("from locust import HttpUser, task\nimport loadgen_no_such_module\n{USER}");
    let (out, _dir) = check(
        &[("locustfile.py", &locustfile)],
        &["-f", "locustfile.py", "--no-import"],
    );
    assert!(out.status().success(), "{}", out.stderr());
    assert!(out.stdout().contains("not imported in Locust: --no-import"));
}
