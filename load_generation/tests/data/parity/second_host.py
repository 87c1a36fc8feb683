"""An `HttpSession` of the user's own for a second host (an API beside the site),
made in `on_start` with the environment's `request` event, so its requests are in
Locust's statistics. The second host comes from an option of the locustfile's own
(`--api-host`, or `PARITY_API_HOST`).
"""

from locust import HttpUser, between, events, task
from locust.clients import HttpSession


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--api-host", env_var="PARITY_API_HOST", default="http://127.0.0.1:9")


class ShopperUser(HttpUser):
    wait_time = between(0.1, 0.2)

    def on_start(self):
        self.api = HttpSession(
            base_url=self.environment.parsed_options.api_host,
            request_event=self.environment.events.request,
            user=self,
        )

    @task
    def visit(self):
        self.client.get("/")
        self.api.get("/api/product/OLJCESPC7Z")
        self.api.get("/api/product/NO-SUCH", name="/api/product/[missing]")
