"""A locustfile with a LoadTestShape, from Locust's docs: under loadgen the
config's phases set the users, so the shape is ignored, and said to be."""

from locust import HttpUser, LoadTestShape, constant, task


class WebsiteUser(HttpUser):
    wait_time = constant(0.5)

    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": "Website"})


class StagesShape(LoadTestShape):
    stages = [
        {"duration": 60, "users": 10, "spawn_rate": 10},
        {"duration": 100, "users": 50, "spawn_rate": 10},
        {"duration": 180, "users": 100, "spawn_rate": 10},
    ]

    def tick(self):
        run_time = self.get_run_time()
        for stage in self.stages:
            if run_time < stage["duration"]:
                return (stage["users"], stage["spawn_rate"])
        return None
