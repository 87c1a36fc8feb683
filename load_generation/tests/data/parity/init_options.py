"""Options of the locustfile's own, added in `init_command_line_parser` and read in
`init` from `environment.parsed_options`: one given on the command line, one from
its environment variable, one left at its default. Each is a path the users visit;
an option not seen would send them to a page the shop does not have (a 404), as
would an `init` that has no `environment.runner` yet.
"""

from locust import HttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--first-path", default="/no-such-first-path", help="given on the command line")
    parser.add_argument(
        "--second-path",
        env_var="PARITY_SECOND_PATH",
        default="/no-such-second-path",
        help="given in the environment",
    )
    parser.add_argument("--third-path", default="/cart", help="left at its default")


PATHS = []


@events.init.add_listener
def _(environment, **kwargs):
    options = environment.parsed_options
    PATHS[:] = [options.first_path, options.second_path, options.third_path]
    if environment.runner is None:
        PATHS.append("/no-runner-at-init")


class ShopperUser(HttpUser):
    wait_time = constant(0.3)

    @task
    def visit(self):
        for path in PATHS:
            self.client.get(path)
