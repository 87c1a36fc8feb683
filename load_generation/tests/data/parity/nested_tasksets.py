"""Nested TaskSets: the user picks a TaskSet (or a plain function) by weight; the
catalogue holds an inline TaskSet of its own. `self.interrupt()` hands control
back to the parent (with `reschedule=False` the parent waits before its next
task).

The weights and the wait keep every route all but sure within the case's
five seconds. With the catalogue at 2 of 4, its exit at 1 of 5 and waits of
0.1 s, two users made few top-level picks: a simulation of this file's task
machine (3.3 s of load, as on a busy machine) missed "/" or "/cart" in about
3% of runs, and plain Locust here missed "/cart" in one run of six. Now every
route comes about 30 times a run in the same simulation, the fewest of 3,000
runs 9.
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
    wait_time = constant(0.05)
    tasks = {Catalogue: 1, Cart: 1, index: 1}
