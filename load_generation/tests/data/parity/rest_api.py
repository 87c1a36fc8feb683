"""`self.rest()` (Locust 2.20 and later) against the shop's JSON API: the JSON is
parsed into `response.js`, an `assert` in the block marks a failure, a body that
is not JSON is a failure, and a 404 the user expects is marked a success.
"""

from locust import HttpUser, constant, task


class ApiUser(HttpUser):
    # About 60 tasks in the case's seconds: each of three tasks all but surely drawn.
    wait_time = constant(0.1)

    @task
    def product(self):
        with self.rest("GET", "/api/product/OLJCESPC7Z") as response:
            assert response.js["name"] == "Vintage Typewriter", "wrong product"

    @task
    def missing_product(self):
        with self.rest("GET", "/api/product/NO-SUCH") as response:
            if response.status_code == 404 and response.js["error"] == "no such product":
                response.success()

    @task
    def html_is_not_json(self):
        with self.rest("GET", "/cart"):
            pass
