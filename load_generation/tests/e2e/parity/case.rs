//! The comparison behind every parity case: a [`Case`] (a locustfile and what
//! plain Locust makes of it), its two runs at the same time against two shops
//! started alike ([`Run`]), what each shop saw ([`Seen`]), and the checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// One locustfile and what plain Locust makes of it.
pub struct Case {
    /// The locustfile in `tests/data/parity/`.
    pub file: &'static str,
    /// The Locust feature it exercises, for messages.
    pub feature: &'static str,
    /// Users per User class, by the config's user type name (`Shopper` runs
    /// `ShopperUser`). Plain Locust splits `-u` by the classes' weights, all
    /// 1 here, so the counts of a case are equal.
    pub users: &'static [(&'static str, u32)],
    /// How long each run lasts (`-t`; the phase's duration and `--run_time`).
    /// Plain Locust's `-t` runs short: it is a gevent timer counted from the
    /// event loop's clock as the loop last read it, some of Locust's start
    /// earlier (measured: load for 3.83 s of `-t 4s` on an idle machine, 3.3 s
    /// on busy cores). 5 s keeps that well inside the tolerance.
    pub seconds: u32,
    /// `--tags`, a flag of both.
    pub tags: &'static [&'static str],
    /// The locustfile's own options (after `--` for loadgen).
    pub options: &'static [&'static str],
    /// Environment of both runs.
    pub env: &'static [(&'static str, &'static str)],
    /// Whether the users also talk to a second host, named in `PARITY_API_HOST`
    /// (each run gets a second shop of its own).
    pub api_host: bool,
    /// Plain Locust's exit code.
    pub exit: i32,
    /// The `METHOD route`s plain Locust's users request at the site.
    pub routes: &'static [&'static str],
    /// Those of them that fail (an answer of 400 or more) at least once.
    pub failing: &'static [&'static str],
    /// The second host's, as `routes` and `failing`.
    pub api_routes: &'static [&'static str],
    pub api_failing: &'static [&'static str],
    /// `X-User-Type` marks plain Locust's requests carry (at either host).
    pub marks: &'static [&'static str],
    /// Marks that must be counted exactly the same, with plain Locust's count.
    pub exact: &'static [(&'static str, usize)],
    /// Whether each route's count, not only the total, must be within 20%
    /// (where the case is about a rate or an order).
    pub per_route: bool,
}

pub const CASE: Case = Case {
    file: "",
    feature: "",
    users: &[],
    seconds: 5,
    tags: &[],
    options: &[],
    env: &[],
    api_host: false,
    exit: 0,
    routes: &[],
    failing: &[],
    api_routes: &[],
    api_failing: &[],
    marks: &[],
    exact: &[],
    per_route: false,
};

/// How far a run's request count may be from plain Locust's.
const TOLERANCE: f64 = 0.2;
/// A run that has not ended this long after it started is stopped (and fails).
const LIMIT: Duration = Duration::from_secs(60);
/// How far apart the two runs may end: loadgen has more to start (its binary,
/// the config, the harness) but a run lasts as long as plain Locust's, whether
/// its run time or the locustfile ends it.
const END_APART: Duration = Duration::from_secs(3);
/// Users started per second, in both runs.
const HATCH_RATE: u32 = 10;

/// What one shop saw of one run.
#[derive(Debug, Default)]
struct Seen {
    total: usize,
    /// Requests per `METHOD route`.
    routes: BTreeMap<String, usize>,
    /// The `METHOD route`s answered 400 or more at least once.
    failing: BTreeSet<String>,
    /// Requests per `X-User-Type` mark.
    marks: BTreeMap<String, usize>,
    /// Seconds from the first request to the last.
    span: f64,
}

impl Seen {
    fn of(log: &[Logged]) -> Seen {
        let mut seen = Seen {
            total: log.len(),
            span: match (log.first(), log.last()) {
                (Some(first), Some(last)) => last.t - first.t,
                _ => 0.0,
            },
            ..Seen::default()
        };
        for r in log {
            let route = format!("{} {}", r.method, r.route);
            if r.status >= 400 {
                seen.failing.insert(route.clone());
            }
            *seen.routes.entry(route).or_default() += 1;
            if let Some(mark) = &r.user_type {
                *seen.marks.entry(mark.clone()).or_default() += 1;
            }
        }
        seen
    }

    fn route_names(&self) -> BTreeSet<String> {
        self.routes.keys().cloned().collect()
    }
}

/// One run: how it ended and what its shops saw.
struct Run {
    who: &'static str,
    exit: Option<i32>,
    took: Duration,
    site: Seen,
    api: Seen,
    stderr: String,
}

impl Run {
    /// Waits for the run started at `started` to end (killed at [`LIMIT`]).
    fn wait(
        who: &'static str,
        started: Instant,
        child: Child,
        site: &Shop,
        api: Option<&Shop>,
        _files: tempfile::TempDir,
    ) -> Run {
        let (out, _) = finish(child, LIMIT.saturating_sub(started.elapsed()));
        Run {
            who,
            exit: out.status.code(),
            took: started.elapsed(),
            site: Seen::of(&site.requests()),
            api: api.map_or_else(Seen::default, |api| Seen::of(&api.requests())),
            stderr: text(&out.stderr),
        }
    }

    fn marks(&self) -> BTreeMap<String, usize> {
        let mut marks = self.site.marks.clone();
        for (mark, n) in &self.api.marks {
            *marks.entry(mark.clone()).or_default() += n;
        }
        marks
    }

    fn summary(&self) -> String {
        format!(
            "{}: exit {}, {} requests at the site over {:.1}s {:?} (failing {:?}), {} at the \
             second host (failing {:?}), marks {:?}, ended {:.1}s after the start",
            self.who,
            self.exit
                .map_or("none (killed)".to_string(), |c| c.to_string()),
            self.site.total,
            self.site.span,
            self.site.routes,
            self.site.failing,
            self.api.total,
            self.api.failing,
            self.marks(),
            self.took.as_secs_f64(),
        )
    }

    fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "--- {}'s stderr (last {} lines) ---\n{}",
            self.who,
            lines.len() - from,
            lines[from..].join("\n")
        )
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parity")
}

/// A private copy of the data directory, so a run finds the files beside its
/// locustfile and leaves nothing in the source tree.
fn copy_of_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data_dir()).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

fn names(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Whether `got` is within [`TOLERANCE`] of `want`.
fn near(got: usize, want: usize) -> bool {
    near_f(got as f64, want as f64)
}

fn near_f(got: f64, want: f64) -> bool {
    (got - want).abs() <= want * TOLERANCE
}

/// The shortest load, at the shop, whose requests are compared per second.
const MIN_SPAN_S: f64 = 1.0;

/// Whether `got` requests over `got_span` seconds are within [`TOLERANCE`] of
/// `want` over `want_span`: compared per second of load, each over its own span
/// at the shop, since plain Locust's `-t` loads for less than it says (its
/// timer counts from a stale loop clock: 3.3 to 4.1 s of `-t 5s` on a busy
/// machine), which alone would put the counts 20% apart. Loads too short to
/// have a rate are compared as counts.
fn near_per_second(got: usize, got_span: f64, want: usize, want_span: f64) -> bool {
    if got_span < MIN_SPAN_S || want_span < MIN_SPAN_S {
        return near(got, want);
    }
    near_f(got as f64 / got_span, want as f64 / want_span)
}

impl Case {
    fn total_users(&self) -> u32 {
        self.users.iter().map(|(_, n)| n).sum()
    }

    fn environment(&self, command: &mut Command, api: Option<&Shop>) {
        command.env("PYTHONDONTWRITEBYTECODE", "1");
        for (key, value) in self.env {
            command.env(key, value);
        }
        if let Some(api) = api {
            command.env("PARITY_API_HOST", api.host());
        }
    }

    /// `locust -f FILE --headless -u N -r R -t Ts --host URL`, in the
    /// locustfile's directory as a user would run it.
    fn spawn_locust(&self, site: &Shop, api: Option<&Shop>) -> (Child, tempfile::TempDir) {
        let files = copy_of_data();
        let name = tag(&format!("parity-locust-{}", self.file));
        let mut command = Command::new(locust_python(&name));
        command
            .current_dir(files.path())
            .args(["-m", "locust", "-f", self.file, "--headless"])
            .args(["-u", &self.total_users().to_string()])
            .args(["-r", &HATCH_RATE.to_string()])
            .args(["-t", &format!("{}s", self.seconds)])
            .args(["--host", &site.host()]);
        if !self.tags.is_empty() {
            command.arg("--tags").args(self.tags);
        }
        command.args(self.options);
        self.environment(&mut command, api);
        let child = command
            .env("LOADGEN_TEST_TAG", &name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start plain Locust");
        (child, files)
    }

    /// `loadgen run -f FILE` with one phase of the same users and duration, from
    /// another directory than the locustfile's.
    fn spawn_loadgen(&self, site: &Shop, api: Option<&Shop>) -> (Child, tempfile::TempDir) {
        let files = copy_of_data();
        let mut config = format!(
            "phases {{ duration: {} num_users: {} hatch_rate_per_s: {HATCH_RATE}\n",
            self.seconds,
            self.total_users()
        );
        for (name, users) in self.users {
            config.push_str(&format!(
                "  user_types {{ name: \"{name}\" ratio: {users} }}\n"
            ));
        }
        config.push_str("}\n");
        let config_file = files.path().join("load.pbtxt");
        std::fs::write(&config_file, config).unwrap();

        let tag = tag(&format!("parity-loadgen-{}", self.file));
        let mut run = Loadgen::run(&tag, &config_file, &site.host())
            .current_dir("/")
            .locustfile(&files.path().join(self.file))
            .run_time(&format!("{}s", self.seconds));
        if !self.tags.is_empty() {
            run = run.arg("--tags").args(self.tags);
        }
        // Passed through to the locustfile: last.
        if !self.options.is_empty() {
            run = run.arg("--").args(self.options);
        }
        self.environment(run.command_mut(), api);
        (run.spawn(), files)
    }

    /// Runs the file both ways at once, each against a shop of its own, and
    /// compares.
    pub fn check(self) {
        assert!(
            self.users.windows(2).all(|w| w[0].1 == w[1].1),
            "{}: plain Locust splits its users evenly between classes of weight 1",
            self.file
        );
        let site = Shop::start();
        let twin = Shop::start_on(free_port());
        let apis = self
            .api_host
            .then(|| (Shop::start_on(free_port()), Shop::start_on(free_port())));
        let (api, api_twin) = match &apis {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let started = Instant::now();
        let (locust, locust_files) = self.spawn_locust(&site, api);
        let (loadgen, loadgen_files) = self.spawn_loadgen(&twin, api_twin);
        let plain = Run::wait("plain Locust", started, locust, &site, api, locust_files);
        let ours = Run::wait("loadgen", started, loadgen, &twin, api_twin, loadgen_files);
        println!(
            "parity {}: plain Locust exit {:?}, {}+{} requests over {:.1}s, ended at {:.1}s; \
             loadgen exit {:?}, {}+{} requests over {:.1}s, ended at {:.1}s",
            self.file,
            plain.exit,
            plain.site.total,
            plain.api.total,
            plain.site.span,
            plain.took.as_secs_f64(),
            ours.exit,
            ours.site.total,
            ours.api.total,
            ours.site.span,
            ours.took.as_secs_f64(),
        );
        self.judge_plain(&plain);
        self.judge_parity(&plain, &ours);
    }

    /// Plain Locust did what the case is about; else the case is wrong.
    fn judge_plain(&self, plain: &Run) {
        let mut wrong = Vec::new();
        if plain.exit != Some(self.exit) {
            wrong.push(format!(
                "exit {:?}, the case expects {}",
                plain.exit, self.exit
            ));
        }
        for (what, seen, want) in [
            ("routes", plain.site.route_names(), names(self.routes)),
            (
                "failing routes",
                plain.site.failing.clone(),
                names(self.failing),
            ),
            (
                "second host's routes",
                plain.api.route_names(),
                names(self.api_routes),
            ),
            (
                "second host's failing routes",
                plain.api.failing.clone(),
                names(self.api_failing),
            ),
            (
                "marks",
                plain.marks().keys().cloned().collect(),
                names(self.marks),
            ),
        ] {
            if seen != want {
                wrong.push(format!("{what} {seen:?}, the case expects {want:?}"));
            }
        }
        for (mark, want) in self.exact {
            let got = plain.marks().get(*mark).copied().unwrap_or(0);
            if got != *want {
                wrong.push(format!(
                    "{got} requests marked {mark:?}, the case expects {want}"
                ));
            }
        }
        if plain.site.total + plain.api.total < 20 {
            wrong.push("fewer than 20 requests: too few to compare".to_string());
        }
        assert!(
            wrong.is_empty(),
            "the case {} ({}) is wrong under plain Locust itself:\n  - {}\n{}\n{}",
            self.file,
            self.feature,
            wrong.join("\n  - "),
            plain.summary(),
            plain.stderr_tail()
        );
    }

    /// loadgen's run looks like plain Locust's from the server's side.
    fn judge_parity(&self, plain: &Run, ours: &Run) {
        let mut differs = Vec::new();
        if ours.exit != plain.exit {
            differs.push(format!(
                "exit code: plain Locust {:?}, loadgen {:?}",
                plain.exit, ours.exit
            ));
        }
        if ours.took.abs_diff(plain.took) > END_APART {
            differs.push(format!(
                "the run ended {:.1}s after the start, plain Locust's {:.1}s after it",
                ours.took.as_secs_f64(),
                plain.took.as_secs_f64()
            ));
        }
        for (host, want, got) in [
            ("the site", &plain.site, &ours.site),
            ("the second host", &plain.api, &ours.api),
        ] {
            if !near_per_second(got.total, got.span, want.total, want.span) {
                differs.push(format!(
                    "requests at {host}: plain Locust {} in {:.1}s, loadgen {} in {:.1}s (more than {:.0}% apart per second)",
                    want.total,
                    want.span,
                    got.total,
                    got.span,
                    TOLERANCE * 100.0
                ));
            }
            if got.route_names() != want.route_names() {
                differs.push(format!(
                    "routes requested at {host}: plain Locust {:?}, loadgen {:?}",
                    want.route_names(),
                    got.route_names()
                ));
            }
            if got.failing != want.failing {
                differs.push(format!(
                    "routes failing at {host}: plain Locust {:?}, loadgen {:?}",
                    want.failing, got.failing
                ));
            }
            if self.per_route {
                for (route, n) in &want.routes {
                    let m = got.routes.get(route).copied().unwrap_or(0);
                    if !near_per_second(m, got.span, *n, want.span) {
                        differs.push(format!(
                            "{route} at {host}: plain Locust {n}, loadgen {m} (more than {:.0}% apart)",
                            TOLERANCE * 100.0
                        ));
                    }
                }
            }
        }
        let (want, got) = (plain.marks(), ours.marks());
        if want.keys().ne(got.keys()) {
            differs.push(format!(
                "marks seen: plain Locust {:?}, loadgen {:?}",
                want.keys().collect::<Vec<_>>(),
                got.keys().collect::<Vec<_>>()
            ));
        }
        for (mark, _) in self.exact {
            let (n, m) = (want.get(*mark), got.get(*mark));
            if n != m {
                differs.push(format!(
                    "requests marked {mark:?}: plain Locust {n:?}, loadgen {m:?}"
                ));
            }
        }
        assert!(
            differs.is_empty(),
            "{} ({}) under loadgen differs from plain Locust:\n  - {}\n{}\n{}\n{}",
            self.file,
            self.feature,
            differs.join("\n  - "),
            plain.summary(),
            ours.summary(),
            ours.stderr_tail()
        );
    }
}
