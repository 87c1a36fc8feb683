"""A `MarkovTaskSet`: the next task is drawn from the current task's
`@transition`/`@transitions`, with their weights.
"""

from locust import HttpUser, MarkovTaskSet, constant, transition, transitions


class Browsing(MarkovTaskSet):
    @transition("product")
    def index(self):
        self.client.get("/")

    @transitions({"product": 1, "cart": 2})
    def product(self):
        self.client.get("/product/66VCHSJNUP")

    # The list form, a name with a weight: api twice as likely as index, so
    # that five seconds of two users all but surely reach it (a miss 1 in
    # 60,000,000 at the fewest steps a busy machine gives; 1 in 70,000 at 1:1).
    @transitions(["index", ("api", 2)])
    def cart(self):
        self.client.get("/cart")

    @transition("index")
    def api(self):
        self.client.get("/api/product/66VCHSJNUP")


class BrowserUser(HttpUser):
    wait_time = constant(0.1)
    tasks = [Browsing]
