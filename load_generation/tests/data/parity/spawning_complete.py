"""Users that wait in `on_start` until every user has spawned: a gevent
`Semaphore` released by a `spawning_complete` listener, the pattern of Locust's
own example (examples/semaphore_wait.py).
"""

from gevent.lock import Semaphore
from locust import HttpUser, TaskSet, between, events, task

all_users_spawned = Semaphore()
all_users_spawned.acquire()


@events.init.add_listener
def _(environment, **kwargs):
    @environment.events.spawning_complete.add_listener
    def on_spawning_complete(**kwargs):
        all_users_spawned.release()


class UserTasks(TaskSet):
    def on_start(self):
        all_users_spawned.wait()
        self.wait()

    @task
    def index(self):
        self.client.get("/")


class WebsiteUser(HttpUser):
    wait_time = between(0.2, 0.4)
    tasks = [UserTasks]
