"""Users that stop themselves: after ten visits a task raises `StopUser`, and the
user is gone for the rest of the test (no other takes its place).
"""

from locust import HttpUser, constant, task
from locust.exception import StopUser


class ShopperUser(HttpUser):
    wait_time = constant(0.1)

    def on_start(self):
        self.visits_left = 10

    @task
    def visit(self):
        self.client.get("/")
        self.visits_left -= 1
        if self.visits_left == 0:
            raise StopUser()
