"""`@tag`s on tasks and on a TaskSet (whose tag covers its tasks), run with
`--tags checkout`: only the tasks tagged `checkout` run.
"""

from locust import HttpUser, TaskSet, constant, tag, task


class ShopperUser(HttpUser):
    wait_time = constant(0.1)

    @tag("browse")
    @task
    def index(self):
        self.client.get("/")

    @task
    def login_page(self):
        self.client.get("/login")

    @tag("checkout")
    @task
    def cart(self):
        self.client.get("/cart")

    @tag("checkout")
    @task
    class Pay(TaskSet):
        @task
        def price(self):
            self.client.get("/api/product/LS4PSXUNUM")
            self.interrupt(reschedule=False)
