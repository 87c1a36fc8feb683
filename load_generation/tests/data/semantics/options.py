"""parsed_options as a locustfile sees it in test_start: what `locust --headless
-u N --host URL` would hold (num_users follows the phases under loadgen)."""

from locust import HttpUser, constant, events, task

seen = []


@events.test_start.add_listener
def remember(environment, **kwargs):
    o = environment.parsed_options
    seen.append(f"opts-{o.num_users}-{o.headless}-{o.host == environment.host and bool(o.host)}")


class WebsiteUser(HttpUser):
    wait_time = constant(0.5)

    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": seen[0] if seen else "none"})
