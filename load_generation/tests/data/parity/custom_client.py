"""`User` classes without Locust's HTTP clients that fire `events.request`
themselves, as Locust's docs show for other protocols: one speaks HTTP with the
standard library's `http.client` (a status of 400 or more is its failure), the
other times a local computation and reaches no server at all.
"""

import hashlib
import http.client
import time
from urllib.parse import urlsplit

from locust import User, constant, task


class RawClient:
    def __init__(self, host, request_event):
        self.address = urlsplit(host).netloc
        self.request_event = request_event

    def get(self, path):
        start = time.perf_counter()
        exception = None
        length = 0
        connection = http.client.HTTPConnection(self.address, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            length = len(response.read())
            if response.status >= 400:
                exception = Exception(f"HTTP {response.status}")
        except OSError as e:
            exception = e
        finally:
            connection.close()
        self.request_event.fire(
            request_type="RAW",
            name=path,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )


class RawUser(User):
    wait_time = constant(0.1)

    def __init__(self, environment):
        super().__init__(environment)
        self.client = RawClient(self.host, environment.events.request)

    @task(2)
    def index(self):
        self.client.get("/")

    @task(1)
    def missing(self):
        self.client.get("/no-such-page")


class HashUser(User):
    wait_time = constant(0.2)

    @task
    def digest(self):
        start = time.perf_counter()
        hashlib.sha256(b"x" * 100_000).hexdigest()
        self.environment.events.request.fire(
            request_type="LOCAL",
            name="sha256",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=None,
            context={},
        )
