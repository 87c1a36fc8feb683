"""A `request` event listener: it counts each name's failures, and the user stops
asking for a name once it failed 5 times, as a circuit breaker would.
"""

from collections import Counter

from locust import HttpUser, constant, events, task

failures = Counter()


@events.request.add_listener
def _(name, exception, **kwargs):
    if exception is not None:
        failures[name] += 1


class ShopperUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def visit(self):
        self.client.get("/")
        if failures["flaky"] < 5:
            self.client.get("/flaky", name="flaky", headers={"X-User-Type": "flaky"})
