"""Per-user data built in test_start from runner.target_user_count and
runner.worker_count, handed out with runner.send_message/register_message (the
pattern of Locust's custom_messages example). Users take their datum in __init__:
one constructed before the data exists raises IndexError. The option
--datum-prefix (its env var DATUM_PREFIX) names the data."""

import requests
from locust import HttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

datums = []


@events.init_command_line_parser.add_listener
def on_parser(parser):
    parser.add_argument("--datum-prefix", default="unset", env_var="DATUM_PREFIX")


def say(environment, what):
    # The shop logs what the runner saw: a request from the runner's own process.
    requests.get(environment.host + "/", headers={"X-User-Type": what}, timeout=5)


def receive_datums(environment, msg, **kwargs):
    datums.extend(msg.data)
    environment.runner.send_message("acknowledge_datums", len(msg.data))


def on_acknowledge(environment, msg, **kwargs):
    say(environment, f"ack-{msg.data}")


@events.init.add_listener
def on_init(environment, **kwargs):
    if not isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("datums", receive_datums)
    if not isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("acknowledge_datums", on_acknowledge)


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    prefix = environment.parsed_options.datum_prefix
    data = [f"{prefix}{i}" for i in range(runner.target_user_count)]
    say(environment, f"test-start-{runner.target_user_count}-{runner.worker_count}-{runner.state}")
    if isinstance(runner, MasterRunner):
        chunk = len(data) // runner.worker_count
        for i, worker in enumerate(runner.clients):
            end = (i + 1) * chunk if i + 1 < runner.worker_count else len(data)
            runner.send_message("datums", data[i * chunk : end], worker)
    else:
        runner.send_message("datums", data)


class DataUser(HttpUser):
    wait_time = constant(0.5)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.datum = datums.pop()

    @task
    def visit(self):
        self.client.get("/", headers={"X-User-Type": f"datum-{self.datum}"})
