"""Nested TaskSets: the user picks a TaskSet (or a plain function) by weight; the
catalogue holds an inline TaskSet of its own. `self.interrupt()` hands control
back to the parent (with `reschedule=False` the parent waits before its next
task).
"""

from locust import HttpUser, TaskSet, constant, task


class Catalogue(TaskSet):
    @task(3)
    def product(self):
        self.client.get("/product/OLJCESPC7Z")

    @task(1)
    class Details(TaskSet):
        @task(2)
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
    tasks = {Catalogue: 2, Cart: 1, index: 1}
