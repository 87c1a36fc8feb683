"""Test data from a CSV file beside the locustfile, opened by a relative path (as
`locust -f` run in the file's directory finds it): the users go through its rows
in turn. One row names a page the shop no longer has.
"""

import csv
import itertools

from locust import HttpUser, constant, task

with open("pages.csv", newline="") as f:
    ROWS = list(csv.DictReader(f))

next_row = itertools.cycle(ROWS).__next__


class ReaderUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def visit(self):
        row = next_row()
        self.client.get(row["path"], name=row["name"])
