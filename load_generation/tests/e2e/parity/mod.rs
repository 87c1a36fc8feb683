//! Parity with plain Locust (issue 28): locustfiles of our own in
//! `tests/data/parity/`, each exercising one documented Locust feature, run for
//! the same time with the same users twice: under plain
//! `locust -f FILE --headless -u N -r R -t 5s` (the pinned Locust) and under
//! `loadgen run -f FILE` with a one-phase config naming the file's User classes.
//!
//! Judged from the server's side: the same exit code, requests per second of
//! load within 20% (each over its own span at the shop: plain Locust's `-t`
//! loads for less than it says), the same routes requested, the same routes failing (a response of 400
//! or more), the same `X-User-Type` marks seen, and the same number of each
//! mark a case counts exactly (one request per `test_start`, per `on_stop`...);
//! and the runs end within 3 s of each other (a locustfile may end its run).
//!
//! The two runs go at the same time, each against its own demo shop started
//! alike: the shops' logs tell the runs apart without a word in the
//! locustfiles, and a busy machine slows both runs alike. Before comparing,
//! each case checks that plain Locust did what the case is about, so a case
//! that tests nothing (or a wrong case) is told apart from a loadgen that
//! differs.

mod case;

use case::{Case, CASE};

#[test]
fn custom_options_from_the_command_line_the_environment_and_defaults() {
    Case {
        file: "init_options.py",
        feature: "init_command_line_parser options read in init",
        users: &[("Shopper", 2)],
        options: &["--first-path", "/product/OLJCESPC7Z"],
        env: &[("PARITY_SECOND_PATH", "/login")],
        routes: &["GET /product/{id}", "GET /login", "GET /cart"],
        ..CASE
    }
    .check();
}

#[test]
fn test_start_test_stop_and_quitting_fire_once_each() {
    Case {
        file: "lifecycle_events.py",
        feature: "test_start, test_stop and quitting",
        users: &[("Shopper", 3)],
        routes: &["GET /", "GET /login", "GET /cart", "GET /product/{id}"],
        marks: &["test_start", "test_stop", "quitting"],
        exact: &[("test_start", 1), ("test_stop", 1), ("quitting", 1)],
        ..CASE
    }
    .check();
}

#[test]
fn users_waiting_in_on_start_for_spawning_complete() {
    Case {
        file: "spawning_complete.py",
        feature: "spawning_complete releasing a Semaphore users wait for in on_start",
        users: &[("Website", 3)],
        routes: &["GET /"],
        ..CASE
    }
    .check();
}

#[test]
fn data_made_in_test_start_from_the_runner_and_sent_by_message() {
    Case {
        file: "runner_messages.py",
        feature:
            "runner.target_user_count/worker_count in test_start, send_message/register_message",
        users: &[("Account", 3)],
        routes: &["GET /cart"],
        marks: &["account-0", "account-1", "account-2"],
        ..CASE
    }
    .check();
}

#[test]
fn runner_quit_ends_the_test_early() {
    Case {
        file: "runner_quit.py",
        feature: "environment.runner.quit() from a greenlet started in init",
        users: &[("Shopper", 2)],
        // Long enough that a run not ended by quit() is told from one that is.
        seconds: 10,
        exit: 1,
        routes: &["GET /", "GET /product/{id}"],
        failing: &["GET /product/{id}"],
        ..CASE
    }
    .check();
}

#[test]
fn markov_task_set_walks_its_transitions() {
    Case {
        file: "markov.py",
        feature: "MarkovTaskSet with @transition and @transitions",
        users: &[("Browser", 2)],
        routes: &[
            "GET /",
            "GET /product/{id}",
            "GET /cart",
            "GET /api/product/{id}",
        ],
        ..CASE
    }
    .check();
}

#[test]
fn sequential_task_set_keeps_its_order() {
    Case {
        file: "sequential.py",
        feature: "SequentialTaskSet",
        users: &[("Buyer", 2)],
        routes: &[
            "GET /",
            "GET /product/{id}",
            "POST /cart",
            "GET /cart",
            "POST /cart/checkout",
        ],
        per_route: true,
        ..CASE
    }
    .check();
}

#[test]
fn nested_and_inline_task_sets_with_interrupt() {
    Case {
        file: "nested_tasksets.py",
        feature: "nested and inline TaskSets, interrupt()",
        users: &[("Shopper", 2)],
        routes: &[
            "GET /",
            "GET /product/{id}",
            "GET /api/product/{id}",
            "GET /cart",
        ],
        ..CASE
    }
    .check();
}

#[test]
fn constant_pacing_and_constant_throughput_keep_their_rates() {
    Case {
        file: "pacing.py",
        feature: "constant_pacing and constant_throughput, two User classes",
        users: &[("Paced", 2), ("Steady", 2)],
        routes: &["GET /", "GET /cart"],
        per_route: true,
        ..CASE
    }
    .check();
}

#[test]
fn catch_response_marks_success_and_failure() {
    Case {
        file: "catch_response.py",
        feature: "catch_response: a 200 marked failed, a 404 marked succeeded",
        users: &[("Checking", 2)],
        exit: 1,
        routes: &["GET /product/{id}", "GET (unmatched)"],
        failing: &["GET (unmatched)"],
        ..CASE
    }
    .check();
}

#[test]
fn rest_parses_json_and_judges_the_response() {
    Case {
        file: "rest_api.py",
        feature: "self.rest() on a JSON API",
        users: &[("Api", 2)],
        exit: 1,
        routes: &["GET /api/product/{id}", "GET /cart"],
        failing: &["GET /api/product/{id}"],
        ..CASE
    }
    .check();
}

#[test]
fn tags_run_only_the_tagged_tasks_and_task_sets() {
    Case {
        file: "tags.py",
        feature: "@tag on tasks and a TaskSet, --tags",
        users: &[("Shopper", 2)],
        tags: &["checkout"],
        routes: &["GET /cart", "GET /api/product/{id}"],
        ..CASE
    }
    .check();
}

#[test]
fn a_csv_beside_the_locustfile_opened_by_a_relative_path() {
    Case {
        file: "csv_data.py",
        feature: "a CSV file beside the locustfile",
        users: &[("Reader", 2)],
        exit: 1,
        routes: &["GET /", "GET /product/{id}", "GET /cart", "GET (unmatched)"],
        failing: &["GET (unmatched)"],
        per_route: true,
        ..CASE
    }
    .check();
}

#[test]
fn an_http_session_of_the_users_own_for_a_second_host() {
    Case {
        file: "second_host.py",
        feature: "HttpSession for a second host",
        users: &[("Shopper", 2)],
        api_host: true,
        exit: 1,
        routes: &["GET /"],
        api_routes: &["GET /api/product/{id}"],
        api_failing: &["GET /api/product/{id}"],
        ..CASE
    }
    .check();
}

#[test]
fn users_without_http_firing_the_request_event_themselves() {
    Case {
        file: "custom_client.py",
        feature: "User classes with their own client firing events.request",
        users: &[("Raw", 2), ("Hash", 2)],
        exit: 1,
        routes: &["GET /", "GET (unmatched)"],
        failing: &["GET (unmatched)"],
        ..CASE
    }
    .check();
}

#[test]
fn a_fast_http_user_logs_in_on_start_and_checks_out_on_stop() {
    Case {
        file: "fast_http.py",
        feature: "FastHttpUser, between, on_start and on_stop",
        users: &[("Member", 2)],
        routes: &[
            "GET /login",
            "POST /login",
            "GET /product/{id}",
            "POST /cart",
            "POST /cart/checkout",
        ],
        marks: &["on_start", "on_stop"],
        exact: &[("on_start", 4), ("on_stop", 2)],
        ..CASE
    }
    .check();
}

#[test]
fn process_exit_code_set_in_quitting() {
    Case {
        file: "exit_code.py",
        feature: "environment.process_exit_code set in quitting",
        users: &[("Shopper", 2)],
        exit: 0,
        routes: &["GET /", "GET /product/{id}"],
        failing: &["GET /product/{id}"],
        ..CASE
    }
    .check();
}

#[test]
fn a_request_listener_that_users_consult() {
    Case {
        file: "request_listener.py",
        feature: "a request event listener",
        users: &[("Shopper", 1)],
        exit: 1,
        routes: &["GET /", "GET (unmatched)"],
        failing: &["GET (unmatched)"],
        marks: &["flaky"],
        exact: &[("flaky", 5)],
        ..CASE
    }
    .check();
}

#[test]
fn users_that_stop_themselves_are_not_replaced() {
    Case {
        file: "stop_user.py",
        feature: "StopUser raised in a task",
        users: &[("Shopper", 3)],
        routes: &["GET /"],
        ..CASE
    }
    .check();
}

#[test]
fn an_exception_in_a_task_fires_user_error_and_the_user_goes_on() {
    Case {
        file: "user_error.py",
        feature: "an exception in a task, the user_error event",
        users: &[("Shopper", 2)],
        exit: 1,
        routes: &["GET /", "GET /cart"],
        marks: &["user_error KeyError"],
        ..CASE
    }
    .check();
}
