"""A locustfile that starts its own users in test_start, as a script driving
Locust would: under loadgen the config's phases set the users, so the call is
ignored, and said to be (by check at its line, and when it happens)."""

from locust import HttpUser, constant, events, task


class WebsiteUser(HttpUser):
    wait_time = constant(0.5)

    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": "Website"})


@events.test_start.add_listener
def start_more(environment, **kwargs):
    environment.runner.start(10, spawn_rate=10)
