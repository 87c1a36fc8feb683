"""A locustfile that ends the run itself: after its users have made 12 requests
(in this process), one of them sets the exit code and calls
environment.runner.quit(), as a test that has seen enough does under Locust."""

from locust import HttpUser, constant, events, task

made = [0]


class QuitterUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def visit(self):
        self.client.get("/", headers={"X-User-Type": "quitter"})
        made[0] += 1
        if made[0] == 12:
            self.environment.process_exit_code = 4
            self.environment.runner.quit()
