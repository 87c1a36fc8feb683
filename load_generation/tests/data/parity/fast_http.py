"""A `FastHttpUser` (geventhttpclient) with `between` waits that logs in in
`on_start` (the CSRF token read from the login page, the session's cookie kept)
and checks out in `on_stop`, when the test stops it.
"""

import re

from locust import FastHttpUser, between, task

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


class MemberUser(FastHttpUser):
    wait_time = between(0.1, 0.3)

    def on_start(self):
        page = self.client.get("/login", headers={"X-User-Type": "on_start"})
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
        self.client.post(
            "/login",
            data={"csrf_token": token, "username": "member"},
            headers={"X-User-Type": "on_start"},
        )

    # Equal weights: some 30 tasks in the case's seconds on a busy machine, so
    # each is all but surely drawn (0.5^32, 2e-10; at 3:1 the cart missed 1e-4).
    @task
    def product(self):
        self.client.get("/product/9SIQT8TOJO")

    @task
    def add_to_cart(self):
        self.client.post("/cart", data={"product_id": "9SIQT8TOJO", "quantity": "1"})

    def on_stop(self):
        self.client.post("/cart/checkout", data=CHECKOUT, headers={"X-User-Type": "on_stop"})
