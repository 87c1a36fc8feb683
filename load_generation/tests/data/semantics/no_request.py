"""Users that make no request, each for its own reason: StuckUser waits in
on_start for an event that never comes, CrashUser raises in on_start,
BrokenUser raises in __init__, and EchoUser is a User without an HTTP client
whose task only sleeps."""

import gevent
import gevent.event
from locust import HttpUser, User, constant, task

never = gevent.event.Event()


class StuckUser(HttpUser):
    wait_time = constant(0.5)

    def on_start(self):
        never.wait()

    @task
    def visit(self):
        self.client.get("/")


class CrashUser(HttpUser):
    wait_time = constant(0.5)

    def on_start(self):
        self.token = {}["token"]

    @task
    def visit(self):
        self.client.get("/")


class BrokenUser(HttpUser):
    wait_time = constant(0.5)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        raise ValueError("no account left for this user")

    @task
    def visit(self):
        self.client.get("/")


class EchoUser(User):
    wait_time = constant(0.2)

    @task
    def think(self):
        gevent.sleep(0.01)
