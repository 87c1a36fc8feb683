"""`test_start`, `test_stop` and `quitting`: in a local run each fires once, and
each makes one request of its own (outside Locust's statistics, with
python-requests) that the shop logs under the event's name.
"""

import requests
from locust import HttpUser, between, events, task


def tell_the_shop(environment, event, path):
    requests.get(environment.host + path, headers={"X-User-Type": event}, timeout=5)


@events.test_start.add_listener
def _(environment, **kwargs):
    tell_the_shop(environment, "test_start", "/login")


@events.test_stop.add_listener
def _(environment, **kwargs):
    tell_the_shop(environment, "test_stop", "/cart")


@events.quitting.add_listener
def _(environment, **kwargs):
    tell_the_shop(environment, "quitting", "/product/OLJCESPC7Z")


class ShopperUser(HttpUser):
    wait_time = between(0.2, 0.4)

    @task
    def index(self):
        self.client.get("/")
