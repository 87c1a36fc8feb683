"""Users wait in on_start until every user has spawned: a gevent Semaphore that a
spawning_complete listener releases, the pattern from Locust's docs. Each request
names, in its X-User-Type header, the user count that spawning_complete last
passed, and how many times it has fired in this process."""

from gevent.lock import Semaphore
from locust import HttpUser, constant, events, task

all_users_spawned = Semaphore()
all_users_spawned.acquire()
spawned = {"user_count": None, "fired": 0}


@events.init.add_listener
def on_init(environment, **kwargs):
    @environment.events.spawning_complete.add_listener
    def on_spawning_complete(user_count, **kwargs):
        spawned["user_count"] = user_count
        spawned["fired"] += 1
        all_users_spawned.release()


class WaiterUser(HttpUser):
    wait_time = constant(0.5)

    def on_start(self):
        all_users_spawned.wait()

    @task
    def visit(self):
        self.client.get("/", headers={"X-User-Type": f"spawned-{spawned['user_count']}"})
