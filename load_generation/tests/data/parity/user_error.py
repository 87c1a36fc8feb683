"""An exception in a task: Locust fires `user_error` (whose listener here tells
the shop, marked with the exception's type) and the user goes on with its next
task; the run exits 1, for an error in the users' code.
"""

from locust import HttpUser, constant, events, task


@events.user_error.add_listener
def _(user_instance, exception, tb, **kwargs):
    user_instance.client.get("/cart", headers={"X-User-Type": f"user_error {type(exception).__name__}"})


class ShopperUser(HttpUser):
    wait_time = constant(0.1)

    def on_start(self):
        self.visits = 0

    @task
    def visit(self):
        self.visits += 1
        self.client.get("/")
        if self.visits % 3 == 0:
            {}["no such key"]
