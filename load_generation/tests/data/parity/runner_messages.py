"""Data made in `test_start` from the runner and handed out by message, as in
Locust's example (examples/custom_messages.py): one account per user the test
runs (`runner.target_user_count`), split between `runner.worker_count` runners
and sent with `runner.send_message` to the handler `register_message` set up in
`init`. Each user takes its own account in `__init__`.
"""

from locust import HttpUser, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

accounts = []


def take_accounts(environment, msg, **kwargs):
    accounts.extend(msg.data)


@events.init.add_listener
def _(environment, **kwargs):
    if not isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("accounts", take_accounts)


@events.test_start.add_listener
def _(environment, **kwargs):
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    names = [f"account-{i}" for i in range(runner.target_user_count)]
    if isinstance(runner, MasterRunner):
        share = len(names) // runner.worker_count
        for i, client_id in enumerate(runner.clients):
            runner.send_message("accounts", names[i * share : (i + 1) * share], client_id)
    else:
        runner.send_message("accounts", names)


class AccountUser(HttpUser):
    wait_time = constant(0.2)

    def __init__(self, environment):
        super().__init__(environment)
        self.account = accounts.pop()

    @task
    def cart(self):
        self.client.get("/cart", headers={"X-User-Type": self.account})
