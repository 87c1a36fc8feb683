"""Nested TaskSets: the user picks a TaskSet (or a plain function) by weight; the
catalogue holds an inline TaskSet of its own. `self.interrupt()` hands control
back to the parent (with `reschedule=False` the parent waits before its next
task).

The weights keep every route likely within the case's five seconds: with the
catalogue at 2 and its exit at 1 of 5, a run of 2 users made only ten or so
top-level picks and missed the cart one run in about twenty (0.75^10), under
plain Locust as under loadgen; now about forty picks at 1 in 3 each.
"""

from locust import HttpUser, TaskSet, constant, task


class Catalogue(TaskSet):
    @task(1)
    def product(self):
        self.client.get("/product/OLJCESPC7Z")

    @task(1)
    class Details(TaskSet):
        @task(1)
        def api(self):
            self.client.get("/api/product/OLJCESPC7Z")

        @task(1)
        def back(self):
            self.interrupt(reschedule=False)

    @task(1)
    def leave(self):
        self.interrupt()


class Cart(TaskSet):
    @task
    def view(self):
        self.client.get("/cart")
        self.interrupt()


def index(user):
    user.client.get("/")


class ShopperUser(HttpUser):
    wait_time = constant(0.1)
    tasks = {Catalogue: 1, Cart: 1, index: 1}
