"""Locust 0.x: users wait in on_start until hatch_complete, which loadgen
fires where Locust 2 fires spawning_complete. Requests name the user count
hatch_complete passed."""

from gevent.event import Event
from locust import HttpLocust, TaskSet, events, task

hatched = Event()
count = [None]


def on_hatch_complete(user_count):
    count[0] = user_count
    hatched.set()


events.hatch_complete += on_hatch_complete


class Browse(TaskSet):
    def on_start(self):
        hatched.wait()

    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": f"hatched-{count[0]}"})


class WebsiteUser(HttpLocust):
    task_set = Browse
    min_wait = 500
    max_wait = 500
