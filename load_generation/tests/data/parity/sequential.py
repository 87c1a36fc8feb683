"""A `SequentialTaskSet`: a purchase in order, from the home page to the checkout,
then again from the start. The cart's form needs the product the page before
showed, so the order matters.
"""

from locust import HttpUser, SequentialTaskSet, constant, task

CHECKOUT = {
    "email": "someone@example.com",
    "street_address": "1600 Amphitheatre Parkway",
    "zip_code": "94043",
    "city": "Mountain View",
    "state": "CA",
    "country": "United States",
    "credit_card_number": "4432801561520454",
    "credit_card_expiration_month": "1",
    "credit_card_expiration_year": "2039",
    "credit_card_cvv": "672",
}


class Purchase(SequentialTaskSet):
    @task
    def index(self):
        self.client.get("/")

    @task
    def product(self):
        self.product_id = "L9ECAV7KIM"
        self.client.get(f"/product/{self.product_id}")

    @task
    def add_to_cart(self):
        self.client.post("/cart", data={"product_id": self.product_id, "quantity": 2})

    @task
    def view_cart(self):
        self.client.get("/cart")

    @task
    def checkout(self):
        self.client.post("/cart/checkout", data=CHECKOUT)


class BuyerUser(HttpUser):
    wait_time = constant(0.1)
    tasks = [Purchase]
