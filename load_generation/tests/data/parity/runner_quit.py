"""`environment.runner.quit()` from a background greenlet started in `init`, as in
Locust's docs ("Run a background greenlet"): once 40 requests are made and more
than 20% of them failed, the checker ends the test, long before its run time.
"""

import gevent
from locust import HttpUser, constant, events, task
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, WorkerRunner


def checker(environment):
    while environment.runner.state not in [STATE_STOPPING, STATE_STOPPED, STATE_CLEANUP]:
        gevent.sleep(0.1)
        total = environment.runner.stats.total
        if total.num_requests >= 40 and total.fail_ratio > 0.2:
            environment.runner.quit()
            return


@events.init.add_listener
def _(environment, **kwargs):
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(checker, environment)


class ShopperUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def visit(self):
        self.client.get("/")
        self.client.get("/product/NO-SUCH-PRODUCT")
