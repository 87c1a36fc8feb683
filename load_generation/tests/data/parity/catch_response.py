"""`catch_response=True`: the user judges responses itself. A page the shop serves
(200) is marked a failure when it lacks what the user expects; a 404 the user
expects is marked a success.
"""

from locust import HttpUser, constant, task


class CheckingUser(HttpUser):
    wait_time = constant(0.2)

    @task
    def prices_in_euros(self):
        with self.client.get("/product/OLJCESPC7Z", catch_response=True) as response:
            if "EUR" not in response.text:
                response.failure("prices are not in EUR")

    @task
    def discontinued_page(self):
        with self.client.get("/discontinued", catch_response=True) as response:
            if response.status_code == 404:
                response.success()
            else:
                response.failure(f"a discontinued page answered {response.status_code}")
