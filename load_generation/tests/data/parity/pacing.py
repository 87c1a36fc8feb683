"""Two classes with waits that keep a rate rather than a pause:
`constant_pacing(0.5)` (a task every 0.5 s, however long it took) and
`constant_throughput(4)` (4 tasks a second).
"""

from locust import HttpUser, constant_pacing, constant_throughput, task


class PacedUser(HttpUser):
    wait_time = constant_pacing(0.5)

    @task
    def index(self):
        self.client.get("/")


class SteadyUser(HttpUser):
    wait_time = constant_throughput(4)

    @task
    def cart(self):
        self.client.get("/cart")
